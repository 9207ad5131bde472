/*
 * settings.c -- the keys of trystd.conf: one table from which the parser,
 * the defaults and conf/trystd.conf are made, and the checks that involve
 * more than one key.
 *
 * Limits and their bounds are PROTOCOL.md §8. After editing the table,
 * regenerate conf/trystd.conf (see tests/test-conf.c); the tests fail until
 * it matches.
 */
#include <stddef.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"

/* A limit: reloadable, never a key a deployment must set. */
#define LIMIT(n, def, lo, hi, help) \
	{ #n, CONF_INT, offsetof(struct settings, n), def, lo, hi, 1, help, 0 }

/* A string: min 1 refuses "", must 1 writes it uncommented. */
#define STRING(n, def, lo, reload, must, help) \
	{ #n, CONF_STR, offsetof(struct settings, n), def, lo, 0, reload, \
	    help, must }

const struct conf_entry settings_table[] = {
	STRING(listen, "127.0.0.1:4433", 1, 0, 1,
	    "Address and port of the TLS control listener (host:port)."),
	STRING(stun_listen, "", 0, 0, 0,
	    "UDP address and port of the STUN responder; empty: no STUN."),
	STRING(metrics_listen, "", 0, 0, 0,
	    "/metrics and /healthz: PORT (on loopback) or ADDRESS:PORT; "
	    "empty: off."),
	STRING(tls_cert, "/etc/tryst/cert.pem", 1, 1, 1,
	    "PEM certificate chain of the TLS listener (or credential:NAME)."),
	STRING(tls_key, "/etc/tryst/key.pem", 1, 1, 1,
	    "PEM private key of tls_cert (or credential:NAME)."),
	STRING(master_key, "/etc/tryst/master.key", 1, 0, 1,
	    "Master key file (or credential:NAME); all keys come from it."),
	STRING(redis, "127.0.0.1:6379", 1, 0, 1,
	    "Redis server: host:port or unix:PATH."),
	STRING(redis_user, "", 0, 0, 0,
	    "Redis ACL user; empty: the default user."),
	STRING(redis_password_file, "", 0, 0, 0,
	    "Redis password file (or credential:NAME); empty: no AUTH."),
	STRING(verification, "", 0, 1, 1,
	    "Code delivery: dev:FILE (codes go to FILE) or exec:PROGRAM."),
	{ "log_level", CONF_LEVEL, offsetof(struct settings, log_level), "info",
	    0, 0, 1,
	    "Lowest priority logged: err, warning, notice, info or debug.", 0 },

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
	    "REGISTER_BEGIN per client address (IPv6: per /64) per hour."),
	LIMIT(codes_per_hour, "1000", 1, 10000000,
	    "REGISTER_BEGIN per server per hour."),
	LIMIT(max_deliveries, "32", 1, 1024,
	    "Delivery programs running at once."),
	LIMIT(credential_days, "30", 1, 365,
	    "Days a credential is valid."),
	LIMIT(account_ttl_days, "120", 7, 3650,
	    "Days without coming online before an account is deleted."),
	LIMIT(discovery_bucket, "2000", 1, 10000000,
	    "OPRF elements an account may spend at once; at least max_batch."),
	LIMIT(discovery_refill_per_day, "100", 1, 1000000,
	    "OPRF elements added back to that bucket per day."),
	LIMIT(connects_per_minute, "60", 1, 10000,
	    "CONNECTs per account per minute."),
	LIMIT(call_timeout_s, "30", 5, 300,
	    "Seconds to wait for an answer, and for the second RELAY_JOIN."),
	LIMIT(max_pending_calls, "8", 1, 64,
	    "Ringing calls one connection may have made."),
	LIMIT(max_sessions, "8", 1, 64,
	    "Sessions of one connection."),
	LIMIT(max_batch, "1024", 1, 1024,
	    "Most elements in one OPRF_EVAL or LOOKUP."),
	LIMIT(max_offer_bytes, "4096", 64, 4096,
	    "Largest offer or answer, in bytes."),
	LIMIT(relay_session_bytes, "268435456", 1048576, 1LL << 40,
	    "Bytes relayed per session, both directions together."),
	LIMIT(relay_rate_bps, "0", 0, 10000000000LL,
	    "Relayed bytes per second per session; 0: no cap."),
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
	    "Open connections; past it, new ones are closed before TLS."),
	LIMIT(max_connections_per_ip, "64", 1, 1000000,
	    "Open connections from one address (IPv6: per /64)."),
	LIMIT(max_connections_per_account, "4", 1, 64,
	    "Online connections of one account."),
	LIMIT(shutdown_grace_s, "5", 0, 300,
	    "Seconds SIGTERM waits for connections to close after GOAWAY."),

	{ NULL, 0, 0, NULL, 0, 0, 0, NULL, 0 }
};

/* 1 if v is prefix followed by at least one byte. */
static int
has_arg(const char *v, const char *prefix)
{
	size_t	 n = strlen(prefix);

	return (strncmp(v, prefix, n) == 0 && v[n] != '\0');
}

/* Check verification's form: dev:FILE or exec:PROGRAM. */
static int
check_verification(const char *v, char **cause)
{
	char	 q[128];

	if (v == NULL || *v == '\0') {
		*cause = xstrdup("verification is not set "
		    "(dev:FILE or exec:PROGRAM)");
		return (-1);
	}
	if (has_arg(v, "dev:") || has_arg(v, "exec:"))
		return (0);
	log_escape(q, sizeof q, (const uint8_t *)v, strlen(v));
	xasprintf(cause, "verification: \"%s\" is not dev:FILE or "
	    "exec:PROGRAM", q);
	return (-1);
}

/* Checks that involve more than one key, or a key's form. */
int
settings_check(const struct settings *s, char **cause)
{
	if (s->listen == NULL || *s->listen == '\0') {
		*cause = xstrdup("listen is not set");
		return (-1);
	}
	if (check_verification(s->verification, cause) != 0)
		return (-1);
	if (s->discovery_bucket < s->max_batch) {
		xasprintf(cause, "discovery_bucket (%lld) is less than "
		    "max_batch (%lld)", s->discovery_bucket, s->max_batch);
		return (-1);
	}
	return (0);
}

/*
 * Defaults, then path, then the checks. On failure s is left freed (all
 * strings NULL), so settings_free on it is harmless.
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
