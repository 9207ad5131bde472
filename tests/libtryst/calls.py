"""calls.py -- calls through libtryst from Python (ctypes), between two
accounts set up here, each a Tryst context of its own, both driven by
one selectors loop as an app with two accounts would. Run by
tests/libtryst-test.sh after binding.py, with the same environment.

Checks: an incoming call the app declines; a direct call with messages
both ways, in order; flow control (the window fills, on_writable says
when to go on, 16 MiB arrive intact); a clean close on both sides; a
relay-only call whose path is the relay; a call to an account that is
not online.
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
    a.close()
    b.close()


if __name__ == "__main__":
    main()
    print("%d failed" % binding.fails)
    sys.exit(1 if binding.fails else 0)
