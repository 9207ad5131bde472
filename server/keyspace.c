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

/* Read the password of redis_password_file, its line ends dropped. */
int
keyspace_password(const struct settings *set, char **pw, char **cause)
{
	char	*file;
	size_t	 len;

	*pw = NULL;
	if (*set->redis_password_file == '\0')
		return (0);
	if ((file = settings_path(set, set->redis_password_file,
	    cause)) == NULL)
		return (-1);
	*pw = file_read_small(file, 1024, &len, cause);
	free(file);
	if (*pw == NULL)
		return (-1);
	while (len > 0 && ((*pw)[len - 1] == '\n' || (*pw)[len - 1] == '\r'))
		(*pw)[--len] = '\0';
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

const char keyspace_put_lua[] =
	"redis.call('HSET', KEYS[1], 'created', ARGV[1], 'seen', ARGV[2]) "
	"redis.call('EXPIREAT', KEYS[1], ARGV[3]) "
	"redis.call(ARGV[4], ARGV[5], ARGV[6]) "
	"return 1";

const char keyspace_delete_lua[] =
	"if redis.call('HGET', KEYS[1], 'created') ~= ARGV[1] then "
	"  return 0 "
	"end "
	"redis.call('DEL', KEYS[1]) "
	"redis.call(ARGV[2], ARGV[3], ARGV[4]) "
	"return 1";

/* "tryst:id:{hex}", the channel of an ID, into buf of 80 bytes: the hash
 * tag puts it in the slot of the ID's account. */
void
keyspace_channel(char *buf, const uint8_t id[ID_LEN])
{
	char	 hex[2 * ID_LEN + 1];

	hex_encode(hex, id, ID_LEN);
	snprintf(buf, 80, "tryst:id:{%s}", hex);
}

/* The ID of a channel keyspace_channel made: 0, or -1. */
int
keyspace_channel_id(const char *chan, size_t len, uint8_t id[ID_LEN])
{
	char	 hex[2 * ID_LEN + 1];

	if (len != 10 + 2 * ID_LEN + 1 || memcmp(chan, "tryst:id:{", 10) != 0 ||
	    chan[len - 1] != '}')
		return (-1);
	memcpy(hex, chan + 10, 2 * ID_LEN);
	hex[2 * ID_LEN] = '\0';
	return (hex_decode(id, ID_LEN, hex));
}

/* "tryst:node:{name}", the channel of a node, into buf of size bytes. */
void
keyspace_node_channel(char *buf, size_t size, const char *node)
{
	snprintf(buf, size, "tryst:node:{%s}", node);
}

/* The revocation of an ID's connections of created <= max: "R" and max,
 * into buf of 24 bytes. */
void
keyspace_revoke_msg(char *buf, uint64_t max)
{
	snprintf(buf, 24, "R%llu", (unsigned long long)max);
}

/* Parse a revocation: 0 and *max, or -1. */
int
keyspace_revoke_parse(const char *s, size_t len, uint64_t *max)
{
	unsigned long long v = 0;
	size_t		 i;

	if (len < 2 || len > 21 || s[0] != 'R')
		return (-1);
	for (i = 1; i < len; i++) {
		if (s[i] < '0' || s[i] > '9' ||
		    v > (UINT64_MAX - (unsigned)(s[i] - '0')) / 10)
			return (-1);
		v = v * 10 + (unsigned)(s[i] - '0');
	}
	*max = v;
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
