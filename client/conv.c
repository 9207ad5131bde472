/*
 * conv.c -- the CLI's side of one call over libtryst: the peer's text
 * printed as "NAME: text", the lines of stdin sent as messages (chat),
 * files sent (send) and received into a folder (listen), and what became
 * of each said once the call is over. And the CLI's loop: libtryst's
 * descriptors, stdin and the stop signals in one ppoll.
 *
 * A file counts as sent only when the call ended cleanly: §6.3 has no
 * receipt for a file, and the peer's CLOSE, which ends a call cleanly,
 * comes only after it handled every message before it.
 */
#include <sys/stat.h>

#include <err.h>
#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"

#define DRAW_MS		250
#define MIB		(1024.0 * 1024.0)

/* ---- the loop ------------------------------------------------------------ */

static volatile sig_atomic_t	 stop_sig;

static void
on_stop(int sig)
{
	stop_sig = sig;
}

/* Have SIGINT, SIGTERM and SIGHUP noted rather than kill us, and blocked
 * but inside cli_poll, so that none is missed between a check and a
 * wait. */
void
cli_catch_stops(void)
{
	static const int	 sigs[] = { SIGINT, SIGTERM, SIGHUP };
	struct sigaction	 sa;
	sigset_t		 set;
	size_t			 i;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	sigemptyset(&set);
	for (i = 0; i < nitems(sigs); i++) {
		sigaction(sigs[i], &sa, NULL);
		sigaddset(&set, sigs[i]);
	}
	sigprocmask(SIG_BLOCK, &set, NULL);
}

int
cli_stopped(void)
{
	return (stop_sig);
}

/* Die of the signal that stopped us, now that the library cleaned up. */
void
cli_die_of_stop(void)
{
	sigset_t	 set;
	int		 sig = stop_sig;

	if (sig == 0)
		return;
	signal(sig, SIG_DFL);
	sigemptyset(&set);
	sigaddset(&set, sig);
	sigprocmask(SIG_UNBLOCK, &set, NULL);
	raise(sig);
}

/* Wait for libtryst's descriptors, its timeout and in_fd (-1: none), and
 * let it process what is ready. 1 when in_fd is readable, else 0. */
int
cli_poll(tryst_t *t, int in_fd)
{
	struct pollfd	 pfd[64];
	struct timespec	 ts, *tsp = NULL;
	sigset_t	 none;
	unsigned	 ev;
	long		 ms;
	int		 n, i, fd, in = -1, r;

	n = tryst_fd_count(t);
	n = n < (int)nitems(pfd) - 1 ? n : (int)nitems(pfd) - 1;
	for (i = 0; i < n; i++) {
		tryst_fd_get(t, i, &fd, &ev);
		pfd[i].fd = fd;
		pfd[i].events = (short)(((ev & TRYST_READ) ? POLLIN : 0) |
		    ((ev & TRYST_WRITE) ? POLLOUT : 0));
		pfd[i].revents = 0;
	}
	if (in_fd != -1) {
		pfd[n].fd = in_fd;
		pfd[n].events = POLLIN;
		pfd[n].revents = 0;
		in = n++;
	}
	if ((ms = tryst_timeout_ms(t)) >= 0) {
		ts.tv_sec = ms / 1000;
		ts.tv_nsec = ms % 1000 * 1000000;
		tsp = &ts;
	}
	sigemptyset(&none);
	r = stop_sig ? 0 : ppoll(pfd, (nfds_t)n, tsp, &none);
	if (r <= 0) {
		if (!stop_sig)
			tryst_process(t, -1, 0, NULL);
		return (0);
	}
	for (i = 0; i < n; i++) {
		if (i == in || pfd[i].revents == 0)
			continue;
		tryst_process(t, pfd[i].fd, ((pfd[i].revents & (POLLIN |
		    POLLHUP | POLLERR)) ? TRYST_READ : 0) |
		    ((pfd[i].revents & POLLOUT) ? TRYST_WRITE : 0), NULL);
	}
	return (in != -1 && pfd[in].revents != 0);
}

/* Print the library's notices. */
void
cli_notice(tryst_t *t, const char *text, void *user)
{
	(void)t;
	(void)user;
	warnx("%s", text);
}

/* A name for the account id_hex: its number when cached, else the first
 * 16 hex digits. */
void
cli_name(tryst_t *t, const char *id_hex, char *out, size_t outlen)
{
	char	*n = tryst_cached_number(t, id_hex);

	snprintf(out, outlen, "%.16s", n != NULL ? n : id_hex);
	if (n != NULL)
		snprintf(out, outlen, "%s", n);
	tryst_free(n);
}

/* ---- one call -------------------------------------------------------------- */

/* Draw a file's progress bar on a terminal: bytes, rate, time left. */
static void
draw(struct conv_file *f, uint64_t bytes, int last)
{
	int64_t	 now = tryst_now_ms();
	double	 secs, rate, eta;

	if (!isatty(STDERR_FILENO) || (!last && now - f->drawn < DRAW_MS))
		return;
	if (f->start == 0)
		f->start = now;
	f->drawn = now;
	secs = (double)(now - f->start) / 1000.0;
	rate = secs > 0 ? (double)bytes / secs : 0;
	eta = rate > 0 ? (double)(f->size - bytes) / rate : 0;
	fprintf(stderr, "\r%.30s %3d%% %8.1f/%.1f MiB %7.1f MiB/s ETA "
	    "%d:%02d\033[K", f->name, f->size > 0 ? (int)(100 * bytes /
	    f->size) : 100, bytes / MIB, f->size / MIB, rate / MIB,
	    (int)eta / 60, (int)eta % 60);
	if (last)
		fputc('\n', stderr);
}

/* A file of ours: progress, all sent, or failed. */
static void
on_tx(tryst_call_t *call, int event, const char *name, uint64_t bytes,
    uint64_t size, const tryst_error *e, void *user)
{
	struct conv_file	*f = user;

	(void)call;
	(void)name;
	f->size = size;
	f->state = event;
	if (event != TRYST_FILE_FAILED || bytes > 0)
		f->started = 1;
	if (event == TRYST_FILE_FAILED)
		f->why = xstrdup(tryst_error_message(e));
	if (event != TRYST_FILE_FAILED)
		draw(f, bytes, event == TRYST_FILE_DONE);
}

/* A file of the peer's: saved, or refused. */
static void
on_rx(tryst_call_t *call, int event, const char *name, uint64_t bytes,
    uint64_t size, const tryst_error *e, void *user)
{
	struct conv	*cv = user;

	(void)call;
	(void)size;
	if (event == TRYST_FILE_DONE)
		printf("received %s (%llu bytes)\n", name,
		    (unsigned long long)bytes);
	else if (event == TRYST_FILE_FAILED &&
	    tryst_error_code(e) != TRYST_ECANCELED) {
		warnx("%s: %s", cv->peer, tryst_error_message(e));
		cv->rx_refused = 1;
	}
}

/* Text from the peer. */
static void
on_message(tryst_call_t *call, const uint8_t *data, size_t len, void *user)
{
	struct conv	*cv = user;
	char		*text = xmalloc(len + 1);

	(void)call;
	tryst_clean_text(text, len + 1, data, len);
	printf("%s: %s\n", cv->peer, text);
	free(text);
}

static void
on_writable(tryst_call_t *call, void *user)
{
	struct conv	*cv = user;

	(void)call;
	cv->blocked = 0;
}

/* The call moved on: keep how it ended, then tell the command. */
static void
on_state(tryst_call_t *call, int state, const tryst_error *e, void *user)
{
	struct conv	*cv = user;

	(void)call;
	if (state == TRYST_CALL_OPEN)
		cv->opened = 1;
	if (state == TRYST_CALL_ENDED) {
		cv->ended = 1;
		cv->clean = e == NULL;
		cv->code = tryst_error_code(e);
		cv->server_code = tryst_error_server_code(e);
		if (e != NULL)
			cv->why = xstrdup(tryst_error_message(e));
	}
	if (cv->on_state != NULL)
		cv->on_state(cv, state);
}

/* Follow call, whose peer is called peer in what is printed. */
void
conv_init(struct conv *cv, tryst_t *t, tryst_call_t *call, const char *peer)
{
	memset(cv, 0, sizeof *cv);
	cv->t = t;
	cv->call = call;
	snprintf(cv->peer, sizeof cv->peer, "%s", peer);
	tryst_call_on_state(call, on_state, cv);
	tryst_call_on_message(call, on_message, cv);
	tryst_call_on_writable(call, on_writable, cv);
}

/* Queue the files to send, in order; the CLOSE follows them. 0, or -1
 * after saying why. */
int
conv_send_files(struct conv *cv, char **paths, int n)
{
	tryst_error	*e = NULL;
	int		 i;

	cv->files = xcalloc((size_t)n, sizeof *cv->files);
	for (i = 0; i < n; i++) {
		cv->files[i].name = xstrdup(paths[i]);
		if (tryst_call_send_file(cv->call, paths[i], on_tx,
		    &cv->files[i], &e) != 0) {
			warnx("%s", tryst_error_message(e));
			tryst_error_free(e);
			return (-1);
		}
		cv->nfiles++;
	}
	return (0);
}

/* Take the peer's files into dir. */
void
conv_receive(struct conv *cv, const char *dir)
{
	tryst_error	*e = NULL;

	if (tryst_call_receive_files(cv->call, dir, on_rx, cv, &e) != 0) {
		warnx("%s", tryst_error_message(e));
		tryst_error_free(e);
		cv->rx_off = 1;
	}
}

/* Send the complete lines typed so far (all of it at EOF); stop at a
 * full window, until on_writable. */
static void
send_lines(struct conv *cv, int eof)
{
	tryst_error	*e = NULL;
	char		*nl;
	size_t		 n;
	int		 r;

	while (cv->fill > 0 && !cv->blocked) {
		nl = memchr(cv->line, '\n', cv->fill);
		if (nl == NULL && !eof && cv->fill < sizeof cv->line)
			return;
		n = nl != NULL ? (size_t)(nl - cv->line) : cv->fill;
		if ((r = tryst_call_send(cv->call, cv->line, n, &e)) != 0) {
			if (r == TRYST_EAGAIN)
				cv->blocked = 1;
			else
				warnx("%s", tryst_error_message(e));
			tryst_error_free(e);
			e = NULL;
			if (r == TRYST_EAGAIN)
				return;
			cv->fill = 0;
			return;
		}
		if (nl != NULL)
			n++;
		cv->fill -= n;
		memmove(cv->line, cv->line + n, cv->fill);
	}
}

/* Whether stdin should be read now: the call is open, the window has
 * room, and there is room for more of a line. */
int
conv_wants_stdin(const struct conv *cv)
{
	return (cv->chat && cv->stdin_open && cv->opened && !cv->ended &&
	    !cv->blocked && cv->fill < sizeof cv->line);
}

/* Send the lines a full window held back; when stdin is readable, read
 * it and send its lines; at EOF send the rest, and close the call when
 * close_at_eof. */
void
conv_stdin(struct conv *cv, int readable)
{
	ssize_t	 n;

	send_lines(cv, 0);	/* what a full window held back */
	if (!readable || !conv_wants_stdin(cv))
		return;
	n = read(STDIN_FILENO, cv->line + cv->fill, sizeof cv->line -
	    cv->fill);
	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n > 0) {
		cv->fill += (size_t)n;
		send_lines(cv, 0);
		return;
	}
	cv->stdin_open = 0;
	cv->stdin_eof = 1;
	send_lines(cv, 1);
	if (cv->close_at_eof)
		tryst_call_close(cv->call);
}

/* The last part of a path, as the file is offered. */
static const char *
basename_of(const char *path)
{
	const char	*slash = strrchr(path, '/');

	return (slash != NULL ? slash + 1 : path);
}

/* Say what became of the files sent: sent only when the call ended
 * cleanly. 0 when every one was. */
int
conv_report(struct conv *cv)
{
	struct conv_file	*f;
	int			 i, bad = 0;

	for (i = 0; i < cv->nfiles; i++) {
		f = &cv->files[i];
		if (cv->clean && f->state == TRYST_FILE_DONE) {
			fprintf(stderr, "sent %s (%llu bytes)\n",
			    basename_of(f->name), (unsigned long long)f->size);
			continue;
		}
		bad = 1;
		if (f->started)
			warnx("%s did not confirm %s; it may not have arrived",
			    cv->peer, basename_of(f->name));
		else
			warnx("%s was not sent", f->name);
	}
	return (bad || !cv->clean ? -1 : 0);
}

/* Free what cv holds (not the call). */
void
conv_free(struct conv *cv)
{
	int	 i;

	for (i = 0; i < cv->nfiles; i++) {
		free(cv->files[i].name);
		free(cv->files[i].why);
	}
	free(cv->files);
	free(cv->why);
	cv->files = NULL;
	cv->why = NULL;
	cv->nfiles = 0;
}
