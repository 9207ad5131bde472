/*
 * clustermap.c -- the slot map of the Redis Cluster backend: which
 * primary serves each slot, read with CLUSTER SHARDS (CLUSTER SLOTS when
 * a node refuses that) from a node that answers, installed as cluster.c's
 * routing, and read again every REFRESH_MS, at once when asked, and with
 * back-off while it fails or a primary is down (see cluster.c). pubsub.c
 * asks it who serves a channel's slot.
 */
#include <stdlib.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>

#include "server.h"
#include "cluster.h"

/* 1 while a primary of the map has no connection, or a slot none. */
static int
degraded(struct cluster *cl)
{
	struct cnode	*n;

	if (!cl->full)
		return (1);
	TAILQ_FOREACH(n, &cl->nodes, entry)
		if (n->primary && n->ac == NULL)
			return (1);
	return (0);
}

/* Make cl->map the routing: primaries connected, channels placed. */
static void
install(struct cluster *cl)
{
	struct cnode	*n, **idx;
	size_t		 i;

	idx = xcalloc(cl->map.nnodes + 1, sizeof *idx);
	TAILQ_FOREACH(n, &cl->nodes, entry)
		n->primary = 0;
	for (i = 0; i < cl->map.nnodes; i++)
		if ((idx[i] = cluster_node_get(cl, cl->map.nodes[i].host,
		    cl->map.nodes[i].port)) != NULL)
			idx[i]->primary = 1;
	for (i = 0; i < SLOT_COUNT; i++)
		cl->slot[i] = cl->map.owner[i] == SLOT_NONE ? NULL :
		    idx[cl->map.owner[i]];
	free(idx);
	cl->full = 1;
	for (i = 0; i < SLOT_COUNT && cl->full; i++)
		cl->full = cl->slot[i] != NULL;
	cl->srv->stats.redis_refreshes++;
	log_debug("redis cluster: slot map of %zu primaries%s",
	    cl->map.nnodes, cl->full ? "" : ", some slots without one");
	TAILQ_FOREACH(n, &cl->nodes, entry)
		if (n->primary)
			cluster_node_ac(n);
	pubsub_sync(cl->ps);
	cluster_update_up(cl);
}

/* A map read ended: the next one after a back-off when it failed or a
 * primary is down, else after REFRESH_MS. */
static void
refresh_done(struct cluster *cl, int ok)
{
	cl->refreshing = 0;
	if (cl->closing)
		return;
	if (!ok) {
		clustermap_refresh_at(cl, cl->fail_ms);
		cl->fail_ms = doubled(cl->fail_ms, BACKOFF_MAX_MS);
		return;
	}
	cl->fail_ms = BACKOFF_MIN_MS;
	if (degraded(cl)) {
		clustermap_refresh_at(cl, cl->degraded_ms);
		cl->degraded_ms = doubled(cl->degraded_ms, DEGRADED_MAX_MS);
	} else {
		cl->degraded_ms = BACKOFF_MIN_MS;
		clustermap_refresh_at(cl, REFRESH_MS);
	}
}

static void	 map_reply(redisAsyncContext *, void *, void *);

/* Ask n for the map: CLUSTER SHARDS, or SLOTS. 0, or -1. */
static int
map_ask(struct cluster *cl, struct cnode *n, int slots)
{
	redisAsyncContext	*ac;

	if ((ac = cluster_node_ac(n)) == NULL || redisAsyncCommand(ac,
	    map_reply, cl, slots ? "CLUSTER SLOTS" : "CLUSTER SHARDS") !=
	    REDIS_OK)
		return (-1);
	cl->refreshing = 1;
	cl->asked = n;
	cl->asked_slots = slots;
	return (0);
}

/* The map came, or an error, or nothing (the node went away). */
static void
map_reply(redisAsyncContext *ac, void *r, void *privdata)
{
	struct cluster	*cl = privdata;
	redisReply	*reply = r;
	char		*why = NULL;
	int		 rc;

	if (cl->closing)
		return;
	cl->refreshing = 0;
	if (reply == NULL) {
		refresh_done(cl, 0);
		return;
	}
	if (reply->type == REDIS_REPLY_ERROR) {
		/* Before Redis 7 there is no CLUSTER SHARDS. */
		if (cl->asked_slots || map_ask(cl, cl->asked, 1) != 0) {
			cluster_node_warn(cl->asked, "cannot read the slot map",
			    reply->str);
			refresh_done(cl, 0);
		}
		return;
	}
	if (cl->asked_slots)
		rc = slot_map_slots(&cl->map, reply, cl->asked->host, &why);
	else
		rc = slot_map_shards(&cl->map, reply, cl->asked->host, &why);
	if (rc != 0) {
		cluster_node_warn(cl->asked, "bad slot map", why);
		free(why);
		refresh_done(cl, 0);
		return;
	}
	if (cl->asked_slots)
		cl->use_slots = 1;
	install(cl);
	refresh_done(cl, 1);
}

/* The node to ask for the map: one that answers (the one after the last
 * asked, so that a node with a wrong view is not asked forever), else
 * the next seed, else any known node that can be connected. */
static struct cnode *
map_source(struct cluster *cl)
{
	struct cnode	*n, *start;
	size_t		 i;

	start = cl->asked != NULL ? TAILQ_NEXT(cl->asked, entry) : NULL;
	if (start == NULL)
		start = TAILQ_FIRST(&cl->nodes);
	for (n = start; n != NULL; n = TAILQ_NEXT(n, entry))
		if (n->ready)
			return (n);
	TAILQ_FOREACH(n, &cl->nodes, entry) {
		if (n == start)
			break;
		if (n->ready)
			return (n);
	}
	for (i = 0; i < cl->nseeds; i++) {
		n = cluster_node_get(cl, cl->seeds[cl->seed_next].host,
		    cl->seeds[cl->seed_next].port);
		cl->seed_next = (cl->seed_next + 1) % cl->nseeds;
		if (n != NULL && cluster_node_ac(n) != NULL)
			return (n);
	}
	TAILQ_FOREACH(n, &cl->nodes, entry)
		if (cluster_node_ac(n) != NULL)
			return (n);
	return (NULL);
}

/* Refresh timer: read the map unless a read is under way. */
void
clustermap_refresh_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct cluster	*cl = arg;
	struct cnode	*n;

	if (cl->refreshing)
		return;
	if ((n = map_source(cl)) == NULL ||
	    map_ask(cl, n, cl->use_slots) != 0)
		refresh_done(cl, 0);
}

/* Read the map within ms, or sooner if that is already due. */
void
clustermap_refresh_at(struct cluster *cl, int ms)
{
	struct timeval	 tv;
	uint64_t	 due = now_ms() + ms;

	if (cl->closing || (evtimer_pending(cl->refresh, NULL) &&
	    cl->refresh_due <= due))
		return;
	cl->refresh_due = due;
	tv.tv_sec = ms / 1000;
	tv.tv_usec = (ms % 1000) * 1000;
	evtimer_add(cl->refresh, &tv);
}

/* ---- what pubsub.c asks ------------------------------------------------ */

/* The primary of slot. */
static int
ps_owner(void *arg, unsigned slot, const char **host, int *port)
{
	struct cnode	*n = ((struct cluster *)arg)->slot[slot];

	if (n == NULL)
		return (-1);
	*host = n->host;
	*port = n->port;
	return (0);
}

/* A MOVED for an SSUBSCRIBE. */
static void
ps_moved(void *arg, unsigned slot, const char *host, int port)
{
	struct cluster	*cl = arg;
	struct cnode	*n;

	if ((n = cluster_node_get(cl, host, port)) != NULL)
		cl->slot[slot] = n;
}

/* A link failed or a slot moved. */
static void
ps_refresh(void *arg)
{
	clustermap_refresh_at(arg, 0);
}

const struct pubsub_owner clustermap_owner_ops = {
	.owner = ps_owner,
	.moved = ps_moved,
	.refresh = ps_refresh,
};
