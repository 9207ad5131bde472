/*
 * conf.c -- "key = value" files, driven by a table of entries.
 *
 * The table gives each key its type, where it lives in the caller's
 * struct, its default and bounds, and one line of help. The parser, the
 * defaults and the documented default file are all made from it, so they
 * cannot disagree. Nothing here knows which program the table belongs to.
 */
#include <limits.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "common.h"

/* Largest file conf_load reads. */
#define CONF_MAX_FILE	(1024 * 1024)

/* Room for an escaped, truncated value quoted in a message. */
#define CONF_QUOTE	128

/* State of one conf_parse call. */
struct conf_parser {
	const struct conf_entry	*table;
	void			*dst;
	unsigned int		*line;	/* per entry: its line once set */
	unsigned int		 lineno;	/* of the line being read */
};

/* 1 for the blanks that surround keys and values. */
static int
is_blank(char c)
{
	return (c == ' ' || c == '\t' || c == '\r' || c == '\f' ||
	    c == '\v');
}

/* Narrow [*p, *p + *len) to drop blanks at both ends. */
static void
trim(const char **p, size_t *len)
{
	while (*len > 0 && is_blank(**p)) {
		(*p)++;
		(*len)--;
	}
	while (*len > 0 && is_blank((*p)[*len - 1]))
		(*len)--;
}

/* Escape v for a message into buf (CONF_QUOTE bytes). */
static const char *
quote(char *buf, const char *v, size_t len)
{
	log_escape(buf, CONF_QUOTE, (const uint8_t *)v, len);
	return (buf);
}

/* The table entry named key[0..len), or NULL. */
static const struct conf_entry *
find(const struct conf_entry *table, const char *key, size_t len)
{
	const struct conf_entry	*e;

	for (e = table; e->name != NULL; e++) {
		if (strlen(e->name) == len && memcmp(e->name, key, len) == 0)
			return (e);
	}
	return (NULL);
}

/* Cut a trailing "# comment" (a '#' first or after a blank) off a value. */
static void
cut_comment(const char *v, size_t *len)
{
	size_t	 i;

	for (i = 0; i < *len; i++) {
		if (v[i] == '#' && (i == 0 || is_blank(v[i - 1]))) {
			*len = i;
			break;
		}
	}
	trim(&v, len);
}

/*
 * Decimal digits to *out. -1 when v is not all digits (or is empty); 0 with
 * *overflow set when it does not fit a long long.
 */
static int
parse_decimal(const char *v, size_t len, long long *out, int *overflow)
{
	long long	 n = 0;
	int		 d;
	size_t		 i;

	*overflow = 0;
	if (len == 0)
		return (-1);
	for (i = 0; i < len; i++) {
		if (v[i] < '0' || v[i] > '9')
			return (-1);
		d = v[i] - '0';
		if (n > (LLONG_MAX - d) / 10)
			*overflow = 1;
		else
			n = n * 10 + d;
	}
	*out = n;
	return (0);
}

/* Check and store an integer value. 0, or -1 and *why. */
static int
set_int(const struct conf_entry *e, void *dst, const char *v, size_t len,
    char **why)
{
	char		 q[CONF_QUOTE];
	long long	 n;
	int		 overflow;

	cut_comment(v, &len);
	if (parse_decimal(v, len, &n, &overflow) != 0) {
		xasprintf(why, "%s: \"%s\" is not an integer", e->name,
		    quote(q, v, len));
		return (-1);
	}
	if (overflow || n < e->min || n > e->max) {
		xasprintf(why, "%s: %s is out of range %lld..%lld", e->name,
		    quote(q, v, len), e->min, e->max);
		return (-1);
	}
	memcpy((char *)dst + e->offset, &n, sizeof n);
	return (0);
}

/* Check and store a string value, freeing the one it replaces. */
static int
set_str(const struct conf_entry *e, void *dst, const char *v, size_t len,
    char **why)
{
	char	*s, *old;

	if (len == 0 && e->min > 0) {
		xasprintf(why, "%s: must not be empty", e->name);
		return (-1);
	}
	s = xmalloc(len + 1);
	memcpy(s, v, len);
	s[len] = '\0';
	memcpy(&old, (char *)dst + e->offset, sizeof old);
	free(old);
	memcpy((char *)dst + e->offset, &s, sizeof s);
	return (0);
}

/* Check and store a log level name. */
static int
set_level(const struct conf_entry *e, void *dst, const char *v, size_t len,
    char **why)
{
	char	 q[CONF_QUOTE], name[16];
	int	 level = -1;

	cut_comment(v, &len);
	if (len < sizeof name) {
		memcpy(name, v, len);
		name[len] = '\0';
		level = log_level_parse(name);
	}
	if (level == -1) {
		xasprintf(why, "%s: \"%s\" is not one of err, warning, notice, "
		    "info, debug", e->name, quote(q, v, len));
		return (-1);
	}
	memcpy((char *)dst + e->offset, &level, sizeof level);
	return (0);
}

/* Store v[0..len) (already trimmed) as e's value. 0, or -1 and *why. */
static int
set_value(const struct conf_entry *e, void *dst, const char *v, size_t len,
    char **why)
{
	switch (e->type) {
	case CONF_INT:
		return (set_int(e, dst, v, len, why));
	case CONF_STR:
		return (set_str(e, dst, v, len, why));
	case CONF_LEVEL:
		return (set_level(e, dst, v, len, why));
	}
	fatalx("conf: %s has unknown type %d", e->name, (int)e->type);
}

/* Parse one line (without its newline). 0, or -1 and *why. */
static int
parse_line(struct conf_parser *cp, const char *line, size_t len, char **why)
{
	const struct conf_entry	*e;
	const char		*eq, *key, *v;
	size_t			 klen, vlen;
	char			 q[CONF_QUOTE];

	if (memchr(line, '\0', len) != NULL) {
		*why = xstrdup("line contains a NUL byte");
		return (-1);
	}
	trim(&line, &len);
	if (len == 0 || line[0] == '#')
		return (0);
	if ((eq = memchr(line, '=', len)) == NULL || eq == line) {
		*why = xstrdup("expected \"key = value\"");
		return (-1);
	}
	key = line;
	klen = eq - line;
	trim(&key, &klen);
	v = eq + 1;
	vlen = line + len - v;
	trim(&v, &vlen);
	if ((e = find(cp->table, key, klen)) == NULL) {
		xasprintf(why, "unknown key \"%s\"", quote(q, key, klen));
		return (-1);
	}
	if (cp->line[e - cp->table] != 0) {
		xasprintf(why, "\"%s\" set twice", e->name);
		return (-1);
	}
	cp->line[e - cp->table] = cp->lineno;
	return (set_value(e, cp->dst, v, vlen, why));
}

/* The entry set on the earliest line after line "after", or NULL. */
static const struct conf_entry *
next_set(const struct conf_parser *cp, unsigned int after)
{
	const struct conf_entry	*e, *best = NULL;
	unsigned int		 l;

	for (e = cp->table; e->name != NULL; e++) {
		l = cp->line[e - cp->table];
		if (l > after && (best == NULL ||
		    l < cp->line[best - cp->table]))
			best = e;
	}
	return (best);
}

/* Run the check of each key the file set, in the order of their lines. */
static int
run_checks(const struct conf_parser *cp, const char *name, char **cause)
{
	const struct conf_entry	*e;
	unsigned int		 l = 0;
	char			*why = NULL;

	while ((e = next_set(cp, l)) != NULL) {
		l = cp->line[e - cp->table];
		if (e->check != NULL && e->check(cp->dst, &why) != 0) {
			xasprintf(cause, "%s:%u: %s: %s", name, l, e->name,
			    why);
			free(why);
			return (-1);
		}
	}
	return (0);
}

/* Parse text into dst, then run the checks; name is used in messages. */
int
conf_parse(const struct conf_entry *table, void *dst, const char *name,
    const char *text, size_t len, char **cause)
{
	struct conf_parser	 cp;
	const char		*p = text, *end = text + len, *nl;
	char			*why = NULL;
	size_t			 n = 0;
	int			 rc = 0;

	while (table[n].name != NULL)
		n++;
	cp.table = table;
	cp.dst = dst;
	cp.line = xcalloc(n + 1, sizeof *cp.line);
	for (cp.lineno = 1; p < end; cp.lineno++, p = nl + 1) {
		if ((nl = memchr(p, '\n', end - p)) == NULL)
			nl = end;
		if (parse_line(&cp, p, nl - p, &why) != 0) {
			xasprintf(cause, "%s:%u: %s", name, cp.lineno, why);
			free(why);
			rc = -1;
			break;
		}
	}
	if (rc == 0)
		rc = run_checks(&cp, name, cause);
	free(cp.line);
	return (rc);
}

/* Read path and parse it into dst. */
int
conf_load(const struct conf_entry *table, void *dst, const char *path,
    char **cause)
{
	char	*text;
	size_t	 len;
	int	 rc;

	if ((text = file_read_small(path, CONF_MAX_FILE, &len, cause)) == NULL)
		return (-1);
	rc = conf_parse(table, dst, path, text, len, cause);
	free(text);
	return (rc);
}

/* Die on a table that cannot be right: a programming error. */
static void
check_entry(const struct conf_entry *table, const struct conf_entry *e)
{
	if (e->def == NULL || e->help == NULL)
		fatalx("conf: %s lacks a default or help", e->name);
	if (e->type == CONF_INT && e->min > e->max)
		fatalx("conf: %s has min > max", e->name);
	if (find(table, e->name, strlen(e->name)) != e)
		fatalx("conf: %s is in the table twice", e->name);
}

/* Fill dst with every default of table, which must pass the checks. Old
 * strings are not freed. */
void
conf_defaults(const struct conf_entry *table, void *dst)
{
	const struct conf_entry	*e;
	char			*why = NULL, *null = NULL;

	for (e = table; e->name != NULL; e++) {
		check_entry(table, e);
		if (e->type == CONF_STR)
			memcpy((char *)dst + e->offset, &null, sizeof null);
		if (set_value(e, dst, e->def, strlen(e->def), &why) != 0)
			fatalx("conf: bad default: %s", why);
	}
	for (e = table; e->name != NULL; e++) {
		if (e->check != NULL && e->check(dst, &why) != 0)
			fatalx("conf: bad default: %s: %s", e->name, why);
	}
}

/* Free the strings of dst, leaving NULL behind. */
void
conf_free(const struct conf_entry *table, void *dst)
{
	const struct conf_entry	*e;
	char			*s, *null = NULL;

	for (e = table; e->name != NULL; e++) {
		if (e->type != CONF_STR)
			continue;
		memcpy(&s, (char *)dst + e->offset, sizeof s);
		free(s);
		memcpy((char *)dst + e->offset, &null, sizeof null);
	}
}

/* Write one entry: help, default and bounds, then the key line. */
static void
write_entry(const struct conf_entry *e, FILE *f)
{
	const char	*def = *e->def != '\0' ? e->def : "empty";
	const char	*reload = e->reload ? "yes" : "no";

	fprintf(f, "\n# %s\n", e->help);
	if (e->type == CONF_INT) {
		fprintf(f, "# default: %s, range %lld..%lld "
		    "(reload on SIGHUP: %s)\n", def, e->min, e->max, reload);
	} else
		fprintf(f, "# default: %s (reload on SIGHUP: %s)\n", def,
		    reload);
	fprintf(f, "%s%s =%s%s\n", e->must_set ? "" : "#", e->name,
	    *e->def != '\0' ? " " : "", e->def);
}

/* Write the documented default file made from table. */
void
conf_write_default(const struct conf_entry *table, FILE *f)
{
	const struct conf_entry	*e;

	fputs("# Each setting is \"key = value\" on a line of its own. Lines "
	    "starting with\n"
	    "# \"#\" are comments; blank lines and blanks around keys and "
	    "values are\n"
	    "# ignored. Integers are decimal, and may be followed by a "
	    "comment after a\n"
	    "# blank. A string runs to the end of its line, \"#\" included.\n"
	    "#\n"
	    "# A key that is absent or commented out takes the default "
	    "shown above it.\n"
	    "# Keys that are not commented out are the ones a deployment "
	    "must set.\n"
	    "# \"reload on SIGHUP: yes\" keys change without a restart.\n",
	    f);
	for (e = table; e->name != NULL; e++)
		write_entry(e, f);
}
