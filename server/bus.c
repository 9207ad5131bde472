/*
 * bus.c -- calls and presence across nodes (doc/protocol.md §9), over the
 * pub/sub of store.c, sealed by buswire.c. Nothing is stored: a node
 * listens on the channel of each ID online on it and on its own.
 *
 * A call whose parties are on two nodes is in both nodes' books. On the
 * caller's node (A) the callee is a stand-in party; the call, its relay
 * and its tokens are A's. On the callee's node (B) the call is a mirror
 * whose caller is a stand-in. What the book notes for a stand-in goes to
 * the other node (bus_note); what arrives from it is applied to the book
 * as if the party were here. A to B goes on the callee's ID channel (A
 * may not know B yet); B to A on A's node channel.
 *
 * A node that has calls with another sends it a heartbeat each second;
 * one not heard for BUS_DEAD_MS has its calls end here, as if its party
 * had left (the other party hears ENDED, or OFFLINE for a ringing call).
 * The node also sends itself one on its own channel, the way the others'
 * come: while it does not hear itself (Redis, or the primary of its
 * channel's slot, is away: a failover takes seconds), the others'
 * silence is its own deafness, so it waits up to BUS_DEAF_MS, and once it
 * hears itself again gives every peer BUS_DEAD_MS afresh.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "server.h"

#define BUS_DEAD_MS	3500	/* silent this long: the node is gone */
#define BUS_DEAF_MS	30000	/* not hearing itself: wait this long */
#define BUS_ECHO_MS	2500	/* its own heartbeat unheard: deaf */
#define BUS_SKEW_MS	60000	/* older or newer messages are dropped */

/* A stand-in for a party on another node, in one call. */
struct remote {
	struct party	 party;		/* owner is this remote */
	struct server	*srv;
	uint64_t	 session;
	char		 node[NODE_NAME_MAX + 1];	/* "": not known yet */
	uint8_t		 cred[CRED_LEN];
	char		 relay[PROTO_MAX_RELAY + 1];	/* B: A's endpoint */
	uint64_t	 rang_ms;	/* A: when the ring went out */
	long long	 asked;		/* A: nodes the ring reached */
	long long	 absent;	/* A: of which had no presence */
	TAILQ_ENTRY(remote) entry;
};
TAILQ_HEAD(remotes, remote);

/* A node we share calls with. */
struct peer {
	char		 name[NODE_NAME_MAX + 1];
	uint64_t	 heard_ms;
	TAILQ_ENTRY(peer) entry;
};
TAILQ_HEAD(peers, peer);

struct bus {
	struct remotes	 remotes;
	struct peers	 peers;
	uint64_t	 echo_ms;	/* its own heartbeat last heard */
	struct table	*by_session;	/* session -> remote */
};

/* Start with no calls. */
void
bus_init(struct server *srv)
{
	srv->bus = xcalloc(1, sizeof *srv->bus);
	TAILQ_INIT(&srv->bus->remotes);
	TAILQ_INIT(&srv->bus->peers);
	srv->bus->by_session = table_new(sizeof(uint64_t));
	srv->bus->echo_ms = server_now_ms();
}

/* Free (the book has freed every call, so every remote). */
void
bus_free(struct server *srv)
{
	struct peer	*p;

	while ((p = TAILQ_FIRST(&srv->bus->peers)) != NULL) {
		TAILQ_REMOVE(&srv->bus->peers, p, entry);
		free(p);
	}
	table_free(srv->bus->by_session);
	free(srv->bus);
	srv->bus = NULL;
}

/* The peer called name, made when new. */
static struct peer *
peer_get(struct server *srv, const char *name)
{
	struct peer	*p;

	TAILQ_FOREACH(p, &srv->bus->peers, entry) {
		if (strcmp(p->name, name) == 0)
			return (p);
	}
	p = xcalloc(1, sizeof *p);
	snprintf(p->name, sizeof p->name, "%s", name);
	p->heard_ms = server_now_ms();
	TAILQ_INSERT_TAIL(&srv->bus->peers, p, entry);
	return (p);
}

/* A new stand-in for session (0: numbered when the book rings). */
static struct remote *
remote_new(struct server *srv, const uint8_t id[ID_LEN])
{
	struct remote	*r = xcalloc(1, sizeof *r);

	calls_party_init(&r->party, r, id);
	r->party.remote = 1;
	r->srv = srv;
	TAILQ_INSERT_TAIL(&srv->bus->remotes, r, entry);
	return (r);
}

/* Number a stand-in with its session. */
static void
remote_number(struct remote *r, uint64_t session)
{
	r->session = session;
	table_set(r->srv->bus->by_session, (const uint8_t *)&session, r);
}

/* Forget a stand-in (its call is being freed). */
static void
remote_free(struct remote *r)
{
	struct bus	*bus = r->srv->bus;

	if (r->session != 0 &&
	    table_get(bus->by_session, (const uint8_t *)&r->session) == r)
		table_del(bus->by_session, (const uint8_t *)&r->session);
	TAILQ_REMOVE(&bus->remotes, r, entry);
	sodium_memzero(r, sizeof *r);
	free(r);
}

/* The stand-in of session, or NULL. */
static struct remote *
remote_find(struct server *srv, uint64_t session)
{
	return (table_get(srv->bus->by_session, (const uint8_t *)&session));
}

/* A message from this node, of type, at this time. */
static void
msg_init(struct server *srv, struct bus_msg *m, uint8_t type)
{
	memset(m, 0, sizeof *m);
	m->type = type;
	snprintf(m->from, sizeof m->from, "%s", srv->set.node_name);
	m->time_ms = server_now_ms();
}

/* Seal m and publish it to id's channel (id) or a node's: as
 * store_publish_*, with done (NULL: none). -1 when it cannot go. */
static int
send_msg(struct server *srv, const struct bus_msg *m, const uint8_t *id,
    const char *node, store_done done, void *arg)
{
	uint8_t		 out[BUS_SEALED_MAX];
	size_t		 n;
	int		 rv;

	if ((n = bus_seal(m, srv->keys->bus_key, out, sizeof out)) == 0) {
		log_warnx("bus: cannot seal a message of type %d", m->type);
		return (-1);
	}
	if (id != NULL)
		rv = store_publish_id(srv->store, id, out, n, done, arg);
	else
		rv = store_publish_node(srv->store, node, out, n, done, arg);
	sodium_memzero(out, n);
	if (rv == 0)
		srv->stats.bus_sent++;
	return (rv);
}

/* A reply about session to a node: DECLINE, END, REFUSE, NOPRESENCE. */
static void
send_code(struct server *srv, uint8_t type, uint64_t session, int code,
    const uint8_t *id, const char *node)
{
	struct bus_msg	 m;

	msg_init(srv, &m, type);
	m.session = session;
	m.code = (uint8_t)code;
	send_msg(srv, &m, id, node, NULL, NULL);
}

/* A stand-in for a callee not online here. */
struct party *
bus_callee(struct server *srv, const uint8_t id[ID_LEN])
{
	if (!store_up(srv->store))
		return (NULL);
	return (&remote_new(srv, id)->party);
}

/* The credential of the party a stand-in is for. */
const uint8_t *
bus_cred(struct party *p)
{
	return (((struct remote *)p->owner)->cred);
}

/* The relay endpoint a stand-in's node named (on B). */
const char *
bus_relay(struct party *p)
{
	return (((struct remote *)p->owner)->relay);
}

/* A ring that could not be sent: OFFLINE, from the loop (the book is
 * busy ringing now). */
struct refusal {
	struct server	*srv;
	uint64_t	 session;
};

/* The timer of refuse_later. */
static void
refuse_cb(evutil_socket_t fd, short ev, void *arg)
{
	struct refusal	*rf = arg;

	calls_refuse(rf->srv->calls, rf->session, ERR_OFFLINE);
	free(rf);
}

/* Refuse session with OFFLINE once the book is done. */
static void
refuse_later(struct server *srv, uint64_t session)
{
	static const struct timeval now = { 0, 0 };
	struct refusal	*rf = xmalloc(sizeof *rf);

	rf->srv = srv;
	rf->session = session;
	if (event_base_once(srv->base, -1, EV_TIMEOUT, refuse_cb, rf,
	    &now) != 0)
		fatalx("event_base_once failed");
}

/* How many nodes a ring reached: none means the callee is offline. */
static void
ring_sent(struct server *srv, const struct store_result *res, void *arg)
{
	uint64_t	 session = (uint64_t)(uintptr_t)arg;
	struct remote	*r;

	if ((r = remote_find(srv, session)) == NULL)
		return;
	r->asked = res->ok ? res->v[0] : 0;
	/* This node hears its own ring when the ID has a conn here. */
	if (r->asked > 0 && presence_conns(srv, r->party.id) != NULL)
		r->asked--;
	if (r->asked == 0 || r->absent >= r->asked)
		calls_refuse(srv->calls, session, ERR_OFFLINE);
}

/* The book rang a stand-in callee (on A): ring its ID everywhere. */
static void
ring(struct server *srv, struct call *call, struct remote *r,
    const struct vb *offer)
{
	struct conn	*caller = call->caller->owner;
	struct bus_msg	 m;

	remote_number(r, call->session);
	r->rang_ms = server_now_ms();
	msg_init(srv, &m, BUS_RING);
	m.session = call->session;
	memcpy(m.id, r->party.id, ID_LEN);
	memcpy(m.peer_id, call->caller->id, ID_LEN);
	memcpy(m.cred, caller->cred, CRED_LEN);
	memcpy(m.tokens, call->relay_token, sizeof m.tokens);
	m.code = caller->v2 ? 2 : 1;
	snprintf(m.relay, sizeof m.relay, "%s", srv->set.relay_endpoint);
	m.data = *offer;
	if (send_msg(srv, &m, r->party.id, NULL, ring_sent,
	    (void *)(uintptr_t)call->session) != 0)
		refuse_later(srv, call->session);
	sodium_memzero(&m, sizeof m);
}

/* A note of the book for a stand-in: tell the node of its party. */
void
bus_note(struct server *srv, struct call *call, struct party *to,
    enum call_note note, int detail, const struct vb *data)
{
	struct remote	*r = to->owner;
	struct bus_msg	 m;
	int		 a_side = call != NULL && call->callee == to;

	switch (note) {
	case NOTE_INCOMING:
		ring(srv, call, r, data);
		return;
	case NOTE_ANSWER:
		msg_init(srv, &m, BUS_ANSWER);
		m.session = call->session;
		memcpy(m.cred, ((struct conn *)call->callee->owner)->cred,
		    CRED_LEN);
		m.data = *data;
		send_msg(srv, &m, NULL, r->node, NULL, NULL);
		return;
	case NOTE_DECLINED:
		send_code(srv, BUS_DECLINE, call->session, detail, NULL,
		    r->node);
		return;
	case NOTE_ENDED:
		send_code(srv, BUS_END, call->session, detail,
		    a_side ? r->party.id : NULL, r->node);
		return;
	case NOTE_ERROR:
		/* A ringing callee left (B): the caller hears OFFLINE. The
		 * other errors are the caller's node's own (its timeout) or
		 * come with an END (quota). */
		if (!a_side && detail == ERR_OFFLINE)
			send_code(srv, BUS_END, call->session, 1, NULL,
			    r->node);
		return;
	case NOTE_GONE:
		remote_free(r);
		return;
	}
}

/* RING on B: ring the callee's presence connection here, or say why
 * not. */
static void
got_ring(struct server *srv, const struct bus_msg *m)
{
	struct conn	*callee = presence_find(srv, m->id);
	struct remote	*r;
	int		 rv;

	if (callee == NULL) {
		send_code(srv, BUS_NOPRESENCE, m->session, 0, NULL, m->from);
		return;
	}
	if (m->code != 2 || !callee->v2) {
		send_code(srv, BUS_REFUSE, m->session, ERR_UNSUPPORTED, NULL,
		    m->from);
		return;
	}
	r = remote_new(srv, m->peer_id);
	snprintf(r->node, sizeof r->node, "%s", m->from);
	memcpy(r->cred, m->cred, CRED_LEN);
	snprintf(r->relay, sizeof r->relay, "%s", m->relay);
	remote_number(r, m->session);
	rv = rendezvous_mirror(srv, &r->party, callee, m->session, m->tokens,
	    &m->data);
	if (rv != 0) {
		remote_free(r);
		send_code(srv, BUS_REFUSE, m->session, rv, NULL, m->from);
		return;
	}
	/* The caller's node learns where it rang: heartbeats both ways. */
	send_code(srv, BUS_RINGING, m->session, 0, NULL, m->from);
	peer_get(srv, m->from)->heard_ms = server_now_ms();
}

/* A reply on A, or an END either way: apply it to the book. */
static void
got_reply(struct server *srv, const struct bus_msg *m)
{
	struct remote	*r = remote_find(srv, m->session);
	uint8_t		 id[ID_LEN];

	if (r == NULL)
		return;
	if (m->type == BUS_NOPRESENCE) {
		if (++r->absent >= r->asked && r->asked > 0)
			calls_refuse(srv->calls, m->session, ERR_OFFLINE);
		return;
	}
	/* The first node to answer is the callee's; others are ignored. */
	if (r->node[0] == '\0')
		snprintf(r->node, sizeof r->node, "%s", m->from);
	else if (strcmp(r->node, m->from) != 0)
		return;
	peer_get(srv, m->from)->heard_ms = server_now_ms();
	switch (m->type) {
	case BUS_ANSWER:
		memcpy(r->cred, m->cred, CRED_LEN);
		calls_accept(srv->calls, &r->party, m->session, &m->data);
		break;
	case BUS_DECLINE:
		calls_decline(srv->calls, &r->party, m->session, m->code);
		break;
	case BUS_END:
		calls_remote_end(srv->calls, &r->party, m->session, m->code);
		break;
	case BUS_REFUSE:
		calls_refuse(srv->calls, m->session, m->code);
		break;
	case BUS_RINGING:	/* it rings: within the caller's limits? */
		memcpy(id, r->party.id, ID_LEN);	/* r may go now */
		if (calls_confirm(srv->calls, m->session) == -1)
			send_code(srv, BUS_END, m->session, 0, id, NULL);
		break;
	}
}

/* PRESENT: the ID took presence on another node. */
static void
got_present(struct server *srv, const struct bus_msg *m)
{
	struct conn	*c = presence_find(srv, m->id);

	if (c != NULL) {
		c->presence = 0;
		conn_goaway(c, GOAWAY_REPLACED, 0);
	}
}

/* This node's own heartbeat came back: after a deaf spell, every peer
 * is given BUS_DEAD_MS from now (their messages could not reach us). */
static void
heard_self(struct server *srv, uint64_t now)
{
	struct peer	*p;

	if (srv->bus->echo_ms + BUS_ECHO_MS < now) {
		log_info("bus: this node's channel works again");
		TAILQ_FOREACH(p, &srv->bus->peers, entry)
			p->heard_ms = now;
	}
	srv->bus->echo_ms = now;
}

/* A sealed message from another node (or this one: its own ID channel
 * messages come back to it, and are dropped; its heartbeats are heard). */
void
bus_receive(struct server *srv, const uint8_t *in, size_t len)
{
	static uint8_t	 plain[BUS_SEALED_MAX];
	struct bus_msg	 m;
	uint64_t	 now = server_now_ms();
	struct peer	*p;

	if (bus_open(in, len, srv->keys->bus_key, plain, &m) != 0) {
		log_debug("bus: a message that does not open");
		return;
	}
	if (m.time_ms + BUS_SKEW_MS < now || m.time_ms > now + BUS_SKEW_MS)
		goto out;
	if (strcmp(m.from, srv->set.node_name) == 0) {
		if (m.type == BUS_HEARTBEAT)
			heard_self(srv, now);
		goto out;
	}
	srv->stats.bus_received++;
	TAILQ_FOREACH(p, &srv->bus->peers, entry) {
		if (strcmp(p->name, m.from) == 0)
			p->heard_ms = now;
	}
	switch (m.type) {
	case BUS_RING:
		got_ring(srv, &m);
		break;
	case BUS_PRESENT:
		got_present(srv, &m);
		break;
	case BUS_HEARTBEAT:
		break;
	default:
		got_reply(srv, &m);
		break;
	}
out:
	sodium_memzero(plain, sizeof plain);
}

/* id took presence here: tell the other nodes where it is online. */
void
bus_present(struct server *srv, const uint8_t id[ID_LEN])
{
	struct bus_msg	 m;

	msg_init(srv, &m, BUS_PRESENT);
	memcpy(m.id, id, ID_LEN);
	send_msg(srv, &m, id, NULL, NULL, NULL);
}

/* Once a second: a heartbeat to each node we share calls with, and to
 * this one; the calls of one not heard from in BUS_DEAD_MS end (in
 * BUS_DEAF_MS while this node does not hear itself). */
void
bus_tick(struct server *srv)
{
	struct bus	*bus = srv->bus;
	struct peer	*p, *pn;
	struct remote	*r, *rn;
	struct bus_msg	 m;
	uint64_t	 now = server_now_ms(), dead_ms = BUS_DEAD_MS;
	int		 used;

	if (TAILQ_EMPTY(&bus->peers) && TAILQ_EMPTY(&bus->remotes))
		bus->echo_ms = now;	/* nothing to hear: not deaf */
	else {
		msg_init(srv, &m, BUS_HEARTBEAT);
		send_msg(srv, &m, NULL, srv->set.node_name, NULL, NULL);
		if (bus->echo_ms + BUS_ECHO_MS < now)
			dead_ms = BUS_DEAF_MS;
	}
	/* A ring no node has claimed (a node that rings says so at once):
	 * the node that got it died before its RINGING went out. */
	TAILQ_FOREACH(r, &bus->remotes, entry) {
		if (r->node[0] == '\0' && r->rang_ms != 0 &&
		    r->rang_ms + dead_ms < now) {
			r->rang_ms = 0;
			refuse_later(srv, r->session);
		}
	}
	for (p = TAILQ_FIRST(&bus->peers); p != NULL; p = pn) {
		pn = TAILQ_NEXT(p, entry);
		used = 0;
		TAILQ_FOREACH(r, &bus->remotes, entry)
			used |= strcmp(r->node, p->name) == 0;
		if (!used) {
			TAILQ_REMOVE(&bus->peers, p, entry);
			free(p);
			continue;
		}
		if (p->heard_ms + dead_ms < now) {
			log_info("bus: node %s is silent: its calls end",
			    p->name);
			/* Each end frees its remote: walk from the start. */
			for (r = TAILQ_FIRST(&bus->remotes); r != NULL;
			    r = rn) {
				rn = TAILQ_NEXT(r, entry);
				if (strcmp(r->node, p->name) != 0)
					continue;
				r->node[0] = '\0';	/* no END to it */
				calls_remote_end(srv->calls, &r->party,
				    r->session, 1);
				rn = TAILQ_FIRST(&bus->remotes);
			}
			TAILQ_REMOVE(&bus->peers, p, entry);
			free(p);
			continue;
		}
		msg_init(srv, &m, BUS_HEARTBEAT);
		send_msg(srv, &m, NULL, p->name, NULL, NULL);
	}
}
