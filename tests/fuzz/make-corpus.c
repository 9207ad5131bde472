/*
 * make-corpus.c -- write the seed corpora of the fuzz targets: a few
 * valid inputs each, so that mutation starts from something every parser
 * accepts and reaches its deep paths.
 *
 *	fuzz-make-corpus DIR		writes DIR/<target>/<seed>
 *
 * "meson compile -C build fuzz-corpus" runs it on tests/fuzz/corpus. It
 * overwrites its own seeds and leaves other files (crash reproducers)
 * alone. Everything is deterministic: regenerating changes no byte
 * unless the code that makes the seeds changed.
 */
#include <sys/stat.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fuzz.h"
#include "server.h"

#define STUN_COOKIE	0x2112a442U
#define STUN_FP_XOR	0x5354554eU

static const char *outdir;

/* Write dir/target/name with len bytes of p, or die. */
static void
seed(const char *target, const char *name, const void *p, size_t len)
{
	char	*dir, *path, *cause = NULL;

	xasprintf(&dir, "%s/%s", outdir, target);
	if (mkdir(dir, 0755) == -1 && errno != EEXIST)
		fatal("mkdir %s", dir);
	xasprintf(&path, "%s/%s", dir, name);
	if (file_write_atomic(path, p, len, 0644, 0, &cause) != 0)
		fatalx("%s", cause);
	free(path);
	free(dir);
}

/* Write a seed that is a mode byte and then len bytes of p. */
static void
seed_mode(const char *target, const char *name, uint8_t mode,
    const void *p, size_t len)
{
	uint8_t	*buf = xmalloc(1 + len);

	buf[0] = mode;
	memcpy(buf + 1, p, len);
	seed(target, name, buf, 1 + len);
	free(buf);
}

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

/* 32 bytes of filler for a field whose value does not matter here. */
static const uint8_t *
filler(uint8_t b)
{
	static uint8_t	 buf[8][PROTO_MAX_OFFER];
	static int	 next;
	uint8_t		*p = buf[next++ % 8];

	memset(p, b, PROTO_MAX_OFFER);
	return (p);
}

/* Set a vbytes field. */
static void
vb_set(struct vb *v, const void *p, size_t len)
{
	v->p = p;
	v->len = (uint16_t)len;
}

/* A signed credential for the proto and token seeds. */
static const uint8_t *
credential(void)
{
	static uint8_t	 cred[CRED_LEN];

	cred_make(cred, fuzz_keys(0), filler(0x21), filler(0x22),
	    1700000000, 1702592000);
	return (cred);
}

/* The offer every call seed carries: two candidates. */
static size_t
offer_bytes(uint8_t *out, size_t outlen)
{
	struct cand	 c[2];

	memset(c, 0, sizeof c);
	c[0].kind = CAND_HOST;
	c[0].family = 4;
	c[0].port = 40000;
	memcpy(c[0].addr, "\xc0\xa8\x01\x0a", 4);
	c[1].kind = CAND_SRFLX;
	c[1].family = 6;
	c[1].port = 40001;
	memcpy(c[1].addr, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x07", 16);
	return (offer_encode(c, 2, out, outlen));
}

/* Proto seeds of the registration and HELLO messages. */
static void
proto_account(void)
{
	struct msg	 m;

	memset(&m, 0, sizeof m);
	m.type = MSG_REGISTER_BEGIN;
	vb_set(&m.u.reg_begin.number, "+447700900123", 13);
	seed_msg("01-register-begin", &m);
	memset(&m, 0, sizeof m);
	m.type = MSG_REGISTER_FINISH;
	vb_set(&m.u.reg_finish.token, filler(0x31), TOKEN_LEN);
	vb_set(&m.u.reg_finish.code, "123456", 6);
	memset(m.u.reg_finish.identity_pk, 0x32, 32);
	seed_msg("02-register-finish", &m);
	memset(&m, 0, sizeof m);
	m.type = MSG_HELLO;
	vb_set(&m.u.hello.credential, credential(), CRED_LEN);
	m.u.hello.flags = HELLO_PRESENCE;
	seed_msg("03-hello", &m);
	memset(&m, 0, sizeof m);
	m.type = MSG_DELETE_ACCOUNT;
	seed_msg("0b-delete-account", &m);
}

/* Proto seeds of discovery, both ways. */
static void
proto_discovery(void)
{
	struct msg	 m;

	memset(&m, 0, sizeof m);
	m.type = MSG_OPRF_EVAL;
	m.u.oprf.count = 2;
	m.u.oprf.elements = filler(0x41);
	seed_msg("04-oprf-eval", &m);
	m.type = MSG_OPRF_RESULT;
	seed_msg("84-oprf-result", &m);
	memset(&m, 0, sizeof m);
	m.type = MSG_LOOKUP;
	m.u.lookup.count = 3;
	m.u.lookup.ids = filler(0x42);
	seed_msg("05-lookup", &m);
	memset(&m, 0, sizeof m);
	m.type = MSG_LOOKUP_RESULT;
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

	memset(&m, 0, sizeof m);
	m.type = MSG_CONNECT;
	m.u.connect.tag = 7;
	memset(m.u.connect.target_id, 0x51, ID_LEN);
	vb_set(&m.u.connect.offer, offer, olen);
	seed_msg("06-connect", &m);
	memset(&m, 0, sizeof m);
	m.type = MSG_ACCEPT;
	m.u.accept.session = 0x0102030405060708ULL;
	vb_set(&m.u.accept.answer, offer, olen);
	seed_msg("07-accept", &m);
	memset(&m, 0, sizeof m);
	m.type = MSG_DECLINE;
	m.u.decline.session = 9;
	m.u.decline.reason = 1;
	seed_msg("08-decline", &m);
	memset(&m, 0, sizeof m);
	m.type = MSG_END;
	m.u.end.session = 9;
	seed_msg("09-end", &m);
	memset(&m, 0, sizeof m);
	m.type = MSG_RELAY_JOIN;
	m.u.relay_join.session = 9;
	memset(m.u.relay_join.relay_token, 0x52, 16);
	seed_msg("0a-relay-join", &m);
}

/* Proto seeds of what the server says about a call. */
static void
proto_call_events(const uint8_t *offer, size_t olen)
{
	struct msg	 m;

	memset(&m, 0, sizeof m);
	m.type = MSG_INCOMING;
	m.u.incoming.session = 9;
	vb_set(&m.u.incoming.caller_credential, credential(), CRED_LEN);
	vb_set(&m.u.incoming.offer, offer, olen);
	memset(m.u.incoming.relay_token, 0x53, 16);
	seed_msg("86-incoming", &m);
	memset(&m, 0, sizeof m);
	m.type = MSG_ANSWER;
	m.u.answer.tag = 7;
	m.u.answer.session = 9;
	vb_set(&m.u.answer.callee_credential, credential(), CRED_LEN);
	vb_set(&m.u.answer.answer, offer, olen);
	memset(m.u.answer.relay_token, 0x54, 16);
	seed_msg("87-answer", &m);
	memset(&m, 0, sizeof m);
	m.type = MSG_DECLINED;
	m.u.declined.tag = 7;
	m.u.declined.reason = 2;
	seed_msg("88-declined", &m);
	memset(&m, 0, sizeof m);
	m.type = MSG_ENDED;
	m.u.ended.session = 9;
	m.u.ended.why = 3;
	seed_msg("89-ended", &m);
	memset(&m, 0, sizeof m);
	m.type = MSG_RELAY_READY;
	seed_msg("8a-relay-ready", &m);
}

/* Proto seeds of CHALLENGE, REGISTER_CHALLENGE, REGISTERED, WELCOME. */
static void
proto_server_account(void)
{
	struct msg	 m;

	memset(&m, 0, sizeof m);
	m.type = MSG_CHALLENGE;
	m.u.challenge.version = 1;
	m.u.challenge.server_time_ms = 1700000000123ULL;
	memset(m.u.challenge.nonce, 0x61, 32);
	memcpy(m.u.challenge.sign_pk, fuzz_keys(0)->sign_pk, 32);
	seed_msg("80-challenge", &m);
	memset(&m, 0, sizeof m);
	m.type = MSG_REGISTER_CHALLENGE;
	vb_set(&m.u.reg_challenge.token, filler(0x62), TOKEN_LEN);
	m.u.reg_challenge.code_digits = 6;
	m.u.reg_challenge.expires_in_s = 600;
	seed_msg("81-register-challenge", &m);
	memset(&m, 0, sizeof m);
	m.type = MSG_REGISTERED;
	vb_set(&m.u.registered.credential, credential(), CRED_LEN);
	seed_msg("82-registered", &m);
	memset(&m, 0, sizeof m);
	m.type = MSG_WELCOME;
	m.u.welcome.family = 4;
	m.u.welcome.port = 40000;
	memcpy(m.u.welcome.addr, "\xcb\x00\x71\x05", 4);
	m.u.welcome.idle_timeout_s = 300;
	m.u.welcome.stun_port = 3478;
	m.u.welcome.max_batch = 1024;
	m.u.welcome.max_offer_bytes = 4096;
	seed_msg("83-welcome-v4", &m);
	m.u.welcome.family = 6;
	memcpy(m.u.welcome.addr, "\x20\x01\x0d\xb8\0\0\0\0\0\0\0\0\0\0\0\x09", 16);
	vb_set(&m.u.welcome.credential, credential(), CRED_LEN);
	seed_msg("83-welcome-v6", &m);
}

/* Proto seeds of the messages that keep a connection going or end it. */
static void
proto_control(void)
{
	struct msg	 m;

	memset(&m, 0, sizeof m);
	m.type = MSG_PING;
	m.u.ping.nonce = 42;
	seed_msg("0c-ping", &m);
	m.type = MSG_PONG;
	seed_msg("8c-pong", &m);
	memset(&m, 0, sizeof m);
	m.type = MSG_DELETED;
	seed_msg("8b-deleted", &m);
	memset(&m, 0, sizeof m);
	m.type = MSG_GOAWAY;
	m.u.goaway.reason = GOAWAY_OVERLOAD;
	m.u.goaway.reconnect_after_s = 30;
	seed_msg("8e-goaway", &m);
	memset(&m, 0, sizeof m);
	m.type = MSG_ERROR;
	m.u.error.ref_type = MSG_CONNECT;
	m.u.error.ref = 7;
	m.u.error.code = ERR_RATE_LIMITED;
	m.u.error.retry_after_s = 60;
	vb_set(&m.u.error.message, "slow down", 9);
	seed_msg("8f-error", &m);
}

/* One seed per message type (two for WELCOME and LOOKUP_RESULT). */
static void
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

/* CRC-32 (IEEE 802.3) for FINGERPRINT. */
static uint32_t
crc32(const uint8_t *p, size_t len)
{
	uint32_t	 c = 0xffffffffU;
	int		 k;

	while (len-- > 0) {
		c ^= *p++;
		for (k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0xedb88320U : c >> 1;
	}
	return (c ^ 0xffffffffU);
}

/* Start a Binding request in b: with cookie (RFC 8489) or without. */
static size_t
stun_start_req(uint8_t *b, int modern)
{
	int	 i;

	put_u16(b, 0x0001);
	put_u16(b + 2, 0);
	for (i = 4; i < 20; i++)
		b[i] = (uint8_t)(0xa0 + i);
	if (modern)
		put_u32(b + 4, STUN_COOKIE);
	return (20);
}

/* Append an attribute of vlen bytes (padded) and fix the length. */
static size_t
stun_attr(uint8_t *b, size_t off, uint16_t type, const void *v,
    size_t vlen)
{
	size_t	 padded = (vlen + 3) & ~(size_t)3;

	put_u16(b + off, type);
	put_u16(b + off + 2, (uint16_t)vlen);
	memset(b + off + 4, 0, padded);
	memcpy(b + off + 4, v, vlen);
	off += 4 + padded;
	put_u16(b + 2, (uint16_t)(off - 20));
	return (off);
}

/* Append FINGERPRINT over everything before it. */
static size_t
stun_fingerprint(uint8_t *b, size_t off)
{
	uint8_t	 v[4];

	put_u16(b + 2, (uint16_t)(off + 8 - 20));
	put_u32(v, crc32(b, off) ^ STUN_FP_XOR);
	return (stun_attr(b, off, 0x8028, v, 4));
}

/* Binding requests: plain, with FINGERPRINT, with SOFTWARE, RFC 3489
 * with CHANGE-REQUEST, an unknown required attribute, RFC 5769's. */
static void
corpus_stun(void)
{
	static const uint8_t	 rfc5769[] = {
		0x00, 0x01, 0x00, 0x58, 0x21, 0x12, 0xa4, 0x42, 0xb7, 0xe7,
		0xa7, 0x01, 0xbc, 0x34, 0xd6, 0x86, 0xfa, 0x87, 0xdf, 0xae,
		0x80, 0x22, 0x00, 0x10, 0x53, 0x54, 0x55, 0x4e, 0x20, 0x74,
		0x65, 0x73, 0x74, 0x20, 0x63, 0x6c, 0x69, 0x65, 0x6e, 0x74,
		0x00, 0x24, 0x00, 0x04, 0x6e, 0x00, 0x01, 0xff, 0x80, 0x29,
		0x00, 0x08, 0x93, 0x2f, 0xf9, 0xb1, 0x51, 0x26, 0x3b, 0x36,
		0x00, 0x06, 0x00, 0x09, 0x65, 0x76, 0x74, 0x6a, 0x3a, 0x68,
		0x36, 0x76, 0x59, 0x20, 0x20, 0x20, 0x00, 0x08, 0x00, 0x14,
		0x9a, 0xea, 0xa7, 0x0c, 0xbf, 0xd8, 0xcb, 0x56, 0x78, 0x1e,
		0xf2, 0xb5, 0xb2, 0xd3, 0xf2, 0x49, 0xc1, 0xb5, 0x71, 0xa2,
		0x80, 0x28, 0x00, 0x04, 0xe5, 0x7a, 0x3b, 0xcf,
	};
	uint8_t			 b[256], zero[4] = { 0 };
	size_t			 n;

	seed("stun", "binding", b, stun_start_req(b, 1));
	seed("stun", "binding-fingerprint", b,
	    stun_fingerprint(b, stun_start_req(b, 1)));
	n = stun_attr(b, stun_start_req(b, 1), 0x8022, "tryst fuzz", 10);
	seed("stun", "binding-software-fingerprint", b,
	    stun_fingerprint(b, n));
	seed("stun", "rfc3489-change-request", b,
	    stun_attr(b, stun_start_req(b, 0), 0x0003, zero, 4));
	seed("stun", "unknown-required", b,
	    stun_attr(b, stun_start_req(b, 1), 0x0042, "abc", 3));
	seed("stun", "rfc5769-request", rfc5769, sizeof rfc5769);
}

/* Offers: one candidate, both families and kinds, a mapped address and
 * an unknown kind, sixteen. */
static void
corpus_offer(void)
{
	static const uint8_t	 one[] = {
		1, 1, 1, 4, 0x9c, 0x40, 192, 168, 1, 10,
	};
	static const uint8_t	 mapped[] = {
		1, 2, 2, 6, 0x9c, 0x41, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
		0xff, 0xff, 203, 0, 113, 5, 9, 4, 0x9c, 0x42, 10, 0, 0, 1,
	};
	struct cand		 c[OFFER_MAX_CANDS];
	uint8_t			 b[2 + OFFER_MAX_CANDS * 20];
	int			 i;

	seed("offer", "one-host", one, sizeof one);
	seed("offer", "two", b, offer_bytes(b, sizeof b));
	seed("offer", "mapped-and-unknown-kind", mapped, sizeof mapped);
	memset(c, 0, sizeof c);
	for (i = 0; i < OFFER_MAX_CANDS; i++) {
		c[i].kind = i % 2 ? CAND_SRFLX : CAND_HOST;
		c[i].family = i % 3 ? 4 : 6;
		c[i].port = (uint16_t)(40000 + i);
		memset(c[i].addr, 10 + i, c[i].family == 4 ? 4 : 16);
	}
	seed("offer", "sixteen", b, offer_encode(c, OFFER_MAX_CANDS, b,
	    sizeof b));
}

/* Numbers as people type them (PROTOCOL.md §6.5's examples), and at
 * the bounds of §1: 7 and 15 digits, one too few and one too many. */
static void
corpus_e164(void)
{
	static const char *const	 typed[] = {
		"+447700900123", "07700 900123", "0044 7700 900123",
		"+1 (555) 010-0001", "011 44 20 7946 0000", "06 1234 5678",
		"555.010.0001", "+1234567", "+123456", "+123456789012345",
		"+1234567890123456", "00123456789012345",
	};
	char				 name[16];
	size_t				 i;

	for (i = 0; i < nitems(typed); i++) {
		snprintf(name, sizeof name, "typed-%02zu", i);
		seed("e164", name, typed[i], strlen(typed[i]));
	}
}

/* Every integer key at its minimum or (max) its maximum, so that a
 * mutated digit lands just past a bound. */
static void
seed_bounds(const char *name, int max)
{
	const struct conf_entry	*e;
	char			*text;
	size_t			 len;
	FILE			*f;

	if ((f = open_memstream(&text, &len)) == NULL)
		fatal("open_memstream");
	for (e = settings_table; e->name != NULL; e++) {
		if (e->type == CONF_INT)
			fprintf(f, "%s = %lld\n", e->name, max ? e->max : e->min);
	}
	fclose(f);
	seed("conf", name, text, len);
	free(text);
}

/* The shipped config (as the table writes it), two small ones, and the
 * bounds. */
static void
corpus_conf(void)
{
	static const char	 small[] =
	    "listen = 0.0.0.0:4433\n"
	    "verification = dev:/var/lib/tryst/codes\n"
	    "redis = unix:/run/redis/redis.sock\n"
	    "log_level = debug   # chatty\n"
	    "max_batch = 100\n"
	    "discovery_bucket = 100 # at least max_batch\n";
	static const char	 v6[] =
	    "redis = [::1]:6379\r\n"
	    "\t tls_cert = credential:cert\n"
	    "# a comment\n\n"
	    "verification = exec:/usr/libexec/tryst-sms\n";
	char			*text;
	size_t			 len;
	FILE			*f;

	if ((f = open_memstream(&text, &len)) == NULL)
		fatal("open_memstream");
	conf_write_default(settings_table, f);
	fclose(f);
	seed("conf", "trystd.conf", text, len);
	free(text);
	seed("conf", "small.conf", small, sizeof small - 1);
	seed("conf", "v6.conf", v6, sizeof v6 - 1);
	seed_bounds("max.conf", 1);
	seed_bounds("min.conf", 0);
}

/* A token, a plaintext, a credential and a HELLO's parts. */
static void
corpus_token(void)
{
	uint8_t	 plain[ID_LEN + TOKEN_CODE + 8], tok[TOKEN_LEN];
	uint8_t	 pk[32], sk[64], s[32], hello[32 + 64 + CRED_LEN];
	uint8_t	 nonce[32];

	memset(plain, 0x71, ID_LEN);
	memcpy(plain + ID_LEN, "123456\0\0", TOKEN_CODE);
	put_u64(plain + ID_LEN + TOKEN_CODE, 1700000600000ULL);
	fuzz_token_seal(tok, plain);
	seed_mode("token", "token", TOKEN_RAW, tok, sizeof tok);
	seed_mode("token", "plaintext", TOKEN_SEALED, plain, sizeof plain);
	memcpy(plain + ID_LEN, "12345678", TOKEN_CODE);
	seed_mode("token", "plaintext-8", TOKEN_SEALED, plain, sizeof plain);
	seed_mode("token", "credential", TOKEN_CRED, credential(), CRED_LEN);
	memset(s, FUZZ_IDENTITY_SEED, sizeof s);
	crypto_sign_seed_keypair(pk, sk, s);
	memset(nonce, FUZZ_HELLO_NONCE, sizeof nonce);
	memcpy(hello, pk, 32);
	memcpy(hello + 96, credential(), CRED_LEN);
	hello_sign(hello + 32, sk, nonce, hello + 96);
	seed_mode("token", "hello", TOKEN_HELLO, hello, sizeof hello);
	sodium_memzero(sk, sizeof sk);
}

/* The three handshake messages and a transport message. */
static void
corpus_noise(void)
{
	const struct fuzz_noise	*fn = fuzz_noise();
	struct noise_cipher	 tx = fn->init_tx;
	uint8_t			 pt[] = "\001hello from the caller";
	uint8_t			 ct[sizeof pt + NOISE_TAG];
	long			 n;

	seed_mode("noise", "msg1", NOISE_MSG1, fn->msg1, fn->len1);
	seed_mode("noise", "msg2", NOISE_MSG2, fn->msg2, fn->len2);
	seed_mode("noise", "msg3", NOISE_MSG3, fn->msg3, fn->len3);
	if ((n = noise_encrypt(&tx, pt, sizeof pt - 1, ct, sizeof ct)) < 0)
		fatalx("noise_encrypt");
	seed_mode("noise", "transport", NOISE_TRANSPORT, ct, (size_t)n);
}

/* A blinded element, an evaluated one with its input, an input. */
static void
corpus_oprf(void)
{
	static const char	 number[] = "+447700900123";
	uint8_t			 fixed[OPRF_SCALAR], blind[OPRF_SCALAR];
	uint8_t			 blinded[OPRF_ELEM], ev[OPRF_ELEM + 16];

	memset(fixed, FUZZ_BLIND_BYTE, sizeof fixed);
	if (oprf_blind(blind, blinded, (const uint8_t *)number,
	    strlen(number), fixed) != 0 ||
	    oprf_blind_evaluate(ev, fuzz_keys(0)->oprf_sk, blinded) != 0)
		fatalx("oprf seeds");
	memcpy(ev + OPRF_ELEM, number, strlen(number));
	seed_mode("oprf", "blinded", OPRF_EVAL, blinded, sizeof blinded);
	seed_mode("oprf", "evaluated", OPRF_FINAL, ev,
	    OPRF_ELEM + strlen(number));
	seed_mode("oprf", "input", OPRF_ROUND, number, strlen(number));
}

/* Hex and base64 of 32 bytes, and a string to escape. */
static void
corpus_util(void)
{
	static const char	 esc[] = "caf\xc3\xa9\t\\\x1b[1m\x7f";
	uint8_t			 bytes[32], buf[128];
	char			 hex[65], *b64;

	memset(bytes, 0xc3, sizeof bytes);
	hex_encode(hex, bytes, sizeof bytes);
	buf[0] = 32;
	buf[1] = 128;
	memcpy(buf + 2, hex, 64);
	seed("util", "hex", buf, 2 + 64);
	b64 = b64_encode(bytes, sizeof bytes);
	memcpy(buf + 2, b64, 44);
	buf[2 + 44] = '\n';
	seed("util", "b64", buf, 2 + 45);
	free(b64);
	buf[1] = 16;
	memcpy(buf + 2, esc, sizeof esc - 1);
	seed("util", "escape", buf, 2 + sizeof esc - 1);
}

/* Write every corpus under argv[1]. */
int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return (2);
	}
	if (sodium_init() < 0)
		fatalx("sodium_init");
	outdir = argv[1];
	if (mkdir(outdir, 0755) == -1 && errno != EEXIST)
		fatal("mkdir %s", outdir);
	corpus_proto();
	corpus_stun();
	corpus_offer();
	corpus_e164();
	corpus_conf();
	corpus_token();
	corpus_noise();
	corpus_oprf();
	corpus_util();
	return (0);
}
