/*
 * accept.c -- the TLS listeners (listen, shared with other nodes through
 * SO_REUSEPORT, and relay_listen): the limits of PROTOCOL.md §8 checked
 * before any TLS work (per address, then in all, where the oldest
 * connection still in its handshake makes room for a new one), a pause
 * instead of a spin when out of descriptors, and the heap handed back
 * once a flood of connections has gone. Connections themselves are
 * conn.c's.
 */
#include <sys/socket.h>

#include <errno.h>
#include <fcntl.h>
#include <malloc.h>
#include <string.h>
#include <unistd.h>

#include "server.h"

#define TRIM_MIN	1024	/* a smaller peak of connections: no trim */
#define SHED_BACKLOG	16	/* pending connections closed per EMFILE */

/* Count a connection against its address; -1 if over the limit. */
static int
ip_add(struct server *srv, const uint8_t key[16])
{
	uintptr_t	 n = (uintptr_t)table_get(srv->per_ip, key);

	if ((long long)n >= srv->set.max_connections_per_ip)
		return (-1);
	table_set(srv->per_ip, key, (void *)(n + 1));
	return (0);
}

/* Forget a connection of an address. */
static void
ip_remove(struct server *srv, const uint8_t key[16])
{
	uintptr_t	 n = (uintptr_t)table_get(srv->per_ip, key);

	if (n <= 1)
		table_del(srv->per_ip, key);
	else
		table_set(srv->per_ip, key, (void *)(n - 1));
}

/* A second after a fall: hand the freed heap back to the system. */
static void
trim_now(evutil_socket_t fd, short ev, void *arg)
{
	malloc_trim(0);
}

/* Once the connections have fallen to half their peak (a flood shed, a
 * crowd gone), give the memory they held back to the system a second
 * later, when the whole fall is likely over: glibc keeps freed heap. */
static void
trim_after_peak(struct server *srv)
{
	struct timeval	 tv = { 1, 0 };

	if (srv->nconns > srv->conns_peak / 2)
		return;
	if (srv->conns_peak >= TRIM_MIN) {
		log_debug("%zu connections after a peak of %zu: trimming "
		    "the heap", srv->nconns, srv->conns_peak);
		event_base_once(srv->base, -1, EV_TIMEOUT, trim_now, NULL,
		    &tv);
	}
	srv->conns_peak = srv->nconns;
}

/* A connection was freed: its address and the count forget it. */
void
accept_gone(struct server *srv, const uint8_t key[16])
{
	ip_remove(srv, key);
	srv->nconns--;
	trim_after_peak(srv);
}

/* The server is full: end the oldest connection still in its handshake,
 * those that have sent nothing first. -1 when none is. */
static int
shed_one(struct server *srv)
{
	struct conn	*c;

	if ((c = TAILQ_FIRST(&srv->waiting)) == NULL &&
	    (c = TAILQ_FIRST(&srv->handshaking)) == NULL)
		return (-1);
	conn_kill(c, "shed for a new connection");
	return (0);
}

/* A TCP connection arrived on either listener: limits first, before any
 * TLS work. At max_connections a handshake in progress makes room for
 * it. */
static void
take(struct server *srv, evutil_socket_t fd, struct sockaddr *sa, int salen,
    int relay)
{
	struct conn	*c;
	uint8_t		 key[16];

	rl_addr_key(sa, key);
	if (srv->accept_warned) {
		log_notice("accepting again");
		srv->accept_warned = 0;
	}
	if (srv->stopping) {
		evutil_closesocket(fd);
		return;
	}
	if (ip_add(srv, key) != 0) {
		srv->stats.rate_limited[RL_CONNECTIONS_IP]++;
		evutil_closesocket(fd);
		return;
	}
	if ((long long)srv->nconns >= srv->set.max_connections) {
		srv->stats.rate_limited[RL_CONNECTIONS]++;
		if (shed_one(srv) != 0) {
			ip_remove(srv, key);
			evutil_closesocket(fd);
			return;
		}
	}
	c = conn_new(srv, fd, sa, (socklen_t)salen, key);
	c->relay_listener = relay;
}

/* A connection on listen. */
static void
listen_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	take(arg, fd, sa, salen, 0);
}

/* A connection on relay_listen. */
static void
relay_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	take(arg, fd, sa, salen, 1);
}

/* Out of descriptors, pending connections would wait in the backlog for
 * seconds: use the spare descriptor to take a few and close them at once,
 * so their clients hear a close now and may retry. */
static void
shed_backlog(struct server *srv, evutil_socket_t lfd)
{
	int	 i, fd;

	if (srv->spare_fd == -1)
		return;
	for (i = 0; i < SHED_BACKLOG; i++) {
		close(srv->spare_fd);
		fd = accept4(lfd, NULL, NULL, SOCK_CLOEXEC);
		if (fd != -1) {
			close(fd);
			srv->stats.rate_limited[RL_CONNECTIONS]++;
		}
		srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
		if (fd == -1 || srv->spare_fd == -1)
			break;
	}
}

/* Out of descriptors: shed what waits, pause accepting for a second. One
 * warning an episode (episodes under a minute apart count as one). */
static void
listen_error(struct evconnlistener *l, void *arg)
{
	struct server	*srv = arg;
	struct timeval	 tv = { 1, 0 };
	int		 e = EVUTIL_SOCKET_ERROR();
	uint64_t	 now = server_now();

	if (!srv->accept_warned && (srv->accept_warned_at == 0 ||
	    now - srv->accept_warned_at >= 60)) {
		log_warnx("accept: %s; pausing a second at a time until it "
		    "succeeds", evutil_socket_error_to_string(e));
		srv->accept_warned_at = now;
	}
	srv->accept_warned = 1;
	if (e == EMFILE || e == ENFILE)
		shed_backlog(srv, evconnlistener_get_fd(l));
	evconnlistener_disable(l);
	evtimer_add(srv->listen_resume, &tv);
}

/* Accept again after a pause (on whichever listener paused). */
static void
listen_resume(evutil_socket_t fd, short ev, void *arg)
{
	struct server	*srv = arg;

	if (srv->spare_fd == -1)
		srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (srv->stopping)
		return;
	evconnlistener_enable(srv->listener);
	if (srv->relay_listener != NULL)
		evconnlistener_enable(srv->relay_listener);
}

/* A listener on ss, named key and v in messages; SO_REUSEPORT if share.
 * NULL and *cause. */
static struct evconnlistener *
bind_one(struct server *srv, evconnlistener_cb cb, const char *key,
    const char *v, const struct sockaddr_storage *ss, socklen_t len,
    int share, char **cause)
{
	struct evconnlistener	*l;
	unsigned		 flags = LEV_OPT_CLOSE_ON_FREE |
	    LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC;

	if (share)
		flags |= LEV_OPT_REUSEABLE_PORT;
	l = evconnlistener_new_bind(srv->base, cb, srv, flags, 1024,
	    (const struct sockaddr *)ss, (int)len);
	if (l == NULL) {
		xasprintf(cause, "%s %s: %s", key, v, strerror(errno));
		return (NULL);
	}
	evconnlistener_set_error_cb(l, listen_error);
	return (l);
}

/*
 * Bind listen (as settings_load parsed it) with SO_REUSEPORT, so that
 * the trystds of several nodes on one host can share it, the kernel
 * spreading connections over them; and relay_listen, if set, without:
 * it is this node's own, and a second node given the same one must fail
 * to start rather than take joins meant for this one.
 */
int
accept_listen(struct server *srv, char **cause)
{
	const struct settings	*set = &srv->set;

	TAILQ_INIT(&srv->waiting);
	TAILQ_INIT(&srv->handshaking);
	srv->listener = bind_one(srv, listen_accept, "listen", set->listen,
	    &set->listen_addr, set->listen_len, 1, cause);
	if (srv->listener == NULL)
		return (-1);
	if (set->relay_len != 0) {
		srv->relay_listener = bind_one(srv, relay_accept,
		    "relay_listen", set->relay_listen, &set->relay_addr,
		    set->relay_len, 0, cause);
		if (srv->relay_listener == NULL)
			return (-1);
	}
	srv->listen_resume = evtimer_new(srv->base, listen_resume, srv);
	srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return (0);
}

/*
 * Stop accepting (shutting down): close both listeners rather than pause
 * them, as a paused socket would stay in listen's SO_REUSEPORT group and
 * the kernel would go on queueing new connections on it, unanswered
 * until this node exits, instead of handing them to the other nodes.
 */
void
accept_stop(struct server *srv)
{
	if (srv->listener != NULL)
		evconnlistener_free(srv->listener);
	if (srv->relay_listener != NULL)
		evconnlistener_free(srv->relay_listener);
	srv->listener = srv->relay_listener = NULL;
}

/* Close the listeners and what accepting holds. */
void
accept_free(struct server *srv)
{
	if (srv->listener != NULL)
		evconnlistener_free(srv->listener);
	if (srv->relay_listener != NULL)
		evconnlistener_free(srv->relay_listener);
	if (srv->listen_resume != NULL)
		event_free(srv->listen_resume);
	if (srv->spare_fd != -1)
		close(srv->spare_fd);
	srv->listener = srv->relay_listener = NULL;
	srv->listen_resume = NULL;
	srv->spare_fd = -1;
}
