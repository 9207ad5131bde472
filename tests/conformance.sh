#!/usr/bin/env bash
# conformance.sh -- the independent black-box client of tests/conformance/
# (Python, written from PROTOCOL.md alone) runs its checks against a real
# trystd and redis-server on loopback, started here with short timers so
# the whole run stays short. Afterwards Redis holds only what PROTOCOL.md
# §7 allows, and trystd's log names no number, ID or client address the
# checks used, and no sanitizer report.
#
# Environment: TRYSTD, TRYSTCTL (the binaries; meson sets them),
# CONFORMANCE_KEEP=1 keeps the temporary folder; arguments are passed to
# checks.py (name prefixes of the checks to run). Exits 77 (skipped)
# without python3, redis-server, redis-cli or openssl, or when python3
# cannot load libsodium.so.23.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
: "${TRYSTD:=$top/build/server/trystd}"
: "${TRYSTCTL:=$top/build/server/trystctl}"

for t in python3 redis-server redis-cli openssl; do
	command -v "$t" >/dev/null 2>&1 || { echo "SKIP: no $t"; exit 77; }
done
python3 -c 'import ctypes; ctypes.CDLL("libsodium.so.23")' 2>/dev/null ||
    { echo "SKIP: python3 cannot load libsodium.so.23"; exit 77; }

# The settings the checks depend on: written to trystd.conf and exported
# as the variables tests/conformance/client.py reads. Short timers keep
# the run short; the rest are PROTOCOL.md §8's defaults, written out.
settings=(
	call_timeout_s=5:TRYST_CALL_TIMEOUT_S
	anonymous_lifetime_s=10:TRYST_ANON_LIFETIME_S
	handshake_timeout_s=2:TRYST_HANDSHAKE_TIMEOUT_S
	idle_timeout_s=30:TRYST_IDLE_TIMEOUT_S
	relay_session_bytes=1048576:TRYST_RELAY_SESSION_BYTES
	code_digits=6:TRYST_CODE_DIGITS
	code_ttl_s=600:TRYST_CODE_TTL_S
	code_attempts=5:TRYST_CODE_ATTEMPTS
	code_requests_per_hour=5:TRYST_CODE_REQUESTS_PER_HOUR
	code_failures_per_day=20:TRYST_CODE_FAILURES_PER_DAY
	codes_per_hour_per_ip=10:TRYST_CODES_PER_HOUR_PER_IP
	# the checks register many at once, from 250 source addresses of one
	# /24 before the next
	codes_per_hour_per_prefix=10000:TRYST_CODES_PER_HOUR_PER_PREFIX
	codes_per_hour=100000:TRYST_CODES_PER_HOUR
	credential_days=30:TRYST_CREDENTIAL_DAYS
	discovery_bucket=2000:TRYST_DISCOVERY_BUCKET
	discovery_refill_per_day=100:TRYST_DISCOVERY_REFILL_PER_DAY
	connects_per_minute=60:TRYST_CONNECTS_PER_MINUTE
	max_pending_calls=8:TRYST_MAX_PENDING_CALLS
	max_sessions=8:TRYST_MAX_SESSIONS
	max_batch=1024:TRYST_MAX_BATCH
	max_offer_bytes=4096:TRYST_MAX_OFFER_BYTES
	max_connections_per_ip=64:TRYST_MAX_CONNECTIONS_PER_IP
	max_connections_per_account=4:TRYST_MAX_CONNECTIONS_PER_ACCOUNT
)

# shellcheck source=lib.sh
. "$here/lib.sh"
lib_begin conformance CONFORMANCE_KEEP
show() {
	[ -s "$1" ] || return 0
	echo "---- $(basename "$1")"
	tail -n "${2:-20}" "$1"
}

# Four loopback ports nothing uses: three TCP, then one UDP (STUN).
ports=$(free_ports tcp tcp tcp udp) ||
    { echo "FAIL: no free ports"; exit 1; }
read -r port redis_port metrics_port stun_port <<<"$ports"

# tcp_up PORT: something accepts on 127.0.0.1:PORT.
tcp_up() { (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null; }

# ---- redis-server and trystd ------------------------------------------------
redis_up "$redis_port" ||
    { echo "FAIL: redis-server did not start"; show "$tmp/redis.log"; exit 1; }
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" -days 2 \
    -subj /CN=conformance 2>/dev/null || { echo "FAIL: openssl req"; exit 1; }
"$TRYSTCTL" keygen "$tmp/master.key" || { echo "FAIL: trystctl keygen"; exit 1; }
{
	echo "listen = 127.0.0.1:$port"
	echo "stun_listen = 127.0.0.1:$stun_port"
	echo "metrics_listen = 127.0.0.1:$metrics_port"
	echo "tls_cert = $tmp/cert.pem"
	echo "tls_key = $tmp/key.pem"
	echo "master_key = $tmp/master.key"
	echo "redis = 127.0.0.1:$redis_port"
	echo "verification = dev:$tmp/codes.txt"
	echo "log_level = info"
	echo "shutdown_grace_s = 1"
	for s in "${settings[@]}"; do
		kv=${s%%:*}
		echo "${kv%%=*} = ${kv#*=}"
		export "${s#*:}=${kv#*=}"
	done
} >"$tmp/trystd.conf"
"$TRYSTD" -c "$tmp/trystd.conf" 2>"$tmp/trystd.log" &
trystd_pid=$!
pids+=("$trystd_pid")
for _ in $(seq 100); do
	tcp_up "$port" && tcp_up "$metrics_port" && break
	kill -0 "$trystd_pid" 2>/dev/null || break
	sleep 0.1
done
if ! tcp_up "$port"; then
	echo "FAIL: trystd did not start"
	show "$tmp/trystd.log"
	exit 1
fi
key=$("$TRYSTCTL" -c "$tmp/trystd.conf" pubkeys) ||
    { echo "FAIL: trystctl pubkeys"; exit 1; }

# ---- the checks ---------------------------------------------------------------
export TRYST_HOSTPORT="127.0.0.1:$port" TRYST_SERVER_KEY="$key"
export TRYST_CODES="$tmp/codes.txt" TRYST_STUN_PORT="$stun_port"
export TRYST_METRICS_PORT="$metrics_port" TRYST_RECORD="$tmp/used.txt"
start=$(date +%s)
timeout 240 python3 "$here/conformance/checks.py" "$@"
rc=$?
echo "checks.py took $(($(date +%s) - start)) s"
if [ $rc = 0 ]; then
	ok "checks.py: every check passed"
else
	fail "checks.py exit $rc"
fi

# ---- what the server kept --------------------------------------------------
redis_check "$redis_port"

# ---- what the server logged ------------------------------------------------
kill "$trystd_pid"
wait "$trystd_pid"
trc=$?
if [ $trc = 0 ]; then
	ok "trystd stopped cleanly on SIGTERM"
else
	fail "trystd exit status $trc after SIGTERM"
fi
if grep -qE 'AddressSanitizer|LeakSanitizer|runtime error' "$tmp/trystd.log"; then
	fail "sanitizer report in trystd's log"
	grep -m1 -A30 -E 'AddressSanitizer|LeakSanitizer|runtime error' "$tmp/trystd.log"
fi
# Every number and ID the checks used, also without its + or shortened to
# the 16 hex digits a log line might carry.
sort -u "$tmp/used.txt" 2>/dev/null | awk '
	/^\+/ { print; print substr($0, 2); next }
	length($0) == 64 { print; print substr($0, 1, 16) }' >"$tmp/patterns"
used=$(wc -l <"$tmp/patterns")
leak=$(grep -ioF -f "$tmp/patterns" "$tmp/trystd.log" | sort -u | head -n 5 |
    tr '\n' ' ')
# Its own addresses may appear; a client's (another address of 127/8, or
# another port on 127.0.0.1) may not.
own="127\\.0\\.0\\.1:($port|$redis_port|$metrics_port|$stun_port)\\b"
addr=$(grep -oE '127\.[0-9]+\.[0-9]+\.[0-9]+(:[0-9]+)?' "$tmp/trystd.log" |
    grep -vE "^$own\$" | sort -u | head -n 5 | tr '\n' ' ')
if [ $# = 0 ] && [ "$used" -lt 100 ]; then
	fail "the checks recorded only $used numbers and IDs"
elif [ -n "$leak$addr" ] || [ ! -s "$tmp/trystd.log" ]; then
	fail "trystd's log names: $leak$addr"
else
	ok "trystd's log ($(wc -l <"$tmp/trystd.log") lines) names none of $used numbers/IDs and no client address"
fi

if [ $fails -ne 0 ]; then
	echo "$fails check(s) failed"
	show "$tmp/trystd.log" 30
	exit 1
fi
echo "conformance: all passed"
