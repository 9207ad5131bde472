/*
 * file.c -- files over a call's session (PROTOCOL.md §6.3), the helper
 * on top of messages: an offer (size, name), data chunks, and an end
 * carrying the BLAKE2b of the whole file.
 *
 * Sending: files wait in a queue and go out a chunk at a time while the
 * call's window has room, so messages and files share the session and
 * nothing waits. Receiving, once the app names a folder: a file the
 * folder has no room for is refused (inbox_room keeps a margin); it is
 * written to a hidden file and takes the sender's name (made safe by
 * inbox.c, never outside the folder, never over a file) only when size
 * and hash are right. A refused file ends the session without a CLOSE,
 * so the sender never takes it as delivered.
 */
#include <sys/stat.h>
#include <sys/statvfs.h>
#include <sys/types.h>

#include <errno.h>
#include <fcntl.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "lib.h"

#define FILE_CHUNK	16384

/* One file being sent. */
struct file_tx {
	struct file_tx	*next;
	int		 fd;
	char		*name;		/* as offered: the base name */
	uint64_t	 size, sent;
	int		 offered;
	int		 hashed;	/* hash holds the final hash */
	crypto_generichash_state st;
	uint8_t		 hash[32];
	tryst_file_fn	 fn;
	void		*user;
};

/* The folder files are received into, and the file coming in. */
struct file_rx {
	char		*dir;
	tryst_file_fn	 fn;
	void		*user;
	int		 fd;		/* -1 between files */
	char		*path;		/* the hidden file */
	char		*name;		/* safe, as it will be called */
	uint64_t	 size, got;
	crypto_generichash_state st;
};

/* Tell the app about a file. */
static void
tell(tryst_call_t *c, tryst_file_fn fn, void *user, int event,
    const char *name, uint64_t bytes, uint64_t size, struct tryst_error *e)
{
	if (fn != NULL)
		fn(c, event, name, bytes, size, e, user);
	tryst_error_free(e);
}

/* Free the first file of the queue. */
static void
tx_pop(struct file_tx **q)
{
	struct file_tx	*f = *q;

	*q = f->next;
	close(f->fd);
	free(f->name);
	free(f);
}

/* Queue path for sending; see tryst.h. */
int
tryst_call_send_file(tryst_call_t *c, const char *path, tryst_file_fn fn,
    void *user, tryst_error **err)
{
	struct file_tx	*f, **q;
	struct stat	 sb;
	const char	*slash = strrchr(path, '/');
	int		 fd, r;

	if (call_closing(c))
		return (lib_err_give(lib_err(TRYST_ESTATE, "the session is "
		    "closing"), err));
	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1 ||
	    fstat(fd, &sb) == -1 || !S_ISREG(sb.st_mode)) {
		r = lib_err_give(lib_err(TRYST_EIO, "%s: %s", path, fd == -1 ?
		    strerror(errno) : "not a regular file"), err);
		if (fd != -1)
			close(fd);
		return (r);
	}
	f = xcalloc(1, sizeof *f);
	f->fd = fd;
	f->name = xstrdup(slash != NULL ? slash + 1 : path);
	if (strlen(f->name) > 1024)
		f->name[1024] = '\0';
	f->size = (uint64_t)sb.st_size;
	f->fn = fn;
	f->user = user;
	crypto_generichash_init(&f->st, NULL, 0, 32);
	for (q = call_tx(c); *q != NULL; q = &(*q)->next)
		;
	*q = f;
	return (0);
}

/* The next piece of the first file: 1 sent one, 0 the window is full
 * or nothing is queued, -1 the session must end. */
static int
tx_piece(tryst_call_t *c, struct file_tx *f)
{
	uint8_t	 buf[FILE_CHUNK], head[10];
	ssize_t	 n;

	if (!f->offered) {
		put_u64(head, f->size);
		put_u16(head + 8, (uint16_t)strlen(f->name));
		if (call_queue(c, KIND_FILE_OFFER, head, sizeof head, f->name,
		    strlen(f->name)) != 0)
			return (0);
		f->offered = 1;
		return (1);
	}
	if (f->sent < f->size) {
		if ((n = pread(f->fd, buf, sizeof buf, (off_t)f->sent)) <= 0) {
			tell(c, f->fn, f->user, TRYST_FILE_FAILED, f->name,
			    f->sent, f->size, lib_err(TRYST_EIO, "%s: %s",
			    f->name, n == 0 ? "shorter than it was" :
			    strerror(errno)));
			return (-1);
		}
		if (call_queue(c, KIND_FILE_DATA, buf, (size_t)n, NULL, 0) != 0)
			return (0);
		crypto_generichash_update(&f->st, buf, (size_t)n);
		f->sent += (uint64_t)n;
		tell(c, f->fn, f->user, TRYST_FILE_PROGRESS, f->name, f->sent,
		    f->size, NULL);
		return (1);
	}
	/* Once only: a full window means trying again later. */
	if (!f->hashed)
		crypto_generichash_final(&f->st, f->hash, sizeof f->hash);
	f->hashed = 1;
	if (call_queue(c, KIND_FILE_END, f->hash, sizeof f->hash, NULL,
	    0) != 0)
		return (0);
	tell(c, f->fn, f->user, TRYST_FILE_DONE, f->name, f->sent, f->size,
	    NULL);
	tx_pop(call_tx(c));
	return (1);
}

/* Send what the window takes of the queued files; see lib.h. */
int
file_tx_pump(tryst_call_t *c)
{
	struct file_tx	**q = call_tx(c);
	int		 r;

	while (*q != NULL && (r = tx_piece(c, *q)) == 1)
		;
	return (*q != NULL && r == -1 ? -1 : 0);
}

/* 1 if files are still to be sent. */
int
file_tx_pending(tryst_call_t *c)
{
	return (*call_tx(c) != NULL);
}

/* Drop the queue: the session ended (telling the app, unless quiet). */
void
file_tx_free(tryst_call_t *c, const struct tryst_error *why, int quiet)
{
	struct file_tx	**q = call_tx(c);

	while (*q != NULL) {
		if (!quiet)
			tell(c, (*q)->fn, (*q)->user, TRYST_FILE_FAILED,
			    (*q)->name, (*q)->sent, (*q)->size,
			    lib_err(TRYST_ECANCELED, "%s", why != NULL ?
			    tryst_error_message(why) : "the session ended"));
		tx_pop(q);
	}
}

/* Receive files into dir; see tryst.h. */
int
tryst_call_receive_files(tryst_call_t *c, const char *dir, tryst_file_fn fn,
    void *user, tryst_error **err)
{
	struct file_rx	**rp = call_rx(c);
	struct stat	 sb;

	if (stat(dir, &sb) == -1 || !S_ISDIR(sb.st_mode))
		return (lib_err_give(lib_err(TRYST_EIO, "%s: not a folder",
		    dir), err));
	if (*rp != NULL)
		return (lib_err_give(lib_err(TRYST_EBUSY, "files already go "
		    "to %s", (*rp)->dir), err));
	*rp = xcalloc(1, sizeof **rp);
	(*rp)->dir = xstrdup(dir);
	(*rp)->fn = fn;
	(*rp)->user = user;
	(*rp)->fd = -1;
	return (0);
}

/* Drop the file coming in, hidden file and all. */
static void
rx_drop(struct file_rx *rx)
{
	if (rx->fd != -1) {
		close(rx->fd);
		unlink(rx->path);
	}
	rx->fd = -1;
	free(rx->path);
	free(rx->name);
	rx->path = rx->name = NULL;
}

/* Refuse the file coming in: -1, and the session ends without CLOSE. */
static int
rx_refuse(tryst_call_t *c, struct file_rx *rx, struct tryst_error *e)
{
	tell(c, rx->fn, rx->user, TRYST_FILE_FAILED, rx->name != NULL ?
	    rx->name : "", rx->got, rx->size, e);
	rx_drop(rx);
	return (-1);
}

/* An offer: room for it, and the hidden file that takes it. */
static int
rx_offer(tryst_call_t *c, struct file_rx *rx, const uint8_t *p, size_t len)
{
	struct statvfs	 sv;

	/* Files go one at a time (§6.3): taking the new offer would drop
	 * the file coming in, and our CLOSE would then confirm both. */
	if (rx->fd != -1)
		return (rx_refuse(c, rx, lib_err(TRYST_EINVAL, "%s: the peer "
		    "offered another file before its end", rx->name)));
	rx_drop(rx);
	rx->got = 0;
	if (inbox_offer_parse(p, len, &rx->size, &rx->name) != 0)
		return (rx_refuse(c, rx, lib_err(TRYST_EINVAL, "the peer sent "
		    "a malformed file offer")));
	if (statvfs(rx->dir, &sv) == 0 && rx->size > inbox_room(sv.f_bavail,
	    sv.f_blocks, sv.f_frsize))
		return (rx_refuse(c, rx, lib_err(TRYST_EIO, "%s: no room for "
		    "%llu bytes in %s", rx->name,
		    (unsigned long long)rx->size, rx->dir)));
	xasprintf(&rx->path, "%s/.%s.part-XXXXXX", rx->dir, rx->name);
	if ((rx->fd = mkostemp(rx->path, O_CLOEXEC)) == -1)
		return (rx_refuse(c, rx, lib_err(TRYST_EIO, "%s: %s", rx->path,
		    strerror(errno))));
	crypto_generichash_init(&rx->st, NULL, 0, 32);
	tell(c, rx->fn, rx->user, TRYST_FILE_PROGRESS, rx->name, 0, rx->size,
	    NULL);
	return (0);
}

/* Data: no more than offered, all of it written. */
static int
rx_data(tryst_call_t *c, struct file_rx *rx, const uint8_t *p, size_t len)
{
	ssize_t	 n;

	if (rx->fd == -1)
		return (rx_refuse(c, rx, lib_err(TRYST_EINVAL, "file data "
		    "without an offer")));
	if (len > rx->size - rx->got)
		return (rx_refuse(c, rx, lib_err(TRYST_EINVAL, "%s: more data "
		    "than offered", rx->name)));
	crypto_generichash_update(&rx->st, p, len);
	rx->got += len;
	while (len > 0) {
		if ((n = write(rx->fd, p, len)) == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return (rx_refuse(c, rx, lib_err(TRYST_EIO, "%s: %s",
			    rx->path, strerror(errno))));
		p += n;
		len -= (size_t)n;
	}
	tell(c, rx->fn, rx->user, TRYST_FILE_PROGRESS, rx->name, rx->got,
	    rx->size, NULL);
	return (0);
}

/* The end: size and hash right, the file takes its name. */
static int
rx_end(tryst_call_t *c, struct file_rx *rx, const uint8_t *p, size_t len)
{
	uint8_t	 hash[32];
	char	*used;
	int	 rc;

	if (rx->fd == -1)
		return (rx_refuse(c, rx, lib_err(TRYST_EINVAL, "a file end "
		    "without an offer")));
	crypto_generichash_final(&rx->st, hash, sizeof hash);
	if (len != 32 || rx->got != rx->size ||
	    sodium_memcmp(hash, p, 32) != 0)
		return (rx_refuse(c, rx, lib_err(TRYST_EINVAL, "%s: %s",
		    rx->name, len != 32 ? "malformed end" : rx->got !=
		    rx->size ? "shorter than offered" : "the hash does not "
		    "match")));
	rc = fsync(rx->fd);
	if (close(rx->fd) == -1)
		rc = -1;
	rx->fd = -1;
	if (rc == -1 || inbox_link(rx->path, rx->dir, rx->name, &used) ==
	    -1) {
		unlink(rx->path);
		return (rx_refuse(c, rx, lib_err(TRYST_EIO, "%s: %s",
		    rx->name, strerror(errno))));
	}
	unlink(rx->path);
	tell(c, rx->fn, rx->user, TRYST_FILE_DONE, used, rx->got, rx->size,
	    NULL);
	free(used);
	rx_drop(rx);
	return (0);
}

/* A file message from the peer; see lib.h. */
int
file_rx_msg(tryst_call_t *c, uint8_t kind, const uint8_t *p, size_t len)
{
	struct file_rx	*rx = *call_rx(c);

	if (rx == NULL)
		return (-1);
	switch (kind) {
	case KIND_FILE_OFFER:
		return (rx_offer(c, rx, p, len));
	case KIND_FILE_DATA:
		return (rx_data(c, rx, p, len));
	default:
		return (rx_end(c, rx, p, len));
	}
}

/* Free the receiving side, removing a file not finished (telling the
 * app, unless quiet). */
void
file_rx_free(tryst_call_t *c, int quiet)
{
	struct file_rx	**rp = call_rx(c);

	if (*rp == NULL)
		return;
	if ((*rp)->fd != -1 && !quiet)
		rx_refuse(c, *rp, lib_err(TRYST_ECANCELED, "the session ended "
		    "in the middle of %s", (*rp)->name));
	rx_drop(*rp);
	free((*rp)->dir);
	free(*rp);
	*rp = NULL;
}
