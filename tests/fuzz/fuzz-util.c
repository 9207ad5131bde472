/*
 * fuzz-util.c -- the decoders and the escaper of common/util.c and
 * common/log.c: hex (registration tokens in the pending file, the ID
 * cache), base64 (keys, credentials, contacts), and log_escape, which
 * every peer-supplied string goes through before a log line. Byte 0 is
 * the length to decode, byte 1 the room for the escaped text, the rest
 * the text. A decoding must survive encoding and decoding again; an
 * escape must fit its room, be terminated and be printable ASCII.
 */
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include "fuzz.h"

/* hex_decode; what decodes must encode to the same text, in lowercase. */
static void
check_hex(const char *text, size_t n)
{
	uint8_t	*bin = xmalloc(n > 0 ? n : 1);
	char	*hex;

	if (hex_decode(bin, n, text) == 0) {
		hex = xmalloc(2 * n + 1);
		hex_encode(hex, bin, n);
		if (strcasecmp(hex, text) != 0)
			abort();
		free(hex);
	}
	free(bin);
}

/* b64_decode; what decodes must encode to something that decodes to
 * the same bytes. */
static void
check_b64(const char *text, size_t n)
{
	uint8_t	*bin = xmalloc(n > 0 ? n : 1), *again;
	char	*b64;

	if (b64_decode(bin, n, text) == 0) {
		b64 = b64_encode(bin, n);
		again = xmalloc(n > 0 ? n : 1);
		if (b64_decode(again, n, b64) != 0 ||
		    memcmp(again, bin, n) != 0)
			abort();
		free(again);
		free(b64);
	}
	free(bin);
}

/* log_escape into exactly room bytes. */
static void
check_escape(const uint8_t *p, size_t len, size_t room)
{
	char	*dst = xmalloc(room > 0 ? room : 1);
	size_t	 i, n;

	log_escape(dst, room, p, len);
	if (room > 0) {
		if ((n = strnlen(dst, room)) == room)
			abort();
		for (i = 0; i < n; i++) {
			if (dst[i] < 0x20 || dst[i] > 0x7e)
				abort();
		}
		if (len > 0 && room > 4 && n == 0)
			abort();
	}
	free(dst);
}

/* Decode and escape the input. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*text;

	if (size < 2)
		return (0);
	text = xmalloc(size - 1);
	memcpy(text, data + 2, size - 2);
	text[size - 2] = '\0';
	check_hex(text, data[0]);
	check_b64(text, data[0]);
	check_escape(data + 2, size - 2, data[1]);
	free(text);
	return (0);
}
