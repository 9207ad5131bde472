/*
 * nconn.c -- one TLS 1.3 connection to trystd as a state machine that
 * never waits: TCP connect to each address of the name in turn, the TLS
 * handshake with ALPN tryst/2 or tryst/1 (PROTOCOL.md §0.2), CHALLENGE
 * checked against the pinned signing key (§2.2), then frames both ways.
 *
 * The owner watches nconn_fd for nconn_events, calls nconn_step when it
 * is ready or nconn_deadline has passed, and takes frames with nconn_recv
 * until it says there is none (OpenSSL may hold bytes the socket no
 * longer shows). Output is queued by nconn_send and written by the steps.
 * No call blocks, and nothing here prints: a failure is the state
 * NCONN_FAILED and the text of nconn_error. The library's loop and the
 * blocking layer in net.c are both built on it; the tests drive it over
 * a pair of memory BIOs with no socket at all.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <limits.h>
#include <stdint.h>
#include <netdb.h>
#include <poll.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "client.h"

/* ALPN lists, length-prefixed: tryst/2 first when it is offered. */
#define NCONN_ALPN_BOTH		"\007tryst/2\007tryst/1"
#define NCONN_ALPN_V1		"\007tryst/1"
#define NCONN_ADDRS_MAX		16	/* addresses of one name tried */
/* A type of our own for the socket BIO; its index need not be unique. */
#define NCONN_BIO_TYPE		(0x7e | BIO_TYPE_SOURCE_SINK | \
				    BIO_TYPE_DESCRIPTOR)

struct nconn {
	enum nconn_state state;
	char		*error;
	int		 fd;		/* -1 over memory BIOs (tests) */
	int		 max_version;
	int		 version;	/* agreed through ALPN: 1 or 2 */
	uint8_t		 expect_pk[32];
	int		 check_pk;
	int		 key_changed;	/* failed for the pinned key */
	struct tconn_challenge ch;
	uint8_t		 spki[32];	/* SHA-256 of the certificate SPKI */
	char		*hostport;
	char		*host;		/* for SNI */

	/* Addresses still to try, and the local port to bind. */
	struct sockaddr_storage addrs[NCONN_ADDRS_MAX];
	socklen_t	 addrlen[NCONN_ADDRS_MAX];
	size_t		 naddrs, next;
	int		 lport;		/* -1: no binding */
	int		 last_errno;

	SSL_CTX		*ctx;
	SSL		*ssl;
	BIO_METHOD	*meth;		/* of the socket BIO */
	unsigned	 want;		/* NCONN_READ, NCONN_WRITE */
	int64_t		 deadline;	/* of connect, handshake, CHALLENGE */

	uint8_t		*in;		/* the frame being read */
	size_t		 fill;
	int		 consumed;	/* in holds a frame already returned */
	uint8_t		*enc;		/* encode buffer */
	uint8_t		*out;		/* queued output */
	size_t		 outlen, outsize;
	int64_t		 stalled;	/* when output last made no progress */
};

/* The only writer of c->state: trace it. */
static void
set_state(struct nconn *c, enum nconn_state s)
{
	log_debug("%s: %s -> %s", c->hostport, nconn_state_name(c->state),
	    nconn_state_name(s));
	c->state = s;
	if (s == NCONN_OPEN || s == NCONN_DONE || s == NCONN_FAILED)
		c->deadline = -1;
}

/* Fail c with a message (printf-style). Returns -1. */
static int __attribute__((format(printf, 2, 3)))
fail(struct nconn *c, const char *fmt, ...)
{
	va_list	 ap;
	char	 msg[512];

	va_start(ap, fmt);
	vsnprintf(msg, sizeof msg, fmt, ap);
	va_end(ap);
	free(c->error);
	c->error = xstrdup(msg);
	c->want = 0;
	set_state(c, NCONN_FAILED);
	return (-1);
}

/* Describe the last OpenSSL error, or fallback, and clear the queue. */
static const char *
ssl_reason(char *buf, size_t len, const char *fallback)
{
	unsigned long	 e, last = 0;

	while ((e = ERR_get_error()) != 0)
		last = e;
	if (last == 0)
		return (fallback);
	if (ERR_reason_error_string(last) != NULL)
		return (ERR_reason_error_string(last));
	ERR_error_string_n(last, buf, len);
	return (buf);
}

/*
 * After an SSL call returned ret: 1 when OpenSSL waits for the socket (and
 * c->want says for what), 0 when the peer closed cleanly, -1 with *why on
 * an error (a static string or buf).
 */
static int
ssl_status(struct nconn *c, int ret, int saved, char *buf, size_t len,
    const char **why)
{
	switch (SSL_get_error(c->ssl, ret)) {
	case SSL_ERROR_WANT_READ:
		c->want = NCONN_READ;
		return (1);
	case SSL_ERROR_WANT_WRITE:
		c->want = NCONN_WRITE;
		return (1);
	case SSL_ERROR_ZERO_RETURN:
		return (0);
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		if (saved == 0)
			return (0);
		*why = strerror(saved);
		return (-1);
	default:
		*why = ssl_reason(buf, len, "unknown TLS error");
		return (-1);
	}
}

/* A new connection in state s, nothing allocated for the network. */
static struct nconn *
nconn_alloc(const char *hostport, int max_version, const uint8_t *expect_pk)
{
	struct nconn	*c;

	c = xcalloc(1, sizeof *c);
	c->state = NCONN_CONNECT;
	c->fd = -1;
	c->max_version = max_version >= 2 ? 2 : 1;
	if (expect_pk != NULL) {
		memcpy(c->expect_pk, expect_pk, 32);
		c->check_pk = 1;
	}
	c->hostport = xstrdup(hostport);
	c->in = xmalloc(PROTO_MAX_FRAME);
	c->enc = xmalloc(PROTO_MAX_FRAME);
	c->deadline = -1;
	c->stalled = -1;
	return (c);
}

/* Make the TLS 1.3 context and connection object, offering ALPN tryst/2
 * and tryst/1, or tryst/1 alone; SNI only for a name. */
static int
tls_setup(struct nconn *c)
{
	struct in6_addr	 a;
	const char	*alpn;
	char		 buf[256];

	alpn = c->max_version >= 2 ? NCONN_ALPN_BOTH : NCONN_ALPN_V1;
	ERR_clear_error();
	if ((c->ctx = SSL_CTX_new(TLS_client_method())) == NULL ||
	    !SSL_CTX_set_min_proto_version(c->ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(c->ctx, TLS1_3_VERSION))
		goto bad;
	SSL_CTX_set_verify(c->ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(c->ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(c->ctx, SSL_OP_NO_TICKET |
	    SSL_OP_IGNORE_UNEXPECTED_EOF);
	SSL_CTX_set_mode(c->ctx, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if ((c->ssl = SSL_new(c->ctx)) == NULL)
		goto bad;
	/* SSL_set_alpn_protos returns 0 on success. */
	if (SSL_set_alpn_protos(c->ssl, (const uint8_t *)alpn,
	    (unsigned int)strlen(alpn)) != 0)
		goto bad;
	/* SNI is a host name, never an address (RFC 6066 §3). */
	if (c->host != NULL && inet_pton(AF_INET, c->host, &a) != 1 &&
	    inet_pton(AF_INET6, c->host, &a) != 1 &&
	    !SSL_set_tlsext_host_name(c->ssl, c->host))
		goto bad;
	return (0);
bad:
	return (fail(c, "%s: TLS setup: %s", c->hostport,
	    ssl_reason(buf, sizeof buf, "failed")));
}

/* Start a TCP connect to the next address; on to the handshake once it
 * is up. 0 while under way, -1 when no address is left. */
static int
connect_next(struct nconn *c, int64_t now)
{
	struct sockaddr_storage *ss;
	int	 fd;

	if (c->fd != -1) {
		close(c->fd);
		c->fd = -1;
	}
	while (c->next < c->naddrs) {
		ss = &c->addrs[c->next++];
		fd = socket(ss->ss_family, SOCK_STREAM | SOCK_NONBLOCK |
		    SOCK_CLOEXEC, 0);
		if (fd == -1) {
			c->last_errno = errno;
			continue;
		}
		if (c->lport != -1 && sock_bind_shared(fd, ss->ss_family,
		    (uint16_t)c->lport) == -1) {
			c->last_errno = errno;
			close(fd);
			continue;
		}
		if (connect(fd, (struct sockaddr *)ss,
		    c->addrlen[c->next - 1]) == -1 && errno != EINPROGRESS) {
			c->last_errno = errno;
			close(fd);
			continue;
		}
		c->fd = fd;
		c->want = NCONN_WRITE;
		c->deadline = now + NCONN_CONNECT_MS;
		return (0);
	}
	return (fail(c, "%s: connect: %s", c->hostport,
	    strerror(c->last_errno != 0 ? c->last_errno : EHOSTUNREACH)));
}

/* Resolve host and keep its addresses: those of the resolver's first
 * family from a random one round, then the rest (sock_try_index). */
static int
resolve(struct nconn *c, const char *port)
{
	struct addrinfo	 hints, *res, *ai, *all[NCONN_ADDRS_MAX];
	size_t		 n = 0, k = 0, s, j;
	int		 error;

	memset(&hints, 0, sizeof hints);
	hints.ai_family = AF_UNSPEC;
	hints.ai_socktype = SOCK_STREAM;
	if ((error = getaddrinfo(c->host, port, &hints, &res)) != 0)
		return (fail(c, "%s: %s", c->hostport, gai_strerror(error)));
	for (ai = res; ai != NULL && n < NCONN_ADDRS_MAX; ai = ai->ai_next) {
		if (ai->ai_addrlen > sizeof c->addrs[0])
			continue;
		if (ai->ai_family == res->ai_family && k == n)
			k++;
		all[n++] = ai;
	}
	s = k > 1 ? randombytes_uniform((uint32_t)k) : 0;
	for (j = 0; j < n; j++) {
		ai = all[sock_try_index(j, k, s)];
		memcpy(&c->addrs[j], ai->ai_addr, ai->ai_addrlen);
		c->addrlen[j] = ai->ai_addrlen;
	}
	c->naddrs = n;
	freeaddrinfo(res);
	return (0);
}

/* Start connecting; see client.h. */
struct nconn *
nconn_start(const char *hostport, int max_version, const uint8_t *expect_pk,
    int lport, int64_t now)
{
	struct nconn	*c;
	char		*port = NULL, *cause = NULL;

	c = nconn_alloc(hostport, max_version, expect_pk);
	c->lport = lport;
	if (sock_split_hostport(hostport, &c->host, &port, &cause) != 0) {
		fail(c, "%s", cause);
		free(cause);
		return (c);
	}
	if (resolve(c, port) == 0 && tls_setup(c) == 0)
		connect_next(c, now);
	free(port);
	return (c);
}

/* Over an SSL object the caller set up (memory BIOs); see client.h. */
struct nconn *
nconn_over(SSL *ssl, int max_version, const uint8_t *expect_pk, int64_t now)
{
	struct nconn	*c;
	const char	*alpn;

	c = nconn_alloc("test", max_version, expect_pk);
	c->ssl = ssl;
	alpn = c->max_version >= 2 ? NCONN_ALPN_BOTH : NCONN_ALPN_V1;
	SSL_set_mode(ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	if (SSL_set_alpn_protos(ssl, (const uint8_t *)alpn,
	    (unsigned int)strlen(alpn)) != 0) {
		fail(c, "test: ALPN setup failed");
		return (c);
	}
	set_state(c, NCONN_HANDSHAKE);
	c->deadline = now + NCONN_HANDSHAKE_MS;
	return (c);
}

/* The socket under TLS, written with send(MSG_NOSIGNAL): a closed server
 * is an error, never a SIGPIPE, so the process needs no handler for it
 * (a library must not install one). */
static int
bio_write(BIO *b, const char *p, int len)
{
	ssize_t	 n;

	BIO_clear_retry_flags(b);
	n = send((int)(intptr_t)BIO_get_data(b), p, (size_t)len,
	    MSG_NOSIGNAL);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		BIO_set_retry_write(b);
	return ((int)n);
}

/* Read for TLS from the socket. */
static int
bio_read(BIO *b, char *p, int len)
{
	ssize_t	 n;

	BIO_clear_retry_flags(b);
	n = recv((int)(intptr_t)BIO_get_data(b), p, (size_t)len, 0);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		BIO_set_retry_read(b);
	return ((int)n);
}

/* Only a flush is asked of a socket that buffers nothing. */
static long
bio_ctrl(BIO *b, int cmd, long num, void *ptr)
{
	(void)b, (void)num, (void)ptr;
	return (cmd == BIO_CTRL_FLUSH ? 1 : 0);
}

/* A BIO over c's socket, with a method of c's own (no global state). */
static BIO *
sock_bio(struct nconn *c)
{
	BIO	*bio;

	if ((c->meth = BIO_meth_new(NCONN_BIO_TYPE, "tryst socket")) == NULL ||
	    !BIO_meth_set_write(c->meth, bio_write) ||
	    !BIO_meth_set_read(c->meth, bio_read) ||
	    !BIO_meth_set_ctrl(c->meth, bio_ctrl) ||
	    (bio = BIO_new(c->meth)) == NULL)
		return (NULL);
	BIO_set_data(bio, (void *)(intptr_t)c->fd);
	BIO_set_init(bio, 1);
	return (bio);
}

/* The TCP connect: done, failed (next address), or still going. */
static int
step_connect(struct nconn *c, int64_t now)
{
	struct pollfd	 pfd = { .fd = c->fd, .events = POLLOUT };
	BIO		*bio;
	int		 error = 0, one = 1;
	socklen_t	 len = sizeof error;

	if (poll(&pfd, 1, 0) == 0) {
		if (now < c->deadline)
			return (0);
		c->last_errno = ETIMEDOUT;
		return (connect_next(c, now));
	}
	if (getsockopt(c->fd, SOL_SOCKET, SO_ERROR, &error, &len) == -1)
		error = errno;
	if (error != 0) {
		c->last_errno = error;
		return (connect_next(c, now));
	}
	setsockopt(c->fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if (c->lport != -1)
		c->lport = sock_local_port(c->fd);
	if ((bio = sock_bio(c)) == NULL)
		return (fail(c, "%s: TLS setup failed", c->hostport));
	SSL_set_bio(c->ssl, bio, bio);
	set_state(c, NCONN_HANDSHAKE);
	c->deadline = now + NCONN_HANDSHAKE_MS;
	return (1);
}

/* SHA-256 of the DER SubjectPublicKeyInfo of the server's certificate. */
static int
spki_hash(struct nconn *c)
{
	X509		*cert;
	uint8_t		*der = NULL;
	int		 len;
	char		 buf[256];

	if ((cert = SSL_get0_peer_certificate(c->ssl)) == NULL)
		return (fail(c, "%s: server sent no certificate",
		    c->hostport));
	len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
	if (len <= 0)
		return (fail(c, "%s: certificate key: %s", c->hostport,
		    ssl_reason(buf, sizeof buf, "cannot encode")));
	crypto_hash_sha256(c->spki, der, (unsigned long long)len);
	OPENSSL_free(der);
	return (0);
}

/* The TLS handshake, then the version from ALPN: one of those offered,
 * or the connection is refused. */
static int
step_handshake(struct nconn *c, int64_t now)
{
	const uint8_t	*alpn;
	const char	*why = NULL;
	unsigned int	 len;
	char		 buf[256];
	int		 n, r;

	ERR_clear_error();
	errno = 0;
	if ((n = SSL_connect(c->ssl)) != 1) {
		r = ssl_status(c, n, errno, buf, sizeof buf, &why);
		if (r == 1)
			return (now < c->deadline ? 0 : fail(c, "%s: TLS "
			    "handshake: timeout", c->hostport));
		return (fail(c, "%s: TLS handshake: %s", c->hostport, r == 0 ?
		    "server closed the connection" : why));
	}
	SSL_get0_alpn_selected(c->ssl, &alpn, &len);
	if (len == 7 && memcmp(alpn, "tryst/1", 7) == 0)
		c->version = 1;
	else if (len == 7 && memcmp(alpn, "tryst/2", 7) == 0 &&
	    c->max_version >= 2)
		c->version = 2;
	else
		return (fail(c, "%s: server did not agree to ALPN %s (is it a "
		    "tryst server?)", c->hostport, c->max_version >= 2 ?
		    "tryst/2 or tryst/1" : "tryst/1"));
	if (spki_hash(c) != 0)
		return (-1);
	set_state(c, NCONN_CHALLENGE);
	return (1);
}

/* Check CHALLENGE: version, the expected key, then tls_sig. */
static int
check_challenge(struct nconn *c, const struct msg *m)
{
	char	*want, *got, text[256];
	int	 r;

	if (m->type == MSG_ERROR) {
		log_escape(text, sizeof text, m->u.error.message.p,
		    m->u.error.message.len);
		return (fail(c, "%s: server refused: %s: %s", c->hostport,
		    proto_err_name(m->u.error.code), text));
	}
	if (m->type != MSG_CHALLENGE)
		return (fail(c, "%s: expected CHALLENGE, got %s", c->hostport,
		    proto_type_name(m->type)));
	if (m->u.challenge.version != 1)
		return (fail(c, "%s: server speaks protocol version %u, not 1",
		    c->hostport, m->u.challenge.version));
	if (c->check_pk && sodium_memcmp(c->expect_pk,
	    m->u.challenge.sign_pk, 32) != 0) {
		c->key_changed = 1;
		want = b64_encode(c->expect_pk, 32);
		got = b64_encode(m->u.challenge.sign_pk, 32);
		r = fail(c, "%s: server signing key changed: expected %s, got "
		    "%s", c->hostport, want, got);
		free(want);
		free(got);
		return (r);
	}
	if (tls_sig_verify(m->u.challenge.tls_sig, m->u.challenge.sign_pk,
	    m->u.challenge.nonce, c->spki) != 0)
		return (fail(c, "%s: CHALLENGE signature does not verify for "
		    "this TLS certificate (someone may be intercepting the "
		    "connection)", c->hostport));
	memcpy(c->ch.nonce, m->u.challenge.nonce, 32);
	memcpy(c->ch.sign_pk, m->u.challenge.sign_pk, 32);
	c->ch.server_time_ms = m->u.challenge.server_time_ms;
	return (0);
}

/*
 * Read until in holds want bytes: 1 when it does, 2 when OpenSSL waits
 * for the socket, 0 on a clean close before any byte of a frame, -1 when
 * c failed.
 */
static int
read_until(struct nconn *c, size_t want)
{
	const char	*why = NULL;
	char		 buf[256];
	int		 n, r;

	while (c->fill < want) {
		ERR_clear_error();
		errno = 0;
		n = SSL_read(c->ssl, c->in + c->fill, (int)(want - c->fill));
		if (n > 0) {
			c->fill += (size_t)n;
			continue;
		}
		r = ssl_status(c, n, errno, buf, sizeof buf, &why);
		if (r == 1)
			return (2);
		if (r == 0 && c->fill == 0) {
			set_state(c, NCONN_DONE);
			return (0);
		}
		return (fail(c, "%s: %s", c->hostport, r == 0 ? "server closed "
		    "the connection in the middle of a frame" : why));
	}
	return (1);
}

/* 1 if type is a server-to-client message this client knows. */
static int
server_type(uint8_t type)
{
	return (type >= 0x80 && proto_known(type));
}

/* Take one whole frame of a known server type: 1 decoded into m, 2 none
 * yet, 0 closed, -1 failed. */
static int
take_frame(struct nconn *c, struct msg *m)
{
	uint32_t	 len;
	uint8_t		 type;
	int		 r;

	if (c->consumed) {
		c->fill = 0;
		c->consumed = 0;
	}
	for (;;) {
		if ((r = read_until(c, PROTO_HDR)) != 1)
			return (r);
		len = proto_frame_len(c->in);
		if (len < 1 || len > PROTO_MAX_LEN)
			return (fail(c, "%s: server sent a frame of length %u",
			    c->hostport, len));
		if ((r = read_until(c, PROTO_HDR + len)) != 1)
			return (r);	/* not 0: fill >= PROTO_HDR */
		type = c->in[PROTO_HDR];
		if (server_type(type))
			break;
		c->fill = 0;	/* §2: unknown server messages are ignored */
	}
	memset(m, 0, sizeof *m);
	if (proto_decode_v(type, c->in + PROTO_HDR + 1, len - 1, c->version,
	    m) != 0)
		return (fail(c, "%s: server sent a malformed %s", c->hostport,
		    proto_type_name(type)));
	m->type = type;
	c->consumed = 1;
	return (1);
}

/* Waiting for CHALLENGE. */
static int
step_challenge(struct nconn *c, int64_t now)
{
	struct msg	 m;
	int		 r;

	if ((r = take_frame(c, &m)) == 2)
		return (now < c->deadline ? 0 : fail(c, "%s: waiting for "
		    "CHALLENGE: timeout", c->hostport));
	if (r == 0)
		return (fail(c, "%s: waiting for CHALLENGE: server closed the "
		    "connection", c->hostport));
	if (r == -1 || check_challenge(c, &m) != 0)
		return (-1);
	log_debug("%s: tryst/%d", c->hostport, c->version);
	set_state(c, NCONN_OPEN);
	return (1);
}

/* Write what is queued, as much as the socket takes. */
static int
flush(struct nconn *c, int64_t now)
{
	const char	*why = NULL;
	char		 buf[256];
	int		 n, r;

	while (c->outlen > 0) {
		ERR_clear_error();
		errno = 0;
		n = SSL_write(c->ssl, c->out, c->outlen > INT_MAX ? INT_MAX :
		    (int)c->outlen);
		if (n > 0) {
			memmove(c->out, c->out + n, c->outlen - (size_t)n);
			c->outlen -= (size_t)n;
			c->stalled = -1;
			continue;
		}
		r = ssl_status(c, n, errno, buf, sizeof buf, &why);
		if (r != 1)
			return (fail(c, "%s: send: %s", c->hostport, r == 0 ?
			    "server closed the connection" : why));
		if (c->stalled == -1)
			c->stalled = now;
		else if (now - c->stalled >= NCONN_WRITE_MS)
			return (fail(c, "%s: send: timeout (the server stopped "
			    "reading)", c->hostport));
		return (0);
	}
	return (0);
}

/* Make all the progress there is; see client.h. */
enum nconn_state
nconn_step(struct nconn *c, int64_t now)
{
	int	 r = 1;

	while (r == 1) {
		switch (c->state) {
		case NCONN_CONNECT:
			r = step_connect(c, now);
			break;
		case NCONN_HANDSHAKE:
			r = step_handshake(c, now);
			break;
		case NCONN_CHALLENGE:
			r = step_challenge(c, now);
			break;
		case NCONN_OPEN:
			flush(c, now);
			if (c->state == NCONN_OPEN)
				c->want = NCONN_READ |
				    (c->outlen > 0 ? NCONN_WRITE : 0);
			r = 0;
			break;
		default:
			r = 0;
			break;
		}
	}
	return (c->state);
}

/* Take one frame; see client.h. */
int
nconn_recv(struct nconn *c, struct msg *m)
{
	int	 r;

	if (c->state == NCONN_DONE)
		return (0);
	if (c->state != NCONN_OPEN)
		return (c->state == NCONN_FAILED ? -1 : 2);
	if ((r = take_frame(c, m)) == 2 && c->outlen > 0)
		c->want |= NCONN_WRITE;
	return (r);
}

/* Queue raw bytes; see client.h. */
int
nconn_send_raw(struct nconn *c, const void *p, size_t len)
{
	size_t	 size;

	if (c->state == NCONN_FAILED || c->state == NCONN_DONE) {
		errno = EPIPE;
		return (-1);
	}
	if (c->outlen + len > NCONN_QUEUE_MAX) {
		errno = EAGAIN;
		return (-1);
	}
	if (c->outlen + len > c->outsize) {
		size = c->outsize == 0 ? 4096 : c->outsize;
		while (size < c->outlen + len)
			size *= 2;
		c->out = xrealloc(c->out, size);
		c->outsize = size;
	}
	memcpy(c->out + c->outlen, p, len);
	c->outlen += len;
	if (c->state == NCONN_OPEN)
		c->want |= NCONN_WRITE;
	return (0);
}

/* Encode and queue one message; see client.h. */
int
nconn_send(struct nconn *c, const struct msg *m)
{
	struct msg	 v;
	size_t		 n;

	v = *m;
	v.version = (uint8_t)(c->version != 0 ? c->version : 1);
	if ((n = proto_encode(&v, c->enc, PROTO_MAX_FRAME)) == 0) {
		errno = EINVAL;
		return (-1);
	}
	return (nconn_send_raw(c, c->enc, n));
}

/* Read raw bytes (relay data); see client.h. */
long
nconn_read_raw(struct nconn *c, void *buf, size_t len)
{
	const char	*why = NULL;
	char		 ebuf[256];
	int		 n, r;

	if (c->state == NCONN_DONE)
		return (0);
	if (c->state != NCONN_OPEN)
		return (c->state == NCONN_FAILED ? -1 : -2);
	ERR_clear_error();
	errno = 0;
	n = SSL_read(c->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
	if (n > 0)
		return (n);
	r = ssl_status(c, n, errno, ebuf, sizeof ebuf, &why);
	if (r == 1) {
		if (c->outlen > 0)
			c->want |= NCONN_WRITE;
		return (-2);
	}
	if (r == 0) {
		set_state(c, NCONN_DONE);
		return (0);
	}
	return (fail(c, "%s: %s", c->hostport, why));
}

enum nconn_state
nconn_state(const struct nconn *c)
{
	return (c->state);
}

const char *
nconn_error(const struct nconn *c)
{
	return (c->error != NULL ? c->error : "no error");
}

int
nconn_fd(const struct nconn *c)
{
	return (c->fd);
}

unsigned
nconn_events(const struct nconn *c)
{
	return (c->state == NCONN_FAILED || c->state == NCONN_DONE ? 0 :
	    c->want);
}

int64_t
nconn_deadline(const struct nconn *c)
{
	if (c->state == NCONN_OPEN && c->stalled != -1)
		return (c->stalled + NCONN_WRITE_MS);
	return (c->deadline);
}

int
nconn_version(const struct nconn *c)
{
	return (c->version);
}

const char *
nconn_hostport(const struct nconn *c)
{
	return (c->hostport);
}

const struct tconn_challenge *
nconn_challenge(const struct nconn *c)
{
	return (c->state == NCONN_OPEN ? &c->ch : NULL);
}

uint16_t
nconn_local_port(const struct nconn *c)
{
	return (c->lport > 0 ? (uint16_t)c->lport : 0);
}

int
nconn_key_changed(const struct nconn *c)
{
	return (c->key_changed);
}

size_t
nconn_queued(const struct nconn *c)
{
	return (c->outlen);
}

/* The name of a state, for logs and tests. */
const char *
nconn_state_name(enum nconn_state s)
{
	static const char *const names[] = {
		[NCONN_CONNECT] = "connect",
		[NCONN_HANDSHAKE] = "handshake",
		[NCONN_CHALLENGE] = "challenge",
		[NCONN_OPEN] = "open",
		[NCONN_DONE] = "done",
		[NCONN_FAILED] = "failed",
	};

	return ((size_t)s < sizeof names / sizeof names[0] ? names[s] : "?");
}

/* Say goodbye if we can and free everything. */
void
nconn_free(struct nconn *c)
{
	if (c == NULL)
		return;
	if (c->ssl != NULL) {
		ERR_clear_error();
		if (c->state == NCONN_OPEN || c->state == NCONN_DONE)
			SSL_shutdown(c->ssl);	/* one try: close_notify */
		SSL_free(c->ssl);
	}
	SSL_CTX_free(c->ctx);
	BIO_meth_free(c->meth);
	ERR_clear_error();
	if (c->fd != -1)
		close(c->fd);
	sodium_memzero(c->in, PROTO_MAX_FRAME);
	sodium_memzero(c->enc, PROTO_MAX_FRAME);
	if (c->out != NULL)
		sodium_memzero(c->out, c->outsize);
	free(c->in);
	free(c->enc);
	free(c->out);
	free(c->error);
	free(c->hostport);
	free(c->host);
	free(c);
}
