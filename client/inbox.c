/*
 * inbox.c -- where received files go: the sender's name made safe (its
 * base name only, so nothing lands outside the folder), and a finished
 * file moved to that name or, when it is taken, to name-N.ext, never over
 * an existing file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"

#define UNIQUE_TRIES	1000

/* A file offer: the size, then the name with its u16 length; nothing
 * may follow. */
int
inbox_offer_parse(const uint8_t *p, size_t len, uint64_t *size, char **name)
{
	if (len < 10 || len != 10 + (size_t)get_u16(p + 8))
		return (-1);
	*size = get_u64(p);
	*name = inbox_safe_name(p + 10, len - 10);
	return (0);
}

/* The sender's name made safe: its base name, control characters
 * replaced, never empty, "." or "..". Caller frees. */
char *
inbox_safe_name(const uint8_t *p, size_t len)
{
	char	*name;
	size_t	 i, start = 0, o = 0;

	for (i = 0; i < len; i++) {
		if (p[i] == '/')
			start = i + 1;
	}
	name = xmalloc(INBOX_NAME_MAX + 1);
	for (i = start; i < len && o < INBOX_NAME_MAX; i++)
		name[o++] = p[i] < 0x20 || p[i] == 0x7f ? '_' : (char)p[i];
	name[o] = '\0';
	if (o == 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		free(name);
		name = xstrdup("file");
	}
	return (name);
}

/* Give tmp the name path unless path exists: a rename that never
 * replaces where the file system has one, else a hard link, else (vfat,
 * some network file systems) a check then a rename. -1 and errno
 * (EEXIST: taken). */
static int
place(const char *tmp, const char *path)
{
	if (renameat2(AT_FDCWD, tmp, AT_FDCWD, path, RENAME_NOREPLACE) == 0)
		return (0);
	if (errno != EINVAL && errno != ENOSYS)
		return (-1);
	if (link(tmp, path) == 0)
		return (0);
	if (errno != EPERM && errno != EOPNOTSUPP)
		return (-1);
	if (access(path, F_OK) == 0) {
		errno = EEXIST;
		return (-1);
	}
	return (rename(tmp, path));
}

/* Give the finished file tmp its name in dir: name, or stem-N.ext,
 * whichever does not exist yet, never replacing a file. The name used in
 * *used, or -1 and errno. */
int
inbox_link(const char *tmp, const char *dir, const char *name, char **used)
{
	const char	*dot = strrchr(name, '.');
	char		*path;
	int		 i, stem, rc;

	stem = dot != NULL && dot != name ? (int)(dot - name) :
	    (int)strlen(name);
	for (i = 0; i < UNIQUE_TRIES; i++) {
		if (i == 0)
			*used = xstrdup(name);
		else
			xasprintf(used, "%.*s-%d%s", stem, name, i,
			    name + stem);
		xasprintf(&path, "%s/%s", dir, *used);
		rc = place(tmp, path);
		free(path);
		if (rc == 0)
			return (0);
		free(*used);
		if (errno != EEXIST)
			return (-1);
	}
	errno = EEXIST;
	return (-1);
}
