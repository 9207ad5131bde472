/*
 * server.h -- trystd and trystctl internals, one section per file.
 */
#ifndef TRYST_SERVER_H
#define TRYST_SERVER_H

#include "common.h"

/* ---- settings.c: the trystd.conf table -------------------------------- */

/* Every key of trystd.conf. Integers are long long, strings char *. */
struct settings {
	char		*listen;		/* host:port */
	char		*stun_listen;		/* host:port or "" */
	char		*metrics_listen;	/* host:port or "" */
	char		*tls_cert;
	char		*tls_key;
	char		*master_key;
	char		*redis;			/* host:port or unix:PATH */
	char		*redis_user;
	char		*redis_password_file;
	char		*verification;		/* dev:FILE or exec:PROGRAM */
	int		 log_level;

	long long	 code_digits;
	long long	 code_ttl_s;
	long long	 code_attempts;
	long long	 code_requests_per_hour;
	long long	 code_failures_per_day;
	long long	 codes_per_hour_per_ip;
	long long	 codes_per_hour;
	long long	 max_deliveries;
	long long	 credential_days;
	long long	 account_ttl_days;
	long long	 discovery_bucket;
	long long	 discovery_refill_per_day;
	long long	 connects_per_minute;
	long long	 call_timeout_s;
	long long	 max_pending_calls;
	long long	 max_sessions;
	long long	 max_batch;
	long long	 max_offer_bytes;
	long long	 relay_session_bytes;
	long long	 relay_rate_bps;
	long long	 relay_buffer_bytes;
	long long	 max_output_bytes;
	long long	 handshake_timeout_s;
	long long	 anonymous_lifetime_s;
	long long	 idle_timeout_s;
	long long	 max_connections;
	long long	 max_connections_per_ip;
	long long	 max_connections_per_account;
	long long	 shutdown_grace_s;
};

extern const struct conf_entry settings_table[];

/* Defaults, then path; then the checks between keys. -1 and *cause. */
int	 settings_load(struct settings *, const char *path, char **cause);
/* Checks that involve more than one key (discovery_bucket >= max_batch,
 * verification's form, ...). -1 and *cause. */
int	 settings_check(const struct settings *, char **cause);
void	 settings_free(struct settings *);

#endif
