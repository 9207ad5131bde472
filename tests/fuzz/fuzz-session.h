/*
 * fuzz-session.h -- what the session target (fuzz-session.c), its
 * libtryst side (session-lib.c) and the generator of its seeds
 * (session-seeds.c) share: the modes of an input, the two fixed parties
 * with their handshake, and what the library made of an input.
 */
#ifndef TRYST_FUZZ_SESSION_H
#define TRYST_FUZZ_SESSION_H

#include "lib.h"

/* The first byte of an input picks one (see fuzz-session.c). */
enum {
	SESSION_CALLER = 0,
	SESSION_CALLEE = 1,
	SESSION_TRANSPORT = 2,
	SESSION_SEALED = 3,
	SESSION_NMODES
};

#define FUZZ_SESSION_ID	0x7472797374000009ULL
#define WIRE_MAX	4096	/* what we may write: one close */

/* The stream of one input, and what SEALED expects of it. */
struct feed {
	const uint8_t	*p;
	size_t		 len;
	size_t		 chunk;		/* bytes at a time; 0: all */
	const uint8_t	**want;		/* SEALED: each plaintext */
	size_t		*wantlen;
	size_t		 nwant;
};

/* What the library made of one input's stream (session-lib.c). */
struct outcome {
	int		 ended;		/* the call ended */
	int		 code;		/* how: 0 cleanly, else TRYST_E* */
	unsigned	 texts;		/* messages handed to the app */
	unsigned	 done;		/* files received (TRYST_FILE_DONE) */
	unsigned	 refused;	/* files refused (FAILED, not as the
					   session ended) */
	uint8_t		 wire[WIRE_MAX + 1];	/* what we wrote */
	size_t		 wirelen;
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
	struct session	 shadow;	/* takes each stream before the
					   library does */
	char		 dir[64];	/* where files are received */
	struct outcome	 last;		/* of the last input that made a
					   session */
	int		 sessions;	/* inputs that made one */
};

/* The fixture, made on first use. */
struct fuzz_session *fuzz_session_fixture(void);
/* A session from the finished handshake of a party (1 the caller). */
void	 fuzz_session_finish(struct session *, int caller);
/* The fixed ephemeral secret key of a party. */
const uint8_t *fuzz_session_e(int caller);
/* Die unless ok: a fixture or seed that cannot be made. */
void	 fuzz_session_must(int ok, const char *what);

/*
 * session-lib.c: bring up a call of libtryst over session s (which it
 * takes), as the caller or the callee, files received into dir; give it
 * the stream, a chunk at a time, then the end of the connection, and
 * fill *o. The call is over and freed on return.
 */
void	 fuzz_lib_run(struct session *s, int caller, const char *dir,
	    struct feed *, struct outcome *o);
/* fuzz-session.c: the app was given text (abort unless expected), or
 * the library says a file was received as name. */
void	 fuzz_session_text(const uint8_t *p, size_t len);
void	 fuzz_session_file(const char *name, uint64_t bytes, uint64_t size);

#endif
