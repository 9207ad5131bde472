#!/usr/bin/env bash
# unit-reload-test.sh -- "systemctl reload trystd" fails when trystd would
# refuse what it is asked to load. The ExecReload= lines of the configured
# trystd.service are run the way systemd runs them (in order, each with
# $CREDENTIALS_DIRECTORY and $MAINPID set; the first that fails fails the
# reload and the rest do not run), against a real trystd that takes its
# TLS key and master key as credential:NAME. The paths of trystd and its
# configuration become the test's, and the service's user and group given
# to setpriv the test's own. A good configuration reloads (trystd logs
# it); a certificate of another key, a certificate that is not PEM, a
# missing credential and a configuration with a bad value each make the
# reload fail with a line that says why, and trystd, never signalled,
# serves on.
#
# usage: unit-reload-test.sh UNIT (the configured trystd.service)
# Environment: TRYSTD (meson sets it), UNIT_RELOAD_KEEP=1 keeps the
# temporary folder. Exits 77 (skipped) without openssl, or when not root
# (the check enters trystd's mount namespace, as systemd's "+" lets it).
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
top=$(cd "$here/.." && pwd)
: "${TRYSTD:=$top/build/server/trystd}"
unit=${1:?usage: $0 UNIT}

command -v openssl >/dev/null 2>&1 || { echo "SKIP: no openssl"; exit 77; }
[ "$(id -u)" = 0 ] || { echo "SKIP: not root"; exit 77; }

# shellcheck source=lib.sh
. "$here/lib.sh"
lib_begin unit-reload UNIT_RELOAD_KEEP

# The ExecReload= lines, continuations joined, with the installed paths of
# trystd and its configuration and the service's user and group replaced.
sed -e ':a' -e '/\\$/N; s/\\\n[[:space:]]*/ /; ta' "$unit" |
    sed -n 's/^ExecReload=//p' | sed -e "s|[^ ]*/trystd |$TRYSTD |" \
    -e "s|[^ ]*/trystd\\.conf|$tmp/trystd.conf|g" \
    -e "s|--reuid=[^ ]*|--reuid=$(id -un)|" \
    -e "s|--regid=[^ ]*|--regid=$(id -gn)|" >"$tmp/reload"
[ -s "$tmp/reload" ] || { fail "$unit: no ExecReload="; exit 1; }
echo "ExecReload= as run here:"
sed 's/^/  /' "$tmp/reload"

# reload: what systemd does for "systemctl reload": each line in turn
# ("+", privileged: as this test is), split into words as systemd does
# ($MAINPID as a word: the pid; $$: a $), the first failure ending it with
# its status. Their output in reload.out.
reload() {
	local line st words
	: >"$tmp/reload.out"
	while IFS= read -r line; do
		line=${line#+}
		case $line in
		[-@:!+]*) fail "ExecReload= prefix not handled here: $line"
			return 99 ;;
		esac
		line=" $line "
		line=${line// \$MAINPID / $trystd_pid }
		line=${line//\$\$/\\\$}
		eval "words=($line)"
		CREDENTIALS_DIRECTORY=$tmp/creds MAINPID=$trystd_pid \
		    "${words[@]}" >>"$tmp/reload.out" 2>&1
		st=$?
		[ $st -eq 0 ] || return $st
	done <"$tmp/reload"
	return 0
}

# ---- trystd with its key and master key as credentials -------------------
# cert (a certificate of key.pem), other.pem (of another key).
cd "$tmp" || exit 1
for n in key other; do
	openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 \
	    -nodes -keyout "$n.pem" -out "$n.crt" -days 2 -subj /CN=$n \
	    2>/dev/null || { fail "openssl req"; exit 1; }
done
mkdir creds
cp key.pem creds/tls.key
cp key.crt cert.pem
"${TRYSTCTL:-$(dirname "$TRYSTD")/trystctl}" keygen creds/master.key
port=$(free_ports tcp) || { fail "no free port"; exit 1; }
cat >trystd.conf <<CONF
listen = 127.0.0.1:$port
tls_cert = $tmp/cert.pem
tls_key = credential:tls.key
master_key = credential:master.key
redis = 127.0.0.1:1
verification = dev:$tmp/codes.txt
CONF
cp trystd.conf good.conf
CREDENTIALS_DIRECTORY=$tmp/creds "$TRYSTD" -c trystd.conf 2>>trystd.log &
trystd_pid=$!
pids+=("$trystd_pid")
for _ in $(seq 100); do
	grep -q listening trystd.log && break
	sleep 0.1
done
grep -q listening trystd.log || { fail "trystd did not start";
    cat trystd.log; exit 1; }

# serves: a TLS handshake with trystd gets the certificate of key.pem.
serves() {
	local got
	got=$(openssl s_client -connect "127.0.0.1:$port" -alpn tryst/1 \
	    </dev/null 2>/dev/null | openssl x509 -noout -subject 2>/dev/null)
	[[ $got == *CN*=*key ]]
}

# reloads_ok WHAT: the reload succeeds and trystd says it reloaded.
reloads_ok() {
	local n
	n=$(grep -c "configuration and certificate reloaded" trystd.log)
	if ! reload; then
		fail "$1: reload failed: $(cat reload.out)"
		return
	fi
	for _ in $(seq 50); do
		[ "$(grep -c "configuration and certificate reloaded" \
		    trystd.log)" -gt "$n" ] && break
		sleep 0.1
	done
	[ "$(grep -c "configuration and certificate reloaded" trystd.log)" \
	    -gt "$n" ] && ok "$1: reload succeeds and trystd reloaded" ||
	    fail "$1: reload succeeded but trystd did not reload"
}

# refused WHAT TEXT: the reload fails, its output says TEXT, trystd was not
# signalled (no new line in its log) and still serves.
refused() {
	local n st
	n=$(wc -l <trystd.log)
	reload
	st=$?
	sleep 0.3
	if [ $st -eq 0 ]; then
		fail "$1: reload succeeded (trystd: $(tail -n 1 trystd.log))"
	elif ! grep -qF -- "$2" reload.out; then
		fail "$1: reload failed ($st), not saying \"$2\": $(cat reload.out)"
	elif [ "$(wc -l <trystd.log)" -ne "$n" ]; then
		fail "$1: trystd was signalled: $(tail -n 1 trystd.log)"
	elif ! serves; then
		fail "$1: trystd no longer serves its certificate"
	else
		ok "$1: reload fails ($st): $(cat reload.out)"
	fi
}

serves || fail "trystd does not serve key.pem's certificate"
reloads_ok "good configuration"
cp other.crt cert.pem
refused "certificate of another key" "key values mismatch"
printf 'not a certificate\n' >cert.pem
refused "certificate not PEM" "no start line"
cp key.crt cert.pem
mv creds/tls.key creds/tls.key.away
refused "credential tls.key missing" "creds/tls.key"
mv creds/tls.key.away creds/tls.key
printf 'max_connections = many\n' >>trystd.conf
refused "bad value in trystd.conf" "max_connections"
cp good.conf trystd.conf
reloads_ok "good configuration again"
kill -0 "$trystd_pid" 2>/dev/null || fail "trystd is gone"

grep -E 'ERROR: AddressSanitizer|runtime error:' trystd.log &&
    fail "sanitizer report in trystd.log"
if [ "$fails" -ne 0 ]; then
	echo "---- trystd.log"
	tail -n 20 trystd.log
	echo "$fails check(s) failed"
	exit 1
fi
echo "all checks passed"
