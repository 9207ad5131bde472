/*
 * store.c -- the data layer: typed operations over Redis, a standalone
 * one (redis.c) or a Redis Cluster (cluster.c).
 *
 * The only code that knows what trystd keeps in Redis (doc/protocol.md
 * §7): the key names (with keyspace.c, which trystctl shares), the Lua
 * scripts and what each reply means. Handlers see a struct store_result
 * and nothing else.
 *
 * Every command is one command on one slot: a single key, or a script
 * whose keys and channel share the ID's {hash tag}; a lookup of many IDs
 * is one EXISTS each. So both backends can carry every operation.
 *
 * Every operation either returns -1 before anything is sent (Redis is
 * not usable now; its callback is never called) or sends and returns 0;
 * its callback then runs once, from the backend's reply callback, which
 * never runs from inside a send.
 *
 * Presence is never a key: the node subscribes to the channel of each ID
 * online on it (keyspace_channel), where revocations ("R" and a created)
 * and the sealed messages of other nodes ("S", bus.c) arrive.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "server.h"

#define USED		1000000		/* vt: value of a used token */

struct store {
	struct server	*srv;
	const struct redis_ops *ops;
	void		*rd;
	char		 node_channel[80];
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
	size_t		 waiting;	/* store_lookup: replies to come */
	int		 failed;	/* store_lookup: one did not come */
};

/* One reply of a lookup: the op, and the ID's place in it. */
struct lookup_one {
	struct op	*op;
	size_t		 i;
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

/* KEYS[1] the clock hour's code requests, KEYS[2] the day's wrong codes;
 * ARGV the hour's end. Returns {requests with this one, wrong codes}. */
static const char request_lua[] =
	"local n = redis.call('INCR', KEYS[1]) "
	"redis.call('EXPIREAT', KEYS[1], ARGV[1]) "
	"return {n, tonumber(redis.call('GET', KEYS[2]) or '0')}";

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

/* KEYS[1] an account's relayed bytes of a UTC day; ARGV bytes, the end
 * of that day. Returns the count with them. */
static const char relay_lua[] =
	"local n = redis.call('INCRBY', KEYS[1], ARGV[1]) "
	"redis.call('EXPIREAT', KEYS[1], ARGV[2]) "
	"return n";

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

/* request_lua and attempt_lua: two figures. */
static int
parse_pair(const redisReply *r, struct op *op,
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

/* keyspace_put_lua: 1. */
static int
parse_account_put(const redisReply *r, struct op *op,
    struct store_result *res)
{
	return (r->type == REDIS_REPLY_INTEGER ? 0 : -1);
}

/* PUBLISH or SPUBLISH: the nodes that received it. */
static int
parse_publish(const redisReply *r, struct op *op, struct store_result *res)
{
	if (r->type != REDIS_REPLY_INTEGER)
		return (-1);
	res->v[0] = r->integer;
	return (0);
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

/* GET or relay_lua: a count (nil: 0). */
static int
parse_count(const redisReply *r, struct op *op, struct store_result *res)
{
	if ((res->v[0] = reply_int(r)) < 0)
		return (-1);
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

/* The backend's callback: parse the reply (NULL: Redis went away) and hand
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

/* Send argv (argc words, C strings; key names the slot) for op. */
static int
send_op(struct store *st, struct op *op, const char *key, int argc,
    const char **argv)
{
	return (op_sent(op, st->ops->cmd(st->rd, key, op_reply, op, argc,
	    argv, NULL)));
}

/* Count a code request of id in its hour; read its wrong codes of day. */
int
store_code_request(struct store *st, const uint8_t id[ID_LEN],
    uint64_t hour, uint64_t hour_end, uint64_t day, store_done done,
    void *arg)
{
	char		 hex[2 * ID_LEN + 1], req[2 * ID_LEN + 40];
	char		 fail[2 * ID_LEN + 40], end[24];
	const char	*argv[] = { "EVAL", request_lua, "2", req, fail, end };

	hex_encode(hex, id, ID_LEN);
	snprintf(req, sizeof req, "rl:code:{%s}:%llu", hex,
	    (unsigned long long)hour);
	snprintf(fail, sizeof fail, "rl:codefail:{%s}:%llu", hex,
	    (unsigned long long)day);
	snprintf(end, sizeof end, "%llu", (unsigned long long)hour_end);
	return (send_op(st, op_new(st, parse_pair, done, arg), req, 6, argv));
}

/* "vt:{HEXID}:HEXNONCE", a token's key: the ID's tag puts it in the slot
 * of the ID's wrong-code count, which one script changes with it. */
#define VT_KEY_LEN	(3 + 2 * ID_LEN + 3 + 2 * TOKEN_NONCE + 1)
static void
vt_key(char *buf, const uint8_t id[ID_LEN], const uint8_t nonce[TOKEN_NONCE])
{
	char	 hid[2 * ID_LEN + 1], hnonce[2 * TOKEN_NONCE + 1];

	hex_encode(hid, id, ID_LEN);
	hex_encode(hnonce, nonce, TOKEN_NONCE);
	snprintf(buf, VT_KEY_LEN, "vt:{%s}:%s", hid, hnonce);
}

/* Count an attempt on a token, and a wrong code, in one script. */
int
store_code_attempt(struct store *st, const uint8_t nonce[TOKEN_NONCE],
    uint64_t token_end, const uint8_t id[ID_LEN], uint64_t day,
    uint64_t day_end, long long max_attempts, long long max_failures,
    int wrong, store_done done, void *arg)
{
	char		 vt[VT_KEY_LEN], fail[2 * ID_LEN + 40];
	char		 hex[2 * ID_LEN + 1], a1[24], a2[24], a3[24], a4[24];
	const char	*argv[] = { "EVAL", attempt_lua, "2", vt, fail, a1, a2,
			    a3, a4, wrong ? "1" : "0" };

	vt_key(vt, id, nonce);
	hex_encode(hex, id, ID_LEN);
	snprintf(fail, sizeof fail, "rl:codefail:{%s}:%llu", hex,
	    (unsigned long long)day);
	snprintf(a1, sizeof a1, "%llu", (unsigned long long)token_end);
	snprintf(a2, sizeof a2, "%llu", (unsigned long long)day_end);
	snprintf(a3, sizeof a3, "%lld", max_attempts);
	snprintf(a4, sizeof a4, "%lld", max_failures);
	return (send_op(st, op_new(st, parse_pair, done, arg), vt, 10, argv));
}

/* Mark a token used, keeping its expiry; say whether it was. */
int
store_token_use(struct store *st, const uint8_t id[ID_LEN],
    const uint8_t nonce[TOKEN_NONCE], store_done done, void *arg)
{
	char		 vt[VT_KEY_LEN], used[24];
	const char	*argv[] = { "SET", vt, used, "KEEPTTL", "GET" };

	vt_key(vt, id, nonce);
	snprintf(used, sizeof used, "%d", USED);
	return (send_op(st, op_new(st, parse_token_use, done, arg), vt, 5,
	    argv));
}

/* Read the created and seen of an account. */
int
store_account_get(struct store *st, const uint8_t id[ID_LEN],
    store_done done, void *arg)
{
	char		 key[72];
	const char	*argv[] = { "HMGET", key, "created", "seen" };

	keyspace_acct(key, id);
	return (send_op(st, op_new(st, parse_account_get, done, arg), key, 4,
	    argv));
}

/* Write an account and revoke the ID's older connections, in one
 * script. */
int
store_account_put(struct store *st, const uint8_t id[ID_LEN],
    uint64_t created, uint64_t seen, uint64_t expires, store_done done,
    void *arg)
{
	char		 key[72], chan[80], a1[24], a2[24], a3[24], rv[24];
	const char	*argv[] = { "EVAL", keyspace_put_lua, "1", key, a1, a2,
			    a3, st->ops->publish, chan, rv };

	keyspace_acct(key, id);
	keyspace_channel(chan, id);
	snprintf(a1, sizeof a1, "%llu", (unsigned long long)created);
	snprintf(a2, sizeof a2, "%llu", (unsigned long long)seen);
	snprintf(a3, sizeof a3, "%llu", (unsigned long long)expires);
	keyspace_revoke_msg(rv, created - 1);
	return (send_op(st, op_new(st, parse_account_put, done, arg), key, 10,
	    argv));
}

/* Write a new seen day into an existing account, at most once a day. */
int
store_account_seen(struct store *st, const uint8_t id[ID_LEN],
    uint64_t seen, uint64_t expires)
{
	char		 key[72], a1[24], a2[24];
	const char	*argv[] = { "EVAL", seen_lua, "1", key, a1, a2 };

	keyspace_acct(key, id);
	snprintf(a1, sizeof a1, "%llu", (unsigned long long)seen);
	snprintf(a2, sizeof a2, "%llu", (unsigned long long)expires);
	return (st->ops->cmd(st->rd, key, NULL, NULL, 6, argv, NULL));
}

/* Delete an account while it is still registration created, and revoke
 * its connections, in one script. */
int
store_account_delete(struct store *st, const uint8_t id[ID_LEN],
    uint64_t created, store_done done, void *arg)
{
	char		 key[72], chan[80], a1[24], rv[24];
	const char	*argv[] = { "EVAL", keyspace_delete_lua, "1", key, a1,
			    st->ops->publish, chan, rv };

	keyspace_acct(key, id);
	keyspace_channel(chan, id);
	snprintf(a1, sizeof a1, "%llu", (unsigned long long)created);
	keyspace_revoke_msg(rv, created);
	return (send_op(st, op_new(st, parse_account_delete, done, arg), key,
	    8, argv));
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

	hex_encode(hex, id, ID_LEN);
	snprintf(key, sizeof key, "rl:disc:{%s}", hex);
	snprintf(a1, sizeof a1, "%lld", full);
	snprintf(a2, sizeof a2, "%lld", refill);
	snprintf(a3, sizeof a3, "%llu", (unsigned long long)today);
	snprintf(a4, sizeof a4, "%lld", count);
	return (send_op(st, op_new(st, parse_discovery, done, arg), key, 8,
	    argv));
}

/* "rl:relay:{HEXID}:DAY", the bytes id sent through relays on a UTC
 * day. */
static void
relay_key(char *buf, size_t len, const uint8_t id[ID_LEN], uint64_t day)
{
	char	 hex[2 * ID_LEN + 1];

	hex_encode(hex, id, ID_LEN);
	snprintf(buf, len, "rl:relay:{%s}:%llu", hex, (unsigned long long)day);
}

/* Read the bytes id sent through relays on day. */
int
store_relay_spent(struct store *st, const uint8_t id[ID_LEN], uint64_t day,
    store_done done, void *arg)
{
	char		 key[2 * ID_LEN + 40];
	const char	*argv[] = { "GET", key };

	relay_key(key, sizeof key, id, day);
	return (send_op(st, op_new(st, parse_count, done, arg), key, 2, argv));
}

/* Add n bytes to what id sent through relays on day, which expires at
 * the day's end; done (NULL: none) gets the new count. */
int
store_relay_charge(struct store *st, const uint8_t id[ID_LEN], uint64_t day,
    uint64_t n, store_done done, void *arg)
{
	char		 key[2 * ID_LEN + 40], a1[24], a2[24];
	const char	*argv[] = { "EVAL", relay_lua, "1", key, a1, a2 };
	struct op	*op;

	relay_key(key, sizeof key, id, day);
	snprintf(a1, sizeof a1, "%llu", (unsigned long long)n);
	snprintf(a2, sizeof a2, "%llu", (unsigned long long)(day + 1) * 86400);
	if (done == NULL)
		return (st->ops->cmd(st->rd, key, NULL, NULL, 6, argv, NULL));
	op = op_new(st, parse_count, done, arg);
	return (op_sent(op, st->ops->cmd(st->rd, key, op_reply, op, 6, argv,
	    NULL)));
}

/* One reply fewer to wait for; after the last, hand the answers on. */
static void
lookup_settle(struct op *op)
{
	struct store_result	 res;

	if (--op->waiting > 0)
		return;
	memset(&res, 0, sizeof res);
	if (!op->failed) {
		res.ok = 1;
		res.exists = op->exists;
	}
	op->done(op->st->srv, &res, op->arg);
	op_free(op);
}

/* One EXISTS of a lookup came back (NULL: it cannot). */
static void
lookup_reply(struct redisReply *r, void *arg)
{
	struct lookup_one	*one = arg;
	struct op		*op = one->op;

	if (r == NULL || r->type != REDIS_REPLY_INTEGER)
		op->failed = 1;
	else
		op->exists[one->i] = r->integer == 1;
	free(one);
	lookup_settle(op);
}

/* Ask which of n IDs have accounts: one EXISTS each, as the IDs live in
 * slots of their own. Once the first is sent, done is called when every
 * sent one has come back; one that could not be sent fails the whole.
 * n is at least 1 (a LOOKUP holds 1 to 1,024 IDs). */
int
store_lookup(struct store *st, const uint8_t *ids, size_t n,
    store_done done, void *arg)
{
	char			 key[72];
	const char		*argv[] = { "EXISTS", key };
	struct op		*op;
	struct lookup_one	*one;
	size_t			 i;

	if (n == 0 || !st->ops->up(st->rd))
		return (-1);
	op = op_new(st, NULL, done, arg);
	op->n = n;
	op->exists = xcalloc(n > 0 ? n : 1, 1);
	op->waiting = 1;	/* held until every one is sent */
	for (i = 0; i < n; i++) {
		keyspace_acct(key, ids + ID_LEN * i);
		one = xmalloc(sizeof *one);
		one->op = op;
		one->i = i;
		op->waiting++;
		if (st->ops->cmd(st->rd, key, lookup_reply, one, 2, argv,
		    NULL) != 0) {
			free(one);
			op->waiting--;
			op->failed = 1;
			if (i == 0) {
				op_free(op);
				return (-1);
			}
			break;
		}
	}
	lookup_settle(op);	/* the hold: never the last, one was sent */
	return (0);
}

/* Publish payload on a channel; done (NULL: none) gets v[0] the nodes
 * that received it. */
static int
publish(struct store *st, const char *chan, const void *payload,
    size_t len, store_done done, void *arg)
{
	const char	*argv[] = { st->ops->publish, chan, payload };
	size_t		 lens[] = { strlen(argv[0]), strlen(chan), len };
	struct op	*op;

	if (done == NULL)
		return (st->ops->cmd(st->rd, chan, NULL, NULL, 3, argv, lens));
	op = op_new(st, parse_publish, done, arg);
	return (op_sent(op, st->ops->cmd(st->rd, chan, op_reply, op, 3, argv,
	    lens)));
}

/* Publish to the nodes where id is online. */
int
store_publish_id(struct store *st, const uint8_t id[ID_LEN],
    const void *payload, size_t len, store_done done, void *arg)
{
	char	 chan[80];

	keyspace_channel(chan, id);
	return (publish(st, chan, payload, len, done, arg));
}

/* Publish to the node called node. */
int
store_publish_node(struct store *st, const char *node, const void *payload,
    size_t len, store_done done, void *arg)
{
	char	 chan[NODE_NAME_MAX + 16];

	keyspace_node_channel(chan, sizeof chan, node);
	return (publish(st, chan, payload, len, done, arg));
}

/* Listen for what is published to id, from now on. */
void
store_subscribe(struct store *st, const uint8_t id[ID_LEN])
{
	char	 chan[80];

	keyspace_channel(chan, id);
	st->ops->subscribe(st->rd, chan);
}

/* Stop listening for id. */
void
store_unsubscribe(struct store *st, const uint8_t id[ID_LEN])
{
	char	 chan[80];

	keyspace_channel(chan, id);
	st->ops->unsubscribe(st->rd, chan);
}

/* Channels listened on now. */
size_t
store_subscriptions(struct store *st)
{
	return (st->ops->subscriptions(st->rd));
}

/* ---- the store itself ------------------------------------------------- */

/* A message on a channel: a revocation ("R" and a created, on an ID's
 * channel, from the scripts that change accounts: that ID's connections
 * whose account is not newer close, so that a re-registration does not
 * close the connections it makes itself), or a sealed message of another
 * node ("S", for bus.c). */
static void
message(const char *chan, size_t chanlen, const char *s, size_t len,
    void *arg)
{
	struct store	*st = arg;
	uint8_t		 id[ID_LEN];
	uint64_t	 max;

	if (len < 1)
		return;
	if (s[0] == 'S') {
		bus_receive(st->srv, (const uint8_t *)s + 1, len - 1);
		return;
	}
	if (s[0] != 'R' || keyspace_channel_id(chan, chanlen, id) != 0 ||
	    keyspace_revoke_parse(s, len, &max) != 0)
		return;
	auth_revoke_local(st->srv, id, max);
}

/* Start connecting to the Redis of the settings, listening on this
 * node's channel. */
struct store *
store_new(struct server *srv, char **cause)
{
	struct store	*st = xcalloc(1, sizeof *st);

	st->srv = srv;
	st->ops = strncmp(srv->set.redis, "cluster:", 8) == 0 ?
	    &cluster_ops : &redis_ops;
	st->rd = st->ops->open(srv, message, st, cause);
	if (st->rd == NULL) {
		free(st);
		return (NULL);
	}
	keyspace_node_channel(st->node_channel, sizeof st->node_channel,
	    srv->set.node_name);
	st->ops->subscribe(st->rd, st->node_channel);
	return (st);
}

/* Disconnect; operations in flight get ok 0. */
void
store_free(struct store *st)
{
	st->ops->close(st->rd);
	free(st);
}

/* 1 while operations can be sent. */
int
store_up(struct store *st)
{
	return (st->ops->up(st->rd));
}

/* Seconds to wait while Redis is down. */
uint32_t
store_retry_after(struct store *st)
{
	return (st->ops->retry_after(st->rd));
}
