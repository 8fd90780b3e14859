"""SQL for the Craton engine: parse and check statements with sqlglot into deterministic Structs.

Public surface (import from here):

    parse_statement(sql, params) -> Statement      raises SqlParseError (code 7)
    Statement, WriteStatement, Select, Query, CreateTable, DropTable, Insert, Update, Delete, …
    encode_statement(statement) -> bytes / decode_statement(bytes) -> Statement
    SqlParseError (code 7), StoreRejected (8), StoreTableNotFound (6): engine errors with `.reason`

The subset (one statement per call; anything else is refused with a message naming it):

    CREATE TABLE [IF NOT EXISTS] t (c BIGINT|TEXT|BOOLEAN|TIMESTAMP|BYTES [NOT NULL] [PRIMARY KEY], …
                                    [, PRIMARY KEY (c1, c2, …)])     a primary key is required
    DROP TABLE [IF EXISTS] t                                         history stays readable AT OFFSET
    INSERT INTO t [(c, …)] VALUES (…), (…)                           literals and $n only
    UPDATE t SET c = expr, … [WHERE cond]      DELETE FROM t [WHERE cond]
    SELECT [DISTINCT] expr [AS a], * , t.* [FROM t [AS a] [[INNER] JOIN | LEFT [OUTER] JOIN u ON cond …]]
           [WHERE cond] [GROUP BY …] [HAVING cond] [ORDER BY expr|n [ASC|DESC], …]
           [LIMIT n|$n [OFFSET n|$n]] [AT OFFSET n|$n]

Expressions: literals (integers, 'text', TRUE, FALSE, NULL), $1…$n, columns, + - * / % ||,
= == <> != < <= > >=, IS / IS NOT, IS [NOT] NULL, [NOT] IN (list), [NOT] BETWEEN, [NOT] LIKE,
AND, OR, NOT, and COUNT(*), COUNT/SUM/AVG/MIN/MAX([DISTINCT] x). Semantics are SQLite's (the
statements run on SQLite), with three deliberate differences: values are type-checked on write
(no silent coercion, so an overflow to REAL is refused), key uniqueness is checked at the end of
a statement (`SET id = id + 1` works), and operator mixes that parsers group differently
(`a = b < c`, `x || NOT y`, `x IS TRUE`) are refused rather than guessed. Writes never contain
clock, random or connection-state functions. Limits are in `query.limits`.

Must never: touch storage; executing statements belongs to `appliance.craton.store`.
"""

from __future__ import annotations

from appliance.craton.query.codec import decode_statement, encode_statement
from appliance.craton.query.errors import SqlParseError, StoreRejected, StoreTableNotFound
from appliance.craton.query.parser import parse_statement
from appliance.craton.query.statements import (
    COLUMN_TYPES,
    Aggregate,
    Assignment,
    Between,
    Binary,
    Column,
    ColumnDef,
    ColumnType,
    CreateTable,
    Delete,
    DropTable,
    Expr,
    InList,
    Insert,
    IsNull,
    Join,
    Like,
    Lit,
    OrderItem,
    Ordinal,
    Param,
    Query,
    ResultValue,
    Select,
    SelectItem,
    Star,
    Statement,
    TableRef,
    Unary,
    Update,
    WriteStatement,
)
from appliance.craton.types import Value

__all__ = [
    "COLUMN_TYPES",
    "Aggregate",
    "Assignment",
    "Between",
    "Binary",
    "Column",
    "ColumnDef",
    "ColumnType",
    "CreateTable",
    "Delete",
    "DropTable",
    "Expr",
    "InList",
    "Insert",
    "IsNull",
    "Join",
    "Like",
    "Lit",
    "OrderItem",
    "Ordinal",
    "Param",
    "Query",
    "ResultValue",
    "Select",
    "SelectItem",
    "SqlParseError",
    "Star",
    "Statement",
    "StoreRejected",
    "StoreTableNotFound",
    "TableRef",
    "Unary",
    "Update",
    "Value",
    "WriteStatement",
    "decode_statement",
    "encode_statement",
    "parse_statement",
]
