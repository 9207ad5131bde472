/*
 * integ-conns.c -- connection limits and timers against a real trystd:
 * max_connections_per_ip closes new connections before TLS, and at
 * max_connections a new one sheds the oldest still in its handshake (a
 * real client gets in past connections that never start TLS), or is
 * closed when none is; connections that send nothing cost little memory;
 * handshake_timeout_s closes a silent one, anonymous_lifetime_s ends one
 * that never says HELLO even while it PINGs, idle_timeout_s sends GOAWAY
 * idle, and a client that stops reading is dropped once its unsent output
 * passes max_output_bytes, while others are served throughout.
 */
#include <sys/resource.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "harness.h"

#define N_IDLE_ONLINE	"+15550100411"
#define N_SHED		"+15550100412"

#define SHED_MAX	20	/* max_connections of test_conn_shed */
#define WAIT_CONNS	2000	/* silent connections, test_wait_memory */
/* Their memory at most: on the old code, which began TLS at accept, each
 * cost 43-47 kB (about 90 MB for 2000); now a few hundred bytes (1-3 MB
 * for 2000, sanitizers included). */
#define WAIT_MAX_BYTES	(12800 * WAIT_CONNS)	/* 25 MB */

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

/* 1 if fd, which started TLS, is closed within ms (after whatever alert
 * the server sent), else 0. */
static int
alert_then_close(int fd, int ms)
{
	int64_t		 end = h_mono_ms() + ms;
	struct pollfd	 pfd = { .fd = fd, .events = POLLIN };
	char		 buf[512];

	while (h_mono_ms() < end) {
		if (poll(&pfd, 1, (int)(end - h_mono_ms())) <= 0)
			return (0);
		if (read(fd, buf, sizeof buf) <= 0)
			return (1);
	}
	return (0);
}

/* Poll the gauge or counter name of /metrics on port for up to ms until
 * it reads want; the last value read. */
static long long
metric_wait(int port, const char *name, long long want, int ms)
{
	int64_t		 end = h_mono_ms() + ms;
	long long	 v;

	while ((v = h_metric_now(port, name)) != want && h_mono_ms() < end)
		h_msleep(100);
	return (v);
}

/* VmRSS of pid in bytes (asserting it runs). */
static long long
vmrss(pid_t pid)
{
	char		 path[64], line[256];
	long long	 kb = -1;
	FILE		*f;

	snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
	ck_assert_msg((f = fopen(path, "r")) != NULL, "trystd is gone");
	while (fgets(line, sizeof line, f) != NULL)
		if (sscanf(line, "VmRSS: %lld kB", &kb) == 1)
			break;
	fclose(f);
	ck_assert_int_ge(kb, 0);
	return (kb * 1024);
}

/* Raise the soft limit on open files towards want; the limit now. */
static long
raise_nofile(long want)
{
	struct rlimit	 rl;

	ck_assert_int_eq(getrlimit(RLIMIT_NOFILE, &rl), 0);
	if (rl.rlim_cur < (rlim_t)want) {
		rl.rlim_cur = rl.rlim_max < (rlim_t)want ? rl.rlim_max :
		    (rlim_t)want;
		ck_assert_int_eq(setrlimit(RLIMIT_NOFILE, &rl), 0);
	}
	return ((long)rl.rlim_cur);
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
	/* Two from another fill max_connections; one from a third address
	 * sheds the oldest still in its handshake, a[0], and stays. */
	for (i = 0; i < 2; i++)
		b[i] = tcp_from("127.0.0.6", p->port);
	c = tcp_from("127.0.0.7", p->port);
	ck_assert_int_eq(closed_within(a[0], 2000), 1);
	ck_assert_int_eq(closed_within(c, 300), 0);
	ck_assert_int_eq(closed_within(a[1], 0), 0);
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

START_TEST(test_conn_shed)
{
	struct hproc	*p;
	struct account	 a;
	struct hc	*real;
	char		 conf[200];
	int		 fd[SHED_MAX], x, i;
	int		 mport = h_proc_port(SOCK_STREAM);
	const char	*gauge = "tryst_connections";
	const char	*hits =
	    "tryst_rate_limited_total{kind=\"connections\"}";

	snprintf(conf, sizeof conf, "max_connections = %d\n"
	    "handshake_timeout_s = 60\nlog_level = debug\n"
	    "metrics_listen = %d\n", SHED_MAX, mport);
	p = conns_proc("shed", conf);
	h_register_at(p->hostport, N_SHED, &a);
	ck_assert_int_eq(metric_wait(mport, gauge, 0, 10000), 0);

	/* Connections that never start TLS fill max_connections; a real
	 * client still goes online, in the place of the oldest of them. */
	for (i = 0; i < SHED_MAX; i++)
		fd[i] = tcp_from("127.0.0.1", p->port);
	ck_assert_int_eq(metric_wait(mport, gauge, SHED_MAX, 10000),
	    SHED_MAX);
	real = h_online_at(p->hostport, &a, 0);
	ck_assert_int_eq(closed_within(fd[0], 2000), 1);
	for (i = 1; i < SHED_MAX; i++)
		ck_assert_int_eq(closed_within(fd[i], 0), 0);
	ck_assert_int_eq(h_metric_now(mport, hits), 1);
	ck_assert_int_eq(h_proc_log_count(p, "connection closed: shed for a "
	    "new connection"), 1);

	/* Once every connection is past its handshake, a new one is
	 * closed before TLS and nobody is shed. */
	for (i = 1; i < SHED_MAX; i++)
		close(fd[i]);
	ck_assert_int_eq(metric_wait(mport, gauge, 1, 10000), 1);
	for (i = 1; i < SHED_MAX; i++)
		h_raw_open(p->hostport, 0);
	x = tcp_from("127.0.0.1", p->port);
	ck_assert_int_eq(closed_within(x, 2000), 1);
	close(x);
	ck_assert_int_eq(h_metric_now(mport, hits), 2);
	h_ping(real, 5);
	ck_assert_int_eq(h_metric_now(mport, gauge), SHED_MAX);

	/* Bytes that cannot begin a TLS handshake end a connection at once,
	 * without waiting for handshake_timeout_s. */
	h_raw_close_all();
	ck_assert_int_eq(metric_wait(mport, gauge, 1, 10000), 1);
	x = tcp_from("127.0.0.1", p->port);
	ck_assert_int_eq(write(x, "GET / HTTP/1.0\r\n\r\n", 18), 18);
	ck_assert_int_eq(closed_within(x, 3000), 1);
	close(x);

	/* Every change of state was one the table allows. */
	ck_assert_int_gt(h_proc_log_count(p, ": wait -> tls"), 0);
	ck_assert_int_gt(h_proc_log_count(p, ": tls -> challenged"), 0);
	ck_assert_int_gt(h_proc_log_count(p, ": anonymous -> online"), 0);
	ck_assert_int_eq(h_proc_log_count(p, "no transition"), 0);
}
END_TEST

/* A connection costs a TLS object only once its first record is whole:
 * peers that sent a record header and stop stay as cheap and as sheddable
 * as silent ones, so they cannot crowd out a real client mid-handshake;
 * a record that arrives in pieces still starts TLS once it is whole. On
 * the code that began TLS at the first byte, each of these held an SSL
 * object (47 kB) and competed with real handshakes to be shed. */
START_TEST(test_conn_partial_hello)
{
	static const uint8_t hdr[] = { 0x16, 0x03, 0x01, 0x01, 0x00 };
	uint8_t		 rest[256];
	struct hproc	*p;
	struct account	 a;
	char		 conf[200];
	int		 fd[SHED_MAX], x, i;
	int		 mport = h_proc_port(SOCK_STREAM);

	snprintf(conf, sizeof conf, "max_connections = %d\n"
	    "handshake_timeout_s = 60\nlog_level = debug\n"
	    "metrics_listen = %d\n", SHED_MAX, mport);
	p = conns_proc("partial", conf);
	h_register_at(p->hostport, N_SHED, &a);
	ck_assert_int_eq(metric_wait(mport, "tryst_connections", 0, 10000),
	    0);
	i = h_proc_log_count(p, ": wait -> tls");
	for (x = 0; x < SHED_MAX; x++) {
		fd[x] = tcp_from("127.0.0.1", p->port);
		ck_assert_int_eq(write(fd[x], hdr, sizeof hdr), sizeof hdr);
		ck_assert_int_eq(write(fd[x], rest, 100), 100);
	}
	ck_assert_int_eq(metric_wait(mport, "tryst_connections", SHED_MAX,
	    10000), SHED_MAX);
	h_msleep(300);
	ck_assert_int_eq(h_proc_log_count(p, ": wait -> tls"), i);
	/* A real client still goes online, in the place of the oldest. */
	h_online_at(p->hostport, &a, 0);
	ck_assert_int_eq(closed_within(fd[0], 2000), 1);
	ck_assert_int_eq(h_proc_log_count(p, ": wait -> tls"), i + 1);
	/* The rest of a record, later: now TLS starts (and fails: it is no
	 * ClientHello), and the connection closes. */
	memset(rest, 0, sizeof rest);
	ck_assert_int_eq(write(fd[1], rest, 156), 156);
	ck_assert_int_eq(alert_then_close(fd[1], 3000), 1);
	ck_assert_int_eq(h_proc_log_count(p, ": wait -> tls"), i + 2);
	for (x = 2; x < SHED_MAX; x++)
		ck_assert_int_eq(closed_within(fd[x], 0), 0);
	for (x = 0; x < SHED_MAX; x++)
		close(fd[x]);
	ck_assert_int_eq(h_proc_log_count(p, "no transition"), 0);
}
END_TEST

/* Out of descriptors, the TLS listener logs once an episode (not once a
 * second) and closes what waits in its backlog through a spare
 * descriptor, so that those clients hear a close at once instead of
 * waiting for a TCP timeout; it logs when it accepts again. */
START_TEST(test_accept_emfile)
{
	struct hproc	*p;
	int		 fd[40], i, base, shed = 0;
	int64_t		 end;

	p = conns_proc("emfile", NULL);
	h_msleep(300);
	base = h_nfds(p->pid);
	ck_assert_int_eq(h_run(NULL, "prlimit --pid %d --nofile=%d:",
	    (int)p->pid, base + 2), 0);
	for (i = 0; i < 40; i++)
		fd[i] = tcp_from("127.0.0.1", p->port);
	h_msleep(3500);
	for (i = 0; i < 40; i++)
		shed += closed_within(fd[i], 0);
	printf("TLS listener at EMFILE: %d of 40 pending connections closed, "
	    "%d warnings in 3.5 s\n", shed, h_proc_log_count(p, "accept: "));
	ck_assert_int_eq(h_proc_log_count(p, "accept: "), 1);
	ck_assert_int_ge(shed, 20);
	for (i = 0; i < 40; i++)
		close(fd[i]);
	ck_assert_int_eq(h_run(NULL, "prlimit --pid %d --nofile=%d:",
	    (int)p->pid, base + 200), 0);
	end = h_mono_ms() + 10000;
	do {
		close(tcp_from("127.0.0.1", p->port));
		h_msleep(200);
	} while (h_proc_log_count(p, "accepting again") == 0 &&
	    h_mono_ms() < end);
	ck_assert_int_eq(h_proc_log_count(p, "accepting again"), 1);
}
END_TEST

START_TEST(test_wait_memory)
{
	struct hproc	*p;
	char		 conf[200];
	long		 n = WAIT_CONNS, i, lim;
	long long	 rss0, rss1, bound;
	int		 mport = h_proc_port(SOCK_STREAM);
	static int	 fd[WAIT_CONNS];

	/* trystd inherits the limit: both sides hold n sockets. */
	lim = raise_nofile(WAIT_CONNS + 256);
	if (lim - 256 < n)
		n = lim - 256;
	ck_assert_msg(n >= 500, "open files limited to %ld", lim);
	bound = WAIT_MAX_BYTES / WAIT_CONNS * n;
	snprintf(conf, sizeof conf, "max_connections = 100000\n"
	    "max_connections_per_ip = 100000\nhandshake_timeout_s = 60\n"
	    "metrics_listen = %d\n", mport);
	p = conns_proc("waitmem", conf);
	ck_assert_int_eq(metric_wait(mport, "tryst_connections", 0, 10000), 0);
	rss0 = vmrss(p->pid);
	for (i = 0; i < n; i++)
		fd[i] = tcp_from("127.0.0.1", p->port);
	ck_assert_int_eq(metric_wait(mport, "tryst_connections", n, 20000), n);
	h_msleep(500);
	rss1 = vmrss(p->pid);
	printf("conns: %ld connections that sent nothing: VmRSS %lld -> %lld "
	    "kB, %lld bytes each (bound %lld)\n", n, rss0 / 1024,
	    rss1 / 1024, (rss1 - rss0) / n, bound / n);
	ck_assert_msg(rss1 - rss0 < bound, "%ld silent connections took "
	    "%lld kB", n, (rss1 - rss0) / 1024);
	for (i = 0; i < n; i++)
		close(fd[i]);
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

/*
 * The ports the tests give their servers, from harness.c and from
 * tests/lib.sh, are never ephemeral: CI once failed when trystd could not
 * bind a port that bind(port 0) had just handed out, because another
 * test's outgoing connection had taken it as its local port.  The hazard
 * itself is checked first: an ephemeral port in use as a connection's
 * local end cannot be bound.
 */
START_TEST(test_free_port)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof sin;
	char			 cmd[PATH_MAX + 128], line[256], *p, *end;
	const char		*dir = getenv("TRYST_TESTS");
	FILE			*f;
	long			 v;
	int			 lo, hi, i, n, port, lfd, cfd, fd;


	h_ephemeral_range(&lo, &hi);
	lfd = socket(AF_INET, SOCK_STREAM, 0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_eq(bind(lfd, (struct sockaddr *)&sin, sizeof sin), 0);
	ck_assert_int_eq(listen(lfd, 1), 0);
	ck_assert_int_eq(getsockname(lfd, (struct sockaddr *)&sin, &len), 0);
	cfd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(connect(cfd, (struct sockaddr *)&sin, sizeof sin),
	    0);
	ck_assert_int_eq(getsockname(cfd, (struct sockaddr *)&sin, &len), 0);
	ck_assert_int_ge(ntohs(sin.sin_port), lo);
	ck_assert_int_le(ntohs(sin.sin_port), hi);
	fd = socket(AF_INET, SOCK_STREAM, 0);
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &(int){ 1 },
	    sizeof(int)), 0);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), -1);
	ck_assert_int_eq(errno, EADDRINUSE);
	close(fd);
	close(cfd);
	close(lfd);

	for (i = 0; i < 400; i++) {
		port = h_free_port(i % 2 ? SOCK_DGRAM : SOCK_STREAM);
		ck_assert_int_gt(port, 0);
		ck_assert_msg(port < lo || port > hi,
		    "h_free_port gave %d, in the ephemeral range %d-%d", port,
		    lo, hi);
	}

	ck_assert_ptr_nonnull(dir);
	snprintf(cmd, sizeof cmd, "bash -c '. \"%s/lib.sh\"; for i in "
	    "$(seq 50); do free_ports tcp udp tcp; done'", dir);
	ck_assert_ptr_nonnull(f = popen(cmd, "r"));
	for (n = 0; fgets(line, sizeof line, f) != NULL; n++)
		for (p = line; *p != '\n' && *p != '\0'; p = end) {
			v = strtol(p, &end, 10);
			ck_assert_ptr_ne(end, p);
			ck_assert_msg(v > 0 && (v < lo || v > hi),
			    "free_ports gave %ld, in the ephemeral range", v);
		}
	ck_assert_int_eq(pclose(f), 0);
	ck_assert_int_eq(n, 50);
}
END_TEST

/* This file's tests, each of which starts its own trystd. */
TCase *
integ_conns_tcase(void)
{
	TCase	*tc = tcase_create("conns");

	tcase_add_checked_fixture(tc, NULL, h_proc_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_free_port);
	tcase_add_test(tc, test_conn_limits);
	tcase_add_test(tc, test_conn_shed);
	tcase_add_test(tc, test_conn_partial_hello);
	tcase_add_test(tc, test_accept_emfile);
	tcase_add_test(tc, test_wait_memory);
	tcase_add_test(tc, test_slow_reader);
	tcase_add_test(tc, test_conn_timers);
	return (tc);
}
