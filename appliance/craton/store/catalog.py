"""The in-memory catalog: which tables each tenant has, had, and when.

Owns: `TableEntry` and `Catalog` (name resolution now and at a past log position), loaded from
`craton_tables` and updated only after the transaction that changed it has committed.
Must never: resolve a name across tenants (every lookup is keyed by tenant first).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from appliance.craton.query.statements import ColumnDef, CreateTable


@dataclass(frozen=True, slots=True)
class TableEntry:
    """One incarnation of a table: created at one log position, perhaps dropped at a later one."""

    table_id: int
    tenant: int
    definition: CreateTable
    created_at: int
    dropped_at: int | None
    columns: dict[str, ColumnDef] = field(compare=False, hash=False)

    @property
    def name(self) -> str:
        return self.definition.table

    def visible_at(self, position: int) -> bool:
        return self.created_at <= position and (self.dropped_at is None or self.dropped_at > position)


def make_entry(
    table_id: int, tenant: int, definition: CreateTable, created_at: int, dropped_at: int | None
) -> TableEntry:
    columns = {c.name: c for c in definition.columns}
    return TableEntry(table_id, tenant, definition, created_at, dropped_at, columns)


class Catalog:
    """Every incarnation of every table, by tenant and name."""

    __slots__ = ("_history", "_live")

    def __init__(self, entries: list[TableEntry]) -> None:
        self._live: dict[tuple[int, str], TableEntry] = {}
        self._history: dict[tuple[int, str], list[TableEntry]] = {}
        for entry in sorted(entries, key=lambda e: e.table_id):
            self.add(entry)

    def add(self, entry: TableEntry) -> None:
        key = (entry.tenant, entry.name)
        self._history.setdefault(key, []).append(entry)
        if entry.dropped_at is None:
            self._live[key] = entry

    def drop(self, entry: TableEntry, position: int) -> None:
        key = (entry.tenant, entry.name)
        dropped = make_entry(entry.table_id, entry.tenant, entry.definition, entry.created_at, position)
        self._history[key] = [dropped if e.table_id == entry.table_id else e for e in self._history[key]]
        self._live.pop(key, None)

    def live(self, tenant: int, name: str) -> TableEntry | None:
        return self._live.get((tenant, name))

    def at(self, tenant: int, name: str, position: int) -> TableEntry | None:
        """The incarnation visible at `position` (a later re-creation does not hide an older one)."""
        for entry in reversed(self._history.get((tenant, name), ())):
            if entry.visible_at(position):
                return entry
        return None

    def latest(self, tenant: int, name: str) -> TableEntry | None:
        """The most recent incarnation, live or dropped."""
        history = self._history.get((tenant, name))
        return history[-1] if history else None

    def live_tables(self, tenant: int) -> dict[str, CreateTable]:
        return {name: e.definition for (t, name), e in sorted(self._live.items()) if t == tenant}
