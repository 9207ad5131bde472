/*
 * load.c -- a mixed load on one trystd from five worker threads, each
 * answer counted by kind and outcome; see load.h. Workers never assert
 * (Check's assertions belong to the test's own thread): a wrong answer is
 * counted and described, its connections are dropped and opened afresh.
 */
#include <dirent.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <sodium.h>

#include "load.h"

static const char *const kind_names[LOAD_NKINDS] = {
	"hello", "oprf", "lookup", "call", "relay", "end", "register", "ping"
};

/* The name of a kind. */
const char *
load_kind_name(int kind)
{
	return (kind >= 0 && kind < LOAD_NKINDS ? kind_names[kind] : "?");
}

/* 1 while the workers should go on. */
int
load_running(struct load *l)
{
	int	 r;

	pthread_mutex_lock(&l->mu);
	r = !l->stop;
	pthread_mutex_unlock(&l->mu);
	return (r);
}

/* Sleep ms in short slices, returning early when stopped. */
void
load_pace(struct load *l, int ms)
{
	for (; ms > 0 && load_running(l); ms -= 50)
		h_msleep(ms < 50 ? ms : 50);
}

/* Count one answer of kind that took since started. */
void
load_note(struct load *l, int kind, int outcome, int64_t started,
    const char *why)
{
	struct load_tally	*t;
	int64_t			 now = h_mono_ms();

	pthread_mutex_lock(&l->mu);
	t = &l->t[l->phase];
	t->n[kind][outcome]++;
	if (now - started > t->slowest[kind])
		t->slowest[kind] = now - started;
	if (outcome == LOAD_OK && t->first_ok[kind] == 0)
		t->first_ok[kind] = now;
	if (outcome == LOAD_WRONG || outcome == LOAD_NOANSWER) {
		if (l->nfaults < LOAD_FAULTS)
			snprintf(l->faults[l->nfaults], sizeof l->faults[0],
			    "%s in phase %d: %s", kind_names[kind], l->phase,
			    why != NULL ? why : "?");
		l->nfaults++;
	}
	pthread_mutex_unlock(&l->mu);
}

/* Open a connection to hostport (counted); NULL and why. */
struct tconn *
load_open(struct load *l, struct tconn_challenge *ch, char *why, size_t len)
{
	struct tconn	*t;
	char		*cause = NULL;

	if ((t = tconn_open(l->o.hostport, H.sign_pk, ch, &cause)) == NULL) {
		snprintf(why, len, "connect: %s", cause);
		free(cause);
		return (NULL);
	}
	pthread_mutex_lock(&l->mu);
	l->conns++;
	pthread_mutex_unlock(&l->mu);
	return (t);
}

/* Close a connection of the load (NULL is fine). */
void
load_close(struct load *l, struct tconn **t)
{
	if (*t == NULL)
		return;
	tconn_close(*t);
	*t = NULL;
	pthread_mutex_lock(&l->mu);
	l->conns--;
	pthread_mutex_unlock(&l->mu);
}

/* Send m: 0, or -1 and why. */
int
load_send(struct tconn *t, const struct msg *m, char *why, size_t len)
{
	char	*cause = NULL;

	if (tconn_send(t, m, &cause) == 0)
		return (0);
	snprintf(why, len, "%s: %s", proto_type_name(m->type), cause);
	free(cause);
	return (-1);
}

/*
 * Send req (unless NULL) and wait for a message of type want, skipping
 * the ENDED of earlier sessions (unless want is ENDED). The outcome; for
 * anything but OK a reason in why; retry_after of an UNAVAILABLE.
 */
int
load_exchange(struct tconn *t, const struct msg *req, uint8_t want,
    struct msg *m, int deadline_ms, char *why, size_t len)
{
	int64_t	 end = h_mono_ms() + deadline_ms;
	char	*cause = NULL, text[80];
	int	 r;

	if (req != NULL && load_send(t, req, why, len) != 0)
		return (LOAD_WRONG);
	for (;;) {
		r = tconn_recv(t, m, (int)(end - h_mono_ms() > 0 ?
		    end - h_mono_ms() : 0), &cause);
		if (r == 1 && m->type == MSG_ENDED && want != MSG_ENDED)
			continue;
		break;
	}
	if (r == 1 && m->type == want)
		return (LOAD_OK);
	if (r == 1 && m->type == MSG_ERROR) {
		log_escape(text, sizeof text, m->u.error.message.p,
		    m->u.error.message.len);
		snprintf(why, len, "%s for %s: ERROR %s (%s), retry_after %u",
		    req != NULL ? proto_type_name(req->type) : "wait",
		    proto_type_name(want), proto_err_name(m->u.error.code),
		    text, m->u.error.retry_after_s);
		return (m->u.error.code == ERR_UNAVAILABLE &&
		    m->u.error.retry_after_s > 0 ? LOAD_UNAVAIL : LOAD_WRONG);
	}
	if (r == 1) {
		snprintf(why, len, "expected %s, got %s",
		    proto_type_name(want), proto_type_name(m->type));
		return (LOAD_WRONG);
	}
	snprintf(why, len, "waiting for %s: %s", proto_type_name(want),
	    r == 0 ? "connection closed" : cause);
	r = r == -1 && strcmp(cause, "timeout") == 0 ? LOAD_NOANSWER :
	    LOAD_WRONG;
	free(cause);
	return (r);
}

/* HELLO as a on t, whose challenge is ch: the outcome. */
static int
hello(struct tconn *t, const struct tconn_challenge *ch,
    const struct account *a, uint8_t flags, int deadline_ms, char *why,
    size_t len, uint32_t *retry_after)
{
	struct msg	 m;
	int		 o;

	memset(&m, 0, sizeof m);
	m.type = MSG_HELLO;
	m.u.hello.credential.p = a->cred;
	m.u.hello.credential.len = CRED_LEN;
	m.u.hello.flags = flags;
	hello_sign(m.u.hello.signature, a->sk, ch->nonce, a->cred);
	o = load_exchange(t, &m, MSG_WELCOME, &m, deadline_ms, why, len);
	if (retry_after != NULL)
		*retry_after = o == LOAD_UNAVAIL ? m.u.error.retry_after_s : 0;
	return (o);
}

/* One HELLO on a new connection, closed after. */
int
load_hello_once(const char *hostport, const struct account *a,
    int deadline_ms, char *why, size_t len, uint32_t *retry_after)
{
	struct tconn_challenge	 ch;
	struct tconn		*t;
	char			*cause = NULL;
	int			 o;

	if ((t = tconn_open(hostport, H.sign_pk, &ch, &cause)) == NULL) {
		snprintf(why, len, "connect: %s", cause);
		free(cause);
		return (LOAD_WRONG);
	}
	o = hello(t, &ch, a, 0, deadline_ms, why, len, retry_after);
	tconn_close(t);
	return (o);
}

/* Make lc online if it is not (a HELLO, counted); 1 when it is. */
int
load_online(struct load *l, struct lconn *lc)
{
	struct tconn_challenge	 ch;
	char			 why[160];
	int64_t			 t0 = h_mono_ms();
	int			 o;

	if (lc->t != NULL)
		return (1);
	if ((lc->t = load_open(l, &ch, why, sizeof why)) == NULL) {
		load_note(l, LOAD_HELLO, LOAD_WRONG, t0, why);
		return (0);
	}
	o = hello(lc->t, &ch, lc->a, lc->flags, l->o.deadline_ms, why,
	    sizeof why, NULL);
	load_note(l, LOAD_HELLO, o, t0, why);
	if (o != LOAD_OK)
		load_close(l, &lc->t);
	return (o == LOAD_OK);
}

/* ---- the load --------------------------------------------------------- */

/* Connections of n for accounts acc (round them, from first). */
static struct lconn *
lconns(const struct load *l, int n, size_t first, uint8_t flags)
{
	struct lconn	*lc = xcalloc((size_t)n, sizeof *lc);
	int		 i;

	for (i = 0; i < n; i++) {
		lc[i].a = &l->acc[(first + (size_t)i) % l->nacc];
		lc[i].flags = flags;
	}
	return (lc);
}

/* Start the workers. */
struct load *
load_start(const struct load_opts *o, const struct account *acc,
    size_t nacc)
{
	static void	*(*const fn[LOAD_WORKERS])(void *) = {
		load_work_hello, load_work_disc, load_work_call,
		load_work_reg, load_work_ping
	};
	struct load	*l = xcalloc(1, sizeof *l);
	int		 i;

	ck_assert_msg(nacc > 2 * (size_t)o->pairs && o->pairs > 0 &&
	    o->readers > 0 && o->idle > 0, "load: %zu accounts for %d pairs",
	    nacc, o->pairs);
	l->o = *o;
	l->acc = xcalloc(nacc, sizeof *acc);
	memcpy(l->acc, acc, nacc * sizeof *acc);
	l->nacc = nacc;
	l->pairs = lconns(l, 2 * o->pairs, 0, 0);
	for (i = 1; i < 2 * o->pairs; i += 2)
		l->pairs[i].flags = HELLO_PRESENCE;
	/* The others online without presence, after the pairs' accounts. */
	l->readers = lconns(l, o->readers, 2 * (size_t)o->pairs, 0);
	l->idle = lconns(l, o->idle, 2 * (size_t)o->pairs + 1, 0);
	pthread_mutex_init(&l->mu, NULL);
	pthread_cond_init(&l->cv, NULL);
	for (i = 0; i < LOAD_WORKERS; i++)
		ck_assert_int_eq(pthread_create(&l->th[i], NULL, fn[i], l), 0);
	l->started = 1;
	return (l);
}

/* Count in phase from now on. */
void
load_phase(struct load *l, int phase)
{
	pthread_mutex_lock(&l->mu);
	if (phase >= 0 && phase < LOAD_PHASES)
		l->phase = phase;
	pthread_mutex_unlock(&l->mu);
}

/* Hold registrations (once none is under way) or let them go on. */
void
load_hold_registrations(struct load *l, int hold)
{
	pthread_mutex_lock(&l->mu);
	l->reg_hold = hold;
	while (hold && !l->reg_parked && !l->stop)
		pthread_cond_wait(&l->cv, &l->mu);
	pthread_mutex_unlock(&l->mu);
}

/* A copy of the registrations so far. */
struct load_reg *
load_registrations(struct load *l, size_t *n)
{
	struct load_reg	*r;

	pthread_mutex_lock(&l->mu);
	*n = l->nregs;
	r = xcalloc(l->nregs + 1, sizeof *r);
	if (l->nregs > 0)
		memcpy(r, l->regs, l->nregs * sizeof *r);
	pthread_mutex_unlock(&l->mu);
	return (r);
}

/* The tally of phase. */
void
load_tally(struct load *l, int phase, struct load_tally *t)
{
	pthread_mutex_lock(&l->mu);
	*t = l->t[phase];
	pthread_mutex_unlock(&l->mu);
}

/* Faults so far. */
long
load_faults(struct load *l)
{
	long	 n;

	pthread_mutex_lock(&l->mu);
	n = l->nfaults;
	pthread_mutex_unlock(&l->mu);
	return (n);
}

/* The i-th fault kept; read once the load is stopped. */
const char *
load_fault(struct load *l, int i)
{
	return (i >= 0 && i < LOAD_FAULTS && i < l->nfaults ?
	    l->faults[i] : NULL);
}

/* Connections open now. */
int
load_conns(struct load *l)
{
	int	 n;

	pthread_mutex_lock(&l->mu);
	n = l->conns;
	pthread_mutex_unlock(&l->mu);
	return (n);
}

/* Close every connection of n. */
static void
lconns_close(struct load *l, struct lconn *lc, int n)
{
	int	 i;

	for (i = 0; i < n; i++)
		load_close(l, &lc[i].t);
}

/* Stop and join the workers; close their connections. */
void
load_stop(struct load *l)
{
	int	 i;

	if (!l->started)
		return;
	pthread_mutex_lock(&l->mu);
	l->stop = 1;
	pthread_cond_broadcast(&l->cv);
	pthread_mutex_unlock(&l->mu);
	for (i = 0; i < LOAD_WORKERS; i++)
		pthread_join(l->th[i], NULL);
	l->started = 0;
	lconns_close(l, l->pairs, 2 * l->o.pairs);
	lconns_close(l, l->readers, l->o.readers);
	lconns_close(l, l->idle, l->o.idle);
}

/* Free a stopped load. */
void
load_free(struct load *l)
{
	load_stop(l);
	pthread_mutex_destroy(&l->mu);
	pthread_cond_destroy(&l->cv);
	free(l->pairs);
	free(l->readers);
	free(l->idle);
	sodium_memzero(l->acc, l->nacc * sizeof *l->acc);
	free(l->acc);
	if (l->regs != NULL)
		sodium_memzero(l->regs, l->nregs * sizeof *l->regs);
	free(l->regs);
	free(l);
}

/* The tally as a table. */
void
load_print(const char *title, const struct load_tally *t)
{
	int	 k;

	printf("  %-28s %8s %8s %8s %8s %10s\n", title, "ok", "unavail",
	    "wrong", "noanswer", "slowest_ms");
	for (k = 0; k < LOAD_NKINDS; k++) {
		if (t->n[k][LOAD_OK] + t->n[k][LOAD_UNAVAIL] +
		    t->n[k][LOAD_WRONG] + t->n[k][LOAD_NOANSWER] == 0)
			continue;
		printf("  %-28s %8ld %8ld %8ld %8ld %10lld\n", kind_names[k],
		    t->n[k][LOAD_OK], t->n[k][LOAD_UNAVAIL],
		    t->n[k][LOAD_WRONG], t->n[k][LOAD_NOANSWER],
		    (long long)t->slowest[k]);
	}
	fflush(stdout);
}

/* Entries of /proc/PID/fd. */
int
load_fds(pid_t pid)
{
	struct dirent	*d;
	DIR		*dir;
	char		 path[64];
	int		 n = 0;

	snprintf(path, sizeof path, "/proc/%ld/fd", (long)pid);
	if ((dir = opendir(path)) == NULL)
		return (-1);
	while ((d = readdir(dir)) != NULL) {
		if (d->d_name[0] != '.')
			n++;
	}
	closedir(dir);
	return (n);
}
