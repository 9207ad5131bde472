#!/usr/bin/env bash
# client-test.sh -- two people use the real tryst client against a real
# trystd and redis-server on loopback, as the README shows them doing:
# register, find each other with tryst lookup, chat, send a 20 MiB file
# directly and through the relay (--relay-only offering no address and
# waiting for no direct path), see a file name that would disguise itself
# made plain, compare safety numbers, chat both ways with
# tryst listen --chat, see a file that never arrived reported as such
# (receiver stopped, receiver unable to save it) and a slow relay's file
# confirmed, see a declined, an offline and an unanswered call explained,
# meet a changed identity key and trust it, and delete an account.
# Afterwards Redis holds only what PROTOCOL.md §7 allows and trystd's log
# names no number and no ID. A third person's list of two servers, the
# first a dead port, still registers, looks up and chats (the client moves
# to the live one); the clients speak tryst/2 and join the relay where
# INCOMING and ANSWER say (trystd's relay_listen, a port of its own).
#
# Environment: TRYSTD, TRYSTCTL, TRYST (the binaries; meson sets them),
# CLIENT_TEST_KEEP=1 keeps the temporary folder. Exits 77 (skipped)
# without redis-server or openssl.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
: "${TRYSTD:=$top/build/server/trystd}"
: "${TRYSTCTL:=$top/build/server/trystctl}"
: "${TRYST:=$top/build/client/tryst}"

ALICE=+15550123401
BOB=+15550123402
CAROL=+15550123403
NOBODY=+15550123499
FILE_MIB=20

for t in redis-server redis-cli openssl cmp; do
	command -v "$t" >/dev/null 2>&1 || { echo "SKIP: no $t"; exit 77; }
done

# shellcheck source=lib.sh
. "$here/lib.sh"	# also show, wait_for, as, setup, listen, unlisten
lib_begin client-test CLIENT_TEST_KEEP
# ---- the server -----------------------------------------------------------
# dead: a port nothing listens on, first in carol's list of servers.
read -r redis_port port rport dead <<<"$(free_ports tcp tcp tcp tcp)"
redis_up "$redis_port" || { fail "redis-server did not start"; exit 1; }
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" -days 2 \
    -subj /CN=client-test 2>/dev/null
"$TRYSTCTL" keygen "$tmp/master.key"
cat >"$tmp/trystd.conf" <<CONF
listen = 127.0.0.1:$port
tls_cert = $tmp/cert.pem
tls_key = $tmp/key.pem
master_key = $tmp/master.key
redis = 127.0.0.1:$redis_port
verification = dev:$tmp/codes.txt
call_timeout_s = 5
idle_timeout_s = 30
relay_listen = 127.0.0.1:$rport
relay_endpoint = 127.0.0.1:$rport
CONF
# Start trystd (its log appended to trystd.log) and wait until it listens.
trystd_up() {
	"$TRYSTD" -c "$tmp/trystd.conf" 2>>"$tmp/trystd.log" &
	trystd_pid=$!
	pids+=($trystd_pid)
	for _ in $(seq 50); do
		(exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null && break
		sleep 0.1
	done
}
trystd_up
key=$("$TRYSTCTL" -c "$tmp/trystd.conf" pubkeys)
ctl() { "$TRYSTCTL" -c "$tmp/trystd.conf" "$@"; }

if setup alice "$ALICE" && setup bob "$BOB"; then
	ok "alice and bob registered through the dev: transport"
else
	fail "registration"
	show alice.setup bob.setup trystd.log
	exit 1
fi

# ---- discovery ------------------------------------------------------------
out=$(as alice lookup "$BOB" "$NOBODY" 2>&1)
if [ "$out" = "$BOB has an account
$NOBODY has no account" ]; then
	ok "alice's tryst lookup finds bob and not a stranger"
else
	fail "alice's lookup said: $out"
fi
out=$(as bob lookup "+1 555 012 3401" 2>&1)
[ "$out" = "$ALICE has an account" ] &&
    ok "bob finds alice, typed with spaces" || fail "bob's lookup said: $out"

# ---- a chat line and a 20 MiB file, directly --------------------------------
head -c $((FILE_MIB << 20)) /dev/urandom >"$tmp/payload.bin"
size=$(stat -c %s "$tmp/payload.bin")
# -v: bob's listen logs the candidates each caller offers.
if ! listen bob -v; then
	fail "bob's tryst listen never said online"
	show bob.listen.err
	exit 1
fi
printf 'hello bob, this is alice\n' | as alice chat "$BOB" \
    >"$tmp/chat.out" 2>"$tmp/chat.err"
rc=$?
line=$(grep -E '^path: ' "$tmp/chat.err" | head -n 1)
if [ $rc = 0 ] && [[ "$line" =~ ^path:\ direct\ 127\.0\.0\.1:[0-9]+$ ]] &&
    wait_for "$tmp/bob.listen.out" 50 ': hello bob, this is alice$'; then
	ok "alice's chat line reached bob ($line)"
else
	fail "chat: exit $rc, \"$line\""
	show chat.err bob.listen.out bob.listen.err
fi

# ---- carol's list of servers: the first is dead, the client moves on -------
# Each command starts at a server of the list at random: repeat until one
# has met the dead one (the chance that 20 never do is 2^-20); each must
# work either way.
moved="127.0.0.1:$dead: connect: Connection refused; trying 127.0.0.1:$port"
if setup carol "$CAROL" "127.0.0.1:$dead,127.0.0.1:$port"; then
	ok "carol registered with the servers 127.0.0.1:$dead (dead)," \
	    "127.0.0.1:$port"
else
	fail "carol's registration with a dead server first in her list"
	show carol.setup
fi
for ((i = 0; i < 20; i++)); do
	out=$(as carol lookup "$ALICE" 2>"$tmp/carol.lookup")
	rc=$?
	[ $rc = 0 ] && [ "$out" = "$ALICE has an account" ] || break
	grep -qF "$moved" "$tmp/carol.lookup" && break
done
[ $i -lt 20 ] && [ $rc = 0 ] && [ "$out" = "$ALICE has an account" ] &&
    ok "carol's lookup works, also when it starts at the dead server" ||
    { fail "carol's lookup: exit $rc, try $i: $out"; show carol.lookup; }
for ((i = 0; i < 20; i++)); do
	printf 'carol here %d\n' $i | as carol chat "$BOB" >/dev/null \
	    2>"$tmp/carol.chat"
	rc=$?
	[ $rc = 0 ] && wait_for "$tmp/bob.listen.out" 50 ": carol here $i\$" ||
	    break
	grep -qF "$moved" "$tmp/carol.chat" && break
done
[ $i -lt 20 ] && [ $rc = 0 ] &&
    ok "carol's chat reached bob after moving from the dead server ($i)" ||
    { fail "carol's chat: exit $rc, try $i"; show carol.chat; }

as alice send "$BOB" "$tmp/payload.bin" >"$tmp/send1.out" 2>"$tmp/send1.err"
rc=$?
line=$(grep -E '^path: ' "$tmp/send1.err" | head -n 1)
if [ $rc = 0 ] && [[ "$line" =~ ^path:\ direct\  ]] &&
    wait_for "$tmp/bob.listen.out" 300 \
    "^received payload\\.bin \\($size bytes\\)$" &&
    cmp -s "$tmp/payload.bin" "$tmp/bob.inbox/payload.bin"; then
	ok "$FILE_MIB MiB went directly and arrived intact ($line)"
else
	fail "direct send: exit $rc, \"$line\""
	show send1.err bob.listen.out bob.listen.err
fi

# ---- --relay-only: no address of alice's reaches bob, no direct wait ------
grep -qE '^<7>\+?[0-9]+ offers 127\.0\.0\.1:[0-9]+$' "$tmp/bob.listen.err" &&
    ok "bob's tryst -v listen logged a direct caller's candidates" ||
    fail "bob's listen logged no candidates of a direct call"
before=$(wc -l <"$tmp/bob.listen.err")
start=$(date +%s%N)
printf 'through the relay\n' | as alice -v chat --relay-only "$BOB" \
    >"$tmp/chat-r.out" 2>"$tmp/chat-r.err"
rc=$?
took=$((($(date +%s%N) - start) / 1000000))
wait_for "$tmp/bob.listen.out" 50 ': through the relay$'
got=$?
tail -n +$((before + 1)) "$tmp/bob.listen.err" >"$tmp/relay-cands"
# The old client offered its addresses and bob waited direct_timeout_ms
# (3000) for them before joining the relay.
if [ $rc = 0 ] && [ $got = 0 ] && grep -qx 'path: relay' "$tmp/chat-r.err" &&
    grep -q ' offers no candidates: relay only$' "$tmp/relay-cands" &&
    ! grep -qE ' offers [0-9[]' "$tmp/relay-cands" && [ $took -lt 2500 ]; then
	ok "--relay-only chat: bob learned no address of alice's, ${took} ms"
else
	fail "relay-only chat: exit $rc, line $got, ${took} ms"
	show chat-r.err relay-cands
fi
# tryst -v says each connection's version and where the relay was joined:
# tryst/2 both, at relay_endpoint (not the control connection's port).
if grep -qx "<7>127.0.0.1:$port: tryst/2" "$tmp/chat-r.err" &&
    grep -qx "<7>relay at 127.0.0.1:$rport" "$tmp/chat-r.err" &&
    grep -qx "<7>127.0.0.1:$rport: tryst/2" "$tmp/chat-r.err" &&
    grep -qx "<7>relay at 127.0.0.1:$rport" "$tmp/relay-cands" &&
    grep -qx "<7>127.0.0.1:$rport: tryst/2" "$tmp/relay-cands"; then
	ok "that chat was tryst/2, both joined at relay_endpoint :$rport"
else
	fail "relay over tryst/2: $(grep -h '^<7>' "$tmp/chat-r.err" \
	    "$tmp/relay-cands" | tr '\n' ' ')"
fi

# ---- the same file through the relay; the first copy stays ---------------
as alice send --relay-only "$BOB" "$tmp/payload.bin" >"$tmp/send2.out" \
    2>"$tmp/send2.err"
rc=$?
line=$(grep -E '^path: ' "$tmp/send2.err" | head -n 1)
if [ $rc = 0 ] && [ "$line" = "path: relay" ] &&
    wait_for "$tmp/bob.listen.out" 300 \
    "^received payload-1\\.bin \\($size bytes\\)$" &&
    cmp -s "$tmp/payload.bin" "$tmp/bob.inbox/payload-1.bin" &&
    cmp -s "$tmp/payload.bin" "$tmp/bob.inbox/payload.bin"; then
	ok "--relay-only moved it through the relay, saved beside the first"
else
	fail "relay send: exit $rc, \"$line\""
	show send2.err bob.listen.out bob.listen.err
fi
n=$(find "$tmp/bob.inbox" -mindepth 1 | wc -l)
[ "$n" = 2 ] && ok "bob's folder holds the two files and nothing else" ||
    fail "bob's folder: $(ls -A "$tmp/bob.inbox")"

# ---- a name that would disguise itself arrives with that replaced -------
# A right-to-left override (U+202E) shows "gpj.exe" as "exe.jpg"; U+009B
# is a terminal's CSI. Each becomes one '_', on disk and in the output.
weird="$tmp/$(printf '\342\200\256gpj\302\233.exe')"
printf 'tiny\n' >"$weird"
if as alice send "$BOB" "$weird" >"$tmp/send-n.out" 2>"$tmp/send-n.err" &&
    wait_for "$tmp/bob.listen.out" 100 '^received _gpj_\.exe \(5 bytes\)$' &&
    cmp -s "$weird" "$tmp/bob.inbox/_gpj_.exe"; then
	ok "a name with a bidi override and a C1 control arrives as _gpj_.exe"
else
	fail "disguised name: $(ls -A "$tmp/bob.inbox" | od -c | head -n 4)"
	show send-n.err bob.listen.out bob.listen.err
fi

# ---- safety numbers agree --------------------------------------------------
sa=$(as alice fingerprint "$BOB" 2>&1 | sed 's/.*: //')
sb=$(as bob fingerprint "$ALICE" 2>&1 | sed 's/.*: //')
if [[ "$sa" =~ ^([0-9]{5}\ ){5}[0-9]{5}$ ]] && [ "$sa" = "$sb" ]; then
	ok "both sides show the same safety number"
else
	fail "safety numbers: alice \"$sa\", bob \"$sb\""
fi

# ---- both ways: bob answers with tryst listen --chat -----------------------
unlisten
mkfifo "$tmp/alice.in" "$tmp/bob.in"
exec 7<>"$tmp/bob.in"
: >"$tmp/bchat.out"
# Neither tryst may hold a writer of its own stdin: 7>&- 8>&-.
TRYST_HOME="$tmp/bob" "$TRYST" listen --chat --dir "$tmp/bob.inbox" \
    <"$tmp/bob.in" >"$tmp/bchat.out" 2>"$tmp/bchat.err" 7>&- &
bchat=$!
pids+=($bchat)
if wait_for "$tmp/bchat.out" 100 '^online$'; then
	echo 'nobody to hear this' >&7
	wait_for "$tmp/bchat.err" 50 \
	    'no call in progress: the line was not sent' &&
	    ok "listen --chat outside a call: no line sent, and it says so" ||
	    fail "listen --chat did not refuse a line typed outside a call"
	exec 8<>"$tmp/alice.in"
	TRYST_HOME="$tmp/alice" timeout 60 "$TRYST" chat "$BOB" \
	    <"$tmp/alice.in" >"$tmp/achat.out" 2>"$tmp/achat.err" 7>&- 8>&- &
	achat=$!
	pids+=($achat)
	echo 'hello bob, can you answer?' >&8
	if wait_for "$tmp/bchat.out" 100 ': hello bob, can you answer\?$'; then
		echo 'yes alice, I can' >&7
	fi
	wait_for "$tmp/achat.out" 100 "^\\$BOB: yes alice, I can\$"
	got=$?
	exec 8>&-
	wait "$achat"
	rc=$?
	[ $got = 0 ] && [ $rc = 0 ] &&
	    ok "alice chats, bob's listen --chat answers, alice prints it" || {
		fail "two-way chat: exit $rc, line $got"
		show achat.out achat.err bchat.out bchat.err
	}
	! grep -q 'nobody to hear this' "$tmp/achat.out" ||
	    fail "a line typed outside the call reached alice"
	# EOF on stdin ends neither listen nor its next session.
	exec 7>&-
	sleep 0.5
	n=$(find /proc/"$bchat"/fd -lname '*bob.in*' 2>/dev/null | wc -l)
	[ "$n" = 1 ] ||
	    fail "bob's listen --chat holds more than its stdin of the fifo"
	out=$(printf 'after eof\n' | as alice chat "$BOB" 2>&1)
	rc=$?
	kill -0 "$bchat" 2>/dev/null && [ $rc = 0 ] &&
	    wait_for "$tmp/bchat.out" 50 ': after eof$' &&
	    ok "listen --chat outlives the end of its stdin, still answers" ||
	    fail "after stdin EOF: exit $rc: $out"
else
	fail "tryst listen --chat never said online"
fi
kill "$bchat" 2>/dev/null
wait "$bchat" 2>/dev/null

# ---- a receiver stopped mid-file leaves nothing behind -----------------------
unlisten
mkdir -p "$tmp/cut"
# 4 GiB, sparse: the kill below comes a moment after the .part file does,
# and a fast build on a loaded machine once moved all of 100 MiB first.
truncate -s 4G "$tmp/big.bin"
TRYST_HOME="$tmp/bob" "$TRYST" listen --dir "$tmp/cut" \
    >"$tmp/cut.out" 2>"$tmp/cut.err" &
cut_pid=$!
pids+=($cut_pid)
if wait_for "$tmp/cut.out" 100 '^online$'; then
	TRYST_HOME="$tmp/alice" timeout 60 "$TRYST" send "$BOB" "$tmp/big.bin" \
	    >/dev/null 2>"$tmp/cut.send" &
	send_pid=$!
	for ((i = 0; i < 1000; i++)); do
		compgen -G "$tmp/cut/.big.bin.part-*" >/dev/null && break
		sleep 0.01
	done
	kill -TERM "$cut_pid"
	wait "$cut_pid" 2>/dev/null
	wait "$send_pid" 2>/dev/null
	rc=$?
	if [ $i -ge 1000 ]; then
		fail "no hidden .part file appeared while receiving"
	elif [ -n "$(ls -A "$tmp/cut")" ]; then
		fail "a stopped receiver left: $(ls -A "$tmp/cut")"
	elif [ $rc = 0 ] ||
	    ! grep -q "did not confirm big\.bin" "$tmp/cut.send"; then
		fail "the sender to a stopped receiver: exit $rc"
		show cut.send
	else
		ok "tryst listen stopped mid-file (SIGTERM) leaves no file" \
		    "behind; the sender fails"
	fi
else
	fail "tryst listen for the interrupted transfer never said online"
fi
rm -f "$tmp/big.bin"

# ---- a file counts as sent only when the receiver confirms it --------------
# reloads N: wait until trystd.log says N reloads.
reloads() {
	local i
	for ((i = 0; i < 50; i++)); do
		[ "$(grep -c 'configuration and certificate reloaded' \
		    "$tmp/trystd.log")" -ge "$1" ] && return 0
		sleep 0.1
	done
	return 1
}
# recv WHO-DIR: a tryst listen of bob's into $tmp/DIR; pid in recv_pid.
recv() {
	mkdir -p "$tmp/$1"
	TRYST_HOME="$tmp/bob" "$TRYST" listen --dir "$tmp/$1" \
	    >"$tmp/$1.out" 2>"$tmp/$1.err" &
	recv_pid=$!
	pids+=($recv_pid)
	wait_for "$tmp/$1.out" 100 '^online$'
}
echo 'relay_rate_bps = 500000' >>"$tmp/trystd.conf"
kill -HUP "$trystd_pid"
reloads 1 || fail "trystd did not reload relay_rate_bps"
head -c 3000000 /dev/urandom >"$tmp/mid.bin"
# A relay slower than the sender: the file is confirmed once it is in.
if recv mid1; then
	as alice send --relay-only "$BOB" "$tmp/mid.bin" >/dev/null \
	    2>"$tmp/mid1.send"
	rc=$?
	[ $rc = 0 ] &&
	    grep -qx 'sent mid.bin (3000000 bytes)' "$tmp/mid1.send" &&
	    cmp -s "$tmp/mid.bin" "$tmp/mid1/mid.bin" &&
	    ok "3 MB at 500 kB/s through the relay: sent, confirmed, intact" ||
	    { fail "slow relay send: exit $rc"; show mid1.send mid1.err; }
else
	fail "tryst listen for the slow relay never said online"
fi
kill "$recv_pid" 2>/dev/null
wait "$recv_pid" 2>/dev/null
# The receiver is stopped half-way: the sender must not claim success.
if recv mid2; then
	TRYST_HOME="$tmp/alice" timeout 60 "$TRYST" send --relay-only "$BOB" \
	    "$tmp/mid.bin" >/dev/null 2>"$tmp/mid2.send" &
	send_pid=$!
	for ((i = 0; i < 200; i++)); do
		n=$(stat -c %s "$tmp"/mid2/.mid.bin.part-* 2>/dev/null |
		    head -n 1)
		[ "${n:-0}" -ge 500000 ] && break
		sleep 0.05
	done
	kill -TERM "$recv_pid"
	wait "$recv_pid" 2>/dev/null
	wait "$send_pid"
	rc=$?
	if [ "$i" -ge 200 ] || [ "${n:-0}" -ge 3000000 ]; then
		fail "the transfer to stop was not half-way: ${n:-0} bytes"
	elif [ $rc != 0 ] && grep -qF \
	    "$BOB did not confirm mid.bin; it may not have arrived" \
	    "$tmp/mid2.send" && ! grep -q '^sent mid' "$tmp/mid2.send" &&
	    [ -z "$(ls -A "$tmp/mid2")" ]; then
		ok "receiver stopped at $n bytes: the sender exits $rc, says so"
	else
		fail "receiver stopped: sender exit $rc," \
		    "folder: $(ls -A "$tmp/mid2")"
		show mid2.send
	fi
else
	fail "tryst listen for the stopped transfer never said online"
fi
# A receiver that cannot save the file ends the call; the sender learns.
echo note >"$tmp/note.txt"
if recv gone; then
	rmdir "$tmp/gone"
	as alice send "$BOB" "$tmp/note.txt" >/dev/null 2>"$tmp/gone.send"
	rc=$?
	[ $rc != 0 ] &&
	    grep -qF "$BOB did not confirm note.txt" "$tmp/gone.send" &&
	    wait_for "$tmp/gone.err" 50 'ending the call' &&
	    ok "a file bob could not save: the sender exits $rc, says so" ||
	    { fail "unsaved file: sender exit $rc"; show gone.send gone.err; }
else
	fail "tryst listen for the unsaved file never said online"
fi
kill "$recv_pid" 2>/dev/null
wait "$recv_pid" 2>/dev/null
sed -i '/^relay_rate_bps/d' "$tmp/trystd.conf"
kill -HUP "$trystd_pid"
reloads 2 || fail "trystd did not reload without relay_rate_bps"

# ---- a call that does not happen says why ----------------------------------
echo small >"$tmp/small.txt"
out=$(as alice send "$BOB" "$tmp/small.txt" 2>&1)
rc=$?
[ $rc != 0 ] && grep -q "$BOB is not online" <<<"$out" &&
    ok "bob offline: \"$out\"" || fail "offline: exit $rc: $out"

listen bob --decline || fail "tryst listen --decline"
out=$(as alice send "$BOB" "$tmp/small.txt" 2>&1)
rc=$?
[ $rc != 0 ] && grep -q "$BOB declined" <<<"$out" &&
    ok "bob declines: \"$out\"" || fail "declined: exit $rc: $out"
unlisten

listen bob --ignore || fail "tryst listen --ignore"
start=$(date +%s)
out=$(as alice send "$BOB" "$tmp/small.txt" 2>&1)
rc=$?
took=$(($(date +%s) - start))
[ $rc != 0 ] && grep -q "$BOB did not answer" <<<"$out" && [ $took -ge 4 ] &&
    ok "bob does not answer: \"$out\" after ${took} s" ||
    fail "timeout: exit $rc after $took s: $out"
unlisten

# ---- bob sets up again: alice is warned, then trusts the new key -----------
rm -rf "$tmp/bob"
if setup bob "$BOB" && listen bob; then
	out=$(as alice send "$BOB" "$tmp/small.txt" 2>&1)
	rc=$?
	[ $rc != 0 ] && grep -q "identity key of $BOB has changed" <<<"$out" &&
	    ok "a changed key stops the session with a warning" ||
	    fail "changed key: exit $rc: $out"
	[ ! -e "$tmp/bob.inbox/small.txt" ] ||
	    fail "the file went to an untrusted key"
	as alice trust "$BOB" >/dev/null 2>&1 || fail "tryst trust"
	out=$(as alice send "$BOB" "$tmp/small.txt" 2>&1)
	rc=$?
	[ $rc = 0 ] && wait_for "$tmp/bob.listen.out" 100 '^received small\.txt' &&
	    cmp -s "$tmp/small.txt" "$tmp/bob.inbox/small.txt" &&
	    ok "after tryst trust the file goes through" ||
	    fail "after trust: exit $rc: $out"
	unlisten
else
	fail "bob could not set up again"
	show bob.setup bob.listen.err
fi

# ---- tryst listen: back after a restart, never after replaced or revoked ---
# How many times FILE says online.
onlines() { grep -c '^online$' "$1" 2>/dev/null; }
if listen bob; then
	first=$listen_pid
	kill "$trystd_pid"
	wait "$trystd_pid" 2>/dev/null
	trystd_up
	# GOAWAY shutdown asks for 5 s, plus up to as much again.
	for ((i = 0; i < 200; i++)); do
		[ "$(onlines "$tmp/bob.listen.out")" -ge 2 ] && break
		sleep 0.1
	done
	[ "$i" -lt 200 ] && grep -q "the server is shutting down" \
	    "$tmp/bob.listen.err" &&
	    ok "tryst listen came back online after trystd restarted" ||
	    fail "no reconnect after a restart: $(tail -n 3 "$tmp/bob.listen.err")"
	# Killed without GOAWAY and down a while: refused connects, then
	# back once it is up (a connect refused at once once stalled it).
	kill -9 "$trystd_pid"
	wait "$trystd_pid" 2>/dev/null
	for ((i = 0; i < 50; i++)); do
		grep -q "Connection refused; trying again" \
		    "$tmp/bob.listen.err" && break
		sleep 0.1
	done
	trystd_up
	for ((i = 0; i < 200; i++)); do
		[ "$(onlines "$tmp/bob.listen.out")" -ge 3 ] && break
		sleep 0.1
	done
	[ "$i" -lt 200 ] &&
	    ok "tryst listen came back online after trystd was killed -9" \
	    "and refused connections for a while" ||
	    fail "no reconnect after kill -9: $(tail -n 3 "$tmp/bob.listen.err")"
	# A newer listen of the account replaces it, and it stops for good.
	mkdir -p "$tmp/bob.inbox2"
	TRYST_HOME="$tmp/bob" "$TRYST" listen --dir "$tmp/bob.inbox2" \
	    >"$tmp/bob2.out" 2>"$tmp/bob2.err" &
	second=$!
	pids+=($second)
	wait_for "$tmp/bob2.out" 100 '^online$' || fail "second listen"
	for ((i = 0; i < 50; i++)); do
		kill -0 "$first" 2>/dev/null || break
		sleep 0.1
	done
	wait "$first" 2>/dev/null
	rc=$?
	[ "$i" -lt 50 ] && [ $rc = 0 ] && grep -q "replaced this connection" \
	    "$tmp/bob.listen.err" &&
	    ok "a newer tryst listen replaced the first, which stopped" ||
	    fail "replaced: exit $rc: $(tail -n 2 "$tmp/bob.listen.err")"
	# Registering again revokes the running one; it stops too.
	as bob register "$BOB" >>"$tmp/bob.setup" 2>&1
	wait_for "$tmp/codes.txt" 50 "^\\$BOB " || true
	code=$(awk -v n="$BOB" '$1 == n { c = $2 } END { print c }' \
	    "$tmp/codes.txt")
	as bob verify "$code" >>"$tmp/bob.setup" 2>&1 || fail "verify again"
	for ((i = 0; i < 50; i++)); do
		kill -0 "$second" 2>/dev/null || break
		sleep 0.1
	done
	[ "$i" -lt 50 ] && grep -q "revoked this registration" "$tmp/bob2.err" &&
	    [ "$(onlines "$tmp/bob2.out")" = 1 ] &&
	    ok "registering again revoked the running tryst listen, which stopped" ||
	    fail "revoked: $(tail -n 2 "$tmp/bob2.err")"
else
	fail "tryst listen before the restart"
fi

# ---- a tryst listen outlives idle_timeout_s (30 s here) by PINGing ---------
mkdir -p "$tmp/alice.inbox"
TRYST_HOME="$tmp/alice" "$TRYST" listen --dir "$tmp/alice.inbox" \
    >"$tmp/alice.listen.out" 2>"$tmp/alice.listen.err" &
alice_listen=$!
pids+=($alice_listen)
if wait_for "$tmp/alice.listen.out" 100 '^online$'; then
	sleep 36
	if kill -0 "$alice_listen" 2>/dev/null &&
	    [ "$(onlines "$tmp/alice.listen.out")" = 1 ] &&
	    [ ! -s "$tmp/alice.listen.err" ]; then
		ok "a tryst listen stayed online 36 s (idle_timeout_s = 30)"
	else
		fail "alice's listen went: $(tail -n 2 "$tmp/alice.listen.err")"
	fi
else
	fail "alice's listen never said online"
fi

# ---- delete-account ---------------------------------------------------------
out=$(as bob delete-account 2>&1)
rc=$?
[ $rc = 0 ] && [ "$(as alice lookup "$BOB" 2>&1)" = "$BOB has no account" ] &&
    [ "$(ctl lookup "$BOB")" = "$BOB: no account" ] &&
    ok "bob deleted his account; alice and trystctl see no account" ||
    fail "delete-account: exit $rc: $out"

# ---- what the server kept --------------------------------------------------
redis_check "$redis_port"
ids=$(TRYST_HOME="$tmp/alice" timeout 20 "$TRYST" whoami 2>/dev/null |
    sed -n 's/^id: //p')
[ ${#ids} -ge 16 ] || fail "tryst whoami printed no ID"
kill "$trystd_pid"
wait "$trystd_pid" 2>/dev/null
leak=
for s in "${ALICE#+}" "${BOB#+}" "${CAROL#+}" "$ids" "${ids:0:16}"; do
	[ -n "$s" ] && grep -qiF -- "$s" "$tmp/trystd.log" && leak="$leak $s"
done
# Its own listening address may appear; a client's address (another port
# on 127.0.0.1) may not.
grep -F 127.0.0.1 "$tmp/trystd.log" |
    grep -vqE "127\.0\.0\.1:($port|$rport|$redis_port)\b" &&
    leak="$leak client-address"
[ -z "$leak" ] && [ -s "$tmp/trystd.log" ] &&
    ok "trystd's log ($(wc -l <"$tmp/trystd.log") lines) names no number, ID or address" ||
    fail "trystd's log names:$leak"

if [ $fails -ne 0 ]; then
	echo "$fails check(s) failed"
	show trystd.log
	exit 1
fi
echo "all client checks passed"
