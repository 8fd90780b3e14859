"""SQL for the Craton engine: parse and check statements with sqlglot into deterministic Structs.

Public surface (import from here):

    parse_statement(sql, params) -> Statement      raises SqlParseError (code 7)
    Statement, WriteStatement, Select, Query, CreateTable, DropTable, Insert, Update, Delete, …
    encode_statement(statement) -> bytes / decode_statement(bytes) -> Statement
    SqlParseError (code 7), StoreRejected (8), StoreTableNotFound (6): engine errors with `.reason`

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
