/*
 * fuzz-inbox.c -- the name a sender gives a file (client/inbox.c). Made
 * safe, it must be a single non-empty path component that is neither
 * "." nor "..", hold no control character, and fit INBOX_NAME_MAX.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "client.h"

int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	char	*name = inbox_safe_name(data, size);
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
	return (0);
}
