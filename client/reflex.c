/*
 * reflex.c -- a server-reflexive address by STUN (PROTOCOL.md §5.7, §6.1)
 * for an address family the control connection does not use: WELCOME
 * reports our address in the control connection's family only, so a
 * dual-stack device asks the node's STUN responder, at the node's address
 * of the other family, from UDP port P.
 *
 * reflex_request and reflex_parse are pure, bytes in and bytes out, so
 * that tests need no network. reflex_ask does one exchange with a short
 * deadline: a missing answer costs an offer one candidate, never the call.
 * The node's address of the other family is that of its name: the
 * endpoint the control connection was opened to, resolved again.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <errno.h>
#include <netdb.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "client.h"

#define STUN_COOKIE		0x2112a442U
#define BINDING_REQUEST		0x0001
#define BINDING_SUCCESS		0x0101
#define ATTR_MAPPED		0x0001
#define ATTR_XOR_MAPPED		0x0020
#define ANSWER_MAX		548	/* RFC 8489's least path MTU, IPv4 */

/* A big-endian u16 or u32 at p. */
static uint32_t
be16(const uint8_t *p)
{
	return ((uint32_t)p[0] << 8 | p[1]);
}

static uint32_t
be32(const uint8_t *p)
{
	return (be16(p) << 16 | be16(p + 2));
}

/* A Binding request with the magic cookie and txid, no attributes. */
size_t
reflex_request(uint8_t out[REFLEX_REQ_LEN], const uint8_t txid[12])
{
	out[0] = BINDING_REQUEST >> 8;
	out[1] = BINDING_REQUEST & 0xff;
	out[2] = out[3] = 0;		/* no attributes */
	out[4] = STUN_COOKIE >> 24;
	out[5] = (STUN_COOKIE >> 16) & 0xff;
	out[6] = (STUN_COOKIE >> 8) & 0xff;
	out[7] = STUN_COOKIE & 0xff;
	memcpy(out + 8, txid, 12);
	return (REFLEX_REQ_LEN);
}

/* The address of a (XOR-)MAPPED-ADDRESS value v of vlen bytes; with xor,
 * undone with the cookie and txid (hdr: the message's first 20 bytes).
 * 0, or -1 for a value that does not parse. */
static int
mapped(const uint8_t *v, size_t vlen, int xor, const uint8_t *hdr,
    struct cand *c)
{
	size_t	 alen, i;

	if (vlen < 4 || (v[1] != 1 && v[1] != 2))
		return (-1);
	alen = v[1] == 1 ? 4 : 16;
	if (vlen != 4 + alen)
		return (-1);
	memset(c, 0, sizeof *c);
	c->kind = CAND_SRFLX;
	c->family = v[1] == 1 ? 4 : 6;
	c->port = (uint16_t)(be16(v + 2) ^ (xor ? STUN_COOKIE >> 16 : 0));
	for (i = 0; i < alen; i++)	/* hdr + 4: the cookie, then txid */
		c->addr[i] = v[4 + i] ^ (xor ? hdr[4 + i] : 0);
	return (0);
}

/* Our address in a Binding success answer to the request of txid: 0 and
 * *c (kind server-reflexive; XOR-MAPPED-ADDRESS preferred, else
 * MAPPED-ADDRESS), or -1 when p[0..len) is anything else. */
int
reflex_parse(const uint8_t *p, size_t len, const uint8_t txid[12],
    struct cand *c)
{
	size_t	 off, alen, mlen;
	int	 found = 0;

	if (len < REFLEX_REQ_LEN || be16(p) != BINDING_SUCCESS ||
	    be32(p + 4) != STUN_COOKIE || memcmp(p + 8, txid, 12) != 0)
		return (-1);
	mlen = be16(p + 2);
	if (mlen % 4 != 0 || REFLEX_REQ_LEN + mlen > len)
		return (-1);
	for (off = REFLEX_REQ_LEN; off + 4 <= REFLEX_REQ_LEN + mlen;
	    off += 4 + ((alen + 3) & ~(size_t)3)) {
		alen = be16(p + off + 2);
		if (off + 4 + alen > REFLEX_REQ_LEN + mlen)
			return (-1);
		if (be16(p + off) == ATTR_XOR_MAPPED) {
			if (mapped(p + off + 4, alen, 1, p, c) != 0)
				return (-1);
			return (0);
		}
		if (be16(p + off) == ATTR_MAPPED && !found)
			found = mapped(p + off + 4, alen, 0, p, c) == 0;
	}
	return (found ? 0 : -1);
}

/* A UDP socket bound to port lport of family, connected to the first
 * address of host:port in that family; -1 when there is none. */
static int
reflex_socket(const char *host, uint16_t port, int family, uint16_t lport)
{
	struct addrinfo	 hints, *res;
	char		 serv[8];
	int		 fd;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = family;
	hints.ai_socktype = SOCK_DGRAM;
	hints.ai_flags = AI_NUMERICSERV;
	snprintf(serv, sizeof serv, "%u", port);
	if (getaddrinfo(host, serv, &hints, &res) != 0)
		return (-1);
	fd = socket(family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd != -1 && (sock_bind_shared(fd, family, lport) == -1 ||
	    connect(fd, res->ai_addr, res->ai_addrlen) == -1)) {
		close(fd);
		fd = -1;
	}
	freeaddrinfo(res);
	return (fd);
}

/* Ask the STUN responder on port of host, in family (AF_INET or
 * AF_INET6), from UDP port lport, how it sees us: 0 and *c, or -1 when
 * host has no address of that family or no answer came within REFLEX_MS
 * (the request is sent again every REFLEX_RESEND_MS). Blocks. */
int
reflex_ask(const char *host, uint16_t port, int family, uint16_t lport,
    struct cand *c)
{
	uint8_t		 txid[12], req[REFLEX_REQ_LEN], ans[ANSWER_MAX];
	int64_t		 end = tryst_now_ms() + REFLEX_MS, next = 0, now;
	struct pollfd	 pfd;
	ssize_t		 n = 0;
	int		 rc = -1;

	if ((pfd.fd = reflex_socket(host, port, family, lport)) == -1)
		return (-1);
	pfd.events = POLLIN;
	randombytes_buf(txid, sizeof txid);
	reflex_request(req, txid);
	while (rc == -1 && (now = tryst_now_ms()) < end) {
		if (now >= next) {
			(void)send(pfd.fd, req, sizeof req, 0);
			next = now + REFLEX_RESEND_MS;
		}
		if (poll(&pfd, 1, (int)((next < end ? next : end) - now)) < 1)
			continue;
		while (rc == -1 && (n = recv(pfd.fd, ans, sizeof ans, 0)) > 0)
			rc = reflex_parse(ans, (size_t)n, txid, c);
		/* An ICMP error (no responder there) ends it at once. */
		if (rc == -1 && n == -1 && errno != EAGAIN &&
		    errno != EWOULDBLOCK && errno != EINTR)
			break;
	}
	close(pfd.fd);
	if (rc == 0 && c->family != (family == AF_INET ? 4 : 6))
		rc = -1;
	return (rc);
}

/* Our address in family af as the STUN responder on stun_port of the
 * node at endpoint ("HOST:PORT", the control connection's) sees it, asked
 * from UDP port lport at the address of that family that HOST has: 0 and
 * *c, or -1 (no STUN, no such address, no answer). */
int
reflex_other(const char *endpoint, uint16_t stun_port, int af,
    uint16_t lport, struct cand *c)
{
	char	*host, *port, *cause;
	int	 rc;

	if (stun_port == 0)
		return (-1);
	if (sock_split_hostport(endpoint, &host, &port, &cause) != 0) {
		free(cause);
		return (-1);
	}
	if ((rc = reflex_ask(host, stun_port, af, lport, c)) != 0)
		log_debug("no STUN answer from %s over IPv%d", host,
		    af == AF_INET ? 4 : 6);
	free(host);
	free(port);
	return (rc);
}
