/*
 * cred.c -- the server's master key and its subkeys, account IDs,
 * credentials, the HELLO and CHALLENGE signatures, and registration
 * tokens (PROTOCOL.md §1, §2, §5.1, §5.2).
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "common.h"

#define KDF_CONTEXT	"trystkey"
#define KDF_SIGN	1
#define KDF_OPRF	2
#define KDF_TOKEN	3
#define KDF_BUS		4
#define OPRF_INFO	"tryst-oprf-v1"

#define LABEL_CRED	"tryst-credential-v1"
#define LABEL_HELLO	"tryst-hello-v1"
#define LABEL_TLS	"tryst-tls-v1"

#define MASTER_B64_LEN	44	/* padded base64 of 32 bytes */
#define MASTER_FILE_MAX	4096	/* enough to say what is wrong */

#define TOKEN_PLAIN	(ID_LEN + TOKEN_CODE + 8)
#define SIGNED_MAX	256	/* longest label || parts we sign */

/* Make a new master key file; refuses to overwrite. */
int
keys_generate_file(const char *path, char **cause)
{
	uint8_t	 master[MASTER_KEY_LEN];
	char	 line[MASTER_B64_LEN + 1];
	char	*b64;
	int	 rv;

	randombytes_buf(master, sizeof master);
	b64 = b64_encode(master, sizeof master);
	sodium_memzero(master, sizeof master);
	memcpy(line, b64, MASTER_B64_LEN);
	line[MASTER_B64_LEN] = '\n';
	sodium_memzero(b64, MASTER_B64_LEN);
	free(b64);

	rv = file_write_atomic(path, line, sizeof line, 0600, 1, cause);
	sodium_memzero(line, sizeof line);
	return (rv);
}

/* Check that buf is exactly one 44-character base64 line. */
static const char *
master_line_error(const char *buf, size_t len)
{
	size_t	 i;

	if (len == MASTER_B64_LEN + 1 && buf[MASTER_B64_LEN] == '\n')
		len--;
	if (len != MASTER_B64_LEN)
		return ("not one line of 44 base64 characters");
	for (i = 0; i < len; i++) {
		if (buf[i] == '\0' || buf[i] == '\n' || buf[i] == '\r' ||
		    buf[i] == ' ' || buf[i] == '\t')
			return ("not one line of 44 base64 characters");
	}
	return (NULL);
}

/* Read a master key file: one line of padded base64. */
int
keys_load_master(const char *path, uint8_t master[MASTER_KEY_LEN],
    char **cause)
{
	const char	*why;
	char		*buf;
	size_t		 len;
	int		 rv = -1;

	if ((buf = file_read_small(path, MASTER_FILE_MAX, &len,
	    cause)) == NULL)
		return (-1);
	if ((why = master_line_error(buf, len)) != NULL)
		xasprintf(cause, "%s: %s", path, why);
	else if (b64_decode(master, MASTER_KEY_LEN, buf) != 0) {
		sodium_memzero(master, MASTER_KEY_LEN);
		xasprintf(cause, "%s: not valid base64 of %d bytes", path,
		    MASTER_KEY_LEN);
	} else
		rv = 0;
	sodium_memzero(buf, len);
	free(buf);
	return (rv);
}

/* Derive the signing, OPRF, token and bus keys from the master key. NULL only
 * when DeriveKeyPair fails, which RFC 9497 makes vanishingly unlikely. */
struct keys *
keys_derive(const uint8_t master[MASTER_KEY_LEN])
{
	struct keys	*k;
	uint8_t		 sub[32];
	int		 rv;

	if ((k = sodium_malloc(sizeof *k)) == NULL)
		fatal("sodium_malloc");
	sodium_memzero(k, sizeof *k);

	crypto_kdf_derive_from_key(sub, sizeof sub, KDF_SIGN, KDF_CONTEXT,
	    master);
	crypto_sign_seed_keypair(k->sign_pk, k->sign_sk, sub);

	crypto_kdf_derive_from_key(sub, sizeof sub, KDF_OPRF, KDF_CONTEXT,
	    master);
	rv = oprf_derive_keypair(k->oprf_sk, NULL, sub, sizeof sub,
	    (const uint8_t *)OPRF_INFO, strlen(OPRF_INFO));

	crypto_kdf_derive_from_key(k->token_key, sizeof k->token_key,
	    KDF_TOKEN, KDF_CONTEXT, master);
	crypto_kdf_derive_from_key(k->bus_key, sizeof k->bus_key, KDF_BUS,
	    KDF_CONTEXT, master);
	sodium_memzero(sub, sizeof sub);
	if (rv != 0) {
		keys_free(k);
		return (NULL);
	}
	return (k);
}

/* Wipe and free the server's keys. */
void
keys_free(struct keys *k)
{
	if (k == NULL)
		return;
	sodium_memzero(k, sizeof *k);
	sodium_free(k);
}

/* The account ID of a number: the first 32 bytes of OPRF Evaluate. */
int
keys_number_id(const struct keys *k, const char *number, uint8_t id[ID_LEN])
{
	uint8_t	 out[OPRF_OUT];

	if (oprf_evaluate(out, k->oprf_sk, (const uint8_t *)number,
	    strlen(number)) != 0) {
		sodium_memzero(out, sizeof out);
		return (-1);
	}
	memcpy(id, out, ID_LEN);
	sodium_memzero(out, sizeof out);
	return (0);
}

/* Lay out label || a || b in m; returns the length. */
static size_t
signed_message(uint8_t m[SIGNED_MAX], const char *label, const uint8_t *a,
    size_t alen, const uint8_t *b, size_t blen)
{
	size_t	 llen = strlen(label);

	if (llen + alen + blen > SIGNED_MAX)
		fatalx("signed message too long");
	memcpy(m, label, llen);
	memcpy(m + llen, a, alen);
	if (blen > 0)
		memcpy(m + llen + alen, b, blen);
	return (llen + alen + blen);
}

/* Ed25519 signature over label || a || b. */
static void
sign_parts(uint8_t sig[64], const uint8_t sk[64], const char *label,
    const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	uint8_t	 m[SIGNED_MAX];
	size_t	 mlen;

	mlen = signed_message(m, label, a, alen, b, blen);
	crypto_sign_detached(sig, NULL, m, mlen, sk);
}

/* Check an Ed25519 signature over label || a || b: 0 if it verifies. */
static int
verify_parts(const uint8_t sig[64], const uint8_t pk[32], const char *label,
    const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	uint8_t	 m[SIGNED_MAX];
	size_t	 mlen;

	mlen = signed_message(m, label, a, alen, b, blen);
	if (crypto_sign_verify_detached(sig, m, mlen, pk) != 0)
		return (-1);
	return (0);
}

/* Build and sign a credential. */
void
cred_make(uint8_t out[CRED_LEN], const struct keys *k,
    const uint8_t id[ID_LEN], const uint8_t identity_pk[32],
    uint64_t created, uint64_t expires)
{
	out[0] = 1;
	memcpy(out + 1, id, ID_LEN);
	memcpy(out + 1 + ID_LEN, identity_pk, 32);
	put_u64(out + 65, created);
	put_u64(out + 73, expires);
	sign_parts(out + CRED_SIGNED, k->sign_sk, LABEL_CRED, out,
	    CRED_SIGNED, NULL, 0);
}

/* Parse a credential and check the server's signature over it. */
int
cred_verify(const uint8_t *p, size_t len, const uint8_t sign_pk[32],
    struct cred *c)
{
	if (len != CRED_LEN || p[0] != 1)
		return (-1);
	if (verify_parts(p + CRED_SIGNED, sign_pk, LABEL_CRED, p,
	    CRED_SIGNED, NULL, 0) != 0)
		return (-1);
	if (c != NULL) {
		c->version = p[0];
		memcpy(c->id, p + 1, ID_LEN);
		memcpy(c->identity_pk, p + 1 + ID_LEN, 32);
		c->created = get_u64(p + 65);
		c->expires = get_u64(p + 73);
	}
	return (0);
}

/* Sign a HELLO with the identity key. */
void
hello_sign(uint8_t sig[64], const uint8_t identity_sk[64],
    const uint8_t nonce[32], const uint8_t cred[CRED_LEN])
{
	sign_parts(sig, identity_sk, LABEL_HELLO, nonce, 32, cred, CRED_LEN);
}

/* Check a HELLO signature: 0 if it verifies. */
int
hello_verify(const uint8_t sig[64], const uint8_t identity_pk[32],
    const uint8_t nonce[32], const uint8_t cred[CRED_LEN])
{
	return (verify_parts(sig, identity_pk, LABEL_HELLO, nonce, 32, cred,
	    CRED_LEN));
}

/* Sign the TLS key's hash for CHALLENGE with the signing key. */
void
tls_sig_make(uint8_t sig[64], const struct keys *k, const uint8_t nonce[32],
    const uint8_t spki_hash[32])
{
	sign_parts(sig, k->sign_sk, LABEL_TLS, nonce, 32, spki_hash, 32);
}

/* Check CHALLENGE's tls_sig: 0 if it verifies. */
int
tls_sig_verify(const uint8_t sig[64], const uint8_t sign_pk[32],
    const uint8_t nonce[32], const uint8_t spki_hash[32])
{
	return (verify_parts(sig, sign_pk, LABEL_TLS, nonce, 32, spki_hash,
	    32));
}

/* 1 if pk is a canonical Ed25519 point of the main subgroup. */
int
identity_pk_valid(const uint8_t pk[32])
{
	return (crypto_core_ed25519_is_valid_point(pk) == 1);
}

/* Seal a registration token under subkey 3 with a random nonce. */
void
token_seal(uint8_t out[TOKEN_LEN], const struct keys *k,
    const uint8_t id[ID_LEN], const char *code, uint64_t expires_ms)
{
	uint8_t	 plain[TOKEN_PLAIN];

	memset(plain, 0, sizeof plain);
	memcpy(plain, id, ID_LEN);
	memcpy(plain + ID_LEN, code, strnlen(code, TOKEN_CODE));
	put_u64(plain + ID_LEN + TOKEN_CODE, expires_ms);

	randombytes_buf(out, TOKEN_NONCE);
	crypto_secretbox_easy(out + TOKEN_NONCE, plain, sizeof plain, out,
	    k->token_key);
	sodium_memzero(plain, sizeof plain);
}

/* Copy a code field out if it is 1..8 digits then only NULs. */
static int
token_code(const uint8_t f[TOKEN_CODE], char code[TOKEN_CODE + 1])
{
	size_t	 n, i;

	for (n = 0; n < TOKEN_CODE && f[n] >= '0' && f[n] <= '9'; n++)
		;
	if (n == 0)
		return (-1);
	for (i = n; i < TOKEN_CODE; i++) {
		if (f[i] != 0)
			return (-1);
	}
	memcpy(code, f, n);
	code[n] = '\0';
	return (0);
}

/* Open a registration token. */
int
token_open(const uint8_t *tok, size_t len, const struct keys *k,
    uint8_t id[ID_LEN], char code[TOKEN_CODE + 1], uint64_t *expires_ms,
    uint8_t nonce[TOKEN_NONCE])
{
	uint8_t	 plain[TOKEN_PLAIN];
	int	 rv = -1;

	if (len != TOKEN_LEN)
		return (-1);
	if (crypto_secretbox_open_easy(plain, tok + TOKEN_NONCE,
	    len - TOKEN_NONCE, tok, k->token_key) != 0)
		goto out;
	if (token_code(plain + ID_LEN, code) != 0)
		goto out;
	memcpy(id, plain, ID_LEN);
	*expires_ms = get_u64(plain + ID_LEN + TOKEN_CODE);
	memcpy(nonce, tok, TOKEN_NONCE);
	rv = 0;
out:
	sodium_memzero(plain, sizeof plain);
	return (rv);
}
