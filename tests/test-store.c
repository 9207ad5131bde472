/*
 * test-store.c -- store.c's operations over a fake redis.c: the commands
 * each one sends (PROTOCOL.md §7's keys, expiries and scripts), what it
 * makes of each reply, and that a callback never runs inside the call.
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <hiredis/hiredis.h>

#include "server.h"
#include "unit.h"

#define MAXSENT	16

/* A command store.c sent: its words (a script as "LUA"), its script, and
 * where its reply goes. */
struct sent {
	char		 key[128];	/* the routing key */
	char		 words[512];
	char		 script[2048];
	redis_cb	 cb;
	void		*arg;
};

static struct sent	 sent[MAXSENT];
static size_t		 nsent;
static int		 up = 1;
static redis_msg_cb	 msg_cb;
static void		*msg_arg;
static uint8_t		 revoked_id[ID_LEN];
static uint64_t		 revoked_max;
static int		 nrevoked;
static struct server	 srv;
static char		 subs[8][128];
static size_t		 nsubs;
static uint8_t		 bus_got[64];
static size_t		 bus_len;

/* Append len bytes of p, after a space unless first, to s's words. */
static void
word(struct sent *s, const char *p, size_t len)
{
	size_t	 at = strlen(s->words);

	ck_assert_uint_lt(at + len + 2, sizeof s->words);
	if (at > 0)
		s->words[at++] = ' ';
	memcpy(s->words + at, p, len);
	s->words[at + len] = '\0';
}

/* Record one command from its RESP form. */
static void
record(char *resp, redis_cb cb, void *arg)
{
	struct sent	*s;
	char		*p = resp, *end;
	long		 n, len;

	ck_assert_uint_lt(nsent, MAXSENT);
	s = &sent[nsent++];
	memset(s, 0, sizeof *s);
	s->cb = cb;
	s->arg = arg;
	n = strtol(p + 1, &p, 10);
	for (p += 2; n-- > 0; p = end + 2) {
		len = strtol(p + 1, &p, 10);
		p += 2;
		end = p + len;
		if (memmem(p, (size_t)len, "redis.call", 10) != NULL) {
			ck_assert_uint_lt(len, sizeof s->script);
			memcpy(s->script, p, len);
			word(s, "LUA", 3);
		} else
			word(s, p, len);
	}
	free(resp);
}

/* The fake backend: remembers the message callback. */
static void *
f_open(struct server *sv, redis_msg_cb cb, void *arg, char **cause)
{
	msg_cb = cb;
	msg_arg = arg;
	return (&up);
}

/* Nothing to free. */
static void
f_close(void *rd)
{
}

/* Up unless a test says otherwise. */
static int
f_up(void *rd)
{
	return (up);
}

/* A fixed wait. */
static uint32_t
f_retry_after(void *rd)
{
	return (5);
}

/* Record a command, and the key it is routed by. */
static int
f_cmd(void *rd, const char *key, redis_cb cb, void *arg, int argc,
    const char **argv, const size_t *argvlen)
{
	char	*resp;

	if (!up)
		return (-1);
	ck_assert_int_gt(redisFormatCommandArgv(&resp, argc, argv, argvlen),
	    0);
	record(resp, cb, arg);
	snprintf(sent[nsent - 1].key, sizeof sent[nsent - 1].key, "%s", key);
	return (0);
}

/* Record a subscription ("+name") or its end ("-name"). */
static void
f_subscribe(void *rd, const char *channel)
{
	snprintf(subs[nsubs++ % 8], sizeof subs[0], "+%s", channel);
}

/* As f_subscribe. */
static void
f_unsubscribe(void *rd, const char *channel)
{
	snprintf(subs[nsubs++ % 8], sizeof subs[0], "-%s", channel);
}

/* A fixed count. */
static size_t
f_subscriptions(void *rd)
{
	return (7);
}

const struct redis_ops redis_ops = {
	"redis", "PUBLISH", f_open, f_close, f_up, f_retry_after, f_cmd,
	f_subscribe, f_unsubscribe, f_subscriptions,
};
const struct redis_ops cluster_ops = {
	"cluster", "SPUBLISH", f_open, f_close, f_up, f_retry_after, f_cmd,
	f_subscribe, f_unsubscribe, f_subscriptions,
};

/* What another node's sealed message was. */
void
bus_receive(struct server *sv, const uint8_t *p, size_t len)
{
	ck_assert_uint_lt(len, sizeof bus_got);
	memcpy(bus_got, p, len);
	bus_len = len;
}

/* What tryst:revoke asked this node to close. */
void
auth_revoke_local(struct server *sv, const uint8_t id[ID_LEN],
    uint64_t max_created)
{
	memcpy(revoked_id, id, ID_LEN);
	revoked_max = max_created;
	nrevoked++;
}

/* What a callback got. */
struct got {
	int			 calls;
	struct store_result	 res;
	size_t			 n;		/* IDs a lookup asked */
	uint8_t			 exists[8];
};

/* A done callback: keep the result (exists is valid only now). */
static void
done(struct server *sv, const struct store_result *res, void *arg)
{
	struct got	*g = arg;

	ck_assert_ptr_eq(sv, &srv);
	g->calls++;
	g->res = *res;
	if (res->exists != NULL)
		memcpy(g->exists, res->exists, g->n);
}

/* Hand reply (NULL: Redis went away) to command i; free it. */
static void
answer(size_t i, redisReply *reply)
{
	ck_assert_ptr_nonnull(sent[i].cb);
	sent[i].cb(reply, sent[i].arg);
	if (reply != NULL)
		freeReplyObject(reply);
}

static struct store	*st;
static uint8_t		 id[ID_LEN], nonce[TOKEN_NONCE];
static char		 hex[2 * ID_LEN + 1], nhex[2 * TOKEN_NONCE + 1];

/* A store over the fake, with nothing sent yet. */
static void
setup(void)
{
	char	*cause = NULL;
	size_t	 i;

	up = 1;
	nsent = 0;
	nsubs = 0;
	nrevoked = 0;
	bus_len = 0;
	srv.set.redis = "127.0.0.1:6379";
	srv.set.node_name = "n1";
	for (i = 0; i < ID_LEN; i++)
		id[i] = (uint8_t)(0xa0 + i);
	for (i = 0; i < TOKEN_NONCE; i++)
		nonce[i] = (uint8_t)(0x10 + i);
	hex_encode(hex, id, ID_LEN);
	hex_encode(nhex, nonce, TOKEN_NONCE);
	st = store_new(&srv, &cause);
	ck_assert_ptr_nonnull(st);
}

/* Free the store. */
static void
teardown(void)
{
	store_free(st);
}

/* Command i is words (with %s for the ID's hex), routed by its first key
 * (the second word, or the fourth of an EVAL), its reply going to a
 * callback only when last is set. */
static void
expect(size_t i, const char *words, int last)
{
	char		 want[512], key[128];
	const char	*p = sent[i].words;
	int		 skip;

	ck_assert_uint_lt(i, nsent);
	snprintf(want, sizeof want, words, hex, hex);
	ck_assert_str_eq(sent[i].words, want);
	for (skip = strncmp(p, "EVAL ", 5) == 0 ? 3 : 1; skip > 0; skip--)
		p = strchr(p, ' ') + 1;
	snprintf(key, sizeof key, "%.*s", (int)strcspn(p, " "), p);
	ck_assert_str_eq(sent[i].key, key);
	if (last)
		ck_assert_ptr_nonnull(sent[i].cb);
	else
		ck_assert_ptr_null(sent[i].cb);
}

START_TEST(test_code_request)
{
	struct got	 g = { 0 };

	ck_assert_int_eq(store_code_request(st, id, 480000, 1728003600, 20000,
	    done, &g), 0);
	ck_assert_int_eq(g.calls, 0);
	ck_assert_uint_eq(nsent, 1);
	expect(0, "EVAL LUA 2 rl:code:{%s}:480000 rl:codefail:{%s}:20000 "
	    "1728003600", 1);
	ck_assert_ptr_nonnull(strstr(sent[0].script, "EXPIREAT"));
	answer(0, unit_reply_arr(2, unit_reply_int(4), unit_reply_int(7)));
	ck_assert_int_eq(g.calls, 1);
	ck_assert_int_eq(g.res.ok, 1);
	ck_assert_int_eq(g.res.v[0], 4);
	ck_assert_int_eq(g.res.v[1], 7);

	/* An error reply is unavailable. */
	memset(&g, 0, sizeof g);
	ck_assert_int_eq(store_code_request(st, id, 1, 2, 3, done, &g), 0);
	answer(1, unit_reply_arr(2, unit_reply_int(1), unit_reply_int(0)));
	ck_assert_int_eq(g.res.ok, 1);
	ck_assert_int_eq(g.res.v[1], 0);
	ck_assert_int_eq(store_code_request(st, id, 1, 2, 3, done, &g), 0);
	answer(2, unit_reply_text(REDIS_REPLY_ERROR, "CLUSTERDOWN"));
	ck_assert_int_eq(g.calls, 2);
	ck_assert_int_eq(g.res.ok, 0);
}
END_TEST

START_TEST(test_code_attempt)
{
	struct got	 g = { 0 };
	char		 want[512];

	ck_assert_int_eq(store_code_attempt(st, nonce, 1728000601, id, 20000,
	    1728086400, 5, 20, 1, done, &g), 0);
	ck_assert_int_eq(g.calls, 0);
	ck_assert_uint_eq(nsent, 1);
	snprintf(want, sizeof want, "EVAL LUA 2 vt:{%s}:%s rl:codefail:{%s}:"
	    "20000 1728000601 1728086400 5 20 1", hex, nhex, hex);
	ck_assert_str_eq(sent[0].words, want);
	/* Both keys in one slot, or a cluster answers CROSSSLOT (the
	 * token's key once had no tag). */
	snprintf(want, sizeof want, "vt:{%s}:%s", hex, nhex);
	ck_assert_str_eq(sent[0].key, want);
	snprintf(want, sizeof want, "rl:codefail:{%s}:20000", hex);
	ck_assert_uint_eq(slot_of(sent[0].key, strlen(sent[0].key)),
	    slot_of(want, strlen(want)));
	ck_assert_ptr_nonnull(strstr(sent[0].script,
	    "redis.call('INCR', KEYS[2])"));
	answer(0, unit_reply_arr(2, unit_reply_int(3), unit_reply_int(19)));
	ck_assert_int_eq(g.res.ok, 1);
	ck_assert_int_eq(g.res.v[0], 3);
	ck_assert_int_eq(g.res.v[1], 19);

	ck_assert_int_eq(store_code_attempt(st, nonce, 1, id, 2, 3, 5, 20, 0,
	    done, &g), 0);
	ck_assert_ptr_nonnull(strstr(sent[1].words, " 5 20 0"));
	answer(1, unit_reply_text(REDIS_REPLY_ERROR, "NOSCRIPT"));
	ck_assert_int_eq(g.calls, 2);
	ck_assert_int_eq(g.res.ok, 0);
}
END_TEST

START_TEST(test_token_use)
{
	struct got	 g = { 0 };
	char		 want[256];

	ck_assert_int_eq(store_token_use(st, id, nonce, done, &g), 0);
	snprintf(want, sizeof want, "SET vt:{%s}:%s 1000000 KEEPTTL GET", hex,
	    nhex);
	ck_assert_str_eq(sent[0].words, want);
	answer(0, unit_reply_str("2"));
	ck_assert_int_eq(g.res.ok, 1);
	ck_assert_int_eq(g.res.v[0], 0);
	ck_assert_int_eq(store_token_use(st, id, nonce, done, &g), 0);
	answer(1, unit_reply_str("1000000"));
	ck_assert_int_eq(g.res.ok, 1);
	ck_assert_int_eq(g.res.v[0], 1);
	ck_assert_int_eq(store_token_use(st, id, nonce, done, &g), 0);
	answer(2, unit_reply(REDIS_REPLY_NIL));
	ck_assert_int_eq(g.res.ok, 1);
	ck_assert_int_eq(g.res.v[0], 0);
	ck_assert_int_eq(store_token_use(st, id, nonce, done, &g), 0);
	answer(3, unit_reply_text(REDIS_REPLY_ERROR, "NOPERM"));
	ck_assert_int_eq(g.res.ok, 0);
	ck_assert_int_eq(g.calls, 4);
}
END_TEST

START_TEST(test_account_get)
{
	struct got	 g = { 0 };

	ck_assert_int_eq(store_account_get(st, id, done, &g), 0);
	expect(0, "HMGET acct:{%s} created seen", 1);
	answer(0, unit_reply_arr(2, unit_reply_str("1727999000"),
	    unit_reply_str("1727913600")));
	ck_assert_int_eq(g.res.ok, 1);
	ck_assert_int_eq(g.res.v[0], 1727999000);
	ck_assert_int_eq(g.res.v[1], 1727913600);
	ck_assert_int_eq(store_account_get(st, id, done, &g), 0);
	answer(1, unit_reply_arr(2, unit_reply(REDIS_REPLY_NIL),
	    unit_reply(REDIS_REPLY_NIL)));
	ck_assert_int_eq(g.res.ok, 1);
	ck_assert_int_eq(g.res.v[0], 0);
	ck_assert_int_eq(g.res.v[1], 0);
	ck_assert_int_eq(store_account_get(st, id, done, &g), 0);
	answer(2, unit_reply_text(REDIS_REPLY_ERROR, "LOADING"));
	ck_assert_int_eq(g.res.ok, 0);
}
END_TEST

START_TEST(test_account_put)
{
	struct got	 g = { 0 };

	ck_assert_int_eq(store_account_put(st, id, 1728000000, 1727913600,
	    1738281600, done, &g), 0);
	ck_assert_int_eq(g.calls, 0);
	ck_assert_uint_eq(nsent, 1);
	/* One script: the account and the revocation on the ID's channel,
	 * which shares its slot. */
	expect(0, "EVAL LUA 1 acct:{%s} 1728000000 1727913600 1738281600 "
	    "PUBLISH tryst:id:{%s} R1727999999", 1);
	ck_assert_ptr_nonnull(strstr(sent[0].script, "redis.call(ARGV[4], "
	    "ARGV[5], ARGV[6])"));
	answer(0, unit_reply_int(1));
	ck_assert_int_eq(g.res.ok, 1);
	ck_assert_int_eq(store_account_put(st, id, 2, 1, 3, done, &g), 0);
	answer(1, unit_reply(REDIS_REPLY_NIL));
	ck_assert_int_eq(g.res.ok, 0);
	ck_assert_int_eq(g.calls, 2);
}
END_TEST

START_TEST(test_account_seen)
{
	ck_assert_int_eq(store_account_seen(st, id, 1728000000, 1738368000),
	    0);
	expect(0, "EVAL LUA 1 acct:{%s} 1728000000 1738368000", 0);
	ck_assert_ptr_nonnull(strstr(sent[0].script, "HSET"));
}
END_TEST

START_TEST(test_account_delete)
{
	struct got	 g = { 0 };

	ck_assert_int_eq(store_account_delete(st, id, 1728000000, done, &g),
	    0);
	expect(0, "EVAL LUA 1 acct:{%s} 1728000000 PUBLISH tryst:id:{%s} "
	    "R1728000000", 1);
	ck_assert_str_eq(sent[0].script, keyspace_delete_lua);
	answer(0, unit_reply_int(1));
	ck_assert_int_eq(g.res.ok, 1);
	ck_assert_int_eq(g.res.v[0], 1);
	ck_assert_int_eq(store_account_delete(st, id, 5, done, &g), 0);
	answer(1, unit_reply_int(0));
	ck_assert_int_eq(g.res.ok, 1);
	ck_assert_int_eq(g.res.v[0], 0);
	ck_assert_int_eq(store_account_delete(st, id, 5, done, &g), 0);
	answer(2, unit_reply_str("1"));
	ck_assert_int_eq(g.res.ok, 0);
}
END_TEST

START_TEST(test_discovery_charge)
{
	struct got	 g = { 0 };

	ck_assert_int_eq(store_discovery_charge(st, id, 1024, 256, 20000, 16,
	    done, &g), 0);
	expect(0, "EVAL LUA 1 rl:disc:{%s} 1024 256 20000 16", 1);
	ck_assert_ptr_nonnull(strstr(sent[0].script, "EXPIREAT"));
	answer(0, unit_reply_arr(2, unit_reply_int(1), unit_reply_int(1008)));
	ck_assert_int_eq(g.res.ok, 1);
	ck_assert_int_eq(g.res.v[0], 1);
	ck_assert_int_eq(g.res.v[1], 1008);
	ck_assert_int_eq(store_discovery_charge(st, id, 1024, 256, 20000, 900,
	    done, &g), 0);
	answer(1, unit_reply_arr(2, unit_reply_int(0), unit_reply_int(7)));
	ck_assert_int_eq(g.res.ok, 1);
	ck_assert_int_eq(g.res.v[0], 0);
	ck_assert_int_eq(g.res.v[1], 7);
	ck_assert_int_eq(store_discovery_charge(st, id, 1, 1, 1, 1, done, &g),
	    0);
	answer(2, unit_reply_arr(2, unit_reply_str("1"), unit_reply_int(7)));
	ck_assert_int_eq(g.res.ok, 0);
	ck_assert_int_eq(g.calls, 3);
}
END_TEST

/* The relay's daily count: a GET at RELAY_JOIN (nil is 0), an INCRBY
 * with the day's end as expiry, and one sent without an answer. */
START_TEST(test_relay_budget)
{
	struct got	 g = { 0 };

	ck_assert_int_eq(store_relay_spent(st, id, 20000, done, &g), 0);
	expect(0, "GET rl:relay:{%s}:20000", 1);
	answer(0, unit_reply(REDIS_REPLY_NIL));
	ck_assert_int_eq(g.res.ok, 1);
	ck_assert_int_eq(g.res.v[0], 0);
	ck_assert_int_eq(store_relay_spent(st, id, 20000, done, &g), 0);
	answer(1, unit_reply_str("3145728"));
	ck_assert_int_eq(g.res.ok, 1);
	ck_assert_int_eq(g.res.v[0], 3145728);
	ck_assert_int_eq(store_relay_spent(st, id, 20000, done, &g), 0);
	answer(2, unit_reply_text(REDIS_REPLY_ERROR, "NOPERM"));
	ck_assert_int_eq(g.res.ok, 0);
	ck_assert_int_eq(store_relay_charge(st, id, 20000, 1048576, done, &g),
	    0);
	/* 20001 x 86400: the end of day 20000. */
	expect(3, "EVAL LUA 1 rl:relay:{%s}:20000 1048576 1728086400", 1);
	ck_assert_ptr_nonnull(strstr(sent[3].script, "INCRBY"));
	ck_assert_ptr_nonnull(strstr(sent[3].script, "EXPIREAT"));
	answer(3, unit_reply_int(4194304));
	ck_assert_int_eq(g.res.ok, 1);
	ck_assert_int_eq(g.res.v[0], 4194304);
	ck_assert_int_eq(store_relay_charge(st, id, 20000, 5, NULL, NULL), 0);
	expect(4, "EVAL LUA 1 rl:relay:{%s}:20000 5 1728086400", 0);
	ck_assert_int_eq(g.calls, 4);
	up = 0;
	ck_assert_int_eq(store_relay_spent(st, id, 20000, done, &g), -1);
	ck_assert_int_eq(store_relay_charge(st, id, 20000, 5, NULL, NULL), -1);
	ck_assert_int_eq(g.calls, 4);
}
END_TEST

START_TEST(test_lookup)
{
	struct got	 g = { 0 };
	uint8_t		 ids[3 * ID_LEN];

	memcpy(ids, id, ID_LEN);
	memcpy(ids + ID_LEN, id, ID_LEN);
	memcpy(ids + 2 * ID_LEN, id, ID_LEN);
	ids[2 * ID_LEN] ^= 1;
	g.n = 3;
	/* One EXISTS an ID (each in its own slot); the answers go on once
	 * the last is in, in whatever order they come. */
	ck_assert_int_eq(store_lookup(st, ids, 3, done, &g), 0);
	ck_assert_uint_eq(nsent, 3);
	expect(0, "EXISTS acct:{%s}", 1);
	expect(1, "EXISTS acct:{%s}", 1);
	ck_assert_str_eq(sent[2].key, sent[2].words + 7);
	ck_assert_str_ne(sent[2].key, sent[0].key);
	answer(2, unit_reply_int(1));
	answer(0, unit_reply_int(1));
	ck_assert_int_eq(g.calls, 0);
	answer(1, unit_reply_int(0));
	ck_assert_int_eq(g.calls, 1);
	ck_assert_int_eq(g.res.ok, 1);
	ck_assert_int_eq(g.exists[0], 1);
	ck_assert_int_eq(g.exists[1], 0);
	ck_assert_int_eq(g.exists[2], 1);
	/* One that cannot come fails the whole, once. */
	ck_assert_int_eq(store_lookup(st, ids, 3, done, &g), 0);
	answer(3, unit_reply_int(1));
	answer(4, NULL);
	answer(5, unit_reply_int(1));
	ck_assert_int_eq(g.calls, 2);
	ck_assert_int_eq(g.res.ok, 0);
	ck_assert_ptr_null(g.res.exists);
}
END_TEST

/* Storage down: every operation refuses at once, sends nothing, and
 * never calls back. */
START_TEST(test_down)
{
	struct got	 g = { 0 };

	up = 0;
	ck_assert_int_eq(store_up(st), 0);
	ck_assert_int_eq(store_code_request(st, id, 1, 2, 3, done, &g), -1);
	ck_assert_int_eq(store_code_attempt(st, nonce, 1, id, 2, 3, 5, 20, 1,
	    done, &g), -1);
	ck_assert_int_eq(store_token_use(st, id, nonce, done, &g), -1);
	ck_assert_int_eq(store_account_get(st, id, done, &g), -1);
	ck_assert_int_eq(store_account_put(st, id, 2, 1, 3, done, &g), -1);
	ck_assert_int_eq(store_account_seen(st, id, 1, 2), -1);
	ck_assert_int_eq(store_account_delete(st, id, 2, done, &g), -1);
	ck_assert_int_eq(store_discovery_charge(st, id, 1, 1, 1, 1, done, &g),
	    -1);
	ck_assert_int_eq(store_lookup(st, id, 1, done, &g), -1);
	ck_assert_int_eq(store_publish_id(st, id, "x", 1, done, &g), -1);
	ck_assert_int_eq(store_publish_node(st, "n2", "x", 1, NULL, NULL), -1);
	ck_assert_uint_eq(nsent, 0);
	ck_assert_int_eq(g.calls, 0);
	ck_assert_uint_eq(store_retry_after(st), 5);
}
END_TEST

/* Redis went away with operations in flight: each gets ok 0, once. */
START_TEST(test_gone)
{
	struct got	 g[2] = { { 0 }, { 0 } };

	ck_assert_int_eq(store_account_get(st, id, done, &g[0]), 0);
	ck_assert_int_eq(store_lookup(st, id, 1, done, &g[1]), 0);
	answer(0, NULL);
	answer(1, NULL);
	ck_assert_int_eq(g[0].calls, 1);
	ck_assert_int_eq(g[0].res.ok, 0);
	ck_assert_int_eq(g[1].calls, 1);
	ck_assert_int_eq(g[1].res.ok, 0);
}
END_TEST

/* Revocations arrive on an ID's channel as "R" and a created, and close
 * that ID's connections of that created and older; "S" messages go to
 * bus.c; anything else is ignored. */
START_TEST(test_revoke)
{
	char	 chan[128];

	snprintf(chan, sizeof chan, "tryst:id:{%s}", hex);
	msg_cb(chan, strlen(chan), "R42", 3, msg_arg);
	ck_assert_int_eq(nrevoked, 1);
	ck_assert_int_eq(memcmp(revoked_id, id, ID_LEN), 0);
	ck_assert_uint_eq(revoked_max, 42);
	msg_cb(chan, strlen(chan), "R18446744073709551615", 21, msg_arg);
	ck_assert_int_eq(nrevoked, 2);
	ck_assert_uint_eq(revoked_max, UINT64_MAX);

	/* Not ours: ignored. */
	msg_cb(chan, strlen(chan), "R4x", 3, msg_arg);
	msg_cb(chan, strlen(chan), "R", 1, msg_arg);
	msg_cb(chan, strlen(chan), "R18446744073709551616", 21, msg_arg);
	msg_cb(chan, strlen(chan), "", 0, msg_arg);
	msg_cb(chan, strlen(chan) - 1, "R42", 3, msg_arg);
	msg_cb("tryst:node:{n1}", 15, "R42", 3, msg_arg);
	chan[10] = 'z';
	msg_cb(chan, strlen(chan), "R42", 3, msg_arg);
	ck_assert_int_eq(nrevoked, 2);
	ck_assert_uint_eq(bus_len, 0);

	msg_cb("tryst:node:{n1}", 15, "Sabc", 4, msg_arg);
	ck_assert_uint_eq(bus_len, 3);
	ck_assert_mem_eq(bus_got, "abc", 3);
}
END_TEST

/* The node listens on its own channel from the start; an ID's channel
 * while asked; publishing goes to either, with PUBLISH on a standalone
 * Redis and SPUBLISH on a cluster, and says how many nodes heard it. */
START_TEST(test_channels)
{
	struct got	 g = { 0 };
	char		 want[200];
	struct store	*cst;
	char		*cause = NULL;

	ck_assert_uint_eq(nsubs, 1);
	ck_assert_str_eq(subs[0], "+tryst:node:{n1}");
	store_subscribe(st, id);
	store_unsubscribe(st, id);
	snprintf(want, sizeof want, "+tryst:id:{%s}", hex);
	ck_assert_str_eq(subs[1], want);
	want[0] = '-';
	ck_assert_str_eq(subs[2], want);
	ck_assert_uint_eq(store_subscriptions(st), 7);

	ck_assert_int_eq(store_publish_id(st, id, "S\0x", 3, done, &g), 0);
	ck_assert_int_eq(store_publish_node(st, "n2", "Sy", 2, NULL, NULL), 0);
	expect(0, "PUBLISH tryst:id:{%s} S", 1);
	ck_assert_str_eq(sent[1].words, "PUBLISH tryst:node:{n2} Sy");
	ck_assert_str_eq(sent[1].key, "tryst:node:{n2}");
	ck_assert_ptr_null(sent[1].cb);
	answer(0, unit_reply_int(2));
	ck_assert_int_eq(g.res.ok, 1);
	ck_assert_int_eq(g.res.v[0], 2);

	srv.set.redis = "cluster:127.0.0.1:7000";
	cst = store_new(&srv, &cause);
	ck_assert_ptr_nonnull(cst);
	ck_assert_int_eq(store_account_delete(cst, id, 5, done, &g), 0);
	ck_assert_ptr_nonnull(strstr(sent[2].words, " SPUBLISH tryst:id:{"));
	store_free(cst);
}
END_TEST

/* Run the operations' tests. */
int
main(void)
{
	Suite	*s = suite_create("store");
	TCase	*tc = tcase_create("operations");

	tcase_add_checked_fixture(tc, setup, teardown);
	tcase_add_test(tc, test_code_request);
	tcase_add_test(tc, test_code_attempt);
	tcase_add_test(tc, test_token_use);
	tcase_add_test(tc, test_account_get);
	tcase_add_test(tc, test_account_put);
	tcase_add_test(tc, test_account_seen);
	tcase_add_test(tc, test_account_delete);
	tcase_add_test(tc, test_discovery_charge);
	tcase_add_test(tc, test_relay_budget);
	tcase_add_test(tc, test_lookup);
	tcase_add_test(tc, test_down);
	tcase_add_test(tc, test_gone);
	tcase_add_test(tc, test_revoke);
	tcase_add_test(tc, test_channels);
	suite_add_tcase(s, tc);
	return (unit_run(s));
}
