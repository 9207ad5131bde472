/*
 * ids.c -- what discovery (PROTOCOL.md §5.3) is made of, with no socket:
 * the cache of IDs in the state blob "ids" (one "NUMBER HEXID" line
 * each, so that a number costs a discovery token once; it also names
 * callers, whom listen knows only by ID), and the client's two OPRF
 * steps around OPRF_EVAL. libtryst's tryst_lookup uses them, and the
 * CLI shares the blob through it.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "client.h"

#define IDS_MAX_FILE	(4 * 1024 * 1024)

/* Find number in the cache text; 0 with id, or -1. */
int
ids_find(const char *text, const char *number, uint8_t id[ID_LEN])
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

/* Find the number of id in the cache text: 0 with it in out, or -1. */
int
ids_find_number(const char *text, const uint8_t id[ID_LEN], char *out,
    size_t outlen)
{
	const char	*line, *end;
	char		 hex[2 * ID_LEN + 1];
	size_t		 n;

	hex_encode(hex, id, ID_LEN);
	for (line = text; *line != '\0'; line = end + (*end != '\0')) {
		end = line + strcspn(line, "\n");
		n = strcspn(line, " \n");
		if (line + n + 1 + 2 * ID_LEN == end &&
		    strncasecmp(line + n + 1, hex, 2 * ID_LEN) == 0 &&
		    n > 0 && n < TRYST_NUMBER_MAX) {
			snprintf(out, outlen, "%.*s", (int)n, line);
			return (0);
		}
	}
	return (-1);
}

/* text with a line for each of the n numbers it lacks. Caller frees. */
char *
ids_append(const char *text, char (*numbers)[TRYST_NUMBER_MAX], int n,
    uint8_t (*ids)[ID_LEN])
{
	char	*out = xstrdup(text), *old, hex[2 * ID_LEN + 1];
	uint8_t	 id[ID_LEN];
	int	 i;

	for (i = 0; i < n; i++) {
		if (ids_find(out, numbers[i], id) == 0)
			continue;
		hex_encode(hex, ids[i], ID_LEN);
		old = out;
		xasprintf(&out, "%s%s%s %s\n", old, *old != '\0' &&
		    old[strlen(old) - 1] != '\n' ? "\n" : "", numbers[i], hex);
		free(old);
	}
	return (out);
}

/* The cache's text, "" when there is none, NULL when it cannot be
 * read. Caller frees. */
char *
ids_read(const struct blobs *b, char **cause)
{
	char	*text;
	int	 rc;

	if ((rc = blobs_load(b, IDS_FILE, IDS_MAX_FILE, &text, NULL,
	    cause)) == BLOBS_ABSENT)
		return (xstrdup(""));
	return (rc == 0 ? text : NULL);
}

/* The cache's text for a look that changes nothing: "" also when it
 * cannot be read. */
static char *
read_quiet(const struct blobs *b)
{
	char	*text, *cause;

	if ((text = ids_read(b, &cause)) == NULL) {
		free(cause);
		text = xstrdup("");
	}
	return (text);
}

/* The ID of a cached number. */
int
ids_cached(const struct blobs *b, const char *number, uint8_t id[ID_LEN])
{
	char	*text = read_quiet(b);
	int	 rc;

	rc = ids_find(text, number, id);
	free(text);
	return (rc);
}

/* The cached number of id, else the first 16 hex digits of id. */
void
ids_name(const struct blobs *b, const uint8_t id[ID_LEN], char *out,
    size_t outlen)
{
	char	*text = read_quiet(b), hex[2 * ID_LEN + 1];

	if (ids_find_number(text, id, out, outlen) != 0) {
		hex_encode(hex, id, ID_LEN);
		snprintf(out, outlen, "%.16s", hex);
	}
	free(text);
}

/* Add n numbers and their IDs to the cache, after what is there; a
 * cache that cannot be read is left alone. */
int
ids_add(const struct blobs *b, char (*numbers)[TRYST_NUMBER_MAX], int n,
    uint8_t (*ids)[ID_LEN], char **cause)
{
	char	*old, *text;
	int	 rc;

	if ((old = ids_read(b, cause)) == NULL)
		return (-1);
	text = ids_append(old, numbers, n, ids);
	free(old);
	rc = blobs_save(b, IDS_FILE, text, strlen(text), 0, cause);
	free(text);
	return (rc);
}

/* Blind n numbers for OPRF_EVAL. */
int
ids_blind(char (*numbers)[TRYST_NUMBER_MAX], int n, uint8_t *blinds,
    uint8_t *elems)
{
	int	 i;

	for (i = 0; i < n; i++) {
		if (oprf_blind(blinds + i * OPRF_SCALAR, elems + i * OPRF_ELEM,
		    (const uint8_t *)numbers[i], strlen(numbers[i]),
		    NULL) != 0)
			return (-1);
	}
	return (0);
}

/* Finalise OPRF_RESULT's elements into IDs. */
int
ids_finalize(char (*numbers)[TRYST_NUMBER_MAX], int n,
    const uint8_t *blinds, const uint8_t *elems, uint8_t (*ids)[ID_LEN])
{
	uint8_t	 out[OPRF_OUT];
	int	 i;

	for (i = 0; i < n; i++) {
		if (oprf_finalize(out, (const uint8_t *)numbers[i],
		    strlen(numbers[i]), blinds + i * OPRF_SCALAR,
		    elems + i * OPRF_ELEM) != 0)
			return (-1);
		memcpy(ids[i], out, ID_LEN);
	}
	sodium_memzero(out, sizeof out);
	return (0);
}
