/*
 * test-servers.c -- the client's server list (client/servers.c) with its
 * randomness faked: parsing tryst init --server, the random start, every
 * endpoint tried once per round before giving up, GOAWAY shutdown moving
 * elsewhere, the back-off's numbers (PROTOCOL.md §10.3), where a call's
 * relay is joined (§5.5), and the order sock_connect tries the addresses
 * of one name in.
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "client.h"
#include "unit.h"

/* What the fake uniform() returns: fake_pick when it is below upper,
 * else upper - 1 (fake_max: always the top). Each call is recorded. */
static uint32_t	 fake_pick;
static int	 fake_max;
static uint32_t	 fake_upper[64];
static size_t	 fake_calls;

/* A uniform() for the tests: see fake_pick. */
static uint32_t
fake_uniform(uint32_t upper)
{
	ck_assert_uint_gt(upper, 0);
	if (fake_calls < 64)
		fake_upper[fake_calls] = upper;
	fake_calls++;
	if (fake_max || fake_pick >= upper)
		return (upper - 1);
	return (fake_pick);
}

/* Reset the fake to return pick. */
static void
fake(uint32_t pick, int max)
{
	fake_pick = pick;
	fake_max = max;
	fake_calls = 0;
}

/* Parse list, which must parse. */
static void
parse_ok(struct servers *sv, const char *list)
{
	char	*why = NULL;

	ck_assert_msg(servers_parse(sv, list, fake_uniform, &why) == 0,
	    "%s: %s", list, why);
}

/* Parse list, which must be refused with a cause naming want. */
static void
parse_bad(const char *list, const char *want)
{
	struct servers	 sv;
	char		*why = NULL;

	ck_assert_int_eq(servers_parse(&sv, list, fake_uniform, &why), -1);
	ck_assert_msg(why != NULL && strstr(why, want) != NULL,
	    "%s: %s", list, why != NULL ? why : "(no cause)");
	free(why);
}

START_TEST(test_parse)
{
	struct servers	 sv;
	char		 many[40 * 12];
	int		 i;

	fake(0, 0);
	parse_ok(&sv, "tryst.example.org:4433");
	ck_assert_uint_eq(sv.n, 1);
	ck_assert_str_eq(servers_current(&sv), "tryst.example.org:4433");
	servers_free(&sv);

	parse_ok(&sv, "a.example:1,[2001:db8::1]:4433,192.0.2.1:65535");
	ck_assert_uint_eq(sv.n, 3);
	ck_assert_str_eq(sv.hp[0], "a.example:1");
	ck_assert_str_eq(sv.hp[1], "[2001:db8::1]:4433");
	ck_assert_str_eq(sv.hp[2], "192.0.2.1:65535");
	servers_free(&sv);

	parse_bad("", "empty entry");
	parse_bad("a:1,,b:2", "empty entry");
	parse_bad("a:1,", "empty entry");
	parse_bad("a:1,b", "not HOST:PORT");
	parse_bad("2001:db8::1:4433", "not HOST:PORT");
	parse_bad("a:0", "not 1 to 65535");
	parse_bad("a:65536", "not 1 to 65535");
	parse_bad("a:0000004433", "not 1 to 65535");
	*many = '\0';
	for (i = 0; i <= SERVERS_MAX; i++)
		snprintf(many + strlen(many), sizeof many - strlen(many),
		    "%sh%d:1", i > 0 ? "," : "", i);
	parse_bad(many, "more than 32");
}
END_TEST

START_TEST(test_random_start)
{
	struct servers	 sv;

	fake(2, 0);
	parse_ok(&sv, "a:1,b:2,c:3,d:4");
	ck_assert_uint_eq(fake_calls, 1);
	ck_assert_uint_eq(fake_upper[0], 4);	/* any of the four */
	ck_assert_str_eq(servers_current(&sv), "c:3");
	servers_free(&sv);
	fake(0, 1);
	parse_ok(&sv, "a:1,b:2,c:3,d:4");
	ck_assert_str_eq(servers_current(&sv), "d:4");
	servers_free(&sv);
}
END_TEST

/* Each endpoint fails once per round: from a random start, all are
 * tried, in turn, and the last failure says the round is over. */
START_TEST(test_round)
{
	struct servers	 sv;

	fake(1, 0);
	parse_ok(&sv, "a:1,b:2,c:3");
	servers_round(&sv);
	ck_assert_str_eq(servers_current(&sv), "b:2");
	ck_assert_int_eq(servers_failed(&sv), 1);
	ck_assert_str_eq(servers_current(&sv), "c:3");
	ck_assert_int_eq(servers_failed(&sv), 1);
	ck_assert_str_eq(servers_current(&sv), "a:1");
	ck_assert_int_eq(servers_failed(&sv), 0);
	ck_assert_str_eq(servers_current(&sv), "b:2");
	ck_assert_int_eq(servers_failed(&sv), 0);	/* still over */
	/* A new round starts where the last one left off. */
	servers_round(&sv);
	ck_assert_int_eq(servers_failed(&sv), 1);
	ck_assert_str_eq(servers_current(&sv), "a:1");
	servers_free(&sv);

	/* One endpoint: its first failure ends the round. */
	parse_ok(&sv, "only:1");
	servers_round(&sv);
	ck_assert_int_eq(servers_failed(&sv), 0);
	ck_assert_str_eq(servers_current(&sv), "only:1");
	servers_free(&sv);
}
END_TEST

/* GOAWAY shutdown: another endpoint, never the same, chosen at random
 * among the others. */
START_TEST(test_move)
{
	struct servers	 sv;
	uint32_t	 pick;
	const char	*want[] = { "c:3", "d:4", "a:1" };

	for (pick = 0; pick < 3; pick++) {
		fake(1, 0);
		parse_ok(&sv, "a:1,b:2,c:3,d:4");
		ck_assert_str_eq(servers_current(&sv), "b:2");
		fake(pick, 0);
		servers_move(&sv);
		ck_assert_uint_eq(fake_calls, 1);
		ck_assert_uint_eq(fake_upper[0], 3);	/* the other three */
		ck_assert_str_eq(servers_current(&sv), want[pick]);
		servers_free(&sv);
	}
	fake(0, 0);
	parse_ok(&sv, "only:1");
	servers_move(&sv);
	ck_assert_uint_eq(fake_calls, 1);	/* the parse's pick alone */
	ck_assert_str_eq(servers_current(&sv), "only:1");
	servers_free(&sv);
}
END_TEST

/* b × (1 + u): b = 1, 2, 4 ... 32, then 60 s for good; u from uniform. */
START_TEST(test_backoff)
{
	static const uint32_t	 base[] = { 1000, 2000, 4000, 8000, 16000,
	    32000, 60000, 60000, 60000 };
	struct servers		 sv;
	size_t			 i;

	fake(0, 0);
	parse_ok(&sv, "a:1,b:2");
	for (i = 0; i < nitems(base); i++) {
		fake(0, 0);
		ck_assert_uint_eq(servers_backoff_ms(&sv), base[i]);
		ck_assert_uint_eq(fake_upper[0], base[i] + 1);
	}
	servers_backoff_reset(&sv);
	fake(0, 1);			/* u = 1: twice b */
	ck_assert_uint_eq(servers_backoff_ms(&sv), 2000);
	ck_assert_uint_eq(servers_backoff_ms(&sv), 4000);
	fake(777, 0);
	ck_assert_uint_eq(servers_backoff_ms(&sv), 4777);
	for (i = 0; i < 40; i++)
		servers_backoff_ms(&sv);
	fake(0, 1);
	ck_assert_uint_eq(servers_backoff_ms(&sv), 120000);
	servers_free(&sv);
}
END_TEST

/* Check servers_relay_at(given, control) gives want. */
static void
relay_is(const char *given, const char *control, const char *want)
{
	char	 out[300], *why = NULL;

	ck_assert_msg(servers_relay_at(given, control, out, sizeof out,
	    &why) == 0, "%s: %s", given, why);
	ck_assert_str_eq(out, want);
}

START_TEST(test_relay_at)
{
	char	 out[16], *why = NULL;

	/* tryst/1: the control connection's endpoint. */
	relay_is(NULL, "a.example:4433", "a.example:4433");
	relay_is("", "[2001:db8::1]:4433", "[2001:db8::1]:4433");
	/* tryst/2: the node that holds the relay, whichever it is. */
	relay_is("node2.example:5000", "a.example:4433",
	    "node2.example:5000");
	relay_is("[2001:db8::2]:5000", "a.example:4433",
	    "[2001:db8::2]:5000");
	/* An unspecified address: the control connection's host. */
	relay_is("0.0.0.0:5000", "a.example:4433", "a.example:5000");
	relay_is("[::]:5000", "192.0.2.7:4433", "192.0.2.7:5000");
	relay_is("[::]:5000", "[2001:db8::1]:4433", "[2001:db8::1]:5000");
	relay_is("0.0.0.1:5000", "a.example:4433", "0.0.0.1:5000");
	/* Not HOST:PORT, or too long for out. */
	ck_assert_int_eq(servers_relay_at("node2", "a:1", out, sizeof out,
	    &why), -1);
	ck_assert_ptr_nonnull(strstr(why, "not HOST:PORT"));
	free(why);
	why = NULL;
	ck_assert_int_eq(servers_relay_at("a-long-name.example:5000", "a:1",
	    out, sizeof out, &why), -1);
	ck_assert_ptr_nonnull(strstr(why, "too long"));
	free(why);
}
END_TEST

/* The addresses of one name: the leading run of the first family from a
 * random start, round; the others after them in order. */
START_TEST(test_try_order)
{
	static const size_t	 want[] = { 2, 0, 1, 3, 4 };
	size_t			 j, seen = 0;

	for (j = 0; j < 5; j++)
		ck_assert_uint_eq(sock_try_index(j, 3, 2), want[j]);
	for (j = 0; j < 4; j++)
		seen |= (size_t)1 << sock_try_index(j, 4, 3);
	ck_assert_uint_eq(seen, 0xf);	/* each exactly once */
	ck_assert_uint_eq(sock_try_index(0, 1, 0), 0);
	ck_assert_uint_eq(sock_try_index(1, 1, 0), 1);
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("servers");
	TCase	*tc = tcase_create("servers");

	tcase_add_test(tc, test_parse);
	tcase_add_test(tc, test_random_start);
	tcase_add_test(tc, test_round);
	tcase_add_test(tc, test_move);
	tcase_add_test(tc, test_backoff);
	tcase_add_test(tc, test_relay_at);
	tcase_add_test(tc, test_try_order);
	suite_add_tcase(s, tc);
	return (unit_run(s));
}
