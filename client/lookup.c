/*
 * lookup.c -- discovery (PROTOCOL.md §5.3) for the CLI: tryst lookup
 * prints what libtryst's tryst_lookup found.
 */
#include <err.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "client.h"

/* The library's notices (moving on from a server that failed). */
static void
lookup_notice(tryst_t *t, const char *text, void *user)
{
	(void)t, (void)user;
	warnx("%s", text);
}

/* Print which numbers have accounts, in the order given. */
static void
lookup_done(tryst_t *t, const tryst_error *e, const tryst_lookup_result *res,
    void *user)
{
	int	 i, n;

	cli_done(t, e, user);
	if (e != NULL)
		return;
	n = tryst_lookup_count(res);
	for (i = 0; i < n; i++)
		printf("%s %s\n", tryst_lookup_number(res, i),
		    tryst_lookup_registered(res, i) == 1 ? "has an account" :
		    "has no account");
}

/* tryst lookup NUMBER...: which of these numbers have accounts. */
int
lookup_cmd(int argc, char **argv)
{
	struct tryst_ctx	 c;
	struct cli_result	 r;
	tryst_error		*e = NULL;
	tryst_t			*t;
	char			(*numbers)[TRYST_NUMBER_MAX];
	const char		**list;
	int			 i, n = argc - 1, rc;

	if (n < 1)
		tryst_usage();
	tryst_ctx_load(&c);
	numbers = xcalloc((size_t)n, sizeof *numbers);
	list = xcalloc((size_t)n, sizeof *list);
	for (i = 0; i < n; i++) {
		tryst_number(&c, argv[i + 1], numbers[i]);
		list[i] = numbers[i];
	}
	tryst_ctx_free(&c);
	t = cli_lib();
	tryst_on_notice(t, lookup_notice, NULL);
	memset(&r, 0, sizeof r);
	if (tryst_lookup(t, list, n, lookup_done, &r, &e) != 0)
		errx(1, "%s", tryst_error_message(e));
	rc = cli_wait(t, &r);
	free(r.message);
	tryst_destroy(t);
	free(list);
	free(numbers);
	return (rc);
}
