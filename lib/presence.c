/*
 * presence.c -- staying online as a task: connect to one of the servers
 * from a shared local port (§6.2), say HELLO with PRESENCE, keep the
 * connection with PING before the server's idle timeout, and after a
 * loss or a GOAWAY connect again, as tryst listen does: the next server
 * after a failure, a doubling wait after a failed round (servers.c), what
 * GOAWAY asked for (with jitter), at once elsewhere when a server shuts
 * down. A revoked registration or another device taking over stops it.
 *
 * While online with direct paths over IPv4 it also asks the home router
 * to map P (portmap.c), offers the mapping to callers as a server-
 * reflexive candidate, renews it, and deletes it when the connection
 * goes or the app goes offline. The search for the router's service
 * never waits in the loop (portmap_step); the requests to a router that
 * answered do, for a LAN round trip (see doc/libtryst.md).
 */
#include <sys/types.h>

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lib.h"

#define PRESENCE_PING_DIV	3	/* PING after a third of idle */
#define PRESENCE_HELLO_MS	30000

enum phase {
	PHASE_CONNECT,		/* nconn under way */
	PHASE_HELLO,		/* HELLO sent, WELCOME awaited */
	PHASE_ONLINE,
	PHASE_WAIT,		/* until the task's timer, then connect */
};

struct presence {
	struct tryst	*t;
	struct task	*k;
	tryst_status_fn	 fn;
	void		*user;
	int		 status;
	enum phase	 phase;
	struct servers	 sv;
	struct auth	 auth;
	uint16_t	 idle_s;
	int64_t		 last_send;
	uint64_t	 nonce;
	struct p2p	 p2p;		/* candidates and listeners on P */
	int		 have_p2p;	/* while online */
	struct portmap	 pm;		/* P on the router */
	int		 mapping;	/* pm is in use, this spell */
	uint8_t		 hello_flags;	/* HELLO_PRESENCE, or 0 */
};

/* Tell the app where we stand, when that changed or an error came. */
static void
say(struct presence *p, int status, struct tryst_error *e)
{
	if (status != p->status || e != NULL) {
		p->status = status;
		if (p->fn != NULL)
			p->fn(p->t, status, e, p->user);
	}
	tryst_error_free(e);
}

/* Stop offering the mapping of P and delete it. May wait for the router
 * (portmap_close). */
static void
unmap(struct presence *p)
{
	if (!p->mapping)
		return;
	p2p_unmap(&p->p2p, &p->pm);
	p->mapping = 0;
}

/* Ask the router to map P, when it may reach P: without waiting for the
 * answers (map_step takes them). */
static void
map_start(struct presence *p)
{
	if (!p->have_p2p || !p2p_mappable(&p->p2p))
		return;
	portmap_init(&p->pm);
	portmap_start(&p->pm);
	p->mapping = 1;
}

/* Take the router's answers, renew the mapping when due, and offer it
 * as it stands: held, moved, or lapsed. */
static void
map_step(struct presence *p)
{
	enum portmap_state	 s;
	int			 had;

	if (!p->mapping)
		return;
	if ((had = p->pm.held != NULL))
		portmap_tick(&p->pm);
	else if ((s = portmap_step(&p->pm, p->p2p.port)) == PORTMAP_WAITING)
		return;
	else if (s == PORTMAP_NONE) {
		unmap(p);	/* no service, or it lapsed: frees the sockets */
		lib_due(p->t);
		return;
	}
	if (!had || p->pm.held == NULL || memcmp(&p->pm.offer, &p->pm.ext,
	    sizeof p->pm.ext) != 0)
		p2p_map(&p->p2p, &p->pm);
	if (!had)
		lib_due(p->t);	/* calls waiting for the mapping go now */
}

/* The router's sockets while the search is on. */
static int
presence_fds(const struct task *k, struct pollfd *pfd, int max)
{
	const struct presence	*p = k->data;

	return (p->mapping ? portmap_fds(&p->pm, pfd, max) : 0);
}

/* The end of the search, or the renewal. */
static int64_t
presence_deadline(const struct task *k)
{
	const struct presence	*p = k->data;

	return (p->mapping ? portmap_deadline(&p->pm) : -1);
}

/* The control connection is closing: our candidates, listeners and
 * mapping go with it, and calls that were not up yet end. */
static void
drop_online(struct presence *p)
{
	unmap(p);
	if (p->have_p2p) {
		p2p_close(&p->p2p);
		p->have_p2p = 0;
	}
	if (p->status == TRYST_ONLINE)
		call_control_lost(p->t);
}

/* Start a connection to the current server. */
static void
connect_now(struct presence *p, int64_t now)
{
	drop_online(p);
	nconn_free(p->k->c);
	p->k->c = nconn_start(servers_current(&p->sv), 2, p->t->sign_pk, 0,
	    now);
	p->k->timer = -1;
	p->phase = PHASE_CONNECT;
	nconn_step(p->k->c, now);
	lib_due(p->t);	/* refused at once: no descriptor, no deadline */
}

/* Close the connection and wait ms before connecting again (a new
 * round of the servers). */
static void
wait_then_connect(struct presence *p, int64_t now, uint32_t ms,
    struct tryst_error *e)
{
	struct tryst_error	*w;

	drop_online(p);
	nconn_free(p->k->c);
	p->k->c = NULL;
	p->phase = PHASE_WAIT;
	p->k->timer = now + ms;
	w = lib_err(e->code, "%s; trying again in %u.%u s", e->message,
	    ms / 1000, ms % 1000 / 100);
	w->server_code = e->server_code;
	w->retry_after_s = e->retry_after_s;
	tryst_error_free(e);
	say(p, TRYST_CONNECTING, w);
}

/* Stop for good: the app hears why. Returns 1 (the task is over). */
static int
stopped(struct presence *p, struct tryst_error *e)
{
	drop_online(p);
	nconn_free(p->k->c);
	p->k->c = NULL;
	p->t->presence = NULL;
	p->t->status_after = TRYST_STOPPED;
	say(p, TRYST_STOPPED, e);
	return (1);
}

/* A connection that failed or was lost: the next server of the round,
 * or a back-off before the next round. */
static void
failed(struct presence *p, int64_t now, struct tryst_error *e)
{
	if (servers_failed(&p->sv)) {
		lib_notice(p->t, "%s; trying %s", e->message,
		    servers_current(&p->sv));
		tryst_error_free(e);
		connect_now(p, now);
		/* Not online until the next WELCOME, which the app hears. */
		say(p, TRYST_CONNECTING, NULL);
		return;
	}
	wait_then_connect(p, now, servers_backoff_ms(&p->sv), e);
}

/* Send a message, noting when: a failure is left to the next step. */
static void
send_msg(struct presence *p, const struct msg *m, int64_t now)
{
	if (nconn_send(p->k->c, m) == 0)
		p->last_send = now;
	nconn_step(p->k->c, now);
}

/* Our candidates for calls: WELCOME's address for us, the host's, and
 * listeners on P. Without them calls go through the relay. */
static void
gather(struct presence *p, const struct msg *m)
{
	struct cand	 srflx;
	char		*cause = NULL;

	memset(&srflx, 0, sizeof srflx);
	srflx.kind = CAND_SRFLX;
	srflx.family = m->u.welcome.family;
	srflx.port = m->u.welcome.port;
	memcpy(srflx.addr, m->u.welcome.addr, 16);
	if (p2p_gather(&p->p2p, nconn_fd(p->k->c), nconn_hostport(p->k->c),
	    nconn_local_port(p->k->c), &srflx, m->u.welcome.stun_port, 1,
	    &cause) == 0)
		p->have_p2p = 1;
	else {
		log_debug("no direct paths: %s", cause);
		p2p_close(&p->p2p);
		free(cause);
	}
}

/* Keep what WELCOME says: the idle timeout, a renewed credential. */
static void
welcome(struct presence *p, const struct msg *m)
{
	p->idle_s = m->u.welcome.idle_timeout_s;
	gather(p, m);
	map_start(p);
	auth_welcome(p->t, &p->auth, m);
}

/* The connection is open: say HELLO. */
static void
hello(struct presence *p, int64_t now)
{
	struct msg	 m;

	auth_hello(&p->auth, nconn_challenge(p->k->c)->nonce, p->hello_flags,
	    &m);
	send_msg(p, &m, now);
	p->phase = PHASE_HELLO;
	p->k->timer = now + PRESENCE_HELLO_MS;
}

/* GOAWAY: stop, move, or wait as it asks. 1 when presence is over. */
static int
goaway(struct presence *p, const struct msg *m, int64_t now)
{
	static const char *why[] = { "is shutting down", "replaced this "
	    "connection with a newer one of this account", "closed an idle "
	    "connection", "is overloaded", "revoked this registration" };
	uint64_t	 ms = (uint64_t)m->u.goaway.reconnect_after_s * 1000;

	switch (m->u.goaway.reason) {
	case GOAWAY_REPLACED:
		return (stopped(p, lib_err(TRYST_ECANCELED, "the server "
		    "replaced this connection with a newer one of this "
		    "account")));
	case GOAWAY_REVOKED:
		return (stopped(p, lib_err(TRYST_EREVOKED, "the server revoked "
		    "this registration")));
	case GOAWAY_SHUTDOWN:
		if (p->sv.n > 1) {
			servers_move(&p->sv);
			servers_round(&p->sv);
			connect_now(p, now);
			say(p, TRYST_CONNECTING, lib_err(TRYST_ENET, "the "
			    "server is shutting down; moving to %s",
			    servers_current(&p->sv)));
			return (0);
		}
		break;
	}
	ms += ms > 0 ? randombytes_uniform((uint32_t)ms + 1) : 0;
	wait_then_connect(p, now, (uint32_t)ms, m->u.goaway.reason <
	    nitems(why) ? lib_err(TRYST_ENET, "the server %s",
	    why[m->u.goaway.reason]) : lib_err(TRYST_ENET, "the server is "
	    "going away (reason %u)", m->u.goaway.reason));
	return (0);
}

/* An answer to HELLO: WELCOME, or why not. 1 when presence is over. */
static int
hello_answer(struct presence *p, const struct msg *m, int64_t now)
{
	if (m->type == MSG_WELCOME) {
		welcome(p, m);
		servers_backoff_reset(&p->sv);
		p->phase = PHASE_ONLINE;
		p->last_send = now;
		say(p, TRYST_ONLINE, NULL);
		return (0);
	}
	if (m->type == MSG_GOAWAY && m->u.goaway.reason == GOAWAY_SHUTDOWN) {
		failed(p, now, lib_err(TRYST_ENET, "the server is shutting "
		    "down"));
		return (0);
	}
	if (m->type == MSG_GOAWAY)
		return (goaway(p, m, now));
	if (m->type == MSG_ERROR && (m->u.error.code == ERR_REVOKED ||
	    m->u.error.code == ERR_UNAUTHENTICATED))
		return (stopped(p, lib_err_server(m)));
	if (m->type == MSG_ERROR) {
		wait_then_connect(p, now, servers_backoff_ms(&p->sv),
		    lib_err_server(m));
		return (0);
	}
	return (0);		/* anything else before WELCOME: ignored */
}

/* A message while online. 1 when presence is over. */
static int
online_msg(struct presence *p, const struct msg *m, int64_t now)
{

	switch (m->type) {
	case MSG_GOAWAY:
		return (goaway(p, m, now));
	case MSG_INCOMING:
	case MSG_ANSWER:
	case MSG_DECLINED:
	case MSG_ENDED:
	case MSG_ERROR:
		call_control(p->t, m);
		return (0);
	default:
		return (0);
	}
}

/* PING when the connection has been quiet for a third of idle. */
static void
tick(struct presence *p, int64_t now)
{
	int64_t		 every = (p->idle_s > 0 ? p->idle_s : 30) * 1000 /
			    PRESENCE_PING_DIV;
	struct msg	 m;

	if (now - p->last_send >= every) {
		memset(&m, 0, sizeof m);
		m.type = MSG_PING;
		m.u.ping.nonce = p->nonce++;
		send_msg(p, &m, now);
	}
	p->k->timer = p->last_send + every;
}

/* Take what the connection has: 1 when presence is over. */
static int
drain(struct presence *p, int64_t now)
{
	struct msg	 m;
	int		 r;

	while (p->phase == PHASE_HELLO || p->phase == PHASE_ONLINE) {
		if ((r = nconn_recv(p->k->c, &m)) == 2)
			break;
		if (r != 1) {
			failed(p, now, lib_err(TRYST_ENET, "%s", r == 0 ?
			    "lost the connection to the server" :
			    nconn_error(p->k->c)));
			return (0);
		}
		if ((p->phase == PHASE_HELLO ? hello_answer(p, &m, now) :
		    online_msg(p, &m, now)) != 0)
			return (1);
	}
	return (0);
}

/* One pass. */
static int
presence_step(struct tryst *t, struct task *k, int64_t now)
{
	struct presence	*p = k->data;

	(void)t;
	switch (p->phase) {
	case PHASE_WAIT:
		if (now >= k->timer) {
			servers_round(&p->sv);
			connect_now(p, now);
		}
		return (0);
	case PHASE_CONNECT:
		if (nconn_state(k->c) == NCONN_FAILED) {
			if (nconn_key_changed(k->c))
				return (stopped(p, lib_err(TRYST_EKEY, "%s",
				    nconn_error(k->c))));
			failed(p, now, lib_err(TRYST_ENET, "%s",
			    nconn_error(k->c)));
		} else if (nconn_state(k->c) == NCONN_OPEN)
			hello(p, now);
		if (p->phase != PHASE_HELLO)
			return (0);
		break;
	case PHASE_HELLO:
		if (now >= k->timer) {
			failed(p, now, lib_err(TRYST_ENET, "no WELCOME in "
			    "%d s", PRESENCE_HELLO_MS / 1000));
			return (0);
		}
		break;
	case PHASE_ONLINE:
		break;
	}
	if (drain(p, now))
		return (1);
	if (p->phase == PHASE_ONLINE) {
		tick(p, now);
		map_step(p);
	}
	return (0);
}

/* Free the presence with its task. */
static void
presence_free(struct task *k)
{
	struct presence	*p = k->data;

	if (p->t->presence == p)
		p->t->presence = NULL;
	unmap(p);
	if (p->have_p2p)
		p2p_close(&p->p2p);
	servers_free(&p->sv);
	auth_free(&p->auth);
	free(p);
}

/* Load the credential and identity key (auth.c) and the servers. */
static struct tryst_error *
load(struct tryst *t, struct presence *p)
{
	struct tryst_error	*e;
	char			*cause;

	if ((e = auth_load(t, &p->auth)) != NULL)
		return (e);
	if (servers_parse(&p->sv, t->conf.server, randombytes_uniform,
	    &cause) != 0) {
		e = lib_err(TRYST_ESTATE, "%s", cause);
		free(cause);
		return (e);
	}
	return (NULL);
}

/* Go online; see tryst.h. */
int
presence_start(struct tryst *t, uint8_t hello_flags, tryst_status_fn fn,
    void *user, struct tryst_error **err)
{
	struct presence		*p;
	struct tryst_error	*e;

	if (t->presence != NULL)
		return (lib_err_give(lib_err(TRYST_EBUSY, "already online or "
		    "going online"), err));
	p = xcalloc(1, sizeof *p);
	p->t = t;
	if ((e = load(t, p)) != NULL) {
		auth_free(&p->auth);
		free(p);
		return (lib_err_give(e, err));
	}
	p->fn = fn;
	p->user = user;
	p->hello_flags = hello_flags;
	p->status = TRYST_CONNECTING;
	randombytes_buf(&p->nonce, sizeof p->nonce);
	p->k = lib_task_add(t, presence_step, p, presence_free);
	p->k->fds = presence_fds;
	p->k->deadline = presence_deadline;
	t->presence = p;
	servers_round(&p->sv);
	connect_now(p, t->now());
	return (0);
}

/* Go offline: the task ends on the next pass. */
void
presence_stop(struct tryst *t)
{
	struct presence	*p = t->presence;

	if (p == NULL)
		return;
	p->k->done = 1;
	drop_online(p);
	p->status = TRYST_OFFLINE;
	t->presence = NULL;
	t->status_after = TRYST_OFFLINE;
}

int
presence_status(const struct tryst *t)
{
	return (t->presence != NULL ? t->presence->status : t->status_after);
}

int
tryst_go_online(tryst_t *t, tryst_status_fn fn, void *user,
    tryst_error **err)
{
	return (presence_start(t, HELLO_PRESENCE, fn, user, err));
}

int
tryst_go_online_outgoing(tryst_t *t, tryst_status_fn fn, void *user,
    tryst_error **err)
{
	return (presence_start(t, 0, fn, user, err));
}

void
tryst_go_offline(tryst_t *t)
{
	lib_due(t);
	presence_stop(t);
}

int
tryst_status(const tryst_t *t)
{
	return (presence_status(t));
}

int
presence_send(struct tryst *t, const struct msg *m)
{
	struct presence	*p = t->presence;

	if (p == NULL || p->phase != PHASE_ONLINE || nconn_send(p->k->c,
	    m) != 0)
		return (-1);
	p->last_send = t->now();
	nconn_step(p->k->c, p->last_send);
	return (0);
}

const struct p2p *
presence_p2p(const struct tryst *t)
{
	const struct presence	*p = t->presence;

	return (p != NULL && p->phase == PHASE_ONLINE && p->have_p2p ?
	    &p->p2p : NULL);
}

int
presence_settling(const struct tryst *t)
{
	const struct presence	*p = t->presence;

	return (p != NULL && p->phase == PHASE_ONLINE && p->mapping &&
	    p->pm.held == NULL);
}

const uint8_t *
presence_id(const struct tryst *t)
{
	return (t->presence != NULL ? t->presence->auth.cr.id : NULL);
}

const uint8_t *
presence_sk(const struct tryst *t)
{
	return (t->presence != NULL ? t->presence->auth.sk : NULL);
}

const char *
presence_hostport(const struct tryst *t)
{
	const struct presence	*p = t->presence;

	return (p != NULL && p->k->c != NULL ? nconn_hostport(p->k->c) :
	    NULL);
}
