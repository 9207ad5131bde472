/*
 * accept.c -- the TLS listener: the limits of PROTOCOL.md §8 checked
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

/* A TCP connection arrived: limits first, before any TLS work. At
 * max_connections a handshake in progress makes room for it. */
static void
listen_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct server	*srv = arg;
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
	conn_new(srv, fd, sa, (socklen_t)salen, key);
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

/* Accept again after a pause. */
static void
listen_resume(evutil_socket_t fd, short ev, void *arg)
{
	struct server	*srv = arg;

	if (srv->spare_fd == -1)
		srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	if (!srv->stopping)
		evconnlistener_enable(srv->listener);
}

/* Bind the TLS listener (on listen as settings_load parsed it). */
int
accept_listen(struct server *srv, char **cause)
{
	TAILQ_INIT(&srv->waiting);
	TAILQ_INIT(&srv->handshaking);
	srv->listener = evconnlistener_new_bind(srv->base, listen_accept, srv,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    1024, (struct sockaddr *)&srv->set.listen_addr,
	    (int)srv->set.listen_len);
	if (srv->listener == NULL) {
		xasprintf(cause, "listen %s: %s", srv->set.listen,
		    strerror(errno));
		return (-1);
	}
	evconnlistener_set_error_cb(srv->listener, listen_error);
	srv->listen_resume = evtimer_new(srv->base, listen_resume, srv);
	srv->spare_fd = open("/dev/null", O_RDONLY | O_CLOEXEC);
	return (0);
}
