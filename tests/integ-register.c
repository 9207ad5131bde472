/*
 * integ-register.c -- registration and trust, end to end: a token past
 * code_ttl_s, the per-server code budget and max_deliveries, the mode of
 * the client's identity file, CHALLENGEs the client must refuse (a bad
 * tls_sig, another signing key, a remembered key that changes), and the
 * syslog prefixes and log_level of trystd's log.
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

#define N_EXP		"+15550100501"
#define N_TTL		"+15550100502"
#define N_B1		"+15550100503"
#define N_B2		"+15550100504"
#define N_B3		"+15550100505"
#define N_B4		"+15550100506"
#define N_D1		"+15550100507"
#define N_D2		"+15550100508"
#define N_D3		"+15550100509"
#define N_MODE		"+15550100510"
#define N_LOG		"+15550100513"

static void	 fake_teardown(void);

/* ---- helpers ---------------------------------------------------------- */

/* Wall clock in milliseconds, as trystd reads it. */
static uint64_t
wall_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_REALTIME, &ts);
	return ((uint64_t)ts.tv_sec * 1000 + (uint64_t)ts.tv_nsec / 1000000);
}

/* A trystd of the test, ready: on H's keys (master NULL) or on the master
 * key file master, whose signing key is pk; with the extra lines. */
static struct hproc *
reg_proc(const char *name, const char *master, const uint8_t pk[32],
    const char *extra)
{
	struct hproc	*p = h_proc_new(name);

	h_proc_conf(p, NULL, NULL, NULL, master, extra);
	h_proc_start(p, NULL);
	h_proc_ready_key(p, master != NULL ? pk : H.sign_pk);
	return (p);
}

/* Checked teardown: the trystds and the fake server of the test, then
 * the harness's. */
static void
reg_teardown(void)
{
	h_proc_stop_all();
	fake_teardown();
	h_test_teardown();
}

/* Wait up to ms until text occurs want times in path; the count. */
static int
wait_in(const char *path, const char *text, int want, int ms)
{
	int64_t	 end = h_mono_ms() + ms;
	int	 n;

	while ((n = h_file_count(path, text)) < want && h_mono_ms() < end)
		h_msleep(50);
	return (n);
}

/* m must be ERROR code answering type. */
static void
expect_err(const struct msg *m, int code, int type)
{
	ck_assert_msg(m->type == MSG_ERROR && m->u.error.code == code,
	    "want ERROR %s, got %s %s", proto_err_name(code),
	    proto_type_name(m->type), m->type == MSG_ERROR ?
	    proto_err_name(m->u.error.code) : "");
	ck_assert_uint_eq(m->u.error.ref_type, type);
}

/* The keys of H's Redis that match pattern. */
static size_t
redis_keys(const char *pattern)
{
	redisContext	*rc;
	redisReply	*r;
	size_t		 n;

	rc = redisConnect("127.0.0.1", H.redis_port);
	ck_assert_msg(rc != NULL && rc->err == 0, "redis connect");
	r = redisCommand(rc, "KEYS %s", pattern);
	ck_assert_msg(r != NULL && r->type == REDIS_REPLY_ARRAY, "KEYS");
	n = r->elements;
	freeReplyObject(r);
	redisFree(rc);
	return (n);
}

/* ---- registration tokens ---------------------------------------------- */

/* The Redis keys a REGISTER_FINISH of token nonce would count on. */
static size_t
attempt_keys(const uint8_t tok[TOKEN_LEN])
{
	char	 key[2 * TOKEN_NONCE + 8];

	memcpy(key, "vt:", 3);
	hex_encode(key + 3, tok, TOKEN_NONCE);
	return (redis_keys(key));
}

START_TEST(test_token_expired)
{
	struct hc	*c = h_open();
	struct msg	 m;
	struct cred	 cr;
	uint8_t		 id[ID_LEN], pk[32], sk[64];
	uint8_t		 old[TOKEN_LEN], late[TOKEN_LEN], tok[TOKEN_LEN];
	char		 pat[2 * ID_LEN + 32];

	h_note_number(N_EXP);
	ck_assert_int_eq(keys_number_id(H.keys, N_EXP, id), 0);
	crypto_sign_keypair(pk, sk);
	/* One millisecond past its expiry, with the right code. */
	token_seal(old, H.keys, id, "314159", wall_ms() - 1);
	h_reg_finish(c, old, TOKEN_LEN, "314159", pk, &m);
	expect_err(&m, ERR_EXPIRED, MSG_REGISTER_FINISH);
	/* Long past, with a wrong code: EXPIRED, not BAD_CODE. */
	token_seal(late, H.keys, id, "314159", wall_ms() - 3600 * 1000);
	h_reg_finish(c, late, TOKEN_LEN, "271828", pk, &m);
	expect_err(&m, ERR_EXPIRED, MSG_REGISTER_FINISH);
	/* Refused before counting: no attempt, no wrong code. */
	ck_assert_uint_eq(attempt_keys(old), 0);
	ck_assert_uint_eq(attempt_keys(late), 0);
	memcpy(pat, "rl:codefail:{", 13);
	hex_encode(pat + 13, id, ID_LEN);
	memcpy(pat + 13 + 2 * ID_LEN, "}:*", 4);
	ck_assert_uint_eq(redis_keys(pat), 0);
	/* The same sealing, a minute before expiry, registers. */
	token_seal(tok, H.keys, id, "314159", wall_ms() + 60000);
	h_reg_finish(c, tok, TOKEN_LEN, "314159", pk, &m);
	ck_assert_msg(m.type == MSG_REGISTERED, "fresh token: %s %s",
	    proto_type_name(m.type), proto_err_name(m.u.error.code));
	ck_assert_int_eq(cred_verify(m.u.registered.credential.p,
	    m.u.registered.credential.len, H.sign_pk, &cr), 0);
	ck_assert_mem_eq(cr.id, id, ID_LEN);
	ck_assert_mem_eq(cr.identity_pk, pk, 32);
	ck_assert_uint_eq(attempt_keys(tok), 1);
	h_ping(c, 50);
}
END_TEST

/* REGISTER_BEGIN for number on c: expires_in_s is ttl_s, and the token
 * seals the number's ID, the delivered code and now + ttl_s. */
static void
begin_ttl(struct hc *c, const char *number, unsigned ttl_s)
{
	struct msg	 m;
	uint8_t		 tok[TOKEN_LEN], id[ID_LEN], want[ID_LEN];
	uint8_t		 nonce[TOKEN_NONCE];
	char		 code[16], sealed[TOKEN_CODE + 1];
	uint64_t	 t0, t1, exp;
	int		 before = h_code_count(number);

	t0 = wall_ms();
	h_reg_begin_raw(c, number, &m);
	t1 = wall_ms();
	ck_assert_msg(m.type == MSG_REGISTER_CHALLENGE, "REGISTER_BEGIN: %s",
	    proto_type_name(m.type));
	ck_assert_uint_eq(m.u.reg_challenge.expires_in_s, ttl_s);
	ck_assert_uint_eq(m.u.reg_challenge.token.len, TOKEN_LEN);
	memcpy(tok, m.u.reg_challenge.token.p, TOKEN_LEN);
	ck_assert_int_eq(token_open(tok, TOKEN_LEN, H.keys, id, sealed, &exp,
	    nonce), 0);
	ck_assert_uint_ge(exp, t0 + ttl_s * 1000ULL);
	ck_assert_uint_le(exp, t1 + ttl_s * 1000ULL);
	ck_assert_int_eq(keys_number_id(H.keys, number, want), 0);
	ck_assert_mem_eq(id, want, ID_LEN);
	h_code_wait(number, before, code, sizeof code);
	ck_assert_str_eq(sealed, code);
}

START_TEST(test_token_ttl)
{
	struct hproc	*p;

	begin_ttl(h_open(), N_TTL, 600);
	p = reg_proc("ttl", NULL, NULL, "code_ttl_s = 60\n");
	begin_ttl(h_open_at(p->hostport), N_TTL, 60);
}
END_TEST

/* ---- code budgets ----------------------------------------------------- */

/* Wait for the next hour if fewer than s seconds of this one are left. */
static void
hour_margin(int s)
{
	time_t	 left = 3600 - time(NULL) % 3600;

	if (left < s)
		sleep((unsigned)left + 1);
}

START_TEST(test_codes_per_hour)
{
	const char	*nums[] = { N_B1, N_B2, N_B3 };
	struct hproc	*p;
	struct hc	*c;
	struct msg	 m;
	uint8_t		 tok[TOKEN_LEN];
	size_t		 len;
	char		 code[16];
	long long	 want;
	int		 i;

	hour_margin(15);
	p = reg_proc("budget", NULL, NULL, "codes_per_hour = 3\n");
	c = h_open_at(p->hostport);
	for (i = 0; i < 3; i++)
		h_reg_begin(c, nums[i], tok, &len, code, sizeof code);
	h_reg_begin_raw(c, N_B4, &m);
	want = 3600 - time(NULL) % 3600;
	expect_err(&m, ERR_RATE_LIMITED, MSG_REGISTER_BEGIN);
	ck_assert_msg(llabs((long long)m.u.error.retry_after_s - want) <= 1,
	    "retry_after_s %u, want %lld", m.u.error.retry_after_s, want);
	/* The whole server, on any connection, for any number. */
	c = h_open_at(p->hostport);
	h_reg_begin_raw(c, N_B1, &m);
	expect_err(&m, ERR_RATE_LIMITED, MSG_REGISTER_BEGIN);
	h_ping(c, 51);
	h_msleep(300);
	ck_assert_int_eq(h_code_count(N_B4), 0);
	ck_assert_int_eq(h_code_count(N_B1), 1);
	/* Kept in memory per server: the first trystd still sends codes. */
	h_reg_begin(h_open(), N_B4, tok, &len, code, sizeof code);
}
END_TEST

/* A delivery program that notes each start, waits until a release file
 * appears (8 s at most), then hands over "NUMBER CODE". */
static void
slow_program(char *prog, size_t len)
{
	char	*text, *why = NULL;

	snprintf(prog, len, "%s/slow-deliver", H.dir);
	xasprintf(&text, "#!/bin/sh\n"
	    "echo \"$TRYST_NUMBER\" >>'%s/slow-started'\n"
	    "i=0\n"
	    "while [ ! -e '%s/slow-release' ] && [ $i -lt 80 ]; do\n"
	    "\tsleep 0.1; i=$((i + 1))\n"
	    "done\n"
	    "echo \"$TRYST_NUMBER $TRYST_CODE\" >>'%s/slow-codes'\n",
	    H.dir, H.dir, H.dir);
	ck_assert_msg(file_write_atomic(prog, text, strlen(text), 0700, 0,
	    &why) == 0, "%s: %s", prog, why);
	free(text);
}

/* The next message on c is REGISTER_CHALLENGE; its token into tok. */
static void
expect_challenge(struct hc *c, uint8_t tok[TOKEN_LEN])
{
	struct msg	 m;

	h_recv(c, &m);
	ck_assert_msg(m.type == MSG_REGISTER_CHALLENGE, "got %s %s",
	    proto_type_name(m.type), proto_err_name(m.u.error.code));
	ck_assert_uint_eq(m.u.reg_challenge.token.len, TOKEN_LEN);
	memcpy(tok, m.u.reg_challenge.token.p, TOKEN_LEN);
}

/* The code the slow program handed over for number. */
static void
slow_code(const char *number, char *code, size_t len)
{
	char	 path[PATH_MAX], key[32], *buf, *p, *why = NULL;

	snprintf(path, sizeof path, "%s/slow-codes", H.dir);
	snprintf(key, sizeof key, "%s ", number);
	ck_assert_int_eq(wait_in(path, key, 1, 5000), 1);
	buf = file_read_small(path, 1 << 20, NULL, &why);
	ck_assert_msg(buf != NULL, "%s", why);
	p = strstr(buf, key) + strlen(key);
	snprintf(code, len, "%.*s", (int)strspn(p, "0123456789"), p);
	free(buf);
}

START_TEST(test_max_deliveries)
{
	struct hproc	*p;
	struct hc	*c1, *c2, *c3;
	struct msg	 m;
	uint8_t		 tok[TOKEN_LEN], tok2[TOKEN_LEN], pk[32], sk[64];
	char		 prog[PATH_MAX], started[PATH_MAX], release[PATH_MAX];
	char		 conf[PATH_MAX + 64], code[16], *why = NULL;

	slow_program(prog, sizeof prog);
	snprintf(started, sizeof started, "%s/slow-started", H.dir);
	snprintf(release, sizeof release, "%s/slow-release", H.dir);
	snprintf(conf, sizeof conf, "verification = exec:%s\n"
	    "max_deliveries = 2\n", prog);
	p = reg_proc("deliveries", NULL, NULL, conf);
	c1 = h_open_at(p->hostport);
	c2 = h_open_at(p->hostport);
	c3 = h_open_at(p->hostport);
	h_reg_begin_send(c1, N_D1);
	h_reg_begin_send(c2, N_D2);
	ck_assert_int_eq(wait_in(started, "+", 2, 5000), 2);
	/* Two programs run: no answer yet, and a third is refused. */
	ck_assert_int_eq(tconn_recv(c1->tc, &m, 200, &why), -1);
	ck_assert_str_eq(why, "timeout");
	free(why);
	h_reg_begin_raw(c3, N_D3, &m);
	expect_err(&m, ERR_RATE_LIMITED, MSG_REGISTER_BEGIN);
	ck_assert_uint_ge(m.u.error.retry_after_s, 1);
	ck_assert_uint_le(m.u.error.retry_after_s, 10);
	h_msleep(200);
	ck_assert_int_eq(h_file_count(started, "+"), 2);
	/* Once they end, both are answered and a third may start. */
	ck_assert_int_eq(file_write_atomic(release, "", 0, 0600, 0, NULL),
	    0);
	expect_challenge(c1, tok);
	expect_challenge(c2, tok2);
	h_reg_begin_raw(c3, N_D3, &m);
	ck_assert_uint_eq(m.type, MSG_REGISTER_CHALLENGE);
	ck_assert_int_eq(h_file_count(started, "+"), 3);
	slow_code(N_D1, code, sizeof code);
	crypto_sign_keypair(pk, sk);
	h_reg_finish(c1, tok, TOKEN_LEN, code, pk, &m);
	ck_assert_msg(m.type == MSG_REGISTERED, "FINISH: %s",
	    proto_type_name(m.type));
}
END_TEST

/* ---- the client's files ----------------------------------------------- */

/* Run tryst with umask 0 and TRYST_HOME=H.dir/home; output in *out. */
static int
tryst_run(char **out, const char *home, const char *fmt, ...)
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

	st = tryst_run(&out, "mode", "init --server %s", H.hostport);
	ck_assert_msg(st == 0, "tryst init: %d: %s", st, out);
	free(out);
	mode_is("mode", "", 0700);
	mode_is("mode", "identity", 0600);
	mode_is("mode", "config", 0600);
	st = tryst_run(&out, "mode", "register %s", N_MODE);
	ck_assert_msg(st == 0, "tryst register: %d: %s", st, out);
	free(out);
	mode_is("mode", "identity", 0600);
	mode_is("mode", "pending", 0600);
	h_code_wait(N_MODE, before, code, sizeof code);
	st = tryst_run(&out, "mode", "verify %s", code);
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
	m.u.challenge.server_time_ms = wall_ms();
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
	st = tryst_run(out, home, "%s", args);
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
	st = tryst_run(&out, "wrongkey", "init --server %s --key %s",
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
	p = reg_proc("otherkey", path, k->sign_pk, "");
	hkey = b64_encode(H.sign_pk, 32);
	okey = b64_encode(k->sign_pk, 32);
	keys_free(k);

	/* First use remembers the first trystd's key. */
	st = tryst_run(&out, "pin", "init --server %s", H.hostport);
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
	st = tryst_run(&out, "pin", "register +15550100512");
	ck_assert_int_ne(st, 0);
	said(out, want);
	free(out);
	st = tryst_run(&out, "pin", "init --server %s", p->hostport);
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

/* ---- the log ---------------------------------------------------------- */

/* Count the log's lines by priority; assert each has a "<N>" prefix. */
static void
log_levels(const char *path, int count[8])
{
	char	*buf, *line, *next, *why = NULL;

	memset(count, 0, 8 * sizeof count[0]);
	buf = file_read_small(path, 1 << 22, NULL, &why);
	ck_assert_msg(buf != NULL, "%s", why);
	for (line = buf; *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) == NULL)
			next = line + strlen(line);
		else
			*next++ = '\0';
		ck_assert_msg(line[0] == '<' && line[1] >= '0' &&
		    line[1] <= '7' && line[2] == '>', "%s: a line without a "
		    "syslog prefix: %s", path, line);
		count[line[1] - '0']++;
	}
	free(buf);
}

/* A frame of length 0 on a new connection to p: MALFORMED, closed. */
static void
send_malformed(struct hproc *p)
{
	struct hc	*c = h_open_at(p->hostport);
	const uint8_t	 zero[] = { 0, 0, 0, 0 };

	h_send_raw(c, zero, sizeof zero);
	h_expect_error(c, ERR_MALFORMED, 0, NULL);
	h_expect_closed(c);
	h_close(c);
}

START_TEST(test_log_warning)
{
	struct hproc	*p;
	struct hc	*c;
	struct msg	 m;
	char		 conf[PATH_MAX + 64];
	int		 n[8];

	snprintf(conf, sizeof conf, "log_level = warning\n"
	    "verification = dev:%s/no-such-dir/codes.txt\n", H.dir);
	p = reg_proc("logwarn", NULL, NULL, conf);
	send_malformed(p);
	/* A code the transport cannot take: a warning. */
	c = h_open_at(p->hostport);
	h_reg_begin_raw(c, N_LOG, &m);
	expect_err(&m, ERR_DELIVERY_FAILED, MSG_REGISTER_BEGIN);
	/* A reload of a bad configuration: an error; trystd goes on. */
	snprintf(conf, sizeof conf, "log_level = warning\n"
	    "verification = dev:%s/no-such-dir/codes.txt\n"
	    "code_digits = 99\n", H.dir);
	h_proc_conf(p, NULL, NULL, NULL, NULL, conf);
	ck_assert_int_eq(kill(p->pid, SIGHUP), 0);
	ck_assert_int_eq(wait_in(p->log, "<3>reload refused", 1, 5000), 1);
	h_ping(c, 52);
	log_levels(p->log, n);
	ck_assert_int_eq(h_file_count(p->log, "<4>verification file: "), 1);
	ck_assert_int_ge(n[4], 1);
	ck_assert_int_eq(n[3], 1);
	/* Not the start, the Redis connection, nor closed connections. */
	ck_assert_int_eq(n[5], 0);
	ck_assert_int_eq(n[6], 0);
	ck_assert_int_eq(n[7], 0);
	ck_assert_int_eq(h_file_count(p->log, &N_LOG[1]), 0);
}
END_TEST

START_TEST(test_log_debug)
{
	struct hproc	*p;
	int		 n[8], before;

	p = reg_proc("logdebug", NULL, NULL, "log_level = debug\n");
	before = h_file_count(p->log, "<7>connection closed: ");
	send_malformed(p);
	ck_assert_int_gt(wait_in(p->log, "<7>connection closed: ",
	    before + 1, 5000), before);
	log_levels(p->log, n);
	ck_assert_int_eq(h_file_count(p->log, "<5>trystd "), 1);
	ck_assert_int_eq(h_file_count(p->log, "<5>redis: connected"), 1);
	ck_assert_int_gt(n[7], 0);
}
END_TEST

/* Registration budgets and trust, client and log. */
TCase *
integ_register_tcase(void)
{
	TCase	*tc = tcase_create("register");

	tcase_add_checked_fixture(tc, NULL, reg_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_token_expired);
	tcase_add_test(tc, test_token_ttl);
	tcase_add_test(tc, test_codes_per_hour);
	tcase_add_test(tc, test_max_deliveries);
	tcase_add_test(tc, test_identity_mode);
	tcase_add_test(tc, test_challenge_refused);
	tcase_add_test(tc, test_wrong_key);
	tcase_add_test(tc, test_key_changes);
	tcase_add_test(tc, test_log_warning);
	tcase_add_test(tc, test_log_debug);
	return (tc);
}
