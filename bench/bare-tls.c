/*
 * bare-tls.c -- the anchor of connection setup: a bare libevent + OpenSSL
 * TLS 1.3 server that completes the handshake and closes, nothing more.
 * Its context is made as trystd's is (server/tls.c): TLS 1.3 only, the
 * key exchange groups X25519 and P-256, no tickets, no session cache, no
 * renegotiation or early data, SSL_MODE_RELEASE_BUFFERS; and each
 * connection is a bufferevent_openssl with the options trystd gives its
 * own. It takes no ALPN, which costs trystd next to nothing.
 *
 * Usage: bare-tls PORT CERT KEY (listens on 127.0.0.1:PORT)
 */
#include <netinet/in.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

/* The context of trystd's tls_ctx_new, with the certificate and key. */
static SSL_CTX *
bare_ctx(const char *cert, const char *key)
{
	SSL_CTX	*ctx;

	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL)
		return (NULL);
	SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION);
	SSL_CTX_set_options(ctx, SSL_OP_NO_TICKET |
	    SSL_OP_NO_RENEGOTIATION | SSL_OP_CIPHER_SERVER_PREFERENCE);
	SSL_CTX_set_session_cache_mode(ctx, SSL_SESS_CACHE_OFF);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_max_early_data(ctx, 0);
	SSL_CTX_set_mode(ctx, SSL_MODE_RELEASE_BUFFERS);
	if (SSL_CTX_set1_groups_list(ctx, "X25519:P-256") != 1 ||
	    SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1 ||
	    SSL_CTX_check_private_key(ctx) != 1) {
		SSL_CTX_free(ctx);
		return (NULL);
	}
	return (ctx);
}

/* Handshake done, or failed: either way the connection goes. */
static void
bare_event(struct bufferevent *bev, short what, void *arg)
{
	bufferevent_free(bev);
}

/* A connection: start the handshake on it. */
static void
bare_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct event_base	*base = evconnlistener_get_base(l);
	struct bufferevent	*bev;
	SSL			*ssl;

	if ((ssl = SSL_new(arg)) == NULL) {
		evutil_closesocket(fd);
		return;
	}
	bev = bufferevent_openssl_socket_new(base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (bev == NULL) {
		SSL_free(ssl);
		evutil_closesocket(fd);
		return;
	}
	bufferevent_setcb(bev, NULL, NULL, bare_event, NULL);
	bufferevent_enable(bev, EV_READ);
}

/* Listen on 127.0.0.1:PORT until killed. */
int
main(int argc, char *argv[])
{
	struct sockaddr_in	 sin;
	struct event_base	*base;
	struct evconnlistener	*l;
	SSL_CTX			*ctx;
	long			 port;

	if (argc != 4 || (port = strtol(argv[1], NULL, 10)) < 1 ||
	    port > 65535) {
		fprintf(stderr, "usage: bare-tls PORT CERT KEY\n");
		return (2);
	}
	signal(SIGPIPE, SIG_IGN);
	if ((ctx = bare_ctx(argv[2], argv[3])) == NULL) {
		ERR_print_errors_fp(stderr);
		return (1);
	}
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	if ((base = event_base_new()) == NULL ||
	    (l = evconnlistener_new_bind(base, bare_accept, ctx,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE, 1024,
	    (struct sockaddr *)&sin, sizeof sin)) == NULL) {
		perror("bare-tls: listen");
		return (1);
	}
	event_base_dispatch(base);
	evconnlistener_free(l);
	event_base_free(base);
	SSL_CTX_free(ctx);
	return (0);
}
