/*
 * integ-deliver.c -- verification = exec:PROGRAM against a real trystd:
 * the program gets the number and the code in its environment and no
 * arguments, exit 0 registers, another exit status or a program that
 * hangs (killed after 10 s with what it started, the loop serving others
 * meanwhile) is DELIVERY_FAILED, and trystd -t refuses a program it
 * cannot run.
 */
#include <sys/socket.h>
#include <sys/stat.h>
#include <sys/time.h>
#include <sys/un.h>
#include <sys/wait.h>

#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <sodium.h>

#include "harness.h"

#define N_EXEC_OK	"+15550100401"
#define N_EXEC_FAIL	"+15550100402"
#define N_EXEC_HANG	"+15550100403"
#define N_EXEC_VIEW	"+15550100404"
#define N_SOCK_OK	"+15550100405"
#define N_SOCK_HANG	"+15550100406"
#define N_SOCK_BUSY	"+15550100407"
#define N_SOCK_DOWN	"+15550100408"

static pid_t	 deliverd = -1;	/* trystd-deliver of a test */
static char	 deliverd_log[PATH_MAX];

/* The delivery program of the test: it appends what it was given to
 * sent.txt and behaves as the mode file says. */
static void
write_program(char *prog, size_t len)
{
	char	*text, *why = NULL;

	snprintf(prog, len, "%s/send-code", H.dir);
	xasprintf(&text, "#!/bin/sh\n"
	    "echo \"argc=$# number=$TRYST_NUMBER code=$TRYST_CODE\" "
	    ">>'%s/sent.txt'\n"
	    "case $(cat '%s/mode') in\n"
	    "fail) exit 3 ;;\n"
	    "hang) sleep 60 & echo $! >'%s/child.pid'; wait ;;\n"
	    "esac\n", H.dir, H.dir, H.dir);
	ck_assert_msg(file_write_atomic(prog, text, strlen(text), 0700, 0,
	    &why) == 0, "%s: %s", prog, why);
	free(text);
}

/* Set the program's mode: ok, fail or hang. */
static void
set_mode(const char *mode)
{
	char	 path[PATH_MAX];

	snprintf(path, sizeof path, "%s/mode", H.dir);
	ck_assert_int_eq(file_write_atomic(path, mode, strlen(mode), 0600, 0,
	    NULL), 0);
}

/* The code the program was given for number, from sent.txt. */
static void
sent_code(const char *number, char *code, size_t len)
{
	char	*out = NULL;
	int	 i;

	for (i = 0; i < 50; i++) {
		free(out);
		if (h_run(&out, "sed -n 's/^argc=0 number=%s code=\\([0-9]*\\)$"
		    "/\\1/p' '%s/sent.txt' 2>/dev/null | tail -n 1", number,
		    H.dir) == 0 && *out != '\0')
			break;
		h_msleep(100);
	}
	ck_assert_msg(*out != '\0', "%s was not given to the program with "
	    "no arguments", number);
	snprintf(code, len, "%.*s", (int)strcspn(out, "\n"), out);
	free(out);
}

/* A delivery program that records what it can see in folder view: its
 * open descriptors (ls's own listing of /proc/self/fd is the fourth), its
 * environment, the credentials it is given and the code; then it does
 * what view/mode says (fail, hang) or exits 0. */
static void
write_looker(char *prog, size_t len, const char *view)
{
	char	*text, *why = NULL;

	snprintf(prog, len, "%s/look", H.dir);
	xasprintf(&text, "#!/bin/sh\n"
	    "ls /proc/self/fd >'%s/fds'\n"
	    "ls -l /proc/self/fd >'%s/fds-long'\n"
	    "env >'%s/env'\n"
	    "ls -A \"${CREDENTIALS_DIRECTORY:-/nonexistent}\" >'%s/creds' "
	    "2>/dev/null\n"
	    "echo \"$TRYST_NUMBER $TRYST_CODE\" >'%s/sent'\n"
	    "case $(cat '%s/mode' 2>/dev/null) in\n"
	    "fail) exit 3 ;;\n"
	    "hang) sleep 60 & wait ;;\n"
	    "esac\n", view, view, view, view, view, view);
	ck_assert_msg(file_write_atomic(prog, text, strlen(text), 0700, 0,
	    &why) == 0, "%s: %s", prog, why);
	free(text);
}

/* The contents of view/name, or "" once ms have passed without it. */
static char *
view_file(const char *view, const char *name, int ms)
{
	char	*out = NULL;
	int64_t	 end = h_mono_ms() + ms;

	for (;;) {
		free(out);
		if (h_run(&out, "cat '%s/%s' 2>/dev/null", view, name) == 0 ||
		    h_mono_ms() >= end)
			return (out);
		h_msleep(100);
	}
}

/* What a delivery program saw: only its standard streams open (and the
 * listing's own descriptor), none of the service manager's variables in
 * its environment, and the credentials creds ("" for none, and then no
 * CREDENTIALS_DIRECTORY). */
static void
check_view(const char *view, const char *creds)
{
	static const char *const systemd_vars[] = { "CREDENTIALS_DIRECTORY=",
	    "NOTIFY_SOCKET=", "WATCHDOG_USEC=", "WATCHDOG_PID=",
	    "LISTEN_FDS=", "LISTEN_PID=", "LISTEN_FDNAMES=" };
	char	*sent, *fds, *lng, *env, *cr, pat[64];
	size_t	 i;

	sent = view_file(view, "sent", H_TIMEOUT_MS);
	ck_assert_msg(*sent != '\0', "the program did not run");
	fds = view_file(view, "fds", 0);
	lng = view_file(view, "fds-long", 0);
	ck_assert_msg(strcmp(fds, "0\n1\n2\n3\n") == 0, "the delivery "
	    "program inherited descriptors:\n%s", lng);
	ck_assert_msg(strstr(lng, "socket:") == NULL, "%s", lng);
	env = view_file(view, "env", 0);
	ck_assert_msg(strstr(env, "TRYST_NUMBER=+") != NULL, "%s", env);
	/* trystd-deliver's own credentials (creds) are passed on. */
	for (i = *creds != '\0'; i < sizeof systemd_vars /
	    sizeof systemd_vars[0]; i++) {
		snprintf(pat, sizeof pat, "\n%s", systemd_vars[i]);
		ck_assert_msg(strncmp(env, pat + 1, strlen(pat + 1)) != 0 &&
		    strstr(env, pat) == NULL, "the delivery program has %s in "
		    "its environment", systemd_vars[i]);
	}
	cr = view_file(view, "creds", 0);
	ck_assert_msg(strcmp(cr, creds) == 0, "credentials: \"%s\", not "
	    "\"%s\"", cr, creds);
	free(sent);
	free(fds);
	free(lng);
	free(env);
	free(cr);
}

/* Start trystd-deliver on sock, running prog, at most max at once, with
 * a credentials folder that holds only gateway.token; wait until it
 * listens. */
static void
deliverd_start(const char *sock, const char *prog, int max)
{
	char	 conf[PATH_MAX], creds[PATH_MAX], env[PATH_MAX + 32];
	char	*argv[] = { getenv("TRYSTD_DELIVER"), "-c", conf, NULL };
	char	*envp[] = { env, NULL }, *text;
	int	 i;

	snprintf(conf, sizeof conf, "%s/deliver.conf", H.dir);
	snprintf(creds, sizeof creds, "%s/creds-sms", H.dir);
	snprintf(deliverd_log, sizeof deliverd_log, "%s/deliver.log", H.dir);
	snprintf(env, sizeof env, "CREDENTIALS_DIRECTORY=%s", creds);
	ck_assert_int_eq(h_run(NULL, "mkdir -p '%s' && echo token "
	    ">'%s/gateway.token'", creds, creds), 0);
	xasprintf(&text, "program = %s\nsocket = %s\nmax_running = %d\n"
	    "log_level = debug\n", prog, sock, max);
	ck_assert_int_eq(file_write_atomic(conf, text, strlen(text), 0600, 0,
	    NULL), 0);
	free(text);
	unlink(deliverd_log);
	deliverd = h_spawn(argv, envp, deliverd_log);
	ck_assert_int_gt(deliverd, 0);
	for (i = 0; i < 100 && h_file_count(deliverd_log, "at most") == 0;
	    i++) {
		ck_assert_msg(waitpid(deliverd, NULL, WNOHANG) == 0,
		    "trystd-deliver exited (see %s)", deliverd_log);
		h_msleep(100);
	}
	ck_assert_msg(i < 100, "trystd-deliver did not start (see %s)",
	    deliverd_log);
}

/* Stop trystd-deliver (SIGTERM, then SIGKILL after 5 s). */
static void
deliverd_stop(void)
{
	int	 i;

	if (deliverd <= 0)
		return;
	kill(deliverd, SIGTERM);
	for (i = 0; i < 50 && waitpid(deliverd, NULL, WNOHANG) == 0; i++)
		h_msleep(100);
	if (i == 50) {
		kill(deliverd, SIGKILL);
		waitpid(deliverd, NULL, 0);
	}
	deliverd = -1;
}

/* Teardown: trystd-deliver too. */
static void
deliver_teardown(void)
{
	deliverd_stop();
	h_proc_teardown();
}

/* Send len bytes of req to trystd-deliver at sock as trystd would; its
 * answer (what arrives before it closes, within 15 s) into ans. */
static void
ask(const char *sock, const char *req, size_t len, char *ans, size_t anslen)
{
	struct sockaddr_un	 sun;
	struct timeval		 tv = { 15, 0 };
	size_t			 got = 0;
	ssize_t			 n;
	int			 fd;

	memset(&sun, 0, sizeof sun);
	sun.sun_family = AF_UNIX;
	snprintf(sun.sun_path, sizeof sun.sun_path, "%s", sock);
	fd = socket(AF_UNIX, SOCK_STREAM | SOCK_CLOEXEC, 0);
	ck_assert_int_ne(fd, -1);
	ck_assert_int_eq(setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv,
	    sizeof tv), 0);
	ck_assert_msg(connect(fd, (struct sockaddr *)&sun, sizeof sun) == 0,
	    "connect %s: %s", sock, strerror(errno));
	ck_assert_int_eq(send(fd, req, len, MSG_NOSIGNAL), (ssize_t)len);
	while (got < anslen - 1 && (n = read(fd, ans + got,
	    anslen - 1 - got)) > 0)
		got += (size_t)n;
	ans[got] = '\0';
	close(fd);
}

/* Wait until the program has been given number (view/sent), up to ms. */
static void
wait_sent(const char *view, const char *number, int ms)
{
	char	*sent;

	sent = view_file(view, "sent", ms);
	while (strncmp(sent, number, strlen(number)) != 0 && ms > 0) {
		free(sent);
		h_msleep(100);
		ms -= 100;
		sent = view_file(view, "sent", 0);
	}
	ck_assert_msg(strncmp(sent, number, strlen(number)) == 0,
	    "the program was not given %s", number);
	free(sent);
}

/* Set what the looker does after looking: fail, hang, or "" (exit 0). */
static void
set_view_mode(const char *view, const char *mode)
{
	char	 path[PATH_MAX + 8];

	snprintf(path, sizeof path, "%s/mode", view);
	ck_assert_int_eq(file_write_atomic(path, mode, strlen(mode), 0600, 0,
	    NULL), 0);
}

/* The answer on c must be DELIVERY_FAILED, within ms. */
static void
expect_failed(struct hc *c, int ms)
{
	struct msg	 m;
	char		*why = NULL;

	ck_assert_msg(tconn_recv(c->tc, &m, ms, &why) == 1, "%s", why);
	ck_assert_msg(m.type == MSG_ERROR &&
	    m.u.error.code == ERR_DELIVERY_FAILED, "got %s %s",
	    proto_type_name(m.type), proto_err_name(m.u.error.code));
	ck_assert_uint_eq(m.u.error.ref_type, MSG_REGISTER_BEGIN);
}

START_TEST(test_exec_delivery)
{
	struct hproc	*p = h_proc_new("exec");
	struct hc	*c, *other;
	struct msg	 m;
	uint8_t		 pk[32], sk[64], tok[TOKEN_LEN];
	char		 prog[PATH_MAX], extra[PATH_MAX + 32], code[16];
	int64_t		 t0, t;

	write_program(prog, sizeof prog);
	set_mode("ok");
	snprintf(extra, sizeof extra, "verification = exec:%s\n", prog);
	h_proc_conf(p, NULL, NULL, NULL, NULL, extra);
	h_proc_start(p, NULL);
	h_proc_ready(p);

	/* Exit 0: sent, and the code registers. */
	c = h_open_at(p->hostport);
	h_reg_begin_raw(c, N_EXEC_OK, &m);
	ck_assert_msg(m.type == MSG_REGISTER_CHALLENGE, "got %s",
	    proto_type_name(m.type));
	memcpy(tok, m.u.reg_challenge.token.p, TOKEN_LEN);
	sent_code(N_EXEC_OK, code, sizeof code);
	ck_assert_uint_eq(strlen(code), 6);
	crypto_sign_keypair(pk, sk);
	h_reg_finish(c, tok, TOKEN_LEN, code, pk, &m);
	ck_assert_msg(m.type == MSG_REGISTERED, "REGISTER_FINISH: %s",
	    proto_type_name(m.type));

	/* Another exit status: DELIVERY_FAILED, logged with the status. */
	set_mode("fail");
	h_reg_begin_send(c, N_EXEC_FAIL);
	expect_failed(c, H_TIMEOUT_MS);
	h_msleep(100);
	ck_assert_int_eq(h_proc_log_count(p, "failed: exit 3"), 1);

	/* A program that hangs is killed after 10 s; meanwhile the loop
	 * answers everyone else. */
	set_mode("hang");
	other = h_open_at(p->hostport);
	t0 = h_mono_ms();
	h_reg_begin_send(c, N_EXEC_HANG);
	h_msleep(500);
	h_ping(other, 41);
	ck_assert_int_le(h_mono_ms() - t0, 2000);
	expect_failed(c, 15000);
	t = h_mono_ms() - t0;
	ck_assert_msg(t >= 9500 && t <= 13000, "failed after %lld ms",
	    (long long)t);
	h_ping(c, 42);
	h_msleep(100);
	ck_assert_int_eq(h_proc_log_count(p, "killed after its time"), 1);
	/* What the program started went with it (gone, or a zombie that
	 * PID 1 has yet to reap). */
	ck_assert_int_eq(h_run(NULL, "s=$(cut -d' ' -f3 /proc/$(cat "
	    "'%s/child.pid')/stat 2>/dev/null); [ -z \"$s\" ] || "
	    "[ \"$s\" = Z ]", H.dir), 0);
	/* Neither the number nor the code is in the log. */
	ck_assert_int_eq(h_proc_log_count(p, &N_EXEC_OK[1]), 0);
	ck_assert_int_eq(h_proc_log_count(p, code), 0);
}
END_TEST

START_TEST(test_exec_view)
{
	struct hproc	*p = h_proc_new("exec-view");
	struct hc	*c;
	struct msg	 m;
	char		 prog[PATH_MAX], view[PATH_MAX], creds[PATH_MAX];
	char		 extra[PATH_MAX + 32], env1[PATH_MAX + 32];
	char		 env2[PATH_MAX + 32];
	char		*envp[] = { env1, env2, "WATCHDOG_USEC=60000000",
	    "LISTEN_FDS=0", NULL }, *out = NULL;

	/* Under systemd: the master key among the credentials, and the
	 * notification socket's address. */
	snprintf(view, sizeof view, "%s/view-exec", H.dir);
	snprintf(creds, sizeof creds, "%s/creds-exec", H.dir);
	ck_assert_int_eq(h_run(NULL, "mkdir -p '%s' '%s' && cp '%s' "
	    "'%s/master.key'", view, creds, H.master, creds), 0);
	snprintf(env1, sizeof env1, "CREDENTIALS_DIRECTORY=%s", creds);
	snprintf(env2, sizeof env2, "NOTIFY_SOCKET=%s/no-notify", H.dir);
	write_looker(prog, sizeof prog, view);
	snprintf(extra, sizeof extra, "verification = exec:%s\n", prog);
	h_proc_conf(p, NULL, NULL, NULL, "credential:master.key", extra);
	h_proc_start(p, envp);
	h_proc_ready(p);

	/* Both Redis connections are up (the register answers), and the
	 * program sees none of them, nor the credentials. */
	c = h_open_at(p->hostport);
	h_reg_begin_raw(c, N_EXEC_VIEW, &m);
	ck_assert_msg(m.type == MSG_REGISTER_CHALLENGE, "got %s",
	    proto_type_name(m.type));
	check_view(view, "");
	/* Every descriptor trystd holds is close-on-exec (O_CLOEXEC in
	 * fdinfo's octal flags), but for its standard streams and what
	 * the test runner leaves open in it (check's temporary file). */
	ck_assert_int_eq(h_run(&out, "cd /proc/%d/fdinfo && for n in *; do "
	    "[ \"$n\" -le 2 ] && continue; t=$(readlink ../fd/$n) || "
	    "continue; case $t in /tmp/check_*) continue ;; esac; "
	    "f=$(sed -n 's/^flags:[[:space:]]*//p' $n); "
	    "[ $((0$f & 02000000)) -ne 0 ] || echo \"$n $t $f\"; done",
	    (int)p->pid), 0);
	ck_assert_msg(*out == '\0', "trystd's descriptors without "
	    "close-on-exec:\n%s", out);
	free(out);
}
END_TEST

START_TEST(test_socket_delivery)
{
	struct hproc	*p = h_proc_new("sock");
	struct hc	*c, *other;
	struct msg	 m;
	uint8_t		 pk[32], sk[64], tok[TOKEN_LEN];
	char		 prog[PATH_MAX], view[PATH_MAX], creds[PATH_MAX];
	char		 sock[PATH_MAX], extra[PATH_MAX + 64], ans[64];
	char		 env1[PATH_MAX + 32], big[200], *sent, *code;
	char		*envp[] = { env1, NULL };
	int64_t		 t0, t;

	snprintf(view, sizeof view, "%s/view-sock", H.dir);
	snprintf(creds, sizeof creds, "%s/creds-trystd", H.dir);
	snprintf(sock, sizeof sock, "%s/deliver.sock", H.dir);
	ck_assert_int_eq(h_run(NULL, "mkdir -p '%s' '%s' && cp '%s' "
	    "'%s/master.key'", view, creds, H.master, creds), 0);
	snprintf(env1, sizeof env1, "CREDENTIALS_DIRECTORY=%s", creds);
	write_looker(prog, sizeof prog, view);
	deliverd_start(sock, prog, 1);
	snprintf(extra, sizeof extra, "verification = socket:%s\n", sock);
	h_proc_conf(p, NULL, NULL, NULL, "credential:master.key", extra);
	h_proc_start(p, envp);
	h_proc_ready(p);

	/* The code goes through trystd-deliver to the program, which sees
	 * only its standard streams and the gateway's token, and it
	 * registers. */
	c = h_open_at(p->hostport);
	h_reg_begin_raw(c, N_SOCK_OK, &m);
	ck_assert_msg(m.type == MSG_REGISTER_CHALLENGE, "got %s",
	    proto_type_name(m.type));
	memcpy(tok, m.u.reg_challenge.token.p, TOKEN_LEN);
	check_view(view, "gateway.token\n");
	sent = view_file(view, "sent", 0);
	ck_assert_msg(strncmp(sent, N_SOCK_OK " ", strlen(N_SOCK_OK) + 1) ==
	    0, "sent: %s", sent);
	code = sent + strlen(N_SOCK_OK) + 1;
	code[strcspn(code, "\n")] = '\0';
	ck_assert_uint_eq(strlen(code), 6);
	crypto_sign_keypair(pk, sk);
	h_reg_finish(c, tok, TOKEN_LEN, code, pk, &m);
	ck_assert_msg(m.type == MSG_REGISTERED, "REGISTER_FINISH: %s",
	    proto_type_name(m.type));

	/* Requests that are not SEND +NUMBER CODE fail. */
	ask(sock, "SEND 15550100409 123456\n", 24, ans, sizeof ans);
	ck_assert_str_eq(ans, "FAILED\n");
	ask(sock, "SEND +15550100409 12x456\n", 25, ans, sizeof ans);
	ck_assert_str_eq(ans, "FAILED\n");
	memset(big, '1', sizeof big);
	ask(sock, big, sizeof big, ans, sizeof ans);
	ck_assert_str_eq(ans, "FAILED\n");

	/* A gateway that hangs: killed after 10 s, DELIVERY_FAILED; while
	 * it runs (max_running = 1) another code fails at once, and the
	 * loop serves others. */
	set_view_mode(view, "hang");
	other = h_open_at(p->hostport);
	t0 = h_mono_ms();
	h_reg_begin_send(c, N_SOCK_HANG);
	wait_sent(view, N_SOCK_HANG, H_TIMEOUT_MS);
	h_reg_begin_send(other, N_SOCK_BUSY);
	expect_failed(other, H_TIMEOUT_MS);
	printf("deliver: busy answered after %lld ms\n",
	    (long long)(h_mono_ms() - t0));
	h_ping(other, 43);
	expect_failed(c, 20000);
	t = h_mono_ms() - t0;
	printf("deliver: hanging gateway answered after %lld ms\n",
	    (long long)t);
	ck_assert_msg(t >= 9500, "failed after %lld ms", (long long)t);
	ck_assert_int_eq(h_file_count(deliverd_log, "killed after its time"),
	    1);
	ck_assert_int_eq(h_file_count(deliverd_log, "max_running"), 1);

	/* trystd-deliver down: DELIVERY_FAILED at once, said in the log. */
	deliverd_stop();
	t0 = h_mono_ms();
	h_reg_begin_send(c, N_SOCK_DOWN);
	expect_failed(c, H_TIMEOUT_MS);
	printf("deliver: daemon down answered after %lld ms\n",
	    (long long)(h_mono_ms() - t0));
	h_ping(c, 44);
	ck_assert_int_ge(h_proc_log_count(p, "delivery socket"), 1);

	/* Neither log has a number or the code. */
	ck_assert_int_eq(h_proc_log_count(p, &N_SOCK_OK[1]), 0);
	ck_assert_int_eq(h_proc_log_count(p, code), 0);
	ck_assert_int_eq(h_file_count(deliverd_log, &N_SOCK_OK[1]), 0);
	ck_assert_int_eq(h_file_count(deliverd_log, &N_SOCK_HANG[1]), 0);
	ck_assert_int_eq(h_file_count(deliverd_log, code), 0);
	free(sent);
}
END_TEST

/* trystd-deliver on a socket passed by a service manager, as
 * tryst-deliver.socket passes it: systemd-socket-activate hands over a
 * blocking listener, and each request of several in a row is answered.
 * Before, the daemon blocked in accept after the first and never read
 * another request. */
START_TEST(test_socket_activated)
{
	char	 sock[PATH_MAX], prog[PATH_MAX], conf[PATH_MAX];
	char	 log[PATH_MAX], ans[64], *text;
	char	*argv[] = { "systemd-socket-activate", "-l", sock, "-E",
		    "CREDENTIALS_DIRECTORY", getenv("TRYSTD_DELIVER"), "-c",
		    conf, NULL };
	char	 env[PATH_MAX + 32], *envp[] = { env, NULL };
	int	 i;

	ck_assert_msg(h_run(NULL, "command -v systemd-socket-activate "
	    ">/dev/null") == 0, "no systemd-socket-activate (deploy/dev "
	    "installs systemd)");
	snprintf(sock, sizeof sock, "%s/activated.sock", H.dir);
	snprintf(conf, sizeof conf, "%s/activated.conf", H.dir);
	snprintf(log, sizeof log, "%s/activated.log", H.dir);
	snprintf(env, sizeof env, "CREDENTIALS_DIRECTORY=%s/creds-act", H.dir);
	ck_assert_int_eq(h_run(NULL, "mkdir -p '%s/creds-act' && echo token "
	    ">'%s/creds-act/gateway.token'", H.dir, H.dir), 0);
	write_program(prog, sizeof prog);
	set_mode("ok");
	xasprintf(&text, "program = %s\nsocket = %s\n", prog, sock);
	ck_assert_int_eq(file_write_atomic(conf, text, strlen(text), 0600, 0,
	    NULL), 0);
	free(text);
	deliverd = h_spawn(argv, envp, log);
	ck_assert_int_gt(deliverd, 0);
	for (i = 0; i < 100 && h_file_count(log, "Listening on") == 0; i++)
		h_msleep(50);
	for (i = 0; i < 3; i++) {
		ask(sock, "SEND +15550100409 123456\n", 25, ans, sizeof ans);
		ck_assert_msg(strcmp(ans, "OK\n") == 0, "request %d: \"%s\" "
		    "(see %s)", i + 1, ans, log);
	}
}
END_TEST

START_TEST(test_socket_check)
{
	char	*out = NULL, *shipped = NULL, conf[PATH_MAX];
	int	 st;

	/* The shipped example is what the table makes. */
	ck_assert_int_eq(h_run(&out, "\"$TRYSTD_DELIVER\" -d"), 0);
	ck_assert_int_eq(h_run(&shipped, "cat '%s/conf/trystd-deliver.conf'",
	    TEST_SRCDIR), 0);
	ck_assert_msg(strcmp(out, shipped) == 0, "conf/trystd-deliver.conf "
	    "is not what trystd-deliver -d writes");
	free(out);
	free(shipped);
	/* -t: a program it cannot run is refused. */
	snprintf(conf, sizeof conf, "%s/deliver-check.conf", H.dir);
	ck_assert_int_eq(file_write_atomic(conf, "program = /nonexistent/x\n",
	    25, 0600, 0, NULL), 0);
	st = h_run(&out, "\"$TRYSTD_DELIVER\" -t -c '%s' 2>&1", conf);
	ck_assert_int_eq(st, 1);
	ck_assert_msg(strstr(out, "program: /nonexistent/x: No such file") !=
	    NULL, "%s", out);
	free(out);
	/* trystd refuses a socket: that is not an absolute path. */
	ck_assert_int_eq(file_write_atomic(conf, "verification = socket:x\n",
	    24, 0600, 0, NULL), 0);
	st = h_run(&out, "\"$TRYSTD\" -t -c '%s' 2>&1", conf);
	ck_assert_int_eq(st, 1);
	ck_assert_msg(strstr(out, "socket:PATH needs an absolute path") !=
	    NULL, "%s", out);
	free(out);
}
END_TEST

START_TEST(test_exec_check)
{
	struct hproc	*p = h_proc_new("exec-check");
	char		 extra[PATH_MAX + 32], *out = NULL;
	int		 st;

	h_proc_conf(p, NULL, NULL, NULL, NULL,
	    "verification = exec:/nonexistent/send-code\n");
	st = h_run(&out, "\"$TRYSTD\" -t -c '%s' 2>&1", p->conf);
	ck_assert_int_eq(st, 1);
	ck_assert_msg(strstr(out, "verification: /nonexistent/send-code: No "
	    "such file or directory") != NULL, "%s", out);
	free(out);
	/* Present but not executable. */
	snprintf(extra, sizeof extra, "verification = exec:%s\n", p->conf);
	h_proc_conf(p, NULL, NULL, NULL, NULL, extra);
	st = h_run(&out, "\"$TRYSTD\" -t -c '%s' 2>&1", p->conf);
	ck_assert_int_eq(st, 1);
	ck_assert_msg(strstr(out, "Permission denied") != NULL, "%s", out);
	free(out);
}
END_TEST

/* This file's tests, each of which starts its own trystd. */
TCase *
integ_deliver_tcase(void)
{
	TCase	*tc = tcase_create("deliver");

	tcase_add_checked_fixture(tc, NULL, deliver_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_exec_check);
	tcase_add_test(tc, test_exec_view);
	tcase_add_test(tc, test_socket_check);
	tcase_add_test(tc, test_socket_activated);
	tcase_add_test(tc, test_socket_delivery);
	tcase_add_test(tc, test_exec_delivery);
	return (tc);
}
