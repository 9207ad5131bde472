/*
 * metrics.c -- /metrics in the Prometheus text format and /healthz, on
 * metrics_listen (loopback unless an address is given). Counters and
 * gauges only; no label ever holds a number, an ID or an address.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#include <event2/buffer.h>
#include <event2/listener.h>

#include "server.h"

static const char *rl_names[RL_NKINDS] = {
	[RL_CODE_IP] = "codes_per_ip",
	[RL_CODE_PREFIX] = "codes_per_prefix",
	[RL_CODE_SERVER] = "codes_per_server",
	[RL_CODE_NUMBER] = "codes_per_number",
	[RL_CODE_FAILURES] = "code_failures",
	[RL_DELIVERIES] = "deliveries",
	[RL_DISCOVERY] = "discovery",
	[RL_CONNECTS] = "connects",
	[RL_CONNECTIONS] = "connections",
	[RL_CONNECTIONS_IP] = "connections_per_ip",
	[RL_RELAY_QUOTA] = "relay_session_bytes",
	[RL_RELAY_BUDGET] = "relay_account_daily_bytes",
	[RL_STUN] = "stun",
	[RL_LOOKUPS] = "lookups",
};

/* One counter family with HELP and TYPE. */
static void
family(struct evbuffer *b, const char *name, const char *type,
    const char *help)
{
	evbuffer_add_printf(b, "# HELP %s %s\n# TYPE %s %s\n", name, help,
	    name, type);
}

/* A single value. */
static void
one(struct evbuffer *b, const char *name, const char *type, const char *help,
    unsigned long long v)
{
	family(b, name, type, help);
	evbuffer_add_printf(b, "%s %llu\n", name, v);
}

/* A counter by outcome: ok, or the error's name in lower case. */
static void
outcomes(struct evbuffer *b, const char *name, const char *help,
    const unsigned long long *v)
{
	char		 lower[32];
	const char	*e;
	int		 i;
	size_t		 j;

	family(b, name, "counter", help);
	for (i = 0; i <= ERR_MAX; i++) {
		if (i != 0 && v[i] == 0)
			continue;
		e = i == 0 ? "ok" : proto_err_name((uint16_t)i);
		for (j = 0; j < sizeof lower - 1 && e[j] != '\0'; j++)
			lower[j] = (char)(e[j] >= 'A' && e[j] <= 'Z' ?
			    e[j] - 'A' + 'a' : e[j]);
		lower[j] = '\0';
		evbuffer_add_printf(b, "%s{outcome=\"%s\"} %llu\n", name,
		    lower, v[i]);
	}
}

/* The whole exposition. */
static void
render(struct server *srv, struct evbuffer *b)
{
	const struct stats	*st = &srv->stats;
	int			 i;

	one(b, "tryst_connections", "gauge", "Open connections.",
	    srv->nconns);
	one(b, "tryst_online_accounts", "gauge",
	    "Accounts with an online connection on this node.",
	    table_count(srv->presence));
	one(b, "tryst_calls", "gauge", "Ringing calls and sessions.",
	    calls_count(srv->calls));
	one(b, "tryst_connections_total", "counter", "Accepted connections.",
	    st->connections);
	one(b, "tryst_tls_handshakes_total", "counter",
	    "Completed TLS handshakes.", st->handshakes);
	one(b, "tryst_malformed_total", "counter",
	    "Connections closed as MALFORMED.", st->malformed);
	outcomes(b, "tryst_register_begin_total",
	    "REGISTER_BEGIN by outcome.", st->reg_begin);
	outcomes(b, "tryst_register_finish_total",
	    "REGISTER_FINISH by outcome.", st->reg_finish);
	outcomes(b, "tryst_hello_total", "HELLO by outcome.", st->hello);
	one(b, "tryst_oprf_elements_total", "counter",
	    "OPRF elements evaluated.", st->oprf_evals);
	one(b, "tryst_lookup_ids_total", "counter", "IDs looked up.",
	    st->lookups);
	family(b, "tryst_introductions_total", "counter",
	    "Calls by outcome.");
	evbuffer_add_printf(b,
	    "tryst_introductions_total{outcome=\"answered\"} %llu\n"
	    "tryst_introductions_total{outcome=\"declined\"} %llu\n"
	    "tryst_introductions_total{outcome=\"offline\"} %llu\n"
	    "tryst_introductions_total{outcome=\"timeout\"} %llu\n",
	    st->intro_answered, st->intro_declined, st->intro_offline,
	    st->intro_timeout);
	one(b, "tryst_relay_sessions_total", "counter",
	    "Relayed sessions started.", st->relay_sessions);
	one(b, "tryst_relay_bytes_total", "counter",
	    "Bytes relayed, both directions.", st->relay_bytes);
	one(b, "tryst_stun_requests_total", "counter",
	    "STUN Binding requests answered.", st->stun_requests);
	family(b, "tryst_rate_limited_total", "counter",
	    "Requests refused by a limit, by limit.");
	for (i = 0; i < RL_NKINDS; i++)
		evbuffer_add_printf(b, "tryst_rate_limited_total{kind=\"%s\"} "
		    "%llu\n", rl_names[i], st->rate_limited[i]);
	one(b, "tryst_code_tokens", "gauge",
	    "REGISTER_BEGIN tokens left in this node's codes_per_hour bucket.",
	    (unsigned long long)register_tokens(srv));
	one(b, "tryst_redis_up", "gauge", "1 while Redis is connected.",
	    (unsigned long long)store_up(srv->store));
	one(b, "tryst_redis_errors_total", "counter",
	    "Failed connects and lost connections to Redis.", st->redis_errors);
	one(b, "tryst_redis_redirects_total", "counter",
	    "Redis Cluster MOVED and ASK redirections followed.",
	    st->redis_redirects);
	one(b, "tryst_redis_refreshes_total", "counter",
	    "Redis Cluster slot maps read.", st->redis_refreshes);
	one(b, "tryst_redis_subscriptions", "gauge",
	    "Redis pub/sub channels this node listens on.",
	    (unsigned long long)store_subscriptions(srv->store));
	one(b, "tryst_bus_sent_total", "counter",
	    "Messages published to other nodes.", st->bus_sent);
	one(b, "tryst_bus_received_total", "counter",
	    "Messages received from other nodes.", st->bus_received);
	one(b, "tryst_notify_dropped_total", "counter",
	    "systemd notifications dropped: NOTIFY_SOCKET was full.",
	    st->notify_dropped);
	one(b, "process_start_time_seconds", "gauge",
	    "Start time of the process, Unix seconds.", st->start_time);
	/* node_name is [A-Za-z0-9._-]: nothing to escape in a label. */
	family(b, "tryst_node_info", "gauge",
	    "This node: node_name as a label, value 1.");
	evbuffer_add_printf(b, "tryst_node_info{node=\"%s\"} 1\n",
	    srv->set.node_name);
}

/* ---- serving: a small HTTP/1.x server on an evconnlistener ------------ */

enum mstate {
	M_READING,		/* the request head is arriving */
	M_WRITING,		/* answered; the answer drains */
	M_DEAD,			/* to be freed on a later pass */
};

/* One metrics connection: one request, one answer, then closed. */
struct mconn {
	struct metrics	*m;
	struct bufferevent *bev;
	struct event	*timer;		/* deadline, then free */
	enum mstate	 state;
	uint64_t	 accepted_ms;
	TAILQ_ENTRY(mconn) entry;
};

/* The listener and its connections, oldest first. */
struct metrics {
	struct server	*srv;
	struct evconnlistener *listener;
	struct event	*resume;	/* out of descriptors: try again */
	int		 warned;	/* that is logged; no accept since */
	uint64_t	 warned_at;	/* when, in seconds */
	TAILQ_HEAD(, mconn) conns;
	size_t		 nconns;
};

/* Close and free mc now: never from inside one of its own callbacks but
 * its timer's. The socket is closed here, not by libevent, which would
 * close it only on a later pass: a burst of accepts shedding the oldest
 * would otherwise hold a descriptor for every connection of the burst. */
static void
mconn_free(struct mconn *mc)
{
	struct metrics	*m = mc->m;
	evutil_socket_t	 fd = bufferevent_getfd(mc->bev);

	TAILQ_REMOVE(&m->conns, mc, entry);
	m->nconns--;
	bufferevent_free(mc->bev);
	evutil_closesocket(fd);
	event_free(mc->timer);
	free(mc);
}

/* Free mc on a later pass of the loop. */
static void
mconn_kill(struct mconn *mc)
{
	struct timeval	 now = { 0, 0 };

	mc->state = M_DEAD;
	bufferevent_disable(mc->bev, EV_READ | EV_WRITE);
	evtimer_add(mc->timer, &now);
}

/* Queue an answer of status with the body b (not sent for HEAD) and stop
 * reading: the connection closes once it is written. */
static void
answer(struct mconn *mc, int status, const char *ctype, int head,
    struct evbuffer *b)
{
	struct evbuffer	*out = bufferevent_get_output(mc->bev);
	char		 date[64];
	struct tm	 tm;
	time_t		 t = (time_t)server_now();

	gmtime_r(&t, &tm);
	strftime(date, sizeof date, "%a, %d %b %Y %H:%M:%S GMT", &tm);
	evbuffer_add_printf(out, "HTTP/1.1 %d %s\r\nDate: %s\r\n"
	    "Content-Type: %s\r\nContent-Length: %zu\r\n%s"
	    "Connection: close\r\n\r\n", status, http_reason(status), date,
	    ctype, evbuffer_get_length(b), status == 405 ?
	    "Allow: GET, HEAD\r\n" : "");
	if (!head)
		evbuffer_add_buffer(out, b);
	mc->state = M_WRITING;
	bufferevent_disable(mc->bev, EV_READ);
}

/* Answer an error or a request for a path of neither endpoint. */
static void
answer_plain(struct mconn *mc, int status, int head)
{
	struct evbuffer	*b = evbuffer_new();

	evbuffer_add_printf(b, "%s\n", http_reason(status));
	answer(mc, status, "text/plain; charset=utf-8", head, b);
	evbuffer_free(b);
}

/* Answer a whole request: /metrics, or /healthz (200 while Redis
 * answers, else 503). */
static void
route(struct mconn *mc, const struct http_req *req)
{
	struct server	*srv = mc->m->srv;
	struct evbuffer	*b;
	int		 head = req->method == HTTP_HEAD, up;

	if (strcmp(req->path, "/metrics") == 0) {
		b = evbuffer_new();
		render(srv, b);
		answer(mc, 200, "text/plain; version=0.0.4; charset=utf-8",
		    head, b);
		evbuffer_free(b);
	} else if (strcmp(req->path, "/healthz") == 0) {
		b = evbuffer_new();
		up = store_up(srv->store);
		evbuffer_add_printf(b, "%s\n", up ? "ok" :
		    "storage unavailable");
		answer(mc, up ? 200 : 503, "text/plain; charset=utf-8", head,
		    b);
		evbuffer_free(b);
	} else
		answer_plain(mc, 404, head);
}

/* Bytes of the request head arrived (never more than HTTP_MAX_HEAD: the
 * read watermark stops reading there). */
static void
mconn_read(struct bufferevent *bev, void *arg)
{
	struct mconn	*mc = arg;
	struct evbuffer	*in = bufferevent_get_input(bev);
	struct http_req	 req;
	size_t		 len = evbuffer_get_length(in);
	int		 r;

	if (mc->state != M_READING)
		return;
	r = http_parse((const char *)evbuffer_pullup(in, (ev_ssize_t)len),
	    len, &req);
	if (r == HTTP_MORE)
		return;
	if (r == 0)
		route(mc, &req);
	else {
		log_debug("metrics: request refused: %d", r);
		answer_plain(mc, r, 0);
	}
}

/* The answer is written: close. */
static void
mconn_write(struct bufferevent *bev, void *arg)
{
	struct mconn	*mc = arg;

	if (mc->state == M_WRITING)
		mconn_kill(mc);
}

/* The peer closed or failed. */
static void
mconn_event(struct bufferevent *bev, short what, void *arg)
{
	struct mconn	*mc = arg;

	if ((what & (BEV_EVENT_EOF | BEV_EVENT_ERROR)) && mc->state != M_DEAD)
		mconn_kill(mc);
}

/* The deadline passed (the request or its answer is too slow), or a
 * killed connection is freed. */
static void
mconn_timer(evutil_socket_t fd, short ev, void *arg)
{
	struct mconn	*mc = arg;

	if (mc->state != M_DEAD)
		log_debug("metrics: connection timed out");
	mconn_free(mc);
}

/* Make room for one more connection: shed the oldest that has waited a
 * second or more for its request (freed now: we are in none of its
 * callbacks), so that connections held open cannot lock a scraper out,
 * while a burst of new ones cannot shed a scraper's fresh request. 0, or
 * -1 when there is none to shed. */
static int
make_room(struct metrics *m)
{
	struct mconn	*mc;
	uint64_t	 now = server_now_ms();

	if (m->nconns < METRICS_MAX_CONNS)
		return (0);
	TAILQ_FOREACH(mc, &m->conns, entry) {
		if (mc->state == M_READING && now - mc->accepted_ms >= 1000) {
			log_debug("metrics: oldest waiting connection shed");
			mconn_free(mc);
			return (0);
		}
	}
	return (-1);
}

/* A connection to the metrics listener. */
static void
metrics_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct metrics	*m = arg;
	struct mconn	*mc;
	struct timeval	 tv = { METRICS_TIMEOUT_S, 0 };

	if (m->warned) {
		log_notice("metrics: accepting again");
		m->warned = 0;
	}
	if (make_room(m) != 0) {
		evutil_closesocket(fd);
		return;
	}
	mc = xcalloc(1, sizeof *mc);
	mc->m = m;
	mc->state = M_READING;
	mc->accepted_ms = server_now_ms();
	mc->bev = bufferevent_socket_new(m->srv->base, fd, 0);
	if (mc->bev == NULL)
		fatalx("bufferevent_socket_new failed");
	mc->timer = evtimer_new(m->srv->base, mconn_timer, mc);
	TAILQ_INSERT_TAIL(&m->conns, mc, entry);
	m->nconns++;
	bufferevent_setcb(mc->bev, mconn_read, mconn_write, mconn_event, mc);
	bufferevent_setwatermark(mc->bev, EV_READ, 0, HTTP_MAX_HEAD);
	bufferevent_enable(mc->bev, EV_READ | EV_WRITE);
	evtimer_add(mc->timer, &tv);
}

/* accept failed (out of descriptors): pause for a second rather than
 * spin. Say so once per episode, which ends at the next accept; episodes
 * closer than a minute apart are one, so that a server at its limit logs
 * two lines a minute, not two a second. */
static void
metrics_accept_error(struct evconnlistener *l, void *arg)
{
	struct metrics	*m = arg;
	struct timeval	 tv = { 1, 0 };
	uint64_t	 now = server_now();
	int		 e = EVUTIL_SOCKET_ERROR();

	if (!m->warned && (m->warned_at == 0 || now - m->warned_at >= 60)) {
		log_warnx("metrics: accept: %s; pausing a second at a time "
		    "until it succeeds", evutil_socket_error_to_string(e));
		m->warned = 1;
		m->warned_at = now;
	}
	evconnlistener_disable(l);
	evtimer_add(m->resume, &tv);
}

/* Accept again after a pause. */
static void
metrics_resume(evutil_socket_t fd, short ev, void *arg)
{
	struct metrics	*m = arg;

	if (!m->srv->stopping)
		evconnlistener_enable(m->listener);
}

/* Bind host:port; NULL and *cause. */
static struct evconnlistener *
bind_listener(struct metrics *m, const char *host, int port,
    const char *v, char **cause)
{
	struct evutil_addrinfo	 hints, *ai = NULL;
	struct evconnlistener	*l;
	char			 serv[16];
	int			 e;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	hints.ai_flags = EVUTIL_AI_PASSIVE | EVUTIL_AI_ADDRCONFIG;
	snprintf(serv, sizeof serv, "%d", port);
	if ((e = evutil_getaddrinfo(host, serv, &hints, &ai)) != 0) {
		xasprintf(cause, "metrics_listen %s: %s", v,
		    evutil_gai_strerror(e));
		return (NULL);
	}
	l = evconnlistener_new_bind(m->srv->base, metrics_accept, m,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    64, ai->ai_addr, (int)ai->ai_addrlen);
	evutil_freeaddrinfo(ai);
	if (l == NULL)
		xasprintf(cause, "metrics_listen %s: cannot listen there", v);
	return (l);
}

/* Listen on metrics_listen: "PORT" (loopback) or "ADDRESS:PORT". */
int
metrics_start(struct server *srv, char **cause)
{
	const char	*v = srv->set.metrics_listen;
	struct metrics	*m;
	char		*host, *why;
	int		 port;

	if (*v == '\0')
		return (0);
	if (settings_metrics_addr(v, &host, &port, &why) != 0) {
		xasprintf(cause, "metrics_listen: %s", why);
		free(why);
		return (-1);
	}
	m = xcalloc(1, sizeof *m);
	m->srv = srv;
	TAILQ_INIT(&m->conns);
	m->listener = bind_listener(m, host, port, v, cause);
	free(host);
	if (m->listener == NULL) {
		free(m);
		return (-1);
	}
	evconnlistener_set_error_cb(m->listener, metrics_accept_error);
	m->resume = evtimer_new(srv->base, metrics_resume, m);
	srv->metrics = m;
	return (0);
}

/* Stop serving metrics: close the listener and every connection. */
void
metrics_stop(struct server *srv)
{
	struct metrics	*m = srv->metrics;

	if (m == NULL)
		return;
	while (!TAILQ_EMPTY(&m->conns))
		mconn_free(TAILQ_FIRST(&m->conns));
	evconnlistener_free(m->listener);
	event_free(m->resume);
	free(m);
	srv->metrics = NULL;
}
