/*
 * trystd.c -- the daemon: start-up, signals, the loop, shutdown.
 */
#include <sys/resource.h>
#include <sys/time.h>

#include <errno.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <sodium.h>

#include "server.h"

#define TICK_S	60
#define WORKERS	2	/* threads for large OPRF batches */

/* The loop. Its clock is precise: libevent's default coarse monotonic
 * clock lags the wall clock by up to a tick (4 ms), and server_now_ms()
 * reads the loop's cached time (clock.c). With epoll, changes to what a
 * descriptor waits for are gathered and made once per loop turn: a
 * request that stops and restarts reading within a turn, or a write that
 * drains at once, costs no epoll_ctl. (libevent warns that the change
 * list mixes up descriptors made by dup(); trystd makes none.) */
static struct event_base *
base_new(void)
{
	struct event_config	*cfg;
	struct event_base	*base;

	if ((cfg = event_config_new()) == NULL)
		return (NULL);
	event_config_set_flag(cfg, EVENT_BASE_FLAG_PRECISE_TIMER);
	event_config_set_flag(cfg, EVENT_BASE_FLAG_EPOLL_USE_CHANGELIST);
	base = event_base_new_with_config(cfg);
	event_config_free(cfg);
	return (base);
}

static __attribute__((noreturn)) void
usage(void)
{
	fprintf(stderr, "usage: trystd [-t] -c FILE\n");
	exit(2);
}

/* An exec: delivery program must be one trystd can run. -1 and *cause. */
static int
check_program(const struct settings *set, char **cause)
{
	const char	*prog = set->verification + 5;

	if (strncmp(set->verification, "exec:", 5) != 0 ||
	    access(prog, X_OK) == 0)
		return (0);
	xasprintf(cause, "verification: %s: %s", prog, strerror(errno));
	return (-1);
}

/* Load the configuration, the master key and the certificate. */
static int
load(struct server *srv, char **cause)
{
	uint8_t	 master[MASTER_KEY_LEN];
	char	*path;
	int	 rv;

	if (settings_load(&srv->set, srv->conf_path, cause) != 0)
		return (-1);
	log_set_level(srv->set.log_level);
	if (check_program(&srv->set, cause) != 0)
		return (-1);
	if ((path = settings_path(&srv->set, srv->set.master_key, cause)) == NULL)
		return (-1);
	rv = keys_load_master(path, master, cause);
	free(path);
	if (rv != 0)
		return (-1);
	srv->keys = keys_derive(master);
	sodium_memzero(master, sizeof master);
	if (srv->keys == NULL) {
		*cause = xstrdup("cannot derive keys");
		return (-1);
	}
	srv->credcache = credcache_new();
	srv->ssl_ctx = tls_ctx_load(&srv->set, srv->spki_hash, cause);
	return (srv->ssl_ctx == NULL ? -1 : 0);
}

/* Exit once the last connection is gone or the grace period ends. */
static void
drain_check(evutil_socket_t fd, short ev, void *arg)
{
	struct server	*srv = arg;

	if (srv->nconns == 0)
		event_base_loopexit(srv->base, NULL);
}

/* SIGTERM, SIGINT: GOAWAY shutdown to everyone, drain, exit. */
static void
on_stop(evutil_socket_t sig, short ev, void *arg)
{
	struct server	*srv = arg;
	struct timeval	 grace = { (time_t)srv->set.shutdown_grace_s, 0 };
	struct timeval	 poll = { 0, 100000 };

	if (srv->stopping) {
		event_base_loopexit(srv->base, NULL);
		return;
	}
	log_notice("shutting down (signal %d)", (int)sig);
	notify_send(srv, "STOPPING=1");
	srv->stopping = 1;
	conn_shutdown_all(srv);
	event_base_loopexit(srv->base, &grace);
	srv->drain = event_new(srv->base, -1, EV_PERSIST, drain_check, srv);
	event_add(srv->drain, &poll);
}

/* Take the reloadable settings of ns into the running set; name the
 * others that changed, which need a restart. */
static void
apply_settings(struct settings *cur, struct settings *ns)
{
	const struct conf_entry	*e;
	char			*a, *b, *tmp;
	size_t			 size;

	for (e = settings_table; e->name != NULL; e++) {
		a = (char *)cur + e->offset;
		b = (char *)ns + e->offset;
		size = e->type == CONF_STR ? sizeof(char *) :
		    e->type == CONF_LEVEL ? sizeof(int) : sizeof(long long);
		if (e->type == CONF_STR ?
		    strcmp(*(char **)a, *(char **)b) == 0 :
		    memcmp(a, b, size) == 0)
			continue;
		if (!e->reload) {
			log_warnx("reload: %s changed; it applies after a "
			    "restart", e->name);
			continue;
		}
		if (e->type == CONF_STR) {
			tmp = *(char **)a;
			*(char **)a = *(char **)b;
			*(char **)b = tmp;
		} else
			memcpy(a, b, size);
	}
}

/* Descriptors beside the connections: listeners, Redis, STUN, metrics,
 * worker pipes, delivery programs, and a margin. */
#define FD_RESERVE	64

/* Raise the soft limit on descriptors to the hard one (LimitNOFILE=), and
 * warn when max_connections cannot fit in it. */
static void
check_nofile(const struct settings *set)
{
	struct rlimit	 rl;

	if (getrlimit(RLIMIT_NOFILE, &rl) != 0)
		return;
	if (rl.rlim_cur < rl.rlim_max) {
		rl.rlim_cur = rl.rlim_max;
		setrlimit(RLIMIT_NOFILE, &rl);
		getrlimit(RLIMIT_NOFILE, &rl);
	}
	if (rl.rlim_cur != RLIM_INFINITY && (unsigned long long)
	    set->max_connections + FD_RESERVE > rl.rlim_cur)
		log_warnx("max_connections = %lld needs about %lld file "
		    "descriptors, but the limit is %llu (raise LimitNOFILE=, "
		    "or lower max_connections)", set->max_connections,
		    set->max_connections + FD_RESERVE,
		    (unsigned long long)rl.rlim_cur);
}

/* SIGHUP: reload the configuration and the certificate, or keep the old
 * ones when the new are bad. Connections stay. */
static void
on_hup(evutil_socket_t sig, short ev, void *arg)
{
	struct server	*srv = arg;
	struct settings	 ns;
	SSL_CTX		*ctx;
	uint8_t		 hash[32];
	char		*cause;

	notify_send(srv, "RELOADING=1\nMONOTONIC_USEC=%llu",
	    notify_monotonic_usec());
	if (settings_load(&ns, srv->conf_path, &cause) != 0) {
		log_errx("reload refused, old configuration kept: %s", cause);
		free(cause);
		notify_send(srv, "READY=1");
		return;
	}
	if (check_program(&ns, &cause) != 0 ||
	    (ctx = tls_ctx_load(&ns, hash, &cause)) == NULL) {
		log_errx("reload refused, old configuration kept: %s", cause);
		free(cause);
		settings_free(&ns);
		notify_send(srv, "READY=1");
		return;
	}
	apply_settings(&srv->set, &ns);
	settings_free(&ns);
	check_nofile(&srv->set);
	SSL_CTX_free(srv->ssl_ctx);	/* live connections hold their own */
	srv->ssl_ctx = ctx;
	memcpy(srv->spki_hash, hash, sizeof hash);
	/* The master key is read at start only, but a reload starts the
	 * verified credentials afresh all the same. */
	credcache_clear(srv->credcache);
	log_set_level(srv->set.log_level);
	log_notice("configuration and certificate reloaded");
	notify_send(srv, "READY=1");
}

/* SIGCHLD: delivery programs ended. */
static void
on_chld(evutil_socket_t sig, short ev, void *arg)
{
	struct server	*srv = arg;

	deliver_reap(srv->deliver);
}

/* Once a minute. */
static void
on_tick(evutil_socket_t fd, short ev, void *arg)
{
	conn_tick(arg);
}

/* Tell systemd how many are connected. */
static void
notify_status(struct server *srv)
{
	notify_send(srv, "STATUS=%zu connections, %zu online accounts, "
	    "storage %s", srv->nconns, table_count(srv->presence),
	    store_up(srv->store) ? "up" : "down");
}

/* Once a second. */
static void
on_second(evutil_socket_t fd, short ev, void *arg)
{
	struct server	*srv = arg;

	rendezvous_tick(srv);
	if (server_now() % 10 == 0)
		notify_status(srv);
}

/* The watchdog wants to hear from us. */
static void
on_watchdog(evutil_socket_t fd, short ev, void *arg)
{
	notify_send(arg, "WATCHDOG=1");
}

/* Redis answered: once listening too, the service is ready. */
void
server_storage_up(struct server *srv)
{
	if (srv->ready || srv->listener == NULL)
		return;
	srv->ready = 1;
	notify_send(srv, "READY=1");
	notify_status(srv);
}

/* Signals and the periodic tick. */
static void
setup_events(struct server *srv)
{
	struct timeval	 tick = { TICK_S, 0 }, second = { 1, 0 }, watchdog;
	unsigned long long wd;

	signal(SIGPIPE, SIG_IGN);
	srv->sigint = evsignal_new(srv->base, SIGINT, on_stop, srv);
	srv->sigterm = evsignal_new(srv->base, SIGTERM, on_stop, srv);
	srv->sighup = evsignal_new(srv->base, SIGHUP, on_hup, srv);
	srv->sigchld = evsignal_new(srv->base, SIGCHLD, on_chld, srv);
	evsignal_add(srv->sigint, NULL);
	evsignal_add(srv->sigterm, NULL);
	evsignal_add(srv->sighup, NULL);
	evsignal_add(srv->sigchld, NULL);
	srv->tick = event_new(srv->base, -1, EV_PERSIST, on_tick, srv);
	event_add(srv->tick, &tick);
	srv->second = event_new(srv->base, -1, EV_PERSIST, on_second, srv);
	event_add(srv->second, &second);
	if ((wd = notify_watchdog_usec()) != 0) {
		watchdog.tv_sec = (time_t)(wd / 1000000);
		watchdog.tv_usec = (suseconds_t)(wd % 1000000);
		srv->watchdog = event_new(srv->base, -1, EV_PERSIST,
		    on_watchdog, srv);
		event_add(srv->watchdog, &watchdog);
	}
}

/* Drop a table entry and free its value. */
static void
free_value(const uint8_t *key, void *value, void *arg)
{
	table_del(arg, key);
	free(value);
}

/* Free what the process holds, so that leak checkers see only leaks. */
static void
server_free(struct server *srv)
{
	struct conn	*c;

	while ((c = TAILQ_FIRST(&srv->conns)) != NULL) {
		TAILQ_REMOVE(&srv->conns, c, entry);
		if (c->bev != NULL)	/* none before the first bytes */
			bufferevent_free(c->bev);
		event_free(c->timer);
		free(c);
	}
	accept_free(srv);
	if (srv->tick != NULL) {
		event_free(srv->tick);
		event_free(srv->second);
		event_free(srv->sigint);
		event_free(srv->sigterm);
		event_free(srv->sighup);
		event_free(srv->sigchld);
	}
	if (srv->drain != NULL)
		event_free(srv->drain);
	if (srv->watchdog != NULL)
		event_free(srv->watchdog);
	if (srv->per_ip != NULL) {
		table_each(srv->codes_ip, free_value, srv->codes_ip);
		table_free(srv->per_ip);
		table_free(srv->codes_ip);
		table_free(srv->presence);
	}
	if (srv->base != NULL)
		event_base_free(srv->base);
	if (srv->ssl_ctx != NULL)
		SSL_CTX_free(srv->ssl_ctx);
	if (srv->keys != NULL)
		keys_free(srv->keys);
	credcache_free(srv->credcache);
	settings_free(&srv->set);
	free(srv);
}

/* Stop the services in the order that lets each finish what it holds,
 * then free the rest. */
static void
teardown(struct server *srv)
{
	metrics_stop(srv);
	stun_stop(srv);
	workers_free(srv->workers);
	rendezvous_free(srv);
	discovery_free(srv);
	deliver_free(srv->deliver);
	if (srv->store != NULL)
		store_free(srv->store);
	server_free(srv);
}

int
main(int argc, char **argv)
{
	struct server	*srv;
	char		*cause = NULL;
	int		 ch, test = 0;

	srv = xcalloc(1, sizeof *srv);
	srv->spare_fd = -1;
	while ((ch = getopt(argc, argv, "c:th")) != -1) {
		switch (ch) {
		case 'c':
			srv->conf_path = optarg;
			break;
		case 't':
			test = 1;
			break;
		default:
			usage();
		}
	}
	if (srv->conf_path == NULL || optind != argc)
		usage();
	if (sodium_init() < 0)
		fatalx("sodium_init failed");
	if (load(srv, &cause) != 0) {
		fprintf(stderr, "trystd: %s\n", cause);
		free(cause);
		server_free(srv);
		return (1);
	}
	if (test) {
		fprintf(stderr, "trystd: configuration %s is valid\n",
		    srv->conf_path);
		server_free(srv);
		return (0);
	}
	check_nofile(&srv->set);
	if (srv->set.test_accounts)
		log_warnx("test_accounts = 1: a test node, on which trystctl "
		    "mint makes accounts without codes");
	if ((srv->base = base_new()) == NULL)
		fatalx("event_base_new failed");
	if (clock_init(srv->base, &cause) != 0) {
		log_errx("%s", cause);
		free(cause);
		server_free(srv);
		return (1);
	}
	TAILQ_INIT(&srv->conns);
	srv->per_ip = table_new(16);
	srv->codes_ip = table_new(16);
	srv->presence = table_new(ID_LEN);
	srv->deliver = deliver_new(srv);
	srv->workers = workers_new(srv, WORKERS);
	rendezvous_init(srv);
	srv->stats.start_time = server_now();
	if ((srv->store = store_new(srv, &cause)) == NULL ||
	    accept_listen(srv, &cause) != 0 || stun_start(srv, &cause) != 0 ||
	    metrics_start(srv, &cause) != 0) {
		log_errx("%s", cause);
		free(cause);
		teardown(srv);
		return (1);
	}
	setup_events(srv);
	if (store_up(srv->store))
		server_storage_up(srv);
	log_notice("trystd %s listening on %s", TRYST_VERSION,
	    srv->set.listen);
	event_base_dispatch(srv->base);
	teardown(srv);
	log_notice("stopped");
	return (0);
}
