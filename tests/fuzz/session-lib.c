/*
 * session-lib.c -- libtryst for fuzz-session: a context with no server
 * and no network, in which a call to or from the fixed peer comes up
 * with the session that fuzz-session.c made, so that whatever the peer
 * sends goes through lib/call.c's dispatch and lib/file.c as in an app.
 *
 * presence.c and race.c are faked here, as tests/test-call.c fakes them
 * (libtryst_core has neither): the fake server takes what is sent to it
 * and the test hands call_control its ANSWER or INCOMING; the fake race
 * is up at once over a socketpair, whose other end the peer writes. The
 * clock stands still, so no timer fires in the middle of an input.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <dirent.h>
#include <errno.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "fuzz.h"
#include "fuzz-session.h"

#define LIB_NOW		1000000		/* the clock, ms */
#define STALLED		64		/* passes with nothing written */
#define LIB_PASSES	32		/* pieces of a stream, at most */

/* The fake race: nothing but what race_take hands over. */
struct race {
	int		 unused;
};

/* The context and both parties as the server knows them: [1] the
 * caller, [0] the callee. */
static struct {
	tryst_t		*t;
	char		 state[64];	/* the state directory: contacts */
	uint8_t		 id[2][ID_LEN];
	char		 hex[2][2 * ID_LEN + 1];
	uint8_t		 pk[2][32], sk[2][64];
	uint8_t		 cred[2][CRED_LEN];
	int		 me;		/* the party we are */
	uint32_t	 tag;		/* of our CONNECT */
	struct p2p	 p;		/* no candidates */
	struct session	*give;		/* for race_take */
	int		 fd;		/* the peer's end of the path */
	tryst_call_t	*in;		/* INCOMING's call */
	struct outcome	*o;
} lb;

/* ---- the fake presence.c ----------------------------------------------- */

void
presence_stop(struct tryst *t)
{
	(void)t;
}

int
presence_status(const struct tryst *t)
{
	(void)t;
	return (TRYST_ONLINE);
}

/* The server hears it; only CONNECT's tag is wanted (for ANSWER). */
int
presence_send(struct tryst *t, const struct msg *m)
{
	(void)t;
	if (m->type == MSG_CONNECT)
		lb.tag = m->u.connect.tag;
	return (0);
}

const struct p2p *
presence_p2p(const struct tryst *t)
{
	(void)t;
	return (&lb.p);
}

const uint8_t *
presence_id(const struct tryst *t)
{
	(void)t;
	return (lb.id[lb.me]);
}

int
presence_settling(const struct tryst *t)
{
	(void)t;
	return (0);
}

const uint8_t *
presence_sk(const struct tryst *t)
{
	(void)t;
	return (lb.sk[lb.me]);
}

const char *
presence_hostport(const struct tryst *t)
{
	(void)t;
	return ("server.fuzz:443");
}

/* ---- the fake race.c ---------------------------------------------------- */

struct race *
race_new(const struct race_cfg *cfg, const struct cand *c, int n,
    int64_t now)
{
	(void)cfg, (void)c, (void)n, (void)now;
	return (xcalloc(1, sizeof (struct race)));
}

enum race_state
race_step(struct race *r, int64_t now)
{
	(void)r, (void)now;
	return (RACE_UP);
}

int
race_fds(const struct race *r, struct pollfd *pfd, int max)
{
	(void)r, (void)pfd, (void)max;
	return (0);
}

int64_t
race_deadline(const struct race *r)
{
	(void)r;
	return (-1);
}

const char *
race_error(const struct race *r)
{
	(void)r;
	return ("fuzz: no path");
}

void
race_free(struct race *r)
{
	free(r);
}

/* Up: the session made by fuzz-session.c, over a socketpair. */
int
race_take(struct race *r, struct session *s, int *fd, struct nconn **relay,
    char *desc, size_t desclen)
{
	int	 sv[2];

	(void)r;
	if (lb.give == NULL || socketpair(AF_UNIX, SOCK_STREAM |
	    SOCK_NONBLOCK | SOCK_CLOEXEC, 0, sv) == -1)
		abort();
	*s = *lb.give;
	lb.give = NULL;
	*fd = sv[0];
	lb.fd = sv[1];
	*relay = NULL;
	snprintf(desc, desclen, "direct fuzz");
	return (0);
}

/* ---- the app ------------------------------------------------------------ */

static int64_t
lib_now(void)
{
	return (LIB_NOW);
}

static void
on_state(tryst_call_t *c, int state, const tryst_error *e, void *user)
{
	(void)c, (void)user;
	if (state != TRYST_CALL_ENDED)
		return;
	lb.o->ended = 1;
	lb.o->code = e != NULL ? tryst_error_code(e) : 0;
}

static void
on_message(tryst_call_t *c, const uint8_t *p, size_t len, void *user)
{
	(void)c, (void)user;
	lb.o->texts++;
	fuzz_session_text(p, len);
}

static void
on_file(tryst_call_t *c, int event, const char *name, uint64_t bytes,
    uint64_t size, const tryst_error *e, void *user)
{
	(void)c, (void)user;
	if (event == TRYST_FILE_DONE) {
		lb.o->done++;
		fuzz_session_file(name, bytes, size);
	} else if (event == TRYST_FILE_FAILED && (e == NULL ||
	    tryst_error_code(e) != TRYST_ECANCELED))
		lb.o->refused++;
}

/* A call comes in: kept for fuzz_lib_run to accept. */
static void
on_incoming(tryst_t *t, tryst_call_t *c, void *user)
{
	(void)t, (void)user;
	lb.in = c;
}

/* Remove the state directory and what the library wrote there. */
static void
lib_end(void)
{
	struct dirent	*de;
	DIR		*d;
	char		 path[512];

	tryst_destroy(lb.t);
	if ((d = opendir(lb.state)) != NULL) {
		while ((de = readdir(d)) != NULL) {
			snprintf(path, sizeof path, "%s/%s", lb.state,
			    de->d_name);
			if (de->d_name[0] != '.')
				unlink(path);
		}
		closedir(d);
	}
	rmdir(lb.state);
}

/* The context, online with no server, and both parties' credentials
 * from the fixed keys; made once. */
static void
lib_fixture(void)
{
	const struct keys	*k = fuzz_keys(0);
	uint8_t			 seed[32];
	int			 i;

	if (lb.t != NULL)
		return;
	snprintf(lb.state, sizeof lb.state, "/tmp/fuzz-session-state-XXXXXX");
	fuzz_session_must(mkdtemp(lb.state) != NULL, "mkdtemp");
	fuzz_session_must((lb.t = tryst_new(NULL)) != NULL, "tryst_new");
	fuzz_session_must(tryst_state_dir(lb.t, lb.state, NULL) == 0,
	    "tryst_state_dir");
	lb.t->now = lib_now;
	memcpy(lb.t->sign_pk, k->sign_pk, 32);
	tryst_on_incoming(lb.t, on_incoming, NULL);
	p2p_init(&lb.p);
	for (i = 0; i < 2; i++) {
		memset(lb.id[i], i ? 0xc1 : 0xc2, ID_LEN);
		hex_encode(lb.hex[i], lb.id[i], ID_LEN);
		memset(seed, i ? 0x61 : 0x62, sizeof seed);
		crypto_sign_seed_keypair(lb.pk[i], lb.sk[i], seed);
		cred_make(lb.cred[i], k, lb.id[i], lb.pk[i], 0, UINT64_MAX);
	}
	lb.fd = -1;
	atexit(lib_end);
}

/* We call the peer; its ANSWER starts the race. */
static tryst_call_t *
call_out(void)
{
	tryst_call_t	*c = NULL;
	struct msg	 m;

	fuzz_session_must(tryst_call(lb.t, lb.hex[0], 0, &c, NULL) == 0,
	    "tryst_call");
	tryst_call_on_state(c, on_state, NULL);
	memset(&m, 0, sizeof m);
	m.type = MSG_ANSWER;
	m.u.answer.tag = lb.tag;
	m.u.answer.session = FUZZ_SESSION_ID;
	m.u.answer.callee_credential.p = lb.cred[0];
	m.u.answer.callee_credential.len = CRED_LEN;
	call_control(lb.t, &m);
	return (c);
}

/* The peer calls; we accept, and the race starts. */
static tryst_call_t *
call_in(void)
{
	tryst_call_t	*c;
	struct msg	 m;

	memset(&m, 0, sizeof m);
	m.type = MSG_INCOMING;
	m.u.incoming.session = FUZZ_SESSION_ID;
	m.u.incoming.caller_credential.p = lb.cred[1];
	m.u.incoming.caller_credential.len = CRED_LEN;
	lb.in = NULL;
	call_control(lb.t, &m);
	fuzz_session_must((c = lb.in) != NULL, "INCOMING");
	tryst_call_on_state(c, on_state, NULL);
	fuzz_session_must(tryst_call_accept(c, 0, NULL) == 0, "accept");
	return (c);
}

/* A pass of the library. */
static void
pass(void)
{
	if (tryst_process(lb.t, -1, 0, NULL) != 0)
		abort();
}

/* Give the stream to the path a chunk at a time (but in LIB_PASSES
 * pieces at most), a pass after each, until the call ends or the stream
 * does; then the peer hangs up. */
static void
feed(tryst_call_t *c, struct feed *in)
{
	size_t	 n, least = (in->len + LIB_PASSES - 1) / LIB_PASSES;
	ssize_t	 w;
	int	 stalled = 0;

	while (in->len > 0 && tryst_call_state(c) != TRYST_CALL_ENDED) {
		n = in->chunk == 0 ? in->len : in->chunk < least ? least :
		    in->chunk;
		if (n > in->len)
			n = in->len;
		if ((w = write(lb.fd, in->p, n)) == -1 && errno != EAGAIN)
			abort();
		if (w > 0) {
			in->p += w;
			in->len -= (size_t)w;
			stalled = 0;
		} else if (++stalled == STALLED)
			abort();	/* the call reads nothing more */
		pass();
	}
	if (shutdown(lb.fd, SHUT_WR) == -1)
		abort();
	pass();
}

/* What we wrote to the peer; more than WIRE_MAX is a defect. */
static void
wire(struct outcome *o)
{
	ssize_t	 n;

	while ((n = recv(lb.fd, o->wire + o->wirelen, sizeof o->wire -
	    o->wirelen, MSG_DONTWAIT)) > 0)
		if ((o->wirelen += (size_t)n) > WIRE_MAX)
			abort();
	if (n == -1 && errno != EAGAIN)
		abort();
}

/* Bring a call up over s, feed it, read what it wrote; see the header. */
void
fuzz_lib_run(struct session *s, int caller, const char *dir,
    struct feed *in, struct outcome *o)
{
	tryst_call_t	*c;

	lib_fixture();
	memset(o, 0, sizeof *o);
	lb.o = o;
	lb.me = caller != 0;
	lb.give = s;
	c = caller ? call_out() : call_in();
	tryst_call_on_message(c, on_message, NULL);
	fuzz_session_must(tryst_call_receive_files(c, dir, on_file, NULL,
	    NULL) == 0, "tryst_call_receive_files");
	pass();
	if (tryst_call_state(c) != TRYST_CALL_OPEN || lb.give != NULL)
		abort();
	feed(c, in);
	if (tryst_call_state(c) != TRYST_CALL_ENDED || !o->ended)
		abort();	/* the peer hung up: nothing is left to do */
	wire(o);
	tryst_call_release(c);
	pass();
	pass();
	if (lb.t->calls != NULL || lb.t->tasks != NULL)
		abort();	/* a call or its task outlived the input */
	close(lb.fd);
	lb.fd = -1;
	lb.o = NULL;
}
