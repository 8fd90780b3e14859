"""Run one authorised request against the engine and turn the outcome into a response body.

This module owns the mapping from request bodies to engine calls, and from engine errors to wire
error replies. It runs on a worker thread, never on the event loop. It must never raise: every
outcome, including a bug, becomes a response body, so one bad request cannot wedge a connection.
The tenant it receives has already been checked against the credential; it must never read a
tenant from the request body.
"""

from __future__ import annotations

import logging

from appliance.craton.server.engine_port import EnginePort, QueryResultLike
from appliance.craton.types import EngineError, Offset, StreamId, TenantId
from appliance.craton.wire.codes import ErrorCode
from appliance.craton.wire.messages import (
    AppendEvents,
    ChainVerified,
    CreateStream,
    ErrorReply,
    EventsAppended,
    EventsRead,
    Execute,
    Executed,
    Handshake,
    Query,
    QueryAt,
    QueryRows,
    ReadEvents,
    RequestBody,
    ResponseBody,
    StreamCreated,
    Sync,
    Synced,
    VerifyChain,
)

_log = logging.getLogger("craton.server")
_ERROR_MESSAGE_CHARS_MAX = 2000


def perform(engine: EnginePort, tenant_id: int, body: RequestBody) -> ResponseBody:
    try:
        return _run(engine, TenantId(tenant_id), body)
    except EngineError as error:
        return error_reply(error)
    except Exception:
        # A bug or an environment failure the engine did not classify: log it in full here, tell
        # the client only that it happened (and that it may retry).
        _log.exception("unexpected failure in %s for tenant %d", type(body).__name__, tenant_id)
        return ErrorReply(int(ErrorCode.INTERNAL_ERROR), "internal error (logged on the replica)")


def perform_batch(engine: EnginePort, items: list[tuple[int, RequestBody]]) -> list[ResponseBody]:
    """Run several requests in order on this worker thread, one response each."""
    return [perform(engine, tenant_id, body) for tenant_id, body in items]


def error_reply(error: EngineError) -> ErrorReply:
    code = error.code
    hint = getattr(error, "leader_hint", None)
    message = str(error)[:_ERROR_MESSAGE_CHARS_MAX] or type(error).__name__
    return ErrorReply(int(code), message, hint if isinstance(hint, str) else None)


def _run(engine: EnginePort, tenant: TenantId, body: RequestBody) -> ResponseBody:  # noqa: PLR0911 (one arm per operation)
    # The wire already bounded every number; these wrappers only give them their engine types.
    match body:
        case CreateStream():
            return StreamCreated(int(engine.create_stream(tenant, body.name)))
        case AppendEvents():
            expected = None if body.expected_offset is None else Offset(body.expected_offset)
            first = engine.append(tenant, StreamId(body.stream_id), body.events, expected)
            return EventsAppended(int(first), len(body.events))
        case ReadEvents():
            events, next_offset = engine.read_events(
                tenant, StreamId(body.stream_id), Offset(body.from_offset), body.max_bytes
            )
            return EventsRead(list(events), None if next_offset is None else int(next_offset))
        case Query():
            return _rows(engine.query(tenant, body.sql, body.params))
        case QueryAt():
            return _rows(engine.query_at(tenant, body.sql, body.params, Offset(body.offset)))
        case Execute():
            result = engine.execute(tenant, body.sql, body.params)
            return Executed(int(result.rows_affected), None if result.offset is None else int(result.offset))
        case VerifyChain():
            report = engine.verify_chain(tenant, StreamId(body.stream_id))
            bad = None if report.first_bad_offset is None else int(report.first_bad_offset)
            return ChainVerified(bool(report.ok), int(report.records_checked), bad, report.reason)
        case Sync():
            engine.sync()
            return Synced(True)
        case Handshake():
            # The connection answers handshakes itself; one reaching here is a routing bug.
            return ErrorReply(int(ErrorCode.INVALID_REQUEST), "Handshake is not an engine operation")


def _rows(result: QueryResultLike) -> QueryRows:
    return QueryRows(list(result.columns), [list(row) for row in result.rows])
