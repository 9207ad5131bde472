/*
 * discovery.c -- OPRF_EVAL and LOOKUP (PROTOCOL.md §5.3).
 *
 * Each OPRF element costs a token of the account's discovery bucket in
 * the store; a batch is charged whole or refused whole, atomically
 * (store_discovery_charge). Batches above INLINE_MAX elements are
 * evaluated on the worker pool so that other connections are not kept
 * waiting.
 *
 * Refusals cost nothing: after the bucket refused an account, this node
 * remembers how many tokens it had until the next 00:00 UTC (it cannot
 * gain any before), and refuses larger batches at once, before their
 * elements are checked or the store is asked. LOOKUP takes tokens of a
 * bucket per account on this node, lookups_per_minute IDs a minute.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "server.h"

#define DAY		86400ULL
#define INLINE_MAX	16
#define MINUTE_MS	60000ULL
#define SWEEP_MS	60000ULL

/* What this node knows of an account's discovery. */
struct discstate {
	struct rlbucket	 lookups;	/* lookups_per_minute */
	long long	 oprf_tokens;	/* its bucket at most, ... */
	uint64_t	 oprf_until;	/* ... until then (s); 0: unknown */
};

/* Forget an account whose state says nothing any more. */
static void
sweep_one(const uint8_t *key, void *value, void *arg)
{
	struct server	*srv = arg;
	struct discstate *st = value;
	struct rlrate	 r;

	rl_rate_set(&r, srv->set.lookups_per_minute, MINUTE_MS,
	    srv->set.lookups_per_minute);
	if (rl_full(&st->lookups, &r, srv->discovery_swept) &&
	    st->oprf_until <= srv->discovery_swept / 1000) {
		table_del(srv->discovery, key);
		free(st);
	}
}

/* The state of id on this node; with create, a new one if there is none
 * (else NULL). */
static struct discstate *
state_of(struct server *srv, const uint8_t id[ID_LEN], int create)
{
	struct discstate *st;
	uint64_t	 now = server_now_ms();

	if (srv->discovery == NULL) {
		if (!create)
			return (NULL);
		srv->discovery = table_new(ID_LEN);
	}
	if (now - srv->discovery_swept >= SWEEP_MS ||
	    now < srv->discovery_swept) {
		srv->discovery_swept = now;
		table_each(srv->discovery, sweep_one, srv);
	}
	if ((st = table_get(srv->discovery, id)) == NULL && create) {
		st = xcalloc(1, sizeof *st);
		table_set(srv->discovery, id, st);
	}
	return (st);
}

/* Free one account's state. */
static void
free_state(const uint8_t *key, void *value, void *arg)
{
	table_del(arg, key);
	free(value);
}

/* Free what discovery keeps per account on this node. */
void
discovery_free(struct server *srv)
{
	if (srv->discovery == NULL)
		return;
	table_each(srv->discovery, free_state, srv->discovery);
	table_free(srv->discovery);
	srv->discovery = NULL;
}

/* What an operation that could not be sent stands for. */
static const struct store_result unavailable;

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

/* RATE_LIMITED for a batch of count when the bucket holds tokens, with
 * §5.3's retry_after_s. */
static void
refuse_spent(struct conn *c, uint16_t count, long long tokens)
{
	struct server	*srv = c->srv;

	srv->stats.rate_limited[RL_DISCOVERY]++;
	conn_error(c, MSG_OPRF_EVAL, 0, ERR_RATE_LIMITED,
	    (uint32_t)rl_bucket_retry(count, tokens, server_now(),
	    srv->set.discovery_refill_per_day), "discovery budget spent");
}

/* The bucket answered: evaluate, or refuse with the time to retry. */
static void
eval_charged(struct server *srv, const struct store_result *res, void *arg)
{
	struct evalreq	*r = arg;
	struct discstate *st;
	long long	 tokens = res->v[1];

	if (!res->ok) {
		if (r->c->state != CONN_DEAD)
			conn_error(r->c, MSG_OPRF_EVAL, 0, ERR_UNAVAILABLE,
			    store_retry_after(srv->store),
			    "storage unavailable");
		evalreq_end(r);
		return;
	}
	if (res->v[0] == 0) {
		st = state_of(srv, r->c->id, 1);
		st->oprf_tokens = tokens;
		st->oprf_until = server_now() - server_now() % DAY + DAY;
		refuse_spent(r->c, r->count, tokens);
		evalreq_end(r);
		return;
	}
	if ((st = state_of(srv, r->c->id, 0)) != NULL)
		st->oprf_tokens = tokens;	/* still a bound, and tighter */
	if (r->count <= INLINE_MAX) {
		eval_work(r);
		eval_done(srv, r);
	} else
		workers_submit(srv->workers, eval_work, eval_done, r);
}

/* A batch above max_batch: TOO_LARGE. 1 if refused. */
static int
too_large(struct conn *c, const struct msg *m, uint16_t count)
{
	if (count <= c->srv->set.max_batch)
		return (0);
	conn_error(c, m->type, 0, ERR_TOO_LARGE, 0,
	    "batch larger than this server's max_batch");
	return (1);
}

/* Storage is down: UNAVAILABLE. 1 if refused. */
static int
storage_down(struct conn *c, const struct msg *m)
{
	struct server	*srv = c->srv;

	if (store_up(srv->store))
		return (0);
	conn_error(c, m->type, 0, ERR_UNAVAILABLE,
	    store_retry_after(srv->store), "storage unavailable");
	return (1);
}

/* The bucket is known to hold fewer than count tokens until the next
 * 00:00 UTC (an earlier refusal said so): refuse at once, before the
 * elements are checked, so that a refusal costs nothing. 1 if refused. */
static int
known_spent(struct conn *c, uint16_t count)
{
	struct discstate *st = state_of(c->srv, c->id, 0);

	if (st == NULL || server_now() >= st->oprf_until ||
	    count <= st->oprf_tokens)
		return (0);
	refuse_spent(c, count, st->oprf_tokens);
	return (1);
}

/* Charge the bucket for a batch whose elements are all valid. */
static void
charge(struct server *srv, struct evalreq *r)
{
	if (store_discovery_charge(srv->store, r->c->id,
	    srv->set.discovery_bucket, srv->set.discovery_refill_per_day,
	    server_now() / DAY, r->count, eval_charged, r) != 0)
		eval_charged(srv, &unavailable, r);
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

/* OPRF_EVAL: refuse what the bucket is known to lack, check the
 * elements, charge the bucket, then evaluate; a large batch is checked
 * and evaluated off the loop. */
void
discovery_oprf(struct conn *c, const struct msg *m)
{
	struct server	*srv = c->srv;
	struct evalreq	*r;

	if (too_large(c, m, m->u.oprf.count) ||
	    known_spent(c, m->u.oprf.count) || storage_down(c, m))
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

/* The store answered: the bitmap. */
static void
lookup_done(struct server *srv, const struct store_result *res, void *arg)
{
	struct lookreq	*r = arg;
	struct msg	 m = { .type = MSG_LOOKUP_RESULT };
	uint8_t		 bitmap[PROTO_MAX_BATCH / 8];
	size_t		 i;

	if (!res->ok) {
		if (r->c->state != CONN_DEAD)
			conn_error(r->c, MSG_LOOKUP, 0, ERR_UNAVAILABLE,
			    store_retry_after(srv->store),
			    "storage unavailable");
	} else {
		memset(bitmap, 0, sizeof bitmap);
		for (i = 0; i < r->count; i++) {
			if (res->exists[i])
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

/* Take count IDs from the account's LOOKUP bucket on this node, or
 * refuse with the seconds until it holds them. 1 if refused. */
static int
lookups_spent(struct conn *c, uint16_t count)
{
	struct server	*srv = c->srv;
	struct discstate *st = state_of(srv, c->id, 1);
	struct rlrate	 r;

	rl_rate_set(&r, srv->set.lookups_per_minute, MINUTE_MS,
	    srv->set.lookups_per_minute);
	if (rl_take(&st->lookups, &r, server_now_ms(), count) == 0)
		return (0);
	srv->stats.rate_limited[RL_LOOKUPS]++;
	conn_error(c, MSG_LOOKUP, 0, ERR_RATE_LIMITED,
	    (uint32_t)rl_wait_s(&st->lookups, &r, count),
	    "too many IDs looked up");
	return (1);
}

/* LOOKUP: which IDs have accounts, lookups_per_minute IDs a minute. */
void
discovery_lookup(struct conn *c, const struct msg *m)
{
	struct server	*srv = c->srv;
	struct lookreq	*r;

	if (too_large(c, m, m->u.lookup.count) || storage_down(c, m) ||
	    lookups_spent(c, m->u.lookup.count))
		return;
	r = xcalloc(1, sizeof *r);
	r->c = c;
	r->count = m->u.lookup.count;
	conn_hold(c);
	if (store_lookup(srv->store, m->u.lookup.ids, r->count, lookup_done,
	    r) != 0)
		lookup_done(srv, &unavailable, r);
}
