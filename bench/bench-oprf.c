/*
 * bench-oprf.c -- OPRF BlindEvaluate throughput, three ways: libsodium's
 * raw cost for a batch (the checks oprf.c makes, then the scalar
 * multiplication), oprf_blind_evaluate in this process, and OPRF_EVAL
 * batches against a real trystd over TLS (one at a time, then several in
 * flight). Prints elements per second and the ratios; asserts nothing
 * about speed.
 *
 * Usage: bench-oprf [seconds per measure, default 3]
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <sodium.h>

#include "harness.h"
#include "bench.h"

#define BATCH		1024
#define IN_FLIGHT	4
#define N_OPRF		"+15550190001"

static double	 secs = 3.0;
static uint8_t	 elems[IN_FLIGHT][BATCH * OPRF_ELEM];
static uint8_t	 first[IN_FLIGHT][OPRF_ELEM];	/* each batch's first answer */

/* What oprf_blind_evaluate does, on libsodium alone: the canonical,
 * non-identity check, then the multiplication. */
static int
raw_eval(uint8_t out[32], const uint8_t sk[32], const uint8_t e[32])
{
	if (sodium_is_zero(e, 32) || (e[31] & 0x80) != 0 ||
	    crypto_core_ristretto255_is_valid_point(e) != 1)
		return (-1);
	return (crypto_scalarmult_ristretto255(out, sk, e));
}

/* Elements per second of fn over batches of BATCH for secs seconds. */
static double
local_rate(int (*fn)(uint8_t *, const uint8_t *, const uint8_t *),
    const uint8_t sk[32])
{
	uint8_t	 out[OPRF_ELEM];
	double	 t0 = bench_now(), t;
	long	 n = 0;
	int	 i;

	do {
		for (i = 0; i < BATCH; i++)
			ck_assert_int_eq(fn(out, sk, elems[0] + 32 * i), 0);
		n += BATCH;
	} while ((t = bench_now() - t0) < secs);
	return ((double)n / t);
}

/* Send one OPRF_EVAL of batch k. */
static void
send_batch(struct hc *c, int k)
{
	struct msg	 m;

	memset(&m, 0, sizeof m);
	m.type = MSG_OPRF_EVAL;
	m.u.oprf.count = BATCH;
	m.u.oprf.elements = elems[k];
	h_send(c, &m);
}

/* Receive one OPRF_RESULT of BATCH elements; its batch index (by the
 * first element, which differs between batches), or -1. */
static int
recv_batch(struct hc *c)
{
	struct msg	 m;
	int		 k;

	h_recv(c, &m);
	ck_assert_msg(m.type == MSG_OPRF_RESULT, "OPRF_EVAL: got %s %s",
	    proto_type_name(m.type), m.type == MSG_ERROR ?
	    proto_err_name(m.u.error.code) : "");
	ck_assert_uint_eq(m.u.oprf.count, BATCH);
	for (k = 0; k < IN_FLIGHT; k++) {
		if (memcmp(first[k], m.u.oprf.elements, OPRF_ELEM) == 0)
			return (k);
	}
	return (-1);
}

/* Elements per second of OPRF_EVAL over nc connections, each with depth
 * batches in flight; *order is cleared when a connection's results came
 * back out of order. */
static double
remote_rate(struct hc **c, int nc, int depth, int *order)
{
	double	 t0 = bench_now(), t = 0;
	long	 n = 0;
	int	 sent[IN_FLIGHT] = { 0 }, got[IN_FLIGHT] = { 0 };
	int	 i, k, busy;

	for (i = 0; i < nc; i++) {
		for (; sent[i] < depth; sent[i]++)
			send_batch(c[i], sent[i] % IN_FLIGHT);
	}
	do {
		busy = 0;
		for (i = 0; i < nc; i++) {
			if (got[i] == sent[i])
				continue;
			k = recv_batch(c[i]);
			ck_assert_msg(k != -1, "OPRF_RESULT of no batch sent");
			if (k != got[i]++ % IN_FLIGHT)
				*order = 0;
			n += BATCH;
			if ((t = bench_now() - t0) < secs)
				send_batch(c[i], sent[i]++ % IN_FLIGHT);
			busy = 1;
		}
	} while (busy);
	return ((double)n / t);
}

/* Check the server's first answer element by element. */
static void
check_batch(struct hc *c)
{
	uint8_t		 want[OPRF_ELEM];
	struct msg	 m;
	int		 i;

	send_batch(c, 0);
	h_recv(c, &m);
	ck_assert_msg(m.type == MSG_OPRF_RESULT, "OPRF_EVAL: got %s",
	    proto_type_name(m.type));
	ck_assert_uint_eq(m.u.oprf.count, BATCH);
	for (i = 0; i < BATCH; i++) {
		ck_assert_int_eq(oprf_blind_evaluate(want, H.keys->oprf_sk,
		    elems[0] + 32 * i), 0);
		ck_assert_int_eq(memcmp(want, m.u.oprf.elements + 32 * i,
		    OPRF_ELEM), 0);
	}
}

/* Print one figure and its share of the raw rate. */
static void
report(const char *what, double rate, double raw)
{
	printf("oprf: %-38s %8.0f elem/s", what, rate);
	if (raw > 0)
		printf("  (%.3f of raw)", rate / raw);
	printf("\n");
}

/* Batches over TLS: one connection one at a time, one connection with
 * IN_FLIGHT in flight, two connections with two each. */
static void
remote(double raw)
{
	struct account	 a;
	struct hc	*c[2];
	int		 k, order = 1;

	for (k = 0; k < IN_FLIGHT; k++)
		ck_assert_int_eq(oprf_blind_evaluate(first[k],
		    H.keys->oprf_sk, elems[k]), 0);
	h_register(N_OPRF, &a);
	c[0] = h_online(&a, 0);
	c[1] = h_online(&a, 0);
	check_batch(c[0]);
	report("OPRF_EVAL over TLS, 1 in flight", remote_rate(c, 1, 1,
	    &order), raw);
	report("OPRF_EVAL over TLS, 4 in flight", remote_rate(c, 1,
	    IN_FLIGHT, &order), raw);
	report("OPRF_EVAL over TLS, 2 conns x 2", remote_rate(c, 2, 2,
	    &order), raw);
	printf("oprf: results on one connection came back %s\n",
	    order ? "in order" : "OUT OF ORDER (OPRF_RESULT has no tag)");
	h_close(c[0]);
	h_close(c[1]);
}

/* The measures. */
static void
body(void)
{
	uint8_t		 sk[OPRF_SCALAR];
	double		 raw;
	int		 i, k;

	for (k = 0; k < IN_FLIGHT; k++) {
		for (i = 0; i < BATCH; i++)
			crypto_core_ristretto255_random(elems[k] + 32 * i);
	}
	crypto_core_ristretto255_scalar_random(sk);
	printf("oprf: batches of %d elements, %.1f s per measure, %ld CPUs\n",
	    BATCH, secs, sysconf(_SC_NPROCESSORS_ONLN));
	raw = local_rate(raw_eval, sk);
	report("libsodium raw (checks + scalarmult)", raw, 0);
	report("oprf_blind_evaluate in-process", local_rate(
	    oprf_blind_evaluate, sk), raw);
	fflush(stdout);
	remote(raw);
	fflush(stdout);
}

/* Start trystd, measure, stop. */
int
bench_oprf_main(int argc, char *argv[])
{
	char	*cause = NULL;

	if (argc > 1 && (secs = atof(argv[1])) <= 0) {
		fprintf(stderr, "usage: tryst-bench oprf [seconds]\n");
		return (2);
	}
	if (h_start("discovery_bucket = 10000000\n", &cause) == -1) {
		fprintf(stderr, "bench-oprf: %s\n", cause);
		return (1);
	}
	if (bench_run("oprf", body) != 0)
		return (1);
	h_stop();
	h_remove_dir();
	return (0);
}
