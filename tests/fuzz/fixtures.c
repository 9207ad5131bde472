/*
 * fixtures.c -- the fixed keys and the fixed Noise handshake that the
 * token, noise and oprf targets work against, and make-corpus builds
 * their seeds with. Each is made on first use and kept for the process,
 * so that an input costs only the parsing under test.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fuzz.h"

/* Die: a fixture that cannot be made is a broken build. */
static void
fixture_fail(const char *what)
{
	fatalx("fuzz fixture: %s", what);
}

/* The keys of a master key of one repeated byte. */
static struct keys *
keys_of(uint8_t b)
{
	uint8_t		 master[MASTER_KEY_LEN];
	struct keys	*k;

	if (sodium_init() < 0)
		fixture_fail("sodium_init");
	memset(master, b, sizeof master);
	if ((k = keys_derive(master)) == NULL)
		fixture_fail("keys_derive");
	sodium_memzero(master, sizeof master);
	return (k);
}

/* The test keys, or with other the second set. */
const struct keys *
fuzz_keys(int other)
{
	static struct keys	*k[2];
	int			 i = other != 0;

	if (k[i] == NULL)
		k[i] = keys_of(i ? FUZZ_OTHER_BYTE : FUZZ_MASTER_BYTE);
	return (k[i]);
}

/* Seal plain (48 bytes: id, code, expires_ms) as token_seal would, but
 * with the fixed nonce. */
void
fuzz_token_seal(uint8_t tok[TOKEN_LEN], const uint8_t *plain)
{
	const struct keys	*k = fuzz_keys(0);

	memset(tok, FUZZ_TOKEN_NONCE, TOKEN_NONCE);
	crypto_secretbox_easy(tok + TOKEN_NONCE, plain,
	    TOKEN_LEN - TOKEN_NONCE - crypto_secretbox_MACBYTES, tok,
	    k->token_key);
}

/* Start one side of the handshake with its fixed keys. */
static void
noise_side(struct noise_hs *hs, int initiator)
{
	uint8_t	 s[32], e[32];

	memset(s, initiator ? FUZZ_INIT_S : FUZZ_RESP_S, sizeof s);
	memset(e, initiator ? FUZZ_INIT_E : FUZZ_RESP_E, sizeof e);
	noise_hs_init(hs, initiator, (const uint8_t *)FUZZ_PROLOGUE,
	    strlen(FUZZ_PROLOGUE), s, e);
}

/* Write a handshake message with no payload into buf; its length. */
static size_t
noise_out(struct noise_hs *hs, uint8_t *buf, size_t len)
{
	long	 n;

	if ((n = noise_hs_write(hs, NULL, 0, buf, len)) < 0)
		fixture_fail("noise_hs_write");
	return ((size_t)n);
}

/* Read a handshake message that must be accepted. */
static void
noise_in(struct noise_hs *hs, const uint8_t *msg, size_t len)
{
	uint8_t	 payload[64];

	if (noise_hs_read(hs, msg, len, payload, sizeof payload) != 0)
		fixture_fail("noise_hs_read");
}

/* Run the fixed handshake once, keeping each step. */
static void
noise_make(struct fuzz_noise *fn)
{
	struct noise_hs		 ini, res;
	struct noise_cipher	 unused_rx, unused_tx;
	uint8_t			 hash[NOISE_HASH];

	noise_side(&ini, 1);
	noise_side(&res, 0);
	memcpy(fn->init_s_pk, ini.s_pk, sizeof fn->init_s_pk);
	fn->resp0 = res;
	fn->len1 = noise_out(&ini, fn->msg1, sizeof fn->msg1);
	fn->init1 = ini;
	noise_in(&res, fn->msg1, fn->len1);
	fn->len2 = noise_out(&res, fn->msg2, sizeof fn->msg2);
	fn->resp2 = res;
	noise_in(&ini, fn->msg2, fn->len2);
	fn->len3 = noise_out(&ini, fn->msg3, sizeof fn->msg3);
	noise_in(&res, fn->msg3, fn->len3);
	noise_hs_split(&ini, &fn->init_tx, &unused_rx, hash);
	noise_hs_split(&res, &unused_tx, &fn->resp_rx, hash);
}

/* The fixed handshake. */
const struct fuzz_noise *
fuzz_noise(void)
{
	static struct fuzz_noise	*fn;

	if (fn == NULL) {
		if (sodium_init() < 0)
			fixture_fail("sodium_init");
		fn = xcalloc(1, sizeof *fn);
		noise_make(fn);
	}
	return (fn);
}
