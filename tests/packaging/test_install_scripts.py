"""install.sh and uninstall.sh from the release tarball, run for real into a staging root
(DESTDIR), install exactly the expected files, upgrade in place, uninstall exactly what they
installed, and refuse bad input without writing or deleting anything."""

from __future__ import annotations

import os
import shutil
import subprocess
import tempfile
from pathlib import Path

import pytest

PREFIX = "/usr/local"
INSTALLED = {
    "/usr/local/bin/craton": 0o755,
    "/etc/systemd/system/craton.service": 0o644,
    "/usr/local/share/applications/craton.desktop": 0o644,
    "/usr/local/share/icons/hicolor/scalable/apps/craton.svg": 0o644,
    "/usr/local/share/doc/craton/install.md": 0o644,
    "/usr/local/share/craton/uninstall.sh": 0o755,
}
RECORD = "/usr/local/share/craton/installed-files"
SCRIPT_TIMEOUT_S = 60


def run(script: Path, *args: str, root: Path | None, user: int | None = None) -> subprocess.CompletedProcess[str]:
    env = {"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin"}
    if root is not None:
        env["DESTDIR"] = str(root)
    command = [str(script), *args]
    if user is not None:
        command = ["setpriv", f"--reuid={user}", f"--regid={user}", "--clear-groups", *command]
    return subprocess.run(command, capture_output=True, text=True, env=env, timeout=SCRIPT_TIMEOUT_S, check=False)


def files_under(root: Path) -> dict[str, int]:
    return {
        "/" + str(path.relative_to(root)): path.stat().st_mode & 0o7777 for path in root.rglob("*") if path.is_file()
    }


def assert_refused(done: subprocess.CompletedProcess[str], mentions: str) -> None:
    assert done.returncode != 0
    message = done.stderr.strip().splitlines()
    assert len(message) == 1, done.stderr
    assert mentions in message[0]


def test_install_stages_exactly_the_expected_files(release: Path, tmp_path: Path) -> None:
    """install.sh writes the binary, unit, desktop entry, icon, guide and uninstaller with fixed
    modes, fills in the binary's path, and records every file it wrote."""
    root = tmp_path / "root"
    done = run(release / "install.sh", "--prefix", PREFIX, root=root)
    assert done.returncode == 0, done.stderr
    assert files_under(root) == {**INSTALLED, RECORD: 0o644}
    assert (root / RECORD.lstrip("/")).read_text().splitlines() == list(INSTALLED)
    unit = (root / "etc/systemd/system/craton.service").read_text()
    assert "ExecStart=/usr/local/bin/craton up --headless --data-dir /var/lib/craton\n" in unit
    desktop = (root / "usr/local/share/applications/craton.desktop").read_text()
    assert "Exec=/usr/local/bin/craton up" in desktop
    assert "@BINDIR@" not in unit + desktop
    assert (root / "usr/local/bin/craton").read_bytes() == (release / "craton").read_bytes()


def test_install_twice_upgrades_in_place(release: Path, tmp_path: Path) -> None:
    """Running install.sh again replaces the files (a new inode for the binary, so a running one
    is never overwritten) and leaves the same set of files and the same record."""
    root = tmp_path / "root"
    assert run(release / "install.sh", root=root).returncode == 0
    first_inode = (root / "usr/local/bin/craton").stat().st_ino
    done = run(release / "install.sh", root=root)
    assert done.returncode == 0, done.stderr
    assert files_under(root) == {**INSTALLED, RECORD: 0o644}
    assert (root / "usr/local/bin/craton").stat().st_ino != first_inode


def test_uninstall_removes_exactly_what_was_installed(release: Path, tmp_path: Path) -> None:
    """uninstall.sh deletes the recorded files and its record, and leaves other files alone."""
    root = tmp_path / "root"
    assert run(release / "install.sh", root=root).returncode == 0
    bystander = root / "usr/local/bin/other-tool"
    bystander.write_text("keep me")
    done = run(root / "usr/local/share/craton/uninstall.sh", root=root)
    assert done.returncode == 0, done.stderr
    assert files_under(root) == {"/usr/local/bin/other-tool": bystander.stat().st_mode & 0o7777}
    assert "were kept" in done.stdout


@pytest.mark.parametrize(
    "hostile",
    ["/etc/passwd", "/usr/local/share/craton/../../../etc/shadow", "/usr/local/bin/other-tool", "relative/path"],
)
def test_uninstall_refuses_a_tampered_record(release: Path, tmp_path: Path, hostile: str) -> None:
    """A record naming a file install.sh never writes makes uninstall.sh delete nothing at all."""
    root = tmp_path / "root"
    assert run(release / "install.sh", root=root).returncode == 0
    record = root / RECORD.lstrip("/")
    record.write_text(record.read_text() + hostile + "\n")
    before = files_under(root)
    done = run(release / "uninstall.sh", root=root)
    assert_refused(done, "refusing")
    assert files_under(root) == before


def test_uninstall_without_an_install_says_so(release: Path, tmp_path: Path) -> None:
    """uninstall.sh on a root where nothing was installed fails with a clear reason."""
    done = run(release / "uninstall.sh", root=tmp_path / "empty")
    assert_refused(done, "nothing to uninstall")


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        (["--frobnicate"], "unknown option: --frobnicate"),
        (["--prefix", "relative/dir"], "must be an absolute path"),
        (["--prefix", "/opt/cra ton"], "may hold only"),
        (["--prefix", "/opt/../etc"], "may hold only"),
        (["--prefix"], "--prefix needs a folder"),
        (["--binary", "/nonexistent/craton"], "no craton binary at /nonexistent/craton"),
    ],
)
def test_install_refuses_bad_arguments(release: Path, tmp_path: Path, args: list[str], mentions: str) -> None:
    """Unknown options, unsafe prefixes and a missing binary are refused before anything is written."""
    root = tmp_path / "root"
    done = run(release / "install.sh", *args, root=root)
    assert_refused(done, mentions)
    assert not root.exists() or not files_under(root)


def test_install_refuses_a_binary_that_does_not_run(release: Path, tmp_path: Path) -> None:
    """A binary that cannot run here (wrong architecture, truncated copy) is refused before
    anything is written."""
    broken = tmp_path / "craton"
    broken.write_bytes(b"\x7fELF" + b"\0" * 60)
    broken.chmod(0o755)
    root = tmp_path / "root"
    done = run(release / "install.sh", "--binary", str(broken), root=root)
    assert_refused(done, "does not run on this machine")
    assert not root.exists() or not files_under(root)


def test_install_without_destdir_needs_root(release: Path) -> None:
    """Without DESTDIR, a non-root user is told to use sudo and nothing is written."""
    # As root, drop to `nobody`, who needs a world-readable copy (pytest's tmp folders are 0700).
    user = 65534 if os.geteuid() == 0 else None
    with tempfile.TemporaryDirectory(prefix="craton-install-") as temp:
        folder = Path(temp)
        folder.chmod(0o755)
        copy = folder / "release"
        shutil.copytree(release, copy)
        done = run(copy / "install.sh", "--prefix", str(folder / "prefix"), root=None, user=user)
        assert_refused(done, "run as root")
        assert not (folder / "prefix").exists()
