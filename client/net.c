/*
 * net.c -- one TLS 1.3 connection to trystd: connect, agree on tryst/2 or
 * tryst/1 through ALPN (PROTOCOL.md §0.2), check the server's CHALLENGE
 * against its signing key, then send and receive frames in the version
 * agreed.
 *
 * The socket is non-blocking underneath and every wait is a poll() with a
 * deadline, so a silent server costs a timeout, never a hang. OpenSSL is
 * asked first and the socket polled only when it wants more bytes, so data
 * already buffered inside OpenSSL (SSL_pending) is never left waiting.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <limits.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "client.h"

/* ALPN lists, length-prefixed: tryst/2 first when it is offered. */
#define NET_ALPN_BOTH		"\007tryst/2\007tryst/1"
#define NET_ALPN_V1		"\007tryst/1"
#define NET_HANDSHAKE_MS	10000	/* TLS handshake and CHALLENGE */
#define NET_WRITE_MS		30000	/* a server that stops reading */

struct tconn {
	int		 fd;
	SSL_CTX		*ctx;
	SSL		*ssl;
	uint8_t		*in;		/* the frame being read */
	size_t		 fill;
	int		 consumed;	/* in holds a frame already returned */
	uint8_t		*out;		/* encode buffer */
	int		 version;	/* agreed through ALPN: 1 or 2 */
	char		*hostport;	/* as given to tconn_open_v */
};

/* Describe the last OpenSSL error, or fallback, and clear the queue. */
static const char *
ssl_reason(const char *fallback)
{
	static char	 buf[256];
	unsigned long	 e, last = 0;

	while ((e = ERR_get_error()) != 0)
		last = e;
	if (last == 0)
		return (fallback);
	if (ERR_reason_error_string(last) != NULL)
		return (ERR_reason_error_string(last));
	ERR_error_string_n(last, buf, sizeof buf);
	return (buf);
}

/*
 * After an SSL call returned ret, wait for what OpenSSL wants. 1 to retry,
 * 0 when the peer closed the connection, -1 and *cause on error or at the
 * deadline ("timeout").
 */
static int
ssl_wait(struct tconn *t, int ret, int64_t deadline, char **cause)
{
	int	 error, saved = errno, n;

	switch ((error = SSL_get_error(t->ssl, ret))) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		n = sock_wait(t->fd, error == SSL_ERROR_WANT_READ ? POLLIN :
		    POLLOUT, deadline);
		if (n == 1)
			return (1);
		xasprintf(cause, "%s", n == 0 ? "timeout" : strerror(errno));
		return (-1);
	case SSL_ERROR_ZERO_RETURN:
		return (0);
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		if (saved == 0)
			return (0);
		xasprintf(cause, "%s", strerror(saved));
		return (-1);
	default:
		xasprintf(cause, "TLS: %s", ssl_reason("unknown error"));
		return (-1);
	}
}

/* Read until in holds want bytes: 1, 0 on a close before any, -1. */
static int
read_until(struct tconn *t, size_t want, int64_t deadline, char **cause)
{
	int	 n, r;

	while (t->fill < want) {
		ERR_clear_error();
		errno = 0;
		n = SSL_read(t->ssl, t->in + t->fill, (int)(want - t->fill));
		if (n > 0) {
			t->fill += (size_t)n;
			continue;
		}
		if ((r = ssl_wait(t, n, deadline, cause)) == 1)
			continue;
		if (r == 0 && t->fill != 0) {
			xasprintf(cause, "server closed the connection in the "
			    "middle of a frame");
			return (-1);
		}
		return (r);
	}
	return (1);
}

/* Make the TLS 1.3 context and connection object for host, offering
 * ALPN tryst/2 and tryst/1, or tryst/1 alone when max_version is 1. */
static int
tls_setup(struct tconn *t, const char *host, int max_version, char **cause)
{
	struct in6_addr	 a;
	const char	*alpn = max_version >= 2 ? NET_ALPN_BOTH : NET_ALPN_V1;

	ERR_clear_error();
	if ((t->ctx = SSL_CTX_new(TLS_client_method())) == NULL)
		goto fail;
	if (!SSL_CTX_set_min_proto_version(t->ctx, TLS1_3_VERSION) ||
	    !SSL_CTX_set_max_proto_version(t->ctx, TLS1_3_VERSION))
		goto fail;
	SSL_CTX_set_verify(t->ctx, SSL_VERIFY_NONE, NULL);
	SSL_CTX_set_session_cache_mode(t->ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_options(t->ctx, SSL_OP_NO_TICKET |
	    SSL_OP_IGNORE_UNEXPECTED_EOF);
	if ((t->ssl = SSL_new(t->ctx)) == NULL)
		goto fail;
	/* SSL_set_alpn_protos returns 0 on success. */
	if (SSL_set_alpn_protos(t->ssl, (const uint8_t *)alpn,
	    (unsigned int)strlen(alpn)) != 0)
		goto fail;
	/* SNI is a host name, never an address (RFC 6066 §3). */
	if (inet_pton(AF_INET, host, &a) != 1 &&
	    inet_pton(AF_INET6, host, &a) != 1 &&
	    !SSL_set_tlsext_host_name(t->ssl, host))
		goto fail;
	if (!SSL_set_fd(t->ssl, t->fd))
		goto fail;
	return (0);
fail:
	xasprintf(cause, "TLS setup: %s", ssl_reason("failed"));
	return (-1);
}

/* Run the handshake until deadline and take the version from ALPN: one
 * of those offered (up to max_version), or the connection is refused. */
static int
tls_handshake(struct tconn *t, int max_version, int64_t deadline,
    char **cause)
{
	const uint8_t	*alpn;
	unsigned int	 len;
	char		*why = NULL;
	int		 n, r;

	for (;;) {
		ERR_clear_error();
		errno = 0;
		if ((n = SSL_connect(t->ssl)) == 1)
			break;
		if ((r = ssl_wait(t, n, deadline, &why)) == 1)
			continue;
		xasprintf(cause, "TLS handshake: %s", r == 0 ?
		    "server closed the connection" : why);
		free(why);
		return (-1);
	}
	SSL_get0_alpn_selected(t->ssl, &alpn, &len);
	if (len == 7 && memcmp(alpn, "tryst/1", 7) == 0)
		t->version = 1;
	else if (len == 7 && memcmp(alpn, "tryst/2", 7) == 0 &&
	    max_version >= 2)
		t->version = 2;
	else {
		xasprintf(cause, "server did not agree to ALPN %s (is it a "
		    "tryst server?)", max_version >= 2 ? "tryst/2 or tryst/1" :
		    "tryst/1");
		return (-1);
	}
	return (0);
}

/* SHA-256 of the DER SubjectPublicKeyInfo of the server's certificate. */
static int
spki_hash(struct tconn *t, uint8_t hash[32], char **cause)
{
	X509		*cert;
	uint8_t		*der = NULL;
	int		 len;

	if ((cert = SSL_get0_peer_certificate(t->ssl)) == NULL) {
		xasprintf(cause, "server sent no certificate");
		return (-1);
	}
	len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
	if (len <= 0) {
		xasprintf(cause, "certificate key: %s",
		    ssl_reason("cannot encode"));
		return (-1);
	}
	crypto_hash_sha256(hash, der, (unsigned long long)len);
	OPENSSL_free(der);
	return (0);
}

/* Check CHALLENGE: version, the expected key, then tls_sig. */
static int
check_challenge(const struct msg *m, const uint8_t hash[32],
    const uint8_t *expect_pk, char **cause)
{
	char	*want, *got, text[256];

	if (m->type == MSG_ERROR) {
		log_escape(text, sizeof text, m->u.error.message.p,
		    m->u.error.message.len);
		xasprintf(cause, "server refused: %s: %s",
		    proto_err_name(m->u.error.code), text);
		return (-1);
	}
	if (m->type != MSG_CHALLENGE) {
		xasprintf(cause, "expected CHALLENGE, got %s",
		    proto_type_name(m->type));
		return (-1);
	}
	if (m->u.challenge.version != 1) {
		xasprintf(cause, "server speaks protocol version %u, not 1",
		    m->u.challenge.version);
		return (-1);
	}
	if (expect_pk != NULL &&
	    sodium_memcmp(expect_pk, m->u.challenge.sign_pk, 32) != 0) {
		want = b64_encode(expect_pk, 32);
		got = b64_encode(m->u.challenge.sign_pk, 32);
		xasprintf(cause, "server signing key changed: expected %s, "
		    "got %s", want, got);
		free(want);
		free(got);
		return (-1);
	}
	if (tls_sig_verify(m->u.challenge.tls_sig, m->u.challenge.sign_pk,
	    m->u.challenge.nonce, hash) != 0) {
		xasprintf(cause, "CHALLENGE signature does not verify for this "
		    "TLS certificate (someone may be intercepting the "
		    "connection)");
		return (-1);
	}
	return (0);
}

/* Ignore SIGPIPE unless the program chose otherwise: OpenSSL writes to
 * the socket with write(2), and a closed server must be an error, not a
 * dead process. */
static void
ignore_sigpipe(void)
{
	struct sigaction	 sa;

	if (sigaction(SIGPIPE, NULL, &sa) == 0 && sa.sa_handler == SIG_DFL)
		signal(SIGPIPE, SIG_IGN);
}

/* Connect, handshake and read CHALLENGE; see client.h. */
static int
open_checked(struct tconn *t, const char *host, int max_version,
    const uint8_t *expect_pk, struct tconn_challenge *ch, char **cause)
{
	int64_t		 deadline = sock_deadline(NET_HANDSHAKE_MS);
	struct msg	 m;
	uint8_t		 hash[32];
	char		*why = NULL;
	int		 left, r;

	if (tls_setup(t, host, max_version, cause) != 0 ||
	    tls_handshake(t, max_version, deadline, cause) != 0 ||
	    spki_hash(t, hash, cause) != 0)
		return (-1);
	left = (int)(deadline - tryst_now_ms());
	if ((r = tconn_recv(t, &m, left < 0 ? 0 : left, &why)) != 1) {
		xasprintf(cause, "waiting for CHALLENGE: %s", r == 0 ?
		    "server closed the connection" : why);
		free(why);
		return (-1);
	}
	if (check_challenge(&m, hash, expect_pk, cause) != 0)
		return (-1);
	if (ch != NULL) {
		memcpy(ch->nonce, m.u.challenge.nonce, 32);
		memcpy(ch->sign_pk, m.u.challenge.sign_pk, 32);
		ch->server_time_ms = m.u.challenge.server_time_ms;
	}
	return (0);
}

/* Open a checked connection to hostport. */
struct tconn *
tconn_open(const char *hostport, const uint8_t *expect_pk,
    struct tconn_challenge *ch, char **cause)
{
	return (tconn_open_v(hostport, 2, expect_pk, ch, NULL, cause));
}

/* Open a checked connection to hostport from a shared local port. */
struct tconn *
tconn_open_port(const char *hostport, const uint8_t *expect_pk,
    struct tconn_challenge *ch, uint16_t *lport, char **cause)
{
	return (tconn_open_v(hostport, 2, expect_pk, ch, lport, cause));
}

/* Open a checked connection offering versions up to max_version. */
struct tconn *
tconn_open_v(const char *hostport, int max_version, const uint8_t *expect_pk,
    struct tconn_challenge *ch, uint16_t *lport, char **cause)
{
	struct tconn	*t;
	char		*host, *port, *why = NULL;
	int		 fd;

	if (sock_split_hostport(hostport, &host, &port, cause) != 0)
		return (NULL);
	ignore_sigpipe();
	if ((fd = sock_connect(host, port, lport, &why)) == -1) {
		t = NULL;
		goto out;
	}
	t = xcalloc(1, sizeof *t);
	t->fd = fd;
	t->in = xmalloc(PROTO_MAX_FRAME);
	t->out = xmalloc(PROTO_MAX_FRAME);
	t->hostport = xstrdup(hostport);
	if (open_checked(t, host, max_version, expect_pk, ch, &why) != 0) {
		tconn_close(t);
		t = NULL;
	} else
		log_debug("%s: tryst/%d", hostport, t->version);
out:
	if (t == NULL)
		xasprintf(cause, "%s: %s", hostport, why);
	free(why);
	free(host);
	free(port);
	return (t);
}

/* Encode one message in the connection's version and send it. */
int
tconn_send(struct tconn *t, const struct msg *m, char **cause)
{
	struct msg	 v;
	size_t		 n;

	v = *m;
	v.version = (uint8_t)t->version;
	if ((n = proto_encode(&v, t->out, PROTO_MAX_FRAME)) == 0) {
		xasprintf(cause, "cannot encode %s (a field is out of range)",
		    proto_type_name(m->type));
		return (-1);
	}
	return (tconn_send_raw(t, t->out, n, cause));
}

/* Send raw bytes, all of them, within NET_WRITE_MS. */
int
tconn_send_raw(struct tconn *t, const void *data, size_t len, char **cause)
{
	const uint8_t	*p = data;
	int64_t		 deadline = sock_deadline(NET_WRITE_MS);
	char		*why = NULL;
	int		 n, r;

	while (len > 0) {
		ERR_clear_error();
		errno = 0;
		n = SSL_write(t->ssl, p, len > INT_MAX ? INT_MAX : (int)len);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if ((r = ssl_wait(t, n, deadline, &why)) == 1)
			continue;
		xasprintf(cause, "send: %s", r == 0 ?
		    "server closed the connection" : why);
		free(why);
		return (-1);
	}
	return (0);
}

/* 1 if type is a server-to-client message this client knows. */
static int
server_type(uint8_t type)
{
	return (type >= 0x80 && proto_known(type));
}

/* Wait for one frame of a known server type and decode it. */
int
tconn_recv(struct tconn *t, struct msg *m, int timeout_ms, char **cause)
{
	int64_t		 deadline = sock_deadline(timeout_ms);
	uint32_t	 len;
	uint8_t		 type;
	int		 r;

	if (t->consumed) {
		t->fill = 0;
		t->consumed = 0;
	}
	for (;;) {
		if ((r = read_until(t, PROTO_HDR, deadline, cause)) != 1)
			return (r);
		len = proto_frame_len(t->in);
		if (len < 1 || len > PROTO_MAX_LEN) {
			xasprintf(cause, "server sent a frame of length %u",
			    len);
			return (-1);
		}
		if ((r = read_until(t, PROTO_HDR + len, deadline, cause)) != 1)
			return (r);	/* not 0: fill >= PROTO_HDR */
		type = t->in[PROTO_HDR];
		if (server_type(type))
			break;
		t->fill = 0;	/* §2: unknown server messages are ignored */
	}
	memset(m, 0, sizeof *m);
	if (proto_decode_v(type, t->in + PROTO_HDR + 1, len - 1, t->version,
	    m) != 0) {
		xasprintf(cause, "server sent a malformed %s",
		    proto_type_name(type));
		return (-1);
	}
	m->type = type;
	t->consumed = 1;
	return (1);
}

/* Say goodbye if we can and free everything. */
void
tconn_close(struct tconn *t)
{
	if (t == NULL)
		return;
	if (t->ssl != NULL) {
		ERR_clear_error();
		SSL_shutdown(t->ssl);	/* one try: sends close_notify */
		SSL_free(t->ssl);
	}
	SSL_CTX_free(t->ctx);
	ERR_clear_error();
	close(t->fd);
	sodium_memzero(t->in, PROTO_MAX_FRAME);
	sodium_memzero(t->out, PROTO_MAX_FRAME);
	free(t->in);
	free(t->out);
	free(t->hostport);
	free(t);
}

/* The protocol version agreed on the connection: 1 or 2. */
int
tconn_version(const struct tconn *t)
{
	return (t->version);
}

/* The "HOST:PORT" the connection was opened to. */
const char *
tconn_hostport(const struct tconn *t)
{
	return (t->hostport);
}

/* The connection's socket, for poll(). */
int
tconn_fd(const struct tconn *t)
{
	return (t->fd);
}

/* Take one whole frame if it is there, without waiting. */
int
tconn_recv_nowait(struct tconn *t, struct msg *m, char **cause)
{
	char	*why = NULL;
	int	 r;

	if ((r = tconn_recv(t, m, 0, &why)) == -1 &&
	    strcmp(why, "timeout") == 0) {
		free(why);
		return (2);
	}
	if (r == -1)
		*cause = why;
	return (r);
}

/* Read raw bytes of a relay data connection, without waiting. */
long
tconn_read_raw(struct tconn *t, void *buf, size_t len, char **cause)
{
	int	 n, error, saved;

	ERR_clear_error();
	errno = 0;
	n = SSL_read(t->ssl, buf, len > INT_MAX ? INT_MAX : (int)len);
	if (n > 0)
		return (n);
	saved = errno;
	switch ((error = SSL_get_error(t->ssl, n))) {
	case SSL_ERROR_WANT_READ:
	case SSL_ERROR_WANT_WRITE:
		return (-2);
	case SSL_ERROR_ZERO_RETURN:
		return (0);
	case SSL_ERROR_SYSCALL:
		ERR_clear_error();
		if (saved == 0)
			return (0);
		xasprintf(cause, "%s", strerror(saved));
		return (-1);
	default:
		xasprintf(cause, "TLS: %s", ssl_reason("unknown error"));
		return (-1);
	}
}
