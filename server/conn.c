/*
 * conn.c -- client connections: accept with limits, TLS, CHALLENGE,
 * output, timeouts, and the one way a connection ends (conn_kill). Frames
 * are read and dispatched in frames.c.
 */
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

static void	conn_timer(evutil_socket_t, short, void *);

/* Arm c's timer to fire after secs seconds. */
void
conn_timer_in(struct conn *c, uint64_t secs)
{
	struct timeval	 tv = { (time_t)secs, 0 };

	evtimer_add(c->timer, &tv);
}

/* Count a connection against its address; -1 if over the limit. */
static int
ip_add(struct server *srv, const uint8_t key[16])
{
	uintptr_t	 n = (uintptr_t)table_get(srv->per_ip, key);

	if ((long long)n >= srv->set.max_connections_per_ip)
		return (-1);
	table_set(srv->per_ip, key, (void *)(n + 1));
	return (0);
}

/* Forget a connection of an address. */
static void
ip_remove(struct server *srv, const uint8_t key[16])
{
	uintptr_t	 n = (uintptr_t)table_get(srv->per_ip, key);

	if (n <= 1)
		table_del(srv->per_ip, key);
	else
		table_set(srv->per_ip, key, (void *)(n - 1));
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
	 * holding it for as long as the reader likes. */
	if (c->slow)
		setsockopt(bufferevent_getfd(c->bev), SOL_SOCKET, SO_LINGER,
		    &reset, sizeof reset);
	else if ((ssl = bufferevent_openssl_get_ssl(c->bev)) != NULL)
		SSL_shutdown(ssl);
	bufferevent_free(c->bev);
	event_free(c->timer);
	ip_remove(srv, c->addrkey);
	TAILQ_REMOVE(&srv->conns, c, entry);
	srv->nconns--;
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

/* End a connection: stop reading, let pending output drain. */
void
conn_kill(struct conn *c, const char *reason)
{
	struct evbuffer	*out;

	if (c->state == CONN_DEAD)
		return;
	if (c->state == CONN_RELAY && c->call != NULL) {
		relay_close(c->srv, c->call);	/* kills c, then its peer */
		return;
	}
	log_debug("connection closed: %s", reason);
	if (c->state == CONN_ONLINE) {
		presence_remove(c->srv, c);
		rendezvous_leave(c);
	}
	c->state = CONN_DEAD;
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
	size_t		 n;

	if (c->state == CONN_DEAD)
		return;
	if ((n = proto_encode(m, srv->out, sizeof srv->out)) == 0) {
		log_errx("cannot encode %s", proto_type_name(m->type));
		conn_kill(c, "encode");
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
	c->state = CONN_ANON;
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
	case CONN_TLS:
	case CONN_ANON:
		conn_kill(c, c->got_frame ? "anonymous lifetime" :
		    "handshake timeout");
		return;
	case CONN_ONLINE:
		if (now - c->last_rx >= idle) {
			conn_goaway(c, GOAWAY_IDLE, 0);
			return;
		}
		conn_timer_in(c, idle - (now - c->last_rx));
		return;
	}
}

/* Start a connection: TLS over the accepted socket. */
static void
conn_new(struct server *srv, evutil_socket_t fd, const struct sockaddr *sa,
    socklen_t salen, const uint8_t key[16])
{
	struct conn	*c;
	SSL		*ssl;
	int		 one = 1;

	/* Small answers go out at once, not after a delayed ACK. */
	setsockopt(fd, IPPROTO_TCP, TCP_NODELAY, &one, sizeof one);
	if ((ssl = SSL_new(srv->ssl_ctx)) == NULL) {
		log_errx("SSL_new failed");
		evutil_closesocket(fd);
		return;
	}
	c = xcalloc(1, sizeof *c);
	c->srv = srv;
	c->state = CONN_TLS;
	memcpy(&c->addr, sa, salen < sizeof c->addr ? salen : sizeof c->addr);
	memcpy(c->addrkey, key, 16);
	c->accepted = c->last_rx = server_now();
	c->bev = bufferevent_openssl_socket_new(srv->base, fd, ssl,
	    BUFFEREVENT_SSL_ACCEPTING,
	    BEV_OPT_CLOSE_ON_FREE | BEV_OPT_DEFER_CALLBACKS);
	if (c->bev == NULL)
		fatalx("bufferevent_openssl_socket_new failed");
	c->timer = evtimer_new(srv->base, conn_timer, c);
	TAILQ_INSERT_TAIL(&srv->conns, c, entry);
	srv->nconns++;
	srv->stats.connections++;
	bufferevent_setcb(c->bev, conn_read, conn_write, conn_event, c);
	bufferevent_setwatermark(c->bev, EV_READ, 0, PROTO_MAX_FRAME);
	bufferevent_enable(c->bev, EV_READ | EV_WRITE);
	conn_timer_in(c, (uint64_t)srv->set.handshake_timeout_s);
}

/* A TCP connection arrived: limits first, before any TLS work. */
static void
listen_accept(struct evconnlistener *l, evutil_socket_t fd,
    struct sockaddr *sa, int salen, void *arg)
{
	struct server	*srv = arg;
	uint8_t		 key[16];

	rl_addr_key(sa, key);
	if (srv->stopping) {
		evutil_closesocket(fd);
		return;
	}
	if ((long long)srv->nconns >= srv->set.max_connections) {
		srv->stats.rate_limited[RL_CONNECTIONS]++;
		evutil_closesocket(fd);
		return;
	}
	if (ip_add(srv, key) != 0) {
		srv->stats.rate_limited[RL_CONNECTIONS_IP]++;
		evutil_closesocket(fd);
		return;
	}
	conn_new(srv, fd, sa, (socklen_t)salen, key);
}

/* Out of descriptors: pause accepting for a second. */
static void
listen_error(struct evconnlistener *l, void *arg)
{
	struct server	*srv = arg;
	struct timeval	 tv = { 1, 0 };
	int		 e = EVUTIL_SOCKET_ERROR();

	log_warnx("accept: %s; pausing for a second",
	    evutil_socket_error_to_string(e));
	evconnlistener_disable(l);
	evtimer_add(srv->listen_resume, &tv);
}

/* Accept again after a pause. */
static void
listen_resume(evutil_socket_t fd, short ev, void *arg)
{
	struct server	*srv = arg;

	if (!srv->stopping)
		evconnlistener_enable(srv->listener);
}

/* Bind the TLS listener (on listen as settings_load parsed it). */
int
conn_listen(struct server *srv, char **cause)
{
	srv->listener = evconnlistener_new_bind(srv->base, listen_accept, srv,
	    LEV_OPT_CLOSE_ON_FREE | LEV_OPT_REUSEABLE | LEV_OPT_CLOSE_ON_EXEC,
	    1024, (struct sockaddr *)&srv->set.listen_addr,
	    (int)srv->set.listen_len);
	if (srv->listener == NULL) {
		xasprintf(cause, "listen %s: %s", srv->set.listen,
		    strerror(errno));
		return (-1);
	}
	evconnlistener_set_error_cb(srv->listener, listen_error);
	srv->listen_resume = evtimer_new(srv->base, listen_resume, srv);
	return (0);
}

/* Stop accepting and tell every client to go away. */
void
conn_shutdown_all(struct server *srv)
{
	struct conn	*c, *next;

	if (srv->listener != NULL)
		evconnlistener_disable(srv->listener);
	for (c = TAILQ_FIRST(&srv->conns); c != NULL; c = next) {
		next = TAILQ_NEXT(c, entry);
		if (c->state == CONN_ANON || c->state == CONN_ONLINE)
			conn_goaway(c, GOAWAY_SHUTDOWN, 5);
		else if (c->state == CONN_TLS)
			conn_kill(c, "shutdown");
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
