/*
 * talk.c -- the caller's commands, tryst chat and tryst send, over
 * libtryst: go online only to call (tryst_go_online_outgoing, so they
 * work beside a running tryst listen of the same account) while the
 * callee's ID is looked up, call it (with --relay-only: an empty offer,
 * so that the callee learns no address of ours), and run the call: the
 * lines of stdin (chat) or the files (send), then goodbye.
 */
#include <sys/stat.h>

#include <err.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"

struct talk {
	tryst_t		*t;
	const char	*typed;
	char		 number[TRYST_NUMBER_MAX];
	char		*id;		/* the callee's, hex */
	int		 looked;	/* the lookup is over: 1, or -1 */
	int		 online;	/* 1 online, -1 could not be */
	int		 relay_only;
	int		 chat;
	char		**files;
	int		 nfiles;
	struct conv	 cv;
};

/* Parse [--relay-only] and the rest; usage on anything else. */
static int
talk_parse(struct talk *tk, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "relay-only", no_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 }
	};
	int	 ch;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+r", longopts, NULL)) != -1) {
		if (ch != 'r')
			tryst_usage();
		tk->relay_only = 1;
	}
	return (optind);
}

/* Check the files before anyone is called. */
static void
talk_check_files(char **files, int n)
{
	struct stat	 sb;
	int		 i;

	for (i = 0; i < n; i++) {
		if (stat(files[i], &sb) == -1)
			err(1, "%s", files[i]);
		if (!S_ISREG(sb.st_mode))
			errx(1, "%s: not a regular file", files[i]);
	}
}

/* Online, or why not: a failure before the first WELCOME ends the
 * command (tryst listen is the one that keeps trying). */
static void
on_status(tryst_t *t, int status, const tryst_error *e, void *user)
{
	struct talk	*tk = user;

	(void)t;
	if (status == TRYST_ONLINE) {
		tk->online = 1;
		return;
	}
	if (tk->online == 1 && e == NULL)
		return;
	if (e != NULL)
		warnx("%s", tryst_error_message(e));
	tk->online = -1;
}

/* The callee's ID, from the cache or the server. */
static void
on_lookup(tryst_t *t, const tryst_error *e, const tryst_lookup_result *res,
    void *user)
{
	struct talk	*tk = user;

	(void)t;
	tk->looked = -1;
	if (e != NULL) {
		warnx("%s", tryst_error_message(e));
		return;
	}
	snprintf(tk->number, sizeof tk->number, "%s",
	    tryst_lookup_number(res, 0));
	if (tryst_lookup_registered(res, 0) != 1) {
		warnx("%s has no account", tk->number);
		return;
	}
	tk->id = xstrdup(tryst_lookup_id(res, 0));
	tk->looked = 1;
}

/* Why a call that never opened did not happen. */
static void
say_not_opened(struct talk *tk)
{
	const struct conv	*cv = &tk->cv;
	const char		*n = tk->number;

	if (cv->code == TRYST_EKEY &&
	    tryst_call_peer_trust(cv->call) == TRYST_PEER_CHANGED)
		trust_warn(n);
	else if (cv->server_code == ERR_OFFLINE)
		warnx("%s is not online", n);
	else if (cv->server_code == ERR_TIMEOUT)
		warnx("%s did not answer", n);
	else if (cv->code == TRYST_ESERVER && cv->server_code == 0)
		warnx("%s %s", n, cv->why);	/* "declined (busy)" */
	else if (tryst_call_state(cv->call) == TRYST_CALL_ENDED &&
	    tryst_call_peer_trust(cv->call) >= 0)
		warnx("could not reach %s: %s", n, cv->why);
	else
		warnx("%s", cv->why != NULL ? cv->why : "the call ended");
}

/* The call opened: say the path, queue the files. */
static void
on_call_state(struct conv *cv, int state)
{
	struct talk	*tk = cv->user;
	char		*path;

	if (state != TRYST_CALL_OPEN)
		return;
	path = tryst_call_path(cv->call);
	fprintf(stderr, "path: %s\n", path);
	tryst_free(path);
	if (!tk->chat)
		tryst_call_close(cv->call);	/* after the files */
}

/* Go online and look the callee up, both at once: 0 when both are done
 * and fine. */
static int
talk_prepare(struct talk *tk)
{
	const char	*numbers[1] = { tk->typed };
	tryst_error	*e = NULL;
	char		*own;
	int		 rc = 0;

	if (tryst_go_online_outgoing(tk->t, on_status, tk, &e) != 0 ||
	    tryst_lookup(tk->t, numbers, 1, on_lookup, tk, &e) != 0) {
		warnx("%s", tryst_error_message(e));
		tryst_error_free(e);
		return (-1);
	}
	while (!cli_stopped() && (tk->looked == 0 || tk->online == 0))
		cli_poll(tk->t, -1);
	if (tk->looked != 1 || tk->online != 1)
		return (-1);
	own = tryst_account_number(tk->t);
	if (own != NULL && strcmp(own, tk->number) == 0) {
		warnx("%s is this device's own number", tk->number);
		rc = -1;
	}
	tryst_free(own);
	return (rc);
}

/* Call, then chat or send; the exit status. */
static int
talk(struct talk *tk)
{
	tryst_call_t	*call;
	tryst_error	*e = NULL;
	int		 rc = 1;

	talk_check_files(tk->files, tk->nfiles);
	tk->t = cli_lib();
	tryst_on_notice(tk->t, cli_notice, NULL);
	cli_catch_stops();
	if (talk_prepare(tk) != 0)
		goto out;
	if (tryst_call(tk->t, tk->id, tk->relay_only ? TRYST_CALL_RELAY_ONLY :
	    0, &call, &e) != 0) {
		warnx("%s", tryst_error_message(e));
		tryst_error_free(e);
		goto out;
	}
	conv_init(&tk->cv, tk->t, call, tk->number);
	tk->cv.user = tk;
	tk->cv.on_state = on_call_state;
	tk->cv.chat = tk->cv.stdin_open = tk->cv.close_at_eof = tk->chat;
	conv_receive(&tk->cv, ".");	/* the peer may send files too */
	if (conv_send_files(&tk->cv, tk->files, tk->nfiles) == 0) {
		while (!tk->cv.ended && !cli_stopped())
			conv_stdin(&tk->cv, cli_poll(tk->t,
			    conv_wants_stdin(&tk->cv) ? STDIN_FILENO : -1));
	}
	if (!tk->cv.ended)
		tryst_call_close(call);		/* hangs up */
	else if (!tk->cv.opened)
		say_not_opened(tk);
	else if (!tk->cv.clean)
		warnx("%s: %s", tk->number, tk->cv.why);
	if (tk->cv.opened || tk->nfiles > 0)
		rc = conv_report(&tk->cv) == 0 ? 0 : 1;
	else
		rc = tk->cv.ended && tk->cv.clean ? 0 : 1;
	tryst_call_release(call);
	conv_free(&tk->cv);
out:
	tryst_destroy(tk->t);	/* deletes the router's mapping */
	free(tk->id);
	cli_die_of_stop();
	return (rc);
}

/* tryst chat NUMBER: stdin lines to NUMBER, its lines to stdout. */
int
talk_chat(int argc, char **argv)
{
	struct talk	 tk;
	int		 i;

	memset(&tk, 0, sizeof tk);
	i = talk_parse(&tk, argc, argv);
	if (argc - i != 1)
		tryst_usage();
	tk.typed = argv[i];
	tk.chat = 1;
	return (talk(&tk));
}

/* tryst send NUMBER FILE...: send files. */
int
talk_send(int argc, char **argv)
{
	struct talk	 tk;
	int		 i;

	memset(&tk, 0, sizeof tk);
	i = talk_parse(&tk, argc, argv);
	if (argc - i < 2)
		tryst_usage();
	tk.typed = argv[i];
	tk.files = argv + i + 1;
	tk.nfiles = argc - i - 1;
	return (talk(&tk));
}
