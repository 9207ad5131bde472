/*
 * store.c -- Redis, through the hiredis async API on the server's loop.
 *
 * The only code that speaks to Redis. One context carries commands, a
 * second one listens on tryst:revoke. Both reconnect by themselves with
 * back-off; while the command context is down, store_cmd refuses at once
 * so that callers can answer UNAVAILABLE.
 */
#include <fcntl.h>
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
#define PROBE_S		1	/* a PING this often while up */
#define ANSWER_TICKS	3	/* probes without an answer: reconnect */
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
	int		 up;		/* ac answered its PING */
	int		 asked;		/* probe ticks a PING of ac waits */
	int		 warned;	/* this outage was logged */
	int		 backoff_ms;
	struct event	*retry;
	struct event	*probe;
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

/* Log why Redis is not usable: a warning once an outage, then debug. */
static void
store_warn(struct store *st, const char *why, const char *detail)
{
	st->srv->stats.redis_errors++;
	if (st->warned)
		log_debug("redis: %s: %s", why, detail);
	else
		log_warnx("redis: %s: %s", why, detail);
	st->warned = 1;
}

/* Give up on one context: its pending callbacks get NULL replies, and it
 * is opened again after the back-off. */
static void
drop_context(struct store *st, redisAsyncContext *ac)
{
	if (ac == st->ac) {
		st->ac = NULL;
		st->up = 0;
		st->asked = 0;
	} else if (ac == st->sub)
		st->sub = NULL;
	else
		return;
	redisAsyncFree(ac);	/* deferred by hiredis inside a callback */
	schedule_retry(st);
}

/* The command context connected, or failed to. Usable once it answers
 * its first PING (an AUTH that fails makes that PING fail too). */
static void
cmd_connected(const redisAsyncContext *ac, int status)
{
	struct store	*st = ac->data;

	if (status != REDIS_OK) {
		store_warn(st, "cannot connect", ac->errstr);
		st->ac = NULL;
		st->asked = 0;
		schedule_retry(st);
	}
}

/* The command context went away. Pending callbacks get NULL replies. */
static void
cmd_disconnected(const redisAsyncContext *ac, int status)
{
	struct store	*st = ac->data;

	/* REDIS_OK: our own disconnect; not worth a warning. */
	if (status != REDIS_OK && st->up)
		store_warn(st, "connection lost", ac->errstr);
	else if (status != REDIS_OK)
		st->srv->stats.redis_errors++;
	if (st->ac == ac) {
		st->up = 0;
		st->ac = NULL;
		st->asked = 0;
	}
	schedule_retry(st);
}

/* An error reply on a context that is not usable as it is. 1 if so. */
static int
refused(struct store *st, redisAsyncContext *ac, redisReply *reply,
    const char *what)
{
	if (reply == NULL || reply->type != REDIS_REPLY_ERROR)
		return (0);
	store_warn(st, what, reply->str);
	drop_context(st, ac);
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
	struct store	*st = privdata;

	if (r == NULL || ac != st->ac || refused(st, ac, r, "not ready"))
		return;
	st->asked = 0;
	if (st->up)
		return;
	log_notice("redis: connected");
	st->up = 1;
	st->warned = 0;
	st->backoff_ms = BACKOFF_MIN_MS;
	server_storage_up(st->srv);
}

/* Send a PING whose answer ping_reply takes. */
static void
ask(struct store *st)
{
	if (redisAsyncCommand(st->ac, ping_reply, st, "PING") == REDIS_OK)
		st->asked = 1;
}

/* Every PROBE_S: a Redis that stopped answering is dropped (its requests
 * get UNAVAILABLE), a live one is asked again. */
static void
probe_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct store	*st = arg;

	if (st->ac == NULL)
		return;
	if (st->asked >= ANSWER_TICKS) {
		store_warn(st, "no answer", "reconnecting");
		if (st->sub != NULL)
			drop_context(st, st->sub);
		drop_context(st, st->ac);
	} else if (st->asked > 0)
		st->asked++;
	else if (st->up)
		ask(st);
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

	if (refused(st, ac, reply, "cannot subscribe") || reply == NULL ||
	    reply->type != REDIS_REPLY_ARRAY || reply->elements != 3)
		return;
	if (reply->element[0]->type != REDIS_REPLY_STRING ||
	    strcmp(reply->element[0]->str, "message") != 0 ||
	    reply->element[2]->type != REDIS_REPLY_STRING)
		return;
	revoke_message(st, reply->element[2]->str, reply->element[2]->len);
}

/* The subscriber answered its PING: now it may listen. */
static void
sub_ping_reply(redisAsyncContext *ac, void *r, void *privdata)
{
	struct store	*st = privdata;

	if (r == NULL || ac != st->sub || refused(st, ac, r, "not ready"))
		return;
	redisAsyncCommand(ac, sub_reply, st, "SUBSCRIBE " REVOKE_CHANNEL);
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

	if (st->sub == ac)
		st->sub = NULL;
	schedule_retry(st);
}

/* Open one context and attach it to the loop; its AUTH (when a password
 * is set) and the PING that tells it is usable are queued at once. */
static redisAsyncContext *
open_context(struct store *st, redisConnectCallback *conn_cb,
    redisDisconnectCallback *disc_cb, redisCallbackFn *ping_cb)
{
	redisAsyncContext	*ac;

	if (st->path != NULL)
		ac = redisAsyncConnectUnix(st->path);
	else
		ac = redisAsyncConnect(st->host, st->port);
	if (ac == NULL)
		fatalx("redisAsyncConnect: out of memory");
	if (ac->err) {
		store_warn(st, "cannot connect", ac->errstr);
		redisAsyncFree(ac);
		schedule_retry(st);
		return (NULL);
	}
	/* hiredis opens its sockets without SOCK_CLOEXEC: a program trystd
	 * starts must not inherit an authenticated connection. */
	if (fcntl(ac->c.fd, F_SETFD, FD_CLOEXEC) == -1)
		fatal("fcntl FD_CLOEXEC");
	ac->data = st;
	redisLibeventAttach(ac, st->srv->base);
	redisAsyncSetConnectCallback(ac, conn_cb);
	redisAsyncSetDisconnectCallback(ac, disc_cb);
	if (st->password != NULL && *st->user != '\0')
		redisAsyncCommand(ac, auth_reply, st, "AUTH %s %s", st->user,
		    st->password);
	else if (st->password != NULL)
		redisAsyncCommand(ac, auth_reply, st, "AUTH %s", st->password);
	redisAsyncCommand(ac, ping_cb, st, "PING");
	return (ac);
}

/* (Re)connect whatever context is down. */
static void
connect_all(struct store *st)
{
	if (st->ac == NULL && (st->ac = open_context(st, cmd_connected,
	    cmd_disconnected, ping_reply)) != NULL)
		st->asked = 1;
	if (st->sub == NULL)
		st->sub = open_context(st, sub_connected, sub_disconnected,
		    sub_ping_reply);
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
	static const struct timeval probe_tv = { PROBE_S, 0 };
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
	st->probe = event_new(srv->base, -1, EV_PERSIST, probe_cb, st);
	event_add(st->probe, &probe_tv);
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
	event_free(st->probe);
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
