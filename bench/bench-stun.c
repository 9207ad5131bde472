/*
 * bench-stun.c -- STUN Binding answers per CPU-second of the server, for
 * trystd's responder and for coturn's turnserver run as a plain STUN
 * server. A paced load generator sends RFC 8489 Binding requests at a
 * fixed rate from a few local ports and many loopback source addresses
 * (trystd answers each address about 20 times a second after a burst of
 * 40, so the load is spread far below that), counts the answers, and
 * reads the server's utime + stime before and after. Prints figures;
 * asserts nothing about speed.
 *
 * Usage: tryst-bench stun [requests/s, 20000 [seconds per round, 3 [rounds, 5]]]
 */
#include <sys/prctl.h>
#include <sched.h>
#include <dirent.h>
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <sodium.h>

#include "harness.h"
#include "bench.h"

#define NSOCK		4	/* local ports */
#define NADDR		4096	/* source addresses, 127.1.0.1 and up */
#define BATCH		32	/* datagrams per sendmmsg/recvmmsg */
#define REQ_LEN		20	/* a Binding request without attributes */
#define ANS_MAX		512
#define DRAIN_MS	300	/* answers still counted after the load */
#define COOKIE		0x2112a442U
#define MAX_ROUNDS	20

/* The load generator's state for one run. */
struct load {
	int			 fd[NSOCK];
	struct sockaddr_in	 dst;
	uint8_t			 tag[4];	/* opens each transaction ID */
	long			 sent;
	long			 answers;
};

/* What one run measured. */
struct result {
	long		 sent;
	long		 answers;
	long long	 cpu_ms;
	double		 secs;
	int		 threads;
};

static double	 rate = 20000;
static double	 secs = 3;		/* per round */
static int	 rounds = 5;

/* Source address i: 127.1.0.1 to 127.1.x.250, never .0 or .255. */
static struct in_addr
source_addr(long i)
{
	struct in_addr	 a;

	i %= NADDR;
	a.s_addr = htonl(0x7f010000U | (uint32_t)(i / 250) << 8 |
	    (uint32_t)(i % 250 + 1));
	return (a);
}

/* Sockets on the wildcard address (so answers to any 127.1.x.y come
 * back) that choose their source address per datagram. */
static void
load_open(struct load *l, int port)
{
	struct sockaddr_in	 sin;
	int			 i, size = 4 << 20;

	memset(l, 0, sizeof *l);
	randombytes_buf(l->tag, sizeof l->tag);
	l->dst.sin_family = AF_INET;
	l->dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	l->dst.sin_port = htons((uint16_t)port);
	for (i = 0; i < NSOCK; i++) {
		l->fd[i] = socket(AF_INET, SOCK_DGRAM | SOCK_NONBLOCK, 0);
		ck_assert_int_ne(l->fd[i], -1);
		setsockopt(l->fd[i], SOL_SOCKET, SO_RCVBUF, &size,
		    sizeof size);
		memset(&sin, 0, sizeof sin);
		sin.sin_family = AF_INET;
		ck_assert_int_eq(bind(l->fd[i], (struct sockaddr *)&sin,
		    sizeof sin), 0);
	}
}

/* Close the generator's sockets. */
static void
load_close(struct load *l)
{
	int	 i;

	for (i = 0; i < NSOCK; i++)
		close(l->fd[i]);
}

/* Send n requests (n <= BATCH) on socket s, numbered from l->sent. */
static void
load_send(struct load *l, int s, int n)
{
	struct mmsghdr	 mm[BATCH];
	struct iovec	 iov[BATCH];
	struct in_pktinfo *pi;
	struct cmsghdr	*cm;
	uint8_t		 req[BATCH][REQ_LEN];
	uint8_t		 ctl[BATCH][CMSG_SPACE(sizeof *pi)];
	uint64_t	 seq;
	int		 i, k;

	memset(mm, 0, sizeof mm);
	memset(ctl, 0, sizeof ctl);
	for (i = 0; i < n; i++) {
		seq = (uint64_t)(l->sent + i);
		put_u16(req[i], 0x0001);
		put_u16(req[i] + 2, 0);
		put_u32(req[i] + 4, COOKIE);
		memcpy(req[i] + 8, l->tag, 4);
		put_u64(req[i] + 12, seq);
		iov[i].iov_base = req[i];
		iov[i].iov_len = REQ_LEN;
		mm[i].msg_hdr.msg_name = &l->dst;
		mm[i].msg_hdr.msg_namelen = sizeof l->dst;
		mm[i].msg_hdr.msg_iov = &iov[i];
		mm[i].msg_hdr.msg_iovlen = 1;
		mm[i].msg_hdr.msg_control = ctl[i];
		mm[i].msg_hdr.msg_controllen = sizeof ctl[i];
		cm = CMSG_FIRSTHDR(&mm[i].msg_hdr);
		cm->cmsg_level = IPPROTO_IP;
		cm->cmsg_type = IP_PKTINFO;
		cm->cmsg_len = CMSG_LEN(sizeof *pi);
		pi = (struct in_pktinfo *)CMSG_DATA(cm);
		pi->ipi_spec_dst = source_addr((long)seq);
	}
	for (i = 0; i < n; i += k) {
		k = sendmmsg(l->fd[s], mm + i, (unsigned)(n - i), 0);
		if (k == -1 && errno == EINTR)
			k = 0;
		else if (k == -1)
			break;	/* socket buffer full: counted as sent */
	}
	l->sent += n;
}

/* Count the answers waiting on every socket. */
static void
load_recv(struct load *l)
{
	struct mmsghdr	 mm[BATCH];
	struct iovec	 iov[BATCH];
	uint8_t		 buf[BATCH][ANS_MAX];
	int		 i, n, s;

	for (s = 0; s < NSOCK; s++) {
		do {
			memset(mm, 0, sizeof mm);
			for (i = 0; i < BATCH; i++) {
				iov[i].iov_base = buf[i];
				iov[i].iov_len = ANS_MAX;
				mm[i].msg_hdr.msg_iov = &iov[i];
				mm[i].msg_hdr.msg_iovlen = 1;
			}
			n = recvmmsg(l->fd[s], mm, BATCH, MSG_DONTWAIT, NULL);
			for (i = 0; i < n; i++) {
				if (mm[i].msg_len >= REQ_LEN &&
				    get_u16(buf[i]) == 0x0101 &&
				    get_u32(buf[i] + 4) == COOKIE &&
				    memcmp(buf[i] + 8, l->tag, 4) == 0)
					l->answers++;
			}
		} while (n == BATCH);
	}
}

/* Wait up to ms for any socket to be readable. */
static void
load_wait(struct load *l, int ms)
{
	struct pollfd	 pfd[NSOCK];
	int		 i;

	for (i = 0; i < NSOCK; i++) {
		pfd[i].fd = l->fd[i];
		pfd[i].events = POLLIN;
	}
	poll(pfd, NSOCK, ms);
}

/* Send at rate for secs, then count answers for DRAIN_MS more. */
static void
load_run(struct load *l)
{
	double	 t0 = bench_now(), t;
	long	 due;
	int	 s = 0;

	while ((t = bench_now() - t0) < secs) {
		due = (long)(t * rate) - l->sent;
		while (due > 0) {
			load_send(l, s, due > BATCH ? BATCH : (int)due);
			s = (s + 1) % NSOCK;
			due -= BATCH;
		}
		load_recv(l);
		load_wait(l, 1);
	}
	t0 = bench_now();
	while (bench_now() - t0 < DRAIN_MS / 1000.0) {
		load_recv(l);
		load_wait(l, 10);
	}
}

/* Wait up to 10 s for the server on port to answer one request. */
static int
probe(int port)
{
	struct load	 l;
	int		 i;

	load_open(&l, port);
	for (i = 0; i < 100 && l.answers == 0; i++) {
		load_send(&l, 0, 1);
		load_wait(&l, 100);
		load_recv(&l);
	}
	load_close(&l);
	return (l.answers > 0 ? 0 : -1);
}

/* The Threads: line of /proc/PID/status, or 0. */
static int
threads_of(pid_t pid)
{
	FILE	*f;
	char	 path[64], line[128];
	int	 n = 0;

	snprintf(path, sizeof path, "/proc/%ld/status", (long)pid);
	if ((f = fopen(path, "r")) == NULL)
		return (0);
	while (fgets(line, sizeof line, f) != NULL) {
		if (sscanf(line, "Threads: %d", &n) == 1)
			break;
	}
	fclose(f);
	return (n);
}

/* Load the server pid on port and read its CPU time around it. */
static void
measure(pid_t pid, int port, struct result *r)
{
	struct load	 l;
	long long	 c0, c1;
	double		 t0;

	load_open(&l, port);
	c0 = bench_cpu_ms(pid);
	t0 = bench_now();
	load_run(&l);
	r->secs = bench_now() - t0;
	c1 = bench_cpu_ms(pid);
	ck_assert_msg(c0 >= 0 && c1 >= 0, "server (pid %ld) is gone",
	    (long)pid);
	r->threads = threads_of(pid);
	r->sent = l.sent;
	r->answers = l.answers;
	r->cpu_ms = c1 - c0;
	load_close(&l);
}

/* Print what a round measured; the answers per CPU-second, or 0. */
static double
report(const char *who, int round, const struct result *r)
{
	double	 per = r->cpu_ms > 0 ? r->answers * 1000.0 / r->cpu_ms : 0;

	printf("stun: round %d %-6s %7ld sent %7ld answered (%5.1f%%) "
	    "CPU %5lld ms %2d threads: %6.0f answers/CPU-s\n", round, who,
	    r->sent, r->answers, r->sent > 0 ? 100.0 * r->answers / r->sent :
	    0.0, r->cpu_ms, r->threads, per);
	fflush(stdout);
	return (per);
}

/* The median of n values (sorted in place). */
static double
median(double *v, int n)
{
	double	 t;
	int	 i, j;

	for (i = 1; i < n; i++) {
		for (j = i; j > 0 && v[j - 1] > v[j]; j--) {
			t = v[j];
			v[j] = v[j - 1];
			v[j - 1] = t;
		}
	}
	return (n % 2 ? v[n / 2] : (v[n / 2 - 1] + v[n / 2]) / 2);
}

/* Pin every thread of pid to cpu. */
static void
pin_threads(pid_t pid, int cpu)
{
	cpu_set_t	 set;

	CPU_ZERO(&set);
	CPU_SET(cpu, &set);
	bench_pin(pid, &set);
}

/* Start turnserver as a plain STUN server on port; its pid, or -1. */
static pid_t
coturn_start(int port)
{
	char	 p[16], log[PATH_MAX], pidf[PATH_MAX], db[PATH_MAX];
	char	*argv[] = { "turnserver", "-n", "--stun-only", "--no-cli",
	    "--no-tcp", "--no-tls", "--no-dtls", "-L", "127.0.0.1", "-p", p,
	    "--log-file", log, "--simple-log", "--pidfile", pidf,
	    "--userdb", db, NULL };
	pid_t	 pid;
	int	 fd;

	snprintf(p, sizeof p, "%d", port);
	snprintf(log, sizeof log, "%s/turnserver.log", H.dir);
	snprintf(pidf, sizeof pidf, "%s/turnserver.pid", H.dir);
	snprintf(db, sizeof db, "%s/turndb", H.dir);
	if ((pid = fork()) != 0)
		return (pid);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	if ((fd = open("/dev/null", O_RDWR)) != -1) {
		dup2(fd, STDIN_FILENO);
		dup2(fd, STDOUT_FILENO);
		dup2(fd, STDERR_FILENO);
	}
	execvp(argv[0], argv);
	_exit(127);
}

/* Stop turnserver: SIGTERM, then SIGKILL after 2 s. */
static void
coturn_stop(pid_t pid)
{
	int	 i;

	kill(pid, SIGTERM);
	for (i = 0; i < 40; i++) {
		if (waitpid(pid, NULL, WNOHANG) == pid)
			return;
		h_msleep(50);
	}
	kill(pid, SIGKILL);
	waitpid(pid, NULL, 0);
}

/* 1 if turnserver is on PATH. */
static int
have_coturn(void)
{
	return (h_run(NULL, "command -v turnserver >/dev/null 2>&1") == 0);
}

static int	 trystd_port;
static int	 pinned;	/* servers on CPU 1, the load on CPU 0 */

/* Per server: the figure of each round, and the sums. */
struct series {
	const char	*who;
	pid_t		 pid;
	int		 port;
	double		 per[MAX_ROUNDS];
	long		 answers;
	long long	 cpu_ms;
};

/* One round on one server. */
static void
round_on(struct series *s, int i)
{
	struct result	 r;

	measure(s->pid, s->port, &r);
	s->per[i] = report(s->who, i + 1, &r);
	s->answers += r.answers;
	s->cpu_ms += r.cpu_ms;
}

/* The median and overall figure of a series; the median. */
static double
summary(struct series *s)
{
	double	 med = median(s->per, rounds);

	printf("stun: %-6s median %.0f answers/CPU-s; overall %ld answers "
	    "in %lld CPU ms: %.0f answers/CPU-s\n", s->who, med, s->answers,
	    s->cpu_ms, s->cpu_ms > 0 ? s->answers * 1000.0 / s->cpu_ms : 0);
	return (med);
}

/* Start turnserver for s and wait for its first answer. */
static void
coturn_up(struct series *s)
{
	s->port = h_free_port(SOCK_DGRAM);
	ck_assert_int_ne(s->pid = coturn_start(s->port), -1);
	ck_assert_msg(probe(s->port) == 0, "turnserver: no STUN answer "
	    "(see %s/turnserver.log)", H.dir);
	if (pinned)
		pin_threads(s->pid, 1);
}

/* Rounds on trystd and coturn in turn (so both share whatever else the
 * machine is doing), then the ratio. */
static void
body(void)
{
	struct series	 ours = { .who = "trystd", .pid = H.trystd_pid,
			    .port = trystd_port },
			 theirs = { .who = "coturn", .pid = -1 };
	struct bench_result	 res;
	double		 a, b;
	int		 i, coturn = have_coturn();

	/* The load on CPU 0 and both servers on CPU 1, so that where the
	 * scheduler puts them does not change the figures. */
	if (sysconf(_SC_NPROCESSORS_ONLN) >= 2) {
		pinned = 1;
		pin_threads(getpid(), 0);
		pin_threads(H.trystd_pid, 1);
	}
	printf("stun: %.0f requests/s, %d rounds of %.1f s, from %d ports "
	    "and %d addresses; %ld CPUs%s\n", rate, rounds, secs, NSOCK,
	    NADDR, sysconf(_SC_NPROCESSORS_ONLN), pinned ? " (load on CPU 0, "
	    "servers on CPU 1)" : "");
	ck_assert_msg(probe(ours.port) == 0, "trystd: no STUN answer");
	if (!coturn)
		printf("stun: turnserver (coturn) is not installed: no "
		    "comparison\n");
	else
		coturn_up(&theirs);
	for (i = 0; i < rounds; i++) {
		round_on(&ours, i);
		if (coturn)
			round_on(&theirs, i);
	}
	a = summary(&ours);
	memset(&res, 0, sizeof res);
	res.row = "stun";
	res.measure = "Binding answers, median of rounds";
	res.unit = "per server CPU-s";
	res.value = a;
	if (coturn) {
		coturn_stop(theirs.pid);
		b = summary(&theirs);
		if (a > 0 && b > 0)
			printf("stun: trystd / coturn answers per CPU-second: "
			    "%.2f (medians), %.2f (overall)\n", a / b,
			    ((double)ours.answers / ours.cpu_ms) /
			    ((double)theirs.answers / theirs.cpu_ms));
		res.anchor = "coturn (turnserver, STUN only)";
		res.anchor_value = b;
	}
	bench_result(&res);
	fflush(stdout);
}

/* Start trystd with a STUN responder, measure, stop. */
int
bench_stun_main(int argc, char *argv[])
{
	char	*cause = NULL, conf[64];

	if ((argc > 1 && (rate = atof(argv[1])) <= 0) ||
	    (argc > 2 && (secs = atof(argv[2])) <= 0) ||
	    (argc > 3 && ((rounds = atoi(argv[3])) < 1 ||
	    rounds > MAX_ROUNDS))) {
		fprintf(stderr, "usage: tryst-bench stun [rate [seconds per round "
		    "[rounds]]]\n");
		return (2);
	}
	trystd_port = h_free_port(SOCK_DGRAM);
	snprintf(conf, sizeof conf, "stun_listen = 127.0.0.1:%d\n",
	    trystd_port);
	if (h_start(conf, &cause) == -1) {
		fprintf(stderr, "bench-stun: %s\n", cause);
		return (1);
	}
	if (bench_run("stun", body) != 0)
		return (1);
	h_stop();
	h_remove_dir();
	return (0);
}
