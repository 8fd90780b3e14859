"""Craton SQL in process: the parse + versioned-store path against raw apsw on the same data.

Measured in this run, on files in one temporary directory (WAL, `synchronous=NORMAL` on both):

- point query by primary key: raw apsw `SELECT … WHERE id = ?` on a plain table (and, for
  comparison with the wire benchmark, on an in-memory `INTEGER PRIMARY KEY` table) against
  `parse_statement` + `TableStore.select` of the same query, now and `AT OFFSET n`;
- where the time goes: the cached parse alone, and `select` of an already parsed statement;
- an aggregate over the whole table (GROUP BY) on both;
- writes: one-row INSERTs, each its own transaction, and 100-row INSERTs, against raw apsw doing
  the same transactions on a plain table.

Ratios are raw-apsw time / Craton time (1.00 = as fast as raw apsw). Rounds are interleaved and
the median of each is reported. Nothing here asserts a timing.
"""

from __future__ import annotations

import hashlib
import random
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import apsw

from appliance.craton.query import Select, parse_statement
from appliance.craton.store import TableStore

ROWS = 10_000
CREATE = "CREATE TABLE t (id BIGINT PRIMARY KEY, name TEXT NOT NULL, score BIGINT)"
POINT = "SELECT id, name, score FROM t WHERE id = $1"
GROUPED = "SELECT score % 10, COUNT(*), SUM(score) FROM t GROUP BY 1"


def _keys(count: int, seed: int = 7) -> list[int]:
    rng = random.Random(seed)
    return [rng.randrange(ROWS) for _ in range(count)]


def _hash(position: int) -> bytes:
    return hashlib.sha256(position.to_bytes(8, "little")).digest()


class Craton:
    """A TableStore holding the benchmark table, written the way the engine writes it."""

    def __init__(self, path: Path) -> None:
        self.store = TableStore.open(path)
        self.position = -1
        self.write(CREATE, [])
        for start in range(0, ROWS, 1000):
            rows = ", ".join(f"({i}, 'name-{i}', {i * 3})" for i in range(start, start + 1000))
            self.write(f"INSERT INTO t VALUES {rows}", [])

    def write(self, sql: str, params: list[object]) -> None:
        self.position += 1
        self.store.apply(1, self.position, _hash(self.position), parse_statement(sql, params))  # type: ignore[arg-type]

    def query(self, sql: str, params: list[object]) -> list[list[object]]:
        statement = parse_statement(sql, params)
        assert isinstance(statement, Select)
        return self.store.select(1, statement).rows


def _raw(path: Path | str, key_type: str = "BIGINT") -> apsw.Connection:
    connection = apsw.Connection(str(path))
    connection.execute("PRAGMA journal_mode = WAL")
    connection.execute("PRAGMA synchronous = NORMAL")
    connection.execute(f"CREATE TABLE t (id {key_type} PRIMARY KEY, name TEXT NOT NULL, score BIGINT)")
    with connection:
        connection.executemany("INSERT INTO t VALUES (?, ?, ?)", [(i, f"name-{i}", i * 3) for i in range(ROWS)])
    return connection


def _rate(count: int, work: Callable[[], None]) -> float:
    started = time.perf_counter()
    work()
    return count / (time.perf_counter() - started)


def _point_rates(craton: Craton, raw: apsw.Connection, memory: apsw.Connection, count: int) -> dict[str, float]:
    keys = _keys(count)
    at = craton.position

    def raw_point(connection: apsw.Connection) -> Callable[[], None]:
        def run() -> None:
            for key in keys:
                assert connection.execute("SELECT id, name, score FROM t WHERE id = ?", (key,)).fetchall()[0][0] == key

        return run

    def craton_point() -> None:
        for key in keys:
            assert craton.query(POINT, [key])[0][0] == key

    def craton_point_at() -> None:
        for key in keys:
            assert craton.query(POINT + " AT OFFSET $2", [key, at])[0][0] == key

    parsed = [parse_statement(POINT, [key]) for key in keys]

    def select_only() -> None:
        for statement in parsed:
            craton.store.select(1, statement)  # type: ignore[arg-type]

    def parse_only() -> None:
        for key in keys:
            parse_statement(POINT, [key])

    return {
        "raw apsw (file, BIGINT key)": _rate(count, raw_point(raw)),
        "raw apsw (memory, INTEGER PRIMARY KEY)": _rate(count, raw_point(memory)),
        "craton parse + select": _rate(count, craton_point),
        "craton parse + select AT OFFSET": _rate(count, craton_point_at),
        "craton select only (parsed)": _rate(count, select_only),
        "craton parse only (cached)": _rate(count, parse_only),
    }


def _grouped_rates(craton: Craton, raw: apsw.Connection, count: int) -> dict[str, float]:
    def raw_grouped() -> None:
        for _ in range(count):
            raw.execute("SELECT score % 10, COUNT(*), SUM(score) FROM t GROUP BY 1").fetchall()

    def craton_grouped() -> None:
        for _ in range(count):
            craton.query(GROUPED, [])

    return {"raw apsw GROUP BY": _rate(count, raw_grouped), "craton GROUP BY": _rate(count, craton_grouped)}


def _write_rates(craton: Craton, raw: apsw.Connection, count: int, batch: int, first_id: int) -> dict[str, float]:
    ids = range(first_id, first_id + count * batch)
    rows = [(i, f"name-{i}", i) for i in ids]
    sql = "INSERT INTO t VALUES " + ", ".join(f"(${3 * j + 1}, ${3 * j + 2}, ${3 * j + 3})" for j in range(batch))

    def raw_insert() -> None:
        for start in range(0, len(rows), batch):
            with raw:
                raw.executemany("INSERT INTO t VALUES (?, ?, ?)", rows[start : start + batch])

    def craton_insert() -> None:
        for start in range(0, len(rows), batch):
            craton.write(sql, [value for row in rows[start : start + batch] for value in row])

    return {
        f"raw apsw INSERT x{batch}": _rate(count, raw_insert),
        f"craton INSERT x{batch}": _rate(count, craton_insert),
    }


def _median_rounds(rounds: int, measure: Callable[[int], dict[str, float]]) -> dict[str, float]:
    samples: dict[str, list[float]] = {}
    for round_index in range(rounds):
        for name, rate in measure(round_index).items():
            samples.setdefault(name, []).append(rate)
    return {name: statistics.median(rates) for name, rates in samples.items()}


def _report(title: str, rates: dict[str, float], baseline: str, unit: str) -> None:
    print(f"-- {title}")
    base = rates[baseline]
    for name, rate in rates.items():
        print(f"   {name:<42} {rate:>12,.0f} {unit}   {rate / base:5.2f} x {baseline}")


def main(quick: bool) -> None:
    count = 2_000 if quick else 50_000
    rounds = 3 if quick else 5
    with tempfile.TemporaryDirectory() as directory:
        folder = Path(directory)
        craton = Craton(folder / "craton.sqlite3")
        raw = _raw(folder / "raw.sqlite3")
        memory = _raw(":memory:", "INTEGER")
        points = _median_rounds(rounds, lambda _: _point_rates(craton, raw, memory, count))
        _report("point query by primary key (queries/s)", points, "raw apsw (file, BIGINT key)", "q/s")
        grouped = _median_rounds(rounds, lambda _: _grouped_rates(craton, raw, max(count // 500, 5)))
        _report(f"GROUP BY over {ROWS} rows (queries/s)", grouped, "raw apsw GROUP BY", "q/s")
        writes_count = max(count // 25, 50)
        for batch in (1, 100):
            writes = _median_rounds(
                rounds,
                lambda r, b=batch: _write_rates(
                    craton, raw, writes_count // b + 1, b, 1_000_000 * (b + 1) + r * 100_000
                ),
            )
            _report(
                f"INSERT, {batch} row(s) per transaction (transactions/s)", writes, f"raw apsw INSERT x{batch}", "tx/s"
            )
        craton.store.close()
        raw.close()
        memory.close()
