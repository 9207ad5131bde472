/*
 * server-ops.c -- the operations of a whole-server fuzz program
 * (fuzz-server.h): clients connect, send raw bytes, messages built from
 * the program, or what a real client would send at that point; the loop
 * runs, the clock moves, storage and deliveries fail or are held back,
 * and limits are reloaded.
 */
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <string.h>

#include <sodium.h>

#include "fuzz-server.h"
#include "server.h"

static const uint64_t steps_s[] = { 1, 2, 5, 10, 30, 60, 300, 3600, 21600,
	86400 };

/* The address of a client: two of one IPv4 /24, IPv6, IPv4-mapped. */
static socklen_t
address(uint8_t which, int port, struct sockaddr_storage *ss)
{
	struct sockaddr_in	*s4 = (struct sockaddr_in *)ss;
	struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)ss;
	static const char *const v4[] = { "192.0.2.1", "192.0.2.2" };
	static const char *const v6[] = { "2001:db8::1",
	    "::ffff:198.51.100.7" };

	memset(ss, 0, sizeof *ss);
	if (which % 4 < 2) {
		s4->sin_family = AF_INET;
		s4->sin_port = htons((uint16_t)port);
		inet_pton(AF_INET, v4[which % 2], &s4->sin_addr);
		return (sizeof *s4);
	}
	s6->sin6_family = AF_INET6;
	s6->sin6_port = htons((uint16_t)port);
	inet_pton(AF_INET6, v6[which % 2], &s6->sin6_addr);
	return (sizeof *s6);
}

/* FS_OPEN: a new connection, counted per address as accept.c does. */
static void
op_open(void)
{
	struct server		*srv = fz.srv;
	int			 i = fs_get() % FS_SLOTS;
	struct client		*cl = &fz.cl[i];
	struct bufferevent	*pair[2];
	struct sockaddr_storage	 ss;
	socklen_t		 len = address(fs_get(), 40000 + i, &ss);
	uint8_t			 key[16];
	uintptr_t		 n;

	client_close(cl, 1);
	rl_addr_key((struct sockaddr *)&ss, key);
	n = (uintptr_t)table_get(srv->per_ip, key);
	if ((long long)n >= srv->set.max_connections_per_ip)
		return;		/* accept.c closes it at once */
	table_set(srv->per_ip, key, (void *)(n + 1));
	if (bufferevent_pair_new(srv->base, BEV_OPT_DEFER_CALLBACKS,
	    pair) != 0)
		fatalx("bufferevent_pair_new");
	cl->bev = pair[1];
	bufferevent_enable(cl->bev, EV_READ | EV_WRITE);
	conn_adopt(srv, pair[0], (struct sockaddr *)&ss, len);
}

/* FS_RAW and FS_BULK: bytes of the program, or filler. */
static void
op_bytes(int bulk)
{
	struct client	*cl = client_slot();
	size_t		 n = fs_get();

	if (bulk) {
		client_send(cl, fs_filler, n * 32);
		return;
	}
	n = n < fz.left ? n : fz.left;
	client_send(cl, fz.p, n);
	fz.p += n;
	fz.left -= n;
}

/* A vbytes field of at most max bytes from the program. */
static struct vb
take_vb(size_t max)
{
	struct vb	 v;
	size_t		 n = fs_get();

	n = n < max ? n : max;
	n = n < fz.left ? n : fz.left;
	v.p = fz.p;
	v.len = (uint16_t)n;
	fz.p += n;
	fz.left -= n;
	return (v);
}

/* Fill a fixed field from the program (zeros past its end). */
static void
take(void *dst, size_t len)
{
	uint8_t	*p = dst;
	size_t	 i;

	for (i = 0; i < len; i++)
		p[i] = fs_get();
}

/* FS_MSG: a message of a client type, fields from the program. */
static void
op_msg(void)
{
	static const uint8_t types[] = { MSG_REGISTER_BEGIN,
	    MSG_REGISTER_FINISH, MSG_HELLO, MSG_OPRF_EVAL, MSG_LOOKUP,
	    MSG_CONNECT, MSG_ACCEPT, MSG_DECLINE, MSG_END, MSG_RELAY_JOIN,
	    MSG_DELETE_ACCOUNT, MSG_PING, MSG_PONG };
	static uint8_t	 batch[8 * 32];
	struct client	*cl = client_slot();
	struct msg	 m;

	memset(&m, 0, sizeof m);
	m.type = types[fs_get() % nitems(types)];
	switch (m.type) {
	case MSG_REGISTER_BEGIN:
		m.u.reg_begin.number = take_vb(PROTO_MAX_NUMBER);
		break;
	case MSG_REGISTER_FINISH:
		m.u.reg_finish.token = take_vb(TOKEN_LEN + 8);
		m.u.reg_finish.code = take_vb(TOKEN_CODE + 2);
		take(m.u.reg_finish.identity_pk, 32);
		break;
	case MSG_HELLO:
		m.u.hello.credential = take_vb(CRED_LEN + 8);
		take(m.u.hello.signature, 64);
		m.u.hello.flags = fs_get();
		break;
	case MSG_OPRF_EVAL:
	case MSG_LOOKUP:
		m.u.oprf.count = fs_get() % 8 + 1;
		take(batch, 32 * (size_t)m.u.oprf.count);
		m.u.oprf.elements = batch;
		break;
	case MSG_CONNECT:
		m.u.connect.tag = fs_get();
		take(m.u.connect.target_id, ID_LEN);
		m.u.connect.offer = take_vb(PROTO_MAX_OFFER);
		break;
	case MSG_ACCEPT:
	case MSG_DECLINE:
	case MSG_END:
	case MSG_RELAY_JOIN:
		m.u.relay_join.session = client_seen_of(cl, fs_get())->session;
		m.u.relay_join.session ^= fs_get();
		take(m.u.relay_join.relay_token, 16);
		if (m.type == MSG_ACCEPT)
			m.u.accept.answer = take_vb(PROTO_MAX_OFFER);
		break;
	case MSG_PING:
	case MSG_PONG:
		m.u.ping.nonce = fs_get();
		break;
	}
	client_msg(cl, &m);
}

/* FS_HELLO: as an account, signed for the connection's CHALLENGE. */
static void
op_hello(void)
{
	struct client	*cl = client_slot();
	int		 a = fs_get() % FS_ACCOUNTS;
	uint8_t		 flags = fs_get();
	const uint8_t	*cred = flags & 2 ? accts[a].stale : fz.cred[a];
	struct msg	 m = { .type = MSG_HELLO };

	hello_sign(m.u.hello.signature, accts[a].sk, cl->nonce, cred);
	if (flags & 4)
		m.u.hello.signature[7] ^= 1;
	m.u.hello.credential.p = cred;
	m.u.hello.credential.len = CRED_LEN;
	m.u.hello.flags = flags & HELLO_PRESENCE;
	cl->acct = a;
	client_msg(cl, &m);
}

/* FS_REG_BEGIN: the number of an account. */
static void
op_reg_begin(void)
{
	struct client	*cl = client_slot();
	int		 a = fs_get() % FS_ACCOUNTS;
	struct msg	 m = { .type = MSG_REGISTER_BEGIN };

	cl->reg_acct = a;
	m.u.reg_begin.number.p = (const uint8_t *)accts[a].number;
	m.u.reg_begin.number.len = (uint16_t)strlen(accts[a].number);
	client_msg(cl, &m);
}

/* FS_REG_FINISH: the last token, the code delivered (or a wrong one). */
static void
op_reg_finish(void)
{
	struct client	*cl = client_slot();
	uint8_t		 wrong_code = fs_get();
	int		 a = cl->reg_acct >= 0 ? cl->reg_acct : 0;
	const char	*sent = deliver_mem_code(fz.srv->deliver,
	    accts[a].number);
	char		 code[TOKEN_CODE + 1];
	struct msg	 m = { .type = MSG_REGISTER_FINISH };

	snprintf(code, sizeof code, "%s", sent != NULL ? sent : "000000");
	if (wrong_code & 1)
		code[0] = code[0] == '9' ? '0' : (char)(code[0] + 1);
	m.u.reg_finish.token.p = cl->token;
	m.u.reg_finish.token.len = TOKEN_LEN;
	m.u.reg_finish.code.p = (const uint8_t *)code;
	m.u.reg_finish.code.len = (uint16_t)strlen(code);
	memcpy(m.u.reg_finish.identity_pk, accts[a].pk, 32);
	client_msg(cl, &m);
}

/* FS_CONNECT: call an account. */
static void
op_connect(void)
{
	struct client	*cl = client_slot();
	struct msg	 m = { .type = MSG_CONNECT };

	memcpy(m.u.connect.target_id, accts[fs_get() % FS_ACCOUNTS].id, ID_LEN);
	m.u.connect.tag = fs_get();
	m.u.connect.offer.p = fs_filler;
	m.u.connect.offer.len = (uint16_t)(fs_get() * 2);
	client_msg(cl, &m);
}

/* FS_ACCEPT, FS_DECLINE, FS_END: a session the client was told of. */
static void
op_session(uint8_t type)
{
	struct client	*cl = client_slot();
	const struct seen *s = client_seen_of(cl, fs_get());
	struct msg	 m = { .type = type };

	m.u.accept.session = s->session;	/* first in all three */
	if (type == MSG_ACCEPT) {
		m.u.accept.answer.p = fs_filler;
		m.u.accept.answer.len = (uint16_t)(fs_get() * 2);
	} else if (type == MSG_DECLINE)
		m.u.decline.reason = fs_get();
	client_msg(cl, &m);
}

/* FS_JOIN: RELAY_JOIN with a token another client was given, and bytes
 * pipelined after it. */
static void
op_join(void)
{
	struct client	*cl = client_slot(), *from = client_slot();
	const struct seen *s = client_seen_of(from, fs_get());
	size_t		 extra = (size_t)fs_get() * 32;
	struct msg	 m = { .type = MSG_RELAY_JOIN };

	m.u.relay_join.session = s->session;
	memcpy(m.u.relay_join.relay_token, s->relay_token, 16);
	client_msg(cl, &m);
	client_send(cl, fs_filler, extra);
}

/* FS_OPRF: valid elements (more than 16 go to the workers). */
static void
op_oprf(void)
{
	static uint8_t	 elements[24 * 32];
	struct client	*cl = client_slot();
	struct msg	 m = { .type = MSG_OPRF_EVAL };
	uint8_t		 h[64];
	int		 i;

	m.u.oprf.count = fs_get() % 24 + 1;
	for (i = 0; i < m.u.oprf.count; i++) {
		fz.points++;
		crypto_hash_sha512(h, (const uint8_t *)&fz.points,
		    sizeof fz.points);
		crypto_core_ristretto255_from_hash(elements + 32 * i, h);
	}
	m.u.oprf.elements = elements;
	client_msg(cl, &m);
}

/* FS_LOOKUP: the accounts' IDs, then IDs of no one. */
static void
op_lookup(void)
{
	static uint8_t	 ids[8 * ID_LEN];
	struct client	*cl = client_slot();
	struct msg	 m = { .type = MSG_LOOKUP };
	int		 i;

	m.u.lookup.count = fs_get() % 8 + 1;
	memset(ids, 0, sizeof ids);
	for (i = 0; i < m.u.lookup.count; i++) {
		if (i < FS_ACCOUNTS)
			memcpy(ids + ID_LEN * i, accts[i].id, ID_LEN);
		else
			ids[ID_LEN * i] = (uint8_t)i;
	}
	m.u.lookup.ids = ids;
	client_msg(cl, &m);
}

/* FS_DELETE and FS_PING. */
static void
op_plain(uint8_t type)
{
	struct client	*cl = client_slot();
	struct msg	 m = { .type = type };

	m.u.ping.nonce = fs_get();
	client_msg(cl, &m);
}

/* FS_STORE and FS_DELIVER. */
static void
op_world(int store)
{
	struct store	*st = fz.srv->store;
	struct deliver	*d = fz.srv->deliver;
	uint8_t		 what = fs_get();

	if (!store) {
		what %= FS_DELIVER_NWHAT;
		if (what == FS_DELIVER_FAIL || what == FS_DELIVER_OK)
			deliver_mem_fail(d, what == FS_DELIVER_FAIL);
		else
			deliver_mem_hold(d, what == FS_DELIVER_HOLD);
		return;
	}
	switch (what % FS_STORE_NWHAT) {
	case FS_STORE_DOWN:
	case FS_STORE_UP:
		store_mem_down(st, what % FS_STORE_NWHAT == FS_STORE_DOWN);
		break;
	case FS_STORE_HOLD:
	case FS_STORE_RELEASE:
		store_mem_hold(st, what % FS_STORE_NWHAT == FS_STORE_HOLD);
		break;
	default:
		store_mem_step(st);
		break;
	}
}

/* FS_READING: the client stops reading (its server's output backs up)
 * or reads again. */
static void
op_reading(void)
{
	struct client	*cl = client_slot();
	uint8_t		 on = fs_get();

	if (cl->bev == NULL)
		return;
	if (on & 1)
		bufferevent_enable(cl->bev, EV_READ);
	else
		bufferevent_disable(cl->bev, EV_READ);
}

/* FS_SET: a reload changes one limit (as SIGHUP's apply_settings). */
static void
op_set(void)
{
	struct settings	*s = &fz.srv->set;
	uint8_t		 which = fs_get(), v = fs_get();

	switch (which % 10) {
	case 0:
		s->max_pending_calls = v % 4 + 1;
		break;
	case 1:
		s->max_sessions = v % 4 + 1;
		break;
	case 2:
		s->call_timeout_s = 5 + v % 30;
		break;
	case 3:
		s->relay_session_bytes = 64 + (long long)v * 8;
		/* The daily budget off (joins at once), or low. */
		s->relay_account_daily_bytes = v % 2 ? 0 :
		    256 + (long long)v * 8;
		break;
	case 4:
		s->relay_rate_bps = v % 2 ? 0 : 64 + (long long)v * 4;
		break;
	case 5:
		s->relay_buffer_bytes = 64 + (long long)v * 4;
		break;
	case 6:
		s->max_connections_per_account = v % 3 + 1;
		break;
	case 7:
		s->connects_per_minute = v % 8 + 1;
		break;
	case 8:
		s->idle_timeout_s = 30 + v;
		break;
	default:
		s->max_output_bytes = 1024 + (long long)v * 16;
		break;
	}
	if (s->max_pending_calls > fz.lim.max_pending)
		fz.lim.max_pending = s->max_pending_calls;
	if (s->max_sessions > fz.lim.max_sessions)
		fz.lim.max_sessions = s->max_sessions;
	if (s->max_connections_per_account > fz.lim.max_per_account)
		fz.lim.max_per_account = s->max_connections_per_account;
}

/* Run one operation. */
void
fs_op(uint8_t code)
{
	struct client	*cl;
	uint8_t		 n;

	switch (code % FS_NOPS) {
	case FS_OPEN:
		op_open();
		break;
	case FS_CLOSE:
	case FS_VANISH:
		cl = client_slot();
		client_close(cl, code % FS_NOPS == FS_CLOSE);
		break;
	case FS_RAW:
	case FS_BULK:
		op_bytes(code % FS_NOPS == FS_BULK);
		break;
	case FS_MSG:
		op_msg();
		break;
	case FS_HELLO:
		op_hello();
		break;
	case FS_REG_BEGIN:
		op_reg_begin();
		break;
	case FS_REG_FINISH:
		op_reg_finish();
		break;
	case FS_CONNECT:
		op_connect();
		break;
	case FS_ACCEPT:
		op_session(MSG_ACCEPT);
		break;
	case FS_DECLINE:
		op_session(MSG_DECLINE);
		break;
	case FS_END:
		op_session(MSG_END);
		break;
	case FS_JOIN:
		op_join();
		break;
	case FS_OPRF:
		op_oprf();
		break;
	case FS_LOOKUP:
		op_lookup();
		break;
	case FS_DELETE:
		op_plain(MSG_DELETE_ACCOUNT);
		break;
	case FS_PING:
		op_plain(MSG_PING);
		break;
	case FS_LOOP:
		for (n = fs_get() % 8 + 1; n > 0; n--)
			fs_pass();
		break;
	case FS_SETTLE:
		fs_settle();
		break;
	case FS_ADVANCE:
		fs_advance(steps_s[fs_get() % nitems(steps_s)]);
		break;
	case FS_STORE:
	case FS_DELIVER:
		op_world(code % FS_NOPS == FS_STORE);
		break;
	case FS_READING:
		op_reading();
		break;
	case FS_SET:
		op_set();
		break;
	}
}
