/*
 * echo-bot.c -- a libtryst example: stay online, answer every call, and
 * send each chat line back, prefixed with "echo: ". It says when it is
 * online, and stops when it cannot go on (registered again elsewhere,
 * replaced by a newer device). The account is the tryst CLI's (tryst
 * init, register, verify); then: echo-bot
 */
#include <stdio.h>
#include <string.h>

#include <tryst.h>

static void
on_message(tryst_call_t *call, const uint8_t *data, size_t len, void *user)
{
	char	 reply[4096];
	int	 n;

	n = snprintf(reply, sizeof reply, "echo: %.*s", (int)len,
	    (const char *)data);
	if (n > (int)sizeof reply - 1)
		n = (int)sizeof reply - 1;
	/* A full window drops the echo: a bot may be lossy, an app not. */
	tryst_call_send(call, reply, (size_t)n, NULL);
}

static void
on_state(tryst_call_t *call, int state, const tryst_error *err, void *user)
{
	char	*path;

	if (state == TRYST_CALL_OPEN) {
		path = tryst_call_path(call);
		printf("call open, path: %s\n", path);
		tryst_free(path);
	} else if (state == TRYST_CALL_ENDED) {
		printf("call ended%s%s\n", err != NULL ? ": " : "",
		    err != NULL ? tryst_error_message(err) : "");
		tryst_call_release(call);
	}
	fflush(stdout);
}

static void
on_incoming(tryst_t *t, tryst_call_t *call, void *user)
{
	tryst_call_on_state(call, on_state, NULL);
	tryst_call_on_message(call, on_message, NULL);
	if (tryst_call_accept(call, 0, NULL) != 0)
		tryst_call_decline(call, NULL);
}

static void
on_status(tryst_t *t, int status, const tryst_error *err, void *user)
{
	if (status == TRYST_ONLINE)
		printf("online\n");
	else if (err != NULL)
		printf("%s: %s\n", status == TRYST_STOPPED ? "stopped" :
		    "reconnecting", tryst_error_message(err));
	fflush(stdout);
	if (status == TRYST_STOPPED)
		tryst_stop(t);
}

int
main(void)
{
	tryst_error	*err = NULL;
	tryst_t		*t;

	if ((t = tryst_new(&err)) == NULL ||
	    tryst_state_dir(t, NULL, &err) != 0 ||
	    tryst_go_online(t, on_status, NULL, &err) != 0) {
		fprintf(stderr, "echo-bot: %s\n", tryst_error_message(err));
		tryst_error_free(err);
		tryst_destroy(t);
		return (1);
	}
	tryst_on_incoming(t, on_incoming, NULL);
	tryst_run(t, -1, NULL);
	tryst_destroy(t);
	return (1);	/* it stops only when it cannot go on */
}
