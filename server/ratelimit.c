/*
 * ratelimit.c -- the arithmetic of the limits of PROTOCOL.md §8, with no
 * clocks or sockets, so that it can be tested alone: time is passed in.
 *
 * Token buckets hold their level in units of 1/period_ms of a token, so
 * that a refill of rate tokens per period_ms is rate units per millisecond
 * and needs no division or floating point; every product is bounded
 * before it is made (RL_UNITS_MAX), whatever the gap between two calls.
 */
#include <netinet/in.h>
#include <stdint.h>
#include <string.h>

#include "server.h"

#define DAY		86400ULL
#define RL_UNITS_MAX	(UINT64_MAX / 4)

/* Set a rate: rate tokens per period_ms, at most burst at once (each at
 * least 1; a burst too large to count is cut to what can be counted). */
void
rl_rate_set(struct rlrate *r, long long rate, uint64_t period_ms,
    long long burst)
{
	r->period_ms = period_ms > 0 ? period_ms : 1;
	if (r->period_ms > RL_UNITS_MAX)
		r->period_ms = RL_UNITS_MAX;
	r->rate = rate > 0 ? (uint64_t)rate : 1;
	r->burst = burst > 0 ? (uint64_t)burst : 1;
	if (r->rate > RL_UNITS_MAX / r->period_ms)
		r->rate = RL_UNITS_MAX / r->period_ms;
	if (r->burst > RL_UNITS_MAX / r->period_ms)
		r->burst = RL_UNITS_MAX / r->period_ms;
}

/* Bring b's level up to now_ms. A zeroed bucket is full; a clock that went
 * back refills nothing and restarts the count from the earlier time. */
static void
refill(struct rlbucket *b, const struct rlrate *r, uint64_t now_ms)
{
	uint64_t	 cap = r->burst * r->period_ms, need, gap;

	if (b->at_ms == 0 || b->level > cap) {
		b->level = cap;
		b->at_ms = now_ms;
		return;
	}
	if (now_ms <= b->at_ms) {
		b->at_ms = now_ms;
		return;
	}
	gap = now_ms - b->at_ms;
	b->at_ms = now_ms;
	need = cap - b->level;
	if (gap >= need / r->rate + 1)		/* gap * rate >= need */
		b->level = cap;
	else
		b->level += gap * r->rate;	/* < need: no overflow */
}

/* Whole tokens in b at now_ms. */
uint64_t
rl_tokens(struct rlbucket *b, const struct rlrate *r, uint64_t now_ms)
{
	refill(b, r, now_ms);
	return (b->level / r->period_ms);
}

/* 1 if b is full at now_ms (it may then be forgotten: a zeroed one is). */
int
rl_full(struct rlbucket *b, const struct rlrate *r, uint64_t now_ms)
{
	refill(b, r, now_ms);
	return (b->level == r->burst * r->period_ms);
}

/* 1 if b holds n tokens at now_ms; takes nothing. */
int
rl_has(struct rlbucket *b, const struct rlrate *r, uint64_t now_ms,
    uint64_t n)
{
	refill(b, r, now_ms);
	return (n <= r->burst && b->level >= n * r->period_ms);
}

/* Take n tokens at now_ms: 0, or -1 (and nothing taken) if b lacks them. */
int
rl_take(struct rlbucket *b, const struct rlrate *r, uint64_t now_ms,
    uint64_t n)
{
	if (!rl_has(b, r, now_ms, n))
		return (-1);
	b->level -= n * r->period_ms;
	return (0);
}

/* Whole seconds from b's last refill (the caller's last rl_has, rl_take
 * or rl_tokens) until it holds n tokens: 0 if it has them, else at least
 * 1. For n above the burst, the seconds until it is full. */
uint64_t
rl_wait_s(const struct rlbucket *b, const struct rlrate *r, uint64_t n)
{
	uint64_t	 want, ms;

	if (n > r->burst)
		n = r->burst;
	want = n * r->period_ms;
	if (b->at_ms == 0 || b->level >= want)
		return (0);
	ms = (want - b->level + r->rate - 1) / r->rate;
	return (ms / 1000 + (ms % 1000 != 0));
}

/* The burst of a code budget of per_hour: a tenth of the hour, but at
 * least 10 (or per_hour when that is less). Why: see register.c. */
long long
rl_code_burst(long long per_hour)
{
	long long	 tenth = per_hour / 10;

	if (tenth >= 10)
		return (tenth);
	return (per_hour < 10 ? per_hour : 10);
}

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

/* The per-prefix key: the /24 of an IPv4 address (also IPv4-mapped), or
 * the /48 of an IPv6 one. Byte 11 is 0xff, which no rl_addr_key has. */
void
rl_prefix_key(const struct sockaddr *sa, uint8_t key[16])
{
	rl_addr_key(sa, key);
	if (key[15] == 6)
		memset(key + 6, 0, 2);	/* keep the /48 */
	else
		key[15] = 4;		/* keep the /24 */
	key[11] = 0xff;
}

/* Seconds from now until the next 00:00 UTC: 1 to 86400. */
uint64_t
rl_day_left_s(uint64_t now)
{
	return (DAY - now % DAY);
}

/* Redis said the account's count of day is total (RELAY_JOIN's read, or
 * an INCRBY's answer). */
void
rl_spend_seen(struct rlspend *s, uint64_t day, uint64_t total)
{
	s->day = day;
	s->known = total;
}

/* Bytes the party may still send on day within budget: the count Redis
 * last gave for that day (none yet: 0), plus what is on its way there
 * and what is not sent yet, taken from the budget. An INCRBY in flight
 * across midnight counts against the new day too: at most a batch too
 * strict, for a moment. */
uint64_t
rl_spend_left(const struct rlspend *s, uint64_t day, uint64_t budget)
{
	uint64_t	 used = s->flushing;

	if (s->day == day)
		used += s->known;
	if (used >= budget || s->unflushed >= budget - used)
		return (0);
	return (budget - used - s->unflushed);
}

/* The party sent n bytes more. */
void
rl_spend_add(struct rlspend *s, uint64_t n)
{
	s->unflushed += n;
}

/* The bytes to send to Redis now, counted as on their way (0: none):
 * everything not sent yet when the session ends (last), else a batch
 * once batch bytes are waiting and no earlier INCRBY is unanswered, so
 * that a session has at most one in flight until its end. */
uint64_t
rl_spend_flush(struct rlspend *s, uint64_t batch, int last)
{
	uint64_t	 n = s->unflushed;

	if (n == 0 || (!last && (n < batch || s->flushing > 0)))
		return (0);
	s->unflushed = 0;
	s->flushing += n;
	return (n);
}

/* The INCRBY of n bytes on day answered total (ok), or failed: then the
 * bytes wait for the next flush. */
void
rl_spend_settle(struct rlspend *s, uint64_t n, int ok, uint64_t day,
    uint64_t total)
{
	if (n > s->flushing)
		n = s->flushing;
	s->flushing -= n;
	if (ok)
		rl_spend_seen(s, day, total);
	else
		s->unflushed += n;
}
