/*
 * cluster.c -- a Redis Cluster behind store.c: tryst's own thin routing
 * over hiredis 0.14, which knows nothing of clusters.
 *
 * The slot map (which primary serves each of the 16384 slots) is read
 * with CLUSTER SHARDS (CLUSTER SLOTS when a node refuses that) from a
 * node that answers, the seeds of the redis setting first (clustermap.c
 * does that). Each primary gets one hiredis async context for commands,
 * probed with PING as redis.c does; a command goes to the primary of its
 * key's slot. A MOVED reply points that slot at the node named, sends the
 * command there (a copy of its argv is kept for that) and asks for a new
 * map; an ASK reply sends ASKING and the command to the node named, once,
 * with no change to the map; after 5 redirects, or on CLUSTERDOWN and
 * TRYAGAIN, the caller gets a NULL reply (UNAVAILABLE). The map is read
 * again every 10 s, at once when a primary's connection fails or a MOVED
 * comes, and then every 100 ms to 1 s (back-off) while a primary of the
 * map cannot be reached, so that a replica's promotion is seen within
 * about a second of its election.
 *
 * up() means: the map gives every slot a primary and at least one
 * primary answers. A command for a slot whose primary has no connection
 * (down, waiting for its back-off) is refused at once (-1: the caller
 * answers UNAVAILABLE); one in flight when its connection fails gets a
 * NULL reply, once, from hiredis.
 *
 * Channels are sharded (SSUBSCRIBE, SPUBLISH): pubsub.c places each on
 * the primary of its slot, asking clustermap.c who that is.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <sodium.h>

#include "server.h"
#include "cluster.h"

#define RETRY_AFTER_S	3	/* about a failover */
#define PROBE_S		1
#define ANSWER_TICKS	3	/* probes without an answer: reconnect */
#define REDIRECTS_MAX	5
#define NODES_MAX	256	/* distinct nodes a cluster may name */

/* A command on its way, with its own copy of argv for resending. */
struct creq {
	struct cluster	*cl;
	redis_cb	 cb;
	void		*arg;
	int		 redirects;
	int		 argc;
	const char	**argv;
	size_t		*argvlen;
};

/* The node host:port, made if new (NULL past NODES_MAX). */
struct cnode *
cluster_node_get(struct cluster *cl, const char *host, int port)
{
	struct cnode	*n;

	TAILQ_FOREACH(n, &cl->nodes, entry)
		if (n->port == port && strcmp(n->host, host) == 0)
			return (n);
	if (cl->nnodes >= NODES_MAX)
		return (NULL);
	n = xcalloc(1, sizeof *n);
	n->cl = cl;
	n->host = xstrdup(host);
	n->port = port;
	n->backoff_ms = BACKOFF_MIN_MS;
	TAILQ_INSERT_TAIL(&cl->nodes, n, entry);
	cl->nnodes++;
	return (n);
}

/* Log a failure of node n: a warning once an outage, then debug. Node
 * addresses only at debug. */
void
cluster_node_warn(struct cnode *n, const char *why, const char *detail)
{
	n->cl->srv->stats.redis_errors++;
	log_debug("redis cluster: %s:%d: %s: %s", n->host, n->port, why,
	    detail);
	if (!n->warned)
		log_warnx("redis cluster: a node: %s: %s", why, detail);
	n->warned = 1;
}

/* Storage is up while the map gives every slot a primary and one of the
 * primaries answers. */
void
cluster_update_up(struct cluster *cl)
{
	struct cnode	*n;
	int		 up = 0;

	if (cl->closing)
		return;
	TAILQ_FOREACH(n, &cl->nodes, entry)
		if (n->primary && n->ready)
			up = 1;
	up = up && cl->full;
	if (up && !cl->up) {
		log_notice("redis cluster: connected");
		cl->warned = 0;
		cl->up = 1;
		server_storage_up(cl->srv);
	} else if (!up && cl->up) {
		if (!cl->warned)
			log_warnx("redis cluster: no usable slot map");
		cl->warned = 1;
		cl->up = 0;
	}
}

/* n's command context is gone: no new one before the back-off, and a new
 * map if n was a primary (it may have been replaced). */
static void
node_failed(struct cnode *n)
{
	n->ac = NULL;
	n->ready = 0;
	n->asked = 0;
	n->retry_at = now_ms() + n->backoff_ms;
	n->backoff_ms = doubled(n->backoff_ms, BACKOFF_MAX_MS);
	if (n->cl->closing)
		return;
	if (n->primary)
		clustermap_refresh_at(n->cl, 0);
	cluster_update_up(n->cl);
}

/* Give up on n's command context: what is in flight gets NULL replies. */
static void
node_drop(struct cnode *n)
{
	redisAsyncContext	*ac = n->ac;

	node_failed(n);
	redisAsyncFree(ac);	/* deferred by hiredis inside a callback */
}

/* The command context connected, or failed to (hiredis frees it). */
static void
cmd_connected(const redisAsyncContext *ac, int status)
{
	struct cnode	*n = ac->data;

	if (status != REDIS_OK && n->ac == ac) {
		cluster_node_warn(n, "cannot connect", ac->errstr);
		node_failed(n);
	}
}

/* The command context went away; its callbacks got NULL replies. */
static void
cmd_disconnected(const redisAsyncContext *ac, int status)
{
	struct cnode	*n = ac->data;

	if (n->ac != ac)
		return;
	cluster_node_warn(n, "connection lost", status == REDIS_OK ? "closed" :
	    ac->errstr);
	node_failed(n);
}

/* An error reply to AUTH or PING: the context is of no use. 1 if so. */
static int
refused(struct cnode *n, redisAsyncContext *ac, redisReply *reply,
    const char *what)
{
	if (reply == NULL || reply->type != REDIS_REPLY_ERROR)
		return (0);
	if (n->ac == ac) {
		cluster_node_warn(n, what, reply->str);
		node_drop(n);
	}
	return (1);
}

/* AUTH answered. */
static void
auth_reply(redisAsyncContext *ac, void *r, void *privdata)
{
	refused(privdata, ac, r, "AUTH refused");
}

/* A PING answered: the node takes commands. */
static void
ping_reply(redisAsyncContext *ac, void *r, void *privdata)
{
	struct cnode	*n = privdata;

	if (r == NULL || ac != n->ac || n->cl->closing ||
	    refused(n, ac, r, "not ready"))
		return;
	n->asked = 0;
	if (n->ready)
		return;
	n->ready = 1;
	n->warned = 0;
	n->backoff_ms = BACKOFF_MIN_MS;
	cluster_update_up(n->cl);
}

/* n's command context, opened if it has none and its back-off is over;
 * NULL if it cannot have one now. */
redisAsyncContext *
cluster_node_ac(struct cnode *n)
{
	static const struct redisconn_cbs cbs = { .connected = cmd_connected,
		.disconnected = cmd_disconnected, .auth = auth_reply,
		.ping = ping_reply };
	struct cluster		*cl = n->cl;
	struct redisconn	 to = { .host = n->host, .port = n->port,
		.user = cl->user, .password = cl->password };
	char			 err[128];

	if (n->ac != NULL || cl->closing || now_ms() < n->retry_at)
		return (n->ac);
	n->ac = redisconn_async(cl->srv->base, &to, &cbs, n, err, sizeof err);
	if (n->ac == NULL) {
		cluster_node_warn(n, "cannot connect", err);
		node_failed(n);
		return (NULL);
	}
	n->asked = 1;		/* a connect that hangs is dropped too */
	return (n->ac);
}

/* ---- commands ---------------------------------------------------------- */

/* Copy a command into one allocation. */
static struct creq *
req_new(struct cluster *cl, redis_cb cb, void *arg, int argc,
    const char **argv, const size_t *argvlen)
{
	struct creq	*req;
	size_t		 i, total = 0, len;
	char		*p;

	for (i = 0; i < (size_t)argc; i++)
		total += (argvlen != NULL ? argvlen[i] : strlen(argv[i])) + 1;
	req = xmalloc(sizeof *req + argc * (sizeof *req->argv +
	    sizeof *req->argvlen) + total);
	req->cl = cl;
	req->cb = cb;
	req->arg = arg;
	req->redirects = 0;
	req->argc = argc;
	req->argv = (const char **)(req + 1);
	req->argvlen = (size_t *)(req->argv + argc);
	p = (char *)(req->argvlen + argc);
	for (i = 0; i < (size_t)argc; i++) {
		len = argvlen != NULL ? argvlen[i] : strlen(argv[i]);
		memcpy(p, argv[i], len);
		p[len] = '\0';
		req->argv[i] = p;
		req->argvlen[i] = len;
		p += len + 1;
	}
	return (req);
}

/* Hand a reply (NULL: none will come) on; req is freed. */
static void
req_done(struct creq *req, redisReply *reply)
{
	if (req->cb != NULL)
		req->cb(reply, req->arg);
	free(req);
}

static void	 req_reply(redisAsyncContext *, void *, void *);

/* Send req to n, after ASKING when asking. 0, or -1: nothing sent. */
static int
req_send(struct cnode *n, struct creq *req, int asking)
{
	redisAsyncContext	*ac;

	if ((ac = cluster_node_ac(n)) == NULL)
		return (-1);
	if (asking && redisAsyncCommand(ac, NULL, NULL, "ASKING") !=
	    REDIS_OK)
		return (-1);
	return (redisAsyncCommandArgv(ac, req_reply, req, req->argc,
	    req->argv, req->argvlen) == REDIS_OK ? 0 : -1);
}

/* 1 if an error reply starts with word. */
static int
error_is(const redisReply *reply, const char *word)
{
	size_t	 n = strlen(word);

	return (reply->len >= n && memcmp(reply->str, word, n) == 0 &&
	    (reply->len == n || reply->str[n] == ' '));
}

/* An error reply to req from the node of ac: 1 if it was a redirect and
 * req went on, 0 if it is the command's own error, -1 if the caller gets
 * NULL (too many redirects, the cluster down, the target unreachable). */
static int
follow(struct creq *req, redisAsyncContext *ac, const redisReply *reply)
{
	struct cluster	*cl = req->cl;
	struct cnode	*from = ac->data, *to;
	char		*host;
	unsigned	 slot;
	int		 ask, port;

	if (slot_redirect(reply->str, reply->len, &ask, &slot, &host,
	    &port) != 0) {
		if (!error_is(reply, "CLUSTERDOWN") &&
		    !error_is(reply, "TRYAGAIN"))
			return (0);
		clustermap_refresh_at(cl, 0);
		return (-1);
	}
	to = cluster_node_get(cl, *host != '\0' ? host : from->host, port);
	log_debug("redis cluster: %s slot %u to %s:%d", ask ? "ASK" : "MOVED",
	    slot, *host != '\0' ? host : from->host, port);
	free(host);
	cl->srv->stats.redis_redirects++;
	if (++req->redirects > REDIRECTS_MAX || to == NULL) {
		log_warnx("redis cluster: a command was redirected too often");
		return (-1);
	}
	if (!ask) {
		cl->slot[slot] = to;
		clustermap_refresh_at(cl, 0);
	}
	return (req_send(to, req, ask) == 0 ? 1 : -1);
}

/* hiredis callback of a command: follow redirects, or hand it on. */
static void
req_reply(redisAsyncContext *ac, void *r, void *privdata)
{
	struct creq	*req = privdata;
	redisReply	*reply = r;

	if (reply != NULL && reply->type == REDIS_REPLY_ERROR &&
	    !req->cl->closing) {
		switch (follow(req, ac, reply)) {
		case 1:
			return;
		case -1:
			reply = NULL;
			break;
		}
	}
	req_done(req, reply);
}

/* ---- the interface ----------------------------------------------------- */

/* Every PROBE_S: nodes that stopped answering are dropped (their
 * commands get NULL replies), live ones asked again, primaries that are
 * down reconnected after their back-off. */
static void
probe_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct cluster	*cl = arg;
	struct cnode	*n;

	TAILQ_FOREACH(n, &cl->nodes, entry) {
		if (n->ac != NULL && n->asked >= ANSWER_TICKS) {
			cluster_node_warn(n, "no answer", "reconnecting");
			node_drop(n);
		} else if (n->ac != NULL && n->asked > 0)
			n->asked++;
		else if (n->ac != NULL && redisAsyncCommand(n->ac, ping_reply,
		    n, "PING") == REDIS_OK)
			n->asked = 1;
		else if (n->ac == NULL && n->primary)
			cluster_node_ac(n);
	}
	pubsub_probe(cl->ps);
}

/* Free what c_open allocated (every context closed before). */
static void
free_fields(struct cluster *cl)
{
	struct cnode	*n;

	if (cl->ps != NULL)
		pubsub_free(cl->ps);
	while ((n = TAILQ_FIRST(&cl->nodes)) != NULL) {
		TAILQ_REMOVE(&cl->nodes, n, entry);
		free(n->host);
		free(n);
	}
	if (cl->password != NULL) {
		sodium_memzero(cl->password, strlen(cl->password));
		free(cl->password);
	}
	slot_map_clear(&cl->map);
	slot_addrs_free(cl->seeds, cl->nseeds);
	if (cl->refresh != NULL)
		event_free(cl->refresh);
	if (cl->probe != NULL)
		event_free(cl->probe);
	free(cl);
}

/* Start reading the map from the seeds of the redis setting. */
static void *
c_open(struct server *srv, redis_msg_cb msg_cb, void *msg_arg,
    char **cause)
{
	static const struct timeval probe_tv = { PROBE_S, 0 };
	struct cluster	*cl;
	char		*why;

	cl = xcalloc(1, sizeof *cl);
	cl->srv = srv;
	cl->user = srv->set.redis_user;
	TAILQ_INIT(&cl->nodes);
	slot_map_clear(&cl->map);
	if (slot_parse_seeds(srv->set.redis, &cl->seeds, &cl->nseeds,
	    &why) != 0) {
		xasprintf(cause, "redis: %s", why);
		free(why);
		free_fields(cl);
		return (NULL);
	}
	if (keyspace_password(&cl->srv->set, &cl->password, cause) != 0) {
		free_fields(cl);
		return (NULL);
	}
	cl->ps = pubsub_new(srv, cl->user, cl->password, msg_cb, msg_arg,
	    &clustermap_owner_ops, cl);
	cl->fail_ms = cl->degraded_ms = BACKOFF_MIN_MS;
	cl->refresh = evtimer_new(srv->base, clustermap_refresh_cb, cl);
	cl->probe = event_new(srv->base, -1, EV_PERSIST, probe_cb, cl);
	event_add(cl->probe, &probe_tv);
	clustermap_refresh_cb(-1, 0, cl);
	return (cl);
}

/* Disconnect; commands in flight get NULL replies. */
static void
c_close(void *arg)
{
	struct cluster		*cl = arg;
	struct cnode		*n;
	redisAsyncContext	*ac;

	/* Callbacks that get their NULL replies here cannot send again. */
	cl->closing = 1;
	cl->up = 0;
	TAILQ_FOREACH(n, &cl->nodes, entry) {
		if ((ac = n->ac) != NULL) {
			n->ac = NULL;
			redisAsyncFree(ac);
		}
	}
	free_fields(cl);
}

/* 1 while commands can be sent. */
static int
c_up(void *arg)
{
	return (((struct cluster *)arg)->up);
}

/* Seconds to wait while the cluster is down: about a failover. */
static uint32_t
c_retry_after(void *arg)
{
	return (RETRY_AFTER_S);
}

/* Send one command to the primary of key's slot. */
static int
c_cmd(void *arg, const char *key, redis_cb cb, void *cbarg, int argc,
    const char **argv, const size_t *argvlen)
{
	struct cluster	*cl = arg;
	struct cnode	*n;
	struct creq	*req;

	if (!cl->up || argc < 1)
		return (-1);
	n = cl->slot[slot_of(key, strlen(key))];
	if (n == NULL || cluster_node_ac(n) == NULL)
		return (-1);
	req = req_new(cl, cb, cbarg, argc, argv, argvlen);
	if (req_send(n, req, 0) != 0) {
		free(req);
		return (-1);
	}
	return (0);
}

/* Keep channel, and subscribe it on its slot's primary. */
static void
c_subscribe(void *arg, const char *channel)
{
	pubsub_subscribe(((struct cluster *)arg)->ps, channel);
}

/* Forget channel, and unsubscribe it where it is. */
static void
c_unsubscribe(void *arg, const char *channel)
{
	pubsub_unsubscribe(((struct cluster *)arg)->ps, channel);
}

/* Channels kept. */
static size_t
c_subscriptions(void *arg)
{
	return (pubsub_count(((struct cluster *)arg)->ps));
}

const struct redis_ops cluster_ops = {
	.name = "cluster",
	.publish = "SPUBLISH",
	.open = c_open,
	.close = c_close,
	.up = c_up,
	.retry_after = c_retry_after,
	.cmd = c_cmd,
	.subscribe = c_subscribe,
	.unsubscribe = c_unsubscribe,
	.subscriptions = c_subscriptions,
};
