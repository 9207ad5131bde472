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
	uint8_t		 sign_pk[32];
	struct keys	*keys;			/* derived from the master key */
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

/* Open a connection checked against H.sign_pk (asserting). */
struct hc *h_open(void);
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
/* HELLO with flags; returns the answer (WELCOME or ERROR) in out. */
void	 h_hello_raw(struct hc *, const uint8_t *cred, size_t credlen,
	    const uint8_t sk[64], uint8_t flags, struct msg *out);
/* A new connection that is online as a (asserting WELCOME). */
struct hc *h_online(const struct account *, uint8_t flags);

/* Remember a valid E.164 number a test sent; h_number(i) lists them
 * (NULL past the end), for the check that trystd logs none. */
void	 h_note_number(const char *);
const char *h_number(size_t);
/* REGISTER_BEGIN for number, whatever the answer (in out). */
void	 h_reg_begin_raw(struct hc *, const char *number, struct msg *out);

/* Sleep for ms milliseconds. */
void	 h_msleep(int);
/* Run a shell command; stdout and stderr into *out (caller frees).
 * Returns the exit status, or -1 if it did not exit normally. */
int	 h_run(char **out, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* Midnight UTC of today. */
long long h_today(void);

/* ---- integ-store.c: discovery, the CLI, Redis and the log ------------ */

/* OPRF_EVAL and LOOKUP. */
TCase	*integ_discovery_tcase(void);
/* `tryst init`, `register`, `verify`, `whoami`. */
TCase	*integ_cli_tcase(void);
/* Redis holds only the keys of PROTOCOL.md §7. */
TCase	*integ_store_tcase(void);
/* Last, in order: Redis outage, Redis keys again, the log. */
TCase	*integ_last_tcase(void);

#endif
