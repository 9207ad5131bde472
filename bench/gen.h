/*
 * gen.h -- the load generators' side of a connection: a plain TLS 1.3
 * client (no verification, no tickets, buffers freed while idle) on a
 * TCP connection from a chosen loopback address, and the tryst protocol
 * up to CHALLENGE or WELCOME (doc/protocol.md §5). Blocking, with I/O
 * timeouts: each generator is a process of its own.
 */
#ifndef TRYST_GEN_H
#define TRYST_GEN_H

#include <netinet/in.h>

#include <openssl/ssl.h>

#include "harness.h"

/* One connection of a generator. */
struct gconn {
	int		 fd;
	SSL		*ssl;
	int		 version;	/* 2 for tryst/2, else 1 */
};

/* The client context of a generator; NULL if OpenSSL fails. */
SSL_CTX	*gen_ctx(void);
/* A TCP connection from src to dst, reads and writes timing out after
 * timeout_s; -1 and why. */
int	 gen_tcp(const struct sockaddr_in *src,
	    const struct sockaddr_in *dst, int timeout_s, char *why,
	    size_t whylen);
/* sin for the IPv4 address host (NULL or not one: 127.0.0.1) and port. */
void	 gen_addr(struct sockaddr_in *sin, const char *host, int port);
/* TCP and the TLS handshake (offering tryst/2 and tryst/1) into c;
 * 0, or -1 and why with nothing left open. */
int	 gen_tls(SSL_CTX *, const struct sockaddr_in *src,
	    const struct sockaddr_in *dst, int timeout_s, struct gconn *c,
	    char *why, size_t whylen);
/* The next known message into m (pointing into buf); 0, or -1 and why. */
int	 gen_recv(struct gconn *, uint8_t *buf, size_t buflen, struct msg *m,
	    char *why, size_t whylen);
/* Read CHALLENGE and copy its nonce; 0, or -1 and why. */
int	 gen_challenge(struct gconn *, uint8_t nonce[32], char *why,
	    size_t whylen);
/* CHALLENGE, HELLO as a with flags 0, WELCOME; 0, or -1 and why. */
int	 gen_hello(struct gconn *, const struct account *a, char *why,
	    size_t whylen);
/* gen_tls, then gen_hello; 0, or -1 and why with nothing left open. */
int	 gen_open(SSL_CTX *, const struct sockaddr_in *src,
	    const struct sockaddr_in *dst, int timeout_s,
	    const struct account *a, struct gconn *c, char *why,
	    size_t whylen);
/* CHALLENGE, then RELAY_JOIN for session with token (doc/protocol.md
 * §5.5), not waiting for RELAY_READY; 0, or -1 and why. */
int	 gen_relay_join(struct gconn *, uint64_t session,
	    const uint8_t token[16], char *why, size_t whylen);
/* RELAY_READY next on c (after gen_relay_join); 0, or -1 and why. */
int	 gen_relay_ready(struct gconn *, char *why, size_t whylen);
/* A TLS 1.3 server context with the certificate chain and key of these
 * PEM files, no tickets; NULL if OpenSSL fails. */
SSL_CTX	*gen_server_ctx(const char *cert, const char *key);
/* The next connection on the listening socket lfd (waiting up to
 * timeout_s), its TLS handshake as the server into c; 0, or -1 and why
 * with nothing left open. */
int	 gen_accept(SSL_CTX *, int lfd, int timeout_s, struct gconn *c,
	    char *why, size_t whylen);
/* Free c's TLS state and close its socket (no close_notify). */
void	 gen_close(struct gconn *);

#endif
