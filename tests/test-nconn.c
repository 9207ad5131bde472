/*
 * test-nconn.c -- nconn.c's state machine with no socket: the client's
 * SSL and a server SSL made here talk through a pair of memory BIOs, and
 * the test plays trystd's side by hand (ALPN choice, CHALLENGE, frames),
 * stepping the client with a clock it sets. Every check a client makes
 * of the server (ALPN, signing key, tls_sig, CHALLENGE first, frame
 * lengths) and every way a connection ends is reached this way.
 */
#include <sys/types.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <openssl/err.h>
#include <openssl/evp.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "client.h"
#include "unit.h"

#define T0	1000000		/* the test's clock at the start, ms */

/* trystd's side of one connection. */
struct srv {
	SSL_CTX		*ctx;
	SSL		*ssl;
	EVP_PKEY	*pkey;
	X509		*cert;
	uint8_t		 spki[32];
	uint8_t		 sign_pk[32];
	uint8_t		 sign_sk[64];
	const char	*alpn;		/* what it picks; NULL: none */
	struct nconn	*c;		/* the client under test */
	BIO		*sbio;
};

/* Pick the ALPN the test asked for, if the client offered it. */
static int
srv_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	struct srv	*s = arg;
	unsigned int	 i;

	(void)ssl;
	if (s->alpn == NULL)
		return (SSL_TLSEXT_ERR_NOACK);
	for (i = 0; i < inlen; i += 1 + in[i]) {
		if (in[i] == strlen(s->alpn) &&
		    memcmp(in + i + 1, s->alpn, in[i]) == 0) {
			*out = in + i + 1;
			*outlen = in[i];
			return (SSL_TLSEXT_ERR_OK);
		}
	}
	return (SSL_TLSEXT_ERR_NOACK);
}

/* A self-signed Ed25519 certificate and its SPKI hash. */
static void
srv_cert(struct srv *s)
{
	uint8_t		*der = NULL;
	int		 len;

	ck_assert_ptr_nonnull(s->pkey = EVP_PKEY_Q_keygen(NULL, NULL,
	    "ED25519"));
	ck_assert_ptr_nonnull(s->cert = X509_new());
	X509_set_version(s->cert, 2);
	ASN1_INTEGER_set(X509_get_serialNumber(s->cert), 1);
	X509_gmtime_adj(X509_getm_notBefore(s->cert), 0);
	X509_gmtime_adj(X509_getm_notAfter(s->cert), 3600);
	X509_NAME_add_entry_by_txt(X509_get_subject_name(s->cert), "CN",
	    MBSTRING_ASC, (const unsigned char *)"tryst", -1, -1, 0);
	X509_set_issuer_name(s->cert, X509_get_subject_name(s->cert));
	X509_set_pubkey(s->cert, s->pkey);
	ck_assert_int_gt(X509_sign(s->cert, s->pkey, NULL), 0);
	len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(s->cert), &der);
	ck_assert_int_gt(len, 0);
	crypto_hash_sha256(s->spki, der, (unsigned long long)len);
	OPENSSL_free(der);
}

/* A server picking alpn, and a client offering up to max_version that
 * expects the server's key (expect 1), another key (2) or any (0). */
static void
srv_new(struct srv *s, const char *alpn, int max_version, int expect)
{
	BIO		*cbio, *sbio;
	SSL_CTX		*cctx;
	SSL		*cssl;
	uint8_t		 other[32];

	memset(s, 0, sizeof *s);
	s->alpn = alpn;
	crypto_sign_keypair(s->sign_pk, s->sign_sk);
	srv_cert(s);
	ck_assert_ptr_nonnull(s->ctx = SSL_CTX_new(TLS_server_method()));
	SSL_CTX_set_min_proto_version(s->ctx, TLS1_3_VERSION);
	ck_assert_int_eq(SSL_CTX_use_certificate(s->ctx, s->cert), 1);
	ck_assert_int_eq(SSL_CTX_use_PrivateKey(s->ctx, s->pkey), 1);
	SSL_CTX_set_alpn_select_cb(s->ctx, srv_alpn, s);
	ck_assert_ptr_nonnull(s->ssl = SSL_new(s->ctx));
	ck_assert_int_eq(BIO_new_bio_pair(&cbio, 0, &sbio, 0), 1);
	SSL_set_bio(s->ssl, sbio, sbio);
	SSL_set_accept_state(s->ssl);
	s->sbio = sbio;

	ck_assert_ptr_nonnull(cctx = SSL_CTX_new(TLS_client_method()));
	SSL_CTX_set_min_proto_version(cctx, TLS1_3_VERSION);
	ck_assert_ptr_nonnull(cssl = SSL_new(cctx));
	SSL_CTX_free(cctx);	/* cssl holds a reference */
	SSL_set_bio(cssl, cbio, cbio);
	SSL_set_connect_state(cssl);
	randombytes_buf(other, sizeof other);
	s->c = nconn_over(cssl, max_version, expect == 0 ? NULL :
	    expect == 1 ? s->sign_pk : other, T0);
}

static void
srv_free(struct srv *s)
{
	nconn_free(s->c);
	SSL_free(s->ssl);
	SSL_CTX_free(s->ctx);
	X509_free(s->cert);
	EVP_PKEY_free(s->pkey);
}

/* Step both sides until neither moves: the client at time now. */
static void
pump(struct srv *s, int64_t now)
{
	int	 i;

	for (i = 0; i < 20; i++) {
		nconn_step(s->c, now);
		if (!SSL_is_init_finished(s->ssl))
			SSL_do_handshake(s->ssl);
		else
			SSL_peek(s->ssl, (char[1]){0}, 0);
	}
	nconn_step(s->c, now);
}

/* The server sends bytes, n at a time, pumping between writes. */
static void
srv_write(struct srv *s, const uint8_t *p, size_t len, size_t n, int64_t now)
{
	size_t	 k;

	while (len > 0) {
		k = len < n ? len : n;
		ck_assert_int_eq(SSL_write(s->ssl, p, (int)k), (int)k);
		p += k;
		len -= k;
		pump(s, now);
	}
}

/* The server sends a message in version v, n bytes at a time. */
static void
srv_send(struct srv *s, struct msg *m, int v, size_t n, int64_t now)
{
	uint8_t	 buf[PROTO_MAX_FRAME];
	size_t	 len;

	m->version = (uint8_t)v;
	ck_assert_uint_gt(len = proto_encode(m, buf, sizeof buf), 0);
	srv_write(s, buf, len, n, now);
}

/* CHALLENGE as trystd sends it; sig_ok 0 signs another certificate. */
static void
srv_challenge(struct srv *s, int sig_ok, size_t n)
{
	struct keys	 k;
	struct msg	 m;
	uint8_t		 hash[32];

	memset(&k, 0, sizeof k);
	memcpy(k.sign_pk, s->sign_pk, 32);
	memcpy(k.sign_sk, s->sign_sk, 64);
	memset(&m, 0, sizeof m);
	m.type = MSG_CHALLENGE;
	m.u.challenge.version = 1;
	randombytes_buf(m.u.challenge.nonce, 32);
	m.u.challenge.server_time_ms = 1234567;
	memcpy(m.u.challenge.sign_pk, s->sign_pk, 32);
	memcpy(hash, s->spki, 32);
	if (!sig_ok)
		hash[0] ^= 1;
	tls_sig_make(m.u.challenge.tls_sig, &k, m.u.challenge.nonce, hash);
	srv_send(s, &m, 1, n, T0);
	sodium_memzero(&k, sizeof k);
}

/* Read what the client sent: one frame's type, or -1 when none. */
static int
srv_read_type(struct srv *s)
{
	uint8_t	 buf[PROTO_MAX_FRAME];
	int	 n;

	pump(s, T0);
	if ((n = SSL_read(s->ssl, buf, sizeof buf)) < PROTO_HDR + 1)
		return (-1);
	ck_assert_uint_eq(proto_frame_len(buf), (uint32_t)n - PROTO_HDR);
	return (buf[PROTO_HDR]);
}

/* Up to OPEN with the version v picked. */
static void
open_v(struct srv *s, const char *alpn, int max_version)
{
	srv_new(s, alpn, max_version, 1);
	pump(s, T0);
	ck_assert_int_eq(nconn_state(s->c), NCONN_CHALLENGE);
	ck_assert_ptr_null(nconn_challenge(s->c));
	srv_challenge(s, 1, 7);
	ck_assert_msg(nconn_state(s->c) == NCONN_OPEN, "%s",
	    nconn_error(s->c));
}

/* tryst/2 agreed, CHALLENGE arriving 7 bytes at a time: open, with the
 * server's nonce, time and key; a PING goes out as a frame. */
START_TEST(test_open_v2)
{
	struct srv	 s;
	struct msg	 m;

	open_v(&s, "tryst/2", 2);
	ck_assert_int_eq(nconn_version(s.c), 2);
	ck_assert_uint_eq(nconn_challenge(s.c)->server_time_ms, 1234567);
	ck_assert_mem_eq(nconn_challenge(s.c)->sign_pk, s.sign_pk, 32);
	ck_assert_int_eq(nconn_fd(s.c), -1);
	ck_assert_uint_eq(nconn_events(s.c) & NCONN_READ, NCONN_READ);
	memset(&m, 0, sizeof m);
	m.type = MSG_PING;
	m.u.ping.nonce = 42;
	ck_assert_int_eq(nconn_send(s.c, &m), 0);
	ck_assert_uint_gt(nconn_queued(s.c), 0);
	ck_assert_uint_eq(nconn_events(s.c) & NCONN_WRITE, NCONN_WRITE);
	ck_assert_int_eq(srv_read_type(&s), MSG_PING);
	ck_assert_uint_eq(nconn_queued(s.c), 0);
	ck_assert_uint_eq(nconn_events(s.c), NCONN_READ);
	srv_free(&s);
}
END_TEST

/* A server that speaks only tryst/1, and a client that offers only it. */
START_TEST(test_open_v1)
{
	struct srv	 s;

	open_v(&s, "tryst/1", 2);
	ck_assert_int_eq(nconn_version(s.c), 1);
	srv_free(&s);
	open_v(&s, "tryst/1", 1);
	ck_assert_int_eq(nconn_version(s.c), 1);
	srv_free(&s);
}
END_TEST

/* Fail with a message that contains what. */
static void
assert_failed(struct srv *s, const char *what)
{
	ck_assert_int_eq(nconn_state(s->c), NCONN_FAILED);
	ck_assert_msg(strstr(nconn_error(s->c), what) != NULL,
	    "error \"%s\" lacks \"%s\"", nconn_error(s->c), what);
	ck_assert_uint_eq(nconn_events(s->c), 0);
	ck_assert_int_eq(nconn_deadline(s->c), -1);
}

/* No ALPN, or tryst/2 to a client that offered tryst/1 alone (a server
 * that ignores the offer): refused before anything is sent. */
START_TEST(test_alpn_refused)
{
	struct srv	 s;

	srv_new(&s, NULL, 2, 1);
	pump(&s, T0);
	assert_failed(&s, "did not agree to ALPN tryst/2 or tryst/1");
	srv_free(&s);
}
END_TEST

/* The server's signing key is not the pinned one. */
START_TEST(test_key_changed)
{
	struct srv	 s;
	struct msg	 m;

	srv_new(&s, "tryst/2", 2, 2);
	pump(&s, T0);
	srv_challenge(&s, 1, 1000);
	assert_failed(&s, "server signing key changed");
	memset(&m, 0, sizeof m);
	m.type = MSG_PING;
	ck_assert_int_eq(nconn_send(s.c, &m), -1);
	ck_assert_int_eq(errno, EPIPE);
	ck_assert_int_eq(nconn_recv(s.c, &m), -1);
	srv_free(&s);
}
END_TEST

/* tls_sig over another certificate: someone in the middle. With no
 * pinned key the signature is still checked. */
START_TEST(test_sig_bad)
{
	struct srv	 s;

	srv_new(&s, "tryst/2", 2, 0);
	pump(&s, T0);
	srv_challenge(&s, 0, 1000);
	assert_failed(&s, "CHALLENGE signature does not verify");
	srv_free(&s);
}
END_TEST

/* An ERROR instead of CHALLENGE (the node is full), another message, a
 * frame too long, and a server that closes: each fails with its reason. */
START_TEST(test_not_challenge)
{
	struct srv	 s;
	struct msg	 m;
	uint8_t		 big[] = { 0x00, 0x01, 0x00, 0x01, MSG_PONG };

	srv_new(&s, "tryst/2", 2, 1);
	pump(&s, T0);
	memset(&m, 0, sizeof m);
	m.type = MSG_ERROR;
	m.u.error.code = ERR_RATE_LIMITED;
	m.u.error.message.p = (const uint8_t *)"full\n";
	m.u.error.message.len = 5;
	srv_send(&s, &m, 2, 1000, T0);
	assert_failed(&s, "server refused: RATE_LIMITED: full\\x0a");
	srv_free(&s);

	srv_new(&s, "tryst/2", 2, 1);
	pump(&s, T0);
	memset(&m, 0, sizeof m);
	m.type = MSG_PONG;
	srv_send(&s, &m, 2, 1000, T0);
	assert_failed(&s, "expected CHALLENGE, got PONG");
	srv_free(&s);

	srv_new(&s, "tryst/2", 2, 1);
	pump(&s, T0);
	srv_write(&s, big, sizeof big, 1000, T0);
	assert_failed(&s, "frame of length 65537");
	srv_free(&s);

	srv_new(&s, "tryst/2", 2, 1);
	pump(&s, T0);
	SSL_shutdown(s.ssl);
	pump(&s, T0);
	assert_failed(&s, "waiting for CHALLENGE: server closed");
	srv_free(&s);
}
END_TEST

/* A server that says nothing: the deadline, and only at it. */
START_TEST(test_challenge_timeout)
{
	struct srv	 s;

	srv_new(&s, "tryst/2", 2, 1);
	pump(&s, T0);
	ck_assert_int_eq(nconn_deadline(s.c), T0 + NCONN_HANDSHAKE_MS);
	pump(&s, T0 + NCONN_HANDSHAKE_MS - 1);
	ck_assert_int_eq(nconn_state(s.c), NCONN_CHALLENGE);
	pump(&s, T0 + NCONN_HANDSHAKE_MS);
	assert_failed(&s, "waiting for CHALLENGE: timeout");
	srv_free(&s);
}
END_TEST

/* Frames once open: one split a byte at a time is 2 until whole; an
 * unknown server type and a client type are skipped (§2); two in one
 * write both come out; a malformed body fails. */
START_TEST(test_frames)
{
	struct srv	 s;
	struct msg	 m;
	uint8_t		 unknown[] = { 0, 0, 0, 2, 0xfe, 9 };
	uint8_t		 client[] = { 0, 0, 0, 9, MSG_PING, 1, 2, 3, 4, 5, 6,
			    7, 8 };
	uint8_t		 bad[] = { 0, 0, 0, 2, MSG_PONG, 1 };
	int		 i;

	open_v(&s, "tryst/2", 2);
	ck_assert_int_eq(nconn_recv(s.c, &m), 2);
	srv_write(&s, unknown, sizeof unknown, 1000, T0);
	srv_write(&s, client, sizeof client, 1000, T0);
	ck_assert_int_eq(nconn_recv(s.c, &m), 2);
	memset(&m, 0, sizeof m);
	m.type = MSG_PONG;
	m.u.ping.nonce = 7;
	for (i = 0; i < 2; i++)
		srv_send(&s, &m, 2, i == 0 ? 1 : 1000, T0);
	for (i = 0; i < 2; i++) {
		memset(&m, 0, sizeof m);
		ck_assert_int_eq(nconn_recv(s.c, &m), 1);
		ck_assert_int_eq(m.type, MSG_PONG);
		ck_assert_uint_eq(m.u.ping.nonce, 7);
		ck_assert_int_eq(m.version, 2);
	}
	ck_assert_int_eq(nconn_recv(s.c, &m), 2);
	srv_write(&s, bad, sizeof bad, 1000, T0);
	ck_assert_int_eq(nconn_recv(s.c, &m), -1);
	assert_failed(&s, "server sent a malformed PONG");
	srv_free(&s);
}
END_TEST

/* The server closes: between frames it is 0 and DONE; in the middle of
 * one it is a failure. */
START_TEST(test_close)
{
	struct srv	 s;
	struct msg	 m;
	uint8_t		 half[] = { 0, 0, 0, 9, MSG_PONG };

	open_v(&s, "tryst/2", 2);
	SSL_shutdown(s.ssl);
	pump(&s, T0);
	ck_assert_int_eq(nconn_recv(s.c, &m), 0);
	ck_assert_int_eq(nconn_state(s.c), NCONN_DONE);
	ck_assert_int_eq(nconn_recv(s.c, &m), 0);
	ck_assert_uint_eq(nconn_events(s.c), 0);
	srv_free(&s);

	open_v(&s, "tryst/2", 2);
	srv_write(&s, half, sizeof half, 1000, T0);
	SSL_shutdown(s.ssl);
	pump(&s, T0);
	ck_assert_int_eq(nconn_recv(s.c, &m), -1);
	assert_failed(&s, "in the middle of a frame");
	srv_free(&s);
}
END_TEST

/* A server that stops reading: the queue stops at NCONN_QUEUE_MAX with
 * EAGAIN, and output that cannot move fails the connection after
 * NCONN_WRITE_MS, not before. */
START_TEST(test_queue_full)
{
	struct srv	 s;
	uint8_t		*chunk;
	int64_t		 now = T0;
	size_t		 total = 0;

	open_v(&s, "tryst/2", 2);
	chunk = xcalloc(1, 4096);
	while (nconn_send_raw(s.c, chunk, 4096) == 0) {
		total += 4096;
		nconn_step(s.c, now);
		ck_assert_uint_le(total, 4 * NCONN_QUEUE_MAX);
	}
	ck_assert_int_eq(errno, EAGAIN);
	ck_assert_uint_gt(nconn_queued(s.c), NCONN_QUEUE_MAX - 4096);
	ck_assert_uint_eq(nconn_events(s.c), NCONN_READ | NCONN_WRITE);
	ck_assert_int_eq(nconn_deadline(s.c), now + NCONN_WRITE_MS);
	nconn_step(s.c, now + NCONN_WRITE_MS - 1);
	ck_assert_int_eq(nconn_state(s.c), NCONN_OPEN);
	nconn_step(s.c, now + NCONN_WRITE_MS);
	assert_failed(&s, "the server stopped reading");
	free(chunk);
	srv_free(&s);
}
END_TEST

/* Raw relay bytes: -2 when none, then what the server wrote, then 0
 * after its close. */
START_TEST(test_read_raw)
{
	struct srv	 s;
	char		 buf[64];

	open_v(&s, "tryst/2", 2);
	ck_assert_int_eq(nconn_read_raw(s.c, buf, sizeof buf), -2);
	srv_write(&s, (const uint8_t *)"ciphertext", 10, 1000, T0);
	ck_assert_int_eq(nconn_read_raw(s.c, buf, sizeof buf), 10);
	ck_assert_mem_eq(buf, "ciphertext", 10);
	SSL_shutdown(s.ssl);
	pump(&s, T0);
	ck_assert_int_eq(nconn_read_raw(s.c, buf, sizeof buf), 0);
	ck_assert_int_eq(nconn_state(s.c), NCONN_DONE);
	srv_free(&s);
}
END_TEST

/* A name that does not resolve and a port nobody listens on fail
 * without waiting; a malformed HOST:PORT says so. */
START_TEST(test_start_fails)
{
	struct nconn	*c;
	int		 i;

	c = nconn_start("no-port", 2, NULL, -1, T0);
	ck_assert_int_eq(nconn_state(c), NCONN_FAILED);
	ck_assert_ptr_nonnull(strstr(nconn_error(c), "not HOST:PORT"));
	nconn_free(c);
	c = nconn_start("[::1]:1", 2, NULL, -1, T0);
	for (i = 0; i < 100 && nconn_step(c, tryst_now_ms()) !=
	    NCONN_FAILED; i++)
		usleep(10000);
	ck_assert_int_eq(nconn_state(c), NCONN_FAILED);
	ck_assert_msg(strstr(nconn_error(c), "[::1]:1: connect:") != NULL,
	    "%s", nconn_error(c));
	nconn_free(c);
}
END_TEST

static Suite *
nconn_suite(void)
{
	Suite	*s = suite_create("nconn");
	TCase	*tc = tcase_create("core");

	tcase_add_test(tc, test_open_v2);
	tcase_add_test(tc, test_open_v1);
	tcase_add_test(tc, test_alpn_refused);
	tcase_add_test(tc, test_key_changed);
	tcase_add_test(tc, test_sig_bad);
	tcase_add_test(tc, test_not_challenge);
	tcase_add_test(tc, test_challenge_timeout);
	tcase_add_test(tc, test_frames);
	tcase_add_test(tc, test_close);
	tcase_add_test(tc, test_queue_full);
	tcase_add_test(tc, test_read_raw);
	tcase_add_test(tc, test_start_fails);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(void)
{
	if (sodium_init() == -1)
		return (1);
	return (unit_run(nconn_suite()));
}
