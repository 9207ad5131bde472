/*
 * test-calls.c -- the call bookkeeping of PROTOCOL.md §5.4 (calls.c) as
 * pure logic: three parties, a notify callback that records what the book
 * asks its owner to send, and a scripted random source.
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <sodium.h>

#include "server.h"
#include "unit.h"

#define NOW	100000ULL
#define TIMEOUT	30
#define MAXREC	128

/* One notification. */
struct rec {
	uint64_t	 session;
	uint32_t	 tag;
	struct party	*to;
	enum call_note	 note;
	int		 detail;
	int		 has_data;
	size_t		 len;
	uint8_t		 data[64];
	int		 in_book;	/* the call was still findable */
};

static struct rec	 recs[MAXREC];
static size_t		 nrecs;
static struct callbook	*book;
static struct party	 pa, pb, pc;	/* caller, callee, stranger */
static uint8_t		 ida[ID_LEN], idb[ID_LEN], idc[ID_LEN];

static uint64_t		 script[16];	/* sessions to hand out */
static size_t		 nscript, pscript;
static uint64_t		 seq;		/* sessions after those */
static uint8_t		 counter;	/* bytes of everything else */

static const struct vb	 offer = { (const uint8_t *)"offer-bytes", 11 };
static const struct vb	 answer = { (const uint8_t *)"the answer", 10 };

/* Record a notification. */
static void
record(void *arg, struct call *call, struct party *to, enum call_note note,
    int detail, const struct vb *data)
{
	struct rec	*r;

	ck_assert_ptr_eq(arg, &recs);
	ck_assert_uint_lt(nrecs, MAXREC);
	r = &recs[nrecs++];
	memset(r, 0, sizeof *r);
	r->session = call->session;
	r->tag = call->tag;
	r->to = to;
	r->note = note;
	r->detail = detail;
	r->in_book = calls_find(book, call->session) == call;
	if (data != NULL) {
		ck_assert_uint_le(data->len, sizeof r->data);
		r->has_data = 1;
		r->len = data->len;
		memcpy(r->data, data->p, data->len);
	}
}

/* Session numbers (8-byte requests) from the script, then 1001, 1002 ...;
 * other requests get bytes of a counter. */
static void
fake_random(void *buf, size_t len)
{
	uint8_t	*p = buf;
	size_t	 i;

	if (len == sizeof(uint64_t)) {
		if (pscript < nscript)
			memcpy(buf, &script[pscript++], len);
		else {
			seq++;
			memcpy(buf, &seq, len);
		}
		return;
	}
	for (i = 0; i < len; i++)
		p[i] = ++counter;
}

/* Queue session numbers for the next calls. */
static void
script_sessions(const uint64_t *s, size_t n)
{
	memcpy(script + nscript, s, n * sizeof *s);
	nscript += n;
}

/* A fresh book and three parties. */
static void
setup(void)
{
	nrecs = nscript = pscript = 0;
	seq = 1000;
	counter = 0;
	memset(ida, 'A', ID_LEN);
	memset(idb, 'B', ID_LEN);
	memset(idc, 'C', ID_LEN);
	book = calls_new(record, &recs, fake_random);
	calls_limits(book, 8, 8, TIMEOUT);
	calls_party_init(&pa, &ida, ida);
	calls_party_init(&pb, &idb, idb);
	calls_party_init(&pc, &idc, idc);
}

/* Records of note for session. */
static int
count_note(uint64_t session, enum call_note note)
{
	size_t	 i;
	int	 n = 0;

	for (i = 0; i < nrecs; i++) {
		if (recs[i].session == session && recs[i].note == note)
			n++;
	}
	return (n);
}

/* Every call ended once: one NOTE_GONE per INCOMING, counters at 0. */
static void
check_all_gone(void)
{
	size_t	 i;

	for (i = 0; i < nrecs; i++) {
		if (recs[i].note == NOTE_INCOMING)
			ck_assert_int_eq(count_note(recs[i].session,
			    NOTE_GONE), 1);
		if (recs[i].note == NOTE_GONE)
			ck_assert_int_eq(count_note(recs[i].session,
			    NOTE_INCOMING), 1);
	}
	ck_assert_uint_eq(calls_count(book), 0);
	ck_assert_int_eq(pa.pending + pa.sessions, 0);
	ck_assert_int_eq(pb.pending + pb.sessions, 0);
	ck_assert_int_eq(pc.pending + pc.sessions, 0);
	ck_assert_ptr_null(LIST_FIRST(&pa.out));
	ck_assert_ptr_null(LIST_FIRST(&pa.in));
	ck_assert_ptr_null(LIST_FIRST(&pb.out));
	ck_assert_ptr_null(LIST_FIRST(&pb.in));
}

/* End whatever a test left, check the book is empty, free it. */
static void
teardown(void)
{
	calls_leave(book, &pa);
	calls_leave(book, &pb);
	calls_leave(book, &pc);
	check_all_gone();
	calls_free(book);
}

/* Assert record i. */
static void
expect(size_t i, struct party *to, enum call_note note, int detail)
{
	ck_assert_uint_lt(i, nrecs);
	ck_assert_ptr_eq(recs[i].to, to);
	ck_assert_int_eq(recs[i].note, note);
	ck_assert_int_eq(recs[i].detail, detail);
}

/* Assert that record i is the NOTE_GONE of session: the book no longer
 * holds it (a stand-in party may be freed then). */
static void
expect_gone(size_t i, uint64_t session)
{
	expect(i, NULL, NOTE_GONE, 0);
	ck_assert_uint_eq(recs[i].session, session);
	ck_assert(!recs[i].in_book);
}

/* from rings to with tag; the session from the INCOMING record. */
static uint64_t
ring(struct party *from, struct party *to, uint32_t tag)
{
	size_t	 n = nrecs;

	ck_assert_int_eq(calls_connect(book, from, tag, to->id, to, NOW,
	    &offer), 0);
	ck_assert_uint_eq(nrecs, n + 1);
	expect(n, to, NOTE_INCOMING, 0);
	ck_assert_uint_eq(recs[n].tag, tag);
	ck_assert(recs[n].in_book);
	return (recs[n].session);
}

/* A rings B with tag and B accepts: a session. */
static uint64_t
session_ab(uint32_t tag)
{
	uint64_t	 s = ring(&pa, &pb, tag);

	ck_assert_int_eq(calls_accept(book, &pb, s, &answer), 0);
	return (s);
}

START_TEST(test_connect_self)
{
	ck_assert_int_eq(calls_connect(book, &pa, 1, ida, &pa, NOW, &offer),
	    ERR_UNSUPPORTED);
	/* Self is checked before presence. */
	ck_assert_int_eq(calls_connect(book, &pa, 2, ida, NULL, NOW, &offer),
	    ERR_UNSUPPORTED);
	ck_assert_uint_eq(nrecs, 0);
	ck_assert_uint_eq(calls_count(book), 0);
	ck_assert_int_eq(pa.pending, 0);
}
END_TEST

START_TEST(test_offline)
{
	ck_assert_int_eq(calls_connect(book, &pa, 1, idb, NULL, NOW, &offer),
	    ERR_OFFLINE);
	ck_assert_uint_eq(nrecs, 0);
	ck_assert_uint_eq(calls_count(book), 0);
	ck_assert_int_eq(pa.pending, 0);
	ck_assert_ptr_null(LIST_FIRST(&pa.out));
}
END_TEST

START_TEST(test_tag_reuse)
{
	uint64_t	 s1, s2;

	s1 = ring(&pa, &pb, 7);
	ck_assert_int_eq(calls_connect(book, &pa, 7, idb, &pb, NOW, &offer),
	    ERR_UNSUPPORTED);
	ck_assert_int_eq(calls_connect(book, &pa, 7, idc, &pc, NOW, &offer),
	    ERR_UNSUPPORTED);
	ck_assert_int_eq(pa.pending, 1);
	ck_assert_uint_eq(nrecs, 1);
	/* Another caller may use the same tag. */
	ring(&pc, &pb, 7);
	s2 = ring(&pa, &pb, 8);
	ck_assert_int_eq(calls_end(book, &pa, s1), 0);
	/* Ended: the tag is free again. */
	ring(&pa, &pb, 7);
	/* A tag whose call became a session is free too. */
	ck_assert_int_eq(calls_accept(book, &pb, s2, &answer), 0);
	ring(&pa, &pc, 8);
	ck_assert_int_eq(pa.pending, 2);
	ck_assert_int_eq(pa.sessions, 1);
}
END_TEST

START_TEST(test_max_pending)
{
	calls_limits(book, 2, 8, TIMEOUT);
	ring(&pa, &pb, 1);
	ring(&pa, &pc, 2);
	ck_assert_int_eq(calls_connect(book, &pa, 3, idb, &pb, NOW, &offer),
	    ERR_LIMIT);
	/* The limit comes before presence. */
	ck_assert_int_eq(calls_connect(book, &pa, 3, idb, NULL, NOW, &offer),
	    ERR_LIMIT);
	ck_assert_int_eq(pa.pending, 2);
	ck_assert_uint_eq(calls_count(book), 2);
	/* The limit is per connection: B may still call. */
	ring(&pb, &pc, 1);
}
END_TEST

START_TEST(test_max_sessions)
{
	uint64_t	 s;

	calls_limits(book, 8, 2, TIMEOUT);
	session_ab(1);
	session_ab(2);
	ck_assert_int_eq(pa.sessions, 2);
	ck_assert_int_eq(pb.sessions, 2);
	ck_assert_int_eq(calls_connect(book, &pa, 3, idc, &pc, NOW, &offer),
	    ERR_LIMIT);
	ck_assert_int_eq(pa.pending, 0);
	/* B may be rung, but cannot take a third session. */
	s = ring(&pc, &pb, 1);
	ck_assert_int_eq(calls_accept(book, &pb, s, &answer), ERR_LIMIT);
	ck_assert_ptr_nonnull(calls_find(book, s));
	ck_assert_int_eq(calls_find(book, s)->state, CALL_RINGING);
	ck_assert_int_eq(pb.sessions, 2);
	ck_assert_int_eq(calls_decline(book, &pb, s, 1), 0);
	ck_assert_uint_eq(calls_count(book), 2);
}
END_TEST

/* max_sessions counts a party's ringing calls as well when it accepts:
 * A, with a call of its own still ringing, may take one session as callee
 * but not a second, so that its ringing call, once answered, keeps it at
 * max_sessions. Before, ACCEPT counted sessions only, and A ended with
 * three sessions of two. */
START_TEST(test_max_sessions_accept)
{
	uint64_t	 mine, s1, s2;

	calls_limits(book, 8, 2, TIMEOUT);
	mine = ring(&pa, &pb, 1);
	s1 = ring(&pc, &pa, 2);
	ck_assert_int_eq(calls_accept(book, &pa, s1, &answer), 0);
	s2 = ring(&pb, &pa, 3);
	ck_assert_int_eq(calls_accept(book, &pa, s2, &answer), ERR_LIMIT);
	ck_assert_int_eq(calls_find(book, s2)->state, CALL_RINGING);
	ck_assert_int_eq(calls_accept(book, &pb, mine, &answer), 0);
	ck_assert_int_eq(pa.sessions, 2);
	ck_assert_int_eq(pa.pending, 0);
	ck_assert_int_le(pa.pending + pa.sessions, 2);
}
END_TEST

START_TEST(test_incoming)
{
	const uint64_t	 want = 0x1122334455667788ULL;
	struct call	*call;
	uint64_t	 s;

	script_sessions(&want, 1);
	s = ring(&pa, &pb, 0xdeadbeef);
	ck_assert_uint_eq(s, want);
	ck_assert(recs[0].has_data);
	ck_assert_uint_eq(recs[0].len, offer.len);
	ck_assert_mem_eq(recs[0].data, offer.p, offer.len);
	call = calls_find(book, s);
	ck_assert_ptr_nonnull(call);
	ck_assert_int_eq(call->state, CALL_RINGING);
	ck_assert_ptr_eq(call->caller, &pa);
	ck_assert_ptr_eq(call->callee, &pb);
	ck_assert_uint_eq(call->tag, 0xdeadbeef);
	ck_assert_uint_eq(call->deadline, NOW + TIMEOUT);
	/* Two different tokens from the random source. */
	ck_assert_int_ne(memcmp(call->relay_token[0], call->relay_token[1],
	    16), 0);
	ck_assert_ptr_eq(LIST_FIRST(&pa.out), call);
	ck_assert_ptr_eq(LIST_FIRST(&pb.in), call);
	ck_assert_int_eq(pa.pending, 1);
	ck_assert_int_eq(pb.pending, 0);
	ck_assert_uint_eq(calls_count(book), 1);
}
END_TEST

START_TEST(test_session_random)
{
	const uint64_t	 s[] = { 0, 42, 42, 0, 43 };
	struct call	*c1, *c2;

	/* Zero is never a session; a number in use is drawn again. */
	script_sessions(s, nitems(s));
	ck_assert_uint_eq(ring(&pa, &pb, 1), 42);
	ck_assert_uint_eq(ring(&pa, &pb, 2), 43);
	ck_assert_uint_eq(pscript, nitems(s));
	c1 = calls_find(book, 42);
	c2 = calls_find(book, 43);
	ck_assert_ptr_nonnull(c1);
	ck_assert_ptr_nonnull(c2);
	ck_assert_uint_eq(c1->tag, 1);
	ck_assert_uint_eq(c2->tag, 2);
	ck_assert_ptr_null(calls_find(book, 0));
}
END_TEST

START_TEST(test_accept)
{
	struct call	*call;
	uint64_t	 s = ring(&pa, &pb, 9);

	ck_assert_int_eq(calls_accept(book, &pb, s, &answer), 0);
	ck_assert_uint_eq(nrecs, 2);
	expect(1, &pa, NOTE_ANSWER, 0);
	ck_assert_uint_eq(recs[1].session, s);
	ck_assert_uint_eq(recs[1].tag, 9);
	ck_assert(recs[1].has_data);
	ck_assert_uint_eq(recs[1].len, answer.len);
	ck_assert_mem_eq(recs[1].data, answer.p, answer.len);
	call = calls_find(book, s);
	ck_assert_ptr_nonnull(call);
	ck_assert_int_eq(call->state, CALL_SESSION);
	ck_assert_int_eq(pa.pending, 0);
	ck_assert_int_eq(pa.sessions, 1);
	ck_assert_int_eq(pb.sessions, 1);
	ck_assert_int_eq(pb.pending, 0);
	/* A session never times out. */
	calls_expire(book, NOW + 10 * TIMEOUT);
	ck_assert_uint_eq(nrecs, 2);
	ck_assert_ptr_eq(calls_find(book, s), call);
}
END_TEST

START_TEST(test_accept_wrong)
{
	uint64_t	 s = ring(&pa, &pb, 1);

	ck_assert_int_eq(calls_accept(book, &pa, s, &answer), ERR_NO_SESSION);
	ck_assert_int_eq(calls_accept(book, &pc, s, &answer), ERR_NO_SESSION);
	ck_assert_int_eq(calls_decline(book, &pa, s, 0), ERR_NO_SESSION);
	ck_assert_int_eq(calls_decline(book, &pc, s, 0), ERR_NO_SESSION);
	ck_assert_uint_eq(nrecs, 1);
	ck_assert_int_eq(calls_find(book, s)->state, CALL_RINGING);
	ck_assert_int_eq(calls_accept(book, &pb, s, &answer), 0);
	/* Only once, and no DECLINE of a session. */
	ck_assert_int_eq(calls_accept(book, &pb, s, &answer), ERR_NO_SESSION);
	ck_assert_int_eq(calls_decline(book, &pb, s, 2), ERR_NO_SESSION);
	ck_assert_uint_eq(nrecs, 2);
	ck_assert_int_eq(pb.sessions, 1);
	ck_assert_int_eq(pa.sessions, 1);
}
END_TEST

START_TEST(test_decline)
{
	uint64_t	 s = ring(&pa, &pb, 5);

	ck_assert_int_eq(calls_decline(book, &pb, s, 1), 0);
	ck_assert_uint_eq(nrecs, 3);
	expect(1, &pa, NOTE_DECLINED, 1);
	ck_assert_uint_eq(recs[1].tag, 5);
	ck_assert(!recs[1].has_data);
	expect_gone(2, s);
	ck_assert_ptr_null(calls_find(book, s));
	ck_assert_uint_eq(calls_count(book), 0);
	ck_assert_int_eq(pa.pending, 0);
	/* Reasons pass unchanged. */
	s = ring(&pa, &pb, 6);
	ck_assert_int_eq(calls_decline(book, &pb, s, 200), 0);
	expect(4, &pa, NOTE_DECLINED, 200);
}
END_TEST

/* p ends session s; the other party o hears ENDED 0 (and, when o is the
 * caller of a ringing call, DECLINED 0 for its tag); the call is gone. */
static void
end_by(struct party *p, struct party *o, uint64_t s, int declined)
{
	size_t	 n = nrecs;

	ck_assert_int_eq(calls_end(book, p, s), 0);
	ck_assert_uint_eq(nrecs, n + 2 + declined);
	expect(n, o, NOTE_ENDED, 0);
	ck_assert_uint_eq(recs[n].session, s);
	if (declined)
		expect(n + 1, o, NOTE_DECLINED, 0);
	expect_gone(n + 1 + declined, s);
	ck_assert_ptr_null(calls_find(book, s));
}

START_TEST(test_end)
{
	end_by(&pa, &pb, ring(&pa, &pb, 1), 0);
	ck_assert_int_eq(pa.pending, 0);
	end_by(&pb, &pa, ring(&pa, &pb, 1), 1);
	ck_assert_int_eq(pa.pending, 0);
	end_by(&pa, &pb, session_ab(1), 0);
	ck_assert_int_eq(pa.sessions + pb.sessions, 0);
	end_by(&pb, &pa, session_ab(1), 0);
	ck_assert_int_eq(pa.sessions + pb.sessions, 0);
	ck_assert_uint_eq(calls_count(book), 0);
}
END_TEST

/* Messages about ended session s: dropped for its parties, NO_SESSION
 * for anyone else. */
static void
check_crossed(uint64_t s)
{
	size_t	 n = nrecs;

	ck_assert_int_eq(calls_end(book, &pa, s), -1);
	ck_assert_int_eq(calls_end(book, &pb, s), -1);
	ck_assert_int_eq(calls_accept(book, &pb, s, &answer), -1);
	ck_assert_int_eq(calls_decline(book, &pb, s, 0), -1);
	ck_assert_int_eq(calls_accept(book, &pa, s, &answer), -1);
	ck_assert_int_eq(calls_end(book, &pc, s), ERR_NO_SESSION);
	ck_assert_int_eq(calls_accept(book, &pc, s, &answer), ERR_NO_SESSION);
	ck_assert_int_eq(calls_decline(book, &pc, s, 0), ERR_NO_SESSION);
	ck_assert_uint_eq(nrecs, n);
}

START_TEST(test_crossed)
{
	uint64_t	 s, t;

	s = session_ab(1);
	ck_assert_int_eq(calls_end(book, &pb, s), 0);
	check_crossed(s);
	s = ring(&pa, &pb, 2);
	ck_assert_int_eq(calls_decline(book, &pb, s, 0), 0);
	check_crossed(s);
	s = ring(&pa, &pb, 3);
	calls_expire(book, NOW + TIMEOUT);
	check_crossed(s);
	/* The most recent ended sessions are all remembered. */
	for (t = 10; t < 10 + nitems(pa.ended); t++)
		end_by(&pa, &pb, ring(&pa, &pb, (uint32_t)t), 0);
	for (t = 0; t < nitems(pa.ended); t++)
		check_crossed(pa.ended[t]);
}
END_TEST

START_TEST(test_unknown)
{
	const uint64_t	 s = 0x5555;

	ring(&pa, &pb, 1);
	ck_assert_int_eq(calls_end(book, &pa, s), ERR_NO_SESSION);
	ck_assert_int_eq(calls_accept(book, &pb, s, &answer), ERR_NO_SESSION);
	ck_assert_int_eq(calls_decline(book, &pb, s, 0), ERR_NO_SESSION);
	ck_assert_int_eq(calls_end(book, &pa, 0), ERR_NO_SESSION);
	/* A stranger cannot end someone else's call. */
	ck_assert_int_eq(calls_end(book, &pc, recs[0].session),
	    ERR_NO_SESSION);
	ck_assert_uint_eq(nrecs, 1);
	ck_assert_uint_eq(calls_count(book), 1);
}
END_TEST

START_TEST(test_leave_ringing_callee)
{
	uint64_t	 s = ring(&pa, &pb, 77);

	calls_leave(book, &pb);
	ck_assert_uint_eq(nrecs, 3);
	expect(1, &pa, NOTE_ERROR, ERR_OFFLINE);
	ck_assert_uint_eq(recs[1].tag, 77);
	expect_gone(2, s);
	ck_assert_uint_eq(calls_count(book), 0);
	ck_assert_int_eq(pa.pending, 0);
	ck_assert_ptr_null(LIST_FIRST(&pa.out));
}
END_TEST

/* Across nodes, on the caller's node: a stand-in callee (remote) makes
 * the call "probing", outside the caller's limits, until a node rings it
 * (calls_confirm); nine probing calls pass max_pending 8, and the ninth
 * confirmed one is over it: LIMIT, and gone. A probing call refused
 * (OFFLINE) tells the caller only. */
START_TEST(test_remote_probing)
{
	struct party	 stand[9];
	uint64_t	 s[9];
	size_t		 n;
	int		 i;

	for (i = 0; i < 9; i++) {
		calls_party_init(&stand[i], &stand[i], idb);
		stand[i].remote = 1;
		ck_assert_int_eq(calls_connect(book, &pa, (uint32_t)i, idb,
		    &stand[i], NOW, &offer), 0);
		s[i] = recs[nrecs - 1].session;
	}
	ck_assert_int_eq(pa.pending, 9);
	ck_assert_int_eq(pa.probing, 9);
	for (i = 0; i < 8; i++)
		ck_assert_int_eq(calls_confirm(book, s[i]), 0);
	ck_assert_int_eq(calls_confirm(book, s[0]), 1);
	n = nrecs;
	ck_assert_int_eq(calls_confirm(book, s[8]), -1);
	expect(n, &pa, NOTE_ERROR, ERR_LIMIT);
	ck_assert_uint_eq(recs[n].tag, 8);
	expect_gone(n + 1, s[8]);
	ck_assert_int_eq(pa.pending, 8);
	ck_assert_int_eq(pa.probing, 0);
	/* Now over the limit for a local call too. */
	ck_assert_int_eq(calls_connect(book, &pa, 20, idb, &pb, NOW, &offer),
	    ERR_LIMIT);
	n = nrecs;
	ck_assert_int_eq(calls_refuse(book, s[3], ERR_OFFLINE), 0);
	ck_assert_uint_eq(nrecs, n + 2);
	expect(n, &pa, NOTE_ERROR, ERR_OFFLINE);
	expect_gone(n + 1, s[3]);
	ck_assert_int_eq(calls_refuse(book, s[3], ERR_OFFLINE), -1);
	ck_assert_int_eq(calls_refuse(book, 424242, ERR_OFFLINE), -1);
	ck_assert_int_eq(pa.pending, 7);
}
END_TEST

/* On the callee's node: the mirror rings with the caller's node's session
 * and tokens; a session number already in the book is refused. What the
 * caller's node says ends it as if the caller were here: END (0), left
 * (1), timeout (2), quota (3: ENDED 3 and ERROR QUOTA). */
START_TEST(test_remote_mirror)
{
	struct party	 caller;
	uint8_t		 tokens[2][16];
	struct call	*call;
	size_t		 n;
	int		 why;

	calls_party_init(&caller, &caller, ida);
	caller.remote = 1;
	memset(tokens, 7, sizeof tokens);
	for (why = 0; why < 4; why++) {
		n = nrecs;
		ck_assert_int_eq(calls_ring(book, &caller, &pb, 5000 + why,
		    (const uint8_t (*)[16])tokens, NOW, &offer), 0);
		expect(n, &pb, NOTE_INCOMING, 0);
		ck_assert_ptr_nonnull(call = calls_find(book, 5000 + why));
		ck_assert_mem_eq(call->relay_token, tokens, sizeof tokens);
		ck_assert_int_eq(call->probing, 0);
		ck_assert_int_eq(calls_ring(book, &caller, &pc, 5000 + why,
		    (const uint8_t (*)[16])tokens, NOW, &offer),
		    ERR_UNSUPPORTED);
		if (why == 1 || why == 3)
			ck_assert_int_eq(calls_accept(book, &pb, 5000 + why,
			    &answer), 0);
		n = nrecs;
		ck_assert_int_eq(calls_remote_end(book, &caller, 5000 + why,
		    why), 0);
		expect(n, &pb, why == 3 ? NOTE_ENDED : NOTE_ENDED,
		    why == 3 ? 3 : why);
		if (why == 3)
			expect(n + 1, &pb, NOTE_ERROR, ERR_QUOTA);
		ck_assert_ptr_null(calls_find(book, 5000 + why));
		ck_assert_int_eq(calls_remote_end(book, &caller, 5000 + why,
		    why), -1);
	}
	ck_assert_int_eq(calls_ring(book, &caller, &pb, 0,
	    (const uint8_t (*)[16])tokens, NOW, &offer), ERR_UNSUPPORTED);
	ck_assert_int_eq(pb.sessions + caller.pending + caller.sessions, 0);
}
END_TEST

/* On the caller's node, the stand-in callee's node says its party left
 * while ringing: the caller hears OFFLINE; after an answer: ENDED 1. */
START_TEST(test_remote_left)
{
	struct party	 callee;
	size_t		 n;
	uint64_t	 s;

	calls_party_init(&callee, &callee, idb);
	callee.remote = 1;
	ck_assert_int_eq(calls_connect(book, &pa, 1, idb, &callee, NOW,
	    &offer), 0);
	s = recs[nrecs - 1].session;
	n = nrecs;
	ck_assert_int_eq(calls_remote_end(book, &callee, s, 1), 0);
	expect(n, &pa, NOTE_ERROR, ERR_OFFLINE);
	ck_assert_int_eq(calls_connect(book, &pa, 2, idb, &callee, NOW,
	    &offer), 0);
	s = recs[nrecs - 1].session;
	ck_assert_int_eq(calls_accept(book, &callee, s, &answer), 0);
	n = nrecs;
	ck_assert_int_eq(calls_remote_end(book, &callee, s, 1), 0);
	expect(n, &pa, NOTE_ENDED, 1);
	/* A party not in the call changes nothing. */
	ck_assert_int_eq(calls_remote_end(book, &pc, s, 1), -1);
	ck_assert_int_eq(pa.pending + pa.sessions + pa.probing, 0);
}
END_TEST

START_TEST(test_leave_ringing_caller)
{
	uint64_t	 s = ring(&pa, &pb, 1);

	calls_leave(book, &pa);
	ck_assert_uint_eq(nrecs, 3);
	expect(1, &pb, NOTE_ENDED, 1);
	ck_assert_uint_eq(recs[1].session, s);
	expect_gone(2, s);
	ck_assert_ptr_null(LIST_FIRST(&pb.in));
}
END_TEST

START_TEST(test_leave_session)
{
	uint64_t	 s = session_ab(1);

	calls_leave(book, &pa);
	ck_assert_uint_eq(nrecs, 4);
	expect(2, &pb, NOTE_ENDED, 1);
	expect_gone(3, s);
	ck_assert_int_eq(pb.sessions, 0);
	s = session_ab(2);
	calls_leave(book, &pb);
	expect(nrecs - 2, &pa, NOTE_ENDED, 1);
	expect_gone(nrecs - 1, s);
	ck_assert_int_eq(pa.sessions, 0);
}
END_TEST

START_TEST(test_leave_many)
{
	uint64_t	 s[4];
	size_t		 n;

	s[0] = session_ab(1);		/* A caller, session */
	s[1] = ring(&pa, &pc, 2);	/* A caller, ringing */
	s[2] = ring(&pc, &pa, 3);	/* A callee, ringing */
	s[3] = ring(&pb, &pa, 4);	/* A callee, to be a session */
	ck_assert_int_eq(calls_accept(book, &pa, s[3], &answer), 0);
	n = nrecs;
	calls_leave(book, &pa);
	ck_assert_uint_eq(nrecs, n + 8);
	ck_assert_uint_eq(calls_count(book), 0);
	ck_assert_int_eq(count_note(s[0], NOTE_ENDED), 1);
	ck_assert_int_eq(count_note(s[1], NOTE_ENDED), 1);
	ck_assert_int_eq(count_note(s[2], NOTE_ERROR), 1);
	ck_assert_int_eq(count_note(s[3], NOTE_ENDED), 1);
	for (; n < nrecs; n++) {
		if (recs[n].note == NOTE_GONE)
			continue;
		ck_assert_ptr_ne(recs[n].to, &pa);
		ck_assert_int_eq(recs[n].detail, recs[n].session == s[2] ?
		    ERR_OFFLINE : 1);
	}
	ck_assert_int_eq(pb.sessions + pc.pending, 0);
}
END_TEST

START_TEST(test_expire)
{
	uint64_t	 s1, s2, s3;

	s1 = ring(&pa, &pb, 1);
	ck_assert_int_eq(calls_connect(book, &pa, 2, idb, &pb, NOW + 10,
	    &offer), 0);
	s2 = recs[1].session;
	s3 = session_ab(3);
	calls_expire(book, NOW);
	calls_expire(book, NOW + TIMEOUT - 1);
	ck_assert_uint_eq(nrecs, 4);
	calls_expire(book, NOW + TIMEOUT);
	ck_assert_uint_eq(nrecs, 7);
	expect(4, &pa, NOTE_ERROR, ERR_TIMEOUT);
	ck_assert_uint_eq(recs[4].tag, 1);
	expect(5, &pb, NOTE_ENDED, 2);
	ck_assert_uint_eq(recs[5].session, s1);
	expect_gone(6, s1);
	ck_assert_ptr_nonnull(calls_find(book, s2));
	calls_expire(book, NOW + TIMEOUT + 10);
	ck_assert_uint_eq(nrecs, 10);
	expect(7, &pa, NOTE_ERROR, ERR_TIMEOUT);
	ck_assert_uint_eq(recs[7].tag, 2);
	expect(8, &pb, NOTE_ENDED, 2);
	expect_gone(9, s2);
	ck_assert_int_eq(pa.pending, 0);
	/* The session lives on. */
	ck_assert_ptr_nonnull(calls_find(book, s3));
	ck_assert_uint_eq(calls_count(book), 1);
}
END_TEST

START_TEST(test_expire_accepted)
{
	uint64_t	 s = ring(&pa, &pb, 1);

	/* Accepted before the deadline: the ringing queue forgot it. */
	ck_assert_int_eq(calls_accept(book, &pb, s, &answer), 0);
	calls_expire(book, NOW + 2 * TIMEOUT);
	ck_assert_uint_eq(nrecs, 2);
	s = ring(&pa, &pb, 2);
	ck_assert_int_eq(calls_decline(book, &pb, s, 0), 0);
	calls_expire(book, NOW + 2 * TIMEOUT);
	ck_assert_uint_eq(nrecs, 5);
}
END_TEST

START_TEST(test_quota)
{
	uint64_t	 s = session_ab(1);
	struct call	*call = calls_find(book, s);

	calls_quota(book, call);
	ck_assert_uint_eq(nrecs, 7);
	/* ENDED 3 first, then ERROR QUOTA, to both. */
	ck_assert_int_eq(recs[2].note, NOTE_ENDED);
	ck_assert_int_eq(recs[3].note, NOTE_ENDED);
	ck_assert_ptr_ne(recs[2].to, recs[3].to);
	ck_assert_int_eq(recs[2].detail, 3);
	ck_assert_int_eq(recs[3].detail, 3);
	ck_assert_int_eq(recs[4].note, NOTE_ERROR);
	ck_assert_int_eq(recs[5].note, NOTE_ERROR);
	ck_assert_ptr_ne(recs[4].to, recs[5].to);
	ck_assert_int_eq(recs[4].detail, ERR_QUOTA);
	ck_assert_int_eq(recs[5].detail, ERR_QUOTA);
	ck_assert(recs[2].to == &pa || recs[2].to == &pb);
	ck_assert(recs[4].to == &pa || recs[4].to == &pb);
	ck_assert(recs[3].to == &pa || recs[3].to == &pb);
	ck_assert(recs[5].to == &pa || recs[5].to == &pb);
	ck_assert_uint_eq(recs[4].session, s);
	expect_gone(6, s);
	ck_assert_uint_eq(calls_count(book), 0);
	ck_assert_int_eq(pa.sessions + pb.sessions, 0);
	check_crossed(s);
}
END_TEST

START_TEST(test_many)
{
	uint64_t	 s[64];
	size_t		 i;

	/* Default limits: 8 ringing per caller; 3 callers ring each other. */
	calls_limits(book, 8, 64, TIMEOUT);
	for (i = 0; i < 8; i++) {
		s[3 * i] = ring(&pa, &pb, (uint32_t)i);
		s[3 * i + 1] = ring(&pb, &pc, (uint32_t)i);
		s[3 * i + 2] = ring(&pc, &pa, (uint32_t)i);
	}
	ck_assert_uint_eq(calls_count(book), 24);
	for (i = 0; i < 24; i += 2)
		ck_assert_int_eq(calls_accept(book, calls_find(book,
		    s[i])->callee, s[i], &answer), 0);
	ck_assert_int_eq(pa.sessions + pb.sessions + pc.sessions, 24);
	ck_assert_int_eq(pa.pending + pb.pending + pc.pending, 12);
	for (i = 0; i < 24; i += 3)
		ck_assert_int_eq(calls_end(book, &pb, s[i]), 0);
	calls_expire(book, NOW + TIMEOUT);
	ck_assert_int_eq(pa.pending + pb.pending + pc.pending, 0);
	ck_assert_uint_eq(calls_count(book), 24 - 8 - 8);
}
END_TEST

int
main(void)
{
	const TTest *tests[] = { test_connect_self, test_offline,
	    test_tag_reuse, test_max_pending, test_max_sessions,
	    test_max_sessions_accept,
	    test_incoming, test_session_random, test_accept,
	    test_accept_wrong, test_decline, test_end, test_crossed,
	    test_unknown, test_leave_ringing_callee,
	    test_leave_ringing_caller, test_leave_session, test_leave_many,
	    test_remote_probing, test_remote_mirror, test_remote_left,
	    test_expire, test_expire_accepted, test_quota, test_many, NULL };
	Suite	*s = suite_create("calls");
	TCase	*tc = tcase_create("calls");
	size_t	 i;

	if (sodium_init() < 0)
		return (1);
	tcase_add_checked_fixture(tc, setup, teardown);
	for (i = 0; tests[i] != NULL; i++)
		tcase_add_test(tc, tests[i]);
	suite_add_tcase(s, tc);
	return (unit_run(s));
}
