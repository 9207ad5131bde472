/*
 * lib.h -- libtryst's internals, one section per file. The public
 * contract is include/tryst.h; the protocol pieces come from client.h.
 */
#ifndef TRYST_LIB_H
#define TRYST_LIB_H

#include "client.h"
#include "tryst.h"

#define LIB_VERSION	"0.1.0"

/* ---- ctx.c: the context, its errors, its work and the loop ------------- */

struct tryst_error {
	int		 code;		/* TRYST_E* */
	int		 server_code;	/* ERR_* with TRYST_ESERVER */
	long		 retry_after_s;
	char		*message;
};

struct task;

/* What a piece of work does on each pass of tryst_process: progress at
 * now, 1 when it is finished (it is then freed), else 0. */
typedef int (*task_step_fn)(struct tryst *, struct task *, int64_t now);

/* One piece of work: a connection with a state machine around it, or a
 * wait. Freed by ctx.c on the pass after it finished, never inside its
 * own step. */
struct task {
	struct task	*next;
	struct nconn	*c;		/* NULL while not connected */
	int64_t		 timer;		/* ms clock, -1 none */
	task_step_fn	 step;
	void		(*free)(struct task *);
	/* More descriptors than c's, and a time to be stepped by (-1:
	 * none); NULL when the task has none. */
	int		(*fds)(const struct task *, struct pollfd *, int max);
	int64_t		(*deadline)(const struct task *);
	void		*data;		/* the owner's */
	int		 done;
};

struct tryst {
	struct blobs	*blobs;		/* NULL until tryst_state_dir, _store */
	int		 have_conf;
	struct client_conf conf;
	uint8_t		 sign_pk[32];
	struct servers	 srv;		/* conf.server's list */
	struct task	*tasks;
	int64_t		(*now)(void);	/* the ms clock (tests fake it) */
	int		 stop;		/* tryst_stop */
	int		 due;		/* work changed outside tryst_process */
	struct presence	*presence;	/* tryst_go_online, or NULL */
	int		 status_after;	/* tryst_status once it ended */
	struct tryst_call *calls;
	uint32_t	 last_tag;	/* of CONNECT */
	tryst_incoming_fn incoming_fn;
	void		*incoming_user;
	tryst_notice_fn	 notice;	/* tryst_on_notice, or NULL */
	void		*notice_user;
};

/* An error of code with a message (printf-style). */
struct tryst_error *lib_err(int code, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* The error for a server's ERROR message. */
struct tryst_error *lib_err_server(const struct msg *);
/* Hand e to *err when err is not NULL, else free it. Returns e's code. */
int	 lib_err_give(struct tryst_error *e, tryst_error **err);
/* Work changed outside tryst_process (an API call): the app is told to
 * process at once (tryst_timeout_ms 0), or a change no descriptor will
 * announce waits for nothing. lib_task_add does it too. */
void	 lib_due(struct tryst *);
/* Add a task; it is stepped from the next tryst_process on. */
struct task *lib_task_add(struct tryst *, task_step_fn, void *data,
	    void (*free_fn)(struct task *));
/* Load conf from the state again (after setup or verify). */
int	 lib_conf_reload(struct tryst *, struct tryst_error **);

/* ---- auth.c: the credential and identity key that HELLO needs -------- */

struct auth {
	uint8_t		 cred[CRED_LEN];
	struct cred	 cr;
	uint8_t		*sk;		/* identity, sodium_malloc'd */
};

/* Load the stored credential and identity key of a registered device,
 * checked to belong together: NULL, or an error (nothing to free). */
struct tryst_error *auth_load(struct tryst *, struct auth *);
void	 auth_free(struct auth *);
/* A HELLO with flags signed over the CHALLENGE nonce into m (m points
 * into a). */
void	 auth_hello(const struct auth *, const uint8_t nonce[32],
	    uint8_t flags, struct msg *m);
/* Keep the credential WELCOME m renewed, when it is ours and verifies. */
void	 auth_welcome(struct tryst *, struct auth *, const struct msg *m);

/* ---- request.c: requests on a connection of their own ----------------- */

struct request;

/* The answer to a request: return NULL when it was the one awaited (the
 * request is then over), or an error that ends it. */
typedef struct tryst_error *(*request_reply_fn)(struct tryst *,
	    const struct msg *reply, const struct tconn_challenge *, void *);

/*
 * A turn of an exchange (request_exchange): m is the server's answer to
 * what was sent last, NULL on the first turn (after WELCOME). Send the
 * next message with request_send and return NULL to await its answer;
 * return NULL without sending when the exchange is over, or an error
 * that ends it.
 */
typedef struct tryst_error *(*request_turn_fn)(struct tryst *,
	    struct request *, const struct msg *m, void *);

/*
 * Connect to the servers in turn (the next after each failure, every one
 * once), check the pinned key (expect_pk NULL: any), send out (NULL:
 * nothing; the answer is then the connection itself, and reply gets a
 * NULL message) and give the answer to reply. done hears the end: NULL
 * or an error. arg goes to reply and is freed with free_arg.
 */
int	 request_start(struct tryst *, struct servers *, const uint8_t
	    *expect_pk, const struct msg *out, int timeout_ms,
	    request_reply_fn reply, void *arg, void (*free_arg)(void *),
	    tryst_done_fn done, void *user);
/*
 * An exchange as the registered account: connect to the configured
 * servers as request_start does (a GOAWAY shutdown instead of WELCOME
 * moves on too), say HELLO (no flags) with the stored credential, await
 * WELCOME, then take turns with turn, each answer awaited up to
 * timeout_ms. Otherwise as request_start; on a failure before it starts
 * (not registered) arg is freed and *err set.
 */
int	 request_exchange(struct tryst *, int timeout_ms, request_turn_fn turn,
	    void *arg, void (*free_arg)(void *), tryst_done_fn done,
	    void *user, struct tryst_error **err);
/* Send m on the request's connection (from its turn). 0, or -1. */
int	 request_send(struct request *, const struct msg *m);
/* What WELCOME said: the most OPRF_EVAL or LOOKUP may carry. */
int	 request_max_batch(const struct request *);
/* What WELCOME said: this device's address as the server sees it,
 * "ADDR:PORT" or "[ADDR]:PORT". */
const char *request_address(const struct request *);
/* Tell the app a notice (tryst_on_notice), printf-style. */
void	 lib_notice(struct tryst *, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));

/* ---- presence.c: staying online (HELLO, PING, reconnect) --------------- */

struct presence;

/* Go online; hello_flags: HELLO_PRESENCE to be called, else 0. */
int	 presence_start(struct tryst *, uint8_t hello_flags, tryst_status_fn,
	    void *user, struct tryst_error **);
void	 presence_stop(struct tryst *);
int	 presence_status(const struct tryst *);
/* Send on the control connection: 0, or -1 when not online. */
int	 presence_send(struct tryst *, const struct msg *);
/* While online: our candidates and listeners on P, our account ID, our
 * identity key, the "HOST:PORT" of the control connection (else NULL). */
const struct p2p *presence_p2p(const struct tryst *);
const uint8_t *presence_id(const struct tryst *);
/* 1 while online and the router's mapping service is still being asked
 * (a few hundred milliseconds): an offer made now may lack the mapping. */
int	 presence_settling(const struct tryst *);
const uint8_t *presence_sk(const struct tryst *);
const char *presence_hostport(const struct tryst *);

/* ---- call.c: calls, their sessions and messages ------------------------ */

/* A control message about calls (INCOMING, ANSWER, DECLINED, ENDED, an
 * ERROR about a CONNECT), from presence.c. */
void	 call_control(struct tryst *, const struct msg *);
/* The control connection is gone: calls not yet up end. */
void	 call_control_lost(struct tryst *);
/* id's key pk was trusted (tryst_trust): calls with it are known now. */
void	 call_trusted(struct tryst *, const uint8_t id[ID_LEN],
	    const uint8_t pk[32]);
/* No more callbacks to the app: it is destroying the context. */
void	 call_silence(struct tryst *);
/* For file.c: queue a session message kind || a || b (-1 with errno
 * EAGAIN when the window is full); the call's file queue and receiving
 * side; whether it is closing (no new work). */
int	 call_queue(tryst_call_t *, uint8_t kind, const void *a, size_t alen,
	    const void *b, size_t blen);
struct file_tx **call_tx(tryst_call_t *);
struct file_rx **call_rx(tryst_call_t *);
int	 call_closing(const tryst_call_t *);

/* ---- file.c: files over a session -------------------------------------- */

struct file_tx;
struct file_rx;

/* Queue what the window takes of the files to send: 0, or -1 when one
 * failed (the session must end). */
int	 file_tx_pump(tryst_call_t *);
int	 file_tx_pending(tryst_call_t *);
void	 file_tx_free(tryst_call_t *, const struct tryst_error *why,
	    int quiet);
/* A FILE_OFFER, FILE_DATA or FILE_END from the peer (p: after the kind):
 * 0, or -1 when it is refused (the session must end, without CLOSE). */
int	 file_rx_msg(tryst_call_t *, uint8_t kind, const uint8_t *p,
	    size_t len);
void	 file_rx_free(tryst_call_t *, int quiet);

#endif
