/*
 * bench-nodes.c -- memory per idle connection across nodes. NODES trystd
 * nodes on H's Redis (doc/protocol.md §9), each on its own port, hold N
 * authenticated idle connections between them (HELLO with flags 0, then
 * silence), connection i on node i % NODES. The load comes from generator
 * processes forked from this one, since one process may hold only as many
 * descriptors as the file limit allows: each holds at most that limit less
 * SPARE_FDS, opens its connections one after another, and binds its own
 * loopback source address (127.0.0.2, .3, ...) so the 4-tuples do not run
 * out of ports. VmRSS and Pss of each node are read before the first
 * connection and after the last; prints per node the connections held,
 * the growth and the bytes per connection, the totals, how long setup
 * took, the generators' own memory, and every connection that failed,
 * counted by cause. Asserts nothing about size or speed.
 *
 * Accounts are minted into H's Redis (trystctl mint), PER_ACCOUNT
 * connections of an account on each node (max_connections_per_account is
 * per node, at most 64). A generator's memory is most of all OpenSSL's
 * per-connection state: about 19 kB per connection all told, with
 * SSL_MODE_RELEASE_BUFFERS (100,000 over 8 nodes: 1.9 GB for the
 * generators, 1.6 GB for the nodes).
 *
 * Part of tryst-bench --all (bench/run) but not of meson's --benchmark:
 * it takes minutes at full size. It needs a hard file limit of at least
 * N / NODES + 64. By hand, from the source root:
 *
 *	B=build-bench; TRYSTD=$B/server/trystd TRYSTCTL=$B/server/trystctl \
 *	    TRYST=$B/client/tryst $B/bench/tryst-bench nodes [N] [NODES] \
 *	    [PER_ACCOUNT]
 *
 * N defaults to 100000, NODES to 8 (at most 8), PER_ACCOUNT to 64; a quick
 * check: tryst-bench nodes 8000 4.
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>
#include <check.h>
#include <sodium.h>

#include "harness.h"
#include "bench.h"
#include "gen.h"

#define MAX_NODES	8	/* trystds of one test (harness-proc.c) */
#define MAX_GENS	200	/* source addresses 127.0.0.2 ... */
#define MIN_GENS	4	/* handshakes in flight at once */
#define SPARE_FDS	64	/* files besides the connections */
#define MAX_CAUSES	8	/* distinct causes of failure told apart */
#define IO_TIMEOUT_S	60	/* one read or write of a generator */
#define REPORT_WAIT_MS	(30 * 60 * 1000)	/* all generators, at most */

#define NODES_CONF \
	"max_connections_per_ip = 1000000\n" \
	"handshake_timeout_s = 120\n" \
	"anonymous_lifetime_s = 3600\n" \
	"idle_timeout_s = 3600\n"

/* What one generator did, sent up its pipe in one write. */
struct gen_report {
	long		 ok[MAX_NODES];		/* WELCOMEs, per node */
	long		 failed;
	long		 cause_n[MAX_CAUSES];
	char		 cause[MAX_CAUSES][96];	/* the last: all others */
	long long	 rss;			/* its own, with all held */
	double		 secs;
};

static long		 nconn = 100000;
static int		 nnodes = 8, per_account = 64, ngens;
static struct hproc	*nodes[MAX_NODES];
static struct account	*accs;
static long		 naccs;

/* ---- a generator -------------------------------------------------------- */

/* Count one failure of cause in r (the last slot takes the rest). */
static void
note(struct gen_report *r, const char *cause)
{
	int	 i;

	r->failed++;
	for (i = 0; i < MAX_CAUSES - 1 && r->cause[i][0] != '\0'; i++) {
		if (strcmp(r->cause[i], cause) == 0)
			break;
	}
	if (r->cause[i][0] == '\0')
		snprintf(r->cause[i], sizeof r->cause[i], "%s",
		    i == MAX_CAUSES - 1 ? "(other causes)" : cause);
	r->cause_n[i]++;
}

/* Generator g: open every ngens-th connection from 127.0.0.(2 + g), send
 * the report up wfd, then hold them all until killed. Never returns. */
static void
gen_run(int g, int wfd)
{
	struct gen_report	 r;
	struct sockaddr_in	 src, dst;
	struct bench_mem	 m;
	struct gconn		*held;
	SSL_CTX			*ctx;
	char			 why[96];
	long			 i, j, n = 0;
	int			 node;
	double			 t0 = bench_now();

	/* Not the harness's handlers: they stop Redis and the nodes. */
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGABRT, SIG_DFL);
	signal(SIGSEGV, SIG_DFL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	memset(&r, 0, sizeof r);
	held = xcalloc((size_t)(nconn / ngens + 1), sizeof *held);
	memset(&src, 0, sizeof src);
	src.sin_family = AF_INET;
	src.sin_addr.s_addr = htonl(0x7f000002 + (uint32_t)g);
	memset(&dst, 0, sizeof dst);
	dst.sin_family = AF_INET;
	dst.sin_addr.s_addr = htonl(0x7f000001);
	if ((ctx = gen_ctx()) == NULL)
		_exit(1);
	for (i = g; i < nconn; i += ngens) {
		node = (int)(i % nnodes);
		j = i / nnodes;		/* the connection's place on its node */
		dst.sin_port = htons((uint16_t)nodes[node]->port);
		if (gen_open(ctx, &src, &dst, IO_TIMEOUT_S,
		    &accs[j / per_account], &held[n], why, sizeof why) == 0) {
			r.ok[node]++;
			n++;
		} else
			note(&r, why);
	}
	r.secs = bench_now() - t0;
	if (bench_mem(getpid(), &m) == 0)
		r.rss = m.rss;
	if (write(wfd, &r, sizeof r) != (ssize_t)sizeof r)
		_exit(1);
	for (;;)
		pause();
}

/* ---- the parent ----------------------------------------------------- */

/* The accounts, minted into H's Redis (trystctl mint). */
static void
mint_accounts(void)
{
	double	 t0 = bench_now();

	h_mint("+15550200000", naccs, accs);
	printf("nodes: %ld accounts minted in %.1f s\n", naccs,
	    bench_now() - t0);
}

/* Memory and descriptors of every node, after two seconds of quiet. */
static void
nodes_mem(struct bench_mem *m, int *fds)
{
	int	 k;

	h_msleep(2000);
	for (k = 0; k < nnodes; k++) {
		ck_assert_msg(bench_mem(nodes[k]->pid, &m[k]) == 0,
		    "node %d is gone (see %s)", k + 1, nodes[k]->log);
		fds[k] = h_nfds(nodes[k]->pid);
	}
}

/* Print the growth of every node from m0 to m1 and the totals. */
static void
print_nodes(const long *held, const struct bench_mem *m0,
    const struct bench_mem *m1, const int *fd0, const int *fd1)
{
	struct bench_result	 b;
	long long		 rss = 0, pss = 0, drss, dpss;
	long			 total = 0;
	char			 measure[96];
	int			 k;

	for (k = 0; k < nnodes; k++) {
		drss = m1[k].rss - m0[k].rss;
		dpss = m1[k].pss - m0[k].pss;
		printf("nodes: node %d: %ld connections held (%d descriptors "
		    "more), VmRSS +%lld kB, Pss +%lld kB: %lld / %lld bytes "
		    "per connection\n", k + 1, held[k], fd1[k] - fd0[k],
		    drss / 1024, dpss / 1024, held[k] ? drss / held[k] : 0,
		    held[k] ? dpss / held[k] : 0);
		rss += drss;
		pss += dpss;
		total += held[k];
	}
	printf("nodes: total: %ld connections on %d nodes, VmRSS +%lld kB, "
	    "Pss +%lld kB: %lld / %lld bytes per connection\n", total, nnodes,
	    rss / 1024, pss / 1024, total ? rss / total : 0,
	    total ? pss / total : 0);
	memset(&b, 0, sizeof b);
	snprintf(measure, sizeof measure, "authenticated, %ld over %d nodes",
	    total, nnodes);
	b.row = "idle";
	b.measure = measure;
	b.unit = "bytes per connection (RSS)";
	b.value = total ? (double)rss / total : 0;
	b.target = "<= 13,400 bytes";
	if (total < nconn)
		b.note = "not every connection went online";
	bench_result(&b);
	b.unit = "bytes per connection (PSS)";
	b.value = total ? (double)pss / total : 0;
	b.target = NULL;
	bench_result(&b);
}

/* Sum the reports; print the generators, the failures and the time. */
static void
print_reports(const struct gen_report *r, long *held, double secs)
{
	long long	 rss = 0;
	long		 failed = 0, ok = 0;
	double		 slowest = 0;
	int		 g, k, i;

	memset(held, 0, sizeof *held * MAX_NODES);
	for (g = 0; g < ngens; g++) {
		for (k = 0; k < nnodes; k++)
			held[k] += r[g].ok[k];
		failed += r[g].failed;
		rss += r[g].rss;
		if (r[g].secs > slowest)
			slowest = r[g].secs;
	}
	for (k = 0; k < nnodes; k++)
		ok += held[k];
	printf("nodes: %ld of %ld connections online in %.1f s (%.0f per "
	    "second; slowest generator %.1f s), %d generators\n", ok, nconn,
	    secs, secs > 0 ? ok / secs : 0, slowest, ngens);
	printf("nodes: generators' own VmRSS %lld kB: %lld bytes per "
	    "connection\n", rss / 1024, ok ? rss / ok : 0);
	printf("nodes: %ld connections failed\n", failed);
	for (g = 0; g < ngens; g++) {
		for (i = 0; i < MAX_CAUSES && r[g].cause[i][0] != '\0'; i++)
			printf("nodes:   generator %d: %ld: %s\n", g,
			    r[g].cause_n[i], r[g].cause[i]);
	}
}

/* Fork the generators, wait for their reports, measure, end them. */
static void
body(void)
{
	struct gen_report	*r;
	struct bench_mem	 m0[MAX_NODES], m1[MAX_NODES], red0, red1;
	pid_t			*pid;
	long			 held[MAX_NODES];
	int			 fd0[MAX_NODES], fd1[MAX_NODES], p[2], *up;
	int			 g, k;
	char			 name[16], conf[256];
	double			 t0;
	int64_t			 deadline;

	snprintf(conf, sizeof conf, "%smax_connections_per_account = %d\n",
	    NODES_CONF, per_account);
	t0 = bench_now();
	for (k = 0; k < nnodes; k++) {
		snprintf(name, sizeof name, "node%d", k + 1);
		nodes[k] = h_proc_up(name, NULL, NULL, conf);
	}
	printf("nodes: %d nodes up in %.1f s\n", nnodes, bench_now() - t0);
	mint_accounts();
	nodes_mem(m0, fd0);
	ck_assert_int_eq(bench_mem(H.redis_pid, &red0), 0);
	r = xcalloc((size_t)ngens, sizeof *r);
	pid = xcalloc((size_t)ngens, sizeof *pid);
	up = xcalloc((size_t)ngens, sizeof *up);
	fflush(stdout);
	t0 = bench_now();
	for (g = 0; g < ngens; g++) {
		ck_assert_int_eq(pipe(p), 0);
		ck_assert_int_ne(pid[g] = fork(), -1);
		if (pid[g] == 0) {
			close(p[0]);
			gen_run(g, p[1]);
		}
		close(p[1]);
		up[g] = p[0];
	}
	deadline = h_mono_ms() + REPORT_WAIT_MS;
	for (g = 0; g < ngens; g++)
		bench_read_report(g, up[g], &r[g], sizeof r[g], deadline);
	print_reports(r, held, bench_now() - t0);
	nodes_mem(m1, fd1);
	ck_assert_int_eq(bench_mem(H.redis_pid, &red1), 0);
	print_nodes(held, m0, m1, fd0, fd1);
	printf("nodes: Redis VmRSS +%lld kB\n", (red1.rss - red0.rss) / 1024);
	fflush(stdout);
	for (g = 0; g < ngens; g++) {
		kill(pid[g], SIGTERM);
		waitpid(pid[g], NULL, 0);
		close(up[g]);
	}
	for (k = 0; k < nnodes; k++)
		ck_assert_msg(!h_proc_wait(nodes[k], 0), "node %d died", k + 1);
	h_proc_stop_all();
	for (k = 0; k < naccs; k++)
		sodium_memzero(accs[k].sk, sizeof accs[k].sk);
	free(r);
	free(pid);
	free(up);
}

/* A positive number from s within lo..hi, or exit with usage. */
static long
arg(const char *s, long lo, long hi)
{
	char	*end;
	long	 v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "usage: tryst-bench nodes [connections] [nodes, 1-8] "
		    "[connections per account per node, 1-64]\n");
		exit(2);
	}
	return (v);
}

/* Arguments, file limit, the harness; measure; stop. */
int
bench_nodes_main(int argc, char *argv[])
{
	char	*cause = NULL;
	long	 lim, per_node, per_gen;

	if (argc > 1)
		nconn = arg(argv[1], 1, 10000000);
	if (argc > 2)
		nnodes = (int)arg(argv[2], 1, MAX_NODES);
	if (argc > 3)
		per_account = (int)arg(argv[3], 1, 64);
	/* The nodes and the generators inherit it. */
	lim = bench_raise_nofile(1L << 20);
	per_node = (nconn + nnodes - 1) / nnodes;
	if (per_node + SPARE_FDS > lim) {
		printf("nodes: open files limited to %ld: at most %ld "
		    "connections per node, not %ld\n", lim, lim - SPARE_FDS,
		    per_node);
		return (1);
	}
	per_gen = lim - SPARE_FDS;
	ngens = (int)((nconn + per_gen - 1) / per_gen);
	if (ngens < MIN_GENS)
		ngens = MIN_GENS;
	if (ngens > MAX_GENS)
		return (1);
	naccs = (per_node + per_account - 1) / per_account;
	accs = xcalloc((size_t)naccs, sizeof *accs);
	printf("nodes: %ld connections over %d nodes, %d per account and "
	    "node; %d generators; open files limit %ld\n", nconn, nnodes,
	    per_account, ngens, lim);
	if (h_start(NULL, &cause) == -1) {
		fprintf(stderr, "bench-nodes: %s\n", cause);
		return (1);
	}
	if (bench_run("nodes", body) != 0)
		return (1);
	h_stop();
	h_remove_dir();
	free(accs);
	return (0);
}
