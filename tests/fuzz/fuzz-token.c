/*
 * fuzz-token.c -- what common/cred.c opens and verifies for peers:
 * registration tokens (REGISTER_FINISH), credentials (HELLO, INCOMING,
 * ANSWER) and HELLO signatures, under a fixed test master key. The first
 * byte picks the mode (fuzz.h); the rest is the token, credential or
 * plaintext. Forgeries must be refused; a token sealed here from the
 * fuzzer's plaintext must open exactly when its code field is 1 to 8
 * digits then NULs, and give back what was sealed.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fuzz.h"

#define PLAIN_LEN	(ID_LEN + TOKEN_CODE + 8)

/* 1 if a code field is 1..8 digits followed only by NULs. */
static int
spec_code(const uint8_t *f)
{
	size_t	 n = 0, i;

	while (n < TOKEN_CODE && f[n] >= '0' && f[n] <= '9')
		n++;
	if (n == 0)
		return (0);
	for (i = n; i < TOKEN_CODE; i++) {
		if (f[i] != 0)
			return (0);
	}
	return (1);
}

/* Check a code token_open gave back: 1..8 digits. */
static void
check_code(const char *code)
{
	size_t	 n = strlen(code), i;

	if (n < 1 || n > TOKEN_CODE)
		abort();
	for (i = 0; i < n; i++) {
		if (code[i] < '0' || code[i] > '9')
			abort();
	}
}

/* token_open of raw bytes: only a real token (a seed) may open. */
static void
mode_raw(const uint8_t *p, size_t len)
{
	uint8_t		 id[ID_LEN], nonce[TOKEN_NONCE];
	char		 code[TOKEN_CODE + 1];
	uint64_t	 exp;

	if (token_open(p, len, fuzz_keys(0), id, code, &exp, nonce) != 0)
		return;
	if (len != TOKEN_LEN || memcmp(nonce, p, TOKEN_NONCE) != 0)
		abort();
	check_code(code);
	if (token_open(p, len, fuzz_keys(1), id, code, &exp, nonce) == 0)
		abort();
}

/* Seal the fuzzer's plaintext and open it again. */
static void
mode_sealed(const uint8_t *p, size_t len)
{
	uint8_t		 plain[PLAIN_LEN], tok[TOKEN_LEN];
	uint8_t		 id[ID_LEN], nonce[TOKEN_NONCE];
	char		 code[TOKEN_CODE + 1];
	uint64_t	 exp;
	int		 rc;

	memset(plain, 0, sizeof plain);
	memcpy(plain, p, len < sizeof plain ? len : sizeof plain);
	fuzz_token_seal(tok, plain);
	rc = token_open(tok, sizeof tok, fuzz_keys(0), id, code, &exp, nonce);
	if ((rc == 0) != spec_code(plain + ID_LEN))
		abort();
	if (rc == 0 && (memcmp(id, plain, ID_LEN) != 0 ||
	    strncmp(code, (const char *)plain + ID_LEN, TOKEN_CODE) != 0 ||
	    exp != get_u64(plain + ID_LEN + TOKEN_CODE) ||
	    memcmp(nonce, tok, TOKEN_NONCE) != 0))
		abort();
	tok[TOKEN_LEN - 1 - (len % TOKEN_LEN)] ^= 0x01;
	if (token_open(tok, sizeof tok, fuzz_keys(0), id, code, &exp,
	    nonce) == 0)
		abort();
	if (token_open(tok, sizeof tok - 1, fuzz_keys(0), id, code, &exp,
	    nonce) == 0)
		abort();
}

/* cred_verify of raw bytes: what verifies must read back as laid out,
 * and never under another server's key. */
static void
mode_cred(const uint8_t *p, size_t len)
{
	struct cred	 c;

	if (cred_verify(p, len, fuzz_keys(0)->sign_pk, &c) != 0)
		return;
	if (len != CRED_LEN || c.version != 1 ||
	    memcmp(c.id, p + 1, ID_LEN) != 0 ||
	    memcmp(c.identity_pk, p + 1 + ID_LEN, 32) != 0 ||
	    c.created != get_u64(p + 65) || c.expires != get_u64(p + 73))
		abort();
	if (cred_verify(p, len, fuzz_keys(1)->sign_pk, &c) == 0)
		abort();
}

/* identity_pk:32 sig:64 credential:145 -- a HELLO's parts. A signature
 * that verifies must not verify for another nonce. */
static void
mode_hello(const uint8_t *p, size_t len)
{
	uint8_t	 nonce[32];

	if (len < 32 + 64 + CRED_LEN)
		return;
	memset(nonce, FUZZ_HELLO_NONCE, sizeof nonce);
	(void)identity_pk_valid(p);
	if (hello_verify(p + 32, p, nonce, p + 96) != 0)
		return;
	nonce[0] ^= 1;
	if (hello_verify(p + 32, p, nonce, p + 96) == 0)
		abort();
}

/* Dispatch on the mode byte. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return (0);
	switch (data[0] % TOKEN_NMODES) {
	case TOKEN_RAW:
		mode_raw(data + 1, size - 1);
		break;
	case TOKEN_SEALED:
		mode_sealed(data + 1, size - 1);
		break;
	case TOKEN_CRED:
		mode_cred(data + 1, size - 1);
		break;
	default:
		mode_hello(data + 1, size - 1);
		break;
	}
	return (0);
}
