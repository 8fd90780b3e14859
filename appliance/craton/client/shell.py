"""`craton sql`: run one statement, or a prompt, against a replica, printing a table or JSON.

This module owns statement routing (SELECT → Query, everything else → Execute), result rendering
and the interactive loop. It must never crash on the user's input: bad SQL, a lost connection,
EOF and ctrl-C each end in a message (and, for a single statement, a non-zero exit).
"""

from __future__ import annotations

import base64
import json
import sys
from collections.abc import Callable, Sequence
from typing import Any, Final, TextIO

from appliance.craton.client.policy import CratonClientError
from appliance.craton.client.sync import Client
from appliance.craton.wire.messages import Executed, QueryRows

CELL_CHARS_MAX: Final = 200
_READ_KEYWORDS: Final = frozenset({"SELECT", "WITH", "VALUES"})
PROMPT: Final = "craton> "
CONTINUATION_PROMPT: Final = "   ...> "


def is_read(sql: str) -> bool:
    """Route by the first keyword: the server parses for real and refuses what does not fit."""
    words = sql.split(None, 1)
    return bool(words) and words[0].upper().rstrip("(") in _READ_KEYWORDS


def run_statement(client: Client, sql: str, params: Sequence[Any]) -> QueryRows | Executed:
    return client.query(sql, params) if is_read(sql) else client.execute(sql, params)


def render_cell(value: Any) -> str:
    if value is None:
        return "NULL"
    if isinstance(value, bool):
        return "true" if value else "false"
    text = "\\x" + value.hex() if isinstance(value, bytes) else str(value)
    return text if len(text) <= CELL_CHARS_MAX else text[: CELL_CHARS_MAX - 1] + "…"


def render_table(result: QueryRows | Executed) -> str:
    if isinstance(result, Executed):
        where = "" if result.offset is None else f" at offset {result.offset}"
        return f"OK, {result.rows_affected} row(s) affected{where}"
    cells = [[render_cell(v) for v in row] for row in result.rows]
    widths = [len(c) for c in result.columns]
    for row in cells:
        widths = [max(w, len(c)) for w, c in zip(widths, row, strict=True)]
    lines = [
        " | ".join(c.ljust(w) for c, w in zip(result.columns, widths, strict=True)),
        "-+-".join("-" * w for w in widths),
    ]
    lines += [" | ".join(c.ljust(w) for c, w in zip(row, widths, strict=True)) for row in cells]
    lines.append(f"({len(cells)} row{'s' if len(cells) != 1 else ''})")
    return "\n".join(lines)


def _json_value(value: Any) -> Any:
    # JSON has no bytes: BYTES values become {"$bytes": base64} so they stay distinguishable from TEXT.
    if isinstance(value, bytes):
        return {"$bytes": base64.b64encode(value).decode()}
    return value


def render_json(result: QueryRows | Executed) -> str:
    if isinstance(result, Executed):
        return json.dumps({"rows_affected": result.rows_affected, "offset": result.offset})
    rows = [[_json_value(v) for v in row] for row in result.rows]
    return json.dumps({"columns": result.columns, "rows": rows})


def parse_param(text: str) -> Any:
    """A `--param` value: JSON when it parses (1, true, null, "x"), otherwise the text itself."""
    try:
        value = json.loads(text)
    except ValueError:
        return text
    if isinstance(value, list | dict):
        raise ValueError(f"parameter {text!r} must be a scalar (number, string, true/false, null)")
    return value


def run_one(client: Client, sql: str, params: Sequence[Any], *, as_json: bool, out: TextIO, err: TextIO) -> int:
    try:
        result = run_statement(client, sql, params)
    except CratonClientError as error:
        err.write(f"craton sql: {error}\n")
        return 1
    out.write((render_json(result) if as_json else render_table(result)) + "\n")
    return 0


def _statement_complete(buffer: list[str]) -> bool:
    return bool(buffer) and buffer[-1].rstrip().endswith(";")


def repl(
    client: Client,
    *,
    as_json: bool,
    read_line: Callable[[str], str],
    interactive: bool,
    out: TextIO = sys.stdout,
    err: TextIO = sys.stderr,
) -> int:
    """Statements end with `;` (or EOF). ctrl-C drops the statement being typed; EOF or `\\q` quits.

    Returns 0, or 1 when reading from a pipe and any statement failed (scripts notice).
    """
    failures = 0
    buffer: list[str] = []
    while True:
        try:
            prompt = "" if not interactive else CONTINUATION_PROMPT if buffer else PROMPT
            line = read_line(prompt)
        except EOFError:
            if buffer:
                failures += _run_buffer(client, buffer, as_json=as_json, out=out, err=err)
            if interactive:
                out.write("\n")
            return 0 if interactive or failures == 0 else 1
        except KeyboardInterrupt:
            out.write("\n^C (statement discarded; \\q or ctrl-D to quit)\n")
            buffer = []
            continue
        if not buffer and line.strip() in ("\\q", "quit", "exit"):
            return 0 if interactive or failures == 0 else 1
        if line.strip():
            buffer.append(line)
        if _statement_complete(buffer):
            failures += _run_buffer(client, buffer, as_json=as_json, out=out, err=err)
            buffer = []


def _run_buffer(client: Client, buffer: list[str], *, as_json: bool, out: TextIO, err: TextIO) -> int:
    sql = "\n".join(buffer).strip()
    if sql.endswith(";"):
        sql = sql[:-1].rstrip()
    if not sql:
        return 0
    return run_one(client, sql, [], as_json=as_json, out=out, err=err)
