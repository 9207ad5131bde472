/*
 * integ-nodes.c -- two trystd nodes on one standalone Redis (H's): what
 * one node does to an ID reaches the other through the ID's channel
 * (doc/protocol.md §9). A presence taken on one node replaces the one on
 * the other; a re-registration or a deletion on one revokes the ID's
 * connections on both; a call to an ID online nowhere is OFFLINE at once;
 * a tryst/1 party cannot be called across nodes (UNSUPPORTED, clearly).
 * Two tryst/2 parties on two nodes: ring, answer, decline and end as on
 * one node; both are told the relay of the caller's node, where both
 * join; the callee's node refuses a join (it only mirrors the call); a
 * party that leaves, or a node killed mid-call, ends the call for the
 * other within seconds.
 */
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>
#include <unistd.h>

#include <check.h>

#include "harness.h"

#define N_NODES_A	"+15550100801"
#define N_NODES_B	"+15550100802"
#define N_NODES_C	"+15550100803"
#define N_NODES_D	"+15550100804"
#define N_NODES_E	"+15550100805"
#define N_NODES_F	"+15550100806"
#define N_NODES_G	"+15550100807"
#define N_NODES_H	"+15550100808"

static struct hproc	*n1, *n2;

/* Two nodes of their own names on H's Redis and keys. */
static void
nodes_up(void)
{
	n1 = h_proc_up("node1", NULL, NULL, "node_name = node-one\nlog_level = debug\n");
	n2 = h_proc_up("node2", NULL, NULL, "node_name = node-two\nlog_level = debug\n");
}

/* Milliseconds since some fixed time. */
static long long
now_ms(void)
{
	struct timespec	 ts;

	clock_gettime(CLOCK_MONOTONIC, &ts);
	return ((long long)ts.tv_sec * 1000 + ts.tv_nsec / 1000000);
}

/* Presence moves between nodes: the later HELLO with presence wins, the
 * earlier one hears GOAWAY replaced, on whichever node it is. */
START_TEST(test_nodes_presence)
{
	struct account	 a;
	struct hc	*p1, *p2, *p3, *plain;

	nodes_up();
	h_register_at(n1->hostport, N_NODES_A, &a);
	p1 = h_online_at(n1->hostport, &a, HELLO_PRESENCE);
	plain = h_online_at(n2->hostport, &a, 0);
	p2 = h_online_at(n2->hostport, &a, HELLO_PRESENCE);
	h_expect_goaway(p1, GOAWAY_REPLACED);
	p3 = h_online_at(n1->hostport, &a, HELLO_PRESENCE);
	h_expect_goaway(p2, GOAWAY_REPLACED);
	/* The connections without presence stay, on both nodes. */
	h_ping(plain, 1);
	h_ping(p3, 2);
}
END_TEST

/* A registration on one node revokes the ID's older connections on the
 * other, from the script that writes the account; its own new
 * connections stay. A deletion on one node revokes them everywhere. */
START_TEST(test_nodes_revoke)
{
	struct account	 a;
	struct hc	*on2, *on2b, *on1;
	struct msg	 m;

	nodes_up();
	h_register_at(n1->hostport, N_NODES_B, &a);
	on2 = h_online_at(n2->hostport, &a, HELLO_PRESENCE);
	h_register_at(n1->hostport, N_NODES_B, &a);
	h_expect_goaway(on2, GOAWAY_REVOKED);

	on2b = h_online_at(n2->hostport, &a, 0);
	on1 = h_online_at(n1->hostport, &a, 0);
	memset(&m, 0, sizeof m);
	m.type = MSG_DELETE_ACCOUNT;
	h_send(on1, &m);
	h_recv(on1, &m);
	ck_assert_int_eq(m.type, MSG_DELETED);
	h_expect_goaway(on2b, GOAWAY_REVOKED);
}
END_TEST

/* An ID online on no node: OFFLINE, in far less than call_timeout_s
 * (the caller's node learns that no other node listens on the ID's
 * channel). A tryst/1 callee on another node: UNSUPPORTED, at once,
 * with a message that says why. Both nodes stay well. */
START_TEST(test_nodes_v1)
{
	struct account	 a, b;
	struct hc	*ca, *cb;
	struct msg	 m;
	long long	 t0;

	nodes_up();
	H.max_version = 1;	/* both parties are tryst/1 clients */
	h_register_at(n1->hostport, N_NODES_C, &a);
	h_register_at(n1->hostport, N_NODES_D, &b);
	ca = h_online_at(n1->hostport, &a, 0);

	t0 = now_ms();
	h_connect(ca, 7, b.c.id, "o", 1);
	h_expect_error(ca, ERR_OFFLINE, MSG_CONNECT, &m);
	ck_assert_uint_eq(m.u.error.ref, 7);
	ck_assert_int_lt(now_ms() - t0, 3000);

	cb = h_online_at(n2->hostport, &b, HELLO_PRESENCE);
	h_connect(ca, 8, b.c.id, "o", 1);
	h_expect_error(ca, ERR_UNSUPPORTED, MSG_CONNECT, &m);
	ck_assert_uint_eq(m.u.error.ref, 8);
	ck_assert_ptr_nonnull(memmem(m.u.error.message.p,
	    m.u.error.message.len, "tryst/2", 7));
	/* Nothing rang on b's node; both nodes serve on. */
	h_ping(cb, 3);
	h_ping(ca, 4);
}
END_TEST

/* Next on c: ERROR code about CONNECT tag. */
static void
expect_connect_error(struct hc *c, int code, uint32_t tag)
{
	struct msg	 m;

	h_expect_error(c, code, MSG_CONNECT, &m);
	ck_assert_uint_eq(m.u.error.ref, tag);
}

/* ACCEPT, DECLINE or END of session on c. */
static void
send_session(struct hc *c, uint8_t type, uint64_t session, uint8_t reason)
{
	struct msg	 m;

	memset(&m, 0, sizeof m);
	m.type = type;
	if (type == MSG_DECLINE) {
		m.u.decline.session = session;
		m.u.decline.reason = reason;
	} else
		m.u.end.session = session;
	h_send(c, &m);
}

/* A call from a on node 1 to b on node 2, answered, relayed through node
 * 1 (which both are told), ended by b; a declined call; a ringing call
 * whose callee leaves; one the caller gives up on. */
START_TEST(test_nodes_call)
{
	struct account	 A, B;
	struct hc	*a, *b;
	struct hcall	 call;
	struct rconn	*ra, *rb, *wrong;
	struct msg	 m;
	char		 buf[64];

	nodes_up();
	h_register_at(n1->hostport, N_NODES_E, &A);
	h_register_at(n2->hostport, N_NODES_F, &B);
	a = h_online_at(n1->hostport, &A, 0);
	b = h_online_at(n2->hostport, &B, HELLO_PRESENCE);
	ck_assert_int_eq(tconn_version(a->tc), 2);

	h_ring(a, &A, b, &B, 1, "offer", 5, &call);
	ck_assert_str_eq(call.relay[1], n1->hostport);
	h_accept(a, b, &B, "answer", 6, &call);
	ck_assert_str_eq(call.relay[0], n1->hostport);

	/* The callee's node holds only a mirror: no relay there. */
	wrong = h_relay_join(n2->hostport, call.session, call.token[1], 0);
	ck_assert_int_eq(h_raw_recv(wrong, &m, H_TIMEOUT_MS), 1);
	ck_assert_int_eq(m.type, MSG_ERROR);
	ck_assert_int_eq(m.u.error.code, ERR_NO_SESSION);

	h_relay_pair(n1->hostport, &call, 0, &ra, &rb);
	h_raw_write_all(ra, "across nodes", 12);
	ck_assert_int_eq(h_raw_read(rb, buf, sizeof buf, H_TIMEOUT_MS), 12);
	ck_assert_mem_eq(buf, "across nodes", 12);

	send_session(b, MSG_END, call.session, 0);
	h_expect_ended(a, call.session, 0);
	h_raw_expect_closed(ra, H_TIMEOUT_MS);

	/* Declined: the caller hears the callee's reason. */
	h_ring(a, &A, b, &B, 2, "o", 1, &call);
	send_session(b, MSG_DECLINE, call.session, 2);
	h_recv(a, &m);
	ck_assert_int_eq(m.type, MSG_DECLINED);
	ck_assert_uint_eq(m.u.declined.tag, 2);
	ck_assert_uint_eq(m.u.declined.reason, 2);

	/* The caller ends a session: the callee hears ENDED 0. */
	h_ring(a, &A, b, &B, 3, "o", 1, &call);
	h_accept(a, b, &B, "a", 1, &call);
	send_session(a, MSG_END, call.session, 0);
	h_expect_ended(b, call.session, 0);

	/* The callee leaves while it rings: OFFLINE for the caller. */
	h_ring(a, &A, b, &B, 4, "o", 1, &call);
	h_close(b);
	expect_connect_error(a, ERR_OFFLINE, 4);

	/* The caller leaves while it rings: ENDED 1 for the callee. */
	b = h_online_at(n2->hostport, &B, HELLO_PRESENCE);
	h_ring(a, &A, b, &B, 5, "o", 1, &call);
	h_close(a);
	h_expect_ended(b, call.session, 1);
	h_ping(b, 9);
}
END_TEST

/* A node killed mid-call: the party on the other node hears ENDED 1 in
 * seconds (heartbeats stop), far within call_timeout_s; it can be called
 * again at once from a node that lives. A ringing call whose callee's
 * node dies, or never says it rang: OFFLINE in seconds. */
START_TEST(test_nodes_death)
{
	struct account	 A, B;
	struct hc	*a, *b, *a1;
	struct hcall	 call;
	int64_t		 t0;

	nodes_up();
	h_register_at(n1->hostport, N_NODES_G, &A);
	h_register_at(n1->hostport, N_NODES_H, &B);
	a = h_online_at(n2->hostport, &A, 0);
	b = h_online_at(n1->hostport, &B, HELLO_PRESENCE);
	h_ring(a, &A, b, &B, 1, "o", 1, &call);
	h_accept(a, b, &B, "a", 1, &call);

	t0 = h_mono_ms();
	kill(n2->pid, SIGKILL);
	ck_assert(h_proc_wait(n2, 5000));
	h_expect_ended(b, call.session, 1);
	ck_assert_int_lt(h_mono_ms() - t0, 10000);

	/* A ringing call whose callee's node dies: OFFLINE. */
	n2 = h_proc_up("node2b", NULL, NULL, "node_name = node-two\n");
	h_close(b);
	b = h_online_at(n2->hostport, &B, HELLO_PRESENCE);
	a1 = h_online_at(n1->hostport, &A, 0);
	h_ring(a1, &A, b, &B, 2, "o", 1, &call);
	t0 = h_mono_ms();
	kill(n2->pid, SIGKILL);
	ck_assert(h_proc_wait(n2, 5000));
	expect_connect_error(a1, ERR_OFFLINE, 2);
	ck_assert_int_lt(h_mono_ms() - t0, 10000);

	/* A node that gets the ring and never says it rang (stopped, as
	 * one killed before its RINGING left): OFFLINE in seconds, not
	 * TIMEOUT after call_timeout_s. */
	n2 = h_proc_up("node2c", NULL, NULL, "node_name = node-two\n");
	h_close(b);
	b = h_online_at(n2->hostport, &B, HELLO_PRESENCE);
	h_ping(b, 3);
	ck_assert_int_eq(kill(n2->pid, SIGSTOP), 0);
	t0 = h_mono_ms();
	h_connect(a1, 3, B.c.id, "o", 1);
	expect_connect_error(a1, ERR_OFFLINE, 3);
	ck_assert_int_lt(h_mono_ms() - t0, 10000);
	kill(n2->pid, SIGCONT);
	(void)a;
}
END_TEST

/* Redis stopped for 6 s mid-call (as a failover of the primary of the
 * nodes' channels stops them): neither node hears the other, nor itself,
 * so neither takes the other for gone; once Redis is back, the call goes
 * on and ends as usual. Before, both ended it after 3.5 s (ENDED 1). */
START_TEST(test_nodes_deaf)
{
	struct account	 A, B;
	struct hc	*a, *b;
	struct hcall	 call;
	int64_t		 t0;

	nodes_up();
	h_register_at(n1->hostport, N_NODES_A, &A);
	h_register_at(n1->hostport, N_NODES_B, &B);
	a = h_online_at(n1->hostport, &A, 0);
	b = h_online_at(n2->hostport, &B, HELLO_PRESENCE);
	h_ring(a, &A, b, &B, 1, "o", 1, &call);
	h_accept(a, b, &B, "a", 1, &call);

	ck_assert_int_eq(kill(H.redis_pid, SIGSTOP), 0);
	sleep(6);
	ck_assert_int_eq(kill(H.redis_pid, SIGCONT), 0);
	t0 = h_mono_ms();
	while ((h_proc_log_count(n1, "channel works again") == 0 ||
	    h_proc_log_count(n2, "channel works again") == 0) &&
	    h_mono_ms() - t0 < 20000)
		usleep(100 * 1000);
	ck_assert_int_eq(h_proc_log_count(n1, "is silent"), 0);
	ck_assert_int_eq(h_proc_log_count(n2, "is silent"), 0);
	/* Nothing came meanwhile: the next answers are these. */
	h_ping(a, 7);
	h_ping(b, 8);
	ck_assert_int_gt(h_proc_log_count(n1, "channel works again"), 0);
	ck_assert_int_gt(h_proc_log_count(n2, "channel works again"), 0);
	send_session(b, MSG_END, call.session, 0);
	h_expect_ended(a, call.session, 0);
}
END_TEST

/* This file's tests: each starts two nodes of its own. */
TCase *
integ_nodes_tcase(void)
{
	TCase	*tc = tcase_create("nodes");

	tcase_add_checked_fixture(tc, NULL, h_proc_teardown);
	tcase_set_timeout(tc, 60);
	tcase_add_test(tc, test_nodes_presence);
	tcase_add_test(tc, test_nodes_revoke);
	tcase_add_test(tc, test_nodes_v1);
	tcase_add_test(tc, test_nodes_call);
	tcase_add_test(tc, test_nodes_death);
	tcase_add_test(tc, test_nodes_deaf);
	return (tc);
}
