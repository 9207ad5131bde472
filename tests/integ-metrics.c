/*
 * integ-metrics.c -- the limits of the metrics listener against a real
 * trystd: a request head that never ends is cut off at HTTP_MAX_HEAD with
 * trystd's memory flat, silent and trickling connections are closed at
 * METRICS_TIMEOUT_S, a flood of metrics connections leaves descriptors for
 * TLS clients, and running out of descriptors pauses accepting with one
 * line in the log, not a flood.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <dirent.h>
#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "harness.h"

#define N_FLOOD		"+15550100947"
#define FLOOD_CONNS	200

/* A trystd with metrics_listen on a port of its own (in *mport). */
static struct hproc *
metrics_proc(const char *name, int *mport)
{
	struct hproc	*p = h_proc_new(name);
	char		 extra[64];

	*mport = h_proc_port(SOCK_STREAM);
	snprintf(extra, sizeof extra, "metrics_listen = %d\n", *mport);
	h_proc_conf(p, NULL, NULL, NULL, NULL, extra);
	h_proc_start(p, NULL);
	h_proc_ready(p);
	return (p);
}

/* A non-blocking TCP connection to 127.0.0.1:port, connected (loopback
 * completes it from the backlog even before trystd accepts) unless
 * nowait, when it may still be under way (a full backlog). */
static int
tcp_connect(int port, int nowait)
{
	struct sockaddr_in	 sin;
	int			 fd;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC |
	    (nowait ? SOCK_NONBLOCK : 0), 0);
	ck_assert_int_ne(fd, -1);
	if (connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0 ||
	    (nowait && errno == EINPROGRESS)) {
		ck_assert_int_ne(fcntl(fd, F_SETFL, O_NONBLOCK), -1);
		return (fd);
	}
	ck_abort_msg("connect to %d: %s", port, strerror(errno));
	return (-1);
}

/* The same, connected. */
static int
tcp_open(int port)
{
	return (tcp_connect(port, 0));
}

/* 1 once the server closed fd (EOF or reset; what it sent before is
 * read and dropped), 0 while it is open, within ms. */
static int
closed_within(int fd, int ms)
{
	struct pollfd	 pfd = { .fd = fd, .events = POLLIN };
	int64_t		 end = h_mono_ms() + ms;
	char		 buf[4096];
	ssize_t		 n;

	for (;;) {
		if (poll(&pfd, 1, 50) == 1) {
			while ((n = read(fd, buf, sizeof buf)) > 0)
				;
			if (n == 0 || (n == -1 && errno != EAGAIN))
				return (1);
		}
		if (h_mono_ms() >= end)
			return (0);
	}
}

/* VmRSS of pid in kB. */
static long
rss_kb(pid_t pid)
{
	char	 path[64], line[256];
	FILE	*f;
	long	 kb = -1;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	ck_assert_ptr_nonnull(f = fopen(path, "r"));
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "VmRSS: %ld kB", &kb) == 1)
			break;
	fclose(f);
	ck_assert_int_gt(kb, 0);
	return (kb);
}

/* Lines in the file at path. */
static int
lines(const char *path)
{
	FILE	*f = fopen(path, "r");
	int	 ch, n = 0;

	if (f == NULL)
		return (0);
	while ((ch = getc(f)) != EOF)
		n += ch == '\n';
	fclose(f);
	return (n);
}

/* Write all of len bytes to the non-blocking fd, waiting up to 10 s for
 * room: 0, or -1 when the server closed it. */
static int
send_all(int fd, const char *p, size_t len)
{
	struct pollfd	 pfd = { .fd = fd, .events = POLLOUT };
	int64_t		 end = h_mono_ms() + 10000;
	ssize_t		 n;

	while (len > 0) {
		n = send(fd, p, len, MSG_NOSIGNAL);
		if (n == -1 && errno == EAGAIN) {
			ck_assert_msg(h_mono_ms() < end, "no room for 10 s");
			poll(&pfd, 1, 100);
			continue;
		}
		if (n == -1)
			return (-1);
		p += n;
		len -= (size_t)n;
	}
	return (0);
}

/* A head that never ends: header lines until trystd closes, which it
 * does after HTTP_MAX_HEAD (8 KiB); its memory does not grow with what
 * was sent. A head of exactly 8 KiB without its end is answered 431. */
START_TEST(test_metrics_endless_head)
{
	struct hproc	*p;
	struct pollfd	 pfd = { .events = POLLIN };
	char		 line[1024], ans[256];
	size_t		 sent = 0, limit = 48 << 20;
	long		 before, after;
	int		 mport, fd, closed = 0;
	ssize_t		 n;

	p = metrics_proc("metrics-head", &mport);
	h_metric_now(mport, "tryst_connections");
	before = rss_kb(p->pid);
	fd = tcp_open(mport);
	ck_assert_int_eq(send_all(fd, "GET /metrics HTTP/1.1\r\n", 23), 0);
	memset(line, 'a', sizeof line);
	memcpy(line, "X-Filler: ", 10);
	memcpy(line + sizeof line - 2, "\r\n", 2);
	while (sent < limit && !closed) {
		closed = send_all(fd, line, sizeof line) == -1;
		sent += sizeof line;
	}
	if (!closed)
		closed = closed_within(fd, 2000);
	after = rss_kb(p->pid);
	close(fd);
	printf("endless head: %zu bytes sent, %s; trystd RSS %ld kB before, "
	    "%ld kB after (%+ld kB)\n", sent, closed ? "closed by trystd" :
	    "still open", before, after, after - before);
	ck_assert_msg(closed, "still open after %zu bytes of header lines",
	    sent);
	ck_assert_msg(after - before < 32 * 1024, "RSS grew by %ld kB",
	    after - before);

	/* Exactly HTTP_MAX_HEAD bytes with no end: a 431, then the close. */
	fd = tcp_open(mport);
	memset(line, 'a', sizeof line);
	ck_assert_int_eq(send_all(fd, "GET /metrics HTTP/1.1\r\nX: ", 26), 0);
	for (sent = 26; sent + sizeof line <= 8192; sent += sizeof line)
		ck_assert_int_eq(send_all(fd, line, sizeof line), 0);
	ck_assert_int_eq(send_all(fd, line, 8192 - sent), 0);
	pfd.fd = fd;
	memset(ans, 0, sizeof ans);
	for (sent = 0; sent < 13; sent += (size_t)n) {
		ck_assert_int_eq(poll(&pfd, 1, H_TIMEOUT_MS), 1);
		n = read(fd, ans + sent, sizeof ans - 1 - sent);
		ck_assert_msg(n > 0, "closed with no answer");
	}
	ck_assert_msg(strncmp(ans, "HTTP/1.1 431 ", 13) == 0, "%s", ans);
	ck_assert_int_eq(closed_within(fd, H_TIMEOUT_MS), 1);
	close(fd);
	/* It still serves. */
	ck_assert_int_ge(h_metric_now(mport, "tryst_connections"), 0);
}
END_TEST

/* A silent connection and one that trickles a header byte a second are
 * both closed by METRICS_TIMEOUT_S (10 s; 30 s allowed). */
START_TEST(test_metrics_idle)
{
	struct hproc	*p;
	int		 mport, silent, trickle, s_done = 0, t_done = 0;
	int64_t		 t0, s_ms = 0, t_ms = 0;

	p = metrics_proc("metrics-idle", &mport);
	silent = tcp_open(mport);
	trickle = tcp_open(mport);
	t0 = h_mono_ms();
	ck_assert_int_eq(send_all(trickle, "GET /metrics HTTP/1.1\r\n", 23), 0);
	while ((!s_done || !t_done) && h_mono_ms() - t0 < 30000) {
		if (!t_done && send(trickle, "X", 1, MSG_NOSIGNAL) == -1) {
			t_done = 1;
			t_ms = h_mono_ms() - t0;
		}
		if (!s_done && closed_within(silent, 500)) {
			s_done = 1;
			s_ms = h_mono_ms() - t0;
		}
		if (!t_done && closed_within(trickle, 500)) {
			t_done = 1;
			t_ms = h_mono_ms() - t0;
		}
	}
	printf("metrics: silent connection closed after %lld ms, trickling "
	    "one after %lld ms\n", (long long)s_ms, (long long)t_ms);
	ck_assert_msg(s_done, "a silent metrics connection open after 30 s");
	ck_assert_msg(t_done, "a trickling metrics connection open after "
	    "30 s");
	close(silent);
	close(trickle);
	ck_assert_int_ge(h_metric_now(mport, "tryst_connections"), 0);
	(void)p;
}
END_TEST

/* Connections held open do not lock a scraper out: past the cap of 16,
 * a new connection sheds the oldest that has waited a second. */
START_TEST(test_metrics_held)
{
	struct hproc	*p;
	int		 mport, fds[20], i, shed = 0;

	p = metrics_proc("metrics-held", &mport);
	for (i = 0; i < 20; i++)
		fds[i] = tcp_open(mport);
	h_msleep(1500);
	for (i = 0; i < 3; i++)
		ck_assert_int_ge(h_metric_now(mport, "tryst_connections"), 0);
	/* The 4 past the cap were refused at once; the first scrape shed
	 * the oldest. */
	ck_assert_int_eq(closed_within(fds[0], 0), 1);
	for (i = 0; i < 20; i++) {
		shed += closed_within(fds[i], 0);
		close(fds[i]);
	}
	printf("metrics: %d of 20 held connections closed\n", shed);
	ck_assert_int_ge(shed, 5);
	(void)p;
}
END_TEST

/* Many metrics connections while trystd has only 40 descriptors to spare:
 * the metrics listener keeps to its cap, a TLS client still completes
 * HELLO, and the log is not flooded. */
START_TEST(test_metrics_flood)
{
	struct hproc	*p;
	struct account	 a;
	struct hc	*c;
	int		 mport, fds[FLOOD_CONNS], i, base, held;
	int		 log0, logged;
	int64_t		 end;

	p = metrics_proc("metrics-flood", &mport);
	h_register_at(p->hostport, N_FLOOD, &a);
	h_msleep(300);
	base = h_nfds(p->pid);
	ck_assert_int_eq(h_run(NULL, "prlimit --pid %d --nofile=%d:",
	    (int)p->pid, base + 40), 0);
	log0 = lines(p->log);
	for (i = 0; i < FLOOD_CONNS; i++)
		fds[i] = tcp_connect(mport, 1);
	h_msleep(1000);
	held = h_nfds(p->pid) - base;
	c = h_online_at(p->hostport, &a, 0);
	h_ping(c, 1);
	logged = lines(p->log) - log0;
	h_run(NULL, "tail -n %d '%s' >&2", logged < 20 ? logged : 20, p->log);
	printf("metrics flood: %d connections, trystd holds %d more "
	    "descriptors, %d log lines\n", FLOOD_CONNS, held, logged);
	ck_assert_msg(held <= 16 + 4, "%d descriptors for %d metrics "
	    "connections", held, FLOOD_CONNS);
	ck_assert_msg(logged < 20, "%d log lines", logged);
	for (i = 0; i < FLOOD_CONNS; i++)
		close(fds[i]);
	/* Once trystd has seen them go, it serves again. */
	end = h_mono_ms() + 15000;
	while (h_nfds(p->pid) > base + 1 && h_mono_ms() < end)
		h_msleep(100);
	ck_assert_int_ge(h_metric_now(mport, "tryst_connections"), 1);
}
END_TEST

/* Out of descriptors: the metrics listener pauses and says so once, not
 * once per failed accept, and serves again once descriptors free up. */
START_TEST(test_metrics_emfile)
{
	struct hproc	*p;
	int		 mport, fds[50], i, base, log0, logged, warned;
	int64_t		 end;

	p = metrics_proc("metrics-emfile", &mport);
	h_msleep(300);
	base = h_nfds(p->pid);
	ck_assert_int_eq(h_run(NULL, "prlimit --pid %d --nofile=%d:",
	    (int)p->pid, base + 2), 0);
	log0 = lines(p->log);
	for (i = 0; i < 50; i++)
		fds[i] = tcp_connect(mport, 1);
	h_msleep(3500);
	logged = lines(p->log) - log0;
	warned = h_proc_log_count(p, "metrics: accept:");
	printf("metrics at EMFILE: %d log lines in 3.5 s, %d about it\n",
	    logged, warned);
	ck_assert_int_eq(warned, 1);
	ck_assert_msg(logged < 20, "%d log lines", logged);
	for (i = 0; i < 50; i++)
		close(fds[i]);
	ck_assert_int_eq(h_run(NULL, "prlimit --pid %d --nofile=%d:",
	    (int)p->pid, base + 200), 0);
	end = h_mono_ms() + 15000;
	while (h_proc_log_count(p, "metrics: accepting again") == 0 &&
	    h_mono_ms() < end)
		h_msleep(200);
	ck_assert_int_eq(h_proc_log_count(p, "metrics: accepting again"), 1);
	ck_assert_int_ge(h_metric_now(mport, "tryst_connections"), 0);
}
END_TEST

/* The metrics listener's limits, each test with a trystd of its own. */
TCase *
integ_metrics_tcase(void)
{
	TCase	*tc = tcase_create("metrics-limits");

	tcase_add_checked_fixture(tc, NULL, h_proc_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_metrics_endless_head);
	tcase_add_test(tc, test_metrics_idle);
	tcase_add_test(tc, test_metrics_held);
	tcase_add_test(tc, test_metrics_flood);
	tcase_add_test(tc, test_metrics_emfile);
	return (tc);
}
