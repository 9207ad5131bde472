"""tryst.py -- libtryst for Python, through ctypes (standard library only).

A thin layer over include/tryst.h: one Tryst object per tryst_t, methods
named after the C functions without their prefix, errors raised as
TrystError, and callbacks as Python callables. The app's loop drives it:
fds() and timeout_ms() say what to wait for, process() does the work;
run() is a loop for scripts.

    t = Tryst()
    t.state_dir("/home/me/.local/share/tryst")
    t.go_online(lambda status, err: print(status, err))
    t.run(10000)

Or, with the state kept by the app (a keychain, a database):

    blobs = {}
    t.state_store(blobs.get, lambda name, data, secret:
                  blobs.__setitem__(name, data),
                  lambda name: blobs.pop(name, None))
"""
import collections
import ctypes
import ctypes.util
import os

READ, WRITE = 1, 2
OFFLINE, CONNECTING, ONLINE, STOPPED = 0, 1, 2, 3
EINVAL, ESTATE, EIO, ENET, ESERVER, EKEY, EBUSY, EREVOKED, ECANCELED = (
    -1, -2, -3, -4, -5, -6, -7, -8, -9)

CALL_RINGING, CALL_CONNECTING, CALL_OPEN, CALL_ENDED = 1, 2, 3, 4
CALL_RELAY_ONLY = 1
EAGAIN = -10
PEER_KNOWN, PEER_NEW, PEER_CHANGED = 0, 1, 2

_INCOMING = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p,
                             ctypes.c_void_p)
_CALL_STATE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int,
                               ctypes.c_void_p, ctypes.c_void_p)
_MESSAGE = ctypes.CFUNCTYPE(None, ctypes.c_void_p,
                            ctypes.POINTER(ctypes.c_ubyte), ctypes.c_size_t,
                            ctypes.c_void_p)
_WRITABLE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p)
_DONE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p,
                         ctypes.c_void_p)
_STATUS = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_int,
                           ctypes.c_void_p, ctypes.c_void_p)
_LOOKUP = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p,
                           ctypes.c_void_p, ctypes.c_void_p)
_NOTICE = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_char_p,
                           ctypes.c_void_p)
_CHECK = ctypes.CFUNCTYPE(None, ctypes.c_void_p, ctypes.c_void_p,
                          ctypes.c_char_p, ctypes.c_void_p)
_BLOB_LOAD = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p,
                              ctypes.c_void_p)
_BLOB_SAVE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_char_p, ctypes.c_void_p,
                              ctypes.c_size_t, ctypes.c_int, ctypes.c_void_p)
_BLOB_REMOVE = ctypes.CFUNCTYPE(ctypes.c_int, ctypes.c_char_p,
                                ctypes.c_void_p)
BLOB_NONE = 1           # load: no blob of that name
BLOB_SECRET = 1         # save: the identity secret key

# One number of a lookup: its E.164 form, its account ID (64 hex digits),
# whether it has an account, whether its ID came from the cache.
Found = collections.namedtuple("Found",
                               "number id registered from_cache")


def _load(path=None):
    path = path or os.environ.get("LIBTRYST") or \
        ctypes.util.find_library("tryst") or "libtryst.so.0"
    lib = ctypes.CDLL(path)
    p, i, s, v = ctypes.c_void_p, ctypes.c_int, ctypes.c_char_p, None
    perr = ctypes.POINTER(ctypes.c_void_p)
    sigs = {
        "tryst_version": (s, []),
        "tryst_new": (p, [perr]),
        "tryst_destroy": (v, [p]),
        "tryst_free": (v, [p]),
        "tryst_error_code": (i, [p]),
        "tryst_error_message": (s, [p]),
        "tryst_error_server_code": (i, [p]),
        "tryst_error_retry_after_s": (ctypes.c_long, [p]),
        "tryst_error_free": (v, [p]),
        "tryst_on_notice": (v, [p, _NOTICE, p]),
        "tryst_state_dir": (i, [p, s, perr]),
        "tryst_state_store": (i, [p, _BLOB_LOAD, _BLOB_SAVE, _BLOB_REMOVE,
                                  p, perr]),
        "tryst_blob_set": (i, [p, ctypes.c_char_p, ctypes.c_size_t]),
        "tryst_setup": (i, [p, s, s, s, _DONE, p, perr]),
        "tryst_register": (i, [p, s, _DONE, p, perr]),
        "tryst_verify": (i, [p, s, _DONE, p, perr]),
        "tryst_account_number": (p, [p]),
        "tryst_account_id": (p, [p]),
        "tryst_account_servers": (p, [p]),
        "tryst_account_server_key": (p, [p]),
        "tryst_identity_key": (p, [p]),
        "tryst_account_created": (ctypes.c_int64, [p]),
        "tryst_account_expires": (ctypes.c_int64, [p]),
        "tryst_check_account": (i, [p, _CHECK, p, perr]),
        "tryst_delete_account": (i, [p, _DONE, p, perr]),
        "tryst_lookup": (i, [p, ctypes.POINTER(s), i, _LOOKUP, p, perr]),
        "tryst_lookup_count": (i, [p]),
        "tryst_lookup_number": (s, [p, i]),
        "tryst_lookup_id": (s, [p, i]),
        "tryst_lookup_registered": (i, [p, i]),
        "tryst_lookup_from_cache": (i, [p, i]),
        "tryst_cached_id": (p, [p, s]),
        "tryst_cached_number": (p, [p, s]),
        "tryst_go_online": (i, [p, _STATUS, p, perr]),
        "tryst_go_offline": (v, [p]),
        "tryst_status": (i, [p]),
        "tryst_fd_count": (i, [p]),
        "tryst_fd_get": (i, [p, i, ctypes.POINTER(i),
                             ctypes.POINTER(ctypes.c_uint)]),
        "tryst_timeout_ms": (ctypes.c_long, [p]),
        "tryst_process": (i, [p, i, ctypes.c_uint, perr]),
        "tryst_run": (i, [p, ctypes.c_long, perr]),
        "tryst_stop": (v, [p]),
        "tryst_call": (i, [p, s, ctypes.c_uint, ctypes.POINTER(p), perr]),
        "tryst_on_incoming": (v, [p, _INCOMING, p]),
        "tryst_call_accept": (i, [p, ctypes.c_uint, perr]),
        "tryst_call_decline": (i, [p, perr]),
        "tryst_call_on_state": (v, [p, _CALL_STATE, p]),
        "tryst_call_on_message": (v, [p, _MESSAGE, p]),
        "tryst_call_on_writable": (v, [p, _WRITABLE, p]),
        "tryst_call_send": (i, [p, ctypes.c_char_p, ctypes.c_size_t, perr]),
        "tryst_call_close": (i, [p]),
        "tryst_call_release": (v, [p]),
        "tryst_call_state": (i, [p]),
        "tryst_call_is_caller": (i, [p]),
        "tryst_call_peer_id": (p, [p]),
        "tryst_call_path": (p, [p]),
        "tryst_call_error": (p, [p]),
        "tryst_call_peer_trust": (i, [p]),
        "tryst_call_safety_number": (p, [p, perr]),
        "tryst_safety_number": (p, [p, s, perr]),
        "tryst_safety_number_pending": (p, [p, s, perr]),
        "tryst_contact_find": (p, [p, s]),
        "tryst_trust": (i, [p, s, perr]),
    }
    for name, (res, args) in sigs.items():
        f = getattr(lib, name)
        f.restype, f.argtypes = res, args
    return lib


class TrystError(Exception):
    """A libtryst error: code (a TRYST_E* value), the server's protocol
    error code when the server refused, and its retry_after."""

    def __init__(self, code, message, server_code=0, retry_after_s=0):
        super().__init__(message)
        self.code = code
        self.message = message
        self.server_code = server_code
        self.retry_after_s = retry_after_s

    @classmethod
    def _from(cls, lib, e):
        return cls(lib.tryst_error_code(e),
                   lib.tryst_error_message(e).decode(),
                   lib.tryst_error_server_code(e),
                   lib.tryst_error_retry_after_s(e))


def _b(s):
    return None if s is None else s.encode()


class Tryst:
    """One tryst_t: an account on this device."""

    def __init__(self, lib=None):
        self._lib = lib if lib is not None else _load()
        self._keep = []         # callbacks C still holds
        self._spent = []        # callbacks that have run
        err = ctypes.c_void_p()
        self._t = self._lib.tryst_new(ctypes.byref(err))
        if not self._t:
            self._raise(err)

    def close(self):
        if self._t:
            self._lib.tryst_destroy(self._t)
            self._t = None

    def __del__(self):
        self.close()

    def _raise(self, err):
        e = TrystError._from(self._lib, err)
        self._lib.tryst_error_free(err)
        raise e

    def _call(self, fn, *args):
        err = ctypes.c_void_p()
        if fn(self._t, *args, ctypes.byref(err)) != 0:
            self._raise(err)

    def _string(self, fn, *args):
        p = fn(self._t, *args)
        if not p:
            return None
        s = ctypes.string_at(p).decode()
        self._lib.tryst_free(p)
        return s

    def _string_or_raise(self, fn, *args):
        """fn's string, or its error raised (fn takes tryst_error **)."""
        err = ctypes.c_void_p()
        s = self._string(fn, *args, ctypes.byref(err))
        if s is None:
            self._raise(err)
        return s

    def _done(self, done):
        """A C done callback that calls done(error or None) once."""
        def cb(t, err, user):
            # Freed after the C call that runs it has returned, never
            # while it runs.
            self._spent.append(c)
            done(TrystError._from(self._lib, err) if err else None)
        c = _DONE(cb)
        self._keep.append(c)
        return c

    @staticmethod
    def version():
        return _load().tryst_version().decode()

    def state_dir(self, path=None):
        self._call(self._lib.tryst_state_dir, _b(path))

    def state_store(self, load, save, remove):
        """Keep the state with the app: load(name) returns the blob's
        bytes, or None when there is none, and raises when it cannot be
        read; save(name, data, secret) stores data whole (secret: the
        identity key, for the platform's keychain); remove(name) forgets
        it. They are called from within the library's calls. An exception
        is a failure the library reports, never success (ctypes alone
        would return 0 for it)."""
        lib = self._lib

        def c_load(name, blob, user):
            try:
                data = load(name.decode())
                if data is None:
                    return BLOB_NONE
                return -1 if lib.tryst_blob_set(blob, bytes(data),
                                                len(data)) != 0 else 0
            except Exception:
                return -1

        def c_save(name, data, n, flags, user):
            try:
                save(name.decode(), ctypes.string_at(data, n),
                     bool(flags & BLOB_SECRET))
                return 0
            except Exception:
                return -1

        def c_remove(name, user):
            try:
                remove(name.decode())
                return 0
            except Exception:
                return -1
        cbs = (_BLOB_LOAD(c_load), _BLOB_SAVE(c_save),
               _BLOB_REMOVE(c_remove))
        # Held while the context lives, from before the call: the library
        # keeps them even when the config they load is refused.
        self._keep.extend(cbs)
        self._call(lib.tryst_state_store, *cbs, None)

    def setup(self, servers, done, key=None, country=None):
        self._call(self._lib.tryst_setup, _b(servers), _b(key),
                   _b(country), self._done(done), None)

    def register(self, number, done):
        self._call(self._lib.tryst_register, _b(number), self._done(done),
                   None)

    def verify(self, code, done):
        self._call(self._lib.tryst_verify, _b(code), self._done(done), None)

    def account_number(self):
        return self._string(self._lib.tryst_account_number)

    def account_id(self):
        return self._string(self._lib.tryst_account_id)

    def account_servers(self):
        return self._string(self._lib.tryst_account_servers)

    def account_server_key(self):
        return self._string(self._lib.tryst_account_server_key)

    def identity_key(self):
        return self._string(self._lib.tryst_identity_key)

    def account_created(self):
        """When the stored credential was issued (Unix time; 0: none)."""
        return self._lib.tryst_account_created(self._t)

    def account_expires(self):
        return self._lib.tryst_account_expires(self._t)

    def check_account(self, done):
        """Ask the server whether it knows the account: done(error or
        None, address) once, address as the server sees this device."""
        lib = self._lib

        def cb(t, err, address, user):
            self._spent.append(c)
            done(TrystError._from(lib, err) if err else None,
                 address.decode() if address else None)
        c = _CHECK(cb)
        self._keep.append(c)
        try:
            self._call(lib.tryst_check_account, c, None)
        except TrystError:
            self._keep.remove(c)
            raise

    def delete_account(self, done):
        """Delete the account at the server, then forget it here."""
        self._call(self._lib.tryst_delete_account, self._done(done), None)

    def lookup(self, numbers, done):
        """Which numbers have accounts: done(error or None, [Found])
        once, from process() or run()."""
        lib = self._lib

        def cb(t, err, res, user):
            self._spent.append(c)
            found = []
            for i in range(lib.tryst_lookup_count(res) if res else 0):
                found.append(Found(
                    lib.tryst_lookup_number(res, i).decode(),
                    lib.tryst_lookup_id(res, i).decode(),
                    lib.tryst_lookup_registered(res, i) == 1,
                    lib.tryst_lookup_from_cache(res, i) == 1))
            done(TrystError._from(lib, err) if err else None, found)
        c = _LOOKUP(cb)
        arr = (ctypes.c_char_p * len(numbers))(*[_b(n) for n in numbers])
        self._keep.append(c)
        try:
            self._call(lib.tryst_lookup, arr, len(numbers), c, None)
        except TrystError:
            self._keep.remove(c)
            raise

    def cached_id(self, number):
        """The cached ID of number, or None; needs no server."""
        return self._string(self._lib.tryst_cached_id, _b(number))

    def cached_number(self, id_hex):
        return self._string(self._lib.tryst_cached_number, _b(id_hex))

    def on_notice(self, fn):
        """fn(text) hears notices (a server failed, the next is tried)."""
        c = _NOTICE(lambda t, text, user: fn(text.decode())) if fn else \
            _NOTICE()
        self._notice_cb = c     # held while set
        self._lib.tryst_on_notice(self._t, c, None)

    def go_online(self, on_status):
        def cb(t, status, err, user):
            on_status(status, TrystError._from(self._lib, err)
                      if err else None)
        c = _STATUS(cb)
        self._status_cb = c     # held while online
        self._call(self._lib.tryst_go_online, c, None)

    def go_offline(self):
        self._lib.tryst_go_offline(self._t)

    def status(self):
        return self._lib.tryst_status(self._t)

    def fds(self):
        """[(fd, events)] to watch now."""
        out = []
        for i in range(self._lib.tryst_fd_count(self._t)):
            fd, ev = ctypes.c_int(), ctypes.c_uint()
            if self._lib.tryst_fd_get(self._t, i, ctypes.byref(fd),
                                      ctypes.byref(ev)) == 0:
                out.append((fd.value, ev.value))
        return out

    def timeout_ms(self):
        return self._lib.tryst_timeout_ms(self._t)

    def _reap(self):
        for c in self._spent:
            self._keep.remove(c)
        self._spent = []

    def process(self, fd=-1, revents=0):
        self._call(self._lib.tryst_process, fd, revents)
        self._reap()

    def run(self, ms=-1):
        self._call(self._lib.tryst_run, ms)
        self._reap()

    def stop(self):
        self._lib.tryst_stop(self._t)

    def call(self, peer_id, flags=0):
        """Call the account peer_id (hex): a Call."""
        h = ctypes.c_void_p()
        self._call(self._lib.tryst_call, _b(peer_id), flags,
                   ctypes.byref(h))
        return Call(self, h.value)

    def safety_number(self, peer_id):
        """The safety number with the key remembered for peer_id (hex),
        as tryst fingerprint prints it."""
        return self._string_or_raise(self._lib.tryst_safety_number,
                                     _b(peer_id))

    def safety_number_pending(self, peer_id):
        """The safety number with peer_id's new key, not trusted yet."""
        return self._string_or_raise(
            self._lib.tryst_safety_number_pending, _b(peer_id))

    def contact_find(self, prefix):
        """The ID of the one contact whose ID starts with prefix, or
        None."""
        return self._string(self._lib.tryst_contact_find, _b(prefix))

    def trust(self, peer_id):
        """Accept peer_id's changed key, as tryst trust does."""
        self._call(self._lib.tryst_trust, _b(peer_id))

    def on_incoming(self, fn):
        """fn(call) for every incoming call: accept or decline it."""
        def cb(t, h, user):
            fn(Call(self, h))
        self._incoming_cb = _INCOMING(cb)
        self._lib.tryst_on_incoming(self._t, self._incoming_cb, None)


class Call:
    """One tryst_call_t. Callbacks: on_state(state, error or None),
    on_message(bytes), on_writable()."""

    def __init__(self, tryst, handle):
        self._tr = tryst
        self._lib = tryst._lib
        self._h = handle
        self._cbs = []

    def _err(self, fn, *args):
        err = ctypes.c_void_p()
        if fn(self._h, *args, ctypes.byref(err)) != 0:
            self._tr._raise(err)

    def on_state(self, fn):
        def cb(h, state, err, user):
            fn(state, TrystError._from(self._lib, err) if err else None)
        c = _CALL_STATE(cb)
        self._cbs.append(c)
        self._lib.tryst_call_on_state(self._h, c, None)

    def on_message(self, fn):
        def cb(h, data, n, user):
            fn(ctypes.string_at(data, n))
        c = _MESSAGE(cb)
        self._cbs.append(c)
        self._lib.tryst_call_on_message(self._h, c, None)

    def on_writable(self, fn):
        c = _WRITABLE(lambda h, user: fn())
        self._cbs.append(c)
        self._lib.tryst_call_on_writable(self._h, c, None)

    def accept(self, flags=0):
        self._err(self._lib.tryst_call_accept, flags)

    def decline(self):
        self._err(self._lib.tryst_call_decline)

    def send(self, data):
        """Queue bytes; False when the window is full (EAGAIN)."""
        err = ctypes.c_void_p()
        if self._lib.tryst_call_send(self._h, data, len(data),
                                     ctypes.byref(err)) == 0:
            return True
        e = TrystError._from(self._lib, err)
        self._lib.tryst_error_free(err)
        if e.code == EAGAIN:
            return False
        raise e

    def close(self):
        self._lib.tryst_call_close(self._h)

    def release(self):
        if self._h:
            self._lib.tryst_call_release(self._h)
            self._h = None

    def state(self):
        return self._lib.tryst_call_state(self._h)

    def is_caller(self):
        return bool(self._lib.tryst_call_is_caller(self._h))

    def _string(self, fn):
        p = fn(self._h)
        if not p:
            return None
        s = ctypes.string_at(p).decode()
        self._lib.tryst_free(p)
        return s

    def peer_id(self):
        return self._string(self._lib.tryst_call_peer_id)

    def path(self):
        return self._string(self._lib.tryst_call_path)

    def peer_trust(self):
        """PEER_KNOWN, PEER_NEW or PEER_CHANGED (ESTATE before the
        peer's key is known)."""
        return self._lib.tryst_call_peer_trust(self._h)

    def safety_number(self):
        """The safety number with the key the peer showed."""
        err = ctypes.c_void_p()
        p = self._lib.tryst_call_safety_number(self._h, ctypes.byref(err))
        if not p:
            self._tr._raise(err)
        sn = ctypes.string_at(p).decode()
        self._lib.tryst_free(p)
        return sn

    def error(self):
        e = self._lib.tryst_call_error(self._h)
        return TrystError._from(self._lib, e) if e else None
