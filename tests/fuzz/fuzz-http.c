/*
 * fuzz-http.c -- the metrics listener's request parser (server/http.c),
 * which reads what anyone who reaches metrics_listen sends. The input is
 * the bytes received so far. The answer must be one of the parser's
 * results; a whole head must be well formed and end where it says; a
 * prefix of the input may only be incomplete or answer as the whole does;
 * nothing past HTTP_MAX_HEAD may change the answer.
 */
#include <stdlib.h>
#include <string.h>

#include "fuzz.h"
#include "server.h"

/* The result is one that http_parse may give. */
static void
check_result(int r, size_t size)
{
	switch (r) {
	case 0:
	case 400:
	case 405:
	case 414:
	case 431:
	case 505:
		return;
	case HTTP_MORE:
		if (size >= HTTP_MAX_HEAD)
			abort();
		return;
	}
	abort();
}

/* A whole head of data: its fields are those the listener relies on. */
static void
check_whole(const uint8_t *data, size_t size, const struct http_req *req)
{
	size_t	 i, plen = strlen(req->path);

	if (req->head_len < 16 || req->head_len > size ||
	    req->head_len > HTTP_MAX_HEAD || data[req->head_len - 1] != '\n')
		abort();
	if (req->method != HTTP_GET && req->method != HTTP_HEAD)
		abort();
	if (req->minor != 0 && req->minor != 1)
		abort();
	if (plen == 0 || plen > HTTP_MAX_TARGET || req->path[0] != '/')
		abort();
	for (i = 0; i < plen; i++)
		if (req->path[i] <= 0x20 || req->path[i] >= 0x7f ||
		    req->path[i] == '?')
			abort();
	if (strlen(http_reason(200)) == 0)
		abort();
}

/* http_parse of the first n bytes, in a buffer of exactly that size. */
static int
parse_prefix(const uint8_t *data, size_t n, struct http_req *req)
{
	char	*copy = malloc(n > 0 ? n : 1);
	int	 r;

	if (copy == NULL)
		abort();
	memcpy(copy, data, n);
	r = http_parse(copy, n, req);
	free(copy);
	return (r);
}

/* The first n bytes answer as the whole input (r, req) allows. */
static void
check_prefix(const uint8_t *data, size_t n, int r,
    const struct http_req *req)
{
	struct http_req	 p;
	int		 pr = parse_prefix(data, n, &p);

	if (r == 0 && n >= req->head_len) {
		if (pr != 0 || p.head_len != req->head_len ||
		    strcmp(p.path, req->path) != 0 || p.method != req->method)
			abort();
	} else if (r == 0) {
		if (pr != HTTP_MORE)
			abort();
	} else if (pr != HTTP_MORE && pr != r)
		abort();
}

/* Parse the input, then some of its prefixes and its first HTTP_MAX_HEAD
 * bytes alone. */
int
LLVMFuzzerTestOneInput(const uint8_t *data, size_t size)
{
	struct http_req	 req;
	size_t		 i, cut;
	int		 r;

	r = http_parse((const char *)data, size, &req);
	check_result(r, size);
	if (r == 0)
		check_whole(data, size, &req);
	if (size > HTTP_MAX_HEAD && parse_prefix(data, HTTP_MAX_HEAD,
	    &(struct http_req){ 0 }) != r)
		abort();
	cut = size > HTTP_MAX_HEAD ? HTTP_MAX_HEAD : size;
	for (i = 1; i <= 8 && i <= cut; i++)
		check_prefix(data, cut - i, r, &req);
	if (cut > 0)
		check_prefix(data, cut / 2, r, &req);
	if (r == 0 && req.head_len > 1)
		check_prefix(data, req.head_len - 1, r, &req);
	return (0);
}
