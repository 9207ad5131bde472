/*
 * register.c -- REGISTER_BEGIN and REGISTER_FINISH (PROTOCOL.md §5.1).
 *
 * Tokens are stateless: everything a FINISH needs is sealed in the token,
 * and Redis only counts attempts. BEGIN never reads the account, so its
 * answer and its timing say nothing about whether a number is registered.
 */
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>
#include <sodium.h>

#include "server.h"

#define HOUR		3600ULL
#define DAY		86400ULL
#define USED		1000000		/* vt: value of a used token */
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
	char		 given[TOKEN_CODE + 1];		/* what was sent */
	int		 given_ok;			/* digits, length */
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

/* The integer value of a reply (a string or integer), or -1. */
static long long
reply_int(const redisReply *r)
{
	if (r == NULL)
		return (-1);
	if (r->type == REDIS_REPLY_INTEGER)
		return (r->integer);
	if (r->type == REDIS_REPLY_STRING)
		return (strtoll(r->str, NULL, 10));
	if (r->type == REDIS_REPLY_NIL)
		return (0);
	return (-1);
}

/* An EXEC reply with n results, or NULL. */
static redisReply *
exec_reply(redisReply *reply, size_t n)
{
	if (reply == NULL || reply->type != REDIS_REPLY_ARRAY ||
	    reply->elements != n)
		return (NULL);
	return (reply);
}

/* Redis is unreachable: say when to retry. */
static void
req_unavailable(struct regreq *r)
{
	req_fail(r, ERR_UNAVAILABLE, store_retry_after(r->c->srv->store),
	    "storage unavailable");
}

/* Drop one address's window of a past hour. */
static void
free_window(const uint8_t *key, void *value, void *arg)
{
	table_del(arg, key);
	free(value);
}

/* The in-memory budgets: per address (IPv6 per /64) and per server. */
static int
memory_budgets(struct conn *c, uint64_t now, uint32_t *retry)
{
	struct server	*srv = c->srv;
	struct rlwin	*w;
	uint64_t	 hour = now / HOUR;

	*retry = (uint32_t)(HOUR - now % HOUR);
	if (srv->codes_ip_hour != hour) {
		table_each(srv->codes_ip, free_window, srv->codes_ip);
		srv->codes_ip_hour = hour;
	}
	if ((w = table_get(srv->codes_ip, c->addrkey)) == NULL) {
		w = xcalloc(1, sizeof *w);
		table_set(srv->codes_ip, c->addrkey, w);
	}
	if (rl_hit(w, hour, srv->set.codes_per_hour_per_ip) != 0) {
		srv->stats.rate_limited[RL_CODE_IP]++;
		return (-1);
	}
	if (rl_hit(&srv->codes_server, hour, srv->set.codes_per_hour) != 0) {
		srv->stats.rate_limited[RL_CODE_SERVER]++;
		return (-1);
	}
	return (0);
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

/* The number's wrong codes today are at the limit: refuse (the reply's
 * third element is the day's count). 1 if refused. */
static int
failures_spent(struct regreq *r, redisReply *reply)
{
	struct server	*srv = r->c->srv;
	uint64_t	 now = server_now();

	if (reply_int(reply->element[2]) < srv->set.code_failures_per_day)
		return (0);
	srv->stats.rate_limited[RL_CODE_FAILURES]++;
	req_fail(r, ERR_RATE_LIMITED, (uint32_t)(DAY - now % DAY),
	    "too many wrong codes for this number today");
	return (1);
}

/* The number's budgets came back from Redis: make and send a code. */
static void
begin_counted(struct server *srv, redisReply *reply, void *arg)
{
	struct regreq	*r = arg;
	uint64_t	 now = server_now();

	if ((reply = exec_reply(reply, 3)) == NULL) {
		req_unavailable(r);
		return;
	}
	if (reply_int(reply->element[0]) > srv->set.code_requests_per_hour) {
		srv->stats.rate_limited[RL_CODE_NUMBER]++;
		req_fail(r, ERR_RATE_LIMITED, (uint32_t)(HOUR - now % HOUR),
		    "too many codes for this number");
		return;
	}
	if (failures_spent(r, reply))
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
	char		 hex[2 * ID_LEN + 1];
	uint64_t	 now = server_now(), hour = now / HOUR, day = now / DAY;
	uint32_t	 retry;

	if (!e164_valid((const char *)num->p, num->len)) {
		conn_error(c, m->type, 0, ERR_INVALID_NUMBER, 0,
		    "not an E.164 number");
		return;
	}
	if (memory_budgets(c, now, &retry) != 0) {
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
	hex_encode(hex, r->id, ID_LEN);
	store_cmdf(srv->store, NULL, NULL, "MULTI");
	store_cmdf(srv->store, NULL, NULL, "INCR rl:code:{%s}:%llu", hex,
	    (unsigned long long)hour);
	store_cmdf(srv->store, NULL, NULL, "EXPIREAT rl:code:{%s}:%llu %llu",
	    hex, (unsigned long long)hour, (unsigned long long)(hour + 1) * HOUR);
	store_cmdf(srv->store, NULL, NULL, "GET rl:codefail:{%s}:%llu", hex,
	    (unsigned long long)day);
	if (store_cmdf(srv->store, begin_counted, r, "EXEC") != 0)
		req_unavailable(r);
}

/* A wrong code also counts against the number's day. */
static void
count_failure(struct server *srv, const uint8_t id[ID_LEN])
{
	char		 hex[2 * ID_LEN + 1];
	uint64_t	 day = server_now() / DAY;

	hex_encode(hex, id, ID_LEN);
	store_cmdf(srv->store, NULL, NULL, "MULTI");
	store_cmdf(srv->store, NULL, NULL, "INCR rl:codefail:{%s}:%llu", hex,
	    (unsigned long long)day);
	store_cmdf(srv->store, NULL, NULL,
	    "EXPIREAT rl:codefail:{%s}:%llu %llu", hex,
	    (unsigned long long)day, (unsigned long long)(day + 1) * DAY);
	store_cmdf(srv->store, NULL, NULL, "EXEC");
}

/* The account is written: revoke older credentials, answer. */
static void
finish_written(struct server *srv, redisReply *reply, void *arg)
{
	struct regreq	*r = arg;
	struct msg	 m = { .type = MSG_REGISTERED };
	uint8_t		 cred[CRED_LEN];
	uint64_t	 expires;

	if (exec_reply(reply, 3) == NULL) {
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
finish_previous(struct server *srv, redisReply *reply, void *arg)
{
	struct regreq	*r = arg;
	char		 key[72], hex[2 * ID_LEN + 1];
	uint64_t	 now = server_now(), today = now - now % DAY;
	long long	 prev;

	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		req_unavailable(r);
		return;
	}
	prev = reply_int(reply);
	r->created = now;
	if (prev > 0 && (uint64_t)prev >= now)
		r->created = (uint64_t)prev + 1;
	keyspace_acct(key, r->id);
	hex_encode(hex, r->id, ID_LEN);
	store_cmdf(srv->store, NULL, NULL, "MULTI");
	store_cmdf(srv->store, NULL, NULL, "HSET %s created %llu seen %llu",
	    key, (unsigned long long)r->created, (unsigned long long)today);
	store_cmdf(srv->store, NULL, NULL, "EXPIREAT %s %llu", key,
	    (unsigned long long)(today +
	    (uint64_t)srv->set.account_ttl_days * DAY));
	store_cmdf(srv->store, NULL, NULL, "PUBLISH tryst:revoke %s:%llu",
	    hex, (unsigned long long)(r->created - 1));
	if (store_cmdf(srv->store, finish_written, r, "EXEC") != 0)
		req_unavailable(r);
}

/* The token was marked used; the old value says whether we were first. */
static void
finish_marked(struct server *srv, redisReply *reply, void *arg)
{
	struct regreq	*r = arg;
	char		 key[72];

	if (reply == NULL || reply->type == REDIS_REPLY_ERROR) {
		req_unavailable(r);
		return;
	}
	if (reply_int(reply) >= USED) {
		req_fail(r, ERR_EXPIRED, 0, "code already used");
		return;
	}
	keyspace_acct(key, r->id);
	if (store_cmdf(srv->store, finish_previous, r, "HGET %s created",
	    key) != 0)
		req_unavailable(r);
}

/* The attempt was counted: check the code. */
static void
finish_counted(struct server *srv, redisReply *reply, void *arg)
{
	struct regreq	*r = arg;
	char		 hex[2 * TOKEN_NONCE + 1];

	if ((reply = exec_reply(reply, 3)) == NULL) {
		req_unavailable(r);
		return;
	}
	if (reply_int(reply->element[0]) > srv->set.code_attempts) {
		req_fail(r, ERR_EXPIRED, 0, "no attempts left; ask for a new "
		    "code");
		return;
	}
	if (failures_spent(r, reply))
		return;
	if (!r->given_ok || sodium_memcmp(r->given, r->code,
	    sizeof r->code) != 0) {
		count_failure(srv, r->id);
		req_fail(r, ERR_BAD_CODE, 0, "wrong code");
		return;
	}
	hex_encode(hex, r->nonce, TOKEN_NONCE);
	if (store_cmdf(srv->store, finish_marked, r,
	    "SET vt:%s %d KEEPTTL GET", hex, USED) != 0)
		req_unavailable(r);
}

/* Copy the code the client sent; 1 if it has the token code's form. */
static int
given_code(struct regreq *r, const struct vb *code)
{
	size_t	 i, n = strlen(r->code);

	if (code->len != n)
		return (0);
	for (i = 0; i < n; i++) {
		if (code->p[i] < '0' || code->p[i] > '9')
			return (0);
	}
	memcpy(r->given, code->p, n);
	return (1);
}

/* REGISTER_FINISH: open the token, count the attempt, check the code,
 * write the account. */
void
register_finish(struct conn *c, const struct msg *m)
{
	struct server	*srv = c->srv;
	struct regreq	*r;
	char		 hex[2 * ID_LEN + 1], nhex[2 * TOKEN_NONCE + 1];
	uint64_t	 day = server_now() / DAY;

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
	r->given_ok = given_code(r, &m->u.reg_finish.code);
	hex_encode(hex, r->id, ID_LEN);
	hex_encode(nhex, r->nonce, TOKEN_NONCE);
	store_cmdf(srv->store, NULL, NULL, "MULTI");
	store_cmdf(srv->store, NULL, NULL, "INCR vt:%s", nhex);
	store_cmdf(srv->store, NULL, NULL, "EXPIREAT vt:%s %llu", nhex,
	    (unsigned long long)(r->expires_ms / 1000 + 1));
	store_cmdf(srv->store, NULL, NULL, "GET rl:codefail:{%s}:%llu", hex,
	    (unsigned long long)day);
	if (store_cmdf(srv->store, finish_counted, r, "EXEC") != 0)
		req_unavailable(r);
}
