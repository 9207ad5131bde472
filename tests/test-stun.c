/*
 * test-stun.c -- stun_answer: Binding requests of RFC 8489 and RFC 3489
 * built by hand, the answers checked byte by byte, and everything that must
 * be dropped. Vectors from RFC 5769 where it has them.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <sodium.h>

#include "server.h"
#include "unit.h"

#define COOKIE		0x2112a442U
#define FP_XOR		0x5354554eU
#define HDR		20

/* stun.c reads the clock only in its socket code, never in stun_answer. */
uint64_t
server_now_ms(void)
{
	return (0);
}

/* RFC 5769 §2.1: a request with SOFTWARE, PRIORITY, ICE-CONTROLLED,
 * USERNAME, MESSAGE-INTEGRITY and FINGERPRINT. */
static const uint8_t rfc5769_req[] = {
	0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42,
	0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
	0xfa, 0x87, 0xdf, 0xae, 0x80, 0x22, 0x00, 0x10,
	0x53, 0x54, 0x55, 0x4e, 0x20, 0x74, 0x65, 0x73,
	0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74,
	0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff,
	0x80, 0x29, 0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1,
	0x51, 0x26, 0x3b, 0x36, 0x00, 0x06, 0x00, 0x09,
	0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68, 0x36, 0x76,
	0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14,
	0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56,
	0x78, 0x1e, 0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49,
	0xc1, 0xb5, 0x71, 0xa2, 0x80, 0x28, 0x00, 0x04,
	0xe5, 0x7a, 0x3b, 0xcf,
};

/* The transaction ID of RFC 5769's vectors. */
static const uint8_t txid[12] = {
	0xb7, 0xe7, 0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86,
	0xfa, 0x87, 0xdf, 0xae,
};

/* XOR-MAPPED-ADDRESS values of RFC 5769 §2.2 and §2.3, for 192.0.2.1 and
 * 2001:db8:1234:5678:11:2233:4455:6677, port 32853. */
static const uint8_t xma4[] = {
	0x00, 0x01, 0xa1, 0x47, 0xe1, 0x12, 0xa6, 0x43,
};
static const uint8_t xma6[] = {
	0x00, 0x02, 0xa1, 0x47, 0x01, 0x13, 0xa9, 0xfa,
	0xa5, 0xd3, 0xf1, 0x79, 0xbc, 0x25, 0xf4, 0xb5,
	0xbe, 0xd2, 0xb9, 0xd9,
};

/* A message being built. */
struct pkt {
	uint8_t	 b[1024];
	size_t	 len;
};

static struct sockaddr_in	 from4;
static struct sockaddr_in6	 from6, frommapped;
static uint8_t			 out[512];

/* CRC-32 (IEEE), table-driven, written apart from stun.c's. */
static uint32_t
crc32_table(const uint8_t *p, size_t len)
{
	static uint32_t	 table[256];
	uint32_t	 c;
	int		 i, k;

	if (table[1] == 0) {
		for (i = 0; i < 256; i++) {
			c = (uint32_t)i;
			for (k = 0; k < 8; k++)
				c = c & 1 ? 0xedb88320U ^ (c >> 1) : c >> 1;
			table[i] = c;
		}
	}
	c = 0xffffffffU;
	while (len-- > 0)
		c = table[(c ^ *p++) & 0xff] ^ (c >> 8);
	return (c ^ 0xffffffffU);
}

/* Start a message of type; modern ones carry the cookie and RFC 5769's
 * transaction ID, RFC 3489 ones a 16-byte ID of 0x51, 0x52, ... */
static void
m_init(struct pkt *m, uint16_t type, int modern)
{
	int	 i;

	memset(m, 0, sizeof *m);
	put_u16(m->b, type);
	if (modern) {
		put_u32(m->b + 4, COOKIE);
		memcpy(m->b + 8, txid, sizeof txid);
	} else {
		for (i = 0; i < 16; i++)
			m->b[4 + i] = (uint8_t)(0x51 + i);
	}
	m->len = HDR;
}

/* Append an attribute, padded, and fix the header's length. */
static void
m_attr(struct pkt *m, uint16_t type, const void *v, size_t vlen)
{
	put_u16(m->b + m->len, type);
	put_u16(m->b + m->len + 2, (uint16_t)vlen);
	if (vlen > 0)
		memcpy(m->b + m->len + 4, v, vlen);
	m->len += 4 + ((vlen + 3) & ~(size_t)3);
	put_u16(m->b + 2, (uint16_t)(m->len - HDR));
}

/* Append a CHANGE-REQUEST with flags. */
static void
m_change(struct pkt *m, uint32_t flags)
{
	uint8_t	 v[4];

	put_u32(v, flags);
	m_attr(m, 0x0003, v, 4);
}

/* Append a correct FINGERPRINT. */
static void
m_fingerprint(struct pkt *m)
{
	uint8_t	 v[4];

	put_u16(m->b + 2, (uint16_t)(m->len + 8 - HDR));
	put_u32(v, crc32_table(m->b, m->len) ^ FP_XOR);
	m_attr(m, 0x8028, v, 4);
}

/* The answer to m from sa (0 when dropped). */
static size_t
answer(const struct pkt *m, const void *sa)
{
	memset(out, 0xee, sizeof out);
	return (stun_answer(m->b, m->len, sa, out, sizeof out));
}

/* Check that an answer of n bytes is well formed: header length, the
 * attributes tiling it exactly, FINGERPRINT (if any) last. */
static void
check_shape(const uint8_t *r, size_t n)
{
	size_t	 off, alen;

	ck_assert_uint_ge(n, HDR);
	ck_assert_uint_eq(get_u16(r + 2), n - HDR);
	ck_assert_uint_eq(n % 4, 0);
	for (off = HDR; off < n; off += 4 + ((alen + 3) & ~(size_t)3)) {
		ck_assert_uint_le(off + 4, n);
		alen = get_u16(r + off + 2);
		ck_assert_uint_le(off + 4 + alen, n);
		if (get_u16(r + off) == 0x8028)
			ck_assert_uint_eq(off + 8, n);
	}
	ck_assert_uint_eq(off, n);
}

/* The value of attribute type in an answer of n bytes, or NULL. */
static const uint8_t *
find_attr(const uint8_t *r, size_t n, uint16_t type, size_t *alen)
{
	size_t	 off;

	check_shape(r, n);
	for (off = HDR; off < n; off += 4 + ((*alen + 3) & ~(size_t)3)) {
		*alen = get_u16(r + off + 2);
		if (get_u16(r + off) == type)
			return (r + off + 4);
	}
	return (NULL);
}

/* Check that the answer echoes the request's cookie and transaction. */
static void
check_echo(const struct pkt *m, const uint8_t *r, uint16_t type)
{
	ck_assert_uint_eq(get_u16(r), type);
	ck_assert_mem_eq(r + 4, m->b + 4, 16);
}

/* Check that r of n bytes ends in a correct FINGERPRINT. */
static void
check_fingerprint(const uint8_t *r, size_t n)
{
	ck_assert_uint_ge(n, HDR + 8);
	ck_assert_uint_eq(get_u16(r + n - 8), 0x8028);
	ck_assert_uint_eq(get_u16(r + n - 6), 4);
	ck_assert_uint_eq(get_u32(r + n - 4),
	    crc32_table(r, n - 8) ^ FP_XOR);
}

/* Fill the sources before each test. */
static void
setup(void)
{
	memset(&from4, 0, sizeof from4);
	from4.sin_family = AF_INET;
	from4.sin_port = htons(32853);
	inet_pton(AF_INET, "192.0.2.1", &from4.sin_addr);
	memset(&from6, 0, sizeof from6);
	from6.sin6_family = AF_INET6;
	from6.sin6_port = htons(32853);
	inet_pton(AF_INET6, "2001:db8:1234:5678:11:2233:4455:6677",
	    &from6.sin6_addr);
	frommapped = from6;
	inet_pton(AF_INET6, "::ffff:198.51.100.7", &frommapped.sin6_addr);
	frommapped.sin6_port = htons(4000);
}

START_TEST(test_crc)
{
	ck_assert_uint_eq(crc32_table((const uint8_t *)"123456789", 9),
	    0xcbf43926U);
	/* RFC 5769's request ends in a FINGERPRINT this CRC reproduces. */
	ck_assert_uint_eq(crc32_table(rfc5769_req, sizeof rfc5769_req - 8) ^
	    FP_XOR, get_u32(rfc5769_req + sizeof rfc5769_req - 4));
}
END_TEST

START_TEST(test_binding_v4)
{
	struct pkt	 m;
	const uint8_t	*v;
	size_t		 n, alen;
	uint8_t		 addr[4];

	m_init(&m, 0x0001, 1);
	n = answer(&m, &from4);
	ck_assert_uint_eq(n, HDR + 12);
	check_echo(&m, out, 0x0101);
	ck_assert_uint_eq(get_u32(out + 4), COOKIE);
	v = find_attr(out, n, 0x0020, &alen);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(alen, 8);
	ck_assert_mem_eq(v, xma4, sizeof xma4);
	/* Decoded back: the source. */
	ck_assert_uint_eq(get_u16(v + 2) ^ 0x2112, 32853);
	put_u32(addr, get_u32(v + 4) ^ COOKIE);
	ck_assert_mem_eq(addr, &from4.sin_addr, 4);
	ck_assert_ptr_null(find_attr(out, n, 0x8028, &alen));
	ck_assert_ptr_null(find_attr(out, n, 0x0001, &alen));
	ck_assert_ptr_null(find_attr(out, n, 0x8022, &alen));
	ck_assert_uint_eq(out[n], 0xee);	/* nothing past the answer */
}
END_TEST

START_TEST(test_binding_v6)
{
	struct pkt	 m;
	const uint8_t	*v;
	size_t		 n, alen, i;
	uint8_t		 addr[16];

	m_init(&m, 0x0001, 1);
	n = answer(&m, &from6);
	ck_assert_uint_eq(n, HDR + 24);
	check_echo(&m, out, 0x0101);
	v = find_attr(out, n, 0x0020, &alen);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(alen, 20);
	ck_assert_mem_eq(v, xma6, sizeof xma6);
	for (i = 0; i < 16; i++)
		addr[i] = v[4 + i] ^ m.b[4 + i];
	ck_assert_mem_eq(addr, &from6.sin6_addr, 16);
}
END_TEST

START_TEST(test_binding_mapped)
{
	struct pkt	 m;
	const uint8_t	*v;
	size_t		 n, alen;
	uint8_t		 want[4] = { 198, 51, 100, 7 };

	/* A v4-mapped source is reported as IPv4. */
	m_init(&m, 0x0001, 1);
	n = answer(&m, &frommapped);
	ck_assert_uint_eq(n, HDR + 12);
	v = find_attr(out, n, 0x0020, &alen);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(alen, 8);
	ck_assert_uint_eq(v[1], 0x01);
	ck_assert_uint_eq(get_u16(v + 2) ^ 0x2112, 4000);
	ck_assert_uint_eq(get_u32(v + 4) ^ COOKIE, get_u32(want));
}
END_TEST

START_TEST(test_fingerprint)
{
	struct pkt	 m;
	const uint8_t	*v;
	size_t		 n, alen;

	m_init(&m, 0x0001, 1);
	m_fingerprint(&m);
	n = answer(&m, &from4);
	ck_assert_uint_eq(n, HDR + 12 + 8);
	check_echo(&m, out, 0x0101);
	check_fingerprint(out, n);
	v = find_attr(out, n, 0x0020, &alen);
	ck_assert_ptr_nonnull(v);
	ck_assert_mem_eq(v, xma4, sizeof xma4);

	n = answer(&m, &from6);
	ck_assert_uint_eq(n, HDR + 24 + 8);
	check_fingerprint(out, n);
}
END_TEST

START_TEST(test_fingerprint_bad)
{
	struct pkt	 m, bad;
	uint8_t		 v[4] = { 0 };

	m_init(&m, 0x0001, 1);
	m_fingerprint(&m);
	bad = m;
	bad.b[bad.len - 1] ^= 0x01;	/* the CRC */
	ck_assert_uint_eq(answer(&bad, &from4), 0);
	bad = m;
	bad.b[10] ^= 0x80;		/* the transaction ID */
	ck_assert_uint_eq(answer(&bad, &from4), 0);
	m_init(&bad, 0x0001, 1);	/* a good one, but not last */
	put_u16(bad.b + 2, 16);
	put_u32(v, crc32_table(bad.b, HDR) ^ FP_XOR);
	m_attr(&bad, 0x8028, v, 4);
	m_attr(&bad, 0x8022, "x", 1);
	ck_assert_uint_eq(get_u16(bad.b + 2), 16);
	ck_assert_uint_eq(answer(&bad, &from4), 0);
	m_init(&bad, 0x0001, 1);	/* made the same way, last: good */
	put_u16(bad.b + 2, 8);
	put_u32(v, crc32_table(bad.b, HDR) ^ FP_XOR);
	m_attr(&bad, 0x8028, v, 4);
	ck_assert_uint_eq(answer(&bad, &from4), HDR + 12 + 8);
	m_init(&bad, 0x0001, 1);	/* 8 bytes long */
	m_attr(&bad, 0x8028, "\0\0\0\0\0\0\0\0", 8);
	ck_assert_uint_eq(answer(&bad, &from4), 0);
	m_init(&bad, 0x0001, 1);	/* the CRC without the XOR */
	put_u16(bad.b + 2, 8);
	put_u32(v, crc32_table(bad.b, HDR));
	m_attr(&bad, 0x8028, v, 4);
	ck_assert_uint_eq(answer(&bad, &from4), 0);
}
END_TEST

START_TEST(test_rfc3489)
{
	struct pkt	 m;
	const uint8_t	*v;
	size_t		 n, alen;

	m_init(&m, 0x0001, 0);
	n = answer(&m, &from4);
	ck_assert_uint_eq(n, HDR + 12);
	check_echo(&m, out, 0x0101);
	ck_assert_ptr_null(find_attr(out, n, 0x0020, &alen));
	v = find_attr(out, n, 0x0001, &alen);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(alen, 8);
	ck_assert_uint_eq(v[0], 0);
	ck_assert_uint_eq(v[1], 0x01);
	ck_assert_uint_eq(get_u16(v + 2), 32853);
	ck_assert_mem_eq(v + 4, &from4.sin_addr, 4);

	n = answer(&m, &from6);
	ck_assert_uint_eq(n, HDR + 24);
	v = find_attr(out, n, 0x0001, &alen);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(v[1], 0x02);
	ck_assert_mem_eq(v + 4, &from6.sin6_addr, 16);

	/* No FINGERPRINT in RFC 3489: 0x8028 is just an unknown optional
	 * attribute there, and none is added to the answer. */
	m_attr(&m, 0x8028, "\1\2\3\4", 4);
	n = answer(&m, &from4);
	ck_assert_uint_eq(n, HDR + 12);
	ck_assert_ptr_nonnull(find_attr(out, n, 0x0001, &alen));
}
END_TEST

START_TEST(test_change_request)
{
	struct pkt	 m;
	const uint32_t	 flags[] = { 0x04, 0x02, 0x06 };
	size_t		 i;
	int		 modern;

	for (modern = 0; modern <= 1; modern++) {
		m_init(&m, 0x0001, modern);
		m_change(&m, 0);
		ck_assert_uint_eq(answer(&m, &from4), HDR + 12);
		check_echo(&m, out, 0x0101);
		for (i = 0; i < sizeof flags / sizeof flags[0]; i++) {
			m_init(&m, 0x0001, modern);
			m_change(&m, flags[i]);
			ck_assert_uint_eq(answer(&m, &from4), 0);
		}
		/* Not 4 bytes long: malformed. */
		m_init(&m, 0x0001, modern);
		m_attr(&m, 0x0003, "\0\0\0\0\0\0\0\0", 8);
		ck_assert_uint_eq(answer(&m, &from4), 0);
	}
	/* With a FINGERPRINT too. */
	m_init(&m, 0x0001, 1);
	m_change(&m, 0);
	m_fingerprint(&m);
	check_fingerprint(out, answer(&m, &from4));
}
END_TEST

START_TEST(test_unknown_required)
{
	struct pkt	 m;
	const uint8_t	*v;
	size_t		 n, alen;

	m_init(&m, 0x0001, 1);
	m_attr(&m, 0x8022, "client", 6);	/* optional: ignored */
	m_attr(&m, 0x7abc, "zz", 2);
	m_fingerprint(&m);
	n = answer(&m, &from4);
	ck_assert_uint_gt(n, 0);
	check_echo(&m, out, 0x0111);
	check_fingerprint(out, n);
	ck_assert_ptr_null(find_attr(out, n, 0x0020, &alen));
	v = find_attr(out, n, 0x0009, &alen);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_ge(alen, 4);
	ck_assert_uint_eq(v[0], 0);
	ck_assert_uint_eq(v[1], 0);
	ck_assert_uint_eq(v[2] & 0x07, 4);
	ck_assert_uint_eq(v[3], 20);
	v = find_attr(out, n, 0x000a, &alen);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(alen, 2);
	ck_assert_uint_eq(get_u16(v), 0x7abc);
	ck_assert_uint_eq(get_u16(v + 2), 0);	/* padding */
	ck_assert_uint_le(n, m.len + 64);
}
END_TEST

START_TEST(test_unknown_rfc5769)
{
	struct pkt	 m;
	const uint8_t	*v;
	size_t		 n, alen;

	/* PRIORITY, USERNAME and MESSAGE-INTEGRITY are not understood. */
	memcpy(m.b, rfc5769_req, sizeof rfc5769_req);
	m.len = sizeof rfc5769_req;
	n = answer(&m, &from4);
	ck_assert_uint_gt(n, 0);
	check_echo(&m, out, 0x0111);
	check_fingerprint(out, n);
	v = find_attr(out, n, 0x000a, &alen);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(alen, 6);
	ck_assert_uint_eq(get_u16(v), 0x0024);
	ck_assert_uint_eq(get_u16(v + 2), 0x0006);
	ck_assert_uint_eq(get_u16(v + 4), 0x0008);
}
END_TEST

START_TEST(test_unknown_rfc3489)
{
	struct pkt	 m;
	const uint8_t	*v;
	size_t		 n, alen;

	/* RFC 3489 repeats an attribute to make the list 4-byte long. */
	m_init(&m, 0x0001, 0);
	m_attr(&m, 0x0002, "\0\1\0\0\0\0\0\0", 8);	/* RESPONSE-ADDRESS */
	n = answer(&m, &from4);
	ck_assert_uint_gt(n, 0);
	check_echo(&m, out, 0x0111);
	ck_assert_ptr_null(find_attr(out, n, 0x8028, &alen));
	v = find_attr(out, n, 0x000a, &alen);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(alen, 4);
	ck_assert_uint_eq(get_u16(v), 0x0002);
	ck_assert_uint_eq(get_u16(v + 2), 0x0002);
}
END_TEST

START_TEST(test_unknown_many)
{
	struct pkt	 m;
	const uint8_t	*v;
	size_t		 n, alen;
	uint16_t	 t;

	/* 40 unknown attributes: the answer stays bounded. */
	m_init(&m, 0x0001, 1);
	for (t = 0x0100; t < 0x0100 + 40; t++)
		m_attr(&m, t, NULL, 0);
	n = answer(&m, &from4);
	ck_assert_uint_gt(n, 0);
	ck_assert_uint_le(n, m.len + 64);
	v = find_attr(out, n, 0x000a, &alen);
	ck_assert_ptr_nonnull(v);
	ck_assert_uint_eq(alen % 2, 0);
	ck_assert_uint_ge(alen, 2);
	ck_assert_uint_le(alen, 2 * 40);
	ck_assert_uint_eq(get_u16(v), 0x0100);
	ck_assert_uint_eq(get_u16(v + alen - 2), 0x0100 + alen / 2 - 1);
}
END_TEST

START_TEST(test_optional_ignored)
{
	struct pkt	 m;
	const uint8_t	*v;
	size_t		 n, alen;

	m_init(&m, 0x0001, 1);
	m_attr(&m, 0x8022, "some software", 13);
	m_attr(&m, 0xc001, "\xff", 1);
	m_attr(&m, 0xffff, NULL, 0);
	n = answer(&m, &from4);
	ck_assert_uint_eq(n, HDR + 12);
	check_echo(&m, out, 0x0101);
	v = find_attr(out, n, 0x0020, &alen);
	ck_assert_ptr_nonnull(v);
	ck_assert_mem_eq(v, xma4, sizeof xma4);
}
END_TEST

START_TEST(test_truncations)
{
	struct pkt	 m, t;
	size_t		 i;

	m_init(&m, 0x0001, 1);
	m_attr(&m, 0x8022, "truncate me", 11);
	m_change(&m, 0);
	m_fingerprint(&m);
	ck_assert_uint_gt(answer(&m, &from4), 0);
	for (i = 0; i < m.len; i++) {
		t = m;
		t.len = i;
		ck_assert_msg(answer(&t, &from4) == 0, "prefix %zu answered",
		    i);
	}
}
END_TEST

START_TEST(test_length_lies)
{
	struct pkt	 m, bad;

	m_init(&m, 0x0001, 1);
	m_attr(&m, 0x8022, "abcd", 4);
	ck_assert_uint_gt(answer(&m, &from4), 0);
	bad = m;			/* says more than there is */
	put_u16(bad.b + 2, (uint16_t)(m.len - HDR + 4));
	ck_assert_uint_eq(answer(&bad, &from4), 0);
	bad = m;			/* says less */
	put_u16(bad.b + 2, (uint16_t)(m.len - HDR - 4));
	ck_assert_uint_eq(answer(&bad, &from4), 0);
	bad = m;			/* not a multiple of 4 */
	bad.len += 2;
	put_u16(bad.b + 2, (uint16_t)(bad.len - HDR));
	ck_assert_uint_eq(answer(&bad, &from4), 0);
	bad = m;			/* the attribute overruns */
	put_u16(bad.b + HDR + 2, 8);
	ck_assert_uint_eq(answer(&bad, &from4), 0);
	bad = m;			/* its padding overruns */
	put_u16(bad.b + HDR + 2, 5);
	ck_assert_uint_eq(answer(&bad, &from4), 0);
	bad = m;			/* a stray half attribute */
	bad.len += 4;
	put_u16(bad.b + 2, (uint16_t)(bad.len - HDR));
	put_u16(bad.b + bad.len - 4, 0x8022);
	put_u16(bad.b + bad.len - 2, 4);
	ck_assert_uint_eq(answer(&bad, &from4), 0);
	bad = m;			/* 0xffff */
	put_u16(bad.b + 2, 0xffff);
	ck_assert_uint_eq(answer(&bad, &from4), 0);
}
END_TEST

START_TEST(test_not_binding_request)
{
	struct pkt	 m;
	const uint16_t	 types[] = {
		0x0011,		/* Binding indication */
		0x0101,		/* Binding success response */
		0x0111,		/* Binding error response */
		0x0003,		/* Allocate request */
		0x0002,		/* RFC 3489 Shared Secret request */
		0x4001,		/* top bits set */
		0x8001,
		0xc001,
		0x0000,
	};
	size_t		 i, n;
	int		 modern;

	for (modern = 0; modern <= 1; modern++) {
		for (i = 0; i < sizeof types / sizeof types[0]; i++) {
			m_init(&m, types[i], modern);
			ck_assert_uint_eq(answer(&m, &from4), 0);
			m_fingerprint(&m);
			ck_assert_uint_eq(answer(&m, &from4), 0);
		}
	}
	/* An answer of ours fed back in. */
	m_init(&m, 0x0001, 1);
	m_fingerprint(&m);
	n = answer(&m, &from4);
	ck_assert_uint_gt(n, 0);
	memcpy(m.b, out, n);
	m.len = n;
	ck_assert_uint_eq(answer(&m, &from4), 0);
}
END_TEST

START_TEST(test_bad_args)
{
	struct pkt		 m;
	struct sockaddr_un	 sun;

	m_init(&m, 0x0001, 1);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	ck_assert_uint_eq(answer(&m, &sun), 0);
	ck_assert_uint_eq(answer(&m, NULL), 0);
	ck_assert_uint_eq(stun_answer(m.b, m.len, (struct sockaddr *)&from4,
	    out, HDR + 11), 0);
	ck_assert_uint_eq(stun_answer(m.b, m.len, (struct sockaddr *)&from4,
	    out, HDR + 12), HDR + 12);
}
END_TEST

START_TEST(test_mutations)
{
	struct pkt	 base, m;
	uint32_t	 x = 0x9e3779b9U;
	size_t		 n, answered = 0;
	int		 i, k;

	/* Random damage: whatever is answered is small and well formed. */
	m_init(&base, 0x0001, 1);
	m_attr(&base, 0x8022, "mutant", 6);
	m_change(&base, 0);
	m_attr(&base, 0x0024, "\1\2\3\4", 4);
	for (i = 0; i < 20000; i++) {
		m = base;
		if (i % 2 == 0)
			m_fingerprint(&m);
		for (k = 0; k < 1 + i % 3; k++) {
			x ^= x << 13;
			x ^= x >> 17;
			x ^= x << 5;
			m.b[x % m.len] ^= (uint8_t)(1 << (x >> 29));
		}
		n = answer(&m, &from6);
		if (n == 0)
			continue;
		answered++;
		ck_assert_uint_le(n, m.len + 64);
		ck_assert_mem_eq(out + 4, m.b + 4, 16);
		ck_assert(get_u16(out) == 0x0101 || get_u16(out) == 0x0111);
		check_shape(out, n);
	}
	ck_assert_uint_gt(answered, 0);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("stun");
	TCase	*tc = tcase_create("stun");

	if (sodium_init() < 0)
		return (1);
	tcase_add_checked_fixture(tc, setup, NULL);
	tcase_add_test(tc, test_crc);
	tcase_add_test(tc, test_binding_v4);
	tcase_add_test(tc, test_binding_v6);
	tcase_add_test(tc, test_binding_mapped);
	tcase_add_test(tc, test_fingerprint);
	tcase_add_test(tc, test_fingerprint_bad);
	tcase_add_test(tc, test_rfc3489);
	tcase_add_test(tc, test_change_request);
	tcase_add_test(tc, test_unknown_required);
	tcase_add_test(tc, test_unknown_rfc5769);
	tcase_add_test(tc, test_unknown_rfc3489);
	tcase_add_test(tc, test_unknown_many);
	tcase_add_test(tc, test_optional_ignored);
	tcase_add_test(tc, test_truncations);
	tcase_add_test(tc, test_length_lies);
	tcase_add_test(tc, test_not_binding_request);
	tcase_add_test(tc, test_bad_args);
	tcase_add_test(tc, test_mutations);
	suite_add_tcase(s, tc);
	return (unit_run(s));
}
