/*
 * integ-ctl.c -- trystctl against integ-cluster.c's Redis Cluster (3
 * primaries, 3 replicas, a password): lookup, delete, stats and compact
 * reach every primary (and compact every replica), delete's revocation is
 * heard on the ID's sharded channel, and the shipped ACL's trystd user
 * (deploy/redis-tryst.conf, as shipped) may do all of it. After a primary
 * was killed and its replica took over, stats still counts every account
 * and compact leaves out the dead node instead of failing.
 *
 * Accounts are written straight into the cluster (acct:{ID} of numbers
 * picked so that they live on three different primaries), so that
 * trystctl is tested alone.
 */
#include <sys/wait.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <hiredis/hiredis.h>
#include <sodium.h>

#include "server.h"
#include "integ-cluster.h"

#define DAY		86400ULL
#define CTL_PASSWORD	"ctl-acl-password"

/* Three numbers on three primaries, and their accounts' created: made by
 * the first test, kept in a file for the others (each runs in a child). */
static char		 numbers[3][16];
static uint64_t		 created[3];

/* Write (save 1) or read the numbers and their created. */
static void
accounts_file(int save)
{
	char		 path[128];
	FILE		*f;
	unsigned long long c;
	int		 i;

	snprintf(path, sizeof path, "%s/ctl-accounts", dir);
	ck_assert_ptr_nonnull(f = fopen(path, save ? "w" : "r"));
	for (i = 0; i < 3; i++) {
		if (save)
			fprintf(f, "%s %llu\n", numbers[i],
			    (unsigned long long)created[i]);
		else {
			ck_assert_int_eq(fscanf(f, "%15s %llu", numbers[i],
			    &c), 2);
			created[i] = c;
		}
	}
	ck_assert_int_eq(fclose(f), 0);
}

/* The ID of number under the test's master key. */
static void
id_of(const char *number, uint8_t id[ID_LEN])
{
	uint8_t		 master[MASTER_KEY_LEN];
	struct keys	*keys;
	char		 path[128], *cause = NULL;

	snprintf(path, sizeof path, "%s/master.key", dir);
	ck_assert_msg(keys_load_master(path, master, &cause) == 0, "%s",
	    cause);
	ck_assert_ptr_nonnull(keys = keys_derive(master));
	ck_assert_int_eq(keys_number_id(keys, number, id), 0);
	keys_free(keys);
}

/* Write ctl-USER.conf for trystctl as user ("": the default user) with
 * the password in pwpath; the master key made once. */
static void
ctl_conf(const char *user, const char *pwpath)
{
	char	 path[128], *text, *cmd, *cause = NULL;

	snprintf(path, sizeof path, "%s/master.key", dir);
	if (access(path, F_OK) != 0) {
		xasprintf(&cmd, "%s keygen %s", getenv("TRYSTCTL"), path);
		ck_assert_int_eq(system(cmd), 0);
		free(cmd);
	}
	xasprintf(&text, "listen = 127.0.0.1:1\n"
	    "tls_cert = %s/none.pem\ntls_key = %s/none.pem\n"
	    "master_key = %s\nverification = dev:%s/codes.txt\n"
	    "redis = cluster:127.0.0.1:%d,127.0.0.1:%d\n"
	    "redis_user = %s\nredis_password_file = %s\n", dir, dir, path,
	    dir, base + 4, base + 1, user, pwpath);
	snprintf(path, sizeof path, "%s/ctl-%s.conf", dir, user);
	ck_assert_int_eq(file_write_atomic(path, text, strlen(text), 0600, 0,
	    &cause), 0);
	free(text);
}

/* Run trystctl -c ctl-USER.conf ARGS; its output (both streams) into out
 * (caller frees) and its exit status. */
static int
ctl(const char *user, char **out, const char *args)
{
	FILE	*f;
	char	*cmd, buf[4096];
	size_t	 n = 0, r;
	int	 st;

	xasprintf(&cmd, "%s -c %s/ctl-%s.conf %s 2>&1", getenv("TRYSTCTL"),
	    dir, user, args);
	ck_assert_ptr_nonnull(f = popen(cmd, "r"));
	free(cmd);
	while (n < sizeof buf - 1 && (r = fread(buf + n, 1,
	    sizeof buf - 1 - n, f)) > 0)
		n += r;
	buf[n] = '\0';
	st = pclose(f);
	*out = xstrdup(buf);
	return (WIFEXITED(st) ? WEXITSTATUS(st) : -1);
}

/* Lines of out that contain s. */
static int
count_lines(const char *out, const char *s)
{
	const char	*p, *nl;
	int		 n = 0;

	for (p = out; *p != '\0'; p = *nl != '\0' ? nl + 1 : nl) {
		nl = p + strcspn(p, "\n");
		if (memmem(p, (size_t)(nl - p), s, strlen(s)) != NULL)
			n++;
	}
	return (n);
}

/* The port of the primary of the ID's account. */
static int
home_of(const uint8_t id[ID_LEN], char key[72])
{
	keyspace_acct(key, id);
	return (owner_of(slot_of(key, strlen(key))));
}

/* Numbers whose accounts live on three different primaries, and their
 * accounts in the cluster. */
static void
accounts_up(void)
{
	uint8_t		 id[ID_LEN];
	char		 key[72], number[16];
	int		 port[3], p, i, n = 0;
	uint64_t	 now = (uint64_t)time(NULL);
	redisReply	*r;

	for (i = 0; i < 100 && n < 3; i++) {
		snprintf(number, sizeof number, "+155501010%02d", i);
		id_of(number, id);
		p = home_of(id, key);
		if ((n > 0 && p == port[0]) || (n > 1 && p == port[1]))
			continue;
		port[n] = p;
		created[n] = now - (uint64_t)n * 40 * DAY;
		r = node_cmd(p, "HSET %s created %llu seen %llu", key,
		    (unsigned long long)created[n],
		    (unsigned long long)(now / DAY * DAY));
		ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
		freeReplyObject(r);
		snprintf(numbers[n++], sizeof numbers[0], "%s", number);
	}
	ck_assert_int_eq(n, 3);
	accounts_file(1);
}

/* trystctl as user deletes numbers[i]: a revocation of its created is
 * heard on the ID's sharded channel, and the account is gone. */
static void
delete_heard(const char *user, int i)
{
	redisContext	*sub;
	redisReply	*r;
	uint8_t		 id[ID_LEN];
	char		 key[72], chan[80], want[24], args[64], *out;
	struct timeval	 tv = { 5, 0 };
	int		 port;

	id_of(numbers[i], id);
	port = home_of(id, key);
	keyspace_channel(chan, id);
	sub = node_connect(port);
	r = redisCommand(sub, "SSUBSCRIBE %s", chan);
	ck_assert_ptr_nonnull(r);
	freeReplyObject(r);
	snprintf(args, sizeof args, "delete %s", numbers[i]);
	ck_assert_msg(ctl(user, &out, args) == 0, "%s", out);
	ck_assert_ptr_nonnull(strstr(out, "account deleted"));
	free(out);
	redisSetTimeout(sub, tv);
	ck_assert_int_eq(redisGetReply(sub, (void **)&r), REDIS_OK);
	ck_assert_int_eq(r->type, REDIS_REPLY_ARRAY);
	ck_assert_uint_eq(r->elements, 3);
	ck_assert_str_eq(r->element[0]->str, "smessage");
	ck_assert_str_eq(r->element[1]->str, chan);
	keyspace_revoke_msg(want, created[i]);
	ck_assert_str_eq(r->element[2]->str, want);
	freeReplyObject(r);
	redisFree(sub);
	r = node_cmd(port, "EXISTS %s", key);
	ck_assert_int_eq(r->integer, 0);
	freeReplyObject(r);
	snprintf(args, sizeof args, "lookup %s", numbers[i]);
	ck_assert_int_eq(ctl(user, &out, args), 0);
	ck_assert_ptr_nonnull(strstr(out, "no account"));
	free(out);
}

/* stats --json as user says accounts n (all of them seen today). */
static void
stats_are(const char *user, int n)
{
	char	*out, want[64];

	ck_assert_msg(ctl(user, &out, "stats --json") == 0, "%s", out);
	snprintf(want, sizeof want, "{\"accounts\": %d, ", n);
	ck_assert_msg(strncmp(out, want, strlen(want)) == 0, "%s", out);
	snprintf(want, sizeof want, "\"seen_today\": %d, ", n);
	ck_assert_msg(strstr(out, want) != NULL, "%s", out);
	free(out);
}

/* compact as user: one line per node, every one started (or already
 * under way). */
static void
compact_is(const char *user, int primaries, int replicas)
{
	char	*out;

	ck_assert_msg(ctl(user, &out, "compact") == 0, "%s", out);
	ck_assert_msg(count_lines(out, "(primary): ") == primaries, "%s",
	    out);
	ck_assert_msg(count_lines(out, "(replica): ") == replicas, "%s", out);
	ck_assert_msg(count_lines(out, "rewriting started") +
	    count_lines(out, "already under way") == primaries + replicas,
	    "%s", out);
	free(out);
}

START_TEST(test_ctl_cluster)
{
	char	*out, args[128], want[64];
	int	 i;

	ctl_conf("", pwfile);
	accounts_up();
	snprintf(args, sizeof args, "lookup --json %s %s %s +15550101099",
	    numbers[0], numbers[1], numbers[2]);
	ck_assert_msg(ctl("", &out, args) == 0, "%s", out);
	ck_assert_int_eq(count_lines(out, "\"registered\": true"), 3);
	ck_assert_int_eq(count_lines(out, "\"registered\": false"), 1);
	for (i = 0; i < 3; i++) {
		snprintf(want, sizeof want, "\"created_unix\": %llu,",
		    (unsigned long long)created[i]);
		ck_assert_msg(strstr(out, want) != NULL, "%s", out);
	}
	free(out);
	stats_are("", 3);
	delete_heard("", 0);
	stats_are("", 2);
	compact_is("", 3, 3);
}
END_TEST

/* The user line of deploy/redis-tryst.conf, as shipped, on every node
 * (with a password of the test's): "user trystd on #HASH RULES...". */
static void
acl_as_shipped(void)
{
	const char	*argv[64];
	char		 path[256], *conf, *line, *tok, *save, pw[64];
	redisContext	*c;
	redisReply	*r;
	int		 argc, p;

	snprintf(path, sizeof path, "%s/deploy/redis-tryst.conf",
	    TEST_SRCDIR);
	ck_assert_ptr_nonnull(conf = file_read_small(path, 1 << 16, NULL,
	    NULL));
	ck_assert_ptr_nonnull(line = strstr(conf, "\nuser trystd on #"));
	line[1 + strcspn(line + 1, "\n")] = '\0';
	snprintf(pw, sizeof pw, ">%s", CTL_PASSWORD);
	for (p = base; p < base + 6; p++) {
		argc = 0;
		argv[argc++] = "ACL";
		argv[argc++] = "SETUSER";
		argv[argc++] = "trystd";
		argv[argc++] = "reset";
		line = xstrdup(strstr(conf, "\nuser trystd on #") + 13);
		for (tok = strtok_r(line, " ", &save); tok != NULL &&
		    argc < 63; tok = strtok_r(NULL, " ", &save))
			argv[argc++] = *tok == '#' ? pw : tok;
		c = node_connect(p);
		r = redisCommandArgv(c, argc, argv, NULL);
		ck_assert_ptr_nonnull(r);
		ck_assert_msg(r->type == REDIS_REPLY_STATUS, "%s", r->str);
		freeReplyObject(r);
		redisFree(c);
		free(line);
	}
	free(conf);
}

START_TEST(test_ctl_acl)
{
	char	 path[128], *out, args[64], *cause = NULL;

	accounts_file(0);
	acl_as_shipped();
	snprintf(path, sizeof path, "%s/ctl-password", dir);
	ck_assert_int_eq(file_write_atomic(path, CTL_PASSWORD "\n",
	    strlen(CTL_PASSWORD) + 1, 0600, 0, &cause), 0);
	ctl_conf("trystd", path);
	snprintf(args, sizeof args, "lookup %s", numbers[2]);
	ck_assert_msg(ctl("trystd", &out, args) == 0, "%s", out);
	ck_assert_ptr_nonnull(strstr(out, "account exists"));
	free(out);
	stats_are("trystd", 2);
	compact_is("trystd", 3, 3);
	delete_heard("trystd", 1);
	stats_are("trystd", 1);
}
END_TEST

START_TEST(test_ctl_after_failover)
{
	char	*out, args[64];

	accounts_file(0);
	stats_are("", 1);
	snprintf(args, sizeof args, "lookup %s", numbers[2]);
	ck_assert_msg(ctl("", &out, args) == 0, "%s", out);
	ck_assert_ptr_nonnull(strstr(out, "account exists"));
	free(out);
	/* The killed primary is failed and serves no slot: not a node. */
	compact_is("", 3, 2);
}
END_TEST

void
ctl_tests(TCase *tc, int after_failover)
{
	if (after_failover)
		tcase_add_test(tc, test_ctl_after_failover);
	else {
		tcase_add_test(tc, test_ctl_cluster);
		tcase_add_test(tc, test_ctl_acl);
	}
}
