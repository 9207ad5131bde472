/*
 * bench-idle.c -- trystd's memory per idle connection. One trystd holds N
 * authenticated connections (HELLO with flags 0, then silence), a second,
 * fresh one holds N anonymous connections (CHALLENGE read, nothing sent);
 * VmRSS and Pss of each are read before the connections open and a second
 * after the last is idle. The anchor, bare-tls --hold (a libevent +
 * OpenSSL server with SSL_MODE_RELEASE_BUFFERS that keeps connections
 * open after the handshake), holds N TLS connections with the same
 * certificate. Prints bytes per connection; asserts nothing about size.
 *
 * Usage: tryst-bench idle [N, default 19000 or what the file limit
 * allows]
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <sodium.h>

#include "harness.h"
#include "bench.h"
#include "gen.h"

#define PER_ACCOUNT	64	/* max_connections_per_account at most */
#define SPARE_FDS	64	/* files besides the connections */

#define IDLE_CONF \
	"max_connections_per_account = 64\n" \
	"max_connections_per_ip = 1000000\n" \
	"code_requests_per_hour = 100\n" \
	"handshake_timeout_s = 120\n" \
	"anonymous_lifetime_s = 3600\n" \
	"idle_timeout_s = 3600\n"

static long		 nconn = 19000;
static struct tconn	**conns;
static long long	 per_conn[3];	/* authenticated, anonymous, bare */

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

/* Print the growth from m0 to m1 over nconn connections; the bytes per
 * connection of VmRSS. */
static long long
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
	return ((m1->rss - m0->rss) / nconn);
}

/* N connections online on the first trystd, PER_ACCOUNT per account. */
static void
authenticated(void)
{
	struct tconn_challenge	 ch;
	struct bench_mem	 m0, m1;
	struct account		*acc;
	long			 i, nacc;
	double			 t0;

	nacc = (nconn + PER_ACCOUNT - 1) / PER_ACCOUNT;
	acc = xcalloc((size_t)nacc, sizeof *acc);
	h_mint("+15550190000", nacc, acc);
	mem_now(H.trystd_pid, &m0);
	t0 = bench_now();
	for (i = 0; i < nconn; i++)
		hello(open_one(H.hostport, i, &ch), &ch, &acc[i / PER_ACCOUNT]);
	t0 = bench_now() - t0;
	mem_now(H.trystd_pid, &m1);
	per_conn[0] = report("authenticated", &m0, &m1, t0);
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
	per_conn[1] = report("anonymous", &m0, &m1, t0);
}

/* N TLS connections held by bare-tls --hold with H's certificate. */
static void
bare(void)
{
	struct sockaddr_in	 src, dst;
	struct bench_mem	 m0, m1;
	struct gconn		*gc;
	SSL_CTX			*ctx = gen_ctx();
	char			 port[16], cert[PATH_MAX + 16];
	char			 key[PATH_MAX + 16], log[PATH_MAX + 16];
	char			 why[96] = "";
	char			*argv[] = { "/proc/self/exe", "bare-tls",
				    "--hold", port, cert, key, NULL };
	pid_t			 pid;
	long			 i;
	double			 t0;
	int			 bport = h_proc_port(SOCK_STREAM);

	snprintf(port, sizeof port, "%d", bport);
	snprintf(cert, sizeof cert, "%s/cert.pem", H.dir);
	snprintf(key, sizeof key, "%s/key.pem", H.dir);
	snprintf(log, sizeof log, "%s/bare.log", H.dir);
	ck_assert_ptr_nonnull(ctx);
	ck_assert_int_gt(pid = h_spawn(argv, NULL, log), 0);
	memset(&src, 0, sizeof src);
	src.sin_family = AF_INET;
	src.sin_addr.s_addr = htonl(0x7f000009);
	dst = src;
	dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	dst.sin_port = htons((uint16_t)bport);
	gc = xcalloc((size_t)nconn, sizeof *gc);
	/* Until it listens. */
	for (i = 0; i < 100 && gen_tls(ctx, &src, &dst, 5, &gc[0], why,
	    sizeof why) != 0; i++)
		h_msleep(100);
	ck_assert_msg(i < 100, "bare-tls: %s", why);
	mem_now(pid, &m0);
	t0 = bench_now();
	for (i = 1; i < nconn; i++)
		ck_assert_msg(gen_tls(ctx, &src, &dst, 5, &gc[i], why,
		    sizeof why) == 0, "bare connection %ld: %s", i, why);
	t0 = bench_now() - t0;
	mem_now(pid, &m1);
	/* One connection was open before m0: the growth is of nconn - 1. */
	nconn--;
	per_conn[2] = report("bare TLS server (anchor)", &m0, &m1, t0);
	nconn++;
	for (i = 0; i < nconn; i++)
		gen_close(&gc[i]);
	free(gc);
	SSL_CTX_free(ctx);
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

/* The RESULT lines: bytes per connection against the bare server's. */
static void
results(void)
{
	struct bench_result	 b;
	char			 measure[2][96];

	memset(&b, 0, sizeof b);
	b.row = "idle";
	b.unit = "bytes per connection (RSS)";
	b.anchor = "bare TLS server, SSL_MODE_RELEASE_BUFFERS";
	b.anchor_value = (double)per_conn[2];
	snprintf(measure[0], sizeof measure[0], "authenticated, %ld on one "
	    "node", nconn);
	snprintf(measure[1], sizeof measure[1], "anonymous (CHALLENGE read), "
	    "%ld on one node", nconn);
	b.measure = measure[0];
	b.value = (double)per_conn[0];
	b.target = "<= 13,400 bytes";
	bench_result(&b);
	b.measure = measure[1];
	b.value = (double)per_conn[1];
	b.target = NULL;
	bench_result(&b);
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
	bare();
	results();
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
