/*
 * soak.c -- a long mixed load on a private trystd (tests/load.c: HELLOs,
 * OPRF_EVAL and LOOKUP, calls with 64 KB relayed each way, registrations,
 * PINGs; about three dozen connections), sampling trystd's RSS, open
 * descriptors and connections (/metrics) every 10 s into a table. The
 * verdict compares the last three samples with the first three after
 * warm-up (a tenth of the run, at least 30 s): flat or growing, with the
 * numbers. Outside CI; run it through bench/soak.
 *
 * Usage: bench-soak [SECONDS, default 1800]
 * Exit: 0 flat and every request answered; 1 otherwise.
 */
#include <sys/socket.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <sodium.h>

#include "load.h"
#include "bench.h"

#define NACC		12
#define SAMPLE_S	10
#define WINDOW		3		/* samples averaged at each end */
#define RSS_SLACK	0.05		/* growth still called flat: 5 % */
#define RSS_SLACK_KB	2048		/* or 2 MB */
#define FDS_SLACK	4		/* descriptors, connections */

/* The harness sets the code budgets per address, prefix and server
 * (10,000, 10,000 and 100,000 an hour): registrations at 1/s fit. */
#define SOAK_CONF \
	"code_requests_per_hour = 100\n" \
	"discovery_bucket = 10000000\n" \
	"lookups_per_minute = 10000000\n" \
	"connects_per_minute = 10000\n" \
	"max_connections_per_ip = 1000000\n" \
	"max_connections_per_account = 64\n"

/* One sample. */
struct sample {
	long		 at;		/* seconds since the load started */
	long long	 rss_kb;
	int		 fds;
	long long	 conns;		/* tryst_connections */
};

static long		 duration = 1800;
static int		 mport;
static int		 flat;

/* The mean RSS (which 0), descriptors (1) or connections (2) of s[0..n). */
static double
mean(const struct sample *s, int n, int which)
{
	double	 sum = 0;
	int	 i;

	for (i = 0; i < n; i++)
		sum += which == 0 ? (double)s[i].rss_kb : which == 1 ?
		    (double)s[i].fds : (double)s[i].conns;
	return (sum / n);
}

/* Answers of every kind in t, by outcome. */
static long
total(const struct load_tally *t, int outcome)
{
	long	 n = 0;
	int	 k;

	for (k = 0; k < LOAD_NKINDS; k++)
		n += t->n[k][outcome];
	return (n);
}

/* Take a sample of trystd at second at; print its row. */
static void
sample(struct load *l, long at, struct sample *s, struct load_tally *prev)
{
	struct bench_mem	 m;
	struct load_tally	 t;

	ck_assert_msg(h_trystd_alive(), "trystd died after %ld s (see %s)",
	    at, H.log);
	ck_assert_int_eq(bench_mem(H.trystd_pid, &m), 0);
	s->at = at;
	s->rss_kb = m.rss / 1024;
	s->fds = load_fds(H.trystd_pid);
	s->conns = h_metric_now(mport, "tryst_connections");
	load_tally(l, 0, &t);
	printf("soak: %6ld %10lld %6d %6lld %6d %8ld %8ld %8ld\n", at,
	    s->rss_kb, s->fds, s->conns, load_conns(l),
	    total(&t, LOAD_OK) - total(prev, LOAD_OK),
	    total(&t, LOAD_UNAVAIL) - total(prev, LOAD_UNAVAIL),
	    load_faults(l));
	fflush(stdout);
	*prev = t;
}

/* Compare the first WINDOW samples from warm with the last WINDOW. */
static void
verdict(const struct sample *s, int n, int warm)
{
	const struct sample	*a = s + warm, *b = s + n - WINDOW;
	double			 rss0, rss1, fd0, fd1, c0, c1;
	int			 grows;

	if (n - warm < 2 * WINDOW) {
		printf("soak: verdict: too short (%d samples after warm-up, "
		    "%d needed)\n", n - warm, 2 * WINDOW);
		return;
	}
	rss0 = mean(a, WINDOW, 0);
	rss1 = mean(b, WINDOW, 0);
	fd0 = mean(a, WINDOW, 1);
	fd1 = mean(b, WINDOW, 1);
	c0 = mean(a, WINDOW, 2);
	c1 = mean(b, WINDOW, 2);
	grows = rss1 - rss0 > RSS_SLACK_KB && rss1 > rss0 * (1 + RSS_SLACK);
	grows |= fd1 - fd0 > FDS_SLACK || c1 - c0 > FDS_SLACK;
	flat = !grows;
	printf("soak: verdict: %s: RSS %.0f -> %.0f kB (%+.1f %%), "
	    "descriptors %.1f -> %.1f, connections %.1f -> %.1f "
	    "(samples at %ld-%ld s against %ld-%ld s)\n",
	    grows ? "GROWING" : "flat", rss0, rss1,
	    100 * (rss1 - rss0) / rss0, fd0, fd1, c0, c1, a[0].at,
	    a[WINDOW - 1].at, b[0].at, b[WINDOW - 1].at);
}

/* Register the accounts, run the load for duration, sample, judge. */
static void
body(void)
{
	struct load_opts	 o = {
		.hostport = H.hostport, .number_base = "+1555020",
		.readers = 8, .pairs = 4, .idle = 16, .relay_bytes = 65536,
		.reg_pace_ms = 1000, .deadline_ms = 30000
	};
	struct account		 acc[NACC];
	struct sample		*s;
	struct load_tally	 prev, t;
	struct load		*l;
	char			 number[32];
	long			 n = 0, warm, i;
	double			 t0;

	for (i = 0; i < NACC; i++) {
		snprintf(number, sizeof number, "+155501810%02ld", i);
		h_register(number, &acc[i]);
	}
	s = xcalloc((size_t)(duration / SAMPLE_S + 2), sizeof *s);
	warm = duration / 10 > 30 ? duration / 10 : 30;
	printf("soak: %ld s, a sample every %d s, warm-up %ld s\n"
	    "soak: %6s %10s %6s %6s %6s %8s %8s %8s\n", duration, SAMPLE_S,
	    warm, "s", "rss_kB", "fds", "conns", "load", "answers",
	    "unavail", "faults");
	memset(&prev, 0, sizeof prev);
	l = load_start(&o, acc, NACC);
	t0 = bench_now();
	while (n * SAMPLE_S < duration) {
		h_msleep((int)((t0 + (double)(n + 1) * SAMPLE_S -
		    bench_now()) * 1000));
		sample(l, (n + 1) * SAMPLE_S, &s[n], &prev);
		n++;
	}
	load_stop(l);
	load_tally(l, 0, &t);
	load_print("answers", &t);
	for (i = 0; i < LOAD_FAULTS && load_fault(l, (int)i) != NULL; i++)
		printf("soak: %s\n", load_fault(l, (int)i));
	verdict(s, (int)n, (int)(warm / SAMPLE_S) - 1);
	ck_assert_msg(load_faults(l) == 0, "%ld requests got a wrong answer "
	    "or none", load_faults(l));
	h_check_log_private(H.log, NULL);
	load_free(l);
	free(s);
	sodium_memzero(acc, sizeof acc);
}

/* Start Redis and trystd (metrics on), soak, stop. */
int
main(int argc, char *argv[])
{
	char	 conf[512], env[512], *cause = NULL, *end;
	const char *was = getenv("ASAN_OPTIONS");

	if (argc > 2 || (argc == 2 && ((duration = strtol(argv[1], &end,
	    10)) < 1 || *end != '\0'))) {
		fprintf(stderr, "usage: tryst-bench soak [seconds]\n");
		return (2);
	}
	/* Under ASan, a small quarantine, so trystd's RSS means something
	 * (trystd inherits this environment). */
	snprintf(env, sizeof env, "%s%squarantine_size_mb=8",
	    was != NULL ? was : "", was != NULL && *was != '\0' ? ":" : "");
	setenv("ASAN_OPTIONS", env, 1);
	mport = h_free_port(SOCK_STREAM);
	snprintf(conf, sizeof conf, "metrics_listen = %d\n%s", mport,
	    SOAK_CONF);
	if (h_start(conf, &cause) == -1) {
		fprintf(stderr, "bench-soak: %s\n", cause);
		return (1);
	}
	if (bench_run("soak", body) != 0 || !flat) {
		printf("soak: trystd's files are in %s\n", H.dir);
		return (1);
	}
	h_stop();
	h_remove_dir();
	return (0);
}
