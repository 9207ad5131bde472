"""A hostile caller for tests/reach-test.sh, on the independent Python
client of tests/conformance/: it registers, calls the callee whose ID is
argv[1] with an offer of the candidates argv[2:] (host:port, IPv4), each
of which it listens on itself, and after the callee's ANSWER counts for
5 s the connections each candidate receives. Prints one line per
candidate, "dialled HOST:PORT N", and exits 0 once ANSWER came.
"""
import os, re, socket, struct, sys, time

here = os.path.dirname(os.path.abspath(__file__))
sys.path.insert(0, os.path.join(here, "..", "conformance"))
# client.py wants every setting the conformance checks read; none matters
# to a caller, so the ones the environment lacks are set to 0.
for name in re.findall(r'"(TRYST_[A-Z0-9_]+_[A-Z0-9]+)"',
                       open(os.path.join(here, "..", "conformance", "client.py")).read()):
    os.environ.setdefault(name, "0")
import client as C

C.next_src = lambda: os.environ["REACH_SRC"]

callee = bytes.fromhex(sys.argv[1])
cands, socks = [], []
for hp in sys.argv[2:]:
    host, port = hp.rsplit(":", 1)
    s = socket.socket()
    s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    s.bind((host, int(port)))
    s.listen(64)
    s.setblocking(False)
    socks.append((hp, s))
    cands.append(bytes([1, 4]) + struct.pack(">H", int(port)) + socket.inet_aton(host))
offer = bytes([1, len(cands)]) + b"".join(cands)

caller = C.Account().register()
conn = caller.online(1)
conn.send(C.CONNECT, struct.pack(">I", 1) + callee + C.vb(offer))
m = conn.recv(timeout=10)
if m["type"] != C.ANSWER:
    print("no ANSWER: " + C.fmt(m))
    sys.exit(1)
count = {hp: 0 for hp, _ in socks}
end = time.time() + 5
while time.time() < end:
    for hp, s in socks:
        try:
            a, _ = s.accept()
            count[hp] += 1
            a.close()
        except BlockingIOError:
            pass
    time.sleep(0.02)
for hp, _ in socks:
    print("dialled %s %d" % (hp, count[hp]))
