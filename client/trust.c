/*
 * trust.c -- the CLI's side of trust on first use: the warning when a
 * contact's key changed, tryst fingerprint (the safety number of §6.4 to
 * compare in person) and tryst trust (accept the new key). The contacts
 * file itself is contacts.c's, in libtryst.
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"

/* Tell the user that name's key changed. */
void
trust_warn(const char *name)
{
	fprintf(stderr, "tryst: WARNING: the identity key of %s has changed!"
	    "\ntryst: Either %s set tryst up again, or someone is "
	    "intercepting the call.\ntryst: The session was stopped. Compare "
	    "the safety number (tryst fingerprint %s)\ntryst: with %s in "
	    "person; if it matches, accept the new key: tryst trust %s\n",
	    name, name, name, name, name);
}

/* 1 if s is hex of at least 16 digits (an ID as listen prints it). */
static int
is_id_prefix(const char *s)
{
	size_t	 n = strlen(s);

	return (n >= 16 && n <= 2 * ID_LEN &&
	    strspn(s, "0123456789abcdefABCDEF") == n);
}

/* Find the contact named by arg: a number, or an ID's first hex digits.
 * Goes online to learn a number's ID when it is not cached. */
static int
resolve(struct tryst_ctx *c, const char *arg, uint8_t id[ID_LEN])
{
	struct online	 o;
	char		 num[1][TRYST_NUMBER_MAX], *cause;
	int		 rc;

	if (is_id_prefix(arg))
		return (contacts_find_prefix(c->blobs, arg, id));
	tryst_number(c, arg, num[0]);
	if (ids_cached(c->blobs, num[0], id) == 0)
		return (0);
	if (online_open(&o, c, 0, 0, &cause) != 0)
		errx(1, "%s", cause);
	rc = lookup_ids(&o, num, 1, (uint8_t (*)[ID_LEN])id);
	online_close(&o);
	return (rc);
}

/* The ID arg names, or exit 1. */
static void
resolve_or_exit(struct tryst_ctx *c, const char *arg, uint8_t id[ID_LEN])
{
	if (resolve(c, arg, id) != 0)
		errx(1, "%s: no such contact", arg);
}

/* Exit 1: no key is remembered for arg. */
static void __attribute__((noreturn))
no_key(const char *arg)
{
	errx(1, "%s: no key remembered yet (it is learned in the first chat "
	    "or send)", arg);
}

/* Print the safety number of our key and pk. */
static void
print_safety(const struct tryst_ctx *c, const char *name,
    const uint8_t pk[32])
{
	char	 sn[36], *cause;

	if (contacts_safety(c->blobs, c->sign_pk, pk, sn, &cause) != 0)
		errx(1, "%s", cause);
	printf("safety number with %s: %s\n", name, sn);
}

/* tryst fingerprint NUMBER: the safety number to compare in person. */
int
trust_fingerprint(int argc, char **argv)
{
	struct tryst_ctx	 c;
	uint8_t			 id[ID_LEN], trusted[32], pending[32];
	int			 has_pending;

	if (argc != 2)
		tryst_usage();
	tryst_ctx_load(&c);
	resolve_or_exit(&c, argv[1], id);
	if (contacts_get(c.blobs, id, trusted, pending, &has_pending) != 0)
		no_key(argv[1]);
	print_safety(&c, argv[1], trusted);
	if (has_pending) {
		fprintf(stderr, "tryst: %s has a new, not yet trusted key; "
		    "its safety number would be:\n", argv[1]);
		print_safety(&c, argv[1], pending);
	}
	tryst_ctx_free(&c);
	return (0);
}

/* tryst trust NUMBER: accept the contact's new key. */
int
trust_cmd(int argc, char **argv)
{
	struct tryst_ctx	 c;
	uint8_t			 id[ID_LEN], pk[32];
	char			*cause;

	if (argc != 2)
		tryst_usage();
	tryst_ctx_load(&c);
	resolve_or_exit(&c, argv[1], id);
	switch (contacts_accept(c.blobs, id, pk, &cause)) {
	case CONTACT_UNKNOWN:
		no_key(argv[1]);
	case CONTACT_NO_PENDING:
		errx(1, "%s: no new key to trust; the remembered one stays",
		    argv[1]);
	case -1:
		errx(1, "%s", cause);
	}
	printf("trusted the new key of %s\n", argv[1]);
	print_safety(&c, argv[1], pk);
	tryst_ctx_free(&c);
	return (0);
}
