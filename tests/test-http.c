/*
 * test-http.c -- the metrics listener's request parser (server/http.c):
 * good heads with CRLF and bare LF, every truncation of each, bad methods,
 * versions, targets and fields, folding, NUL bytes and the size cap.
 */
#include <stdlib.h>
#include <string.h>

#include <check.h>

#include "server.h"
#include "unit.h"

/* http_parse of len bytes at s, in a buffer of exactly that size so that
 * AddressSanitizer sees a read past it. */
static int
parse_n(const char *s, size_t len, struct http_req *req)
{
	char	*copy = xmalloc(len > 0 ? len : 1);
	int	 r;

	memcpy(copy, s, len);
	r = http_parse(copy, len, req);
	free(copy);
	return (r);
}

/* The same for a string. */
static int
parse(const char *s, struct http_req *req)
{
	return (parse_n(s, strlen(s), req));
}

/* Every proper prefix of the len bytes at s, cut before its head ends at
 * end, may still become a request: HTTP_MORE. */
static void
check_prefixes_more(const char *s, size_t end)
{
	struct http_req	 req;
	size_t		 i;

	for (i = 0; i < end; i++)
		ck_assert_msg(parse_n(s, i, &req) == HTTP_MORE,
		    "prefix %zu of %s: %d", i, s, parse_n(s, i, &req));
}

/* Good heads: whole, they parse with the right fields; every proper prefix
 * is HTTP_MORE; bytes after the head are not part of it. */
START_TEST(test_good)
{
	static const struct {
		const char	*head;
		int		 method, minor;
		const char	*path;
	} good[] = {
		{ "GET /metrics HTTP/1.1\r\nHost: x\r\n\r\n", HTTP_GET, 1,
		    "/metrics" },
		{ "GET /metrics HTTP/1.0\r\n\r\n", HTTP_GET, 0, "/metrics" },
		{ "HEAD /healthz HTTP/1.1\r\n\r\n", HTTP_HEAD, 1, "/healthz" },
		{ "GET /healthz HTTP/1.1\n\n", HTTP_GET, 1, "/healthz" },
		{ "GET /metrics HTTP/1.1\nHost: x\r\nA: b\n\r\n", HTTP_GET, 1,
		    "/metrics" },
		{ "\r\n\nGET /metrics?x=1&y HTTP/1.1\r\n\r\n", HTTP_GET, 1,
		    "/metrics" },
		{ "GET / HTTP/1.1\r\nUser-Agent: Prometheus/2.42.0\r\n"
		    "Accept: text/plain;version=0.0.4;q=1,*/*;q=0.1\r\n"
		    "X-Prometheus-Scrape-Timeout-Seconds: 10\r\n"
		    "X-Empty:\r\nX-Tab:\t v \t\r\nX-Obs: \xc3\xa9\r\n\r\n",
		    HTTP_GET, 1, "/" },
		{ "GET /?q HTTP/1.1\r\n\r\n", HTTP_GET, 1, "/" },
		{ "GET //a/%20b~!$&'()*+,;=:@ HTTP/1.1\r\n\r\n", HTTP_GET, 1,
		    "//a/%20b~!$&'()*+,;=:@" },
	};
	struct http_req	 req;
	char		 buf[512];
	size_t		 i, n;

	for (i = 0; i < sizeof good / sizeof good[0]; i++) {
		n = strlen(good[i].head);
		ck_assert_msg(parse(good[i].head, &req) == 0, "%s",
		    good[i].head);
		ck_assert_int_eq(req.method, good[i].method);
		ck_assert_int_eq(req.minor, good[i].minor);
		ck_assert_str_eq(req.path, good[i].path);
		ck_assert_uint_eq(req.head_len, n);
		check_prefixes_more(good[i].head, n);
		/* Pipelined bytes, even NULs, are not the head's. */
		memcpy(buf, good[i].head, n);
		memcpy(buf + n, "\0\0GARBAGE\r\n", 11);
		ck_assert_int_eq(parse_n(buf, n + 11, &req), 0);
		ck_assert_uint_eq(req.head_len, n);
	}
}
END_TEST

/* Each bad head answers its status whole, and no prefix of it parses. */
static void
check_bad(const char *head, size_t len, int status)
{
	struct http_req	 req;
	size_t		 i;
	int		 r;

	r = parse_n(head, len, &req);
	ck_assert_msg(r == status, "%.*s: %d, not %d", (int)len, head, r,
	    status);
	for (i = 0; i < len; i++) {
		r = parse_n(head, i, &req);
		ck_assert_msg(r == HTTP_MORE || r == status || r == 400,
		    "prefix %zu of %.*s: %d", i, (int)len, head, r);
	}
}

/* check_bad of a literal, NUL bytes included. */
#define BAD(s, status)	check_bad((s), sizeof(s) - 1, (status))

/* Methods other than GET and HEAD: 405 when they are tokens, else 400. */
START_TEST(test_methods)
{
	static const char *const m405[] = { "POST", "PUT", "DELETE",
	    "OPTIONS", "TRACE", "CONNECT", "PATCH", "get", "Get", "head",
	    "GETS", "GE", "HEADER", "X-GET" };
	static const char *const m400[] = { "", "G T", "G\tT", "G(T",
	    "GE\x7fT", "GET\x01", "\xc3\xa9" };
	char	 buf[128];
	int	 i, n;

	for (i = 0; i < (int)(sizeof m405 / sizeof m405[0]); i++) {
		n = snprintf(buf, sizeof buf, "%s /metrics HTTP/1.1\r\n\r\n",
		    m405[i]);
		check_bad(buf, (size_t)n, 405);
	}
	for (i = 0; i < (int)(sizeof m400 / sizeof m400[0]); i++) {
		n = snprintf(buf, sizeof buf, "%s /metrics HTTP/1.1\r\n\r\n",
		    m400[i]);
		check_bad(buf, (size_t)n, 400);
	}
	BAD("G\0T /metrics HTTP/1.1\r\n\r\n", 400);
}
END_TEST

/* Versions: other HTTP/x.y are 505, anything else 400. */
START_TEST(test_versions)
{
	static const char *const v505[] = { "HTTP/2.0", "HTTP/1.2",
	    "HTTP/0.9", "HTTP/3.0", "HTTP/1.9" };
	static const char *const v400[] = { "HTTP/1", "HTTP/1.", "HTTP/11",
	    "http/1.1", "HTTP/1.1 ", "HTTP/1.10", "HTTP/a.b", "HTTP 1.1",
	    "HTTP/1,1", "", " HTTP/1.1", "HTTP/1.1\t", "HTTP/+1.1" };
	char	 buf[128];
	int	 i, n;

	for (i = 0; i < (int)(sizeof v505 / sizeof v505[0]); i++) {
		n = snprintf(buf, sizeof buf, "GET /metrics %s\r\n\r\n",
		    v505[i]);
		check_bad(buf, (size_t)n, 505);
	}
	for (i = 0; i < (int)(sizeof v400 / sizeof v400[0]); i++) {
		n = snprintf(buf, sizeof buf, "GET /metrics %s\r\n\r\n",
		    v400[i]);
		check_bad(buf, (size_t)n, 400);
	}
	/* HTTP/0.9's bare "GET /path". */
	BAD("GET /metrics\r\n\r\n", 400);
	BAD("GET\r\n\r\n", 400);
}
END_TEST

/* Targets: origin form only, visible ASCII, at most HTTP_MAX_TARGET. */
START_TEST(test_targets)
{
	static const char *const t400[] = { "metrics", "*",
	    "http://localhost/metrics", "/a\x01", "/a\x7f", "/\xc3\xa9", "",
	    "/a\tb" };
	struct http_req	 req;
	char		 buf[HTTP_MAX_TARGET + 64];
	int		 i, n;

	for (i = 0; i < (int)(sizeof t400 / sizeof t400[0]); i++) {
		n = snprintf(buf, sizeof buf, "GET %s HTTP/1.1\r\n\r\n",
		    t400[i]);
		check_bad(buf, (size_t)n, 400);
	}
	BAD("GET /a b HTTP/1.1\r\n\r\n", 400);
	BAD("GET  /metrics HTTP/1.1\r\n\r\n", 400);
	BAD("GET /a\0b HTTP/1.1\r\n\r\n", 400);
	/* The longest target, and one byte more. */
	memcpy(buf, "GET /", 5);
	memset(buf + 5, 'a', HTTP_MAX_TARGET - 1);
	n = HTTP_MAX_TARGET + 4;
	n += snprintf(buf + n, sizeof buf - (size_t)n, " HTTP/1.1\r\n\r\n");
	ck_assert_int_eq(parse_n(buf, (size_t)n, &req), 0);
	ck_assert_uint_eq(strlen(req.path), HTTP_MAX_TARGET);
	memcpy(buf, "GET /", 5);
	memset(buf + 5, 'a', HTTP_MAX_TARGET);
	n = HTTP_MAX_TARGET + 5;
	n += snprintf(buf + n, sizeof buf - (size_t)n, " HTTP/1.1\r\n\r\n");
	ck_assert_int_eq(parse_n(buf, (size_t)n, &req), 414);
}
END_TEST

/* Header fields: NAME ":" VALUE; no folding, no controls, no NUL. */
START_TEST(test_fields)
{
	static const char *const f400[] = { "NoColon", ": empty name",
	    "Name : space before colon", "Na me: x", "N\x01: x", "N: a\x01",
	    "N: a\x7f", " folded: x", "\tfolded: x", "(N): x", "N\xc3: x" };
	char	 buf[256];
	int	 i, n;

	for (i = 0; i < (int)(sizeof f400 / sizeof f400[0]); i++) {
		n = snprintf(buf, sizeof buf, "GET /metrics HTTP/1.1\r\n"
		    "Host: x\r\n%s\r\n\r\n", f400[i]);
		check_bad(buf, (size_t)n, 400);
	}
	/* Obsolete line folding after a field, with CRLF and LF. */
	BAD("GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n", 400);
	BAD("GET / HTTP/1.1\nA: b\n\tc\n\n", 400);
	/* A NUL in a name or a value. */
	BAD("GET / HTTP/1.1\r\nA\0: b\r\n\r\n", 400);
	BAD("GET / HTTP/1.1\r\nA: \0\r\n\r\n", 400);
	BAD("GET / HTTP/1.1\r\n\0\r\n\r\n", 400);
}
END_TEST

/* Line ends: CRLF or LF; a CR elsewhere is refused at once. */
START_TEST(test_line_ends)
{
	struct http_req	 req;

	ck_assert_int_eq(parse("GET / HTTP/1.1\n\n", &req), 0);
	ck_assert_int_eq(parse("GET / HTTP/1.1\r\n\r\n", &req), 0);
	ck_assert_int_eq(parse("GET / HTTP/1.1\r\n\n", &req), 0);
	ck_assert_int_eq(parse("GET / HTTP/1.1\n\r\n", &req), 0);
	BAD("GET / HTTP/1.1\r\r\n\r\n", 400);
	BAD("GET / HTTP/1.1\rX: y\r\n\r\n", 400);
	BAD("GET / HTTP/1.1\r\nA: b\rc\r\n\r\n", 400);
	BAD("GET / HTTP/1.1\r\n\r\r\n", 400);
	BAD("\rGET / HTTP/1.1\r\n\r\n", 400);
	/* A CR may be the last byte so far: its LF may follow. */
	ck_assert_int_eq(parse("GET / HTTP/1.1\r", &req), HTTP_MORE);
	ck_assert_int_eq(parse("GET / HTTP/1.1\r\n\r", &req), HTTP_MORE);
	/* A bad line is refused before the head ends. */
	ck_assert_int_eq(parse("POST / HTTP/1.1\r\n", &req), 405);
	ck_assert_int_eq(parse("GET / HTTP/1.1\r\n folded\r\n", &req), 400);
}
END_TEST

/* A head of n bytes (n > 32): the request line, one field of 'a's and
 * the empty line. Caller frees. */
static char *
head_of(size_t n)
{
	static const char	 line[] = "GET /metrics HTTP/1.1\r\nX: ";
	char			*b = xmalloc(n);
	size_t			 off = strlen(line);

	memcpy(b, line, off);
	memset(b + off, 'a', n - off - 4);
	memcpy(b + n - 4, "\r\n\r\n", 4);
	return (b);
}

/* The cap: a head of exactly HTTP_MAX_HEAD bytes passes, one more is
 * 431, and a request line that never ends is 414; past the cap no byte
 * is read. */
START_TEST(test_cap)
{
	static char	 big[4 * HTTP_MAX_HEAD];
	struct http_req	 req;
	char		*b;
	size_t		 n;

	b = head_of(HTTP_MAX_HEAD);
	ck_assert_int_eq(parse_n(b, HTTP_MAX_HEAD, &req), 0);
	ck_assert_uint_eq(req.head_len, HTTP_MAX_HEAD);
	check_prefixes_more(b, HTTP_MAX_HEAD);
	free(b);
	b = head_of(HTTP_MAX_HEAD + 1);
	ck_assert_int_eq(parse_n(b, HTTP_MAX_HEAD + 1, &req), 431);
	ck_assert_int_eq(parse_n(b, HTTP_MAX_HEAD, &req), 431);
	ck_assert_int_eq(parse_n(b, HTTP_MAX_HEAD - 1, &req), HTTP_MORE);
	free(b);
	/* Header lines that never end: 431 at the cap, whatever follows
	 * (http_parse is handed a buffer of HTTP_MAX_HEAD bytes only). */
	n = sizeof big;
	b = big;
	memset(b, 'a', n);
	memcpy(b, "GET / HTTP/1.1\r\nX: ", 19);
	ck_assert_int_eq(parse_n(b, HTTP_MAX_HEAD - 1, &req), HTTP_MORE);
	ck_assert_int_eq(parse_n(b, HTTP_MAX_HEAD, &req), 431);
	b[HTTP_MAX_HEAD] = '\n';
	ck_assert_int_eq(http_parse(b, n, &req), 431);
	/* A request line that never ends. */
	memcpy(b, "GET /", 5);
	memset(b + 5, 'a', n - 5);
	ck_assert_int_eq(parse_n(b, HTTP_MAX_HEAD, &req), 414);
	/* Empty lines forever. */
	memset(b, '\n', n);
	ck_assert_int_eq(parse_n(b, HTTP_MAX_HEAD - 1, &req), HTTP_MORE);
	ck_assert_int_ne(parse_n(b, HTTP_MAX_HEAD, &req), HTTP_MORE);
	ck_assert_int_ne(parse_n(b, HTTP_MAX_HEAD, &req), 0);
}
END_TEST

/* Every status the listener answers has its phrase. */
START_TEST(test_reasons)
{
	ck_assert_str_eq(http_reason(200), "OK");
	ck_assert_str_eq(http_reason(400), "Bad Request");
	ck_assert_str_eq(http_reason(404), "Not Found");
	ck_assert_str_eq(http_reason(405), "Method Not Allowed");
	ck_assert_str_eq(http_reason(414), "URI Too Long");
	ck_assert_str_eq(http_reason(431), "Request Header Fields Too Large");
	ck_assert_str_eq(http_reason(503), "Service Unavailable");
	ck_assert_str_eq(http_reason(505), "HTTP Version Not Supported");
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("http");
	TCase	*tc = tcase_create("http");

	tcase_add_test(tc, test_good);
	tcase_add_test(tc, test_methods);
	tcase_add_test(tc, test_versions);
	tcase_add_test(tc, test_targets);
	tcase_add_test(tc, test_fields);
	tcase_add_test(tc, test_line_ends);
	tcase_add_test(tc, test_cap);
	tcase_add_test(tc, test_reasons);
	suite_add_tcase(s, tc);
	return (unit_run(s));
}
