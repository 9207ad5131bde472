/*
 * integ-trust.c -- what the client trusts, end to end: the mode of its
 * identity file, and the CHALLENGEs it must refuse before it sends
 * anything (a bad tls_sig and another signing key, from a fake TLS
 * server; a wrong --key and a remembered key that changes, against real
 * trystds).
 */
#include <sys/prctl.h>
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stdarg.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <hiredis/hiredis.h>
#include <openssl/ssl.h>
#include <openssl/x509.h>
#include <sodium.h>

#include "harness.h"

#define N_MODE		"+15550100510"

/* ---- the client's files ----------------------------------------------- */

/* Run tryst with umask 0 and TRYST_HOME=H.dir/home; output in *out. */
static int
cli_run(char **out, const char *home, const char *fmt, ...)
{
	va_list	 ap;
	char	*args;
	int	 st;

	va_start(ap, fmt);
	if (vasprintf(&args, fmt, ap) == -1)
		abort();
	va_end(ap);
	st = h_run(out, "umask 0; TRYST_HOME='%s/%s' \"$TRYST\" %s 2>&1",
	    H.dir, home, args);
	free(args);
	return (st);
}

/* Assert the permission bits of TRYST_HOME's file name ("": itself). */
static void
mode_is(const char *home, const char *name, mode_t want)
{
	struct stat	 st;
	char		 path[PATH_MAX];

	snprintf(path, sizeof path, "%s/%s/%s", H.dir, home, name);
	ck_assert_msg(stat(path, &st) == 0, "%s: %s", path, strerror(errno));
	ck_assert_msg((st.st_mode & 07777) == want, "%s has mode %04o, not "
	    "%04o", path, (unsigned)(st.st_mode & 07777), (unsigned)want);
}

/* 1 if TRYST_HOME's file name exists. */
static int
home_has(const char *home, const char *name)
{
	char	 path[PATH_MAX];

	snprintf(path, sizeof path, "%s/%s/%s", H.dir, home, name);
	return (access(path, F_OK) == 0);
}

/* Decode TRYST_HOME's base64 file name into len bytes. */
static void
home_b64(const char *home, const char *name, uint8_t *out, size_t len)
{
	char	 path[PATH_MAX], *text, *why = NULL;

	snprintf(path, sizeof path, "%s/%s/%s", H.dir, home, name);
	text = file_read_small(path, 4096, NULL, &why);
	ck_assert_msg(text != NULL, "%s", why);
	ck_assert_msg(b64_decode(out, len, text) == 0, "%s: not base64 of "
	    "%zu bytes", path, len);
	sodium_memzero(text, strlen(text));
	free(text);
}

START_TEST(test_identity_mode)
{
	struct cred	 cr;
	uint8_t		 sk[64], pk[32], cred[CRED_LEN], id[ID_LEN];
	char		 code[16], *out = NULL;
	int		 st, before = h_code_count(N_MODE);

	st = cli_run(&out, "mode", "init --server %s", H.hostport);
	ck_assert_msg(st == 0, "tryst init: %d: %s", st, out);
	free(out);
	mode_is("mode", "", 0700);
	mode_is("mode", "identity", 0600);
	mode_is("mode", "config", 0600);
	st = cli_run(&out, "mode", "register %s", N_MODE);
	ck_assert_msg(st == 0, "tryst register: %d: %s", st, out);
	free(out);
	mode_is("mode", "identity", 0600);
	mode_is("mode", "pending", 0600);
	h_code_wait(N_MODE, before, code, sizeof code);
	st = cli_run(&out, "mode", "verify %s", code);
	ck_assert_msg(st == 0, "tryst verify: %d: %s", st, out);
	free(out);
	mode_is("mode", "identity", 0600);
	mode_is("mode", "credential", 0600);
	mode_is("mode", "config", 0600);
	ck_assert(!home_has("mode", "pending"));
	/* The file holds the key the credential was issued for. */
	home_b64("mode", "identity", sk, sizeof sk);
	home_b64("mode", "credential", cred, sizeof cred);
	ck_assert_int_eq(crypto_sign_ed25519_sk_to_pk(pk, sk), 0);
	sodium_memzero(sk, sizeof sk);
	ck_assert_int_eq(cred_verify(cred, CRED_LEN, H.sign_pk, &cr), 0);
	ck_assert_mem_eq(cr.identity_pk, pk, 32);
	ck_assert_int_eq(keys_number_id(H.keys, N_MODE, id), 0);
	ck_assert_mem_eq(cr.id, id, ID_LEN);
}
END_TEST

/* ---- a fake server: CHALLENGEs the client must refuse ----------------- */

enum fake_mode {
	FAKE_GOOD,		/* H's key, signed for this certificate */
	FAKE_BADSIG,		/* H's key, signed for another certificate */
	FAKE_OTHERKEY,		/* another key, signed for this certificate */
};

static int	 fake_lfd = -1;		/* the listener, one port per test */
static char	 fake_hostport[64];

/* Choose ALPN tryst/1 or refuse the handshake. */
static int
fake_alpn(SSL *ssl, const unsigned char **out, unsigned char *outlen,
    const unsigned char *in, unsigned int inlen, void *arg)
{
	static unsigned char	 want[] = "\007tryst/1";

	if (SSL_select_next_proto((unsigned char **)out, outlen, want,
	    sizeof want - 1, in, inlen) != OPENSSL_NPN_NEGOTIATED)
		return (SSL_TLSEXT_ERR_ALERT_FATAL);
	return (SSL_TLSEXT_ERR_OK);
}

/* A TLS 1.3 server context with H's certificate, or NULL. */
static SSL_CTX *
fake_ctx(void)
{
	SSL_CTX	*ctx;
	char	 cert[PATH_MAX + 16], key[PATH_MAX + 16];

	snprintf(cert, sizeof cert, "%s/cert.pem", H.dir);
	snprintf(key, sizeof key, "%s/key.pem", H.dir);
	if ((ctx = SSL_CTX_new(TLS_server_method())) == NULL ||
	    !SSL_CTX_set_min_proto_version(ctx, TLS1_3_VERSION) ||
	    SSL_CTX_use_certificate_chain_file(ctx, cert) != 1 ||
	    SSL_CTX_use_PrivateKey_file(ctx, key, SSL_FILETYPE_PEM) != 1)
		return (NULL);
	SSL_CTX_set_num_tickets(ctx, 0);
	SSL_CTX_set_alpn_select_cb(ctx, fake_alpn, NULL);
	return (ctx);
}

/* The CHALLENGE frame of mode for ctx's certificate; its length. */
static size_t
fake_challenge(SSL_CTX *ctx, enum fake_mode mode, uint8_t *out, size_t len)
{
	struct msg	 m;
	struct keys	*k = H.keys, *other = NULL;
	uint8_t		 hash[32], master[MASTER_KEY_LEN], *der = NULL;
	int		 n;

	n = i2d_X509_PUBKEY(X509_get_X509_PUBKEY(SSL_CTX_get0_certificate(
	    ctx)), &der);
	if (n <= 0)
		return (0);
	crypto_hash_sha256(hash, der, (unsigned long long)n);
	OPENSSL_free(der);
	if (mode == FAKE_BADSIG)
		hash[31] ^= 1;
	if (mode == FAKE_OTHERKEY) {
		randombytes_buf(master, sizeof master);
		k = other = keys_derive(master);
	}
	memset(&m, 0, sizeof m);
	m.type = MSG_CHALLENGE;
	m.u.challenge.version = 1;
	randombytes_buf(m.u.challenge.nonce, 32);
	m.u.challenge.server_time_ms = h_wall_ms();
	memcpy(m.u.challenge.sign_pk, k->sign_pk, 32);
	tls_sig_make(m.u.challenge.tls_sig, k, m.u.challenge.nonce, hash);
	if (other != NULL)
		keys_free(other);
	return (proto_encode(&m, out, len));
}

/* The child: one connection, CHALLENGE, then count the bytes the client
 * sends until it closes or is quiet for 1.5 s; report the count and the
 * first frame's type (-1: none). Never returns. */
static void
fake_serve(int report, enum fake_mode mode)
{
	struct pollfd	 pfd = { .fd = fake_lfd, .events = POLLIN };
	struct timeval	 tv = { 1, 500000 };
	SSL_CTX		*ctx = fake_ctx();
	SSL		*ssl;
	uint8_t		 frame[512], buf[4096];
	long		 got[2] = { 0, -1 };
	size_t		 n;
	int		 fd, r;

	if (ctx == NULL || poll(&pfd, 1, 20000) != 1 ||
	    (fd = accept(fake_lfd, NULL, NULL)) == -1)
		_exit(1);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	if ((ssl = SSL_new(ctx)) == NULL || !SSL_set_fd(ssl, fd) ||
	    SSL_accept(ssl) != 1 ||
	    (n = fake_challenge(ctx, mode, frame, sizeof frame)) == 0 ||
	    SSL_write(ssl, frame, (int)n) != (int)n)
		_exit(2);
	while ((r = SSL_read(ssl, buf, sizeof buf)) > 0) {
		if (got[0] <= PROTO_HDR && got[0] + r > PROTO_HDR)
			got[1] = buf[PROTO_HDR - got[0]];
		got[0] += r;
	}
	_exit(write(report, got, sizeof got) == sizeof got ? 0 : 3);
}

/* Listen on a loopback port for the fakes of this test. */
static void
fake_listen(void)
{
	struct sockaddr_in	 sin;
	socklen_t		 len = sizeof sin;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	ck_assert_int_ne(fake_lfd = socket(AF_INET, SOCK_STREAM, 0), -1);
	ck_assert_int_eq(bind(fake_lfd, (struct sockaddr *)&sin, sizeof sin),
	    0);
	ck_assert_int_eq(listen(fake_lfd, 4), 0);
	ck_assert_int_eq(getsockname(fake_lfd, (struct sockaddr *)&sin, &len),
	    0);
	snprintf(fake_hostport, sizeof fake_hostport, "127.0.0.1:%d",
	    ntohs(sin.sin_port));
}

/* Close the fakes' listener. */
static void
fake_teardown(void)
{
	if (fake_lfd != -1)
		close(fake_lfd);
	fake_lfd = -1;
}

/* Serve one connection in mode while tryst runs args in home: tryst's
 * exit status, its output in *out, and what the fake read in got. */
static int
fake_tryst(enum fake_mode mode, char **out, const char *home,
    const char *args, long got[2])
{
	struct pollfd	 pfd;
	ssize_t		 n;
	pid_t		 pid;
	int		 p[2], st, status;

	ck_assert_int_eq(pipe(p), 0);
	if ((pid = fork()) == 0) {
		prctl(PR_SET_PDEATHSIG, SIGKILL);
		signal(SIGSEGV, SIG_DFL);	/* not the harness's handler */
		signal(SIGABRT, SIG_DFL);
		close(p[0]);
		fake_serve(p[1], mode);
	}
	ck_assert_int_gt(pid, 0);
	close(p[1]);
	st = cli_run(out, home, "%s", args);
	pfd.fd = p[0];
	pfd.events = POLLIN;
	n = poll(&pfd, 1, 10000) == 1 ? read(p[0], got, 2 * sizeof got[0]) :
	    -1;
	close(p[0]);
	ck_assert_int_eq(waitpid(pid, &status, 0), pid);
	ck_assert_msg(n == 2 * sizeof got[0], "the fake server failed: "
	    "status %d", status);
	return (st);
}

/* The text of TRYST_HOME's config; caller frees. */
static char *
home_config(const char *home)
{
	char	 path[PATH_MAX], *text, *why = NULL;

	snprintf(path, sizeof path, "%s/%s/config", H.dir, home);
	text = file_read_small(path, 4096, NULL, &why);
	ck_assert_msg(text != NULL, "%s", why);
	return (text);
}

/* tryst's output must contain what. */
static void
said(const char *out, const char *what)
{
	ck_assert_msg(strstr(out, what) != NULL, "tryst did not say \"%s\": "
	    "%s", what, out);
}

START_TEST(test_challenge_refused)
{
	char		 args[256], *hkey = b64_encode(H.sign_pk, 32), *out;
	char		*conf;
	long		 got[2];
	int		 st;

	fake_listen();
	/* Control: a good CHALLENGE is trusted, and the fake sees the
	 * REGISTER_BEGIN that follows it. */
	snprintf(args, sizeof args, "init --server %s --key %s",
	    fake_hostport, hkey);
	st = fake_tryst(FAKE_GOOD, &out, "fake", args, got);
	ck_assert_msg(st == 0, "init, good CHALLENGE: %d: %s", st, out);
	said(out, "(checked)");
	free(out);
	ck_assert_int_eq(got[0], 0);		/* init sends nothing */
	st = fake_tryst(FAKE_GOOD, &out, "fake", "register +15550100511", got);
	free(out);
	ck_assert_int_ge(got[0], PROTO_HDR + 1);
	ck_assert_int_eq(got[1], MSG_REGISTER_BEGIN);
	ck_assert(!home_has("fake", "pending"));
	conf = home_config("fake");

	/* H's key signing for another certificate: nothing is sent. */
	st = fake_tryst(FAKE_BADSIG, &out, "fake", "register +15550100511",
	    got);
	ck_assert_int_ne(st, 0);
	said(out, "CHALLENGE signature does not verify");
	free(out);
	ck_assert_int_eq(got[0], 0);
	/* Another key signing for this certificate: nothing is sent. */
	st = fake_tryst(FAKE_OTHERKEY, &out, "fake", "register +15550100511",
	    got);
	ck_assert_int_ne(st, 0);
	snprintf(args, sizeof args, "server signing key changed: expected %s,",
	    hkey);
	said(out, args);
	free(out);
	ck_assert_int_eq(got[0], 0);
	ck_assert(!home_has("fake", "pending"));
	out = home_config("fake");
	ck_assert_str_eq(out, conf);
	free(out);
	free(conf);

	/* First use checks the signature too, and leaves no state. */
	snprintf(args, sizeof args, "init --server %s", fake_hostport);
	st = fake_tryst(FAKE_BADSIG, &out, "fake-new", args, got);
	ck_assert_int_ne(st, 0);
	said(out, "CHALLENGE signature does not verify");
	free(out);
	ck_assert(!home_has("fake-new", ""));
	free(hkey);
}
END_TEST

START_TEST(test_wrong_key)
{
	uint8_t		 other[32];
	char		*okey, *hkey, *out, want[160];
	int		 st;

	/* The real trystd, and a --key that is not its key. */
	randombytes_buf(other, sizeof other);
	okey = b64_encode(other, sizeof other);
	hkey = b64_encode(H.sign_pk, 32);
	st = cli_run(&out, "wrongkey", "init --server %s --key %s",
	    H.hostport, okey);
	ck_assert_int_ne(st, 0);
	snprintf(want, sizeof want, "server signing key changed: expected %s, "
	    "got %s", okey, hkey);
	said(out, want);
	free(out);
	ck_assert(!home_has("wrongkey", ""));
	free(okey);
	free(hkey);
}
END_TEST

START_TEST(test_key_changes)
{
	struct hproc	*p;
	struct keys	*k;
	uint8_t		 master[MASTER_KEY_LEN];
	char		 path[PATH_MAX], want[160], *why = NULL, *hkey, *okey;
	char		*before, *after, *out;
	int		 st;

	snprintf(path, sizeof path, "%s/other-master.key", H.dir);
	ck_assert_int_eq(h_run(NULL, "\"$TRYSTCTL\" keygen %s", path), 0);
	ck_assert_msg(keys_load_master(path, master, &why) == 0, "%s", why);
	k = keys_derive(master);
	sodium_memzero(master, sizeof master);
	ck_assert_int_ne(memcmp(k->sign_pk, H.sign_pk, 32), 0);
	p = h_proc_up("otherkey", path, k->sign_pk, "");
	hkey = b64_encode(H.sign_pk, 32);
	okey = b64_encode(k->sign_pk, 32);
	keys_free(k);

	/* First use remembers the first trystd's key. */
	st = cli_run(&out, "pin", "init --server %s", H.hostport);
	ck_assert_msg(st == 0, "tryst init: %d: %s", st, out);
	said(out, "first use");
	free(out);
	before = home_config("pin");
	snprintf(want, sizeof want, "key = %s\n", hkey);
	ck_assert_msg(strstr(before, want) != NULL, "config: %s", before);
	free(before);
	/* The state now names the second trystd, whose key differs. */
	ck_assert_int_eq(h_run(NULL, "sed -i 's/^server = .*/server = %s/' "
	    "'%s/pin/config'", p->hostport, H.dir), 0);
	before = home_config("pin");
	snprintf(want, sizeof want, "server signing key changed: expected %s, "
	    "got %s", hkey, okey);
	st = cli_run(&out, "pin", "register +15550100512");
	ck_assert_int_ne(st, 0);
	said(out, want);
	free(out);
	st = cli_run(&out, "pin", "init --server %s", p->hostport);
	ck_assert_int_ne(st, 0);
	said(out, want);
	free(out);
	/* Nothing was kept, and no code was asked for. */
	after = home_config("pin");
	ck_assert_str_eq(after, before);
	ck_assert(!home_has("pin", "pending"));
	ck_assert_int_eq(h_code_count("+15550100512"), 0);
	free(before);
	free(after);
	free(hkey);
	free(okey);
}
END_TEST

/* Checked teardown: the trystds and the fake server of the test, then
 * the harness's. */
static void
trust_teardown(void)
{
	fake_teardown();
	h_proc_teardown();
}

/* The client's files and the server keys it trusts. */
TCase *
integ_trust_tcase(void)
{
	TCase	*tc = tcase_create("trust");

	tcase_add_checked_fixture(tc, NULL, trust_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_identity_mode);
	tcase_add_test(tc, test_challenge_refused);
	tcase_add_test(tc, test_wrong_key);
	tcase_add_test(tc, test_key_changes);
	return (tc);
}
