"""`craton sql` rendering, routing and prompt loop (with a real client against a scripted server)."""

from __future__ import annotations

import asyncio
import io
import json

import pytest

from appliance.craton.client import Client
from appliance.craton.client.shell import is_read, parse_param, render_json, render_table, repl
from appliance.craton.wire.codes import ErrorCode
from appliance.craton.wire.messages import ErrorReply, Executed, QueryRows
from tests.craton.net.test_client import scripted


def test_table_rendering_of_every_value_type() -> None:
    """NULL, booleans, bytes (as \\x hex) and text line up under their headers, with a row count."""
    text = render_table(
        QueryRows(["id", "name", "ok", "blob"], [[1, "ada", True, b"\x01\xff"], [22, None, False, b""]])
    )
    assert text.splitlines() == [
        "id | name | ok    | blob  ",
        "---+------+-------+-------",
        "1  | ada  | true  | \\x01ff",
        "22 | NULL | false | \\x    ",
        "(2 rows)",
    ]
    assert render_table(Executed(3, 17)) == "OK, 3 row(s) affected at offset 17"


def test_json_rendering_keeps_bytes_apart_from_text() -> None:
    """--json output is valid JSON; BYTES become {"$bytes": base64} so they never pass for TEXT."""
    text = render_json(QueryRows(["b", "t"], [[b"hi", "hi"]]))
    assert json.loads(text) == {"columns": ["b", "t"], "rows": [[{"$bytes": "aGk="}, "hi"]]}
    assert json.loads(render_json(Executed(1, None))) == {"rows_affected": 1, "offset": None}


def test_statement_routing_and_params() -> None:
    """SELECT/WITH go to Query, everything else to Execute; --param values parse as JSON scalars."""
    assert is_read("  select 1")
    assert is_read("WITH x AS (SELECT 1) SELECT * FROM x")
    assert not is_read("INSERT INTO t VALUES (1)")
    assert not is_read("")
    assert [parse_param(p) for p in ("1", "true", "null", '"x"', "plain text")] == [1, True, None, "x", "plain text"]
    with pytest.raises(ValueError, match="scalar"):
        parse_param("[1, 2]")


class Lines:
    """Feeds the prompt loop; an entry that is an exception class is raised instead of returned."""

    def __init__(self, *entries: object) -> None:
        self.entries = list(entries)
        self.prompts: list[str] = []

    def __call__(self, prompt: str) -> str:
        self.prompts.append(prompt)
        if not self.entries:
            raise EOFError
        entry = self.entries.pop(0)
        if isinstance(entry, type) and issubclass(entry, BaseException):
            raise entry
        assert isinstance(entry, str)
        return entry


async def test_the_prompt_survives_bad_sql_ctrl_c_and_ends_on_eof() -> None:
    """Bad SQL prints its error and the prompt goes on; ctrl-C drops a half-typed statement; EOF quits with 0."""
    parse_error = ErrorReply(int(ErrorCode.QUERY_PARSE_ERROR), "unsupported construct: random()")
    async with scripted([parse_error, QueryRows(["n"], [[1]])]) as server:
        client = Client(server.address, token="t")
        out, err = io.StringIO(), io.StringIO()
        lines = Lines("INSERT INTO t VALUES (random());", "SELECT", KeyboardInterrupt, "SELECT 1", "  ;")
        code = await asyncio.to_thread(repl, client, as_json=False, read_line=lines, interactive=True, out=out, err=err)
        client.close()
    assert code == 0
    assert "QueryParseError (code 7): unsupported construct: random()" in err.getvalue()
    assert "^C (statement discarded" in out.getvalue()
    assert "(1 row)" in out.getvalue()
    assert server.requests == ["Execute", "Query"]
    assert lines.prompts[:3] == ["craton> ", "craton> ", "   ...> "]


async def test_piped_statements_exit_non_zero_when_one_failed() -> None:
    """Reading from a pipe (no prompt), a failed statement makes the exit code 1; the rest still run."""
    failure = ErrorReply(int(ErrorCode.TABLE_NOT_FOUND), "no table nope")
    async with scripted([failure, Executed(1, 5)]) as server:
        client = Client(server.address, token="t")
        out, err = io.StringIO(), io.StringIO()
        lines = Lines("SELECT * FROM nope;", "INSERT INTO t", "VALUES (1)")
        code = await asyncio.to_thread(repl, client, as_json=True, read_line=lines, interactive=False, out=out, err=err)
        client.close()
    assert code == 1
    assert json.loads(out.getvalue()) == {"rows_affected": 1, "offset": 5}
    assert lines.prompts == ["", "", "", ""]
