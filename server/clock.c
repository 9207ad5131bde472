/*
 * clock.c -- the server's clock. Handlers read the wall clock through
 * server_now() and server_now_ms(), which answer the time libevent read
 * at the start of the current pass of the loop (as Redis reads
 * server.unixtime once per pass): every handler of one pass sees the same
 * time, and reading it costs no system call.
 *
 * Tests move it: TRYST_CLOCK_SHIFT_S in trystd's environment (signed
 * seconds, at most a year either way) is added to every reading, so that
 * a test can start a trystd a few seconds before a UTC hour or day ends,
 * or in the middle of one, instead of sleeping until the wall clock gets
 * there. trystd warns at start when it is set; nothing else changes.
 */
#include <errno.h>
#include <stdlib.h>
#include <time.h>

#include "server.h"

#define SHIFT_MAX_S	(366LL * 86400)

/* The one clock of the process: the loop it reads, and the test shift. */
static struct {
	struct event_base *base;
	int64_t		 shift_ms;
} clk;

/* Parse a shift: signed decimal seconds within a year. -1 if bad. */
int
clock_parse_shift(const char *s, long long *secs)
{
	char		*end;
	long long	 v;

	if (s == NULL || *s == '\0')
		return (-1);
	errno = 0;
	v = strtoll(s, &end, 10);
	if (errno != 0 || *end != '\0' || v < -SHIFT_MAX_S || v > SHIFT_MAX_S)
		return (-1);
	*secs = v;
	return (0);
}

/* Read time from base's pass from now on; shift it as the environment
 * says. -1 and *cause when TRYST_CLOCK_SHIFT_S is set but not valid. */
int
clock_init(struct event_base *base, char **cause)
{
	const char	*env = getenv("TRYST_CLOCK_SHIFT_S");
	long long	 secs = 0;

	clk.base = base;
	clk.shift_ms = 0;
	if (env == NULL)
		return (0);
	if (clock_parse_shift(env, &secs) != 0) {
		xasprintf(cause, "TRYST_CLOCK_SHIFT_S: not a number of seconds "
		    "within a year: %s", env);
		return (-1);
	}
	clk.shift_ms = (int64_t)secs * 1000;
	if (secs != 0)
		log_warnx("clock shifted by %lld s (TRYST_CLOCK_SHIFT_S): for "
		    "tests only", secs);
	return (0);
}

/* Tests only: move the clock by ms (tests/fuzz/fuzz-server.c moves it
 * in-process instead of starting a new trystd). */
void
clock_shift_add(int64_t ms)
{
	clk.shift_ms += ms;
}

/* Wall clock, milliseconds: the time of this pass of the loop. */
uint64_t
server_now_ms(void)
{
	struct timeval	 tv;
	struct timespec	 ts;
	uint64_t	 ms;

	if (clk.base != NULL && event_base_gettimeofday_cached(clk.base,
	    &tv) == 0)
		ms = (uint64_t)tv.tv_sec * 1000 + (uint64_t)tv.tv_usec / 1000;
	else {
		clock_gettime(CLOCK_REALTIME, &ts);
		ms = (uint64_t)ts.tv_sec * 1000 +
		    (uint64_t)ts.tv_nsec / 1000000;
	}
	return ((uint64_t)((int64_t)ms + clk.shift_ms));
}

/* Wall clock, seconds. */
uint64_t
server_now(void)
{
	return (server_now_ms() / 1000);
}
