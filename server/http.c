/*
 * http.c -- the request head of the metrics listener, parsed without
 * sockets: a request line and header lines (RFC 9112), GET and HEAD only,
 * HTTP/1.0 and 1.1, within HTTP_MAX_HEAD bytes. Pure, so that the unit
 * tests and the fuzzer drive it with bytes alone.
 */
#include <string.h>

#include "server.h"

/* A byte of a token (RFC 9110 §5.6.2): a method or a field name. */
static int
tchar(unsigned char ch)
{
	if (ch >= '0' && ch <= '9')
		return (1);
	if ((ch | 0x20) >= 'a' && (ch | 0x20) <= 'z')
		return (1);
	return (ch != '\0' && strchr("!#$%&'*+-.^_`|~", ch) != NULL);
}

/* A byte of a field value: visible, space, tab or obs-text. */
static int
vchar(unsigned char ch)
{
	return (ch == ' ' || ch == '\t' || (ch > 0x20 && ch != 0x7f));
}

/* The method of the len bytes at p: HTTP_GET, HTTP_HEAD, or -1 with the
 * status to answer in *status. */
static int
parse_method(const char *p, size_t len, int *status)
{
	size_t	 i;

	for (i = 0; i < len; i++) {
		if (!tchar((unsigned char)p[i])) {
			*status = 400;
			return (-1);
		}
	}
	if (len == 3 && memcmp(p, "GET", 3) == 0)
		return (HTTP_GET);
	if (len == 4 && memcmp(p, "HEAD", 4) == 0)
		return (HTTP_HEAD);
	*status = len == 0 ? 400 : 405;
	return (-1);
}

/* The minor version of "HTTP/1.x" at p; -1 with *status. */
static int
parse_version(const char *p, size_t len, int *status)
{
	*status = 400;
	if (len != 8 || memcmp(p, "HTTP/", 5) != 0 || p[6] != '.' ||
	    p[5] < '0' || p[5] > '9' || p[7] < '0' || p[7] > '9')
		return (-1);
	if (p[5] != '1' || (p[7] != '0' && p[7] != '1')) {
		*status = 505;
		return (-1);
	}
	return (p[7] - '0');
}

/* The request line (without its end): METHOD SP TARGET SP VERSION, single
 * spaces. 0, or the status to answer: a line of the wrong form is 400
 * before its method or version is judged. */
static int
parse_request_line(const char *p, size_t len, struct http_req *req)
{
	const char	*sp1, *sp2;
	size_t		 tlen, plen, i;
	int		 status;

	if ((sp1 = memchr(p, ' ', len)) == NULL)
		return (400);
	if ((sp2 = memchr(sp1 + 1, ' ', len - (size_t)(sp1 + 1 - p))) == NULL)
		return (400);
	if ((req->minor = parse_version(sp2 + 1,
	    len - (size_t)(sp2 + 1 - p), &status)) == -1)
		return (status);
	tlen = (size_t)(sp2 - sp1 - 1);
	if (tlen == 0 || sp1[1] != '/')
		return (400);
	for (i = 0; i < tlen; i++) {
		if ((unsigned char)sp1[1 + i] <= 0x20 ||
		    (unsigned char)sp1[1 + i] >= 0x7f)
			return (400);
	}
	if ((req->method = parse_method(p, (size_t)(sp1 - p), &status)) == -1)
		return (status);
	if (tlen > HTTP_MAX_TARGET)
		return (414);
	for (plen = 0; plen < tlen && sp1[1 + plen] != '?'; plen++)
		;
	memcpy(req->path, sp1 + 1, plen);
	req->path[plen] = '\0';
	return (0);
}

/* A header line (without its end): NAME ":" OWS VALUE OWS. Lines that
 * continue the one before (obsolete folding) are refused, as RFC 9112
 * §5.2 allows. 0, or 400. */
static int
parse_field(const char *p, size_t len)
{
	const char	*colon;
	size_t		 i;

	if ((colon = memchr(p, ':', len)) == NULL || colon == p)
		return (400);
	for (i = 0; p + i < colon; i++)
		if (!tchar((unsigned char)p[i]))
			return (400);
	for (i++; i < len; i++)
		if (!vchar((unsigned char)p[i]))
			return (400);
	return (0);
}

/* The next line of buf[off..len): its length without its end in *llen and
 * the offset after its end in *next. 0, 1 when no end came yet, or 400
 * for a CR not followed by LF. A line ends in CRLF or a bare LF. */
static int
next_line(const char *buf, size_t len, size_t off, size_t *llen,
    size_t *next)
{
	const char	*nl, *cr;

	nl = memchr(buf + off, '\n', len - off);
	cr = memchr(buf + off, '\r', (nl != NULL ? (size_t)(nl - buf) :
	    len) - off);
	if (cr != NULL && (cr + 1 != nl))
		return (cr + 1 == buf + len ? 1 : 400);
	if (nl == NULL)
		return (1);
	*llen = (size_t)((cr != NULL ? cr : nl) - (buf + off));
	*next = (size_t)(nl - buf) + 1;
	return (0);
}

/*
 * Parse the request head at the start of buf[0..len): 0 when it is whole
 * (req filled, req->head_len its bytes up to and including the empty
 * line), HTTP_MORE when it may still end within HTTP_MAX_HEAD bytes, else
 * the status of the error to answer (400, 405, 414, 431, 505). Bytes past
 * HTTP_MAX_HEAD are never looked at. Empty lines before the request line
 * are skipped (RFC 9112 §2.2).
 */
int
http_parse(const char *buf, size_t len, struct http_req *req)
{
	size_t	 off = 0, llen, next;
	int	 r, seen_line = 0;

	memset(req, 0, sizeof *req);
	if (len > HTTP_MAX_HEAD)
		len = HTTP_MAX_HEAD;
	for (;;) {
		if ((r = next_line(buf, len, off, &llen, &next)) == 400)
			return (400);
		if (r == 1) {
			if (len < HTTP_MAX_HEAD)
				return (HTTP_MORE);
			return (seen_line ? 431 : 414);
		}
		if (!seen_line && llen == 0) {
			off = next;
			continue;
		}
		if (!seen_line)
			r = parse_request_line(buf + off, llen, req);
		else if (llen == 0) {
			req->head_len = next;
			return (0);
		} else if (buf[off] == ' ' || buf[off] == '\t')
			r = 400;		/* folding */
		else
			r = parse_field(buf + off, llen);
		if (r != 0)
			return (r);
		seen_line = 1;
		off = next;
	}
}

/* The reason phrase of a status this listener answers with. */
const char *
http_reason(int status)
{
	switch (status) {
	case 200:
		return ("OK");
	case 400:
		return ("Bad Request");
	case 404:
		return ("Not Found");
	case 405:
		return ("Method Not Allowed");
	case 408:
		return ("Request Timeout");
	case 414:
		return ("URI Too Long");
	case 431:
		return ("Request Header Fields Too Large");
	case 503:
		return ("Service Unavailable");
	case 505:
		return ("HTTP Version Not Supported");
	}
	return ("Error");
}
