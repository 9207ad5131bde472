/*
 * test-proto.c -- the frame and message codec of PROTOCOL.md §2 and §4.
 *
 * Every message type is encoded with distinctive field values, decoded and
 * compared field by field; every truncation and one trailing byte must be
 * refused. Bound tests build bodies by hand, independently of the codec,
 * and a few frames are checked byte for byte.
 */
#include <check.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"
#include "unit.h"

#define BIG	(PROTO_MAX_FRAME + 4096)

/* Bytes that vbytes and array fields of built messages point at. */
static uint8_t	pool[8192];

/* Write n bytes that differ from each other and from other seeds. */
static uint8_t *
fill(uint8_t *p, size_t n, uint8_t seed)
{
	size_t	i;

	for (i = 0; i < n; i++)
		p[i] = (uint8_t)(seed + i * 13 + (i >> 8));
	return (p);
}

/* A vbytes value of len bytes taken from the pool at off. */
static struct vb
pvb(size_t off, uint16_t len)
{
	struct vb	v = { pool + off, len };

	return (v);
}

/* A vbytes value holding a string. */
static struct vb
svb(const char *s)
{
	struct vb	v = { (const uint8_t *)s, (uint16_t)strlen(s) };

	return (v);
}

/* A decoded run equals the original and lies inside the decoded body. */
static void
span_check(const uint8_t *got, const uint8_t *want, size_t n,
    const uint8_t *body, size_t len)
{
	ck_assert_ptr_nonnull(got);
	ck_assert(got >= body && got + n <= body + len);
	if (n > 0)
		ck_assert_mem_eq(got, want, n);
}

/* A decoded vbytes field equals the original. */
static void
vb_check(const struct vb *got, const struct vb *want, const uint8_t *body,
    size_t len)
{
	ck_assert_uint_eq(got->len, want->len);
	span_check(got->p, want->p, want->len, body, len);
}

#define EQ(f)	ck_assert_uint_eq(got->u.f, want->u.f)
#define MEM(f)	ck_assert_mem_eq(got->u.f, want->u.f, sizeof got->u.f)
#define VB(f)	vb_check(&got->u.f, &want->u.f, body, len)

/*
 * ---- bodies written by hand, independently of the codec ----
 *
 * The w_ helpers append to wbuf. The round-trip builders use them to lay
 * out each message as the table of §4 does, so a layout error that the
 * codec makes the same way in both directions is still caught.
 */

static uint8_t	wbuf[BIG];
static size_t	wlen;

/* Append a u8. */
static void
w_u8(unsigned v)
{
	wbuf[wlen++] = (uint8_t)v;
}

/* Append a u16. */
static void
w_u16(unsigned v)
{
	put_u16(wbuf + wlen, (uint16_t)v);
	wlen += 2;
}

/* Append a u32. */
static void
w_u32(uint32_t v)
{
	put_u32(wbuf + wlen, v);
	wlen += 4;
}

/* Append a u64. */
static void
w_u64(uint64_t v)
{
	put_u64(wbuf + wlen, v);
	wlen += 8;
}

/* Append n distinctive bytes. */
static void
w_fill(size_t n, uint8_t seed)
{
	fill(wbuf + wlen, n, seed);
	wlen += n;
}

/* Append n bytes from p. */
static void
w_mem(const uint8_t *p, size_t n)
{
	memcpy(wbuf + wlen, p, n);
	wlen += n;
}

/* Append a vbytes field. */
static void
w_vb(struct vb v)
{
	w_u16(v.len);
	if (v.len > 0)
		w_mem(v.p, v.len);
}

/*
 * ---- one builder and one checker per message ----
 *
 * A builder sets every field to a distinctive value and appends the body
 * it expects to wbuf, field by field in §4 order.
 */

typedef void (*build_fn)(struct msg *);
typedef void (*check_fn)(const struct msg *, const struct msg *,
    const uint8_t *, size_t);

/* No fields. */
static void
b_empty(struct msg *m)
{
}

/* No fields to compare. */
static void
c_empty(const struct msg *got, const struct msg *want, const uint8_t *body,
    size_t len)
{
	ck_assert_uint_eq(len, 0);
}

/* CHALLENGE. */
static void
b_challenge(struct msg *m)
{
	w_u8(m->u.challenge.version = 1);
	w_mem(fill(m->u.challenge.nonce, 32, 0x10), 32);
	w_u64(m->u.challenge.server_time_ms = 0x0102030405060708ULL);
	w_mem(fill(m->u.challenge.sign_pk, 32, 0x40), 32);
	w_mem(fill(m->u.challenge.tls_sig, 64, 0x70), 64);
}

/* CHALLENGE. */
static void
c_challenge(const struct msg *got, const struct msg *want,
    const uint8_t *body, size_t len)
{
	EQ(challenge.version);
	MEM(challenge.nonce);
	EQ(challenge.server_time_ms);
	MEM(challenge.sign_pk);
	MEM(challenge.tls_sig);
}

/* REGISTER_BEGIN. */
static void
b_reg_begin(struct msg *m)
{
	w_vb(m->u.reg_begin.number = svb("+447700900123"));
}

/* REGISTER_BEGIN. */
static void
c_reg_begin(const struct msg *got, const struct msg *want,
    const uint8_t *body, size_t len)
{
	VB(reg_begin.number);
}

/* REGISTER_CHALLENGE. */
static void
b_reg_challenge(struct msg *m)
{
	w_vb(m->u.reg_challenge.token = pvb(100, TOKEN_LEN));
	w_u8(m->u.reg_challenge.code_digits = 7);
	w_u32(m->u.reg_challenge.expires_in_s = 0xa1b2c3d4);
}

/* REGISTER_CHALLENGE. */
static void
c_reg_challenge(const struct msg *got, const struct msg *want,
    const uint8_t *body, size_t len)
{
	VB(reg_challenge.token);
	EQ(reg_challenge.code_digits);
	EQ(reg_challenge.expires_in_s);
}

/* REGISTER_FINISH. */
static void
b_reg_finish(struct msg *m)
{
	w_vb(m->u.reg_finish.token = pvb(300, TOKEN_LEN));
	w_vb(m->u.reg_finish.code = svb("1234567"));
	w_mem(fill(m->u.reg_finish.identity_pk, 32, 0x21), 32);
}

/* REGISTER_FINISH. */
static void
c_reg_finish(const struct msg *got, const struct msg *want,
    const uint8_t *body, size_t len)
{
	VB(reg_finish.token);
	VB(reg_finish.code);
	MEM(reg_finish.identity_pk);
}

/* REGISTERED. */
static void
b_registered(struct msg *m)
{
	w_vb(m->u.registered.credential = pvb(500, CRED_LEN));
}

/* REGISTERED. */
static void
c_registered(const struct msg *got, const struct msg *want,
    const uint8_t *body, size_t len)
{
	VB(registered.credential);
}

/* HELLO. */
static void
b_hello(struct msg *m)
{
	w_vb(m->u.hello.credential = pvb(700, CRED_LEN));
	w_mem(fill(m->u.hello.signature, 64, 0x33), 64);
	w_u8(m->u.hello.flags = HELLO_PRESENCE);
}

/* HELLO. */
static void
c_hello(const struct msg *got, const struct msg *want, const uint8_t *body,
    size_t len)
{
	VB(hello.credential);
	MEM(hello.signature);
	EQ(hello.flags);
}

/* The four u16 fields of WELCOME between address and credential. */
static void
b_welcome_common(struct msg *m)
{
	w_u16(m->u.welcome.idle_timeout_s = 0x1234);
	w_u16(m->u.welcome.stun_port = 3478);
	w_u16(m->u.welcome.max_batch = 1000);
	w_u16(m->u.welcome.max_offer_bytes = 0x0fed);
}

/* WELCOME to an IPv4 client, with a renewed credential. */
static void
b_welcome4(struct msg *m)
{
	w_u8(m->u.welcome.family = 4);
	w_u16(m->u.welcome.port = 0xbeef);
	w_mem(fill(m->u.welcome.addr, 4, 0xc0), 4);
	b_welcome_common(m);
	w_vb(m->u.welcome.credential = pvb(900, CRED_LEN));
}

/* WELCOME to an IPv6 client, with no credential. */
static void
b_welcome6(struct msg *m)
{
	w_u8(m->u.welcome.family = 6);
	w_u16(m->u.welcome.port = 0x0102);
	w_mem(fill(m->u.welcome.addr, 16, 0x20), 16);
	b_welcome_common(m);
	w_vb(m->u.welcome.credential = pvb(0, 0));
}

/* WELCOME; an IPv4 address leaves the rest of addr zero. */
static void
c_welcome(const struct msg *got, const struct msg *want, const uint8_t *body,
    size_t len)
{
	static const uint8_t	zero[12];

	EQ(welcome.family);
	EQ(welcome.port);
	if (want->u.welcome.family == 4) {
		ck_assert_mem_eq(got->u.welcome.addr, want->u.welcome.addr, 4);
		ck_assert_mem_eq(got->u.welcome.addr + 4, zero, 12);
	} else
		MEM(welcome.addr);
	EQ(welcome.idle_timeout_s);
	EQ(welcome.stun_port);
	EQ(welcome.max_batch);
	EQ(welcome.max_offer_bytes);
	VB(welcome.credential);
}

/* OPRF_EVAL with three elements. */
static void
b_oprf3(struct msg *m)
{
	w_u16(m->u.oprf.count = 3);
	w_mem(m->u.oprf.elements = pool + 1100, 3 * 32);
}

/* OPRF_RESULT with five elements. */
static void
b_oprf5(struct msg *m)
{
	w_u16(m->u.oprf.count = 5);
	w_mem(m->u.oprf.elements = pool + 1300, 5 * 32);
}

/* OPRF_EVAL and OPRF_RESULT. */
static void
c_oprf(const struct msg *got, const struct msg *want, const uint8_t *body,
    size_t len)
{
	EQ(oprf.count);
	span_check(got->u.oprf.elements, want->u.oprf.elements,
	    32 * (size_t)want->u.oprf.count, body, len);
}

/* LOOKUP. */
static void
b_lookup(struct msg *m)
{
	w_u16(m->u.lookup.count = 2);
	w_mem(m->u.lookup.ids = pool + 1600, 2 * 32);
}

/* LOOKUP. */
static void
c_lookup(const struct msg *got, const struct msg *want, const uint8_t *body,
    size_t len)
{
	EQ(lookup.count);
	span_check(got->u.lookup.ids, want->u.lookup.ids,
	    32 * (size_t)want->u.lookup.count, body, len);
}

/* LOOKUP_RESULT for eleven IDs. */
static void
b_lookup_result(struct msg *m)
{
	w_u16(m->u.lookup_result.count = 11);
	w_mem(m->u.lookup_result.bitmap = pool + 1700, 2);
}

/* LOOKUP_RESULT for no IDs at all. */
static void
b_lookup_result0(struct msg *m)
{
	w_u16(m->u.lookup_result.count = 0);
	m->u.lookup_result.bitmap = NULL;
}

/* LOOKUP_RESULT. */
static void
c_lookup_result(const struct msg *got, const struct msg *want,
    const uint8_t *body, size_t len)
{
	EQ(lookup_result.count);
	span_check(got->u.lookup_result.bitmap, want->u.lookup_result.bitmap,
	    (want->u.lookup_result.count + 7) / 8, body, len);
}

/* CONNECT. */
static void
b_connect(struct msg *m)
{
	w_u32(m->u.connect.tag = 0xdeadbeef);
	w_mem(fill(m->u.connect.target_id, 32, 0x5a), 32);
	w_vb(m->u.connect.offer = pvb(1800, 40));
}

/* CONNECT. */
static void
c_connect(const struct msg *got, const struct msg *want, const uint8_t *body,
    size_t len)
{
	EQ(connect.tag);
	MEM(connect.target_id);
	VB(connect.offer);
}

/* INCOMING. */
static void
b_incoming(struct msg *m)
{
	w_u64(m->u.incoming.session = 0xfedcba9876543210ULL);
	w_vb(m->u.incoming.caller_credential = pvb(1900, CRED_LEN));
	w_vb(m->u.incoming.offer = pvb(2100, 30));
	w_mem(fill(m->u.incoming.relay_token, 16, 0x99), 16);
}

/* INCOMING. */
static void
c_incoming(const struct msg *got, const struct msg *want,
    const uint8_t *body, size_t len)
{
	EQ(incoming.session);
	VB(incoming.caller_credential);
	VB(incoming.offer);
	MEM(incoming.relay_token);
}

/* ACCEPT. */
static void
b_accept(struct msg *m)
{
	w_u64(m->u.accept.session = 0x0011223344556677ULL);
	w_vb(m->u.accept.answer = pvb(2200, 50));
}

/* ACCEPT. */
static void
c_accept(const struct msg *got, const struct msg *want, const uint8_t *body,
    size_t len)
{
	EQ(accept.session);
	VB(accept.answer);
}

/* DECLINE. */
static void
b_decline(struct msg *m)
{
	w_u64(m->u.decline.session = 0x8877665544332211ULL);
	w_u8(m->u.decline.reason = 2);
}

/* DECLINE. */
static void
c_decline(const struct msg *got, const struct msg *want, const uint8_t *body,
    size_t len)
{
	EQ(decline.session);
	EQ(decline.reason);
}

/* ANSWER. */
static void
b_answer(struct msg *m)
{
	w_u32(m->u.answer.tag = 0x01020304);
	w_u64(m->u.answer.session = 0x1112131415161718ULL);
	w_vb(m->u.answer.callee_credential = pvb(2300, CRED_LEN));
	w_vb(m->u.answer.answer = pvb(2500, 33));
	w_mem(fill(m->u.answer.relay_token, 16, 0xa7), 16);
}

/* ANSWER. */
static void
c_answer(const struct msg *got, const struct msg *want, const uint8_t *body,
    size_t len)
{
	EQ(answer.tag);
	EQ(answer.session);
	VB(answer.callee_credential);
	VB(answer.answer);
	MEM(answer.relay_token);
}

/* DECLINED. */
static void
b_declined(struct msg *m)
{
	w_u32(m->u.declined.tag = 0x7f6e5d4c);
	w_u8(m->u.declined.reason = 1);
}

/* DECLINED. */
static void
c_declined(const struct msg *got, const struct msg *want,
    const uint8_t *body, size_t len)
{
	EQ(declined.tag);
	EQ(declined.reason);
}

/* END. */
static void
b_end(struct msg *m)
{
	w_u64(m->u.end.session = 0x0a0b0c0d0e0f1011ULL);
}

/* END. */
static void
c_end(const struct msg *got, const struct msg *want, const uint8_t *body,
    size_t len)
{
	EQ(end.session);
}

/* ENDED. */
static void
b_ended(struct msg *m)
{
	w_u64(m->u.ended.session = 0x2122232425262728ULL);
	w_u8(m->u.ended.why = 3);
}

/* ENDED. */
static void
c_ended(const struct msg *got, const struct msg *want, const uint8_t *body,
    size_t len)
{
	EQ(ended.session);
	EQ(ended.why);
}

/* RELAY_JOIN. */
static void
b_relay_join(struct msg *m)
{
	w_u64(m->u.relay_join.session = 0x3132333435363738ULL);
	w_mem(fill(m->u.relay_join.relay_token, 16, 0xe1), 16);
}

/* RELAY_JOIN. */
static void
c_relay_join(const struct msg *got, const struct msg *want,
    const uint8_t *body, size_t len)
{
	EQ(relay_join.session);
	MEM(relay_join.relay_token);
}

/* PING and PONG. */
static void
b_ping(struct msg *m)
{
	w_u64(m->u.ping.nonce = 0xcafebabe12345678ULL);
}

/* PING and PONG. */
static void
c_ping(const struct msg *got, const struct msg *want, const uint8_t *body,
    size_t len)
{
	EQ(ping.nonce);
}

/* GOAWAY. */
static void
b_goaway(struct msg *m)
{
	w_u8(m->u.goaway.reason = GOAWAY_OVERLOAD);
	w_u32(m->u.goaway.reconnect_after_s = 0x00abcdef);
}

/* GOAWAY. */
static void
c_goaway(const struct msg *got, const struct msg *want, const uint8_t *body,
    size_t len)
{
	EQ(goaway.reason);
	EQ(goaway.reconnect_after_s);
}

/* ERROR. */
static void
b_error(struct msg *m)
{
	w_u8(m->u.error.ref_type = MSG_ACCEPT);
	w_u64(m->u.error.ref = 0x4142434445464748ULL);
	w_u16(m->u.error.code = ERR_UNAVAILABLE);
	w_u32(m->u.error.retry_after_s = 0x01000002);
	w_vb(m->u.error.message = svb("storage unreachable"));
}

/* ERROR. */
static void
c_error(const struct msg *got, const struct msg *want, const uint8_t *body,
    size_t len)
{
	EQ(error.ref_type);
	EQ(error.ref);
	EQ(error.code);
	EQ(error.retry_after_s);
	VB(error.message);
}

/* Each case, with its body length counted by hand from §4. */
static const struct rt_case {
	uint8_t		 type;
	size_t		 body_len;
	build_fn	 build;
	check_fn	 check;
} rt_cases[] = {
	{ MSG_CHALLENGE, 1 + 32 + 8 + 32 + 64, b_challenge, c_challenge },
	{ MSG_REGISTER_BEGIN, 2 + 13, b_reg_begin, c_reg_begin },
	{ MSG_REGISTER_CHALLENGE, 2 + 88 + 1 + 4, b_reg_challenge,
	    c_reg_challenge },
	{ MSG_REGISTER_FINISH, 2 + 88 + 2 + 7 + 32, b_reg_finish,
	    c_reg_finish },
	{ MSG_REGISTERED, 2 + 145, b_registered, c_registered },
	{ MSG_HELLO, 2 + 145 + 64 + 1, b_hello, c_hello },
	{ MSG_WELCOME, 1 + 2 + 4 + 8 + 2 + 145, b_welcome4, c_welcome },
	{ MSG_WELCOME, 1 + 2 + 16 + 8 + 2, b_welcome6, c_welcome },
	{ MSG_OPRF_EVAL, 2 + 3 * 32, b_oprf3, c_oprf },
	{ MSG_OPRF_RESULT, 2 + 5 * 32, b_oprf5, c_oprf },
	{ MSG_LOOKUP, 2 + 2 * 32, b_lookup, c_lookup },
	{ MSG_LOOKUP_RESULT, 2 + 2, b_lookup_result, c_lookup_result },
	{ MSG_LOOKUP_RESULT, 2, b_lookup_result0, c_lookup_result },
	{ MSG_CONNECT, 4 + 32 + 2 + 40, b_connect, c_connect },
	{ MSG_INCOMING, 8 + 2 + 145 + 2 + 30 + 16, b_incoming, c_incoming },
	{ MSG_ACCEPT, 8 + 2 + 50, b_accept, c_accept },
	{ MSG_DECLINE, 8 + 1, b_decline, c_decline },
	{ MSG_ANSWER, 4 + 8 + 2 + 145 + 2 + 33 + 16, b_answer, c_answer },
	{ MSG_DECLINED, 4 + 1, b_declined, c_declined },
	{ MSG_END, 8, b_end, c_end },
	{ MSG_ENDED, 8 + 1, b_ended, c_ended },
	{ MSG_RELAY_JOIN, 8 + 16, b_relay_join, c_relay_join },
	{ MSG_RELAY_READY, 0, b_empty, c_empty },
	{ MSG_DELETE_ACCOUNT, 0, b_empty, c_empty },
	{ MSG_DELETED, 0, b_empty, c_empty },
	{ MSG_PING, 8, b_ping, c_ping },
	{ MSG_PONG, 8, b_ping, c_ping },
	{ MSG_GOAWAY, 1 + 4, b_goaway, c_goaway },
	{ MSG_ERROR, 1 + 8 + 2 + 4 + 2 + 19, b_error, c_error },
};
#define NCASES	((int)(sizeof rt_cases / sizeof rt_cases[0]))

/* Decode a copy of exactly len bytes, so reading past it is caught. */
static int
decode_exact(uint8_t type, const uint8_t *body, size_t len)
{
	struct msg	 m;
	uint8_t		*copy = xmalloc(len);
	int		 rc;

	if (len > 0)
		memcpy(copy, body, len);
	rc = proto_decode(type, copy, len, &m);
	free(copy);
	return (rc);
}

/* Build a message of case i, with its expected body in wbuf, and
 * encode it into frame. */
static size_t
encode_case(int i, struct msg *m, uint8_t *frame, size_t size)
{
	memset(m, 0, sizeof *m);
	m->type = rt_cases[i].type;
	wlen = 0;
	rt_cases[i].build(m);
	return (proto_encode(m, frame, size));
}

START_TEST(test_roundtrip)
{
	const struct rt_case	*tc = &rt_cases[_i];
	struct msg		 want, got;
	uint8_t			*frame = xmalloc(BIG), *again = xmalloc(BIG);
	const uint8_t		*body = frame + PROTO_HDR + 1;
	size_t			 n, blen, k;

	n = encode_case(_i, &want, frame, BIG);
	blen = tc->body_len;
	ck_assert_uint_eq(wlen, blen);
	ck_assert_uint_eq(n, PROTO_HDR + 1 + blen);
	ck_assert_mem_eq(body, wbuf, blen);
	ck_assert_uint_eq(proto_frame_len(frame), 1 + blen);
	ck_assert_uint_eq(frame[PROTO_HDR], tc->type);

	memset(&got, 0xee, sizeof got);
	ck_assert_int_eq(proto_decode(tc->type, body, blen, &got), 0);
	ck_assert_uint_eq(got.type, tc->type);
	tc->check(&got, &want, body, blen);

	/* What was decoded encodes to the same bytes. */
	ck_assert_uint_eq(proto_encode(&got, again, BIG), n);
	ck_assert_mem_eq(again, frame, n);

	for (k = 0; k < blen; k++)
		ck_assert_msg(decode_exact(tc->type, body, k) == -1,
		    "%s accepted with %zu of %zu bytes",
		    proto_type_name(tc->type), k, blen);
	memcpy(again, body, blen);
	again[blen] = 0;
	ck_assert_int_eq(decode_exact(tc->type, again, blen + 1), -1);

	/* Too small a buffer, down to none at all. */
	for (k = 0; k < n; k++)
		ck_assert_uint_eq(proto_encode(&want, again, k), 0);
	ck_assert_uint_eq(proto_encode(&want, again, n), n);
	free(frame);
	free(again);
}
END_TEST

START_TEST(test_every_type_covered)
{
	int	t, i, known = 0, found;

	for (t = 0; t < 256; t++) {
		if (!proto_known((uint8_t)t))
			continue;
		known++;
		for (found = 0, i = 0; i < NCASES; i++)
			found |= rt_cases[i].type == t;
		ck_assert_msg(found, "type 0x%02x has no round-trip case", t);
	}
	ck_assert_int_eq(known, 27);
}
END_TEST

/* Decode the hand-written body. */
static int
w_decode(uint8_t type)
{
	return (decode_exact(type, wbuf, wlen));
}

/* A count followed by nbytes of payload. */
static int
count_body(uint8_t type, unsigned count, size_t nbytes)
{
	wlen = 0;
	w_u16(count);
	w_fill(nbytes, 0x42);
	return (w_decode(type));
}

START_TEST(test_batch_counts)
{
	static const uint8_t	types[] = {
		MSG_OPRF_EVAL, MSG_OPRF_RESULT, MSG_LOOKUP
	};
	struct msg		m;
	size_t			i;

	for (i = 0; i < sizeof types; i++) {
		ck_assert_int_eq(count_body(types[i], 0, 0), -1);
		ck_assert_int_eq(count_body(types[i], 1, 32), 0);
		ck_assert_int_eq(count_body(types[i], 1024, 1024 * 32), 0);
		ck_assert_int_eq(count_body(types[i], 1025, 1025 * 32), -1);
		ck_assert_int_eq(count_body(types[i], 2, 63), -1);
		ck_assert_int_eq(count_body(types[i], 2, 65), -1);
	}
	ck_assert_int_eq(count_body(MSG_LOOKUP, 1024, 1024 * 32), 0);
	ck_assert_int_eq(proto_decode(MSG_LOOKUP, wbuf, wlen, &m), 0);
	ck_assert_uint_eq(m.u.lookup.count, 1024);
	ck_assert_ptr_eq(m.u.lookup.ids, wbuf + 2);

	memset(&m, 0, sizeof m);
	m.type = MSG_OPRF_EVAL;
	m.u.oprf.elements = pool;
	ck_assert_uint_eq(proto_encode(&m, wbuf, BIG), 0);
	m.u.oprf.count = 1025;
	ck_assert_uint_eq(proto_encode(&m, wbuf, BIG), 0);
	m.u.oprf.count = 2;
	m.u.oprf.elements = NULL;
	ck_assert_uint_eq(proto_encode(&m, wbuf, BIG), 0);
}
END_TEST

START_TEST(test_lookup_result_bitmap)
{
	struct msg	m;

	ck_assert_int_eq(count_body(MSG_LOOKUP_RESULT, 0, 0), 0);
	ck_assert_int_eq(count_body(MSG_LOOKUP_RESULT, 0, 1), -1);
	ck_assert_int_eq(count_body(MSG_LOOKUP_RESULT, 8, 1), 0);
	ck_assert_int_eq(count_body(MSG_LOOKUP_RESULT, 8, 2), -1);
	ck_assert_int_eq(count_body(MSG_LOOKUP_RESULT, 9, 1), -1);
	ck_assert_int_eq(count_body(MSG_LOOKUP_RESULT, 9, 2), 0);
	ck_assert_int_eq(count_body(MSG_LOOKUP_RESULT, 1024, 128), 0);
	ck_assert_int_eq(count_body(MSG_LOOKUP_RESULT, 1025, 129), -1);
	ck_assert_int_eq(count_body(MSG_LOOKUP_RESULT, 0xffff, 8192), -1);

	memset(&m, 0, sizeof m);
	m.type = MSG_LOOKUP_RESULT;
	m.u.lookup_result.count = 1025;
	m.u.lookup_result.bitmap = pool;
	ck_assert_uint_eq(proto_encode(&m, wbuf, BIG), 0);
}
END_TEST

/* REGISTER_BEGIN with a number of len bytes. */
static int
number_body(size_t len)
{
	wlen = 0;
	w_u16((unsigned)len);
	w_fill(len, '0');
	return (w_decode(MSG_REGISTER_BEGIN));
}

START_TEST(test_number_length)
{
	struct msg	m;

	ck_assert_int_eq(number_body(0), 0);
	ck_assert_int_eq(number_body(64), 0);
	ck_assert_int_eq(number_body(65), -1);
	ck_assert_int_eq(number_body(1000), -1);

	memset(&m, 0, sizeof m);
	m.type = MSG_REGISTER_BEGIN;
	m.u.reg_begin.number = pvb(0, 64);
	ck_assert_uint_eq(proto_encode(&m, wbuf, BIG), PROTO_HDR + 1 + 66);
	m.u.reg_begin.number = pvb(0, 65);
	ck_assert_uint_eq(proto_encode(&m, wbuf, BIG), 0);
}
END_TEST

/* A body of type whose offer or answer is n bytes. */
static int
offer_body(uint8_t type, size_t n)
{
	wlen = 0;
	if (type == MSG_CONNECT || type == MSG_ANSWER)
		w_u32(0x0badf00d);
	if (type == MSG_CONNECT)
		w_fill(32, 0x01);
	else
		w_u64(77);
	if (type == MSG_INCOMING || type == MSG_ANSWER) {
		w_u16(CRED_LEN);
		w_fill(CRED_LEN, 0x02);
	}
	w_u16((unsigned)n);
	w_fill(n, 0x03);
	if (type == MSG_INCOMING || type == MSG_ANSWER)
		w_fill(16, 0x04);
	return (w_decode(type));
}

START_TEST(test_offer_length)
{
	static const uint8_t	types[] = {
		MSG_CONNECT, MSG_ACCEPT, MSG_INCOMING, MSG_ANSWER
	};
	struct msg		m;
	size_t			i;

	for (i = 0; i < sizeof types; i++) {
		ck_assert_int_eq(offer_body(types[i], 0), 0);
		ck_assert_int_eq(offer_body(types[i], 4096), 0);
		ck_assert_int_eq(offer_body(types[i], 4097), -1);
		ck_assert_int_eq(offer_body(types[i], 65535), -1);
	}

	memset(&m, 0, sizeof m);
	m.type = MSG_CONNECT;
	m.u.connect.offer = pvb(0, 4096);
	ck_assert_uint_eq(proto_encode(&m, wbuf, BIG),
	    PROTO_HDR + 1 + 4 + 32 + 2 + 4096);
	m.u.connect.offer = pvb(0, 4097);
	ck_assert_uint_eq(proto_encode(&m, wbuf, BIG), 0);
	m.type = MSG_ACCEPT;
	m.u.accept.answer = pvb(0, 4097);
	ck_assert_uint_eq(proto_encode(&m, wbuf, BIG), 0);
	m.u.accept.answer.len = 5;
	m.u.accept.answer.p = NULL;
	ck_assert_uint_eq(proto_encode(&m, wbuf, BIG), 0);
}
END_TEST

/* A WELCOME body with the given family and naddr address bytes. */
static int
welcome_body(unsigned family, size_t naddr)
{
	wlen = 0;
	w_u8(family);
	w_u16(443);
	w_fill(naddr, 0x0a);
	w_u16(300);
	w_u16(3478);
	w_u16(1024);
	w_u16(4096);
	w_u16(0);
	return (w_decode(MSG_WELCOME));
}

START_TEST(test_welcome_family)
{
	struct msg	m;

	ck_assert_int_eq(welcome_body(4, 4), 0);
	ck_assert_int_eq(welcome_body(6, 16), 0);
	ck_assert_int_eq(welcome_body(6, 4), -1);
	ck_assert_int_eq(welcome_body(4, 16), -1);
	ck_assert_int_eq(welcome_body(0, 4), -1);
	ck_assert_int_eq(welcome_body(5, 4), -1);
	ck_assert_int_eq(welcome_body(46, 16), -1);
	ck_assert_int_eq(welcome_body(255, 16), -1);

	memset(&m, 0, sizeof m);
	m.type = MSG_WELCOME;
	m.u.welcome.family = 5;
	ck_assert_uint_eq(proto_encode(&m, wbuf, BIG), 0);
	m.u.welcome.family = 0;
	ck_assert_uint_eq(proto_encode(&m, wbuf, BIG), 0);
}
END_TEST

/* A CHALLENGE body with the given version. */
static int
challenge_body(unsigned version)
{
	wlen = 0;
	w_u8(version);
	w_fill(32 + 8 + 32 + 64, 0x66);
	return (w_decode(MSG_CHALLENGE));
}

START_TEST(test_challenge_version)
{
	struct msg	m;

	ck_assert_int_eq(challenge_body(1), 0);
	ck_assert_int_eq(challenge_body(0), -1);
	ck_assert_int_eq(challenge_body(2), -1);
	ck_assert_int_eq(challenge_body(255), -1);

	memset(&m, 0, sizeof m);
	m.type = MSG_CHALLENGE;
	m.u.challenge.version = 2;
	ck_assert_uint_eq(proto_encode(&m, wbuf, BIG), 0);
	m.u.challenge.version = 1;
	ck_assert_uint_eq(proto_encode(&m, wbuf, BIG), PROTO_HDR + 1 + 137);
}
END_TEST

/* A HELLO body with a 145-byte credential and the given flags. */
static int
hello_body(unsigned flags, size_t credlen)
{
	wlen = 0;
	w_u16((unsigned)credlen);
	w_fill(credlen, 0x77);
	w_fill(64, 0x88);
	w_u8(flags);
	return (w_decode(MSG_HELLO));
}

START_TEST(test_hello_flags)
{
	struct msg	m;

	ck_assert_int_eq(hello_body(0, CRED_LEN), 0);
	ck_assert_int_eq(hello_body(HELLO_PRESENCE, CRED_LEN), 0);
	ck_assert_int_eq(hello_body(0x02, CRED_LEN), -1);
	ck_assert_int_eq(hello_body(0x03, CRED_LEN), -1);
	ck_assert_int_eq(hello_body(0x80, CRED_LEN), -1);
	ck_assert_int_eq(hello_body(0xff, CRED_LEN), -1);
	/* A credential of the wrong length is UNAUTHENTICATED, not ours. */
	ck_assert_int_eq(hello_body(0, 144), 0);
	ck_assert_int_eq(hello_body(0, 0), 0);

	memset(&m, 0, sizeof m);
	m.type = MSG_HELLO;
	m.u.hello.flags = 0x02;
	ck_assert_uint_eq(proto_encode(&m, wbuf, BIG), 0);
}
END_TEST

START_TEST(test_empty_bodies)
{
	static const uint8_t	types[] = {
		MSG_RELAY_READY, MSG_DELETE_ACCOUNT, MSG_DELETED
	};
	const uint8_t		one = 0;
	struct msg		m;
	size_t			i;

	for (i = 0; i < sizeof types; i++) {
		ck_assert_int_eq(proto_decode(types[i], NULL, 0, &m), 0);
		ck_assert_uint_eq(m.type, types[i]);
		ck_assert_int_eq(proto_decode(types[i], &one, 1, &m), -1);
	}
}
END_TEST

START_TEST(test_unknown_types)
{
	static const uint8_t	types[] = {
		0x00, 0x0d, 0x3f, 0x40, 0x7f, 0x8d, 0x90, 0xbf, 0xc0, 0xff
	};
	struct msg		m;
	size_t			i;

	for (i = 0; i < sizeof types; i++) {
		ck_assert_int_eq(proto_known(types[i]), 0);
		ck_assert_str_eq(proto_type_name(types[i]), "UNKNOWN");
		ck_assert_int_eq(proto_decode(types[i], NULL, 0, &m), -1);
		ck_assert_int_eq(proto_decode(types[i], pool, 8, &m), -1);
		memset(&m, 0, sizeof m);
		m.type = types[i];
		ck_assert_uint_eq(proto_encode(&m, wbuf, BIG), 0);
	}
	ck_assert_int_eq(proto_known(MSG_PING), 1);
	ck_assert_int_eq(proto_known(MSG_ERROR), 1);
}
END_TEST

START_TEST(test_names)
{
	ck_assert_str_eq(proto_type_name(MSG_HELLO), "HELLO");
	ck_assert_str_eq(proto_type_name(MSG_REGISTER_CHALLENGE),
	    "REGISTER_CHALLENGE");
	ck_assert_str_eq(proto_type_name(MSG_GOAWAY), "GOAWAY");
	ck_assert_str_eq(proto_err_name(ERR_MALFORMED), "MALFORMED");
	ck_assert_str_eq(proto_err_name(ERR_INVALID_NUMBER),
	    "INVALID_NUMBER");
	ck_assert_str_eq(proto_err_name(ERR_DELIVERY_FAILED),
	    "DELIVERY_FAILED");
	ck_assert_str_eq(proto_err_name(ERR_QUOTA), "QUOTA");
	ck_assert_str_eq(proto_err_name(0), "UNKNOWN");
	ck_assert_str_eq(proto_err_name(17), "UNKNOWN");
	ck_assert_str_eq(proto_err_name(0xffff), "UNKNOWN");
}
END_TEST

START_TEST(test_frame_len)
{
	static const uint8_t	a[] = { 0x00, 0x00, 0x00, 0x09 };
	static const uint8_t	b[] = { 0x00, 0x01, 0x00, 0x00 };
	static const uint8_t	c[] = { 0x12, 0x34, 0x56, 0x78 };
	static const uint8_t	d[] = { 0xff, 0xff, 0xff, 0xff };

	ck_assert_uint_eq(proto_frame_len(a), 9);
	ck_assert_uint_eq(proto_frame_len(b), PROTO_MAX_LEN);
	ck_assert_uint_eq(proto_frame_len(c), 0x12345678);
	ck_assert_uint_eq(proto_frame_len(d), 0xffffffffU);
}
END_TEST

START_TEST(test_frame_max)
{
	struct msg	 m;
	uint8_t		*out = xmalloc(BIG);

	/* REGISTERED with 65533 bytes: len is exactly 65536. */
	memset(&m, 0, sizeof m);
	m.type = MSG_REGISTERED;
	m.u.registered.credential.p = wbuf;
	m.u.registered.credential.len = PROTO_MAX_LEN - 3;
	ck_assert_uint_eq(proto_encode(&m, out, BIG), PROTO_MAX_FRAME);
	ck_assert_uint_eq(proto_frame_len(out), PROTO_MAX_LEN);
	m.u.registered.credential.len = PROTO_MAX_LEN - 2;
	ck_assert_uint_eq(proto_encode(&m, out, BIG), 0);

	memset(&m, 0, sizeof m);
	m.type = MSG_INCOMING;
	m.u.incoming.caller_credential.p = wbuf;
	m.u.incoming.caller_credential.len = UINT16_MAX;
	ck_assert_uint_eq(proto_encode(&m, out, BIG), 0);
	free(out);
}
END_TEST

/*
 * tryst/2: INCOMING and ANSWER end with the relay endpoint (vbytes of 1 to
 * 255 bytes); the tryst/1 body is the same without it, and neither
 * version reads the other's.
 */
START_TEST(test_v2_relay)
{
	static const char	 ep[] = "node-b.example:4433";
	uint8_t			 f1[256], f2[512], *b;
	char			 longep[PROTO_MAX_RELAY + 2];
	struct msg		 m, got;
	size_t			 n1, n2;
	int			 i;

	memset(longep, 'a', sizeof longep - 1);
	longep[sizeof longep - 1] = '\0';
	for (i = 0; i < 2; i++) {
		memset(&m, 0, sizeof m);
		if (i == 0) {
			m.type = MSG_INCOMING;
			m.u.incoming.session = 7;
			m.u.incoming.caller_credential = pvb(1, CRED_LEN);
			m.u.incoming.offer = pvb(2, 10);
			m.u.incoming.relay = (struct vb){ (const uint8_t *)ep,
			    sizeof ep - 1 };
		} else {
			m.type = MSG_ANSWER;
			m.u.answer.tag = 9;
			m.u.answer.session = 7;
			m.u.answer.callee_credential = pvb(1, CRED_LEN);
			m.u.answer.answer = pvb(2, 10);
			m.u.answer.relay = (struct vb){ (const uint8_t *)ep,
			    sizeof ep - 1 };
		}
		/* Version 0 and 1 leave the relay out. */
		ck_assert_uint_gt(n1 = proto_encode(&m, f1, sizeof f1), 0);
		m.version = 2;
		ck_assert_uint_gt(n2 = proto_encode(&m, f2, sizeof f2), 0);
		ck_assert_uint_eq(n2, n1 + 2 + sizeof ep - 1);
		ck_assert_mem_eq(f1 + PROTO_HDR, f2 + PROTO_HDR, n1 - PROTO_HDR);
		b = f2 + n1;
		ck_assert_uint_eq(b[0] << 8 | b[1], sizeof ep - 1);
		ck_assert_mem_eq(b + 2, ep, sizeof ep - 1);

		b = f2 + PROTO_HDR + 1;
		ck_assert_int_eq(proto_decode_v(m.type, b, n2 - PROTO_HDR - 1,
		    2, &got), 0);
		ck_assert_uint_eq(got.version, 2);
		if (i == 0)
			ck_assert_mem_eq(got.u.incoming.relay.p, ep,
			    got.u.incoming.relay.len);
		else
			ck_assert_mem_eq(got.u.answer.relay.p, ep,
			    got.u.answer.relay.len);
		/* Neither version reads the other's body. */
		ck_assert_int_eq(proto_decode(m.type, b, n2 - PROTO_HDR - 1,
		    &got), -1);
		ck_assert_int_eq(proto_decode_v(m.type, f1 + PROTO_HDR + 1,
		    n1 - PROTO_HDR - 1, 2, &got), -1);
		ck_assert_int_eq(proto_decode_v(m.type, f1 + PROTO_HDR + 1,
		    n1 - PROTO_HDR - 1, 3, &got), -1);

		/* Empty, and one byte over 255, encode and decode as
		 * nothing; 255 does. */
		b[0] = b[1] = 0;
		ck_assert_int_eq(proto_decode_v(m.type, f2 + PROTO_HDR + 1,
		    n1 + 2 - PROTO_HDR - 1, 2, &got), -1);
		if (i == 0)
			m.u.incoming.relay.len = 0;
		else
			m.u.answer.relay.len = 0;
		ck_assert_uint_eq(proto_encode(&m, f2, sizeof f2), 0);
		if (i == 0)
			m.u.incoming.relay = (struct vb){
			    (const uint8_t *)longep, PROTO_MAX_RELAY + 1 };
		else
			m.u.answer.relay = (struct vb){
			    (const uint8_t *)longep, PROTO_MAX_RELAY + 1 };
		ck_assert_uint_eq(proto_encode(&m, f2, sizeof f2), 0);
		if (i == 0)
			m.u.incoming.relay.len = PROTO_MAX_RELAY;
		else
			m.u.answer.relay.len = PROTO_MAX_RELAY;
		ck_assert_uint_gt(proto_encode(&m, f2, sizeof f2), 0);
	}

	/* Every other message is the same bytes in both versions. */
	memset(&m, 0, sizeof m);
	m.type = MSG_PING;
	m.u.ping.nonce = 5;
	n1 = proto_encode(&m, f1, sizeof f1);
	m.version = 2;
	ck_assert_uint_eq(proto_encode(&m, f2, sizeof f2), n1);
	ck_assert_mem_eq(f1, f2, n1);
	ck_assert_int_eq(proto_decode_v(MSG_PING, f2 + PROTO_HDR + 1,
	    n1 - PROTO_HDR - 1, 2, &got), 0);
}
END_TEST

START_TEST(test_bytes_ping)
{
	static const uint8_t	want[] = {
		0x00, 0x00, 0x00, 0x09, 0x0c,
		0x01, 0x02, 0x03, 0x04, 0x05, 0x06, 0x07, 0x08
	};
	struct msg		m;
	uint8_t			out[64];

	memset(&m, 0, sizeof m);
	m.type = MSG_PING;
	m.u.ping.nonce = 0x0102030405060708ULL;
	ck_assert_uint_eq(proto_encode(&m, out, sizeof out), sizeof want);
	ck_assert_mem_eq(out, want, sizeof want);
}
END_TEST

START_TEST(test_bytes_error)
{
	static const uint8_t	want[] = {
		0x00, 0x00, 0x00, 0x16, 0x8f,
		0x06,
		0x11, 0x22, 0x33, 0x44, 0x55, 0x66, 0x77, 0x88,
		0x00, 0x09,
		0x00, 0x00, 0x01, 0x2c,
		0x00, 0x04, 'b', 'u', 's', 'y'
	};
	struct msg		m;
	uint8_t			out[64];

	memset(&m, 0, sizeof m);
	m.type = MSG_ERROR;
	m.u.error.ref_type = MSG_CONNECT;
	m.u.error.ref = 0x1122334455667788ULL;
	m.u.error.code = ERR_OFFLINE;
	m.u.error.retry_after_s = 300;
	m.u.error.message = svb("busy");
	ck_assert_uint_eq(proto_encode(&m, out, sizeof out), sizeof want);
	ck_assert_mem_eq(out, want, sizeof want);
	ck_assert_int_eq(proto_decode(MSG_ERROR, want + 5, sizeof want - 5,
	    &m), 0);
	ck_assert_uint_eq(m.u.error.code, ERR_OFFLINE);
	ck_assert_uint_eq(m.u.error.ref, 0x1122334455667788ULL);
	ck_assert_ptr_eq(m.u.error.message.p, want + 22);
}
END_TEST

START_TEST(test_bytes_welcome)
{
	static const uint8_t	want[] = {
		0x00, 0x00, 0x00, 0x14, 0x83,
		0x04, 0x01, 0xbb, 192, 0, 2, 7,
		0x01, 0x2c, 0x0d, 0x96, 0x04, 0x00, 0x10, 0x00,
		0x00, 0x02, 0xab, 0xcd
	};
	static const uint8_t	cred[] = { 0xab, 0xcd };
	struct msg		m;
	uint8_t			out[64];

	memset(&m, 0, sizeof m);
	m.type = MSG_WELCOME;
	m.u.welcome.family = 4;
	m.u.welcome.port = 443;
	memcpy(m.u.welcome.addr, "\xc0\x00\x02\x07\xff\xff", 6);
	m.u.welcome.idle_timeout_s = 300;
	m.u.welcome.stun_port = 3478;
	m.u.welcome.max_batch = 1024;
	m.u.welcome.max_offer_bytes = 4096;
	m.u.welcome.credential.p = cred;
	m.u.welcome.credential.len = 2;
	ck_assert_uint_eq(proto_encode(&m, out, sizeof out), sizeof want);
	ck_assert_mem_eq(out, want, sizeof want);
}
END_TEST

START_TEST(test_bytes_lookup_result)
{
	static const uint8_t	want[] = {
		0x00, 0x00, 0x00, 0x05, 0x85, 0x00, 0x0b, 0x05, 0x04
	};
	static const uint8_t	bits[] = { 0x05, 0x04 };
	struct msg		m;
	uint8_t			out[16];

	memset(&m, 0, sizeof m);
	m.type = MSG_LOOKUP_RESULT;
	m.u.lookup_result.count = 11;
	m.u.lookup_result.bitmap = bits;
	ck_assert_uint_eq(proto_encode(&m, out, sizeof out), sizeof want);
	ck_assert_mem_eq(out, want, sizeof want);
}
END_TEST

/* The codec suite. */
static Suite *
proto_suite(void)
{
	Suite	*s = suite_create("proto");
	TCase	*tc;

	tc = tcase_create("roundtrip");
	tcase_add_loop_test(tc, test_roundtrip, 0, NCASES);
	tcase_add_test(tc, test_every_type_covered);
	suite_add_tcase(s, tc);

	tc = tcase_create("bounds");
	tcase_add_test(tc, test_batch_counts);
	tcase_add_test(tc, test_lookup_result_bitmap);
	tcase_add_test(tc, test_number_length);
	tcase_add_test(tc, test_offer_length);
	tcase_add_test(tc, test_welcome_family);
	tcase_add_test(tc, test_challenge_version);
	tcase_add_test(tc, test_hello_flags);
	tcase_add_test(tc, test_empty_bodies);
	tcase_add_test(tc, test_unknown_types);
	tcase_add_test(tc, test_names);
	tcase_add_test(tc, test_frame_len);
	tcase_add_test(tc, test_frame_max);
	suite_add_tcase(s, tc);

	tc = tcase_create("bytes");
	tcase_add_test(tc, test_v2_relay);
	tcase_add_test(tc, test_bytes_ping);
	tcase_add_test(tc, test_bytes_error);
	tcase_add_test(tc, test_bytes_welcome);
	tcase_add_test(tc, test_bytes_lookup_result);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	fill(pool, sizeof pool, 0x01);
	return (unit_run(proto_suite()));
}
