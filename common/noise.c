/*
 * noise.c -- Noise_XX_25519_ChaChaPoly_BLAKE2b (Noise spec revision 34),
 * the handshake and transport of direct sessions (PROTOCOL.md §6.3).
 *
 * XX:  -> e
 *      <- e, ee, s, es
 *      -> s, se
 */
#include <string.h>

#include <sodium.h>

#include "common.h"

#define PROTOCOL_NAME	"Noise_XX_25519_ChaChaPoly_BLAKE2b"
#define DH_LEN		32
#define BLOCK_LEN	128	/* BLAKE2b's block, for HMAC */
#define NONCE_MAX	UINT64_MAX	/* reserved: never used */
#define HS_FAILED	-1	/* step of an abandoned handshake */

/* HASH(a || b) with BLAKE2b-512; either part may be empty. */
static void
hash2(uint8_t out[NOISE_HASH], const uint8_t *a, size_t alen,
    const uint8_t *b, size_t blen)
{
	crypto_generichash_state st;

	crypto_generichash_init(&st, NULL, 0, NOISE_HASH);
	crypto_generichash_update(&st, a, alen);
	crypto_generichash_update(&st, b, blen);
	crypto_generichash_final(&st, out, NOISE_HASH);
	sodium_memzero(&st, sizeof st);
}

/* HMAC-BLAKE2b (RFC 2104, block length 128) of a || b under a key of at
 * most NOISE_HASH bytes. */
static void
hmac(uint8_t out[NOISE_HASH], const uint8_t *key, size_t keylen,
    const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	crypto_generichash_state st;
	uint8_t		 pad[BLOCK_LEN], inner[NOISE_HASH];
	size_t		 i;

	memset(pad, 0, sizeof pad);
	memcpy(pad, key, keylen);
	for (i = 0; i < sizeof pad; i++)
		pad[i] ^= 0x36;
	crypto_generichash_init(&st, NULL, 0, NOISE_HASH);
	crypto_generichash_update(&st, pad, sizeof pad);
	crypto_generichash_update(&st, a, alen);
	crypto_generichash_update(&st, b, blen);
	crypto_generichash_final(&st, inner, sizeof inner);
	for (i = 0; i < sizeof pad; i++)
		pad[i] ^= 0x36 ^ 0x5c;
	hash2(out, pad, sizeof pad, inner, sizeof inner);
	sodium_memzero(pad, sizeof pad);
	sodium_memzero(inner, sizeof inner);
	sodium_memzero(&st, sizeof st);
}

/* HKDF of the Noise spec: two outputs, or three when out3 is not NULL. */
static void
hkdf(const uint8_t ck[NOISE_HASH], const uint8_t *ikm, size_t ikmlen,
    uint8_t out1[NOISE_HASH], uint8_t out2[NOISE_HASH], uint8_t *out3)
{
	uint8_t		 temp[NOISE_HASH];
	const uint8_t	 one = 1, two = 2, three = 3;

	hmac(temp, ck, NOISE_HASH, ikm, ikmlen, NULL, 0);
	hmac(out1, temp, sizeof temp, &one, 1, NULL, 0);
	hmac(out2, temp, sizeof temp, out1, NOISE_HASH, &two, 1);
	if (out3 != NULL)
		hmac(out3, temp, sizeof temp, out2, NOISE_HASH, &three, 1);
	sodium_memzero(temp, sizeof temp);
}

/* Set a cipher's key (the first NOISE_KEY bytes of k) and reset n. */
static void
cipher_init(struct noise_cipher *cs, const uint8_t *k)
{
	memcpy(cs->k, k, NOISE_KEY);
	cs->n = 0;
	cs->has_key = 1;
}

/* The 96-bit nonce of ChaChaPoly: 32 zero bits, then n little-endian. */
static void
cipher_nonce(uint8_t nonce[12], uint64_t n)
{
	int	 i;

	memset(nonce, 0, 4);
	for (i = 0; i < 8; i++)
		nonce[4 + i] = (uint8_t)(n >> (8 * i));
}

/* EncryptWithAd with a key: len + NOISE_TAG bytes into out, or -1 when
 * the nonce is exhausted. out must hold len + NOISE_TAG. */
static int
cipher_seal(struct noise_cipher *cs, const uint8_t *ad, size_t adlen,
    const uint8_t *pt, size_t len, uint8_t *out)
{
	uint8_t		 nonce[12];

	if (cs->n == NONCE_MAX)
		return (-1);
	cipher_nonce(nonce, cs->n);
	crypto_aead_chacha20poly1305_ietf_encrypt(out, NULL, pt, len, ad,
	    adlen, NULL, nonce, cs->k);
	cs->n++;
	return (0);
}

/* DecryptWithAd with a key: len - NOISE_TAG bytes into out, or -1 on a
 * bad tag or an exhausted nonce (n is then left alone). */
static int
cipher_open(struct noise_cipher *cs, const uint8_t *ad, size_t adlen,
    const uint8_t *ct, size_t len, uint8_t *out)
{
	uint8_t		 nonce[12];

	if (cs->n == NONCE_MAX || len < NOISE_TAG)
		return (-1);
	cipher_nonce(nonce, cs->n);
	if (crypto_aead_chacha20poly1305_ietf_decrypt(out, NULL, NULL, ct, len,
	    ad, adlen, nonce, cs->k) != 0)
		return (-1);
	cs->n++;
	return (0);
}

/* MixHash: h = HASH(h || data). */
static void
mix_hash(struct noise_hs *hs, const uint8_t *data, size_t len)
{
	hash2(hs->h, hs->h, sizeof hs->h, data, len);
}

/* MixKey with DH(sk, pk): ck, k = HKDF(ck, dh). -1 when the DH output is
 * all zeros (a small-order public key). */
static int
mix_dh(struct noise_hs *hs, const uint8_t sk[32], const uint8_t pk[32])
{
	uint8_t		 dh[DH_LEN], k[NOISE_HASH];
	int		 rc = -1;

	if (crypto_scalarmult(dh, sk, pk) == 0) {
		hkdf(hs->ck, dh, sizeof dh, hs->ck, k, NULL);
		cipher_init(&hs->cs, k);
		rc = 0;
	}
	sodium_memzero(dh, sizeof dh);
	sodium_memzero(k, sizeof k);
	return (rc);
}

/* EncryptAndHash: the ciphertext (or, before any key, the plaintext) of
 * len bytes into out; its length. */
static size_t
encrypt_and_hash(struct noise_hs *hs, const uint8_t *pt, size_t len,
    uint8_t *out)
{
	size_t	 outlen = len;

	if (hs->cs.has_key) {
		/* The nonce of a handshake cipher never nears 2^64. */
		(void)cipher_seal(&hs->cs, hs->h, sizeof hs->h, pt, len, out);
		outlen += NOISE_TAG;
	} else if (len != 0)
		memmove(out, pt, len);
	mix_hash(hs, out, outlen);
	return (outlen);
}

/* DecryptAndHash of len bytes of ct into out; -1 on a bad tag. */
static int
decrypt_and_hash(struct noise_hs *hs, const uint8_t *ct, size_t len,
    uint8_t *out)
{
	if (hs->cs.has_key) {
		if (cipher_open(&hs->cs, hs->h, sizeof hs->h, ct, len,
		    out) != 0)
			return (-1);
	} else if (len != 0)
		memmove(out, ct, len);
	mix_hash(hs, ct, len);
	return (0);
}

/* Start a handshake with an X25519 static secret key. */
void
noise_hs_init(struct noise_hs *hs, int initiator, const uint8_t *prologue,
    size_t prologue_len, const uint8_t s_sk[32], const uint8_t *fixed_e)
{
	memset(hs, 0, sizeof *hs);
	hs->initiator = initiator != 0;
	memcpy(hs->s_sk, s_sk, 32);
	crypto_scalarmult_base(hs->s_pk, hs->s_sk);
	if (fixed_e != NULL) {
		hs->has_fixed_e = 1;
		memcpy(hs->fixed_e, fixed_e, 32);
	}
	/* The name is shorter than HASHLEN, so h is it padded with zeros. */
	memcpy(hs->h, PROTOCOL_NAME, sizeof PROTOCOL_NAME - 1);
	memcpy(hs->ck, hs->h, sizeof hs->ck);
	mix_hash(hs, prologue, prologue_len);
}

/* Abandon a handshake: wipe it, so that every later call fails. */
static void
hs_fail(struct noise_hs *hs)
{
	sodium_memzero(hs, sizeof *hs);
	hs->step = HS_FAILED;
}

/* 1 if the next message of hs is ours to write. */
static int
our_turn(const struct noise_hs *hs)
{
	if (hs->step < 0 || hs->step >= 3)
		return (0);
	return ((hs->step % 2 == 0) == (hs->initiator != 0));
}

/* The length of handshake message step carrying len bytes of payload. */
static size_t
hs_msg_len(int step, size_t len)
{
	switch (step) {
	case 0:
		return (DH_LEN + len);
	case 1:
		return (DH_LEN + DH_LEN + NOISE_TAG + len + NOISE_TAG);
	default:
		return (DH_LEN + NOISE_TAG + len + NOISE_TAG);
	}
}

/* Token "e" when writing: make (or take) the ephemeral key, send it. */
static size_t
write_e(struct noise_hs *hs, uint8_t *out)
{
	if (hs->has_fixed_e)
		memcpy(hs->e_sk, hs->fixed_e, 32);
	else
		randombytes_buf(hs->e_sk, sizeof hs->e_sk);
	crypto_scalarmult_base(hs->e_pk, hs->e_sk);
	memcpy(out, hs->e_pk, DH_LEN);
	mix_hash(hs, hs->e_pk, DH_LEN);
	return (DH_LEN);
}

/* The tokens of the message being written; bytes written or -1. */
static long
write_tokens(struct noise_hs *hs, uint8_t *out)
{
	size_t	 off = 0;

	switch (hs->step) {
	case 0:						/* e */
		return ((long)write_e(hs, out));
	case 1:					/* e, ee, s, es */
		off = write_e(hs, out);
		if (mix_dh(hs, hs->e_sk, hs->re) != 0)
			return (-1);
		off += encrypt_and_hash(hs, hs->s_pk, DH_LEN, out + off);
		if (mix_dh(hs, hs->s_sk, hs->re) != 0)
			return (-1);
		return ((long)off);
	default:					/* s, se */
		off = encrypt_and_hash(hs, hs->s_pk, DH_LEN, out);
		if (mix_dh(hs, hs->s_sk, hs->re) != 0)
			return (-1);
		return ((long)off);
	}
}

/* Write the next handshake message with payload into out. */
long
noise_hs_write(struct noise_hs *hs, const uint8_t *payload, size_t len,
    uint8_t *out, size_t outlen)
{
	size_t	 need;
	long	 off;

	if (!our_turn(hs) || len > NOISE_MAX_MSG)
		return (-1);
	need = hs_msg_len(hs->step, len);
	if (need > outlen || need > NOISE_MAX_MSG)
		return (-1);
	if ((off = write_tokens(hs, out)) < 0) {
		hs_fail(hs);
		return (-1);
	}
	off += (long)encrypt_and_hash(hs, payload, len, out + off);
	hs->step++;
	return (off);
}

/* Token "e" when reading: take the peer's ephemeral key. */
static size_t
read_e(struct noise_hs *hs, const uint8_t *msg)
{
	memcpy(hs->re, msg, DH_LEN);
	mix_hash(hs, hs->re, DH_LEN);
	return (DH_LEN);
}

/* Token "s" when reading: decrypt the peer's static key. */
static int
read_s(struct noise_hs *hs, const uint8_t *msg)
{
	return (decrypt_and_hash(hs, msg, DH_LEN + NOISE_TAG, hs->rs));
}

/* The tokens of the message being read; bytes used or -1. */
static long
read_tokens(struct noise_hs *hs, const uint8_t *msg)
{
	switch (hs->step) {
	case 0:						/* e */
		return ((long)read_e(hs, msg));
	case 1:					/* e, ee, s, es */
		(void)read_e(hs, msg);
		if (mix_dh(hs, hs->e_sk, hs->re) != 0 ||
		    read_s(hs, msg + DH_LEN) != 0 ||
		    mix_dh(hs, hs->e_sk, hs->rs) != 0)
			return (-1);
		return (DH_LEN + DH_LEN + NOISE_TAG);
	default:					/* s, se */
		if (read_s(hs, msg) != 0 ||
		    mix_dh(hs, hs->e_sk, hs->rs) != 0)
			return (-1);
		return (DH_LEN + NOISE_TAG);
	}
}

/* Read the peer's next handshake message. A message that does not
 * decrypt abandons the handshake. */
long
noise_hs_read(struct noise_hs *hs, const uint8_t *msg, size_t len,
    uint8_t *payload, size_t paylen)
{
	size_t	 over, plen;
	long	 off;

	if (hs->step < 0 || hs->step >= 3 || our_turn(hs))
		return (-1);
	over = hs_msg_len(hs->step, 0);
	if (len < over || len > NOISE_MAX_MSG)
		return (-1);
	plen = len - over;
	if (plen > paylen)
		return (-1);
	if ((off = read_tokens(hs, msg)) < 0 ||
	    decrypt_and_hash(hs, msg + off, len - (size_t)off, payload) != 0) {
		hs_fail(hs);
		return (-1);
	}
	hs->step++;
	return ((long)plen);
}

/* 1 once all three messages are done. */
int
noise_hs_done(const struct noise_hs *hs)
{
	return (hs->step == 3);
}

/*
 * Split into the two transport ciphers and the handshake hash. The
 * secrets of hs are wiped; the public keys stay, so the remote static
 * key can still be read. Before the handshake is done the ciphers have
 * no key (and refuse to work) and the hash is zeros.
 */
void
noise_hs_split(struct noise_hs *hs, struct noise_cipher *send,
    struct noise_cipher *recv, uint8_t hash[NOISE_HASH])
{
	uint8_t		 k1[NOISE_HASH], k2[NOISE_HASH];
	uint8_t		 rs[32], s_pk[32];
	int		 initiator = hs->initiator, done = noise_hs_done(hs);

	memset(send, 0, sizeof *send);
	memset(recv, 0, sizeof *recv);
	memset(hash, 0, NOISE_HASH);
	if (done) {
		hkdf(hs->ck, NULL, 0, k1, k2, NULL);
		cipher_init(send, initiator ? k1 : k2);
		cipher_init(recv, initiator ? k2 : k1);
		memcpy(hash, hs->h, NOISE_HASH);
	}
	memcpy(rs, hs->rs, sizeof rs);
	memcpy(s_pk, hs->s_pk, sizeof s_pk);
	sodium_memzero(hs, sizeof *hs);
	sodium_memzero(k1, sizeof k1);
	sodium_memzero(k2, sizeof k2);
	hs->initiator = initiator;
	hs->step = done ? 3 : HS_FAILED;
	memcpy(hs->rs, rs, sizeof rs);
	memcpy(hs->s_pk, s_pk, sizeof s_pk);
}

/* The peer's static public key (valid once it has been received). */
const uint8_t *
noise_hs_remote_static(const struct noise_hs *hs)
{
	return (hs->rs);
}

/* Encrypt a transport message. */
long
noise_encrypt(struct noise_cipher *cs, const uint8_t *pt, size_t len,
    uint8_t *out, size_t outlen)
{
	if (!cs->has_key || len > NOISE_MAX_MSG - NOISE_TAG ||
	    outlen < len + NOISE_TAG)
		return (-1);
	if (cipher_seal(cs, NULL, 0, pt, len, out) != 0)
		return (-1);
	return ((long)(len + NOISE_TAG));
}

/* Decrypt a transport message; n moves on only when it authenticates. */
long
noise_decrypt(struct noise_cipher *cs, const uint8_t *ct, size_t len,
    uint8_t *out, size_t outlen)
{
	if (!cs->has_key || len < NOISE_TAG || len > NOISE_MAX_MSG ||
	    outlen < len - NOISE_TAG)
		return (-1);
	if (cipher_open(cs, NULL, 0, ct, len, out) != 0)
		return (-1);
	return ((long)(len - NOISE_TAG));
}
