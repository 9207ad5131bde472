/*
 * probe.c -- a topology check for tests/nat-test.sh, independent of tryst.
 *
 *   probe reflect ADDR PORT
 *	Listen on ADDR:PORT and tell each TCP client the address and port it
 *	came from ("203.0.113.11 40001\n"), as trystd's WELCOME does.
 *   probe punch LPORT RADDR RPORT MYFILE PEERFILE MS
 *	From local port LPORT: connect to the reflector and keep that
 *	connection open, write the mapping it reports to MYFILE, wait for the
 *	peer's mapping in PEERFILE, then try TCP simultaneous open from LPORT
 *	to that mapping, retrying failed attempts, for MS milliseconds. On a
 *	connection, swap a line with the peer and exit 0; else exit 1.
 *
 * This is what the client does (PROTOCOL.md section 6.2) with nothing else,
 * so a failure here means the namespaces or the NAT rules are wrong.
 */
#include <sys/socket.h>
#include <sys/stat.h>
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
#include <time.h>
#include <unistd.h>

#define PEER_WAIT_MS	20000
#define LINE_MS		3000

/* Print a message with errno's text and exit 2. */
static void __attribute__((noreturn))
die(const char *what)
{
	fprintf(stderr, "probe: %s: %s\n", what, strerror(errno));
	exit(2);
}

/* Milliseconds on the monotonic clock. */
static long long
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Sleep for ms milliseconds. */
static void
sleep_ms(int ms)
{
	struct timespec	 ts;

	ts.tv_sec = ms / 1000;
	ts.tv_nsec = (long)(ms % 1000) * 1000000L;
	while (nanosleep(&ts, &ts) == -1 && errno == EINTR)
		;
}

/* Fill sin from a dotted address and a port, or exit. */
static void
make_addr(struct sockaddr_in *sin, const char *addr, const char *port)
{
	memset(sin, 0, sizeof *sin);
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)atoi(port));
	if (inet_pton(AF_INET, addr, &sin->sin_addr) != 1) {
		fprintf(stderr, "probe: bad address %s\n", addr);
		exit(2);
	}
}

/* A TCP socket that shares local port lport with the others, as the
 * client's sockets do; lport 0 leaves the choice to the kernel. */
static int
shared_socket(int lport, int nonblock)
{
	struct sockaddr_in	 sin;
	int			 fd, on = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		die("socket");
	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on) == -1 ||
	    setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &on, sizeof on) == -1)
		die("setsockopt");
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)lport);
	if (bind(fd, (struct sockaddr *)&sin, sizeof sin) == -1)
		die("bind");
	if (nonblock && fcntl(fd, F_SETFL, O_NONBLOCK) == -1)
		die("fcntl");
	return (fd);
}

/* Read one line into buf within ms; 0, or -1 on timeout, EOF or error. */
static int
read_line(int fd, char *buf, size_t len, int ms)
{
	struct pollfd	 pfd = { .fd = fd, .events = POLLIN };
	long long	 end = now_ms() + ms;
	size_t		 off = 0;
	ssize_t		 n;

	while (off + 1 < len) {
		if (poll(&pfd, 1, (int)(end - now_ms())) <= 0)
			return (-1);
		if ((n = read(fd, buf + off, 1)) <= 0) {
			if (n == -1 && errno == EAGAIN)
				continue;
			return (-1);
		}
		if (buf[off] == '\n') {
			buf[off] = '\0';
			return (0);
		}
		off++;
	}
	return (-1);
}

/* Serve one reflector client: its address, then wait for it to leave. */
static void
reflect_one(int fd, const struct sockaddr_in *from)
{
	char	 line[64], addr[INET_ADDRSTRLEN], c;

	inet_ntop(AF_INET, &from->sin_addr, addr, sizeof addr);
	snprintf(line, sizeof line, "%s %u\n", addr, ntohs(from->sin_port));
	if (write(fd, line, strlen(line)) == -1)
		_exit(1);
	while (read(fd, &c, 1) > 0)
		;
	_exit(0);
}

/* probe reflect ADDR PORT */
static int
cmd_reflect(char **argv)
{
	struct sockaddr_in	 sin, from;
	socklen_t		 len;
	int			 lfd, fd, on = 1;

	signal(SIGCHLD, SIG_IGN);
	make_addr(&sin, argv[0], argv[1]);
	if ((lfd = socket(AF_INET, SOCK_STREAM, 0)) == -1)
		die("socket");
	setsockopt(lfd, SOL_SOCKET, SO_REUSEADDR, &on, sizeof on);
	if (bind(lfd, (struct sockaddr *)&sin, sizeof sin) == -1 ||
	    listen(lfd, 16) == -1)
		die("listen");
	for (;;) {
		len = sizeof from;
		if ((fd = accept(lfd, (struct sockaddr *)&from, &len)) == -1)
			continue;
		if (fork() == 0) {
			close(lfd);
			reflect_one(fd, &from);
		}
		close(fd);
	}
}

/* Write text to path through a temporary file, so readers see it whole. */
static void
write_file(const char *path, const char *text)
{
	char	 tmp[4096];
	FILE	*f;

	snprintf(tmp, sizeof tmp, "%s.tmp", path);
	if ((f = fopen(tmp, "w")) == NULL)
		die(tmp);
	fprintf(f, "%s\n", text);
	if (fclose(f) != 0 || rename(tmp, path) == -1)
		die(path);
}

/* Wait up to ms for path to hold "ADDR PORT"; 0 and sin filled, or -1. */
static int
wait_peer(const char *path, struct sockaddr_in *sin, int ms)
{
	long long	 end = now_ms() + ms;
	char		 addr[64], port[16];
	FILE		*f;
	int		 n;

	while (now_ms() < end) {
		if ((f = fopen(path, "r")) != NULL) {
			n = fscanf(f, "%63s %15s", addr, port);
			fclose(f);
			if (n == 2) {
				make_addr(sin, addr, port);
				return (0);
			}
		}
		sleep_ms(10);
	}
	return (-1);
}

/* One connection attempt from lport to sin, until end: the socket, -1
 * when it failed early (refused, unreachable), -2 when time ran out. */
static int
attempt(int lport, const struct sockaddr_in *sin, long long end)
{
	struct pollfd	 pfd;
	socklen_t	 len = sizeof(int);
	int		 fd, err = 0, left;

	fd = shared_socket(lport, 1);
	if (connect(fd, (const struct sockaddr *)sin, sizeof *sin) == 0)
		return (fd);
	if (errno != EINPROGRESS) {
		close(fd);
		return (-1);
	}
	pfd.fd = fd;
	pfd.events = POLLOUT;
	if ((left = (int)(end - now_ms())) <= 0 || poll(&pfd, 1, left) <= 0) {
		close(fd);
		return (-2);
	}
	if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1 || err) {
		close(fd);
		return (-1);
	}
	return (fd);
}

/* Retry attempts from lport to sin for ms; the socket or -1. */
static int
punch(int lport, const struct sockaddr_in *sin, int ms)
{
	long long	 end = now_ms() + ms;
	int		 fd, tries = 0;

	while (now_ms() < end) {
		tries++;
		if ((fd = attempt(lport, sin, end)) >= 0) {
			fprintf(stderr, "probe: connected at attempt %d\n",
			    tries);
			return (fd);
		}
		if (fd == -1)
			sleep_ms(50);
	}
	fprintf(stderr, "probe: no connection after %d attempt(s)\n", tries);
	return (-1);
}

/* Connect fd to the reflector and return the mapping it reports. */
static void
reflect_ask(int fd, const struct sockaddr_in *refl, char *buf, size_t len)
{
	if (connect(fd, (const struct sockaddr *)refl, sizeof *refl) == -1)
		die("connect to reflector");
	if (read_line(fd, buf, len, LINE_MS) == -1) {
		fprintf(stderr, "probe: no answer from the reflector\n");
		exit(2);
	}
}

/* probe punch LPORT RADDR RPORT MYFILE PEERFILE MS */
static int
cmd_punch(char **argv)
{
	struct sockaddr_in	 refl, peer;
	char			 mine[64], line[128], addr[INET_ADDRSTRLEN];
	int			 lport = atoi(argv[0]), cfd, fd;

	make_addr(&refl, argv[1], argv[2]);
	cfd = shared_socket(lport, 0);
	reflect_ask(cfd, &refl, mine, sizeof mine);
	printf("mapped %s\n", mine);
	write_file(argv[3], mine);
	if (wait_peer(argv[4], &peer, PEER_WAIT_MS) == -1) {
		fprintf(stderr, "probe: no peer mapping in %s\n", argv[4]);
		return (2);
	}
	inet_ntop(AF_INET, &peer.sin_addr, addr, sizeof addr);
	if ((fd = punch(lport, &peer, atoi(argv[5]))) == -1) {
		printf("no direct path to %s:%u\n", addr,
		    ntohs(peer.sin_port));
		return (1);
	}
	snprintf(line, sizeof line, "hello from %s\n", mine);
	if (write(fd, line, strlen(line)) == -1 ||
	    read_line(fd, line, sizeof line, LINE_MS) == -1) {
		printf("connected to %s:%u but no line came\n", addr,
		    ntohs(peer.sin_port));
		return (1);
	}
	printf("direct %s:%u said \"%s\"\n", addr, ntohs(peer.sin_port), line);
	close(fd);
	close(cfd);
	return (0);
}

int
main(int argc, char **argv)
{
	setvbuf(stdout, NULL, _IOLBF, 0);
	if (argc == 4 && strcmp(argv[1], "reflect") == 0)
		return (cmd_reflect(argv + 2));
	if (argc == 8 && strcmp(argv[1], "punch") == 0)
		return (cmd_punch(argv + 2));
	fprintf(stderr, "usage: probe reflect ADDR PORT\n"
	    "       probe punch LPORT RADDR RPORT MYFILE PEERFILE MS\n");
	return (2);
}
