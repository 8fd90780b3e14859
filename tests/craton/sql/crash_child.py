"""Child process for the crash test: applies writes forever and prints each acknowledged position."""

from __future__ import annotations

import sys
from pathlib import Path

from appliance.craton.query import parse_statement
from appliance.craton.store import TableStore

from .harness import record_hash


def main(path: str, positions_max: int) -> None:
    store = TableStore.open(Path(path))
    store.apply(1, 0, record_hash(1, 0), parse_statement("CREATE TABLE t (id BIGINT PRIMARY KEY, n BIGINT, pad TEXT)"))  # type: ignore[arg-type]
    print(0, flush=True)
    insert = "INSERT INTO t VALUES ($1, 0, $2)"
    bump = "UPDATE t SET n = n + 1"
    for position in range(1, positions_max):
        statement = parse_statement(insert, [position, "x" * 200]) if position % 2 == 0 else parse_statement(bump)
        store.apply(1, position, record_hash(1, position), statement)  # type: ignore[arg-type]
        print(position, flush=True)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
