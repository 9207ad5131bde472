/*
 * fuzz-server.h -- what the whole-server fuzz target (fuzz-server.c), its
 * world in memory (store-mem.c, server-world.c) and the writer of its
 * seeds (corpus-server.c) share: the operations of an input program, and
 * the switches the target flips in the world.
 */
#ifndef TRYST_FUZZ_SERVER_H
#define TRYST_FUZZ_SERVER_H

#include <stddef.h>
#include <stdint.h>

#include "common.h"

struct server;
struct store;
struct deliver;
struct workers;

/*
 * An input is a program: one operation byte (taken modulo FS_NOPS), then
 * its argument bytes, as many as the operation reads; an input that ends
 * early ends the program. SLOT is a client connection, 0..FS_SLOTS-1
 * (taken modulo); ACCT a test account, 0..FS_ACCOUNTS-1 (taken modulo).
 */
#define FS_SLOTS	4
#define FS_ACCOUNTS	3

enum fs_op {
	FS_OPEN,	/* SLOT ADDR: connect (closing what was there) */
	FS_CLOSE,	/* SLOT: the client closes (the server reads EOF) */
	FS_VANISH,	/* SLOT: the client is gone without a word */
	FS_RAW,		/* SLOT LEN BYTES[LEN]: raw bytes */
	FS_MSG,		/* SLOT TYPE LEN BYTES[LEN]: a message of any
			 * client type, its fields filled from BYTES */
	FS_HELLO,	/* SLOT ACCT FLAGS: HELLO signed for the CHALLENGE;
			 * FLAGS bit 1: a stale credential, bit 2: a bad
			 * signature */
	FS_REG_BEGIN,	/* SLOT ACCT: REGISTER_BEGIN of the account's number */
	FS_REG_FINISH,	/* SLOT WRONG: REGISTER_FINISH of the slot's last
			 * token with the code delivered (WRONG odd: not) */
	FS_CONNECT,	/* SLOT ACCT TAG OFFERLEN: CONNECT to the account */
	FS_ACCEPT,	/* SLOT IDX: ACCEPT a session the slot was offered */
	FS_DECLINE,	/* SLOT IDX REASON */
	FS_END,		/* SLOT IDX: END a session the slot has seen */
	FS_JOIN,	/* SLOT FROM IDX EXTRA: RELAY_JOIN with a token slot
			 * FROM was given, EXTRA * 32 bytes pipelined */
	FS_BULK,	/* SLOT N: N * 32 bytes (relayed bytes) */
	FS_OPRF,	/* SLOT COUNT: OPRF_EVAL of COUNT % 24 + 1 valid
			 * elements */
	FS_LOOKUP,	/* SLOT COUNT: LOOKUP of the accounts and others */
	FS_DELETE,	/* SLOT: DELETE_ACCOUNT */
	FS_PING,	/* SLOT */
	FS_LOOP,	/* N: N % 8 + 1 passes of the loop */
	FS_SETTLE,	/* passes of the loop until nothing is left to do */
	FS_ADVANCE,	/* STEP: move the clock, fire what is due */
	FS_STORE,	/* WHAT: storage down, up, held, released, one step */
	FS_DELIVER,	/* WHAT: deliveries fail, succeed, held, released */
	FS_READING,	/* SLOT ON: the client stops or resumes reading */
	FS_SET,		/* WHICH VALUE: a reload changes a limit */
	FS_NOPS
};

/* FS_STORE's WHAT, modulo. */
enum { FS_STORE_DOWN, FS_STORE_UP, FS_STORE_HOLD, FS_STORE_RELEASE,
	FS_STORE_STEP, FS_STORE_NWHAT };
/* FS_DELIVER's WHAT, modulo. */
enum { FS_DELIVER_FAIL, FS_DELIVER_OK, FS_DELIVER_HOLD, FS_DELIVER_RELEASE,
	FS_DELIVER_NWHAT };

/* The most each limit has been during the program (a reload that lowers
 * one leaves what was within it). */
struct fs_limits {
	long long	 max_pending;		/* max_pending_calls */
	long long	 max_sessions;		/* max_sessions */
	long long	 max_per_account; /* max_connections_per_account */
};

/* server-check.c: check every invariant of srv; abort() if one broke. */
void	 server_check(struct server *, const struct fs_limits *);

/* ---- the program's state (fuzz-server.c, server-clients.c,
 * server-ops.c) ---- */

#define FS_FILLER	8192	/* bytes of fs_filler */

/* A test account: a number, its ID and identity key, a credential. */
struct account {
	char		 number[16];
	uint8_t		 id[ID_LEN];
	uint8_t		 pk[32];
	uint8_t		 sk[64];
	uint8_t		 cred[CRED_LEN];
	uint8_t		 stale[CRED_LEN];	/* of an older registration */
};

/* A session a client was told of. */
struct seen {
	uint64_t	 session;
	uint8_t		 relay_token[16];
};

/* One client connection: its end of the pair and what it has read. */
struct client {
	struct bufferevent *bev;
	uint8_t		 nonce[32];
	int		 raw;		/* RELAY_READY read: bytes follow */
	int		 acct;		/* HELLO as, or -1 */
	int		 reg_acct;	/* REGISTER_BEGIN as, or -1 */
	uint8_t		 token[TOKEN_LEN];
	struct seen	 seen[4];
	unsigned	 nseen;
};

/* The program running. */
struct fuzz {
	struct server	*srv;
	struct client	 cl[FS_SLOTS];
	uint8_t		 cred[FS_ACCOUNTS][CRED_LEN];	/* current */
	uint64_t	 vms;		/* the clock, ms */
	struct fs_limits lim;
	const uint8_t	*p;
	size_t		 left;
	uint64_t	 points;	/* OPRF elements made */
	uint8_t		 frame[PROTO_MAX_FRAME];
};

extern struct account	 accts[FS_ACCOUNTS];
extern struct fuzz	 fz;
extern uint8_t		 fs_filler[FS_FILLER];

/* fuzz-server.c: the next byte of the program (0 past its end); one pass
 * of the loop; passes until nothing is left to do; move the clock by
 * secs and fire what is due. */
uint8_t	 fs_get(void);
void	 fs_pass(void);
void	 fs_settle(void);
void	 fs_advance(uint64_t secs);
/* server-ops.c: run one operation. */
void	 fs_op(uint8_t code);
/* server-clients.c. */
__attribute__((noreturn)) void fs_wrong(const char *what);
void	 client_close(struct client *, int eof);
void	 clients_read(void);
void	 client_send(struct client *, const void *, size_t);
void	 client_msg(struct client *, const struct msg *);
struct client *client_slot(void);
const struct seen *client_seen_of(const struct client *, uint8_t idx);

/* store-mem.c: the test's handles on the store in memory. */
/* Storage becomes unusable (operations return -1; those pending complete
 * with ok 0 on a later pass; messages are lost), or usable again. */
void	 store_mem_down(struct store *, int down);
/* Hold completions (none runs) until released, or one step at a time. */
void	 store_mem_hold(struct store *, int hold);
void	 store_mem_step(struct store *);
/* Write an account as registration would, without revoking. */
void	 store_mem_account(struct store *, const uint8_t id[ID_LEN],
	    uint64_t created, uint64_t seen, uint64_t expires);
/* Operations and messages not yet completed. */
size_t	 store_mem_pending(struct store *);

/* server-world.c: deliveries and workers in memory. */
void	 deliver_mem_fail(struct deliver *, int fail);
void	 deliver_mem_hold(struct deliver *, int hold);
/* The last code delivered to number, or NULL. */
const char *deliver_mem_code(struct deliver *, const char *number);
size_t	 deliver_mem_pending(struct deliver *);
size_t	 workers_mem_pending(struct workers *);
/* Abort on any line the server logs at LOG_ERR: in the code under test
 * that is an impossible state (a refused transition, a message that
 * does not encode). */
void	 world_watch_errors(void);

#endif
