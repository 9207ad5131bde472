/*
 * session-seeds.c -- fuzz-session-seeds DIR writes the seeds of the
 * session target into DIR: what the fixed peer sends in a session run
 * between the two fixed parties (fuzz-session.h), captured where
 * path_write would send it, the peer's frames made by session.c and its
 * files sent by files.c; and plaintexts for the SEALED mode. Each seed
 * is run through the target as it is written.
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
	struct wire	 w;
	struct session	 peer;
};

/* Start a seed: the peer is the callee (caller 0) or the caller. */
static void
seed_begin(struct seed *sd, int mode, int chunk, int peer_caller)
{
	sd->buf[0] = (uint8_t)mode;
	sd->buf[1] = (uint8_t)chunk;
	sd->w.p = sd->buf;
	sd->w.len = 2;
	sd->w.cap = sizeof sd->buf;
	fx->wire = &sd->w;
	fuzz_session_finish(&sd->peer, peer_caller);
}

/* Add raw bytes (handshake frames, a frame cut short). */
static void
seed_raw(struct seed *sd, const void *p, size_t len)
{
	fuzz_session_must(len <= sd->w.cap - sd->w.len, "seed too long");
	if (len > 0)
		memcpy(sd->w.p + sd->w.len, p, len);
	sd->w.len += len;
}

/* The peer sends kind || p, through session_send. */
static void
seed_send(struct seed *sd, uint8_t kind, const void *p, size_t len)
{
	char	*cause = NULL;

	fuzz_session_must(session_send(&sd->peer, kind, p, len, NULL, 0,
	    &cause) == 0, "session_send");
}

/* The peer sends a real file, through files.c. */
static void
seed_file(struct seed *sd, const char *tmp)
{
	struct txfile	*tx;
	char		*cause = NULL;
	int		 r;

	fuzz_session_must((tx = files_tx_open(tmp)) != NULL, "files_tx_open");
	while ((r = files_tx_step(tx, &sd->peer, &cause)) == 1)
		;
	fuzz_session_must(r == 0, "files_tx_step");
	files_tx_free(tx);
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

/* Write the seed as dir/name, check that the target hands its first
 * handled messages to run_handle, and end it. */
static void
seed_end(struct seed *sd, const char *dir, const char *name,
    unsigned long handled)
{
	char	 path[1024];
	size_t	 len = sd->w.len;
	FILE	*f;

	fx->wire = NULL;
	session_close(&sd->peer);
	snprintf(path, sizeof path, "%s/%s", dir, name);
	fuzz_session_must((f = fopen(path, "wb")) != NULL &&
	    fwrite(sd->buf, 1, len, f) == len && fclose(f) == 0, path);
	fx->handled = 0;
	LLVMFuzzerTestOneInput(sd->buf, len);
	if (fx->handled != handled)
		fatalx("seed %s: %lu messages handled, not %lu", name,
		    fx->handled, handled);
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

/* The seeds where the peer's frames come from session.c and files.c. */
static void
seeds_wire(const char *dir, const char *tmp)
{
	struct seed	 sd;
	uint8_t		 cut[64];

	seed_begin(&sd, SESSION_CALLER, 0, 0);
	seed_raw(&sd, fx->msg[1], fx->len[1]);
	seed_send(&sd, KIND_TEXT, "hello from the callee", 21);
	seed_send(&sd, KIND_CLOSE, NULL, 0);
	seed_end(&sd, dir, "caller-chat", 2);
	seed_begin(&sd, SESSION_CALLER, 5, 0);
	seed_raw(&sd, fx->msg[1], fx->len[1]);
	seed_file(&sd, tmp);
	seed_send(&sd, KIND_CLOSE, NULL, 0);
	seed_end(&sd, dir, "caller-file", 4);
	seed_begin(&sd, SESSION_CALLER, 0, 0);
	impostor_msg2(&sd);
	seed_send(&sd, KIND_TEXT, "hi", 2);
	seed_end(&sd, dir, "caller-impostor", 0);
	seed_begin(&sd, SESSION_CALLEE, 0, 1);
	seed_raw(&sd, fx->msg[0] + SESSION_PREAMBLE_LEN, SESSION_MSG1_LEN);
	seed_raw(&sd, fx->msg[2], fx->len[2]);
	seed_send(&sd, KIND_TEXT, "hello from the caller", 21);
	seed_file(&sd, tmp);
	seed_send(&sd, KIND_CLOSE, NULL, 0);
	seed_end(&sd, dir, "callee-file", 5);
	seed_begin(&sd, SESSION_TRANSPORT, 0, 0);
	seed_file(&sd, tmp);
	seed_send(&sd, 9, "a later kind", 12);
	seed_send(&sd, KIND_TEXT, "\033]0;title\007\302\233", 13);
	seed_send(&sd, KIND_CLOSE, NULL, 0);
	seed_end(&sd, dir, "transport-file", 6);
	seed_begin(&sd, SESSION_TRANSPORT, 3, 0);
	seed_send(&sd, KIND_FILE_DATA, "no offer", 8);
	seed_end(&sd, dir, "transport-no-offer", 1);
	seed_begin(&sd, SESSION_TRANSPORT, 1, 0);
	seed_send(&sd, KIND_TEXT, "whole", 5);
	seed_send(&sd, KIND_TEXT, "cut short", 9);
	memcpy(cut, sd.buf + sd.w.len - 20, 20);
	sd.w.len -= 20;
	seed_raw(&sd, cut, 10);
	seed_end(&sd, dir, "transport-cut", 1);
}

/* The SEALED seeds: plaintexts the genuine sender would not send. */
static void
seeds_sealed(const char *dir)
{
	struct seed	 sd;
	uint8_t		 hash[32];

	crypto_generichash(hash, sizeof hash, (const uint8_t *)CONTENT,
	    strlen(CONTENT), NULL, 0);
	seed_begin(&sd, SESSION_SEALED, 0, 0);
	seed_offer(&sd, strlen(CONTENT), "../up.txt");
	seed_plain(&sd, KIND_FILE_DATA, CONTENT, strlen(CONTENT), NULL, 0);
	seed_plain(&sd, KIND_FILE_END, hash, sizeof hash, NULL, 0);
	seed_plain(&sd, KIND_CLOSE, NULL, 0, NULL, 0);
	seed_end(&sd, dir, "sealed-file", 4);
	seed_begin(&sd, SESSION_SEALED, 7, 0);
	seed_offer(&sd, 4, "short");
	seed_plain(&sd, KIND_FILE_DATA, "abc", 3, NULL, 0);
	seed_plain(&sd, KIND_FILE_END, hash, sizeof hash, NULL, 0);
	seed_end(&sd, dir, "sealed-short", 3);
	seed_begin(&sd, SESSION_SEALED, 0, 0);
	seed_offer(&sd, 1ULL << 62, "huge");
	seed_end(&sd, dir, "sealed-huge", 1);
	seed_begin(&sd, SESSION_SEALED, 0, 0);
	seed_offer(&sd, 1, "one");
	seed_offer(&sd, 1, "two");
	seed_end(&sd, dir, "sealed-two-offers", 2);
	seed_begin(&sd, SESSION_SEALED, 1, 0);
	seed_plain(&sd, KIND_TEXT, "x", 1, NULL, 0);
	seed_raw(&sd, "\0\0", 2);
	seed_end(&sd, dir, "sealed-empty", 1);
}

/* fuzz-session-seeds DIR: write the seeds. */
int
main(int argc, char **argv)
{
	char	 tmp[] = "/tmp/fuzz-session-seeds-XXXXXX", file[64];
	FILE	*f;

	if (argc != 2) {
		fprintf(stderr, "usage: %s DIR\n", argv[0]);
		return (2);
	}
	fx = fuzz_session_fixture();
	if (mkdir(argv[1], 0755) == -1 && access(argv[1], W_OK) == -1)
		fatal("%s", argv[1]);
	fuzz_session_must(mkdtemp(tmp) != NULL, "mkdtemp");
	snprintf(file, sizeof file, "%s/note.txt", tmp);
	f = fopen(file, "w");
	fuzz_session_must(f != NULL && fputs(CONTENT, f) >= 0 &&
	    fclose(f) == 0, file);
	seeds_wire(argv[1], file);
	seeds_sealed(argv[1]);
	unlink(file);
	rmdir(tmp);
	return (0);
}
