/*
 * corpus-proto.c -- the seeds of the proto target: one frame body (the
 * type byte and the body) per message type of PROTOCOL.md §4, made with
 * proto_encode. Part of make-corpus.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "make-corpus.h"

/* A proto seed: the type byte and body of m's frame. */
static void
seed_msg(const char *name, const struct msg *m)
{
	static uint8_t	 frame[PROTO_MAX_FRAME];
	size_t		 n;

	if ((n = proto_encode(m, frame, sizeof frame)) == 0)
		fatalx("proto seed %s does not encode", name);
	seed("proto", name, frame + PROTO_HDR, n - PROTO_HDR);
}

/* PROTO_MAX_OFFER bytes of b, for fields whose value does not matter. */
static const uint8_t *
filler(uint8_t b)
{
	static uint8_t	 buf[8][PROTO_MAX_OFFER];
	static int	 next;
	uint8_t		*p = buf[next++ % 8];

	memset(p, b, PROTO_MAX_OFFER);
	return (p);
}

/* Start a message of type. */
static void
msg_new(struct msg *m, uint8_t type)
{
	memset(m, 0, sizeof *m);
	m->type = type;
}

/* Set a vbytes field. */
static void
vb_set(struct vb *v, const void *p, size_t len)
{
	v->p = p;
	v->len = (uint16_t)len;
}

/* Proto seeds of the registration and HELLO messages. */
static void
proto_account(void)
{
	struct msg	 m;

	msg_new(&m, MSG_REGISTER_BEGIN);
	vb_set(&m.u.reg_begin.number, "+447700900123", 13);
	seed_msg("01-register-begin", &m);
	msg_new(&m, MSG_REGISTER_FINISH);
	vb_set(&m.u.reg_finish.token, filler(0x31), TOKEN_LEN);
	vb_set(&m.u.reg_finish.code, "123456", 6);
	memset(m.u.reg_finish.identity_pk, 0x32, 32);
	seed_msg("02-register-finish", &m);
	msg_new(&m, MSG_HELLO);
	vb_set(&m.u.hello.credential, credential(), CRED_LEN);
	m.u.hello.flags = HELLO_PRESENCE;
	seed_msg("03-hello", &m);
	msg_new(&m, MSG_DELETE_ACCOUNT);
	seed_msg("0b-delete-account", &m);
}

/* Proto seeds of discovery, both ways. */
static void
proto_discovery(void)
{
	struct msg	 m;

	msg_new(&m, MSG_OPRF_EVAL);
	m.u.oprf.count = 2;
	m.u.oprf.elements = filler(0x41);
	seed_msg("04-oprf-eval", &m);
	m.type = MSG_OPRF_RESULT;
	seed_msg("84-oprf-result", &m);
	msg_new(&m, MSG_LOOKUP);
	m.u.lookup.count = 3;
	m.u.lookup.ids = filler(0x42);
	seed_msg("05-lookup", &m);
	msg_new(&m, MSG_LOOKUP_RESULT);
	m.u.lookup_result.count = 10;
	m.u.lookup_result.bitmap = (const uint8_t *)"\x05\x02";
	seed_msg("85-lookup-result", &m);
	m.u.lookup_result.count = 0;
	seed_msg("85-lookup-result-empty", &m);
}

/* Proto seeds of the requests of a call. */
static void
proto_call_requests(const uint8_t *offer, size_t olen)
{
	struct msg	 m;

	msg_new(&m, MSG_CONNECT);
	m.u.connect.tag = 7;
	memset(m.u.connect.target_id, 0x51, ID_LEN);
	vb_set(&m.u.connect.offer, offer, olen);
	seed_msg("06-connect", &m);
	msg_new(&m, MSG_ACCEPT);
	m.u.accept.session = 0x0102030405060708ULL;
	vb_set(&m.u.accept.answer, offer, olen);
	seed_msg("07-accept", &m);
	msg_new(&m, MSG_DECLINE);
	m.u.decline.session = 9;
	m.u.decline.reason = 1;
	seed_msg("08-decline", &m);
	msg_new(&m, MSG_END);
	m.u.end.session = 9;
	seed_msg("09-end", &m);
	msg_new(&m, MSG_RELAY_JOIN);
	m.u.relay_join.session = 9;
	memset(m.u.relay_join.relay_token, 0x52, 16);
	seed_msg("0a-relay-join", &m);
}

/* Proto seeds of what the server says about a call. */
static void
proto_call_events(const uint8_t *offer, size_t olen)
{
	struct msg	 m;

	msg_new(&m, MSG_INCOMING);
	m.u.incoming.session = 9;
	vb_set(&m.u.incoming.caller_credential, credential(), CRED_LEN);
	vb_set(&m.u.incoming.offer, offer, olen);
	memset(m.u.incoming.relay_token, 0x53, 16);
	seed_msg("86-incoming", &m);
	msg_new(&m, MSG_ANSWER);
	m.u.answer.tag = 7;
	m.u.answer.session = 9;
	vb_set(&m.u.answer.callee_credential, credential(), CRED_LEN);
	vb_set(&m.u.answer.answer, offer, olen);
	memset(m.u.answer.relay_token, 0x54, 16);
	seed_msg("87-answer", &m);
	msg_new(&m, MSG_DECLINED);
	m.u.declined.tag = 7;
	m.u.declined.reason = 2;
	seed_msg("88-declined", &m);
	msg_new(&m, MSG_ENDED);
	m.u.ended.session = 9;
	m.u.ended.why = 3;
	seed_msg("89-ended", &m);
	msg_new(&m, MSG_RELAY_READY);
	seed_msg("8a-relay-ready", &m);
}

/* Proto seeds of CHALLENGE, REGISTER_CHALLENGE, REGISTERED, WELCOME. */
static void
proto_server_account(void)
{
	struct msg	 m;

	msg_new(&m, MSG_CHALLENGE);
	m.u.challenge.version = 1;
	m.u.challenge.server_time_ms = 1700000000123ULL;
	memset(m.u.challenge.nonce, 0x61, 32);
	memcpy(m.u.challenge.sign_pk, fuzz_keys(0)->sign_pk, 32);
	seed_msg("80-challenge", &m);
	msg_new(&m, MSG_REGISTER_CHALLENGE);
	vb_set(&m.u.reg_challenge.token, filler(0x62), TOKEN_LEN);
	m.u.reg_challenge.code_digits = 6;
	m.u.reg_challenge.expires_in_s = 600;
	seed_msg("81-register-challenge", &m);
	msg_new(&m, MSG_REGISTERED);
	vb_set(&m.u.registered.credential, credential(), CRED_LEN);
	seed_msg("82-registered", &m);
	msg_new(&m, MSG_WELCOME);
	m.u.welcome.family = 4;
	m.u.welcome.port = 40000;
	memcpy(m.u.welcome.addr, "\xcb\x00\x71\x05", 4);
	m.u.welcome.idle_timeout_s = 300;
	m.u.welcome.stun_port = 3478;
	m.u.welcome.max_batch = 1024;
	m.u.welcome.max_offer_bytes = 4096;
	seed_msg("83-welcome-v4", &m);
	m.u.welcome.family = 6;
	memcpy(m.u.welcome.addr,
	    "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x09", 16);
	vb_set(&m.u.welcome.credential, credential(), CRED_LEN);
	seed_msg("83-welcome-v6", &m);
}

/* Proto seeds of the messages that keep a connection going or end it. */
static void
proto_control(void)
{
	struct msg	 m;

	msg_new(&m, MSG_PING);
	m.u.ping.nonce = 42;
	seed_msg("0c-ping", &m);
	m.type = MSG_PONG;
	seed_msg("8c-pong", &m);
	msg_new(&m, MSG_DELETED);
	seed_msg("8b-deleted", &m);
	msg_new(&m, MSG_GOAWAY);
	m.u.goaway.reason = GOAWAY_OVERLOAD;
	m.u.goaway.reconnect_after_s = 30;
	seed_msg("8e-goaway", &m);
	msg_new(&m, MSG_ERROR);
	m.u.error.ref_type = MSG_CONNECT;
	m.u.error.ref = 7;
	m.u.error.code = ERR_RATE_LIMITED;
	m.u.error.retry_after_s = 60;
	vb_set(&m.u.error.message, "slow down", 9);
	seed_msg("8f-error", &m);
}

/* One seed per message type (two for WELCOME and LOOKUP_RESULT). */
void
corpus_proto(void)
{
	uint8_t	 offer[64];
	size_t	 olen = offer_bytes(offer, sizeof offer);

	proto_account();
	proto_discovery();
	proto_call_requests(offer, olen);
	proto_call_events(offer, olen);
	proto_server_account();
	proto_control();
}
