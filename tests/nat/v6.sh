# shellcheck shell=bash
# v6.sh -- sourced by nat-test.sh: the IPv6 scenario. The NATs randomise
# IPv4 ports ("masquerade random", where IPv4 alone gives path: relay), but
# the network also routes IPv6, 2001:db8::/32 documentation prefixes,
# without NAT:
#
#   tn-srv   2001:db8::1                 STUN on [::]:3478; TCP on IPv4 only
#   tn-nat1  2001:db8::11 | 2001:db8:1::1   tn-h1  2001:db8:1::2
#   tn-nat2  2001:db8::12 | 2001:db8:2::1   tn-h2  2001:db8:2::2
#
# Each NAT forwards IPv6 through a stateful firewall that lets out what its
# host sends and lets in only what belongs to it (established, related),
# as home routers do; simultaneous open gets through because both sides
# dial. The clients reach the server by a name with both addresses
# (/etc/netns/NS/hosts, which ip netns exec puts over /etc/hosts), and
# trystd takes TCP on IPv4 only, so the control connection is IPv4 and
# WELCOME reports the random IPv4 mapping: only a client that offers and
# dials IPv6 as well, whatever family the control connection used, gets
# "path: direct [2001:db8:1::2]:P" (doc/protocol.md §6.1). Uses topo_up,
# topo_down, probe_run, tryst_run, nsx, info, result, failed, client, tmp,
# sfx, SRV and PORT from nat-test.sh and tryst.sh.

V6_NAME=tryst-nat.test

# Give namespace $1 the address $2 on interface $3 (no duplicate address
# detection: usable at once).
v6_addr() {
	ip -n "tn-$1-$sfx" -6 addr add "$2/64" dev "$3" nodad
}

# Make NAT $1 an IPv6 router for LAN $2 (2001:db8:$2::/64, host $3) with a
# stateful firewall, and route to the other LAN ($4) through its NAT.
v6_router() {
	local n=$1 lan=$2 h=$3 other=$4
	nsx "$n" sysctl -qw net.ipv6.conf.all.forwarding=1 &&
	v6_addr "$n" "2001:db8::1$lan" out &&
	v6_addr "$n" "2001:db8:$lan::1" in &&
	v6_addr "$h" "2001:db8:$lan::2" eth0 &&
	ip -n "tn-$h-$sfx" -6 route add default via "2001:db8:$lan::1" &&
	ip -n "tn-$n-$sfx" -6 route add "2001:db8:$other::/64" \
	    via "2001:db8::1$other" &&
	ip -n "tn-srv-$sfx" -6 route add "2001:db8:$lan::/64" \
	    via "2001:db8::1$lan" &&
	nsx "$n" nft -f - <<-EOF
	table ip6 filter {
		chain forward {
			type filter hook forward priority filter
			policy drop
			ct state established,related accept
			iifname "in" accept
		}
	}
	EOF
}

# The name of the server, with both its addresses, for hosts h1 and h2.
v6_hosts() {
	local h
	for h in h1 h2; do
		mkdir -p "/etc/netns/tn-$h-$sfx" &&
		printf '%s %s\n2001:db8::1 %s\n' "$SRV" "$V6_NAME" \
		    "$V6_NAME" >"/etc/netns/tn-$h-$sfx/hosts" || return 1
	done
}

# Count the STUN answers srv sends over IPv6.
v6_stun_counter() {
	nsx srv nft -f - <<-EOF
	table ip6 stun {
		chain output {
			type filter hook output priority filter
			udp sport 3478 counter
		}
	}
	EOF
}

# Does host $1 reach srv over IPv6? A TCP port with nothing on it answers
# "refused" through the NAT. Tries for up to 10 s: the links' own
# (link-local) addresses, which neighbour discovery needs, take a second
# or two of duplicate address detection after the links come up.
v6_reaches_srv() {
	local i out
	for ((i = 0; i < 10; i++)); do
		out=$(nsx "$1" timeout 1 bash -c \
		    ": 3<>/dev/tcp/2001:db8::1/9" 2>&1)
		grep -q refused <<<"$out" && return 0
	done
	info "$1 does not reach srv over IPv6: ${out:-timeout}"
	return 1
}

# Add IPv6 to the namespaces of topo_up; each host must reach srv.
v6_up() {
	v6_addr srv 2001:db8::1 out &&
	v6_router nat1 1 h1 2 && v6_router nat2 2 h2 1 && v6_hosts &&
	    v6_stun_counter && v6_reaches_srv h1 && v6_reaches_srv h2 ||
	    return 1
	info "IPv6 is routed without NAT: 2001:db8::/64 (WAN), :1::/64, :2::/64"
}

# While tryst listens on h1: its port P must be open on IPv6 there, and
# closed from outside: a connection from srv to it is dropped by nat1.
v6_unsolicited() {
	local p
	p=$(nsx h1 ss -Hltn6 | awk '{ n = split($4, a, ":"); print a[n] }' |
	    head -n 1)
	if [ -z "$p" ]; then
		info "h1 does not listen on IPv6"
		return 0
	fi
	nsx srv timeout 2 bash -c ": 3<>/dev/tcp/2001:db8:1::2/$p" 2>/dev/null
	if [ $? != 124 ]; then
		info "FAILED: unsolicited IPv6 inbound to h1 got through nat1"
		return 1
	fi
	info "h1 listens on [::]:$p; unsolicited IPv6 inbound is dropped"
}

# Each client asked trystd's STUN responder for its IPv6 mapping (WELCOME
# gave it the IPv4 one): at least two answers went out over IPv6.
v6_stun_asked() {
	local n
	n=$(nsx srv nft list chain ip6 stun output |
	    sed -n 's/.*counter packets \([0-9]*\).*/\1/p')
	if [ "${n:-0}" -lt 2 ]; then
		info "FAILED: trystd answered ${n:-0} STUN requests over IPv6"
		return 1
	fi
	info "trystd answered $n STUN requests over IPv6"
}

# The IPv6 scenario; adds a PASS or FAIL line to result.
scenario_v6() {
	local mode="masquerade random, IPv6 without NAT" ok=1 d="$tmp/s-v6"
	mkdir -p "$d"
	say "scenario \"$mode\": expect path: direct over IPv6"
	topo_up random && v6_up || ok=0
	[ $ok = 1 ] && { probe_run "$d" relay || ok=0; }
	if [ $ok = 1 ] && [ $client = 1 ]; then
		TRYST_SERVER="$V6_NAME:$PORT" \
		    TRYSTD_EXTRA="stun_listen = [::]:3478" \
		    TRYST_LISTENING=v6_unsolicited tryst_run "$d" direct6 &&
		    v6_stun_asked || ok=0
	fi
	topo_down
	if [ $ok = 0 ]; then
		result+=("FAIL: $mode")
		failed=1
	elif [ $client = 1 ]; then
		result+=("PASS: $mode (path: direct over IPv6, file intact)")
	else
		result+=("SKIP: $mode (the probe passed; no client yet)")
	fi
}
