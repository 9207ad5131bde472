/*
 * fuzz-session.h -- what the session target (fuzz-session.c) and the
 * generator of its seeds (session-seeds.c) share: the modes of an input,
 * and the two fixed parties with their handshake.
 */
#ifndef TRYST_FUZZ_SESSION_H
#define TRYST_FUZZ_SESSION_H

#include "client.h"

/* The first byte of an input picks one (see fuzz-session.c). */
enum {
	SESSION_CALLER = 0,
	SESSION_CALLEE = 1,
	SESSION_TRANSPORT = 2,
	SESSION_SEALED = 3,
	SESSION_NMODES
};

#define WIRE_MAX	4096	/* what we may write: one close */

/* Bytes written to a path (the path_write stub's). */
struct wire {
	uint8_t		*p;
	size_t		 len, cap;
};

/* The two fixed parties and their handshake, stopped where each mode
 * starts; made once. */
struct fuzz_session {
	struct hsinfo	 hi[2];		/* [1] the caller's, [0] callee's */
	struct noise_hs	 caller1;	/* message 1 written, reads 2 */
	struct noise_hs	 callee0;	/* reads message 1 */
	struct noise_hs	 done[2];	/* all three messages, [1] caller */
	uint8_t		 msg[3][SESSION_HS_OUT];	/* framed */
	size_t		 len[3];
	struct noise_cipher peer_tx;	/* the callee's, for SEALED */
	struct noise_cipher peer_rx[2];	/* to read what [1] caller, [0]
					   callee sends */
	char		 dir[64];	/* where files are received */
	int		 stdout_fd;
	struct wire	*wire;		/* where path_write writes */
	uint8_t		 ours[WIRE_MAX];
	unsigned long	 handled;	/* messages given to run_handle */
};

/* The fixture, made on first use. */
struct fuzz_session *fuzz_session_fixture(void);
/* A session from the finished handshake of a party (1 the caller). */
void	 fuzz_session_finish(struct session *, int caller);
/* The fixed ephemeral secret key of a party. */
const uint8_t *fuzz_session_e(int caller);
/* Die unless ok: a fixture or seed that cannot be made. */
void	 fuzz_session_must(int ok, const char *what);

#endif
