/*
 * online.c -- a control connection after HELLO: bound to the local port P
 * that the direct paths share (PROTOCOL.md §6.2), kept alive with PING
 * before idle_timeout_s, and watched during a call for ENDED, GOAWAY and
 * calls that must be declined as busy.
 */
#include <sys/types.h>

#include <err.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "client.h"

#define ONLINE_PING_DIV	3	/* PING after a third of idle_timeout_s */

/* Load the credential and identity key, checking they belong together. */
static int
online_load(struct online *o, char **cause)
{
	char	*why;

	if (*o->ctx->conf.number == '\0') {
		xasprintf(cause, "not registered; run: tryst register NUMBER");
		return (-1);
	}
	if (state_cred_load(o->ctx->blobs, o->ctx->sign_pk, o->cred, &o->cr,
	    &why) != 0) {
		xasprintf(cause, "%s; run: tryst register NUMBER", why);
		free(why);
		return (-1);
	}
	if ((o->sk = state_identity_load(o->ctx->blobs, cause)) == NULL)
		return (-1);
	if (memcmp(o->sk + 32, o->cr.identity_pk, 32) != 0) {
		xasprintf(cause, "the credential belongs to another identity "
		    "key; run: tryst register NUMBER");
		return (-1);
	}
	return (0);
}

/* Keep what WELCOME says: our address, limits, a renewed credential. */
static void
online_welcome(struct online *o, const struct msg *m)
{
	const struct vb	*v = &m->u.welcome.credential;
	struct cred	 cr;
	char		*cause;

	memset(&o->srflx, 0, sizeof o->srflx);
	o->srflx.kind = CAND_SRFLX;
	o->srflx.family = m->u.welcome.family;
	o->srflx.port = m->u.welcome.port;
	memcpy(o->srflx.addr, m->u.welcome.addr, 16);
	o->stun_port = m->u.welcome.stun_port;
	o->idle_s = m->u.welcome.idle_timeout_s;
	o->max_batch = m->u.welcome.max_batch;
	if (o->max_batch == 0 || o->max_batch > PROTO_MAX_BATCH)
		o->max_batch = PROTO_MAX_BATCH;
	if (v->len == 0)
		return;
	if (cred_verify(v->p, v->len, o->ctx->sign_pk, &cr) != 0 ||
	    memcmp(cr.id, o->cr.id, ID_LEN) != 0 ||
	    memcmp(cr.identity_pk, o->cr.identity_pk, 32) != 0) {
		warnx("the server sent a renewed credential that does not "
		    "verify; kept the old one");
		return;
	}
	memcpy(o->cred, v->p, CRED_LEN);
	o->cr = cr;
	if (state_cred_save(o->ctx->blobs, o->cred, &cause) != 0) {
		warnx("%s", cause);
		free(cause);
	}
}

/* Explain an answer to HELLO other than WELCOME. */
static void
online_refused(struct online *o, const struct msg *m, char **cause)
{
	char	 text[256];

	if (m->type == MSG_GOAWAY) {
		o->goaway = m->u.goaway.reason;
		xasprintf(cause, "the server is going away (reason %u) instead "
		    "of answering HELLO", m->u.goaway.reason);
		return;
	}
	if (m->type != MSG_ERROR) {
		xasprintf(cause, "unexpected %s after HELLO",
		    proto_type_name(m->type));
		return;
	}
	log_escape(text, sizeof text, m->u.error.message.p,
	    m->u.error.message.len);
	if (m->u.error.code == ERR_REVOKED ||
	    m->u.error.code == ERR_UNAUTHENTICATED) {
		o->permanent = 1;
		xasprintf(cause, "server error %s: %s; this device's "
		    "registration is no longer valid (the number was "
		    "registered again elsewhere or deleted)",
		    proto_err_name(m->u.error.code), text);
		return;
	}
	xasprintf(cause, "server error %s: %s%s",
	    proto_err_name(m->u.error.code), text,
	    m->u.error.retry_after_s > 0 ? " (try again later)" : "");
}

/* Say HELLO and wait for WELCOME. */
static int
online_hello(struct online *o, const struct tconn_challenge *ch,
    uint8_t flags, char **cause)
{
	struct msg	 m;
	char		*why = NULL;
	int		 r;

	memset(&m, 0, sizeof m);
	m.type = MSG_HELLO;
	m.u.hello.credential.p = o->cred;
	m.u.hello.credential.len = CRED_LEN;
	m.u.hello.flags = flags;
	hello_sign(m.u.hello.signature, o->sk, ch->nonce, o->cred);
	if (tconn_send(o->t, &m, cause) != 0)
		return (-1);
	if ((r = tconn_recv(o->t, &m, TRYST_REQUEST_MS, &why)) != 1) {
		xasprintf(cause, "waiting for WELCOME: %s", r == 0 ?
		    "the server closed the connection" : why);
		free(why);
		return (-1);
	}
	if (m.type != MSG_WELCOME) {
		online_refused(o, &m, cause);
		return (-1);
	}
	online_welcome(o, &m);
	return (0);
}

/* Connect from P to one of the servers and go online; a server shutting
 * down sends us to the next. */
int
online_open(struct online *o, struct tryst_ctx *c, uint16_t port,
    uint8_t flags, char **cause)
{
	struct tconn_challenge	 ch;

	memset(o, 0, sizeof *o);
	o->ctx = c;
	o->goaway = -1;
	o->port = port;
	if (online_load(o, cause) != 0) {
		o->permanent = 1;
		return (-1);
	}
	servers_round(&c->srv);
	for (;;) {
		o->t = tryst_open(&c->srv, c->sign_pk, &ch, &o->port, cause);
		if (o->t == NULL)
			return (-1);
		if (online_hello(o, &ch, flags, cause) == 0)
			break;
		if (o->goaway != GOAWAY_SHUTDOWN || !servers_failed(&c->srv))
			return (-1);
		warnx("%s: %s; trying %s", tconn_hostport(o->t), *cause,
		    servers_current(&c->srv));
		free(*cause);
		tconn_close(o->t);
		o->t = NULL;
		o->goaway = -1;
		o->port = port;
	}
	o->last_send = tryst_now_ms();
	randombytes_buf(&o->nonce, sizeof o->nonce);
	return (0);
}

/* Note where the relay of the call being handled is (tryst/2). */
void
online_relay(struct online *o, const struct vb *relay)
{
	size_t	 len = relay->len < sizeof o->relay - 1 ? relay->len :
	    sizeof o->relay - 1;

	memcpy(o->relay, relay->p, len);
	o->relay[len] = '\0';
}

/* Where to join the relay of the call being handled. */
int
online_relay_at(const struct online *o, char *out, size_t outlen,
    char **cause)
{
	const char	*given = tconn_version(o->t) >= 2 ? o->relay : NULL;

	if (servers_relay_at(given, tconn_hostport(o->t), out, outlen,
	    cause) != 0)
		return (-1);
	log_debug("relay at %s", out);
	return (0);
}

/* Close the connection and wipe the identity key. */
void
online_close(struct online *o)
{
	tconn_close(o->t);
	o->t = NULL;
	if (o->sk != NULL)
		sodium_free(o->sk);
	o->sk = NULL;
}

/* Send one message; a failure marks the connection gone. */
int
online_send(struct online *o, const struct msg *m)
{
	char	*cause;

	if (o->gone)
		return (-1);
	if (tconn_send(o->t, m, &cause) != 0) {
		log_debug("control connection: %s", cause);
		free(cause);
		o->gone = 1;
		return (-1);
	}
	o->last_send = tryst_now_ms();
	return (0);
}

/* Milliseconds between PINGs. */
static int64_t
ping_every(const struct online *o)
{
	int64_t	 idle = o->idle_s > 0 ? o->idle_s : 30;

	return (idle * 1000 / ONLINE_PING_DIV);
}

/* PING when the connection has been silent long enough. */
void
online_tick(struct online *o)
{
	struct msg	 m;

	if (o->gone || tryst_now_ms() - o->last_send < ping_every(o))
		return;
	memset(&m, 0, sizeof m);
	m.type = MSG_PING;
	m.u.ping.nonce = o->nonce++;
	online_send(o, &m);
}

/* Milliseconds until the next PING is due. */
int
online_wait_ms(const struct online *o)
{
	int64_t	 left = o->last_send + ping_every(o) - tryst_now_ms();

	return (left < 0 ? 0 : left > 60000 ? 60000 : (int)left);
}

/* Note GOAWAY: the connection is going. */
static void
note_goaway(struct online *o, const struct msg *m)
{
	o->gone = 1;
	o->goaway = m->u.goaway.reason;
	o->reconnect_s = m->u.goaway.reconnect_after_s;
}

/* Wait up to ms for one message, sending PINGs meanwhile. */
int
online_recv(struct online *o, struct msg *m, int ms)
{
	int64_t		 deadline = tryst_now_ms() + ms;
	struct pollfd	 pfd;
	char		*cause;
	int		 r, left;

	while (!o->gone) {
		online_tick(o);
		if ((r = tconn_recv_nowait(o->t, m, &cause)) == 1) {
			if (m->type == MSG_GOAWAY)
				note_goaway(o, m);
			return (1);
		}
		if (r != 2) {
			if (r == -1) {
				log_debug("control connection: %s", cause);
				free(cause);
			}
			o->gone = 1;
			break;
		}
		if ((left = (int)(deadline - tryst_now_ms())) <= 0)
			return (-1);
		pfd.fd = tconn_fd(o->t);
		pfd.events = POLLIN;
		poll(&pfd, 1, left < online_wait_ms(o) ? left :
		    online_wait_ms(o));
	}
	return (0);
}

/* Handle one control message during a call. */
static void
pump_one(struct online *o, const struct msg *m)
{
	struct msg	 out;

	switch (m->type) {
	case MSG_INCOMING:
		memset(&out, 0, sizeof out);
		out.type = MSG_DECLINE;
		out.u.decline.session = m->u.incoming.session;
		out.u.decline.reason = 1;	/* busy */
		online_send(o, &out);
		break;
	case MSG_ENDED:
		if (m->u.ended.session == o->session)
			o->ended = 1 + m->u.ended.why;
		break;
	case MSG_ERROR:
		if (m->u.error.code == ERR_QUOTA)
			o->ended = 1 + 3;
		break;
	default:
		break;
	}
}

/* Take every control message there is, without waiting. */
void
online_pump(struct online *o)
{
	struct msg	 m;
	char		*cause;
	int		 r;

	online_tick(o);
	while (!o->gone && (r = tconn_recv_nowait(o->t, &m, &cause)) != 2) {
		if (r != 1) {
			if (r == -1) {
				log_debug("control connection: %s", cause);
				free(cause);
			}
			o->gone = 1;
			break;
		}
		if (m.type == MSG_GOAWAY)
			note_goaway(o, &m);
		else
			pump_one(o, &m);
	}
}

/* Say what a GOAWAY or a lost connection means. */
void
online_say_gone(const struct online *o)
{
	static const char *why[] = { "is shutting down", "replaced this "
	    "connection with a newer one of this account", "closed an idle "
	    "connection", "is overloaded", "revoked this registration" };

	if (o->goaway < 0)
		warnx("lost the connection to the server");
	else if ((size_t)o->goaway < nitems(why))
		warnx("the server %s", why[o->goaway]);
	else
		warnx("the server is going away (reason %d)", o->goaway);
}
