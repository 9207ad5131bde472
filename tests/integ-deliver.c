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

	tcase_add_checked_fixture(tc, NULL, h_proc_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_exec_check);
	tcase_add_test(tc, test_exec_delivery);
	return (tc);
}
