/*
 * lookup.c -- discovery (PROTOCOL.md §5.3) over an online connection:
 * lookup_ids finds IDs (tryst lookup, chat and send, contacts), then
 * LOOKUP says which have accounts. The cache and the OPRF steps are
 * ids.c's.
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "client.h"

/* One OPRF_EVAL of n blinded numbers; finalise into ids. */
static int
oprf_batch(struct online *o, char (*numbers)[TRYST_NUMBER_MAX], int n,
    uint8_t (*ids)[ID_LEN])
{
	uint8_t		*blinds, *elems;
	struct msg	 m;
	int		 rc = -1;

	if ((blinds = sodium_malloc((size_t)n * OPRF_SCALAR)) == NULL)
		fatal("sodium_malloc");
	elems = xmalloc((size_t)n * OPRF_ELEM);
	if (ids_blind(numbers, n, blinds, elems) != 0)
		fatalx("cannot blind %s", numbers[0]);
	memset(&m, 0, sizeof m);
	m.type = MSG_OPRF_EVAL;
	m.u.oprf.count = (uint16_t)n;
	m.u.oprf.elements = elems;
	if (online_send(o, &m) != 0 || online_recv(o, &m,
	    TRYST_REQUEST_MS) != 1) {
		warnx("no answer to OPRF_EVAL from the server");
		goto out;
	}
	if (m.type != MSG_OPRF_RESULT || m.u.oprf.count != n) {
		tryst_unexpected(&m);
		goto out;
	}
	if (ids_finalize(numbers, n, blinds, m.u.oprf.elements, ids) != 0) {
		warnx("the server sent an invalid OPRF element");
		goto out;
	}
	rc = 0;
out:
	sodium_free(blinds);
	free(elems);
	return (rc);
}

/* The IDs of n numbers: cached ones free, the rest through the OPRF. */
int
lookup_ids(struct online *o, char (*numbers)[TRYST_NUMBER_MAX], int n,
    uint8_t (*ids)[ID_LEN])
{
	char		(*todo)[TRYST_NUMBER_MAX], *cause;
	uint8_t		(*got)[ID_LEN];
	int		 i, k = 0, at, rc = 0, batch;

	todo = xcalloc((size_t)n, sizeof *todo);
	got = xcalloc((size_t)n, sizeof *got);
	for (i = 0; i < n; i++) {
		if (ids_cached(o->ctx->dir, numbers[i], ids[i]) != 0)
			memcpy(todo[k++], numbers[i], TRYST_NUMBER_MAX);
	}
	for (at = 0; at < k && rc == 0; at += batch) {
		batch = k - at < o->max_batch ? k - at : o->max_batch;
		if ((rc = oprf_batch(o, todo + at, batch, got + at)) == 0 &&
		    ids_add(o->ctx->dir, todo + at, batch, got + at,
		    &cause) != 0) {
			warnx("%s", cause);
			free(cause);
		}
	}
	for (i = 0; i < n && rc == 0; i++) {
		if (ids_cached(o->ctx->dir, numbers[i], ids[i]) != 0) {
			warnx("%s: lost from the cache of IDs", numbers[i]);
			rc = -1;
		}
	}
	free(todo);
	free(got);
	return (rc);
}

/* LOOKUP one batch and print the answers. */
static int
lookup_batch(struct online *o, char (*numbers)[TRYST_NUMBER_MAX], int n,
    uint8_t (*ids)[ID_LEN])
{
	struct msg	 m;
	int		 i, bit;

	memset(&m, 0, sizeof m);
	m.type = MSG_LOOKUP;
	m.u.lookup.count = (uint16_t)n;
	m.u.lookup.ids = (const uint8_t *)ids;
	if (online_send(o, &m) != 0 || online_recv(o, &m,
	    TRYST_REQUEST_MS) != 1) {
		warnx("no answer to LOOKUP from the server");
		return (-1);
	}
	if (m.type != MSG_LOOKUP_RESULT || m.u.lookup_result.count != n)
		return (-tryst_unexpected(&m));
	for (i = 0; i < n; i++) {
		bit = m.u.lookup_result.bitmap[i / 8] >> (i % 8) & 1;
		printf("%s %s\n", numbers[i], bit ? "has an account" :
		    "has no account");
	}
	return (0);
}

/* tryst lookup NUMBER...: which of these numbers have accounts. */
int
lookup_cmd(int argc, char **argv)
{
	struct tryst_ctx	 c;
	struct online		 o;
	char			(*numbers)[TRYST_NUMBER_MAX], *cause;
	uint8_t			(*ids)[ID_LEN];
	int			 i, n = argc - 1, at, batch, rc = 1;

	if (n < 1)
		tryst_usage();
	tryst_ctx_load(&c);
	numbers = xcalloc((size_t)n, sizeof *numbers);
	ids = xcalloc((size_t)n, sizeof *ids);
	for (i = 0; i < n; i++)
		tryst_number(&c, argv[i + 1], numbers[i]);
	if (online_open(&o, &c, 0, 0, &cause) != 0)
		errx(1, "%s", cause);
	if (lookup_ids(&o, numbers, n, ids) != 0)
		goto out;
	for (at = 0; at < n; at += batch) {
		batch = n - at < o.max_batch ? n - at : o.max_batch;
		if (lookup_batch(&o, numbers + at, batch, ids + at) != 0)
			goto out;
	}
	rc = 0;
out:
	online_close(&o);
	free(numbers);
	free(ids);
	tryst_ctx_free(&c);
	return (rc);
}
