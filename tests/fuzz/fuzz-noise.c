/*
 * fuzz-noise.c -- the Noise handshake and transport (common/noise.c),
 * which read whatever the other party of a session sends (PROTOCOL.md
 * §6.3). The first byte picks the step (fuzz.h): message 1, 2 or 3 read
 * by a party of a fixed handshake stopped just before it, or a transport
 * message after it. A message that is refused must not move the
 * handshake on; one that is accepted must let it go on, and only a
 * genuine message 3 can complete it.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fuzz.h"

/* After message 1, the responder's message 2 fails exactly when the
 * initiator's e is of low order (no shared secret); later ones never. */
static void
check_write(struct noise_hs *hs, const struct noise_hs *start,
    const uint8_t *msg)
{
	uint8_t	 out[256], dh[32];
	int	 low = 0;

	if (start->step == 0)
		low = crypto_scalarmult(dh, start->fixed_e, msg) != 0;
	if ((noise_hs_write(hs, NULL, 0, out, sizeof out) < 0) != low)
		abort();
}

/* Read msg into a copy of start; check the state it leaves. */
static void
read_step(const struct noise_hs *start, const uint8_t *msg, size_t len)
{
	struct noise_hs		 hs = *start;
	struct noise_cipher	 tx, rx;
	uint8_t			*payload, hash[NOISE_HASH];
	size_t			 cap = len > 0 ? len : 1;
	long			 n;

	if ((payload = malloc(cap)) == NULL)
		abort();
	n = noise_hs_read(&hs, msg, len, payload, cap);
	free(payload);
	if (n < 0) {
		if ((hs.step != start->step && hs.step != -1) ||
		    noise_hs_done(&hs))
			abort();
		return;
	}
	if ((size_t)n >= len || hs.step != start->step + 1)
		abort();
	if (hs.step < 3)
		check_write(&hs, start, msg);
	else if (memcmp(noise_hs_remote_static(&hs),
	    fuzz_noise()->init_s_pk, 32) != 0)
		abort();
	noise_hs_split(&hs, &tx, &rx, hash);
}

/* Decrypt a transport message with the responder's receiving cipher. */
static void
transport(const uint8_t *ct, size_t len)
{
	struct noise_cipher	 rx = fuzz_noise()->resp_rx;
	uint8_t			*pt;
	size_t			 cap = len > NOISE_TAG ? len - NOISE_TAG : 1;
	long			 n;

	if ((pt = malloc(cap)) == NULL)
		abort();
	n = noise_decrypt(&rx, ct, len, pt, cap);
	free(pt);
	if (n < 0) {
		if (rx.n != fuzz_noise()->resp_rx.n)
			abort();
		return;
	}
	if ((size_t)n + NOISE_TAG != len || rx.n != fuzz_noise()->resp_rx.n + 1)
		abort();
}

/* Dispatch on the step byte. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	const struct fuzz_noise	*fn = fuzz_noise();

	if (size < 1)
		return (0);
	switch (data[0] % NOISE_NMODES) {
	case NOISE_MSG1:
		read_step(&fn->resp0, data + 1, size - 1);
		break;
	case NOISE_MSG2:
		read_step(&fn->init1, data + 1, size - 1);
		break;
	case NOISE_MSG3:
		read_step(&fn->resp2, data + 1, size - 1);
		break;
	default:
		transport(data + 1, size - 1);
		break;
	}
	return (0);
}
