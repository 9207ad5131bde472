/*
 * stdisco.h -- Syncthing's discovery server (stdiscosrv) as an anchor:
 * the server process, its devices, and the client side of a lookup over
 * HTTPS with keep-alive (bench/stdisco.c). Blocking, as gen.h.
 */
#ifndef TRYST_STDISCO_H
#define TRYST_STDISCO_H

#include <sys/types.h>

#include <netinet/in.h>

#include <openssl/ssl.h>

#include "gen.h"

#define STDISCO_ID_LEN	64	/* a device ID as text, with its NUL */

/* 1 if stdiscosrv (Debian: syncthing-discosrv) and taskset are on PATH. */
int	 stdisco_installed(void);
/* Start stdiscosrv on 127.0.0.1:port with its database, certificate and
 * log in H.dir (the certificate made when missing): plain HTTP, as
 * behind a TLS proxy, when http; pinned to CPU cpu with GOMAXPROCS=1
 * when cpu >= 0. Returns once it takes connections (asserting). */
pid_t	 stdisco_start(int http, int port, int cpu);
/* SIGTERM and reap; the database stays for the next start. */
void	 stdisco_stop(pid_t);
/* The device ID (Syncthing's text form, with check characters and
 * dashes) of the certificate bytes cert: that of their SHA-256. */
void	 stdisco_device_id(char out[STDISCO_ID_LEN], const uint8_t *cert,
	    size_t len);
/* Fill devs with n new device IDs and announce the even ones to a
 * stdiscosrv -http on port (asserting each is taken). */
void	 stdisco_announce(int port, char (*devs)[STDISCO_ID_LEN], long n);
/* TCP from src to dst and a TLS handshake without ALPN into c; 0, or -1
 * and why with nothing left open. */
int	 stdisco_open(SSL_CTX *, const struct sockaddr_in *src,
	    const struct sockaddr_in *dst, struct gconn *c, char *why,
	    size_t whylen);
/* Send GET /?device=dev (HTTP/1.1, keep-alive) on c; 0, or -1. */
int	 stdisco_get(struct gconn *c, const char *dev);
/* Read one whole response on c and drop its body: its status, or -1 and
 * why. Expects nothing after it (one request in flight). */
int	 stdisco_response(struct gconn *c, char *why, size_t whylen);

#endif
