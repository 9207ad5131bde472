/*
 * listen.c -- tryst listen over libtryst: stay online for calls
 * (tryst_go_online, which reconnects with back-off, moves on after
 * GOAWAY and maps P on the router while online), answer one call at a
 * time (another is declined as busy), print text messages and save files;
 * with --chat, send the lines typed on stdin to the caller of the session
 * in progress, and refuse those typed outside one. After GOAWAY replaced
 * or revoked it stops, as doc/protocol.md §4 asks.
 *
 * SIGINT, SIGTERM or SIGHUP stop the loop rather than the process: the
 * library then deletes the router's mapping and a half-received file,
 * and tryst dies of the signal.
 */
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"

#define TYPED_MAX	8192

struct listener {
	tryst_t		*t;
	const char	*dir;
	int		 decline;
	int		 ignore;
	int		 chat;		/* --chat: stdin goes to the caller */
	int		 stdin_open;	/* with chat, until EOF */
	size_t		 fill;		/* typed outside a session */
	char		 typed[TYPED_MAX];
	struct conv	*cv;		/* the call being answered, or NULL */
	int		 stop;		/* 1 to stop: 0 replaced, else 1 */
	int		 rc;
};

/* Parse listen's options, or print usage and exit 2. */
static void
listen_parse(int argc, char **argv, struct listener *l)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "decline", no_argument, NULL, 'x' },
		{ "ignore", no_argument, NULL, 'i' },
		{ "chat", no_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 }
	};
	struct stat	 sb;
	int		 ch;

	l->dir = ".";
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "d:xic", longopts, NULL)) !=
	    -1) {
		if (ch == 'd')
			l->dir = optarg;
		else if (ch == 'c')
			l->chat = l->stdin_open = 1;
		else if (ch == 'x')
			l->decline = 1;
		else if (ch == 'i')
			l->ignore = 1;
		else
			tryst_usage();
	}
	if (optind != argc || (l->decline && l->ignore))
		tryst_usage();
	if (stat(l->dir, &sb) == -1)
		err(1, "%s", l->dir);
	if (!S_ISDIR(sb.st_mode))
		errx(1, "%s: not a directory", l->dir);
}

/* Drop the line at the front of what was typed: it goes nowhere. */
static void
typed_refuse(struct listener *l, size_t len)
{
	warnx("no call in progress: the line was not sent");
	l->fill -= len;
	memmove(l->typed, l->typed + len, l->fill);
}

/* Read what stdin has outside a session; refuse each whole line. At EOF
 * stop reading it, and go on listening. */
static void
typed_read(struct listener *l)
{
	ssize_t	 n;
	char	*nl;

	n = read(STDIN_FILENO, l->typed + l->fill, sizeof l->typed - l->fill);
	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		if (l->fill > 0)
			typed_refuse(l, l->fill);
		l->stdin_open = 0;
		return;
	}
	l->fill += (size_t)n;
	while ((nl = memchr(l->typed, '\n', l->fill)) != NULL ||
	    l->fill == sizeof l->typed)
		typed_refuse(l, nl != NULL ? (size_t)(nl - l->typed) + 1 :
		    l->fill);
}

/* The call being answered moved on. */
static void
on_call_state(struct conv *cv, int state)
{
	struct listener	*l = cv->user;
	char		*path;

	if (state == TRYST_CALL_OPEN) {
		/* What was typed before the session came up goes nowhere. */
		if (l->fill > 0)
			typed_refuse(l, l->fill);
		cv->chat = cv->stdin_open = l->stdin_open;
		path = tryst_call_path(cv->call);
		fprintf(stderr, "call from %s, path: %s\n", cv->peer, path);
		tryst_free(path);
		return;
	}
	if (state != TRYST_CALL_ENDED)
		return;
	if (!cv->opened)
		warnx("the call from %s did not get through: %s", cv->peer,
		    cv->why);
	else {
		if (!cv->clean)
			warnx("%s: %s", cv->peer, cv->why);
		if (cv->rx_refused || (cv->rx_off && cv->code ==
		    TRYST_EINVAL))
			warnx("ending the call, so that %s learns the file "
			    "did not arrive", cv->peer);
		if (cv->stdin_eof)
			l->stdin_open = 0;
		fprintf(stderr, "call from %s ended\n", cv->peer);
	}
}

/* An ignored call: let go of it once it is over. */
static void
on_ignored(tryst_call_t *call, int state, const tryst_error *e, void *user)
{
	(void)e;
	(void)user;
	if (state == TRYST_CALL_ENDED)
		tryst_call_release(call);
}

/* Decline call (busy or not), saying why when the library refuses. */
static void
decline(tryst_call_t *call, int busy)
{
	tryst_error	*e = NULL;

	if ((busy ? tryst_call_decline_busy(call, &e) :
	    tryst_call_decline(call, &e)) != 0) {
		warnx("%s", tryst_error_message(e));
		tryst_error_free(e);
	}
	tryst_call_release(call);
}

/* INCOMING: ignore, decline, or answer it. */
static void
on_incoming(tryst_t *t, tryst_call_t *call, void *user)
{
	struct listener	*l = user;
	tryst_error	*e = NULL;
	char		 name[TRYST_NUMBER_MAX + 16], *id;

	id = tryst_call_peer_id(call);
	cli_name(t, id, name, sizeof name);
	tryst_free(id);
	if (l->cv != NULL) {
		decline(call, 1);
		return;
	}
	if (l->ignore) {
		fprintf(stderr, "ignoring a call from %s\n", name);
		tryst_call_on_state(call, on_ignored, NULL);
		return;
	}
	if (l->decline) {
		fprintf(stderr, "declined a call from %s\n", name);
		decline(call, 0);
		return;
	}
	if (tryst_call_peer_trust(call) == TRYST_PEER_CHANGED) {
		trust_warn(name);
		decline(call, 0);
		return;
	}
	l->cv = xcalloc(1, sizeof *l->cv);
	conv_init(l->cv, t, call, name);
	l->cv->user = l;
	l->cv->on_state = on_call_state;
	conv_receive(l->cv, l->dir);
	if (tryst_call_accept(call, 0, &e) != 0) {
		warnx("%s", tryst_error_message(e));
		tryst_error_free(e);
		tryst_call_release(call);
		conv_free(l->cv);
		free(l->cv);
		l->cv = NULL;
	}
}

/* Where the device stands with the servers. */
static void
on_status(tryst_t *t, int status, const tryst_error *e, void *user)
{
	struct listener	*l = user;

	(void)t;
	if (status == TRYST_ONLINE) {
		printf("online\n");
		return;
	}
	if (e != NULL)
		warnx("%s", tryst_error_message(e));
	if (status == TRYST_STOPPED) {
		l->stop = 1;
		l->rc = tryst_error_code(e) == TRYST_ECANCELED ? 0 : 1;
	}
}

/* One pass: wait, process, read stdin; free the call once it ended. */
static void
listen_step(struct listener *l)
{
	struct conv	*cv = l->cv;
	int		 in = -1, r;

	if (cv != NULL && conv_wants_stdin(cv))
		in = STDIN_FILENO;
	else if (cv == NULL && l->stdin_open)
		in = STDIN_FILENO;
	r = cli_poll(l->t, in);
	if (cv == NULL && r == 1)
		typed_read(l);
	else if (cv != NULL && l->cv == cv)
		conv_stdin(cv, r == 1 && in != -1);
	if (l->cv != NULL && l->cv->ended) {
		tryst_call_release(l->cv->call);
		conv_free(l->cv);
		free(l->cv);
		l->cv = NULL;
	}
}

/* tryst listen [--dir DIR] [--chat] [--decline | --ignore] */
int
listen_cmd(int argc, char **argv)
{
	struct listener	 l;
	tryst_error	*e = NULL;

	memset(&l, 0, sizeof l);
	listen_parse(argc, argv, &l);
	l.t = cli_lib();
	tryst_on_notice(l.t, cli_notice, NULL);
	tryst_on_incoming(l.t, on_incoming, &l);
	cli_catch_stops();
	if (tryst_go_online(l.t, on_status, &l, &e) != 0) {
		warnx("%s", tryst_error_message(e));
		tryst_error_free(e);
		l.stop = 1;
		l.rc = 1;
	}
	while (!l.stop && !cli_stopped())
		listen_step(&l);
	if (l.cv != NULL) {
		tryst_call_release(l.cv->call);
		conv_free(l.cv);
		free(l.cv);
	}
	tryst_destroy(l.t);	/* the mapping, a half-received file */
	cli_die_of_stop();
	return (l.rc);
}
