/*
 * fuzz-server.c -- the whole server under a fuzzer: whole programs of
 * frames over several client connections, through the real dispatch,
 * handlers, call book, relay and connection state machine, with the
 * store (store-mem.c), deliveries and workers (server-world.c) answered
 * in memory and no TLS or sockets: each client is one end of a
 * bufferevent_pair whose other end conn_adopt makes a connection.
 *
 * The input is a program (fuzz-server.h): open, close or drop clients,
 * send raw bytes or messages built from the input, or messages a real
 * client would send (a HELLO signed for the connection's CHALLENGE as one
 * of a few accounts, CONNECT to one of them, ACCEPT, DECLINE and END of
 * the sessions a client was told of, RELAY_JOIN with the tokens it was
 * given, relayed bytes), run the loop, move the clock and fire what is
 * due, take storage down and up, hold its answers back, reload limits.
 * After every operation and every pass of the loop the invariants of
 * server-check.c are checked, and every frame the server sends must
 * decode; at the end every client closes and, once the clock has moved
 * on, nothing may remain: no connection, call or presence entry.
 *
 * Limits are set far below the minimums of trystd.conf (a relay quota of
 * a few hundred bytes, an output cap of a few kilobytes) so that a few
 * bytes of input reach them. Randomness is a fixed stream per input
 * (sessions, nonces, table keys) and the clock is moved to a fixed time
 * before each step, so that an input replays the same way.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "fuzz.h"
#include "fuzz-server.h"
#include "server.h"

#define BASE_S		(1749945600ULL - 60)	/* 23:59:00 UTC */
#define CREATED		(BASE_S - 86400)
#define MAX_PASSES	256

struct account	 accts[FS_ACCOUNTS];
struct fuzz	 fz;
uint8_t		 fs_filler[FS_FILLER];
static uint64_t	 rng_state;

/* ---- a fixed random stream (libsodium's randombytes) ------------------- */

/* splitmix64. */
static uint64_t
rng_next(void)
{
	uint64_t	 z = (rng_state += 0x9e3779b97f4a7c15ULL);

	z = (z ^ (z >> 30)) * 0xbf58476d1ce4e5b9ULL;
	z = (z ^ (z >> 27)) * 0x94d049bb133111ebULL;
	return (z ^ (z >> 31));
}

/* The name libsodium reports. */
static const char *
rng_name(void)
{
	return ("fuzz-server");
}

/* 32 bits of the stream. */
static uint32_t
rng_random(void)
{
	return ((uint32_t)rng_next());
}

/* len bytes of the stream. */
static void
rng_buf(void *buf, size_t len)
{
	uint8_t		*p = buf;
	uint64_t	 v;
	size_t		 n;

	while (len > 0) {
		v = rng_next();
		n = len < sizeof v ? len : sizeof v;
		memcpy(p, &v, n);
		p += n;
		len -= n;
	}
}

static randombytes_implementation rng = {
	.implementation_name = rng_name,
	.random = rng_random,
	.buf = rng_buf,
};

/* ---- set-up ------------------------------------------------------------- */

/* The accounts, once: IDs of their numbers, keys, credentials. */
static void
init_once(void)
{
	static int		 done;
	const struct keys	*k;
	struct account		*a;
	uint8_t			 seed[32];
	int			 i;

	if (done)
		return;
	done = 1;
	randombytes_set_implementation(&rng);
	if (sodium_init() < 0)
		fatalx("sodium_init");
	world_watch_errors();
	if (getenv("FUZZ_SERVER_DEBUG") != NULL)	/* follow one input */
		log_set_level(LOG_DEBUG);
	k = fuzz_keys(0);
	memset(fs_filler, 'r', FS_FILLER);
	for (i = 0; i < FS_ACCOUNTS; i++) {
		a = &accts[i];
		snprintf(a->number, sizeof a->number, "+1555000000%d", i);
		if (keys_number_id(k, a->number, a->id) != 0)
			fatalx("keys_number_id");
		memset(seed, FUZZ_IDENTITY_SEED + i, sizeof seed);
		crypto_sign_seed_keypair(a->pk, a->sk, seed);
		/* The last one's credential is due for renewal. */
		cred_make(a->cred, k, a->id, a->pk, CREATED, BASE_S +
		    (i == FS_ACCOUNTS - 1 ? 5 : 25) * 86400ULL);
		cred_make(a->stale, k, a->id, a->pk, CREATED - 1, BASE_S +
		    25 * 86400ULL);
	}
}

/* Move the clock to fz.vms (outside the loop it reads the wall clock). */
static void
align(void)
{
	clock_shift_add((int64_t)fz.vms - (int64_t)server_now_ms());
}

/* Limits low enough that a few bytes of input reach them. */
static void
low_limits(struct settings *s)
{
	s->max_pending_calls = 2;
	s->max_sessions = 2;
	s->call_timeout_s = 5;
	s->relay_session_bytes = 512;
	/* Below the quota: sessions end on it and later joins are refused;
	 * every join waits for the store. */
	s->relay_account_daily_bytes = 384;
	s->relay_buffer_bytes = 256;
	s->max_output_bytes = 2048;
	s->max_offer_bytes = 256;
	s->max_batch = 32;
	s->discovery_bucket = 40;
	s->discovery_refill_per_day = 10;
	s->lookups_per_minute = 40;
	s->connects_per_minute = 8;
	s->max_connections_per_account = 2;
	s->max_connections_per_ip = 3;
	s->max_deliveries = 2;
	s->code_requests_per_hour = 3;
	s->code_attempts = 3;
	s->code_failures_per_day = 4;
	s->codes_per_hour_per_ip = 10;
	s->anonymous_lifetime_s = 10;
	s->idle_timeout_s = 30;
	s->handshake_timeout_s = 10;
}

/* A server as trystd's main makes it, with the world in memory and the
 * accounts in its store. */
static void
start(const uint8_t *data, size_t size)
{
	struct server	*srv;
	char		*cause = NULL;
	int		 i;

	memset(&fz, 0, sizeof fz);
	fz.p = data;
	fz.left = size;
	fz.vms = BASE_S * 1000 + 500;
	rng_state = 0x5eed;
	srv = fz.srv = xcalloc(1, sizeof *srv);
	srv->spare_fd = -1;
	conf_defaults(settings_table, &srv->set);
	low_limits(&srv->set);
	fz.lim.max_pending = srv->set.max_pending_calls;
	fz.lim.max_sessions = srv->set.max_sessions;
	fz.lim.max_per_account = srv->set.max_connections_per_account;
	if ((srv->base = event_base_new()) == NULL)
		fatalx("event_base_new");
	if (clock_init(srv->base, &cause) != 0)
		fatalx("%s", cause);
	align();
	TAILQ_INIT(&srv->conns);
	TAILQ_INIT(&srv->waiting);
	TAILQ_INIT(&srv->handshaking);
	srv->keys = (struct keys *)fuzz_keys(0);
	memset(srv->spki_hash, 0x5b, sizeof srv->spki_hash);
	srv->per_ip = table_new(16);
	srv->codes_ip = table_new(16);
	srv->presence = table_new(ID_LEN);
	srv->deliver = deliver_new(srv);
	srv->workers = workers_new(srv, 2);
	rendezvous_init(srv);
	if ((srv->store = store_new(srv, &cause)) == NULL)
		fatalx("%s", cause);
	for (i = 0; i < FS_ACCOUNTS; i++) {
		memcpy(fz.cred[i], accts[i].cred, CRED_LEN);
		store_mem_account(srv->store, accts[i].id, CREATED,
		    BASE_S - BASE_S % 86400 - 86400, BASE_S + 100 * 86400ULL);
	}
	for (i = 0; i < FS_SLOTS; i++)
		fz.cl[i].acct = fz.cl[i].reg_acct = -1;
}

/* The next byte of the program; 0 past its end. */
uint8_t
fs_get(void)
{
	if (fz.left == 0)
		return (0);
	fz.left--;
	return (*fz.p++);
}

/* ---- the loop and the clock --------------------------------------------- */

/* One pass of the loop, then what the clients read, then the checks. */
void
fs_pass(void)
{
	align();
	event_base_loop(fz.srv->base, EVLOOP_NONBLOCK);
	clients_read();
	server_check(fz.srv, &fz.lim);
}

/* Passes until two in a row leave nothing active. */
void
fs_settle(void)
{
	int	 i, quiet = 0;

	for (i = 0; i < MAX_PASSES && quiet < 2; i++) {
		fs_pass();
		if (event_base_get_num_events(fz.srv->base,
		    EVENT_BASE_COUNT_ACTIVE) == 0)
			quiet++;
		else
			quiet = 0;
	}
}

/* A timer that the clock moving by secs makes due fires (on the next
 * pass); one that is not yet due is moved as much closer. The loop's
 * timers run on real time, which hardly moves while a program runs. */
static void
fire(struct event *ev, uint64_t secs, const struct timeval *now)
{
	struct timeval	 at, left = { 0, 0 }, step = { (time_t)secs, 0 };

	if (ev == NULL || !evtimer_pending(ev, &at))
		return;
	if (timercmp(&at, now, >))
		timersub(&at, now, &left);
	if (timercmp(&left, &step, >)) {
		timersub(&left, &step, &left);
		evtimer_add(ev, &left);
		return;
	}
	event_del(ev);
	event_active(ev, EV_TIMEOUT, 1);
}

/* Move the timers of a list's connections (a relay's refill once). */
static void
fire_list(struct connlist *list, uint64_t secs, const struct timeval *now)
{
	struct conn	*c;

	TAILQ_FOREACH(c, list, entry) {
		fire(c->timer, secs, now);
		if (c->call != NULL && c->relay_side == 0)
			fire(c->call->refill, secs, now);
	}
}

/* The clock moves by secs: due timers fire, and what trystd does each
 * second and each minute runs. */
void
fs_advance(uint64_t secs)
{
	struct server	*srv = fz.srv;
	struct timeval	 now;

	fz.vms += secs * 1000;
	align();
	evutil_gettimeofday(&now, NULL);
	fire_list(&srv->waiting, secs, &now);
	fire_list(&srv->handshaking, secs, &now);
	fire_list(&srv->conns, secs, &now);
	rendezvous_tick(srv);
	conn_tick(srv);
}

/* ---- the end ---------------------------------------------------------- */

/* Drop a table entry and free its value. */
static void
free_value(const uint8_t *key, void *value, void *arg)
{
	table_del(arg, key);
	free(value);
}

/* Every client closes; once what was held is answered and the clock has
 * moved past every timeout, nothing may be left. Then free it all. */
static void
finish(void)
{
	struct server	*srv = fz.srv;
	int		 i;

	for (i = 0; i < FS_SLOTS; i++)
		client_close(&fz.cl[i], 1);
	store_mem_hold(srv->store, 0);
	deliver_mem_hold(srv->deliver, 0);
	fs_settle();
	for (i = 0; i < 4 && srv->nconns > 0; i++) {
		fs_advance(3600);
		fs_settle();
	}
	if (srv->nconns != 0 || calls_count(srv->calls) != 0 ||
	    table_count(srv->presence) != 0)
		fs_wrong("a connection, call or presence outlived the "
		    "clients");
	if (store_mem_pending(srv->store) != 0 ||
	    deliver_mem_pending(srv->deliver) != 0 ||
	    workers_mem_pending(srv->workers) != 0)
		fs_wrong("work left with no connection to answer");
	rendezvous_free(srv);
	discovery_free(srv);
	deliver_free(srv->deliver);
	workers_free(srv->workers);
	store_free(srv->store);
	table_each(srv->codes_ip, free_value, srv->codes_ip);
	table_free(srv->codes_ip);
	table_free(srv->per_ip);
	table_free(srv->presence);
	event_base_free(srv->base);
	settings_free(&srv->set);
	free(srv);
	fz.srv = NULL;
}

/* Run one program. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	init_once();
	start(data, size);
	while (fz.left > 0) {
		align();
		fs_op(fs_get());
		clients_read();
		server_check(fz.srv, &fz.lim);
	}
	finish();
	return (0);
}
