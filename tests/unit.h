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


#endif
