/*
 * request.c -- requests on a connection of their own, as tasks: connect
 * to the deployment's servers in turn until one answers with the pinned
 * key, then either send one request and report its one reply (the
 * account calls: setup, register, verify), or say HELLO as the account
 * and take turns with the server until the exchange is over (discovery:
 * OPRF_EVAL batches, then LOOKUP). Every request is an exchange; the one
 * reply kind is an exchange of one turn (one_shot).
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <arpa/inet.h>

#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lib.h"

#define REQUEST_HELLO_MS	30000

enum phase {
	PHASE_CONNECT,		/* nconn under way */
	PHASE_HELLO,		/* HELLO sent, WELCOME awaited */
	PHASE_TURNS,		/* the exchange itself */
};

struct request {
	struct task	*k;
	struct servers	 sv;
	uint8_t		 expect_pk[32];
	int		 check_pk;
	uint8_t		*out[2];	/* one_shot's, for tryst/1 and 2 */
	size_t		 outlen[2];
	struct auth	 auth;
	int		 hello;		/* say HELLO first (auth loaded) */
	int		 max_batch;	/* WELCOME's */
	char		 address[INET6_ADDRSTRLEN + 8]; /* WELCOME's, for us */
	enum phase	 phase;
	int		 timeout_ms;
	int		 sent;		/* the turn sent something */
	request_turn_fn	 turn;
	request_reply_fn reply;		/* one_shot's */
	void		*arg;
	void		(*free_arg)(void *);
	tryst_done_fn	 done;
	void		*user;
};

/* Set the app's notice callback; see tryst.h. */
void
tryst_on_notice(tryst_t *t, tryst_notice_fn fn, void *user)
{
	t->notice = fn;
	t->notice_user = user;
}

/* Tell the app a notice, when it listens. */
void
lib_notice(struct tryst *t, const char *fmt, ...)
{
	va_list	 ap;
	char	 buf[1024];

	if (t->notice == NULL)
		return;
	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	t->notice(t, buf, t->notice_user);
}

/* Free a request's task data. */
static void
request_free(struct task *k)
{
	struct request	*r = k->data;

	servers_free(&r->sv);
	free(r->out[0]);
	free(r->out[1]);
	auth_free(&r->auth);
	if (r->free_arg != NULL)
		r->free_arg(r->arg);
	free(r);
}

/* Report the end (e NULL: success) and say the task is over. */
static int
finish(struct tryst *t, struct request *r, struct tryst_error *e)
{
	r->done(t, e, r->user);
	tryst_error_free(e);
	return (1);
}

/* Connect to the current server. A connect refused at once leaves no
 * descriptor and no deadline: the next pass must come at once. */
static void
connect_now(struct tryst *t, struct task *k, struct request *r,
    int64_t now)
{
	nconn_free(k->c);
	k->c = nconn_start(servers_current(&r->sv), 2, r->check_pk ?
	    r->expect_pk : NULL, -1, now);
	k->timer = -1;
	r->phase = PHASE_CONNECT;
	nconn_step(k->c, now);
	lib_due(t);
}

/* The current server cannot serve (e says why): the next one, or the end
 * of the round with e. */
static int
next_server(struct tryst *t, struct task *k, struct request *r, int64_t now,
    struct tryst_error *e)
{
	if (e->code == TRYST_EKEY || !servers_failed(&r->sv))
		return (finish(t, r, e));
	lib_notice(t, "%s; trying %s", e->message, servers_current(&r->sv));
	tryst_error_free(e);
	connect_now(t, k, r, now);
	return (0);
}

/* Take a turn with the server's message m (NULL: the first). */
static int
take_turn(struct tryst *t, struct task *k, struct request *r,
    const struct msg *m, int64_t now)
{
	struct tryst_error	*e;

	r->sent = 0;
	if ((e = r->turn(t, r, m, r->arg)) != NULL || !r->sent)
		return (finish(t, r, e));
	k->timer = now + r->timeout_ms;
	nconn_step(k->c, now);
	return (0);
}

/* Keep the address WELCOME says the server sees us at, as "A:PORT" or
 * "[A]:PORT". */
static void
keep_address(struct request *r, const struct msg *m)
{
	char	 a[INET6_ADDRSTRLEN];
	int	 v4 = m->u.welcome.family == 4;

	if (inet_ntop(v4 ? AF_INET : AF_INET6, m->u.welcome.addr, a,
	    sizeof a) == NULL)
		snprintf(a, sizeof a, "?");
	snprintf(r->address, sizeof r->address, v4 ? "%s:%u" : "[%s]:%u", a,
	    m->u.welcome.port);
}

/* The answer to HELLO: WELCOME starts the turns. */
static int
hello_answer(struct tryst *t, struct task *k, struct request *r,
    const struct msg *m, int64_t now)
{
	switch (m->type) {
	case MSG_WELCOME:
		auth_welcome(t, &r->auth, m);
		keep_address(r, m);
		r->max_batch = m->u.welcome.max_batch;
		if (r->max_batch <= 0 || r->max_batch > PROTO_MAX_BATCH)
			r->max_batch = PROTO_MAX_BATCH;
		r->phase = PHASE_TURNS;
		return (take_turn(t, k, r, NULL, now));
	case MSG_GOAWAY:
		if (m->u.goaway.reason == GOAWAY_SHUTDOWN)
			return (next_server(t, k, r, now, lib_err(TRYST_ENET,
			    "%s: the server is shutting down",
			    nconn_hostport(k->c))));
		return (finish(t, r, lib_err(TRYST_ENET, "the server is going "
		    "away (reason %u); try again in %u s", m->u.goaway.reason,
		    m->u.goaway.reconnect_after_s)));
	case MSG_ERROR:
		return (finish(t, r, lib_err_server(m)));
	default:
		return (finish(t, r, lib_err(TRYST_ESERVER, "unexpected %s "
		    "after HELLO", proto_type_name(m->type))));
	}
}

/* A message from the server: 1 when the request is over. */
static int
answer(struct tryst *t, struct task *k, struct request *r,
    const struct msg *m, int64_t now)
{
	if (r->phase == PHASE_HELLO)
		return (hello_answer(t, k, r, m, now));
	if (m->type == MSG_GOAWAY)
		return (finish(t, r, lib_err(TRYST_ENET, "the server is going "
		    "away; try again in %u s", m->u.goaway.reconnect_after_s)));
	return (take_turn(t, k, r, m, now));
}

/* Take what the connection has, or see that it timed out. */
static int
awaiting(struct tryst *t, struct task *k, struct request *r, int64_t now)
{
	struct msg	 m;

	for (;;) {
		switch (nconn_recv(k->c, &m)) {
		case 1:
			if (answer(t, k, r, &m, now))
				return (1);
			if (r->phase == PHASE_CONNECT)
				return (0);	/* the next server */
			continue;
		case 0:
			return (finish(t, r, lib_err(TRYST_ENET, "the server "
			    "closed the connection without an answer")));
		case -1:
			return (finish(t, r, lib_err(TRYST_ENET, "%s",
			    nconn_error(k->c))));
		}
		break;
	}
	if (k->timer != -1 && now >= k->timer)
		return (finish(t, r, lib_err(TRYST_ENET, "%s: no answer in "
		    "%d s", nconn_hostport(k->c), (r->phase == PHASE_HELLO ?
		    REQUEST_HELLO_MS : r->timeout_ms) / 1000)));
	return (0);
}

/* The connection is open: say HELLO, or take the first turn. */
static int
opened(struct tryst *t, struct task *k, struct request *r, int64_t now)
{
	struct msg	 m;

	if (!r->hello) {
		r->phase = PHASE_TURNS;
		return (take_turn(t, k, r, NULL, now));
	}
	auth_hello(&r->auth, nconn_challenge(k->c)->nonce, 0, &m);
	if (nconn_send(k->c, &m) != 0)
		return (finish(t, r, lib_err(TRYST_ENET, "cannot send HELLO")));
	r->phase = PHASE_HELLO;
	k->timer = now + REQUEST_HELLO_MS;
	nconn_step(k->c, now);
	return (0);
}

/* One pass over a request. */
static int
request_step(struct tryst *t, struct task *k, int64_t now)
{
	struct request	*r = k->data;

	switch (nconn_state(k->c)) {
	case NCONN_FAILED:
		return (next_server(t, k, r, now, lib_err(nconn_key_changed(
		    k->c) ? TRYST_EKEY : TRYST_ENET, "%s", nconn_error(k->c))));
	case NCONN_OPEN:
		break;
	case NCONN_DONE:
		return (finish(t, r, lib_err(TRYST_ENET, "the server closed "
		    "the connection")));
	default:
		return (0);
	}
	if (r->phase == PHASE_CONNECT && opened(t, k, r, now))
		return (1);
	return (awaiting(t, k, r, now));
}

/* Send a message in the exchange's turn. */
int
request_send(struct request *r, const struct msg *m)
{
	if (nconn_send(r->k->c, m) != 0)
		return (-1);
	r->sent = 1;
	return (0);
}

int
request_max_batch(const struct request *r)
{
	return (r->max_batch > 0 ? r->max_batch : PROTO_MAX_BATCH);
}

const char *
request_address(const struct request *r)
{
	return (r->address);
}

/* A request of one reply: send out (encoded at the start), then hand the
 * reply over; no out: hand the connection over. */
static struct tryst_error *
one_shot(struct tryst *t, struct request *r, const struct msg *m, void *arg)
{
	const struct tconn_challenge *ch = nconn_challenge(r->k->c);
	int		 v;

	if (m != NULL || r->out[0] == NULL)
		return (r->reply(t, m, ch, arg));
	v = nconn_version(r->k->c) >= 2 ? 1 : 0;
	if (nconn_send_raw(r->k->c, r->out[v], r->outlen[v]) != 0)
		return (lib_err(TRYST_ENET, "cannot send the request"));
	r->sent = 1;
	return (NULL);
}

/* Add the request's task and start connecting. */
static void
launch(struct tryst *t, struct request *r)
{
	servers_round(&r->sv);
	r->k = lib_task_add(t, request_step, r, request_free);
	connect_now(t, r->k, r, t->now());
}

/* Start a request; see lib.h. */
int
request_start(struct tryst *t, struct servers *sv, const uint8_t *expect_pk,
    const struct msg *out, int timeout_ms, request_reply_fn reply, void *arg,
    void (*free_arg)(void *), tryst_done_fn done, void *user)
{
	struct request	*r;
	struct msg	 m;
	int		 i;

	r = xcalloc(1, sizeof *r);
	r->sv = *sv;		/* the request owns the list now */
	r->arg = arg;
	r->free_arg = free_arg;
	if (expect_pk != NULL) {
		memcpy(r->expect_pk, expect_pk, 32);
		r->check_pk = 1;
	}
	for (i = 0; out != NULL && i < 2; i++) {
		m = *out;
		m.version = (uint8_t)(i + 1);
		r->out[i] = xmalloc(PROTO_MAX_FRAME);
		if ((r->outlen[i] = proto_encode(&m, r->out[i],
		    PROTO_MAX_FRAME)) == 0) {
			request_free(&(struct task){ .data = r });
			return (TRYST_EINVAL);
		}
	}
	r->timeout_ms = timeout_ms;
	r->turn = one_shot;
	r->reply = reply;
	r->done = done;
	r->user = user;
	launch(t, r);
	return (0);
}

/* Start an exchange as the account; see lib.h. */
int
request_exchange(struct tryst *t, int timeout_ms, request_turn_fn turn,
    void *arg, void (*free_arg)(void *), tryst_done_fn done, void *user,
    struct tryst_error **err)
{
	struct request		*r;
	struct tryst_error	*e;
	char			*cause;

	r = xcalloc(1, sizeof *r);
	r->arg = arg;
	r->free_arg = free_arg;
	if ((e = auth_load(t, &r->auth)) == NULL &&
	    servers_parse(&r->sv, t->conf.server, randombytes_uniform,
	    &cause) != 0) {
		e = lib_err(TRYST_ESTATE, "%s", cause);
		free(cause);
	}
	if (e != NULL) {
		request_free(&(struct task){ .data = r });
		return (lib_err_give(e, err));
	}
	memcpy(r->expect_pk, t->sign_pk, 32);
	r->check_pk = 1;
	r->hello = 1;
	r->timeout_ms = timeout_ms;
	r->turn = turn;
	r->done = done;
	r->user = user;
	launch(t, r);
	return (0);
}
