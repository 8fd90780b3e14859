"""Checks made before the appliance writes anything: data dir, ports, the bundled binary.

Each failure is a `ConfigError` with a one-line reason; when one fails, nothing has been created,
changed or started.
"""

from __future__ import annotations

import os
import socket
from pathlib import Path

from appliance.kernel.errors import ConfigError

LISTEN_BACKLOG = 128


def check_data_dir(path: Path) -> None:
    """The data dir must be a writable folder, or creatable inside an existing writable parent.

    Writability is probed for real (a file created and removed at once), because permission bits
    do not tell the truth for root, read-only mounts or immutable folders.
    """
    if path.exists():
        if not path.is_dir():
            raise ConfigError(f"data dir {path} exists but is not a folder")
        if not _can_write_in(path):
            raise ConfigError(f"data dir {path} is not writable")
        return
    parent = path.parent
    while not parent.exists() and parent != parent.parent:
        parent = parent.parent
    if not parent.is_dir() or not _can_write_in(parent):
        raise ConfigError(f"data dir {path} does not exist and cannot be created under {parent}")


def _can_write_in(folder: Path) -> bool:
    probe = folder / f".craton-probe-{os.getpid()}"
    try:
        fd = os.open(probe, os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o600)
    except OSError:
        return False
    os.close(fd)
    probe.unlink()
    return True


def bind_http(host: str, port: int) -> socket.socket:
    """Bind the HTTP socket now, so a taken port fails before anything starts."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    try:
        sock.bind((host, port))
        sock.listen(LISTEN_BACKLOG)
    except OSError as error:
        sock.close()
        reason = "is already in use" if error.errno == 98 else f"cannot be bound ({error.strerror})"
        raise ConfigError(f"HTTP address {host}:{port} {reason}") from None
    sock.setblocking(False)
    return sock
