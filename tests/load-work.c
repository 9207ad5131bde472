/*
 * load-work.c -- the load's workers: HELLOs on new connections, discovery
 * (OPRF_EVAL then LOOKUP), calls with relayed bytes, registrations through
 * the dev delivery file, PINGs on idle connections. Each counts every
 * answer with load_note; a fault drops the connections it used.
 */
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "load.h"

#define HELLO_PACE_MS	100
#define DISC_PACE_MS	50
#define CALL_PACE_MS	250
#define PING_CYCLE_MS	2000
#define CODE_WAIT_MS	10000
#define NOBODY		"+15550179999"	/* never registered */

/* HELLOs on new connections, round the accounts. */
void *
load_work_hello(void *arg)
{
	struct load	*l = arg;
	struct lconn	 lc;
	size_t		 i;

	for (i = 0; load_running(l); i++) {
		memset(&lc, 0, sizeof lc);
		lc.a = &l->acc[i % l->nacc];
		load_online(l, &lc);
		load_close(l, &lc.t);
		load_pace(l, HELLO_PACE_MS);
	}
	return (NULL);
}

/* OPRF_EVAL of a's number and NOBODY, finalised into ids; the outcome. */
static int
oprf(struct load *l, struct tconn *t, const struct account *a,
    uint8_t ids[64], char *why, size_t len)
{
	const char	*in[2] = { a->number, NOBODY };
	uint8_t		 blind[2][32], el[64], out[OPRF_OUT];
	struct msg	 m;
	int		 i, o;

	for (i = 0; i < 2; i++)
		oprf_blind(blind[i], el + 32 * i, (const uint8_t *)in[i],
		    strlen(in[i]), NULL);
	memset(&m, 0, sizeof m);
	m.type = MSG_OPRF_EVAL;
	m.u.oprf.count = 2;
	m.u.oprf.elements = el;
	if ((o = load_exchange(t, &m, MSG_OPRF_RESULT, &m, l->o.deadline_ms,
	    why, len)) != LOAD_OK)
		return (o);
	for (i = 0; i < 2; i++) {
		if (m.u.oprf.count != 2 || oprf_finalize(out,
		    (const uint8_t *)in[i], strlen(in[i]), blind[i],
		    m.u.oprf.elements + 32 * i) != 0) {
			snprintf(why, len, "OPRF_RESULT does not finalise");
			return (LOAD_WRONG);
		}
		memcpy(ids + 32 * i, out, 32);
	}
	if (memcmp(ids, a->c.id, ID_LEN) != 0) {
		snprintf(why, len, "OPRF gave another ID");
		return (LOAD_WRONG);
	}
	return (LOAD_OK);
}

/* LOOKUP of ids: the first has an account, the second none. */
static int
lookup(struct load *l, struct tconn *t, const uint8_t ids[64], char *why,
    size_t len)
{
	struct msg	 m;
	int		 o;

	memset(&m, 0, sizeof m);
	m.type = MSG_LOOKUP;
	m.u.lookup.count = 2;
	m.u.lookup.ids = ids;
	o = load_exchange(t, &m, MSG_LOOKUP_RESULT, &m, l->o.deadline_ms, why,
	    len);
	if (o == LOAD_OK && (m.u.lookup_result.count != 2 ||
	    m.u.lookup_result.bitmap[0] != 0x01)) {
		snprintf(why, len, "LOOKUP_RESULT %02x, not 01",
		    m.u.lookup_result.bitmap[0]);
		o = LOAD_WRONG;
	}
	return (o);
}

/* Discovery round the readers' connections. */
void *
load_work_disc(void *arg)
{
	struct load	*l = arg;
	struct lconn	*lc;
	uint8_t		 ids[64];
	char		 why[160];
	int64_t		 t0;
	size_t		 i;
	int		 o;

	for (i = 0; load_running(l); i++) {
		lc = &l->readers[i % (size_t)l->o.readers];
		if (load_online(l, lc)) {
			t0 = h_mono_ms();
			o = oprf(l, lc->t, lc->a, ids, why, sizeof why);
			load_note(l, LOAD_OPRF, o, t0, why);
			if (o == LOAD_OK) {
				t0 = h_mono_ms();
				o = lookup(l, lc->t, ids, why, sizeof why);
				load_note(l, LOAD_LOOKUP, o, t0, why);
			}
			if (o == LOAD_WRONG || o == LOAD_NOANSWER)
				load_close(l, &lc->t);
		}
		load_pace(l, DISC_PACE_MS);
	}
	return (NULL);
}

/* Bytes of the relay pattern: position i of direction dir. */
static uint8_t
pattern(size_t i, int dir)
{
	return ((uint8_t)((i * 131 + (size_t)dir * 7) >> 3));
}

/* Write n pattern bytes on a, read and check them on b. */
static int
relay_pass(struct load *l, struct tconn *a, struct tconn *b, int dir,
    char *why, size_t len)
{
	size_t	 n = (size_t)l->o.relay_bytes, got = 0, i;
	uint8_t	*buf = xmalloc(n), in[4096];
	int64_t	 end = h_mono_ms() + l->o.deadline_ms;
	char	*cause = NULL;
	long	 r;

	for (i = 0; i < n; i++)
		buf[i] = pattern(i, dir);
	if (tconn_send_raw(a, buf, n, &cause) != 0)
		goto fail;
	while (got < n) {
		if ((r = tconn_read_raw(b, in, sizeof in, &cause)) == -2) {
			if (sock_wait(tconn_fd(b), POLLIN, end) != 1) {
				cause = xstrdup("timeout");
				goto fail;
			}
			continue;
		}
		if (r <= 0) {
			cause = r == 0 ? xstrdup("closed") : cause;
			goto fail;
		}
		for (i = 0; i < (size_t)r && got + i < n; i++) {
			if (in[i] != pattern(got + i, dir)) {
				cause = xstrdup("bytes differ");
				goto fail;
			}
		}
		got += (size_t)r;
	}
	free(buf);
	return (LOAD_OK);
fail:
	snprintf(why, len, "relay %s after %zu of %zu bytes", cause, got, n);
	r = strcmp(cause, "timeout") == 0 ? LOAD_NOANSWER : LOAD_WRONG;
	free(cause);
	free(buf);
	return ((int)r);
}

/* Join the relay of session on two new connections, pass bytes. */
static int
relay(struct load *l, uint64_t session, const uint8_t tok[2][16],
    char *why, size_t len)
{
	struct tconn	*d[2] = { NULL, NULL };
	struct msg	 m;
	int		 i, o = LOAD_OK;

	for (i = 0; i < 2 && o == LOAD_OK; i++) {
		if ((d[i] = load_open(l, NULL, why, len)) == NULL) {
			o = LOAD_WRONG;
			break;
		}
		memset(&m, 0, sizeof m);
		m.type = MSG_RELAY_JOIN;
		m.u.relay_join.session = session;
		memcpy(m.u.relay_join.relay_token, tok[i], 16);
		if (load_send(d[i], &m, why, len) != 0)
			o = LOAD_WRONG;
	}
	/* RELAY_READY comes to both once the second has joined. */
	for (i = 0; i < 2 && o == LOAD_OK; i++)
		o = load_exchange(d[i], NULL, MSG_RELAY_READY, &m,
		    l->o.deadline_ms, why, len);
	if (o == LOAD_OK)
		o = relay_pass(l, d[0], d[1], 0, why, len);
	if (o == LOAD_OK)
		o = relay_pass(l, d[1], d[0], 1, why, len);
	load_close(l, &d[0]);
	load_close(l, &d[1]);
	return (o);
}

/* CONNECT from p[0] to p[1]'s account, INCOMING, ACCEPT, ANSWER: the
 * outcome, the session and the relay tokens (caller's, callee's). */
static int
call_ring(struct load *l, struct lconn *p, uint32_t tag, uint64_t *session,
    uint8_t tok[2][16], char *why, size_t len)
{
	static const char	 offer[] = "load-offer", answer[] = "load-ans";
	struct msg		 m;
	int			 o;

	memset(&m, 0, sizeof m);
	m.type = MSG_CONNECT;
	m.u.connect.tag = tag;
	memcpy(m.u.connect.target_id, p[1].a->c.id, ID_LEN);
	m.u.connect.offer.p = (const uint8_t *)offer;
	m.u.connect.offer.len = sizeof offer - 1;
	if (load_send(p[0].t, &m, why, len) != 0)
		return (LOAD_WRONG);
	if ((o = load_exchange(p[1].t, NULL, MSG_INCOMING, &m, l->o.deadline_ms,
	    why, len)) == LOAD_NOANSWER &&
	    (o = load_exchange(p[0].t, NULL, MSG_INCOMING, &m, 0, why, len)) ==
	    LOAD_NOANSWER)	/* the caller was told nothing either */
		snprintf(why, len, "no INCOMING, no answer to CONNECT");
	if (o != LOAD_OK)
		return (o);
	if (m.u.incoming.caller_credential.len != CRED_LEN ||
	    memcmp(m.u.incoming.caller_credential.p, p[0].a->cred,
	    CRED_LEN) != 0 || m.u.incoming.offer.len != sizeof offer - 1) {
		snprintf(why, len, "INCOMING with another credential or offer");
		return (LOAD_WRONG);
	}
	*session = m.u.incoming.session;
	memcpy(tok[1], m.u.incoming.relay_token, 16);
	memset(&m, 0, sizeof m);
	m.type = MSG_ACCEPT;
	m.u.accept.session = *session;
	m.u.accept.answer.p = (const uint8_t *)answer;
	m.u.accept.answer.len = sizeof answer - 1;
	if (load_send(p[1].t, &m, why, len) != 0)
		return (LOAD_WRONG);
	if ((o = load_exchange(p[0].t, NULL, MSG_ANSWER, &m, l->o.deadline_ms,
	    why, len)) != LOAD_OK)
		return (o);
	if (m.u.answer.tag != tag || m.u.answer.session != *session) {
		snprintf(why, len, "ANSWER for another call");
		return (LOAD_WRONG);
	}
	memcpy(tok[0], m.u.answer.relay_token, 16);
	return (LOAD_OK);
}

/* END from the caller; ENDED for session at the callee. */
static int
call_end(struct load *l, struct lconn *p, uint64_t session, char *why,
    size_t len)
{
	struct msg	 m;
	int		 o, i;

	memset(&m, 0, sizeof m);
	m.type = MSG_END;
	m.u.end.session = session;
	if (load_send(p[0].t, &m, why, len) != 0)
		return (LOAD_WRONG);
	for (i = 0; i < 4; i++) {
		if ((o = load_exchange(p[1].t, NULL, MSG_ENDED, &m,
		    l->o.deadline_ms, why, len)) != LOAD_OK ||
		    m.u.ended.session == session)
			return (o);
	}
	snprintf(why, len, "ENDED for other sessions only");
	return (LOAD_WRONG);
}

/* Calls round the pairs: ring, relay, end; a fault drops the pair. */
void *
load_work_call(void *arg)
{
	struct load	*l = arg;
	struct lconn	*p;
	uint8_t		 tok[2][16];
	uint64_t	 session = 0;
	uint32_t	 tag;
	char		 why[160];
	int64_t		 t0;
	int		 o;

	for (tag = 1; load_running(l); tag++) {
		p = &l->pairs[2 * ((tag - 1) % (uint32_t)l->o.pairs)];
		if (!load_online(l, &p[1]) || !load_online(l, &p[0])) {
			load_pace(l, CALL_PACE_MS);
			continue;
		}
		t0 = h_mono_ms();
		o = call_ring(l, p, tag, &session, tok, why, sizeof why);
		load_note(l, LOAD_CALL, o, t0, why);
		if (o == LOAD_OK && l->o.relay_bytes > 0) {
			t0 = h_mono_ms();
			o = relay(l, session, tok, why, sizeof why);
			load_note(l, LOAD_RELAY, o, t0, why);
		}
		if (o == LOAD_OK) {
			t0 = h_mono_ms();
			o = call_end(l, p, session, why, sizeof why);
			load_note(l, LOAD_END, o, t0, why);
		}
		if (o != LOAD_OK) {
			load_close(l, &p[0].t);
			load_close(l, &p[1].t);
		}
		load_pace(l, CALL_PACE_MS);
	}
	return (NULL);
}

/* Wait for the code of number (more than before lines) in the dev file;
 * 0 with it in code, -1 when none came within CODE_WAIT_MS. */
static int
code_wait(struct load *l, const char *number, int before, char *code,
    size_t len, size_t digits)
{
	int64_t	 end = h_mono_ms() + CODE_WAIT_MS;

	while (h_code_count(number) <= before) {
		if (h_mono_ms() > end || !load_running(l))
			return (-1);
		h_msleep(20);
	}
	/* There now: h_code_wait returns at once (and notes the number).
	 * A line read while being appended is read again. */
	for (;;) {
		h_code_wait(number, before, code, len);
		if (strlen(code) == digits || h_mono_ms() > end)
			return (0);
		h_msleep(20);
	}
}

/* REGISTER_FINISH with a fresh key as number into r: the outcome. */
static int
reg_finish(struct load *l, struct tconn *t, const uint8_t *token,
    const char *code, struct load_reg *r, char *why, size_t len)
{
	struct msg	 m;
	int		 o;

	memset(r, 0, sizeof *r);
	crypto_sign_keypair(r->a.pk, r->a.sk);
	memset(&m, 0, sizeof m);
	m.type = MSG_REGISTER_FINISH;
	m.u.reg_finish.token.p = token;
	m.u.reg_finish.token.len = TOKEN_LEN;
	m.u.reg_finish.code.p = (const uint8_t *)code;
	m.u.reg_finish.code.len = (uint16_t)strlen(code);
	memcpy(m.u.reg_finish.identity_pk, r->a.pk, 32);
	if ((o = load_exchange(t, &m, MSG_REGISTERED, &m, l->o.deadline_ms, why,
	    len)) != LOAD_OK)
		return (o);
	if (m.u.registered.credential.len != CRED_LEN ||
	    cred_verify(m.u.registered.credential.p, CRED_LEN, H.sign_pk,
	    &r->a.c) != 0 || memcmp(r->a.c.identity_pk, r->a.pk, 32) != 0) {
		snprintf(why, len, "REGISTERED with a bad credential");
		return (LOAD_WRONG);
	}
	memcpy(r->a.cred, m.u.registered.credential.p, CRED_LEN);
	r->at = h_mono_ms();
	return (LOAD_OK);
}

/* One registration of number on t: the outcome, the account in r. */
static int
reg_one(struct load *l, struct tconn *t, const char *number,
    struct load_reg *r, char *why, size_t len)
{
	struct msg	 m;
	uint8_t		 token[TOKEN_LEN];
	char		 code[16];
	int		 before = h_code_count(number), o;

	h_note_number(number);	/* for the log check, on this thread only */
	memset(&m, 0, sizeof m);
	m.type = MSG_REGISTER_BEGIN;
	m.u.reg_begin.number.p = (const uint8_t *)number;
	m.u.reg_begin.number.len = (uint16_t)strlen(number);
	if ((o = load_exchange(t, &m, MSG_REGISTER_CHALLENGE, &m,
	    l->o.deadline_ms, why, len)) != LOAD_OK)
		return (o);
	if (m.u.reg_challenge.token.len != TOKEN_LEN) {
		snprintf(why, len, "REGISTER_CHALLENGE with a bad token");
		return (LOAD_WRONG);
	}
	memcpy(token, m.u.reg_challenge.token.p, TOKEN_LEN);
	if (code_wait(l, number, before, code, sizeof code,
	    m.u.reg_challenge.code_digits) != 0) {
		snprintf(why, len, "no code in the dev file");
		return (LOAD_NOANSWER);
	}
	if ((o = reg_finish(l, t, token, code, r, why, len)) == LOAD_OK)
		snprintf(r->a.number, sizeof r->a.number, "%s", number);
	return (o);
}

/* 1 while registrations are held (parked is then set); waits. */
static int
reg_held(struct load *l)
{
	int	 held;

	pthread_mutex_lock(&l->mu);
	if ((held = l->reg_hold) && !l->reg_parked) {
		l->reg_parked = 1;
		pthread_cond_broadcast(&l->cv);
	}
	if (!held)
		l->reg_parked = 0;
	pthread_mutex_unlock(&l->mu);
	return (held);
}

/* Registrations of new numbers, one connection each. */
void *
load_work_reg(void *arg)
{
	struct load	*l = arg;
	struct load_reg	 r;
	struct tconn	*t;
	char		 number[32], why[160];
	int64_t		 t0;
	int		 i, o;

	for (i = 0; load_running(l); load_pace(l, l->o.reg_pace_ms)) {
		if (reg_held(l) || (l->o.max_registrations > 0 &&
		    i >= l->o.max_registrations))
			continue;
		snprintf(number, sizeof number, "%s%04d", l->o.number_base,
		    i++ % 10000);
		t0 = h_mono_ms();
		if ((t = load_open(l, NULL, why, sizeof why)) == NULL)
			o = LOAD_WRONG;
		else
			o = reg_one(l, t, number, &r, why, sizeof why);
		load_close(l, &t);
		load_note(l, LOAD_REGISTER, o, t0, why);
		if (o != LOAD_OK)
			continue;
		pthread_mutex_lock(&l->mu);
		l->regs = xrealloc(l->regs, (l->nregs + 1) * sizeof r);
		l->regs[l->nregs++] = r;
		pthread_mutex_unlock(&l->mu);
		sodium_memzero(&r, sizeof r);
	}
	return (NULL);
}

/* PING round the idle online connections, each every PING_CYCLE_MS. */
void *
load_work_ping(void *arg)
{
	struct load	*l = arg;
	struct lconn	*lc;
	struct msg	 m;
	char		 why[160];
	int64_t		 t0;
	uint64_t	 nonce;
	int		 o;

	for (nonce = 1; load_running(l); nonce++) {
		lc = &l->idle[nonce % (uint64_t)l->o.idle];
		if (load_online(l, lc)) {
			memset(&m, 0, sizeof m);
			m.type = MSG_PING;
			m.u.ping.nonce = nonce;
			t0 = h_mono_ms();
			o = load_exchange(lc->t, &m, MSG_PONG, &m,
			    l->o.deadline_ms, why, sizeof why);
			if (o == LOAD_OK && m.u.ping.nonce != nonce) {
				snprintf(why, sizeof why, "PONG for another "
				    "nonce");
				o = LOAD_WRONG;
			}
			load_note(l, LOAD_PING, o, t0, why);
			if (o != LOAD_OK)
				load_close(l, &lc->t);
		}
		load_pace(l, PING_CYCLE_MS / l->o.idle);
	}
	return (NULL);
}

