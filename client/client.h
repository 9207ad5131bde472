/*
 * client.h -- the tryst client's internals, one section per file.
 */
#ifndef TRYST_CLIENT_H
#define TRYST_CLIENT_H

#include "common.h"

/* ---- net.c: a blocking TLS connection to trystd ----------------------- */

struct tconn;

/* What the server's CHALLENGE said, after it was checked. */
struct tconn_challenge {
	uint8_t		 nonce[32];
	uint8_t		 sign_pk[32];
	uint64_t	 server_time_ms;
};

/*
 * Connect to hostport ("host:port", "[v6]:port") over TLS 1.3 with ALPN
 * "tryst/1" (the certificate itself is not checked: trust is in the
 * signing key), read CHALLENGE, and check it: with expect_pk non-NULL the
 * server's signing key must equal it; tls_sig must verify over the
 * SHA-256 of this connection's certificate SPKI. Returns NULL and *cause
 * (caller frees) on any failure, saying which check failed. Nothing is
 * sent before the checks pass. ch may be NULL. SIGPIPE is set to ignored
 * if it was at its default, so a closed socket is an error, not a death.
 */
struct tconn	*tconn_open(const char *hostport, const uint8_t *expect_pk,
		    struct tconn_challenge *ch, char **cause);
/* Encode and send one message. -1 and *cause on error. */
int		 tconn_send(struct tconn *, const struct msg *, char **cause);
/* Send raw bytes (tests use this for malformed frames). */
int		 tconn_send_raw(struct tconn *, const void *, size_t,
		    char **cause);
/*
 * Wait up to timeout_ms (-1 forever) for one whole frame and decode it into
 * m; vbytes fields point into the connection's buffer and stay valid until
 * the next tconn_recv. Returns 1 with a message, 0 when the server closed
 * the connection cleanly, -1 and *cause on timeout ("timeout"), a TLS
 * error, or a frame that does not decode. Frames of unknown type are
 * skipped.
 */
int		 tconn_recv(struct tconn *, struct msg *m, int timeout_ms,
		    char **cause);
void		 tconn_close(struct tconn *);

/* ---- state.c: the state directory and the files in it ----------------- */

/* The file "config": key = value lines. Strings are "" when unset. */
struct client_conf {
	char		*server;	/* host:port */
	char		*key;		/* base64 of the server's signing key */
	char		*country;	/* default country code, digits */
	char		*number;	/* the registered E.164 number */
};

/* The file "pending": a registration waiting for its code. */
struct client_pending {
	char		*number;
	char		*token;		/* hex */
	long long	 code_digits;
	long long	 expires;	/* Unix time, from expires_in_s */
};

/* $TRYST_HOME, else $XDG_DATA_HOME/tryst, else $HOME/.local/share/tryst.
 * Caller frees. NULL and *cause when none is set. */
char	*state_dir(char **cause);
/* Create dir and its missing parents; dir itself ends up mode 0700. */
int	 state_mkdir(const char *dir, char **cause);
/* dir/name. Caller frees. */
char	*state_path(const char *dir, const char *name);
/* Remove dir/name; a missing file is not an error. */
int	 state_remove(const char *dir, const char *name, char **cause);

/* Load or save dir/config. Load fails with errno ENOENT when absent;
 * after a failed load there is nothing to free. */
int	 state_conf_load(const char *dir, struct client_conf *, char **cause);
int	 state_conf_save(const char *dir, const struct client_conf *,
	    char **cause);
void	 state_conf_free(struct client_conf *);
/* Decode conf's key. -1 and *cause when unset or not 32 bytes. */
int	 state_conf_key(const struct client_conf *, uint8_t pk[32],
	    char **cause);

/* Load or save dir/pending (mode 0600). Load fails as state_conf_load. */
int	 state_pending_load(const char *dir, struct client_pending *,
	    char **cause);
int	 state_pending_save(const char *dir, const struct client_pending *,
	    char **cause);
void	 state_pending_free(struct client_pending *);

/* Make dir/identity, an Ed25519 secret key, unless it exists: 1 when
 * made, 0 when it was there, -1 and *cause. */
int	 state_identity_make(const char *dir, char **cause);
/* The identity secret key (64 bytes) in sodium_malloc'd memory; free
 * with sodium_free. NULL and *cause. */
uint8_t	*state_identity_load(const char *dir, char **cause);

/* Load (checked against sign_pk) or save dir/credential. */
int	 state_cred_load(const char *dir, const uint8_t sign_pk[32],
	    uint8_t raw[CRED_LEN], struct cred *, char **cause);
int	 state_cred_save(const char *dir, const uint8_t raw[CRED_LEN],
	    char **cause);

/* ---- tryst.c: what the subcommands share ------------------------------ */

#define TRYST_REQUEST_MS	30000

/* The state a subcommand works on. */
struct tryst_ctx {
	char			*dir;
	struct client_conf	 conf;
	uint8_t			 sign_pk[32];
};

/* Print the usage of every subcommand and exit 2. */
__attribute__((noreturn)) void tryst_usage(void);
/* Unix time t as ISO 8601 UTC ("2025-01-31T12:00:00Z") into buf. */
const char *tryst_iso_time(uint64_t t, char *buf, size_t len);
/* Print a server ERROR to stderr: code name, message, when to retry. */
void	 tryst_print_error(const struct msg *);
/* Say what an unexpected reply was (an ERROR is printed); returns 1. */
int	 tryst_unexpected(const struct msg *);
/* Load the state directory's config and pinned key, or exit 1. */
void	 tryst_ctx_load(struct tryst_ctx *);
void	 tryst_ctx_free(struct tryst_ctx *);
/* Connect with the pinned key (ch may be NULL), or exit 1. */
struct tconn *tryst_connect(struct tryst_ctx *, struct tconn_challenge *ch);
/* Send out and wait up to ms for the reply in in: 0, or -1 after saying
 * why (also for GOAWAY and a closed connection). */
int	 tryst_request(struct tconn *, const struct msg *out, struct msg *in,
	    int ms);

/* ---- account.c: tryst register, verify, whoami ------------------------ */

int	 account_register(int, char **);
int	 account_verify(int, char **);
int	 account_whoami(int, char **);

#endif
