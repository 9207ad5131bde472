/*
 * integ-register.c -- registration end to end: a token past its expiry
 * and code_ttl_s, the code budgets (per server, refilling continuously;
 * per prefix), wrong codes counted atomically, max_deliveries, a failed
 * HELLO closing its connection, and the syslog prefixes and log_level of
 * trystd's log.
 */
#include <sys/socket.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <hiredis/hiredis.h>
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
#define N_LOG		"+15550100513"
#define N_RF		"+15550100514"
#define N_PF		"+15550100515"
#define N_FAIL		"+15550100516"
#define N_HELLO		"+15550100517"


/* ---- helpers ---------------------------------------------------------- */




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

	/* vt:{ID}:NONCE, whatever the ID. */
	memcpy(key, "vt:*:", 5);
	hex_encode(key + 5, tok, TOKEN_NONCE);
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
	token_seal(old, H.keys, id, "314159", h_wall_ms() - 1);
	h_reg_finish(c, old, TOKEN_LEN, "314159", pk, &m);
	expect_err(&m, ERR_EXPIRED, MSG_REGISTER_FINISH);
	/* Long past, with a wrong code: EXPIRED, not BAD_CODE. */
	token_seal(late, H.keys, id, "314159", h_wall_ms() - 3600 * 1000);
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
	token_seal(tok, H.keys, id, "314159", h_wall_ms() + 60000);
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

	t0 = h_wall_ms();
	h_reg_begin_raw(c, number, &m);
	t1 = h_wall_ms();
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
	p = h_proc_up("ttl", NULL, NULL, "code_ttl_s = 60\n");
	begin_ttl(h_open_at(p->hostport), N_TTL, 60);
}
END_TEST

/* ---- code budgets ----------------------------------------------------- */

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

	p = h_proc_up("budget", NULL, NULL, "codes_per_hour = 3\n");
	c = h_open_at(p->hostport);
	for (i = 0; i < 3; i++)
		h_reg_begin(c, nums[i], tok, &len, code, sizeof code);
	h_reg_begin_raw(c, N_B4, &m);
	want = 1200;		/* a code comes back every 3600 / 3 s */
	expect_err(&m, ERR_RATE_LIMITED, MSG_REGISTER_BEGIN);
	ck_assert_msg(llabs((long long)m.u.error.retry_after_s - want) <= 5,
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

/* A trystd named name with extra, its clock at half past an hour: a
 * budget that waited for the top of the hour would wait 30 minutes. */
static struct hproc *
half_past(const char *name, const char *extra)
{
	struct hproc	*p = h_proc_new(name);
	char		 shift[64], *env[] = { shift, NULL };
	long long	 now = (long long)time(NULL);

	snprintf(shift, sizeof shift, "TRYST_CLOCK_SHIFT_S=%lld",
	    1800 - now % 3600);
	h_proc_conf(p, NULL, NULL, NULL, NULL, extra);
	h_proc_start(p, env);
	h_proc_ready(p);
	return (p);
}

START_TEST(test_codes_refill)
{
	struct hproc	*p;
	struct hc	*c;
	struct msg	 m;
	int64_t		 t0, t;
	int		 n;

	/* 360 an hour: one every 10 s, 36 at once (a tenth of the hour). */
	p = half_past("refill", "codes_per_hour = 360\n"
	    "code_requests_per_hour = 100\n");
	c = h_open_at(p->hostport);
	t0 = h_mono_ms();
	for (n = 0; n < 100; n++) {
		h_reg_begin_raw(c, N_RF, &m);
		if (m.type != MSG_REGISTER_CHALLENGE)
			break;
	}
	t = h_mono_ms() - t0;
	expect_err(&m, ERR_RATE_LIMITED, MSG_REGISTER_BEGIN);
	fprintf(stderr, "codes refill: %d codes in %lld ms, then refused, "
	    "retry_after_s %u\n", n, (long long)t, m.u.error.retry_after_s);
	/* The burst, and what refilled meanwhile. */
	ck_assert_int_ge(n, 36);
	ck_assert_int_le(n, 36 + t / 10000 + 1);
	/* Seconds, not the half hour to the top of the clock hour. */
	ck_assert_uint_ge(m.u.error.retry_after_s, 1);
	ck_assert_uint_le(m.u.error.retry_after_s, 10);
	/* Any newcomer, after that wait: a code. */
	h_msleep((int)m.u.error.retry_after_s * 1000 + 300);
	c = h_open_at(p->hostport);
	h_reg_begin_raw(c, N_RF, &m);
	ck_assert_msg(m.type == MSG_REGISTER_CHALLENGE, "after the refill: "
	    "%s %s", proto_type_name(m.type), m.type == MSG_ERROR ?
	    proto_err_name(m.u.error.code) : "");
	/* One token came back, and it is spent. */
	h_reg_begin_raw(c, N_RF, &m);
	expect_err(&m, ERR_RATE_LIMITED, MSG_REGISTER_BEGIN);
}
END_TEST

/* REGISTER_BEGIN for number from the address src to p: the answer. */
static void
begin_from(struct hproc *p, const char *src, const char *number,
    struct msg *out)
{
	struct rconn	*r = h_raw_open_from(p->hostport, 0, src);
	struct msg	 m;

	h_note_number(number);
	memset(&m, 0, sizeof m);
	m.type = MSG_REGISTER_BEGIN;
	m.u.reg_begin.number.p = (const uint8_t *)number;
	m.u.reg_begin.number.len = strlen(number);
	h_raw_send(r, &m);
	ck_assert_int_eq(h_raw_recv(r, out, H_TIMEOUT_MS), 1);
	if (out->type == MSG_ERROR)
		fprintf(stderr, "codes per prefix: %s from %s: %s, "
		    "retry_after_s %u\n", number, src,
		    proto_err_name(out->u.error.code),
		    out->u.error.retry_after_s);
	h_raw_close(r);
}

START_TEST(test_codes_prefix)
{
	struct hproc	*p;
	struct msg	 m;

	/* 3 an hour per /24 (one every 20 minutes), 10000 per address. */
	p = half_past("prefix", "codes_per_hour_per_ip = 10000\n"
	    "codes_per_hour_per_prefix = 3\n"
	    "code_requests_per_hour = 100\n");
	begin_from(p, "127.0.0.1", N_PF, &m);
	ck_assert_uint_eq(m.type, MSG_REGISTER_CHALLENGE);
	begin_from(p, "127.0.0.1", N_PF, &m);
	ck_assert_uint_eq(m.type, MSG_REGISTER_CHALLENGE);
	begin_from(p, "127.0.0.3", N_PF, &m);
	ck_assert_uint_eq(m.type, MSG_REGISTER_CHALLENGE);
	/* The /24 has spent its 3: a second address in it is refused, for
	 * about the 20 minutes a code takes to come back. */
	begin_from(p, "127.0.0.2", N_PF, &m);
	expect_err(&m, ERR_RATE_LIMITED, MSG_REGISTER_BEGIN);
	ck_assert_uint_ge(m.u.error.retry_after_s, 1150);
	ck_assert_uint_le(m.u.error.retry_after_s, 1200);
	begin_from(p, "127.0.0.1", N_PF, &m);
	expect_err(&m, ERR_RATE_LIMITED, MSG_REGISTER_BEGIN);
	/* Another /24 has its own. */
	begin_from(p, "127.0.1.2", N_PF, &m);
	ck_assert_uint_eq(m.type, MSG_REGISTER_CHALLENGE);
}
END_TEST

/* ---- wrong codes, counted atomically ---------------------------------- */

#define NTRY	50	/* 10 tokens of 5 tries: far more than 20 */

START_TEST(test_failures_atomic)
{
	struct hc	*c[NTRY];
	struct msg	 m;
	uint8_t		 id[ID_LEN], pk[32], sk[64], tok[NTRY / 5][TOKEN_LEN];
	char		 key[2 * ID_LEN + 40], hex[2 * ID_LEN + 1];
	redisContext	*rc;
	redisReply	*rr;
	int		 i, bad = 0, limited = 0;

	h_note_number(N_FAIL);
	ck_assert_int_eq(keys_number_id(H.keys, N_FAIL, id), 0);
	crypto_sign_keypair(pk, sk);
	for (i = 0; i < NTRY / 5; i++)
		token_seal(tok[i], H.keys, id, "314159", h_wall_ms() + 600000);
	for (i = 0; i < NTRY; i++)
		c[i] = h_open();
	/* All at once, each on its own connection, before any answer. */
	for (i = 0; i < NTRY; i++) {
		memset(&m, 0, sizeof m);
		m.type = MSG_REGISTER_FINISH;
		m.u.reg_finish.token.p = tok[i / 5];
		m.u.reg_finish.token.len = TOKEN_LEN;
		m.u.reg_finish.code.p = (const uint8_t *)"271828";
		m.u.reg_finish.code.len = 6;
		memcpy(m.u.reg_finish.identity_pk, pk, 32);
		h_send(c[i], &m);
	}
	for (i = 0; i < NTRY; i++) {
		h_recv(c[i], &m);
		ck_assert_msg(m.type == MSG_ERROR, "got %s",
		    proto_type_name(m.type));
		if (m.u.error.code == ERR_BAD_CODE)
			bad++;
		else if (m.u.error.code == ERR_RATE_LIMITED)
			limited++;
	}
	fprintf(stderr, "wrong codes at once: %d tries, %d counted as "
	    "BAD_CODE, %d RATE_LIMITED\n", NTRY, bad, limited);
	/* code_failures_per_day (20): never more, however they race. */
	ck_assert_int_eq(bad, 20);
	ck_assert_int_eq(limited, NTRY - 20);
	hex_encode(hex, id, ID_LEN);
	snprintf(key, sizeof key, "rl:codefail:{%s}:%lld", hex,
	    h_today() / 86400);
	rc = redisConnect("127.0.0.1", H.redis_port);
	ck_assert_msg(rc != NULL && rc->err == 0, "redis connect");
	rr = redisCommand(rc, "GET %s", key);
	ck_assert_msg(rr != NULL && rr->type == REDIS_REPLY_STRING, "GET");
	ck_assert_str_eq(rr->str, "20");
	freeReplyObject(rr);
	redisFree(rc);
	/* The right code too is refused for the rest of the day. */
	token_seal(tok[0], H.keys, id, "314159", h_wall_ms() + 600000);
	h_reg_finish(c[0], tok[0], TOKEN_LEN, "314159", pk, &m);
	expect_err(&m, ERR_RATE_LIMITED, MSG_REGISTER_FINISH);
}
END_TEST

/* ---- a failed HELLO closes its connection ----------------------------- */

START_TEST(test_hello_closes)
{
	struct account	 a;
	struct hproc	*p;
	struct hc	*c, *on[4];
	struct msg	 m;
	uint8_t		 cred[CRED_LEN], id[ID_LEN], pk2[32], sk2[64];
	int		 i;

	h_register(N_HELLO, &a);
	on[0] = h_online(&a, 0);
	/* Signed by another key: UNAUTHENTICATED, closed. */
	crypto_sign_keypair(pk2, sk2);
	c = h_open();
	h_hello_raw(c, a.cred, CRED_LEN, sk2, 0, &m);
	expect_err(&m, ERR_UNAUTHENTICATED, MSG_HELLO);
	h_expect_closed(c);
	/* A credential of no account: REVOKED, closed. */
	randombytes_buf(id, sizeof id);
	cred_make(cred, H.keys, id, a.pk, 1000, h_wall_ms() / 1000 + 86400);
	c = h_open();
	h_hello_raw(c, cred, CRED_LEN, a.sk, 0, &m);
	expect_err(&m, ERR_REVOKED, MSG_HELLO);
	h_expect_closed(c);
	/* One connection more than max_connections_per_account (4; one is
	 * online above): LIMIT, closed. */
	for (i = 1; i < 4; i++)
		on[i] = h_online(&a, 0);
	c = h_open();
	h_hello_raw(c, a.cred, CRED_LEN, a.sk, 0, &m);
	expect_err(&m, ERR_LIMIT, MSG_HELLO);
	h_expect_closed(c);
	for (i = 0; i < 4; i++)
		h_close(on[i]);
	/* Redis down (a trystd whose Redis is not there): UNAVAILABLE is no
	 * fault of the client's, and the connection stays for another try. */
	p = h_proc_new("noredis");
	snprintf(p->redis, sizeof p->redis, "127.0.0.1:%d",
	    h_proc_port(SOCK_STREAM));
	h_proc_conf(p, NULL, NULL, NULL, NULL, NULL);
	h_proc_start(p, NULL);
	h_proc_ready(p);
	c = h_open_at(p->hostport);
	for (i = 0; i < 2; i++) {
		h_hello_raw(c, a.cred, CRED_LEN, a.sk, 0, &m);
		expect_err(&m, ERR_UNAVAILABLE, MSG_HELLO);
		ck_assert_uint_ge(m.u.error.retry_after_s, 1);
		h_ping(c, 53 + (uint64_t)i);
	}
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
	p = h_proc_up("deliveries", NULL, NULL, conf);
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
	p = h_proc_up("logwarn", NULL, NULL, conf);
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

	p = h_proc_up("logdebug", NULL, NULL, "log_level = debug\n");
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

/* Registration budgets and the log. */
TCase *
integ_register_tcase(void)
{
	TCase	*tc = tcase_create("register");

	tcase_add_checked_fixture(tc, NULL, h_proc_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_token_expired);
	tcase_add_test(tc, test_token_ttl);
	tcase_add_test(tc, test_codes_per_hour);
	tcase_add_test(tc, test_codes_refill);
	tcase_add_test(tc, test_codes_prefix);
	tcase_add_test(tc, test_failures_atomic);
	tcase_add_test(tc, test_hello_closes);
	tcase_add_test(tc, test_max_deliveries);
	tcase_add_test(tc, test_log_warning);
	tcase_add_test(tc, test_log_debug);
	return (tc);
}
