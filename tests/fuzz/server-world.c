/*
 * server-world.c -- what the whole-server fuzz target puts around the
 * server instead of processes and threads: deliver.c's and workers.c's
 * interfaces answered on a later pass of the loop (never inside the
 * call, as the real ones), server_storage_up (trystd.c's), and a watch on
 * the server's log that turns an impossible state into abort().
 */
#include <sys/queue.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server.h"
#include "fuzz-server.h"

#define LAST_CODES	4

static const struct timeval now_tv = { 0, 0 };

/* ---- deliver.c's interface -------------------------------------------- */

struct delivery {
	deliver_cb	 cb;
	void		*arg;
	int		 ok;
	TAILQ_ENTRY(delivery) link;
};
TAILQ_HEAD(deliveryq, delivery);

struct deliver {
	struct server	*srv;
	struct event	*ev;
	struct deliveryq running;
	size_t		 n;
	int		 fail;
	int		 hold;
	struct {
		char	 number[PROTO_MAX_NUMBER + 1];
		char	 code[TOKEN_CODE + 1];
	}		 last[LAST_CODES];
	unsigned	 nlast;
};

/* A later pass: answer the deliveries queued before it. */
static void
deliver_run(evutil_socket_t fd, short ev, void *arg)
{
	struct deliver	*d = arg;
	struct delivery	*dl, *last = TAILQ_LAST(&d->running, deliveryq);
	int		 end;

	if (d->hold)
		return;
	while ((dl = TAILQ_FIRST(&d->running)) != NULL) {
		TAILQ_REMOVE(&d->running, dl, link);
		d->n--;
		end = dl == last;
		dl->cb(d->srv, dl->ok, dl->arg);
		free(dl);
		if (end)
			break;
	}
	if (d->n > 0)
		evtimer_add(d->ev, &now_tv);
}

/* Make the delivery table. */
struct deliver *
deliver_new(struct server *srv)
{
	struct deliver	*d = xcalloc(1, sizeof *d);

	d->srv = srv;
	TAILQ_INIT(&d->running);
	if ((d->ev = evtimer_new(srv->base, deliver_run, d)) == NULL)
		fatalx("evtimer_new failed");
	return (d);
}

/* As deliver.c: what is running is told it failed. */
void
deliver_free(struct deliver *d)
{
	struct delivery	*dl;

	while ((dl = TAILQ_FIRST(&d->running)) != NULL) {
		TAILQ_REMOVE(&d->running, dl, link);
		dl->cb(d->srv, 0, dl->arg);
		free(dl);
	}
	event_free(d->ev);
	free(d);
}

/* Take a code for number; answered on a later pass. -1 at max_deliveries. */
int
deliver_send(struct deliver *d, const char *number, const char *code,
    deliver_cb cb, void *arg)
{
	struct delivery	*dl;
	unsigned	 i;

	if ((long long)d->n >= d->srv->set.max_deliveries)
		return (-1);
	i = d->nlast++ % LAST_CODES;
	snprintf(d->last[i].number, sizeof d->last[i].number, "%s", number);
	snprintf(d->last[i].code, sizeof d->last[i].code, "%s", code);
	dl = xcalloc(1, sizeof *dl);
	dl->cb = cb;
	dl->arg = arg;
	dl->ok = !d->fail;
	TAILQ_INSERT_TAIL(&d->running, dl, link);
	d->n++;
	if (!d->hold)
		evtimer_add(d->ev, &now_tv);
	return (0);
}

/* No children here. */
void
deliver_reap(struct deliver *d)
{
}

/* Deliveries from now on fail (or succeed). */
void
deliver_mem_fail(struct deliver *d, int fail)
{
	d->fail = fail;
}

/* Hold answers back, or let them go. */
void
deliver_mem_hold(struct deliver *d, int hold)
{
	d->hold = hold;
	if (!hold && d->n > 0)
		evtimer_add(d->ev, &now_tv);
}

/* The last code handed over for number. */
const char *
deliver_mem_code(struct deliver *d, const char *number)
{
	unsigned	 i, n = d->nlast < LAST_CODES ? d->nlast : LAST_CODES;
	unsigned	 k;

	for (i = 0; i < n; i++) {
		k = (d->nlast - 1 - i) % LAST_CODES;
		if (strcmp(d->last[k].number, number) == 0)
			return (d->last[k].code);
	}
	return (NULL);
}

/* Deliveries not yet answered. */
size_t
deliver_mem_pending(struct deliver *d)
{
	return (d->n);
}

/* ---- workers.c's interface -------------------------------------------- */

struct job {
	work_fn		 work;
	done_fn		 done;
	void		*arg;
	TAILQ_ENTRY(job) link;
};
TAILQ_HEAD(jobq, job);

struct workers {
	struct server	*srv;
	struct event	*ev;
	struct jobq	 jobs;
	size_t		 n;
};

/* A later pass: the work, then its done function, of the jobs queued
 * before it. */
static void
workers_run(evutil_socket_t fd, short ev, void *arg)
{
	struct workers	*w = arg;
	struct job	*j, *last = TAILQ_LAST(&w->jobs, jobq);
	int		 end;

	while ((j = TAILQ_FIRST(&w->jobs)) != NULL) {
		TAILQ_REMOVE(&w->jobs, j, link);
		w->n--;
		j->work(j->arg);
		end = j == last;
		j->done(w->srv, j->arg);
		free(j);
		if (end)
			break;
	}
	if (w->n > 0)
		evtimer_add(w->ev, &now_tv);
}

/* Make the pool: a queue run on later passes. */
struct workers *
workers_new(struct server *srv, int n)
{
	struct workers	*w = xcalloc(1, sizeof *w);

	w->srv = srv;
	TAILQ_INIT(&w->jobs);
	if ((w->ev = evtimer_new(srv->base, workers_run, w)) == NULL)
		fatalx("evtimer_new failed");
	return (w);
}

/* Queue a job for a later pass. */
void
workers_submit(struct workers *w, work_fn work, done_fn done, void *arg)
{
	struct job	*j = xcalloc(1, sizeof *j);

	j->work = work;
	j->done = done;
	j->arg = arg;
	TAILQ_INSERT_TAIL(&w->jobs, j, link);
	w->n++;
	evtimer_add(w->ev, &now_tv);
}

/* Jobs left at the end still run: each holds a connection. */
void
workers_free(struct workers *w)
{
	struct job	*j;

	while ((j = TAILQ_FIRST(&w->jobs)) != NULL) {
		TAILQ_REMOVE(&w->jobs, j, link);
		j->work(j->arg);
		j->done(w->srv, j->arg);
		free(j);
	}
	event_free(w->ev);
	free(w);
}

/* Jobs not yet run. */
size_t
workers_mem_pending(struct workers *w)
{
	return (w->n);
}

/* ---- trystd.c's, and the log --------------------------------------------- */

/* trystd tells systemd; here nothing listens. */
void
server_storage_up(struct server *srv)
{
}

/* Write what the server logs to the real standard error; a line at
 * LOG_ERR is an impossible state of the code under test. */
static ssize_t
watch_write(void *cookie, const char *buf, size_t len)
{
	static const char err[] = "<3>";

	if (len >= sizeof err - 1 && memcmp(buf, err, sizeof err - 1) == 0) {
		(void)write(STDERR_FILENO, buf, len);
		dprintf(STDERR_FILENO, "the server logged an error\n");
		abort();
	}
	return (write(STDERR_FILENO, buf, len));
}

/* Route stderr through the watch (once); log only errors. */
void
world_watch_errors(void)
{
	static const cookie_io_functions_t io = { .write = watch_write };
	static FILE	*f;

	log_set_level(LOG_ERR);
	if (f != NULL)
		return;
	if ((f = fopencookie(NULL, "w", io)) == NULL)
		fatal("fopencookie");
	setvbuf(f, NULL, _IOLBF, 0);
	stderr = f;
}
