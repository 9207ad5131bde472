/*
 * account.c -- the account calls of libtryst: set the device up for a
 * deployment (pin the server's key, make the identity key), register a
 * number and verify it with the code (PROTOCOL.md §5.1), and what the
 * stored state says about the account.
 */
#include <sys/types.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "lib.h"

#define ACCOUNT_REGISTER_MS	60000	/* delivery may run a slow program */
#define ACCOUNT_REQUEST_MS	30000

/* What tryst_setup keeps until the server has shown its key. */
struct setup {
	char		*servers;
	char		*country;	/* digits, or NULL: keep the old */
};

/* What tryst_register and tryst_verify keep for the reply. */
struct pending {
	struct client_pending pd;
	uint8_t		 identity_pk[32];
};

/* 1 if s is a plain config value: printable, no spaces, no '#'. */
static int
plain_value(const char *s)
{
	for (; *s != '\0'; s++) {
		if (*s <= ' ' || *s >= 0x7f || *s == '#')
			return (0);
	}
	return (1);
}

/* A country code, 1 to 3 digits, the first not 0, "+" dropped; NULL. */
static const char *
country_code(const char *s)
{
	size_t	 n;

	if (*s == '+')
		s++;
	n = strlen(s);
	if (n < 1 || n > 3 || strspn(s, "0123456789") != n || *s == '0')
		return (NULL);
	return (s);
}

static void
setup_free(void *arg)
{
	struct setup	*s = arg;

	free(s->servers);
	free(s->country);
	free(s);
}

/* Refuse to move a registered device to another server key. */
static struct tryst_error *
setup_check_old(const struct tryst *t, const uint8_t pk[32])
{
	const char	*where = blobs_where(t->blobs);

	if (!t->have_conf || *t->conf.number == '\0' ||
	    sodium_memcmp(t->sign_pk, pk, 32) == 0)
		return (NULL);
	return (lib_err(TRYST_ESTATE, "%s is registered as %s with a server "
	    "whose key was %s; %s to start afresh", where != NULL ? where :
	    "the state", t->conf.number, t->conf.key, where != NULL ?
	    "move it away" : "remove its blobs"));
}

/* The server showed its key: write the config and make an identity. */
static struct tryst_error *
setup_reply(struct tryst *t, const struct msg *m,
    const struct tconn_challenge *ch, void *arg)
{
	struct setup		*s = arg;
	struct tryst_error	*e;
	struct client_conf	 cf;
	char			*key, *cause;
	int			 r;

	(void)m;
	if ((e = setup_check_old(t, ch->sign_pk)) != NULL)
		return (e);
	if (blobs_prepare(t->blobs, &cause) != 0 ||
	    state_identity_make(t->blobs, &cause) == -1)
		goto bad;
	key = b64_encode(ch->sign_pk, 32);
	cf.server = s->servers;
	cf.key = key;
	cf.country = s->country != NULL ? s->country : t->have_conf ?
	    t->conf.country : "";
	cf.number = t->have_conf && strcmp(t->conf.key, key) == 0 ?
	    t->conf.number : "";
	r = state_conf_save(t->blobs, &cf, &cause);
	free(key);
	if (r != 0)
		goto bad;
	return (lib_conf_reload(t, &e) == 0 ? NULL : e);
bad:
	e = lib_err(TRYST_EIO, "%s", cause);
	free(cause);
	return (e);
}

/* Set the device up; see tryst.h. */
int
tryst_setup(tryst_t *t, const char *servers, const char *key_b64,
    const char *country, tryst_done_fn done, void *user, tryst_error **err)
{
	struct servers	 sv;
	struct setup	*s;
	uint8_t		 key[32];
	const uint8_t	*expect = NULL;
	const char	*cc = NULL;
	char		*cause;
	int		 r;

	if (t->blobs == NULL)
		return (lib_err_give(lib_err(TRYST_ESTATE, "no state; call "
		    "tryst_state_dir or tryst_state_store first"), err));
	if (servers == NULL || *servers == '\0' || !plain_value(servers))
		return (lib_err_give(lib_err(TRYST_EINVAL, "servers: not "
		    "HOST:PORT[,HOST:PORT...]"), err));
	if (key_b64 != NULL && b64_decode(key, 32, key_b64) != 0)
		return (lib_err_give(lib_err(TRYST_EINVAL, "key: not 32 bytes "
		    "of base64"), err));
	if (country != NULL && (cc = country_code(country)) == NULL)
		return (lib_err_give(lib_err(TRYST_EINVAL, "country: not a "
		    "country code"), err));
	if (servers_parse(&sv, servers, randombytes_uniform, &cause) != 0) {
		r = lib_err_give(lib_err(TRYST_EINVAL, "servers: %s", cause),
		    err);
		free(cause);
		return (r);
	}
	if (key_b64 != NULL)
		expect = key;
	else if (t->have_conf && strcmp(t->conf.server, servers) == 0)
		expect = t->sign_pk;
	s = xcalloc(1, sizeof *s);
	s->servers = xstrdup(servers);
	s->country = cc != NULL ? xstrdup(cc) : NULL;
	return (request_start(t, &sv, expect, NULL, ACCOUNT_REQUEST_MS,
	    setup_reply, s, setup_free, done, user));
}

/* A fresh copy of the configured servers, or an error. */
static int
account_servers(const struct tryst *t, struct servers *sv, tryst_error **err)
{
	char	*cause;
	int	 r;

	if (!t->have_conf)
		return (lib_err_give(lib_err(TRYST_ESTATE, "the device is not "
		    "set up; call tryst_setup"), err));
	if (servers_parse(sv, t->conf.server, randombytes_uniform,
	    &cause) != 0) {
		r = lib_err_give(lib_err(TRYST_ESTATE, "%s", cause), err);
		free(cause);
		return (r);
	}
	return (0);
}

static void
pending_free(void *arg)
{
	struct pending	*p = arg;

	state_pending_free(&p->pd);
	free(p);
}

/* REGISTER_CHALLENGE: keep it for tryst_verify. */
static struct tryst_error *
register_reply(struct tryst *t, const struct msg *m,
    const struct tconn_challenge *ch, void *arg)
{
	struct pending		*p = arg;
	struct tryst_error	*e;
	char			*cause;

	(void)ch;
	if (m->type == MSG_ERROR)
		return (lib_err_server(m));
	if (m->type != MSG_REGISTER_CHALLENGE ||
	    m->u.reg_challenge.token.len == 0 ||
	    m->u.reg_challenge.code_digits > TOKEN_CODE)
		return (lib_err(TRYST_ESERVER, "unexpected %s from the server",
		    proto_type_name(m->type)));
	p->pd.token = xmalloc(2 * (size_t)m->u.reg_challenge.token.len + 1);
	hex_encode(p->pd.token, m->u.reg_challenge.token.p,
	    m->u.reg_challenge.token.len);
	p->pd.code_digits = m->u.reg_challenge.code_digits;
	p->pd.expires = (long long)time(NULL) +
	    m->u.reg_challenge.expires_in_s;
	if (state_pending_save(t->blobs, &p->pd, &cause) != 0) {
		e = lib_err(TRYST_EIO, "%s", cause);
		free(cause);
		return (e);
	}
	return (NULL);
}

/* Register number; see tryst.h. */
int
tryst_register(tryst_t *t, const char *number, tryst_done_fn done,
    void *user, tryst_error **err)
{
	struct servers	 sv;
	struct pending	*p;
	struct msg	 m;
	char		 n[PROTO_MAX_NUMBER + 1];
	int		 r;

	if ((r = account_servers(t, &sv, err)) != 0)
		return (r);
	if (e164_normalise(number, t->conf.country, n, sizeof n) != 0) {
		servers_free(&sv);
		return (lib_err_give(lib_err(TRYST_EINVAL, "%s: not a phone "
		    "number; write + and the country code, or set a default "
		    "country", number), err));
	}
	p = xcalloc(1, sizeof *p);
	p->pd.number = xstrdup(n);
	memset(&m, 0, sizeof m);
	m.type = MSG_REGISTER_BEGIN;
	m.u.reg_begin.number.p = (const uint8_t *)p->pd.number;
	m.u.reg_begin.number.len = (uint16_t)strlen(p->pd.number);
	return (request_start(t, &sv, t->sign_pk, &m, ACCOUNT_REGISTER_MS,
	    register_reply, p, pending_free, done, user));
}

/* REGISTERED: check the credential is ours and store it; an ERROR
 * BAD_CODE keeps the registration waiting, EXPIRED ends it. */
static struct tryst_error *
verify_reply(struct tryst *t, const struct msg *m,
    const struct tconn_challenge *ch, void *arg)
{
	struct pending		*p = arg;
	struct tryst_error	*e;
	struct client_conf	 cf;
	struct cred		 cr;
	char			*cause;

	(void)ch;
	if (m->type == MSG_ERROR) {
		if (m->u.error.code == ERR_EXPIRED &&
		    state_remove(t->blobs, "pending", &cause) != 0)
			free(cause);
		return (lib_err_server(m));
	}
	if (m->type != MSG_REGISTERED)
		return (lib_err(TRYST_ESERVER, "unexpected %s from the server",
		    proto_type_name(m->type)));
	if (cred_verify(m->u.registered.credential.p,
	    m->u.registered.credential.len, t->sign_pk, &cr) != 0 ||
	    memcmp(cr.identity_pk, p->identity_pk, 32) != 0)
		return (lib_err(TRYST_ESERVER, "the server sent a credential "
		    "that does not verify"));
	cf = t->conf;
	cf.number = p->pd.number;
	if (state_cred_save(t->blobs, m->u.registered.credential.p,
	    &cause) != 0 || state_conf_save(t->blobs, &cf, &cause) != 0 ||
	    state_remove(t->blobs, "pending", &cause) != 0) {
		e = lib_err(TRYST_EIO, "%s", cause);
		free(cause);
		return (e);
	}
	return (lib_conf_reload(t, &e) == 0 ? NULL : e);
}

/* The pending registration, with code checked against its shape. */
static int
verify_load(struct tryst *t, const char *code, struct pending *p,
    tryst_error **err)
{
	size_t	 n = strlen(code);
	char	*cause;
	int	 r;

	if (state_pending_load(t->blobs, &p->pd, &cause) != 0) {
		r = lib_err_give(errno == ENOENT ? lib_err(TRYST_ESTATE, "no "
		    "registration is waiting for a code; register first") :
		    lib_err(TRYST_EIO, "%s", cause), err);
		free(cause);
		return (r);
	}
	/* A code of the wrong shape would cost one of the attempts. */
	if (strspn(code, "0123456789") != n || n == 0 || n > TOKEN_CODE ||
	    (p->pd.code_digits != 0 && n != (size_t)p->pd.code_digits))
		return (lib_err_give(lib_err(TRYST_EINVAL, "%s: the code is "
		    "%lld digits", code, p->pd.code_digits), err));
	return (0);
}

/* Verify with code; see tryst.h. */
int
tryst_verify(tryst_t *t, const char *code, tryst_done_fn done, void *user,
    tryst_error **err)
{
	struct servers	 sv;
	struct pending	*p;
	struct msg	 m;
	uint8_t		*sk, *token = NULL;
	size_t		 toklen;
	char		*cause;
	int		 r;

	if ((r = account_servers(t, &sv, err)) != 0)
		return (r);
	p = xcalloc(1, sizeof *p);
	if ((r = verify_load(t, code, p, err)) != 0)
		goto bad;
	toklen = strlen(p->pd.token) / 2;
	token = xmalloc(toklen + 1);
	if (toklen > UINT16_MAX || hex_decode(token, toklen,
	    p->pd.token) != 0) {
		cause = blobs_label(t->blobs, "pending");
		r = lib_err_give(lib_err(TRYST_ESTATE, "%s: the token is not "
		    "hex", cause), err);
		free(cause);
		goto bad;
	}
	if ((sk = state_identity_load(t->blobs, &cause)) == NULL) {
		r = lib_err_give(lib_err(TRYST_EIO, "%s", cause), err);
		free(cause);
		goto bad;
	}
	memcpy(p->identity_pk, sk + 32, 32);
	sodium_free(sk);
	memset(&m, 0, sizeof m);
	m.type = MSG_REGISTER_FINISH;
	m.u.reg_finish.token.p = token;
	m.u.reg_finish.token.len = (uint16_t)toklen;
	m.u.reg_finish.code.p = (const uint8_t *)code;
	m.u.reg_finish.code.len = (uint16_t)strlen(code);
	memcpy(m.u.reg_finish.identity_pk, p->identity_pk, 32);
	r = request_start(t, &sv, t->sign_pk, &m, ACCOUNT_REQUEST_MS,
	    verify_reply, p, pending_free, done, user);
	free(token);
	return (r);
bad:
	free(token);
	servers_free(&sv);
	pending_free(p);
	return (r);
}

/* A copy of s, or NULL when it is empty. */
static char *
copy_set(const char *s)
{
	return (s != NULL && *s != '\0' ? xstrdup(s) : NULL);
}

char *
tryst_account_number(const tryst_t *t)
{
	return (t->have_conf ? copy_set(t->conf.number) : NULL);
}

char *
tryst_account_servers(const tryst_t *t)
{
	return (t->have_conf ? copy_set(t->conf.server) : NULL);
}

char *
tryst_account_server_key(const tryst_t *t)
{
	return (t->have_conf ? copy_set(t->conf.key) : NULL);
}

/* The ID in the stored credential, in hex. */
char *
tryst_account_id(const tryst_t *t)
{
	uint8_t		 raw[CRED_LEN];
	struct cred	 cr;
	char		*hex, *cause;

	if (!t->have_conf || *t->conf.number == '\0')
		return (NULL);
	if (state_cred_load(t->blobs, t->sign_pk, raw, &cr, &cause) != 0) {
		free(cause);
		return (NULL);
	}
	hex = xmalloc(2 * ID_LEN + 1);
	hex_encode(hex, cr.id, ID_LEN);
	return (hex);
}

/* The public identity key in base64, or NULL when there is none. */
char *
tryst_identity_key(const tryst_t *t)
{
	uint8_t	*sk;
	char	*b64, *cause;

	if (t->blobs == NULL)
		return (NULL);
	if ((sk = state_identity_load(t->blobs, &cause)) == NULL) {
		free(cause);
		return (NULL);
	}
	b64 = b64_encode(sk + 32, 32);
	sodium_free(sk);
	return (b64);
}

/* When the stored credential was made and when it expires (which),
 * Unix time; 0 when there is none. */
static int64_t
cred_time(const struct tryst *t, int expires)
{
	uint8_t		 raw[CRED_LEN];
	struct cred	 cr;
	char		*cause;

	if (!t->have_conf || *t->conf.number == '\0')
		return (0);
	if (state_cred_load(t->blobs, t->sign_pk, raw, &cr, &cause) != 0) {
		free(cause);
		return (0);
	}
	return ((int64_t)(expires ? cr.expires : cr.created));
}

int64_t
tryst_account_created(const tryst_t *t)
{
	return (cred_time(t, 0));
}

int64_t
tryst_account_expires(const tryst_t *t)
{
	return (cred_time(t, 1));
}

/* What tryst_check_account keeps for its callback. */
struct check {
	tryst_check_fn	 fn;
	void		*user;
	char		*address;	/* WELCOME's */
};

static void
check_free(void *arg)
{
	struct check	*c = arg;

	free(c->address);
	free(c);
}

/* The only turn, after WELCOME: the server knows the account. Nothing
 * is sent, so the exchange ends here and no other turn comes. */
static struct tryst_error *
check_turn(struct tryst *t, struct request *rq, const struct msg *m,
    void *arg)
{
	struct check	*c = arg;

	(void)t, (void)m;
	c->address = xstrdup(request_address(rq));
	return (NULL);
}

static void
check_done(tryst_t *t, const tryst_error *e, void *user)
{
	struct check	*c = user;

	c->fn(t, e, e == NULL ? c->address : NULL, c->user);
}

/* Ask the server about the account; see tryst.h. */
int
tryst_check_account(tryst_t *t, tryst_check_fn fn, void *user,
    tryst_error **err)
{
	struct check	*c;

	if (fn == NULL)
		return (lib_err_give(lib_err(TRYST_EINVAL,
		    "tryst_check_account: no callback"), err));
	c = xcalloc(1, sizeof *c);
	c->fn = fn;
	c->user = user;
	return (request_exchange(t, ACCOUNT_REQUEST_MS, check_turn, c,
	    check_free, check_done, c, err));
}

/* The account is gone at the server: forget the registration here (the
 * credential, and the number in the config), keeping the set-up. */
static struct tryst_error *
account_forget(struct tryst *t)
{
	struct tryst_error	*e;
	struct client_conf	 cf;
	char			*cause;

	cf = t->conf;
	cf.number = "";
	if (state_remove(t->blobs, "credential", &cause) != 0 ||
	    state_conf_save(t->blobs, &cf, &cause) != 0) {
		e = lib_err(TRYST_EIO, "%s", cause);
		free(cause);
		return (e);
	}
	return (lib_conf_reload(t, &e) == 0 ? NULL : e);
}

/* DELETE_ACCOUNT after WELCOME; DELETED in answer ends the exchange. */
static struct tryst_error *
delete_turn(struct tryst *t, struct request *rq, const struct msg *m,
    void *arg)
{
	struct msg	 out;

	(void)arg;
	if (m == NULL) {
		memset(&out, 0, sizeof out);
		out.type = MSG_DELETE_ACCOUNT;
		if (request_send(rq, &out) != 0)
			return (lib_err(TRYST_ENET, "cannot send "
			    "DELETE_ACCOUNT"));
		return (NULL);
	}
	if (m->type == MSG_ERROR)
		return (lib_err_server(m));
	if (m->type != MSG_DELETED)
		return (lib_err(TRYST_ESERVER, "unexpected %s in answer to "
		    "DELETE_ACCOUNT", proto_type_name(m->type)));
	return (account_forget(t));
}

/* Delete the account; see tryst.h. */
int
tryst_delete_account(tryst_t *t, tryst_done_fn done, void *user,
    tryst_error **err)
{
	if (done == NULL)
		return (lib_err_give(lib_err(TRYST_EINVAL,
		    "tryst_delete_account: no callback"), err));
	return (request_exchange(t, ACCOUNT_REQUEST_MS, delete_turn, NULL,
	    NULL, done, user, err));
}
