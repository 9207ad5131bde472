/*
 * tls.c -- the TLS 1.3 context: ALPN tryst/2 or tryst/1 required (the
 * version of the connection, doc/protocol.md), no resumption,
 * elliptic-curve key exchange only, and the hash of the certificate's key
 * that CHALLENGE signs.
 */
#include <stdlib.h>
#include <string.h>

#include <openssl/err.h>
#include <openssl/sha.h>
#include <openssl/x509.h>

#include "server.h"

/* The versions spoken, most preferred first. */
static const char *const alpn_tryst[] = { "tryst/2", "tryst/1" };

/*
 * The key exchange groups offered. Finite-field groups are left out: a
 * ClientHello offering only ffdhe8192 costs the server over 100 ms of CPU,
 * so a few hellos a second would take a core. X25519 costs tens of
 * microseconds; P-256 is there for clients that cannot do X25519.
 */
#define TLS_GROUPS	"X25519:P-256"

/* Pick tryst/2, else tryst/1, from the client's ALPN list, whatever its
 * order; or refuse the handshake. */
static int
alpn_select(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	unsigned int	 i;
	size_t		 v, n;

	for (v = 0; v < nitems(alpn_tryst); v++) {
		n = strlen(alpn_tryst[v]);
		for (i = 0; i < inlen; i += 1 + in[i]) {
			if (in[i] == n && i + 1 + n <= inlen &&
			    memcmp(in + i + 1, alpn_tryst[v], n) == 0) {
				*out = in + i + 1;
				*outlen = (unsigned char)n;
				return (SSL_TLSEXT_ERR_OK);
			}
		}
	}
	return (SSL_TLSEXT_ERR_ALERT_FATAL);
}

/* The version the handshake of ssl agreed: 2 for tryst/2, else 1. */
int
tls_version(SSL *ssl)
{
	const unsigned char	*p;
	unsigned int		 len;

	SSL_get0_alpn_selected(ssl, &p, &len);
	return (len == 7 && memcmp(p, "tryst/2", 7) == 0 ? 2 : 1);
}

/* A ClientHello without ALPN is refused: the select callback would not
 * even run for it. */
static int
client_hello(SSL *ssl, int *al, void *arg)
{
	const unsigned char	*ext;
	size_t			 len;

	if (!SSL_client_hello_get0_ext(ssl,
	    TLSEXT_TYPE_application_layer_protocol_negotiation, &ext, &len)) {
		*al = SSL_AD_NO_APPLICATION_PROTOCOL;
		return (SSL_CLIENT_HELLO_ERROR);
	}
	return (SSL_CLIENT_HELLO_SUCCESS);
}

/* The OpenSSL error queue as a string for a cause. */
static char *
ssl_cause(const char *what, const char *path)
{
	char		 buf[256] = "unknown error";
	unsigned long	 e;
	char		*cause;

	if ((e = ERR_get_error()) != 0)
		ERR_error_string_n(e, buf, sizeof buf);
	ERR_clear_error();
	xasprintf(&cause, "%s %s: %s", what, path, buf);
	return (cause);
}

/* SHA-256 of the DER SubjectPublicKeyInfo of the context's certificate. */
static int
spki_hash_of(SSL_CTX *ctx, uint8_t out[32])
{
	X509		*cert;
	unsigned char	*der = NULL;
	int		 len;

	if ((cert = SSL_CTX_get0_certificate(ctx)) == NULL)
		return (-1);
	len = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(cert), &der);
	if (len <= 0)
		return (-1);
	SHA256(der, (size_t)len, out);
	OPENSSL_free(der);
	return (0);
}

/* Make the server's TLS context from a certificate chain and key. */
SSL_CTX *
tls_ctx_new(const char *cert, const char *key, uint8_t spki_hash[32],
    char **cause)
{
	SSL_CTX	*ctx;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL) {
		*cause = ssl_cause("SSL_CTX_new", "");
		return (NULL);
	}
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	if (SSL_CTX_set1_groups_list(ctx, TLS_GROUPS) != 1) {
		*cause = ssl_cause("key exchange groups", TLS_GROUPS);
		goto fail;
	}
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_max_early_data(ctx, 0);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	SSL_CTX_set_alpn_select_cb(ctx, alpn_select, NULL);
	SSL_CTX_set_client_hello_cb(ctx, client_hello, NULL);
	if (SSL_CTX_use_certificate_chain_file(ctx, cert) != 1) {
		*cause = ssl_cause("certificate", cert);
		goto fail;
	}
	if (SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1) {
		*cause = ssl_cause("key", key);
		goto fail;
	}
	if (SSL_CTX_check_private_key(ctx) != 1) {
		*cause = ssl_cause("key does not match certificate", cert);
		goto fail;
	}
	if (spki_hash_of(ctx, spki_hash) != 0) {
		*cause = ssl_cause("public key of", cert);
		goto fail;
	}
	return (ctx);
fail:
	SSL_CTX_free(ctx);
	return (NULL);
}

/* The TLS context of a configuration: its certificate and key settings
 * may name systemd credentials. */
SSL_CTX *
tls_ctx_load(const struct settings *set, uint8_t spki_hash[32], char **cause)
{
	SSL_CTX	*ctx = NULL;
	char	*cert, *key = NULL;

	if ((cert = settings_path(set, set->tls_cert, cause)) != NULL &&
	    (key = settings_path(set, set->tls_key, cause)) != NULL)
		ctx = tls_ctx_new(cert, key, spki_hash, cause);
	free(cert);
	free(key);
	return (ctx);
}
