/*
 * relay.c -- the relay of PROTOCOL.md §5.5. Each party of a session opens
 * a data connection and sends RELAY_JOIN; once both are there, the server
 * splices raw bytes between them. Back-pressure is TCP's own: a side whose
 * peer has more than relay_buffer_bytes of unsent output is not read until
 * that output drains. Relayed bytes live only in these buffers.
 */
#include <string.h>

#include <event2/bufferevent_ssl.h>
#include <event2/bufferevent.h>
#include <sodium.h>

#include "server.h"

/* How often relay_rate_bps adds tokens. */
static const struct timeval refill_tick = { 0, 100000 };

/* The other data conn of c's session, or NULL. */
static struct conn *
other_side(struct conn *c)
{
	if (c->call == NULL)
		return (NULL);
	return (c->call->relay[!c->relay_side]);
}

/* Move bytes from c to the other side, as far as its buffer allows. */
static void
relay_read(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg, *o = other_side(c);
	struct server	*srv = c->srv;
	struct evbuffer	*in = bufferevent_get_input(bev), *out;
	size_t		 room, n, limit = (size_t)srv->set.relay_buffer_bytes;
	struct call	*call = c->call;
	uint64_t	 quota = (uint64_t)srv->set.relay_session_bytes;

	if (o == NULL || o->state != CONN_RELAY)
		return;
	out = bufferevent_get_output(o->bev);
	room = evbuffer_get_length(out) < limit ?
	    limit - evbuffer_get_length(out) : 0;
	n = evbuffer_get_length(in);
	if (n > room)
		n = room;
	if (n > quota - call->relayed)
		n = (size_t)(quota - call->relayed);
	if (call->refill != NULL && n > call->tokens)
		n = (size_t)call->tokens;
	if (n > 0) {
		evbuffer_remove_buffer(in, out, n);
		call->relayed += n;
		srv->stats.relay_bytes += n;
		if (call->refill != NULL)
			call->tokens -= n;
	}
	if (call->relayed >= quota) {
		srv->stats.rate_limited[RL_RELAY_QUOTA]++;
		calls_quota(srv->calls, call);	/* closes both sides */
		return;
	}
	if (evbuffer_get_length(out) >= limit)
		bufferevent_disable(bev, EV_READ);	/* until o drains */
	else if (call->refill != NULL && call->tokens == 0) {
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
		if (evbuffer_get_length(bufferevent_get_input(o->bev)) > 0)
			relay_read(o->bev, o);
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
 * worth, and both sides read again (unless their peer's output is full).
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
	/* A relay_read may end the call (quota): from here on, only the
	 * conns, which are freed later, are looked at. */
	for (i = 0; i < 2; i++) {
		if (side[i]->state != CONN_RELAY ||
		    (bufferevent_get_enabled(side[i]->bev) & EV_READ))
			continue;
		bufferevent_enable(side[i]->bev, EV_READ);
		relay_read(side[i]->bev, side[i]);
	}
}

/* Both parties are here: RELAY_READY, then raw bytes. */
static void
relay_start(struct server *srv, struct call *call)
{
	struct msg	 m = { .type = MSG_RELAY_READY };
	struct conn	*c;
	size_t		 half = (size_t)srv->set.relay_buffer_bytes / 2;
	int		 i;

	srv->stats.relay_sessions++;
	if (srv->set.relay_rate_bps > 0) {
		call->tokens = (uint64_t)srv->set.relay_rate_bps;
		call->refill = evtimer_new(srv->base, refill_cb, call);
	}
	for (i = 0; i < 2; i++) {
		c = call->relay[i];
		evtimer_del(c->timer);
		conn_send(c, &m);
		bufferevent_setcb(c->bev, relay_read, relay_write, relay_event,
		    c);
		bufferevent_setwatermark(c->bev, EV_READ, 0, 0);
		bufferevent_setwatermark(c->bev, EV_WRITE, half, 0);
		bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	}
	for (i = 0; i < 2; i++) {
		c = call->relay[i];
		if (evbuffer_get_length(bufferevent_get_input(c->bev)) > 0)
			relay_read(c->bev, c);
	}
}

/* RELAY_JOIN, the first frame of a fresh connection. */
void
relay_join(struct conn *c, const struct msg *m)
{
	struct server	*srv = c->srv;
	struct call	*call = calls_find(srv->calls, m->u.relay_join.session);
	int		 side;

	side = call == NULL ? -1 :
	    sodium_memcmp(m->u.relay_join.relay_token, call->relay_token[0],
	    16) == 0 ? 0 :
	    sodium_memcmp(m->u.relay_join.relay_token, call->relay_token[1],
	    16) == 0 ? 1 : -1;
	if (c->nframes != 1 || side == -1 || call->state != CALL_SESSION ||
	    call->relay[side] != NULL) {
		conn_error(c, m->type, m->u.relay_join.session, ERR_NO_SESSION,
		    0, c->nframes != 1 ? "RELAY_JOIN must be the first frame "
		    "of a new connection" : side != -1 && call->state ==
		    CALL_SESSION ? "this party has joined already" :
		    "no such session");
		conn_kill(c, "relay join refused");
		return;
	}
	c->state = CONN_RELAY;
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

/* Close both data conns of a call; their output drains first. */
void
relay_close(struct server *srv, struct call *call)
{
	struct conn	*c;
	int		 i;

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
