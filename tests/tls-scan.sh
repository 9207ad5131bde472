#!/bin/bash
#
# tls-scan.sh -- trystd's TLS listener as a client and a scanner see it.
#
# tls-scan.sh openssl: openssl s_client offering only ffdhe8192 is
#   refused (a finite-field hello cost the server ~120 ms of CPU), X25519
#   and P-256 are accepted, a client without ALPN tryst/1 is refused, no
#   session ticket is sent and no session resumed; the CPU trystd spends
#   per ffdhe8192 and X25519 hello is printed.
# tls-scan.sh testssl: testssl.sh's verdicts, from its JSON: TLS 1.3 and
#   nothing older, only X25519 and P-256, no finite-field group, and
#   without ALPN tryst/1 no TLS at all. Offline (--nodns none).
#
# Run by meson with TRYSTD and TRYSTCTL naming the binaries. Starts one
# trystd on loopback (no Redis: TLS and CHALLENGE need none) and cleans up
# after itself. Exits 77 (skip) when a tool it needs is missing.

set -u

# shellcheck source=lib.sh
. "$(dirname "$0")/lib.sh"	# free_ports; the fail() below is this test's
mode=${1:-}
dir=
pid=
fails=0

skip() {
	echo "tls-scan: SKIP: $*"
	exit 77
}

die() {
	echo "tls-scan: FAIL: $*"
	[ -n "$dir" ] && [ -f "$dir/trystd.log" ] &&
		{ echo "--- trystd log:"; tail -n 20 "$dir/trystd.log"; }
	exit 1
}

ok() { echo "ok: $*"; }
fail() {
	echo "FAIL: $*"
	fails=$((fails + 1))
}

cleanup() {
	if [ -n "$pid" ]; then
		kill "$pid" 2>/dev/null
		wait "$pid" 2>/dev/null
	fi
	[ -n "$dir" ] && [ "${TRYST_KEEP:-0}" != 1 ] && rm -rf "$dir"
	[ -n "$dir" ] && [ "${TRYST_KEEP:-0}" = 1 ] && echo "kept $dir"
}

# Start trystd on $port with its files in $dir; wait until it answers.
start_trystd() {
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
	    -nodes -keyout "$dir/key.pem" -out "$dir/cert.pem" -days 2 \
	    -subj /CN=localhost >/dev/null 2>&1 || die "openssl req failed"
	"$TRYSTCTL" keygen "$dir/master.key" >/dev/null ||
		die "trystctl keygen failed"
	port=$(free_ports tcp)
	cat >"$dir/trystd.conf" <<-EOF
	listen = 127.0.0.1:$port
	tls_cert = $dir/cert.pem
	tls_key = $dir/key.pem
	master_key = $dir/master.key
	redis = 127.0.0.1:1
	verification = dev:$dir/codes
	log_level = info
	EOF
	"$TRYSTD" -c "$dir/trystd.conf" 2>"$dir/trystd.log" &
	pid=$!
	for _ in $(seq 100); do
		kill -0 "$pid" 2>/dev/null || { pid=; die "trystd exited"; }
		grep -q 'listening on' "$dir/trystd.log" 2>/dev/null && return
		sleep 0.1
	done
	die "trystd not listening after 10 s"
}

# s_client ARGS...: one TLS 1.3 handshake, its output (NUL bytes
# dropped) in $out.
s_client() {
	out=$(timeout 20 openssl s_client -connect "127.0.0.1:$port" \
	    -tls1_3 "$@" </dev/null 2>&1 | tr -d '\000')
}

# trystd's CPU time so far in microseconds, all its threads (schedstat's
# nanoseconds where the kernel has it, else utime + stime in ticks).
cpu_us() {
	local t f sum=0
	for t in /proc/"$pid"/task/*; do
		if [ -r "$t/schedstat" ]; then
			read -r f _ <"$t/schedstat"
			sum=$((sum + f / 1000))
		else
			sum=$((sum + $(awk -v hz="$(getconf CLK_TCK)" \
			    '{ sub(/^.*\) /, ""); print int(($12 + $13) * \
			    1000000 / hz) }' "$t/stat")))
		fi
	done
	echo "$sum"
}

# Offering only ffdhe8192 is refused; X25519 and P-256 are not.
check_groups() {
	local t0 t1 i g n=20

	s_client -alpn tryst/1 -groups ffdhe8192
	if echo "$out" | grep -q '^New, TLSv1.3'; then
		fail "a client offering only ffdhe8192 got a TLS 1.3 session:"
		echo "$out" | grep -E 'Server Temp Key|^New' | sed 's/^/    /'
	elif echo "$out" | grep -qi 'handshake failure'; then
		ok "only ffdhe8192 offered: refused (handshake failure)"
	else
		fail "ffdhe8192: no session, but no handshake failure either:"
		echo "$out" | tail -n 5 | sed 's/^/    /'
	fi
	s_client -alpn tryst/1 -groups X25519
	echo "$out" | grep -q '^Server Temp Key: X25519' &&
	    echo "$out" | grep -q '^ALPN protocol: tryst/1' &&
	    ok "X25519 is accepted (ALPN tryst/1)" ||
	    fail "X25519 refused: $(echo "$out" | tail -n 3)"
	s_client -alpn tryst/1 -groups P-256
	echo "$out" | grep -q '^Server Temp Key: ECDH, prime256v1' &&
	    ok "P-256 is accepted" ||
	    fail "P-256 refused: $(echo "$out" | tail -n 3)"

	# Without ALPN tryst/1, or with another protocol: refused.
	s_client
	echo "$out" | grep -q 'no application protocol' &&
	    ok "a client without ALPN is refused (no_application_protocol)" ||
	    fail "a client without ALPN: $(echo "$out" | grep -E '^New|alert')"
	s_client -alpn h2,http/1.1
	echo "$out" | grep -q 'no application protocol' &&
	    ok "a client with ALPN h2,http/1.1 is refused" ||
	    fail "ALPN h2,http/1.1: $(echo "$out" | grep -E '^New|alert')"

	# No resumption: no ticket after the handshake (s_client stays a
	# second to see one), so nothing to resume; a session that was saved
	# anyway is not taken back.
	out=$( (sleep 1) | timeout 20 openssl s_client -connect \
	    "127.0.0.1:$port" -alpn tryst/1 -sess_out "$dir/sess.pem" 2>&1 |
	    tr -d '\000')
	echo "$out" | grep -q '^New, TLSv1.3' || fail "no session to save"
	echo "$out" | grep -q 'New Session Ticket' &&
	    fail "trystd sent a session ticket" ||
	    ok "no session ticket within a second of the handshake"
	if [ ! -s "$dir/sess.pem" ]; then
		ok "s_client had no resumable session to save"
	else
		s_client -alpn tryst/1 -sess_in "$dir/sess.pem"
		echo "$out" | grep -q '^New, TLSv1.3' &&
		    ok "a saved session is not resumed (a full handshake)" ||
		    fail "a saved session: $(echo "$out" |
		    grep -E '^(New|Reused)')"
	fi

	# The figure: trystd's CPU per ffdhe8192 ClientHello.
	for g in ffdhe8192 X25519; do
		t0=$(cpu_us)
		for i in $(seq $n); do
			s_client -alpn tryst/1 -groups $g
		done
		t1=$(cpu_us)
		echo "figure: trystd CPU per ClientHello offering only $g:" \
		    "$(((t1 - t0) / n)) us ($n hellos)"
	done
}

# The finding with id $2 in the flat JSON file $1: "severity finding".
finding() {
	python3 - "$1" "$2" <<-'EOF'
	import json, sys
	for f in json.load(open(sys.argv[1])):
	    if f.get("id") == sys.argv[2]:
	        print(f.get("severity", ""), f.get("finding", ""))
	        break
	else:
	    print("MISSING")
	EOF
}

# The scanner as a tryst client: an openssl that adds -alpn tryst/1 to
# every s_client command without one, and a copy of testssl whose own
# (socket) ClientHellos carry ALPN tryst/1 unless a test sets ALPN itself.
# Without that, trystd refuses every hello it sends and nothing is checked.
alpn_scanner() {
	local anchor='# If the ClientHello will include the ALPN extension'
	cat >"$dir/openssl" <<-'EOF'
	#!/bin/sh
	if [ "${1:-}" = s_client ]; then
		case " $* " in
		*" -alpn "*) ;;
		*) shift; exec /usr/bin/openssl s_client -alpn tryst/1 "$@" ;;
		esac
	fi
	exec /usr/bin/openssl "$@"
	EOF
	chmod +x "$dir/openssl"
	grep -q "$anchor" "$testssl" ||
		die "$testssl has changed: no \"$anchor\" to add ALPN before"
	# Extension 16 (ALPN), 10 bytes: a list of 8 bytes, "tryst/1".
	awk -v anchor="$anchor" -v alpn='00,10,00,0a,00,08,07,'\
'74,72,79,73,74,2f,31' 'index($0, anchor) {
		print "if [[ ! $extra_extensions_list =~ \" 0010 \" ]]; then"
		print "  [[ -n $all_extensions ]] && all_extensions+=,"
		print "  all_extensions+=" alpn
		print "  extra_extensions_list+=\" 0010 \""
		print "fi"
	} { print }' "$testssl" >"$dir/testssl"
	chmod +x "$dir/testssl"
}

# scan NAME SCANNER ARGS...: one narrow scan into $dir/NAME.json.
scan() {
	local name=$1 scanner=$2 t0
	shift 2
	t0=$(date +%s)
	timeout 600 "$scanner" --quiet --color 0 --warnings batch --nodns none \
	    --connect-timeout 10 --openssl-timeout 10 \
	    --jsonfile "$dir/$name.json" "$@" "127.0.0.1:$port" \
	    >"$dir/$name.out" 2>&1
	echo "figure: testssl $* took $(($(date +%s) - t0)) s"
	[ -s "$dir/$name.json" ] || die "testssl $*: no JSON:" \
	    "$(tail -n 20 "$dir/$name.out")"
}

check_testssl() {
	local v id curves

	alpn_scanner
	scan with-alpn "$dir/testssl" --openssl "$dir/openssl" -p -f -S
	for id in SSLv2 SSLv3 TLS1 TLS1_1 TLS1_2; do
		v=$(finding "$dir/with-alpn.json" "$id")
		case $v in
		*"not offered"*) ok "$id: $v" ;;
		*) fail "$id: $v" ;;
		esac
	done
	v=$(finding "$dir/with-alpn.json" TLS1_3)
	case $v in
	"OK offered"*) ok "TLS1_3: $v" ;;
	*) fail "TLS1_3: $v" ;;
	esac
	# PFS_ in testssl 3.0, FS_ from 3.1 on.
	curves=$(finding "$dir/with-alpn.json" PFS_ECDHE_curves)
	[ "$curves" = MISSING ] &&
		curves=$(finding "$dir/with-alpn.json" FS_ECDHE_curves)
	case " ${curves#* } " in
	" prime256v1 X25519 ") ok "curves: $curves" ;;
	*) fail "curves other than X25519 and P-256: $curves" ;;
	esac
	v=$(finding "$dir/with-alpn.json" DH_groups)
	[ "$v" = MISSING ] && ok "no finite-field group offered" ||
	    fail "finite-field groups: $v"
	# Printed, not asserted: testssl 3.0 closes before a TLS 1.3 server
	# sends its tickets, so it reports "not supported" even for a server
	# that resumes (tried); "tls-scan.sh openssl" checks resumption.
	for id in sessionresumption_ticket sessionresumption_ID \
	    TLS_session_ticket; do
		echo "info: $id: $(finding "$dir/with-alpn.json" "$id")"
	done

	# The same scanner without ALPN tryst/1 finds no TLS at all.
	scan no-alpn "$testssl" -p
	v=$(finding "$dir/no-alpn.json" optimal_proto)
	case $v in
	*"doesn't seem to be a TLS/SSL enabled server"*)
		ok "without ALPN tryst/1: $v" ;;
	*) fail "without ALPN tryst/1: optimal_proto: $v" ;;
	esac
}

case $mode in
openssl | testssl) ;;
*) echo "usage: tls-scan.sh openssl|testssl" >&2; exit 2 ;;
esac
command -v openssl >/dev/null 2>&1 || skip "openssl is not installed"
command -v python3 >/dev/null 2>&1 || skip "python3 is not installed"
command -v timeout >/dev/null 2>&1 || skip "timeout is not installed"
testssl=$(command -v testssl testssl.sh | head -n 1)
[ "$mode" = testssl ] && [ -z "$testssl" ] &&
	skip "testssl (Debian package testssl.sh) is not installed"
[ -x "${TRYSTD:-}" ] || die "TRYSTD does not name trystd"
[ -x "${TRYSTCTL:-}" ] || die "TRYSTCTL does not name trystctl"

trap cleanup EXIT
trap 'exit 1' HUP INT TERM
dir=$(mktemp -d "${TMPDIR:-/tmp}/tls-scan.XXXXXX") ||
	die "cannot make a temporary directory"
start_trystd
if [ "$mode" = openssl ]; then
	check_groups
else
	check_testssl
fi
kill -0 "$pid" 2>/dev/null || { pid=; die "trystd died during the scan"; }
[ "$fails" -eq 0 ] || die "$fails checks failed"
echo "tls-scan $mode: ok"
exit 0
