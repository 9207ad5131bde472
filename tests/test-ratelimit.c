/*
 * test-ratelimit.c -- windows, token buckets (refill, cap, a clock that
 * goes back, huge gaps, overflow), address and prefix keys, the discovery
 * bucket of §5.3, the relay's daily budget (the seconds to the next UTC
 * day, and when a session charges Redis), and the hash table behind
 * presence and the counters.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <limits.h>
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <sodium.h>

#include "server.h"
#include "unit.h"

#define DAY	86400ULL

START_TEST(test_window)
{
	struct rlwin	 w = { 0, 0 };
	int		 i;

	for (i = 0; i < 5; i++)
		ck_assert_int_eq(rl_hit(&w, 100, 5), 0);
	ck_assert_int_eq(rl_hit(&w, 100, 5), -1);
	ck_assert_int_eq(rl_hit(&w, 100, 5), -1);
	ck_assert_int_eq(rl_hit(&w, 101, 5), 0);	/* new window */
	ck_assert_int_eq(w.count, 1);
}
END_TEST

START_TEST(test_bucket)
{
	uint64_t	 now = 20000 * DAY + 3600;

	/* Same day: no refill, and never above full. */
	ck_assert_int_eq(rl_bucket_now(10, 20000, now, 2000, 100), 10);
	ck_assert_int_eq(rl_bucket_now(5000, 20000, now, 2000, 100), 2000);
	/* Three midnights later: three refills. */
	ck_assert_int_eq(rl_bucket_now(10, 19997, now, 2000, 100), 310);
	ck_assert_int_eq(rl_bucket_now(10, 1, now, 2000, 100), 2000);
	/* §5.3: next midnight + (ceil(missing / refill) - 1) days. */
	ck_assert_uint_eq(rl_bucket_retry(50, 10, now, 100), DAY - 3600);
	ck_assert_uint_eq(rl_bucket_retry(110, 10, now, 100), DAY - 3600);
	ck_assert_uint_eq(rl_bucket_retry(111, 10, now, 100),
	    2 * DAY - 3600);
	ck_assert_uint_eq(rl_bucket_retry(1024, 0, now, 100),
	    11 * DAY - 3600);
	ck_assert_uint_eq(rl_bucket_retry(5, 10, now, 100), 0);
}
END_TEST

#define T0	1700000000000ULL	/* a wall clock in ms */
#define HOUR_MS	3600000ULL

START_TEST(test_token_refill)
{
	struct rlbucket	 b = { 0, 0 };
	struct rlrate	 r;
	int		 i;

	/* 3600 an hour: one a second, 100 at once. */
	rl_rate_set(&r, 3600, HOUR_MS, 100);
	ck_assert(rl_full(&b, &r, T0));		/* zeroed: full */
	ck_assert_uint_eq(rl_tokens(&b, &r, T0), 100);
	for (i = 0; i < 100; i++)
		ck_assert_int_eq(rl_take(&b, &r, T0, 1), 0);
	ck_assert_int_eq(rl_take(&b, &r, T0, 1), -1);
	ck_assert_uint_eq(rl_wait_s(&b, &r, 1), 1);
	ck_assert_uint_eq(rl_wait_s(&b, &r, 10), 10);
	/* Continuous: 999 ms is not a token, 1000 ms is, 2500 ms two. */
	ck_assert_int_eq(rl_take(&b, &r, T0 + 999, 1), -1);
	ck_assert_uint_eq(rl_wait_s(&b, &r, 1), 1);	/* 1 ms: rounded up */
	ck_assert_int_eq(rl_take(&b, &r, T0 + 1000, 1), 0);
	ck_assert_int_eq(rl_take(&b, &r, T0 + 1000, 1), -1);
	ck_assert_uint_eq(rl_tokens(&b, &r, T0 + 3500), 2);
	ck_assert_int_eq(rl_take(&b, &r, T0 + 3500, 2), 0);
	ck_assert_uint_eq(rl_tokens(&b, &r, T0 + 3500), 0);
	/* The half token left over counts: 500 ms more make one. */
	ck_assert_uint_eq(rl_tokens(&b, &r, T0 + 4000), 1);
	/* A refusal takes nothing. */
	ck_assert_int_eq(rl_take(&b, &r, T0 + 4000, 2), -1);
	ck_assert_uint_eq(rl_tokens(&b, &r, T0 + 4000), 1);
	ck_assert(!rl_full(&b, &r, T0 + 4000));
	ck_assert_uint_eq(rl_wait_s(&b, &r, 0), 0);
	ck_assert_uint_eq(rl_wait_s(&b, &r, 1), 0);
}
END_TEST

START_TEST(test_token_cap)
{
	struct rlbucket	 b = { 0, 0 };
	struct rlrate	 r;

	/* 10 an hour, 3 at once: one every 6 minutes, never above 3. */
	rl_rate_set(&r, 10, HOUR_MS, 3);
	ck_assert_int_eq(rl_take(&b, &r, T0, 3), 0);
	ck_assert_int_eq(rl_take(&b, &r, T0, 1), -1);
	ck_assert_uint_eq(rl_wait_s(&b, &r, 1), 360);
	ck_assert_uint_eq(rl_wait_s(&b, &r, 3), 1080);
	ck_assert_uint_eq(rl_tokens(&b, &r, T0 + 359999), 0);
	ck_assert_uint_eq(rl_tokens(&b, &r, T0 + 360000), 1);
	ck_assert_uint_eq(rl_tokens(&b, &r, T0 + 5 * HOUR_MS), 3);
	ck_assert(rl_full(&b, &r, T0 + 5 * HOUR_MS));
	/* More than the burst is never there, and waits until full. */
	ck_assert_int_eq(rl_take(&b, &r, T0 + 5 * HOUR_MS, 4), -1);
	ck_assert_uint_eq(rl_tokens(&b, &r, T0 + 5 * HOUR_MS), 3);
	ck_assert_int_eq(rl_take(&b, &r, T0 + 5 * HOUR_MS, 2), 0);
	ck_assert_uint_eq(rl_wait_s(&b, &r, 4), 720);
	/* A lowered burst (a reload) cuts a fuller bucket down. */
	rl_rate_set(&r, 10, HOUR_MS, 3);
	ck_assert_int_eq(rl_take(&b, &r, T0 + 6 * HOUR_MS, 3), 0);
	rl_rate_set(&r, 10, HOUR_MS, 100);
	ck_assert_uint_eq(rl_tokens(&b, &r, T0 + 100 * HOUR_MS), 100);
	rl_rate_set(&r, 10, HOUR_MS, 2);
	ck_assert_uint_eq(rl_tokens(&b, &r, T0 + 100 * HOUR_MS), 2);
	/* Values below 1 count as 1. */
	rl_rate_set(&r, 0, 0, -5);
	ck_assert_uint_eq(r.rate, 1);
	ck_assert_uint_eq(r.period_ms, 1);
	ck_assert_uint_eq(r.burst, 1);
}
END_TEST

START_TEST(test_token_clock_back)
{
	struct rlbucket	 b = { 0, 0 };
	struct rlrate	 r;

	rl_rate_set(&r, 3600, HOUR_MS, 10);
	ck_assert_int_eq(rl_take(&b, &r, T0, 10), 0);
	/* An hour back: nothing refills, nothing is lost... */
	ck_assert_uint_eq(rl_tokens(&b, &r, T0 - HOUR_MS), 0);
	ck_assert_int_eq(rl_take(&b, &r, T0 - HOUR_MS, 1), -1);
	/* ... and the refill goes on from the earlier time, not from the
	 * later one: a second after it, a token. */
	ck_assert_uint_eq(rl_tokens(&b, &r, T0 - HOUR_MS + 1000), 1);
	ck_assert_int_eq(rl_take(&b, &r, T0 - HOUR_MS + 1000, 1), 0);
	/* Back to 1 ms after the epoch: still no refill, no wrap. */
	ck_assert_uint_eq(rl_tokens(&b, &r, 1), 0);
	ck_assert_uint_eq(rl_tokens(&b, &r, 2001), 2);
	/* And forward again by decades: full, not more. */
	ck_assert_uint_eq(rl_tokens(&b, &r, T0 * 2), 10);
}
END_TEST

START_TEST(test_token_overflow)
{
	struct rlbucket	 b = { 0, 0 };
	struct rlrate	 r;
	uint64_t	 t;

	/* The largest settings: 10^7 an hour, all at once. */
	rl_rate_set(&r, 10000000, HOUR_MS, 10000000);
	ck_assert_int_eq(rl_take(&b, &r, 1, 10000000), 0);
	ck_assert_uint_eq(rl_tokens(&b, &r, 1), 0);
	/* A gap of the whole clock: full, no wrap. */
	ck_assert_uint_eq(rl_tokens(&b, &r, UINT64_MAX), 10000000);
	ck_assert_int_eq(rl_take(&b, &r, UINT64_MAX, 10000000), 0);
	ck_assert_int_eq(rl_take(&b, &r, UINT64_MAX, 1), -1);
	ck_assert_uint_eq(rl_wait_s(&b, &r, 10000000), 3600);
	/* Rates and bursts beyond any setting are cut, not wrapped. */
	rl_rate_set(&r, LLONG_MAX, UINT64_MAX / 2, LLONG_MAX);
	ck_assert_uint_ge(r.rate, 1);
	ck_assert_uint_ge(r.burst, 1);
	ck_assert(r.burst <= UINT64_MAX / 4 / r.period_ms);
	ck_assert(r.rate <= UINT64_MAX / 4 / r.period_ms);
	memset(&b, 0, sizeof b);
	ck_assert_int_eq(rl_take(&b, &r, 5, r.burst), 0);
	ck_assert_uint_eq(rl_tokens(&b, &r, UINT64_MAX), r.burst);
	/* A take of more than a uint64_t of units: refused, no wrap. */
	ck_assert_int_eq(rl_take(&b, &r, UINT64_MAX, UINT64_MAX), -1);
	ck_assert_uint_eq(rl_tokens(&b, &r, UINT64_MAX), r.burst);
	/* One a day in ms steps: every gap up to a day adds the right
	 * amount, none wraps. */
	rl_rate_set(&r, 1, 86400000ULL, 1);
	memset(&b, 0, sizeof b);
	ck_assert_int_eq(rl_take(&b, &r, T0, 1), 0);
	for (t = 1; t < 86400000ULL; t *= 3)
		ck_assert_uint_eq(rl_tokens(&b, &r, T0 + t), 0);
	ck_assert_uint_eq(rl_tokens(&b, &r, T0 + 86400000ULL), 1);
}
END_TEST

START_TEST(test_code_burst)
{
	/* A tenth of the hour, at least 10, at most the hour. */
	ck_assert_int_eq(rl_code_burst(1000), 100);
	ck_assert_int_eq(rl_code_burst(10000000), 1000000);
	ck_assert_int_eq(rl_code_burst(100), 10);
	ck_assert_int_eq(rl_code_burst(50), 10);
	ck_assert_int_eq(rl_code_burst(10), 10);
	ck_assert_int_eq(rl_code_burst(3), 3);
	ck_assert_int_eq(rl_code_burst(1), 1);
}
END_TEST

/* The address and prefix keys of text. */
static void
keys_of(const char *text, uint8_t addr[16], uint8_t prefix[16])
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*s4 = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)&ss;

	memset(&ss, 0, sizeof ss);
	if (inet_pton(AF_INET, text, &s4->sin_addr) == 1)
		s4->sin_family = AF_INET;
	else {
		ck_assert_int_eq(inet_pton(AF_INET6, text, &s6->sin6_addr), 1);
		s6->sin6_family = AF_INET6;
	}
	rl_addr_key((struct sockaddr *)&ss, addr);
	rl_prefix_key((struct sockaddr *)&ss, prefix);
}

START_TEST(test_prefix_key)
{
	uint8_t	 a[6][16], p[6][16];

	keys_of("192.0.2.1", a[0], p[0]);
	keys_of("192.0.2.200", a[1], p[1]);
	keys_of("192.0.3.1", a[2], p[2]);
	keys_of("::ffff:192.0.2.7", a[3], p[3]);
	keys_of("2001:db8:1:2::1", a[4], p[4]);
	keys_of("2001:db8:1:ff00::1", a[5], p[5]);
	/* One /24: two addresses, one prefix (IPv4-mapped too). */
	ck_assert_mem_ne(a[0], a[1], 16);
	ck_assert_mem_eq(p[0], p[1], 16);
	ck_assert_mem_eq(p[0], p[3], 16);
	ck_assert_mem_ne(p[0], p[2], 16);
	/* One /48: two /64s, one prefix. */
	ck_assert_mem_ne(a[4], a[5], 16);
	ck_assert_mem_eq(p[4], p[5], 16);
	ck_assert_mem_ne(p[4], p[0], 16);
	/* A prefix key is never an address key. */
	ck_assert_uint_eq(p[0][11], 0xff);
	ck_assert_uint_eq(p[4][11], 0xff);
	ck_assert_uint_eq(a[0][11], 0);
	ck_assert_uint_eq(a[4][11], 0);
	keys_of("2001:db8:2::1", a[5], p[5]);
	ck_assert_mem_ne(p[4], p[5], 16);
}
END_TEST

static void
count_each(const uint8_t *key, void *value, void *arg)
{
	*(size_t *)arg += (uintptr_t)value;
}

static void
del_each(const uint8_t *key, void *value, void *arg)
{
	table_del(arg, key);
}

START_TEST(test_table)
{
	struct table	*t = table_new(32);
	uint8_t		 key[32];
	size_t		 i, sum = 0;

	for (i = 1; i <= 1000; i++) {
		memset(key, 0, sizeof key);
		memcpy(key, &i, sizeof i);
		table_set(t, key, (void *)i);
	}
	ck_assert_uint_eq(table_count(t), 1000);
	for (i = 1; i <= 1000; i++) {
		memset(key, 0, sizeof key);
		memcpy(key, &i, sizeof i);
		ck_assert_ptr_eq(table_get(t, key), (void *)i);
	}
	memset(key, 0, sizeof key);
	i = 500;
	memcpy(key, &i, sizeof i);
	ck_assert_ptr_eq(table_del(t, key), (void *)500);
	ck_assert_ptr_null(table_get(t, key));
	ck_assert_ptr_null(table_del(t, key));
	table_each(t, count_each, &sum);
	ck_assert_uint_eq(sum, 1000 * 1001 / 2 - 500);
	table_each(t, del_each, t);
	ck_assert_uint_eq(table_count(t), 0);
	table_free(t);
}
END_TEST

/* Every second of two days and their edges: 1 to 86400 seconds, to the
 * next midnight exactly. */
START_TEST(test_day_left)
{
	uint64_t	 day0 = 20000, t, left, bad = 0;

	/* One assertion for all: Check records a point at each. */
	for (t = day0 * DAY; t < (day0 + 2) * DAY; t++) {
		left = rl_day_left_s(t);
		if (left < 1 || left > DAY || (t + left) % DAY != 0 ||
		    (t + left) / DAY != t / DAY + 1)
			bad++;
	}
	ck_assert_uint_eq(bad, 0);
	ck_assert_uint_eq(rl_day_left_s(0), DAY);
	ck_assert_uint_eq(rl_day_left_s(day0 * DAY - 1), 1);
	ck_assert_uint_eq(rl_day_left_s(day0 * DAY + 3600), DAY - 3600);
}
END_TEST

/* One session's view of a party's budget, step by step: what Redis said
 * at the join, a batch in flight, its answer, a failure, the end. */
START_TEST(test_spend_steps)
{
	struct rlspend	 s;
	const uint64_t	 day = 20000, budget = 10000, batch = 1000;

	memset(&s, 0, sizeof s);
	ck_assert_uint_eq(rl_spend_left(&s, day, budget), budget);
	rl_spend_seen(&s, day, 4000);		/* the join's GET */
	ck_assert_uint_eq(rl_spend_left(&s, day, budget), 6000);
	rl_spend_add(&s, 999);
	ck_assert_uint_eq(rl_spend_flush(&s, batch, 0), 0);	/* < batch */
	ck_assert_uint_eq(rl_spend_left(&s, day, budget), 5001);
	rl_spend_add(&s, 1);
	ck_assert_uint_eq(rl_spend_flush(&s, batch, 0), 1000);
	ck_assert_uint_eq(rl_spend_left(&s, day, budget), 5000);
	rl_spend_add(&s, 1500);
	/* One INCRBY in flight at a time. */
	ck_assert_uint_eq(rl_spend_flush(&s, batch, 0), 0);
	ck_assert_uint_eq(rl_spend_left(&s, day, budget), 3500);
	/* Another session of the account added 2000 meanwhile. */
	rl_spend_settle(&s, 1000, 1, day, 7000);
	ck_assert_uint_eq(s.flushing, 0);
	ck_assert_uint_eq(rl_spend_left(&s, day, budget), 1500);
	ck_assert_uint_eq(rl_spend_flush(&s, batch, 0), 1500);
	rl_spend_settle(&s, 1500, 0, day, 0);	/* Redis failed */
	ck_assert_uint_eq(s.unflushed, 1500);
	ck_assert_uint_eq(rl_spend_left(&s, day, budget), 1500);
	rl_spend_add(&s, 1500);
	ck_assert_uint_eq(rl_spend_left(&s, day, budget), 0);
	rl_spend_add(&s, 7);			/* never below 0 */
	ck_assert_uint_eq(rl_spend_left(&s, day, budget), 0);
	/* The end sends everything, even with an INCRBY in flight. */
	ck_assert_uint_eq(rl_spend_flush(&s, batch, 0), 3007);
	rl_spend_add(&s, 5);
	ck_assert_uint_eq(rl_spend_flush(&s, batch, 1), 5);
	ck_assert_uint_eq(rl_spend_flush(&s, batch, 1), 0);
	ck_assert_uint_eq(s.flushing, 3012);
	/* Over the budget in Redis: nothing left. */
	rl_spend_settle(&s, 3012, 1, day, 12000);
	ck_assert_uint_eq(rl_spend_left(&s, day, budget), 0);
}
END_TEST

/* A new UTC day: the old day's count no longer counts, what was not yet
 * sent does (it goes to the new day's key); a budget of a byte. */
START_TEST(test_spend_midnight)
{
	struct rlspend	 s;

	memset(&s, 0, sizeof s);
	rl_spend_seen(&s, 20000, 10000);
	ck_assert_uint_eq(rl_spend_left(&s, 20000, 10000), 0);
	ck_assert_uint_eq(rl_spend_left(&s, 20001, 10000), 10000);
	rl_spend_add(&s, 300);
	ck_assert_uint_eq(rl_spend_left(&s, 20001, 10000), 9700);
	ck_assert_uint_eq(rl_spend_flush(&s, 100, 0), 300);
	ck_assert_uint_eq(rl_spend_left(&s, 20001, 10000), 9700);
	rl_spend_settle(&s, 300, 1, 20001, 300);
	ck_assert_uint_eq(rl_spend_left(&s, 20001, 10000), 9700);
	memset(&s, 0, sizeof s);
	ck_assert_uint_eq(rl_spend_left(&s, 1, 1), 1);
	rl_spend_add(&s, 1);
	ck_assert_uint_eq(rl_spend_left(&s, 1, 1), 0);
}
END_TEST

/*
 * Every session of four sends of 0 to 5 bytes, budgets 1 to 12, batches
 * 1 to 4, with Redis answering each INCRBY at once or one send later:
 * the party never sends more than left allows, left is exactly what the
 * budget minus the bytes sent is, at most one INCRBY is in flight before
 * the end, and at the end Redis holds every byte sent.
 */
START_TEST(test_spend_all)
{
	uint64_t	 budget, batch, seq, x, n, sent, redis, left;
	uint64_t	 inflight, bad = 0, sessions = 0;
	struct rlspend	 s;
	int		 lag, i;

	/* Failures are counted, not asserted one by one: Check records a
	 * point at each assertion, which would take seconds here. */

	for (budget = 1; budget <= 12; budget++)
	for (batch = 1; batch <= 4; batch++)
	for (lag = 0; lag <= 1; lag++)
	for (seq = 0; seq < 6 * 6 * 6 * 6; seq++) {
		memset(&s, 0, sizeof s);
		rl_spend_seen(&s, 7, 0);
		sent = redis = inflight = 0;
		sessions++;
		for (x = seq, i = 0; i < 4; i++, x /= 6) {
			left = rl_spend_left(&s, 7, budget);
			bad += left != (budget > sent ? budget - sent : 0);
			n = x % 6 < left ? x % 6 : left;
			rl_spend_add(&s, n);
			sent += n;
			/* With lag, the answer to the last step's INCRBY
			 * comes after this step's flush. */
			if ((n = rl_spend_flush(&s, batch, 0)) > 0)
				bad += inflight != 0 || n < batch;
			if (!lag)
				inflight = n;
			if (inflight > 0) {
				redis += inflight;
				rl_spend_settle(&s, inflight, 1, 7, redis);
			}
			inflight = lag ? n : 0;
		}
		redis += inflight + rl_spend_flush(&s, batch, 1);
		bad += sent > budget || redis != sent || s.unflushed != 0;
	}
	ck_assert_uint_eq(bad, 0);
	ck_assert_uint_eq(sessions, 12 * 4 * 2 * 6 * 6 * 6 * 6);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("ratelimit");
	TCase	*tc = tcase_create("ratelimit");

	if (sodium_init() < 0)
		return (1);
	tcase_add_test(tc, test_window);
	tcase_add_test(tc, test_bucket);
	tcase_add_test(tc, test_token_refill);
	tcase_add_test(tc, test_token_cap);
	tcase_add_test(tc, test_token_clock_back);
	tcase_add_test(tc, test_token_overflow);
	tcase_add_test(tc, test_code_burst);
	tcase_add_test(tc, test_prefix_key);
	tcase_add_test(tc, test_day_left);
	tcase_add_test(tc, test_spend_steps);
	tcase_add_test(tc, test_spend_midnight);
	tcase_add_test(tc, test_spend_all);
	tcase_add_test(tc, test_table);
	suite_add_tcase(s, tc);
	return (unit_run(s));
}
