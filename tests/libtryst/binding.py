"""binding.py -- libtryst from another language: the Python ctypes
binding (bindings/python/tryst.py) against a real trystd. Run by
tests/libtryst-test.sh, which starts Redis and trystd and passes:
TRYST_HOSTPORT, TRYST_SERVER_KEY, TRYST_CODES (the dev: transport's
file), TRYST_STATE (a folder), TRYST_NUMBER, TRYST_STATE2 and
TRYST_NUMBER2 (a second account), TRYST_NOBODY (a number never
registered), TRYSTD_PIDFILE and TRYSTD_RESTART (a command that starts
trystd again). trystd runs with max_batch = 2 and discovery_bucket = 3,
so three numbers take two OPRF_EVAL and two LOOKUP batches and spend
every discovery token an account has.

Then accounts of their own (+15550100360, +15550100361) are checked,
revoked by a registration elsewhere, and deleted.

The app's own loop (selectors) drives the library through fds(),
timeout_ms() and process(), as an app's event loop would.
"""
import os
import selectors
import signal
import stat
import subprocess
import sys
import time

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "..",
                                "bindings", "python"))
import tryst  # noqa: E402

fails = 0


def ok(what):
    print("ok:", what, flush=True)


def fail(what):
    global fails
    fails += 1
    print("FAIL:", what, flush=True)


def loop(t, until, seconds):
    """Drive t with a selectors loop until until() or seconds pass."""
    end = time.monotonic() + seconds
    sel = selectors.DefaultSelector()
    while not until() and time.monotonic() < end:
        for key in list(sel.get_map().values()):
            sel.unregister(key.fileobj)
        for fd, ev in t.fds():
            sel.register(fd, (selectors.EVENT_READ if ev & tryst.READ
                              else 0) |
                         (selectors.EVENT_WRITE if ev & tryst.WRITE
                          else 0))
        wait = t.timeout_ms()
        left = end - time.monotonic()
        wait = left if wait < 0 else min(wait / 1000, left)
        ready = sel.select(max(wait, 0)) if sel.get_map() else \
            time.sleep(max(wait, 0)) or []
        if not ready:
            t.process()
        for key, ev in ready:
            t.process(key.fd, (tryst.READ if ev & selectors.EVENT_READ
                               else 0) |
                      (tryst.WRITE if ev & selectors.EVENT_WRITE else 0))
    sel.close()
    return until()


def request(t, start, *args):
    """Start a request and run until its done callback: its error."""
    got = []
    start(*args, lambda err: got.append(err))
    if not loop(t, lambda: got, 60):
        fail("%s: no answer in 60 s" % start.__name__)
        return "timeout"
    return got[0]


def lookup(t, numbers):
    """tryst_lookup from the app's loop: (error, [Found])."""
    got = []
    t.lookup(numbers, lambda err, found: got.append((err, found)))
    if not loop(t, lambda: got, 60):
        return ("timeout", [])
    return got[0]


def register(t, number):
    """Register and verify number on t (set up): the error, or None."""
    err = request(t, t.register, number)
    if err is not None:
        return err
    code = code_of(number)
    return request(t, t.verify, code) if code else "no code"


def cli(state, *args):
    env = dict(os.environ, TRYST_HOME=state)
    return subprocess.run([os.environ["TRYST"]] + list(args), env=env,
                          capture_output=True, text=True, timeout=30)


def check_discovery(t, hostport, key, number):
    """A second account, then lookups from the first: IDs, flags, the
    cache shared with the CLI. Returns the second account's ID."""
    number2 = os.environ["TRYST_NUMBER2"]
    nobody = os.environ["TRYST_NOBODY"]
    t2 = tryst.Tryst()
    t2.state_dir(os.environ["TRYST_STATE2"])
    err = request(t2, lambda done: t2.setup(hostport, done, key=key)) or \
        register(t2, number2)
    id2 = t2.account_id()
    (ok if err is None and id2 else fail)(
        "second account %s registered: %s" % (number2, err))
    who = cli(os.environ["TRYST_STATE2"], "whoami")
    (ok if "id: %s" % id2 in who.stdout else fail)(
        "tryst whoami agrees on the second account's ID")
    t2.close()

    asked = [number, number2, nobody]
    err, found = lookup(t, asked)
    want = [(number, t.account_id(), True), (number2, id2, True)]
    if err is None and [f[:3] for f in found[:2]] == want and \
            len(found) == 3 and found[2].number == nobody and \
            not found[2].registered and len(found[2].id) == 64 and \
            found[2].id not in (want[0][1], want[1][1]):
        ok("lookup of 3 numbers: both accounts with their IDs, %s has "
           "none" % nobody)
    else:
        fail("lookup: %s %s" % (err, found))
    (ok if found and not any(f.from_cache for f in found) else fail)(
        "first lookup: every ID from the OPRF (%s)" %
        [f.from_cache for f in found])

    # The bucket (3) is spent: only the cache can answer now.
    err, again = lookup(t, asked)
    if err is None and again == [f._replace(from_cache=True)
                                 for f in found]:
        ok("second lookup: the same answers, every ID from the cache")
    else:
        fail("second lookup: %s %s" % (err, again))
    err, _ = lookup(t, ["+15550100343"])
    if err is not None and err.server_code == 3 and err.retry_after_s > 0:
        ok("a new number now: RATE_LIMITED, so the second lookup spent "
           "no token")
    else:
        fail("a new number after the bucket was spent: %s" % err)
    got = cli(os.environ["TRYST_STATE"], "lookup", number2, nobody)
    if got.returncode == 0 and got.stdout == "%s has an account\n%s has " \
            "no account\n" % (number2, nobody):
        ok("tryst lookup on the same state prints it from the shared cache")
    else:
        fail("tryst lookup: %d %r %r" % (got.returncode, got.stdout,
                                         got.stderr))
    try:
        t.lookup(["not a number"], lambda e, f: None)
        fail("a lookup of a non-number was accepted")
    except tryst.TrystError as e:
        (ok if e.code == tryst.EINVAL else fail)(
            "lookup of a non-number: %d %s" % (e.code, e.message))
    return number2, id2


def codes_for(number):
    """The codes the dev: transport sent to number so far, in order."""
    try:
        with open(os.environ["TRYST_CODES"]) as f:
            return [line.split()[1] for line in f
                    if line.split()[:1] == [number]]
    except FileNotFoundError:
        return []


def register_again(t, number):
    """Register number on t although another device has it: verified
    with the code sent now, not an earlier one. The error, or None."""
    before = len(codes_for(number))
    err = request(t, t.register, number)
    if err is not None:
        return err
    for _ in range(100):
        got = codes_for(number)
        if len(got) > before:
            return request(t, t.verify, got[-1])
        time.sleep(0.1)
    return "no code"


def check_account(t):
    """tryst_check_account from the app's loop: (error, address)."""
    got = []
    t.check_account(lambda err, address: got.append((err, address)))
    if not loop(t, lambda: got, 60):
        return ("timeout", None)
    return got[0]


def device(hostport, key, name, number):
    """A Tryst set up in a folder of its own and registered as number
    (register_again: the number may be another device's)."""
    t = tryst.Tryst()
    t.state_dir(os.environ["TRYST_STATE"] + "." + name)
    err = request(t, lambda done: t.setup(hostport, done, key=key)) or \
        register_again(t, number)
    (ok if err is None else fail)("%s registered %s: %s" % (name, number,
                                                            err))
    return t


def check_revoke_delete(hostport, key):
    """tryst_check_account: a device the server knows, then the same
    number registered on another device, which revokes the first;
    tryst_delete_account on that other device, after which the number
    has no account and the device is not registered. With tryst whoami
    and tryst fingerprint (a number looked up) on the same state."""
    num, num2 = "+15550100360", "+15550100361"
    a = device(hostport, key, "acct-a", num)
    err, address = check_account(a)
    host = hostport.rsplit(":", 1)[0]
    if err is None and address and address.startswith(host + ":") and \
            a.account_expires() > a.account_created() > 0:
        ok("check_account: the server knows %s, which it sees at %s" %
           (num, address))
    else:
        fail("check_account: %s %r, created %d expires %d" % (
            err, address, a.account_created(), a.account_expires()))
    state_a = os.environ["TRYST_STATE"] + ".acct-a"
    who = cli(state_a, "whoami")
    if who.returncode == 0 and "number: %s\n" % num in who.stdout and \
            "status: online\naddress: %s:" % host in who.stdout:
        ok("tryst whoami: online, with the address")
    else:
        fail("tryst whoami: %d %r %r" % (who.returncode, who.stdout,
                                         who.stderr))

    b = device(hostport, key, "acct-b", num)
    err, address = check_account(a)
    (ok if err is not None and err.code == tryst.EREVOKED and
     address is None else fail)(
        "check_account after %s was registered on another device: "
        "EREVOKED (%s)" % (num, err))
    who = cli(state_a, "whoami")
    (ok if who.returncode == 1 and "registration was revoked" in
     who.stderr else fail)(
        "tryst whoami says the registration was revoked: %d %r" % (
            who.returncode, who.stderr))

    err = request(b, b.delete_account)
    if err is None and b.account_number() is None and \
            b.account_id() is None and b.account_expires() == 0 and \
            b.account_servers() == hostport:
        ok("delete_account: %s forgotten here, the device still set up"
           % num)
    else:
        fail("delete_account: %s, number %r, servers %r" % (
            err, b.account_number(), b.account_servers()))
    try:
        b.check_account(lambda e, a: None)
        fail("check_account after delete_account was accepted")
    except tryst.TrystError as e:
        (ok if e.code == tryst.ESTATE else fail)(
            "check_account after delete_account: ESTATE (%s)" % e.message)
    err = request(a, a.delete_account)
    (ok if err is not None and a.account_number() == num else fail)(
        "delete_account on the revoked device fails and forgets nothing "
        "(%s)" % err)

    c = device(hostport, key, "acct-c", num2)
    state_c = os.environ["TRYST_STATE"] + ".acct-c"
    got = cli(state_c, "fingerprint", num)
    id_num = c.cached_id(num)
    (ok if got.returncode == 1 and "%s: no key remembered yet" % num in
     got.stderr and id_num and len(id_num) == 64 else fail)(
        "tryst fingerprint %s looked the number up (ID %s cached) and "
        "knows no key: %d %r" % (num, id_num, got.returncode, got.stderr))
    err, found = lookup(c, [num])
    (ok if err is None and found and not found[0].registered else fail)(
        "after delete_account %s has no account: %s %s" % (num, err,
                                                           found))
    for t in (a, b, c):
        t.close()


def code_of(number):
    code = None
    for _ in range(100):
        try:
            with open(os.environ["TRYST_CODES"]) as f:
                for line in f:
                    n, c = line.split()[:2]
                    if n == number:
                        code = c
        except FileNotFoundError:
            pass
        if code:
            return code
        time.sleep(0.1)
    return None


def main():
    hostport = os.environ["TRYST_HOSTPORT"]
    key = os.environ["TRYST_SERVER_KEY"]
    number = os.environ["TRYST_NUMBER"]
    state = os.environ["TRYST_STATE"]

    print("libtryst", tryst.Tryst.version())
    t = tryst.Tryst()

    # Errors are values: wrong input, wrong order.
    try:
        t.register(number, lambda e: None)
        fail("register before a state folder was accepted")
    except tryst.TrystError as e:
        if e.code == tryst.ESTATE:
            ok("register before set-up: ESTATE, %s" % e.message)
        else:
            fail("register before set-up: code %d" % e.code)
    t.state_dir(state)
    try:
        t.setup(hostport, lambda e: None, key="not base64!")
        fail("a malformed key was accepted")
    except tryst.TrystError as e:
        (ok if e.code == tryst.EINVAL else fail)(
            "setup with a malformed key: %d %s" % (e.code, e.message))

    # A wrong pinned key is refused by the server check, asynchronously.
    wrong = "A" * 43 + "="
    err = request(t, t.setup, hostport)
    if err is not None:
        fail("setup (first use): %s" % err)
    t3 = tryst.Tryst()
    t3.state_dir(state + ".wrong")
    got = []
    t3.setup(hostport, lambda e: got.append(e), key=wrong)
    loop(t3, lambda: got, 30)
    if got and got[0] is not None and got[0].code == tryst.EKEY:
        ok("setup with another key than the server's: EKEY (%s)" %
           got[0].message[:60])
    else:
        fail("setup with a wrong key: %r" % (got and got[0]))
    t3.close()

    if t.account_server_key() == key:
        ok("setup pinned the server's key on first use")
    else:
        fail("pinned %r, server has %r" % (t.account_server_key(), key))
    ident = os.path.join(state, "identity")
    mode = stat.S_IMODE(os.stat(ident).st_mode)
    (ok if mode == 0o600 and t.identity_key() else fail)(
        "identity key made, file mode %o" % mode)

    err = request(t, t.register, number)
    (ok if err is None else fail)("register %s: %s" % (number, err))
    code = code_of(number)
    if code is None:
        fail("no code in the dev: transport's file")
        return
    wrong_code = "%0*d" % (len(code), (int(code) + 1) % 10 ** len(code))
    err = request(t, t.verify, wrong_code)
    if err is not None and err.code == tryst.ESERVER and \
            err.server_code == 5:
        ok("a wrong code: ESERVER with the server's BAD_CODE (5)")
    else:
        fail("wrong code: %r" % err)
    err = request(t, t.verify, code)
    (ok if err is None else fail)("verify: %s" % err)
    n, i = t.account_number(), t.account_id()
    if n == number and i and len(i) == 64:
        ok("registered: number %s, ID %s..." % (n, i[:16]))
    else:
        fail("after verify: number %r id %r" % (n, i))

    # The CLI reads the same state folder.
    env = dict(os.environ, TRYST_HOME=state)
    who = subprocess.run([os.environ["TRYST"], "whoami"], env=env,
                         capture_output=True, text=True, timeout=30)
    if who.returncode == 0 and "id: " + i in who.stdout:
        ok("tryst whoami agrees with the library on the ID")
    else:
        fail("tryst whoami: %d %s %s" % (who.returncode, who.stdout,
                                         who.stderr))

    number2, id2 = check_discovery(t, hostport, key, number)
    check_revoke_delete(hostport, key)

    # Online from the app's loop, and back after trystd dies.
    seen = []
    t.go_online(lambda s, e: seen.append((s, e and e.message)))
    if loop(t, lambda: t.status() == tryst.ONLINE, 30):
        ok("online (statuses %s)" % [s for s, _ in seen])
    else:
        fail("not online after 30 s: %s" % seen)
    with open(os.environ["TRYSTD_PIDFILE"]) as f:
        os.kill(int(f.read()), signal.SIGKILL)
    if loop(t, lambda: t.status() == tryst.CONNECTING, 30):
        ok("trystd killed: CONNECTING (%s)" % seen[-1][1])
    else:
        fail("no CONNECTING after trystd died: %s" % seen)
    if t.cached_id(number2) == id2 and t.cached_number(id2) == number2 \
            and t.cached_id("+15550100343") is None:
        ok("the cache of IDs answers with trystd down")
    else:
        fail("cached_id: %r, cached_number: %r" % (
            t.cached_id(number2), t.cached_number(id2)))
    subprocess.run(os.environ["TRYSTD_RESTART"], shell=True, check=True)
    seen.clear()
    if loop(t, lambda: t.status() == tryst.ONLINE, 90):
        ok("online again after trystd came back (%d changes)" % len(seen))
    else:
        fail("not online again in 90 s: %s" % seen)
    # Staying online: trystd closes a connection silent for
    # idle_timeout_s (30 s here), so 35 s online take PINGs from the
    # library's timer.
    seen.clear()
    loop(t, lambda: False, 35)
    (ok if t.status() == tryst.ONLINE and not seen else fail)(
        "stayed online for 35 s, idle_timeout_s = 30 (changes: %s)" % seen)
    t.go_offline()
    (ok if t.status() == tryst.OFFLINE else fail)("offline on request")
    t.process()
    (ok if not t.fds() else fail)("no descriptor left after going offline")
    t.close()


if __name__ == "__main__":
    main()
    print("%d failed" % fails)
    sys.exit(1 if fails else 0)
