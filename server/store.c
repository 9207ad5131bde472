/*
 * store.c -- the data layer: typed operations over Redis (redis.c).
 *
 * The only code that knows what trystd keeps in Redis (PROTOCOL.md §7):
 * the key names (with keyspace.c, which trystctl shares), the Lua
 * scripts, the MULTI/EXEC blocks and what each reply means. Handlers see
 * a struct store_result and nothing else.
 *
 * Every operation either returns -1 before anything is sent (Redis is
 * not usable now; its callback is never called) or sends and returns 0;
 * its callback then runs once, from redis.c's reply callback, which
 * hiredis never runs from inside a send.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "server.h"

#define USED		1000000		/* vt: value of a used token */
#define REVOKE_CHANNEL	"tryst:revoke"

struct store {
	struct server	*srv;
	struct redis	*rd;
};

struct op;
/* Read a reply into res's figures: 0, or -1 if it is not one the
 * operation can give. */
typedef int (*parse_fn)(const redisReply *, struct op *,
	    struct store_result *);

/* One operation waiting for its reply. */
struct op {
	struct store	*st;
	parse_fn	 parse;
	store_done	 done;
	void		*arg;
	size_t		 n;		/* store_lookup: IDs asked */
	uint8_t		*exists;	/* store_lookup: n answers */
};

/*
 * KEYS[1] the token's attempts, KEYS[2] the number's wrong codes today;
 * ARGV their expiries, code_attempts, code_failures_per_day, and 1 if the
 * code is wrong. Counts the attempt, and a wrong one against the day
 * unless the token or the day is spent, in one step, so that concurrent
 * tries can never pass the check together. Returns {attempts, wrong codes
 * before this one}.
 */
static const char attempt_lua[] =
	"local n = redis.call('INCR', KEYS[1]) "
	"redis.call('EXPIREAT', KEYS[1], ARGV[1]) "
	"local f = tonumber(redis.call('GET', KEYS[2]) or '0') "
	"if n <= tonumber(ARGV[3]) and f < tonumber(ARGV[4]) and "
	"    ARGV[5] == '1' then "
	"  redis.call('INCR', KEYS[2]) "
	"  redis.call('EXPIREAT', KEYS[2], ARGV[2]) "
	"end "
	"return {n, f}";

/* KEYS[1] the account; ARGV today, expiry. Writes seen only into an
 * account that still exists and has not been seen today, so that one
 * account is written at most once a day however many connections and
 * nodes it has, and a deleted account never comes back as a lone seen. */
static const char seen_lua[] =
	"local a = redis.call('HMGET', KEYS[1], 'created', 'seen') "
	"if not a[1] or (a[2] and tonumber(a[2]) >= tonumber(ARGV[1])) then "
	"  return 0 "
	"end "
	"redis.call('HSET', KEYS[1], 'seen', ARGV[1]) "
	"redis.call('EXPIREAT', KEYS[1], ARGV[2]) "
	"return 1";

/* KEYS[1] bucket; ARGV full, refill, today, count. Returns {1, left} or
 * {0, tokens}. The key expires when the bucket would be full again. */
static const char bucket_lua[] =
	"local full, refill = tonumber(ARGV[1]), tonumber(ARGV[2]) "
	"local today, count = tonumber(ARGV[3]), tonumber(ARGV[4]) "
	"local t = redis.call('HMGET', KEYS[1], 'tokens', 'day') "
	"local tokens = full "
	"if t[1] then "
	"  tokens = math.min(full, tonumber(t[1]) + "
	"    math.max(0, today - tonumber(t[2])) * refill) "
	"end "
	"if count > tokens then return {0, tokens} end "
	"tokens = tokens - count "
	"if tokens >= full then redis.call('DEL', KEYS[1]) return {1, tokens} end "
	"redis.call('HSET', KEYS[1], 'tokens', tokens, 'day', today) "
	"redis.call('EXPIREAT', KEYS[1], "
	"  (today + math.ceil((full - tokens) / refill)) * 86400) "
	"return {1, tokens}";

/* ---- replies ---------------------------------------------------------- */

/* The integer value of a reply (a string or integer; nil is 0), or -1. */
static long long
reply_int(const redisReply *r)
{
	if (r->type == REDIS_REPLY_INTEGER)
		return (r->integer);
	if (r->type == REDIS_REPLY_STRING)
		return (strtoll(r->str, NULL, 10));
	if (r->type == REDIS_REPLY_NIL)
		return (0);
	return (-1);
}

/* 1 if r is an array of n replies (an EXEC's, a script's). */
static int
is_array(const redisReply *r, size_t n)
{
	return (r->type == REDIS_REPLY_ARRAY && r->elements == n);
}

/* MULTI, INCR, EXPIREAT, GET, EXEC: {requests, _, wrong codes}. */
static int
parse_code_request(const redisReply *r, struct op *op,
    struct store_result *res)
{
	if (!is_array(r, 3))
		return (-1);
	res->v[0] = reply_int(r->element[0]);
	res->v[1] = reply_int(r->element[2]);
	return (0);
}

/* attempt_lua: {attempts, wrong codes before}. */
static int
parse_code_attempt(const redisReply *r, struct op *op,
    struct store_result *res)
{
	if (!is_array(r, 2))
		return (-1);
	res->v[0] = reply_int(r->element[0]);
	res->v[1] = reply_int(r->element[1]);
	return (0);
}

/* SET ... GET: the old value, USED if the token was used. */
static int
parse_token_use(const redisReply *r, struct op *op,
    struct store_result *res)
{
	if (r->type == REDIS_REPLY_ERROR)
		return (-1);
	res->v[0] = reply_int(r) >= USED;
	return (0);
}

/* HMGET created seen: nil (no account) is 0. */
static int
parse_account_get(const redisReply *r, struct op *op,
    struct store_result *res)
{
	if (!is_array(r, 2))
		return (-1);
	if (r->element[0]->type == REDIS_REPLY_STRING)
		res->v[0] = (long long)strtoull(r->element[0]->str, NULL, 10);
	if (r->element[1]->type == REDIS_REPLY_STRING)
		res->v[1] = strtoll(r->element[1]->str, NULL, 10);
	return (0);
}

/* MULTI, HSET, EXPIREAT, PUBLISH, EXEC: three replies. */
static int
parse_account_put(const redisReply *r, struct op *op,
    struct store_result *res)
{
	return (is_array(r, 3) ? 0 : -1);
}

/* keyspace_delete_lua: 1 deleted, 0 another registration. */
static int
parse_account_delete(const redisReply *r, struct op *op,
    struct store_result *res)
{
	if (r->type != REDIS_REPLY_INTEGER)
		return (-1);
	res->v[0] = r->integer;
	return (0);
}

/* bucket_lua: {taken, tokens}. */
static int
parse_discovery(const redisReply *r, struct op *op,
    struct store_result *res)
{
	if (!is_array(r, 2) || r->element[0]->type != REDIS_REPLY_INTEGER)
		return (-1);
	res->v[0] = r->element[0]->integer;
	if (r->element[1]->type == REDIS_REPLY_INTEGER)
		res->v[1] = r->element[1]->integer;
	return (0);
}

/* MULTI, n EXISTS, EXEC: one answer an ID. */
static int
parse_lookup(const redisReply *r, struct op *op, struct store_result *res)
{
	size_t	 i;

	if (!is_array(r, op->n))
		return (-1);
	for (i = 0; i < op->n; i++)
		op->exists[i] = r->element[i]->type == REDIS_REPLY_INTEGER &&
		    r->element[i]->integer == 1;
	res->exists = op->exists;
	return (0);
}

/* ---- operations ------------------------------------------------------- */

/* An operation whose reply goes to done. */
static struct op *
op_new(struct store *st, parse_fn parse, store_done done, void *arg)
{
	struct op	*op = xcalloc(1, sizeof *op);

	op->st = st;
	op->parse = parse;
	op->done = done;
	op->arg = arg;
	return (op);
}

/* Forget an operation. */
static void
op_free(struct op *op)
{
	free(op->exists);
	free(op);
}

/* redis.c's callback: parse the reply (NULL: Redis went away) and hand
 * the result on. */
static void
op_reply(struct redisReply *reply, void *arg)
{
	struct op		*op = arg;
	struct store_result	 res;

	memset(&res, 0, sizeof res);
	if (reply != NULL && op->parse(reply, op, &res) == 0)
		res.ok = 1;
	else
		memset(&res, 0, sizeof res);
	op->done(op->st->srv, &res, op->arg);
	op_free(op);
}

/* The result rv of sending op's last command: 0, or -1 with op freed. */
static int
op_sent(struct op *op, int rv)
{
	if (rv == 0)
		return (0);
	op_free(op);
	return (-1);
}

/* Send EXEC, whose reply goes to op. */
static int
exec_op(struct store *st, struct op *op)
{
	return (op_sent(op, redis_cmdf(st->rd, op_reply, op, "EXEC")));
}

/* Count a code request of id in its hour; read its wrong codes of day. */
int
store_code_request(struct store *st, const uint8_t id[ID_LEN],
    uint64_t hour, uint64_t hour_end, uint64_t day, store_done done,
    void *arg)
{
	char		 hex[2 * ID_LEN + 1];
	unsigned long long h = hour;

	if (!redis_up(st->rd))
		return (-1);
	hex_encode(hex, id, ID_LEN);
	redis_cmdf(st->rd, NULL, NULL, "MULTI");
	redis_cmdf(st->rd, NULL, NULL, "INCR rl:code:{%s}:%llu", hex, h);
	redis_cmdf(st->rd, NULL, NULL, "EXPIREAT rl:code:{%s}:%llu %llu",
	    hex, h, (unsigned long long)hour_end);
	redis_cmdf(st->rd, NULL, NULL, "GET rl:codefail:{%s}:%llu", hex,
	    (unsigned long long)day);
	return (exec_op(st, op_new(st, parse_code_request, done, arg)));
}

/* Count an attempt on a token, and a wrong code, in one script. */
int
store_code_attempt(struct store *st, const uint8_t nonce[TOKEN_NONCE],
    uint64_t token_end, const uint8_t id[ID_LEN], uint64_t day,
    uint64_t day_end, long long max_attempts, long long max_failures,
    int wrong, store_done done, void *arg)
{
	char		 vt[2 * TOKEN_NONCE + 8], fail[2 * ID_LEN + 40];
	char		 hex[2 * ID_LEN + 1], a1[24], a2[24], a3[24], a4[24];
	const char	*argv[] = { "EVAL", attempt_lua, "2", vt, fail, a1, a2,
			    a3, a4, wrong ? "1" : "0" };
	struct op	*op;

	memcpy(vt, "vt:", 3);
	hex_encode(vt + 3, nonce, TOKEN_NONCE);
	hex_encode(hex, id, ID_LEN);
	snprintf(fail, sizeof fail, "rl:codefail:{%s}:%llu", hex,
	    (unsigned long long)day);
	snprintf(a1, sizeof a1, "%llu", (unsigned long long)token_end);
	snprintf(a2, sizeof a2, "%llu", (unsigned long long)day_end);
	snprintf(a3, sizeof a3, "%lld", max_attempts);
	snprintf(a4, sizeof a4, "%lld", max_failures);
	op = op_new(st, parse_code_attempt, done, arg);
	return (op_sent(op, redis_cmd(st->rd, op_reply, op, 10, argv, NULL)));
}

/* Mark a token used, keeping its expiry; say whether it was. */
int
store_token_use(struct store *st, const uint8_t nonce[TOKEN_NONCE],
    store_done done, void *arg)
{
	char		 hex[2 * TOKEN_NONCE + 1];
	struct op	*op;

	hex_encode(hex, nonce, TOKEN_NONCE);
	op = op_new(st, parse_token_use, done, arg);
	return (op_sent(op, redis_cmdf(st->rd, op_reply, op,
	    "SET vt:%s %d KEEPTTL GET", hex, USED)));
}

/* Read the created and seen of an account. */
int
store_account_get(struct store *st, const uint8_t id[ID_LEN],
    store_done done, void *arg)
{
	char		 key[72];
	struct op	*op;

	keyspace_acct(key, id);
	op = op_new(st, parse_account_get, done, arg);
	return (op_sent(op, redis_cmdf(st->rd, op_reply, op,
	    "HMGET %s created seen", key)));
}

/* Write an account and revoke the ID's older connections, in one
 * MULTI/EXEC block. */
int
store_account_put(struct store *st, const uint8_t id[ID_LEN],
    uint64_t created, uint64_t seen, uint64_t expires, store_done done,
    void *arg)
{
	char	 key[72], hex[2 * ID_LEN + 1];

	if (!redis_up(st->rd))
		return (-1);
	keyspace_acct(key, id);
	hex_encode(hex, id, ID_LEN);
	redis_cmdf(st->rd, NULL, NULL, "MULTI");
	redis_cmdf(st->rd, NULL, NULL, "HSET %s created %llu seen %llu", key,
	    (unsigned long long)created, (unsigned long long)seen);
	redis_cmdf(st->rd, NULL, NULL, "EXPIREAT %s %llu", key,
	    (unsigned long long)expires);
	redis_cmdf(st->rd, NULL, NULL, "PUBLISH " REVOKE_CHANNEL " %s:%llu",
	    hex, (unsigned long long)(created - 1));
	return (exec_op(st, op_new(st, parse_account_put, done, arg)));
}

/* Write a new seen day into an existing account, at most once a day. */
int
store_account_seen(struct store *st, const uint8_t id[ID_LEN],
    uint64_t seen, uint64_t expires)
{
	char	 key[72];

	keyspace_acct(key, id);
	return (redis_cmdf(st->rd, NULL, NULL, "EVAL %s 1 %s %llu %llu",
	    seen_lua, key, (unsigned long long)seen,
	    (unsigned long long)expires));
}

/* Delete an account while it is still registration created, and revoke
 * its connections, in one script. */
int
store_account_delete(struct store *st, const uint8_t id[ID_LEN],
    uint64_t created, store_done done, void *arg)
{
	char		 key[72], hex[2 * ID_LEN + 1];
	unsigned long long c = created;
	struct op	*op;

	keyspace_acct(key, id);
	hex_encode(hex, id, ID_LEN);
	op = op_new(st, parse_account_delete, done, arg);
	return (op_sent(op, redis_cmdf(st->rd, op_reply, op,
	    "EVAL %s 1 %s %llu %s:%llu", keyspace_delete_lua, key, c, hex, c)));
}

/* Take count tokens from an account's discovery bucket, in one script. */
int
store_discovery_charge(struct store *st, const uint8_t id[ID_LEN],
    long long full, long long refill, uint64_t today, long long count,
    store_done done, void *arg)
{
	char		 hex[2 * ID_LEN + 1], key[80];
	char		 a1[24], a2[24], a3[24], a4[24];
	const char	*argv[] = { "EVAL", bucket_lua, "1", key, a1, a2, a3,
			    a4 };
	struct op	*op;

	hex_encode(hex, id, ID_LEN);
	snprintf(key, sizeof key, "rl:disc:{%s}", hex);
	snprintf(a1, sizeof a1, "%lld", full);
	snprintf(a2, sizeof a2, "%lld", refill);
	snprintf(a3, sizeof a3, "%llu", (unsigned long long)today);
	snprintf(a4, sizeof a4, "%lld", count);
	op = op_new(st, parse_discovery, done, arg);
	return (op_sent(op, redis_cmd(st->rd, op_reply, op, 8, argv, NULL)));
}

/* Ask which of n IDs have accounts, in one MULTI/EXEC block. */
int
store_lookup(struct store *st, const uint8_t *ids, size_t n,
    store_done done, void *arg)
{
	char		 key[72];
	struct op	*op;
	size_t		 i;

	if (!redis_up(st->rd))
		return (-1);
	redis_cmdf(st->rd, NULL, NULL, "MULTI");
	for (i = 0; i < n; i++) {
		keyspace_acct(key, ids + ID_LEN * i);
		redis_cmdf(st->rd, NULL, NULL, "EXISTS %s", key);
	}
	op = op_new(st, parse_lookup, done, arg);
	op->n = n;
	op->exists = xcalloc(n > 0 ? n : 1, 1);
	return (exec_op(st, op));
}

/* Tell every node to close the ID's connections of created <= max. */
void
store_publish_revoke(struct store *st, const uint8_t id[ID_LEN],
    uint64_t max_created)
{
	char	 hex[2 * ID_LEN + 1];

	hex_encode(hex, id, ID_LEN);
	redis_cmdf(st->rd, NULL, NULL, "PUBLISH " REVOKE_CHANNEL " %s:%llu",
	    hex, (unsigned long long)max_created);
}

/* ---- the store itself ------------------------------------------------- */

/* Parse "HEXID" or "HEXID:MAXCREATED" from tryst:revoke and act on it:
 * connections of that ID whose account is not newer than MAXCREATED close
 * (a re-registration must not close the connections it makes itself). */
static void
revoke_message(const char *s, size_t len, void *arg)
{
	struct store	*st = arg;
	uint8_t		 id[ID_LEN];
	char		 hex[2 * ID_LEN + 1], *end;
	unsigned long long max = UINT64_MAX;

	if (len < 2 * ID_LEN)
		return;
	memcpy(hex, s, 2 * ID_LEN);
	hex[2 * ID_LEN] = '\0';
	if (hex_decode(id, sizeof id, hex) != 0)
		return;
	if (len > 2 * ID_LEN + 1 && s[2 * ID_LEN] == ':') {
		max = strtoull(s + 2 * ID_LEN + 1, &end, 10);
		if (end != s + len)
			return;
	} else if (len != 2 * ID_LEN)
		return;
	auth_revoke_local(st->srv, id, (uint64_t)max);
}

/* Start connecting to Redis, listening on tryst:revoke. */
struct store *
store_new(struct server *srv, char **cause)
{
	struct store	*st = xcalloc(1, sizeof *st);

	st->srv = srv;
	st->rd = redis_new(srv, REVOKE_CHANNEL, revoke_message, st, cause);
	if (st->rd == NULL) {
		free(st);
		return (NULL);
	}
	return (st);
}

/* Disconnect; operations in flight get ok 0. */
void
store_free(struct store *st)
{
	redis_free(st->rd);
	free(st);
}

/* 1 while operations can be sent. */
int
store_up(struct store *st)
{
	return (redis_up(st->rd));
}

/* Seconds to wait while Redis is down. */
uint32_t
store_retry_after(struct store *st)
{
	return (redis_retry_after(st->rd));
}
