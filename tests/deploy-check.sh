#!/bin/sh
# deploy-check.sh -- offline checks of what "meson install" puts in place:
# the exact set of installed files, systemd-analyze verify and security on
# the units, the man pages without groff warnings and in step with the
# programs, and the ACL of redis-tryst.conf against a real redis-server.
#
# usage: deploy-check.sh SRCDIR BUILDDIR MESON BINDIR SBINDIR CONFDIR
#            MANDIR UNITDIR SYSUSERSDIR TMPFILESDIR
# The directories are the absolute install paths. Exit 77 (skipped)
# without systemd-analyze.
set -eu

[ $# -eq 10 ] || { echo "usage: $0 SRCDIR BUILDDIR MESON DIRS..." >&2; exit 2; }
src=$1 build=$2 meson=$3 bindir=$4 sbindir=$5 confdir=$6 mandir=$7
unitdir=$8 sysusersdir=$9 tmpfilesdir=${10}

command -v systemd-analyze >/dev/null 2>&1 || {
	echo "SKIP: no systemd-analyze"
	exit 77
}

tmp=$(mktemp -d "${TMPDIR:-/tmp}/deploy-check.XXXXXX")
redis_pid=
cleanup() {
	if [ -n "$redis_pid" ]; then
		kill "$redis_pid" 2>/dev/null && wait "$redis_pid" 2>/dev/null
	fi
	rm -rf "$tmp"
}
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

# ---- meson install --destdir: exactly these files --------------------------
root=$tmp/root
"$meson" install -C "$build" --no-rebuild --quiet --destdir "$root" \
    >"$tmp/install.log" 2>&1 || {
	cat "$tmp/install.log"
	fail "meson install"
	exit 1
}
(cd "$root" && find . \( -type f -o -type l \) | sed 's|^\.||' | sort) \
    >"$tmp/got"
sort >"$tmp/want" <<EOF
$bindir/tryst
$sbindir/trystd
$sbindir/trystctl
$confdir/trystd.conf
$confdir/redis-tryst.conf
$unitdir/trystd.service
$unitdir/redis-tryst.service
$unitdir/trystctl-compact.service
$unitdir/trystctl-compact.timer
$sysusersdir/tryst.conf
$tmpfilesdir/tryst.conf
$mandir/man1/tryst.1
$mandir/man5/trystd.conf.5
$mandir/man8/trystctl.8
$mandir/man8/trystd.8
EOF
if diff -u "$tmp/want" "$tmp/got"; then
	ok "meson install puts exactly $(wc -l <"$tmp/want") files in place"
else
	fail "installed files differ from the expected set (- expected, + installed)"
fi
cmp -s "$src/conf/trystd.conf" "$root$confdir/trystd.conf" ||
    fail "installed trystd.conf differs from conf/trystd.conf"
for u in trystd.service redis-tryst.service trystctl-compact.service; do
	grep -q '@[A-Z]*@' "$root$unitdir/$u" && fail "$u: unsubstituted @VAR@"
	grep -q "^ExecStart=.*$confdir/" "$root$unitdir/$u" ||
	    fail "$u: ExecStart does not name $confdir"
done

# ---- systemd-analyze verify ------------------------------------------------
# The installed units with their programs' paths moved into the destdir,
# so that verify finds the executables; man pages from the destdir.
units=$tmp/units
mkdir "$units"
for u in trystd.service redis-tryst.service trystctl-compact.service \
    trystctl-compact.timer; do
	sed "s|$sbindir/|$root$sbindir/|g" "$root$unitdir/$u" >"$units/$u"
done
check_units="./trystd.service ./trystctl-compact.service"
check_units="$check_units ./trystctl-compact.timer"
if [ -x /usr/bin/redis-server ]; then
	check_units="$check_units ./redis-tryst.service"
else
	echo "note: no /usr/bin/redis-server; redis-tryst.service not verified"
fi
# verify exits 0 on unknown keys and bad values: any output is a failure.
if (cd "$units" && MANPATH="$root$mandir:" systemd-analyze verify \
    $check_units) >"$tmp/verify" 2>&1 && [ ! -s "$tmp/verify" ]; then
	ok "systemd-analyze verify $check_units"
else
	cat "$tmp/verify"
	fail "systemd-analyze verify"
fi

# ---- systemd-analyze security --offline, through deploy/security-score ------
score() {
	"$src/deploy/security-score" "$1" | awk '{ print $2 }'
}
ref=/lib/systemd/system/redis-server.service
if [ -f "$ref" ]; then
	limit=$(score "$ref")
	what="Debian's redis-server.service"
else
	limit=1.2
	what="1.2"
fi
for u in trystd.service redis-tryst.service trystctl-compact.service; do
	s=$(score "$units/$u")
	echo "security: $u exposure $s (limit: $what, $limit)"
	if [ -z "$s" ] ||
	    ! awk -v s="$s" -v l="$limit" 'BEGIN { exit !(s <= l) }'; then
		fail "$u: exposure ${s:-unknown} above $limit"
	fi
done

# ---- man pages -------------------------------------------------------------
for page in "$root$mandir"/man*/*; do
	name=${page##*/}
	: >"$tmp/manwarn"
	if command -v groff >/dev/null 2>&1; then
		groff -t -man -ww -z "$page" >>"$tmp/manwarn" 2>&1 || true
	fi
	if command -v man >/dev/null 2>&1; then
		LC_ALL=C.UTF-8 MANWIDTH=80 man --warnings -E UTF-8 -l "$page" \
		    2>>"$tmp/manwarn" >/dev/null || true
	fi
	if [ -s "$tmp/manwarn" ]; then
		cat "$tmp/manwarn"
		fail "$name: formatter warnings"
	else
		ok "$name formats without warnings"
	fi
done

# Every key of conf/trystd.conf in trystd.conf(5), with its default, its
# range and whether SIGHUP reloads it.
awk '
/^# default: / {
	d = $0; sub(/^# default: /, "", d)
	reload = "needs a restart"
	if (d ~ /reload on SIGHUP: yes/)
		reload = "SIGHUP reloads it"
	sub(/ \(reload on SIGHUP: (yes|no)\)$/, "", d)
	range = ""
	if (match(d, /, range [0-9]+\.\.[0-9]+$/)) {
		range = substr(d, RSTART + 8)
		d = substr(d, 1, RSTART - 1)
		sub(/\.\./, " to ", range)
		range = "range " range
	}
	getline kl
	sub(/^#/, "", kl); sub(/ *=.*/, "", kl)
	print kl "|" d "|" range "|" reload
}' "$src/conf/trystd.conf" >"$tmp/keys"
[ -s "$tmp/keys" ] || fail "no keys read from conf/trystd.conf"
nkeys=0
while IFS="|" read -r key def range reload; do
	nkeys=$((nkeys + 1))
	para=$(awk -v k=".B $key" '
	    $0 == k && prev == ".TP" { on = 1; next }
	    { prev = $0 }
	    on && /^\.(TP|SH|SS)/ { exit }
	    on { print }' "$src/man/trystd.conf.5" | tr '\n' ' ')
	case "$para" in
	"")	fail "trystd.conf.5: no entry for $key"; continue ;;
	esac
	case "$para" in
	*"Default $def"[,\;]*) ;;
	*)	fail "trystd.conf.5: $key: default is not \"$def\"" ;;
	esac
	[ -z "$range" ] || case "$para" in
	*"$range;"*) ;;
	*)	fail "trystd.conf.5: $key: not \"$range\"" ;;
	esac
	case "$para" in
	*"$reload"*) ;;
	*)	fail "trystd.conf.5: $key: does not say \"$reload\"" ;;
	esac
done <"$tmp/keys"
ok "trystd.conf.5 checked against $nkeys keys of conf/trystd.conf"

# Every command in the programs' usage is in their page.
"$root$sbindir/trystctl" 2>"$tmp/usage" || true
for cmd in $(sed -n 's/.*trystctl \(-c FILE \)\{0,1\}\([a-z-]*\).*/\2/p' \
    "$tmp/usage"); do
	grep -q "^\.B[IR]* $cmd\b" "$src/man/trystctl.8" ||
	    fail "trystctl.8: no command $cmd"
done
"$root$bindir/tryst" help >"$tmp/usage" 2>&1 || true
n=0
for cmd in $(sed -n 's/^[a-z: ]*tryst \([a-z-]*\).*/\1/p' "$tmp/usage"); do
	n=$((n + 1))
	grep -q "^\.B[IR]* $(echo "$cmd" | sed 's/-/\\\\-/g')\b" "$src/man/tryst.1" ||
	    fail "tryst.1: no command $cmd"
done
[ "$n" -ge 4 ] || fail "tryst help listed $n commands"
ok "command lists of tryst.1 ($n) and trystctl.8 match the programs"

# ---- sysusers.d and tmpfiles.d ---------------------------------------------
if command -v systemd-sysusers >/dev/null 2>&1; then
	mkdir -p "$tmp/sysroot/etc"
	if systemd-sysusers --dry-run --root="$tmp/sysroot" \
	    "$root$sysusersdir/tryst.conf" >"$tmp/sysusers" 2>&1 &&
	    grep -q "tryst" "$tmp/sysusers" &&
	    grep -q "redis-tryst" "$tmp/sysusers"; then
		ok "sysusers.d/tryst.conf parses"
	else
		cat "$tmp/sysusers"
		fail "sysusers.d/tryst.conf"
	fi
fi
grep -q '^d  *\/run\/redis-tryst  *0750  *redis-tryst  *redis-tryst ' \
    "$root$tmpfilesdir/tryst.conf" || fail "tmpfiles.d: /run/redis-tryst line"

# ---- redis-tryst.conf against a real Redis ---------------------------------
if command -v redis-server >/dev/null 2>&1 &&
    command -v redis-cli >/dev/null 2>&1; then
	conf=$root$confdir/redis-tryst.conf
	grep -q '^port 0$' "$conf" || fail "redis-tryst.conf: TCP not off"
	grep -q '^unixsocket /run/redis-tryst/redis.sock$' "$conf" ||
	    fail "redis-tryst.conf: socket path"
	# The placeholder keeps Redis from starting.
	sed "s|^dir .*|dir $tmp|" "$conf" >"$tmp/r1.conf"
	if timeout 10 redis-server "$tmp/r1.conf" --unixsocket "$tmp/r1.sock" \
	    --supervised no >"$tmp/r1.log" 2>&1; then
		fail "redis-server started with the password placeholder"
	else
		grep -q "password hash" "$tmp/r1.log" ||
		    fail "redis-server: unexpected failure: $(tail -1 "$tmp/r1.log")"
	fi
	pw=deploy-check-password
	hash=$(printf %s "$pw" | sha256sum | cut -d' ' -f1)
	sed "s|^dir .*|dir $tmp|; s|#SHA256-OF-THE-PASSWORD|#$hash|" "$conf" \
	    >"$tmp/r2.conf"
	sock=$tmp/r2.sock
	redis-server "$tmp/r2.conf" --unixsocket "$sock" --supervised no \
	    --logfile "$tmp/r2.log" &
	redis_pid=$!
	i=0
	while [ ! -S "$sock" ] && [ $i -lt 50 ]; do sleep 0.1; i=$((i + 1)); done
	r() {
		timeout 5 redis-cli -s "$sock" --no-auth-warning \
		    --user trystd --pass "$pw" "$@" 2>&1
	}
	# is REPLY ARGS...: the reply, its lines joined by blanks, is REPLY.
	is() {
		want=$1; shift
		got=$(r "$@" | tr '\n' ' ' | sed 's/ $//')
		[ "$got" = "$want" ] || fail "redis $*: got \"$got\", wanted \"$want\""
	}
	# has TEXT ARGS...: the reply contains TEXT.
	has() {
		want=$1; shift
		got=$(r "$@" | tr '\n' ' ')
		case "$got" in
		*"$want"*) ;;
		*)	fail "redis $*: got \"$got\", wanted \"$want\"" ;;
		esac
	}
	[ "$(stat -c %a "$sock")" = 770 ] || fail "socket mode $(stat -c %a "$sock")"
	got=$(redis-cli -s "$sock" ping 2>&1)
	case "$got" in *NOAUTH*) ;; *) fail "default user answers: $got" ;; esac
	is PONG ping
	is 2 hset 'acct:{ab}' created 1 seen 2
	is "1 2" hmget 'acct:{ab}' created seen
	is 1 hget 'acct:{ab}' created
	is 1 expireat 'acct:{ab}' 99999999999
	is 1 incr 'rl:code:{ab}:1'
	is 1 get 'rl:code:{ab}:1'
	is OK set 'vt:00' 1
	is 1 set 'vt:00' 2 KEEPTTL GET
	is 1 exists 'acct:{ab}'
	is 0 publish tryst:revoke x
	is 2 hset 'rl:disc:{ab}' tokens 5 day 1
	is 5 eval "return redis.call('HMGET', KEYS[1], 'tokens')[1]" 1 'rl:disc:{ab}'
	has "rewriting" bgrewriteaof
	is 1 del 'acct:{ab}'
	# trystctl itself, as the trystd user: stats, lookup, compact.
	printf %s "$pw" >"$tmp/redis.pass"
	"$build/server/trystctl" keygen "$tmp/master.key"
	cat >"$tmp/ctl.conf" <<-CONF
	listen = 127.0.0.1:1
	tls_cert = $tmp/cert.pem
	tls_key = $tmp/key.pem
	master_key = $tmp/master.key
	redis = unix:$sock
	redis_user = trystd
	redis_password_file = $tmp/redis.pass
	verification = dev:$tmp/codes.txt
	CONF
	now=$(date +%s)
	is 2 hset 'acct:{cd}' created "$now" seen $((now / 86400 * 86400))
	is 2 hset 'acct:{ef}' created $((now - 90 * 86400)) \
	    seen $((now / 86400 * 86400 - 10 * 86400))
	ctl() { "$build/server/trystctl" -c "$tmp/ctl.conf" "$@" 2>&1; }
	got=$(ctl stats --json)
	[ "$got" = '{"accounts": 2, "created_30d": 1, "seen_today": 1, "seen_7d": 1, "seen_30d": 2}' ] ||
	    fail "trystctl stats: $got"
	got=$(ctl lookup +15550109999)
	[ "$got" = "+15550109999: no account" ] || fail "trystctl lookup: $got"
	# Started, or (the test's own BGREWRITEAOF above may still run)
	# already under way.
	case $(ctl compact) in
	*rewriting* | *"already under way"*) ;;
	*) fail "trystctl compact: $(ctl compact)" ;;
	esac
	is 2 del 'acct:{cd}' 'acct:{ef}'
	has NOPERM keys '*'
	has NOPERM flushall
	has NOPERM config get dir
	has NOPERM acl setuser intruder on
	has NOPERM shutdown nosave
	has NOPERM hset other a 1
	has NOPERM publish other x
	has NOPERM subscribe other
	has "can't run this command" eval "return redis.call('KEYS', '*')" 0
	[ $fails -eq 0 ] && ok "redis-tryst.conf: the trystd user may do" \
	    "what trystd does, and no more"
else
	echo "note: no redis-server; redis-tryst.conf not exercised"
fi

if [ $fails -ne 0 ]; then
	echo "$fails check(s) failed"
	exit 1
fi
echo "all deploy checks passed"
