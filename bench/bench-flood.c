/*
 * bench-flood.c -- connections that never finish TLS. The first trystd
 * takes N connections that send nothing, then N that send only the first
 * byte of a ClientHello; VmRSS is printed before each flood, while it
 * holds, and once handshake_timeout_s has shed it. The second trystd runs
 * at max_connections while an attacker holds as many connections as that
 * and a few more, reconnecting at once whenever one is closed, with no
 * TLS work (then with the first byte of a ClientHello only); a real
 * client tries to reach CHALLENGE ten times a second meanwhile, and its
 * success rate is printed. Asserts nothing about size
 * or time: run it against an older trystd (TRYSTD=...) to compare.
 *
 * Usage: bench-flood [N, default 10000] [max_connections, default 256]
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "harness.h"
#include "bench.h"

#define SPARE_FDS	64	/* files besides the connections */
#define SHED_S		10	/* handshake_timeout_s of FLOOD_CONF */
#define ATTACK_S	25	/* how long the attacker runs */
#define EXTRA		16	/* attackers beyond max_connections */

#define FLOOD_CONF \
	"max_connections = 1000000\n" \
	"max_connections_per_ip = 1000000\n" \
	"handshake_timeout_s = 10\n"
/* A botnet: one address may hold them all. */
#define LOCKOUT_CONF \
	"max_connections_per_ip = 1000000\n" \
	"handshake_timeout_s = 10\n"

static long	 nconn = 10000;
static long	 maxconn = 256;
static int	*fds;

/* A connection to port from 127.0.0.1, non-blocking if nb; -1 if it
 * could not even start. */
static int
tcp_open(int port, int nb)
{
	struct sockaddr_in	 sin;
	int			 fd;

	if ((fd = socket(AF_INET, SOCK_STREAM | SOCK_CLOEXEC |
	    (nb ? SOCK_NONBLOCK : 0), 0)) == -1)
		return (-1);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	if (connect(fd, (struct sockaddr *)&sin, sizeof sin) == -1 &&
	    errno != EINPROGRESS) {
		close(fd);
		return (-1);
	}
	return (fd);
}

/* VmRSS of pid in kB, after a second of quiet. */
static long long
rss_kb(pid_t pid)
{
	struct bench_mem	 m;

	h_msleep(1000);
	ck_assert_msg(bench_mem(pid, &m) == 0, "trystd (pid %ld) is gone",
	    (long)pid);
	return (m.rss / 1024);
}

/* N connections to the first trystd, each sending first (0: nothing,
 * else that byte); RSS before, during, after they are shed. */
static void
flood(const char *what, int first)
{
	long long	 before, held, shed;
	long		 i, open = 0;
	int		 port = H.tryst_port;
	uint8_t		 b = (uint8_t)first;
	double		 t0;

	before = rss_kb(H.trystd_pid);
	t0 = bench_now();
	for (i = 0; i < nconn; i++) {
		if ((fds[i] = tcp_open(port, 0)) == -1)
			continue;
		open++;
		if (first != 0)
			(void)write(fds[i], &b, 1);
	}
	t0 = bench_now() - t0;
	held = rss_kb(H.trystd_pid);
	h_msleep((SHED_S + 2) * 1000);
	shed = rss_kb(H.trystd_pid);
	for (i = 0; i < nconn; i++)
		if (fds[i] != -1)
			close(fds[i]);
	printf("flood: %s: %ld connections opened in %.1f s\n", what, open,
	    t0);
	printf("flood: %s: VmRSS %lld kB before, %lld kB holding them "
	    "(%lld bytes each), %lld kB once shed\n", what, before, held,
	    open > 0 ? (held - before) * 1024 / open : 0, shed);
	fflush(stdout);
}

/* A connection of the attacker, sending first unless it is 0. */
static int
attack_one(int port, int first)
{
	uint8_t	 b = (uint8_t)first;
	int	 fd;

	if ((fd = tcp_open(port, 1)) != -1 && first != 0)
		(void)write(fd, &b, 1);
	return (fd);
}

/* The attacker: hold maxconn + EXTRA connections to port, reconnecting
 * at once when one closes, for secs; print how often it reconnected. */
static void
attacker(int port, int secs, int first)
{
	struct pollfd	*pfd;
	long		 n = maxconn + EXTRA, i, again = 0;
	double		 end = bench_now() + secs;
	char		 buf[64];

	pfd = xcalloc((size_t)n, sizeof *pfd);
	for (i = 0; i < n; i++) {
		pfd[i].fd = attack_one(port, first);
		pfd[i].events = POLLIN;
	}
	while (bench_now() < end) {
		if (poll(pfd, (nfds_t)n, 10) <= 0)
			continue;
		for (i = 0; i < n; i++) {
			if (pfd[i].fd != -1 && pfd[i].revents == 0)
				continue;
			if (pfd[i].fd != -1 && read(pfd[i].fd, buf,
			    sizeof buf) > 0)
				continue;
			if (pfd[i].fd != -1)
				close(pfd[i].fd);
			pfd[i].fd = attack_one(port, first);
			again++;
		}
	}
	printf("flood: attacker: %ld connections held, %ld reconnections "
	    "in %d s\n", n, again, secs);
	fflush(stdout);
	_exit(0);
}

/* A real client against the second trystd while the attacker runs. */
static void
lockout(const char *what, int first)
{
	struct tconn_challenge	 ch;
	struct tconn		*t;
	pid_t			 pid;
	long			 tries = 0, ok = 0;
	double			 end, t0, worst = 0, sum = 0;
	char			*why;
	int			 st;

	fflush(stdout);
	if ((pid = fork()) == 0)
		attacker(H.tryst_port2, ATTACK_S, first);
	ck_assert_int_ne(pid, -1);
	h_msleep(2000);		/* it fills max_connections */
	end = bench_now() + ATTACK_S - 4;
	while (bench_now() < end) {
		why = NULL;
		tries++;
		t0 = bench_now();
		if ((t = tconn_open(H.hostport2, H.sign_pk, &ch, &why)) !=
		    NULL) {
			t0 = bench_now() - t0;
			ok++;
			sum += t0;
			if (t0 > worst)
				worst = t0;
			tconn_close(t);
		}
		free(why);
		h_msleep(100);
	}
	ck_assert_int_eq(waitpid(pid, &st, 0), pid);
	printf("flood: lockout (%s) at max_connections = %ld: a real "
	    "client reached CHALLENGE %ld times of %ld (%.0f%%), in %.1f ms "
	    "on average, %.1f ms at worst\n", what, maxconn, ok, tries,
	    tries > 0 ? 100.0 * ok / tries : 0, ok > 0 ? 1000 * sum / ok : 0,
	    1000 * worst);
	fflush(stdout);
}

/* The floods, then the lockout. */
static void
body(void)
{
	fds = xcalloc((size_t)nconn, sizeof *fds);
	flood("nothing sent", 0);
	flood("one byte of a ClientHello", 0x16);
	ck_assert_msg(h_trystd_alive(), "trystd died");
	free(fds);
	lockout("attacker sends nothing", 0);
	lockout("attacker sends one byte", 0x16);
}

/* Raise the file limit, start both trystds, measure, stop. */
int
bench_flood_main(int argc, char *argv[])
{
	char	*cause = NULL, *end, conf[256];
	long	 lim;

	if ((argc > 1 && ((nconn = strtol(argv[1], &end, 10)) < 1 ||
	    *end != '\0')) || (argc > 2 && ((maxconn = strtol(argv[2], &end,
	    10)) < 1 || *end != '\0'))) {
		fprintf(stderr, "usage: tryst-bench flood [connections] "
		    "[max_connections]\n");
		return (2);
	}
	lim = bench_raise_nofile(nconn + SPARE_FDS);
	if (lim < nconn + SPARE_FDS) {
		printf("flood: open files limited to %ld: %ld connections "
		    "instead of %ld\n", lim, lim - SPARE_FDS, nconn);
		if ((nconn = lim - SPARE_FDS) < 1)
			return (1);
	}
	snprintf(conf, sizeof conf, "max_connections = %ld\n" LOCKOUT_CONF,
	    maxconn);
	if (h_start(FLOOD_CONF, &cause) == -1 ||
	    h_start2(conf, &cause) == -1) {
		fprintf(stderr, "bench-flood: %s\n", cause);
		return (1);
	}
	if (bench_run("flood", body) != 0)
		return (1);
	h_stop();
	h_remove_dir();
	return (0);
}
