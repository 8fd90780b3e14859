#!/bin/sh
# Removes what install.sh installed, as listed in PREFIX/share/craton/installed-files.
#
#   sudo ./uninstall.sh [--prefix DIR]
#
# It stops and disables craton.service, then deletes exactly the listed files. It refuses a list
# naming anything outside the places install.sh writes to. It never deletes /var/lib/craton or the
# `craton` user (the data is an audit log; it prints how to delete both). DESTDIR works as in
# install.sh.
set -eu

prefix=/usr/local
root=${DESTDIR:-}
unit_path=/etc/systemd/system/craton.service

die() {
    echo "uninstall.sh: $*" >&2
    exit 1
}

while [ $# -gt 0 ]; do
    case "$1" in
        --prefix) [ $# -ge 2 ] || die "--prefix needs a folder"; prefix=$2; shift 2 ;;
        -h | --help) sed -n '2,10p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) die "unknown option: $1 (see --help)" ;;
    esac
done

record=$root$prefix/share/craton/installed-files
[ -f "$record" ] || die "nothing to uninstall: $record not found (wrong --prefix?)"
if [ -z "$root" ] && [ "$(id -u)" -ne 0 ]; then
    die "run as root (sudo ./uninstall.sh), or set DESTDIR"
fi

# Check the whole list before deleting anything: a damaged or hostile list deletes nothing.
while IFS= read -r path; do
    case "$path" in
        "$unit_path" | "$prefix"/bin/craton | "$prefix"/share/craton/* | "$prefix"/share/applications/craton.desktop | \
            "$prefix"/share/icons/hicolor/scalable/apps/craton.svg | "$prefix"/share/doc/craton/*) ;;
        *) die "refusing: $record names $path, which install.sh never writes" ;;
    esac
    case "$path" in
        *..*) die "refusing: $record names $path, which contains '..'" ;;
    esac
done <"$record"

if [ -z "$root" ] && [ -d /run/systemd/system ]; then
    systemctl disable --now craton.service >/dev/null 2>&1 || true
fi

while IFS= read -r path; do
    rm -f "$root$path"
done <"$record"
rm -f "$record"
rmdir "$root$prefix/share/craton" "$root$prefix/share/doc/craton" 2>/dev/null || true

if [ -z "$root" ] && [ -d /run/systemd/system ]; then
    systemctl daemon-reload || true
fi
echo "uninstall.sh: removed craton. The data in /var/lib/craton and the user 'craton' were kept; to delete them:"
echo "    rm -rf /var/lib/craton && userdel craton"
