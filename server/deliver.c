/*
 * deliver.c -- handing a verification code to the delivery transport.
 *
 * dev:FILE appends "NUMBER CODE" lines to FILE (for development only).
 * exec:PROGRAM runs PROGRAM with TRYST_NUMBER and TRYST_CODE in its
 * environment (never in argv, where ps would show them); the loop watches
 * the child, kills it after DELIVER_TIMEOUT_S, and exit 0 means sent.
 */
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "server.h"

#define DELIVER_TIMEOUT_S	10

extern char **environ;

struct delivery {
	struct deliver	*d;
	pid_t		 pid;
	int		 ok;
	int		 killed;
	struct event	*ev;		/* timeout, or the deferred answer */
	deliver_cb	 cb;
	void		*arg;
	TAILQ_ENTRY(delivery) entry;
};
TAILQ_HEAD(deliveries, delivery);

struct deliver {
	struct server	*srv;
	struct deliveries running;
	int		 n;
};

/* Make the delivery table. */
struct deliver *
deliver_new(struct server *srv)
{
	struct deliver	*d;

	d = xcalloc(1, sizeof *d);
	d->srv = srv;
	TAILQ_INIT(&d->running);
	return (d);
}

/* Report and forget one delivery. */
static void
finish(struct delivery *dl)
{
	struct deliver	*d = dl->d;

	TAILQ_REMOVE(&d->running, dl, entry);
	d->n--;
	event_free(dl->ev);
	dl->cb(d->srv, dl->ok, dl->arg);
	free(dl);
}

/* Forget running children: their callbacks are told they failed. */
void
deliver_free(struct deliver *d)
{
	struct delivery	*dl;

	while ((dl = TAILQ_FIRST(&d->running)) != NULL) {
		if (dl->pid > 0)
			kill(-dl->pid, SIGKILL);
		dl->ok = 0;
		finish(dl);
	}
	free(d);
}

/* The deferred answer of a dev: delivery, or a child's timeout. */
static void
delivery_timer(evutil_socket_t fd, short ev, void *arg)
{
	struct delivery	*dl = arg;

	if (dl->pid == 0) {
		finish(dl);
		return;
	}
	log_warnx("delivery program still running after %d s; killed",
	    DELIVER_TIMEOUT_S);
	dl->killed = 1;
	kill(-dl->pid, SIGKILL);	/* the program and what it started */
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

/* exec:PROGRAM: start the child with the code in its environment. */
static pid_t
deliver_exec(const char *program, const char *number, const char *code)
{
	char	*argv[2], **envp, *vn, *vc;
	size_t	 n = 0, i, j = 0;
	pid_t	 pid;
	int	 devnull;

	while (environ[n] != NULL)
		n++;
	envp = xcalloc(n + 3, sizeof *envp);
	for (i = 0; i < n; i++) {
		if (strncmp(environ[i], "TRYST_", 6) != 0)
			envp[j++] = environ[i];
	}
	xasprintf(&vn, "TRYST_NUMBER=%s", number);
	xasprintf(&vc, "TRYST_CODE=%s", code);
	envp[j++] = vn;
	envp[j] = vc;
	argv[0] = (char *)program;
	argv[1] = NULL;
	if ((pid = fork()) == 0) {
		/* Its own process group, so that its children die with it. */
		setpgid(0, 0);
		if ((devnull = open("/dev/null", O_RDWR)) != -1)
			dup2(devnull, STDIN_FILENO);
		execve(program, argv, envp);
		_exit(127);
	}
	if (pid == -1)
		log_warnx("fork: %s", strerror(errno));
	else
		setpgid(pid, pid);	/* either of the two calls wins */
	sodium_memzero(vc, strlen(vc));
	free(vn);
	free(vc);
	free(envp);
	return (pid);
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
	dl->cb = cb;
	dl->arg = arg;
	dl->ev = evtimer_new(d->srv->base, delivery_timer, dl);
	TAILQ_INSERT_TAIL(&d->running, dl, entry);
	d->n++;
	if (strncmp(v, "dev:", 4) == 0) {
		dl->ok = deliver_dev(v + 4, number, code) == 0;
	} else if ((dl->pid = deliver_exec(v + 5, number, code)) > 0) {
		tv.tv_sec = DELIVER_TIMEOUT_S;
	} else {
		dl->pid = 0;
		dl->ok = 0;
	}
	evtimer_add(dl->ev, &tv);
	return (0);
}

/* SIGCHLD: collect exited children and report them. */
void
deliver_reap(struct deliver *d)
{
	struct delivery	*dl;
	pid_t		 pid;
	int		 status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		TAILQ_FOREACH(dl, &d->running, entry) {
			if (dl->pid == pid)
				break;
		}
		if (dl == NULL)
			continue;
		dl->ok = !dl->killed && WIFEXITED(status) &&
		    WEXITSTATUS(status) == 0;
		if (dl->killed)
			log_notice("delivery program killed after its time");
		else if (WIFSIGNALED(status))
			log_notice("delivery program failed: signal %d",
			    WTERMSIG(status));
		else if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
			log_notice("delivery program could not be run (exit "
			    "127)");
		else if (!dl->ok)
			log_notice("delivery program failed: exit %d",
			    WEXITSTATUS(status));
		finish(dl);
	}
}
