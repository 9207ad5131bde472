/*
 * bench.c -- helpers of the benchmarks: /proc readings, the file limit,
 * the clock, and a one-test Check runner.
 */
#include <sys/resource.h>

#include <dirent.h>
#include <limits.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "harness.h"
#include "bench.h"

static void	(*bench_body)(void);

/* The value in kB of the line "key: N kB" of a /proc file, or -1. */
static long long
proc_kb(const char *path, const char *key)
{
	FILE		*f;
	char		 line[256];
	size_t		 n = strlen(key);
	long long	 v = -1;

	if ((f = fopen(path, "r")) == NULL)
		return (-1);
	while (fgets(line, sizeof line, f) != NULL) {
		if (strncmp(line, key, n) == 0 && line[n] == ':') {
			v = strtoll(line + n + 1, NULL, 10);
			break;
		}
	}
	fclose(f);
	return (v);
}

/* VmRSS and Pss of pid. */
int
bench_mem(pid_t pid, struct bench_mem *m)
{
	char	 path[64];

	snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
	if ((m->rss = proc_kb(path, "VmRSS")) == -1)
		return (-1);
	m->rss *= 1024;
	snprintf(path, sizeof path, "/proc/%ld/smaps_rollup", (long)pid);
	if ((m->pss = proc_kb(path, "Pss")) != -1)
		m->pss *= 1024;
	return (0);
}

/* utime + stime of pid from /proc/PID/stat (fields 14 and 15). */
long long
bench_cpu_ms(pid_t pid)
{
	FILE			*f;
	char			 path[64], buf[1024], *p;
	unsigned long long	 ut, st;
	long			 hz = sysconf(_SC_CLK_TCK);
	size_t			 n;

	snprintf(path, sizeof path, "/proc/%ld/stat", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return (-1);
	n = fread(buf, 1, sizeof buf - 1, f);
	fclose(f);
	buf[n] = '\0';
	/* The command name may hold spaces and parentheses: skip past the
	 * last ')', then state (field 3) ... utime is field 14. */
	if ((p = strrchr(buf, ')')) == NULL || hz <= 0)
		return (-1);
	if (sscanf(p + 1, " %*c %*d %*d %*d %*d %*d %*u %*u %*u %*u %*u "
	    "%llu %llu", &ut, &st) != 2)
		return (-1);
	return ((long long)((ut + st) * 1000 / (unsigned long long)hz));
}

/* Raise RLIMIT_NOFILE's soft limit towards want. */
long
bench_raise_nofile(long want)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) == -1)
		return (1024);
	if ((rlim_t)want > rl.rlim_cur) {
		rl.rlim_cur = (rlim_t)want;
		if (rl.rlim_max != RLIM_INFINITY && rl.rlim_cur > rl.rlim_max)
			rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	return (rl.rlim_cur == RLIM_INFINITY ? want : (long)rl.rlim_cur);
}

/* Seconds on the monotonic clock. */
double
bench_now(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

/* The first CPU for the server, the others for the generators. */
int
bench_cpus(cpu_set_t *server, cpu_set_t *gens, int *first)
{
	cpu_set_t	 all;
	int		 i, n = 0;

	CPU_ZERO(server);
	CPU_ZERO(gens);
	*first = 0;
	if (sched_getaffinity(0, sizeof all, &all) == -1)
		return (1);
	for (i = 0; i < CPU_SETSIZE; i++) {
		if (!CPU_ISSET(i, &all))
			continue;
		if (n++ == 0) {
			*first = i;
			CPU_SET(i, server);
		} else
			CPU_SET(i, gens);
	}
	if (n < 2)
		*gens = *server = all;
	return (n);
}

/* Every thread of pid to set. */
void
bench_pin(pid_t pid, const cpu_set_t *set)
{
	struct dirent	*d;
	DIR		*dir;
	char		 path[64];

	snprintf(path, sizeof path, "/proc/%ld/task", (long)pid);
	if ((dir = opendir(path)) == NULL)
		return;
	while ((d = readdir(dir)) != NULL) {
		if (d->d_name[0] != '.')
			sched_setaffinity((pid_t)atol(d->d_name), sizeof *set,
			    set);
	}
	closedir(dir);
}

/* A field of a RESULT line: tabs and newlines become spaces. */
static void
result_field(const char *s)
{
	putchar('\t');
	if (s == NULL || *s == '\0') {
		putchar('-');
		return;
	}
	for (; *s != '\0'; s++)
		putchar(*s == '\t' || *s == '\n' ? ' ' : *s);
}

/* One RESULT line on standard output. */
void
bench_result(const struct bench_result *r)
{
	fputs("RESULT", stdout);
	result_field(r->row);
	result_field(r->measure);
	printf("\t%.6g", r->value);
	result_field(r->unit);
	result_field(r->anchor);
	if (r->anchor != NULL)
		printf("\t%.6g", r->anchor_value);
	else
		fputs("\t-", stdout);
	result_field(r->target);
	result_field(r->note);
	putchar('\n');
	fflush(stdout);
}

/* $BENCH_OUT/name, opened for writing. */
FILE *
bench_data(const char *name)
{
	const char	*dir = getenv("BENCH_OUT");
	char		 path[PATH_MAX];

	if (dir == NULL || *dir == '\0' || strchr(name, '/') != NULL)
		return (NULL);
	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, name) >=
	    sizeof path)
		return (NULL);
	return (fopen(path, "w"));
}

/* Until len bytes came or the deadline passed. */
void
bench_read_report(int g, int fd, void *buf, size_t len, int64_t deadline)
{
	struct pollfd	 pfd = { fd, POLLIN, 0 };
	size_t		 got = 0;
	ssize_t		 n;
	int		 left;

	while (got < len) {
		left = (int)(deadline - h_mono_ms());
		ck_assert_msg(left > 0, "generator %d: no report in time", g);
		if (poll(&pfd, 1, left) <= 0)
			continue;
		n = read(fd, (char *)buf + got, len - got);
		ck_assert_msg(n > 0, "generator %d died", g);
		got += (size_t)n;
	}
}

/* At least 90 % of one core. */
int
bench_busy(double cpu, double wall)
{
	return (wall > 0 && cpu / wall >= 0.9);
}

START_TEST(bench_test)
{
	bench_body();
}
END_TEST

/* The body as the one test of a suite, run without forking. */
int
bench_run(const char *name, void (*fn)(void))
{
	Suite	*s = suite_create(name);
	TCase	*tc = tcase_create(name);
	SRunner	*sr;
	int	 failed;

	bench_body = fn;
	tcase_add_test(tc, bench_test);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed != 0 ? 1 : 0);
}
