"""Test harness: drive a real TableStore with SQL text, the way the engine does, one log position per write."""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from appliance.craton.query import Select, parse_statement
from appliance.craton.store import QueryResult, TableStore


def record_hash(tenant: int, position: int) -> bytes:
    """A stand-in for the log record hash at (tenant, position): distinct and reproducible."""
    return hashlib.sha256(f"{tenant}:{position}".encode()).digest()


class Driver:
    """Applies writes at increasing positions per tenant (with an optional gap, like checkpoints)."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self.store = TableStore.open(path)
        self.positions: dict[int, int] = dict(self.store.applied_positions())

    def write(self, sql: str, params: Sequence[Any] = (), *, tenant: int = 1, gap: int = 0) -> int:
        """Apply one write; returns rows affected (raises what the store raises)."""
        position = self.positions.get(tenant, -1) + 1 + gap
        self.positions[tenant] = position
        statement = parse_statement(sql, list(params))
        assert not isinstance(statement, Select)
        return self.store.apply(tenant, position, record_hash(tenant, position), statement)

    def query(self, sql: str, params: Sequence[Any] = (), *, tenant: int = 1) -> QueryResult:
        statement = parse_statement(sql, list(params))
        assert isinstance(statement, Select)
        return self.store.select(tenant, statement)

    def rows(self, sql: str, params: Sequence[Any] = (), *, tenant: int = 1) -> list[list[Any]]:
        return self.query(sql, params, tenant=tenant).rows

    def position(self, tenant: int = 1) -> int:
        return self.positions[tenant]

    def reopen(self) -> None:
        self.store.close()
        self.store = TableStore.open(self.path)

    def close(self) -> None:
        self.store.close()
