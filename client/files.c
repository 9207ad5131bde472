/*
 * files.c -- files in a session (PROTOCOL.md §6.3): an offer (size, name),
 * data chunks, and an end carrying the BLAKE2b of the whole file. The
 * receiver refuses a file its folder has no room for (its free space less
 * a margin), so that a caller cannot fill the disk; a disk that fills
 * anyway fails a write, which rejects the file too. It writes into a
 * hidden file in its folder and, once size and hash are right, gives it
 * the sender's base name, never outside the folder and never over an
 * existing file; a wrong file is deleted. The sender draws a progress bar
 * on a terminal; whether a file was delivered is run.c's to say, once the
 * peer has confirmed it.
 */
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include <err.h>
#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "client.h"

#define DRAW_MS		100
#define MIB		(1024.0 * 1024.0)

/* The hidden file being received, for files_rx_on_signal; changed only
 * with the signals it handles blocked. */
static char	 partial[PATH_MAX];

struct rxfile {
	char		*dir;
	char		*path;		/* the hidden file until it is whole */
	char		*name;		/* the name it will have */
	int		 fd;
	uint64_t	 size;
	uint64_t	 got;
	crypto_generichash_state st;
};

struct txfile {
	int		 fd;
	char		*name;
	uint64_t	 size;
	uint64_t	 sent;
	int		 offered;
	int		 bar;		/* stderr is a terminal */
	int64_t		 start;
	int64_t		 drawn;
	crypto_generichash_state st;
	uint8_t		 buf[FILES_CHUNK];
};

/* Block (1) or restore (0) the signals on_signal handles. */
static void
hold_signals(int hold)
{
	static sigset_t	 old;
	sigset_t	 block;

	if (!hold) {
		sigprocmask(SIG_SETMASK, &old, NULL);
		return;
	}
	sigemptyset(&block);
	sigaddset(&block, SIGINT);
	sigaddset(&block, SIGTERM);
	sigaddset(&block, SIGHUP);
	sigprocmask(SIG_BLOCK, &block, &old);
}

/* Remember path as the file being received ("" for none); the caller
 * holds the signals. */
static void
set_partial(const char *path)
{
	if (strlen(path) < sizeof partial)
		memcpy(partial, path, strlen(path) + 1);
}

/* A signal that ends tryst: remove the file being received, then die of
 * the signal as before. Async-signal-safe. */
static void
on_signal(int sig)
{
	if (partial[0] != '\0')
		unlink(partial);
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Have SIGINT, SIGTERM and SIGHUP remove a half-received file. */
void
files_rx_on_signal(void)
{
	signal(SIGINT, on_signal);
	signal(SIGTERM, on_signal);
	signal(SIGHUP, on_signal);
}

/* Whether dir has room for the file name of size bytes, keeping a margin
 * (inbox_room); says why not. A folder statvfs cannot look at is let
 * through: creating the file then fails, or a full disk fails a write. */
static int
has_room(const char *dir, const char *name, uint64_t size)
{
	struct statvfs	 sv;
	uint64_t	 room;

	if (statvfs(dir, &sv) == -1)
		return (1);
	room = inbox_room(sv.f_bavail, sv.f_blocks, sv.f_frsize);
	if (size <= room)
		return (1);
	warnx("refused %s: it is %llu bytes (%.1f MiB), but %s has %.1f MiB "
	    "free, of which %.1f MiB may be used (a margin is kept)", name,
	    (unsigned long long)size, size / MIB, dir,
	    (double)sv.f_bavail * (double)sv.f_frsize / MIB, room / MIB);
	return (0);
}

/* Create the hidden file that receives rx in dir; -1 after saying why
 * not. */
static int
create(struct rxfile *rx, const char *dir)
{
	rx->dir = xstrdup(dir);
	xasprintf(&rx->path, "%s/.%s.part-XXXXXX", dir, rx->name);
	/* No signal between making the file and remembering it. */
	hold_signals(1);
	if ((rx->fd = mkostemp(rx->path, O_CLOEXEC)) != -1)
		set_partial(rx->path);
	hold_signals(0);
	if (rx->fd == -1) {
		warn("%s/%s", dir, rx->name);
		return (-1);
	}
	return (0);
}

/* A file offer: check it, and that dir has room for it, and create the
 * hidden file that receives it, named after it, until it is whole. */
struct rxfile *
files_rx_offer(const char *dir, const uint8_t *p, size_t len)
{
	struct rxfile	*rx = xcalloc(1, sizeof *rx);

	if (inbox_offer_parse(p, len, &rx->size, &rx->name) != 0)
		warnx("the peer sent a malformed file offer");
	else if (has_room(dir, rx->name, rx->size) && create(rx, dir) == 0) {
		crypto_generichash_init(&rx->st, NULL, 0, 32);
		return (rx);
	}
	free(rx->path);
	free(rx->name);
	free(rx->dir);
	free(rx);
	return (NULL);
}

/* Data for the file. */
int
files_rx_data(struct rxfile *rx, const uint8_t *p, size_t len)
{
	ssize_t	 n;

	if (len > rx->size - rx->got) {
		warnx("rejected %s: more data than offered", rx->name);
		files_rx_abort(rx);
		return (-1);
	}
	crypto_generichash_update(&rx->st, p, len);
	rx->got += len;
	while (len > 0) {
		if ((n = write(rx->fd, p, len)) == -1 && errno == EINTR)
			continue;
		if (n <= 0) {
			warn("rejected %s: %s", rx->name, rx->path);
			files_rx_abort(rx);
			return (-1);
		}
		p += n;
		len -= (size_t)n;
	}
	return (0);
}

/* The end: size and hash must match, else the file goes. */
int
files_rx_end(struct rxfile *rx, const uint8_t *p, size_t len)
{
	uint8_t	 hash[32];
	char	*used;
	int	 rc;

	crypto_generichash_final(&rx->st, hash, sizeof hash);
	if (len != 32 || rx->got != rx->size ||
	    sodium_memcmp(hash, p, 32) != 0) {
		warnx("rejected %s: %s", rx->name, len != 32 ? "malformed "
		    "end" : rx->got != rx->size ? "shorter than offered" :
		    "the hash does not match; deleted");
		files_rx_abort(rx);
		return (-1);
	}
	/* Mode 0600 from mkostemp, as tryst's umask makes every file. */
	rc = fsync(rx->fd);
	if (close(rx->fd) == -1)
		rc = -1;
	rx->fd = -1;
	if (rc == -1 || inbox_link(rx->path, rx->dir, rx->name, &used) ==
	    -1) {
		warn("rejected %s", rx->name);
		files_rx_abort(rx);
		return (-1);
	}
	printf("received %s (%llu bytes)\n", used,
	    (unsigned long long)rx->size);
	free(used);
	files_rx_abort(rx);	/* frees rx; the hidden name is gone already */
	return (0);
}

/* Remove the hidden file (a finished one has its own name by now). */
void
files_rx_abort(struct rxfile *rx)
{
	if (rx == NULL)
		return;
	if (rx->fd != -1)
		close(rx->fd);
	hold_signals(1);
	unlink(rx->path);
	set_partial("");
	hold_signals(0);
	free(rx->path);
	free(rx->name);
	free(rx->dir);
	free(rx);
}

/* Open a file to send. */
struct txfile *
files_tx_open(const char *path)
{
	struct txfile	*tx = xcalloc(1, sizeof *tx);
	struct stat	 sb;
	const char	*slash = strrchr(path, '/');
	int		 ok = 0;

	if ((tx->fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(tx->fd, &sb) == -1)
		warn("%s", path);
	else if (!S_ISREG(sb.st_mode))
		warnx("%s: not a regular file", path);
	else
		ok = 1;
	if (!ok) {
		if (tx->fd != -1)
			close(tx->fd);
		free(tx);
		return (NULL);
	}
	tx->name = xstrdup(slash != NULL ? slash + 1 : path);
	tx->size = (uint64_t)sb.st_size;
	tx->bar = isatty(STDERR_FILENO);
	crypto_generichash_init(&tx->st, NULL, 0, 32);
	return (tx);
}

/* Draw the progress bar: bytes, rate, time left. */
static void
draw(struct txfile *tx, int last)
{
	int64_t	 now = tryst_now_ms();
	double	 secs, rate, eta;

	if (!tx->bar || (!last && now - tx->drawn < DRAW_MS))
		return;
	tx->drawn = now;
	secs = (double)(now - tx->start) / 1000.0;
	rate = secs > 0 ? (double)tx->sent / secs : 0;
	eta = rate > 0 ? (double)(tx->size - tx->sent) / rate : 0;
	fprintf(stderr, "\r%.30s %3d%% %8.1f/%.1f MiB %7.1f MiB/s ETA "
	    "%d:%02d\033[K", tx->name, tx->size > 0 ? (int)(100 * tx->sent /
	    tx->size) : 100, tx->sent / MIB, tx->size / MIB, rate / MIB,
	    (int)eta / 60, (int)eta % 60);
	if (last)
		fputc('\n', stderr);
	fflush(stderr);
}

/* The offer: size:u64 name:vbytes. */
static int
send_offer(struct txfile *tx, struct session *s, char **cause)
{
	uint8_t	 head[10];
	size_t	 len = strlen(tx->name);

	if (len > 1024)
		len = 1024;
	put_u64(head, tx->size);
	put_u16(head + 8, (uint16_t)len);
	tx->offered = 1;
	tx->start = tryst_now_ms();
	return (session_send(s, KIND_FILE_OFFER, head, sizeof head,
	    tx->name, len, cause));
}

/* Send the next piece of the file: 1 more to come, 0 done, -1. */
int
files_tx_step(struct txfile *tx, struct session *s, char **cause)
{
	uint8_t	 hash[32];
	ssize_t	 n;

	if (!tx->offered)
		return (send_offer(tx, s, cause) == 0 ? 1 : -1);
	if ((n = read(tx->fd, tx->buf, sizeof tx->buf)) == -1) {
		xasprintf(cause, "%s: %s", tx->name, strerror(errno));
		return (-1);
	}
	if (n > 0) {
		crypto_generichash_update(&tx->st, tx->buf, (size_t)n);
		tx->sent += (uint64_t)n;
		draw(tx, 0);
		return (session_send(s, KIND_FILE_DATA, tx->buf, (size_t)n,
		    NULL, 0, cause) == 0 ? 1 : -1);
	}
	if (tx->sent != tx->size) {
		xasprintf(cause, "%s changed while it was being sent",
		    tx->name);
		return (-1);
	}
	crypto_generichash_final(&tx->st, hash, sizeof hash);
	draw(tx, 1);
	return (session_send(s, KIND_FILE_END, hash, sizeof hash, NULL, 0,
	    cause) == 0 ? 0 : -1);
}

/* The name the peer is offered. */
const char *
files_tx_name(const struct txfile *tx)
{
	return (tx->name);
}

/* The size of the file being sent. */
uint64_t
files_tx_size(const struct txfile *tx)
{
	return (tx->size);
}

/* Close and free. */
void
files_tx_free(struct txfile *tx)
{
	if (tx == NULL)
		return;
	close(tx->fd);
	free(tx->name);
	free(tx);
}
