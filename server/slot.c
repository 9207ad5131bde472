/*
 * slot.c -- Redis Cluster arithmetic and parsing, with no sockets: the
 * slot of a key, the slot map read from CLUSTER SHARDS or CLUSTER SLOTS,
 * MOVED and ASK errors, and the seed list of the redis setting. cluster.c
 * does the talking; settings.c checks the setting with the seed parser.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <hiredis/hiredis.h>

#include "server.h"

#define SEEDS_PREFIX	"cluster:"

/* CRC16-XMODEM (polynomial 0x1021, initial value 0), the checksum Redis
 * Cluster hashes keys with; bitwise, as keys are short. */
static unsigned
crc16(const unsigned char *p, size_t len)
{
	unsigned	 crc = 0;
	size_t		 i;
	int		 bit;

	for (i = 0; i < len; i++) {
		crc ^= (unsigned)p[i] << 8;
		for (bit = 0; bit < 8; bit++)
			crc = (crc & 0x8000) ? (crc << 1) ^ 0x1021 : crc << 1;
	}
	return (crc & 0xffff);
}

/* The slot of a key: its CRC16, or the CRC16 of its hash tag (the bytes
 * between its first "{" and the first "}" after that) when that tag is
 * not empty. */
unsigned
slot_of(const char *key, size_t len)
{
	const char	*lb, *rb;

	lb = memchr(key, '{', len);
	if (lb != NULL) {
		rb = memchr(lb + 1, '}', len - (lb + 1 - key));
		if (rb != NULL && rb > lb + 1)
			return (crc16((const unsigned char *)lb + 1,
			    rb - lb - 1) % SLOT_COUNT);
	}
	return (crc16((const unsigned char *)key, len) % SLOT_COUNT);
}

/* 1 if the redis setting names a cluster. */
int
slot_is_cluster(const char *v)
{
	return (strncmp(v, SEEDS_PREFIX, strlen(SEEDS_PREFIX)) == 0);
}

/* Free n addresses and their array. */
void
slot_addrs_free(struct slot_addr *a, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		free(a[i].host);
	free(a);
}

/* Parse "cluster:HOST:PORT[,HOST:PORT...]". */
int
slot_parse_seeds(const char *v, struct slot_addr **out, size_t *np,
    char **why)
{
	struct slot_addr	*a;
	const char		*p, *comma;
	char			*item;
	size_t			 n = 0, len;
	int			 rc;

	*out = NULL;
	*np = 0;
	if (!slot_is_cluster(v)) {
		*why = xstrdup("does not start with \"cluster:\"");
		return (-1);
	}
	a = xcalloc(SLOT_SEEDS_MAX, sizeof *a);
	for (p = v + strlen(SEEDS_PREFIX);; p = comma + 1) {
		comma = strchr(p, ',');
		len = comma != NULL ? (size_t)(comma - p) : strlen(p);
		if (n == SLOT_SEEDS_MAX) {
			xasprintf(why, "names more than %d seed nodes",
			    SLOT_SEEDS_MAX);
			goto fail;
		}
		if (len == 0) {
			*why = xstrdup("has an empty seed node (want "
			    "cluster:HOST:PORT[,HOST:PORT...])");
			goto fail;
		}
		item = xmalloc(len + 1);
		memcpy(item, p, len);
		item[len] = '\0';
		rc = settings_hostport(item, "cluster:HOST:PORT[,HOST:PORT...]",
		    &a[n].host, &a[n].port, why);
		free(item);
		if (rc != 0)
			goto fail;
		n++;
		if (comma == NULL)
			break;
	}
	*out = a;
	*np = n;
	return (0);
fail:
	slot_addrs_free(a, n);
	return (-1);
}

/* Forget every slot's owner and every node. */
void
slot_map_clear(struct slotmap *m)
{
	size_t	 i;

	slot_addrs_free(m->nodes, m->nnodes);
	m->nodes = NULL;
	m->nnodes = 0;
	for (i = 0; i < SLOT_COUNT; i++)
		m->owner[i] = SLOT_NONE;
}

/* 1 if every slot has a primary. */
int
slot_map_full(const struct slotmap *m)
{
	size_t	 i;

	for (i = 0; i < SLOT_COUNT; i++)
		if (m->owner[i] == SLOT_NONE)
			return (0);
	return (1);
}

/* The index of host:port among m's nodes, added if new. */
static uint16_t
map_node(struct slotmap *m, const char *host, size_t hlen, int port)
{
	size_t	 i;

	for (i = 0; i < m->nnodes; i++)
		if (m->nodes[i].port == port &&
		    strlen(m->nodes[i].host) == hlen &&
		    memcmp(m->nodes[i].host, host, hlen) == 0)
			return ((uint16_t)i);
	m->nodes = xrealloc(m->nodes, (m->nnodes + 1) * sizeof *m->nodes);
	m->nodes[m->nnodes].host = xmalloc(hlen + 1);
	memcpy(m->nodes[m->nnodes].host, host, hlen);
	m->nodes[m->nnodes].host[hlen] = '\0';
	m->nodes[m->nnodes].port = port;
	return ((uint16_t)m->nnodes++);
}

/* An integer element (or digits in a string): 0 and *v, or -1. */
static int
reply_int(const redisReply *r, long long *v)
{
	char	*end;

	if (r->type == REDIS_REPLY_INTEGER) {
		*v = r->integer;
		return (0);
	}
	if (r->type != REDIS_REPLY_STRING || r->len == 0 || r->len > 18)
		return (-1);
	*v = strtoll(r->str, &end, 10);
	return (end == r->str + r->len ? 0 : -1);
}

/* 1 if r is the string s. */
static int
reply_is(const redisReply *r, const char *s)
{
	return ((r->type == REDIS_REPLY_STRING ||
	    r->type == REDIS_REPLY_STATUS) && r->len == strlen(s) &&
	    memcmp(r->str, s, r->len) == 0);
}

/* Give slots lo..hi to host:port in m; an endpoint that is empty means
 * the node asked (deflt), "?" an unknown one (the slots stay without a
 * primary). 0, or -1 and *why. */
static int
map_range(struct slotmap *m, long long lo, long long hi, const redisReply *h,
    long long port, const char *deflt, char **why)
{
	const char	*host = h->str;
	size_t		 hlen = h->len;
	uint16_t	 idx;
	long long	 s;

	if (lo < 0 || hi >= SLOT_COUNT || lo > hi) {
		xasprintf(why, "slot range %lld-%lld", lo, hi);
		return (-1);
	}
	if (port < 1 || port > 65535) {
		xasprintf(why, "port %lld", port);
		return (-1);
	}
	if (h->type != REDIS_REPLY_STRING || memchr(host, '\0', hlen) != NULL) {
		*why = xstrdup("a node address is not a string");
		return (-1);
	}
	if (hlen == 1 && host[0] == '?')
		return (0);
	if (hlen == 0) {
		host = deflt;
		hlen = strlen(deflt);
	}
	idx = map_node(m, host, hlen, (int)port);
	for (s = lo; s <= hi; s++)
		m->owner[s] = idx;
	return (0);
}

/* Maps one element of a slot map reply (deflt: the node asked): 0, or
 * -1 and *why. */
typedef int (*map_entry_fn)(struct slotmap *, const redisReply *,
	    const char *deflt, char **why);

/* Fill m with map_entry of each element of r, a reply to what; on
 * failure m is left empty. 0, or -1 and *why. */
static int
map_fill(struct slotmap *m, const redisReply *r, const char *what,
    map_entry_fn map_entry, const char *deflt, char **why)
{
	size_t	 i;

	slot_map_clear(m);
	if (r->type != REDIS_REPLY_ARRAY) {
		xasprintf(why, "%s: not an array", what);
		return (-1);
	}
	for (i = 0; i < r->elements; i++) {
		if (map_entry(m, r->element[i], deflt, why) != 0) {
			slot_map_clear(m);
			return (-1);
		}
	}
	return (0);
}

/* One range of CLUSTER SLOTS, [start, end, [host, port, ...],
 * replicas...], to its primary, the first node. 0, or -1 and *why. */
static int
map_slots_range(struct slotmap *m, const redisReply *e, const char *deflt,
    char **why)
{
	const redisReply	*n;
	long long		 lo, hi, port;

	if (e->type != REDIS_REPLY_ARRAY || e->elements < 3 ||
	    reply_int(e->element[0], &lo) != 0 ||
	    reply_int(e->element[1], &hi) != 0)
		goto bad;
	n = e->element[2];
	if (n->type != REDIS_REPLY_ARRAY || n->elements < 2 ||
	    reply_int(n->element[1], &port) != 0)
		goto bad;
	return (map_range(m, lo, hi, n->element[0], port, deflt, why));
bad:
	*why = xstrdup("a range is not [start, end, [host, port ...] ...]");
	return (-1);
}

/* Fill m from a CLUSTER SLOTS reply: [range, ...]. */
int
slot_map_slots(struct slotmap *m, const struct redisReply *r,
    const char *deflt, char **why)
{
	return (map_fill(m, r, "CLUSTER SLOTS", map_slots_range, deflt, why));
}

/* The value of key in a flat [key, value, ...] array, or NULL. */
static const redisReply *
field(const redisReply *r, const char *key)
{
	size_t	 i;

	for (i = 0; i + 1 < r->elements; i += 2)
		if (reply_is(r->element[i], key))
			return (r->element[i + 1]);
	return (NULL);
}

/* The primary of a shard's nodes: its endpoint (or ip) and port, or NULL
 * when the shard has none. */
static const redisReply *
shard_primary(const redisReply *nodes, long long *port)
{
	const redisReply	*n, *role, *p, *host;
	size_t			 i;

	for (i = 0; i < nodes->elements; i++) {
		n = nodes->element[i];
		if (n->type != REDIS_REPLY_ARRAY ||
		    (role = field(n, "role")) == NULL ||
		    !reply_is(role, "master"))
			continue;
		if ((p = field(n, "port")) == NULL || reply_int(p, port) != 0)
			return (NULL);
		host = field(n, "endpoint");
		if (host == NULL || host->type != REDIS_REPLY_STRING ||
		    (host->len == 1 && host->str[0] == '?'))
			host = field(n, "ip");
		return (host);
	}
	return (NULL);
}

/* One shard of CLUSTER SHARDS, ["slots", [start, end, ...], "nodes",
 * [...]], its ranges to its primary; a shard without a primary leaves
 * its slots without one. 0, or -1 and *why. */
static int
map_shard(struct slotmap *m, const redisReply *e, const char *deflt,
    char **why)
{
	const redisReply	*slots, *nodes, *host;
	long long		 lo, hi, port;
	size_t			 j;

	if (e->type != REDIS_REPLY_ARRAY ||
	    (slots = field(e, "slots")) == NULL ||
	    (nodes = field(e, "nodes")) == NULL ||
	    slots->type != REDIS_REPLY_ARRAY || slots->elements % 2 != 0 ||
	    nodes->type != REDIS_REPLY_ARRAY)
		goto bad;
	if (slots->elements == 0 ||
	    (host = shard_primary(nodes, &port)) == NULL)
		return (0);
	for (j = 0; j < slots->elements; j += 2) {
		if (reply_int(slots->element[j], &lo) != 0 ||
		    reply_int(slots->element[j + 1], &hi) != 0)
			goto bad;
		if (map_range(m, lo, hi, host, port, deflt, why) != 0)
			return (-1);
	}
	return (0);
bad:
	*why = xstrdup("a shard is not [\"slots\", [...], \"nodes\", [...]]");
	return (-1);
}

/* Fill m from a CLUSTER SHARDS reply (Redis 7): [shard, ...], a node of
 * a shard being [ "id", ..., "port", P, "ip", ..., "endpoint", ...,
 * "role", "master" | "replica", ...]. */
int
slot_map_shards(struct slotmap *m, const struct redisReply *r,
    const char *deflt, char **why)
{
	return (map_fill(m, r, "CLUSTER SHARDS", map_shard, deflt, why));
}

/* Split h (len bytes) at its last ":" into *host (caller frees; an IPv6
 * address comes without brackets, accepted with them too; empty allowed)
 * and *port (1..65535): 0, or -1. */
static int
host_port(const char *h, size_t len, char **host, int *port)
{
	const char	*p, *end = h + len, *colon = NULL;
	unsigned long	 v;
	size_t		 hlen;

	for (p = h; p < end; p++)
		if (*p == ':')
			colon = p;
	if (colon == NULL || colon + 1 == end || end - colon > 6)
		return (-1);
	for (v = 0, p = colon + 1; p < end; p++) {
		if (*p < '0' || *p > '9')
			return (-1);
		v = v * 10 + (unsigned long)(*p - '0');
	}
	if (v < 1 || v > 65535)
		return (-1);
	hlen = colon - h;
	if (hlen >= 2 && h[0] == '[' && h[hlen - 1] == ']') {
		h++;
		hlen -= 2;
	}
	if (memchr(h, '\0', hlen) != NULL || memchr(h, ' ', hlen) != NULL)
		return (-1);
	*port = (int)v;
	*host = xmalloc(hlen + 1);
	memcpy(*host, h, hlen);
	(*host)[hlen] = '\0';
	return (0);
}

/* Parse "MOVED 3999 127.0.0.1:6381" or "ASK ...": the host is what lies
 * before the last ":", empty when the node that answered is meant. */
int
slot_redirect(const char *err, size_t len, int *ask, unsigned *slot,
    char **host, int *port)
{
	const char	*p, *end = err + len;
	unsigned long	 v;

	*host = NULL;
	if (len > 6 && memcmp(err, "MOVED ", 6) == 0) {
		*ask = 0;
		p = err + 6;
	} else if (len > 4 && memcmp(err, "ASK ", 4) == 0) {
		*ask = 1;
		p = err + 4;
	} else
		return (-1);
	for (v = 0; p < end && *p >= '0' && *p <= '9' && v < SLOT_COUNT; p++)
		v = v * 10 + (unsigned long)(*p - '0');
	if (v >= SLOT_COUNT || p == end || *p != ' ' || p[-1] == ' ')
		return (-1);
	*slot = (unsigned)v;
	p++;
	return (host_port(p, (size_t)(end - p), host, port));
}

/* Free n nodes and their array. */
void
slot_nodes_free(struct slot_node *a, size_t n)
{
	size_t	 i;

	for (i = 0; i < n; i++)
		free(a[i].host);
	free(a);
}

/* 1 if the comma-separated flags (len bytes) hold flag. */
static int
has_flag(const char *flags, size_t len, const char *flag)
{
	size_t	 fl = strlen(flag), i, j;

	for (i = 0; i < len; i = j + 1) {
		for (j = i; j < len && flags[j] != ','; j++)
			;
		if (j - i == fl && memcmp(flags + i, flag, fl) == 0)
			return (1);
	}
	return (0);
}

/* One line of CLUSTER NODES: "ID HOST:PORT@BUS[,NAME] FLAGS PRIMARY PING
 * PONG EPOCH LINK [SLOT...]". */
static int
node_line(const char *line, size_t len, const char *asked,
    struct slot_node *n, char **why)
{
	const char	*f[3], *end = line + len, *p = line, *at;
	size_t		 fl[3];
	int		 i;

	for (i = 0; i < 3; i++) {
		while (p < end && *p == ' ')
			p++;
		f[i] = p;
		while (p < end && *p != ' ')
			p++;
		if ((fl[i] = (size_t)(p - f[i])) == 0) {
			*why = xstrdup("a CLUSTER NODES line has fewer than "
			    "3 fields");
			return (-1);
		}
	}
	for (i = 3; p < end; i++) {	/* fields 9 on: the slots served */
		while (p < end && *p == ' ')
			p++;
		if (p < end && i >= 8)
			n->slots = 1;
		while (p < end && *p != ' ')
			p++;
	}
	n->primary = has_flag(f[2], fl[2], "master");
	n->up = !has_flag(f[2], fl[2], "fail") &&
	    !has_flag(f[2], fl[2], "fail?") &&
	    !has_flag(f[2], fl[2], "handshake") &&
	    !has_flag(f[2], fl[2], "noaddr");
	if (has_flag(f[2], fl[2], "noaddr")) {
		n->host = xstrdup("");		/* ":0@0": no port to parse */
		return (0);
	}
	at = memchr(f[1], '@', fl[1]);
	if (host_port(f[1], at != NULL ? (size_t)(at - f[1]) : fl[1],
	    &n->host, &n->port) != 0) {
		*why = xstrdup("a CLUSTER NODES line has no HOST:PORT");
		return (-1);
	}
	if (*n->host == '\0') {
		free(n->host);
		n->host = xstrdup(asked);
	}
	return (0);
}

/* Every node of a CLUSTER NODES reply's text. */
int
slot_nodes_parse(const char *text, size_t len, const char *asked,
    struct slot_node **out, size_t *np, char **why)
{
	struct slot_node	*a = NULL;
	const char		*p = text, *end = text + len, *nl;
	size_t			 n = 0;

	*out = NULL;
	*np = 0;
	for (; p < end; p = nl + 1) {
		if ((nl = memchr(p, '\n', (size_t)(end - p))) == NULL)
			nl = end;
		if (nl == p || (nl - p == 1 && *p == '\r'))
			continue;
		a = xrealloc(a, (n + 1) * sizeof *a);
		memset(&a[n], 0, sizeof a[n]);
		if (node_line(p, (size_t)(nl - p) - (nl[-1] == '\r'), asked,
		    &a[n], why) != 0) {
			slot_nodes_free(a, n);
			return (-1);
		}
		n++;
	}
	if (n == 0) {
		*why = xstrdup("CLUSTER NODES lists no node");
		return (-1);
	}
	*out = a;
	*np = n;
	return (0);
}
