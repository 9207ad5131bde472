/*
 * cluster.h -- what the two halves of the Redis Cluster backend share:
 * cluster.c (nodes, commands, cluster_ops) and clustermap.c (the slot
 * map, read and installed). No other file includes it.
 */
#ifndef TRYST_CLUSTER_H
#define TRYST_CLUSTER_H

#include <time.h>

#define BACKOFF_MIN_MS	100
#define BACKOFF_MAX_MS	2000
#define DEGRADED_MAX_MS	1000	/* map reads while a primary is down */
#define REFRESH_MS	10000	/* map reads otherwise */

/* One node, primary or not; kept until close, so that late hiredis
 * callbacks always find it. */
struct cnode {
	TAILQ_ENTRY(cnode) entry;
	struct cluster	*cl;
	char		*host;
	int		 port;
	int		 primary;	/* serves slots in the map */
	int		 warned;	/* this outage was logged */

	struct redisAsyncContext *ac;	/* commands; NULL while down */
	int		 ready;		/* ac answered its PING */
	int		 asked;		/* probe ticks a PING waits */
	uint64_t	 retry_at;	/* ms: no new ac before */
	int		 backoff_ms;
};
TAILQ_HEAD(cnodes, cnode);

/* The backend: cluster_ops's state. */
struct cluster {
	struct server	*srv;
	const char	*user;
	char		*password;
	struct slot_addr *seeds;
	size_t		 nseeds;
	size_t		 seed_next;
	struct cnodes	 nodes;
	size_t		 nnodes;
	struct cnode	*slot[SLOT_COUNT];	/* primaries, or NULL */
	struct slotmap	 map;			/* the last one read */
	int		 full;		/* every slot has a primary */
	int		 up;
	int		 warned;

	int		 refreshing;	/* a map request in flight */
	int		 asked_slots;	/* it is CLUSTER SLOTS */
	int		 use_slots;	/* CLUSTER SHARDS was refused */
	struct cnode	*asked;		/* the node it went to */
	int		 fail_ms;	/* back-off of failed map reads */
	int		 degraded_ms;	/* back-off while a primary is down */
	uint64_t	 refresh_due;
	struct event	*refresh;
	struct event	*probe;
	struct pubsub	*ps;		/* the channels */
	int		 closing;
};

/* Milliseconds of a monotonic clock. */
static inline uint64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Double a back-off, up to max. */
static inline int
doubled(int ms, int max)
{
	return (ms * 2 > max ? max : ms * 2);
}

/* ---- cluster.c: the nodes ---- */

/* The node host:port, made if new (NULL past NODES_MAX). */
struct cnode	*cluster_node_get(struct cluster *, const char *host,
		    int port);
/* n's command context, opened if it has none and its back-off is over;
 * NULL if it cannot have one now. */
struct redisAsyncContext *cluster_node_ac(struct cnode *n);
/* Log a failure of node n: a warning once an outage, then debug. */
void		 cluster_node_warn(struct cnode *n, const char *why,
		    const char *detail);
/* Storage is up while the map gives every slot a primary and one of the
 * primaries answers: tell the server when that changes. */
void		 cluster_update_up(struct cluster *);

/* ---- clustermap.c: the slot map ---- */

/* What pubsub.c asks of the map (its owner_arg: the cluster). */
extern const struct pubsub_owner clustermap_owner_ops;
/* The refresh timer (arg: the cluster): read the map unless a read is
 * under way. Called once by hand to read the first map. */
void		 clustermap_refresh_cb(evutil_socket_t, short, void *arg);
/* Read the map within ms, or sooner if that is already due. */
void		 clustermap_refresh_at(struct cluster *, int ms);

#endif
