/*
 * harness.h -- integration test support: private redis-server and trystd
 * processes on loopback, raw protocol helpers and command capture.
 */
#ifndef TRYST_HARNESS_H
#define TRYST_HARNESS_H

#include <sys/types.h>

#include <limits.h>

#include <check.h>

#include "common.h"
#include "client.h"

#define H_TIMEOUT_MS	5000	/* every read of a test */
#define H_MAX_CONNS	64	/* connections a test may hold at once */
#define H_MAX_NUMBERS	128	/* numbers a run may send */

/* The running environment, one per test program. */
struct harness {
	char		 dir[256];		/* mkdtemp'd */
	char		 conf[PATH_MAX];
	char		 devfile[PATH_MAX];	/* verification = dev:FILE */
	char		 log[PATH_MAX];		/* trystd's stderr */
	char		 master[PATH_MAX];
	char		 hostport[64];		/* 127.0.0.1:PORT of trystd */
	int		 redis_port;
	int		 tryst_port;
	pid_t		 redis_pid;
	pid_t		 trystd_pid;
	/* A second trystd, same Redis and keys, other limits (h_start2). */
	char		 conf2[PATH_MAX];
	char		 log2[PATH_MAX];
	char		 hostport2[64];
	int		 tryst_port2;
	pid_t		 trystd2_pid;
	uint8_t		 sign_pk[32];
	struct keys	*keys;			/* derived from the master key */
	/* The highest version h_open_at offers: 0 (as 2) offers tryst/2
	 * and tryst/1; 1 offers tryst/1 alone, as an older client. */
	int		 max_version;
};

extern struct harness H;

/* A registered account, as the raw-protocol helper leaves it. */
struct account {
	char		 number[PROTO_MAX_NUMBER + 1];
	uint8_t		 pk[32];
	uint8_t		 sk[64];
	uint8_t		 cred[CRED_LEN];
	struct cred	 c;			/* parsed cred */
};

/* A connection of a test: tracked so teardown closes it. */
struct hc {
	struct tconn		*tc;
	struct tconn_challenge	 ch;
};

/* Start redis-server and trystd with extra config lines (may be NULL).
 * -1 and *cause on failure. Stopping is registered with atexit and for
 * fatal signals. */
int	 h_start(const char *extra_conf, char **cause);
void	 h_stop(void);
/* Start the second trystd with its own extra config lines (after
 * h_start). -1 and *cause. */
int	 h_start2(const char *extra_conf, char **cause);
/* Remove the temporary folder (when everything passed). */
void	 h_remove_dir(void);
/* Checked teardown of every test: close its connections, bring Redis
 * back if the test left it stopped. */
void	 h_test_teardown(void);

/* Stop / start redis-server on the same port; -1 and *cause. */
void	 h_redis_stop(void);
int	 h_redis_start(char **cause);
/* 1 while trystd still runs. */
int	 h_trystd_alive(void);

/* Open a connection checked against H.sign_pk (asserting), to the
 * first trystd or to hostport. */
struct hc *h_open(void);
struct hc *h_open_at(const char *hostport);
/* Close and forget one connection. */
void	 h_close(struct hc *);
/* Send m (asserting). */
void	 h_send(struct hc *, const struct msg *);
void	 h_send_raw(struct hc *, const void *, size_t);
/* Receive one message within H_TIMEOUT_MS (asserting one arrives). */
void	 h_recv(struct hc *, struct msg *);
/* Receive and check an ERROR with code and ref_type (-1: any). */
void	 h_expect_error(struct hc *, int code, int ref_type,
	    struct msg *out);
/* Assert the server closes the connection within H_TIMEOUT_MS, with no
 * message before it. */
void	 h_expect_closed(struct hc *);
/* Receive GOAWAY with reason, then the close. */
void	 h_expect_goaway(struct hc *, int reason);
/* PING with a nonce and check PONG answers it. */
void	 h_ping(struct hc *, uint64_t nonce);

/* Lines "NUMBER CODE" for number in the dev file so far. */
int	 h_code_count(const char *number);
/* Wait until more than after codes exist for number; copy the newest. */
void	 h_code_wait(const char *number, int after, char *code, size_t);
/* REGISTER_BEGIN on c; fills token (TOKEN_LEN) and the delivered code. */
void	 h_reg_begin(struct hc *, const char *number, uint8_t *token,
	    size_t *toklen, char *code, size_t codelen);
/* REGISTER_FINISH; returns the message received (REGISTERED or ERROR). */
void	 h_reg_finish(struct hc *, const uint8_t *token, size_t toklen,
	    const char *code, const uint8_t pk[32], struct msg *out);
/* Register number with a fresh identity key over its own connection. */
void	 h_register(const char *number, struct account *);
void	 h_register_at(const char *hostport, const char *number,
	    struct account *);
/* n accounts numbered from first up, made by trystctl mint on a copy of
 * H's configuration marked as a test node (test_accounts = 1): as
 * h_register makes them, without a code. Fails the test unless each is
 * as a registration's (credential, ID and key checked). */
void	 h_mint(const char *first, long n, struct account *);
/* HELLO with flags, not waiting for the answer. */
void	 h_hello_send(struct hc *, const uint8_t *cred, size_t credlen,
	    const uint8_t sk[64], uint8_t flags);
/* HELLO with flags; returns the answer (WELCOME or ERROR) in out. */
void	 h_hello_raw(struct hc *, const uint8_t *cred, size_t credlen,
	    const uint8_t sk[64], uint8_t flags, struct msg *out);
/* A new connection that is online as a (asserting WELCOME). */
struct hc *h_online(const struct account *, uint8_t flags);
struct hc *h_online_at(const char *hostport, const struct account *,
	    uint8_t flags);

/* Remember a valid E.164 number a test sent; h_number(i) lists them
 * (NULL past the end), for the check that trystd logs none. */
void	 h_note_number(const char *);
const char *h_number(size_t);
/* REGISTER_BEGIN for number, not waiting for the answer. */
void	 h_reg_begin_send(struct hc *, const char *number);
/* REGISTER_BEGIN for number, whatever the answer (in out). */
void	 h_reg_begin_raw(struct hc *, const char *number, struct msg *out);

/* Sleep for ms milliseconds. */
void	 h_msleep(int);
/* The kernel's ephemeral port range, lo to hi inclusive. */
void	 h_ephemeral_range(int *lo, int *hi);
/* A loopback port of socktype (SOCK_STREAM, SOCK_DGRAM) free just now,
 * outside the ephemeral range; -1 if none. */
int	 h_free_port(int socktype);
/* Fork and exec argv, stdout and stderr appended to logpath, with the
 * NAME=VALUE strings of env (NULL-terminated, or NULL) added; the child
 * dies with the test program. The caller reaps it. */
pid_t	 h_spawn(char *const argv[], char *const env[],
	    const char *logpath);
/* Run a shell command; stdout and stderr into *out (caller frees).
 * Returns the exit status, or -1 if it did not exit normally. */
int	 h_run(char **out, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Midnight UTC of today. */
long long h_today(void);

/* ---- harness-raw.c: byte-exact TLS connections for the relay -------- */

struct rconn;

/* Milliseconds on the monotonic clock. */
int64_t	 h_mono_ms(void);
/* Milliseconds of the wall clock, as trystd reads it. */
uint64_t h_wall_ms(void);
/* Open a connection to hostport and read CHALLENGE (asserting); socket
 * buffers of bufsize bytes, or the defaults with 0. Closed at teardown. */
struct rconn *h_raw_open(const char *hostport, int bufsize);
/* The same from the local IPv4 address src (a loopback one: 127.0.0.2
 * ...), NULL: any. */
struct rconn *h_raw_open_from(const char *hostport, int bufsize,
	    const char *src);
void	 h_raw_close(struct rconn *);
void	 h_raw_close_all(void);
int	 h_raw_fd(struct rconn *);
/* One frame: 1 (decoded into m, valid until the next call), 0 closed,
 * -1 timeout. Reads no byte past the frame. */
int	 h_raw_recv(struct rconn *, struct msg *, int timeout_ms);
void	 h_raw_send(struct rconn *, const struct msg *);
void	 h_raw_write_all(struct rconn *, const void *, size_t);
/* Without waiting: bytes written, 0 would block (repeat the same bytes),
 * -1 closed. */
ssize_t	 h_raw_write(struct rconn *, const void *, size_t);
/* Bytes read, 0 closed, -1 nothing within timeout_ms (0: no wait). */
ssize_t	 h_raw_read(struct rconn *, void *, size_t, int timeout_ms);
/* Assert a close within timeout_ms; the number of bytes read before it. */
size_t	 h_raw_expect_closed(struct rconn *, int timeout_ms);

/* ---- harness-calls.c: calls and the relay ---------------------------- */

/* A call between two control connections, as the tests saw it. */
struct hcall {
	uint32_t	 tag;
	uint64_t	 session;
	uint8_t		 token[2][16];	/* caller, callee */
	/* tryst/2: the relay endpoint each was told ("" on tryst/1). */
	char		 relay[2][PROTO_MAX_RELAY + 1];
};

/* CONNECT from c to id with an offer of len bytes. */
void	 h_connect(struct hc *, uint32_t tag, const uint8_t id[ID_LEN],
	    const void *offer, size_t len);
/* a (account aa) calls b (account ba) with tag and offer; b gets
 * INCOMING, every field checked. */
void	 h_ring(struct hc *a, const struct account *aa, struct hc *b,
	    const struct account *ba, uint32_t tag, const void *offer,
	    size_t len, struct hcall *);
/* b accepts with answer; a gets ANSWER, every field checked. */
void	 h_accept(struct hc *a, struct hc *b, const struct account *ba,
	    const void *answer, size_t len, struct hcall *);
/* ENDED for session with why. */
void	 h_expect_ended(struct hc *, uint64_t session, int why);
/* RELAY_JOIN on a fresh connection to hostport. */
struct rconn *h_relay_join(const char *hostport, uint64_t session,
	    const uint8_t token[16], int bufsize);
/* Both parties join; RELAY_READY on both. */
void	 h_relay_pair(const char *hostport, const struct hcall *,
	    int bufsize, struct rconn **caller, struct rconn **callee);
/* Register the accounts of a test once per run (numbers noted). */
void	 h_account_once(const char *number, struct account *);

/* ---- integ-calls.c, integ-relay.c, integ-limits.c --------------------- */

/* CONNECT, ACCEPT, DECLINE, END, leaving; the relay (first trystd). */
TCase	*integ_calls_tcase(void);
TCase	*integ_relay_tcase(void);
/* Limits on the second trystd (started by the caller with
 * INTEG_LIMITS_CONF), back-pressure and the worker pool. */
#define INTEG_LIMITS_CONF \
	"call_timeout_s = 5\n" \
	"max_offer_bytes = 128\n" \
	"connects_per_minute = 20\n" \
	"relay_session_bytes = 1048576\n" \
	"discovery_bucket = 10\n" \
	"max_batch = 8\n" \
	"discovery_refill_per_day = 1\n"
TCase	*integ_limits_tcase(void);

/* ---- integ-store.c: discovery, the CLI, Redis and the log ------------ */

/* OPRF_EVAL and LOOKUP. */
TCase	*integ_discovery_tcase(void);
/* `tryst init`, `register`, `verify`, `whoami`. */
TCase	*integ_cli_tcase(void);
/* Redis holds only the keys of PROTOCOL.md §7. */
TCase	*integ_store_tcase(void);
/* Last, in order: Redis outage, Redis keys again, the log. */
TCase	*integ_last_tcase(void);

/* ---- integ-register.c, integ-trust.c: registration, trust, the log -- */

/* A token past its expiry, code_ttl_s, codes_per_hour, max_deliveries,
 * log prefixes and log_level. */
TCase	*integ_register_tcase(void);
/* integ-trust.c: the identity file's mode, refused CHALLENGEs and keys. */
TCase	*integ_trust_tcase(void);
/* integ-redis.c: a wrong Redis password, a hung Redis, the shipped ACL. */
TCase	*integ_redis_tcase(void);

/* ---- harness-check.c: what a run may leave behind ------------------- */

struct redisContext;

/* Assert the reply to "cmd key" is an integer; return it. */
long long h_reply_int(struct redisContext *, const char *cmd,
	    const char *key);
/* Assert every key in H's Redis is one PROTOCOL.md §7 allows, in its
 * shape (acct: exactly created and seen, seen a UTC midnight, EXPIREAT
 * seen + 120 days; the others with a TTL); the number of keys. */
size_t	 h_check_redis_keys(void);
/* Assert the log at path names no number noted by h_note_number (with
 * or without +), no start of its ID, and none of the NULL-terminated
 * strings of also (or NULL). */
void	 h_check_log_private(const char *path, const char *const *also);
/* The same for every trystd log in H.dir; the number of logs. */
size_t	 h_check_logs_private(void);

/* ---- harness-proc.c: trystds of a test beside H's ------------------ */

/* A trystd of a test, with its own configuration, log and port, on H's
 * Redis and keys; killed at teardown (h_proc_stop_all). */
struct hproc {
	pid_t		 pid;
	int		 port;
	int		 status;	/* wait status once it exited */
	char		 hostport[64];
	char		 conf[PATH_MAX];
	char		 log[PATH_MAX];
	char		 redis[PATH_MAX + 8];	/* redis = ...; "": H's */
};

/* A trystd named name (name.conf, name.log in H.dir) on a free port,
 * not started yet. */
struct hproc *h_proc_new(const char *name);
/* Write its configuration: listen, tls_cert, tls_key and master_key
 * (NULL: its own port, H's certificate, key and master key), the dev
 * delivery file of H (unless extra sets verification), then the lines of
 * extra (may be NULL). */
void	 h_proc_conf(struct hproc *, const char *listen, const char *cert,
	    const char *key, const char *master, const char *extra);
/* Start it with the NAME=VALUE strings of env added (or NULL). */
void	 h_proc_start(struct hproc *, char *const env[]);
/* Assert that a connection checked against H.sign_pk opens within 10 s. */
void	 h_proc_ready(struct hproc *);
/* The same, checked against pk (a trystd with another master key). */
void	 h_proc_ready_key(struct hproc *, const uint8_t pk[32]);
/* h_proc_new, h_proc_conf with master (NULL: H's, whose signing key is
 * H.sign_pk, else pk) and extra, h_proc_start, h_proc_ready_key. */
struct hproc *h_proc_up(const char *name, const char *master,
	    const uint8_t pk[32], const char *extra);
/* The least shift (0 <= s < period) that puts the wall clock `at` seconds
 * into a UTC hour (3600) or day (86400). */
long long h_clock_shift(long long period, long long at);
/* h_proc_up on H's keys with trystd's clock shifted (TRYST_CLOCK_SHIFT_S). */
struct hproc *h_proc_up_shifted(const char *name, long long shift,
	    const char *extra);
/* Wait up to ms for it to exit: 1 (wait status in ->status), or 0. */
int	 h_proc_wait(struct hproc *, int ms);
/* Descriptors that process pid has open. */
int	 h_nfds(pid_t pid);
/* How often text occurs in the file at path (0 when it is missing), and
 * in p's log. */
int	 h_file_count(const char *path, const char *text);
int	 h_proc_log_count(struct hproc *, const char *text);
/* A port of socktype that neither H nor a trystd of the test uses. */
int	 h_proc_port(int socktype);
/* In test-ops only (integ-ops.c): GET /metrics of 127.0.0.1:port
 * (asserting 200) and the value of one sample, labels included in name;
 * poll /healthz for up to ms until it answers want; register a second
 * account beside a, look it up, call it and relay 1000 bytes each way
 * through p, asserting that p's counters follow. */
long long h_metric_now(int port, const char *name);
void	 h_healthz_wait(int port, int want, int ms);
void	 h_metrics_activity(struct hproc *, int port,
	    const struct account *a);
/* Kill and forget every trystd of the test. */
void	 h_proc_stop_all(void);
/* Checked teardown of tests that start trystds: stop them all, then
 * h_test_teardown. */
void	 h_proc_teardown(void);

/* /metrics, /healthz, credential:NAME and the STUN port in WELCOME. */
TCase	*integ_ops_http_tcase(void);
/* integ-metrics.c: the metrics listener's caps on size, time, connections
 * and its back-off when out of descriptors. */
TCase	*integ_metrics_tcase(void);

/* ---- integ-budget.c: relay_account_daily_bytes ----------------------- */

TCase	*integ_budget_tcase(void);

/* ---- integ-deliver.c: verification = exec:PROGRAM ------------------- */

TCase	*integ_deliver_tcase(void);

/* ---- integ-conns.c: connection limits and timers ---------------------- */

TCase	*integ_conns_tcase(void);

/* ---- integ-tls.c: the listener while NOTIFY_SOCKET is full ----------- */

TCase	*integ_tls_tcase(void);

/* ---- integ-nodes-ops.c: nodes sharing listen through SO_REUSEPORT ---- */

TCase	*integ_nodes_ops_tcase(void);
/* ---- integ-nodes.c: presence, revocation and calls across nodes ---- */
TCase	*integ_nodes_tcase(void);

#endif
