/*
 * integ-cluster.h -- what integ-cluster.c's test cluster offers the other
 * files of test-cluster: its folder, its password (in pwfile), its ports
 * (client ports base..base+5) and blocking commands to its nodes.
 */
#ifndef INTEG_CLUSTER_H
#define INTEG_CLUSTER_H

#include <check.h>
#include <hiredis/hiredis.h>

#define PASSWORD	"cluster-test-password"

extern char	 dir[64];
extern char	 pwfile[128];
extern int	 base;

/* A connection to the node at port, authenticated; fatal if none. */
redisContext	*node_connect(int port);
/* A reply of the node at port (caller frees); fatal if none. */
redisReply	*node_cmd(int port, const char *fmt, ...);
/* The client port of the primary of slot s now. */
int		 owner_of(unsigned s);

/* integ-ctl.c: trystctl against the cluster; after_failover: the test
 * after the SIGKILL of a primary, which must be skipped. */
void		 ctl_tests(TCase *, int after_failover);

#endif
