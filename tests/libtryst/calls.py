"""calls.py -- calls through libtryst from Python (ctypes), between two
accounts set up here, each a Tryst context of its own, both driven by
one selectors loop as an app with two accounts would. Run by
tests/libtryst-test.sh after binding.py, with the same environment.

Checks: an incoming call the app declines; a direct call with messages
both ways, in order; flow control (the window fills, on_writable says
when to go on, 16 MiB arrive intact); a clean close on both sides; a
relay-only call whose path is the relay; a call to an account that is
not online. Trust on first use of the peers' keys: a new peer on both
sides of the first call (none remembered by a decline), a known one
after, safety numbers that agree with each other and with tryst
fingerprint on the same state; then b set up again (a new key for the
same number): the caller's call ends with EKEY, the callee cannot
accept, until tryst_trust.
"""
import hashlib
import os
import selectors
import sys
import time

sys.path.insert(0, os.path.dirname(__file__))
import binding  # noqa: E402
from binding import ok, fail, tryst  # noqa: E402

NUM_A = "+15550100343"
NUM_B = "+15550100344"


def loop(ts, until, seconds):
    """Drive every context in ts until until() or seconds pass."""
    end = time.monotonic() + seconds
    sel = selectors.DefaultSelector()
    while not until() and time.monotonic() < end:
        for key in list(sel.get_map().values()):
            sel.unregister(key.fileobj)
        waits = []
        for t in ts:
            for fd, ev in t.fds():
                ev = (selectors.EVENT_READ if ev & tryst.READ else 0) | \
                    (selectors.EVENT_WRITE if ev & tryst.WRITE else 0)
                if fd in sel.get_map():
                    ev |= sel.get_key(fd).events
                    sel.modify(fd, ev)
                else:
                    sel.register(fd, ev)
            w = t.timeout_ms()
            if w >= 0:
                waits.append(w / 1000)
        wait = min(waits + [end - time.monotonic(), 0.5])
        if sel.get_map():
            sel.select(max(wait, 0))
        else:
            time.sleep(max(wait, 0))
        for t in ts:
            t.process()
    sel.close()
    return until()


def account(name, number):
    t = tryst.Tryst()
    t.state_dir(os.environ["TRYST_STATE"] + "." + name)
    for step, arg in ((t.setup, os.environ["TRYST_HOSTPORT"]),
                      (t.register, number)):
        err = binding.request(t, step, arg)
        if err is not None:
            fail("%s: %s: %s" % (name, step.__name__, err))
            return None
    err = binding.request(t, t.verify, binding.code_of(number))
    if err is not None:
        fail("%s: verify: %s" % (name, err))
        return None
    t.go_online(lambda s, e: None)
    if not binding.loop(t, lambda: t.status() == tryst.ONLINE, 30):
        fail("%s: not online" % name)
        return None
    return t


class Side:
    """What one side of a call saw."""

    def __init__(self, call):
        self.call = call
        self.states = []
        self.errors = []
        self.got = []
        self.writable = 0
        call.on_state(self.state)
        call.on_message(self.got.append)
        call.on_writable(self.more)

    def state(self, s, err):
        self.states.append(s)
        self.errors.append(err)

    def more(self):
        self.writable += 1

    def ended(self):
        return tryst.CALL_ENDED in self.states


def main():
    a = account("a", NUM_A)
    b = account("b", NUM_B)
    if a is None or b is None:
        return
    ts = [a, b]
    bid = b.account_id()

    # 1. b declines: a hears "declined".
    incoming = []
    b.on_incoming(lambda c: (incoming.append(c), c.decline()))
    ca = Side(a.call(bid))
    loop(ts, ca.ended, 30)
    err = ca.errors[-1] if ca.states else None
    if ca.ended() and err is not None and "declined" in err.message:
        ok("declined by the app: the caller hears %r" % err.message)
    else:
        fail("declined call: states %s, error %s" % (ca.states, err))
    if incoming and incoming[0].peer_id() == a.account_id():
        ok("the callee was told who calls: %s..." %
           incoming[0].peer_id()[:16])
    else:
        fail("incoming call's peer ID: %r" % incoming)
    trust_seen = [c.peer_trust() for c in incoming] + [ca.call.peer_trust()]
    (ok if trust_seen == [tryst.PEER_NEW, tryst.ESTATE] else fail)(
        "a first caller is PEER_NEW; the caller, never answered, knows no "
        "key (%s)" % trust_seen)
    try:
        b.safety_number(a.account_id())
        fail("the declined caller's key was remembered")
    except tryst.TrystError as e:
        (ok if e.code == tryst.ESTATE else fail)(
            "declining an unknown caller remembers nothing: %s" % e)
    for c in incoming:
        c.release()
    ca.call.release()

    # 2. b accepts; messages both ways, then 4 MiB through the window.
    sides = []

    def answer(c):
        s = Side(c)
        s.call.on_message(lambda m, s=s: (s.got.append(m),
                                          s.call.send(b"echo:" + m)
                                          if m.startswith(b"hi") else None))
        s.trust = c.peer_trust()
        sides.append(s)
        c.accept()
    b.on_incoming(answer)
    ca = Side(a.call(bid))
    if not loop(ts, lambda: ca.call.state() == tryst.CALL_OPEN and sides and
                sides[0].call.state() == tryst.CALL_OPEN, 30):
        fail("call not open: caller %s, callee %s" %
             (ca.states, sides and sides[0].states))
        return
    cb = sides[0]
    check_first_trust(a, b, ca, cb)
    path = ca.call.path()
    (ok if path and path.startswith("direct ") else fail)(
        "the call is open, path %s (callee: %s)" % (path, cb.call.path()))
    for i in range(5):
        ca.call.send(b"hi %d" % i)
    loop(ts, lambda: len(ca.got) >= 5, 20)
    want = [b"echo:hi %d" % i for i in range(5)]
    (ok if ca.got[:5] == want else fail)(
        "five messages each way, in order (%s...)" % ca.got[:2])
    ca.got.clear()

    # The callee reads nothing while the caller writes, so the kernel's
    # buffers fill and then the library's window: send says so, and
    # on_writable comes once the callee reads again.
    chunk = 60000
    blob = os.urandom(16 * 1024 * 1024)
    sent, full = 0, 0
    before = len(cb.got)
    while sent < len(blob):
        if ca.call.send(blob[sent:sent + chunk]):
            sent += chunk
            continue
        full += 1
        w = ca.writable
        if not loop(ts, lambda: ca.writable > w, 30):
            fail("on_writable never came after a full window")
            break
    loop(ts, lambda: sum(len(m) for m in cb.got[before:]) >= len(blob), 60)
    got = b"".join(cb.got[before:])
    if hashlib.sha256(got).digest() == hashlib.sha256(blob).digest() and \
            full > 0 and ca.writable >= full:
        ok("16 MiB in %d-byte messages arrived intact; the window was "
           "full %d times and on_writable came each time" % (chunk, full))
    else:
        fail("bulk: %d of %d bytes, window full %d, writable %d" %
             (len(got), len(blob), full, ca.writable))

    ca.call.close()
    loop(ts, lambda: ca.ended() and cb.ended(), 20)
    if ca.ended() and cb.ended() and ca.call.error() is None and \
            cb.call.error() is None:
        ok("a clean close: both sides ENDED without an error")
    else:
        fail("close: caller %s %s, callee %s %s" %
             (ca.states, ca.call.error(), cb.states, cb.call.error()))
    ca.call.release()
    cb.call.release()

    # 3. Relay only: nothing direct, and it still works.
    sides.clear()
    ca = Side(a.call(bid, tryst.CALL_RELAY_ONLY))
    if loop(ts, lambda: ca.call.state() == tryst.CALL_OPEN and sides and
            sides[0].call.state() == tryst.CALL_OPEN, 60):
        ca.call.send(b"hi relay")
        loop(ts, lambda: ca.got, 20)
        (ok if ca.call.path() == "relay" and
         ca.got == [b"echo:hi relay"] else fail)(
            "relay-only call: path %s, echo %s" % (ca.call.path(), ca.got))
        seen = (ca.call.peer_trust(), sides[0].trust)
        (ok if seen == (tryst.PEER_KNOWN, tryst.PEER_KNOWN) else fail)(
            "the second call: PEER_KNOWN on both sides (%s, %s)" % seen)
    else:
        fail("relay-only call not open: %s" % ca.states)
    ca.call.close()
    loop(ts, lambda: ca.ended(), 20)
    ca.call.release()
    for s in sides:
        s.call.release()

    # 4. b goes offline: a's call ends with "not online".
    b.go_offline()
    b.process()
    ca = Side(a.call(bid))
    loop([a], ca.ended, 30)
    err = ca.call.error()
    (ok if err is not None and "not online" in err.message else fail)(
        "calling an account that is offline: %s" % (err and err.message))
    ca.call.release()
    b.close()
    check_changed_key(a)
    a.close()


def check_first_trust(a, b, ca, cb):
    """The first call: a new peer on both sides, equal safety numbers,
    the digits tryst fingerprint prints."""
    seen = (cb.trust, ca.call.peer_trust())
    (ok if seen == (tryst.PEER_NEW, tryst.PEER_NEW) else fail)(
        "the first call: PEER_NEW for the callee's incoming call and the "
        "caller once answered (%s, %s)" % seen)
    aid, bid = a.account_id(), b.account_id()
    sns = {ca.call.safety_number(), cb.call.safety_number(),
           a.safety_number(bid), b.safety_number(aid)}
    got = binding.cli(os.environ["TRYST_STATE"] + ".a", "fingerprint", bid)
    want = "safety number with %s: %s\n" % (bid, min(sns))
    (ok if len(sns) == 1 and got.stdout == want else fail)(
        "both sides' safety numbers agree, and with tryst fingerprint: "
        "%s (%r)" % (sns, got.stdout + got.stderr))


def check_changed_key(a):
    """b set up again in a fresh folder with the same number: a new
    identity key for the same ID."""
    b = account("b2", NUM_B)
    if b is None:
        return
    ts = [a, b]
    bid = b.account_id()
    old = a.safety_number(bid)
    accepted = []
    b.on_incoming(lambda c: (accepted.append(Side(c)), c.accept()))
    ca = Side(a.call(bid))
    loop(ts, ca.ended, 30)
    err = ca.call.error()
    if ca.call.peer_trust() == tryst.PEER_CHANGED and err is not None and \
            err.code == tryst.EKEY and "key changed" in err.message and \
            tryst.CALL_OPEN not in ca.states:
        ok("a changed key: the caller's call ends, %s" % err)
    else:
        fail("changed key, caller: trust %s, states %s, error %s" %
             (ca.call.peer_trust(), ca.states, err))
    ca.call.release()
    loop(ts, lambda: all(s.ended() for s in accepted), 10)
    for s in accepted:
        s.call.release()

    # b calls a: a cannot accept until it trusts the new key.
    incoming = []
    a.on_incoming(incoming.append)
    cb = Side(b.call(a.account_id()))
    if not loop(ts, lambda: incoming, 30):
        fail("b's call never reached a")
        return
    ci = Side(incoming[0])
    try:
        ci.call.accept()
        refused = None
    except tryst.TrystError as e:
        refused = e
    (ok if ci.call.peer_trust() == tryst.PEER_CHANGED and refused and
     refused.code == tryst.EKEY else fail)(
        "a changed key: the callee's accept is refused: %s" % refused)
    new = ci.call.safety_number()
    got = binding.cli(os.environ["TRYST_STATE"] + ".a", "fingerprint", bid)
    want = "safety number with %s: %s\nsafety number with %s: %s\n" % (
        bid, old, bid, new)
    (ok if new != old and got.stdout == want and "new, not yet trusted" in
     got.stderr else fail)(
        "the new key's safety number is tryst fingerprint's pending one "
        "(%r)" % (got.stdout + got.stderr))
    pending = a.safety_number_pending(bid)
    (ok if pending == new and a.contact_find(bid[:16]) == bid else fail)(
        "safety_number_pending is the new key's (%s), and contact_find "
        "finds b by the first 16 digits of its ID" % pending)
    a.trust(bid)
    try:
        a.safety_number_pending(bid)
        fail("a pending key is left after trust")
    except tryst.TrystError as e:
        (ok if e.code == tryst.ESTATE else fail)(
            "after trust no key is pending: %d %s" % (e.code, e.message))
    ci.call.accept()
    if loop(ts, lambda: ci.call.state() == tryst.CALL_OPEN and
            cb.call.state() == tryst.CALL_OPEN, 30):
        trusted = (ci.call.peer_trust(), a.safety_number(bid))
        (ok if trusted == (tryst.PEER_KNOWN, new) else fail)(
            "after tryst_trust the call opens; PEER_KNOWN, and the "
            "remembered key's safety number is the new one (%s, %s)" %
            trusted)
    else:
        fail("after tryst_trust the call did not open: %s %s" %
             (ci.states, cb.states))
    cb.call.close()
    loop(ts, lambda: cb.ended() and ci.ended(), 20)
    cb.call.release()
    ci.call.release()
    b.close()


if __name__ == "__main__":
    main()
    print("%d failed" % binding.fails)
    sys.exit(1 if binding.fails else 0)
