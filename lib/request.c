/*
 * request.c -- one request on a connection of its own, as a task:
 * connect to the deployment's servers in turn until one answers with the
 * pinned key, send the request, wait for its one reply, and report. The
 * account calls (setup, register, verify) are made of it.
 */
#include <sys/types.h>

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lib.h"

struct request {
	struct servers	 sv;
	uint8_t		 expect_pk[32];
	int		 check_pk;
	uint8_t		*out[2];	/* encoded for tryst/1 and tryst/2 */
	size_t		 outlen[2];
	int		 timeout_ms;
	int		 sent;
	request_reply_fn reply;
	void		*arg;
	void		(*free_arg)(void *);
	tryst_done_fn	 done;
	void		*user;
};

/* Free a request's task data. */
static void
request_free(struct task *k)
{
	struct request	*r = k->data;

	servers_free(&r->sv);
	free(r->out[0]);
	free(r->out[1]);
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

/* The connection failed: the next server, or the end of the round. */
static int
failed(struct tryst *t, struct task *k, struct request *r, int64_t now)
{
	struct tryst_error	*e;

	if (nconn_key_changed(k->c) || !servers_failed(&r->sv)) {
		e = lib_err(nconn_key_changed(k->c) ? TRYST_EKEY : TRYST_ENET,
		    "%s", nconn_error(k->c));
		return (finish(t, r, e));
	}
	nconn_free(k->c);
	k->c = nconn_start(servers_current(&r->sv), 2, r->check_pk ?
	    r->expect_pk : NULL, -1, now);
	nconn_step(k->c, now);
	return (0);
}

/* Wait for the reply and hand it over. */
static int
awaiting(struct tryst *t, struct task *k, struct request *r, int64_t now)
{
	struct msg	 m;
	int		 n;

	switch ((n = nconn_recv(k->c, &m))) {
	case 1:
		if (m.type == MSG_GOAWAY)
			return (finish(t, r, lib_err(TRYST_ENET, "the server "
			    "is going away; try again in %u s",
			    m.u.goaway.reconnect_after_s)));
		return (finish(t, r, r->reply(t, &m, nconn_challenge(k->c),
		    r->arg)));
	case 0:
		return (finish(t, r, lib_err(TRYST_ENET, "the server closed "
		    "the connection without an answer")));
	case -1:
		return (finish(t, r, lib_err(TRYST_ENET, "%s",
		    nconn_error(k->c))));
	}
	if (now >= k->timer)
		return (finish(t, r, lib_err(TRYST_ENET, "%s: no answer in "
		    "%d s", nconn_hostport(k->c), r->timeout_ms / 1000)));
	return (0);
}

/* One pass over a request. */
static int
request_step(struct tryst *t, struct task *k, int64_t now)
{
	struct request	*r = k->data;
	int		 v;

	switch (nconn_state(k->c)) {
	case NCONN_FAILED:
		return (failed(t, k, r, now));
	case NCONN_OPEN:
		break;
	case NCONN_DONE:
		return (finish(t, r, lib_err(TRYST_ENET, "the server closed "
		    "the connection")));
	default:
		return (0);
	}
	if (r->out[0] == NULL)
		return (finish(t, r, r->reply(t, NULL, nconn_challenge(k->c),
		    r->arg)));
	if (!r->sent) {
		v = nconn_version(k->c) >= 2 ? 1 : 0;
		if (nconn_send_raw(k->c, r->out[v], r->outlen[v]) != 0)
			return (finish(t, r, lib_err(TRYST_ENET, "cannot send "
			    "the request")));
		r->sent = 1;
		k->timer = now + r->timeout_ms;
		nconn_step(k->c, now);
	}
	return (awaiting(t, k, r, now));
}

/* Start a request; see lib.h. */
int
request_start(struct tryst *t, struct servers *sv, const uint8_t *expect_pk,
    const struct msg *out, int timeout_ms, request_reply_fn reply, void *arg,
    void (*free_arg)(void *), tryst_done_fn done, void *user)
{
	struct request	*r;
	struct task	*k;
	struct msg	 m;
	int		 i;

	r = xcalloc(1, sizeof *r);
	r->sv = *sv;		/* the request owns the list now */
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
			r->free_arg = free_arg;
			r->arg = arg;
			k = &(struct task){ .data = r };
			request_free(k);
			return (TRYST_EINVAL);
		}
	}
	r->timeout_ms = timeout_ms;
	r->reply = reply;
	r->arg = arg;
	r->free_arg = free_arg;
	r->done = done;
	r->user = user;
	servers_round(&r->sv);
	k = lib_task_add(t, request_step, r, request_free);
	k->c = nconn_start(servers_current(&r->sv), 2, expect_pk, -1,
	    t->now());
	return (0);
}
