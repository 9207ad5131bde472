#!/bin/sh
# install-conf.sh -- install configuration files the way Debian treats
# conffiles, so that "meson install" never overwrites an operator's edits.
#
# usage: install-conf.sh [-r RECORDDIR] DIR FILE...
#
# Run by "meson install" (meson.add_install_script in deploy/meson.build).
# DIR and RECORDDIR are relative to the prefix ("etc/tryst", placed under
# $MESON_INSTALL_DESTDIR_PREFIX) or absolute ("/etc/tryst", placed under
# $DESTDIR when that is set). RECORDDIR keeps a copy of each FILE as last
# installed (the shipped default, as dpkg keeps its conffiles' checksums).
# For each FILE, in DIR:
#   - absent: installed, mode 0644;
#   - present and identical: left alone;
#   - present, different, and the same as the recorded copy (never
#     edited): replaced by this version, silently;
#   - present and different (edited), while this version is the recorded
#     one (the shipped default did not change): left alone, silently;
#   - otherwise (edited, and a new default, or no record): left alone, and
#     this version written beside it as NAME.new (like dpkg's .dpkg-dist),
#     with one line saying so.
# The pristine files are also installed as examples, so that "diff -u"
# always shows the local changes. "ninja -C build uninstall" leaves these
# files and the records.
#
# Meson before 1.2 (Debian 12 has 1.0) discards the output of an install
# script that succeeds, so when standard output is not a terminal the line
# goes to the controlling terminal, if there is one.
set -eu

usage() {
	echo "usage: $0 [-r RECORDDIR] DIR FILE..." >&2
	exit 2
}
# placed DIR: where DIR is, under DESTDIR or the destdir prefix.
placed() {
	case "$1" in
	/*)	printf '%s\n' "${DESTDIR:-}$1" ;;
	*)	printf '%s\n' "${MESON_INSTALL_DESTDIR_PREFIX:?is not set}/$1" ;;
	esac
}

records=
if [ "${1:-}" = -r ]; then
	[ $# -ge 2 ] || usage
	records=$(placed "$2")
	shift 2
fi
[ $# -ge 2 ] || usage
dest=$(placed "$1")
shift

umask 022
mkdir -p "$dest"
[ -z "$records" ] || mkdir -p "$records"

# put SRC TARGET: copy SRC to TARGET through a temporary file, mode 0644.
put() {
	cp "$1" "$2.tmp.$$"
	chmod 0644 "$2.tmp.$$"
	mv -f "$2.tmp.$$" "$2"
}

# say LINE: tell whoever runs the installation.
say() {
	if [ ! -t 1 ] && { true >/dev/tty; } 2>/dev/null; then
		printf '%s\n' "$*" >/dev/tty
	else
		printf '%s\n' "$*"
	fi
}

for src in "$@"; do
	target=$dest/${src##*/}
	record=${records:+$records/${src##*/}}
	if [ ! -e "$target" ] && [ ! -L "$target" ]; then
		put "$src" "$target"
	elif cmp -s "$src" "$target"; then
		:
	elif [ -n "$record" ] && [ -f "$record" ] &&
	    cmp -s "$record" "$target"; then
		put "$src" "$target"
	elif [ -n "$record" ] && [ -f "$record" ] &&
	    cmp -s "$record" "$src"; then
		:
	else
		put "$src" "$target.new"
		say "tryst: kept $target (it differs from this version's);" \
		    "the new one is $target.new"
	fi
	[ -z "$record" ] || put "$src" "$record"
done
