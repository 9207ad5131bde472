/*
 * gen.c -- the generators' TLS client and the protocol up to WELCOME
 * or RELAY_JOIN, shared by bench-nodes, bench-setup and bench-relay.
 */
#include <sys/socket.h>
#include <sys/time.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <stdio.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>

#include "gen.h"

#define ALPN_BOTH	"\007tryst/2\007tryst/1"

/* The client context: TLS 1.3, no verification (the servers are ours),
 * no tickets, buffers freed while idle. */
SSL_CTX *
gen_ctx(void)
{
	SSL_CTX	*ctx;

	if ((ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		return (NULL);
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_verify(ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	return (ctx);
}

/* A TCP connection from src to dst, with I/O timeouts. */
int
gen_tcp(const struct sockaddr_in *src, const struct sockaddr_in *dst,
    int timeout_s, char *why, size_t whylen)
{
	struct timeval	 tv = { timeout_s, 0 };
	int		 fd, one = 1;

	if ((fd = socket(AF_INET, SOCK_STREAM, 0)) == -1) {
		snprintf(why, whylen, "socket: %s", strerror(errno));
		return (-1);
	}
#ifdef IP_BIND_ADDRESS_NO_PORT
	/* The port is chosen at connect(), per 4-tuple. */
	setsockopt(fd, IPPROTO_IP, IP_BIND_ADDRESS_NO_PORT, &one, sizeof one);
#endif
	if (bind(fd, (const struct sockaddr *)src, sizeof *src) == -1 ||
	    connect(fd, (const struct sockaddr *)dst, sizeof *dst) == -1) {
		snprintf(why, whylen, "bind or connect: %s", strerror(errno));
		close(fd);
		return (-1);
	}
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	return (fd);
}

/* An IPv4 address, loopback unless host is one. */
void
gen_addr(struct sockaddr_in *sin, const char *host, int port)
{
	memset(sin, 0, sizeof *sin);
	sin->sin_family = AF_INET;
	sin->sin_port = htons((uint16_t)port);
	if (host == NULL || inet_pton(AF_INET, host, &sin->sin_addr) != 1)
		sin->sin_addr.s_addr = htonl(INADDR_LOOPBACK);
}

/* TCP, then the TLS handshake; the version from the ALPN agreed. */
int
gen_tls(SSL_CTX *ctx, const struct sockaddr_in *src,
    const struct sockaddr_in *dst, int timeout_s, struct gconn *c,
    char *why, size_t whylen)
{
	const uint8_t	*alpn;
	unsigned int	 alen;

	errno = 0;
	ERR_clear_error();
	c->ssl = NULL;
	if ((c->fd = gen_tcp(src, dst, timeout_s, why, whylen)) == -1)
		return (-1);
	if ((c->ssl = SSL_new(ctx)) == NULL ||
	    SSL_set_alpn_protos(c->ssl, (const uint8_t *)ALPN_BOTH,
	    sizeof ALPN_BOTH - 1) != 0 || !SSL_set_fd(c->ssl, c->fd)) {
		snprintf(why, whylen, "TLS setup failed");
		gen_close(c);
		return (-1);
	}
	if (SSL_connect(c->ssl) != 1) {
		snprintf(why, whylen, "TLS handshake: %s",
		    ERR_peek_last_error() != 0 ?
		    ERR_reason_error_string(ERR_peek_last_error()) :
		    errno != 0 ? strerror(errno) : "closed");
		gen_close(c);
		return (-1);
	}
	SSL_get0_alpn_selected(c->ssl, &alpn, &alen);
	c->version = alen == 7 && memcmp(alpn, "tryst/2", 7) == 0 ? 2 : 1;
	return (0);
}

/* Read exactly len bytes; 0, or -1 (closed, timed out or failed). */
static int
ssl_read_full(SSL *ssl, uint8_t *p, size_t len)
{
	int	 n;

	while (len > 0) {
		if ((n = SSL_read(ssl, p, (int)len)) <= 0)
			return (-1);
		p += n;
		len -= (size_t)n;
	}
	return (0);
}

/* The next known message, skipping unknown types. */
int
gen_recv(struct gconn *c, uint8_t *buf, size_t buflen, struct msg *m,
    char *why, size_t whylen)
{
	uint32_t	 len;

	for (;;) {
		if (ssl_read_full(c->ssl, buf, PROTO_HDR) == -1)
			goto gone;
		len = proto_frame_len(buf);
		if (len < 1 || len > buflen) {
			snprintf(why, whylen, "frame of %u bytes", len);
			return (-1);
		}
		if (ssl_read_full(c->ssl, buf, len) == -1)
			goto gone;
		if (proto_known(buf[0]))
			break;
	}
	memset(m, 0, sizeof *m);
	if (proto_decode_v(buf[0], buf + 1, len - 1, c->version, m) != 0) {
		snprintf(why, whylen, "malformed %s", proto_type_name(buf[0]));
		return (-1);
	}
	m->type = buf[0];
	return (0);
gone:
	snprintf(why, whylen, "closed or timed out (%s)",
	    errno != 0 ? strerror(errno) : "no error");
	return (-1);
}

/* Say what came instead of want. */
static int
unexpected(const struct msg *m, const char *want, char *why, size_t whylen)
{
	snprintf(why, whylen, "got %s %s instead of %s",
	    proto_type_name(m->type), m->type == MSG_ERROR ?
	    proto_err_name(m->u.error.code) : "", want);
	return (-1);
}

/* CHALLENGE: its nonce (its signature is not checked here). */
int
gen_challenge(struct gconn *c, uint8_t nonce[32], char *why, size_t whylen)
{
	struct msg	 m;
	uint8_t		 buf[4096];

	if (gen_recv(c, buf, sizeof buf, &m, why, whylen) != 0)
		return (-1);
	if (m.type != MSG_CHALLENGE)
		return (unexpected(&m, "CHALLENGE", why, whylen));
	memcpy(nonce, m.u.challenge.nonce, 32);
	return (0);
}

/* The tryst protocol on c: CHALLENGE, HELLO as a, WELCOME. */
int
gen_hello(struct gconn *c, const struct account *a, char *why,
    size_t whylen)
{
	struct msg	 m;
	uint8_t		 buf[4096], nonce[32];
	size_t		 n;

	if (gen_challenge(c, nonce, why, whylen) != 0)
		return (-1);
	memset(&m, 0, sizeof m);
	m.type = MSG_HELLO;
	m.version = (uint8_t)c->version;
	m.u.hello.credential.p = a->cred;
	m.u.hello.credential.len = CRED_LEN;
	hello_sign(m.u.hello.signature, a->sk, nonce, a->cred);
	if ((n = proto_encode(&m, buf, sizeof buf)) == 0 ||
	    SSL_write(c->ssl, buf, (int)n) != (int)n) {
		snprintf(why, whylen, "HELLO not sent");
		return (-1);
	}
	if (gen_recv(c, buf, sizeof buf, &m, why, whylen) != 0)
		return (-1);
	if (m.type != MSG_WELCOME)
		return (unexpected(&m, "WELCOME", why, whylen));
	return (0);
}

/* Open c from src to dst and bring it online as a. */
int
gen_open(SSL_CTX *ctx, const struct sockaddr_in *src,
    const struct sockaddr_in *dst, int timeout_s, const struct account *a,
    struct gconn *c, char *why, size_t whylen)
{
	if (gen_tls(ctx, src, dst, timeout_s, c, why, whylen) != 0)
		return (-1);
	if (gen_hello(c, a, why, whylen) == 0)
		return (0);
	gen_close(c);
	return (-1);
}

/* A relay data connection on c: CHALLENGE, RELAY_JOIN as the first
 * frame. */
int
gen_relay_join(struct gconn *c, uint64_t session, const uint8_t token[16],
    char *why, size_t whylen)
{
	struct msg	 m;
	uint8_t		 buf[64], nonce[32];
	size_t		 n;

	if (gen_challenge(c, nonce, why, whylen) != 0)
		return (-1);
	memset(&m, 0, sizeof m);
	m.type = MSG_RELAY_JOIN;
	m.version = (uint8_t)c->version;
	m.u.relay_join.session = session;
	memcpy(m.u.relay_join.relay_token, token, 16);
	if ((n = proto_encode(&m, buf, sizeof buf)) == 0 ||
	    SSL_write(c->ssl, buf, (int)n) != (int)n) {
		snprintf(why, whylen, "RELAY_JOIN not sent");
		return (-1);
	}
	return (0);
}

/* RELAY_READY, once both parties have joined. */
int
gen_relay_ready(struct gconn *c, char *why, size_t whylen)
{
	struct msg	 m;
	uint8_t		 buf[256];

	if (gen_recv(c, buf, sizeof buf, &m, why, whylen) != 0)
		return (-1);
	if (m.type != MSG_RELAY_READY)
		return (unexpected(&m, "RELAY_READY", why, whylen));
	return (0);
}

/* A server context for generators that play the server. */
SSL_CTX *
gen_server_ctx(const char *cert, const char *key)
{
	SSL_CTX	*ctx;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		return (NULL);
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET);
	SSL_CTX_set_num_tickets(ctx, 0);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		SSL_CTX_free(ctx);
		return (NULL);
	}
	return (ctx);
}

/* Accept on lfd, then the server's side of the handshake. */
int
gen_accept(SSL_CTX *ctx, int lfd, int timeout_s, struct gconn *c,
    char *why, size_t whylen)
{
	struct timeval	 tv = { timeout_s, 0 };
	struct pollfd	 pfd = { lfd, POLLIN, 0 };

	c->ssl = NULL;
	c->version = 1;
	if (poll(&pfd, 1, timeout_s * 1000) != 1 ||
	    (c->fd = accept(lfd, NULL, NULL)) == -1) {
		snprintf(why, whylen, "no connection to accept");
		return (-1);
	}
	setsockopt(c->fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	setsockopt(c->fd, SOL_SOCKET, SO_SNDTIMEO, &tv, sizeof tv);
	if ((c->ssl = SSL_new(ctx)) == NULL || !SSL_set_fd(c->ssl, c->fd) ||
	    SSL_accept(c->ssl) != 1) {
		snprintf(why, whylen, "TLS accept failed");
		gen_close(c);
		return (-1);
	}
	return (0);
}

/* Free c's TLS state and close its socket. */
void
gen_close(struct gconn *c)
{
	SSL_free(c->ssl);
	if (c->fd != -1)
		close(c->fd);
	c->ssl = NULL;
	c->fd = -1;
}
