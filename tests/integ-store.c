/*
 * integ-store.c -- integration tests of discovery, of the tryst CLI, of
 * what trystd keeps in Redis, of a Redis outage, and of what trystd logs.
 */
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <hiredis/hiredis.h>
#include <sodium.h>

#include "harness.h"

#define N_OUTAGE	"+15550100009"
#define N_AFTER		"+15550100010"
#define N_CLI		"+15550100011"
#define N_DISC		"+15550100012"
#define N_DISC_NONE	"+15550100013"
#define N_SEEN		"+15550100016"
#define N_STALE		"+15550100017"
#define N_LOG_A		"+15550100018"
#define N_LOG_B		"+15550100019"
#define LOG_OFFER	"offer-that-must-not-be-logged"
#define LOG_ANSWER	"answer-that-must-not-be-logged"

/* OPRF_EVAL for two numbers; the IDs into ids. */
static void
discover(struct hc *c, const char *n0, const char *n1, uint8_t ids[64])
{
	uint8_t		 blind[2][32], el[64], out[OPRF_OUT];
	const char	*in[2] = { n0, n1 };
	struct msg	 m;
	int		 i;

	for (i = 0; i < 2; i++)
		ck_assert_int_eq(oprf_blind(blind[i], el + 32 * i,
		    (const uint8_t *)in[i], strlen(in[i]), NULL), 0);
	memset(&m, 0, sizeof m);
	m.type = MSG_OPRF_EVAL;
	m.u.oprf.count = 2;
	m.u.oprf.elements = el;
	h_send(c, &m);
	h_recv(c, &m);
	ck_assert_msg(m.type == MSG_OPRF_RESULT, "got %s %s",
	    proto_type_name(m.type), proto_err_name(m.u.error.code));
	ck_assert_uint_eq(m.u.oprf.count, 2);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(oprf_finalize(out, (const uint8_t *)in[i],
		    strlen(in[i]), blind[i], m.u.oprf.elements + 32 * i), 0);
		memcpy(ids + 32 * i, out, 32);
	}
}

START_TEST(test_discovery)
{
	struct account	 a;
	struct hc	*c;
	struct msg	 m;
	uint8_t		 ids[64], want[ID_LEN];

	h_register(N_DISC, &a);
	c = h_online(&a, 0);
	discover(c, N_DISC, N_DISC_NONE, ids);
	ck_assert_int_eq(memcmp(ids, a.c.id, ID_LEN), 0);
	ck_assert_int_eq(keys_number_id(H.keys, N_DISC_NONE, want), 0);
	ck_assert_int_eq(memcmp(ids + 32, want, ID_LEN), 0);
	memset(&m, 0, sizeof m);
	m.type = MSG_LOOKUP;
	m.u.lookup.count = 2;
	m.u.lookup.ids = ids;
	h_send(c, &m);
	h_recv(c, &m);
	ck_assert_msg(m.type == MSG_LOOKUP_RESULT, "got %s",
	    proto_type_name(m.type));
	ck_assert_uint_eq(m.u.lookup_result.count, 2);
	ck_assert_uint_eq(m.u.lookup_result.bitmap[0], 0x01);
}
END_TEST

/* Run tryst with TRYST_HOME=H.dir/home; output (with stderr) in *out. */
static int
cli_run(char **out, const char *home, const char *args)
{
	return (h_run(out, "TRYST_HOME='%s/%s' \"$TRYST\" %s 2>&1", H.dir,
	    home, args));
}

START_TEST(test_cli)
{
	uint8_t	 other[32];
	char	 args[256], code[16], hex[65], *out = NULL, *b64;
	int	 st, before;

	b64 = b64_encode(H.sign_pk, 32);
	hex_encode(hex, H.sign_pk, 32);
	snprintf(args, sizeof args, "init --server %s", H.hostport);
	st = cli_run(&out, "home1", args);
	ck_assert_msg(st == 0, "tryst init: %d: %s", st, out);
	free(out);
	ck_assert_msg(h_run(NULL, "grep -rqF -e '%s' -e '%s' '%s/home1'", b64,
	    hex, H.dir) == 0, "the server key is not kept in TRYST_HOME");

	before = h_code_count(N_CLI);
	st = cli_run(&out, "home1", "register " N_CLI);
	ck_assert_msg(st == 0, "tryst register: %d: %s", st, out);
	free(out);
	h_code_wait(N_CLI, before, code, sizeof code);
	snprintf(args, sizeof args, "verify %s", code);
	st = cli_run(&out, "home1", args);
	ck_assert_msg(st == 0, "tryst verify: %d: %s", st, out);
	free(out);
	st = cli_run(&out, "home1", "whoami");
	ck_assert_msg(st == 0, "tryst whoami: %d: %s", st, out);
	ck_assert_msg(strstr(out, N_CLI) != NULL && strstr(out, "online") !=
	    NULL, "whoami: %s", out);
	free(out);

	/* The right key given explicitly works; another one is refused. */
	snprintf(args, sizeof args, "init --server %s --key %s", H.hostport,
	    b64);
	st = cli_run(&out, "home2", args);
	ck_assert_msg(st == 0, "tryst init --key (right): %d: %s", st, out);
	free(out);
	free(b64);
	randombytes_buf(other, sizeof other);
	b64 = b64_encode(other, sizeof other);
	snprintf(args, sizeof args, "init --server %s --key %s", H.hostport,
	    b64);
	free(b64);
	st = cli_run(&out, "home3", args);
	ck_assert_msg(st != 0, "tryst init with a wrong key succeeded: %s",
	    out);
	ck_assert_msg(strcasestr(out, "key") != NULL, "refusal does not "
	    "mention the key: %s", out);
	free(out);
}
END_TEST

/* The number of HSET calls Redis has run since its last CONFIG RESETSTAT
 * (scripts' included). */
static long long
hset_calls(redisContext *rc)
{
	redisReply	*r = redisCommand(rc, "INFO commandstats");
	const char	*p;
	long long	 n = 0;

	ck_assert_msg(r != NULL && r->type == REDIS_REPLY_STRING, "INFO");
	if ((p = strstr(r->str, "cmdstat_hset:calls=")) != NULL)
		n = atoll(p + strlen("cmdstat_hset:calls="));
	freeReplyObject(r);
	return (n);
}

/* Several connections of one account saying HELLO at once on a new day
 * write its seen day once, and move its expiry with it. */
START_TEST(test_seen_once)
{
	struct account	 a;
	struct hc	*c[3];
	struct msg	 m;
	redisContext	*rc;
	redisReply	*r;
	char		 key[80], hex[2 * ID_LEN + 1];
	long long	 today = h_today();
	size_t		 i, round;

	h_register(N_SEEN, &a);
	hex_encode(hex, a.c.id, ID_LEN);
	snprintf(key, sizeof key, "acct:{%s}", hex);
	rc = redisConnect("127.0.0.1", H.redis_port);
	ck_assert_msg(rc != NULL && rc->err == 0, "redis connect");
	freeReplyObject(redisCommand(rc, "HSET %s seen %lld", key,
	    today - 3 * 86400));
	freeReplyObject(redisCommand(rc, "CONFIG RESETSTAT"));
	for (round = 0; round < 2; round++) {
		for (i = 0; i < 3; i++)
			c[i] = h_open();
		/* trystd finds the three HELLOs waiting at once. */
		ck_assert_int_eq(kill(H.trystd_pid, SIGSTOP), 0);
		for (i = 0; i < 3; i++)
			h_hello_send(c[i], a.cred, CRED_LEN, a.sk, 0);
		h_msleep(100);
		ck_assert_int_eq(kill(H.trystd_pid, SIGCONT), 0);
		for (i = 0; i < 3; i++) {
			h_recv(c[i], &m);
			ck_assert_int_eq(m.type, MSG_WELCOME);
		}
		h_msleep(200);
		for (i = 0; i < 3; i++)
			h_close(c[i]);
	}
	ck_assert_int_eq(hset_calls(rc), 1);
	ck_assert_int_eq(h_reply_int(rc, "EXPIRETIME", key),
	    today + 120LL * 86400);
	r = redisCommand(rc, "HGET %s seen", key);
	ck_assert_msg(r != NULL && r->type == REDIS_REPLY_STRING, "HGET");
	ck_assert_int_eq(atoll(r->str), today);
	freeReplyObject(r);
	redisFree(rc);
}
END_TEST

/* A DELETE_ACCOUNT from a registration that is no longer the account's
 * (registered again through another node, whose revocation has not come
 * yet) deletes nothing: REVOKED, and the new account stays. */
START_TEST(test_delete_stale)
{
	struct account	 a;
	struct hc	*c;
	struct msg	 m;
	redisContext	*rc;
	redisReply	*r;
	char		 key[80], hex[2 * ID_LEN + 1];

	h_register(N_STALE, &a);
	c = h_online(&a, 0);
	hex_encode(hex, a.c.id, ID_LEN);
	snprintf(key, sizeof key, "acct:{%s}", hex);
	rc = redisConnect("127.0.0.1", H.redis_port);
	ck_assert_msg(rc != NULL && rc->err == 0, "redis connect");
	r = redisCommand(rc, "HINCRBY %s created 1", key);
	ck_assert_msg(r != NULL && r->type == REDIS_REPLY_INTEGER, "HINCRBY");
	freeReplyObject(r);
	memset(&m, 0, sizeof m);
	m.type = MSG_DELETE_ACCOUNT;
	h_send(c, &m);
	h_expect_error(c, ERR_REVOKED, MSG_DELETE_ACCOUNT, NULL);
	ck_assert_int_eq(h_reply_int(rc, "EXISTS", key), 1);
	redisFree(rc);
}
END_TEST

START_TEST(test_redis_keys)
{
	ck_assert_uint_gt(h_check_redis_keys(), 0);
}
END_TEST

START_TEST(test_redis_outage)
{
	struct account	 a, b;
	struct hc	*c;
	struct msg	 m;
	char		*why = NULL, code[16];
	pid_t		 pid = H.trystd_pid;
	uint8_t		 tok[TOKEN_LEN];
	int		 i, before;

	h_register(N_OUTAGE, &a);
	h_redis_stop();
	c = h_open();
	h_hello_raw(c, a.cred, CRED_LEN, a.sk, HELLO_PRESENCE, &m);
	ck_assert_msg(m.type == MSG_ERROR && m.u.error.code == ERR_UNAVAILABLE,
	    "HELLO, Redis down: %s %s", proto_type_name(m.type),
	    proto_err_name(m.u.error.code));
	ck_assert_uint_gt(m.u.error.retry_after_s, 0);
	h_ping(c, 16);
	h_reg_begin_raw(c, N_AFTER, &m);
	ck_assert_msg(m.type == MSG_ERROR && m.u.error.code == ERR_UNAVAILABLE,
	    "REGISTER_BEGIN, Redis down: %s", proto_type_name(m.type));
	ck_assert_uint_gt(m.u.error.retry_after_s, 0);

	ck_assert_msg(h_redis_start(&why) == 0, "%s", why);
	before = h_code_count(N_AFTER);
	for (i = 0; i < 30; i++) {
		h_reg_begin_raw(c, N_AFTER, &m);
		if (m.type != MSG_ERROR || m.u.error.code != ERR_UNAVAILABLE)
			break;
		usleep(500 * 1000);
	}
	ck_assert_msg(m.type == MSG_REGISTER_CHALLENGE, "15 s after Redis "
	    "came back: %s %s", proto_type_name(m.type),
	    proto_err_name(m.u.error.code));
	ck_assert_uint_eq(m.u.reg_challenge.token.len, TOKEN_LEN);
	memcpy(tok, m.u.reg_challenge.token.p, TOKEN_LEN);
	h_code_wait(N_AFTER, before, code, sizeof code);
	crypto_sign_keypair(b.pk, b.sk);
	h_reg_finish(c, tok, TOKEN_LEN, code, b.pk, &m);
	ck_assert_msg(m.type == MSG_REGISTERED, "got %s",
	    proto_type_name(m.type));

	/* The data went with the old Redis: the old account is gone. */
	h_hello_raw(c, a.cred, CRED_LEN, a.sk, 0, &m);
	ck_assert_msg(m.type == MSG_ERROR && m.u.error.code == ERR_REVOKED,
	    "account lost with Redis: %s %s", proto_type_name(m.type),
	    proto_err_name(m.u.error.code));
	ck_assert_int_eq(H.trystd_pid, pid);
	ck_assert(h_trystd_alive());
}
END_TEST

START_TEST(test_log_private)
{
	struct account	 a, b;
	struct hc	*ca, *cb;
	struct hcall	 call;
	char		 hex[24], dec[24];
	const char	*also[] = { LOG_OFFER, LOG_ANSWER, hex, dec, NULL };

	/* A call whose offer and answer are easy to find. */
	h_register(N_LOG_A, &a);
	h_register(N_LOG_B, &b);
	cb = h_online(&b, HELLO_PRESENCE);
	ca = h_online(&a, 0);
	h_ring(ca, &a, cb, &b, 9, LOG_OFFER, strlen(LOG_OFFER), &call);
	h_accept(ca, cb, &b, LOG_ANSWER, strlen(LOG_ANSWER), &call);
	h_close(ca);
	h_expect_ended(cb, call.session, 1);
	h_msleep(100);
	snprintf(hex, sizeof hex, "%016llx", (unsigned long long)call.session);
	snprintf(dec, sizeof dec, "%llu", (unsigned long long)call.session);
	ck_assert_ptr_nonnull(h_number(10));
	h_check_log_private(H.log, also);
	/* The trystds of the tests of their own, too. */
	ck_assert_uint_gt(h_check_logs_private(), 1);
}
END_TEST

/* OPRF_EVAL and LOOKUP. */
TCase *
integ_discovery_tcase(void)
{
	TCase	*tc = tcase_create("discovery");

	tcase_add_checked_fixture(tc, NULL, h_test_teardown);
	tcase_add_test(tc, test_discovery);
	return (tc);
}

/* `tryst init`, `register`, `verify`, `whoami`. */
TCase *
integ_cli_tcase(void)
{
	TCase	*tc = tcase_create("cli");

	tcase_add_checked_fixture(tc, NULL, h_test_teardown);
	tcase_add_test(tc, test_cli);
	return (tc);
}

/* Redis holds only the keys of PROTOCOL.md §7. */
TCase *
integ_store_tcase(void)
{
	TCase	*tc = tcase_create("store");

	tcase_add_checked_fixture(tc, NULL, h_test_teardown);
	tcase_add_test(tc, test_seen_once);
	tcase_add_test(tc, test_delete_stale);
	tcase_add_test(tc, test_redis_keys);
	return (tc);
}

/* Last, in order: Redis outage, Redis keys again, the log. */
TCase *
integ_last_tcase(void)
{
	TCase	*tc = tcase_create("last");

	tcase_add_checked_fixture(tc, NULL, h_test_teardown);
	tcase_add_test(tc, test_redis_outage);
	tcase_add_test(tc, test_redis_keys);
	tcase_add_test(tc, test_log_private);
	return (tc);
}
