/*
 * run.c -- the message loop of a session: stdin lines become text
 * messages (chat), files go out one chunk at a time (send), whatever the
 * peer sends is printed or saved, and the control connection is kept
 * alive and watched. Closing is a handshake: the side that is done sends
 * close and waits for the peer's close, so nothing in flight is lost;
 * the caller then ends the call with END.
 */
#include <err.h>
#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"

#define CLOSE_WAIT_MS	10000	/* for the peer's close after ours */
#define ENDED_GRACE_MS	2000	/* for bytes in flight after ENDED */
#define LINE_MAX_BYTES	8192
#define STEPS_PER_LOOP	16

struct loop {
	struct run	*r;
	struct rxfile	*rx;
	struct txfile	*tx;
	int		 next_file;
	int		 stdin_open;
	char		 line[LINE_MAX_BYTES];
	size_t		 fill;
	int		 closing;	/* we sent close */
	int64_t		 close_end;
	int		 done;		/* 1 clean, -1 failed */
	int64_t		 ended_at;
};

/* Send close once. */
static int
send_close(struct loop *l)
{
	char	*cause;

	if (l->closing)
		return (0);
	l->closing = 1;
	l->close_end = tryst_now_ms() + CLOSE_WAIT_MS;
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
show_text(struct loop *l, const uint8_t *p, size_t len)
{
	char	*text = xmalloc(len + 1);

	tryst_clean_text(text, len + 1, p, len);
	printf("%s: %s\n", l->r->peer, text);
	free(text);
}

/* Handle one message from the peer. */
static void
handle(struct loop *l, const uint8_t *p, size_t len)
{
	uint8_t	 kind = p[0];

	p++;
	len--;
	switch (kind) {
	case KIND_TEXT:
		show_text(l, p, len);
		break;
	case KIND_FILE_OFFER:
		files_rx_abort(l->rx);
		l->rx = files_rx_offer(l->r->dir, p, len);
		break;
	case KIND_FILE_DATA:
		if (l->rx != NULL && files_rx_data(l->rx, p, len) != 0)
			l->rx = NULL;
		break;
	case KIND_FILE_END:
		if (l->rx != NULL)
			files_rx_end(l->rx, p, len);
		l->rx = NULL;
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
}

/* Read every whole message the peer has sent. */
static void
take_input(struct loop *l)
{
	char	*cause;
	int	 r;

	while (!l->done && (r = session_recv(l->r->s, &cause)) != 2) {
		if (r == 1) {
			handle(l, l->r->s->pt, l->r->s->ptlen);
			continue;
		}
		if (r == -1) {
			warnx("%s: %s", l->r->peer, cause);
			free(cause);
		} else if (l->closing)
			l->done = 1;
		if (l->done == 0) {
			warnx("the connection to %s was lost", l->r->peer);
			l->done = -1;
		}
	}
}

/* Send the lines of stdin that are complete (all of it at EOF). */
static void
send_lines(struct loop *l, int eof)
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

/* Read what stdin has; at EOF send the rest and close. */
static void
take_stdin(struct loop *l)
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
	if (l->done == 0 && send_close(l) != 0)
		l->done = -1;
}

/* Send a few more pieces of the files; close after the last. */
static void
send_files(struct loop *l)
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
		    l->r->files[l->next_file++])) == NULL)
			continue;
		if ((r = files_tx_step(l->tx, l->r->s, &cause)) == 1)
			continue;
		if (r == -1) {
			warnx("%s", cause);
			free(cause);
			l->done = -1;
		}
		files_tx_free(l->tx);
		l->tx = NULL;
	}
}

/* Check the control connection and the deadlines. */
static void
check_state(struct loop *l)
{
	struct online	*o = l->r->o;
	int64_t		 now = tryst_now_ms();

	online_pump(o);
	if (o->gone && !l->done) {
		online_say_gone(o);
		l->done = l->closing ? 1 : -1;
	}
	if (o->ended && l->ended_at == 0)
		l->ended_at = now;
	if (l->ended_at != 0 && !l->done && (l->closing ||
	    now - l->ended_at >= ENDED_GRACE_MS)) {
		if (!l->closing)
			warnx("%s ended the call", l->r->peer);
		l->done = l->closing ? 1 : -1;
	}
	if (l->closing && !l->done && now >= l->close_end) {
		warnx("%s did not confirm the end of the session", l->r->peer);
		l->done = -1;
	}
}

/* Wait for input on the control connection, the path and stdin. */
static void
wait_input(struct loop *l)
{
	struct pollfd	 pfd[3];
	int		 n = 0, ms;

	pfd[n].fd = tconn_fd(l->r->o->t);
	pfd[n++].events = POLLIN;
	pfd[n].fd = path_pollfd(&l->r->s->path);
	pfd[n++].events = POLLIN;
	if (l->stdin_open) {
		pfd[n].fd = STDIN_FILENO;
		pfd[n++].events = POLLIN;
	}
	ms = online_wait_ms(l->r->o);
	if (ms > 500)
		ms = 500;
	if (l->r->nfiles > 0 && !l->closing)
		ms = 0;
	if (poll(pfd, (nfds_t)n, ms) > 0 && l->stdin_open &&
	    pfd[2].revents != 0)
		take_stdin(l);
}

/* Run the session until it closes. */
int
run_session(struct run *r)
{
	struct loop	*l = xcalloc(1, sizeof *l);
	struct msg	 m;
	int		 rc;

	l->r = r;
	l->stdin_open = r->chat;
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
	files_tx_free(l->tx);
	rc = l->done == 1 ? 0 : 1;
	if ((r->caller || rc != 0) && !r->o->ended && !r->o->gone) {
		memset(&m, 0, sizeof m);
		m.type = MSG_END;
		m.u.end.session = r->o->session;
		online_send(r->o, &m);
		r->o->session = 0;	/* the call is over for us */
	}
	free(l);
	return (rc);
}
