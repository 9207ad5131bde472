/*
 * test-ratelimit.c -- windows, the discovery bucket of §5.3, and the hash
 * table behind presence and the per-address counters.
 */
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

int
main(void)
{
	Suite	*s = suite_create("ratelimit");
	TCase	*tc = tcase_create("ratelimit");

	if (sodium_init() < 0)
		return (1);
	tcase_add_test(tc, test_window);
	tcase_add_test(tc, test_bucket);
	tcase_add_test(tc, test_table);
	suite_add_tcase(s, tc);
	return (unit_run(s));
}
