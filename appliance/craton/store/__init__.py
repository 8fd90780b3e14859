"""Per-replica SQL projections: versioned tables in SQLite, readable at any past log position.

Public surface:

    TableStore.open(path) -> TableStore
    store.apply(tenant, position, record_hash, statement) -> rows affected   (StoreRejected on refusal)
    store.skip_to(tenant, position, record_hash)     a log record with no table change (a checkpoint)
    store.select(tenant, select) -> QueryResult                             (AT OFFSET honoured)
    store.applied_position(tenant) / applied_positions() / applied_hash(tenant)
    store.tables(tenant), store.row_versions(tenant, table), store.content_hash(), store.close()
    TableStore.remove_files(path)   delete a closed store so it can be rebuilt from the log

Must never: decide anything the log did not: the store only replays what it is given, in order.
"""

from __future__ import annotations

from appliance.craton.query.errors import StoreRejected, StoreTableNotFound
from appliance.craton.store.digest import RowVersion
from appliance.craton.store.result import QueryResult
from appliance.craton.store.table_store import StoreDamaged, TableStore

__all__ = ["QueryResult", "RowVersion", "StoreDamaged", "StoreRejected", "StoreTableNotFound", "TableStore"]
