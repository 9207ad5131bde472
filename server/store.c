/*
 * store.c -- Redis, through the hiredis async API on the server's loop.
 *
 * The only code that speaks to Redis. One context carries commands, a
 * second one listens on tryst:revoke. Both reconnect by themselves with
 * back-off; while the command context is down, store_cmd refuses at once
 * so that callers can answer UNAVAILABLE.
 */
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>
#include <sodium.h>

#include "server.h"

#define BACKOFF_MIN_MS	100
#define BACKOFF_MAX_MS	2000
#define RETRY_AFTER_S	5
#define REVOKE_CHANNEL	"tryst:revoke"

struct store {
	struct server	*srv;
	char		*host;
	int		 port;
	char		*path;
	char		*user;
	char		*password;

	redisAsyncContext *ac;		/* commands */
	redisAsyncContext *sub;		/* tryst:revoke */
	int		 up;
	int		 backoff_ms;
	struct event	*retry;
	int		 closing;
};

struct pending {
	struct store	*st;
	store_cb	 cb;
	void		*arg;
};

static void	connect_all(struct store *);

/* Try again later, a little later each time. */
static void
schedule_retry(struct store *st)
{
	struct timeval	 tv;

	if (st->closing || evtimer_pending(st->retry, NULL))
		return;
	tv.tv_sec = st->backoff_ms / 1000;
	tv.tv_usec = (st->backoff_ms % 1000) * 1000;
	evtimer_add(st->retry, &tv);
	st->backoff_ms *= 2;
	if (st->backoff_ms > BACKOFF_MAX_MS)
		st->backoff_ms = BACKOFF_MAX_MS;
}

/* The command context connected, or failed to. */
static void
cmd_connected(const redisAsyncContext *ac, int status)
{
	struct store	*st = ac->data;

	if (status != REDIS_OK) {
		st->srv->stats.redis_errors++;
		log_warnx("redis: cannot connect: %s", ac->errstr);
		st->ac = NULL;
		schedule_retry(st);
		return;
	}
	log_notice("redis: connected");
	st->up = 1;
	st->backoff_ms = BACKOFF_MIN_MS;
	server_storage_up(st->srv);
}

/* The command context went away. Pending callbacks get NULL replies. */
static void
cmd_disconnected(const redisAsyncContext *ac, int status)
{
	struct store	*st = ac->data;

	/* REDIS_OK: our own disconnect, at shutdown; not worth a warning. */
	if (status != REDIS_OK && st->up)
		log_warnx("redis: connection lost");
	if (status != REDIS_OK)
		st->srv->stats.redis_errors++;
	st->up = 0;
	st->ac = NULL;
	schedule_retry(st);
}

/* Parse "HEXID" or "HEXID:MAXCREATED" from tryst:revoke and act on it:
 * connections of that ID whose account is not newer than MAXCREATED close
 * (a re-registration must not close the connections it makes itself). */
static void
revoke_message(struct store *st, const char *s, size_t len)
{
	uint8_t		 id[ID_LEN];
	char		 hex[2 * ID_LEN + 1], *end;
	unsigned long long max = UINT64_MAX;

	if (len < 2 * ID_LEN)
		return;
	memcpy(hex, s, 2 * ID_LEN);
	hex[2 * ID_LEN] = '\0';
	if (hex_decode(id, sizeof id, hex) != 0)
		return;
	if (len > 2 * ID_LEN + 1 && s[2 * ID_LEN] == ':') {
		max = strtoull(s + 2 * ID_LEN + 1, &end, 10);
		if (end != s + len)
			return;
	} else if (len != 2 * ID_LEN)
		return;
	auth_revoke_local(st->srv, id, (uint64_t)max);
}

/* A message on the subscriber context. */
static void
sub_reply(redisAsyncContext *ac, void *r, void *privdata)
{
	struct store	*st = privdata;
	redisReply	*reply = r;

	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != 3)
		return;
	if (reply->element[0]->type != REDIS_REPLY_STRING ||
	    strcmp(reply->element[0]->str, "message") != 0 ||
	    reply->element[2]->type != REDIS_REPLY_STRING)
		return;
	revoke_message(st, reply->element[2]->str, reply->element[2]->len);
}

/* The subscriber connected, or failed to. */
static void
sub_connected(const redisAsyncContext *ac, int status)
{
	struct store	*st = ac->data;

	if (status != REDIS_OK) {
		st->sub = NULL;
		schedule_retry(st);
	}
}

/* The subscriber went away. */
static void
sub_disconnected(const redisAsyncContext *ac, int status)
{
	struct store	*st = ac->data;

	st->sub = NULL;
	schedule_retry(st);
}

/* Open one context, authenticate it, and attach it to the loop. */
static redisAsyncContext *
open_context(struct store *st, redisConnectCallback *conn_cb,
    redisDisconnectCallback *disc_cb)
{
	redisAsyncContext	*ac;

	if (st->path != NULL)
		ac = redisAsyncConnectUnix(st->path);
	else
		ac = redisAsyncConnect(st->host, st->port);
	if (ac == NULL)
		fatalx("redisAsyncConnect: out of memory");
	if (ac->err) {
		log_warnx("redis: %s", ac->errstr);
		redisAsyncFree(ac);
		return (NULL);
	}
	ac->data = st;
	redisLibeventAttach(ac, st->srv->base);
	redisAsyncSetConnectCallback(ac, conn_cb);
	redisAsyncSetDisconnectCallback(ac, disc_cb);
	if (st->password != NULL && *st->user != '\0')
		redisAsyncCommand(ac, NULL, NULL, "AUTH %s %s", st->user,
		    st->password);
	else if (st->password != NULL)
		redisAsyncCommand(ac, NULL, NULL, "AUTH %s", st->password);
	return (ac);
}

/* (Re)connect whatever context is down. */
static void
connect_all(struct store *st)
{
	if (st->ac == NULL) {
		st->ac = open_context(st, cmd_connected, cmd_disconnected);
		if (st->ac == NULL)
			schedule_retry(st);
	}
	if (st->sub == NULL) {
		st->sub = open_context(st, sub_connected, sub_disconnected);
		if (st->sub == NULL)
			schedule_retry(st);
		else
			redisAsyncCommand(st->sub, sub_reply, st,
			    "SUBSCRIBE " REVOKE_CHANNEL);
	}
}

/* Reconnect timer. */
static void
retry_cb(evutil_socket_t fd, short ev, void *arg)
{
	connect_all(arg);
}

/* Read the Redis password, if one is configured. */
static int
load_password(struct store *st, char **cause)
{
	char		*file, *pw;
	size_t		 len;

	if (*st->srv->set.redis_password_file == '\0')
		return (0);
	if ((file = settings_path(&st->srv->set,
	    st->srv->set.redis_password_file,
	    cause)) == NULL)
		return (-1);
	pw = file_read_small(file, 1024, &len, cause);
	free(file);
	if (pw == NULL)
		return (-1);
	while (len > 0 && (pw[len - 1] == '\n' || pw[len - 1] == '\r'))
		pw[--len] = '\0';
	st->password = pw;
	return (0);
}

/* Start connecting to Redis. */
struct store *
store_new(struct server *srv, char **cause)
{
	struct store	*st;

	st = xcalloc(1, sizeof *st);
	st->srv = srv;
	st->user = srv->set.redis_user;
	if (keyspace_redis_addr(srv->set.redis, &st->host, &st->port,
	    &st->path) != 0) {
		xasprintf(cause, "redis: cannot parse \"%s\" (want HOST:PORT "
		    "or unix:PATH)", srv->set.redis);
		free(st);
		return (NULL);
	}
	if (load_password(st, cause) != 0) {
		free(st->host);
		free(st->path);
		free(st);
		return (NULL);
	}
	st->backoff_ms = BACKOFF_MIN_MS;
	st->retry = evtimer_new(srv->base, retry_cb, st);
	connect_all(st);
	return (st);
}

/* Disconnect; pending callbacks get NULL replies. */
void
store_free(struct store *st)
{
	st->closing = 1;
	if (st->ac != NULL)
		redisAsyncFree(st->ac);
	if (st->sub != NULL)
		redisAsyncFree(st->sub);
	event_free(st->retry);
	if (st->password != NULL) {
		sodium_memzero(st->password, strlen(st->password));
		free(st->password);
	}
	free(st->host);
	free(st->path);
	free(st);
}

/* 1 while commands can be sent. */
int
store_up(struct store *st)
{
	return (st->up && st->ac != NULL);
}

/* Seconds to wait while Redis is down. */
uint32_t
store_retry_after(struct store *st)
{
	return (RETRY_AFTER_S);
}

/* hiredis callback: hand the reply on. */
static void
pending_reply(redisAsyncContext *ac, void *reply, void *privdata)
{
	struct pending	*p = privdata;

	if (p->cb != NULL)
		p->cb(p->st->srv, reply, p->arg);
	free(p);
}

/* What a command's reply goes to. */
static struct pending *
pending_new(struct store *st, store_cb cb, void *arg)
{
	struct pending	*p;

	p = xmalloc(sizeof *p);
	p->st = st;
	p->cb = cb;
	p->arg = arg;
	return (p);
}

/* Send one command in argv form. */
int
store_cmd(struct store *st, store_cb cb, void *arg, int argc,
    const char **argv, const size_t *argvlen)
{
	struct pending	*p;

	if (!store_up(st))
		return (-1);
	p = pending_new(st, cb, arg);
	if (redisAsyncCommandArgv(st->ac, pending_reply, p, argc, argv,
	    argvlen) != REDIS_OK) {
		free(p);
		return (-1);
	}
	return (0);
}

/* Send one command in printf form. */
int
store_cmdf(struct store *st, store_cb cb, void *arg, const char *fmt, ...)
{
	struct pending	*p;
	va_list		 ap;
	int		 rv;

	if (!store_up(st))
		return (-1);
	p = pending_new(st, cb, arg);
	va_start(ap, fmt);
	rv = redisvAsyncCommand(st->ac, pending_reply, p, fmt, ap);
	va_end(ap);
	if (rv != REDIS_OK) {
		free(p);
		return (-1);
	}
	return (0);
}

/* Tell every node to close the ID's connections of created <= max. */
void
store_publish_revoke(struct store *st, const uint8_t id[ID_LEN],
    uint64_t max_created)
{
	char	 hex[2 * ID_LEN + 1];

	hex_encode(hex, id, ID_LEN);
	store_cmdf(st, NULL, NULL, "PUBLISH " REVOKE_CHANNEL " %s:%llu", hex,
	    (unsigned long long)max_created);
}
