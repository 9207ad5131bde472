/*
 * unit.h -- what Check unit tests share: running a suite, and the
 * temporary files and written defaults of the configuration tests.
 */
#ifndef TRYST_UNIT_H
#define TRYST_UNIT_H

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "common.h"

/* Run a suite; the exit status of the test program. */
static inline int
unit_run(Suite *s)
{
	SRunner	*sr = srunner_create(s);
	int	 failed;

	srunner_run_all(sr, CK_NORMAL);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	return (failed ? 1 : 0);
}

/* Write text to a new temporary file; caller unlinks and frees. */
static inline char *
unit_temp_file(const char *text)
{
	char	*path, *cause = NULL;
	int	 fd;

	path = xstrdup("/tmp/tryst-unit.XXXXXX");
	ck_assert_int_ne(fd = mkstemp(path), -1);
	close(fd);
	ck_assert_int_eq(file_write_atomic(path, text, strlen(text), 0600, 0,
	    &cause), 0);
	return (path);
}

/* What conf_write_default prints for table; caller frees. */
static inline char *
unit_written(const struct conf_entry *table, size_t *len)
{
	char	*buf = NULL;
	FILE	*f;

	ck_assert_ptr_nonnull(f = open_memstream(&buf, len));
	conf_write_default(table, f);
	ck_assert_int_eq(fclose(f), 0);
	return (buf);
}

/*
 * Redis replies built by hand, as hiredis would make them (free with
 * freeReplyObject), for the tests that include <hiredis/hiredis.h> before
 * this file: the others need no hiredis.
 */
#ifdef REDIS_REPLY_STRING
#include <stdarg.h>

/* An empty reply of a type (NIL, or one to fill in). */
static inline redisReply *
unit_reply(int type)
{
	redisReply	*r = calloc(1, sizeof *r);

	ck_assert_ptr_nonnull(r);
	r->type = type;
	return (r);
}

/* An integer reply. */
static inline redisReply *
unit_reply_int(long long v)
{
	redisReply	*r = unit_reply(REDIS_REPLY_INTEGER);

	r->integer = v;
	return (r);
}

/* A string, status or error reply. */
static inline redisReply *
unit_reply_text(int type, const char *s)
{
	redisReply	*r = unit_reply(type);

	r->str = strdup(s);
	ck_assert_ptr_nonnull(r->str);
	r->len = strlen(s);
	return (r);
}

/* A string reply. */
static inline redisReply *
unit_reply_str(const char *s)
{
	return (unit_reply_text(REDIS_REPLY_STRING, s));
}

/* An array of n replies, which it owns. */
static inline redisReply *
unit_reply_arr(size_t n, ...)
{
	redisReply	*r = unit_reply(REDIS_REPLY_ARRAY);
	va_list		 ap;
	size_t		 i;

	r->elements = n;
	r->element = calloc(n + 1, sizeof *r->element);
	ck_assert_ptr_nonnull(r->element);
	va_start(ap, n);
	for (i = 0; i < n; i++)
		r->element[i] = va_arg(ap, redisReply *);
	va_end(ap);
	return (r);
}
#endif /* REDIS_REPLY_STRING */


#endif
