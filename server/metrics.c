/*
 * metrics.c -- /metrics in the Prometheus text format and /healthz, on
 * metrics_listen (loopback unless an address is given). Counters and
 * gauges only; no label ever holds a number, an ID or an address.
 */
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/http.h>

#include "server.h"

static const char *rl_names[RL_NKINDS] = {
	[RL_CODE_IP] = "codes_per_ip",
	[RL_CODE_SERVER] = "codes_per_server",
	[RL_CODE_NUMBER] = "codes_per_number",
	[RL_CODE_FAILURES] = "code_failures",
	[RL_DELIVERIES] = "deliveries",
	[RL_DISCOVERY] = "discovery",
	[RL_CONNECTS] = "connects",
	[RL_CONNECTIONS] = "connections",
	[RL_CONNECTIONS_IP] = "connections_per_ip",
	[RL_RELAY_QUOTA] = "relay_session_bytes",
	[RL_STUN] = "stun",
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
	one(b, "tryst_redis_up", "gauge", "1 while Redis is connected.",
	    (unsigned long long)store_up(srv->store));
	one(b, "tryst_redis_errors_total", "counter",
	    "Failed connects and lost connections to Redis.", st->redis_errors);
	one(b, "process_start_time_seconds", "gauge",
	    "Start time of the process, Unix seconds.", st->start_time);
}

/* GET /metrics. */
static void
metrics_cb(struct evhttp_request *req, void *arg)
{
	struct evbuffer	*b = evbuffer_new();

	render(arg, b);
	evhttp_add_header(evhttp_request_get_output_headers(req),
	    "Content-Type", "text/plain; version=0.0.4; charset=utf-8");
	evhttp_send_reply(req, HTTP_OK, "OK", b);
	evbuffer_free(b);
}

/* GET /healthz: 200 while Redis answers, else 503. */
static void
healthz_cb(struct evhttp_request *req, void *arg)
{
	struct server	*srv = arg;
	struct evbuffer	*b = evbuffer_new();
	int		 up = store_up(srv->store);

	evbuffer_add_printf(b, "%s\n", up ? "ok" : "storage unavailable");
	evhttp_send_reply(req, up ? HTTP_OK : 503, up ? "OK" :
	    "Service Unavailable", b);
	evbuffer_free(b);
}

/* Listen on metrics_listen: "PORT" (loopback) or "ADDRESS:PORT". */
int
metrics_start(struct server *srv, char **cause)
{
	const char	*v = srv->set.metrics_listen;
	char		*host, *why;
	int		 port;

	if (*v == '\0')
		return (0);
	if (settings_metrics_addr(v, &host, &port, &why) != 0) {
		xasprintf(cause, "metrics_listen: %s", why);
		free(why);
		return (-1);
	}
	srv->metrics = evhttp_new(srv->base);
	if (evhttp_bind_socket(srv->metrics, host, (uint16_t)port) != 0) {
		xasprintf(cause, "metrics_listen %s: cannot listen there", v);
		free(host);
		return (-1);
	}
	free(host);
	evhttp_set_allowed_methods(srv->metrics, EVHTTP_REQ_GET |
	    EVHTTP_REQ_HEAD);
	evhttp_set_cb(srv->metrics, "/metrics", metrics_cb, srv);
	evhttp_set_cb(srv->metrics, "/healthz", healthz_cb, srv);
	return (0);
}

/* Stop serving metrics. */
void
metrics_stop(struct server *srv)
{
	if (srv->metrics != NULL)
		evhttp_free(srv->metrics);
	srv->metrics = NULL;
}
