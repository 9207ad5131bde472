/*
 * trust.c -- contacts' identity keys in libtryst: the safety number of
 * §6.4 with a contact's remembered key (the digits tryst fingerprint
 * prints), and tryst_trust, which accepts a changed key as tryst trust
 * does, and finding a contact by the first digits of its ID. The
 * contacts file is contacts.c's, shared with the CLI; a call's
 * own view of its peer's key is in call.c.
 */
#include <stdlib.h>
#include <string.h>

#include "lib.h"

/* The ID in id_hex: 0, or an error code given to *err. */
static int
parse_id(const char *id_hex, uint8_t id[ID_LEN], tryst_error **err)
{
	if (id_hex == NULL || hex_decode(id, ID_LEN, id_hex) != 0)
		return (lib_err_give(lib_err(TRYST_EINVAL, "not an account ID "
		    "(64 hex digits)"), err));
	return (0);
}

/* 0 when t has a state folder and a registration, else the error. */
static int
registered(const struct tryst *t, tryst_error **err)
{
	if (t->blobs == NULL || !t->have_conf || *t->conf.number == '\0')
		return (lib_err_give(lib_err(TRYST_ESTATE, "not registered"),
		    err));
	return (0);
}

/* The safety number with peer_id_hex's trusted key, or (pending) with
 * its new one not trusted yet. */
static char *
safety(const struct tryst *t, const char *peer_id_hex, int pending,
    tryst_error **err)
{
	uint8_t	 id[ID_LEN], pk[2][32];
	char	 sn[36], *cause;
	int	 has_pending;

	if (parse_id(peer_id_hex, id, err) != 0 ||
	    registered(t, err) != 0)
		return (NULL);
	if (contacts_get(t->blobs, id, pk[0], pk[1], &has_pending) != 0) {
		lib_err_give(lib_err(TRYST_ESTATE, "no key remembered yet for "
		    "that ID (it is learned in the first call)"), err);
		return (NULL);
	}
	if (pending && !has_pending) {
		lib_err_give(lib_err(TRYST_ESTATE, "no new key is waiting to "
		    "be trusted for that ID"), err);
		return (NULL);
	}
	if (contacts_safety(t->blobs, t->sign_pk, pk[pending], sn,
	    &cause) != 0) {
		lib_err_give(lib_err(TRYST_EIO, "%s", cause), err);
		free(cause);
		return (NULL);
	}
	return (xstrdup(sn));
}

char *
tryst_safety_number(const tryst_t *t, const char *peer_id_hex,
    tryst_error **err)
{
	return (safety(t, peer_id_hex, 0, err));
}

char *
tryst_safety_number_pending(const tryst_t *t, const char *peer_id_hex,
    tryst_error **err)
{
	return (safety(t, peer_id_hex, 1, err));
}

/* The one contact whose ID starts with prefix, in hex. */
char *
tryst_contact_find(const tryst_t *t, const char *prefix)
{
	uint8_t	 id[ID_LEN];
	size_t	 n;
	char	*hex;

	if (t->blobs == NULL || prefix == NULL)
		return (NULL);
	n = strlen(prefix);
	if (n == 0 || n > 2 * ID_LEN ||
	    strspn(prefix, "0123456789abcdefABCDEF") != n ||
	    contacts_find_prefix(t->blobs, prefix, id) != 0)
		return (NULL);
	hex = xmalloc(2 * ID_LEN + 1);
	hex_encode(hex, id, ID_LEN);
	return (hex);
}

int
tryst_trust(tryst_t *t, const char *peer_id_hex, tryst_error **err)
{
	struct tryst_error	*e;
	uint8_t			 id[ID_LEN], pk[32];
	char			*cause;
	int			 rc;

	if ((rc = parse_id(peer_id_hex, id, err)) != 0 ||
	    (rc = registered(t, err)) != 0)
		return (rc);
	switch (contacts_accept(t->blobs, id, pk, &cause)) {
	case CONTACT_UNKNOWN:
		return (lib_err_give(lib_err(TRYST_ESTATE, "no key remembered "
		    "yet for that ID (it is learned in the first call)"),
		    err));
	case CONTACT_NO_PENDING:
		return (lib_err_give(lib_err(TRYST_ESTATE, "no new key to "
		    "trust; the remembered one stays"), err));
	case -1:
		e = lib_err(TRYST_EIO, "%s", cause);
		free(cause);
		return (lib_err_give(e, err));
	}
	call_trusted(t, id, pk);
	return (0);
}
