/*
 * bench-intro.c -- how long an introduction takes: from a caller sending
 * CONNECT to the callee reading INCOMING, on one node and across two
 * (doc/protocol.md §9). Two nodes on H's Redis; the callee is online with
 * PRESENCE on node 1, over tryst/2 as every party here (calls across nodes
 * need it). Callers on node 1 (same node), then callers on node 2 (cross
 * node), send CONNECTs at a steady rate, open loop: each at its scheduled
 * time, whatever has come back. The offer carries the call's number; the
 * callee declines each INCOMING at once, so no limit fills. The first
 * WARMUP calls of each are not counted. Prints count, p50, p99, p99.9 and
 * max for both, the rate reached and the nodes' CPU time; asserts nothing
 * about speed. By default it sweeps the offered load (200, 500, 1000 and
 * 2000 calls/s, 5 s each): the RESULT lines are those of the highest
 * rate, the plot data (intro-latency.dat, intro-load.dat) the latency
 * distribution at that rate and p50/p99 against offered load.
 *
 * connects_per_minute (at most 10000) is per account: the calls are spread
 * over enough caller accounts that none makes more than PER_CALLER_MINUTE
 * in a minute.
 *
 * Usage: tryst-bench intro [RATE per second] [SECONDS, default 5] (a
 * RATE: that rate alone)
 */
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <check.h>
#include <sodium.h>

#include "harness.h"
#include "bench.h"

#define WARMUP			20
#define PER_CALLER_MINUTE	5000	/* CONNECTs of one caller */
#define MAX_CALLERS		16	/* per mode; harness: 64 connections */
#define DRAIN_MS		3000	/* after the last CONNECT */

#define INTRO_CONF \
	"connects_per_minute = 10000\n" \
	"max_pending_calls = 64\n" \
	"max_sessions = 64\n"

/* One mode's run: its parties and what each call did. */
struct irun {
	const char	*name;
	struct hc	*callee;
	struct hc	*callers[MAX_CALLERS];
	int		 ncallers;
	long		 ncalls;	/* WARMUP included */
	double		*sent;		/* when CONNECT k left; 0: not yet */
	double		*rang;		/* when INCOMING k came; 0: not */
	long		 declined, errors, other;
	int		 error_code;	/* the last ERROR's */
};

#define MAX_RATES	8

/* What one mode at one rate measured. */
struct figures {
	double		 p50, p99, reached;	/* ms, ms, calls/s */
	long		 rang;
};

static long		 rates[MAX_RATES] = { 200, 500, 1000, 2000 };
static int		 nrates = 4;
static long		 rate, seconds = 5;
static FILE		*cdf;		/* intro-latency.dat, or NULL */
static struct hproc	*n1, *n2;
static struct account	 callee_acc, caller_acc[2][MAX_CALLERS];

/* Decline session on c at once. */
static void
decline(struct hc *c, uint64_t session)
{
	struct msg	 m;

	memset(&m, 0, sizeof m);
	m.type = MSG_DECLINE;
	m.u.decline.session = session;
	h_send(c, &m);
}

/* Handle every whole frame the callee has: time INCOMINGs, decline. */
static void
drain_callee(struct irun *r)
{
	struct msg	 m;
	uint64_t	 k;
	char		*why = NULL;
	int		 n;

	while ((n = tconn_recv_nowait(r->callee->tc, &m, &why)) == 1) {
		if (m.type != MSG_INCOMING || m.u.incoming.offer.len !=
		    sizeof k) {
			r->other++;
			continue;
		}
		memcpy(&k, m.u.incoming.offer.p, sizeof k);
		ck_assert_uint_lt(k, (uint64_t)r->ncalls);
		if (r->rang[k] == 0)
			r->rang[k] = bench_now();
		decline(r->callee, m.u.incoming.session);
	}
	ck_assert_msg(n == 2, "callee: %s", n == 0 ? "closed" : why);
}

/* Handle every whole frame of caller c: DECLINED, ERROR, the rest. */
static void
drain_caller(struct irun *r, struct hc *c)
{
	struct msg	 m;
	char		*why = NULL;
	int		 n;

	while ((n = tconn_recv_nowait(c->tc, &m, &why)) == 1) {
		if (m.type == MSG_DECLINED)
			r->declined++;
		else if (m.type == MSG_ERROR) {
			r->errors++;
			r->error_code = m.u.error.code;
		} else
			r->other++;
	}
	ck_assert_msg(n == 2, "caller: %s", n == 0 ? "closed" : why);
}

/* Read what has come until the monotonic time until. */
static void
pump(struct irun *r, double until)
{
	struct pollfd	 pfd[MAX_CALLERS + 1];
	struct timespec	 ts;
	double		 left;
	int		 i;

	for (;;) {
		drain_callee(r);
		for (i = 0; i < r->ncallers; i++)
			drain_caller(r, r->callers[i]);
		if ((left = until - bench_now()) <= 0)
			return;
		pfd[0].fd = tconn_fd(r->callee->tc);
		for (i = 0; i < r->ncallers; i++)
			pfd[i + 1].fd = tconn_fd(r->callers[i]->tc);
		for (i = 0; i <= r->ncallers; i++)
			pfd[i].events = POLLIN;
		ts.tv_sec = (time_t)left;
		ts.tv_nsec = (long)((left - (double)ts.tv_sec) * 1e9);
		if (ppoll(pfd, (nfds_t)r->ncallers + 1, &ts, NULL) == -1)
			ck_assert_int_eq(errno, EINTR);
	}
}

/* CONNECT number k to the callee, from the next caller. */
static void
call(struct irun *r, uint64_t k)
{
	struct hc	*c = r->callers[k % (uint64_t)r->ncallers];

	r->sent[k] = bench_now();
	h_connect(c, (uint32_t)k + 1, callee_acc.c.id, &k, sizeof k);
}

/* Ascending doubles, for qsort. */
static int
cmp_double(const void *a, const void *b)
{
	double	 x = *(const double *)a, y = *(const double *)b;

	return (x < y ? -1 : x > y);
}

/* The q-quantile of the n sorted values of v (nearest rank). */
static double
quantile(const double *v, long n, double q)
{
	long	 i = (long)(q * (double)n + 0.999999);

	return (v[i < 1 ? 0 : i > n ? n - 1 : i - 1]);
}

/* The latency distribution of the n sorted values of lat as a series
 * of cdf: at most 200 points. */
static void
cdf_series(const char *name, const double *lat, long n)
{
	long	 i, step = n / 200 + 1;

	fprintf(cdf, "# series: %s at %ld/s\n", name, rate);
	for (i = 0; i < n; i += step)
		fprintf(cdf, "%.4f %.4f\n", lat[i], (double)(i + 1) / n);
	if (n > 0)
		fprintf(cdf, "%.4f 1\n", lat[n - 1]);
	fprintf(cdf, "\n\n");
}

/* Print the latencies of r's counted calls and what else came; f gets
 * p50, p99 and the rate reached. */
static void
print_run(struct irun *r, double secs, long long cpu1, long long cpu2,
    struct figures *f)
{
	double	*lat = xcalloc((size_t)r->ncalls, sizeof *lat);
	long	 k, n = 0;

	for (k = WARMUP; k < r->ncalls; k++) {
		if (r->rang[k] != 0)
			lat[n++] = (r->rang[k] - r->sent[k]) * 1000;
	}
	qsort(lat, (size_t)n, sizeof *lat, cmp_double);
	printf("intro: %s: %ld CONNECTs at %ld/s over %ld callers "
	    "(reached %.1f/s); %ld rang\n", r->name, r->ncalls - WARMUP,
	    rate, (long)r->ncallers, (double)(r->ncalls - WARMUP) / secs, n);
	if (n > 0)
		printf("intro: %s: CONNECT to INCOMING: p50 %.3f ms, p99 %.3f "
		    "ms, p99.9 %.3f ms, max %.3f ms\n", r->name,
		    quantile(lat, n, 0.5), quantile(lat, n, 0.99),
		    quantile(lat, n, 0.999), lat[n - 1]);
	printf("intro: %s: warm-up included: %ld DECLINED, %ld ERRORs%s%s, "
	    "%ld other messages; CPU node 1 %lld ms, node 2 %lld ms\n",
	    r->name,
	    r->declined, r->errors, r->errors ? ", the last " : "",
	    r->errors ? proto_err_name((uint16_t)r->error_code) : "",
	    r->other, cpu1, cpu2);
	fflush(stdout);
	f->rang = n;
	f->reached = (double)n / secs;
	f->p50 = n > 0 ? quantile(lat, n, 0.5) : 0;
	f->p99 = n > 0 ? quantile(lat, n, 0.99) : 0;
	if (cdf != NULL)
		cdf_series(r->name, lat, n);
	free(lat);
}

/* One mode: callers online on at, calls at the rate, then the drain. */
static void
run_mode(const char *name, struct hproc *at, struct account *acc,
    int ncallers, struct hc *callee, struct figures *f)
{
	struct irun	 r;
	long long	 c1, c2;
	double		 t0, t1;
	long		 k;
	int		 i;

	memset(&r, 0, sizeof r);
	r.name = name;
	r.callee = callee;
	r.ncallers = ncallers;
	for (i = 0; i < ncallers; i++)
		r.callers[i] = h_online_at(at->hostport, &acc[i], 0);
	r.ncalls = WARMUP + rate * seconds;
	r.sent = xcalloc((size_t)r.ncalls, sizeof *r.sent);
	r.rang = xcalloc((size_t)r.ncalls, sizeof *r.rang);
	for (k = 0; k < WARMUP; k++) {
		pump(&r, bench_now() + 1.0 / (double)rate);
		call(&r, (uint64_t)k);
	}
	pump(&r, bench_now() + 0.5);
	c1 = bench_cpu_ms(n1->pid);
	c2 = bench_cpu_ms(n2->pid);
	t0 = bench_now();
	for (k = WARMUP; k < r.ncalls; k++) {
		pump(&r, t0 + (double)(k - WARMUP) / (double)rate);
		call(&r, (uint64_t)k);
	}
	t1 = bench_now();
	pump(&r, t1 + DRAIN_MS / 1000.0);
	print_run(&r, t1 - t0 + 1.0 / (double)rate,
	    bench_cpu_ms(n1->pid) - c1, bench_cpu_ms(n2->pid) - c2, f);
	for (i = 0; i < ncallers; i++)
		h_close(r.callers[i]);
	free(r.sent);
	free(r.rang);
}

/* The RESULT lines of the last rate; p50 and p99 against offered load
 * to intro-load.dat. */
static void
results(struct figures f[][2])
{
	static const char *const name[2] = { "same node", "across nodes" };
	static const char *const target[2] = { "<= 2 ms", "<= 5 ms" };
	struct bench_result	 b;
	char			 measure[2][96];
	FILE			*load;
	int			 i, m;

	memset(&b, 0, sizeof b);
	b.row = "intro";
	b.unit = "ms";
	for (m = 0; m < 2; m++) {
		snprintf(measure[0], sizeof measure[0], "CONNECT to INCOMING "
		    "p50, %s, at %ld calls/s", name[m], rates[nrates - 1]);
		snprintf(measure[1], sizeof measure[1], "CONNECT to INCOMING "
		    "p99, %s, at %ld calls/s", name[m], rates[nrates - 1]);
		b.measure = measure[0];
		b.value = f[nrates - 1][m].p50;
		b.target = NULL;
		b.note = NULL;
		bench_result(&b);
		b.measure = measure[1];
		b.value = f[nrates - 1][m].p99;
		b.target = target[m];
		if (f[nrates - 1][m].reached < 0.95 * (double)rates[nrates - 1])
			b.note = "the offered rate was not reached";
		bench_result(&b);
	}
	if ((load = bench_data("intro-load.dat")) == NULL)
		return;
	fprintf(load, "# title: CONNECT to INCOMING against offered load\n"
	    "# xlabel: calls offered per second\n# ylabel: ms\n");
	for (m = 0; m < 4; m++) {
		fprintf(load, "# series: %s %s\n", m % 2 ? "p99" : "p50",
		    name[m / 2]);
		for (i = 0; i < nrates; i++)
			fprintf(load, "%ld %.4f\n", rates[i], m % 2 ?
			    f[i][m / 2].p99 : f[i][m / 2].p50);
		fprintf(load, "\n\n");
	}
	fclose(load);
}

/* Two nodes, the callee, callers on either; both modes at each rate. */
static void
body(void)
{
	struct figures	 f[MAX_RATES][2];
	struct hc	*callee;
	long		 calls = 0;
	int		 ncallers, i, j;

	/* Every rate's calls from the same callers, within a minute. */
	for (i = 0; i < nrates; i++)
		calls += rates[i] * seconds + WARMUP;
	ncallers = (int)((calls + PER_CALLER_MINUTE - 1) / PER_CALLER_MINUTE);
	ck_assert_msg(ncallers <= MAX_CALLERS, "rate too high for %d "
	    "callers", MAX_CALLERS);
	n1 = h_proc_up("node1", NULL, NULL, INTRO_CONF);
	n2 = h_proc_up("node2", NULL, NULL, INTRO_CONF);
	h_mint("+15550290000", 1, &callee_acc);
	h_mint("+15550210000", ncallers, caller_acc[0]);
	h_mint("+15550220000", ncallers, caller_acc[1]);
	callee = h_online_at(n1->hostport, &callee_acc, HELLO_PRESENCE);
	ck_assert_int_eq(tconn_version(callee->tc), 2);
	for (i = 0; i < nrates; i++) {
		rate = rates[i];
		if (i == nrates - 1 && (cdf = bench_data("intro-latency.dat"))
		    != NULL)
			fprintf(cdf, "# title: CONNECT to INCOMING latency\n"
			    "# xlabel: ms\n# ylabel: fraction of calls\n"
			    "# log: x\n");
		run_mode("same node", n1, caller_acc[0], ncallers, callee,
		    &f[i][0]);
		run_mode("cross node", n2, caller_acc[1], ncallers, callee,
		    &f[i][1]);
	}
	if (cdf != NULL)
		fclose(cdf);
	results(f);
	ck_assert_msg(!h_proc_wait(n1, 0) && !h_proc_wait(n2, 0),
	    "a node died");
	h_close(callee);
	h_proc_stop_all();
	sodium_memzero(callee_acc.sk, sizeof callee_acc.sk);
	for (i = 0; i < 2; i++) {
		for (j = 0; j < MAX_CALLERS; j++)
			sodium_memzero(caller_acc[i][j].sk,
			    sizeof caller_acc[i][j].sk);
	}
}

/* A number from s within lo..hi, or exit with usage. */
static long
arg(const char *s, long lo, long hi)
{
	char	*end;
	long	 v = strtol(s, &end, 10);

	if (*s == '\0' || *end != '\0' || v < lo || v > hi) {
		fprintf(stderr, "usage: tryst-bench intro [calls per second] "
		    "[seconds]\n");
		exit(2);
	}
	return (v);
}

/* Arguments, the harness; both modes; stop. */
int
bench_intro_main(int argc, char *argv[])
{
	char	*cause = NULL;

	if (argc > 1) {
		rates[0] = arg(argv[1], 1, 100000);
		nrates = 1;
	}
	if (argc > 2)
		seconds = arg(argv[2], 1, 3600);
	if (h_start(NULL, &cause) == -1) {
		fprintf(stderr, "bench-intro: %s\n", cause);
		return (1);
	}
	if (bench_run("intro", body) != 0)
		return (1);
	h_stop();
	h_remove_dir();
	return (0);
}
