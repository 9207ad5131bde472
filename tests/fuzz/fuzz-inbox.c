/*
 * fuzz-inbox.c -- what a peer says of a file it sends (client/inbox.c):
 * the name, made safe, must be a single non-empty path component that is
 * neither "." nor "..", hold no control character, and fit
 * INBOX_NAME_MAX; a file offer parses only when its lengths add up. Every
 * input goes through both parsers.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "client.h"

/* Abort unless name is safe to create in a folder; free it. */
static void
check_name(char *name)
{
	size_t	 n = strlen(name), i;

	if (n == 0 || n > INBOX_NAME_MAX || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0)
		abort();
	for (i = 0; i < n; i++) {
		if (name[i] == '/' || (unsigned char)name[i] < 0x20 ||
		    name[i] == 0x7f)
			abort();
	}
	free(name);
}

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	uint64_t	 fsize;
	char		*name;

	check_name(inbox_safe_name(data, size));
	if (inbox_offer_parse(data, size, &fsize, &name) == 0) {
		if (size != 10 + (size_t)get_u16(data + 8) ||
		    fsize != get_u64(data))
			abort();
		check_name(name);
	} else if (size >= 10 && size == 10 + (size_t)get_u16(data + 8))
		abort();
	return (0);
}
