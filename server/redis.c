/*
 * redis.c -- the connection to a standalone Redis, through the hiredis
 * async API on the server's loop.
 *
 * One context carries commands, a second one listens on the pub/sub
 * channels store.c asks for (SUBSCRIBE; they are kept, and subscribed
 * again after a reconnection). Both reconnect by themselves with
 * back-off; while the command context is down, commands are refused at
 * once so that callers can answer UNAVAILABLE. This is redis_ops, the
 * standalone backend of store.c: what the commands mean and what their
 * replies say is store.c's business.
 */
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <sodium.h>

#include "server.h"

#define BACKOFF_MIN_MS	100
#define BACKOFF_MAX_MS	2000
#define RETRY_AFTER_S	5
#define PROBE_S		1	/* a PING this often while up */
#define ANSWER_TICKS	3	/* probes without an answer: reconnect */

struct redis {
	struct server	*srv;
	char		*host;
	int		 port;
	char		*path;
	char		*user;
	char		*password;
	struct table	*channels;	/* hash of name -> name */
	redis_msg_cb	 msg_cb;
	void		*msg_arg;

	redisAsyncContext *ac;		/* commands */
	redisAsyncContext *sub;		/* the channel */
	int		 up;		/* ac answered its PING */
	int		 sub_ready;	/* sub answered its PING */
	int		 asked;		/* probe ticks a PING of ac waits */
	int		 warned;	/* this outage was logged */
	int		 backoff_ms;
	struct event	*retry;
	struct event	*probe;
	int		 closing;
};

/* Where a command's reply goes. */
struct pending {
	redis_cb	 cb;
	void		*arg;
};

/* Try again later, a little later each time. */
static void
schedule_retry(struct redis *rd)
{
	struct timeval	 tv;

	if (rd->closing || evtimer_pending(rd->retry, NULL))
		return;
	tv.tv_sec = rd->backoff_ms / 1000;
	tv.tv_usec = (rd->backoff_ms % 1000) * 1000;
	evtimer_add(rd->retry, &tv);
	rd->backoff_ms *= 2;
	if (rd->backoff_ms > BACKOFF_MAX_MS)
		rd->backoff_ms = BACKOFF_MAX_MS;
}

/* Log why Redis is not usable: a warning once an outage, then debug. */
static void
redis_warn(struct redis *rd, const char *why, const char *detail)
{
	rd->srv->stats.redis_errors++;
	if (rd->warned)
		log_debug("redis: %s: %s", why, detail);
	else
		log_warnx("redis: %s: %s", why, detail);
	rd->warned = 1;
}

/* Give up on one context: its pending callbacks get NULL replies, and it
 * is opened again after the back-off. */
static void
drop_context(struct redis *rd, redisAsyncContext *ac)
{
	if (ac == rd->ac) {
		rd->ac = NULL;
		rd->up = 0;
		rd->asked = 0;
	} else if (ac == rd->sub) {
		rd->sub = NULL;
		rd->sub_ready = 0;
	} else
		return;
	redisAsyncFree(ac);	/* deferred by hiredis inside a callback */
	schedule_retry(rd);
}

/* The command context connected, or failed to. Usable once it answers
 * its first PING (an AUTH that fails makes that PING fail too). */
static void
cmd_connected(const redisAsyncContext *ac, int status)
{
	struct redis	*rd = ac->data;

	if (status != REDIS_OK) {
		redis_warn(rd, "cannot connect", ac->errstr);
		rd->ac = NULL;
		rd->asked = 0;
		schedule_retry(rd);
	}
}

/* The command context went away. Pending callbacks get NULL replies. */
static void
cmd_disconnected(const redisAsyncContext *ac, int status)
{
	struct redis	*rd = ac->data;

	/* REDIS_OK: our own disconnect; not worth a warning. */
	if (status != REDIS_OK && rd->up)
		redis_warn(rd, "connection lost", ac->errstr);
	else if (status != REDIS_OK)
		rd->srv->stats.redis_errors++;
	if (rd->ac == ac) {
		rd->up = 0;
		rd->ac = NULL;
		rd->asked = 0;
	}
	schedule_retry(rd);
}

/* An error reply on a context that is not usable as it is. 1 if so. */
static int
refused(struct redis *rd, redisAsyncContext *ac, redisReply *reply,
    const char *what)
{
	if (reply == NULL || reply->type != REDIS_REPLY_ERROR)
		return (0);
	redis_warn(rd, what, reply->str);
	drop_context(rd, ac);
	return (1);
}

/* AUTH answered: a refusal is worth its own message. */
static void
auth_reply(redisAsyncContext *ac, void *r, void *privdata)
{
	refused(privdata, ac, r, "AUTH refused");
}

/* A PING of the command context answered: storage is up. */
static void
ping_reply(redisAsyncContext *ac, void *r, void *privdata)
{
	struct redis	*rd = privdata;

	if (r == NULL || ac != rd->ac || refused(rd, ac, r, "not ready"))
		return;
	rd->asked = 0;
	if (rd->up)
		return;
	log_notice("redis: connected");
	rd->up = 1;
	rd->warned = 0;
	rd->backoff_ms = BACKOFF_MIN_MS;
	server_storage_up(rd->srv);
}

/* Every PROBE_S: a Redis that stopped answering is dropped (its requests
 * get UNAVAILABLE), a live one is asked again. */
static void
probe_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct redis	*rd = arg;

	if (rd->ac == NULL)
		return;
	if (rd->asked >= ANSWER_TICKS) {
		redis_warn(rd, "no answer", "reconnecting");
		if (rd->sub != NULL)
			drop_context(rd, rd->sub);
		drop_context(rd, rd->ac);
	} else if (rd->asked > 0)
		rd->asked++;
	else if (rd->up && redisAsyncCommand(rd->ac, ping_reply, rd,
	    "PING") == REDIS_OK)
		rd->asked = 1;
}

/* A message on the subscriber context: hand its payload on. */
static void
sub_reply(redisAsyncContext *ac, void *r, void *privdata)
{
	struct redis	*rd = privdata;
	redisReply	*reply = r;

	if (refused(rd, ac, reply, "cannot subscribe") || reply == NULL ||
	    reply->type != REDIS_REPLY_ARRAY || reply->elements != 3)
		return;
	if (reply->element[0]->type != REDIS_REPLY_STRING ||
	    strcmp(reply->element[0]->str, "message") != 0 ||
	    reply->element[1]->type != REDIS_REPLY_STRING ||
	    reply->element[2]->type != REDIS_REPLY_STRING)
		return;
	rd->msg_cb(reply->element[1]->str, reply->element[1]->len,
	    reply->element[2]->str, reply->element[2]->len, rd->msg_arg);
}

/* SUBSCRIBE or UNSUBSCRIBE one channel on a ready subscriber. */
static void
sub_send(struct redis *rd, const char *cmd, const char *channel)
{
	if (rd->sub != NULL && rd->sub_ready)
		redisAsyncCommand(rd->sub, sub_reply, rd, "%s %s", cmd,
		    channel);
}

/* table_each: subscribe one kept channel. */
static void
sub_again(const uint8_t *key, void *value, void *arg)
{
	sub_send(arg, "SUBSCRIBE", value);
}

/* The subscriber answered its PING: now it listens on every channel. */
static void
sub_ping_reply(redisAsyncContext *ac, void *r, void *privdata)
{
	struct redis	*rd = privdata;

	if (r == NULL || ac != rd->sub || refused(rd, ac, r, "not ready"))
		return;
	rd->sub_ready = 1;
	table_each(rd->channels, sub_again, rd);
}

/* The subscriber connected, or failed to. */
static void
sub_connected(const redisAsyncContext *ac, int status)
{
	struct redis	*rd = ac->data;

	if (status != REDIS_OK) {
		rd->sub = NULL;
		rd->sub_ready = 0;
		schedule_retry(rd);
	}
}

/* The subscriber went away. */
static void
sub_disconnected(const redisAsyncContext *ac, int status)
{
	struct redis	*rd = ac->data;

	if (rd->sub == ac) {
		rd->sub = NULL;
		rd->sub_ready = 0;
	}
	schedule_retry(rd);
}

/* Open one context and attach it to the loop; its AUTH (when a password
 * is set) and the PING that tells it is usable are queued at once. */
static redisAsyncContext *
open_context(struct redis *rd, const struct redisconn_cbs *cbs)
{
	struct redisconn	 to = { .host = rd->host, .port = rd->port,
		.path = rd->path, .user = rd->user, .password = rd->password };
	redisAsyncContext	*ac;
	char			 err[128];

	ac = redisconn_async(rd->srv->base, &to, cbs, rd, err, sizeof err);
	if (ac == NULL) {
		redis_warn(rd, "cannot connect", err);
		schedule_retry(rd);
	}
	return (ac);
}

/* (Re)connect whatever context is down. */
static void
connect_all(struct redis *rd)
{
	static const struct redisconn_cbs cmd = { .connected = cmd_connected,
		.disconnected = cmd_disconnected, .auth = auth_reply,
		.ping = ping_reply };
	static const struct redisconn_cbs sub = { .connected = sub_connected,
		.disconnected = sub_disconnected, .auth = auth_reply,
		.ping = sub_ping_reply };

	if (rd->ac == NULL && (rd->ac = open_context(rd, &cmd)) != NULL)
		rd->asked = 1;
	if (rd->sub == NULL)
		rd->sub = open_context(rd, &sub);
}

/* Reconnect timer. */
static void
retry_cb(evutil_socket_t fd, short ev, void *arg)
{
	connect_all(arg);
}

/* table_each: forget a kept channel. */
static void
free_channel(const uint8_t *key, void *value, void *arg)
{
	table_del(arg, key);
	free(value);
}

/* Free what r_open allocated. */
static void
free_fields(struct redis *rd)
{
	if (rd->password != NULL) {
		sodium_memzero(rd->password, strlen(rd->password));
		free(rd->password);
	}
	table_each(rd->channels, free_channel, rd->channels);
	table_free(rd->channels);
	free(rd->host);
	free(rd->path);
	free(rd);
}

/* Start connecting to the Redis of the settings. */
static void *
r_open(struct server *srv, redis_msg_cb msg_cb, void *msg_arg, char **cause)
{
	static const struct timeval probe_tv = { PROBE_S, 0 };
	struct redis	*rd;

	rd = xcalloc(1, sizeof *rd);
	rd->srv = srv;
	rd->user = srv->set.redis_user;
	rd->channels = table_new(crypto_generichash_BYTES);
	rd->msg_cb = msg_cb;
	rd->msg_arg = msg_arg;
	if (keyspace_redis_addr(srv->set.redis, &rd->host, &rd->port,
	    &rd->path) != 0) {
		xasprintf(cause, "redis: cannot parse \"%s\" (want HOST:PORT "
		    "or unix:PATH)", srv->set.redis);
		free_fields(rd);
		return (NULL);
	}
	if (keyspace_password(&rd->srv->set, &rd->password, cause) != 0) {
		free_fields(rd);
		return (NULL);
	}
	rd->backoff_ms = BACKOFF_MIN_MS;
	rd->retry = evtimer_new(srv->base, retry_cb, rd);
	rd->probe = event_new(srv->base, -1, EV_PERSIST, probe_cb, rd);
	event_add(rd->probe, &probe_tv);
	connect_all(rd);
	return (rd);
}

/* Disconnect; pending callbacks get NULL replies. */
static void
r_close(void *arg)
{
	struct redis	*rd = arg;

	rd->closing = 1;
	if (rd->ac != NULL)
		redisAsyncFree(rd->ac);
	if (rd->sub != NULL)
		redisAsyncFree(rd->sub);
	event_free(rd->retry);
	event_free(rd->probe);
	free_fields(rd);
}

/* 1 while commands can be sent. */
static int
r_up(void *arg)
{
	struct redis	*rd = arg;

	return (rd->up && rd->ac != NULL);
}

/* Seconds to wait while Redis is down. */
static uint32_t
r_retry_after(void *arg)
{
	return (RETRY_AFTER_S);
}

/* hiredis callback: hand the reply on. */
static void
pending_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct pending	*p = privdata;

	if (p->cb != NULL)
		p->cb(reply, p->arg);
	free(p);
}

/* Send one command in argv form (one server: the key does not matter). */
static int
r_cmd(void *arg, const char *key, redis_cb cb, void *cbarg, int argc,
    const char **argv, const size_t *argvlen)
{
	struct redis	*rd = arg;
	struct pending	*p;

	if (!r_up(rd))
		return (-1);
	p = xmalloc(sizeof *p);
	p->cb = cb;
	p->arg = cbarg;
	if (redisAsyncCommandArgv(rd->ac, pending_reply, p, argc, argv,
	    argvlen) != REDIS_OK) {
		free(p);
		return (-1);
	}
	return (0);
}

/* The table key of a channel name. */
static void
channel_key(uint8_t key[crypto_generichash_BYTES], const char *channel)
{
	crypto_generichash(key, crypto_generichash_BYTES,
	    (const uint8_t *)channel, strlen(channel), NULL, 0);
}

/* Keep channel, and listen on it now if the subscriber is ready. */
static void
r_subscribe(void *arg, const char *channel)
{
	struct redis	*rd = arg;
	uint8_t		 key[crypto_generichash_BYTES];

	channel_key(key, channel);
	if (table_get(rd->channels, key) != NULL)
		return;
	table_set(rd->channels, key, xstrdup(channel));
	sub_send(rd, "SUBSCRIBE", channel);
}

/* Forget channel, and stop listening on it. */
static void
r_unsubscribe(void *arg, const char *channel)
{
	struct redis	*rd = arg;
	uint8_t		 key[crypto_generichash_BYTES];
	char		*kept;

	channel_key(key, channel);
	if ((kept = table_get(rd->channels, key)) == NULL)
		return;
	table_del(rd->channels, key);
	free(kept);
	sub_send(rd, "UNSUBSCRIBE", channel);
}

/* Channels kept. */
static size_t
r_subscriptions(void *arg)
{
	struct redis	*rd = arg;

	return (table_count(rd->channels));
}

const struct redis_ops redis_ops = {
	.name = "redis",
	.publish = "PUBLISH",
	.open = r_open,
	.close = r_close,
	.up = r_up,
	.retry_after = r_retry_after,
	.cmd = r_cmd,
	.subscribe = r_subscribe,
	.unsubscribe = r_unsubscribe,
	.subscriptions = r_subscriptions,
};
