/*
 * ctx.c -- the libtryst context: its errors, its state directory, the
 * work it has under way (tasks), and the interface an app's loop drives
 * it through (descriptors and a timeout out, tryst_process in).
 *
 * Every task is stepped on every pass: a step never waits, so stepping
 * one with nothing to do costs a few calls, and the app need not say
 * which descriptor was ready. A finished task is freed on the next pass,
 * never inside its own step, as conn_kill does in the server.
 */
#include <sys/types.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lib.h"

#define CTX_FDS		256	/* descriptors watched at most */

/* The library's version. */
const char *
tryst_version(void)
{
	return (LIB_VERSION);
}

/* A context with nothing loaded. */
tryst_t *
tryst_new(tryst_error **err)
{
	struct tryst	*t;

	if (sodium_init() == -1) {
		lib_err_give(lib_err(TRYST_EINVAL, "libsodium cannot start"),
		    err);
		return (NULL);
	}
	t = xcalloc(1, sizeof *t);
	t->now = tryst_now_ms;
	return (t);
}

/* Free a task and what it holds. */
static void
task_free(struct task *k)
{
	if (k->free != NULL)
		k->free(k);
	nconn_free(k->c);
	free(k);
}

/* Close everything and free the context. */
void
tryst_destroy(tryst_t *t)
{
	struct task	*k;

	if (t == NULL)
		return;
	call_silence(t);
	presence_stop(t);
	while ((k = t->tasks) != NULL) {
		t->tasks = k->next;
		task_free(k);
	}
	if (t->have_conf) {
		servers_free(&t->srv);
		state_conf_free(&t->conf);
	}
	blobs_free(t->blobs);
	free(t);
}

/* Free what the library returned. */
void
tryst_free(void *p)
{
	free(p);
}

/* An error of code with a message. */
struct tryst_error *
lib_err(int code, const char *fmt, ...)
{
	struct tryst_error	*e;
	va_list			 ap;
	char			 buf[1024];

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
	e = xcalloc(1, sizeof *e);
	e->code = code;
	e->message = xstrdup(buf);
	return (e);
}

/* The error for a server's ERROR: its code, text and retry_after. */
struct tryst_error *
lib_err_server(const struct msg *m)
{
	struct tryst_error	*e;
	char			 text[256];

	log_escape(text, sizeof text, m->u.error.message.p,
	    m->u.error.message.len);
	e = lib_err(m->u.error.code == ERR_REVOKED ? TRYST_EREVOKED :
	    TRYST_ESERVER, "server error %s: %s",
	    proto_err_name(m->u.error.code), text);
	e->server_code = m->u.error.code;
	e->retry_after_s = m->u.error.retry_after_s;
	return (e);
}

/* Hand an error over, or free it. */
int
lib_err_give(struct tryst_error *e, tryst_error **err)
{
	int	 code = e->code;

	if (err != NULL)
		*err = e;
	else
		tryst_error_free(e);
	return (code);
}

int
tryst_error_code(const tryst_error *e)
{
	return (e != NULL ? e->code : 0);
}

const char *
tryst_error_message(const tryst_error *e)
{
	return (e != NULL ? e->message : "no error");
}

int
tryst_error_server_code(const tryst_error *e)
{
	return (e != NULL ? e->server_code : 0);
}

long
tryst_error_retry_after_s(const tryst_error *e)
{
	return (e != NULL ? e->retry_after_s : 0);
}

void
tryst_error_free(tryst_error *e)
{
	if (e == NULL)
		return;
	free(e->message);
	free(e);
}

/* Load the configuration of the state directory: 0 (also when there is
 * none yet: have_conf stays 0), or an error. */
int
lib_conf_reload(struct tryst *t, struct tryst_error **err)
{
	struct tryst_error	*e;
	struct client_conf	 cf;
	struct servers		 sv;
	uint8_t			 pk[32];
	char			*cause, *label;

	if (state_conf_load(t->blobs, &cf, &cause) != 0) {
		if (errno == ENOENT) {
			free(cause);
			return (0);
		}
		e = lib_err(TRYST_EIO, "%s", cause);
		free(cause);
		return (lib_err_give(e, err));
	}
	if (servers_parse(&sv, cf.server, randombytes_uniform, &cause) != 0 ||
	    state_conf_key(&cf, pk, &cause) != 0) {
		state_conf_free(&cf);
		label = blobs_label(t->blobs, "config");
		e = lib_err(TRYST_ESTATE, "%s: %s; set the device up again",
		    label, cause);
		free(label);
		free(cause);
		return (lib_err_give(e, err));
	}
	if (t->have_conf) {
		servers_free(&t->srv);
		state_conf_free(&t->conf);
	}
	t->conf = cf;
	t->srv = sv;
	memcpy(t->sign_pk, pk, 32);
	t->have_conf = 1;
	return (0);
}

/* Take b for the state, and load its configuration. */
static int
use_blobs(struct tryst *t, struct blobs *b, tryst_error **err)
{
	if (t->have_conf) {
		servers_free(&t->srv);
		state_conf_free(&t->conf);
		t->have_conf = 0;
	}
	blobs_free(t->blobs);
	t->blobs = b;
	return (lib_conf_reload(t, err));
}

/* Whether the state may change now: 0, or the error. */
static int
state_idle(const struct tryst *t, tryst_error **err)
{
	if (t->tasks != NULL || t->presence != NULL)
		return (lib_err_give(lib_err(TRYST_EBUSY, "the state cannot "
		    "change while work is under way"), err));
	return (0);
}

/* Use dir (NULL: the CLI's) for state. */
int
tryst_state_dir(tryst_t *t, const char *dir, tryst_error **err)
{
	struct tryst_error	*e = NULL;
	char			*d, *cause;
	struct blobs		*b;
	int			 r;

	if ((r = state_idle(t, err)) != 0)
		return (r);
	if (dir != NULL)
		d = xstrdup(dir);
	else if ((d = state_dir(&cause)) == NULL) {
		e = lib_err(TRYST_ESTATE, "%s", cause);
		free(cause);
		return (lib_err_give(e, err));
	}
	b = blobs_dir(d);
	free(d);
	return (use_blobs(t, b, err));
}

/* Keep state through the app's callbacks. */
int
tryst_state_store(tryst_t *t, tryst_blob_load_fn load,
    tryst_blob_save_fn save, tryst_blob_remove_fn remove, void *user,
    tryst_error **err)
{
	int	 r;

	if (load == NULL || save == NULL || remove == NULL)
		return (lib_err_give(lib_err(TRYST_EINVAL, "a state callback "
		    "is NULL"), err));
	if ((r = state_idle(t, err)) != 0)
		return (r);
	return (use_blobs(t, blobs_app(load, save, remove, user), err));
}

/* Have the app process at once. */
void
lib_due(struct tryst *t)
{
	t->due = 1;
}

/* Add a task to be stepped from the next pass on (at once). */
struct task *
lib_task_add(struct tryst *t, task_step_fn step, void *data,
    void (*free_fn)(struct task *))
{
	struct task	*k;

	t->due = 1;
	k = xcalloc(1, sizeof *k);
	k->timer = -1;
	k->step = step;
	k->data = data;
	k->free = free_fn;
	k->next = t->tasks;
	t->tasks = k;
	return (k);
}

/* What the tasks wait for, up to max: how many. */
static int
collect(const struct tryst *t, struct pollfd *pfd, int max)
{
	const struct task	*k;
	unsigned		 ev;
	int			 n = 0;

	for (k = t->tasks; k != NULL && n < max; k = k->next) {
		if (k->done)
			continue;
		if (k->c != NULL && nconn_fd(k->c) != -1 &&
		    (ev = nconn_events(k->c)) != 0) {
			pfd[n].fd = nconn_fd(k->c);
			pfd[n++].events = (short)(((ev & NCONN_READ) ?
			    POLLIN : 0) | ((ev & NCONN_WRITE) ? POLLOUT : 0));
		}
		if (k->fds != NULL && n < max)
			n += k->fds(k, pfd + n, max - n);
	}
	return (n);
}

int
tryst_fd_count(const tryst_t *t)
{
	struct pollfd	 pfd[CTX_FDS];

	return (collect(t, pfd, CTX_FDS));
}

int
tryst_fd_get(const tryst_t *t, int i, int *fd, unsigned *events)
{
	struct pollfd	 pfd[CTX_FDS];

	if (i < 0 || i >= collect(t, pfd, CTX_FDS))
		return (TRYST_EINVAL);
	*fd = pfd[i].fd;
	*events = ((pfd[i].events & POLLIN) ? TRYST_READ : 0) |
	    ((pfd[i].events & POLLOUT) ? TRYST_WRITE : 0);
	return (0);
}

/* The earliest of the tasks' timers and their connections' deadlines. */
long
tryst_timeout_ms(const tryst_t *t)
{
	const struct task	*k;
	int64_t			 when = -1, d, now;

	if (t->due)
		return (0);
	for (k = t->tasks; k != NULL; k = k->next) {
		if (k->done)
			return (0);	/* to be freed on the next pass */
		if (k->timer != -1 && (when == -1 || k->timer < when))
			when = k->timer;
		if (k->c != NULL && (d = nconn_deadline(k->c)) != -1 &&
		    (when == -1 || d < when))
			when = d;
		if (k->deadline != NULL && (d = k->deadline(k)) != -1 &&
		    (when == -1 || d < when))
			when = d;
	}
	if (when == -1)
		return (-1);
	now = t->now();
	return (when <= now ? 0 : when - now > LONG_MAX ? LONG_MAX :
	    (long)(when - now));
}

/* Free the tasks that finished. */
static void
reap(struct tryst *t)
{
	struct task	**kp = &t->tasks, *k;

	while ((k = *kp) != NULL) {
		if (k->done) {
			*kp = k->next;
			task_free(k);
		} else
			kp = &k->next;
	}
}

/* One pass: step every task, then free the finished ones. */
int
tryst_process(tryst_t *t, int fd, unsigned revents, tryst_error **err)
{
	struct task	*k;
	int64_t		 now = t->now();

	(void)fd, (void)revents, (void)err;
	t->due = 0;
	reap(t);
	for (k = t->tasks; k != NULL; k = k->next) {
		if (k->done)
			continue;
		if (k->c != NULL)
			nconn_step(k->c, now);
		if (k->step(t, k, now))
			k->done = 1;
	}
	return (0);
}

/* Stop tryst_run after this pass. */
void
tryst_stop(tryst_t *t)
{
	t->stop = 1;
}

/* poll() over what the library wants, for ms at most, then a pass. */
int
tryst_run(tryst_t *t, long ms, tryst_error **err)
{
	struct pollfd	 pfd[CTX_FDS];
	int64_t		 end = ms < 0 ? -1 : t->now() + ms, left;
	long		 wait;
	int		 n;

	t->stop = 0;
	while (!t->stop && t->tasks != NULL) {
		n = collect(t, pfd, CTX_FDS);
		wait = tryst_timeout_ms(t);
		if (end != -1) {
			if ((left = end - t->now()) <= 0)
				break;
			if (wait == -1 || left < wait)
				wait = (long)left;
		}
		if (poll(pfd, (nfds_t)n, wait > INT_MAX ? INT_MAX : (int)wait) ==
		    -1 && errno != EINTR)
			return (lib_err_give(lib_err(TRYST_EINVAL, "poll: %s",
			    strerror(errno)), err));
		tryst_process(t, -1, 0, NULL);
	}
	reap(t);
	return (0);
}
