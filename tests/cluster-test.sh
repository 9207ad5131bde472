#!/usr/bin/env bash
# cluster-test.sh -- three trystd nodes over a Redis Cluster of 3 primaries
# and 3 replicas (cluster-up.sh: append-only file, a password; the nodes
# log in as the ACL user trystd of deploy/redis-tryst.conf), all on
# loopback, and two people with the real tryst client on different nodes:
# lookup both ways, a chat line, a 20 MiB file directly and through the
# relay of the caller's node. A newer tryst listen on another node
# displaces the first; registering again through a third node revokes it.
# Two primaries are killed (kill -9) while a relayed chat is open, the one
# of the caller's node channel, then the one of the callee's account and
# ID channel: the chat goes on (§9: a node that does not hear its own
# heartbeat waits for its channel to come back before it ends calls with
# nodes it does not hear either); new calls work, no account
# is lost (tryst lookup, trystctl lookup). A node is killed (kill -9)
# under a tryst listen with all three servers in its list: it comes back
# on another node and is called again within seconds. Afterwards every
# primary and replica holds only what PROTOCOL.md §7 allows, and the
# nodes' logs name no number, ID or client address.
#
# Environment: TRYSTD, TRYSTCTL, TRYST (the binaries; meson sets them),
# CLUSTER_TEST_KEEP=1 keeps the temporary folder, CLUSTER_TEST_CONF adds
# a line to each node's trystd.conf (log_level = debug: the log checks
# then fail, as they should). Exits 77 (skipped) without redis-server,
# redis-cli or openssl.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
: "${TRYSTD:=$top/build/server/trystd}"
: "${TRYSTCTL:=$top/build/server/trystctl}"
: "${TRYST:=$top/build/client/tryst}"

ALICE=+15550100901
BOB=+15550100902
NOBODY=+15550100999
FILE_MIB=20

for t in redis-server redis-cli openssl python3 cmp; do
	command -v "$t" >/dev/null 2>&1 || { echo "SKIP: no $t"; exit 77; }
done

# shellcheck source=lib.sh
. "$here/lib.sh"	# also show, wait_for, as, setup, listen, unlisten
lib_begin cluster-test CLUSTER_TEST_KEEP
# The cluster goes first: lib_cleanup removes its folder.
trap '"$here/cluster-up.sh" stop "$tmp/cluster"; lib_cleanup' EXIT

# ---- the cluster -------------------------------------------------------------
export CLUSTER_PASSWORD=cluster-test-$$ CLUSTER_AOF=yes
export CLUSTER_NODE_TIMEOUT=1000 REDISCLI_AUTH=$CLUSTER_PASSWORD
mkdir "$tmp/cluster"
for ((try = 0; try < 3; try++)); do
	base=$(free_range 12) &&
	    "$here/cluster-up.sh" start "$tmp/cluster" "$base" $$ && break
done
[ $try -lt 3 ] || { fail "the cluster did not start"; exit 1; }
ok "a Redis Cluster of 3 primaries and 3 replicas on :$base..:$((base + 5))" \
    "(AOF, a password)"

# rcli PORT ARGS...: redis-cli to one node of the cluster.
rcli() {
	local p=$1
	shift
	redis-cli -p "$p" "$@" 2>/dev/null
}

# acl PORT: the ACL user trystd of deploy/redis-tryst.conf, as shipped,
# on the node at PORT, with the password in trystd.pw; the nodes go to
# Redis as that user, so that the shipped rights are the ones tested.
printf 'trystd-%s' $$ >"$tmp/trystd.pw"
acl() {
	local line rules
	line=$(grep '^user trystd on #SHA256-OF-THE-PASSWORD ' \
	    "$top/deploy/redis-tryst.conf") || return 1
	read -r -a rules <<<"${line#user trystd on #SHA256-OF-THE-PASSWORD }"
	[ "$(rcli "$1" acl setuser trystd reset on ">trystd-$$" \
	    "${rules[@]}")" = OK ]
}
for ((p = base; p < base + 6; p++)); do
	acl "$p" || { fail "ACL SETUSER trystd on :$p"; exit 1; }
done
ok "the shipped ACL user trystd on every node"

# role PORT: master or slave, as CLUSTER NODES says of the node on PORT,
# asked of the first node that answers.
role() {
	local p
	for ((p = base; p < base + 6; p++)); do
		rcli "$p" cluster nodes | awk -v a="127.0.0.1:$1@" \
		    'index($2, a) == 1 { sub(/myself,/, "", $3); print $3;
		    f = 1 } END { exit !f }' && return 0
	done
	return 1
}

# primary_of SLOT: the client port of the live primary that serves SLOT.
primary_of() {
	local p
	for ((p = base; p < base + 6; p++)); do
		rcli "$p" cluster nodes | awk -v s="$1" '
		    $3 ~ /master/ && $3 !~ /fail/ {
			for (i = 9; i <= NF; i++) {
				n = split($i, r, "-")
				if (n == 1) r[2] = r[1]
				if (s >= r[1] && s <= r[2]) {
					split($2, a, "[:@]"); print a[2]; f = 1
				}
			}
		    } END { exit !f }' && return 0
	done
	return 1
}

# ---- three trystd nodes, one master key and certificate ----------------------
read -r -a port <<<"$(free_ports tcp tcp tcp tcp tcp tcp)"
rport=("${port[@]:3}")
port=("${port[@]:0:3}")
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes \
    -keyout "$tmp/key.pem" -out "$tmp/cert.pem" -days 2 \
    -subj /CN=cluster-test 2>/dev/null
"$TRYSTCTL" keygen "$tmp/master.key"
seeds=
for ((p = base; p < base + 6; p++)); do
	seeds="$seeds${seeds:+,}127.0.0.1:$p"
done
for i in 0 1 2; do
	cat >"$tmp/node$i.conf" <<-CONF
	listen = 127.0.0.1:${port[i]}
	relay_listen = 127.0.0.1:${rport[i]}
	relay_endpoint = 127.0.0.1:${rport[i]}
	node_name = node-$i
	tls_cert = $tmp/cert.pem
	tls_key = $tmp/key.pem
	master_key = $tmp/master.key
	redis = cluster:$seeds
	redis_user = trystd
	redis_password_file = $tmp/trystd.pw
	verification = dev:$tmp/codes.txt
	call_timeout_s = 5
	idle_timeout_s = 30
	${CLUSTER_TEST_CONF:-}
	CONF
done
# node_up I: start node I (its log appended to nodeI.log), pid in node[I];
# 1 unless it listens within 10 s.
node=()
node_up() {
	"$TRYSTD" -c "$tmp/node$1.conf" 2>>"$tmp/node$1.log" &
	node[$1]=$!
	pids+=("$!")
	for _ in $(seq 100); do
		(exec 3<>"/dev/tcp/127.0.0.1/${port[$1]}") 2>/dev/null &&
		    return 0
		sleep 0.1
	done
	return 1
}
if node_up 0 && node_up 1 && node_up 2; then
	ok "3 trystd nodes on :${port[0]} :${port[1]} :${port[2]}," \
	    "relays on :${rport[0]} :${rport[1]} :${rport[2]}"
else
	fail "the trystd nodes did not start"
	show node0.log node1.log node2.log
	exit 1
fi
key=$("$TRYSTCTL" -c "$tmp/node0.conf" pubkeys)
n0=127.0.0.1:${port[0]}
n1=127.0.0.1:${port[1]}
n2=127.0.0.1:${port[2]}
ctl() { "$TRYSTCTL" -c "$tmp/node0.conf" "$@"; }
# reinit WHO SERVERS: the same registration, another list of servers.
reinit() {
	as "$1" init --server "$2" --key "$key" >>"$tmp/$1.setup" 2>&1
}
# reregister WHO NUMBER: register and verify again (a new credential).
reregister() {
	local code
	: >"$tmp/codes.txt"
	as "$1" register "$2" >>"$tmp/$1.setup" 2>&1 &&
	    code=$(code_of "$2") &&
	    as "$1" verify "$code" >>"$tmp/$1.setup" 2>&1
}
# chat_ok FILE LINE: the tryst listen writing $tmp/FILE printed LINE from
# a caller, within 5 s.
chat_ok() {
	wait_for "$tmp/$1" 50 ": $2\$"
}

# ---- 1. alice on node 0, bob on node 1 ---------------------------------------
if setup alice "$ALICE" "$n0" && setup bob "$BOB" "$n1"; then
	ok "alice registered on node 0, bob on node 1"
else
	fail "registration"
	show alice.setup bob.setup node0.log node1.log
	exit 1
fi
out=$(as alice lookup "$BOB" "$NOBODY" 2>&1)
[ "$out" = "$BOB has an account
$NOBODY has no account" ] &&
    ok "alice on node 0 finds bob, not a stranger" ||
    fail "alice's lookup said: $out"
out=$(as bob lookup "$ALICE" 2>&1)
[ "$out" = "$ALICE has an account" ] && ok "bob on node 1 finds alice" ||
    fail "bob's lookup said: $out"

head -c $((FILE_MIB << 20)) /dev/urandom >"$tmp/payload.bin"
size=$(stat -c %s "$tmp/payload.bin")
if ! listen bob -v; then
	fail "bob's tryst listen never said online"
	show bob.listen.err
	exit 1
fi
grep -qx "<7>$n1: tryst/2" "$tmp/bob.listen.err" ||
    fail "bob's listen is not on node 1: $(grep '^<7>' \
    "$tmp/bob.listen.err" | head -n 2)"
printf 'hello bob, across nodes\n' | as alice -v chat "$BOB" \
    >/dev/null 2>"$tmp/chat.err"
rc=$?
line=$(grep -E '^path: ' "$tmp/chat.err" | head -n 1)
if [ $rc = 0 ] && grep -qx "<7>$n0: tryst/2" "$tmp/chat.err" &&
    [[ "$line" =~ ^path:\ direct\  ]] &&
    chat_ok bob.listen.out 'hello bob, across nodes'; then
	ok "alice (node 0) chatted to bob (node 1): $line"
else
	fail "chat across nodes: exit $rc, \"$line\""
	show chat.err bob.listen.err
fi
as alice send "$BOB" "$tmp/payload.bin" >/dev/null 2>"$tmp/send1.err"
rc=$?
line=$(grep -E '^path: ' "$tmp/send1.err" | head -n 1)
if [ $rc = 0 ] && [[ "$line" =~ ^path:\ direct\  ]] &&
    wait_for "$tmp/bob.listen.out" 300 \
    "^received payload\\.bin \\($size bytes\\)$" &&
    cmp -s "$tmp/payload.bin" "$tmp/bob.inbox/payload.bin"; then
	ok "$FILE_MIB MiB went directly across nodes, intact ($line)"
else
	fail "direct send: exit $rc, \"$line\""
	show send1.err bob.listen.out bob.listen.err
fi
before=$(wc -l <"$tmp/bob.listen.err")
as alice -v send --relay-only "$BOB" "$tmp/payload.bin" >/dev/null \
    2>"$tmp/send2.err"
rc=$?
line=$(grep -E '^path: ' "$tmp/send2.err" | head -n 1)
# The relay is the caller's node's: both join it at node 0's endpoint.
if [ $rc = 0 ] && [ "$line" = "path: relay" ] &&
    grep -qx "<7>relay at 127.0.0.1:${rport[0]}" "$tmp/send2.err" &&
    wait_for "$tmp/bob.listen.out" 300 \
    "^received payload-1\\.bin \\($size bytes\\)$" &&
    tail -n +$((before + 1)) "$tmp/bob.listen.err" |
    grep -qx "<7>relay at 127.0.0.1:${rport[0]}" &&
    cmp -s "$tmp/payload.bin" "$tmp/bob.inbox/payload-1.bin"; then
	ok "$FILE_MIB MiB through node 0's relay (:${rport[0]}), intact"
else
	fail "relay send: exit $rc, \"$line\""
	show send2.err bob.listen.out bob.listen.err
fi
rm -f "$tmp/bob.inbox"/payload*

# ---- 2. displacement and revocation across nodes -----------------------------
# How many times FILE says online.
onlines() { grep -c '^online$' "$1" 2>/dev/null; }
# gone PID TENTHS: until PID has exited; its status in gone_rc.
gone() {
	local i
	for ((i = 0; i < $2; i++)); do
		kill -0 "$1" 2>/dev/null || break
		sleep 0.1
	done
	[ "$i" -lt "$2" ] || return 1
	wait "$1" 2>/dev/null
	gone_rc=$?
}
# aside WHO TAG: the running listen of WHO goes on writing, now into
# TAG.out and TAG.err (renamed), so that another can start.
aside() {
	mv "$tmp/$1.listen.out" "$tmp/$2.out"
	mv "$tmp/$1.listen.err" "$tmp/$2.err"
}

# A newer listen on node 2 replaces the one on node 1 (PRESENT on bob's
# ID channel), which stops.
first=$listen_pid
aside bob bob-n1
reinit bob "$n2" || fail "tryst init for bob with node 2"
if listen bob -v && grep -qx "<7>$n2: tryst/2" "$tmp/bob.listen.err"; then
	gone "$first" 50 && [ "$gone_rc" = 0 ] &&
	    grep -q "replaced this connection" "$tmp/bob-n1.err" &&
	    [ "$(onlines "$tmp/bob-n1.out")" = 1 ] &&
	    ok "bob's listen on node 2 replaced the one on node 1, which" \
	    "stopped" ||
	    fail "displacement: $(tail -n 2 "$tmp/bob-n1.err")"
	printf 'to node 2\n' | as alice chat "$BOB" >/dev/null \
	    2>"$tmp/chat2.err" && chat_ok bob.listen.out 'to node 2' &&
	    ! grep -q 'to node 2' "$tmp/bob-n1.out" &&
	    ok "alice's next call reached bob on node 2" ||
	    { fail "call after displacement"; show chat2.err; }
else
	fail "bob's listen on node 2"
	show bob.listen.err
fi
# Registering again through node 0 revokes the listen on node 2 (the
# script that writes the account publishes on bob's ID channel).
second=$listen_pid
aside bob bob-n2
if reinit bob "$n0" && reregister bob "$BOB"; then
	gone "$second" 50 && [ "$gone_rc" != 0 ] &&
	    grep -q "revoked this registration" "$tmp/bob-n2.err" &&
	    [ "$(onlines "$tmp/bob-n2.out")" = 1 ] &&
	    ok "registering again on node 0 revoked bob's listen on node 2" ||
	    fail "revocation: $(tail -n 2 "$tmp/bob-n2.err")"
else
	fail "bob could not register again on node 0"
	show bob.setup
fi

# ---- 3. kill -9 of primaries while a relayed chat is open ------------------
# kill_primary SLOT [CHANNEL WHAT]: kill -9 the primary that serves SLOT
# and wait until its replica has taken over. The victim's port in victim,
# ms from the kill to the failover in killed_at; 1 if there was none. With
# CHANNEL and WHAT, say when CHANNEL has a subscriber at the new primary.
kill_primary() {
	local i p
	victim=$(primary_of "$1") || return 1
	kill_start=$(date +%s%N)
	kill -9 "$(cat "$tmp/cluster/node-$victim/redis.pid")"
	for ((i = 0; i < 150; i++)); do
		p=$(primary_of "$1") && [ "$p" != "$victim" ] &&
		    rcli "$p" cluster info | grep -q '^cluster_state:ok' && break
		sleep 0.1
	done
	killed_at=$((($(date +%s%N) - kill_start) / 1000000))
	[ $i -lt 150 ] || return 1
	ok "kill -9 of the primary :$victim: its replica :$p took over" \
	    "within $killed_at ms"
	# When the nodes listen on CHANNEL at the new primary again.
	[ -n "${2:-}" ] || return 0
	for ((i = 0; i < 100; i++)); do
		[ "$(rcli "$p" pubsub shardnumsub "$2" | tail -n 1)" -ge 1 ] &&
		    break
		sleep 0.1
	done
	echo "# $3 subscribed there again $(since) ms after the kill"
}
# rejoin: the last victim starts again and becomes a replica in sync.
rejoin() {
	local i
	# 8>&-: the daemon must not hold the chat's fifo open.
	"$here/cluster-up.sh" node "$tmp/cluster" "$victim" >/dev/null 2>&1 8>&-
	acl "$victim" || return 1
	for ((i = 0; i < 100; i++)); do
		[ "$(role "$victim")" = slave ] &&
		    rcli "$victim" info replication |
		    grep -q '^master_link_status:up' && return 0
		sleep 0.1
	done
	return 1
}
# since: ms since the last kill.
since() { echo $((($(date +%s%N) - kill_start) / 1000000)); }
# open_chat N: alice (node 0) calls bob (node 1) through node 0's relay,
# from the fifo alice.inN held open on fd 8; pid in achat, its stderr in
# $tmp/$achat_err. The data never touches Redis, what the nodes say to
# each other does.
open_chat() {
	exec 8>&-
	mkfifo "$tmp/alice.in$1"
	exec 8<>"$tmp/alice.in$1"
	TRYST_HOME="$tmp/alice" timeout 120 "$TRYST" -v chat --relay-only \
	    "$BOB" <"$tmp/alice.in$1" >/dev/null 2>"$tmp/achat$1.err" 8>&- &
	achat=$!
	achat_err=achat$1.err
	pids+=("$achat")
	echo "before failover $1" >&8
	chat_ok bob.listen.out "before failover $1"
}
# still_talking N: the open chat carries a line, sent once the nodes
# would have taken each other for gone (3.5 s without a heartbeat, §9)
# had they not known that their own channel was down (talking=yes); a
# chat that ended (talking=no) fails, saying why.
still_talking() {
	local i line="after failover $1" wait_ms=$((4500 - $(since)))
	[ $wait_ms -gt 0 ] && sleep "$(printf '%d.%03d' $((wait_ms / 1000)) \
	    $((wait_ms % 1000)))"
	echo "$line" >&8
	for ((i = 0; i < 50; i++)); do
		grep -q ": $line\$" "$tmp/bob.listen.out" && break
		kill -0 "$achat" 2>/dev/null || break
		sleep 0.1
	done
	talking=no
	if [ $i -lt 50 ] && kill -0 "$achat" 2>/dev/null; then
		talking=yes
		ok "the chat open during failover $1 carried a line" \
		    "$(since) ms after the kill"
	else
		why=$(grep -vE '^(<7>|path: )' "$tmp/$achat_err" | tail -n 1)
		fail "the chat open during failover $1 did not carry a line:" \
		    "${why:-no word from the client}"
		show "$achat_err"
	fi
}

bob_id=$(as bob whoami 2>/dev/null | sed -n 's/^id: //p')
alice_id=$(as alice whoami 2>/dev/null | sed -n 's/^id: //p')
[[ $bob_id =~ ^[0-9a-f]{64}$ && $alice_id =~ ^[0-9a-f]{64}$ ]] ||
    fail "tryst whoami printed no IDs: $bob_id $alice_id"
reinit bob "$n1" || fail "tryst init for bob with node 1"
if listen bob -v; then
	# First the primary of node 0's channel: heartbeats and answers
	# from node 1 to the caller's node go through it.
	open_chat 1 || fail "the relayed chat did not start"
	slot=$(rcli "$base" cluster keyslot "tryst:node:{node-0}")
	echo "# killing the primary of node 0's channel (slot $slot)"
	if kill_primary "$slot" "tryst:node:{node-0}" "node 0's channel was"
	then
		still_talking 1
		rejoin || fail "the killed primary :$victim did not come back" \
		    "as a replica"
	else
		fail "no failover within 15 s"
	fi
	# Then the primary of bob's account and ID channel (calls to bob
	# ring there), whichever it is now.
	[ "$talking" = yes ] || open_chat 2 ||
	    fail "the second relayed chat did not start"
	slot=$(rcli "$base" cluster keyslot "acct:{$bob_id}")
	echo "# killing the primary of bob's account and ID channel" \
	    "(slot $slot)"
	if kill_primary "$slot" "tryst:id:{$bob_id}" "bob's ID channel was"
	then
		still_talking 2
	else
		fail "no failover within 15 s"
	fi
	exec 8>&-
	if ! gone "$achat" 100; then
		fail "alice's chat did not end with its input"
	elif [ "$talking" = yes ]; then
		[ "$gone_rc" = 0 ] &&
		    ok "the chat that outlived the failover ended normally" ||
		    fail "the chat that outlived the failover exited $gone_rc"
	fi
	# New calls: the first that gets through, and when.
	for ((i = 0; i < 20; i++)); do
		printf 'new call %d\n' $i | as alice chat --relay-only "$BOB" \
		    >/dev/null 2>"$tmp/chat3.err" &&
		    chat_ok bob.listen.out "new call $i" && break
		sleep 0.5
	done
	[ $i -lt 20 ] &&
	    ok "a new call got through, $(since) ms after the kill (try $i)" ||
	    { fail "no call got through after the failover"; show chat3.err; }
	unlisten
else
	fail "bob's listen on node 1 before the failovers"
	show bob.listen.err
fi
out=$(as alice lookup "$BOB" 2>&1; as bob lookup "$ALICE" 2>&1)
[ "$out" = "$BOB has an account
$ALICE has an account" ] && ok "after the failovers both accounts are found" ||
    fail "lookups after the failovers: $out"
out=$(ctl lookup "$ALICE" 2>&1; ctl lookup "$BOB" 2>&1)
grep -qx "$ALICE: account exists" <<<"$out" &&
    grep -qx "$BOB: account exists" <<<"$out" &&
    ok "trystctl -c node0.conf lookup finds both after the failovers" ||
    fail "trystctl lookup after the failovers: $out"
rejoin && ok "both killed primaries are back, as replicas in sync" ||
    fail "the killed primary :$victim did not come back as a replica"

# ---- 4. kill -9 of the node under a listen with all three servers ------------
reinit bob "$n0,$n1,$n2" || fail "tryst init for bob with three servers"
if listen bob -v; then
	at=$(sed -n 's/^<7>\(127\.0\.0\.1:[0-9]*\): tryst\/2$/\1/p' \
	    "$tmp/bob.listen.err" | head -n 1)
	for k in 0 1 2; do
		[ "$at" = "127.0.0.1:${port[k]}" ] && break
	done
	# alice calls through the two others.
	others=
	for i in 0 1 2; do
		[ $i != "$k" ] && others="$others${others:+,}127.0.0.1:${port[i]}"
	done
	reinit alice "$others" || fail "tryst init for alice with $others"
	start=$(date +%s%N)
	kill -9 "${node[k]}"
	wait "${node[k]}" 2>/dev/null
	for ((i = 0; i < 200; i++)); do
		[ "$(onlines "$tmp/bob.listen.out")" -ge 2 ] && break
		sleep 0.1
	done
	[ $i -lt 200 ]
	got=$?
	back=$((($(date +%s%N) - start) / 1000000))
	now=$(sed -n 's/^<7>\(127\.0\.0\.1:[0-9]*\): tryst\/2$/\1/p' \
	    "$tmp/bob.listen.err" | tail -n 1)
	printf 'after the node died\n' | as alice chat "$BOB" >/dev/null \
	    2>"$tmp/chat4.err"
	rc=$?
	took=$((($(date +%s%N) - start) / 1000000))
	if [ $got = 0 ] && [ "$now" != "$at" ] && [ $rc = 0 ] &&
	    chat_ok bob.listen.out 'after the node died'; then
		ok "node $k (:${port[k]}) killed: bob's listen was online at" \
		    "$now after $back ms, called again after $took ms"
	else
		fail "node $k killed: online again $got ($now), call exit $rc"
		show bob.listen.err chat4.err
	fi
	unlisten
else
	fail "bob's listen with three servers"
	show bob.listen.err
fi

# ---- 5. what the cluster kept, what the nodes logged -------------------------
# Every node, primary or replica, holds only §7's keys; the primaries
# hold both accounts, once; each replica holds what its primary does.
accts=0
for ((p = base; p < base + 6; p++)); do
	r=$(role "$p")
	echo "# :$p is a $r"
	redis_check "$p" 0
	[ "$r" = master ] &&
	    accts=$((accts + $(rcli "$p" --scan --pattern 'acct:*' | wc -l)))
done
[ $accts = 2 ] && ok "the primaries hold the 2 accounts, each once" ||
    fail "the primaries hold $accts acct: keys"
for ((p = base; p < base + 6; p++)); do
	[ "$(role "$p")" = slave ] || continue
	m=$(rcli "$p" info replication | sed -n 's/^master_port:\([0-9]*\).*/\1/p')
	for ((i = 0; i < 50; i++)); do
		[ "$(rcli "$p" --scan | sort)" = "$(rcli "$m" --scan | sort)" ] &&
		    break
		sleep 0.1
	done
	[ $i -lt 50 ] && ok "the replica :$p holds the keys of its primary :$m" ||
	    fail "the replica :$p differs from its primary :$m"
done
for i in 0 1 2; do
	[ -n "${node[i]:-}" ] && kill "${node[i]}" 2>/dev/null
	wait "${node[i]}" 2>/dev/null
done
ports="${port[*]} ${rport[*]} $(seq -s ' ' "$base" $((base + 5)))"
for i in 0 1 2; do
	leak=
	for s in "${ALICE#+}" "${BOB#+}" "$alice_id" "${alice_id:0:16}" \
	    "$bob_id" "${bob_id:0:16}"; do
		[ -n "$s" ] && grep -qiF -- "$s" "$tmp/node$i.log" &&
		    leak="$leak $s"
	done
	# An address of its own or of the cluster may appear, a client's not.
	grep -oE '127\.0\.0\.1:[0-9]+' "$tmp/node$i.log" | cut -d: -f2 |
	    sort -u | while read -r p; do
		[[ " $ports " == *" $p "* ]] || echo "$p"
	done >"$tmp/addr$i"
	[ -s "$tmp/addr$i" ] && leak="$leak client-address"
	[ -z "$leak" ] && [ -s "$tmp/node$i.log" ] &&
	    ok "node $i's log ($(wc -l <"$tmp/node$i.log") lines) names no" \
	    "number, ID or client address" ||
	    fail "node $i's log names:$leak"
done

if [ $fails -ne 0 ]; then
	echo "$fails check(s) failed"
	show node0.log node1.log node2.log
	exit 1
fi
echo "all cluster checks passed"
