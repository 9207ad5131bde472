/*
 * pubsub.c -- the sharded channels of the cluster backend: each channel
 * is subscribed (SSUBSCRIBE) on the primary of its slot, through one
 * link per node, and placed again after a lost link, a new slot map, a
 * MOVED, or the "sunsubscribe" a node sends when the slot moves away
 * from it. cluster.c says who owns a slot and reads the map again when
 * asked.
 *
 * hiredis 0.14's async API knows SUBSCRIBE and PSUBSCRIBE only: it keeps
 * a callback per reply it expects and asserts when a reply comes that it
 * did not expect, which is what every "smessage" is. So a link uses
 * hiredis for the protocol only (a non-blocking redisContext: its output
 * buffer, its reader) with events of its own: every reply, expected or
 * not, is read in order here.
 */
#include <sys/socket.h>

#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <hiredis/hiredis.h>
#include <sodium.h>

#include "server.h"

#define BACKOFF_MIN_MS	100
#define BACKOFF_MAX_MS	2000
#define RESYNC_MS	100	/* channels placed again after a move */
#define RETRY_MS	500	/* ... or when some could not be placed */
#define ANSWER_TICKS	3	/* probes without an answer: reconnect */
#define LINKS_MAX	256

/* The connection to one node; kept (closed) while the node is down, for
 * its back-off. */
struct link {
	TAILQ_ENTRY(link) entry;
	struct pubsub	*ps;
	char		*host;
	int		 port;
	redisContext	*c;		/* NULL: closed */
	struct event	*rev;
	struct event	*wev;
	int		 connected;	/* connect(2) completed */
	int		 asked;		/* probe ticks a PING waits */
	int		 warned;	/* this outage was logged */
	uint64_t	 retry_at;	/* ms: not opened again before */
	int		 backoff_ms;
	size_t		 nsub;		/* channels placed on it */
};
TAILQ_HEAD(links, link);

/* A channel listened on. */
struct chan {
	char		*name;
	unsigned	 slot;
	struct link	*on;		/* SSUBSCRIBE sent there, or NULL */
};

struct pubsub {
	struct server	*srv;
	const char	*user;
	const char	*password;
	redis_msg_cb	 msg_cb;
	void		*msg_arg;
	const struct pubsub_owner *owner;
	void		*owner_arg;
	struct links	 links;
	size_t		 nlinks;
	struct table	*channels;	/* hash of name -> struct chan */
	struct event	*resync;
};

static void	 resync_at(struct pubsub *, int ms);

/* Milliseconds of a monotonic clock. */
static uint64_t
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* The link of host:port, made (closed) if new; NULL past LINKS_MAX. */
static struct link *
link_get(struct pubsub *ps, const char *host, int port)
{
	struct link	*l;

	TAILQ_FOREACH(l, &ps->links, entry)
		if (l->port == port && strcmp(l->host, host) == 0)
			return (l);
	if (ps->nlinks >= LINKS_MAX)
		return (NULL);
	l = xcalloc(1, sizeof *l);
	l->ps = ps;
	l->host = xstrdup(host);
	l->port = port;
	l->backoff_ms = BACKOFF_MIN_MS;
	TAILQ_INSERT_TAIL(&ps->links, l, entry);
	ps->nlinks++;
	return (l);
}

/* Close the socket and stop the events. */
static void
shut(struct link *l)
{
	if (l->rev != NULL)
		event_free(l->rev);
	if (l->wev != NULL)
		event_free(l->wev);
	l->rev = l->wev = NULL;
	if (l->c != NULL)
		redisFree(l->c);
	l->c = NULL;
	l->connected = 0;
	l->asked = 0;
}

/* Record where ch is subscribed. */
static void
place(struct chan *ch, struct link *l)
{
	if (ch->on != NULL)
		ch->on->nsub--;
	ch->on = l;
	if (l != NULL)
		l->nsub++;
}

/* table_each: forget that channels were placed on link arg. */
static void
unplace_link(const uint8_t *key, void *value, void *arg)
{
	struct chan	*ch = value;

	if (ch->on == arg)
		place(ch, NULL);
}

/* The link failed (connect, EOF, protocol, refusal, silence): closed,
 * its channels placed again after its back-off. Node addresses and
 * details only at debug. */
static void
link_failed(struct link *l, const char *reason)
{
	struct pubsub	*ps = l->ps;
	char		 why[128];

	/* reason may be the context's errstr, which shut frees. */
	snprintf(why, sizeof why, "%s", reason);
	shut(l);
	ps->srv->stats.redis_errors++;
	log_debug("redis cluster: %s:%d: subscriber lost: %s", l->host,
	    l->port, why);
	if (!l->warned)
		log_warnx("redis cluster: a node: subscriber lost: %s", why);
	l->warned = 1;
	table_each(ps->channels, unplace_link, l);
	resync_at(ps, l->backoff_ms);
	l->retry_at = now_ms() + l->backoff_ms;
	l->backoff_ms = l->backoff_ms * 2 > BACKOFF_MAX_MS ? BACKOFF_MAX_MS :
	    l->backoff_ms * 2;
	ps->owner->refresh(ps->owner_arg);
}

/* Ask for a write event while output waits. */
static void
want_write(struct link *l)
{
	if (l->wev != NULL && !event_pending(l->wev, EV_WRITE, NULL))
		event_add(l->wev, NULL);
}

/* Queue a command of C strings on an open link. */
static void
link_send(struct link *l, int argc, const char **argv)
{
	if (l == NULL || l->c == NULL)
		return;
	redisAppendCommandArgv(l->c, argc, argv, NULL);
	want_write(l);
}

/* Writable: the connect completed (or failed), or output can go. */
static void
write_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct link	*l = arg;
	socklen_t	 len = sizeof(int);
	int		 err = 0, done;

	if (!l->connected) {
		if (getsockopt(fd, SOL_SOCKET, SO_ERROR, &err, &len) == -1)
			err = errno;
		if (err != 0) {
			link_failed(l, strerror(err));
			return;
		}
		l->connected = 1;
		event_add(l->rev, NULL);
	}
	if (redisBufferWrite(l->c, &done) != REDIS_OK)
		link_failed(l, l->c->errstr);
	else if (done)
		event_del(l->wev);
}

/* The table key of a channel name. */
static void
chan_key(uint8_t key[crypto_generichash_BYTES], const char *name,
    size_t len)
{
	crypto_generichash(key, crypto_generichash_BYTES,
	    (const uint8_t *)name, len, NULL, 0);
}

/* A node said "sunsubscribe": our own SUNSUBSCRIBE, or the slot moved
 * away from it; then the channel is placed again. */
static void
dropped(struct link *l, const redisReply *name)
{
	struct pubsub	*ps = l->ps;
	struct chan	*ch;
	uint8_t		 key[crypto_generichash_BYTES];

	chan_key(key, name->str, name->len);
	if ((ch = table_get(ps->channels, key)) == NULL || ch->on != l)
		return;
	log_debug("redis cluster: %s:%d dropped %s", l->host, l->port,
	    ch->name);
	place(ch, NULL);
	resync_at(ps, RESYNC_MS);
	ps->owner->refresh(ps->owner_arg);
}

/* Channels of one slot (or all) placed on a link. */
struct moved {
	struct link	*l;
	unsigned	 slot;
};

/* table_each: unplace the channels of a struct moved. */
static void
unplace_moved(const uint8_t *key, void *value, void *arg)
{
	struct chan	*ch = value;
	struct moved	*m = arg;

	if (ch->on == m->l && ch->slot == m->slot)
		place(ch, NULL);
}

/* An error on a link: a MOVED (or ASK) for an SSUBSCRIBE, whose slot is
 * elsewhere, or a refusal (AUTH ...) that makes the link useless. */
static void
link_error(struct link *l, const redisReply *reply)
{
	struct pubsub	*ps = l->ps;
	struct moved	 m = { l, 0 };
	char		*host;
	int		 ask, port;

	if (slot_redirect(reply->str, reply->len, &ask, &m.slot, &host,
	    &port) != 0) {
		link_failed(l, reply->str);
		return;
	}
	ps->srv->stats.redis_redirects++;
	if (!ask)
		ps->owner->moved(ps->owner_arg, m.slot, *host != '\0' ? host :
		    l->host, port);
	free(host);
	table_each(ps->channels, unplace_moved, &m);
	resync_at(ps, RESYNC_MS);
	ps->owner->refresh(ps->owner_arg);
}

/* A reply or a pushed message on a link. */
static void
link_reply(struct link *l, const redisReply *reply)
{
	struct pubsub	*ps = l->ps;
	redisReply	**e = reply->element;

	if (reply->type == REDIS_REPLY_ERROR) {
		link_error(l, reply);
		return;
	}
	if (reply->type == REDIS_REPLY_STATUS) {	/* OK (AUTH), PONG */
		l->asked = 0;
		return;
	}
	if (reply->type != REDIS_REPLY_ARRAY || reply->elements < 2 ||
	    e[0]->type != REDIS_REPLY_STRING ||
	    e[1]->type != REDIS_REPLY_STRING)
		return;
	if (strcmp(e[0]->str, "smessage") == 0 && reply->elements == 3 &&
	    e[2]->type == REDIS_REPLY_STRING)
		ps->msg_cb(e[1]->str, e[1]->len, e[2]->str, e[2]->len,
		    ps->msg_arg);
	else if (strcmp(e[0]->str, "sunsubscribe") == 0)
		dropped(l, e[1]);
	else if (strcmp(e[0]->str, "pong") == 0 ||
	    strcmp(e[0]->str, "ssubscribe") == 0) {
		l->asked = 0;
		l->warned = 0;
		l->backoff_ms = BACKOFF_MIN_MS;
	}
}

/* Readable: every whole reply, in order. A callback may close the link
 * (it is never freed before pubsub_free). */
static void
read_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct link	*l = arg;
	void		*reply;

	if (redisBufferRead(l->c) != REDIS_OK) {
		link_failed(l, l->c->errstr);
		return;
	}
	while (l->c != NULL && l->connected) {
		if (redisGetReplyFromReader(l->c, &reply) != REDIS_OK) {
			link_failed(l, l->c->errstr);
			return;
		}
		if (reply == NULL)
			break;
		link_reply(l, reply);
		freeReplyObject(reply);
	}
}

/* Open l unless it is open or in its back-off: 0, or -1. AUTH first
 * when a password is set; close-on-exec (redisconn.c). */
static int
link_open(struct link *l)
{
	struct pubsub		*ps = l->ps;
	struct redisconn	 to = { .host = l->host, .port = l->port,
		.user = ps->user, .password = ps->password };
	redisContext		*c;

	if (l->c != NULL)
		return (0);
	if (now_ms() < l->retry_at)
		return (-1);
	l->c = c = redisconn_nonblock(&to);
	if (c->err) {
		link_failed(l, c->errstr);
		return (-1);
	}
	l->rev = event_new(ps->srv->base, c->fd, EV_READ | EV_PERSIST,
	    read_cb, l);
	l->wev = event_new(ps->srv->base, c->fd, EV_WRITE | EV_PERSIST,
	    write_cb, l);
	event_add(l->wev, NULL);
	l->asked = 1;		/* a connect that hangs is dropped too */
	return (0);
}

/* Subscribe ch on the primary of its slot if it is not there: 0, or -1
 * when that cannot be done now. */
static int
sync_chan(struct pubsub *ps, struct chan *ch)
{
	const char	*argv[] = { NULL, ch->name }, *host;
	struct link	*l;
	int		 port;

	if (ps->owner->owner(ps->owner_arg, ch->slot, &host, &port) != 0)
		l = NULL;
	else
		l = link_get(ps, host, port);
	if (ch->on == l && l != NULL && l->c != NULL)
		return (0);
	if (ch->on != NULL) {
		argv[0] = "SUNSUBSCRIBE";
		link_send(ch->on, 2, argv);
		place(ch, NULL);
	}
	if (l == NULL || link_open(l) != 0)
		return (-1);
	argv[0] = "SSUBSCRIBE";
	link_send(l, 2, argv);
	place(ch, l);
	log_debug("redis cluster: %s on %s:%d", ch->name, l->host, l->port);
	return (0);
}

/* table_each: sync one channel, counting failures. */
static void
sync_one(const uint8_t *key, void *value, void *arg)
{
	struct pubsub	*ps = arg;

	if (sync_chan(ps, value) != 0)
		resync_at(ps, RETRY_MS);
}

/* Place every channel on its slot's primary; close the links that hold
 * no channel now. */
void
pubsub_sync(struct pubsub *ps)
{
	struct link	*l;

	table_each(ps->channels, sync_one, ps);
	TAILQ_FOREACH(l, &ps->links, entry)
		if (l->c != NULL && l->nsub == 0)
			shut(l);
}

/* Resync timer. */
static void
resync_cb(evutil_socket_t fd, short ev, void *arg)
{
	pubsub_sync(arg);
}

/* Place the channels again within ms. */
static void
resync_at(struct pubsub *ps, int ms)
{
	struct timeval	 tv = { ms / 1000, (ms % 1000) * 1000 };

	if (!evtimer_pending(ps->resync, NULL))
		evtimer_add(ps->resync, &tv);
}

/* Every second: a link that stopped answering is closed, a live one is
 * asked again. */
void
pubsub_probe(struct pubsub *ps)
{
	const char	*ping[] = { "PING" };
	struct link	*l;

	TAILQ_FOREACH(l, &ps->links, entry) {
		if (l->c == NULL)
			continue;
		if (l->asked >= ANSWER_TICKS)
			link_failed(l, "no answer");
		else if (l->asked++ == 0)
			link_send(l, 1, ping);
	}
}

/* No channels, no links yet. */
struct pubsub *
pubsub_new(struct server *srv, const char *user, const char *password,
    redis_msg_cb msg_cb, void *msg_arg, const struct pubsub_owner *owner,
    void *owner_arg)
{
	struct pubsub	*ps = xcalloc(1, sizeof *ps);

	ps->srv = srv;
	ps->user = user;
	ps->password = password;
	ps->msg_cb = msg_cb;
	ps->msg_arg = msg_arg;
	ps->owner = owner;
	ps->owner_arg = owner_arg;
	TAILQ_INIT(&ps->links);
	ps->channels = table_new(crypto_generichash_BYTES);
	ps->resync = evtimer_new(srv->base, resync_cb, ps);
	return (ps);
}

/* table_each: forget a channel. */
static void
free_chan(const uint8_t *key, void *value, void *arg)
{
	struct chan	*ch = value;

	table_del(arg, key);
	free(ch->name);
	free(ch);
}

/* Close every link; no callback after this. */
void
pubsub_free(struct pubsub *ps)
{
	struct link	*l;

	while ((l = TAILQ_FIRST(&ps->links)) != NULL) {
		TAILQ_REMOVE(&ps->links, l, entry);
		shut(l);
		free(l->host);
		free(l);
	}
	table_each(ps->channels, free_chan, ps->channels);
	table_free(ps->channels);
	event_free(ps->resync);
	free(ps);
}

/* Keep channel, and subscribe it on its slot's primary. */
void
pubsub_subscribe(struct pubsub *ps, const char *channel)
{
	struct chan	*ch;
	uint8_t		 key[crypto_generichash_BYTES];
	size_t		 len = strlen(channel);

	chan_key(key, channel, len);
	if (table_get(ps->channels, key) != NULL)
		return;
	ch = xcalloc(1, sizeof *ch);
	ch->name = xstrdup(channel);
	ch->slot = slot_of(channel, len);
	table_set(ps->channels, key, ch);
	if (sync_chan(ps, ch) != 0)
		resync_at(ps, RETRY_MS);
}

/* Forget channel, and unsubscribe it where it is. */
void
pubsub_unsubscribe(struct pubsub *ps, const char *channel)
{
	const char	*argv[] = { "SUNSUBSCRIBE", channel };
	struct chan	*ch;
	uint8_t		 key[crypto_generichash_BYTES];

	chan_key(key, channel, strlen(channel));
	if ((ch = table_del(ps->channels, key)) == NULL)
		return;
	link_send(ch->on, 2, argv);
	place(ch, NULL);
	free(ch->name);
	free(ch);
}

/* Channels kept. */
size_t
pubsub_count(struct pubsub *ps)
{
	return (table_count(ps->channels));
}
