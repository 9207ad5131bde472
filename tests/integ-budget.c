/*
 * integ-budget.c -- relay_account_daily_bytes on a trystd of its own:
 * a party that spends its budget in a session ends it as the session
 * quota would, Redis holds each account's count of the day under
 * rl:relay:{HEXID}:DAY until the day ends, and a later RELAY_JOIN of that
 * account is refused until 00:00 UTC, while the other party still joins.
 */
#include <sys/socket.h>

#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>
#include <hiredis/hiredis.h>

#include "harness.h"

#define N_BUDGET_A	"+15550100330"
#define N_BUDGET_B	"+15550100331"

#define DAY_S		86400LL
#define BUDGET		3145728		/* relay_account_daily_bytes */
#define BACK		524288		/* what the callee sends */

/* The key of id's relay count on day, as doc/protocol.md §7 names it. */
static void
count_key(char *key, size_t len, const uint8_t id[ID_LEN], long long day)
{
	char	 hex[2 * ID_LEN + 1];

	hex_encode(hex, id, ID_LEN);
	snprintf(key, len, "rl:relay:{%s}:%lld", hex, day);
}

/* Wait up to 5 s for id's relay count of day in H's Redis to be want
 * (the last charge of a session goes out as it ends, unanswered); the
 * key's TTL and expiry time are checked too. */
static void
expect_count(const uint8_t id[ID_LEN], long long day, long long want)
{
	redisContext	*rc = redisConnect("127.0.0.1", H.redis_port);
	redisReply	*r;
	char		 key[2 * ID_LEN + 40];
	long long	 got = -1, ttl;
	int		 i;

	ck_assert_msg(rc != NULL && rc->err == 0, "redis connect");
	count_key(key, sizeof key, id, day);
	for (i = 0; i < 100 && got != want; i++) {
		if (i > 0)
			h_msleep(50);
		r = redisCommand(rc, "GET %s", key);
		ck_assert_msg(r != NULL && (r->type == REDIS_REPLY_STRING ||
		    r->type == REDIS_REPLY_NIL), "GET %s", key);
		got = r->type == REDIS_REPLY_NIL ? 0 : atoll(r->str);
		freeReplyObject(r);
	}
	ck_assert_msg(got == want, "%s = %lld, want %lld", key, got, want);
	ttl = h_reply_int(rc, "TTL", key);
	ck_assert_msg(ttl > 0 && ttl <= DAY_S, "%s: TTL %lld", key, ttl);
	ck_assert_int_eq(h_reply_int(rc, "EXPIRETIME", key),
	    (day + 1) * DAY_S);
	redisFree(rc);
}

/* w writes until its data connection closes, r reads until its own
 * does; the bytes r got. */
static long long
send_until_closed(struct rconn *w, struct rconn *r)
{
	struct pollfd	 pfd[2];
	uint8_t		 buf[16384];
	long long	 got = 0;
	ssize_t		 n;
	int64_t		 t0 = h_mono_ms();
	int		 w_open = 1, r_open = 1;

	memset(buf, 0x5a, sizeof buf);
	while (w_open || r_open) {
		ck_assert_msg(h_mono_ms() - t0 < 20000, "still open after "
		    "20 s, %lld bytes read", got);
		if (w_open && h_raw_write(w, buf, sizeof buf) < 0)
			w_open = 0;
		while (r_open &&
		    (n = h_raw_read(r, buf, sizeof buf, 0)) != -1) {
			if (n == 0)
				r_open = 0;
			else
				got += n;
		}
		pfd[0].fd = h_raw_fd(w);
		pfd[0].events = w_open ? POLLOUT | POLLIN : 0;
		pfd[1].fd = h_raw_fd(r);
		pfd[1].events = r_open ? POLLIN : 0;
		poll(pfd, 2, 50);
	}
	return (got);
}

/* ENDED why=3 then ERROR QUOTA for session, with the budget's text. */
static void
expect_budget_end(struct hc *c, uint64_t session)
{
	struct msg	 m;

	h_expect_ended(c, session, 3);
	h_expect_error(c, ERR_QUOTA, MSG_RELAY_JOIN, &m);
	ck_assert_uint_eq(m.u.error.ref, session);
	ck_assert_uint_eq(m.u.error.retry_after_s, 0);
}

/* A RELAY_JOIN of session with token is refused as over the budget:
 * RATE_LIMITED until the next 00:00 UTC, and the connection closes. */
static void
expect_join_refused(const char *hostport, uint64_t session,
    const uint8_t token[16])
{
	struct rconn	*r = h_relay_join(hostport, session, token, 0);
	struct msg	 m;
	long long	 want;

	ck_assert_int_eq(h_raw_recv(r, &m, H_TIMEOUT_MS), 1);
	ck_assert_msg(m.type == MSG_ERROR, "expected ERROR, got %s",
	    proto_type_name(m.type));
	want = DAY_S - (long long)time(NULL) % DAY_S;
	ck_assert_int_eq(m.u.error.code, ERR_RATE_LIMITED);
	ck_assert_int_eq(m.u.error.ref_type, MSG_RELAY_JOIN);
	ck_assert_uint_eq(m.u.error.ref, session);
	ck_assert_msg(m.u.error.retry_after_s >= 1 &&
	    m.u.error.retry_after_s <= DAY_S &&
	    llabs((long long)m.u.error.retry_after_s - want) <= 2,
	    "retry_after_s %u, want %lld", m.u.error.retry_after_s, want);
	ck_assert_uint_eq(h_raw_expect_closed(r, H_TIMEOUT_MS), 0);
	h_raw_close(r);
}

/* A (the caller) relays past its budget of 3 MiB in one session while B
 * sends 512 KiB back: B reads exactly the budget, then the session ends
 * with ENDED 3 and QUOTA on both sides. Redis has both counts of today
 * (charged by sender), expiring at the day's end. A's next join is
 * refused until 00:00 UTC, twice (the session stays), while B's is
 * taken; a metric counts the end and both refusals. */
START_TEST(test_relay_budget)
{
	struct hproc	*p = h_proc_new("relay-budget");
	struct account	 a, b;
	struct hc	*ca, *cb;
	struct hcall	 call;
	struct rconn	*ra, *rb;
	struct msg	 m;
	uint8_t		*buf = xcalloc(1, BACK);
	long long	 day, at_a = 0;
	char		*conf;
	int		 port = h_proc_port(SOCK_STREAM);
	ssize_t		 n;

	xasprintf(&conf, "metrics_listen = 127.0.0.1:%d\n"
	    "relay_account_daily_bytes = %d\n"
	    "relay_session_bytes = 16777216\n", port, BUDGET);
	h_proc_conf(p, NULL, NULL, NULL, NULL, conf);
	free(conf);
	h_proc_start(p, NULL);
	h_proc_ready(p);
	h_register_at(p->hostport, N_BUDGET_A, &a);
	h_register_at(p->hostport, N_BUDGET_B, &b);
	cb = h_online_at(p->hostport, &b, HELLO_PRESENCE);
	ca = h_online_at(p->hostport, &a, 0);

	h_ring(ca, &a, cb, &b, 1, "offer", 5, &call);
	h_accept(ca, cb, &b, "answer", 6, &call);
	h_relay_pair(p->hostport, &call, 0, &ra, &rb);
	day = (long long)time(NULL) / DAY_S;
	h_raw_write_all(rb, buf, BACK);
	while (at_a < BACK) {
		ck_assert_int_gt(n = h_raw_read(ra, buf, BACK, H_TIMEOUT_MS),
		    0);
		at_a += n;
	}
	ck_assert_int_eq(at_a, BACK);
	ck_assert_int_eq(send_until_closed(ra, rb), BUDGET);
	expect_budget_end(ca, call.session);
	expect_budget_end(cb, call.session);
	expect_count(a.c.id, day, BUDGET);
	expect_count(b.c.id, day, BACK);

	h_ring(ca, &a, cb, &b, 2, "offer", 5, &call);
	h_accept(ca, cb, &b, "answer", 6, &call);
	rb = h_relay_join(p->hostport, call.session, call.token[1], 0);
	ck_assert_int_eq(h_raw_recv(rb, &m, 300), -1);	/* it waits */
	expect_join_refused(p->hostport, call.session, call.token[0]);
	expect_join_refused(p->hostport, call.session, call.token[0]);
	ck_assert_int_eq(h_raw_recv(rb, &m, 100), -1);	/* still waits */
	ck_assert_int_eq(h_metric_now(port, "tryst_rate_limited_total"
	    "{kind=\"relay_account_daily_bytes\"}"), 3);
	ck_assert_int_eq(h_metric_now(port, "tryst_rate_limited_total"
	    "{kind=\"relay_session_bytes\"}"), 0);
	/* Nothing but §7's keys, the two counts among them. */
	ck_assert_uint_ge(h_check_redis_keys(), 4);
	expect_count(a.c.id, day, BUDGET);
	h_ping(ca, 7);
	h_ping(cb, 8);
	free(buf);
}
END_TEST

/* relay_account_daily_bytes. */
TCase *
integ_budget_tcase(void)
{
	TCase	*tc = tcase_create("relay-budget");

	tcase_add_checked_fixture(tc, NULL, h_proc_teardown);
	tcase_add_test(tc, test_relay_budget);
	return (tc);
}
