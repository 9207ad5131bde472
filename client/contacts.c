/*
 * contacts.c -- trust on first use of contacts' identity keys. The state
 * blob "contacts" has one line per ID: "HEXID TRUSTED PENDING", the keys
 * in base64, PENDING "-" when no other key has been seen. A changed key
 * is kept as pending and stops every session until it is trusted
 * (contacts_accept: tryst trust, tryst_trust); the safety number of §6.4
 * is what people compare first. Part of libtryst: nothing is printed,
 * failures come back as values. The CLI's commands are in trust.c.
 */
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

/* Read every contact: 0 with *n of them in *all (caller frees), or -1
 * and *cause when the blob is there but cannot be read. */
static int
contacts_read(const struct blobs *b, struct contact **all, int *n,
    char **cause)
{
	struct contact	 ct;
	char		*text;
	const char	*line, *end;
	int		 rc;

	*all = NULL;
	*n = 0;
	if ((rc = blobs_load(b, CONTACTS_FILE, CONTACTS_MAX, &text, NULL,
	    cause)) != 0)
		return (rc == BLOBS_ABSENT ? 0 : -1);
	for (line = text; *line != '\0'; line = end + (*end != '\0')) {
		end = line + strcspn(line, "\n");
		if (parse_line(line, (size_t)(end - line), &ct) != 0)
			continue;
		*all = xrealloc(*all, (size_t)(*n + 1) * sizeof **all);
		(*all)[(*n)++] = ct;
	}
	free(text);
	return (0);
}

/* Every contact for a look that changes nothing: none when the blob
 * cannot be read. */
static struct contact *
read_quiet(const struct blobs *b, int *n)
{
	struct contact	*all;
	char		*cause;

	if (contacts_read(b, &all, n, &cause) != 0)
		free(cause);
	return (all);
}

/* Write every contact back. */
static int
contacts_write(const struct blobs *b, const struct contact *all, int n,
    char **cause)
{
	char	*text = xstrdup(""), *old, *t, *p, hex[2 * ID_LEN + 1];
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
	rc = blobs_save(b, CONTACTS_FILE, text, strlen(text), 0, cause);
	free(text);
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
contacts_check(const struct blobs *b, const uint8_t id[ID_LEN],
    const uint8_t pk[32], char **cause)
{
	struct contact	*all;
	int		 n, i, rc = 0;

	/* Pins that cannot be read are not replaced by this one alone. */
	if (contacts_read(b, &all, &n, cause) != 0)
		return (-1);
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
	if (contacts_write(b, all, n, cause) != 0)
		rc = -1;
	free(all);
	return (rc);
}

/* What the blob says of pk as id's key, without changing it. */
int
contacts_state(const struct blobs *b, const uint8_t id[ID_LEN],
    const uint8_t pk[32])
{
	struct contact	*all;
	int		 n, i, rc = CONTACT_NEW;

	all = read_quiet(b, &n);
	if ((i = contacts_find(all, n, id)) != -1)
		rc = memcmp(all[i].trusted, pk, 32) == 0 ? CONTACT_KNOWN :
		    CONTACT_CHANGED;
	free(all);
	return (rc);
}

/* The keys remembered for id: 0, or -1 when there are none. */
int
contacts_get(const struct blobs *b, const uint8_t id[ID_LEN],
    uint8_t trusted[32], uint8_t pending[32], int *has_pending)
{
	struct contact	*all;
	int		 n, i;

	all = read_quiet(b, &n);
	if ((i = contacts_find(all, n, id)) != -1) {
		memcpy(trusted, all[i].trusted, 32);
		memcpy(pending, all[i].pending, 32);
		*has_pending = all[i].has_pending;
	}
	free(all);
	return (i == -1 ? -1 : 0);
}

/* The one ID that starts with the hex digits prefix: 0, or -1 when none
 * or several do. */
int
contacts_find_prefix(const struct blobs *b, const char *prefix,
    uint8_t id[ID_LEN])
{
	struct contact	*all;
	char		 hex[2 * ID_LEN + 1];
	int		 n, i, found = 0;

	all = read_quiet(b, &n);
	for (i = 0; i < n; i++) {
		hex_encode(hex, all[i].id, ID_LEN);
		if (strncasecmp(hex, prefix, strlen(prefix)) == 0) {
			memcpy(id, all[i].id, ID_LEN);
			found++;
		}
	}
	free(all);
	return (found == 1 ? 0 : -1);
}

/* Trust id's pending key; see client.h. */
int
contacts_accept(const struct blobs *b, const uint8_t id[ID_LEN], uint8_t pk[32],
    char **cause)
{
	struct contact	*all;
	int		 n, i, rc = 0;

	if (contacts_read(b, &all, &n, cause) != 0)
		return (-1);
	if ((i = contacts_find(all, n, id)) == -1)
		rc = CONTACT_UNKNOWN;
	else if (!all[i].has_pending)
		rc = CONTACT_NO_PENDING;
	else {
		memcpy(all[i].trusted, all[i].pending, 32);
		all[i].has_pending = 0;
		memcpy(pk, all[i].trusted, 32);
		if (contacts_write(b, all, n, cause) != 0)
			rc = -1;
	}
	free(all);
	return (rc);
}

/* The safety number of our identity key (the stored credential's, checked
 * against sign_pk) and pk: 0, or -1 and *cause. */
int
contacts_safety(const struct blobs *b, const uint8_t sign_pk[32],
    const uint8_t pk[32], char sn[36], char **cause)
{
	uint8_t		 raw[CRED_LEN];
	struct cred	 cr;

	if (state_cred_load(b, sign_pk, raw, &cr, cause) != 0)
		return (-1);
	safety_number(cr.identity_pk, pk, sn);
	return (0);
}
