/*
 * deliver.c -- handing a verification code to the delivery transport.
 *
 * dev:FILE appends "NUMBER CODE" lines to FILE (for development only).
 * socket:PATH hands each code to trystd-deliver(8) over its Unix socket:
 * one connection per code, "SEND NUMBER CODE\n" one way and "OK\n" or
 * "FAILED\n" back; that daemon runs the gateway program as another user,
 * which never sees trystd's keys or its Redis.
 * exec:PROGRAM runs the program here (gateway.c), as trystd's user: for
 * development and hosts without systemd.
 * Every answer comes later, from the loop, and exactly once.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "server.h"

/* trystd-deliver answers within GATEWAY_TIMEOUT_S; a little more here. */
#define SOCKET_TIMEOUT_S	(GATEWAY_TIMEOUT_S + 5)
#define REPLY_MAX		16

struct delivery {
	struct deliver	*d;
	int		 ok;
	int		 fd;		/* socket:, or -1 */
	struct event	*io;		/* its answer */
	char		 reply[REPLY_MAX];
	size_t		 len;
	/* The deferred answer, or socket:'s deadline. */
	struct event	*ev;
	deliver_cb	 cb;
	void		*arg;
	TAILQ_ENTRY(delivery) entry;
};
TAILQ_HEAD(deliveries, delivery);

struct deliver {
	struct server	*srv;
	struct gateway	*gw;
	struct deliveries running;
	int		 n;
	int		 warned;	/* socket: unreachable was logged */
};

/* Make the delivery table. */
struct deliver *
deliver_new(struct server *srv)
{
	struct deliver	*d;

	d = xcalloc(1, sizeof *d);
	d->srv = srv;
	d->gw = gateway_new(srv->base, 0);
	TAILQ_INIT(&d->running);
	return (d);
}

/* Report and forget one delivery. */
static void
finish(struct delivery *dl, int ok)
{
	struct deliver	*d = dl->d;

	TAILQ_REMOVE(&d->running, dl, entry);
	d->n--;
	event_free(dl->ev);
	if (dl->io != NULL)
		event_free(dl->io);
	if (dl->fd != -1)
		close(dl->fd);
	dl->cb(d->srv, ok, dl->arg);
	free(dl);
}

/* Forget running deliveries: their callbacks are told they failed. */
void
deliver_free(struct deliver *d)
{
	struct delivery	*dl;

	gateway_free(d->gw);	/* exec: ones finish through exec_done */
	while ((dl = TAILQ_FIRST(&d->running)) != NULL)
		finish(dl, 0);
	free(d);
}

/* The deferred answer of a dev: delivery, or socket:'s deadline. */
static void
delivery_timer(evutil_socket_t fd, short ev, void *arg)
{
	struct delivery	*dl = arg;

	if (dl->fd != -1) {
		log_warnx("delivery socket: no answer within %d s",
		    SOCKET_TIMEOUT_S);
		dl->ok = 0;
	}
	finish(dl, dl->ok);
}

/* An exec: program ended. */
static void
exec_done(int ok, void *arg)
{
	finish(arg, ok);
}

/* dev:FILE: append a line. */
static int
deliver_dev(const char *file, const char *number, const char *code)
{
	char	 line[PROTO_MAX_NUMBER + TOKEN_CODE + 4];
	int	 fd, n, rv = 0;

	n = snprintf(line, sizeof line, "%s %s\n", number, code);
	if ((fd = open(file, O_WRONLY | O_APPEND | O_CREAT | O_CLOEXEC,
	    0600)) == -1) {
		log_warnx("verification file: %s", strerror(errno));
		return (-1);
	}
	if (write(fd, line, (size_t)n) != n) {
		log_warnx("verification file: write failed");
		rv = -1;
	}
	close(fd);
	sodium_memzero(line, sizeof line);
	return (rv);
}

/* trystd-deliver answered, or closed: one line decides. */
static void
socket_read(evutil_socket_t fd, short ev, void *arg)
{
	struct delivery	*dl = arg;
	ssize_t		 n;
	char		*nl;

	n = read(fd, dl->reply + dl->len, sizeof dl->reply - 1 - dl->len);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n > 0) {
		dl->len += (size_t)n;
		dl->reply[dl->len] = '\0';
		if ((nl = strchr(dl->reply, '\n')) == NULL &&
		    dl->len < sizeof dl->reply - 1)
			return;
		if (nl != NULL)
			*nl = '\0';
		if (strcmp(dl->reply, "OK") != 0 &&
		    strcmp(dl->reply, "FAILED") != 0)
			log_warnx("delivery socket: not an answer");
		finish(dl, strcmp(dl->reply, "OK") == 0);
		return;
	}
	log_warnx("delivery socket: closed without an answer%s%s",
	    n == -1 ? ": " : "", n == -1 ? strerror(errno) : "");
	finish(dl, 0);
}

/* Log that trystd-deliver cannot be reached: a warning until it answers
 * again, then debug. */
static void
socket_unreachable(struct deliver *d, const char *path)
{
	if (d->warned++ == 0)
		log_warnx("delivery socket %s: %s", path, strerror(errno));
	else
		log_debug("delivery socket %s: %s", path, strerror(errno));
}

/* socket:PATH: connect (a Unix socket connects at once or not at all),
 * send the request, and wait for the answer on the loop. */
static int
deliver_socket(struct delivery *dl, const char *path, const char *number,
    const char *code)
{
	struct sockaddr_un	 sun;
	char			 req[PROTO_MAX_NUMBER + TOKEN_CODE + 8];
	int			 fd, n;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (strlen(path) >= sizeof sun.sun_path)
		return (-1);	/* settings_load refuses it */
	memcpy(sun.sun_path, path, strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK | SOCK_CLOEXEC,
	    0)) == -1) {
		log_warnx("delivery socket: %s", strerror(errno));
		return (-1);
	}
	if (connect(fd, (struct sockaddr *)&sun, sizeof sun) == -1) {
		socket_unreachable(dl->d, path);
		close(fd);
		return (-1);
	}
	/* A fresh socket's buffer takes these few bytes whole. */
	n = snprintf(req, sizeof req, "SEND %s %s\n", number, code);
	if (send(fd, req, (size_t)n, MSG_NOSIGNAL) != n) {
		socket_unreachable(dl->d, path);
		sodium_memzero(req, sizeof req);
		close(fd);
		return (-1);
	}
	sodium_memzero(req, sizeof req);
	dl->d->warned = 0;
	dl->fd = fd;
	dl->io = event_new(dl->d->srv->base, fd, EV_READ | EV_PERSIST,
	    socket_read, dl);
	event_add(dl->io, NULL);
	return (0);
}

/* Hand a code to the configured transport. */
int
deliver_send(struct deliver *d, const char *number, const char *code,
    deliver_cb cb, void *arg)
{
	const char	*v = d->srv->set.verification;
	struct delivery	*dl;
	struct timeval	 tv = { 0, 0 };

	if (d->n >= d->srv->set.max_deliveries)
		return (-1);
	dl = xcalloc(1, sizeof *dl);
	dl->d = d;
	dl->fd = -1;
	dl->cb = cb;
	dl->arg = arg;
	dl->ev = evtimer_new(d->srv->base, delivery_timer, dl);
	TAILQ_INSERT_TAIL(&d->running, dl, entry);
	d->n++;
	if (strncmp(v, "dev:", 4) == 0)
		dl->ok = deliver_dev(v + 4, number, code) == 0;
	else if (strncmp(v, "socket:", 7) == 0) {
		if (deliver_socket(dl, v + 7, number, code) == 0)
			tv.tv_sec = SOCKET_TIMEOUT_S;
	} else if (gateway_run(d->gw, v + 5, number, code, exec_done,
	    dl) == 0)
		return (0);	/* exec_done answers */
	evtimer_add(dl->ev, &tv);
	return (0);
}

/* SIGCHLD: collect exited exec: programs and report them. */
void
deliver_reap(struct deliver *d)
{
	gateway_reap(d->gw);
}
