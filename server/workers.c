/*
 * workers.c -- a small pool of threads for CPU-heavy work (large OPRF
 * batches), so that the loop never stalls. Jobs go in through a locked
 * queue; finished jobs come back through a pipe that wakes the loop, and
 * their done functions run on the loop, where all connection state lives.
 */
#include <errno.h>
#include <fcntl.h>
#include <pthread.h>
#include <stdlib.h>
#include <unistd.h>

#include "server.h"

struct job {
	work_fn		 work;
	done_fn		 done;
	void		*arg;
	struct job	*next;
};

struct workers {
	struct server	*srv;
	pthread_mutex_t	 lock;
	pthread_cond_t	 cond;
	struct job	*todo, **todo_tail;
	struct job	*finished;
	int		 stop;
	int		 n;
	pthread_t	*threads;
	int		 pipe[2];
	struct event	*ev;
};

/* A worker: take a job, run it, hand it back. */
static void *
worker_main(void *arg)
{
	struct workers	*w = arg;
	struct job	*j;
	char		 b = 0;

	pthread_mutex_lock(&w->lock);
	for (;;) {
		while (w->todo == NULL && !w->stop)
			pthread_cond_wait(&w->cond, &w->lock);
		if (w->stop)
			break;
		j = w->todo;
		if ((w->todo = j->next) == NULL)
			w->todo_tail = &w->todo;
		pthread_mutex_unlock(&w->lock);
		j->work(j->arg);
		pthread_mutex_lock(&w->lock);
		j->next = w->finished;
		w->finished = j;
		while (write(w->pipe[1], &b, 1) == -1 && errno == EINTR)
			;
	}
	pthread_mutex_unlock(&w->lock);
	return (NULL);
}

/* The pipe woke the loop: run the done functions of finished jobs. */
static void
workers_wake(evutil_socket_t fd, short ev, void *arg)
{
	struct workers	*w = arg;
	struct job	*j, *next;
	char		 buf[256];

	while (read(fd, buf, sizeof buf) > 0)
		;
	pthread_mutex_lock(&w->lock);
	j = w->finished;
	w->finished = NULL;
	pthread_mutex_unlock(&w->lock);
	for (; j != NULL; j = next) {
		next = j->next;
		j->done(w->srv, j->arg);
		free(j);
	}
}

/* Start n threads. */
struct workers *
workers_new(struct server *srv, int n)
{
	struct workers	*w;
	int		 i;

	w = xcalloc(1, sizeof *w);
	w->srv = srv;
	w->n = n;
	w->todo_tail = &w->todo;
	pthread_mutex_init(&w->lock, NULL);
	pthread_cond_init(&w->cond, NULL);
	if (pipe2(w->pipe, O_NONBLOCK | O_CLOEXEC) == -1)
		fatal("pipe2");
	w->ev = event_new(srv->base, w->pipe[0], EV_READ | EV_PERSIST,
	    workers_wake, w);
	event_add(w->ev, NULL);
	w->threads = xcalloc((size_t)n, sizeof *w->threads);
	for (i = 0; i < n; i++) {
		if (pthread_create(&w->threads[i], NULL, worker_main, w) != 0)
			fatalx("pthread_create failed");
	}
	return (w);
}

/* Queue a job: work runs on a thread, then done on the loop. */
void
workers_submit(struct workers *w, work_fn work, done_fn done, void *arg)
{
	struct job	*j;

	j = xcalloc(1, sizeof *j);
	j->work = work;
	j->done = done;
	j->arg = arg;
	pthread_mutex_lock(&w->lock);
	*w->todo_tail = j;
	w->todo_tail = &j->next;
	pthread_cond_signal(&w->cond);
	pthread_mutex_unlock(&w->lock);
}

/* Stop the threads; jobs not yet done get their done function run so
 * that they can release what they hold. */
void
workers_free(struct workers *w)
{
	struct job	*j, *next;
	int		 i;

	pthread_mutex_lock(&w->lock);
	w->stop = 1;
	pthread_cond_broadcast(&w->cond);
	pthread_mutex_unlock(&w->lock);
	for (i = 0; i < w->n; i++)
		pthread_join(w->threads[i], NULL);
	workers_wake(w->pipe[0], EV_READ, w);
	for (j = w->todo; j != NULL; j = next) {
		next = j->next;
		j->work(j->arg);
		j->done(w->srv, j->arg);
		free(j);
	}
	event_free(w->ev);
	close(w->pipe[0]);
	close(w->pipe[1]);
	pthread_mutex_destroy(&w->lock);
	pthread_cond_destroy(&w->cond);
	free(w->threads);
	free(w);
}
