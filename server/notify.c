/*
 * notify.c -- systemd's readiness protocol, spoken directly: one datagram
 * per state change to the AF_UNIX socket in $NOTIFY_SOCKET ("@name" is in
 * the abstract namespace). No libsystemd. Without $NOTIFY_SOCKET nothing
 * is sent.
 *
 * The loop never waits for the receiver: a datagram its queue will not
 * take now is dropped and counted (tryst_notify_dropped_total), the first
 * drop of an outage logged as a warning and the rest at debug. WATCHDOG=1
 * and STATUS= are worth nothing late, and a watchdog that hears nothing
 * should act. READY=1 is different: dropped, it would leave systemd
 * waiting for it until TimeoutStartSec= (or, after a reload, in
 * "reloading") and then kill a server that is serving; so a READY=1 that
 * did not go out is tried again every second until one does.
 */
#include <sys/socket.h>
#include <sys/un.h>

#include <errno.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include "server.h"

#define READY_RETRY_S	1

static void	ready_retry(evutil_socket_t, short, void *);

/* The address in $NOTIFY_SOCKET into sun; its length, or 0 without one. */
static socklen_t
notify_addr(struct sockaddr_un *sun)
{
	const char	*path = getenv("NOTIFY_SOCKET");
	size_t		 n;

	if (path == NULL || (path[0] != '/' && path[0] != '@') ||
	    (n = strlen(path)) >= sizeof sun->sun_path)
		return (0);
	memset(sun, 0, sizeof *sun);
	sun->sun_family = AF_UNIX;
	memcpy(sun->sun_path, path, n);
	if (path[0] == '@')
		sun->sun_path[0] = '\0';
	return ((socklen_t)(offsetof(struct sockaddr_un, sun_path) + n));
}

/* Send msg without waiting: 0, or -1 with errno. */
static int
send_now(const struct sockaddr_un *sun, socklen_t len, const char *msg,
    size_t n)
{
	int	 fd, rv, saved;

	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1)
		return (-1);
	rv = sendto(fd, msg, n, MSG_DONTWAIT | MSG_NOSIGNAL,
	    (const struct sockaddr *)sun, len) == -1 ? -1 : 0;
	saved = errno;
	close(fd);
	errno = saved;
	return (rv);
}

/* Count and log a datagram that did not go out. */
static void
dropped(struct server *srv, const char *msg, int error)
{
	srv->stats.notify_dropped++;
	if (srv->notify.outage++ == 0)
		log_warnx("NOTIFY_SOCKET: %s; notifications are dropped "
		    "until it takes them again", strerror(error));
	else
		log_debug("NOTIFY_SOCKET: %s; dropped %.*s", strerror(error),
		    (int)strcspn(msg, "\n"), msg);
}

/* 1 if msg has the line line. */
static int
has_line(const char *msg, const char *line)
{
	size_t		 n = strlen(line);
	const char	*p = msg;

	for (;;) {
		if (strncmp(p, line, n) == 0 && (p[n] == '\n' || p[n] == '\0'))
			return (1);
		if ((p = strchr(p, '\n')) == NULL)
			return (0);
		p++;
	}
}

/* Try READY=1 again in a second, unless a try is already due. */
static void
ready_later(struct server *srv)
{
	struct timeval	 tv = { READY_RETRY_S, 0 };

	if (srv->notify.retrying || srv->base == NULL)
		return;
	if (event_base_once(srv->base, -1, EV_TIMEOUT, ready_retry, srv,
	    &tv) == 0)
		srv->notify.retrying = 1;
}

/* The second is up: READY=1 again, if it is still owed. */
static void
ready_retry(evutil_socket_t fd, short ev, void *arg)
{
	struct server	*srv = arg;

	srv->notify.retrying = 0;
	if (srv->notify.ready_due)
		notify_send(srv, "READY=1");
}

/* Send one notification ("READY=1", "STATUS=..."); never blocks. */
void
notify_send(struct server *srv, const char *fmt, ...)
{
	struct sockaddr_un	 sun;
	char			 msg[256];
	socklen_t		 len;
	va_list			 ap;
	int			 n, ready, stopping;

	if ((len = notify_addr(&sun)) == 0)
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof msg)
		return;
	ready = has_line(msg, "READY=1");
	stopping = has_line(msg, "STOPPING=1");
	if (ready || stopping)
		srv->notify.ready_due = 0;	/* this one decides */
	if (send_now(&sun, len, msg, (size_t)n) == -1) {
		dropped(srv, msg, errno);
		if (ready) {
			srv->notify.ready_due = 1;
			ready_later(srv);
		}
		return;
	}
	if (srv->notify.outage != 0)
		log_notice("NOTIFY_SOCKET: sending again after %llu "
		    "dropped notifications", srv->notify.outage);
	srv->notify.outage = 0;
}

/* Microseconds of CLOCK_MONOTONIC, for RELOADING=1. */
unsigned long long
notify_monotonic_usec(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((unsigned long long)ts.tv_sec * 1000000ULL +
	    (unsigned long long)ts.tv_nsec / 1000);
}

/* Half of $WATCHDOG_USEC in microseconds (when it is meant for this
 * process), or 0. */
unsigned long long
notify_watchdog_usec(void)
{
	const char		*usec = getenv("WATCHDOG_USEC");
	const char		*pid = getenv("WATCHDOG_PID");
	unsigned long long	 v;
	char			*end;

	if (usec == NULL)
		return (0);
	if (pid != NULL && strtol(pid, NULL, 10) != (long)getpid())
		return (0);
	v = strtoull(usec, &end, 10);
	if (*end != '\0' || v == 0)
		return (0);
	return (v / 2);
}
