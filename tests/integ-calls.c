/*
 * integ-calls.c -- integration tests of calls (PROTOCOL.md §5.4) on the
 * first trystd: CONNECT, INCOMING, ACCEPT, ANSWER, DECLINE, END, parties
 * that leave.
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <sodium.h>

#include "harness.h"

#define N_CALLER	"+15550100201"
#define N_CALLEE	"+15550100202"
#define N_IDLE		"+15550100203"	/* never present */
#define N_OTHER		"+15550100204"

static struct account	 A, B, C, D;

/* ---- tests ------------------------------------------------------------ */

/* The four accounts; B present. */
static void
accounts(void)
{
	h_account_once(N_CALLER, &A);
	h_account_once(N_CALLEE, &B);
	h_account_once(N_IDLE, &C);
	h_account_once(N_OTHER, &D);
}

/* A message about session of type: next on c is ERROR code, ref. */
static void
expect_ref(struct hc *c, int code, uint8_t type, uint64_t ref)
{
	struct msg	 m;

	h_expect_error(c, code, type, &m);
	ck_assert_uint_eq(m.u.error.ref, ref);
	ck_assert_uint_eq(m.u.error.retry_after_s, 0);
}

/* Send ACCEPT, DECLINE or END for session on c. */
static void
send_session(struct hc *c, uint8_t type, uint64_t session)
{
	struct msg	 m;

	memset(&m, 0, sizeof m);
	m.type = type;
	switch (type) {
	case MSG_ACCEPT:
		m.u.accept.session = session;
		break;
	case MSG_DECLINE:
		m.u.decline.session = session;
		m.u.decline.reason = 2;
		break;
	default:
		m.u.end.session = session;
		break;
	}
	h_send(c, &m);
}

START_TEST(test_call_answer)
{
	const uint8_t	 offer[] = { 1, 1, 1, 4, 0x1f, 0x90, 127, 0, 0, 1,
	    0, 0xff, 0xfe };
	const uint8_t	 answer[] = "an answer\0with a zero";
	struct hc	*a, *b;
	struct hcall	 call;

	accounts();
	b = h_online(&B, HELLO_PRESENCE);
	a = h_online(&A, 0);
	h_ring(a, &A, b, &B, 0xa1b2c3d4, offer, sizeof offer, &call);
	h_accept(a, b, &B, answer, sizeof answer, &call);
	/* A second ACCEPT finds no ringing call. */
	send_session(b, MSG_ACCEPT, call.session);
	expect_ref(b, ERR_NO_SESSION, MSG_ACCEPT, call.session);
	/* END in session: the other hears ENDED 0; later ones are dropped. */
	send_session(a, MSG_END, call.session);
	h_expect_ended(b, call.session, 0);
	send_session(b, MSG_END, call.session);
	send_session(a, MSG_END, call.session);
	h_ping(a, 1);
	h_ping(b, 2);
	/* Empty offer and answer. */
	h_ring(a, &A, b, &B, 2, "", 0, &call);
	h_accept(a, b, &B, "", 0, &call);
	send_session(b, MSG_END, call.session);
	h_expect_ended(a, call.session, 0);
}
END_TEST

START_TEST(test_call_decline)
{
	struct hc	*a, *b, *d;
	struct hcall	 call;
	struct msg	 m;

	accounts();
	b = h_online(&B, HELLO_PRESENCE);
	a = h_online(&A, 0);
	d = h_online(&D, 0);
	h_ring(a, &A, b, &B, 77, "x", 1, &call);
	/* Only the callee answers. */
	send_session(a, MSG_ACCEPT, call.session);
	expect_ref(a, ERR_NO_SESSION, MSG_ACCEPT, call.session);
	send_session(d, MSG_DECLINE, call.session);
	expect_ref(d, ERR_NO_SESSION, MSG_DECLINE, call.session);
	send_session(d, MSG_END, call.session);
	expect_ref(d, ERR_NO_SESSION, MSG_END, call.session);
	memset(&m, 0, sizeof m);
	m.type = MSG_DECLINE;
	m.u.decline.session = call.session;
	m.u.decline.reason = 1;
	h_send(b, &m);
	h_recv(a, &m);
	ck_assert_msg(m.type == MSG_DECLINED, "got %s",
	    proto_type_name(m.type));
	ck_assert_uint_eq(m.u.declined.tag, 77);
	ck_assert_uint_eq(m.u.declined.reason, 1);
	/* Over: its parties' late messages are dropped, others' refused. */
	send_session(b, MSG_ACCEPT, call.session);
	send_session(b, MSG_DECLINE, call.session);
	send_session(a, MSG_END, call.session);
	h_ping(b, 3);
	h_ping(a, 4);
	send_session(d, MSG_END, call.session);
	expect_ref(d, ERR_NO_SESSION, MSG_END, call.session);
	send_session(b, MSG_END, call.session ^ 1);
	expect_ref(b, ERR_NO_SESSION, MSG_END, call.session ^ 1);
}
END_TEST

START_TEST(test_call_offline)
{
	struct hc	*a, *c;
	uint8_t		 nobody[ID_LEN];
	int64_t		 t0;

	accounts();
	a = h_online(&A, 0);
	t0 = h_mono_ms();
	h_connect(a, 5, C.c.id, "o", 1);
	expect_ref(a, ERR_OFFLINE, MSG_CONNECT, 5);
	ck_assert_int_lt(h_mono_ms() - t0, 1000);
	/* Online without PRESENCE is not reachable either. */
	c = h_online(&C, 0);
	h_connect(a, 6, C.c.id, "o", 1);
	expect_ref(a, ERR_OFFLINE, MSG_CONNECT, 6);
	randombytes_buf(nobody, sizeof nobody);
	h_connect(a, 7, nobody, NULL, 0);
	expect_ref(a, ERR_OFFLINE, MSG_CONNECT, 7);
	h_ping(c, 5);
	h_ping(a, 6);
}
END_TEST

START_TEST(test_call_unsupported)
{
	struct hc	*a, *b;
	struct hcall	 call;
	uint8_t		*frame;
	size_t		 len = 4 + 1 + 4 + 32 + 2 + 4097;

	accounts();
	b = h_online(&B, HELLO_PRESENCE);
	a = h_online(&A, HELLO_PRESENCE);
	h_connect(a, 9, A.c.id, "me", 2);
	expect_ref(a, ERR_UNSUPPORTED, MSG_CONNECT, 9);
	/* A tag already ringing on this connection. */
	h_ring(a, &A, b, &B, 10, "1", 1, &call);
	h_connect(a, 10, B.c.id, "2", 1);
	expect_ref(a, ERR_UNSUPPORTED, MSG_CONNECT, 10);
	send_session(a, MSG_END, call.session);
	h_expect_ended(b, call.session, 0);
	/* Ended: the tag may be used again. */
	h_ring(a, &A, b, &B, 10, "3", 1, &call);
	h_ping(a, 7);

	/* An offer of 4097 bytes is beyond the protocol: MALFORMED. */
	frame = xcalloc(1, len);
	put_u32(frame, (uint32_t)(len - 4));
	frame[4] = MSG_CONNECT;
	put_u32(frame + 5, 11);
	memcpy(frame + 9, B.c.id, ID_LEN);
	frame[41] = 4097 >> 8;
	frame[42] = 4097 & 0xff;
	h_send_raw(a, frame, len);
	free(frame);
	h_expect_error(a, ERR_MALFORMED, MSG_CONNECT, NULL);
	h_expect_closed(a);
	/* a left: its ringing call ends for the callee. */
	h_expect_ended(b, call.session, 1);
}
END_TEST

START_TEST(test_call_end_ringing)
{
	struct hc	*a, *b;
	struct hcall	 call;
	struct msg	 m;

	accounts();
	b = h_online(&B, HELLO_PRESENCE);
	a = h_online(&A, 0);
	/* The callee ends a ringing call: the caller hears ENDED 0, and
	 * DECLINED 0 for the tag it knows the call by. */
	h_ring(a, &A, b, &B, 20, "r", 1, &call);
	send_session(b, MSG_END, call.session);
	h_expect_ended(a, call.session, 0);
	h_recv(a, &m);
	ck_assert_msg(m.type == MSG_DECLINED && m.u.declined.tag == 20 &&
	    m.u.declined.reason == 0, "after ENDED: %s",
	    proto_type_name(m.type));
	send_session(b, MSG_ACCEPT, call.session);
	h_ping(b, 8);
	/* The caller ends it (the session is from INCOMING). */
	h_ring(a, &A, b, &B, 21, "r", 1, &call);
	send_session(a, MSG_END, call.session);
	h_expect_ended(b, call.session, 0);
	h_ping(a, 9);
}
END_TEST

START_TEST(test_call_leave)
{
	struct hc	*a, *b;
	struct hcall	 call;

	accounts();
	a = h_online(&A, 0);
	/* The callee goes while ringing: the caller gets OFFLINE. */
	b = h_online(&B, HELLO_PRESENCE);
	h_ring(a, &A, b, &B, 30, "r", 1, &call);
	h_close(b);
	expect_ref(a, ERR_OFFLINE, MSG_CONNECT, 30);
	/* The callee goes in a session: ENDED 1. */
	b = h_online(&B, HELLO_PRESENCE);
	h_ring(a, &A, b, &B, 31, "r", 1, &call);
	h_accept(a, b, &B, "a", 1, &call);
	h_close(b);
	h_expect_ended(a, call.session, 1);
	/* The caller goes, in a session and while ringing: ENDED 1. */
	b = h_online(&B, HELLO_PRESENCE);
	h_ring(a, &A, b, &B, 32, "r", 1, &call);
	h_accept(a, b, &B, "a", 1, &call);
	h_close(a);
	h_expect_ended(b, call.session, 1);
	a = h_online(&A, 0);
	h_ring(a, &A, b, &B, 33, "r", 1, &call);
	h_close(a);
	h_expect_ended(b, call.session, 1);
	/* A replaced presence connection leaves too. */
	a = h_online(&A, 0);
	h_ring(a, &A, b, &B, 34, "r", 1, &call);
	h_online(&B, HELLO_PRESENCE);
	h_expect_goaway(b, GOAWAY_REPLACED);
	expect_ref(a, ERR_OFFLINE, MSG_CONNECT, 34);
}
END_TEST

START_TEST(test_call_limits)
{
	struct hc	*a, *b;
	struct hcall	 call;
	struct msg	 m;
	uint32_t	 t;

	accounts();
	b = h_online(&B, HELLO_PRESENCE);
	a = h_online(&A, 0);
	/* max_pending_calls is 8. */
	for (t = 100; t < 108; t++)
		h_ring(a, &A, b, &B, t, "p", 1, &call);
	h_connect(a, 108, B.c.id, "p", 1);
	expect_ref(a, ERR_LIMIT, MSG_CONNECT, 108);
	/* Leaving ends all eight for the callee. */
	h_close(a);
	for (t = 0; t < 8; t++) {
		h_recv(b, &m);
		ck_assert_uint_eq(m.type, MSG_ENDED);
		ck_assert_uint_eq(m.u.ended.why, 1);
	}
	h_ping(b, 10);
}
END_TEST

/* CONNECT, ACCEPT, DECLINE, END, leaving. */
TCase *
integ_calls_tcase(void)
{
	TCase	*tc = tcase_create("calls");

	tcase_add_checked_fixture(tc, NULL, h_test_teardown);
	tcase_add_test(tc, test_call_answer);
	tcase_add_test(tc, test_call_decline);
	tcase_add_test(tc, test_call_offline);
	tcase_add_test(tc, test_call_unsupported);
	tcase_add_test(tc, test_call_end_ringing);
	tcase_add_test(tc, test_call_leave);
	tcase_add_test(tc, test_call_limits);
	return (tc);
}
