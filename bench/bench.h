/*
 * bench.h -- what the benchmarks share: a process's memory and CPU time
 * from /proc, the file limit, a clock, and one Check test to run the
 * body in (so a failed harness assertion says what failed).
 */
#ifndef TRYST_BENCH_H
#define TRYST_BENCH_H

#include <sys/types.h>

/* Memory of a process, in bytes; pss is -1 when smaps_rollup is not
 * readable. */
struct bench_mem {
	long long	 rss;
	long long	 pss;
};

/* VmRSS (and Pss) of pid. -1 if the process is gone. */
int		 bench_mem(pid_t, struct bench_mem *);
/* utime + stime of pid (all its threads), in milliseconds; -1 if gone. */
long long	 bench_cpu_ms(pid_t);
/* Raise the soft limit on open files towards want (at most the hard
 * limit); returns the soft limit now in force. */
long		 bench_raise_nofile(long want);
/* Seconds on the monotonic clock. */
double		 bench_now(void);
/* Run fn as the one test of a Check suite named name, in this process;
 * returns the exit status for main (0 when it passed). */
int		 bench_run(const char *name, void (*fn)(void));

#endif
