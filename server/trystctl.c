/*
 * trystctl.c -- the operator's tool: keygen, lookup (the answer to a legal
 * request), delete, pubkeys, compact, stats, and mint (on test nodes
 * only). It reads trystd's configuration and speaks to Redis (or a Redis
 * Cluster, through ctlredis.c) synchronously; it never runs inside the
 * daemon's loop.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <hiredis/hiredis.h>
#include <sodium.h>

#include "server.h"

#define DAY	86400ULL

/* What lookup found for one number. */
struct found {
	const char	*number;
	int		 valid;
	int		 registered;
	uint64_t	 created;
	uint64_t	 seen;
};

static __attribute__((noreturn)) void
usage(void)
{
	fprintf(stderr,
	    "usage: trystctl keygen FILE\n"
	    "       trystctl -c FILE lookup [--json] NUMBER...\n"
	    "       trystctl -c FILE delete NUMBER\n"
	    "       trystctl -c FILE pubkeys\n"
	    "       trystctl -c FILE compact\n"
	    "       trystctl -c FILE stats [--json]\n"
	    "       trystctl -c FILE mint COUNT [FIRST-NUMBER]\n");
	exit(2);
}

/* Print an error and exit 1. */
static __attribute__((noreturn, format(printf, 1, 2))) void
die(const char *fmt, ...)
{
	va_list	 ap;

	fprintf(stderr, "trystctl: ");
	va_start(ap, fmt);
	vfprintf(stderr, fmt, ap);
	va_end(ap);
	fprintf(stderr, "\n");
	exit(1);
}

/* The server's keys from the configured master key. */
static struct keys *
load_keys(const struct settings *set)
{
	uint8_t		 master[MASTER_KEY_LEN];
	struct keys	*keys;
	char		*cause, *path;

	if ((path = settings_path(set, set->master_key, &cause)) == NULL ||
	    keys_load_master(path, master, &cause) != 0)
		die("%s", cause);
	free(path);
	keys = keys_derive(master);
	sodium_memzero(master, sizeof master);
	if (keys == NULL)
		die("cannot derive keys");
	return (keys);
}

/* Connect to the configured Redis or cluster, authenticated. */
static struct ctlredis *
connect_redis(const struct settings *set)
{
	struct ctlredis	*c;
	char		*cause;

	if ((c = ctlredis_open(set, &cause)) == NULL)
		die("%s", cause);
	return (c);
}

/* Run a command on one slot; exit on a lost connection or an error
 * reply. */
static redisReply *
command(struct ctlredis *c, const char *fmt, ...)
{
	redisReply	*r;
	va_list		 ap;
	char		*cause;

	va_start(ap, fmt);
	r = ctlredis_vcommand(c, &cause, fmt, ap);
	va_end(ap);
	if (r == NULL)
		die("%s", cause);
	if (r->type == REDIS_REPLY_ERROR)
		die("redis: %s", r->str);
	return (r);
}

/* Read one number's account. */
static void
lookup_one(struct ctlredis *rc, const struct keys *keys, struct found *f)
{
	redisReply	*r;
	uint8_t		 id[ID_LEN];
	char		 key[72];

	f->valid = e164_valid(f->number, strlen(f->number));
	if (!f->valid)
		return;
	if (keys_number_id(keys, f->number, id) != 0)
		die("cannot compute the ID");
	keyspace_acct(key, id);
	r = command(rc, "HMGET %s created seen", key);
	if (r->type == REDIS_REPLY_ARRAY && r->elements == 2 &&
	    r->element[0]->type == REDIS_REPLY_STRING) {
		f->registered = 1;
		f->created = strtoull(r->element[0]->str, NULL, 10);
		if (r->element[1]->type == REDIS_REPLY_STRING)
			f->seen = strtoull(r->element[1]->str, NULL, 10);
	}
	freeReplyObject(r);
}

/* ISO 8601 UTC of a Unix time. */
static void
iso(char *buf, size_t len, uint64_t t, int day_only)
{
	struct tm	 tm;
	time_t		 tt = (time_t)t;

	gmtime_r(&tt, &tm);
	strftime(buf, len, day_only ? "%Y-%m-%d" : "%Y-%m-%dT%H:%M:%SZ", &tm);
}

/* The text answer: what an operator pastes into a reply. */
static void
print_text(const struct found *f)
{
	char	 c[32], s[32];

	if (!f->valid) {
		printf("%s: not a valid E.164 number (+ and 7 to 15 digits)\n",
		    f->number);
		return;
	}
	if (!f->registered) {
		printf("%s: no account\n", f->number);
		return;
	}
	iso(c, sizeof c, f->created, 0);
	iso(s, sizeof s, f->seen, 1);
	printf("%s: account exists\n", f->number);
	printf("  created:   %s (Unix time %llu)\n", c,
	    (unsigned long long)f->created);
	printf("  last seen: %s (the UTC day; Unix time %llu)\n", s,
	    (unsigned long long)f->seen);
}

/* One JSON object. Numbers are E.164 (+ and digits) when valid; an
 * invalid one is printed with anything unusual escaped. */
static void
print_json(const struct found *f, int first)
{
	char		 c[32], s[32];
	const char	*p;

	printf("%s\n  {\"number\": \"", first ? "" : ",");
	for (p = f->number; *p != '\0'; p++) {
		if (*p == '"' || *p == '\\' || (unsigned char)*p < 0x20 ||
		    (unsigned char)*p >= 0x7f)
			printf("\\u%04x", (unsigned char)*p);
		else
			putchar(*p);
	}
	printf("\", \"registered\": %s", f->registered ? "true" : "false");
	if (!f->valid)
		printf(", \"error\": \"not a valid E.164 number\"");
	if (f->registered) {
		iso(c, sizeof c, f->created, 0);
		iso(s, sizeof s, f->seen, 0);
		printf(", \"created\": \"%s\", \"created_unix\": %llu, "
		    "\"last_seen\": \"%s\", \"last_seen_unix\": %llu", c,
		    (unsigned long long)f->created, s,
		    (unsigned long long)f->seen);
	}
	printf("}");
}

/* lookup [--json] NUMBER... */
static int
cmd_lookup(const struct settings *set, int argc, char **argv)
{
	struct keys	*keys;
	struct ctlredis	*rc;
	struct found	 f;
	int		 json = 0, i, bad = 0;

	if (argc > 0 && strcmp(argv[0], "--json") == 0) {
		json = 1;
		argc--;
		argv++;
	}
	if (argc == 0)
		usage();
	keys = load_keys(set);
	rc = connect_redis(set);
	if (json)
		printf("[");
	for (i = 0; i < argc; i++) {
		memset(&f, 0, sizeof f);
		f.number = argv[i];
		lookup_one(rc, keys, &f);
		bad |= !f.valid;
		if (json)
			print_json(&f, i == 0);
		else
			print_text(&f);
	}
	if (json)
		printf("\n]\n");
	ctlredis_close(rc);
	keys_free(keys);
	return (bad ? 1 : 0);
}

/* delete NUMBER: remove the account and close its live connections. */
static int
cmd_delete(const struct settings *set, int argc, char **argv)
{
	struct keys	*keys;
	struct ctlredis	*rc;
	struct found	 f = { .number = argv[0] };
	redisReply	*r;
	uint8_t		 id[ID_LEN];
	char		 key[72], chan[80], rv[24];
	int		 deleted;

	if (argc != 1)
		usage();
	keys = load_keys(set);
	rc = connect_redis(set);
	lookup_one(rc, keys, &f);
	if (!f.valid)
		die("%s: not a valid E.164 number", f.number);
	if (!f.registered) {
		printf("%s: no account\n", f.number);
		ctlredis_close(rc);
		keys_free(keys);
		return (1);
	}
	keys_number_id(keys, f.number, id);
	keyspace_acct(key, id);
	keyspace_channel(chan, id);
	keyspace_revoke_msg(rv, f.created);
	r = command(rc, "EVAL %s 1 %s %llu %s %s %s", keyspace_delete_lua,
	    key, (unsigned long long)f.created, ctlredis_publish(rc), chan,
	    rv);
	deleted = r->type == REDIS_REPLY_INTEGER && r->integer == 1;
	freeReplyObject(r);
	if (!deleted) {
		printf("%s: registered again meanwhile; nothing deleted, run "
		    "delete again\n", f.number);
		ctlredis_close(rc);
		keys_free(keys);
		return (1);
	}
	printf("%s: account deleted\n", f.number);
	ctlredis_close(rc);
	keys_free(keys);
	return (0);
}

/* ctlredis_each: ask one node to rewrite its append-only file. */
static int
compact_node(redisContext *rc, const char *name, const char *why, void *arg)
{
	redisReply	*r;
	int		 rv = 0;

	if (rc == NULL) {
		printf("%s: %s\n", name, why);
		return (-1);
	}
	if ((r = redisCommand(rc, "BGREWRITEAOF")) == NULL) {
		printf("%s: %s\n", name, rc->errstr);
		return (-1);
	}
	/* A rewrite already under way does the same job: not an error. */
	if (r->type == REDIS_REPLY_ERROR && strstr(r->str, "in progress") ==
	    NULL) {
		printf("%s: %s\n", name, r->str);
		rv = -1;
	} else
		printf("%s: %s\n", name, r->type == REDIS_REPLY_ERROR ?
		    "a rewrite of the append-only file is already under way" :
		    r->str != NULL ? r->str : "rewrite requested");
	freeReplyObject(r);
	return (rv);
}

/* compact: ask Redis (on a cluster every node, replicas too: each keeps
 * an append-only file of its own) to rewrite its append-only file, so
 * that deleted accounts and old values leave the disk. */
static int
cmd_compact(const struct settings *set)
{
	struct ctlredis	*c = connect_redis(set);
	char		*cause;
	int		 rv;

	rv = ctlredis_each(c, 1, compact_node, NULL, &cause);
	ctlredis_close(c);
	if (rv != 0)
		die("%s", cause);
	return (0);
}

/* Aggregate counts over all accounts; nothing that names one. */
struct acct_stats {
	unsigned long long	 accounts;
	unsigned long long	 created_30d;
	unsigned long long	 seen_today;
	unsigned long long	 seen_7d;
	unsigned long long	 seen_30d;
	uint64_t		 now;
	uint64_t		 today;		/* now, truncated to the day */
};

/* Count one account's two timestamps into st. */
static void
stats_add(struct acct_stats *st, const redisReply *r)
{
	uint64_t	 created, seen;

	if (r->type != REDIS_REPLY_ARRAY || r->elements != 2 ||
	    r->element[0]->type != REDIS_REPLY_STRING)
		return;		/* deleted between SCAN and HMGET */
	created = strtoull(r->element[0]->str, NULL, 10);
	seen = r->element[1]->type == REDIS_REPLY_STRING ?
	    strtoull(r->element[1]->str, NULL, 10) : 0;
	st->accounts++;
	st->created_30d += created + 30 * DAY > st->now;
	st->seen_today += seen >= st->today;
	st->seen_7d += seen + 7 * DAY > st->today;
	st->seen_30d += seen + 30 * DAY > st->today;
}

/* ctlredis_each: walk one node's acct:* with SCAN (never KEYS: it would
 * stall Redis), reading the timestamps of each batch in one pipeline. A
 * node that cannot be read stops the count: a partial one would mislead. */
static int
stats_scan(redisContext *rc, const char *name, const char *why, void *arg)
{
	struct acct_stats *st = arg;
	redisReply	*r, *h;
	char		*cursor = xstrdup("0");
	size_t		 i;

	if (rc == NULL)
		die("%s: %s", name, why);
	do {
		if ((r = redisCommand(rc, "SCAN %s MATCH acct:* COUNT 1000",
		    cursor)) == NULL)
			die("%s: %s", name, rc->errstr);
		if (r->type != REDIS_REPLY_ARRAY || r->elements != 2)
			die("%s: unexpected SCAN reply", name);
		free(cursor);
		cursor = xstrdup(r->element[0]->str);
		for (i = 0; i < r->element[1]->elements; i++)
			redisAppendCommand(rc, "HMGET %s created seen",
			    r->element[1]->element[i]->str);
		for (i = 0; i < r->element[1]->elements; i++) {
			if (redisGetReply(rc, (void **)&h) != REDIS_OK)
				die("redis: %s", rc->errstr);
			stats_add(st, h);
			freeReplyObject(h);
		}
		freeReplyObject(r);
	} while (strcmp(cursor, "0") != 0);
	free(cursor);
	return (0);
}

/* stats [--json]: how many accounts, how many were created or seen
 * lately. */
static int
cmd_stats(const struct settings *set, int argc, char **argv)
{
	struct acct_stats	 st = { 0 };
	struct ctlredis	*rc;
	char		*cause;
	int		 json = argc == 1 && strcmp(argv[0], "--json") == 0;

	if (argc != json)
		usage();
	rc = connect_redis(set);
	st.now = (uint64_t)time(NULL);
	st.today = st.now / DAY * DAY;
	if (ctlredis_each(rc, 0, stats_scan, &st, &cause) != 0)
		die("%s", cause);
	ctlredis_close(rc);
	if (json) {
		printf("{\"accounts\": %llu, \"created_30d\": %llu, "
		    "\"seen_today\": %llu, \"seen_7d\": %llu, "
		    "\"seen_30d\": %llu}\n", st.accounts, st.created_30d,
		    st.seen_today, st.seen_7d, st.seen_30d);
		return (0);
	}
	printf("accounts:                %llu\n", st.accounts);
	printf("created in last 30 days: %llu\n", st.created_30d);
	printf("seen today (UTC):        %llu\n", st.seen_today);
	printf("seen in last 7 days:     %llu\n", st.seen_7d);
	printf("seen in last 30 days:    %llu\n", st.seen_30d);
	return (0);
}

/* mint COUNT [FIRST]: on a test node (test_accounts = 1) alone, COUNT
 * accounts for the numbers from FIRST up, written as a registration
 * writes them but without a code; for each a line "NUMBER ID SEED CRED":
 * the ID in hex, the identity key's Ed25519 seed and the credential in
 * base64, what a load generator needs to go online (tryst-bench). */
static int
cmd_mint(const struct settings *set, int argc, char **argv)
{
	struct keys	*keys;
	struct ctlredis	*rc;
	redisReply	*r;
	unsigned long long first = 155590000000ULL, count, i;
	uint8_t		 id[ID_LEN], seed[32], pk[32], sk[64], cred[CRED_LEN];
	char		 number[24], hex[2 * ID_LEN + 1], key[72], chan[80];
	char		 rv[24], *b64s, *b64c, *end;
	uint64_t	 now = (uint64_t)time(NULL), today = now / DAY * DAY;

	if (argc < 1 || argc > 2)
		usage();
	if (!set->test_accounts)
		die("mint: refused: this is not a test node's configuration "
		    "(test_accounts = 1 marks one); minted accounts skip the "
		    "code that proves a number is held");
	count = strtoull(argv[0], &end, 10);
	if (*argv[0] == '\0' || *end != '\0' || count < 1 || count > 10000000)
		die("mint: COUNT is 1..10000000");
	if (argc == 2 && (argv[1][0] != '+' || (first = strtoull(argv[1] + 1,
	    &end, 10)) == 0 || *end != '\0'))
		die("mint: FIRST-NUMBER is + and digits");
	keys = load_keys(set);
	rc = connect_redis(set);
	for (i = 0; i < count; i++) {
		snprintf(number, sizeof number, "+%llu", first + i);
		if (!e164_valid(number, strlen(number)))
			die("mint: %s is not an E.164 number", number);
		if (keys_number_id(keys, number, id) != 0)
			die("cannot compute the ID");
		randombytes_buf(seed, sizeof seed);
		crypto_sign_seed_keypair(pk, sk, seed);
		cred_make(cred, keys, id, pk, now, now +
		    (uint64_t)set->credential_days * DAY);
		keyspace_acct(key, id);
		keyspace_channel(chan, id);
		keyspace_revoke_msg(rv, now - 1);
		r = command(rc, "EVAL %s 1 %s %llu %llu %llu %s %s %s",
		    keyspace_put_lua, key, (unsigned long long)now,
		    (unsigned long long)today, (unsigned long long)(today +
		    (uint64_t)set->account_ttl_days * DAY),
		    ctlredis_publish(rc), chan, rv);
		freeReplyObject(r);
		hex_encode(hex, id, ID_LEN);
		b64s = b64_encode(seed, sizeof seed);
		b64c = b64_encode(cred, sizeof cred);
		printf("%s %s %s %s\n", number, hex, b64s, b64c);
		free(b64s);
		free(b64c);
	}
	sodium_memzero(seed, sizeof seed);
	sodium_memzero(sk, sizeof sk);
	ctlredis_close(rc);
	keys_free(keys);
	return (fflush(stdout) == 0 ? 0 : 1);
}

/* pubkeys: the signing key clients trust. */
static int
cmd_pubkeys(const struct settings *set)
{
	struct keys	*keys = load_keys(set);
	char		*b64;

	b64 = b64_encode(keys->sign_pk, sizeof keys->sign_pk);
	printf("%s\n", b64);
	free(b64);
	keys_free(keys);
	return (0);
}

int
main(int argc, char **argv)
{
	struct settings	 set;
	const char	*conf = NULL;
	char		*cause;
	int		 ch, rv;

	if (sodium_init() < 0)
		die("sodium_init failed");
	while ((ch = getopt(argc, argv, "+c:h")) != -1) {
		switch (ch) {
		case 'c':
			conf = optarg;
			break;
		default:
			usage();
		}
	}
	argc -= optind;
	argv += optind;
	if (argc < 1)
		usage();
	if (strcmp(argv[0], "keygen") == 0) {
		if (argc != 2)
			usage();
		if (keys_generate_file(argv[1], &cause) != 0)
			die("%s", cause);
		return (0);
	}
	if (conf == NULL)
		usage();
	if (settings_load(&set, conf, &cause) != 0)
		die("%s", cause);
	if (strcmp(argv[0], "lookup") == 0)
		rv = cmd_lookup(&set, argc - 1, argv + 1);
	else if (strcmp(argv[0], "delete") == 0 && argc == 2)
		rv = cmd_delete(&set, argc - 1, argv + 1);
	else if (strcmp(argv[0], "pubkeys") == 0 && argc == 1)
		rv = cmd_pubkeys(&set);
	else if (strcmp(argv[0], "compact") == 0 && argc == 1)
		rv = cmd_compact(&set);
	else if (strcmp(argv[0], "stats") == 0)
		rv = cmd_stats(&set, argc - 1, argv + 1);
	else if (strcmp(argv[0], "mint") == 0)
		rv = cmd_mint(&set, argc - 1, argv + 1);
	else
		usage();
	settings_free(&set);
	return (rv);
}
