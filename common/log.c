/*
 * log.c -- lines on stderr with syslog priority prefixes.
 */
#include <errno.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

static int log_level = LOG_INFO;

static const char *level_names[] = {
	[LOG_ERR] = "err",
	[LOG_WARNING] = "warning",
	[LOG_NOTICE] = "notice",
	[LOG_INFO] = "info",
	[LOG_DEBUG] = "debug",
};

/* Set the lowest priority that is written. */
void
log_set_level(int level)
{
	log_level = level;
}

/* The lowest priority that is written. */
int
log_get_level(void)
{
	return (log_level);
}

/* A level name to its number. */
int
log_level_parse(const char *name)
{
	int	 i;

	for (i = LOG_ERR; i <= LOG_DEBUG; i++) {
		if (strcmp(name, level_names[i]) == 0)
			return (i);
	}
	return (-1);
}

/* A level's name. */
const char *
log_level_name(int level)
{
	if (level < LOG_ERR || level > LOG_DEBUG)
		return ("unknown");
	return (level_names[level]);
}

/* Write one line with a va_list. Keeps errno. */
void
log_vmsg(int pri, const char *fmt, va_list ap)
{
	char	 line[1024];
	int	 saved = errno;

	if (pri > log_level)
		return;
	vsnprintf(line, sizeof line, fmt, ap);
	fprintf(stderr, "<%d>%s\n", pri, line);
	errno = saved;
}

/* Write one line. Keeps errno. */
void
log_msg(int pri, const char *fmt, ...)
{
	va_list	 ap;

	va_start(ap, fmt);
	log_vmsg(pri, fmt, ap);
	va_end(ap);
}

/* Log with errno's text and exit. */
void
fatal(const char *fmt, ...)
{
	char	 line[1024];
	va_list	 ap;
	int	 saved = errno;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	fprintf(stderr, "<%d>fatal: %s: %s\n", LOG_CRIT, line,
	    strerror(saved));
	exit(1);
}

/* Log and exit. */
void
fatalx(const char *fmt, ...)
{
	char	 line[1024];
	va_list	 ap;

	va_start(ap, fmt);
	vsnprintf(line, sizeof line, fmt, ap);
	va_end(ap);
	fprintf(stderr, "<%d>fatal: %s\n", LOG_CRIT, line);
	exit(1);
}

/* Escape bytes a peer sent so that they cannot forge log lines. */
void
log_escape(char *dst, size_t dstlen, const uint8_t *src, size_t len)
{
	size_t	 i, o = 0;

	if (dstlen == 0)
		return;
	for (i = 0; i < len; i++) {
		if (src[i] >= 0x20 && src[i] < 0x7f && src[i] != '\\') {
			if (o + 1 >= dstlen)
				break;
			dst[o++] = (char)src[i];
		} else {
			if (o + 4 >= dstlen)
				break;
			snprintf(dst + o, 5, "\\x%02x", src[i]);
			o += 4;
		}
	}
	dst[o] = '\0';
}
