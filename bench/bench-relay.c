/*
 * bench-relay.c -- the relay against its anchor (issue 11): bytes that
 * reach the receiving party per second of wall time and per second of the
 * server's CPU time,
 *	(a) through one relayed session, one way: a sender writing 16 KiB
 *	    as fast as it can, the receiver reading;
 *	(b) through SESSIONS such sessions at once, their ends spread over
 *	    several generator processes;
 * each through trystd (doc/protocol.md §5.5: both parties join with
 * RELAY_JOIN, then raw bytes) and through stunnel4, in one invocation,
 * with the same certificate (H's ECDSA P-256), the same TLS 1.3 cipher
 * suite (the one trystd picks, forced on stunnel and on every generator)
 * and the server on the same CPU.
 *
 * A fair anchor does the same TLS work per byte as trystd's relay: one
 * decryption off the sender's connection and one encryption onto the
 * receiver's. stunnel cannot splice two TLS connections in one service, so
 * one stunnel process runs two: "in" accepts TLS from the sender and
 * connects in plain text to 127.0.0.1:B, where "out" (client = yes)
 * accepts it and connects with TLS to the receiver, a TLS server in a
 * generator. The plain loopback hop costs stunnel a write and a read per
 * buffer that trystd does not pay: stunnel's figures include it, as any
 * TLS-to-TLS stunnel deployment would. Threads are stunnel's own (two per
 * session); the whole process is pinned to the server's CPU and all its
 * CPU time counted. Handshakes and joins happen before the measured
 * window, which starts WARMUP seconds after the senders do. Each of the
 * four runs (trystd and stunnel, one session and SESSIONS) is made in
 * ROUNDS turns of SECONDS / ROUNDS, taken in turn and added up, so that
 * other load on the machine falls on trystd and stunnel alike.
 *
 * Server CPU time is utime + stime from /proc/PID/stat, read at the
 * window's start and end. The generators (senders encrypt, receivers
 * decrypt: as much work as the server's) and Redis run on the other CPUs;
 * a server that used under 90 % of a core waited for them, and the output
 * says so (always on 2 CPUs: one generator CPU against one server CPU;
 * the per CPU-second figures still compare, the per wall second ones
 * measure the generators). Relay settings put no cap on the run:
 * relay_rate_bps = 0, relay_session_bytes 1 TiB. Asserts nothing about
 * speed.
 *
 * Usage: tryst-bench relay [SECONDS of each run, default 6] [SESSIONS,
 * default 32] (with TRYSTD, TRYSTCTL set, as meson's benchmark sets them)
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <check.h>
#include <sodium.h>

#include "harness.h"
#include "bench.h"
#include "gen.h"

#define MAX_SESSIONS	60	/* max_sessions is at most 64 */
#define MAX_PROCS	16
#define CHUNK		16384	/* one TLS record */
#define WARMUP		0.5	/* seconds of sending before the window */
#define IO_TIMEOUT_S	10
#define READS_PER_PASS	16	/* per connection, then the next one */
#define ROUNDS		3	/* runs of each, taken in turn */

#define RELAY_CONF \
	"relay_rate_bps = 0\n" \
	"relay_session_bytes = 1099511627776\n" \
	"max_sessions = 64\n" \
	"max_pending_calls = 64\n" \
	"connects_per_minute = 10000\n" \
	"max_connections_per_ip = 1000000\n"

enum mode { TRYSTD, STUNNEL };

/* One end of a session in a generator. */
struct ep {
	struct gconn	 c;
	int		 sender;
	long long	 bytes;		/* read within the window */
};

/* When the senders go and the window opens and closes (bench_now). */
struct times {
	double		 go, from, to;
};

/* What one generator did, up its pipe in one write. */
struct gen_report {
	long long	 bytes;
	int		 failed;
	char		 why[96];
};

/* The figures of one kind of run, its rounds added up. */
struct result {
	long long	 bytes;
	double		 wall, cpu;
	int		 sessions, procs;
};

static double		 secs = 6;
static int		 rounds = ROUNDS;
static int		 nsessions = 32, server_cpu, ncpu;
static cpu_set_t	 server_cpus, gen_cpus;
static struct account	 acc[2];	/* caller, callee */
static struct hcall	 calls[MAX_SESSIONS];
static char		 suite[64];	/* the TLS 1.3 suite trystd picks */
static int		 stunnel_port, sink_fd = -1;	/* "in", receivers' */
static pid_t		 stunnel_pid;

/* ---- a generator ---------------------------------------------------- */

/* The generators' client context: gen_ctx with buffers kept and the
 * suite alone. */
static SSL_CTX *
client_ctx(void)
{
	SSL_CTX	*ctx = gen_ctx();

	if (ctx == NULL)
		return (NULL);
	SSL_CTX_clear_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (suite[0] != '\0' && SSL_CTX_set_ciphersuites(ctx, suite) != 1) {
		SSL_CTX_free(ctx);
		return (NULL);
	}
	return (ctx);
}

/* The receivers' server context for stunnel's "out": H's certificate. */
static SSL_CTX *
server_ctx(void)
{
	SSL_CTX	*ctx;
	char	 cert[PATH_MAX + 16], key[PATH_MAX + 16];

	snprintf(cert, sizeof cert, "%s/cert.pem", H.dir);
	snprintf(key, sizeof key, "%s/key.pem", H.dir);
	if ((ctx = gen_server_ctx(cert, key)) != NULL &&
	    SSL_CTX_set_ciphersuites(ctx, suite) != 1) {
		SSL_CTX_free(ctx);
		return (NULL);
	}
	return (ctx);
}

/* Open end e (session e / 2; even: the caller, who sends) of mode. */
static int
ep_open(enum mode mode, int e, SSL_CTX *ctx, SSL_CTX *sctx, struct ep *ep,
    char *why, size_t whylen)
{
	const struct hcall	*call = &calls[e / 2];
	struct sockaddr_in	 src, dst;
	char			 host[PROTO_MAX_RELAY + 1], *colon;

	memset(ep, 0, sizeof *ep);
	ep->sender = e % 2 == 0;
	gen_addr(&src, NULL, 0);
	if (mode == STUNNEL) {
		if (!ep->sender)
			return (gen_accept(sctx, sink_fd, IO_TIMEOUT_S, &ep->c,
			    why, whylen));
		gen_addr(&dst, NULL, stunnel_port);
		return (gen_tls(ctx, &src, &dst, IO_TIMEOUT_S, &ep->c, why,
		    whylen));
	}
	/* tryst/2: the relay endpoint INCOMING or ANSWER named. */
	snprintf(host, sizeof host, "%s", call->relay[e % 2]);
	if ((colon = strrchr(host, ':')) == NULL) {
		snprintf(why, whylen, "relay endpoint \"%.60s\"", host);
		return (-1);
	}
	*colon = '\0';
	gen_addr(&dst, host, atoi(colon + 1));
	if (gen_tls(ctx, &src, &dst, IO_TIMEOUT_S, &ep->c, why, whylen) != 0)
		return (-1);
	if (gen_relay_join(&ep->c, call->session, call->token[e % 2], why,
	    whylen) != 0) {
		gen_close(&ep->c);
		return (-1);
	}
	return (0);
}

/* Write or read on ep until it would block or the window ends; the
 * events to wait for, 0 once it failed (why set). */
static short
ep_pump(struct ep *ep, const struct times *t, char *why, size_t whylen)
{
	static uint8_t	 buf[CHUNK];
	double		 now;
	int		 i, n, e;

	for (i = 0; i < READS_PER_PASS; i++) {
		if (ep->sender)
			n = SSL_write(ep->c.ssl, buf, sizeof buf);
		else if ((n = SSL_read(ep->c.ssl, buf, sizeof buf)) > 0) {
			now = bench_now();
			if (now >= t->from && now < t->to)
				ep->bytes += n;
		}
		if (n > 0)
			continue;
		e = SSL_get_error(ep->c.ssl, n);
		ERR_clear_error();
		if (e == SSL_ERROR_WANT_READ)
			return (POLLIN);
		if (e == SSL_ERROR_WANT_WRITE)
			return (POLLOUT);
		snprintf(why, whylen, "%s: %s", ep->sender ? "sender" :
		    "receiver", e == SSL_ERROR_ZERO_RETURN ||
		    e == SSL_ERROR_SYSCALL ? "closed" : "TLS failed");
		return (0);
	}
	return (ep->sender ? POLLOUT : POLLIN);
}

/* Move bytes on the n ends of eps until the window closes. An end
 * that fails before then counts; after it, its peer may have gone. */
static void
gen_pump(struct ep *eps, int n, const struct times *t,
    struct gen_report *r)
{
	struct pollfd	 pfd[2 * MAX_SESSIONS];
	int		 i;

	while (bench_now() < t->go)
		h_msleep(1);
	for (i = 0; i < n; i++) {
		pfd[i].fd = eps[i].c.fd;
		pfd[i].revents = POLLIN | POLLOUT;
	}
	while (bench_now() < t->to) {
		for (i = 0; i < n; i++) {
			if (pfd[i].fd == -1 || pfd[i].revents == 0)
				continue;
			if ((pfd[i].events = ep_pump(&eps[i], t, r->why,
			    sizeof r->why)) == 0) {
				pfd[i].fd = -1;
				r->failed += bench_now() < t->to;
			}
		}
		if (poll(pfd, (nfds_t)n, 100) == -1 && errno != EINTR)
			break;
	}
	for (i = 0; i < n; i++)
		r->bytes += eps[i].bytes;
}

/* Generator p of nprocs: its ends (e with e % nprocs == p), ready up
 * wfd, the times from rfd, the bytes; the report up wfd. Never returns. */
static void
gen_run(enum mode mode, int p, int nprocs, int rfd, int wfd)
{
	static struct ep	 eps[2 * MAX_SESSIONS];
	struct gen_report	 r;
	struct times		 t;
	SSL_CTX			*ctx, *sctx = NULL;
	int			 e, n = 0, i;

	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGABRT, SIG_DFL);
	signal(SIGSEGV, SIG_DFL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	sched_setaffinity(0, sizeof gen_cpus, &gen_cpus);
	memset(&r, 0, sizeof r);
	if ((ctx = client_ctx()) == NULL ||
	    (mode == STUNNEL && (sctx = server_ctx()) == NULL))
		_exit(1);
	for (e = p; e < 2 * nsessions && r.failed == 0; e += nprocs) {
		if (ep_open(mode, e, ctx, sctx, &eps[n], r.why,
		    sizeof r.why) == 0)
			n++;
		else
			r.failed++;
	}
	for (i = 0; mode == TRYSTD && i < n && r.failed == 0; i++)
		r.failed += gen_relay_ready(&eps[i].c, r.why,
		    sizeof r.why) != 0;
	for (i = 0; i < n; i++)
		fcntl(eps[i].c.fd, F_SETFL, O_NONBLOCK);
	if (write(wfd, "", 1) != 1 || read(rfd, &t, sizeof t) != sizeof t)
		_exit(1);
	if (r.failed == 0)
		gen_pump(eps, n, &t, &r);
	if (write(wfd, &r, sizeof r) != (ssize_t)sizeof r)
		_exit(1);
	_exit(0);
}

/* ---- the parent ----------------------------------------------------- */

/* Exactly len bytes from generator g's pipe fd within timeout_ms. */
static void
read_up(int g, int fd, void *p, size_t len, int timeout_ms)
{
	struct pollfd	 pfd = { fd, POLLIN, 0 };
	int64_t		 deadline = h_mono_ms() + timeout_ms;
	size_t		 got = 0;
	ssize_t		 n;
	int		 left;

	while (got < len) {
		left = (int)(deadline - h_mono_ms());
		ck_assert_msg(left > 0, "generator %d: no answer in time", g);
		if (poll(&pfd, 1, left) <= 0)
			continue;
		n = read(fd, (char *)p + got, len - got);
		ck_assert_msg(n > 0, "generator %d died", g);
		got += (size_t)n;
	}
}

/* Sleep until bench_now() reaches t. */
static void
sleep_until(double t)
{
	double	 left;

	while ((left = t - bench_now()) > 0)
		h_msleep(left > 0.05 ? 50 : 1);
}

/* The generators of one run against server; its figures in res. */
static void
run_gens(enum mode mode, pid_t server, struct result *res)
{
	struct gen_report	 r;
	struct times		 t;
	pid_t			 gpid[MAX_PROCS];
	int			 up[MAX_PROCS], down[MAX_PROCS], a[2], b[2], g;
	long long		 cpu0, cpu1, bytes = 0;
	char			 c;

	/* A sender and a receiver apart; more when there are sessions and
	 * CPUs for them (an even count: senders and receivers apart). */
	res->procs = nsessions == 1 ? 2 : 2 * (ncpu - 1);
	if (res->procs < 4)
		res->procs = 4;
	if (res->procs > 2 * nsessions)
		res->procs = 2 * nsessions;
	if (res->procs > MAX_PROCS)
		res->procs = MAX_PROCS;
	for (g = 0; g < res->procs; g++) {
		ck_assert_int_eq(pipe(a), 0);
		ck_assert_int_eq(pipe(b), 0);
		ck_assert_int_ne(gpid[g] = fork(), -1);
		if (gpid[g] == 0) {
			close(a[0]);
			close(b[1]);
			gen_run(mode, g, res->procs, b[0], a[1]);
		}
		close(a[1]);
		close(b[0]);
		up[g] = a[0];
		down[g] = b[1];
	}
	for (g = 0; g < res->procs; g++)
		read_up(g, up[g], &c, 1, (IO_TIMEOUT_S + nsessions) * 1000);
	t.go = bench_now() + 0.05;
	t.from = t.go + WARMUP;
	t.to = t.from + secs / rounds;
	for (g = 0; g < res->procs; g++)
		ck_assert_int_eq(write(down[g], &t, sizeof t), sizeof t);
	sleep_until(t.from);
	cpu0 = bench_cpu_ms(server);
	sleep_until(t.to);
	cpu1 = bench_cpu_ms(server);
	ck_assert_msg(cpu0 >= 0 && cpu1 >= 0, "the server is gone");
	res->wall += t.to - t.from;
	res->cpu += (double)(cpu1 - cpu0) / 1000;
	for (g = 0; g < res->procs; g++) {
		read_up(g, up[g], &r, sizeof r, (IO_TIMEOUT_S + 5) * 1000);
		ck_assert_msg(r.failed == 0, "generator %d: %d ends failed, "
		    "the last: %s", g, r.failed, r.why);
		bytes += r.bytes;
		waitpid(gpid[g], NULL, 0);
		close(up[g]);
		close(down[g]);
	}
	ck_assert_msg(bytes > 0, "no byte came through");
	res->bytes += bytes;
}

/* Print one run's figures. */
static void
print_run(const char *name, const struct result *r)
{
	printf("relay: %s, %d session%s (%d generators): %.1f MB in %.2f s: "
	    "%.1f MB/s wall; server CPU %.2f s (%.0f %% of a core): "
	    "%.1f MB per server CPU-second\n", name, r->sessions,
	    r->sessions == 1 ? "" : "s", r->procs, r->bytes / 1e6, r->wall,
	    r->bytes / r->wall / 1e6, r->cpu, 100 * r->cpu / r->wall,
	    r->cpu > 0 ? r->bytes / r->cpu / 1e6 : 0);
	if (!bench_busy(r->cpu, r->wall))
		printf("relay: %s, %d session%s: the generators were the "
		    "bottleneck: the server used %.0f %% of one core\n", name,
		    r->sessions, r->sessions == 1 ? "" : "s",
		    100 * r->cpu / r->wall);
	fflush(stdout);
}

/* One trystd run: the calls on fresh control connections, the relay. */
static void
run_trystd(struct result *res)
{
	struct hc	*caller, *callee;
	int		 s;

	caller = h_online(&acc[0], 0);
	callee = h_online(&acc[1], HELLO_PRESENCE);
	ck_assert_int_eq(tconn_version(callee->tc), 2);
	for (s = 0; s < nsessions; s++) {
		h_ring(caller, &acc[0], callee, &acc[1], (uint32_t)s + 1,
		    NULL, 0, &calls[s]);
		h_accept(caller, callee, &acc[1], NULL, 0, &calls[s]);
	}
	run_gens(TRYSTD, H.trystd_pid, res);
	/* Leaving ends the sessions. */
	h_close(caller);
	h_close(callee);
	ck_assert_msg(h_trystd_alive(), "trystd died (see %s)", H.log);
}

/* The receivers' listening socket, for stunnel's "out" to reach; its
 * port. */
static int
sink_listen(void)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof sin;

	gen_addr(&sin, NULL, 0);
	ck_assert_int_ne(sink_fd = socket(AF_INET, SOCK_STREAM, 0), -1);
	ck_assert_int_eq(bind(sink_fd, (struct sockaddr *)&sin, len), 0);
	ck_assert_int_eq(listen(sink_fd, 2 * MAX_SESSIONS), 0);
	ck_assert_int_eq(getsockname(sink_fd, (struct sockaddr *)&sin, &len),
	    0);
	return (ntohs(sin.sin_port));
}

/* The suite trystd picks for a generator's offer. */
static void
probe_suite(void)
{
	struct sockaddr_in	 src, dst;
	struct gconn		 c;
	SSL_CTX			*ctx = client_ctx();
	char			 why[96];

	ck_assert_ptr_nonnull(ctx);
	gen_addr(&src, NULL, 0);
	gen_addr(&dst, NULL, H.tryst_port);
	ck_assert_msg(gen_tls(ctx, &src, &dst, IO_TIMEOUT_S, &c, why,
	    sizeof why) == 0, "trystd: %s", why);
	snprintf(suite, sizeof suite, "%s", SSL_get_cipher_name(c.ssl));
	gen_close(&c);
	SSL_CTX_free(ctx);
}

/* stunnel4 in the foreground as the two services of the header, pinned
 * to the server's CPU; waits until "in" accepts. */
static void
start_stunnel(int in, int out, int sink)
{
	char	 conf[PATH_MAX + 16], log[PATH_MAX + 16];
	char	*argv[] = { "stunnel4", conf, NULL };
	FILE	*f;
	int	 i, fd;
	struct sockaddr_in sin;

	snprintf(conf, sizeof conf, "%s/stunnel.conf", H.dir);
	snprintf(log, sizeof log, "%s/stunnel.log", H.dir);
	ck_assert_ptr_nonnull(f = fopen(conf, "w"));
	fprintf(f, "foreground = yes\npid =\nsyslog = no\ndebug = 4\n"
	    "TIMEOUTclose = 0\n"
	    "[in]\naccept = 127.0.0.1:%d\nconnect = 127.0.0.1:%d\n"
	    "cert = %s/cert.pem\nkey = %s/key.pem\n"
	    "sslVersionMin = TLSv1.3\nciphersuites = %s\n"
	    "[out]\nclient = yes\naccept = 127.0.0.1:%d\n"
	    "connect = 127.0.0.1:%d\nsslVersionMin = TLSv1.3\n"
	    "ciphersuites = %s\n", in, out, H.dir, H.dir, suite, out, sink,
	    suite);
	ck_assert_int_eq(fclose(f), 0);
	ck_assert_int_gt(stunnel_pid = h_spawn(argv, NULL, log), 0);
	bench_pin(stunnel_pid, &server_cpus);
	/* A plain connect to "in", closed at once, reaches no further. */
	gen_addr(&sin, NULL, in);
	for (i = 0; i < 100; i++) {
		ck_assert_msg(waitpid(stunnel_pid, NULL, WNOHANG) == 0,
		    "stunnel4 exited (see %s)", log);
		ck_assert_int_ne(fd = socket(AF_INET, SOCK_STREAM, 0), -1);
		if (connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0) {
			close(fd);
			break;
		}
		close(fd);
		h_msleep(100);
	}
	ck_assert_msg(i < 100, "stunnel4 does not listen (see %s)", log);
	bench_pin(stunnel_pid, &server_cpus);
}

/* The RESULT lines of r (trystd, stunnel; one session, then many). */
static void
results(const struct result r[4])
{
	static const char *const what[4] = { "bytes/s", "bytes per server "
	    "CPU-s", "bytes per server CPU-s", "bytes/s" };
	static const char *const target[4] = { ">= 0.8x", ">= 1x", ">= 1x",
	    NULL };
	struct bench_result	 b;
	const struct result	*t, *s;
	char			 measure[96];
	int			 i, per_cpu;

	memset(&b, 0, sizeof b);
	b.row = "relay";
	b.anchor = "stunnel4";
	for (i = 0; i < 4; i++) {
		t = &r[i < 2 ? 0 : 2];
		s = t + 1;
		per_cpu = i == 1 || i == 2;
		if (t->sessions == 1)
			snprintf(measure, sizeof measure, "one session, %s",
			    what[i]);
		else
			snprintf(measure, sizeof measure, "%d sessions, %s",
			    t->sessions, what[i]);
		b.measure = measure;
		b.unit = per_cpu ? "bytes per server CPU-s" : "bytes/s wall";
		b.value = t->bytes / (per_cpu ? t->cpu : t->wall);
		b.anchor_value = s->bytes / (per_cpu ? s->cpu : s->wall);
		b.target = target[i];
		b.note = bench_busy(t->cpu, t->wall) &&
		    bench_busy(s->cpu, s->wall) ? NULL : "generator-bound";
		bench_result(&b);
	}
}

/* Accounts, stunnel; one session and many through each. */
static void
body(void)
{
	struct result	 r[4];	/* trystd 1, stunnel 1, trystd n, stunnel n */
	int		 in, out, many = nsessions, i, k;

	h_mint("+15550330000", 2, acc);
	bench_pin(H.redis_pid, &gen_cpus);
	bench_pin(H.trystd_pid, &server_cpus);
	probe_suite();
	in = h_proc_port(SOCK_STREAM);
	do
		out = h_proc_port(SOCK_STREAM);
	while (out == in);
	start_stunnel(in, out, sink_listen());
	stunnel_port = in;
	printf("relay: TLS 1.3 suite %s, certificate ECDSA P-256\n", suite);
	memset(r, 0, sizeof r);
	/* In turn, so that whatever else the machine does falls on both. */
	for (k = 0; k < rounds; k++) {
		for (i = 0; i < 4; i++) {
			nsessions = r[i].sessions = i < 2 ? 1 : many;
			if (i % 2 == 0)
				run_trystd(&r[i]);
			else
				run_gens(STUNNEL, stunnel_pid, &r[i]);
		}
	}
	ck_assert_msg(waitpid(stunnel_pid, NULL, WNOHANG) == 0,
	    "stunnel4 died (see %s/stunnel.log)", H.dir);
	for (i = 0; i < 4; i++)
		print_run(i % 2 == 0 ? "trystd" : "stunnel4", &r[i]);
	printf("relay: trystd/stunnel4: one session: %.2f per wall second, "
	    "%.2f per server CPU-second; %d sessions: %.2f per wall second, "
	    "%.2f per server CPU-second\n",
	    (r[0].bytes / r[0].wall) / (r[1].bytes / r[1].wall),
	    (r[0].bytes / r[0].cpu) / (r[1].bytes / r[1].cpu), many,
	    (r[2].bytes / r[2].wall) / (r[3].bytes / r[3].wall),
	    (r[2].bytes / r[2].cpu) / (r[3].bytes / r[3].cpu));
	results(r);
	kill(stunnel_pid, SIGTERM);
	waitpid(stunnel_pid, NULL, 0);
	close(sink_fd);
	for (i = 0; i < 2; i++)
		sodium_memzero(acc[i].sk, sizeof acc[i].sk);
}

/* A number from s within lo..hi, or exit with usage. */
static long
arg(const char *s, long lo, long hi)
{
	char	*end;
	long	 v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "usage: tryst-bench relay [seconds, 1-600] "
		    "[sessions, 1-%d]\n", MAX_SESSIONS);
		exit(2);
	}
	return (v);
}

/* Arguments, CPUs, the harness; measure; stop. */
int
bench_relay_main(int argc, char *argv[])
{
	char	*cause = NULL;

	ncpu = bench_cpus(&server_cpus, &gen_cpus, &server_cpu);
	if (argc > 1)
		secs = (double)arg(argv[1], 1, 600);
	if (secs < ROUNDS)
		rounds = 1;
	if (argc > 2)
		nsessions = (int)arg(argv[2], 1, MAX_SESSIONS);
	printf("relay: %d CPUs: servers on CPU %d%s; %.0f s of each run in "
	    "%d rounds, %d sessions; %s\n", ncpu, server_cpu, ncpu > 1 ?
	    ", generators and Redis on the others" : " with everything else",
	    secs, rounds, nsessions, OpenSSL_version(OPENSSL_VERSION));
	if (h_start(RELAY_CONF, &cause) == -1) {
		fprintf(stderr, "tryst-bench relay: %s\n", cause);
		return (1);
	}
	if (bench_run("relay", body) != 0)
		return (1);
	h_stop();
	h_remove_dir();
	return (0);
}
