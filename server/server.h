/*
 * server.h -- trystd and trystctl internals, one section per file.
 */
#ifndef TRYST_SERVER_H
#define TRYST_SERVER_H

#include <sys/queue.h>
#include <sys/socket.h>

#include <netinet/in.h>

#include <event2/event.h>
#include <event2/bufferevent.h>
#include <event2/buffer.h>
#include <event2/listener.h>
#include <openssl/ssl.h>

#include "common.h"

struct conn;
struct server;
struct redisAsyncContext;
struct redisReply;
struct redisContext;
struct metrics;

/* ---- settings.c: the trystd.conf table -------------------------------- */

/* Every key of trystd.conf. Integers are long long, strings char *. */
struct settings {
	char		*listen;		/* IPV4:PORT or [IPV6]:PORT */
	char		*stun_listen;		/* as listen, or "" */
	char		*metrics_listen;	/* PORT, HOST:PORT or "" */
	char		*tls_cert;
	char		*tls_key;
	char		*master_key;
	char		*redis;			/* see settings.c */
	char		*redis_user;
	char		*redis_password_file;
	char		*verification;		/* dev:FILE or exec:PROGRAM */
	int		 log_level;
	char		*node_name;		/* this node, to the others */
	char		*relay_endpoint;	/* HOST:PORT told to clients */
	char		*relay_listen;		/* as listen, or "" */

	long long	 code_digits;
	long long	 code_ttl_s;
	long long	 code_attempts;
	long long	 code_requests_per_hour;
	long long	 code_failures_per_day;
	long long	 codes_per_hour_per_ip;
	long long	 codes_per_hour_per_prefix;
	long long	 codes_per_hour;
	long long	 max_deliveries;
	long long	 credential_days;
	long long	 account_ttl_days;
	long long	 discovery_bucket;
	long long	 discovery_refill_per_day;
	long long	 lookups_per_minute;
	long long	 connects_per_minute;
	long long	 call_timeout_s;
	long long	 max_pending_calls;
	long long	 max_sessions;
	long long	 max_batch;
	long long	 max_offer_bytes;
	long long	 relay_session_bytes;
	long long	 relay_rate_bps;
	long long	 relay_node_rate_bps;
	long long	 relay_account_daily_bytes;
	long long	 relay_buffer_bytes;
	long long	 max_output_bytes;
	long long	 handshake_timeout_s;
	long long	 anonymous_lifetime_s;
	long long	 idle_timeout_s;
	long long	 max_connections;
	long long	 max_connections_per_ip;
	long long	 max_connections_per_account;
	long long	 shutdown_grace_s;
	long long	 test_accounts;		/* trystctl mint allowed */

	char		*confdir;	/* the config file's folder; not a key */
	/* Not keys: listen, stun_listen and relay_listen parsed by
	 * settings_load. */
	struct sockaddr_storage listen_addr;
	socklen_t	 listen_len;
	struct sockaddr_storage stun_addr;
	socklen_t	 stun_len;	/* 0 without stun_listen */
	struct sockaddr_storage relay_addr;
	socklen_t	 relay_len;	/* 0 without relay_listen */
};

extern const struct conf_entry settings_table[];

/* Defaults, then path (whose keys are checked there, each error with its
 * line); then the keys that must be set; then the defaults that depend on
 * others (node_name: the host name; relay_endpoint: relay_listen, else
 * listen), so that both are never empty after it; then listen_addr,
 * stun_addr and relay_addr. -1 and *cause. */
int	 settings_load(struct settings *, const char *path, char **cause);
/* Every check of the table (forms, discovery_bucket >= max_batch ...)
 * and the keys that must be set, without lines. -1 and *cause. */
int	 settings_check(const struct settings *, char **cause);
/* listen, stun_listen and relay_listen: IPV4:PORT or [IPV6]:PORT, port
 * 1..65535. -1 and *why. */
int	 settings_sockaddr(const char *, struct sockaddr_storage *,
	    socklen_t *, char **why);
/* HOST:PORT, port 1..65535; HOST an IPv4 address, an IPv6 one (bare or
 * in brackets, which are dropped) or a host name. Caller frees *host.
 * -1 and *why, which names form as the one wanted. */
int	 settings_hostport(const char *, const char *form, char **host,
	    int *port, char **why);
/* metrics_listen: PORT (*host is then 127.0.0.1) or HOST:PORT. Caller
 * frees *host. -1 and *why. */
int	 settings_metrics_addr(const char *, char **host, int *port,
	    char **why);
void	 settings_free(struct settings *);
/* node_name's default: a copy of host (the host name) when it is 1..64 of
 * [A-Za-z0-9._-]; else NULL and *why, which tells the operator to set
 * node_name. */
char	*settings_node_default(const char *host, char **why);
/* The file of a path setting: a path, or "credential:NAME", which is
 * NAME in $CREDENTIALS_DIRECTORY (systemd's LoadCredential=), or, when
 * that is not set (an operator's shell), NAME beside the configuration
 * file. Caller frees; NULL and *cause. */
char	*settings_path(const struct settings *, const char *value,
	    char **cause);

/* ---- table.c: hash table from fixed-size keys to pointers -------------- */

#define TABLE_KEY_MAX	32

struct table;

/* Keys are klen bytes (at most TABLE_KEY_MAX), hashed with a random
 * SipHash key so that peers cannot aim for collisions. */
struct table	*table_new(size_t klen);
void		 table_free(struct table *);
void		*table_get(struct table *, const uint8_t *key);
/* Insert or replace; the key is copied. */
void		 table_set(struct table *, const uint8_t *key, void *value);
/* Remove and return the value, or NULL. */
void		*table_del(struct table *, const uint8_t *key);
size_t		 table_count(struct table *);
/* Call fn for every entry; fn may delete the entry it is given. */
void		 table_each(struct table *,
		    void (*fn)(const uint8_t *key, void *value, void *arg),
		    void *arg);

/* ---- ratelimit.c: fixed windows and budgets, pure arithmetic ------------ */

/* A count within a fixed window (an hour number, a minute number ...). */
struct rlwin {
	uint64_t	 window;
	long long	 count;
};

/* A token bucket (zeroed: full). Only ratelimit.c reads its fields. */
struct rlbucket {
	uint64_t	 at_ms;		/* last refill; 0: never used */
	uint64_t	 level;		/* tokens x period_ms */
};

/* What a bucket gains and holds: rate tokens per period_ms, continuously,
 * at most burst. */
struct rlrate {
	uint64_t	 rate;
	uint64_t	 period_ms;
	uint64_t	 burst;
};

/* Set r (values below 1 count as 1). */
void	 rl_rate_set(struct rlrate *, long long rate, uint64_t period_ms,
	    long long burst);
/* Refill b to now_ms (a clock gone back refills nothing), then: the whole
 * tokens it holds; whether it is full; whether it holds n; take n (0, or
 * -1 with nothing taken). */
uint64_t rl_tokens(struct rlbucket *, const struct rlrate *, uint64_t now_ms);
int	 rl_full(struct rlbucket *, const struct rlrate *, uint64_t now_ms);
int	 rl_has(struct rlbucket *, const struct rlrate *, uint64_t now_ms,
	    uint64_t n);
int	 rl_take(struct rlbucket *, const struct rlrate *, uint64_t now_ms,
	    uint64_t n);
/* Seconds after the last refill until b holds n (0 if it does, else at
 * least 1); n above the burst: until full. */
uint64_t rl_wait_s(const struct rlbucket *, const struct rlrate *,
	    uint64_t n);
/* The burst of a code budget of per_hour tokens an hour. */
long long rl_code_burst(long long per_hour);

/* The key of an address for per-address limits: an IPv4 address (also
 * when IPv4-mapped), or the /64 of an IPv6 one. */
void	 rl_addr_key(const struct sockaddr *, uint8_t key[16]);
/* The key of its prefix: IPv4 /24, IPv6 /48; never equal to an address
 * key, so both may share a table. */
void	 rl_prefix_key(const struct sockaddr *, uint8_t key[16]);
/* Count one hit in window w; 0 if within limit, else -1 (still counted). */
int	 rl_hit(struct rlwin *, uint64_t window, long long limit);
/* The §5.3 discovery bucket: with tokens left at refill day `day`,
 * now in seconds. Fills *tokens to what it holds now. */
long long rl_bucket_now(long long tokens, uint64_t day, uint64_t now,
	    long long full, long long refill);
/* §5.3's retry_after_s for a batch of count refused with tokens now. */
uint64_t rl_bucket_retry(long long count, long long tokens, uint64_t now,
	    long long refill);
/* Seconds from now (Unix time) to the next 00:00 UTC, 1 to 86400: the
 * retry_after_s of a budget of the UTC day. */
uint64_t rl_day_left_s(uint64_t now);

/* What one relay session knows of a party's relay_account_daily_bytes
 * (relay.c): its account's count in Redis, rl:relay:{HEXID}:DAY, and the
 * bytes not yet added to it. Zeroed: nothing known. */
struct rlspend {
	uint64_t	 day;		/* of known (Unix time div 86400) */
	uint64_t	 known;		/* the count Redis last gave */
	uint64_t	 flushing;	/* in an INCRBY not answered yet */
	uint64_t	 unflushed;	/* sent by the party, not yet counted */
};

/* Redis gave total as the count of day. */
void	 rl_spend_seen(struct rlspend *, uint64_t day, uint64_t total);
/* Bytes the party may still send on day under budget (0: spent). */
uint64_t rl_spend_left(const struct rlspend *, uint64_t day,
	    uint64_t budget);
/* The party sent n bytes. */
void	 rl_spend_add(struct rlspend *, uint64_t n);
/* Bytes to INCRBY now, counted as in flight (0: none): at the session's
 * end (last) all, else a batch of at least batch bytes when no INCRBY is
 * in flight. */
uint64_t rl_spend_flush(struct rlspend *, uint64_t batch, int last);
/* An INCRBY of n answered total for day (ok), or failed (the bytes are
 * unflushed again). */
void	 rl_spend_settle(struct rlspend *, uint64_t n, int ok, uint64_t day,
	    uint64_t total);

/* ---- trystd.c: the process ------------------------------------------- */

TAILQ_HEAD(connlist, conn);

/* Kinds of rate-limit hits, for /metrics. */
enum rl_kind {
	RL_CODE_IP,		/* codes_per_hour_per_ip */
	RL_CODE_PREFIX,		/* codes_per_hour_per_prefix */
	RL_CODE_SERVER,		/* codes_per_hour */
	RL_CODE_NUMBER,		/* code_requests_per_hour */
	RL_CODE_FAILURES,	/* code_failures_per_day */
	RL_DELIVERIES,		/* max_deliveries */
	RL_DISCOVERY,		/* the discovery bucket */
	RL_CONNECTS,		/* connects_per_minute */
	RL_CONNECTIONS,		/* max_connections */
	RL_CONNECTIONS_IP,	/* max_connections_per_ip */
	RL_RELAY_QUOTA,		/* relay_session_bytes */
	RL_RELAY_BUDGET,	/* relay_account_daily_bytes */
	RL_STUN,		/* a STUN source's bucket */
	RL_LOOKUPS,		/* lookups_per_minute */
	RL_NKINDS
};

#define ERR_MAX	ERR_QUOTA

/* Counters for /metrics: never an identifier in them. Outcome arrays are
 * indexed by error code, 0 for success. */
struct stats {
	uint64_t	 start_time;
	unsigned long long connections;
	unsigned long long handshakes;
	unsigned long long malformed;
	unsigned long long reg_begin[ERR_MAX + 1];
	unsigned long long reg_finish[ERR_MAX + 1];
	unsigned long long hello[ERR_MAX + 1];
	unsigned long long oprf_evals;
	unsigned long long lookups;
	unsigned long long intro_answered;
	unsigned long long intro_declined;
	unsigned long long intro_offline;
	unsigned long long intro_timeout;
	unsigned long long relay_sessions;
	unsigned long long relay_bytes;
	unsigned long long stun_requests;
	unsigned long long rate_limited[RL_NKINDS];
	unsigned long long redis_errors;
	unsigned long long redis_redirects;	/* MOVED and ASK followed */
	unsigned long long redis_refreshes;	/* cluster slot maps read */
	unsigned long long bus_sent;		/* messages to other nodes */
	unsigned long long bus_received;	/* messages from them */
	unsigned long long notify_dropped;	/* NOTIFY_SOCKET was full */
};

/* What notify.c remembers between datagrams. */
struct notify_state {
	unsigned long long outage;	/* drops since the last send went out */
	int		 ready_due;	/* READY=1 dropped: retried each second */
	int		 retrying;	/* that retry is armed */
};

/* All process state. */
struct server {
	struct settings	 set;
	const char	*conf_path;
	struct keys	*keys;
	struct credcache *credcache;	/* verified credentials (auth.c) */
	struct event_base *base;

	SSL_CTX		*ssl_ctx;
	uint8_t		 spki_hash[32];
	struct evconnlistener *listener;
	struct evconnlistener *relay_listener;	/* NULL without relay_listen */
	struct event	*listen_resume;
	int		 spare_fd;	/* closed to shed at EMFILE (accept.c) */
	int		 accept_warned;	/* out of descriptors, and logged */
	uint64_t	 accept_warned_at;

	struct connlist	 conns;		/* past their handshake, or dead */
	struct connlist	 waiting;	/* CONN_WAIT, oldest first */
	struct connlist	 handshaking;	/* CONN_TLS, oldest first */
	size_t		 nconns;	/* on the three lists */
	size_t		 conns_peak;	/* since the last heap trim */
	uint32_t	 conn_serial;	/* of the last connection accepted */
	struct table	*per_ip;	/* address key -> struct ipcount */
	struct table	*presence;	/* ID -> struct account_conns */

	/* REGISTER_BEGIN budgets, kept per node (register.c). */
	struct rlbucket	 codes_server;
	struct table	*codes_ip;	/* address, prefix key -> rlbucket */
	uint64_t	 codes_swept;	/* ms: full buckets last dropped */
	struct table	*discovery;	/* ID -> LOOKUP bucket, OPRF refusal */
	uint64_t	 discovery_swept;

	struct store	*store;
	struct deliver	*deliver;
	struct stun	*stun;		/* NULL without stun_listen */
	struct callbook	*calls;
	struct table	*connects;	/* ID -> struct rlwin, per minute */
	struct bus	*bus;		/* calls with other nodes (bus.c) */
	struct rlbucket	 relay_bucket;	/* relay_node_rate_bps */
	uint64_t	 connects_minute;
	struct event	*second;	/* once a second: call timeouts */
	struct workers	*workers;
	struct metrics	*metrics;	/* NULL without metrics_listen */

	struct event	*sigint, *sigterm, *sighup, *sigchld;
	struct event	*tick;		/* once a minute */
	struct event	*drain;		/* shutting down: all gone yet? */
	struct event	*watchdog;	/* WATCHDOG=1 */
	int		 ready;		/* READY=1 sent */
	struct notify_state notify;
	int		 stopping;
	struct stats	 stats;
	uint8_t		 frame[PROTO_MAX_FRAME];	/* frame being handled */
	uint8_t		 out[PROTO_MAX_FRAME];		/* frame being sent */
};

/* Redis is connected (READY=1 once listening too). */
void	 server_storage_up(struct server *);

/* ---- clock.c: the wall clock, once per pass of the loop ---------------- */

/* Read the time of base's passes; add TRYST_CLOCK_SHIFT_S (tests). -1 and
 * *cause when that is set but not valid. */
int	 clock_init(struct event_base *, char **cause);
/* Signed decimal seconds, at most a year either way. -1 if not. */
int	 clock_parse_shift(const char *, long long *secs);
/* Wall clock in milliseconds and seconds, as read at the start of this
 * pass of the loop (before clock_init: read now), shifted. */
uint64_t server_now_ms(void);
uint64_t server_now(void);
/* Tests only (tests/fuzz/fuzz-server.c): move the clock by ms from now
 * on, in-process, as TRYST_CLOCK_SHIFT_S does at start. */
void	 clock_shift_add(int64_t ms);

/* ---- tls.c: the TLS context -------------------------------------------- */

/* TLS 1.3 only, ALPN tryst/2 or tryst/1 required, no resumption. NULL
 * and *cause. */
SSL_CTX	*tls_ctx_new(const char *cert, const char *key,
	    uint8_t spki_hash[32], char **cause);
/* The same from a configuration (paths or credential:NAME). */
SSL_CTX	*tls_ctx_load(const struct settings *, uint8_t spki_hash[32],
	    char **cause);
/* The protocol version a finished handshake agreed: 2 (tryst/2) or 1. */
int	 tls_version(SSL *);

/* ---- accept.c: the TLS listener and its limits ------------------------ */

/* Bind listen (SO_REUSEPORT: nodes on one host may share it) and
 * relay_listen if set (not shared: this node's own), whose connections
 * are control connections like any other, marked relay_listener. On
 * both, past max_connections_per_ip a new connection is closed; past
 * max_connections it sheds the oldest in CONN_WAIT, else in CONN_TLS, or
 * is closed when none is. -1 and *cause. */
int	 accept_listen(struct server *, char **cause);
/* Close both (shutting down): new connections to a shared listen go to
 * the other nodes at once. */
void	 accept_stop(struct server *);
/* Close both and what accepting holds; harmless before accept_listen. */
void	 accept_free(struct server *);
/* A connection was freed: forget it in its address's count and the
 * total; once the total falls to half its peak, trim the heap. */
void	 accept_gone(struct server *, const uint8_t key[16]);

/* ---- conn.c: connections, output, timeouts ---------------------------- */

/* The states of a connection. conn_set_state is the only writer of
 * c->state and checks each change against conn.c's table; frames.c's
 * table says which messages each state accepts. */
enum conn_state {
	CONN_WAIT,		/* accepted, nothing read: no TLS object yet */
	CONN_TLS,		/* handshake under way */
	CONN_CHALLENGED,	/* CHALLENGE sent, no frame read yet */
	CONN_ANON,		/* a frame read: anonymous_lifetime_s runs */
	CONN_ONLINE,		/* HELLO succeeded */
	CONN_DELETING,		/* online, its DELETE_ACCOUNT under way: it
				 * gets DELETED, not GOAWAY revoked */
	CONN_RELAY,		/* RELAY_JOIN: waiting, then raw bytes */
	CONN_DEAD,		/* killed; output draining */
	CONN_NSTATES
};

/* A set of states, as a bit mask. */
#define CONN_MASK(s)	(1U << (s))

/* One client connection. Kept small: it exists 100k times. */
struct conn {
	struct server	*srv;
	struct bufferevent *bev;
	struct event	*timer;
	TAILQ_ENTRY(conn) entry;
	struct conn	*id_next;	/* online conns of one ID */
	struct party	*party;		/* its calls, once it has any */
	struct call	*call;		/* relay data conn: its session */

	enum conn_state	 state;		/* written by conn_set_state only */
	unsigned	 busy:1;	/* waiting for storage or delivery */
	unsigned	 presence:1;
	unsigned	 freeing:1;	/* dead and drained: free once unref'd */
	unsigned	 slow:1;	/* output over max_output_bytes */
	unsigned	 relay_side:1;	/* 0 caller, 1 callee */
	unsigned	 v2:1;		/* ALPN tryst/2 */
	unsigned	 relay_listener:1; /* accepted on relay_listen */
	uint8_t		 nframes;	/* frames read, saturating */
	int		 refs;		/* asynchronous work holding c */
	uint32_t	 serial;	/* its number in the debug log */

	uint64_t	 accepted;	/* seconds */
	uint64_t	 last_rx;	/* seconds */
	uint64_t	 seen_day;	/* day of the last seen write */
	uint64_t	 created;	/* of the account, when online */

	union {				/* the peer; 28 bytes, not 128 */
		struct sockaddr		sa;
		struct sockaddr_in	sin;
		struct sockaddr_in6	sin6;
	} addr;
	uint8_t		 addrkey[16];	/* IPv4, or IPv6 /64 */
	uint8_t		 nonce[32];
	uint8_t		 id[ID_LEN];
	uint8_t		 cred[CRED_LEN];
};

/* A connection accepted from sa, counted against key: CONN_WAIT; it is
 * returned (it cannot have died yet). */
struct conn *conn_new(struct server *, evutil_socket_t,
	    const struct sockaddr *sa, socklen_t, const uint8_t key[16]);
/* Tests only (tests/fuzz/fuzz-server.c): a connection over bev, an already
 * connected bufferevent without TLS (a bufferevent_pair end), as if
 * accepted from sa and past its handshake: CHALLENGE goes out at once.
 * c owns bev. Not counted in per_ip (the caller may). */
struct conn *conn_adopt(struct server *, struct bufferevent *bev,
	    const struct sockaddr *sa, socklen_t);
/* Move c to a new state; a change conn.c's table does not allow is logged
 * and kills c instead. May kill c (never frees it). */
void	 conn_set_state(struct conn *, enum conn_state);
/* Send a message. On a full output buffer the client is a slow reader and
 * is killed. */
void	 conn_send(struct conn *, const struct msg *);
/* Send ERROR for a request of type ref_type. */
void	 conn_error(struct conn *, uint8_t ref_type, uint64_t ref,
	    uint16_t code, uint32_t retry_after_s, const char *message);
void	 conn_goaway(struct conn *, uint8_t reason, uint32_t after_s);
/* End a connection: stop reading, let output drain, free later. */
void	 conn_kill(struct conn *, const char *reason);
/* Take and drop a reference for asynchronous work. conn_unref may free
 * c: do not touch it after. Returns 1 if c is still usable (alive). */
void	 conn_ref(struct conn *);
int	 conn_unref(struct conn *);
/* Hold c for asynchronous work on its request (no frame is read
 * meanwhile); release it when answered. conn_release may free c; it
 * returns 1 if c is alive. */
void	 conn_hold(struct conn *);
int	 conn_release(struct conn *);
/* A request's state while Redis or a worker answers: conn_req_new holds
 * c; conn_req_end wipes and frees r and releases c (may free c; 1 if c is
 * alive); conn_req_fail sends ERROR first. */
void	*conn_req_new(struct conn *, size_t);
int	 conn_req_end(struct conn *, void *r, size_t);
void	 conn_req_fail(struct conn *, uint8_t type, void *r, size_t,
	    uint16_t code, uint32_t retry_after_s, const char *message);
/* The request in progress has been answered: read the next frame. */
void	 conn_done(struct conn *);
/* Arm c's timer (what it does depends on c's state). */
void	 conn_timer_in(struct conn *, uint64_t secs);
/* Online now: the timer measures silence. */
void	 conn_idle_timer(struct conn *);
/* Close every connection with GOAWAY (shutdown). */
void	 conn_shutdown_all(struct server *);
/* Once a second: idle and lifetime checks live in each conn's timer;
 * this writes the daily seen of long-lived connections. */
void	 conn_tick(struct server *);

/* ---- frames.c: reading frames ----------------------------------------- */

/* Take whole frames off c's input (a bounded number, then yield), check
 * each as §2 says and dispatch it. May kill c. */
void	 frames_process(struct conn *);

/* ---- register.c: REGISTER_BEGIN and REGISTER_FINISH -------------------- */

void	 register_begin(struct conn *, const struct msg *);
void	 register_finish(struct conn *, const struct msg *);
/* Whole tokens in this node's server-wide code bucket now. */
long long register_tokens(struct server *);

/* ---- auth.c: HELLO, DELETE_ACCOUNT, revocation ------------------------- */

void	 auth_hello(struct conn *, const struct msg *);
void	 auth_delete(struct conn *, const struct msg *);
/* Close online conns of id with created <= max_created (GOAWAY revoked). */
void	 auth_revoke_local(struct server *, const uint8_t id[ID_LEN],
	    uint64_t max_created);
/* Write today's seen for an online conn (daily, long-lived conns). */
void	 auth_touch_seen(struct conn *);

/* ---- credcache.c: credentials whose signature verified, pure ---------- */

#define CREDCACHE_SLOTS	4096	/* entries, a power of two: memory bound */

struct credcache;
/* An empty cache. Free with credcache_free. */
struct credcache *credcache_new(void);
void	 credcache_free(struct credcache *);
/* Forget every credential. */
void	 credcache_clear(struct credcache *);
/* cred_verify (PROTOCOL.md §5.2, HELLO step 1) with a memory: 0 and *c
 * (c may be NULL) when p, len bytes, is a credential signed with
 * sign_pk, as checked now or at an earlier call with the same bytes and
 * key; else -1. Only what verified is remembered; a call with another
 * sign_pk forgets everything first. Does not look at the time. */
int	 credcache_verify(struct credcache *, const uint8_t *p, size_t len,
	    const uint8_t sign_pk[32], struct cred *c);
/* Lookups answered from memory, and the others, since the cache began. */
void	 credcache_counts(const struct credcache *, unsigned long long *hits,
	    unsigned long long *misses);

/* ---- presence.c: who is online ----------------------------------------- */

/* Add an online conn of c->id; with presence, replace the older presence
 * conn (GOAWAY replaced). -1 if max_connections_per_account is reached. */
int	 presence_add(struct server *, struct conn *, int presence);
void	 presence_remove(struct server *, struct conn *);
/* The presence conn of id, or NULL. */
struct conn *presence_find(struct server *, const uint8_t id[ID_LEN]);
/* First online conn of id (chain through id_next), or NULL. */
struct conn *presence_conns(struct server *, const uint8_t id[ID_LEN]);

/* ---- keyspace.c: Redis key names and address ------------------------- */

/* The account key "acct:{hex}" of an ID, into buf of 72 bytes. */
void		 keyspace_acct(char *buf, const uint8_t id[ID_LEN]);
/* A Lua script: KEYS[1] an account; ARGV created, seen, expiry, then the
 * publish command (PUBLISH or SPUBLISH), the ID's channel and the
 * revocation. Writes the account and revokes the ID's older connections
 * on every node in one step; returns 1. */
extern const char keyspace_put_lua[];
/* A Lua script: KEYS[1] an account, ARGV its created, then the publish
 * command (PUBLISH or SPUBLISH), the ID's channel and the revocation.
 * Deletes the account and publishes the revocation only while the
 * account is that registration (1), so that a deletion racing a
 * re-registration never removes the new one (0). */
extern const char keyspace_delete_lua[];
/* "tryst:id:{hex}", the channel of an ID (doc/protocol.md §7), into buf
 * of 80 bytes; its hash tag puts it in the slot of the ID's account. */
void		 keyspace_channel(char *buf, const uint8_t id[ID_LEN]);
/* The ID of such a channel name of len bytes: 0, or -1. */
int		 keyspace_channel_id(const char *, size_t len,
		    uint8_t id[ID_LEN]);
/* "tryst:node:{name}", the channel of a node, into buf of size bytes. */
void		 keyspace_node_channel(char *buf, size_t size,
		    const char *node);
/* A revocation of the ID's connections of created <= max: "R" and max in
 * decimal, into buf of 24 bytes; and its parser (0 and *max, or -1). */
void		 keyspace_revoke_msg(char *buf, uint64_t max);
int		 keyspace_revoke_parse(const char *, size_t len,
		    uint64_t *max);
/* Parse the redis key: HOST:PORT (as settings_hostport) or unix:/PATH
 * (absolute). Caller frees *host or *path. -1 and *why. */
int		 keyspace_redis_parse(const char *, char **host, int *port,
		    char **path, char **why);
/* The same, without a reason. */
int		 keyspace_redis_addr(const char *, char **host, int *port,
		    char **path);
/* The password in redis_password_file, without its line end: 0 and *pw
 * (the caller zeroes and frees it; NULL when no file is set), or -1 and
 * *cause. */
int		 keyspace_password(const struct settings *, char **pw,
		    char **cause);

/* ---- store.c: the data layer's typed operations ----------------------- */

/*
 * Handlers ask for what they need (an account, a count, a charge) and get
 * a result; they never see a command, a key or a reply. store.c keeps the
 * key names, the Lua scripts and the reply parsing, over the Redis
 * connection of redis.c; tests/fuzz/store-mem.c answers the same calls
 * from memory. Every operation either returns -1 at once (storage is not
 * usable now; done is not called) or returns 0 and calls done exactly
 * once, later, never from inside the call: with ok 0 when storage went
 * away meanwhile. Times are seconds of the server's clock (server_now);
 * an "expires" is an absolute time, as §7 states expiries.
 */
struct store_result {
	int		 ok;		/* 0: storage unavailable */
	long long	 v[2];		/* the operation's figures (below) */
	const uint8_t	*exists;	/* store_lookup: one byte an ID */
};

typedef void (*store_done)(struct server *, const struct store_result *,
	    void *arg);

struct store	*store_new(struct server *, char **cause);
void		 store_free(struct store *);
/* 1 while operations can be sent. */
int		 store_up(struct store *);
/* Seconds a client should wait while storage is down. */
uint32_t	 store_retry_after(struct store *);

/* REGISTER_BEGIN: count one code request of id in its clock hour (the
 * count expires at hour_end) and read its wrong codes of day. v[0] the
 * hour's requests with this one, v[1] the day's wrong codes. */
int	 store_code_request(struct store *, const uint8_t id[ID_LEN],
	    uint64_t hour, uint64_t hour_end, uint64_t day, store_done,
	    void *);
/* REGISTER_FINISH, in one atomic step: count an attempt on the token
 * nonce (the count expires at token_end) and, when wrong and neither the
 * token's attempts nor the day's wrong codes are spent, a wrong code of
 * id on day (expires at day_end). v[0] the token's attempts with this
 * one, v[1] the day's wrong codes before this one. */
int	 store_code_attempt(struct store *, const uint8_t nonce[TOKEN_NONCE],
	    uint64_t token_end, const uint8_t id[ID_LEN], uint64_t day,
	    uint64_t day_end, long long max_attempts, long long max_failures,
	    int wrong, store_done, void *);
/* Mark the token nonce used, keeping its expiry. v[0] 1 if it had been
 * used before. */
int	 store_token_use(struct store *, const uint8_t id[ID_LEN],
	    const uint8_t nonce[TOKEN_NONCE],
	    store_done, void *);
/* The account of id. v[0] its created (0: no account), v[1] its seen. */
int	 store_account_get(struct store *, const uint8_t id[ID_LEN],
	    store_done, void *);
/* Write the account of id (created, seen, expiry), replacing any, and
 * revoke, on every node, the ID's connections of created - 1 and older,
 * in one step. */
int	 store_account_put(struct store *, const uint8_t id[ID_LEN],
	    uint64_t created, uint64_t seen, uint64_t expires, store_done,
	    void *);
/* Write seen (a UTC day, as the time it starts) and the expiry into the
 * account of id, if it exists and was not seen that day. Nothing is
 * called back; -1 when nothing could be sent. */
int	 store_account_seen(struct store *, const uint8_t id[ID_LEN],
	    uint64_t seen, uint64_t expires);
/* Delete the account of id, and revoke its connections on every node,
 * only while its created is created. v[0] 1 if deleted, 0 if it was
 * another registration (or none). */
int	 store_account_delete(struct store *, const uint8_t id[ID_LEN],
	    uint64_t created, store_done, void *);
/* Take count tokens from id's discovery bucket (full tokens, refill a
 * day, counted in days). v[0] 1 if taken, 0 if refused; v[1] the tokens
 * left, or those it holds when refused. */
int	 store_discovery_charge(struct store *, const uint8_t id[ID_LEN],
	    long long full, long long refill, uint64_t today, long long count,
	    store_done, void *);
/* The bytes id sent through relays on UTC day (v[0]; 0 if none). */
int	 store_relay_spent(struct store *, const uint8_t id[ID_LEN],
	    uint64_t day, store_done, void *);
/* Add n to them, the key expiring at the day's end; v[0] the new count.
 * done NULL: no answer wanted. */
int	 store_relay_charge(struct store *, const uint8_t id[ID_LEN],
	    uint64_t day, uint64_t n, store_done, void *);
/* Which of n IDs (n * ID_LEN bytes) have accounts: exists[i] 0 or 1. */
int	 store_lookup(struct store *, const uint8_t *ids, size_t n,
	    store_done, void *);
/* Publish payload (len bytes) to the nodes where id is online, or to the
 * node called node: done (NULL: none) gets v[0], the number of nodes
 * that received it (0: nobody listens). */
int	 store_publish_id(struct store *, const uint8_t id[ID_LEN],
	    const void *payload, size_t len, store_done, void *);
int	 store_publish_node(struct store *, const char *node,
	    const void *payload, size_t len, store_done, void *);
/* Listen for what is published to id, or stop; idempotent. Revocations
 * of id close its connections here (auth_revoke_local); other nodes'
 * messages go to bus_receive. */
void	 store_subscribe(struct store *, const uint8_t id[ID_LEN]);
void	 store_unsubscribe(struct store *, const uint8_t id[ID_LEN]);
/* Channels listened on now. */
size_t	 store_subscriptions(struct store *);

/* ---- the Redis backends (store.c only): redis.c and cluster.c ---------- */

/*
 * Two implementations of one interface, chosen by the redis setting:
 * redis_ops for a standalone Redis (HOST:PORT or unix:/PATH), cluster_ops
 * for a Redis Cluster (cluster:HOST:PORT[,HOST:PORT...], seed nodes).
 * Both run on the server's loop with the redis_user and
 * redis_password_file settings (AUTH), probe with PING, reconnect with
 * back-off, open close-on-exec sockets, count failures in
 * stats.redis_errors, and call server_storage_up when commands can be
 * sent again. Only store.c calls them: what commands mean is its
 * business.
 *
 * Every command store.c sends is one command whose keys all hash to the
 * slot of the key it names (a single-key command, or EVAL whose KEYS and
 * channels share one {hash tag}); the cluster backend routes it to the
 * primary of that slot, follows MOVED and ASK, and refreshes its slot map
 * on redirects, lost primaries and periodically.
 */

/* A command's reply, or NULL when it cannot come (connection lost,
 * backend closed, too many redirects). */
typedef void (*redis_cb)(struct redisReply *, void *arg);
/* A message on a subscribed channel (both NUL-terminated at their len). */
typedef void (*redis_msg_cb)(const char *channel, size_t chanlen,
	    const char *msg, size_t len, void *arg);

struct redis_ops {
	const char	*name;		/* "redis", "cluster" */
	/* The command that publishes to the channels subscribe() listens
	 * on: "PUBLISH" (standalone) or "SPUBLISH" (cluster). */
	const char	*publish;
	/* Start connecting; messages of subscribed channels go to msg_cb.
	 * NULL and *cause when the settings cannot work. */
	void		*(*open)(struct server *, redis_msg_cb msg_cb,
			    void *msg_arg, char **cause);
	/* Disconnect; callbacks in flight get NULL replies. */
	void		 (*close)(void *);
	/* 1 while commands can be sent. */
	int		 (*up)(void *);
	/* Seconds a client should wait while storage is down. */
	uint32_t	 (*retry_after)(void *);
	/* Send one command whose keys hash to key's slot: 0, and cb (NULL:
	 * none) gets the reply later, never from inside this call; or -1,
	 * nothing sent and cb never called. argvlen NULL: C strings. */
	int		 (*cmd)(void *, const char *key, redis_cb cb,
			    void *arg, int argc, const char **argv,
			    const size_t *argvlen);
	/* Listen on channel from now on, across reconnections, failovers
	 * and slot moves, until unsubscribe. Both are idempotent and never
	 * fail: while disconnected, the backend subscribes when back. */
	void		 (*subscribe)(void *, const char *channel);
	void		 (*unsubscribe)(void *, const char *channel);
	/* Channels subscribed now (for /metrics). */
	size_t		 (*subscriptions)(void *);
};

extern const struct redis_ops redis_ops;	/* redis.c */
extern const struct redis_ops cluster_ops;	/* cluster.c */

/* ---- pubsub.c: the sharded channels of cluster.c ---------------------- */

struct pubsub;

/* What the channels ask of cluster.c. */
struct pubsub_owner {
	/* The primary of slot: 0 and its address, or -1 if none known. */
	int	(*owner)(void *arg, unsigned slot, const char **host,
		    int *port);
	/* A node answered MOVED: slot is served at host:port. */
	void	(*moved)(void *arg, unsigned slot, const char *host,
		    int port);
	/* A link failed or a slot moved: read the slot map again soon. */
	void	(*refresh)(void *arg);
};

/* Messages go to msg_cb; user and password (NULL: none) are kept, not
 * copied. */
struct pubsub	*pubsub_new(struct server *, const char *user,
		    const char *password, redis_msg_cb msg_cb, void *msg_arg,
		    const struct pubsub_owner *, void *owner_arg);
/* Close every link; no callback after this. */
void		 pubsub_free(struct pubsub *);
/* Keep or forget a channel (idempotent); SSUBSCRIBE on its primary. */
void		 pubsub_subscribe(struct pubsub *, const char *channel);
void		 pubsub_unsubscribe(struct pubsub *, const char *channel);
size_t		 pubsub_count(struct pubsub *);
/* The slot map changed: place every channel on its primary. */
void		 pubsub_sync(struct pubsub *);
/* Once a second: PING the links, close the silent ones. */
void		 pubsub_probe(struct pubsub *);

/* ---- redisconn.c: opening connections to Redis (the backends) --------- */

/* Where a connection goes, and as whom. */
struct redisconn {
	const char	*host;		/* with port, unless path is set */
	int		 port;
	const char	*path;		/* a Unix socket, or NULL */
	const char	*user;		/* "": AUTH with the password alone */
	const char	*password;	/* NULL: no AUTH */
};

/* The callbacks of an async context; auth and ping get its data. */
struct redisconn_cbs {
	void	(*connected)(const struct redisAsyncContext *, int status);
	void	(*disconnected)(const struct redisAsyncContext *, int status);
	void	(*auth)(struct redisAsyncContext *, void *reply, void *data);
	void	(*ping)(struct redisAsyncContext *, void *reply, void *data);
};

/* Start connecting an async context to to on base: its socket
 * close-on-exec, data and cbs set, AUTH (when to has a password) and PING
 * queued. NULL and err (errlen bytes) when hiredis failed at once. */
struct redisAsyncContext *redisconn_async(struct event_base *base,
		    const struct redisconn *to, const struct redisconn_cbs *,
		    void *data, char *err, size_t errlen);
/* Start connecting a non-blocking context to to's host:port (path is
 * not used): close-on-exec, AUTH queued in its output buffer. When c->err
 * is set nothing is queued. Caller frees with redisFree. */
struct redisContext *redisconn_nonblock(const struct redisconn *to);

/* ---- slot.c: Redis Cluster slots and replies, pure -------------------- */

#define SLOT_COUNT	16384
#define SLOT_NONE	0xffff		/* slotmap.owner: no primary known */
#define SLOT_SEEDS_MAX	16

struct slot_addr {
	char		*host;
	int		 port;
};

/* Which primary serves each slot: owner[] indexes nodes (distinct). A
 * zeroed map must be slot_map_clear'ed before use. */
struct slotmap {
	struct slot_addr *nodes;
	size_t		 nnodes;
	uint16_t	 owner[SLOT_COUNT];
};

/* The slot of a key of len bytes, as CLUSTER KEYSLOT says: the CRC16 of
 * its hash tag (between its first "{" and the next "}") when that is not
 * empty, else of the whole key. */
unsigned	 slot_of(const char *key, size_t len);
/* 1 if the redis setting starts with "cluster:". */
int		 slot_is_cluster(const char *);
/* The seeds of "cluster:HOST:PORT[,HOST:PORT...]" (HOST as
 * settings_hostport takes it; 1..SLOT_SEEDS_MAX of them). Caller frees
 * with slot_addrs_free. -1 and *why. */
int		 slot_parse_seeds(const char *, struct slot_addr **,
		    size_t *n, char **why);
void		 slot_addrs_free(struct slot_addr *, size_t n);
/* Fill a map from a CLUSTER SHARDS (Redis 7) or CLUSTER SLOTS reply;
 * host: the node asked, for endpoints given as "". Slots the reply does
 * not give a primary are SLOT_NONE. 0, or -1 and *why (map empty). */
int		 slot_map_shards(struct slotmap *, const struct redisReply *,
		    const char *host, char **why);
int		 slot_map_slots(struct slotmap *, const struct redisReply *,
		    const char *host, char **why);
/* Free the nodes; every slot SLOT_NONE. */
void		 slot_map_clear(struct slotmap *);
/* 1 if every slot has a primary. */
int		 slot_map_full(const struct slotmap *);
/* An error reply "MOVED SLOT HOST:PORT" (*ask 0) or "ASK SLOT HOST:PORT"
 * (*ask 1), without its "-": 0 and *host (caller frees; "" when the
 * error names none: the node that answered), or -1. */
int		 slot_redirect(const char *err, size_t len, int *ask,
		    unsigned *slot, char **host, int *port);
/* A node of the cluster, as CLUSTER NODES lists it. */
struct slot_node {
	char		*host;
	int		 port;
	int		 primary;	/* flag "master" */
	int		 up;		/* no fail, fail?, handshake, noaddr */
	int		 slots;		/* lists slots it serves */
};
/* The nodes of a CLUSTER NODES reply (text of len bytes), primaries and
 * replicas in its order; asked: the node asked, for an empty address.
 * 0 and *out (free with slot_nodes_free), or -1 and *why. */
int		 slot_nodes_parse(const char *text, size_t len,
		    const char *asked, struct slot_node **out, size_t *n,
		    char **why);
void		 slot_nodes_free(struct slot_node *, size_t n);

/* ---- ctlredis.c: trystctl's synchronous Redis -------------------------- */

struct ctlredis;

/* A node for ctlredis_each: rc NULL (and why) when it cannot be reached.
 * name: "HOST:PORT (primary)", "HOST:PORT (replica)" or the redis
 * setting. Nonzero: this node failed (the walk goes on). */
typedef int (*ctlredis_node_fn)(struct redisContext *rc, const char *name,
		    const char *why, void *arg);

/* Connect (and AUTH) to the redis setting's Redis, or to the first seed of
 * a cluster that answers. NULL and *cause. */
struct ctlredis	*ctlredis_open(const struct settings *, char **cause);
void		 ctlredis_close(struct ctlredis *);
/* "PUBLISH", or "SPUBLISH" on a cluster (keyspace_delete_lua's ARGV). */
const char	*ctlredis_publish(const struct ctlredis *);
/* A command whose keys share one slot, on a cluster sent where MOVED and
 * ASK say (at most 5 redirects): its reply, an error reply included
 * (caller frees), or NULL and *cause (connection lost, or redirected
 * too often). */
struct redisReply *ctlredis_vcommand(struct ctlredis *, char **cause,
		    const char *fmt, va_list);
/* fn for the standalone Redis, or for every primary of a cluster (with
 * replicas: every node) that CLUSTER NODES lists, those down included
 * (rc NULL) unless they failed and serve no slot. -1 and *cause if any
 * fn failed or the nodes could not be read. */
int		 ctlredis_each(struct ctlredis *, int replicas,
		    ctlredis_node_fn fn, void *arg, char **cause);

/* ---- deliver.c: handing codes to the verification transport ------------ */

/* socket:PATH: PATH fits a Unix socket address (sun_path). */
#define DELIVER_PATH_MAX	108

typedef void (*deliver_cb)(struct server *, int ok, void *arg);

struct deliver	*deliver_new(struct server *);
void		 deliver_free(struct deliver *);
/* Hand number and code to the transport; cb is called once, later (never
 * from inside this call). -1 when max_deliveries are running. */
int		 deliver_send(struct deliver *, const char *number,
		    const char *code, deliver_cb cb, void *arg);
/* SIGCHLD: reap children. */
void		 deliver_reap(struct deliver *);

/* ---- gateway.c: running the gateway program (trystd, trystd-deliver) --- */

#define GATEWAY_TIMEOUT_S	10	/* then killed, with what it started */

/* ok: the program exited 0 within its time. */
typedef void (*gateway_cb)(int ok, void *arg);

/* keep_creds: pass $CREDENTIALS_DIRECTORY on (trystd-deliver's holds only
 * the gateway's token); otherwise it is dropped with the other variables
 * of the service manager. */
struct gateway	*gateway_new(struct event_base *, int keep_creds);
/* Kill running programs; their callbacks are told they failed. */
void		 gateway_free(struct gateway *);
/* Run program with TRYST_NUMBER and TRYST_CODE in its environment and
 * only its standard streams open; cb is called once, later, from the
 * loop. -1, and no callback, when it could not be started. */
int		 gateway_run(struct gateway *, const char *program,
		    const char *number, const char *code, gateway_cb cb,
		    void *arg);
/* SIGCHLD: collect exited programs. */
void		 gateway_reap(struct gateway *);

/* ---- workers.c: threads for CPU-heavy batches ------------------------- */

typedef void (*work_fn)(void *arg);			/* on a thread */
typedef void (*done_fn)(struct server *, void *arg);	/* on the loop */

struct workers	*workers_new(struct server *, int n);
void		 workers_submit(struct workers *, work_fn, done_fn, void *);
void		 workers_free(struct workers *);

/* ---- discovery.c: OPRF_EVAL and LOOKUP --------------------------------- */

void	 discovery_oprf(struct conn *, const struct msg *);
void	 discovery_lookup(struct conn *, const struct msg *);
/* Free what discovery keeps per account on this node (at exit). */
void	 discovery_free(struct server *);

/* ---- calls.c: ringing calls and sessions (§5.4), pure bookkeeping ------ */

enum call_state {
	CALL_RINGING,
	CALL_SESSION,
};

/* What the book tells its owner to send. */
enum call_note {
	NOTE_INCOMING,		/* to the callee; data = offer */
	NOTE_ANSWER,		/* to the caller; data = answer */
	NOTE_DECLINED,		/* to the caller; detail = reason */
	NOTE_ENDED,		/* detail = why */
	NOTE_ERROR,		/* detail = code; ref is tag or session */
	NOTE_GONE,		/* to nobody: the call is about to be freed */
};

struct call;
LIST_HEAD(calllist, call);
TAILQ_HEAD(callq, call);

/* One control connection's part in calls. */
struct party {
	void		*owner;		/* the conn; bus.c's, when remote */
	int		 remote;	/* stands in for a party elsewhere */
	uint8_t		 id[ID_LEN];
	int		 pending;	/* ringing calls it made */
	int		 sessions;	/* sessions it is in */
	int		 probing;	/* pending: other nodes still asked */
	struct calllist	 out;		/* calls it made */
	struct calllist	 in;		/* calls it received */
	uint64_t	 ended[8];	/* recent ended sessions */
	unsigned	 nended;
};

struct call {
	uint64_t	 session;
	uint32_t	 tag;
	enum call_state	 state;
	struct party	*caller;
	struct party	*callee;
	uint64_t	 deadline;	/* ringing: when it times out (ms) */
	uint8_t		 relay_token[2][16];	/* caller's, callee's */
	void		*relay[2];	/* the data conns (relay.c) */
	struct event	*refill;	/* the relay's rates: read again */
	uint64_t	 tokens;	/* bytes the relay may move now */
	uint64_t	 relayed;	/* bytes, both directions */
	struct rlspend	 spend[2];	/* the parties' daily budgets */
	int		 over_budget;	/* ended by a daily budget */
	int		 relay_ran;	/* RELAY_READY went out: no rejoin */
	int		 probing;	/* no node has rung the callee yet */
	LIST_ENTRY(call) out_entry;
	LIST_ENTRY(call) in_entry;
	TAILQ_ENTRY(call) ring_entry;
};

typedef void (*call_notify)(void *arg, struct call *, struct party *to,
	    enum call_note, int detail, const struct vb *data);

struct callbook;

struct callbook *calls_new(call_notify, void *arg,
	    void (*random)(void *, size_t));
void	 calls_free(struct callbook *);
/* Times are in one unit of the caller's choice (trystd: milliseconds). */
void	 calls_limits(struct callbook *, int max_pending, int max_sessions,
	    uint64_t timeout);
void	 calls_party_init(struct party *, void *owner,
	    const uint8_t id[ID_LEN]);
/* CONNECT. callee is the target's presence party, or NULL. 0, or the
 * error code for the caller (UNSUPPORTED, LIMIT, OFFLINE). */
int	 calls_connect(struct callbook *, struct party *caller, uint32_t tag,
	    const uint8_t target[ID_LEN], struct party *callee, uint64_t now,
	    const struct vb *offer);
/* ACCEPT, DECLINE, END: 0, an error code (NO_SESSION, LIMIT), or -1 when
 * the message crossed the call's end and is dropped silently. */
int	 calls_accept(struct callbook *, struct party *, uint64_t session,
	    const struct vb *answer);
int	 calls_decline(struct callbook *, struct party *, uint64_t session,
	    uint8_t reason);
int	 calls_end(struct callbook *, struct party *, uint64_t session);
/* The party's connection is going: end all its calls. */
void	 calls_leave(struct callbook *, struct party *);
/* Calls across nodes (bus.c): the mirror of another book's call, with
 * its session and relay tokens; a ringing call that cannot reach its
 * callee (the caller hears code); the end of a call by the party that p
 * stands in for, with ENDED's why there. */
int	 calls_ring(struct callbook *, struct party *caller,
	    struct party *callee, uint64_t session,
	    const uint8_t tokens[2][16], uint64_t now, const struct vb *offer);
int	 calls_refuse(struct callbook *, uint64_t session, int code);
int	 calls_confirm(struct callbook *, uint64_t session);
int	 calls_remote_end(struct callbook *, struct party *p,
	    uint64_t session, int why);
/* Ringing calls past their deadline time out. */
void	 calls_expire(struct callbook *, uint64_t now);
/* The relay quota of a session is reached: end it. */
void	 calls_quota(struct callbook *, struct call *);
struct call *calls_find(struct callbook *, uint64_t session);
size_t	 calls_count(struct callbook *);

/* ---- rendezvous.c: CONNECT, ACCEPT, DECLINE, END ---------------------- */

void	 rendezvous_init(struct server *);
void	 rendezvous_free(struct server *);
void	 rendezvous_connect(struct conn *, const struct msg *);
void	 rendezvous_accept(struct conn *, const struct msg *);
void	 rendezvous_decline(struct conn *, const struct msg *);
void	 rendezvous_end(struct conn *, const struct msg *);
/* c is going: end its calls, free its party. */
void	 rendezvous_leave(struct conn *);
/* Ring callee for the stand-in caller of another node's call (bus.c):
 * 0 or an error code. */
int	 rendezvous_mirror(struct server *, struct party *caller,
	    struct conn *callee, uint64_t session, const uint8_t tokens[2][16],
	    const struct vb *offer);
/* Once a second. */
void	 rendezvous_tick(struct server *);

/* ---- buswire.c: sealed messages between nodes (§9), pure ------------- */

#define NODE_NAME_MAX	64
#define BUS_SEALED_MAX	(PROTO_MAX_OFFER + 1024)

enum bus_type {
	BUS_RING = 1,		/* to the callee's ID: ring it */
	BUS_ANSWER,		/* to the caller's node: accepted */
	BUS_DECLINE,		/* to the caller's node: declined, code */
	BUS_END,		/* either way: ended, code is ENDED's why */
	BUS_REFUSE,		/* to the caller's node: cannot ring, code */
	BUS_NOPRESENCE,		/* to the caller's node: not rung here */
	BUS_PRESENT,		/* to an ID: it took presence elsewhere */
	BUS_HEARTBEAT,		/* to a node: still here */
	BUS_RINGING,		/* to the caller's node: rung here */
	BUS_NTYPES
};

struct bus_msg {
	uint8_t		 type;		/* enum bus_type */
	char		 from[NODE_NAME_MAX + 1];	/* the sender node */
	uint64_t	 time_ms;	/* the sender's clock */
	uint64_t	 session;
	uint8_t		 id[ID_LEN];	/* RING: callee; PRESENT: the ID */
	uint8_t		 peer_id[ID_LEN];	/* RING: the caller */
	uint8_t		 cred[CRED_LEN];	/* RING: caller's; ANSWER */
	uint8_t		 tokens[2][16];	/* RING: the relay tokens */
	uint8_t		 code;		/* RING: 2 if the caller has tryst/2 */
	char		 relay[PROTO_MAX_RELAY + 1];	/* RING: endpoint */
	struct vb	 data;		/* RING: offer; ANSWER: answer */
};

/* Seal m under key into out ("S", nonce, secretbox): its length, or 0. */
size_t	 bus_seal(const struct bus_msg *, const uint8_t key[32],
	    uint8_t *out, size_t outlen);
/* Open len bytes after the "S" into m (data points into plain, of
 * BUS_SEALED_MAX bytes): 0, or -1 if not whole and authentic. */
int	 bus_open(const uint8_t *in, size_t len, const uint8_t key[32],
	    uint8_t *plain, struct bus_msg *);

/* ---- bus.c: calls and presence across nodes, over store.c's pub/sub --- */

void	 bus_init(struct server *);
void	 bus_free(struct server *);
/* Once a second: heartbeats, and calls shared with a silent node end. */
void	 bus_tick(struct server *);
/* A sealed message arrived (after its "S"). */
void	 bus_receive(struct server *, const uint8_t *, size_t);
/* A stand-in party for a callee online on no conn of this node, or NULL
 * when no other node can be asked (storage down). */
struct party *bus_callee(struct server *, const uint8_t id[ID_LEN]);
/* A note of the call book for a stand-in party: tell its node. */
void	 bus_note(struct server *, struct call *, struct party *to,
	    enum call_note, int detail, const struct vb *data);
/* The credential and relay endpoint of the party a stand-in is for. */
const uint8_t *bus_cred(struct party *);
const char *bus_relay(struct party *);
/* id took presence here: its presence elsewhere goes (GOAWAY replaced). */
void	 bus_present(struct server *, const uint8_t id[ID_LEN]);

/* ---- relay.c: RELAY_JOIN and the splice of two data connections -------- */

void	 relay_join(struct conn *, const struct msg *);
/* Close the data connections of a call (it ended, or one side went). */
void	 relay_close(struct server *, struct call *);
/* A data conn is being killed: detach it and close the other side. */
void	 relay_detach(struct conn *);

/* ---- http.c: request heads of the metrics listener, pure ------------- */

#define HTTP_MAX_HEAD	8192	/* request line and headers, ends included */
#define HTTP_MAX_TARGET	1024	/* the request target */
#define HTTP_MORE	1	/* http_parse: the head may still end */

enum http_method {
	HTTP_GET,
	HTTP_HEAD,
};

/* A parsed request head. */
struct http_req {
	int		 method;	/* enum http_method */
	int		 minor;		/* HTTP/1.minor: 0 or 1 */
	size_t		 head_len;	/* bytes, the empty line included */
	char		 path[HTTP_MAX_TARGET + 1];	/* target before '?' */
};

/* Parse the head at the start of buf[0..len) (at most HTTP_MAX_HEAD bytes
 * are read): 0 when whole, HTTP_MORE when it may still end, else the
 * status to answer (400, 405, 414, 431, 505). */
int	 http_parse(const char *buf, size_t len, struct http_req *);
/* The reason phrase of a status. */
const char *http_reason(int status);

/* ---- metrics.c: /metrics and /healthz ---------------------------------- */

/* At most METRICS_MAX_CONNS connections at once (a new one sheds the
 * oldest that has not sent its request yet); each has METRICS_TIMEOUT_S
 * from accept until its answer is written, then closes. */
#define METRICS_MAX_CONNS	16
#define METRICS_TIMEOUT_S	10

int	 metrics_start(struct server *, char **cause);
void	 metrics_stop(struct server *);

/* ---- notify.c: sd_notify without libsystemd --------------------------- */

/* Send one notification; never blocks: what the socket will not take now
 * is dropped and counted, except READY=1, which is retried each second. */
void	 notify_send(struct server *, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
unsigned long long notify_monotonic_usec(void);
unsigned long long notify_watchdog_usec(void);

/* ---- stun.c: the STUN responder (RFC 8489, RFC 3489) ------------------ */

/* The answer to one datagram from `from`: its length in out, or 0 when
 * nothing is to be sent. Pure: no sockets, no clocks. */
size_t	 stun_answer(const uint8_t *req, size_t len,
	    const struct sockaddr *from, uint8_t *out, size_t outlen);
/* Bind stun_listen (if set) and answer on the loop. -1 and *cause. */
int	 stun_start(struct server *, char **cause);
void	 stun_stop(struct server *);
/* The UDP port WELCOME announces; 0 without STUN. */
uint16_t stun_port(struct server *);

#endif
