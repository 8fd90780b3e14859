"""Small durable-file primitives shared by the storage, journal and audit modules.

Owns: writing every byte of a buffer, atomic replacement of a file (temporary file, fsync,
rename, fsync of the directory) and directory fsync. Must never: decide formats or policies.
"""

from __future__ import annotations

import os
from pathlib import Path


def write_all(fd: int, data: bytes | memoryview) -> None:
    """`os.write` may write less than asked (signals, full pipes, some filesystems): loop until done."""
    view = memoryview(data)
    while view:
        written = os.write(fd, view)
        view = view[written:]


def fsync_directory(directory: Path) -> None:
    # A created, renamed or removed entry is durable only once its directory reaches the disk.
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def atomic_write(path: Path, data: bytes, *, mode: int = 0o644) -> None:
    """Replace `path` with `data` so that a crash leaves either the old or the new file, never a mix."""
    temporary = path.with_name(path.name + ".tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, mode)
    try:
        write_all(fd, data)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)
    fsync_directory(path.parent)
