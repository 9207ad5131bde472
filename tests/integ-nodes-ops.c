/*
 * integ-nodes-ops.c -- several trystds on one host, as trystd@.service
 * runs them: two nodes share listen and stun_listen through SO_REUSEPORT
 * and the kernel spreads connections and datagrams over both; each has a
 * relay_listen of its own, which serves TLS and which no other node can
 * take; from the moment one node starts to stop, the other answers on the
 * shared port alone.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "harness.h"

#define N_CONNS		32	/* connections spread over the nodes */
#define N_STUN		24	/* STUN sources, under one bucket's 40 */

/* A node of the test: its process and its own ports. */
struct node {
	struct hproc	*p;
	const char	*name;
	int		 relay;		/* relay_listen's port */
	int		 metrics;	/* metrics_listen's port */
};

/* n distinct ports of socktype that no trystd of the test uses. */
static void
ports(int *out, int n, int socktype)
{
	int	 i, j, clash;

	for (i = 0; i < n; i++) {
		do {
			out[i] = h_proc_port(socktype);
			for (clash = 0, j = 0; j < i; j++)
				clash |= out[j] == out[i];
		} while (clash);
	}
}

/* Configure n as a node named name on the shared listen and stun port
 * (relay_listen on relay): it is not started. */
static void
node_conf(struct node *n, const char *name, const char *listen, int stun,
    int relay, int metrics)
{
	char	 extra[320];

	n->name = name;
	n->relay = relay;
	n->metrics = metrics;
	snprintf(extra, sizeof extra, "node_name = %s\n"
	    "relay_listen = 127.0.0.1:%d\nrelay_endpoint = localhost:%d\n"
	    "stun_listen = 127.0.0.1:%d\nmetrics_listen = %d\n"
	    "shutdown_grace_s = 60\nmax_output_bytes = 67108864\n", name,
	    relay, relay, stun, metrics);
	h_proc_conf(n->p, listen, NULL, NULL, NULL, extra);
}

/* Start n and wait until its relay_listen answers TLS with a CHALLENGE
 * signed by H's key (h_proc_ready on that port), and Redis is up. */
static void
node_up(struct node *n)
{
	h_proc_start(n->p, NULL);
	snprintf(n->p->hostport, sizeof n->p->hostport, "127.0.0.1:%d",
	    n->relay);
	h_proc_ready(n->p);
	h_healthz_wait(n->metrics, 200, 10000);
}

/* Connections n has accepted (on either listener). */
static long long
accepted(const struct node *n)
{
	return (h_metric_now(n->metrics, "tryst_connections_total"));
}

/* Open count connections to hostport, each checked (CHALLENGE signed by
 * H's key) and answering a PING, then closed. */
static void
open_many(const char *hostport, int count)
{
	struct hc	*c;
	int		 i;

	for (i = 0; i < count; i++) {
		c = h_open_at(hostport);
		h_ping(c, (uint64_t)i + 1);
		h_close(c);
	}
}

/* One STUN Binding request to 127.0.0.1:port from each of count fresh
 * sockets (so from count source ports); the answers that come. */
static int
stun_sources(int port, int count)
{
	struct sockaddr_in	 sin;
	struct timeval		 tv = { 2, 0 };
	uint8_t			 req[20], ans[256];
	int			 i, got = 0, fd[N_STUN];
	ssize_t			 r;

	ck_assert_int_le(count, N_STUN);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_addr.s_addr = htonl(INADDR_LOOPBACK);
	sin.sin_port = htons((uint16_t)port);
	memcpy(req, "\x00\x01\x00\x00\x21\x12\xa4\x42", 8);
	for (i = 0; i < count; i++) {
		fd[i] = socket(AF_INET, SOCK_DGRAM | SOCK_CLOEXEC, 0);
		ck_assert_int_ne(fd[i], -1);
		setsockopt(fd[i], SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
		memset(req + 8, i + 1, 12);	/* transaction ID */
		ck_assert_int_eq(sendto(fd[i], req, sizeof req, 0,
		    (struct sockaddr *)&sin, sizeof sin), (ssize_t)sizeof req);
	}
	for (i = 0; i < count; i++) {
		r = recv(fd[i], ans, sizeof ans, 0);
		got += r >= 20 && ans[0] == 0x01 && ans[1] == 0x01 &&
		    ans[8] == i + 1;
		close(fd[i]);
	}
	return (got);
}

/* A client of p that sends PINGs and never reads: more PONGs than p's
 * socket takes (tcp_wmem's maximum) stay in its output, so that a
 * stopping p drains until its shutdown_grace_s ends. */
static void
hold_drain(struct hproc *p)
{
	struct rconn	*r = h_raw_open(p->hostport, 4096);
	struct msg	 m = { .type = MSG_PING };
	uint8_t		 one[64], *buf;
	size_t		 n, i, count, len;
	unsigned long	 lo, def, max;
	char		*s, *why = NULL;

	s = file_read_small("/proc/sys/net/ipv4/tcp_wmem", 256, &len, &why);
	if (s == NULL || sscanf(s, "%lu %lu %lu", &lo, &def, &max) != 3)
		max = 4194304;
	free(s);
	free(why);
	n = proto_encode(&m, one, sizeof one);
	ck_assert_uint_gt(n, 0);
	count = (max + 4 * 1048576) / n;
	buf = xmalloc(n * count);
	for (i = 0; i < count; i++)
		memcpy(buf + i * n, one, n);
	h_raw_write_all(r, buf, n * count);
	free(buf);
	h_msleep(200);
}

START_TEST(test_shared_listen)
{
	struct node	 a = { .p = h_proc_new("node-a") };
	struct node	 b = { .p = h_proc_new("node-b") };
	struct node	 c = { .p = h_proc_new("node-c") };
	char		 shared[64];
	int		 p[6], stun, i;
	long long	 a0, b0, da, db, sa, sb;

	snprintf(shared, sizeof shared, "127.0.0.1:%d", a.p->port);
	ports(p, 6, SOCK_STREAM);
	ports(&stun, 1, SOCK_DGRAM);
	node_conf(&a, "node-a", shared, stun, p[0], p[1]);
	node_conf(&b, "node-b", shared, stun, p[2], p[3]);
	node_up(&a);
	node_up(&b);
	ck_assert_int_eq(h_metric_now(a.metrics,
	    "tryst_node_info{node=\"node-a\"}"), 1);
	ck_assert_int_eq(h_metric_now(b.metrics,
	    "tryst_node_info{node=\"node-b\"}"), 1);

	/* Both take connections on the shared port: every one is
	 * answered, and each node accepted some of them (all on one node:
	 * odds of 2^-31). */
	a0 = accepted(&a);
	b0 = accepted(&b);
	open_many(shared, N_CONNS);
	da = accepted(&a) - a0;
	db = accepted(&b) - b0;
	fprintf(stderr, "shared listen: %lld connections to node-a, %lld to "
	    "node-b\n", da, db);
	ck_assert_int_eq(da + db, N_CONNS);
	ck_assert_int_ge(da, 1);
	ck_assert_int_ge(db, 1);

	/* And both answer STUN on the shared UDP port. */
	ck_assert_int_eq(stun_sources(stun, N_STUN), N_STUN);
	sa = h_metric_now(a.metrics, "tryst_stun_requests_total");
	sb = h_metric_now(b.metrics, "tryst_stun_requests_total");
	fprintf(stderr, "shared stun_listen: %lld requests to node-a, %lld "
	    "to node-b\n", sa, sb);
	ck_assert_int_eq(sa + sb, N_STUN);
	ck_assert_int_ge(sa, 1);
	ck_assert_int_ge(sb, 1);

	/* relay_listen is a node's own: a third node given a's cannot
	 * start, though it shares listen and stun_listen. */
	node_conf(&c, "node-c", shared, stun, a.relay, p[5]);
	h_proc_start(c.p, NULL);
	ck_assert_msg(h_proc_wait(c.p, 10000), "node-c runs on node-a's "
	    "relay_listen");
	ck_assert_msg(WIFEXITED(c.p->status) && WEXITSTATUS(c.p->status) == 1,
	    "node-c: wait status %#x", c.p->status);
	ck_assert_int_eq(h_proc_log_count(c.p, "relay_listen 127.0.0.1:"), 1);
	ck_assert_int_eq(h_proc_log_count(c.p, "Address already in use"), 1);
	h_ping(h_open_at(a.p->hostport), 1);

	/* a stops, and while it drains (a client that never reads holds it
	 * for its grace period) b alone answers on the shared port, every
	 * time: a closed its listener rather than leave connections queued
	 * there unanswered. */
	hold_drain(a.p);
	ck_assert_int_eq(kill(a.p->pid, SIGTERM), 0);
	for (i = 0; i < 500 && h_proc_log_count(a.p, "shutting down") == 0;
	    i++)
		h_msleep(10);
	ck_assert_int_eq(h_proc_log_count(a.p, "shutting down"), 1);
	b0 = accepted(&b);
	for (i = 0; i < 4; i++)
		open_many(shared, N_CONNS / 4);
	ck_assert_int_eq(accepted(&b) - b0, N_CONNS);
	ck_assert_msg(!h_proc_wait(a.p, 0), "node-a no longer drains: the "
	    "test proves nothing");
	/* A second signal ends the drain; a exits cleanly. */
	ck_assert_int_eq(kill(a.p->pid, SIGTERM), 0);
	ck_assert_msg(h_proc_wait(a.p, 10000), "node-a runs after SIGTERM");
	ck_assert_msg(WIFEXITED(a.p->status) && WEXITSTATUS(a.p->status) == 0,
	    "node-a: wait status %#x (see %s)", a.p->status, a.p->log);
	ck_assert_int_eq(stun_sources(stun, N_STUN), N_STUN);
	ck_assert_int_eq(h_metric_now(b.metrics, "tryst_stun_requests_total"),
	    sb + N_STUN);
}
END_TEST

/* relay_listen is a full control listener: a client online there is
 * online on the node, as on listen. */
START_TEST(test_relay_listen_serves)
{
	struct node	 n = { .p = h_proc_new("node-r") };
	struct account	 acc;
	struct hc	*c;
	char		 listen[64];
	int		 p[2], stun;

	snprintf(listen, sizeof listen, "127.0.0.1:%d", n.p->port);
	ports(p, 2, SOCK_STREAM);
	ports(&stun, 1, SOCK_DGRAM);
	node_conf(&n, "node-r", listen, stun, p[0], p[1]);
	node_up(&n);
	h_account_once("+15550100391", &acc);
	c = h_online_at(n.p->hostport, &acc, HELLO_PRESENCE);
	ck_assert_int_eq(h_metric_now(n.metrics, "tryst_online_accounts"), 1);
	h_ping(c, 7);
	/* listen serves as before. */
	h_ping(h_open_at(listen), 8);
}
END_TEST

/* Several nodes on one host. */
TCase *
integ_nodes_ops_tcase(void)
{
	TCase	*tc = tcase_create("nodes-ops");

	tcase_add_checked_fixture(tc, NULL, h_proc_teardown);
	tcase_set_timeout(tc, 120);
	tcase_add_test(tc, test_shared_listen);
	tcase_add_test(tc, test_relay_listen_serves);
	return (tc);
}
