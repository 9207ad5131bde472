#!/usr/bin/env python3
"""Black-box conformance checks of trystd against PROTOCOL.md.

Usage: checks.py [PREFIX...]  (only the checks whose names start so).
The server and its settings come from the environment (client.py).
Prints one PASS/FAIL line per check and "N/M checks passed"; exits 0
only when every check passed.
"""
import sys, os, re, time, socket, ssl, struct, hashlib, threading, zlib, traceback
sys.path.insert(0, os.path.dirname(os.path.abspath(__file__)))
from client import *

record("+15550100000", "+15550100001")  # the fixed numbers used below

RESULTS = []
ONLY = sys.argv[1:]

def selected(name):
    return not ONLY or any(name.startswith(o) for o in ONLY)

def check(name, background=False):
    """Register f as a check; background ones run in threads beside the others."""
    def deco(f):
        def run():
            if not selected(name):
                return
            t0 = time.time()
            try:
                detail = f()
                ok = True
            except AssertionError as e:
                ok, detail = False, str(e) or traceback.format_exc(limit=2)
            except Exception as e:
                ok, detail = False, "%s: %s\n%s" % (type(e).__name__, e, traceback.format_exc(limit=3))
            RESULTS.append((name, ok))
            print("%s %s (%.1fs)%s" % ("PASS" if ok else "FAIL", name, time.time() - t0,
                                       (" -- " + str(detail)) if detail else ""), flush=True)
        run.name = name
        (BG if background else ALL).append(run)
        return run
    return deco
ALL = []
BG = []

def eq(a, b, what):
    assert a == b, "%s: got %r, want %r" % (what, a, b)

def expect_err(c, code, ref_type, ref=0, closed=None, m=None, retry=0):
    m = m or c.recv()
    assert m["type"] == ERROR, "want ERROR %s, got %s" % (ERRNAMES[code], fmt(m))
    eq(m["name"], ERRNAMES[code], "code (%s)" % fmt(m))
    eq(m["ref_type"], ref_type, "ref_type (%s)" % fmt(m))
    eq(m["ref"], ref, "ref (%s)" % fmt(m))
    if retry is not None:
        eq(m["retry_after_s"], retry, "retry_after_s (%s)" % fmt(m))
    if closed is True:
        assert c.is_closed(3), "connection not closed after %s" % fmt(m)
    elif closed is False:
        p, n = c.ping()
        assert p["type"] == PONG and p["nonce"] == n, "connection unusable after %s: %s" % (fmt(m), fmt(p))
    return m

def pingok(c):
    p, n = c.ping()
    assert p["type"] == PONG and p["nonce"] == n, "want PONG, got %s" % fmt(p)

def quiet(c, t=0.7):
    m = c.recv_or_none(t)
    assert m is None, "unexpected %s" % fmt(m)

def u16(n): return struct.pack(">H", n)
def u32(n): return struct.pack(">I", n)
def u64(n): return struct.pack(">Q", n)

def oprf_ids(conn, numbers):
    bl = [blind(n.encode()) for n in numbers]
    conn.send(OPRF_EVAL, u16(len(bl)) + b"".join(b for _, b in bl))
    m = conn.recv()
    assert m["type"] == OPRF_RESULT, fmt(m)
    eq(m["count"], len(numbers), "OPRF_RESULT count")
    return [finalize(n.encode(), r, z)[:32] for n, (r, _), z in zip(numbers, bl, m["elements"])]

def lookup(conn, ids):
    conn.send(LOOKUP, u16(len(ids)) + b"".join(ids))
    m = conn.recv()
    assert m["type"] == LOOKUP_RESULT, fmt(m)
    eq(m["count"], len(ids), "LOOKUP_RESULT count")
    return [(m["bitmap"][i // 8] >> (i % 8)) & 1 for i in range(len(ids))]

def within_window(period, f):
    """Run f; if it fails and a rate-limit window of period seconds ended meanwhile, run it once more."""
    t0 = time.time()
    try:
        return f()
    except AssertionError:
        if int(t0 // period) == int(time.time() // period):
            raise
    return f()

def secs_to_midnight():
    now = time.time()
    return 86400 - int(now) % 86400

# ============================================================ 1. TLS
@check("1.1 TLS1.3+ALPN, CHALLENGE first, tls_sig verifies")
def _():
    c = Conn()
    eq(c.s.version(), "TLSv1.3", "TLS version")
    eq(c.s.selected_alpn_protocol(), "tryst/1", "ALPN")
    eq(c.ch["version"], 1, "CHALLENGE version")
    assert c.tls_ok
    skew = abs(c.ch["server_time_ms"] / 1000 - time.time())
    assert skew < 5, "server_time_ms skew %.1fs" % skew
    c2 = Conn()
    assert c2.ch["nonce"] != c.ch["nonce"], "nonce repeated"
    # tls_sig must NOT verify over another certificate hash / nonce
    assert not ed_verify(SERVER_PK, b"tryst-tls-v1" + c2.ch["nonce"] + b"\0" * 32, c2.ch["sig"])
    return "sig over tryst-tls-v1||nonce||sha256(SPKI) ok"

def handshake_refused(ctx):
    raw = socket.create_connection((HOST, PORT), timeout=5, source_address=(next_src(), 0))
    try:
        s = ctx.wrap_socket(raw, server_hostname="tryst")
        # TLS1.3 client may finish before the server's alert; try to read
        s.settimeout(3)
        d = s.recv(100)
        return "handshake completed, got %r" % d[:20]
    except ssl.SSLError as e:
        return "refused: %s %s" % (e.reason, e)
    except (ConnectionError, OSError) as e:
        return "refused: %s" % e

@check("1.2 no ALPN refused (no_application_protocol)")
def _():
    r = handshake_refused(tls_ctx(alpn=None))
    assert r.startswith("refused") and "NO APPLICATION PROTOCOL" in r.upper().replace("_", " "), r
    return r

@check("1.3 wrong ALPN refused (no_application_protocol)")
def _():
    r = handshake_refused(tls_ctx(alpn=("h2", "tryst/3")))
    assert r.startswith("refused") and "NO APPLICATION PROTOCOL" in r.upper().replace("_", " "), r
    return r

@check("1.4 TLS 1.2 refused")
def _():
    r = handshake_refused(tls_ctx(minv=ssl.TLSVersion.TLSv1_2, maxv=ssl.TLSVersion.TLSv1_2))
    assert r.startswith("refused"), r
    return r

@check("1.5 no session tickets / no resumption")
def _():
    ctx = tls_ctx()
    raw = socket.create_connection((HOST, PORT), timeout=5, source_address=(next_src(), 0))
    s0 = ctx.wrap_socket(raw, server_hostname="tryst")
    s0.settimeout(2); s0.recv(200)  # CHALLENGE (and any NewSessionTicket)
    s0.sendall(struct.pack(">IB", 9, PING) + u64(1)); s0.recv(100)
    sess = s0.session
    has = sess.has_ticket if sess else False
    raw = socket.create_connection((HOST, PORT), timeout=5, source_address=(next_src(), 0))
    s = ctx.wrap_socket(raw, server_hostname="tryst", session=sess) if sess else None
    reused = s.session_reused if s else False
    assert not has and not reused, "ticket=%s reused=%s" % (has, reused)

# ============================================================ 2. register / hello
@check("2.1 register: REGISTER_CHALLENGE / code / REGISTERED credential")
def _():
    a = Account()
    c = Conn()
    m, code = a.begin(c)
    assert m["type"] == REGISTER_CHALLENGE, fmt(m)
    eq(m["code_digits"], S["code_digits"], "code_digits")
    eq(m["expires_in_s"], S["code_ttl_s"], "expires_in_s")
    eq(len(m["token"]), 24 + 16 + 48, "token length")
    assert code and len(code) == S["code_digits"] and code.isdigit(), "code %r" % code
    c.send(REGISTER_FINISH, vb(m["token"]) + vb(code.encode()) + a.pk)
    r = c.recv()
    assert r["type"] == REGISTERED, fmt(r)
    cr = parse_cred(r["credential"])
    eq(len(r["credential"]), 145, "credential length")
    assert cr["valid"], "credential signature invalid"
    eq(cr["version"], 1, "cred version"); eq(cr["identity_pk"], a.pk, "identity_pk")
    now = time.time()
    assert abs(cr["created"] - now) < 5, "created %d vs now %d" % (cr["created"], now)
    life = S["credential_days"] * 86400
    assert abs(cr["expires"] - (now + life)) < 5, "expires-now = %d" % (cr["expires"] - now)
    eq(cr["expires"] - cr["created"], life, "expires - created")
    a.cred = r["credential"]; a.id = cr["id"]
    # ID must be the OPRF of the number
    w = a.online(0)
    ids = oprf_ids(w, [a.number])
    eq(ids[0], a.id, "credential id vs OPRF Finalize(number)")
    # connection still usable after REGISTERED (state anonymous)
    pingok(c)
    return "expires-created=%d" % (cr["expires"] - cr["created"])

@check("2.2 HELLO PRESENCE -> WELCOME fields")
def _():
    a = Account().register()
    c = Conn()
    w = c.hello(a.cred, a.sk, 1)
    assert w["type"] == WELCOME, fmt(w)
    eq(w["family"], 4, "family"); eq(w["addr"], c.local[0], "addr"); eq(w["port"], c.local[1], "port")
    eq(w["idle_timeout_s"], S["idle_timeout_s"], "idle_timeout_s"); eq(w["stun_port"], STUN_PORT, "stun_port")
    eq(w["max_batch"], S["max_batch"], "max_batch"); eq(w["max_offer_bytes"], S["max_offer_bytes"], "max_offer_bytes")
    eq(w["credential"], b"", "renewed credential of a fresh one")
    pingok(c)
    return fmt(w)

@check("2.3 HELLO without PRESENCE: WELCOME, but not callable")
def _():
    a = Account().register(); b = Account().register()
    c = Conn(); w = c.hello(a.cred, a.sk, 0)
    assert w["type"] == WELCOME, fmt(w)
    cb = b.online(1)
    cb.send(CONNECT, u32(77) + a.id + vb(b"x"))
    expect_err(cb, ERR["OFFLINE"], CONNECT, 77)
    quiet(c)

@check("2.4 PING/PONG anonymous and online, nonce echoed")
def _():
    c = Conn()
    for n in (0, 1, 2 ** 64 - 1):
        p, _ = c.ping(n); eq((p["type"], p.get("nonce")), (PONG, n), "PONG")
    a = Account().register(); o = a.online()
    p, _ = o.ping(0x0102030405060708); eq(p.get("nonce"), 0x0102030405060708, "PONG online")
    # pipelined pings answered in order
    for i in range(5): o.send(PING, u64(i))
    got = [o.recv()["nonce"] for i in range(5)]
    eq(got, list(range(5)), "pipelined order")

@check("2.5 second HELLO on an online connection -> UNSUPPORTED")
def _():
    a = Account().register(); o = a.online(0)
    sig = ed_sign(a.sk, b"tryst-hello-v1" + o.ch["nonce"] + a.cred)
    o.send(HELLO, vb(a.cred) + sig + b"\x01")
    expect_err(o, ERR["UNSUPPORTED"], HELLO, 0, closed=False)

# ============================================================ 3. errors
def fresh_token(number=None):
    a = Account(number)
    c = Conn()
    m, code = a.begin(c)
    assert m["type"] == REGISTER_CHALLENGE, fmt(m)
    return a, c, m["token"], code

def finish(c, token, code, pk):
    c.send(REGISTER_FINISH, vb(token) + vb(code) + pk)
    return c.recv()

def wrong_code(code, i):
    """The i-th wrong code of the right length next to code."""
    d = len(code)
    return ("%0*d" % (d, (int(code) + i) % 10 ** d)).encode()

@check("3.1 wrong code x code_attempts then EXPIRED (even with the right code)")
def _():
    a, c, tok, code = fresh_token()
    wrong = [wrong_code(code, i) for i in range(1, S["code_attempts"] + 1)]
    for w in wrong:
        expect_err(c, ERR["BAD_CODE"], REGISTER_FINISH, 0, m=finish(c, tok, w, a.pk))
    expect_err(c, ERR["EXPIRED"], REGISTER_FINISH, 0, m=finish(c, tok, code.encode(), a.pk), closed=False)

@check("3.2 non-digit / wrong-length codes are BAD_CODE and count")
def _():
    a, c, tok, code = fresh_token()
    bad = [b"a" + code.encode()[1:], code.encode() + b"0", code.encode()[:-1], b"", code.encode() + b"\0"]
    for i in range(S["code_attempts"]):
        expect_err(c, ERR["BAD_CODE"], REGISTER_FINISH, 0, m=finish(c, tok, bad[i % len(bad)], a.pk))
    expect_err(c, ERR["EXPIRED"], REGISTER_FINISH, 0, m=finish(c, tok, code.encode(), a.pk))

@check("3.3 reused token -> EXPIRED; garbage/empty token -> EXPIRED")
def _():
    a, c, tok, code = fresh_token()
    r = finish(c, tok, code.encode(), a.pk)
    assert r["type"] == REGISTERED, fmt(r)
    expect_err(c, ERR["EXPIRED"], REGISTER_FINISH, 0, m=finish(c, tok, code.encode(), a.pk))
    c2 = Conn()
    expect_err(c2, ERR["EXPIRED"], REGISTER_FINISH, 0, m=finish(c2, tok, code.encode(), ed_keypair()[0]))
    expect_err(c2, ERR["EXPIRED"], REGISTER_FINISH, 0, m=finish(c2, os.urandom(88), b"123456", a.pk))
    expect_err(c2, ERR["EXPIRED"], REGISTER_FINISH, 0, m=finish(c2, b"", b"123456", a.pk))
    t2 = bytearray(tok); t2[30] ^= 1
    expect_err(c2, ERR["EXPIRED"], REGISTER_FINISH, 0, m=finish(c2, bytes(t2), code.encode(), a.pk), closed=False)

@check("3.4 INVALID_NUMBER for non-E.164, MALFORMED for >64 bytes")
def _():
    c = Conn()
    for n in (b"+0123456789", b"15550100000", b"+123456", b"+1234567890123456", b"", b"+1555 0100",
              b"+" + b"1" * 63, b"+15550100\x00"):
        c.send(REGISTER_BEGIN, vb(n))
        expect_err(c, ERR["INVALID_NUMBER"], REGISTER_BEGIN, 0)
    c.send(REGISTER_BEGIN, vb(b"+" + b"1" * 64))
    expect_err(c, ERR["MALFORMED"], REGISTER_BEGIN, 0, closed=True)

@check("3.5 HELLO bad signature / bad credential -> UNAUTHENTICATED, then closed")
def _():
    # A failed HELLO closes its connection (trystd(8)): one try each.
    a = Account().register()
    c = Conn()
    expect_err(c, ERR["UNAUTHENTICATED"], HELLO, 0, m=c.hello(a.cred, a.sk, 1, sig=os.urandom(64)), closed=True)
    # signature over the wrong nonce
    bad = ed_sign(a.sk, b"tryst-hello-v1" + b"\0" * 32 + a.cred)
    c = Conn()
    expect_err(c, ERR["UNAUTHENTICATED"], HELLO, 0, m=c.hello(a.cred, a.sk, 1, sig=bad), closed=True)
    for cr in (a.cred[:144], a.cred + b"\0", b"\x02" + a.cred[1:],
               a.cred[:-1] + bytes([a.cred[-1] ^ 1]), a.cred[:70] + bytes([a.cred[70] ^ 1]) + a.cred[71:], b""):
        c = Conn()
        expect_err(c, ERR["UNAUTHENTICATED"], HELLO, 0, m=c.hello(cr, a.sk, 1), closed=True)
    # someone else's valid credential with my key
    other = Account().register()
    c = Conn()
    expect_err(c, ERR["UNAUTHENTICATED"], HELLO, 0, m=c.hello(other.cred, a.sk, 1), closed=True)
    c = Conn(); w = c.hello(a.cred, a.sk, 1)
    assert w["type"] == WELCOME, "good HELLO on a new connection after failures: " + fmt(w)

@check("3.6 online-only types before HELLO -> UNAUTHENTICATED, stays open (check 3 before 4)")
def _():
    c = Conn()
    for t, body in ((OPRF_EVAL, u16(1) + os.urandom(32)), (LOOKUP, u16(1) + os.urandom(32)),
                    (ACCEPT, u64(5) + vb(b"")), (DECLINE, u64(5) + b"\0"), (END, u64(5)),
                    (DELETE_ACCOUNT, b""), (OPRF_EVAL, b"\xff"), (END, b"")):
        c.send(t, body)
        expect_err(c, ERR["UNAUTHENTICATED"], t, 0)
    pingok(c)
    c.send(CONNECT, u32(42) + os.urandom(32) + vb(b""))
    m = c.recv()
    assert m["type"] == ERROR and m["name"] == "UNAUTHENTICATED", fmt(m)
    return "CONNECT before HELLO: ref=%d (tag was 42)" % m["ref"]

@check("3.7 anonymous-only types when online -> UNSUPPORTED, stays open")
def _():
    a = Account().register(); o = a.online(0)
    for t, body in ((REGISTER_BEGIN, vb(b"+15550100000")), (REGISTER_FINISH, vb(b"x") + vb(b"1") + a.pk),
                    (RELAY_JOIN, u64(9) + os.urandom(16)), (REGISTER_BEGIN, b"")):
        o.send(t, body)
        m = o.recv()
        assert m["type"] == ERROR and m["name"] == "UNSUPPORTED" and m["ref_type"] == t, fmt(m)
        if t == RELAY_JOIN and m["ref"] != 0:
            pass
    pingok(o)

@check("3.8 unknown types -> UNSUPPORTED, ref_type = type, stays open")
def _():
    c = Conn()
    for t in (0x00, 0x0d, 0x3f, 0x40, 0x80, 0x8f, 0xff):
        c.send(t, b"abc")
        expect_err(c, ERR["UNSUPPORTED"], t, 0)
    pingok(c)
    a = Account().register(); o = a.online(0)
    o.send(0x3f, b"\0" * 65535)  # len 65536, max
    expect_err(o, ERR["UNSUPPORTED"], 0x3f, 0, closed=False)

@check("3.9 anonymous frame of 1024 ok, 1025 -> MALFORMED + close")
def _():
    c = Conn()
    c.send(0x3e, b"\0" * 1023)
    expect_err(c, ERR["UNSUPPORTED"], 0x3e, 0, closed=False)
    c.sendraw(struct.pack(">IB", 1025, PING) + u64(1) + b"\0" * 1015)
    m = c.recv()
    assert m["type"] == ERROR and m["name"] == "MALFORMED", fmt(m)
    assert c.is_closed(3), "not closed"
    return "ref_type for oversized anonymous PING frame = 0x%02x" % m["ref_type"]

@check("3.10 online frame of 65537 -> MALFORMED + close")
def _():
    a = Account().register(); o = a.online(0)
    o.sendraw(struct.pack(">IB", 65537, 0x3f) + b"\0" * 100)  # server must judge len before the body
    m = o.recv()
    assert m["type"] == ERROR and m["name"] == "MALFORMED", fmt(m)
    assert o.is_closed(3), "not closed"
    return "ref_type=0x%02x" % m["ref_type"]

@check("3.11 len=0 frame -> MALFORMED ref_type 0 + close")
def _():
    c = Conn()
    c.sendraw(u32(0))
    expect_err(c, ERR["MALFORMED"], 0, 0, closed=True)

@check("3.12 truncated body (PING 7 bytes) -> MALFORMED + close")
def _():
    c = Conn(); c.send(PING, b"\0" * 7)
    expect_err(c, ERR["MALFORMED"], PING, 0, closed=True)

@check("3.13 trailing bytes (PING 9 bytes) -> MALFORMED + close")
def _():
    c = Conn(); c.send(PING, b"\0" * 9)
    expect_err(c, ERR["MALFORMED"], PING, 0, closed=True)

@check("3.14 trailing bytes in HELLO / vbytes overrunning -> MALFORMED")
def _():
    a = Account().register()
    c = Conn()
    sig = ed_sign(a.sk, b"tryst-hello-v1" + c.ch["nonce"] + a.cred)
    c.send(HELLO, vb(a.cred) + sig + b"\x01\x00")
    expect_err(c, ERR["MALFORMED"], HELLO, 0, closed=True)
    c = Conn()
    c.send(REGISTER_BEGIN, u16(20) + b"+1555")
    expect_err(c, ERR["MALFORMED"], REGISTER_BEGIN, 0, closed=True)

@check("3.15 partial frame: server waits, answers when completed")
def _():
    c = Conn()
    fr = struct.pack(">IB", 9, PING) + u64(99)
    c.sendraw(fr[:6]); quiet(c, 0.7)
    c.sendraw(fr[6:])
    p = c.recv(); eq((p["type"], p.get("nonce")), (PONG, 99), "PONG")

@check("3.16 HELLO flags with reserved bits set")
def _():
    a = Account().register(); c = Conn()
    m = c.hello(a.cred, a.sk, 0x03)
    r = fmt(m)
    closed = c.is_closed(1.5)
    assert m["type"] == ERROR and m["name"] == "MALFORMED", "got %s (closed=%s)" % (r, closed)
    return r

@check("3.17 REGISTER_FINISH with invalid identity key -> MALFORMED + close")
def _():
    bad = bytearray(32); bad[0] = 2  # y = 2: not on the curve
    na.crypto_core_ed25519_is_valid_point.restype = ctypes.c_int
    assert na.crypto_core_ed25519_is_valid_point(bytes(bad)) == 0
    a, c, tok, code = fresh_token()
    m = finish(c, tok, code.encode(), bytes(bad))
    expect_err(c, ERR["MALFORMED"], REGISTER_FINISH, 0, m=m, closed=True)
    # the token: was it consumed?
    c2 = Conn(); r = finish(c2, tok, code.encode(), a.pk)
    out = "token after MALFORMED key: " + fmt(r)
    # small-order point (identity) as key
    a2, c3, tok3, code3 = fresh_token()
    ident = b"\x01" + b"\0" * 31
    r3 = finish(c3, tok3, code3.encode(), ident)
    return out + "; identity point 01.. as key -> " + fmt(r3)

@check("3.18 per-number REGISTER_BEGIN limit: code_requests_per_hour+1 -> RATE_LIMITED, retry_after to the hour")
def _():
    return within_window(3600, per_number_begins)

def per_number_begins():
    n = rand_number()
    for i in range(S["code_requests_per_hour"]):
        c = Conn(); c.send(REGISTER_BEGIN, vb(n.encode()))
        m = c.recv(); assert m["type"] == REGISTER_CHALLENGE, "begin %d: %s" % (i + 1, fmt(m))
    c = Conn(); c.send(REGISTER_BEGIN, vb(n.encode()))
    m = expect_err(c, ERR["RATE_LIMITED"], REGISTER_BEGIN, 0, retry=None, closed=False)
    want = 3600 - int(time.time()) % 3600
    assert 0 < m["retry_after_s"] <= 3600 and abs(m["retry_after_s"] - want) <= 2, \
        "retry_after_s=%d, to next hour=%d" % (m["retry_after_s"], want)
    return fmt(m)

@check("3.19 per-IP REGISTER_BEGIN limit: codes_per_hour_per_ip+1 from one address -> RATE_LIMITED")
def _():
    return within_window(3600, per_ip_begins)

def per_ip_begins():
    src = next_src()
    for i in range(S["codes_per_hour_per_ip"]):
        c = Conn(src=src); c.send(REGISTER_BEGIN, vb(rand_number().encode()))
        m = c.recv(); assert m["type"] == REGISTER_CHALLENGE, "begin %d: %s" % (i + 1, fmt(m))
        c.close()
    c = Conn(src=src); c.send(REGISTER_BEGIN, vb(rand_number().encode()))
    m = expect_err(c, ERR["RATE_LIMITED"], REGISTER_BEGIN, 0, retry=None, closed=False)
    assert 0 < m["retry_after_s"] <= 3600, fmt(m)
    # invalid number from a limited address: which wins?
    c.send(REGISTER_BEGIN, vb(b"garbage"))
    return fmt(m) + "; invalid number when IP-limited -> " + fmt(c.recv())

@check("3.20 code_failures_per_day wrong codes per number -> RATE_LIMITED")
def _():
    return within_window(86400, code_failures)

def code_failures():
    F, A, R = S["code_failures_per_day"], S["code_attempts"], S["code_requests_per_hour"]
    assert A * R > F, "settings: code_attempts x code_requests_per_hour must exceed code_failures_per_day"
    n = rand_number(); a = Account(n)
    fails = 0; out = []; refusal = None
    for t in range(R):
        c = Conn(); m, code = a.begin(c)
        if m["type"] != REGISTER_CHALLENGE:
            refusal = m; out.append("begin %d: %s" % (t + 1, fmt(m))); break
        for i in range(A):
            r = finish(c, m["token"], wrong_code(code, 1 + i), a.pk)
            if r["type"] == ERROR and r["name"] == "BAD_CODE":
                fails += 1
            else:
                refusal = r
                out.append("attempt %d after %d BAD_CODE: %s" % (t * A + i + 1, fails, fmt(r))); break
        if out: break
    assert out and fails == F, "no limit seen after %d BAD_CODE; %s" % (fails, out)
    assert refusal["type"] == ERROR and refusal["name"] == "RATE_LIMITED", "refusal: " + fmt(refusal)
    assert 0 < refusal["retry_after_s"] <= 86400, "refusal: " + fmt(refusal)
    return "; ".join(out)

# ============================================================ 4. presence / revoke / delete
@check("4.1 presence replacement: old gets GOAWAY replaced and is closed")
def _():
    a = Account().register(); b = Account().register()
    p1 = a.online(1)
    p2 = a.online(1)
    g = p1.recv()
    assert g["type"] == GOAWAY and g["reason"] == 1, fmt(g)
    assert p1.is_closed(3), "old presence not closed"
    cb = b.online(0)
    cb.send(CONNECT, u32(1) + a.id + vb(b"o"))
    m = p2.recv(); assert m["type"] == INCOMING, "new presence: " + fmt(m)
    return fmt(g)

@check("4.2 non-presence HELLO does not replace presence")
def _():
    a = Account().register(); b = Account().register()
    p1 = a.online(1); o = a.online(0)
    quiet(p1, 0.5)
    cb = b.online(0); cb.send(CONNECT, u32(1) + a.id + vb(b""))
    m = p1.recv(); assert m["type"] == INCOMING, fmt(m)
    quiet(o, 0.3)

@check("4.3 max_connections_per_account: one more HELLO -> LIMIT")
def _():
    a = Account().register()
    cs = [a.online(i == 0) for i in range(S["max_connections_per_account"])]
    c = Conn(); m = c.hello(a.cred, a.sk, 0)
    expect_err(c, ERR["LIMIT"], HELLO, 0, m=m, closed=True)
    # presence HELLO as 5th: does it replace (the old presence goes) or LIMIT?
    c2 = Conn(); m2 = c2.hello(a.cred, a.sk, 1)
    g = cs[0].recv_or_none(1)
    return "one more HELLO with PRESENCE -> %s; old presence got %s" % (fmt(m2), fmt(g))

@check("4.4 re-registration: GOAWAY revoked to all, old credential REVOKED")
def _():
    a = Account().register()
    old = a.cred; oc = parse_cred(old)
    c1 = a.online(1); c2 = a.online(0)
    a.pk, a.sk = ed_keypair()
    a.register()
    for c in (c1, c2):
        m = c.recv(); assert m["type"] == GOAWAY and m["reason"] == 4, fmt(m)
        assert c.is_closed(3), "not closed after GOAWAY revoked"
    nc = parse_cred(a.cred)
    assert nc["created"] > oc["created"], "created %d !> %d" % (nc["created"], oc["created"])
    eq(nc["id"], oc["id"], "id")
    return "created %d -> %d" % (oc["created"], nc["created"])

@check("4.5 HELLO with a revoked (older) credential -> REVOKED")
def _():
    a = Account().register(); old = a.cred; oldsk = a.sk
    a.register()  # same key, new created
    c = Conn(); m = c.hello(old, oldsk, 1)
    expect_err(c, ERR["REVOKED"], HELLO, 0, m=m, closed=True)
    c = Conn(); w = c.hello(a.cred, a.sk, 1); assert w["type"] == WELCOME, fmt(w)

@check("4.6 DELETE_ACCOUNT: DELETED+close, others GOAWAY revoked, REVOKED, LOOKUP 0")
def _():
    a = Account().register(); b = Account().register()
    c1 = a.online(1); c2 = a.online(0)
    ob = b.online(0)
    assert lookup(ob, [a.id]) == [1]
    c1.send(DELETE_ACCOUNT)
    m = c1.recv(); assert m["type"] == DELETED, fmt(m)
    assert c1.is_closed(3), "not closed after DELETED"
    m = c2.recv(); assert m["type"] == GOAWAY and m["reason"] == 4, fmt(m)
    assert c2.is_closed(3)
    c = Conn(); expect_err(c, ERR["REVOKED"], HELLO, 0, m=c.hello(a.cred, a.sk, 1))
    eq(lookup(ob, [a.id]), [0], "LOOKUP after delete")
    ob.send(CONNECT, u32(3) + a.id + vb(b""))
    expect_err(ob, ERR["OFFLINE"], CONNECT, 3)
    c = Conn(); c.send(DELETE_ACCOUNT, b"x")
    expect_err(c, ERR["UNAUTHENTICATED"], DELETE_ACCOUNT, 0)

@check("4.7 DELETE_ACCOUNT with trailing body byte -> MALFORMED")
def _():
    a = Account().register(); c = a.online(0)
    c.send(DELETE_ACCOUNT, b"\0")
    expect_err(c, ERR["MALFORMED"], DELETE_ACCOUNT, 0, closed=True)
    c = Conn(); assert c.hello(a.cred, a.sk, 0)["type"] == WELCOME, "account gone"

# ============================================================ 5. discovery
@check("5.1 OPRF_EVAL Finalize == credential id, LOOKUP finds it, bit order")
def _():
    a = Account().register(); b = Account().register()
    o = b.online(0)
    nums = [rand_number() for _ in range(9)] + [a.number] + [rand_number() for _ in range(3)]
    ids = oprf_ids(o, nums)
    eq(ids[9], a.id, "OPRF id")
    ids2 = oprf_ids(o, [a.number])
    eq(ids2[0], a.id, "same ID with another blind")
    bits = lookup(o, ids)
    eq(bits, [0] * 9 + [1] + [0] * 3, "bitmap")
    o.send(LOOKUP, u16(10) + b"".join(ids[:10]))
    m = o.recv(); eq(m["bitmap"], b"\x00\x02", "raw bitmap for index 9")
    return "bitmap %s" % m["bitmap"].hex()

@check("5.2 OPRF_EVAL/LOOKUP count 0, 1025, mismatch -> MALFORMED")
def _():
    a = Account().register()
    for t, body in ((OPRF_EVAL, u16(0)), (OPRF_EVAL, u16(1025) + os.urandom(32) * 1025),
                    (OPRF_EVAL, u16(2) + blind(b"+15550100001")[1]), (LOOKUP, u16(0)),
                    (LOOKUP, u16(1025) + b"\0" * 32 * 1025), (LOOKUP, u16(1) + b"\0" * 33)):
        o = a.online(0); o.send(t, body)
        expect_err(o, ERR["MALFORMED"], t, 0, closed=True)

@check("5.3 invalid OPRF elements (non-canonical, identity) -> MALFORMED + close")
def _():
    a = Account().register()
    good = blind(b"+15550100001")[1]
    for el in (b"\xff" * 32, b"\0" * 32, b"\xed" + b"\xff" * 30 + b"\x7f", b"\x01" + b"\0" * 31):
        assert not is_valid_point(el) or el == b"\0" * 32
        o = a.online(0); o.send(OPRF_EVAL, u16(2) + good + el)
        expect_err(o, ERR["MALFORMED"], OPRF_EVAL, 0, closed=True)

@check("5.4 LOOKUP of max_batch ok; costs nothing")
def _():
    a = Account().register(); o = a.online(0)
    ids = [os.urandom(32) for _ in range(S["max_batch"] - 1)] + [a.id]
    bits = lookup(o, ids); eq(sum(bits), 1, "bits"); eq(bits[-1], 1, "last bit")
    for _ in range(3): lookup(o, ids)

@check("5.5 discovery bucket: max_batch ok, then refused with retry to midnight, refused costs nothing")
def _():
    return within_window(86400, discovery_bucket)

def disc_retry(count, tokens):
    """retry_after_s of PROTOCOL.md 5.3 for count elements with tokens left."""
    R = S["discovery_refill_per_day"]
    return secs_to_midnight() + (-(-(count - tokens) // R) - 1) * 86400

def discovery_bucket():
    B, M = S["discovery_bucket"], S["max_batch"]
    assert M <= B < 2 * M, "settings: want max_batch <= discovery_bucket < 2 x max_batch"
    a = Account().register(); o = a.online(0)
    def ev(n):
        o.send(OPRF_EVAL, u16(n) + blind(b"+15550100001")[1] * n)
        return o.recv()
    def refused(n, tokens):
        m = ev(n); expect_err(o, ERR["RATE_LIMITED"], OPRF_EVAL, 0, m=m, retry=None)
        want = disc_retry(n, tokens)
        assert abs(m["retry_after_s"] - want) <= 2, "%d elements with %d tokens: retry %d want %d" % (
            n, tokens, m["retry_after_s"], want)
        return m
    m = ev(M); assert m["type"] == OPRF_RESULT, fmt(m)
    left = B - M
    refused(M, left)
    if left:
        m = ev(left); assert m["type"] == OPRF_RESULT, "%d left: %s" % (left, fmt(m))
    refused(1, 0)
    m = refused(M, 0)
    # bucket survives delete+re-register
    a.register(); o = a.online(0)
    refused(1, 0)
    return "retry(%d, empty)=%d" % (M, m["retry_after_s"])

# ============================================================ 6. calls
def pair():
    a = Account().register(); b = Account().register()
    return a, b, a.online(0), b.online(1)

def ring(ca, b, cb, tag=1, offer=b"offer"):
    ca.send(CONNECT, u32(tag) + b.id + vb(offer))
    m = cb.recv(); assert m["type"] == INCOMING, "callee: " + fmt(m)
    return m

def establish(a, b, ca, cb, tag=1):
    inc = ring(ca, b, cb, tag)
    cb.send(ACCEPT, u64(inc["session"]) + vb(b"answer"))
    ans = ca.recv(); assert ans["type"] == ANSWER, "caller: " + fmt(ans)
    return inc, ans

@check("6.1 CONNECT/INCOMING/ACCEPT/ANSWER fields")
def _():
    a, b, ca, cb = pair()
    offer = bytes([1, 1, 1, 4]) + u16(5000) + bytes([127, 0, 0, 1])
    ca.send(CONNECT, u32(0xdeadbeef) + b.id + vb(offer))
    inc = cb.recv(); assert inc["type"] == INCOMING, fmt(inc)
    eq(inc["credential"], a.cred, "caller_credential"); eq(inc["offer"], offer, "offer")
    quiet(ca, 0.3)
    cb.send(ACCEPT, u64(inc["session"]) + vb(b"ans" * 10))
    ans = ca.recv(); assert ans["type"] == ANSWER, fmt(ans)
    eq(ans["tag"], 0xdeadbeef, "tag"); eq(ans["session"], inc["session"], "session")
    eq(ans["credential"], b.cred, "callee_credential"); eq(ans["answer"], b"ans" * 10, "answer")
    quiet(cb, 0.3)
    return "relay tokens equal=%s" % (inc["relay_token"] == ans["relay_token"])

@check("6.2 DECLINE/DECLINED reason passed unchanged; late DECLINE dropped")
def _():
    a, b, ca, cb = pair()
    for tag, reason in ((1, 0), (2, 1), (3, 2), (4, 7)):
        inc = ring(ca, b, cb, tag)
        cb.send(DECLINE, u64(inc["session"]) + bytes([reason]))
        m = ca.recv(); eq((m["type"], m.get("tag"), m.get("reason")), (DECLINED, tag, reason), fmt(m))
    cb.send(DECLINE, u64(inc["session"]) + b"\x01")
    cb.send(ACCEPT, u64(inc["session"]) + vb(b""))
    cb.send(END, u64(inc["session"]))
    pingok(cb); quiet(ca, 0.3)

@check("6.3 OFFLINE: no presence / unregistered / callee leaves while ringing")
def _():
    a, b, ca, cb = pair()
    ca.send(CONNECT, u32(9) + os.urandom(32) + vb(b""))
    expect_err(ca, ERR["OFFLINE"], CONNECT, 9)
    inc = ring(ca, b, cb, 10)
    cb.close()
    expect_err(ca, ERR["OFFLINE"], CONNECT, 10)
    ca.send(CONNECT, u32(11) + b.id + vb(b""))
    expect_err(ca, ERR["OFFLINE"], CONNECT, 11, closed=False)

def timer_ok(dt, want):
    """A server timer of want seconds fired after dt seconds, within tolerance."""
    return want - 1 <= dt <= want + 3

@check("6.4 TIMEOUT after call_timeout_s: caller ERROR TIMEOUT, callee ENDED why=2")
def _():
    a, b, ca, cb = pair()
    T = S["call_timeout_s"]
    t0 = time.time()
    inc = ring(ca, b, cb, 21)
    m = ca.recv(T + 5); dt = time.time() - t0
    expect_err(ca, ERR["TIMEOUT"], CONNECT, 21, m=m)
    m2 = cb.recv(3); eq((m2["type"], m2.get("session"), m2.get("why")), (ENDED, inc["session"], 2), fmt(m2))
    assert timer_ok(dt, T), "timeout after %.1fs, call_timeout_s %d" % (dt, T)
    cb.send(ACCEPT, u64(inc["session"]) + vb(b""))  # crossed
    pingok(cb); quiet(ca, 0.3)
    return "after %.1fs" % dt

@check("6.5 END session: other gets ENDED why=0; ender nothing; later END dropped")
def _():
    a, b, ca, cb = pair()
    inc, ans = establish(a, b, ca, cb)
    ca.send(END, u64(ans["session"]))
    m = cb.recv(); eq((m["type"], m.get("session"), m.get("why")), (ENDED, inc["session"], 0), fmt(m))
    quiet(ca, 0.5)
    cb.send(END, u64(inc["session"])); pingok(cb)
    ca.send(END, u64(ans["session"])); pingok(ca)
    # callee ends
    inc, ans = establish(a, b, ca, cb, tag=2)
    cb.send(END, u64(inc["session"]))
    m = ca.recv(); eq((m["type"], m.get("session"), m.get("why")), (ENDED, ans["session"], 0), fmt(m))

@check("6.6 callee ENDs a ringing call: caller gets ENDED why=0, then DECLINED reason=0 for its tag")
def _():
    a, b, ca, cb = pair()
    inc = ring(ca, b, cb, 31)
    cb.send(END, u64(inc["session"]))
    m = ca.recv()
    eq((m["type"], m.get("session"), m.get("why")), (ENDED, inc["session"], 0), "first: " + fmt(m))
    m = ca.recv()
    eq((m["type"], m.get("tag"), m.get("reason")), (DECLINED, 31, 0), "second: " + fmt(m))
    quiet(cb, 0.3); quiet(ca, 0.3)
    # the call is over: the tag is free again, the session unknown
    inc2 = ring(ca, b, cb, 31)
    assert inc2["session"] != inc["session"], "session reused"
    cb.send(ACCEPT, u64(inc["session"]) + vb(b""))  # crossed: dropped silently
    pingok(cb); quiet(ca, 0.3)

@check("6.7 caller disconnects: ringing -> callee ENDED why=1; session -> ENDED why=1")
def _():
    a, b, ca, cb = pair()
    inc = ring(ca, b, cb, 41)
    ca.close()
    m = cb.recv(); eq((m["type"], m.get("session"), m.get("why")), (ENDED, inc["session"], 1), fmt(m))
    ca = a.online(0)
    inc, ans = establish(a, b, ca, cb, 42)
    cb.close()
    m = ca.recv(); eq((m["type"], m.get("session"), m.get("why")), (ENDED, ans["session"], 1), fmt(m))

@check("6.8 CONNECT to oneself -> UNSUPPORTED ref=tag")
def _():
    a, b, ca, cb = pair()
    cb.send(CONNECT, u32(51) + b.id + vb(b""))
    expect_err(cb, ERR["UNSUPPORTED"], CONNECT, 51, closed=False)
    ca2 = a.online(1)  # a has a presence connection too; a's other connection calls it
    ca.send(CONNECT, u32(52) + a.id + vb(b""))
    expect_err(ca, ERR["UNSUPPORTED"], CONNECT, 52, closed=False)
    quiet(ca2, 0.3)

@check("6.9 reused pending tag -> UNSUPPORTED ref=tag; tag reusable after the call ends")
def _():
    a, b, ca, cb = pair()
    inc = ring(ca, b, cb, 61)
    ca.send(CONNECT, u32(61) + b.id + vb(b""))
    expect_err(ca, ERR["UNSUPPORTED"], CONNECT, 61)
    quiet(cb, 0.3)
    cb.send(DECLINE, u64(inc["session"]) + b"\0")
    assert ca.recv()["type"] == DECLINED
    inc2 = ring(ca, b, cb, 61)
    assert inc2["session"] != inc["session"]
    cb.send(ACCEPT, u64(inc2["session"]) + vb(b""))
    assert ca.recv()["type"] == ANSWER
    inc3 = ring(ca, b, cb, 61)  # tag of an established session: not pending any more
    return "tag 61 of a live session reusable: ok"

@check("6.10 crossing END from both sides: no ERROR to anyone")
def _():
    a, b, ca, cb = pair()
    inc, ans = establish(a, b, ca, cb)
    ca.send(END, u64(ans["session"])); cb.send(END, u64(inc["session"]))
    got = []
    for c in (ca, cb):
        while True:
            m = c.recv_or_none(0.7)
            if m is None: break
            got.append(fmt(m))
            assert m["type"] == ENDED, "unexpected " + fmt(m)
    pingok(ca); pingok(cb)
    # crossing ACCEPT vs caller END while ringing? caller cannot END (no session yet): callee END vs DECLINE
    inc = ring(ca, b, cb, 2)
    cb.send(DECLINE, u64(inc["session"]) + b"\0"); cb.send(ACCEPT, u64(inc["session"]) + vb(b""))
    m = ca.recv(); assert m["type"] == DECLINED, fmt(m)
    pingok(cb); quiet(ca, 0.3)
    return "received: %s" % got

@check("6.11 NO_SESSION: ACCEPT/DECLINE by caller, unknown session END/ACCEPT")
def _():
    a, b, ca, cb = pair()
    inc = ring(ca, b, cb, 71)
    s = inc["session"]
    ca.send(ACCEPT, u64(s) + vb(b"")); expect_err(ca, ERR["NO_SESSION"], ACCEPT, s)
    ca.send(DECLINE, u64(s) + b"\0"); expect_err(ca, ERR["NO_SESSION"], DECLINE, s)
    r = 0x1122334455667788
    cb.send(ACCEPT, u64(r) + vb(b"")); expect_err(cb, ERR["NO_SESSION"], ACCEPT, r)
    cb.send(END, u64(r)); expect_err(cb, ERR["NO_SESSION"], END, r)
    cb.send(DECLINE, u64(r) + b"\2"); expect_err(cb, ERR["NO_SESSION"], DECLINE, r, closed=False)
    # third party ENDs someone else's session
    c3 = Account().register().online(0)
    c3.send(END, u64(s)); expect_err(c3, ERR["NO_SESSION"], END, s)
    cb.send(ACCEPT, u64(s) + vb(b"")); assert ca.recv()["type"] == ANSWER
    cb.send(ACCEPT, u64(s) + vb(b""))  # second ACCEPT of a live session
    m = cb.recv_or_none(1)
    expect_err(cb, ERR["NO_SESSION"], ACCEPT, s, m=m, closed=False)
    return "second ACCEPT on live session -> " + fmt(m)

@check("6.12 max_pending_calls: one more CONNECT -> LIMIT ref=tag")
def _():
    a, b, ca, cb = pair()
    P = S["max_pending_calls"]
    for t in range(1, P + 1):
        ca.send(CONNECT, u32(t) + b.id + vb(b""))
        assert cb.recv()["type"] == INCOMING
    ca.send(CONNECT, u32(P + 1) + b.id + vb(b""))
    expect_err(ca, ERR["LIMIT"], CONNECT, P + 1, closed=False)

@check("6.13 offer/answer size: max_offer_bytes ok, 4097 MALFORMED")
def _():
    a, b, ca, cb = pair()
    O = S["max_offer_bytes"]
    ca.send(CONNECT, u32(1) + b.id + vb(b"o" * O))
    inc = cb.recv(); eq(len(inc["offer"]), O, "offer len")
    cb.send(ACCEPT, u64(inc["session"]) + vb(b"a" * 4097))
    expect_err(cb, ERR["MALFORMED"], ACCEPT, 0, closed=True)
    m = ca.recv(); out = "caller after callee MALFORMED: " + fmt(m)
    expect_err(ca, ERR["OFFLINE"], CONNECT, 1, m=m)  # the callee left while ringing
    ca.send(CONNECT, u32(2) + b.id + vb(b"o" * 4097))
    expect_err(ca, ERR["MALFORMED"], CONNECT, 0, closed=True)
    return out

@check("6.14 max_sessions: caller CONNECT -> LIMIT; callee ACCEPT -> LIMIT, call still rings")
def _():
    a, b, ca, cb = pair()
    N = S["max_sessions"]
    for t in range(1, N + 1): establish(a, b, ca, cb, t)
    ca.send(CONNECT, u32(N + 1) + b.id + vb(b""))
    expect_err(ca, ERR["LIMIT"], CONNECT, N + 1)
    quiet(cb, 0.5)
    c = Account().register(); cc = c.online(0)
    inc = ring(cc, b, cb, 1)
    cb.send(ACCEPT, u64(inc["session"]) + vb(b""))
    expect_err(cb, ERR["LIMIT"], ACCEPT, inc["session"])
    t0 = time.time()
    m = cc.recv(S["call_timeout_s"] + 5)
    expect_err(cc, ERR["TIMEOUT"], CONNECT, 1, m=m)
    m2 = cb.recv(3)
    eq((m2["type"], m2.get("session"), m2.get("why")), (ENDED, inc["session"], 2), fmt(m2))
    return "after callee's LIMIT on ACCEPT the caller gets, %.1fs later: %s" % (time.time() - t0, fmt(m))

@check("6.15 connects_per_minute: one more CONNECT -> RATE_LIMITED ref=tag")
def _():
    return within_window(60, connects_per_minute)

def connects_per_minute():
    a = Account().register(); ca = a.online(0)
    C = S["connects_per_minute"]
    for t in range(C):
        ca.send(CONNECT, u32(t) + os.urandom(32) + vb(b""))
    for t in range(C):
        expect_err(ca, ERR["OFFLINE"], CONNECT, t)
    ca.send(CONNECT, u32(C) + os.urandom(32) + vb(b""))
    m = expect_err(ca, ERR["RATE_LIMITED"], CONNECT, C, retry=None)
    assert 0 < m["retry_after_s"] <= 60, fmt(m)
    return fmt(m)

# ============================================================ 7. relay
def join(session, token, src=None):
    d = Conn(src=src)
    d.send(RELAY_JOIN, u64(session) + token)
    return d

def relayed():
    """A session of two fresh accounts, both data connections joined and
    RELAY_READY: (caller ctl, callee ctl, session, ANSWER, caller data,
    callee data)."""
    a, b, ca, cb = pair()
    inc, ans = establish(a, b, ca, cb)
    s = inc["session"]
    da = join(s, ans["relay_token"]); db = join(s, inc["relay_token"])
    assert da.recv()["type"] == RELAY_READY and db.recv()["type"] == RELAY_READY
    return ca, cb, s, ans, da, db

def read_raw(d, n, timeout=5):
    d._fill(n, timeout); r = d.buf[:n]; d.buf = d.buf[n:]; return r

@check("7.1 relay: both join, RELAY_READY, bytes both ways, close propagates")
def _():
    a, b, ca, cb = pair()
    inc, ans = establish(a, b, ca, cb)
    s = inc["session"]
    da = join(s, ans["relay_token"])
    quiet(da, 0.5)  # nothing until both joined
    db = join(s, inc["relay_token"])
    for d in (da, db):
        m = d.recv(); assert m["type"] == RELAY_READY, fmt(m)
    blob = os.urandom(300000)
    t = threading.Thread(target=da.sendraw, args=(blob,)); t.start()
    got = read_raw(db, len(blob), 10); t.join()
    eq(got == blob, True, "a->b bytes")
    db.sendraw(b"hello back"); eq(read_raw(da, 10), b"hello back", "b->a")
    da.close()
    assert db.is_closed(3), "other side not closed"
    quiet(ca, 0.3)
    m = cb.recv_or_none(0.5)
    return "control conns after relay close: callee got %s" % fmt(m)

@check("7.2 RELAY_JOIN wrong token -> NO_SESSION ref=session + close")
def _():
    a, b, ca, cb = pair()
    inc, ans = establish(a, b, ca, cb)
    s = inc["session"]
    d = join(s, os.urandom(16))
    expect_err(d, ERR["NO_SESSION"], RELAY_JOIN, s, closed=True)
    d = join(s ^ 1, ans["relay_token"])
    expect_err(d, ERR["NO_SESSION"], RELAY_JOIN, s ^ 1, closed=True)

@check("7.3 RELAY_JOIN before ANSWER (ringing) -> NO_SESSION ref=session + close")
def _():
    a, b, ca, cb = pair()
    inc = ring(ca, b, cb)
    d = join(inc["session"], inc["relay_token"])
    m = expect_err(d, ERR["NO_SESSION"], RELAY_JOIN, inc["session"], closed=True)
    return fmt(m)

def first_refused(ds, timeout=3):
    """Wait until one of the connections ds gets a frame or closes; its index and what it got."""
    dl = time.time() + timeout
    while time.time() < dl:
        for i, d in enumerate(ds):
            try:
                return i, fmt(d.recv(0.05))
            except TimeoutError:
                pass
            except Closed:
                return i, "closed"
    return None, None

@check("7.4 same party joins twice: one joiner refused, the other paired with the partner")
def _():
    a, b, ca, cb = pair()
    inc, ans = establish(a, b, ca, cb)
    s = inc["session"]
    assert inc["relay_token"] != ans["relay_token"], "both parties got the same relay token"
    ds = [join(s, ans["relay_token"]), join(s, ans["relay_token"])]
    i, r = first_refused(ds)
    assert i is not None, "neither of two joins with one token was refused"
    assert r == "closed" or ("NO_SESSION" in r and "ref=%d " % s in r), "refused joiner got " + r
    assert ds[i].is_closed(3), "refused joiner not closed"
    kept = ds[1 - i]
    db = join(s, inc["relay_token"])
    for d in (kept, db):
        m = d.recv(); assert m["type"] == RELAY_READY, fmt(m)
    kept.sendraw(b"ping"); eq(read_raw(db, 4), b"ping", "bytes through the kept joiner")
    return "joiner %d refused: %s" % (i + 1, r)

@check("7.5 lone joiner waits call_timeout_s, gets ERROR TIMEOUT ref=session, then closed")
def _():
    a, b, ca, cb = pair()
    inc, ans = establish(a, b, ca, cb)
    T = S["call_timeout_s"]
    t0 = time.time()
    d = join(inc["session"], inc["relay_token"])
    try:
        m = d.recv(T + 5); r = fmt(m)
    except Closed:
        m, r = None, "closed"
    dt = time.time() - t0
    assert m is not None, "closed after %.1fs without ERROR TIMEOUT" % dt
    expect_err(d, ERR["TIMEOUT"], RELAY_JOIN, inc["session"], m=m)
    closed = d.is_closed(2)
    assert timer_ok(dt, T) and closed, "after %.1fs: %s closed=%s" % (dt, r, closed)
    ms = [fmt(x) for x in (ca.recv_or_none(0.3), cb.recv_or_none(0.3))]
    return "after %.1fs: %s; control: %s" % (dt, r, ms)

@check("7.6 END of the session closes its data connections")
def _():
    ca, cb, s, ans, da, db = relayed()
    ca.send(END, u64(s))
    m = cb.recv(); eq((m["type"], m.get("why")), (ENDED, 0), fmt(m))
    assert da.is_closed(3) and db.is_closed(3), "data conns not closed"

@check("7.7 data connection close ends session? (control after relay close)")
def _():
    ca, cb, s, ans, da, db = relayed()
    da.close()
    assert db.is_closed(3), "a close on one side did not close the other"
    da2 = join(s, ans["relay_token"])
    m = da2.recv_or_none(2)
    ca.send(END, u64(s))
    m2 = ca.recv_or_none(1); m3 = cb.recv_or_none(1)
    return "rejoin after close -> %s; END after: caller %s callee %s" % (fmt(m), fmt(m2), fmt(m3))

# ============================================================ 8. STUN
def stun(req, timeout=2, tries=1):
    """Send req from a fresh source address (tries times while unanswered); the source and the answer."""
    u = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    u.bind((next_src(), 0)); u.settimeout(timeout)
    d = None
    for _ in range(tries):
        u.sendto(req, (HOST, STUN_PORT))
        try:
            d, _ = u.recvfrom(2000)
            break
        except socket.timeout:
            d = None
    src = u.getsockname()
    u.close()
    return src, d


def stun_req(fp=False, attrs=b""):
    tid = os.urandom(12)
    body = attrs
    if fp:
        hdr = struct.pack(">HHI", 1, len(body) + 8, 0x2112A442) + tid
        crc = (zlib.crc32(hdr + body) ^ 0x5354554e) & 0xffffffff
        body += struct.pack(">HHI", 0x8028, 4, crc)
    return tid, struct.pack(">HHI", 1, len(body), 0x2112A442) + tid + body

def stun_parse(d, tid):
    t, ln, mc = struct.unpack(">HHI", d[:8])
    assert mc == 0x2112A442 and d[8:20] == tid, "cookie/tid"
    assert ln == len(d) - 20, "length %d vs %d" % (ln, len(d) - 20)
    attrs = {}; i = 20; order = []
    while i < len(d):
        at, al = struct.unpack(">HH", d[i:i + 4]); v = d[i + 4:i + 4 + al]
        attrs[at] = v; order.append((at, i)); i += 4 + al + (-al % 4)
    return t, attrs, order

@check("8.1 STUN Binding request -> XOR-MAPPED-ADDRESS")
def _():
    tid, req = stun_req()
    src, d = stun(req, tries=3); assert d, "no answer"
    t, attrs, order = stun_parse(d, tid)
    eq(t, 0x0101, "type"); assert 0x0020 in attrs, "no XOR-MAPPED-ADDRESS: %s" % list(attrs)
    v = attrs[0x0020]; fam = v[1]; port = struct.unpack(">H", v[2:4])[0] ^ 0x2112
    addr = socket.inet_ntoa(bytes(x ^ y for x, y in zip(v[4:8], b"\x21\x12\xa4\x42")))
    eq((fam, addr, port), (1, src[0], src[1]), "mapped")
    return "attrs %s" % ["%04x" % a for a in attrs]

@check("8.2 STUN with FINGERPRINT -> answered, response FINGERPRINT valid if present")
def _():
    tid, req = stun_req(fp=True)
    src, d = stun(req, tries=3); assert d, "no answer"
    t, attrs, order = stun_parse(d, tid)
    eq(t, 0x0101, "type")
    note = "no FINGERPRINT in response"
    if 0x8028 in attrs:
        pos = order[-1][1]; eq(order[-1][0], 0x8028, "FINGERPRINT last")
        crc = (zlib.crc32(d[:pos]) ^ 0x5354554e) & 0xffffffff
        eq(struct.unpack(">I", attrs[0x8028])[0], crc, "response fingerprint")
        note = "response FINGERPRINT valid"
    # bad fingerprint: should be discarded (RFC 8489 7.3: not STUN)
    tid2, req2 = stun_req(fp=True); req2 = req2[:-1] + bytes([req2[-1] ^ 1])
    _, d2 = stun(req2, 1)
    return note + "; bad FINGERPRINT -> %s" % ("answered" if d2 else "dropped")

@check("8.3 STUN garbage / non-binding / unknown comprehension-required attr")
def _():
    _, d = stun(b"\x00\x01\x00\x00garbage", 1)
    assert d is None, "answered garbage"
    tid, req = stun_req(attrs=struct.pack(">HHI", 0x7777, 4, 0))
    _, d = stun(req, 1, tries=3)
    r = "no answer"
    if d:
        t, attrs, _ = stun_parse(d, tid); r = "type %04x attrs %s" % (t, ["%04x" % a for a in attrs])
    assert d and t == 0x0111 and attrs[0x0009][2] == 4 and attrs[0x0009][3] == 20 and attrs[0x000a] == b"\x77\x77", r
    return "unknown comprehension-required attr 0x7777 -> " + r + " 420"

@check("7.8 relay quota: relay_session_bytes -> data closed, ENDED why=3 then ERROR QUOTA")
def _():
    ca, cb, s, ans, da, db = relayed()
    Q = S["relay_session_bytes"]
    got = [len(db.buf)]; db.buf = b""
    def reader():
        db.s.settimeout(30)
        try:
            while True:
                d = db.s.recv(1 << 20)
                if not d: break
                got[0] += len(d)
        except Exception as e:
            got.append(repr(e))
    th = threading.Thread(target=reader); th.start()
    chunk = os.urandom(1 << 16); sent = 0; err = None
    da.s.settimeout(30)
    try:
        while sent < Q + (64 << 20):
            da.s.sendall(chunk); sent += len(chunk)
    except Exception as e:
        err = repr(e)
    th.join(40)
    assert not th.is_alive(), "callee's data connection still open"
    assert err is not None, "sent %d bytes, quota %d, and the sender was never closed" % (sent, Q)
    assert got[0] <= Q, "callee read %d bytes, quota %d" % (got[0], Q)
    out = []
    for c in (ca, cb):
        m1 = c.recv(5); m2 = c.recv(5)
        out.append([fmt(m1), fmt(m2)])
        eq((m1["type"], m1.get("session"), m1.get("why")), (ENDED, s, 3), "first: " + fmt(m1))
        assert m2["type"] == ERROR and m2["name"] == "QUOTA" and m2["ref"] == s, "second: " + fmt(m2)
    return "sent %d (%s), callee data read %s bytes (quota %d); control %s" % (sent, err, got, Q, out[0])

@check("9.1 handshake_timeout_s: silent connection closed")
def _():
    H = S["handshake_timeout_s"]
    t0 = time.time(); c = Conn()
    try:
        m = c.recv(H + 5); r = fmt(m)
    except Closed:
        r = "closed"
    dt = time.time() - t0
    assert timer_ok(dt, H) and c.is_closed(2), "after %.1fs: %s" % (dt, r)
    return "after %.1fs: %s" % (dt, r)

@check("9.2 max_connections_per_ip: one more closed before TLS")
def _():
    src = next_src(); cs = []
    for _ in range(S["max_connections_per_ip"]):
        c = Conn(src=src); pingok(c)  # a first frame: no handshake_timeout_s while the rest connect
        cs.append(c)
    try:
        c = Conn(src=src); r = "one more got CHALLENGE"
        ok = False
    except Exception as e:
        r = "one more refused: %r" % e; ok = True
    for c in cs: c.close()
    assert ok, r
    return r

@check("9.3 RELAY_JOIN after a PING -> NO_SESSION (not the first frame); partner not paired")
def _():
    a, b, ca, cb = pair()
    inc, ans = establish(a, b, ca, cb)
    s = inc["session"]
    d = Conn(); pingok(d)
    d.send(RELAY_JOIN, u64(s) + ans["relay_token"])
    m = expect_err(d, ERR["NO_SESSION"], RELAY_JOIN, s)
    eq(m["message"], b"RELAY_JOIN must be the first frame of a new connection", "message")
    assert d.is_closed(3), "not closed after NO_SESSION for RELAY_JOIN"
    db = join(s, inc["relay_token"])
    quiet(db, 1.0)
    return "late RELAY_JOIN -> " + fmt(m)

@check("9.4 metrics endpoint")
def _():
    import urllib.request
    t = urllib.request.urlopen("http://%s:%d/metrics" % (HOST, METRICS_PORT), timeout=3).read().decode()
    lines = [l for l in t.splitlines() if l and not l.startswith("#")]
    assert lines, "empty"
    bad = [l for l in lines if not re.fullmatch(r"[a-zA-Z_:][a-zA-Z0-9_:]*(\{[^}]*\})? -?[0-9.eE+-]+|.* (NaN|[+-]Inf)", l)]
    assert not bad, "not samples: %s" % bad[:3]
    return "%d samples, e.g. %s" % (len(lines), lines[:3])

@check("3.21 pipelining: HELLO+LOOKUP+PING in one write; REGISTER_BEGIN+PING")
def _():
    a = Account().register()
    c = Conn()
    sig = ed_sign(a.sk, b"tryst-hello-v1" + c.ch["nonce"] + a.cred)
    c.sendraw(struct.pack(">IB", 1 + 2 + 145 + 65, HELLO) + vb(a.cred) + sig + b"\0" +
              struct.pack(">IB", 1 + 2 + 32, LOOKUP) + u16(1) + a.id + struct.pack(">IB", 9, PING) + u64(5))
    got = [c.recv() for _ in range(3)]
    eq([m["type"] for m in got], [WELCOME, LOOKUP_RESULT, PONG], "order %s" % [fmt(m) for m in got])
    eq(got[1]["bitmap"], b"\1", "lookup")
    c = Conn(); n = rand_number().encode()
    c.sendraw(struct.pack(">IB", 3 + len(n), REGISTER_BEGIN) + vb(n) + struct.pack(">IB", 9, PING) + u64(6)
              + struct.pack(">IB", 9, PING) + u64(7) + b"\0\0\0\0" + struct.pack(">IB", 9, PING) + u64(8))
    got = [c.recv() for _ in range(4)]
    eq([m["type"] for m in got], [REGISTER_CHALLENGE, PONG, PONG, ERROR], "order %s" % [fmt(m) for m in got])
    assert c.is_closed(2), "not closed"

@check("6.16 caller's control connection drops during relay: data connections closed")
def _():
    ca, cb, s, ans, da, db = relayed()
    ca.close()
    m = cb.recv(); eq((m["type"], m.get("why")), (ENDED, 1), fmt(m))
    assert da.is_closed(3) and db.is_closed(3), "data connections survive their session"

@check("6.17 presence replaced while ringing: caller gets OFFLINE")
def _():
    a, b, ca, cb = pair()
    inc = ring(ca, b, cb, 5)
    cb2 = b.online(1)
    g = cb.recv(); assert g["type"] == GOAWAY and g["reason"] == 1, fmt(g)
    m = ca.recv(3)
    expect_err(ca, ERR["OFFLINE"], CONNECT, 5, m=m)
    quiet(cb2, 0.3)

@check("6.18 CONNECT with a 31-byte target (short body) -> MALFORMED ref 0")
def _():
    a = Account().register(); ca = a.online(0)
    ca.send(CONNECT, u32(3) + os.urandom(31))
    expect_err(ca, ERR["MALFORMED"], CONNECT, 0, closed=True)

@check("9.5 anonymous_lifetime_s: a pinging anonymous connection is closed", background=True)
def _():
    L = S["anonymous_lifetime_s"]
    t0 = time.time(); c = Conn(); r = "?"
    try:
        while time.time() - t0 < L + 10:
            pingok(c)
            m = c.recv_or_none(1.0)  # wait for the close, pinging each second
            if m is not None:
                r = fmt(m); break
    except Closed:
        r = "closed"
    dt = time.time() - t0
    assert r == "closed" or r.startswith("0x8e"), "after %.1fs: %s" % (dt, r)
    assert r == "closed" or c.is_closed(3), "not closed after " + r
    assert L - 1 <= dt <= L + 3, "after %.1fs, anonymous_lifetime_s %d: %s" % (dt, L, r)
    return "after %.1fs: %s" % (dt, r)

@check("9.6 idle_timeout_s: a silent online connection gets GOAWAY idle; a pinging one stays", background=True)
def _():
    I = S["idle_timeout_s"]
    a = Account().register()
    quiet_c = a.online(0); busy = a.online(0); t0 = time.time()
    try:
        m = None
        while m is None and time.time() - t0 < I + 10:
            pingok(busy)
            m = quiet_c.recv_or_none(I / 4)
    except Closed:
        m = None
    dt = time.time() - t0
    assert m is not None, "after %.1fs: closed without GOAWAY idle" % dt
    eq((m["type"], m.get("reason")), (GOAWAY, 2), "after %.1fs: %s" % (dt, fmt(m)))
    assert quiet_c.is_closed(3), "not closed after GOAWAY idle"
    assert I - 1 <= dt <= I + 5, "GOAWAY idle after %.1fs, idle_timeout_s %d" % (dt, I)
    pingok(busy)
    return "after %.1fs: %s" % (dt, fmt(m))

if __name__ == "__main__":
    threads = [threading.Thread(target=f) for f in BG]
    for t in threads:
        t.start()
    for f in ALL:
        f()
    for t in threads:
        t.join()
    n = len(RESULTS); p = sum(ok for _, ok in RESULTS)
    failed = [name for name, ok in RESULTS if not ok]
    if failed:
        print("\nfailed: " + ", ".join(name.split()[0] for name in failed))
    print("\n%d/%d checks passed" % (p, n))
    sys.exit(0 if n and p == n else 1)
