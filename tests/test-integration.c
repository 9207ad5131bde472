/*
 * test-integration.c -- trystd, trystctl and tryst against a real
 * redis-server, over loopback. One environment for the whole run; the
 * tests run in order in this process (CK_NOFORK), and each uses its own
 * phone numbers. The tests of discovery, the CLI, Redis and the log are
 * in integ-store.c.
 */
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <sodium.h>

#include "harness.h"

#define N_LOOKUP	"+15550100001"
#define N_REREG		"+15550100002"
#define N_CODES		"+15550100003"
#define N_AUTH		"+15550100004"
#define N_PRESENCE	"+15550100005"
#define N_DELETE	"+15550100006"
#define N_CTLDEL	"+15550100007"
#define N_RATE		"+15550100008"
#define N_TURN		"+15550100028"
#define N_UNREG		"+15550100014"
#define N_RENEW		"+15550100015"

/* ---- helpers ---------------------------------------------------------- */

/* The object of `trystctl lookup --json number` into obj. */
static void
lookup_json(const char *number, char *obj, size_t objlen)
{
	char	*out = NULL, key[64];
	char	*p, *start, *end;
	int	 st;

	st = h_run(&out, "\"$TRYSTCTL\" -c %s lookup --json '%s'", H.conf,
	    number);
	ck_assert_msg(st == 0, "trystctl lookup: status %d: %s", st, out);
	h_note_number(number);
	snprintf(key, sizeof key, "\"%s\"", number);
	p = strstr(out, key);
	ck_assert_msg(p != NULL, "lookup output lacks %s: %s", key, out);
	start = p;
	while (start > out && *start != '{')
		start--;
	end = strchr(p, '}');
	ck_assert_msg(*start == '{' && end != NULL, "not JSON: %s", out);
	ck_assert_msg(out[strspn(out, " \t\n")] == '[', "not an array: %s",
	    out);
	snprintf(obj, objlen, "%.*s", (int)(end - start + 1), start);
	free(out);
}

/* The raw value of "key" in a flat JSON object; 0, or -1 if absent. */
static int
json_field(const char *obj, const char *key, char *out, size_t outlen)
{
	char		 pat[64];
	const char	*p;
	size_t		 n;

	snprintf(pat, sizeof pat, "\"%s\"", key);
	if ((p = strstr(obj, pat)) == NULL)
		return (-1);
	p += strlen(pat);
	p += strspn(p, " \t\n");
	if (*p++ != ':')
		return (-1);
	p += strspn(p, " \t\n");
	if (*p == '"')
		n = strcspn(++p, "\"");
	else
		n = strcspn(p, ",} \t\n");
	snprintf(out, outlen, "%.*s", (int)n, p);
	return (0);
}

/* The integer value of "key" (asserting it is there). */
static long long
json_int(const char *obj, const char *key)
{
	char	 v[64], *end;
	long long n;

	ck_assert_msg(json_field(obj, key, v, sizeof v) == 0, "no %s in %s",
	    key, obj);
	n = strtoll(v, &end, 10);
	ck_assert_msg(*v != '\0' && *end == '\0', "%s is not an integer: %s",
	    key, v);
	return (n);
}

/* Assert that "key" is the ISO 8601 UTC form of t. */
static void
json_iso(const char *obj, const char *key, long long t)
{
	char		 v[64], want[64];
	time_t		 tt = (time_t)t;
	struct tm	 tm;

	ck_assert_msg(json_field(obj, key, v, sizeof v) == 0, "no %s in %s",
	    key, obj);
	gmtime_r(&tt, &tm);
	strftime(want, sizeof want, "%Y-%m-%dT%H:%M:%SZ", &tm);
	ck_assert_str_eq(v, want);
}

/* An ERROR with code answering type must come back from m. */
static void
send_expect_error(struct hc *c, const struct msg *m, int code,
    struct msg *out)
{
	h_send(c, m);
	h_expect_error(c, code, m->type, out);
}

/* ---- tests ------------------------------------------------------------ */

START_TEST(test_ping)
{
	struct hc	*c = h_open();

	ck_assert_uint_gt(c->ch.server_time_ms / 1000 + 10,
	    (uint64_t)time(NULL));
	ck_assert_uint_lt(c->ch.server_time_ms / 1000,
	    (uint64_t)time(NULL) + 10);
	h_ping(c, 0x0123456789abcdefULL);
	h_ping(c, 0);
	h_ping(c, UINT64_MAX);
}
END_TEST

START_TEST(test_lookup_json)
{
	struct account	 a;
	char		 obj[1024], v[64];
	long long	 now = time(NULL), created, seen;

	h_register(N_LOOKUP, &a);
	lookup_json(N_LOOKUP, obj, sizeof obj);
	ck_assert_int_eq(json_field(obj, "registered", v, sizeof v), 0);
	ck_assert_str_eq(v, "true");
	created = json_int(obj, "created_unix");
	seen = json_int(obj, "last_seen_unix");
	ck_assert_int_le(llabs(created - now), 10);
	ck_assert_int_eq(seen, h_today());
	ck_assert_uint_eq(a.c.created, (uint64_t)created);
	json_iso(obj, "created", created);
	json_iso(obj, "last_seen", seen);

	lookup_json(N_UNREG, obj, sizeof obj);
	ck_assert_int_eq(json_field(obj, "registered", v, sizeof v), 0);
	ck_assert_str_eq(v, "false");
	ck_assert_int_eq(json_field(obj, "created_unix", v, sizeof v), -1);
}
END_TEST

/* HELLO must answer ERROR code; a refused HELLO (UNAUTHENTICATED,
 * REVOKED, LIMIT) then closes the connection. */
static void
hello_expect(struct hc *c, const uint8_t *cred, size_t len,
    const uint8_t sk[64], int want, const char *what)
{
	struct msg	 m;

	h_hello_raw(c, cred, len, sk, 0, &m);
	ck_assert_msg(m.type == MSG_ERROR && m.u.error.code == want,
	    "%s: want %s, got %s %s", what, proto_err_name(want),
	    proto_type_name(m.type), m.type == MSG_ERROR ?
	    proto_err_name(m.u.error.code) : "");
	ck_assert_uint_eq(m.u.error.ref_type, MSG_HELLO);
	if (want == ERR_UNAUTHENTICATED || want == ERR_REVOKED ||
	    want == ERR_LIMIT)
		h_expect_closed(c);
}

START_TEST(test_reregister)
{
	struct account	 a, b;
	struct hc	*online, *c;
	struct msg	 m;

	h_register(N_REREG, &a);
	online = h_online(&a, HELLO_PRESENCE);
	h_ping(online, 1);
	h_register(N_REREG, &b);
	ck_assert_uint_gt(b.c.created, a.c.created);
	h_expect_goaway(online, GOAWAY_REVOKED);

	hello_expect(h_open(), a.cred, CRED_LEN, a.sk, ERR_REVOKED,
	    "old credential");
	c = h_open();
	h_hello_raw(c, b.cred, CRED_LEN, b.sk, HELLO_PRESENCE, &m);
	ck_assert_msg(m.type == MSG_WELCOME, "new credential: got %s",
	    proto_type_name(m.type));
}
END_TEST

/* A code of the same length that differs in every digit. */
static void
wrong_code(char *dst, const char *code)
{
	size_t	 i;

	for (i = 0; code[i] != '\0'; i++)
		dst[i] = '0' + (code[i] - '0' + 1) % 10;
	dst[i] = '\0';
}

/* REGISTER_FINISH must answer ERROR code. */
static void
finish_expect(struct hc *c, const uint8_t *tok, const char *code,
    const uint8_t pk[32], int want, const char *what)
{
	struct msg	 m;

	h_reg_finish(c, tok, TOKEN_LEN, code, pk, &m);
	ck_assert_msg(m.type == MSG_ERROR && m.u.error.code == want,
	    "%s: want %s, got %s %s", what, proto_err_name(want),
	    proto_type_name(m.type), m.type == MSG_ERROR ?
	    proto_err_name(m.u.error.code) : "");
	ck_assert_uint_eq(m.u.error.ref_type, MSG_REGISTER_FINISH);
}

/* REGISTER_FINISH must answer REGISTERED. */
static void
finish_ok(struct hc *c, const uint8_t *tok, const char *code,
    const uint8_t pk[32])
{
	struct msg	 m;

	h_reg_finish(c, tok, TOKEN_LEN, code, pk, &m);
	ck_assert_msg(m.type == MSG_REGISTERED, "right code: got %s %s",
	    proto_type_name(m.type), m.type == MSG_ERROR ?
	    proto_err_name(m.u.error.code) : "");
}

START_TEST(test_code_attempts)
{
	struct hc	*c = h_open();
	uint8_t		 tok[TOKEN_LEN], pk[32], sk[64];
	size_t		 toklen;
	char		 code[16], bad[16], what[32];
	int		 i;

	crypto_sign_keypair(pk, sk);
	h_reg_begin(c, N_CODES, tok, &toklen, code, sizeof code);
	wrong_code(bad, code);
	for (i = 1; i <= 5; i++) {
		snprintf(what, sizeof what, "wrong code, attempt %d", i);
		finish_expect(c, tok, bad, pk, ERR_BAD_CODE, what);
	}
	finish_expect(c, tok, code, pk, ERR_EXPIRED, "right code, attempt 6");
	h_ping(c, 2);
}
END_TEST

START_TEST(test_code_used)
{
	struct hc	*c = h_open();
	uint8_t		 tok[TOKEN_LEN], pk[32], sk[64];
	size_t		 toklen;
	char		 code[16];

	crypto_sign_keypair(pk, sk);
	h_reg_begin(c, N_CODES, tok, &toklen, code, sizeof code);
	finish_ok(c, tok, code, pk);
	finish_expect(c, tok, code, pk, ERR_EXPIRED, "used token");
	tok[TOKEN_LEN - 1] ^= 1;
	finish_expect(c, tok, code, pk, ERR_EXPIRED, "forged token");
}
END_TEST

START_TEST(test_code_length)
{
	struct hc	*c = h_open();
	uint8_t		 tok[TOKEN_LEN], pk[32], sk[64];
	size_t		 toklen;
	char		 code[16], shorter[8], longer[24];

	crypto_sign_keypair(pk, sk);
	h_reg_begin(c, N_CODES, tok, &toklen, code, sizeof code);
	ck_assert_uint_eq(strlen(code), 6);
	snprintf(shorter, sizeof shorter, "%.5s", code);
	finish_expect(c, tok, shorter, pk, ERR_BAD_CODE, "5 digits");
	snprintf(longer, sizeof longer, "%s0", code);
	finish_expect(c, tok, longer, pk, ERR_BAD_CODE, "one digit more");
	finish_ok(c, tok, code, pk);
}
END_TEST

START_TEST(test_hello_errors)
{
	struct account	 a;
	struct hc	*c;
	struct msg	 m;
	uint8_t		 cred[CRED_LEN], ids[32] = { 0 }, pk2[32], sk2[64];
	const uint8_t	 raw[] = { 0, 0, 0, 1, 0x3e };

	h_register(N_AUTH, &a);
	c = h_open();
	/* Unknown type is checked before the state; the connection stays. */
	h_send_raw(c, raw, sizeof raw);
	h_expect_error(c, ERR_UNSUPPORTED, 0x3e, NULL);
	memset(&m, 0, sizeof m);
	m.type = MSG_LOOKUP;
	m.u.lookup.count = 1;
	m.u.lookup.ids = ids;
	send_expect_error(c, &m, ERR_UNAUTHENTICATED, NULL);

	h_ping(c, 4);

	/* Each refused HELLO closes its connection. */
	crypto_sign_keypair(pk2, sk2);
	hello_expect(c, a.cred, CRED_LEN, sk2, ERR_UNAUTHENTICATED,
	    "signed by another key");
	memcpy(cred, a.cred, CRED_LEN);
	cred[40] ^= 1;
	hello_expect(h_open(), cred, CRED_LEN, a.sk, ERR_UNAUTHENTICATED,
	    "tampered credential");
	hello_expect(h_open(), a.cred, CRED_LEN - 1, a.sk,
	    ERR_UNAUTHENTICATED, "144-byte credential");
}
END_TEST

/* HELLO with cred on a new connection: the WELCOME, its renewed
 * credential (if any) parsed into *renewed. 1 if it had one. */
static int
hello_welcome(const struct account *a, const uint8_t *cred,
    struct cred *renewed)
{
	struct hc	*c = h_open();
	struct msg	 m;

	h_hello_raw(c, cred, CRED_LEN, a->sk, 0, &m);
	ck_assert_msg(m.type == MSG_WELCOME, "HELLO: %s %s",
	    proto_type_name(m.type), m.type == MSG_ERROR ?
	    proto_err_name(m.u.error.code) : "");
	if (m.u.welcome.credential.len == 0)
		return (0);
	ck_assert_uint_eq(m.u.welcome.credential.len, CRED_LEN);
	ck_assert_int_eq(cred_verify(m.u.welcome.credential.p, CRED_LEN,
	    H.sign_pk, renewed), 0);
	return (1);
}

START_TEST(test_renewal)
{
	struct account	 a;
	struct cred	 r;
	struct hc	*c;
	struct msg	 m;
	uint8_t		 cred[CRED_LEN];
	uint64_t	 now = (uint64_t)time(NULL), life = 30 * 86400ULL;

	h_register(N_RENEW, &a);
	/* A fresh credential is not renewed. */
	ck_assert_int_eq(hello_welcome(&a, a.cred, &r), 0);
	/* Past half its lifetime, and expired: renewed for credential_days,
	 * for the same ID and key, with the account's created kept. */
	cred_make(cred, H.keys, a.c.id, a.pk, a.c.created, now + life / 3);
	ck_assert_int_eq(hello_welcome(&a, cred, &r), 1);
	ck_assert_mem_eq(r.id, a.c.id, ID_LEN);
	ck_assert_mem_eq(r.identity_pk, a.pk, 32);
	ck_assert_uint_eq(r.created, a.c.created);
	ck_assert_uint_ge(r.expires, now + life - 5);
	ck_assert_uint_le(r.expires, (uint64_t)time(NULL) + life + 5);
	cred_make(cred, H.keys, a.c.id, a.pk, a.c.created, now - 86400);
	ck_assert_int_eq(hello_welcome(&a, cred, &r), 1);
	ck_assert_uint_eq(r.created, a.c.created);
	ck_assert_uint_ge(r.expires, now + life - 5);
	/* Expired with another created: the account is not its own. */
	cred_make(cred, H.keys, a.c.id, a.pk, a.c.created - 1, now - 86400);
	c = h_open();
	h_hello_raw(c, cred, CRED_LEN, a.sk, 0, &m);
	ck_assert_msg(m.type == MSG_ERROR && m.u.error.code == ERR_REVOKED,
	    "expired credential of an older account: %s",
	    proto_type_name(m.type));
}
END_TEST

/* hello_welcome on a connection closed after: the account's connections
 * stay under max_connections_per_account. */
static int
welcome_close(const struct account *a, const uint8_t *cred,
    struct cred *renewed)
{
	struct hc	*c = h_open();
	struct msg	 m;
	int		 rv = 0;

	h_hello_raw(c, cred, CRED_LEN, a->sk, 0, &m);
	ck_assert_msg(m.type == MSG_WELCOME, "HELLO: %s %s",
	    proto_type_name(m.type), m.type == MSG_ERROR ?
	    proto_err_name(m.u.error.code) : "");
	if (m.u.welcome.credential.len != 0) {
		ck_assert_int_eq(cred_verify(m.u.welcome.credential.p,
		    CRED_LEN, H.sign_pk, renewed), 0);
		rv = 1;
	}
	h_close(c);
	return (rv);
}

/* HELLO with a credential the server has already verified (its cache of
 * verified credentials, server/credcache.c): every check of §5.2 still
 * refuses what it refuses on a first HELLO. */
START_TEST(test_hello_cached)
{
	static const size_t	 flip[] = { 0, 1, 40, 70, 80, 81, 144 };
	struct account	 a, b;
	struct cred	 r;
	uint8_t		 cred[CRED_LEN], pk2[32], sk2[64];
	uint64_t	 now = (uint64_t)time(NULL), life = 30 * 86400ULL;
	size_t		 i;

	h_register(N_AUTH, &a);
	ck_assert_int_eq(welcome_close(&a, a.cred, &r), 0);
	ck_assert_int_eq(welcome_close(&a, a.cred, &r), 0);
	/* The HELLO signature is checked every time. */
	crypto_sign_keypair(pk2, sk2);
	hello_expect(h_open(), a.cred, CRED_LEN, sk2, ERR_UNAUTHENTICATED,
	    "cached credential, HELLO signed by another key");
	/* A changed byte anywhere is another credential, and a bad one. */
	for (i = 0; i < nitems(flip); i++) {
		memcpy(cred, a.cred, CRED_LEN);
		cred[flip[i]] ^= 1;
		hello_expect(h_open(), cred, CRED_LEN, a.sk,
		    ERR_UNAUTHENTICATED, "cached credential, a byte changed");
	}
	ck_assert_int_eq(welcome_close(&a, a.cred, &r), 0);
	/* Renewal is judged on each HELLO from the credential's own
	 * expires, cached or not. */
	cred_make(cred, H.keys, a.c.id, a.pk, a.c.created, now - 86400);
	for (i = 0; i < 2; i++) {
		ck_assert_int_eq(welcome_close(&a, cred, &r), 1);
		ck_assert_uint_ge(r.expires, now + life - 5);
	}
	/* The account is read on every HELLO: re-registered, the cached
	 * credential is REVOKED. */
	h_register(N_AUTH, &b);
	hello_expect(h_open(), a.cred, CRED_LEN, a.sk, ERR_REVOKED,
	    "cached credential of a re-registered account");
	ck_assert_int_eq(welcome_close(&b, b.cred, &r), 0);
}
END_TEST

START_TEST(test_online_errors)
{
	struct account	 a;
	struct hc	*c;
	struct msg	 m;
	const uint8_t	 raw[] = { 0, 0, 0, 1, 0x3e };

	h_register(N_AUTH, &a);
	c = h_online(&a, 0);
	hello_expect(c, a.cred, CRED_LEN, a.sk, ERR_UNSUPPORTED,
	    "second HELLO");
	memset(&m, 0, sizeof m);
	m.type = MSG_REGISTER_BEGIN;
	m.u.reg_begin.number.p = (const uint8_t *)N_AUTH;
	m.u.reg_begin.number.len = strlen(N_AUTH);
	send_expect_error(c, &m, ERR_UNSUPPORTED, NULL);
	h_send_raw(c, raw, sizeof raw);
	h_expect_error(c, ERR_UNSUPPORTED, 0x3e, NULL);
	h_ping(c, 5);
}
END_TEST

/* Check WELCOME's fields for a loopback client and default limits. */
static void
check_welcome(const struct msg *m)
{
	ck_assert_uint_eq(m->type, MSG_WELCOME);
	ck_assert_uint_eq(m->u.welcome.family, 4);
	ck_assert_int_eq(memcmp(m->u.welcome.addr, "\x7f\0\0\x01", 4), 0);
	ck_assert_uint_ne(m->u.welcome.port, 0);
	ck_assert_uint_eq(m->u.welcome.idle_timeout_s, 300);
	ck_assert_uint_eq(m->u.welcome.max_batch, 1024);
	ck_assert_uint_eq(m->u.welcome.max_offer_bytes, 4096);
	ck_assert_uint_eq(m->u.welcome.credential.len, 0);
}

START_TEST(test_presence)
{
	struct account	 a;
	struct hc	*p1, *out, *p2, *c4, *c5, *c6;
	struct msg	 m;

	h_register(N_PRESENCE, &a);
	p1 = h_open();
	h_hello_raw(p1, a.cred, CRED_LEN, a.sk, HELLO_PRESENCE, &m);
	check_welcome(&m);
	out = h_online(&a, 0);
	h_ping(p1, 5);		/* the outgoing-only one replaced nothing */
	p2 = h_online(&a, HELLO_PRESENCE);
	h_expect_goaway(p1, GOAWAY_REPLACED);
	h_ping(out, 6);
	h_ping(p2, 7);

	/* Online now: out, p2. Two more fill max_connections_per_account. */
	c4 = h_online(&a, 0);
	c5 = h_online(&a, 0);
	hello_expect(h_open(), a.cred, CRED_LEN, a.sk, ERR_LIMIT,
	    "fifth online connection");
	h_ping(c4, 9);
	h_ping(c5, 10);
	h_ping(out, 11);

	/* A freed slot can be taken again. */
	h_close(c5);
	usleep(300 * 1000);
	c6 = h_open();
	h_hello_raw(c6, a.cred, CRED_LEN, a.sk, 0, &m);
	ck_assert_msg(m.type == MSG_WELCOME, "after a close: %s %s",
	    proto_type_name(m.type), proto_err_name(m.u.error.code));
}
END_TEST

START_TEST(test_delete_account)
{
	struct account	 a;
	struct hc	*pres, *c;
	struct msg	 m;
	char		 obj[1024], v[64];

	h_register(N_DELETE, &a);
	pres = h_online(&a, HELLO_PRESENCE);
	c = h_online(&a, 0);
	memset(&m, 0, sizeof m);
	m.type = MSG_DELETE_ACCOUNT;
	h_send(c, &m);
	h_recv(c, &m);
	ck_assert_msg(m.type == MSG_DELETED, "got %s %s",
	    proto_type_name(m.type), proto_err_name(m.u.error.code));
	h_expect_closed(c);
	h_expect_goaway(pres, GOAWAY_REVOKED);
	lookup_json(N_DELETE, obj, sizeof obj);
	ck_assert_int_eq(json_field(obj, "registered", v, sizeof v), 0);
	ck_assert_str_eq(v, "false");

	c = h_open();
	h_hello_raw(c, a.cred, CRED_LEN, a.sk, 0, &m);
	ck_assert_msg(m.type == MSG_ERROR && m.u.error.code == ERR_REVOKED,
	    "deleted account: %s", proto_type_name(m.type));
}
END_TEST

START_TEST(test_trystctl_delete)
{
	struct account	 a;
	struct hc	*pres;
	char		 obj[1024], v[64], *out = NULL;
	int		 st;

	h_register(N_CTLDEL, &a);
	pres = h_online(&a, HELLO_PRESENCE);
	h_ping(pres, 12);
	st = h_run(&out, "\"$TRYSTCTL\" -c %s delete '%s' 2>&1", H.conf,
	    N_CTLDEL);
	ck_assert_msg(st == 0, "trystctl delete: %d: %s", st, out);
	free(out);
	h_expect_goaway(pres, GOAWAY_REVOKED);
	lookup_json(N_CTLDEL, obj, sizeof obj);
	ck_assert_int_eq(json_field(obj, "registered", v, sizeof v), 0);
	ck_assert_str_eq(v, "false");
}
END_TEST

/* trystctl mint: refused on H's configuration (not a test node), nothing
 * written; with test_accounts = 1 it makes accounts whose credentials go
 * online as a registration's do. */
START_TEST(test_trystctl_mint)
{
	static const char *nums[] = { "+155590000100", "+155590000101",
	    "+155590000102" };
	struct account	 acc[3];
	struct hc	*hc[3];
	char		 obj[1024], v[64], *out = NULL;
	int		 st, i, n;

	for (i = 0; i < 3; i++)
		h_note_number(nums[i]);
	st = h_run(&out, "\"$TRYSTCTL\" -c %s mint 3 %s 2>&1", H.conf,
	    nums[0]);
	ck_assert_msg(st == 1, "mint on a production config: %d: %s", st, out);
	ck_assert_ptr_nonnull(strstr(out, "mint: refused: this is not a test "
	    "node's configuration (test_accounts = 1 marks one)"));
	free(out);
	lookup_json(nums[0], obj, sizeof obj);
	ck_assert_int_eq(json_field(obj, "registered", v, sizeof v), 0);
	ck_assert_str_eq(v, "false");

	h_mint(nums[0], 3, acc);
	for (n = 0; n < 3; n++) {
		ck_assert_str_eq(acc[n].number, nums[n]);
		hc[n] = h_online(&acc[n], HELLO_PRESENCE);
		h_ping(hc[n], 20 + (uint64_t)n);
		lookup_json(nums[n], obj, sizeof obj);
		ck_assert_int_eq(json_field(obj, "registered", v, sizeof v),
		    0);
		ck_assert_str_eq(v, "true");
		sodium_memzero(acc[n].sk, sizeof acc[n].sk);
	}
}
END_TEST

START_TEST(test_malformed)
{
	struct hc	*keep = h_open(), *c;
	struct msg	 m;
	const uint8_t	 zero[] = { 0, 0, 0, 0 };
	const uint8_t	 big[] = { 0, 0, 0x07, 0xd0, MSG_PING };
	const uint8_t	 ping[] = { 0, 0, 0, 10, MSG_PING, 1, 2, 3, 4, 5, 6,
	    7, 8, 9 };

	h_ping(keep, 13);
	c = h_open();
	h_send_raw(c, zero, sizeof zero);
	h_expect_error(c, ERR_MALFORMED, 0, &m);
	h_expect_closed(c);

	c = h_open();
	h_send_raw(c, big, sizeof big);
	h_expect_error(c, ERR_MALFORMED, -1, &m);
	h_expect_closed(c);

	c = h_open();
	h_send_raw(c, ping, sizeof ping);
	h_expect_error(c, ERR_MALFORMED, MSG_PING, &m);
	h_expect_closed(c);

	h_ping(keep, 14);
}
END_TEST

/* Seconds into its UTC hour of the server c is connected to. */
static long long
server_in_hour(const struct hc *c)
{
	return ((long long)(c->ch.server_time_ms / 1000 % 3600));
}

/* REGISTER_BEGIN for number on c is refused for code_requests_per_hour,
 * with retry_after_s close to want; no code goes out. */
static void
rate_refused(struct hc *c, const char *number, long long want)
{
	struct msg	 m;
	int		 n = h_code_count(number);

	h_reg_begin_raw(c, number, &m);
	ck_assert_msg(m.type == MSG_ERROR &&
	    m.u.error.code == ERR_RATE_LIMITED, "%s: %s %s", number,
	    proto_type_name(m.type), proto_err_name(m.u.error.code));
	ck_assert_msg(llabs((long long)m.u.error.retry_after_s - want) <= 3,
	    "retry_after_s %u, want %lld", m.u.error.retry_after_s, want);
	h_msleep(300);
	ck_assert_int_eq(h_code_count(number), n);
}

/* code_requests_per_hour counts the server's clock hour: on a trystd at
 * half past, the sixth code is refused until the hour ends; on one a few
 * seconds before the hour, a code is refused, then served once the hour
 * has turned. The clocks are shifted (TRYST_CLOCK_SHIFT_S), not waited
 * for. */
static void
codes_in_hour(void)
{
	struct hproc	*p;
	struct hc	*c;
	uint8_t		 tok[TOKEN_LEN];
	size_t		 toklen;
	char		 code[16];
	long long	 at, left;
	int		 i;

	p = h_proc_up_shifted("rate-mid", h_clock_shift(3600, 1800),
	    "code_requests_per_hour = 5\n");
	c = h_open_at(p->hostport);
	at = server_in_hour(c);
	ck_assert_msg(at >= 1800 && at < 1860, "server at %lld s", at);
	for (i = 0; i < 5; i++)
		h_reg_begin(c, N_RATE, tok, &toklen, code, sizeof code);
	rate_refused(c, N_RATE, 3600 - server_in_hour(c));

	p = h_proc_up_shifted("rate-turn", h_clock_shift(3600, 3590),
	    "code_requests_per_hour = 1\n");
	c = h_open_at(p->hostport);
	at = server_in_hour(c);
	ck_assert_msg(at >= 3590 && at < 3598, "server at %lld s", at);
	h_reg_begin(c, N_TURN, tok, &toklen, code, sizeof code);
	left = 3600 - server_in_hour(c);
	rate_refused(c, N_TURN, left);
	h_msleep((int)(left + 1) * 1000);
	c = h_open_at(p->hostport);
	ck_assert_int_lt(server_in_hour(c), 60);
	h_reg_begin(c, N_TURN, tok, &toklen, code, sizeof code);
}

START_TEST(test_register_limits)
{
	struct hc	*c = h_open();
	struct msg	 m;

	h_reg_begin_raw(c, "12345", &m);
	ck_assert_msg(m.type == MSG_ERROR &&
	    m.u.error.code == ERR_INVALID_NUMBER, "12345: %s %s",
	    proto_type_name(m.type), proto_err_name(m.u.error.code));
	ck_assert_uint_eq(m.u.error.ref_type, MSG_REGISTER_BEGIN);
	h_reg_begin_raw(c, "+05550100008", &m);
	ck_assert_msg(m.type == MSG_ERROR &&
	    m.u.error.code == ERR_INVALID_NUMBER, "+0...: %s",
	    proto_type_name(m.type));

	h_ping(c, 15);
	codes_in_hour();
}
END_TEST

/* Add tests to a new tcase of s, with the checked teardown. */
static void
add_tcase(Suite *s, const char *name, const TTest **tests)
{
	TCase	*tc = tcase_create(name);

	tcase_add_checked_fixture(tc, NULL, h_test_teardown);
	tcase_set_timeout(tc, 60);
	for (; *tests != NULL; tests++)
		tcase_add_test(tc, *tests);
	suite_add_tcase(s, tc);
}

int
main(void)
{
	const TTest *anon[] = { test_ping, test_register_limits,
	    test_code_attempts, test_code_used, test_code_length,
	    test_malformed, NULL };
	const TTest *acct[] = { test_lookup_json,
	    test_reregister, test_hello_errors, test_renewal,
	    test_hello_cached,
	    test_online_errors,
	    test_presence,
	    test_delete_account, test_trystctl_delete, test_trystctl_mint,
	    NULL };
	Suite	*s = suite_create("integration");
	SRunner	*sr;
	char	*why = NULL;
	int	 failed;

	if (h_start(NULL, &why) == -1 || h_start2(INTEG_LIMITS_CONF,
	    &why) == -1) {
		fprintf(stderr, "test-integration: %s\n", why);
		h_stop();
		return (1);
	}
	add_tcase(s, "anonymous", anon);
	add_tcase(s, "accounts", acct);
	suite_add_tcase(s, integ_calls_tcase());
	suite_add_tcase(s, integ_relay_tcase());
	suite_add_tcase(s, integ_limits_tcase());
	suite_add_tcase(s, integ_discovery_tcase());
	suite_add_tcase(s, integ_cli_tcase());
	suite_add_tcase(s, integ_register_tcase());
	suite_add_tcase(s, integ_trust_tcase());
	suite_add_tcase(s, integ_store_tcase());
	suite_add_tcase(s, integ_last_tcase());
	sr = srunner_create(s);
	srunner_set_fork_status(sr, CK_NOFORK);
	srunner_run_all(sr, CK_ENV);
	failed = srunner_ntests_failed(sr);
	srunner_free(sr);
	h_stop();
	if (failed == 0)
		h_remove_dir();
	else
		fprintf(stderr, "test-integration: kept %s\n", H.dir);
	return (failed ? 1 : 0);
}
