/*
 * server-check.c -- the invariants of a running server that the
 * whole-server fuzz target checks after every operation, by walking the
 * connection lists, the parties' calls and the presence table. A broken
 * one is abort(); a freed object still linked from any of them is a
 * use-after-free that AddressSanitizer reports while walking.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "server.h"
#include "fuzz-server.h"

#define MAX_LIVE	64

/* What a walk has seen. */
struct walk {
	struct server	*srv;
	const struct fs_limits *lim;
	struct conn	*live[MAX_LIVE];
	size_t		 n;
	size_t		 ncalls;
	uintptr_t	 per_ip;
};

/* Report a broken invariant and stop. */
static __attribute__((noreturn)) void
broken(const char *what)
{
	fprintf(stderr, "fuzz-server: invariant broken: %s\n", what);
	abort();
}

/* 1 if c is on one of the server's lists. */
static int
is_live(const struct walk *w, const struct conn *c)
{
	size_t	 i;

	for (i = 0; i < w->n; i++) {
		if (w->live[i] == c)
			return (1);
	}
	return (0);
}

/* 1 if c is a live control connection that is online. */
static int
is_online(const struct walk *w, const struct conn *c)
{
	return (c != NULL && is_live(w, c) && (c->state == CONN_ONLINE ||
	    c->state == CONN_DELETING));
}

/* Take the connections of list, each in a state that list holds. */
static void
collect(struct walk *w, struct connlist *list, unsigned states)
{
	struct conn	*c;

	TAILQ_FOREACH(c, list, entry) {
		if (w->n == MAX_LIVE)
			broken("more connections than were opened");
		if ((CONN_MASK(c->state) & states) == 0)
			broken("a connection on the wrong list");
		if (c->srv != w->srv)
			broken("a connection of another server");
		w->live[w->n++] = c;
	}
}

/* 1 if call is on list (in or out entries). */
static int
on_list(struct calllist *list, const struct call *call, int in)
{
	const struct call	*k;

	if (in) {
		LIST_FOREACH(k, list, in_entry)
			if (k == call)
				return (1);
	} else {
		LIST_FOREACH(k, list, out_entry)
			if (k == call)
				return (1);
	}
	return (0);
}

/* One call made by p: both parties live and online, the book finds it,
 * its relay conns point back at it. */
static void
check_call(struct walk *w, struct party *p, struct call *call)
{
	struct conn	*r;
	int		 i;

	if (call->caller != p || call->callee == NULL)
		broken("a call on the wrong party's list");
	/* A callee online on no conn here rings through a stand-in while
	 * other nodes are asked (bus.c): only a ringing call has one. */
	if (call->callee->remote) {
		if (call->state != CALL_RINGING || call->callee->owner == NULL)
			broken("a stand-in callee in a session, or ownerless");
	} else if (!is_online(w, call->callee->owner) ||
	    ((struct conn *)call->callee->owner)->party != call->callee)
		broken("a call whose callee is gone");
	if (!on_list(&call->callee->in, call, 1))
		broken("a call missing from its callee's list");
	if (calls_find(w->srv->calls, call->session) != call)
		broken("a call the book does not find");
	for (i = 0; i < 2; i++) {
		if ((r = call->relay[i]) == NULL)
			continue;
		if (call->state != CALL_SESSION)
			broken("a ringing call with a relay");
		if (!is_live(w, r) || r->state != CONN_RELAY ||
		    r->call != call || r->relay_side != (unsigned)i)
			broken("a relay conn that does not point back");
	}
	w->ncalls++;
}

/* A party: its counts match its lists, within the limits. */
static void
check_party(struct walk *w, struct conn *c)
{
	struct party	*p = c->party;
	struct call	*call;
	int		 pending = 0, sessions = 0, probing = 0;

	if (p->owner != c || memcmp(p->id, c->id, ID_LEN) != 0)
		broken("a party of another connection");
	LIST_FOREACH(call, &p->out, out_entry) {
		check_call(w, p, call);
		probing += call->probing;
		if (call->state == CALL_RINGING)
			pending++;
		else
			sessions++;
	}
	LIST_FOREACH(call, &p->in, in_entry) {
		if (call->callee != p || !is_online(w, call->caller->owner) ||
		    ((struct conn *)call->caller->owner)->party !=
		    call->caller)
			broken("a received call whose caller is gone");
		if (call->state == CALL_SESSION)
			sessions++;
	}
	if (pending != p->pending || sessions != p->sessions ||
	    probing != p->probing)
		broken("a party's counts do not match its calls");
	/* Calls still asking other nodes count once one rings. */
	pending -= probing;
	if (pending > w->lim->max_pending)
		broken("more pending calls than max_pending_calls");
	if (pending + sessions > w->lim->max_sessions)
		broken("more ringing calls and sessions than max_sessions");
}

/* One connection. */
static void
check_conn(struct walk *w, struct conn *c)
{
	struct conn	*k;
	int		 online = c->state == CONN_ONLINE ||
	    c->state == CONN_DELETING;

	if (c->refs < 0 || (c->busy && c->refs == 0 && c->state != CONN_DEAD))
		broken("a busy connection that nothing holds");
	if (c->party != NULL) {
		if (!online)
			broken("a party on a connection not online");
		check_party(w, c);
	}
	if ((c->state == CONN_RELAY) != (c->call != NULL))
		broken("a relay conn without its call, or a call elsewhere");
	if (c->call != NULL && (calls_find(w->srv->calls,
	    c->call->session) != c->call ||
	    c->call->relay[c->relay_side] != c))
		broken("a relay conn whose call does not know it");
	if (!online)
		return;
	for (k = presence_conns(w->srv, c->id); k != NULL; k = k->id_next)
		if (k == c)
			break;
	if (k == NULL)
		broken("an online connection missing from presence");
}

/* One presence entry: its chain holds live online conns of its ID. */
static void
check_presence(const uint8_t *key, void *value, void *arg)
{
	struct walk	*w = arg;
	struct conn	*c;
	long long	 n = 0, holders = 0;

	for (c = value; c != NULL; c = c->id_next) {
		if (!is_online(w, c) || memcmp(c->id, key, ID_LEN) != 0)
			broken("presence holds a connection not online");
		if (c->presence && c->state == CONN_ONLINE)
			holders++;
		if (++n > w->lim->max_per_account)
			broken("more connections than "
			    "max_connections_per_account");
	}
	if (n == 0 || holders > 1)
		broken("an empty presence entry, or two holders");
}

/* Sum the per-address counts. */
static void
count_ip(const uint8_t *key, void *value, void *arg)
{
	struct walk	*w = arg;

	w->per_ip += (uintptr_t)value;
}

/* Check every invariant; abort() on the first broken one. */
void
server_check(struct server *srv, const struct fs_limits *lim)
{
	static struct walk	 w;
	size_t			 i;

	memset(&w, 0, sizeof w);
	w.srv = srv;
	w.lim = lim;
	collect(&w, &srv->waiting, CONN_MASK(CONN_WAIT));
	collect(&w, &srv->handshaking, CONN_MASK(CONN_TLS));
	collect(&w, &srv->conns, ~(CONN_MASK(CONN_WAIT) |
	    CONN_MASK(CONN_TLS)));
	if (w.n != srv->nconns)
		broken("nconns does not count the lists");
	table_each(srv->per_ip, count_ip, &w);
	if (w.per_ip != srv->nconns)
		broken("per-address counts do not add up to nconns");
	for (i = 0; i < w.n; i++)
		check_conn(&w, w.live[i]);
	if (w.ncalls != calls_count(srv->calls))
		broken("a call in the book that no live party has");
	table_each(srv->presence, check_presence, &w);
}
