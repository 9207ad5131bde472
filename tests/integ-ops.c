/*
 * integ-ops.c -- operations against trystds of their own: /metrics (with
 * promtool) and /healthz, credential:NAME, the STUN port that WELCOME
 * announces, relay_rate_bps, and the descriptor limit.
 */
#include <sys/socket.h>
#include <sys/wait.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <errno.h>
#include <poll.h>
#include <stddef.h>
#include <signal.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <time.h>
#include <unistd.h>

#include <check.h>
#include <hiredis/hiredis.h>

#include "harness.h"

#define N_METRICS	"+15550100301"
#define N_STUN		"+15550100302"
#define N_METRICS2	"+15550100303"
#define N_RATE_A	"+15550100306"
#define N_RATE_B	"+15550100307"

/* ---- plain HTTP ------------------------------------------------------- */

/* An HTTP answer. */
struct hresp {
	int	 status;
	char	 ctype[128];
	char	*body;		/* caller frees */
};

/* A TCP connection to addr:port; -1 with errno on failure. */
static int
tcp_connect(const char *addr, int port)
{
	struct sockaddr_in	 sin;
	int			 fd, e;

	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	sin.sin_port = htons((uint16_t)port);
	ck_assert_int_eq(inet_pton(AF_INET, addr, &sin.sin_addr), 1);
	ck_assert_int_ne(fd = socket(AF_INET, SOCK_STREAM, 0), -1);
	if (connect(fd, (struct sockaddr *)&sin, sizeof sin) == 0)
		return (fd);
	e = errno;
	close(fd);
	errno = e;
	return (-1);
}

/* Everything fd sends until it closes (5 s at most); caller frees. */
static char *
read_all(int fd)
{
	struct pollfd	 pfd = { .fd = fd, .events = POLLIN };
	int64_t		 end = h_mono_ms() + H_TIMEOUT_MS;
	char		*buf = xcalloc(1, 1);
	size_t		 len = 0;
	ssize_t		 n;

	for (;;) {
		ck_assert_msg(h_mono_ms() < end, "HTTP answer not closed");
		if (poll(&pfd, 1, 100) < 1)
			continue;
		buf = xrealloc(buf, len + 4097);
		if ((n = read(fd, buf + len, 4096)) <= 0)
			break;
		len += (size_t)n;
	}
	buf[len] = '\0';
	return (buf);
}

/* GET path from addr:port: the status, Content-Type and body. */
static void
http_get(const char *addr, int port, const char *path, struct hresp *r)
{
	char		*req, *buf, *hend, *line, *next;
	int		 fd;

	fd = tcp_connect(addr, port);
	ck_assert_msg(fd != -1, "connect %s:%d: %s", addr, port,
	    strerror(errno));
	xasprintf(&req, "GET %s HTTP/1.1\r\nHost: %s\r\nConnection: close"
	    "\r\n\r\n", path, addr);
	ck_assert_int_eq(write(fd, req, strlen(req)), (ssize_t)strlen(req));
	free(req);
	buf = read_all(fd);
	close(fd);
	memset(r, 0, sizeof *r);
	ck_assert_msg(sscanf(buf, "HTTP/1.%*d %d", &r->status) == 1,
	    "not HTTP: %s", buf);
	ck_assert_msg((hend = strstr(buf, "\r\n\r\n")) != NULL,
	    "no end of headers: %s", buf);
	*hend = '\0';
	for (line = strstr(buf, "\r\n"); line != NULL; line = next) {
		line += 2;
		next = strstr(line, "\r\n");
		if (strncasecmp(line, "Content-Type:", 13) == 0)
			snprintf(r->ctype, sizeof r->ctype, "%.*s",
			    (int)(next != NULL ? next - line - 13 :
			    (ptrdiff_t)strlen(line + 13)), line + 13);
	}
	r->body = xstrdup(hend + 4);
	free(buf);
}

/* The value of the sample name (labels included) in an exposition. */
static long long
metric(const char *body, const char *name)
{
	const char	*line;
	size_t		 n = strlen(name);

	for (line = body; line != NULL && *line != '\0';
	    line = strchr(line, '\n') != NULL ? strchr(line, '\n') + 1 : NULL) {
		if (strncmp(line, name, n) == 0 && line[n] == ' ')
			return (strtoll(line + n + 1, NULL, 10));
	}
	ck_abort_msg("no sample %s in:\n%s", name, body);
	return (-1);
}

/* GET /metrics (asserting 200) and one sample of it. */
long long
h_metric_now(int port, const char *name)
{
	struct hresp	 r;
	long long	 v;

	http_get("127.0.0.1", port, "/metrics", &r);
	ck_assert_int_eq(r.status, 200);
	v = metric(r.body, name);
	free(r.body);
	return (v);
}

/* The longest run of hex digits in s. */
static size_t
hex_run(const char *s)
{
	size_t	 run = 0, best = 0;

	for (; *s != '\0'; s++) {
		run = strchr("0123456789abcdefABCDEF", *s) != NULL ?
		    run + 1 : 0;
		if (run > best)
			best = run;
	}
	return (best);
}

/* Poll /healthz for up to ms until it answers want. */
void
h_healthz_wait(int port, int want, int ms)
{
	struct hresp	 r;
	int64_t		 end = h_mono_ms() + ms;

	for (;;) {
		http_get("127.0.0.1", port, "/healthz", &r);
		free(r.body);
		if (r.status == want)
			return;
		ck_assert_msg(h_mono_ms() < end, "/healthz: %d, not %d after "
		    "%d ms", r.status, want, ms);
		h_msleep(50);
	}
}

/* ---- tests ------------------------------------------------------------ */

/* Start p with metrics_listen = listen (and extra lines). */
static void
start_metrics(struct hproc *p, const char *listen, const char *extra)
{
	char	*conf;

	xasprintf(&conf, "metrics_listen = %s\n%s", listen,
	    extra != NULL ? extra : "");
	h_proc_conf(p, NULL, NULL, NULL, NULL, conf);
	free(conf);
	h_proc_start(p, NULL);
	h_proc_ready(p);
}

/* promtool, the Prometheus project's own checker, accepts body. */
static void
promtool_check(const char *body)
{
	char	 path[PATH_MAX], *out = NULL;
	int	 st;

	ck_assert_msg(h_run(NULL, "command -v promtool >/dev/null") == 0,
	    "no promtool: apt-get install prometheus (deploy/dev test does)");
	snprintf(path, sizeof path, "%s/metrics.txt", H.dir);
	ck_assert_int_eq(file_write_atomic(path, body, strlen(body), 0600, 0,
	    NULL), 0);
	st = h_run(&out, "promtool check metrics <'%s' 2>&1", path);
	ck_assert_msg(st == 0, "promtool check metrics: %d: %s", st, out);
	free(out);
}

/* Read exactly len relayed bytes. */
static void
read_exact(struct rconn *r, uint8_t *buf, size_t len)
{
	ssize_t	 n;
	size_t	 got;

	for (got = 0; got < len; got += (size_t)n) {
		n = h_raw_read(r, buf + got, len - got, H_TIMEOUT_MS);
		ck_assert_msg(n > 0, "relay: %zd after %zu bytes", n, got);
	}
}

/* a looks up a second account, calls it, and both relay 1000 bytes
 * each way; the counters of each step move. */
void
h_metrics_activity(struct hproc *p, int port, const struct account *a)
{
	struct account	 b;
	struct hc	*ca, *cb;
	struct hcall	 call;
	struct rconn	*ra, *rb;
	struct msg	 m;
	uint8_t		 blind[32], el[32], buf[1000];

	h_register_at(p->hostport, N_METRICS2, &b);
	ca = h_online_at(p->hostport, a, 0);
	cb = h_online_at(p->hostport, &b, HELLO_PRESENCE);
	ck_assert_int_eq(oprf_blind(blind, el, (const uint8_t *)N_METRICS2,
	    strlen(N_METRICS2), NULL), 0);
	memset(&m, 0, sizeof m);
	m.type = MSG_OPRF_EVAL;
	m.u.oprf.count = 1;
	m.u.oprf.elements = el;
	h_send(ca, &m);
	h_recv(ca, &m);
	ck_assert_int_eq(m.type, MSG_OPRF_RESULT);
	m.type = MSG_LOOKUP;
	m.u.lookup.count = 1;
	m.u.lookup.ids = b.c.id;
	h_send(ca, &m);
	h_recv(ca, &m);
	ck_assert_int_eq(m.type, MSG_LOOKUP_RESULT);
	ck_assert_int_eq(h_metric_now(port, "tryst_oprf_elements_total"), 1);
	ck_assert_int_eq(h_metric_now(port, "tryst_lookup_ids_total"), 1);

	h_ring(ca, a, cb, &b, 7, "offer", 5, &call);
	h_accept(ca, cb, &b, "answer", 6, &call);
	ck_assert_int_eq(h_metric_now(port,
	    "tryst_introductions_total{outcome=\"answered\"}"), 1);
	h_relay_pair(p->hostport, &call, 0, &ra, &rb);
	memset(buf, 0x5a, sizeof buf);
	h_raw_write_all(ra, buf, sizeof buf);
	read_exact(rb, buf, sizeof buf);
	h_raw_write_all(rb, buf, sizeof buf);
	read_exact(ra, buf, sizeof buf);
	ck_assert_int_eq(h_metric_now(port, "tryst_relay_sessions_total"), 1);
	ck_assert_int_eq(h_metric_now(port, "tryst_relay_bytes_total"), 2000);
}

/* relay_rate_bps caps a session: 400 KiB at 100 kB/s (a burst of at most
 * one second's worth) take at least 2 s, and arrive intact, the last full
 * TLS record too; a short message after them is not left behind. */
START_TEST(test_relay_rate)
{
	struct hproc	*p = h_proc_new("relay-rate");
	struct account	 a, b;
	struct hc	*ca, *cb;
	struct hcall	 call;
	struct rconn	*ra, *rb;
	uint8_t		*out, *in;
	size_t		 len = 25 * 16384, sent = 0, got = 0, i, n;
	ssize_t		 r;
	int64_t		 start, ms;

	h_proc_conf(p, NULL, NULL, NULL, NULL, "relay_rate_bps = 100000\n");
	h_proc_start(p, NULL);
	h_proc_ready(p);
	h_register_at(p->hostport, N_RATE_A, &a);
	h_register_at(p->hostport, N_RATE_B, &b);
	cb = h_online_at(p->hostport, &b, HELLO_PRESENCE);
	ca = h_online_at(p->hostport, &a, 0);
	h_ring(ca, &a, cb, &b, 1, "offer", 5, &call);
	h_accept(ca, cb, &b, "answer", 6, &call);
	h_relay_pair(p->hostport, &call, 0, &ra, &rb);
	out = xmalloc(len);
	in = xmalloc(len);
	for (i = 0; i < len; i++)
		out[i] = (uint8_t)(i * 7 + i / 251);
	start = h_mono_ms();
	while (got < len) {
		if (sent < len) {
			/* Whole 16 KiB TLS records, as bulk senders write. */
			n = len - sent < 16384 ? len - sent : 16384;
			ck_assert_int_ge(r = h_raw_write(ra, out + sent, n), 0);
			sent += (size_t)r;
		}
		r = h_raw_read(rb, in + got, len - got, sent < len ? 0 : 3000);
		ck_assert_msg(r != 0, "relay closed after %zu bytes", got);
		if (r > 0)
			got += (size_t)r;
		else
			ck_assert_msg(sent < len, "nothing after %zu bytes", got);
		ck_assert_msg(h_mono_ms() - start < 60000, "60 s for %zu", got);
	}
	ms = h_mono_ms() - start;
	printf("relay_rate_bps = 100000: %zu bytes in %lld ms\n", len,
	    (long long)ms);
	ck_assert_int_eq(memcmp(in, out, len), 0);
	ck_assert_int_ge(ms, 2000);
	/* The bucket is about empty: a short message each way still comes. */
	h_raw_write_all(ra, "tail", 4);
	read_exact(rb, in, 4);
	ck_assert_mem_eq(in, "tail", 4);
	h_raw_write_all(rb, "back", 4);
	read_exact(ra, in, 4);
	ck_assert_mem_eq(in, "back", 4);
	h_ping(ca, 1);
	free(out);
	free(in);
}
END_TEST

/* relay_node_rate_bps: two sessions, each free of any cap of its own,
 * share the node's 100,000 bytes a second. 2 x 256 KiB through them
 * cannot take under about 4.2 s (the bucket starts a second full); one
 * session alone would take milliseconds. Every byte arrives, in order,
 * and the sessions still carry a message each way afterwards. With
 * reload, the cap comes by SIGHUP once both sessions have relayed a
 * first message, and holds them all the same. number: 4 people. */
static void
node_rate(int reload, const char *const number[4])
{
	struct hproc	*p = h_proc_new(reload ? "relay-node-reload" :
			    "relay-node-rate");
	struct account	 acc[4];
	struct hc	*c[4];
	struct hcall	 call[2];
	struct rconn	*ra[2], *rb[2];
	uint8_t		*out, *in[2];
	size_t		 len = 16 * 16384, sent[2] = { 0 }, got[2] = { 0 }, i, n;
	ssize_t		 r;
	int64_t		 start, ms;
	int		 s;
	const char	*cap = "relay_node_rate_bps = 100000\n";

	h_proc_conf(p, NULL, NULL, NULL, NULL, reload ? "" : cap);
	h_proc_start(p, NULL);
	h_proc_ready(p);
	for (i = 0; i < 4; i++)
		h_register_at(p->hostport, number[i], &acc[i]);
	for (s = 0; s < 2; s++) {
		c[2 * s + 1] = h_online_at(p->hostport, &acc[2 * s + 1],
		    HELLO_PRESENCE);
		c[2 * s] = h_online_at(p->hostport, &acc[2 * s], 0);
		h_ring(c[2 * s], &acc[2 * s], c[2 * s + 1], &acc[2 * s + 1],
		    1, "offer", 5, &call[s]);
		h_accept(c[2 * s], c[2 * s + 1], &acc[2 * s + 1], "answer", 6,
		    &call[s]);
		h_relay_pair(p->hostport, &call[s], 0, &ra[s], &rb[s]);
		in[s] = xmalloc(len);
	}
	if (reload) {
		for (s = 0; s < 2; s++) {
			h_raw_write_all(ra[s], "free", 4);
			read_exact(rb[s], in[s], 4);
			ck_assert_mem_eq(in[s], "free", 4);
		}
		h_proc_conf(p, NULL, NULL, NULL, NULL, cap);
		ck_assert_int_eq(kill(p->pid, SIGHUP), 0);
		for (i = 0; i < 100 && h_file_count(p->log, "reloaded") == 0;
		    i++)
			h_msleep(50);
		ck_assert_int_eq(h_file_count(p->log, "reloaded"), 1);
	}
	out = xmalloc(len);
	for (i = 0; i < len; i++)
		out[i] = (uint8_t)(i * 13 + i / 253);
	start = h_mono_ms();
	while (got[0] < len || got[1] < len) {
		for (s = 0; s < 2; s++) {
			if (sent[s] < len) {
				n = len - sent[s] < 16384 ? len - sent[s] :
				    16384;
				ck_assert_int_ge(r = h_raw_write(ra[s],
				    out + sent[s], n), 0);
				sent[s] += (size_t)r;
			}
			if (got[s] == len)
				continue;
			r = h_raw_read(rb[s], in[s] + got[s], len - got[s],
			    10);
			ck_assert_msg(r != 0, "session %d closed after %zu",
			    s, got[s]);
			if (r > 0)
				got[s] += (size_t)r;
		}
		ck_assert_msg(h_mono_ms() - start < 60000, "60 s for %zu, %zu",
		    got[0], got[1]);
	}
	ms = h_mono_ms() - start;
	printf("relay_node_rate_bps = 100000%s: 2 x %zu bytes in %lld ms\n",
	    reload ? " (by SIGHUP)" : "", len, (long long)ms);
	ck_assert_int_ge(ms, 3500);
	for (s = 0; s < 2; s++) {
		ck_assert_int_eq(memcmp(in[s], out, len), 0);
		h_raw_write_all(ra[s], "tail", 4);
		read_exact(rb[s], in[s], 4);
		ck_assert_mem_eq(in[s], "tail", 4);
		h_raw_write_all(rb[s], "back", 4);
		read_exact(ra[s], in[s], 4);
		ck_assert_mem_eq(in[s], "back", 4);
		free(in[s]);
	}
	h_ping(c[0], 1);
	free(out);
}

START_TEST(test_relay_node_rate)
{
	static const char *const number[4] = { "+15550100320",
	    "+15550100321", "+15550100322", "+15550100323" };

	node_rate(0, number);
}
END_TEST

/* The cap turned on by SIGHUP holds sessions already running: every
 * session has the refill timer that reads it again. */
START_TEST(test_relay_node_rate_reload)
{
	static const char *const number[4] = { "+15550100324",
	    "+15550100325", "+15550100326", "+15550100327" };

	node_rate(1, number);
}
END_TEST

START_TEST(test_metrics)
{
	struct hproc	*p = h_proc_new("metrics");
	struct hresp	 r;
	struct account	 a;
	char		 listen[32], id[2 * ID_LEN + 1];
	int		 port = h_proc_port(SOCK_STREAM), i;
	long long	 begins;

	snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
	start_metrics(p, listen, "node_name = metrics-node.a_1\n");
	http_get("127.0.0.1", port, "/metrics", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_msg(strncmp(r.ctype, " text/plain", 11) == 0,
	    "Content-Type:%s", r.ctype);
	ck_assert_ptr_nonnull(strstr(r.body,
	    "# TYPE tryst_connections gauge\ntryst_connections "));
	begins = metric(r.body, "tryst_register_begin_total{outcome=\"ok\"}");
	ck_assert_int_le(llabs(metric(r.body, "process_start_time_seconds") -
	    (long long)time(NULL)), 60);
	/* The node and the counters of nodes and Redis Cluster: one
	 * standalone node has sent and heard nothing, and listens on its
	 * own node channel only. */
	ck_assert_int_eq(metric(r.body,
	    "tryst_node_info{node=\"metrics-node.a_1\"}"), 1);
	ck_assert_ptr_nonnull(strstr(r.body,
	    "# TYPE tryst_node_info gauge\n"));
	ck_assert_int_eq(metric(r.body, "tryst_redis_redirects_total"), 0);
	ck_assert_int_eq(metric(r.body, "tryst_redis_refreshes_total"), 0);
	ck_assert_int_eq(metric(r.body, "tryst_bus_sent_total"), 0);
	ck_assert_int_eq(metric(r.body, "tryst_bus_received_total"), 0);
	ck_assert_int_eq(metric(r.body, "tryst_redis_subscriptions"), 1);
	free(r.body);

	h_register_at(p->hostport, N_METRICS, &a);
	h_online_at(p->hostport, &a, HELLO_PRESENCE);
	h_open_at(p->hostport);
	ck_assert_int_eq(h_metric_now(port,
	    "tryst_register_begin_total{outcome=\"ok\"}"), begins + 1);
	ck_assert_int_eq(h_metric_now(port,
	    "tryst_register_finish_total{outcome=\"ok\"}"), 1);
	ck_assert_int_eq(h_metric_now(port, "tryst_hello_total{outcome=\"ok\"}"),
	    1);
	ck_assert_int_eq(h_metric_now(port, "tryst_online_accounts"), 1);
	/* Online: the ID's channel beside the node's. */
	ck_assert_int_eq(h_metric_now(port, "tryst_redis_subscriptions"), 2);
	/* The registration's connection may take a moment to go. */
	for (i = 0; i < 40 && h_metric_now(port, "tryst_connections") != 2; i++)
		h_msleep(50);
	ck_assert_int_eq(h_metric_now(port, "tryst_connections"), 2);

	h_metrics_activity(p, port, &a);
	http_get("127.0.0.1", port, "/metrics", &r);
	promtool_check(r.body);
	hex_encode(id, a.c.id, ID_LEN);
	ck_assert_msg(strstr(r.body, &N_METRICS[1]) == NULL &&
	    strstr(r.body, &N_METRICS[2]) == NULL, "the number in /metrics");
	ck_assert_msg(strstr(r.body, id) == NULL, "the ID in /metrics");
	ck_assert_msg(hex_run(r.body) < 16, "a hex string in /metrics:\n%s",
	    r.body);
	free(r.body);
	http_get("127.0.0.1", port, "/nothing", &r);
	ck_assert_int_eq(r.status, 404);
	free(r.body);
}
END_TEST

START_TEST(test_healthz)
{
	struct hproc	*p = h_proc_new("healthz");
	struct hresp	 r;
	char		 listen[32], *why = NULL;
	int		 port = h_proc_port(SOCK_STREAM);

	snprintf(listen, sizeof listen, "127.0.0.1:%d", port);
	start_metrics(p, listen, NULL);
	http_get("127.0.0.1", port, "/healthz", &r);
	ck_assert_int_eq(r.status, 200);
	ck_assert_str_eq(r.body, "ok\n");
	free(r.body);
	ck_assert_int_eq(h_metric_now(port, "tryst_redis_up"), 1);

	h_redis_stop();
	h_healthz_wait(port, 503, 5000);
	ck_assert_int_eq(h_metric_now(port, "tryst_redis_up"), 0);
	ck_assert_msg(h_redis_start(&why) == 0, "%s", why);
	h_healthz_wait(port, 200, 10000);
	ck_assert_int_eq(h_metric_now(port, "tryst_redis_up"), 1);
	ck_assert_int_ge(h_metric_now(port, "tryst_redis_errors_total"), 1);
}
END_TEST

/* Run cmd with CREDENTIALS_DIRECTORY=creds (unless NULL); the exit
 * status, stdout and stderr in *out. */
static int
run_creds(char **out, const char *creds, const char *cmd)
{
	if (creds == NULL)
		return (h_run(out, "%s 2>&1", cmd));
	return (h_run(out, "CREDENTIALS_DIRECTORY='%s' %s 2>&1", creds, cmd));
}

START_TEST(test_credentials)
{
	struct hproc	*p = h_proc_new("cred");
	char		 creds[PATH_MAX], env[PATH_MAX + 32], extra[64];
	char		 check[PATH_MAX + 32], pub[PATH_MAX + 32];
	char		 pub0[PATH_MAX + 32], missing[PATH_MAX + 16];
	char		*envp[] = { env, NULL }, *out, *plain;
	int		 port = h_proc_port(SOCK_STREAM), fd;

	snprintf(creds, sizeof creds, "%s/creds", H.dir);
	snprintf(env, sizeof env, "CREDENTIALS_DIRECTORY=%s", creds);
	ck_assert_int_eq(h_run(NULL, "mkdir -p '%s' && cp '%s' '%s/master.key' "
	    "&& cp '%s/key.pem' '%s/tls.key'", creds, H.master, creds, H.dir,
	    creds), 0);
	snprintf(extra, sizeof extra, "metrics_listen = %d\n", port);
	h_proc_conf(p, NULL, NULL, "credential:tls.key",
	    "credential:master.key", extra);
	snprintf(check, sizeof check, "\"$TRYSTD\" -t -c '%s'", p->conf);
	snprintf(pub, sizeof pub, "\"$TRYSTCTL\" -c '%s' pubkeys", p->conf);
	snprintf(pub0, sizeof pub0, "\"$TRYSTCTL\" -c '%s' pubkeys", H.conf);

	ck_assert_int_eq(run_creds(&out, creds, check), 0);
	ck_assert_msg(strstr(out, "is valid") != NULL, "trystd -t: %s", out);
	free(out);
	/* From a shell, credential:NAME is NAME beside the configuration:
	 * master.key is there (H.master), tls.key is not. */
	ck_assert_int_eq(run_creds(&out, NULL, check), 1);
	snprintf(missing, sizeof missing, "%s/tls.key", H.dir);
	ck_assert_msg(strstr(out, missing) != NULL,
	    "trystd -t without CREDENTIALS_DIRECTORY: %s", out);
	free(out);
	ck_assert_int_eq(run_creds(&plain, NULL, pub0), 0);
	ck_assert_int_eq(run_creds(&out, creds, pub), 0);
	ck_assert_str_eq(out, plain);
	free(out);
	ck_assert_int_eq(run_creds(&out, NULL, pub), 0);
	ck_assert_str_eq(out, plain);
	free(out);
	free(plain);
	/* A set CREDENTIALS_DIRECTORY is the only place looked at. */
	ck_assert_int_ne(run_creds(&out, "/nonexistent", pub), 0);
	ck_assert_msg(strstr(out, "/nonexistent/master.key") != NULL, "%s",
	    out);
	free(out);

	/* It serves with the master key and TLS key of the credentials;
	 * the bare metrics port is on 127.0.0.1 only. */
	h_proc_start(p, envp);
	h_proc_ready(p);
	h_healthz_wait(port, 200, 0);
	fd = tcp_connect("127.0.0.2", port);
	ck_assert_msg(fd == -1 && errno == ECONNREFUSED, "127.0.0.2:%d: %s",
	    port, fd == -1 ? strerror(errno) : "connected");
}
END_TEST

/* The stun_port of WELCOME on a connection to hostport. */
static uint16_t
welcome_stun(const char *hostport, const struct account *a)
{
	struct hc	*c = h_open_at(hostport);
	struct msg	 m;

	h_hello_raw(c, a->cred, CRED_LEN, a->sk, 0, &m);
	ck_assert_msg(m.type == MSG_WELCOME, "HELLO: %s",
	    proto_type_name(m.type));
	return (m.u.welcome.stun_port);
}

/* From a UDP socket bound to src, send n Binding requests to port at
 * once, then count the Binding success answers that come within 1 s. */
static int
stun_burst(const char *src, int port, int n)
{
	struct sockaddr_in	 sin;
	struct timeval		 tv = { 1, 0 };
	uint8_t			 req[20], ans[256];
	int			 fd, i, got = 0;
	ssize_t			 r;

	fd = socket(AF_INET, SOCK_DGRAM, 0);
	ck_assert_int_ne(fd, -1);
	memset(&sin, 0, sizeof sin);
	sin.sin_family = AF_INET;
	inet_pton(AF_INET, src, &sin.sin_addr);
	ck_assert_int_eq(bind(fd, (struct sockaddr *)&sin, sizeof sin), 0);
	setsockopt(fd, SOL_SOCKET, SO_RCVTIMEO, &tv, sizeof tv);
	inet_pton(AF_INET, "127.0.0.1", &sin.sin_addr);
	sin.sin_port = htons((uint16_t)port);
	memcpy(req, "\x00\x01\x00\x00\x21\x12\xa4\x42", 8);
	for (i = 0; i < n; i++) {
		memset(req + 8, i, 12);		/* transaction ID */
		ck_assert_int_eq(sendto(fd, req, sizeof req, 0,
		    (struct sockaddr *)&sin, sizeof sin), (ssize_t)sizeof req);
	}
	while ((r = recv(fd, ans, sizeof ans, 0)) > 0)
		got += r >= 20 && ans[0] == 0x01 && ans[1] == 0x01;
	close(fd);
	return (got);
}

START_TEST(test_stun_port)
{
	struct hproc	*p = h_proc_new("stun");
	struct account	 a;
	char		 extra[96];
	int		 port = h_proc_port(SOCK_DGRAM), n;
	int		 mport = h_proc_port(SOCK_STREAM);
	long long	 dropped;

	snprintf(extra, sizeof extra, "stun_listen = 127.0.0.1:%d\n"
	    "metrics_listen = %d\n", port, mport);
	h_proc_conf(p, NULL, NULL, NULL, NULL, extra);
	h_proc_start(p, NULL);
	h_proc_ready(p);
	h_register(N_STUN, &a);
	ck_assert_uint_eq(welcome_stun(p->hostport, &a), port);
	/* The first trystd has no stun_listen. */
	ck_assert_uint_eq(welcome_stun(H.hostport, &a), 0);
	/* A burst from one address: its bucket (40, then 20 a second)
	 * answers some and drops the rest, so a spoofed victim gets no
	 * flood; another address has a bucket of its own. */
	n = stun_burst("127.0.0.1", port, 200);
	ck_assert_msg(n >= 40 && n <= 70, "%d answers to 200 requests", n);
	ck_assert_int_eq(stun_burst("127.0.0.2", port, 30), 30);
	ck_assert_int_eq(h_metric_now(mport, "tryst_stun_requests_total"),
	    n + 30);
	/* The dropped ones are counted (all that reached the socket). */
	dropped = h_metric_now(mport,
	    "tryst_rate_limited_total{kind=\"stun\"}");
	ck_assert_msg(dropped >= 1 && dropped <= 200 - n, "%lld dropped of "
	    "%d", dropped, 200 - n);
}
END_TEST

/* trystd raises its soft descriptor limit to the hard one and says when
 * max_connections does not fit in it (LimitNOFILE= is too low). */
START_TEST(test_nofile)
{
	struct hproc	*p = h_proc_new("nofile");
	char		*out = NULL;

	h_proc_conf(p, NULL, NULL, NULL, NULL, "max_connections = 1000\n");
	h_run(&out, "prlimit --nofile=100:512 timeout -s INT 2 "
	    "\"$TRYSTD\" -c '%s' 2>&1", p->conf);
	ck_assert_msg(strstr(out, "max_connections = 1000 needs about 1064 "
	    "file descriptors, but the limit is 512") != NULL, "%s", out);
	free(out);
	h_proc_conf(p, NULL, NULL, NULL, NULL, "max_connections = 400\n");
	h_run(&out, "prlimit --nofile=100:512 timeout -s INT 2 "
	    "\"$TRYSTD\" -c '%s' 2>&1", p->conf);
	ck_assert_msg(strstr(out, "listening on") != NULL &&
	    strstr(out, "file descriptors") == NULL, "%s", out);
	free(out);
}
END_TEST


/* credential:NAME, the STUN port, /metrics, and last (Redis stops)
 * /healthz. */
TCase *
integ_ops_http_tcase(void)
{
	TCase	*tc = tcase_create("ops-http");

	tcase_add_checked_fixture(tc, NULL, h_proc_teardown);
	tcase_add_test(tc, test_credentials);
	tcase_add_test(tc, test_stun_port);
	tcase_add_test(tc, test_metrics);
	tcase_add_test(tc, test_healthz);
	tcase_add_test(tc, test_relay_rate);
	tcase_add_test(tc, test_relay_node_rate);
	tcase_add_test(tc, test_relay_node_rate_reload);
	tcase_add_test(tc, test_nofile);
	return (tc);
}
