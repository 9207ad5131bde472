/*
 * bench-discovery.c -- discovery against its anchors (issue 11):
 *	OPRF_EVAL elements per second of wall time and per second of the
 *	server's CPU time, batches of 1 element and of max_batch (1024),
 *	against libsodium's crypto_scalarmult_ristretto255 on one core;
 *	LOOKUP IDs per second of wall time and per server CPU-second, one ID
 *	per LOOKUP and max_batch, against Syncthing's discovery server
 *	stdiscosrv answering HTTPS GET /?device=ID on keep-alive
 *	connections (bench/stdisco.c).
 * trystd and stdiscosrv run on the first CPU this process may use; the
 * generator processes (one per CPU) and Redis on the others. The
 * generators share CONNS connections (CONNS_FULL with full batches, which
 * queue long enough), one request in flight on each, serve whichever
 * has its answer (poll), and check every answer. Half
 * the IDs asked exist (minted accounts; devices announced to stdiscosrv
 * through its -http mode beforehand), half do not, in both. DISCO_CONF
 * lifts every discovery limit of trystd so that none caps the rate.
 * Server CPU time comes from /proc (Redis's is printed beside: a LOOKUP
 * asks it one EXISTS per ID, an OPRF_EVAL one EVAL per batch, while
 * stdiscosrv keeps its database in its own process); a server that used
 * under 90 % of a core waited for its generators, and the output says
 * so. Asserts nothing about speed.
 *
 * Usage: tryst-bench discovery [SECONDS per measure, default 5]
 */
#include <sys/prctl.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <poll.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/ssl.h>
#include <check.h>
#include <sodium.h>

#include "harness.h"
#include "bench.h"
#include "gen.h"
#include "stdisco.h"

#define BATCH		PROTO_MAX_BATCH	/* max_batch, as configured */
#define IN_FLIGHT	4		/* batches of the order check */
#define KNOWN		4096		/* minted accounts, announced devices */
#define POOL		(2 * KNOWN)	/* IDs asked: even known, odd not */
#define MAX_GENS	32
#define CONNS		32		/* connections in all, ... */
#define CONNS_FULL	8		/* ... with full batches */
#define IO_TIMEOUT_S	10

/* No limit of trystd may cap the benchmark. */
#define DISCO_CONF \
	"max_batch = 1024\n" \
	"discovery_bucket = 10000000\n" \
	"discovery_refill_per_day = 1000000\n" \
	"lookups_per_minute = 10000000\n" \
	"max_connections = 1000000\n" \
	"max_connections_per_ip = 1000000\n" \
	"max_connections_per_account = 64\n"

enum mode { OPRF_1, OPRF_FULL, LOOKUP_1, LOOKUP_FULL, HTTP_GET, NMODES };

static const char *const mode_name[NMODES] = {
	"OPRF_EVAL, 1 element per batch",
	"OPRF_EVAL, 1024 elements per batch",
	"LOOKUP, 1 ID per batch",
	"LOOKUP, 1024 IDs per batch",
	"stdiscosrv GET /?device=ID",
};

/* What one generator did, sent up its pipe in one write. */
struct gen_report {
	long		 items;		/* elements or IDs answered */
	long		 found;		/* of which exist */
	long		 failed;	/* connections lost */
	double		 end;		/* when its last answer came */
	char		 why[96];	/* the last failure */
};

/* One measure's figures. */
struct result {
	long		 items;
	long		 found;
	long		 failed;
	double		 wall;
	double		 cpu;		/* the server's seconds */
	double		 redis_cpu;
};

static double		 secs = 5;
static int		 ngens, server_cpu;
static cpu_set_t	 server_cpus, gen_cpus;
static struct account	*accs;		/* KNOWN minted */
static uint8_t		 ids[POOL][ID_LEN];
static char		 devs[POOL][STDISCO_ID_LEN];
static uint8_t		 elems[IN_FLIGHT][BATCH * OPRF_ELEM];
static uint8_t		 first[IN_FLIGHT][OPRF_ELEM];
static uint8_t		 frame[PROTO_MAX_FRAME];

/* ---- OPRF in this process ----------------------------------------- */

/* This thread's CPU time in seconds. */
static double
thread_cpu(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_THREAD_CPUTIME_ID, &ts);
	return ((double)ts.tv_sec + (double)ts.tv_nsec / 1e9);
}

/* The scalar multiplication alone. */
static int
raw_mult(uint8_t *out, const uint8_t *sk, const uint8_t *e)
{
	return (crypto_scalarmult_ristretto255(out, sk, e));
}

/* What oprf_blind_evaluate does, on libsodium alone: the canonical,
 * non-identity check, then the multiplication. */
static int
raw_eval(uint8_t *out, const uint8_t *sk, const uint8_t *e)
{
	if (sodium_is_zero(e, 32) || (e[31] & 0x80) != 0 ||
	    crypto_core_ristretto255_is_valid_point(e) != 1)
		return (-1);
	return (crypto_scalarmult_ristretto255(out, sk, e));
}

/* Elements per CPU-second of fn over batches of BATCH for t seconds. */
static double
local_rate(int (*fn)(uint8_t *, const uint8_t *, const uint8_t *),
    const uint8_t sk[32], double t)
{
	uint8_t	 out[OPRF_ELEM];
	double	 t0 = thread_cpu(), dt;
	long	 n = 0;
	int	 i;

	do {
		for (i = 0; i < BATCH; i++)
			ck_assert_int_eq(fn(out, sk, elems[0] + 32 * i), 0);
		n += BATCH;
	} while ((dt = thread_cpu() - t0) < t);
	return ((double)n / dt);
}

/* IN_FLIGHT different batches on one connection: the first answer
 * checked element by element, and whether the answers came in order. */
static void
check_batches(void)
{
	uint8_t		 want[OPRF_ELEM];
	struct msg	 m;
	struct hc	*c = h_online(&accs[KNOWN - 1], 0);
	int		 i, j, k, order = 1;

	for (k = 0; k < IN_FLIGHT; k++) {
		memset(&m, 0, sizeof m);
		m.type = MSG_OPRF_EVAL;
		m.u.oprf.count = BATCH;
		m.u.oprf.elements = elems[k];
		h_send(c, &m);
	}
	for (k = 0; k < IN_FLIGHT; k++) {
		h_recv(c, &m);
		ck_assert_msg(m.type == MSG_OPRF_RESULT, "OPRF_EVAL: got %s",
		    proto_type_name(m.type));
		ck_assert_uint_eq(m.u.oprf.count, BATCH);
		for (j = 0; j < IN_FLIGHT; j++) {
			if (memcmp(m.u.oprf.elements, first[j], OPRF_ELEM) == 0)
				break;
		}
		ck_assert_msg(j < IN_FLIGHT, "OPRF_RESULT of no batch sent");
		order &= j == k;
		for (i = 0; k == 0 && i < BATCH; i++) {
			ck_assert_int_eq(oprf_blind_evaluate(want,
			    H.keys->oprf_sk, elems[j] + 32 * i), 0);
			ck_assert_int_eq(memcmp(want, m.u.oprf.elements +
			    32 * i, OPRF_ELEM), 0);
		}
	}
	printf("discovery: %d OPRF_EVAL batches on one connection came back "
	    "%s\n", IN_FLIGHT, order ? "in order" :
	    "OUT OF ORDER (OPRF_RESULT has no tag)");
	h_close(c);
}

/* ---- requests of a generator ---------------------------------------- */

/* Elements or IDs per request of mode. */
static int
per_request(enum mode mode)
{
	return (mode == OPRF_FULL || mode == LOOKUP_FULL ? BATCH : 1);
}

/* Connections per generator for mode. */
static int
conns(enum mode mode)
{
	int	 all = per_request(mode) > 1 ? CONNS_FULL : CONNS;

	return ((all + ngens - 1) / ngens);
}

/* Send the request of mode that asks the pool from pos on. */
static int
req_send(enum mode mode, struct gconn *c, long pos)
{
	struct msg	 m;
	size_t		 n;

	if (mode == HTTP_GET)
		return (stdisco_get(c, devs[pos]));
	memset(&m, 0, sizeof m);
	m.version = (uint8_t)c->version;
	if (mode == OPRF_1 || mode == OPRF_FULL) {
		m.type = MSG_OPRF_EVAL;
		m.u.oprf.count = (uint16_t)per_request(mode);
		m.u.oprf.elements = elems[0];
	} else {
		m.type = MSG_LOOKUP;
		m.u.lookup.count = (uint16_t)per_request(mode);
		m.u.lookup.ids = ids[pos];
	}
	if ((n = proto_encode(&m, frame, sizeof frame)) == 0)
		return (-1);
	return (SSL_write(c->ssl, frame, (int)n) == (int)n ? 0 : -1);
}

/* Receive and check the answer to the request at pos; count what it
 * answered into r. 0, or -1 and r->why. */
static int
req_recv(enum mode mode, struct gconn *c, long pos, struct gen_report *r)
{
	struct msg	 m;
	int		 i, n = per_request(mode), st, found, ok, oprf;

	if (mode == HTTP_GET) {
		if ((st = stdisco_response(c, r->why, sizeof r->why)) == -1)
			return (-1);
		if (st != (pos % 2 == 0 ? 200 : 404)) {
			snprintf(r->why, sizeof r->why, "HTTP %d for a device "
			    "%sannounced", st, pos % 2 == 0 ? "" : "not ");
			return (-1);
		}
		r->items++;
		r->found += st == 200;
		return (0);
	}
	if (gen_recv(c, frame, sizeof frame, &m, r->why, sizeof r->why) != 0)
		return (-1);
	/* An OPRF answer's first element, or a LOOKUP's every bit. */
	if ((oprf = mode == OPRF_1 || mode == OPRF_FULL))
		ok = m.type == MSG_OPRF_RESULT && m.u.oprf.count == n &&
		    memcmp(m.u.oprf.elements, first[0], OPRF_ELEM) == 0;
	else
		ok = m.type == MSG_LOOKUP_RESULT &&
		    m.u.lookup_result.count == n;
	if (!ok) {
		snprintf(r->why, sizeof r->why, "got %s %s", proto_type_name(
		    m.type), m.type == MSG_ERROR ? proto_err_name(
		    m.u.error.code) : "(or a wrong answer)");
		return (-1);
	}
	for (i = 0; !oprf && i < n; i++) {
		found = (m.u.lookup_result.bitmap[i / 8] >> (i % 8)) & 1;
		if (found != ((pos + i) % 2 == 0)) {
			snprintf(r->why, sizeof r->why, "LOOKUP: wrong bit");
			return (-1);
		}
		r->found += found;
	}
	r->items += n;
	return (0);
}

/* The nc connections of c, one request in flight on each, until
 * deadline; the answers counted into r. With one request in flight,
 * TLS holds no answer that poll cannot see. */
static void
gen_loop(enum mode mode, struct gconn *c, long *pos, int nc, double deadline,
    struct gen_report *r)
{
	struct pollfd	 pfd[CONNS];
	int		 nlive = 0, i, n = per_request(mode);

	for (i = 0; i < nc; i++) {
		pfd[i].fd = c[i].fd;
		pfd[i].events = POLLIN;
		if (req_send(mode, &c[i], pos[i]) == 0)
			nlive++;
		else {
			r->failed++;
			pfd[i].fd = -1;
		}
	}
	while (nlive > 0) {
		if (poll(pfd, (nfds_t)nc, IO_TIMEOUT_S * 1000) <= 0) {
			snprintf(r->why, sizeof r->why, "no answer in time");
			r->failed += nlive;
			break;
		}
		for (i = 0; i < nc; i++) {
			if (pfd[i].fd == -1 || pfd[i].revents == 0)
				continue;
			if (req_recv(mode, &c[i], pos[i], r) == 0) {
				pos[i] = (pos[i] + n) % POOL;
				if (bench_now() < deadline &&
				    req_send(mode, &c[i], pos[i]) == 0)
					continue;
				if (bench_now() < deadline)
					r->failed++;
			} else
				r->failed++;
			pfd[i].fd = -1;
			nlive--;
		}
	}
	r->end = bench_now();
}

/* Generator g: open its connections to port, say so up wfd, wait for
 * gofd to close, run for secs, report up wfd. Never returns. */
static void
gen_run(enum mode mode, int g, int port, int wfd, int gofd)
{
	struct gen_report	 r;
	struct gconn		 c[CONNS];
	struct sockaddr_in	 src, dst;
	SSL_CTX			*ctx;
	long			 pos[CONNS];
	char			 b;
	int			 i, nc = 0, k;

	/* Not the harness's handlers: they stop Redis and trystd. */
	signal(SIGTERM, SIG_DFL);
	signal(SIGINT, SIG_DFL);
	signal(SIGABRT, SIG_DFL);
	prctl(PR_SET_PDEATHSIG, SIGKILL);
	sched_setaffinity(0, sizeof gen_cpus, &gen_cpus);
	memset(&r, 0, sizeof r);
	memset(&dst, 0, sizeof dst);
	dst.sin_family = AF_INET;
	dst.sin_port = htons((uint16_t)port);
	dst.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	src = dst;
	src.sin_port = 0;
	if ((ctx = gen_ctx()) == NULL)
		_exit(1);
	SSL_CTX_set_read_ahead(ctx, 1);	/* one read(2) per record */
	for (i = 0; i < conns(mode); i++) {
		k = g * CONNS + i;
		if (mode == HTTP_GET ? stdisco_open(ctx, &src, &dst, &c[nc],
		    r.why, sizeof r.why) != 0 : gen_open(ctx, &src, &dst,
		    IO_TIMEOUT_S, &accs[k], &c[nc], r.why, sizeof r.why) != 0) {
			r.failed++;
			continue;
		}
		/* Spread the connections over the pool, batches aligned. */
		pos[nc++] = (long)k * per_request(mode) * 7 % POOL;
	}
	if (write(wfd, "r", 1) != 1 || read(gofd, &b, 1) != 0)
		_exit(1);
	gen_loop(mode, c, pos, nc, bench_now() + secs, &r);
	if (write(wfd, &r, sizeof r) != (ssize_t)sizeof r)
		_exit(1);
	_exit(0);
}

/* ---- the parent --------------------------------------------------- */

/* Run mode against server (pid) on port: generators connect, then all
 * start at once; their figures into res. */
static void
run_mode(enum mode mode, pid_t server, int port, struct result *res)
{
	struct gen_report	 r;
	pid_t			 gpid[MAX_GENS];
	int			 up[MAX_GENS], p[2], go[2], g;
	long long		 cpu0, red0;
	double			 t0;
	char			 b;

	memset(res, 0, sizeof *res);
	fflush(stdout);
	ck_assert_int_eq(pipe(go), 0);
	for (g = 0; g < ngens; g++) {
		ck_assert_int_eq(pipe(p), 0);
		ck_assert_int_ne(gpid[g] = fork(), -1);
		if (gpid[g] == 0) {
			close(p[0]);
			close(go[1]);
			gen_run(mode, g, port, p[1], go[0]);
		}
		close(p[1]);
		up[g] = p[0];
	}
	close(go[0]);
	for (g = 0; g < ngens; g++)
		bench_read_report(g, up[g], &b, 1, h_mono_ms() + 60000);
	cpu0 = bench_cpu_ms(server);
	red0 = bench_cpu_ms(H.redis_pid);
	t0 = bench_now();
	close(go[1]);
	for (g = 0; g < ngens; g++) {
		bench_read_report(g, up[g], &r, sizeof r, h_mono_ms() +
		    (int64_t)(secs + 2 * IO_TIMEOUT_S) * 1000);
		res->items += r.items;
		res->found += r.found;
		res->failed += r.failed;
		if (r.end - t0 > res->wall)
			res->wall = r.end - t0;
		if (r.failed > 0)
			printf("discovery:   generator %d: %ld connections "
			    "failed, the last: %s\n", g, r.failed, r.why);
		waitpid(gpid[g], NULL, 0);
		close(up[g]);
	}
	res->cpu = (double)(bench_cpu_ms(server) - cpu0) / 1000;
	res->redis_cpu = (double)(bench_cpu_ms(H.redis_pid) - red0) / 1000;
	ck_assert_msg(cpu0 >= 0 && kill(server, 0) == 0, "the server is gone");
	ck_assert_msg(res->items > 0, "%s: nothing answered", mode_name[mode]);
}

/* Print one measure's figures. */
static void
print_mode(enum mode mode, const struct result *r)
{
	printf("discovery: %s: %ld in %.2f s: %.0f/s wall; server CPU %.2f "
	    "s: %.0f per server CPU-second", mode_name[mode], r->items,
	    r->wall, r->items / r->wall, r->cpu, r->cpu > 0 ?
	    r->items / r->cpu : 0);
	if (mode != HTTP_GET)
		printf("; Redis CPU %.2f s", r->redis_cpu);
	if (mode == LOOKUP_1 || mode == LOOKUP_FULL || mode == HTTP_GET)
		printf("; %.0f %% found", 100.0 * r->found / r->items);
	printf("\n");
	if (!bench_busy(r->cpu, r->wall))
		printf("discovery: %s: the generators were the bottleneck: the "
		    "server used %.0f %% of one core\n", mode_name[mode],
		    100 * r->cpu / r->wall);
	fflush(stdout);
}

/* ---- stdiscosrv ----------------------------------------------------- */

/* Announce to stdiscosrv -http, then measure it over HTTPS on the server
 * CPU; 0, or -1 when it is not installed. */
static int
disco_run(int cpu, struct result *res)
{
	pid_t	 pid;
	int	 port = h_proc_port(SOCK_STREAM);

	if (!stdisco_installed())
		return (-1);
	pid = stdisco_start(1, port, -1);
	stdisco_announce(port, devs, POOL);
	stdisco_stop(pid);
	pid = stdisco_start(0, port, cpu);
	bench_pin(pid, &server_cpus);
	run_mode(HTTP_GET, pid, port, res);
	print_mode(HTTP_GET, res);
	stdisco_stop(pid);
	return (0);
}

/* ---- results ------------------------------------------------------ */

/* The two RESULT lines of an OPRF measure against raw. */
static void
result_oprf(enum mode mode, const struct result *r, double raw)
{
	struct bench_result	 b;

	memset(&b, 0, sizeof b);
	b.row = "discovery";
	b.measure = mode_name[mode];
	b.anchor = "libsodium scalarmult";
	b.anchor_value = raw;
	b.note = bench_busy(r->cpu, r->wall) ? NULL : "generator-bound";
	b.unit = "per server CPU-s";
	b.value = r->cpu > 0 ? r->items / r->cpu : 0;
	bench_result(&b);
	b.unit = "/s wall";
	b.value = r->items / r->wall;
	bench_result(&b);
}

/* The RESULT lines of a LOOKUP measure against stdiscosrv's (d, NULL
 * when it was not measured). */
static void
result_lookup(enum mode mode, const struct result *r,
    const struct result *d, const char *target)
{
	struct bench_result	 b;
	char			 measure[128];
	int			 busy = bench_busy(r->cpu, r->wall), dbusy;

	dbusy = d != NULL && bench_busy(d->cpu, d->wall);
	memset(&b, 0, sizeof b);
	b.row = "discovery";
	b.measure = mode_name[mode];
	b.anchor = d != NULL ? "stdiscosrv" : NULL;
	if (d == NULL)
		b.note = "stdiscosrv not installed";
	else if (!busy)
		b.note = dbusy ? "generator-bound" :
		    "generator-bound, stdiscosrv too";
	else if (!dbusy)
		b.note = "stdiscosrv generator-bound";
	b.unit = "per server CPU-s";
	b.value = r->cpu > 0 ? r->items / r->cpu : 0;
	b.anchor_value = d != NULL && d->cpu > 0 ? d->items / d->cpu : 0;
	b.target = target;
	bench_result(&b);
	/* Its store is in stdiscosrv's process; trystd's is Redis. */
	snprintf(measure, sizeof measure, "%s, trystd + Redis CPU",
	    mode_name[mode]);
	b.measure = measure;
	b.value = r->cpu + r->redis_cpu > 0 ? r->items / (r->cpu +
	    r->redis_cpu) : 0;
	b.target = NULL;
	bench_result(&b);
	b.measure = mode_name[mode];
	b.unit = "/s wall";
	b.value = r->items / r->wall;
	b.anchor_value = d != NULL ? d->items / d->wall : 0;
	bench_result(&b);
}

/* ---- the body ----------------------------------------------------- */

/* Random batches and their first answers; the rates in this process
 * (the anchor: the multiplication alone) into *raw. */
static void
local(double *raw)
{
	uint8_t	 sk[OPRF_SCALAR];
	double	 t = secs / 4 < 1 ? secs / 4 : 1;
	int	 i, k;

	for (k = 0; k < IN_FLIGHT; k++) {
		for (i = 0; i < BATCH; i++)
			crypto_core_ristretto255_random(elems[k] + 32 * i);
		ck_assert_int_eq(oprf_blind_evaluate(first[k],
		    H.keys->oprf_sk, elems[k]), 0);
	}
	crypto_core_ristretto255_scalar_random(sk);
	*raw = local_rate(raw_mult, sk, t);
	printf("discovery: libsodium crypto_scalarmult_ristretto255: %.0f "
	    "per CPU-second\n", *raw);
	printf("discovery: the same with oprf.c's checks: %.0f per "
	    "CPU-second\n", local_rate(raw_eval, sk, t));
	printf("discovery: oprf_blind_evaluate: %.0f per CPU-second\n",
	    local_rate(oprf_blind_evaluate, sk, t));
	fflush(stdout);
}

/* Accounts, IDs, the measures, the results. */
static void
body(void)
{
	struct result	 r[NMODES];
	double		 raw;
	int		 k, have_disco;

	local(&raw);
	accs = xcalloc(KNOWN, sizeof *accs);
	h_mint("+15550400000", KNOWN, accs);
	for (k = 0; k < POOL; k++) {
		if (k % 2 == 0)
			memcpy(ids[k], accs[k / 2].c.id, ID_LEN);
		else
			randombytes_buf(ids[k], ID_LEN);
	}
	bench_pin(H.trystd_pid, &server_cpus);
	bench_pin(H.redis_pid, &gen_cpus);
	check_batches();
	for (k = OPRF_1; k <= LOOKUP_FULL; k++) {
		run_mode(k, H.trystd_pid, H.tryst_port, &r[k]);
		print_mode(k, &r[k]);
	}
	if (!(have_disco = disco_run(server_cpu, &r[HTTP_GET]) == 0))
		printf("discovery: stdiscosrv (syncthing-discosrv) or taskset "
		    "is not installed: no anchor for LOOKUP\n");
	result_oprf(OPRF_1, &r[OPRF_1], raw);
	result_oprf(OPRF_FULL, &r[OPRF_FULL], raw);
	result_lookup(LOOKUP_1, &r[LOOKUP_1], have_disco ? &r[HTTP_GET] :
	    NULL, ">= 2x");
	result_lookup(LOOKUP_FULL, &r[LOOKUP_FULL], have_disco ?
	    &r[HTTP_GET] : NULL, ">= 10x");
	for (k = 0; k < KNOWN; k++)
		sodium_memzero(accs[k].sk, sizeof accs[k].sk);
	free(accs);
}

/* Arguments, CPUs, the harness; measure; stop. */
int
bench_discovery_main(int argc, char *argv[])
{
	char	*cause = NULL, *end;
	int	 ncpu;

	if (argc > 1 && ((secs = strtod(argv[1], &end)) < 1 || secs > 600 ||
	    *end != '\0')) {
		fprintf(stderr, "usage: tryst-bench discovery [seconds, "
		    "1-600]\n");
		return (2);
	}
	ncpu = bench_cpus(&server_cpus, &gen_cpus, &server_cpu);
	ngens = ncpu > 1 ? ncpu - 1 : 1;
	if (ngens > MAX_GENS)
		ngens = MAX_GENS;
	printf("discovery: %d CPUs: servers on CPU %d; generator processes: "
	    "%d (%d connections each, %d with full batches, one request in "
	    "flight on each) and Redis on the others; %.0f s per measure; "
	    "%d of %d IDs asked exist; discovery limits lifted\n", ncpu,
	    server_cpu, ngens, conns(LOOKUP_1), conns(LOOKUP_FULL), secs,
	    KNOWN, POOL);
	if (h_start(DISCO_CONF, &cause) == -1) {
		fprintf(stderr, "tryst-bench discovery: %s\n", cause);
		return (1);
	}
	if (bench_run("discovery", body) != 0)
		return (1);
	h_stop();
	h_remove_dir();
	return (0);
}
