/*
 * trust.c -- the CLI's side of trust on first use: the warning when a
 * contact's key changed, tryst fingerprint (the safety number of §6.4 to
 * compare in person) and tryst trust (accept the new key), over
 * libtryst's tryst_safety_number and tryst_trust. A number's ID comes
 * from the cache of IDs or tryst_lookup; an ID's first digits from
 * tryst_contact_find.
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

/* What tryst_lookup found of the one number asked. */
struct found {
	struct cli_result	 r;
	char			*id;
};

static void
found_done(tryst_t *t, const tryst_error *e, const tryst_lookup_result *res,
    void *user)
{
	struct found	*f = user;

	cli_done(t, e, &f->r);
	if (e == NULL && tryst_lookup_id(res, 0) != NULL)
		f->id = xstrdup(tryst_lookup_id(res, 0));
}

/* The ID (hex) of the contact named by arg: a number, or an ID's first
 * hex digits; or exit 1. Asks the server (the OPRF) for a number's ID
 * when it is not cached. Caller frees with free. */
static char *
resolve(tryst_t *t, const char *arg)
{
	struct tryst_ctx	 c;
	struct found		 f;
	tryst_error		*e = NULL;
	const char		*list[1];
	char			 num[TRYST_NUMBER_MAX], *id;

	if (is_id_prefix(arg)) {
		if ((id = tryst_contact_find(t, arg)) == NULL)
			errx(1, "%s: no such contact", arg);
		return (id);
	}
	tryst_ctx_load(&c);
	tryst_number(&c, arg, num);
	tryst_ctx_free(&c);
	if ((id = tryst_cached_id(t, num)) != NULL)
		return (id);
	memset(&f, 0, sizeof f);
	list[0] = num;
	if (tryst_lookup(t, list, 1, found_done, &f, &e) != 0)
		errx(1, "%s", tryst_error_message(e));
	if (cli_wait(t, &f.r) != 0 || f.id == NULL)
		errx(1, "%s: no such contact", arg);
	free(f.r.message);
	return (f.id);
}

/* Exit 1: no key is remembered for arg. */
static void __attribute__((noreturn))
no_key(const char *arg)
{
	errx(1, "%s: no key remembered yet (it is learned in the first chat "
	    "or send)", arg);
}

/* Print the safety number with id's trusted key (pending 0) or its new
 * one; exit 1 when no key is remembered for arg. */
static void
print_safety(tryst_t *t, const char *arg, const char *id, int pending)
{
	tryst_error	*e = NULL;
	char		*sn;

	sn = pending ? tryst_safety_number_pending(t, id, &e) :
	    tryst_safety_number(t, id, &e);
	if (sn == NULL && tryst_error_code(e) == TRYST_ESTATE)
		no_key(arg);
	if (sn == NULL)
		errx(1, "%s", tryst_error_message(e));
	printf("safety number with %s: %s\n", arg, sn);
	tryst_free(sn);
}

/* tryst fingerprint NUMBER: the safety number to compare in person. */
int
trust_fingerprint(int argc, char **argv)
{
	tryst_t		*t;
	tryst_error	*e = NULL;
	char		*id, *sn;

	if (argc != 2)
		tryst_usage();
	t = cli_registered_lib();
	id = resolve(t, argv[1]);
	print_safety(t, argv[1], id, 0);
	if ((sn = tryst_safety_number_pending(t, id, &e)) != NULL) {
		fprintf(stderr, "tryst: %s has a new, not yet trusted key; "
		    "its safety number would be:\n", argv[1]);
		printf("safety number with %s: %s\n", argv[1], sn);
		tryst_free(sn);
	} else if (tryst_error_code(e) != TRYST_ESTATE)
		errx(1, "%s", tryst_error_message(e));
	tryst_error_free(e);
	free(id);
	tryst_destroy(t);
	return (0);
}

/* tryst trust NUMBER: accept the contact's new key. */
int
trust_cmd(int argc, char **argv)
{
	tryst_t		*t;
	tryst_error	*e = NULL;
	char		*id, *sn;

	if (argc != 2)
		tryst_usage();
	t = cli_registered_lib();
	id = resolve(t, argv[1]);
	/* Both of tryst_trust's refusals are TRYST_ESTATE: tell them apart
	 * by whether any key is remembered. */
	if ((sn = tryst_safety_number(t, id, &e)) == NULL &&
	    tryst_error_code(e) == TRYST_ESTATE)
		no_key(argv[1]);
	tryst_free(sn);
	tryst_error_free(e);
	e = NULL;
	switch (tryst_trust(t, id, &e)) {
	case 0:
		break;
	case TRYST_ESTATE:
		errx(1, "%s: no new key to trust; the remembered one stays",
		    argv[1]);
	default:
		errx(1, "%s", tryst_error_message(e));
	}
	printf("trusted the new key of %s\n", argv[1]);
	print_safety(t, argv[1], id, 0);
	free(id);
	tryst_destroy(t);
	return (0);
}
