"""Child process for the kill -9 test: appends and inserts through a real Engine, printing each ack.

Usage: python -m tests.craton.log.crash_writer DATA_DIR. Prints `ready STREAM`, then for ever
`append I FIRST_OFFSET` after each acknowledged batch and `sql I OFFSET` after each insert.
"""

from __future__ import annotations

import sys
from pathlib import Path

from appliance.craton.engine import Engine

BATCH_EVENTS = 10


def batch(index: int) -> list[bytes]:
    return [f"batch {index} event {k} ".encode() * 3 for k in range(BATCH_EVENTS)]


def main() -> None:
    engine = Engine.open(Path(sys.argv[1]), checkpoint_every=37)
    stream = engine.create_stream(1, "crash")
    engine.execute(1, "CREATE TABLE acks (n BIGINT PRIMARY KEY, note TEXT)", [])
    print(f"ready {stream}", flush=True)
    index = 0
    while True:
        first = engine.append(1, stream, batch(index), None)
        print(f"append {index} {first}", flush=True)
        if index % 3 == 0:
            result = engine.execute(1, "INSERT INTO acks VALUES ($1, $2)", [index, f"batch {index}"])
            print(f"sql {index} {result.offset}", flush=True)
        index += 1


if __name__ == "__main__":
    main()
