/*
 * integ-cluster.c -- cluster.c (cluster_ops) against a real Redis Cluster
 * of 3 primaries and 3 replicas that tests/cluster-up.sh starts on
 * loopback with a password (so every connection AUTHs) and a node
 * timeout of 1 s: commands on keys of every primary; a slot moved to
 * another primary (MOVED followed, counted, map read again, channel
 * placed again); a slot half migrated (ASK followed, map unchanged); a
 * primary killed with SIGKILL (commands in flight get NULL, the slot
 * works again after the replica's promotion, a channel of that slot
 * hears messages again, no ID in the log at the default level); and a
 * wrong password (never up, no crash). integ-ctl.c adds trystctl's tests
 * on the same cluster.
 *
 * The cluster is shared by the tests, which run in this order, each in
 * a child of its own (Check's fork mode) with a cluster_ops of its own
 * on a loop of its own. Exits 77 (skipped) without redis-server or
 * redis-cli.
 */
#include <sys/stat.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <fcntl.h>
#include <signal.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <hiredis/hiredis.h>
#include <sodium.h>

#include "server.h"
#include "unit.h"
#include "integ-cluster.h"

#define NPORTS		12	/* 6 client ports, 6 bus ports */

char			 dir[64] = "/tmp/tryst-cluster.XXXXXX";
char			 pwfile[128];
int			 base;

static struct server	 srv;
static void		*cl;
static int		 storage_up;
static char		 got_chan[128], got_msg[128];
static int		 ngot;

/* What came back for one command. */
struct result {
	int		 done;
	int		 null;
	int		 type;
	long long	 integer;
	char		 str[256];
};

/* trystd.c's, which the cluster calls when it becomes usable. */
void
server_storage_up(struct server *s)
{
	storage_up++;
}

/* Milliseconds of a monotonic clock. */
static uint64_t
ms_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Run the loop until expr holds or ms have passed. */
#define LOOP_UNTIL(expr, ms) do {					\
	uint64_t end_ = ms_now() + (ms);				\
	while (!(expr) && ms_now() < end_)				\
		event_base_loop(srv.base, EVLOOP_ONCE);			\
} while (0)

/* A message on a subscribed channel. */
static void
on_msg(const char *chan, size_t chanlen, const char *msg, size_t len,
    void *arg)
{
	snprintf(got_chan, sizeof got_chan, "%.*s", (int)chanlen, chan);
	snprintf(got_msg, sizeof got_msg, "%.*s", (int)len, msg);
	ngot++;
}

/* A reply, or NULL. */
static void
on_reply(redisReply *r, void *arg)
{
	struct result	*res = arg;

	res->done++;
	if (r == NULL) {
		res->null = 1;
		return;
	}
	res->type = r->type;
	res->integer = r->integer;
	if (r->str != NULL)
		snprintf(res->str, sizeof res->str, "%.*s", (int)r->len,
		    r->str);
}

/* Keep the loop turning while the tests wait. */
static void
tick(evutil_socket_t fd, short ev, void *arg)
{
}

static void	 setup_as(const char *, const char *);

/* A loop, the settings of the cluster, cluster_ops open and up. */
static void
setup(void)
{
	setup_as("", pwfile);
}

/* The same as user (AUTH user password), password in file. */
static void
setup_as(const char *user, const char *file)
{
	static const struct timeval ten_ms = { 0, 10000 };
	struct event	*t;
	char		*cause = NULL;

	memset(&srv, 0, sizeof srv);
	conf_defaults(settings_table, &srv.set);
	log_set_level(srv.set.log_level);
	free(srv.set.redis);
	xasprintf(&srv.set.redis, "cluster:127.0.0.1:%d,127.0.0.1:%d",
	    base + 5, base);
	free(srv.set.redis_password_file);
	srv.set.redis_password_file = xstrdup(file);
	free(srv.set.redis_user);
	srv.set.redis_user = xstrdup(user);
	ck_assert_ptr_nonnull(srv.base = event_base_new());
	t = event_new(srv.base, -1, EV_PERSIST, tick, NULL);
	event_add(t, &ten_ms);
	storage_up = ngot = 0;
	cl = cluster_ops.open(&srv, on_msg, NULL, &cause);
	ck_assert_msg(cl != NULL, "%s", cause);
	LOOP_UNTIL(cluster_ops.up(cl), 10000);
	ck_assert(cluster_ops.up(cl));
	ck_assert_int_eq(storage_up, 1);
}

/* Send a command; its result comes later. */
static struct result *
send_cmd(const char *key, int argc, const char **argv)
{
	struct result	*res = xcalloc(1, sizeof *res);

	ck_assert_int_eq(cluster_ops.cmd(cl, key, on_reply, res, argc, argv,
	    NULL), 0);
	return (res);
}

/* Send a command and wait for its reply (it must come within 5 s). */
static struct result *
run_cmd(const char *key, int argc, const char **argv)
{
	struct result	*res = send_cmd(key, argc, argv);

	LOOP_UNTIL(res->done, 5000);
	ck_assert_int_eq(res->done, 1);
	return (res);
}

/* SET key value through the cluster: it must say OK. */
static void
set_ok(const char *key, const char *value)
{
	const char	*argv[] = { "SET", key, value };
	struct result	*res = run_cmd(key, 3, argv);

	ck_assert_int_eq(res->null, 0);
	ck_assert_msg(res->type == REDIS_REPLY_STATUS, "%s", res->str);
	ck_assert_str_eq(res->str, "OK");
	free(res);
}

/* GET key through the cluster: it must be value. */
static void
get_is(const char *key, const char *value)
{
	const char	*argv[] = { "GET", key };
	struct result	*res = run_cmd(key, 2, argv);

	ck_assert_int_eq(res->null, 0);
	ck_assert_msg(res->type == REDIS_REPLY_STRING, "%s: %s", key,
	    res->str);
	ck_assert_str_eq(res->str, value);
	free(res);
}

/* SPUBLISH through the cluster until a message comes to on_msg (within
 * ms); how many nodes' subscribers got the last one. */
static long long
publish_until_heard(const char *chan, const char *msg, int ms)
{
	const char	*argv[] = { "SPUBLISH", chan, msg };
	struct result	*res;
	uint64_t	 end = ms_now() + ms;
	long long	 n = -1;

	ngot = 0;
	while (ngot == 0 && ms_now() < end) {
		if (cluster_ops.cmd(cl, chan, on_reply, res = xcalloc(1,
		    sizeof *res), 3, argv, NULL) != 0) {
			free(res);
			LOOP_UNTIL(0, 100);
			continue;
		}
		LOOP_UNTIL(res->done, 5000);
		if (!res->null && res->type == REDIS_REPLY_INTEGER)
			n = res->integer;
		free(res);
		LOOP_UNTIL(ngot > 0, 200);
	}
	ck_assert_msg(ngot > 0, "nothing heard on a channel");
	ck_assert_str_eq(got_chan, chan);
	ck_assert_str_eq(got_msg, msg);
	return (n);
}

/* ---- the cluster as the tests see it (blocking hiredis) ---- */

/* A connection to the node at port, authenticated (fatal if it cannot
 * be made). */
redisContext *
node_connect(int port)
{
	redisContext	*c;
	redisReply	*r;

	c = redisConnect("127.0.0.1", port);
	ck_assert_msg(c != NULL && !c->err, "node %d: %s", port,
	    c != NULL ? c->errstr : "");
	r = redisCommand(c, "AUTH %s", PASSWORD);
	ck_assert_ptr_nonnull(r);
	freeReplyObject(r);
	return (c);
}

/* A reply of the node at port (fatal if it cannot answer). */
static redisReply *
node_vcmd(int port, const char *fmt, va_list ap)
{
	redisContext	*c = node_connect(port);
	redisReply	*r;

	r = redisvCommand(c, fmt, ap);
	ck_assert_ptr_nonnull(r);
	redisFree(c);
	return (r);
}

/* A reply of the node at port. */
redisReply *
node_cmd(int port, const char *fmt, ...)
{
	redisReply	*r;
	va_list		 ap;

	va_start(ap, fmt);
	r = node_vcmd(port, fmt, ap);
	va_end(ap);
	return (r);
}

/* The node at port says OK. */
static void
node_ok(int port, const char *fmt, ...)
{
	redisReply	*r;
	va_list		 ap;

	va_start(ap, fmt);
	r = node_vcmd(port, fmt, ap);
	va_end(ap);
	ck_assert_msg(r->type == REDIS_REPLY_STATUS, "%d: %s", port,
	    r->str);
	freeReplyObject(r);
}

/* The slot map, as the node at port sees it. */
static void
map_of(struct slotmap *m, int port)
{
	redisReply	*r = node_cmd(port, "CLUSTER SHARDS");
	char		*why = NULL;

	slot_map_clear(m);
	ck_assert_msg(slot_map_shards(m, r, "127.0.0.1", &why) == 0, "%s",
	    why);
	freeReplyObject(r);
}

/* The port of the primary of slot s. */
int
owner_of(unsigned s)
{
	static struct slotmap	 m;
	int			 port;

	map_of(&m, base);
	ck_assert_uint_ne(m.owner[s], SLOT_NONE);
	port = m.nodes[m.owner[s]].port;
	slot_map_clear(&m);
	return (port);
}

/* The node ID of the node at port, into id. */
static void
node_id(int port, char id[41])
{
	redisReply	*r = node_cmd(port, "CLUSTER MYID");

	ck_assert_int_eq(r->type, REDIS_REPLY_STRING);
	snprintf(id, 41, "%s", r->str);
	freeReplyObject(r);
}

/* A primary that is not the one at port. */
static int
other_primary(int port)
{
	static struct slotmap	 m;
	size_t			 i;
	int			 other = -1;

	map_of(&m, base);
	for (i = 0; i < m.nnodes && other == -1; i++)
		if (m.nodes[i].port != port)
			other = m.nodes[i].port;
	slot_map_clear(&m);
	ck_assert_int_ne(other, -1);
	return (other);
}

/* Start moving slot s from the primary at from to the one at to. */
static void
slot_migrating(unsigned s, int from, int to)
{
	char	 from_id[41], to_id[41];

	node_id(from, from_id);
	node_id(to, to_id);
	node_ok(to, "CLUSTER SETSLOT %u IMPORTING %s", s, from_id);
	node_ok(from, "CLUSTER SETSLOT %u MIGRATING %s", s, to_id);
}

/* MIGRATE key from the node at from to the one at to. */
static void
migrate(int from, int to, const char *key)
{
	redisReply	*r;

	r = node_cmd(from, "MIGRATE 127.0.0.1 %d %s 0 5000 AUTH %s", to, key,
	    PASSWORD);
	ck_assert_msg(r->type == REDIS_REPLY_STATUS, "%s", r->str);
	freeReplyObject(r);
}

/* Slot s belongs to the primary at to: told to it, to from, then to the
 * other primaries. */
static void
slot_moved(unsigned s, int from, int to)
{
	static struct slotmap	 m;
	char			 to_id[41];
	size_t			 i;

	map_of(&m, base);
	node_id(to, to_id);
	node_ok(to, "CLUSTER SETSLOT %u NODE %s", s, to_id);
	node_ok(from, "CLUSTER SETSLOT %u NODE %s", s, to_id);
	for (i = 0; i < m.nnodes; i++)
		if (m.nodes[i].port != from && m.nodes[i].port != to)
			node_ok(m.nodes[i].port, "CLUSTER SETSLOT %u NODE %s",
			    s, to_id);
	slot_map_clear(&m);
}

/* ---- the tests ---- */

START_TEST(test_spread)
{
	char		 key[64], val[64], chan[3][64];
	const char	*argv[] = { "SPUBLISH", NULL, "x" };
	struct result	*res;
	int		 seen[6] = { 0 }, i, port;

	setup();
	ck_assert_str_eq(cluster_ops.publish, "SPUBLISH");
	ck_assert_uint_ge(srv.stats.redis_refreshes, 1);
	/* 300 keys: every primary holds some. */
	for (i = 0; i < 300; i++) {
		snprintf(key, sizeof key, "spread:%d", i);
		snprintf(val, sizeof val, "value %d", i);
		set_ok(key, val);
		seen[owner_of(slot_of(key, strlen(key))) - base]++;
	}
	for (i = 0; i < 300; i++) {
		snprintf(key, sizeof key, "spread:%d", i);
		snprintf(val, sizeof val, "value %d", i);
		get_is(key, val);
	}
	for (i = 0, port = 0; i < 6; i++)
		port += seen[i] > 0;
	ck_assert_int_eq(port, 3);
	/* tryst's own forms, with their hash tags. */
	set_ok("acct:{0123456789abcdef0123456789abcdef0123456789abcdef01234567"
	    "89abcdef}", "a");
	get_is("acct:{0123456789abcdef0123456789abcdef0123456789abcdef01234567"
	    "89abcdef}", "a");
	/* The map was right: nothing was redirected. */
	ck_assert_uint_eq(srv.stats.redis_redirects, 0);

	/* Channels on three slots; each heard; one dropped again. */
	for (i = 0; i < 3; i++) {
		snprintf(chan[i], sizeof chan[i], "tryst:id:{spread-%d}", i);
		cluster_ops.subscribe(cl, chan[i]);
		cluster_ops.subscribe(cl, chan[i]);
	}
	ck_assert_uint_eq(cluster_ops.subscriptions(cl), 3);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(publish_until_heard(chan[i], "hello", 5000),
		    1);
	cluster_ops.unsubscribe(cl, chan[1]);
	cluster_ops.unsubscribe(cl, chan[1]);
	ck_assert_uint_eq(cluster_ops.subscriptions(cl), 2);
	argv[1] = chan[1];
	LOOP_UNTIL(0, 300);
	res = run_cmd(chan[1], 3, argv);
	ck_assert_int_eq(res->type, REDIS_REPLY_INTEGER);
	ck_assert_int_eq(res->integer, 0);
	free(res);
	cluster_ops.close(cl);
}
END_TEST

/* SPUBLISH on the node at port itself until on_msg hears it (3 s). */
static void
heard_from(int port, const char *chan, const char *msg)
{
	redisReply	*r;
	uint64_t	 end = ms_now() + 3000;

	ngot = 0;
	while (ngot == 0 && ms_now() < end) {
		r = node_cmd(port, "SPUBLISH %s %s", chan, msg);
		freeReplyObject(r);
		LOOP_UNTIL(ngot > 0, 100);
	}
	ck_assert_msg(ngot > 0, "nothing heard on a channel");
	ck_assert_str_eq(got_msg, msg);
}

START_TEST(test_moved)
{
	const char	*key = "moved:{mv1}", *chan = "tryst:id:{mv2}";
	unsigned	 s = slot_of(key, strlen(key));
	unsigned	 cs = slot_of(chan, strlen(chan));
	unsigned long long redirects, refreshes;
	int		 from, to;

	setup();
	set_ok(key, "before");
	cluster_ops.subscribe(cl, chan);
	ck_assert_int_eq(publish_until_heard(chan, "one", 5000), 1);

	/* The channel's slot moves: its node says "sunsubscribe", the
	 * channel goes to the new owner with no command sent meanwhile. */
	from = owner_of(cs);
	to = other_primary(from);
	slot_migrating(cs, from, to);
	slot_moved(cs, from, to);
	heard_from(to, chan, "two");
	ck_assert_uint_eq(cluster_ops.subscriptions(cl), 1);

	/* The key's slot moves. The map still says from: from answers
	 * MOVED, the command goes on to to, and the map is read again. */
	from = owner_of(s);
	to = other_primary(from);
	slot_migrating(s, from, to);
	migrate(from, to, key);
	slot_moved(s, from, to);
	ck_assert_int_eq(owner_of(s), to);
	redirects = srv.stats.redis_redirects;
	refreshes = srv.stats.redis_refreshes;
	get_is(key, "before");
	ck_assert_uint_eq(srv.stats.redis_redirects, redirects + 1);
	set_ok(key, "after");
	get_is(key, "after");
	ck_assert_uint_eq(srv.stats.redis_redirects, redirects + 1);
	LOOP_UNTIL(srv.stats.redis_refreshes > refreshes, 3000);
	ck_assert_uint_gt(srv.stats.redis_refreshes, refreshes);
	ck_assert_int_eq(publish_until_heard(chan, "three", 5000), 1);
	cluster_ops.close(cl);
}
END_TEST

START_TEST(test_ask)
{
	const char	*key = "ask:{as2}", *stay = "ask:{as2}:stays";
	unsigned	 s = slot_of(key, strlen(key));
	unsigned long long redirects, refreshes;
	int		 from, to;

	setup();
	set_ok(key, "moving");
	set_ok(stay, "staying");
	from = owner_of(s);
	to = other_primary(from);
	slot_migrating(s, from, to);
	migrate(from, to, key);

	/* from no longer has key: ASK, then ASKING and GET on to. */
	redirects = srv.stats.redis_redirects;
	refreshes = srv.stats.redis_refreshes;
	get_is(key, "moving");
	ck_assert_uint_eq(srv.stats.redis_redirects, redirects + 1);
	/* The map is the same: a key still on from is read there. */
	get_is(stay, "staying");
	ck_assert_uint_eq(srv.stats.redis_redirects, redirects + 1);
	get_is(key, "moving");
	ck_assert_uint_eq(srv.stats.redis_redirects, redirects + 2);
	ck_assert_uint_eq(srv.stats.redis_refreshes, refreshes);

	migrate(from, to, stay);
	slot_moved(s, from, to);
	get_is(stay, "staying");
	cluster_ops.close(cl);
}
END_TEST

START_TEST(test_reconnect)
{
	const char	*key = "again:{rc4}", *chan = "tryst:id:{rc4}";
	const char	*setv[] = { "SET", key, "again" };
	unsigned long long errors;
	redisReply	*r;
	struct result	*res;
	uint64_t	 end;
	int		 port, ok = 0;

	setup();
	set_ok(key, "first");
	cluster_ops.subscribe(cl, chan);
	ck_assert_int_eq(publish_until_heard(chan, "one", 5000), 1);
	port = owner_of(slot_of(key, strlen(key)));

	/* The node stays the primary, but drops every connection of ours:
	 * the subscriber, then the command context. */
	errors = srv.stats.redis_errors;
	r = node_cmd(port, "CLIENT KILL TYPE pubsub");
	ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
	ck_assert_int_eq(r->integer, 1);
	freeReplyObject(r);
	r = node_cmd(port, "CLIENT KILL TYPE normal");
	ck_assert_int_eq(r->type, REDIS_REPLY_INTEGER);
	ck_assert_int_ge(r->integer, 1);
	freeReplyObject(r);
	LOOP_UNTIL(srv.stats.redis_errors >= errors + 2, 3000);
	ck_assert_uint_ge(srv.stats.redis_errors, errors + 2);

	/* Commands work again after the back-off, the channel is heard. */
	for (end = ms_now() + 5000; !ok && ms_now() < end;) {
		res = xcalloc(1, sizeof *res);
		if (cluster_ops.cmd(cl, key, on_reply, res, 3, setv,
		    NULL) == 0) {
			LOOP_UNTIL(res->done, 5000);
			ok = !res->null && res->type == REDIS_REPLY_STATUS;
		}
		free(res);
		if (!ok)
			LOOP_UNTIL(0, 50);
	}
	ck_assert(ok);
	get_is(key, "again");
	ck_assert_int_eq(publish_until_heard(chan, "two", 5000), 1);
	ck_assert_uint_eq(srv.stats.redis_redirects, 0);
	cluster_ops.close(cl);
}
END_TEST

/* Commands NULL-replied so far, of those in res. */
static int
nulls(struct result **res, int n)
{
	int	 i, k = 0;

	for (i = 0; i < n; i++)
		k += res[i] != NULL && res[i]->done && res[i]->null;
	return (k);
}

START_TEST(test_failover)
{
	const char	*key = "fail:{fo3}", *chan = "tryst:id:{fo3}";
	const char	*blpop[] = { "BLPOP", "fail:{fo3}:list", "20" };
	const char	*setv[] = { "SET", key, "back" };
	struct result	*res[8], *r;
	char		 path[256], *log, pid[32];
	uint64_t	 t0, took;
	size_t		 len;
	int		 i, port, fd, saved, ok = 0, n = 0;
	FILE		*f;

	/* The log at the default level goes to a file. */
	snprintf(path, sizeof path, "%s/failover.log", dir);
	ck_assert_int_ne(fd = open(path, O_WRONLY | O_CREAT | O_TRUNC, 0600),
	    -1);
	saved = dup(STDERR_FILENO);
	dup2(fd, STDERR_FILENO);
	close(fd);

	setup();
	set_ok(key, "first");
	cluster_ops.subscribe(cl, chan);
	ck_assert_int_eq(publish_until_heard(chan, "before", 5000), 1);
	port = owner_of(slot_of(key, strlen(key)));

	/* In flight when the primary dies: a BLPOP waiting, and GETs. */
	res[n++] = send_cmd(key, 3, blpop);
	LOOP_UNTIL(0, 200);
	snprintf(path, sizeof path, "%s/node-%d/redis.pid", dir, port);
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	ck_assert_ptr_nonnull(fgets(pid, sizeof pid, f));
	fclose(f);
	ck_assert_int_eq(kill(atoi(pid), SIGKILL), 0);
	t0 = ms_now();
	for (i = 0; i < 4; i++) {
		const char *get[] = { "GET", key };

		r = xcalloc(1, sizeof *r);
		if (cluster_ops.cmd(cl, key, on_reply, r, 2, get, NULL) == 0)
			res[n++] = r;
		else
			free(r);
	}
	LOOP_UNTIL(nulls(res, n) == n, 5000);
	for (i = 0; i < n; i++) {
		ck_assert_int_eq(res[i]->done, 1);
		ck_assert_int_eq(res[i]->null, 1);
	}

	/* The replica takes over; the slot works again. */
	while (!ok && ms_now() < t0 + 20000) {
		r = xcalloc(1, sizeof *r);
		if (cluster_ops.cmd(cl, key, on_reply, r, 3, setv, NULL) == 0) {
			LOOP_UNTIL(r->done, 5000);
			ck_assert_int_eq(r->done, 1);
			ok = !r->null && r->type == REDIS_REPLY_STATUS;
		}
		free(r);
		if (!ok)
			LOOP_UNTIL(0, 100);
	}
	took = ms_now() - t0;
	ck_assert_msg(ok, "the slot did not come back within 20 s");
	get_is(key, "back");
	ck_assert_int_ne(owner_of(slot_of(key, strlen(key))), port);
	/* The channel is heard on the new primary. */
	ck_assert_int_eq(publish_until_heard(chan, "after", 10000), 1);
	ck_assert_uint_gt(srv.stats.redis_errors, 0);
	for (i = 0; i < n; i++)
		free(res[i]);
	cluster_ops.close(cl);

	dup2(saved, STDERR_FILENO);
	close(saved);
	fprintf(stderr, "failover: slot back after %llu ms\n",
	    (unsigned long long)took);
	snprintf(path, sizeof path, "%s/failover.log", dir);
	ck_assert_ptr_nonnull(log = file_read_small(path, 1 << 20, &len,
	    NULL));
	ck_assert_ptr_nonnull(strstr(log, "redis cluster:"));
	ck_assert_ptr_null(strstr(log, "fo3"));
	ck_assert_ptr_null(strstr(log, "127.0.0.1"));
	free(log);
}
END_TEST

START_TEST(test_user)
{
	const char	*chan = "tryst:node:{user}";
	char		 file[160], *cause = NULL;
	int		 p;

	/* An ACL user of its own password on every node: the commands and
	 * the subscriber AUTH as that user (the password alone would be
	 * refused). */
	for (p = base; p < base + 6; p++)
		node_ok(p, "ACL SETUSER tryst-user on >user-password ~* &* "
		    "+@all");
	snprintf(file, sizeof file, "%s/user-password", dir);
	ck_assert_int_eq(file_write_atomic(file, "user-password\n", 14, 0600,
	    0, &cause), 0);
	setup_as("tryst-user", file);
	set_ok("user:{u1}", "v");
	get_is("user:{u1}", "v");
	cluster_ops.subscribe(cl, chan);
	ck_assert_int_eq(publish_until_heard(chan, "hi", 5000), 1);
	cluster_ops.close(cl);
}
END_TEST

START_TEST(test_wrong_password)
{
	const char	*argv[] = { "GET", "x" };
	char		*cause = NULL;
	int		 fd;

	memset(&srv, 0, sizeof srv);
	conf_defaults(settings_table, &srv.set);
	free(srv.set.redis);
	xasprintf(&srv.set.redis, "cluster:127.0.0.1:%d", base + 3);
	snprintf(pwfile + strlen(pwfile), sizeof pwfile - strlen(pwfile),
	    ".wrong");
	ck_assert_int_ne(fd = open(pwfile, O_WRONLY | O_CREAT, 0600), -1);
	ck_assert_int_eq(write(fd, "wrong\n", 6), 6);
	close(fd);
	free(srv.set.redis_password_file);
	srv.set.redis_password_file = xstrdup(pwfile);
	srv.base = event_base_new();
	ck_assert_ptr_nonnull(cl = cluster_ops.open(&srv, on_msg, NULL,
	    &cause));
	event_base_loopexit(srv.base, &(struct timeval){ 2, 0 });
	event_base_dispatch(srv.base);
	ck_assert(!cluster_ops.up(cl));
	ck_assert_int_eq(storage_up, 0);
	ck_assert_int_eq(cluster_ops.cmd(cl, "x", on_reply, NULL, 2, argv,
	    NULL), -1);
	ck_assert_uint_gt(srv.stats.redis_errors, 0);
	cluster_ops.close(cl);
}
END_TEST

/* 1 if the 12 loopback ports from p are free now. */
static int
ports_free(int p)
{
	struct sockaddr_in	 sin;
	int			 i, fd, ok = 1;

	for (i = 0; i < NPORTS && ok; i++) {
		if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
			return (0);
		memset(&sin, 0, sizeof sin);
		sin.sin_family = AF_INET;
		sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
		sin.sin_port = htons(p + i);
		ok = bind(fd, (struct sockaddr *)&sin, sizeof sin) == 0;
		close(fd);
	}
	return (ok);
}

/* A base port with 12 free ports, below the ephemeral range (as
 * h_free_port picks, for the same reason). */
static int
pick_base(void)
{
	FILE	*f;
	int	 lo = 32768, hi = 60999, i, p;

	if ((f = fopen("/proc/sys/net/ipv4/ip_local_port_range", "r"))) {
		if (fscanf(f, "%d %d", &lo, &hi) != 2)
			lo = 32768;
		fclose(f);
	}
	for (i = 0; i < 200; i++) {
		p = lo > 11000 ? 10000 + (int)randombytes_uniform(lo - 10000 -
		    NPORTS) : hi + 1 + (int)randombytes_uniform(65535 - hi -
		    NPORTS);
		if (ports_free(p))
			return (p);
	}
	return (-1);
}

/* Run cluster-up.sh with args. */
static int
cluster_up(const char *args)
{
	char	*cmd;
	int	 rc;

	xasprintf(&cmd, "CLUSTER_PASSWORD=%s CLUSTER_NODE_TIMEOUT=1000 "
	    "%s/tests/cluster-up.sh %s", PASSWORD, TEST_SRCDIR, args);
	rc = system(cmd);
	free(cmd);
	return (rc);
}

int
main(void)
{
	Suite	*s = suite_create("cluster");
	TCase	*tc = tcase_create("cluster");
	char	*args, *cause = NULL;
	int	 failed, attempt;

	if (system("command -v redis-server >/dev/null && "
	    "command -v redis-cli >/dev/null") != 0) {
		printf("SKIP: no redis-server or redis-cli\n");
		return (77);
	}
	if (sodium_init() == -1 || mkdtemp(dir) == NULL)
		return (1);
	snprintf(pwfile, sizeof pwfile, "%s/password", dir);
	if (file_write_atomic(pwfile, PASSWORD "\n", strlen(PASSWORD) + 1,
	    0600, 0, &cause) != 0)
		fatalx("%s", cause);
	for (attempt = 0; attempt < 3; attempt++) {
		if ((base = pick_base()) == -1)
			fatalx("no free ports");
		xasprintf(&args, "start %s %d %d", dir, base, (int)getpid());
		failed = cluster_up(args);
		free(args);
		if (failed == 0)
			break;
	}
	if (failed != 0)
		fatalx("the cluster did not start");

	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_spread);
	tcase_add_test(tc, test_moved);
	tcase_add_test(tc, test_ask);
	tcase_add_test(tc, test_reconnect);
	tcase_add_test(tc, test_user);
	tcase_add_test(tc, test_wrong_password);
	ctl_tests(tc, 0);
	tcase_add_test(tc, test_failover);
	ctl_tests(tc, 1);
	suite_add_tcase(s, tc);
	failed = unit_run(s);

	xasprintf(&args, "stop %s", dir);
	cluster_up(args);
	free(args);
	xasprintf(&args, "rm -rf %s", dir);
	if (getenv("CLUSTER_KEEP") == NULL && system(args) != 0)
		failed = 1;
	free(args);
	return (failed);
}
