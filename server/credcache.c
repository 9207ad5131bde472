/*
 * credcache.c -- credentials whose signature has verified (PROTOCOL.md
 * §5.2, HELLO step 1), remembered so that a client that reconnects costs
 * one Ed25519 verify (its HELLO signature, always checked) instead of two.
 *
 * A fixed table of CREDCACHE_SLOTS slots, one entry each, so memory is
 * bounded whatever clients send. An entry is a keyed BLAKE2b-256 digest
 * of the credential's 145 bytes and what cred_verify parsed from them:
 * equal digests mean equal bytes, and the hash key, random per table and
 * per clear, keeps a peer from choosing which slot its credential takes
 * (so from evicting another client's on purpose). Only a credential
 * whose signature verified is ever stored; bytes that do not verify
 * never enter, and evict nothing. The table belongs to one signing key:
 * asked about another key, it forgets everything first. Nothing here
 * looks at the time, as HELLO does not (§5.2): the caller reads expires
 * from the result, cached or not.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "server.h"

_Static_assert((CREDCACHE_SLOTS & (CREDCACHE_SLOTS - 1)) == 0,
    "CREDCACHE_SLOTS is a power of two");

/* One remembered credential. */
struct credslot {
	uint8_t		 digest[32];
	uint8_t		 used;
	struct cred	 cred;
};

struct credcache {
	uint8_t		 sign_pk[32];	/* the key all entries verified with */
	int		 have_pk;
	uint8_t		 hkey[crypto_generichash_KEYBYTES];
	unsigned long long hits;
	unsigned long long misses;
	struct credslot	 slots[CREDCACHE_SLOTS];
};

/* An empty cache. */
struct credcache *
credcache_new(void)
{
	struct credcache	*cc;

	/* calloc: slots never used are never touched, so cost no RSS. */
	cc = xcalloc(1, sizeof *cc);
	randombytes_buf(cc->hkey, sizeof cc->hkey);
	return (cc);
}

/* Free a cache. */
void
credcache_free(struct credcache *cc)
{
	if (cc != NULL) {
		sodium_memzero(cc->hkey, sizeof cc->hkey);
		free(cc);
	}
}

/* Forget every entry, and take a new hash key. */
void
credcache_clear(struct credcache *cc)
{
	size_t	 i;

	for (i = 0; i < CREDCACHE_SLOTS; i++)
		if (cc->slots[i].used)
			memset(&cc->slots[i], 0, sizeof cc->slots[i]);
	cc->have_pk = 0;
	randombytes_buf(cc->hkey, sizeof cc->hkey);
}

/* The keyed digest of len bytes at p, and the slot it maps to. */
static struct credslot *
cc_slot(struct credcache *cc, const uint8_t *p, size_t len,
    uint8_t digest[32])
{
	uint32_t	 h;

	crypto_generichash(digest, 32, p, len, cc->hkey, sizeof cc->hkey);
	h = get_u32(digest);
	return (&cc->slots[h & (CREDCACHE_SLOTS - 1)]);
}

/* cred_verify, remembering what verified. */
int
credcache_verify(struct credcache *cc, const uint8_t *p, size_t len,
    const uint8_t sign_pk[32], struct cred *c)
{
	struct credslot	*s;
	uint8_t		 digest[32];
	struct cred	 parsed;

	if (len != CRED_LEN)	/* bounds what is hashed; never stored */
		return (-1);
	if (cc->have_pk && sodium_memcmp(cc->sign_pk, sign_pk, 32) != 0)
		credcache_clear(cc);
	s = cc_slot(cc, p, len, digest);
	if (s->used && sodium_memcmp(s->digest, digest, 32) == 0) {
		cc->hits++;
		if (c != NULL)
			*c = s->cred;
		return (0);
	}
	cc->misses++;
	if (cred_verify(p, len, sign_pk, &parsed) != 0)
		return (-1);
	if (!cc->have_pk) {
		memcpy(cc->sign_pk, sign_pk, 32);
		cc->have_pk = 1;
	}
	memcpy(s->digest, digest, 32);
	s->cred = parsed;
	s->used = 1;
	if (c != NULL)
		*c = parsed;
	return (0);
}

/* Lookups answered from the table, and those that were not. */
void
credcache_counts(const struct credcache *cc, unsigned long long *hits,
    unsigned long long *misses)
{
	*hits = cc->hits;
	*misses = cc->misses;
}
