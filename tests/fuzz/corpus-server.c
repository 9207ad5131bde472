/*
 * corpus-server.c -- the seeds of the whole-server fuzz target: programs
 * (fuzz-server.h) that reach its deep states, each a path a real client
 * takes: accounts online, a call rung, answered, relayed to its quota and
 * ended; a registration that revokes an older connection; discovery to
 * an empty bucket; timeouts; storage held back, failing and back; slow
 * readers; reloads; and frames of every type built from the program.
 */
#include <stdint.h>

#include "fuzz-server.h"
#include "make-corpus.h"

#define SEED(name, ...) do {						\
	static const uint8_t p_[] = { __VA_ARGS__ };			\
	seed("server", name, p_, sizeof p_);				\
} while (0)

/* Two accounts online with presence on slots 0 and 1. */
#define ONLINE2	FS_OPEN, 0, 0, FS_OPEN, 1, 1, FS_SETTLE,		\
	FS_HELLO, 0, 0, 1, FS_HELLO, 1, 1, 1, FS_SETTLE
/* Slot 0 calls account 1, slot 1 answers. */
#define SESSION	FS_CONNECT, 0, 1, 7, 10, FS_SETTLE,			\
	FS_ACCEPT, 1, 0, 10, FS_SETTLE

/* Write the seeds of the server target. */
void
corpus_server(void)
{
	SEED("call-relay-end", ONLINE2, SESSION,
	    FS_OPEN, 2, 0, FS_OPEN, 3, 1, FS_SETTLE,
	    FS_JOIN, 2, 0, 0, 4, FS_SETTLE, FS_JOIN, 3, 1, 0, 0, FS_SETTLE,
	    FS_BULK, 2, 4, FS_BULK, 3, 4, FS_SETTLE, FS_END, 0, 0,
	    FS_SETTLE, FS_JOIN, 2, 0, 0, 0, FS_SETTLE);
	SEED("relay-quota", ONLINE2, SESSION,
	    FS_OPEN, 2, 0, FS_OPEN, 3, 1, FS_SETTLE,
	    FS_JOIN, 2, 0, 0, 2, FS_SETTLE, FS_JOIN, 3, 1, 0, 1, FS_SETTLE,
	    FS_BULK, 2, 20, FS_LOOP, 0, FS_BULK, 3, 1, FS_SETTLE,
	    FS_OPEN, 2, 0, FS_SETTLE, FS_JOIN, 2, 0, 0, 1, FS_SETTLE);
	SEED("relay-slow-rate", ONLINE2, SESSION,
	    FS_SET, 4, 2, FS_SET, 5, 0, FS_OPEN, 2, 0, FS_OPEN, 3, 1,
	    FS_SETTLE, FS_JOIN, 2, 0, 0, 0, FS_JOIN, 3, 1, 0, 0, FS_SETTLE,
	    FS_READING, 3, 0, FS_BULK, 2, 6, FS_SETTLE, FS_ADVANCE, 0,
	    FS_SETTLE, FS_READING, 3, 1, FS_SETTLE, FS_CLOSE, 2, FS_SETTLE,
	    FS_END, 1, 0, FS_SETTLE);
	SEED("call-timeouts", ONLINE2, FS_CONNECT, 0, 1, 1, 5, FS_SETTLE,
	    FS_ADVANCE, 2, FS_SETTLE, FS_CONNECT, 0, 1, 2, 5, FS_SETTLE,
	    FS_ACCEPT, 1, 1, 0, FS_SETTLE, FS_OPEN, 3, 3, FS_SETTLE,
	    FS_JOIN, 3, 0, 0, 0, FS_SETTLE, FS_ADVANCE, 3, FS_SETTLE,
	    FS_ADVANCE, 4, FS_SETTLE, FS_ADVANCE, 7, FS_SETTLE);
	SEED("call-decline-leave", ONLINE2, FS_OPEN, 2, 2, FS_SETTLE,
	    FS_HELLO, 2, 2, 1, FS_SETTLE, FS_CONNECT, 0, 1, 1, 0,
	    FS_CONNECT, 0, 2, 2, 0, FS_CONNECT, 2, 1, 3, 0, FS_SETTLE,
	    FS_DECLINE, 1, 0, 1, FS_ACCEPT, 2, 0, 0, FS_SETTLE,
	    FS_ACCEPT, 1, 1, 0, FS_SETTLE, FS_CLOSE, 1, FS_SETTLE,
	    FS_END, 0, 0, FS_END, 2, 0, FS_SETTLE);
	SEED("register-revokes", FS_OPEN, 1, 1, FS_SETTLE,
	    FS_HELLO, 1, 1, 1, FS_SETTLE, FS_OPEN, 0, 2, FS_SETTLE,
	    FS_REG_BEGIN, 0, 1, FS_SETTLE, FS_REG_FINISH, 0, 1, FS_SETTLE,
	    FS_REG_FINISH, 0, 0, FS_SETTLE, FS_OPEN, 2, 3, FS_SETTLE,
	    FS_HELLO, 2, 1, 1, FS_SETTLE, FS_REG_FINISH, 0, 0, FS_SETTLE,
	    FS_DELIVER, 0, FS_REG_BEGIN, 0, 2, FS_SETTLE, FS_DELIVER, 1,
	    FS_DELIVER, 2, FS_REG_BEGIN, 0, 2, FS_LOOP, 0, FS_CLOSE, 0,
	    FS_DELIVER, 3, FS_SETTLE);
	SEED("discovery", FS_OPEN, 0, 0, FS_SETTLE, FS_HELLO, 0, 0, 0,
	    FS_SETTLE, FS_OPRF, 0, 4, FS_SETTLE, FS_OPRF, 0, 20, FS_SETTLE,
	    FS_LOOKUP, 0, 5, FS_SETTLE, FS_OPRF, 0, 23, FS_SETTLE,
	    FS_OPRF, 0, 23, FS_SETTLE, FS_STORE, 0, FS_OPRF, 0, 2,
	    FS_LOOKUP, 0, 1, FS_SETTLE, FS_STORE, 1, FS_ADVANCE, 9,
	    FS_SETTLE, FS_OPRF, 0, 9, FS_DELETE, 0, FS_SETTLE);
	SEED("storage-held", ONLINE2, FS_STORE, 2, FS_OPEN, 2, 0,
	    FS_OPEN, 3, 2, FS_SETTLE, FS_HELLO, 2, 0, 1, FS_HELLO, 3, 1, 0,
	    FS_LOOP, 0, FS_CLOSE, 2, FS_LOOP, 0, FS_STORE, 4, FS_LOOP, 1,
	    FS_DELETE, 0, FS_LOOKUP, 1, 3, FS_LOOP, 0, FS_STORE, 0,
	    FS_SETTLE, FS_STORE, 1, FS_STORE, 3, FS_SETTLE, FS_DELETE, 1,
	    FS_STORE, 2, FS_LOOP, 0, FS_CLOSE, 1, FS_STORE, 3, FS_SETTLE);
	SEED("slow-reader", FS_OPEN, 0, 0, FS_SETTLE, FS_HELLO, 0, 0, 0,
	    FS_SETTLE, FS_SET, 9, 0, FS_READING, 0, 0, FS_OPRF, 0, 23,
	    FS_SETTLE, FS_OPRF, 0, 15, FS_SETTLE, FS_OPRF, 0, 23, FS_SETTLE,
	    FS_PING, 0, 1, FS_SETTLE, FS_READING, 0, 1, FS_SETTLE);
	SEED("presence-replaced", ONLINE2, FS_OPEN, 2, 2, FS_OPEN, 3, 3,
	    FS_SETTLE, FS_HELLO, 2, 1, 1, FS_HELLO, 3, 1, 0, FS_SETTLE,
	    FS_CONNECT, 0, 1, 1, 0, FS_SETTLE, FS_SET, 6, 0, FS_OPEN, 1, 1,
	    FS_SETTLE, FS_HELLO, 1, 1, 2, FS_SETTLE, FS_DELETE, 2,
	    FS_SETTLE, FS_HELLO, 0, 0, 4, FS_SETTLE);
	SEED("frames", FS_OPEN, 0, 0, FS_SETTLE,
	    FS_RAW, 0, 13, 0, 0, 0, 9, MSG_PING, 0, 0, 0, 0, 0, 0, 0, 1,
	    FS_MSG, 0, 11, 5, FS_MSG, 0, 12, 1, FS_SETTLE,
	    FS_MSG, 0, 0, 12, '+', '4', '4', '2', '0', '7', '9', '4', '6',
	    '0', '0', '0', FS_SETTLE, FS_OPEN, 1, 1, FS_SETTLE,
	    FS_HELLO, 1, 0, 1, FS_SETTLE, FS_MSG, 1, 8, 0, 0,
	    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, FS_SETTLE,
	    FS_MSG, 1, 3, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0,
	    0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, 0, FS_SETTLE,
	    FS_OPEN, 2, 2, FS_SETTLE, FS_RAW, 2, 4, 0xff, 0xff, 0xff, 0xff,
	    FS_SETTLE, FS_ADVANCE, 3, FS_SETTLE);
}
