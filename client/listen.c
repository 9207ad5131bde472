/*
 * listen.c -- tryst listen: stay online with PRESENCE, answer calls, print
 * text messages and save files; with --chat, send the lines typed on
 * stdin to the caller of the session in progress. A connect that fails
 * moves on to the next server of the list; when all have failed, the
 * next round waits with back-off and jitter (servers.c). GOAWAY shutdown
 * sends it to another server at once when there is one (§10.3), else
 * after the time it asks for plus up to as much again, as other GOAWAYs
 * do; after GOAWAY replaced or revoked it stops, as §4 asks.
 *
 * P is mapped on the router once per spell (portmap.c), before "online",
 * renewed while it lasts and deleted at its end, so that a call waits for
 * no router. SIGINT, SIGTERM or SIGHUP while it waits for calls ends the
 * spell first, so that the mapping is deleted, and then tryst dies of it.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/socket.h>

#include <err.h>
#include <errno.h>
#include <getopt.h>
#include <poll.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "client.h"

#define IDLE_POLL_MS	1000
#define TYPED_MAX	8192

/* What SIGINT, SIGTERM and SIGHUP did before stop_on_signal. */
static struct {
	int		 sig;
	struct sigaction old;
} stops[] = { { .sig = SIGINT }, { .sig = SIGTERM }, { .sig = SIGHUP } };
static volatile sig_atomic_t	 idle;		/* a spell, outside calls */
static volatile sig_atomic_t	 stop_sig;	/* came while idle */

struct listen_args {
	const char	*dir;
	int		 decline;
	int		 ignore;
	int		 chat;		/* --chat: stdin goes to the caller */
	int		 stdin_open;	/* with chat, until EOF */
	size_t		 fill;		/* typed outside a session */
	char		 typed[TYPED_MAX];
};

/* Parse listen's options, or print usage and exit 2. */
static void
listen_parse(int argc, char **argv, struct listen_args *a)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "decline", no_argument, NULL, 'x' },
		{ "ignore", no_argument, NULL, 'i' },
		{ "chat", no_argument, NULL, 'c' },
		{ NULL, 0, NULL, 0 }
	};
	struct stat	 sb;
	int		 ch;

	memset(a, 0, sizeof *a);
	a->dir = ".";
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "d:xic", longopts, NULL)) !=
	    -1) {
		if (ch == 'd')
			a->dir = optarg;
		else if (ch == 'c')
			a->chat = a->stdin_open = 1;
		else if (ch == 'x')
			a->decline = 1;
		else if (ch == 'i')
			a->ignore = 1;
		else
			tryst_usage();
	}
	if (optind != argc || (a->decline && a->ignore))
		tryst_usage();
	if (stat(a->dir, &sb) == -1)
		err(1, "%s", a->dir);
	if (!S_ISDIR(sb.st_mode))
		errx(1, "%s: not a directory", a->dir);
}

/* Answer a call with DECLINE. */
static void
decline(struct online *o, uint64_t session, uint8_t reason)
{
	struct msg	 m;

	memset(&m, 0, sizeof m);
	m.type = MSG_DECLINE;
	m.u.decline.session = session;
	m.u.decline.reason = reason;
	online_send(o, &m);
}

/* ACCEPT with our candidates. */
static void
accept_call(struct online *o, struct p2p *p, uint64_t session)
{
	struct msg	 m;
	uint8_t		 answer[PROTO_MAX_OFFER];

	memset(&m, 0, sizeof m);
	m.type = MSG_ACCEPT;
	m.u.accept.session = session;
	m.u.accept.answer.p = answer;
	m.u.accept.answer.len = (uint16_t)p2p_offer(p, answer,
	    sizeof answer);
	online_send(o, &m);
}

/* Drop the line at the front of what was typed: it goes nowhere. */
static void
typed_refuse(struct listen_args *a, size_t len)
{
	warnx("no call in progress: the line was not sent");
	a->fill -= len;
	memmove(a->typed, a->typed + len, a->fill);
}

/* Read what stdin has outside a session; refuse each whole line. At EOF
 * stop reading it, and go on listening. */
static void
typed_read(struct listen_args *a)
{
	ssize_t	 n;
	char	*nl;

	n = read(STDIN_FILENO, a->typed + a->fill, sizeof a->typed - a->fill);
	if (n == -1 && (errno == EINTR || errno == EAGAIN))
		return;
	if (n <= 0) {
		if (a->fill > 0)
			typed_refuse(a, a->fill);
		a->stdin_open = 0;
		return;
	}
	a->fill += (size_t)n;
	while ((nl = memchr(a->typed, '\n', a->fill)) != NULL ||
	    a->fill == sizeof a->typed)
		typed_refuse(a, nl != NULL ? (size_t)(nl - a->typed) + 1 :
		    a->fill);
}

/* Refuse whatever was typed before the session came up. */
static void
typed_drain(struct listen_args *a)
{
	struct pollfd	 pfd;

	pfd.fd = STDIN_FILENO;
	pfd.events = POLLIN;
	while (a->stdin_open && poll(&pfd, 1, 0) > 0)
		typed_read(a);
	if (a->fill > 0)
		typed_refuse(a, a->fill);
}

/* A signal that ends tryst: while idle, note it (serve stops, the spell
 * deletes its mapping, listen_cmd raises it again); else do what was done
 * before, which removes a half-received file and dies of it. */
static void
on_stop(int sig)
{
	size_t	 i;

	if (idle) {
		stop_sig = sig;
		return;
	}
	for (i = 0; i < nitems(stops); i++) {
		if (stops[i].sig == sig && (stops[i].old.sa_flags &
		    SA_SIGINFO) == 0 && stops[i].old.sa_handler != SIG_DFL &&
		    stops[i].old.sa_handler != SIG_IGN) {
			stops[i].old.sa_handler(sig);
			return;
		}
	}
	signal(sig, SIG_DFL);
	raise(sig);
}

/* Have SIGINT, SIGTERM and SIGHUP go through on_stop. */
static void
stop_on_signal(void)
{
	struct sigaction	 sa;
	size_t			 i;

	memset(&sa, 0, sizeof sa);
	sa.sa_handler = on_stop;
	sigemptyset(&sa.sa_mask);
	for (i = 0; i < nitems(stops); i++)
		sigaction(stops[i].sig, &sa, &stops[i].old);
}

/* Run the session that is up on s; with --chat, stdin goes to the peer. */
static void
run_answered(struct online *o, struct session *s, const char *name,
    struct listen_args *a, struct portmap *pm)
{
	struct run	 r;

	typed_drain(a);
	fprintf(stderr, "call from %s, path: %s\n", name, s->path.desc);
	memset(&r, 0, sizeof r);
	r.s = s;
	r.o = o;
	r.peer = name;
	r.dir = a->dir;
	r.chat = a->stdin_open;
	r.chat_stays = 1;
	r.pm = pm;
	run_session(&r);
	if (r.stdin_eof)
		a->stdin_open = 0;
	session_close(s);
	fprintf(stderr, "call from %s ended\n", name);
}

/* Bring the accepted session up and run it. */
static void
serve_session(struct online *o, struct p2p *p, struct portmap *pm,
    const struct msg *m, const struct cred *cr, const char *name,
    struct listen_args *a)
{
	struct hsinfo	 hi;
	struct cand	 peer[OFFER_MAX_CANDS];
	struct session	 s;
	int		 npeer, rc;

	npeer = talk_peer_cands(&m->u.incoming.offer, name, peer);
	memset(&hi, 0, sizeof hi);
	hi.session = m->u.incoming.session;
	memcpy(hi.caller_id, cr->id, ID_LEN);
	memcpy(hi.callee_id, o->cr.id, ID_LEN);
	if (session_keys(&hi, o->sk, cr->identity_pk) != 0) {
		decline(o, m->u.incoming.session, 2);
		return;
	}
	o->session = hi.session;
	o->ended = 0;
	online_relay(o, &m->u.incoming.relay);
	p2p_map(p, pm);		/* the spell's, as it is now */
	accept_call(o, p, hi.session);
	rc = p2p_answer(p, o, &hi, peer, npeer, m->u.incoming.relay_token,
	    &s);
	sodium_memzero(&hi, sizeof hi);
	if (rc != 0)
		warnx("the call from %s did not get through", name);
	else
		run_answered(o, &s, name, a, pm);
}

/* INCOMING: check the caller, then decline, ignore or answer. */
static void
incoming(struct online *o, struct p2p *p, struct portmap *pm,
    const struct msg *m, struct listen_args *a)
{
	const struct vb	*v = &m->u.incoming.caller_credential;
	struct cred	 cr;
	char		 name[TRYST_NUMBER_MAX + 16], *cause;
	int		 r;

	if (cred_verify(v->p, v->len, o->ctx->sign_pk, &cr) != 0) {
		warnx("declined a call with a credential that does not "
		    "verify");
		decline(o, m->u.incoming.session, 2);
		return;
	}
	ids_name(o->ctx->dir, cr.id, name, sizeof name);
	if (a->ignore) {
		fprintf(stderr, "ignoring a call from %s\n", name);
		return;
	}
	if (a->decline) {
		fprintf(stderr, "declined a call from %s\n", name);
		decline(o, m->u.incoming.session, 2);
		return;
	}
	if ((r = contacts_check(o->ctx->dir, cr.id, cr.identity_pk,
	    &cause)) != 0) {
		if (r == -1) {
			warnx("%s", cause);
			free(cause);
		} else
			trust_warn(name);
		decline(o, m->u.incoming.session, 2);
		return;
	}
	serve_session(o, p, pm, m, &cr, name, a);
	o->session = 0;
}

/* Wait for the control connection and, with --chat, stdin (whose lines
 * are refused: there is no session). */
static void
wait_idle(struct online *o, struct listen_args *a)
{
	struct pollfd	 pfd[2];
	int		 n = 1, ms = online_wait_ms(o);

	pfd[0].fd = tconn_fd(o->t);
	pfd[0].events = POLLIN;
	if (a->stdin_open) {
		pfd[1].fd = STDIN_FILENO;
		pfd[1].events = POLLIN;
		n = 2;
	}
	if (poll(pfd, (nfds_t)n, ms < IDLE_POLL_MS ? ms : IDLE_POLL_MS) > 0 &&
	    n == 2 && pfd[1].revents != 0)
		typed_read(a);
}

/* Serve one online connection until it goes or a signal stops it;
 * renew the mapping meanwhile. */
static void
serve(struct online *o, struct p2p *p, struct portmap *pm,
    struct listen_args *a)
{
	struct msg	 m;

	while (!o->gone && !stop_sig) {
		while (!stop_sig && online_recv(o, &m, 0) == 1) {
			if (m.type == MSG_INCOMING) {
				idle = 0;
				incoming(o, p, pm, &m, a);
				idle = 1;
			} else if (m.type == MSG_ERROR)
				tryst_print_error(&m);
		}
		portmap_tick(pm);
		if (!o->gone && !stop_sig)
			wait_idle(o, a);
		p2p_strays(p);
	}
}

/* Sleep s seconds plus a random 0 to 100 % more. */
static void
sleep_jitter(unsigned int s)
{
	uint64_t	 ms = (uint64_t)s * 1000;

	ms += ms > 0 ? randombytes_uniform((uint32_t)ms + 1) : 0;
	poll(NULL, 0, (int)ms);
}

/* One online spell: 1 to go on, 0 to stop (another device of the account
 * took over), -1 to stop on an error (revoked, or a failure that retrying
 * cannot mend). The back-off of c's servers grows on failure. */
static int
spell(struct tryst_ctx *c, struct listen_args *a)
{
	struct online	 o;
	struct p2p	 p;
	struct portmap	 pm;
	uint32_t	 ms;
	char		*cause;

	if (online_open(&o, c, 0, HELLO_PRESENCE, &cause) != 0 ||
	    p2p_setup(&p, &o, 1, &cause) != 0) {
		warnx("%s", cause);
		free(cause);
		online_close(&o);
		if (o.permanent)
			return (-1);
		ms = servers_backoff_ms(&c->srv);
		fprintf(stderr, "tryst: retrying in %u.%u s\n", ms / 1000,
		    ms % 1000 / 100);
		poll(NULL, 0, (int)ms);
		return (1);
	}
	servers_backoff_reset(&c->srv);
	memset(&pm, 0, sizeof pm);
	idle = 1;
	p2p_map(&p, &pm);	/* P stays ours for the spell */
	printf("online\n");
	serve(&o, &p, &pm, a);
	p2p_unmap(&p, &pm);
	idle = 0;
	p2p_close(&p);
	online_close(&o);
	if (stop_sig)
		return (0);
	online_say_gone(&o);
	if (o.goaway == GOAWAY_REPLACED)
		return (0);
	if (o.goaway == GOAWAY_REVOKED)
		return (-1);
	if (o.goaway == GOAWAY_SHUTDOWN && c->srv.n > 1) {
		servers_move(&c->srv);
		fprintf(stderr, "tryst: moving to %s\n",
		    servers_current(&c->srv));
	} else if (o.goaway >= 0)
		sleep_jitter(o.reconnect_s);
	else
		poll(NULL, 0, (int)servers_backoff_ms(&c->srv));
	return (1);
}

/* tryst listen [--dir DIR] [--chat] [--decline | --ignore] */
int
listen_cmd(int argc, char **argv)
{
	struct tryst_ctx	 c;
	struct listen_args	 a;
	int			 rc;

	listen_parse(argc, argv, &a);
	tryst_ctx_load(&c);
	files_rx_on_signal();
	stop_on_signal();
	while ((rc = spell(&c, &a)) == 1)
		;
	tryst_ctx_free(&c);
	if (stop_sig) {
		signal(stop_sig, SIG_DFL);
		raise(stop_sig);
	}
	return (rc == 0 ? 0 : 1);
}
