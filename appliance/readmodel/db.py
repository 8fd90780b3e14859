"""The SQLite read model: one apsw connection in WAL mode and numbered migrations.

Migrations are `NNNN_name.sql` files in `appliance/readmodel/migrations/`, applied in order, each
in its own transaction together with its row in `schema_migrations`. Bounded contexts take
number ranges: 0001-0009 core, 0010-0029 identity, 0030-0049 fleet.

The read model is derived data: it may be deleted at any time and rebuilt from the event store.
It must never be the only copy of anything.
"""

from __future__ import annotations

import hashlib
import re
from importlib import resources
from pathlib import Path

import apsw

from appliance.kernel.errors import ConfigError, invariant

_MIGRATION_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")
BUSY_TIMEOUT_MS = 5_000


def connect(path: Path, *, read_only: bool = False) -> apsw.Connection:
    flags = apsw.SQLITE_OPEN_READONLY if read_only else apsw.SQLITE_OPEN_READWRITE | apsw.SQLITE_OPEN_CREATE
    try:
        connection = apsw.Connection(str(path), flags=flags)
        connection.setbusytimeout(BUSY_TIMEOUT_MS)
        if not read_only:
            connection.execute("PRAGMA journal_mode=WAL")
            # Rows and their checkpoint commit together; after a power cut the read model may lose
            # its last transactions but stays consistent and catches up from the event store.
            connection.execute("PRAGMA synchronous=NORMAL")
        connection.execute("PRAGMA foreign_keys=ON")
    except apsw.Error as error:
        raise ConfigError(f"cannot open read model {path}: {error}") from None
    return connection


def migrations() -> list[tuple[int, str, str]]:
    """(version, name, sql) of every shipped migration, in order."""
    found: list[tuple[int, str, str]] = []
    folder = resources.files("appliance.readmodel") / "migrations"
    for entry in folder.iterdir():
        match = _MIGRATION_NAME.match(entry.name)
        if match:
            found.append((int(match.group(1)), entry.name, entry.read_text()))
    found.sort()
    versions = [version for version, _, _ in found]
    invariant(len(versions) == len(set(versions)), f"two migrations share a number: {versions}")
    return found


def migrate(connection: apsw.Connection) -> list[str]:
    """Apply pending migrations; returns the names applied. Refuses a database from the future."""
    connection.execute("CREATE TABLE IF NOT EXISTS schema_migrations (version INTEGER PRIMARY KEY, name TEXT NOT NULL)")
    applied = {row[0] for row in connection.execute("SELECT version FROM schema_migrations")}
    shipped = migrations()
    newest = max((v for v, _, _ in shipped), default=0)
    if applied and max(applied) > newest:
        raise ConfigError(
            f"read model is at migration {max(applied)} but this build knows only {newest}; "
            "run `craton projections rebuild` or use a newer build"
        )
    done: list[str] = []
    for version, name, sql in shipped:
        if version in applied:
            continue
        with connection:
            connection.execute(sql)
            connection.execute("INSERT INTO schema_migrations (version, name) VALUES (?, ?)", (version, name))
        done.append(name)
    return done


def content_digest(connection: apsw.Connection) -> str:
    """SHA-256 over every row of every table, in a fixed order: equal digests, equal read models."""
    digest = hashlib.sha256()
    tables = [
        row[0]
        for row in connection.execute(
            "SELECT name FROM sqlite_schema WHERE type = 'table' AND name NOT LIKE 'sqlite_%' ORDER BY name"
        )
    ]
    for table in tables:
        digest.update(table.encode() + b"\x00")
        width = len(list(connection.execute(f'PRAGMA table_info("{table}")')))
        order = ", ".join(str(i) for i in range(1, width + 1))
        for row in connection.execute(f'SELECT * FROM "{table}" ORDER BY {order}'):  # noqa: S608 - names from sqlite_schema
            digest.update(repr(row).encode() + b"\x00")
    return digest.hexdigest()
