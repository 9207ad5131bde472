/*
 * frames.c -- the frame reader of a control connection: whole frames off
 * the input, a bounded number per pass, the checks of PROTOCOL.md §2 in
 * their order (length, type, state, body), then dispatch by type.
 */
#include <string.h>

#include "server.h"

#define FRAMES_PER_PASS	16	/* then yield to other connections */

/* 1 if a client message of this type is allowed in c's state. */
static int
allowed(const struct conn *c, uint8_t type)
{
	int	 anon_only;

	anon_only = type == MSG_REGISTER_BEGIN || type == MSG_REGISTER_FINISH ||
	    type == MSG_HELLO || type == MSG_RELAY_JOIN;
	if (c->state == CONN_ANON)
		return (anon_only || type == MSG_PING);
	return (!anon_only);
}

/* Answer PING. */
static void
handle_ping(struct conn *c, const struct msg *m)
{
	struct msg	 r = { .type = MSG_PONG };

	r.u.ping.nonce = m->u.ping.nonce;
	conn_send(c, &r);
}

/* Dispatch one decoded message. */
static void
dispatch(struct conn *c, const struct msg *m)
{
	switch (m->type) {
	case MSG_PING:
		handle_ping(c, m);
		break;
	case MSG_REGISTER_BEGIN:
		register_begin(c, m);
		break;
	case MSG_REGISTER_FINISH:
		register_finish(c, m);
		break;
	case MSG_HELLO:
		auth_hello(c, m);
		break;
	case MSG_DELETE_ACCOUNT:
		auth_delete(c, m);
		break;
	case MSG_OPRF_EVAL:
		discovery_oprf(c, m);
		break;
	case MSG_LOOKUP:
		discovery_lookup(c, m);
		break;
	case MSG_RELAY_JOIN:
		relay_join(c, m);
		break;
	case MSG_CONNECT:
		rendezvous_connect(c, m);
		break;
	case MSG_ACCEPT:
		rendezvous_accept(c, m);
		break;
	case MSG_DECLINE:
		rendezvous_decline(c, m);
		break;
	case MSG_END:
		rendezvous_end(c, m);
		break;
	default:
		conn_error(c, m->type, 0, ERR_UNSUPPORTED, 0,
		    "not supported by this server");
		break;
	}
}

/* One frame: the checks of §2 in their order, then dispatch. */
static void
handle_frame(struct conn *c, uint8_t type, const uint8_t *body, size_t len)
{
	struct msg	 m;

	if (!proto_known(type) || type >= 0x80) {
		conn_error(c, type, 0, ERR_UNSUPPORTED, 0, "unknown type");
		return;
	}
	if (!allowed(c, type)) {
		if (c->state == CONN_ANON)
			conn_error(c, type, 0, ERR_UNAUTHENTICATED, 0,
			    "say HELLO first");
		else
			conn_error(c, type, 0, ERR_UNSUPPORTED, 0,
			    "not allowed once online");
		return;
	}
	if (proto_decode(type, body, len, &m) != 0) {
		c->srv->stats.malformed++;
		conn_error(c, type, 0, ERR_MALFORMED, 0, "malformed message");
		conn_kill(c, "malformed");
		return;
	}
	dispatch(c, &m);
}

/* The first frame ends the handshake timeout; the lifetime starts. */
static void
first_frame(struct conn *c, uint64_t now)
{
	uint64_t	 end;

	c->got_frame = 1;
	end = c->accepted + (uint64_t)c->srv->set.anonymous_lifetime_s;
	conn_timer_in(c, end > now ? end - now : 0);
}

/* Take whole frames off the input, a bounded number per pass. */
void
frames_process(struct conn *c)
{
	struct server	*srv = c->srv;
	struct evbuffer	*in = bufferevent_get_input(c->bev);
	uint8_t		 hdr[PROTO_HDR];
	uint32_t	 len, max;
	int		 n;

	for (n = 0; n < FRAMES_PER_PASS; n++) {
		if (c->state != CONN_ANON && c->state != CONN_ONLINE)
			return;
		if (c->busy || evbuffer_get_length(in) < PROTO_HDR)
			return;
		evbuffer_copyout(in, hdr, PROTO_HDR);
		len = proto_frame_len(hdr);
		max = c->state == CONN_ONLINE ? PROTO_MAX_LEN :
		    PROTO_MAX_LEN_ANON;
		if (len < 1 || len > max) {
			srv->stats.malformed++;
			conn_error(c, 0, 0, ERR_MALFORMED, 0,
			    "frame length out of bounds");
			conn_kill(c, "frame length");
			return;
		}
		if (evbuffer_get_length(in) < PROTO_HDR + len)
			return;
		evbuffer_remove(in, srv->frame, PROTO_HDR + len);
		c->last_rx = server_now();
		if (c->nframes < UINT8_MAX)
			c->nframes++;
		if (!c->got_frame)
			first_frame(c, c->last_rx);
		handle_frame(c, srv->frame[PROTO_HDR],
		    srv->frame + PROTO_HDR + 1, len - 1);
	}
	if (evbuffer_get_length(in) >= PROTO_HDR)
		bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
}
