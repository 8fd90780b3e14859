"""The TUI's only way to the appliance: a small typed HTTP client over httpx.

It owns the request limits (timeout, reply size), the mapping of every transport failure to the
TUI's error tree, and decoding into the structs of `tui.replies`. It must never import Textual or
anything from the appliance, never retry on its own (the poller decides when to ask again) and
never let an httpx exception escape: callers only ever see `TuiError` branches.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from urllib.parse import urlsplit

import httpx
import msgspec

from tui.errors import AddressInvalid, ApplianceProblem, ApplianceUnreachable, ReplyInvalid, invariant
from tui.replies import InstanceReply, LogPage, ReadinessReply, ReplyT, decode_problem, decode_reply

request_timeout_s_default = 2.0
# The biggest legitimate reply is a full log page (500 lines); 4 MiB leaves ample room for long
# messages while keeping a hostile or broken server from filling the TUI's memory.
reply_bytes_max_default = 4 * 1024 * 1024
log_page_lines_max = 500
# A server asking to wait longer than a day is broken; the TUI says "a day" rather than a huge number.
retry_after_s_max = 86_400
_METHODS = frozenset({"GET", "POST", "PATCH", "DELETE"})
PROBLEM_TYPE = "application/problem+json"


def normalise_base_url(url: str) -> str:
    """`url` as a base URL without a trailing slash; anything but plain http(s) is refused."""
    parts = urlsplit(url.strip())
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise AddressInvalid(f"appliance URL must look like http://HOST:PORT, got {url!r}")
    if parts.query or parts.fragment or parts.username or parts.password:
        raise AddressInvalid(f"appliance URL must not carry a query, fragment or credentials: {url!r}")
    try:
        parts.port  # noqa: B018 - urlsplit validates the port lazily, on access
    except ValueError as error:
        raise AddressInvalid(f"appliance URL has an invalid port: {url!r}") from error
    return f"{parts.scheme}://{parts.netloc}{parts.path.rstrip('/')}"


class ApplianceClient:
    """Typed calls to the appliance's status endpoints; one instance per TUI, closed on exit."""

    def __init__(
        self,
        base_url: str,
        *,
        transport: httpx.AsyncBaseTransport | None = None,
        request_timeout_s: float = request_timeout_s_default,
        reply_bytes_max: int = reply_bytes_max_default,
    ) -> None:
        invariant(request_timeout_s > 0, "a request timeout must be positive")
        invariant(reply_bytes_max > 0, "a reply size limit must be positive")
        self.base_url = normalise_base_url(base_url)
        self.request_timeout_s = request_timeout_s
        self.reply_bytes_max = reply_bytes_max
        # trust_env=False: proxy variables must not reroute loopback traffic of an air-gapped host.
        self._http = httpx.AsyncClient(
            base_url=self.base_url,
            transport=transport,
            timeout=httpx.Timeout(request_timeout_s),
            headers={"accept": f"application/json, {PROBLEM_TYPE}"},
            follow_redirects=False,
            trust_env=False,
        )

    async def __aenter__(self) -> ApplianceClient:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, error: BaseException | None, trace: TracebackType | None
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        await self._http.aclose()

    async def instance(self) -> InstanceReply:
        return await self._get("/api/v1/instance", {}, InstanceReply, body_statuses=frozenset({200}))

    async def readiness(self) -> ReadinessReply:
        # 503 is the normal "not ready" answer and carries the same body as 200.
        return await self._get("/readyz", {"verbose": ""}, ReadinessReply, body_statuses=frozenset({200, 503}))

    async def logs(self, *, after: int, limit: int) -> LogPage:
        invariant(after >= 0, "a log cursor is never negative")
        invariant(1 <= limit <= log_page_lines_max, "a log page asks for 1..500 lines")
        params = {"after": str(after), "limit": str(limit)}
        return await self._get("/api/v1/instance/logs", params, LogPage, body_statuses=frozenset({200}))

    async def _get(
        self, path: str, params: dict[str, str], kind: type[ReplyT], *, body_statuses: frozenset[int]
    ) -> ReplyT:
        what = f"GET {path}"
        answer = await self._fetch("GET", path, params, what)
        if answer.status not in body_statuses or answer.content_type == PROBLEM_TYPE:
            raise _problem(what, answer)
        return decode_reply(answer.body, kind, what=what)

    async def send(
        self,
        method: str,
        path: str,
        *,
        params: dict[str, str] | None = None,
        body: object = None,
        bearer: str | None = None,
    ) -> tuple[int, bytes]:
        """One request with an optional JSON body and bearer credential; any 2xx is `(status, body)`.

        An error status raises `ApplianceProblem` (its `status` lets the caller tell 401 apart);
        a credential is sent only in the `authorization` header and never appears in a message.
        """
        invariant(method in _METHODS, "the TUI sends only GET, POST, PATCH and DELETE")
        invariant(path.startswith("/"), "request paths are absolute")
        what = f"{method} {path}"
        headers = {} if bearer is None else {"authorization": f"Bearer {bearer}"}
        content = None if body is None else msgspec.json.encode(body)
        if content is not None:
            headers["content-type"] = "application/json"
        answer = await self._fetch(method, path, params or {}, what, content=content, headers=headers)
        if not 200 <= answer.status < 300 or answer.content_type == PROBLEM_TYPE:
            raise _problem(what, answer)
        return answer.status, answer.body

    async def _fetch(
        self,
        method: str,
        path: str,
        params: dict[str, str],
        what: str,
        *,
        content: bytes | None = None,
        headers: dict[str, str] | None = None,
    ) -> _Answer:
        try:
            async with self._http.stream(method, path, params=params, content=content, headers=headers) as response:
                body = await self._read_capped(response, what)
                return _Answer(
                    status=response.status_code,
                    content_type=response.headers.get("content-type", "").split(";")[0].strip().lower(),
                    body=body,
                    retry_after=response.headers.get("retry-after"),
                )
        except httpx.TimeoutException as error:
            raise ApplianceUnreachable(f"{what}: no reply within {self.request_timeout_s:g} s") from error
        except httpx.DecodingError as error:
            raise ReplyInvalid(f"{what}: reply body could not be decoded: {_describe(error)}") from error
        except httpx.HTTPError as error:
            raise ApplianceUnreachable(f"{what}: {_describe(error)}") from error

    async def _read_capped(self, response: httpx.Response, what: str) -> bytes:
        declared = response.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > self.reply_bytes_max:
            raise ReplyInvalid(f"{what}: reply of {declared} bytes exceeds {self.reply_bytes_max} bytes")
        chunks: list[bytes] = []
        size_bytes = 0
        async for chunk in response.aiter_bytes():
            size_bytes += len(chunk)
            if size_bytes > self.reply_bytes_max:
                raise ReplyInvalid(f"{what}: reply exceeds {self.reply_bytes_max} bytes")
            chunks.append(chunk)
        return b"".join(chunks)


@dataclass(frozen=True)
class _Answer:
    status: int
    content_type: str
    body: bytes
    retry_after: str | None


def _problem(what: str, answer: _Answer) -> ApplianceProblem:
    """An error reply as one readable line: status, title, detail, code, request id, retry delay."""
    status = answer.status
    problem = decode_problem(answer.body)
    reason = httpx.codes.get_reason_phrase(status) or "error"
    wait = _retry_after_s(answer.retry_after)
    if problem is None:
        text = f"{what}: HTTP {status} {reason}"
        if wait is not None:
            text += f" (retry after {wait} s)"
        return ApplianceProblem(text, status=status, retry_after_s=wait)
    text = f"{what}: HTTP {status} {problem.title or reason}"
    if problem.detail:
        text += f": {problem.detail}"
    if problem.code:
        text += f" [{problem.code}]"
    if problem.request_id:
        text += f" (request {problem.request_id})"
    if wait is not None:
        text += f" (retry after {wait} s)"
    return ApplianceProblem(text, status=status, code=problem.code, detail=problem.detail, retry_after_s=wait)


def _retry_after_s(value: str | None) -> int | None:
    """`Retry-After` in whole seconds, when the server sent a sane number (dates are not used here)."""
    if value is None or not value.strip().isdigit():
        return None
    return min(int(value.strip()), retry_after_s_max)


def _describe(error: Exception) -> str:
    """httpx errors sometimes carry an empty message; the class name still says what happened."""
    message = str(error).strip()
    return f"{type(error).__name__}: {message}" if message else type(error).__name__
