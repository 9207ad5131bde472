# shellcheck shell=bash
# probe.sh -- sourced by nat-test.sh: check the topology with probe.c, with
# no tryst code involved, so that a failure can be told apart from a client
# bug. Uses nsx, nsbg, info, wait_for and SRV from nat-test.sh.

probe_bin=
PROBE_PORT=7000

# Build the probe into folder $1; without cc the probe is left out.
probe_build() {
	if ! command -v cc >/dev/null; then
		info "no cc: the topology probe is left out"
		return 0
	fi
	cc -std=c11 -D_GNU_SOURCE -O2 -Wall -o "$1/probe" \
	    "$here/nat/probe.c" || return 1
	probe_bin=$1/probe
}

# Start the reflector on srv, the stand-in for trystd's WELCOME address.
probe_reflector() {
	local i
	nsbg srv "$1/reflect.log" "$probe_bin" reflect "$SRV" "$PROBE_PORT"
	for ((i = 0; i < 50; i++)); do
		nsx srv bash -c ": 3<>/dev/tcp/$SRV/$PROBE_PORT" 2>/dev/null &&
		    return 0
		sleep 0.1
	done
	info "probe: the reflector did not start"
	return 1
}

# A listener on h1 must not be reachable from outside through its NAT: the
# connection attempt from srv must hang (dropped), not be refused.
probe_unsolicited() {
	local d=$1 i rc
	ip netns exec "tn-h1-$sfx" "$probe_bin" reflect 198.18.1.2 40009 \
	    >"$d/listen1.log" 2>&1 &
	pids+=($!)
	for ((i = 0; i < 50; i++)); do
		nsx h1 bash -c ": 3<>/dev/tcp/198.18.1.2/40009" 2>/dev/null &&
		    break
		sleep 0.1
	done
	nsx srv timeout 2 bash -c ": 3<>/dev/tcp/203.0.113.11/40009" \
	    2>/dev/null
	rc=$?
	kill "${pids[-1]}"
	if [ $rc != 124 ]; then
		info "probe: FAILED, unsolicited inbound to h1 got in ($rc)"
		return 1
	fi
	info "probe: unsolicited inbound is dropped"
}

# h1 (port 40001) and h2 (port 40002) learn their public mappings from the
# reflector, swap them, and try TCP simultaneous open for 3000 ms, as the
# client does. $2 "direct": both must connect, to the other NAT's address
# and the other host's own port (the NATs keep ports); "relay": neither.
probe_run() {
	local d=$1 want=$2 p1 p2 r1 r2
	[ -n "$probe_bin" ] || return 0
	probe_reflector "$d" && probe_unsolicited "$d" || return 1
	rm -f "$d/map1" "$d/map2"
	ip netns exec "tn-h1-$sfx" "$probe_bin" punch 40001 "$SRV" \
	    "$PROBE_PORT" "$d/map1" "$d/map2" 3000 >"$d/punch1.log" 2>&1 &
	p1=$!
	ip netns exec "tn-h2-$sfx" "$probe_bin" punch 40002 "$SRV" \
	    "$PROBE_PORT" "$d/map2" "$d/map1" 3000 >"$d/punch2.log" 2>&1 &
	p2=$!
	pids+=("$p1" "$p2")
	wait "$p1"
	r1=$?
	wait "$p2"
	r2=$?
	info "probe h1: $(tr '\n' ';' <"$d/punch1.log")"
	info "probe h2: $(tr '\n' ';' <"$d/punch2.log")"
	if [ "$want" = relay ]; then
		if [ $r1 != 1 ] || [ $r2 != 1 ]; then
			info "probe: FAILED, a direct path through random ports"
			return 1
		fi
		info "probe: no direct path, as it should be"
	elif [ $r1 != 0 ] || [ $r2 != 0 ] ||
	    ! grep -q '^direct 203\.0\.113\.12:40002 said' "$d/punch1.log" ||
	    ! grep -q '^direct 203\.0\.113\.11:40001 said' "$d/punch2.log"
	then
		info "probe: FAILED, no simultaneous open through the NATs"
		return 1
	else
		info "probe: simultaneous open works, as it should"
	fi
}
