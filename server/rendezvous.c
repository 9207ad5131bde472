/*
 * rendezvous.c -- introductions: CONNECT, ACCEPT, DECLINE, END on online
 * connections, glued to the pure bookkeeping of calls.c. Nothing about a
 * call is logged at the default level, and nothing outlives it.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "server.h"

#define MINUTE	60ULL

/* The conn's part in calls, made when first needed. */
static struct party *
party_of(struct conn *c)
{
	if (c->party == NULL) {
		c->party = xmalloc(sizeof *c->party);
		calls_party_init(c->party, c, c->id);
	}
	return (c->party);
}

/* The credential of a party of a call, here or elsewhere. */
static const uint8_t *
cred_of(struct party *p)
{
	return (p->remote ? bus_cred(p) : ((struct conn *)p->owner)->cred);
}

/* A vbytes value holding a string. */
static struct vb
text_vb(const char *s)
{
	struct vb	 v = { (const uint8_t *)s, (uint16_t)strlen(s) };

	return (v);
}

/* Send what the book noted. Only queues output: the book goes on with
 * the call and its parties after this returns (calls.c). A note for a
 * party on another node goes to bus.c. */
static void
notify(void *arg, struct call *call, struct party *to, enum call_note note,
    int detail, const struct vb *data)
{
	struct server	*srv = arg;
	struct conn	*c;
	struct msg	 m;

	if (note == NOTE_GONE) {
		relay_close(srv, call);
		if (call->caller->remote)
			bus_note(srv, call, call->caller, note, 0, NULL);
		if (call->callee->remote)
			bus_note(srv, call, call->callee, note, 0, NULL);
		return;
	}
	if (to->remote) {
		bus_note(srv, call, to, note, detail, data);
		return;
	}
	c = to->owner;
	memset(&m, 0, sizeof m);
	switch (note) {
	case NOTE_INCOMING:
		m.type = MSG_INCOMING;
		m.u.incoming.session = call->session;
		m.u.incoming.caller_credential.p = cred_of(call->caller);
		m.u.incoming.caller_credential.len = CRED_LEN;
		m.u.incoming.offer = *data;
		memcpy(m.u.incoming.relay_token, call->relay_token[1], 16);
		/* tryst/2: the relay is the caller's node's. */
		m.u.incoming.relay = text_vb(call->caller->remote ?
		    bus_relay(call->caller) : srv->set.relay_endpoint);
		break;
	case NOTE_ANSWER:
		m.type = MSG_ANSWER;
		m.u.answer.tag = call->tag;
		m.u.answer.session = call->session;
		m.u.answer.callee_credential.p = cred_of(call->callee);
		m.u.answer.callee_credential.len = CRED_LEN;
		m.u.answer.answer = *data;
		memcpy(m.u.answer.relay_token, call->relay_token[0], 16);
		m.u.answer.relay = text_vb(srv->set.relay_endpoint);
		srv->stats.intro_answered++;
		break;
	case NOTE_DECLINED:
		srv->stats.intro_declined++;
		m.type = MSG_DECLINED;
		m.u.declined.tag = call->tag;
		m.u.declined.reason = (uint8_t)detail;
		break;
	case NOTE_ENDED:
		m.type = MSG_ENDED;
		m.u.ended.session = call->session;
		m.u.ended.why = (uint8_t)detail;
		break;
	case NOTE_ERROR:
		if (detail == ERR_TIMEOUT)
			srv->stats.intro_timeout++;
		else if (detail == ERR_OFFLINE)
			srv->stats.intro_offline++;
		if (detail == ERR_QUOTA)
			conn_error(c, MSG_RELAY_JOIN, call->session, ERR_QUOTA, 0,
			    call->over_budget ? "daily relay budget of a party "
			    "spent" : "relay quota of this session reached");
		else
			conn_error(c, MSG_CONNECT, call->tag, (uint16_t)detail,
			    0, detail == ERR_TIMEOUT ? "no answer in time" :
			    detail == ERR_UNSUPPORTED ? "the callee is on another "
			    "node: tryst/2 needed" : detail == ERR_LIMIT ?
			    "the callee has too many calls" :
			    "the callee is not online");
		return;
	case NOTE_GONE:
		return;
	}
	conn_send(c, &m);
}

/* Start the book and its second timer. */
void
rendezvous_init(struct server *srv)
{
	srv->calls = calls_new(notify, srv, NULL);
	srv->connects = table_new(ID_LEN);
	bus_init(srv);
	calls_limits(srv->calls, (int)srv->set.max_pending_calls,
	    (int)srv->set.max_sessions,
	    (uint64_t)srv->set.call_timeout_s * 1000);
}

/* Drop a window. */
static void
free_window(const uint8_t *key, void *value, void *arg)
{
	table_del(arg, key);
	free(value);
}

/* Free the book (all connections are gone). */
void
rendezvous_free(struct server *srv)
{
	table_each(srv->connects, free_window, srv->connects);
	table_free(srv->connects);
	calls_free(srv->calls);
	srv->calls = NULL;	/* relay.c's charges may still be answered */
	bus_free(srv);
}

/* Once a second: time out ringing calls; each minute, forget the
 * connect counters of the last minute. */
void
rendezvous_tick(struct server *srv)
{
	uint64_t	 now = server_now();

	calls_limits(srv->calls, (int)srv->set.max_pending_calls,
	    (int)srv->set.max_sessions,
	    (uint64_t)srv->set.call_timeout_s * 1000);
	calls_expire(srv->calls, server_now_ms());
	bus_tick(srv);
	if (srv->connects_minute != now / MINUTE) {
		table_each(srv->connects, free_window, srv->connects);
		srv->connects_minute = now / MINUTE;
	}
}

/* connects_per_minute of the caller's account; 0 if within it. */
static int
count_connect(struct conn *c, uint64_t now)
{
	struct server	*srv = c->srv;
	struct rlwin	*w;

	if ((w = table_get(srv->connects, c->id)) == NULL) {
		w = xcalloc(1, sizeof *w);
		table_set(srv->connects, c->id, w);
	}
	return (rl_hit(w, now / MINUTE, srv->set.connects_per_minute));
}

/* CONNECT: ring the callee's presence connection. */
void
rendezvous_connect(struct conn *c, const struct msg *m)
{
	struct server	*srv = c->srv;
	struct conn	*callee;
	struct party	*p;
	uint64_t	 now = server_now();
	uint32_t	 tag = m->u.connect.tag;
	int		 rv;

	if (m->u.connect.offer.len > srv->set.max_offer_bytes) {
		conn_error(c, m->type, tag, ERR_TOO_LARGE, 0,
		    "offer larger than max_offer_bytes");
		return;
	}
	if (count_connect(c, now) != 0) {
		srv->stats.rate_limited[RL_CONNECTS]++;
		conn_error(c, m->type, tag, ERR_RATE_LIMITED,
		    (uint32_t)(MINUTE - now % MINUTE), "too many calls");
		return;
	}
	/* A callee without presence here may have it on another node: a
	 * stand-in rings it there (bus.c). */
	if ((callee = presence_find(srv, m->u.connect.target_id)) != NULL)
		p = party_of(callee);
	else
		p = bus_callee(srv, m->u.connect.target_id);
	rv = calls_connect(srv->calls, party_of(c), tag,
	    m->u.connect.target_id, p, server_now_ms(), &m->u.connect.offer);
	if (rv != 0 && p != NULL && p->remote)
		bus_note(srv, NULL, p, NOTE_GONE, 0, NULL);
	if (rv == ERR_OFFLINE)
		srv->stats.intro_offline++;
	if (rv != 0)
		conn_error(c, m->type, tag, (uint16_t)rv, 0,
		    rv == ERR_OFFLINE ? "the callee is not online" :
		    rv == ERR_LIMIT ? "too many calls on this connection" :
		    "cannot call this");
}

/* An error for a request about a session, or nothing when it crossed. */
static void
session_error(struct conn *c, uint8_t type, uint64_t session, int rv)
{
	if (rv <= 0)
		return;
	conn_error(c, type, session, (uint16_t)rv, 0,
	    rv == ERR_LIMIT ? "too many sessions on this connection" :
	    "no such call");
}

/* ACCEPT: the callee answers. */
void
rendezvous_accept(struct conn *c, const struct msg *m)
{
	if (m->u.accept.answer.len > c->srv->set.max_offer_bytes) {
		conn_error(c, m->type, m->u.accept.session, ERR_TOO_LARGE, 0,
		    "answer larger than max_offer_bytes");
		return;
	}
	session_error(c, m->type, m->u.accept.session,
	    calls_accept(c->srv->calls, party_of(c), m->u.accept.session,
	    &m->u.accept.answer));
}

/* DECLINE: the callee refuses. */
void
rendezvous_decline(struct conn *c, const struct msg *m)
{
	session_error(c, m->type, m->u.decline.session,
	    calls_decline(c->srv->calls, party_of(c), m->u.decline.session,
	    m->u.decline.reason));
}

/* END: either party hangs up. */
void
rendezvous_end(struct conn *c, const struct msg *m)
{
	session_error(c, m->type, m->u.end.session,
	    calls_end(c->srv->calls, party_of(c), m->u.end.session));
}

/* The mirror of a call that another node rang: its callee is here, its
 * caller the stand-in caller. 0 or an error code. */
int
rendezvous_mirror(struct server *srv, struct party *caller,
    struct conn *callee, uint64_t session, const uint8_t tokens[2][16],
    const struct vb *offer)
{
	return (calls_ring(srv->calls, caller, party_of(callee), session,
	    tokens, server_now_ms(), offer));
}

/* c is going: its calls end, the other parties hear it. */
void
rendezvous_leave(struct conn *c)
{
	if (c->party == NULL)
		return;
	calls_leave(c->srv->calls, c->party);
	sodium_memzero(c->party, sizeof *c->party);
	free(c->party);
	c->party = NULL;
}
