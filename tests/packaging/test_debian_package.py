"""The .deb and the tarball made by packaging/build.py hold exactly the right files, modes and
metadata, are reproducible, and their unit and desktop entry are valid."""

from __future__ import annotations

import configparser
import hashlib
import os
import re
import subprocess
import tarfile
from pathlib import Path

import pytest

from tests.packaging.conftest import REPO, SOURCE_DATE_EPOCH, VERSION, build_packages

DEB_FILES = {
    "./usr/bin/craton": "-rwxr-xr-x",
    "./usr/lib/systemd/system/craton.service": "-rw-r--r--",
    "./usr/share/applications/craton.desktop": "-rw-r--r--",
    "./usr/share/icons/hicolor/scalable/apps/craton.svg": "-rw-r--r--",
    "./usr/share/doc/craton/install.md": "-rw-r--r--",
    "./usr/share/doc/craton/copyright": "-rw-r--r--",
}
TAR_FILES = {
    "craton": 0o755,
    "install.sh": 0o755,
    "uninstall.sh": 0o755,
    "craton.service": 0o644,
    "craton.desktop": 0o644,
    "craton.svg": 0o644,
    "install.md": 0o644,
    "LICENSE.nats-server": 0o644,
}


def dpkg_deb(*args: str) -> str:
    # --contents prints local times; UTC makes the expected timestamp independent of the machine.
    env = {**os.environ, "TZ": "UTC"}
    return subprocess.run(["dpkg-deb", *args], capture_output=True, text=True, check=True, env=env).stdout


def sha256(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


@pytest.fixture(scope="module")
def unpacked(tmp_path_factory: pytest.TempPathFactory, packages: dict[str, Path]) -> Path:
    root = tmp_path_factory.mktemp("deb")
    subprocess.run(["dpkg-deb", "--raw-extract", str(packages["deb"]), str(root)], check=True)
    return root


def test_control_fields(packages: dict[str, Path]) -> None:
    """The control file names the package, the version, this machine's architecture, a libc
    dependency and an installed size close to the payload's."""
    fields = dict(
        line.split(": ", 1)
        for line in dpkg_deb("--field", str(packages["deb"])).splitlines()
        if not line.startswith(" ")
    )
    arch = subprocess.run(["dpkg", "--print-architecture"], capture_output=True, text=True, check=True).stdout
    assert fields["Package"] == "craton"
    assert fields["Version"] == VERSION
    assert fields["Architecture"] == arch.strip()
    assert re.fullmatch(r"libc6 \(>= \d+\.\d+\)", fields["Depends"])
    payload_kib = sum(int(line.split()[2]) for line in dpkg_deb("--contents", str(packages["deb"])).splitlines()) / 1024
    assert payload_kib <= int(fields["Installed-Size"]) <= payload_kib + 64
    assert packages["deb"].name == f"craton_{VERSION}_{arch.strip()}.deb"


def test_payload_is_exactly_the_expected_files(packages: dict[str, Path]) -> None:
    """The .deb holds the binary, unit, desktop entry, icon and docs, root-owned, with fixed modes
    and the commit's timestamp, and nothing else."""
    files = {}
    for line in dpkg_deb("--contents", str(packages["deb"])).splitlines():
        mode, owner, _size, day, clock, path = line.split(maxsplit=5)
        assert owner == "root/root", line
        assert f"{day} {clock}" == "2023-11-14 22:13", line  # SOURCE_DATE_EPOCH 1700000000 in UTC
        if not mode.startswith("d"):
            files[path] = mode
        else:
            assert mode == "drwxr-xr-x", line
    assert files == DEB_FILES


def test_md5sums_match_the_payload(unpacked: Path) -> None:
    """DEBIAN/md5sums lists every payload file with its real digest (what `debsums` checks)."""
    listed = {}
    for line in (unpacked / "DEBIAN" / "md5sums").read_text().splitlines():
        digest, path = line.split("  ", 1)
        listed[path] = digest
    assert set(listed) == {path.removeprefix("./") for path in DEB_FILES}
    for path, digest in listed.items():
        assert hashlib.md5((unpacked / path).read_bytes(), usedforsecurity=False).hexdigest() == digest


def test_maintainer_scripts_are_executable_posix_shell(unpacked: Path) -> None:
    """postinst, prerm and postrm are executable and parse as POSIX shell."""
    for name in ("postinst", "prerm", "postrm"):
        script = unpacked / "DEBIAN" / name
        assert os.access(script, os.X_OK), name
        assert script.read_text().startswith("#!/bin/sh\n")
        subprocess.run(["sh", "-n", str(script)], check=True)


def test_unit_runs_headless_as_craton_and_verifies(unpacked: Path, stand_in: Path, tmp_path: Path) -> None:
    """The unit starts `craton up --headless` on /var/lib/craton as the craton user, is hardened,
    and `systemd-analyze verify` accepts it."""
    unit_text = (unpacked / "usr/lib/systemd/system/craton.service").read_text()
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read_string(unit_text)
    service = unit["Service"]
    assert service["ExecStart"] == "/usr/bin/craton up --headless --data-dir /var/lib/craton"
    assert (service["User"], service["Group"]) == ("craton", "craton")
    for option in ("NoNewPrivileges", "ProtectHome", "PrivateTmp", "PrivateDevices", "RestrictSUIDSGID"):
        assert service[option] == "yes", option
    assert service["ProtectSystem"] == "strict"
    assert service["CapabilityBoundingSet"] == ""
    assert unit["Install"]["WantedBy"] == "multi-user.target"
    assert "@" not in unit_text.replace("@system-service", "").replace("~@privileged", "")
    # verify needs the ExecStart program to exist; point it at the stand-in binary.
    local = tmp_path / "craton.service"
    local.write_text(unit_text.replace("/usr/bin/craton", str(stand_in)))
    verified = subprocess.run(["systemd-analyze", "verify", str(local)], capture_output=True, text=True, check=False)
    assert verified.returncode == 0, verified.stderr


def test_desktop_entry_opens_a_terminal_running_craton_up(unpacked: Path) -> None:
    """The desktop entry is an application run in a terminal: `craton up` on a free port, plus an
    action attaching the UI to the system service."""
    entry = configparser.ConfigParser(interpolation=None)
    entry.optionxform = str  # type: ignore[assignment,method-assign]
    entry.read_string((unpacked / "usr/share/applications/craton.desktop").read_text())
    main = entry["Desktop Entry"]
    assert main["Type"] == "Application"
    assert main["Terminal"] == "true"
    assert main["Icon"] == "craton"
    assert main["Exec"].startswith("/usr/bin/craton up")
    assert main["Actions"].rstrip(";") == "attach-service"
    assert entry["Desktop Action attach-service"]["Exec"].startswith("/usr/bin/craton tui --url http://127.0.0.1:")


def test_tarball_holds_the_release_files(packages: dict[str, Path]) -> None:
    """The tarball has one folder with the binary, both scripts, unit, desktop entry, icon, guide
    and the nats-server licence, with fixed modes, owner and dates."""
    with tarfile.open(packages["tarball"]) as archive:
        members = archive.getmembers()
    folder = f"craton-{VERSION}"
    assert members[0].name == folder
    assert members[0].isdir()
    files = {m.name.removeprefix(f"{folder}/"): m for m in members[1:]}
    assert {name: m.mode for name, m in files.items()} == TAR_FILES
    assert all((m.uid, m.gid, m.uname, m.mtime) == (0, 0, "root", SOURCE_DATE_EPOCH) for m in members)


def test_checksums_cover_the_archives(packages: dict[str, Path]) -> None:
    """SHA256SUMS lists both archives with their real digests (the binary lives elsewhere here)."""
    lines = packages["sums"].read_text().splitlines()
    listed = dict(reversed(line.split("  ", 1)) for line in lines)
    assert listed == {
        packages["deb"].name: sha256(packages["deb"]),
        packages["tarball"].name: sha256(packages["tarball"]),
    }


def test_packages_are_reproducible(tmp_path: Path, packages: dict[str, Path], stand_in: Path) -> None:
    """Packing the same binary again at the same SOURCE_DATE_EPOCH gives byte-identical archives."""
    again = build_packages(tmp_path / "again", stand_in)
    assert sha256(again["deb"]) == sha256(packages["deb"])
    assert sha256(again["tarball"]) == sha256(packages["tarball"])


def test_installer_never_downloads() -> None:
    """No installer script, maintainer script, unit or desktop entry calls a download tool or a
    package manager, or names a remote URL (the icon's XML namespace is not fetched)."""
    fetchers = re.compile(r"\b(curl|wget|apt-get|apt install|pip3? install|git clone|snap install)\b")
    remote_url = re.compile(r"\b(https?|ftp)://(?!127\.0\.0\.1|localhost)")
    for path in sorted((REPO / "installer").rglob("*")):
        if path.is_file() and path.suffix != ".svg":
            text = path.read_text()
            assert not fetchers.search(text), path
            assert not remote_url.search(text), path
