/*
 * table.c -- a chained hash table keyed by fixed-size byte strings.
 *
 * Used for the presence table (ID -> connections) and the per-address
 * counters. Keys come from peers, so buckets are chosen by SipHash with a
 * key drawn at start-up.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "server.h"

struct entry {
	struct entry	*next;
	void		*value;
	uint8_t		 key[TABLE_KEY_MAX];
};

struct table {
	size_t		 klen;
	size_t		 nbuckets;	/* a power of two */
	size_t		 count;
	struct entry	**buckets;
	uint8_t		 sipkey[crypto_shorthash_KEYBYTES];
};

/* Bucket of a key. */
static size_t
bucket_of(const struct table *t, const uint8_t *key)
{
	uint8_t		 h[crypto_shorthash_BYTES];
	uint64_t	 v;

	crypto_shorthash(h, key, t->klen, t->sipkey);
	memcpy(&v, h, sizeof v);
	return (size_t)(v & (t->nbuckets - 1));
}

/* Make an empty table. */
struct table *
table_new(size_t klen)
{
	struct table	*t;

	if (klen == 0 || klen > TABLE_KEY_MAX)
		fatalx("table_new: bad key length %zu", klen);
	t = xcalloc(1, sizeof *t);
	t->klen = klen;
	t->nbuckets = 64;
	t->buckets = xcalloc(t->nbuckets, sizeof *t->buckets);
	randombytes_buf(t->sipkey, sizeof t->sipkey);
	return (t);
}

/* Free a table (not its values). */
void
table_free(struct table *t)
{
	struct entry	*e, *next;
	size_t		 i;

	if (t == NULL)
		return;
	for (i = 0; i < t->nbuckets; i++) {
		for (e = t->buckets[i]; e != NULL; e = next) {
			next = e->next;
			free(e);
		}
	}
	free(t->buckets);
	free(t);
}

/* Find the entry pointer that holds key. */
static struct entry **
find(struct table *t, const uint8_t *key)
{
	struct entry	**ep;

	ep = &t->buckets[bucket_of(t, key)];
	while (*ep != NULL && memcmp((*ep)->key, key, t->klen) != 0)
		ep = &(*ep)->next;
	return (ep);
}

/* Double the buckets once the table is dense. */
static void
grow(struct table *t)
{
	struct entry	**old = t->buckets, *e, *next;
	size_t		 i, oldn = t->nbuckets, b;

	t->nbuckets *= 2;
	t->buckets = xcalloc(t->nbuckets, sizeof *t->buckets);
	for (i = 0; i < oldn; i++) {
		for (e = old[i]; e != NULL; e = next) {
			next = e->next;
			b = bucket_of(t, e->key);
			e->next = t->buckets[b];
			t->buckets[b] = e;
		}
	}
	free(old);
}

/* Value of key, or NULL. */
void *
table_get(struct table *t, const uint8_t *key)
{
	struct entry	*e = *find(t, key);

	return (e != NULL ? e->value : NULL);
}

/* Insert or replace. */
void
table_set(struct table *t, const uint8_t *key, void *value)
{
	struct entry	**ep = find(t, key), *e;

	if (*ep != NULL) {
		(*ep)->value = value;
		return;
	}
	e = xcalloc(1, sizeof *e);
	memcpy(e->key, key, t->klen);
	e->value = value;
	*ep = e;
	if (++t->count > t->nbuckets)
		grow(t);
}

/* Remove key; its value, or NULL. */
void *
table_del(struct table *t, const uint8_t *key)
{
	struct entry	**ep = find(t, key), *e = *ep;
	void		*value;

	if (e == NULL)
		return (NULL);
	*ep = e->next;
	value = e->value;
	free(e);
	t->count--;
	return (value);
}

/* Number of entries. */
size_t
table_count(struct table *t)
{
	return (t->count);
}

/* Visit every entry; the visitor may delete the one it holds. */
void
table_each(struct table *t, void (*fn)(const uint8_t *, void *, void *),
    void *arg)
{
	struct entry	*e, *next;
	size_t		 i;

	for (i = 0; i < t->nbuckets; i++) {
		for (e = t->buckets[i]; e != NULL; e = next) {
			next = e->next;
			fn(e->key, e->value, arg);
		}
	}
}
