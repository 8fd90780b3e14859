"""Checks on the token stream before parsing, and recognition of the `AT OFFSET n` clause.

Owns: size, token-count and nesting limits applied before the recursive parser runs, and the
removal of a trailing `AT OFFSET <integer | $n>` (which sqlglot does not know: left in place, it
would silently parse as a table alias `AT` followed by an `OFFSET` clause).
Must never: interpret SQL beyond tokens; everything else is the parser's job.
"""

from __future__ import annotations

import itertools
import logging
from dataclasses import dataclass

from sqlglot.dialects.sqlite import SQLite
from sqlglot.errors import SqlglotError
from sqlglot.tokenizer_core import Token, TokenType

from appliance.craton.query import limits
from appliance.craton.query.errors import SqlParseError
from appliance.craton.query.statements import Lit, Param

# The SQLite dialect, because statements run on SQLite: its operator precedence (for example `||`
# binding tighter than `*`) must be the one the tree is built with, or a re-emitted expression
# would compute something else than the text the user wrote.
DIALECT = SQLite()
# sqlglot logs a warning each time it falls back to an opaque Command for text it cannot parse;
# we refuse those statements with an error anyway, so hostile input must not flood the log.
logging.getLogger("sqlglot").setLevel(logging.ERROR)
INT64_MAX = (1 << 63) - 1


@dataclass(frozen=True, slots=True)
class Scanned:
    """The statement text without its `AT OFFSET` clause, and that clause's value if present."""

    text: str
    at_offset: Lit | Param | None


def scan(sql: str) -> Scanned:
    """Check size, tokens and nesting; split off a trailing `AT OFFSET`. Raises `SqlParseError`."""
    if not isinstance(sql, str):
        raise SqlParseError("the statement must be text", reason="not_text")
    _check_size(sql)
    tokens = _tokenize(sql)
    if not tokens:
        raise SqlParseError("the statement is empty", reason="empty")
    if len(tokens) > limits.statement_tokens_max:
        raise SqlParseError(
            f"the statement has {len(tokens)} tokens, more than {limits.statement_tokens_max}",
            reason="too_many_tokens",
        )
    _check_nesting(tokens)
    _check_nulls_ordering(tokens)
    return _split_at_offset(sql, tokens)


def _check_size(sql: str) -> None:
    # A str of n characters encodes to at most 4n bytes, so short texts skip the encoding.
    if len(sql) > limits.statement_bytes_max:
        raise SqlParseError(f"the statement is longer than {limits.statement_bytes_max} bytes", reason="too_long")
    try:
        size_bytes = len(sql.encode("utf-8"))
    except UnicodeEncodeError as error:
        raise SqlParseError(
            f"the statement is not valid Unicode text (character at {error.start})", reason="bad_text"
        ) from None
    if size_bytes > limits.statement_bytes_max:
        raise SqlParseError(
            f"the statement is {size_bytes} bytes, more than {limits.statement_bytes_max}", reason="too_long"
        )


def _tokenize(sql: str) -> list[Token]:
    try:
        return DIALECT.tokenize(sql)
    except SqlglotError as error:
        raise SqlParseError(f"cannot read the statement: {error}", reason="syntax") from None


def _check_nesting(tokens: list[Token]) -> None:
    depth = 0
    for token in tokens:
        if token.token_type == TokenType.L_PAREN:
            depth += 1
            if depth > limits.paren_depth_max:
                raise SqlParseError(f"parentheses nest deeper than {limits.paren_depth_max} levels", reason="too_deep")
        elif token.token_type == TokenType.R_PAREN:
            depth -= 1


def _check_nulls_ordering(tokens: list[Token]) -> None:
    # The parser fills in a dialect default for NULL ordering, so an explicit NULLS FIRST/LAST
    # cannot be told apart from the default after parsing; refuse it here, on the words written.
    for before, after in itertools.pairwise(tokens):
        if _is_word(before, "NULLS") and after.text.upper() in ("FIRST", "LAST"):
            raise SqlParseError("NULLS FIRST/LAST is not supported", reason="unsupported")


def _is_word(token: Token, word: str) -> bool:
    return token.token_type == TokenType.VAR and token.text.upper() == word


def _split_at_offset(sql: str, tokens: list[Token]) -> Scanned:
    starts = [
        i for i in range(len(tokens) - 1) if _is_word(tokens[i], "AT") and tokens[i + 1].token_type == TokenType.OFFSET
    ]
    if not starts:
        return Scanned(sql, None)
    if len(starts) > 1:
        raise SqlParseError("AT OFFSET may appear only once", reason="at_offset")
    start = starts[0]
    tail = tokens[start + 2 :]
    while tail and tail[-1].token_type == TokenType.SEMICOLON:
        tail = tail[:-1]
    value = _offset_value(tail)
    return Scanned(sql[: tokens[start].start], value)


def _offset_value(tail: list[Token]) -> Lit | Param:
    kinds = [t.token_type for t in tail]
    if kinds == [TokenType.NUMBER]:
        return Lit(_digits(tail[0].text, "AT OFFSET"))
    if kinds == [TokenType.VAR] and tail[0].text.startswith("$"):
        number = _digits(tail[0].text[1:], "a $n parameter")
        if not 1 <= number <= limits.params_max:
            raise SqlParseError(f"parameters are numbered $1 to ${limits.params_max}", reason="bad_parameter")
        return Param(number - 1)
    raise SqlParseError(
        "AT OFFSET must end the statement and be followed by a non-negative integer or a $n parameter",
        reason="at_offset",
    )


def _digits(text: str, what: str) -> int:
    if not text.isascii() or not text.isdigit():
        raise SqlParseError(f"{what} needs a non-negative integer, got {text!r}", reason="at_offset")
    if len(text) > 19 or int(text) > INT64_MAX:
        raise SqlParseError(f"{what} {text} is out of range", reason="at_offset")
    return int(text)
