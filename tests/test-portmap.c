/*
 * test-portmap.c -- the port mapping of client/portmap.c without a
 * router: the renewal schedule, which outside addresses are offered, what
 * follows a UPnP error, the LOCATION of an SSDP answer, and the
 * bookkeeping over two fake protocols and a fake clock (that the search
 * goes out once, before any protocol is asked, which protocol holds the
 * mapping, when it is renewed, that it is deleted at the end), and
 * portmap_step, which asks a protocol only once it has answered and
 * meanwhile hands its loop descriptors and a deadline.
 */
#include <arpa/inet.h>

#include <string.h>

#include <check.h>

#include "client.h"
#include "unit.h"

/* A protocol the test drives. */
struct fake {
	int		 fail;		/* map answers -1 */
	const char	*addr;		/* the outside address it gives */
	uint16_t	 give_port;	/* 0: the port asked for */
	uint32_t	 granted;
	int		 maps, unmaps, frees;
	uint16_t	 want, unmapped;
	int		 starts;
	int		 started_at;	/* step of the last start */
	int		 mapped_at;	/* step of the last map */
	int		 answer;	/* answered: 1, 0 (not yet), -1 */
	int		 asks;		/* calls to answered */
	int		 fd;		/* its search's, for fds */
	int64_t		 until;		/* its deadline */
};

static int64_t	 clock_ms;
static int	 step;		/* counts the calls into the fakes */

static int64_t
fake_now(void)
{
	return (clock_ms);
}

static int
fake_map(void *arg, uint16_t port, uint16_t want, uint32_t life_s,
    int budget_ms, struct cand *ext, uint32_t *granted_s)
{
	struct fake	*f = arg;

	ck_assert_uint_eq(port, 40000);
	ck_assert_uint_eq(life_s, PORTMAP_LIFETIME_S);
	ck_assert_int_eq(budget_ms, PORTMAP_BUDGET_MS);
	f->maps++;
	f->mapped_at = ++step;
	f->want = want;
	if (f->fail)
		return (-1);
	ext->family = 4;
	ck_assert_int_eq(inet_pton(AF_INET, f->addr, ext->addr), 1);
	ext->port = f->give_port != 0 ? f->give_port : want;
	*granted_s = f->granted;
	return (0);
}

static void
fake_unmap(void *arg, uint16_t port, uint16_t ext_port, int budget_ms)
{
	struct fake	*f = arg;

	ck_assert_uint_eq(port, 40000);
	f->unmaps++;
	f->unmapped = ext_port;
}

static void
fake_free(void *arg)
{
	((struct fake *)arg)->frees++;
}

static void
fake_start(void *arg, int budget_ms)
{
	struct fake	*f = arg;

	ck_assert_int_eq(budget_ms, PORTMAP_BUDGET_MS);
	f->starts++;
	f->started_at = ++step;
}

static int
fake_answered(void *arg)
{
	struct fake	*f = arg;

	f->asks++;
	return (f->answer);
}

static int
fake_fds(void *arg, struct pollfd *pfd, int max)
{
	struct fake	*f = arg;

	ck_assert_int_ge(max, 1);
	pfd->fd = f->fd;
	pfd->events = POLLIN;
	return (1);
}

static int64_t
fake_deadline(void *arg)
{
	return (((struct fake *)arg)->until);
}

/* pm over the fakes a (asked first) and b, the clock at 1000 ms. */
static void
fakes(struct portmap *pm, struct fake *a, struct fake *b)
{
	memset(pm, 0, sizeof *pm);
	clock_ms = 1000;
	pm->now = fake_now;
	step = 0;
	pm->proto[0] = (struct portmap_proto){ .name = "a", .map = fake_map,
	    .unmap = fake_unmap, .free = fake_free, .start = fake_start,
	    .arg = a };
	pm->proto[1] = (struct portmap_proto){ .name = "b", .map = fake_map,
	    .unmap = fake_unmap, .free = fake_free, .start = fake_start,
	    .arg = b };
	pm->nproto = 2;
}

/* As fakes, with the hooks of portmap_step as well. */
static void
fakes_nb(struct portmap *pm, struct fake *a, struct fake *b)
{
	int	 i;

	fakes(pm, a, b);
	for (i = 0; i < 2; i++) {
		pm->proto[i].answered = fake_answered;
		pm->proto[i].fds = fake_fds;
		pm->proto[i].deadline = fake_deadline;
	}
}

/* text:port as an IPv4 candidate. */
static struct cand
cand4(const char *text, uint16_t port)
{
	struct cand	 c;

	memset(&c, 0, sizeof c);
	c.family = 4;
	c.port = port;
	ck_assert_int_eq(inet_pton(AF_INET, text, c.addr), 1);
	return (c);
}

/* Half the time left, never sooner than a second, never for a
 * permanent mapping. */
START_TEST(test_renew_at)
{
	ck_assert_int_eq(portmap_renew_at(5000, 0), 0);
	ck_assert_int_eq(portmap_renew_at(1000, 1000 + 3600000),
	    1000 + 1800000);
	ck_assert_int_eq(portmap_renew_at(1000, 1000 + 4000), 3000);
	ck_assert_int_eq(portmap_renew_at(1000, 1000 + 1500), 2000);
	ck_assert_int_eq(portmap_renew_at(9000, 8000), 10000);
}
END_TEST

/* Only a global outside address with a port is offered. */
START_TEST(test_ext_usable)
{
	struct cand	 c;

	c = cand4("203.0.113.11", 40000);
	ck_assert_int_eq(portmap_ext_usable(&c), 1);
	c = cand4("8.8.8.8", 1);
	ck_assert_int_eq(portmap_ext_usable(&c), 1);
	c = cand4("203.0.113.11", 0);
	ck_assert_int_eq(portmap_ext_usable(&c), 0);
	c = cand4("192.168.1.254", 40000);	/* a NAT above the router */
	ck_assert_int_eq(portmap_ext_usable(&c), 0);
	c = cand4("100.64.0.9", 40000);		/* carrier NAT */
	ck_assert_int_eq(portmap_ext_usable(&c), 0);
	c = cand4("0.0.0.0", 40000);		/* router not connected */
	ck_assert_int_eq(portmap_ext_usable(&c), 0);
	c = cand4("127.0.0.1", 40000);
	ck_assert_int_eq(portmap_ext_usable(&c), 0);
	c.family = 6;
	ck_assert_int_eq(portmap_ext_usable(&c), 0);
}
END_TEST

/* 725 asks for a permanent lease, 718 for any port, each once. */
START_TEST(test_upnp_next)
{
	ck_assert_int_eq(portmap_upnp_next(725, 0, 0),
	    PORTMAP_UPNP_PERMANENT);
	ck_assert_int_eq(portmap_upnp_next(725, 1, 0), PORTMAP_UPNP_GIVE_UP);
	ck_assert_int_eq(portmap_upnp_next(718, 0, 0),
	    PORTMAP_UPNP_ANY_PORT);
	ck_assert_int_eq(portmap_upnp_next(718, 1, 0),
	    PORTMAP_UPNP_ANY_PORT);
	ck_assert_int_eq(portmap_upnp_next(718, 0, 1), PORTMAP_UPNP_GIVE_UP);
	ck_assert_int_eq(portmap_upnp_next(606, 0, 0), PORTMAP_UPNP_GIVE_UP);
	ck_assert_int_eq(portmap_upnp_next(-3, 0, 0), PORTMAP_UPNP_GIVE_UP);
}
END_TEST

/* The LOCATION of an answer, in any case, with or without a space; no
 * https, nothing too long, nothing without the header. */
START_TEST(test_ssdp_location)
{
	const char	*ok = "HTTP/1.1 200 OK\r\nCACHE-CONTROL: max-age=120\r\n"
	    "ST: urn:schemas-upnp-org:device:InternetGatewayDevice:1\r\n"
	    "LOCATION: http://198.18.2.1:5000/rootDesc.xml\r\n"
	    "SERVER: x\r\n\r\n";
	char		 out[64];

	ck_assert_int_eq(portmap_ssdp_location(ok, strlen(ok), out,
	    sizeof out), 0);
	ck_assert_str_eq(out, "http://198.18.2.1:5000/rootDesc.xml");
	ck_assert_int_eq(portmap_ssdp_location("HTTP/1.1 200 OK\r\n"
	    "location:http://10.0.0.1/d.xml", 47, out, sizeof out), 0);
	ck_assert_str_eq(out, "http://10.0.0.1/d.xml");
	ck_assert_int_eq(portmap_ssdp_location(ok, strlen(ok), out, 20), -1);
	ck_assert_int_eq(portmap_ssdp_location("HTTP/1.1 200 OK\r\n"
	    "LOCATION: https://10.0.0.1/d.xml\r\n", 51, out, sizeof out), -1);
	ck_assert_int_eq(portmap_ssdp_location("HTTP/1.1 200 OK\r\n"
	    "ST: x\r\n", 24, out, sizeof out), -1);
	/* A buffer cut before the header has none. */
	ck_assert_int_eq(portmap_ssdp_location(ok, 60, out, sizeof out), -1);
}
END_TEST

/* The first protocol that maps holds it; the second is asked only when
 * the first fails. */
START_TEST(test_open_order)
{
	struct portmap	 pm;
	struct fake	 a = { .addr = "203.0.113.11", .granted = 3600 };
	struct fake	 b = { .addr = "203.0.113.11", .granted = 600 };
	char		 s[INET_ADDRSTRLEN];

	fakes(&pm, &a, &b);
	ck_assert_int_eq(portmap_open(&pm, 40000), 0);
	ck_assert_ptr_eq(pm.held, &pm.proto[0]);
	ck_assert_int_eq(b.maps, 0);
	ck_assert_uint_eq(a.want, 40000);
	portmap_close(&pm);

	a = (struct fake){ .fail = 1 };
	b = (struct fake){ .addr = "203.0.113.12", .give_port = 51234,
	    .granted = 600 };
	fakes(&pm, &a, &b);
	ck_assert_int_eq(portmap_open(&pm, 40000), 0);
	ck_assert_ptr_eq(pm.held, &pm.proto[1]);
	ck_assert_int_eq(a.maps, 1);
	ck_assert_int_eq(pm.ext.kind, CAND_SRFLX);
	ck_assert_ptr_nonnull(inet_ntop(AF_INET, pm.ext.addr, s, sizeof s));
	ck_assert_str_eq(s, "203.0.113.12");
	ck_assert_uint_eq(pm.ext.port, 51234);
	ck_assert_int_eq(pm.renew_at, 1000 + 300000);
	portmap_close(&pm);
	ck_assert_int_eq(a.unmaps, 0);
	ck_assert_int_eq(b.unmaps, 1);
	ck_assert_uint_eq(b.unmapped, 51234);
	ck_assert_int_eq(a.frees + b.frees, 2);
}
END_TEST

/* A mapping to a private outside address is deleted at once and not
 * held; with no protocol left there is nothing to offer or delete. */
START_TEST(test_open_private)
{
	struct portmap	 pm;
	struct fake	 a = { .addr = "192.168.0.2", .granted = 3600 };
	struct fake	 b = { .fail = 1 };

	fakes(&pm, &a, &b);
	ck_assert_int_eq(portmap_open(&pm, 40000), -1);
	ck_assert_ptr_null(pm.held);
	ck_assert_int_eq(a.unmaps, 1);
	ck_assert_uint_eq(a.unmapped, 40000);
	ck_assert_int_eq(b.maps, 1);
	portmap_close(&pm);
	ck_assert_int_eq(a.unmaps + b.unmaps, 1);
	ck_assert_int_eq(a.frees + b.frees, 2);
}
END_TEST

/* Renewed at half its lifetime with the port given, not before; a
 * permanent mapping never. */
START_TEST(test_renew)
{
	struct portmap	 pm;
	struct fake	 a = { .addr = "203.0.113.11", .give_port = 50000,
			     .granted = 100 };
	struct fake	 b = { .fail = 1 };

	fakes(&pm, &a, &b);
	ck_assert_int_eq(portmap_open(&pm, 40000), 0);
	clock_ms = 1000 + 49999;
	portmap_tick(&pm);
	ck_assert_int_eq(a.maps, 1);
	clock_ms = 1000 + 50000;
	portmap_tick(&pm);
	ck_assert_int_eq(a.maps, 2);
	ck_assert_uint_eq(a.want, 50000);
	ck_assert_int_eq(pm.expires, 51000 + 100000);
	ck_assert_int_eq(pm.renew_at, 51000 + 50000);
	portmap_tick(&pm);
	ck_assert_int_eq(a.maps, 2);
	portmap_close(&pm);
	ck_assert_int_eq(a.unmaps, 1);

	a = (struct fake){ .addr = "203.0.113.11", .granted = 0 };
	fakes(&pm, &a, &b);
	ck_assert_int_eq(portmap_open(&pm, 40000), 0);
	ck_assert_int_eq(pm.renew_at, 0);
	clock_ms = 1000 + 86400000;
	portmap_tick(&pm);
	ck_assert_int_eq(a.maps, 1);
	portmap_close(&pm);
	ck_assert_int_eq(a.unmaps, 1);
}
END_TEST

/* A failed renewal is tried again at half the time left; once the
 * mapping has lapsed it is dropped, and not deleted at the end. */
START_TEST(test_renew_fails)
{
	struct portmap	 pm;
	struct fake	 a = { .addr = "203.0.113.11", .granted = 100 };
	struct fake	 b = { .fail = 1 };

	fakes(&pm, &a, &b);
	ck_assert_int_eq(portmap_open(&pm, 40000), 0);
	a.fail = 1;
	clock_ms = 51000;
	portmap_tick(&pm);
	ck_assert_int_eq(a.maps, 2);
	ck_assert_int_eq(pm.renew_at, 51000 + 25000);
	ck_assert_ptr_eq(pm.held, &pm.proto[0]);
	clock_ms = 101000;
	portmap_tick(&pm);
	ck_assert_int_eq(a.maps, 3);
	ck_assert_ptr_null(pm.held);
	portmap_close(&pm);
	ck_assert_int_eq(a.unmaps, 0);
	ck_assert_int_eq(b.maps, 0);	/* renewals stay with a */
}
END_TEST

/* portmap_start sends every search at once and only once: a later
 * portmap_open (the caller's, once P is known and the offer is built)
 * asks without searching again; an open without a start searches first,
 * both protocols before either is asked, so that the waits overlap. */
START_TEST(test_start_once)
{
	struct portmap	 pm;
	struct fake	 a = { .fail = 1 };
	struct fake	 b = { .addr = "203.0.113.12", .granted = 600 };

	fakes(&pm, &a, &b);
	portmap_start(&pm);
	ck_assert_int_eq(a.starts + b.starts, 2);
	ck_assert_int_eq(a.maps + b.maps, 0);
	portmap_start(&pm);
	ck_assert_int_eq(a.starts + b.starts, 2);
	ck_assert_int_eq(portmap_open(&pm, 40000), 0);
	ck_assert_int_eq(a.starts + b.starts, 2);
	ck_assert_int_eq(a.maps, 1);
	ck_assert_ptr_eq(pm.held, &pm.proto[1]);
	portmap_close(&pm);

	a = (struct fake){ .fail = 1 };
	b = (struct fake){ .addr = "203.0.113.12", .granted = 600 };
	fakes(&pm, &a, &b);
	ck_assert_int_eq(portmap_open(&pm, 40000), 0);
	ck_assert_int_eq(a.starts, 1);
	ck_assert_int_eq(b.starts, 1);
	ck_assert_int_lt(b.started_at, a.mapped_at);
	ck_assert_int_eq(b.mapped_at, a.mapped_at + 1);
	/* Renewals ask the holder again, with no new search. */
	clock_ms = 1000 + 300000;
	portmap_tick(&pm);
	ck_assert_int_eq(b.maps, 2);
	ck_assert_int_eq(a.starts + b.starts, 2);
	portmap_close(&pm);
	ck_assert_int_eq(b.unmaps, 1);
}
END_TEST

/* A search started but never followed by portmap_open (the lookup
 * failed) asks for nothing and deletes nothing; its state is freed. */
START_TEST(test_start_close)
{
	struct portmap	 pm;
	struct fake	 a = { .addr = "203.0.113.11", .granted = 3600 };
	struct fake	 b = { .fail = 1 };

	fakes(&pm, &a, &b);
	portmap_start(&pm);
	portmap_close(&pm);
	ck_assert_int_eq(a.maps + b.maps, 0);
	ck_assert_int_eq(a.unmaps + b.unmaps, 0);
	ck_assert_int_eq(a.frees + b.frees, 2);
	ck_assert_int_eq(pm.nproto, 0);
}
END_TEST

/* A closed (or never opened) portmap holds nothing; closing it again
 * is harmless. */
START_TEST(test_close_empty)
{
	struct portmap	 pm;

	memset(&pm, 0, sizeof pm);
	portmap_tick(&pm);
	portmap_close(&pm);
	portmap_close(&pm);
	ck_assert_ptr_null(pm.held);
	ck_assert_int_eq(pm.nproto, 0);
}
END_TEST

/* portmap_step starts the search once and asks no protocol before it
 * answered: meanwhile it waits, and the loop gets both searches'
 * descriptors and the sooner deadline. The first in order that answers
 * holds the mapping; the other is never asked. */
START_TEST(test_step_waits)
{
	struct portmap	 pm;
	struct fake	 a = { .addr = "203.0.113.11", .granted = 3600,
			     .fd = 7, .until = 1250 };
	struct fake	 b = { .addr = "203.0.113.12", .granted = 600,
			     .answer = 1, .fd = 8, .until = 1200 };
	struct pollfd	 pfd[4];

	fakes_nb(&pm, &a, &b);
	ck_assert_int_eq(portmap_fds(&pm, pfd, 4), 0);
	ck_assert_int_eq(portmap_deadline(&pm), -1);
	ck_assert_int_eq(portmap_step(&pm, 40000), PORTMAP_WAITING);
	ck_assert_int_eq(portmap_step(&pm, 40000), PORTMAP_WAITING);
	ck_assert_int_eq(a.starts + b.starts, 2);
	ck_assert_int_eq(a.maps + b.maps, 0);
	ck_assert_int_eq(portmap_fds(&pm, pfd, 4), 2);
	ck_assert_int_eq(pfd[0].fd, 7);
	ck_assert_int_eq(pfd[1].fd, 8);
	ck_assert_int_eq(portmap_fds(&pm, pfd, 1), 1);
	ck_assert_int_eq(portmap_deadline(&pm), 1200);

	a.answer = 1;
	ck_assert_int_eq(portmap_step(&pm, 40000), PORTMAP_HELD);
	ck_assert_ptr_eq(pm.held, &pm.proto[0]);
	ck_assert_int_eq(a.maps, 1);
	ck_assert_int_eq(b.maps + b.asks, 0);
	ck_assert_uint_eq(pm.ext.port, 40000);
	/* Held: nothing to watch, and the deadline is the renewal. */
	ck_assert_int_eq(portmap_fds(&pm, pfd, 4), 0);
	ck_assert_int_eq(portmap_deadline(&pm), 1000 + 1800000);
	ck_assert_int_eq(portmap_step(&pm, 40000), PORTMAP_HELD);
	ck_assert_int_eq(a.maps, 1);
	portmap_close(&pm);
	ck_assert_int_eq(a.unmaps, 1);
	ck_assert_int_eq(a.starts + b.starts, 2);
}
END_TEST

/* A protocol found absent is passed over without being asked, and only
 * the rest are watched; a mapping refused or to a private address moves
 * on to the next; with none left it is over, and stays so. */
START_TEST(test_step_order)
{
	struct portmap	 pm;
	struct fake	 a = { .answer = -1, .fd = 7, .until = 1250 };
	struct fake	 b = { .addr = "203.0.113.12", .give_port = 51234,
			     .granted = 600, .fd = 8, .until = 1240 };
	struct pollfd	 pfd[4];

	fakes_nb(&pm, &a, &b);
	ck_assert_int_eq(portmap_step(&pm, 40000), PORTMAP_WAITING);
	ck_assert_int_eq(a.maps, 0);
	ck_assert_int_eq(portmap_fds(&pm, pfd, 4), 1);
	ck_assert_int_eq(pfd[0].fd, 8);
	ck_assert_int_eq(portmap_deadline(&pm), 1240);
	b.answer = 1;
	ck_assert_int_eq(portmap_step(&pm, 40000), PORTMAP_HELD);
	ck_assert_ptr_eq(pm.held, &pm.proto[1]);
	ck_assert_uint_eq(pm.ext.port, 51234);
	ck_assert_int_eq(a.maps, 0);
	portmap_close(&pm);
	ck_assert_int_eq(b.unmaps, 1);

	a = (struct fake){ .answer = 1, .addr = "192.168.0.2",
	    .granted = 3600 };
	b = (struct fake){ .answer = 1, .fail = 1 };
	fakes_nb(&pm, &a, &b);
	ck_assert_int_eq(portmap_step(&pm, 40000), PORTMAP_NONE);
	ck_assert_ptr_null(pm.held);
	ck_assert_int_eq(a.maps, 1);
	ck_assert_int_eq(a.unmaps, 1);
	ck_assert_int_eq(b.maps, 1);
	ck_assert_int_eq(portmap_step(&pm, 40000), PORTMAP_NONE);
	ck_assert_int_eq(a.maps + b.maps, 2);
	ck_assert_int_eq(portmap_fds(&pm, pfd, 4), 0);
	ck_assert_int_eq(portmap_deadline(&pm), -1);
	portmap_close(&pm);
	ck_assert_int_eq(a.unmaps + b.unmaps, 1);
	ck_assert_int_eq(a.frees + b.frees, 2);
}
END_TEST

/* A mapping taken by portmap_step is renewed and deleted as
 * portmap_open's is; one that lapsed is not asked for again. */
START_TEST(test_step_renew)
{
	struct portmap	 pm;
	struct fake	 a = { .answer = 1, .addr = "203.0.113.11",
			     .give_port = 50000, .granted = 100 };
	struct fake	 b = { .answer = -1 };

	fakes_nb(&pm, &a, &b);
	ck_assert_int_eq(portmap_step(&pm, 40000), PORTMAP_HELD);
	clock_ms = 1000 + 50000;
	portmap_tick(&pm);
	ck_assert_int_eq(a.maps, 2);
	ck_assert_uint_eq(a.want, 50000);
	a.fail = 1;
	clock_ms = 1000 + 200000;
	portmap_tick(&pm);
	ck_assert_ptr_null(pm.held);
	ck_assert_int_eq(portmap_step(&pm, 40000), PORTMAP_NONE);
	ck_assert_int_eq(a.maps, 3);
	portmap_close(&pm);
	ck_assert_int_eq(a.unmaps, 0);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("portmap");
	TCase	*tc = tcase_create("portmap");

	tcase_add_test(tc, test_renew_at);
	tcase_add_test(tc, test_ext_usable);
	tcase_add_test(tc, test_upnp_next);
	tcase_add_test(tc, test_ssdp_location);
	tcase_add_test(tc, test_open_order);
	tcase_add_test(tc, test_open_private);
	tcase_add_test(tc, test_renew);
	tcase_add_test(tc, test_renew_fails);
	tcase_add_test(tc, test_close_empty);
	tcase_add_test(tc, test_start_once);
	tcase_add_test(tc, test_start_close);
	tcase_add_test(tc, test_step_waits);
	tcase_add_test(tc, test_step_order);
	tcase_add_test(tc, test_step_renew);
	suite_add_tcase(s, tc);
	return (unit_run(s));
}
