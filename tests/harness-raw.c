/*
 * harness-raw.c -- TLS connections for relay tests. After RELAY_READY a
 * relay data connection carries raw bytes, not frames, so these
 * connections read frames byte-exactly (nothing after a frame is taken
 * off the socket) and then read and write raw bytes, optionally without
 * blocking, with small socket buffers when a test wants back-pressure to
 * show quickly.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>
#include <arpa/inet.h>

#include <errno.h>
#include <fcntl.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <openssl/err.h>
#include <openssl/ssl.h>
#include <check.h>

#include "harness.h"

struct rconn {
	int		 fd;
	SSL_CTX		*ctx;
	SSL		*ssl;
	uint8_t		 frame[PROTO_MAX_FRAME];
};

static struct rconn	*raws[H_MAX_CONNS];

/* Milliseconds on the monotonic clock. */
int64_t
h_mono_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((int64_t)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Milliseconds of the wall clock, as trystd reads it. */
uint64_t
h_wall_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

/* After an SSL call returned ret: 1 retry (waited), 0 closed, -1 timed
 * out at deadline (-2: do not wait, report would-block as -1). */
static int
ssl_retry(struct rconn *r, int ret, int64_t deadline)
{
	struct pollfd	 pfd;
	int		 e = SSL_get_error(r->ssl, ret), left, n;

	ERR_clear_error();
	if (e != SSL_ERROR_WANT_READ && e != SSL_ERROR_WANT_WRITE)
		return (0);	/* close_notify, EOF, reset: gone */
	if (deadline == -2)
		return (-1);
	pfd.fd = r->fd;
	pfd.events = e == SSL_ERROR_WANT_READ ? POLLIN : POLLOUT;
	for (;;) {
		if ((left = (int)(deadline - h_mono_ms())) <= 0)
			return (-1);
		n = poll(&pfd, 1, left);
		if (n == -1 && errno == EINTR)
			continue;
		return (n == 1 ? 1 : -1);
	}
}

/* TCP to hostport with socket buffers of bufsize (0: default), from the
 * IPv4 address src (NULL: any). */
static int
tcp_open(const char *hostport, int bufsize, const char *src)
{
	struct sockaddr_in	 sin;
	const char		*colon = strrchr(hostport, ':');
	char			 host[64];
	int			 fd, one = 1;

	ck_assert_ptr_nonnull(colon);
	snprintf(host, sizeof host, "%.*s", (int)(colon - hostport), hostport);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)atoi(colon + 1));
	ck_assert_int_eq(inet_pton(AF_INET, host, &sin.sin_addr), 1);
	ck_assert_int_ne(fd = socket(AF_INET, SOCK_STREAM, 0), -1);
	if (src != NULL) {
		struct sockaddr_in	 me;

		memset(&me, 0, sizeof me);
		me.sin_family = AF_INET;
		ck_assert_int_eq(inet_pton(AF_INET, src, &me.sin_addr), 1);
		ck_assert_msg(bind(fd, (struct sockaddr *)&me, sizeof me) == 0,
		    "bind %s: %s", src, strerror(errno));
	}
	if (bufsize > 0) {
		setsockopt(fd, SOL_SOCKET, SO_SNDBUF, &bufsize, sizeof bufsize);
		setsockopt(fd, SOL_SOCKET, SO_RCVBUF, &bufsize, sizeof bufsize);
	}
	ck_assert_msg(connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0,
	    "connect %s: %s", hostport, strerror(errno));
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	fcntl(fd, F_SETFL, fcntl(fd, F_GETFL) | O_NONBLOCK);
	return (fd);
}

/* TLS 1.3 with ALPN tryst/1 over r->fd. */
static void
tls_open(struct rconn *r)
{
	int64_t	 deadline = h_mono_ms() + H_TIMEOUT_MS;
	int	 n;

	r->ctx = SSL_CTX_new(TLS_client_method());
	ck_assert_ptr_nonnull(r->ctx);
	SSL_CTX_set_min_proto_version(r->ctx, TLS1_3_VERSION);
	SSL_CTX_set_options(r->ctx, SSL_OP_NO_TICKET);
	r->ssl = SSL_new(r->ctx);
	ck_assert_ptr_nonnull(r->ssl);
	SSL_set_mode(r->ssl, SSL_MODE_ENABLE_PARTIAL_WRITE |
	    SSL_MODE_ACCEPT_MOVING_WRITE_BUFFER);
	ck_assert_int_eq(SSL_set_alpn_protos(r->ssl,
	    (const uint8_t *)"\007tryst/1", 8), 0);
	SSL_set_fd(r->ssl, r->fd);
	while ((n = SSL_connect(r->ssl)) != 1)
		ck_assert_msg(ssl_retry(r, n, deadline) == 1,
		    "TLS handshake failed");
}

/* Open a raw connection and read its CHALLENGE (from our server). */
struct rconn *
h_raw_open(const char *hostport, int bufsize)
{
	return (h_raw_open_from(hostport, bufsize, NULL));
}

/* The same from the local IPv4 address src (NULL: any). */
struct rconn *
h_raw_open_from(const char *hostport, int bufsize, const char *src)
{
	struct rconn	*r;
	struct msg	 m;
	int		 i;

	for (i = 0; i < H_MAX_CONNS && raws[i] != NULL; i++)
		;
	ck_assert_msg(i < H_MAX_CONNS, "too many raw connections");
	r = xcalloc(1, sizeof *r);
	raws[i] = r;
	r->fd = tcp_open(hostport, bufsize, src);
	tls_open(r);
	ck_assert_int_eq(h_raw_recv(r, &m, H_TIMEOUT_MS), 1);
	ck_assert_uint_eq(m.type, MSG_CHALLENGE);
	ck_assert_int_eq(memcmp(m.u.challenge.sign_pk, H.sign_pk, 32), 0);
	return (r);
}

/* Close and forget one raw connection. */
void
h_raw_close(struct rconn *r)
{
	int	 i;

	for (i = 0; i < H_MAX_CONNS; i++) {
		if (raws[i] == r)
			raws[i] = NULL;
	}
	SSL_free(r->ssl);
	SSL_CTX_free(r->ctx);
	ERR_clear_error();
	close(r->fd);
	free(r);
}

/* Close every raw connection (teardown). */
void
h_raw_close_all(void)
{
	int	 i;

	for (i = 0; i < H_MAX_CONNS; i++) {
		if (raws[i] != NULL)
			h_raw_close(raws[i]);
	}
}

/* The socket, for poll. */
int
h_raw_fd(struct rconn *r)
{
	return (r->fd);
}

/* Exactly len bytes before deadline: 1, 0 closed, -1 timeout. */
static int
read_exact(struct rconn *r, uint8_t *p, size_t len, int64_t deadline)
{
	int	 n, rv;

	while (len > 0) {
		n = SSL_read(r->ssl, p, len > 65536 ? 65536 : (int)len);
		if (n > 0) {
			p += n;
			len -= (size_t)n;
			continue;
		}
		if ((rv = ssl_retry(r, n, deadline)) != 1)
			return (rv);
	}
	return (1);
}

/* One frame within timeout_ms: 1 decoded into m, 0 closed, -1 timeout. */
int
h_raw_recv(struct rconn *r, struct msg *m, int timeout_ms)
{
	int64_t		 deadline = h_mono_ms() + timeout_ms;
	uint32_t	 len;
	int		 rv;

	if ((rv = read_exact(r, r->frame, PROTO_HDR, deadline)) != 1)
		return (rv);
	len = proto_frame_len(r->frame);
	ck_assert_msg(len >= 1 && len <= PROTO_MAX_LEN, "frame length %u",
	    len);
	if ((rv = read_exact(r, r->frame + PROTO_HDR, len, deadline)) != 1)
		return (rv);
	memset(m, 0, sizeof *m);
	ck_assert_int_eq(proto_decode(r->frame[PROTO_HDR],
	    r->frame + PROTO_HDR + 1, len - 1, m), 0);
	m->type = r->frame[PROTO_HDR];
	return (1);
}

/* Send one message (asserting it goes out within H_TIMEOUT_MS). */
void
h_raw_send(struct rconn *r, const struct msg *m)
{
	uint8_t	 buf[PROTO_MAX_FRAME];
	size_t	 len = proto_encode(m, buf, sizeof buf);

	ck_assert_uint_gt(len, 0);
	h_raw_write_all(r, buf, len);
}

/* Write all of p within H_TIMEOUT_MS (asserting). */
void
h_raw_write_all(struct rconn *r, const void *p, size_t len)
{
	int64_t		 deadline = h_mono_ms() + H_TIMEOUT_MS;
	const uint8_t	*q = p;
	int		 n;

	while (len > 0) {
		n = SSL_write(r->ssl, q, len > 65536 ? 65536 : (int)len);
		if (n > 0) {
			q += n;
			len -= (size_t)n;
			continue;
		}
		ck_assert_msg(ssl_retry(r, n, deadline) == 1,
		    "raw write: closed or timed out");
	}
}

/* One write without waiting: bytes taken, 0 would block, -1 closed. A
 * write that would block must be repeated with the same bytes. */
ssize_t
h_raw_write(struct rconn *r, const void *p, size_t len)
{
	int	 n;

	n = SSL_write(r->ssl, p, len > 65536 ? 65536 : (int)len);
	if (n > 0)
		return (n);
	return (ssl_retry(r, n, -2) == -1 ? 0 : -1);
}

/* Read what is there, waiting up to timeout_ms (0: do not wait): bytes,
 * 0 closed, -1 nothing in time. */
ssize_t
h_raw_read(struct rconn *r, void *p, size_t len, int timeout_ms)
{
	int64_t	 deadline = -2;
	int	 n, rv;

	if (timeout_ms > 0)
		deadline = h_mono_ms() + timeout_ms;

	for (;;) {
		n = SSL_read(r->ssl, p, len > 65536 ? 65536 : (int)len);
		if (n > 0)
			return (n);
		if ((rv = ssl_retry(r, n, deadline)) != 1)
			return (rv);
	}
}

/* Assert the peer closes r within timeout_ms, discarding bytes before
 * the close; returns how many bytes were discarded. */
size_t
h_raw_expect_closed(struct rconn *r, int timeout_ms)
{
	int64_t	 deadline = h_mono_ms() + timeout_ms;
	uint8_t	 buf[16384];
	size_t	 total = 0;
	ssize_t	 n;
	int	 left;

	for (;;) {
		left = (int)(deadline - h_mono_ms());
		ck_assert_msg(left > 0, "relay connection still open after "
		    "%d ms", timeout_ms);
		if ((n = h_raw_read(r, buf, sizeof buf, left)) == 0)
			return (total);
		ck_assert_msg(n > 0, "relay connection still open after %d ms",
		    timeout_ms);
		total += (size_t)n;
	}
}
