/*
 * proto.c -- the frames and messages of PROTOCOL.md §2 and §4.
 *
 * Each message is described once, as a function over a cursor that either
 * reads fields out of a body or writes them into a frame. Decoding and
 * encoding thus share one description, so they cannot drift apart, and the
 * range checks (counts, vbytes maxima, version, family, flags) apply both
 * ways: what proto_encode writes, proto_decode accepts, and nothing else.
 *
 * The codec rejects only what does not parse. Checks that PROTOCOL.md gives
 * another error code (number validity, credential length, server limits
 * below the protocol maxima) belong to the handlers.
 */
#include <stddef.h>
#include <stdint.h>
#include <string.h>

#include "common.h"

/* A position in a body being read (rp) or a frame being written (wp). */
struct cur {
	const uint8_t	*rp;
	uint8_t		*wp;
	size_t		 len;
	size_t		 off;
	int		 enc;
	int		 bad;
};

typedef void (*msg_fn)(struct cur *, struct msg *);

struct msg_def {
	const char	*name;
	msg_fn		 fn;
};

static void	m_empty(struct cur *, struct msg *);
static void	m_challenge(struct cur *, struct msg *);
static void	m_reg_begin(struct cur *, struct msg *);
static void	m_reg_challenge(struct cur *, struct msg *);
static void	m_reg_finish(struct cur *, struct msg *);
static void	m_registered(struct cur *, struct msg *);
static void	m_hello(struct cur *, struct msg *);
static void	m_welcome(struct cur *, struct msg *);
static void	m_oprf(struct cur *, struct msg *);
static void	m_lookup(struct cur *, struct msg *);
static void	m_lookup_result(struct cur *, struct msg *);
static void	m_connect(struct cur *, struct msg *);
static void	m_incoming(struct cur *, struct msg *);
static void	m_accept(struct cur *, struct msg *);
static void	m_decline(struct cur *, struct msg *);
static void	m_answer(struct cur *, struct msg *);
static void	m_declined(struct cur *, struct msg *);
static void	m_end(struct cur *, struct msg *);
static void	m_ended(struct cur *, struct msg *);
static void	m_relay_join(struct cur *, struct msg *);
static void	m_ping(struct cur *, struct msg *);
static void	m_goaway(struct cur *, struct msg *);
static void	m_error(struct cur *, struct msg *);

/* Every message of §4, indexed by type; a NULL name is an unknown type. */
static const struct msg_def msg_defs[256] = {
	[MSG_REGISTER_BEGIN] = { "REGISTER_BEGIN", m_reg_begin },
	[MSG_REGISTER_FINISH] = { "REGISTER_FINISH", m_reg_finish },
	[MSG_HELLO] = { "HELLO", m_hello },
	[MSG_OPRF_EVAL] = { "OPRF_EVAL", m_oprf },
	[MSG_LOOKUP] = { "LOOKUP", m_lookup },
	[MSG_CONNECT] = { "CONNECT", m_connect },
	[MSG_ACCEPT] = { "ACCEPT", m_accept },
	[MSG_DECLINE] = { "DECLINE", m_decline },
	[MSG_END] = { "END", m_end },
	[MSG_RELAY_JOIN] = { "RELAY_JOIN", m_relay_join },
	[MSG_DELETE_ACCOUNT] = { "DELETE_ACCOUNT", m_empty },
	[MSG_PING] = { "PING", m_ping },
	[MSG_CHALLENGE] = { "CHALLENGE", m_challenge },
	[MSG_REGISTER_CHALLENGE] = { "REGISTER_CHALLENGE", m_reg_challenge },
	[MSG_REGISTERED] = { "REGISTERED", m_registered },
	[MSG_WELCOME] = { "WELCOME", m_welcome },
	[MSG_OPRF_RESULT] = { "OPRF_RESULT", m_oprf },
	[MSG_LOOKUP_RESULT] = { "LOOKUP_RESULT", m_lookup_result },
	[MSG_INCOMING] = { "INCOMING", m_incoming },
	[MSG_ANSWER] = { "ANSWER", m_answer },
	[MSG_DECLINED] = { "DECLINED", m_declined },
	[MSG_ENDED] = { "ENDED", m_ended },
	[MSG_RELAY_READY] = { "RELAY_READY", m_empty },
	[MSG_DELETED] = { "DELETED", m_empty },
	[MSG_PONG] = { "PONG", m_ping },
	[MSG_GOAWAY] = { "GOAWAY", m_goaway },
	[MSG_ERROR] = { "ERROR", m_error },
};

static const char *const err_names[] = {
	[ERR_MALFORMED] = "MALFORMED",
	[ERR_UNSUPPORTED] = "UNSUPPORTED",
	[ERR_RATE_LIMITED] = "RATE_LIMITED",
	[ERR_INVALID_NUMBER] = "INVALID_NUMBER",
	[ERR_BAD_CODE] = "BAD_CODE",
	[ERR_EXPIRED] = "EXPIRED",
	[ERR_UNAUTHENTICATED] = "UNAUTHENTICATED",
	[ERR_REVOKED] = "REVOKED",
	[ERR_OFFLINE] = "OFFLINE",
	[ERR_UNAVAILABLE] = "UNAVAILABLE",
	[ERR_TOO_LARGE] = "TOO_LARGE",
	[ERR_LIMIT] = "LIMIT",
	[ERR_DELIVERY_FAILED] = "DELIVERY_FAILED",
	[ERR_TIMEOUT] = "TIMEOUT",
	[ERR_NO_SESSION] = "NO_SESSION",
	[ERR_QUOTA] = "QUOTA",
};

/* Spoil the cursor unless cond holds. */
static void
f_check(struct cur *c, int cond)
{
	if (!cond)
		c->bad = 1;
}

/* 0 if n more bytes fit at the cursor; else spoil it and -1. */
static int
cur_need(struct cur *c, size_t n)
{
	if (c->bad || n > c->len - c->off) {
		c->bad = 1;
		return (-1);
	}
	return (0);
}

/* A bytes[n] field, copied out of or into buf. */
static void
f_fixed(struct cur *c, uint8_t *buf, size_t n)
{
	if (cur_need(c, n) == -1)
		return;
	if (c->enc)
		memcpy(c->wp + c->off, buf, n);
	else
		memcpy(buf, c->rp + c->off, n);
	c->off += n;
}

/* A run of n bytes that the message points at rather than holds. */
static void
f_span(struct cur *c, const uint8_t **pp, size_t n)
{
	if (cur_need(c, n) == -1)
		return;
	if (!c->enc)
		*pp = c->rp + c->off;
	else if (n > 0 && *pp == NULL) {
		c->bad = 1;
		return;
	} else if (n > 0)
		memcpy(c->wp + c->off, *pp, n);
	c->off += n;
}

/* A u8 field. */
static void
f_u8(struct cur *c, uint8_t *v)
{
	f_fixed(c, v, 1);
}

/* A u16 field. */
static void
f_u16(struct cur *c, uint16_t *v)
{
	uint8_t	b[2];

	put_u16(b, *v);
	f_fixed(c, b, sizeof b);
	*v = get_u16(b);
}

/* A u32 field. */
static void
f_u32(struct cur *c, uint32_t *v)
{
	uint8_t	b[4];

	put_u32(b, *v);
	f_fixed(c, b, sizeof b);
	*v = get_u32(b);
}

/* A u64 field. */
static void
f_u64(struct cur *c, uint64_t *v)
{
	uint8_t	b[8];

	put_u64(b, *v);
	f_fixed(c, b, sizeof b);
	*v = get_u64(b);
}

/* A vbytes field of at most max bytes. */
static void
f_vb(struct cur *c, struct vb *v, size_t max)
{
	uint16_t	n = v->len;

	f_u16(c, &n);
	f_check(c, n <= max);
	if (c->bad)
		return;
	v->len = n;
	f_span(c, &v->p, n);
}

/* tryst/2's relay endpoint: vbytes of 1 to PROTO_MAX_RELAY bytes. */
static void
f_relay(struct cur *c, struct vb *v)
{
	f_vb(c, v, PROTO_MAX_RELAY);
	f_check(c, c->bad || v->len >= 1);
}

/* A u16 count within [lo, hi]. */
static void
f_count(struct cur *c, uint16_t *count, uint16_t lo, uint16_t hi)
{
	f_u16(c, count);
	f_check(c, *count >= lo && *count <= hi);
}

/* RELAY_READY, DELETE_ACCOUNT, DELETED: no body at all. */
static void
m_empty(struct cur *c, struct msg *m)
{
}

/* CHALLENGE. */
static void
m_challenge(struct cur *c, struct msg *m)
{
	f_u8(c, &m->u.challenge.version);
	f_check(c, m->u.challenge.version == 1);
	f_fixed(c, m->u.challenge.nonce, sizeof m->u.challenge.nonce);
	f_u64(c, &m->u.challenge.server_time_ms);
	f_fixed(c, m->u.challenge.sign_pk, sizeof m->u.challenge.sign_pk);
	f_fixed(c, m->u.challenge.tls_sig, sizeof m->u.challenge.tls_sig);
}

/* REGISTER_BEGIN. */
static void
m_reg_begin(struct cur *c, struct msg *m)
{
	f_vb(c, &m->u.reg_begin.number, PROTO_MAX_NUMBER);
}

/* REGISTER_CHALLENGE. */
static void
m_reg_challenge(struct cur *c, struct msg *m)
{
	f_vb(c, &m->u.reg_challenge.token, UINT16_MAX);
	f_u8(c, &m->u.reg_challenge.code_digits);
	f_u32(c, &m->u.reg_challenge.expires_in_s);
}

/* REGISTER_FINISH. */
static void
m_reg_finish(struct cur *c, struct msg *m)
{
	f_vb(c, &m->u.reg_finish.token, UINT16_MAX);
	f_vb(c, &m->u.reg_finish.code, UINT16_MAX);
	f_fixed(c, m->u.reg_finish.identity_pk,
	    sizeof m->u.reg_finish.identity_pk);
}

/* REGISTERED. */
static void
m_registered(struct cur *c, struct msg *m)
{
	f_vb(c, &m->u.registered.credential, UINT16_MAX);
}

/* HELLO: flags other than PRESENCE must be 0. */
static void
m_hello(struct cur *c, struct msg *m)
{
	f_vb(c, &m->u.hello.credential, UINT16_MAX);
	f_fixed(c, m->u.hello.signature, sizeof m->u.hello.signature);
	f_u8(c, &m->u.hello.flags);
	f_check(c, (m->u.hello.flags & ~HELLO_PRESENCE) == 0);
}

/* WELCOME: the family says whether addr is 4 or 16 bytes. */
static void
m_welcome(struct cur *c, struct msg *m)
{
	uint8_t	fam;

	f_u8(c, &m->u.welcome.family);
	fam = m->u.welcome.family;
	f_check(c, fam == 4 || fam == 6);
	f_u16(c, &m->u.welcome.port);
	f_fixed(c, m->u.welcome.addr, fam == 6 ? 16 : 4);
	f_u16(c, &m->u.welcome.idle_timeout_s);
	f_u16(c, &m->u.welcome.stun_port);
	f_u16(c, &m->u.welcome.max_batch);
	f_u16(c, &m->u.welcome.max_offer_bytes);
	f_vb(c, &m->u.welcome.credential, UINT16_MAX);
}

/* OPRF_EVAL and OPRF_RESULT. */
static void
m_oprf(struct cur *c, struct msg *m)
{
	f_count(c, &m->u.oprf.count, 1, PROTO_MAX_BATCH);
	if (!c->bad)
		f_span(c, &m->u.oprf.elements, 32 * (size_t)m->u.oprf.count);
}

/* LOOKUP. */
static void
m_lookup(struct cur *c, struct msg *m)
{
	f_count(c, &m->u.lookup.count, 1, PROTO_MAX_BATCH);
	if (!c->bad)
		f_span(c, &m->u.lookup.ids, 32 * (size_t)m->u.lookup.count);
}

/* LOOKUP_RESULT: one bit per ID asked about, ceil(count / 8) bytes. */
static void
m_lookup_result(struct cur *c, struct msg *m)
{
	f_count(c, &m->u.lookup_result.count, 0, PROTO_MAX_BATCH);
	if (!c->bad)
		f_span(c, &m->u.lookup_result.bitmap,
		    ((size_t)m->u.lookup_result.count + 7) / 8);
}

/* CONNECT. */
static void
m_connect(struct cur *c, struct msg *m)
{
	f_u32(c, &m->u.connect.tag);
	f_fixed(c, m->u.connect.target_id, sizeof m->u.connect.target_id);
	f_vb(c, &m->u.connect.offer, PROTO_MAX_OFFER);
}

/* INCOMING. */
static void
m_incoming(struct cur *c, struct msg *m)
{
	f_u64(c, &m->u.incoming.session);
	f_vb(c, &m->u.incoming.caller_credential, UINT16_MAX);
	f_vb(c, &m->u.incoming.offer, PROTO_MAX_OFFER);
	f_fixed(c, m->u.incoming.relay_token,
	    sizeof m->u.incoming.relay_token);
	if (m->version >= 2)
		f_relay(c, &m->u.incoming.relay);
}

/* ACCEPT. */
static void
m_accept(struct cur *c, struct msg *m)
{
	f_u64(c, &m->u.accept.session);
	f_vb(c, &m->u.accept.answer, PROTO_MAX_OFFER);
}

/* DECLINE. */
static void
m_decline(struct cur *c, struct msg *m)
{
	f_u64(c, &m->u.decline.session);
	f_u8(c, &m->u.decline.reason);
}

/* ANSWER. */
static void
m_answer(struct cur *c, struct msg *m)
{
	f_u32(c, &m->u.answer.tag);
	f_u64(c, &m->u.answer.session);
	f_vb(c, &m->u.answer.callee_credential, UINT16_MAX);
	f_vb(c, &m->u.answer.answer, PROTO_MAX_OFFER);
	f_fixed(c, m->u.answer.relay_token, sizeof m->u.answer.relay_token);
	if (m->version >= 2)
		f_relay(c, &m->u.answer.relay);
}

/* DECLINED. */
static void
m_declined(struct cur *c, struct msg *m)
{
	f_u32(c, &m->u.declined.tag);
	f_u8(c, &m->u.declined.reason);
}

/* END. */
static void
m_end(struct cur *c, struct msg *m)
{
	f_u64(c, &m->u.end.session);
}

/* ENDED. */
static void
m_ended(struct cur *c, struct msg *m)
{
	f_u64(c, &m->u.ended.session);
	f_u8(c, &m->u.ended.why);
}

/* RELAY_JOIN. */
static void
m_relay_join(struct cur *c, struct msg *m)
{
	f_u64(c, &m->u.relay_join.session);
	f_fixed(c, m->u.relay_join.relay_token,
	    sizeof m->u.relay_join.relay_token);
}

/* PING and PONG. */
static void
m_ping(struct cur *c, struct msg *m)
{
	f_u64(c, &m->u.ping.nonce);
}

/* GOAWAY. */
static void
m_goaway(struct cur *c, struct msg *m)
{
	f_u8(c, &m->u.goaway.reason);
	f_u32(c, &m->u.goaway.reconnect_after_s);
}

/* ERROR. */
static void
m_error(struct cur *c, struct msg *m)
{
	f_u8(c, &m->u.error.ref_type);
	f_u64(c, &m->u.error.ref);
	f_u16(c, &m->u.error.code);
	f_u32(c, &m->u.error.retry_after_s);
	f_vb(c, &m->u.error.message, UINT16_MAX);
}

/* 1 if type is a message of §4 (either direction), else 0. */
int
proto_known(uint8_t type)
{
	return (msg_defs[type].name != NULL);
}

/* The name of a message type, as PROTOCOL.md spells it. */
const char *
proto_type_name(uint8_t type)
{
	if (msg_defs[type].name == NULL)
		return ("UNKNOWN");
	return (msg_defs[type].name);
}

/* The name of an error code, as PROTOCOL.md spells it. */
const char *
proto_err_name(uint16_t code)
{
	if (code >= sizeof err_names / sizeof err_names[0] ||
	    err_names[code] == NULL)
		return ("UNKNOWN");
	return (err_names[code]);
}

/* Decode a frame header: the value of len, without bound checks. */
uint32_t
proto_frame_len(const uint8_t hdr[PROTO_HDR])
{
	return (get_u32(hdr));
}

/* Decode the body of a message of the given type into m. */
int
proto_decode(uint8_t type, const uint8_t *body, size_t len, struct msg *m)
{
	return (proto_decode_v(type, body, len, 1, m));
}

/* Decode a body of a connection of the given version. */
int
proto_decode_v(uint8_t type, const uint8_t *body, size_t len, int version,
    struct msg *m)
{
	struct cur	c = { .rp = body, .len = len };

	memset(m, 0, sizeof *m);
	if (!proto_known(type) || version < 1 || version > 2)
		return (-1);
	m->type = type;
	m->version = (uint8_t)version;
	msg_defs[type].fn(&c, m);
	if (c.bad || c.off != len)
		return (-1);
	return (0);
}

/* Encode m as a whole frame into out; its length, or 0. */
size_t
proto_encode(const struct msg *m, uint8_t *out, size_t outlen)
{
	struct msg	tmp = *m;
	struct cur	c = { .enc = 1 };

	if (!proto_known(m->type) || outlen < PROTO_HDR + 1)
		return (0);
	c.wp = out + PROTO_HDR + 1;
	c.len = outlen - PROTO_HDR - 1;
	if (c.len > PROTO_MAX_LEN - 1)
		c.len = PROTO_MAX_LEN - 1;
	msg_defs[m->type].fn(&c, &tmp);
	if (c.bad)
		return (0);
	put_u32(out, (uint32_t)(c.off + 1));
	out[PROTO_HDR] = m->type;
	return (PROTO_HDR + 1 + c.off);
}
