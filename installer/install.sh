#!/bin/sh
# Installs the Craton appliance on a Linux machine without dpkg, from the files next to this
# script (the release tarball, or installer/ plus dist/craton in a source checkout).
#
#   sudo ./install.sh [--prefix DIR] [--binary FILE] [--no-service]
#
# It copies the binary, the systemd unit, the desktop entry, the icon and the docs, records what
# it wrote in PREFIX/share/craton/installed-files (read by uninstall.sh), creates the `craton`
# system user and /var/lib/craton, and enables and starts craton.service when systemd runs.
# With DESTDIR=/some/root it only stages the files under that root (no user, no systemctl), for
# packagers and tests. It never downloads anything and never touches existing data.
set -eu

here=$(cd "$(dirname "$0")" && pwd)
prefix=/usr/local
binary=""
service=yes
root=${DESTDIR:-}
user=craton
data_dir=/var/lib/craton
unit_path=/etc/systemd/system/craton.service

die() {
    echo "install.sh: $*" >&2
    exit 1
}

usage() {
    sed -n '2,12p' "$0" | sed 's/^# \{0,1\}//'
}

parse_args() {
    while [ $# -gt 0 ]; do
        case "$1" in
            --prefix) [ $# -ge 2 ] || die "--prefix needs a folder"; prefix=$2; shift 2 ;;
            --binary) [ $# -ge 2 ] || die "--binary needs a file"; binary=$2; shift 2 ;;
            --no-service) service=no; shift ;;
            -h | --help) usage; exit 0 ;;
            *) die "unknown option: $1 (see --help)" ;;
        esac
    done
}

find_inputs() {
    case "$prefix" in
        /*) ;;
        *) die "--prefix must be an absolute path, got: $prefix" ;;
    esac
    # The prefix goes into sed and into the unit file: plain path characters only.
    case "$prefix" in
        *[!A-Za-z0-9/._-]* | *..*) die "--prefix may hold only letters, digits and / . _ -, got: $prefix" ;;
    esac
    prefix=${prefix%/}
    [ -n "$prefix" ] || die "--prefix must not be /"
    if [ -n "$binary" ]; then
        [ -f "$binary" ] || die "no craton binary at $binary"
    else
        for candidate in "$here/craton" "$here/../dist/craton"; do
            if [ -f "$candidate" ]; then binary=$candidate; break; fi
        done
        [ -n "$binary" ] || die "no craton binary next to this script; pass --binary FILE"
    fi
    [ -x "$binary" ] || die "$binary is not executable"
    for file in craton.service craton.desktop craton.svg uninstall.sh; do
        [ -f "$here/$file" ] || die "missing $here/$file; run this script from the release folder"
    done
    docs=$here/install.md
    [ -f "$docs" ] || docs=$here/../docs/install.md
    [ -f "$docs" ] || die "missing install.md next to this script"
    # The binary must run here before anything is written (wrong architecture, damaged download).
    "$binary" --version >/dev/null 2>&1 || die "$binary does not run on this machine (--version failed)"
    if [ -z "$root" ] && [ "$(id -u)" -ne 0 ]; then
        die "run as root (sudo ./install.sh), or set DESTDIR to stage the files"
    fi
}

# put SOURCE DEST MODE: copy through a temporary name and rename, so a running binary is replaced
# atomically instead of failing with "text file busy" or being seen half-written.
put() {
    mkdir -p "$(dirname "$root$2")"
    cp "$1" "$root$2.new"
    chmod "$3" "$root$2.new"
    mv -f "$root$2.new" "$root$2"
    echo "$2" >>"$record.new"
}

# render TEMPLATE DEST: the template with @BINDIR@ replaced, installed 0644.
render() {
    sed "s#@BINDIR@#$prefix/bin#g" "$1" >"$tmp/rendered"
    put "$tmp/rendered" "$2" 0644
}

install_files() {
    record=$root$prefix/share/craton/installed-files
    mkdir -p "$(dirname "$record")"
    : >"$record.new"
    put "$binary" "$prefix/bin/craton" 0755
    render "$here/craton.service" "$unit_path"
    render "$here/craton.desktop" "$prefix/share/applications/craton.desktop"
    put "$here/craton.svg" "$prefix/share/icons/hicolor/scalable/apps/craton.svg" 0644
    put "$docs" "$prefix/share/doc/craton/install.md" 0644
    put "$here/uninstall.sh" "$prefix/share/craton/uninstall.sh" 0755
    mv -f "$record.new" "$record"
}

create_user_and_data() {
    if ! getent passwd "$user" >/dev/null 2>&1; then
        if command -v useradd >/dev/null 2>&1; then
            useradd --system --user-group --home-dir "$data_dir" --no-create-home \
                --shell /usr/sbin/nologin --comment "Craton appliance" "$user"
        else
            adduser --system --group --home "$data_dir" --no-create-home \
                --shell /usr/sbin/nologin --gecos "Craton appliance" "$user"
        fi
    fi
    if [ ! -d "$data_dir" ]; then
        install -d -o "$user" -g "$user" -m 0700 "$data_dir"
    fi
}

start_service() {
    if [ "$service" = no ] || [ ! -d /run/systemd/system ]; then
        echo "install.sh: systemd is not running here (or --no-service); start it by hand:"
        echo "    sudo -u $user $prefix/bin/craton up --headless --data-dir $data_dir"
        return 0
    fi
    systemctl daemon-reload
    systemctl enable craton.service >/dev/null 2>&1
    systemctl restart craton.service || die "craton.service did not start; see: journalctl -u craton"
}

main() {
    parse_args "$@"
    find_inputs
    tmp=$(mktemp -d)
    trap 'rm -rf "$tmp"' EXIT
    install_files
    if [ -n "$root" ]; then
        echo "install.sh: staged under $root (no user, no service: DESTDIR is set)"
        return 0
    fi
    create_user_and_data
    start_service
    echo "install.sh: installed $prefix/bin/craton. The one-time setup token is shown by:"
    echo "    sudo -u $user $prefix/bin/craton admin setup-token --data-dir $data_dir"
}

main "$@"
