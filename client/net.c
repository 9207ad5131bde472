/*
 * net.c -- one TLS connection to trystd for code that waits: nconn.c's
 * state machine stepped inside poll() with a deadline, so a silent server
 * costs a timeout, never a hang. The CLI's commands and the integration
 * tests use it; the library drives nconn.c from the app's loop instead.
 */
#include <sys/types.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"

#define NET_WRITE_MS		30000	/* a server that stops reading */

struct tconn {
	struct nconn	*c;
};

/*
 * Wait until c can make progress or deadline (-1: none) passes, then
 * step it. 1 stepped, 0 at the deadline, -1 on a poll error.
 */
static int
net_wait(struct nconn *c, int64_t deadline)
{
	struct pollfd	 pfd;
	int64_t		 until = nconn_deadline(c), left = -1;
	unsigned	 ev = nconn_events(c);
	int		 n;

	if (deadline != -1 && (until == -1 || deadline < until))
		until = deadline;
	if (until != -1 && (left = until - tryst_now_ms()) < 0)
		left = 0;
	pfd.fd = nconn_fd(c);
	pfd.events = (short)(((ev & NCONN_READ) ? POLLIN : 0) |
	    ((ev & NCONN_WRITE) ? POLLOUT : 0));
	pfd.revents = 0;
	n = poll(&pfd, 1, left > INT_MAX ? INT_MAX : (int)left);
	if (n == -1 && errno != EINTR)
		return (-1);
	nconn_step(c, tryst_now_ms());
	return (n == 0 && deadline != -1 && tryst_now_ms() >= deadline ? 0 :
	    1);
}

/* Open a checked connection to hostport. */
struct tconn *
tconn_open(const char *hostport, const uint8_t *expect_pk,
    struct tconn_challenge *ch, char **cause)
{
	return (tconn_open_v(hostport, 2, expect_pk, ch, NULL, cause));
}

/* Open a checked connection to hostport from a shared local port. */
struct tconn *
tconn_open_port(const char *hostport, const uint8_t *expect_pk,
    struct tconn_challenge *ch, uint16_t *lport, char **cause)
{
	return (tconn_open_v(hostport, 2, expect_pk, ch, lport, cause));
}

/* Ignore SIGPIPE unless the program chose otherwise: direct paths write
 * with MSG_NOSIGNAL and nconn.c's socket BIO does too, but the CLI's
 * terminal and files may still meet a closed pipe. */
static void
ignore_sigpipe(void)
{
	struct sigaction	 sa;

	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
		signal(SIGPIPE, SIG_IGN);
}

/* Open a checked connection offering versions up to max_version. */
struct tconn *
tconn_open_v(const char *hostport, int max_version, const uint8_t *expect_pk,
    struct tconn_challenge *ch, uint16_t *lport, char **cause)
{
	struct tconn	*t;
	struct nconn	*c;

	ignore_sigpipe();
	c = nconn_start(hostport, max_version, expect_pk,
	    lport != NULL ? *lport : -1, tryst_now_ms());
	while (nconn_step(c, tryst_now_ms()) != NCONN_OPEN &&
	    nconn_state(c) != NCONN_FAILED && net_wait(c, -1) != -1)
		;
	if (nconn_state(c) != NCONN_OPEN) {
		xasprintf(cause, "%s", nconn_state(c) == NCONN_FAILED ?
		    nconn_error(c) : strerror(errno));
		nconn_free(c);
		return (NULL);
	}
	if (ch != NULL)
		*ch = *nconn_challenge(c);
	if (lport != NULL)
		*lport = nconn_local_port(c);
	t = xcalloc(1, sizeof *t);
	t->c = c;
	return (t);
}

/* Encode one message in the connection's version and send it. */
int
tconn_send(struct tconn *t, const struct msg *m, char **cause)
{
	struct msg	 v;
	uint8_t		*buf;
	size_t		 n;
	int		 r;

	v = *m;
	v.version = (uint8_t)nconn_version(t->c);
	buf = xmalloc(PROTO_MAX_FRAME);
	if ((n = proto_encode(&v, buf, PROTO_MAX_FRAME)) == 0) {
		xasprintf(cause, "cannot encode %s (a field is out of range)",
		    proto_type_name(m->type));
		free(buf);
		return (-1);
	}
	r = tconn_send_raw(t, buf, n, cause);
	free(buf);
	return (r);
}

/* Send raw bytes, all of them, within NET_WRITE_MS. */
int
tconn_send_raw(struct tconn *t, const void *data, size_t len, char **cause)
{
	const uint8_t	*p = data;
	int64_t		 deadline = sock_deadline(NET_WRITE_MS);
	size_t		 n;

	while (len > 0 || nconn_queued(t->c) > 0) {
		n = len;
		if (n > NCONN_QUEUE_MAX - nconn_queued(t->c))
			n = NCONN_QUEUE_MAX - nconn_queued(t->c);
		if (n > 0 && nconn_send_raw(t->c, p, n) == 0) {
			p += n;
			len -= n;
		}
		if (nconn_step(t->c, tryst_now_ms()) != NCONN_OPEN)
			goto bad;
		if (nconn_queued(t->c) == 0 && len == 0)
			break;
		if (net_wait(t->c, deadline) != 1) {
			xasprintf(cause, "send: timeout");
			return (-1);
		}
	}
	return (0);
bad:
	xasprintf(cause, "send: %s", nconn_state(t->c) == NCONN_DONE ?
	    "server closed the connection" : nconn_error(t->c));
	return (-1);
}

/* Wait for one frame of a known server type and decode it. */
int
tconn_recv(struct tconn *t, struct msg *m, int timeout_ms, char **cause)
{
	int64_t	 deadline = sock_deadline(timeout_ms);
	int	 r;

	for (;;) {
		if ((r = nconn_recv(t->c, m)) == 1 || r == 0)
			return (r);
		if (r == -1) {
			xasprintf(cause, "%s", nconn_error(t->c));
			return (-1);
		}
		if (net_wait(t->c, deadline) != 1) {
			xasprintf(cause, "timeout");
			return (-1);
		}
	}
}

/* Say goodbye if we can and free everything. */
void
tconn_close(struct tconn *t)
{
	if (t == NULL)
		return;
	nconn_free(t->c);
	free(t);
}

/* The protocol version agreed on the connection: 1 or 2. */
int
tconn_version(const struct tconn *t)
{
	return (nconn_version(t->c));
}

/* The "HOST:PORT" the connection was opened to. */
const char *
tconn_hostport(const struct tconn *t)
{
	return (nconn_hostport(t->c));
}

/* The connection's socket, for poll(). */
int
tconn_fd(const struct tconn *t)
{
	return (nconn_fd(t->c));
}

/* Take one whole frame if it is there, without waiting. */
int
tconn_recv_nowait(struct tconn *t, struct msg *m, char **cause)
{
	int	 r;

	nconn_step(t->c, tryst_now_ms());
	if ((r = nconn_recv(t->c, m)) == -1)
		xasprintf(cause, "%s", nconn_error(t->c));
	return (r);
}

/* Read raw bytes of a relay data connection, without waiting. */
long
tconn_read_raw(struct tconn *t, void *buf, size_t len, char **cause)
{
	long	 n;

	if ((n = nconn_read_raw(t->c, buf, len)) == -1)
		xasprintf(cause, "%s", nconn_error(t->c));
	return (n);
}
