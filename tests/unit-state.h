/*
 * unit-state.h -- what the unit tests of the client's state blobs
 * (test-state.c, test-ids.c, test-contacts.c) share: a path in a state
 * folder, and an app's store whose blobs cannot be read (a locked
 * keychain) and which counts what it is asked to save.
 */
#ifndef TRYST_UNIT_STATE_H
#define TRYST_UNIT_STATE_H

#include "client.h"

/* dir/name. Caller frees. */
static inline char *
unit_state_path(const char *dir, const char *name)
{
	char	*path;

	xasprintf(&path, "%s/%s", dir, name);
	return (path);
}

static inline int
unit_load_fails(const char *name, tryst_blob *blob, void *user)
{
	(void)name;
	(void)blob;
	(void)user;
	return (-1);
}

/* user is an int counting the saves; nothing is kept. */
static inline int
unit_save_counts(const char *name, const void *data, size_t len,
    int flags, void *user)
{
	(void)name;
	(void)data;
	(void)len;
	(void)flags;
	(*(int *)user)++;
	return (0);
}

static inline int
unit_remove_none(const char *name, void *user)
{
	(void)name;
	(void)user;
	return (0);
}

/* A store whose loads all fail; its saves are counted in *saves. */
static inline struct blobs *
unit_blobs_unreadable(int *saves)
{
	*saves = 0;
	return (blobs_app(unit_load_fails, unit_save_counts,
	    unit_remove_none, saves));
}

#endif
