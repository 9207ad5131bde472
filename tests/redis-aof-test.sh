#!/usr/bin/env bash
# redis-aof-test.sh -- what trystd wrote survives a restart of the Redis of
# deploy/redis-tryst.conf as shipped: its ACL, its append-only file
# (appendonly yes, appendfsync everysec), only the socket, folder and
# password set for the test. A real trystd, as the ACL user trystd,
# registers people through the real tryst client (acct:, rl:code:,
# rl:codefail:, vt: keys, written in MULTI/EXEC blocks) and serves their
# lookups (rl:disc:, by EVAL). Redis is then killed with SIGKILL and
# started again from the same file, and later stopped with SIGTERM and
# started again: each time every key comes back with the same value and
# the same expiry (within 2 s), Redis's log has no refused command
# (redis#14541: a default user without rights made the loading of every
# MULTI/EXEC block fail with NOPERM), trystd reconnects, and every account
# still says HELLO (tryst lookup).
#
# Before each SIGKILL the test waits 2 s, so that the everysec fsync of the
# shipped file has run (a SIGKILL loses nothing Redis has write()n; the
# wait covers the write()s Redis postpones while an fsync is slow).
#
# Environment: TRYSTD, TRYSTCTL, TRYST (the binaries; meson sets them),
# REDIS_AOF_KEEP=1 keeps the temporary folder. Exits 77 (skipped) without
# redis-server, redis-cli or openssl.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
: "${TRYSTD:=$top/build/server/trystd}"
: "${TRYSTCTL:=$top/build/server/trystctl}"
: "${TRYST:=$top/build/client/tryst}"

for t in redis-server redis-cli openssl; do
	command -v "$t" >/dev/null 2>&1 || { echo "SKIP: no $t"; exit 77; }
done

# shellcheck source=lib.sh
. "$here/lib.sh"
lib_begin redis-aof REDIS_AOF_KEEP

# show FILE...: the tail of each file that is not empty.
show() {
	local f
	for f in "$@"; do
		[ -s "$f" ] || continue
		echo "---- ${f##*/}"
		tail -n 15 "$f"
	done
}

# until_ok TENTHS CMD...: run CMD every 0.1 s until it succeeds.
until_ok() {
	local n=$1 i
	shift
	for ((i = 0; i < n; i++)); do
		"$@" >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

# ---- Redis from the shipped file -------------------------------------------
# The test's own user "admin" reads everything back; the shipped users,
# default and trystd, are as they are.
sock=$tmp/redis.sock
mkdir "$tmp/data"
sed -e "s|^unixsocket .*|unixsocket $sock|" -e "s|^dir .*|dir $tmp/data|" \
    -e "s|^supervised .*|supervised no|" \
    -e "s|#SHA256-OF-THE-PASSWORD|#$(printf secret | sha256sum |
    cut -c1-64)|" "$top/deploy/redis-tryst.conf" >"$tmp/redis.conf"
echo 'user admin on >admin ~* &* +@all' >>"$tmp/redis.conf"
grep -q '^appendonly yes$' "$tmp/redis.conf" &&
    grep -q '^appendfsync everysec$' "$tmp/redis.conf" ||
    fail "deploy/redis-tryst.conf: not appendonly yes, appendfsync everysec"
printf 'secret\n' >"$tmp/redis.pass"

rcli() {
	redis-cli -s "$sock" --no-auth-warning --user admin --pass admin "$@"
}
redis_pid=
# Start redis-server from the file, appending to redis.log.
redis_start() {
	redis-server "$tmp/redis.conf" --logfile "$tmp/redis.log" &
	redis_pid=$!
	pids+=("$redis_pid")
	until_ok 100 rcli ping && [ "$(rcli ping)" = PONG ]
}
# redis_stop SIGNAL: stop it and wait until it is gone.
redis_stop() {
	kill -"$1" "$redis_pid"
	wait "$redis_pid" 2>/dev/null
}
redis_start || { fail "redis-server did not start"; show "$tmp/redis.log";
    exit 1; }

# ---- trystd, as the ACL user trystd ----------------------------------------
ports=$(free_ports tcp tcp) || { fail "no free ports"; exit 1; }
read -r port mport <<<"$ports"
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" -days 2 \
    -subj /CN=redis-aof 2>/dev/null
"$TRYSTCTL" keygen "$tmp/master.key"
cat >"$tmp/trystd.conf" <<CONF
listen = 127.0.0.1:$port
metrics_listen = $mport
tls_cert = $tmp/cert.pem
tls_key = $tmp/key.pem
master_key = $tmp/master.key
redis = unix:$sock
redis_user = trystd
redis_password_file = $tmp/redis.pass
verification = dev:$tmp/codes.txt
CONF
"$TRYSTD" -c "$tmp/trystd.conf" 2>>"$tmp/trystd.log" &
pids+=($!)

# healthy: trystd's /healthz answers 200 (it listens and Redis answers).
healthy() {
	local line
	exec 3<>"/dev/tcp/127.0.0.1/$mport" || return 1
	printf 'GET /healthz HTTP/1.0\r\n\r\n' >&3
	read -r line <&3
	exec 3<&-
	[[ $line == *" 200 "* ]]
}
until_ok 300 healthy || { fail "trystd never became healthy";
    show "$tmp/trystd.log" "$tmp/redis.log"; exit 1; }
key=$("$TRYSTCTL" -c "$tmp/trystd.conf" pubkeys)

# as WHO ARGS...: run tryst with WHO's state folder, within a time limit.
as() {
	local who=$1
	shift
	TRYST_HOME="$tmp/$who" timeout 60 "$TRYST" "$@"
}

# person WHO NUMBER [WRONG]: init, register, (a wrong code first when
# WRONG is given: rl:codefail:), the right code.
person() {
	local who=$1 number=$2 code
	as "$who" init --server "127.0.0.1:$port" --key "$key" \
	    >>"$tmp/$who.out" 2>&1 &&
	    as "$who" register "$number" >>"$tmp/$who.out" 2>&1 &&
	    until_ok 50 grep -q "^\\$number " "$tmp/codes.txt" || return 1
	code=$(awk -v n="$number" '$1 == n { c = $2 } END { print c }' \
	    "$tmp/codes.txt")
	if [ -n "${3:-}" ]; then
		as "$who" verify "${code%?}$(((${code: -1} + 1) % 10))" \
		    >>"$tmp/$who.out" 2>&1 && return 1
	fi
	as "$who" verify "$code" >>"$tmp/$who.out" 2>&1
}

# says_hello WHO NUMBER: WHO goes online (HELLO) and finds its own
# number, NUMBER, registered.
says_hello() {
	[ "$(as "$1" lookup "$2" 2>&1)" = "$2 has an account" ]
}

people=(alice:+15550124401 bob:+15550124402 carol:+15550124403)
wrong=wrong	# alice tries a wrong code first
for p in "${people[@]}"; do
	person "${p%%:*}" "${p#*:}" $wrong ||
	    { fail "registering ${p%%:*}"; show "$tmp/${p%%:*}.out" \
	    "$tmp/trystd.log"; exit 1; }
	wrong=
done
for p in "${people[@]}"; do
	says_hello "${p%%:*}" "${p#*:}" || fail "${p%%:*}: HELLO and lookup"
done

# snapshot FILE: every key, its type, value and expiry time (-1: none).
snapshot() {
	local k t v
	rcli --scan | sort | while read -r k; do
		t=$(rcli type "$k")
		case $t in
		hash)	v=$(rcli hgetall "$k" | paste -sd ' ') ;;
		string)	v=$(rcli get "$k") ;;
		*)	v="?" ;;
		esac
		printf '%s %s %s %s\n' "$k" "$t" "$(rcli expiretime "$k")" "$v"
	done >"$1"
}

# expect_same BEFORE AFTER WHAT: every key of BEFORE in AFTER with the same
# type and value and an expiry within 2 s; no other key. A key due to
# expire within 10 s of now may be gone (an hour or a day that ends).
expect_same() {
	local k t e v t2 e2 v2 bad='' n=0 now
	now=$(date +%s)
	while read -r k t e v; do
		n=$((n + 1))
		if ! read -r _ t2 e2 v2 < <(grep -F "$k " "$2"); then
			[ "$e" -gt 0 ] && [ "$e" -lt $((now + 10)) ] ||
			    bad="$bad $k(gone)"
			continue
		fi
		[ "$t $v" = "$t2 $v2" ] || bad="$bad $k(\"$v\" now \"$v2\")"
		if [ "$e" = -1 ] || [ "$e2" = -1 ]; then
			[ "$e" = "$e2" ] || bad="$bad $k(expiry $e now $e2)"
		elif [ $((e - e2)) -gt 2 ] || [ $((e2 - e)) -gt 2 ]; then
			bad="$bad $k(expiry $e now $e2)"
		fi
	done <"$1"
	[ "$(wc -l <"$2")" -le "$n" ] ||
	    bad="$bad (new keys: $(cut -d' ' -f1 "$2" | grep -vxFf <(cut \
	    -d' ' -f1 "$1") | paste -sd ' '))"
	if [ -z "$bad" ] && [ "$n" -gt 0 ]; then
		ok "$3: all $n keys back with their values and expiry"
	else
		fail "$3 ($n keys before):$bad"
	fi
}

# restart SIGNAL WHAT: snapshot, stop Redis with SIGNAL, start it again
# from the same file, compare; then trystd is back and everyone says HELLO.
restart() {
	local p k n before f
	snapshot "$tmp/before"
	for k in 'acct:{' 'rl:code:{' 'rl:codefail:{' 'rl:disc:{' 'vt:'; do
		grep -q "^$k" "$tmp/before" ||
		    fail "$2: no $k key to check before the restart"
	done
	[ "$1" = KILL ] && sleep 2
	before=$(grep -c 'AOF-loading-client\|NOPERM' "$tmp/redis.log")
	redis_stop "$1"
	redis_start || { fail "$2: redis-server did not start again";
	    show "$tmp/redis.log"; return 1; }
	[ "$(rcli config get appendonly | tail -n 1)" = yes ] ||
	    fail "$2: appendonly is not yes"
	n=$(grep -c 'AOF-loading-client\|NOPERM' "$tmp/redis.log")
	if [ "$n" -eq "$before" ]; then
		ok "$2: Redis loaded its append-only file refusing nothing"
	else
		fail "$2: $((n - before)) refusals loading the append-only file:"
		grep 'AOF-loading-client\|NOPERM' "$tmp/redis.log" | tail -n 2
	fi
	snapshot "$tmp/after"
	expect_same "$tmp/before" "$tmp/after" "$2"
	echo "$2: $(grep -c '^acct:' "$tmp/after") accounts," \
	    "$(grep -c '^vt:' "$tmp/after") vt:," \
	    "$(grep -c '^rl:' "$tmp/after") rl: keys after the restart"
	until_ok 300 healthy || fail "$2: trystd did not reconnect"
	f=$fails
	for p in "${people[@]}"; do
		says_hello "${p%%:*}" "${p#*:}" ||
		    fail "$2: ${p%%:*} no longer says HELLO"
	done
	[ "$fails" -ne "$f" ] ||
	    ok "$2: trystd reconnected; ${#people[@]} accounts say HELLO"
}

restart KILL "SIGKILL"
# More writes on the restarted Redis, then a clean stop.
people+=(dave:+15550124404)
person dave +15550124404 || fail "registering dave after the restart"
says_hello dave +15550124404 || fail "dave: HELLO and lookup"
restart TERM "SIGTERM"

grep -E 'ERROR: AddressSanitizer|runtime error:' "$tmp/trystd.log" &&
    fail "sanitizer report in trystd.log"
if [ "$fails" -ne 0 ]; then
	show "$tmp/redis.log" "$tmp/trystd.log"
	echo "$fails check(s) failed"
	exit 1
fi
echo "all checks passed"
