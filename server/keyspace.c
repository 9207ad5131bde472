/*
 * keyspace.c -- the names in Redis (PROTOCOL.md §7) and the Redis address
 * setting, shared by trystd and trystctl.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

/* Parse the redis setting: HOST:PORT or unix:/PATH. -1 and *why. */
int
keyspace_redis_parse(const char *s, char **host, int *port, char **path,
    char **why)
{
	char	 q[128];

	*host = *path = NULL;
	*port = 0;
	if (strncmp(s, "unix:", 5) != 0)
		return (settings_hostport(s, "HOST:PORT or unix:/PATH", host,
		    port, why));
	if (s[5] != '/') {
		log_escape(q, sizeof q, (const uint8_t *)s, strlen(s));
		xasprintf(why, "\"%s\": the socket path must be absolute", q);
		return (-1);
	}
	*path = xstrdup(s + 5);
	return (0);
}

/* Parse the redis setting, without a reason. */
int
keyspace_redis_addr(const char *s, char **host, int *port, char **path)
{
	char	*why = NULL;
	int	 rc;

	rc = keyspace_redis_parse(s, host, port, path, &why);
	free(why);
	return (rc);
}

const char keyspace_delete_lua[] =
	"if redis.call('HGET', KEYS[1], 'created') ~= ARGV[1] then "
	"  return 0 "
	"end "
	"redis.call('DEL', KEYS[1]) "
	"redis.call('PUBLISH', 'tryst:revoke', ARGV[2]) "
	"return 1";

/* "acct:{hex}" of an ID. */
void
keyspace_acct(char *buf, const uint8_t id[ID_LEN])
{
	char	 hex[2 * ID_LEN + 1];

	hex_encode(hex, id, ID_LEN);
	snprintf(buf, 72, "acct:{%s}", hex);
}
