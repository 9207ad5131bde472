/*
 * fuzz-session.c -- what the other party of a session sends, as a
 * malicious peer or a relay in the middle would (PROTOCOL.md §6.3),
 * through libtryst's own code: its handshake frames read by
 * client/session.c's pure steps (session_frame, session_hs_read,
 * session_hs_finish), then transport frames given, in pieces, to a call
 * of the library (session-lib.c), whose lib/call.c takes them with
 * session_input and session_take and hands each message that decrypts to
 * the app (text) or to lib/file.c, which receives files into a folder of
 * its own. The parties have fixed keys (fuzz.h), so a seed's genuine
 * handshake and transport frames stay valid.
 *
 * An input is mode:u8 chunk:u8 stream. The mode (modulo SESSION_NMODES):
 *	CALLER	  we called and sent message 1; the stream is the callee's
 *		  message 2 frame, then its transport frames
 *	CALLEE	  we answer; the stream is message 1 (34 bytes, after the
 *		  preamble race.c checks), message 3's frame, then frames
 *	TRANSPORT a session set up as CALLER; the stream is transport frames
 *	SEALED	  the same session; the stream is plaintexts (len:u16 ||
 *		  bytes, the last one cut short), each encrypted by the
 *		  genuine callee, so that any message reaches the library
 * chunk is how many bytes the session is given at a time (0: all), as a
 * network would cut them; the library's call gets them in at most
 * LIB_PASSES pieces (session-lib.c), each a pass of tryst_process with a
 * write and a read, or a long input cut small would take seconds.
 *
 * The stream is taken twice: by a copy of the session alone, which says
 * what the library must make of it, then by the library. Checked: a
 * handshake frame that is read can be answered; session_take changes the
 * input and the cipher exactly as it says; SEALED messages come out as
 * they went in, and an empty one is refused; the app is given exactly
 * the peer's texts, in order, and none after its CLOSE; the call ends
 * cleanly exactly when the peer's CLOSE came and no file was refused,
 * else with the error that says why; a file is left in the folder only
 * when its end was accepted (no hidden part left), under a safe name,
 * and it is the next one the peer sent whole (size and hash right), with
 * the bytes sent; on a clean end every such file was received; files go
 * one at a time; we write nothing but our close, only after the peer's,
 * and it decrypts for the peer. session-seeds.c writes the seeds
 * (meson compile -C build fuzz-corpus-session).
 */
#include <sys/stat.h>

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "fuzz.h"
#include "fuzz-session.h"

#define E_KEY		"the peer's key is not the one in its credential"
#define E_EMPTY		"the peer sent an empty message"

static struct fuzz_session	*fx;

/* What the library must make of a stream, as the session alone took
 * it: the peer's texts before its first CLOSE, and what came. */
struct expect {
	uint8_t		*buf;		/* the texts, one after another */
	size_t		 len, size;
	size_t		*off;		/* where text i starts; off[n]: end */
	size_t		 n, cap;
	size_t		 given;		/* texts the app was given */
	unsigned	 ends;		/* FILE_ENDs before the CLOSE */
	int		 file;		/* an offer not yet ended */
	int		 good;		/* ... well formed, its data in st */
	uint64_t	 fsize, fgot;
	crypto_generichash_state st;
	uint8_t		(*due)[40];	/* files that must be received: size,
					   hash */
	size_t		 ndue;
	size_t		 received;	/* files the library received */
	int		 close;		/* the peer's CLOSE came */
	int		 twice;		/* an offer during a file came first */
	int		 broken;	/* a frame did not decrypt first */
};

static struct expect	*ex;

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

/* Remove the folder at exit. */
static void
fixture_end(void)
{
	session_close(&fx->shadow);
	rmdir(fx->dir);
}

/* The fixture, made on first use. */
struct fuzz_session *
fuzz_session_fixture(void)
{
	if (fx != NULL)
		return (fx);
	fuzz_session_must(sodium_init() >= 0, "sodium_init");
	fx = xcalloc(1, sizeof *fx);
	party(&fx->hi[1], 1);
	party(&fx->hi[0], 0);
	handshake(fx);
	fuzz_session_finish(&fx->shadow, 1);
	snprintf(fx->dir, sizeof fx->dir, "/tmp/fuzz-session-XXXXXX");
	fuzz_session_must(mkdtemp(fx->dir) != NULL, "mkdtemp");
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

/* The app was given a text: the next the peer sent before its CLOSE. */
void
fuzz_session_text(const uint8_t *p, size_t len)
{
	size_t	 i = ex->given++;

	if (i >= ex->n || len != ex->off[i + 1] - ex->off[i] ||
	    (len > 0 && memcmp(p, ex->buf + ex->off[i], len) != 0))
		abort();
}

/* The BLAKE2b of the file at path, which must be size bytes. */
static void
hash_file(const char *path, uint64_t size, uint8_t hash[32])
{
	crypto_generichash_state st;
	uint8_t		 buf[4096];
	uint64_t	 got = 0;
	size_t		 n;
	FILE		*f;

	if ((f = fopen(path, "rb")) == NULL)
		abort();
	crypto_generichash_init(&st, NULL, 0, 32);
	while ((n = fread(buf, 1, sizeof buf, f)) > 0) {
		crypto_generichash_update(&st, buf, n);
		got += n;
	}
	fclose(f);
	crypto_generichash_final(&st, hash, 32);
	if (got != size)
		abort();
}

/* A file was received as name: in the folder (a name inbox.c made safe
 * may still begin with a dot), and the next one the peer sent whole,
 * with its hash. */
void
fuzz_session_file(const char *name, uint64_t bytes, uint64_t size)
{
	struct stat	 sb;
	uint8_t		 hash[32];
	char		 path[512];
	size_t		 k = ex->received++;

	if (name == NULL || name[0] == '\0' || strcmp(name, ".") == 0 ||
	    strcmp(name, "..") == 0 || strchr(name, '/') != NULL ||
	    bytes != size || k >= ex->ndue || get_u64(ex->due[k]) != size)
		abort();
	snprintf(path, sizeof path, "%s/%s", fx->dir, name);
	if (lstat(path, &sb) == -1 || !S_ISREG(sb.st_mode))
		abort();
	hash_file(path, size, hash);
	if (memcmp(hash, ex->due[k] + 8, 32) != 0)
		abort();
}

/* A file message the session took: an offer (well formed, or refused),
 * data (no more than offered), an end whose hash is the data's makes a
 * file the library must receive. */
static void
expect_file(const uint8_t *p, size_t len)
{
	uint8_t	 hash[32];
	char	*name;

	if (p[0] == KIND_FILE_OFFER) {
		ex->good = inbox_offer_parse(p + 1, len - 1, &ex->fsize,
		    &name) == 0;
		if (ex->good)
			free(name);
		ex->fgot = 0;
		crypto_generichash_init(&ex->st, NULL, 0, 32);
	} else if (p[0] == KIND_FILE_DATA && ex->good) {
		if ((ex->fgot += len - 1) > ex->fsize)
			ex->good = 0;
		else
			crypto_generichash_update(&ex->st, p + 1, len - 1);
	} else if (p[0] == KIND_FILE_END && ex->good) {
		crypto_generichash_final(&ex->st, hash, sizeof hash);
		ex->good = 0;
		if (len != 33 || ex->fgot != ex->fsize ||
		    memcmp(hash, p + 1, 32) != 0)
			return;
		ex->due = xrealloc(ex->due, (ex->ndue + 1) * sizeof *ex->due);
		put_u64(ex->due[ex->ndue], ex->fsize);
		memcpy(ex->due[ex->ndue++] + 8, hash, 32);
	}
}

/*
 * Keep a message the session took, as the library must see it. Nothing
 * after the peer's CLOSE is read; files go one at a time (§6.3), so an
 * offer in the middle of a file is refused, and nothing after it read.
 */
static void
expect_msg(const uint8_t *p, size_t len)
{
	if (ex->close || ex->twice)
		return;
	if (p[0] == KIND_CLOSE)
		ex->close = 1;
	if (p[0] == KIND_FILE_OFFER && ex->file) {
		ex->twice = 1;
		return;
	}
	if (p[0] == KIND_FILE_OFFER)
		ex->file = 1;
	if (p[0] == KIND_FILE_END) {
		ex->ends++;
		ex->file = 0;
	}
	if (p[0] >= KIND_FILE_OFFER && p[0] <= KIND_FILE_END)
		expect_file(p, len);
	if (p[0] != KIND_TEXT)
		return;
	if (ex->n + 2 > ex->cap) {
		ex->cap = ex->cap == 0 ? 16 : ex->cap * 2;
		ex->off = xrealloc(ex->off, ex->cap * sizeof *ex->off);
	}
	if (ex->len + len > ex->size) {
		ex->size = ex->len + len + 4096;
		ex->buf = xrealloc(ex->buf, ex->size);
	}
	if (len > 1)
		memcpy(ex->buf + ex->len, p + 1, len - 1);
	ex->off[ex->n++] = ex->len;
	ex->len += len - 1;
	ex->off[ex->n] = ex->len;
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
check_wire(const struct outcome *o, int caller)
{
	struct noise_cipher	 rx = fx->peer_rx[caller];
	uint8_t			 pt[64];
	size_t			 need;

	if (o->code != 0) {
		if (o->wirelen != 0)
			abort();
		return;
	}
	if (session_frame(o->wire, o->wirelen, &need) != o->wirelen ||
	    noise_decrypt(&rx, o->wire + 2, o->wirelen - 2, pt,
	    sizeof pt) != 1 || pt[0] != KIND_CLOSE)
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

/* The session alone takes the stream (a copy of it), a chunk at a
 * time, and says what the library must make of it. */
static void
shadow(struct session *s, struct feed in)
{
	char	*cause = NULL;
	size_t	 n, k = 0;
	int	 rc;

	for (;;) {
		if ((rc = take(s, &cause)) != 2)
			check_sealed(&in, k++, s, rc);
		if (rc == -1) {
			if (!ex->close && !ex->twice)
				ex->broken = 1;
			break;
		}
		if (rc == 1) {
			expect_msg(s->pt, s->ptlen);
			continue;
		}
		if (in.len == 0)
			break;		/* the peer went silent or away */
		n = in.chunk == 0 || in.chunk > in.len ? in.len : in.chunk;
		if ((n = session_input(s, in.p, n)) == 0)
			abort();
		in.p += n;
		in.len -= n;
	}
	if (rc == 2 && in.want != NULL && k != in.nwant)
		abort();		/* a sealed message went missing */
	free(cause);
}

/*
 * What the library made of the stream, against what the session alone
 * took: a clean end exactly when the peer's CLOSE came and no file was
 * refused (then every text before it was given); a refused file ends it
 * with an error and may cut the texts short, and an offer in the middle
 * of a file is refused; else the peer went away or sent what does not
 * decrypt, and the error says which.
 */
static void
check_outcome(const struct outcome *o, int caller)
{
	if (!o->ended || o->texts != ex->given || o->refused > 1 ||
	    (ex->twice && o->refused == 0))
		abort();
	if (o->code == 0 && (!ex->close || o->refused != 0 ||
	    o->texts != ex->n))
		abort();
	if (o->code != 0 && o->refused == 0 && (ex->close ||
	    o->texts != ex->n || o->code != (ex->broken ? TRYST_EINVAL :
	    TRYST_ENET)))
		abort();
	if (o->refused != 0 && o->code != TRYST_EINVAL)
		abort();
	if (o->done != ex->received || o->done > ex->ends ||
	    (o->code == 0 && o->done != ex->ndue))
		abort();		/* a file lost, or one not sent */
	check_wire(o, caller);
	empty_dir(o->done);
}

/* Take the stream with a copy of s (the fixture's session, with s's
 * ciphers: a session's buffers are 256 KiB, slow to get under ASan),
 * then give s and the stream to a call of the library, and compare. */
static void
deliver(struct session *s, struct feed *in, int caller)
{
	struct expect	 e;

	memset(&e, 0, sizeof e);
	ex = &e;
	fx->shadow.tx = s->tx;
	fx->shadow.rx = s->rx;
	fx->shadow.fill = 0;
	fx->shadow.ptlen = 0;
	shadow(&fx->shadow, *in);
	fuzz_lib_run(s, caller, fx->dir, in, &fx->last);
	fx->sessions++;
	check_outcome(&fx->last, caller);
	free(e.buf);
	free(e.off);
	free(e.due);
	ex = NULL;
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
	}
	free(sealed);
	free(in.want);
	free(in.wantlen);
	return (0);
}
