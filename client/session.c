/*
 * session.c -- Noise_XX_25519_ChaChaPoly_BLAKE2b over a path (PROTOCOL.md
 * §6.3): the caller initiates after the preamble, every Noise message is
 * framed as len:u16 || message, and after the handshake each side checks
 * that the peer's static key is the X25519 form of the identity key in
 * the credential the server vouched for.
 */
#include <stdlib.h>
#include <string.h>

#include <sodium.h>

#include "client.h"

#define PROLOGUE_LEN	(12 + 8 + 2 * ID_LEN)

/* Our X25519 static key and the peer's expected one. */
int
session_keys(struct hsinfo *hi, const uint8_t *identity_sk,
    const uint8_t peer_identity_pk[32])
{
	if (crypto_sign_ed25519_sk_to_curve25519(hi->s_sk, identity_sk) != 0)
		return (-1);
	return (crypto_sign_ed25519_pk_to_curve25519(hi->peer_pk,
	    peer_identity_pk));
}

/* "tryst-p2p-v1" || session. */
void
session_preamble(uint8_t out[SESSION_PREAMBLE_LEN], uint64_t session)
{
	memcpy(out, SESSION_PREAMBLE, 12);
	put_u64(out + 12, session);
}

/* The frame (len:u16 || message) at the front of in[0..fill): its length
 * when it is all there, else 0 with the bytes still missing in *need. */
size_t
session_frame(const uint8_t *in, size_t fill, size_t *need)
{
	size_t	 whole;

	if (fill < 2) {
		*need = 2 - fill;
		return (0);
	}
	whole = 2 + (size_t)get_u16(in);
	if (fill < whole) {
		*need = whole - fill;
		return (0);
	}
	*need = 0;
	return (whole);
}

/* Start the handshake state with the prologue of hi. */
void
session_hs_begin(struct noise_hs *hs, int initiator, const struct hsinfo *hi,
    const uint8_t *fixed_e)
{
	uint8_t	 pro[PROLOGUE_LEN];

	session_preamble(pro, hi->session);
	memcpy(pro + 20, hi->caller_id, ID_LEN);
	memcpy(pro + 20 + ID_LEN, hi->callee_id, ID_LEN);
	noise_hs_init(hs, initiator, pro, sizeof pro, hi->s_sk, fixed_e);
}

/* Our next handshake message, framed, after head (hlen bytes), in out. */
long
session_hs_write(struct noise_hs *hs, const uint8_t *head, size_t hlen,
    uint8_t *out, size_t outlen, char **cause)
{
	long	 n = -1;

	if (outlen >= hlen + 2)
		n = noise_hs_write(hs, NULL, 0, out + hlen + 2,
		    outlen - hlen - 2);
	if (n < 0) {
		xasprintf(cause, "handshake: cannot write message %d",
		    hs->step + 1);
		return (-1);
	}
	if (hlen > 0)
		memcpy(out, head, hlen);
	put_u16(out + hlen, (uint16_t)n);
	return ((long)(hlen + 2 + (size_t)n));
}

/* Read the peer's next handshake message, the whole frame of len bytes. */
int
session_hs_read(struct noise_hs *hs, const uint8_t *frame, size_t len,
    char **cause)
{
	uint8_t	 payload[64];
	size_t	 need;
	int	 step = hs->step + 1;

	if (session_frame(frame, len, &need) != len ||
	    noise_hs_read(hs, frame + 2, len - 2, payload,
	    sizeof payload) < 0) {
		xasprintf(cause, "handshake message %d does not decrypt",
		    step);
		return (-1);
	}
	return (0);
}

/* Write our next handshake message, framed, after head (hlen bytes). */
static int
hs_send(struct noise_hs *hs, struct path *p, const uint8_t *head,
    size_t hlen, char **cause)
{
	uint8_t	 buf[SESSION_HS_OUT];
	long	 n;

	if ((n = session_hs_write(hs, head, hlen, buf, sizeof buf,
	    cause)) < 0)
		return (-1);
	return (path_write(p, buf, (size_t)n, cause));
}

/* Read the peer's next handshake frame, and no more, by deadline. */
static int
hs_recv(struct noise_hs *hs, struct path *p, int64_t deadline,
    char **cause)
{
	uint8_t	*buf = xmalloc(SESSION_FRAME_MAX);
	size_t	 fill = 0, need;
	int	 rc = -1;

	while (session_frame(buf, fill, &need) == 0) {
		if (path_read_full(p, buf + fill, need, deadline, cause) != 0)
			goto out;
		fill += need;
	}
	rc = session_hs_read(hs, buf, fill, cause);
out:
	free(buf);
	return (rc);
}

/* The handshake is done: check the peer's key and take the ciphers. */
int
session_hs_finish(struct session *s, struct noise_hs *hs,
    const struct hsinfo *hi, char **cause)
{
	uint8_t	 hash[NOISE_HASH];

	if (!noise_hs_done(hs) || sodium_memcmp(noise_hs_remote_static(hs),
	    hi->peer_pk, 32) != 0) {
		sodium_memzero(hs, sizeof *hs);
		xasprintf(cause, "the peer's key is not the one in its "
		    "credential");
		return (-1);
	}
	memset(s, 0, sizeof *s);
	noise_hs_split(hs, &s->tx, &s->rx, hash);
	sodium_memzero(hs, sizeof *hs);
	sodium_memzero(hash, sizeof hash);
	s->path.fd = -1;
	s->in = xmalloc(SESSION_IN_SIZE);
	s->pt = xmalloc(NOISE_MAX_MSG);
	s->ct = xmalloc(SESSION_FRAME_MAX);
	return (0);
}

/* Caller: preamble and message 1, then 2 and 3. */
int
session_start(struct session *s, struct path *p, const struct hsinfo *hi,
    char **cause)
{
	struct noise_hs	 hs;
	uint8_t		 pre[SESSION_PREAMBLE_LEN];
	int64_t		 deadline = tryst_now_ms() + SESSION_HS_MS;

	session_hs_begin(&hs, 1, hi, NULL);
	session_preamble(pre, hi->session);
	if (hs_send(&hs, p, pre, sizeof pre, cause) != 0 ||
	    hs_recv(&hs, p, deadline, cause) != 0 ||
	    hs_send(&hs, p, NULL, 0, cause) != 0 ||
	    session_hs_finish(s, &hs, hi, cause) != 0) {
		sodium_memzero(&hs, sizeof hs);
		return (-1);
	}
	s->path = *p;
	return (0);
}

/* Callee: answer message 1 (framed, after a checked preamble). */
int
session_answer(struct session *s, struct path *p, const struct hsinfo *hi,
    const uint8_t msg1[SESSION_MSG1_LEN], char **cause)
{
	struct noise_hs	 hs;
	int64_t		 deadline = tryst_now_ms() + SESSION_HS_MS;

	session_hs_begin(&hs, 0, hi, NULL);
	if (session_hs_read(&hs, msg1, SESSION_MSG1_LEN, cause) != 0) {
		sodium_memzero(&hs, sizeof hs);
		free(*cause);
		xasprintf(cause, "handshake message 1 is not valid");
		return (-1);
	}
	if (hs_send(&hs, p, NULL, 0, cause) != 0 ||
	    hs_recv(&hs, p, deadline, cause) != 0 ||
	    session_hs_finish(s, &hs, hi, cause) != 0) {
		sodium_memzero(&hs, sizeof hs);
		return (-1);
	}
	s->path = *p;
	return (0);
}

/* Encrypt kind || a || b and send it framed. */
int
session_send(struct session *s, uint8_t kind, const void *a, size_t alen,
    const void *b, size_t blen, char **cause)
{
	uint8_t	*pt;
	long	 n;
	int	 rc;

	if (1 + alen + blen > SESSION_MAX_PT) {
		xasprintf(cause, "message too long");
		return (-1);
	}
	pt = xmalloc(1 + alen + blen);
	pt[0] = kind;
	if (alen > 0)
		memcpy(pt + 1, a, alen);
	if (blen > 0)
		memcpy(pt + 1 + alen, b, blen);
	n = noise_encrypt(&s->tx, pt, 1 + alen + blen, s->ct + 2,
	    SESSION_FRAME_MAX - 2);
	sodium_memzero(pt, 1 + alen + blen);
	free(pt);
	if (n < 0) {
		xasprintf(cause, "cannot encrypt");
		return (-1);
	}
	put_u16(s->ct, (uint16_t)n);
	rc = path_write(&s->path, s->ct, 2 + (size_t)n, cause);
	return (rc);
}

/* Add bytes from the peer to the input of s, as many as fit. */
size_t
session_input(struct session *s, const void *p, size_t len)
{
	if (len > SESSION_IN_SIZE - s->fill)
		len = SESSION_IN_SIZE - s->fill;
	if (len > 0)
		memcpy(s->in + s->fill, p, len);
	s->fill += len;
	return (len);
}

/* Decrypt the whole message at the front of the input, if there is one. */
int
session_take(struct session *s, char **cause)
{
	size_t	 len, need;
	long	 n;

	if ((len = session_frame(s->in, s->fill, &need)) == 0)
		return (2);
	if ((n = noise_decrypt(&s->rx, s->in + 2, len - 2, s->pt,
	    NOISE_MAX_MSG)) < 0) {
		xasprintf(cause, "a message from the peer does not decrypt");
		return (-1);
	}
	if (n == 0) {
		xasprintf(cause, "the peer sent an empty message");
		return (-1);
	}
	s->ptlen = (size_t)n;
	s->fill -= len;
	memmove(s->in, s->in + len, s->fill);
	return (1);
}

/* Take a whole message if there is one, reading what has arrived. */
int
session_recv(struct session *s, char **cause)
{
	long	 n;
	int	 r;

	for (;;) {
		if ((r = session_take(s, cause)) != 2)
			return (r);
		n = path_read(&s->path, s->in + s->fill,
		    SESSION_IN_SIZE - s->fill, cause);
		if (n == -2)
			return (2);
		if (n == 0 && s->fill != 0) {
			xasprintf(cause, "the peer closed in the middle of a "
			    "message");
			return (-1);
		}
		if (n <= 0)
			return ((int)n);
		s->fill += (size_t)n;
	}
}

/* Close the path and wipe the keys. */
void
session_close(struct session *s)
{
	path_close(&s->path);
	sodium_memzero(&s->tx, sizeof s->tx);
	sodium_memzero(&s->rx, sizeof s->rx);
	if (s->pt != NULL)
		sodium_memzero(s->pt, NOISE_MAX_MSG);
	free(s->in);
	free(s->pt);
	free(s->ct);
	s->in = s->pt = s->ct = NULL;
}
