/*
 * test-reflex.c -- the client's STUN exchange (client/reflex.c): the
 * Binding request it sends, the answers it takes (RFC 5769's sample
 * answers, XOR-MAPPED-ADDRESS over MAPPED-ADDRESS) and the ones it must
 * refuse, and one exchange over loopback with a responder that ignores
 * the first request, so the answer comes to the resent one, and the
 * endpoints that leave nothing to ask.
 */
#include <sys/types.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <string.h>
#include <unistd.h>

#include <check.h>

#include "client.h"
#include "unit.h"

/* The transaction ID of RFC 5769's vectors. */
static const uint8_t txid[12] = {
	0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
	0xfa, 0x87, 0xdf, 0xae,
};

/* RFC 5769 §2.2: the IPv4 answer, with SOFTWARE before and
 * MESSAGE-INTEGRITY and FINGERPRINT after the XOR-MAPPED-ADDRESS of
 * 192.0.2.1 port 32853. */
static const uint8_t rfc5769_v4[] = {
	0x01, 0x01, 0x00, 0x3c, 0x21, 0x12, 0xa4, 0x42,
	0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
	0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x0b,
	0x74, 0x65, 0x73, 0x74, 0x20, 0x76, 0x65, 0x63,
	0x74, 0x6f, 0x72, 0x20, 0x00, 0x20, 0x00, 0x08,
	0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43,
	0x00, 0x08, 0x00, 0x14, 0x2b, 0x91, 0xf5, 0x99,
	0xfd, 0x9e, 0x90, 0xc3, 0x8c, 0x74, 0x89, 0xf9,
	0x2a, 0xf9, 0xba, 0x53, 0xf0, 0x6b, 0xe7, 0xd7,
	0x80, 0x28, 0x00, 0x04, 0xc0, 0x7d, 0x4c, 0x96,
};

/* XOR-MAPPED-ADDRESS of RFC 5769 §2.3: 2001:db8:1234:5678:11:2233:4455:6677
 * port 32853. */
static const uint8_t xma6[] = {
	0x00, 0x02, 0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa,
	0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5,
	0xbe, 0xd2, 0xb9, 0xd9,
};

/* A message being built. */
struct pkt {
	uint8_t	 b[512];
	size_t	 len;
};

/* Start an answer of type with the cookie and id. */
static void
pkt_start(struct pkt *m, uint16_t type, const uint8_t id[12])
{
	memset(m, 0, sizeof *m);
	m->b[0] = type >> 8;
	m->b[1] = type & 0xff;
	m->b[4] = 0x21;
	m->b[5] = 0x12;
	m->b[6] = 0xa4;
	m->b[7] = 0x42;
	memcpy(m->b + 8, id, 12);
	m->len = 20;
}

/* Add an attribute, padded to 4 bytes, and set the header's length. */
static void
pkt_attr(struct pkt *m, uint16_t type, const void *v, size_t vlen)
{
	m->b[m->len] = type >> 8;
	m->b[m->len + 1] = type & 0xff;
	m->b[m->len + 2] = vlen >> 8;
	m->b[m->len + 3] = vlen & 0xff;
	memcpy(m->b + m->len + 4, v, vlen);
	m->len += 4 + ((vlen + 3) & ~(size_t)3);
	m->b[2] = (m->len - 20) >> 8;
	m->b[3] = (m->len - 20) & 0xff;
}

/* c must be server-reflexive text port. */
static void
is_cand(const struct cand *c, const char *text, uint16_t port)
{
	uint8_t	 a[16];
	int	 v4 = inet_pton(AF_INET, text, a) == 1;

	ck_assert(v4 || inet_pton(AF_INET6, text, a) == 1);
	ck_assert_uint_eq(c->kind, CAND_SRFLX);
	ck_assert_uint_eq(c->family, v4 ? 4 : 6);
	ck_assert_uint_eq(c->port, port);
	ck_assert_mem_eq(c->addr, a, v4 ? 4 : 16);
}

START_TEST(test_request)
{
	static const uint8_t want[] = {
		0x00, 0x01, 0x00, 0x00, 0x21, 0x12, 0xa4, 0x42,
		0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
		0xfa, 0x87, 0xdf, 0xae,
	};
	uint8_t	 out[REFLEX_REQ_LEN];

	ck_assert_uint_eq(reflex_request(out, txid), sizeof want);
	ck_assert_mem_eq(out, want, sizeof want);
}
END_TEST

START_TEST(test_rfc5769)
{
	static const uint8_t mi[20] = { 1 };
	struct cand	 c;
	struct pkt	 m;

	ck_assert_int_eq(reflex_parse(rfc5769_v4, sizeof rfc5769_v4, txid,
	    &c), 0);
	is_cand(&c, "192.0.2.1", 32853);
	/* §2.3's IPv6 answer has the same shape. */
	pkt_start(&m, 0x0101, txid);
	pkt_attr(&m, 0x8022, "test vector", 11);
	pkt_attr(&m, 0x0020, xma6, sizeof xma6);
	pkt_attr(&m, 0x0008, mi, sizeof mi);
	ck_assert_int_eq(reflex_parse(m.b, m.len, txid, &c), 0);
	is_cand(&c, "2001:db8:1234:5678:11:2233:4455:6677", 32853);
}
END_TEST

START_TEST(test_mapped)
{
	static const uint8_t ma[] = { 0, 1, 0x12, 0x34, 198, 51, 100, 7 };
	static const uint8_t ma6[20] = { 0, 2, 0, 80, 0x20, 0x01, 0x0d, 0xb8,
	    [19] = 9 };
	struct cand	 c;
	struct pkt	 m;

	/* MAPPED-ADDRESS alone: taken as it is, not XORed. */
	pkt_start(&m, 0x0101, txid);
	pkt_attr(&m, 0x0001, ma, sizeof ma);
	ck_assert_int_eq(reflex_parse(m.b, m.len, txid, &c), 0);
	is_cand(&c, "198.51.100.7", 0x1234);
	pkt_start(&m, 0x0101, txid);
	pkt_attr(&m, 0x0001, ma6, sizeof ma6);
	ck_assert_int_eq(reflex_parse(m.b, m.len, txid, &c), 0);
	is_cand(&c, "2001:db8::9", 80);
	/* With both, XOR-MAPPED-ADDRESS wins, before or after. */
	pkt_attr(&m, 0x0020, xma6, sizeof xma6);
	ck_assert_int_eq(reflex_parse(m.b, m.len, txid, &c), 0);
	is_cand(&c, "2001:db8:1234:5678:11:2233:4455:6677", 32853);
	pkt_start(&m, 0x0101, txid);
	pkt_attr(&m, 0x0020, xma6, sizeof xma6);
	pkt_attr(&m, 0x0001, ma, sizeof ma);
	ck_assert_int_eq(reflex_parse(m.b, m.len, txid, &c), 0);
	is_cand(&c, "2001:db8:1234:5678:11:2233:4455:6677", 32853);
}
END_TEST

START_TEST(test_refused)
{
	static const uint8_t bad_family[] = { 0, 3, 0xa1, 0x47, 1, 2, 3, 4 };
	static const uint8_t short_v6[] = { 0, 2, 0xa1, 0x47, 1, 2, 3, 4 };
	uint8_t		 other[12];
	struct cand	 c;
	struct pkt	 m, good;

	pkt_start(&good, 0x0101, txid);
	pkt_attr(&good, 0x0020, xma6, sizeof xma6);
	ck_assert_int_eq(reflex_parse(good.b, good.len, txid, &c), 0);
	/* Another transaction, an error answer, a request, no cookie. */
	memcpy(other, txid, sizeof other);
	other[11] ^= 1;
	ck_assert_int_eq(reflex_parse(good.b, good.len, other, &c), -1);
	m = good;
	m.b[1] = 0x11;
	ck_assert_int_eq(reflex_parse(m.b, m.len, txid, &c), -1);
	m.b[1] = 0x01;
	m.b[0] = 0x00;
	ck_assert_int_eq(reflex_parse(m.b, m.len, txid, &c), -1);
	m = good;
	m.b[4] = 0;
	ck_assert_int_eq(reflex_parse(m.b, m.len, txid, &c), -1);
	/* Cut short: below a header, and below the length it claims. */
	ck_assert_int_eq(reflex_parse(good.b, 19, txid, &c), -1);
	ck_assert_int_eq(reflex_parse(good.b, good.len - 4, txid, &c), -1);
	/* A length that is no multiple of 4, an attribute past the end. */
	m = good;
	m.b[3] -= 2;
	ck_assert_int_eq(reflex_parse(m.b, m.len, txid, &c), -1);
	m = good;
	m.b[23] += 4;
	ck_assert_int_eq(reflex_parse(m.b, m.len, txid, &c), -1);
	/* No address, a family that is neither, a value of the wrong size. */
	pkt_start(&m, 0x0101, txid);
	ck_assert_int_eq(reflex_parse(m.b, m.len, txid, &c), -1);
	pkt_attr(&m, 0x8022, "x", 1);
	ck_assert_int_eq(reflex_parse(m.b, m.len, txid, &c), -1);
	pkt_attr(&m, 0x0020, bad_family, sizeof bad_family);
	ck_assert_int_eq(reflex_parse(m.b, m.len, txid, &c), -1);
	pkt_start(&m, 0x0101, txid);
	pkt_attr(&m, 0x0020, short_v6, sizeof short_v6);
	ck_assert_int_eq(reflex_parse(m.b, m.len, txid, &c), -1);
}
END_TEST

/* A free UDP port on 127.0.0.1's wildcard, as far as one can tell. */
static uint16_t
free_port(void)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof sin;
	int			 fd;

	ck_assert_int_ne(fd = socket(AF_INET, SOCK_DGRAM, 0), -1);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	close(fd);
	return (ntohs(sin.sin_port));
}

/* The child: drop the first request, answer the second as a STUN
 * responder would, then exit. */
static void
responder(int fd)
{
	struct sockaddr_in	 from;
	socklen_t		 len;
	struct pkt		 m;
	uint8_t			 req[64], xma[8] = { 0, 1 };
	uint32_t		 a;
	uint16_t		 port;
	int			 i;

	for (i = 0; i < 2; i++) {
		len = sizeof from;
		if (recvfrom(fd, req, sizeof req, 0, (struct sockaddr *)&from,
		    &len) != REFLEX_REQ_LEN)
			_exit(1);
	}
	port = ntohs(from.sin_port) ^ 0x2112;
	a = ntohl(from.sin_addr.s_addr) ^ 0x2112a442U;
	xma[2] = port >> 8;
	xma[3] = port & 0xff;
	xma[4] = a >> 24;
	xma[5] = (a >> 16) & 0xff;
	xma[6] = (a >> 8) & 0xff;
	xma[7] = a & 0xff;
	pkt_start(&m, 0x0101, req + 8);
	pkt_attr(&m, 0x0020, xma, sizeof xma);
	if (sendto(fd, m.b, m.len, 0, (struct sockaddr *)&from, len) !=
	    (ssize_t)m.len)
		_exit(1);
	_exit(0);
}

START_TEST(test_ask)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof sin;
	struct cand		 c;
	uint16_t		 lport = free_port();
	int64_t			 t0;
	int			 fd, status;
	pid_t			 pid;

	ck_assert_int_ne(fd = socket(AF_INET, SOCK_DGRAM, 0), -1);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(getsockname(fd, (struct sockaddr *)&sin, &len), 0);
	ck_assert_int_ne(pid = fork(), -1);
	if (pid == 0)
		responder(fd);
	/* No STUN port in WELCOME: nothing is asked. */
	ck_assert_int_eq(reflex_other("127.0.0.1:4433", 0, AF_INET, lport,
	    &c), -1);
	t0 = tryst_now_ms();
	ck_assert_int_eq(reflex_other("127.0.0.1:4433", ntohs(sin.sin_port),
	    AF_INET, lport, &c), 0);
	/* The answer came to the request sent again, from port P. */
	ck_assert_int_ge(tryst_now_ms() - t0, REFLEX_RESEND_MS);
	is_cand(&c, "127.0.0.1", lport);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert(WIFEXITED(status) && WEXITSTATUS(status) == 0);
	close(fd);
	/* Nobody there: the ICMP error ends the wait at once. */
	t0 = tryst_now_ms();
	ck_assert_int_eq(reflex_ask("127.0.0.1", free_port(), AF_INET,
	    lport, &c), -1);
	ck_assert_int_lt(tryst_now_ms() - t0, REFLEX_MS);
	/* An endpoint that is an address of the other family, or no
	 * endpoint at all: nothing to ask. */
	ck_assert_int_eq(reflex_other("127.0.0.1:4433", 3478, AF_INET6,
	    lport, &c), -1);
	ck_assert_int_eq(reflex_other("[::1]:4433", 3478, AF_INET, lport,
	    &c), -1);
	ck_assert_int_eq(reflex_other("nonsense", 3478, AF_INET, lport, &c),
	    -1);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("reflex");
	TCase	*tc = tcase_create("reflex");

	tcase_add_test(tc, test_request);
	tcase_add_test(tc, test_rfc5769);
	tcase_add_test(tc, test_mapped);
	tcase_add_test(tc, test_refused);
	tcase_add_test(tc, test_ask);
	suite_add_tcase(s, tc);
	return (unit_run(s));
}
