/*
 * fuzz-proto.c -- the wire codec (common/proto.c). The first byte is the
 * message type, the rest its body. What decodes must encode again to the
 * very same bytes, and that frame must decode again: the codec has one
 * description of each message for both ways, and this holds it to that.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"

/* Check the frame header decoder against the definition of len:u32. */
static void
check_frame_len(const uint8_t *data, size_t size)
{
	uint32_t	 want;

	if (size < PROTO_HDR)
		return;
	want = (uint32_t)data[0] << 24 | (uint32_t)data[1] << 16 |
	    (uint32_t)data[2] << 8 | data[3];
	if (proto_frame_len(data) != want)
		abort();
}

/* Encoding into exactly n bytes must give frame; into n - 1, nothing
 * (and no write past the end, which ASan would see). */
static void
check_tight(const struct msg *m, const uint8_t *frame, size_t n)
{
	uint8_t	*tight;

	if ((tight = malloc(n)) == NULL)
		abort();
	if (proto_encode(m, tight, n) != n || memcmp(tight, frame, n) != 0)
		abort();
	free(tight);
	if ((tight = malloc(n - 1)) == NULL)
		abort();
	if (proto_encode(m, tight, n - 1) != 0)
		abort();
	free(tight);
}

/* Encode m, which decoded from type and body[0..len); check the frame. */
static void
check_round_trip(const struct msg *m, uint8_t type, const uint8_t *body,
    size_t len)
{
	static uint8_t	 frame[PROTO_MAX_FRAME];
	struct msg	 again;
	size_t		 n;

	n = proto_encode(m, frame, sizeof frame);
	if (n == 0) {
		/* Only a body too long for any frame may fail to encode. */
		if (1 + len <= PROTO_MAX_LEN)
			abort();
		return;
	}
	if (n != PROTO_HDR + 1 + len || proto_frame_len(frame) != 1 + len ||
	    frame[PROTO_HDR] != type ||
	    memcmp(frame + PROTO_HDR + 1, body, len) != 0)
		abort();
	if (proto_decode_v(type, frame + PROTO_HDR + 1, len, m->version,
	    &again) != 0 || again.type != type)
		abort();
	check_tight(m, frame, n);
}

/* Decode type and body; what decodes must survive a round trip. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct msg	 m;
	int		 v;

	check_frame_len(data, size);
	if (size < 1)
		return (0);
	/* Each body as tryst/1 and as tryst/2 would read it. */
	for (v = 1; v <= 2; v++) {
		if (proto_decode_v(data[0], data + 1, size - 1, v, &m) != 0)
			continue;
		if (!proto_known(data[0]) || m.type != data[0] ||
		    m.version != v)
			abort();
		check_round_trip(&m, data[0], data + 1, size - 1);
	}
	return (0);
}
