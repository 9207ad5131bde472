/*
 * integ-conns.c -- connection limits and timers against a real trystd:
 * max_connections and max_connections_per_ip close new connections
 * before TLS, handshake_timeout_s closes a silent one, anonymous_lifetime_s
 * ends one that never says HELLO even while it PINGs, idle_timeout_s sends
 * GOAWAY idle, and a client that stops reading is dropped once its unsent
 * output passes max_output_bytes, while others are served throughout.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "harness.h"

#define N_IDLE_ONLINE	"+15550100411"

/* A trystd of its own with extra settings, ready, and given a moment
 * to see the readiness check's connection go. */
static struct hproc *
conns_proc(const char *name, const char *extra)
{
	struct hproc	*p = h_proc_new(name);

	h_proc_conf(p, NULL, NULL, NULL, NULL, extra);
	h_proc_start(p, NULL);
	h_proc_ready(p);
	h_msleep(300);
	return (p);
}

/* A plain TCP connection from address src to port: the fd. */
static int
tcp_from(const char *src, int port)
{
	struct sockaddr_in	 sin;
	int			 fd;

	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ne(fd, -1);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	inet_pton(AF_INET, src, &sin.sin_addr);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	sin.sin_port = htons((uint16_t)port);
	ck_assert_msg(connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0,
	    "connect from %s: %s", src, strerror(errno));
	return (fd);
}

/* How fd ends within ms: 1 closed by the server (EOF or reset, no byte
 * sent: it never started TLS), 0 still open. */
static int
closed_within(int fd, int ms)
{
	struct pollfd	 pfd = { .fd = fd, .events = POLLIN };
	char		 c;
	ssize_t		 n;

	if (poll(&pfd, 1, ms) == 0)
		return (0);
	n = read(fd, &c, 1);
	ck_assert_msg(n <= 0, "the server sent a byte before TLS");
	return (1);
}

START_TEST(test_conn_limits)
{
	struct hproc	*p;
	char		 conf[160];
	int		 a[3], b[2], c, d, i, mport = h_proc_port(SOCK_STREAM);
	int64_t		 t0, t;

	snprintf(conf, sizeof conf, "max_connections = 4\n"
	    "max_connections_per_ip = 2\nhandshake_timeout_s = 2\n"
	    "metrics_listen = %d\n", mport);
	p = conns_proc("limits", conf);

	/* Two from one address; the third is closed before TLS. */
	for (i = 0; i < 3; i++)
		a[i] = tcp_from("127.0.0.5", p->port);
	ck_assert_int_eq(closed_within(a[0], 300), 0);
	ck_assert_int_eq(closed_within(a[1], 0), 0);
	ck_assert_int_eq(closed_within(a[2], 2000), 1);
	/* Two from another fill max_connections; a third address is
	 * closed too. */
	for (i = 0; i < 2; i++)
		b[i] = tcp_from("127.0.0.6", p->port);
	c = tcp_from("127.0.0.7", p->port);
	ck_assert_int_eq(closed_within(c, 2000), 1);
	ck_assert_int_eq(closed_within(b[0], 0), 0);
	ck_assert_int_eq(closed_within(b[1], 0), 0);
	for (i = 0; i < 3; i++)
		close(a[i]);
	close(b[0]);
	close(b[1]);
	close(c);
	ck_assert_int_eq(h_metric_now(mport,
	    "tryst_rate_limited_total{kind=\"connections_per_ip\"}"), 1);
	ck_assert_int_eq(h_metric_now(mport,
	    "tryst_rate_limited_total{kind=\"connections\"}"), 1);

	/* A connection that sends nothing is closed after
	 * handshake_timeout_s (its place frees once the others are
	 * gone). */
	for (i = 0; i < 50; i++) {
		h_msleep(100);
		d = tcp_from("127.0.0.8", p->port);
		t0 = h_mono_ms();
		if (closed_within(d, 100) == 0)
			break;
		close(d);
	}
	ck_assert_int_lt(i, 50);
	ck_assert_int_eq(closed_within(d, 4000), 1);
	t = h_mono_ms() - t0;
	ck_assert_msg(t >= 1500 && t <= 3500, "closed after %lld ms",
	    (long long)t);
	close(d);
}
END_TEST

/* PING on r; 1 with its PONG, 0 when r was closed instead. */
static int
raw_ping(struct rconn *r, uint64_t nonce)
{
	struct msg	 m;
	uint8_t		 frame[13] = { 0, 0, 0, 9, MSG_PING };
	int		 i;

	for (i = 0; i < 8; i++)
		frame[5 + i] = (uint8_t)(nonce >> (56 - 8 * i));
	if (h_raw_write(r, frame, sizeof frame) != (ssize_t)sizeof frame)
		return (0);
	if (h_raw_recv(r, &m, 2000) != 1)
		return (0);
	ck_assert_uint_eq(m.type, MSG_PONG);
	ck_assert_uint_eq(m.u.ping.nonce, nonce);
	return (1);
}

START_TEST(test_conn_timers)
{
	struct hproc	*p = conns_proc("timers", "anonymous_lifetime_s = 10\n"
	    "idle_timeout_s = 30\n");
	struct account	 a;
	struct hc	*idle;
	struct rconn	*anon;
	struct msg	 m;
	int64_t		 t0, t;
	uint64_t	 n = 0;
	char		*why = NULL;

	h_register_at(p->hostport, N_IDLE_ONLINE, &a);
	idle = h_online_at(p->hostport, &a, 0);
	t0 = h_mono_ms();
	/* An anonymous connection ends at anonymous_lifetime_s, PINGs or
	 * not. */
	anon = h_raw_open(p->hostport, 0);
	while (raw_ping(anon, ++n) && h_mono_ms() - t0 < 15000)
		h_msleep(500);
	t = h_mono_ms() - t0;
	ck_assert_msg(t >= 9000 && t <= 12500, "anonymous connection ended "
	    "after %lld ms", (long long)t);
	ck_assert_uint_ge(n, 10);
	/* The silent online one hears GOAWAY idle at idle_timeout_s. */
	ck_assert_msg(tconn_recv(idle->tc, &m, 25000, &why) == 1, "%s", why);
	t = h_mono_ms() - t0;
	ck_assert_msg(m.type == MSG_GOAWAY && m.u.goaway.reason ==
	    GOAWAY_IDLE, "got %s", proto_type_name(m.type));
	ck_assert_msg(t >= 29000 && t <= 33000, "GOAWAY idle after %lld ms",
	    (long long)t);
	ck_assert_int_eq(tconn_recv(idle->tc, &m, 3000, &why), 0);
	free(why);
}
END_TEST

START_TEST(test_slow_reader)
{
	struct hproc	*p = conns_proc("slow", "max_output_bytes = 65536\n"
	    "log_level = debug\n");
	struct rconn	*slow;
	struct hc	*other;
	uint8_t		 frames[13 * 256];
	size_t		 written = 0, i;
	int64_t		 t0 = h_mono_ms();
	ssize_t		 n;

	/* Many PINGs, never reading a PONG, through small socket buffers. */
	slow = h_raw_open(p->hostport, 4096);
	for (i = 0; i < 256; i++)
		memcpy(frames + 13 * i, "\0\0\0\x09\x0c" "pingping", 13);
	while (h_mono_ms() - t0 < 8000 &&
	    h_proc_log_count(p, "slow reader") == 0) {
		if ((n = h_raw_write(slow, frames, sizeof frames)) == -1)
			break;
		if (n == 0)
			h_msleep(20);
		written += (size_t)(n > 0 ? n : 0);
	}
	ck_assert_msg(h_proc_log_count(p, "slow reader") == 1, "not dropped "
	    "after %zu bytes of PINGs", written);
	/* Sent more than the output cap in PONGs, and closed; others are
	 * served. */
	ck_assert_uint_gt(written, 65536);
	h_raw_expect_closed(slow, 5000);
	other = h_open_at(p->hostport);
	h_ping(other, 7);
}
END_TEST

/* This file's tests, each of which starts its own trystd. */
TCase *
integ_conns_tcase(void)
{
	TCase	*tc = tcase_create("conns");

	tcase_add_checked_fixture(tc, NULL, h_proc_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_conn_limits);
	tcase_add_test(tc, test_slow_reader);
	tcase_add_test(tc, test_conn_timers);
	return (tc);
}
