#!/usr/bin/env bash
# reach-test.sh -- a caller cannot make `tryst listen` dial what it names
# (doc/protocol.md §6.2, "Which candidates to dial").
#
# It runs in a network namespace of its own: loopback, and a veth pair
# whose one end has 192.0.2.1, an address the rules call global. trystd
# listens on 192.0.2.1, so the callee reaches its server over an address
# that is not loopback, as on a real network. A hostile caller
# (tests/reach/hostile.py, on the independent Python client) offers two
# candidates that it listens on itself: 127.0.0.1:P, standing for a
# service on the callee's loopback, and 192.0.2.1:Q. After the callee
# answers, it must have dialled Q (which shows it dials what it may) and
# never P. Before client/reach.c it dialled both.
#
# Needs root (unshare -n), iproute2, python3 with libsodium, redis-server
# and openssl; exits 77 (skipped) without them. Environment: TRYSTD,
# TRYSTCTL, TRYST (the binaries; meson sets them), REACH_KEEP=1 keeps the
# temporary folder.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
: "${TRYSTD:=$top/build/server/trystd}"
: "${TRYSTCTL:=$top/build/server/trystctl}"
: "${TRYST:=$top/build/client/tryst}"
SRV=192.0.2.1
NUM=+15550100801

skip() { echo "SKIP: $*"; exit 77; }

if [ -z "${REACH_IN_NS:-}" ]; then
	[ "$(id -u)" -eq 0 ] || skip "needs root for a network namespace"
	for t in unshare ip python3 redis-server redis-cli openssl; do
		command -v "$t" >/dev/null 2>&1 || skip "no $t"
	done
	python3 -c 'import ctypes; ctypes.CDLL("libsodium.so.23")' \
	    2>/dev/null || skip "python3 cannot load libsodium.so.23"
	unshare -n true 2>/dev/null || skip "cannot make a network namespace"
	exec unshare -n env REACH_IN_NS=1 "$0" "$@"
fi

# shellcheck source=lib.sh
. "$here/lib.sh"	# also show, wait_for, as, setup, listen
lib_begin tryst-reach REACH_KEEP
die() {
	fail "$*"
	show trystd.log callee.setup callee.listen.out callee.listen.err \
	    hostile.out
	exit 1
}

ip link set lo up && ip link add d0 type veth peer name d1 &&
    ip addr add "$SRV/24" dev d0 && ip link set d0 up && ip link set d1 up ||
    die "cannot set up the namespace's interfaces"
redis_up 6379 || die "redis-server did not start"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" -days 2 \
    -subj /CN=tryst-reach-test 2>/dev/null &&
    "$TRYSTCTL" keygen "$tmp/master.key" >/dev/null ||
    die "cannot make the server's keys"
cat >"$tmp/trystd.conf" <<CONF
listen = $SRV:4433
tls_cert = $tmp/cert.pem
tls_key = $tmp/key.pem
master_key = $tmp/master.key
redis = 127.0.0.1:6379
verification = dev:$tmp/codes.txt
CONF
"$TRYSTD" -c "$tmp/trystd.conf" >"$tmp/trystd.log" 2>&1 &
pids+=($!)
for ((i = 0; i < 50; i++)); do
	(: 3<>"/dev/tcp/$SRV/4433") 2>/dev/null && break
	sleep 0.1
done
key=$("$TRYSTCTL" -c "$tmp/trystd.conf" pubkeys) || die "trystctl pubkeys"

# The callee: a real client, registered, listening.
setup callee "$NUM" "$SRV:4433" || die "callee: init, register or verify"
id=$(as callee whoami 2>>"$tmp/callee.setup" | sed -n 's/^id: //p')
[ ${#id} -eq 64 ] || die "callee: no ID from whoami"
listen callee || die "tryst listen never said online"

# The hostile caller.
lo=127.0.0.1:$((20000 + RANDOM % 20000))
good=$SRV:$((40000 + RANDOM % 20000))
TRYST_HOSTPORT="$SRV:4433" TRYST_SERVER_KEY="$key" \
    TRYST_CODES="$tmp/codes.txt" REACH_SRC="$SRV" \
    timeout 60 python3 "$here/reach/hostile.py" "$id" "$lo" "$good" \
    >"$tmp/hostile.out" 2>&1 || die "the hostile caller failed"
cat "$tmp/hostile.out"
n_lo=$(awk -v c="$lo" '$1 == "dialled" && $2 == c { print $3 }' "$tmp/hostile.out")
n_ok=$(awk -v c="$good" '$1 == "dialled" && $2 == c { print $3 }' "$tmp/hostile.out")
[ -n "$n_lo" ] && [ -n "$n_ok" ] || die "the caller printed no counts"
[ "$n_ok" -ge 1 ] || die "the callee dialled no candidate at all ($good: 0)"
[ "$n_lo" -eq 0 ] || die "the callee dialled the offered loopback $lo $n_lo times"
echo "PASS: the callee dialled $good ($n_ok times) and never the offered loopback $lo"
