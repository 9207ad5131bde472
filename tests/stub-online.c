/*
 * stub-online.c -- the control connection of run.c (online_*, which no
 * program has any more) and the renewal of its port mapping (portmap.c),
 * for programs that drive run_handle without either: test-session and
 * fuzz-session. Only run_session uses these; reaching one is a bug.
 */
#include <stdlib.h>

#include "client.h"

/* Stub: run_session's control connection, which run_handle never uses. */
void
online_pump(struct online *o)
{
	(void)o;
	abort();
}

/* Stub: see online_pump. */
void
online_say_gone(const struct online *o)
{
	(void)o;
	abort();
}

/* Stub: see online_pump. */
int
online_wait_ms(const struct online *o)
{
	(void)o;
	abort();
}

/* Stub: see online_pump. */
int
online_send(struct online *o, const struct msg *m)
{
	(void)o, (void)m;
	abort();
}

/* Stub: see online_pump. */
void
portmap_tick(struct portmap *pm)
{
	(void)pm;
	abort();
}
