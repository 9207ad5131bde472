/*
 * bench.h -- what the benchmarks share: a process's memory and CPU time
 * from /proc, the file limit, a clock, and one Check test to run the
 * body in (so a failed harness assertion says what failed).
 */
#ifndef TRYST_BENCH_H
#define TRYST_BENCH_H

#include <sys/types.h>

#include <sched.h>
#include <stdint.h>
#include <stdio.h>

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

/*
 * CPUs. bench_cpus puts the first CPU this process may use in server and
 * the others in gens (every CPU in both when there is one); it returns
 * how many there are and sets *first to the server's. bench_pin pins
 * every thread of pid to set.
 */
int		 bench_cpus(cpu_set_t *server, cpu_set_t *gens, int *first);
void		 bench_pin(pid_t, const cpu_set_t *);

/*
 * Results. A benchmark prints its figures for people as it likes, and
 * each figure BENCHMARKS.md shows also through bench_result, as one line
 *	RESULT<TAB>row<TAB>measure<TAB>value<TAB>unit<TAB>anchor<TAB>
 *	anchor value<TAB>target<TAB>note
 * on standard output, which bench/run collects. The ratio is value over
 * anchor value; anchor, target and note may be NULL (printed as "-").
 */
struct bench_result {
	const char	*row;		/* the benchmark: "setup", "relay" */
	const char	*measure;	/* what was measured, in words */
	double		 value;
	const char	*unit;		/* "/s", "per server CPU-s", "ms" */
	const char	*anchor;	/* what it is compared with */
	double		 anchor_value;	/* in the same unit */
	const char	*target;	/* the goal, in words: ">= 0.75x" */
	const char	*note;		/* e.g. "generator-bound" */
};
void		 bench_result(const struct bench_result *);
/* A new file name (e.g. "setup-latency.dat") in the folder $BENCH_OUT
 * for bench/run to plot, or NULL (and nothing to write) when BENCH_OUT
 * is unset or the file cannot be made. */
FILE		*bench_data(const char *name);
/* Read len bytes of generator g's report from fd into buf, waiting
 * until deadline (h_mono_ms); fails the test when it dies or is late. */
void		 bench_read_report(int g, int fd, void *buf, size_t len,
		    int64_t deadline);
/* Whether the server, given cpu seconds over wall seconds, was busy: a
 * server that used under 90 % of a core waited for its generators. */
int		 bench_busy(double cpu, double wall);

/* The subcommands of tryst-bench (bench/tryst-bench.c): each is the main
 * of one benchmark, argv[0] its name. */
int		 bench_setup_main(int, char **);
int		 bench_scale_main(int, char **);
int		 bench_idle_main(int, char **);
int		 bench_intro_main(int, char **);
int		 bench_discovery_main(int, char **);
int		 bench_stun_main(int, char **);
int		 bench_flood_main(int, char **);
int		 bench_nodes_main(int, char **);
int		 bench_bare_tls_main(int, char **);
int		 bench_relay_main(int, char **);

#endif
