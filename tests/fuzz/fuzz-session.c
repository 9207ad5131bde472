/*
 * fuzz-session.c -- what the other party of a session sends, as a
 * malicious peer or a relay in the middle would (PROTOCOL.md §6.3),
 * through the client's own code: its handshake frames read by
 * client/session.c's pure steps (session_frame, session_hs_read,
 * session_hs_finish), then transport frames fed in pieces to
 * session_input and session_take, and every message that decrypts handed
 * to run.c's run_handle, which prints text and receives files into a
 * folder of its own. The parties have fixed keys (fuzz.h), so a seed's
 * genuine handshake and transport frames stay valid.
 *
 * An input is mode:u8 chunk:u8 stream. The mode (modulo SESSION_NMODES):
 *	CALLER	  we called and sent message 1; the stream is the callee's
 *		  message 2 frame, then its transport frames
 *	CALLEE	  we answer; the stream is message 1 (34 bytes, after the
 *		  preamble race.c checks), message 3's frame, then frames
 *	TRANSPORT a session set up as CALLER; the stream is transport frames
 *	SEALED	  the same session; the stream is plaintexts (len:u16 ||
 *		  bytes, the last one cut short), each encrypted by the
 *		  genuine callee, so that any message reaches run_handle
 * chunk is how many bytes the session is given at a time (0: all), as a
 * network would cut them. Checked: session_take changes the input and
 * the cipher exactly as it says; SEALED messages come out as they went
 * in, and an empty one is refused; a handshake frame that is read can be
 * answered; a file is left in the folder only when its end was accepted
 * (no hidden part left); we write nothing but our close, only after the
 * peer's, and it decrypts for the peer. session-seeds.c writes the seeds
 * (meson compile -C build fuzz-corpus-session).
 */
#include <sys/stat.h>

#include <dirent.h>
#include <err.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "fuzz.h"
#include "client.h"
#include "fuzz-session.h"

#define FUZZ_SESSION_ID	0x7472797374000009ULL
#define E_KEY		"the peer's key is not the one in its credential"
#define E_EMPTY		"the peer sent an empty message"

static struct fuzz_session	*fx;

/* The stream of one input, and what SEALED expects of it. */
struct feed {
	const uint8_t	*p;
	size_t		 len;
	size_t		 chunk;
	const uint8_t	**want;		/* SEALED: each plaintext */
	size_t		*wantlen;
	size_t		 nwant;
};

/*
 * What the session and run.c reach outside themselves: the path (only
 * path_write is reached: our close), the control connection and the
 * terminal. tryst_clean_text lives in tryst.c beside main(); here it
 * only checks the buffers run.c hands it.
 */
int
path_write(struct path *p, const void *data, size_t len, char **cause)
{
	struct wire	*w = fx->wire;

	(void)p, (void)cause;
	if (w == NULL || len > w->cap - w->len)
		abort();	/* more than a close from the receiving side */
	memcpy(w->p + w->len, data, len);
	w->len += len;
	return (0);
}

/* Stub: the fuzzer feeds the session itself. */
long
path_read(struct path *p, void *buf, size_t len, char **cause)
{
	(void)p, (void)buf, (void)len, (void)cause;
	abort();
}

/* Stub: see path_read. */
int
path_read_full(struct path *p, void *buf, size_t len, int64_t deadline,
    char **cause)
{
	(void)p, (void)buf, (void)len, (void)deadline, (void)cause;
	abort();
}

/* A fuzzed session has no descriptor to close. */
void
path_close(struct path *p)
{
	p->fd = -1;
}

/* Stub: only run_session polls. */
int
path_pollfd(const struct path *p)
{
	(void)p;
	abort();
}

/* Stub: see path_pollfd. */
int
tconn_fd(const struct tconn *t)
{
	(void)t;
	abort();
}

/* Read all of the peer's text and fill out, as tryst.c's would. */
void
tryst_clean_text(char *out, size_t outlen, const uint8_t *p, size_t len)
{
	size_t	 i;

	if (outlen == 0)
		return;
	for (i = 0; i < len; i++)
		out[i % outlen] = (char)(p[i] >= 0x20 && p[i] < 0x7f ?
		    p[i] : '?');
	out[len < outlen ? len : outlen - 1] = '\0';
}

/* The client's warnings: formatted (so that a bad argument shows under
 * the sanitizers) and dropped, or the log would be nothing else. */
void
warnx(const char *fmt, ...)
{
	char	 buf[1024];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
}

/* As warnx (errno's text is not wanted either). */
void
warn(const char *fmt, ...)
{
	char	 buf[1024];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(buf, sizeof buf, fmt, ap);
	va_end(ap);
}

/* One of the fixed parties: the caller (1) or the callee (0). */
static void
party(struct hsinfo *hi, int caller)
{
	uint8_t	 peer_sk[32];

	memset(hi, 0, sizeof *hi);
	hi->session = FUZZ_SESSION_ID;
	memset(hi->caller_id, 0xc1, ID_LEN);
	memset(hi->callee_id, 0xc2, ID_LEN);
	memset(hi->s_sk, caller ? FUZZ_INIT_S : FUZZ_RESP_S, 32);
	memset(peer_sk, caller ? FUZZ_RESP_S : FUZZ_INIT_S, 32);
	crypto_scalarmult_base(hi->peer_pk, peer_sk);
}

/* The fixed ephemeral key of a party. */
const uint8_t *
fuzz_session_e(int caller)
{
	static uint8_t	 e[2][32];

	memset(e[1], FUZZ_INIT_E, 32);
	memset(e[0], FUZZ_RESP_E, 32);
	return (e[caller != 0]);
}

/* A step of the fixed handshake that must work. */
void
fuzz_session_must(int ok, const char *what)
{
	if (!ok)
		fatalx("fuzz-session fixture: %s", what);
}

/* A session from the finished handshake (copied) of a party. */
void
fuzz_session_finish(struct session *s, int caller)
{
	struct noise_hs	 hs = fx->done[caller != 0];
	char		*cause = NULL;

	fuzz_session_must(session_hs_finish(s, &hs, &fx->hi[caller],
	    &cause) == 0, "session_hs_finish");
}

/* Run the genuine handshake with session.c's steps, keeping each stop. */
static void
handshake(struct fuzz_session *f)
{
	struct noise_hs	 c, r;
	struct session	 s;
	uint8_t		 pre[SESSION_PREAMBLE_LEN];
	char		*cause = NULL;
	long		 n;

	session_hs_begin(&c, 1, &f->hi[1], fuzz_session_e(1));
	session_hs_begin(&r, 0, &f->hi[0], fuzz_session_e(0));
	f->callee0 = r;
	session_preamble(pre, FUZZ_SESSION_ID);
	n = session_hs_write(&c, pre, sizeof pre, f->msg[0], SESSION_HS_OUT,
	    &cause);
	fuzz_session_must(n > 0, "message 1");
	f->len[0] = (size_t)n;
	f->caller1 = c;
	fuzz_session_must(session_hs_read(&r, f->msg[0] + sizeof pre,
	    f->len[0] - sizeof pre, &cause) == 0, "reading message 1");
	n = session_hs_write(&r, NULL, 0, f->msg[1], SESSION_HS_OUT, &cause);
	fuzz_session_must(n > 0, "message 2");
	f->len[1] = (size_t)n;
	fuzz_session_must(session_hs_read(&c, f->msg[1], f->len[1],
	    &cause) == 0, "reading message 2");
	n = session_hs_write(&c, NULL, 0, f->msg[2], SESSION_HS_OUT, &cause);
	fuzz_session_must(n > 0, "message 3");
	f->len[2] = (size_t)n;
	fuzz_session_must(session_hs_read(&r, f->msg[2], f->len[2],
	    &cause) == 0, "reading message 3");
	f->done[1] = c;
	f->done[0] = r;
	fuzz_session_finish(&s, 0);
	f->peer_tx = s.tx;
	f->peer_rx[1] = s.rx;
	session_close(&s);
	fuzz_session_finish(&s, 1);
	f->peer_rx[0] = s.rx;
	session_close(&s);
}

/* Put stdout back, and remove the folder, at exit. Each input flushed
 * what it printed, so what is buffered now (the driver's summary) goes
 * to the real stdout. */
static void
fixture_end(void)
{
	dup2(fx->stdout_fd, STDOUT_FILENO);
	rmdir(fx->dir);
}

/* The fixture, made on first use. */
struct fuzz_session *
fuzz_session_fixture(void)
{
	int	 null;

	if (fx != NULL)
		return (fx);
	fuzz_session_must(sodium_init() >= 0, "sodium_init");
	fx = xcalloc(1, sizeof *fx);
	party(&fx->hi[1], 1);
	party(&fx->hi[0], 0);
	handshake(fx);
	snprintf(fx->dir, sizeof fx->dir, "/tmp/fuzz-session-XXXXXX");
	fuzz_session_must(mkdtemp(fx->dir) != NULL, "mkdtemp");
	/* What run.c prints for the user goes nowhere. */
	fflush(stdout);
	fuzz_session_must((fx->stdout_fd = dup(STDOUT_FILENO)) != -1, "dup");
	null = open("/dev/null", O_WRONLY);
	fuzz_session_must(null != -1, "/dev/null");
	fuzz_session_must(dup2(null, STDOUT_FILENO) != -1, "dup2");
	close(null);
	atexit(fixture_end);
	return (fx);
}

/* session_take, checked against what it says it did. */
static int
take(struct session *s, char **cause)
{
	size_t		 fill = s->fill, need, flen;
	uint64_t	 n = s->rx.n;
	int		 r;

	flen = session_frame(s->in, s->fill, &need);
	r = session_take(s, cause);
	if (r == 1 && (flen == 0 || s->fill != fill - flen ||
	    s->rx.n != n + 1 || s->ptlen < 1 ||
	    s->ptlen + 2 + NOISE_TAG != flen))
		abort();
	if (r == 2 && (flen != 0 || need == 0 || s->fill != fill ||
	    s->rx.n != n || SESSION_IN_SIZE - s->fill < SESSION_FRAME_MAX))
		abort();
	if (r == -1 && (flen == 0 || s->fill != fill || *cause == NULL ||
	    s->rx.n != n + (flen == 2 + NOISE_TAG &&
	    strcmp(*cause, E_EMPTY) == 0)))
		abort();
	if (r != 1 && r != 2 && r != -1)
		abort();
	return (r);
}

/* Remove the files received; there must be exactly n. */
static void
empty_dir(size_t n)
{
	struct dirent	*de;
	DIR		*d;
	char		 path[512];
	size_t		 found = 0;

	if ((d = opendir(fx->dir)) == NULL)
		abort();
	while ((de = readdir(d)) != NULL) {
		if (strcmp(de->d_name, ".") == 0 ||
		    strcmp(de->d_name, "..") == 0)
			continue;
		snprintf(path, sizeof path, "%s/%s", fx->dir, de->d_name);
		unlink(path);
		found++;
	}
	closedir(d);
	if (found != n)
		abort();	/* a hidden part left, or a file lost */
}

/* What we wrote: nothing, or after the peer's close our own close. */
static void
check_wire(const struct wire *w, int done, int caller)
{
	struct noise_cipher	 rx = fx->peer_rx[caller];
	uint8_t			 pt[64];
	size_t			 need;

	if (done != 1) {
		if (w->len != 0)
			abort();
		return;
	}
	if (session_frame(w->p, w->len, &need) != w->len ||
	    noise_decrypt(&rx, w->p + 2, w->len - 2, pt, sizeof pt) != 1 ||
	    pt[0] != KIND_CLOSE)
		abort();
}

/* A message taken in SEALED mode must be the k-th sealed one. */
static void
check_sealed(const struct feed *in, size_t k, const struct session *s,
    int r)
{
	if (in->want == NULL)
		return;
	if (k >= in->nwant)
		abort();
	if (r == -1 && in->wantlen[k] != 0)
		abort();
	if (r == 1 && (s->ptlen != in->wantlen[k] ||
	    memcmp(s->pt, in->want[k], s->ptlen) != 0))
		abort();
}

/* Feed the stream to the session, a chunk at a time, and hand every
 * message to run_handle until the session ends or the stream does. */
static void
deliver(struct session *s, struct feed *in, int caller)
{
	struct run	 r;
	struct run_loop	*l;
	struct wire	 w = { fx->ours, 0, sizeof fx->ours };
	char		*cause = NULL;
	size_t		 n, k = 0, received = 0;
	int		 rc, done = 0;

	memset(&r, 0, sizeof r);
	r.s = s;
	r.peer = "peer";
	r.dir = fx->dir;
	r.caller = caller;
	l = run_loop_new(&r);
	fx->wire = &w;
	for (;;) {
		if ((rc = take(s, &cause)) != 2)
			check_sealed(in, k++, s, rc);
		if (rc == -1)
			break;
		if (rc == 1) {
			done = run_handle(l, s->pt, s->ptlen);
			fx->handled++;
			if (s->pt[0] == KIND_FILE_END && done == 0)
				received++;
			if (done != 0)
				break;
			continue;
		}
		if (in->len == 0)
			break;		/* the peer went silent or away */
		n = in->chunk == 0 || in->chunk > in->len ? in->len :
		    in->chunk;
		if ((n = session_input(s, in->p, n)) == 0)
			abort();
		in->p += n;
		in->len -= n;
	}
	if (rc == 2 && in->want != NULL && k != in->nwant)
		abort();		/* a sealed message went missing */
	free(cause);
	run_loop_free(l);
	fx->wire = NULL;
	empty_dir(received);
	check_wire(&w, done, caller);
}

/* A handshake step failed: it says why, and the state is done for. */
static int
refused(struct noise_hs *hs, char *cause)
{
	if (cause == NULL || noise_hs_done(hs))
		abort();
	free(cause);
	sodium_memzero(hs, sizeof *hs);
	return (-1);
}

/* Read the handshake frame at the front of the stream, as hs_recv does
 * (a stream that ends before it is a peer that went silent). */
static int
hs_frame(struct noise_hs *hs, struct feed *in)
{
	char	*cause = NULL;
	size_t	 flen, need;

	if ((flen = session_frame(in->p, in->len, &need)) == 0)
		return (-1);
	if (session_hs_read(hs, in->p, flen, &cause) != 0)
		return (refused(hs, cause));
	in->p += flen;
	in->len -= flen;
	return (0);
}

/* The last step of either side: the key the peer proved must be its
 * credential's, and a handshake that cannot finish says so. */
static int
hs_finish(struct session *s, struct noise_hs *hs, int caller)
{
	char	*cause = NULL;

	if (session_hs_finish(s, hs, &fx->hi[caller], &cause) == 0)
		return (0);
	if (cause == NULL || strcmp(cause, E_KEY) != 0)
		abort();
	free(cause);
	return (-1);
}

/* We are the caller, message 1 sent: as session_start goes on. */
static int
as_caller(struct session *s, struct feed *in)
{
	struct noise_hs	 hs = fx->caller1;
	uint8_t		 out[SESSION_HS_OUT];
	char		*cause = NULL;

	if (hs_frame(&hs, in) != 0)
		return (-1);
	if (session_hs_write(&hs, NULL, 0, out, sizeof out, &cause) < 0)
		abort();	/* message 2 was read: 3 can be written */
	return (hs_finish(s, &hs, 1));
}

/* We are the callee: as session_answer goes. */
static int
as_callee(struct session *s, struct feed *in)
{
	struct noise_hs	 hs = fx->callee0;
	uint8_t		 out[SESSION_HS_OUT], dh[32];
	char		*cause = NULL;
	int		 low;

	if (in->len < SESSION_MSG1_LEN)
		return (-1);
	if (session_hs_read(&hs, in->p, SESSION_MSG1_LEN, &cause) != 0)
		return (refused(&hs, cause));
	/* Only an ephemeral key of low order cannot be answered. */
	low = crypto_scalarmult(dh, fuzz_session_e(0), in->p + 2) != 0;
	in->p += SESSION_MSG1_LEN;
	in->len -= SESSION_MSG1_LEN;
	if ((session_hs_write(&hs, NULL, 0, out, sizeof out, &cause) < 0) !=
	    low)
		abort();
	if (low)
		return (refused(&hs, cause));
	if (hs_frame(&hs, in) != 0)
		return (-1);
	return (hs_finish(s, &hs, 0));
}

/* Encrypt the plaintexts of p[0..len) as the genuine callee would,
 * framed; the stream and what each plaintext was go in *in. */
static uint8_t *
seal(const uint8_t *p, size_t len, struct feed *in)
{
	struct noise_cipher	 tx = fx->peer_tx;
	uint8_t			*out;
	size_t			 max = len / 2 + 1, o = 0, plen;
	long			 n;

	out = xmalloc(max * (2 + NOISE_TAG) + len);
	in->want = xcalloc(max, sizeof *in->want);
	in->wantlen = xcalloc(max, sizeof *in->wantlen);
	while (len >= 2) {
		plen = get_u16(p);
		p += 2;
		len -= 2;
		if (plen > len)
			plen = len;
		if ((n = noise_encrypt(&tx, p, plen, out + o + 2,
		    NOISE_MAX_MSG)) < 0)
			break;		/* too long for a message */
		put_u16(out + o, (uint16_t)n);
		o += 2 + (size_t)n;
		in->want[in->nwant] = p;
		in->wantlen[in->nwant++] = plen;
		p += plen;
		len -= plen;
	}
	in->p = out;
	in->len = o;
	return (out);
}

/* Dispatch on the mode byte. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct session	 s;
	struct feed	 in;
	uint8_t		*sealed = NULL;
	struct noise_hs	 hs;
	int		 mode, caller = 1, rc = 0;

	fuzz_session_fixture();
	if (size < 2)
		return (0);
	memset(&in, 0, sizeof in);
	mode = data[0] % SESSION_NMODES;
	in.chunk = data[1];
	in.p = data + 2;
	in.len = size - 2;
	if (mode == SESSION_CALLER)
		rc = as_caller(&s, &in);
	else if (mode == SESSION_CALLEE) {
		caller = 0;
		rc = as_callee(&s, &in);
	} else {
		hs = fx->done[1];
		if (hs_finish(&s, &hs, 1) != 0)
			abort();
		if (mode == SESSION_SEALED)
			sealed = seal(in.p, in.len, &in);
	}
	if (rc == 0) {
		deliver(&s, &in, caller);
		session_close(&s);
	}
	free(sealed);
	free(in.want);
	free(in.wantlen);
	fflush(stdout);
	return (0);
}
