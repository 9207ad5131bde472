# shellcheck shell=bash
# lib.sh -- sourced by the shell tests that start their own servers: loopback
# ports that are free and stay free, a temporary folder and background
# processes that go when the test ends, ok/fail bookkeeping, a private
# redis-server, the check that Redis holds only what PROTOCOL.md §7
# allows, and people using the real tryst client.

# lib_begin NAME KEEPVAR: make $tmp (NAME.XXXXXX), and on exit kill every
# pid in pids and remove $tmp, unless the variable KEEPVAR is 1.
lib_begin() {
	tmp=$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")
	lib_keep=$2
	pids=()
	fails=0
	trap lib_cleanup EXIT
}

lib_cleanup() {
	local p
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	if [ "${!lib_keep:-0}" = 1 ]; then
		echo "kept $tmp"
	else
		rm -rf "$tmp"
	fi
}

# free_ports KIND...: for each KIND (tcp or udp) a loopback port that
# nothing holds now, all different, printed on one line.  The ports come
# from below the kernel's ephemeral range: a port the kernel handed out
# for bind(port 0) can be taken a moment later as the local end of some
# other test's outgoing connection, and then the server cannot bind it.
free_ports() {
	python3 - "$@" <<-'PY'
	import random, socket, sys
	try:
	    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
	        lo, hi = (int(x) for x in f.read().split())
	except (OSError, ValueError):
	    lo, hi = 32768, 60999
	pool = range(10000, lo) if lo > 11000 else range(hi + 1, 65536)
	held, out = [], []
	for kind in sys.argv[1:]:
	    t = socket.SOCK_DGRAM if kind == "udp" else socket.SOCK_STREAM
	    for _ in range(1000):
	        p = random.choice(pool)
	        if p in out:
	            continue
	        s = socket.socket(socket.AF_INET, t)
	        try:
	            s.bind(("127.0.0.1", p))
	        except OSError:
	            s.close()
	            continue
	        held.append(s)
	        out.append(p)
	        break
	    else:
	        sys.exit("no free %s port below %d" % (kind, lo))
	print(" ".join(str(p) for p in out))
	PY
}

# free_range N: a loopback TCP port P such that P..P+N-1 are all free now,
# from below the ephemeral range as free_ports picks (for cluster-up.sh).
free_range() {
	python3 - "$1" <<-'PY'
	import random, socket, sys
	n = int(sys.argv[1])
	try:
	    with open("/proc/sys/net/ipv4/ip_local_port_range") as f:
	        lo, hi = (int(x) for x in f.read().split())
	except (OSError, ValueError):
	    lo, hi = 32768, 60999
	pool = range(10000, lo - n) if lo > 11000 else range(hi + 1, 65536 - n)
	for _ in range(200):
	    base, held = random.choice(pool), []
	    try:
	        for p in range(base, base + n):
	            s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
	            held.append(s)
	            s.bind(("127.0.0.1", p))
	    except OSError:
	        continue
	    finally:
	        for s in held:
	            s.close()
	    print(base)
	    break
	else:
	    sys.exit("no %d free ports in a row below %d" % (n, lo))
	PY
}

ok() { echo "ok: $*"; }
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

# redis_up PORT: a redis-server on 127.0.0.1:PORT with its files in $tmp,
# answering; 1 if it does not within 10 s.
redis_up() {
	redis-server --port "$1" --bind 127.0.0.1 --save "" \
	    --appendonly no --dir "$tmp" --logfile "$tmp/redis.log" &
	pids+=($!)
	for _ in $(seq 100); do
		redis-cli -p "$1" ping >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	return 1
}

# redis_read PORT COMMAND...: the reply of one read command, also from a
# Redis Cluster replica (READONLY first; its reply, or the error of a Redis
# without cluster support, and blank lines are dropped). The password, if
# any, comes from REDISCLI_AUTH.
redis_read() {
	local p=$1
	shift
	printf 'READONLY\n%s\n' "$*" | redis-cli -p "$p" | sed -e 1d -e '/^$/d'
}

# redis_check PORT [MIN]: ok when the Redis on PORT holds at least MIN keys
# (default 1) and only what PROTOCOL.md §7 allows: acct:{ID} hashes of
# exactly created and seen, seen a UTC midnight and the key expiring 120
# days after it, and the rl:/vt: keys of §7 with a TTL; else fail, naming
# the keys that break the rule. A Redis Cluster node, primary or replica,
# is checked on its own keys.
redis_check() {
	local k f seen bad= keys=0 hex='[0-9a-f]{64}'
	while read -r k; do
		[ -z "$k" ] && continue
		keys=$((keys + 1))
		if [[ $k =~ ^acct:\{$hex\}$ ]]; then
			f=$(redis_read "$1" hkeys "$k" | sort | tr '\n' ' ')
			seen=$(redis_read "$1" hget "$k" seen)
			[ "$f" = "created seen " ] || bad="$bad $k($f)"
			[[ $seen =~ ^[0-9]+$ ]] && [ $((seen % 86400)) -eq 0 ] &&
			    [ "$(redis_read "$1" expiretime "$k")" -eq \
			    $((seen + 120 * 86400)) ] ||
			    bad="$bad $k(seen $seen, expiry)"
		elif [[ $k =~ ^(vt:\{$hex\}:[0-9a-f]{48}|rl:code:\{$hex\}:[0-9]+|rl:codefail:\{$hex\}:[0-9]+|rl:disc:\{$hex\}|rl:relay:\{$hex\}:[0-9]+)$ ]]; then
			[ "$(redis_read "$1" ttl "$k")" -gt 0 ] ||
			    bad="$bad $k(no TTL)"
		else
			bad="$bad $k"
		fi
	done < <(redis-cli -p "$1" --scan)
	if [ -z "$bad" ] && [ $keys -ge "${2:-1}" ]; then
		ok "Redis $1 holds only §7's keys: acct:{ID} created/seen expiring 120 days after seen, rl:/vt: with a TTL ($keys keys)"
	else
		fail "Redis $1 holds ($keys keys):$bad"
	fi
}

# ---- people with the real tryst client ($TRYST), state in $tmp/WHO ------

# show FILE...: the tail of each named file of $tmp that is not empty.
show() {
	local f
	for f in "$@"; do
		[ -s "$tmp/$f" ] || continue
		echo "---- $f"
		tail -n 15 "$tmp/$f"
	done
}

# wait_for FILE TENTHS REGEX: until a line of FILE matches.
wait_for() {
	local i
	for ((i = 0; i < $2; i++)); do
		grep -Eq -- "$3" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# as WHO ARGS...: run tryst with WHO's state folder, within a time limit.
as() {
	local who=$1
	shift
	TRYST_HOME="$tmp/$who" timeout 90 "$TRYST" "$@"
}

# code_of NUMBER: the last code the dev: transport wrote for NUMBER into
# $tmp/codes.txt, once there is one.
code_of() {
	wait_for "$tmp/codes.txt" 50 "^\\$1 " || return 1
	awk -v n="$1" '$1 == n { c = $2 } END { print c }' "$tmp/codes.txt"
}

# setup WHO NUMBER [SERVERS]: init with the published key $key and the
# server list SERVERS (default 127.0.0.1:$port), register, verify with the
# code of the dev: transport (verification = dev:$tmp/codes.txt).
setup() {
	local who=$1 number=$2 servers=${3:-127.0.0.1:$port} code
	as "$who" init --server "$servers" --key "$key" \
	    >>"$tmp/$who.setup" 2>&1 &&
	    as "$who" register "$number" >>"$tmp/$who.setup" 2>&1 &&
	    code=$(code_of "$number") &&
	    as "$who" verify "$code" >>"$tmp/$who.setup" 2>&1
}

# listen WHO [-v] ARGS...: start tryst [-v] listen for WHO into
# $tmp/WHO.inbox and wait until it is online. Its pid in listen_pid.
listen() {
	local who=$1 v=()
	shift
	[ "${1:-}" = -v ] && { v=(-v); shift; }
	mkdir -p "$tmp/$who.inbox"
	: >"$tmp/$who.listen.out"
	TRYST_HOME="$tmp/$who" "$TRYST" "${v[@]}" listen \
	    --dir "$tmp/$who.inbox" "$@" \
	    >"$tmp/$who.listen.out" 2>"$tmp/$who.listen.err" &
	listen_pid=$!
	pids+=($listen_pid)
	wait_for "$tmp/$who.listen.out" 100 '^online$'
}

# unlisten: stop the tryst listen of listen_pid.
unlisten() {
	kill "$listen_pid" 2>/dev/null
	wait "$listen_pid" 2>/dev/null
}
