#!/bin/sh
# install-conf.sh -- install configuration files the way Debian treats
# conffiles, so that "meson install" never overwrites an operator's edits.
#
# usage: install-conf.sh DIR FILE...
#
# Run by "meson install" (meson.add_install_script in deploy/meson.build).
# DIR is the configuration folder: relative to the prefix ("etc/tryst",
# placed under $MESON_INSTALL_DESTDIR_PREFIX) or absolute ("/etc/tryst",
# placed under $DESTDIR when that is set). For each FILE, in DIR:
#   - absent: installed, mode 0644;
#   - present and identical: left alone;
#   - present and different (edited, or from another version): left alone,
#     and this version written beside it as NAME.new (like dpkg's
#     .dpkg-dist), with one line saying so.
# The pristine files are also installed as examples, so that "diff -u"
# always shows the local changes. "meson uninstall" leaves these files.
#
# Meson before 1.2 (Debian 12 has 1.0) discards the output of an install
# script that succeeds, so when standard output is not a terminal the line
# goes to the controlling terminal, if there is one.
set -eu

[ $# -ge 2 ] || { echo "usage: $0 DIR FILE..." >&2; exit 2; }
dir=$1
shift
case "$dir" in
/*)	dest=${DESTDIR:-}$dir ;;
*)	dest=${MESON_INSTALL_DESTDIR_PREFIX:?is not set (not run by meson)}/$dir ;;
esac

umask 022
mkdir -p "$dest"

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
	if [ ! -e "$target" ] && [ ! -L "$target" ]; then
		put "$src" "$target"
	elif ! cmp -s "$src" "$target"; then
		put "$src" "$target.new"
		say "tryst: kept $target (it differs from this version's);" \
		    "the new one is $target.new"
	fi
done
