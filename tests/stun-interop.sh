#!/bin/bash
#
# stun-interop.sh -- trystd's STUN responder against a standard client,
# coturn's turnutils_stunclient, and its per-address rate limit.
#
# Run by meson with TRYSTD and TRYSTCTL naming the binaries. Starts one
# trystd on loopback (Redis is not needed for STUN: trystd keeps running
# while it is down) and cleans up after itself. Exits 77 (skip) when a tool
# it needs is missing.

set -u

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"	# free_ports; the fail() below is this test's
dir=
pid=

skip() {
	echo "stun-interop: SKIP: $*"
	exit 77
}

fail() {
	echo "stun-interop: FAIL: $*"
	if [ -n "$dir" ] && [ -f "$dir/trystd.log" ]; then
		echo "--- trystd log:"
		cat "$dir/trystd.log"
	fi
	exit 1
}

cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	[ -n "$dir" ] && rm -rf "$dir"
}

command -v turnutils_stunclient >/dev/null 2>&1 ||
	skip "turnutils_stunclient (coturn) is not installed"
command -v openssl >/dev/null 2>&1 || skip "openssl is not installed"
command -v timeout >/dev/null 2>&1 || skip "timeout is not installed"
[ -x "${TRYSTD:-}" ] || fail "TRYSTD does not name trystd"
[ -x "${TRYSTCTL:-}" ] || fail "TRYSTCTL does not name trystctl"

trap cleanup EXIT
trap 'exit 1' HUP INT TERM
dir=$(mktemp -d "${TMPDIR:-/tmp}/stun-interop.XXXXXX") ||
	fail "cannot make a temporary directory"

openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
    -nodes -keyout "$dir/key.pem" -out "$dir/cert.pem" -days 2 \
    -subj /CN=localhost >/dev/null 2>&1 || fail "openssl req failed"
"$TRYSTCTL" keygen "$dir/master.key" >/dev/null ||
	fail "trystctl keygen failed"

read -r tcp udp <<<"$(free_ports tcp udp)"
cat >"$dir/trystd.conf" <<EOF
listen = 127.0.0.1:$tcp
stun_listen = 127.0.0.1:$udp
tls_cert = $dir/cert.pem
tls_key = $dir/key.pem
master_key = $dir/master.key
redis = 127.0.0.1:1
verification = dev:$dir/codes
log_level = info
EOF

"$TRYSTD" -c "$dir/trystd.conf" 2>"$dir/trystd.log" &
pid=$!

# Wait until the responder is up (it logs so), at most 10 s.
i=0
until grep -q 'stun: answering' "$dir/trystd.log"; do
	kill -0 "$pid" 2>/dev/null || { pid=; fail "trystd exited"; }
	i=$((i + 1))
	[ "$i" -le 100 ] || fail "no STUN responder after 10 s"
	sleep 0.1
done

# A standard client: RFC 5389 Binding request, XOR-MAPPED-ADDRESS back.
# It prints "0: : IPv4. UDP reflexive addr: 127.0.0.1:PORT".
out=$(timeout 10 turnutils_stunclient -p "$udp" 127.0.0.1 2>&1) ||
	fail "turnutils_stunclient failed ($?): $out"
echo "$out"
echo "$out" | grep -Eq 'UDP reflexive addr: 127\.0\.0\.1:[1-9][0-9]*' ||
	fail "turnutils_stunclient did not report 127.0.0.1"

# The rate limit: of 100 requests sent at once, the burst of 40 (and what
# refills meanwhile) is answered, not all.
if command -v python3 >/dev/null 2>&1; then
	got=$(python3 -c 'import os, socket, struct, sys
s = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
s.settimeout(0.5)
for i in range(100):
	req = struct.pack("!HHI", 1, 0, 0x2112a442) + os.urandom(12)
	s.sendto(req, ("127.0.0.1", int(sys.argv[1])))
n = 0
try:
	while True:
		d = s.recv(2048)
		if d[0:2] == b"\x01\x01":
			n += 1
except socket.timeout:
	pass
print(n)' "$udp") || fail "python3 rate-limit probe failed"
	echo "rate limit: $got of 100 answered"
	[ "$got" -ge 30 ] && [ "$got" -le 70 ] ||
		fail "rate limit: $got of 100 requests answered (want 30-70)"
fi

kill -TERM "$pid"
wait "$pid"
rc=$?
pid=
[ "$rc" -eq 0 ] || fail "trystd exited $rc after SIGTERM"
echo "stun-interop: ok"
exit 0
