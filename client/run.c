/*
 * run.c -- the message loop of a session: stdin lines become text
 * messages (chat), files go out one chunk at a time (send), whatever the
 * peer sends is printed or saved, and the control connection is kept
 * alive and watched. Closing is a handshake: the side that is done sends
 * close and waits for the peer's close, so nothing in flight is lost;
 * the caller then ends the call with END.
 *
 * §6.3 has no receipt for a file, so the peer's close is the receipt: a
 * receiver sends it only after handling every message before it, file
 * ends included, and never after rejecting a file (it ends the session
 * instead). A file counts as sent only once that close has come; an EOF,
 * ENDED or a lost control connection before it is a failure.
 */
#include <sys/ioctl.h>

#include <err.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"

#define CLOSE_WAIT_MS	30000	/* for the peer's close, after our output
				   stopped draining */
#define ENDED_GRACE_MS	2000	/* for bytes in flight after ENDED */
#define LINE_MAX_BYTES	8192
#define STEPS_PER_LOOP	16

/* A file whose end went out, waiting for the peer's close. */
struct sent {
	char		*name;
	uint64_t	 size;
};

struct run_loop {
	struct run	*r;
	struct rxfile	*rx;
	struct txfile	*tx;
	int		 next_file;
	int		 unopened;	/* files that could not be opened */
	struct sent	*sent;
	int		 nsent;
	int		 stdin_open;
	char		 line[LINE_MAX_BYTES];
	size_t		 fill;
	int		 closing;	/* we sent close */
	int64_t		 close_end;
	long		 outq;		/* our unsent bytes at the last look */
	int		 done;		/* 1 clean, -1 failed */
	int64_t		 lost_at;	/* ENDED, or the server gone */
};

/* Send close once. */
static int
send_close(struct run_loop *l)
{
	char	*cause;

	if (l->closing)
		return (0);
	l->closing = 1;
	l->close_end = tryst_now_ms() + CLOSE_WAIT_MS;
	l->outq = -1;
	if (session_send(l->r->s, KIND_CLOSE, NULL, 0, NULL, 0,
	    &cause) != 0) {
		warnx("%s", cause);
		free(cause);
		return (-1);
	}
	return (0);
}

/* Print a text message from the peer. */
static void
show_text(struct run_loop *l, const uint8_t *p, size_t len)
{
	char	*text = xmalloc(len + 1);

	tryst_clean_text(text, len + 1, p, len);
	printf("%s: %s\n", l->r->peer, text);
	free(text);
}

/* A file the peer sent was rejected (files.c said why): end the session
 * without a close, so that the sender does not count the file as sent. */
static void
reject(struct run_loop *l, const char *why)
{
	if (why != NULL)
		warnx("%s %s", l->r->peer, why);
	files_rx_abort(l->rx);
	l->rx = NULL;
	warnx("ending the call, so that %s learns the file did not arrive",
	    l->r->peer);
	l->done = -1;
}

/* A file offer, data or end from the peer. */
static void
handle_file(struct run_loop *l, uint8_t kind, const uint8_t *p, size_t len)
{
	int	 rc;

	if (kind == KIND_FILE_OFFER) {
		if (l->rx != NULL)
			reject(l, "offered a file before ending the last");
		else if ((l->rx = files_rx_offer(l->r->dir, p, len)) == NULL)
			reject(l, NULL);
		return;
	}
	if (l->rx == NULL) {
		reject(l, "sent file data without an offer");
		return;
	}
	if (kind == KIND_FILE_DATA)
		rc = files_rx_data(l->rx, p, len);
	else
		rc = files_rx_end(l->rx, p, len);	/* frees it */
	if (kind == KIND_FILE_END || rc != 0)
		l->rx = NULL;	/* freed */
	if (rc != 0)
		reject(l, NULL);
}

/* Handle one message from the peer. */
int
run_handle(struct run_loop *l, const uint8_t *p, size_t len)
{
	uint8_t	 kind;

	if (len == 0 || l->done)
		return (l->done);
	kind = p[0];
	p++;
	len--;
	switch (kind) {
	case KIND_TEXT:
		show_text(l, p, len);
		break;
	case KIND_FILE_OFFER:
	case KIND_FILE_DATA:
	case KIND_FILE_END:
		handle_file(l, kind, p, len);
		break;
	case KIND_CLOSE:
		if (send_close(l) == 0)
			l->done = 1;
		else
			l->done = -1;
		break;
	default:
		break;		/* a kind of a later version */
	}
	return (l->done);
}

/* Read every whole message the peer has sent. */
static void
take_input(struct run_loop *l)
{
	char	*cause;
	int	 r;

	while (!l->done && (r = session_recv(l->r->s, &cause)) != 2) {
		if (r == 1) {
			run_handle(l, l->r->s->pt, l->r->s->ptlen);
			continue;
		}
		if (r == -1) {
			warnx("%s: %s", l->r->peer, cause);
			free(cause);
		}
		/* An EOF before the peer's close is no confirmation. */
		warnx("the connection to %s was lost", l->r->peer);
		l->done = -1;
	}
}

/* Send the lines of stdin that are complete (all of it at EOF). */
static void
send_lines(struct run_loop *l, int eof)
{
	char	*nl, *cause;
	size_t	 n;

	while (l->fill > 0) {
		nl = memchr(l->line, '\n', l->fill);
		if (nl == NULL && !eof && l->fill < sizeof l->line)
			return;
		n = nl != NULL ? (size_t)(nl - l->line) : l->fill;
		if (session_send(l->r->s, KIND_TEXT, l->line, n, NULL, 0,
		    &cause) != 0) {
			warnx("%s", cause);
			free(cause);
			l->done = -1;
			return;
		}
		if (nl != NULL)
			n++;
		l->fill -= n;
		memmove(l->line, l->line + n, l->fill);
	}
}

/* Read what stdin has; at EOF send the rest and close (unless the
 * session outlives stdin, as in tryst listen --chat). */
static void
take_stdin(struct run_loop *l)
{
	ssize_t	 n;

	n = read(STDIN_FILENO, l->line + l->fill, sizeof l->line - l->fill);
	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n > 0) {
		l->fill += (size_t)n;
		send_lines(l, 0);
		return;
	}
	send_lines(l, 1);
	l->stdin_open = 0;
	l->r->stdin_eof = 1;
	if (!l->r->chat_stays && l->done == 0 && send_close(l) != 0)
		l->done = -1;
}

/* Send a few more pieces of the files; close after the last. */
static void
send_files(struct run_loop *l)
{
	char	*cause;
	int	 i, r;

	for (i = 0; i < STEPS_PER_LOOP && !l->closing && !l->done; i++) {
		if (l->tx == NULL && l->next_file == l->r->nfiles) {
			if (send_close(l) != 0)
				l->done = -1;
			return;
		}
		if (l->tx == NULL && (l->tx = files_tx_open(
		    l->r->files[l->next_file++])) == NULL) {
			l->unopened++;
			continue;
		}
		if ((r = files_tx_step(l->tx, l->r->s, &cause)) == 1)
			continue;
		if (r == -1) {
			warnx("%s", cause);
			free(cause);
			l->done = -1;
			return;		/* l->tx is reported unconfirmed */
		}
		l->sent[l->nsent].name = xstrdup(files_tx_name(l->tx));
		l->sent[l->nsent++].size = files_tx_size(l->tx);
		files_tx_free(l->tx);
		l->tx = NULL;
	}
}

/* Our bytes the kernel has not yet handed over on the path, or -1. */
static long
unsent_bytes(struct run_loop *l)
{
	int	 q;

#ifdef TIOCOUTQ
	if (ioctl(path_pollfd(&l->r->s->path), TIOCOUTQ, &q) == 0)
		return (q);
#endif
	(void)q;
	return (-1);
}

/* After our close: wait CLOSE_WAIT_MS for the peer's, counted from the
 * last time our output moved (a slow relay may still hold much of it). */
static void
check_close_wait(struct run_loop *l, int64_t now)
{
	long	 q;

	if (!l->closing || l->done)
		return;
	if ((q = unsent_bytes(l)) != l->outq) {
		l->outq = q;
		l->close_end = now + CLOSE_WAIT_MS;
	}
	if (now >= l->close_end) {
		warnx("%s did not confirm the end of the session",
		    l->r->peer);
		l->done = -1;
	}
}

/* Say why the call ended before the peer's close. */
static void
say_ended(const struct run_loop *l)
{
	const struct online	*o = l->r->o;

	if (o->gone)
		return;		/* said when it went */
	if (o->ended == 1 + 3)
		warnx("the relay's byte quota for this session was reached");
	else if (o->ended == 1 + 1)
		warnx("%s left the call", l->r->peer);
	else
		warnx("%s ended the call", l->r->peer);
}

/* Check the control connection and the deadlines. ENDED or a lost
 * server leaves ENDED_GRACE_MS for the peer's close still in flight. */
static void
check_state(struct run_loop *l)
{
	struct online	*o = l->r->o;
	int64_t		 now = tryst_now_ms();

	if (!o->gone) {
		online_pump(o);
		if (o->gone)
			online_say_gone(o);
	}
	if (l->r->pm != NULL)
		portmap_tick(l->r->pm);
	if ((o->gone || o->ended) && l->lost_at == 0)
		l->lost_at = now;
	if (l->lost_at != 0 && !l->done &&
	    now - l->lost_at >= ENDED_GRACE_MS) {
		say_ended(l);
		l->done = -1;
	}
	check_close_wait(l, now);
}

/* Wait for input on the control connection (while there is one), the
 * path and stdin. */
static void
wait_input(struct run_loop *l)
{
	struct pollfd	 pfd[3];
	int		 n = 0, ms, in = -1;

	if (!l->r->o->gone) {
		pfd[n].fd = tconn_fd(l->r->o->t);
		pfd[n++].events = POLLIN;
	}
	pfd[n].fd = path_pollfd(&l->r->s->path);
	pfd[n++].events = POLLIN;
	if (l->stdin_open) {
		pfd[n].fd = STDIN_FILENO;
		pfd[n].events = POLLIN;
		in = n++;
	}
	ms = online_wait_ms(l->r->o);
	if (ms > 500)
		ms = 500;
	if (l->r->nfiles > 0 && !l->closing)
		ms = 0;
	if (poll(pfd, (nfds_t)n, ms) > 0 && in != -1 && pfd[in].revents != 0)
		take_stdin(l);
}

/* Say what became of the files to send: sent only when the peer's close
 * confirmed them. 0 when every one was. */
static int
report_files(struct run_loop *l)
{
	const char	*peer = l->r->peer;
	int		 i, ok = l->done == 1;

	for (i = 0; i < l->nsent; i++) {
		if (ok)
			fprintf(stderr, "sent %s (%llu bytes)\n",
			    l->sent[i].name,
			    (unsigned long long)l->sent[i].size);
		else
			warnx("%s did not confirm %s; it may not have arrived",
			    peer, l->sent[i].name);
		free(l->sent[i].name);
	}
	l->nsent = 0;
	if (l->tx != NULL)
		warnx("%s did not confirm %s; it may not have arrived", peer,
		    files_tx_name(l->tx));
	for (i = l->next_file; i < l->r->nfiles; i++)
		warnx("%s was not sent", l->r->files[i]);
	return (ok && l->tx == NULL && l->next_file == l->r->nfiles &&
	    l->unopened == 0 ? 0 : -1);
}

/* The state of a session's loop over r. */
struct run_loop *
run_loop_new(struct run *r)
{
	struct run_loop	*l = xcalloc(1, sizeof *l);

	l->r = r;
	l->stdin_open = r->chat;
	l->sent = xcalloc(r->nfiles > 0 ? (size_t)r->nfiles : 1,
	    sizeof *l->sent);
	return (l);
}

/* Free a loop; a file being received is removed. */
void
run_loop_free(struct run_loop *l)
{
	int	 i;

	if (l == NULL)
		return;
	files_rx_abort(l->rx);
	files_tx_free(l->tx);
	for (i = 0; i < l->nsent; i++)
		free(l->sent[i].name);
	free(l->sent);
	free(l);
}

/* Run the session until it closes. */
int
run_session(struct run *r)
{
	struct run_loop	*l = run_loop_new(r);
	struct msg	 m;
	int		 rc;

	if (!r->chat && r->nfiles == 0 && r->caller)
		send_close(l);
	while (!l->done) {
		take_input(l);
		if (!l->done && r->nfiles > 0)
			send_files(l);
		if (!l->done)
			check_state(l);
		if (!l->done)
			wait_input(l);
	}
	files_rx_abort(l->rx);
	l->rx = NULL;
	rc = report_files(l) == 0 ? 0 : 1;
	if ((r->caller || rc != 0) && !r->o->ended && !r->o->gone) {
		memset(&m, 0, sizeof m);
		m.type = MSG_END;
		m.u.end.session = r->o->session;
		online_send(r->o, &m);
		r->o->session = 0;	/* the call is over for us */
	}
	run_loop_free(l);
	return (rc);
}
