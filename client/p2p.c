/*
 * p2p.c -- the paths of PROTOCOL.md §6.2. Everything a client does for a
 * call uses one local TCP port P: the server connection, the listener and
 * every outgoing attempt, so that the NAT mapping the server saw (WELCOME's
 * address) is the one the peer reaches. Both sides connect from P to every
 * candidate of the other at once, retrying until direct_timeout_ms; the
 * caller takes the first connection to complete in either direction, the
 * callee the first valid preamble on any path, the relay included.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <err.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "client.h"

#define RACE_SLOTS	48
#define HELLO_LEN	(SESSION_PREAMBLE_LEN + SESSION_MSG1_LEN)

enum slot_state {
	SLOT_FREE,
	SLOT_CONNECTING,	/* outgoing connect in progress */
	SLOT_RETRY,		/* failed; tried again at retry_at */
	SLOT_OPEN,		/* connected, path set */
	SLOT_JOINING,		/* relay: RELAY_JOIN sent */
};

struct slot {
	enum slot_state	 state;
	struct cand	 c;
	int		 fd;
	int64_t		 retry_at;
	struct tconn	*t;
	struct path	 path;
	uint8_t		 buf[HELLO_LEN];
	size_t		 fill;
};

/* All the attempts of one call. */
struct race {
	struct p2p	*p;
	struct online	*o;
	struct slot	 s[RACE_SLOTS];
	int64_t		 direct_end;
};

/* Add c unless it is there already or the list is full. */
static void
add_cand(struct p2p *p, const struct cand *c)
{
	size_t	 alen = c->family == 4 ? 4 : 16;
	int	 i;

	for (i = 0; i < p->ncands; i++) {
		if (p->cands[i].family == c->family &&
		    p->cands[i].port == c->port &&
		    memcmp(p->cands[i].addr, c->addr, alen) == 0)
			return;
	}
	if (p->ncands < OFFER_MAX_CANDS)
		p->cands[p->ncands++] = *c;
}

/* A sockaddr's address as a candidate with port P; 0, or -1 for another
 * family. */
static int
sa_cand(const struct sockaddr *sa, uint16_t port, struct cand *c)
{
	memset(c, 0, sizeof *c);
	c->kind = CAND_HOST;
	c->port = port;
	if (sa->sa_family == AF_INET) {
		c->family = 4;
		memcpy(c->addr, &((const struct sockaddr_in *)sa)->sin_addr, 4);
	} else if (sa->sa_family == AF_INET6) {
		c->family = 6;
		memcpy(c->addr, &((const struct sockaddr_in6 *)sa)->sin6_addr,
		    16);
	} else
		return (-1);
	return (0);
}

/* This machine's addresses: all of them in p->self (for reach_check),
 * and the host candidates, those of our family with port P, in
 * p->cands. */
static void
host_cands(struct p2p *p)
{
	struct ifaddrs	*ifa, *i;
	struct cand	 c;
	enum reach_scope sc;

	if (getifaddrs(&ifa) == -1)
		return;
	for (i = ifa; i != NULL; i = i->ifa_next) {
		if (i->ifa_addr == NULL || !(i->ifa_flags & IFF_UP) ||
		    sa_cand(i->ifa_addr, p->port, &c) == -1)
			continue;
		if (p->nself < P2P_MAX_SELF)
			p->self[p->nself++] = c;
		if (i->ifa_addr->sa_family != p->family)
			continue;
		/* Only what a peer may dial (reach.c): no link-local, which
		 * needs a scope, and loopback only for a server on it. */
		sc = reach_scope(&c);
		if (sc == REACH_SCOPE_NONE || (sc == REACH_SCOPE_LOOPBACK &&
		    !p->server_loopback))
			continue;
		add_cand(p, &c);
	}
	freeifaddrs(ifa);
}

/* With direct, gather our candidates and listen on P; else neither. */
int
p2p_setup(struct p2p *p, struct online *o, int direct, char **cause)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof ss;
	struct cand		 srv;

	memset(p, 0, sizeof *p);
	p->lfd = -1;
	p->port = o->port;
	if (getpeername(tconn_fd(o->t), (struct sockaddr *)&ss, &len) == -1) {
		xasprintf(cause, "getpeername: %s", strerror(errno));
		return (-1);
	}
	p->family = ss.ss_family;
	if (sa_cand((struct sockaddr *)&ss, 0, &srv) == -1) {
		xasprintf(cause, "the server connection is not TCP/IP");
		return (-1);
	}
	p->server_loopback = reach_scope(&srv) == REACH_SCOPE_LOOPBACK;
	if (!direct)
		return (0);	/* relay only: no address leaves this device */
	if ((p->lfd = path_socket(p->family, p->port)) == -1 ||
	    listen(p->lfd, 16) == -1) {
		xasprintf(cause, "listen on port %u: %s", p->port,
		    strerror(errno));
		return (-1);
	}
	host_cands(p);
	if (o->srflx.family == srv.family)
		add_cand(p, &o->srflx);
	return (0);
}

/* Stop listening. */
void
p2p_close(struct p2p *p)
{
	if (p->lfd != -1)
		close(p->lfd);
	p->lfd = -1;
}

/* Our candidates as an offer or answer. */
size_t
p2p_offer(const struct p2p *p, uint8_t *out, size_t outlen)
{
	if (p->ncands == 0)
		return (0);
	return (offer_encode(p->cands, p->ncands, out, outlen));
}

/* A free slot, or NULL. */
static struct slot *
slot_new(struct race *r, enum slot_state state)
{
	int	 i;

	for (i = 0; i < RACE_SLOTS; i++) {
		if (r->s[i].state == SLOT_FREE) {
			memset(&r->s[i], 0, sizeof r->s[i]);
			r->s[i].state = state;
			r->s[i].fd = -1;
			r->s[i].path.fd = -1;
			return (&r->s[i]);
		}
	}
	return (NULL);
}

/* Drop a slot, closing what it holds. */
static void
slot_free(struct slot *sl)
{
	if (sl->state == SLOT_OPEN)
		path_close(&sl->path);
	else if (sl->t != NULL)
		tconn_close(sl->t);
	if (sl->fd != -1)
		close(sl->fd);
	memset(sl, 0, sizeof *sl);
	sl->fd = -1;
}

/* Start (or restart) the connect of a slot from P. */
static void
slot_connect(struct race *r, struct slot *sl)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = path_cand_sa(&sl->c, &ss);

	sl->state = SLOT_RETRY;
	sl->retry_at = tryst_now_ms() + P2P_RETRY_MS;
	if ((sl->fd = path_socket(r->p->family, r->p->port)) == -1)
		return;
	if (connect(sl->fd, (struct sockaddr *)&ss, len) == 0 ||
	    errno == EINPROGRESS) {
		sl->state = SLOT_CONNECTING;
		return;
	}
	close(sl->fd);
	sl->fd = -1;
}

/* Connect to every usable candidate of the peer; how many. */
static int
race_connect_all(struct race *r, const struct cand *peer, int npeer)
{
	struct slot	*sl;
	int		 i, n = 0;

	for (i = 0; i < npeer; i++) {
		if (peer[i].family != (r->p->family == AF_INET ? 4 : 6) ||
		    reach_check(&peer[i], r->p->self, r->p->nself,
		    r->p->server_loopback) != REACH_OK ||
		    (sl = slot_new(r, SLOT_RETRY)) == NULL)
			continue;
		sl->c = peer[i];
		slot_connect(r, sl);
		n++;
	}
	return (n);
}

/* A connect finished: open, or retry while direct time is left. */
static void
connect_done(struct race *r, struct slot *sl)
{
	int		 error = 0, fd = sl->fd;
	socklen_t	 len = sizeof error;

	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) == 0 &&
	    error == 0) {
		sl->fd = -1;
		sl->state = SLOT_OPEN;
		path_direct(&sl->path, fd);
		return;
	}
	close(fd);
	sl->fd = -1;
	sl->state = SLOT_RETRY;
	sl->retry_at = tryst_now_ms() + P2P_RETRY_MS;
}

/* Take every connection waiting on the listener. */
static void
race_accept(struct race *r)
{
	struct slot	*sl;
	int		 fd;

	while ((fd = accept4(r->p->lfd, NULL, NULL, SOCK_NONBLOCK |
	    SOCK_CLOEXEC)) != -1) {
		if ((sl = slot_new(r, SLOT_OPEN)) == NULL) {
			close(fd);
			continue;
		}
		path_direct(&sl->path, fd);
	}
}

/* Restart failed connects whose time has come; give up after the
 * direct time. */
static void
race_retry(struct race *r)
{
	int64_t	 now = tryst_now_ms();
	int	 i;

	for (i = 0; i < RACE_SLOTS; i++) {
		if (r->s[i].state == SLOT_CONNECTING && now >= r->direct_end)
			slot_free(&r->s[i]);
		if (r->s[i].state != SLOT_RETRY)
			continue;
		if (now >= r->direct_end)
			slot_free(&r->s[i]);
		else if (now >= r->s[i].retry_at)
			slot_connect(r, &r->s[i]);
	}
}

/* Fill pfd with what the race waits for; map says whose each is (-1 the
 * control connection, -2 the listener, else a slot). */
static int
race_fds(struct race *r, struct pollfd *pfd, int *map)
{
	int	 n = 0, i;

	pfd[n].fd = tconn_fd(r->o->t);
	pfd[n].events = POLLIN;
	map[n++] = -1;
	if (r->p->lfd != -1) {
		pfd[n].fd = r->p->lfd;
		pfd[n].events = POLLIN;
		map[n++] = -2;
	}
	for (i = 0; i < RACE_SLOTS; i++) {
		if (r->s[i].state == SLOT_CONNECTING)
			pfd[n].fd = r->s[i].fd;
		else if (r->s[i].state == SLOT_OPEN)
			pfd[n].fd = path_pollfd(&r->s[i].path);
		else if (r->s[i].state == SLOT_JOINING)
			pfd[n].fd = tconn_fd(r->s[i].t);
		else
			continue;
		pfd[n].events = r->s[i].state == SLOT_CONNECTING ? POLLOUT :
		    POLLIN;
		map[n++] = i;
	}
	return (n);
}

/* Wait up to ms for anything; handle connects, accepts and the control
 * connection. Slots with readable data are marked in ready[]. */
static void
race_poll(struct race *r, int ms, int ready[RACE_SLOTS])
{
	struct pollfd	 pfd[RACE_SLOTS + 2];
	int		 map[RACE_SLOTS + 2], n, i;

	memset(ready, 0, RACE_SLOTS * sizeof *ready);
	n = race_fds(r, pfd, map);
	if (ms > online_wait_ms(r->o))
		ms = online_wait_ms(r->o);
	if (poll(pfd, (nfds_t)n, ms < 0 ? 0 : ms) > 0) {
		for (i = 0; i < n; i++) {
			if (pfd[i].revents == 0 || map[i] == -1)
				continue;
			if (map[i] == -2)
				race_accept(r);
			else if (r->s[map[i]].state == SLOT_CONNECTING)
				connect_done(r, &r->s[map[i]]);
			else
				ready[map[i]] = 1;
		}
	}
	online_pump(r->o);
	race_retry(r);
}

/* Close every slot but keep. */
static void
race_end(struct race *r, struct slot *keep)
{
	int	 i;

	for (i = 0; i < RACE_SLOTS; i++) {
		if (&r->s[i] != keep && r->s[i].state != SLOT_FREE)
			slot_free(&r->s[i]);
	}
}

/* 1 if the call ended or the control connection went while connecting;
 * says which. */
static int
call_over(struct online *o)
{
	if (o->ended) {
		warnx("the call ended before the session was up");
		return (1);
	}
	if (o->gone) {
		online_say_gone(o);
		return (1);
	}
	return (0);
}

/* Caller: the first direct TCP connection within the direct time. */
static struct slot *
caller_direct(struct race *r, const struct cand *peer, int npeer)
{
	int	 ready[RACE_SLOTS], i;
	int64_t	 left;

	if (race_connect_all(r, peer, npeer) == 0)
		return (NULL);
	while ((left = r->direct_end - tryst_now_ms()) > 0 &&
	    !call_over(r->o)) {
		race_poll(r, (int)(left < P2P_RETRY_MS ? left : P2P_RETRY_MS),
		    ready);
		for (i = 0; i < RACE_SLOTS; i++) {
			if (r->s[i].state == SLOT_OPEN)
				return (&r->s[i]);
		}
	}
	return (NULL);
}

/* Wait for RELAY_READY on sl, ticking the control connection. */
static int
caller_relay_wait(struct race *r, struct slot *sl, char **cause)
{
	int64_t		 end = tryst_now_ms() + P2P_RELAY_MS;
	struct tconn	*t = sl->t;
	int		 ready[RACE_SLOTS], rv;

	while ((rv = path_relay_ready(t, &sl->path, cause)) == 0) {
		if (call_over(r->o) || tryst_now_ms() >= end) {
			if (!r->o->ended && !r->o->gone)
				xasprintf(cause, "the relay did not get ready");
			return (-1);
		}
		race_poll(r, 1000, ready);
	}
	if (rv == 1) {
		sl->t = NULL;
		sl->state = SLOT_OPEN;
	}
	return (rv == 1 ? 0 : -1);
}

/* Caller: join the relay and run the handshake there. */
static int
caller_relay(struct race *r, const struct hsinfo *hi,
    const uint8_t token[16], struct session *s)
{
	struct slot	*sl = slot_new(r, SLOT_JOINING);
	char		*cause = NULL, at[PROTO_MAX_RELAY + 8];

	if (sl == NULL)
		fatalx("no slot for the relay");
	if (online_relay_at(r->o, at, sizeof at, &cause) != 0 ||
	    (sl->t = path_relay_join(r->o, at, hi->session, token,
	    &cause)) == NULL || caller_relay_wait(r, sl, &cause) != 0 ||
	    session_start(s, &sl->path, hi, &cause) != 0) {
		if (cause != NULL)
			warnx("relay: %s", cause);
		free(cause);
		slot_free(sl);
		return (-1);
	}
	memset(sl, 0, sizeof *sl);	/* s owns the path now */
	return (0);
}

/* Bring the session up as the caller. */
int
p2p_call(struct p2p *p, struct online *o, const struct hsinfo *hi,
    const struct cand *peer, int npeer, const uint8_t token[16],
    int relay_only, struct session *s)
{
	struct race	*r = xcalloc(1, sizeof *r);
	struct slot	*sl;
	char		*cause;
	int		 rc = -1;

	r->p = p;
	r->o = o;
	r->direct_end = tryst_now_ms() + P2P_DIRECT_MS;
	if (!relay_only && (sl = caller_direct(r, peer, npeer)) != NULL) {
		race_end(r, sl);
		if (session_start(s, &sl->path, hi, &cause) == 0) {
			memset(sl, 0, sizeof *sl);
			rc = 0;
			goto out;
		}
		log_info("direct path %s: %s", sl->path.desc, cause);
		free(cause);
		slot_free(sl);
	}
	race_end(r, NULL);
	if (!call_over(o))
		rc = caller_relay(r, hi, token, s);
out:
	race_end(r, NULL);
	free(r);
	return (rc);
}

/* Callee: read the preamble and message 1 on an open slot; answer once
 * both are there. 1 when the session is up, 0 to go on, -1 to drop. */
static int
callee_read(struct slot *sl, const struct hsinfo *hi, struct session *s)
{
	uint8_t	 pre[SESSION_PREAMBLE_LEN];
	char	*cause = NULL;
	long	 n;

	while (sl->fill < HELLO_LEN) {
		n = path_read(&sl->path, sl->buf + sl->fill,
		    HELLO_LEN - sl->fill, &cause);
		if (n == -2)
			return (0);
		free(cause);
		if (n <= 0)
			return (-1);
		sl->fill += (size_t)n;
	}
	session_preamble(pre, hi->session);
	if (memcmp(sl->buf, pre, sizeof pre) != 0)
		return (-1);
	if (session_answer(s, &sl->path, hi, sl->buf + sizeof pre,
	    &cause) != 0) {
		log_info("path %s: %s", sl->path.desc, cause);
		free(cause);
		return (-1);
	}
	return (1);
}

/* Callee: past the direct time with no session, join the relay too. */
static void
callee_relay(struct race *r, const struct hsinfo *hi,
    const uint8_t token[16], int *joined)
{
	struct slot	*sl;
	char		*cause, at[PROTO_MAX_RELAY + 8];

	if (*joined || tryst_now_ms() < r->direct_end)
		return;
	*joined = 1;
	if ((sl = slot_new(r, SLOT_JOINING)) == NULL)
		return;
	if (online_relay_at(r->o, at, sizeof at, &cause) != 0 ||
	    (sl->t = path_relay_join(r->o, at, hi->session, token,
	    &cause)) == NULL) {
		warnx("relay: %s", cause);
		free(cause);
		slot_free(sl);
	}
}

/* Callee: handle a readable slot. 1 when the session is up on it. */
static int
callee_slot(struct slot *sl, const struct hsinfo *hi, struct session *s)
{
	char	*cause;
	int	 rv;

	if (sl->state == SLOT_JOINING) {
		if ((rv = path_relay_ready(sl->t, &sl->path, &cause)) == 1) {
			sl->t = NULL;
			sl->state = SLOT_OPEN;
		} else if (rv == -1) {
			warnx("relay: %s", cause);
			free(cause);
			slot_free(sl);
			return (0);
		}
	}
	if (sl->state != SLOT_OPEN)
		return (0);
	if ((rv = callee_read(sl, hi, s)) == -1)
		slot_free(sl);
	return (rv == 1);
}

/* Bring the session up as the callee. */
int
p2p_answer(struct p2p *p, struct online *o, const struct hsinfo *hi,
    const struct cand *peer, int npeer, const uint8_t token[16],
    struct session *s)
{
	struct race	*r = xcalloc(1, sizeof *r);
	int		 ready[RACE_SLOTS], i, joined = 0, rc = -1;
	int64_t		 end;

	r->p = p;
	r->o = o;
	r->direct_end = tryst_now_ms() + P2P_DIRECT_MS;
	if (race_connect_all(r, peer, npeer) == 0)
		r->direct_end = tryst_now_ms();	/* to the relay at once */
	end = r->direct_end + P2P_RELAY_MS;
	while (rc == -1 && tryst_now_ms() < end && !call_over(o)) {
		race_poll(r, P2P_RETRY_MS, ready);
		for (i = 0; i < RACE_SLOTS && rc == -1; i++) {
			if ((ready[i] || r->s[i].state == SLOT_OPEN) &&
			    callee_slot(&r->s[i], hi, s) == 1) {
				memset(&r->s[i], 0, sizeof r->s[i]);
				rc = 0;
			}
		}
		if (rc == -1)
			callee_relay(r, hi, token, &joined);
	}
	if (rc == -1 && tryst_now_ms() >= end)
		warnx("no path to the caller came up");
	race_end(r, NULL);
	free(r);
	return (rc);
}

/* Stop offering what was offered of pm's mapping. */
static void
unoffer(struct p2p *p, struct portmap *pm)
{
	int	 i;

	for (i = 0; pm->offered && i < p->ncands; i++) {
		if (memcmp(&p->cands[i], &pm->offer, sizeof pm->offer) == 0) {
			memmove(&p->cands[i], &p->cands[i + 1],
			    (size_t)(p->ncands - i - 1) * sizeof p->cands[0]);
			p->ncands--;
			break;
		}
	}
	pm->offered = 0;
}

/* Offer pm's mapping of P as it is now, asking for it the first time
 * (only with direct paths, and over IPv4, which NAT-PMP and UPnP IGD
 * map). */
void
p2p_map(struct p2p *p, struct portmap *pm)
{
	int	 n;

	unoffer(p, pm);
	if (p->lfd == -1 || p->family != AF_INET) {
		portmap_close(pm);
		return;
	}
	if (pm->port == 0) {
		if (pm->nproto == 0)
			portmap_init(pm);
		portmap_open(pm, p->port);
	}
	if (pm->held == NULL)
		return;
	n = p->ncands;
	add_cand(p, &pm->ext);
	pm->offered = p->ncands > n;
	pm->offer = pm->ext;
}

/* Stop offering the mapping and delete it. */
void
p2p_unmap(struct p2p *p, struct portmap *pm)
{
	unoffer(p, pm);
	portmap_close(pm);
}
