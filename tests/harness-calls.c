/*
 * harness-calls.c -- helpers for tests that make calls: register an
 * account once per run, CONNECT, ring, accept, ENDED, and the two
 * RELAY_JOINs of a session, every field of every answer checked.
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <sodium.h>

#include "harness.h"

/* Register number once per run. */
void
h_account_once(const char *number, struct account *a)
{
	if (strcmp(a->number, number) != 0)
		h_register(number, a);
}

/* CONNECT from c. */
void
h_connect(struct hc *c, uint32_t tag, const uint8_t id[ID_LEN],
    const void *offer, size_t len)
{
	struct msg	 m;

	memset(&m, 0, sizeof m);
	m.type = MSG_CONNECT;
	m.u.connect.tag = tag;
	memcpy(m.u.connect.target_id, id, ID_LEN);
	m.u.connect.offer.p = offer;
	m.u.connect.offer.len = (uint16_t)len;
	h_send(c, &m);
}

/* 1 if the 16 bytes are all zero. */
static int
zero16(const uint8_t *p)
{
	static const uint8_t	 z[16];

	return (memcmp(p, z, 16) == 0);
}

/* a calls b; b gets INCOMING with a's credential and the offer. */
void
h_ring(struct hc *a, const struct account *aa, struct hc *b,
    const struct account *ba, uint32_t tag, const void *offer, size_t len,
    struct hcall *call)
{
	struct msg	 m;

	h_connect(a, tag, ba->c.id, offer, len);
	h_recv(b, &m);
	ck_assert_msg(m.type == MSG_INCOMING, "callee: expected INCOMING, got "
	    "%s %s", proto_type_name(m.type), m.type == MSG_ERROR ?
	    proto_err_name(m.u.error.code) : "");
	ck_assert_uint_ne(m.u.incoming.session, 0);
	ck_assert_uint_eq(m.u.incoming.caller_credential.len, CRED_LEN);
	ck_assert_mem_eq(m.u.incoming.caller_credential.p, aa->cred,
	    CRED_LEN);
	ck_assert_uint_eq(m.u.incoming.offer.len, len);
	if (len > 0)
		ck_assert_mem_eq(m.u.incoming.offer.p, offer, len);
	ck_assert(!zero16(m.u.incoming.relay_token));
	memset(call, 0, sizeof *call);
	call->tag = tag;
	call->session = m.u.incoming.session;
	memcpy(call->token[1], m.u.incoming.relay_token, 16);
	/* tryst/2 names the relay; tryst/1 does not. */
	ck_assert_int_eq(m.u.incoming.relay.len > 0,
	    tconn_version(b->tc) == 2);
	snprintf(call->relay[1], sizeof call->relay[1], "%.*s",
	    (int)m.u.incoming.relay.len, m.u.incoming.relay.p);
}

/* b accepts; a gets ANSWER with b's credential, the answer, its token. */
void
h_accept(struct hc *a, struct hc *b, const struct account *ba,
    const void *answer, size_t len, struct hcall *call)
{
	struct msg	 m;

	memset(&m, 0, sizeof m);
	m.type = MSG_ACCEPT;
	m.u.accept.session = call->session;
	m.u.accept.answer.p = answer;
	m.u.accept.answer.len = (uint16_t)len;
	h_send(b, &m);
	h_recv(a, &m);
	ck_assert_msg(m.type == MSG_ANSWER, "caller: expected ANSWER, got %s "
	    "%s", proto_type_name(m.type), m.type == MSG_ERROR ?
	    proto_err_name(m.u.error.code) : "");
	ck_assert_uint_eq(m.u.answer.tag, call->tag);
	ck_assert_uint_eq(m.u.answer.session, call->session);
	ck_assert_uint_eq(m.u.answer.callee_credential.len, CRED_LEN);
	ck_assert_mem_eq(m.u.answer.callee_credential.p, ba->cred, CRED_LEN);
	ck_assert_uint_eq(m.u.answer.answer.len, len);
	if (len > 0)
		ck_assert_mem_eq(m.u.answer.answer.p, answer, len);
	ck_assert(!zero16(m.u.answer.relay_token));
	ck_assert_int_ne(memcmp(m.u.answer.relay_token, call->token[1], 16),
	    0);
	memcpy(call->token[0], m.u.answer.relay_token, 16);
	ck_assert_int_eq(m.u.answer.relay.len > 0,
	    tconn_version(a->tc) == 2);
	snprintf(call->relay[0], sizeof call->relay[0], "%.*s",
	    (int)m.u.answer.relay.len, m.u.answer.relay.p);
}

/* ENDED for session with why. */
void
h_expect_ended(struct hc *c, uint64_t session, int why)
{
	struct msg	 m;

	h_recv(c, &m);
	ck_assert_msg(m.type == MSG_ENDED, "expected ENDED %d, got %s %s", why,
	    proto_type_name(m.type), m.type == MSG_ERROR ?
	    proto_err_name(m.u.error.code) : "");
	ck_assert_uint_eq(m.u.ended.session, session);
	ck_assert_uint_eq(m.u.ended.why, why);
}

/* RELAY_JOIN as the first frame of a fresh connection. */
struct rconn *
h_relay_join(const char *hostport, uint64_t session, const uint8_t token[16],
    int bufsize)
{
	struct rconn	*r = h_raw_open(hostport, bufsize);
	struct msg	 m;

	memset(&m, 0, sizeof m);
	m.type = MSG_RELAY_JOIN;
	m.u.relay_join.session = session;
	memcpy(m.u.relay_join.relay_token, token, 16);
	h_raw_send(r, &m);
	return (r);
}

/* RELAY_READY next on r. */
static void
expect_ready(struct rconn *r, const char *who)
{
	struct msg	 m;
	int		 rv;

	rv = h_raw_recv(r, &m, H_TIMEOUT_MS);
	ck_assert_msg(rv == 1, "%s: no RELAY_READY (%s)", who, rv == 0 ?
	    "closed" : "timeout");
	ck_assert_msg(m.type == MSG_RELAY_READY, "%s: expected RELAY_READY, "
	    "got %s %s", who, proto_type_name(m.type), m.type == MSG_ERROR ?
	    proto_err_name(m.u.error.code) : "");
}

/* Both join; nothing comes to the first before the second joins. */
void
h_relay_pair(const char *hostport, const struct hcall *call, int bufsize,
    struct rconn **ra, struct rconn **rb)
{
	struct msg	 m;

	*ra = h_relay_join(hostport, call->session, call->token[0], bufsize);
	ck_assert_int_eq(h_raw_recv(*ra, &m, 200), -1);
	*rb = h_relay_join(hostport, call->session, call->token[1], bufsize);
	expect_ready(*ra, "caller");
	expect_ready(*rb, "callee");
}
