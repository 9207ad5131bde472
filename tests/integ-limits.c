/*
 * integ-limits.c -- limits of PROTOCOL.md §8 on the second trystd, which
 * runs with INTEG_LIMITS_CONF: call_timeout_s, max_offer_bytes,
 * connects_per_minute, relay_session_bytes, the discovery bucket and
 * max_batch; refusals that cost nothing once the bucket is known empty,
 * with a figure; the LOOKUP rate. And, on the first trystd, that a large
 * OPRF batch on the worker pool does not hold up other connections.
 */
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <sodium.h>

#include "harness.h"

#define N_TA		"+15550100221"
#define N_TB		"+15550100222"
#define N_RATE		"+15550100223"
#define N_QA		"+15550100224"
#define N_QB		"+15550100225"
#define N_DISC		"+15550100226"
#define N_WP1		"+15550100227"
#define N_WP2		"+15550100228"
#define N_WP3		"+15550100229"
#define N_INV		"+15550100230"
#define N_KS		"+15550100231"
#define N_COST		"+15550100232"
#define N_LK		"+15550100233"

#define QUOTA		1048576		/* relay_session_bytes */
#define DAY		86400

static struct account	 TA, TB, RT, QA, QB, DI, WP1, WP2, WP3, INV, KS, CO, LK;

/* Send END for session on c. */
static void
send_end(struct hc *c, uint64_t session)
{
	struct msg	 m;

	memset(&m, 0, sizeof m);
	m.type = MSG_END;
	m.u.end.session = session;
	h_send(c, &m);
}

/* An ERROR with code, ref_type and ref comes next on c. */
static void
expect_ref(struct hc *c, int code, uint8_t type, uint64_t ref,
    struct msg *out)
{
	struct msg	 m;

	h_expect_error(c, code, type, &m);
	ck_assert_uint_eq(m.u.error.ref, ref);
	if (out != NULL)
		*out = m;
}

START_TEST(test_call_timeout)
{
	struct hc	*a, *b;
	struct hcall	 s1, call;
	struct rconn	*lone;
	struct msg	 m;
	char		*why = NULL;
	int64_t		 t0, t;
	int		 r;

	h_account_once(N_TA, &TA);
	h_account_once(N_TB, &TB);
	b = h_online_at(H.hostport2, &TB, HELLO_PRESENCE);
	a = h_online_at(H.hostport2, &TA, 0);
	/* A session whose second party never joins the relay. */
	h_ring(a, &TA, b, &TB, 1, "o", 1, &s1);
	h_accept(a, b, &TB, "a", 1, &s1);
	lone = h_relay_join(H.hostport2, s1.session, s1.token[0], 0);
	t0 = h_mono_ms();
	h_ring(a, &TA, b, &TB, 2, "o", 1, &call);
	r = tconn_recv(a->tc, &m, 8000, &why);
	t = h_mono_ms() - t0;
	ck_assert_msg(r == 1, "no TIMEOUT within 8 s: %s", why);
	ck_assert_msg(m.type == MSG_ERROR && m.u.error.code == ERR_TIMEOUT,
	    "expected ERROR TIMEOUT, got %s %s", proto_type_name(m.type),
	    proto_err_name(m.u.error.code));
	ck_assert_uint_eq(m.u.error.ref_type, MSG_CONNECT);
	ck_assert_uint_eq(m.u.error.ref, 2);
	fprintf(stderr, "call timeout (call_timeout_s = 5) after %lld ms\n",
	    (long long)t);
	/* Deadlines are kept in ms and checked each second. */
	ck_assert_int_ge(t, 4990);
	ck_assert_int_le(t, 6500);
	h_expect_ended(b, call.session, 2);
	/* The lone relay joiner waited as long, then heard why and was
	 * closed. */
	ck_assert_int_eq(h_raw_recv(lone, &m, 2000), 1);
	ck_assert_msg(m.type == MSG_ERROR && m.u.error.code == ERR_TIMEOUT &&
	    m.u.error.ref_type == MSG_RELAY_JOIN &&
	    m.u.error.ref == s1.session, "lone joiner: %s %s",
	    proto_type_name(m.type), proto_err_name(m.u.error.code));
	ck_assert_uint_eq(h_raw_expect_closed(lone, 2000), 0);
	/* The session itself goes on. */
	send_end(b, s1.session);
	h_expect_ended(a, s1.session, 0);
}
END_TEST

START_TEST(test_offer_size)
{
	struct hc	*a, *b;
	struct hcall	 call;
	struct msg	 m;
	uint8_t		 big[129];

	h_account_once(N_TA, &TA);
	h_account_once(N_TB, &TB);
	b = h_open_at(H.hostport2);
	h_hello_raw(b, TB.cred, CRED_LEN, TB.sk, HELLO_PRESENCE, &m);
	ck_assert_uint_eq(m.type, MSG_WELCOME);
	ck_assert_uint_eq(m.u.welcome.max_batch, 8);
	ck_assert_uint_eq(m.u.welcome.max_offer_bytes, 128);
	a = h_online_at(H.hostport2, &TA, 0);
	randombytes_buf(big, sizeof big);
	h_connect(a, 3, TB.c.id, big, 129);
	expect_ref(a, ERR_TOO_LARGE, MSG_CONNECT, 3, NULL);
	h_ring(a, &TA, b, &TB, 4, big, 128, &call);
	memset(&m, 0, sizeof m);
	m.type = MSG_ACCEPT;
	m.u.accept.session = call.session;
	m.u.accept.answer.p = big;
	m.u.accept.answer.len = 129;
	h_send(b, &m);
	expect_ref(b, ERR_TOO_LARGE, MSG_ACCEPT, call.session, NULL);
	/* Still ringing: a smaller answer goes through. */
	h_accept(a, b, &TB, big, 128, &call);
	send_end(a, call.session);
	h_expect_ended(b, call.session, 0);
}
END_TEST

START_TEST(test_connect_rate)
{
	struct hc	*a;
	struct msg	 m;
	uint8_t		 nobody[ID_LEN];
	time_t		 now;
	uint32_t	 i, want;

	h_account_once(N_RATE, &RT);
	a = h_online_at(H.hostport2, &RT, 0);
	randombytes_buf(nobody, sizeof nobody);
	/* Keep the 21 CONNECTs inside one minute. */
	if ((now = time(NULL)) % 60 >= 57)
		sleep((unsigned)(61 - now % 60));
	for (i = 1; i <= 20; i++) {
		h_connect(a, i, nobody, "o", 1);
		expect_ref(a, ERR_OFFLINE, MSG_CONNECT, i, NULL);
	}
	h_connect(a, 21, nobody, "o", 1);
	expect_ref(a, ERR_RATE_LIMITED, MSG_CONNECT, 21, &m);
	want = (uint32_t)(60 - time(NULL) % 60);
	ck_assert_uint_ge(m.u.error.retry_after_s, 1);
	ck_assert_uint_le(m.u.error.retry_after_s, 60);
	ck_assert_msg(m.u.error.retry_after_s + 1 >= want &&
	    m.u.error.retry_after_s <= want + 1, "retry_after_s %u, want %u",
	    m.u.error.retry_after_s, want);
	/* Per account, not per connection. */
	a = h_online_at(H.hostport2, &RT, 0);
	h_connect(a, 22, nobody, "o", 1);
	expect_ref(a, ERR_RATE_LIMITED, MSG_CONNECT, 22, NULL);
}
END_TEST

/* Read what r has now; 1 if open, 0 if closed. */
static int
drain(struct rconn *r, uint64_t *count)
{
	uint8_t	 buf[65536];
	ssize_t	 n;

	while ((n = h_raw_read(r, buf, sizeof buf, 0)) > 0)
		*count += (uint64_t)n;
	return (n != 0);
}

/* ENDED 3, then ERROR QUOTA for the session, on a control connection. */
static void
expect_quota(struct hc *c, uint64_t session)
{
	h_expect_ended(c, session, 3);
	expect_ref(c, ERR_QUOTA, MSG_RELAY_JOIN, session, NULL);
}

/* w writes until its data connection closes, r reads until its own
 * does; the bytes r got. */
static uint64_t
write_until_closed(struct rconn *w, struct rconn *r)
{
	struct pollfd	 pfd[2];
	uint8_t		 buf[16384];
	uint64_t	 got = 0;
	int64_t		 t0 = h_mono_ms(), t_w = 0, t_r = 0;

	memset(buf, 0x33, sizeof buf);
	while (t_w == 0 || t_r == 0) {
		ck_assert_msg(h_mono_ms() - t0 < 10000, "no close after 10 s: "
		    "%llu bytes read", (unsigned long long)got);
		if (t_w == 0 && h_raw_write(w, buf, sizeof buf) < 0)
			t_w = h_mono_ms();
		if (t_r == 0 && !drain(r, &got))
			t_r = h_mono_ms();
		pfd[0].fd = h_raw_fd(w);
		pfd[0].events = t_w == 0 ? POLLOUT | POLLIN : 0;
		pfd[1].fd = h_raw_fd(r);
		pfd[1].events = t_r == 0 ? POLLIN : 0;
		poll(pfd, 2, 50);
	}
	fprintf(stderr, "relay quota: writer closed after %lld ms, reader "
	    "after %lld ms\n", (long long)(t_w - t0), (long long)(t_r - t0));
	/* Both close once the last bytes are out, not after a drain timer. */
	ck_assert_int_lt(t_w - t0, 2000);
	ck_assert_int_lt(t_r - t0, 2000);
	return (got);
}

START_TEST(test_relay_quota)
{
	struct hc	*a, *b;
	struct hcall	 call;
	struct rconn	*ra, *rb;
	uint8_t		*buf;
	uint64_t	 at_a = 0, back = 300000;
	ssize_t		 n;

	h_account_once(N_QA, &QA);
	h_account_once(N_QB, &QB);
	b = h_online_at(H.hostport2, &QB, HELLO_PRESENCE);
	a = h_online_at(H.hostport2, &QA, 0);
	h_ring(a, &QA, b, &QB, 5, "o", 1, &call);
	h_accept(a, b, &QB, "a", 1, &call);
	h_relay_pair(H.hostport2, &call, 0, &ra, &rb);
	/* Both directions count. */
	buf = xcalloc(1, back);
	h_raw_write_all(rb, buf, back);
	while (at_a < back) {
		n = h_raw_read(ra, buf, back, H_TIMEOUT_MS);
		ck_assert_int_gt(n, 0);
		at_a += (uint64_t)n;
	}
	free(buf);
	ck_assert_uint_eq(at_a, back);
	/* Exactly the rest of the quota gets through, then both close. */
	ck_assert_uint_eq(write_until_closed(ra, rb), QUOTA - back);
	expect_quota(a, call.session);
	expect_quota(b, call.session);
	/* The session is over: a late END is dropped. */
	send_end(a, call.session);
	h_ping(a, 40);
}
END_TEST

/* count random valid elements into el. */
static void
elements(uint8_t *el, size_t count)
{
	size_t	 i;

	for (i = 0; i < count; i++)
		crypto_core_ristretto255_random(el + 32 * i);
}

/* Send OPRF_EVAL of count elements on c. */
static void
send_eval(struct hc *c, const uint8_t *el, size_t count)
{
	struct msg	 m;

	memset(&m, 0, sizeof m);
	m.type = MSG_OPRF_EVAL;
	m.u.oprf.count = (uint16_t)count;
	m.u.oprf.elements = el;
	h_send(c, &m);
}

/* OPRF_RESULT for el, each element checked against the OPRF key. */
static void
expect_result(struct hc *c, const uint8_t *el, size_t count)
{
	struct msg	 m;
	uint8_t		 want[32];
	size_t		 i;

	h_recv(c, &m);
	ck_assert_msg(m.type == MSG_OPRF_RESULT, "expected OPRF_RESULT, got "
	    "%s %s", proto_type_name(m.type), m.type == MSG_ERROR ?
	    proto_err_name(m.u.error.code) : "");
	ck_assert_uint_eq(m.u.oprf.count, count);
	for (i = 0; i < count; i++) {
		ck_assert_int_eq(oprf_blind_evaluate(want, H.keys->oprf_sk,
		    el + 32 * i), 0);
		ck_assert_mem_eq(m.u.oprf.elements + 32 * i, want, 32);
	}
}

/* RATE_LIMITED with §5.3's retry_after_s for count, tokens, refill 1. */
static void
expect_bucket(struct hc *c, long long count, long long tokens)
{
	struct msg	 m;
	long long	 now, want;

	h_expect_error(c, ERR_RATE_LIMITED, MSG_OPRF_EVAL, &m);
	now = (long long)time(NULL);
	want = (DAY - now % DAY) + (count - tokens - 1) * DAY;
	ck_assert_msg(llabs((long long)m.u.error.retry_after_s - want) <= 2,
	    "retry_after_s %u, want %lld", m.u.error.retry_after_s, want);
}

START_TEST(test_discovery_limit)
{
	struct hc	*c;
	uint8_t		 el[32 * 9];

	h_account_once(N_DISC, &DI);
	c = h_online_at(H.hostport2, &DI, 0);
	elements(el, 9);
	send_eval(c, el, 8);
	expect_result(c, el, 8);
	/* 2 tokens left: 8 more is refused whole, and costs nothing. */
	send_eval(c, el, 8);
	expect_bucket(c, 8, 2);
	send_eval(c, el, 3);
	expect_bucket(c, 3, 2);
	send_eval(c, el, 9);
	h_expect_error(c, ERR_TOO_LARGE, MSG_OPRF_EVAL, NULL);
	send_eval(c, el + 32, 2);
	expect_result(c, el + 32, 2);
	send_eval(c, el, 1);
	expect_bucket(c, 1, 0);
	h_ping(c, 41);
}
END_TEST

START_TEST(test_discovery_invalid)
{
	struct hc	*c;
	uint8_t		 el[32], *big = xcalloc(1024, 32);

	/* Accounts apart: the two trystds' buckets differ in size. */
	h_account_once(N_INV, &INV);
	h_account_once(N_WP3, &WP3);
	/* Not a canonical encoding (inline, on the second trystd). */
	memset(el, 0xff, sizeof el);
	c = h_online_at(H.hostport2, &INV, 0);
	send_eval(c, el, 1);
	h_expect_error(c, ERR_MALFORMED, MSG_OPRF_EVAL, NULL);
	h_expect_closed(c);
	/* A refused batch cost nothing: the whole bucket (10) is left, for
	 * a batch that has 7 good elements and a bad one, then for 8 + 2. */
	c = h_online_at(H.hostport2, &INV, 0);
	elements(big, 10);
	memset(big + 32 * 7, 0xff, 32);
	send_eval(c, big, 8);
	h_expect_error(c, ERR_MALFORMED, MSG_OPRF_EVAL, NULL);
	h_expect_closed(c);
	c = h_online_at(H.hostport2, &INV, 0);
	elements(big, 10);
	send_eval(c, big, 8);
	expect_result(c, big, 8);
	send_eval(c, big + 32 * 8, 2);
	expect_result(c, big + 32 * 8, 2);
	/* Over budget and invalid: MALFORMED (§2: the body before limits). */
	send_eval(c, el, 1);
	h_expect_error(c, ERR_MALFORMED, MSG_OPRF_EVAL, NULL);
	h_expect_closed(c);
	/* The identity (zeros), last in a batch for the worker pool. */
	c = h_online(&WP3, 0);
	elements(big, 1023);
	send_eval(c, big, 1024);
	free(big);
	h_expect_error(c, ERR_MALFORMED, MSG_OPRF_EVAL, NULL);
	h_expect_closed(c);
}
END_TEST

START_TEST(test_discovery_known_spent)
{
	struct hc	*c, *c2;
	uint8_t		 el[32 * 8], bad[32 * 8];

	h_account_once(N_KS, &KS);
	c = h_online_at(H.hostport2, &KS, 0);
	elements(el, 8);
	send_eval(c, el, 8);
	expect_result(c, el, 8);
	send_eval(c, el, 2);
	expect_result(c, el, 2);
	/* The first refusal comes from the bucket in Redis... */
	send_eval(c, el, 1);
	expect_bucket(c, 1, 0);
	/* ... and from then until 00:00 UTC this node knows the bucket is
	 * empty: a batch is refused before its elements are checked, so an
	 * invalid one is RATE_LIMITED too, and the connection stays. */
	elements(bad, 8);
	memset(bad + 32 * 3, 0xff, 32);
	send_eval(c, bad, 8);
	expect_bucket(c, 8, 0);
	h_ping(c, 42);
	/* Per account on this node, not per connection. */
	c2 = h_online_at(H.hostport2, &KS, 0);
	send_eval(c2, bad, 1);
	expect_bucket(c2, 1, 0);
	h_ping(c2, 43);
}
END_TEST

/* User and system CPU seconds of pid so far. */
static double
cpu_s(pid_t pid)
{
	char	 path[64], *buf, *p, *why = NULL;
	unsigned long long ut = 0, st = 0;
	int	 i;

	snprintf(path, sizeof path, "/proc/%d/stat", (int)pid);
	if ((buf = file_read_small(path, 4096, NULL, &why)) == NULL) {
		free(why);
		return (0);
	}
	/* Fields 14 and 15, counted after the ")" that ends field 2. */
	p = strrchr(buf, ')');
	for (i = 2; p != NULL && i < 14; i++)
		p = strchr(p + 1, ' ');
	if (p != NULL)
		sscanf(p + 1, "%llu %llu", &ut, &st);
	free(buf);
	return ((double)(ut + st) / (double)sysconf(_SC_CLK_TCK));
}

#define NREFUSE	200

START_TEST(test_discovery_refusal_cost)
{
	struct hproc	*p;
	struct hc	*c;
	struct msg	 m;
	uint8_t		*el = xmalloc(32 * 1024);
	int64_t		 t0, t;
	double		 cpu0, cpu;
	int		 i;

	/* Batches of 1024, as in the field, and a bucket of one batch. */
	p = h_proc_up("oprfcost", NULL, NULL, "discovery_bucket = 1024\n"
	    "max_batch = 1024\ndiscovery_refill_per_day = 1\n");
	h_account_once(N_COST, &CO);
	c = h_online_at(p->hostport, &CO, 0);
	elements(el, 1024);
	send_eval(c, el, 1024);
	expect_result(c, el, 1024);
	send_eval(c, el, 1);
	expect_bucket(c, 1, 0);
	/* Valid elements: before the fix, each refusal checked them all. */
	t0 = h_mono_ms();
	cpu0 = cpu_s(p->pid);
	for (i = 0; i < NREFUSE; i++)
		send_eval(c, el, 1024);
	for (i = 0; i < NREFUSE; i++) {
		h_recv(c, &m);
		ck_assert_msg(m.type == MSG_ERROR &&
		    m.u.error.code == ERR_RATE_LIMITED, "refusal %d: %s %s", i,
		    proto_type_name(m.type), m.type == MSG_ERROR ?
		    proto_err_name(m.u.error.code) : "");
	}
	t = h_mono_ms() - t0;
	cpu = cpu_s(p->pid) - cpu0;
	free(el);
	fprintf(stderr, "OPRF_EVAL refusals of 1024 elements: %d in %lld ms "
	    "(%.0f/s), trystd CPU %.1f us per refusal\n", NREFUSE,
	    (long long)t, t > 0 ? NREFUSE * 1000.0 / (double)t : 0.0,
	    cpu * 1e6 / NREFUSE);
	h_ping(c, 44);
	h_proc_stop_all();
}
END_TEST

START_TEST(test_lookup_rate)
{
	struct hproc	*p;
	struct hc	*c, *c2;
	struct msg	 m;
	uint8_t		 ids[32 * 8];
	int		 i;

	/* 16 IDs a minute: one every 3.75 s, 16 at once. */
	p = h_proc_up("lookups", NULL, NULL, "lookups_per_minute = 16\n"
	    "max_batch = 8\n");
	h_account_once(N_LK, &LK);
	c = h_online_at(p->hostport, &LK, 0);
	randombytes_buf(ids, sizeof ids);
	for (i = 0; i < 2; i++) {
		memset(&m, 0, sizeof m);
		m.type = MSG_LOOKUP;
		m.u.lookup.count = 8;
		m.u.lookup.ids = ids;
		h_send(c, &m);
		h_recv(c, &m);
		ck_assert_uint_eq(m.type, MSG_LOOKUP_RESULT);
	}
	memset(&m, 0, sizeof m);
	m.type = MSG_LOOKUP;
	m.u.lookup.count = 2;
	m.u.lookup.ids = ids;
	h_send(c, &m);
	h_expect_error(c, ERR_RATE_LIMITED, MSG_LOOKUP, &m);
	/* Two IDs come back in 7.5 s. */
	ck_assert_uint_ge(m.u.error.retry_after_s, 7);
	ck_assert_uint_le(m.u.error.retry_after_s, 8);
	h_ping(c, 45);
	/* Per account: another connection of it is refused as well. */
	c2 = h_online_at(p->hostport, &LK, 0);
	memset(&m, 0, sizeof m);
	m.type = MSG_LOOKUP;
	m.u.lookup.count = 1;
	m.u.lookup.ids = ids;
	h_send(c2, &m);
	h_expect_error(c2, ERR_RATE_LIMITED, MSG_LOOKUP, &m);
	ck_assert_uint_le(m.u.error.retry_after_s, 4);
	/* After that wait, it goes through. */
	h_msleep((int)m.u.error.retry_after_s * 1000 + 300);
	memset(&m, 0, sizeof m);
	m.type = MSG_LOOKUP;
	m.u.lookup.count = 1;
	m.u.lookup.ids = ids;
	h_send(c2, &m);
	h_recv(c2, &m);
	ck_assert_uint_eq(m.type, MSG_LOOKUP_RESULT);
	h_proc_stop_all();
}
END_TEST

START_TEST(test_worker_pool)
{
	struct hc	*w1, *w2, *p;
	uint8_t		*el = xmalloc(32 * 1024);
	struct msg	 m;
	int64_t		 t0, t_alone, t_pong, t_result;

	h_account_once(N_WP1, &WP1);
	h_account_once(N_WP2, &WP2);
	w1 = h_online(&WP1, 0);
	w2 = h_online(&WP2, 0);
	p = h_open();
	elements(el, 1024);
	t0 = h_mono_ms();
	send_eval(w1, el, 1024);
	h_recv(w1, &m);
	t_alone = h_mono_ms() - t0;
	ck_assert_uint_eq(m.type, MSG_OPRF_RESULT);
	ck_assert_uint_eq(m.u.oprf.count, 1024);

	t0 = h_mono_ms();
	send_eval(w2, el, 1024);
	h_msleep(5);		/* the bucket is charged; evaluation runs */
	memset(&m, 0, sizeof m);
	m.type = MSG_PING;
	m.u.ping.nonce = 42;
	h_send(p, &m);
	h_recv(p, &m);
	t_pong = h_mono_ms() - t0;
	ck_assert_uint_eq(m.type, MSG_PONG);
	h_recv(w2, &m);
	t_result = h_mono_ms() - t0;
	ck_assert_uint_eq(m.type, MSG_OPRF_RESULT);
	ck_assert_uint_eq(m.u.oprf.count, 1024);
	free(el);
	fprintf(stderr, "worker pool: a 1024-element OPRF_EVAL takes %lld ms "
	    "alone; beside one, PONG after %lld ms, OPRF_RESULT after "
	    "%lld ms\n", (long long)t_alone, (long long)t_pong,
	    (long long)t_result);
	ck_assert_int_lt(t_pong, 50);
	if (t_result >= 40)
		ck_assert_int_lt(t_pong, t_result);
}
END_TEST

/* Limits (second trystd) and the worker pool. */
TCase *
integ_limits_tcase(void)
{
	TCase	*tc = tcase_create("limits");

	tcase_add_checked_fixture(tc, NULL, h_test_teardown);
	tcase_add_test(tc, test_offer_size);
	tcase_add_test(tc, test_connect_rate);
	tcase_add_test(tc, test_relay_quota);
	tcase_add_test(tc, test_discovery_limit);
	tcase_add_test(tc, test_discovery_invalid);
	tcase_add_test(tc, test_discovery_known_spent);
	tcase_add_test(tc, test_discovery_refusal_cost);
	tcase_add_test(tc, test_lookup_rate);
	tcase_add_test(tc, test_worker_pool);
	tcase_add_test(tc, test_call_timeout);
	return (tc);
}
