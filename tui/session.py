"""The TUI's sign-in session: who is signed in, their tokens (in memory only), refresh and logout.

It owns the access and refresh tokens and the one rule for using them: every identity request
carries the access token; a token known to be expired is refreshed first; a `401` reply is
answered by one refresh and one retry of the same request; if the appliance refuses the refresh or
the retried request, the tokens are forgotten and `SignedOut` tells the screens to go back to the
login screen. Refreshes are serialised (the appliance rotates refresh tokens and treats a second
use of a spent one as theft, ending the whole session), and a caller that waited while another
refreshed simply uses the new token.

It must never write a token anywhere (no file, log, notice or error message), never import
Textual or anything from the appliance, and never read the wall clock: the monotonic clock is
injected, so tests decide when a token expires.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, TypeVar

import msgspec

from tui.client import ApplianceClient
from tui.errors import ApplianceProblem, ReplyInvalid, SignedOut, TuiError, invariant
from tui.replies import Reply, decode_reply

LOGIN_PATH = "/api/v1/auth/login"
REFRESH_PATH = "/api/v1/auth/refresh"
LOGOUT_PATH = "/api/v1/auth/logout"
email_chars_max = 320
password_chars_max = 1024
token_chars_max = 8192
# A token lifetime beyond a day is not "short-lived"; the cap only bounds arithmetic on bad replies.
expires_in_s_max = 86_400
# Refresh a little before the appliance would refuse the token, so a request never races expiry.
expiry_margin_s_default = 5.0
# Statuses with which the appliance says "this refresh token is no good": sign in again.
_REFRESH_REFUSED = frozenset({400, 401, 403, 404, 409, 410, 422})

T = TypeVar("T", bound=Reply)


class TokenReply(Reply, frozen=True, kw_only=True):
    """`POST /api/v1/auth/login` and `/auth/refresh`."""

    access_token: str
    refresh_token: str
    token_type: str = "Bearer"  # noqa: S105 - the scheme name, not a secret
    expires_in: Annotated[int, msgspec.Meta(ge=1, le=expires_in_s_max)]


@dataclass(repr=False)
class _Tokens:
    access: str
    refresh: str
    expires_at: float

    def __repr__(self) -> str:
        return "<tokens>"


def credentials_problem(email: str, password: str) -> str | None:
    """Why the login form cannot be sent as typed, or None when it can."""
    if not email.strip() or not password:
        return "enter an e-mail address and a password"
    if len(email) > email_chars_max:
        return f"the e-mail address is longer than {email_chars_max} characters"
    if len(password) > password_chars_max:
        return f"the password is longer than {password_chars_max} characters"
    return None


def _checked_tokens(reply: TokenReply, what: str) -> TokenReply:
    if reply.token_type.lower() != "bearer":
        raise ReplyInvalid(f"{what}: token type {reply.token_type[:20]!r} is not Bearer")
    for name, token in (("access_token", reply.access_token), ("refresh_token", reply.refresh_token)):
        # A header value with spaces or control characters would break (or smuggle) a request.
        if not 0 < len(token) <= token_chars_max or not token.isascii() or not token.isprintable() or " " in token:
            raise ReplyInvalid(f"{what}: {name} is not a usable bearer token")
    return reply


class Session:
    """One person's sign-in for the lifetime of the TUI; `email` says who, when signed in."""

    def __init__(
        self,
        client: ApplianceClient,
        *,
        clock: Callable[[], float],
        expiry_margin_s: float = expiry_margin_s_default,
    ) -> None:
        invariant(expiry_margin_s >= 0, "the expiry margin is never negative")
        self.client = client
        self.clock = clock
        self.expiry_margin_s = expiry_margin_s
        self.email: str | None = None
        self.refreshes = 0
        self._tokens: _Tokens | None = None
        self._lock = asyncio.Lock()

    @property
    def signed_in(self) -> bool:
        return self._tokens is not None

    async def login(self, email: str, password: str) -> None:
        """Sign in with a password; an error reply (401, 429…) is raised as `ApplianceProblem`."""
        problem = credentials_problem(email, password)
        invariant(problem is None, "the login form checks its fields before sending them")
        _, body = await self.client.send("POST", LOGIN_PATH, body={"email": email.strip(), "password": password})
        self._keep(decode_reply(body, TokenReply, what=f"POST {LOGIN_PATH}"), f"POST {LOGIN_PATH}")
        self.email = email.strip()

    async def logout(self) -> None:
        """End the session on the appliance if it still answers; the tokens are forgotten either way."""
        tokens = self._tokens
        self._forget()
        if tokens is None:
            return
        # Best effort: an appliance that is down, or that already ended the session, has nothing
        # left to undo, and the local sign-out has happened already.
        with contextlib.suppress(TuiError):
            await self.client.send("POST", LOGOUT_PATH, bearer=tokens.access)

    async def get(self, path: str, kind: type[T], *, params: dict[str, str] | None = None) -> T:
        body = await self.send("GET", path, params=params)
        return decode_reply(body, kind, what=f"GET {path}")

    async def send(self, method: str, path: str, *, params: dict[str, str] | None = None, body: object = None) -> bytes:
        """The reply body of an authenticated request, refreshing and retrying once on a 401."""
        access = await self._fresh_access()
        try:
            _, reply = await self.client.send(method, path, params=params, body=body, bearer=access)
        except ApplianceProblem as error:
            if error.status != 401:
                raise
            await self._refresh(seen=access)
            return await self._retry(method, path, params, body)
        return reply

    async def _retry(self, method: str, path: str, params: dict[str, str] | None, body: object) -> bytes:
        tokens = self._require_tokens()
        try:
            _, reply = await self.client.send(method, path, params=params, body=body, bearer=tokens.access)
        except ApplianceProblem as error:
            if error.status == 401:
                self._forget()
                raise SignedOut(f"the appliance no longer accepts this session ({error.message})") from error
            raise
        return reply

    async def _fresh_access(self) -> str:
        tokens = self._require_tokens()
        if self.clock() >= tokens.expires_at:
            await self._refresh(seen=tokens.access)
        return self._require_tokens().access

    async def _refresh(self, *, seen: str) -> None:
        async with self._lock:
            tokens = self._require_tokens()
            if tokens.access != seen:
                return  # another request refreshed while this one waited
            what = f"POST {REFRESH_PATH}"
            try:
                _, body = await self.client.send("POST", REFRESH_PATH, body={"refresh_token": tokens.refresh})
            except ApplianceProblem as error:
                if error.status in _REFRESH_REFUSED:
                    self._forget()
                    raise SignedOut(f"the session has ended; sign in again ({error.message})") from error
                raise
            self._keep(decode_reply(body, TokenReply, what=what), what)
            self.refreshes += 1

    def _keep(self, reply: TokenReply, what: str) -> None:
        reply = _checked_tokens(reply, what)
        expires_at = self.clock() + max(reply.expires_in - self.expiry_margin_s, 0.0)
        self._tokens = _Tokens(access=reply.access_token, refresh=reply.refresh_token, expires_at=expires_at)

    def _require_tokens(self) -> _Tokens:
        if self._tokens is None:
            raise SignedOut("not signed in")
        return self._tokens

    def _forget(self) -> None:
        self._tokens = None
        self.email = None
