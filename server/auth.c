/*
 * auth.c -- going online (HELLO, PROTOCOL.md §5.2), leaving for good
 * (DELETE_ACCOUNT), and revocation of an ID's live connections.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "server.h"

#define DAY	86400ULL

/* A HELLO or DELETE_ACCOUNT waiting for storage. */
struct authreq {
	struct conn	*c;
	uint8_t		 type;
	uint8_t		 flags;
	struct cred	 cred;
	uint8_t		 raw[CRED_LEN];
};

/* Hold c until the answer comes. */
static struct authreq *
req_new(struct conn *c, uint8_t type)
{
	struct authreq	*r = conn_req_new(c, sizeof *r);

	r->c = c;
	r->type = type;
	return (r);
}

/* Let c go on; 1 if it is alive. */
static int
req_end(struct authreq *r)
{
	return (conn_req_end(r->c, r, sizeof *r));
}

/* Answer an error and end. */
static void
req_fail(struct authreq *r, uint16_t code, uint32_t retry, const char *msg)
{
	conn_req_fail(r->c, r->type, r, sizeof *r, code, retry, msg);
}

/* Daily seen of a connection that stays online across days. */
void
auth_touch_seen(struct conn *c)
{
	struct server	*srv = c->srv;
	uint64_t	 now = server_now(), today = now - now % DAY;

	c->seen_day = now / DAY;
	store_account_seen(srv->store, c->id, today, today +
	    (uint64_t)srv->set.account_ttl_days * DAY);
}

/* WELCOME: the reflexive address, the limits, maybe a new credential. */
static void
send_welcome(struct conn *c, const struct cred *cred)
{
	struct server	*srv = c->srv;
	struct msg	 m = { .type = MSG_WELCOME };
	const struct sockaddr_in *s4 = (const struct sockaddr_in *)&c->addr;
	const struct sockaddr_in6 *s6 = (const struct sockaddr_in6 *)&c->addr;
	uint8_t		 renewed[CRED_LEN];
	uint64_t	 now = server_now();
	uint64_t	 life = (uint64_t)srv->set.credential_days * DAY;

	if (c->addr.sa.sa_family == AF_INET) {
		m.u.welcome.family = 4;
		m.u.welcome.port = ntohs(s4->sin_port);
		memcpy(m.u.welcome.addr, &s4->sin_addr, 4);
	} else if (IN6_IS_ADDR_V4MAPPED(&s6->sin6_addr)) {
		m.u.welcome.family = 4;
		m.u.welcome.port = ntohs(s6->sin6_port);
		memcpy(m.u.welcome.addr, s6->sin6_addr.s6_addr + 12, 4);
	} else {
		m.u.welcome.family = 6;
		m.u.welcome.port = ntohs(s6->sin6_port);
		memcpy(m.u.welcome.addr, &s6->sin6_addr, 16);
	}
	m.u.welcome.idle_timeout_s = (uint16_t)srv->set.idle_timeout_s;
	m.u.welcome.stun_port = stun_port(srv);
	m.u.welcome.max_batch = (uint16_t)srv->set.max_batch;
	m.u.welcome.max_offer_bytes = (uint16_t)srv->set.max_offer_bytes;
	if (cred->expires <= now || cred->expires - now < life / 2) {
		cred_make(renewed, srv->keys, cred->id, cred->identity_pk,
		    cred->created, now + life);
		memcpy(c->cred, renewed, CRED_LEN);
		m.u.welcome.credential.p = renewed;
		m.u.welcome.credential.len = CRED_LEN;
	}
	conn_send(c, &m);
}

/* A failed HELLO: answer, then close. Each try costs a new connection
 * (a TLS handshake), so a guesser cannot try again on the one it has.
 * UNAVAILABLE is not a failure of the client's: that connection stays. */
static void
hello_refuse(struct conn *c, uint16_t code, const char *msg)
{
	if (c->state == CONN_DEAD)
		return;
	conn_error(c, MSG_HELLO, 0, code, 0, msg);
	conn_kill(c, "HELLO refused");
}

/* The account came back: compare created, go online. */
static void
hello_account(struct server *srv, const struct store_result *res, void *arg)
{
	struct authreq	*r = arg;
	struct conn	*c = r->c;
	uint64_t	 today = server_now() / DAY;

	if (!res->ok) {
		req_fail(r, ERR_UNAVAILABLE, store_retry_after(srv->store),
		    "storage unavailable");
		return;
	}
	if (c->state == CONN_DEAD) {
		req_end(r);
		return;
	}
	if (res->v[0] == 0 || (uint64_t)res->v[0] != r->cred.created) {
		hello_refuse(c, ERR_REVOKED, "this registration was revoked");
		req_end(r);
		return;
	}
	memcpy(c->id, r->cred.id, ID_LEN);
	memcpy(c->cred, r->raw, CRED_LEN);
	c->created = r->cred.created;
	if (presence_add(srv, c, r->flags & HELLO_PRESENCE) != 0) {
		hello_refuse(c, ERR_LIMIT, "too many connections for this "
		    "account");
		req_end(r);
		return;
	}
	conn_set_state(c, CONN_ONLINE);
	c->presence = (r->flags & HELLO_PRESENCE) != 0;
	c->seen_day = (uint64_t)res->v[1] / DAY;
	if (c->seen_day < today)
		auth_touch_seen(c);
	srv->stats.hello[0]++;
	send_welcome(c, &r->cred);
	c->last_rx = server_now();
	conn_idle_timer(c);
	req_end(r);
}

/* Step 1 of HELLO: the credential's signature, from the cache of those
 * that verified before when there is one (a reconnecting client's). */
static int
hello_credential(struct server *srv, const struct vb *cv, struct cred *cred)
{
	if (srv->credcache != NULL)
		return (credcache_verify(srv->credcache, cv->p, cv->len,
		    srv->keys->sign_pk, cred));
	return (cred_verify(cv->p, cv->len, srv->keys->sign_pk, cred));
}

/* HELLO: both signatures, then the account; a refusal closes. The
 * signature over this connection's nonce is checked every time. */
void
auth_hello(struct conn *c, const struct msg *m)
{
	struct server	*srv = c->srv;
	const struct vb	*cv = &m->u.hello.credential;
	struct authreq	*r;
	struct cred	 cred;

	if (hello_credential(srv, cv, &cred) != 0) {
		hello_refuse(c, ERR_UNAUTHENTICATED,
		    "credential does not verify");
		return;
	}
	if (hello_verify(m->u.hello.signature, cred.identity_pk, c->nonce,
	    cv->p) != 0) {
		hello_refuse(c, ERR_UNAUTHENTICATED,
		    "signature does not verify");
		return;
	}
	if (!store_up(srv->store)) {
		conn_error(c, m->type, 0, ERR_UNAVAILABLE,
		    store_retry_after(srv->store), "storage unavailable");
		return;
	}
	r = req_new(c, m->type);
	r->cred = cred;
	r->flags = m->u.hello.flags;
	memcpy(r->raw, cv->p, CRED_LEN);
	if (store_account_get(srv->store, cred.id, hello_account, r) != 0)
		req_fail(r, ERR_UNAVAILABLE, store_retry_after(srv->store),
		    "storage unavailable");
}

/* The account is gone: close this connection and the ID's others. */
static void
delete_done(struct server *srv, const struct store_result *res, void *arg)
{
	struct authreq	*r = arg;
	struct conn	*c = r->c;
	struct msg	 m = { .type = MSG_DELETED };

	if (c->state == CONN_DELETING && (!res->ok || res->v[0] == 0))
		conn_set_state(c, CONN_ONLINE);	/* it stays */
	if (!res->ok) {
		req_fail(r, ERR_UNAVAILABLE, store_retry_after(srv->store),
		    "storage unavailable");
		return;
	}
	if (res->v[0] == 0) {
		req_fail(r, ERR_REVOKED, 0, "this registration was revoked");
		return;
	}
	if (c->state != CONN_DEAD) {
		conn_send(c, &m);
		conn_kill(c, "deleted");
	}
	auth_revoke_local(srv, r->cred.id, r->cred.created);
	req_end(r);
}

/* DELETE_ACCOUNT: remove the account and revoke it everywhere. */
void
auth_delete(struct conn *c, const struct msg *m)
{
	struct server	*srv = c->srv;
	struct authreq	*r;

	if (!store_up(srv->store)) {
		conn_error(c, m->type, 0, ERR_UNAVAILABLE,
		    store_retry_after(srv->store), "storage unavailable");
		return;
	}
	r = req_new(c, m->type);
	memcpy(r->cred.id, c->id, ID_LEN);
	r->cred.created = c->created;
	if (store_account_delete(srv->store, c->id, c->created, delete_done,
	    r) != 0)
		req_fail(r, ERR_UNAVAILABLE, store_retry_after(srv->store),
		    "storage unavailable");
	else	/* it gets DELETED, not GOAWAY revoked */
		conn_set_state(c, CONN_DELETING);
}

/* Close the ID's online connections whose account is not newer. */
void
auth_revoke_local(struct server *srv, const uint8_t id[ID_LEN],
    uint64_t max_created)
{
	struct conn	*c, *next;

	for (c = presence_conns(srv, id); c != NULL; c = next) {
		next = c->id_next;
		if (c->created <= max_created && c->state != CONN_DELETING)
			conn_goaway(c, GOAWAY_REVOKED, 0);
	}
}
