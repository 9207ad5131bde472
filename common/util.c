/*
 * util.c -- memory that never returns NULL, hex and base64, small files.
 */
#include <sys/stat.h>

#include <errno.h>
#include <fcntl.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <unistd.h>

#include <sodium.h>

#include "common.h"

/* Allocate or die. */
void *
xmalloc(size_t size)
{
	void	*p;

	if (size == 0)
		size = 1;
	if ((p = malloc(size)) == NULL)
		fatal("malloc %zu", size);
	return (p);
}

/* Allocate zeroed memory or die. */
void *
xcalloc(size_t n, size_t size)
{
	void	*p;

	if (n == 0 || size == 0)
		n = size = 1;
	if ((p = calloc(n, size)) == NULL)
		fatal("calloc %zu*%zu", n, size);
	return (p);
}

/* Resize or die. */
void *
xrealloc(void *old, size_t size)
{
	void	*p;

	if (size == 0)
		size = 1;
	if ((p = realloc(old, size)) == NULL)
		fatal("realloc %zu", size);
	return (p);
}

/* Copy a string or die. */
char *
xstrdup(const char *s)
{
	char	*p;

	if ((p = strdup(s)) == NULL)
		fatal("strdup");
	return (p);
}

/* Format into a new string or die. */
int
xasprintf(char **ret, const char *fmt, ...)
{
	va_list	 ap;
	int	 n;

	va_start(ap, fmt);
	n = vasprintf(ret, fmt, ap);
	va_end(ap);
	if (n < 0)
		fatal("vasprintf");
	return (n);
}

/* Lowercase hex of a byte string. */
void
hex_encode(char *out, const uint8_t *in, size_t len)
{
	static const char digits[] = "0123456789abcdef";
	size_t		 i;

	for (i = 0; i < len; i++) {
		out[2 * i] = digits[in[i] >> 4];
		out[2 * i + 1] = digits[in[i] & 0xf];
	}
	out[2 * len] = '\0';
}

/* Exactly outlen bytes of hex. */
int
hex_decode(uint8_t *out, size_t outlen, const char *in)
{
	size_t	 binlen;

	if (strlen(in) != 2 * outlen)
		return (-1);
	if (sodium_hex2bin(out, outlen, in, 2 * outlen, NULL, &binlen,
	    NULL) != 0 || binlen != outlen)
		return (-1);
	return (0);
}

/* Standard padded base64. Caller frees. */
char *
b64_encode(const uint8_t *in, size_t len)
{
	size_t	 n;
	char	*out;

	n = sodium_base64_encoded_len(len, sodium_base64_VARIANT_ORIGINAL);
	out = xmalloc(n);
	sodium_bin2base64(out, n, in, len, sodium_base64_VARIANT_ORIGINAL);
	return (out);
}

/* Exactly outlen bytes of standard padded base64, whitespace around. */
int
b64_decode(uint8_t *out, size_t outlen, const char *in)
{
	size_t		 len, binlen;
	const char	*end;

	while (*in == ' ' || *in == '\t' || *in == '\n' || *in == '\r')
		in++;
	len = strlen(in);
	while (len > 0 && (in[len - 1] == ' ' || in[len - 1] == '\t' ||
	    in[len - 1] == '\n' || in[len - 1] == '\r'))
		len--;
	if (len != sodium_base64_encoded_len(outlen,
	    sodium_base64_VARIANT_ORIGINAL) - 1)
		return (-1);
	if (sodium_base642bin(out, outlen, in, len, NULL, &binlen, &end,
	    sodium_base64_VARIANT_ORIGINAL) != 0)
		return (-1);
	if (binlen != outlen || end != in + len)
		return (-1);
	return (0);
}

/* Write all of a buffer to fd. */
static int
write_all(int fd, const void *data, size_t len)
{
	const uint8_t	*p = data;
	ssize_t		 n;

	while (len > 0) {
		n = write(fd, p, len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n <= 0)
			return (-1);
		p += n;
		len -= (size_t)n;
	}
	return (0);
}

/* Write a file atomically: temp file beside it, fsync, rename. */
int
file_write_atomic(const char *path, const void *data, size_t len,
    mode_t mode, int excl, char **cause)
{
	char	*tmp;
	int	 fd, saved;

	if (excl && access(path, F_OK) == 0) {
		xasprintf(cause, "%s: file exists", path);
		errno = EEXIST;
		return (-1);
	}
	xasprintf(&tmp, "%s.tmp.XXXXXX", path);
	if ((fd = mkstemp(tmp)) == -1) {
		xasprintf(cause, "%s: %s", tmp, strerror(errno));
		free(tmp);
		return (-1);
	}
	if (fchmod(fd, mode) == -1 || write_all(fd, data, len) == -1 ||
	    fsync(fd) == -1)
		goto fail;
	if (close(fd) == -1) {
		fd = -1;
		goto fail;
	}
	fd = -1;
	if (excl ? link(tmp, path) == -1 : rename(tmp, path) == -1)
		goto fail;
	if (excl)
		unlink(tmp);
	free(tmp);
	return (0);
fail:
	saved = errno;
	xasprintf(cause, "%s: %s", path, strerror(saved));
	if (fd != -1)
		close(fd);
	unlink(tmp);
	free(tmp);
	errno = saved;
	return (-1);
}

/* A larger buffer for file_read_small: what it held is copied, and the
 * old one wiped (it may hold a key) and freed. */
static char *
grow(char *buf, size_t len, size_t size)
{
	char	*nbuf = xmalloc(size);

	memcpy(nbuf, buf, len);
	sodium_memzero(buf, len);
	free(buf);
	return (nbuf);
}

/*
 * Read a small file whole. Caller frees. The buffer is about the size
 * fstat says (one byte more shows a file that grew; /proc's say 0), not
 * max: libtryst reads the contacts file, whose max is 4 MiB, on every
 * call.
 */
char *
file_read_small(const char *path, size_t max, size_t *lenp, char **cause)
{
	struct stat	 sb;
	char		*buf;
	size_t		 len = 0, cap;
	ssize_t		 n;
	int		 fd;

	if ((fd = open(path, O_RDONLY | O_CLOEXEC)) == -1) {
		xasprintf(cause, "%s: %s", path, strerror(errno));
		return (NULL);
	}
	/* cap bytes are read at most, and buf has room for a NUL more. */
	cap = fstat(fd, &sb) == 0 && sb.st_size > 0 && (uint64_t)sb.st_size <
	    max ? (size_t)sb.st_size + 1 : max < 4096 ? max + 1 : 4096;
	buf = xmalloc(cap + 1);
	for (;;) {
		if (len == cap) {
			cap = cap > max / 2 ? max + 1 : 2 * cap;
			buf = grow(buf, len, cap + 1);
		}
		n = read(fd, buf + len, cap - len);
		if (n == -1 && errno == EINTR)
			continue;
		if (n == -1) {
			xasprintf(cause, "%s: %s", path, strerror(errno));
			goto fail;
		}
		if (n == 0)
			break;
		len += (size_t)n;
		if (len > max) {
			xasprintf(cause, "%s: larger than %zu bytes", path,
			    max);
			goto fail;
		}
	}
	close(fd);
	buf[len] = '\0';
	if (lenp != NULL)
		*lenp = len;
	return (buf);
fail:
	close(fd);
	sodium_memzero(buf, cap + 1);
	free(buf);
	return (NULL);
}
