/*
 * gateway.c -- running the program that hands a code to an SMS gateway.
 *
 * Shared by trystd (verification = exec:PROGRAM) and trystd-deliver (the
 * daemon behind verification = socket:PATH). The program gets the number
 * and the code in its environment, never in argv where ps(1) shows them,
 * runs in its own process group, and is killed with what it started after
 * GATEWAY_TIMEOUT_S; exit 0 means sent. Nothing but its standard streams
 * crosses exec: every descriptor above 2 is closed in the child (every
 * descriptor the daemons open is close-on-exec as well), and the service
 * manager's variables are not passed on, $CREDENTIALS_DIRECTORY included
 * unless the caller keeps it (trystd-deliver's holds only the gateway's
 * token; trystd's holds the master key).
 */
#include <sys/resource.h>
#include <sys/wait.h>

#include <errno.h>
#include <fcntl.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "server.h"

extern char **environ;

struct gwrun {
	struct gateway	*gw;
	pid_t		 pid;
	int		 killed;
	struct event	*timer;
	gateway_cb	 cb;
	void		*arg;
	TAILQ_ENTRY(gwrun) entry;
};

struct gateway {
	struct event_base *base;
	int		 keep_creds;
	size_t		 n;
	TAILQ_HEAD(, gwrun) runs;
};

/* Variables of the service manager, and trystd's own, that a program must
 * not see; CREDENTIALS_DIRECTORY is in this list unless kept. */
static const char *const dropped_vars[] = {
	"TRYST_", "NOTIFY_SOCKET=", "WATCHDOG_", "LISTEN_", "MANAGERPID=",
	"SYSTEMD_EXEC_PID=", "CREDENTIALS_DIRECTORY=",
};

/* Make the table of running programs. */
struct gateway *
gateway_new(struct event_base *base, int keep_creds)
{
	struct gateway	*gw;

	gw = xcalloc(1, sizeof *gw);
	gw->base = base;
	gw->keep_creds = keep_creds;
	TAILQ_INIT(&gw->runs);
	return (gw);
}

/* Report and forget one run. */
static void
run_done(struct gwrun *r, int ok)
{
	struct gateway	*gw = r->gw;

	TAILQ_REMOVE(&gw->runs, r, entry);
	gw->n--;
	event_free(r->timer);
	r->cb(ok, r->arg);
	free(r);
}

/* Kill every running program; their callbacks are told they failed. */
void
gateway_free(struct gateway *gw)
{
	struct gwrun	*r;

	if (gw == NULL)
		return;
	while ((r = TAILQ_FIRST(&gw->runs)) != NULL) {
		kill(-r->pid, SIGKILL);
		run_done(r, 0);
	}
	free(gw);
}

/* A program ran out of time: kill it and what it started; its exit is
 * reported by gateway_reap. */
static void
run_timeout(evutil_socket_t fd, short ev, void *arg)
{
	struct gwrun	*r = arg;

	log_warnx("delivery program still running after %d s; killed",
	    GATEWAY_TIMEOUT_S);
	r->killed = 1;
	kill(-r->pid, SIGKILL);
}

/* Whether the variable e is one a program must not see. */
static int
dropped(const struct gateway *gw, const char *e)
{
	size_t	 i;

	for (i = 0; i < sizeof dropped_vars / sizeof dropped_vars[0]; i++) {
		if (strncmp(e, dropped_vars[i], strlen(dropped_vars[i])) != 0)
			continue;
		return (!gw->keep_creds || strcmp(dropped_vars[i],
		    "CREDENTIALS_DIRECTORY=") != 0);
	}
	return (0);
}

/* The program's environment: ours without the dropped variables, plus
 * the number and the code. Caller frees the array and its last two. */
static char **
make_env(const struct gateway *gw, const char *number, const char *code)
{
	char	**envp;
	size_t	 n = 0, i, j = 0;

	while (environ[n] != NULL)
		n++;
	envp = xcalloc(n + 3, sizeof *envp);
	for (i = 0; i < n; i++) {
		if (!dropped(gw, environ[i]))
			envp[j++] = environ[i];
	}
	xasprintf(&envp[j++], "TRYST_NUMBER=%s", number);
	xasprintf(&envp[j], "TRYST_CODE=%s", code);
	return (envp);
}

/* In the child: standard input from /dev/null, every other descriptor
 * above 2 closed, default signals, then the program. Only async-signal-
 * safe calls: trystd has threads. */
static __attribute__((noreturn)) void
child(const char *program, char **envp)
{
	char		*argv[2] = { (char *)program, NULL };
	struct rlimit	 rl;
	sigset_t	 none;
	unsigned int	 fd, max = 65536;
	int		 devnull;

	/* Its own group, so that its children die with it. */
	setpgid(0, 0);
	if ((devnull = open("/dev/null", O_RDWR | O_CLOEXEC)) != -1) {
		dup2(devnull, STDIN_FILENO);
		if (devnull > STDERR_FILENO)
			close(devnull);
	}
	if (close_range(STDERR_FILENO + 1, ~0U, 0) != 0) {
		if (getrlimit(RLIMIT_NOFILE, &rl) == 0 &&
		    rl.rlim_cur != RLIM_INFINITY)
			max = (unsigned int)rl.rlim_cur;
		for (fd = STDERR_FILENO + 1; fd < max; fd++)
			close((int)fd);
	}
	signal(SIGPIPE, SIG_DFL);
	sigemptyset(&none);
	sigprocmask(SIG_SETMASK, &none, NULL);
	execve(program, argv, envp);
	_exit(127);
}

/* Start program for number and code; cb is called exactly once, later,
 * from the loop (never from inside this call). -1 (and no callback) when
 * it could not be started. */
int
gateway_run(struct gateway *gw, const char *program, const char *number,
    const char *code, gateway_cb cb, void *arg)
{
	struct timeval	 tv = { GATEWAY_TIMEOUT_S, 0 };
	struct gwrun	*r;
	char		**envp;
	size_t		 j;
	pid_t		 pid;

	envp = make_env(gw, number, code);
	if ((pid = fork()) == 0)
		child(program, envp);
	for (j = 0; envp[j + 1] != NULL; j++)
		;
	sodium_memzero(envp[j], strlen(envp[j]));
	free(envp[j - 1]);
	free(envp[j]);
	free(envp);
	if (pid == -1) {
		log_warnx("fork: %s", strerror(errno));
		return (-1);
	}
	setpgid(pid, pid);	/* either of the two calls wins */
	r = xcalloc(1, sizeof *r);
	r->gw = gw;
	r->pid = pid;
	r->cb = cb;
	r->arg = arg;
	r->timer = evtimer_new(gw->base, run_timeout, r);
	evtimer_add(r->timer, &tv);
	TAILQ_INSERT_TAIL(&gw->runs, r, entry);
	gw->n++;
	return (0);
}

/* Log how a program ended; 1 if it sent the code. */
static int
run_status(const struct gwrun *r, int status)
{
	int	 ok;

	ok = !r->killed && WIFEXITED(status) && WEXITSTATUS(status) == 0;
	if (r->killed)
		log_notice("delivery program killed after its time");
	else if (WIFSIGNALED(status))
		log_notice("delivery program failed: signal %d",
		    WTERMSIG(status));
	else if (WIFEXITED(status) && WEXITSTATUS(status) == 127)
		log_notice("delivery program could not be run (exit 127)");
	else if (!ok)
		log_notice("delivery program failed: exit %d",
		    WEXITSTATUS(status));
	return (ok);
}

/* SIGCHLD: collect exited programs and report them. */
void
gateway_reap(struct gateway *gw)
{
	struct gwrun	*r;
	pid_t		 pid;
	int		 status;

	while ((pid = waitpid(-1, &status, WNOHANG)) > 0) {
		TAILQ_FOREACH(r, &gw->runs, entry) {
			if (r->pid == pid)
				break;
		}
		if (r != NULL)
			run_done(r, run_status(r, status));
	}
}
