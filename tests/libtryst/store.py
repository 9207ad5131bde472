"""store.py -- libtryst with its state in the app's hands: a Python dict
behind tryst_state_store's callbacks, for platforms without a normal file
system. Run by tests/libtryst-test.sh against a real trystd, with
TRYST_HOSTPORT, TRYST_SERVER_KEY, TRYST_CODES, TRYST_STATE (a folder the
test writes the dict to, to show the CLI reads the same blobs) and the
numbers TRYST_STORE_NUMBERS (five, space separated).

Set-up, registration and lookups write every blob through the callbacks,
the identity key marked secret; a new context on the same dict is the same
device, and the CLI reads the blobs written out as files; a blob that
cannot be loaded is an error and is kept; a save that fails is reported.
"""
import os
import sys

sys.dont_write_bytecode = True     # no __pycache__ in the source tree
sys.path.insert(0, os.path.dirname(__file__))
from binding import cli, fail, loop, lookup, ok, register, request  # noqa
import binding  # noqa: E402
import tryst  # noqa: E402


class Store:
    """A dict of blobs, and what the callbacks were asked."""

    def __init__(self):
        self.blobs = {}
        self.secret = set()
        self.broken = set()     # names whose load raises
        self.full = set()       # names whose save raises
        self.saved = []

    def load(self, name):
        if name in self.broken:
            raise OSError("keychain locked")
        return self.blobs.get(name)

    def save(self, name, data, secret):
        if name in self.full:
            raise OSError("no room")
        self.saved.append(name)
        self.blobs[name] = data
        if secret:
            self.secret.add(name)
        else:
            self.secret.discard(name)

    def remove(self, name):
        self.blobs.pop(name, None)

    def attach(self, t):
        t.state_store(self.load, self.save, self.remove)


def device(store):
    t = tryst.Tryst()
    store.attach(t)
    return t


def write_out(store, folder):
    """The dict as a state folder, as tryst_state_dir would keep it."""
    os.makedirs(folder, mode=0o700, exist_ok=True)
    for name, data in store.blobs.items():
        path = os.path.join(folder, name)
        with open(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC,
                          0o600), "wb") as f:
            f.write(data)


def main():
    hostport = os.environ["TRYST_HOSTPORT"]
    key = os.environ["TRYST_SERVER_KEY"]
    folder = os.environ["TRYST_STATE"]
    n1, n2, nobody, n4, n5 = os.environ["TRYST_STORE_NUMBERS"].split()

    a = Store()
    t = device(a)
    (ok if t.identity_key() is None and not a.blobs else fail)(
        "an empty store: no identity yet, nothing written")
    err = request(t, lambda done: t.setup(hostport, done, key=key))
    (ok if err is None else fail)("setup over the callbacks: %s" % err)
    if set(a.blobs) == {"config", "identity"} and \
            a.secret == {"identity"}:
        ok("setup saved config and identity, only the identity secret")
    else:
        fail("after setup: blobs %s, secret %s" % (sorted(a.blobs),
                                                   sorted(a.secret)))
    err = register(t, n1)
    (ok if err is None else fail)("register and verify %s: %s" % (n1, err))
    ident, id1 = t.identity_key(), t.account_id()
    if set(a.blobs) == {"config", "identity", "credential"} and \
            t.account_number() == n1 and id1 and len(id1) == 64:
        ok("registered: the credential saved, pending removed, ID %s..." %
           id1[:16])
    else:
        fail("after verify: blobs %s, number %r, id %r" % (
            sorted(a.blobs), t.account_number(), id1))

    b = Store()
    t2 = device(b)
    err = request(t2, lambda done: t2.setup(hostport, done, key=key)) or \
        register(t2, n2)
    id2 = t2.account_id()
    (ok if err is None and id2 else fail)(
        "a second device on a dict of its own: %s" % err)
    t2.close()

    err, found = lookup(t, [n2, nobody])
    if err is None and [(f.number, f.registered) for f in found] == \
            [(n2, True), (nobody, False)] and found[0].id == id2:
        ok("lookup: %s has its ID, %s none" % (n2, nobody))
    else:
        fail("lookup: %s %s" % (err, found))
    ids = a.blobs.get("ids", b"").decode()
    (ok if ids == "%s %s\n%s %s\n" % (n2, id2, nobody, found[1].id if
                                      found else "") else fail)(
        "the ID cache saved as the state folder's ids file is: %r" % ids)

    # The same dict is the same device for a new context.
    t.close()
    t = device(a)
    if t.account_number() == n1 and t.account_id() == id1 and \
            t.identity_key() == ident and t.cached_id(n2) == id2:
        ok("a new context on the same dict: same number, ID, key, cache")
    else:
        fail("new context: %r %r %r" % (t.account_number(),
                                        t.account_id(), t.cached_id(n2)))

    # The blobs are the state folder's files: the CLI reads them.
    write_out(a, folder)
    who = cli(folder, "whoami")
    (ok if who.returncode == 0 and "id: " + id1 in who.stdout else fail)(
        "tryst whoami on the dict written out: %s %s" % (
            who.stdout.strip(), who.stderr.strip()))

    # Unreadable state is an error, and nothing is written over it.
    a.broken = {"ids"}
    a.saved.clear()
    try:
        t.lookup([n4], lambda e, f: None)
        fail("a lookup with an unreadable ID cache was accepted")
    except tryst.TrystError as e:
        (ok if e.code == tryst.EIO and not a.saved else fail)(
            "unreadable ids: lookup refused, EIO (%s), nothing saved" %
            e.message)
    a.broken = {"config"}
    t3 = tryst.Tryst()
    try:
        a.attach(t3)
        fail("a store whose config cannot be read was accepted")
    except tryst.TrystError as e:
        (ok if e.code == tryst.EIO else fail)(
            "unreadable config: tryst_state_store says EIO (%s)" %
            e.message)
    t3.close()
    a.broken = set()

    # A save that fails is reported, not ignored: the lookup's answer
    # (its token spent) still comes, with a notice that it is not cached.
    a.full = {"ids"}
    notices = []
    t.on_notice(notices.append)
    err, found = lookup(t, [n4])
    if err is None and found and found[0].number == n4 and \
            n4 not in a.blobs["ids"].decode() and \
            any('"ids"' in n and "could not save" in n for n in notices):
        ok("a failed save of ids: the answer, and the notice %s" % notices)
    else:
        fail("a failed save: %s %s, notices %s" % (err, found, notices))
    a.full = set()
    t.close()

    # A registration over a store that cannot save its pending state.
    c = Store()
    t4 = device(c)
    err = request(t4, lambda done: t4.setup(hostport, done, key=key))
    c.full = {"pending"}
    err = err or request(t4, t4.register, n5)
    (ok if err is not None and err.code == tryst.EIO else fail)(
        "register with a failing save of pending: %s" % err)
    t4.close()


if __name__ == "__main__":
    main()
    print("%d failed" % binding.fails)
    sys.exit(1 if binding.fails else 0)
