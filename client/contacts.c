/*
 * contacts.c -- trust on first use of contacts' identity keys. The state
 * file "contacts" has one line per ID: "HEXID TRUSTED PENDING", the keys
 * in base64, PENDING "-" when no other key has been seen. A changed key
 * is kept as pending and stops every session until tryst trust accepts
 * it; tryst fingerprint prints the safety number of §6.4 to compare.
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>

#include <sodium.h>

#include "client.h"

#define CONTACTS_FILE	"contacts"
#define CONTACTS_MAX	(4 * 1024 * 1024)
#define KEY_B64		44

struct contact {
	uint8_t		 id[ID_LEN];
	uint8_t		 trusted[32];
	uint8_t		 pending[32];
	int		 has_pending;
};

/* Parse one line; -1 if it is not a contact. */
static int
parse_line(const char *line, size_t len, struct contact *ct)
{
	char	 buf[2 * ID_LEN + 2 * KEY_B64 + 3];

	if (len >= sizeof buf || len < 2 * ID_LEN + KEY_B64 + 3)
		return (-1);
	memcpy(buf, line, len);
	buf[len] = '\0';
	if (buf[2 * ID_LEN] != ' ' || buf[2 * ID_LEN + 1 + KEY_B64] != ' ')
		return (-1);
	buf[2 * ID_LEN] = buf[2 * ID_LEN + 1 + KEY_B64] = '\0';
	memset(ct, 0, sizeof *ct);
	if (hex_decode(ct->id, ID_LEN, buf) != 0 ||
	    b64_decode(ct->trusted, 32, buf + 2 * ID_LEN + 1) != 0)
		return (-1);
	if (strcmp(buf + 2 * ID_LEN + KEY_B64 + 2, "-") == 0)
		return (0);
	if (b64_decode(ct->pending, 32, buf + 2 * ID_LEN + KEY_B64 + 2) != 0)
		return (-1);
	ct->has_pending = 1;
	return (0);
}

/* Read every contact; *n of them. Caller frees. */
static struct contact *
contacts_read(const char *dir, int *n)
{
	struct contact	*all = NULL, ct;
	char		*path = state_path(dir, CONTACTS_FILE), *text, *cause;
	const char	*line, *end;

	*n = 0;
	if ((text = file_read_small(path, CONTACTS_MAX, NULL,
	    &cause)) == NULL) {
		free(cause);
		free(path);
		return (NULL);
	}
	for (line = text; *line != '\0'; line = end + (*end != '\0')) {
		end = line + strcspn(line, "\n");
		if (parse_line(line, (size_t)(end - line), &ct) != 0)
			continue;
		all = xrealloc(all, (size_t)(*n + 1) * sizeof *all);
		all[(*n)++] = ct;
	}
	free(text);
	free(path);
	return (all);
}

/* Write every contact back. */
static int
contacts_write(const char *dir, const struct contact *all, int n,
    char **cause)
{
	char	*text = xstrdup(""), *old, *t, *p, hex[2 * ID_LEN + 1];
	char	*path = state_path(dir, CONTACTS_FILE);
	int	 i, rc;

	for (i = 0; i < n; i++) {
		hex_encode(hex, all[i].id, ID_LEN);
		t = b64_encode(all[i].trusted, 32);
		p = all[i].has_pending ? b64_encode(all[i].pending, 32) :
		    xstrdup("-");
		old = text;
		xasprintf(&text, "%s%s %s %s\n", old, hex, t, p);
		free(old);
		free(t);
		free(p);
	}
	rc = file_write_atomic(path, text, strlen(text), 0600, 0, cause);
	free(text);
	free(path);
	return (rc);
}

/* The index of id among all, or -1. */
static int
contacts_find(const struct contact *all, int n, const uint8_t id[ID_LEN])
{
	int	 i;

	for (i = 0; i < n; i++) {
		if (memcmp(all[i].id, id, ID_LEN) == 0)
			return (i);
	}
	return (-1);
}

/* Check a contact's key; remember the first one, keep a changed one as
 * pending. */
int
contacts_check(const char *dir, const uint8_t id[ID_LEN],
    const uint8_t pk[32], char **cause)
{
	struct contact	*all;
	int		 n, i, rc = 0;

	all = contacts_read(dir, &n);
	if ((i = contacts_find(all, n, id)) == -1) {
		all = xrealloc(all, (size_t)(n + 1) * sizeof *all);
		memset(&all[n], 0, sizeof all[n]);
		memcpy(all[n].id, id, ID_LEN);
		memcpy(all[n].trusted, pk, 32);
		n++;
	} else if (memcmp(all[i].trusted, pk, 32) == 0) {
		if (!all[i].has_pending) {
			free(all);
			return (0);
		}
		all[i].has_pending = 0;
	} else {
		memcpy(all[i].pending, pk, 32);
		all[i].has_pending = 1;
		rc = 1;
	}
	if (contacts_write(dir, all, n, cause) != 0)
		rc = -1;
	free(all);
	return (rc);
}

/* Tell the user that name's key changed. */
void
contacts_warn(const char *name)
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
contacts_resolve(struct tryst_ctx *c, const char *arg, uint8_t id[ID_LEN])
{
	struct contact	*all;
	struct online	 o;
	char		 num[1][TRYST_NUMBER_MAX], hex[2 * ID_LEN + 1], *cause;
	int		 n, i, found = 0, rc;

	if (is_id_prefix(arg)) {
		all = contacts_read(c->dir, &n);
		for (i = 0; i < n; i++) {
			hex_encode(hex, all[i].id, ID_LEN);
			if (strncasecmp(hex, arg, strlen(arg)) == 0) {
				memcpy(id, all[i].id, ID_LEN);
				found++;
			}
		}
		free(all);
		return (found == 1 ? 0 : -1);
	}
	tryst_number(c, arg, num[0]);
	if (ids_cached(c->dir, num[0], id) == 0)
		return (0);
	if (online_open(&o, c, 0, 0, &cause) != 0)
		errx(1, "%s", cause);
	rc = lookup_ids(&o, num, 1, (uint8_t (*)[ID_LEN])id);
	online_close(&o);
	return (rc);
}

/* Load the contact arg names, or exit 1. */
static struct contact *
contacts_load_one(struct tryst_ctx *c, const char *arg, int *n, int *i)
{
	struct contact	*all;
	uint8_t		 id[ID_LEN];

	if (contacts_resolve(c, arg, id) != 0)
		errx(1, "%s: no such contact", arg);
	all = contacts_read(c->dir, n);
	if ((*i = contacts_find(all, *n, id)) == -1)
		errx(1, "%s: no key remembered yet (it is learned in the "
		    "first chat or send)", arg);
	return (all);
}

/* Print the safety number of our key and pk. */
static void
print_safety(const struct tryst_ctx *c, const char *name,
    const uint8_t pk[32])
{
	uint8_t		 raw[CRED_LEN];
	struct cred	 cr;
	char		 sn[36], *cause;

	if (state_cred_load(c->dir, c->sign_pk, raw, &cr, &cause) != 0)
		errx(1, "%s", cause);
	safety_number(cr.identity_pk, pk, sn);
	printf("safety number with %s: %s\n", name, sn);
}

/* tryst fingerprint NUMBER: the safety number to compare in person. */
int
contacts_fingerprint(int argc, char **argv)
{
	struct tryst_ctx	 c;
	struct contact		*all;
	int			 n, i;

	if (argc != 2)
		tryst_usage();
	tryst_ctx_load(&c);
	all = contacts_load_one(&c, argv[1], &n, &i);
	print_safety(&c, argv[1], all[i].trusted);
	if (all[i].has_pending) {
		fprintf(stderr, "tryst: %s has a new, not yet trusted key; "
		    "its safety number would be:\n", argv[1]);
		print_safety(&c, argv[1], all[i].pending);
	}
	free(all);
	tryst_ctx_free(&c);
	return (0);
}

/* tryst trust NUMBER: accept the contact's new key. */
int
contacts_trust(int argc, char **argv)
{
	struct tryst_ctx	 c;
	struct contact		*all;
	char			*cause;
	int			 n, i;

	if (argc != 2)
		tryst_usage();
	tryst_ctx_load(&c);
	all = contacts_load_one(&c, argv[1], &n, &i);
	if (!all[i].has_pending)
		errx(1, "%s: no new key to trust; the remembered one stays",
		    argv[1]);
	memcpy(all[i].trusted, all[i].pending, 32);
	all[i].has_pending = 0;
	if (contacts_write(c.dir, all, n, &cause) != 0)
		errx(1, "%s", cause);
	printf("trusted the new key of %s\n", argv[1]);
	print_safety(&c, argv[1], all[i].trusted);
	free(all);
	tryst_ctx_free(&c);
	return (0);
}
