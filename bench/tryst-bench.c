/*
 * tryst-bench.c -- the load generator and its benchmarks as one program:
 * "tryst-bench NAME [ARGS]" runs one benchmark, "tryst-bench --all" the
 * ones BENCHMARKS.md shows, one after another, each in a process of its
 * own. Every benchmark starts its own Redis and trystd (test nodes: see
 * trystctl mint) and its anchors, speaks the protocol from the outside
 * as clients do, prints its figures, and asserts nothing about speed.
 * bench/run turns the RESULT lines of --all into BENCHMARKS.md.
 *
 * The programs it runs come from TRYSTD, TRYSTCTL and TRYST when set,
 * else from where they are installed (sbin and bin of the prefix).
 */
#include <sys/wait.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "bench.h"

/* One subcommand. */
struct sub {
	const char	*name;
	int		(*main)(int, char **);
	int		 all;		/* part of --all */
	const char	*what;
};

static const struct sub subs[] = {
	{ "setup", bench_setup_main, 1,
	    "connection setup against a bare TLS server, per CPU-second" },
	{ "scale", bench_scale_main, 1,
	    "nodes on one port, one CPU each, against one node's rate" },
	{ "idle", bench_idle_main, 1,
	    "memory per idle authenticated connection" },
	{ "intro", bench_intro_main, 1,
	    "CONNECT to INCOMING latency, same node and across nodes" },
	{ "discovery", bench_discovery_main, 1,
	    "OPRF_EVAL and LOOKUP per CPU-second: libsodium, stdiscosrv" },
	{ "relay", bench_relay_main, 1,
	    "relayed bytes per CPU-second, one and many sessions, vs stunnel" },
	{ "stun", bench_stun_main, 1,
	    "STUN answers per CPU-second against coturn" },
	{ "flood", bench_flood_main, 0,
	    "memory and service under a connection flood" },
	{ "nodes", bench_nodes_main, 1,
	    "100,000 idle connections over several nodes (minutes)" },
	{ "bare-tls", bench_bare_tls_main, 0,
	    "the anchor server of setup and idle (run by them)" },
};
#define NSUBS	(sizeof subs / sizeof subs[0])

/* The list of subcommands, to stream. */
static void
usage(FILE *f)
{
	size_t	 i;

	fprintf(f, "usage: tryst-bench NAME [ARGS]   one benchmark\n"
	    "       tryst-bench --all            every benchmark marked *\n"
	    "       tryst-bench --list\n");
	for (i = 0; i < NSUBS; i++)
		fprintf(f, "  %c %-9s %s\n", subs[i].all ? '*' : ' ',
		    subs[i].name, subs[i].what);
}

/* Set variable to dir/prog unless it is set already. */
static void
default_prog(const char *variable, const char *dir, const char *prog)
{
	char	 path[PATH_MAX];

	if (getenv(variable) != NULL)
		return;
	if ((size_t)snprintf(path, sizeof path, "%s/%s", dir, prog) <
	    sizeof path)
		setenv(variable, path, 0);
}

/* The installed programs, where the environment names none. */
static void
default_progs(void)
{
	default_prog("TRYSTD", TRYST_SBINDIR, "trystd");
	default_prog("TRYSTCTL", TRYST_SBINDIR, "trystctl");
	default_prog("TRYST", TRYST_BINDIR, "tryst");
}

/* Every benchmark of --all in a child of its own; how many failed. */
static int
run_all(void)
{
	char	*argv[2];
	size_t	 i;
	pid_t	 pid;
	int	 status, failed = 0;

	for (i = 0; i < NSUBS; i++) {
		if (!subs[i].all)
			continue;
		printf("== %s: %s\n", subs[i].name, subs[i].what);
		fflush(stdout);
		if ((pid = fork()) == -1) {
			perror("tryst-bench: fork");
			return (failed + 1);
		}
		if (pid == 0) {
			argv[0] = (char *)subs[i].name;
			argv[1] = NULL;
			_exit(subs[i].main(1, argv));
		}
		if (waitpid(pid, &status, 0) == -1 || !WIFEXITED(status) ||
		    WEXITSTATUS(status) != 0) {
			printf("== %s: FAILED\n", subs[i].name);
			failed++;
		}
		fflush(stdout);
	}
	return (failed);
}

/* Dispatch. */
int
main(int argc, char *argv[])
{
	size_t	 i;

	default_progs();
	if (argc < 2) {
		usage(stderr);
		return (2);
	}
	if (strcmp(argv[1], "--list") == 0) {
		usage(stdout);
		return (0);
	}
	if (strcmp(argv[1], "--all") == 0)
		return (run_all() == 0 ? 0 : 1);
	for (i = 0; i < NSUBS; i++) {
		if (strcmp(argv[1], subs[i].name) == 0)
			return (subs[i].main(argc - 1, argv + 1));
	}
	fprintf(stderr, "tryst-bench: no benchmark %s\n", argv[1]);
	usage(stderr);
	return (2);
}
