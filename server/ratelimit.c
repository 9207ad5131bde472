/*
 * ratelimit.c -- the arithmetic of the limits of PROTOCOL.md §8, with no
 * clocks or sockets, so that it can be tested alone.
 */
#include <netinet/in.h>
#include <string.h>

#include "server.h"

#define DAY	86400ULL

/* Count a hit in a fixed window. */
int
rl_hit(struct rlwin *w, uint64_t window, long long limit)
{
	if (w->window != window) {
		w->window = window;
		w->count = 0;
	}
	w->count++;
	return (w->count <= limit ? 0 : -1);
}

/* Tokens in a discovery bucket now, after the refills of each midnight
 * since day. */
long long
rl_bucket_now(long long tokens, uint64_t day, uint64_t now, long long full,
    long long refill)
{
	uint64_t	 today = now / DAY, days;

	if (today <= day)
		return (tokens < full ? tokens : full);
	days = today - day;
	if (days > (uint64_t)full)	/* no overflow; full is reached */
		return (full);
	tokens += (long long)days * refill;
	return (tokens < full ? tokens : full);
}

/* Seconds until the midnight at which the bucket holds count tokens. */
uint64_t
rl_bucket_retry(long long count, long long tokens, uint64_t now,
    long long refill)
{
	uint64_t	 next = DAY - now % DAY;
	long long	 missing = count - tokens, days;

	if (missing <= 0)
		return (0);
	days = (missing + refill - 1) / refill;
	return (next + (uint64_t)(days - 1) * DAY);
}

/* The per-address key: an IPv4 address, or the /64 of an IPv6 one. */
void
rl_addr_key(const struct sockaddr *sa, uint8_t key[16])
{
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)sa;
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)sa;

	memset(key, 0, 16);
	if (sa->sa_family == AF_INET) {
		memcpy(key + 12, &s4->sin_addr, 4);
		return;
	}
	if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		memcpy(key + 12, s6->sin6_addr.s6_addr + 12, 4);
		return;
	}
	memcpy(key, &s6->sin6_addr, 8);
	key[15] = 6;	/* never equal to an IPv4 key */
}
