/*
 * test-bus.c -- buswire.c: every message between nodes seals and opens
 * to itself, under the bus key only; a changed, cut or lengthened one
 * does not open; fields out of range do not seal; and the sealed bytes
 * show nothing of what they carry.
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <sodium.h>

#include "server.h"
#include "unit.h"

static const uint8_t	 key[32] = { 1, 2, 3, 4, 5 };
static uint8_t		 offer[PROTO_MAX_OFFER];

/* A message of type with every field its type carries set. */
static void
fill(struct bus_msg *m, uint8_t type)
{
	memset(m, 0, sizeof *m);
	m->type = type;
	snprintf(m->from, sizeof m->from, "node-a.example");
	m->time_ms = 1733380000123ULL;
	switch (type) {
	case BUS_RING:
		memset(m->id, 0x11, ID_LEN);
		memset(m->peer_id, 0x22, ID_LEN);
		memset(m->cred, 0x33, CRED_LEN);
		memset(m->tokens, 0x44, sizeof m->tokens);
		m->code = 2;
		snprintf(m->relay, sizeof m->relay, "[2001:db8::1]:4433");
		/* FALLTHROUGH */
	case BUS_ANSWER:
		memset(m->cred, 0x55, CRED_LEN);
		m->data.p = offer;
		m->data.len = 300;
		/* FALLTHROUGH */
	case BUS_DECLINE:
	case BUS_END:
	case BUS_REFUSE:
	case BUS_NOPRESENCE:
	case BUS_RINGING:
		m->session = 0x0102030405060708ULL;
		if (type != BUS_RING && type != BUS_ANSWER &&
		    type != BUS_NOPRESENCE && type != BUS_RINGING)
			m->code = 3;
		break;
	case BUS_PRESENT:
		memset(m->id, 0x66, ID_LEN);
		break;
	}
}

/* got equals want in every field (data by content). */
static void
same(const struct bus_msg *got, const struct bus_msg *want)
{
	ck_assert_uint_eq(got->type, want->type);
	ck_assert_str_eq(got->from, want->from);
	ck_assert_uint_eq(got->time_ms, want->time_ms);
	ck_assert_uint_eq(got->session, want->session);
	ck_assert_mem_eq(got->id, want->id, ID_LEN);
	ck_assert_mem_eq(got->peer_id, want->peer_id, ID_LEN);
	ck_assert_mem_eq(got->cred, want->cred, CRED_LEN);
	ck_assert_mem_eq(got->tokens, want->tokens, sizeof got->tokens);
	ck_assert_uint_eq(got->code, want->code);
	ck_assert_str_eq(got->relay, want->relay);
	ck_assert_uint_eq(got->data.len, want->data.len);
	if (want->data.len > 0)
		ck_assert_mem_eq(got->data.p, want->data.p, want->data.len);
}

/* 1 if needle (n bytes) occurs in hay. */
static int
contains(const uint8_t *hay, size_t len, const void *needle, size_t n)
{
	size_t	 i;

	for (i = 0; i + n <= len; i++)
		if (memcmp(hay + i, needle, n) == 0)
			return (1);
	return (0);
}

/* Every type: seal, open, same message; one flipped bit anywhere, a
 * byte less or more, or another key: it does not open. */
START_TEST(test_roundtrip)
{
	static uint8_t	 out[BUS_SEALED_MAX], plain[BUS_SEALED_MAX];
	uint8_t		 other[32];
	struct bus_msg	 m, got;
	size_t		 n, i;
	uint8_t		 type = (uint8_t)(BUS_RING + _i);

	randombytes_buf(offer, sizeof offer);
	fill(&m, type);
	n = bus_seal(&m, key, out, sizeof out);
	ck_assert_uint_gt(n, 1 + 24 + 16);
	ck_assert_uint_eq(out[0], 'S');
	ck_assert_int_eq(bus_open(out + 1, n - 1, key, plain, &got), 0);
	same(&got, &m);

	for (i = 1; i < n; i++) {
		out[i] ^= 0x20;
		ck_assert_int_eq(bus_open(out + 1, n - 1, key, plain, &got),
		    -1);
		out[i] ^= 0x20;
	}
	ck_assert_int_eq(bus_open(out + 1, n - 2, key, plain, &got), -1);
	out[n] = 0;
	ck_assert_int_eq(bus_open(out + 1, n, key, plain, &got), -1);
	memcpy(other, key, sizeof other);
	other[31] ^= 1;
	ck_assert_int_eq(bus_open(out + 1, n - 1, other, plain, &got), -1);
	/* Too short for a nonce and a tag. */
	ck_assert_int_eq(bus_open(out + 1, 39, key, plain, &got), -1);
	ck_assert_int_eq(bus_open(out + 1, 0, key, plain, &got), -1);
}
END_TEST

/* Two seals of one message differ (a fresh nonce each), and neither
 * shows the node name, the relay endpoint, the credential or the offer:
 * a Redis MONITOR sees none of them. */
START_TEST(test_opaque)
{
	static uint8_t	 a[BUS_SEALED_MAX], b[BUS_SEALED_MAX];
	struct bus_msg	 m;
	size_t		 na, nb;

	memset(offer, 'o', sizeof offer);
	fill(&m, BUS_RING);
	na = bus_seal(&m, key, a, sizeof a);
	nb = bus_seal(&m, key, b, sizeof b);
	ck_assert_uint_eq(na, nb);
	ck_assert_int_ne(memcmp(a, b, na), 0);
	ck_assert(!contains(a, na, "node-a", 6));
	ck_assert(!contains(a, na, "2001:db8", 8));
	ck_assert(!contains(a, na, m.cred, 16));
	ck_assert(!contains(a, na, offer, 16));
	ck_assert(!contains(a, na, m.tokens, 16));
}
END_TEST

/* Out of range: no seal. A node name of 64 bytes, a relay of 255 and an
 * offer of 4,096 seal; one more byte of any does not; an unknown type
 * does not; nor does a buffer one byte short. */
START_TEST(test_limits)
{
	static uint8_t	 out[BUS_SEALED_MAX], plain[BUS_SEALED_MAX];
	struct bus_msg	 m, got;
	size_t		 n;

	fill(&m, BUS_RING);
	memset(m.from, 'n', NODE_NAME_MAX);
	m.from[NODE_NAME_MAX] = '\0';
	memset(m.relay, 'r', PROTO_MAX_RELAY);
	m.relay[PROTO_MAX_RELAY] = '\0';
	m.data.len = PROTO_MAX_OFFER;
	ck_assert_uint_gt(n = bus_seal(&m, key, out, sizeof out), 0);
	ck_assert_int_eq(bus_open(out + 1, n - 1, key, plain, &got), 0);
	same(&got, &m);
	ck_assert_uint_eq(bus_seal(&m, key, out, n - 1), 0);

	m.data.len = PROTO_MAX_OFFER + 1;
	ck_assert_uint_eq(bus_seal(&m, key, out, sizeof out), 0);
	m.data.len = 1;
	m.type = 0;
	ck_assert_uint_eq(bus_seal(&m, key, out, sizeof out), 0);
	m.type = BUS_NTYPES;
	ck_assert_uint_eq(bus_seal(&m, key, out, sizeof out), 0);
}
END_TEST

/* A name or relay without its NUL within the field does not seal. */
START_TEST(test_unterminated)
{
	static uint8_t	 out[BUS_SEALED_MAX];
	struct bus_msg	 m;

	fill(&m, BUS_HEARTBEAT);
	memset(m.from, 'n', sizeof m.from);
	ck_assert_uint_eq(bus_seal(&m, key, out, sizeof out), 0);
	fill(&m, BUS_RING);
	memset(m.relay, 'r', sizeof m.relay);
	ck_assert_uint_eq(bus_seal(&m, key, out, sizeof out), 0);
}
END_TEST

/* A node name with a NUL inside does not open: it would read as another
 * name than was sent (fuzz-bus found that it did). */
START_TEST(test_nul_name)
{
	static const uint8_t plain[] = { BUS_HEARTBEAT, 3, 'a', 0, 'b',
	    0, 0, 0, 0, 0, 0, 0, 1 };
	static uint8_t	 box[64], out[BUS_SEALED_MAX];
	uint8_t		 ok[sizeof plain];
	struct bus_msg	 m;

	memset(box, 0, 24);
	crypto_secretbox_easy(box + 24, plain, sizeof plain, box, key);
	ck_assert_int_eq(bus_open(box, 24 + 16 + sizeof plain, key, out, &m),
	    -1);
	/* The same bytes with "a.b" open. */
	memcpy(ok, plain, sizeof ok);
	ok[3] = '.';
	crypto_secretbox_easy(box + 24, ok, sizeof ok, box, key);
	ck_assert_int_eq(bus_open(box, 24 + 16 + sizeof ok, key, out, &m), 0);
	ck_assert_str_eq(m.from, "a.b");
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("bus");
	TCase	*tc = tcase_create("wire");

	if (sodium_init() < 0)
		return (1);
	tcase_add_loop_test(tc, test_roundtrip, 0, BUS_NTYPES - 1);
	tcase_add_test(tc, test_opaque);
	tcase_add_test(tc, test_limits);
	tcase_add_test(tc, test_unterminated);
	tcase_add_test(tc, test_nul_name);
	suite_add_tcase(s, tc);
	return (unit_run(s));
}
