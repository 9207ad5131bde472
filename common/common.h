/*
 * common.h -- what trystd, trystctl and tryst share: memory and encoding
 * helpers, logging, the wire codec, E.164, the RFC 9497 OPRF, server keys,
 * credentials and registration tokens, and the config file parser.
 *
 * One section per file of common/.
 */
#ifndef TRYST_COMMON_H
#define TRYST_COMMON_H

#include <sys/types.h>

#include <stdarg.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <syslog.h>

#define TRYST_VERSION "0.1.0"

#ifndef nitems
#define nitems(a)	(sizeof (a) / sizeof (a)[0])
#endif

/* ---- util.c ------------------------------------------------------------ */

void	*xmalloc(size_t);
void	*xcalloc(size_t, size_t);
void	*xrealloc(void *, size_t);
char	*xstrdup(const char *);
int	 xasprintf(char **, const char *, ...)
	    __attribute__((format(printf, 2, 3)));

/* Lowercase hex of len bytes into out, which holds 2 * len + 1. */
void	 hex_encode(char *out, const uint8_t *in, size_t len);
/* Decode exactly outlen bytes of hex; -1 on bad input or wrong length. */
int	 hex_decode(uint8_t *out, size_t outlen, const char *in);
/* Standard padded base64 of len bytes; caller frees. */
char	*b64_encode(const uint8_t *in, size_t len);
/* Decode standard padded base64 (surrounding whitespace ignored) into
 * exactly outlen bytes; -1 otherwise. */
int	 b64_decode(uint8_t *out, size_t outlen, const char *in);

/* Write a file atomically (temp file, fsync, rename) with mode. With
 * excl, refuse (-1, EEXIST) when path exists. -1 and *cause on error. */
int	 file_write_atomic(const char *path, const void *data, size_t len,
	    mode_t mode, int excl, char **cause);
/* Read a whole small file (at most max bytes) into a NUL-terminated
 * buffer; caller frees. NULL and *cause on error. */
char	*file_read_small(const char *path, size_t max, size_t *lenp,
	    char **cause);

/* Big-endian loads and stores. */
static inline uint16_t
get_u16(const uint8_t *p)
{
	return (uint16_t)((p[0] << 8) | p[1]);
}
static inline uint32_t
get_u32(const uint8_t *p)
{
	return ((uint32_t)p[0] << 24) | ((uint32_t)p[1] << 16) |
	    ((uint32_t)p[2] << 8) | p[3];
}
static inline uint64_t
get_u64(const uint8_t *p)
{
	return ((uint64_t)get_u32(p) << 32) | get_u32(p + 4);
}
static inline void
put_u16(uint8_t *p, uint16_t v)
{
	p[0] = v >> 8;
	p[1] = v & 0xff;
}
static inline void
put_u32(uint8_t *p, uint32_t v)
{
	p[0] = v >> 24;
	p[1] = (v >> 16) & 0xff;
	p[2] = (v >> 8) & 0xff;
	p[3] = v & 0xff;
}
static inline void
put_u64(uint8_t *p, uint64_t v)
{
	put_u32(p, (uint32_t)(v >> 32));
	put_u32(p + 4, (uint32_t)v);
}

/* ---- log.c ------------------------------------------------------------- */

/* Levels are syslog's: LOG_ERR, LOG_WARNING, LOG_NOTICE, LOG_INFO,
 * LOG_DEBUG. Lines go to stderr as "<N>text\n", which journald reads. */
void	 log_set_level(int);
int	 log_get_level(void);
/* "err", "warning", "notice", "info", "debug" to a level; -1 if unknown. */
int	 log_level_parse(const char *);
const char *log_level_name(int);
void	 log_msg(int, const char *, ...)
	    __attribute__((format(printf, 2, 3)));
void	 log_vmsg(int, const char *, va_list)
	    __attribute__((format(printf, 2, 0)));
__attribute__((noreturn)) void fatal(const char *, ...)
	    __attribute__((format(printf, 1, 2)));
__attribute__((noreturn)) void fatalx(const char *, ...)
	    __attribute__((format(printf, 1, 2)));
/* Escape peer-supplied bytes for a log line into dst (always NUL
 * terminated, truncated to fit). */
void	 log_escape(char *dst, size_t dstlen, const uint8_t *src, size_t len);

/* Arguments below the level are not evaluated. errno is kept. */
#define log_at(pri, ...) do {						\
	if ((pri) <= log_get_level())					\
		log_msg((pri), __VA_ARGS__);				\
} while (0)
#define log_debug(...)	log_at(LOG_DEBUG, __VA_ARGS__)
#define log_info(...)	log_at(LOG_INFO, __VA_ARGS__)
#define log_notice(...)	log_at(LOG_NOTICE, __VA_ARGS__)
#define log_warnx(...)	log_at(LOG_WARNING, __VA_ARGS__)
#define log_errx(...)	log_at(LOG_ERR, __VA_ARGS__)

/* ---- proto.c: frames and messages of PROTOCOL.md §2 and §4 ------------- */

#define PROTO_HDR		4	/* len:u32 */
#define PROTO_MAX_LEN		65536	/* type byte + body */
#define PROTO_MAX_LEN_ANON	1024
#define PROTO_MAX_FRAME		(PROTO_HDR + PROTO_MAX_LEN)
#define PROTO_MAX_BATCH		1024
#define PROTO_MAX_OFFER		4096
#define PROTO_MAX_RELAY		255	/* tryst/2 relay endpoint */
#define PROTO_MAX_NUMBER	64

enum msg_type {
	MSG_REGISTER_BEGIN = 0x01,
	MSG_REGISTER_FINISH = 0x02,
	MSG_HELLO = 0x03,
	MSG_OPRF_EVAL = 0x04,
	MSG_LOOKUP = 0x05,
	MSG_CONNECT = 0x06,
	MSG_ACCEPT = 0x07,
	MSG_DECLINE = 0x08,
	MSG_END = 0x09,
	MSG_RELAY_JOIN = 0x0a,
	MSG_DELETE_ACCOUNT = 0x0b,
	MSG_PING = 0x0c,

	MSG_CHALLENGE = 0x80,
	MSG_REGISTER_CHALLENGE = 0x81,
	MSG_REGISTERED = 0x82,
	MSG_WELCOME = 0x83,
	MSG_OPRF_RESULT = 0x84,
	MSG_LOOKUP_RESULT = 0x85,
	MSG_INCOMING = 0x86,
	MSG_ANSWER = 0x87,
	MSG_DECLINED = 0x88,
	MSG_ENDED = 0x89,
	MSG_RELAY_READY = 0x8a,
	MSG_DELETED = 0x8b,
	MSG_PONG = 0x8c,
	MSG_GOAWAY = 0x8e,
	MSG_ERROR = 0x8f,
};

enum err_code {
	ERR_MALFORMED = 1,
	ERR_UNSUPPORTED = 2,
	ERR_RATE_LIMITED = 3,
	ERR_INVALID_NUMBER = 4,
	ERR_BAD_CODE = 5,
	ERR_EXPIRED = 6,
	ERR_UNAUTHENTICATED = 7,
	ERR_REVOKED = 8,
	ERR_OFFLINE = 9,
	ERR_UNAVAILABLE = 10,
	ERR_TOO_LARGE = 11,
	ERR_LIMIT = 12,
	ERR_DELIVERY_FAILED = 13,
	ERR_TIMEOUT = 14,
	ERR_NO_SESSION = 15,
	ERR_QUOTA = 16,
};

enum goaway_reason {
	GOAWAY_SHUTDOWN = 0,
	GOAWAY_REPLACED = 1,
	GOAWAY_IDLE = 2,
	GOAWAY_OVERLOAD = 3,
	GOAWAY_REVOKED = 4,
};

#define HELLO_PRESENCE	0x01

/* A vbytes field: points into the decoded buffer (or, for encoding, into
 * the caller's data). Never owns memory. */
struct vb {
	const uint8_t	*p;
	uint16_t	 len;
};

struct msg {
	uint8_t		 type;
	/* The protocol version of the connection (ALPN tryst/1 or tryst/2;
	 * 0 is taken as 1): tryst/2 adds relay to INCOMING and ANSWER. */
	uint8_t		 version;
	union {
		struct {
			uint8_t	 version;
			uint8_t	 nonce[32];
			uint64_t server_time_ms;
			uint8_t	 sign_pk[32];
			uint8_t	 tls_sig[64];
		} challenge;
		struct {
			struct vb number;		/* len <= 64 */
		} reg_begin;
		struct {
			struct vb token;
			uint8_t	 code_digits;
			uint32_t expires_in_s;
		} reg_challenge;
		struct {
			struct vb token;
			struct vb code;
			uint8_t	 identity_pk[32];
		} reg_finish;
		struct {
			struct vb credential;
		} registered;
		struct {
			struct vb credential;
			uint8_t	 signature[64];
			uint8_t	 flags;
		} hello;
		struct {
			uint8_t	 family;		/* 4 or 6 */
			uint16_t port;
			uint8_t	 addr[16];		/* 4 or 16 used */
			uint16_t idle_timeout_s;
			uint16_t stun_port;
			uint16_t max_batch;
			uint16_t max_offer_bytes;
			struct vb credential;
		} welcome;
		struct {				/* OPRF_EVAL, OPRF_RESULT */
			uint16_t count;			/* 1..1024 */
			const uint8_t *elements;	/* 32 * count */
		} oprf;
		struct {
			uint16_t count;			/* 1..1024 */
			const uint8_t *ids;		/* 32 * count */
		} lookup;
		struct {
			uint16_t count;
			const uint8_t *bitmap;		/* ceil(count / 8) */
		} lookup_result;
		struct {
			uint32_t tag;
			uint8_t	 target_id[32];
			struct vb offer;		/* len <= 4096 */
		} connect;
		struct {
			uint64_t session;
			struct vb caller_credential;
			struct vb offer;
			uint8_t	 relay_token[16];
			struct vb relay;	/* tryst/2: "HOST:PORT", 1..255 */
		} incoming;
		struct {
			uint64_t session;
			struct vb answer;		/* len <= 4096 */
		} accept;
		struct {
			uint64_t session;
			uint8_t	 reason;
		} decline;
		struct {
			uint32_t tag;
			uint64_t session;
			struct vb callee_credential;
			struct vb answer;
			uint8_t	 relay_token[16];
			struct vb relay;	/* tryst/2: "HOST:PORT", 1..255 */
		} answer;
		struct {
			uint32_t tag;
			uint8_t	 reason;
		} declined;
		struct {
			uint64_t session;
		} end;
		struct {
			uint64_t session;
			uint8_t	 why;
		} ended;
		struct {
			uint64_t session;
			uint8_t	 relay_token[16];
		} relay_join;
		struct {				/* PING, PONG */
			uint64_t nonce;
		} ping;
		struct {
			uint8_t	 reason;
			uint32_t reconnect_after_s;
		} goaway;
		struct {
			uint8_t	 ref_type;
			uint64_t ref;
			uint16_t code;
			uint32_t retry_after_s;
			struct vb message;
		} error;
	} u;
};

/* 1 if type is a message of §4 (either direction), else 0. */
int	 proto_known(uint8_t type);
const char *proto_type_name(uint8_t type);
const char *proto_err_name(uint16_t code);
/* Decode a frame header: the value of len, without bound checks. */
uint32_t proto_frame_len(const uint8_t hdr[PROTO_HDR]);
/* Decode body (the bytes after the type byte) of a known type into m.
 * vbytes fields point into body. 0, or -1 when the body does not parse:
 * short, trailing bytes, or a count or length out of its protocol range
 * (an unknown type is also -1). Pure; never allocates. */
int	 proto_decode(uint8_t type, const uint8_t *body, size_t len,
	    struct msg *m);
/* The same for a connection of the given version (1 or 2): m->version is
 * set to it. proto_decode is proto_decode_v with version 1. */
int	 proto_decode_v(uint8_t type, const uint8_t *body, size_t len,
	    int version, struct msg *m);
/* Encode m as a whole frame (header, type, body) into out, in the
 * version m->version says. Returns the
 * frame length, or 0 when it does not fit in outlen or a field is out of
 * its protocol range. */
size_t	 proto_encode(const struct msg *m, uint8_t *out, size_t outlen);

/* ---- e164.c: PROTOCOL.md §1 and §6.5 ----------------------------------- */

/* 1 if s[0..len) is "+" then 7 to 15 digits, the first not 0. */
int	 e164_valid(const char *s, size_t len);
/* Normalise what a person typed, with default country code cc (digits,
 * e.g. "44"; may be NULL or "" for none) into out (at least 17 bytes).
 * 0, or -1 when the result is not E.164. */
int	 e164_normalise(const char *typed, const char *cc, char *out,
	    size_t outlen);

/* ---- oprf.c: RFC 9497 OPRF(ristretto255, SHA-512), mode 0 -------------- */

#define OPRF_ELEM	32
#define OPRF_SCALAR	32
#define OPRF_OUT	64

/* expand_message_xmd with SHA-512 (RFC 9380 §5.3.1). -1 on bad lengths. */
int	 oprf_expand_xmd(uint8_t *out, size_t outlen, const uint8_t *msg,
	    size_t msglen, const uint8_t *dst, size_t dstlen);
/* DeriveKeyPair(seed, info); pk may be NULL. -1 on DeriveKeyPairError. */
int	 oprf_derive_keypair(uint8_t sk[OPRF_SCALAR], uint8_t *pk,
	    const uint8_t *seed, size_t seedlen, const uint8_t *info,
	    size_t infolen);
/* Blind(input). With fixed non-NULL it is used as the blind (tests);
 * else a random one is drawn. -1 on InvalidInputError. */
int	 oprf_blind(uint8_t blind[OPRF_SCALAR], uint8_t blinded[OPRF_ELEM],
	    const uint8_t *input, size_t len, const uint8_t *fixed);
/* 1 if e is a canonical ristretto255 encoding other than the identity:
 * an element BlindEvaluate and Finalize accept. */
int	 oprf_element_ok(const uint8_t e[OPRF_ELEM]);
/* BlindEvaluate. -1 when blinded is not a canonical ristretto255
 * encoding or is the identity. */
int	 oprf_blind_evaluate(uint8_t evaluated[OPRF_ELEM],
	    const uint8_t sk[OPRF_SCALAR], const uint8_t blinded[OPRF_ELEM]);
/* Finalize. -1 when evaluated is invalid. */
int	 oprf_finalize(uint8_t out[OPRF_OUT], const uint8_t *input, size_t len,
	    const uint8_t blind[OPRF_SCALAR],
	    const uint8_t evaluated[OPRF_ELEM]);
/* Evaluate (the server side, in one step). */
int	 oprf_evaluate(uint8_t out[OPRF_OUT], const uint8_t sk[OPRF_SCALAR],
	    const uint8_t *input, size_t len);

/* ---- cred.c: master key, subkeys, credentials, tokens, signatures ------ */

#define MASTER_KEY_LEN	32
#define CRED_LEN	145
#define CRED_SIGNED	81
#define ID_LEN		32
#define TOKEN_NONCE	24
#define TOKEN_CODE	8
/* nonce || secretbox(id:32 code:8 expires_ms:8) */
#define TOKEN_LEN	(TOKEN_NONCE + 16 + ID_LEN + TOKEN_CODE + 8)

/* The server's secrets, in sodium_malloc'd memory. */
struct keys {
	uint8_t	 sign_pk[32];
	uint8_t	 sign_sk[64];
	uint8_t	 oprf_sk[OPRF_SCALAR];
	uint8_t	 token_key[32];
	uint8_t	 bus_key[32];	/* seals messages between nodes */
};

struct cred {
	uint8_t	 version;
	uint8_t	 id[ID_LEN];
	uint8_t	 identity_pk[32];
	uint64_t created;
	uint64_t expires;
};

/* Make a new master key file (base64 line, mode 0600); refuses to
 * overwrite. -1 and *cause on error. */
int	 keys_generate_file(const char *path, char **cause);
/* Read a master key file: one line of 44 characters of padded base64,
 * optionally followed by a newline. -1 and *cause on error. */
int	 keys_load_master(const char *path, uint8_t master[MASTER_KEY_LEN],
	    char **cause);
/* Derive the subkeys of PROTOCOL.md §1. Free with keys_free. */
struct keys *keys_derive(const uint8_t master[MASTER_KEY_LEN]);
void	 keys_free(struct keys *);
/* The account ID of an E.164 number: OPRF Evaluate, first 32 bytes. */
int	 keys_number_id(const struct keys *, const char *number,
	    uint8_t id[ID_LEN]);

/* Build and sign a credential. */
void	 cred_make(uint8_t out[CRED_LEN], const struct keys *,
	    const uint8_t id[ID_LEN], const uint8_t identity_pk[32],
	    uint64_t created, uint64_t expires);
/* Parse a credential (length 145, version 1) and check the server's
 * signature over it. 0 and *c, or -1. Does not look at the time. */
int	 cred_verify(const uint8_t *p, size_t len, const uint8_t sign_pk[32],
	    struct cred *c);

/* HELLO's signature: identity key over "tryst-hello-v1" || nonce ||
 * credential. */
void	 hello_sign(uint8_t sig[64], const uint8_t identity_sk[64],
	    const uint8_t nonce[32], const uint8_t cred[CRED_LEN]);
int	 hello_verify(const uint8_t sig[64], const uint8_t identity_pk[32],
	    const uint8_t nonce[32], const uint8_t cred[CRED_LEN]);

/* CHALLENGE's tls_sig: signing key over "tryst-tls-v1" || nonce ||
 * spki_hash (SHA-256 of the certificate's DER SubjectPublicKeyInfo). */
void	 tls_sig_make(uint8_t sig[64], const struct keys *,
	    const uint8_t nonce[32], const uint8_t spki_hash[32]);
int	 tls_sig_verify(const uint8_t sig[64], const uint8_t sign_pk[32],
	    const uint8_t nonce[32], const uint8_t spki_hash[32]);

/* 1 if pk is a valid Ed25519 public key (a point on the curve, not of
 * small order). */
int	 identity_pk_valid(const uint8_t pk[32]);

/* Seal a registration token with a random nonce. code is the ASCII
 * digits (at most 8). */
void	 token_seal(uint8_t out[TOKEN_LEN], const struct keys *,
	    const uint8_t id[ID_LEN], const char *code, uint64_t expires_ms);
/* Open a token: 0 with id, code (NUL-terminated, digits only), expiry
 * and nonce; -1 when it is not TOKEN_LEN bytes or does not open. */
int	 token_open(const uint8_t *tok, size_t len, const struct keys *,
	    uint8_t id[ID_LEN], char code[TOKEN_CODE + 1],
	    uint64_t *expires_ms, uint8_t nonce[TOKEN_NONCE]);

/* ---- conf.c: key = value files, driven by a settings table ------------- */

enum conf_type {
	CONF_INT,	/* long long within [min, max] */
	CONF_STR,	/* char *, xstrdup'd; "" allowed when min == 0 */
	CONF_LEVEL,	/* log level name, stored as int */
};

struct conf_entry {
	const char	*name;
	enum conf_type	 type;
	size_t		 offset;	/* into the settings struct */
	const char	*def;		/* default as it would be written */
	long long	 min;
	long long	 max;
	int		 reload;	/* 1 if SIGHUP applies it */
	const char	*help;		/* one line for conf/trystd.conf */
	int		 must_set;	/* 1: written uncommented, to be set */
	/* NULL, or a check of the value once stored, which may compare it
	 * with other keys of dst: 0, or -1 and *why (a reason, which the
	 * parser prefixes with "FILE:LINE: name: "). */
	int		(*check)(const void *dst, char **why);
};

/* Fill dst with every default of table (NULL-name terminated). */
void	 conf_defaults(const struct conf_entry *table, void *dst);
/* Parse path into dst (defaults must already be set). -1 and *cause
 * "FILE:LINE: reason" on an unknown key, a bad value, a repeated key or
 * a line that is not "key = value". Once the whole file is read, the
 * check of each key it sets runs, in the order of their lines. */
int	 conf_load(const struct conf_entry *table, void *dst,
	    const char *path, char **cause);
/* Parse text (for tests and -t); name is used in messages. */
int	 conf_parse(const struct conf_entry *table, void *dst,
	    const char *name, const char *text, size_t len, char **cause);
/* Free the strings of dst. */
void	 conf_free(const struct conf_entry *table, void *dst);
/* Write the documented default file made from table. */
void	 conf_write_default(const struct conf_entry *table, FILE *);

/* ---- noise.c: Noise_XX_25519_ChaChaPoly_BLAKE2b (PROTOCOL.md §6.3) ------ */

#define NOISE_KEY	32
#define NOISE_HASH	64	/* BLAKE2b-512, HASHLEN of the Noise spec */
#define NOISE_TAG	16
#define NOISE_MAX_MSG	65535

/* A CipherState. */
struct noise_cipher {
	uint8_t		 k[NOISE_KEY];
	uint64_t	 n;
	int		 has_key;
};

/* A HandshakeState of the XX pattern (with its SymmetricState). */
struct noise_hs {
	int		 initiator;
	int		 step;		/* messages done, 0..3 */
	uint8_t		 s_sk[32], s_pk[32];
	uint8_t		 e_sk[32], e_pk[32];
	uint8_t		 rs[32], re[32];
	uint8_t		 ck[NOISE_HASH];
	uint8_t		 h[NOISE_HASH];
	struct noise_cipher cs;
	int		 has_fixed_e;
	uint8_t		 fixed_e[32];
};

/* Start a handshake with an X25519 static secret key. fixed_e (tests
 * only) is the ephemeral secret key to use; NULL draws one. */
void	 noise_hs_init(struct noise_hs *, int initiator,
	    const uint8_t *prologue, size_t prologue_len,
	    const uint8_t s_sk[32], const uint8_t *fixed_e);
/* Write the next handshake message with payload into out. Its length,
 * or -1 when it is not our turn or out is too small. */
long	 noise_hs_write(struct noise_hs *, const uint8_t *payload,
	    size_t len, uint8_t *out, size_t outlen);
/* Read the peer's next handshake message; the payload's length, or -1
 * when it does not decrypt, is short, or it is not their turn. */
long	 noise_hs_read(struct noise_hs *, const uint8_t *msg, size_t len,
	    uint8_t *payload, size_t paylen);
/* 1 once all three messages are done. */
int	 noise_hs_done(const struct noise_hs *);
/* Split into the two transport ciphers (ours to send, ours to receive)
 * and the handshake hash; wipes the handshake state. */
void	 noise_hs_split(struct noise_hs *, struct noise_cipher *send,
	    struct noise_cipher *recv, uint8_t hash[NOISE_HASH]);
/* The peer's static public key (valid once it has been received). */
const uint8_t *noise_hs_remote_static(const struct noise_hs *);
/* Transport messages. Length written, or -1 (too big, bad tag, nonce
 * exhausted). */
long	 noise_encrypt(struct noise_cipher *, const uint8_t *pt, size_t len,
	    uint8_t *out, size_t outlen);
long	 noise_decrypt(struct noise_cipher *, const uint8_t *ct, size_t len,
	    uint8_t *out, size_t outlen);

/* ---- offer.c: offers and answers (§6.1), safety numbers (§6.4) --------- */

#define OFFER_MAX_CANDS	16
#define CAND_HOST	1
#define CAND_SRFLX	2

struct cand {
	uint8_t		 kind;
	uint8_t		 family;	/* 4 or 6 */
	uint16_t	 port;
	uint8_t		 addr[16];	/* 4 or 16 used */
};

/* Decode an offer or answer: version 1, count 1..16, candidates. Unknown
 * kinds are skipped; IPv4-mapped IPv6 becomes IPv4. 0 and *n, or -1 when
 * it does not parse (short, trailing bytes, bad family, bad count). */
int	 offer_decode(const uint8_t *p, size_t len, struct cand *c, int *n);
/* Encode n (1..16) candidates; length, or 0 when out is too small. */
size_t	 offer_encode(const struct cand *c, int n, uint8_t *out,
	    size_t outlen);
/* The safety number of two identity keys: six groups of five digits
 * separated by spaces, into out (at least 36 bytes). */
void	 safety_number(const uint8_t pk_a[32], const uint8_t pk_b[32],
	    char out[36]);

#endif
