#!/bin/sh
# deploy-check.sh -- offline checks of what "meson install" puts in place:
# the exact set of installed files, configuration files kept over an
# operator's edits on a second install, systemd-analyze verify and security
# on the units, the man pages without groff warnings and in step with the
# programs, the ACL of redis-tryst.conf against a real redis-server, the
# certbot deploy hook, and send-code.example against a local HTTP server.
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
http_pid=
cleanup() {
	for pid in $redis_pid $http_pid; do
		kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
	done
	rm -rf "$tmp"
}
trap cleanup EXIT
fails=0
fail() { echo "FAIL: $*"; fails=$((fails + 1)); }
ok() { echo "ok: $*"; }

# ---- meson install --destdir: exactly these files --------------------------
# The examples folder is $datadir/doc/tryst/examples, from the build's options.
datadir=$("$meson" introspect "$build" --buildoptions 2>/dev/null |
    python3 -c 'import json, os, sys
o = {x["name"]: x["value"] for x in json.load(sys.stdin)}
print(os.path.join(o["prefix"], o["datadir"]))' 2>/dev/null) ||
    datadir=${mandir%/*}
exampledir=$datadir/doc/tryst/examples
# install-conf.sh's records: $localstatedir/lib/tryst/conf-dist.
recorddir=$("$meson" introspect "$build" --buildoptions 2>/dev/null |
    python3 -c 'import json, os, sys
o = {x["name"]: x["value"] for x in json.load(sys.stdin)}
print(os.path.join(o["prefix"], o["localstatedir"]))' 2>/dev/null)/lib/tryst/conf-dist
# libtryst: $libdir and $includedir, from the build's options.
dirs=$("$meson" introspect "$build" --buildoptions |
    python3 -c 'import json, os, sys
o = {x["name"]: x["value"] for x in json.load(sys.stdin)}
print(os.path.join(o["prefix"], o["libdir"]),
      os.path.join(o["prefix"], o["includedir"]))')
libdir=${dirs% *} includedir=${dirs#* }
root=$tmp/root
# meson_install: install into $root; the installed files in $tmp/got.
meson_install() {
	"$meson" install -C "$build" --no-rebuild --quiet --destdir "$root" \
	    >"$tmp/install.log" 2>&1 || {
		cat "$tmp/install.log"
		fail "meson install"
		exit 1
	}
	(cd "$root" && find . \( -type f -o -type l \) | sed 's|^\.||' |
	    sort) >"$tmp/got"
}
meson_install
sort >"$tmp/want" <<EOF
$bindir/tryst
$bindir/tryst-bench
$sbindir/trystd
$sbindir/trystctl
$sbindir/trystd-deliver
$confdir/trystd.conf
$confdir/trystd-deliver.conf
$exampledir/trystd-deliver.conf
$recorddir/trystd-deliver.conf
$unitdir/tryst-deliver.service
$unitdir/tryst-deliver.socket
$mandir/man8/trystd-deliver.8
$confdir/redis-tryst.conf
$exampledir/trystd.conf
$exampledir/redis-tryst.conf
$recorddir/trystd.conf
$recorddir/redis-tryst.conf
$unitdir/trystd.service
$unitdir/trystd@.service
$unitdir/redis-tryst.service
$unitdir/trystctl-compact.service
$unitdir/trystctl-compact.timer
$sysusersdir/tryst.conf
$tmpfilesdir/tryst.conf
$mandir/man1/tryst.1
$mandir/man1/tryst-bench.1
$mandir/man5/trystd.conf.5
$mandir/man8/trystctl.8
$mandir/man8/trystd.8
$libdir/libtryst.so
$libdir/libtryst.so.0
$libdir/libtryst.so.0.1.0
$libdir/libtryst.a
$libdir/pkgconfig/tryst.pc
$includedir/tryst.h
EOF
if diff -u "$tmp/want" "$tmp/got"; then
	ok "meson install puts exactly $(wc -l <"$tmp/want") files in place"
else
	fail "installed files differ from the expected set (- expected, + installed)"
fi
for f in conf/trystd.conf deploy/redis-tryst.conf conf/trystd-deliver.conf; do
	n=${f#*/}
	cmp -s "$src/$f" "$root$confdir/$n" || fail "installed $n differs from $f"
	cmp -s "$src/$f" "$root$exampledir/$n" || fail "example $n differs from $f"
	m=$(stat -c %a "$root$confdir/$n" 2>/dev/null) || m=none
	[ "$m" = 644 ] || fail "$confdir/$n: mode $m, not 644"
done
for u in trystd.service redis-tryst.service trystctl-compact.service \
    tryst-deliver.service trystd@.service; do
	grep -q '@[A-Z]*@' "$root$unitdir/$u" && fail "$u: unsubstituted @VAR@"
	grep -q "^ExecStart=.*$confdir/" "$root$unitdir/$u" ||
	    fail "$u: ExecStart does not name $confdir"
done

# ---- configuration files survive a second install --------------------------
# An edited trystd.conf stays as it is; with the same shipped default, no
# .new. When the default changed since (the record says another version
# was installed before), the new version lands beside it as trystd.conf.new;
# an unchanged file gets no .new.
conf=$root$confdir
printf '# edited by deploy-check\n' >>"$conf/trystd.conf"
cp "$conf/trystd.conf" "$tmp/edited.conf"
meson_install
cmp -s "$tmp/edited.conf" "$conf/trystd.conf" ||
    fail "same version again: the edited trystd.conf was not kept"
[ ! -e "$conf/trystd.conf.new" ] ||
    fail "same version again: trystd.conf.new, yet the default is the same"
diff -u "$tmp/want" "$tmp/got" ||
    fail "same version again: files differ (- expected, + installed)"
cmp -s "$src/conf/trystd.conf" "$root$recorddir/trystd.conf" ||
    fail "the record of trystd.conf is not conf/trystd.conf"
printf '# an older default\n' >>"$root$recorddir/trystd.conf"
meson_install
cmp -s "$tmp/edited.conf" "$conf/trystd.conf" ||
    fail "second install: the edited trystd.conf was not kept"
cmp -s "$src/conf/trystd.conf" "$conf/trystd.conf.new" ||
    fail "second install: trystd.conf.new is not conf/trystd.conf"
[ ! -e "$conf/redis-tryst.conf.new" ] ||
    fail "second install: redis-tryst.conf.new for an unchanged file"
{ cat "$tmp/want"; echo "$confdir/trystd.conf.new"; } | sort >"$tmp/want2"
diff -u "$tmp/want2" "$tmp/got" ||
    fail "second install: files differ (- expected, + installed)"
# The operator takes the new version: a third install adds nothing.
cp "$src/conf/trystd.conf" "$conf/trystd.conf"
rm -f "$conf/trystd.conf.new"
meson_install
cmp -s "$src/conf/trystd.conf" "$conf/trystd.conf" ||
    fail "third install: trystd.conf changed"
diff -u "$tmp/want" "$tmp/got" ||
    fail "third install: files differ (- expected, + installed)"
# The script itself, outside meson, with absolute folders under $DESTDIR:
# silent when it installs or finds the same file, or the same default
# again, or replaces a file never edited; one line for a .new.
ic() {
	set -- "$src/deploy/install-conf.sh" -r /var/r /etc/x "$tmp/x.conf" \
	    "$tmp/y.conf"
	if command -v setsid >/dev/null 2>&1; then
		DESTDIR=$tmp/ic setsid -w "$@" </dev/null
	else
		DESTDIR=$tmp/ic "$@" </dev/null
	fi
}
x=$tmp/ic/etc/x
printf 'a = 1\n' >"$tmp/x.conf"
printf 'b = 1\n' >"$tmp/y.conf"
got=$(ic 2>&1)$(ic 2>&1)
[ -z "$got" ] || fail "install-conf.sh: said \"$got\" with nothing to say"
printf 'a = 2\n' >"$x/x.conf"
got=$(ic 2>&1)
[ -z "$got" ] && [ ! -e "$x/x.conf.new" ] ||
    fail "install-conf.sh: edited, same default: said \"$got\"," \
    "$(ls "$x" | tr '\n' ' ')"
printf 'a = 3\n' >"$tmp/x.conf"
printf 'b = 3\n' >"$tmp/y.conf"
got=$(ic 2>&1)
[ "$got" = "tryst: kept $x/x.conf (it differs from this version's); the new one is $x/x.conf.new" ] ||
    fail "install-conf.sh: said \"$got\""
[ "$(cat "$x/x.conf")" = "a = 2" ] &&
    [ "$(cat "$x/x.conf.new")" = "a = 3" ] ||
    fail "install-conf.sh: x.conf and x.conf.new"
[ "$(cat "$x/y.conf")" = "b = 3" ] && [ ! -e "$x/y.conf.new" ] ||
    fail "install-conf.sh: y.conf, never edited, not replaced"
rm "$x/x.conf.new"
got=$(ic 2>&1)
[ -z "$got" ] && [ ! -e "$x/x.conf.new" ] ||
    fail "install-conf.sh: .new merged, same default: said \"$got\""
[ $fails -eq 0 ] && ok "configuration files: installed once, then kept;" \
    "new versions as NAME.new"

# ---- systemd-analyze verify ------------------------------------------------
# The installed units with their programs' paths moved into the destdir,
# so that verify finds the executables; man pages from the destdir.
units=$tmp/units
mkdir "$units"
for u in trystd.service redis-tryst.service trystctl-compact.service \
    trystctl-compact.timer tryst-deliver.service tryst-deliver.socket; do
	sed "s|$sbindir/|$root$sbindir/|g" "$root$unitdir/$u" >"$units/$u"
done
# The template as its instance "a" sees it.
sed "s|$sbindir/|$root$sbindir/|g" "$root$unitdir/trystd@.service" \
    >"$units/trystd@a.service"
check_units="./trystd.service ./trystd@a.service ./trystctl-compact.service"
check_units="$check_units ./trystctl-compact.timer"
check_units="$check_units ./tryst-deliver.service ./tryst-deliver.socket"
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

# The gateway program runs as a user that is not trystd's, with only the
# gateway's token; the socket is trystd's user's alone.
key() { sed -n "s/^$1=//p" "$units/$2"; }
[ -n "$(key User tryst-deliver.service)" ] &&
    [ "$(key User tryst-deliver.service)" != "$(key User trystd.service)" ] ||
    fail "tryst-deliver.service: User= is trystd's"
[ "$(key LoadCredential tryst-deliver.service | cut -d: -f1)" = \
    gateway.token ] ||
    fail "tryst-deliver.service: credentials other than gateway.token"
[ "$(key SocketUser tryst-deliver.socket)" = "$(key User trystd.service)" ] &&
    [ "$(key SocketMode tryst-deliver.socket)" = 0600 ] ||
    fail "tryst-deliver.socket: not trystd's user's alone"
grep -q "^u  *$(key User tryst-deliver.service) " "$src/deploy/sysusers.d/tryst.conf" ||
    fail "sysusers.d: no $(key User tryst-deliver.service)"
[ $fails -eq 0 ] && ok "tryst-deliver.service runs as" \
    "$(key User tryst-deliver.service), with gateway.token only"

# trystd@.service is trystd.service for one node of several: from [Unit] on,
# the same lines but for the node in its description and its configuration
# file, trystd@%i.conf (so the same sandbox, user, limits and reload).
sed -n '/^\[Unit\]/,$p' "$units/trystd.service" >"$tmp/single"
sed -n '/^\[Unit\]/,$p' "$units/trystd@a.service" |
    sed -e 's/^\(Description=.*\), node %i$/\1/' \
    -e 's|/trystd@%i\.conf|/trystd.conf|' \
    -e 's/trystd@NAME/trystd/' >"$tmp/template"
if diff -u "$tmp/single" "$tmp/template" >"$tmp/units.diff" &&
    grep -q '^ExecStart=.*/trystd@%i\.conf$' "$units/trystd@a.service" &&
    grep -q '^Description=.*node %i$' "$units/trystd@a.service"; then
	ok "trystd@.service is trystd.service with trystd@%i.conf"
else
	cat "$tmp/units.diff"
	fail "trystd@.service and trystd.service differ (- single, + template)"
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
for u in trystd.service trystd@a.service redis-tryst.service \
    trystctl-compact.service tryst-deliver.service; do
	s=$(score "$units/$u")
	echo "security: $u exposure $s (limit: $what, $limit)"
	if [ -z "$s" ] ||
	    ! awk -v s="$s" -v l="$limit" 'BEGIN { exit !(s <= l) }'; then
		fail "$u: exposure ${s:-unknown} above $limit"
	fi
done
[ "$(score "$units/trystd@a.service")" = "$(score "$units/trystd.service")" ] ||
    fail "trystd@a.service: exposure differs from trystd.service's"

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
	# The backup user the comments suggest, with its password.
	bpw=deploy-check-backup
	sed -n "s|^#   \(user backup on \)#SHA256|\1#$(printf %s "$bpw" |
	    sha256sum | cut -d' ' -f1)|p" "$conf" >>"$tmp/r2.conf"
	grep -q '^user backup on' "$tmp/r2.conf" ||
	    fail "redis-tryst.conf: no backup user in the comments"
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
	# default holds every right (for replaying the append-only file) but
	# no one can be it.
	for p in "" x; do
		got=$(redis-cli -s "$sock" --no-auth-warning --user default \
		    --pass "$p" ping 2>&1)
		case "$got" in
		*WRONGPASS*) ;;
		*) fail "AUTH default \"$p\": $got" ;;
		esac
	done
	# The backup of the comments works as written.
	got=$( (umask 077; REDISCLI_AUTH=$bpw timeout 10 redis-cli -s "$sock" \
	    --user backup --rdb "$tmp/backup.rdb") 2>&1) ||
	    fail "redis-cli --rdb as backup: $got"
	command -v redis-check-rdb >/dev/null 2>&1 &&
	    ! redis-check-rdb "$tmp/backup.rdb" >/dev/null 2>&1 &&
	    fail "redis-check-rdb: the backup is not an RDB file"
	[ "$(stat -c %a "$tmp/backup.rdb" 2>/dev/null)" = 600 ] ||
	    fail "backup.rdb: not mode 600"
	got=$(REDISCLI_AUTH=$bpw redis-cli -s "$sock" --user backup \
	    get 'acct:{ab}' 2>&1)
	case "$got" in *NOPERM*) ;; *) fail "backup user may GET: $got" ;; esac
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
	is 0 publish 'tryst:id:{ab}' x
	is 0 spublish 'tryst:node:{n1}' x
	is 2 hset 'rl:disc:{ab}' tokens 5 day 1
	is 5 eval "return redis.call('HMGET', KEYS[1], 'tokens')[1]" 1 'rl:disc:{ab}'
	is 4096 eval "return redis.call('INCRBY', KEYS[1], ARGV[1])" 1 'rl:relay:{ab}:1' 4096
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
	has NOPERM publish tryst:revoke x
	has NOPERM subscribe other
	has NOPERM ssubscribe other
	has NOPERM multi
	has "can't run this command" eval "return redis.call('KEYS', '*')" 0
	[ $fails -eq 0 ] && ok "redis-tryst.conf: the trystd user may do" \
	    "what trystd does, and no more"
else
	echo "note: no redis-server; redis-tryst.conf not exercised"
fi

# ---- certbot-deploy-hook.example -------------------------------------------
# A fake certbot lineage, a fake systemctl that records what it is asked and
# answers is-active as $tmp/active says; the hook runs with umask 0, so
# that the modes must come from the hook.
hook=$src/deploy/certbot-deploy-hook.example
sh -n "$hook" || fail "certbot-deploy-hook.example: sh -n"
lineage=$tmp/live/tryst.example.org
etc=$tmp/etc-tryst
mkdir -p "$lineage" "$etc"
cat >"$tmp/systemctl" <<EOF
#!/bin/sh
echo "\$*" >>"$tmp/systemctl.log"
{ [ "\$1" != is-active ] || [ -e "$tmp/active" ]; } &&
    { [ "\$1" != reload ] && [ "\$1" != restart ] ||
    [ ! -e "$tmp/refuse" ]; }
EOF
chmod +x "$tmp/systemctl"
: >"$tmp/systemctl.log"
# renew CHAIN KEY: certbot renews to CHAIN and KEY and runs the hook.
renew() {
	printf '%s\n' "$1" >"$lineage/fullchain.pem"
	printf '%s\n' "$2" >"$lineage/privkey.pem"
	(umask 0; RENEWED_LINEAGE=$lineage TRYST_CONFDIR=$etc \
	    SYSTEMCTL=$tmp/systemctl sh "$hook") >"$tmp/hook.out" 2>&1 ||
		fail "hook: $(cat "$tmp/hook.out")"
	[ "$(cat "$etc/cert.pem")" = "$1" ] || fail "hook: cert.pem is not $1"
	[ "$(cat "$etc/tls.key")" = "$2" ] || fail "hook: tls.key is not $2"
	[ "$(stat -c %a "$etc/cert.pem") $(stat -c %a "$etc/tls.key")" = \
	    "644 600" ] || fail "hook: modes $(stat -c %a "$etc/cert.pem")" \
	    "$(stat -c %a "$etc/tls.key")"
	[ "$(ls -A "$etc" | tr '\n' ' ')" = "cert.pem tls.key " ] ||
	    fail "hook: left $(ls -A "$etc" | tr '\n' ' ')"
}
printf 'key 1\n' >"$etc/tls.key"
touch "$tmp/active"
renew "chain 1" "key 1"	# --reuse-key: reload
renew "chain 2" "key 2"	# a new key: restart
rm "$tmp/active"
renew "chain 3" "key 3"	# not running: nothing
grep -q "not running" "$tmp/hook.out" || fail "hook: $(cat "$tmp/hook.out")"
printf '%s\n' "is-active --quiet trystd" "reload trystd" \
    "is-active --quiet trystd" "restart trystd" \
    "is-active --quiet trystd" >"$tmp/systemctl.want"
diff -u "$tmp/systemctl.want" "$tmp/systemctl.log" ||
    fail "hook: systemctl was asked otherwise (- expected, + asked)"
if (TRYST_CONFDIR=$etc SYSTEMCTL=$tmp/systemctl sh "$hook") \
    >/dev/null 2>&1; then
	fail "hook: ran without RENEWED_LINEAGE"
fi
# A reload or restart that fails (trystd -t refuses the certificate) puts
# the old files back and fails the hook.
touch "$tmp/active" "$tmp/refuse"
# refusal CHAIN KEY: certbot renews to them; trystd refuses them.
refusal() {
	printf '%s\n' "$1" >"$lineage/fullchain.pem"
	printf '%s\n' "$2" >"$lineage/privkey.pem"
	if (RENEWED_LINEAGE=$lineage TRYST_CONFDIR=$etc \
	    SYSTEMCTL=$tmp/systemctl sh "$hook") >"$tmp/hook.out" 2>&1 ||
	    ! grep -q "refused the new certificate" "$tmp/hook.out"; then
		fail "hook: refused $1: $(cat "$tmp/hook.out")"
	fi
	[ "$(cat "$etc/cert.pem") $(cat "$etc/tls.key")" = "chain 3 key 3" ] &&
	    [ "$(ls -A "$etc" | tr '\n' ' ')" = "cert.pem tls.key " ] ||
	    fail "hook: refused $1: left $(ls -A "$etc" | tr '\n' ' ')," \
	    "cert.pem $(cat "$etc/cert.pem")"
}
: >"$tmp/systemctl.log"
refusal "chain 4" "key 3"	# same key: reload refused
refusal "chain 5" "key 5"	# new key: restart refused
printf '%s\n' "is-active --quiet trystd" "reload trystd" \
    "is-active --quiet trystd" "restart trystd" "restart trystd" \
    >"$tmp/systemctl.want"
diff -u "$tmp/systemctl.want" "$tmp/systemctl.log" ||
    fail "hook, refused: systemctl was asked otherwise (- expected, + asked)"
rm "$tmp/active" "$tmp/refuse"
rm "$lineage/privkey.pem"
if (RENEWED_LINEAGE=$lineage TRYST_CONFDIR=$etc SYSTEMCTL=$tmp/systemctl \
    sh "$hook") >/dev/null 2>&1; then
	fail "hook: ran without privkey.pem"
fi
[ "$(cat "$etc/tls.key")" = "key 3" ] || fail "hook: a failed run left tls.key"
[ $fails -eq 0 ] && ok "certbot deploy hook: files, modes, reload," \
    "then restart for a new key"

# ---- send-code.example -----------------------------------------------------
# Against a one-request HTTP server, through a curl wrapper that records its
# arguments: the request carries the token, number and code; the arguments
# name none of them.
sc=$src/deploy/send-code.example
sh -n "$sc" || fail "send-code.example: sh -n"
curl=$(command -v curl || true)
if [ -n "$curl" ] && command -v python3 >/dev/null 2>&1; then
	cat >"$tmp/gateway.py" <<-'EOF'
	import http.server, os, sys
	class H(http.server.BaseHTTPRequestHandler):
	    def do_POST(self):
	        body = self.rfile.read(int(self.headers["Content-Length"]))
	        with open(sys.argv[2], "w") as f:
	            f.write("%s\n%s\n" % (self.headers["Authorization"],
	                body.decode()))
	        self.send_response(200)
	        self.end_headers()
	    def log_message(self, *args):
	        pass
	s = http.server.HTTPServer(("127.0.0.1", 0), H)
	with open(sys.argv[1] + ".tmp", "w") as f:
	    f.write("%d\n" % s.server_port)
	os.rename(sys.argv[1] + ".tmp", sys.argv[1])
	s.handle_request()
	EOF
	timeout 20 python3 "$tmp/gateway.py" "$tmp/http.port" "$tmp/http.req" &
	http_pid=$!
	i=0
	while [ ! -s "$tmp/http.port" ] && [ $i -lt 50 ]; do
		sleep 0.1
		i=$((i + 1))
	done
	[ -s "$tmp/http.port" ] || echo 0 >"$tmp/http.port"
	mkdir -p "$tmp/bin" "$tmp/cred"
	printf '#!/bin/sh\nprintf "%%s\\n" "$@" >"%s"\nexec "%s" "$@"\n' \
	    "$tmp/curl.argv" "$curl" >"$tmp/bin/curl"
	chmod +x "$tmp/bin/curl"
	sed "s|^GATEWAY_URL=.*|GATEWAY_URL=http://127.0.0.1:$(cat \
	    "$tmp/http.port")/sms|" "$sc" >"$tmp/send-code"
	printf 'tok"en\\x\n' >"$tmp/cred/gateway.token"
	PATH=$tmp/bin:$PATH CREDENTIALS_DIRECTORY=$tmp/cred \
	    TRYST_NUMBER=+447700900123 TRYST_CODE=314159 \
	    timeout 10 sh "$tmp/send-code" >"$tmp/send-code.out" 2>&1 ||
		fail "send-code.example: $(cat "$tmp/send-code.out")"
	wait "$http_pid" || fail "send-code.example: no request"
	http_pid=
	printf '%s\n' 'Bearer tok"en\x' \
	    'to=%2B447700900123&text=Your+tryst+code+is+314159' \
	    >"$tmp/http.want"
	diff -u "$tmp/http.want" "$tmp/http.req" ||
	    fail "send-code.example: request (- expected, + sent)"
	[ -s "$tmp/curl.argv" ] || fail "send-code.example: curl not run"
	if grep -e 447700900123 -e 314159 -e tok "$tmp/curl.argv"; then
		fail "send-code.example: a secret in curl's arguments"
	fi
	[ $fails -eq 0 ] && ok "send-code.example: token, number and code" \
	    "reach the gateway through stdin, not argv"
else
	echo "note: no curl or python3; send-code.example only parsed"
fi

if [ $fails -ne 0 ]; then
	echo "$fails check(s) failed"
	exit 1
fi
echo "all deploy checks passed"
