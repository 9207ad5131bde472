/*
 * test-store.c -- store.c's operations over a fake redis.c: the commands
 * each one sends (PROTOCOL.md §7's keys, expiries and scripts), what it
 * makes of each reply, and that a callback never runs inside the call.
 */
#include <stdarg.h>
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
		if (len > 100) {
			ck_assert_uint_lt(len, sizeof s->script);
			memcpy(s->script, p, len);
			word(s, "LUA", 3);
		} else
			word(s, p, len);
	}
	free(resp);
}

/* The fake redis.c: remembers the channel's callback. */
struct redis *
redis_new(struct server *sv, const char *channel, redis_msg_cb cb,
    void *arg, char **cause)
{
	ck_assert_str_eq(channel, "tryst:revoke");
	msg_cb = cb;
	msg_arg = arg;
	return ((struct redis *)&up);
}

/* Nothing to free. */
void
redis_free(struct redis *rd)
{
}

/* Up unless a test says otherwise. */
int
redis_up(struct redis *rd)
{
	return (up);
}

/* A fixed wait. */
uint32_t
redis_retry_after(struct redis *rd)
{
	return (5);
}

/* Record a command in argv form. */
int
redis_cmd(struct redis *rd, redis_cb cb, void *arg, int argc,
    const char **argv, const size_t *argvlen)
{
	char	*resp;

	if (!up)
		return (-1);
	ck_assert_int_gt(redisFormatCommandArgv(&resp, argc, argv, argvlen),
	    0);
	record(resp, cb, arg);
	return (0);
}

/* Record a command in hiredis's printf-like form. */
int
redis_cmdf(struct redis *rd, redis_cb cb, void *arg, const char *fmt, ...)
{
	va_list	 ap;
	char	*resp;
	int	 rv;

	if (!up)
		return (-1);
	va_start(ap, fmt);
	rv = redisvFormatCommand(&resp, fmt, ap);
	va_end(ap);
	ck_assert_int_gt(rv, 0);
	record(resp, cb, arg);
	return (0);
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

/* An empty reply of a type, as hiredis would make it. */
static redisReply *
r_empty(int type)
{
	redisReply	*r = calloc(1, sizeof *r);

	r->type = type;
	return (r);
}

/* An integer reply. */
static redisReply *
r_int(long long v)
{
	redisReply	*r = r_empty(REDIS_REPLY_INTEGER);

	r->integer = v;
	return (r);
}

/* A string (or status, or error) reply. */
static redisReply *
r_str(int type, const char *s)
{
	redisReply	*r = r_empty(type);

	r->str = strdup(s);
	r->len = strlen(s);
	return (r);
}

/* An array of n replies. */
static redisReply *
r_arr(size_t n, ...)
{
	redisReply	*r = r_empty(REDIS_REPLY_ARRAY);
	va_list		 ap;
	size_t		 i;

	r->elements = n;
	r->element = calloc(n + 1, sizeof *r->element);
	va_start(ap, n);
	for (i = 0; i < n; i++)
		r->element[i] = va_arg(ap, redisReply *);
	va_end(ap);
	return (r);
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
	nrevoked = 0;
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

/* Command i is words (with %s for the ID's hex), its reply going to a
 * callback only when last is set. */
static void
expect(size_t i, const char *words, int last)
{
	char	 want[512];

	ck_assert_uint_lt(i, nsent);
	snprintf(want, sizeof want, words, hex, hex);
	ck_assert_str_eq(sent[i].words, want);
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
	ck_assert_uint_eq(nsent, 5);
	expect(0, "MULTI", 0);
	expect(1, "INCR rl:code:{%s}:480000", 0);
	expect(2, "EXPIREAT rl:code:{%s}:480000 1728003600", 0);
	expect(3, "GET rl:codefail:{%s}:20000", 0);
	expect(4, "EXEC", 1);
	answer(4, r_arr(3, r_int(4), r_int(1), r_str(REDIS_REPLY_STRING, "7")));
	ck_assert_int_eq(g.calls, 1);
	ck_assert_int_eq(g.res.ok, 1);
	ck_assert_int_eq(g.res.v[0], 4);
	ck_assert_int_eq(g.res.v[1], 7);

	/* No wrong codes yet: nil is 0. An aborted EXEC is unavailable. */
	memset(&g, 0, sizeof g);
	ck_assert_int_eq(store_code_request(st, id, 1, 2, 3, done, &g), 0);
	answer(9, r_arr(3, r_int(1), r_int(1), r_empty(REDIS_REPLY_NIL)));
	ck_assert_int_eq(g.res.ok, 1);
	ck_assert_int_eq(g.res.v[1], 0);
	ck_assert_int_eq(store_code_request(st, id, 1, 2, 3, done, &g), 0);
	answer(14, r_empty(REDIS_REPLY_NIL));
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
	snprintf(want, sizeof want, "EVAL LUA 2 vt:%s rl:codefail:{%s}:20000 "
	    "1728000601 1728086400 5 20 1", nhex, hex);
	ck_assert_str_eq(sent[0].words, want);
	ck_assert_ptr_nonnull(strstr(sent[0].script,
	    "redis.call('INCR', KEYS[2])"));
	answer(0, r_arr(2, r_int(3), r_int(19)));
	ck_assert_int_eq(g.res.ok, 1);
	ck_assert_int_eq(g.res.v[0], 3);
	ck_assert_int_eq(g.res.v[1], 19);

	ck_assert_int_eq(store_code_attempt(st, nonce, 1, id, 2, 3, 5, 20, 0,
	    done, &g), 0);
	ck_assert_ptr_nonnull(strstr(sent[1].words, " 5 20 0"));
	answer(1, r_str(REDIS_REPLY_ERROR, "NOSCRIPT"));
	ck_assert_int_eq(g.calls, 2);
	ck_assert_int_eq(g.res.ok, 0);
}
END_TEST

START_TEST(test_token_use)
{
	struct got	 g = { 0 };
	char		 want[128];

	ck_assert_int_eq(store_token_use(st, nonce, done, &g), 0);
	snprintf(want, sizeof want, "SET vt:%s 1000000 KEEPTTL GET", nhex);
	ck_assert_str_eq(sent[0].words, want);
	answer(0, r_str(REDIS_REPLY_STRING, "2"));
	ck_assert_int_eq(g.res.ok, 1);
	ck_assert_int_eq(g.res.v[0], 0);
	ck_assert_int_eq(store_token_use(st, nonce, done, &g), 0);
	answer(1, r_str(REDIS_REPLY_STRING, "1000000"));
	ck_assert_int_eq(g.res.ok, 1);
	ck_assert_int_eq(g.res.v[0], 1);
	ck_assert_int_eq(store_token_use(st, nonce, done, &g), 0);
	answer(2, r_empty(REDIS_REPLY_NIL));
	ck_assert_int_eq(g.res.ok, 1);
	ck_assert_int_eq(g.res.v[0], 0);
	ck_assert_int_eq(store_token_use(st, nonce, done, &g), 0);
	answer(3, r_str(REDIS_REPLY_ERROR, "NOPERM"));
	ck_assert_int_eq(g.res.ok, 0);
	ck_assert_int_eq(g.calls, 4);
}
END_TEST

START_TEST(test_account_get)
{
	struct got	 g = { 0 };

	ck_assert_int_eq(store_account_get(st, id, done, &g), 0);
	expect(0, "HMGET acct:{%s} created seen", 1);
	answer(0, r_arr(2, r_str(REDIS_REPLY_STRING, "1727999000"),
	    r_str(REDIS_REPLY_STRING, "1727913600")));
	ck_assert_int_eq(g.res.ok, 1);
	ck_assert_int_eq(g.res.v[0], 1727999000);
	ck_assert_int_eq(g.res.v[1], 1727913600);
	ck_assert_int_eq(store_account_get(st, id, done, &g), 0);
	answer(1, r_arr(2, r_empty(REDIS_REPLY_NIL), r_empty(REDIS_REPLY_NIL)));
	ck_assert_int_eq(g.res.ok, 1);
	ck_assert_int_eq(g.res.v[0], 0);
	ck_assert_int_eq(g.res.v[1], 0);
	ck_assert_int_eq(store_account_get(st, id, done, &g), 0);
	answer(2, r_str(REDIS_REPLY_ERROR, "LOADING"));
	ck_assert_int_eq(g.res.ok, 0);
}
END_TEST

START_TEST(test_account_put)
{
	struct got	 g = { 0 };
	char		 want[256];

	ck_assert_int_eq(store_account_put(st, id, 1728000000, 1727913600,
	    1738281600, done, &g), 0);
	ck_assert_int_eq(g.calls, 0);
	ck_assert_uint_eq(nsent, 5);
	expect(0, "MULTI", 0);
	expect(1, "HSET acct:{%s} created 1728000000 seen 1727913600", 0);
	expect(2, "EXPIREAT acct:{%s} 1738281600", 0);
	snprintf(want, sizeof want, "PUBLISH tryst:revoke %s:1727999999", hex);
	ck_assert_str_eq(sent[3].words, want);
	expect(4, "EXEC", 1);
	answer(4, r_arr(3, r_int(2), r_int(1), r_int(0)));
	ck_assert_int_eq(g.res.ok, 1);
	ck_assert_int_eq(store_account_put(st, id, 2, 1, 3, done, &g), 0);
	answer(9, r_empty(REDIS_REPLY_NIL));
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
	char		 want[256];

	ck_assert_int_eq(store_account_delete(st, id, 1728000000, done, &g),
	    0);
	snprintf(want, sizeof want, "EVAL LUA 1 acct:{%s} 1728000000 "
	    "%s:1728000000", hex, hex);
	ck_assert_str_eq(sent[0].words, want);
	ck_assert_str_eq(sent[0].script, keyspace_delete_lua);
	answer(0, r_int(1));
	ck_assert_int_eq(g.res.ok, 1);
	ck_assert_int_eq(g.res.v[0], 1);
	ck_assert_int_eq(store_account_delete(st, id, 5, done, &g), 0);
	answer(1, r_int(0));
	ck_assert_int_eq(g.res.ok, 1);
	ck_assert_int_eq(g.res.v[0], 0);
	ck_assert_int_eq(store_account_delete(st, id, 5, done, &g), 0);
	answer(2, r_str(REDIS_REPLY_STRING, "1"));
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
	answer(0, r_arr(2, r_int(1), r_int(1008)));
	ck_assert_int_eq(g.res.ok, 1);
	ck_assert_int_eq(g.res.v[0], 1);
	ck_assert_int_eq(g.res.v[1], 1008);
	ck_assert_int_eq(store_discovery_charge(st, id, 1024, 256, 20000, 900,
	    done, &g), 0);
	answer(1, r_arr(2, r_int(0), r_int(7)));
	ck_assert_int_eq(g.res.ok, 1);
	ck_assert_int_eq(g.res.v[0], 0);
	ck_assert_int_eq(g.res.v[1], 7);
	ck_assert_int_eq(store_discovery_charge(st, id, 1, 1, 1, 1, done, &g),
	    0);
	answer(2, r_arr(2, r_str(REDIS_REPLY_STRING, "1"), r_int(7)));
	ck_assert_int_eq(g.res.ok, 0);
	ck_assert_int_eq(g.calls, 3);
}
END_TEST

START_TEST(test_lookup)
{
	struct got	 g = { 0 };
	uint8_t		 ids[3 * ID_LEN];

	memcpy(ids, id, ID_LEN);
	memcpy(ids + ID_LEN, id, ID_LEN);
	memcpy(ids + 2 * ID_LEN, id, ID_LEN);
	g.n = 3;
	ck_assert_int_eq(store_lookup(st, ids, 3, done, &g), 0);
	ck_assert_uint_eq(nsent, 5);
	expect(0, "MULTI", 0);
	expect(1, "EXISTS acct:{%s}", 0);
	expect(3, "EXISTS acct:{%s}", 0);
	expect(4, "EXEC", 1);
	answer(4, r_arr(3, r_int(1), r_int(0), r_int(1)));
	ck_assert_int_eq(g.res.ok, 1);
	ck_assert_int_eq(g.exists[0], 1);
	ck_assert_int_eq(g.exists[1], 0);
	ck_assert_int_eq(g.exists[2], 1);
	ck_assert_int_eq(store_lookup(st, ids, 3, done, &g), 0);
	answer(9, r_arr(2, r_int(1), r_int(1)));
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
	ck_assert_int_eq(store_token_use(st, nonce, done, &g), -1);
	ck_assert_int_eq(store_account_get(st, id, done, &g), -1);
	ck_assert_int_eq(store_account_put(st, id, 2, 1, 3, done, &g), -1);
	ck_assert_int_eq(store_account_seen(st, id, 1, 2), -1);
	ck_assert_int_eq(store_account_delete(st, id, 2, done, &g), -1);
	ck_assert_int_eq(store_discovery_charge(st, id, 1, 1, 1, 1, done, &g),
	    -1);
	ck_assert_int_eq(store_lookup(st, id, 1, done, &g), -1);
	store_publish_revoke(st, id, 1);
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
	answer(3, NULL);
	ck_assert_int_eq(g[0].calls, 1);
	ck_assert_int_eq(g[0].res.ok, 0);
	ck_assert_int_eq(g[1].calls, 1);
	ck_assert_int_eq(g[1].res.ok, 0);
}
END_TEST

/* tryst:revoke: what is published is what revokes on every node. */
START_TEST(test_revoke)
{
	char	 msg[128];

	store_publish_revoke(st, id, 42);
	snprintf(msg, sizeof msg, "PUBLISH tryst:revoke %s:42", hex);
	ck_assert_str_eq(sent[0].words, msg);
	snprintf(msg, sizeof msg, "%s:42", hex);
	msg_cb(msg, strlen(msg), msg_arg);
	ck_assert_int_eq(nrevoked, 1);
	ck_assert_int_eq(memcmp(revoked_id, id, ID_LEN), 0);
	ck_assert_uint_eq(revoked_max, 42);
	msg_cb(hex, strlen(hex), msg_arg);
	ck_assert_int_eq(nrevoked, 2);
	ck_assert_uint_eq(revoked_max, UINT64_MAX);

	/* Not ours: ignored. */
	snprintf(msg, sizeof msg, "%s:4x", hex);
	msg_cb(msg, strlen(msg), msg_arg);
	snprintf(msg, sizeof msg, "%s;42", hex);
	msg_cb(msg, strlen(msg), msg_arg);
	msg_cb(hex, strlen(hex) - 1, msg_arg);
	msg[0] = 'z';
	msg_cb(msg, 2 * ID_LEN, msg_arg);
	ck_assert_int_eq(nrevoked, 2);
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
	tcase_add_test(tc, test_lookup);
	tcase_add_test(tc, test_down);
	tcase_add_test(tc, test_gone);
	tcase_add_test(tc, test_revoke);
	suite_add_tcase(s, tc);
	return (unit_run(s));
}
