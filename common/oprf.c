/*
 * oprf.c -- RFC 9497 OPRF(ristretto255, SHA-512) in mode 0x00 (OPRF), on
 * libsodium's ristretto255, with RFC 9380 expand_message_xmd(SHA-512).
 *
 * The client blinds a number (Blind), the server multiplies the blinded
 * element by its key (BlindEvaluate), the client unblinds and hashes
 * (Finalize); the server alone can do it in one step (Evaluate).
 */
#include <string.h>

#include <sodium.h>

#include "common.h"

/* contextString: "OPRFV1-" || I2OSP(mode, 1) || "-" || identifier. */
static const uint8_t context[] = "OPRFV1-\0-ristretto255-SHA512";
#define CONTEXT_LEN	(sizeof context - 1)

#define XMD_B		64	/* b_in_bytes: SHA-512 output */
#define XMD_S		128	/* s_in_bytes: SHA-512 block */
#define XMD_MAX_OUT	(255 * XMD_B)
#define DST_MAX		64	/* longest prefix || contextString here */
#define INPUT_MAX	65535	/* inputs are prefixed by I2OSP(len, 2) */

/* One piece of a message that is hashed without being copied together. */
struct part {
	const uint8_t	*p;
	size_t		 len;
};

/* Hash the pieces of a message into st. */
static void
update_parts(crypto_hash_sha512_state *st, const struct part *msg,
    size_t nmsg)
{
	size_t	 i;

	for (i = 0; i < nmsg; i++) {
		if (msg[i].len != 0)
			crypto_hash_sha512_update(st, msg[i].p, msg[i].len);
	}
}

/* Hash one byte then DST_prime (DST || I2OSP(len(DST), 1)) and finish. */
static void
final_dst(crypto_hash_sha512_state *st, uint8_t i, const uint8_t *dst,
    size_t dstlen, uint8_t out[XMD_B])
{
	uint8_t	 n = (uint8_t)dstlen;

	crypto_hash_sha512_update(st, &i, 1);
	crypto_hash_sha512_update(st, dst, dstlen);
	crypto_hash_sha512_update(st, &n, 1);
	crypto_hash_sha512_final(st, out);
}

/*
 * expand_message_xmd over a message in pieces. b_1 is H(b_0 || 1 || DST')
 * and b_i is H((b_0 ^ b_(i-1)) || i || DST'); starting from a zero b_(0)
 * makes the first step the same as the others.
 */
static int
xmd(uint8_t *out, size_t outlen, const struct part *msg, size_t nmsg,
    const uint8_t *dst, size_t dstlen)
{
	crypto_hash_sha512_state st;
	uint8_t	 zpad[XMD_S] = { 0 }, lib[2], b0[XMD_B], bi[XMD_B] = { 0 };
	size_t	 ell, i, j, n;

	if (outlen == 0 || outlen > XMD_MAX_OUT || dstlen == 0 || dstlen > 255)
		return (-1);
	ell = (outlen + XMD_B - 1) / XMD_B;
	put_u16(lib, (uint16_t)outlen);
	crypto_hash_sha512_init(&st);
	crypto_hash_sha512_update(&st, zpad, sizeof zpad);
	update_parts(&st, msg, nmsg);
	crypto_hash_sha512_update(&st, lib, sizeof lib);
	final_dst(&st, 0, dst, dstlen, b0);
	for (i = 1; i <= ell; i++) {
		for (j = 0; j < XMD_B; j++)
			bi[j] ^= b0[j];
		crypto_hash_sha512_init(&st);
		crypto_hash_sha512_update(&st, bi, sizeof bi);
		final_dst(&st, (uint8_t)i, dst, dstlen, bi);
		n = outlen - (i - 1) * XMD_B;
		memcpy(out + (i - 1) * XMD_B, bi, n < XMD_B ? n : XMD_B);
	}
	sodium_memzero(&st, sizeof st);
	sodium_memzero(b0, sizeof b0);
	sodium_memzero(bi, sizeof bi);
	return (0);
}

/* expand_message_xmd with SHA-512 (RFC 9380 §5.3.1). */
int
oprf_expand_xmd(uint8_t *out, size_t outlen, const uint8_t *msg,
    size_t msglen, const uint8_t *dst, size_t dstlen)
{
	struct part	 p = { msg, msglen };

	return (xmd(out, outlen, &p, 1, dst, dstlen));
}

/* Build the DST prefix || contextString into dst; returns its length. */
static size_t
make_dst(uint8_t dst[DST_MAX], const char *prefix)
{
	size_t	 n = strlen(prefix);

	memcpy(dst, prefix, n);
	memcpy(dst + n, context, CONTEXT_LEN);
	return (n + CONTEXT_LEN);
}

/* HashToGroup: ristretto255's element derivation from 64 uniform bytes. */
static int
hash_to_group(uint8_t p[OPRF_ELEM], const uint8_t *input, size_t len)
{
	struct part	 msg = { input, len };
	uint8_t		 dst[DST_MAX], u[XMD_B];
	size_t		 dstlen;

	dstlen = make_dst(dst, "HashToGroup-");
	if (xmd(u, sizeof u, &msg, 1, dst, dstlen) != 0)
		return (-1);
	crypto_core_ristretto255_from_hash(p, u);
	sodium_memzero(u, sizeof u);
	return (0);
}

/* HashToScalar: 64 uniform bytes, little-endian, reduced mod the order. */
static int
hash_to_scalar(uint8_t s[OPRF_SCALAR], const struct part *msg, size_t nmsg,
    const char *prefix)
{
	uint8_t	 dst[DST_MAX], u[XMD_B];
	size_t	 dstlen;

	dstlen = make_dst(dst, prefix);
	if (xmd(u, sizeof u, msg, nmsg, dst, dstlen) != 0)
		return (-1);
	crypto_core_ristretto255_scalar_reduce(s, u);
	sodium_memzero(u, sizeof u);
	return (0);
}

/*
 * 1 if e is a canonical ristretto255 encoding other than the identity.
 * libsodium 1.0.18 ignores the top bit of the last byte when it decodes,
 * so an encoding with that bit set (a value above p) is refused here.
 */
int
oprf_element_ok(const uint8_t e[OPRF_ELEM])
{
	if (sodium_is_zero(e, OPRF_ELEM) || (e[OPRF_ELEM - 1] & 0x80) != 0)
		return (0);
	return (crypto_core_ristretto255_is_valid_point(e) == 1);
}

/*
 * DeriveKeyPair (RFC 9497 §3.2.1): HashToScalar(seed || I2OSP(len(info), 2)
 * || info || I2OSP(counter, 1)) for counter 0, 1, ... until it is not zero.
 */
int
oprf_derive_keypair(uint8_t sk[OPRF_SCALAR], uint8_t *pk,
    const uint8_t *seed, size_t seedlen, const uint8_t *info,
    size_t infolen)
{
	uint8_t		 ilen[2], counter = 0;
	struct part	 msg[4] = {
		{ seed, seedlen }, { ilen, 2 }, { info, infolen },
		{ &counter, 1 }
	};

	if (infolen > INPUT_MAX)
		return (-1);
	put_u16(ilen, (uint16_t)infolen);
	for (;;) {
		if (hash_to_scalar(sk, msg, 4, "DeriveKeyPair") != 0)
			return (-1);
		if (!sodium_is_zero(sk, OPRF_SCALAR))
			break;
		if (counter++ == 255)
			return (-1);
	}
	if (pk != NULL && crypto_scalarmult_ristretto255_base(pk, sk) != 0) {
		sodium_memzero(sk, OPRF_SCALAR);
		return (-1);
	}
	return (0);
}

/*
 * Blind: blinded = blind * HashToGroup(input). A fixed blind of zero fails
 * like an input that hashes to the identity: the product is the identity.
 */
int
oprf_blind(uint8_t blind[OPRF_SCALAR], uint8_t blinded[OPRF_ELEM],
    const uint8_t *input, size_t len, const uint8_t *fixed)
{
	uint8_t	 p[OPRF_ELEM];
	int	 rv = -1;

	if (len > INPUT_MAX || hash_to_group(p, input, len) != 0)
		return (-1);
	if (sodium_is_zero(p, sizeof p))
		goto out;
	if (fixed != NULL)
		memmove(blind, fixed, OPRF_SCALAR);
	else
		crypto_core_ristretto255_scalar_random(blind);
	if (crypto_scalarmult_ristretto255(blinded, blind, p) != 0) {
		sodium_memzero(blind, OPRF_SCALAR);
		goto out;
	}
	rv = 0;
out:
	sodium_memzero(p, sizeof p);
	return (rv);
}

/* BlindEvaluate: evaluated = sk * blinded, for a valid non-identity input. */
int
oprf_blind_evaluate(uint8_t evaluated[OPRF_ELEM],
    const uint8_t sk[OPRF_SCALAR], const uint8_t blinded[OPRF_ELEM])
{
	if (!oprf_element_ok(blinded))
		return (-1);
	if (crypto_scalarmult_ristretto255(evaluated, sk, blinded) != 0)
		return (-1);
	return (0);
}

/*
 * The Finalize hash: SHA-512(I2OSP(len(input), 2) || input ||
 * I2OSP(len(element), 2) || element || "Finalize").
 */
static void
finalize_hash(uint8_t out[OPRF_OUT], const uint8_t *input, size_t len,
    const uint8_t element[OPRF_ELEM])
{
	crypto_hash_sha512_state st;
	uint8_t	 n[2];

	crypto_hash_sha512_init(&st);
	put_u16(n, (uint16_t)len);
	crypto_hash_sha512_update(&st, n, sizeof n);
	if (len != 0)
		crypto_hash_sha512_update(&st, input, len);
	put_u16(n, OPRF_ELEM);
	crypto_hash_sha512_update(&st, n, sizeof n);
	crypto_hash_sha512_update(&st, element, OPRF_ELEM);
	crypto_hash_sha512_update(&st, (const uint8_t *)"Finalize", 8);
	crypto_hash_sha512_final(&st, out);
	sodium_memzero(&st, sizeof st);
}

/* Finalize: unblind with the inverse of blind, then hash. */
int
oprf_finalize(uint8_t out[OPRF_OUT], const uint8_t *input, size_t len,
    const uint8_t blind[OPRF_SCALAR], const uint8_t evaluated[OPRF_ELEM])
{
	uint8_t	 inv[OPRF_SCALAR], n[OPRF_ELEM];
	int	 rv = -1;

	if (len > INPUT_MAX || !oprf_element_ok(evaluated))
		return (-1);
	if (crypto_core_ristretto255_scalar_invert(inv, blind) != 0)
		goto out;
	if (crypto_scalarmult_ristretto255(n, inv, evaluated) != 0)
		goto out;
	finalize_hash(out, input, len, n);
	rv = 0;
out:
	sodium_memzero(inv, sizeof inv);
	sodium_memzero(n, sizeof n);
	return (rv);
}

/* Evaluate: hash sk * HashToGroup(input) as Finalize would. */
int
oprf_evaluate(uint8_t out[OPRF_OUT], const uint8_t sk[OPRF_SCALAR],
    const uint8_t *input, size_t len)
{
	uint8_t	 p[OPRF_ELEM], e[OPRF_ELEM];
	int	 rv = -1;

	if (len > INPUT_MAX || hash_to_group(p, input, len) != 0)
		return (-1);
	if (sodium_is_zero(p, sizeof p))
		goto out;
	if (crypto_scalarmult_ristretto255(e, sk, p) != 0)
		goto out;
	finalize_hash(out, input, len, e);
	rv = 0;
out:
	sodium_memzero(p, sizeof p);
	sodium_memzero(e, sizeof e);
	return (rv);
}
