"""Property tests: Craton's SQL answers exactly what stdlib sqlite3 answers on the same data, now and at every past offset."""

from __future__ import annotations

import random
import sqlite3
import tempfile
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis import strategies as st

from appliance.craton.query import StoreRejected
from appliance.craton.types import QueryExecutionError

from .generators import QUERIES, SCHEMA, Sql, dml, insert, t0_rows, t1_rows
from .harness import Driver

EXAMPLES = settings(
    max_examples=60,
    deadline=None,
    suppress_health_check=[HealthCheck.too_slow],
    phases=[Phase.explicit, Phase.reuse, Phase.generate],
)


def _normal(value: Any) -> tuple[int, Any]:
    """A value with its SQLite storage class, booleans counted as integers (that is how both store them)."""
    if value is None:
        return (0, 0)
    if isinstance(value, bool):
        return (1, int(value))
    if isinstance(value, int):
        return (1, value)
    if isinstance(value, float):
        return (2, value)
    if isinstance(value, str):
        return (3, value)
    return (4, bytes(value))


def _normal_rows(rows: list[Any], ordered: bool) -> list[tuple[tuple[int, Any], ...]]:
    normal = [tuple(_normal(v) for v in row) for row in rows]
    return normal if ordered else sorted(normal)


class Pair:
    """The same statements applied to a Craton store and to a plain stdlib sqlite3 database."""

    def __init__(self, directory: Path) -> None:
        self.craton = Driver(directory / "projections.sqlite3")
        self.oracle = sqlite3.connect(":memory:", isolation_level=None)
        self.snapshots: list[tuple[int, list[Any], list[Any]]] = []

    def write(self, sql: Sql) -> None:
        """Apply on both sides; both must accept (with the same row count) or both must refuse."""
        try:
            expected: int | None = self.oracle.execute(sql.oracle(), sql.params).rowcount
        except sqlite3.IntegrityError:
            expected = None
        try:
            got: int | None = self.craton.write(sql.craton(), sql.params)
        except StoreRejected:
            got = None
        if sql.text.startswith("CREATE"):
            expected = 0
        assert got == expected, sql.craton()
        self.snapshots.append((self.craton.position(), self._rows("t0", "k"), self._rows("t1", "k, j")))

    def _rows(self, table: str, key: str) -> list[Any]:
        exists = self.oracle.execute("SELECT 1 FROM sqlite_master WHERE name = ?", (table,)).fetchall()
        return self.oracle.execute(f"SELECT * FROM {table} ORDER BY {key}").fetchall() if exists else []

    def compare(
        self, sql: Sql, ordered: bool, *, oracle: sqlite3.Connection | None = None, at: int | None = None
    ) -> None:
        """Run a query on both sides (Craton optionally `AT OFFSET at`, against another oracle) and compare."""
        mine = sql if at is None else Sql(sql.text + f" AT OFFSET {at}", sql.params)
        failure = None
        try:
            expected = (oracle or self.oracle).execute(sql.oracle(), sql.params).fetchall()
        except sqlite3.OperationalError as error:
            failure = str(error)
        if failure is not None:
            # The runtime errors the generated queries can meet are SUM overflowing 64 bits and
            # BYTES concatenated into text that is not UTF-8; Craton must refuse the same query
            # for the same reason.
            reason = "overflow" if "overflow" in failure else "UTF-8"
            assert reason in failure, failure
            with pytest.raises(QueryExecutionError, match=reason):
                self.craton.rows(mine.craton(), mine.params)
            return
        got = self.craton.rows(mine.craton(), mine.params)
        assert _normal_rows(got, ordered) == _normal_rows(expected, ordered), mine.craton()

    def close(self) -> None:
        self.craton.close()
        self.oracle.close()


@EXAMPLES
@given(
    initial0=t0_rows(),
    initial1=t1_rows(),
    writes=st.lists(dml(), max_size=8),
    queries=st.lists(QUERIES, min_size=1, max_size=6),
)
def test_results_equal_sqlite(
    initial0: list[Any], initial1: list[Any], writes: list[Sql], queries: list[tuple[Sql, bool]]
) -> None:
    """Generated writes are accepted or refused alike, and generated queries (WHERE, ORDER BY, LIMIT, aggregates, joins) return the same rows."""
    with tempfile.TemporaryDirectory() as directory:
        pair = Pair(Path(directory))
        try:
            for ddl in SCHEMA:
                pair.write(Sql(ddl))
            for sql in [insert("t0", initial0), insert("t1", initial1), *writes]:
                pair.write(sql)
            for sql, ordered in queries:
                pair.compare(sql, ordered)
        finally:
            pair.close()


@EXAMPLES
@given(
    initial0=t0_rows(),
    writes=st.lists(dml(), min_size=1, max_size=8),
    queries=st.lists(QUERIES, min_size=1, max_size=3),
    seed=st.integers(0, 2**32 - 1),
)
def test_time_travel_equals_sqlite_at_every_offset(
    initial0: list[Any], writes: list[Sql], queries: list[tuple[Sql, bool]], seed: int
) -> None:
    """`AT OFFSET n` returns the rows sqlite3 held after the statements up to n, for every n, and queries at a past offset match sqlite3 rebuilt to that point."""
    with tempfile.TemporaryDirectory() as directory:
        pair = Pair(Path(directory))
        statements = [Sql(ddl) for ddl in SCHEMA] + [insert("t0", initial0), *writes]
        try:
            for sql in statements:
                pair.write(sql)
            for position, t0, t1 in pair.snapshots[len(SCHEMA) :]:
                assert pair.craton.rows(f"SELECT * FROM t0 ORDER BY k AT OFFSET {position}") == [list(r) for r in t0]
                assert pair.craton.rows(f"SELECT * FROM t1 ORDER BY k, j AT OFFSET {position}") == [list(r) for r in t1]
            cut = random.Random(seed).randrange(2, len(statements) + 1)
            (Path(directory) / "past").mkdir()
            past = Pair(Path(directory) / "past")
            try:
                for sql in statements[:cut]:
                    past.write(sql)
                position = pair.snapshots[cut - 1][0]
                for sql, ordered in queries:
                    pair.compare(sql, ordered, oracle=past.oracle, at=position)
            finally:
                past.close()
        finally:
            pair.close()
