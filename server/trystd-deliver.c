/*
 * trystd-deliver.c -- the daemon behind verification = socket:PATH.
 *
 * It runs the gateway program (gateway.c) for trystd, as a user of its
 * own that holds the gateway's token and nothing of trystd's: not the
 * master key, not the Redis password, not a connection to Redis. trystd
 * connects to its Unix socket once per code:
 *
 *	trystd:		SEND NUMBER CODE\n
 *	trystd-deliver:	OK\n		the program exited 0
 *			FAILED\n	it failed, ran out of time, could not
 *					be started, the request was bad, or
 *					max_running programs were running
 *
 * and the connection closes. The socket is the one systemd passes
 * (tryst-deliver.socket, owned by trystd's user, mode 0600) or, without
 * socket activation, the path of the socket setting (mode 0660).
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/un.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "server.h"

#define REQUEST_MAX	64	/* "SEND +NUMBER CODE\n" fits with room */
#define REQUEST_S	5	/* to send the request */
#define SD_LISTEN_FD	3	/* the first socket systemd passes */

struct dsettings {
	char		*program;
	char		*socket;
	long long	 max_running;
	int		 log_level;
};

static const struct conf_entry dtable[] = {
	{ "program", CONF_STR, offsetof(struct dsettings, program), "", 0, 0,
	    0, "The gateway program (see send-code.example); must be set.", 1,
	    NULL },
	{ "socket", CONF_STR, offsetof(struct dsettings, socket),
	    "/run/tryst-deliver/deliver.sock", 1, 0, 0,
	    "Socket to listen on, unless systemd passes one.", 0, NULL },
	{ "max_running", CONF_INT, offsetof(struct dsettings, max_running),
	    "32", 1, 1024, 0,
	    "Programs running at once; past it, requests fail at once.", 0,
	    NULL },
	{ "log_level", CONF_LEVEL, offsetof(struct dsettings, log_level),
	    "info", 0, 0, 0,
	    "Lowest priority logged: err, warning, notice, info or debug.", 0,
	    NULL },
	{ NULL, 0, 0, NULL, 0, 0, 0, NULL, 0, NULL }
};

struct request;
TAILQ_HEAD(requests, request);

struct dserver {
	struct event_base	*base;
	struct dsettings	 set;
	struct gateway		*gw;
	struct evconnlistener	*listener;
	struct event		*resume;	/* accept after a pause */
	struct requests		 reqs;
	long long		 nreqs;
	int			 bound;		/* made set.socket */
	struct event		*sigterm;
	struct event		*sigint;
	struct event		*sigchld;
};

struct request {
	struct dserver	*ds;
	int		 fd;
	struct event	*io;
	struct event	*timer;
	char		 buf[REQUEST_MAX];
	size_t		 len;
	TAILQ_ENTRY(request) entry;
};

static __attribute__((noreturn)) void
usage(void)
{
	fprintf(stderr, "usage: trystd-deliver [-t] -c FILE\n"
	    "       trystd-deliver -d\n");
	exit(2);
}

/* Answer, close and forget a request. */
static void
answer(struct request *r, int ok)
{
	struct dserver	*ds = r->ds;
	const char	*a = ok ? "OK\n" : "FAILED\n";

	/* A fresh socket takes a few bytes; a peer gone is no matter. */
	(void)send(r->fd, a, strlen(a), MSG_NOSIGNAL | MSG_DONTWAIT);
	TAILQ_REMOVE(&ds->reqs, r, entry);
	ds->nreqs--;
	if (r->io != NULL)
		event_free(r->io);
	event_free(r->timer);
	close(r->fd);
	sodium_memzero(r->buf, sizeof r->buf);
	free(r);
}

/* The gateway program of a request ended. */
static void
sent(int ok, void *arg)
{
	struct request	*r = arg;

	log_debug("request: %s", ok ? "sent" : "failed");
	answer(r, ok);
}

/* 1 if s (len bytes) is all decimal digits, at least min and at most max
 * of them. */
static int
digits(const char *s, size_t len, size_t min, size_t max)
{
	size_t	 i;

	if (len < min || len > max)
		return (0);
	for (i = 0; i < len; i++) {
		if (s[i] < '0' || s[i] > '9')
			return (0);
	}
	return (1);
}

/* Parse "SEND NUMBER CODE" (the newline gone) in place: 0, with number
 * and code pointing into line, or -1. */
static int
parse(char *line, char **number, char **code)
{
	char	*sp;

	if (strncmp(line, "SEND +", 6) != 0 ||
	    (sp = strchr(line + 5, ' ')) == NULL)
		return (-1);
	*sp = '\0';
	*number = line + 5;
	*code = sp + 1;
	if (!digits(*number + 1, strlen(*number + 1), 1, 15) ||
	    !digits(*code, strlen(*code), 4, TOKEN_CODE))
		return (-1);
	return (0);
}

/* A whole request line arrived: start the program. */
static void
request_run(struct request *r, char *line)
{
	char	*number, *code;

	event_free(r->io);
	r->io = NULL;
	evtimer_del(r->timer);
	if (parse(line, &number, &code) != 0) {
		log_warnx("request: not SEND +NUMBER CODE; failed");
		answer(r, 0);
		return;
	}
	if (gateway_run(r->ds->gw, r->ds->set.program, number, code, sent,
	    r) != 0)
		answer(r, 0);
	else
		sodium_memzero(r->buf, sizeof r->buf);
}

/* Bytes of a request. */
static void
request_read(evutil_socket_t fd, short ev, void *arg)
{
	struct request	*r = arg;
	ssize_t		 n;
	char		*nl;

	n = read(fd, r->buf + r->len, sizeof r->buf - 1 - r->len);
	if (n == -1 && (errno == EAGAIN || errno == EINTR))
		return;
	if (n <= 0) {
		log_debug("request: closed before it was whole");
		answer(r, 0);
		return;
	}
	r->len += (size_t)n;
	r->buf[r->len] = '\0';
	if ((nl = memchr(r->buf, '\n', r->len)) != NULL) {
		*nl = '\0';
		request_run(r, r->buf);
	} else if (r->len == sizeof r->buf - 1) {
		log_warnx("request: longer than %d bytes; failed",
		    REQUEST_MAX - 1);
		answer(r, 0);
	}
}

/* A request that did not arrive in time. */
static void
request_timeout(evutil_socket_t fd, short ev, void *arg)
{
	log_warnx("request: not sent within %d s; failed", REQUEST_S);
	answer(arg, 0);
}

/* trystd connected: one request, or FAILED at once when full. */
static void
accept_cb(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct dserver	*ds = arg;
	struct request	*r;
	struct timeval	 tv = { REQUEST_S, 0 };

	r = xcalloc(1, sizeof *r);
	r->ds = ds;
	r->fd = fd;
	r->timer = evtimer_new(ds->base, request_timeout, r);
	TAILQ_INSERT_TAIL(&ds->reqs, r, entry);
	if (ds->nreqs++ >= ds->set.max_running) {
		log_warnx("%lld requests running (max_running); failed",
		    ds->set.max_running);
		answer(r, 0);
		return;
	}
	r->io = event_new(ds->base, fd, EV_READ | EV_PERSIST, request_read, r);
	event_add(r->io, NULL);
	evtimer_add(r->timer, &tv);
}

/* Accepting again after a pause. */
static void
accept_resume(evutil_socket_t fd, short ev, void *arg)
{
	struct dserver	*ds = arg;

	evconnlistener_enable(ds->listener);
}

/* Out of descriptors: pause accepting for a second rather than spin. */
static void
accept_error(struct evconnlistener *l, void *arg)
{
	struct dserver	*ds = arg;
	struct timeval	 tv = { 1, 0 };

	log_warnx("accept: %s; pausing for a second", strerror(errno));
	evconnlistener_disable(l);
	evtimer_add(ds->resume, &tv);
}

/* The socket systemd passed (LISTEN_FDS=1 for this process), or -1. */
static int
passed_socket(void)
{
	const char	*pid = getenv("LISTEN_PID");
	const char	*n = getenv("LISTEN_FDS");

	if (pid == NULL || n == NULL || strtol(pid, NULL, 10) != getpid())
		return (-1);
	if (strcmp(n, "1") != 0)
		fatalx("LISTEN_FDS=%s: expected one socket", n);
	unsetenv("LISTEN_PID");
	unsetenv("LISTEN_FDS");
	unsetenv("LISTEN_FDNAMES");
	/* The manager passes it blocking; the listener accepts until it
	 * would block, so a blocking one would hang the loop in accept. */
	if (evutil_make_socket_nonblocking(SD_LISTEN_FD) == -1 ||
	    evutil_make_socket_closeonexec(SD_LISTEN_FD) == -1)
		fatal("LISTEN_FDS: fcntl");
	return (SD_LISTEN_FD);
}

/* Bind set.socket, mode 0660 (a stale socket there is replaced). */
static int
bind_socket(struct dserver *ds, char **cause)
{
	struct sockaddr_un	 sun;
	struct stat		 st;
	const char		*path = ds->set.socket;
	mode_t			 old;
	int			 fd, rv;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	if (*path != '/' || strlen(path) >= sizeof sun.sun_path) {
		xasprintf(cause, "socket: not an absolute path shorter than "
		    "%zu bytes", sizeof sun.sun_path);
		return (-1);
	}
	memcpy(sun.sun_path, path, strlen(path));
	if (lstat(path, &st) == 0 && S_ISSOCK(st.st_mode))
		unlink(path);
	if ((fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC | SOCK_NONBLOCK,
	    0)) == -1)
		fatal("socket");
	old = umask(0117);
	rv = bind(fd, (struct sockaddr *)&sun, sizeof sun);
	umask(old);
	if (rv == -1 || listen(fd, 64) == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		close(fd);
		return (-1);
	}
	ds->bound = 1;
	return (fd);
}

/* Load and check the configuration: the program must be one we can run. */
static int
load(struct dsettings *set, const char *path, char **cause)
{
	conf_defaults(dtable, set);
	if (conf_load(dtable, set, path, cause) != 0)
		return (-1);
	if (*set->program == '\0') {
		*cause = xstrdup("program is not set");
		return (-1);
	}
	if (access(set->program, X_OK) != 0) {
		xasprintf(cause, "program: %s: %s", set->program,
		    strerror(errno));
		return (-1);
	}
	log_set_level(set->log_level);
	return (0);
}

/* SIGTERM, SIGINT: stop. */
static void
on_stop(evutil_socket_t sig, short ev, void *arg)
{
	struct dserver	*ds = arg;

	event_base_loopbreak(ds->base);
}

/* SIGCHLD: programs ended. */
static void
on_chld(evutil_socket_t sig, short ev, void *arg)
{
	struct dserver	*ds = arg;

	gateway_reap(ds->gw);
}

/* Listen, and the signals. */
static int
setup(struct dserver *ds, char **cause)
{
	int	 fd;

	if ((fd = passed_socket()) == -1 && (fd = bind_socket(ds,
	    cause)) == -1)
		return (-1);
	ds->listener = evconnlistener_new(ds->base, accept_cb, ds,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_CLOSE_ON_EXEC, -1, fd);
	if (ds->listener == NULL)
		fatalx("evconnlistener_new failed");
	evconnlistener_set_error_cb(ds->listener, accept_error);
	ds->resume = evtimer_new(ds->base, accept_resume, ds);
	signal(SIGPIPE, SIG_IGN);
	signal(SIGHUP, SIG_IGN);
	ds->sigterm = evsignal_new(ds->base, SIGTERM, on_stop, ds);
	ds->sigint = evsignal_new(ds->base, SIGINT, on_stop, ds);
	ds->sigchld = evsignal_new(ds->base, SIGCHLD, on_chld, ds);
	evsignal_add(ds->sigterm, NULL);
	evsignal_add(ds->sigint, NULL);
	evsignal_add(ds->sigchld, NULL);
	return (0);
}

/* Kill what runs, answer what waits, free the rest. */
static void
teardown(struct dserver *ds)
{
	gateway_free(ds->gw);	/* their requests answer FAILED */
	while (!TAILQ_EMPTY(&ds->reqs))
		answer(TAILQ_FIRST(&ds->reqs), 0);
	if (ds->listener != NULL) {
		evconnlistener_free(ds->listener);
		event_free(ds->resume);
	}
	if (ds->bound)
		unlink(ds->set.socket);
	if (ds->sigterm != NULL) {
		event_free(ds->sigterm);
		event_free(ds->sigint);
		event_free(ds->sigchld);
	}
	event_base_free(ds->base);
	conf_free(dtable, &ds->set);
}

int
main(int argc, char **argv)
{
	struct dserver	 ds;
	const char	*conf = NULL;
	char		*cause = NULL;
	int		 ch, test = 0;

	memset(&ds, 0, sizeof ds);
	while ((ch = getopt(argc, argv, "c:dt")) != -1) {
		switch (ch) {
		case 'c':
			conf = optarg;
			break;
		case 'd':
			conf_write_default(dtable, stdout);
			return (0);
		case 't':
			test = 1;
			break;
		default:
			usage();
		}
	}
	if (conf == NULL || optind != argc)
		usage();
	if (sodium_init() < 0)
		fatalx("sodium_init failed");
	if (load(&ds.set, conf, &cause) != 0) {
		fprintf(stderr, "trystd-deliver: %s\n", cause);
		free(cause);
		conf_free(dtable, &ds.set);
		return (1);
	}
	if (test) {
		fprintf(stderr, "trystd-deliver: configuration %s is valid\n",
		    conf);
		conf_free(dtable, &ds.set);
		return (0);
	}
	if ((ds.base = event_base_new()) == NULL)
		fatalx("event_base_new failed");
	TAILQ_INIT(&ds.reqs);
	ds.gw = gateway_new(ds.base, 1);
	if (setup(&ds, &cause) != 0) {
		log_errx("%s", cause);
		free(cause);
		teardown(&ds);
		return (1);
	}
	log_notice("trystd-deliver %s: at most %lld at once", TRYST_VERSION,
	    ds.set.max_running);
	event_base_dispatch(ds.base);
	teardown(&ds);
	log_notice("stopped");
	return (0);
}
