/*
 * test-session.c -- the Noise session as tryst runs it (PROTOCOL.md §6.3):
 * caller and callee over a real socketpair, the prologue binding the
 * session and both IDs, each side's check of the peer's static key
 * against its credential, and transport messages that are tampered with;
 * then the pure steps the session is made of (framing, the handshake in
 * memory, input taken a byte at a time). What the peer's messages reach
 * then, libtryst's call.c and file.c, is test-call's (test_receive_*)
 * and fuzz-session's.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <poll.h>
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <sodium.h>

#include "client.h"
#include "unit.h"

#define NKEYS		3	/* identities: caller, callee, someone else */
#define WAIT_MS		2000
#define E_MSG2		"handshake message 2 does not decrypt"
#define E_CLOSED	"the peer closed the connection"
#define E_KEY		"the peer's key is not the one in its credential"
#define E_DECRYPT	"a message from the peer does not decrypt"
#define E_EMPTY		"the peer sent an empty message"

enum { A, B, M };		/* caller, callee, neither */

/* One side of a call: what it binds to, its path, and the outcome. */
struct side {
	struct hsinfo	 hi;
	struct path	 path;
	struct session	 s;
	int		 rc;		/* of session_start or _answer */
	int		 pre_ok;	/* callee: the preamble was its own */
	char		*cause;
};

struct pair {
	struct side	 caller, callee;
};

/*
 * path.c's relay half, which a direct path never reaches: stubs, so that
 * the test needs neither net.c nor OpenSSL.
 */
struct tconn *
tconn_open(const char *hp, const uint8_t *pk, struct tconn_challenge *ch,
    char **cause)
{
	(void)hp, (void)pk, (void)ch, (void)cause;
	abort();
}

/* Stub: see tconn_open. */
int
tconn_send(struct tconn *t, const struct msg *m, char **cause)
{
	(void)t, (void)m, (void)cause;
	abort();
}

/* Stub: see tconn_open. */
int
tconn_send_raw(struct tconn *t, const void *p, size_t len, char **cause)
{
	(void)t, (void)p, (void)len, (void)cause;
	abort();
}

/* Stub: see tconn_open. */
long
tconn_read_raw(struct tconn *t, void *p, size_t len, char **cause)
{
	(void)t, (void)p, (void)len, (void)cause;
	abort();
}

/* Stub: see tconn_open. */
int
tconn_recv_nowait(struct tconn *t, struct msg *m, char **cause)
{
	(void)t, (void)m, (void)cause;
	abort();
}

/* Stub: see tconn_open. */
int
tconn_fd(const struct tconn *t)
{
	(void)t;
	abort();
}

/* Stub: see tconn_open. */
void
tconn_close(struct tconn *t)
{
	(void)t;
	abort();
}

/* The Ed25519 identity key number i, from a fixed seed. */
static void
identity(int i, uint8_t pk[32], uint8_t sk[64])
{
	uint8_t	 seed[32];

	memset(seed, 0x40 + i, sizeof seed);
	ck_assert_int_eq(crypto_sign_seed_keypair(pk, sk, seed), 0);
}

/* Fill in what one side binds to: it is me and expects the key of peer. */
static void
side_init(struct side *sd, int me, int peer)
{
	uint8_t	 pk[32], sk[64], peer_pk[32];

	memset(sd, 0, sizeof *sd);
	sd->hi.session = 0x0102030405060708ULL;
	memset(sd->hi.caller_id, 0xa1, ID_LEN);
	memset(sd->hi.callee_id, 0xb2, ID_LEN);
	identity(peer, peer_pk, sk);
	identity(me, pk, sk);
	ck_assert_int_eq(session_keys(&sd->hi, sk, peer_pk), 0);
	sodium_memzero(sk, sizeof sk);
}

/*
 * The caller is identity ca and the callee cb; the caller expects the
 * callee's key to be that of eb, the callee the caller's that of ea.
 */
static void
pair_init(struct pair *pr, int ca, int ea, int cb, int eb)
{
	side_init(&pr->caller, ca, eb);
	side_init(&pr->callee, cb, ea);
}

/*
 * Callee, as race.c does it: read the preamble and message 1, then answer.
 * A preamble that is not its own is only noted, so that what the Noise
 * prologue binds is tested by Noise alone.
 */
static void *
callee_run(void *arg)
{
	struct side	*sd = arg;
	uint8_t		 buf[SESSION_PREAMBLE_LEN + SESSION_MSG1_LEN];
	uint8_t		 pre[SESSION_PREAMBLE_LEN];

	sd->rc = path_read_full(&sd->path, buf, sizeof buf,
	    tryst_now_ms() + SESSION_HS_MS, &sd->cause);
	if (sd->rc == 0) {
		session_preamble(pre, sd->hi.session);
		sd->pre_ok = memcmp(buf, pre, sizeof pre) == 0;
		sd->rc = session_answer(&sd->s, &sd->path, &sd->hi,
		    buf + sizeof pre, &sd->cause);
	}
	if (sd->rc != 0)
		path_close(&sd->path);
	return (NULL);
}

/* Run both sides' handshakes on a socketpair, the callee on a thread. */
static void
pair_run(struct pair *pr)
{
	pthread_t	 th;
	int		 fds[2];

	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK |
	    SOCK_CLOEXEC, 0, fds), 0);
	path_direct(&pr->caller.path, fds[0]);
	path_direct(&pr->callee.path, fds[1]);
	ck_assert_int_eq(pthread_create(&th, NULL, callee_run, &pr->callee),
	    0);
	pr->caller.rc = session_start(&pr->caller.s, &pr->caller.path,
	    &pr->caller.hi, &pr->caller.cause);
	if (pr->caller.rc != 0)
		path_close(&pr->caller.path);
	ck_assert_int_eq(pthread_join(th, NULL), 0);
}

/* Close whatever sessions came up. */
static void
pair_free(struct pair *pr)
{
	if (pr->caller.rc == 0)
		session_close(&pr->caller.s);
	if (pr->callee.rc == 0)
		session_close(&pr->callee.s);
	free(pr->caller.cause);
	free(pr->callee.cause);
}

/* session_recv on s until it has something to say or WAIT_MS pass. */
static int
recv_wait(struct session *s, char **cause)
{
	struct pollfd	 pfd;
	int64_t		 deadline = tryst_now_ms() + WAIT_MS;
	int		 r;

	while ((r = session_recv(s, cause)) == 2 &&
	    tryst_now_ms() < deadline) {
		pfd.fd = path_pollfd(&s->path);
		pfd.events = POLLIN;
		poll(&pfd, 1, 100);
	}
	return (r);
}

/* Send kind || a || b from one session; the other receives exactly it. */
static void
expect_carried(struct session *from, struct session *to, uint8_t kind,
    const uint8_t *a, size_t alen, const uint8_t *b, size_t blen)
{
	char	*cause = NULL;

	ck_assert_int_eq(session_send(from, kind, a, alen, b, blen, &cause),
	    0);
	ck_assert_int_eq(recv_wait(to, &cause), 1);
	ck_assert_uint_eq(to->ptlen, 1 + alen + blen);
	ck_assert_uint_eq(to->pt[0], kind);
	ck_assert(memcmp(to->pt + 1, a, alen) == 0);
	if (blen > 0)
		ck_assert(memcmp(to->pt + 1 + alen, b, blen) == 0);
}

/* Text both ways, then the largest message both ways, then one too big. */
START_TEST(test_good)
{
	struct pair	 pr;
	uint8_t		*big;
	char		*cause = NULL;
	size_t		 i, n = SESSION_MAX_PT - 1;

	pair_init(&pr, A, A, B, B);
	pair_run(&pr);
	ck_assert_msg(pr.caller.rc == 0, "caller: %s", pr.caller.cause);
	ck_assert_msg(pr.callee.rc == 0, "callee: %s", pr.callee.cause);
	ck_assert_int_eq(pr.callee.pre_ok, 1);
	expect_carried(&pr.caller.s, &pr.callee.s, KIND_TEXT,
	    (const uint8_t *)"hello, callee", 13, NULL, 0);
	expect_carried(&pr.callee.s, &pr.caller.s, KIND_TEXT,
	    (const uint8_t *)"hello, ", 7, (const uint8_t *)"caller", 6);
	big = xmalloc(n);
	for (i = 0; i < n; i++)
		big[i] = (uint8_t)(i * 7 + 3);
	expect_carried(&pr.caller.s, &pr.callee.s, KIND_FILE_DATA, big, 1000,
	    big + 1000, n - 1000);
	expect_carried(&pr.callee.s, &pr.caller.s, KIND_FILE_DATA, big, n,
	    NULL, 0);
	/* One byte more does not fit in a Noise message. */
	ck_assert_int_eq(session_send(&pr.caller.s, KIND_FILE_DATA, big, n,
	    "x", 1, &cause), -1);
	ck_assert_str_eq(cause, "message too long");
	free(cause);
	cause = NULL;
	free(big);
	/* Nothing else arrived; a closed caller is a close, not an error. */
	ck_assert_int_eq(session_recv(&pr.callee.s, &cause), 2);
	session_close(&pr.caller.s);
	pr.caller.rc = -1;
	ck_assert_int_eq(recv_wait(&pr.callee.s, &cause), 0);
	pair_free(&pr);
}
END_TEST

/*
 * The two sides disagree on one input of the prologue: the caller cannot
 * read message 2 and gives up, so the callee sees the connection close.
 * A session ID that differs also shows in the preamble, which race.c
 * checks too; the Noise prologue must refuse it on its own.
 */
START_TEST(test_prologue)
{
	struct pair	 pr;

	pair_init(&pr, A, A, B, B);
	switch (_i) {
	case 0:
		pr.callee.hi.session ^= 1ULL << 40;
		break;
	case 1:
		pr.callee.hi.caller_id[ID_LEN - 1] ^= 1;
		break;
	case 2:
		pr.caller.hi.callee_id[0] ^= 0x80;
		break;
	}
	pair_run(&pr);
	ck_assert_int_eq(pr.callee.pre_ok, _i != 0);
	ck_assert_int_eq(pr.caller.rc, -1);
	ck_assert_ptr_nonnull(pr.caller.cause);
	ck_assert_str_eq(pr.caller.cause, E_MSG2);
	ck_assert_int_eq(pr.callee.rc, -1);
	ck_assert_ptr_nonnull(pr.callee.cause);
	ck_assert_str_eq(pr.callee.cause, E_CLOSED);
	pair_free(&pr);
}
END_TEST

/*
 * One side holds identity M where the other expects A's (caller, _i 0)
 * or B's (callee, _i 1) key: the Noise handshake is valid, and the side
 * that checks refuses at the end. Message 3 had gone by then, so the
 * other side's own check passed, and it sees only the connection close.
 */
START_TEST(test_wrong_key)
{
	struct pair	 pr;
	struct side	*checks, *other;
	char		*cause = NULL;

	if (_i == 0)
		pair_init(&pr, M, A, B, B);
	else
		pair_init(&pr, A, A, M, B);
	pair_run(&pr);
	checks = _i == 0 ? &pr.callee : &pr.caller;
	other = _i == 0 ? &pr.caller : &pr.callee;
	ck_assert_int_eq(checks->rc, -1);
	ck_assert_ptr_nonnull(checks->cause);
	ck_assert_str_eq(checks->cause, E_KEY);
	ck_assert_msg(other->rc == 0, "other side: %s", other->cause);
	ck_assert_int_eq(recv_wait(&other->s, &cause), 0);
	pair_free(&pr);
}
END_TEST

/* Read one whole frame (len:u16 || message) off fd into buf; its length. */
static size_t
grab_frame(int fd, uint8_t *buf, size_t max)
{
	struct path	 p;
	char		*cause = NULL;
	size_t		 len;

	memset(&p, 0, sizeof p);
	p.fd = fd;
	ck_assert_int_eq(path_read_full(&p, buf, 2, tryst_now_ms() + WAIT_MS,
	    &cause), 0);
	len = get_u16(buf);
	ck_assert_uint_le(2 + len, max);
	ck_assert_int_eq(path_read_full(&p, buf + 2, len,
	    tryst_now_ms() + WAIT_MS, &cause), 0);
	return (2 + len);
}

/*
 * A frame altered on the way, or an old one replayed, is refused with an
 * error, and the last message taken stays what it was. The test sits in
 * the middle: the callee's socket is swapped for one whose other end the
 * test writes, having read the caller's frames off the original.
 */
START_TEST(test_tamper)
{
	struct pair	 pr;
	uint8_t		 f1[64], f2[64];
	char		*cause = NULL;
	size_t		 n1, n2;
	int		 orig, fds[2], cfd;

	pair_init(&pr, A, A, B, B);
	pair_run(&pr);
	ck_assert(pr.caller.rc == 0 && pr.callee.rc == 0);
	cfd = pr.callee.s.path.fd;
	ck_assert_int_ne(orig = dup(cfd), -1);
	ck_assert_int_eq(socketpair(AF_UNIX, SOCK_STREAM | SOCK_NONBLOCK, 0,
	    fds), 0);
	ck_assert_int_eq(dup2(fds[0], cfd), cfd);
	close(fds[0]);
	/* Passed on as it is, the first frame decrypts. */
	ck_assert_int_eq(session_send(&pr.caller.s, KIND_TEXT, "first", 5,
	    NULL, 0, &cause), 0);
	n1 = grab_frame(orig, f1, sizeof f1);
	ck_assert_uint_eq(n1, 2 + 1 + 5 + NOISE_TAG);
	ck_assert_int_eq(write(fds[1], f1, n1), (ssize_t)n1);
	ck_assert_int_eq(recv_wait(&pr.callee.s, &cause), 1);
	ck_assert_uint_eq(pr.callee.s.ptlen, 6);
	ck_assert(memcmp(pr.callee.s.pt, "\001first", 6) == 0);
	ck_assert_int_eq(session_send(&pr.caller.s, KIND_TEXT, "second", 6,
	    NULL, 0, &cause), 0);
	n2 = grab_frame(orig, f2, sizeof f2);
	if (_i == 0)
		f2[2] ^= 0x01;		/* the kind byte */
	else if (_i == 1)
		f2[2 + 4] ^= 0x80;	/* the text */
	else if (_i == 2)
		f2[n2 - 1] ^= 0x01;	/* the tag */
	else {
		memcpy(f2, f1, n1);	/* the first frame again */
		n2 = n1;
	}
	ck_assert_int_eq(write(fds[1], f2, n2), (ssize_t)n2);
	ck_assert_int_eq(recv_wait(&pr.callee.s, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	ck_assert_str_eq(cause, E_DECRYPT);
	free(cause);
	ck_assert_uint_eq(pr.callee.s.ptlen, 6);
	close(orig);
	close(fds[1]);
	pair_free(&pr);
}
END_TEST

/* session_frame: how much of a frame is missing, and its whole length. */
START_TEST(test_frame)
{
	const uint8_t	 in[9] = { 0, 5, 'h', 'e', 'l', 'l', 'o', 0, 0 };
	size_t		 need;

	ck_assert_uint_eq(session_frame(in, 0, &need), 0);
	ck_assert_uint_eq(need, 2);
	ck_assert_uint_eq(session_frame(in, 1, &need), 0);
	ck_assert_uint_eq(need, 1);
	ck_assert_uint_eq(session_frame(in, 2, &need), 0);
	ck_assert_uint_eq(need, 5);
	ck_assert_uint_eq(session_frame(in, 6, &need), 0);
	ck_assert_uint_eq(need, 1);
	ck_assert_uint_eq(session_frame(in, 7, &need), 7);
	ck_assert_uint_eq(need, 0);
	ck_assert_uint_eq(session_frame(in, 9, &need), 7);
	/* An empty frame is whole at its length. */
	ck_assert_uint_eq(session_frame(in + 7, 2, &need), 2);
}
END_TEST

/* The handshake run by the pure steps alone, in memory. */
static void
pure_handshake(struct pair *pr)
{
	struct noise_hs	 c, r;
	uint8_t		 m[3][SESSION_HS_OUT];
	long		 n[3];
	char		*cause = NULL;

	pair_init(pr, A, A, B, B);
	session_hs_begin(&c, 1, &pr->caller.hi, NULL);
	session_hs_begin(&r, 0, &pr->callee.hi, NULL);
	n[0] = session_hs_write(&c, NULL, 0, m[0], sizeof m[0], &cause);
	ck_assert_int_eq(n[0], SESSION_MSG1_LEN);
	/* A length prefix that is not the frame's is refused. */
	ck_assert_int_eq(session_hs_read(&r, m[0], (size_t)n[0] - 1,
	    &cause), -1);
	ck_assert_str_eq(cause, "handshake message 1 does not decrypt");
	free(cause);
	cause = NULL;
	session_hs_begin(&r, 0, &pr->callee.hi, NULL);
	ck_assert_int_eq(session_hs_read(&r, m[0], (size_t)n[0], &cause), 0);
	ck_assert_int_gt(n[1] = session_hs_write(&r, NULL, 0, m[1],
	    sizeof m[1], &cause), 0);
	ck_assert_int_eq(session_hs_read(&c, m[1], (size_t)n[1], &cause), 0);
	ck_assert_int_gt(n[2] = session_hs_write(&c, NULL, 0, m[2],
	    sizeof m[2], &cause), 0);
	ck_assert_int_eq(session_hs_read(&r, m[2], (size_t)n[2], &cause), 0);
	ck_assert_int_eq(session_hs_finish(&pr->caller.s, &c, &pr->caller.hi,
	    &cause), 0);
	ck_assert_int_eq(session_hs_finish(&pr->callee.s, &r, &pr->callee.hi,
	    &cause), 0);
	ck_assert_int_eq(pr->caller.s.path.fd, -1);
}

/* A transport frame of pt as s would send it, into out; its length. */
static size_t
seal(struct session *s, const void *pt, size_t len, uint8_t *out)
{
	long	 n;

	n = noise_encrypt(&s->tx, pt, len, out + 2, 256);
	ck_assert_int_ge(n, 0);
	put_u16(out, (uint16_t)n);
	return (2 + (size_t)n);
}

/*
 * Frames fed a byte at a time come out whole and in order; a frame that
 * does not decrypt is refused with the input left as it was; an empty
 * message, authentic but not one of §6.3, is refused too.
 */
START_TEST(test_input_take)
{
	struct pair	 pr;
	struct session	*to = &pr.callee.s;
	uint8_t		 f[2][300], big[600];
	size_t		 n[2], i, fill;
	char		*cause = NULL;

	pure_handshake(&pr);
	n[0] = seal(&pr.caller.s, "\001first", 6, f[0]);
	n[1] = seal(&pr.caller.s, "\001second", 7, f[1]);
	for (i = 0; i < n[0] + n[1]; i++) {
		ck_assert_uint_eq(session_input(to, i < n[0] ? &f[0][i] :
		    &f[1][i - n[0]], 1), 1);
		if (i + 1 == n[0]) {
			ck_assert_int_eq(session_take(to, &cause), 1);
			ck_assert_uint_eq(to->ptlen, 6);
			ck_assert(memcmp(to->pt, "\001first", 6) == 0);
			ck_assert_uint_eq(to->fill, 0);
		} else if (i + 1 < n[0] + n[1])
			ck_assert_int_eq(session_take(to, &cause), 2);
	}
	ck_assert_int_eq(session_take(to, &cause), 1);
	ck_assert(to->ptlen == 7 && memcmp(to->pt, "\001second", 7) == 0);
	ck_assert_int_eq(session_take(to, &cause), 2);
	/* Altered: refused, and the input stays. */
	n[0] = seal(&pr.caller.s, "\001third", 6, f[0]);
	f[0][n[0] - 1] ^= 1;
	session_input(to, f[0], n[0]);
	fill = to->fill;
	ck_assert_int_eq(session_take(to, &cause), -1);
	ck_assert_str_eq(cause, E_DECRYPT);
	free(cause);
	cause = NULL;
	ck_assert_uint_eq(to->fill, fill);
	/* Empty: refused. */
	to->fill = 0;
	pr.caller.s.tx.n--;	/* the altered one was never taken */
	session_input(to, f[1], seal(&pr.caller.s, "", 0, f[1]));
	ck_assert_int_eq(session_take(to, &cause), -1);
	ck_assert_str_eq(cause, E_EMPTY);
	free(cause);
	/* The input holds at most SESSION_IN_SIZE bytes. */
	to->fill = SESSION_IN_SIZE - 100;
	ck_assert_uint_eq(session_input(to, big, sizeof big), 100);
	ck_assert_uint_eq(session_input(to, big, sizeof big), 0);
	session_close(&pr.caller.s);
	session_close(&pr.callee.s);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("session");
	TCase	*tc = tcase_create("session");

	tcase_set_timeout(tc, 30);
	tcase_add_test(tc, test_good);
	tcase_add_loop_test(tc, test_prologue, 0, 3);
	tcase_add_loop_test(tc, test_wrong_key, 0, 2);
	tcase_add_loop_test(tc, test_tamper, 0, 4);
	tcase_add_test(tc, test_frame);
	tcase_add_test(tc, test_input_take);
	suite_add_tcase(s, tc);
	return (unit_run(s));
}
