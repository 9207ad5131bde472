/*
 * portmap.c -- a mapping of the shared local port P (§6.2) on the home
 * router. A NAT that picks a random outside port per connection never
 * lets simultaneous open through, but a router that maps P on request
 * forwards its outside address and the mapped port to P, where the client
 * listens: that address is offered as a server-reflexive candidate.
 *
 * NAT-PMP/PCP (libnatpmp) is asked first, then UPnP IGD (libminiupnpc).
 * Finding the router's service costs a wait only where there is none:
 * the NAT-PMP address request and the UPnP search go out together
 * (portmap_start), each answer is awaited until PORTMAP_BUDGET_MS after
 * that, and portmap_open, which asks for the mapping, waits only for what
 * is left of it. So the caller starts before going online and opens when
 * it builds its offer; tryst listen maps P once per online spell, so that
 * an incoming call waits for nothing. The mapping is renewed at half its
 * lifetime (portmap_tick from the session and listen loops) and deleted
 * at the end (portmap_close).
 *
 * The protocols sit behind struct portmap_proto; the bookkeeping (which
 * protocol holds the mapping, when to renew, what may be offered) is
 * tested with fakes and a fake clock.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <unistd.h>

#define ENABLE_STRNATPMPERR	/* natpmp.h declares it only then */
#include <natpmp.h>
#include <miniupnpc/miniupnpc.h>
#include <miniupnpc/upnpcommands.h>
#include <miniupnpc/upnperrors.h>

#include "client.h"

#define SSDP_ADDR	"239.255.255.250"
#define SSDP_PORT	1900
#define UPNP_DESC	"tryst"

/* When to renew a mapping that lapses at expires. */
int64_t
portmap_renew_at(int64_t now, int64_t expires)
{
	int64_t	 half;

	if (expires == 0)
		return (0);
	half = (expires - now) / 2;
	return (now + (half > PORTMAP_RETRY_MS ? half : PORTMAP_RETRY_MS));
}

/* Is the router's outside address worth offering? */
int
portmap_ext_usable(const struct cand *ext)
{
	return (ext->family == 4 && ext->port != 0 &&
	    reach_scope(ext) == REACH_SCOPE_GLOBAL);
}

/* What to try after an AddPortMapping error. */
enum portmap_upnp_next
portmap_upnp_next(int rc, int permanent, int any)
{
	if (rc == 725 && !permanent)
		return (PORTMAP_UPNP_PERMANENT);
	if (rc == 718 && !any)
		return (PORTMAP_UPNP_ANY_PORT);
	return (PORTMAP_UPNP_GIVE_UP);
}

/* The LOCATION of an SSDP answer (an http:// URL) into out. */
int
portmap_ssdp_location(const char *buf, size_t len, char *out, size_t outlen)
{
	const char	*p = buf, *end = buf + len, *eol, *v;
	size_t		 n;

	for (; p < end; p = eol + 1) {
		if ((eol = memchr(p, '\n', (size_t)(end - p))) == NULL)
			eol = end;
		if ((size_t)(eol - p) < 9 || strncasecmp(p, "location:", 9))
			continue;
		for (v = p + 9; v < eol && (*v == ' ' || *v == '\t'); v++)
			;
		n = (size_t)(eol - v);
		while (n > 0 && (v[n - 1] == '\r' || v[n - 1] == ' '))
			n--;
		if (n < 8 || n >= outlen || strncmp(v, "http://", 7) != 0)
			return (-1);
		memcpy(out, v, n);
		out[n] = '\0';
		return (0);
	}
	return (-1);
}

/* "ADDRESS:PORT" of an outside address, for the debug log. */
static const char *
ext_str(const struct cand *c, char *out, size_t outlen)
{
	char	 a[INET_ADDRSTRLEN];

	if (c->family != 4 || inet_ntop(AF_INET, c->addr, a, sizeof a) ==
	    NULL)
		snprintf(a, sizeof a, "?");
	snprintf(out, outlen, "%s:%u", a, c->port);
	return (out);
}

/* Keep ext, granted for granted_s seconds, as the mapping pp holds. */
static void
hold(struct portmap *pm, struct portmap_proto *pp, const struct cand *ext,
    uint32_t granted_s)
{
	int64_t	 now = pm->now();
	char	 a[64];

	pm->held = pp;
	pm->ext = *ext;
	pm->ext.kind = CAND_SRFLX;
	pm->expires = granted_s == 0 ? 0 : now + (int64_t)granted_s * 1000;
	pm->renew_at = portmap_renew_at(now, pm->expires);
	log_debug("port mapping: %s maps %s to port %u for %u s", pp->name,
	    ext_str(&pm->ext, a, sizeof a), pm->port, granted_s);
}

/* Ask pp for a mapping of P. 0 when one is held. */
static int
try_proto(struct portmap *pm, struct portmap_proto *pp)
{
	struct cand	 ext;
	uint32_t	 granted;
	char		 a[64];

	memset(&ext, 0, sizeof ext);
	if (pp->map(pp->arg, pm->port, pm->port, PORTMAP_LIFETIME_S,
	    PORTMAP_BUDGET_MS, &ext, &granted) != 0) {
		log_debug("port mapping: no mapping by %s", pp->name);
		return (-1);
	}
	if (!portmap_ext_usable(&ext)) {
		/* A private outside address: another NAT above the router,
		 * where the mapping reaches no one. */
		log_debug("port mapping: %s gave %s, not a global address",
		    pp->name, ext_str(&ext, a, sizeof a));
		pp->unmap(pp->arg, pm->port, ext.port, PORTMAP_BUDGET_MS);
		return (-1);
	}
	hold(pm, pp, &ext, granted);
	return (0);
}

/* Look for each protocol's service (once). */
void
portmap_start(struct portmap *pm)
{
	int	 i;

	if (pm->started)
		return;
	pm->started = 1;
	for (i = 0; i < pm->nproto; i++) {
		if (pm->proto[i].start != NULL)
			pm->proto[i].start(pm->proto[i].arg, PORTMAP_BUDGET_MS);
	}
}

/* Ask each protocol in turn for a mapping of port. */
int
portmap_open(struct portmap *pm, uint16_t port)
{
	int	 i;

	pm->port = port;
	portmap_start(pm);
	for (i = 0; i < pm->nproto; i++) {
		if (try_proto(pm, &pm->proto[i]) == 0)
			return (0);
	}
	return (-1);
}

/* Ask the protocols in turn, each once it answered, without waiting. */
enum portmap_state
portmap_step(struct portmap *pm, uint16_t port)
{
	struct portmap_proto	*pp;
	int			 a;

	pm->port = port;
	portmap_start(pm);
	if (pm->held != NULL)
		return (PORTMAP_HELD);
	while (pm->next < pm->nproto) {
		pp = &pm->proto[pm->next];
		a = pp->answered != NULL ? pp->answered(pp->arg) : 1;
		if (a == 0)
			return (PORTMAP_WAITING);
		pm->next++;
		if (a == 1 && try_proto(pm, pp) == 0)
			return (PORTMAP_HELD);
		if (a != 1)
			log_debug("port mapping: no answer by %s", pp->name);
	}
	return (PORTMAP_NONE);
}

/* The descriptors the protocols still to be asked await. */
int
portmap_fds(const struct portmap *pm, struct pollfd *pfd, int max)
{
	const struct portmap_proto	*pp;
	int				 i, n = 0;

	if (pm->held != NULL || !pm->started)
		return (0);
	for (i = pm->next; i < pm->nproto && n < max; i++) {
		pp = &pm->proto[i];
		if (pp->fds != NULL)
			n += pp->fds(pp->arg, pfd + n, max - n);
	}
	return (n);
}

/* When to step even with nothing read, or to renew. */
int64_t
portmap_deadline(const struct portmap *pm)
{
	const struct portmap_proto	*pp;
	int64_t				 when = -1, d;
	int				 i;

	if (pm->held != NULL)
		return (pm->renew_at != 0 ? pm->renew_at : -1);
	if (!pm->started)
		return (-1);
	for (i = pm->next; i < pm->nproto; i++) {
		pp = &pm->proto[i];
		if (pp->deadline != NULL && (d = pp->deadline(pp->arg)) !=
		    -1 && (when == -1 || d < when))
			when = d;
	}
	return (when);
}

/* Renew the mapping when due. */
void
portmap_tick(struct portmap *pm)
{
	struct portmap_proto	*pp = pm->held;
	struct cand		 ext;
	uint32_t		 granted;
	int64_t			 now;

	if (pp == NULL || pm->renew_at == 0 || (now = pm->now()) <
	    pm->renew_at)
		return;
	memset(&ext, 0, sizeof ext);
	if (pp->map(pp->arg, pm->port, pm->ext.port, PORTMAP_LIFETIME_S,
	    PORTMAP_BUDGET_MS, &ext, &granted) == 0 &&
	    portmap_ext_usable(&ext)) {
		hold(pm, pp, &ext, granted);
		return;
	}
	if (now >= pm->expires) {
		log_debug("port mapping: %s did not renew it; it lapsed",
		    pp->name);
		pm->held = NULL;
		return;
	}
	pm->renew_at = portmap_renew_at(now, pm->expires);
}

/* Delete the mapping and free the protocols' state. */
void
portmap_close(struct portmap *pm)
{
	int	 i;

	if (pm->held != NULL) {
		pm->held->unmap(pm->held->arg, pm->port, pm->ext.port,
		    PORTMAP_BUDGET_MS);
		log_debug("port mapping: deleted by %s", pm->held->name);
	}
	pm->held = NULL;
	for (i = 0; i < pm->nproto; i++) {
		if (pm->proto[i].free != NULL)
			pm->proto[i].free(pm->proto[i].arg);
		pm->proto[i].arg = NULL;
	}
	pm->nproto = 0;
}

/* ---- NAT-PMP/PCP, libnatpmp ------------------------------------------ */

struct pmp {
	natpmp_t	 n;
	int		 open;
	int		 asked;		/* the address request is out */
	int		 got;		/* its answer is in addr */
	natpmpresp_t	 addr;
	int64_t		 end;		/* when to give up on its answer */
};

/* Send the request for the router's outside address, to be answered by
 * budget_ms from now. */
static void
pmp_ask(struct pmp *st, int budget_ms)
{
	st->end = tryst_now_ms() + budget_ms;
	if (!st->open && initnatpmp(&st->n, 0, 0) != 0)
		return;		/* no IPv4 default gateway */
	st->open = 1;
	st->asked = sendpublicaddressrequest(&st->n) >= 0;
}

/* Ask for the outside address now; pmp_map takes the answer. A gateway
 * without NAT-PMP mostly says so at once (port unreachable), so that
 * pmp_map then fails without waiting. */
static void
pmp_start(void *arg, int budget_ms)
{
	pmp_ask(arg, budget_ms);
}

/* Wait until end for the answer to the pending request (libnatpmp sends
 * it again on its own schedule). 0 with it in r, or -1. */
static int
pmp_answer(natpmp_t *n, natpmpresp_t *r, int64_t end)
{
	struct pollfd	 pfd;
	struct timeval	 tv;
	int64_t		 ms, left;
	int		 rv;

	while ((rv = readnatpmpresponseorretry(n, r)) == NATPMP_TRYAGAIN) {
		if ((left = end - tryst_now_ms()) <= 0)
			return (-1);
		ms = left;
		if (getnatpmprequesttimeout(n, &tv) == 0) {
			ms = (int64_t)tv.tv_sec * 1000 + tv.tv_usec / 1000 + 1;
			ms = ms < 0 ? 0 : ms > left ? left : ms;
		}
		pfd.fd = n->s;
		pfd.events = POLLIN;
		poll(&pfd, 1, (int)ms);
	}
	if (rv != 0)
		log_debug("port mapping: NAT-PMP: %s", strnatpmperr(rv));
	return (rv == 0 ? 0 : -1);
}

/* NAT-PMP: the router's outside address (asked by pmp_start, or now),
 * then the mapping, which has a budget of its own: the router is known
 * to answer by then. */
static int
pmp_map(void *arg, uint16_t port, uint16_t want, uint32_t life_s,
    int budget_ms, struct cand *ext, uint32_t *granted_s)
{
	struct pmp	*st = arg;
	natpmpresp_t	 r;

	if (st->got)
		r = st->addr;
	else {
		if (!st->asked)
			pmp_ask(st, budget_ms);
		if (!st->asked)
			return (-1);
		if (pmp_answer(&st->n, &r, st->end) != 0)
			r.type = 0xffff;
	}
	st->asked = st->got = 0;
	if (r.type != NATPMP_RESPTYPE_PUBLICADDRESS)
		return (-1);
	ext->family = 4;
	memcpy(ext->addr, &r.pnu.publicaddress.addr, 4);
	if (sendnewportmappingrequest(&st->n, NATPMP_PROTOCOL_TCP, port, want,
	    life_s) < 0 || pmp_answer(&st->n, &r, tryst_now_ms() +
	    budget_ms) != 0 ||
	    r.type != NATPMP_RESPTYPE_TCPPORTMAPPING)
		return (-1);
	ext->port = r.pnu.newportmapping.mappedpublicport;
	*granted_s = r.pnu.newportmapping.lifetime;
	return (ext->port == 0 || *granted_s == 0 ? -1 : 0);
}

/* Take the answer to the address request if it came, without waiting
 * (libnatpmp's socket does not block, and it sends the request again on
 * its own schedule). */
static int
pmp_answered(void *arg)
{
	struct pmp	*st = arg;
	int		 rv;

	if (st->got)
		return (1);
	if (!st->asked)
		return (-1);
	rv = readnatpmpresponseorretry(&st->n, &st->addr);
	if (rv == 0 && st->addr.type == NATPMP_RESPTYPE_PUBLICADDRESS) {
		st->got = 1;
		return (1);
	}
	if (rv == NATPMP_TRYAGAIN && tryst_now_ms() < st->end)
		return (0);
	if (rv != NATPMP_TRYAGAIN && rv != 0)
		log_debug("port mapping: NAT-PMP: %s", strnatpmperr(rv));
	st->asked = 0;
	return (-1);
}

static int
pmp_fds(void *arg, struct pollfd *pfd, int max)
{
	struct pmp	*st = arg;

	if (!st->asked || st->got || max < 1)
		return (0);
	pfd->fd = st->n.s;
	pfd->events = POLLIN;
	return (1);
}

/* The end of the wait, or libnatpmp's next resend if sooner. */
static int64_t
pmp_deadline(void *arg)
{
	struct pmp	*st = arg;
	struct timeval	 tv;
	int64_t		 when;

	if (!st->asked || st->got)
		return (-1);
	if (getnatpmprequesttimeout(&st->n, &tv) != 0)
		return (st->end);
	when = tryst_now_ms() + (int64_t)tv.tv_sec * 1000 + tv.tv_usec /
	    1000 + 1;
	return (when < st->end ? when : st->end);
}

/* NAT-PMP: a mapping with lifetime 0 is deleted. */
static void
pmp_unmap(void *arg, uint16_t port, uint16_t ext_port, int budget_ms)
{
	struct pmp	*st = arg;
	natpmpresp_t	 r;

	if (st->open && sendnewportmappingrequest(&st->n, NATPMP_PROTOCOL_TCP,
	    port, 0, 0) >= 0)
		pmp_answer(&st->n, &r, tryst_now_ms() + budget_ms);
}

static void
pmp_free(void *arg)
{
	struct pmp	*st = arg;

	if (st != NULL && st->open)
		closenatpmp(&st->n);
	free(st);
}

/* ---- UPnP IGD, libminiupnpc ------------------------------------------ */

struct upnp {
	struct UPNPUrls	 urls;
	struct IGDdatas	 data;
	char		 lan[64];	/* our address, as the IGD sees it */
	int		 found;
	char		 url[512];	/* the IGD's description, or "" */
	int		 fd;		/* the SSDP search, or -1 */
	int		 gwfd;		/* to the gateway alone, or -1 */
	int64_t		 end;		/* when the search is over */
};

/* libnatpmp's (in getgateway.h, which it does not install): the IPv4
 * default gateway. */
int	 getdefaultgateway(in_addr_t *);

/* A UDP socket that has sent req to addr port 1900, connected unless
 * addr is the SSDP group (so that a refusal comes back); or -1. */
static int
ssdp_send(in_addr_t addr, const char *req, size_t len)
{
	struct sockaddr_in	 sin;
	int			 fd, ttl = 2;

	if ((fd = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1)
		return (-1);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons(SSDP_PORT);
	sin.sin_addr.s_addr = addr;
	if (IN_MULTICAST(ntohl(addr)))
		setsockopt(fd, IPPROTO_IP, IP_MULTICAST_TTL, &ttl, sizeof ttl);
	else if (connect(fd, (struct sockaddr *)&sin, sizeof sin) == -1) {
		close(fd);
		return (-1);
	}
	if (sendto(fd, req, len, 0, (struct sockaddr *)&sin, sizeof sin) ==
	    -1) {
		close(fd);
		return (-1);
	}
	return (fd);
}

/* Search the LAN for an IGD: send the SSDP M-SEARCH now, to the group
 * and to the default gateway alone, and take answers until budget_ms
 * from now (ssdp_take). libminiupnpc's own discovery waits at least a
 * second (MX 1), so the search is made here; an IGD that spreads its
 * answers over MX is missed when it answers late, unless it answers the
 * unicast search, which has no MX (UPnP 1.1). Sent with the NAT-PMP
 * request (portmap_start): the waits overlap. */
static void
upnp_start(void *arg, int budget_ms)
{
	static const char	 req[] = "M-SEARCH * HTTP/1.1\r\n"
	    "HOST: " SSDP_ADDR ":1900\r\n"
	    "ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n"
	    "MAN: \"ssdp:discover\"\r\nMX: 1\r\n\r\n";
	struct upnp		*st = arg;
	struct in_addr		 gw;
	char			 ureq[256], a[INET_ADDRSTRLEN];
	int			 n;

	st->end = tryst_now_ms() + budget_ms;
	if (st->fd != -1 || st->gwfd != -1)
		return;
	st->fd = ssdp_send(inet_addr(SSDP_ADDR), req, sizeof req - 1);
	if (getdefaultgateway(&gw.s_addr) != 0 ||
	    inet_ntop(AF_INET, &gw, a, sizeof a) == NULL)
		return;
	n = snprintf(ureq, sizeof ureq, "M-SEARCH * HTTP/1.1\r\n"
	    "HOST: %s:1900\r\n"
	    "ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n"
	    "MAN: \"ssdp:discover\"\r\n\r\n", a);
	if (n > 0 && (size_t)n < sizeof ureq)
		st->gwfd = ssdp_send(gw.s_addr, ureq, (size_t)n);
}

/* Stop searching. */
static void
ssdp_stop(struct upnp *st)
{
	if (st->fd != -1)
		close(st->fd);
	if (st->gwfd != -1)
		close(st->gwfd);
	st->fd = st->gwfd = -1;
}

/* Take what has come of the search, without waiting (a bounded number
 * of datagrams): 1 with the IGD's description URL in st->url, -1 when
 * the gateway refused the unicast search, 0 nothing yet. A gateway that
 * refuses it (port unreachable) has no IGD, and only the gateway's, the
 * NAT our packets pass, is worth asking: then the search is over at
 * once, and a network without a mapping service costs no wait. */
static int
ssdp_recv(struct upnp *st)
{
	char	 buf[1500];
	ssize_t	 n;
	int	 i, k, fd;

	for (i = 0; i < 2; i++) {
		if ((fd = i == 0 ? st->fd : st->gwfd) == -1)
			continue;
		for (k = 0; k < 16; k++) {
			if ((n = recv(fd, buf, sizeof buf, MSG_DONTWAIT)) > 0 &&
			    portmap_ssdp_location(buf, (size_t)n, st->url,
			    sizeof st->url) == 0)
				return (1);
			if (n == -1 && i == 1 && errno == ECONNREFUSED) {
				log_debug("port mapping: the gateway refused "
				    "the UPnP search");
				return (-1);
			}
			if (n == -1)
				break;
		}
	}
	st->url[0] = '\0';
	return (0);
}

static int
upnp_fds(void *arg, struct pollfd *pfd, int max)
{
	struct upnp	*st = arg;
	int		 n = 0;

	if (st->fd != -1 && n < max) {
		pfd[n].fd = st->fd;
		pfd[n++].events = POLLIN;
	}
	if (st->gwfd != -1 && n < max) {
		pfd[n].fd = st->gwfd;
		pfd[n++].events = POLLIN;
	}
	return (n);
}

static int64_t
upnp_deadline(void *arg)
{
	struct upnp	*st = arg;

	return (st->fd != -1 || st->gwfd != -1 ? st->end : -1);
}

/* The first answer to the search until its end, into st->url. */
static int
ssdp_take(struct upnp *st)
{
	struct pollfd	 pfd[2];
	int64_t		 left;
	int		 rc, n;

	while ((rc = ssdp_recv(st)) == 0 && (left = st->end -
	    tryst_now_ms()) >= 0 && (n = upnp_fds(st, pfd, 2)) > 0 &&
	    poll(pfd, (nfds_t)n, (int)left) > 0)
		;
	ssdp_stop(st);
	return (rc == 1 ? 0 : -1);
}

/* Take the IGD's answer to the search if it came, without waiting. */
static int
upnp_answered(void *arg)
{
	struct upnp	*st = arg;
	int		 rc;

	if (st->found || st->url[0] != '\0')
		return (1);
	if (st->fd == -1 && st->gwfd == -1)
		return (-1);
	if ((rc = ssdp_recv(st)) == 0 && tryst_now_ms() < st->end)
		return (0);
	ssdp_stop(st);
	return (rc == 1 ? 1 : -1);
}

/* Find the IGD (unless upnp_answered did) and read its description. */
static int
upnp_find(struct upnp *st)
{
	if (st->url[0] == '\0' && ssdp_take(st) != 0)
		return (-1);
	if (!UPNP_GetIGDFromUrl(st->url, &st->urls, &st->data, st->lan,
	    sizeof st->lan)) {
		st->url[0] = '\0';
		return (-1);
	}
	st->found = 1;
	/* miniupnpc says "not connected" also when the IGD's outside
	 * address is reserved (as in the tests' 203.0.113.0/24); the
	 * address itself decides (portmap_ext_usable). */
	if (UPNPIGD_IsConnected(&st->urls, &st->data) != 1)
		log_debug("port mapping: the UPnP IGD says it is not "
		    "connected; asking it anyway");
	return (0);
}

/* AddPortMapping, or AddAnyPortMapping with any set (*want then set to
 * the port given). The UPnP result. */
static int
upnp_add(struct upnp *st, uint16_t port, uint16_t *want, const char *life,
    int any)
{
	char	 ext[8], in[8], got[8];
	int	 rc;

	snprintf(ext, sizeof ext, "%u", *want);
	snprintf(in, sizeof in, "%u", port);
	if (!any)
		return (UPNP_AddPortMapping(st->urls.controlURL,
		    st->data.first.servicetype, ext, in, st->lan, UPNP_DESC,
		    "TCP", NULL, life));
	got[0] = '\0';
	rc = UPNP_AddAnyPortMapping(st->urls.controlURL,
	    st->data.first.servicetype, ext, in, st->lan, UPNP_DESC, "TCP",
	    NULL, life, got);
	if (rc == 0 && (*want = (uint16_t)strtoul(got, NULL, 10)) == 0)
		rc = -1;
	return (rc);
}

/* UPnP: the IGD's outside address, then the mapping; an IGD that only
 * takes permanent mappings gets one (deleted at the end all the same). */
static int
upnp_map(void *arg, uint16_t port, uint16_t want, uint32_t life_s,
    int budget_ms, struct cand *ext, uint32_t *granted_s)
{
	struct upnp	*st = arg;
	char		 ip[40], life[12];
	int		 rc, permanent = 0, any = 0;

	if (!st->found && st->url[0] == '\0' && st->fd == -1 &&
	    st->gwfd == -1)
		upnp_start(st, budget_ms);
	if (!st->found && upnp_find(st) != 0)
		return (-1);
	if (UPNP_GetExternalIPAddress(st->urls.controlURL,
	    st->data.first.servicetype, ip) != 0 ||
	    inet_pton(AF_INET, ip, ext->addr) != 1)
		return (-1);
	ext->family = 4;
	snprintf(life, sizeof life, "%u", life_s);
	while ((rc = upnp_add(st, port, &want, life, any)) != 0) {
		switch (portmap_upnp_next(rc, permanent, any)) {
		case PORTMAP_UPNP_PERMANENT:
			permanent = 1;
			snprintf(life, sizeof life, "0");
			continue;
		case PORTMAP_UPNP_ANY_PORT:
			any = 1;
			continue;
		case PORTMAP_UPNP_GIVE_UP:
			break;
		}
		log_debug("port mapping: UPnP: %d %s", rc, strupnperror(rc));
		return (-1);
	}
	ext->port = want;
	*granted_s = permanent ? 0 : life_s;
	return (0);
}

/* UPnP: DeletePortMapping. */
static void
upnp_unmap(void *arg, uint16_t port, uint16_t ext_port, int budget_ms)
{
	struct upnp	*st = arg;
	char		 ext[8];

	if (!st->found)
		return;
	snprintf(ext, sizeof ext, "%u", ext_port);
	UPNP_DeletePortMapping(st->urls.controlURL,
	    st->data.first.servicetype, ext, "TCP", NULL);
}

static void
upnp_free(void *arg)
{
	struct upnp	*st = arg;

	if (st != NULL && st->found)
		FreeUPNPUrls(&st->urls);
	if (st != NULL)
		ssdp_stop(st);
	free(st);
}

/* Ready pm with the real protocols, NAT-PMP/PCP first. */
void
portmap_init(struct portmap *pm)
{
	struct upnp	*up;

	memset(pm, 0, sizeof *pm);
	pm->now = tryst_now_ms;
	pm->proto[0] = (struct portmap_proto){ .name = "NAT-PMP",
	    .start = pmp_start, .map = pmp_map, .unmap = pmp_unmap,
	    .free = pmp_free, .answered = pmp_answered, .fds = pmp_fds,
	    .deadline = pmp_deadline, .arg = xcalloc(1, sizeof (struct pmp)) };
	up = xcalloc(1, sizeof *up);
	up->fd = up->gwfd = -1;
	pm->proto[1] = (struct portmap_proto){ .name = "UPnP IGD",
	    .start = upnp_start, .map = upnp_map, .unmap = upnp_unmap,
	    .free = upnp_free, .answered = upnp_answered, .fds = upnp_fds,
	    .deadline = upnp_deadline, .arg = up };
	pm->nproto = 2;
}
