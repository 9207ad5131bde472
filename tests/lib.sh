# shellcheck shell=bash
# lib.sh -- sourced by the shell tests that start their own servers: loopback
# ports that are free and stay free, a temporary folder and background
# processes that go when the test ends, ok/fail bookkeeping, a private
# redis-server, and the check that Redis holds only what PROTOCOL.md §7
# allows.

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

# redis_check PORT: ok when the Redis on PORT holds at least one key and
# only what PROTOCOL.md §7 allows: acct:{ID} hashes of exactly created and
# seen, seen a UTC midnight and the key expiring 120 days after it, and
# the rl:/vt: keys of §7 with a TTL; else fail, naming the keys that break
# the rule.
redis_check() {
	local k f seen bad= keys=0 hex='[0-9a-f]{64}'
	while read -r k; do
		[ -z "$k" ] && continue
		keys=$((keys + 1))
		if [[ $k =~ ^acct:\{$hex\}$ ]]; then
			f=$(redis-cli -p "$1" hkeys "$k" | sort | tr '\n' ' ')
			seen=$(redis-cli -p "$1" hget "$k" seen)
			[ "$f" = "created seen " ] || bad="$bad $k($f)"
			[[ $seen =~ ^[0-9]+$ ]] && [ $((seen % 86400)) -eq 0 ] &&
			    [ "$(redis-cli -p "$1" expiretime "$k")" -eq \
			    $((seen + 120 * 86400)) ] ||
			    bad="$bad $k(seen $seen, expiry)"
		elif [[ $k =~ ^(vt:\{$hex\}:[0-9a-f]{48}|rl:code:\{$hex\}:[0-9]+|rl:codefail:\{$hex\}:[0-9]+|rl:disc:\{$hex\})$ ]]; then
			[ "$(redis-cli -p "$1" ttl "$k")" -gt 0 ] ||
			    bad="$bad $k(no TTL)"
		else
			bad="$bad $k"
		fi
	done < <(redis-cli -p "$1" --scan)
	if [ -z "$bad" ] && [ $keys -gt 0 ]; then
		ok "Redis holds only §7's keys: acct:{ID} created/seen expiring 120 days after seen, rl:/vt: with a TTL ($keys keys)"
	else
		fail "Redis holds ($keys keys):$bad"
	fi
}
