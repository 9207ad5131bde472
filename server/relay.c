/*
 * relay.c -- the relay of PROTOCOL.md §5.5. Each party of a session opens
 * a data connection and sends RELAY_JOIN; once both are there, the server
 * splices raw bytes between them. Back-pressure is TCP's own: a side whose
 * peer has more than relay_buffer_bytes of unsent output is not read until
 * that output drains. Relayed bytes live only in these buffers.
 *
 * A session's relay runs once: after RELAY_READY went out, a RELAY_JOIN
 * for the session is refused, so its quota cannot be started over.
 *
 * relay_account_daily_bytes: each party's account is charged what the
 * party sends, in a Redis counter of the UTC day (store_relay_*). A join
 * reads the count first and is refused when it is spent; a session adds
 * to it a batch (FLUSH_BYTES) at a time and what is left at its end, and
 * ends, as the quota ends it, when a party's budget is spent.
 *
 * Lifetime: relay_read may reach the quota, which frees the call and
 * kills both data conns (freed on a later loop pass). So relay_read runs
 * only as a bufferevent read callback, never from a loop or another
 * callback that goes on afterwards: those ask for it with read_soon.
 */
#include <string.h>

#include <event2/bufferevent_ssl.h>
#include <event2/bufferevent.h>
#include <sodium.h>

#include "server.h"

#define DAY		86400ULL

/* Bytes of a party that a session adds to its daily count in one INCRBY
 * (but the last): a MiB, or an eighth of a smaller budget's. Redis hears
 * from a busy session about once per batch a party sends, never once per
 * read. Another session of the same account counts them late, so an
 * account may pass its budget by about a batch per session it has. */
#define FLUSH_BYTES	(1 << 20)
#define FLUSH_PARTS	8

/* An INCRBY of a party's bytes, waiting for the new count. */
struct charge {
	uint64_t	 session;
	uint64_t	 day;
	uint64_t	 n;
	int		 side;
};

/* A RELAY_JOIN waiting for its party's count of the day. */
struct joinreq {
	struct conn	*c;
	uint64_t	 session;
	uint8_t		 token[16];
};

/* How often relay_rate_bps adds tokens. */
static const struct timeval refill_tick = { 0, 100000 };

/*
 * Read high mark of a relaying side, there only for its size. Without a
 * mark libevent's OpenSSL bufferevent asks for 4 KiB per read and a 16 KiB
 * record becomes input chains, and so output records, of about 8 KiB;
 * with one it asks for up to 16 KiB (max_single_read), which halves the
 * records written. The mark must never be reached: there libevent stops
 * reading, and a record's tail already decrypted inside OpenSSL would
 * wait for a socket event that may not come. It is not: one libevent
 * read pass adds at most 16 KiB plus a record's tail; relay_read runs
 * after each pass and leaves the input empty or turns reading off
 * (back-pressure, relay_rate_bps), and when reading is turned on again,
 * read_soon's deferred relay_read runs before the socket is read. So the
 * input never holds more than it held at relay_start (below the frame
 * reader's mark plus a record) and 32 KiB; the mark is far above both.
 */
#define RELAY_READ_MARK		(1 << 20)
_Static_assert(RELAY_READ_MARK > PROTO_MAX_FRAME + 4 * 16384,
    "RELAY_READ_MARK must stay out of the input's reach");

/* The other data conn of c's session, or NULL. */
static struct conn *
other_side(struct conn *c)
{
	if (c->call == NULL)
		return (NULL);
	return (c->call->relay[!c->relay_side]);
}

/* Run c's read callback on a later pass if it has input waiting (data
 * read before the relay started, or while it was paused, brings no new
 * read event). Frees nothing. */
static void
read_soon(struct conn *c)
{
	if (c->state == CONN_RELAY &&
	    evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
		bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
}

/* Bytes relay_node_rate_bps lets this node's relay move now (a bucket
 * of up to a second's worth), UINT64_MAX without a cap; in *r, the rate
 * to take them at. */
static uint64_t
node_tokens(struct server *srv, struct rlrate *r)
{
	if (srv->set.relay_node_rate_bps == 0)
		return (UINT64_MAX);
	rl_rate_set(r, srv->set.relay_node_rate_bps, 1000,
	    srv->set.relay_node_rate_bps);
	return (rl_tokens(&srv->relay_bucket, r, server_now_ms()));
}

/* The account of side i of call. */
static const uint8_t *
side_id(const struct call *call, int i)
{
	return (i == 0 ? call->caller->id : call->callee->id);
}

/* Today's UTC day number. */
static uint64_t
today(void)
{
	return (server_now() / DAY);
}

/* A party's budget is spent: the session ends as the quota ends it.
 * Frees call. */
static void
over_budget(struct server *srv, struct call *call)
{
	srv->stats.rate_limited[RL_RELAY_BUDGET]++;
	call->over_budget = 1;
	calls_quota(srv->calls, call);
}

/* Redis counted a batch of a party (or could not): the session learns
 * the account's count, which other sessions may have spent. Ends the
 * session when it is spent, unless it ended already. Runs also after
 * the book is gone (store_free at exit). */
static void
charged(struct server *srv, const struct store_result *res, void *arg)
{
	struct charge	*r = arg;
	struct call	*call = NULL;
	uint64_t	 budget = (uint64_t)srv->set.relay_account_daily_bytes;

	if (srv->calls != NULL)
		call = calls_find(srv->calls, r->session);

	if (call != NULL && call->relay_ran) {
		rl_spend_settle(&call->spend[r->side], r->n, res->ok, r->day,
		    res->ok ? (uint64_t)res->v[0] : 0);
		/* A session whose relay closed goes on without it. */
		if (budget > 0 && call->relay[0] != NULL &&
		    rl_spend_left(&call->spend[r->side], today(), budget) == 0)
			over_budget(srv, call);	/* frees call */
	}
	free(r);
}

/* Add what side of call sent to its account's count: a batch, or at the
 * session's end (last) all that is left, then without an answer. */
static void
charge(struct server *srv, struct call *call, int side, int last)
{
	struct rlspend	*sp = &call->spend[side];
	uint64_t	 batch, n, day = today();
	struct charge	*r;

	batch = (uint64_t)srv->set.relay_account_daily_bytes / FLUSH_PARTS;
	if (batch > FLUSH_BYTES)
		batch = FLUSH_BYTES;
	n = rl_spend_flush(sp, batch, last);	/* batch 0: at once */

	if (n == 0)
		return;
	if (last) {
		(void)store_relay_charge(srv->store, side_id(call, side), day,
		    n, NULL, NULL);
		return;
	}
	r = xmalloc(sizeof *r);
	r->session = call->session;
	r->day = day;
	r->n = n;
	r->side = side;
	if (store_relay_charge(srv->store, side_id(call, side), day, n,
	    charged, r) != 0) {
		rl_spend_settle(sp, n, 0, day, 0);
		free(r);
	}
}

/* Move bytes from c to the other side, as far as its buffer, the
 * session's and the node's rates and c's party's daily budget allow.
 * May free c's call (the quota, the budget): the read callback only,
 * nothing after it. */
static void
relay_read(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg, *o = other_side(c);
	struct server	*srv = c->srv;
	struct evbuffer	*in = bufferevent_get_input(bev), *out;
	size_t		 room, n, limit = (size_t)srv->set.relay_buffer_bytes;
	struct call	*call = c->call;
	uint64_t	 quota = (uint64_t)srv->set.relay_session_bytes, node;
	uint64_t	 budget = (uint64_t)srv->set.relay_account_daily_bytes;
	uint64_t	 left = UINT64_MAX;
	struct rlspend	*sp;
	struct rlrate	 rate;

	if (c->state != CONN_RELAY || o == NULL || o->state != CONN_RELAY)
		return;
	sp = &call->spend[c->relay_side];
	if (budget > 0)
		left = rl_spend_left(sp, today(), budget);
	node = node_tokens(srv, &rate);
	out = bufferevent_get_output(o->bev);
	room = evbuffer_get_length(out) < limit ?
	    limit - evbuffer_get_length(out) : 0;
	n = evbuffer_get_length(in);
	if (n > room)
		n = room;
	/* A SIGHUP may have lowered the quota below what was relayed. */
	if (call->relayed >= quota)
		n = 0;
	else if (n > quota - call->relayed)
		n = (size_t)(quota - call->relayed);
	if (n > call->tokens)
		n = (size_t)call->tokens;
	if (n > node)
		n = (size_t)node;
	if (n > left)
		n = (size_t)left;
	if (n > 0) {
		evbuffer_remove_buffer(in, out, n);
		call->relayed += n;
		srv->stats.relay_bytes += n;
		call->tokens -= n;
		if (node != UINT64_MAX)
			rl_take(&srv->relay_bucket, &rate, server_now_ms(), n);
		if (budget > 0) {
			rl_spend_add(sp, n);
			left -= n;
		}
	}
	if (call->relayed >= quota) {
		srv->stats.rate_limited[RL_RELAY_QUOTA]++;
		/* Frees call, kills c and o: look at neither again. */
		calls_quota(srv->calls, call);
		return;
	}
	if (left == 0) {
		over_budget(srv, call);		/* the same */
		return;
	}
	charge(srv, call, c->relay_side, 0);
	if (evbuffer_get_length(out) >= limit)
		bufferevent_disable(bev, EV_READ);	/* until o drains */
	else if (call->tokens == 0 || n == node) {	/* a bucket is dry */
		bufferevent_disable(bev, EV_READ);	/* until the refill */
		if (!evtimer_pending(call->refill, NULL))
			evtimer_add(call->refill, &refill_tick);
	}
}

/* c's output drained below the low mark: read its peer again. */
static void
relay_write(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg, *o = other_side(c);

	if (c->state == CONN_DEAD) {
		/* Closed by relay_close, and now drained: free it. */
		if (evbuffer_get_length(bufferevent_get_output(bev)) == 0)
			conn_timer_in(c, 0);
		return;
	}
	if (o == NULL || o->state != CONN_RELAY)
		return;
	if (!(bufferevent_get_enabled(o->bev) & EV_READ)) {
		bufferevent_enable(o->bev, EV_READ);
		read_soon(o);
	}
}

/* A side closed or failed: the session's relay ends. */
static void
relay_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*c = arg;

	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		relay_detach(c);
}

/* relay_rate_bps: a tenth of a second's worth of tokens, up to a second's
 * worth (no cap: as many as can be), and both sides read again (unless
 * their peer's output is full); relay_read looks at the node's bucket.
 * The relay's own bucket, not libevent's: a rate-limited TLS bufferevent
 * can leave a record's tail inside OpenSSL, unread until more arrives. */
static void
refill_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct call	*call = arg;
	struct conn	*side[2] = { call->relay[0], call->relay[1] };
	uint64_t	 rate = (uint64_t)side[0]->srv->set.relay_rate_bps;
	int		 i;

	call->tokens += rate / 10 > 0 ? rate / 10 : 1;
	if (call->tokens > rate)
		call->tokens = rate;
	if (rate == 0)
		call->tokens = UINT64_MAX;	/* the cap went on SIGHUP */
	for (i = 0; i < 2; i++) {
		if (side[i]->state != CONN_RELAY ||
		    (bufferevent_get_enabled(side[i]->bev) & EV_READ))
			continue;
		bufferevent_enable(side[i]->bev, EV_READ);
		read_soon(side[i]);
	}
}

/* Both parties are here: RELAY_READY, then raw bytes. Bytes that came
 * with a RELAY_JOIN are moved on a later pass: moving them here could
 * reach the quota and free the call under this loop. */
static void
relay_start(struct server *srv, struct call *call)
{
	struct msg	 m = { .type = MSG_RELAY_READY };
	struct conn	*side[2] = { call->relay[0], call->relay[1] };
	size_t		 half = (size_t)srv->set.relay_buffer_bytes / 2;
	int		 i;

	srv->stats.relay_sessions++;
	call->relay_ran = 1;
	/* Every session has its refill timer, so that a cap turned on by
	 * SIGHUP can pause it and read it again. */
	call->tokens = srv->set.relay_rate_bps > 0 ?
	    (uint64_t)srv->set.relay_rate_bps : UINT64_MAX;
	if ((call->refill = evtimer_new(srv->base, refill_cb, call)) == NULL)
		fatalx("evtimer_new");
	/* Only the conns are looked at: they outlive this pass. */
	for (i = 0; i < 2; i++) {
		if (side[i]->state != CONN_RELAY)
			continue;
		evtimer_del(side[i]->timer);
		conn_send(side[i], &m);
		bufferevent_setcb(side[i]->bev, relay_read, relay_write,
		    relay_event, side[i]);
		bufferevent_setwatermark(side[i]->bev, EV_READ, 0,
		    RELAY_READ_MARK);
		bufferevent_setwatermark(side[i]->bev, EV_WRITE, half, 0);
		bufferevent_enable(side[i]->bev, EV_READ | EV_WRITE);
	}
	for (i = 0; i < 2; i++)
		read_soon(side[i]);
}

/* Why c may not join call as side, or NULL. */
static const char *
join_refusal(const struct conn *c, const struct call *call, int side)
{
	if (c->nframes != 1)
		return ("RELAY_JOIN must be the first frame of a new "
		    "connection");
	if (side == -1 || call->state != CALL_SESSION)
		return ("no such session");
	if (call->relay[side] != NULL)
		return ("this party has joined already");
	if (call->relay_ran)
		return ("the relay of this session has ended");
	return (NULL);
}

/* The call of session, in *callp, and the side whose token this is, or
 * -1 if none. */
static int
find_side(struct server *srv, uint64_t session, const uint8_t token[16],
    struct call **callp)
{
	struct call	*call = calls_find(srv->calls, session);

	*callp = call;
	/* A call whose caller is on another node is a mirror: its relay is
	 * on the caller's node (bus.c). */
	if (call == NULL || call->caller->remote)
		return (-1);
	if (sodium_memcmp(token, call->relay_token[0], 16) == 0)
		return (0);
	if (sodium_memcmp(token, call->relay_token[1], 16) == 0)
		return (1);
	return (-1);
}

/* Refuse c's RELAY_JOIN for session and close c. */
static void
refuse(struct conn *c, uint64_t session, uint16_t code, uint32_t retry_s,
    const char *why)
{
	conn_error(c, MSG_RELAY_JOIN, session, code, retry_s, why);
	conn_kill(c, "relay join refused");
}

/* c joins call as side: it waits for the other, or the relay starts. */
static void
enter(struct conn *c, struct call *call, int side)
{
	struct server	*srv = c->srv;

	conn_set_state(c, CONN_RELAY);
	c->call = call;
	c->relay_side = (unsigned)side;
	call->relay[side] = c;
	if (call->relay[!side] == NULL) {
		/* The first waits up to call_timeout_s for the second. */
		bufferevent_disable(c->bev, EV_READ);
		conn_timer_in(c, (uint64_t)srv->set.call_timeout_s);
		return;
	}
	relay_start(srv, call);
}

/* The party's count of today came (or did not): join, unless it is
 * spent, or c or the call went meanwhile. c was held: no frame was read
 * since, and the bytes after RELAY_JOIN wait for the relay. */
static void
join_counted(struct server *srv, const struct store_result *res, void *arg)
{
	struct joinreq	*r = arg;
	struct conn	*c = r->c;
	struct call	*call;
	const char	*why;
	uint64_t	 budget = (uint64_t)srv->set.relay_account_daily_bytes;
	uint64_t	 now = server_now();
	int		 side;

	c->busy = 0;
	side = find_side(srv, r->session, r->token, &call);
	if (c->state == CONN_DEAD)
		goto out;
	if (!res->ok)
		refuse(c, r->session, ERR_UNAVAILABLE,
		    store_retry_after(srv->store), "storage unavailable");
	else if ((why = join_refusal(c, call, side)) != NULL)
		refuse(c, r->session, ERR_NO_SESSION, 0, why);
	else if (budget > 0 && (uint64_t)res->v[0] >= budget) {
		srv->stats.rate_limited[RL_RELAY_BUDGET]++;
		refuse(c, r->session, ERR_RATE_LIMITED,
		    (uint32_t)rl_day_left_s(now), "the daily relay budget of "
		    "this account is spent");
	} else {
		rl_spend_seen(&call->spend[side], now / DAY,
		    (uint64_t)res->v[0]);
		enter(c, call, side);
	}
out:
	sodium_memzero(r, sizeof *r);
	free(r);
	conn_unref(c);		/* may free c */
}

/* RELAY_JOIN, the first frame of a fresh connection. With
 * relay_account_daily_bytes, the party's count of the day is read
 * first; c reads nothing meanwhile. */
void
relay_join(struct conn *c, const struct msg *m)
{
	struct server	*srv = c->srv;
	uint64_t	 session = m->u.relay_join.session;
	struct call	*call;
	struct joinreq	*r;
	const char	*why;
	int		 side;

	side = find_side(srv, session, m->u.relay_join.relay_token, &call);
	if ((why = join_refusal(c, call, side)) != NULL) {
		refuse(c, session, ERR_NO_SESSION, 0, why);
		return;
	}
	if (srv->set.relay_account_daily_bytes == 0) {
		enter(c, call, side);
		return;
	}
	if (!store_up(srv->store)) {
		refuse(c, session, ERR_UNAVAILABLE,
		    store_retry_after(srv->store), "storage unavailable");
		return;
	}
	r = conn_req_new(c, sizeof *r);
	r->c = c;
	r->session = session;
	memcpy(r->token, m->u.relay_join.relay_token, 16);
	if (store_relay_spent(srv->store, side_id(call, side), today(),
	    join_counted, r) != 0) {
		c->busy = 0;
		refuse(c, session, ERR_UNAVAILABLE,
		    store_retry_after(srv->store), "storage unavailable");
		sodium_memzero(r, sizeof *r);
		free(r);
		conn_unref(c);
	}
}

/* Close both data conns of a call; their output drains first. */
void
relay_close(struct server *srv, struct call *call)
{
	struct conn	*c;
	int		 i;

	/* What the parties sent and Redis has not counted yet. */
	for (i = 0; i < 2; i++)
		charge(srv, call, i, 1);
	for (i = 0; i < 2; i++) {
		if ((c = call->relay[i]) == NULL)
			continue;
		call->relay[i] = NULL;
		c->call = NULL;
		/* The write callback says when the last byte has gone. */
		bufferevent_setwatermark(c->bev, EV_WRITE, 0, 0);
		conn_kill(c, "relay closed");
	}
	if (call->refill != NULL) {
		event_free(call->refill);
		call->refill = NULL;
	}
}

/* A data conn is going: the other side goes too. */
void
relay_detach(struct conn *c)
{
	if (c->call != NULL)
		relay_close(c->srv, c->call);
	else
		conn_kill(c, "relay closed");
}
