/*
 * client.h -- the tryst client's internals, one section per file.
 */
#ifndef TRYST_CLIENT_H
#define TRYST_CLIENT_H

#include <sys/socket.h>

#include <poll.h>

#include "common.h"
#include "tryst.h"

/* ---- sock.c: plain sockets, clock, waits ------------------------------ */

/* Milliseconds on the monotonic clock. */
int64_t	 tryst_now_ms(void);
/* A deadline timeout_ms from now; -1 (forever) stays -1. */
int64_t	 sock_deadline(int timeout_ms);
/* Wait for events on fd until deadline: 1 ready, 0 timeout, -1 error. */
int	 sock_wait(int fd, short events, int64_t deadline);
/* Split "host:port" or "[v6]:port" (caller frees both). -1 and *cause. */
int	 sock_split_hostport(const char *hp, char **host, char **port,
	    char **cause);
/* SO_REUSEADDR and SO_REUSEPORT (and IPV6_V6ONLY for IPv6, so that
 * sockets of both families share port), then bind to port on the
 * wildcard address of family. -1 and errno. */
int	 sock_bind_shared(int fd, int family, uint16_t port);
/* The local port of a socket, or 0. */
uint16_t sock_local_port(int fd);
/* Resolve host and connect (non-blocking fd, TCP_NODELAY) to the first
 * address that answers, starting from a random one of the addresses of
 * the resolver's first family, from local port *lport when lport is not
 * NULL (0: any; set to the one bound). The fd, or -1 and *cause. */
int	 sock_connect(const char *host, const char *port, uint16_t *lport,
	    char **cause);
/* Which address sock_connect tries j-th: of the resolver's list, the
 * first k (those of its first family) from index s round, then the rest
 * in order. Pure. */
size_t	 sock_try_index(size_t j, size_t k, size_t s);

/* ---- nconn.c: a TLS connection to trystd that never waits ------------ */

#define NCONN_CONNECT_MS	10000	/* TCP connect, per address */
#define NCONN_HANDSHAKE_MS	10000	/* TLS handshake and CHALLENGE */
#define NCONN_WRITE_MS		30000	/* output that cannot move */
#define NCONN_QUEUE_MAX		(256 * 1024)	/* output queued at most */
#define NCONN_READ		1
#define NCONN_WRITE		2

enum nconn_state {
	NCONN_CONNECT,		/* TCP connect to one address after another */
	NCONN_HANDSHAKE,	/* TLS 1.3 with ALPN */
	NCONN_CHALLENGE,	/* reading and checking CHALLENGE */
	NCONN_OPEN,		/* frames both ways */
	NCONN_DONE,		/* the server closed cleanly */
	NCONN_FAILED,		/* nconn_error says why */
};

struct nconn;
struct ssl_st;
struct tconn_challenge;

/*
 * Start connecting to hostport ("host:port", "[v6]:port"): resolve it
 * (getaddrinfo, which may wait for DNS; an address does not), then TCP
 * to each address in turn (a random one of the first family first), from
 * local port lport shared through SO_REUSEADDR and SO_REUSEPORT (§6.2;
 * 0: any, -1: no binding), TLS 1.3 offering ALPN tryst/2 and tryst/1 (or
 * tryst/1 alone when max_version is 1), and CHALLENGE checked against
 * expect_pk (NULL: any key) and the certificate. Never NULL: a failure
 * is the state NCONN_FAILED. Nothing is sent before the checks pass.
 */
struct nconn	*nconn_start(const char *hostport, int max_version,
		    const uint8_t *expect_pk, int lport, int64_t now);
/* The same over an SSL object the caller made (tests: memory BIOs), in
 * NCONN_HANDSHAKE. c owns ssl. */
struct nconn	*nconn_over(struct ssl_st *ssl, int max_version,
		    const uint8_t *expect_pk, int64_t now);
/* Make all the progress that can be made without waiting: the state. */
enum nconn_state nconn_step(struct nconn *, int64_t now);
/* What to wait for on nconn_fd (NCONN_READ, NCONN_WRITE; 0: nothing),
 * and until when (ms clock; -1 none) before stepping anyway. */
unsigned	 nconn_events(const struct nconn *);
int64_t		 nconn_deadline(const struct nconn *);
int		 nconn_fd(const struct nconn *);
/* Take the next whole frame of a known server type, decoded into m (its
 * vbytes point into c and stay valid until the next nconn_recv): 1, 2
 * when none is there yet, 0 when the server closed cleanly, -1 when c
 * failed. Unknown server types are skipped (§2). Call until it is not 1
 * after every step: OpenSSL may hold bytes the socket no longer shows. */
int		 nconn_recv(struct nconn *, struct msg *m);
/* Queue one message, encoded in the version agreed (m->version is not
 * looked at), or raw bytes (tests: malformed frames). -1 with errno
 * EAGAIN when more than NCONN_QUEUE_MAX would be queued, EINVAL when m
 * does not encode, EPIPE when c is closed or failed. The steps write it;
 * output that cannot move for NCONN_WRITE_MS fails c. */
int		 nconn_send(struct nconn *, const struct msg *m);
int		 nconn_send_raw(struct nconn *, const void *, size_t);
/* Read relay bytes: the count, 0 closed, -1 failed, -2 none yet. */
long		 nconn_read_raw(struct nconn *, void *, size_t);
size_t		 nconn_queued(const struct nconn *);
enum nconn_state nconn_state(const struct nconn *);
const char	*nconn_state_name(enum nconn_state);
/* Why c failed, starting with its "HOST:PORT"; whether it failed
 * because the server's signing key is not the pinned one. */
const char	*nconn_error(const struct nconn *);
int		 nconn_key_changed(const struct nconn *);
/* The version agreed (1 or 2), and CHALLENGE's content once open. */
int		 nconn_version(const struct nconn *);
const struct tconn_challenge *nconn_challenge(const struct nconn *);
const char	*nconn_hostport(const struct nconn *);
/* The local port bound (with lport not -1), once connected. */
uint16_t	 nconn_local_port(const struct nconn *);
/* Close (close_notify when open) and free. */
void		 nconn_free(struct nconn *);

/* ---- net.c: a blocking TLS connection to trystd ----------------------- */

struct tconn;

/* What the server's CHALLENGE said, after it was checked. */
struct tconn_challenge {
	uint8_t		 nonce[32];
	uint8_t		 sign_pk[32];
	uint64_t	 server_time_ms;
};

/*
 * Connect to hostport ("host:port", "[v6]:port") over TLS 1.3 offering
 * ALPN "tryst/2" then "tryst/1" (the certificate itself is not checked:
 * trust is in the signing key), read CHALLENGE, and check it: with
 * expect_pk non-NULL the
 * server's signing key must equal it; tls_sig must verify over the
 * SHA-256 of this connection's certificate SPKI. Returns NULL and *cause
 * (caller frees) on any failure, saying which check failed. Nothing is
 * sent before the checks pass. ch may be NULL. SIGPIPE is set to ignored
 * if it was at its default, so a closed socket is an error, not a death.
 */
struct tconn	*tconn_open(const char *hostport, const uint8_t *expect_pk,
		    struct tconn_challenge *ch, char **cause);
/* Encode one message in the connection's version (m->version is not
 * looked at) and send it. -1 and *cause on error. */
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
/* tconn_open from local TCP port *lport (0: any), shared with other
 * sockets through SO_REUSEADDR and SO_REUSEPORT (§6.2); the port bound is
 * stored back in *lport. */
struct tconn	*tconn_open_port(const char *hostport,
		    const uint8_t *expect_pk, struct tconn_challenge *ch,
		    uint16_t *lport, char **cause);
/* tconn_open_port offering versions up to max_version: 2 offers tryst/2
 * and tryst/1 (what tconn_open and tconn_open_port do), 1 offers tryst/1
 * alone, as a client that predates tryst/2. lport may be NULL (any). */
struct tconn	*tconn_open_v(const char *hostport, int max_version,
		    const uint8_t *expect_pk, struct tconn_challenge *ch,
		    uint16_t *lport, char **cause);
/* The version the handshake agreed (1 or 2): tconn_send encodes and
 * tconn_recv decodes in it (tryst/2: INCOMING and ANSWER carry relay). */
int		 tconn_version(const struct tconn *);
/* The "HOST:PORT" the connection was opened to. */
const char	*tconn_hostport(const struct tconn *);
/* The connection's socket, for poll(). */
int		 tconn_fd(const struct tconn *);
/* tconn_recv without waiting: 2 when no whole frame is there yet. */
int		 tconn_recv_nowait(struct tconn *, struct msg *, char **cause);
/* Read raw bytes (relay data) without waiting: the count, 0 when the
 * server closed, -1 and *cause on error, -2 when nothing is there. Read
 * until -2 before polling: OpenSSL may hold bytes already. */
long		 tconn_read_raw(struct tconn *, void *, size_t, char **cause);

/* ---- servers.c: the endpoints of the deployment, which one to use ----- */

#define SERVERS_MAX		32
#define SERVERS_BACKOFF_MIN_MS	1000	/* §10.3: b from 1 s, doubling */
#define SERVERS_BACKOFF_MAX_MS	60000	/* up to about a minute */

/* The list of tryst init --server, and where the client is on it. */
struct servers {
	char		*hp[SERVERS_MAX];	/* "HOST:PORT" each */
	size_t		 n;
	size_t		 cur;		/* in use, or the next to try */
	size_t		 failed;	/* failures in this round */
	uint32_t	 backoff_ms;	/* b of the next back-off */
	uint32_t	(*uniform)(uint32_t);	/* 0 .. upper - 1 */
};

/* Parse "HOST:PORT[,HOST:PORT...]" (1 to SERVERS_MAX entries, each with
 * a port of 1 to 65535) and pick the one to start with at random through
 * uniform (randombytes_uniform outside tests). -1 and *cause; nothing
 * to free then. */
int	 servers_parse(struct servers *, const char *list,
	    uint32_t (*uniform)(uint32_t), char **cause);
void	 servers_free(struct servers *);
/* The endpoint to connect to now. */
const char *servers_current(const struct servers *);
/* Start a round of attempts: each endpoint may then fail once. */
void	 servers_round(struct servers *);
/* The current endpoint failed (connect, TLS, CHALLENGE, or GOAWAY
 * shutdown before WELCOME): move to the next in the list. 1 when it has
 * not failed yet in this round, 0 when every one has. */
int	 servers_failed(struct servers *);
/* Move to one of the others, at random (GOAWAY shutdown: §10.3 asks to
 * go elsewhere at once). Nothing changes with one endpoint. */
void	 servers_move(struct servers *);
/* The wait in ms before the next round after a round that failed:
 * b × (1 + u), u uniform in [0, 1], b from SERVERS_BACKOFF_MIN_MS
 * doubling up to SERVERS_BACKOFF_MAX_MS. */
uint32_t servers_backoff_ms(struct servers *);
/* Back-off from the bottom again, after a successful HELLO. */
void	 servers_backoff_reset(struct servers *);
/* Where to join a call's relay into out: given (the relay field of a
 * tryst/2 INCOMING or ANSWER) when set, with the host of control (the
 * control connection's "HOST:PORT") in place of an unspecified address
 * (0.0.0.0, [::]); control itself when given is NULL or empty (tryst/1).
 * -1 and *cause when given is not HOST:PORT or out is too small. */
int	 servers_relay_at(const char *given, const char *control, char *out,
	    size_t outlen, char **cause);

/* ---- blobs.c: where the state is kept, a directory or the app's ------ */

/*
 * The state is a few named blobs (state.c, ids.c, contacts.c name them),
 * kept as files of a directory or by the app's callbacks. A load tells an
 * absent blob from one that cannot be read: only the first may be
 * written afresh.
 */
struct blobs;

#define BLOBS_ABSENT	1			/* blobs_load: none */
#define BLOBS_SECRET	TRYST_BLOB_SECRET	/* a key: 0600, keychain */
#define BLOBS_NEW	0x100	/* refuse to replace one that is there */

/* Files dir/NAME, written atomically (temp file, fsync, rename) with
 * mode 0600; blobs_prepare makes dir 0700. */
struct blobs *blobs_dir(const char *dir);
/* The app's callbacks (tryst_state_store), called at once from the
 * blobs_* calls. BLOBS_NEW is not passed on: state.c loads first. */
struct blobs *blobs_app(tryst_blob_load_fn, tryst_blob_save_fn,
	    tryst_blob_remove_fn, void *user);
void	 blobs_free(struct blobs *);
/* The directory of blobs_dir; NULL for the app's. */
const char *blobs_where(const struct blobs *);
/* "DIR/name", or what the app's blob is called, for messages. Caller
 * frees. */
char	*blobs_label(const struct blobs *, const char *name);
/* Make ready for the first save (the directory, 0700). 0, or -1 and
 * *cause. */
int	 blobs_prepare(const struct blobs *, char **cause);
/* Blob name, at most max bytes, into *data (NUL terminated; caller frees,
 * wiping a secret first) and *len (len may be NULL): 0; BLOBS_ABSENT
 * when there is none; -1 and *cause when it cannot be read or is larger
 * than max. */
int	 blobs_load(const struct blobs *, const char *name, size_t max,
	    char **data, size_t *len, char **cause);
/* Replace blob name whole with data; flags BLOBS_SECRET, BLOBS_NEW. 0, or
 * -1 and *cause: a failed save is never silent. */
int	 blobs_save(const struct blobs *, const char *name, const void *data,
	    size_t len, int flags, char **cause);
/* Remove blob name; one that is not there is not an error. */
int	 blobs_remove(const struct blobs *, const char *name, char **cause);

/* ---- state.c: the blobs of the state, and the state directory -------- */

/* The blob "config": key = value lines. Strings are "" when unset. */
struct client_conf {
	char		*server;	/* host:port */
	char		*key;		/* base64 of the server's signing key */
	char		*country;	/* default country code, digits */
	char		*number;	/* the registered E.164 number */
};

/* The blob "pending": a registration waiting for its code. */
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
/* Remove blob name; a missing one is not an error. */
int	 state_remove(const struct blobs *, const char *name, char **cause);

/* Load or save the blob "config". Load fails with errno ENOENT when it
 * is absent (errno 0 when it cannot be read or parsed); after a failed
 * load there is nothing to free. */
int	 state_conf_load(const struct blobs *, struct client_conf *,
	    char **cause);
int	 state_conf_save(const struct blobs *, const struct client_conf *,
	    char **cause);
void	 state_conf_free(struct client_conf *);
/* Decode conf's key. -1 and *cause when unset or not 32 bytes. */
int	 state_conf_key(const struct client_conf *, uint8_t pk[32],
	    char **cause);

/* Load or save "pending". Load fails as state_conf_load. */
int	 state_pending_load(const struct blobs *, struct client_pending *,
	    char **cause);
int	 state_pending_save(const struct blobs *,
	    const struct client_pending *, char **cause);
void	 state_pending_free(struct client_pending *);

/* Make "identity", an Ed25519 secret key (a BLOBS_SECRET), unless it
 * exists: 1 when made, 0 when it was there, -1 and *cause (also when one
 * is there that cannot be read: a key is never replaced). */
int	 state_identity_make(const struct blobs *, char **cause);
/* The identity secret key (64 bytes) in sodium_malloc'd memory; free
 * with sodium_free. NULL and *cause. */
uint8_t	*state_identity_load(const struct blobs *, char **cause);

/* Load (checked against sign_pk) or save "credential". */
int	 state_cred_load(const struct blobs *, const uint8_t sign_pk[32],
	    uint8_t raw[CRED_LEN], struct cred *, char **cause);
int	 state_cred_save(const struct blobs *, const uint8_t raw[CRED_LEN],
	    char **cause);

/* ---- tryst.c: what the subcommands share ------------------------------ */

#define TRYST_REQUEST_MS	30000
#define TRYST_NUMBER_MAX	17	/* "+" 15 digits NUL */

/* The state a subcommand works on. */
struct tryst_ctx {
	char			*dir;
	struct blobs		*blobs;		/* the files of dir */
	struct client_conf	 conf;
	uint8_t			 sign_pk[32];
	struct servers		 srv;		/* conf.server's list */
};

/* Print the usage of every subcommand and exit 2. */
__attribute__((noreturn)) void tryst_usage(void);
/* Unix time t as ISO 8601 UTC ("2025-01-31T12:00:00Z") into buf. */
const char *tryst_iso_time(uint64_t t, char *buf, size_t len);
/* Load the state directory's config and pinned key, or exit 1. */
void	 tryst_ctx_load(struct tryst_ctx *);
void	 tryst_ctx_free(struct tryst_ctx *);
/* Normalise a typed number with the configured country code, or exit 1. */
void	 tryst_number(const struct tryst_ctx *, const char *typed,
	    char out[TRYST_NUMBER_MAX]);
/* What a library request came to (cli_done keeps it). */
struct cli_result {
	int		 done;
	int		 code;		/* 0, or TRYST_E* */
	int		 server_code;	/* ERR_* with TRYST_ESERVER */
	long		 retry_after_s;
	char		*message;	/* with code; caller frees */
};
/* libtryst on the CLI's state directory (tryst_state_dir NULL), or
 * exit 1. */
tryst_t	*cli_lib(void);
/* cli_lib for a registered device (else exit 1), its notices printed
 * with cli_notice. */
tryst_t	*cli_registered_lib(void);
/* A tryst_done_fn keeping the outcome in user, a struct cli_result. */
void	 cli_done(tryst_t *, const tryst_error *, void *user);
/* Run the library until r is done: 0, or 1 after printing the error. */
int	 cli_wait(tryst_t *, struct cli_result *r);
/* Copy peer text for a terminal into out (NUL terminated, truncated):
 * UTF-8 stays, control characters become '?'. */
void	 tryst_clean_text(char *out, size_t outlen, const uint8_t *p,
	    size_t len);

/* ---- account.c: tryst register, verify, whoami, delete-account -------- */

int	 account_register(int, char **);
int	 account_verify(int, char **);
int	 account_whoami(int, char **);
int	 account_delete(int, char **);

/* ---- ids.c: the cache of IDs and the OPRF steps of discovery (§5.3) --- */

#define IDS_FILE	"ids"		/* the blob's name */

/* Find number in the text of the cache: 0 with its id, or -1. Pure. */
int	 ids_find(const char *text, const char *number, uint8_t id[ID_LEN]);
/* Find the number of id in the text of the cache: 0 with it in out
 * (NUL terminated, truncated to outlen), or -1. Pure. */
int	 ids_find_number(const char *text, const uint8_t id[ID_LEN],
	    char *out, size_t outlen);
/* The text of the cache with a line added for each of the n numbers it
 * lacks (the first ID of a number wins). Pure. Caller frees. */
char	*ids_append(const char *text, char (*numbers)[TRYST_NUMBER_MAX],
	    int n, uint8_t (*ids)[ID_LEN]);
/* The text of the cache, "" when there is none; NULL and *cause when it
 * cannot be read. Caller frees. */
char	*ids_read(const struct blobs *, char **cause);
/* The ID of a cached number. 0, or -1 when it is not cached (or the
 * cache cannot be read). */
int	 ids_cached(const struct blobs *, const char *number,
	    uint8_t id[ID_LEN]);
/* The cached number of id, else the first 16 hex digits of id. */
void	 ids_name(const struct blobs *, const uint8_t id[ID_LEN], char *out,
	    size_t outlen);
/* Add n numbers and their IDs to the cache (saved whole). 0, or -1 and
 * *cause, also when the cache there cannot be read (it is kept). */
int	 ids_add(const struct blobs *, char (*numbers)[TRYST_NUMBER_MAX],
	    int n, uint8_t (*ids)[ID_LEN], char **cause);
/* Blind n numbers for OPRF_EVAL: the secret blinds (n × OPRF_SCALAR,
 * sodium_malloc'd by the caller) and the elements to send (n ×
 * OPRF_ELEM). -1 when one cannot be blinded. */
int	 ids_blind(char (*numbers)[TRYST_NUMBER_MAX], int n, uint8_t *blinds,
	    uint8_t *elems);
/* Finalise the n elements of OPRF_RESULT into the numbers' IDs. -1 when
 * the server sent an invalid element. */
int	 ids_finalize(char (*numbers)[TRYST_NUMBER_MAX], int n,
	    const uint8_t *blinds, const uint8_t *elems,
	    uint8_t (*ids)[ID_LEN]);

/* ---- lookup.c: tryst lookup ------------------------------------------- */

/* tryst lookup NUMBER... */
int	 lookup_cmd(int, char **);

/* ---- contacts.c: contacts' identity keys, trust on first use ---------- */

/* What the contacts blob says of a key (contacts_state), and why
 * contacts_accept trusted nothing. */
#define CONTACT_KNOWN		0	/* the trusted key */
#define CONTACT_NEW		1	/* no key remembered for the ID */
#define CONTACT_CHANGED		2	/* another key is trusted */
#define CONTACT_UNKNOWN		1	/* contacts_accept: no such contact */
#define CONTACT_NO_PENDING	2	/* contacts_accept: no new key */

/* Check pk against the key remembered for id: 0 when it is the same or
 * the first seen (now remembered), 1 when it differs (kept as pending),
 * -1 and *cause (also when the blob cannot be read: it is kept). */
int	 contacts_check(const struct blobs *, const uint8_t id[ID_LEN],
	    const uint8_t pk[32], char **cause);
/* CONTACT_KNOWN, _NEW or _CHANGED for pk as id's key; writes nothing (an
 * unreadable blob is an empty one here; contacts_check then fails). */
int	 contacts_state(const struct blobs *, const uint8_t id[ID_LEN],
	    const uint8_t pk[32]);
/* The trusted key of id and the pending one (when *has_pending): 0, or
 * -1 when no key is remembered. */
int	 contacts_get(const struct blobs *, const uint8_t id[ID_LEN],
	    uint8_t trusted[32], uint8_t pending[32], int *has_pending);
/* The only contact whose hex ID starts with prefix: 0, or -1. */
int	 contacts_find_prefix(const struct blobs *, const char *prefix,
	    uint8_t id[ID_LEN]);
/* Trust id's pending key (then in pk): 0, CONTACT_UNKNOWN,
 * CONTACT_NO_PENDING, or -1 and *cause. */
int	 contacts_accept(const struct blobs *, const uint8_t id[ID_LEN],
	    uint8_t pk[32], char **cause);
/* The safety number (§6.4) of our identity key and pk, in sn: 0, or -1
 * and *cause when the credential cannot be loaded. */
int	 contacts_safety(const struct blobs *, const uint8_t sign_pk[32],
	    const uint8_t pk[32], char sn[36], char **cause);

/* ---- trust.c: the CLI's warnings and commands about contacts' keys ---- */

/* Tell the user the key of name changed and what to do. */
void	 trust_warn(const char *name);
/* tryst trust NUMBER, tryst fingerprint NUMBER */
int	 trust_cmd(int, char **);
int	 trust_fingerprint(int, char **);

/* ---- path.c: a session's byte stream, direct or relayed --------------- */

#define PATH_WRITE_MS	30000

struct path {
	int		 fd;		/* direct TCP; -1 when relayed */
	struct tconn	*relay;		/* the relay data connection */
	char		 desc[80];	/* "direct ADDRESS:PORT" or "relay" */
};

void	 path_direct(struct path *, int fd);
/* Write all of it (waiting up to PATH_WRITE_MS). -1 and *cause. */
int	 path_write(struct path *, const void *, size_t, char **cause);
/* Read without waiting: as tconn_read_raw. */
long	 path_read(struct path *, void *, size_t, char **cause);
/* Read exactly len bytes by deadline (ms clock). 0, or -1 and *cause. */
int	 path_read_full(struct path *, void *, size_t, int64_t deadline,
	    char **cause);
int	 path_pollfd(const struct path *);
void	 path_close(struct path *);
/* A socket bound to the shared port P of family, SO_REUSEPORT, non
 * blocking. -1 and errno. */
int	 path_socket(int family, uint16_t port);
/* "ADDRESS:PORT" of a candidate into out. */
void	 path_cand_str(const struct cand *, char *out, size_t outlen);
/* A candidate to a sockaddr; its length. */
socklen_t path_cand_sa(const struct cand *, struct sockaddr_storage *);

/* ---- session.c: Noise over a path (§6.3) ------------------------------ */

#define SESSION_HS_MS	5000
#define SESSION_PREAMBLE "tryst-p2p-v1"
#define SESSION_PREAMBLE_LEN 20	/* 12 + session:u64 */
#define SESSION_MSG1_LEN 34	/* len:u16 e:32 */
#define SESSION_FRAME_MAX (2 + NOISE_MAX_MSG)	/* len:u16 || message */
#define SESSION_IN_SIZE	(2 * SESSION_FRAME_MAX)	/* a session's input */
#define SESSION_HS_OUT	(SESSION_PREAMBLE_LEN + 2 + 512) /* one of ours */

enum {
	KIND_TEXT = 1,
	KIND_FILE_OFFER = 2,
	KIND_FILE_DATA = 3,
	KIND_FILE_END = 4,
	KIND_CLOSE = 5,
};
#define SESSION_MAX_PT	(NOISE_MAX_MSG - NOISE_TAG)

/* What both sides bind the handshake to. */
struct hsinfo {
	uint64_t	 session;
	uint8_t		 caller_id[ID_LEN];
	uint8_t		 callee_id[ID_LEN];
	uint8_t		 s_sk[32];	/* our X25519 static key */
	uint8_t		 peer_pk[32];	/* the peer's expected, X25519 */
};

struct session {
	struct path	 path;
	struct noise_cipher tx, rx;
	uint8_t		*in;		/* len:u16 || message */
	size_t		 fill;
	uint8_t		*pt;		/* the last message received */
	size_t		 ptlen;
	uint8_t		*ct;
};

/* Fill in the keys of hi: ours from the identity key, the peer's from
 * its Ed25519 identity key. -1 if either does not convert. */
int	 session_keys(struct hsinfo *, const uint8_t *identity_sk,
	    const uint8_t peer_identity_pk[32]);
/* The 20-byte preamble of a session. */
void	 session_preamble(uint8_t out[SESSION_PREAMBLE_LEN], uint64_t);
/* Caller: preamble, message 1, 2, 3 on path, then the transport keys.
 * On success s owns path. 0, or -1 and *cause. */
int	 session_start(struct session *, struct path *,
	    const struct hsinfo *, char **cause);
/* Callee: having read the preamble and framed message 1 (msg1, 34
 * bytes), answer on path. On success s owns path. */
int	 session_answer(struct session *, struct path *,
	    const struct hsinfo *, const uint8_t msg1[SESSION_MSG1_LEN],
	    char **cause);

/*
 * The pure steps the two above are made of, each taking bytes and state
 * and giving a result with no I/O: session_start and session_answer read
 * and write a path around them; the tests and the fuzzer call them on
 * bytes they hold.
 */
/* The frame (len:u16 || message) at the front of in[0..fill): its whole
 * length when it is all there, else 0 and in *need the bytes missing. */
size_t	 session_frame(const uint8_t *in, size_t fill, size_t *need);
/* Start a handshake bound to hi, as initiator (the caller) or not.
 * fixed_e (tests only) is the ephemeral secret key; NULL draws one. */
void	 session_hs_begin(struct noise_hs *, int initiator,
	    const struct hsinfo *, const uint8_t *fixed_e);
/* Our next handshake message, framed, after head (hlen bytes) in out
 * (SESSION_HS_OUT is enough): its length, or -1 and *cause. */
long	 session_hs_write(struct noise_hs *, const uint8_t *head,
	    size_t hlen, uint8_t *out, size_t outlen, char **cause);
/* Read the peer's next handshake message, a whole frame of len bytes.
 * 0, or -1 and *cause; hs is then of no further use. */
int	 session_hs_read(struct noise_hs *, const uint8_t *frame, size_t len,
	    char **cause);
/* After the third message: check the peer's static key against hi and
 * make s (its path closed: fd -1) with the transport ciphers. 0, or -1
 * and *cause. Wipes hs either way. */
int	 session_hs_finish(struct session *, struct noise_hs *,
	    const struct hsinfo *, char **cause);
/* Add bytes from the peer to the input of s: how many fit (after
 * session_take said 2, at least SESSION_FRAME_MAX do). */
size_t	 session_input(struct session *, const void *, size_t);
/* Decrypt the message at the front of the input of s: 1 (in s->pt,
 * s->ptlen >= 1, its frame gone from the input), 2 when no whole frame is
 * there yet, -1 and *cause when it does not decrypt (the input and the
 * receiving cipher as they were) or is empty (the cipher moved on). */
int	 session_take(struct session *, char **cause);

/* Send a transport message: kind, then a and b. -1 and *cause. */
int	 session_send(struct session *, uint8_t kind, const void *a,
	    size_t alen, const void *b, size_t blen, char **cause);
/* Take a whole message if there is one: 1 (in s->pt, s->ptlen), 2
 * nothing yet, 0 the peer closed, -1 and *cause. */
int	 session_recv(struct session *, char **cause);
void	 session_close(struct session *);

/* ---- reach.c: which of a peer's candidates may be dialled ------------- */

enum reach_scope {
	REACH_SCOPE_NONE,	/* names no single host */
	REACH_SCOPE_LOOPBACK,
	REACH_SCOPE_LOCAL,	/* a range the Internet does not route */
	REACH_SCOPE_GLOBAL,
};

enum reach_why {
	REACH_OK,
	REACH_NO_PORT,
	REACH_NO_HOST,
	REACH_LOOPBACK,		/* and the server is not on this host */
	REACH_OTHER_NETWORK,	/* local, of a network we are not on */
};

/* The scope of a candidate's address. */
enum reach_scope reach_scope(const struct cand *);
/* May this device dial the peer's candidate? REACH_OK or why not. self:
 * this device's own addresses (nself, either family); server_loopback:
 * this device reaches the server over loopback. */
enum reach_why reach_check(const struct cand *peer, const struct cand *self,
	    int nself, int server_loopback);
const char *reach_why_str(enum reach_why);

/* ---- reflex.c: a server-reflexive address by STUN (§5.7) ------------- */

#define REFLEX_REQ_LEN		20	/* a Binding request, no attributes */
#define REFLEX_MS		300	/* the wait for an answer, in all */
#define REFLEX_RESEND_MS	100	/* send again when none came */

/* A Binding request (RFC 8489, with the magic cookie) of txid. Pure. */
size_t	 reflex_request(uint8_t out[REFLEX_REQ_LEN], const uint8_t txid[12]);
/* Our address in a Binding success answer to the request of txid,
 * XOR-MAPPED-ADDRESS or else MAPPED-ADDRESS: 0 and *c (kind
 * server-reflexive), or -1 for anything else. Pure. */
int	 reflex_parse(const uint8_t *p, size_t len, const uint8_t txid[12],
	    struct cand *c);
/* Ask the STUN responder on port of host, in family (AF_INET or
 * AF_INET6), from UDP port lport, how it sees us: 0 and *c, or -1 (host
 * has no address of that family, or no answer within REFLEX_MS). */
int	 reflex_ask(const char *host, uint16_t port, int family,
	    uint16_t lport, struct cand *c);
/* The same of the node at endpoint ("HOST:PORT", the control
 * connection's), STUN on stun_port (WELCOME's; 0: none), at the address
 * of family af that HOST has. */
int	 reflex_other(const char *endpoint, uint16_t stun_port, int af,
	    uint16_t lport, struct cand *c);

/* ---- p2p-cands.c: candidates, and a call's paths (§6.1, §6.2) ------- */

#define P2P_DIRECT_MS	3000
#define P2P_RETRY_MS	100
#define P2P_RELAY_MS	35000	/* the relay's wait for the other party */
#define P2P_MAX_SELF	32	/* local addresses kept for reach_check */

struct p2p {
	int		 lfd[2];	/* listening on P: IPv4, IPv6; or -1 */
	int		 family;	/* of the server connection */
	uint16_t	 port;		/* P */
	struct cand	 cands[OFFER_MAX_CANDS];
	int		 ncands;
	struct cand	 self[P2P_MAX_SELF];	/* every local address */
	int		 nself;
	int		 server_loopback;
};

/* With direct, gather our candidates and listen on P; without (relay
 * only), neither: the offer is then empty and tells the peer nothing.
 * ctl_fd is the control connection to hostport, from port P; srflx
 * (NULL: none) what WELCOME said of it; stun_port WELCOME's
 * (p2p-cands.c). */
int	 p2p_gather(struct p2p *, int ctl_fd, const char *hostport,
	    uint16_t port, const struct cand *srflx, uint16_t stun_port,
	    int direct, char **cause);
/* Add c to what is offered, unless it is there or the offer is full. */
void	 p2p_add_cand(struct p2p *, const struct cand *);
/* A p2p with nothing open, for p2p_close before or without p2p_gather. */
void	 p2p_init(struct p2p *);
void	 p2p_close(struct p2p *);
/* Close connections that arrive on P outside a call. */
void	 p2p_strays(struct p2p *);
/* Our candidates as an offer or answer; 0 bytes when there are none. */
size_t	 p2p_offer(const struct p2p *, uint8_t *out, size_t outlen);
struct portmap;
/* With direct paths over IPv4: offer the mapping of P that pm holds
 * (portmap.c), in place of what was offered of it before; pm (all zero,
 * or readied and perhaps started) asks for it the first time. Without
 * them pm is closed. Called again, it only offers the mapping as it is
 * now (renewed, or lapsed). p2p_unmap it. */
void	 p2p_map(struct p2p *, struct portmap *pm);
/* 1 when p has direct paths over IPv4, the ones a router maps
 * (p2p-cands.c, as p2p_map and p2p_unmap). */
int	 p2p_mappable(const struct p2p *);
/* Stop offering the mapping and delete it. */
void	 p2p_unmap(struct p2p *, struct portmap *pm);

/* ---- portmap.c: a mapping of P on the router (NAT-PMP/PCP, UPnP) ----- */

#define PORTMAP_BUDGET_MS	250	/* per protocol, to find and ask it */
#define PORTMAP_LIFETIME_S	3600	/* asked for */
#define PORTMAP_RETRY_MS	1000	/* least wait before a renewal */
#define PORTMAP_PROTOS		2

/*
 * One way of asking the router. map asks for a mapping of TCP port (P)
 * at outside port want for life_s seconds, within budget_ms: 0 with the
 * router's outside address and the port it gave in *ext (family 4) and
 * the lifetime granted in *granted_s (0: until deleted), or -1. Asked
 * again with want = the port given, it renews. unmap deletes it. start,
 * when set, looks for the service before any protocol is asked, so that
 * the waits overlap one another and whatever the caller does meanwhile
 * (the next map then waits for what is left of budget_ms from start).
 */
struct portmap_proto {
	const char	*name;
	void		(*start)(void *, int budget_ms);
	int		(*map)(void *, uint16_t port, uint16_t want,
			    uint32_t life_s, int budget_ms, struct cand *ext,
			    uint32_t *granted_s);
	void		(*unmap)(void *, uint16_t port, uint16_t ext_port,
			    int budget_ms);
	void		(*free)(void *);
	/* For portmap_step, without waiting: take what has come of start's
	 * search; 1 the service answered (map then waits only for a router
	 * known to be there), -1 there is none (refused, or the budget is
	 * spent), 0 not yet. fds: the descriptors the answers come on (up
	 * to max), how many; deadline: when answered must be called even
	 * without one (ms clock), -1 none. NULL: answered is taken as 1. */
	int		(*answered)(void *);
	int		(*fds)(void *, struct pollfd *, int max);
	int64_t		(*deadline)(void *);
	void		*arg;
};

/* A mapping of P, for a call or for an online spell of tryst listen.
 * All zero: none, nothing to free. */
struct portmap {
	struct portmap_proto	 proto[PORTMAP_PROTOS];
	int			 nproto;
	int			 started;	/* portmap_start ran */
	int			 next;		/* portmap_step asks it next */
	struct portmap_proto	*held;		/* holds the mapping, or NULL */
	uint16_t		 port;		/* P */
	struct cand		 ext;		/* the mapping, kind srflx */
	int64_t			 expires;	/* ms clock; 0 never */
	int64_t			 renew_at;	/* ms clock; 0 never */
	int			 offered;	/* offer joined ours */
	struct cand		 offer;		/* what is offered of it */
	int64_t			(*now)(void);	/* tryst_now_ms */
};

/* Ready pm with the real protocols, NAT-PMP/PCP then UPnP IGD. */
void	 portmap_init(struct portmap *);
/* Look for the services (the NAT-PMP address request, the UPnP search)
 * without waiting; the answers are taken by portmap_open until
 * PORTMAP_BUDGET_MS from now. P need not be known yet. Once per pm. */
void	 portmap_start(struct portmap *);
/* Ask each protocol in turn for a mapping of port (starting the search
 * unless portmap_start did): 0 with it in pm->ext (a global address), or
 * -1 with none held. */
int	 portmap_open(struct portmap *, uint16_t port);
enum portmap_state {
	PORTMAP_WAITING,	/* a service may still answer */
	PORTMAP_HELD,		/* in pm->ext */
	PORTMAP_NONE,
};
/* portmap_open for a loop that must not wait for the search: ask each
 * protocol in turn, the next one only when the one before has answered
 * or is known to be absent; meanwhile PORTMAP_WAITING, and the caller
 * polls portmap_fds until portmap_deadline and steps again. Only a
 * protocol that answered is asked for the mapping, which then waits for
 * the router: NAT-PMP up to PORTMAP_BUDGET_MS, UPnP for HTTP requests
 * to the IGD (libminiupnpc's timeouts). Starts the search unless
 * portmap_start did. */
enum portmap_state portmap_step(struct portmap *, uint16_t port);
/* The descriptors portmap_step awaits (up to max): how many. */
int	 portmap_fds(const struct portmap *, struct pollfd *, int max);
/* When portmap_step must run even with nothing read (ms clock), else the
 * renewal's time (portmap_tick); -1 none. */
int64_t	 portmap_deadline(const struct portmap *);
/* Renew the mapping when it is due (half its lifetime); one that could
 * not be renewed before it lapsed is dropped. */
void	 portmap_tick(struct portmap *);
/* Delete the mapping and free the protocols' state; pm is then all
 * zero but for ext and port. */
void	 portmap_close(struct portmap *);
/* When to renew, on the ms clock, a mapping that lapses at expires: at
 * half the time left, at least PORTMAP_RETRY_MS from now; 0 (never) when
 * expires is 0. Pure. */
int64_t	 portmap_renew_at(int64_t now, int64_t expires);
/* 1 if a mapping's outside address is worth offering: a global IPv4
 * address and a port. A private one means another NAT above the router,
 * where the mapping reaches no one. Pure. */
int	 portmap_ext_usable(const struct cand *);

enum portmap_upnp_next {
	PORTMAP_UPNP_GIVE_UP,
	PORTMAP_UPNP_PERMANENT,	/* 725: the IGD takes only lease 0 */
	PORTMAP_UPNP_ANY_PORT,	/* 718: the port is taken; let it pick */
};
/* What to try after AddPortMapping answered rc, with a permanent lease
 * or any port tried already or not. Pure. */
enum portmap_upnp_next portmap_upnp_next(int rc, int permanent, int any);
/* The LOCATION header of an SSDP answer, an http:// URL, into out
 * (NUL-terminated). 0, or -1 without one that fits. Pure. */
int	 portmap_ssdp_location(const char *buf, size_t len, char *out,
	    size_t outlen);

/* ---- race.c: a call's session brought up without waiting ------------- */

enum race_state {
	RACE_RUNNING,
	RACE_UP,		/* race_take hands the session over */
	RACE_FAILED,		/* race_error says why */
};

struct race;
struct race_cfg {
	int		 initiator;	/* the caller */
	const struct hsinfo *hi;	/* kept by the caller meanwhile */
	const struct p2p *p;		/* listeners on P, our addresses */
	int		 relay_only;	/* no direct attempt */
	char		 relay_at[PROTO_MAX_RELAY + 8];	/* "" none */
	uint8_t		 relay_token[16];
	uint8_t		 sign_pk[32];	/* the relay's key, pinned */
	/*
	 * The effects, for tests to fake; NULL: the real ones. dial starts
	 * a connect to c from port: a descriptor, connecting or connected,
	 * or -1. dialed: 1 its connect finished, 0 not yet, -1 it failed.
	 * accept: a connection waiting on listener lfd, or -1. join: a
	 * connection to the relay at at, never NULL (nconn_start's).
	 * io_arg goes to each.
	 */
	int		(*dial)(void *, const struct cand *c, uint16_t port);
	int		(*dialed)(void *, int fd);
	int		(*accept)(void *, int lfd);
	struct nconn	*(*join)(void *, const char *at,
			    const uint8_t sign_pk[32], int64_t now);
	void		*io_arg;
};

/* Start: dial the peer's candidates that reach_check allows, in the
 * families we listen in, from P. */
struct race	*race_new(const struct race_cfg *, const struct cand *peer,
		    int npeer, int64_t now);
/* Accept, connect, handshake, join the relay: the state. */
enum race_state	 race_step(struct race *, int64_t now);
/* The descriptors to watch (up to max): how many. */
int		 race_fds(const struct race *, struct pollfd *, int max);
/* When to step even if nothing is ready (ms clock). */
int64_t		 race_deadline(const struct race *);
/* Once up: the session's ciphers into s, and its path: a direct socket
 * (*fd) or a relay connection (*relay), named in desc. 0, or -1. */
int		 race_take(struct race *, struct session *s, int *fd,
		    struct nconn **relay, char *desc, size_t desclen);
const char	*race_error(const struct race *);
void		 race_free(struct race *);

/* ---- inbox.c: names of received files --------------------------------- */

#define INBOX_NAME_MAX	200	/* bytes of a name; room for a suffix */

/* The sender's name p[0..len) made safe: what follows its last '/', as
 * valid UTF-8 with each C0 or C1 control, DEL, U+2028, U+2029, bidi
 * control (U+061C, U+200E, U+200F, U+202A..202E, U+2066..2069) or bad
 * byte sequence as one '_', cut on a character boundary to at most
 * INBOX_NAME_MAX bytes, never empty, "." or ".." ("file" then). Pure.
 * Caller frees. */
char	*inbox_safe_name(const uint8_t *p, size_t len);
/* The bytes a received file may take where statvfs says bavail blocks of
 * frsize bytes are free, of blocks in all: the free space less a margin
 * of 1% of the file system or 64 MiB, whichever is smaller; UINT64_MAX
 * when blocks or frsize is 0 (no size known). Pure. */
uint64_t inbox_room(uint64_t bavail, uint64_t blocks, uint64_t frsize);
/* A file offer's body (size:u64 name:vbytes, §6.3): 0 with the size in
 * *size and the name made safe in *name (caller frees), or -1 when the
 * lengths do not add up. Pure. */
int	 inbox_offer_parse(const uint8_t *p, size_t len, uint64_t *size,
	    char **name);
/* Move the finished file tmp into dir as name, or stem-N.ext when that
 * exists (N from 1); never replaces a file. 0 and the name used in *used
 * (caller frees), or -1 and errno. */
int	 inbox_link(const char *tmp, const char *dir, const char *name,
	    char **used);

/* ---- conv.c: one call of the CLI over libtryst, and the CLI's loop ---- */

/* Have SIGINT, SIGTERM and SIGHUP stop the loop instead of the process
 * (blocked outside cli_poll); cli_stopped says which came, or 0, and
 * cli_die_of_stop dies of it once the library has cleaned up. */
void	 cli_catch_stops(void);
int	 cli_stopped(void);
void	 cli_die_of_stop(void);
/* One wait on t's descriptors, its timeout and in_fd (-1: none), then
 * tryst_process on what is ready: 1 when in_fd is readable. */
int	 cli_poll(tryst_t *, int in_fd);
/* A tryst_notice_fn: "tryst: TEXT" on stderr. */
void	 cli_notice(tryst_t *, const char *text, void *user);
/* The cached number of the account id_hex, else its first 16 digits. */
void	 cli_name(tryst_t *, const char *id_hex, char *out, size_t outlen);

#define CONV_LINE_MAX	8192

struct conv;

/* A file being sent: what the library last said of it. */
struct conv_file {
	char		*name;		/* the path given */
	uint64_t	 size;
	int		 state;		/* TRYST_FILE_*, 0 before any */
	int		 started;	/* some of it went out */
	char		*why;		/* with TRYST_FILE_FAILED */
	int64_t		 start, drawn;	/* the progress bar's */
};

/* One call as the CLI shows it: the peer's text on stdout as "PEER:
 * text", stdin's lines to it (chat), files out and in. */
struct conv {
	tryst_t		*t;
	tryst_call_t	*call;
	char		 peer[TRYST_NUMBER_MAX + 16];	/* its name */
	int		 chat;		/* stdin's lines go to the peer */
	int		 close_at_eof;	/* and its end closes the call */
	int		 stdin_open;
	int		 stdin_eof;	/* stdin reached its end */
	int		 blocked;	/* the window is full */
	char		 line[CONV_LINE_MAX];
	size_t		 fill;
	struct conv_file *files;
	int		 nfiles;
	int		 rx_refused;	/* a file of the peer's was refused */
	int		 rx_off;	/* files cannot be received */
	int		 opened;	/* the session came up */
	int		 ended;
	int		 clean;		/* ended with both CLOSEs */
	int		 code;		/* else TRYST_E*, server code, and */
	int		 server_code;
	char		*why;		/* the library's sentence */
	void		(*on_state)(struct conv *, int state);
	void		*user;		/* the command's */
};

/* Follow call (its state, messages and window) as peer. */
void	 conv_init(struct conv *, tryst_t *, tryst_call_t *, const char *peer);
/* Queue files to send: 0, or -1 after saying why. */
int	 conv_send_files(struct conv *, char **paths, int n);
/* Take the peer's files into dir (rx_off, after saying why, if not). */
void	 conv_receive(struct conv *, const char *dir);
/* Whether stdin is to be read now; sending what is held back and, when
 * readable, reading it. */
int	 conv_wants_stdin(const struct conv *);
void	 conv_stdin(struct conv *, int readable);
/* Once ended: say what became of each file sent; 0 when the call ended
 * cleanly and every file was sent. */
int	 conv_report(struct conv *);
void	 conv_free(struct conv *);

/* ---- listen.c, talk.c: the commands around sessions ------------------- */

int	 listen_cmd(int, char **);
int	 talk_chat(int, char **);
int	 talk_send(int, char **);
/* The peer's candidates from its offer or answer (none when it is empty
 * or does not decode), logged at debug level naming the peer as who. */
int	 talk_peer_cands(const struct vb *, const char *who, struct cand *);

#endif
