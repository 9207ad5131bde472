/*
 * server-clients.c -- the client side of the whole-server fuzz target:
 * each client is one end of a bufferevent_pair (the server's connection
 * holds the other), sends what the program says, and reads what the
 * server sends: every frame must be a well-formed message of the
 * server's, and what a real client would keep (the CHALLENGE nonce,
 * registration tokens, credentials, sessions and relay tokens) is kept
 * for the operations that follow.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "fuzz-server.h"
#include "server.h"

/* The server did what it must not: stop. */
__attribute__((noreturn)) void
fs_wrong(const char *what)
{
	fprintf(stderr, "fuzz-server: %s\n", what);
	abort();
}

/* Forget a client; with eof the server reads an end of file first. */
void
client_close(struct client *cl, int eof)
{
	if (cl->bev == NULL)
		return;
	if (eof)
		bufferevent_flush(cl->bev, EV_WRITE, BEV_FINISHED);
	bufferevent_free(cl->bev);
	memset(cl, 0, sizeof *cl);
	cl->acct = cl->reg_acct = -1;
}

/* Remember a session the client was told of. */
static void
client_seen(struct client *cl, uint64_t session, const uint8_t token[16])
{
	struct seen	*s = &cl->seen[cl->nseen++ % nitems(cl->seen)];

	s->session = session;
	memcpy(s->relay_token, token, 16);
}

/* What a client learns from a message of the server. */
static void
client_learn(struct client *cl, const struct msg *m)
{
	switch (m->type) {
	case MSG_CHALLENGE:
		memcpy(cl->nonce, m->u.challenge.nonce, 32);
		break;
	case MSG_REGISTER_CHALLENGE:
		if (m->u.reg_challenge.token.len == TOKEN_LEN)
			memcpy(cl->token, m->u.reg_challenge.token.p,
			    TOKEN_LEN);
		break;
	case MSG_REGISTERED:
		if (cl->reg_acct >= 0)
			memcpy(fz.cred[cl->reg_acct],
			    m->u.registered.credential.p, CRED_LEN);
		break;
	case MSG_WELCOME:
		if (m->u.welcome.credential.len == CRED_LEN && cl->acct >= 0)
			memcpy(fz.cred[cl->acct],
			    m->u.welcome.credential.p, CRED_LEN);
		break;
	case MSG_INCOMING:
		client_seen(cl, m->u.incoming.session,
		    m->u.incoming.relay_token);
		break;
	case MSG_ANSWER:
		client_seen(cl, m->u.answer.session, m->u.answer.relay_token);
		break;
	case MSG_RELAY_READY:
		cl->raw = 1;
		break;
	}
	if (log_get_level() == LOG_DEBUG)
		log_debug("client %d: %s%s%.*s", (int)(cl - fz.cl),
		    proto_type_name(m->type), m->type == MSG_ERROR ? ": " : "",
		    m->type == MSG_ERROR ? (int)m->u.error.message.len : 0,
		    m->type == MSG_ERROR ? (const char *)m->u.error.message.p :
		    "");
}

/* Read what the server sent: every frame must be a well-formed message
 * of the server's; after RELAY_READY, relayed bytes. A client whose
 * connection the server freed is gone. */
static void
client_read(struct client *cl)
{
	struct evbuffer	*in = bufferevent_get_input(cl->bev);
	struct msg	 m;
	uint32_t	 len;

	for (;;) {
		if (cl->raw) {
			evbuffer_drain(in, evbuffer_get_length(in));
			break;
		}
		if (evbuffer_get_length(in) < PROTO_HDR)
			break;
		evbuffer_copyout(in, fz.frame, PROTO_HDR);
		len = proto_frame_len(fz.frame);
		if (len < 1 || len > PROTO_MAX_LEN)
			fs_wrong("the server sent a frame out of bounds");
		if (evbuffer_get_length(in) < PROTO_HDR + len)
			break;
		evbuffer_remove(in, fz.frame, PROTO_HDR + len);
		if (fz.frame[PROTO_HDR] < 0x80 ||
		    proto_decode(fz.frame[PROTO_HDR], fz.frame + PROTO_HDR + 1,
		    len - 1, &m) != 0)
			fs_wrong("the server sent a malformed message");
		m.type = fz.frame[PROTO_HDR];
		client_learn(cl, &m);
	}
	if (bufferevent_pair_get_partner(cl->bev) == NULL)
		client_close(cl, 0);
}

/* Read every client. */
void
clients_read(void)
{
	int	 i;

	for (i = 0; i < FS_SLOTS; i++) {
		if (fz.cl[i].bev != NULL)
			client_read(&fz.cl[i]);
	}
}

/* Send bytes from a client. */
void
client_send(struct client *cl, const void *p, size_t len)
{
	if (cl->bev != NULL && len > 0)
		bufferevent_write(cl->bev, p, len);
}

/* Send a message from a client (nothing if it does not encode). */
void
client_msg(struct client *cl, const struct msg *m)
{
	size_t	 n;

	if ((n = proto_encode(m, fz.frame, sizeof fz.frame)) > 0)
		client_send(cl, fz.frame, n);
}

/* The client of a slot byte. */
struct client *
client_slot(void)
{
	return (&fz.cl[fs_get() % FS_SLOTS]);
}

/* The session of an index byte among those cl was told of (else one it
 * was never told of). */
const struct seen *
client_seen_of(const struct client *cl, uint8_t idx)
{
	static struct seen	 none;
	unsigned		 n = cl->nseen < nitems(cl->seen) ? cl->nseen :
	    nitems(cl->seen);

	if (n == 0) {
		memset(&none, 0, sizeof none);
		none.session = idx;
		return (&none);
	}
	return (&cl->seen[idx % n]);
}
