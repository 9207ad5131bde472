/*
 * fuzz.h -- what the fuzz targets, their driver and make-corpus share: the
 * entry point of libFuzzer, and the fixed keys that the targets and the
 * seeds they are fuzzed from must agree on.
 */
#ifndef TRYST_FUZZ_H
#define TRYST_FUZZ_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

/* The test master key: MASTER_KEY_LEN bytes of this value. */
#define FUZZ_MASTER_BYTE	0x5a
/* Another master key: what it signs must not verify under the first. */
#define FUZZ_OTHER_BYTE		0xa5
/* Noise static and ephemeral secret keys: 32 bytes of each value. */
#define FUZZ_INIT_S		0x11
#define FUZZ_INIT_E		0x22
#define FUZZ_RESP_S		0x33
#define FUZZ_RESP_E		0x44
#define FUZZ_PROLOGUE		"tryst-p2p-v1 fuzz prologue"
/* The nonce of the tokens the token target seals itself. */
#define FUZZ_TOKEN_NONCE	0x66
/* The seed of the identity key that signs HELLOs in the token seeds. */
#define FUZZ_IDENTITY_SEED	0x77
/* The HELLO nonce of the token target: 32 bytes of this value. */
#define FUZZ_HELLO_NONCE	0x88
/* The OPRF blind of the oprf target: 32 bytes of this (a scalar < L). */
#define FUZZ_BLIND_BYTE		0x07

/* Modes: the first byte of a token, noise or oprf input picks one. */
enum {
	TOKEN_RAW = 0,		/* token_open of the rest */
	TOKEN_SEALED = 1,	/* the rest is the plaintext, sealed here */
	TOKEN_CRED = 2,		/* cred_verify of the rest */
	TOKEN_HELLO = 3,	/* identity_pk || hello sig || credential */
	TOKEN_NMODES
};
enum {
	NOISE_MSG1 = 0,		/* the responder reads message 1 */
	NOISE_MSG2 = 1,		/* the initiator reads message 2 */
	NOISE_MSG3 = 2,		/* the responder reads message 3 */
	NOISE_TRANSPORT = 3,	/* the responder decrypts a message */
	NOISE_NMODES
};
enum {
	OPRF_EVAL = 0,		/* BlindEvaluate of a client's element */
	OPRF_FINAL = 1,		/* Finalize: evaluated element || input */
	OPRF_ROUND = 2,		/* Blind, BlindEvaluate, Finalize input */
	OPRF_NMODES
};

/* A handshake between two fixed parties, stopped at every step. */
struct fuzz_noise {
	struct noise_hs	 resp0;		/* responder, nothing read yet */
	struct noise_hs	 init1;		/* initiator, message 1 written */
	struct noise_hs	 resp2;		/* responder, message 2 written */
	uint8_t		 init_s_pk[32];
	uint8_t		 msg1[64];
	uint8_t		 msg2[128];
	uint8_t		 msg3[128];
	size_t		 len1, len2, len3;
	struct noise_cipher init_tx;	/* after the handshake */
	struct noise_cipher resp_rx;
};

/* The entry point libFuzzer calls, and driver.c. */
int	 LLVMFuzzerTestOneInput(const uint8_t *, size_t);

/* fixtures.c: the keys of FUZZ_MASTER_BYTE (or FUZZ_OTHER_BYTE), made
 * once, never freed. */
const struct keys *fuzz_keys(int other);
/* fixtures.c: the fixed handshake, made once. */
const struct fuzz_noise *fuzz_noise(void);
/* fixtures.c: seal a 48-byte token plaintext with the fixed nonce. */
void	 fuzz_token_seal(uint8_t tok[TOKEN_LEN], const uint8_t *plain);

#endif
