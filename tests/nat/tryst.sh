# shellcheck shell=bash
# tryst.sh -- sourced by nat-test.sh: trystd on srv, two real clients on h1
# and h2, and one file from h2 to h1. Uses nsx, nsbg, info, wait_for, SRV,
# PORT, NUM1, NUM2, FILE_MIB and the binaries from nat-test.sh. A scenario
# may set TRYST_SERVER (the clients' --server, else SRV:PORT), TRYSTD_EXTRA
# (more lines of trystd.conf), TRYST_LISTENING (a command run once h1
# listens) and on_online (a function run with the folder once h1 listens,
# before the call); listen_pid is h1's tryst listen.

key=
on_online=
listen_pid=

# Does the client have the subcommands this test needs?
tryst_ready() {
	local u
	u=$("$TRYST" 2>&1)
	grep -qw send <<<"$u" && grep -qw listen <<<"$u"
}

# Start a private redis-server on srv's loopback.
redis_up() {
	local i
	nsbg srv "$1/redis.log" redis-server --port 6379 --bind 127.0.0.1 \
	    --save "" --appendonly no --dir "$1"
	for ((i = 0; i < 50; i++)); do
		nsx srv redis-cli -p 6379 ping >/dev/null 2>&1 && return 0
		sleep 0.1
	done
	info "redis-server did not start (see $1/redis.log)"
	return 1
}

# Write a certificate, a master key and trystd.conf into folder $1.
server_conf() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
	    -nodes -keyout "$1/key.pem" -out "$1/cert.pem" -days 2 \
	    -subj /CN=tryst-nat-test 2>/dev/null &&
	"$TRYSTCTL" keygen "$1/master.key" >/dev/null || return 1
	cat >"$1/trystd.conf" <<-CONF
	listen = $SRV:$PORT
	tls_cert = $1/cert.pem
	tls_key = $1/key.pem
	master_key = $1/master.key
	redis = 127.0.0.1:6379
	verification = dev:$1/codes.txt
	log_level = debug
	${TRYSTD_EXTRA:-}
	CONF
}

# Start redis-server and trystd on srv, and learn trystd's signing key.
server_up() {
	local d=$1 i
	redis_up "$d" && server_conf "$d" || return 1
	nsbg srv "$d/trystd.log" "$TRYSTD" -c "$d/trystd.conf"
	for ((i = 0; i < 50; i++)); do
		nsx srv bash -c ": 3<>/dev/tcp/$SRV/$PORT" 2>/dev/null && break
		sleep 0.1
	done
	[ $i -lt 50 ] || { info "trystd did not start"; return 1; }
	key=$(nsx srv "$TRYSTCTL" -c "$d/trystd.conf" pubkeys) || return 1
	info "trystd is up on $SRV:$PORT"
}

# Run tryst with state folder $2 in namespace $1, with a time limit.
tryst_in() {
	local n=$1 home=$2
	shift 2
	nsx "$n" env TRYST_HOME="$home" timeout 60 "$TRYST" "$@"
}

# Register number $3 for the client on host $2, state in $1/$2.
client_up() {
	local d=$1 h=$2 num=$3 code
	if ! tryst_in "$h" "$d/$h" init --server "${TRYST_SERVER:-$SRV:$PORT}" \
	    --key "$key" >>"$d/$h.setup" 2>&1 ||
	    ! tryst_in "$h" "$d/$h" register "$num" >>"$d/$h.setup" 2>&1; then
		info "$h: init or register failed"
		return 1
	fi
	wait_for "$d/codes.txt" 50 "^\\$num " ||
	    { info "$h: no code for $num in codes.txt"; return 1; }
	code=$(awk -v n="$num" '$1 == n { c = $2 } END { print c }' \
	    "$d/codes.txt")
	tryst_in "$h" "$d/$h" verify "$code" >>"$d/$h.setup" 2>&1 ||
	    { info "$h: verify failed"; return 1; }
	info "$h registered $num from behind its NAT"
}

# Print the tail of each of the named logs in folder $1.
show_logs() {
	local d=$1 f
	shift
	for f in "$@"; do
		[ -s "$d/$f" ] || continue
		echo "---- $f (last 25 lines)"
		tail -n 25 "$d/$f"
	done
	echo "----"
}

# The path line must be what $3 expects; $2 is the line.
check_path() {
	local d=$1 line=$2 want=$3
	if [ "$want" = direct ]; then
		[[ "$line" =~ ^path:\ direct\ 203\.0\.113\.11:[0-9]+$ ]] &&
		    return 0
		info "FAILED: wanted a direct path to h1's NAT 203.0.113.11"
	elif [ "$want" = direct6 ]; then
		[[ "$line" =~ ^path:\ direct\ \[2001:db8:1::2\]:[0-9]+$ ]] &&
		    return 0
		info "FAILED: wanted a direct path to h1's [2001:db8:1::2]"
	else
		[ "$line" = "path: relay" ] && return 0
		info "FAILED: wanted path: relay"
	fi
	return 1
}

# Send the file from h2 to h1 and check the path line and the bytes.
transfer() {
	local d=$1 want=$2 size rc line pat ok=1
	size=$(stat -c %s "$d/payload.bin")
	pat="^received payload\\.bin \\($size bytes\\)"
	ip netns exec "tn-h1-$sfx" env TRYST_HOME="$d/h1" "$TRYST" listen \
	    --dir "$d/inbox" >"$d/listen.out" 2>"$d/listen.err" &
	listen_pid=$!
	pids+=($!)
	wait_for "$d/listen.out" 200 '^online' ||
	    { info "h1: tryst listen never said online"; return 1; }
	[ -z "${TRYST_LISTENING:-}" ] || "$TRYST_LISTENING" || return 1
	[ -z "$on_online" ] || "$on_online" "$d" || return 1
	info "h1 is listening; h2 sends $FILE_MIB MiB"
	tryst_in h2 "$d/h2" send "$NUM1" "$d/payload.bin" \
	    >"$d/send.out" 2>"$d/send.err"
	rc=$?
	line=$(grep -E '^path: ' "$d/send.err" | head -n 1)
	info "h2: tryst send exited $rc, said \"${line:-no path line}\""
	[ $rc = 0 ] || { info "FAILED: tryst send exited $rc"; ok=0; }
	check_path "$d" "$line" "$want" || ok=0
	if ! wait_for "$d/listen.out" 300 "$pat"; then
		info "FAILED: h1 never said received payload.bin ($size bytes)"
		ok=0
	elif ! cmp "$d/payload.bin" "$d/inbox/payload.bin"; then
		info "FAILED: the received file differs"
		ok=0
	else
		info "h1 received payload.bin, $size bytes, identical"
	fi
	[ $ok = 1 ] && return 0
	show_logs "$d" send.out send.err listen.out listen.err trystd.log
	return 1
}

# The client half of a scenario, in folder $1; $2 "direct" or "relay".
tryst_run() {
	local d=$1
	if ! server_up "$d" || ! client_up "$d" h1 "$NUM1" ||
	    ! client_up "$d" h2 "$NUM2"; then
		show_logs "$d" h1.setup h2.setup trystd.log
		return 1
	fi
	mkdir -p "$d/inbox"
	head -c $((FILE_MIB << 20)) /dev/urandom >"$d/payload.bin"
	transfer "$d" "$2"
}
