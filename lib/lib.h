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
	void		*data;		/* the owner's */
	int		 done;
};

struct tryst {
	char		*dir;		/* NULL until tryst_state_dir */
	int		 have_conf;
	struct client_conf conf;
	uint8_t		 sign_pk[32];
	struct servers	 srv;		/* conf.server's list */
	struct task	*tasks;
	int64_t		(*now)(void);	/* the ms clock (tests fake it) */
	int		 stop;		/* tryst_stop */
	struct presence	*presence;	/* tryst_go_online, or NULL */
	int		 status_after;	/* tryst_status once it ended */
};

/* An error of code with a message (printf-style). */
struct tryst_error *lib_err(int code, const char *fmt, ...)
	    __attribute__((format(printf, 2, 3)));
/* The error for a server's ERROR message. */
struct tryst_error *lib_err_server(const struct msg *);
/* Hand e to *err when err is not NULL, else free it. Returns e's code. */
int	 lib_err_give(struct tryst_error *e, tryst_error **err);
/* Add a task; it is stepped from the next tryst_process on. */
struct task *lib_task_add(struct tryst *, task_step_fn, void *data,
	    void (*free_fn)(struct task *));
/* Load conf from the state directory again (after setup or verify). */
int	 lib_conf_reload(struct tryst *, struct tryst_error **);

/* ---- request.c: one request on a connection of its own ---------------- */

/* The answer to a request: return NULL when it was the one awaited (the
 * request is then over), or an error that ends it. */
typedef struct tryst_error *(*request_reply_fn)(struct tryst *,
	    const struct msg *reply, const struct tconn_challenge *, void *);

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

/* ---- presence.c: staying online (HELLO, PING, reconnect) --------------- */

struct presence;

int	 presence_start(struct tryst *, tryst_status_fn, void *user,
	    struct tryst_error **);
void	 presence_stop(struct tryst *);
int	 presence_status(const struct tryst *);

#endif
