/*
 * blobs.c -- where the client's state is kept: named blobs (config,
 * identity, credential, pending, ids, contacts) in a directory, as files
 * of those names, or with the app through its callbacks (tryst_state_store,
 * for platforms with no file system of their own). state.c, ids.c and
 * contacts.c read and write through this interface alone, so the two
 * keep the same format. A blob that is there but cannot be read is an
 * error, never taken for an absent one: the callers would write over it.
 */
#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "client.h"

struct blobs_ops {
	int	(*load)(const struct blobs *, const char *, size_t, char **,
		    size_t *, char **);
	int	(*save)(const struct blobs *, const char *, const void *,
		    size_t, int, char **);
	int	(*remove)(const struct blobs *, const char *, char **);
	int	(*prepare)(const struct blobs *, char **);
	char	*(*label)(const struct blobs *, const char *);
};

struct blobs {
	const struct blobs_ops	*ops;
	char			*dir;		/* blobs_dir */
	tryst_blob_load_fn	 load;		/* blobs_app */
	tryst_blob_save_fn	 save;
	tryst_blob_remove_fn	 remove;
	void			*user;
};

/* What the app's load callback fills with tryst_blob_set. */
struct tryst_blob {
	char		*data;		/* NUL terminated; NULL until set */
	size_t		 len;
	size_t		 max;		/* more is refused */
	int		 too_big;
};

/* ---- a directory ---- */

/* dir/name. */
static char *
dir_label(const struct blobs *b, const char *name)
{
	char	*path;

	xasprintf(&path, "%s/%s", b->dir, name);
	return (path);
}

/* Read dir/name; absent when no file has the name. */
static int
dir_load(const struct blobs *b, const char *name, size_t max, char **data,
    size_t *len, char **cause)
{
	char	*path = dir_label(b, name);
	int	 rc = 0;

	/* access first: file_read_small's errno is not kept past its
	 * message, and only ENOENT means "absent". */
	if (access(path, F_OK) == -1 && errno == ENOENT)
		rc = BLOBS_ABSENT;
	else if ((*data = file_read_small(path, max, len, cause)) == NULL)
		rc = -1;
	free(path);
	return (rc);
}

/* Write dir/name atomically, 0600; a new identity never replaces one. */
static int
dir_save(const struct blobs *b, const char *name, const void *data,
    size_t len, int flags, char **cause)
{
	char	*path = dir_label(b, name);
	int	 rc;

	rc = file_write_atomic(path, data, len, 0600,
	    (flags & BLOBS_NEW) != 0, cause);
	free(path);
	return (rc);
}

/* Unlink dir/name; one that is not there is gone already. */
static int
dir_remove(const struct blobs *b, const char *name, char **cause)
{
	char	*path = dir_label(b, name);
	int	 rc = 0;

	if (unlink(path) == -1 && errno != ENOENT) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		rc = -1;
	}
	free(path);
	return (rc);
}

/* mkdir -p, with mode 0700 for what it makes and for dir itself. */
static int
dir_prepare(const struct blobs *b, char **cause)
{
	return (state_mkdir(b->dir, cause));
}

static const struct blobs_ops dir_ops = {
	.load = dir_load, .save = dir_save, .remove = dir_remove,
	.prepare = dir_prepare, .label = dir_label
};

/* ---- the app's callbacks ---- */

/* "the app's NAME", for messages. */
static char *
app_label(const struct blobs *b, const char *name)
{
	char	*s;

	(void)b;
	xasprintf(&s, "the app's \"%s\"", name);
	return (s);
}

/* Wipe and free what a blob holds. */
static void
blob_clear(struct tryst_blob *blob)
{
	if (blob->data != NULL) {
		sodium_memzero(blob->data, blob->len);
		free(blob->data);
	}
	blob->data = NULL;
	blob->len = 0;
}

/* Ask the app for name: found (set), TRYST_BLOB_NONE, or failed. */
static int
app_load(const struct blobs *b, const char *name, size_t max, char **data,
    size_t *len, char **cause)
{
	struct tryst_blob	 blob = { .max = max };
	char			*label = app_label(b, name);
	int			 r;

	r = b->load(name, &blob, b->user);
	if (r == 0 && blob.data != NULL) {
		*data = blob.data;
		if (len != NULL)
			*len = blob.len;
		free(label);
		return (0);
	}
	if (r == TRYST_BLOB_NONE && blob.data == NULL && !blob.too_big) {
		free(label);
		return (BLOBS_ABSENT);
	}
	if (blob.too_big)
		xasprintf(cause, "%s: larger than %zu bytes", label, max);
	else if (r == 0)
		xasprintf(cause, "%s: the load callback said it was there "
		    "but gave no bytes (tryst_blob_set)", label);
	else if (r == TRYST_BLOB_NONE)
		xasprintf(cause, "%s: the load callback said there was none "
		    "but gave bytes", label);
	else
		xasprintf(cause, "%s: the app could not load it (%d)", label,
		    r);
	blob_clear(&blob);
	free(label);
	return (-1);
}

/* Hand name to the app, which must replace the old blob whole. */
static int
app_save(const struct blobs *b, const char *name, const void *data,
    size_t len, int flags, char **cause)
{
	char	*label;
	int	 r;

	r = b->save(name, data, len, flags & TRYST_BLOB_SECRET, b->user);
	if (r == 0)
		return (0);
	label = app_label(b, name);
	xasprintf(cause, "%s: the app could not save it (%d)", label, r);
	free(label);
	return (-1);
}

/* Ask the app to forget name. */
static int
app_remove(const struct blobs *b, const char *name, char **cause)
{
	char	*label;
	int	 r;

	if ((r = b->remove(name, b->user)) == 0)
		return (0);
	label = app_label(b, name);
	xasprintf(cause, "%s: the app could not remove it (%d)", label, r);
	free(label);
	return (-1);
}

/* The app's store needs no preparing. */
static int
app_prepare(const struct blobs *b, char **cause)
{
	(void)b;
	(void)cause;
	return (0);
}

static const struct blobs_ops app_ops = {
	.load = app_load, .save = app_save, .remove = app_remove,
	.prepare = app_prepare, .label = app_label
};

/* Copy what the app loaded into the library's blob. */
int
tryst_blob_set(tryst_blob *blob, const void *data, size_t len)
{
	if (blob == NULL || (data == NULL && len > 0))
		return (TRYST_EINVAL);
	if (len > blob->max) {
		blob->too_big = 1;
		return (TRYST_EINVAL);
	}
	blob_clear(blob);
	blob->data = xmalloc(len + 1);
	if (len > 0)
		memcpy(blob->data, data, len);
	blob->data[len] = '\0';
	blob->len = len;
	return (0);
}

/* ---- the interface ---- */

/* Blobs as files in dir. */
struct blobs *
blobs_dir(const char *dir)
{
	struct blobs	*b = xcalloc(1, sizeof *b);

	b->ops = &dir_ops;
	b->dir = xstrdup(dir);
	return (b);
}

/* Blobs kept by the app. */
struct blobs *
blobs_app(tryst_blob_load_fn load, tryst_blob_save_fn save,
    tryst_blob_remove_fn remove, void *user)
{
	struct blobs	*b = xcalloc(1, sizeof *b);

	b->ops = &app_ops;
	b->load = load;
	b->save = save;
	b->remove = remove;
	b->user = user;
	return (b);
}

/* Forget the store; the blobs stay where they are. */
void
blobs_free(struct blobs *b)
{
	if (b == NULL)
		return;
	free(b->dir);
	free(b);
}

/* The directory of blobs_dir, else NULL. */
const char *
blobs_where(const struct blobs *b)
{
	return (b->dir);
}

/* What to call blob name in a message. */
char *
blobs_label(const struct blobs *b, const char *name)
{
	return (b->ops->label(b, name));
}

/* Make ready for the first save. */
int
blobs_prepare(const struct blobs *b, char **cause)
{
	return (b->ops->prepare(b, cause));
}

/* Load blob name; see client.h. */
int
blobs_load(const struct blobs *b, const char *name, size_t max, char **data,
    size_t *len, char **cause)
{
	*data = NULL;
	return (b->ops->load(b, name, max, data, len, cause));
}

/* Replace blob name whole. */
int
blobs_save(const struct blobs *b, const char *name, const void *data,
    size_t len, int flags, char **cause)
{
	return (b->ops->save(b, name, data, len, flags, cause));
}

/* Remove blob name. */
int
blobs_remove(const struct blobs *b, const char *name, char **cause)
{
	return (b->ops->remove(b, name, cause));
}
