/*
 * inbox.c -- where received files go: the sender's name made safe (its
 * base name only, so nothing lands outside the folder, and valid UTF-8
 * with nothing a terminal acts on or that disguises the name), whether
 * the folder has room for the file, and a finished file moved to that
 * name or, when it is taken, to name-N.ext, never over an existing file.
 */
#include <errno.h>
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "client.h"

#define UNIQUE_TRIES	1000
#define ROOM_MARGIN_MAX	(64ULL * 1024 * 1024)

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

/*
 * Lead bytes of UTF-8 (RFC 3629, Unicode table 3-7): the length of the
 * sequence and the range of its second byte, which rules out overlong
 * forms, surrogates and code points past U+10FFFF. Other bytes from 0x80
 * up never begin a character.
 */
static const struct {
	uint8_t	 first, last;	/* lead bytes */
	uint8_t	 n;		/* bytes in the sequence */
	uint8_t	 lo, hi;	/* second byte; the rest are 80..BF */
} leads[] = {
	{ 0xc2, 0xdf, 2, 0x80, 0xbf },
	{ 0xe0, 0xe0, 3, 0xa0, 0xbf },
	{ 0xe1, 0xec, 3, 0x80, 0xbf },
	{ 0xed, 0xed, 3, 0x80, 0x9f },
	{ 0xee, 0xef, 3, 0x80, 0xbf },
	{ 0xf0, 0xf0, 4, 0x90, 0xbf },
	{ 0xf1, 0xf3, 4, 0x80, 0xbf },
	{ 0xf4, 0xf4, 4, 0x80, 0x8f },
};

/* The length of the character at p[0..len), len > 0, and its code point
 * in *cp; when it is not valid UTF-8, -1 in *cp and the length of its
 * longest valid beginning, at least 1 (Unicode's "maximal subpart"), so
 * that one bad sequence is one replacement. */
static size_t
utf8_next(const uint8_t *p, size_t len, int32_t *cp)
{
	size_t	 k, i;
	uint8_t	 lo, hi;

	if ((*cp = p[0]) < 0x80)
		return (1);
	*cp = -1;
	for (k = 0; k < nitems(leads); k++) {
		if (p[0] >= leads[k].first && p[0] <= leads[k].last)
			break;
	}
	if (k == nitems(leads))
		return (1);
	lo = leads[k].lo;
	hi = leads[k].hi;
	for (i = 1; i < leads[k].n; i++) {
		if (i >= len || p[i] < lo || p[i] > hi)
			return (i);
		lo = 0x80;
		hi = 0xbf;
	}
	*cp = p[0] & (0x7f >> i);
	for (k = 1; k < i; k++)
		*cp = *cp << 6 | (p[k] & 0x3f);
	return (i);
}

/* Whether a name must not show code point cp (-1: invalid UTF-8): C0 and
 * C1 controls, DEL, the line and paragraph separators, and Unicode's
 * bidirectional controls, with which "gpj.exe" could look "exe.jpg". */
static int
unsafe(int32_t cp)
{
	return (cp < 0x20 || (cp >= 0x7f && cp <= 0x9f) || cp == 0x061c ||
	    cp == 0x200e || cp == 0x200f || (cp >= 0x2028 && cp <= 0x202e) ||
	    (cp >= 0x2066 && cp <= 0x2069));
}

/* The sender's name made safe: its base name, valid UTF-8 with every
 * unsafe character or bad sequence replaced by one '_', cut on a
 * character boundary, never empty, "." or "..". Caller frees. */
char *
inbox_safe_name(const uint8_t *p, size_t len)
{
	const char	*c;
	char		*name;
	size_t		 i, n, w, start = 0, o = 0;
	int32_t		 cp;

	for (i = 0; i < len; i++) {
		if (p[i] == '/')
			start = i + 1;
	}
	name = xmalloc(INBOX_NAME_MAX + 1);
	for (i = start; i < len; i += n) {
		n = utf8_next(p + i, len - i, &cp);
		c = unsafe(cp) ? "_" : (const char *)p + i;
		w = unsafe(cp) ? 1 : n;
		if (o + w > INBOX_NAME_MAX)
			break;
		memcpy(name + o, c, w);
		o += w;
	}
	name[o] = '\0';
	if (o == 0 || strcmp(name, ".") == 0 || strcmp(name, "..") == 0) {
		free(name);
		name = xstrdup("file");
	}
	return (name);
}

/* n * m, or UINT64_MAX when that does not fit. */
static uint64_t
mul_sat(uint64_t n, uint64_t m)
{
	return (m != 0 && n > UINT64_MAX / m ? UINT64_MAX : n * m);
}

/*
 * The bytes a received file may take on a file system with bavail blocks
 * of frsize bytes free to us, of blocks in all: the free space less a
 * margin, so that a file from a peer never leaves the disk full for the
 * rest of the system (logs, tryst's own state files). The margin is 1% of
 * the file system, so that a small one (an SD card, a tmpfs) is not
 * mostly held back, but at most ROOM_MARGIN_MAX, so that a big one does
 * not refuse gigabytes it has. No size (blocks 0, as some network and
 * FUSE file systems say): no limit, a full disk failing the write.
 */
uint64_t
inbox_room(uint64_t bavail, uint64_t blocks, uint64_t frsize)
{
	uint64_t	 avail, margin;

	if (blocks == 0 || frsize == 0)
		return (UINT64_MAX);
	avail = mul_sat(bavail, frsize);
	margin = mul_sat(blocks, frsize) / 100;
	if (margin > ROOM_MARGIN_MAX)
		margin = ROOM_MARGIN_MAX;
	return (avail > margin ? avail - margin : 0);
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
