"""`TableStore`: one replica's SQL projections in SQLite (apsw, WAL), versioned by log position.

Owns: the database file, its transactions, the per-tenant applied position, the plan cache, and
the read limits (result rows, VM steps). Each `apply` is one transaction that holds the
statement's row changes and the new applied position together, so a crash can never leave them
apart; a rejected statement changes no rows but still advances the position (the log record
exists and a replay must reach the same state without re-deciding it).

Durability: `synchronous=NORMAL` in WAL mode keeps the file consistent on power loss but may lose
the last transactions; that is safe because the log is the source of truth and the engine replays
every record after `applied_position(tenant)` on open.
Must never: let one tenant's statement resolve another tenant's table, or apply a position at or
below the tenant's applied position (that would mean a replay bug, so it fails loudly).
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Callable, Iterator
from pathlib import Path

import apsw

from appliance.craton.query.codec import decode_statement
from appliance.craton.query.errors import StoreRejected
from appliance.craton.query.statements import CreateTable, Delete, DropTable, Insert, Select, Update, WriteStatement
from appliance.craton.store import mutate
from appliance.craton.store.catalog import Catalog, TableEntry, make_entry
from appliance.craton.store.digest import RowVersion, content_hash, row_versions
from appliance.craton.store.layout import BOOKKEEPING_DDL, FORMAT_VERSION, as_blob, as_int, as_optional_int
from appliance.craton.store.reads import Reader
from appliance.craton.store.result import QueryResult
from appliance.craton.types import HASH_BYTES, StorageError, TableNotFound, invariant


class StoreDamaged(StorageError):
    """The projection file cannot be used (not a database, corrupt, or another format): rebuild it."""

    retryable = False


_APPLY: dict[type, Callable[..., mutate.Outcome]] = {
    CreateTable: mutate.create_table,
    DropTable: mutate.drop_table,
    Insert: mutate.insert,
    Update: mutate.update,
    Delete: mutate.delete,
}


class TableStore:
    """Versioned SQL tables for every tenant of one replica. Thread-safe (one lock, one connection)."""

    def __init__(self, connection: apsw.Connection, path: Path) -> None:
        self._db = connection
        self._path = path
        self._lock = threading.RLock()
        self._catalog = Catalog(_load_entries(connection))
        self._applied = _load_applied(connection)
        self._reader = Reader(connection, self._catalog)

    @classmethod
    def open(cls, path: Path | str) -> TableStore:
        """Open or create the store at `path`; raises `StoreDamaged` if the file is unusable."""
        path = Path(path)
        try:
            connection = apsw.Connection(str(path))
            _prepare(connection)
            return cls(connection, path)
        except (apsw.NotADBError, apsw.CorruptError, apsw.FormatError) as error:
            raise StoreDamaged(f"projection file {path} is damaged ({error}); rebuild it from the log") from None
        except (apsw.CantOpenError, apsw.IOError, apsw.ReadOnlyError, apsw.FullError) as error:
            raise StorageError(f"cannot open projection file {path}: {error}") from None

    @staticmethod
    def remove_files(path: Path | str) -> None:
        """Delete a closed store's files (database, WAL, shared memory) so it can be rebuilt."""
        for suffix in ("", "-wal", "-shm"):
            Path(f"{path}{suffix}").unlink(missing_ok=True)

    def apply(self, tenant: int, position: int, record_hash: bytes, statement: WriteStatement) -> int:
        """Apply one write at the tenant's log `position`; rows affected, or `StoreRejected`."""
        invariant(isinstance(record_hash, bytes) and len(record_hash) == HASH_BYTES, "record hash is 32 bytes")
        invariant(type(statement) in _APPLY, f"only writes are applied, not {type(statement).__name__}")
        with self._lock:
            last = self._applied.get(tenant)
            invariant(position >= 0 and (last is None or position > last), "positions only move forward")
            at = mutate.Position(tenant, position, record_hash)
            outcome, rejection = self._apply_transaction(at, statement)
            self._applied[tenant] = position
            if outcome is not None and outcome.created is not None:
                self._catalog.add(outcome.created)
            if outcome is not None and outcome.dropped is not None:
                self._catalog.drop(outcome.dropped, position)
        if rejection is not None:
            raise rejection
        invariant(outcome is not None, "an applied statement has an outcome")
        assert outcome is not None  # narrows the type for mypy; the invariant above checks it
        return outcome.rows

    def skip_to(self, tenant: int, position: int, record_hash: bytes) -> None:
        """Record that the log record at `position` holds no table change (a checkpoint record).

        The applied position (and hash) then names that record, so `AT OFFSET position` is answered
        and a reopened store still agrees with the log's last record.
        """
        invariant(isinstance(record_hash, bytes) and len(record_hash) == HASH_BYTES, "record hash is 32 bytes")
        with self._lock:
            last = self._applied.get(tenant)
            invariant(position >= 0 and (last is None or position > last), "positions only move forward")
            with self._storage_errors(), self._db:
                _record_position(self._db.cursor(), mutate.Position(tenant, position, record_hash))
            self._applied[tenant] = position

    def _apply_transaction(
        self, at: mutate.Position, statement: WriteStatement
    ) -> tuple[mutate.Outcome | None, StoreRejected | None]:
        cursor = self._db.cursor()
        outcome: mutate.Outcome | None = None
        rejection: StoreRejected | None = None
        with self._storage_errors(), self._db:
            try:
                with self._db:  # a savepoint: the statement's changes, all or nothing
                    outcome = _run_write(cursor, self._catalog, at, statement)
            except StoreRejected as error:
                rejection = error
            _record_position(cursor, at)
        return outcome, rejection

    @contextlib.contextmanager
    def _storage_errors(self) -> Iterator[None]:
        try:
            yield
        except (apsw.NotADBError, apsw.CorruptError) as error:
            raise StoreDamaged(f"projection file {self._path} is damaged ({error}); rebuild it") from None
        except (apsw.FullError, apsw.IOError, apsw.CantOpenError, apsw.ReadOnlyError) as error:
            raise StorageError(f"projection store cannot write: {error}") from None

    def select(self, tenant: int, statement: Select) -> QueryResult:
        """Run a read for `tenant`, now or at `statement.at_offset` (≤ its applied position)."""
        # No context-manager helper here: this is the hot path of every read.
        with self._lock:
            try:
                return self._reader.select(tenant, statement, self._applied.get(tenant))
            except (apsw.NotADBError, apsw.CorruptError) as error:
                raise StoreDamaged(f"projection file {self._path} is damaged ({error}); rebuild it") from None
            except (apsw.IOError, apsw.CantOpenError) as error:
                raise StorageError(f"projection store cannot read: {error}") from None

    def applied_position(self, tenant: int) -> int | None:
        """The last log position applied for `tenant`, or None if none was."""
        with self._lock:
            return self._applied.get(tenant)

    def applied_positions(self) -> dict[int, int]:
        with self._lock:
            return dict(self._applied)

    def applied_hash(self, tenant: int) -> bytes | None:
        """The record hash of the tenant's applied position (compare it with the log's on open)."""
        with self._lock:
            rows = self._db.execute("SELECT hash FROM craton_applied WHERE tenant = ?", (tenant,)).fetchall()
            return as_blob(rows[0][0]) if rows else None

    def tables(self, tenant: int) -> dict[str, CreateTable]:
        """The tenant's live tables and their definitions."""
        with self._lock:
            return self._catalog.live_tables(tenant)

    def row_versions(self, tenant: int, table: str) -> list[RowVersion]:
        """Every version of every row of the tenant's latest incarnation of `table`."""
        with self._lock:
            entry = self._catalog.latest(tenant, table)
            if entry is None:
                raise TableNotFound(f"table {table} does not exist")
            return row_versions(self._db.cursor(), entry)

    def content_hash(self) -> bytes:
        """SHA-256 over every applied position, table and row version (layout-independent)."""
        with self._lock:
            return content_hash(self._db.cursor())

    def close(self) -> None:
        with self._lock:
            self._db.close()


def _record_position(cursor: apsw.Cursor, at: mutate.Position) -> None:
    cursor.execute(
        "INSERT INTO craton_applied (tenant, position, hash) VALUES (?1, ?2, ?3)"
        " ON CONFLICT (tenant) DO UPDATE SET position = ?2, hash = ?3",
        (at.tenant, at.offset, at.record_hash),
    )


def _run_write(cursor: apsw.Cursor, catalog: Catalog, at: mutate.Position, statement: WriteStatement) -> mutate.Outcome:
    try:
        return _APPLY[type(statement)](cursor, catalog, at, statement)
    except (apsw.SQLError, apsw.TooBigError, apsw.RangeError, apsw.MismatchError) as error:
        # SQLite refusing the computation (a LIKE pattern too complex, a value too big) is as
        # deterministic as any other rule of the same SQLite build: it is a rejection.
        raise StoreRejected(f"the statement failed: {error}", reason="execution") from None


def _prepare(connection: apsw.Connection) -> None:
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute("PRAGMA trusted_schema = OFF")
    with connection:
        for ddl in BOOKKEEPING_DDL:
            connection.execute(ddl)
        connection.execute("INSERT OR IGNORE INTO craton_meta (key, value) VALUES ('format', ?)", (FORMAT_VERSION,))
    found = connection.execute("SELECT value FROM craton_meta WHERE key = 'format'").fetchall()[0][0]
    if found != FORMAT_VERSION:
        raise apsw.FormatError(f"store format {found}, expected {FORMAT_VERSION}")
    connection.execute(mutate.TEMP_DDL)
    connection.set_progress_handler(None, 0)


def _load_entries(connection: apsw.Connection) -> list[TableEntry]:
    entries = []
    rows = connection.execute("SELECT table_id, tenant, definition, created_at, dropped_at FROM craton_tables")
    for table_id, tenant, definition, created_at, dropped_at in rows.fetchall():
        statement = decode_statement(as_blob(definition))
        invariant(isinstance(statement, CreateTable), "the catalog holds CREATE TABLE definitions")
        assert isinstance(statement, CreateTable)  # narrows the type for mypy
        entry = make_entry(as_int(table_id), as_int(tenant), statement, as_int(created_at), as_optional_int(dropped_at))
        entries.append(entry)
    return entries


def _load_applied(connection: apsw.Connection) -> dict[int, int]:
    rows = connection.execute("SELECT tenant, position FROM craton_applied").fetchall()
    return {as_int(tenant): as_int(position) for tenant, position in rows}
