/*
 * test-noise.c -- Noise_XX_25519_ChaChaPoly_BLAKE2b: the cacophony vectors,
 * tampering, turn order, and the transport ciphers.
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <sodium.h>

#include "common.h"
#include "unit.h"

#define VECTORS	TEST_VECTORS "/noise-XX-25519-ChaChaPoly-BLAKE2b.json"
#define NMSG	6
#define BIG	512

struct vec {
	uint8_t	 prologue[64], i_s[32], i_e[32], r_s[32], r_e[32];
	uint8_t	 hash[NOISE_HASH];
	size_t	 prologue_len;
	uint8_t	 payload[NMSG][BIG], ct[NMSG][BIG];
	size_t	 payload_len[NMSG], ct_len[NMSG];
};

/*
 * The hex string value of the nth (from 0) "key" in text into out; its
 * length in bytes. Fails the test when it is missing or too long.
 */
static size_t
json_hex(const char *text, const char *key, int nth, uint8_t *out,
    size_t max)
{
	char		 quoted[64], *hex;
	const char	*p = text, *start, *end;
	size_t		 len;

	snprintf(quoted, sizeof quoted, "\"%s\"", key);
	for (; nth >= 0; nth--) {
		p = strstr(p, quoted);
		ck_assert_msg(p != NULL, "no %s in vectors", key);
		p += strlen(quoted);
	}
	start = strchr(strchr(p, ':'), '"') + 1;
	end = strchr(start, '"');
	len = (size_t)(end - start);
	ck_assert_uint_le(len / 2, max);
	hex = strndup(start, len);
	ck_assert_int_eq(hex_decode(out, len / 2, hex), 0);
	free(hex);
	return (len / 2);
}

/* Load the one vector of the file. */
static void
load_vec(struct vec *v)
{
	char	*text, *cause;
	size_t	 len;
	int	 i;

	text = file_read_small(VECTORS, 65536, &len, &cause);
	ck_assert_msg(text != NULL, "%s", text == NULL ? cause : "");
	ck_assert_ptr_nonnull(strstr(text,
	    "\"Noise_XX_25519_ChaChaPoly_BLAKE2b\""));
	v->prologue_len = json_hex(text, "init_prologue", 0, v->prologue,
	    sizeof v->prologue);
	ck_assert_uint_eq(json_hex(text, "init_static", 0, v->i_s, 32), 32);
	ck_assert_uint_eq(json_hex(text, "init_ephemeral", 0, v->i_e, 32), 32);
	ck_assert_uint_eq(json_hex(text, "resp_static", 0, v->r_s, 32), 32);
	ck_assert_uint_eq(json_hex(text, "resp_ephemeral", 0, v->r_e, 32), 32);
	ck_assert_uint_eq(json_hex(text, "handshake_hash", 0, v->hash,
	    NOISE_HASH), NOISE_HASH);
	for (i = 0; i < NMSG; i++) {
		v->payload_len[i] = json_hex(text, "payload", i, v->payload[i],
		    BIG);
		v->ct_len[i] = json_hex(text, "ciphertext", i, v->ct[i], BIG);
	}
	free(text);
}

/* Run both sides of the vector, checking every message byte for byte. */
START_TEST(test_vectors)
{
	struct vec		 v;
	struct noise_hs		 ini, res, *w, *r;
	struct noise_cipher	 isend, irecv, rsend, rrecv, *cw, *cr;
	uint8_t			 out[BIG], pt[BIG];
	uint8_t			 ih[NOISE_HASH], rh[NOISE_HASH];
	long			 n;
	int			 i;

	load_vec(&v);
	noise_hs_init(&ini, 1, v.prologue, v.prologue_len, v.i_s, v.i_e);
	noise_hs_init(&res, 0, v.prologue, v.prologue_len, v.r_s, v.r_e);
	for (i = 0; i < 3; i++) {
		w = i % 2 == 0 ? &ini : &res;
		r = i % 2 == 0 ? &res : &ini;
		n = noise_hs_write(w, v.payload[i], v.payload_len[i], out,
		    sizeof out);
		ck_assert_int_eq(n, (long)v.ct_len[i]);
		ck_assert_mem_eq(out, v.ct[i], v.ct_len[i]);
		n = noise_hs_read(r, out, (size_t)n, pt, sizeof pt);
		ck_assert_int_eq(n, (long)v.payload_len[i]);
		ck_assert_mem_eq(pt, v.payload[i], v.payload_len[i]);
	}
	ck_assert(noise_hs_done(&ini) && noise_hs_done(&res));
	noise_hs_split(&ini, &isend, &irecv, ih);
	noise_hs_split(&res, &rsend, &rrecv, rh);
	ck_assert_mem_eq(ih, v.hash, NOISE_HASH);
	ck_assert_mem_eq(rh, v.hash, NOISE_HASH);
	/* The transport messages keep alternating: responder first. */
	for (i = 3; i < NMSG; i++) {
		cw = i % 2 == 0 ? &isend : &rsend;
		cr = i % 2 == 0 ? &rrecv : &irecv;
		n = noise_encrypt(cw, v.payload[i], v.payload_len[i], out,
		    sizeof out);
		ck_assert_int_eq(n, (long)v.ct_len[i]);
		ck_assert_mem_eq(out, v.ct[i], v.ct_len[i]);
		n = noise_decrypt(cr, out, (size_t)n, pt, sizeof pt);
		ck_assert_int_eq(n, (long)v.payload_len[i]);
		ck_assert_mem_eq(pt, v.payload[i], v.payload_len[i]);
	}
}
END_TEST

/* Fresh handshakes with random statics; sk and pk of each side. */
struct pair {
	struct noise_hs	 ini, res;
	uint8_t		 i_sk[32], i_pk[32], r_sk[32], r_pk[32];
};

/* Start two sides with random statics and the prologue "p". */
static void
pair_init(struct pair *p)
{
	randombytes_buf(p->i_sk, 32);
	randombytes_buf(p->r_sk, 32);
	crypto_scalarmult_base(p->i_pk, p->i_sk);
	crypto_scalarmult_base(p->r_pk, p->r_sk);
	noise_hs_init(&p->ini, 1, (const uint8_t *)"p", 1, p->i_sk, NULL);
	noise_hs_init(&p->res, 0, (const uint8_t *)"p", 1, p->r_sk, NULL);
}

/* Run message i (0..2) of a pair, with byte flip flipped (or -1). The
 * reader's result. */
static long
pair_step(struct pair *p, int i, long flip)
{
	struct noise_hs	*w = i % 2 == 0 ? &p->ini : &p->res;
	struct noise_hs	*r = i % 2 == 0 ? &p->res : &p->ini;
	uint8_t		 out[BIG], pt[BIG];
	long		 n;

	n = noise_hs_write(w, (const uint8_t *)"hi", 2, out, sizeof out);
	ck_assert_int_gt(n, 0);
	if (flip >= 0)
		out[flip % n] ^= 0x01;
	return (noise_hs_read(r, out, (size_t)n, pt, sizeof pt));
}

/* A flipped byte anywhere in message 2 or 3 makes the reader fail, and
 * in message 1 (which has no key) fails the next message instead. */
START_TEST(test_tamper)
{
	struct pair	 p;
	long		 pos;
	int		 i, j, lens[3] = { 34, 98, 66 };

	for (i = 0; i < 3; i++) {
		for (pos = 0; pos < lens[i]; pos++) {
			pair_init(&p);
			for (j = 0; j < i; j++)
				ck_assert_int_eq(pair_step(&p, j, -1), 2);
			if (i == 0) {
				/* Bad e or payload: the hashes differ. */
				ck_assert_int_eq(pair_step(&p, 0, pos), 2);
				ck_assert_int_eq(pair_step(&p, 1, -1), -1);
			} else
				ck_assert_int_eq(pair_step(&p, i, pos), -1);
			ck_assert(!noise_hs_done(&p.res));
		}
	}
}
END_TEST

/* Only the side whose turn it is may write; the other only read. */
START_TEST(test_turns)
{
	struct pair	 p;
	uint8_t		 out[BIG], pt[BIG];
	long		 n;

	pair_init(&p);
	ck_assert_int_eq(noise_hs_write(&p.res, NULL, 0, out, sizeof out), -1);
	ck_assert_int_eq(noise_hs_read(&p.ini, out, 32, pt, sizeof pt), -1);
	/* Too small an output buffer is refused and costs nothing. */
	ck_assert_int_eq(noise_hs_write(&p.ini, NULL, 0, out, 31), -1);
	n = noise_hs_write(&p.ini, NULL, 0, out, sizeof out);
	ck_assert_int_eq(n, 32);
	ck_assert_int_eq(noise_hs_write(&p.ini, NULL, 0, out, sizeof out), -1);
	/* Too short a message or too small a payload buffer. */
	ck_assert_int_eq(noise_hs_read(&p.res, out, 31, pt, sizeof pt), -1);
	ck_assert_int_eq(noise_hs_read(&p.res, out, 32, pt, 0), 0);
	ck_assert_int_eq(noise_hs_read(&p.res, out, 32, pt, sizeof pt), -1);
	ck_assert_int_eq(pair_step(&p, 1, -1), 2);
	ck_assert_int_eq(noise_hs_read(&p.ini, out, 100, pt, sizeof pt), -1);
	ck_assert_int_eq(pair_step(&p, 2, -1), 2);
	ck_assert(noise_hs_done(&p.ini) && noise_hs_done(&p.res));
	ck_assert_int_eq(noise_hs_write(&p.ini, NULL, 0, out, sizeof out), -1);
	ck_assert_int_eq(noise_hs_write(&p.res, NULL, 0, out, sizeof out), -1);
}
END_TEST

/* Each side learns the other's static public key; hashes agree. */
START_TEST(test_remote_static)
{
	struct pair		 p;
	struct noise_cipher	 a, b, c, d;
	uint8_t			 h1[NOISE_HASH], h2[NOISE_HASH];
	uint8_t			 zero[NOISE_HASH] = { 0 };
	int			 i;

	pair_init(&p);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(pair_step(&p, i, -1), 2);
	ck_assert_mem_eq(noise_hs_remote_static(&p.ini), p.r_pk, 32);
	ck_assert_mem_eq(noise_hs_remote_static(&p.res), p.i_pk, 32);
	noise_hs_split(&p.ini, &a, &b, h1);
	noise_hs_split(&p.res, &c, &d, h2);
	ck_assert_mem_eq(h1, h2, NOISE_HASH);
	ck_assert_mem_ne(h1, zero, NOISE_HASH);
	ck_assert_mem_eq(a.k, d.k, NOISE_KEY);
	ck_assert_mem_eq(b.k, c.k, NOISE_KEY);
	ck_assert_mem_ne(a.k, b.k, NOISE_KEY);
	/* Secrets are gone; the peer's public key is still readable. */
	ck_assert_mem_eq(p.ini.ck, zero, NOISE_HASH);
	ck_assert_mem_eq(p.ini.e_sk, zero, 32);
	ck_assert_mem_eq(p.ini.s_sk, zero, 32);
	ck_assert_mem_eq(noise_hs_remote_static(&p.ini), p.r_pk, 32);
}
END_TEST

/* Complete a random handshake and split it into (a, b) and (c, d). */
static void
pair_split(struct noise_cipher *a, struct noise_cipher *b,
    struct noise_cipher *c, struct noise_cipher *d)
{
	struct pair	 p;
	uint8_t		 h[NOISE_HASH];
	int		 i;

	pair_init(&p);
	for (i = 0; i < 3; i++)
		ck_assert_int_eq(pair_step(&p, i, -1), 2);
	noise_hs_split(&p.ini, a, b, h);
	noise_hs_split(&p.res, c, d, h);
}

/* 1000 transport messages each way, of varying lengths. */
START_TEST(test_transport)
{
	struct noise_cipher	 is, ir, rs, rr;
	uint8_t			 pt[1200], ct[1300], back[1200];
	size_t			 len;
	long			 n;
	int			 i;

	pair_split(&is, &ir, &rs, &rr);
	for (i = 0; i < 1000; i++) {
		len = (size_t)i + (size_t)(i % 7) * 20;
		randombytes_buf(pt, len);
		n = noise_encrypt(i % 2 ? &rs : &is, pt, len, ct, sizeof ct);
		ck_assert_int_eq(n, (long)(len + NOISE_TAG));
		n = noise_decrypt(i % 2 ? &ir : &rr, ct, (size_t)n, back,
		    sizeof back);
		ck_assert_int_eq(n, (long)len);
		ck_assert_mem_eq(back, pt, len);
	}
	ck_assert_uint_eq(is.n, 500);
	ck_assert_uint_eq(ir.n, 500);
	/* Too big for one message, or for the output buffer. */
	ck_assert_int_eq(noise_encrypt(&is, pt, NOISE_MAX_MSG, ct, 100000), -1);
	ck_assert_int_eq(noise_encrypt(&is, pt, 100, ct, 115), -1);
	ck_assert_int_eq(noise_decrypt(&rr, ct, 15, back, sizeof back), -1);
	ck_assert_uint_eq(is.n, 500);
}
END_TEST

/* A replayed, reordered or altered message does not decrypt, and does
 * not move the receiver on. */
START_TEST(test_replay)
{
	struct noise_cipher	 is, ir, rs, rr;
	uint8_t			 m0[40], m1[40], m2[40], pt[40];

	pair_split(&is, &ir, &rs, &rr);
	ck_assert_int_eq(noise_encrypt(&is, (const uint8_t *)"zero", 4, m0,
	    sizeof m0), 20);
	ck_assert_int_eq(noise_encrypt(&is, (const uint8_t *)"one!", 4, m1,
	    sizeof m1), 20);
	ck_assert_int_eq(noise_encrypt(&is, (const uint8_t *)"two!", 4, m2,
	    sizeof m2), 20);
	ck_assert_int_eq(noise_decrypt(&rr, m1, 20, pt, sizeof pt), -1);
	ck_assert_int_eq(noise_decrypt(&rr, m0, 20, pt, sizeof pt), 4);
	ck_assert_mem_eq(pt, "zero", 4);
	ck_assert_int_eq(noise_decrypt(&rr, m0, 20, pt, sizeof pt), -1);
	m1[19] ^= 0x80;
	ck_assert_int_eq(noise_decrypt(&rr, m1, 20, pt, sizeof pt), -1);
	m1[19] ^= 0x80;
	ck_assert_int_eq(noise_decrypt(&rr, m1, 20, pt, sizeof pt), 4);
	ck_assert_mem_eq(pt, "one!", 4);
	/* The other direction's key does not open it. */
	ck_assert_int_eq(noise_decrypt(&ir, m2, 20, pt, sizeof pt), -1);
	ck_assert_int_eq(noise_decrypt(&rr, m2, 20, pt, sizeof pt), 4);
}
END_TEST

/* Nonce 2^64-1 is never used; a keyless cipher refuses to work. */
START_TEST(test_nonce_limit)
{
	struct noise_cipher	 is, ir, rs, rr, none;
	uint8_t			 ct[40], pt[40];

	pair_split(&is, &ir, &rs, &rr);
	is.n = rr.n = UINT64_MAX - 1;
	ck_assert_int_eq(noise_encrypt(&is, pt, 4, ct, sizeof ct), 20);
	ck_assert_int_eq(noise_decrypt(&rr, ct, 20, pt, sizeof pt), 4);
	ck_assert_uint_eq(is.n, UINT64_MAX);
	ck_assert_int_eq(noise_encrypt(&is, pt, 4, ct, sizeof ct), -1);
	ck_assert_int_eq(noise_decrypt(&rr, ct, 20, pt, sizeof pt), -1);
	memset(&none, 0, sizeof none);
	ck_assert_int_eq(noise_encrypt(&none, pt, 4, ct, sizeof ct), -1);
}
END_TEST

/* Splitting an unfinished handshake gives ciphers that refuse. */
START_TEST(test_early_split)
{
	struct pair		 p;
	struct noise_cipher	 a, b;
	uint8_t			 h[NOISE_HASH], ct[40], pt[4] = { 0 };

	pair_init(&p);
	ck_assert_int_eq(pair_step(&p, 0, -1), 2);
	noise_hs_split(&p.res, &a, &b, h);
	ck_assert(!noise_hs_done(&p.res));
	ck_assert_int_eq(noise_encrypt(&a, pt, 4, ct, sizeof ct), -1);
	ck_assert_int_eq(noise_hs_write(&p.res, NULL, 0, ct, sizeof ct), -1);
}
END_TEST

/* Different prologues make the handshake fail at message 2. */
START_TEST(test_prologue)
{
	struct noise_hs	 ini, res;
	uint8_t		 isk[32], rsk[32], out[BIG], pt[BIG];
	long		 n;

	randombytes_buf(isk, 32);
	randombytes_buf(rsk, 32);
	noise_hs_init(&ini, 1, (const uint8_t *)"abc", 3, isk, NULL);
	noise_hs_init(&res, 0, (const uint8_t *)"abd", 3, rsk, NULL);
	n = noise_hs_write(&ini, NULL, 0, out, sizeof out);
	ck_assert_int_eq(noise_hs_read(&res, out, (size_t)n, pt, sizeof pt), 0);
	n = noise_hs_write(&res, NULL, 0, out, sizeof out);
	ck_assert_int_eq(n, 96);
	ck_assert_int_eq(noise_hs_read(&ini, out, (size_t)n, pt, sizeof pt),
	    -1);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("noise");
	TCase	*tc = tcase_create("noise");

	if (sodium_init() < 0)
		return (1);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_vectors);
	tcase_add_test(tc, test_tamper);
	tcase_add_test(tc, test_turns);
	tcase_add_test(tc, test_remote_static);
	tcase_add_test(tc, test_transport);
	tcase_add_test(tc, test_replay);
	tcase_add_test(tc, test_nonce_limit);
	tcase_add_test(tc, test_early_split);
	tcase_add_test(tc, test_prologue);
	suite_add_tcase(s, tc);
	return (unit_run(s));
}
