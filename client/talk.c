/*
 * talk.c -- the caller's commands, tryst chat and tryst send: go online
 * without PRESENCE (so they work beside a running tryst listen of the
 * same account), learn the callee's ID, CONNECT with our candidates
 * (with --relay-only none: an empty offer, so the callee learns no
 * address of ours), check the callee's credential and key on ANSWER,
 * bring the session up (§6.2) and run it.
 */
#include <sys/stat.h>

#include <err.h>
#include <getopt.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "client.h"

#define ANSWER_WAIT_MS	330000	/* above the largest call_timeout_s */
#define CONNECT_TAG	1

struct talk {
	struct tryst_ctx c;
	struct online	 o;
	struct p2p	 p;
	struct portmap	 pm;		/* P on the router, while we call */
	const char	*typed;
	char		 number[1][TRYST_NUMBER_MAX];
	uint8_t		 id[1][ID_LEN];
	int		 relay_only;
	int		 chat;
	char		**files;
	int		 nfiles;
};

/* Parse [--relay-only] and the rest; usage on anything else. */
static int
talk_parse(struct talk *tk, int argc, char **argv)
{
	static const struct option longopts[] = {
		{ "relay-only", no_argument, NULL, 'r' },
		{ NULL, 0, NULL, 0 }
	};
	int	 ch;

	opterr = 0;
	while ((ch = getopt_long(argc, argv, "+r", longopts, NULL)) != -1) {
		if (ch != 'r')
			tryst_usage();
		tk->relay_only = 1;
	}
	return (optind);
}

/* Check the files before anyone is called. */
static void
talk_check_files(char **files, int n)
{
	struct stat	 sb;
	int		 i;

	for (i = 0; i < n; i++) {
		if (stat(files[i], &sb) == -1)
			err(1, "%s", files[i]);
		if (!S_ISREG(sb.st_mode))
			errx(1, "%s: not a regular file", files[i]);
	}
}

/* Send CONNECT with our candidates (none with --relay-only). */
static int
talk_connect(struct talk *tk)
{
	struct msg	 m;
	uint8_t		 offer[PROTO_MAX_OFFER];

	memset(&m, 0, sizeof m);
	m.type = MSG_CONNECT;
	m.u.connect.tag = CONNECT_TAG;
	memcpy(m.u.connect.target_id, tk->id[0], ID_LEN);
	m.u.connect.offer.p = offer;
	m.u.connect.offer.len = (uint16_t)p2p_offer(&tk->p, offer,
	    sizeof offer);
	return (online_send(&tk->o, &m));
}

/* The peer's candidates from its offer or answer, logged at debug. */
int
talk_peer_cands(const struct vb *v, const char *who, struct cand *c)
{
	char	 a[64];
	int	 n, i;

	if (v->len == 0 || offer_decode(v->p, v->len, c, &n) != 0)
		n = 0;
	if (n == 0)
		log_debug("%s offers no candidates: relay only", who);
	for (i = 0; i < n; i++) {
		path_cand_str(&c[i], a, sizeof a);
		log_debug("%s offers %s", who, a);
	}
	return (n);
}

/* Say why the call did not happen. */
static void
talk_refused(struct talk *tk, const struct msg *m)
{
	const char	*n = tk->number[0];

	if (m->type == MSG_DECLINED)
		warnx("%s declined%s", n, m->u.declined.reason == 1 ?
		    " (busy)" : m->u.declined.reason == 2 ? " (rejected)" :
		    "");
	else if (m->u.error.code == ERR_OFFLINE)
		warnx("%s is not online", n);
	else if (m->u.error.code == ERR_TIMEOUT)
		warnx("%s did not answer", n);
	else
		tryst_print_error(m);
}

/* Wait for the answer to CONNECT: 1 ANSWER (in m), else 0 after saying
 * why. */
static int
talk_wait(struct talk *tk, struct msg *m)
{
	int	 r;

	for (;;) {
		if ((r = online_recv(&tk->o, m, ANSWER_WAIT_MS)) != 1) {
			if (r == 0)
				online_say_gone(&tk->o);
			else
				warnx("%s did not answer", tk->number[0]);
			return (0);
		}
		if (m->type == MSG_ANSWER && m->u.answer.tag == CONNECT_TAG)
			return (1);
		if ((m->type == MSG_DECLINED && m->u.declined.tag ==
		    CONNECT_TAG) || (m->type == MSG_ERROR &&
		    m->u.error.ref_type == MSG_CONNECT)) {
			talk_refused(tk, m);
			return (0);
		}
		if (m->type == MSG_ERROR)
			tryst_print_error(m);
	}
}

/* Check the callee's credential and key: 0, or 1 after saying why. */
static int
talk_check_callee(struct talk *tk, const struct msg *m, struct cred *cr)
{
	const struct vb	*v = &m->u.answer.callee_credential;
	char		*cause;
	int		 r;

	if (cred_verify(v->p, v->len, tk->c.sign_pk, cr) != 0 ||
	    memcmp(cr->id, tk->id[0], ID_LEN) != 0) {
		warnx("%s answered with a credential the server did not sign "
		    "for it", tk->number[0]);
		return (1);
	}
	if ((r = contacts_check(tk->c.dir, cr->id, cr->identity_pk,
	    &cause)) == -1) {
		warnx("%s", cause);
		free(cause);
		return (1);
	}
	if (r == 1)
		trust_warn(tk->number[0]);
	return (r);
}

/* The session: bring it up on ANSWER and run it. */
static int
talk_session(struct talk *tk, const struct msg *m)
{
	struct cred	 cr;
	struct hsinfo	 hi;
	struct cand	 peer[OFFER_MAX_CANDS];
	struct session	 s;
	struct run	 r;
	int		 npeer, rc;

	tk->o.session = m->u.answer.session;
	online_relay(&tk->o, &m->u.answer.relay);
	if (talk_check_callee(tk, m, &cr) != 0)
		return (1);
	npeer = talk_peer_cands(&m->u.answer.answer, tk->number[0], peer);
	memset(&hi, 0, sizeof hi);
	hi.session = m->u.answer.session;
	memcpy(hi.caller_id, tk->o.cr.id, ID_LEN);
	memcpy(hi.callee_id, tk->id[0], ID_LEN);
	if (session_keys(&hi, tk->o.sk, cr.identity_pk) != 0) {
		warnx("%s has an identity key that cannot be used",
		    tk->number[0]);
		return (1);
	}
	rc = p2p_call(&tk->p, &tk->o, &hi, peer, npeer,
	    m->u.answer.relay_token, tk->relay_only, &s);
	sodium_memzero(&hi, sizeof hi);
	if (rc != 0) {
		warnx("could not reach %s", tk->number[0]);
		return (1);
	}
	p2p_close(&tk->p);
	fprintf(stderr, "path: %s\n", s.path.desc);
	memset(&r, 0, sizeof r);
	r.s = &s;
	r.o = &tk->o;
	r.peer = tk->number[0];
	r.dir = ".";
	r.chat = tk->chat;
	r.files = tk->files;
	r.nfiles = tk->nfiles;
	r.caller = 1;
	r.pm = &tk->pm;
	files_rx_on_signal();	/* the peer may send files too */
	rc = run_session(&r);
	session_close(&s);
	return (rc);
}

/* End a call that was answered but never became a session. */
static void
talk_end(struct talk *tk)
{
	struct msg	 m;

	if (tk->o.session == 0 || tk->o.ended || tk->o.gone)
		return;
	memset(&m, 0, sizeof m);
	m.type = MSG_END;
	m.u.end.session = tk->o.session;
	online_send(&tk->o, &m);
}

/* Call, then chat or send. */
static int
talk(struct talk *tk)
{
	struct msg	 m;
	char		*cause;
	int		 rc = 1;

	tryst_ctx_load(&tk->c);
	tryst_number(&tk->c, tk->typed, tk->number[0]);
	if (strcmp(tk->number[0], tk->c.conf.number) == 0)
		errx(1, "%s is this device's own number", tk->number[0]);
	talk_check_files(tk->files, tk->nfiles);
	if (!tk->relay_only) {
		/* Look for the router's mapping service now: the wait for
		 * its answer overlaps going online and the lookup. */
		portmap_init(&tk->pm);
		portmap_start(&tk->pm);
	}
	if (online_open(&tk->o, &tk->c, 0, 0, &cause) != 0)
		errx(1, "%s", cause);
	if (lookup_ids(&tk->o, tk->number, 1, tk->id) != 0)
		goto out;
	if (p2p_setup(&tk->p, &tk->o, !tk->relay_only, &cause) != 0) {
		warnx("%s", cause);
		free(cause);
		goto out;
	}
	p2p_map(&tk->p, &tk->pm);
	if (talk_connect(tk) != 0) {
		online_say_gone(&tk->o);
		goto out;
	}
	if (talk_wait(tk, &m) == 1)
		rc = talk_session(tk, &m);
	talk_end(tk);
out:
	p2p_unmap(&tk->p, &tk->pm);
	p2p_close(&tk->p);
	online_close(&tk->o);
	tryst_ctx_free(&tk->c);
	return (rc);
}

/* tryst chat NUMBER: stdin lines to NUMBER, its lines to stdout. */
int
talk_chat(int argc, char **argv)
{
	struct talk	 tk;
	int		 i;

	memset(&tk, 0, sizeof tk);
	p2p_init(&tk.p);
	i = talk_parse(&tk, argc, argv);
	if (argc - i != 1)
		tryst_usage();
	tk.typed = argv[i];
	tk.chat = 1;
	return (talk(&tk));
}

/* tryst send NUMBER FILE...: send files. */
int
talk_send(int argc, char **argv)
{
	struct talk	 tk;
	int		 i;

	memset(&tk, 0, sizeof tk);
	p2p_init(&tk.p);
	i = talk_parse(&tk, argc, argv);
	if (argc - i < 2)
		tryst_usage();
	tk.typed = argv[i];
	tk.files = argv + i + 1;
	tk.nfiles = argc - i - 1;
	return (talk(&tk));
}
