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
#define FRAME_MAX	(2 + NOISE_MAX_MSG)
#define IN_SIZE		(2 * FRAME_MAX)

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

/* Start the handshake state with the prologue of hi. */
static void
hs_begin(struct noise_hs *hs, int initiator, const struct hsinfo *hi)
{
	uint8_t	 pro[PROLOGUE_LEN];

	session_preamble(pro, hi->session);
	memcpy(pro + 20, hi->caller_id, ID_LEN);
	memcpy(pro + 20 + ID_LEN, hi->callee_id, ID_LEN);
	noise_hs_init(hs, initiator, pro, sizeof pro, hi->s_sk, NULL);
}

/* Write our next handshake message, framed, after head (hlen bytes). */
static int
hs_send(struct noise_hs *hs, struct path *p, const uint8_t *head,
    size_t hlen, char **cause)
{
	uint8_t	 buf[SESSION_PREAMBLE_LEN + 2 + 512];
	long	 n;

	if (hlen > 0)
		memcpy(buf, head, hlen);
	n = noise_hs_write(hs, NULL, 0, buf + hlen + 2,
	    sizeof buf - hlen - 2);
	if (n < 0) {
		xasprintf(cause, "handshake: cannot write message %d",
		    hs->step + 1);
		return (-1);
	}
	put_u16(buf + hlen, (uint16_t)n);
	return (path_write(p, buf, hlen + 2 + (size_t)n, cause));
}

/* Read the peer's next handshake message by deadline. */
static int
hs_recv(struct noise_hs *hs, struct path *p, int64_t deadline,
    char **cause)
{
	uint8_t	*buf, len[2], payload[64];
	int	 rc = -1, step = hs->step + 1;

	if (path_read_full(p, len, 2, deadline, cause) != 0)
		return (-1);
	buf = xmalloc(NOISE_MAX_MSG);
	if (path_read_full(p, buf, get_u16(len), deadline, cause) != 0)
		goto out;
	if (noise_hs_read(hs, buf, get_u16(len), payload,
	    sizeof payload) < 0)
		xasprintf(cause, "handshake message %d does not decrypt",
		    step);
	else
		rc = 0;
out:
	free(buf);
	return (rc);
}

/* The handshake is done: check the peer's key and take the ciphers. */
static int
hs_finish(struct session *s, struct noise_hs *hs, struct path *p,
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
	s->path = *p;
	s->in = xmalloc(IN_SIZE);
	s->pt = xmalloc(NOISE_MAX_MSG);
	s->ct = xmalloc(FRAME_MAX);
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

	hs_begin(&hs, 1, hi);
	session_preamble(pre, hi->session);
	if (hs_send(&hs, p, pre, sizeof pre, cause) != 0 ||
	    hs_recv(&hs, p, deadline, cause) != 0 ||
	    hs_send(&hs, p, NULL, 0, cause) != 0) {
		sodium_memzero(&hs, sizeof hs);
		return (-1);
	}
	return (hs_finish(s, &hs, p, hi, cause));
}

/* Callee: answer message 1 (framed, after a checked preamble). */
int
session_answer(struct session *s, struct path *p, const struct hsinfo *hi,
    const uint8_t msg1[SESSION_MSG1_LEN], char **cause)
{
	struct noise_hs	 hs;
	uint8_t		 payload[64];
	int64_t		 deadline = tryst_now_ms() + SESSION_HS_MS;

	hs_begin(&hs, 0, hi);
	if (get_u16(msg1) != SESSION_MSG1_LEN - 2 ||
	    noise_hs_read(&hs, msg1 + 2, SESSION_MSG1_LEN - 2, payload,
	    sizeof payload) < 0) {
		sodium_memzero(&hs, sizeof hs);
		xasprintf(cause, "handshake message 1 is not valid");
		return (-1);
	}
	if (hs_send(&hs, p, NULL, 0, cause) != 0 ||
	    hs_recv(&hs, p, deadline, cause) != 0) {
		sodium_memzero(&hs, sizeof hs);
		return (-1);
	}
	return (hs_finish(s, &hs, p, hi, cause));
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
	    FRAME_MAX - 2);
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

/* Decrypt the whole message at the front of in, if there is one. */
static int
take_message(struct session *s, char **cause)
{
	size_t	 len;
	long	 n;

	if (s->fill < 2 || s->fill < 2 + (len = get_u16(s->in)))
		return (2);
	if ((n = noise_decrypt(&s->rx, s->in + 2, len, s->pt,
	    NOISE_MAX_MSG)) < 1) {
		xasprintf(cause, "a message from the peer does not decrypt");
		return (-1);
	}
	s->ptlen = (size_t)n;
	s->fill -= 2 + len;
	memmove(s->in, s->in + 2 + len, s->fill);
	return (1);
}

/* Take a whole message if there is one, reading what has arrived. */
int
session_recv(struct session *s, char **cause)
{
	long	 n;
	int	 r;

	for (;;) {
		if ((r = take_message(s, cause)) != 2)
			return (r);
		n = path_read(&s->path, s->in + s->fill, IN_SIZE - s->fill,
		    cause);
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
