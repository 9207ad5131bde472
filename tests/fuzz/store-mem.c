/*
 * store-mem.c -- the data layer of server.h ("store.c: the data layer's
 * typed operations") answered from memory, for the whole-server fuzz
 * target: accounts, counters that expire by the server's clock (the
 * relay's daily budget among them), the discovery bucket, and revocation
 * messages, with the semantics store.c
 * gets from Redis and its scripts.
 *
 * Each operation takes effect when it is called, as Redis runs a command
 * when it arrives, and its result is handed back on a later pass of the
 * loop, never inside the call. The test can make storage unusable (then
 * operations return -1, and those pending complete with ok 0, as replies
 * lost with a connection are), hold completions back so that requests
 * and closes cross them, and release them one at a time.
 */
#include <sys/queue.h>

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "server.h"
#include "fuzz-server.h"

#define USED		1000000		/* a used token (store.c's vt:) */
#define RETRY_S		2
#define KEY_MAX		(ID_LEN + 8)

/* Kinds of entries: Redis's key prefixes. */
enum {
	E_ACCOUNT,	/* acct: v[0] created, v[1] seen */
	E_CODES,	/* rl:code: requests of a number in an hour */
	E_FAILS,	/* rl:codefail: wrong codes of a number in a day */
	E_TOKEN,	/* vt: attempts on a token, USED once used */
	E_DISC,		/* rl:disc: v[0] tokens, v[1] day */
	E_RELAY,	/* rl:relay: bytes an account relayed in a day */
};

/* One key and its value. */
struct entry {
	int		 kind;
	uint8_t		 key[KEY_MAX];
	long long	 v[2];
	uint64_t	 expires;	/* absolute seconds; 0: never */
	LIST_ENTRY(entry) link;
};

/* A result on its way back, or (done NULL) a revocation message. */
struct op {
	store_done	 done;
	void		*arg;
	struct store_result res;
	uint8_t		*exists;
	uint8_t		 id[ID_LEN];
	uint64_t	 max_created;
	TAILQ_ENTRY(op) link;
};
TAILQ_HEAD(opq, op);

struct store {
	struct server	*srv;
	LIST_HEAD(, entry) entries;
	struct opq	 ops;
	size_t		 nops;
	struct event	*ev;
	int		 down;
	int		 hold;
	int		 steps;		/* held: completions allowed */
	size_t		 subs;		/* IDs subscribed */
};

static void	run(evutil_socket_t, short, void *);

/* Make the store: usable, empty. */
struct store *
store_new(struct server *srv, char **cause)
{
	struct store	*st = xcalloc(1, sizeof *st);

	st->srv = srv;
	LIST_INIT(&st->entries);
	TAILQ_INIT(&st->ops);
	if ((st->ev = evtimer_new(srv->base, run, st)) == NULL) {
		*cause = xstrdup("evtimer_new failed");
		free(st);
		return (NULL);
	}
	return (st);
}

/* Forget one completion. */
static void
op_free(struct store *st, struct op *op)
{
	TAILQ_REMOVE(&st->ops, op, link);
	st->nops--;
	free(op->exists);
	free(op);
}

/* Complete op: its callback, or the revocation it carries. */
static void
complete(struct store *st, struct op *op)
{
	TAILQ_REMOVE(&st->ops, op, link);
	st->nops--;
	if (op->done != NULL)
		op->done(st->srv, &op->res, op->arg);
	else if (op->res.ok)
		auth_revoke_local(st->srv, op->id, op->max_created);
	free(op->exists);
	free(op);
}

/* Free the store; pending callbacks hear that storage went away. */
void
store_free(struct store *st)
{
	struct entry	*e;
	struct op	*op;

	while ((op = TAILQ_FIRST(&st->ops)) != NULL) {
		memset(&op->res, 0, sizeof op->res);
		complete(st, op);
	}
	while ((e = LIST_FIRST(&st->entries)) != NULL) {
		LIST_REMOVE(e, link);
		free(e);
	}
	event_free(st->ev);
	free(st);
}

/* Run the completions on a later pass. */
static void
kick(struct store *st)
{
	static const struct timeval now = { 0, 0 };

	if (st->nops > 0 && !evtimer_pending(st->ev, NULL))
		evtimer_add(st->ev, &now);
}

/* A pass of the loop: complete what was queued before it (held: only
 * failures and the steps allowed). Callbacks may queue more, for the
 * next pass. */
static void
run(evutil_socket_t fd, short ev, void *arg)
{
	struct store	*st = arg;
	struct op	*op, *next, *last = TAILQ_LAST(&st->ops, opq);

	for (op = TAILQ_FIRST(&st->ops); op != NULL; op = next) {
		next = op == last ? NULL : TAILQ_NEXT(op, link);
		if (st->hold && op->res.ok) {
			if (st->steps == 0)
				continue;
			st->steps--;
		}
		complete(st, op);
	}
	if (!st->hold)
		kick(st);
}

/* Queue a completion (a revocation when done is NULL). */
static struct op *
op_queue(struct store *st, store_done done, void *arg)
{
	struct op	*op = xcalloc(1, sizeof *op);

	op->done = done;
	op->arg = arg;
	op->res.ok = 1;
	TAILQ_INSERT_TAIL(&st->ops, op, link);
	st->nops++;
	kick(st);
	return (op);
}

/* Queue a revocation message to this node. */
static void
revoke_queue(struct store *st, const uint8_t id[ID_LEN], uint64_t max)
{
	struct op	*op = op_queue(st, NULL, NULL);

	memcpy(op->id, id, ID_LEN);
	op->max_created = max;
}

/* Storage goes away or comes back. */
void
store_mem_down(struct store *st, int down)
{
	struct op	*op, *next;

	if (down && !st->down) {
		for (op = TAILQ_FIRST(&st->ops); op != NULL; op = next) {
			next = TAILQ_NEXT(op, link);
			if (op->done == NULL)
				op_free(st, op);	/* a lost message */
			else
				memset(&op->res, 0, sizeof op->res);
		}
		kick(st);
	}
	if (!down && st->down) {
		st->down = 0;
		server_storage_up(st->srv);
	}
	st->down = down;
}

/* Hold completions back, or let them go. */
void
store_mem_hold(struct store *st, int hold)
{
	st->hold = hold;
	st->steps = 0;
	kick(st);
}

/* Held: let one more completion go. */
void
store_mem_step(struct store *st)
{
	st->steps++;
	kick(st);
}

/* Completions not yet run. */
size_t
store_mem_pending(struct store *st)
{
	return (st->nops);
}

/* 1 while operations can be sent. */
int
store_up(struct store *st)
{
	return (!st->down);
}

/* Seconds a client should wait while storage is down. */
uint32_t
store_retry_after(struct store *st)
{
	return (RETRY_S);
}

/* ---- keys and values --------------------------------------------------- */

/* The entry of kind and key (id or nonce, then n), or NULL; an expired
 * one is deleted first. With create, a new one (values 0) if none. */
static struct entry *
entry_of(struct store *st, int kind, const uint8_t *id, size_t len,
    uint64_t n, int create)
{
	uint8_t		 key[KEY_MAX];
	struct entry	*e;

	memset(key, 0, sizeof key);
	memcpy(key, id, len);
	memcpy(key + ID_LEN, &n, sizeof n);
	LIST_FOREACH(e, &st->entries, link) {
		if (e->kind == kind && memcmp(e->key, key, KEY_MAX) == 0)
			break;
	}
	if (e != NULL && e->expires != 0 &&
	    server_now_ms() > e->expires * 1000) {
		LIST_REMOVE(e, link);
		free(e);
		e = NULL;
	}
	if (e == NULL && create) {
		e = xcalloc(1, sizeof *e);
		e->kind = kind;
		memcpy(e->key, key, KEY_MAX);
		LIST_INSERT_HEAD(&st->entries, e, link);
	}
	return (e);
}

/* Delete an entry. */
static void
entry_del(struct entry *e)
{
	LIST_REMOVE(e, link);
	free(e);
}

/* ---- operations (server.h) --------------------------------------------- */

/* Count a code request of id in its hour; read its wrong codes of day. */
int
store_code_request(struct store *st, const uint8_t id[ID_LEN],
    uint64_t hour, uint64_t hour_end, uint64_t day, store_done done,
    void *arg)
{
	struct entry	*e, *f;
	struct op	*op;

	if (st->down)
		return (-1);
	e = entry_of(st, E_CODES, id, ID_LEN, hour, 1);
	e->v[0]++;
	e->expires = hour_end;
	f = entry_of(st, E_FAILS, id, ID_LEN, day, 0);
	op = op_queue(st, done, arg);
	op->res.v[0] = e->v[0];
	op->res.v[1] = f != NULL ? f->v[0] : 0;
	return (0);
}

/* Count an attempt on a token, and a wrong code, in one step. */
int
store_code_attempt(struct store *st, const uint8_t nonce[TOKEN_NONCE],
    uint64_t token_end, const uint8_t id[ID_LEN], uint64_t day,
    uint64_t day_end, long long max_attempts, long long max_failures,
    int wrong, store_done done, void *arg)
{
	struct entry	*t, *f;
	struct op	*op;
	long long	 fails;

	if (st->down)
		return (-1);
	t = entry_of(st, E_TOKEN, nonce, TOKEN_NONCE, 0, 1);
	t->v[0]++;
	t->expires = token_end;
	f = entry_of(st, E_FAILS, id, ID_LEN, day, 0);
	fails = f != NULL ? f->v[0] : 0;
	if (t->v[0] <= max_attempts && fails < max_failures && wrong) {
		f = entry_of(st, E_FAILS, id, ID_LEN, day, 1);
		f->v[0]++;
		f->expires = day_end;
	}
	op = op_queue(st, done, arg);
	op->res.v[0] = t->v[0];
	op->res.v[1] = fails;
	return (0);
}

/* Mark a token used (INCR on it then counts past every limit). */
int
store_token_use(struct store *st, const uint8_t id[ID_LEN],
    const uint8_t nonce[TOKEN_NONCE], store_done done, void *arg)
{
	struct entry	*t;
	struct op	*op;
	long long	 old;

	if (st->down)
		return (-1);
	t = entry_of(st, E_TOKEN, nonce, TOKEN_NONCE, 0, 1);
	old = t->v[0];
	t->v[0] = USED;		/* KEEPTTL: a new key has none */
	op = op_queue(st, done, arg);
	op->res.v[0] = old >= USED;
	return (0);
}

/* Read the created and seen of an account. */
int
store_account_get(struct store *st, const uint8_t id[ID_LEN],
    store_done done, void *arg)
{
	struct entry	*a;
	struct op	*op;

	if (st->down)
		return (-1);
	a = entry_of(st, E_ACCOUNT, id, ID_LEN, 0, 0);
	op = op_queue(st, done, arg);
	if (a != NULL) {
		op->res.v[0] = a->v[0];
		op->res.v[1] = a->v[1];
	}
	return (0);
}

/* Write an account's fields and expiry. */
void
store_mem_account(struct store *st, const uint8_t id[ID_LEN],
    uint64_t created, uint64_t seen, uint64_t expires)
{
	struct entry	*a = entry_of(st, E_ACCOUNT, id, ID_LEN, 0, 1);

	a->v[0] = (long long)created;
	a->v[1] = (long long)seen;
	a->expires = expires;
}

/* Write an account and revoke the older registrations. */
int
store_account_put(struct store *st, const uint8_t id[ID_LEN],
    uint64_t created, uint64_t seen, uint64_t expires, store_done done,
    void *arg)
{
	if (st->down)
		return (-1);
	store_mem_account(st, id, created, seen, expires);
	revoke_queue(st, id, created - 1);
	op_queue(st, done, arg);
	return (0);
}

/* Write a new seen day into an existing account. */
int
store_account_seen(struct store *st, const uint8_t id[ID_LEN],
    uint64_t seen, uint64_t expires)
{
	struct entry	*a;

	if (st->down)
		return (-1);
	a = entry_of(st, E_ACCOUNT, id, ID_LEN, 0, 0);
	if (a != NULL && a->v[1] < (long long)seen) {
		a->v[1] = (long long)seen;
		a->expires = expires;
	}
	return (0);
}

/* Delete an account while it is registration created; revoke it. */
int
store_account_delete(struct store *st, const uint8_t id[ID_LEN],
    uint64_t created, store_done done, void *arg)
{
	struct entry	*a;
	struct op	*op;
	int		 deleted = 0;

	if (st->down)
		return (-1);
	a = entry_of(st, E_ACCOUNT, id, ID_LEN, 0, 0);
	if (a != NULL && (uint64_t)a->v[0] == created) {
		entry_del(a);
		revoke_queue(st, id, created);
		deleted = 1;
	}
	op = op_queue(st, done, arg);
	op->res.v[0] = deleted;
	return (0);
}

/* Take count tokens from a discovery bucket (store.c's bucket_lua). */
int
store_discovery_charge(struct store *st, const uint8_t id[ID_LEN],
    long long full, long long refill, uint64_t today, long long count,
    store_done done, void *arg)
{
	struct entry	*b;
	struct op	*op;
	long long	 tokens = full, gain;

	if (st->down)
		return (-1);
	op = op_queue(st, done, arg);
	if ((b = entry_of(st, E_DISC, id, ID_LEN, 0, 0)) != NULL) {
		gain = today > (uint64_t)b->v[1] ?
		    (long long)(today - (uint64_t)b->v[1]) * refill : 0;
		tokens = b->v[0] + gain < full ? b->v[0] + gain : full;
	}
	op->res.v[1] = tokens;
	if (count > tokens)
		return (0);
	tokens -= count;
	op->res.v[0] = 1;
	op->res.v[1] = tokens;
	if (tokens >= full) {
		if (b != NULL)
			entry_del(b);
		return (0);
	}
	if (b == NULL)
		b = entry_of(st, E_DISC, id, ID_LEN, 0, 1);
	b->v[0] = tokens;
	b->v[1] = (long long)today;
	b->expires = (today + (uint64_t)((full - tokens + refill - 1) /
	    refill)) * 86400;
	return (0);
}

/* Read the bytes id relayed on day. */
int
store_relay_spent(struct store *st, const uint8_t id[ID_LEN], uint64_t day,
    store_done done, void *arg)
{
	struct entry	*e;
	struct op	*op;

	if (st->down)
		return (-1);
	e = entry_of(st, E_RELAY, id, ID_LEN, day, 0);
	op = op_queue(st, done, arg);
	op->res.v[0] = e != NULL ? e->v[0] : 0;
	return (0);
}

/* Add n to them; the count expires at the day's end. */
int
store_relay_charge(struct store *st, const uint8_t id[ID_LEN], uint64_t day,
    uint64_t n, store_done done, void *arg)
{
	struct entry	*e;
	struct op	*op;

	if (st->down)
		return (-1);
	e = entry_of(st, E_RELAY, id, ID_LEN, day, 1);
	e->v[0] += (long long)n;
	e->expires = (day + 1) * 86400;
	if (done != NULL) {
		op = op_queue(st, done, arg);
		op->res.v[0] = e->v[0];
	}
	return (0);
}

/* Which of n IDs have accounts. */
int
store_lookup(struct store *st, const uint8_t *ids, size_t n,
    store_done done, void *arg)
{
	struct op	*op;
	size_t		 i;

	if (st->down)
		return (-1);
	op = op_queue(st, done, arg);
	op->exists = xcalloc(n > 0 ? n : 1, 1);
	for (i = 0; i < n; i++)
		op->exists[i] = entry_of(st, E_ACCOUNT, ids + ID_LEN * i,
		    ID_LEN, 0, 0) != NULL;
	op->res.exists = op->exists;
	return (0);
}

/* A node alone: what it publishes reaches no other node (v[0] 0). */
int
store_publish_id(struct store *st, const uint8_t id[ID_LEN],
    const void *payload, size_t len, store_done done, void *arg)
{
	if (st->down)
		return (-1);
	if (done != NULL)
		op_queue(st, done, arg);
	return (0);
}

/* As store_publish_id. */
int
store_publish_node(struct store *st, const char *node, const void *payload,
    size_t len, store_done done, void *arg)
{
	return (store_publish_id(st, NULL, payload, len, done, arg));
}

/* Channels: counted, and nothing else (no other node sends). */
void
store_subscribe(struct store *st, const uint8_t id[ID_LEN])
{
	st->subs++;
}

/* As store_subscribe. */
void
store_unsubscribe(struct store *st, const uint8_t id[ID_LEN])
{
	st->subs--;
}

/* Channels listened on. */
size_t
store_subscriptions(struct store *st)
{
	return (st->subs);
}
