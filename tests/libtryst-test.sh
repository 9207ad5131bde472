#!/usr/bin/env bash
# libtryst-test.sh -- libtryst from Python: the ctypes binding
# (bindings/python/tryst.py) sets a device up, registers, verifies, and
# stays online from its own selectors loop, across a trystd that is
# killed and started again (tests/libtryst/binding.py); then two accounts
# call each other: declined, messages, flow control, close, relay only,
# offline, trust on first use and a changed key (tests/libtryst/calls.py);
# state in a Python dict through tryst_state_store's callbacks: set-up,
# registration, lookups, blobs that cannot be loaded or saved
# (tests/libtryst/store.py);
# then examples/echo-bot answers `tryst chat` and examples/file-receiver
# takes a file from `tryst send`.
#
# Needs redis-server, openssl and python3; exits 77 (skipped) without
# them. Environment: TRYSTD, TRYSTCTL, TRYST, LIBTRYST, ECHO_BOT,
# FILE_RECEIVER (meson sets them),
# LIBTRYST_KEEP=1 keeps the temporary folder.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
NUM=+15550100340
NUM2=+15550100341
NOBODY=+15550100342

skip() { echo "SKIP: $*"; exit 77; }
for t in python3 redis-server redis-cli openssl; do
	command -v "$t" >/dev/null 2>&1 || skip "no $t"
done

# shellcheck source=lib.sh
. "$here/lib.sh"
lib_begin tryst-libtryst LIBTRYST_KEEP
trap 'kill "$(cat "$tmp/trystd.pid" 2>/dev/null)" 2>/dev/null; lib_cleanup' EXIT

read -r rport port < <(free_ports tcp tcp)
redis_up "$rport" || { fail "redis-server did not start"; exit 1; }
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" -days 2 \
    -subj /CN=tryst-libtryst-test 2>/dev/null &&
    "$TRYSTCTL" keygen "$tmp/master.key" >/dev/null ||
    { fail "cannot make the server's keys"; exit 1; }
cat >"$tmp/trystd.conf" <<CONF
listen = 127.0.0.1:$port
tls_cert = $tmp/cert.pem
tls_key = $tmp/key.pem
master_key = $tmp/master.key
redis = 127.0.0.1:$rport
verification = dev:$tmp/codes.txt
idle_timeout_s = 30
max_batch = 2
discovery_bucket = 3
CONF
# Started again by the test after it kills it: its pid in a file.
cat >"$tmp/start-trystd" <<START
#!/usr/bin/env bash
"$TRYSTD" -c "$tmp/trystd.conf" >>"$tmp/trystd.log" 2>&1 &
echo \$! >"$tmp/trystd.pid"
for i in \$(seq 50); do
	(exec 3<>/dev/tcp/127.0.0.1/$port) 2>/dev/null && exit 0
	sleep 0.1
done
exit 1
START
chmod +x "$tmp/start-trystd"
"$tmp/start-trystd" || { fail "trystd did not start"; exit 1; }
key=$("$TRYSTCTL" -c "$tmp/trystd.conf" pubkeys) ||
    { fail "trystctl pubkeys"; exit 1; }

# Under ASan the library needs the runtime loaded first; Python's own
# allocations are not ours to report.
preload=
# Not ldd | grep -q: grep leaving early can kill ldd with SIGPIPE,
# and pipefail then says no (a run without the preload, seen once).
if [[ "$(ldd "$LIBTRYST" 2>/dev/null)" == *libasan* ]]; then
	preload=$(gcc -print-file-name=libasan.so)
fi
TRYST_HOSTPORT=127.0.0.1:$port TRYST_SERVER_KEY=$key \
    TRYST_CODES=$tmp/codes.txt TRYST_STATE=$tmp/alice TRYST_NUMBER=$NUM \
    TRYST_STATE2=$tmp/bob TRYST_NUMBER2=$NUM2 TRYST_NOBODY=$NOBODY \
    TRYSTD_PIDFILE=$tmp/trystd.pid TRYSTD_RESTART=$tmp/start-trystd \
    LD_PRELOAD=$preload ASAN_OPTIONS=detect_leaks=0 \
    python3 "$here/libtryst/binding.py"
rc=$?
# Calls between two more accounts, once trystd is back for good.
TRYST_HOSTPORT=127.0.0.1:$port TRYST_SERVER_KEY=$key \
    TRYST_CODES=$tmp/codes.txt TRYST_STATE=$tmp/calls \
    LD_PRELOAD=$preload ASAN_OPTIONS=detect_leaks=0 \
    python3 "$here/libtryst/calls.py" || rc=1
# State kept by the app: a Python dict behind tryst_state_store.
TRYST_HOSTPORT=127.0.0.1:$port TRYST_SERVER_KEY=$key \
    TRYST_CODES=$tmp/codes.txt TRYST_STATE=$tmp/dict \
    TRYST_STORE_NUMBERS="+15550100350 +15550100351 +15550100352 \
+15550100353 +15550100354" \
    LD_PRELOAD=$preload ASAN_OPTIONS=detect_leaks=0 \
    python3 "$here/libtryst/store.py" || rc=1
[ $rc -eq 0 ] || { show trystd.log; fails=$((fails + 1)); }

# ---- the examples: programs on libtryst, called with the CLI -------------
# Their accounts are set up with the CLI, whose state they share.
BOT=+15550100345 RECV=+15550100346 USER=+15550100347
if setup bot "$BOT" && setup recv "$RECV" && setup user "$USER"; then
	TRYST_HOME=$tmp/bot "$ECHO_BOT" >"$tmp/bot.out" 2>&1 &
	pids+=($!)
	mkdir -p "$tmp/inbox"
	TRYST_HOME=$tmp/recv "$FILE_RECEIVER" "$tmp/inbox" \
	    >"$tmp/recv.out" 2>&1 &
	pids+=($!)
	wait_for "$tmp/bot.out" 300 '^online$' ||
	    { fail "echo-bot not online"; show bot.out trystd.log; }
	out=$(printf 'hello bot\n' | as user chat "$BOT" 2>"$tmp/user.chat")
	if [[ $out == *"echo: hello bot"* ]] &&
	    wait_for "$tmp/bot.out" 50 '^call ended$'; then
		ok "echo-bot answered tryst chat and the call ended cleanly"
	else
		fail "echo-bot: chat said \"$out\""
		show user.chat bot.out
	fi
	head -c $((3 << 20)) /dev/urandom >"$tmp/photo.jpg"
	sleep 1		# file-receiver online: it prints nothing until a file
	if as user send "$RECV" "$tmp/photo.jpg" >"$tmp/user.send" 2>&1 &&
	    wait_for "$tmp/recv.out" 50 '^received photo.jpg \(3145728 bytes\)$' &&
	    cmp -s "$tmp/photo.jpg" "$tmp/inbox/photo.jpg"; then
		ok "file-receiver took 3 MiB from tryst send, intact, and" \
		    "the sender saw it delivered"
	else
		fail "file-receiver"
		show user.send recv.out
	fi
else
	fail "the examples' accounts could not be set up"
	show bot.setup recv.setup user.setup
fi
kill "$(cat "$tmp/trystd.pid")" 2>/dev/null
redis_check "$rport"
[ $fails -eq 0 ]
