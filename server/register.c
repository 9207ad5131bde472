/*
 * register.c -- REGISTER_BEGIN and REGISTER_FINISH (PROTOCOL.md §5.1).
 *
 * Tokens are stateless: everything a FINISH needs is sealed in the token,
 * and the store only counts attempts. BEGIN never reads the account, so its
 * answer and its timing say nothing about whether a number is registered.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "server.h"

#define HOUR		3600ULL
#define DAY		86400ULL
#define BUSY_RETRY_S	10

/* One registration request in flight. */
struct regreq {
	struct conn	*c;
	uint8_t		 type;
	uint8_t		 id[ID_LEN];
	uint8_t		 nonce[TOKEN_NONCE];
	uint8_t		 identity_pk[32];
	char		 number[PROTO_MAX_NUMBER + 1];
	char		 code[TOKEN_CODE + 1];		/* the right one */
	int		 right;				/* the code sent */
	uint64_t	 expires_ms;
	uint64_t	 created;
	uint8_t		 token[TOKEN_LEN];
};

/* Hold c until the answer comes. */
static struct regreq *
req_new(struct conn *c, uint8_t type)
{
	struct regreq	*r = conn_req_new(c, sizeof *r);

	r->c = c;
	r->type = type;
	return (r);
}

/* Let c go on; 1 if it is alive. */
static int
req_end(struct regreq *r)
{
	return (conn_req_end(r->c, r, sizeof *r));
}

/* Answer an error and end. */
static void
req_fail(struct regreq *r, uint16_t code, uint32_t retry, const char *msg)
{
	conn_req_fail(r->c, r->type, r, sizeof *r, code, retry, msg);
}

/* Redis is unreachable: say when to retry. */
static void
req_unavailable(struct regreq *r)
{
	req_fail(r, ERR_UNAVAILABLE, store_retry_after(r->c->srv->store),
	    "storage unavailable");
}

/*
 * The in-memory code budgets, per node: token buckets that refill
 * continuously, per address (IPv6 per /64), per prefix (IPv4 /24, IPv6
 * /48) and per server. A request takes a token from all three or from
 * none, and a refusal says when the emptiest one has a token again:
 * seconds, not the top of the hour.
 *
 * Each bucket holds a tenth of its hour (rl_code_burst; at least 10, so
 * that a household can correct a mistyped number at once). A bucket of a
 * whole hour would still let a flood take the hour in a second, and then
 * let it take every token as it comes back. A tenth bounds what any hour
 * can spend to 1.1 times the budget; what keeps a newcomer's share is
 * that a flood's own refill is capped per address and per prefix, so
 * that it takes many networks to keep the server bucket empty, and that
 * a refused newcomer is told to come back in seconds.
 */

#define SWEEP_MS	60000ULL

/* Forget a bucket that is full again (a zeroed one is full). */
static void
sweep_one(const uint8_t *key, void *value, void *arg)
{
	struct server	*srv = arg;
	struct rlrate	 r;

	if (key[11] == 0xff)
		rl_rate_set(&r, srv->set.codes_per_hour_per_prefix,
		    HOUR * 1000, rl_code_burst(
		    srv->set.codes_per_hour_per_prefix));
	else
		rl_rate_set(&r, srv->set.codes_per_hour_per_ip, HOUR * 1000,
		    rl_code_burst(srv->set.codes_per_hour_per_ip));
	if (rl_full(value, &r, srv->codes_swept)) {
		table_del(srv->codes_ip, key);
		free(value);
	}
}

/* The bucket of key, new (full) if there is none. */
static struct rlbucket *
bucket_of(struct server *srv, const uint8_t key[16])
{
	struct rlbucket	*b;

	if ((b = table_get(srv->codes_ip, key)) == NULL) {
		b = xcalloc(1, sizeof *b);
		table_set(srv->codes_ip, key, b);
	}
	return (b);
}

/* The three budgets of c: take a token from each, or refuse (0 or -1 and
 * the seconds until all three have one). */
static int
memory_budgets(struct conn *c, uint64_t now_ms, uint32_t *retry)
{
	struct server	*srv = c->srv;
	struct rlbucket	*b[3];
	struct rlrate	 r[3];
	long long	 per[3];
	uint8_t		 pkey[16];
	uint64_t	 wait, most = 0;
	int		 i, refused = -1;

	if (now_ms - srv->codes_swept >= SWEEP_MS ||
	    now_ms < srv->codes_swept) {
		srv->codes_swept = now_ms;
		table_each(srv->codes_ip, sweep_one, srv);
	}
	rl_prefix_key((const struct sockaddr *)&c->addr, pkey);
	b[0] = bucket_of(srv, c->addrkey);
	b[1] = bucket_of(srv, pkey);
	b[2] = &srv->codes_server;
	per[0] = srv->set.codes_per_hour_per_ip;
	per[1] = srv->set.codes_per_hour_per_prefix;
	per[2] = srv->set.codes_per_hour;
	for (i = 0; i < 3; i++) {
		rl_rate_set(&r[i], per[i], HOUR * 1000, rl_code_burst(per[i]));
		if (rl_has(b[i], &r[i], now_ms, 1))
			continue;
		if (refused == -1)
			refused = i;
		if ((wait = rl_wait_s(b[i], &r[i], 1)) > most)
			most = wait;
	}
	if (refused != -1) {
		srv->stats.rate_limited[refused == 0 ? RL_CODE_IP :
		    refused == 1 ? RL_CODE_PREFIX : RL_CODE_SERVER]++;
		*retry = (uint32_t)most;
		return (-1);
	}
	for (i = 0; i < 3; i++)
		rl_take(b[i], &r[i], now_ms, 1);
	return (0);
}

/* The server bucket's whole tokens now, for /metrics. */
long long
register_tokens(struct server *srv)
{
	struct rlrate	 r;

	rl_rate_set(&r, srv->set.codes_per_hour, HOUR * 1000,
	    rl_code_burst(srv->set.codes_per_hour));
	return ((long long)rl_tokens(&srv->codes_server, &r,
	    server_now_ms()));
}

/* A random code of n digits. */
static void
make_code(char *code, int n)
{
	int	 i;

	for (i = 0; i < n; i++)
		code[i] = (char)('0' + randombytes_uniform(10));
	code[n] = '\0';
}

/* The transport took the code, or failed to. */
static void
begin_delivered(struct server *srv, int ok, void *arg)
{
	struct regreq	*r = arg;
	struct msg	 m = { .type = MSG_REGISTER_CHALLENGE };

	if (!ok) {
		req_fail(r, ERR_DELIVERY_FAILED, 0,
		    "the code could not be sent");
		return;
	}
	m.u.reg_challenge.token.p = r->token;
	m.u.reg_challenge.token.len = TOKEN_LEN;
	m.u.reg_challenge.code_digits = (uint8_t)strlen(r->code);
	m.u.reg_challenge.expires_in_s = (uint32_t)srv->set.code_ttl_s;
	srv->stats.reg_begin[0]++;
	conn_send(r->c, &m);
	req_end(r);
}

/* The number's wrong codes today (count) are at the limit: refuse. 1 if
 * refused. */
static int
failures_spent(struct regreq *r, long long count)
{
	struct server	*srv = r->c->srv;
	uint64_t	 now = server_now();

	if (count < srv->set.code_failures_per_day)
		return (0);
	srv->stats.rate_limited[RL_CODE_FAILURES]++;
	req_fail(r, ERR_RATE_LIMITED, (uint32_t)(DAY - now % DAY),
	    "too many wrong codes for this number today");
	return (1);
}

/* The number's budgets came back from storage: make and send a code. */
static void
begin_counted(struct server *srv, const struct store_result *res, void *arg)
{
	struct regreq	*r = arg;
	uint64_t	 now = server_now();

	if (!res->ok) {
		req_unavailable(r);
		return;
	}
	if (res->v[0] > srv->set.code_requests_per_hour) {
		srv->stats.rate_limited[RL_CODE_NUMBER]++;
		req_fail(r, ERR_RATE_LIMITED, (uint32_t)(HOUR - now % HOUR),
		    "too many codes for this number");
		return;
	}
	if (failures_spent(r, res->v[1]))
		return;
	make_code(r->code, (int)srv->set.code_digits);
	token_seal(r->token, srv->keys, r->id, r->code,
	    server_now_ms() + (uint64_t)srv->set.code_ttl_s * 1000);
	if (deliver_send(srv->deliver, r->number, r->code, begin_delivered,
	    r) != 0) {
		srv->stats.rate_limited[RL_DELIVERIES]++;
		req_fail(r, ERR_RATE_LIMITED, BUSY_RETRY_S,
		    "too many codes being sent; try again shortly");
	}
}

/* REGISTER_BEGIN: check the number and the budgets, send a code. */
void
register_begin(struct conn *c, const struct msg *m)
{
	struct server	*srv = c->srv;
	const struct vb	*num = &m->u.reg_begin.number;
	struct regreq	*r;
	uint64_t	 now = server_now(), hour = now / HOUR, day = now / DAY;
	uint32_t	 retry;

	if (!e164_valid((const char *)num->p, num->len)) {
		conn_error(c, m->type, 0, ERR_INVALID_NUMBER, 0,
		    "not an E.164 number");
		return;
	}
	if (memory_budgets(c, server_now_ms(), &retry) != 0) {
		conn_error(c, m->type, 0, ERR_RATE_LIMITED, retry,
		    "too many codes requested");
		return;
	}
	if (!store_up(srv->store)) {
		conn_error(c, m->type, 0, ERR_UNAVAILABLE,
		    store_retry_after(srv->store), "storage unavailable");
		return;
	}
	r = req_new(c, m->type);
	memcpy(r->number, num->p, num->len);
	keys_number_id(srv->keys, r->number, r->id);
	if (store_code_request(srv->store, r->id, hour, (hour + 1) * HOUR, day,
	    begin_counted, r) != 0)
		req_unavailable(r);
}

/* The account is written: revoke older credentials, answer. */
static void
finish_written(struct server *srv, const struct store_result *res, void *arg)
{
	struct regreq	*r = arg;
	struct msg	 m = { .type = MSG_REGISTERED };
	uint8_t		 cred[CRED_LEN];
	uint64_t	 expires;

	if (!res->ok) {
		req_unavailable(r);
		return;
	}
	srv->stats.reg_finish[0]++;
	auth_revoke_local(srv, r->id, r->created - 1);
	expires = server_now() + (uint64_t)srv->set.credential_days * DAY;
	cred_make(cred, srv->keys, r->id, r->identity_pk, r->created, expires);
	m.u.registered.credential.p = cred;
	m.u.registered.credential.len = CRED_LEN;
	conn_send(r->c, &m);
	req_end(r);
}

/* The previous account's created came back: write the new account. */
static void
finish_previous(struct server *srv, const struct store_result *res,
    void *arg)
{
	struct regreq	*r = arg;
	uint64_t	 now = server_now(), today = now - now % DAY;
	long long	 prev = res->v[0];

	if (!res->ok) {
		req_unavailable(r);
		return;
	}
	r->created = now;
	if (prev > 0 && (uint64_t)prev >= now)
		r->created = (uint64_t)prev + 1;
	if (store_account_put(srv->store, r->id, r->created, today, today +
	    (uint64_t)srv->set.account_ttl_days * DAY, finish_written, r) != 0)
		req_unavailable(r);
}

/* The token was marked used; the old value says whether we were first. */
static void
finish_marked(struct server *srv, const struct store_result *res, void *arg)
{
	struct regreq	*r = arg;

	if (!res->ok) {
		req_unavailable(r);
		return;
	}
	if (res->v[0]) {
		req_fail(r, ERR_EXPIRED, 0, "code already used");
		return;
	}
	if (store_account_get(srv->store, r->id, finish_previous, r) != 0)
		req_unavailable(r);
}

/* The attempt was counted, and a wrong code with it: answer, or mark
 * the token used. */
static void
finish_counted(struct server *srv, const struct store_result *res, void *arg)
{
	struct regreq	*r = arg;

	if (!res->ok) {
		req_unavailable(r);
		return;
	}
	if (res->v[0] > srv->set.code_attempts) {
		req_fail(r, ERR_EXPIRED, 0, "no attempts left; ask for a new "
		    "code");
		return;
	}
	if (failures_spent(r, res->v[1]))
		return;
	if (!r->right) {
		req_fail(r, ERR_BAD_CODE, 0, "wrong code");
		return;
	}
	if (store_token_use(srv->store, r->id, r->nonce, finish_marked,
	    r) != 0)
		req_unavailable(r);
}

/* 1 if the code sent is the token's: its length, digits only, and the
 * same digits (compared in constant time). */
static int
right_code(struct regreq *r, const struct vb *code)
{
	char	 given[TOKEN_CODE + 1];
	size_t	 i, n = strlen(r->code);
	int	 ok;

	if (code->len != n)
		return (0);
	memset(given, 0, sizeof given);
	for (i = 0; i < n; i++) {
		if (code->p[i] < '0' || code->p[i] > '9')
			return (0);
		given[i] = (char)code->p[i];
	}
	ok = sodium_memcmp(given, r->code, sizeof given) == 0;
	sodium_memzero(given, sizeof given);
	return (ok);
}

/* Count the attempt of r (and a wrong code) in one step: the token's
 * count lasts a second past it, the day's until 00:00 UTC. */
static int
count_attempt(struct server *srv, struct regreq *r)
{
	uint64_t	 day = server_now() / DAY;

	return (store_code_attempt(srv->store, r->nonce,
	    r->expires_ms / 1000 + 1, r->id, day, (day + 1) * DAY,
	    srv->set.code_attempts, srv->set.code_failures_per_day, !r->right,
	    finish_counted, r));
}

/* REGISTER_FINISH: open the token, check the code, count the attempt,
 * write the account. */
void
register_finish(struct conn *c, const struct msg *m)
{
	struct server	*srv = c->srv;
	struct regreq	*r;

	if (!identity_pk_valid(m->u.reg_finish.identity_pk)) {
		conn_error(c, m->type, 0, ERR_MALFORMED, 0,
		    "identity key is not a valid Ed25519 key");
		conn_kill(c, "malformed identity key");
		return;
	}
	r = req_new(c, m->type);
	if (token_open(m->u.reg_finish.token.p, m->u.reg_finish.token.len,
	    srv->keys, r->id, r->code, &r->expires_ms, r->nonce) != 0 ||
	    r->expires_ms < server_now_ms()) {
		req_fail(r, ERR_EXPIRED, 0, "token expired or invalid");
		return;
	}
	if (!store_up(srv->store)) {
		req_unavailable(r);
		return;
	}
	memcpy(r->identity_pk, m->u.reg_finish.identity_pk, 32);
	r->right = right_code(r, &m->u.reg_finish.code);
	if (count_attempt(srv, r) != 0)
		req_unavailable(r);
}
