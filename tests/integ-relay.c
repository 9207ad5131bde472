/*
 * integ-relay.c -- integration tests of the relay (PROTOCOL.md §5.5) on
 * the first trystd: RELAY_JOIN, RELAY_READY, raw bytes both ways, refused
 * joins, closes that travel, back-pressure with trystd's memory
 * bounded while a party stops reading, and a relay that runs only once
 * per session (on trystds of their own).
 */
#include <ctype.h>
#include <poll.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>
#include <sodium.h>

#include "harness.h"

#define N_RA		"+15550100211"
#define N_RB		"+15550100212"
#define N_BPA		"+15550100213"
#define N_BPB		"+15550100214"
#define N_STA		"+15550100215"
#define N_STB		"+15550100216"
#define N_DXA		"+15550100217"
#define N_DXB		"+15550100218"

#define BUFFER_BYTES	262144		/* relay_buffer_bytes */
#define BP_TOTAL	(64U << 20)	/* bytes pushed through the relay */
#define BP_STALL_MS	1000		/* no progress: blocked */
#define CHUNK		16384
#define QUOTA		1048576		/* relay_session_bytes, rejoin */
#define REJOIN_CONF	"relay_session_bytes = 1048576\ncall_timeout_s = 5\n"

/* Under AddressSanitizer freed memory sits in quarantine, so trystd's
 * RSS says nothing about its buffers: the bound is checked only in
 * normal builds. */
#if defined(__SANITIZE_ADDRESS__)
#define RSS_CHECKED	0
#elif defined(__has_feature)
#if __has_feature(address_sanitizer)
#define RSS_CHECKED	0
#endif
#endif
#ifndef RSS_CHECKED
#define RSS_CHECKED	1
#endif

static struct account	 RA, RB, BPA, BPB, STA, STB, DXA, DXB;

/* The byte at offset off of the test stream. */
static uint8_t
pattern(uint64_t off)
{
	return ((uint8_t)(off ^ (off >> 8) ^ (off >> 16) ^ (off >> 24) ^
	    0x5a));
}

/* Fill buf with the stream from offset off. */
static void
pattern_fill(uint8_t *buf, size_t len, uint64_t off)
{
	size_t	 i;

	for (i = 0; i < len; i++)
		buf[i] = pattern(off + i);
}

/* Assert buf is the stream from offset off. */
static void
pattern_check(const uint8_t *buf, size_t len, uint64_t off)
{
	size_t	 i;

	for (i = 0; i < len; i++) {
		if (buf[i] != pattern(off + i))
			ck_abort_msg("relayed byte %llu is %02x, not %02x",
			    (unsigned long long)(off + i), buf[i],
			    pattern(off + i));
	}
}

/* Read exactly len bytes of the stream from offset off on r. */
static void
read_stream(struct rconn *r, size_t len, uint64_t off)
{
	uint8_t	 buf[CHUNK];
	ssize_t	 n;

	while (len > 0) {
		n = h_raw_read(r, buf, len < sizeof buf ? len : sizeof buf,
		    H_TIMEOUT_MS);
		ck_assert_msg(n > 0, "relay: %s after %llu bytes", n == 0 ?
		    "closed" : "nothing", (unsigned long long)off);
		pattern_check(buf, (size_t)n, off);
		off += (uint64_t)n;
		len -= (size_t)n;
	}
}

/* VmRSS of pid in bytes. */
static long long
rss_of(pid_t pid)
{
	char		 path[64], *buf, *p, *why = NULL;
	size_t		 len;
	long long	 kb;

	snprintf(path, sizeof path, "/proc/%d/status", (int)pid);
	buf = file_read_small(path, 1 << 16, &len, &why);
	ck_assert_msg(buf != NULL, "%s", why);
	p = strstr(buf, "VmRSS:");
	ck_assert_ptr_nonnull(p);
	p += 6;
	while (isspace((unsigned char)*p))
		p++;
	kb = strtoll(p, NULL, 10);
	free(buf);
	return (kb * 1024);
}

/* Control connections a (caller) and b (callee) of a fresh session. */
static void
session(const struct account *aa, const struct account *ba, struct hc **a,
    struct hc **b, struct hcall *call)
{
	*b = h_online(ba, HELLO_PRESENCE);
	*a = h_online(aa, 0);
	h_ring(*a, aa, *b, ba, 1, "offer", 5, call);
	h_accept(*a, *b, ba, "answer", 6, call);
}

/* RELAY_JOIN must be refused: ERROR NO_SESSION (ref = session), closed. */
static void
join_refused(uint64_t session, const uint8_t token[16], int ping_first)
{
	struct rconn	*r = h_raw_open(H.hostport, 0);
	struct msg	 m;

	if (ping_first) {
		memset(&m, 0, sizeof m);
		m.type = MSG_PING;
		h_raw_send(r, &m);
		ck_assert_int_eq(h_raw_recv(r, &m, H_TIMEOUT_MS), 1);
		ck_assert_uint_eq(m.type, MSG_PONG);
	}
	memset(&m, 0, sizeof m);
	m.type = MSG_RELAY_JOIN;
	m.u.relay_join.session = session;
	memcpy(m.u.relay_join.relay_token, token, 16);
	h_raw_send(r, &m);
	ck_assert_int_eq(h_raw_recv(r, &m, H_TIMEOUT_MS), 1);
	ck_assert_msg(m.type == MSG_ERROR, "RELAY_JOIN: got %s",
	    proto_type_name(m.type));
	ck_assert_uint_eq(m.u.error.code, ERR_NO_SESSION);
	ck_assert_uint_eq(m.u.error.ref_type, MSG_RELAY_JOIN);
	ck_assert_uint_eq(m.u.error.ref, session);
	ck_assert_uint_eq(h_raw_expect_closed(r, H_TIMEOUT_MS), 0);
	h_raw_close(r);
}

START_TEST(test_relay_bytes)
{
	struct hc	*a, *b;
	struct hcall	 call;
	struct rconn	*ra, *rb;
	uint8_t		*buf;
	size_t		 len = 300000;

	h_account_once(N_RA, &RA);
	h_account_once(N_RB, &RB);
	session(&RA, &RB, &a, &b, &call);
	h_relay_pair(H.hostport, &call, 0, &ra, &rb);
	buf = xmalloc(len);
	pattern_fill(buf, len, 0);
	h_raw_write_all(ra, buf, len);
	read_stream(rb, len, 0);
	pattern_fill(buf, len, 12345);
	h_raw_write_all(rb, buf, len);
	read_stream(ra, len, 12345);
	/* Frames are bytes too: nothing interprets them. */
	h_raw_write_all(ra, "\0\0\0\x09\x0c" "12345678", 13);
	ck_assert_int_eq(h_raw_read(rb, buf, 13, H_TIMEOUT_MS), 13);
	ck_assert_mem_eq(buf, "\0\0\0\x09\x0c" "12345678", 13);
	free(buf);
	/* The control connections are not paused by the relay. */
	h_ping(a, 20);
	h_ping(b, 21);
	/* A close on one side closes the other; the session stays. */
	h_raw_close(ra);
	ck_assert_uint_eq(h_raw_expect_closed(rb, 2000), 0);
	h_ping(a, 22);
	h_ping(b, 23);
	h_close(b);
	h_expect_ended(a, call.session, 1);
}
END_TEST

START_TEST(test_relay_refused)
{
	struct hc	*a, *b;
	struct hcall	 call, ringing;
	struct rconn	*ra, *rb;
	uint8_t		 bad[16];
	struct msg	 m;

	h_account_once(N_RA, &RA);
	h_account_once(N_RB, &RB);
	session(&RA, &RB, &a, &b, &call);
	memcpy(bad, call.token[0], 16);
	bad[15] ^= 1;
	join_refused(call.session, bad, 0);
	join_refused(call.session ^ 1, call.token[0], 0);
	/* RELAY_JOIN must be the first frame. */
	join_refused(call.session, call.token[0], 1);
	/* Not yet a session. */
	h_ring(a, &RA, b, &RB, 2, "o", 1, &ringing);
	join_refused(ringing.session, ringing.token[1], 0);
	/* A token used twice. */
	ra = h_relay_join(H.hostport, call.session, call.token[0], 0);
	join_refused(call.session, call.token[0], 0);
	ck_assert_int_eq(h_raw_recv(ra, &m, 100), -1);
	rb = h_relay_join(H.hostport, call.session, call.token[1], 0);
	ck_assert_int_eq(h_raw_recv(ra, &m, H_TIMEOUT_MS), 1);
	ck_assert_uint_eq(m.type, MSG_RELAY_READY);
	ck_assert_int_eq(h_raw_recv(rb, &m, H_TIMEOUT_MS), 1);
	ck_assert_uint_eq(m.type, MSG_RELAY_READY);
	/* A data connection takes no frames: a PING is relayed. */
	memset(&m, 0, sizeof m);
	m.type = MSG_PING;
	m.u.ping.nonce = 99;
	h_raw_send(rb, &m);
	ck_assert_int_eq(h_raw_recv(ra, &m, H_TIMEOUT_MS), 1);
	ck_assert_uint_eq(m.type, MSG_PING);
	ck_assert_uint_eq(m.u.ping.nonce, 99);
	/* END closes the data connections. */
	memset(&m, 0, sizeof m);
	m.type = MSG_END;
	m.u.end.session = call.session;
	h_send(b, &m);
	h_expect_ended(a, call.session, 0);
	ck_assert_uint_eq(h_raw_expect_closed(ra, 2000), 0);
	ck_assert_uint_eq(h_raw_expect_closed(rb, 2000), 0);
	h_ping(a, 24);
}
END_TEST

START_TEST(test_relay_leave)
{
	struct hc	*a, *b;
	struct hcall	 call;
	struct rconn	*ra, *rb;

	h_account_once(N_RA, &RA);
	h_account_once(N_RB, &RB);
	session(&RA, &RB, &a, &b, &call);
	h_relay_pair(H.hostport, &call, 0, &ra, &rb);
	/* The control connection goes: the session and its relay end. */
	h_close(a);
	h_expect_ended(b, call.session, 1);
	ck_assert_uint_eq(h_raw_expect_closed(ra, 2000), 0);
	ck_assert_uint_eq(h_raw_expect_closed(rb, 2000), 0);
	/* A lone joiner whose session ends is closed too. */
	a = h_online(&RA, 0);
	h_ring(a, &RA, b, &RB, 3, "o", 1, &call);
	h_accept(a, b, &RB, "a", 1, &call);
	ra = h_relay_join(H.hostport, call.session, call.token[0], 0);
	h_ping(a, 25);
	h_close(b);
	h_expect_ended(a, call.session, 1);
	ck_assert_uint_eq(h_raw_expect_closed(ra, 2000), 0);
}
END_TEST

/* RELAY_JOIN and len bytes of the stream from offset off, in one write:
 * the bytes reach trystd with the frame, before the relay starts. */
static struct rconn *
join_pipelined(const char *hostport, uint64_t session,
    const uint8_t token[16], size_t len, uint64_t off)
{
	struct rconn	*r = h_raw_open(hostport, 0);
	struct msg	 m;
	uint8_t		 buf[8192];
	size_t		 n;

	ck_assert_uint_le(len, sizeof buf - 64);
	memset(&m, 0, sizeof m);
	m.type = MSG_RELAY_JOIN;
	m.u.relay_join.session = session;
	memcpy(m.u.relay_join.relay_token, token, 16);
	n = proto_encode(&m, buf, sizeof buf);
	ck_assert_uint_gt(n, 0);
	pattern_fill(buf + n, len, off);
	h_raw_write_all(r, buf, n + len);
	return (r);
}

/* The next frame on r is RELAY_READY. */
static void
expect_ready(struct rconn *r)
{
	struct msg	 m;

	ck_assert_int_eq(h_raw_recv(r, &m, H_TIMEOUT_MS), 1);
	ck_assert_msg(m.type == MSG_RELAY_READY, "expected RELAY_READY, got "
	    "%s %s", proto_type_name(m.type), m.type == MSG_ERROR ?
	    proto_err_name(m.u.error.code) : "");
}

/* What a refused re-join got: ERROR NO_SESSION for session, then the
 * close; type 0 when it got nothing. */
static void
rejoin_answer(struct rconn *r, uint64_t session, uint8_t *type,
    uint16_t *code)
{
	struct msg	 m;

	*type = 0;
	*code = 0;
	if (h_raw_recv(r, &m, H_TIMEOUT_MS) != 1)
		return;
	*type = m.type;
	if (m.type == MSG_ERROR) {
		*code = m.u.error.code;
		ck_assert_uint_eq(m.u.error.ref_type, MSG_RELAY_JOIN);
		ck_assert_uint_eq(m.u.error.ref, session);
	}
}

/* A session's relay is one-shot (trystd(8)): once it ran and closed, two
 * new RELAY_JOINs, the first with bytes behind it that would reach the
 * quota, are refused, and trystd lives. Before, the second join started
 * the relay, the quota ended the call inside relay_start and its loop
 * read the freed call (SIGSEGV; heap-use-after-free under ASan). */
START_TEST(test_relay_rejoin)
{
	struct hproc	*p;
	struct hc	*a, *b;
	struct hcall	 call;
	struct rconn	*ra, *rb;
	struct msg	 m;
	uint8_t		*buf, t1, t2;
	uint16_t	 c1, c2;
	size_t		 len = QUOTA - 1500 - 1000;

	h_account_once(N_RA, &RA);
	h_account_once(N_RB, &RB);
	p = h_proc_up("relay-rejoin", NULL, NULL, REJOIN_CONF);
	b = h_online_at(p->hostport, &RB, HELLO_PRESENCE);
	a = h_online_at(p->hostport, &RA, 0);
	h_ring(a, &RA, b, &RB, 1, "o", 1, &call);
	h_accept(a, b, &RB, "a", 1, &call);
	/* Bytes that came with either RELAY_JOIN are relayed once both
	 * are there. */
	ra = join_pipelined(p->hostport, call.session, call.token[0], 1000,
	    0);
	ck_assert_int_eq(h_raw_recv(ra, &m, 200), -1);
	rb = join_pipelined(p->hostport, call.session, call.token[1], 500,
	    777);
	expect_ready(ra);
	expect_ready(rb);
	read_stream(rb, 1000, 0);
	read_stream(ra, 500, 777);
	/* All but 1000 bytes of the quota, then a close. */
	buf = xmalloc(len);
	pattern_fill(buf, len, 1000);
	h_raw_write_all(ra, buf, len);
	read_stream(rb, len, 1000);
	free(buf);
	h_raw_close(ra);
	ck_assert_uint_eq(h_raw_expect_closed(rb, 2000), 0);
	h_raw_close(rb);
	/* Both again, 4000 bytes behind the first join. */
	ra = join_pipelined(p->hostport, call.session, call.token[0], 4000,
	    0);
	rb = h_relay_join(p->hostport, call.session, call.token[1], 0);
	rejoin_answer(ra, call.session, &t1, &c1);
	rejoin_answer(rb, call.session, &t2, &c2);
	ck_assert_msg(!h_proc_wait(p, 500), "trystd exited (wait status "
	    "%#x; see %s)", p->status, p->log);
	ck_assert_msg(t1 == MSG_ERROR && c1 == ERR_NO_SESSION && t2 ==
	    MSG_ERROR && c2 == ERR_NO_SESSION, "re-joins got %s %s and %s %s",
	    proto_type_name(t1), proto_err_name(c1), proto_type_name(t2),
	    proto_err_name(c2));
	ck_assert_uint_eq(h_raw_expect_closed(ra, 2000), 0);
	ck_assert_uint_eq(h_raw_expect_closed(rb, 2000), 0);
	/* The session itself goes on, and ends as usual. */
	h_ping(a, 50);
	h_ping(b, 51);
	memset(&m, 0, sizeof m);
	m.type = MSG_END;
	m.u.end.session = call.session;
	h_send(b, &m);
	h_expect_ended(a, call.session, 0);
}
END_TEST

/* A lone joiner whose partner never came may join again: no relay ran. */
START_TEST(test_relay_rejoin_lone)
{
	struct hproc	*p;
	struct hc	*a, *b;
	struct hcall	 call;
	struct rconn	*ra, *rb;
	struct msg	 m;
	uint8_t		 byte;
	int		 rv;

	h_account_once(N_RA, &RA);
	h_account_once(N_RB, &RB);
	p = h_proc_up("relay-lone", NULL, NULL, REJOIN_CONF);
	b = h_online_at(p->hostport, &RB, HELLO_PRESENCE);
	a = h_online_at(p->hostport, &RA, 0);
	h_ring(a, &RA, b, &RB, 1, "o", 1, &call);
	h_accept(a, b, &RB, "a", 1, &call);
	ra = h_relay_join(p->hostport, call.session, call.token[0], 0);
	rv = h_raw_recv(ra, &m, 10000);
	ck_assert_int_eq(rv, 1);
	ck_assert_msg(m.type == MSG_ERROR && m.u.error.code == ERR_TIMEOUT,
	    "lone joiner: %s %s", proto_type_name(m.type),
	    proto_err_name(m.u.error.code));
	ck_assert_uint_eq(h_raw_expect_closed(ra, 2000), 0);
	h_raw_close(ra);
	h_relay_pair(p->hostport, &call, 0, &ra, &rb);
	h_raw_write_all(ra, "x", 1);
	ck_assert_int_eq(h_raw_read(rb, &byte, 1, H_TIMEOUT_MS), 1);
	ck_assert_uint_eq(byte, 'x');
	h_ping(a, 52);
}
END_TEST

/* A SIGHUP that lowers relay_session_bytes below what a running session
 * has relayed ends it at its next byte, relaying none. Before, the bytes
 * left (quota less relayed) wrapped around and up to a buffer more went
 * through first. */
START_TEST(test_relay_quota_lowered)
{
	struct hproc	*p;
	struct hc	*a, *b;
	struct hcall	 call;
	struct rconn	*ra, *rb;
	uint8_t		*buf, sink[CHUNK];
	size_t		 len = 2 * QUOTA, got = 0;
	ssize_t		 n;

	h_account_once(N_RA, &RA);
	h_account_once(N_RB, &RB);
	p = h_proc_up("relay-lowered", NULL, NULL,
	    "relay_session_bytes = 4194304\n");
	b = h_online_at(p->hostport, &RB, HELLO_PRESENCE);
	a = h_online_at(p->hostport, &RA, 0);
	h_ring(a, &RA, b, &RB, 1, "o", 1, &call);
	h_accept(a, b, &RB, "a", 1, &call);
	h_relay_pair(p->hostport, &call, 0, &ra, &rb);
	buf = xmalloc(len);
	pattern_fill(buf, len, 0);
	for (got = 0; got < len; got += CHUNK) {
		h_raw_write_all(ra, buf + got, CHUNK);
		read_stream(rb, CHUNK, got);
	}
	got = 0;
	h_proc_conf(p, NULL, NULL, NULL, NULL,
	    "relay_session_bytes = 1048576\n");
	ck_assert_int_eq(kill(p->pid, SIGHUP), 0);
	for (n = 0; n < 100 && h_file_count(p->log, "reloaded") == 0; n++)
		h_msleep(50);
	ck_assert_int_eq(h_file_count(p->log, "reloaded"), 1);
	h_raw_write_all(ra, buf, 4096);
	free(buf);
	while ((n = h_raw_read(rb, sink, sizeof sink, H_TIMEOUT_MS)) > 0)
		got += (size_t)n;
	ck_assert_msg(n == 0, "the relay neither closed nor relayed");
	ck_assert_msg(got == 0, "%zu bytes relayed past the lowered quota",
	    got);
	h_expect_ended(a, call.session, 3);
}
END_TEST

/* Back-pressure state. */
struct bp {
	struct rconn	*w, *r;		/* writer, reader */
	uint64_t	 wrote, read;
	long long	 rss0, rss_max;
	uint8_t		 chunk[CHUNK];
	size_t		 chunk_len;	/* to repeat on would-block */
};

/* Write what the socket takes now; 1 if anything went. */
static int
bp_write(struct bp *bp)
{
	ssize_t	 n;
	int	 moved = 0;

	while (bp->wrote < BP_TOTAL) {
		if (bp->chunk_len == 0) {
			bp->chunk_len = BP_TOTAL - bp->wrote < CHUNK ?
			    BP_TOTAL - bp->wrote : CHUNK;
			pattern_fill(bp->chunk, bp->chunk_len, bp->wrote);
		}
		n = h_raw_write(bp->w, bp->chunk, bp->chunk_len);
		ck_assert_msg(n >= 0, "writer closed after %llu bytes",
		    (unsigned long long)bp->wrote);
		if (n == 0)
			break;
		/* Partial writes keep the rest at the front. */
		memmove(bp->chunk, bp->chunk + n, bp->chunk_len - (size_t)n);
		bp->chunk_len -= (size_t)n;
		bp->wrote += (uint64_t)n;
		moved = 1;
	}
	return (moved);
}

/* Read and check what has arrived; 1 if anything did. */
static int
bp_read(struct bp *bp)
{
	uint8_t	 buf[65536];
	ssize_t	 n;
	int	 moved = 0;

	while ((n = h_raw_read(bp->r, buf, sizeof buf, 0)) > 0) {
		pattern_check(buf, (size_t)n, bp->read);
		bp->read += (uint64_t)n;
		moved = 1;
	}
	ck_assert_msg(n != 0, "reader closed after %llu bytes",
	    (unsigned long long)bp->read);
	return (moved);
}

/* Note trystd's memory. */
static void
bp_sample(struct bp *bp)
{
	long long	 rss = rss_of(H.trystd_pid);

	if (rss > bp->rss_max)
		bp->rss_max = rss;
}

/* Wait until r's socket is readable and/or w's writable (100 ms). */
static void
bp_poll(struct bp *bp, int reading)
{
	struct pollfd	 pfd[2];

	pfd[0].fd = h_raw_fd(bp->w);
	pfd[0].events = bp->wrote < BP_TOTAL ? POLLOUT : 0;
	pfd[1].fd = h_raw_fd(bp->r);
	pfd[1].events = reading ? POLLIN : 0;
	pfd[0].revents = pfd[1].revents = 0;
	poll(pfd, 2, 100);
}

/* Assert trystd's memory stayed within the bound (normal builds). */
static void
bp_check_rss(struct bp *bp)
{
	long long	 bound = bp->rss0 + 8LL * BUFFER_BYTES + (16LL << 20);

	ck_assert_msg(!RSS_CHECKED || bp->rss_max <= bound, "trystd RSS grew "
	    "by %lld KiB", (bp->rss_max - bp->rss0) / 1024);
}

/* Write without reading until the writer makes no progress. */
static void
bp_stall(struct bp *bp)
{
	int64_t	 last, t0;

	t0 = last = h_mono_ms();
	while (h_mono_ms() - last < BP_STALL_MS && bp->wrote < BP_TOTAL) {
		if (bp_write(bp))
			last = h_mono_ms();
		bp_sample(bp);
		bp_poll(bp, 0);
	}
	fprintf(stderr, "backpressure: writer stopped after %llu bytes "
	    "(%lld ms); trystd RSS %lld -> %lld KiB%s\n",
	    (unsigned long long)bp->wrote, (long long)(last - t0),
	    bp->rss0 / 1024, bp->rss_max / 1024, RSS_CHECKED ? "" :
	    " (not checked under ASan)");
	ck_assert_msg(bp->wrote < BP_TOTAL / 2, "writer never blocked: %llu "
	    "bytes written", (unsigned long long)bp->wrote);
	bp_check_rss(bp);
}

/* Read and write until every byte has arrived, checked. */
static void
bp_flow(struct bp *bp)
{
	int64_t	 last, t0;

	t0 = last = h_mono_ms();
	while (bp->read < BP_TOTAL) {
		if (bp_read(bp) | bp_write(bp))
			last = h_mono_ms();
		ck_assert_msg(h_mono_ms() - last < H_TIMEOUT_MS, "relay "
		    "stalled at %llu bytes read, %llu written",
		    (unsigned long long)bp->read,
		    (unsigned long long)bp->wrote);
		if ((bp->read & ((1 << 22) - 1)) < 65536)
			bp_sample(bp);
		bp_poll(bp, 1);
	}
	fprintf(stderr, "backpressure: all %u bytes through in %lld ms more; "
	    "trystd RSS peak %lld KiB\n", BP_TOTAL,
	    (long long)(h_mono_ms() - t0), bp->rss_max / 1024);
	ck_assert_uint_eq(bp->wrote, BP_TOTAL);
	bp_check_rss(bp);
}

START_TEST(test_relay_backpressure)
{
	struct hc	*a, *b;
	struct hcall	 call;
	struct bp	*bp = xcalloc(1, sizeof *bp);

	h_account_once(N_BPA, &BPA);
	h_account_once(N_BPB, &BPB);
	session(&BPA, &BPB, &a, &b, &call);
	h_relay_pair(H.hostport, &call, 65536, &bp->w, &bp->r);
	bp->rss0 = bp->rss_max = rss_of(H.trystd_pid);
	/* The reader reads nothing: the writer must come to a stop. */
	bp_stall(bp);
	/* Both control connections still answer; the writer still waits. */
	h_ping(a, 30);
	h_ping(b, 31);
	ck_assert(!bp_write(bp));
	/* Now read: everything arrives, in order, memory still bounded. */
	bp_flow(bp);
	h_raw_close(bp->w);
	ck_assert_uint_eq(h_raw_expect_closed(bp->r, 2000), 0);
	h_ping(a, 32);
	free(bp);
}
END_TEST

/* The reader reads nothing while the writer puts 512 KiB (twice
 * relay_buffer_bytes) into the relay, is silent, writes a 100-byte
 * message and is silent again; once the reader reads, every byte arrives
 * in order. Then 512 KiB more with nothing after them. A byte left inside
 * trystd's TLS reads would wait for input that never comes (see
 * RELAY_READ_MARK in relay.c). */
START_TEST(test_relay_stall_tail)
{
	struct hc	*a, *b;
	struct hcall	 call;
	struct rconn	*w, *r;
	const size_t	 bulk = 2 * BUFFER_BYTES;
	uint8_t		*buf = xmalloc(bulk);

	h_account_once(N_STA, &STA);
	h_account_once(N_STB, &STB);
	session(&STA, &STB, &a, &b, &call);
	h_relay_pair(H.hostport, &call, 65536, &w, &r);
	pattern_fill(buf, bulk, 0);
	h_raw_write_all(w, buf, bulk);
	usleep(300000);
	pattern_fill(buf, 100, bulk);
	h_raw_write_all(w, buf, 100);
	usleep(500000);
	read_stream(r, bulk + 100, 0);
	ck_assert_int_eq(h_raw_read(r, buf, 100, 200), -1);
	/* The end of a stalled transfer comes with nothing after it. */
	pattern_fill(buf, bulk, bulk + 100);
	h_raw_write_all(w, buf, bulk);
	usleep(500000);
	read_stream(r, bulk, bulk + 100);
	h_ping(a, 40);
	h_ping(b, 41);
	free(buf);
}
END_TEST

/* One direction of test_relay_duplex. */
struct dx {
	struct rconn	*w, *r;
	uint8_t		*src, *dst;
	/* pend: the length of a write that would block, to repeat. */
	size_t		 wrote, got, pend;
};

/* Move what the sockets take now; 1 if anything moved. */
static int
dx_step(struct dx *d, size_t len)
{
	ssize_t	 n;
	int	 moved = 0;

	if (d->wrote < len) {
		if (d->pend == 0)
			d->pend = 1 + randombytes_uniform(40000);
		if (d->pend > len - d->wrote)
			d->pend = len - d->wrote;
		n = h_raw_write(d->w, d->src + d->wrote, d->pend);
		ck_assert_msg(n >= 0, "writer closed");
		if (n > 0) {
			d->wrote += (size_t)n;
			d->pend = 0;
			moved = 1;
		}
	}
	if (d->got < len) {
		n = h_raw_read(d->r, d->dst + d->got, len - d->got, 0);
		ck_assert_msg(n != 0, "reader closed after %zu bytes", d->got);
		if (n > 0) {
			d->got += (size_t)n;
			moved = 1;
		}
	}
	return (moved);
}

/* 4 MiB of random bytes each way at once, in writes of 1 to 40,000
 * bytes: each side reads exactly what the other wrote (BLAKE2b). */
START_TEST(test_relay_duplex)
{
	struct hc	*a, *b;
	struct hcall	 call;
	struct dx	 d[2];
	struct pollfd	 pfd[2];
	const size_t	 len = 4U << 20;
	uint8_t		 hs[32], hd[32];
	int64_t		 last;
	int		 i, moved;

	h_account_once(N_DXA, &DXA);
	h_account_once(N_DXB, &DXB);
	session(&DXA, &DXB, &a, &b, &call);
	memset(d, 0, sizeof d);
	h_relay_pair(H.hostport, &call, 0, &d[0].w, &d[1].w);
	d[0].r = d[1].w;
	d[1].r = d[0].w;
	for (i = 0; i < 2; i++) {
		d[i].src = xmalloc(len);
		d[i].dst = xmalloc(len);
		randombytes_buf(d[i].src, len);
		pfd[i].fd = h_raw_fd(d[i].w);
	}
	last = h_mono_ms();
	while (d[0].got < len || d[1].got < len) {
		moved = dx_step(&d[0], len);
		moved |= dx_step(&d[1], len);
		if (moved)
			last = h_mono_ms();
		ck_assert_msg(h_mono_ms() - last < H_TIMEOUT_MS, "relay "
		    "stalled: %zu and %zu bytes read", d[0].got, d[1].got);
		for (i = 0; i < 2; i++)
			pfd[i].events = POLLIN |
			    (d[i].wrote < len ? POLLOUT : 0);
		if (!moved)
			poll(pfd, 2, 50);
	}
	for (i = 0; i < 2; i++) {
		crypto_generichash(hs, sizeof hs, d[i].src, len, NULL, 0);
		crypto_generichash(hd, sizeof hd, d[i].dst, len, NULL, 0);
		ck_assert_mem_eq(hd, hs, sizeof hs);
		free(d[i].src);
		free(d[i].dst);
	}
	h_ping(a, 42);
	h_ping(b, 43);
}
END_TEST

/* RELAY_JOIN, bytes, refusals, closes, back-pressure. */
TCase *
integ_relay_tcase(void)
{
	TCase	*tc = tcase_create("relay");

	tcase_add_checked_fixture(tc, NULL, h_proc_teardown);
	tcase_add_test(tc, test_relay_bytes);
	tcase_add_test(tc, test_relay_refused);
	tcase_add_test(tc, test_relay_leave);
	tcase_add_test(tc, test_relay_backpressure);
	tcase_add_test(tc, test_relay_stall_tail);
	tcase_add_test(tc, test_relay_duplex);
	tcase_add_test(tc, test_relay_rejoin);
	tcase_add_test(tc, test_relay_rejoin_lone);
	tcase_add_test(tc, test_relay_quota_lowered);
	return (tc);
}
