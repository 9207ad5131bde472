/*
 * p2p-cands.c -- what a device offers for a call (PROTOCOL.md §6.1) and
 * where it listens (§6.2): its addresses that a peer may dial, of both
 * families when it has them (reach.c decides), the server-reflexive
 * address WELCOME gave for the control connection's family and the one
 * STUN gives for the other (reflex.c), each on the one local port P,
 * with a listener on P per family, and the mapping of P on the home
 * router (portmap.c) as it stands. The race (race.c) dials and takes
 * connections; this file only gathers.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"

#define LISTEN_BACKLOG	16

/* The index in p->lfd of a family, AF_INET or AF_INET6 as well as a
 * candidate's 4 or 6. */
static int
fam(int family)
{
	return (family == AF_INET6 || family == 6);
}

/* Add c unless it is there already or the list is full. */
void
p2p_add_cand(struct p2p *p, const struct cand *c)
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
 * and those a peer may dial, of both families with port P, in hosts
 * (at most P2P_MAX_SELF); how many of those. */
static int
host_addrs(struct p2p *p, struct cand *hosts)
{
	struct ifaddrs	*ifa, *i;
	struct cand	 c;
	enum reach_scope sc;
	int		 n = 0;

	if (getifaddrs(&ifa) == -1)
		return (0);
	for (i = ifa; i != NULL; i = i->ifa_next) {
		if (i->ifa_addr == NULL || !(i->ifa_flags & IFF_UP) ||
		    sa_cand(i->ifa_addr, p->port, &c) == -1)
			continue;
		if (p->nself < P2P_MAX_SELF)
			p->self[p->nself++] = c;
		/* Only what a peer may dial (reach.c): no link-local, which
		 * needs a scope, and loopback only for a server on it. */
		sc = reach_scope(&c);
		if (sc == REACH_SCOPE_NONE || (sc == REACH_SCOPE_LOOPBACK &&
		    !p->server_loopback))
			continue;
		if (n < P2P_MAX_SELF)
			hosts[n++] = c;
	}
	freeifaddrs(ifa);
	return (n);
}

/* Listen on P in family af; -1 and errno. */
static int
p2p_listen(struct p2p *p, int af)
{
	int	 fd, saved;

	if ((fd = path_socket(af, p->port)) == -1)
		return (-1);
	if (listen(fd, LISTEN_BACKLOG) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return (-1);
	}
	p->lfd[fam(af)] = fd;
	return (0);
}

/* 1 if one of hosts[0..n) is of family af. */
static int
has_family(const struct cand *hosts, int n, int af)
{
	int	 i;

	for (i = 0; i < n; i++) {
		if (fam(hosts[i].family) == fam(af))
			return (1);
	}
	return (0);
}

/* Log our candidates at debug. */
static void
log_cands(const struct p2p *p)
{
	char	 a[64];
	int	 i;

	for (i = 0; i < p->ncands; i++) {
		path_cand_str(&p->cands[i], a, sizeof a);
		log_debug("we offer %s%s", a, p->cands[i].kind == CAND_SRFLX ?
		    " (server-reflexive)" : "");
	}
}

/* A p2p with nothing open. */
void
p2p_init(struct p2p *p)
{
	memset(p, 0, sizeof *p);
	p->lfd[0] = p->lfd[1] = -1;
}

/* With direct, gather our candidates and listen on P; else neither. The
 * server connection's family must work; the other is used when this
 * device has an address of it that a peer may dial and can listen on P
 * there. The server-reflexive ones go first: a full offer drops hosts. */
int
p2p_gather(struct p2p *p, int ctl_fd, const char *hostport, uint16_t port,
    const struct cand *srflx, uint16_t stun_port, int direct, char **cause)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof ss;
	struct cand		 srv, c, hosts[P2P_MAX_SELF];
	int			 nhost, other, i;

	p2p_init(p);
	p->port = port;
	if (getpeername(ctl_fd, (struct sockaddr *)&ss, &len) == -1) {
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
	if (p2p_listen(p, p->family) == -1) {
		xasprintf(cause, "listen on port %u: %s", p->port,
		    strerror(errno));
		return (-1);
	}
	nhost = host_addrs(p, hosts);
	other = p->family == AF_INET ? AF_INET6 : AF_INET;
	if (has_family(hosts, nhost, other) && p2p_listen(p, other) == -1)
		log_debug("no direct paths over IPv%d: listen on port %u: %s",
		    other == AF_INET ? 4 : 6, p->port, strerror(errno));
	if (srflx != NULL && srflx->family == srv.family)
		p2p_add_cand(p, srflx);
	if (p->lfd[fam(other)] != -1 && reflex_other(hostport, stun_port,
	    other, p->port, &c) == 0)
		p2p_add_cand(p, &c);
	for (i = 0; i < nhost; i++) {
		if (p->lfd[fam(hosts[i].family)] != -1)
			p2p_add_cand(p, &hosts[i]);
	}
	log_cands(p);
	return (0);
}

/* Stop listening. */
void
p2p_close(struct p2p *p)
{
	int	 i;

	for (i = 0; i < 2; i++) {
		if (p->lfd[i] != -1)
			close(p->lfd[i]);
		p->lfd[i] = -1;
	}
}

/* Close connections that arrive on P outside a call. */
void
p2p_strays(struct p2p *p)
{
	int	 i, fd;

	for (i = 0; i < 2; i++) {
		while (p->lfd[i] != -1 && (fd = accept4(p->lfd[i], NULL, NULL,
		    SOCK_NONBLOCK | SOCK_CLOEXEC)) != -1)
			close(fd);
	}
}

/* Our candidates as an offer or answer. */
size_t
p2p_offer(const struct p2p *p, uint8_t *out, size_t outlen)
{
	if (p->ncands == 0)
		return (0);
	return (offer_encode(p->cands, p->ncands, out, outlen));
}

/* Is P worth mapping on the router? */
int
p2p_mappable(const struct p2p *p)
{
	return (p->family == AF_INET && p->lfd[0] != -1);
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
	if (!p2p_mappable(p)) {
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
	p2p_add_cand(p, &pm->ext);
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
