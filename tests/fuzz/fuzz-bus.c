/*
 * fuzz-bus.c -- the messages between nodes (server/buswire.c). A message
 * that opens was sealed with the bus key, but that key is shared by every
 * node and a bug in one must not crash another: so the input is taken as
 * a plaintext, sealed here under a fixed key, and opened. Whatever opens
 * must seal again to a message that opens to the same fields.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fuzz.h"
#include "server.h"

static const uint8_t	 key[32] = { 9, 8, 7 };

/* Seal data (a plaintext) under key, open it, and check a round trip. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	static uint8_t	 box[BUS_SEALED_MAX + 64], plain[BUS_SEALED_MAX];
	static uint8_t	 again[BUS_SEALED_MAX], plain2[BUS_SEALED_MAX];
	struct bus_msg	 m, m2;
	size_t		 n;

	if (size > BUS_SEALED_MAX || sodium_init() < 0)
		return (0);
	memset(box, 0, crypto_secretbox_NONCEBYTES);
	crypto_secretbox_easy(box + crypto_secretbox_NONCEBYTES, data, size,
	    box, key);
	if (bus_open(box, crypto_secretbox_NONCEBYTES +
	    crypto_secretbox_MACBYTES + size, key, plain, &m) != 0)
		return (0);
	if (m.type < BUS_RING || m.type >= BUS_NTYPES ||
	    strlen(m.from) > NODE_NAME_MAX || strlen(m.relay) >
	    PROTO_MAX_RELAY || m.data.len > PROTO_MAX_OFFER)
		abort();
	if ((n = bus_seal(&m, key, again, sizeof again)) == 0 ||
	    n != 1 + crypto_secretbox_NONCEBYTES + crypto_secretbox_MACBYTES +
	    size)
		abort();
	if (bus_open(again + 1, n - 1, key, plain2, &m2) != 0 ||
	    m2.type != m.type || m2.session != m.session ||
	    m2.time_ms != m.time_ms || strcmp(m2.from, m.from) != 0 ||
	    strcmp(m2.relay, m.relay) != 0 || m2.code != m.code ||
	    m2.data.len != m.data.len ||
	    (m.data.len > 0 && memcmp(m2.data.p, m.data.p, m.data.len) != 0) ||
	    memcmp(m2.cred, m.cred, sizeof m.cred) != 0)
		abort();
	return (0);
}
