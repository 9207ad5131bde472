/*
 * fuzz-oprf.c -- the OPRF (common/oprf.c): the server evaluates elements
 * that clients send (OPRF_EVAL), and clients finalize what the server
 * sends back. The first byte picks the mode (fuzz.h). An element must be
 * accepted exactly when RFC 9497's DeserializeElement would (a canonical
 * ristretto255 encoding, not the identity), and for any input, Blind,
 * BlindEvaluate and Finalize must agree with Evaluate.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fuzz.h"

/* RFC 9497 §2.1: DeserializeElement succeeds. RFC 9496 §4.3.1 wants the
 * top bit clear, which libsodium 1.0.18's check ignores. */
static int
spec_element(const uint8_t e[OPRF_ELEM])
{
	return (!sodium_is_zero(e, OPRF_ELEM) &&
	    (e[OPRF_ELEM - 1] & 0x80) == 0 &&
	    crypto_core_ristretto255_is_valid_point(e) == 1);
}

/* BlindEvaluate of a client's element. */
static void
mode_eval(const uint8_t *p, size_t len)
{
	uint8_t	 ev[OPRF_ELEM];
	int	 rc;

	if (len < OPRF_ELEM)
		return;
	rc = oprf_blind_evaluate(ev, fuzz_keys(0)->oprf_sk, p);
	if ((rc == 0) != spec_element(p))
		abort();
	if (rc == 0 && !spec_element(ev))
		abort();
}

/* Finalize of an evaluated element (the first 32 bytes) and input. */
static void
mode_final(const uint8_t *p, size_t len)
{
	uint8_t	 blind[OPRF_SCALAR], out[OPRF_OUT];
	int	 rc;

	if (len < OPRF_ELEM)
		return;
	memset(blind, FUZZ_BLIND_BYTE, sizeof blind);
	rc = oprf_finalize(out, p + OPRF_ELEM, len - OPRF_ELEM, blind, p);
	if ((rc == 0) != spec_element(p))
		abort();
}

/* The whole protocol on input must give what Evaluate gives. */
static void
mode_round(const uint8_t *p, size_t len)
{
	uint8_t		 fixed[OPRF_SCALAR], blind[OPRF_SCALAR];
	uint8_t		 blinded[OPRF_ELEM], ev[OPRF_ELEM];
	uint8_t		 out[OPRF_OUT], want[OPRF_OUT];
	const uint8_t	*sk = fuzz_keys(0)->oprf_sk;

	if (len > UINT16_MAX)
		return;		/* inputs carry a u16 length */
	memset(fixed, FUZZ_BLIND_BYTE, sizeof fixed);
	if (oprf_blind(blind, blinded, p, len, fixed) != 0 ||
	    oprf_blind_evaluate(ev, sk, blinded) != 0 ||
	    oprf_finalize(out, p, len, blind, ev) != 0 ||
	    oprf_evaluate(want, sk, p, len) != 0)
		abort();
	if (memcmp(out, want, sizeof out) != 0)
		abort();
}

/* Dispatch on the mode byte. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	if (size < 1)
		return (0);
	switch (data[0] % OPRF_NMODES) {
	case OPRF_EVAL:
		mode_eval(data + 1, size - 1);
		break;
	case OPRF_FINAL:
		mode_final(data + 1, size - 1);
		break;
	default:
		mode_round(data + 1, size - 1);
		break;
	}
	return (0);
}
