/*
 * stun.c -- the STUN responder: Binding requests of RFC 8489 (and of RFC
 * 3489, without the magic cookie) on one UDP socket.
 *
 * stun_answer is pure, bytes in and bytes out, so that tests and fuzzers
 * need no network. Everything that is not a well-formed Binding request is
 * dropped without a word. Answers are small and never much larger than the
 * request, and each source address (an IPv4 address or an IPv6 /64) has a
 * token bucket, so the responder cannot be used to amplify a flood at a
 * spoofed victim.
 */
#include <sys/socket.h>

#include <netinet/in.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server.h"

#define STUN_HDR		20
#define STUN_COOKIE		0x2112a442U
#define STUN_FP_XOR		0x5354554eU

#define BINDING_REQUEST		0x0001
#define BINDING_SUCCESS		0x0101
#define BINDING_ERROR		0x0111

#define ATTR_MAPPED_ADDRESS	0x0001
#define ATTR_CHANGE_REQUEST	0x0003
#define ATTR_ERROR_CODE		0x0009
#define ATTR_UNKNOWN		0x000a
#define ATTR_XOR_MAPPED		0x0020
#define ATTR_FINGERPRINT	0x8028

#define CHANGE_IP		0x04
#define CHANGE_PORT		0x02

#define UNKNOWN_MAX	16	/* unknown attributes listed in a 420 */
#define REASON_420	"Unknown Attribute"
#define STUN_SLACK	64	/* an answer exceeds its request by at most */
#define ANSWER_MAX	128	/* the largest answer built, with room */

#define DGRAM_MAX	1500	/* longer datagrams are dropped */
#define BATCH		32	/* datagrams per recvmmsg/sendmmsg */
#define PER_PASS	2	/* batches per read callback */
#define COALESCE_US	1000	/* pause after answering, to gather more */
#define RATE		20	/* answers per second per source ... */
#define BURST		40	/* ... after a burst of this many */
#define SOURCES_MAX	65536	/* sources with a bucket */
#define PRUNE_MS	10000	/* forget idle sources this often */

/* What parsing found in a Binding request. */
struct request {
	int		 modern;	/* has the RFC 8489 magic cookie */
	int		 fingerprint;	/* ends with a valid FINGERPRINT */
	int		 change;	/* asks for another address or port */
	size_t		 nunknown;	/* comprehension-required unknowns */
	uint16_t	 unknown[UNKNOWN_MAX];
};

/* A source's token bucket, in thousandths of an answer. */
struct source {
	uint64_t	 ms;		/* when tokens was last brought up */
	uint32_t	 tokens;
};

struct stun {
	struct server	*srv;
	int		 fd;
	struct event	*ev;		/* readable; re-added after a pause */
	struct event	*pause;
	struct table	*sources;	/* address key -> struct source */
	uint64_t	 pruned_ms;
	/* One batch: datagrams in, answers out, one system call each. */
	struct mmsghdr	 rmsg[BATCH];
	struct mmsghdr	 smsg[BATCH];
	struct iovec	 riov[BATCH];
	struct iovec	 siov[BATCH];
	struct sockaddr_storage from[BATCH];
	uint8_t		 in[BATCH][DGRAM_MAX];
	uint8_t		 out[BATCH][ANSWER_MAX];
};

/* CRC-32 of ISO 3309 / IEEE 802.3, as FINGERPRINT uses. */
static uint32_t
crc32_ieee(const uint8_t *p, size_t len)
{
	uint32_t	 c = 0xffffffffU;
	int		 k;

	while (len-- > 0) {
		c ^= *p++;
		for (k = 0; k < 8; k++)
			c = (c >> 1) ^ (0xedb88320U & (0U - (c & 1)));
	}
	return (~c);
}

/* Note one attribute of a request at offset off; -1 if it is malformed. */
static int
parse_attr(struct request *r, const uint8_t *msg, size_t off)
{
	uint16_t	 type = get_u16(msg + off);
	uint16_t	 alen = get_u16(msg + off + 2);
	const uint8_t	*v = msg + off + 4;

	if (type == ATTR_CHANGE_REQUEST) {
		if (alen != 4)
			return (-1);
		if (get_u32(v) & (CHANGE_IP | CHANGE_PORT))
			r->change = 1;
		return (0);
	}
	if (type == ATTR_FINGERPRINT && r->modern) {
		if (alen != 4 ||
		    get_u32(v) != (crc32_ieee(msg, off) ^ STUN_FP_XOR))
			return (-1);
		r->fingerprint = 1;
		return (0);
	}
	if (type < 0x8000) {
		if (r->nunknown < UNKNOWN_MAX)
			r->unknown[r->nunknown] = type;
		r->nunknown++;
	}
	return (0);
}

/* Check that msg is a well-formed Binding request and note what it asks;
 * -1 if it is anything else. */
static int
parse(struct request *r, const uint8_t *msg, size_t len)
{
	size_t	 off, end;

	memset(r, 0, sizeof *r);
	if (len < STUN_HDR || len > DGRAM_MAX || len % 4 != 0)
		return (-1);
	if (get_u16(msg) != BINDING_REQUEST ||
	    get_u16(msg + 2) != len - STUN_HDR)
		return (-1);
	r->modern = get_u32(msg + 4) == STUN_COOKIE;
	for (off = STUN_HDR; off < len; off = end) {
		if (r->fingerprint || len - off < 4)
			return (-1);	/* FINGERPRINT must come last */
		end = off + 4 + (((size_t)get_u16(msg + off + 2) + 3) &
		    ~(size_t)3);
		if (end > len || parse_attr(r, msg, off) != 0)
			return (-1);
	}
	return (0);
}

/* Append an attribute with zero padding at off; the new end. */
static size_t
put_attr(uint8_t *buf, size_t off, uint16_t type, const void *v,
    size_t vlen)
{
	size_t	 padded = (vlen + 3) & ~(size_t)3;

	put_u16(buf + off, type);
	put_u16(buf + off + 2, (uint16_t)vlen);
	memcpy(buf + off + 4, v, vlen);
	memset(buf + off + 4 + vlen, 0, padded - vlen);
	return (off + 4 + padded);
}

/* Family, port and address bytes of sa, an IPv4-mapped IPv6 address as
 * IPv4; the address length, or 0 for another family. */
static size_t
source_of(const struct sockaddr *sa, uint8_t *family, uint16_t *port,
    uint8_t addr[16])
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

	if (sa == NULL)
		return (0);
	*family = 0x01;
	if (sa->sa_family == AF_INET) {
		*port = ntohs(s4->sin_port);
		memcpy(addr, &s4->sin_addr, 4);
		return (4);
	}
	if (sa->sa_family != AF_INET6)
		return (0);
	*port = ntohs(s6->sin6_port);
	if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		memcpy(addr, s6->sin6_addr.s6_addr + 12, 4);
		return (4);
	}
	*family = 0x02;
	memcpy(addr, &s6->sin6_addr, 16);
	return (16);
}

/* Append the mapped address of from: XOR-MAPPED-ADDRESS when modern
 * (XORed with the cookie and transaction ID already in buf), else
 * MAPPED-ADDRESS. The new end, or 0 for an unknown family. */
static size_t
put_address(uint8_t *buf, size_t off, const struct sockaddr *from,
    int modern)
{
	uint8_t		 v[20], addr[16], family;
	uint16_t	 port;
	size_t		 alen, i;

	if ((alen = source_of(from, &family, &port, addr)) == 0)
		return (0);
	if (modern) {
		port ^= STUN_COOKIE >> 16;
		for (i = 0; i < alen; i++)
			addr[i] ^= buf[4 + i];
	}
	v[0] = 0;
	v[1] = family;
	put_u16(v + 2, port);
	memcpy(v + 4, addr, alen);
	return (put_attr(buf, off, modern ? ATTR_XOR_MAPPED :
	    ATTR_MAPPED_ADDRESS, v, 4 + alen));
}

/* Append the ERROR-CODE 420 and UNKNOWN-ATTRIBUTES of a 420 answer. RFC
 * 3489 wants the list a multiple of 4 bytes, by repeating one; RFC 8489
 * pads it. The new end. */
static size_t
put_unknown(uint8_t *buf, size_t off, const struct request *r)
{
	uint8_t	 v[4 + sizeof REASON_420], list[2 * (UNKNOWN_MAX + 1)];
	size_t	 i, n = r->nunknown < UNKNOWN_MAX ? r->nunknown : UNKNOWN_MAX;

	memset(v, 0, 4);
	v[2] = 4;		/* class: 420 is 4 * 100 + 20 */
	v[3] = 20;
	memcpy(v + 4, REASON_420, sizeof REASON_420 - 1);
	off = put_attr(buf, off, ATTR_ERROR_CODE, v, sizeof v - 1);
	for (i = 0; i < n; i++)
		put_u16(list + 2 * i, r->unknown[i]);
	if (!r->modern && n % 2 == 1)
		put_u16(list + 2 * n++, r->unknown[0]);
	return (put_attr(buf, off, ATTR_UNKNOWN, list, 2 * n));
}

/* Set the header's length for a message ending at off and append
 * FINGERPRINT if wanted; the final length. */
static size_t
finish(uint8_t *buf, size_t off, int fingerprint)
{
	uint8_t	 v[4];

	if (!fingerprint) {
		put_u16(buf + 2, (uint16_t)(off - STUN_HDR));
		return (off);
	}
	put_u16(buf + 2, (uint16_t)(off + 8 - STUN_HDR));
	put_u32(v, crc32_ieee(buf, off) ^ STUN_FP_XOR);
	return (put_attr(buf, off, ATTR_FINGERPRINT, v, sizeof v));
}

/* The answer to one datagram; its length in out, or 0 to send nothing. */
size_t
stun_answer(const uint8_t *req, size_t len, const struct sockaddr *from,
    uint8_t *out, size_t outlen)
{
	struct request	 r;
	uint8_t		 buf[ANSWER_MAX];
	size_t		 n;

	if (parse(&r, req, len) != 0 || r.change)
		return (0);
	put_u16(buf, r.nunknown > 0 ? BINDING_ERROR : BINDING_SUCCESS);
	memcpy(buf + 4, req + 4, STUN_HDR - 4);	/* cookie, transaction */
	if (r.nunknown > 0)
		n = put_unknown(buf, STUN_HDR, &r);
	else if ((n = put_address(buf, STUN_HDR, from, r.modern)) == 0)
		return (0);
	n = finish(buf, n, r.fingerprint);
	if (n > outlen || n > len + STUN_SLACK)
		return (0);
	memcpy(out, buf, n);
	return (n);
}

/* Bring a bucket up to now. */
static void
refill(struct source *s, uint64_t now)
{
	uint64_t	 t;

	if (now > s->ms) {
		t = s->tokens + (now - s->ms) * RATE;
		s->tokens = t > BURST * 1000 ? BURST * 1000 : (uint32_t)t;
	}
	s->ms = now;
}

/* table_each visitor: forget a source whose bucket is full again. */
static void
prune_one(const uint8_t *key, void *value, void *arg)
{
	struct stun	*st = arg;
	struct source	*s = value;

	refill(s, st->pruned_ms);
	if (s->tokens == BURST * 1000) {
		table_del(st->sources, key);
		free(s);
	}
}

/* Forget the sources that have been quiet long enough. */
static void
prune(struct stun *st, uint64_t now)
{
	st->pruned_ms = now;
	table_each(st->sources, prune_one, st);
}

/* Take a token of from's bucket; -1 if it has none. A flood from many
 * (spoofed) sources fills the table: then new sources get no answer. */
static int
allow(struct stun *st, const struct sockaddr *from, uint64_t now)
{
	struct source	*s;
	uint8_t		 key[16];

	rl_addr_key(from, key);
	if ((s = table_get(st->sources, key)) == NULL) {
		if (table_count(st->sources) >= SOURCES_MAX &&
		    now >= st->pruned_ms + 1000)
			prune(st, now);
		if (table_count(st->sources) >= SOURCES_MAX)
			return (-1);
		s = xcalloc(1, sizeof *s);
		s->ms = now;
		s->tokens = BURST * 1000;
		table_set(st->sources, key, s);
	}
	refill(s, now);
	if (s->tokens < 1000)
		return (-1);
	s->tokens -= 1000;
	return (0);
}

/* Point the receive headers at the batch's buffers (recvmmsg changes
 * msg_namelen, so before every call). */
static void
batch_arm(struct stun *st)
{
	struct msghdr	*h;
	int		 i;

	memset(st->rmsg, 0, sizeof st->rmsg);
	for (i = 0; i < BATCH; i++) {
		st->riov[i].iov_base = st->in[i];
		st->riov[i].iov_len = sizeof st->in[i];
		h = &st->rmsg[i].msg_hdr;
		h->msg_name = &st->from[i];
		h->msg_namelen = sizeof st->from[i];
		h->msg_iov = &st->riov[i];
		h->msg_iovlen = 1;
	}
}

/* The port of an IPv4 or IPv6 address; 0 for another family. */
static uint16_t
sa_port(const struct sockaddr *sa)
{
	if (sa->sa_family == AF_INET)
		return (ntohs(((const struct sockaddr_in *)sa)->sin_port));
	if (sa->sa_family == AF_INET6)
		return (ntohs(((const struct sockaddr_in6 *)sa)->sin6_port));
	return (0);
}

/* Answer datagram i of the batch into send slot k if it is due: 1 if it
 * took the slot. */
static int
batch_answer(struct stun *st, int i, int k, uint64_t now)
{
	struct msghdr	*in = &st->rmsg[i].msg_hdr, *out = &st->smsg[k].msg_hdr;
	struct sockaddr	*from = (struct sockaddr *)&st->from[i];
	size_t		 n;

	/* Port 0 cannot be answered (and would fail the whole send). */
	if ((in->msg_flags & MSG_TRUNC) || sa_port(from) == 0)
		return (0);
	n = stun_answer(st->in[i], st->rmsg[i].msg_len, from, st->out[k],
	    sizeof st->out[k]);
	if (n == 0)
		return (0);
	if (allow(st, from, now) != 0) {
		st->srv->stats.rate_limited[RL_STUN]++;
		return (0);
	}
	st->srv->stats.stun_requests++;
	st->siov[k].iov_base = st->out[k];
	st->siov[k].iov_len = n;
	memset(out, 0, sizeof *out);
	out->msg_name = from;
	out->msg_namelen = in->msg_namelen;
	out->msg_iov = &st->siov[k];
	out->msg_iovlen = 1;
	return (1);
}

/* Read a batch of datagrams and answer those that are due: how many
 * were read (fewer than BATCH: nothing more is waiting). */
static int
serve_batch(struct stun *st, uint64_t now)
{
	int	 n, i, k = 0, sent = 0, r;

	batch_arm(st);
	n = recvmmsg(st->fd, st->rmsg, BATCH, MSG_DONTWAIT, NULL);
	if (n == -1) {
		if (errno != EAGAIN && errno != EWOULDBLOCK && errno != EINTR)
			log_debug("stun: recvmmsg: %s", strerror(errno));
		return (0);
	}
	for (i = 0; i < n; i++)
		k += batch_answer(st, i, k, now);
	while (sent < k) {
		r = sendmmsg(st->fd, st->smsg + sent, (unsigned)(k - sent),
		    MSG_DONTWAIT);
		if (r > 0) {
			sent += r;
			continue;
		}
		if (errno == EAGAIN || errno == EWOULDBLOCK || errno == ENOBUFS)
			break;	/* UDP: a full send buffer drops answers */
		/* This one cannot go; the others still can. */
		log_debug("stun: sendmmsg: %s", strerror(errno));
		sent++;
	}
	return (n);
}

/* The socket is readable: answer up to PER_PASS batches, then yield. */
static void
stun_read(evutil_socket_t fd, short ev, void *arg)
{
	struct stun	*st = arg;
	struct timeval	 pause = { 0, COALESCE_US };
	uint64_t	 now = server_now_ms();
	int		 i, n, total = 0;

	if (now >= st->pruned_ms + PRUNE_MS || now < st->pruned_ms)
		prune(st, now);
	for (i = 0, n = BATCH; i < PER_PASS && n == BATCH; i++)
		total += (n = serve_batch(st, now));
	/* Once the socket is drained, let the next datagrams gather for a
	 * moment: under load one wake-up then serves many (the cost of a
	 * STUN answer is mostly the wake-up), while a lone request is
	 * answered at once. With more waiting, go on at the next pass. */
	if (total > 0 && n < BATCH)
		evtimer_add(st->pause, &pause);
	else
		event_add(st->ev, NULL);
}

/* The pause is over: wait for datagrams again. */
static void
stun_resume(evutil_socket_t fd, short ev, void *arg)
{
	struct stun	*st = arg;

	event_add(st->ev, NULL);
}

/* A non-blocking UDP socket bound to ss; -1 and *cause. An IPv6 wildcard
 * also takes IPv4 (as v4-mapped sources). SO_REUSEPORT: the trystds of
 * several nodes on one host may share stun_listen, the kernel spreading
 * the datagrams of different sources over them (an answer needs no
 * state). */
static int
bind_udp(const struct sockaddr_storage *ss, int sslen, const char *name,
    char **cause)
{
	int	 fd, off = 0, on = 1;

	fd = socket(ss->ss_family, SOCK_DGRAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0);
	if (fd == -1) {
		xasprintf(cause, "stun_listen %s: socket: %s", name,
		    strerror(errno));
		return (-1);
	}
	if (ss->ss_family == AF_INET6)
		(void)setsockopt(fd, IPPROTO_IPV6, IPV6_V6ONLY, &off,
		    sizeof off);
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) != 0) {
		xasprintf(cause, "stun_listen %s: SO_REUSEPORT: %s", name,
		    strerror(errno));
		close(fd);
		return (-1);
	}
	if (bind(fd, (const struct sockaddr *)ss, (socklen_t)sslen) != 0) {
		xasprintf(cause, "stun_listen %s: %s", name, strerror(errno));
		close(fd);
		return (-1);
	}
	return (fd);
}

/* Bind stun_listen (as settings_load parsed it), if set, and answer on
 * the loop; -1 and *cause. */
int
stun_start(struct server *srv, char **cause)
{
	struct stun		*st;
	const char		*name = srv->set.stun_listen;
	int			 fd;

	if (srv->set.stun_len == 0)
		return (0);
	if ((fd = bind_udp(&srv->set.stun_addr, (int)srv->set.stun_len, name,
	    cause)) == -1)
		return (-1);
	st = xcalloc(1, sizeof *st);
	st->srv = srv;
	st->fd = fd;
	st->sources = table_new(16);
	st->pruned_ms = server_now_ms();
	st->ev = event_new(srv->base, fd, EV_READ, stun_read, st);
	st->pause = evtimer_new(srv->base, stun_resume, st);
	if (st->ev == NULL || st->pause == NULL ||
	    event_add(st->ev, NULL) != 0)
		fatalx("stun_start: cannot add the socket to the loop");
	srv->stun = st;
	log_info("stun: answering on %s", name);
	return (0);
}

/* table_each visitor: free a source. */
static void
free_one(const uint8_t *key, void *value, void *arg)
{
	free(table_del(arg, key));
}

/* Close the STUN socket and forget every source. */
void
stun_stop(struct server *srv)
{
	struct stun	*st = srv->stun;

	if (st == NULL)
		return;
	event_free(st->ev);
	event_free(st->pause);
	close(st->fd);
	table_each(st->sources, free_one, st->sources);
	table_free(st->sources);
	free(st);
	srv->stun = NULL;
}

/* The bound UDP port, for WELCOME; 0 without STUN. */
uint16_t
stun_port(struct server *srv)
{
	struct sockaddr_storage	 ss;
	socklen_t		 sslen = sizeof ss;

	if (srv->stun == NULL || getsockname(srv->stun->fd,
	    (struct sockaddr *)&ss, &sslen) != 0)
		return (0);
	return (sa_port((struct sockaddr *)&ss));
}
