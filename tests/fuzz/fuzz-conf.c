/*
 * fuzz-conf.c -- the config parser (common/conf.c) with trystd's settings
 * table (server/settings.c), then the checks and parsers that run on what
 * it stored. The input is the file. A parse that succeeds leaves every
 * value within its entry's bounds; one that fails says where; either way
 * everything is freed (LeakSanitizer watches).
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "server.h"

#define NAME	"fuzz.conf"

/* Check that every value of s is what its table entry allows. */
static void
check_values(const struct settings *s)
{
	const struct conf_entry	*e;
	const char		*base = (const char *)s;
	long long		 n;
	char			*str;
	int			 level;

	for (e = settings_table; e->name != NULL; e++) {
		switch (e->type) {
		case CONF_INT:
			memcpy(&n, base + e->offset, sizeof n);
			if (n < e->min || n > e->max)
				abort();
			break;
		case CONF_STR:
			memcpy(&str, base + e->offset, sizeof str);
			if (str == NULL || (e->min > 0 && *str == '\0'))
				abort();
			break;
		case CONF_LEVEL:
			memcpy(&level, base + e->offset, sizeof level);
			if (level < LOG_ERR || level > LOG_DEBUG)
				abort();
			break;
		}
	}
}

/* Run what trystd runs on a parsed file: the checks between keys and
 * the parsing of the Redis address. */
static void
use_values(const struct settings *s)
{
	char	*cause = NULL, *host = NULL, *path = NULL;
	int	 port;

	if (settings_check(s, &cause) != 0 && cause == NULL)
		abort();
	free(cause);
	if (keyspace_redis_addr(s->redis, &host, &port, &path) == 0 &&
	    (host == NULL) == (path == NULL))
		abort();
	free(host);
	free(path);
}

/* Parse the input as trystd.conf. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct settings	 s;
	char		*cause = NULL;

	memset(&s, 0, sizeof s);
	conf_defaults(settings_table, &s);
	if (conf_parse(settings_table, &s, NAME, (const char *)data, size,
	    &cause) == 0) {
		if (cause != NULL)
			abort();
		check_values(&s);
		use_values(&s);
	} else if (cause == NULL ||
	    strncmp(cause, NAME ":", strlen(NAME ":")) != 0)
		abort();
	free(cause);
	conf_free(settings_table, &s);
	return (0);
}
