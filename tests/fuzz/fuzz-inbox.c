/*
 * fuzz-inbox.c -- what a peer says of a file it sends (client/inbox.c):
 * the name, made safe, must be a single non-empty path component that is
 * neither "." nor "..", fit INBOX_NAME_MAX, and be valid UTF-8 holding no
 * C0 or C1 control, DEL, line or paragraph separator or bidirectional
 * control; a name that already is all that comes back unchanged, and a
 * longer one is cut on a character boundary. A file offer parses only
 * when its lengths add up, and the room for a file is the free space
 * less its margin. Every input goes through each of these, and is also
 * read as a name made of characters picked from a table, so that the
 * multibyte cases are reached whatever the seeds.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "client.h"

#define MARGIN_MAX	(64ULL * 1024 * 1024)

#define PICK(s)		{ s, sizeof(s) - 1 }

/* Characters a picked name is made of: the forbidden ones, their
 * neighbours, the separators, and bytes that are not UTF-8. */
static const struct {
	const char	*s;
	size_t		 len;
} picks[] = {
	PICK("a"), PICK("."), PICK("/"), PICK("_"), PICK("\t"), PICK("\0"),
	PICK("\x7f"), PICK("\xc2\x80"), PICK("\xc2\x9f"), PICK("\xc2\xa0"),
	PICK("\xd8\x9c"), PICK("\xd8\x9b"), PICK("\xe2\x80\x8d"),
	PICK("\xe2\x80\x8e"), PICK("\xe2\x80\x8f"), PICK("\xe2\x80\xa7"),
	PICK("\xe2\x80\xa8"), PICK("\xe2\x80\xa9"), PICK("\xe2\x80\xaa"),
	PICK("\xe2\x80\xae"), PICK("\xe2\x80\xaf"), PICK("\xe2\x81\xa5"),
	PICK("\xe2\x81\xa6"), PICK("\xe2\x81\xa9"), PICK("\xe2\x81\xaa"),
	PICK("\xc3\xa9"), PICK("\xe2\x82\xac"), PICK("\xf0\x9f\x98\x80"),
	PICK("\xf4\x8f\xbf\xbf"), PICK("\xff"), PICK("\x80"), PICK("\xc3"),
	PICK("\xe2\x80"), PICK("\xf0\x9f\x98"), PICK("\xc0\xaf"),
	PICK("\xed\xa0\x80"), PICK("\xf4\x90\x80\x80"),
	PICK("\xe0\x80\xaf"),
};

/* The code point of the UTF-8 character at p[0..len), and its length in
 * *n; -1 when it is not one (RFC 3629). */
static long
decode(const uint8_t *p, size_t len, size_t *n)
{
	static const long	 least[] = { 0, 0, 0x80, 0x800, 0x10000 };
	long			 cp;
	size_t			 i;

	if (p[0] < 0x80) {
		*n = 1;
		return (p[0]);
	}
	*n = p[0] >= 0xf0 ? 4 : p[0] >= 0xe0 ? 3 : p[0] >= 0xc0 ? 2 : 0;
	if (*n == 0 || *n > len || (p[0] & (0x80 >> *n)) != 0)
		return (-1);
	cp = p[0] & (0x3f >> (*n - 1));
	for (i = 1; i < *n; i++) {
		if ((p[i] & 0xc0) != 0x80)
			return (-1);
		cp = cp << 6 | (p[i] & 0x3f);
	}
	if (cp < least[*n] || cp > 0x10ffff || (cp >= 0xd800 && cp <= 0xdfff))
		return (-1);
	return (cp);
}

/* Whether p[0..len) is valid UTF-8 holding no forbidden code point. */
static int
shows_safely(const uint8_t *p, size_t len)
{
	size_t	 i, n;
	long	 cp;

	for (i = 0; i < len; i += n) {
		if ((cp = decode(p + i, len - i, &n)) == -1 || cp < 0x20 ||
		    (cp >= 0x7f && cp <= 0x9f) || cp == 0x61c || cp == 0x200e ||
		    cp == 0x200f || (cp >= 0x2028 && cp <= 0x202e) ||
		    (cp >= 0x2066 && cp <= 0x2069))
			return (0);
	}
	return (1);
}

/* Abort unless name, made safe from p[0..len), is safe to create in a
 * folder and to print, and keeps what of the sender's base name was
 * already safe; free it. */
static void
check_name(char *name, const uint8_t *p, size_t len)
{
	const uint8_t	*base = p;
	size_t		 n = strlen(name), blen, i;

	if (n == 0 || n > INBOX_NAME_MAX || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0 || strchr(name, '/') != NULL ||
	    !shows_safely((const uint8_t *)name, n))
		abort();
	for (i = 0; i < len; i++) {
		if (p[i] == '/')
			base = p + i + 1;
	}
	blen = len - (size_t)(base - p);
	if (blen > 0 && shows_safely(base, blen) && !(blen <= 2 &&
	    memcmp(base, "..", blen) == 0)) {
		if (blen <= INBOX_NAME_MAX ? n != blen : n + 3 < INBOX_NAME_MAX)
			abort();
		if (memcmp(name, base, n) != 0)
			abort();
	}
	free(name);
}

/* Abort unless inbox_room of the first 24 bytes is their free space less
 * the margin (1% of the size, at most 64 MiB), products saturating. */
static void
check_room(const uint8_t *data, size_t size)
{
	uint64_t	 bavail, blocks, frsize, avail, total, margin, room;

	if (size < 24)
		return;
	bavail = get_u64(data);
	blocks = get_u64(data + 8);
	frsize = get_u64(data + 16) >> (data[16] & 63);
	room = inbox_room(bavail, blocks, frsize);
	if (blocks == 0 || frsize == 0) {
		if (room != UINT64_MAX)
			abort();
		return;
	}
	if (__builtin_mul_overflow(bavail, frsize, &avail))
		avail = UINT64_MAX;
	if (__builtin_mul_overflow(blocks, frsize, &total))
		total = UINT64_MAX;
	margin = total / 100 < MARGIN_MAX ? total / 100 : MARGIN_MAX;
	if (room != (avail > margin ? avail - margin : 0))
		abort();
}

/* Into name, the characters data[0..size) picks, cycled: at most count
 * of them, until it holds want bytes or the next might not fit in cap.
 * Its length. */
static size_t
pick(const uint8_t *data, size_t size, size_t count, size_t want,
    uint8_t *name, size_t cap)
{
	size_t	 i, k, n = 0;

	for (i = 0; i < count && n < want && n + 4 <= cap; i++) {
		k = data[i % size] % nitems(picks);
		memcpy(name + n, picks[k].s, picks[k].len);
		n += picks[k].len;
	}
	return (n);
}

/* The name the input picks, a byte a character, made safe and checked;
 * then the same repeated to about INBOX_NAME_MAX bytes, so that short
 * inputs reach the cut too. */
static void
check_picked(const uint8_t *data, size_t size)
{
	uint8_t	 name[4 * INBOX_NAME_MAX];
	size_t	 n;

	if (size == 0)
		return;
	n = pick(data, size, size, SIZE_MAX, name, sizeof name);
	check_name(inbox_safe_name(name, n), name, n);
	n = pick(data, size, SIZE_MAX, INBOX_NAME_MAX - 8 + data[0] % 16,
	    name, sizeof name);
	check_name(inbox_safe_name(name, n), name, n);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t	 fsize;
	char		*name;

	check_name(inbox_safe_name(data, size), data, size);
	if (inbox_offer_parse(data, size, &fsize, &name) == 0) {
		if (size != 10 + (size_t)get_u16(data + 8) ||
		    fsize != get_u64(data))
			abort();
		check_name(name, data + 10, size - 10);
	} else if (size >= 10 && size == 10 + (size_t)get_u16(data + 8))
		abort();
	check_room(data, size);
	check_picked(data, size);
	return (0);
}
