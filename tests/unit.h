/*
 * unit.h -- what every Check unit test's main shares.
 */
#ifndef TRYST_UNIT_H
#define TRYST_UNIT_H

#include <check.h>

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

#endif
