"""`QueryResult`: the answer to a SELECT, as plain data.

Owns: the result Struct the engine returns and the wire encodes.
Must never: hold anything but column names and rows of values.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, TypeAlias

import msgspec

if TYPE_CHECKING:
    from appliance.craton.query.statements import ResultValue

    Cell: TypeAlias = ResultValue
else:
    # msgspec cannot decode a union holding both str and bytes; msgpack keeps them apart anyway.
    Cell = Any


class QueryResult(msgspec.Struct, frozen=True):
    """Column names (aliases, column names, or the text of the expression) and rows of values.

    Values are NULL, booleans (BOOLEAN columns), integers, text, bytes, or floats (AVG).
    """

    columns: list[str]
    rows: list[list[Cell]]
