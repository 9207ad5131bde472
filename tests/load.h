/*
 * load.h -- a steady mixed load on one trystd, from worker threads: HELLOs
 * on new connections, OPRF_EVAL and LOOKUP, calls (CONNECT, INCOMING,
 * ACCEPT, ANSWER, END) with bytes relayed both ways, registrations through
 * the dev delivery file, PINGs on idle connections. The harness asserts
 * one expected answer per request and may only assert on the test's own
 * thread; this module asserts nothing: it sorts every answer by kind and
 * outcome, per phase, so the fault test and bench/soak can let Redis fail
 * underneath and judge afterwards.
 */
#ifndef TRYST_LOAD_H
#define TRYST_LOAD_H

#include <sys/types.h>

#include "harness.h"

/* What a request was. */
enum load_kind {
	LOAD_HELLO,		/* a new connection, HELLO, WELCOME */
	LOAD_OPRF,		/* OPRF_EVAL of two numbers */
	LOAD_LOOKUP,		/* LOOKUP of their IDs: one has an account */
	LOAD_CALL,		/* CONNECT to ANSWER */
	LOAD_RELAY,		/* both RELAY_JOINs, bytes each way */
	LOAD_END,		/* END, and ENDED at the callee */
	LOAD_REGISTER,		/* REGISTER_BEGIN to REGISTERED */
	LOAD_PING,		/* PING on an idle online connection */
	LOAD_NKINDS
};

/* What came of it. */
enum load_outcome {
	LOAD_OK,		/* the answer, and it was right */
	LOAD_UNAVAIL,		/* ERROR UNAVAILABLE with a retry_after */
	LOAD_WRONG,		/* another answer, a close, a wrong result */
	LOAD_NOANSWER,		/* nothing before the deadline */
	LOAD_NOUTCOMES
};

#define LOAD_PHASES	8
#define LOAD_FAULTS	8	/* descriptions of faults kept */

/* The shape of the load. */
struct load_opts {
	const char	*hostport;	/* the trystd (dev file: H.devfile) */
	const char	*number_base;	/* registered: base + 4 digits */
	int		 readers;	/* online connections for discovery */
	int		 pairs;		/* caller and callee connections */
	int		 idle;		/* online connections that PING */
	int		 relay_bytes;	/* each way per call */
	int		 reg_pace_ms;	/* between registrations */
	int		 max_registrations;	/* 0: no cap */
	int		 deadline_ms;	/* for each answer */
};

/* The answers of one phase. */
struct load_tally {
	long		 n[LOAD_NKINDS][LOAD_NOUTCOMES];
	int64_t		 first_ok[LOAD_NKINDS];	/* h_mono_ms, 0: none */
	int64_t		 slowest[LOAD_NKINDS];	/* ms */
};

/* An account the load registered, and when (h_mono_ms). */
struct load_reg {
	struct account	 a;
	int64_t		 at;
};

struct load;

/* Start the workers on accounts acc[0..nacc) (at least 2 * pairs + 1;
 * the first 2 * pairs hold the calls' presence); phase 0. */
struct load	*load_start(const struct load_opts *,
		    const struct account *acc, size_t nacc);
/* Count what is answered from now on in phase (< LOAD_PHASES). */
void		 load_phase(struct load *, int phase);
/* Hold registrations (returns once none is under way) or resume. */
void		 load_hold_registrations(struct load *, int hold);
/* A copy of the registrations that succeeded (caller frees). */
struct load_reg	*load_registrations(struct load *, size_t *n);
/* The answers of phase so far. */
void		 load_tally(struct load *, int phase, struct load_tally *);
/* The number of faults (WRONG or NOANSWER) and the i-th description
 * (NULL past those kept). */
long		 load_faults(struct load *);
const char	*load_fault(struct load *, int i);
/* Connections the load holds open now. */
int		 load_conns(struct load *);
/* Stop and join the workers, close their connections; the tallies stay
 * readable until load_free. */
void		 load_stop(struct load *);
void		 load_free(struct load *);

/* One HELLO as a on a new connection to hostport, closed after: the
 * outcome, why (if not OK) and the retry_after of an UNAVAILABLE. */
int		 load_hello_once(const char *hostport, const struct account *a,
		    int deadline_ms, char *why, size_t whylen,
		    uint32_t *retry_after);

const char	*load_kind_name(int kind);
/* Print the tally as a table, one row per kind that had answers. */
void		 load_print(const char *title, const struct load_tally *);
/* Open descriptors of pid (entries of /proc/PID/fd), -1 if gone. */
int		 load_fds(pid_t);

/* ---- between load.c and load-work.c ----------------------------------- */

#include <pthread.h>

/* Workers: hello, discovery, calls, registration, ping. */
#define LOAD_WORKERS	5

/* A connection of a worker, online as a once t is set. */
struct lconn {
	struct tconn		*t;
	const struct account	*a;
	uint8_t			 flags;
};

struct load {
	struct load_opts	 o;
	struct account		*acc;
	size_t			 nacc;
	struct lconn		*readers, *pairs, *idle;
	pthread_t		 th[LOAD_WORKERS];
	pthread_mutex_t		 mu;		/* everything below */
	pthread_cond_t		 cv;		/* reg_parked, stop */
	int			 stop;
	int			 phase;
	int			 conns;		/* open now */
	struct load_tally	 t[LOAD_PHASES];
	long			 nfaults;
	char			 faults[LOAD_FAULTS][160];
	struct load_reg		*regs;
	size_t			 nregs;
	int			 reg_hold, reg_parked;
	int			 started;
};

/* 1 while the workers should go on; sleep ms unless stopped. */
int		 load_running(struct load *);
void		 load_pace(struct load *, int ms);
/* Count one answer of kind, started at h_mono_ms started. */
void		 load_note(struct load *, int kind, int outcome,
		    int64_t started, const char *why);
/* Open a counted connection (NULL and why); close one (NULL is fine). */
struct tconn	*load_open(struct load *, struct tconn_challenge *,
		    char *why, size_t);
void		 load_close(struct load *, struct tconn **);
/* Send a message: 0, or -1 and why. */
int		 load_send(struct tconn *, const struct msg *, char *why,
		    size_t);
/* Send req (unless NULL), wait up to deadline_ms for type want (the
 * ENDED of earlier sessions skipped unless want is ENDED) into m: the
 * outcome, and why for anything but LOAD_OK. */
int		 load_exchange(struct tconn *, const struct msg *req,
		    uint8_t want, struct msg *m, int deadline_ms, char *why,
		    size_t);
/* Make lc online if it is not (a HELLO, counted): 1 when it is. */
int		 load_online(struct load *, struct lconn *);
/* The workers (load-work.c); arg is the load. */
void		*load_work_hello(void *);
void		*load_work_disc(void *);
void		*load_work_call(void *);
void		*load_work_reg(void *);
void		*load_work_ping(void *);

#endif
