/*
 * session-seeds.c -- fuzz-session-seeds DIR writes the seeds of the
 * session target into DIR: what the fixed peer sends in a session run
 * between the two fixed parties (fuzz-session.h), its frames sealed with
 * the peer's own cipher and its files as lib/file.c sends them (offer,
 * data, end with the BLAKE2b); and plaintexts for the SEALED mode. Each
 * seed is run through the target as it is written, and what the library
 * made of it must be what the seed is for.
 *	meson compile -C build fuzz-corpus-session
 */
#include <sys/stat.h>

#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "fuzz.h"
#include "client.h"
#include "fuzz-session.h"

#define CONTENT		"a file of the caller's\n"

static struct fuzz_session	*fx;

/* A seed being made: mode, chunk, then what the peer sent. */
struct seed {
	uint8_t		 buf[8192];
	size_t		 len;
	struct noise_cipher tx;		/* the peer's */
};

/* What the library must make of a seed. */
struct want {
	unsigned	 texts;		/* given to the app */
	unsigned	 files;		/* received */
	int		 code;		/* how the call ended; 0 cleanly */
};

/* Start a seed: the peer is the callee (caller 0) or the caller. */
static void
seed_begin(struct seed *sd, int mode, int chunk, int peer_caller)
{
	struct session	 s;

	sd->buf[0] = (uint8_t)mode;
	sd->buf[1] = (uint8_t)chunk;
	sd->len = 2;
	fuzz_session_finish(&s, peer_caller);
	sd->tx = s.tx;
	session_close(&s);
}

/* Add raw bytes (handshake frames, a frame cut short). */
static void
seed_raw(struct seed *sd, const void *p, size_t len)
{
	fuzz_session_must(len <= sizeof sd->buf - sd->len, "seed too long");
	if (len > 0)
		memcpy(sd->buf + sd->len, p, len);
	sd->len += len;
}

/* The peer sends kind || p, a frame sealed as session.c seals it. */
static void
seed_send(struct seed *sd, uint8_t kind, const void *p, size_t len)
{
	uint8_t	 pt[1024], out[2 + 1024 + NOISE_TAG];
	long	 n;

	fuzz_session_must(len < sizeof pt, "message too long");
	pt[0] = kind;
	if (len > 0)
		memcpy(pt + 1, p, len);
	n = noise_encrypt(&sd->tx, pt, 1 + len, out + 2, sizeof out - 2);
	fuzz_session_must(n > 0, "noise_encrypt");
	put_u16(out, (uint16_t)n);
	seed_raw(sd, out, 2 + (size_t)n);
}

/* The peer sends a file of CONTENT named name, as lib/file.c does. */
static void
seed_file(struct seed *sd, const char *name)
{
	uint8_t	 head[10 + 64], hash[32];

	put_u64(head, strlen(CONTENT));
	put_u16(head + 8, (uint16_t)strlen(name));
	memcpy(head + 10, name, strlen(name));
	seed_send(sd, KIND_FILE_OFFER, head, 10 + strlen(name));
	seed_send(sd, KIND_FILE_DATA, CONTENT, strlen(CONTENT));
	crypto_generichash(hash, sizeof hash, (const uint8_t *)CONTENT,
	    strlen(CONTENT), NULL, 0);
	seed_send(sd, KIND_FILE_END, hash, sizeof hash);
}

/* A SEALED plaintext: kind || a || b, framed as the mode reads it. */
static void
seed_plain(struct seed *sd, uint8_t kind, const void *a, size_t alen,
    const void *b, size_t blen)
{
	uint8_t	 head[3];

	put_u16(head, (uint16_t)(1 + alen + blen));
	head[2] = kind;
	seed_raw(sd, head, sizeof head);
	seed_raw(sd, a, alen);
	seed_raw(sd, b, blen);
}

/* A SEALED file offer of size bytes named name. */
static void
seed_offer(struct seed *sd, uint64_t size, const char *name)
{
	uint8_t	 head[10];

	put_u64(head, size);
	put_u16(head + 8, (uint16_t)strlen(name));
	seed_plain(sd, KIND_FILE_OFFER, head, sizeof head, name,
	    strlen(name));
}

/* Write the seed as dir/name, run it, and check that the library made
 * of it what w says (w NULL: no session must come of it). */
static void
seed_end(struct seed *sd, const char *dir, const char *name,
    const struct want *w)
{
	char	 path[1024];
	int	 before = fx->sessions;
	FILE	*f;

	snprintf(path, sizeof path, "%s/%s", dir, name);
	fuzz_session_must((f = fopen(path, "wb")) != NULL &&
	    fwrite(sd->buf, 1, sd->len, f) == sd->len && fclose(f) == 0,
	    path);
	LLVMFuzzerTestOneInput(sd->buf, sd->len);
	if (w == NULL) {
		if (fx->sessions != before)
			fatalx("seed %s: a session came up", name);
		return;
	}
	if (fx->sessions != before + 1)
		fatalx("seed %s: no session came up", name);
	if (fx->last.texts != w->texts || fx->last.done != w->files ||
	    fx->last.code != w->code)
		fatalx("seed %s: %u texts, %u files, ended with %d; not %u, "
		    "%u, %d", name, fx->last.texts, fx->last.done,
		    fx->last.code, w->texts, w->files, w->code);
}

/* An impostor's message 2: a valid handshake with another static key. */
static void
impostor_msg2(struct seed *sd)
{
	struct hsinfo	 hi = fx->hi[0];
	struct noise_hs	 r;
	uint8_t		 out[SESSION_HS_OUT];
	char		*cause = NULL;
	long		 n;

	memset(hi.s_sk, 0x55, sizeof hi.s_sk);
	session_hs_begin(&r, 0, &hi, fuzz_session_e(0));
	fuzz_session_must(session_hs_read(&r, fx->msg[0] + SESSION_PREAMBLE_LEN,
	    SESSION_MSG1_LEN, &cause) == 0, "impostor: message 1");
	fuzz_session_must((n = session_hs_write(&r, NULL, 0, out, sizeof out,
	    &cause)) > 0, "impostor: message 2");
	seed_raw(sd, out, (size_t)n);
}

/* The seeds where the peer's frames are sealed as session.c seals
 * them, its files sent as lib/file.c sends them. */
static void
seeds_wire(const char *dir)
{
	static const struct want chat = { 1, 0, 0 }, file = { 0, 1, 0 },
	    both = { 1, 1, 0 }, no_offer = { 0, 0, TRYST_EINVAL },
	    cut_short = { 1, 0, TRYST_ENET };
	struct seed	 sd;
	uint8_t		 cut[64];

	seed_begin(&sd, SESSION_CALLER, 0, 0);
	seed_raw(&sd, fx->msg[1], fx->len[1]);
	seed_send(&sd, KIND_TEXT, "hello from the callee", 21);
	seed_send(&sd, KIND_CLOSE, NULL, 0);
	seed_end(&sd, dir, "caller-chat", &chat);
	seed_begin(&sd, SESSION_CALLER, 5, 0);
	seed_raw(&sd, fx->msg[1], fx->len[1]);
	seed_file(&sd, "note.txt");
	seed_send(&sd, KIND_CLOSE, NULL, 0);
	seed_end(&sd, dir, "caller-file", &file);
	seed_begin(&sd, SESSION_CALLER, 0, 0);
	impostor_msg2(&sd);
	seed_send(&sd, KIND_TEXT, "hi", 2);
	seed_end(&sd, dir, "caller-impostor", NULL);
	seed_begin(&sd, SESSION_CALLEE, 0, 1);
	seed_raw(&sd, fx->msg[0] + SESSION_PREAMBLE_LEN, SESSION_MSG1_LEN);
	seed_raw(&sd, fx->msg[2], fx->len[2]);
	seed_send(&sd, KIND_TEXT, "hello from the caller", 21);
	seed_file(&sd, "note.txt");
	seed_send(&sd, KIND_CLOSE, NULL, 0);
	seed_end(&sd, dir, "callee-file", &both);
	seed_begin(&sd, SESSION_TRANSPORT, 0, 0);
	seed_file(&sd, "note.txt");
	seed_send(&sd, 9, "a later kind", 12);
	seed_send(&sd, KIND_TEXT, "\033]0;title\007\302\233", 13);
	seed_send(&sd, KIND_CLOSE, NULL, 0);
	seed_end(&sd, dir, "transport-file", &both);
	seed_begin(&sd, SESSION_TRANSPORT, 3, 0);
	seed_send(&sd, KIND_FILE_DATA, "no offer", 8);
	seed_end(&sd, dir, "transport-no-offer", &no_offer);
	seed_begin(&sd, SESSION_TRANSPORT, 1, 0);
	seed_send(&sd, KIND_TEXT, "whole", 5);
	seed_send(&sd, KIND_TEXT, "cut short", 9);
	memcpy(cut, sd.buf + sd.len - 20, 20);
	sd.len -= 20;
	seed_raw(&sd, cut, 10);
	seed_end(&sd, dir, "transport-cut", &cut_short);
}

/* The SEALED seeds: plaintexts the genuine sender would not send. */
static void
seeds_sealed(const char *dir)
{
	static const struct want file = { 0, 1, 0 },
	    refused = { 0, 0, TRYST_EINVAL }, empty = { 1, 0, TRYST_EINVAL },
	    closed = { 1, 0, 0 };
	struct seed	 sd;
	uint8_t		 hash[32];

	crypto_generichash(hash, sizeof hash, (const uint8_t *)CONTENT,
	    strlen(CONTENT), NULL, 0);
	seed_begin(&sd, SESSION_SEALED, 0, 0);
	seed_offer(&sd, strlen(CONTENT), "../up.txt");
	seed_plain(&sd, KIND_FILE_DATA, CONTENT, strlen(CONTENT), NULL, 0);
	seed_plain(&sd, KIND_FILE_END, hash, sizeof hash, NULL, 0);
	seed_plain(&sd, KIND_CLOSE, NULL, 0, NULL, 0);
	seed_end(&sd, dir, "sealed-file", &file);
	seed_begin(&sd, SESSION_SEALED, 7, 0);
	seed_offer(&sd, 4, "short");
	seed_plain(&sd, KIND_FILE_DATA, "abc", 3, NULL, 0);
	seed_plain(&sd, KIND_FILE_END, hash, sizeof hash, NULL, 0);
	seed_end(&sd, dir, "sealed-short", &refused);
	seed_begin(&sd, SESSION_SEALED, 0, 0);
	seed_offer(&sd, 1ULL << 62, "huge");
	seed_end(&sd, dir, "sealed-huge", &refused);
	/* Files go one at a time (§6.3): the second offer is refused. */
	seed_begin(&sd, SESSION_SEALED, 0, 0);
	seed_offer(&sd, 1, "one");
	seed_offer(&sd, 1, "two");
	seed_end(&sd, dir, "sealed-two-offers", &refused);
	/* Nothing after the peer's CLOSE is read: no text, no file. */
	seed_begin(&sd, SESSION_SEALED, 0, 0);
	seed_plain(&sd, KIND_TEXT, "before", 6, NULL, 0);
	seed_plain(&sd, KIND_CLOSE, NULL, 0, NULL, 0);
	seed_plain(&sd, KIND_TEXT, "after", 5, NULL, 0);
	seed_offer(&sd, strlen(CONTENT), "late.txt");
	seed_plain(&sd, KIND_FILE_DATA, CONTENT, strlen(CONTENT), NULL, 0);
	seed_plain(&sd, KIND_FILE_END, hash, sizeof hash, NULL, 0);
	seed_end(&sd, dir, "sealed-after-close", &closed);
	seed_begin(&sd, SESSION_SEALED, 1, 0);
	seed_plain(&sd, KIND_TEXT, "x", 1, NULL, 0);
	seed_raw(&sd, "\0\0", 2);
	seed_end(&sd, dir, "sealed-empty", &empty);
}

/* fuzz-session-seeds DIR: write the seeds. */
int
main(int argc, char **argv)
{
	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return (2);
	}
	fx = fuzz_session_fixture();
	if (mkdir(argv[1], 0755) == -1 && access(argv[1], W_OK) == -1)
		fatal("%s", argv[1]);
	seeds_wire(argv[1]);
	seeds_sealed(argv[1]);
	return (0);
}
