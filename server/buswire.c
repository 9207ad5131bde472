/*
 * buswire.c -- the messages between trystd nodes (doc/protocol.md §9),
 * sealed: what crosses Redis pub/sub is "S", a nonce and a secretbox
 * under the bus key (a subkey of the master key), so that a Redis
 * MONITOR, a replica or the cluster bus sees no offer, answer, credential
 * or client address. Pure: no sockets, no clock (times are passed in).
 *
 * As in proto.c, each message is described once, as a function over a
 * cursor that either reads or writes, so encoding and decoding cannot
 * drift apart.
 */
#include <string.h>

#include <sodium.h>

#include "server.h"

#define BUS_PLAIN_MAX	(BUS_SEALED_MAX - 1 - BUS_NONCE - BUS_MAC)
#define BUS_NONCE	crypto_secretbox_NONCEBYTES
#define BUS_MAC		crypto_secretbox_MACBYTES

/* A position in a plaintext being read (rp) or written (wp). */
struct bcur {
	const uint8_t	*rp;
	uint8_t		*wp;
	size_t		 len;
	size_t		 off;
	int		 enc;
	int		 bad;
};

/* n bytes at the cursor, copied in or out. */
static void
b_bytes(struct bcur *c, void *p, size_t n)
{
	if (c->bad || n > c->len - c->off) {
		c->bad = 1;
		return;
	}
	if (c->enc)
		memcpy(c->wp + c->off, p, n);
	else
		memcpy(p, c->rp + c->off, n);
	c->off += n;
}

/* An unsigned integer of n bytes, big-endian. */
static void
b_uint(struct bcur *c, uint64_t *v, size_t n)
{
	uint8_t	 b[8];
	size_t	 i;

	if (c->enc)
		for (i = 0; i < n; i++)
			b[i] = (uint8_t)(*v >> (8 * (n - 1 - i)));
	b_bytes(c, b, n);
	if (!c->enc && !c->bad)
		for (*v = 0, i = 0; i < n; i++)
			*v = *v << 8 | b[i];
}

/* One byte. */
static void
b_u8(struct bcur *c, uint8_t *v)
{
	b_bytes(c, v, 1);
}

/* A text of at most max bytes (u8 length), NUL-terminated when read. */
static void
b_text(struct bcur *c, char *s, size_t max)
{
	uint8_t	 n = c->enc ? (uint8_t)strnlen(s, max + 1) : 0;

	if (c->enc && strnlen(s, max + 1) > max)
		c->bad = 1;
	b_u8(c, &n);
	if (c->bad || n > max) {
		c->bad = 1;
		return;
	}
	b_bytes(c, s, n);
	/* A NUL inside would make another text than was sent. */
	if (!c->enc && !c->bad && memchr(s, '\0', n) != NULL)
		c->bad = 1;
	if (!c->enc && !c->bad)
		s[n] = '\0';
}

/* Bytes of at most max (u16 length); read ones point into the input. */
static void
b_vb(struct bcur *c, struct vb *v, size_t max)
{
	uint64_t	 n = v->len;

	b_uint(c, &n, 2);
	if (c->bad || n > max || n > c->len - c->off) {
		c->bad = 1;
		return;
	}
	if (c->enc)
		memcpy(c->wp + c->off, v->p, n);
	else {
		v->p = c->rp + c->off;
		v->len = (uint16_t)n;
	}
	c->off += n;
}

/* The fields of each type, after the common head. */
static void
b_fields(struct bcur *c, struct bus_msg *m)
{
	switch (m->type) {
	case BUS_RING:
		b_uint(c, &m->session, 8);
		b_bytes(c, m->id, ID_LEN);
		b_bytes(c, m->peer_id, ID_LEN);
		b_bytes(c, m->cred, CRED_LEN);
		b_bytes(c, m->tokens, sizeof m->tokens);
		b_u8(c, &m->code);
		b_text(c, m->relay, PROTO_MAX_RELAY);
		b_vb(c, &m->data, PROTO_MAX_OFFER);
		break;
	case BUS_ANSWER:
		b_uint(c, &m->session, 8);
		b_bytes(c, m->cred, CRED_LEN);
		b_vb(c, &m->data, PROTO_MAX_OFFER);
		break;
	case BUS_DECLINE:
	case BUS_END:
	case BUS_REFUSE:
		b_uint(c, &m->session, 8);
		b_u8(c, &m->code);
		break;
	case BUS_NOPRESENCE:
	case BUS_RINGING:
		b_uint(c, &m->session, 8);
		break;
	case BUS_PRESENT:
		b_bytes(c, m->id, ID_LEN);
		break;
	case BUS_HEARTBEAT:
		break;
	default:
		c->bad = 1;
	}
}

/* The whole message: type, sender, time, then its fields. */
static void
b_msg(struct bcur *c, struct bus_msg *m)
{
	b_u8(c, &m->type);
	b_text(c, m->from, NODE_NAME_MAX);
	b_uint(c, &m->time_ms, 8);
	b_fields(c, m);
}

/* Seal m into out: its length, or 0 when it does not fit or a field is
 * out of range. */
size_t
bus_seal(const struct bus_msg *m, const uint8_t key[32], uint8_t *out,
    size_t outlen)
{
	uint8_t		 plain[BUS_PLAIN_MAX];
	struct bus_msg	 tmp = *m;
	struct bcur	 c = { .wp = plain, .len = sizeof plain, .enc = 1 };

	b_msg(&c, &tmp);
	if (c.bad || outlen < 1 + BUS_NONCE + BUS_MAC + c.off)
		return (0);
	out[0] = 'S';
	randombytes_buf(out + 1, BUS_NONCE);
	crypto_secretbox_easy(out + 1 + BUS_NONCE, plain, c.off, out + 1,
	    key);
	sodium_memzero(plain, c.off);
	return (1 + BUS_NONCE + BUS_MAC + c.off);
}

/* Open what bus_seal made (without its "S": in, len) into m, whose data
 * then points into plain (BUS_SEALED_MAX bytes, the caller's). 0, or -1
 * when it is not a whole, authentic message. */
int
bus_open(const uint8_t *in, size_t len, const uint8_t key[32],
    uint8_t *plain, struct bus_msg *m)
{
	struct bcur	 c = { .rp = plain };

	memset(m, 0, sizeof *m);
	if (len < BUS_NONCE + BUS_MAC || len - BUS_NONCE - BUS_MAC >
	    BUS_PLAIN_MAX)
		return (-1);
	c.len = len - BUS_NONCE - BUS_MAC;
	if (crypto_secretbox_open_easy(plain, in + BUS_NONCE, len - BUS_NONCE,
	    in, key) != 0)
		return (-1);
	b_msg(&c, m);
	if (c.bad || c.off != c.len)
		return (-1);
	return (0);
}
