/*
 * p2p.c -- a call's paths for the CLI (PROTOCOL.md §6.2): candidates
 * gathered over an online connection (p2p-cands.c), the race that brings
 * the session up (race.c) polled together with the control connection;
 * the mapping of P on the home router is offered by p2p-cands.c.
 */
#include <sys/types.h>
#include <sys/socket.h>

#include <netinet/in.h>
#include <arpa/inet.h>

#include <err.h>
#include <errno.h>
#include <ifaddrs.h>
#include <net/if.h>
#include <poll.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "client.h"

/* Gather for a call over the online connection o. */
int
p2p_setup(struct p2p *p, struct online *o, int direct, char **cause)
{
	return (p2p_gather(p, tconn_fd(o->t), tconn_hostport(o->t), o->port,
	    &o->srflx, o->stun_port, direct, cause));
}

/* 1 if the call ended or the control connection went while connecting;
 * says which. */
static int
call_over(struct online *o)
{
	if (o->ended) {
		warnx("the call ended before the session was up");
		return (1);
	}
	if (o->gone) {
		online_say_gone(o);
		return (1);
	}
	return (0);
}

/* Run a race to its end, polling it with the control connection (whose
 * messages online_pump handles meanwhile). 0 with s up, or -1. */
static int
race_run(struct race *r, struct online *o, struct session *s)
{
	struct pollfd	 pfd[64];
	struct nconn	*relay;
	int64_t		 left;
	int		 n, fd, ms;

	while (race_step(r, tryst_now_ms()) == RACE_RUNNING) {
		if (call_over(o))
			return (-1);
		pfd[0].fd = tconn_fd(o->t);
		pfd[0].events = POLLIN;
		n = 1 + race_fds(r, pfd + 1, 63);
		left = race_deadline(r) - tryst_now_ms();
		ms = left < 0 ? 0 : left > P2P_RETRY_MS ? P2P_RETRY_MS :
		    (int)left;
		if (ms > online_wait_ms(o))
			ms = online_wait_ms(o);
		poll(pfd, (nfds_t)n, ms);
		online_pump(o);
	}
	if (race_take(r, s, &fd, &relay, s->path.desc,
	    sizeof s->path.desc) != 0) {
		if (!call_over(o))
			warnx("%s", race_error(r));
		return (-1);
	}
	s->path.fd = fd;
	s->path.relay = relay != NULL ? tconn_adopt(relay) : NULL;
	return (0);
}

/* Bring the session up as caller (initiator) or callee. */
static int
p2p_race(struct p2p *p, struct online *o, const struct hsinfo *hi,
    const struct cand *peer, int npeer, const uint8_t token[16],
    int relay_only, int initiator, struct session *s)
{
	struct race_cfg	 cfg;
	struct race	*r;
	char		*cause = NULL;
	int		 rc;

	memset(&cfg, 0, sizeof cfg);
	cfg.initiator = initiator;
	cfg.hi = hi;
	cfg.p = p;
	cfg.relay_only = relay_only;
	memcpy(cfg.relay_token, token, 16);
	memcpy(cfg.sign_pk, o->ctx->sign_pk, 32);
	if (online_relay_at(o, cfg.relay_at, sizeof cfg.relay_at,
	    &cause) != 0) {
		warnx("relay: %s", cause);
		free(cause);
		cfg.relay_at[0] = '\0';
	}
	r = race_new(&cfg, peer, npeer, tryst_now_ms());
	rc = race_run(r, o, s);
	race_free(r);
	return (rc);
}

/* Bring the session up as the caller. */
int
p2p_call(struct p2p *p, struct online *o, const struct hsinfo *hi,
    const struct cand *peer, int npeer, const uint8_t token[16],
    int relay_only, struct session *s)
{
	return (p2p_race(p, o, hi, peer, npeer, token, relay_only, 1, s));
}

/* Bring the session up as the callee. */
int
p2p_answer(struct p2p *p, struct online *o, const struct hsinfo *hi,
    const struct cand *peer, int npeer, const uint8_t token[16],
    struct session *s)
{
	return (p2p_race(p, o, hi, peer, npeer, token, 0, 0, s));
}
