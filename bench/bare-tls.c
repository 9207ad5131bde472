/*
 * bare-tls.c -- the anchor of connection setup: a bare libevent + OpenSSL
 * TLS 1.3 server that completes the handshake and closes, nothing more.
 * Its context is made as trystd's is (server/tls.c): TLS 1.3 only, the
 * key exchange groups X25519 and P-256, no tickets, no session cache, no
 * renegotiation or early data, SSL_MODE_RELEASE_BUFFERS; and each
 * connection is a bufferevent_openssl with the options trystd gives its
 * own. It takes no ALPN, which costs trystd next to nothing.
 *
 * With --hold it keeps each connection open after the handshake, reading
 * and dropping what comes, until the client closes it: the anchor of
 * idle connections' memory.
 *
 * Usage: tryst-bench bare-tls [--hold] PORT CERT KEY (listens on
 * 127.0.0.1:PORT)
 */
#include <netinet/in.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <event2/buffer.h>
#include <event2/bufferevent_ssl.h>
#include <event2/event.h>
#include <event2/listener.h>
#include <openssl/err.h>
#include <openssl/ssl.h>

#include "bench.h"

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

static int	 hold;

/* Handshake done: the connection goes unless held; EOF or an error:
 * it goes. */
static void
bare_event(struct bufferevent *bev, short what, void *arg)
{
	if (hold && (what & BEV_EVENT_CONNECTED) != 0)
		return;
	bufferevent_free(bev);
}

/* A held connection's bytes: dropped. */
static void
bare_read(struct bufferevent *bev, void *arg)
{
	evbuffer_drain(bufferevent_get_input(bev),
	    evbuffer_get_length(bufferevent_get_input(bev)));
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
	bufferevent_setcb(bev, hold ? bare_read : NULL, NULL, bare_event,
	    NULL);
	bufferevent_enable(bev, EV_READ);
}

/* Listen on 127.0.0.1:PORT until killed. */
int
bench_bare_tls_main(int argc, char *argv[])
{
	struct sockaddr_in	 sin;
	struct event_base	*base;
	struct evconnlistener	*l;
	SSL_CTX			*ctx;
	long			 port;

	if (argc > 1 && strcmp(argv[1], "--hold") == 0) {
		hold = 1;
		argc--;
		argv++;
	}
	if (argc != 4 || (port = strtol(argv[1], NULL, 10)) < 1 ||
	    port > 65535) {
		fprintf(stderr,
		    "usage: tryst-bench bare-tls [--hold] PORT CERT KEY\n");
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
