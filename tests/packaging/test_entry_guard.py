"""packaging/entry.py ties a frozen process to its parent with real processes and real signals:
when a one-file bootloader dies by SIGKILL its child exits and deletes the unpacked folder; when a
craton that spawned us dies we exit but leave the shared folder; outside a frozen build, or under
a foreign parent, nothing changes.

A one-file build is simulated without PyInstaller: the child sets `sys.frozen` and `sys._MEIPASS`
itself, and its parent runs the same interpreter, as a bootloader runs the same executable.
"""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from pathlib import Path

import psutil
import pytest

from tests.packaging.conftest import REPO

WAIT_TIMEOUT_S = 30.0
POLL_INTERVAL_S = 0.05

CHILD = """
import os, pathlib, sys, time
if {frozen}:
    sys.frozen = True
    sys._MEIPASS = {home!r}
sys.path.insert(0, {packaging!r})
import entry
entry.guard_frozen_process()
pathlib.Path({marker!r}).write_text(str(os.getpid()))
time.sleep(600)
"""

PARENT = """
import subprocess
subprocess.run([{launcher!r}, "-c", {child!r}])
"""


def wait_for(condition: Callable[[], bool], what: str) -> None:
    deadline = time.monotonic() + WAIT_TIMEOUT_S
    while not condition():
        if time.monotonic() > deadline:
            pytest.fail(f"gave up after {WAIT_TIMEOUT_S:.0f} s waiting for {what}")
        time.sleep(POLL_INTERVAL_S)


def alive(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


class Family:
    """A parent process that starts one guarded child; both are killed at teardown."""

    def __init__(self, tmp_path: Path) -> None:
        self.home = tmp_path / "_MEIfake123"
        self.home.mkdir()
        (self.home / "payload").write_text("unpacked bundle")
        self.marker = tmp_path / "guarded"
        self.parent: subprocess.Popen[bytes] | None = None
        self.child_pid = 0
        self.seen: list[psutil.Process] = []

    def start(self, *, frozen: bool = True, parent_env: dict[str, str] | None = None, launcher: str = "") -> None:
        child = CHILD.format(
            frozen=frozen, home=str(self.home), packaging=str(REPO / "packaging"), marker=str(self.marker)
        )
        parent = PARENT.format(launcher=launcher or sys.executable, child=child)
        env = {**os.environ, **(parent_env or {})}
        self.parent = subprocess.Popen([sys.executable, "-c", parent], env=env)
        wait_for(lambda: self.marker.exists() and self.marker.read_text().isdigit(), "the child's guard")
        self.child_pid = int(self.marker.read_text())
        self.seen = psutil.Process(self.parent.pid).children(recursive=True)

    def kill_parent(self) -> None:
        assert self.parent is not None
        self.parent.send_signal(signal.SIGKILL)
        self.parent.wait(timeout=WAIT_TIMEOUT_S)

    def close(self) -> None:
        for process in self.seen:
            try:
                process.kill()
            except psutil.NoSuchProcess:
                continue
        if self.parent is not None:
            if self.parent.poll() is None:
                self.parent.kill()
            self.parent.wait(timeout=WAIT_TIMEOUT_S)


@pytest.fixture
def family(tmp_path: Path) -> Iterator[Family]:
    started = Family(tmp_path)
    yield started
    started.close()


def test_child_of_a_killed_bootloader_exits_and_deletes_the_bundle(family: Family) -> None:
    """SIGKILL of the bootloader makes the kernel SIGTERM the child, which exits and removes the
    unpacked folder that the dead bootloader can no longer remove."""
    family.start()
    family.kill_parent()
    wait_for(lambda: not alive(family.child_pid), "the child to exit")
    assert not family.home.exists()


def test_child_of_a_killed_craton_exits_and_keeps_the_shared_bundle(family: Family) -> None:
    """A process spawned by a running craton (whose environment names the bundle home) dies with
    it, but leaves the unpacked folder, which belongs to the craton's own bootloader."""
    family.start(parent_env={"_PYI_APPLICATION_HOME_DIR": str(family.home)})
    family.kill_parent()
    wait_for(lambda: not alive(family.child_pid), "the child to exit")
    assert (family.home / "payload").read_text() == "unpacked bundle"


def test_not_frozen_means_no_guard(family: Family) -> None:
    """Run from source, the guard does nothing: the child outlives its parent."""
    family.start(frozen=False)
    family.kill_parent()
    time.sleep(1.0)  # a grace period for a wrongly delivered signal, not a measurement
    assert alive(family.child_pid)
    assert family.home.exists()


def test_foreign_parent_means_no_guard(family: Family, tmp_path: Path) -> None:
    """A frozen process started by another program (not the same executable) is not tied to it."""
    # The parent runs a shell script around the child, so the child's parent is /bin/sh.
    shell = tmp_path / "via-sh"
    shell.write_text(f'#!/bin/sh\n"{sys.executable}" "$@"\necho done >/dev/null\n')
    shell.chmod(0o755)
    family.start(launcher=str(shell))
    family.kill_parent()
    time.sleep(1.0)  # as above
    assert alive(family.child_pid)
    assert family.home.exists()
