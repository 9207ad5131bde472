/*
 * lookup.c -- discovery (PROTOCOL.md §5.3): numbers are blinded, sent as
 * OPRF_EVAL, finalised into IDs and cached in the state file "ids" (one
 * "NUMBER HEXID" line each), so that a number costs a discovery token
 * once; LOOKUP then says which IDs have accounts. The cache also names
 * callers: listen knows a caller only by ID.
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "client.h"

#define IDS_FILE	"ids"
#define IDS_MAX_FILE	(4 * 1024 * 1024)

/* Find number in the cache text; 0 with id, or -1. */
static int
cache_find(const char *text, const char *number, uint8_t id[ID_LEN])
{
	const char	*line, *end;
	char		 hex[2 * ID_LEN + 1];
	size_t		 n = strlen(number);

	for (line = text; *line != '\0'; line = end + (*end != '\0')) {
		end = line + strcspn(line, "\n");
		if ((size_t)(end - line) != n + 1 + 2 * ID_LEN ||
		    strncmp(line, number, n) != 0 || line[n] != ' ')
			continue;
		memcpy(hex, line + n + 1, 2 * ID_LEN);
		hex[2 * ID_LEN] = '\0';
		if (hex_decode(id, ID_LEN, hex) == 0)
			return (0);
	}
	return (-1);
}

/* The cache file's text, or "" when there is none. Caller frees. */
static char *
cache_read(const char *dir)
{
	char	*path = state_path(dir, IDS_FILE), *text, *cause;

	if ((text = file_read_small(path, IDS_MAX_FILE, NULL,
	    &cause)) == NULL) {
		free(cause);
		text = xstrdup("");
	}
	free(path);
	return (text);
}

/* The ID of a cached number. */
int
lookup_cached(const char *dir, const char *number, uint8_t id[ID_LEN])
{
	char	*text = cache_read(dir);
	int	 rc;

	rc = cache_find(text, number, id);
	free(text);
	return (rc);
}

/* The cached number of id, else the first 16 hex digits of id. */
void
lookup_name(const char *dir, const uint8_t id[ID_LEN], char *out,
    size_t outlen)
{
	char	*text = cache_read(dir), *line, *end, hex[2 * ID_LEN + 1];
	size_t	 n;

	hex_encode(hex, id, ID_LEN);
	for (line = text; *line != '\0'; line = end + (*end != '\0')) {
		end = line + strcspn(line, "\n");
		n = strcspn(line, " \n");
		if (line + n + 1 + 2 * ID_LEN == end &&
		    strncmp(line + n + 1, hex, 2 * ID_LEN) == 0 &&
		    n < TRYST_NUMBER_MAX) {
			snprintf(out, outlen, "%.*s", (int)n, line);
			free(text);
			return;
		}
	}
	snprintf(out, outlen, "%.16s", hex);
	free(text);
}

/* Add n numbers and their IDs to the cache, after what is there. */
static void
cache_add(const char *dir, char (*numbers)[TRYST_NUMBER_MAX], int n,
    uint8_t (*ids)[ID_LEN])
{
	char	*text = cache_read(dir), *old, *path, *cause;
	char	 hex[2 * ID_LEN + 1];
	uint8_t	 id[ID_LEN];
	int	 i;

	for (i = 0; i < n; i++) {
		if (cache_find(text, numbers[i], id) == 0)
			continue;
		hex_encode(hex, ids[i], ID_LEN);
		old = text;
		xasprintf(&text, "%s%s %s\n", old, numbers[i], hex);
		free(old);
	}
	path = state_path(dir, IDS_FILE);
	if (file_write_atomic(path, text, strlen(text), 0600, 0,
	    &cause) != 0) {
		warnx("%s", cause);
		free(cause);
	}
	free(path);
	free(text);
}

/* One OPRF_EVAL of n blinded numbers; finalise into ids. */
static int
oprf_batch(struct online *o, char (*numbers)[TRYST_NUMBER_MAX], int n,
    uint8_t (*ids)[ID_LEN])
{
	uint8_t		*blinds, *elems, out[OPRF_OUT];
	struct msg	 m;
	int		 i, rc = -1;

	blinds = sodium_malloc((size_t)n * OPRF_SCALAR);
	elems = xmalloc((size_t)n * OPRF_ELEM);
	if (blinds == NULL)
		fatal("sodium_malloc");
	for (i = 0; i < n; i++) {
		if (oprf_blind(blinds + i * OPRF_SCALAR, elems + i * OPRF_ELEM,
		    (const uint8_t *)numbers[i], strlen(numbers[i]),
		    NULL) != 0)
			fatalx("cannot blind %s", numbers[i]);
	}
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
	for (i = 0; i < n; i++) {
		if (oprf_finalize(out, (const uint8_t *)numbers[i],
		    strlen(numbers[i]), blinds + i * OPRF_SCALAR,
		    m.u.oprf.elements + i * OPRF_ELEM) != 0) {
			warnx("the server sent an invalid OPRF element");
			goto out;
		}
		memcpy(ids[i], out, ID_LEN);
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
	char		(*todo)[TRYST_NUMBER_MAX];
	uint8_t		(*got)[ID_LEN];
	int		 i, k = 0, at, rc = 0, batch;

	todo = xcalloc((size_t)n, sizeof *todo);
	got = xcalloc((size_t)n, sizeof *got);
	for (i = 0; i < n; i++) {
		if (lookup_cached(o->ctx->dir, numbers[i], ids[i]) != 0)
			memcpy(todo[k++], numbers[i], TRYST_NUMBER_MAX);
	}
	for (at = 0; at < k && rc == 0; at += batch) {
		batch = k - at < o->max_batch ? k - at : o->max_batch;
		if ((rc = oprf_batch(o, todo + at, batch, got + at)) == 0)
			cache_add(o->ctx->dir, todo + at, batch, got + at);
	}
	for (i = 0; i < n && rc == 0; i++) {
		if (lookup_cached(o->ctx->dir, numbers[i], ids[i]) != 0) {
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
