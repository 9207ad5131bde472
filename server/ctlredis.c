/*
 * ctlredis.c -- trystctl's synchronous Redis: the configured standalone
 * Redis, or a Redis Cluster (redis = cluster:...), where a command on a
 * key is sent to a seed and follows MOVED and ASK to the node serving the
 * key's slot, and a walk over "every node" reads the nodes from CLUSTER
 * NODES. trystctl runs outside the daemon's loop, so blocking is fine.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <sodium.h>

#include "server.h"

#define REDIRECTS_MAX	5
#define LINKS_MAX	64

/* One open connection, by address. */
struct link {
	char		*host;		/* NULL for a Unix socket */
	char		*path;
	int		 port;
	redisContext	*rc;
};

struct ctlredis {
	const struct settings *set;
	char		*password;	/* NULL: no AUTH */
	int		 cluster;
	struct slot_addr *seeds;
	size_t		 nseeds;
	struct link	 links[LINKS_MAX];
	size_t		 nlinks;
};

/* The link to host:port (or path), connected and authenticated now or
 * before: NULL and *cause if it cannot be. */
static redisContext *
link_get(struct ctlredis *c, const char *host, int port, const char *path,
    char **cause)
{
	struct timeval	 tv = { 5, 0 };
	struct link	*l;
	redisContext	*rc;
	redisReply	*r;
	size_t		 i;

	for (i = 0; i < c->nlinks; i++) {
		l = &c->links[i];
		if (path != NULL ? l->path != NULL &&
		    strcmp(l->path, path) == 0 : l->host != NULL &&
		    l->port == port && strcmp(l->host, host) == 0)
			return (l->rc);
	}
	if (c->nlinks == LINKS_MAX) {
		*cause = xstrdup("redis: too many nodes");
		return (NULL);
	}
	rc = path != NULL ? redisConnectUnixWithTimeout(path, tv) :
	    redisConnectWithTimeout(host, port, tv);
	if (rc == NULL || rc->err) {
		xasprintf(cause, "redis %s:%d: %s", path != NULL ? path : host,
		    port, rc != NULL ? rc->errstr : "no memory");
		redisFree(rc);
		return (NULL);
	}
	if (c->password != NULL) {
		r = *c->set->redis_user != '\0' ? redisCommand(rc, "AUTH %s %s",
		    c->set->redis_user, c->password) :
		    redisCommand(rc, "AUTH %s", c->password);
		if (r == NULL || r->type == REDIS_REPLY_ERROR) {
			xasprintf(cause, "redis %s:%d: AUTH failed",
			    path != NULL ? path : host, port);
			freeReplyObject(r);
			redisFree(rc);
			return (NULL);
		}
		freeReplyObject(r);
	}
	l = &c->links[c->nlinks++];
	l->host = host != NULL ? xstrdup(host) : NULL;
	l->path = path != NULL ? xstrdup(path) : NULL;
	l->port = port;
	l->rc = rc;
	return (rc);
}

/* The first seed (or the standalone Redis) that answers. */
static redisContext *
link_any(struct ctlredis *c, char **cause)
{
	redisContext	*rc;
	char		*host, *path, *why = NULL;
	int		 port;
	size_t		 i;

	if (!c->cluster) {
		if (keyspace_redis_parse(c->set->redis, &host, &port, &path,
		    &why) != 0) {
			xasprintf(cause, "redis: %s", why);
			free(why);
			return (NULL);
		}
		rc = link_get(c, host, port, path, cause);
		free(host);
		free(path);
		return (rc);
	}
	for (i = 0; i < c->nseeds; i++) {
		free(why);
		why = NULL;
		rc = link_get(c, c->seeds[i].host, c->seeds[i].port, NULL,
		    &why);
		if (rc != NULL) {
			free(why);
			return (rc);
		}
	}
	xasprintf(cause, "no seed node answers (last: %s)", why);
	free(why);
	return (NULL);
}

struct ctlredis *
ctlredis_open(const struct settings *set, char **cause)
{
	struct ctlredis	*c = xcalloc(1, sizeof *c);
	char		*why;

	c->set = set;
	c->cluster = slot_is_cluster(set->redis);
	if (c->cluster && slot_parse_seeds(set->redis, &c->seeds, &c->nseeds,
	    &why) != 0) {
		xasprintf(cause, "redis: %s", why);
		free(why);
		ctlredis_close(c);
		return (NULL);
	}
	if (keyspace_password(set, &c->password, cause) != 0 ||
	    link_any(c, cause) == NULL) {
		ctlredis_close(c);
		return (NULL);
	}
	return (c);
}

void
ctlredis_close(struct ctlredis *c)
{
	size_t	 i;

	if (c == NULL)
		return;
	for (i = 0; i < c->nlinks; i++) {
		redisFree(c->links[i].rc);
		free(c->links[i].host);
		free(c->links[i].path);
	}
	if (c->password != NULL) {
		sodium_memzero(c->password, strlen(c->password));
		free(c->password);
	}
	slot_addrs_free(c->seeds, c->nseeds);
	free(c);
}

const char *
ctlredis_publish(const struct ctlredis *c)
{
	return (c->cluster ? "SPUBLISH" : "PUBLISH");
}

/* A command on one key's slot, redirected as the cluster says. */
redisReply *
ctlredis_vcommand(struct ctlredis *c, char **cause, const char *fmt,
    va_list ap)
{
	redisContext	*rc;
	redisReply	*r;
	va_list		 aq;
	unsigned	 slot;
	char		*host;
	int		 ask = 0, port, tries;

	if ((rc = link_any(c, cause)) == NULL)
		return (NULL);
	for (tries = 0;; tries++) {
		if (ask && (r = redisCommand(rc, "ASKING")) != NULL)
			freeReplyObject(r);
		va_copy(aq, ap);
		r = redisvCommand(rc, fmt, aq);
		va_end(aq);
		if (r == NULL) {
			xasprintf(cause, "redis: %s", rc->errstr);
			break;
		}
		if (!c->cluster || r->type != REDIS_REPLY_ERROR ||
		    slot_redirect(r->str, r->len, &ask, &slot, &host,
		    &port) != 0)
			break;
		if (tries == REDIRECTS_MAX) {
			xasprintf(cause, "redis: still redirected after %d "
			    "tries (%s)", REDIRECTS_MAX, r->str);
			free(host);
			freeReplyObject(r);
			r = NULL;
			break;
		}
		freeReplyObject(r);
		r = NULL;
		/* An empty host: the node that answered, at that port. */
		rc = link_get(c, *host != '\0' ? host : rc->tcp.host, port,
		    NULL, cause);
		free(host);
		if (rc == NULL)
			break;
	}
	return (r);
}

/* Every node (cluster) or the Redis (standalone), for fn. */
int
ctlredis_each(struct ctlredis *c, int replicas, ctlredis_node_fn fn,
    void *arg, char **cause)
{
	struct slot_node *nodes;
	redisContext	*rc;
	redisReply	*r;
	size_t		 n, i;
	char		 name[300], *why;
	int		 rv = 0;

	if ((rc = link_any(c, cause)) == NULL)
		return (-1);
	if (!c->cluster)
		return (fn(rc, c->set->redis, NULL, arg));
	if ((r = redisCommand(rc, "CLUSTER NODES")) == NULL ||
	    r->type != REDIS_REPLY_STRING) {
		xasprintf(cause, "redis: CLUSTER NODES: %s", r == NULL ?
		    rc->errstr : r->type == REDIS_REPLY_ERROR ? r->str :
		    "not a string");
		freeReplyObject(r);
		return (-1);
	}
	if (slot_nodes_parse(r->str, r->len, rc->tcp.host, &nodes, &n,
	    &why) != 0) {
		xasprintf(cause, "redis: %s", why);
		free(why);
		freeReplyObject(r);
		return (-1);
	}
	freeReplyObject(r);
	for (i = 0; i < n; i++) {
		if (!nodes[i].primary && !replicas)
			continue;
		/* A primary that failed and lost its slots is no node of
		 * the cluster now; one that still serves slots is. */
		if (!nodes[i].up && !nodes[i].slots)
			continue;
		snprintf(name, sizeof name, "%s:%d (%s)", nodes[i].host,
		    nodes[i].port, nodes[i].primary ? "primary" : "replica");
		why = NULL;
		rc = nodes[i].up ? link_get(c, nodes[i].host, nodes[i].port,
		    NULL, &why) : NULL;
		if (rc == NULL && why == NULL)
			why = xstrdup("marked failed by the cluster");
		if (fn(rc, name, why, arg) != 0)
			rv = -1;
		free(why);
	}
	slot_nodes_free(nodes, n);
	if (rv != 0)
		*cause = xstrdup("not every node answered");
	return (rv);
}
