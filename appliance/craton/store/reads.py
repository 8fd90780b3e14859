"""Running SELECTs: table resolution (now or at a past position), the plan cache, and read limits.

Owns: `Reader.select`: resolve the tenant's tables, fetch or compile the plan, bind
`params (+ offset) + literals`, run it under a VM-step budget, stop at `result_rows_max`, and turn
BOOLEAN columns back into booleans.
Must never: run a write, or answer `AT OFFSET n` for a position the tenant has not reached
(`PositionAhead`): an answer about the future would silently change later.
"""

from __future__ import annotations

import itertools

import apsw

from appliance.craton.query import limits
from appliance.craton.query.statements import Query, Select
from appliance.craton.store.catalog import Catalog, TableEntry
from appliance.craton.store.plan import Plan, compile_query
from appliance.craton.store.result import QueryResult
from appliance.craton.types import PositionAhead, QueryExecutionError, TableNotFound


class _ReadRejected(QueryExecutionError):
    """A read names something that does not exist or cannot run (code 8)."""

    def __init__(self, message: str, *, reason: str) -> None:
        super().__init__(message)
        self.reason = reason


def _reject(message: str, reason: str) -> Exception:
    return _ReadRejected(message, reason=reason)


class Reader:
    """Executes SELECTs on the store's connection (the store's lock is held by the caller)."""

    __slots__ = ("_catalog", "_db", "_plans", "_plans_by_id", "_steps_left")

    def __init__(self, connection: apsw.Connection, catalog: Catalog) -> None:
        self._db = connection
        self._catalog = catalog
        self._plans: dict[tuple[Query, int, tuple[int, ...], bool], Plan] = {}
        # Hot path: the parser hands out the same cached Query object for the same SQL text, so
        # a lookup by identity avoids hashing the whole tree; the stored object is compared with
        # `is` on every hit, so a recycled id can never return another query's plan.
        self._plans_by_id: dict[tuple[int, int, tuple[int, ...], bool], tuple[Query, Plan]] = {}
        self._steps_left = 0
        connection.set_progress_handler(self._on_progress, limits.query_vm_steps_check_every)

    def _on_progress(self) -> bool:
        # Called every `query_vm_steps_check_every` VM steps; True interrupts the statement.
        # Writes never set a budget, so they are never interrupted (they must stay deterministic).
        if self._steps_left <= 0:
            return False
        self._steps_left -= limits.query_vm_steps_check_every
        return self._steps_left <= 0

    def select(self, tenant: int, statement: Select, applied: int | None) -> QueryResult:
        at = statement.at_offset
        if at is not None and (applied is None or at > applied):
            reached = "no position yet" if applied is None else f"position {applied}"
            raise PositionAhead(f"AT OFFSET {at} is ahead of the projections ({reached})")
        query = statement.query
        entries = self._resolve(tenant, query, at)
        # The parameter count is part of the key: `AT OFFSET $n` adds a parameter the query
        # itself does not use, and the slots after the parameters are numbered from it.
        param_count = len(statement.params)
        table_ids = (entries[0].table_id,) if len(entries) == 1 else tuple(e.table_id for e in entries)
        fast_key = (id(query), param_count, table_ids, at is not None)
        cached = self._plans_by_id.get(fast_key)
        if cached is not None and cached[0] is query:
            plan = cached[1]
        else:
            plan = self._plan(query, entries, param_count, table_ids, at is not None)
            if len(self._plans_by_id) >= limits.plan_cache_entries_max:
                self._plans_by_id.clear()
            self._plans_by_id[fast_key] = (query, plan)
        args = (*statement.params, at, *plan.literals) if at is not None else (*statement.params, *plan.literals)
        rows = self._run(plan, args)
        return QueryResult(list(plan.names), rows)  # type: ignore[arg-type]  # SQLite cells

    def _plan(
        self, query: Query, entries: list[TableEntry], param_count: int, table_ids: tuple[int, ...], at: bool
    ) -> Plan:
        key = (query, param_count, table_ids, at)
        plan = self._plans.get(key)
        if plan is None:
            plan = compile_query(query, entries, param_count, with_offset=at, reject=_reject)
            if len(self._plans) >= limits.plan_cache_entries_max:
                self._plans.clear()
            self._plans[key] = plan
        return plan

    def _resolve(self, tenant: int, query: Query, at: int | None) -> list[TableEntry]:
        if at is None and not query.joins and query.from_table is not None:
            # Hot path: one table, read now.
            entry = self._catalog.live(tenant, query.from_table.name)
            if entry is not None:
                return [entry]
        refs = ([query.from_table] if query.from_table is not None else []) + [j.table for j in query.joins]
        entries = []
        for ref in refs:
            entry = self._catalog.live(tenant, ref.name) if at is None else self._catalog.at(tenant, ref.name, at)
            if entry is None:
                when = "" if at is None else f" at offset {at}"
                raise TableNotFound(f"table {ref.name} does not exist{when}")
            entries.append(entry)
        return entries

    def _run(self, plan: Plan, args: tuple[object, ...]) -> list[list[object]]:
        self._steps_left = limits.query_vm_steps_max
        try:
            cursor = self._db.execute(plan.sql, args)
            rows = cursor.fetchall() if plan.capped else list(itertools.islice(cursor, limits.result_rows_max + 1))
        except apsw.InterruptError:
            raise QueryExecutionError(
                f"the query did more than {limits.query_vm_steps_max} steps of work; narrow it"
            ) from None
        except (apsw.SQLError, apsw.TooBigError, apsw.RangeError, apsw.MismatchError) as error:
            raise QueryExecutionError(f"the query failed: {error}") from None
        except UnicodeDecodeError:
            # BYTES joined into TEXT (`b || t`) can make text that is not UTF-8: a refusal, not a crash.
            raise QueryExecutionError(
                "the query produced text that is not valid UTF-8 (BYTES mixed into TEXT?)"
            ) from None
        finally:
            self._steps_left = 0
        if len(rows) > limits.result_rows_max:
            raise QueryExecutionError(
                f"the result has more than {limits.result_rows_max} rows; add a LIMIT or narrow the WHERE"
            )
        if not plan.boolean_columns:
            return [list(row) for row in rows]
        return _with_booleans(rows, plan.boolean_columns)


def _with_booleans(rows: list[tuple[object, ...]], columns: tuple[int, ...]) -> list[list[object]]:
    """BOOLEAN columns are stored as 0/1; give them back as False/True (NULL stays NULL)."""
    result = [list(row) for row in rows]
    for index in columns:
        for row in result:
            value = row[index]
            if value is not None:
                row[index] = bool(value)
    return result
