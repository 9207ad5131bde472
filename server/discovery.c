/*
 * discovery.c -- OPRF_EVAL and LOOKUP (PROTOCOL.md §5.3).
 *
 * Each OPRF element costs a token of the account's discovery bucket in
 * Redis; a batch is charged whole or refused whole, atomically, by a
 * small Lua script. Batches above INLINE_MAX elements are evaluated on the
 * worker pool so that other connections are not kept waiting.
 */
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <sodium.h>

#include "server.h"

#define DAY		86400ULL
#define INLINE_MAX	16

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

/* One OPRF_EVAL in flight. */
struct evalreq {
	struct conn	*c;
	struct server	*srv;
	uint16_t	 count;
	int		 bad;
	uint8_t		*in;
	uint8_t		*out;
};

/* Release a request. */
static void
evalreq_end(struct evalreq *r)
{
	struct conn	*c = r->c;

	free(r->in);
	free(r->out);
	free(r);
	conn_release(c);
}

/* Check every element (on a worker or inline): a batch with one that
 * is not a valid point is refused before it costs the bucket anything. */
static void
check_work(void *arg)
{
	struct evalreq	*r = arg;
	uint16_t	 i;

	for (i = 0; i < r->count && !r->bad; i++)
		r->bad = !oprf_element_ok(r->in + 32 * i);
}

/* BlindEvaluate every element (on a worker or inline). */
static void
eval_work(void *arg)
{
	struct evalreq	*r = arg;
	uint16_t	 i;

	for (i = 0; i < r->count; i++) {
		if (oprf_blind_evaluate(r->out + 32 * i, r->srv->keys->oprf_sk,
		    r->in + 32 * i) != 0) {
			r->bad = 1;
			return;
		}
	}
}

/* MALFORMED for a batch with an invalid element; the connection ends. */
static void
refuse_bad(struct evalreq *r)
{
	conn_error(r->c, MSG_OPRF_EVAL, 0, ERR_MALFORMED, 0,
	    "element is not a valid ristretto255 point");
	conn_kill(r->c, "malformed element");
}

/* Back on the loop: answer. */
static void
eval_done(struct server *srv, void *arg)
{
	struct evalreq	*r = arg;
	struct msg	 m = { .type = MSG_OPRF_RESULT };

	if (r->c->state == CONN_DEAD)
		;
	else if (r->bad)
		refuse_bad(r);
	else {
		srv->stats.oprf_evals += r->count;
		m.u.oprf.count = r->count;
		m.u.oprf.elements = r->out;
		conn_send(r->c, &m);
	}
	evalreq_end(r);
}

/* The bucket answered: evaluate, or refuse with the time to retry. */
static void
eval_charged(struct server *srv, redisReply *reply, void *arg)
{
	struct evalreq	*r = arg;
	long long	 tokens;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != 2 ||
	    reply->element[0]->type != REDIS_REPLY_INTEGER) {
		if (r->c->state != CONN_DEAD)
			conn_error(r->c, MSG_OPRF_EVAL, 0, ERR_UNAVAILABLE,
			    store_retry_after(srv->store),
			    "storage unavailable");
		evalreq_end(r);
		return;
	}
	if (reply->element[0]->integer == 0) {
		tokens = reply->element[1]->integer;
		srv->stats.rate_limited[RL_DISCOVERY]++;
		conn_error(r->c, MSG_OPRF_EVAL, 0, ERR_RATE_LIMITED,
		    (uint32_t)rl_bucket_retry(r->count, tokens, server_now(),
		    srv->set.discovery_refill_per_day),
		    "discovery budget spent");
		evalreq_end(r);
		return;
	}
	if (r->count <= INLINE_MAX) {
		eval_work(r);
		eval_done(srv, r);
	} else
		workers_submit(srv->workers, eval_work, eval_done, r);
}

/* The checks a batch passes before any work: its size, and storage. 0 if
 * it may go on; else the error has been sent. */
static int
batch_check(struct conn *c, const struct msg *m, uint16_t count)
{
	struct server	*srv = c->srv;

	if (count > srv->set.max_batch) {
		conn_error(c, m->type, 0, ERR_TOO_LARGE, 0,
		    "batch larger than this server's max_batch");
		return (-1);
	}
	if (!store_up(srv->store)) {
		conn_error(c, m->type, 0, ERR_UNAVAILABLE,
		    store_retry_after(srv->store), "storage unavailable");
		return (-1);
	}
	return (0);
}

/* Charge the bucket for a batch whose elements are all valid. */
static void
charge(struct server *srv, struct evalreq *r)
{
	char		 hex[2 * ID_LEN + 1], key[80];
	char		 full[24], refill[24], today[24], count[8];
	const char	*argv[8];

	hex_encode(hex, r->c->id, ID_LEN);
	snprintf(key, sizeof key, "rl:disc:{%s}", hex);
	snprintf(full, sizeof full, "%lld", srv->set.discovery_bucket);
	snprintf(refill, sizeof refill, "%lld",
	    srv->set.discovery_refill_per_day);
	snprintf(today, sizeof today, "%llu",
	    (unsigned long long)(server_now() / DAY));
	snprintf(count, sizeof count, "%u", r->count);
	argv[0] = "EVAL";
	argv[1] = bucket_lua;
	argv[2] = "1";
	argv[3] = key;
	argv[4] = full;
	argv[5] = refill;
	argv[6] = today;
	argv[7] = count;
	if (store_cmd(srv->store, eval_charged, r, 8, argv, NULL) != 0)
		eval_charged(srv, NULL, r);
}

/* The elements are checked: refuse the batch, or charge for it. */
static void
checked(struct server *srv, void *arg)
{
	struct evalreq	*r = arg;

	if (r->c->state == CONN_DEAD)
		evalreq_end(r);
	else if (r->bad) {
		refuse_bad(r);
		evalreq_end(r);
	} else
		charge(srv, r);
}

/* OPRF_EVAL: check the elements, charge the bucket, then evaluate; a
 * large batch is checked and evaluated off the loop. */
void
discovery_oprf(struct conn *c, const struct msg *m)
{
	struct server	*srv = c->srv;
	struct evalreq	*r;

	if (batch_check(c, m, m->u.oprf.count) != 0)
		return;
	r = xcalloc(1, sizeof *r);
	r->c = c;
	r->srv = srv;
	r->count = m->u.oprf.count;
	r->in = xmalloc(32 * (size_t)r->count);
	r->out = xmalloc(32 * (size_t)r->count);
	memcpy(r->in, m->u.oprf.elements, 32 * (size_t)r->count);
	conn_hold(c);
	if (r->count <= INLINE_MAX) {
		check_work(r);
		checked(srv, r);
	} else
		workers_submit(srv->workers, check_work, checked, r);
}

/* One LOOKUP in flight. */
struct lookreq {
	struct conn	*c;
	uint16_t	 count;
};

/* The EXISTS answers came back: the bitmap. */
static void
lookup_done(struct server *srv, redisReply *reply, void *arg)
{
	struct lookreq	*r = arg;
	struct msg	 m = { .type = MSG_LOOKUP_RESULT };
	uint8_t		 bitmap[PROTO_MAX_BATCH / 8];
	size_t		 i;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != r->count) {
		if (r->c->state != CONN_DEAD)
			conn_error(r->c, MSG_LOOKUP, 0, ERR_UNAVAILABLE,
			    store_retry_after(srv->store),
			    "storage unavailable");
	} else {
		memset(bitmap, 0, sizeof bitmap);
		for (i = 0; i < reply->elements; i++) {
			if (reply->element[i]->type == REDIS_REPLY_INTEGER &&
			    reply->element[i]->integer == 1)
				bitmap[i / 8] |= (uint8_t)(1 << (i % 8));
		}
		srv->stats.lookups += r->count;
		m.u.lookup_result.count = r->count;
		m.u.lookup_result.bitmap = bitmap;
		conn_send(r->c, &m);
	}
	conn_release(r->c);
	free(r);
}

/* LOOKUP: which IDs have accounts. Costs nothing. */
void
discovery_lookup(struct conn *c, const struct msg *m)
{
	struct server	*srv = c->srv;
	struct lookreq	*r;
	char		 key[72];
	uint16_t	 i;

	if (batch_check(c, m, m->u.lookup.count) != 0)
		return;
	r = xcalloc(1, sizeof *r);
	r->c = c;
	r->count = m->u.lookup.count;
	conn_hold(c);
	store_cmdf(srv->store, NULL, NULL, "MULTI");
	for (i = 0; i < r->count; i++) {
		keyspace_acct(key, m->u.lookup.ids + 32 * i);
		store_cmdf(srv->store, NULL, NULL, "EXISTS %s", key);
	}
	if (store_cmdf(srv->store, lookup_done, r, "EXEC") != 0)
		lookup_done(srv, NULL, r);
}
