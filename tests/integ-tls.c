/*
 * integ-tls.c -- the TLS listener while systemd does not listen: with the
 * queue of NOTIFY_SOCKET full (a busy or stuck PID 1), trystd drops and
 * counts its notifications instead of waiting in sendto, new clients get
 * CHALLENGE and WELCOME as before, each outage is logged once, and the
 * READY=1 that was dropped goes out once the queue drains.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <sodium.h>

#include "harness.h"

#define N_STUCK		"+15550100671"
#define WARNING		"notifications are dropped until it takes them"

/* The notification socket nobody reads. */
static struct {
	int			 fd;
	struct sockaddr_un	 sun;
	socklen_t		 len;
	char			 env[128];	/* NOTIFY_SOCKET=@... */
} S = { .fd = -1 };

/* Bind S in the abstract namespace with the smallest receive buffer. */
static void
stuck_open(void)
{
	uint8_t		 rnd[8];
	char		 name[64];
	int		 one = 1;
	size_t		 n;

	randombytes_buf(rnd, sizeof rnd);
	memcpy(name, "@tryst-stuck-", 13);
	hex_encode(name + 13, rnd, sizeof rnd);
	snprintf(S.env, sizeof S.env, "NOTIFY_SOCKET=%s", name);
	n = strlen(name);
	memset(&S.sun, 0, sizeof S.sun);
	S.sun.sun_family = AF_UNIX;
	memcpy(S.sun.sun_path + 1, name + 1, n - 1);
	S.len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) + n);
	S.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ne(S.fd, -1);
	ck_assert_int_eq(setsockopt(S.fd, SOL_SOCKET, SO_RCVBUF, &one,
	    sizeof one), 0);
	ck_assert_msg(bind(S.fd, (struct sockaddr *)&S.sun, S.len) == 0,
	    "bind %s: %s", name, strerror(errno));
}

/* Fill S's queue with datagrams from fresh sockets, as trystd sends
 * them, until one is refused; how many went in. */
static int
stuck_fill(void)
{
	int	 fd, n, rv, error;

	for (n = 0; n < 1000000; n++) {
		fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
		    0);
		ck_assert_int_ne(fd, -1);
		rv = (int)sendto(fd, "X-TEST-FILL=1", 13, MSG_DONTWAIT,
		    (struct sockaddr *)&S.sun, S.len);
		error = errno;
		close(fd);
		if (rv == -1) {
			ck_assert_msg(error == EAGAIN || error == EWOULDBLOCK,
			    "filling NOTIFY_SOCKET: %s", strerror(error));
			return (n);
		}
	}
	ck_abort_msg("NOTIFY_SOCKET never filled");
	return (-1);
}

/* Read S for up to ms: 1 as soon as a READY=1 comes, else 0. */
static int
stuck_drain_ready(int ms)
{
	struct pollfd	 pfd = { .fd = S.fd, .events = POLLIN };
	int64_t		 end = h_mono_ms() + ms, left;
	char		 buf[512];
	ssize_t		 n;

	while ((left = end - h_mono_ms()) > 0) {
		if (poll(&pfd, 1, (int)left) != 1)
			continue;
		n = recv(S.fd, buf, sizeof buf - 1, 0);
		ck_assert_int_gt(n, 0);
		buf[n] = '\0';
		if (strcmp(buf, "READY=1") == 0 ||
		    strncmp(buf, "READY=1\n", 8) == 0)
			return (1);
	}
	return (0);
}

/* Close S (teardown). */
static void
tls_teardown(void)
{
	if (S.fd != -1)
		close(S.fd);
	S.fd = -1;
	h_proc_teardown();
}

/* A new connection to p: CHALLENGE, then HELLO as a answered by WELCOME;
 * the milliseconds it took, printed. The handshake and CHALLENGE have
 * 10 s, WELCOME H_TIMEOUT_MS: a loop stuck in sendto fails here. */
static int64_t
hello_ms(struct hproc *p, const struct account *a, const char *when)
{
	struct hc	*c;
	struct msg	 m;
	int64_t		 t0 = h_mono_ms(), t;

	c = h_open_at(p->hostport);
	h_hello_raw(c, a->cred, CRED_LEN, a->sk, 0, &m);
	ck_assert_msg(m.type == MSG_WELCOME, "HELLO %s: %s", when,
	    proto_type_name(m.type));
	t = h_mono_ms() - t0;
	h_close(c);
	fprintf(stderr, "notify-full: CHALLENGE, HELLO, WELCOME in %lld ms "
	    "%s\n", (long long)t, when);
	return (t);
}

START_TEST(test_notify_full)
{
	struct hproc	*p = h_proc_new("notify-full");
	struct account	 a;
	char		*env[] = { S.env, "WATCHDOG_USEC=20000", NULL };
	char		*conf;
	long long	 dropped, more;
	int		 mport = h_proc_port(SOCK_STREAM), i, queued;

	h_register(N_STUCK, &a);
	stuck_open();
	queued = stuck_fill();
	fprintf(stderr, "notify-full: the queue took %d datagrams\n", queued);
	xasprintf(&conf, "metrics_listen = %d\nlog_level = info\n", mport);
	h_proc_conf(p, NULL, NULL, NULL, NULL, conf);
	free(conf);
	/* READY=1 and a WATCHDOG=1 every 10 ms, into a full queue. */
	h_proc_start(p, env);
	for (i = 0; h_proc_log_count(p, "listening on") == 0; i++) {
		ck_assert_msg(!h_proc_wait(p, 0), "trystd exited (see %s)",
		    p->log);
		ck_assert_msg(i < 100, "trystd not listening after 10 s");
		h_msleep(100);
	}
	h_msleep(300);	/* dozens of WATCHDOG=1 by now */
	hello_ms(p, &a, "with NOTIFY_SOCKET full");
	h_healthz_wait(mport, 200, 10000);	/* READY=1 was due */
	for (i = 0; i < 3; i++)
		hello_ms(p, &a, "with NOTIFY_SOCKET full");
	dropped = h_metric_now(mport, "tryst_notify_dropped_total");
	fprintf(stderr, "notify-full: %lld notifications dropped\n", dropped);
	ck_assert_int_ge(dropped, 2);
	ck_assert_int_eq(h_proc_log_count(p, WARNING), 1);

	/* Drained: the READY=1 that was dropped is sent again. */
	ck_assert_msg(stuck_drain_ready(5000), "no READY=1 within 5 s of "
	    "NOTIFY_SOCKET draining");
	ck_assert_int_eq(h_proc_log_count(p, "NOTIFY_SOCKET: sending again"),
	    1);

	/* A second outage: logged again, counted, and clients served. */
	stuck_fill();
	h_msleep(200);
	hello_ms(p, &a, "in a second outage");
	more = h_metric_now(mport, "tryst_notify_dropped_total");
	ck_assert_int_gt(more, dropped);
	ck_assert_int_eq(h_proc_log_count(p, WARNING), 2);
}
END_TEST

/* The tests of this file. */
TCase *
integ_tls_tcase(void)
{
	TCase	*tc = tcase_create("tls");

	tcase_add_checked_fixture(tc, NULL, tls_teardown);
	tcase_set_timeout(tc, 90);
	tcase_add_test(tc, test_notify_full);
	return (tc);
}
