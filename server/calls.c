/*
 * calls.c -- the bookkeeping of calls (PROTOCOL.md §5.4) as pure logic:
 * no sockets and no clocks. The owner (rendezvous.c) passes parties and
 * times in, and sends what the book notes through its notify callback.
 * A call is forgotten when it ends; a party remembers only the last few
 * session numbers it was part of, so that messages that crossed an ENDED
 * are dropped silently.
 *
 * The notify callback must not re-enter the book nor end a connection
 * at once: the book goes on with the call and both parties after each
 * note (rendezvous.c's notify only queues output; conn_send kills a slow
 * reader from its timer). calls_decline, calls_end, calls_leave,
 * calls_expire and calls_quota free calls: a caller looks at no call it
 * held afterwards (relay.c calls calls_quota last, from a read callback).
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "server.h"

struct callbook {
	struct table	*sessions;	/* session -> call */
	struct callq	 ringing;	/* oldest first */
	call_notify	 notify;
	void		*arg;
	void		(*random)(void *, size_t);
	int		 max_pending;
	int		 max_sessions;
	uint64_t	 timeout;	/* in the unit of the times given */
};

/* The randomness of libsodium. */
static void
default_random(void *buf, size_t len)
{
	randombytes_buf(buf, len);
}

/* Make a book. */
struct callbook *
calls_new(call_notify notify, void *arg, void (*random)(void *, size_t))
{
	struct callbook	*b;

	b = xcalloc(1, sizeof *b);
	b->sessions = table_new(sizeof(uint64_t));
	TAILQ_INIT(&b->ringing);
	b->notify = notify;
	b->arg = arg;
	b->random = random != NULL ? random : default_random;
	b->max_pending = 8;
	b->max_sessions = 8;
	b->timeout = 30;
	return (b);
}

/* Free a book whose calls have all ended. */
void
calls_free(struct callbook *b)
{
	table_free(b->sessions);
	free(b);
}

/* Set the limits of §8. The book has no clock: timeout is in whatever
 * unit its caller gives times in. */
void
calls_limits(struct callbook *b, int max_pending, int max_sessions,
    uint64_t timeout)
{
	b->max_pending = max_pending;
	b->max_sessions = max_sessions;
	b->timeout = timeout;
}

/* A connection's empty part. */
void
calls_party_init(struct party *p, void *owner, const uint8_t id[ID_LEN])
{
	memset(p, 0, sizeof *p);
	p->owner = owner;
	memcpy(p->id, id, ID_LEN);
	LIST_INIT(&p->out);
	LIST_INIT(&p->in);
}

/* The call of a session number, or NULL. */
struct call *
calls_find(struct callbook *b, uint64_t session)
{
	return (table_get(b->sessions, (const uint8_t *)&session));
}

/* Calls in the book. */
size_t
calls_count(struct callbook *b)
{
	return (table_count(b->sessions));
}

/* Remember that p was part of a session that ended. */
static void
remember(struct party *p, uint64_t session)
{
	p->ended[p->nended++ % nitems(p->ended)] = session;
}

/* 1 if p was part of session, which has ended. */
static int
ended(const struct party *p, uint64_t session)
{
	unsigned	 i, n = p->nended < nitems(p->ended) ? p->nended :
	    nitems(p->ended);

	for (i = 0; i < n; i++) {
		if (p->ended[i] == session)
			return (1);
	}
	return (0);
}

/* Forget a call. NOTE_GONE comes last, when the book no longer holds
 * it: its owner may free a party that stood in for a remote one. */
static void
call_free(struct callbook *b, struct call *call)
{
	if (call->probing)
		call->caller->probing--;
	if (call->state == CALL_RINGING) {
		call->caller->pending--;
		TAILQ_REMOVE(&b->ringing, call, ring_entry);
	} else {
		call->caller->sessions--;
		call->callee->sessions--;
	}
	remember(call->caller, call->session);
	remember(call->callee, call->session);
	LIST_REMOVE(call, out_entry);
	LIST_REMOVE(call, in_entry);
	table_del(b->sessions, (const uint8_t *)&call->session);
	b->notify(b->arg, call, NULL, NOTE_GONE, 0, NULL);
	sodium_memzero(call, sizeof *call);
	free(call);
}

/* 1 if tag is ringing among the calls p made. */
static int
tag_pending(const struct party *p, uint32_t tag)
{
	const struct call	*call;

	LIST_FOREACH(call, &p->out, out_entry) {
		if (call->state == CALL_RINGING && call->tag == tag)
			return (1);
	}
	return (0);
}

/* Ring callee for caller: a new call, numbered session (0: a new
 * random number) with the relay tokens given (NULL: new random ones). */
static int
ring(struct callbook *b, struct party *caller, uint32_t tag,
    const uint8_t target[ID_LEN], struct party *callee, uint64_t now,
    const struct vb *offer, uint64_t session,
    const uint8_t tokens[2][16])
{
	struct call	*call;

	if (memcmp(target, caller->id, ID_LEN) == 0 || tag_pending(caller, tag))
		return (ERR_UNSUPPORTED);
	/* Calls still asking other nodes for their callee (most will be
	 * OFFLINE in a moment) count once a node rings (calls_confirm). */
	if (caller->pending - caller->probing >= b->max_pending ||
	    caller->pending - caller->probing + caller->sessions >=
	    b->max_sessions)
		return (ERR_LIMIT);
	if (callee == NULL)
		return (ERR_OFFLINE);
	if (session != 0 && calls_find(b, session) != NULL)
		return (ERR_UNSUPPORTED);
	call = xcalloc(1, sizeof *call);
	call->session = session;
	while (call->session == 0 || calls_find(b, call->session) != NULL)
		b->random(&call->session, sizeof call->session);
	call->tag = tag;
	call->state = CALL_RINGING;
	call->caller = caller;
	call->callee = callee;
	call->deadline = now + b->timeout;
	if (tokens != NULL)
		memcpy(call->relay_token, tokens, sizeof call->relay_token);
	else
		b->random(call->relay_token, sizeof call->relay_token);
	if (callee->remote && !caller->remote) {
		call->probing = 1;
		caller->probing++;
	}
	table_set(b->sessions, (const uint8_t *)&call->session, call);
	LIST_INSERT_HEAD(&caller->out, call, out_entry);
	LIST_INSERT_HEAD(&callee->in, call, in_entry);
	TAILQ_INSERT_TAIL(&b->ringing, call, ring_entry);
	caller->pending++;
	b->notify(b->arg, call, callee, NOTE_INCOMING, 0, offer);
	return (0);
}

/* CONNECT: ring the callee. */
int
calls_connect(struct callbook *b, struct party *caller, uint32_t tag,
    const uint8_t target[ID_LEN], struct party *callee, uint64_t now,
    const struct vb *offer)
{
	return (ring(b, caller, tag, target, callee, now, offer, 0, NULL));
}

/* The mirror of a call another node's book made: same session and
 * tokens, the caller a stand-in for the party there. */
int
calls_ring(struct callbook *b, struct party *caller, struct party *callee,
    uint64_t session, const uint8_t tokens[2][16], uint64_t now,
    const struct vb *offer)
{
	if (session == 0)
		return (ERR_UNSUPPORTED);
	return (ring(b, caller, 0, callee->id, callee, now, offer, session,
	    tokens));
}

/* The ringing call p is callee of, or why not. */
static int
ringing_for(struct callbook *b, struct party *p, uint64_t session,
    struct call **callp)
{
	struct call	*call = calls_find(b, session);

	if (call == NULL)
		return (ended(p, session) ? -1 : ERR_NO_SESSION);
	if (call->callee != p || call->state != CALL_RINGING)
		return (ERR_NO_SESSION);
	*callp = call;
	return (0);
}

/* ACCEPT: the call becomes a session. */
int
calls_accept(struct callbook *b, struct party *p, uint64_t session,
    const struct vb *answer)
{
	struct call	*call;
	int		 rv;

	if ((rv = ringing_for(b, p, session, &call)) != 0)
		return (rv);
	/* Its own ringing calls count too: each may become a session. */
	if (p->pending + p->sessions >= b->max_sessions)
		return (ERR_LIMIT);
	TAILQ_REMOVE(&b->ringing, call, ring_entry);
	call->state = CALL_SESSION;
	call->caller->pending--;
	call->caller->sessions++;
	p->sessions++;
	b->notify(b->arg, call, call->caller, NOTE_ANSWER, 0, answer);
	return (0);
}

/* DECLINE: the caller hears the reason, the call is over. */
int
calls_decline(struct callbook *b, struct party *p, uint64_t session,
    uint8_t reason)
{
	struct call	*call;
	int		 rv;

	if ((rv = ringing_for(b, p, session, &call)) != 0)
		return (rv);
	b->notify(b->arg, call, call->caller, NOTE_DECLINED, reason, NULL);
	call_free(b, call);
	return (0);
}

/* END: either party ends a ringing call or a session. */
int
calls_end(struct callbook *b, struct party *p, uint64_t session)
{
	struct call	*call = calls_find(b, session);
	struct party	*other;

	if (call == NULL)
		return (ended(p, session) ? -1 : ERR_NO_SESSION);
	if (call->caller != p && call->callee != p)
		return (ERR_NO_SESSION);
	other = call->caller == p ? call->callee : call->caller;
	b->notify(b->arg, call, other, NOTE_ENDED, 0, NULL);
	/* A caller knows a ringing call only by its tag, not the session
	 * that ENDED names: the callee's END is a decline to it. */
	if (call->state == CALL_RINGING && other == call->caller)
		b->notify(b->arg, call, other, NOTE_DECLINED, 0, NULL);
	call_free(b, call);
	return (0);
}

/* One call of a departing party: tell the other one. */
static void
leave_one(struct callbook *b, struct call *call, struct party *p)
{
	if (call->state == CALL_RINGING && call->callee == p)
		b->notify(b->arg, call, call->caller, NOTE_ERROR, ERR_OFFLINE,
		    NULL);
	else
		b->notify(b->arg, call, call->caller == p ? call->callee :
		    call->caller, NOTE_ENDED, 1, NULL);
	call_free(b, call);
}

/* A party's connection is going. */
void
calls_leave(struct callbook *b, struct party *p)
{
	struct call	*call;

	while ((call = LIST_FIRST(&p->out)) != NULL)
		leave_one(b, call, p);
	while ((call = LIST_FIRST(&p->in)) != NULL)
		leave_one(b, call, p);
}

/* A node rings the remote callee of session: the call counts against
 * the caller's limits from now on. 0; -1 when that is past them (the
 * caller hears LIMIT, the call is over); 1 when nothing was probing. */
int
calls_confirm(struct callbook *b, uint64_t session)
{
	struct call	*call = calls_find(b, session);
	struct party	*caller;

	if (call == NULL || !call->probing)
		return (1);
	caller = call->caller;
	call->probing = 0;
	caller->probing--;
	if (caller->pending - caller->probing > b->max_pending ||
	    caller->pending - caller->probing + caller->sessions >
	    b->max_sessions) {
		calls_refuse(b, session, ERR_LIMIT);
		return (-1);
	}
	return (0);
}

/* The ringing call of session cannot reach its callee (code: OFFLINE,
 * UNSUPPORTED, ...): the caller hears code, the call is over. 0, or -1
 * when no such call rings. */
int
calls_refuse(struct callbook *b, uint64_t session, int code)
{
	struct call	*call = calls_find(b, session);

	if (call == NULL || call->state != CALL_RINGING)
		return (-1);
	b->notify(b->arg, call, call->caller, NOTE_ERROR, code, NULL);
	call_free(b, call);
	return (0);
}

/* The party that p stands in for, on another node, ended session, for
 * why (ENDED's why there: 0 END, 1 it left, 2 timeout, 3 quota): the
 * other party hears what it would if both were here. -1 when p is not in
 * such a call. */
int
calls_remote_end(struct callbook *b, struct party *p, uint64_t session,
    int why)
{
	struct call	*call = calls_find(b, session);
	struct party	*other;

	if (call == NULL || (call->caller != p && call->callee != p))
		return (-1);
	other = call->caller == p ? call->callee : call->caller;
	switch (why) {
	case 0:
		return (calls_end(b, p, session));
	case 1:
		leave_one(b, call, p);
		return (0);
	case 2:
		if (call->state == CALL_RINGING && other == call->caller)
			b->notify(b->arg, call, other, NOTE_ERROR,
			    ERR_TIMEOUT, NULL);
		else
			b->notify(b->arg, call, other, NOTE_ENDED, 2, NULL);
		break;
	default:
		b->notify(b->arg, call, other, NOTE_ENDED, 3, NULL);
		b->notify(b->arg, call, other, NOTE_ERROR, ERR_QUOTA, NULL);
		break;
	}
	call_free(b, call);
	return (0);
}

/* Ringing calls whose time is up. All are looked at: a reload may have
 * shortened the timeout of newer calls. */
void
calls_expire(struct callbook *b, uint64_t now)
{
	struct call	*call, *next;

	for (call = TAILQ_FIRST(&b->ringing); call != NULL; call = next) {
		next = TAILQ_NEXT(call, ring_entry);
		if (call->deadline > now)
			continue;
		b->notify(b->arg, call, call->caller, NOTE_ERROR, ERR_TIMEOUT,
		    NULL);
		b->notify(b->arg, call, call->callee, NOTE_ENDED, 2, NULL);
		call_free(b, call);
	}
}

/* The relay quota ends a session: both parties hear it. Frees call. */
void
calls_quota(struct callbook *b, struct call *call)
{
	b->notify(b->arg, call, call->caller, NOTE_ENDED, 3, NULL);
	b->notify(b->arg, call, call->callee, NOTE_ENDED, 3, NULL);
	b->notify(b->arg, call, call->caller, NOTE_ERROR, ERR_QUOTA, NULL);
	b->notify(b->arg, call, call->callee, NOTE_ERROR, ERR_QUOTA, NULL);
	call_free(b, call);
}
