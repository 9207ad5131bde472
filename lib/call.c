/*
 * call.c -- calls in libtryst: the caller's CONNECT and its answer, the
 * callee's INCOMING left to the app to accept or decline, the session
 * brought up by race.c (direct, else through the relay), then an
 * ordered, encrypted stream of messages with flow control, and the clean
 * close of §6.3 (each side's CLOSE, the caller's END).
 *
 * The peer's identity key is checked against the contacts file (trust on
 * first use, contacts.c, shared with the CLI): the caller remembers a new
 * key once answered, the callee only when the app accepts, and a changed
 * key is kept as pending and opens no session until it is trusted.
 *
 * Each call is a task. Control messages reach it from presence.c
 * (call_control); everything else happens in its step. A call's handle
 * stays valid for the app until tryst_call_release; the library frees
 * it once it is both released and over.
 */
#include <sys/types.h>
#include <sys/ioctl.h>
#include <sys/socket.h>

#include <errno.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "lib.h"

#define CALL_ANSWER_MS	330000	/* above the largest call_timeout_s */
#define CALL_CLOSE_MS	30000	/* for the peer's CLOSE, from the last
				   time our output moved */
#define CALL_ENDED_MS	2000	/* for what is in flight after ENDED */
#define CALL_SETTLE_MS	1000	/* at most, for the router's mapping */
#define CALL_QUEUE_MAX	(256 * 1024)	/* output queued at most */
#define CALL_KEY_CHANGED "the peer's key changed; compare safety numbers " \
	"and trust it"

_Static_assert(CONTACT_KNOWN == TRYST_PEER_KNOWN &&
    CONTACT_NEW == TRYST_PEER_NEW && CONTACT_CHANGED == TRYST_PEER_CHANGED,
    "contacts_state's answers are tryst_call_peer_trust's");

struct tryst_call {
	struct tryst	*t;
	struct tryst_call *next;	/* t->calls */
	struct task	*k;
	int		 state;		/* TRYST_CALL_*; set_state writes it */
	int		 initiator;	/* we called */
	unsigned	 flags;		/* TRYST_CALL_RELAY_ONLY */
	int		 released;	/* the app let go of the handle */
	int		 ended_by_server; /* ENDED came, or it never began */
	struct tryst_error *why;	/* how it ended; NULL: cleanly */
	uint8_t		 peer_id[ID_LEN];
	uint8_t		 peer_pk[32];	/* its identity key, credential's */
	int		 trust;		/* TRYST_PEER_*; -1 until pk known */
	uint32_t	 tag;		/* our CONNECT's */
	int		 connect_wait;	/* CONNECT waits for the mapping */
	uint64_t	 session;
	int64_t		 timer;		/* answer, close; -1 none */
	int64_t		 ended_at;	/* ENDED came while open; or 0 */
	int64_t		 gone_until;	/* hung up ringing: kept until then
					   to END a session an ANSWER makes */
	uint8_t		 ended_why;	/* its why */
	long		 outq;		/* our unsent bytes at the last look */
	struct p2p	 nop;		/* no direct paths: relay only */

	/* INCOMING's, kept until the app accepts. */
	uint8_t		 token[16];
	uint8_t		 offer[PROTO_MAX_OFFER];
	size_t		 offer_len;
	char		 relay_given[PROTO_MAX_RELAY];
	size_t		 relay_len;

	/* Coming up, then up. */
	struct hsinfo	 hi;
	struct cand	 peer[OFFER_MAX_CANDS];
	int		 npeer;
	struct race	*race;
	int		 up;
	struct session	 s;
	int		 fd;		/* direct path */
	struct nconn	*relay;		/* relayed path */
	char		 path[80];	/* "direct ADDR:PORT", "relay" */
	uint8_t		*out;		/* sealed messages not yet written */
	size_t		 outlen, outsize;
	int		 close_sent, close_got;
	int		 close_wanted;	/* once the files have gone */
	int		 want_writable;
	struct file_tx	*txq;		/* files to send */
	struct file_rx	*rx;		/* where files go, or NULL */

	tryst_call_state_fn state_fn;
	void		*state_user;
	tryst_message_fn msg_fn;
	void		*msg_user;
	tryst_writable_fn writable_fn;
	void		*writable_user;
};

/* The only writer of call->state: tell the app. e is consumed. */
static void
set_state(struct tryst_call *c, int state, struct tryst_error *e)
{
	if (c->state == TRYST_CALL_ENDED) {
		tryst_error_free(e);
		return;
	}
	c->state = state;
	if (state == TRYST_CALL_ENDED && e != NULL && c->why == NULL) {
		c->why = e;
		e = NULL;
	}
	if (c->state_fn != NULL)
		c->state_fn(c, state, state == TRYST_CALL_ENDED ? c->why : e,
		    c->state_user);
	tryst_error_free(e);
}

/* End the call for us, with why (NULL: a clean end). */
static void
end(struct tryst_call *c, struct tryst_error *why)
{
	struct msg	 m;

	if (c->state == TRYST_CALL_ENDED) {
		tryst_error_free(why);
		return;
	}
	if (c->session != 0 && !c->ended_by_server &&
	    (c->initiator || why != NULL)) {
		memset(&m, 0, sizeof m);
		m.type = MSG_END;
		m.u.end.session = c->session;
		presence_send(c->t, &m);
	}
	/* Our CONNECT is out and unanswered: the server may still make a
	 * session for it, which call_control then ENDs. */
	if (c->initiator && c->session == 0 && !c->ended_by_server &&
	    c->state == TRYST_CALL_RINGING && !c->connect_wait)
		c->gone_until = c->timer;
	race_free(c->race);
	c->race = NULL;
	file_tx_free(c, why, 0);
	file_rx_free(c, 0);
	set_state(c, TRYST_CALL_ENDED, why);
}

/* The path's socket: direct, or the relay connection's. */
static int
path_fd(const struct tryst_call *c)
{
	return (c->relay != NULL ? nconn_fd(c->relay) : c->fd);
}

/* Queue a session message: kind, then a and b. 0, or -1 (EAGAIN above
 * the window, EMSGSIZE too long). */
int
call_queue(struct tryst_call *c, uint8_t kind, const void *a, size_t alen,
    const void *b, size_t blen)
{
	uint8_t	*pt;
	long	 n;
	size_t	 size, len = alen + blen;

	if (1 + len > SESSION_MAX_PT) {
		errno = EMSGSIZE;
		return (-1);
	}
	if (c->outlen + SESSION_FRAME_MAX > CALL_QUEUE_MAX) {
		errno = EAGAIN;
		return (-1);
	}
	if (c->outsize < c->outlen + SESSION_FRAME_MAX) {
		size = c->outsize == 0 ? 65536 : c->outsize * 2;
		c->out = xrealloc(c->out, size);
		c->outsize = size;
	}
	pt = xmalloc(1 + len);
	pt[0] = kind;
	if (alen > 0)
		memcpy(pt + 1, a, alen);
	if (blen > 0)
		memcpy(pt + 1 + alen, b, blen);
	n = noise_encrypt(&c->s.tx, pt, 1 + len, c->out + c->outlen + 2,
	    SESSION_FRAME_MAX - 2);
	sodium_memzero(pt, 1 + len);
	free(pt);
	if (n < 0) {
		errno = EINVAL;
		return (-1);
	}
	put_u16(c->out + c->outlen, (uint16_t)n);
	c->outlen += 2 + (size_t)n;
	return (0);
}

/* A message of one part. */
static int
queue_msg(struct tryst_call *c, uint8_t kind, const void *data, size_t len)
{
	return (call_queue(c, kind, data, len, NULL, 0));
}

struct file_tx **
call_tx(struct tryst_call *c)
{
	return (&c->txq);
}

struct file_rx **
call_rx(struct tryst_call *c)
{
	return (&c->rx);
}

int
call_closing(const struct tryst_call *c)
{
	return (c->state == TRYST_CALL_ENDED || c->close_sent ||
	    c->close_wanted);
}

/* Write what is queued, as much as the path takes. -1 when it broke. */
static int
flush(struct tryst_call *c, int64_t now)
{
	size_t	 n;
	ssize_t	 w;

	while (c->outlen > 0) {
		if (c->relay != NULL) {
			n = NCONN_QUEUE_MAX - nconn_queued(c->relay);
			n = n < c->outlen ? n : c->outlen;
			if (n == 0 || nconn_send_raw(c->relay, c->out, n) != 0)
				break;
			w = (ssize_t)n;
		} else {
			w = send(c->fd, c->out, c->outlen, MSG_NOSIGNAL |
			    MSG_DONTWAIT);
			if (w == -1 && (errno == EAGAIN || errno == EINTR))
				break;
			if (w <= 0)
				return (-1);
		}
		memmove(c->out, c->out + w, c->outlen - (size_t)w);
		c->outlen -= (size_t)w;
	}
	if (c->relay != NULL)
		nconn_step(c->relay, now);
	return (c->relay != NULL && nconn_state(c->relay) == NCONN_FAILED ?
	    -1 : 0);
}

/* Bytes queued for the peer, ours and the relay connection's. */
static size_t
queued(const struct tryst_call *c)
{
	return (c->outlen + (c->relay != NULL ? nconn_queued(c->relay) : 0));
}

/* One message from the peer. 1 when the session is over (cleanly). */
static int
deliver(struct tryst_call *c, const uint8_t *p, size_t len)
{
	switch (p[0]) {
	case KIND_TEXT:
		if (c->msg_fn != NULL)
			c->msg_fn(c, p + 1, len - 1, c->msg_user);
		return (0);
	case KIND_CLOSE:
		/* Ours goes out from open_step: after the file being sent,
		 * and when the window is full, once there is room. */
		c->close_got = 1;
		c->close_wanted = 1;
		return (1);
	case KIND_FILE_OFFER:
	case KIND_FILE_DATA:
	case KIND_FILE_END:
		if (file_rx_msg(c, p[0], p + 1, len - 1) == 0)
			return (0);
		/* Never confirm a file this side did not keep: no CLOSE. */
		end(c, lib_err(TRYST_EINVAL, c->rx == NULL ? "the peer sent "
		    "a file, which this app does not take" : "a file from "
		    "the peer was refused"));
		return (-1);
	default:
		return (0);	/* a kind of a later version */
	}
}

/* Read and decrypt what the path has. -1 when the session broke. */
static int
take_input(struct tryst_call *c)
{
	uint8_t	 buf[16384];
	char	*cause = NULL;
	long	 n;
	int	 r;

	if (c->close_got)
		return (0);	/* the peer said all it had to say */
	for (;;) {
		while ((r = session_take(&c->s, &cause)) == 1) {
			if (deliver(c, c->s.pt, c->s.ptlen) != 0)
				return (0);
		}
		if (r == -1) {
			end(c, lib_err(TRYST_EINVAL, "%s", cause));
			free(cause);
			return (-1);
		}
		n = SESSION_IN_SIZE - c->s.fill;
		n = n < (long)sizeof buf ? n : (long)sizeof buf;
		if (c->relay != NULL)
			n = nconn_read_raw(c->relay, buf, (size_t)n);
		else if ((n = recv(c->fd, buf, (size_t)n, 0)) == -1 &&
		    (errno == EAGAIN || errno == EINTR))
			n = -2;
		if (n == -2)
			return (0);
		if (n <= 0) {
			end(c, lib_err(TRYST_ENET, "the peer closed the "
			    "connection without a goodbye"));
			return (-1);
		}
		session_input(&c->s, buf, (size_t)n);
	}
}

/* The session is up: take it from the race. */
static void
opened(struct tryst_call *c, int64_t now)
{
	if (race_take(c->race, &c->s, &c->fd, &c->relay, c->path,
	    sizeof c->path) != 0) {
		end(c, lib_err(TRYST_ENET, "%s", race_error(c->race)));
		return;
	}
	race_free(c->race);
	c->race = NULL;
	c->up = 1;
	c->timer = -1;
	(void)now;
	set_state(c, TRYST_CALL_OPEN, NULL);
}

/* Has our output moved since the last look: queued here, in the relay
 * connection, or in the kernel? Then the wait for the peer's CLOSE starts
 * again (a slow relay may still hold much of what went out). */
static int
output_moved(struct tryst_call *c, int64_t now)
{
	long	 q = (long)queued(c);
	int	 k;

#ifdef TIOCOUTQ
	if (ioctl(path_fd(c), TIOCOUTQ, &k) == 0)
		q += k;
#else
	(void)k;
#endif
	if (q == c->outq)
		return (0);
	c->outq = q;
	c->timer = now + CALL_CLOSE_MS;
	return (1);
}

/* What ENDED's why says (doc/protocol.md §4). */
static struct tryst_error *
ended_error(uint8_t why)
{
	struct tryst_error	*e;

	switch (why) {
	case 1:
		return (lib_err(TRYST_ENET, "the peer left the call"));
	case 2:
		return (lib_err(TRYST_ENET, "the call was not answered in "
		    "time"));
	case 3:
		e = lib_err(TRYST_ESERVER, "the relay's byte quota for this "
		    "session, or a daily relay budget, was reached");
		e->server_code = ERR_QUOTA;
		return (e);
	default:
		return (lib_err(TRYST_ENET, "the peer ended the call"));
	}
}

/* Say CLOSE now; the wait for the peer's starts. */
static int
send_close(struct tryst_call *c, int64_t now)
{
	if (queue_msg(c, KIND_CLOSE, NULL, 0) != 0)
		return (-1);
	c->close_sent = 1;
	c->timer = now + CALL_CLOSE_MS;
	c->outq = -1;
	return (0);
}

/* One pass over an open session. */
static void
open_step(struct tryst_call *c, int64_t now)
{
	size_t	 before = queued(c);

	if (take_input(c) != 0 || c->state == TRYST_CALL_ENDED)
		return;
	if (c->outlen < CALL_QUEUE_MAX / 2 && file_tx_pump(c) != 0) {
		end(c, lib_err(TRYST_EIO, "a file could not be sent"));
		return;
	}
	if (c->close_wanted && !c->close_sent && !file_tx_pending(c))
		send_close(c, now);
	if (flush(c, now) != 0) {
		end(c, lib_err(TRYST_ENET, "the path to the peer broke"));
		return;
	}
	if (c->close_sent && c->close_got && queued(c) == 0) {
		end(c, NULL);
		return;
	}
	if (c->close_sent && !output_moved(c, now) && now >= c->timer) {
		end(c, lib_err(TRYST_ENET, "the peer did not say goodbye"));
		return;
	}
	if (c->ended_at != 0 && now >= c->ended_at + CALL_ENDED_MS) {
		end(c, ended_error(c->ended_why));
		return;
	}
	if (c->want_writable && before >= CALL_QUEUE_MAX / 2 &&
	    queued(c) < CALL_QUEUE_MAX / 2) {
		c->want_writable = 0;
		if (c->writable_fn != NULL)
			c->writable_fn(c, c->writable_user);
	}
}

/* Send our CONNECT with our candidates (none with TRYST_CALL_RELAY_ONLY,
 * or without direct paths); the wait for the answer starts. */
static int
send_connect(struct tryst_call *c)
{
	const struct p2p	*p = presence_p2p(c->t);
	struct msg		 m;
	uint8_t			 offer[PROTO_MAX_OFFER];

	memset(&m, 0, sizeof m);
	m.type = MSG_CONNECT;
	m.u.connect.tag = c->tag;
	memcpy(m.u.connect.target_id, c->peer_id, ID_LEN);
	m.u.connect.offer.p = offer;
	m.u.connect.offer.len = (c->flags & TRYST_CALL_RELAY_ONLY) ||
	    p == NULL ? 0 : (uint16_t)p2p_offer(p, offer, sizeof offer);
	if (presence_send(c->t, &m) != 0)
		return (-1);
	c->connect_wait = 0;
	c->timer = c->t->now() + CALL_ANSWER_MS;
	return (0);
}

/* A call's pass. 1 when it can be freed. */
static int
call_step(struct tryst *t, struct task *k, int64_t now)
{
	struct tryst_call	*c = k->data;
	enum race_state		 r;

	switch (c->state) {
	case TRYST_CALL_RINGING:
		if (c->connect_wait && (!presence_settling(t) ||
		    now >= c->timer)) {
			if (send_connect(c) != 0)
				end(c, lib_err(TRYST_ENET, "lost the "
				    "connection to the server"));
		} else if (c->timer != -1 && now >= c->timer)
			end(c, lib_err(TRYST_ENET, "no answer"));
		break;
	case TRYST_CALL_CONNECTING:
		if (c->race == NULL)
			break;
		if ((r = race_step(c->race, now)) == RACE_UP)
			opened(c, now);
		else if (r == RACE_FAILED)
			end(c, lib_err(TRYST_ENET, "%s", race_error(c->race)));
		break;
	case TRYST_CALL_OPEN:
		open_step(c, now);
		break;
	}
	return (c->state == TRYST_CALL_ENDED && c->released &&
	    (c->gone_until == 0 || now >= c->gone_until));
}

/* The descriptors a call waits on. */
static int
call_fds(const struct task *k, struct pollfd *pfd, int max)
{
	const struct tryst_call	*c = k->data;
	unsigned		 ev;
	int			 more;

	if (c->race != NULL)
		return (race_fds(c->race, pfd, max));
	if (c->state != TRYST_CALL_OPEN || max < 1)
		return (0);
	/* Files to send wait for room, as what is queued does; after the
	 * peer's CLOSE nothing is read, so what follows it must not wake
	 * the loop. */
	more = c->outlen > 0 || c->txq != NULL;
	pfd[0].fd = path_fd(c);
	if (c->relay != NULL) {
		ev = nconn_events(c->relay) | (c->close_got ? 0 : NCONN_READ);
		pfd[0].events = (short)(((ev & NCONN_READ) ? POLLIN : 0) |
		    ((ev & NCONN_WRITE) || more ? POLLOUT : 0));
	} else
		pfd[0].events = (short)((c->close_got ? 0 : POLLIN) |
		    (more ? POLLOUT : 0));
	return (1);
}

/* When a call must be stepped at the latest. */
static int64_t
call_deadline(const struct task *k)
{
	const struct tryst_call	*c = k->data;
	int64_t			 d, e;

	if (c->race != NULL)
		return (race_deadline(c->race));
	d = c->timer;
	if (c->ended_at != 0 && (d == -1 || c->ended_at + CALL_ENDED_MS < d))
		d = c->ended_at + CALL_ENDED_MS;
	if (c->relay != NULL && (e = nconn_deadline(c->relay)) != -1 &&
	    (d == -1 || e < d))
		d = e;
	return (d);
}

/* Free a call with its task. */
static void
call_free(struct task *k)
{
	struct tryst_call	*c = k->data, **cp;

	for (cp = &c->t->calls; *cp != NULL; cp = &(*cp)->next) {
		if (*cp == c) {
			*cp = c->next;
			break;
		}
	}
	race_free(c->race);
	file_tx_free(c, NULL, 1);
	file_rx_free(c, 1);
	if (c->up) {
		c->s.path.fd = -1;
		c->s.path.relay = NULL;
		session_close(&c->s);
	}
	if (c->fd != -1)
		close(c->fd);
	nconn_free(c->relay);
	sodium_memzero(&c->hi, sizeof c->hi);
	if (c->out != NULL)
		sodium_memzero(c->out, c->outsize);
	free(c->out);
	tryst_error_free(c->why);
	free(c);
}

/* A new call of t. */
static struct tryst_call *
call_new(struct tryst *t, int initiator)
{
	struct tryst_call	*c = xcalloc(1, sizeof *c);

	c->t = t;
	c->initiator = initiator;
	c->fd = -1;
	c->timer = -1;
	c->trust = -1;
	c->state = TRYST_CALL_RINGING;
	c->k = lib_task_add(t, call_step, c, call_free);
	c->k->fds = call_fds;
	c->k->deadline = call_deadline;
	c->next = t->calls;
	t->calls = c;
	return (c);
}

/* The peer's credential (from ANSWER or INCOMING), checked against the
 * server's key and, for the caller, the ID called. */
static int
check_peer(struct tryst_call *c, const struct vb *v)
{
	struct cred	 cr;

	if (cred_verify(v->p, v->len, c->t->sign_pk, &cr) != 0 ||
	    (c->initiator && memcmp(cr.id, c->peer_id, ID_LEN) != 0))
		return (-1);
	memcpy(c->peer_id, cr.id, ID_LEN);
	memcpy(c->peer_pk, cr.identity_pk, 32);
	return (0);
}

/* The caller's check of the key that answered: remembered when it is
 * the first, kept as pending when it changed (the call then ends). -1
 * when the call ended. */
static int
caller_trust(struct tryst_call *c)
{
	char	*cause;

	c->trust = contacts_state(c->t->blobs, c->peer_id, c->peer_pk);
	if (contacts_check(c->t->blobs, c->peer_id, c->peer_pk, &cause) == -1) {
		end(c, lib_err(TRYST_EIO, "%s", cause));
		free(cause);
		return (-1);
	}
	if (c->trust == TRYST_PEER_CHANGED) {
		end(c, lib_err(TRYST_EKEY, CALL_KEY_CHANGED));
		return (-1);
	}
	return (0);
}

/* The callee's check as the app accepts: a changed key must have been
 * trusted since; a new one is remembered now, not before (declining an
 * unknown caller stores nothing). 0, or a TRYST_E* code. */
static int
accept_trust(struct tryst_call *c, tryst_error **err)
{
	struct tryst_error	*e;
	char			*cause;

	switch (contacts_state(c->t->blobs, c->peer_id, c->peer_pk)) {
	case CONTACT_CHANGED:
		return (lib_err_give(lib_err(TRYST_EKEY, CALL_KEY_CHANGED),
		    err));
	case CONTACT_NEW:
		if (contacts_check(c->t->blobs, c->peer_id, c->peer_pk,
		    &cause) == -1) {
			e = lib_err(TRYST_EIO, "%s", cause);
			free(cause);
			return (lib_err_give(e, err));
		}
		break;
	}
	return (0);
}

/* Log the peer's candidates (tryst -v shows them). */
static void
log_cands(struct tryst_call *c)
{
	char	 name[TRYST_NUMBER_MAX + 16], a[64];
	int	 i;

	if (log_get_level() < LOG_DEBUG)
		return;
	ids_name(c->t->blobs, c->peer_id, name, sizeof name);
	if (c->npeer == 0)
		log_debug("%s offers no candidates: relay only", name);
	for (i = 0; i < c->npeer; i++) {
		path_cand_str(&c->peer[i], a, sizeof a);
		log_debug("%s offers %s", name, a);
	}
}

/* Fill in the handshake's binding and start the race. */
static void
start_race(struct tryst_call *c, const struct vb *offer,
    const uint8_t token[16], const struct vb *relay)
{
	struct race_cfg	 cfg;
	char		*cause = NULL, given[PROTO_MAX_RELAY + 1];
	size_t		 len;

	memset(&c->hi, 0, sizeof c->hi);
	c->hi.session = c->session;
	memcpy(c->initiator ? c->hi.caller_id : c->hi.callee_id,
	    presence_id(c->t), ID_LEN);
	memcpy(c->initiator ? c->hi.callee_id : c->hi.caller_id, c->peer_id,
	    ID_LEN);
	if (session_keys(&c->hi, presence_sk(c->t), c->peer_pk) != 0) {
		end(c, lib_err(TRYST_EINVAL, "the peer's identity key cannot "
		    "be used"));
		return;
	}
	if (offer->len == 0 || offer_decode(offer->p, offer->len, c->peer,
	    &c->npeer) != 0)
		c->npeer = 0;
	log_cands(c);
	memset(&cfg, 0, sizeof cfg);
	cfg.initiator = c->initiator;
	cfg.hi = &c->hi;
	cfg.p = presence_p2p(c->t);
	cfg.relay_only = (c->flags & TRYST_CALL_RELAY_ONLY) != 0;
	if (cfg.p == NULL) {
		p2p_init(&c->nop);
		cfg.p = &c->nop;
		cfg.relay_only = 1;
	}
	memcpy(cfg.relay_token, token, 16);
	memcpy(cfg.sign_pk, c->t->sign_pk, 32);
	len = relay->len < sizeof given - 1 ? relay->len : sizeof given - 1;
	if (len > 0)			/* tryst/1: none, p NULL */
		memcpy(given, relay->p, len);
	given[len] = '\0';
	if (servers_relay_at(len > 0 ? given : NULL, presence_hostport(c->t),
	    cfg.relay_at, sizeof cfg.relay_at, &cause) != 0) {
		free(cause);
		cfg.relay_at[0] = '\0';
	} else
		log_debug("relay at %s", cfg.relay_at);
	c->race = race_new(&cfg, c->peer, c->npeer, c->t->now());
	c->timer = -1;
	set_state(c, TRYST_CALL_CONNECTING, NULL);
}

/* ANSWER, DECLINED or an ERROR about our CONNECT. */
static void
caller_control(struct tryst_call *c, const struct msg *m)
{
	struct tryst_error	*e;

	if (m->type == MSG_DECLINED) {
		c->ended_by_server = 1;
		end(c, lib_err(TRYST_ESERVER, "declined%s",
		    m->u.declined.reason == 1 ? " (busy)" :
		    m->u.declined.reason == 2 ? " (rejected)" : ""));
		return;
	}
	if (m->type == MSG_ERROR) {
		e = m->u.error.code == ERR_OFFLINE ? lib_err(TRYST_ESERVER,
		    "the peer is not online") : m->u.error.code ==
		    ERR_TIMEOUT ? lib_err(TRYST_ESERVER, "the peer did not "
		    "answer") : lib_err_server(m);
		e->server_code = m->u.error.code;	/* before the callback */
		c->ended_by_server = 1;
		end(c, e);
		return;
	}
	c->session = m->u.answer.session;
	if (check_peer(c, &m->u.answer.callee_credential) != 0) {
		end(c, lib_err(TRYST_EKEY, "the peer answered with a "
		    "credential the server did not sign for it"));
		return;
	}
	if (caller_trust(c) != 0)
		return;
	start_race(c, &m->u.answer.answer, m->u.answer.relay_token,
	    &m->u.answer.relay);
}

/* INCOMING: a call for the app to accept or decline. */
static void
incoming(struct tryst *t, const struct msg *m)
{
	struct tryst_call	*c;
	struct msg		 out;
	char			*cause;
	int			 r;

	c = call_new(t, 0);
	c->session = m->u.incoming.session;
	if ((r = check_peer(c, &m->u.incoming.caller_credential)) != 0)
		lib_notice(t, "declined a call with a credential that does "
		    "not verify");
	if (r != 0 || t->incoming_fn == NULL) {
		memset(&out, 0, sizeof out);
		out.type = MSG_DECLINE;
		out.u.decline.session = c->session;
		out.u.decline.reason = t->incoming_fn == NULL ? 1 : 2;
		presence_send(t, &out);
		c->released = 1;
		c->session = 0;
		end(c, lib_err(TRYST_ESERVER, "declined"));
		return;
	}
	/* A changed key is kept as pending now, so that it can be trusted;
	 * a new one waits for the app's word. */
	c->trust = contacts_state(t->blobs, c->peer_id, c->peer_pk);
	if (c->trust == TRYST_PEER_CHANGED && contacts_check(t->blobs,
	    c->peer_id, c->peer_pk, &cause) == -1) {
		lib_notice(t, "%s", cause);
		free(cause);
	}
	memcpy(c->token, m->u.incoming.relay_token, 16);
	c->offer_len = m->u.incoming.offer.len;
	if (c->offer_len > 0)
		memcpy(c->offer, m->u.incoming.offer.p, c->offer_len);
	c->relay_len = m->u.incoming.relay.len;	/* tryst/1: none, p NULL */
	if (c->relay_len > 0)
		memcpy(c->relay_given, m->u.incoming.relay.p, c->relay_len);
	t->incoming_fn(t, c, t->incoming_user);
}

/* A control message for the calls; see lib.h. */
void
call_control(struct tryst *t, const struct msg *m)
{
	struct tryst_call	*c;
	struct msg		 out;

	if (m->type == MSG_INCOMING) {
		incoming(t, m);
		return;
	}
	for (c = t->calls; c != NULL; c = c->next) {
		if (c->state == TRYST_CALL_ENDED && c->gone_until != 0 &&
		    m->type == MSG_ANSWER && m->u.answer.tag == c->tag) {
			memset(&out, 0, sizeof out);	/* we hung up */
			out.type = MSG_END;
			out.u.end.session = m->u.answer.session;
			presence_send(t, &out);
			c->gone_until = 0;
			lib_due(t);
			return;
		}
		if (c->state == TRYST_CALL_ENDED)
			continue;
		if (c->initiator && c->session == 0 && ((m->type ==
		    MSG_ANSWER && m->u.answer.tag == c->tag) || (m->type ==
		    MSG_DECLINED && m->u.declined.tag == c->tag) ||
		    (m->type == MSG_ERROR && m->u.error.ref_type ==
		    MSG_CONNECT && m->u.error.ref == c->tag))) {
			caller_control(c, m);
			return;
		}
		if (c->session != 0 && m->type == MSG_ENDED &&
		    m->u.ended.session == c->session) {
			/* Open directly, the path may outlive the server's
			 * part; through the relay, what is in flight gets
			 * CALL_ENDED_MS to arrive. */
			c->ended_by_server = 1;
			if (c->state != TRYST_CALL_OPEN)
				end(c, ended_error(m->u.ended.why));
			else if (c->relay != NULL && c->ended_at == 0) {
				c->ended_at = t->now();
				c->ended_why = m->u.ended.why;
				lib_due(t);
			}
			return;
		}
	}
}

/* The control connection was lost: calls not yet up cannot go on. */
void
call_control_lost(struct tryst *t)
{
	struct tryst_call	*c;

	for (c = t->calls; c != NULL; c = c->next) {
		if (c->state == TRYST_CALL_RINGING ||
		    c->state == TRYST_CALL_CONNECTING) {
			c->ended_by_server = 1;
			end(c, lib_err(TRYST_ENET, "lost the connection to the "
			    "server"));
		}
	}
}

/* id's key pk is trusted now (tryst_trust): its calls are known. */
void
call_trusted(struct tryst *t, const uint8_t id[ID_LEN], const uint8_t pk[32])
{
	struct tryst_call	*c;

	for (c = t->calls; c != NULL; c = c->next) {
		if (c->trust != -1 && memcmp(c->peer_id, id, ID_LEN) == 0 &&
		    memcmp(c->peer_pk, pk, 32) == 0)
			c->trust = TRYST_PEER_KNOWN;
	}
}

/* tryst_destroy: no callback from here on. */
void
call_silence(struct tryst *t)
{
	struct tryst_call	*c;

	for (c = t->calls; c != NULL; c = c->next) {
		c->state_fn = NULL;
		c->msg_fn = NULL;
		c->writable_fn = NULL;
		c->released = 1;
	}
	t->incoming_fn = NULL;
}

/* ---- the API ----------------------------------------------------------- */

int
tryst_call(tryst_t *t, const char *peer_id_hex, unsigned flags,
    tryst_call_t **out, tryst_error **err)
{
	struct tryst_call	*c;
	uint8_t			 id[ID_LEN];

	if (peer_id_hex == NULL || hex_decode(id, ID_LEN, peer_id_hex) != 0)
		return (lib_err_give(lib_err(TRYST_EINVAL, "not an account ID "
		    "(64 hex digits)"), err));
	if (presence_status(t) != TRYST_ONLINE)
		return (lib_err_give(lib_err(TRYST_ESTATE, "not online"), err));
	if (memcmp(id, presence_id(t), ID_LEN) == 0)
		return (lib_err_give(lib_err(TRYST_EINVAL, "that is this "
		    "device's own account"), err));
	c = call_new(t, 1);
	c->flags = flags;
	memcpy(c->peer_id, id, ID_LEN);
	c->tag = ++t->last_tag;
	if (!(flags & TRYST_CALL_RELAY_ONLY) && presence_settling(t)) {
		c->connect_wait = 1;
		c->timer = t->now() + CALL_SETTLE_MS;
	} else if (send_connect(c) != 0) {
		c->released = 1;
		end(c, NULL);
		return (lib_err_give(lib_err(TRYST_ENET, "cannot send CONNECT"),
		    err));
	}
	*out = c;
	return (0);
}

void
tryst_on_incoming(tryst_t *t, tryst_incoming_fn fn, void *user)
{
	t->incoming_fn = fn;
	t->incoming_user = user;
}

/* Accept an incoming call: our candidates go out now, not before. */
int
tryst_call_accept(tryst_call_t *c, unsigned flags, tryst_error **err)
{
	struct msg	 m;
	struct vb	 offer, relay;
	uint8_t		 answer[PROTO_MAX_OFFER];
	int		 r;

	lib_due(c->t);
	if (c->initiator || c->state != TRYST_CALL_RINGING || c->race != NULL)
		return (lib_err_give(lib_err(TRYST_ESTATE, "not a call that "
		    "is ringing here"), err));
	if ((r = accept_trust(c, err)) != 0)
		return (r);
	c->flags = flags;
	memset(&m, 0, sizeof m);
	m.type = MSG_ACCEPT;
	m.u.accept.session = c->session;
	m.u.accept.answer.p = answer;
	m.u.accept.answer.len = (flags & TRYST_CALL_RELAY_ONLY) ? 0 :
	    (uint16_t)p2p_offer(presence_p2p(c->t), answer, sizeof answer);
	if (presence_send(c->t, &m) != 0)
		return (lib_err_give(lib_err(TRYST_ENET, "not online"), err));
	offer.p = c->offer;
	offer.len = (uint16_t)c->offer_len;
	relay.p = (const uint8_t *)c->relay_given;
	relay.len = (uint16_t)c->relay_len;
	start_race(c, &offer, c->token, &relay);
	return (0);
}

/* DECLINE with reason (1 busy, 2 rejected). */
static int
decline(tryst_call_t *c, uint8_t reason, tryst_error **err)
{
	struct msg	 m;

	lib_due(c->t);
	if (c->initiator || c->state != TRYST_CALL_RINGING)
		return (lib_err_give(lib_err(TRYST_ESTATE, "not a call that "
		    "is ringing here"), err));
	memset(&m, 0, sizeof m);
	m.type = MSG_DECLINE;
	m.u.decline.session = c->session;
	m.u.decline.reason = reason;
	presence_send(c->t, &m);
	c->session = 0;		/* nothing more to say to the server */
	end(c, NULL);
	return (0);
}

int
tryst_call_decline(tryst_call_t *c, tryst_error **err)
{
	return (decline(c, 2, err));
}

int
tryst_call_decline_busy(tryst_call_t *c, tryst_error **err)
{
	return (decline(c, 1, err));
}

void
tryst_call_on_state(tryst_call_t *c, tryst_call_state_fn fn, void *user)
{
	c->state_fn = fn;
	c->state_user = user;
}

void
tryst_call_on_message(tryst_call_t *c, tryst_message_fn fn, void *user)
{
	c->msg_fn = fn;
	c->msg_user = user;
}

void
tryst_call_on_writable(tryst_call_t *c, tryst_writable_fn fn, void *user)
{
	c->writable_fn = fn;
	c->writable_user = user;
}

/* Queue one message; TRYST_EAGAIN above the window. */
int
tryst_call_send(tryst_call_t *c, const void *data, size_t len,
    tryst_error **err)
{
	lib_due(c->t);
	if (c->state != TRYST_CALL_OPEN || call_closing(c))
		return (lib_err_give(lib_err(TRYST_ESTATE, "the session is not "
		    "open"), err));
	if (queue_msg(c, KIND_TEXT, data, len) != 0) {
		if (errno == EAGAIN) {
			c->want_writable = 1;
			return (lib_err_give(lib_err(TRYST_EAGAIN, "the "
			    "window is full; wait for on_writable"), err));
		}
		return (lib_err_give(lib_err(TRYST_EINVAL, "a message is at "
		    "most %d bytes", SESSION_MAX_PT - 1), err));
	}
	flush(c, c->t->now());
	return (0);
}

/* Say goodbye: ENDED comes when the peer has said it too. */
int
tryst_call_close(tryst_call_t *c)
{
	lib_due(c->t);
	if (c->state == TRYST_CALL_ENDED)
		return (0);
	if (c->state != TRYST_CALL_OPEN) {
		end(c, lib_err(TRYST_ECANCELED, "hung up"));
		return (0);
	}
	c->close_wanted = 1;	/* CLOSE goes after the files */
	if (!c->close_sent && !file_tx_pending(c) &&
	    send_close(c, c->t->now()) == 0)
		flush(c, c->t->now());
	return (0);
}

/* The app is done with the handle. */
void
tryst_call_release(tryst_call_t *c)
{
	if (c == NULL)
		return;
	lib_due(c->t);
	if (c->state != TRYST_CALL_ENDED) {
		c->state_fn = NULL;
		c->msg_fn = NULL;
		c->writable_fn = NULL;
		end(c, lib_err(TRYST_ECANCELED, "released"));
	}
	c->released = 1;
}

int
tryst_call_state(const tryst_call_t *c)
{
	return (c->state);
}

int
tryst_call_is_caller(const tryst_call_t *c)
{
	return (c->initiator);
}

char *
tryst_call_peer_id(const tryst_call_t *c)
{
	char	*hex = xmalloc(2 * ID_LEN + 1);

	hex_encode(hex, c->peer_id, ID_LEN);
	return (hex);
}

char *
tryst_call_path(const tryst_call_t *c)
{
	return (c->state == TRYST_CALL_OPEN || c->up ? xstrdup(c->path) :
	    NULL);
}

const tryst_error *
tryst_call_error(const tryst_call_t *c)
{
	return (c->why);
}

int
tryst_call_peer_trust(const tryst_call_t *c)
{
	return (c->trust != -1 ? c->trust : TRYST_ESTATE);
}

char *
tryst_call_safety_number(const tryst_call_t *c, tryst_error **err)
{
	char	 sn[36], *cause;

	if (c->trust == -1) {
		lib_err_give(lib_err(TRYST_ESTATE, "the peer's key is not "
		    "known yet (the call is not answered)"), err);
		return (NULL);
	}
	if (contacts_safety(c->t->blobs, c->t->sign_pk, c->peer_pk, sn,
	    &cause) != 0) {
		lib_err_give(lib_err(TRYST_ESTATE, "%s", cause), err);
		free(cause);
		return (NULL);
	}
	return (xstrdup(sn));
}
