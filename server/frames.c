/*
 * frames.c -- the frame reader of a control connection: whole frames off
 * the input, a bounded number per pass, the checks of PROTOCOL.md §2 in
 * their order (length, type, state, body), then the handler that the
 * message table names. The table is the state machine's other half:
 * conn.c's says how states change, this one what each state accepts.
 */
#include <string.h>

#include "server.h"

#define FRAMES_PER_PASS	16	/* then yield to other connections */

#define ANON	CONN_MASK(CONN_ANON)
#define ONLINE	CONN_MASK(CONN_ONLINE)

static void	handle_ping(struct conn *, const struct msg *);

/* The states that read frames: the longest frame each takes, and the
 * ERROR for a message it does not accept. Other states read none. */
static const struct {
	uint32_t	 max_len;
	uint16_t	 refused;
	const char	*why;
} framed[CONN_NSTATES] = {
	[CONN_CHALLENGED] = { PROTO_MAX_LEN_ANON, ERR_UNAUTHENTICATED,
	    "say HELLO first" },
	[CONN_ANON] = { PROTO_MAX_LEN_ANON, ERR_UNAUTHENTICATED,
	    "say HELLO first" },
	[CONN_ONLINE] = { PROTO_MAX_LEN, ERR_UNSUPPORTED,
	    "not allowed once online" },
};

/* Each client message: the states that accept it (PROTOCOL.md §3) and
 * its handler. A frame is handled in CONN_ANON, never CONN_CHALLENGED:
 * the first one moves the connection on before its checks. */
static const struct {
	unsigned	 states;
	void		(*handle)(struct conn *, const struct msg *);
} commands[0x80] = {
	[MSG_REGISTER_BEGIN] =	{ ANON, register_begin },
	[MSG_REGISTER_FINISH] =	{ ANON, register_finish },
	[MSG_HELLO] =		{ ANON, auth_hello },
	[MSG_OPRF_EVAL] =	{ ONLINE, discovery_oprf },
	[MSG_LOOKUP] =		{ ONLINE, discovery_lookup },
	[MSG_CONNECT] =		{ ONLINE, rendezvous_connect },
	[MSG_ACCEPT] =		{ ONLINE, rendezvous_accept },
	[MSG_DECLINE] =		{ ONLINE, rendezvous_decline },
	[MSG_END] =		{ ONLINE, rendezvous_end },
	[MSG_RELAY_JOIN] =	{ ANON, relay_join },
	[MSG_DELETE_ACCOUNT] =	{ ONLINE, auth_delete },
	[MSG_PING] =		{ ANON | ONLINE, handle_ping },
};

/* Answer PING. */
static void
handle_ping(struct conn *c, const struct msg *m)
{
	struct msg	 r = { .type = MSG_PONG };

	r.u.ping.nonce = m->u.ping.nonce;
	conn_send(c, &r);
}

/* One frame: the checks of §2 in their order, then its handler. */
static void
handle_frame(struct conn *c, uint8_t type, const uint8_t *body, size_t len)
{
	struct msg	 m;

	if (!proto_known(type) || type >= 0x80 ||
	    commands[type].handle == NULL) {
		conn_error(c, type, 0, ERR_UNSUPPORTED, 0, "unknown type");
		return;
	}
	if ((commands[type].states & CONN_MASK(c->state)) == 0) {
		conn_error(c, type, 0, framed[c->state].refused, 0,
		    framed[c->state].why);
		return;
	}
	if (proto_decode_v(type, body, len, c->v2 ? 2 : 1, &m) != 0) {
		c->srv->stats.malformed++;
		conn_error(c, type, 0, ERR_MALFORMED, 0, "malformed message");
		conn_kill(c, "malformed");
		return;
	}
	commands[type].handle(c, &m);
}

/* The first frame ends the handshake timeout; the lifetime starts. */
static void
first_frame(struct conn *c, uint64_t now)
{
	uint64_t	 end;

	conn_set_state(c, CONN_ANON);
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
		if ((max = framed[c->state].max_len) == 0)
			return;		/* not (or no longer) framed */
		if (c->busy || evbuffer_get_length(in) < PROTO_HDR)
			return;
		evbuffer_copyout(in, hdr, PROTO_HDR);
		len = proto_frame_len(hdr);
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
		if (c->state == CONN_CHALLENGED)
			first_frame(c, c->last_rx);
		handle_frame(c, srv->frame[PROTO_HDR],
		    srv->frame + PROTO_HDR + 1, len - 1);
	}
	if (evbuffer_get_length(in) >= PROTO_HDR)
		bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
}
