/*
 * stdisco.c -- Syncthing's discovery server (stdiscosrv) as the anchor of
 * the LOOKUP benchmark: start and stop it, announce devices through its
 * -http mode (as behind a TLS proxy), name devices as Syncthing does, and
 * the client side of an HTTPS keep-alive lookup. Blocking, as gen.c.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>

#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <openssl/ssl.h>
#include <check.h>
#include <sodium.h>

#include "harness.h"
#include "bench.h"
#include "stdisco.h"

#define IO_TIMEOUT_S	10

/* Write len bytes of buf on c; 0, or -1. */
static int
put(struct gconn *c, const void *buf, size_t len)
{
	if (c->ssl != NULL)
		return (SSL_write(c->ssl, buf, (int)len) == (int)len ? 0 : -1);
	return (write(c->fd, buf, len) == (ssize_t)len ? 0 : -1);
}

/* Some bytes from c into buf; how many, or <= 0. */
static ssize_t
get(struct gconn *c, void *buf, size_t len)
{
	if (c->ssl != NULL)
		return (SSL_read(c->ssl, buf, (int)len));
	return (read(c->fd, buf, len));
}

/* One HTTP/1.1 response on c, its body read and dropped: its status, or
 * -1 and why. Nothing may follow it (one request in flight). */
int
stdisco_response(struct gconn *c, char *why, size_t whylen)
{
	char	 buf[4096], *end, *cl;
	size_t	 have = 0, body;
	ssize_t	 n;
	long	 len;
	int	 status;

	do {
		if (have == sizeof buf - 1 ||
		    (n = get(c, buf + have, sizeof buf - 1 - have)) <= 0) {
			snprintf(why, whylen, "HTTP: no whole header");
			return (-1);
		}
		have += (size_t)n;
		buf[have] = '\0';
	} while ((end = strstr(buf, "\r\n\r\n")) == NULL);
	/* Go's server gives each small answer a Content-Length; 204 has
	 * no body. */
	cl = strstr(buf, "\r\nContent-Length: ");
	if (sscanf(buf, "HTTP/1.1 %d", &status) != 1 ||
	    ((cl == NULL || cl > end) && status != 204)) {
		snprintf(why, whylen, "HTTP: no status or Content-Length");
		return (-1);
	}
	len = cl != NULL && cl < end ? strtol(cl + 18, NULL, 10) : 0;
	for (body = have - (size_t)(end + 4 - buf); (long)body < len;
	    body += (size_t)n) {
		if ((n = get(c, buf, sizeof buf)) <= 0) {
			snprintf(why, whylen, "HTTP: body cut short");
			return (-1);
		}
	}
	if ((long)body != len) {
		snprintf(why, whylen, "HTTP: bytes after the body");
		return (-1);
	}
	return (status);
}

/* A TLS connection from src to dst without ALPN; 0, or -1 and why. */
int
stdisco_open(SSL_CTX *ctx, const struct sockaddr_in *src,
    const struct sockaddr_in *dst, struct gconn *c, char *why, size_t whylen)
{
	c->ssl = NULL;
	if ((c->fd = gen_tcp(src, dst, IO_TIMEOUT_S, why, whylen)) == -1)
		return (-1);
	if ((c->ssl = SSL_new(ctx)) == NULL || !SSL_set_fd(c->ssl, c->fd) ||
	    SSL_connect(c->ssl) != 1) {
		snprintf(why, whylen, "TLS handshake with stdiscosrv failed");
		gen_close(c);
		return (-1);
	}
	return (0);
}

/* The device ID of the certificate bytes cert as Syncthing writes it:
 * base32 of its SHA-256, a Luhn mod 32 check character after each 13,
 * groups of 7 joined by '-'. */
void
stdisco_device_id(char out[STDISCO_ID_LEN], const uint8_t *cert, size_t len)
{
	static const char b32[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567";
	uint8_t		 h[32];
	char		 s[53], l[57];
	unsigned	 acc = 0, bits = 0, sum, a, f;
	size_t		 i, j, n = 0, o = 0;

	crypto_hash_sha256(h, cert, len);
	for (i = 0; i < sizeof h; i++) {
		acc = acc << 8 | h[i];
		for (bits += 8; bits >= 5; bits -= 5)
			s[n++] = b32[(acc >> (bits - 5)) & 31];
	}
	s[n++] = b32[(acc << (5 - bits)) & 31];
	for (i = 0; i < 4; i++) {
		for (j = 0, sum = 0, f = 1; j < 13; j++, f = 3 - f) {
			a = (unsigned)(strchr(b32, s[13 * i + j]) - b32) * f;
			sum += a / 32 + a % 32;
			l[o++] = s[13 * i + j];
		}
		l[o++] = b32[(32 - sum % 32) % 32];
	}
	for (i = 0, n = 0; i < 56; i++) {
		if (i > 0 && i % 7 == 0)
			out[n++] = '-';
		out[n++] = l[i];
	}
	out[n] = '\0';
}

/* Start stdiscosrv on port over the database in H.dir (plain HTTP when
 * http, on CPU cpu when >= 0); wait until it takes connections. */
pid_t
stdisco_start(int http, int port, int cpu)
{
	char	 listen[32], db[PATH_MAX], cert[PATH_MAX], key[PATH_MAX];
	char	 repl[32], log[PATH_MAX], cpus[16];
	char	*argv[16], *env[] = { "GOMAXPROCS=1", NULL };
	int	 n = 0, i, fd;
	pid_t	 pid;
	struct sockaddr_in sin;

	snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
	snprintf(repl, sizeof repl, "127.0.0.1:%d", h_proc_port(SOCK_STREAM));
	snprintf(db, sizeof db, "%s/disco.db", H.dir);
	snprintf(cert, sizeof cert, "%s/disco-cert.pem", H.dir);
	snprintf(key, sizeof key, "%s/disco-key.pem", H.dir);
	snprintf(log, sizeof log, "%s/stdiscosrv.log", H.dir);
	if (access(cert, R_OK) != 0)
		ck_assert_int_eq(h_run(NULL, "openssl req -x509 -newkey ec "
		    "-pkeyopt ec_paramgen_curve:prime256v1 -nodes -keyout %s "
		    "-out %s -days 2 -subj /CN=localhost", key, cert), 0);
	snprintf(cpus, sizeof cpus, "%d", cpu);
	if (cpu >= 0) {
		argv[n++] = "taskset";
		argv[n++] = "-c";
		argv[n++] = cpus;
	}
	argv[n++] = "stdiscosrv";
	if (http)
		argv[n++] = "-http";
	argv[n++] = "-listen";
	argv[n++] = listen;
	argv[n++] = "-db-dir";
	argv[n++] = db;
	argv[n++] = "-cert";
	argv[n++] = cert;
	argv[n++] = "-key";
	argv[n++] = key;
	argv[n++] = "-replication-listen";
	argv[n++] = repl;
	argv[n] = NULL;
	ck_assert_int_gt(pid = h_spawn(argv, cpu >= 0 ? env : NULL, log), 0);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	for (i = 0; i < 100; i++) {
		ck_assert_msg(waitpid(pid, NULL, WNOHANG) == 0,
		    "stdiscosrv exited (see %s)", log);
		ck_assert_int_ne(fd = socket(AF_INET, SOCK_STREAM, 0), -1);
		n = connect(fd, (struct sockaddr *)&sin, sizeof sin);
		close(fd);
		if (n == 0)
			return (pid);
		h_msleep(100);
	}
	ck_abort_msg("stdiscosrv: not listening (see %s)", log);
	return (-1);
}

/* Stop stdiscosrv (its database stays). */
void
stdisco_stop(pid_t pid)
{
	kill(pid, SIGTERM);
	waitpid(pid, NULL, 0);
}

/* Name n devices into devs and announce the even ones to stdiscosrv
 * -http on port (the certificate in X-SSL-Cert, as a proxy passes it);
 * the odd ones are never announced. */
void
stdisco_announce(int port, char (*devs)[STDISCO_ID_LEN], long n)
{
	static const char body[] =
	    "{\"addresses\":[\"tcp://192.0.2.1:22000\"]}";
	struct sockaddr_in src, dst;
	struct gconn	 c = { -1, NULL, 1 };
	uint8_t		 cert[32];
	char		 b64[64], esc[128], req[512], why[96];
	size_t		 i, j, len;
	long		 k;
	int		 st;

	memset(&src, 0, sizeof src);
	src.sin_family = AF_INET;
	src.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	dst = src;
	dst.sin_port = htons((uint16_t)port);
	ck_assert_msg((c.fd = gen_tcp(&src, &dst, IO_TIMEOUT_S, why,
	    sizeof why)) != -1, "announce: %s", why);
	for (k = 0; k < n; k++) {
		/* Any bytes will do: the ID is their SHA-256. */
		randombytes_buf(cert, sizeof cert);
		stdisco_device_id(devs[k], cert, sizeof cert);
		if (k % 2 != 0)
			continue;
		sodium_bin2base64(b64, sizeof b64, cert, sizeof cert,
		    sodium_base64_VARIANT_ORIGINAL);
		/* URL-escaped, as in nginx's $ssl_client_escaped_cert. */
		for (i = 0, j = 0; b64[i] != '\0'; i++) {
			if (strchr("+/=", b64[i]) != NULL)
				j += (size_t)snprintf(esc + j, 4, "%%%02X",
				    (unsigned char)b64[i]);
			else
				esc[j++] = b64[i];
		}
		esc[j] = '\0';
		len = (size_t)snprintf(req, sizeof req, "POST / HTTP/1.1\r\n"
		    "Host: localhost\r\nX-SSL-Cert: -----BEGIN%%20CERTIFICATE"
		    "-----%%0A%s%%0A-----END%%20CERTIFICATE-----%%0A\r\n"
		    "Content-Length: %zu\r\n\r\n%s", esc, sizeof body - 1,
		    body);
		ck_assert_int_eq(put(&c, req, len), 0);
		st = stdisco_response(&c, why, sizeof why);
		ck_assert_msg(st == 204, "announce: %d %s", st, why);
	}
	close(c.fd);
}

/* 1 if stdiscosrv and taskset are on PATH. */
int
stdisco_installed(void)
{
	return (h_run(NULL, "command -v stdiscosrv && command -v taskset") ==
	    0);
}

/* GET /?device=dev on c; 0, or -1. */
int
stdisco_get(struct gconn *c, const char *dev)
{
	char	 req[160];
	int	 len;

	len = snprintf(req, sizeof req, "GET /?device=%s HTTP/1.1\r\n"
	    "Host: localhost\r\n\r\n", dev);
	if (len < 0 || (size_t)len >= sizeof req)
		return (-1);
	return (put(c, req, (size_t)len));
}
