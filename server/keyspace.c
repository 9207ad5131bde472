/*
 * keyspace.c -- the names in Redis (PROTOCOL.md §7) and the Redis address
 * setting, shared by trystd and trystctl.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

/* Parse the redis setting: "host:port" or "unix:PATH". */
int
keyspace_redis_addr(const char *s, char **host, int *port, char **path)
{
	const char	*colon;
	char		*end;
	long		 p;

	*host = *path = NULL;
	*port = 0;
	if (strncmp(s, "unix:", 5) == 0) {
		if (s[5] == '\0')
			return (-1);
		*path = xstrdup(s + 5);
		return (0);
	}
	if ((colon = strrchr(s, ':')) == NULL || colon == s)
		return (-1);
	p = strtol(colon + 1, &end, 10);
	if (*end != '\0' || p < 1 || p > 65535)
		return (-1);
	*host = xstrdup(s);
	(*host)[colon - s] = '\0';
	if ((*host)[0] == '[') {	/* [v6]:port */
		memmove(*host, *host + 1, strlen(*host));
		(*host)[strcspn(*host, "]")] = '\0';
	}
	*port = (int)p;
	return (0);
}

/* "acct:{hex}" of an ID. */
void
keyspace_acct(char *buf, const uint8_t id[ID_LEN])
{
	char	 hex[2 * ID_LEN + 1];

	hex_encode(hex, id, ID_LEN);
	snprintf(buf, 72, "acct:{%s}", hex);
}
