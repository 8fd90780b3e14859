"""Errors to RFC 9457 problem+json. The ONLY place where error kinds become HTTP statuses.

Every reply that is not a success has the same shape: `type`, `title`, `status`, `detail`, `code`
(a stable slug), `request_id`, and `field` when one input was at fault. An unexpected exception
is logged with its request id and answered 500 with no internals.
"""

from __future__ import annotations

import logging
from typing import Any

from litestar import Request, Response
from litestar.exceptions import HTTPException, ValidationException

from appliance.api.context import current_request_id
from appliance.kernel.errors import (
    AlreadyExists,
    ConcurrencyConflict,
    Conflict,
    CratonError,
    Fault,
    Forbidden,
    InvalidInput,
    NotFound,
    PreconditionFailed,
    RateLimited,
    Rejected,
    Unauthenticated,
    Unavailable,
)

log = logging.getLogger("appliance.api")

PROBLEM_JSON = "application/problem+json"

# Most specific first: the first matching class decides the status.
STATUS_BY_ERROR: tuple[tuple[type[CratonError], int], ...] = (
    (InvalidInput, 400),
    (Unauthenticated, 401),
    (Forbidden, 403),
    (NotFound, 404),
    (AlreadyExists, 409),
    (ConcurrencyConflict, 409),
    (PreconditionFailed, 409),
    (RateLimited, 429),
    (Rejected, 400),
    (Conflict, 409),
    (Unavailable, 503),
    (Fault, 500),
)

TITLES = {
    400: "Bad request",
    401: "Authentication required",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Request body too large",
    415: "Unsupported media type",
    429: "Too many requests",
    500: "Internal error",
    503: "Service unavailable",
}


def status_for(error: CratonError) -> int:
    for kind, status in STATUS_BY_ERROR:
        if isinstance(error, kind):
            return status
    return 500


def problem(
    status: int, detail: str, code: str, *, field: str | None = None, headers: dict[str, str] | None = None
) -> Response[Any]:
    body: dict[str, Any] = {
        "type": f"https://craton.invalid/problems/{code}",
        "title": TITLES.get(status, "Error"),
        "status": status,
        "detail": detail,
        "code": code,
        "request_id": current_request_id(),
    }
    if field:
        body["field"] = field
    return Response(content=body, status_code=status, media_type=PROBLEM_JSON, headers=headers)


def on_craton_error(_: Request[Any, Any, Any], error: CratonError) -> Response[Any]:
    status = status_for(error)
    if status >= 500:
        log.error("request failed", extra={"code": error.code, "detail": error.message})
    headers = {"Retry-After": str(error.retry_after_s)} if isinstance(error, RateLimited) else None
    return problem(status, error.message, error.code, field=getattr(error, "field", None), headers=headers)


def on_validation_error(_: Request[Any, Any, Any], error: ValidationException) -> Response[Any]:
    detail = error.detail or "the request is not valid"
    extra = error.extra
    if isinstance(extra, list) and extra:
        first = extra[0]
        if isinstance(first, dict):
            detail = f"{detail}: {first.get('message', '')} ({first.get('key', first.get('source', ''))})".strip()
    return problem(400, detail, "invalid_input")


def on_http_error(_: Request[Any, Any, Any], error: HTTPException) -> Response[Any]:
    status = error.status_code
    code = {
        400: "invalid_input",
        404: "not_found",
        405: "method_not_allowed",
        413: "body_too_large",
        415: "unsupported_media_type",
    }
    headers = dict(error.headers or {})
    return problem(status, str(error.detail), code.get(status, "http_error"), headers=headers or None)


def on_unexpected(_: Request[Any, Any, Any], error: Exception) -> Response[Any]:
    log.exception("unexpected error while handling a request", exc_info=error)
    return problem(500, "the appliance failed to handle this request; see its log", "internal_error")


EXCEPTION_HANDLERS: dict[Any, Any] = {
    CratonError: on_craton_error,
    ValidationException: on_validation_error,
    HTTPException: on_http_error,
    Exception: on_unexpected,
}
