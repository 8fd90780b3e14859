"""The engine facade the server calls: `Engine.open(data_dir) -> Engine`.

    Engine.open(data_dir, *, checkpoint_every=1000, signing_key=None, journal_bytes_max=64 MiB)
    engine.create_stream(tenant, name) -> StreamId
    engine.append(tenant, stream, events, expected_offset) -> Offset            (first offset of the batch)
    engine.read_events(tenant, stream, from_offset, max_bytes) -> (events, next offset | None)
    engine.execute(tenant, sql, params) -> ExecuteResult(rows_affected, offset)
    engine.query(tenant, sql, params) / query_at(tenant, sql, params, offset) -> QueryResult
    engine.verify_chain(tenant, stream) -> VerifyReport(ok, records_checked, first_bad_offset, reason)
    engine.export(tenant, stream, from_offset, to_offset, out) -> ExportSummary
    engine.audit_auth(tenant, subject, ok, reason); engine.verify_audit() -> AuditReport
    engine.public_key() -> bytes; engine.sync(); engine.status() -> dict; engine.close()

Every failure is an `appliance.craton.types.EngineError` carrying its §4.1 code.
"""

from appliance.craton.audit import AuditReport
from appliance.craton.engine.facade import Engine, ExecuteResult
from appliance.craton.export import ExportReport, ExportSummary, verify_export
from appliance.craton.storage import VerifyReport
from appliance.craton.store import QueryResult

__all__ = [
    "AuditReport",
    "Engine",
    "ExecuteResult",
    "ExportReport",
    "ExportSummary",
    "QueryResult",
    "VerifyReport",
    "verify_export",
]
