/*
 * sock.c -- the client's plain sockets: the monotonic clock, waits with a
 * deadline, "host:port" parsing, and TCP connections from the one local
 * port that the server connection, the listener and the direct attempts
 * share (PROTOCOL.md §6.2).
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <limits.h>
#include <netdb.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <sodium.h>

#include "client.h"

#define SOCK_CONNECT_MS		10000	/* TCP connect, per address */
#define SOCK_ADDRS_MAX		16	/* addresses of one name tried */

/* Milliseconds on the monotonic clock. */
int64_t
tryst_now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* A deadline timeout_ms from now; -1 (forever) stays -1. */
int64_t
sock_deadline(int timeout_ms)
{
	return (timeout_ms < 0 ? -1 : tryst_now_ms() + timeout_ms);
}

/* Wait for events on fd until deadline: 1 ready, 0 timeout, -1 error. */
int
sock_wait(int fd, short events, int64_t deadline)
{
	struct pollfd	 pfd;
	int64_t		 left;
	int		 n;

	for (;;) {
		left = -1;
		if (deadline != -1 && (left = deadline - tryst_now_ms()) <= 0)
			return (0);
		pfd.fd = fd;
		pfd.events = events;
		pfd.revents = 0;
		n = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
		if (n == -1 && errno == EINTR)
			continue;
		if (n != 0)
			return (n == 1 ? 1 : -1);
	}
}

/* Split "host:port" or "[v6]:port". -1 and *cause if it is neither. */
int
sock_split_hostport(const char *hp, char **host, char **port, char **cause)
{
	const char	*colon, *end;

	if (*hp == '[') {
		if ((end = strchr(hp, ']')) == NULL || end[1] != ':')
			goto bad;
		colon = end + 1;
		*host = xstrdup(hp + 1);
		(*host)[end - hp - 1] = '\0';
	} else {
		if ((colon = strchr(hp, ':')) == NULL ||
		    strchr(colon + 1, ':') != NULL || colon == hp)
			goto bad;
		*host = xstrdup(hp);
		(*host)[colon - hp] = '\0';
	}
	if (colon[1] == '\0' || strspn(colon + 1, "0123456789") !=
	    strlen(colon + 1)) {
		free(*host);
		goto bad;
	}
	*port = xstrdup(colon + 1);
	return (0);
bad:
	xasprintf(cause, "%s: not HOST:PORT or [IPV6]:PORT", hp);
	return (-1);
}

/* Share local port port with the other sockets of this client (§6.2)
 * and bind to it on the wildcard address of family. An IPv6 socket
 * takes IPv6 only (IPV6_V6ONLY): IPv4 has sockets of its own on the
 * port, and each listener then sees peers of its own family. */
int
sock_bind_shared(int fd, int family, uint16_t port)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t		 len;
	int			 one = 1;

	if (setsockopt(fd, SOL_SOCKET, SO_REUSEADDR, &one, sizeof one) ==
	    -1 || setsockopt(fd, SOL_SOCKET, SO_REUSEPORT, &one,
	    sizeof one) == -1 || (family == AF_INET6 && setsockopt(fd,
	    IPPROTO_IPV6, IPV6_V6ONLY, &one, sizeof one) == -1))
		return (-1);
	memset(&ss, 0, sizeof ss);
	if (family == AF_INET) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(port);
		len = sizeof *sin;
	} else {
		sin6->sin6_family = AF_INET6;
		sin6->sin6_port = htons(port);
		len = sizeof *sin6;
	}
	return (bind(fd, (struct sockaddr *)&ss, len));
}

/* The local port of a socket, or 0. */
uint16_t
sock_local_port(int fd)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof ss;

	if (getsockname(fd, (struct sockaddr *)&ss, &len) == -1)
		return (0);
	if (ss.ss_family == AF_INET)
		return (ntohs(((struct sockaddr_in *)&ss)->sin_port));
	return (ntohs(((struct sockaddr_in6 *)&ss)->sin6_port));
}

/* Connect one address within SOCK_CONNECT_MS, from local port *lport
 * when lport is not NULL (0: any, set to the one bound): the fd, or -1
 * and errno. */
static int
connect_one(const struct addrinfo *ai, uint16_t *lport)
{
	int	 fd, n, error = 0, one = 1;
	socklen_t len = sizeof error;

	fd = socket(ai->ai_family, ai->ai_socktype | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, ai->ai_protocol);
	if (fd == -1)
		return (-1);
	if (lport != NULL && sock_bind_shared(fd, ai->ai_family, *lport) == -1)
		goto fail;
	if (connect(fd, ai->ai_addr, ai->ai_addrlen) == -1) {
		if (errno != EINPROGRESS)
			goto fail;
		n = sock_wait(fd, POLLOUT, sock_deadline(SOCK_CONNECT_MS));
		if (n != 1) {
			error = n == 0 ? ETIMEDOUT : errno;
			goto fail;
		}
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &error, &len) == -1)
			goto fail;
		if (error != 0)
			goto fail;
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (lport != NULL)
		*lport = sock_local_port(fd);
	return (fd);
fail:
	if (error == 0)
		error = errno;
	close(fd);
	errno = error;
	return (-1);
}

/* The j-th address to try: the leading k of the first family from s
 * round, then the rest in the resolver's order. */
size_t
sock_try_index(size_t j, size_t k, size_t s)
{
	return (j < k ? (s + j) % k : j);
}

/* Resolve host and connect to the first address that answers, starting
 * at a random one of those of the resolver's preferred family, so that
 * the clients of a name with several addresses spread over them. */
int
sock_connect(const char *host, const char *port, uint16_t *lport,
    char **cause)
{
	struct addrinfo	 hints, *res, *ai, *all[SOCK_ADDRS_MAX];
	size_t		 n = 0, k = 0, s, j;
	int		 fd = -1, error;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((error = getaddrinfo(host, port, &hints, &res)) != 0) {
		xasprintf(cause, "%s: %s", host, gai_strerror(error));
		return (-1);
	}
	for (ai = res; ai != NULL && n < SOCK_ADDRS_MAX; ai = ai->ai_next) {
		if (ai->ai_family == res->ai_family && k == n)
			k++;
		all[n++] = ai;
	}
	s = k > 1 ? randombytes_uniform((uint32_t)k) : 0;
	error = EHOSTUNREACH;
	for (j = 0; j < n && fd == -1; j++) {
		ai = all[sock_try_index(j, k, s)];
		if ((fd = connect_one(ai, lport)) == -1)
			error = errno;
	}
	freeaddrinfo(res);
	if (fd == -1)
		xasprintf(cause, "connect: %s", strerror(error));
	return (fd);
}
