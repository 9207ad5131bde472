/*
 * lookup.c -- discovery in libtryst (PROTOCOL.md §5.3): which numbers
 * have accounts. IDs come from the cache of IDs (ids.c, the CLI's file)
 * or, for the numbers it lacks, from OPRF_EVAL batches that are then
 * cached; LOOKUP batches say which IDs have accounts. All of it is one
 * exchange on a connection that says HELLO (request_exchange).
 */
#include <sys/types.h>

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lib.h"

#define LOOKUP_REQUEST_MS	30000
#define LOOKUP_MAX		65536	/* numbers in one tryst_lookup */

struct tryst_lookup_result {
	int		 n;
	char		(*number)[TRYST_NUMBER_MAX];
	char		(*hex)[2 * ID_LEN + 1];
	uint8_t		(*id)[ID_LEN];
	uint8_t		*registered;
	uint8_t		*cached;
};

struct lookup {
	struct tryst_lookup_result res;
	char		(*todo)[TRYST_NUMBER_MAX];	/* not cached */
	int		*todo_at;	/* their places in res */
	int		 ntodo;
	int		 asking;	/* MSG_OPRF_EVAL, then MSG_LOOKUP */
	int		 at;		/* next of todo, then of res */
	int		 batch;		/* in flight */
	uint8_t		*blinds;	/* sodium_malloc'd, max_batch of them */
	uint8_t		*elems;
	uint8_t		(*got)[ID_LEN];
	tryst_lookup_fn	 fn;
	void		*user;
};

/* Free a lookup and its result. */
static void
lookup_free(void *arg)
{
	struct lookup	*l = arg;

	free(l->res.number);
	free(l->res.hex);
	free(l->res.id);
	free(l->res.registered);
	free(l->res.cached);
	free(l->todo);
	free(l->todo_at);
	if (l->blinds != NULL)
		sodium_free(l->blinds);
	free(l->elems);
	free(l->got);
	free(l);
}

/* OPRF_RESULT of the batch in flight: its IDs, kept and cached. */
static struct tryst_error *
oprf_answer(struct tryst *t, struct lookup *l, const struct msg *m)
{
	char	*cause;
	int	 i;

	if (m->type != MSG_OPRF_RESULT || m->u.oprf.count != l->batch)
		return (lib_err(TRYST_ESERVER, "unexpected %s in answer to "
		    "OPRF_EVAL", proto_type_name(m->type)));
	if (ids_finalize(l->todo + l->at, l->batch, l->blinds,
	    m->u.oprf.elements, l->got) != 0)
		return (lib_err(TRYST_ESERVER, "the server sent an invalid "
		    "OPRF element"));
	for (i = 0; i < l->batch; i++)
		memcpy(l->res.id[l->todo_at[l->at + i]], l->got[i], ID_LEN);
	if (ids_add(t->blobs, l->todo + l->at, l->batch, l->got, &cause) != 0) {
		lib_notice(t, "%s", cause);	/* the IDs are known anyway */
		free(cause);
	}
	l->at += l->batch;
	return (NULL);
}

/* LOOKUP_RESULT of the batch in flight: bit i says res[at + i]. */
static struct tryst_error *
lookup_answer(struct lookup *l, const struct msg *m)
{
	const uint8_t	*bits = m->u.lookup_result.bitmap;
	int		 i;

	if (m->type != MSG_LOOKUP_RESULT ||
	    m->u.lookup_result.count != l->batch)
		return (lib_err(TRYST_ESERVER, "unexpected %s in answer to "
		    "LOOKUP", proto_type_name(m->type)));
	for (i = 0; i < l->batch; i++)
		l->res.registered[l->at + i] = bits[i / 8] >> (i % 8) & 1;
	l->at += l->batch;
	return (NULL);
}

/* Send the next batch: OPRF_EVAL while numbers lack IDs, then LOOKUP.
 * Nothing is sent when all is known. */
static struct tryst_error *
send_next(struct request *rq, struct lookup *l)
{
	struct msg	 m;
	int		 left;

	if (l->asking == MSG_OPRF_EVAL && l->at == l->ntodo) {
		l->asking = MSG_LOOKUP;
		l->at = 0;
	}
	left = (l->asking == MSG_OPRF_EVAL ? l->ntodo : l->res.n) - l->at;
	if (left == 0)
		return (NULL);
	l->batch = left < request_max_batch(rq) ? left :
	    request_max_batch(rq);
	memset(&m, 0, sizeof m);
	m.type = (uint8_t)l->asking;
	if (l->asking == MSG_OPRF_EVAL) {
		if (ids_blind(l->todo + l->at, l->batch, l->blinds,
		    l->elems) != 0)
			return (lib_err(TRYST_EINVAL, "%s: cannot be blinded",
			    l->todo[l->at]));
		m.u.oprf.count = (uint16_t)l->batch;
		m.u.oprf.elements = l->elems;
	} else {
		m.u.lookup.count = (uint16_t)l->batch;
		m.u.lookup.ids = l->res.id[l->at];
	}
	if (request_send(rq, &m) != 0)
		return (lib_err(TRYST_ENET, "cannot send %s",
		    proto_type_name(m.type)));
	return (NULL);
}

/* A turn of the exchange: take the answer, send what comes next. */
static struct tryst_error *
lookup_turn(struct tryst *t, struct request *rq, const struct msg *m,
    void *arg)
{
	struct lookup		*l = arg;
	struct tryst_error	*e;
	size_t			 max = (size_t)request_max_batch(rq);

	if (m == NULL) {
		if ((l->blinds = sodium_malloc(max * OPRF_SCALAR)) == NULL)
			fatal("sodium_malloc");
		l->elems = xmalloc(max * OPRF_ELEM);
		l->got = xcalloc(max, sizeof *l->got);
	} else if (m->type == MSG_ERROR)
		return (lib_err_server(m));
	else if ((e = l->asking == MSG_OPRF_EVAL ? oprf_answer(t, l, m) :
	    lookup_answer(l, m)) != NULL)
		return (e);
	return (send_next(rq, l));
}

/* The exchange is over: hand the result (or why not) to the app. */
static void
lookup_done(tryst_t *t, const tryst_error *e, void *user)
{
	struct lookup	*l = user;
	int		 i;

	for (i = 0; e == NULL && i < l->res.n; i++)
		hex_encode(l->res.hex[i], l->res.id[i], ID_LEN);
	l->fn(t, e, e == NULL ? &l->res : NULL, l->user);
}

/* A lookup of n numbers, normalised, with the cached IDs filled in. */
static struct lookup *
lookup_new(struct tryst *t, const char *const *numbers, int n,
    struct tryst_error **e)
{
	struct lookup	*l;
	char		*text, *cause;
	int		 i;

	/* The cache is saved whole after the lookup: one that cannot be
	 * read now would be lost. */
	if ((text = ids_read(t->blobs, &cause)) == NULL) {
		*e = lib_err(TRYST_EIO, "%s", cause);
		free(cause);
		return (NULL);
	}
	l = xcalloc(1, sizeof *l);
	l->res.n = n;
	l->res.number = xcalloc((size_t)n, sizeof *l->res.number);
	l->res.hex = xcalloc((size_t)n, sizeof *l->res.hex);
	l->res.id = xcalloc((size_t)n, sizeof *l->res.id);
	l->res.registered = xcalloc((size_t)n, 1);
	l->res.cached = xcalloc((size_t)n, 1);
	l->todo = xcalloc((size_t)n, sizeof *l->todo);
	l->todo_at = xcalloc((size_t)n, sizeof *l->todo_at);
	l->asking = MSG_OPRF_EVAL;
	for (i = 0; i < n && *e == NULL; i++) {
		if (numbers[i] == NULL || e164_normalise(numbers[i],
		    t->conf.country, l->res.number[i], TRYST_NUMBER_MAX) != 0)
			*e = lib_err(TRYST_EINVAL, "%s: not a phone number; "
			    "write + and the country code, or set a default "
			    "country", numbers[i] != NULL ? numbers[i] : "NULL");
		else if (ids_find(text, l->res.number[i], l->res.id[i]) == 0)
			l->res.cached[i] = 1;
		else {
			memcpy(l->todo[l->ntodo], l->res.number[i],
			    TRYST_NUMBER_MAX);
			l->todo_at[l->ntodo++] = i;
		}
	}
	free(text);
	if (*e != NULL) {
		lookup_free(l);
		return (NULL);
	}
	return (l);
}

/* Look numbers up; see tryst.h. */
int
tryst_lookup(tryst_t *t, const char *const *numbers, int n,
    tryst_lookup_fn fn, void *user, tryst_error **err)
{
	struct tryst_error	*e = NULL;
	struct lookup		*l;

	if (numbers == NULL || n < 1 || n > LOOKUP_MAX || fn == NULL)
		return (lib_err_give(lib_err(TRYST_EINVAL, "tryst_lookup: "
		    "1 to %d numbers and a callback", LOOKUP_MAX), err));
	if (!t->have_conf)
		return (lib_err_give(lib_err(TRYST_ESTATE, "the device is not "
		    "set up; call tryst_setup"), err));
	if ((l = lookup_new(t, numbers, n, &e)) == NULL)
		return (lib_err_give(e, err));
	l->fn = fn;
	l->user = user;
	return (request_exchange(t, LOOKUP_REQUEST_MS, lookup_turn, l,
	    lookup_free, lookup_done, l, err));
}

int
tryst_lookup_count(const tryst_lookup_result *res)
{
	return (res != NULL ? res->n : 0);
}

const char *
tryst_lookup_number(const tryst_lookup_result *res, int i)
{
	return (res != NULL && i >= 0 && i < res->n ? res->number[i] : NULL);
}

const char *
tryst_lookup_id(const tryst_lookup_result *res, int i)
{
	return (res != NULL && i >= 0 && i < res->n ? res->hex[i] : NULL);
}

int
tryst_lookup_registered(const tryst_lookup_result *res, int i)
{
	return (res != NULL && i >= 0 && i < res->n ? res->registered[i] :
	    TRYST_EINVAL);
}

int
tryst_lookup_from_cache(const tryst_lookup_result *res, int i)
{
	return (res != NULL && i >= 0 && i < res->n ? res->cached[i] :
	    TRYST_EINVAL);
}

/* The cached ID of number, in hex. */
char *
tryst_cached_id(const tryst_t *t, const char *number)
{
	char	 n[TRYST_NUMBER_MAX], *hex;
	uint8_t	 id[ID_LEN];

	if (t->blobs == NULL || number == NULL || e164_normalise(number,
	    t->have_conf ? t->conf.country : "", n, sizeof n) != 0 ||
	    ids_cached(t->blobs, n, id) != 0)
		return (NULL);
	hex = xmalloc(2 * ID_LEN + 1);
	hex_encode(hex, id, ID_LEN);
	return (hex);
}

/* The cached number of an ID. */
char *
tryst_cached_number(const tryst_t *t, const char *id_hex)
{
	uint8_t	 id[ID_LEN];
	char	 n[TRYST_NUMBER_MAX], *text, *cause;
	int	 r;

	if (t->blobs == NULL || id_hex == NULL ||
	    strlen(id_hex) != 2 * ID_LEN || hex_decode(id, ID_LEN,
	    id_hex) != 0)
		return (NULL);
	if ((text = ids_read(t->blobs, &cause)) == NULL) {
		free(cause);
		return (NULL);
	}
	r = ids_find_number(text, id, n, sizeof n);
	free(text);
	return (r == 0 ? xstrdup(n) : NULL);
}
