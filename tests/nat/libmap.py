"""libmap.py -- run by tests/nat/portmap.sh on h1: libtryst, through the
Python binding, goes online with the state folder given (an account the
CLI registered) and is driven by the app's own loop (fds, timeout_ms,
process), so that the port mapping it asks of nat1 happens in that loop.
Prints "online" once online; on SIGUSR1 goes offline (the mapping must
go then, while this process lives on) and prints "offline"; on SIGTERM
destroys the context and exits. Exits 1 when it never got online.
"""
import os
import selectors
import signal
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..",
                                "bindings", "python"))
import tryst  # noqa: E402

flags = {"offline": False, "end": False}


def on_signal(sig, frame):
    flags["offline" if sig == signal.SIGUSR1 else "end"] = True


def step(t, sel):
    """One pass of the app's loop: watch what the library asks for, at
    most 100 ms, so that a signal is seen."""
    for key in list(sel.get_map().values()):
        sel.unregister(key.fileobj)
    for fd, ev in t.fds():
        sel.register(fd, (selectors.EVENT_READ if ev & tryst.READ else 0) |
                     (selectors.EVENT_WRITE if ev & tryst.WRITE else 0))
    ms = t.timeout_ms()
    ready = sel.select(0.1 if ms < 0 or ms > 100 else ms / 1000)
    if not ready:
        t.process()
    for key, mask in ready:
        t.process(key.fd, (tryst.READ if mask & selectors.EVENT_READ
                           else 0) |
                  (tryst.WRITE if mask & selectors.EVENT_WRITE else 0))


def main():
    signal.signal(signal.SIGUSR1, on_signal)
    signal.signal(signal.SIGTERM, on_signal)
    t = tryst.Tryst()
    t.state_dir(sys.argv[1])
    t.go_online(lambda status, err: None)
    sel = selectors.DefaultSelector()
    said = False
    end = time.monotonic() + 30
    while not flags["end"]:
        step(t, sel)
        if not said and t.status() == tryst.ONLINE:
            print("online", flush=True)
            said = True
        if not said and time.monotonic() > end:
            print("never online", flush=True)
            return 1
        if flags["offline"]:
            flags["offline"] = False
            t.go_offline()
            t.process()
            print("offline", flush=True)
    t.close()
    return 0


if __name__ == "__main__":
    sys.exit(main())
