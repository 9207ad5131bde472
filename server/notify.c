/*
 * notify.c -- systemd's readiness protocol, spoken directly: one datagram
 * per state change to the AF_UNIX socket in $NOTIFY_SOCKET ("@name" is in
 * the abstract namespace). No libsystemd. Without $NOTIFY_SOCKET nothing
 * is sent; a failure to send is logged once and otherwise ignored.
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

/* Send one notification ("READY=1", "STATUS=..."). */
void
notify_send(const char *fmt, ...)
{
	static int		 warned;
	struct sockaddr_un	 sun;
	const char		*path = getenv("NOTIFY_SOCKET");
	char			 msg[256];
	socklen_t		 len;
	va_list			 ap;
	int			 fd, n;

	if (path == NULL || (path[0] != '/' && path[0] != '@') ||
	    strlen(path) >= sizeof sun.sun_path)
		return;
	va_start(ap, fmt);
	n = vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	if (n < 0 || (size_t)n >= sizeof msg)
		return;
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	memcpy(sun.sun_path, path, strlen(path));
	if (path[0] == '@')
		sun.sun_path[0] = '\0';
	len = (socklen_t)(offsetof(struct sockaddr_un, sun_path) +
	    strlen(path));
	if ((fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0)) == -1)
		return;
	if (sendto(fd, msg, (size_t)n, MSG_NOSIGNAL,
	    (struct sockaddr *)&sun, len) == -1 && !warned) {
		warned = 1;
		log_warnx("NOTIFY_SOCKET: %s", strerror(errno));
	}
	close(fd);
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
