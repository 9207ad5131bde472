/*
 * listen.c -- tryst listen: stay online with PRESENCE, answer calls, print
 * text messages and save files. A lost connection is retried with
 * back-off and jitter, a GOAWAY after the time it asks for plus up to as
 * much again; after GOAWAY replaced or revoked it stops, as §4 asks.
 */
#include <sys/stat.h>
#include <sys/types.h>
#include <sys/socket.h>

#include <err.h>
#include <getopt.h>
#include <poll.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "client.h"

#define BACKOFF_MIN_S	1
#define BACKOFF_MAX_S	60
#define IDLE_POLL_MS	1000

struct listen_args {
	const char	*dir;
	int		 decline;
	int		 ignore;
};

/* Parse listen's options, or print usage and exit 2. */
static void
listen_parse(int argc, char **argv, struct listen_args *a)
{
	static const struct option longopts[] = {
		{ "dir", required_argument, NULL, 'd' },
		{ "decline", no_argument, NULL, 'x' },
		{ "ignore", no_argument, NULL, 'i' },
		{ NULL, 0, NULL, 0 }
	};
	struct stat	 sb;
	int		 ch;

	memset(a, 0, sizeof *a);
	a->dir = ".";
	opterr = 0;
	while ((ch = getopt_long(argc, argv, "d:xi", longopts, NULL)) != -1) {
		if (ch == 'd')
			a->dir = optarg;
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

/* Bring the accepted session up and run it. */
static void
serve_session(struct online *o, struct p2p *p, const struct msg *m,
    const struct cred *cr, const char *name, const char *dir)
{
	struct hsinfo	 hi;
	struct cand	 peer[OFFER_MAX_CANDS];
	struct session	 s;
	struct run	 r;
	int		 npeer = 0, rc;

	if (offer_decode(m->u.incoming.offer.p, m->u.incoming.offer.len,
	    peer, &npeer) != 0)
		npeer = 0;
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
	accept_call(o, p, hi.session);
	rc = p2p_answer(p, o, &hi, peer, npeer, m->u.incoming.relay_token,
	    &s);
	sodium_memzero(&hi, sizeof hi);
	if (rc != 0) {
		warnx("the call from %s did not get through", name);
		return;
	}
	fprintf(stderr, "call from %s, path: %s\n", name, s.path.desc);
	memset(&r, 0, sizeof r);
	r.s = &s;
	r.o = o;
	r.peer = name;
	r.dir = dir;
	run_session(&r);
	session_close(&s);
	fprintf(stderr, "call from %s ended\n", name);
}

/* INCOMING: check the caller, then decline, ignore or answer. */
static void
incoming(struct online *o, struct p2p *p, const struct msg *m,
    const struct listen_args *a)
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
	lookup_name(o->ctx->dir, cr.id, name, sizeof name);
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
			contacts_warn(name);
		decline(o, m->u.incoming.session, 2);
		return;
	}
	serve_session(o, p, m, &cr, name, a->dir);
	o->session = 0;
}

/* Close connections that arrive on P outside a call. */
static void
drop_strays(struct p2p *p)
{
	int	 fd;

	while ((fd = accept4(p->lfd, NULL, NULL, SOCK_NONBLOCK |
	    SOCK_CLOEXEC)) != -1)
		close(fd);
}

/* Serve one online connection until it goes. */
static void
serve(struct online *o, struct p2p *p, const struct listen_args *a)
{
	struct msg	 m;

	while (!o->gone) {
		if (online_recv(o, &m, IDLE_POLL_MS) == 1) {
			if (m.type == MSG_INCOMING)
				incoming(o, p, &m, a);
			else if (m.type == MSG_ERROR)
				tryst_print_error(&m);
		}
		drop_strays(p);
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
 * cannot mend). *backoff grows on failure. */
static int
spell(struct tryst_ctx *c, const struct listen_args *a,
    unsigned int *backoff)
{
	struct online	 o;
	struct p2p	 p;
	char		*cause;

	if (online_open(&o, c, 0, HELLO_PRESENCE, &cause) != 0 ||
	    p2p_setup(&p, &o, 1, &cause) != 0) {
		warnx("%s", cause);
		free(cause);
		online_close(&o);
		if (o.permanent)
			return (-1);
		fprintf(stderr, "tryst: retrying in about %u s\n", *backoff);
		sleep_jitter(*backoff);
		*backoff = *backoff * 2 > BACKOFF_MAX_S ? BACKOFF_MAX_S :
		    *backoff * 2;
		return (1);
	}
	*backoff = BACKOFF_MIN_S;
	printf("online\n");
	serve(&o, &p, a);
	p2p_close(&p);
	online_close(&o);
	online_say_gone(&o);
	if (o.goaway == GOAWAY_REPLACED)
		return (0);
	if (o.goaway == GOAWAY_REVOKED)
		return (-1);
	sleep_jitter(o.goaway >= 0 ? o.reconnect_s : *backoff);
	return (1);
}

/* tryst listen [--dir DIR] [--decline | --ignore] */
int
listen_cmd(int argc, char **argv)
{
	struct tryst_ctx	 c;
	struct listen_args	 a;
	unsigned int		 backoff = BACKOFF_MIN_S;
	int			 rc;

	listen_parse(argc, argv, &a);
	tryst_ctx_load(&c);
	files_rx_on_signal();
	while ((rc = spell(&c, &a, &backoff)) == 1)
		;
	tryst_ctx_free(&c);
	return (rc == 0 ? 0 : 1);
}
