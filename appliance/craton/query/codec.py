"""Canonical msgpack encoding of statements, and a checked decoder for bytes read back from a log.

Owns: `encode_statement` / `decode_statement`.
Must never: return a decoded statement holding a value the engine would not accept from a client
(the journal and the log are disk files, so their bytes are checked like any other input).
"""

from __future__ import annotations

import msgspec

from appliance.craton.query.binding import check_value
from appliance.craton.query.decoded import check_decoded
from appliance.craton.query.errors import SqlParseError
from appliance.craton.query.statements import Delete, Expr, Insert, Lit, Select, Statement, Update
from appliance.craton.query.tree import query_roots, walk_all
from appliance.craton.types import Value

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Statement)


def encode_statement(statement: Statement) -> bytes:
    """The canonical msgpack bytes of a statement (equal statements give equal bytes)."""
    return _encoder.encode(statement)


def decode_statement(data: bytes) -> Statement:
    """Decode bytes produced by `encode_statement`; raises `SqlParseError` on anything else."""
    try:
        statement: Statement = _decoder.decode(data)
    except msgspec.DecodeError as error:
        raise SqlParseError(f"not an encoded statement: {error}", reason="bad_encoding") from None
    try:
        for value in _values(statement):
            check_value(value, "an encoded value")
        check_decoded(statement)
    except SqlParseError as error:
        raise SqlParseError(f"a bad encoded statement: {error.message}", reason="bad_encoding") from None
    return statement


def _values(statement: Statement) -> list[Value]:
    if isinstance(statement, Insert):
        return [value for row in statement.rows for value in row]
    roots: list[Expr | None] = []
    values: list[Value] = []
    if isinstance(statement, Select):
        roots = query_roots(statement.query)
        values = list(statement.params)
    elif isinstance(statement, Update):
        roots = [a.value for a in statement.assignments]
        roots.append(statement.where)
    elif isinstance(statement, Delete):
        roots = [statement.where]
    return values + [node.value for node in walk_all(roots) if isinstance(node, Lit)]
