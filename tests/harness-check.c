/*
 * harness-check.c -- what a test run may leave behind: Redis holding only
 * the keys of PROTOCOL.md §7, in their shapes, and trystd logs that name
 * no number, no ID and nothing else a test says must stay private.
 */
#include <ctype.h>
#include <glob.h>
#include <regex.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <hiredis/hiredis.h>

#include "harness.h"

/* Assert one reply is an integer and return it. */
long long
h_reply_int(redisContext *rc, const char *cmd, const char *key)
{
	redisReply	*r;
	long long	 v;

	r = redisCommand(rc, "%s %s", cmd, key);
	ck_assert_msg(r != NULL && r->type == REDIS_REPLY_INTEGER, "%s %s",
	    cmd, key);
	v = r->integer;
	freeReplyObject(r);
	return (v);
}

/* An acct: hash: exactly created and seen, EXPIREAT seen + 120 days. */
static void
check_account(redisContext *rc, const char *key)
{
	redisReply	*r;
	long long	 created = -1, seen = -1;
	size_t		 i;

	r = redisCommand(rc, "HGETALL %s", key);
	ck_assert_msg(r != NULL && r->type == REDIS_REPLY_ARRAY, "HGETALL");
	ck_assert_msg(r->elements == 4, "%s has %zu fields", key,
	    r->elements / 2);
	for (i = 0; i < r->elements; i += 2) {
		const char *f = r->element[i]->str, *v = r->element[i + 1]->str;

		ck_assert_msg(strspn(v, "0123456789") == strlen(v) && *v,
		    "%s %s = %s", key, f, v);
		if (strcmp(f, "created") == 0)
			created = atoll(v);
		else if (strcmp(f, "seen") == 0)
			seen = atoll(v);
	}
	freeReplyObject(r);
	ck_assert_msg(created > 0 && seen > 0, "%s: fields", key);
	ck_assert_int_eq(seen % 86400, 0);
	ck_assert_int_le(seen, h_today());
	ck_assert_int_gt(h_reply_int(rc, "TTL", key), 0);
	ck_assert_int_eq(h_reply_int(rc, "EXPIRETIME", key),
	    seen + 120LL * 86400);
}

/* Every key in H's Redis is one PROTOCOL.md §7 allows; the count. */
size_t
h_check_redis_keys(void)
{
	redisContext	*rc;
	redisReply	*r;
	regex_t		 acct, rl;
	size_t		 i, n;

	ck_assert_int_eq(regcomp(&acct, "^acct:\\{[0-9a-f]{64}\\}$",
	    REG_EXTENDED | REG_NOSUB), 0);
	ck_assert_int_eq(regcomp(&rl, "^(vt:\\{[0-9a-f]{64}\\}:[0-9a-f]{48}|"
	    "rl:code:\\{[0-9a-f]{64}\\}:[0-9]+|"
	    "rl:codefail:\\{[0-9a-f]{64}\\}:[0-9]+|"
	    "rl:disc:\\{[0-9a-f]{64}\\}|"
	    "rl:relay:\\{[0-9a-f]{64}\\}:[0-9]+)$", REG_EXTENDED | REG_NOSUB),
	    0);
	rc = redisConnect("127.0.0.1", H.redis_port);
	ck_assert_msg(rc != NULL && rc->err == 0, "redis connect");
	r = redisCommand(rc, "KEYS *");
	ck_assert_msg(r != NULL && r->type == REDIS_REPLY_ARRAY, "KEYS");
	for (i = 0; i < r->elements; i++) {
		const char *key = r->element[i]->str;

		if (regexec(&acct, key, 0, NULL, 0) == 0)
			check_account(rc, key);
		else if (regexec(&rl, key, 0, NULL, 0) == 0) {
			ck_assert_msg(h_reply_int(rc, "TTL", key) > 0,
			    "%s has no TTL", key);
			/* A relay budget's day ends with it. */
			if (strncmp(key, "rl:relay:", 9) == 0)
				ck_assert_int_eq(h_reply_int(rc, "EXPIRETIME",
				    key), (atoll(strrchr(key, ':') + 1) + 1) *
				    86400);
		} else
			ck_abort_msg("unexpected Redis key %s", key);
	}
	n = r->elements;
	freeReplyObject(r);
	redisFree(rc);
	regfree(&acct);
	regfree(&rl);
	return (n);
}

/* Assert s does not occur in the log text of path. */
static void
log_lacks(const char *path, const char *log, const char *s,
    const char *what)
{
	ck_assert_msg(strstr(log, s) == NULL, "%s contains %s %s", path,
	    what, s);
}

/* The log at path names no number a test sent (with or without its +),
 * no start of such a number's ID (either case), and none of the strings
 * of also (NULL-terminated, or NULL). */
void
h_check_log_private(const char *path, const char *const *also)
{
	const char	*n;
	char		*log, *why = NULL, hex[2 * ID_LEN + 1];
	uint8_t		 id[ID_LEN];
	size_t		 len, i, j;

	log = file_read_small(path, 1 << 24, &len, &why);
	ck_assert_msg(log != NULL, "%s", why);
	for (i = 0; (n = h_number(i)) != NULL; i++) {
		log_lacks(path, log, n, "the number");
		log_lacks(path, log, n + 1, "the digits of");
		ck_assert_int_eq(keys_number_id(H.keys, n, id), 0);
		hex_encode(hex, id, ID_LEN);
		hex[16] = '\0';
		log_lacks(path, log, hex, "the start of the ID");
		for (j = 0; j < 16; j++)
			hex[j] = toupper((unsigned char)hex[j]);
		log_lacks(path, log, hex, "the start of the ID");
	}
	for (i = 0; also != NULL && also[i] != NULL; i++)
		log_lacks(path, log, also[i], "the private string");
	free(log);
}

/* Every trystd log in H.dir (H's and those of the tests' own trystds,
 * not Redis's) passes h_check_log_private; their count. */
size_t
h_check_logs_private(void)
{
	glob_t	 g;
	char	 pattern[PATH_MAX];
	size_t	 i, n = 0;

	snprintf(pattern, sizeof pattern, "%s/*.log", H.dir);
	if (glob(pattern, 0, NULL, &g) != 0)
		return (0);
	for (i = 0; i < g.gl_pathc; i++) {
		if (strncmp(strrchr(g.gl_pathv[i], '/') + 1, "redis", 5) == 0)
			continue;
		h_check_log_private(g.gl_pathv[i], NULL);
		n++;
	}
	globfree(&g);
	return (n);
}
