/*
 * fuzz-stun.c -- the STUN responder (server/stun.c), which answers any
 * datagram from anyone. The input is the datagram, answered as if from a
 * fixed IPv4, IPv6 and IPv4-mapped source and from none. Every answer
 * must be a well-formed STUN message: a Binding success or error of the
 * request's transaction, its length field matching, its attributes
 * filling it exactly, a FINGERPRINT only last and correct, and never much
 * longer than the request (no amplification).
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "server.h"

#define HDR		20
#define COOKIE		0x2112a442U
#define FP_XOR		0x5354554eU
#define ATTR_FP		0x8028
#define SLACK		64	/* stun.c's bound on answer - request */

/* stun_answer never reads the clock; stun.c links against it. */
uint64_t
server_now_ms(void)
{
	return (0);
}

/* CRC-32 (IEEE 802.3), bit by bit. */
static uint32_t
crc32(const uint8_t *p, size_t len)
{
	uint32_t	 c = 0xffffffffU;
	size_t		 i;
	int		 k;

	for (i = 0; i < len; i++) {
		c ^= p[i];
		for (k = 0; k < 8; k++)
			c = c & 1 ? (c >> 1) ^ 0xedb88320U : c >> 1;
	}
	return (c ^ 0xffffffffU);
}

/* Check the attributes of an answer of n bytes. */
static void
check_attrs(const uint8_t *a, size_t n)
{
	size_t	 off = HDR, alen;

	while (off < n) {
		if (n - off < 4)
			abort();
		alen = get_u16(a + off + 2);
		if (get_u16(a + off) == ATTR_FP) {
			if (alen != 4 || off + 8 != n ||
			    get_u32(a + off + 4) != (crc32(a, off) ^ FP_XOR))
				abort();
		}
		off += 4 + ((alen + 3) & ~(size_t)3);
	}
	if (off != n)
		abort();
}

/* Check an answer of n bytes to req[0..len). */
static void
check_answer(const uint8_t *req, size_t len, const uint8_t *a, size_t n,
    size_t outlen)
{
	uint16_t	 type = get_u16(a);

	if (n < HDR || n > outlen || n % 4 != 0 || n > len + SLACK)
		abort();
	if (type != 0x0101 && type != 0x0111)
		abort();
	if (get_u16(a + 2) != n - HDR || memcmp(a + 4, req + 4, 16) != 0)
		abort();
	check_attrs(a, n);
}

/* Answer from one source; a tight buffer must get nothing. */
static void
answer_from(const uint8_t *data, size_t size, const struct sockaddr *sa)
{
	uint8_t	 out[512], *tight;
	size_t	 n;

	if ((n = stun_answer(data, size, sa, out, sizeof out)) == 0)
		return;
	check_answer(data, size, out, n, sizeof out);
	if ((tight = malloc(n)) == NULL)
		abort();
	if (stun_answer(data, size, sa, tight, n) != n ||
	    memcmp(tight, out, n) != 0)
		abort();
	if (stun_answer(data, size, sa, tight, n - 1) != 0)
		abort();
	free(tight);
}

/* Answer the datagram from each of the fixed sources. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct sockaddr_in	 s4;
	struct sockaddr_in6	 s6, mapped;

	memset(&s4, 0, sizeof s4);
	s4.sin_family = AF_INET;
	s4.sin_port = htons(32853);
	inet_pton(AF_INET, "192.0.2.1", &s4.sin_addr);
	memset(&s6, 0, sizeof s6);
	s6.sin6_family = AF_INET6;
	s6.sin6_port = htons(32853);
	mapped = s6;
	inet_pton(AF_INET6, "2001:db8:1234:5678:11:2233:4455:6677",
	    &s6.sin6_addr);
	inet_pton(AF_INET6, "::ffff:198.51.100.7", &mapped.sin6_addr);
	answer_from(data, size, (struct sockaddr *)&s4);
	answer_from(data, size, (struct sockaddr *)&s6);
	answer_from(data, size, (struct sockaddr *)&mapped);
	answer_from(data, size, NULL);
	return (0);
}
