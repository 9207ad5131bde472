/*
 * trust.c -- contacts' identity keys in libtryst: the safety number of
 * §6.4 with a contact's remembered key (the digits tryst fingerprint
 * prints), and tryst_trust, which accepts a changed key as tryst trust
 * does. The contacts file is contacts.c's, shared with the CLI; a call's
 * own view of its peer's key is in call.c.
 */
#include <stdlib.h>

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

char *
tryst_safety_number(const tryst_t *t, const char *peer_id_hex,
    tryst_error **err)
{
	uint8_t	 id[ID_LEN], trusted[32], pending[32];
	char	 sn[36], *cause;
	int	 has_pending;

	if (parse_id(peer_id_hex, id, err) != 0 ||
	    registered(t, err) != 0)
		return (NULL);
	if (contacts_get(t->blobs, id, trusted, pending, &has_pending) != 0) {
		lib_err_give(lib_err(TRYST_ESTATE, "no key remembered yet for "
		    "that ID (it is learned in the first call)"), err);
		return (NULL);
	}
	if (contacts_safety(t->blobs, t->sign_pk, trusted, sn, &cause) != 0) {
		lib_err_give(lib_err(TRYST_EIO, "%s", cause), err);
		free(cause);
		return (NULL);
	}
	return (xstrdup(sn));
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
