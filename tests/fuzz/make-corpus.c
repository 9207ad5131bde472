/*
 * make-corpus.c -- write the seed corpora of the fuzz targets: a few
 * valid inputs each, so that mutation starts from something every parser
 * accepts and reaches its deep paths.
 *
 *	fuzz-make-corpus DIR		writes DIR/<target>/<seed>
 *
 * The proto seeds are in corpus-proto.c, the rest here.
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
#include "make-corpus.h"
#include "server.h"

#define STUN_COOKIE	0x2112a442U
#define STUN_FP_XOR	0x5354554eU

static const char *outdir;

/* Write dir/target/name with len bytes of p, or die. */
void
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

/* A signed credential for the proto and token seeds. */
const uint8_t *
credential(void)
{
	static uint8_t	 cred[CRED_LEN];
	uint8_t		 id[ID_LEN], pk[32];

	memset(id, 0x21, sizeof id);
	memset(pk, 0x22, sizeof pk);
	cred_make(cred, fuzz_keys(0), id, pk, 1700000000, 1702592000);
	return (cred);
}

/* The offer every call seed carries: two candidates. */
size_t
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
			fprintf(f, "%s = %lld\n", e->name,
			    max ? e->max : e->min);
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

/* Request heads for the metrics listener: good ones, and one of each
 * refusal. */
static void
corpus_http(void)
{
	static const char *const heads[][2] = {
		{ "get-metrics", "GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n"
		    "User-Agent: Prometheus/2.42.0\r\nAccept: text/plain;"
		    "version=0.0.4;q=1,*/*;q=0.1\r\n"
		    "X-Prometheus-Scrape-Timeout-Seconds: 10\r\n\r\n" },
		{ "head-healthz-10", "HEAD /healthz HTTP/1.0\r\n\r\n" },
		{ "lf-only", "\nGET /healthz?x=1 HTTP/1.1\nHost: x\n\n" },
		{ "post", "POST /metrics HTTP/1.1\r\nContent-Length: 0\r\n\r\n" },
		{ "version-2", "GET / HTTP/2.0\r\n\r\n" },
		{ "folded", "GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n" },
		{ "bare-cr", "GET / HTTP/1.1\rA: b\r\n\r\n" },
		{ "unfinished", "GET /metrics HTTP/1.1\r\nX-Long: aaaa" },
	};
	size_t	 i;

	for (i = 0; i < sizeof heads / sizeof heads[0]; i++)
		seed("http", heads[i][0], heads[i][1], strlen(heads[i][1]));
	seed("http", "nul-in-value", "GET / HTTP/1.1\r\nA: \0\r\n\r\n", 24);
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
	corpus_http();
	corpus_server();
	return (0);
}
