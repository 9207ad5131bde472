/*
 * integ-fault.c -- trystd under a steady mixed load (load.c) while its
 * Redis, run as production runs it (appendonly yes, appendfsync
 * everysec), is killed with SIGKILL and restarted on the same port and
 * folder, then stopped with SIGSTOP for 5 s and continued. It asserts
 * correctness only, never a time: trystd lives; every request is answered
 * (its answer, or UNAVAILABLE with a retry_after) before a generous
 * deadline; after each fault a new HELLO succeeds within a bounded number
 * of tries and every kind of request succeeds again; the accounts
 * registered before the kill are there after it; trystd's descriptors
 * come back to where they were; its log names no number or ID. It prints
 * the figures: answers per kind in each phase, the time from Redis back
 * to the first success, trystd's RSS and descriptors before and after.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <hiredis/hiredis.h>
#include <sodium.h>

#include "harness.h"
#include "load.h"
#include "bench.h"

#define NACC		8		/* accounts the load goes online as */
#define DEADLINE_MS	30000		/* for every answer */
#define PROBE_MS	250		/* between tries after a fault */
#define PROBE_TRIES	80		/* 20 s of them */
#define AOF_WAIT_MS	2000		/* everysec: fsync'd within ~1 s */
#define STEADY_MS	5000
#define DOWN_MS		3000		/* Redis dead before the restart */
#define PAUSE_MS	5000		/* Redis stopped */
#define AFTER_MS	4000		/* load after the first success */

#define FAULT_CONF \
	"code_requests_per_hour = 100\n" \
	"codes_per_hour_per_ip = 10000\n" \
	"codes_per_hour_per_prefix = 1000000\n" \
	"codes_per_hour = 10000000\n" \
	"discovery_bucket = 10000000\n" \
	"lookups_per_minute = 10000000\n" \
	"connects_per_minute = 10000\n" \
	"max_connections_per_ip = 1000000\n" \
	"max_connections_per_account = 64\n"

enum { PH_STEADY, PH_KILLED, PH_RESTARTED, PH_PAUSED, PH_CONTINUED, PH_N };

static const char *const phase_names[PH_N] = {
	"steady", "redis killed", "redis restarted", "redis stopped",
	"redis continued"
};

/* The Redis of the test, with its append-only file. */
static struct {
	pid_t	 pid;
	int	 port;
	int	 stopped;
	char	 dir[PATH_MAX];
	char	 log[PATH_MAX];
} R;

static struct load	*L;
static struct load_reg	*before;	/* registered before the kill */
static size_t		 nbefore;

/* 1 when Redis on R.port answers PING. */
static int
redis_pong(void)
{
	struct timeval	 tv = { 1, 0 };
	redisContext	*rc;
	redisReply	*r;
	int		 ok = 0;

	rc = redisConnectWithTimeout("127.0.0.1", R.port, tv);
	if (rc != NULL && !rc->err && (r = redisCommand(rc, "PING")) != NULL) {
		ok = r->type == REDIS_REPLY_STATUS && strcmp(r->str, "PONG") ==
		    0;
		freeReplyObject(r);
	}
	redisFree(rc);
	return (ok);
}

/* Start Redis on R.port and R.dir with AOF as production runs it; the
 * milliseconds until it answered PING (its AOF loaded). */
static int64_t
redis_start(void)
{
	char	 port[16];
	char	*argv[] = { "redis-server", "--port", port, "--bind",
	    "127.0.0.1", "--dir", R.dir, "--save", "", "--appendonly", "yes",
	    "--appendfsync", "everysec", NULL };
	int64_t	 t0 = h_mono_ms();

	snprintf(port, sizeof port, "%d", R.port);
	R.pid = h_spawn(argv, NULL, R.log);
	ck_assert_int_gt(R.pid, 0);
	while (!redis_pong()) {
		ck_assert_msg(h_mono_ms() - t0 < 20000, "Redis did not answer "
		    "within 20 s (see %s)", R.log);
		ck_assert_msg(waitpid(R.pid, NULL, WNOHANG) == 0, "Redis "
		    "exited (see %s)", R.log);
		h_msleep(20);
	}
	return (h_mono_ms() - t0);
}

/* SIGKILL Redis and reap it. */
static void
redis_kill(void)
{
	if (R.pid <= 0)
		return;
	kill(R.pid, SIGKILL);
	waitpid(R.pid, NULL, 0);
	R.pid = 0;
	R.stopped = 0;
}

/* The environment of trystd: under ASan, a quarantine of 8 MB instead
 * of 256, so that its RSS says what trystd holds (ignored otherwise). */
static char *const *
asan_env(void)
{
	static char		 env[512];
	static char *const	 envv[] = { env, NULL };
	const char		*was = getenv("ASAN_OPTIONS");

	snprintf(env, sizeof env, "ASAN_OPTIONS=%s%squarantine_size_mb=8",
	    was != NULL ? was : "", was != NULL && *was != '\0' ? ":" : "");
	return (envv);
}

/* Assert trystd p still runs. */
static void
alive(struct hproc *p, const char *when)
{
	ck_assert_msg(!h_proc_wait(p, 0), "trystd died %s (status 0x%x, see "
	    "%s)", when, p->status, p->log);
}

/* New HELLOs as a until one succeeds; every other answer must be
 * UNAVAILABLE. The number of tries. */
static int
probe(struct hproc *p, const struct account *a, const char *what)
{
	char		 why[160];
	uint32_t	 retry;
	int		 i, o;

	for (i = 1; i <= PROBE_TRIES; i++) {
		o = load_hello_once(p->hostport, a, DEADLINE_MS, why,
		    sizeof why, &retry);
		if (o == LOAD_OK)
			return (i);
		ck_assert_msg(o == LOAD_UNAVAIL, "%s: HELLO try %d: %s", what,
		    i, why);
		alive(p, what);
		h_msleep(PROBE_MS);
	}
	ck_abort_msg("%s: no HELLO succeeded in %d tries", what, PROBE_TRIES);
	return (-1);
}

/* Print, for each kind, when it first succeeded after back (h_mono_ms),
 * and assert that every kind the load sends succeeded in phase. */
static void
recovered(int phase, int64_t back)
{
	struct load_tally	 t;
	int			 k;

	load_tally(L, phase, &t);
	printf("fault: %s: first success after Redis was back:", phase_names[
	    phase]);
	for (k = 0; k < LOAD_NKINDS; k++) {
		ck_assert_msg(t.first_ok[k] != 0, "%s: no %s succeeded",
		    phase_names[phase], load_kind_name(k));
		printf(" %s %+lld ms", load_kind_name(k),
		    (long long)(t.first_ok[k] - back));
	}
	printf("\n");
	fflush(stdout);
}

/* trystd's RSS, descriptors and connections, printed. */
static int
resources(struct hproc *p, int mport, const char *when)
{
	struct bench_mem	 m;
	int			 fds = load_fds(p->pid);

	ck_assert_int_eq(bench_mem(p->pid, &m), 0);
	printf("fault: trystd %s: VmRSS %lld kB, %d descriptors, %lld "
	    "connections\n", when, m.rss / 1024, fds,
	    h_metric_now(mport, "tryst_connections"));
	fflush(stdout);
	return (fds);
}

/* Let the load run in phase until every kind has succeeded in it (30 s at
 * most) and for at least AFTER_MS. */
static void
settle(struct hproc *p, int phase)
{
	struct load_tally	 t;
	int64_t			 t0 = h_mono_ms();
	int			 k, missing;

	do {
		h_msleep(100);
		alive(p, phase_names[phase]);
		load_tally(L, phase, &t);
		for (k = missing = 0; k < LOAD_NKINDS; k++)
			missing += t.first_ok[k] == 0;
	} while ((missing > 0 && h_mono_ms() - t0 < 30000) ||
	    h_mono_ms() - t0 < AFTER_MS);
}

/* Every account registered before the kill still goes online, with the
 * credential (and so the created) it was registered with. */
static void
survivors(struct hproc *p, const struct load_reg *r, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		probe(p, &r[i].a, "an account registered before the kill");
	printf("fault: all %zu accounts registered before the kill are "
	    "there after it\n", n);
}

/* The answers of each phase, and the faults (printed once). */
static void
report(void)
{
	struct load_tally	 t;
	int			 k;
	static int		 done;

	if (L == NULL || done++)
		return;
	load_stop(L);
	printf("fault: answers per phase:\n");
	for (k = 0; k < PH_N; k++) {
		load_tally(L, k, &t);
		load_print(phase_names[k], &t);
	}
	for (k = 0; k < LOAD_FAULTS && load_fault(L, k) != NULL; k++)
		printf("fault: %s\n", load_fault(L, k));
	fflush(stdout);
}

/* The load, Redis killed and restarted, Redis stopped and continued. */
START_TEST(test_fault)
{
	struct load_opts	 o = {
		.number_base = "+1555019", .readers = 4, .pairs = 2,
		.idle = 8, .relay_bytes = 16384, .reg_pace_ms = 400,
		.max_registrations = 100, .deadline_ms = DEADLINE_MS
	};
	struct account		 acc[NACC];
	struct load_tally	 t;
	struct hproc		*p = h_proc_new("fault");
	char			 extra[512], number[32];
	size_t			 i;
	int64_t			 back, ms;
	int			 mport = h_proc_port(SOCK_STREAM), fds0, fds;
	int			 tries;

	R.port = h_proc_port(SOCK_STREAM);
	snprintf(R.dir, sizeof R.dir, "%s/fault-redis", H.dir);
	snprintf(R.log, sizeof R.log, "%s/fault-redis.log", H.dir);
	ck_assert_int_eq(mkdir(R.dir, 0700), 0);
	printf("fault: Redis (appendonly yes, appendfsync everysec) up in "
	    "%lld ms\n", (long long)redis_start());
	snprintf(p->redis, sizeof p->redis, "127.0.0.1:%d", R.port);
	snprintf(extra, sizeof extra, "metrics_listen = %d\n%s", mport,
	    FAULT_CONF);
	h_proc_conf(p, NULL, NULL, NULL, NULL, extra);
	h_proc_start(p, asan_env());
	h_proc_ready(p);
	for (i = 0; i < NACC; i++) {
		snprintf(number, sizeof number, "+155501800%02zu", i);
		h_register_at(p->hostport, number, &acc[i]);
	}
	fds0 = resources(p, mport, "before");
	o.hostport = p->hostport;
	L = load_start(&o, acc, NACC);

	load_phase(L, PH_STEADY);
	h_msleep(STEADY_MS);
	alive(p, "under load");
	/* No account write is left to the fsync of the next second. */
	load_hold_registrations(L, 1);
	h_msleep(AOF_WAIT_MS);
	before = load_registrations(L, &nbefore);
	ck_assert_msg(nbefore > 0, "nothing was registered before the kill");

	load_phase(L, PH_KILLED);
	redis_kill();
	load_hold_registrations(L, 0);
	h_msleep(DOWN_MS);
	alive(p, "while Redis was dead");

	load_phase(L, PH_RESTARTED);
	ms = redis_start();
	back = h_mono_ms();
	tries = probe(p, &acc[0], "after the restart");
	printf("fault: Redis restarted: answering PING after %lld ms; a new "
	    "HELLO succeeded at try %d, %lld ms after that\n",
	    (long long)ms, tries, (long long)(h_mono_ms() - back));
	survivors(p, before, nbefore);
	settle(p, PH_RESTARTED);
	recovered(PH_RESTARTED, back);

	load_phase(L, PH_PAUSED);
	ck_assert_int_eq(kill(R.pid, SIGSTOP), 0);
	R.stopped = 1;
	h_msleep(PAUSE_MS);
	alive(p, "while Redis was stopped");

	load_phase(L, PH_CONTINUED);
	ck_assert_int_eq(kill(R.pid, SIGCONT), 0);
	R.stopped = 0;
	back = h_mono_ms();
	tries = probe(p, &acc[0], "after SIGCONT");
	printf("fault: Redis continued: a new HELLO succeeded at try %d, %lld "
	    "ms after SIGCONT\n", tries, (long long)(h_mono_ms() - back));
	settle(p, PH_CONTINUED);
	recovered(PH_CONTINUED, back);
	load_stop(L);
	alive(p, "after the load");

	report();
	ck_assert_msg(load_faults(L) == 0, "%ld requests got a wrong answer "
	    "or none; the first: %s", load_faults(L), load_fault(L, 0));
	load_tally(L, PH_KILLED, &t);
	ck_assert_msg(t.n[LOAD_HELLO][LOAD_UNAVAIL] > 0, "no HELLO got "
	    "UNAVAILABLE while Redis was dead: was it killed?");

	/* Every connection of the load gone: descriptors as before. */
	for (i = 0; i < 100 && h_metric_now(mport, "tryst_connections") > 0;
	    i++)
		h_msleep(100);
	for (i = 0; i < 100 && (fds = load_fds(p->pid)) > fds0 + 1; i++)
		h_msleep(100);
	fds = resources(p, mport, "after");
	ck_assert_msg(fds <= fds0 + 1, "trystd holds %d descriptors after "
	    "the load, %d before", fds, fds0);
	h_check_log_private(p->log, NULL);
}
END_TEST

/* Stop the load (also after a failed assertion), then Redis and trystd. */
static void
fault_teardown(void)
{
	if (L != NULL) {
		report();
		load_free(L);
		L = NULL;
	}
	if (R.stopped)
		kill(R.pid, SIGCONT);
	if (before != NULL) {
		sodium_memzero(before, nbefore * sizeof *before);
		free(before);
		before = NULL;
	}
	redis_kill();
	h_proc_teardown();
}

/* Start the harness (for keys, certificate, dev file) and run the test. */
int
main(void)
{
	Suite	*s = suite_create("fault");
	TCase	*tc = tcase_create("fault");
	SRunner	*sr;
	char	*why = NULL;
	int	 failed;

	if (system("command -v redis-server >/dev/null 2>&1") != 0) {
		printf("fault: redis-server is not installed\n");
		return (77);
	}
	if (h_start(NULL, &why) == -1) {
		fprintf(stderr, "test-fault: %s\n", why);
		h_stop();
		return (1);
	}
	tcase_set_timeout(tc, 240);
	tcase_add_checked_fixture(tc, NULL, fault_teardown);
	tcase_add_test(tc, test_fault);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	h_stop();
	if (failed != 0)	/* the trystd under test, and its Redis */
		h_run(NULL, "tail -n 30 %s/fault.log %s >&2", H.dir, R.log);
	if (failed == 0 || getenv("TRYST_KEEP") == NULL)
		h_remove_dir();
	return (failed ? 1 : 0);
}
