/*
 * race.c -- bringing one call's session up (PROTOCOL.md §6.2, §6.3) as a
 * state machine that never waits: connect from P to every candidate of
 * the peer that may be dialled (reach.c), retrying until the direct time
 * is over; take what arrives on the listeners; run the Noise handshake
 * on every path that opens, as the caller (preamble and message 1, then
 * 2, then 3) or the callee (preamble and message 1, then 2, then 3); and
 * join the relay when no direct path came up in time, or at once when
 * there is none to try. The first handshake to finish is the session.
 * Its effects (dial, accept, join the relay) go through race_cfg, where
 * tests put fakes.
 *
 * libtryst steps it from the app's loop. Handshake messages are a few
 * hundred bytes on a fresh connection, so they are written at once or
 * the path is dropped.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "client.h"

#define RACE_SLOTS	48
#define HELLO_LEN	(SESSION_PREAMBLE_LEN + SESSION_MSG1_LEN)

enum slot_state {
	SLOT_FREE,
	SLOT_CONNECTING,	/* outgoing TCP connect in progress */
	SLOT_RETRY,		/* failed; tried again at retry_at */
	SLOT_HANDSHAKE,		/* a path: Noise under way */
	SLOT_SPARE,		/* caller: a direct path kept in reserve */
	SLOT_JOINING,		/* relay: connecting, RELAY_JOIN, READY */
};

struct slot {
	enum slot_state	 state;
	struct cand	 c;		/* what an outgoing one dials */
	int		 fd;		/* direct */
	struct nconn	*relay;		/* relay */
	int64_t		 when;		/* retry_at, or the handshake's end */
	struct noise_hs	 hs;
	int		 stage;		/* 0: first message, 1: second */
	uint8_t		 buf[SESSION_HS_OUT];
	size_t		 fill, want;
	char		 desc[80];
};

struct race {
	struct race_cfg	 cfg;
	struct cand	 peer[OFFER_MAX_CANDS];
	int		 npeer;
	struct slot	 s[RACE_SLOTS];
	int64_t		 direct_end;
	int64_t		 end;		/* of everything */
	int		 joined;	/* the relay was tried */
	enum race_state	 state;
	char		*error;
	struct slot	*won;
	struct session	 session;
};

/* A free slot in state, or NULL. */
static struct slot *
slot_new(struct race *r, enum slot_state state)
{
	int	 i;

	for (i = 0; i < RACE_SLOTS; i++) {
		if (r->s[i].state == SLOT_FREE) {
			memset(&r->s[i], 0, sizeof r->s[i]);
			r->s[i].state = state;
			r->s[i].fd = -1;
			return (&r->s[i]);
		}
	}
	return (NULL);
}

/* Drop a slot and what it holds. */
static void
slot_free(struct slot *sl)
{
	if (sl->fd != -1)
		close(sl->fd);
	nconn_free(sl->relay);
	sodium_memzero(&sl->hs, sizeof sl->hs);
	memset(sl, 0, sizeof *sl);
	sl->fd = -1;
}

/* The real dial: a non-blocking connect to c from port P. */
static int
real_dial(void *arg, const struct cand *c, uint16_t port)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = path_cand_sa(c, &ss);
	int			 fd;

	(void)arg;
	if ((fd = path_socket(ss.ss_family, port)) == -1)
		return (-1);
	if (connect(fd, (struct sockaddr *)&ss, len) == 0 ||
	    errno == EINPROGRESS)
		return (fd);
	close(fd);
	return (-1);
}

/* Has fd's connect finished: 1 connected, 0 not yet, -1 failed. */
static int
real_dialed(void *arg, int fd)
{
	int		 error = 0;
	socklen_t	 len = sizeof error;
	struct pollfd	 pfd = { .fd = fd, .events = POLLOUT };

	(void)arg;
	if (poll(&pfd, 1, 0) == 0)
		return (0);
	return (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) == 0 &&
	    error == 0 ? 1 : -1);
}

/* A connection waiting on a listener, or -1. */
static int
real_accept(void *arg, int lfd)
{
	(void)arg;
	return (accept4(lfd, NULL, NULL, SOCK_NONBLOCK | SOCK_CLOEXEC));
}

/* A TLS connection to the relay, checked like every other. */
static struct nconn *
real_join(void *arg, const char *at, const uint8_t sign_pk[32], int64_t now)
{
	(void)arg;
	return (nconn_start(at, 2, sign_pk, -1, now));
}

/* Start (or restart) an outgoing connect from P. */
static void
slot_connect(struct race *r, struct slot *sl, int64_t now)
{
	sl->state = SLOT_RETRY;
	sl->when = now + P2P_RETRY_MS;
	if ((sl->fd = r->cfg.dial(r->cfg.io_arg, &sl->c,
	    r->cfg.p->port)) != -1)
		sl->state = SLOT_CONNECTING;
}

/* Write a handshake message whole, or fail the slot: 0 or -1. */
static int
slot_write(struct slot *sl, const uint8_t *p, size_t len)
{
	ssize_t	 n;

	if (sl->relay != NULL)
		return (nconn_send_raw(sl->relay, p, len));
	n = send(sl->fd, p, len, MSG_NOSIGNAL | MSG_DONTWAIT);
	return (n == (ssize_t)len ? 0 : -1);
}

/* Read toward sl->want bytes: 1 all there, 0 not yet, -1 closed. */
static int
slot_read(struct slot *sl)
{
	long	 n;

	while (sl->fill < sl->want) {
		if (sl->relay != NULL)
			n = nconn_read_raw(sl->relay, sl->buf + sl->fill,
			    sl->want - sl->fill);
		else {
			n = recv(sl->fd, sl->buf + sl->fill,
			    sl->want - sl->fill, 0);
			if (n == -1 && (errno == EAGAIN || errno == EINTR))
				n = -2;
		}
		if (n == -2)
			return (0);
		if (n <= 0)
			return (-1);
		sl->fill += (size_t)n;
	}
	return (1);
}

/* Our next handshake message after head, written whole. */
static int
hs_write(struct slot *sl, const uint8_t *head, size_t hlen)
{
	uint8_t	 out[SESSION_HS_OUT];
	char	*cause = NULL;
	long	 n;

	if ((n = session_hs_write(&sl->hs, head, hlen, out, sizeof out,
	    &cause)) < 0) {
		free(cause);
		return (-1);
	}
	return (slot_write(sl, out, (size_t)n));
}

/* 1 if a direct handshake of the caller's is under way. */
static int
caller_busy(const struct race *r)
{
	int	 i;

	for (i = 0; i < RACE_SLOTS; i++) {
		if (r->s[i].state == SLOT_HANDSHAKE && r->s[i].relay == NULL)
			return (1);
	}
	return (0);
}

/* A path is open on sl: start its handshake. The caller speaks on one
 * direct path at a time, the first to open, as the callee answers
 * whatever preamble comes: the others wait as spares. */
static int
slot_opened(struct race *r, struct slot *sl, int64_t now)
{
	uint8_t	 pre[SESSION_PREAMBLE_LEN];

	if (r->cfg.initiator && sl->relay == NULL && caller_busy(r)) {
		sl->state = SLOT_SPARE;
		return (0);
	}
	sl->state = SLOT_HANDSHAKE;
	sl->stage = 0;
	sl->fill = 0;
	sl->when = now + SESSION_HS_MS;
	session_hs_begin(&sl->hs, r->cfg.initiator, r->cfg.hi, NULL);
	if (!r->cfg.initiator) {
		sl->want = HELLO_LEN;		/* preamble and message 1 */
		return (0);
	}
	session_preamble(pre, r->cfg.hi->session);
	sl->want = 2;				/* message 2's length */
	return (hs_write(sl, pre, sizeof pre));
}

/* Read the peer's next framed handshake message into buf: 1 whole, 0
 * not yet, -1 bad. */
static int
hs_frame(struct slot *sl)
{
	size_t	 need;
	int	 r;

	for (;;) {
		if ((r = slot_read(sl)) != 1)
			return (r);
		if (session_frame(sl->buf, sl->fill, &need) != 0)
			return (1);
		if (sl->fill + need > sizeof sl->buf)
			return (-1);
		sl->want = sl->fill + need;
	}
}

/* Callee: the preamble must be this call's, message 1 must read. */
static int
hs_hello(struct race *r, struct slot *sl)
{
	uint8_t	 pre[SESSION_PREAMBLE_LEN];
	char	*cause = NULL;
	int	 rv;

	if ((rv = slot_read(sl)) != 1)
		return (rv);
	session_preamble(pre, r->cfg.hi->session);
	if (memcmp(sl->buf, pre, sizeof pre) != 0 ||
	    session_hs_read(&sl->hs, sl->buf + sizeof pre, SESSION_MSG1_LEN,
	    &cause) != 0 || hs_write(sl, NULL, 0) != 0) {
		free(cause);
		return (-1);
	}
	sl->stage = 1;
	sl->fill = 0;
	sl->want = 2;				/* message 3's length */
	return (0);
}

/* One step of a handshake: 1 done (r->session made), 0 not yet, -1 bad. */
static int
hs_step(struct race *r, struct slot *sl, int64_t now)
{
	char	*cause = NULL;
	int	 rv;

	if (now >= sl->when)
		return (-1);
	if (!r->cfg.initiator && sl->stage == 0)
		return (hs_hello(r, sl));
	if ((rv = hs_frame(sl)) != 1)
		return (rv);
	if (session_hs_read(&sl->hs, sl->buf, sl->fill, &cause) != 0 ||
	    (r->cfg.initiator && hs_write(sl, NULL, 0) != 0) ||
	    session_hs_finish(&r->session, &sl->hs, r->cfg.hi, &cause) != 0) {
		if (cause != NULL)
			log_debug("path %s: %s", sl->desc, cause);
		free(cause);
		return (-1);
	}
	return (1);
}

/* Name a direct path by its peer. */
static void
direct_desc(struct slot *sl)
{
	struct path	 p;

	path_direct(&p, sl->fd);
	snprintf(sl->desc, sizeof sl->desc, "%s", p.desc);
}

/* A connect finished: a path, or retry while direct time is left. */
static void
connect_done(struct race *r, struct slot *sl, int64_t now)
{
	int	 rv;

	if ((rv = r->cfg.dialed(r->cfg.io_arg, sl->fd)) == 0)
		return;			/* still connecting */
	if (rv == 1) {
		direct_desc(sl);
		if (slot_opened(r, sl, now) != 0)
			slot_free(sl);
		return;
	}
	close(sl->fd);
	sl->fd = -1;
	sl->state = SLOT_RETRY;
	sl->when = now + P2P_RETRY_MS;
}

/* Take every connection waiting on the listeners. */
static void
take_accepted(struct race *r, int64_t now)
{
	struct slot	*sl;
	int		 i, fd;

	for (i = 0; i < 2; i++) {
		while (r->cfg.p->lfd[i] != -1 && (fd = r->cfg.accept(
		    r->cfg.io_arg, r->cfg.p->lfd[i])) != -1) {
			if ((sl = slot_new(r, SLOT_SPARE)) == NULL) {
				close(fd);
				continue;
			}
			sl->fd = fd;
			direct_desc(sl);
			if (slot_opened(r, sl, now) != 0)
				slot_free(sl);
		}
	}
}

/* Join the relay (once): a TLS connection checked like every other. */
static void
join_relay(struct race *r, int64_t now)
{
	struct slot	*sl;

	r->joined = 1;
	if (*r->cfg.relay_at == '\0' ||
	    (sl = slot_new(r, SLOT_JOINING)) == NULL)
		return;
	sl->relay = r->cfg.join(r->cfg.io_arg, r->cfg.relay_at,
	    r->cfg.sign_pk, now);
	snprintf(sl->desc, sizeof sl->desc, "relay");
	sl->when = now + P2P_RELAY_MS;
	sl->stage = 0;
}

/* A relay slot: RELAY_JOIN once open, then RELAY_READY starts the
 * handshake. */
static void
relay_step(struct race *r, struct slot *sl, int64_t now)
{
	struct msg	 m;
	int		 rv;

	if (nconn_state(sl->relay) == NCONN_FAILED || now >= sl->when) {
		free(r->error);
		xasprintf(&r->error, "relay: %s", now >= sl->when ? "it did "
		    "not get ready" : nconn_error(sl->relay));
		slot_free(sl);
		return;
	}
	if (nconn_state(sl->relay) != NCONN_OPEN)
		return;
	if (sl->stage == 0) {
		memset(&m, 0, sizeof m);
		m.type = MSG_RELAY_JOIN;
		m.u.relay_join.session = r->cfg.hi->session;
		memcpy(m.u.relay_join.relay_token, r->cfg.relay_token, 16);
		nconn_send(sl->relay, &m);
		nconn_step(sl->relay, now);
		sl->stage = 1;
	}
	if ((rv = nconn_recv(sl->relay, &m)) == 2)
		return;
	if (rv == 1 && m.type == MSG_RELAY_READY) {
		if (slot_opened(r, sl, now) != 0)
			slot_free(sl);
		return;
	}
	free(r->error);
	if (rv == 1 && m.type == MSG_ERROR)
		xasprintf(&r->error, "relay refused: %s",
		    proto_err_name(m.u.error.code));
	else
		xasprintf(&r->error, "relay: %s", rv == 1 ? "unexpected "
		    "answer" : "the server closed the relay connection");
	slot_free(sl);
}

/* Start a race; see client.h. */
struct race *
race_new(const struct race_cfg *cfg, const struct cand *peer, int npeer,
    int64_t now)
{
	struct race	*r = xcalloc(1, sizeof *r);
	struct slot	*sl;
	int		 i, n = 0;

	r->cfg = *cfg;
	if (r->cfg.dial == NULL)
		r->cfg.dial = real_dial;
	if (r->cfg.dialed == NULL)
		r->cfg.dialed = real_dialed;
	if (r->cfg.accept == NULL)
		r->cfg.accept = real_accept;
	if (r->cfg.join == NULL)
		r->cfg.join = real_join;
	r->state = RACE_RUNNING;
	r->direct_end = now + P2P_DIRECT_MS;
	for (i = 0; i < RACE_SLOTS; i++)
		r->s[i].fd = -1;
	for (i = 0; !cfg->relay_only && i < npeer; i++) {
		if (cfg->p->lfd[peer[i].family == 6] == -1 ||
		    reach_check(&peer[i], cfg->p->self, cfg->p->nself,
		    cfg->p->server_loopback) != REACH_OK ||
		    (sl = slot_new(r, SLOT_RETRY)) == NULL)
			continue;
		sl->c = peer[i];
		slot_connect(r, sl, now);
		n++;
	}
	/* Nothing to dial: the relay at once (the callee still takes a
	 * direct preamble meanwhile). */
	if (n == 0 || cfg->relay_only)
		r->direct_end = now;
	r->end = r->direct_end + P2P_RELAY_MS + SESSION_HS_MS;
	return (r);
}

/* Past the direct time: stop dialling; the caller drops what is not
 * in a handshake; both join the relay. */
static void
direct_over(struct race *r, int64_t now)
{
	int	 i;

	for (i = 0; i < RACE_SLOTS; i++) {
		if (r->s[i].state == SLOT_CONNECTING ||
		    r->s[i].state == SLOT_RETRY)
			slot_free(&r->s[i]);
	}
	if (!r->joined)
		join_relay(r, now);
}

/* The caller's direct handshake failed: try the next spare path. */
static void
promote_spare(struct race *r, int64_t now)
{
	int	 i;

	for (i = 0; i < RACE_SLOTS && !caller_busy(r); i++) {
		if (r->s[i].state == SLOT_SPARE &&
		    slot_opened(r, &r->s[i], now) != 0)
			slot_free(&r->s[i]);
	}
}

/* One slot's step: 1 when its handshake finished. */
static int
slot_step(struct race *r, struct slot *sl, int64_t now)
{
	int	 rv;

	switch (sl->state) {
	case SLOT_CONNECTING:
		connect_done(r, sl, now);
		break;
	case SLOT_RETRY:
		/* Not at the end of the direct time: direct_over drops it. */
		if (now >= sl->when && now < r->direct_end)
			slot_connect(r, sl, now);
		break;
	case SLOT_JOINING:
		nconn_step(sl->relay, now);
		relay_step(r, sl, now);
		break;
	default:
		break;
	}
	if (sl->state != SLOT_HANDSHAKE)
		return (0);
	if (sl->relay != NULL)
		nconn_step(sl->relay, now);
	if ((rv = hs_step(r, sl, now)) == -1) {
		slot_free(sl);
		promote_spare(r, now);
	}
	return (rv == 1);
}

/* Make all the progress there is; see client.h. */
enum race_state
race_step(struct race *r, int64_t now)
{
	int	 i;

	if (r->state != RACE_RUNNING)
		return (r->state);
	take_accepted(r, now);
	for (i = 0; i < RACE_SLOTS; i++) {
		if (r->s[i].state != SLOT_FREE && slot_step(r, &r->s[i],
		    now)) {
			r->won = &r->s[i];
			r->state = RACE_UP;
			return (r->state);
		}
	}
	if (now >= r->direct_end)
		direct_over(r, now);
	if (now >= r->end) {
		r->state = RACE_FAILED;
		if (r->error == NULL)
			r->error = xstrdup("no path to the peer came up");
	}
	return (r->state);
}

/* What to watch; see client.h. */
int
race_fds(const struct race *r, struct pollfd *pfd, int max)
{
	const struct slot	*sl;
	unsigned		 ev;
	int			 n = 0, i;

	for (i = 0; i < 2 && n < max; i++) {
		if (r->cfg.p->lfd[i] == -1)
			continue;
		pfd[n].fd = r->cfg.p->lfd[i];
		pfd[n++].events = POLLIN;
	}
	for (i = 0; i < RACE_SLOTS && n < max; i++) {
		sl = &r->s[i];
		if (sl->state == SLOT_CONNECTING) {
			pfd[n].fd = sl->fd;
			pfd[n++].events = POLLOUT;
		} else if (sl->relay != NULL && nconn_fd(sl->relay) != -1) {
			ev = nconn_events(sl->relay);
			pfd[n].fd = nconn_fd(sl->relay);
			pfd[n++].events = (short)(((ev & NCONN_READ) ?
			    POLLIN : 0) | ((ev & NCONN_WRITE) ? POLLOUT : 0));
		} else if (sl->state == SLOT_HANDSHAKE) {
			pfd[n].fd = sl->fd;
			pfd[n++].events = POLLIN;
		}
	}
	return (n);
}

/* The next time something is due, ms clock. */
int64_t
race_deadline(const struct race *r)
{
	int64_t	 when = r->end, d;
	int	 i;

	if (r->direct_end > 0 && !r->joined && r->direct_end < when)
		when = r->direct_end;
	for (i = 0; i < RACE_SLOTS; i++) {
		if (r->s[i].state == SLOT_FREE)
			continue;
		/* A spare's when is its connect's, or 0: stale, and it
		 * waits on nothing but the handshake ahead of it. */
		if (r->s[i].state != SLOT_CONNECTING &&
		    r->s[i].state != SLOT_SPARE && r->s[i].when < when)
			when = r->s[i].when;
		if (r->s[i].relay != NULL &&
		    (d = nconn_deadline(r->s[i].relay)) != -1 && d < when)
			when = d;
	}
	return (when);
}

/* Hand the session over; see client.h. */
int
race_take(struct race *r, struct session *s, int *fd, struct nconn **relay,
    char *desc, size_t desclen)
{
	if (r->state != RACE_UP || r->won == NULL)
		return (-1);
	*s = r->session;
	memset(&r->session, 0, sizeof r->session);
	*fd = r->won->fd;
	*relay = r->won->relay;
	snprintf(desc, desclen, "%s", r->won->desc);
	r->won->fd = -1;
	r->won->relay = NULL;
	slot_free(r->won);
	r->won = NULL;
	return (0);
}

const char *
race_error(const struct race *r)
{
	return (r->error != NULL ? r->error : "no error");
}

/* Close every attempt and free. */
void
race_free(struct race *r)
{
	int	 i;

	if (r == NULL)
		return;
	for (i = 0; i < RACE_SLOTS; i++)
		if (r->s[i].state != SLOT_FREE)
			slot_free(&r->s[i]);
	if (r->session.in != NULL)
		session_close(&r->session);
	free(r->error);
	free(r);
}
