/*
 * presence.c -- the in-memory table of who is online: ID -> the chain of
 * that ID's online connections, one of which may hold presence (receives
 * the ID's calls). Never persisted. While an ID has a conn here, the node
 * listens on the ID's channel (store_subscribe): other nodes reach it
 * there (bus.c), and a presence taken here is announced there.
 */
#include "server.h"

/* First online conn of id. */
struct conn *
presence_conns(struct server *srv, const uint8_t id[ID_LEN])
{
	return (table_get(srv->presence, id));
}

/* The conn that holds presence for id, or NULL. */
struct conn *
presence_find(struct server *srv, const uint8_t id[ID_LEN])
{
	struct conn	*c;

	for (c = presence_conns(srv, id); c != NULL; c = c->id_next) {
		if (c->presence && c->state == CONN_ONLINE)
			return (c);
	}
	return (NULL);
}

/* Add c (whose id is set) to the online conns of its ID. */
int
presence_add(struct server *srv, struct conn *c, int presence)
{
	struct conn	*head, *old = NULL, *p;
	long long	 n = 0;

	head = presence_conns(srv, c->id);
	for (p = head; p != NULL; p = p->id_next) {
		n++;
		if (p->presence)
			old = p;
	}
	if (presence && old != NULL)
		n--;		/* it is about to be replaced */
	if (n >= srv->set.max_connections_per_account)
		return (-1);
	if (presence && old != NULL) {
		old->presence = 0;
		conn_goaway(old, GOAWAY_REPLACED, 0);
	}
	/* Other nodes: revocations and calls of the ID reach this one
	 * while it has a conn here; its presence elsewhere goes. */
	if (head == NULL)
		store_subscribe(srv->store, c->id);
	if (presence)
		bus_present(srv, c->id);
	c->id_next = presence_conns(srv, c->id);
	table_set(srv->presence, c->id, c);
	return (0);
}

/* Take c out of the online conns of its ID. */
void
presence_remove(struct server *srv, struct conn *c)
{
	struct conn	*head, **pp;

	head = presence_conns(srv, c->id);
	for (pp = &head; *pp != NULL; pp = &(*pp)->id_next) {
		if (*pp == c) {
			*pp = c->id_next;
			break;
		}
	}
	c->id_next = NULL;
	if (head == NULL) {
		table_del(srv->presence, c->id);
		store_unsubscribe(srv->store, c->id);
	} else
		table_set(srv->presence, c->id, head);
}
