/*
 * harness-proto.c -- integration test helpers that speak the protocol:
 * tracked connections, expected answers, registration with the code
 * from the dev delivery file, HELLO.
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <sodium.h>

#include "harness.h"

static char	 numbers[H_MAX_NUMBERS][PROTO_MAX_NUMBER + 1];
static size_t	 nnumbers;

/* Remember a valid number a test sent (for the log check). */
void
h_note_number(const char *number)
{
	size_t	 i;

	if (!e164_valid(number, strlen(number)))
		return;
	for (i = 0; i < nnumbers; i++) {
		if (strcmp(numbers[i], number) == 0)
			return;
	}
	if (nnumbers < H_MAX_NUMBERS)
		snprintf(numbers[nnumbers++], sizeof numbers[0], "%s", number);
}

/* The numbers noted so far. */
const char *
h_number(size_t i)
{
	return (i < nnumbers ? numbers[i] : NULL);
}

/* ---- connections and messages ---------------------------------------- */

static struct hc	*conns[H_MAX_CONNS];

/* Open a connection to the first trystd. */
struct hc *
h_open(void)
{
	return (h_open_at(H.hostport));
}

/* Open a connection to hostport, checked against H.sign_pk. */
struct hc *
h_open_at(const char *hostport)
{
	struct hc	*c;
	char		*why = NULL;
	int		 i;

	for (i = 0; i < H_MAX_CONNS && conns[i] != NULL; i++)
		;
	ck_assert_msg(i < H_MAX_CONNS, "too many connections in one test");
	c = xcalloc(1, sizeof *c);
	c->tc = tconn_open_v(hostport, H.max_version == 1 ? 1 : 2, H.sign_pk,
	    &c->ch, NULL, &why);
	ck_assert_msg(c->tc != NULL, "tconn_open: %s", why);
	ck_assert_int_eq(memcmp(c->ch.sign_pk, H.sign_pk, 32), 0);
	conns[i] = c;
	return (c);
}

/* Close and forget one connection. */
void
h_close(struct hc *c)
{
	int	 i;

	for (i = 0; i < H_MAX_CONNS; i++) {
		if (conns[i] == c)
			conns[i] = NULL;
	}
	if (c->tc != NULL)
		tconn_close(c->tc);
	free(c);
}

/* Close every connection of the test; bring Redis back. */
void
h_test_teardown(void)
{
	char	*why = NULL;
	int	 i;

	H.max_version = 0;
	for (i = 0; i < H_MAX_CONNS; i++) {
		if (conns[i] != NULL)
			h_close(conns[i]);
	}
	h_raw_close_all();
	if (H.redis_pid <= 0 && h_redis_start(&why) == -1) {
		fprintf(stderr, "teardown: %s\n", why);
		free(why);
	}
}

/* Send m. */
void
h_send(struct hc *c, const struct msg *m)
{
	char	*why = NULL;

	ck_assert_msg(tconn_send(c->tc, m, &why) == 0, "send %s: %s",
	    proto_type_name(m->type), why);
}

/* Send raw bytes. */
void
h_send_raw(struct hc *c, const void *p, size_t len)
{
	char	*why = NULL;

	ck_assert_msg(tconn_send_raw(c->tc, p, len, &why) == 0,
	    "send raw: %s", why);
}

/* Receive one message within H_TIMEOUT_MS. */
void
h_recv(struct hc *c, struct msg *m)
{
	char	*why = NULL;
	int	 r;

	r = tconn_recv(c->tc, m, H_TIMEOUT_MS, &why);
	ck_assert_msg(r == 1, "expected a message, got %s",
	    r == 0 ? "the connection closed" : why);
}

/* Receive an ERROR with code (and ref_type unless -1). */
void
h_expect_error(struct hc *c, int code, int ref_type, struct msg *out)
{
	struct msg	 m;

	h_recv(c, &m);
	ck_assert_msg(m.type == MSG_ERROR, "expected ERROR %s, got %s",
	    proto_err_name(code), proto_type_name(m.type));
	ck_assert_msg(m.u.error.code == code, "expected ERROR %s, got %s",
	    proto_err_name(code), proto_err_name(m.u.error.code));
	if (ref_type != -1)
		ck_assert_int_eq(m.u.error.ref_type, ref_type);
	if (out != NULL)
		*out = m;
}

/* The server closes the connection, with no message first. */
void
h_expect_closed(struct hc *c)
{
	struct msg	 m;
	char		*why = NULL;
	int		 r;

	r = tconn_recv(c->tc, &m, H_TIMEOUT_MS, &why);
	ck_assert_msg(r != 1, "expected a close, got %s",
	    proto_type_name(m.type));
	ck_assert_msg(r == 0 || strcmp(why, "timeout") != 0,
	    "connection not closed within %d ms", H_TIMEOUT_MS);
	free(why);
}

/* GOAWAY with reason, then the close. */
void
h_expect_goaway(struct hc *c, int reason)
{
	struct msg	 m;

	h_recv(c, &m);
	ck_assert_msg(m.type == MSG_GOAWAY, "expected GOAWAY, got %s",
	    proto_type_name(m.type));
	ck_assert_int_eq(m.u.goaway.reason, reason);
	h_expect_closed(c);
}

/* PING with nonce; PONG answers it. */
void
h_ping(struct hc *c, uint64_t nonce)
{
	struct msg	 m;

	memset(&m, 0, sizeof m);
	m.type = MSG_PING;
	m.u.ping.nonce = nonce;
	h_send(c, &m);
	h_recv(c, &m);
	ck_assert_msg(m.type == MSG_PONG, "expected PONG, got %s",
	    proto_type_name(m.type));
	ck_assert_uint_eq(m.u.ping.nonce, nonce);
}

/* ---- registration ---------------------------------------------------- */

/* Lines for number in the dev file; the newest code into code. */
static int
codes_scan(const char *number, char *code, size_t codelen)
{
	char	*buf, *line, *next, *why = NULL;
	size_t	 len, nlen = strlen(number);
	int	 n = 0;

	if ((buf = file_read_small(H.devfile, 1 << 22, &len, &why)) == NULL) {
		free(why);
		return (0);
	}
	for (line = buf; line != NULL && *line != '\0'; line = next) {
		if ((next = strchr(line, '\n')) != NULL)
			*next++ = '\0';
		if (strncmp(line, number, nlen) != 0 || line[nlen] != ' ')
			continue;
		n++;
		if (code != NULL)
			snprintf(code, codelen, "%s", line + nlen + 1);
	}
	free(buf);
	return (n);
}

/* Lines "NUMBER CODE" for number in the dev file so far. */
int
h_code_count(const char *number)
{
	return (codes_scan(number, NULL, 0));
}

/* Wait until more than after codes exist for number; the newest. */
void
h_code_wait(const char *number, int after, char *code, size_t codelen)
{
	int	 i;

	h_note_number(number);
	for (i = 0; i < 50; i++) {
		if (codes_scan(number, code, codelen) > after)
			return;
		h_msleep(100);
	}
	ck_abort_msg("no code for %s in %s", number, H.devfile);
}

/* REGISTER_BEGIN for number, not waiting for the answer. */
void
h_reg_begin_send(struct hc *c, const char *number)
{
	struct msg	 m;

	h_note_number(number);
	memset(&m, 0, sizeof m);
	m.type = MSG_REGISTER_BEGIN;
	m.u.reg_begin.number.p = (const uint8_t *)number;
	m.u.reg_begin.number.len = strlen(number);
	h_send(c, &m);
}

/* REGISTER_BEGIN for number; the answer in out. */
void
h_reg_begin_raw(struct hc *c, const char *number, struct msg *out)
{
	h_reg_begin_send(c, number);
	h_recv(c, out);
}

/* REGISTER_BEGIN; the token and the delivered code. */
void
h_reg_begin(struct hc *c, const char *number, uint8_t *token,
    size_t *toklen, char *code, size_t codelen)
{
	struct msg	 m;
	int		 before = h_code_count(number);

	h_reg_begin_raw(c, number, &m);
	ck_assert_msg(m.type == MSG_REGISTER_CHALLENGE, "REGISTER_BEGIN %s: "
	    "got %s %s", number, proto_type_name(m.type),
	    m.type == MSG_ERROR ? proto_err_name(m.u.error.code) : "");
	ck_assert_uint_eq(m.u.reg_challenge.token.len, TOKEN_LEN);
	memcpy(token, m.u.reg_challenge.token.p, TOKEN_LEN);
	*toklen = TOKEN_LEN;
	h_code_wait(number, before, code, codelen);
	ck_assert_uint_eq(strlen(code), m.u.reg_challenge.code_digits);
}

/* REGISTER_FINISH; the answer in out. */
void
h_reg_finish(struct hc *c, const uint8_t *token, size_t toklen,
    const char *code, const uint8_t pk[32], struct msg *out)
{
	struct msg	 m;

	memset(&m, 0, sizeof m);
	m.type = MSG_REGISTER_FINISH;
	m.u.reg_finish.token.p = token;
	m.u.reg_finish.token.len = toklen;
	m.u.reg_finish.code.p = (const uint8_t *)code;
	m.u.reg_finish.code.len = strlen(code);
	memcpy(m.u.reg_finish.identity_pk, pk, 32);
	h_send(c, &m);
	h_recv(c, out);
}

/* Register number with a fresh identity key, on the first trystd. */
void
h_register(const char *number, struct account *a)
{
	h_register_at(H.hostport, number, a);
}

/* Register number with a fresh identity key on the trystd at hostport. */
void
h_register_at(const char *hostport, const char *number, struct account *a)
{
	struct hc	*c = h_open_at(hostport);
	struct msg	 m;
	uint8_t		 token[TOKEN_LEN], id[ID_LEN];
	size_t		 toklen;
	char		 code[16];

	memset(a, 0, sizeof *a);
	snprintf(a->number, sizeof a->number, "%s", number);
	crypto_sign_keypair(a->pk, a->sk);
	h_reg_begin(c, number, token, &toklen, code, sizeof code);
	h_reg_finish(c, token, toklen, code, a->pk, &m);
	ck_assert_msg(m.type == MSG_REGISTERED, "REGISTER_FINISH %s: got %s "
	    "%s", number, proto_type_name(m.type), m.type == MSG_ERROR ?
	    proto_err_name(m.u.error.code) : "");
	ck_assert_uint_eq(m.u.registered.credential.len, CRED_LEN);
	memcpy(a->cred, m.u.registered.credential.p, CRED_LEN);
	ck_assert_int_eq(cred_verify(a->cred, CRED_LEN, H.sign_pk, &a->c), 0);
	ck_assert_int_eq(keys_number_id(H.keys, number, id), 0);
	ck_assert_int_eq(memcmp(a->c.id, id, ID_LEN), 0);
	ck_assert_int_eq(memcmp(a->c.identity_pk, a->pk, 32), 0);
	h_close(c);
}

/* Parse line "NUMBER IDHEX SEED CRED" of trystctl mint into a, checked
 * against number. */
static void
mint_line(char *line, const char *number, struct account *a)
{
	uint8_t	 seed[32], id[ID_LEN], want[ID_LEN];
	char	*f[4], *p = line;
	int	 i;

	for (i = 0; i < 4; i++)
		ck_assert_msg((f[i] = strsep(&p, " ")) != NULL, "mint: short "
		    "line for %s", number);
	ck_assert_msg(p == NULL, "mint: long line for %s", number);
	ck_assert_str_eq(f[0], number);
	memset(a, 0, sizeof *a);
	snprintf(a->number, sizeof a->number, "%s", number);
	ck_assert_int_eq(hex_decode(id, sizeof id, f[1]), 0);
	ck_assert_int_eq(b64_decode(seed, sizeof seed, f[2]), 0);
	crypto_sign_seed_keypair(a->pk, a->sk, seed);
	sodium_memzero(seed, sizeof seed);
	ck_assert_int_eq(b64_decode(a->cred, sizeof a->cred, f[3]), 0);
	ck_assert_int_eq(cred_verify(a->cred, CRED_LEN, H.sign_pk, &a->c), 0);
	ck_assert_int_eq(keys_number_id(H.keys, number, want), 0);
	ck_assert_mem_eq(id, want, ID_LEN);
	ck_assert_mem_eq(a->c.id, want, ID_LEN);
	ck_assert_mem_eq(a->c.identity_pk, a->pk, 32);
}

/* trystctl mint n first on H.conf.mint (H.conf + test_accounts = 1). */
void
h_mint(const char *first, long n, struct account *accs)
{
	char		 conf[PATH_MAX + 8], number[PROTO_MAX_NUMBER + 1];
	char		*text, *out = NULL, *line, *save = NULL;
	size_t		 len;
	unsigned long long base;
	long		 i;
	int		 st;

	ck_assert_int_gt(n, 0);
	ck_assert_msg(first[0] == '+', "mint: %s is not + and digits", first);
	base = strtoull(first + 1, NULL, 10);
	snprintf(conf, sizeof conf, "%s.mint", H.conf);
	ck_assert_ptr_nonnull(text = file_read_small(H.conf, 1 << 16, &len,
	    NULL));
	text = xrealloc(text, len + 32);
	len += (size_t)snprintf(text + len, 32, "\ntest_accounts = 1\n");
	ck_assert_int_eq(file_write_atomic(conf, text, len, 0600, 0, NULL), 0);
	free(text);
	st = h_run(&out, "\"$TRYSTCTL\" -c %s mint %ld %s", conf, n, first);
	ck_assert_msg(st == 0, "mint %ld %s: %d: %s", n, first, st, out);
	for (i = 0, line = strtok_r(out, "\n", &save); i < n; i++,
	    line = strtok_r(NULL, "\n", &save)) {
		ck_assert_msg(line != NULL, "mint: %ld lines of %ld", i, n);
		snprintf(number, sizeof number, "+%llu", base + (unsigned long
		    long)i);
		h_note_number(number);
		mint_line(line, number, &accs[i]);
	}
	ck_assert_msg(line == NULL, "mint: more than %ld lines", n);
	free(out);
}

/* HELLO with flags, signed for c's challenge; no wait for the answer. */
void
h_hello_send(struct hc *c, const uint8_t *cred, size_t credlen,
    const uint8_t sk[64], uint8_t flags)
{
	struct msg	 m;
	uint8_t		 full[CRED_LEN];

	memset(&m, 0, sizeof m);
	memset(full, 0, sizeof full);
	memcpy(full, cred, credlen < CRED_LEN ? credlen : CRED_LEN);
	m.type = MSG_HELLO;
	m.u.hello.credential.p = cred;
	m.u.hello.credential.len = credlen;
	hello_sign(m.u.hello.signature, sk, c->ch.nonce, full);
	m.u.hello.flags = flags;
	h_send(c, &m);
}

/* HELLO with flags, signed for c's challenge; its answer into out. */
void
h_hello_raw(struct hc *c, const uint8_t *cred, size_t credlen,
    const uint8_t sk[64], uint8_t flags, struct msg *out)
{
	h_hello_send(c, cred, credlen, sk, flags);
	h_recv(c, out);
}

/* A new connection to the first trystd, online as a. */
struct hc *
h_online(const struct account *a, uint8_t flags)
{
	return (h_online_at(H.hostport, a, flags));
}

/* A new connection to hostport, online as a. */
struct hc *
h_online_at(const char *hostport, const struct account *a, uint8_t flags)
{
	struct hc	*c = h_open_at(hostport);
	struct msg	 m;

	h_hello_raw(c, a->cred, CRED_LEN, a->sk, flags, &m);
	ck_assert_msg(m.type == MSG_WELCOME, "HELLO %s: got %s %s",
	    a->number, proto_type_name(m.type), m.type == MSG_ERROR ?
	    proto_err_name(m.u.error.code) : "");
	return (c);
}
