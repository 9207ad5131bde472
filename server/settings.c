/*
 * settings.c -- the keys of trystd.conf: one table from which the parser,
 * the defaults and conf/trystd.conf are made, the checks of a key's form
 * and between keys, and the parsers of the address keys, which trystd
 * also uses to bind, so that what -t accepts is what trystd binds.
 *
 * Limits and their bounds are PROTOCOL.md §8. After editing the table,
 * regenerate conf/trystd.conf (see tests/test-settings.c); the tests fail until
 * it matches.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <errno.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include "server.h"

/* Room for an escaped value quoted in a message. */
#define QUOTE	128

/* What node_name may hold. */
#define NODE_CHARS \
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789._-"

/* What a host name may hold besides an IPv6 address. */
#define NAME_CHARS \
	"abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789.-_"

/* A limit: reloadable, never a key a deployment must set. */
#define LIMIT(n, def, lo, hi, help) CHECKED_LIMIT(n, def, lo, hi, NULL, help)

/* A limit with a check against other keys. */
#define CHECKED_LIMIT(n, def, lo, hi, check, help) \
	{ #n, CONF_INT, offsetof(struct settings, n), def, lo, hi, 1, help, \
	    0, check }

/* A string: min 1 refuses "", must 1 writes it uncommented. */
#define STRING(n, def, lo, reload, must, check, help) \
	{ #n, CONF_STR, offsetof(struct settings, n), def, lo, 0, reload, \
	    help, must, check }

/* Escape v for a message into q (QUOTE bytes). */
static const char *
quoted(char *q, const char *v)
{
	log_escape(q, QUOTE, (const uint8_t *)v, strlen(v));
	return (q);
}

/* A port, 1-5 decimal digits in 1..65535, to *port; -1 otherwise. */
static int
parse_port(const char *s, int *port)
{
	size_t	 n = strspn(s, "0123456789");
	long	 p;

	if (n == 0 || n > 5 || s[n] != '\0')
		return (-1);
	p = strtol(s, NULL, 10);
	if (p < 1 || p > 65535)
		return (-1);
	*port = (int)p;
	return (0);
}

/* Where the port's colon of v is: after "[...]", else the last one. */
static const char *
port_colon(const char *v, const char **host, size_t *hostlen)
{
	const char	*close, *colon;

	if (v[0] == '[') {
		if ((close = strchr(v, ']')) == NULL || close[1] != ':')
			return (NULL);
		*host = v + 1;
		*hostlen = close - *host;
		return (close + 1);
	}
	if ((colon = strrchr(v, ':')) == NULL)
		return (NULL);
	*host = v;
	*hostlen = colon - v;
	return (colon);
}

/*
 * Split "HOST:PORT" or "[HOST]:PORT" into a copy of HOST (caller frees)
 * and a port in 1..65535; *bracketed says which. -1 and *why, which
 * names form, the wanted form.
 */
static int
split(const char *v, const char *form, char **host, int *bracketed,
    int *port, char **why)
{
	const char	*colon, *h;
	size_t		 hlen;
	char		 q[QUOTE];

	*host = NULL;
	if ((colon = port_colon(v, &h, &hlen)) == NULL) {
		xasprintf(why, "\"%s\" has no port (want %s)", quoted(q, v),
		    form);
		return (-1);
	}
	if (hlen == 0) {
		xasprintf(why, "\"%s\" has no address (want %s)", quoted(q, v),
		    form);
		return (-1);
	}
	if (parse_port(colon + 1, port) != 0) {
		xasprintf(why, "\"%s\": the port is not 1..65535",
		    quoted(q, v));
		return (-1);
	}
	*host = xmalloc(hlen + 1);
	memcpy(*host, h, hlen);
	(*host)[hlen] = '\0';
	*bracketed = v[0] == '[';
	return (0);
}

/* Fill ss from an IPv4 (or, bracketed, IPv6) address; -1 if it is not. */
static int
to_sockaddr(const char *host, int bracketed, int port,
    struct sockaddr_storage *ss, socklen_t *len)
{
	struct sockaddr_in	*s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)ss;

	memset(ss, 0, sizeof *ss);
	if (bracketed) {
		s6->sin6_family = AF_INET6;
		s6->sin6_port = htons((uint16_t)port);
		*len = sizeof *s6;
		return (inet_pton(AF_INET6, host, &s6->sin6_addr) == 1 ?
		    0 : -1);
	}
	s4->sin_family = AF_INET;
	s4->sin_port = htons((uint16_t)port);
	*len = sizeof *s4;
	return (inet_pton(AF_INET, host, &s4->sin_addr) == 1 ? 0 : -1);
}

/* Parse listen or stun_listen: IPV4:PORT or [IPV6]:PORT. */
int
settings_sockaddr(const char *v, struct sockaddr_storage *ss,
    socklen_t *len, char **why)
{
	char	*host, q[QUOTE];
	int	 bracketed, port, rc;

	if (split(v, "IPV4:PORT or [IPV6]:PORT", &host, &bracketed, &port,
	    why) != 0)
		return (-1);
	if ((rc = to_sockaddr(host, bracketed, port, ss, len)) != 0)
		xasprintf(why, "\"%s\" is not an IPv4 address or an IPv6 one "
		    "in brackets", quoted(q, host));
	free(host);
	return (rc);
}

/* 1 if host is an IPv6 address, an IPv4 one or a host name. */
static int
host_ok(const char *host, int bracketed)
{
	struct in6_addr	 a6;

	if (bracketed || strchr(host, ':') != NULL)
		return (inet_pton(AF_INET6, host, &a6) == 1);
	return (host[strspn(host, NAME_CHARS)] == '\0');
}

/* Parse HOST:PORT; HOST is an address ([IPv6] or bare) or a name. */
int
settings_hostport(const char *v, const char *form, char **host, int *port,
    char **why)
{
	char	 q[QUOTE];
	int	 bracketed;

	if (split(v, form, host, &bracketed, port, why) != 0)
		return (-1);
	if (host_ok(*host, bracketed))
		return (0);
	xasprintf(why, "\"%s\" is not an address or a host name",
	    quoted(q, *host));
	free(*host);
	*host = NULL;
	return (-1);
}

/* Parse metrics_listen: PORT (on 127.0.0.1) or HOST:PORT. */
int
settings_metrics_addr(const char *v, char **host, int *port, char **why)
{
	char	 q[QUOTE];

	if (v[0] == '[' || strchr(v, ':') != NULL)
		return (settings_hostport(v, "PORT or ADDRESS:PORT", host, port,
		    why));
	*host = NULL;
	if (parse_port(v, port) != 0) {
		xasprintf(why, "\"%s\" is not a port 1..65535 or ADDRESS:PORT",
		    quoted(q, v));
		return (-1);
	}
	*host = xstrdup("127.0.0.1");
	return (0);
}

/* listen: IPV4:PORT or [IPV6]:PORT. */
static int
check_listen(const void *dst, char **why)
{
	const struct settings	*s = dst;
	struct sockaddr_storage	 ss;
	socklen_t		 len;

	return (settings_sockaddr(s->listen, &ss, &len, why));
}

/* 1 if v is 1..NODE_NAME_MAX of [A-Za-z0-9._-]. */
static int
node_ok(const char *v)
{
	size_t	 n = strlen(v);

	return (n >= 1 && n <= NODE_NAME_MAX &&
	    v[strspn(v, NODE_CHARS)] == '\0');
}

/* node_name: empty (the host name, settings_node_default), or a name. */
static int
check_node(const void *dst, char **why)
{
	const struct settings	*s = dst;
	char			 q[QUOTE];

	if (s->node_name == NULL || *s->node_name == '\0' ||
	    node_ok(s->node_name))
		return (0);
	xasprintf(why, "\"%s\" is not 1..%d of A-Z, a-z, 0-9, \".\", \"_\" "
	    "and \"-\"", quoted(q, s->node_name), NODE_NAME_MAX);
	return (-1);
}

/* relay_endpoint: empty, or HOST:PORT that fits in INCOMING and ANSWER. */
static int
check_endpoint(const void *dst, char **why)
{
	const struct settings	*s = dst;
	char			*host, q[QUOTE];
	int			 port;

	if (s->relay_endpoint == NULL || *s->relay_endpoint == '\0')
		return (0);
	if (strlen(s->relay_endpoint) > PROTO_MAX_RELAY) {
		xasprintf(why, "longer than %d bytes", PROTO_MAX_RELAY);
		return (-1);
	}
	if (settings_hostport(s->relay_endpoint, "HOST:PORT or [IPV6]:PORT",
	    &host, &port, why) != 0)
		return (-1);
	/* A bare IPv6 address would be ambiguous to a client. */
	if (strchr(host, ':') != NULL && s->relay_endpoint[0] != '[') {
		xasprintf(why, "\"%s\": an IPv6 address goes in brackets",
		    quoted(q, s->relay_endpoint));
		free(host);
		return (-1);
	}
	free(host);
	return (0);
}

/* relay_listen: empty, or as listen but not its address. */
static int
check_relay_listen(const void *dst, char **why)
{
	const struct settings	*s = dst;
	struct sockaddr_storage	 ss, ls;
	socklen_t		 len, llen;
	char			*lwhy;

	if (s->relay_listen == NULL || *s->relay_listen == '\0')
		return (0);
	if (settings_sockaddr(s->relay_listen, &ss, &len, why) != 0)
		return (-1);
	if (s->listen == NULL)
		return (0);
	if (settings_sockaddr(s->listen, &ls, &llen, &lwhy) != 0) {
		free(lwhy);
		return (0);	/* listen's own check says why */
	}
	if (len == llen && memcmp(&ss, &ls, len) == 0) {
		*why = xstrdup("is listen's address; it needs one of its own");
		return (-1);
	}
	return (0);
}

/* stun_listen: empty, or as listen. */
static int
check_stun(const void *dst, char **why)
{
	const struct settings	*s = dst;
	struct sockaddr_storage	 ss;
	socklen_t		 len;

	if (s->stun_listen == NULL || *s->stun_listen == '\0')
		return (0);
	return (settings_sockaddr(s->stun_listen, &ss, &len, why));
}

/* metrics_listen: empty, PORT or ADDRESS:PORT. */
static int
check_metrics(const void *dst, char **why)
{
	const struct settings	*s = dst;
	char			*host;
	int			 port;

	if (s->metrics_listen == NULL || *s->metrics_listen == '\0')
		return (0);
	if (settings_metrics_addr(s->metrics_listen, &host, &port, why) != 0)
		return (-1);
	free(host);
	return (0);
}

/* redis: HOST:PORT, unix:/PATH or cluster:HOST:PORT[,HOST:PORT...]. */
static int
check_redis(const void *dst, char **why)
{
	const struct settings	*s = dst;
	struct slot_addr	*seeds;
	char			*host, *path;
	size_t			 n;
	int			 port;

	if (s->redis == NULL) {
		*why = xstrdup("is not set");
		return (-1);
	}
	if (slot_is_cluster(s->redis)) {
		if (slot_parse_seeds(s->redis, &seeds, &n, why) != 0)
			return (-1);
		slot_addrs_free(seeds, n);
		return (0);
	}
	if (keyspace_redis_parse(s->redis, &host, &port, &path, why) != 0)
		return (-1);
	free(host);
	free(path);
	return (0);
}

/* 1 if v is prefix followed by at least one byte. */
static int
has_arg(const char *v, const char *prefix)
{
	size_t	 n = strlen(prefix);

	return (strncmp(v, prefix, n) == 0 && v[n] != '\0');
}

/* verification: socket:PATH (an absolute path that fits a Unix socket
 * address), dev:FILE or exec:PROGRAM; empty (not set) is settings_check's
 * to refuse, as the key may be absent. */
static int
check_verification(const void *dst, char **why)
{
	const struct settings	*s = dst;
	const char		*v = s->verification;
	char			 q[QUOTE];

	if (strncmp(v == NULL ? "" : v, "socket:", 7) == 0) {
		if (v[7] == '/' && strlen(v + 7) < DELIVER_PATH_MAX)
			return (0);
		xasprintf(why, "socket:PATH needs an absolute path shorter "
		    "than %d bytes, not \"%s\"", DELIVER_PATH_MAX,
		    quoted(q, v + 7));
		return (-1);
	}
	if (v == NULL || *v == '\0' || has_arg(v, "dev:") ||
	    has_arg(v, "exec:"))
		return (0);
	xasprintf(why, "\"%s\" is not socket:PATH, dev:FILE or exec:PROGRAM",
	    quoted(q, v));
	return (-1);
}

/* discovery_bucket must hold a whole batch. */
static int
check_bucket(const void *dst, char **why)
{
	const struct settings	*s = dst;

	if (s->discovery_bucket >= s->max_batch)
		return (0);
	xasprintf(why, "%lld is less than max_batch (%lld)",
	    s->discovery_bucket, s->max_batch);
	return (-1);
}

/* max_batch must fit in discovery_bucket and lookups_per_minute. */
static int
check_batch(const void *dst, char **why)
{
	const struct settings	*s = dst;

	if (s->max_batch > s->discovery_bucket) {
		xasprintf(why, "%lld is more than discovery_bucket (%lld)",
		    s->max_batch, s->discovery_bucket);
		return (-1);
	}
	if (s->max_batch > s->lookups_per_minute) {
		xasprintf(why, "%lld is more than lookups_per_minute (%lld)",
		    s->max_batch, s->lookups_per_minute);
		return (-1);
	}
	return (0);
}

/* lookups_per_minute (the LOOKUP bucket) must hold a whole batch. */
static int
check_lookups(const void *dst, char **why)
{
	const struct settings	*s = dst;

	if (s->lookups_per_minute >= s->max_batch)
		return (0);
	xasprintf(why, "%lld is less than max_batch (%lld)",
	    s->lookups_per_minute, s->max_batch);
	return (-1);
}

const struct conf_entry settings_table[] = {
	STRING(listen, "127.0.0.1:4433", 1, 0, 1, check_listen,
	    "TLS control listener: IPV4:PORT or [IPV6]:PORT."),
	STRING(stun_listen, "", 0, 0, 0, check_stun,
	    "STUN responder (UDP): IPV4:PORT or [IPV6]:PORT; empty: no STUN."),
	STRING(metrics_listen, "", 0, 0, 0, check_metrics,
	    "/metrics and /healthz: PORT (on loopback) or ADDRESS:PORT; "
	    "empty: off."),
	STRING(node_name, "", 0, 0, 0, check_node,
	    "This node's name to the others ([A-Za-z0-9._-]); empty: "
	    "host name."),
	STRING(relay_endpoint, "", 0, 0, 0, check_endpoint,
	    "HOST:PORT tryst/2 clients join relays at; empty: relay_listen or "
	    "listen."),
	STRING(relay_listen, "", 0, 0, 0, check_relay_listen,
	    "Second TLS listener, this node's own: as listen; empty: none."),
	STRING(tls_cert, "/etc/tryst/cert.pem", 1, 1, 1, NULL,
	    "PEM certificate chain of the TLS listener (or credential:NAME)."),
	STRING(tls_key, "/etc/tryst/key.pem", 1, 1, 1, NULL,
	    "PEM private key of tls_cert (or credential:NAME)."),
	STRING(master_key, "/etc/tryst/master.key", 1, 0, 1, NULL,
	    "Master key file (or credential:NAME); all keys come from it."),
	STRING(redis, "127.0.0.1:6379", 1, 0, 1, check_redis,
	    "Redis: HOST:PORT, unix:/PATH, or "
	    "cluster:HOST:PORT[,HOST:PORT...]."),
	STRING(redis_user, "", 0, 0, 0, NULL,
	    "Redis ACL user; empty: the default user."),
	STRING(redis_password_file, "", 0, 0, 0, NULL,
	    "Redis password file (or credential:NAME); empty: no AUTH."),
	STRING(verification, "", 0, 1, 1, check_verification,
	    "Delivery: socket:/run/tryst-deliver/deliver.sock, "
	    "exec:PROGRAM or dev:FILE."),
	{ "log_level", CONF_LEVEL, offsetof(struct settings, log_level), "info",
	    0, 0, 1,
	    "Lowest priority logged: err, warning, notice, info or debug.", 0,
	    NULL },

	LIMIT(code_digits, "6", 6, 8,
	    "Digits of a verification code."),
	LIMIT(code_ttl_s, "600", 60, 3600,
	    "Seconds a registration token and its code stay valid."),
	LIMIT(code_attempts, "5", 1, 10,
	    "REGISTER_FINISH tries per registration token."),
	LIMIT(code_requests_per_hour, "5", 1, 100,
	    "REGISTER_BEGIN requests per number per hour."),
	LIMIT(code_failures_per_day, "20", 1, 1000,
	    "Wrong codes per number per day."),
	LIMIT(codes_per_hour_per_ip, "10", 1, 10000,
	    "REGISTER_BEGIN per client address (IPv6: per /64) per hour, "
	    "per node."),
	LIMIT(codes_per_hour_per_prefix, "100", 1, 1000000,
	    "REGISTER_BEGIN per IPv4 /24 or IPv6 /48 per hour, per node."),
	LIMIT(codes_per_hour, "1000", 1, 10000000,
	    "REGISTER_BEGIN per server per hour, per node."),
	LIMIT(max_deliveries, "32", 1, 1024,
	    "Delivery programs running at once."),
	LIMIT(credential_days, "30", 1, 365,
	    "Days a credential is valid."),
	LIMIT(account_ttl_days, "120", 7, 3650,
	    "Days without coming online before an account is deleted."),
	CHECKED_LIMIT(discovery_bucket, "2000", 1, 10000000, check_bucket,
	    "OPRF elements an account may spend at once; at least max_batch."),
	LIMIT(discovery_refill_per_day, "100", 1, 1000000,
	    "OPRF elements added back to that bucket per day."),
	CHECKED_LIMIT(lookups_per_minute, "6000", 1, 10000000, check_lookups,
	    "IDs an account may LOOKUP per minute, per node; at least "
	    "max_batch."),
	LIMIT(connects_per_minute, "60", 1, 10000,
	    "CONNECTs per account per minute."),
	LIMIT(call_timeout_s, "30", 5, 300,
	    "Seconds to wait for an answer, and for the second RELAY_JOIN."),
	LIMIT(max_pending_calls, "8", 1, 64,
	    "Ringing calls one connection may have made."),
	LIMIT(max_sessions, "8", 1, 64,
	    "Sessions of one connection."),
	CHECKED_LIMIT(max_batch, "1024", 1, 1024, check_batch,
	    "Most elements in one OPRF_EVAL or LOOKUP."),
	LIMIT(max_offer_bytes, "4096", 64, 4096,
	    "Largest offer or answer, in bytes."),
	LIMIT(relay_session_bytes, "268435456", 1048576, 1LL << 40,
	    "Bytes relayed per session, both directions together."),
	LIMIT(relay_rate_bps, "0", 0, 10000000000LL,
	    "Relayed bytes per second per session; 0: no cap."),
	LIMIT(relay_node_rate_bps, "0", 0, 100000000000LL,
	    "Relayed bytes per second of all sessions of this node together; "
	    "0: no cap."),
	LIMIT(relay_account_daily_bytes, "0", 0, 1LL << 50,
	    "Bytes an account may send through the relay per UTC day; 0: no "
	    "budget."),
	LIMIT(relay_buffer_bytes, "262144", 16384, 16777216,
	    "Unsent relay output before the other side is paused."),
	LIMIT(max_output_bytes, "1048576", 65536, 1LL << 30,
	    "Unsent output before a control connection is closed as slow."),
	LIMIT(handshake_timeout_s, "10", 1, 120,
	    "Seconds from TCP accept to the first frame."),
	LIMIT(anonymous_lifetime_s, "120", 10, 3600,
	    "Seconds a connection may live without HELLO."),
	LIMIT(idle_timeout_s, "300", 30, 65535,
	    "Seconds of silence before GOAWAY idle."),
	LIMIT(max_connections, "100000", 1, 10000000,
	    "Open connections; past it, a new one sheds the oldest handshake."),
	LIMIT(max_connections_per_ip, "64", 1, 1000000,
	    "Open connections from one address (IPv6: per /64)."),
	LIMIT(max_connections_per_account, "4", 1, 64,
	    "Online connections of one account."),
	LIMIT(shutdown_grace_s, "5", 0, 300,
	    "Seconds SIGTERM waits for connections to close after GOAWAY."),
	LIMIT(test_accounts, "0", 0, 1,
	    "1: a test node; trystctl mint makes accounts without codes."),

	{ NULL, 0, 0, NULL, 0, 0, 0, NULL, 0, NULL }
};

/* Every check of the table, and the keys that must be set. */
int
settings_check(const struct settings *s, char **cause)
{
	const struct conf_entry	*e;
	char			*why;

	if (s->listen == NULL || *s->listen == '\0') {
		*cause = xstrdup("listen is not set");
		return (-1);
	}
	if (s->verification == NULL || *s->verification == '\0') {
		*cause = xstrdup("verification is not set "
		    "(socket:PATH, dev:FILE or exec:PROGRAM)");
		return (-1);
	}
	for (e = settings_table; e->name != NULL; e++) {
		if (e->check != NULL && e->check(s, &why) != 0) {
			xasprintf(cause, "%s: %s", e->name, why);
			free(why);
			return (-1);
		}
	}
	return (0);
}

/* node_name's default: host, if it is a node name; NULL and *why. */
char *
settings_node_default(const char *host, char **why)
{
	char	 q[QUOTE];

	if (node_ok(host))
		return (xstrdup(host));
	xasprintf(why, "node_name: the host name \"%s\" is not 1..%d of A-Z, "
	    "a-z, 0-9, \".\", \"_\" and \"-\"; set node_name", quoted(q, host),
	    NODE_NAME_MAX);
	return (NULL);
}

/* On a cluster, the relay endpoint must name this node: a client of
 * another node told "[::]:4433" would join the relay of its own node,
 * which knows nothing of the call (a client takes an unspecified address
 * for its server's, which is right only for a single node). */
static int
endpoint_reachable(const struct settings *s, char **why)
{
	struct sockaddr_storage	 ss;
	struct sockaddr_in	*sin = (struct sockaddr_in *)&ss;
	struct sockaddr_in6	*sin6 = (struct sockaddr_in6 *)&ss;
	socklen_t		 len;
	char			*ignored = NULL, q[QUOTE];

	if (!slot_is_cluster(s->redis) || settings_sockaddr(s->relay_endpoint,
	    &ss, &len, &ignored) != 0) {
		free(ignored);		/* a host name: fine */
		return (0);
	}
	if ((ss.ss_family == AF_INET && sin->sin_addr.s_addr == INADDR_ANY) ||
	    (ss.ss_family == AF_INET6 &&
	    IN6_IS_ADDR_UNSPECIFIED(&sin6->sin6_addr))) {
		xasprintf(why, "relay_endpoint: \"%s\" is no address that the "
		    "clients of other nodes can reach; on a cluster set it to "
		    "this node's HOST:PORT", quoted(q, s->relay_endpoint));
		return (-1);
	}
	return (0);
}

/* The defaults that depend on the host or on other keys: node_name (the
 * host name) and relay_endpoint (relay_listen, else listen). */
static int
fill_defaults(struct settings *s, char **why)
{
	char	 host[256], *name;

	if (*s->node_name == '\0') {
		if (gethostname(host, sizeof host) != 0) {
			xasprintf(why, "node_name: gethostname: %s; set "
			    "node_name", strerror(errno));
			return (-1);
		}
		host[sizeof host - 1] = '\0';
		if ((name = settings_node_default(host, why)) == NULL)
			return (-1);
		free(s->node_name);
		s->node_name = name;
	}
	if (*s->relay_endpoint == '\0') {
		free(s->relay_endpoint);
		s->relay_endpoint = xstrdup(*s->relay_listen != '\0' ?
		    s->relay_listen : s->listen);
	}
	return (endpoint_reachable(s, why));
}

/* Parse the listeners' addresses, which settings_check has passed. */
static void
parse_addrs(struct settings *s)
{
	char	*why;

	if (settings_sockaddr(s->listen, &s->listen_addr, &s->listen_len,
	    &why) != 0)
		fatalx("settings: %s", why);
	s->stun_len = 0;
	if (*s->stun_listen != '\0' && settings_sockaddr(s->stun_listen,
	    &s->stun_addr, &s->stun_len, &why) != 0)
		fatalx("settings: %s", why);
	s->relay_len = 0;
	if (*s->relay_listen != '\0' && settings_sockaddr(s->relay_listen,
	    &s->relay_addr, &s->relay_len, &why) != 0)
		fatalx("settings: %s", why);
}

/*
 * Defaults, then path, then the checks; then the listeners' addresses.
 * On failure s is left freed (all strings NULL), so settings_free on it
 * is harmless.
 */
int
settings_load(struct settings *s, const char *path, char **cause)
{
	char		*why;
	const char	*slash;

	memset(s, 0, sizeof *s);
	conf_defaults(settings_table, s);
	if (conf_load(settings_table, s, path, cause) != 0)
		goto fail;
	if (settings_check(s, &why) != 0) {
		xasprintf(cause, "%s: %s", path, why);
		free(why);
		goto fail;
	}
	if (fill_defaults(s, &why) != 0) {
		xasprintf(cause, "%s: %s", path, why);
		free(why);
		goto fail;
	}
	parse_addrs(s);
	/* Where credential:NAME is looked for outside systemd. */
	if ((slash = strrchr(path, '/')) == NULL)
		s->confdir = xstrdup(".");
	else
		xasprintf(&s->confdir, "%.*s", slash == path ? 1 :
		    (int)(slash - path), path);
	return (0);
fail:
	settings_free(s);
	return (-1);
}

/* Free the strings of s. */
void
settings_free(struct settings *s)
{
	conf_free(settings_table, s);
	free(s->confdir);
	s->confdir = NULL;
}

/*
 * The file a path setting names: "credential:NAME" is NAME in the folder
 * systemd's LoadCredential= gives ($CREDENTIALS_DIRECTORY); anything else
 * is a path. Caller frees. NULL and *cause when it cannot be resolved.
 */
char *
settings_path(const struct settings *set, const char *value, char **cause)
{
	const char	*dir, *name;
	char		*path;

	if (strncmp(value, "credential:", 11) != 0)
		return (xstrdup(value));
	name = value + 11;
	if (*name == '\0' || strchr(name, '/') != NULL ||
	    strcmp(name, "..") == 0 || strcmp(name, ".") == 0) {
		xasprintf(cause, "\"%s\": not a credential name", value);
		return (NULL);
	}
	if ((dir = getenv("CREDENTIALS_DIRECTORY")) == NULL || *dir == '\0')
		dir = set->confdir;
	if (dir == NULL) {
		xasprintf(cause, "\"%s\": CREDENTIALS_DIRECTORY is not set "
		    "(LoadCredential= in the unit provides it)", value);
		return (NULL);
	}
	xasprintf(&path, "%s/%s", dir, name);
	return (path);
}
