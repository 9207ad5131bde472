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

/* tryst register NUMBER: ask the server to send a code to NUMBER. */
int
account_register(int argc, char **argv)
{
	struct tryst_ctx	 c;
	struct cli_result	 r;
	tryst_error		*e = NULL;
	tryst_t			*t;
	char			 number[TRYST_NUMBER_MAX];
	int			 rc;

	if (argc != 2)
		tryst_usage();
	tryst_ctx_load(&c);
	tryst_number(&c, argv[1], number);
	tryst_ctx_free(&c);
	t = cli_lib();
	memset(&r, 0, sizeof r);
	if (tryst_register(t, number, cli_done, &r, &e) != 0)
		errx(1, "%s", tryst_error_message(e));
	if ((rc = cli_wait(t, &r)) == 0)
		printf("code sent to %s; run: tryst verify CODE\n", number);
	free(r.message);
	tryst_destroy(t);
	return (rc);
}

/* tryst verify CODE: finish the pending registration. A wrong code
 * keeps it waiting; an expired one ends it. */
int
account_verify(int argc, char **argv)
{
	struct tryst_ctx	 c;
	struct cli_result	 r;
	tryst_error		*e = NULL;
	tryst_t			*t;
	char			*number;
	int			 rc;

	if (argc != 2)
		tryst_usage();
	tryst_ctx_load(&c);
	tryst_ctx_free(&c);
	t = cli_lib();
	memset(&r, 0, sizeof r);
	if (tryst_verify(t, argv[1], cli_done, &r, &e) != 0)
		errx(1, "%s", tryst_error_message(e));
	if ((rc = cli_wait(t, &r)) == 0) {
		number = tryst_account_number(t);
		printf("registered %s\n", number);
		tryst_free(number);
	} else if (r.server_code == ERR_BAD_CODE)
		fprintf(stderr, "tryst: wrong code; try again: tryst verify "
		    "CODE\n");
	else if (r.server_code == ERR_EXPIRED)
		fprintf(stderr, "tryst: the code expired or was used up; "
		    "start again: tryst register NUMBER\n");
	free(r.message);
	tryst_destroy(t);
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
	if (state_cred_save(c->blobs, v->p, &cause) != 0)
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

	if ((sk = state_identity_load(c->blobs, &cause)) == NULL) {
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
	if (state_cred_load(c.blobs, c.sign_pk, raw, &cr, &cause) != 0)
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
		if (state_remove(c.blobs, "credential", &cause) != 0 ||
		    state_conf_save(c.blobs, &c.conf, &cause) != 0)
			errx(1, "%s", cause);
		rc = 0;
	}
	online_close(&o);
	tryst_ctx_free(&c);
	return (rc);
}
