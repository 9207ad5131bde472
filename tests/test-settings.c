/*
 * test-settings.c -- trystd's settings table (server/settings.c): every
 * setting in it, the shipped conf/trystd.conf, the checks between keys,
 * loading a file, and the forms of the address keys.
 *
 * conf/trystd.conf is generated from the table. After changing the table,
 * regenerate it with:
 *
 *	meson compile -C build test-settings &&
 *	    build/tests/test-settings --write-default > conf/trystd.conf
 *
 * test_shipped_file fails until the two agree.
 */
#include <sys/socket.h>

#include <arpa/inet.h>
#include <netinet/in.h>

#include <limits.h>
#include <stddef.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <check.h>

#include "common.h"
#include "server.h"
#include "unit.h"

#define SHIPPED	TEST_SRCDIR "/conf/trystd.conf"

START_TEST(test_defaults)
{
	struct settings	 s;

	memset(&s, 0, sizeof s);
	conf_defaults(settings_table, &s);
	ck_assert_str_eq(s.listen, "127.0.0.1:4433");
	ck_assert_str_eq(s.stun_listen, "");
	ck_assert_str_eq(s.tls_key, "/etc/tryst/key.pem");
	ck_assert_str_eq(s.redis, "127.0.0.1:6379");
	ck_assert_str_eq(s.verification, "");
	ck_assert_int_eq(s.log_level, LOG_INFO);
	ck_assert_int_eq(s.code_digits, 6);
	ck_assert_int_eq(s.discovery_bucket, 2000);
	ck_assert_int_eq(s.max_batch, 1024);
	ck_assert_int_eq(s.relay_session_bytes, 268435456);
	ck_assert_int_eq(s.relay_rate_bps, 0);
	ck_assert_int_eq(s.relay_account_daily_bytes, 0);
	ck_assert_int_eq(s.idle_timeout_s, 300);
	ck_assert_int_eq(s.max_connections, 100000);
	ck_assert_int_eq(s.max_connections_per_account, 4);
	ck_assert_int_eq(s.shutdown_grace_s, 5);
	/* Filled in by settings_load: the host name, listen. */
	ck_assert_str_eq(s.node_name, "");
	ck_assert_str_eq(s.relay_endpoint, "");
	ck_assert_str_eq(s.relay_listen, "");
	settings_free(&s);
	ck_assert_ptr_null(s.listen);
}
END_TEST

START_TEST(test_table_covers_settings)
{
	const struct conf_entry	*e;
	unsigned char		 used[sizeof(struct settings)] = { 0 };
	size_t			 n = 0, size, i;

	for (e = settings_table; e->name != NULL; e++, n++) {
		size = e->type == CONF_STR ? sizeof(char *) :
		    e->type == CONF_LEVEL ? sizeof(int) : sizeof(long long);
		ck_assert_uint_le(e->offset + size, sizeof(struct settings));
		for (i = 0; i < size; i++) {
			ck_assert_msg(!used[e->offset + i], "%s overlaps",
			    e->name);
			used[e->offset + i] = 1;
		}
		ck_assert_uint_le(strlen(e->help), 76);
	}
	/* 13 strings, log_level, 33 limits of doc/protocol.md §8 and
	 * test_accounts. */
	ck_assert_uint_eq(n, 48);
}
END_TEST

START_TEST(test_reload_flags)
{
	static const char *no[] = { "listen", "stun_listen", "metrics_listen",
	    "master_key", "redis", "redis_user", "redis_password_file",
	    "node_name", "relay_endpoint", "relay_listen" };
	const struct conf_entry	*e;
	size_t			 i;
	int			 want;

	for (e = settings_table; e->name != NULL; e++) {
		want = 1;
		for (i = 0; i < sizeof no / sizeof no[0]; i++) {
			if (strcmp(e->name, no[i]) == 0)
				want = 0;
		}
		ck_assert_msg(e->reload == want, "%s: reload %d", e->name,
		    e->reload);
	}
}
END_TEST


START_TEST(test_written_lines_fit)
{
	char		*buf, *p, *nl;
	size_t		 len;
	unsigned int	 lineno = 0, set = 0;

	buf = unit_written(settings_table, &len);
	for (p = buf; *p != '\0'; p = nl + 1) {
		lineno++;
		ck_assert_ptr_nonnull(nl = strchr(p, '\n'));
		ck_assert_msg(nl - p <= 80, "line %u is too long", lineno);
		ck_assert_msg(nl == p || nl[-1] != ' ', "line %u ends in a "
		    "blank", lineno);
		if (*p != '#' && nl != p)
			set++;
	}
	/* listen, tls_cert, tls_key, master_key, redis, verification. */
	ck_assert_uint_eq(set, 6);
	ck_assert_ptr_nonnull(strstr(buf, "\nverification =\n"));
	ck_assert_ptr_nonnull(strstr(buf, "\nlisten = 127.0.0.1:4433\n"));
	ck_assert_ptr_nonnull(strstr(buf, "\n#stun_listen =\n"));
	ck_assert_ptr_nonnull(strstr(buf, "\n# default: empty (reload on "
	    "SIGHUP: no)\n#node_name =\n"));
	ck_assert_ptr_nonnull(strstr(buf, "\n#relay_endpoint =\n"));
	ck_assert_ptr_nonnull(strstr(buf, "\n#relay_listen =\n"));
	ck_assert_ptr_nonnull(strstr(buf, "\n# default: 268435456, range "
	    "1048576..1099511627776 (reload on SIGHUP: yes)\n"
	    "#relay_session_bytes = 268435456\n"));
	free(buf);
}
END_TEST

START_TEST(test_shipped_file)
{
	struct settings	 s;
	char		*want, *have, *cause = NULL;
	size_t		 wantlen, havelen;

	memset(&s, 0, sizeof s);
	conf_defaults(settings_table, &s);
	ck_assert_msg(conf_load(settings_table, &s, SHIPPED, &cause) == 0,
	    "%s", cause);
	ck_assert_str_eq(s.listen, "127.0.0.1:4433");
	ck_assert_str_eq(s.master_key, "/etc/tryst/master.key");
	ck_assert_int_eq(s.code_ttl_s, 600);
	settings_free(&s);

	want = unit_written(settings_table, &wantlen);
	have = file_read_small(SHIPPED, 1 << 20, &havelen, &cause);
	ck_assert_msg(have != NULL, "%s", cause);
	ck_assert_msg(havelen == wantlen && memcmp(have, want, wantlen) == 0,
	    "conf/trystd.conf differs from the table: regenerate it (see "
	    "tests/test-settings.c)");
	free(want);
	free(have);
}
END_TEST


/* Defaults with a valid verification: settings_check passes. */
static void
good_settings(struct settings *s)
{
	char	*cause = NULL;

	memset(s, 0, sizeof *s);
	conf_defaults(settings_table, s);
	free(s->verification);
	s->verification = xstrdup("dev:/tmp/codes");
	ck_assert_msg(settings_check(s, &cause) == 0, "%s", cause);
}

/* Assert that settings_check refuses s with exactly want. */
static void
check_fails(struct settings *s, const char *want)
{
	char	*cause = NULL;

	ck_assert_int_eq(settings_check(s, &cause), -1);
	ck_assert_ptr_nonnull(cause);
	ck_assert_str_eq(cause, want);
	free(cause);
}

START_TEST(test_check)
{
	struct settings	 s;
	char		*cause = NULL;

	good_settings(&s);
	s.discovery_bucket = 1023;
	check_fails(&s, "discovery_bucket: 1023 is less than max_batch "
	    "(1024)");
	s.discovery_bucket = 1024;
	ck_assert_int_eq(settings_check(&s, &cause), 0);
	s.max_batch = 100;
	s.discovery_bucket = 99;
	check_fails(&s, "discovery_bucket: 99 is less than max_batch (100)");
	settings_free(&s);

	good_settings(&s);
	free(s.listen);
	s.listen = xstrdup("");
	check_fails(&s, "listen is not set");
	settings_free(&s);
}
END_TEST

START_TEST(test_check_verification)
{
	static const char *bad[] = { "foo:bar", "dev:", "exec:", "dev",
	    "DEV:/x", " dev:/x", "/usr/bin/send" };
	static const char *good[] = { "dev:/tmp/codes", "exec:/usr/bin/send",
	    "dev:x" };
	struct settings	 s;
	char		 want[128], *cause = NULL;
	size_t		 i;

	good_settings(&s);
	free(s.verification);
	s.verification = xstrdup("");
	check_fails(&s, "verification is not set (socket:PATH, dev:FILE or "
	    "exec:PROGRAM)");
	for (i = 0; i < sizeof bad / sizeof bad[0]; i++) {
		free(s.verification);
		s.verification = xstrdup(bad[i]);
		snprintf(want, sizeof want, "verification: \"%s\" is not "
		    "socket:PATH, dev:FILE or exec:PROGRAM", bad[i]);
		check_fails(&s, want);
	}
	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		free(s.verification);
		s.verification = xstrdup(good[i]);
		ck_assert_msg(settings_check(&s, &cause) == 0, "%s", good[i]);
	}
	settings_free(&s);
}
END_TEST

/* credential:NAME: in $CREDENTIALS_DIRECTORY when set, else beside the
 * configuration file at path; never a path of its own. */
static void
check_credential_paths(const struct settings *s, const char *path)
{
	char	*got, *want, *cause = NULL;

	xasprintf(&want, "%.*s/master.key",
	    (int)(strrchr(path, '/') - path), path);
	unsetenv("CREDENTIALS_DIRECTORY");
	got = settings_path(s, "credential:master.key", &cause);
	ck_assert_str_eq(got, want);
	free(got);
	setenv("CREDENTIALS_DIRECTORY", "/run/credentials/trystd.service", 1);
	got = settings_path(s, "credential:master.key", &cause);
	ck_assert_str_eq(got, "/run/credentials/trystd.service/master.key");
	free(got);
	got = settings_path(s, "/etc/tryst/master.key", &cause);
	ck_assert_str_eq(got, "/etc/tryst/master.key");
	free(got);
	ck_assert_ptr_null(settings_path(s, "credential:../master.key",
	    &cause));
	ck_assert_str_eq(cause, "\"credential:../master.key\": not a "
	    "credential name");
	free(cause);
	unsetenv("CREDENTIALS_DIRECTORY");
	free(want);
}

START_TEST(test_settings_load)
{
	struct settings	 s;
	char		*path, *cause = NULL;

	path = unit_temp_file("verification = exec:/usr/bin/send\n"
	    "max_batch = 64\ndiscovery_bucket = 64\nlog_level = debug\n");
	ck_assert_msg(settings_load(&s, path, &cause) == 0, "%s", cause);
	ck_assert_str_eq(s.verification, "exec:/usr/bin/send");
	ck_assert_int_eq(s.discovery_bucket, 64);
	ck_assert_int_eq(s.log_level, LOG_DEBUG);
	ck_assert_int_eq(s.code_digits, 6);
	check_credential_paths(&s, path);
	settings_free(&s);
	unlink(path);
	free(path);

	path = unit_temp_file("verification = dev:/tmp/c\ndiscovery_bucket = 10\n");
	ck_assert_int_eq(settings_load(&s, path, &cause), -1);
	ck_assert_ptr_eq(strstr(cause, path), cause);
	ck_assert_str_eq(cause + strlen(path), ":2: discovery_bucket: 10 is "
	    "less than max_batch (1024)");
	ck_assert_ptr_null(s.listen);
	free(cause);
	unlink(path);
	free(path);

	path = unit_temp_file("code_digits = 9\n");
	ck_assert_int_eq(settings_load(&s, path, &cause), -1);
	ck_assert_str_eq(cause + strlen(path), ":1: code_digits: 9 is out of "
	    "range 6..8");
	free(cause);
	unlink(path);
	free(path);

	/* The shipped file leaves verification for the operator to set. */
	ck_assert_int_eq(settings_load(&s, SHIPPED, &cause), -1);
	ck_assert_str_eq(cause, SHIPPED ": verification is not set "
	    "(socket:PATH, dev:FILE or exec:PROGRAM)");
	free(cause);
}
END_TEST

/* ---- the address keys of trystd.conf ----------------------------------- */

/* Parse text as trystd.conf over the defaults into *s; the cause or NULL. */
static char *
set_parse(struct settings *s, const char *text)
{
	char	*cause = NULL;
	int	 rc;

	memset(s, 0, sizeof *s);
	conf_defaults(settings_table, s);
	rc = conf_parse(settings_table, s, "t.conf", text, strlen(text),
	    &cause);
	ck_assert_int_eq(rc, cause == NULL ? 0 : -1);
	return (cause);
}

/* Assert that trystd.conf text fails with exactly want. */
static void
set_fails(const char *text, const char *want)
{
	struct settings	 s;
	char		*cause;

	cause = set_parse(&s, text);
	ck_assert_msg(cause != NULL, "accepted: %s", text);
	ck_assert_str_eq(cause, want);
	free(cause);
	settings_free(&s);
}

/* Assert that trystd.conf text parses. */
static void
set_ok(const char *text)
{
	struct settings	 s;
	char		*cause;

	cause = set_parse(&s, text);
	ck_assert_msg(cause == NULL, "%s: %s", text, cause);
	settings_free(&s);
}

/* Assert that key = v fails on line 2 with "key: " and reason. */
static void
value_fails(const char *key, const char *v, const char *reason)
{
	char	*text, *want;

	xasprintf(&text, "# first\n%s = %s\n", key, v);
	xasprintf(&want, "t.conf:2: %s: %s", key, reason);
	set_fails(text, want);
	free(text);
	free(want);
}

/* Assert that key = v parses. */
static void
value_ok(const char *key, const char *v)
{
	char	*text;

	xasprintf(&text, "%s = %s\n", key, v);
	set_ok(text);
	free(text);
}

/* listen, stun_listen and relay_listen refuse v for reason. */
static void
listener_fails(const char *v, const char *reason)
{
	value_fails("listen", v, reason);
	value_fails("stun_listen", v, reason);
	value_fails("relay_listen", v, reason);
}

START_TEST(test_listen_bad)
{
	static const char *no_port[] = { "127.0.0.1", "[::1]", "[::1:4433",
	    "0.0.0.0", "[::]4433", "localhost" };
	static const char *bad_port[] = { "127.0.0.1:0", "127.0.0.1:99999",
	    "127.0.0.1:65536", "127.0.0.1:", "[::1]:+80", "[::1]:-1",
	    "127.0.0.1:4433x", "1.2.3.4:000000", "1.2.3.4: 80" };
	char	 why[128];
	size_t	 i;

	for (i = 0; i < nitems(no_port); i++) {
		snprintf(why, sizeof why, "\"%s\" has no port (want IPV4:PORT "
		    "or [IPV6]:PORT)", no_port[i]);
		listener_fails(no_port[i], why);
	}
	for (i = 0; i < nitems(bad_port); i++) {
		snprintf(why, sizeof why, "\"%s\": the port is not 1..65535",
		    bad_port[i]);
		listener_fails(bad_port[i], why);
	}
	listener_fails(":4433", "\":4433\" has no address (want IPV4:PORT or "
	    "[IPV6]:PORT)");
	listener_fails("[]:4433", "\"[]:4433\" has no address (want "
	    "IPV4:PORT or [IPV6]:PORT)");
	listener_fails("::1:4433", "\"::1\" is not an IPv4 address or an "
	    "IPv6 one in brackets");
	listener_fails("localhost:4433", "\"localhost\" is not an IPv4 "
	    "address or an IPv6 one in brackets");
	listener_fails("[127.0.0.1]:4433", "\"127.0.0.1\" is not an IPv4 "
	    "address or an IPv6 one in brackets");
	listener_fails("1.2.3:4433", "\"1.2.3\" is not an IPv4 address or an "
	    "IPv6 one in brackets");
	set_fails("listen =\n", "t.conf:1: listen: must not be empty");
}
END_TEST


/* settings_sockaddr gives family, port and address text of v. */
static void
sockaddr_is(const char *v, int family, int port, const char *addr)
{
	struct sockaddr_storage	 ss;
	socklen_t		 len;
	char			 text[64], *why = NULL;
	const void		*a;

	ck_assert_msg(settings_sockaddr(v, &ss, &len, &why) == 0, "%s: %s",
	    v, why);
	ck_assert_int_eq(ss.ss_family, family);
	if (family == AF_INET) {
		ck_assert_uint_eq(len, sizeof(struct sockaddr_in));
		ck_assert_int_eq(ntohs(((struct sockaddr_in *)&ss)->sin_port),
		    port);
		a = &((struct sockaddr_in *)&ss)->sin_addr;
	} else {
		ck_assert_uint_eq(len, sizeof(struct sockaddr_in6));
		ck_assert_int_eq(ntohs(((struct sockaddr_in6 *)&ss)->sin6_port),
		    port);
		a = &((struct sockaddr_in6 *)&ss)->sin6_addr;
	}
	ck_assert_ptr_nonnull(inet_ntop(family, a, text, sizeof text));
	ck_assert_str_eq(text, addr);
	value_ok("listen", v);
	value_ok("stun_listen", v);
}

START_TEST(test_listen_good)
{
	sockaddr_is("127.0.0.1:4433", AF_INET, 4433, "127.0.0.1");
	sockaddr_is("0.0.0.0:1", AF_INET, 1, "0.0.0.0");
	sockaddr_is("10.1.2.3:65535", AF_INET, 65535, "10.1.2.3");
	sockaddr_is("192.0.2.1:00443", AF_INET, 443, "192.0.2.1");
	sockaddr_is("[::]:4433", AF_INET6, 4433, "::");
	sockaddr_is("[::1]:3478", AF_INET6, 3478, "::1");
	sockaddr_is("[2001:db8::5]:443", AF_INET6, 443, "2001:db8::5");
	sockaddr_is("[::ffff:192.0.2.1]:80", AF_INET6, 80,
	    "::ffff:192.0.2.1");
	value_ok("stun_listen", "");
}
END_TEST


/* settings_metrics_addr gives host and port for v, which parses. */
static void
metrics_is(const char *v, const char *host, int port)
{
	char	*h = NULL, *why = NULL;
	int	 p = 0;

	ck_assert_msg(settings_metrics_addr(v, &h, &p, &why) == 0, "%s: %s",
	    v, why);
	ck_assert_str_eq(h, host);
	ck_assert_int_eq(p, port);
	free(h);
	value_ok("metrics_listen", v);
}

START_TEST(test_metrics_listen)
{
	static const char *not_port[] = { "0", "65536", "99999", "abc",
	    "127.0.0.1", "9464x", "+9464", "localhost" };
	char	 why[128];
	size_t	 i;

	metrics_is("9464", "127.0.0.1", 9464);
	metrics_is("1", "127.0.0.1", 1);
	metrics_is("127.0.0.1:9464", "127.0.0.1", 9464);
	metrics_is("0.0.0.0:65535", "0.0.0.0", 65535);
	metrics_is("[::1]:9464", "::1", 9464);
	metrics_is("::1:9464", "::1", 9464);
	metrics_is("localhost:9464", "localhost", 9464);
	value_ok("metrics_listen", "");
	for (i = 0; i < nitems(not_port); i++) {
		snprintf(why, sizeof why, "\"%s\" is not a port 1..65535 or "
		    "ADDRESS:PORT", not_port[i]);
		value_fails("metrics_listen", not_port[i], why);
	}
	value_fails("metrics_listen", "127.0.0.1:0",
	    "\"127.0.0.1:0\": the port is not 1..65535");
	value_fails("metrics_listen", "[::1]:65536",
	    "\"[::1]:65536\": the port is not 1..65535");
	value_fails("metrics_listen", ":9464",
	    "\":9464\" has no address (want PORT or ADDRESS:PORT)");
	value_fails("metrics_listen", "[::1]",
	    "\"[::1]\" has no port (want PORT or ADDRESS:PORT)");
	value_fails("metrics_listen", "[127.0.0.1]:9464",
	    "\"127.0.0.1\" is not an address or a host name");
	value_fails("metrics_listen", "no host:9464",
	    "\"no host\" is not an address or a host name");
	value_fails("metrics_listen", "1::2::3:9464",
	    "\"1::2::3\" is not an address or a host name");
}
END_TEST

/* keyspace_redis_addr gives host and port, or path, for v. */
static void
redis_is(const char *v, const char *host, int port, const char *path)
{
	char	*h, *p;
	int	 n;

	ck_assert_msg(keyspace_redis_addr(v, &h, &n, &p) == 0, "%s", v);
	if (host != NULL)
		ck_assert_str_eq(h, host);
	else
		ck_assert_ptr_null(h);
	if (path != NULL)
		ck_assert_str_eq(p, path);
	else
		ck_assert_ptr_null(p);
	ck_assert_int_eq(n, port);
	free(h);
	free(p);
	value_ok("redis", v);
}

/* redis = v is refused for reason, by the file and keyspace_redis_addr. */
static void
redis_fails(const char *v, const char *reason)
{
	char	*h, *p;
	int	 n;

	ck_assert_int_eq(keyspace_redis_addr(v, &h, &n, &p), -1);
	ck_assert_ptr_null(h);
	ck_assert_ptr_null(p);
	value_fails("redis", v, reason);
}

START_TEST(test_redis)
{
	redis_is("127.0.0.1:6379", "127.0.0.1", 6379, NULL);
	redis_is("redis.example.org:6380", "redis.example.org", 6380, NULL);
	redis_is("[::1]:6379", "::1", 6379, NULL);
	redis_is("unix:/run/redis-tryst/redis.sock", NULL, 0,
	    "/run/redis-tryst/redis.sock");
	redis_fails("nohost", "\"nohost\" has no port (want HOST:PORT or "
	    "unix:/PATH)");
	redis_fails("127.0.0.1:0", "\"127.0.0.1:0\": the port is not "
	    "1..65535");
	redis_fails("127.0.0.1:65536", "\"127.0.0.1:65536\": the port is not "
	    "1..65535");
	redis_fails("localhost:http", "\"localhost:http\": the port is not "
	    "1..65535");
	redis_fails(":6379", "\":6379\" has no address (want HOST:PORT or "
	    "unix:/PATH)");
	redis_fails("unix:", "\"unix:\": the socket path must be absolute");
	redis_fails("unix:redis.sock", "\"unix:redis.sock\": the socket path "
	    "must be absolute");
	redis_fails("redis/x:6379", "\"redis/x\" is not an address or a host "
	    "name");
	set_fails("redis =\n", "t.conf:1: redis: must not be empty");
}
END_TEST

START_TEST(test_verification_line)
{
	value_fails("verification", "smtp:x", "\"smtp:x\" is not socket:PATH, "
	    "dev:FILE or exec:PROGRAM");
	value_fails("verification", "dev:", "\"dev:\" is not socket:PATH, "
	    "dev:FILE or exec:PROGRAM");
	value_fails("verification", "exec", "\"exec\" is not socket:PATH, "
	    "dev:FILE or exec:PROGRAM");
	value_ok("verification", "dev:/tmp/codes");
	value_ok("verification", "exec:/usr/bin/send");
	value_ok("verification", "socket:/run/tryst-deliver/deliver.sock");
	value_fails("verification", "socket:run/x", "socket:PATH needs an "
	    "absolute path shorter than 108 bytes, not \"run/x\"");
	/* Not set is refused by settings_check, without a line. */
	value_ok("verification", "");
}
END_TEST

START_TEST(test_batch_line)
{
	set_fails("code_digits = 8\ndiscovery_bucket = 10\n",
	    "t.conf:2: discovery_bucket: 10 is less than max_batch (1024)");
	set_fails("max_batch = 64\n\ndiscovery_bucket = 10\n",
	    "t.conf:1: max_batch: 64 is more than discovery_bucket (10)");
	set_fails("discovery_bucket = 10\nmax_batch = 64\n",
	    "t.conf:1: discovery_bucket: 10 is less than max_batch (64)");
	set_ok("discovery_bucket = 10\nmax_batch = 10\n");
	set_ok("max_batch = 10\ndiscovery_bucket = 10\n");
}
END_TEST

/* settings_load on text; the cause after the file's name, or NULL. */
static char *
load_text(struct settings *s, const char *text)
{
	char	*path, *cause = NULL, *tail = NULL;

	path = unit_temp_file(text);
	if (settings_load(s, path, &cause) != 0) {
		ck_assert_ptr_eq(strstr(cause, path), cause);
		tail = xstrdup(cause + strlen(path));
		free(cause);
	}
	unlink(path);
	free(path);
	return (tail);
}

START_TEST(test_settings_load_addrs)
{
	struct settings		 s;
	struct sockaddr_in6	*s6 = (struct sockaddr_in6 *)&s.stun_addr;
	struct sockaddr_in	*s4 = (struct sockaddr_in *)&s.listen_addr;
	char			*tail;

	tail = load_text(&s, "verification = dev:/tmp/c\n"
	    "listen = 127.0.0.1:4500\nstun_listen = [::1]:3478\n");
	ck_assert_msg(tail == NULL, "%s", tail);
	ck_assert_int_eq(s4->sin_family, AF_INET);
	ck_assert_int_eq(ntohs(s4->sin_port), 4500);
	ck_assert_uint_eq(ntohl(s4->sin_addr.s_addr), 0x7f000001);
	ck_assert_uint_eq(s.listen_len, sizeof *s4);
	ck_assert_int_eq(s6->sin6_family, AF_INET6);
	ck_assert_int_eq(ntohs(s6->sin6_port), 3478);
	ck_assert(IN6_IS_ADDR_LOOPBACK(&s6->sin6_addr));
	ck_assert_uint_eq(s.stun_len, sizeof *s6);
	settings_free(&s);

	tail = load_text(&s, "verification = dev:/tmp/c\n");
	ck_assert_msg(tail == NULL, "%s", tail);
	ck_assert_uint_eq(s.stun_len, 0);
	ck_assert_int_eq(ntohs(s4->sin_port), 4433);
	settings_free(&s);

	/* What trystd -t, start and SIGHUP read: refused with the line. */
	tail = load_text(&s, "verification = dev:/tmp/c\n"
	    "listen = 127.0.0.1\n");
	ck_assert_str_eq(tail, ":2: listen: \"127.0.0.1\" has no port (want "
	    "IPV4:PORT or [IPV6]:PORT)");
	free(tail);
	tail = load_text(&s, "redis = nohost\nverification = dev:/tmp/c\n");
	ck_assert_str_eq(tail, ":1: redis: \"nohost\" has no port (want "
	    "HOST:PORT or unix:/PATH)");
	free(tail);
	tail = load_text(&s, "\nverification = smtp:x\n");
	ck_assert_str_eq(tail, ":2: verification: \"smtp:x\" is not "
	    "socket:PATH, dev:FILE or exec:PROGRAM");
	free(tail);
	ck_assert_ptr_null(s.listen);
}
END_TEST

START_TEST(test_check_addrs)
{
	struct settings	 s;

	good_settings(&s);
	free(s.listen);
	s.listen = xstrdup("127.0.0.1:99999");
	check_fails(&s, "listen: \"127.0.0.1:99999\": the port is not "
	    "1..65535");
	free(s.listen);
	s.listen = xstrdup("127.0.0.1:4433");
	free(s.redis);
	s.redis = xstrdup("nohost");
	check_fails(&s, "redis: \"nohost\" has no port (want HOST:PORT or "
	    "unix:/PATH)");
	settings_free(&s);
}
END_TEST

/* ---- the keys of nodes ------------------------------------------------ */

#define NODE_FORM	"is not 1..64 of A-Z, a-z, 0-9, \".\", \"_\" and \"-\""

START_TEST(test_node_name)
{
	static const char *bad[] = { "node 1", "a/b", "a:b", "{a}", "a*",
	    "a\"b", "tryst:node:x" };
	char	 name[80], why[160];
	size_t	 i;

	value_ok("node_name", "a");
	value_ok("node_name", "node-1.example_org");
	value_ok("node_name", "");
	memset(name, 'n', 64);
	name[64] = '\0';
	value_ok("node_name", name);
	name[64] = 'n';
	name[65] = '\0';
	snprintf(why, sizeof why, "\"%s\" " NODE_FORM, name);
	value_fails("node_name", name, why);
	for (i = 0; i < nitems(bad); i++) {
		snprintf(why, sizeof why, "\"%s\" " NODE_FORM, bad[i]);
		value_fails("node_name", bad[i], why);
	}
}
END_TEST

START_TEST(test_node_default)
{
	static const char *bad[] = { "", "my host", "h\xc3\xb4te", "a:b" };
	struct settings	 s;
	char		 host[256], big[80], *name, *why = NULL, *tail;
	char		 want[200];
	size_t		 i;

	name = settings_node_default("host-1.example.org", &why);
	ck_assert_str_eq(name, "host-1.example.org");
	free(name);
	memset(big, 'h', 65);
	big[65] = '\0';
	ck_assert_ptr_null(settings_node_default(big, &why));
	snprintf(want, sizeof want, "node_name: the host name \"%s\" %s; set "
	    "node_name", big, NODE_FORM);
	ck_assert_str_eq(why, want);
	free(why);
	for (i = 0; i < nitems(bad); i++) {
		ck_assert_ptr_null(settings_node_default(bad[i], &why));
		ck_assert_msg(strstr(why, "; set node_name") != NULL &&
		    strncmp(why, "node_name: the host name \"", 26) == 0,
		    "%s", why);
		free(why);
	}
	ck_assert_ptr_null(settings_node_default("my host", &why));
	ck_assert_str_eq(why, "node_name: the host name \"my host\" is not "
	    "1..64 of A-Z, a-z, 0-9, \".\", \"_\" and \"-\"; set node_name");
	free(why);

	/* settings_load: node_name empty is this host's name, or, when that
	 * is no node name, an error that says to set it. */
	ck_assert_int_eq(gethostname(host, sizeof host), 0);
	host[sizeof host - 1] = '\0';
	name = settings_node_default(host, &why);
	tail = load_text(&s, "verification = dev:/tmp/c\n");
	if (name != NULL) {
		ck_assert_msg(tail == NULL, "%s", tail);
		ck_assert_str_eq(s.node_name, name);
		settings_free(&s);
	} else {
		snprintf(want, sizeof want, ": %s", why);
		ck_assert_str_eq(tail, want);
		free(tail);
		free(why);
	}
	free(name);
	tail = load_text(&s, "verification = dev:/tmp/c\nnode_name = n-2\n");
	ck_assert_msg(tail == NULL, "%s", tail);
	ck_assert_str_eq(s.node_name, "n-2");
	settings_free(&s);
}
END_TEST

START_TEST(test_relay_endpoint)
{
	struct settings	 s;
	char		 v[300], want[300], *tail;
	static const char *cl = "verification = dev:/tmp/c\n"
	    "redis = cluster:127.0.0.1:7000\n";
	static const char *unreachable = " is no address that the clients "
	    "of other nodes can reach; on a cluster set it to this node's "
	    "HOST:PORT";

	/* On a cluster the endpoint must name this node, default or not. */
	snprintf(v, sizeof v, "%slisten = [::]:4433\n", cl);
	tail = load_text(&s, v);
	snprintf(want, sizeof want, ": relay_endpoint: \"[::]:4433\"%s",
	    unreachable);
	ck_assert_str_eq(tail, want);
	free(tail);
	snprintf(v, sizeof v, "%slisten = 0.0.0.0:4433\nrelay_listen = "
	    "0.0.0.0:4434\n", cl);
	tail = load_text(&s, v);
	ck_assert_ptr_nonnull(tail);
	ck_assert_ptr_nonnull(strstr(tail, "\"0.0.0.0:4434\""));
	ck_assert_ptr_nonnull(strstr(tail, unreachable));
	free(tail);
	snprintf(v, sizeof v, "%slisten = [::]:4433\nrelay_endpoint = "
	    "a.example.org:4433\n", cl);
	tail = load_text(&s, v);
	ck_assert_msg(tail == NULL, "%s", tail);
	settings_free(&s);
	snprintf(v, sizeof v, "%slisten = 127.0.0.1:4433\n", cl);
	tail = load_text(&s, v);
	ck_assert_msg(tail == NULL, "%s", tail);
	ck_assert_str_eq(s.relay_endpoint, "127.0.0.1:4433");
	settings_free(&s);
	/* One node on its own Redis: the client's server is the relay. */
	tail = load_text(&s, "verification = dev:/tmp/c\nlisten = [::]:1\n");
	ck_assert_msg(tail == NULL, "%s", tail);
	settings_free(&s);

	value_ok("relay_endpoint", "tryst.example.org:4433");
	value_ok("relay_endpoint", "192.0.2.1:443");
	value_ok("relay_endpoint", "[2001:db8::1]:4433");
	value_ok("relay_endpoint", "n1:1");
	value_ok("relay_endpoint", "");
	value_fails("relay_endpoint", "tryst.example.org",
	    "\"tryst.example.org\" has no port (want HOST:PORT or "
	    "[IPV6]:PORT)");
	value_fails("relay_endpoint", "tryst.example.org:0",
	    "\"tryst.example.org:0\": the port is not 1..65535");
	value_fails("relay_endpoint", ":4433",
	    "\":4433\" has no address (want HOST:PORT or [IPV6]:PORT)");
	value_fails("relay_endpoint", "bad host:4433",
	    "\"bad host\" is not an address or a host name");
	value_fails("relay_endpoint", "[n1.example.org]:4433",
	    "\"n1.example.org\" is not an address or a host name");
	value_fails("relay_endpoint", "2001:db8::1:4433",
	    "\"2001:db8::1:4433\": an IPv6 address goes in brackets");
	/* INCOMING and ANSWER carry at most 255 bytes. */
	memset(v, 'a', 250);
	snprintf(v + 250, sizeof v - 250, ":4433");
	value_ok("relay_endpoint", v);
	snprintf(v + 250, sizeof v - 250, "a:4433");
	value_fails("relay_endpoint", v, "longer than 255 bytes");
}
END_TEST

START_TEST(test_relay_listen)
{
	struct settings		 s;
	struct sockaddr_in	*r4 = (struct sockaddr_in *)&s.relay_addr;
	char			*tail;

	value_ok("relay_listen", "127.0.0.1:4434");
	value_ok("relay_listen", "[::1]:4433");
	value_ok("relay_listen", "");
	value_fails("relay_listen", "127.0.0.1:4433", "is listen's address; "
	    "it needs one of its own");
	set_fails("listen = [::1]:5000\nrelay_listen = [::1]:5000\n",
	    "t.conf:2: relay_listen: is listen's address; it needs one of "
	    "its own");
	set_fails("relay_listen = [::1]:5000\nlisten = [::1]:5000\n",
	    "t.conf:1: relay_listen: is listen's address; it needs one of "
	    "its own");
	good_settings(&s);
	free(s.relay_listen);
	s.relay_listen = xstrdup("127.0.0.1:4433");
	check_fails(&s, "relay_listen: is listen's address; it needs one of "
	    "its own");
	settings_free(&s);

	/* relay_endpoint is listen by default, relay_listen when set. */
	tail = load_text(&s, "verification = dev:/tmp/c\nnode_name = a\n");
	ck_assert_msg(tail == NULL, "%s", tail);
	ck_assert_str_eq(s.relay_endpoint, "127.0.0.1:4433");
	ck_assert_uint_eq(s.relay_len, 0);
	settings_free(&s);
	tail = load_text(&s, "verification = dev:/tmp/c\nnode_name = a\n"
	    "relay_listen = 127.0.0.2:4500\n");
	ck_assert_msg(tail == NULL, "%s", tail);
	ck_assert_str_eq(s.relay_endpoint, "127.0.0.2:4500");
	ck_assert_uint_eq(s.relay_len, sizeof *r4);
	ck_assert_int_eq(r4->sin_family, AF_INET);
	ck_assert_int_eq(ntohs(r4->sin_port), 4500);
	ck_assert_uint_eq(ntohl(r4->sin_addr.s_addr), 0x7f000002);
	settings_free(&s);
	tail = load_text(&s, "verification = dev:/tmp/c\nnode_name = a\n"
	    "relay_listen = [::]:4500\n"
	    "relay_endpoint = n1.example.org:4500\n");
	ck_assert_msg(tail == NULL, "%s", tail);
	ck_assert_str_eq(s.relay_endpoint, "n1.example.org:4500");
	ck_assert_str_eq(s.relay_listen, "[::]:4500");
	settings_free(&s);
}
END_TEST


static Suite *
settings_suite(void)
{
	Suite	*s = suite_create("settings");
	TCase	*tc = tcase_create("settings");

	tcase_add_test(tc, test_defaults);
	tcase_add_test(tc, test_table_covers_settings);
	tcase_add_test(tc, test_reload_flags);
	tcase_add_test(tc, test_written_lines_fit);
	tcase_add_test(tc, test_shipped_file);
	tcase_add_test(tc, test_check);
	tcase_add_test(tc, test_check_verification);
	tcase_add_test(tc, test_settings_load);
	tcase_add_test(tc, test_settings_load_addrs);
	tcase_add_test(tc, test_check_addrs);
	suite_add_tcase(s, tc);

	tc = tcase_create("addresses");
	tcase_add_test(tc, test_listen_bad);
	tcase_add_test(tc, test_listen_good);
	tcase_add_test(tc, test_metrics_listen);
	tcase_add_test(tc, test_redis);
	tcase_add_test(tc, test_verification_line);
	tcase_add_test(tc, test_batch_line);
	suite_add_tcase(s, tc);

	tc = tcase_create("nodes");
	tcase_add_test(tc, test_node_name);
	tcase_add_test(tc, test_node_default);
	tcase_add_test(tc, test_relay_endpoint);
	tcase_add_test(tc, test_relay_listen);
	suite_add_tcase(s, tc);
	return (s);
}

int
main(int argc, char **argv)
{
	if (argc == 2 && strcmp(argv[1], "--write-default") == 0) {
		conf_write_default(settings_table, stdout);
		return (fflush(stdout) == 0 ? 0 : 1);
	}
	return (unit_run(settings_suite()));
}
