/*
 * test-slot.c -- slot.c: key slots against the answers of a real
 * redis-server (vectors/keyslot.txt), slot maps from CLUSTER SHARDS and
 * CLUSTER SLOTS replies (captured from a real 3+3 cluster, and built by
 * hand for the odd cases), MOVED and ASK errors, and the seed list of
 * the redis setting.
 */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include <check.h>
#include <hiredis/hiredis.h>

#include "server.h"
#include "unit.h"

/* Replies of redis-server 7.0.15 (tests/cluster-up.sh, ports 21000..5),
 * byte for byte. */
static const char shards_resp[] =
    "*3\r\n*4\r\n$5\r\nslots\r\n*2\r\n:5461\r\n:10922\r\n$5\r\n"
    "nodes\r\n*2\r\n*14\r\n$2\r\nid\r\n$40\r\n"
    "3a5dddef4790417d80786a3748fba5a1397f4a62\r\n$4\r\nport\r\n"
    ":21001\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n"
    "$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\n"
    "replication-offset\r\n:28\r\n$6\r\nhealth\r\n$6\r\nonline\r\n"
    "*14\r\n$2\r\nid\r\n$40\r\n"
    "386dc490b4f1df5c5bce09fa75bb931d2d2b2bf7\r\n$4\r\nport\r\n"
    ":21004\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n"
    "$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\n"
    "replication-offset\r\n:28\r\n$6\r\nhealth\r\n$6\r\nonline\r\n"
    "*4\r\n$5\r\nslots\r\n*2\r\n:10923\r\n:16383\r\n$5\r\nnodes\r\n"
    "*2\r\n*14\r\n$2\r\nid\r\n$40\r\n"
    "9ef17c975093999d57ada41416662dac147b62d1\r\n$4\r\nport\r\n"
    ":21002\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n"
    "$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\n"
    "replication-offset\r\n:28\r\n$6\r\nhealth\r\n$6\r\nonline\r\n"
    "*14\r\n$2\r\nid\r\n$40\r\n"
    "a96bfd43c0bb3ff10d24a5231a6090fabd4dc88f\r\n$4\r\nport\r\n"
    ":21005\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n"
    "$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\n"
    "replication-offset\r\n:28\r\n$6\r\nhealth\r\n$6\r\nonline\r\n"
    "*4\r\n$5\r\nslots\r\n*2\r\n:0\r\n:5460\r\n$5\r\nnodes\r\n"
    "*2\r\n*14\r\n$2\r\nid\r\n$40\r\n"
    "26df396a91dda384dfa9d93d40f879774430689f\r\n$4\r\nport\r\n"
    ":21000\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n"
    "$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$6\r\nmaster\r\n$18\r\n"
    "replication-offset\r\n:28\r\n$6\r\nhealth\r\n$6\r\nonline\r\n"
    "*14\r\n$2\r\nid\r\n$40\r\n"
    "800e1b512eb441198f5d9f336c697734f91adfbb\r\n$4\r\nport\r\n"
    ":21003\r\n$2\r\nip\r\n$9\r\n127.0.0.1\r\n$8\r\nendpoint\r\n"
    "$9\r\n127.0.0.1\r\n$4\r\nrole\r\n$7\r\nreplica\r\n$18\r\n"
    "replication-offset\r\n:28\r\n$6\r\nhealth\r\n$6\r\nonline\r\n";
static const char slots_resp[] =
    "*3\r\n*4\r\n:0\r\n:5460\r\n*4\r\n$9\r\n127.0.0.1\r\n:21000\r\n"
    "$40\r\n26df396a91dda384dfa9d93d40f879774430689f\r\n*0\r\n"
    "*4\r\n$9\r\n127.0.0.1\r\n:21003\r\n$40\r\n"
    "800e1b512eb441198f5d9f336c697734f91adfbb\r\n*0\r\n*4\r\n"
    ":5461\r\n:10922\r\n*4\r\n$9\r\n127.0.0.1\r\n:21001\r\n$40\r\n"
    "3a5dddef4790417d80786a3748fba5a1397f4a62\r\n*0\r\n*4\r\n$9\r\n"
    "127.0.0.1\r\n:21004\r\n$40\r\n"
    "386dc490b4f1df5c5bce09fa75bb931d2d2b2bf7\r\n*0\r\n*4\r\n"
    ":10923\r\n:16383\r\n*4\r\n$9\r\n127.0.0.1\r\n:21002\r\n$40\r\n"
    "9ef17c975093999d57ada41416662dac147b62d1\r\n*0\r\n*4\r\n$9\r\n"
    "127.0.0.1\r\n:21005\r\n$40\r\n"
    "a96bfd43c0bb3ff10d24a5231a6090fabd4dc88f\r\n*0\r\n";

/* Decode a key of keyslot.txt (\xHH escapes) into out; its length. */
static size_t
unescape(const char *s, char *out)
{
	size_t		 n = 0;
	unsigned	 b;

	while (*s != '\0') {
		if (s[0] == '\\') {
			ck_assert_int_eq(s[1], 'x');
			ck_assert_int_eq(sscanf(s + 2, "%2x", &b), 1);
			out[n++] = (char)b;
			s += 4;
		} else
			out[n++] = *s++;
	}
	return (n);
}

START_TEST(test_keyslot_vectors)
{
	char	 line[2048], key[1024], *sp;
	size_t	 len, checked = 0;
	FILE	*f;

	ck_assert_ptr_nonnull(f = fopen(TEST_VECTORS "/keyslot.txt", "r"));
	while (fgets(line, sizeof line, f) != NULL) {
		line[strcspn(line, "\n")] = '\0';
		if (line[0] == '#')
			continue;
		ck_assert_ptr_nonnull(sp = strchr(line, ' '));
		*sp = '\0';
		len = unescape(sp + 1, key);
		ck_assert_msg(slot_of(key, len) == (unsigned)atoi(line),
		    "key \"%s\": %u, Redis says %s", sp + 1,
		    slot_of(key, len), line);
		checked++;
	}
	fclose(f);
	ck_assert_uint_ge(checked, 100);
	/* Only len counts: a NUL is a byte like any other. */
	ck_assert_uint_eq(slot_of("a\0b", 3), 8383);
	ck_assert_uint_eq(slot_of("{a}\0", 3), slot_of("a", 1));
}
END_TEST

/* ---- replies built by hand ---- */

/* A node of a CLUSTER SHARDS reply. */
static redisReply *
shard_node(const char *ip, const char *endpoint, long long port,
    const char *role, const char *health)
{
	return (unit_reply_arr(12, unit_reply_str("id"),
	    unit_reply_str("0123"), unit_reply_str("port"),
	    unit_reply_int(port), unit_reply_str("ip"), unit_reply_str(ip),
	    unit_reply_str("endpoint"), unit_reply_str(endpoint),
	    unit_reply_str("role"), unit_reply_str(role),
	    unit_reply_str("health"), unit_reply_str(health)));
}

/* A CLUSTER SHARDS reply of one shard: slots lo-hi, its primary "h". */
static redisReply *
one_shard(long long lo, long long hi, long long port)
{
	return (unit_reply_arr(1, unit_reply_arr(4, unit_reply_str("slots"),
	    unit_reply_arr(2, unit_reply_int(lo), unit_reply_int(hi)),
	    unit_reply_str("nodes"),
	    unit_reply_arr(1, shard_node("h", "h", port, "master", "ok")))));
}

/* Parse a reply captured as RESP. */
static redisReply *
from_resp(const char *resp)
{
	redisReader	*rd = redisReaderCreate();
	void		*reply = NULL;

	ck_assert_int_eq(redisReaderFeed(rd, resp, strlen(resp)), REDIS_OK);
	ck_assert_int_eq(redisReaderGetReply(rd, &reply), REDIS_OK);
	ck_assert_ptr_nonnull(reply);
	redisReaderFree(rd);
	return (reply);
}

/* The primary of slot s in m is host:port. */
static void
owner_is(const struct slotmap *m, unsigned s, const char *host, int port)
{
	ck_assert_uint_ne(m->owner[s], SLOT_NONE);
	ck_assert_uint_lt(m->owner[s], m->nnodes);
	ck_assert_str_eq(m->nodes[m->owner[s]].host, host);
	ck_assert_int_eq(m->nodes[m->owner[s]].port, port);
}

static struct slotmap	 map;

/* The three primaries of the captured cluster. */
static void
captured_map_is(const struct slotmap *m)
{
	ck_assert_uint_eq(m->nnodes, 3);
	ck_assert(slot_map_full(m));
	owner_is(m, 0, "127.0.0.1", 21000);
	owner_is(m, 5460, "127.0.0.1", 21000);
	owner_is(m, 5461, "127.0.0.1", 21001);
	owner_is(m, 10922, "127.0.0.1", 21001);
	owner_is(m, 10923, "127.0.0.1", 21002);
	owner_is(m, 16383, "127.0.0.1", 21002);
}

START_TEST(test_map_captured)
{
	redisReply	*r;
	char		*why = NULL;

	slot_map_clear(&map);
	r = from_resp(shards_resp);
	ck_assert_msg(slot_map_shards(&map, r, "seed", &why) == 0, "%s", why);
	captured_map_is(&map);
	freeReplyObject(r);
	r = from_resp(slots_resp);
	ck_assert_msg(slot_map_slots(&map, r, "seed", &why) == 0, "%s", why);
	captured_map_is(&map);
	freeReplyObject(r);
	slot_map_clear(&map);
	ck_assert_uint_eq(map.nnodes, 0);
	ck_assert(!slot_map_full(&map));
}
END_TEST

START_TEST(test_map_shards_cases)
{
	redisReply	*r;
	char		*why = NULL;

	slot_map_clear(&map);
	/* After a failover: the failed primary is a shard of no slots;
	 * endpoints "?" (fall back to ip) and "" (the node asked); two
	 * ranges in a shard; a shard of slots without a primary. */
	r = unit_reply_arr(4,
	    unit_reply_arr(4, unit_reply_str("slots"),
	    unit_reply_arr(4, unit_reply_int(0), unit_reply_int(99),
	    unit_reply_int(200), unit_reply_int(200)),
	    unit_reply_str("nodes"), unit_reply_arr(2,
	    shard_node("10.0.0.2", "?", 7002, "replica", "online"),
	    shard_node("10.0.0.1", "?", 7001, "master", "online"))),
	    unit_reply_arr(4, unit_reply_str("nodes"), unit_reply_arr(1,
	    shard_node("10.0.0.3", "", 7003, "master", "online")),
	    unit_reply_str("slots"),
	    unit_reply_arr(2, unit_reply_int(100), unit_reply_int(199))),
	    unit_reply_arr(4, unit_reply_str("slots"), unit_reply_arr(0),
	    unit_reply_str("nodes"), unit_reply_arr(1,
	    shard_node("10.0.0.9", "10.0.0.9", 7009, "master", "failed"))),
	    unit_reply_arr(4, unit_reply_str("slots"),
	    unit_reply_arr(2, unit_reply_int(201), unit_reply_int(16383)),
	    unit_reply_str("nodes"), unit_reply_arr(1,
	    shard_node("10.0.0.4", "h4", 7004, "replica", "online"))));
	ck_assert_msg(slot_map_shards(&map, r, "asked", &why) == 0, "%s", why);
	freeReplyObject(r);
	ck_assert_uint_eq(map.nnodes, 2);
	owner_is(&map, 0, "10.0.0.1", 7001);
	owner_is(&map, 99, "10.0.0.1", 7001);
	owner_is(&map, 100, "asked", 7003);
	owner_is(&map, 199, "asked", 7003);
	owner_is(&map, 200, "10.0.0.1", 7001);
	ck_assert_uint_eq(map.owner[201], SLOT_NONE);
	ck_assert_uint_eq(map.owner[16383], SLOT_NONE);
	ck_assert(!slot_map_full(&map));

	/* Bad replies: the map is left empty. */
	r = one_shard(5, 16384, 1);
	ck_assert_int_eq(slot_map_shards(&map, r, "x", &why), -1);
	ck_assert_str_eq(why, "slot range 5-16384");
	free(why);
	ck_assert_uint_eq(map.nnodes, 0);
	ck_assert_uint_eq(map.owner[0], SLOT_NONE);
	freeReplyObject(r);
	r = one_shard(9, 8, 1);
	ck_assert_int_eq(slot_map_shards(&map, r, "x", &why), -1);
	free(why);
	freeReplyObject(r);
	r = one_shard(0, 8, 0);
	ck_assert_int_eq(slot_map_shards(&map, r, "x", &why), -1);
	ck_assert_str_eq(why, "port 0");
	free(why);
	freeReplyObject(r);
	r = unit_reply_arr(1, unit_reply_arr(2, unit_reply_str("slots"),
	    unit_reply_arr(1, unit_reply_int(0))));
	ck_assert_int_eq(slot_map_shards(&map, r, "x", &why), -1);
	free(why);
	freeReplyObject(r);
	r = unit_reply_int(3);
	ck_assert_int_eq(slot_map_shards(&map, r, "x", &why), -1);
	free(why);
	freeReplyObject(r);
}
END_TEST

START_TEST(test_map_slots_cases)
{
	redisReply	*r;
	char		*why = NULL;

	slot_map_clear(&map);
	/* "" is the node asked, "?" an unknown endpoint. */
	r = unit_reply_arr(3,
	    unit_reply_arr(3, unit_reply_int(0), unit_reply_int(10),
	    unit_reply_arr(3, unit_reply_str(""), unit_reply_int(7000),
	    unit_reply_str("id"))),
	    unit_reply_arr(4, unit_reply_int(11), unit_reply_int(20),
	    unit_reply_arr(2, unit_reply_str("?"), unit_reply_int(7001)),
	    unit_reply_arr(2, unit_reply_str("r"), unit_reply_int(7005))),
	    unit_reply_arr(3, unit_reply_int(21), unit_reply_int(16383),
	    unit_reply_arr(2, unit_reply_str("b"), unit_reply_int(7002))));
	ck_assert_msg(slot_map_slots(&map, r, "asked", &why) == 0, "%s", why);
	freeReplyObject(r);
	ck_assert_uint_eq(map.nnodes, 2);
	owner_is(&map, 10, "asked", 7000);
	ck_assert_uint_eq(map.owner[11], SLOT_NONE);
	ck_assert_uint_eq(map.owner[20], SLOT_NONE);
	owner_is(&map, 21, "b", 7002);
	r = unit_reply_arr(1,
	    unit_reply_arr(2, unit_reply_int(0), unit_reply_int(10)));
	ck_assert_int_eq(slot_map_slots(&map, r, "x", &why), -1);
	free(why);
	freeReplyObject(r);
	r = unit_reply_arr(1, unit_reply_arr(3, unit_reply_int(0),
	    unit_reply_int(10),
	    unit_reply_arr(2, unit_reply_int(1), unit_reply_int(7000))));
	ck_assert_int_eq(slot_map_slots(&map, r, "x", &why), -1);
	ck_assert_str_eq(why, "a node address is not a string");
	free(why);
	freeReplyObject(r);
	ck_assert_uint_eq(map.nnodes, 0);
}
END_TEST

/* err parses as a redirect. */
static void
redirect_is(const char *err, int ask, unsigned slot, const char *host,
    int port)
{
	char		*h;
	unsigned	 s;
	int		 a, p;

	ck_assert_msg(slot_redirect(err, strlen(err), &a, &s, &h, &p) == 0,
	    "%s", err);
	ck_assert_int_eq(a, ask);
	ck_assert_uint_eq(s, slot);
	ck_assert_str_eq(h, host);
	ck_assert_int_eq(p, port);
	free(h);
}

START_TEST(test_redirect)
{
	static const char *bad[] = { "MOVED", "MOVED ", "MOVED 1", "MOVED 1 ",
	    "MOVED 1 h", "MOVED 1 h:", "MOVED 1 h:0", "MOVED 1 h:65536",
	    "MOVED 1 h:1x", "MOVED 1 h:-1", "MOVED 16384 h:1",
	    "MOVED 99999999999999999999 h:1", "MOVED x h:1", "MOVED  1 h:1",
	    "MOVED -1 h:1", "MOVED 1 a b:1", "MOVEDX 1 h:1", "ASK", "ASK 1",
	    "ERR unknown command", "CLUSTERDOWN The cluster is down",
	    "TRYAGAIN", "moved 1 h:1", "" };
	char		*h = (char *)"unset";
	unsigned	 s;
	int		 a, p;
	size_t		 i;

	redirect_is("MOVED 3999 127.0.0.1:6381", 0, 3999, "127.0.0.1", 6381);
	redirect_is("ASK 3999 127.0.0.1:6381", 1, 3999, "127.0.0.1", 6381);
	redirect_is("MOVED 0 h:1", 0, 0, "h", 1);
	redirect_is("MOVED 16383 redis.example:65535", 0, 16383,
	    "redis.example", 65535);
	redirect_is("MOVED 7 ::1:7000", 0, 7, "::1", 7000);
	redirect_is("MOVED 7 [::1]:7000", 0, 7, "::1", 7000);
	redirect_is("ASK 12 :7000", 1, 12, "", 7000);
	for (i = 0; i < nitems(bad); i++) {
		ck_assert_msg(slot_redirect(bad[i], strlen(bad[i]), &a, &s, &h,
		    &p) == -1, "%s", bad[i]);
		ck_assert_ptr_null(h);
	}
	/* Only len bytes are read. */
	ck_assert_int_eq(slot_redirect("MOVED 1 h:12345", 13, &a, &s, &h, &p),
	    0);
	ck_assert_str_eq(h, "h");
	ck_assert_int_eq(p, 123);
	free(h);
}
END_TEST

/* v gives n seeds; the first and last are as said. */
static void
seeds_are(const char *v, size_t n, const char *h0, int p0,
    const char *hn, int pn)
{
	struct slot_addr	*a;
	size_t			 got;
	char			*why = NULL;

	ck_assert_msg(slot_parse_seeds(v, &a, &got, &why) == 0, "%s: %s", v,
	    why);
	ck_assert_uint_eq(got, n);
	ck_assert_str_eq(a[0].host, h0);
	ck_assert_int_eq(a[0].port, p0);
	ck_assert_str_eq(a[n - 1].host, hn);
	ck_assert_int_eq(a[n - 1].port, pn);
	slot_addrs_free(a, got);
}

/* The redis setting v, in a file: accepted (why NULL) or refused. */
static void
setting_is(const char *v, const char *why)
{
	struct settings	 s;
	char		*text, *cause = NULL, *want;
	int		 rc;

	conf_defaults(settings_table, &s);
	xasprintf(&text, "redis = %s\n", v);
	rc = conf_parse(settings_table, &s, "t.conf", text, strlen(text),
	    &cause);
	if (why == NULL)
		ck_assert_msg(rc == 0, "%s: %s", v, cause);
	else {
		ck_assert_int_eq(rc, -1);
		xasprintf(&want, "t.conf:1: redis: %s", why);
		ck_assert_str_eq(cause, want);
		free(want);
	}
	free(cause);
	free(text);
	conf_free(settings_table, &s);
}

/* v is refused with why, by slot_parse_seeds and the setting. */
static void
seeds_fail(const char *v, const char *why)
{
	struct slot_addr	*a = (struct slot_addr *)1;
	size_t			 n = 99;
	char			*got = NULL;

	ck_assert_int_eq(slot_parse_seeds(v, &a, &n, &got), -1);
	ck_assert_ptr_null(a);
	ck_assert_uint_eq(n, 0);
	ck_assert_str_eq(got, why);
	free(got);
	setting_is(v, why);
}

/* CLUSTER NODES of a real 3+3 cluster (Redis 7.0) 3 s after a SIGKILL of
 * the primary on 21001, whose replica on 21005 took its slots; then a
 * few lines of other shapes. */
static const char nodes_text[] =
    "07dae31d261c3533de45a4b97db4ae58063dac3a 127.0.0.1:21005@21011 master"
    " - 0 1796459385544 7 connected 5461-10922\n"
    "7e8daff4dd2a184deb18bc04c2e1d6108a03199a 127.0.0.1:21003@21009 slave"
    " 14d114191be29c9d0d391b54225b1a6e57c22c3c 0 1796459385444 3 "
    "connected\n"
    "3503b71dfd533de027c85491c1dde05f613487cd 127.0.0.1:21000@21006 "
    "myself,master - 0 1796459385000 1 connected 0-5460\n"
    "4fe2fd744e9122542fa9ecffa1f68bb726d1ded0 127.0.0.1:21001@21007 "
    "master,fail - 1796459383218 1796459382713 2 disconnected\r\n"
    "\n"
    "aa :6379@16379 myself,master - 0 0 0 connected 1 [2->-bb]\n"
    "bb ::1:7001@17001,redis-b.example slave,fail? aa 0 0 0 connected\n"
    "cc :0@0 master,noaddr - 0 0 0 disconnected 17\n"
    "dd [::1]:7002@17002 handshake - 0 0 0 connected";

START_TEST(test_nodes)
{
	static const struct {
		const char	*host;
		int		 port, primary, up, slots;
	} want[] = {
		{ "127.0.0.1", 21005, 1, 1, 1 },
		{ "127.0.0.1", 21003, 0, 1, 0 },
		{ "127.0.0.1", 21000, 1, 1, 1 },
		{ "127.0.0.1", 21001, 1, 0, 0 },
		{ "asked.example", 6379, 1, 1, 1 },
		{ "::1", 7001, 0, 0, 0 },
		{ "", 0, 1, 0, 1 },
		{ "::1", 7002, 0, 0, 0 },
	};
	static const char *bad[] = { "", "\n\r\n", "id", "id 1.2.3.4:5",
	    "id 1.2.3.4:5@6", "id h master", "id h:0 master",
	    "id h:70000@1 master", "id a b:1 master", "id 1.2.3.4:x master" };
	struct slot_node *n = NULL;
	size_t		 count = 9, i;
	char		*why = NULL;

	ck_assert_int_eq(slot_nodes_parse(nodes_text, strlen(nodes_text),
	    "asked.example", &n, &count, &why), 0);
	ck_assert_uint_eq(count, nitems(want));
	for (i = 0; i < count; i++) {
		ck_assert_msg(strcmp(n[i].host, want[i].host) == 0, "%zu: %s",
		    i, n[i].host);
		ck_assert_int_eq(n[i].port, want[i].port);
		ck_assert_int_eq(n[i].primary, want[i].primary);
		ck_assert_int_eq(n[i].up, want[i].up);
		ck_assert_int_eq(n[i].slots, want[i].slots);
	}
	slot_nodes_free(n, count);
	for (i = 0; i < nitems(bad); i++) {
		n = (struct slot_node *)&count;
		ck_assert_msg(slot_nodes_parse(bad[i], strlen(bad[i]), "h", &n,
		    &count, &why) == -1, "%s", bad[i]);
		ck_assert_ptr_null(n);
		ck_assert_uint_eq(count, 0);
		ck_assert_ptr_nonnull(why);
		free(why);
		why = NULL;
	}
	/* Only len bytes are read: the first line, cut before its slots. */
	ck_assert_int_eq(slot_nodes_parse(nodes_text, 100, "h", &n, &count,
	    &why), 0);
	ck_assert_uint_eq(count, 1);
	ck_assert_int_eq(n[0].slots, 0);
	slot_nodes_free(n, count);
}
END_TEST

START_TEST(test_seeds)
{
	char	 many[1024];
	int	 i;

	seeds_are("cluster:127.0.0.1:7000", 1, "127.0.0.1", 7000, "127.0.0.1",
	    7000);
	seeds_are("cluster:a:1,[::1]:2,redis.example.org:65535", 3, "a", 1,
	    "redis.example.org", 65535);
	seeds_are("cluster:::1:7000,10.1.2.3:7001", 2, "::1", 7000,
	    "10.1.2.3", 7001);
	setting_is("cluster:127.0.0.1:7000,127.0.0.1:7001", NULL);
	setting_is("127.0.0.1:6379", NULL);
	ck_assert(slot_is_cluster("cluster:x:1"));
	ck_assert(!slot_is_cluster("clusterx:1"));
	ck_assert(!slot_is_cluster("unix:/cluster:"));
	seeds_fail("cluster:", "has an empty seed node (want "
	    "cluster:HOST:PORT[,HOST:PORT...])");
	seeds_fail("cluster:a:1,", "has an empty seed node (want "
	    "cluster:HOST:PORT[,HOST:PORT...])");
	seeds_fail("cluster:,a:1", "has an empty seed node (want "
	    "cluster:HOST:PORT[,HOST:PORT...])");
	seeds_fail("cluster:a", "\"a\" has no port (want "
	    "cluster:HOST:PORT[,HOST:PORT...])");
	seeds_fail("cluster:a:0", "\"a:0\": the port is not 1..65535");
	seeds_fail("cluster:a:1,b:65536", "\"b:65536\": the port is not "
	    "1..65535");
	seeds_fail("cluster:a b:1", "\"a b\" is not an address or a host name");
	seeds_fail("cluster:a:1;b:2", "\"a:1;b\" is not an address or a "
	    "host name");
	strcpy(many, "cluster:");
	for (i = 0; i < SLOT_SEEDS_MAX + 1; i++)
		snprintf(many + strlen(many), sizeof many - strlen(many),
		    "%sh%d:%d", i ? "," : "", i, 7000 + i);
	seeds_fail(many, "names more than 16 seed nodes");
	many[strrchr(many, ',') - many] = '\0';
	seeds_are(many, SLOT_SEEDS_MAX, "h0", 7000, "h15", 7015);
	{
		struct slot_addr *a;
		size_t		 n;
		char		*why = NULL;

		ck_assert_int_eq(slot_parse_seeds("127.0.0.1:7000", &a, &n,
		    &why), -1);
		ck_assert_str_eq(why, "does not start with \"cluster:\"");
		free(why);
	}
}
END_TEST

int
main(void)
{
	Suite	*s = suite_create("slot");
	TCase	*tc = tcase_create("slot");

	tcase_add_test(tc, test_keyslot_vectors);
	tcase_add_test(tc, test_map_captured);
	tcase_add_test(tc, test_map_shards_cases);
	tcase_add_test(tc, test_map_slots_cases);
	tcase_add_test(tc, test_redirect);
	tcase_add_test(tc, test_seeds);
	tcase_add_test(tc, test_nodes);
	suite_add_tcase(s, tc);
	return (unit_run(s));
}
