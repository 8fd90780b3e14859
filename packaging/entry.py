"""Entry script of the frozen `craton` binary: PyInstaller runs this file as `__main__`.

A one-file binary runs as two processes: the bootloader (the pid that a shell or systemd sees),
which unpacks the bundle into a private temp folder and waits, and its child, the interpreter
running the appliance. This script owns what that split requires before the appliance's CLI runs:

- the child dies with whoever started it: the kernel sends it SIGTERM when its parent dies, even
  by SIGKILL (PR_SET_PDEATHSIG), so the appliance still shuts down in order and stops nats-server;
- when the bootloader died first, the child deletes the unpacked folder on exit, which the dead
  bootloader no longer can;
- `craton --bundle-selfcheck` (run by packaging/build.py) checks the bundle's contents.

It must never parse the appliance's own arguments or change its behaviour otherwise, and it
imports nothing heavy before the appliance's CLI does (start-up time).
"""

from __future__ import annotations

import atexit
import ctypes
import importlib.metadata
import os
import shutil
import signal
import sys
from collections.abc import Callable
from pathlib import Path

ExitStatus = int | str | None
_PR_SET_PDEATHSIG = 1
_BUNDLE_HOME_VARIABLE = b"_PYI_APPLICATION_HOME_DIR="


def frozen_parent_pid() -> int | None:
    """Our parent's pid when it runs this same executable (the bootloader, or a craton that
    spawned us), else None. Only meaningful in a frozen build on Linux."""
    if not getattr(sys, "frozen", False) or not sys.platform.startswith("linux"):
        return None
    parent = os.getppid()
    try:
        parent_exe = os.readlink(f"/proc/{parent}/exe")
    except OSError:
        return None
    if parent_exe.removesuffix(" (deleted)") != os.path.realpath(sys.executable):
        return None
    return parent


def parent_is_bootloader(parent: int) -> bool:
    """A top-level bootloader started without the bundle's home in its environment; a craton
    that spawned us (and shares our unpacked folder) had it from its own bootloader."""
    try:
        environment = Path(f"/proc/{parent}/environ").read_bytes().split(b"\0")
    except OSError:
        return False
    return not any(item.startswith(_BUNDLE_HOME_VARIABLE) for item in environment)


def die_with_parent(parent: int, signal_number: int = signal.SIGTERM) -> None:
    """Ask the kernel for `signal_number` when `parent` dies; exit now if it already has."""
    libc = ctypes.CDLL(None, use_errno=True)
    if libc.prctl(_PR_SET_PDEATHSIG, int(signal_number), 0, 0, 0) != 0:
        error = ctypes.get_errno()
        raise OSError(error, f"prctl(PR_SET_PDEATHSIG) failed: {os.strerror(error)}")
    if os.getppid() != parent:  # the parent died before prctl took effect
        raise SystemExit(128 + int(signal_number))


def remove_orphaned_bundle(parent: int) -> None:
    """At exit: if our bootloader is gone, nobody else will delete the unpacked folder."""
    if os.getppid() == parent:
        return
    home = Path(getattr(sys, "_MEIPASS", ""))
    # Only ever a folder the bootloader made (`_MEIxxxxxx`), never anything a user pointed us at.
    if home.name.startswith("_MEI") and home.is_dir() and not home.is_symlink():
        shutil.rmtree(home, ignore_errors=True)


def _exit_on_sigterm(signal_number: int, _frame: object) -> None:
    """Until the appliance installs its own handler, SIGTERM unwinds normally so atexit runs."""
    raise SystemExit(128 + signal_number)


def guard_frozen_process() -> None:
    parent = frozen_parent_pid()
    if parent is None:
        return
    if parent_is_bootloader(parent):
        atexit.register(remove_orphaned_bundle, parent)
        signal.signal(signal.SIGTERM, _exit_on_sigterm)
    die_with_parent(parent)


def console_script() -> Callable[[], ExitStatus]:
    """The function the installed `craton` command runs, found the same way (bundled metadata)."""
    (script,) = importlib.metadata.entry_points(group="console_scripts", name="craton")
    function: Callable[[], ExitStatus] = script.load()
    return function


def main() -> ExitStatus:
    if sys.argv[1:] == ["--bundle-selfcheck"]:
        import bundle_selfcheck

        return bundle_selfcheck.main()
    guard_frozen_process()
    return console_script()()


if __name__ == "__main__":
    sys.exit(main())
