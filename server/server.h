/*
 * server.h -- trystd and trystctl internals, one section per file.
 */
#ifndef TRYST_SERVER_H
#define TRYST_SERVER_H

#include <sys/queue.h>
#include <sys/socket.h>

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
struct evhttp;

/* ---- settings.c: the trystd.conf table -------------------------------- */

/* Every key of trystd.conf. Integers are long long, strings char *. */
struct settings {
	char		*listen;		/* IPV4:PORT or [IPV6]:PORT */
	char		*stun_listen;		/* as listen, or "" */
	char		*metrics_listen;	/* PORT, HOST:PORT or "" */
	char		*tls_cert;
	char		*tls_key;
	char		*master_key;
	char		*redis;			/* HOST:PORT or unix:/PATH */
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

	char		*confdir;	/* the config file's folder; not a key */
	/* Not keys: listen and stun_listen parsed by settings_load. */
	struct sockaddr_storage listen_addr;
	socklen_t	 listen_len;
	struct sockaddr_storage stun_addr;
	socklen_t	 stun_len;	/* 0 without stun_listen */
};

extern const struct conf_entry settings_table[];

/* Defaults, then path (whose keys are checked there, each error with its
 * line); then the keys that must be set; then listen_addr and stun_addr.
 * -1 and *cause. */
int	 settings_load(struct settings *, const char *path, char **cause);
/* Every check of the table (forms, discovery_bucket >= max_batch ...)
 * and the keys that must be set, without lines. -1 and *cause. */
int	 settings_check(const struct settings *, char **cause);
/* listen and stun_listen: IPV4:PORT or [IPV6]:PORT, port 1..65535.
 * -1 and *why. */
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

/* The key of an address for per-address limits: an IPv4 address (also
 * when IPv4-mapped), or the /64 of an IPv6 one. */
void	 rl_addr_key(const struct sockaddr *, uint8_t key[16]);
/* Count one hit in window w; 0 if within limit, else -1 (still counted). */
int	 rl_hit(struct rlwin *, uint64_t window, long long limit);
/* The §5.3 discovery bucket: with tokens left at refill day `day`,
 * now in seconds. Fills *tokens to what it holds now. */
long long rl_bucket_now(long long tokens, uint64_t day, uint64_t now,
	    long long full, long long refill);
/* §5.3's retry_after_s for a batch of count refused with tokens now. */
uint64_t rl_bucket_retry(long long count, long long tokens, uint64_t now,
	    long long refill);

/* ---- trystd.c: the process ------------------------------------------- */

TAILQ_HEAD(connlist, conn);

/* Kinds of rate-limit hits, for /metrics. */
enum rl_kind {
	RL_CODE_IP,		/* codes_per_hour_per_ip */
	RL_CODE_SERVER,		/* codes_per_hour */
	RL_CODE_NUMBER,		/* code_requests_per_hour */
	RL_CODE_FAILURES,	/* code_failures_per_day */
	RL_DELIVERIES,		/* max_deliveries */
	RL_DISCOVERY,		/* the discovery bucket */
	RL_CONNECTS,		/* connects_per_minute */
	RL_CONNECTIONS,		/* max_connections */
	RL_CONNECTIONS_IP,	/* max_connections_per_ip */
	RL_RELAY_QUOTA,		/* relay_session_bytes */
	RL_STUN,		/* a STUN source's bucket */
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
};

/* All process state. */
struct server {
	struct settings	 set;
	const char	*conf_path;
	struct keys	*keys;
	struct event_base *base;

	SSL_CTX		*ssl_ctx;
	uint8_t		 spki_hash[32];
	struct evconnlistener *listener;
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

	struct rlwin	 codes_server;	/* REGISTER_BEGIN per hour */
	struct table	*codes_ip;	/* address key -> struct rlwin */
	uint64_t	 codes_ip_hour;

	struct store	*store;
	struct deliver	*deliver;
	struct stun	*stun;		/* NULL without stun_listen */
	struct callbook	*calls;
	struct table	*connects;	/* ID -> struct rlwin, per minute */
	uint64_t	 connects_minute;
	struct event	*second;	/* once a second: call timeouts */
	struct workers	*workers;
	struct evhttp	*metrics;

	struct event	*sigint, *sigterm, *sighup, *sigchld;
	struct event	*tick;		/* once a minute */
	struct event	*drain;		/* shutting down: all gone yet? */
	struct event	*watchdog;	/* WATCHDOG=1 */
	int		 ready;		/* READY=1 sent */
	int		 stopping;
	struct stats	 stats;
	uint8_t		 frame[PROTO_MAX_FRAME];	/* frame being handled */
	uint8_t		 out[PROTO_MAX_FRAME];		/* frame being sent */
};

/* Redis is connected (READY=1 once listening too). */
void	 server_storage_up(struct server *);
/* Wall clock in milliseconds and seconds. */
uint64_t server_now_ms(void);
uint64_t server_now(void);

/* ---- tls.c: the TLS context -------------------------------------------- */

/* TLS 1.3 only, ALPN tryst/1 required, no resumption. NULL and *cause. */
SSL_CTX	*tls_ctx_new(const char *cert, const char *key,
	    uint8_t spki_hash[32], char **cause);
/* The same from a configuration (paths or credential:NAME). */
SSL_CTX	*tls_ctx_load(const struct settings *, uint8_t spki_hash[32],
	    char **cause);

/* ---- conn.c: connections, output, timeouts ---------------------------- */

enum conn_state {
	CONN_TLS,		/* handshake under way */
	CONN_ANON,		/* CHALLENGE sent */
	CONN_ONLINE,		/* HELLO succeeded */
	CONN_RELAY,		/* RELAY_JOIN: waiting, then raw bytes */
	CONN_DEAD,		/* killed; output draining */
};

/* One client connection. Kept small: it exists 100k times. */
struct conn {
	struct server	*srv;
	struct bufferevent *bev;
	struct event	*timer;
	TAILQ_ENTRY(conn) entry;
	struct conn	*id_next;	/* online conns of one ID */
	struct party	*party;		/* its calls, once it has any */
	struct call	*call;		/* relay data conn: its session */

	enum conn_state	 state;
	unsigned	 busy:1;	/* waiting for storage or delivery */
	unsigned	 presence:1;
	unsigned	 got_frame:1;
	unsigned	 freeing:1;
	unsigned	 deleting:1;	/* its DELETE_ACCOUNT is under way */
	unsigned	 slow:1;	/* output over max_output_bytes */
	unsigned	 relay_side:1;	/* 0 caller, 1 callee */
	uint8_t		 nframes;	/* frames read, saturating */
	int		 refs;		/* asynchronous work holding c */

	uint64_t	 accepted;	/* seconds */
	uint64_t	 last_rx;	/* seconds */
	uint64_t	 seen_day;	/* day of the last seen write */
	uint64_t	 created;	/* of the account, when online */

	struct sockaddr_storage addr;
	uint8_t		 addrkey[16];	/* IPv4, or IPv6 /64 */
	uint8_t		 nonce[32];
	uint8_t		 id[ID_LEN];
	uint8_t		 cred[CRED_LEN];
};

int	 conn_listen(struct server *, char **cause);
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

/* ---- auth.c: HELLO, DELETE_ACCOUNT, revocation ------------------------- */

void	 auth_hello(struct conn *, const struct msg *);
void	 auth_delete(struct conn *, const struct msg *);
/* Close online conns of id with created <= max_created (GOAWAY revoked). */
void	 auth_revoke_local(struct server *, const uint8_t id[ID_LEN],
	    uint64_t max_created);
/* Write today's seen for an online conn (daily, long-lived conns). */
void	 auth_touch_seen(struct conn *);

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
/* A Lua script: KEYS[1] an account, ARGV its created and the tryst:revoke
 * message. Deletes the account and publishes the message only while the
 * account is that registration (1), so that a deletion racing a
 * re-registration never removes the new one (0). */
extern const char keyspace_delete_lua[];
/* Parse the redis key: HOST:PORT (as settings_hostport) or unix:/PATH
 * (absolute). Caller frees *host or *path. -1 and *why. */
int		 keyspace_redis_parse(const char *, char **host, int *port,
		    char **path, char **why);
/* The same, without a reason. */
int		 keyspace_redis_addr(const char *, char **host, int *port,
		    char **path);

/* ---- store.c: Redis, the only code that speaks to it ------------------- */

typedef void (*store_cb)(struct server *, struct redisReply *, void *arg);

struct store	*store_new(struct server *, char **cause);
void		 store_free(struct store *);
int		 store_up(struct store *);
/* Send a command (argv form); cb gets the reply, NULL when Redis went
 * away. -1 (cb not called) when Redis is not connected now. */
int		 store_cmd(struct store *, store_cb cb, void *arg, int argc,
		    const char **argv, const size_t *argvlen);
/* printf form for commands with no binary arguments. */
int		 store_cmdf(struct store *, store_cb cb, void *arg,
		    const char *fmt, ...);
/* Seconds a client should wait while Redis is down. */
uint32_t	 store_retry_after(struct store *);
/* Announce a revocation to every node (tryst:revoke). */
void		 store_publish_revoke(struct store *, const uint8_t id[ID_LEN],
		    uint64_t max_created);

/* ---- deliver.c: handing codes to the verification transport ------------ */

typedef void (*deliver_cb)(struct server *, int ok, void *arg);

struct deliver	*deliver_new(struct server *);
void		 deliver_free(struct deliver *);
/* Hand number and code to the transport; cb is called once, later (never
 * from inside this call). -1 when max_deliveries are running. */
int		 deliver_send(struct deliver *, const char *number,
		    const char *code, deliver_cb cb, void *arg);
/* SIGCHLD: reap children. */
void		 deliver_reap(struct deliver *);

/* ---- workers.c: threads for CPU-heavy batches ------------------------- */

typedef void (*work_fn)(void *arg);			/* on a thread */
typedef void (*done_fn)(struct server *, void *arg);	/* on the loop */

struct workers	*workers_new(struct server *, int n);
void		 workers_submit(struct workers *, work_fn, done_fn, void *);
void		 workers_free(struct workers *);

/* ---- discovery.c: OPRF_EVAL and LOOKUP --------------------------------- */

void	 discovery_oprf(struct conn *, const struct msg *);
void	 discovery_lookup(struct conn *, const struct msg *);

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
	void		*owner;		/* the conn */
	uint8_t		 id[ID_LEN];
	int		 pending;	/* ringing calls it made */
	int		 sessions;	/* sessions it is in */
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
	struct event	*refill;	/* relay_rate_bps: more tokens */
	uint64_t	 tokens;	/* bytes the relay may move now */
	uint64_t	 relayed;	/* bytes, both directions */
	int		 relay_ran;	/* RELAY_READY went out: no rejoin */
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
/* Once a second. */
void	 rendezvous_tick(struct server *);

/* ---- relay.c: RELAY_JOIN and the splice of two data connections -------- */

void	 relay_join(struct conn *, const struct msg *);
/* Close the data connections of a call (it ended, or one side went). */
void	 relay_close(struct server *, struct call *);
/* A data conn is being killed: detach it and close the other side. */
void	 relay_detach(struct conn *);

/* ---- metrics.c: /metrics and /healthz ---------------------------------- */

int	 metrics_start(struct server *, char **cause);
void	 metrics_stop(struct server *);

/* ---- notify.c: sd_notify without libsystemd --------------------------- */

void	 notify_send(const char *, ...) __attribute__((format(printf, 1, 2)));
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
