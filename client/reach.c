/*
 * reach.c -- which of a peer's candidates this device may dial (§6.2).
 *
 * Candidates come from the other party of a call, so they are untrusted:
 * without a rule, a caller could make a callee connect to any host and
 * port it names, a service on the callee's loopback or a printer on its
 * LAN, before the callee knows who is calling. So a candidate is dialled
 * only where it can be a path to that peer:
 *   - never port 0, nor an address that names no single host
 *     (unspecified, 0/8, multicast, 240/4 and broadcast, IPv6 link-local
 *     and site-local, which need a scope, IPv4-compatible IPv6);
 *   - loopback only when this device reaches the server over loopback:
 *     then both parties run on the server's host, as in tests and demos;
 *   - an address of a range that is not routed on the Internet (RFC 1918,
 *     shared 100.64/10, link-local 169.254/16, benchmarking 198.18/15,
 *     unique-local fc00::/7) only when this device has an address in the
 *     same range (for unique-local, the same /48 site): a peer on the
 *     same network offers an address of that network;
 *   - any other address.
 * Pure: the device's own addresses are passed in.
 */
#include <stdint.h>
#include <string.h>

#include "client.h"

/* The IPv4 ranges that are not routed on the Internet: a peer's address
 * in one is dialled only from a device with an address in it. */
static const struct {
	uint32_t	net;
	int		bits;
} local4[] = {
	{ 0x0a000000, 8 },	/* 10/8, RFC 1918 */
	{ 0xac100000, 12 },	/* 172.16/12 */
	{ 0xc0a80000, 16 },	/* 192.168/16 */
	{ 0x64400000, 10 },	/* 100.64/10, shared (carrier NAT) */
	{ 0xa9fe0000, 16 },	/* 169.254/16, link-local */
	{ 0xc6120000, 15 },	/* 198.18/15, benchmarking */
};

/* The IPv4 address of c as a number. */
static uint32_t
v4(const struct cand *c)
{
	return ((uint32_t)c->addr[0] << 24 | (uint32_t)c->addr[1] << 16 |
	    (uint32_t)c->addr[2] << 8 | c->addr[3]);
}

/* 1 if a is in net/bits. */
static int
in4(uint32_t a, uint32_t net, int bits)
{
	return ((a ^ net) >> (32 - bits) == 0);
}

/* The scope of an IPv4 address; *range the index in local4 for
 * REACH_SCOPE_LOCAL. */
static enum reach_scope
scope4(uint32_t a, int *range)
{
	size_t	 i;

	if (in4(a, 0, 8) || in4(a, 0xe0000000, 4) || in4(a, 0xf0000000, 4))
		return (REACH_SCOPE_NONE);	/* incl. 255.255.255.255 */
	if (in4(a, 0x7f000000, 8))
		return (REACH_SCOPE_LOOPBACK);
	for (i = 0; i < sizeof local4 / sizeof local4[0]; i++) {
		if (in4(a, local4[i].net, local4[i].bits)) {
			*range = (int)i;
			return (REACH_SCOPE_LOCAL);
		}
	}
	return (REACH_SCOPE_GLOBAL);
}

/* The scope of an IPv6 address. */
static enum reach_scope
scope6(const uint8_t *a, int *range)
{
	static const uint8_t	 zero[12], mapped[12] = { [10] = 0xff,
				     [11] = 0xff };

	*range = -1;
	if (memcmp(a, mapped, 12) == 0)
		return (scope4((uint32_t)a[12] << 24 | (uint32_t)a[13] << 16 |
		    (uint32_t)a[14] << 8 | a[15], range));
	if (memcmp(a, zero, 12) == 0) {
		/* ::1, or :: and the IPv4-compatible form, both unusable */
		if (memcmp(a + 12, "\0\0\0\1", 4) == 0)
			return (REACH_SCOPE_LOOPBACK);
		return (REACH_SCOPE_NONE);
	}
	if (a[0] == 0xff || (a[0] == 0xfe && (a[1] & 0x80) == 0x80))
		return (REACH_SCOPE_NONE);	/* multicast, fe80::/9 */
	if ((a[0] & 0xfe) == 0xfc)
		return (REACH_SCOPE_LOCAL);	/* unique-local */
	return (REACH_SCOPE_GLOBAL);
}

/* The scope of c's address. */
enum reach_scope
reach_scope(const struct cand *c)
{
	int	 range;

	if (c->family == 4)
		return (scope4(v4(c), &range));
	if (c->family == 6)
		return (scope6(c->addr, &range));
	return (REACH_SCOPE_NONE);
}

/* 1 if a is a unique-local IPv6 address. */
static int
ula(const struct cand *a)
{
	return (a->family == 6 && (a->addr[0] & 0xfe) == 0xfc);
}

/* 1 if a and b, both of local scope, are in the same range. */
static int
same_range(const struct cand *a, const struct cand *b)
{
	int	 ra = -1, rb = -1;

	if (ula(a) || ula(b))
		return (ula(a) && ula(b) && memcmp(a->addr, b->addr, 6) == 0);
	if (a->family == 4)
		scope4(v4(a), &ra);
	else
		scope6(a->addr, &ra);
	if (b->family == 4)
		scope4(v4(b), &rb);
	else
		scope6(b->addr, &rb);
	return (ra != -1 && ra == rb);
}

/* May this device dial peer? REACH_OK, or why not. self holds this
 * device's own addresses (nself of them, either family). */
enum reach_why
reach_check(const struct cand *peer, const struct cand *self, int nself,
    int server_loopback)
{
	int	 i;

	if (peer->port == 0)
		return (REACH_NO_PORT);
	switch (reach_scope(peer)) {
	case REACH_SCOPE_NONE:
		return (REACH_NO_HOST);
	case REACH_SCOPE_LOOPBACK:
		return (server_loopback ? REACH_OK : REACH_LOOPBACK);
	case REACH_SCOPE_LOCAL:
		for (i = 0; i < nself; i++) {
			if (reach_scope(&self[i]) == REACH_SCOPE_LOCAL &&
			    same_range(peer, &self[i]))
				return (REACH_OK);
		}
		return (REACH_OTHER_NETWORK);
	case REACH_SCOPE_GLOBAL:
		return (REACH_OK);
	}
	return (REACH_NO_HOST);
}

/* Why a candidate is not dialled, in words. */
const char *
reach_why_str(enum reach_why why)
{
	switch (why) {
	case REACH_OK:
		return ("dialable");
	case REACH_NO_PORT:
		return ("port 0");
	case REACH_NO_HOST:
		return ("not the address of one host");
	case REACH_LOOPBACK:
		return ("loopback, and the server is not on this host");
	case REACH_OTHER_NETWORK:
		return ("a local address of a network this device is not on");
	}
	return ("?");
}
