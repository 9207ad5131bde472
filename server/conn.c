/*
 * conn.c -- client connections: TLS once the first bytes arrive,
 * CHALLENGE, output, timeouts, the state machine (conn_set_state, the
 * only writer of c->state) and the one way a connection ends (conn_kill).
 * The listener and its limits are in accept.c; frames are read and
 * dispatched in frames.c.
 */
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <netinet/tcp.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <event2/bufferevent_ssl.h>
#include <sodium.h>

#include "server.h"

#define DRAIN_S		5	/* output of a killed connection */
#define TLS_HANDSHAKE	0x16	/* the first byte of a ClientHello */
#define TLS_HEADER	5	/* type, version, length of a record */
#define TLS_RECORD_MAX	(16384 + 2048)	/* the longest a record may be */

_Static_assert(CONN_WAIT == 0, "a zeroed conn is in CONN_WAIT");

static void	conn_timer(evutil_socket_t, short, void *);

/* Each state: its name in the log and the states it may go to. */
static const struct {
	const char	*name;
	unsigned	 next;
} states[CONN_NSTATES] = {
	[CONN_WAIT] = { "wait", CONN_MASK(CONN_TLS) | CONN_MASK(CONN_DEAD) },
	[CONN_TLS] = { "tls", CONN_MASK(CONN_CHALLENGED) |
	    CONN_MASK(CONN_DEAD) },
	[CONN_CHALLENGED] = { "challenged", CONN_MASK(CONN_ANON) |
	    CONN_MASK(CONN_DEAD) },
	[CONN_ANON] = { "anonymous", CONN_MASK(CONN_ONLINE) |
	    CONN_MASK(CONN_RELAY) | CONN_MASK(CONN_DEAD) },
	[CONN_ONLINE] = { "online", CONN_MASK(CONN_DELETING) |
	    CONN_MASK(CONN_DEAD) },
	[CONN_DELETING] = { "deleting", CONN_MASK(CONN_ONLINE) |
	    CONN_MASK(CONN_DEAD) },
	[CONN_RELAY] = { "relay", CONN_MASK(CONN_DEAD) },
	[CONN_DEAD] = { "dead", 0 },
};

/* The list of a connection in state s: those in their handshake wait in
 * lists of their own, oldest first, to be shed when the server is full. */
static struct connlist *
state_list(struct server *srv, enum conn_state s)
{
	if (s == CONN_WAIT)
		return (&srv->waiting);
	if (s == CONN_TLS)
		return (&srv->handshaking);
	return (&srv->conns);
}

/* Move c to state s. A change the table does not allow is an impossible
 * state: logged, and c is killed rather than the server. */
void
conn_set_state(struct conn *c, enum conn_state s)
{
	struct server	*srv = c->srv;
	enum conn_state	 old = c->state;
	struct connlist	*from, *to;

	if ((unsigned)s >= CONN_NSTATES ||
	    (states[old].next & CONN_MASK(s)) == 0) {
		log_errx("connection %u: no transition %s -> %s", c->serial,
		    states[old].name, (unsigned)s < CONN_NSTATES ?
		    states[s].name : "?");
		conn_kill(c, "impossible state");
		return;
	}
	log_debug("connection %u: %s -> %s", c->serial, states[old].name,
	    states[s].name);
	from = state_list(srv, old);
	to = state_list(srv, s);
	if (from != to) {
		TAILQ_REMOVE(from, c, entry);
		TAILQ_INSERT_TAIL(to, c, entry);
	}
	c->state = s;
}

/* Arm c's timer to fire after secs seconds. */
void
conn_timer_in(struct conn *c, uint64_t secs)
{
	struct timeval	 tv = { (time_t)secs, 0 };

	evtimer_add(c->timer, &tv);
}

/* Seconds left of c's handshake_timeout_s. */
static uint64_t
handshake_left(const struct conn *c)
{
	uint64_t	 end, now = server_now();

	end = c->accepted + (uint64_t)c->srv->set.handshake_timeout_s;
	return (end > now ? end - now : 0);
}

/* Free a dead connection. */
static void
conn_free(struct conn *c)
{
	struct server	*srv = c->srv;
	struct linger	 reset = { 1, 0 };
	SSL		*ssl;

	/* A reader that stopped reading goes with a reset, so that the
	 * kernel frees what is still queued for it at once instead of
	 * holding it for as long as the reader likes. A handshake that
	 * never finished has nothing to shut down. */
	if (c->bev != NULL) {
		ssl = bufferevent_openssl_get_ssl(c->bev);
		if (c->slow)
			setsockopt(bufferevent_getfd(c->bev), SOL_SOCKET,
			    SO_LINGER, &reset, sizeof reset);
		else if (ssl != NULL && SSL_is_init_finished(ssl))
			SSL_shutdown(ssl);
		bufferevent_free(c->bev);
	}
	event_free(c->timer);
	TAILQ_REMOVE(&srv->conns, c, entry);
	accept_gone(srv, c->addrkey);
	sodium_memzero(c, sizeof *c);
	free(c);
}

/* Free c on a later pass of the loop, or once its last reference goes. */
static void
free_later(struct conn *c)
{
	c->freeing = 1;
	conn_timer_in(c, 0);
}

/* CONN_WAIT ends: its event, which held the socket, becomes c's plain
 * timer again. The socket, which the caller now owns. */
static evutil_socket_t
wait_end(struct conn *c)
{
	evutil_socket_t	 fd = event_get_fd(c->timer);

	event_del(c->timer);
	event_assign(c->timer, c->srv->base, -1, 0, conn_timer, c);
	return (fd);
}

/* End a connection: stop reading, let pending output drain. */
void
conn_kill(struct conn *c, const char *reason)
{
	enum conn_state	 was = c->state;
	struct evbuffer	*out;

	if (was == CONN_DEAD)
		return;
	if (was == CONN_RELAY && c->call != NULL) {
		relay_close(c->srv, c->call);	/* kills c, then its peer */
		return;
	}
	log_debug("connection closed: %s (connection %u)", reason, c->serial);
	if (was == CONN_ONLINE || was == CONN_DELETING) {
		presence_remove(c->srv, c);
		rendezvous_leave(c);
	}
	if (was == CONN_WAIT)
		evutil_closesocket(wait_end(c));
	conn_set_state(c, CONN_DEAD);
	if (c->bev == NULL) {
		free_later(c);
		return;
	}
	bufferevent_disable(c->bev, EV_READ);
	out = bufferevent_get_output(c->bev);
	if (evbuffer_get_length(out) == 0)
		free_later(c);
	else
		conn_timer_in(c, DRAIN_S);
}

/* The peer is gone or broken: nothing can drain. */
static void
conn_drop(struct conn *c, const char *reason)
{
	conn_kill(c, reason);
	free_later(c);
}

/* Take a reference for asynchronous work. */
void
conn_ref(struct conn *c)
{
	c->refs++;
}

/* Drop a reference. May free c. 1 if c is alive and usable. */
int
conn_unref(struct conn *c)
{
	if (--c->refs > 0 || c->state != CONN_DEAD)
		return (c->state != CONN_DEAD);
	if (c->freeing && !evtimer_pending(c->timer, NULL))
		conn_free(c);
	return (0);
}

/* Send a message; a client that does not read is killed. */
void
conn_send(struct conn *c, const struct msg *m)
{
	struct server	*srv = c->srv;
	struct evbuffer	*out;
	struct msg	 vm = *m;
	size_t		 n;

	if (c->state == CONN_DEAD || c->bev == NULL)
		return;
	vm.version = c->v2 ? 2 : 1;
	if ((n = proto_encode(&vm, srv->out, sizeof srv->out)) == 0) {
		/* Killed from the timer, as a slow reader: a caller may be
		 * walking calls that a kill here would free. */
		log_errx("cannot encode %s", proto_type_name(m->type));
		c->slow = 1;
		conn_timer_in(c, 0);
		return;
	}
	out = bufferevent_get_output(c->bev);
	if (c->slow)
		return;
	if (evbuffer_get_length(out) + n > (size_t)srv->set.max_output_bytes) {
		/* Killed from the timer, never inside a caller's loop. */
		c->slow = 1;
		conn_timer_in(c, 0);
		return;
	}
	bufferevent_write(c->bev, srv->out, n);
}

/* Send ERROR for a request. */
void
conn_error(struct conn *c, uint8_t ref_type, uint64_t ref, uint16_t code,
    uint32_t retry_after_s, const char *message)
{
	struct stats	*st = &c->srv->stats;
	struct msg	 m = { .type = MSG_ERROR };

	if (code <= ERR_MAX) {
		if (ref_type == MSG_REGISTER_BEGIN)
			st->reg_begin[code]++;
		else if (ref_type == MSG_REGISTER_FINISH)
			st->reg_finish[code]++;
		else if (ref_type == MSG_HELLO)
			st->hello[code]++;
	}
	m.u.error.ref_type = ref_type;
	m.u.error.ref = ref;
	m.u.error.code = code;
	m.u.error.retry_after_s = retry_after_s;
	m.u.error.message.p = (const uint8_t *)message;
	m.u.error.message.len = (uint16_t)strlen(message);
	conn_send(c, &m);
}

/* Send GOAWAY and close. */
void
conn_goaway(struct conn *c, uint8_t reason, uint32_t after_s)
{
	struct msg	 m = { .type = MSG_GOAWAY };

	m.u.goaway.reason = reason;
	m.u.goaway.reconnect_after_s = after_s;
	conn_send(c, &m);
	conn_kill(c, "goaway");
}

/* Asynchronous work starts on c's request: read no frame until
 * conn_release, and keep c allocated. */
void
conn_hold(struct conn *c)
{
	c->busy = 1;
	bufferevent_disable(c->bev, EV_READ);
	conn_ref(c);
}

/* The asynchronous work on c's request ended. May free c. 1 if c is
 * alive (and now reads its next frame). */
int
conn_release(struct conn *c)
{
	if (!conn_unref(c))
		return (0);
	conn_done(c);
	return (1);
}

/* A request of c that needs asynchronous work: size bytes, zeroed, and
 * c held until conn_req_end. */
void *
conn_req_new(struct conn *c, size_t size)
{
	conn_hold(c);
	return (xcalloc(1, size));
}

/* End the request r (size bytes) of c: wipe and free it, release c. May
 * free c; 1 if c is alive. */
int
conn_req_end(struct conn *c, void *r, size_t size)
{
	sodium_memzero(r, size);
	free(r);
	return (conn_release(c));
}

/* Answer ERROR for c's request of type (unless c died meanwhile) and end
 * it. */
void
conn_req_fail(struct conn *c, uint8_t type, void *r, size_t size,
    uint16_t code, uint32_t retry_after_s, const char *message)
{
	if (c->state != CONN_DEAD)
		conn_error(c, type, 0, code, retry_after_s, message);
	conn_req_end(c, r, size);
}

/* The request in progress is answered: go on with the next frame. */
void
conn_done(struct conn *c)
{
	if (c->state == CONN_DEAD)
		return;
	c->busy = 0;
	bufferevent_enable(c->bev, EV_READ);
	bufferevent_trigger(c->bev, EV_READ, BEV_TRIG_DEFER_CALLBACKS);
}

/* Online now: the timer measures silence from here on. */
void
conn_idle_timer(struct conn *c)
{
	conn_timer_in(c, (uint64_t)c->srv->set.idle_timeout_s);
}

/* The TLS handshake is done: send CHALLENGE. */
static void
send_challenge(struct conn *c)
{
	struct server	*srv = c->srv;
	struct msg	 m = { .type = MSG_CHALLENGE };

	srv->stats.handshakes++;
	conn_set_state(c, CONN_CHALLENGED);
	if (bufferevent_openssl_get_ssl(c->bev) != NULL)
		c->v2 = tls_version(bufferevent_openssl_get_ssl(c->bev)) == 2;
	randombytes_buf(c->nonce, sizeof c->nonce);
	m.u.challenge.version = 1;
	memcpy(m.u.challenge.nonce, c->nonce, 32);
	m.u.challenge.server_time_ms = server_now_ms();
	memcpy(m.u.challenge.sign_pk, srv->keys->sign_pk, 32);
	tls_sig_make(m.u.challenge.tls_sig, srv->keys, c->nonce,
	    srv->spki_hash);
	conn_send(c, &m);
}

/* Bytes arrived. */
static void
conn_read(struct bufferevent *bev, void *arg)
{
	frames_process(arg);
}

/* Output drained: a killed connection can go. */
static void
conn_write(struct bufferevent *bev, void *arg)
{
	struct conn	*c = arg;

	if (c->state == CONN_DEAD && !c->freeing)
		free_later(c);
}

/* Handshake done, or the peer went away. */
static void
conn_event(struct bufferevent *bev, short what, void *arg)
{
	struct conn	*c = arg;

	if (what & BEV_EVENT_CONNECTED) {
		if (c->state == CONN_TLS)
			send_challenge(c);
		return;
	}
	if (what & (BEV_EVENT_EOF | BEV_EVENT_ERROR))
		conn_drop(c, (what & BEV_EVENT_EOF) ? "eof" : "error");
}

/* The per-connection timer: handshake, lifetime, idle, drain, free. */
static void
conn_timer(evutil_socket_t fd, short ev, void *arg)
{
	struct conn	*c = arg;
	struct server	*srv = c->srv;
	uint64_t	 now = server_now(), idle = (uint64_t)srv->set.idle_timeout_s;

	if (c->slow && c->state != CONN_DEAD) {
		conn_drop(c, "slow reader");
		return;
	}
	switch (c->state) {
	case CONN_DEAD:
		c->freeing = 1;
		if (c->refs == 0)
			conn_free(c);
		return;
	case CONN_RELAY:
		/* Still framed: RELAY_READY never went out. */
		if (c->call != NULL && c->call->relay[!c->relay_side] == NULL)
			conn_error(c, MSG_RELAY_JOIN, c->call->session,
			    ERR_TIMEOUT, 0, "the other party did not join the "
			    "relay in time");
		conn_kill(c, "relay partner never joined");
		return;
	case CONN_WAIT:		/* its event is conn_first_bytes's */
	case CONN_TLS:
	case CONN_CHALLENGED:
		conn_kill(c, "handshake timeout");
		return;
	case CONN_ANON:
		conn_kill(c, "anonymous lifetime");
		return;
	case CONN_ONLINE:
	case CONN_DELETING:
		if (now - c->last_rx >= idle) {
			conn_goaway(c, GOAWAY_IDLE, 0);
			return;
		}
		conn_timer_in(c, idle - (now - c->last_rx));
		return;
	case CONN_NSTATES:
		break;
	}
}

/* A ClientHello is starting: only now does c cost a TLS object and
 * buffers. */
static void
start_tls(struct conn *c)
{
	struct server	*srv = c->srv;
	SSL		*ssl;

	if ((ssl = SSL_new(srv->ssl_ctx)) == NULL) {
		log_errx("SSL_new failed");
		conn_kill(c, "SSL_new");
		return;
	}
	c->bev = bufferevent_openssl_socket_new(srv->base, wait_end(c), ssl,
	    BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (c->bev == NULL)
		fatalx("bufferevent_openssl_socket_new failed");
	conn_set_state(c, CONN_TLS);
	bufferevent_setcb(c->bev, conn_read, conn_write, conn_event, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, PROTO_MAX_FRAME);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	conn_timer_in(c, handshake_left(c));
}

/* CONN_WAIT: new bytes arrived (the event is edge-triggered: bytes left
 * unread raise no new one), or handshake_timeout_s has passed. c stays
 * this small until its first TLS record is whole: only that first record
 * makes it worth an SSL object and buffers, so a peer that sends one byte
 * and stops is as cheap, and as sheddable, as one that sent nothing. A
 * first record that cannot be a ClientHello ends it at once. */
static void
conn_first_bytes(evutil_socket_t fd, short ev, void *arg)
{
	struct conn	*c = arg;
	uint8_t		 h[TLS_HEADER];
	size_t		 len;
	ssize_t		 n;
	int		 avail;

	if ((ev & EV_TIMEOUT) || handshake_left(c) == 0) {
		conn_kill(c, "handshake timeout");
		return;
	}
	n = recv(fd, h, sizeof h, MSG_PEEK);
	if (n == -1 && (errno == EAGAIN || errno == EWOULDBLOCK ||
	    errno == EINTR))
		return;
	if (n <= 0 || h[0] != TLS_HANDSHAKE) {
		conn_kill(c, n == 0 ? "eof" : n > 0 ? "not TLS" : "error");
		return;
	}
	conn_timer_in(c, handshake_left(c));	/* the deadline stands */
	if ((size_t)n < sizeof h)
		return;
	len = (size_t)h[3] << 8 | h[4];
	if (len == 0 || len > TLS_RECORD_MAX) {
		conn_kill(c, "not TLS");
		return;
	}
	if (ioctl(fd, FIONREAD, &avail) == -1 ||
	    (size_t)avail < sizeof h + len)
		return;		/* the rest of the record is on its way */
	start_tls(c);
}

/* A connection accepted (counted against its address key): until its
 * first bytes arrive it is this small struct and one event on its socket,
 * nothing more. */
struct conn *
conn_new(struct server *srv, evutil_socket_t fd, const struct sockaddr *sa,
    socklen_t salen, const uint8_t key[16])
{
	struct conn	*c;
	int		 one = 1;

	/* Small answers go out at once, not after a delayed ACK. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	c = xcalloc(1, sizeof *c);	/* CONN_WAIT */
	c->srv = srv;
	c->serial = ++srv->conn_serial;
	memcpy(&c->addr, sa, salen < sizeof c->addr ? salen : sizeof c->addr);
	memcpy(c->addrkey, key, 16);
	c->accepted = c->last_rx = server_now();
	c->timer = event_new(srv->base, fd, EV_READ | EV_ET | EV_PERSIST,
	    conn_first_bytes, c);
	if (c->timer == NULL)
		fatalx("event_new failed");
	TAILQ_INSERT_TAIL(&srv->waiting, c, entry);
	if (++srv->nconns > srv->conns_peak)
		srv->conns_peak = srv->nconns;
	srv->stats.connections++;
	log_debug("connection %u: accepted", c->serial);
	conn_timer_in(c, (uint64_t)srv->set.handshake_timeout_s);
	return (c);
}

/* Tests only (tests/fuzz/fuzz-server.c): a connection over bev, which is
 * connected and has no TLS (a bufferevent_pair end), as if accepted from
 * sa and past its handshake; it is sent CHALLENGE. The rest of c's life is
 * any connection's: conn_free finds no SSL on bev. */
struct conn *
conn_adopt(struct server *srv, struct bufferevent *bev,
    const struct sockaddr *sa, socklen_t salen)
{
	struct conn	*c;

	c = xcalloc(1, sizeof *c);	/* CONN_WAIT */
	c->srv = srv;
	c->serial = ++srv->conn_serial;
	memcpy(&c->addr, sa, salen < sizeof c->addr ? salen : sizeof c->addr);
	rl_addr_key(sa, c->addrkey);
	c->accepted = c->last_rx = server_now();
	if ((c->timer = evtimer_new(srv->base, conn_timer, c)) == NULL)
		fatalx("evtimer_new failed");
	TAILQ_INSERT_TAIL(&srv->waiting, c, entry);
	if (++srv->nconns > srv->conns_peak)
		srv->conns_peak = srv->nconns;
	srv->stats.connections++;
	c->bev = bev;
	conn_set_state(c, CONN_TLS);
	bufferevent_setcb(bev, conn_read, conn_write, conn_event, c);
	bufferevent_setwatermark(bev, EV_READ, 0, PROTO_MAX_FRAME);
	bufferevent_enable(bev, EV_READ | EV_WRITE);
	conn_timer_in(c, handshake_left(c));
	send_challenge(c);
	return (c);
}

/* Stop accepting and tell every client to go away. */
void
conn_shutdown_all(struct server *srv)
{
	struct conn	*c, *next;
	unsigned	 framed = CONN_MASK(CONN_CHALLENGED) |
	    CONN_MASK(CONN_ANON) | CONN_MASK(CONN_ONLINE) |
	    CONN_MASK(CONN_DELETING);

	accept_stop(srv);
	for (c = TAILQ_FIRST(&srv->waiting); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		conn_kill(c, "shutdown");
	}
	for (c = TAILQ_FIRST(&srv->handshaking); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		conn_kill(c, "shutdown");
	}
	for (c = TAILQ_FIRST(&srv->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (framed & CONN_MASK(c->state))
			conn_goaway(c, GOAWAY_SHUTDOWN, 5);
	}
}

/* Once a minute: the daily seen write of connections online for days, at
 * an offset of the day derived from the ID (PROTOCOL.md §7). */
void
conn_tick(struct server *srv)
{
	struct conn	*c;
	uint64_t	 now = server_now(), today = now / 86400;

	TAILQ_FOREACH(c, &srv->conns, entry) {
		if (c->state != CONN_ONLINE || c->seen_day >= today)
			continue;
		if (now % 86400 >= get_u32(c->id) % 86400)
			auth_touch_seen(c);
	}
}
