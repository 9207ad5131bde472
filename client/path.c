/*
 * path.c -- the byte stream a session runs on: a direct TCP connection
 * from the shared port P, or a relay data connection to the server
 * (PROTOCOL.md §5.5) carrying raw bytes after RELAY_READY. Reads never
 * wait; writes wait for room, with a deadline.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"

/* A direct path on a connected socket; desc names the peer. */
void
path_direct(struct path *p, int fd)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len = sizeof ss;
	struct cand		 c;
	char			 a[64];
	int			 one = 1;

	memset(p, 0, sizeof *p);
	p->fd = fd;
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	memset(&c, 0, sizeof c);
	memset(&ss, 0, sizeof ss);	/* getpeername may fail */
	if (getpeername(fd, (struct sockaddr *)&ss, &len) == 0 &&
	    ss.ss_family == AF_INET) {
		c.family = 4;
		memcpy(c.addr, &((struct sockaddr_in *)&ss)->sin_addr, 4);
		c.port = ntohs(((struct sockaddr_in *)&ss)->sin_port);
	} else if (ss.ss_family == AF_INET6) {
		c.family = 6;
		memcpy(c.addr, &((struct sockaddr_in6 *)&ss)->sin6_addr, 16);
		c.port = ntohs(((struct sockaddr_in6 *)&ss)->sin6_port);
	}
	path_cand_str(&c, a, sizeof a);
	snprintf(p->desc, sizeof p->desc, "direct %s", a);
}

/* The fd to poll for reading. */
int
path_pollfd(const struct path *p)
{
	return (p->relay != NULL ? tconn_fd(p->relay) : p->fd);
}

/* Write all of data on a direct path, waiting for room. */
static int
write_direct(struct path *p, const uint8_t *data, size_t len, char **cause)
{
	int64_t		 deadline = tryst_now_ms() + PATH_WRITE_MS;
	struct pollfd	 pfd;
	ssize_t		 n;

	while (len > 0) {
		if ((n = send(p->fd, data, len, MSG_NOSIGNAL)) > 0) {
			data += n;
			len -= (size_t)n;
			continue;
		}
		if (n == -1 && errno != EAGAIN && errno != EWOULDBLOCK &&
		    errno != EINTR) {
			xasprintf(cause, "send: %s", strerror(errno));
			return (-1);
		}
		if (tryst_now_ms() >= deadline) {
			xasprintf(cause, "send: the peer stopped reading");
			return (-1);
		}
		pfd.fd = p->fd;
		pfd.events = POLLOUT;
		poll(&pfd, 1, (int)(deadline - tryst_now_ms()));
	}
	return (0);
}

/* Write all of data. */
int
path_write(struct path *p, const void *data, size_t len, char **cause)
{
	if (p->relay != NULL)
		return (tconn_send_raw(p->relay, data, len, cause));
	return (write_direct(p, data, len, cause));
}

/* Read what there is, without waiting. */
long
path_read(struct path *p, void *buf, size_t len, char **cause)
{
	ssize_t	 n;

	if (p->relay != NULL)
		return (tconn_read_raw(p->relay, buf, len, cause));
	if ((n = recv(p->fd, buf, len, 0)) >= 0)
		return ((long)n);
	if (errno == EAGAIN || errno == EWOULDBLOCK || errno == EINTR)
		return (-2);
	xasprintf(cause, "recv: %s", strerror(errno));
	return (-1);
}

/* Read exactly len bytes by deadline. */
int
path_read_full(struct path *p, void *buf, size_t len, int64_t deadline,
    char **cause)
{
	uint8_t		*b = buf;
	struct pollfd	 pfd;
	long		 n;
	int64_t		 left;

	while (len > 0) {
		if ((n = path_read(p, b, len, cause)) > 0) {
			b += n;
			len -= (size_t)n;
			continue;
		}
		if (n == 0)
			xasprintf(cause, "the peer closed the connection");
		if (n != -2)
			return (-1);
		if ((left = deadline - tryst_now_ms()) <= 0) {
			xasprintf(cause, "timeout");
			return (-1);
		}
		pfd.fd = path_pollfd(p);
		pfd.events = POLLIN;
		poll(&pfd, 1, (int)left);
	}
	return (0);
}

/* Close the path. */
void
path_close(struct path *p)
{
	if (p->relay != NULL)
		tconn_close(p->relay);
	else if (p->fd != -1)
		close(p->fd);
	p->relay = NULL;
	p->fd = -1;
}

/* A non-blocking socket bound to the shared port P. */
int
path_socket(int family, uint16_t port)
{
	int	 fd, saved;

	fd = socket(family, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC, 0);
	if (fd == -1)
		return (-1);
	if (sock_bind_shared(fd, family, port) == -1) {
		saved = errno;
		close(fd);
		errno = saved;
		return (-1);
	}
	return (fd);
}

/* "ADDRESS:PORT" or "[V6]:PORT". */
void
path_cand_str(const struct cand *c, char *out, size_t outlen)
{
	char	 a[INET6_ADDRSTRLEN];

	if (inet_ntop(c->family == 4 ? AF_INET : AF_INET6, c->addr, a,
	    sizeof a) == NULL)
		snprintf(a, sizeof a, "?");
	snprintf(out, outlen, c->family == 4 ? "%s:%u" : "[%s]:%u", a,
	    c->port);
}

/* A candidate as a sockaddr. */
socklen_t
path_cand_sa(const struct cand *c, struct sockaddr_storage *ss)
{
	struct sockaddr_in	*sin = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof *ss);
	if (c->family == 4) {
		sin->sin_family = AF_INET;
		sin->sin_port = htons(c->port);
		memcpy(&sin->sin_addr, c->addr, 4);
		return (sizeof *sin);
	}
	sin6->sin6_family = AF_INET6;
	sin6->sin6_port = htons(c->port);
	memcpy(&sin6->sin6_addr, c->addr, 16);
	return (sizeof *sin6);
}
