/*
 * integ-redis.c -- trystd and a Redis that is not simply there: a wrong
 * password, a Redis that stops answering, and the Redis of
 * deploy/redis-tryst.conf as shipped (its Unix socket, its ACL user).
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <hiredis/hiredis.h>

#include "harness.h"

#define N_REDIS_HANG	"+15550100304"
#define N_REDIS_ACL	"+15550100305"

/* A redis-server of this test alone on a free port, requiring password
 * unless it is NULL; its pid in *pid (it dies with the test program). */
static int
own_redis(pid_t *pid, const char *password)
{
	char		 port[16], log[PATH_MAX];
	char		*argv[] = { "redis-server", "--port", port, "--bind",
	    "127.0.0.1", "--save", "", "--appendonly", "no", "--dir", H.dir,
	    "--requirepass", (char *)password, NULL };
	redisContext	*rc;
	int		 n = h_proc_port(SOCK_STREAM), i;

	if (password == NULL)
		argv[11] = NULL;
	snprintf(port, sizeof port, "%d", n);
	snprintf(log, sizeof log, "%s/redis-%d.log", H.dir, n);
	*pid = h_spawn(argv, NULL, log);
	for (i = 0; i < 100; i++) {
		if ((rc = redisConnect("127.0.0.1", n)) != NULL && !rc->err) {
			redisFree(rc);
			return (n);
		}
		redisFree(rc);
		h_msleep(50);
	}
	ck_abort_msg("redis-server on %d did not start (see %s)", n, log);
	return (-1);
}

/* Start p with metrics on port, the Redis user (or NULL) and a file with
 * the password; wait until it takes connections. */
static void
start_with_password(struct hproc *p, int port, const char *user,
    const char *password)
{
	char	 extra[PATH_MAX + 128], pw[PATH_MAX], *text;

	snprintf(pw, sizeof pw, "%s/%s.pass", H.dir, password);
	xasprintf(&text, "%s\n", password);
	ck_assert_int_eq(file_write_atomic(pw, text, strlen(text), 0600, 0,
	    NULL), 0);
	free(text);
	/* A relay budget, so that a relayed call also reads and adds to the
	 * relay counts (the shipped ACL must allow it). */
	snprintf(extra, sizeof extra, "metrics_listen = %d\n"
	    "relay_account_daily_bytes = 4096\n"
	    "redis_password_file = %s\n%s%s%s", port, pw,
	    user != NULL ? "redis_user = " : "", user != NULL ? user : "",
	    user != NULL ? "\n" : "");
	h_proc_conf(p, NULL, NULL, NULL, NULL, extra);
	h_proc_start(p, NULL);
	h_proc_ready(p);
}

/* Wait up to ms until text is in p's log count times or more. */
static void
log_wait(struct hproc *p, const char *text, int count, int ms)
{
	int64_t	 end = h_mono_ms() + ms;

	while (h_proc_log_count(p, text) < count) {
		ck_assert_msg(h_mono_ms() < end, "no \"%s\" in %s after %d "
		    "ms", text, p->log, ms);
		h_msleep(50);
	}
}

/* A wrong Redis password: trystd says so once, counts Redis as down and
 * refuses what needs it with UNAVAILABLE, and is up as soon as the
 * password it has is the right one. */
START_TEST(test_redis_password)
{
	struct hproc	*p = h_proc_new("redis-auth");
	struct hc	*c;
	struct msg	 m;
	redisContext	*rc;
	pid_t		 rpid;
	int		 port = h_proc_port(SOCK_STREAM), rport;

	rport = own_redis(&rpid, "right");
	snprintf(p->redis, sizeof p->redis, "127.0.0.1:%d", rport);
	start_with_password(p, port, NULL, "wrong");
	log_wait(p, "redis: AUTH refused: WRONGPASS", 1, 5000);
	h_healthz_wait(port, 503, 1000);
	ck_assert_int_eq(h_metric_now(port, "tryst_redis_up"), 0);
	ck_assert_int_ge(h_metric_now(port, "tryst_redis_errors_total"), 1);
	c = h_open_at(p->hostport);
	h_reg_begin_raw(c, N_REDIS_HANG, &m);
	ck_assert_int_eq(m.type, MSG_ERROR);
	ck_assert_int_eq(m.u.error.code, ERR_UNAVAILABLE);
	h_close(c);
	ck_assert_int_eq(h_proc_log_count(p, "redis: connected"), 0);

	/* The password trystd holds becomes the right one. */
	rc = redisConnect("127.0.0.1", rport);
	ck_assert_msg(rc != NULL && !rc->err, "redis connect");
	freeReplyObject(redisCommand(rc, "AUTH right"));
	freeReplyObject(redisCommand(rc, "CONFIG SET requirepass wrong"));
	redisFree(rc);
	h_healthz_wait(port, 200, 10000);
	ck_assert_int_eq(h_proc_log_count(p, "redis: connected"), 1);
	/* Retried every 2 s, logged once. */
	ck_assert_int_eq(h_proc_log_count(p, "AUTH refused"), 1);
	kill(rpid, SIGKILL);
	waitpid(rpid, NULL, 0);
}
END_TEST

/* A Redis that stops answering (SIGSTOP) is dropped within seconds:
 * requests waiting on it get UNAVAILABLE instead of hanging, /healthz
 * says 503, and all is well again once it answers. */
START_TEST(test_redis_hang)
{
	struct hproc	*p = h_proc_new("redis-hang");
	struct account	 a;
	struct hc	*c;
	struct msg	 m;
	char		 listen[40];
	pid_t		 rpid;
	int		 port = h_proc_port(SOCK_STREAM), rport;

	rport = own_redis(&rpid, NULL);
	snprintf(p->redis, sizeof p->redis, "127.0.0.1:%d", rport);
	snprintf(listen, sizeof listen, "metrics_listen = %d\n", port);
	h_proc_conf(p, NULL, NULL, NULL, NULL, listen);
	h_proc_start(p, NULL);
	h_proc_ready(p);
	h_healthz_wait(port, 200, 5000);
	c = h_open_at(p->hostport);
	ck_assert_int_eq(kill(rpid, SIGSTOP), 0);
	h_reg_begin_raw(c, N_REDIS_HANG, &m);	/* waits for Redis */
	ck_assert_int_eq(m.type, MSG_ERROR);
	ck_assert_int_eq(m.u.error.code, ERR_UNAVAILABLE);
	h_healthz_wait(port, 503, 1000);
	log_wait(p, "redis: no answer", 1, 1000);
	ck_assert_int_eq(kill(rpid, SIGCONT), 0);
	h_healthz_wait(port, 200, 10000);
	h_close(c);
	h_register_at(p->hostport, N_REDIS_HANG, &a);
	kill(rpid, SIGKILL);
	waitpid(rpid, NULL, 0);
}
END_TEST

/* Start redis-server with deploy/redis-tryst.conf as shipped, but its
 * socket, folder and trystd's password (secret) set for this test, and an
 * admin user for the test itself; its socket path into sock. */
static pid_t
acl_redis(char *sock, size_t len)
{
	char	 conf[PATH_MAX], log[PATH_MAX];
	char	*argv[] = { "redis-server", conf, NULL };
	pid_t	 pid;
	int	 i;

	snprintf(sock, len, "%s/acl.sock", H.dir);
	snprintf(conf, sizeof conf, "%s/redis-acl.conf", H.dir);
	snprintf(log, sizeof log, "%s/redis-acl.log", H.dir);
	ck_assert_int_eq(h_run(NULL, "mkdir -p '%s/acl' && sed -e "
	    "'s|^unixsocket .*|unixsocket %s|' -e 's|^dir .*|dir %s/acl|' "
	    "-e 's|^supervised .*|supervised no|' -e \"s|#SHA256-OF-THE-"
	    "PASSWORD|#$(printf secret | sha256sum | cut -c1-64)|\" '%s/deploy/"
	    "redis-tryst.conf' >'%s' && echo 'user admin on >admin ~* &* "
	    "+@all' >>'%s'", H.dir, sock, H.dir, TEST_SRCDIR, conf, conf), 0);
	pid = h_spawn(argv, NULL, log);
	for (i = 0; i < 100 && access(sock, F_OK) != 0; i++)
		h_msleep(50);
	ck_assert_msg(access(sock, F_OK) == 0, "no %s (see %s)", sock, log);
	return (pid);
}

/* trystd on the Redis of deploy/redis-tryst.conf, through its socket as
 * its ACL user: registration, HELLO, discovery, a relayed call,
 * re-registration and deletion all work, and Redis refused nothing. */
START_TEST(test_redis_acl)
{
	struct hproc	*p = h_proc_new("redis-acl");
	struct account	 a;
	struct hc	*pres, *c;
	struct msg	 m;
	redisContext	*rc;
	redisReply	*r;
	char		 sock[PATH_MAX];
	pid_t		 rpid = acl_redis(sock, sizeof sock);
	int		 port = h_proc_port(SOCK_STREAM);

	snprintf(p->redis, sizeof p->redis, "unix:%s", sock);
	start_with_password(p, port, "trystd", "secret");
	h_healthz_wait(port, 200, 10000);

	h_register_at(p->hostport, N_REDIS_ACL, &a);
	pres = h_online_at(p->hostport, &a, HELLO_PRESENCE);
	h_metrics_activity(p, port, &a);
	h_register_at(p->hostport, N_REDIS_ACL, &a);
	h_expect_goaway(pres, GOAWAY_REVOKED);
	c = h_online_at(p->hostport, &a, 0);
	memset(&m, 0, sizeof m);
	m.type = MSG_DELETE_ACCOUNT;
	h_send(c, &m);
	h_recv(c, &m);
	ck_assert_int_eq(m.type, MSG_DELETED);

	rc = redisConnectUnix(sock);
	ck_assert_msg(rc != NULL && !rc->err, "connect %s", sock);
	freeReplyObject(redisCommand(rc, "AUTH admin admin"));
	r = redisCommand(rc, "ACL LOG");
	ck_assert_msg(r != NULL && r->type == REDIS_REPLY_ARRAY, "ACL LOG");
	ck_assert_msg(r->elements == 0, "Redis refused %zu commands of "
	    "trystd; first: %s", r->elements, r->elements > 0 &&
	    r->element[0]->elements > 5 ? r->element[0]->element[5]->str :
	    "?");
	freeReplyObject(r);
	redisFree(rc);
	ck_assert_int_eq(h_proc_log_count(p, "redis: connected"), 1);
	kill(rpid, SIGTERM);
	waitpid(rpid, NULL, 0);
}
END_TEST

/* A wrong password, a stopped Redis, the shipped ACL. */
TCase *
integ_redis_tcase(void)
{
	TCase	*tc = tcase_create("redis");

	tcase_add_checked_fixture(tc, NULL, h_proc_teardown);
	tcase_add_test(tc, test_redis_password);
	tcase_add_test(tc, test_redis_hang);
	tcase_add_test(tc, test_redis_acl);
	return (tc);
}
