/*
 * redisconn.c -- opening a connection to Redis as every backend does:
 * close-on-exec, and AUTH before anything else when a password is set.
 * redis.c and cluster.c open hiredis async contexts on the loop here;
 * pubsub.c's links, non-blocking contexts with events of their own, too.
 */
#include <fcntl.h>
#include <stdio.h>

#include <hiredis/hiredis.h>
#include <hiredis/async.h>
#include <hiredis/adapters/libevent.h>

#include "server.h"

/*
 * hiredis opens its sockets without SOCK_CLOEXEC: a program trystd starts
 * (the gateway) must not inherit an authenticated connection.
 */
static void
cloexec(int fd)
{
	if (fcntl(fd, F_SETFD, FD_CLOEXEC) == -1)
		fatal("fcntl FD_CLOEXEC");
}

/* The AUTH command of to into argv: its argc, or 0 without a password. */
static int
auth_argv(const struct redisconn *to, const char *argv[3])
{
	if (to->password == NULL)
		return (0);
	argv[0] = "AUTH";
	if (*to->user == '\0') {
		argv[1] = to->password;
		return (2);
	}
	argv[1] = to->user;
	argv[2] = to->password;
	return (3);
}

/* An async context to to, attached to base, its AUTH and a PING queued. */
redisAsyncContext *
redisconn_async(struct event_base *base, const struct redisconn *to,
    const struct redisconn_cbs *cbs, void *data, char *err, size_t errlen)
{
	redisAsyncContext	*ac;
	const char		*argv[3];
	int			 argc;

	if (to->path != NULL)
		ac = redisAsyncConnectUnix(to->path);
	else
		ac = redisAsyncConnect(to->host, to->port);
	if (ac == NULL)
		fatalx("redisAsyncConnect: out of memory");
	if (ac->err) {
		snprintf(err, errlen, "%s", ac->errstr);
		redisAsyncFree(ac);
		return (NULL);
	}
	cloexec(ac->c.fd);
	ac->data = data;
	redisLibeventAttach(ac, base);
	redisAsyncSetConnectCallback(ac, cbs->connected);
	redisAsyncSetDisconnectCallback(ac, cbs->disconnected);
	if ((argc = auth_argv(to, argv)) != 0)
		redisAsyncCommandArgv(ac, cbs->auth, data, argc, argv, NULL);
	redisAsyncCommand(ac, cbs->ping, data, "PING");
	return (ac);
}

/* A non-blocking context to to's host:port with its AUTH queued. */
redisContext *
redisconn_nonblock(const struct redisconn *to)
{
	redisContext	*c;
	const char	*argv[3];
	int		 argc;

	if ((c = redisConnectNonBlock(to->host, to->port)) == NULL)
		fatalx("redisConnectNonBlock: out of memory");
	if (c->err)
		return (c);
	cloexec(c->fd);
	if ((argc = auth_argv(to, argv)) != 0)
		redisAppendCommandArgv(c, argc, argv, NULL);
	return (c);
}
