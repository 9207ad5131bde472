/*
 * tryst.h -- libtryst, the tryst client as a library an app embeds.
 *
 * The contract (doc/libtryst.md says it at length):
 * - Every call takes a tryst_t; there is no global state, nothing is
 *   printed, no signal handler is installed, nothing exits.
 * - Nothing waits: the app's own loop watches the descriptors that
 *   tryst_fd_get lists, and calls tryst_process when one is ready or
 *   tryst_timeout_ms has passed. tryst_run is such a loop, for programs
 *   that have none of their own.
 * - A function that can fail returns 0 or a negative TRYST_E* code and,
 *   when err is not NULL, sets *err to an error the app frees with
 *   tryst_error_free. An error given to a callback belongs to the library
 *   and lives until the callback returns.
 * - Strings are UTF-8 and NUL-terminated; those passed in are copied.
 *   Every string returned by a function is the caller's: free it with
 *   tryst_free.
 * - One tryst_t is used from one thread at a time; callbacks run inside
 *   tryst_process (or a call that starts work never calls them: they
 *   always come later, from tryst_process). A callback may start new
 *   work but must not call tryst_destroy. The state store's callbacks
 *   (tryst_state_store) are the exception: called at once, they call
 *   nothing back.
 */
#ifndef TRYST_H
#define TRYST_H

#include <stddef.h>
#include <stdint.h>

#ifdef __cplusplus
extern "C" {
#endif

#define TRYST_API	__attribute__((visibility("default")))

/* Error codes: 0 is success, each of these is negative. */
#define TRYST_EINVAL	(-1)	/* an argument is not valid */
#define TRYST_ESTATE	(-2)	/* not set up, not registered, ... */
#define TRYST_EIO	(-3)	/* the state could not be read or written */
#define TRYST_ENET	(-4)	/* no server could be reached */
#define TRYST_ESERVER	(-5)	/* the server refused (server code set) */
#define TRYST_EKEY	(-6)	/* the server's key is not the pinned one */
#define TRYST_EBUSY	(-7)	/* a request of that kind is under way */
#define TRYST_EREVOKED	(-8)	/* registered again elsewhere, or deleted */
#define TRYST_ECANCELED	(-9)	/* given up: tryst_destroy, offline */

/* What to watch a descriptor for, and what it was ready for. */
#define TRYST_READ	1
#define TRYST_WRITE	2

/* Where the device stands with its servers (tryst_on_status). */
#define TRYST_OFFLINE		0	/* not asked to be online */
#define TRYST_CONNECTING	1	/* connecting, or waiting to retry */
#define TRYST_ONLINE		2	/* WELCOME: reachable for calls */
#define TRYST_STOPPED		3	/* cannot go on: see the error */

typedef struct tryst tryst_t;
typedef struct tryst_error tryst_error;
typedef struct tryst_call tryst_call_t;

/* A request finished: err is NULL on success. */
typedef void (*tryst_done_fn)(tryst_t *t, const tryst_error *err,
    void *user);
/* The status changed; err says why when it is not TRYST_ONLINE. */
typedef void (*tryst_status_fn)(tryst_t *t, int status,
    const tryst_error *err, void *user);
/* Something worth telling a user that is not an error (a server failed
 * and the next is tried), as a sentence in English. */
typedef void (*tryst_notice_fn)(tryst_t *t, const char *text, void *user);

/* The library's version, "MAJOR.MINOR.PATCH". */
TRYST_API const char *tryst_version(void);

/* A context with no state yet. NULL only when memory ran out. */
TRYST_API tryst_t *tryst_new(tryst_error **err);
/* Close every connection, drop pending work (no callbacks) and free. */
TRYST_API void	 tryst_destroy(tryst_t *t);
/* Free a string or buffer the library returned. */
TRYST_API void	 tryst_free(void *p);

/* ---- Errors ---------------------------------------------------------- */

TRYST_API int	 tryst_error_code(const tryst_error *e);
/* A sentence the app can show, in English. */
TRYST_API const char *tryst_error_message(const tryst_error *e);
/* The server's protocol error code (doc/protocol.md §8) with
 * TRYST_ESERVER, else 0. */
TRYST_API int	 tryst_error_server_code(const tryst_error *e);
/* Seconds the server asked to wait before trying again, or 0. */
TRYST_API long	 tryst_error_retry_after_s(const tryst_error *e);
TRYST_API void	 tryst_error_free(tryst_error *e);
/* Hear notices (NULL: no more), from tryst_process. Nothing is printed
 * either way. */
TRYST_API void	 tryst_on_notice(tryst_t *t, tryst_notice_fn fn, void *user);

/* ---- State ----------------------------------------------------------- */

/*
 * Keep state in dir (made 0700 by tryst_setup when missing; the
 * identity key in it is 0600). NULL: the tryst CLI's own, $TRYST_HOME, else
 * $XDG_DATA_HOME/tryst, else ~/.local/share/tryst. The files are the
 * CLI's, so an app and the CLI can share a device. Existing
 * configuration is loaded; a directory without any is fine (tryst_setup
 * makes it).
 */
TRYST_API int	 tryst_state_dir(tryst_t *t, const char *dir,
		    tryst_error **err);

/*
 * Or keep state with the app, for platforms without a normal file
 * system: the state is a few named blobs ("config", "identity",
 * "credential", "pending", "ids", "contacts"; doc/libtryst.md), each
 * loaded, saved and removed whole through three callbacks. They are
 * called at once from within library calls (tryst_state_store itself
 * loads "config"), never after tryst_destroy, and must not call the
 * library but for tryst_blob_set.
 *
 * load: hand the blob's bytes over with tryst_blob_set(blob, ...), which
 * copies them, and return 0; return TRYST_BLOB_NONE when no blob has that
 * name; anything else says it could not be read (the library then fails
 * and writes nothing over it). save: replace the blob whole with len
 * bytes at data (the library's; copy them) and return 0 once it is
 * stored; anything else is a failure the library reports. With flags
 * TRYST_BLOB_SECRET the blob is the identity secret key: keep it where
 * the platform keeps keys (a keychain), readable by this app alone.
 * remove: forget the blob; 0 also when there was none.
 */
typedef struct tryst_blob tryst_blob;
#define TRYST_BLOB_NONE		1	/* load: no blob of that name */
#define TRYST_BLOB_SECRET	1	/* save: a secret key */
typedef int (*tryst_blob_load_fn)(const char *name, tryst_blob *blob,
    void *user);
typedef int (*tryst_blob_save_fn)(const char *name, const void *data,
    size_t len, int flags, void *user);
typedef int (*tryst_blob_remove_fn)(const char *name, void *user);

/* Keep state through the callbacks (none may be NULL) instead of a
 * directory. Existing configuration is loaded, as by tryst_state_dir;
 * when that fails the callbacks stay in use (tryst_setup can write a new
 * one), held with user until tryst_destroy or the next tryst_state_*. */
TRYST_API int	 tryst_state_store(tryst_t *t, tryst_blob_load_fn load,
		    tryst_blob_save_fn save, tryst_blob_remove_fn remove,
		    void *user, tryst_error **err);
/* From a load callback: the blob's len bytes at data, copied. 0, or
 * TRYST_EINVAL (the blob is then an error) when it is larger than the
 * library allows for that name. */
TRYST_API int	 tryst_blob_set(tryst_blob *blob, const void *data,
		    size_t len);

/* ---- Account ----------------------------------------------------------- */

/*
 * Set up the device for a deployment: servers is "HOST:PORT" or a
 * comma-separated list of them; key_b64 is the server's signing key as
 * the operator publishes it, or NULL to take the one the server shows
 * (trust on first use; kept for every later connection). country is the
 * default country code for numbers typed without one ("1", "44"), or
 * NULL. Connects once to check the key, then writes the configuration
 * and makes the identity key if there is none. A device registered with
 * another server key is refused (TRYST_ESTATE).
 */
TRYST_API int	 tryst_setup(tryst_t *t, const char *servers,
		    const char *key_b64, const char *country,
		    tryst_done_fn done, void *user, tryst_error **err);
/* Ask the server to send a code to number (E.164, or national with the
 * default country). done comes when the code is on its way. */
TRYST_API int	 tryst_register(tryst_t *t, const char *number,
		    tryst_done_fn done, void *user, tryst_error **err);
/* Finish the registration with the code: the device is then registered
 * (TRYST_ESERVER with the server code 5, BAD_CODE, keeps the
 * registration waiting for another try). */
TRYST_API int	 tryst_verify(tryst_t *t, const char *code,
		    tryst_done_fn done, void *user, tryst_error **err);
/* The registered number, the account ID (64 hex digits), the servers and
 * the pinned server key (base64), or NULL when there is none. Caller
 * frees with tryst_free. */
TRYST_API char	*tryst_account_number(const tryst_t *t);
TRYST_API char	*tryst_account_id(const tryst_t *t);
TRYST_API char	*tryst_account_servers(const tryst_t *t);
TRYST_API char	*tryst_account_server_key(const tryst_t *t);
/* This device's public identity key (base64), made by tryst_setup; NULL
 * before. Caller frees with tryst_free. */
TRYST_API char	*tryst_identity_key(const tryst_t *t);
/* When the stored credential was issued and when it expires, Unix time;
 * 0 when the device is not registered. A credential the server renews
 * (on any HELLO: tryst_check_account, tryst_go_online) moves both. */
TRYST_API int64_t tryst_account_created(const tryst_t *t);
TRYST_API int64_t tryst_account_expires(const tryst_t *t);

/* The server's answer to tryst_check_account: err NULL when it knows the
 * account, and address is then this device's address as the server
 * sees it ("ADDR:PORT", "[ADDR]:PORT"; NULL with err). TRYST_EREVOKED
 * when the registration was revoked (the number was registered again
 * elsewhere, or the account deleted); TRYST_ENET when no server
 * answered. address and err live until the callback returns. */
typedef void (*tryst_check_fn)(tryst_t *t, const tryst_error *err,
    const char *address, void *user);

/*
 * Ask the servers whether they still know this device's account: say
 * HELLO with the stored credential on a connection of its own (a
 * renewed credential in the answer is kept, as online) and close it.
 * fn hears the answer once. TRYST_ESTATE at once when not registered.
 */
TRYST_API int	 tryst_check_account(tryst_t *t, tryst_check_fn fn,
		    void *user, tryst_error **err);
/*
 * Delete the account at the server (its number then has none; the
 * account's other connections, this context's tryst_go_online one too,
 * end as revoked) and, once the server said so, forget the registration
 * here:
 * the device stays set up for its servers, and may register again.
 * done hears the end; on an error nothing here changed. TRYST_ESTATE at
 * once when not registered.
 */
TRYST_API int	 tryst_delete_account(tryst_t *t, tryst_done_fn done,
		    void *user, tryst_error **err);

/* ---- Discovery --------------------------------------------------------- */

typedef struct tryst_lookup_result tryst_lookup_result;

/* A lookup finished: res is NULL when err is set. res and its strings
 * belong to the library and live until the callback returns. */
typedef void (*tryst_lookup_fn)(tryst_t *t, const tryst_error *err,
    const tryst_lookup_result *res, void *user);

/*
 * Which of n numbers (E.164, or national with the default country) have
 * accounts, as the registered account. A number's ID comes from the
 * device's cache of IDs (shared with the tryst CLI) when it is there,
 * else from the server's OPRF (blinded: the server never sees the
 * number; each costs one of the account's discovery tokens), and is then
 * cached; the server is asked about the IDs with LOOKUP. Numbers are
 * taken in batches of the server's max_batch. TRYST_EINVAL for a number
 * that is not one, TRYST_ESTATE when not registered.
 */
TRYST_API int	 tryst_lookup(tryst_t *t, const char *const *numbers, int n,
		    tryst_lookup_fn fn, void *user, tryst_error **err);
/* The numbers of a result, in the order asked. */
TRYST_API int	 tryst_lookup_count(const tryst_lookup_result *res);
/* The i-th number, E.164 ("+15550100341"); NULL when i is out of range. */
TRYST_API const char *tryst_lookup_number(const tryst_lookup_result *res,
		    int i);
/* The i-th number's account ID, 64 hex digits (whether or not it has an
 * account); NULL when i is out of range. */
TRYST_API const char *tryst_lookup_id(const tryst_lookup_result *res, int i);
/* 1 when the i-th number has an account, 0 when not, TRYST_EINVAL. */
TRYST_API int	 tryst_lookup_registered(const tryst_lookup_result *res,
		    int i);
/* 1 when the i-th number's ID came from the cache (no discovery token
 * spent), 0 when from the server, TRYST_EINVAL. */
TRYST_API int	 tryst_lookup_from_cache(const tryst_lookup_result *res,
		    int i);
/* The cached ID (64 hex digits) of number, or NULL when it is not
 * cached or not a number. Needs no server. Caller frees with
 * tryst_free. */
TRYST_API char	*tryst_cached_id(const tryst_t *t, const char *number);
/* The cached number (E.164) of the ID id_hex (64 hex digits), or NULL.
 * Caller frees with tryst_free. */
TRYST_API char	*tryst_cached_number(const tryst_t *t, const char *id_hex);

/* ---- Staying online ---------------------------------------------------- */

/*
 * Keep a connection to one of the servers, saying HELLO, so that the
 * account can be called, and keep it: PING before the server's idle
 * timeout, and after a lost connection or a server going away, connect
 * again (the next server; waits that double from 1 s to about a minute,
 * or what the server asked). fn hears every change of status.
 */
TRYST_API int	 tryst_go_online(tryst_t *t, tryst_status_fn fn, void *user,
		    tryst_error **err);
/* As tryst_go_online, but only to place calls: the HELLO does not ask
 * for calls, so none comes here, and a connection of the account that
 * does (another device, or a tryst listen) is left alone rather than
 * replaced. For programs that only call out, as tryst chat does. */
TRYST_API int	 tryst_go_online_outgoing(tryst_t *t, tryst_status_fn fn,
		    void *user, tryst_error **err);
/* Close the connection and stop trying: TRYST_OFFLINE. */
TRYST_API void	 tryst_go_offline(tryst_t *t);
TRYST_API int	 tryst_status(const tryst_t *t);

/* ---- Calls ------------------------------------------------------------- */

/* Where a call stands (tryst_call_on_state). */
#define TRYST_CALL_RINGING	1	/* asked (caller), or for the app */
#define TRYST_CALL_CONNECTING	2	/* answered: paths are tried */
#define TRYST_CALL_OPEN		3	/* the session is up */
#define TRYST_CALL_ENDED	4	/* over: tryst_call_error says how */

/* tryst_call and tryst_call_accept: no direct path is tried and no
 * address of this device reaches the peer; the relay carries it all. */
#define TRYST_CALL_RELAY_ONLY	1

/* The window is full (tryst_call_send): wait for on_writable. */
#define TRYST_EAGAIN	(-10)

typedef void (*tryst_incoming_fn)(tryst_t *t, tryst_call_t *call,
    void *user);
/* err says why when state is TRYST_CALL_ENDED and it did not end
 * cleanly; the library owns it. */
typedef void (*tryst_call_state_fn)(tryst_call_t *call, int state,
    const tryst_error *err, void *user);
/* One message from the peer, in order; data lives until it returns. */
typedef void (*tryst_message_fn)(tryst_call_t *call, const uint8_t *data,
    size_t len, void *user);
typedef void (*tryst_writable_fn)(tryst_call_t *call, void *user);

/* Call the account peer_id (64 hex digits, from tryst_lookup or a
 * contact) while online. *call is the app's until tryst_call_release. */
TRYST_API int	 tryst_call(tryst_t *t, const char *peer_id, unsigned flags,
		    tryst_call_t **call, tryst_error **err);
/* Hear incoming calls. Without it every call is declined as busy. The
 * call is the app's until tryst_call_release: accept or decline it (a
 * caller the app does not know is never answered without its word). */
TRYST_API void	 tryst_on_incoming(tryst_t *t, tryst_incoming_fn fn,
		    void *user);
/* Answer: this device's candidates go to the caller now, not before. */
TRYST_API int	 tryst_call_accept(tryst_call_t *call, unsigned flags,
		    tryst_error **err);
TRYST_API int	 tryst_call_decline(tryst_call_t *call, tryst_error **err);
/* Decline as busy: the caller hears that this device is in another
 * call, not that it was turned down. */
TRYST_API int	 tryst_call_decline_busy(tryst_call_t *call,
		    tryst_error **err);
TRYST_API void	 tryst_call_on_state(tryst_call_t *call,
		    tryst_call_state_fn fn, void *user);
TRYST_API void	 tryst_call_on_message(tryst_call_t *call,
		    tryst_message_fn fn, void *user);
TRYST_API void	 tryst_call_on_writable(tryst_call_t *call,
		    tryst_writable_fn fn, void *user);
/* Queue one message (at most 65,000 bytes or so) for the peer, once the
 * call is TRYST_CALL_OPEN. TRYST_EAGAIN when 256 KiB are waiting:
 * on_writable says when there is room again. */
TRYST_API int	 tryst_call_send(tryst_call_t *call, const void *data,
		    size_t len, tryst_error **err);
/* Say goodbye once every message queued has gone: the call ends
 * (cleanly) when the peer has said it too. Before the session is up it
 * hangs up. */
TRYST_API int	 tryst_call_close(tryst_call_t *call);
/* The app is done with the handle: a call not over is ended. */
TRYST_API void	 tryst_call_release(tryst_call_t *call);
TRYST_API int	 tryst_call_state(const tryst_call_t *call);
TRYST_API int	 tryst_call_is_caller(const tryst_call_t *call);
/* The peer's account ID, in hex; the path once open ("direct ADDR:PORT"
 * or "relay"), else NULL. Caller frees with tryst_free. */
TRYST_API char	*tryst_call_peer_id(const tryst_call_t *call);
TRYST_API char	*tryst_call_path(const tryst_call_t *call);
/* How the call ended: NULL while it has not, or when it ended cleanly. */
TRYST_API const tryst_error *tryst_call_error(const tryst_call_t *call);

/* ---- Contacts' keys: trust on first use, safety numbers ----------------- */

/*
 * Each peer's identity key is remembered in the state folder (the file
 * "contacts", shared with the tryst CLI's trust on first use). The
 * caller remembers a new key once the call is answered; the callee when
 * the app accepts (declining an unknown caller stores nothing). A key
 * other than the remembered one never replaces it silently: it is kept
 * as pending, the caller's call ends with TRYST_EKEY and the callee's
 * tryst_call_accept returns TRYST_EKEY, until the user has compared
 * safety numbers and the app calls tryst_trust.
 */
#define TRYST_PEER_KNOWN	0	/* the remembered key */
#define TRYST_PEER_NEW		1	/* the first key seen for the ID */
#define TRYST_PEER_CHANGED	2	/* not the remembered key */

/* The peer's key as it was when the call saw it (INCOMING, or the
 * answer): TRYST_PEER_*, TRYST_PEER_KNOWN once tryst_trust accepted it;
 * TRYST_ESTATE for a call of ours not answered yet. */
TRYST_API int	 tryst_call_peer_trust(const tryst_call_t *call);
/* The safety number (doc/protocol.md §6.4: groups of 5 digits) of
 * this device's key and the key the call's peer showed, which for a
 * changed key is the new one. NULL and *err before the key is known.
 * Caller frees with tryst_free. */
TRYST_API char	*tryst_call_safety_number(const tryst_call_t *call,
		    tryst_error **err);
/* The safety number with the key remembered for peer_id (64 hex digits),
 * as tryst fingerprint prints it; NULL and *err when none is
 * remembered (TRYST_ESTATE) or the device is not registered. Caller
 * frees with tryst_free. */
TRYST_API char	*tryst_safety_number(const tryst_t *t, const char *peer_id,
		    tryst_error **err);
/* The safety number with peer_id's new key, not trusted yet (what
 * tryst_trust would accept), as tryst fingerprint prints it below the
 * remembered one; NULL and TRYST_ESTATE when no new key is pending.
 * Caller frees with tryst_free. */
TRYST_API char	*tryst_safety_number_pending(const tryst_t *t,
		    const char *peer_id, tryst_error **err);
/* The ID (64 hex digits) of the one contact whose ID starts with the hex
 * digits prefix (as tryst listen prints the first 16 of an unknown
 * caller's), or NULL when none or several do. Needs no server. Caller
 * frees with tryst_free. */
TRYST_API char	*tryst_contact_find(const tryst_t *t, const char *prefix);
/* Accept peer_id's changed (pending) key as tryst trust does: calls
 * with it are then TRYST_PEER_KNOWN, and may be accepted. TRYST_ESTATE
 * when no key is remembered or none is pending, TRYST_EIO. */
TRYST_API int	 tryst_trust(tryst_t *t, const char *peer_id,
		    tryst_error **err);

/* ---- Files (a helper over a call's session) ----------------------------- */

#define TRYST_FILE_PROGRESS	1	/* bytes of size so far */
#define TRYST_FILE_DONE		2	/* sent whole / received and saved */
#define TRYST_FILE_FAILED	3	/* err says why */

/* name: as offered when sending; when receiving, the name it is saved
 * under in the folder (made safe; "name-1.ext" when that exists). The
 * library owns name and err; they live until the callback returns. */
typedef void (*tryst_file_fn)(tryst_call_t *call, int event,
    const char *name, uint64_t bytes, uint64_t size, const tryst_error *err,
    void *user);
/* Send the file at path (a regular file) once the call is open, after
 * what is queued before it; it goes a chunk at a time as the window
 * allows. TRYST_FILE_DONE says it was all sent: it was delivered when
 * the call then ends cleanly (the peer's CLOSE comes only after it has
 * handled everything before it). */
TRYST_API int	 tryst_call_send_file(tryst_call_t *call, const char *path,
		    tryst_file_fn fn, void *user, tryst_error **err);
/* Take the files the peer sends into the folder dir. Without it a file
 * offer ends the session. A file the folder has no room for, or whose
 * size or BLAKE2b does not match, is refused: nothing is left of it,
 * and the session ends without confirming it to the sender. */
TRYST_API int	 tryst_call_receive_files(tryst_call_t *call,
		    const char *dir, tryst_file_fn fn, void *user,
		    tryst_error **err);

/* ---- The app's loop ---------------------------------------------------- */

/* How many descriptors to watch now, and the i-th of them with what to
 * watch it for (TRYST_READ, TRYST_WRITE). The set changes only inside
 * tryst_process and the calls that start work: ask again after them. */
TRYST_API int	 tryst_fd_count(const tryst_t *t);
TRYST_API int	 tryst_fd_get(const tryst_t *t, int i, int *fd,
		    unsigned *events);
/* Milliseconds until tryst_process must be called even if no descriptor
 * is ready; -1 when nothing is timed. 0 after a call that started or
 * changed work (tryst_go_online, tryst_call, tryst_call_send, ...): some
 * of it may already have happened, and only tryst_process acts on it. */
TRYST_API long	 tryst_timeout_ms(const tryst_t *t);
/* Do what can be done now: fd and revents say what was ready (fd -1:
 * a timeout). Callbacks run from here. 0, or a negative code only for a
 * broken context. */
TRYST_API int	 tryst_process(tryst_t *t, int fd, unsigned revents,
		    tryst_error **err);
/* A loop for programs without one: poll and process until ms have passed
 * (-1: until tryst_stop), or until there is nothing left to wait for. */
TRYST_API int	 tryst_run(tryst_t *t, long ms, tryst_error **err);
/* Make tryst_run return after the current pass (from a callback). */
TRYST_API void	 tryst_stop(tryst_t *t);

#ifdef __cplusplus
}
#endif

#endif
