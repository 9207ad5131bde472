/*
 * account.c -- the account commands over libtryst: register, verify,
 * whoami (tryst_check_account) and delete-account
 * (tryst_delete_account). Arguments and printing; the library does the
 * rest.
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

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
whoami_print(tryst_t *t)
{
	char	*number, *id, *server, *key, t1[32], t2[32];

	number = tryst_account_number(t);
	id = tryst_account_id(t);
	server = tryst_account_servers(t);
	key = tryst_account_server_key(t);
	printf("number: %s\nid: %s\nserver: %s\nserver key: %s\n"
	    "credential created: %s\ncredential expires: %s\n",
	    number, id, server, key,
	    tryst_iso_time((uint64_t)tryst_account_created(t), t1, sizeof t1),
	    tryst_iso_time((uint64_t)tryst_account_expires(t), t2, sizeof t2));
	fflush(stdout);
	tryst_free(number);
	tryst_free(id);
	tryst_free(server);
	tryst_free(key);
}

/* What the server said to whoami's HELLO. */
struct whoami {
	struct cli_result	 r;
	char			*address;
};

static void
whoami_done(tryst_t *t, const tryst_error *e, const char *address,
    void *user)
{
	struct whoami	*w = user;

	cli_done(t, e, &w->r);
	if (address != NULL)
		w->address = xstrdup(address);
}

/* tryst whoami: who this device is, and whether the server agrees. */
int
account_whoami(int argc, char **argv)
{
	struct whoami		 w;
	tryst_error		*e = NULL;
	tryst_t			*t;
	int64_t			 expires;
	char			 when[32];
	int			 rc;

	(void)argv;
	if (argc != 1)
		tryst_usage();
	t = cli_registered_lib();
	memset(&w, 0, sizeof w);
	if (tryst_check_account(t, whoami_done, &w, &e) != 0)
		errx(1, "%s", tryst_error_message(e));
	expires = tryst_account_expires(t);
	whoami_print(t);
	while (!w.r.done && tryst_run(t, 1000, NULL) == 0)
		;
	if (w.r.code == TRYST_ENET || w.r.code == TRYST_EKEY)
		printf("status: offline\n");
	if ((rc = cli_wait(t, &w.r)) == 0) {
		printf("status: online\naddress: %s\n", w.address);
		if (tryst_account_expires(t) != expires)
			printf("credential renewed: expires %s\n",
			    tryst_iso_time((uint64_t)tryst_account_expires(t),
			    when, sizeof when));
	} else if (w.r.code == TRYST_EREVOKED)
		fprintf(stderr, "tryst: this device's registration was revoked "
		    "(the number was registered again elsewhere or "
		    "deleted)\n");
	free(w.r.message);
	free(w.address);
	tryst_destroy(t);
	return (rc);
}

/* tryst delete-account: delete the account; on DELETED forget it here. */
int
account_delete(int argc, char **argv)
{
	struct tryst_ctx	 c;
	struct cli_result	 r;
	tryst_error		*e = NULL;
	tryst_t			*t;
	char			*number;
	int			 rc;

	(void)argv;
	if (argc != 1)
		tryst_usage();
	tryst_ctx_load(&c);
	tryst_ctx_free(&c);
	t = cli_lib();
	tryst_on_notice(t, cli_notice, NULL);
	number = tryst_account_number(t);
	memset(&r, 0, sizeof r);
	if (tryst_delete_account(t, cli_done, &r, &e) != 0)
		errx(1, "%s", tryst_error_message(e));
	if ((rc = cli_wait(t, &r)) == 0)
		printf("deleted the account of %s\n", number);
	free(r.message);
	tryst_free(number);
	tryst_destroy(t);
	return (rc);
}
