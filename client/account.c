/*
 * account.c -- the account commands: register, verify, whoami.
 */
#include <sys/types.h>

#include <arpa/inet.h>

#include <err.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <sodium.h>

#include "client.h"

#define REGISTER_MS	60000	/* code delivery may run a slow program */

/* Keep a REGISTER_CHALLENGE for tryst verify. */
static void
register_save(const struct tryst_ctx *c, const char *number,
    const struct msg *m)
{
	struct client_pending	 pd;
	char			*cause;

	pd.number = (char *)number;
	pd.token = xmalloc(2 * (size_t)m->u.reg_challenge.token.len + 1);
	hex_encode(pd.token, m->u.reg_challenge.token.p,
	    m->u.reg_challenge.token.len);
	pd.code_digits = m->u.reg_challenge.code_digits;
	pd.expires = (long long)time(NULL) + m->u.reg_challenge.expires_in_s;
	if (state_pending_save(c->dir, &pd, &cause) != 0)
		errx(1, "%s", cause);
	free(pd.token);
}

/* tryst register NUMBER: ask the server to send a code to NUMBER. */
int
account_register(int argc, char **argv)
{
	struct tryst_ctx	 c;
	struct tconn	*t;
	struct msg	 out, in;
	char		 number[PROTO_MAX_NUMBER + 1];
	int		 rc = 1;

	if (argc != 2)
		tryst_usage();
	tryst_ctx_load(&c);
	if (e164_normalise(argv[1], c.conf.country, number,
	    sizeof number) != 0)
		errx(1, "%s: not a phone number; write + and the country "
		    "code, or set a default with tryst init --country CC",
		    argv[1]);
	t = tryst_connect(&c, NULL);
	memset(&out, 0, sizeof out);
	out.type = MSG_REGISTER_BEGIN;
	out.u.reg_begin.number.p = (const uint8_t *)number;
	out.u.reg_begin.number.len = (uint16_t)strlen(number);
	if (tryst_request(t, &out, &in, REGISTER_MS) != 0)
		goto out;
	if (in.type != MSG_REGISTER_CHALLENGE ||
	    in.u.reg_challenge.token.len == 0 ||
	    in.u.reg_challenge.code_digits > TOKEN_CODE) {
		rc = tryst_unexpected(&in);
		goto out;
	}
	register_save(&c, number, &in);
	printf("code sent to %s; run: tryst verify CODE\n", number);
	rc = 0;
out:
	tconn_close(t);
	tryst_ctx_free(&c);
	return (rc);
}

/* Store what REGISTERED brought, after checking it is ours. */
static int
verify_finish(struct tryst_ctx *c, const char *number, const struct msg *m,
    const uint8_t identity_pk[32])
{
	struct cred	 cr;
	char		*cause;

	if (cred_verify(m->u.registered.credential.p,
	    m->u.registered.credential.len, c->sign_pk, &cr) != 0 ||
	    memcmp(cr.identity_pk, identity_pk, 32) != 0) {
		warnx("the server sent a credential that does not verify");
		return (1);
	}
	free(c->conf.number);
	c->conf.number = xstrdup(number);
	if (state_cred_save(c->dir, m->u.registered.credential.p,
	    &cause) != 0 || state_conf_save(c->dir, &c->conf, &cause) != 0 ||
	    state_remove(c->dir, "pending", &cause) != 0)
		errx(1, "%s", cause);
	printf("registered %s\n", number);
	return (0);
}

/* What verify says to an ERROR: BAD_CODE keeps pending, EXPIRED not. */
static int
verify_error(struct tryst_ctx *c, const struct msg *m)
{
	char	*cause;

	tryst_print_error(m);
	if (m->u.error.code == ERR_BAD_CODE)
		fprintf(stderr, "tryst: wrong code; try again: tryst verify "
		    "CODE\n");
	else if (m->u.error.code == ERR_EXPIRED) {
		if (state_remove(c->dir, "pending", &cause) != 0)
			errx(1, "%s", cause);
		fprintf(stderr, "tryst: the code expired or was used up; "
		    "start again: tryst register NUMBER\n");
	}
	return (1);
}

/* Load the pending registration and check code against it, or exit. */
static void
verify_load(struct tryst_ctx *c, const char *code, struct client_pending *pd)
{
	char	*cause;
	size_t	 n = strlen(code);

	if (state_pending_load(c->dir, pd, &cause) != 0) {
		if (errno == ENOENT)
			errx(1, "no registration is waiting for a code; run: "
			    "tryst register NUMBER");
		errx(1, "%s", cause);
	}
	/* A code of the wrong shape would cost one of the attempts. */
	if (strspn(code, "0123456789") != n || n == 0 || n > TOKEN_CODE ||
	    (pd->code_digits != 0 && n != (size_t)pd->code_digits))
		errx(1, "%s: the code is %lld digits", code, pd->code_digits);
}

/* tryst verify CODE: finish the pending registration. */
int
account_verify(int argc, char **argv)
{
	struct tryst_ctx		 c;
	struct client_pending	 pd;
	struct tconn		*t;
	struct msg		 out, in;
	uint8_t			*sk, *token;
	size_t			 toklen;
	char			*cause;
	int			 rc = 1;

	if (argc != 2)
		tryst_usage();
	tryst_ctx_load(&c);
	verify_load(&c, argv[1], &pd);
	toklen = strlen(pd.token) / 2;
	token = xmalloc(toklen);
	if (toklen > UINT16_MAX || hex_decode(token, toklen, pd.token) != 0)
		errx(1, "%s/pending: the token is not hex", c.dir);
	t = tryst_connect(&c, NULL);
	if ((sk = state_identity_load(c.dir, &cause)) == NULL) {
		tconn_close(t);
		errx(1, "%s", cause);
	}
	memset(&out, 0, sizeof out);
	out.type = MSG_REGISTER_FINISH;
	out.u.reg_finish.token.p = token;
	out.u.reg_finish.token.len = (uint16_t)toklen;
	out.u.reg_finish.code.p = (const uint8_t *)argv[1];
	out.u.reg_finish.code.len = (uint16_t)strlen(argv[1]);
	memcpy(out.u.reg_finish.identity_pk, sk + 32, 32);
	if (tryst_request(t, &out, &in, TRYST_REQUEST_MS) == 0) {
		if (in.type == MSG_REGISTERED)
			rc = verify_finish(&c, pd.number, &in, sk + 32);
		else if (in.type == MSG_ERROR)
			rc = verify_error(&c, &in);
		else
			rc = tryst_unexpected(&in);
	}
	sodium_free(sk);
	tconn_close(t);
	free(token);
	state_pending_free(&pd);
	tryst_ctx_free(&c);
	return (rc);
}

/* Print who this device is, from the stored credential. */
static void
whoami_print(const struct tryst_ctx *c, const struct cred *cr)
{
	char	 id[2 * ID_LEN + 1], t1[32], t2[32];

	hex_encode(id, cr->id, ID_LEN);
	printf("number: %s\nid: %s\nserver: %s\nserver key: %s\n"
	    "credential created: %s\ncredential expires: %s\n",
	    c->conf.number, id, c->conf.server, c->conf.key,
	    tryst_iso_time(cr->created, t1, sizeof t1),
	    tryst_iso_time(cr->expires, t2, sizeof t2));
	fflush(stdout);
}

/* Print WELCOME and keep a renewed credential if it is ours. */
static void
whoami_welcome(const struct tryst_ctx *c, const struct cred *old,
    const struct msg *m)
{
	struct cred	 cr;
	char		 addr[INET6_ADDRSTRLEN], when[32], *cause;
	const struct vb	*v = &m->u.welcome.credential;

	if (inet_ntop(m->u.welcome.family == 4 ? AF_INET : AF_INET6,
	    m->u.welcome.addr, addr, sizeof addr) == NULL)
		snprintf(addr, sizeof addr, "?");
	printf("status: online\n");
	printf(m->u.welcome.family == 4 ? "address: %s:%u\n" :
	    "address: [%s]:%u\n", addr, m->u.welcome.port);
	if (v->len == 0)
		return;
	if (cred_verify(v->p, v->len, c->sign_pk, &cr) != 0 ||
	    memcmp(cr.id, old->id, ID_LEN) != 0 ||
	    memcmp(cr.identity_pk, old->identity_pk, 32) != 0) {
		warnx("the server sent a renewed credential that does not "
		    "verify; kept the old one");
		return;
	}
	if (state_cred_save(c->dir, v->p, &cause) != 0)
		errx(1, "%s", cause);
	printf("credential renewed: expires %s\n",
	    tryst_iso_time(cr.expires, when, sizeof when));
}

/* Sign and send HELLO and handle what comes back. */
static int
whoami_hello(const struct tryst_ctx *c, struct tconn *t,
    const struct tconn_challenge *ch, const uint8_t raw[CRED_LEN],
    const struct cred *cr)
{
	struct msg	 out, in;
	uint8_t		*sk;
	char		*cause;

	if ((sk = state_identity_load(c->dir, &cause)) == NULL) {
		warnx("%s", cause);
		return (1);
	}
	if (memcmp(sk + 32, cr->identity_pk, 32) != 0) {
		sodium_free(sk);
		warnx("the credential belongs to another identity key");
		return (1);
	}
	memset(&out, 0, sizeof out);
	out.type = MSG_HELLO;
	out.u.hello.credential.p = raw;
	out.u.hello.credential.len = CRED_LEN;
	hello_sign(out.u.hello.signature, sk, ch->nonce, raw);
	sodium_free(sk);
	if (tryst_request(t, &out, &in, TRYST_REQUEST_MS) != 0)
		return (1);
	if (in.type == MSG_WELCOME) {
		whoami_welcome(c, cr, &in);
		return (0);
	}
	if (in.type == MSG_ERROR && in.u.error.code == ERR_REVOKED) {
		tryst_print_error(&in);
		fprintf(stderr, "tryst: this device's registration was revoked "
		    "(the number was registered again elsewhere or "
		    "deleted)\n");
		return (1);
	}
	return (tryst_unexpected(&in));
}

/* tryst whoami: who this device is, and whether the server agrees. */
int
account_whoami(int argc, char **argv)
{
	struct tryst_ctx		 c;
	struct cred		 cr;
	struct tconn_challenge	 ch;
	struct tconn		*t;
	uint8_t			 raw[CRED_LEN];
	char			*cause;
	int			 rc;

	if (argc != 1)
		tryst_usage();
	tryst_ctx_load(&c);
	if (*c.conf.number == '\0')
		errx(1, "not registered; run: tryst register NUMBER");
	if (state_cred_load(c.dir, c.sign_pk, raw, &cr, &cause) != 0)
		errx(1, "%s", cause);
	whoami_print(&c, &cr);
	servers_round(&c.srv);
	if ((t = tryst_open(&c.srv, c.sign_pk, &ch, NULL, &cause)) == NULL) {
		printf("status: offline\n");
		errx(1, "%s", cause);
	}
	rc = whoami_hello(&c, t, &ch, raw, &cr);
	tconn_close(t);
	tryst_ctx_free(&c);
	return (rc);
}

/* tryst delete-account: delete the account; on DELETED forget it here. */
int
account_delete(int argc, char **argv)
{
	struct tryst_ctx	 c;
	struct online		 o;
	struct msg		 m;
	char			*cause;
	int			 rc = 1;

	(void)argv;
	if (argc != 1)
		tryst_usage();
	tryst_ctx_load(&c);
	if (online_open(&o, &c, 0, 0, &cause) != 0)
		errx(1, "%s", cause);
	memset(&m, 0, sizeof m);
	m.type = MSG_DELETE_ACCOUNT;
	if (online_send(&o, &m) != 0 || online_recv(&o, &m,
	    TRYST_REQUEST_MS) != 1)
		warnx("no answer to DELETE_ACCOUNT from the server");
	else if (m.type != MSG_DELETED)
		tryst_unexpected(&m);
	else {
		printf("deleted the account of %s\n", c.conf.number);
		free(c.conf.number);
		c.conf.number = xstrdup("");
		if (state_remove(c.dir, "credential", &cause) != 0 ||
		    state_conf_save(c.dir, &c.conf, &cause) != 0)
			errx(1, "%s", cause);
		rc = 0;
	}
	online_close(&o);
	tryst_ctx_free(&c);
	return (rc);
}
