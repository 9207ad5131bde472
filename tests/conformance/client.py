"""Independent tryst v1 client library, written from PROTOCOL.md only.

Everything about the server under test comes from the environment (see
tests/conformance.sh, which sets it): TRYST_HOSTPORT, TRYST_SERVER_KEY
(base64 of the signing key), TRYST_CODES (the dev: codes file),
TRYST_STUN_PORT, TRYST_METRICS_PORT, and the trystd.conf settings of
PROTOCOL.md section 8 that the checks depend on (SETTINGS below).
TRYST_RECORD, if set, names a file to which every number and ID used is
appended, so the caller can check that the server's log names none.
"""
import base64, ctypes, hashlib, os, re, socket, ssl, struct, sys, threading, time


def _env(name):
    v = os.environ.get(name)
    if v is None or v == "":
        sys.stderr.write("conformance: %s is not set (run tests/conformance.sh)\n" % name)
        sys.exit(1)
    return v

# trystd.conf key -> environment variable; all are integers.
SETTINGS = {
    "call_timeout_s": "TRYST_CALL_TIMEOUT_S",
    "anonymous_lifetime_s": "TRYST_ANON_LIFETIME_S",
    "handshake_timeout_s": "TRYST_HANDSHAKE_TIMEOUT_S",
    "idle_timeout_s": "TRYST_IDLE_TIMEOUT_S",
    "relay_session_bytes": "TRYST_RELAY_SESSION_BYTES",
    "code_digits": "TRYST_CODE_DIGITS",
    "code_ttl_s": "TRYST_CODE_TTL_S",
    "code_attempts": "TRYST_CODE_ATTEMPTS",
    "code_requests_per_hour": "TRYST_CODE_REQUESTS_PER_HOUR",
    "code_failures_per_day": "TRYST_CODE_FAILURES_PER_DAY",
    "codes_per_hour_per_ip": "TRYST_CODES_PER_HOUR_PER_IP",
    "credential_days": "TRYST_CREDENTIAL_DAYS",
    "discovery_bucket": "TRYST_DISCOVERY_BUCKET",
    "discovery_refill_per_day": "TRYST_DISCOVERY_REFILL_PER_DAY",
    "connects_per_minute": "TRYST_CONNECTS_PER_MINUTE",
    "max_pending_calls": "TRYST_MAX_PENDING_CALLS",
    "max_sessions": "TRYST_MAX_SESSIONS",
    "max_batch": "TRYST_MAX_BATCH",
    "max_offer_bytes": "TRYST_MAX_OFFER_BYTES",
    "max_connections_per_ip": "TRYST_MAX_CONNECTIONS_PER_IP",
    "max_connections_per_account": "TRYST_MAX_CONNECTIONS_PER_ACCOUNT",
}

_hp = _env("TRYST_HOSTPORT")
HOST, PORT = _hp.rsplit(":", 1)[0].strip("[]"), int(_hp.rsplit(":", 1)[1])
SERVER_PK = base64.b64decode(_env("TRYST_SERVER_KEY"), validate=True)
assert len(SERVER_PK) == 32, "TRYST_SERVER_KEY is not 32 bytes"
CODES = _env("TRYST_CODES")
STUN_PORT = int(_env("TRYST_STUN_PORT"))
METRICS_PORT = int(_env("TRYST_METRICS_PORT"))
S = {k: int(_env(v)) for k, v in SETTINGS.items()}
RECORD = os.environ.get("TRYST_RECORD") or None
_record_lock = threading.Lock()

def record(*items):
    """Append numbers or IDs the checks use to TRYST_RECORD, one a line."""
    if not RECORD:
        return
    with _record_lock, open(RECORD, "a") as f:
        for x in items:
            f.write((x.hex() if isinstance(x, bytes) else x) + "\n")

na = ctypes.CDLL("libsodium.so.23")
assert na.sodium_init() >= 0
B = ctypes.create_string_buffer

# message types
CHALLENGE, REGISTER_CHALLENGE, REGISTERED, WELCOME = 0x80, 0x81, 0x82, 0x83
OPRF_RESULT, LOOKUP_RESULT, INCOMING, ANSWER, DECLINED = 0x84, 0x85, 0x86, 0x87, 0x88
ENDED, RELAY_READY, DELETED, PONG, GOAWAY, ERROR = 0x89, 0x8a, 0x8b, 0x8c, 0x8e, 0x8f
REGISTER_BEGIN, REGISTER_FINISH, HELLO, OPRF_EVAL, LOOKUP = 1, 2, 3, 4, 5
CONNECT, ACCEPT, DECLINE, END, RELAY_JOIN, DELETE_ACCOUNT, PING = 6, 7, 8, 9, 10, 11, 12
ERRNAMES = {1: "MALFORMED", 2: "UNSUPPORTED", 3: "RATE_LIMITED", 4: "INVALID_NUMBER",
            5: "BAD_CODE", 6: "EXPIRED", 7: "UNAUTHENTICATED", 8: "REVOKED", 9: "OFFLINE",
            10: "UNAVAILABLE", 11: "TOO_LARGE", 12: "LIMIT", 13: "DELIVERY_FAILED",
            14: "TIMEOUT", 15: "NO_SESSION", 16: "QUOTA"}
ERR = {v: k for k, v in ERRNAMES.items()}

# ---------------------------------------------------------------- crypto
def ed_keypair():
    pk, sk = B(32), B(64)
    na.crypto_sign_keypair(pk, sk)
    return pk.raw, sk.raw

def ed_sign(sk, m):
    sig = B(64)
    na.crypto_sign_detached(sig, None, m, ctypes.c_ulonglong(len(m)), sk)
    return sig.raw

def ed_verify(pk, m, sig):
    return na.crypto_sign_verify_detached(sig, m, ctypes.c_ulonglong(len(m)), pk) == 0

def blake2b32(m):
    return hashlib.blake2b(m, digest_size=32).digest()

CTX = b"OPRFV1-" + b"\x00" + b"-ristretto255-SHA512"

def expand_xmd(msg, dst, n):
    H, b_in, r_in = hashlib.sha512, 64, 128
    ell = -(-n // b_in)
    dst_p = dst + bytes([len(dst)])
    b0 = H(b"\0" * r_in + msg + n.to_bytes(2, "big") + b"\0" + dst_p).digest()
    bs = [H(b0 + b"\1" + dst_p).digest()]
    for i in range(2, ell + 1):
        bs.append(H(bytes(x ^ y for x, y in zip(b0, bs[-1])) + bytes([i]) + dst_p).digest())
    return b"".join(bs)[:n]

def hash_to_group(msg):
    p = B(32)
    na.crypto_core_ristretto255_from_hash(p, expand_xmd(msg, b"HashToGroup-" + CTX, 64))
    return p.raw

def hash_to_scalar(msg, dst):
    s = B(32)
    na.crypto_core_ristretto255_scalar_reduce(s, expand_xmd(msg, dst, 64))
    return s.raw

def derive_key_pair(seed, info):
    di = seed + len(info).to_bytes(2, "big") + info
    for c in range(256):
        sk = hash_to_scalar(di + bytes([c]), b"DeriveKeyPair" + CTX)
        if sk != b"\0" * 32:
            return sk
    raise ValueError

def scalarmult(n, p):
    q = B(32)
    if na.crypto_scalarmult_ristretto255(q, n, p) != 0:
        raise ValueError("identity")
    return q.raw

def is_valid_point(p):
    return na.crypto_core_ristretto255_is_valid_point(p) == 1

def blind(inp, r=None):
    if r is None:
        rb = B(32); na.crypto_core_ristretto255_scalar_random(rb); r = rb.raw
    return r, scalarmult(r, hash_to_group(inp))

def finalize(inp, r, Z):
    ri = B(32)
    assert na.crypto_core_ristretto255_scalar_invert(ri, r) == 0
    N = scalarmult(ri.raw, Z)
    h = (len(inp).to_bytes(2, "big") + inp + len(N).to_bytes(2, "big") + N + b"Finalize")
    return hashlib.sha512(h).digest()

# ---------------------------------------------------------------- DER
def der_tlv(b, i):
    tag = b[i]; l = b[i + 1]; i += 2
    if l & 0x80:
        n = l & 0x7f; l = int.from_bytes(b[i:i + n], "big"); i += n
    return tag, i, l  # tag, content start, content length

def spki_of_cert(der):
    _, c, _ = der_tlv(der, 0)            # Certificate
    tag, tc, tl = der_tlv(der, c)        # tbsCertificate
    i = tc
    fields = []
    while i < tc + tl:
        t, s, l = der_tlv(der, i)
        fields.append((t, i, s + l)); i = s + l
    if fields[0][0] == 0xa0:
        fields = fields[1:]
    # serial, sigalg, issuer, validity, subject, spki
    _, a, b = fields[5]
    return der[a:b]

# ---------------------------------------------------------------- codec
def vb(x): return struct.pack(">H", len(x)) + x

class Rd:
    def __init__(self, b): self.b, self.i = b, 0
    def take(self, n):
        if self.i + n > len(self.b): raise ValueError("short")
        r = self.b[self.i:self.i + n]; self.i += n; return r
    def u8(self): return self.take(1)[0]
    def u16(self): return struct.unpack(">H", self.take(2))[0]
    def u32(self): return struct.unpack(">I", self.take(4))[0]
    def u64(self): return struct.unpack(">Q", self.take(8))[0]
    def vbytes(self): return self.take(self.u16())
    def end(self):
        if self.i != len(self.b): raise ValueError("trailing %d" % (len(self.b) - self.i))

def parse(t, body):
    r = Rd(body); d = {"type": t}
    if t == CHALLENGE:
        d.update(version=r.u8(), nonce=r.take(32), server_time_ms=r.u64(), pk=r.take(32), sig=r.take(64))
    elif t == REGISTER_CHALLENGE:
        d.update(token=r.vbytes(), code_digits=r.u8(), expires_in_s=r.u32())
    elif t == REGISTERED:
        d.update(credential=r.vbytes())
    elif t == WELCOME:
        fam = r.u8(); port = r.u16(); addr = r.take(4 if fam == 4 else 16)
        d.update(family=fam, port=port, addr=socket.inet_ntop(socket.AF_INET if fam == 4 else socket.AF_INET6, addr),
                 idle_timeout_s=r.u16(), stun_port=r.u16(), max_batch=r.u16(), max_offer_bytes=r.u16(),
                 credential=r.vbytes())
    elif t in (OPRF_RESULT,):
        n = r.u16(); d.update(count=n, elements=[r.take(32) for _ in range(n)])
    elif t == LOOKUP_RESULT:
        n = r.u16(); d.update(count=n, bitmap=r.take((n + 7) // 8))
    elif t == INCOMING:
        d.update(session=r.u64(), credential=r.vbytes(), offer=r.vbytes(), relay_token=r.take(16))
    elif t == ANSWER:
        d.update(tag=r.u32(), session=r.u64(), credential=r.vbytes(), answer=r.vbytes(), relay_token=r.take(16))
    elif t == DECLINED:
        d.update(tag=r.u32(), reason=r.u8())
    elif t == ENDED:
        d.update(session=r.u64(), why=r.u8())
    elif t in (RELAY_READY, DELETED):
        pass
    elif t == PONG:
        d.update(nonce=r.u64())
    elif t == GOAWAY:
        d.update(reason=r.u8(), reconnect_after_s=r.u32())
    elif t == ERROR:
        d.update(ref_type=r.u8(), ref=r.u64(), code=r.u16(), retry_after_s=r.u32(), message=r.vbytes())
        d["name"] = ERRNAMES.get(d["code"], "?%d" % d["code"])
    else:
        d["raw"] = body
        return d
    r.end()
    return d

def fmt(m):
    if m is None: return "None"
    if m["type"] == ERROR:
        return "ERROR(ref_type=0x%02x ref=%d code=%d %s retry=%d msg=%r)" % (
            m["ref_type"], m["ref"], m["code"], m["name"], m["retry_after_s"], m["message"])
    return "0x%02x %s" % (m["type"], {k: (v.hex()[:16] + ".." if isinstance(v, bytes) and len(v) > 8 else v)
                                     for k, v in m.items() if k != "type"})

class Closed(Exception):
    pass

def parse_cred(c):
    r = Rd(c)
    d = dict(version=r.u8(), id=r.take(32), identity_pk=r.take(32), created=r.u64(), expires=r.u64(), sig=r.take(64))
    r.end()
    d["valid"] = ed_verify(SERVER_PK, b"tryst-credential-v1" + c[:81], d["sig"])
    return d

# ---------------------------------------------------------------- connection
_src = [0, 1 + os.urandom(1)[0] % 250]
_src_lock = threading.Lock()
SRC_PREFIX = "127.%d." % _src[1]
def next_src():
    """Rotate loopback source addresses (a fresh /16 per run) so per-IP limits do not bite."""
    with _src_lock:
        _src[0] += 1
        n = _src[0]
    return "127.%d.%d.%d" % (_src[1], n // 250, n % 250 + 2)

def tls_ctx(alpn=("tryst/1",), minv=ssl.TLSVersion.TLSv1_3, maxv=ssl.TLSVersion.TLSv1_3):
    ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_CLIENT)
    ctx.check_hostname = False
    ctx.verify_mode = ssl.CERT_NONE
    ctx.minimum_version = minv
    ctx.maximum_version = maxv
    if alpn is not None:
        ctx.set_alpn_protocols(list(alpn))
    return ctx

class Conn:
    def __init__(self, src=None, alpn=("tryst/1",), read_challenge=True, timeout=5):
        self.src = src or next_src()
        raw = socket.create_connection((HOST, PORT), timeout=timeout, source_address=(self.src, 0))
        self.local = raw.getsockname()
        self.s = tls_ctx(alpn).wrap_socket(raw, server_hostname="tryst")
        self.buf = b""
        self.ch = None
        self.cred = None
        if read_challenge:
            t, body = self.recv_frame()
            assert t == CHALLENGE, "first frame 0x%02x" % t
            self.ch = parse(t, body)
            spki = spki_of_cert(self.s.getpeercert(binary_form=True))
            self.tls_ok = (self.ch["pk"] == SERVER_PK and ed_verify(
                SERVER_PK, b"tryst-tls-v1" + self.ch["nonce"] + hashlib.sha256(spki).digest(), self.ch["sig"]))
            if not self.tls_ok:
                self.close()
                raise AssertionError("CHALLENGE signature does not verify")

    def sendraw(self, b):
        self.s.sendall(b)

    def send(self, t, body=b""):
        self.s.sendall(struct.pack(">IB", len(body) + 1, t) + body)

    def _fill(self, n, timeout):
        dl = time.time() + timeout
        while len(self.buf) < n:
            rem = dl - time.time()
            if rem <= 0: raise TimeoutError
            self.s.settimeout(rem)
            try:
                d = self.s.recv(65536)
            except socket.timeout:
                raise TimeoutError
            except (ssl.SSLError, ConnectionError, OSError) as e:
                raise Closed(str(e))
            if not d: raise Closed("eof")
            self.buf += d

    def recv_frame(self, timeout=5):
        self._fill(4, timeout)
        n = struct.unpack(">I", self.buf[:4])[0]
        self._fill(4 + n, timeout)
        fr = self.buf[4:4 + n]; self.buf = self.buf[4 + n:]
        return fr[0], fr[1:]

    def recv(self, timeout=5):
        t, b = self.recv_frame(timeout)
        return parse(t, b)

    def recv_or_none(self, timeout=1.0):
        try:
            return self.recv(timeout)
        except TimeoutError:
            return None

    def is_closed(self, timeout=3):
        """True if the peer closes within timeout (any frames before are discarded)."""
        try:
            while True:
                self.recv(timeout)
        except Closed:
            return True
        except TimeoutError:
            return False

    def close(self):
        try: self.s.close()
        except Exception: pass

    # ------------------------------------------------ high level
    def ping(self, nonce=None):
        nonce = nonce if nonce is not None else int.from_bytes(os.urandom(8), "big")
        self.send(PING, struct.pack(">Q", nonce))
        return self.recv(), nonce

    def hello(self, cred, sk, flags=0, sig=None):
        if sig is None:
            sig = ed_sign(sk, b"tryst-hello-v1" + self.ch["nonce"] + cred)
        self.send(HELLO, vb(cred) + sig + bytes([flags]))
        m = self.recv()
        if m["type"] == WELCOME:
            self.cred = cred
        return m

def codes_offset():
    try: return os.path.getsize(CODES)
    except FileNotFoundError: return 0

def wait_code(number, off, timeout=5):
    dl = time.time() + timeout
    while time.time() < dl:
        try:
            with open(CODES, "rb") as f:
                f.seek(off); data = f.read().decode()
        except FileNotFoundError:
            data = ""
        found = [l.split()[1] for l in data.splitlines() if l.split() and l.split()[0] == number]
        if found: return found[-1]
        time.sleep(0.05)
    return None

def rand_number():
    n = "+1555010" + "%06d" % (int.from_bytes(os.urandom(4), "big") % 1000000)
    record(n)
    return n

class Account:
    def __init__(self, number=None):
        self.number = number or rand_number()
        record(self.number)
        self.pk, self.sk = ed_keypair()
        self.cred = None

    def begin(self, c):
        off = codes_offset()
        c.send(REGISTER_BEGIN, vb(self.number.encode()))
        m = c.recv()
        code = wait_code(self.number, off) if m["type"] == REGISTER_CHALLENGE else None
        return m, code

    def register(self):
        c = Conn()
        m, code = self.begin(c)
        assert m["type"] == REGISTER_CHALLENGE, fmt(m)
        assert code, "no code in codes.txt"
        c.send(REGISTER_FINISH, vb(m["token"]) + vb(code.encode()) + self.pk)
        r = c.recv()
        assert r["type"] == REGISTERED, fmt(r)
        self.cred = r["credential"]
        self.id = parse_cred(self.cred)["id"]
        record(self.id)
        c.close()
        return self

    def online(self, flags=1):
        c = Conn()
        w = c.hello(self.cred, self.sk, flags)
        assert w["type"] == WELCOME, fmt(w)
        c.welcome = w
        return c

