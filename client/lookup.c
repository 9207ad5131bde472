/*
 * lookup.c -- discovery (PROTOCOL.md §5.3) for the CLI: tryst lookup
 * prints what libtryst's tryst_lookup found, and lookup_ids finds IDs
 * over an online connection a command already has (tryst chat and send,
 * contacts). Both take the cache and the OPRF steps from ids.c.
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
		if (ids_cached(o->ctx->blobs, numbers[i], ids[i]) != 0)
			memcpy(todo[k++], numbers[i], TRYST_NUMBER_MAX);
	}
	for (at = 0; at < k && rc == 0; at += batch) {
		batch = k - at < o->max_batch ? k - at : o->max_batch;
		if ((rc = oprf_batch(o, todo + at, batch, got + at)) == 0 &&
		    ids_add(o->ctx->blobs, todo + at, batch, got + at,
		    &cause) != 0) {
			warnx("%s", cause);
			free(cause);
		}
	}
	for (i = 0; i < n && rc == 0; i++) {
		if (ids_cached(o->ctx->blobs, numbers[i], ids[i]) != 0) {
			warnx("%s: lost from the cache of IDs", numbers[i]);
			rc = -1;
		}
	}
	free(todo);
	free(got);
	return (rc);
}

/* The library's notices (moving on from a server that failed). */
static void
lookup_notice(tryst_t *t, const char *text, void *user)
{
	(void)t, (void)user;
	warnx("%s", text);
}

/* Print which numbers have accounts, in the order given. */
static void
lookup_done(tryst_t *t, const tryst_error *e, const tryst_lookup_result *res,
    void *user)
{
	int	 i, n;

	cli_done(t, e, user);
	if (e != NULL)
		return;
	n = tryst_lookup_count(res);
	for (i = 0; i < n; i++)
		printf("%s %s\n", tryst_lookup_number(res, i),
		    tryst_lookup_registered(res, i) == 1 ? "has an account" :
		    "has no account");
}

/* tryst lookup NUMBER...: which of these numbers have accounts. */
int
lookup_cmd(int argc, char **argv)
{
	struct tryst_ctx	 c;
	struct cli_result	 r;
	tryst_error		*e = NULL;
	tryst_t			*t;
	char			(*numbers)[TRYST_NUMBER_MAX];
	const char		**list;
	int			 i, n = argc - 1, rc;

	if (n < 1)
		tryst_usage();
	tryst_ctx_load(&c);
	numbers = xcalloc((size_t)n, sizeof *numbers);
	list = xcalloc((size_t)n, sizeof *list);
	for (i = 0; i < n; i++) {
		tryst_number(&c, argv[i + 1], numbers[i]);
		list[i] = numbers[i];
	}
	tryst_ctx_free(&c);
	t = cli_lib();
	tryst_on_notice(t, lookup_notice, NULL);
	memset(&r, 0, sizeof r);
	if (tryst_lookup(t, list, n, lookup_done, &r, &e) != 0)
		errx(1, "%s", tryst_error_message(e));
	rc = cli_wait(t, &r);
	free(r.message);
	tryst_destroy(t);
	free(list);
	free(numbers);
	return (rc);
}
