/*
 * bench-idle.c -- trystd's memory per idle connection. One trystd holds N
 * authenticated connections (HELLO with flags 0, then silence), a second,
 * fresh one holds N anonymous connections (CHALLENGE read, nothing sent);
 * VmRSS and Pss of each are read before the connections open and a second
 * after the last is idle. Prints bytes per connection; asserts nothing
 * about size.
 *
 * Usage: bench-idle [N, default 2000]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <sodium.h>

#include "harness.h"
#include "bench.h"

#define PER_ACCOUNT	64	/* max_connections_per_account at most */
#define SPARE_FDS	64	/* files besides the connections */

#define IDLE_CONF \
	"max_connections_per_account = 64\n" \
	"max_connections_per_ip = 1000000\n" \
	"code_requests_per_hour = 100\n" \
	"handshake_timeout_s = 120\n" \
	"anonymous_lifetime_s = 3600\n" \
	"idle_timeout_s = 3600\n"

static long		 nconn = 2000;
static struct tconn	**conns;

/* Open one connection to hostport (CHALLENGE checked), into conns[i]. */
static struct tconn *
open_one(const char *hostport, long i, struct tconn_challenge *ch)
{
	char	*why = NULL;

	conns[i] = tconn_open(hostport, H.sign_pk, ch, &why);
	ck_assert_msg(conns[i] != NULL, "connection %ld of %ld: %s", i + 1,
	    nconn, why);
	return (conns[i]);
}

/* HELLO as a on t (flags 0), asserting WELCOME. */
static void
hello(struct tconn *t, const struct tconn_challenge *ch,
    const struct account *a)
{
	struct msg	 m;
	char		*why = NULL;

	memset(&m, 0, sizeof m);
	m.type = MSG_HELLO;
	m.u.hello.credential.p = a->cred;
	m.u.hello.credential.len = CRED_LEN;
	hello_sign(m.u.hello.signature, a->sk, ch->nonce, a->cred);
	ck_assert_msg(tconn_send(t, &m, &why) == 0, "HELLO: %s", why);
	ck_assert_msg(tconn_recv(t, &m, H_TIMEOUT_MS, &why) == 1,
	    "HELLO: no answer: %s", why);
	ck_assert_msg(m.type == MSG_WELCOME, "HELLO %s: got %s %s", a->number,
	    proto_type_name(m.type), m.type == MSG_ERROR ?
	    proto_err_name(m.u.error.code) : "");
}

/* Close every connection. */
static void
close_all(void)
{
	long	 i;

	for (i = 0; i < nconn; i++) {
		if (conns[i] != NULL)
			tconn_close(conns[i]);
		conns[i] = NULL;
	}
}

/* Memory of pid now (after a second of quiet), asserting it runs. */
static void
mem_now(pid_t pid, struct bench_mem *m)
{
	h_msleep(1000);
	ck_assert_msg(bench_mem(pid, m) == 0, "trystd (pid %ld) is gone",
	    (long)pid);
}

/* Print the growth from m0 to m1 over nconn connections. */
static void
report(const char *what, const struct bench_mem *m0,
    const struct bench_mem *m1, double secs)
{
	printf("idle-conns: %s: %ld connections opened in %.1f s\n", what,
	    nconn, secs);
	printf("idle-conns: %s: VmRSS %lld -> %lld kB: %lld bytes per "
	    "connection\n", what, m0->rss / 1024, m1->rss / 1024,
	    (m1->rss - m0->rss) / nconn);
	if (m0->pss >= 0 && m1->pss >= 0)
		printf("idle-conns: %s: Pss   %lld -> %lld kB: %lld bytes per "
		    "connection\n", what, m0->pss / 1024, m1->pss / 1024,
		    (m1->pss - m0->pss) / nconn);
	else
		printf("idle-conns: %s: Pss not readable\n", what);
	fflush(stdout);
}

/* N connections online on the first trystd, PER_ACCOUNT per account. */
static void
authenticated(void)
{
	struct tconn_challenge	 ch;
	struct bench_mem	 m0, m1;
	struct account		*acc;
	long			 i, nacc;
	char			 number[32];
	double			 t0;

	nacc = (nconn + PER_ACCOUNT - 1) / PER_ACCOUNT;
	acc = xcalloc((size_t)nacc, sizeof *acc);
	for (i = 0; i < nacc; i++) {
		snprintf(number, sizeof number, "+1555019%04ld", i);
		h_register(number, &acc[i]);
	}
	mem_now(H.trystd_pid, &m0);
	t0 = bench_now();
	for (i = 0; i < nconn; i++)
		hello(open_one(H.hostport, i, &ch), &ch, &acc[i / PER_ACCOUNT]);
	t0 = bench_now() - t0;
	mem_now(H.trystd_pid, &m1);
	report("authenticated", &m0, &m1, t0);
	for (i = 0; i < nacc; i++)
		sodium_memzero(acc[i].sk, sizeof acc[i].sk);
	free(acc);
}

/* N anonymous connections on the second, fresh trystd. */
static void
anonymous(void)
{
	struct bench_mem	 m0, m1;
	long			 i;
	double			 t0;

	mem_now(H.trystd2_pid, &m0);
	t0 = bench_now();
	for (i = 0; i < nconn; i++)
		open_one(H.hostport2, i, NULL);
	t0 = bench_now() - t0;
	mem_now(H.trystd2_pid, &m1);
	report("anonymous", &m0, &m1, t0);
}

/* Both measures, then a check that the connections are still open. */
static void
body(void)
{
	conns = xcalloc((size_t)nconn, sizeof *conns);
	authenticated();
	ck_assert_msg(h_trystd_alive(), "trystd died");
	close_all();
	anonymous();
	close_all();
	free(conns);
}

/* Raise the file limit, start both trystds, measure, stop. */
int
bench_idle_main(int argc, char *argv[])
{
	char	*cause = NULL, *end;
	long	 lim;

	if (argc > 1 && ((nconn = strtol(argv[1], &end, 10)) < 1 ||
	    *end != '\0')) {
		fprintf(stderr, "usage: tryst-bench idle [connections]\n");
		return (2);
	}
	/* trystd inherits the limit: both sides need nconn files. */
	lim = bench_raise_nofile(nconn + SPARE_FDS);
	if (lim < nconn + SPARE_FDS) {
		printf("idle-conns: open files limited to %ld: %ld "
		    "connections instead of %ld\n", lim, lim - SPARE_FDS,
		    nconn);
		if ((nconn = lim - SPARE_FDS) < 1)
			return (1);
	}
	if (h_start(IDLE_CONF, &cause) == -1 ||
	    h_start2(IDLE_CONF, &cause) == -1) {
		fprintf(stderr, "bench-idle: %s\n", cause);
		return (1);
	}
	if (bench_run("idle-conns", body) != 0)
		return (1);
	h_stop();
	h_remove_dir();
	return (0);
}
