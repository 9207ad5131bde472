/*
 * bench-setup.c -- connection setup against its anchor (issue 11): how
 * many connections per second of wall time and per second of the
 * server's CPU time
 *	(a) bare-tls completes: TCP, the TLS 1.3 handshake, the server closes;
 *	(b) trystd completes: the handshake and CHALLENGE;
 *	(c) trystd completes: the handshake, CHALLENGE, HELLO and WELCOME;
 * each for SECONDS, with a certificate of ECDSA P-256 and one of Ed25519
 * on both servers, and the ratios b/a and c/a. The servers run on the
 * first CPU this process may use, the generator processes (forked, each
 * opening and closing connections one after another as fast as it can,
 * from a loopback address of its own) and Redis on the others when there
 * are others. Server CPU time is utime + stime from /proc/PID/stat, read
 * before the generators start and after they stop; a server that used well
 * under a whole core was waiting for the generators, and the output says
 * so. HELLO costs Redis a read too: its CPU time is printed beside.
 * Asserts nothing about speed.
 *
 * Usage: tryst-bench setup [SECONDS, default 5] [GENERATORS, default: 4, or
 * one per other CPU if more] (with TRYSTD, TRYSTCTL set, as
 * meson's benchmark sets them)
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <dirent.h>
#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/event.h>
#include <openssl/crypto.h>
#include <openssl/ssl.h>
#include <check.h>
#include <sodium.h>

#include "harness.h"
#include "bench.h"
#include "gen.h"

#define MAX_GENS	64
#define IO_TIMEOUT_S	5	/* one read or write of a generator */
#define SETTLE_MS	300	/* for the server to see the last closes */
#define BUSY_SHARE	0.9	/* of a core: below, the server waited */

/* Nothing a generator does may hit a limit of the server. */
#define SETUP_CONF \
	"max_connections = 1000000\n" \
	"max_connections_per_ip = 1000000\n" \
	"max_connections_per_account = 64\n"

enum mode { BARE, CHALLENGE, HELLO, NMODES };

static const char *const mode_name[NMODES] = {
	"bare TLS handshake",
	"trystd handshake + CHALLENGE",
	"trystd handshake + CHALLENGE + HELLO + WELCOME",
};

/* What one generator did, sent up its pipe in one write. */
struct gen_report {
	long		 ok;
	long		 failed;
	char		 why[96];	/* the last failure */
};

/* One mode's figures. */
struct result {
	long		 ok;
	long		 failed;
	double		 wall;		/* seconds */
	double		 cpu;		/* the server's seconds */
	double		 redis_cpu;
};

static double		 secs = 5;
static int		 ngens, server_cpu;
static cpu_set_t	 server_cpus, gen_cpus;
static struct account	 accs[MAX_GENS];

/* ---- a generator ---------------------------------------------------- */

/* One connection of mode to dst from src, as account a; 0, or -1. */
static int
one(enum mode mode, SSL_CTX *ctx, const struct sockaddr_in *src,
    const struct sockaddr_in *dst, const struct account *a, char *why,
    size_t whylen)
{
	struct gconn	 c;
	uint8_t		 nonce[32];
	int		 rv = 0, n;

	if (gen_tls(ctx, src, dst, IO_TIMEOUT_S, &c, why, whylen) != 0)
		return (-1);
	switch (mode) {
	case BARE:
		/* Closed by the server once it has our Finished: no data,
		 * no alert. */
		n = SSL_read(c.ssl, nonce, sizeof nonce);
		if (n > 0 || SSL_get_error(c.ssl, n) != SSL_ERROR_ZERO_RETURN) {
			snprintf(why, whylen, "bare server: no clean close");
			rv = -1;
		}
		break;
	case CHALLENGE:
		rv = gen_challenge(&c, nonce, why, whylen);
		break;
	default:
		rv = gen_hello(&c, a, why, whylen);
		break;
	}
	gen_close(&c);
	return (rv);
}

/* Generator g: connections of mode to port until deadline, then the
 * report up wfd. Never returns. */
static void
gen_run(enum mode mode, int g, int port, double deadline, int wfd)
{
	struct gen_report	 r;
	struct sockaddr_in	 src, dst;
	SSL_CTX			*ctx;

	/* Not the harness's handlers: they stop Redis and trystd. */
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGABRT, SIG_DFL);
	signal(SIGSEGV, SIG_DFL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	sched_setaffinity(0, sizeof gen_cpus, &gen_cpus);
	memset(&r, 0, sizeof r);
	memset(&src, 0, sizeof src);
	src.sin_family = AF_INET;
	/* 127.0.M.(2 + g): 4-tuples of their own per mode and generator. */
	src.sin_addr.s_addr = htonl(0x7f000002 | (uint32_t)(mode + 1) << 8 |
	    (uint32_t)g);
	memset(&dst, 0, sizeof dst);
	dst.sin_family = AF_INET;
	dst.sin_port = htons((uint16_t)port);
	dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((ctx = gen_ctx()) == NULL)
		_exit(1);
	/* The bare server closes without close_notify. */
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	while (bench_now() < deadline) {
		if (one(mode, ctx, &src, &dst, &accs[g], r.why,
		    sizeof r.why) == 0)
			r.ok++;
		else {
			r.failed++;
			h_msleep(1);
		}
	}
	if (write(wfd, &r, sizeof r) != (ssize_t)sizeof r)
		_exit(1);
	_exit(0);
}

/* ---- the parent ----------------------------------------------------- */

/* The CPU time of the n processes of pids together, in ms; -1 if one
 * is gone. */
static long long
cpu_ms(const pid_t *pids, int n)
{
	long long	 sum = 0, one;
	int		 i;

	for (i = 0; i < n; i++) {
		if ((one = bench_cpu_ms(pids[i])) < 0)
			return (-1);
		sum += one;
	}
	return (sum);
}

/* Run mode against the npids server processes of pids sharing port for
 * secs; their figures. */
static void
run_modes(enum mode mode, const pid_t *pids, int npids, int port,
    struct result *res)
{
	struct gen_report	 r;
	pid_t			 gpid[MAX_GENS];
	int			 up[MAX_GENS], p[2], g;
	long long		 cpu0, cpu1, red0, red1;
	double			 t0, deadline;

	memset(res, 0, sizeof *res);
	fflush(stdout);
	cpu0 = cpu_ms(pids, npids);
	red0 = bench_cpu_ms(H.redis_pid);
	t0 = bench_now();
	deadline = t0 + secs;
	for (g = 0; g < ngens; g++) {
		ck_assert_int_eq(pipe(p), 0);
		ck_assert_int_ne(gpid[g] = fork(), -1);
		if (gpid[g] == 0) {
			close(p[0]);
			gen_run(mode, g, port, deadline, p[1]);
		}
		close(p[1]);
		up[g] = p[0];
	}
	for (g = 0; g < ngens; g++) {
		bench_read_report(g, up[g], &r, sizeof r, h_mono_ms() +
		    (int64_t)(secs + 2 * IO_TIMEOUT_S + 10) * 1000);
		res->ok += r.ok;
		res->failed += r.failed;
		if (r.failed > 0)
			printf("setup:   generator %d: %ld failed, the last: "
			    "%s\n", g, r.failed, r.why);
		waitpid(gpid[g], NULL, 0);
		close(up[g]);
	}
	res->wall = bench_now() - t0;
	h_msleep(SETTLE_MS);
	cpu1 = cpu_ms(pids, npids);
	red1 = bench_cpu_ms(H.redis_pid);
	ck_assert_msg(cpu0 >= 0 && cpu1 >= 0, "the server is gone");
	res->cpu = (double)(cpu1 - cpu0) / 1000;
	res->redis_cpu = (double)(red1 - red0) / 1000;
}

/* run_modes with one server. */
static void
run_mode(enum mode mode, pid_t pid, int port, struct result *res)
{
	run_modes(mode, &pid, 1, port, res);
}

/* Print one mode's figures. */
static void
print_mode(const char *cert, enum mode mode, const struct result *r)
{
	double	 share = r->wall > 0 ? r->cpu / r->wall : 0;

	printf("setup: %s: %s: %ld in %.2f s: %.0f/s wall, server CPU "
	    "%.2f s: %.0f per server CPU-second; %ld failed\n", cert,
	    mode_name[mode], r->ok, r->wall, r->ok / r->wall, r->cpu,
	    r->cpu > 0 ? r->ok / r->cpu : 0, r->failed);
	if (mode == HELLO && r->ok > 0)
		printf("setup: %s: %s: Redis CPU %.2f s (%.1f us each)\n",
		    cert, mode_name[mode], r->redis_cpu,
		    r->redis_cpu * 1e6 / r->ok);
	if (share < BUSY_SHARE)
		printf("setup: %s: %s: the generators were the bottleneck: "
		    "the server used %.0f %% of one core\n", cert,
		    mode_name[mode], share * 100);
	fflush(stdout);
}

/* The RESULT lines of one certificate: b and c per server CPU-second
 * against a, and c per wall second. */
static void
results(const char *cert, const struct result r[NMODES])
{
	struct bench_result	 b;
	char			 measure[128];
	double			 bare = r[BARE].ok / r[BARE].cpu;
	int			 busy;

	busy = bench_busy(r[BARE].cpu, r[BARE].wall) &&
	    bench_busy(r[CHALLENGE].cpu, r[CHALLENGE].wall) &&
	    bench_busy(r[HELLO].cpu, r[HELLO].wall);
	memset(&b, 0, sizeof b);
	b.row = "setup";
	b.unit = "per server CPU-s";
	b.anchor = "bare libevent+OpenSSL TLS 1.3 handshake";
	b.anchor_value = bare;
	b.note = busy ? NULL : "generator-bound";
	snprintf(measure, sizeof measure, "%s: handshake + CHALLENGE", cert);
	b.measure = measure;
	b.value = r[CHALLENGE].cpu > 0 ? r[CHALLENGE].ok / r[CHALLENGE].cpu :
	    0;
	bench_result(&b);
	snprintf(measure, sizeof measure, "%s: handshake + CHALLENGE + HELLO "
	    "+ WELCOME", cert);
	b.value = r[HELLO].cpu > 0 ? r[HELLO].ok / r[HELLO].cpu : 0;
	b.target = ">= 0.75x";
	bench_result(&b);
	b.unit = "/s wall";
	b.anchor_value = r[BARE].ok / r[BARE].wall;
	b.value = r[HELLO].ok / r[HELLO].wall;
	b.target = NULL;
	bench_result(&b);
}

/* Wait until bare-tls on port completes a handshake (10 s at most). */
static void
bare_ready(pid_t pid, int port)
{
	struct account	 none;
	struct sockaddr_in src, dst;
	SSL_CTX		*ctx = gen_ctx();
	char		 why[96] = "";
	int		 i;

	memset(&src, 0, sizeof src);
	src.sin_family = AF_INET;
	src.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	dst = src;
	dst.sin_port = htons((uint16_t)port);
	SSL_CTX_set_options(ctx, SSL_OP_IGNORE_UNEXPECTED_EOF);
	for (i = 0; i < 100; i++) {
		ck_assert_msg(waitpid(pid, NULL, WNOHANG) == 0,
		    "bare-tls exited (see %s/bare.log)", H.dir);
		if (one(BARE, ctx, &src, &dst, &none, why, sizeof why) == 0)
			break;
		h_msleep(100);
	}
	SSL_CTX_free(ctx);
	ck_assert_msg(i < 100, "bare-tls: %s", why);
}

/* The three modes with one certificate; the ratios. */
static void
run_cert(const char *name, const char *cert, const char *key)
{
	struct result	 r[NMODES];
	struct hproc	*p;
	char		 port[16], log[PATH_MAX + 16];
	char		*argv[] = { "/proc/self/exe", "bare-tls", port,
			    (char *)cert, (char *)key, NULL };
	pid_t		 bare;
	int		 bport = h_proc_port(SOCK_STREAM);

	snprintf(port, sizeof port, "%d", bport);
	snprintf(log, sizeof log, "%s/bare.log", H.dir);
	ck_assert_int_gt(bare = h_spawn(argv, NULL, log), 0);
	bare_ready(bare, bport);
	p = h_proc_new(name);
	h_proc_conf(p, NULL, cert, key, NULL, SETUP_CONF);
	h_proc_start(p, NULL);
	h_proc_ready(p);
	bench_pin(bare, &server_cpus);
	bench_pin(p->pid, &server_cpus);

	run_mode(BARE, bare, bport, &r[BARE]);
	print_mode(name, BARE, &r[BARE]);
	run_mode(CHALLENGE, p->pid, p->port, &r[CHALLENGE]);
	print_mode(name, CHALLENGE, &r[CHALLENGE]);
	run_mode(HELLO, p->pid, p->port, &r[HELLO]);
	print_mode(name, HELLO, &r[HELLO]);
	ck_assert_msg(r[BARE].ok > 0 && r[BARE].cpu > 0, "no bare figure");
	printf("setup: %s: per server CPU-second: b/a %.2f, c/a %.2f; "
	    "per wall second: b/a %.2f, c/a %.2f\n", name,
	    (r[CHALLENGE].ok / r[CHALLENGE].cpu) / (r[BARE].ok / r[BARE].cpu),
	    (r[HELLO].ok / r[HELLO].cpu) / (r[BARE].ok / r[BARE].cpu),
	    (double)r[CHALLENGE].ok / r[BARE].ok,
	    (double)r[HELLO].ok / r[BARE].ok);
	results(name, r);
	kill(bare, SIGTERM);
	waitpid(bare, NULL, 0);
	ck_assert_msg(!h_proc_wait(p, 0), "trystd died (see %s)", p->log);
	h_proc_stop_all();
}

/* An Ed25519 certificate and key in H.dir (paths into cert and key, each
 * PATH_MAX + 16 bytes); H's Redis and trystd off the server's CPU. */
static void
prepare(char *cert, char *key)
{
	snprintf(cert, PATH_MAX + 16, "%s/ed25519-cert.pem", H.dir);
	snprintf(key, PATH_MAX + 16, "%s/ed25519-key.pem", H.dir);
	ck_assert_int_eq(h_run(NULL, "openssl req -x509 -newkey ed25519 "
	    "-nodes -keyout %s -out %s -days 2 -subj /CN=localhost "
	    ">/dev/null 2>&1", key, cert), 0);
	bench_pin(H.redis_pid, &gen_cpus);
	bench_pin(H.trystd_pid, &gen_cpus);
}

/* Accounts, an Ed25519 certificate; both certificates. */
static void
body(void)
{
	char	 cert[PATH_MAX + 16], key[PATH_MAX + 16];
	int	 g;

	h_mint("+15550300000", ngens, accs);
	prepare(cert, key);
	run_cert("ed25519", cert, key);
	/* The harness's own: P-256. */
	snprintf(cert, sizeof cert, "%s/cert.pem", H.dir);
	snprintf(key, sizeof key, "%s/key.pem", H.dir);
	run_cert("ecdsa-p256", cert, key);
	for (g = 0; g < ngens; g++)
		sodium_memzero(accs[g].sk, sizeof accs[g].sk);
}

/* A number from s within lo..hi, or exit with usage. */
static long
arg(const char *s, long lo, long hi)
{
	char	*end;
	long	 v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "usage: tryst-bench setup [seconds, 1-600] "
		    "[generators, 1-%d]\n", MAX_GENS);
		exit(2);
	}
	return (v);
}

/* ---- several nodes on one port ------------------------------------ */

#define MAX_NODES	32

/*
 * tryst-bench scale [NODES] [SECONDS]: HELLOs per wall second of one
 * node on one CPU, then of NODES nodes sharing its port (SO_REUSEPORT),
 * each on a CPU of its own, with the generators on the remaining CPUs;
 * the ratio against NODES times one node's rate (the goal: 0.8). NODES
 * defaults to a quarter of the CPUs; with fewer than 2 it says that the
 * machine is too small and measures nothing.
 */
static int	 scale_cpu[MAX_NODES];
static int	 scale_nodes;

/* nodes trystds on one port, node k pinned to scale_cpu[k]; their
 * HELLO figures. */
static void
scale_run(int nodes, const char *cert, const char *key, struct result *r)
{
	struct hproc	*p[MAX_NODES];
	pid_t		 pids[MAX_NODES] = { 0 };
	cpu_set_t	 one;
	char		 name[32], listen[64];
	int		 k, port = h_proc_port(SOCK_STREAM);

	snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
	for (k = 0; k < nodes; k++) {
		snprintf(name, sizeof name, "scale%d-%d", nodes, k);
		p[k] = h_proc_new(name);
		h_proc_conf(p[k], listen, cert, key, NULL, SETUP_CONF);
		h_proc_start(p[k], NULL);
	}
	h_msleep(1500);
	for (k = 0; k < nodes; k++) {
		ck_assert_msg(!h_proc_wait(p[k], 0), "node %d died (see %s)",
		    k, p[k]->log);
		CPU_ZERO(&one);
		CPU_SET(scale_cpu[k], &one);
		bench_pin(p[k]->pid, &one);
		pids[k] = p[k]->pid;
	}
	run_modes(HELLO, pids, nodes, port, r);
	for (k = 0; k < nodes; k++)
		printf("scale: %d nodes: node %d on CPU %d used %.2f s\n",
		    nodes, k, scale_cpu[k],
		    (double)bench_cpu_ms(pids[k]) / 1000);
	h_proc_stop_all();
}

/* One node, then scale_nodes; the RESULT line. */
static void
scale_body(void)
{
	struct bench_result	 b;
	struct result		 r1, rn;
	char			 cert[PATH_MAX + 16], key[PATH_MAX + 16];
	char			 measure[96], anchor[96];
	int			 g;

	h_mint("+15550310000", ngens, accs);
	prepare(cert, key);
	scale_run(1, cert, key, &r1);
	print_mode("1 node", HELLO, &r1);
	scale_run(scale_nodes, cert, key, &rn);
	snprintf(measure, sizeof measure, "%d nodes", scale_nodes);
	print_mode(measure, HELLO, &rn);
	memset(&b, 0, sizeof b);
	snprintf(measure, sizeof measure, "ed25519: HELLOs of %d nodes on "
	    "%d CPUs, one port", scale_nodes, scale_nodes);
	snprintf(anchor, sizeof anchor, "%d x one node on one CPU",
	    scale_nodes);
	b.row = "scale";
	b.measure = measure;
	b.unit = "/s wall";
	b.value = rn.ok / rn.wall;
	b.anchor = anchor;
	b.anchor_value = scale_nodes * r1.ok / r1.wall;
	b.target = ">= 0.8x";
	if (!bench_busy(rn.cpu / scale_nodes, rn.wall) ||
	    !bench_busy(r1.cpu, r1.wall))
		b.note = "generator-bound";
	bench_result(&b);
	for (g = 0; g < ngens; g++)
		sodium_memzero(accs[g].sk, sizeof accs[g].sk);
}

/* Arguments, CPUs, the harness; measure; stop. */
int
bench_scale_main(int argc, char *argv[])
{
	struct bench_result	 b;
	cpu_set_t		 all;
	char			*cause = NULL, *end;
	int			 i, n;

	CPU_ZERO(&gen_cpus);
	if (sched_getaffinity(0, sizeof all, &all) == -1)
		return (1);
	n = CPU_COUNT(&all);
	scale_nodes = n / 4;
	if (argc > 1 && ((scale_nodes = (int)strtol(argv[1], &end, 10)) < 1 ||
	    *end != '\0' || scale_nodes > MAX_NODES || scale_nodes >= n)) {
		fprintf(stderr, "usage: tryst-bench scale [nodes, fewer than "
		    "the CPUs] [seconds]\n");
		return (2);
	}
	if (argc > 2)
		secs = (double)arg(argv[2], 1, 600);
	if (scale_nodes < 2) {
		printf("scale: %d CPUs: too few for nodes and generators on "
		    "CPUs of their own (8 or more, or name the nodes)\n", n);
		memset(&b, 0, sizeof b);
		b.row = "scale";
		b.measure = "HELLOs of N nodes on N CPUs, one port";
		b.target = ">= 0.8x";
		b.note = "not measured: too few CPUs";
		bench_result(&b);
		return (0);
	}
	/* The first scale_nodes CPUs for the nodes, the rest for the
	 * generators. */
	for (i = 0, n = 0; i < CPU_SETSIZE; i++) {
		if (!CPU_ISSET(i, &all))
			continue;
		if (n < scale_nodes)
			scale_cpu[n] = i;
		else
			CPU_SET(i, &gen_cpus);
		n++;
	}
	ngens = n - scale_nodes > 4 ? n - scale_nodes : 4;
	if (ngens > MAX_GENS)
		ngens = MAX_GENS;
	printf("scale: %d CPUs: %d nodes, %d generators, %.0f s per run\n",
	    n, scale_nodes, ngens, secs);
	if (h_start(NULL, &cause) == -1) {
		fprintf(stderr, "tryst-bench scale: %s\n", cause);
		return (1);
	}
	if (bench_run("scale", scale_body) != 0)
		return (1);
	h_stop();
	h_remove_dir();
	return (0);
}

/* Arguments, CPUs, the harness; measure; stop. */
int
bench_setup_main(int argc, char *argv[])
{
	char	*cause = NULL;
	int	 ncpu = bench_cpus(&server_cpus, &gen_cpus, &server_cpu);

	ngens = ncpu - 1 > 4 ? ncpu - 1 : 4;
	if (ngens > MAX_GENS)
		ngens = MAX_GENS;
	if (argc > 1)
		secs = (double)arg(argv[1], 1, 600);
	if (argc > 2)
		ngens = (int)arg(argv[2], 1, MAX_GENS);
	printf("setup: %d CPUs: servers on CPU %d%s; %d generators, %.0f s "
	    "per run; %s, libevent %s\n", ncpu, server_cpu,
	    ncpu > 1 ? ", generators and Redis "
	    "on the others" : " with everything else", ngens, secs,
	    OpenSSL_version(OPENSSL_VERSION), event_get_version());
	if (h_start(NULL, &cause) == -1) {
		fprintf(stderr, "bench-setup: %s\n", cause);
		return (1);
	}
	if (bench_run("setup", body) != 0)
		return (1);
	h_stop();
	h_remove_dir();
	return (0);
}
