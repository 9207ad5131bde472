# shellcheck shell=bash
# portmap.sh -- sourced by nat-test.sh: the "port mapping" scenario. Both
# NATs pick a random port per connection (as in "masquerade random", which
# gives path: relay) but run miniupnpd (Debian's miniupnpd-nftables), so
# the clients can ask them for a mapping of their shared port P: nat1
# answers NAT-PMP/PCP only, nat2 UPnP IGD only, so that each protocol is
# used by one side. Expect "path: direct", the file intact, h1's mapping
# (tryst listen maps P once per online spell) on nat1 as soon as it is
# online, before any call, h2's gone from nat2 when tryst send is done,
# and h1's gone from nat1 once tryst listen has stopped (SIGTERM). Then
# libtryst itself (the Python binding, tests/nat/libmap.py) goes online
# on h1 with h1's account: nat1 must hold a mapping of the port P it
# listens on while it is online, and none once it went offline.
#
# miniupnpd refuses a reserved outside address such as 203.0.113.x unless
# a STUN test says the NAT is full-cone; that test asks for a change of
# address (RFC 5780), so coturn runs on its own namespace "stun" with two
# addresses. Uses topo_up, mkns, plug, nsx, nsbg, info, wait_for, pids,
# scenario's result array and tryst_run from the files around it.

PM_STUN1=203.0.113.3
PM_STUN2=203.0.113.4

# Can this machine run the scenario? Says why not.
pm_ready() {
	local t
	for t in miniupnpd turnserver; do
		command -v "$t" >/dev/null || {
			info "$t is not installed"
			return 1
		}
	done
}

# coturn answering STUN on two addresses of namespace stun.
pm_stun_up() {
	local d=$1 i
	mkns stun && plug stun "$PM_STUN1" &&
	    ip -n "tn-stun-$sfx" addr add "$PM_STUN2/24" dev out || return 1
	# -c /dev/null: Debian's /etc/turnserver.conf says no-rfc5780.
	nsbg stun "$d/turnserver.log" turnserver -c /dev/null --stun-only \
	    --no-cli -L "$PM_STUN1" -L "$PM_STUN2" -p 3478 --no-tls --no-dtls \
	    --log-file stdout --simple-log --pidfile "$d/turnserver.pid" \
	    --userdb "$d/turnserver.db"
	for ((i = 0; i < 50; i++)); do
		nsx stun ss -Hlun "sport = :3479" | grep -q "$PM_STUN2" &&
		    return 0
		sleep 0.1
	done
	info "turnserver did not start (see $d/turnserver.log)"
	return 1
}

# Make namespace $1 (LAN 198.18.$2.0/24) a port-randomising NAT with the
# chains miniupnpd writes into; its own traffic is not masqueraded, so
# that the STUN test sees its real address.
pm_natify() {
	nsx "$1" nft flush ruleset &&
	nsx "$1" nft -f - <<-EOF
	table inet nat {
		chain prerouting {
			type nat hook prerouting priority dstnat
			policy accept
			jump prerouting_miniupnpd
		}
		chain postrouting {
			type nat hook postrouting priority srcnat
			policy accept
			jump postrouting_miniupnpd
			ip saddr 198.18.$2.0/24 oifname "out" masquerade random
		}
		chain prerouting_miniupnpd {
		}
		chain postrouting_miniupnpd {
		}
	}
	table inet filter {
		chain forward {
			type filter hook forward priority filter
			policy drop
			ct state established,related accept
			ct status dnat accept
			iifname "in" accept
			jump miniupnpd
		}
		chain miniupnpd {
		}
		chain input {
			type filter hook input priority filter
			policy drop
			ct state established,related accept
			iifname { "lo", "in" } accept
			udp sport { 3478, 3479 } accept
		}
	}
	EOF
}

# miniupnpd on NAT $1 (LAN 198.18.$2.0/24), NAT-PMP ($3 yes or no) and
# UPnP ($4), configuration and log in folder $5.
pm_upnpd_up() {
	local n=$1 i=$2 d=$5
	cat >"$d/miniupnpd-$n.conf" <<-CONF
	ext_ifname=out
	listening_ip=in
	port=5000
	enable_natpmp=$3
	enable_upnp=$4
	ext_perform_stun=yes
	ext_stun_host=$PM_STUN1
	ext_stun_port=3478
	upnp_table_name=filter
	upnp_nat_table_name=nat
	upnp_forward_chain=miniupnpd
	upnp_nat_chain=prerouting_miniupnpd
	upnp_nat_postrouting_chain=postrouting_miniupnpd
	secure_mode=yes
	system_uptime=yes
	uuid=3ad1b9ac-7c3e-4b5a-9d2e-0000000000$(printf %02d "$i")
	allow 1024-65535 198.18.$i.0/24 1024-65535
	deny 0-65535 0.0.0.0/0 0-65535
	CONF
	nsbg "$n" "$d/miniupnpd-$n.log" miniupnpd -d -f "$d/miniupnpd-$n.conf" \
	    -P "$d/miniupnpd-$n.pid"
	wait_for "$d/miniupnpd-$n.log" 100 'Port forwarding is now enabled' ||
	    { info "miniupnpd on $n did not start (see miniupnpd-$n.log)"
	      return 1; }
	info "miniupnpd is up on $n (NAT-PMP $3, UPnP $4)"
}

# The dnat rules miniupnpd left on NAT $1 (none once the calls are over).
pm_leftovers() {
	nsx "$1" nft list chain inet nat prerouting_miniupnpd |
	    grep -c dnat
}

# Once h1 listens, before any call: its mapping is on nat1 already.
pm_idle() {
	local n
	n=$(pm_leftovers nat1)
	info "mappings on nat1 while h1 listens, before the call: $n"
	[ "$n" = 1 ] && return 0
	info "FAILED: wanted h1's mapping of its port on nat1"
	return 1
}

# After the call: h2's mapping is gone, h1's stays while it listens;
# then tryst listen is stopped and h1's is gone too.
pm_after() {
	local n1 n2 i
	n1=$(pm_leftovers nat1)
	n2=$(pm_leftovers nat2)
	info "mappings after the call: nat1 $n1 (h1 listens), nat2 $n2"
	if [ "$n1" != 1 ] || [ "$n2" != 0 ]; then
		info "FAILED: wanted 1 on nat1 and none on nat2"
		return 1
	fi
	kill -TERM "$listen_pid"
	for ((i = 0; i < 50; i++)); do
		kill -0 "$listen_pid" 2>/dev/null || break
		sleep 0.1
	done
	wait "$listen_pid" 2>/dev/null
	n1=$(pm_leftovers nat1)
	info "mappings on nat1 after tryst listen stopped: $n1"
	[ "$n1" = 0 ] && return 0
	info "FAILED: h1's mapping outlived tryst listen"
	return 1
}

# The dnat rules on nat1 to h1's port $1.
pm_rules_to() {
	nsx nat1 nft list chain inet nat prerouting_miniupnpd |
	    grep -Ec "198\.18\.1\.2:$1( |\$)"
}

# The port a process $1 on h1 listens on (P), or nothing.
pm_listening() {
	nsx h1 ss -Hltnp | awk -v p="pid=$1," 'index($0, p) {
		sub(/.*:/, "", $4); print $4; exit }'
}

# libtryst on h1 (libmap.py, with h1's account): its mapping of P is on
# nat1 while it is online and gone once it went offline, before the
# process ends. LIBTRYST is the library (an ASan build is preloaded).
pm_library() {
	local d=$1 pid p n i preload=
	if [ -z "${LIBTRYST:-}" ] || ! command -v python3 >/dev/null; then
		info "FAILED: the library's check needs LIBTRYST and python3"
		return 1
	fi
	# Not ldd | grep -q: grep leaving early can kill ldd with SIGPIPE,
	# and pipefail then says no (a run without the preload, seen once).
	if [[ "$(ldd "$LIBTRYST" 2>/dev/null)" == *libasan* ]]; then
		preload=$(gcc -print-file-name=libasan.so)
	fi
	ip netns exec "tn-h1-$sfx" env LIBTRYST="$LIBTRYST" \
	    LD_PRELOAD="$preload" ASAN_OPTIONS=detect_leaks=0 \
	    python3 "$here/nat/libmap.py" "$d/h1" >"$d/libmap.out" \
	    2>"$d/libmap.err" &
	pid=$!
	pids+=($!)
	if ! wait_for "$d/libmap.out" 200 '^online'; then
		info "FAILED: libtryst never went online on h1"
		show_logs "$d" libmap.out libmap.err
		return 1
	fi
	p=$(pm_listening "$pid")
	for ((i = 0, n = 0; i < 50 && n != 1; i++)); do
		[ $i = 0 ] || sleep 0.1
		n=$(pm_rules_to "${p:-none}")
	done
	info "libtryst on h1 listens on port ${p:-none}; mappings of it on" \
	    "nat1 while online: $n"
	if [ "$n" != 1 ]; then
		info "FAILED: wanted libtryst's mapping of its port on nat1"
		kill -TERM "$pid"
		return 1
	fi
	kill -USR1 "$pid"
	wait_for "$d/libmap.out" 100 '^offline' ||
	    { info "FAILED: libtryst never went offline"; return 1; }
	n=$(pm_rules_to "$p")
	info "mappings of it on nat1 once offline: $n"
	kill -TERM "$pid"
	wait "$pid"
	i=$?
	[ "$n" = 0 ] || { info "FAILED: the mapping outlived going offline"
	    return 1; }
	[ $i = 0 ] || { info "FAILED: libmap.py exited $i"
	    show_logs "$d" libmap.out libmap.err; return 1; }
}

# Did each client ask its NAT: h1 by NAT-PMP, h2 by UPnP?
pm_used() {
	local d=$1 ok=0 pmp
	pmp='NAT-PMP port mapping request : [0-9]+->198\.18\.1\.2:[0-9]+ tcp'
	grep -Eq "$pmp lifetime=[1-9]" "$d/miniupnpd-nat1.log" &&
	    ok=$((ok + 1))
	grep -Eq 'AddPortMapping: ext port [0-9]+ to 198\.18\.2\.2:' \
	    "$d/miniupnpd-nat2.log" && ok=$((ok + 1))
	info "mappings asked for: $ok of 2 (h1 NAT-PMP, h2 UPnP IGD)"
	[ $ok = 2 ] || info "FAILED: a client did not ask its NAT"
	[ $ok = 2 ]
}

# The scenario; adds a PASS, FAIL or SKIP line to result.
pm_scenario() {
	local mode="port mapping" d="$tmp/s-portmap" ok=1
	local held="mapped while listening or online with libtryst, then"
	held+=" unmapped"
	mkdir -p "$d"
	say "scenario \"$mode\" (masquerade random, miniupnpd): expect" \
	    "path: direct"
	if ! pm_ready || [ "$client" = 0 ]; then
		result+=("SKIP: $mode (needs miniupnpd, turnserver, a client)")
		return 0
	fi
	topo_up random && pm_stun_up "$d" && pm_natify nat1 1 &&
	    pm_natify nat2 2 && pm_upnpd_up nat1 1 yes no "$d" &&
	    pm_upnpd_up nat2 2 no yes "$d" || ok=0
	on_online=pm_idle
	[ $ok = 1 ] && { tryst_run "$d" direct || ok=0; }
	on_online=
	[ $ok = 1 ] && { pm_used "$d" || ok=0; }
	[ $ok = 1 ] && { pm_after || ok=0; }
	[ $ok = 1 ] && { pm_library "$d" || ok=0; }
	topo_down
	if [ $ok = 0 ]; then
		result+=("FAIL: $mode")
		failed=1
	else
		result+=("PASS: $mode (path: direct, file intact, $held)")
	fi
}
