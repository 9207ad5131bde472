/*
 * client.h -- the tryst client's internals, one section per file.
 */
#ifndef TRYST_CLIENT_H
#define TRYST_CLIENT_H

#include "common.h"

/* ---- net.c: a blocking TLS connection to trystd ----------------------- */

struct tconn;

/* What the server's CHALLENGE said, after it was checked. */
struct tconn_challenge {
	uint8_t		 nonce[32];
	uint8_t		 sign_pk[32];
	uint64_t	 server_time_ms;
};

/*
 * Connect to hostport ("host:port", "[v6]:port") over TLS 1.3 with ALPN
 * "tryst/1" (the certificate itself is not checked: trust is in the
 * signing key), read CHALLENGE, and check it: with expect_pk non-NULL the
 * server's signing key must equal it; tls_sig must verify over the
 * SHA-256 of this connection's certificate SPKI. Returns NULL and *cause
 * (caller frees) on any failure, saying which check failed. Nothing is
 * sent before the checks pass.
 */
struct tconn	*tconn_open(const char *hostport, const uint8_t *expect_pk,
		    struct tconn_challenge *ch, char **cause);
/* Encode and send one message. -1 and *cause on error. */
int		 tconn_send(struct tconn *, const struct msg *, char **cause);
/* Send raw bytes (tests use this for malformed frames). */
int		 tconn_send_raw(struct tconn *, const void *, size_t,
		    char **cause);
/*
 * Wait up to timeout_ms (-1 forever) for one whole frame and decode it into
 * m; vbytes fields point into the connection's buffer and stay valid until
 * the next tconn_recv. Returns 1 with a message, 0 when the server closed
 * the connection cleanly, -1 and *cause on timeout ("timeout"), a TLS
 * error, or a frame that does not decode. Frames of unknown type are
 * skipped.
 */
int		 tconn_recv(struct tconn *, struct msg *m, int timeout_ms,
		    char **cause);
void		 tconn_close(struct tconn *);

#endif
