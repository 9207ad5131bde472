/*
 * test-reach.c -- which of a peer's candidates the client dials
 * (client/reach.c): the scope of every kind of address at and around the
 * edges of each range, and the rule for each scope, with and without an
 * address of this device in the same range.
 */
#include <arpa/inet.h>

#include <string.h>

#include <check.h>

#include "client.h"
#include "unit.h"

/* text as a candidate with port. */
static struct cand
cand(const char *text, uint16_t port)
{
	struct cand	 c;

	memset(&c, 0, sizeof c);
	c.kind = CAND_HOST;
	c.port = port;
	if (inet_pton(AF_INET, text, c.addr) == 1)
		c.family = 4;
	else if (inet_pton(AF_INET6, text, c.addr) == 1)
		c.family = 6;
	else
		ck_abort_msg("bad address in the test: %s", text);
	return (c);
}

static const struct {
	const char		*addr;
	enum reach_scope	 scope;
} scopes[] = {
	{ "0.0.0.0", REACH_SCOPE_NONE },
	{ "0.1.2.3", REACH_SCOPE_NONE },
	{ "1.0.0.0", REACH_SCOPE_GLOBAL },
	{ "8.8.8.8", REACH_SCOPE_GLOBAL },
	{ "9.255.255.255", REACH_SCOPE_GLOBAL },
	{ "10.0.0.0", REACH_SCOPE_LOCAL },
	{ "10.255.255.255", REACH_SCOPE_LOCAL },
	{ "11.0.0.0", REACH_SCOPE_GLOBAL },
	{ "100.63.255.255", REACH_SCOPE_GLOBAL },
	{ "100.64.0.0", REACH_SCOPE_LOCAL },
	{ "100.127.255.255", REACH_SCOPE_LOCAL },
	{ "100.128.0.0", REACH_SCOPE_GLOBAL },
	{ "126.255.255.255", REACH_SCOPE_GLOBAL },
	{ "127.0.0.0", REACH_SCOPE_LOOPBACK },
	{ "127.0.0.1", REACH_SCOPE_LOOPBACK },
	{ "127.255.255.255", REACH_SCOPE_LOOPBACK },
	{ "128.0.0.0", REACH_SCOPE_GLOBAL },
	{ "169.253.255.255", REACH_SCOPE_GLOBAL },
	{ "169.254.0.1", REACH_SCOPE_LOCAL },
	{ "169.254.255.255", REACH_SCOPE_LOCAL },
	{ "169.255.0.0", REACH_SCOPE_GLOBAL },
	{ "172.15.255.255", REACH_SCOPE_GLOBAL },
	{ "172.16.0.0", REACH_SCOPE_LOCAL },
	{ "172.31.255.255", REACH_SCOPE_LOCAL },
	{ "172.32.0.0", REACH_SCOPE_GLOBAL },
	{ "192.167.255.255", REACH_SCOPE_GLOBAL },
	{ "192.168.0.0", REACH_SCOPE_LOCAL },
	{ "192.168.255.255", REACH_SCOPE_LOCAL },
	{ "192.169.0.0", REACH_SCOPE_GLOBAL },
	{ "198.17.255.255", REACH_SCOPE_GLOBAL },
	{ "198.18.0.0", REACH_SCOPE_LOCAL },
	{ "198.19.255.255", REACH_SCOPE_LOCAL },
	{ "198.20.0.0", REACH_SCOPE_GLOBAL },
	{ "203.0.113.11", REACH_SCOPE_GLOBAL },
	{ "223.255.255.255", REACH_SCOPE_GLOBAL },
	{ "224.0.0.1", REACH_SCOPE_NONE },
	{ "239.255.255.250", REACH_SCOPE_NONE },
	{ "240.0.0.1", REACH_SCOPE_NONE },
	{ "255.255.255.255", REACH_SCOPE_NONE },
	{ "::", REACH_SCOPE_NONE },
	{ "::1", REACH_SCOPE_LOOPBACK },
	{ "::2", REACH_SCOPE_NONE },			/* IPv4-compatible */
	{ "::10.0.0.1", REACH_SCOPE_NONE },
	{ "::ffff:127.0.0.1", REACH_SCOPE_LOOPBACK },	/* IPv4-mapped */
	{ "::ffff:10.0.0.1", REACH_SCOPE_LOCAL },
	{ "::ffff:8.8.8.8", REACH_SCOPE_GLOBAL },
	{ "::ffff:0.0.0.0", REACH_SCOPE_NONE },
	{ "::ffff:224.0.0.1", REACH_SCOPE_NONE },
	{ "64:ff9b::808:808", REACH_SCOPE_GLOBAL },	/* NAT64 */
	{ "2001:db8::1", REACH_SCOPE_GLOBAL },
	{ "2a00:1450:4001::1", REACH_SCOPE_GLOBAL },
	{ "fbff:ffff::1", REACH_SCOPE_GLOBAL },
	{ "fc00::", REACH_SCOPE_LOCAL },
	{ "fd12:3456:789a::1", REACH_SCOPE_LOCAL },
	{ "fdff:ffff:ffff:ffff::1", REACH_SCOPE_LOCAL },
	{ "fe00::1", REACH_SCOPE_GLOBAL },
	{ "fe7f:ffff::1", REACH_SCOPE_GLOBAL },
	{ "fe80::1", REACH_SCOPE_NONE },		/* link-local */
	{ "febf:ffff::1", REACH_SCOPE_NONE },
	{ "fec0::1", REACH_SCOPE_NONE },		/* site-local */
	{ "feff::1", REACH_SCOPE_NONE },
	{ "ff02::1", REACH_SCOPE_NONE },		/* multicast */
	{ "ff0e::1", REACH_SCOPE_NONE },
};

/* Every address of the table has the scope it says. */
START_TEST(test_scope)
{
	size_t		 i;
	struct cand	 c;

	for (i = 0; i < sizeof scopes / sizeof scopes[0]; i++) {
		c = cand(scopes[i].addr, 4000);
		ck_assert_msg(reach_scope(&c) == scopes[i].scope,
		    "%s: scope %d, want %d", scopes[i].addr, reach_scope(&c),
		    scopes[i].scope);
	}
	c = cand("8.8.8.8", 4000);
	c.family = 5;
	ck_assert_int_eq(reach_scope(&c), REACH_SCOPE_NONE);
	c.family = 0;
	ck_assert_int_eq(reach_scope(&c), REACH_SCOPE_NONE);
}
END_TEST

/* reach_check of peer against the addresses self (NULL-terminated). */
static enum reach_why
check(const char *peer, uint16_t port, const char *const *self, int lo)
{
	struct cand	 p = cand(peer, port), s[8];
	int		 n = 0;

	while (self != NULL && self[n] != NULL) {
		s[n] = cand(self[n], 0);
		n++;
	}
	return (reach_check(&p, s, n, lo));
}

/* Port 0, and addresses of no single host, are never dialled. */
START_TEST(test_never)
{
	static const char *const self[] = { "10.0.0.2", "127.0.0.1", "::1",
	    "fe80::2", NULL };
	size_t	 i;

	ck_assert_int_eq(check("8.8.8.8", 0, NULL, 0), REACH_NO_PORT);
	ck_assert_int_eq(check("10.0.0.9", 0, self, 1), REACH_NO_PORT);
	for (i = 0; i < sizeof scopes / sizeof scopes[0]; i++) {
		if (scopes[i].scope != REACH_SCOPE_NONE)
			continue;
		ck_assert_msg(check(scopes[i].addr, 4000, self, 1) ==
		    REACH_NO_HOST, "%s dialled", scopes[i].addr);
	}
}
END_TEST

/* Loopback only when the server is reached over loopback. */
START_TEST(test_loopback)
{
	static const char *const self[] = { "127.0.0.1", "::1", NULL };

	ck_assert_int_eq(check("127.0.0.1", 4000, self, 0), REACH_LOOPBACK);
	ck_assert_int_eq(check("127.0.0.1", 4000, self, 1), REACH_OK);
	ck_assert_int_eq(check("127.9.9.9", 4000, NULL, 1), REACH_OK);
	ck_assert_int_eq(check("::1", 4000, self, 0), REACH_LOOPBACK);
	ck_assert_int_eq(check("::1", 4000, self, 1), REACH_OK);
	ck_assert_int_eq(check("::ffff:127.0.0.1", 6379, self, 0),
	    REACH_LOOPBACK);
}
END_TEST

/* A local range only from a device with an address in the same range. */
START_TEST(test_local)
{
	static const char *const lan[] = { "192.168.7.2", "127.0.0.1", NULL };
	static const char *const ten[] = { "10.1.2.3", NULL };
	static const char *const cgn[] = { "100.100.0.1", NULL };
	static const char *const nat[] = { "198.18.1.2", NULL };
	static const char *const ula[] = { "fd00:1:2:3::9", "10.0.0.1", NULL };
	static const char *const glob[] = { "8.8.4.4", "2001:db8::5",
	    "127.0.0.1", "::1", NULL };

	ck_assert_int_eq(check("192.168.1.5", 4000, lan, 0), REACH_OK);
	ck_assert_int_eq(check("::ffff:192.168.1.5", 4000, lan, 0), REACH_OK);
	ck_assert_int_eq(check("10.9.9.9", 4000, lan, 0),
	    REACH_OTHER_NETWORK);
	ck_assert_int_eq(check("172.16.0.1", 4000, lan, 0),
	    REACH_OTHER_NETWORK);
	ck_assert_int_eq(check("10.200.0.1", 4000, ten, 0), REACH_OK);
	ck_assert_int_eq(check("192.168.1.5", 4000, ten, 0),
	    REACH_OTHER_NETWORK);
	ck_assert_int_eq(check("100.64.0.7", 4000, cgn, 0), REACH_OK);
	ck_assert_int_eq(check("100.64.0.7", 4000, ten, 0),
	    REACH_OTHER_NETWORK);
	ck_assert_int_eq(check("169.254.3.3", 4000, ten, 0),
	    REACH_OTHER_NETWORK);
	/* the NAT test's two LANs, each behind its own NAT */
	ck_assert_int_eq(check("198.18.2.2", 40009, nat, 0), REACH_OK);
	/* unique-local: the same /48 site */
	ck_assert_int_eq(check("fd00:1:2:ffff::1", 4000, ula, 0), REACH_OK);
	ck_assert_int_eq(check("fd00:1:3::1", 4000, ula, 0),
	    REACH_OTHER_NETWORK);
	ck_assert_int_eq(check("fd00:1:2::1", 4000, ten, 0),
	    REACH_OTHER_NETWORK);
	ck_assert_int_eq(check("10.0.0.5", 4000, ula, 0), REACH_OK);
	/* global and loopback addresses of our own open no local range */
	ck_assert_int_eq(check("192.168.1.5", 4000, glob, 1),
	    REACH_OTHER_NETWORK);
	ck_assert_int_eq(check("fd00::1", 4000, glob, 1), REACH_OTHER_NETWORK);
	ck_assert_int_eq(check("10.0.0.5", 4000, NULL, 1),
	    REACH_OTHER_NETWORK);
}
END_TEST

/* A global address is dialled whatever this device's addresses. */
START_TEST(test_global)
{
	static const char *const lan[] = { "192.168.7.2", NULL };

	ck_assert_int_eq(check("203.0.113.11", 40009, NULL, 0), REACH_OK);
	ck_assert_int_eq(check("8.8.8.8", 1, lan, 0), REACH_OK);
	ck_assert_int_eq(check("2001:db8::1", 65535, lan, 0), REACH_OK);
	ck_assert_int_eq(check("::ffff:203.0.113.1", 4000, NULL, 0),
	    REACH_OK);
}
END_TEST

/* Every answer has its own words. */
START_TEST(test_words)
{
	enum reach_why	 a, b;

	for (a = REACH_OK; a <= REACH_OTHER_NETWORK; a++) {
		ck_assert_str_ne(reach_why_str(a), "?");
		for (b = REACH_OK; b < a; b++)
			ck_assert_str_ne(reach_why_str(a), reach_why_str(b));
	}
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("reach");
	TCase	*tc = tcase_create("reach");

	tcase_add_test(tc, test_scope);
	tcase_add_test(tc, test_never);
	tcase_add_test(tc, test_loopback);
	tcase_add_test(tc, test_local);
	tcase_add_test(tc, test_global);
	tcase_add_test(tc, test_words);
	suite_add_tcase(s, tc);
	return (unit_run(s));
}
