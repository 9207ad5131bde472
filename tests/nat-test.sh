#!/usr/bin/env bash
# nat-test.sh -- tryst through two NATs, in network namespaces built here.
#
# Topology (one set of namespaces per scenario, names with a random suffix):
#
#   tn-srv   203.0.113.1    trystd, its own redis-server on 127.0.0.1
#   tn-inet  bridge         the "internet", 203.0.113.0/24
#   tn-nat1  203.0.113.11 | 198.18.1.1    tn-h1  198.18.1.2  (tryst listen)
#   tn-nat2  203.0.113.12 | 198.18.2.1    tn-h2  198.18.2.2  (tryst send)
#
# Each NAT masquerades what leaves on its outside interface and drops
# unsolicited inbound packets, forwarded or addressed to itself, as home
# routers do. Scenarios:
#
#   masquerade         the NATs keep source ports: expect "path: direct"
#   masquerade random  the NATs pick a random port per connection: expect
#                      "path: relay"
#   port mapping       as masquerade random, but the NATs run miniupnpd
#                      and the clients map their port: expect "path:
#                      direct" and no mapping left (tests/nat/portmap.sh)
#   masquerade random, IPv6 without NAT (tests/nat/v6.sh)
#                      as above for IPv4, with IPv6 routed through stateful
#                      firewalls beside it: expect "path: direct" over IPv6
#
# In each, a small probe (tests/nat/probe.c, built with cc) first checks the
# topology itself: TCP simultaneous open between the two reflexive addresses
# must work with "masquerade" and must not with "masquerade random". Then h2
# sends a random file to h1 with the real client and the file must arrive
# intact.
#
# Needs root, iproute2, nftables, redis-server, openssl; exits 77 (skipped)
# without them. The port mapping scenario also needs miniupnpd (Debian's
# miniupnpd-nftables) and coturn's turnserver, and is skipped without.
# Environment: TRYSTD, TRYSTCTL, TRYST (the binaries; meson sets them),
# LIBTRYST (the shared library, for the port mapping scenario),
# NAT_TEST_KEEP=1 keeps the temporary folder.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
: "${TRYSTD:=$top/build/server/trystd}"
: "${TRYSTCTL:=$top/build/server/trystctl}"
: "${TRYST:=$top/build/client/tryst}"

SRV=203.0.113.1
PORT=4433
NUM1=+15550100001
NUM2=+15550100002
FILE_MIB=12

say() { printf '==> %s\n' "$*"; }
info() { printf '    %s\n' "$*"; }
skip() { printf 'SKIP: %s\n' "$*"; exit 77; }

tmp=
sfx=
spaces=()
pids=()
failed=0

# Stop what runs in this scenario's namespaces, then delete them.
topo_down() {
	local p n
	for p in "${pids[@]}"; do kill "$p" 2>/dev/null; done
	for n in "${spaces[@]}"; do
		for p in $(ip netns pids "$n" 2>/dev/null); do
			kill "$p" 2>/dev/null
		done
	done
	for p in "${pids[@]}"; do wait "$p" 2>/dev/null; done
	for n in "${spaces[@]}"; do
		ip netns del "$n" 2>/dev/null
		rm -rf "/etc/netns/$n"
	done
	pids=()
	spaces=()
}

# shellcheck disable=SC2317 # called by the EXIT trap
cleanup() {
	topo_down
	if [ -n "$tmp" ]; then
		if [ "${NAT_TEST_KEEP:-0}" = 1 ]; then
			echo "kept $tmp"
		else
			rm -rf "$tmp"
		fi
	fi
}

# Run a command in namespace $1 (a short name: srv, nat1, h1, ...).
nsx() {
	local n=$1
	shift
	ip netns exec "tn-$n-$sfx" "$@"
}

# Start a command in namespace $1 in the background, output to file $2.
nsbg() {
	local n=$1 log=$2
	shift 2
	ip netns exec "tn-$n-$sfx" "$@" >"$log" 2>&1 &
	pids+=($!)
}

# Skip (exit 77) unless this machine can run the test.
preflight() {
	local t
	[ "$(id -u)" -eq 0 ] || skip "needs root for network namespaces"
	for t in ip nft redis-server redis-cli openssl cmp timeout; do
		command -v "$t" >/dev/null || skip "$t is not installed"
	done
	for t in "$TRYSTD" "$TRYSTCTL" "$TRYST"; do
		[ -x "$t" ] || skip "$t is not built"
	done
	ip netns add "tn-try-$sfx" 2>/dev/null ||
	    skip "cannot make network namespaces here"
	ip netns del "tn-try-$sfx"
}

# Make a namespace with loopback up.
mkns() {
	ip netns add "tn-$1-$sfx" || return 1
	spaces+=("tn-$1-$sfx")
	ip -n "tn-$1-$sfx" link set lo up
}

# Connect namespace $1 to the bridge as interface "out" with address $2.
plug() {
	ip -n "tn-inet-$sfx" link add "p-$1" type veth peer name out \
	    netns "tn-$1-$sfx" &&
	ip -n "tn-inet-$sfx" link set "p-$1" master br0 up &&
	ip -n "tn-$1-$sfx" addr add "$2/24" dev out &&
	ip -n "tn-$1-$sfx" link set out up
}

# Put host $2 (198.18.$3.2) behind NAT $1 (198.18.$3.1).
behind() {
	ip -n "tn-$1-$sfx" link add in type veth peer name eth0 \
	    netns "tn-$2-$sfx" &&
	ip -n "tn-$1-$sfx" addr add "198.18.$3.1/24" dev in &&
	ip -n "tn-$1-$sfx" link set in up &&
	ip -n "tn-$2-$sfx" addr add "198.18.$3.2/24" dev eth0 &&
	ip -n "tn-$2-$sfx" link set eth0 up &&
	ip -n "tn-$2-$sfx" route add default via "198.18.$3.1"
}

# Make namespace $1 a home router: masquerade ($2 is "" or "random") and
# drop whatever comes in from outside unasked.
natify() {
	nsx "$1" sysctl -qw net.ipv4.ip_forward=1 &&
	nsx "$1" nft -f - <<-EOF
	table ip nat {
		chain postrouting {
			type nat hook postrouting priority srcnat
			policy accept
			oifname "out" masquerade $2
		}
	}
	table ip filter {
		chain forward {
			type filter hook forward priority filter
			policy drop
			ct state established,related accept
			iifname "in" accept
		}
		chain input {
			type filter hook input priority filter
			policy drop
			ct state established,related accept
			iifname { "lo", "in" } accept
		}
	}
	EOF
}

# Build the namespaces for one scenario ($1: "" or "random").
topo_up() {
	local n
	sfx=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
	for n in inet srv nat1 nat2 h1 h2; do mkns "$n" || return 1; done
	ip -n "tn-inet-$sfx" link add br0 type bridge &&
	ip -n "tn-inet-$sfx" link set br0 up &&
	plug srv "$SRV" && plug nat1 203.0.113.11 && plug nat2 203.0.113.12 &&
	behind nat1 h1 1 && behind nat2 h2 2 &&
	natify nat1 "$1" && natify nat2 "$1" || return 1
	info "namespaces tn-{inet,srv,nat1,nat2,h1,h2}-$sfx are up"
}

# Wait up to $2 tenths of a second for file $1 to contain pattern $3.
wait_for() {
	local i
	for ((i = 0; i < $2; i++)); do
		grep -Eq "$3" "$1" 2>/dev/null && return 0
		sleep 0.1
	done
	return 1
}

# shellcheck source=nat/probe.sh
. "$here/nat/probe.sh"
# shellcheck source=nat/tryst.sh
. "$here/nat/tryst.sh"
# shellcheck source=nat/portmap.sh
. "$here/nat/portmap.sh"
# shellcheck source=nat/v6.sh
. "$here/nat/v6.sh"

# One scenario: $1 is "" or "random", $2 what to expect, "direct" or
# "relay". Adds a PASS or FAIL line to result.
scenario() {
	local mode="masquerade${1:+ $1}" ok=1 d="$tmp/s-${1:-plain}"
	mkdir -p "$d"
	say "scenario \"$mode\": expect path: $2"
	topo_up "$1" || ok=0
	[ $ok = 1 ] && { probe_run "$d" "$2" || ok=0; }
	[ $ok = 1 ] && [ $client = 1 ] && { tryst_run "$d" "$2" || ok=0; }
	topo_down
	if [ $ok = 0 ]; then
		result+=("FAIL: $mode")
		failed=1
	elif [ $client = 1 ]; then
		result+=("PASS: $mode (path: $2, file intact)")
	else
		result+=("SKIP: $mode (the probe passed; no client yet)")
	fi
}

trap cleanup EXIT
trap 'exit 130' INT
trap 'exit 143' TERM

sfx=$(od -An -N4 -tx1 /dev/urandom | tr -d ' \n')
preflight
tmp=$(mktemp -d /tmp/tryst-nat.XXXXXX)
say "NAT tests in network namespaces (work folder $tmp)"
client=1
tryst_ready || { client=0; info "$TRYST has no send/listen yet"; }
probe_build "$tmp" || exit 1
[ $client = 1 ] || [ -n "$probe_bin" ] || skip "nothing to run"

result=()
scenario "" direct
scenario random relay
pm_scenario
scenario_v6
say "results"
printf '%s\n' "${result[@]}"
printf 'nat: %d passed, %d failed, %d skipped\n' \
    "$(printf '%s\n' "${result[@]}" | grep -c '^PASS')" \
    "$(printf '%s\n' "${result[@]}" | grep -c '^FAIL')" \
    "$(printf '%s\n' "${result[@]}" | grep -c '^SKIP')"
[ $failed = 1 ] && exit 1
[ $client = 1 ] || exit 77
exit 0
