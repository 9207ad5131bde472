/*
 * auth.c -- what a connection needs to say HELLO (PROTOCOL.md §5.2): the
 * stored credential and the identity key it names, the signed HELLO, and
 * a renewed credential from WELCOME kept. Staying online (presence.c)
 * and the requests that need an account (request.c) share it.
 */
#include <sys/types.h>

#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "lib.h"

/* Load the credential and identity key, checking they belong together. */
struct tryst_error *
auth_load(struct tryst *t, struct auth *a)
{
	struct tryst_error	*e;
	char			*cause;

	memset(a, 0, sizeof *a);
	if (!t->have_conf || *t->conf.number == '\0')
		return (lib_err(TRYST_ESTATE, "not registered"));
	if (state_cred_load(t->blobs, t->sign_pk, a->cred, &a->cr,
	    &cause) != 0 || (a->sk = state_identity_load(t->blobs,
	    &cause)) == NULL) {
		e = lib_err(TRYST_ESTATE, "%s; register again", cause);
		free(cause);
		auth_free(a);
		return (e);
	}
	if (memcmp(a->sk + 32, a->cr.identity_pk, 32) != 0) {
		auth_free(a);
		return (lib_err(TRYST_ESTATE, "the credential belongs to "
		    "another identity key; register again"));
	}
	return (NULL);
}

/* Wipe and free what auth_load loaded. */
void
auth_free(struct auth *a)
{
	if (a->sk != NULL)
		sodium_free(a->sk);
	a->sk = NULL;
	sodium_memzero(a->cred, sizeof a->cred);
}

/* HELLO with flags, signed over the CHALLENGE's nonce, into m. m points
 * into a: it is good while a is. */
void
auth_hello(const struct auth *a, const uint8_t nonce[32], uint8_t flags,
    struct msg *m)
{
	memset(m, 0, sizeof *m);
	m->type = MSG_HELLO;
	m->u.hello.credential.p = a->cred;
	m->u.hello.credential.len = CRED_LEN;
	m->u.hello.flags = flags;
	hello_sign(m->u.hello.signature, a->sk, nonce, a->cred);
}

/* Keep the credential WELCOME renewed, when it is ours and verifies. A
 * renewal that does not is ignored, and the app told (tryst whoami says
 * it): the old credential stays good until it expires. */
void
auth_welcome(struct tryst *t, struct auth *a, const struct msg *m)
{
	const struct vb	*v = &m->u.welcome.credential;
	struct cred	 cr;
	char		*cause;

	if (v->len == 0)
		return;
	if (cred_verify(v->p, v->len, t->sign_pk, &cr) != 0 ||
	    memcmp(cr.id, a->cr.id, ID_LEN) != 0 ||
	    memcmp(cr.identity_pk, a->cr.identity_pk, 32) != 0) {
		lib_notice(t, "the server sent a renewed credential that does "
		    "not verify; kept the old one");
		return;
	}
	memcpy(a->cred, v->p, CRED_LEN);
	a->cr = cr;
	if (state_cred_save(t->blobs, a->cred, &cause) != 0) {
		lib_notice(t, "%s", cause);
		free(cause);
	}
}
