/*
 * test-ops.c -- trystd as an operator runs it: the systemd notification
 * protocol (abstract and path sockets, watchdog), SIGHUP reloads of the
 * configuration and the certificate, and the graceful shutdown of
 * SIGTERM. Each test starts trystds of its own on the harness's Redis
 * (integ-ops.c also has /metrics, /healthz, credentials and STUN).
 */
#include <sys/socket.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <poll.h>
#include <signal.h>
#include <stddef.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <sodium.h>

#include "harness.h"

#define N_RELOAD	"+15550100311"
#define N_CODE1		"+15550100312"
#define N_CODE2		"+15550100313"
#define N_CODE3		"+15550100314"
#define N_CODE4		"+15550100315"
#define N_STOP		"+15550100316"

#define GRACE_S		2	/* shutdown_grace_s of test_shutdown */

/* The notification socket of a test. */
struct nsock {
	int		 fd;
	char		 addr[PATH_MAX];	/* $NOTIFY_SOCKET */
	char		 env[PATH_MAX + 16];	/* NOTIFY_SOCKET=addr */
	int64_t		 wd[64];	/* WATCHDOG=1 times (ms) */
	int		 nwd;
};

static struct nsock	 NS = { .fd = -1 };

/* ---- the notification socket ----------------------------------------- */

/* Bind NS: abstract ("@tryst-test-RANDOM") or a file in H.dir. */
static void
nsock_open(int abstract)
{
	struct sockaddr_un	 sun;
	uint8_t			 rnd[8];
	char			 hex[17];
	size_t			 len;

	randombytes_buf(rnd, sizeof rnd);
	hex_encode(hex, rnd, sizeof rnd);
	memset(&NS, 0, sizeof NS);
	if (abstract)
		snprintf(NS.addr, sizeof NS.addr, "@tryst-test-%s", hex);
	else
		snprintf(NS.addr, sizeof NS.addr, "%s/notify-%s", H.dir, hex);
	snprintf(NS.env, sizeof NS.env, "NOTIFY_SOCKET=%s", NS.addr);
	len = strlen(NS.addr);
	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	ck_assert_uint_lt(len, sizeof sun.sun_path);
	memcpy(sun.sun_path, NS.addr, len);
	if (abstract)
		sun.sun_path[0] = '\0';
	NS.fd = socket(AF_UNIX, SOCK_DGRAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ne(NS.fd, -1);
	ck_assert_msg(bind(NS.fd, (struct sockaddr *)&sun,
	    (socklen_t)(offsetof(struct sockaddr_un, sun_path) + len)) == 0,
	    "bind %s: %s", NS.addr, strerror(errno));
}

/* Close NS (teardown). */
static void
nsock_close(void)
{
	if (NS.fd != -1) {
		close(NS.fd);
		if (NS.addr[0] == '/')
			unlink(NS.addr);
	}
	NS.fd = -1;
}

/* The line of buf that starts with prefix, or NULL. */
static const char *
has_line(const char *buf, const char *prefix)
{
	const char	*line;

	for (line = buf; line != NULL; line = strchr(line, '\n')) {
		if (*line == '\n')
			line++;
		if (strncmp(line, prefix, strlen(prefix)) == 0)
			return (line);
	}
	return (NULL);
}

/* One datagram within ms into buf: 1, or 0. WATCHDOG=1 is noted. */
static int
nsock_recv(char *buf, size_t len, int ms)
{
	struct pollfd	 pfd = { .fd = NS.fd, .events = POLLIN };
	ssize_t		 n;

	if (poll(&pfd, 1, ms) != 1)
		return (0);
	n = recv(NS.fd, buf, len - 1, 0);
	ck_assert_int_gt(n, 0);
	buf[n] = '\0';
	if (has_line(buf, "WATCHDOG=1") != NULL &&
	    NS.nwd < (int)(sizeof NS.wd / sizeof NS.wd[0]))
		NS.wd[NS.nwd++] = h_mono_ms();
	return (1);
}

/* Wait up to ms for a datagram with a line starting with prefix; the
 * datagram into buf. */
static void
nsock_expect(const char *prefix, int ms, char *buf, size_t len)
{
	int64_t	 end = h_mono_ms() + ms, left;

	while ((left = end - h_mono_ms()) > 0) {
		if (nsock_recv(buf, len, (int)left) &&
		    has_line(buf, prefix) != NULL)
			return;
	}
	ck_abort_msg("no %s on %s within %d ms", prefix, NS.addr, ms);
}

/* Take whatever comes for ms; no line may start with bad (unless NULL). */
static void
nsock_drain(int ms, const char *bad)
{
	char	 buf[512];
	int64_t	 end = h_mono_ms() + ms, left;

	while ((left = end - h_mono_ms()) > 0) {
		if (nsock_recv(buf, sizeof buf, (int)left))
			ck_assert_msg(bad == NULL || has_line(buf, bad) == NULL,
			    "unexpected notification: %s", buf);
	}
}

/* ---- helpers ----------------------------------------------------------- */

/* Start p with NOTIFY_SOCKET on a fresh NS (and env2, if not NULL);
 * wait for READY=1. */
static void
start_notified(struct hproc *p, int abstract, char *env2, char *env3)
{
	char	*env[] = { NS.env, env2, env3, NULL };
	char	 buf[512];

	nsock_open(abstract);
	h_proc_start(p, env);
	nsock_expect("READY=1", 10000, buf, sizeof buf);
}

/* SIGTERM: STOPPING=1, then exit status 0 within 5 s. */
static void
stop_notified(struct hproc *p)
{
	char	 buf[512];

	ck_assert_int_eq(kill(p->pid, SIGTERM), 0);
	nsock_expect("STOPPING=1", 5000, buf, sizeof buf);
	ck_assert_msg(h_proc_wait(p, 5000), "trystd still runs 5 s after "
	    "SIGTERM");
	ck_assert_msg(WIFEXITED(p->status) && WEXITSTATUS(p->status) == 0,
	    "trystd: wait status %#x (see %s)", p->status, p->log);
}

/* SIGHUP: RELOADING=1 with MONOTONIC_USEC of this moment, then
 * READY=1. */
static void
reload(struct hproc *p)
{
	struct timespec		 ts;
	unsigned long long	 t0, usec;
	const char		*v;
	char			 buf[512];

	clock_gettime(CLOCK_MONOTONIC, &ts);
	t0 = (unsigned long long)ts.tv_sec * 1000000 + ts.tv_nsec / 1000;
	ck_assert_int_eq(kill(p->pid, SIGHUP), 0);
	nsock_expect("RELOADING=1", 5000, buf, sizeof buf);
	v = has_line(buf, "MONOTONIC_USEC=");
	ck_assert_msg(v != NULL, "RELOADING=1 without MONOTONIC_USEC: %s",
	    buf);
	usec = strtoull(v + 15, NULL, 10);
	ck_assert_msg(usec >= t0 && usec < t0 + 2000000, "MONOTONIC_USEC=%llu"
	    ", SIGHUP sent at %llu", usec, t0);
	nsock_expect("READY=1", 5000, buf, sizeof buf);
}

/* ---- the notification protocol ---------------------------------------- */

START_TEST(test_notify)
{
	struct hproc	*p = h_proc_new("notify");
	struct tconn	*tc;
	char		 buf[512], *why = NULL;
	int		 i;

	h_proc_conf(p, NULL, NULL, NULL, NULL, NULL);
	start_notified(p, 1, "WATCHDOG_USEC=1000000", NULL);
	/* Listening by now: the first try connects. */
	tc = tconn_open(p->hostport, H.sign_pk, NULL, &why);
	ck_assert_msg(tc != NULL, "no connection after READY=1: %s", why);
	tconn_close(tc);
	nsock_expect("STATUS=", 2000, buf, sizeof buf);
	ck_assert_msg(strstr(buf, "connections") != NULL, "%s", buf);

	/* WATCHDOG=1 at half of WATCHDOG_USEC. */
	nsock_drain(1600, NULL);
	ck_assert_int_ge(NS.nwd, 3);
	for (i = 1; i < NS.nwd; i++)
		ck_assert_msg(NS.wd[i] - NS.wd[i - 1] >= 350 &&
		    NS.wd[i] - NS.wd[i - 1] <= 750, "WATCHDOG=1 %lld ms after "
		    "the one before", (long long)(NS.wd[i] - NS.wd[i - 1]));

	reload(p);
	h_ping(h_open_at(p->hostport), 1);
	stop_notified(p);
}
END_TEST

START_TEST(test_notify_path)
{
	struct hproc	*p = h_proc_new("notify-path");
	struct tconn	*tc;
	char		*why = NULL;

	h_proc_conf(p, NULL, NULL, NULL, NULL, NULL);
	/* A watchdog meant for another process: no WATCHDOG=1. */
	start_notified(p, 0, "WATCHDOG_USEC=1000000", "WATCHDOG_PID=1");
	tc = tconn_open(p->hostport, H.sign_pk, NULL, &why);
	ck_assert_msg(tc != NULL, "no connection after READY=1: %s", why);
	tconn_close(tc);
	nsock_drain(1100, "WATCHDOG=1");
	stop_notified(p);
}
END_TEST

/* ---- SIGHUP ------------------------------------------------------------- */

/* WELCOME's max_batch for a on a new connection to p. */
static uint16_t
welcome_batch(struct hproc *p, const struct account *a)
{
	struct hc	*c = h_open_at(p->hostport);
	struct msg	 m;
	uint16_t	 v;

	h_hello_raw(c, a->cred, CRED_LEN, a->sk, 0, &m);
	ck_assert_msg(m.type == MSG_WELCOME, "HELLO: %s",
	    proto_type_name(m.type));
	v = m.u.welcome.max_batch;
	h_close(c);
	return (v);
}

/* The length of the code REGISTER_BEGIN for number on c delivers (and
 * REGISTER_CHALLENGE announces). */
static size_t
code_len(struct hc *c, const char *number)
{
	uint8_t	 tok[TOKEN_LEN];
	size_t	 toklen;
	char	 code[16];

	h_reg_begin(c, number, tok, &toklen, code, sizeof code);
	return (strlen(code));
}

START_TEST(test_reload_settings)
{
	struct hproc	*p = h_proc_new("reload");
	struct account	 a;
	struct hc	*online, *anon;
	char		 listen[32], *why = NULL;
	const char	*restart = "reload: listen changed; it applies after "
	    "a restart";

	h_register(N_RELOAD, &a);
	h_proc_conf(p, NULL, NULL, NULL, NULL, NULL);
	start_notified(p, 1, NULL, NULL);
	online = h_online_at(p->hostport, &a, HELLO_PRESENCE);
	anon = h_open_at(p->hostport);
	ck_assert_uint_eq(code_len(anon, N_CODE1), 6);
	ck_assert_uint_eq(welcome_batch(p, &a), 1024);

	h_proc_conf(p, NULL, NULL, NULL, NULL,
	    "code_digits = 8\nmax_batch = 16\n");
	reload(p);
	ck_assert_int_eq(h_proc_log_count(p, "configuration and certificate "
	    "reloaded"), 1);
	h_ping(online, 1);
	ck_assert_uint_eq(code_len(anon, N_CODE2), 8);
	ck_assert_uint_eq(welcome_batch(p, &a), 16);

	/* A bad file is refused whole. */
	h_proc_conf(p, NULL, NULL, NULL, NULL,
	    "code_digits = 7\nmax_batch = 16\nno_such_key = 1\n");
	reload(p);
	ck_assert_int_eq(h_proc_log_count(p, "reload refused"), 1);
	ck_assert_int_eq(h_proc_log_count(p, "no_such_key"), 1);
	/* So is a delivery program that cannot be run. */
	h_proc_conf(p, NULL, NULL, NULL, NULL,
	    "verification = exec:/nonexistent/send-code\n");
	reload(p);
	ck_assert_int_eq(h_proc_log_count(p, "reload refused"), 2);
	ck_assert_int_eq(h_proc_log_count(p, "/nonexistent/send-code: No "
	    "such file"), 1);
	h_ping(online, 2);
	ck_assert_uint_eq(code_len(anon, N_CODE3), 8);

	/* listen waits for a restart; the rest applies. */
	snprintf(listen, sizeof listen, "127.0.0.1:%d",
	    h_free_port(SOCK_STREAM));
	h_proc_conf(p, listen, NULL, NULL, NULL, "max_batch = 16\n");
	reload(p);
	ck_assert_int_eq(h_proc_log_count(p, restart), 1);
	ck_assert_int_eq(h_proc_log_count(p, "configuration and certificate "
	    "reloaded"), 2);
	ck_assert_uint_eq(code_len(anon, N_CODE4), 6);
	h_ping(online, 3);
	h_ping(h_open_at(p->hostport), 4);
	ck_assert_msg(tconn_open(listen, H.sign_pk, NULL, &why) == NULL,
	    "trystd listens on %s before a restart", listen);
	free(why);
	ck_assert_int_eq(h_proc_log_count(p, "reload refused"), 2);
}
END_TEST

/* The SHA-256 fingerprint of a PEM file, or (file NULL) of the
 * certificate that hostport serves. */
static void
fingerprint(char *out, size_t len, const char *file, const char *hostport)
{
	char	*s = NULL;
	int	 st;

	if (file != NULL)
		st = h_run(&s, "openssl x509 -in '%s' -noout -fingerprint "
		    "-sha256", file);
	else
		st = h_run(&s, "openssl s_client -connect %s -alpn tryst/1 "
		    "</dev/null 2>/dev/null | openssl x509 -noout "
		    "-fingerprint -sha256", hostport);
	ck_assert_msg(st == 0 && strstr(s, "Fingerprint=") != NULL,
	    "fingerprint of %s: %d %s", file != NULL ? file : hostport, st, s);
	snprintf(out, len, "%s", s);
	free(s);
}

START_TEST(test_reload_cert)
{
	struct hproc	*p = h_proc_new("cert");
	struct hc	*old;
	char		 cert[PATH_MAX + 16], key[PATH_MAX + 16];
	char		 key1[PATH_MAX + 16], fp1[256], fp2[256], fp[256];
	char		 bad[PATH_MAX + 16];

	snprintf(cert, sizeof cert, "%s/cert2.pem", H.dir);
	snprintf(key, sizeof key, "%s/key2.pem", H.dir);
	snprintf(key1, sizeof key1, "%s/key.pem", H.dir);
	ck_assert_int_eq(h_run(NULL, "openssl req -x509 -newkey ec -pkeyopt "
	    "ec_paramgen_curve:prime256v1 -nodes -keyout '%s' -out '%s' "
	    "-days 2 -subj /CN=second >/dev/null 2>&1", key, cert), 0);
	fingerprint(fp2, sizeof fp2, cert, NULL);
	h_proc_conf(p, NULL, NULL, NULL, NULL, NULL);
	start_notified(p, 1, NULL, NULL);
	old = h_open_at(p->hostport);
	fingerprint(fp1, sizeof fp1, NULL, p->hostport);
	ck_assert_str_ne(fp1, fp2);

	/* A key that is not the certificate's: refused. */
	h_proc_conf(p, NULL, cert, key1, NULL, NULL);
	reload(p);
	ck_assert_int_eq(h_proc_log_count(p, "reload refused"), 1);
	fingerprint(fp, sizeof fp, NULL, p->hostport);
	ck_assert_str_eq(fp, fp1);
	/* A certificate file that is not PEM, then one cut short: refused,
	 * and the old certificate serves new connections. */
	snprintf(bad, sizeof bad, "%s/bad-cert.pem", H.dir);
	ck_assert_int_eq(file_write_atomic(bad, "not a certificate\n", 18,
	    0600, 0, NULL), 0);
	h_proc_conf(p, NULL, bad, key, NULL, NULL);
	reload(p);
	ck_assert_int_eq(h_proc_log_count(p, "reload refused"), 2);
	ck_assert_int_eq(h_run(NULL, "head -c 300 '%s' >'%s'", cert, bad), 0);
	reload(p);
	ck_assert_int_eq(h_proc_log_count(p, "reload refused"), 3);
	h_ping(h_open_at(p->hostport), 3);
	fingerprint(fp, sizeof fp, NULL, p->hostport);
	ck_assert_str_eq(fp, fp1);

	/* New connections get the new certificate and, in CHALLENGE, a
	 * tls_sig over its SPKI (h_open_at checks it). */
	h_proc_conf(p, NULL, cert, key, NULL, NULL);
	reload(p);
	ck_assert_int_eq(h_proc_log_count(p, "configuration and certificate "
	    "reloaded"), 1);
	h_ping(h_open_at(p->hostport), 1);
	fingerprint(fp, sizeof fp, NULL, p->hostport);
	ck_assert_str_eq(fp, fp2);
	h_ping(old, 2);
}
END_TEST

/* ---- SIGTERM ------------------------------------------------------------ */

/* The most a TCP socket's send buffer grows to (tcp_wmem's maximum). */
static size_t
wmem_max(void)
{
	char		*s = NULL, *why = NULL;
	unsigned long	 lo, def, max;
	size_t		 len;

	s = file_read_small("/proc/sys/net/ipv4/tcp_wmem", 256, &len, &why);
	if (s == NULL || sscanf(s, "%lu %lu %lu", &lo, &def, &max) != 3)
		max = 4194304;
	free(s);
	free(why);
	return (max);
}

/* A client that sends PINGs and never reads: more PONGs than trystd's
 * socket takes stay in its output. */
static void
flood(struct hproc *p)
{
	struct rconn	*r = h_raw_open(p->hostport, 4096);
	struct msg	 m = { .type = MSG_PING };
	uint8_t		 one[64], *buf;
	size_t		 n, i, count;

	n = proto_encode(&m, one, sizeof one);
	ck_assert_uint_gt(n, 0);
	count = (wmem_max() + 1048576) / n;
	buf = xmalloc(n * count);
	for (i = 0; i < count; i++)
		memcpy(buf + i * n, one, n);
	h_raw_write_all(r, buf, n * count);
	free(buf);
}

START_TEST(test_shutdown)
{
	struct hproc	*p = h_proc_new("shutdown");
	struct account	 a;
	struct hc	*anon, *online;
	struct msg	 m;
	int64_t		 t0, t;

	h_register(N_STOP, &a);
	h_proc_conf(p, NULL, NULL, NULL, NULL, "shutdown_grace_s = 2\n"
	    "max_output_bytes = 67108864\n");
	start_notified(p, 1, NULL, NULL);
	anon = h_open_at(p->hostport);
	online = h_online_at(p->hostport, &a, HELLO_PRESENCE);
	flood(p);
	h_msleep(300);

	t0 = h_mono_ms();
	ck_assert_int_eq(kill(p->pid, SIGTERM), 0);
	h_recv(anon, &m);
	ck_assert_uint_eq(m.type, MSG_GOAWAY);
	ck_assert_uint_eq(m.u.goaway.reason, GOAWAY_SHUTDOWN);
	h_expect_closed(anon);
	h_expect_goaway(online, GOAWAY_SHUTDOWN);
	ck_assert_msg(h_proc_wait(p, (GRACE_S + 2) * 1000), "trystd runs "
	    "%d s after SIGTERM", GRACE_S + 2);
	t = h_mono_ms() - t0;
	fprintf(stderr, "shutdown: exit %lld ms after SIGTERM "
	    "(shutdown_grace_s = %d)\n", (long long)t, GRACE_S);
	ck_assert_msg(WIFEXITED(p->status) && WEXITSTATUS(p->status) == 0,
	    "wait status %#x (see %s)", p->status, p->log);
	ck_assert_int_le(t, GRACE_S * 1000 + 1000);
	/* The client that never read held the drain until the grace
	 * period ended (else this test proves nothing about it). */
	ck_assert_int_ge(t, GRACE_S * 1000 - 100);
	ck_assert_int_eq(h_proc_log_count(p, "shutting down"), 1);
	ck_assert_int_eq(h_proc_log_count(p, "stopped"), 1);
}
END_TEST

/* Close the notification socket and stop the trystds of the test. */
static void
ops_teardown(void)
{
	nsock_close();
	h_proc_teardown();
}

/* After a failure: the end of every log, and where they are kept. */
static void
show_logs(void)
{
	char	*out = NULL;

	h_run(&out, "tail -n 15 '%s'/*.log 2>&1", H.dir);
	fprintf(stderr, "%s\ntest-ops: %s %s\n", out, getenv("TRYST_KEEP") !=
	    NULL ? "kept" : "removed (TRYST_KEEP=1 keeps it)", H.dir);
	free(out);
}

/* Last: after every test of this program, H's Redis holds only what
 * PROTOCOL.md §7 allows, and no trystd log names a number or an ID. */
START_TEST(test_left_behind)
{
	ck_assert_uint_gt(h_check_redis_keys(), 0);
	ck_assert_uint_gt(h_check_logs_private(), 10);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("ops");
	TCase	*tc = tcase_create("signals");
	SRunner	*sr;
	char	*why = NULL;
	int	 failed;

	unsetenv("NOTIFY_SOCKET");
	unsetenv("WATCHDOG_USEC");
	unsetenv("WATCHDOG_PID");
	unsetenv("CREDENTIALS_DIRECTORY");
	if (h_start(NULL, &why) == -1) {
		fprintf(stderr, "test-ops: %s\n", why);
		h_stop();
		return (1);
	}
	tcase_add_checked_fixture(tc, NULL, ops_teardown);
	tcase_add_test(tc, test_notify);
	tcase_add_test(tc, test_notify_path);
	tcase_add_test(tc, test_reload_settings);
	tcase_add_test(tc, test_reload_cert);
	tcase_add_test(tc, test_shutdown);
	suite_add_tcase(s, tc);
	suite_add_tcase(s, integ_ops_http_tcase());
	suite_add_tcase(s, integ_metrics_tcase());
	suite_add_tcase(s, integ_redis_tcase());
	suite_add_tcase(s, integ_deliver_tcase());
	suite_add_tcase(s, integ_conns_tcase());
	suite_add_tcase(s, integ_tls_tcase());
	suite_add_tcase(s, integ_nodes_ops_tcase());
	suite_add_tcase(s, integ_nodes_tcase());
	suite_add_tcase(s, integ_budget_tcase());
	tc = tcase_create("left-behind");
	tcase_add_test(tc, test_left_behind);
	suite_add_tcase(s, tc);
	sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	h_proc_stop_all();
	h_stop();
	if (failed != 0)
		show_logs();
	if (failed == 0 || getenv("TRYST_KEEP") == NULL)
		h_remove_dir();
	return (failed ? 1 : 0);
}
