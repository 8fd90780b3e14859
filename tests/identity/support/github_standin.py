"""A local stand-in for GitHub (Enterprise Server layout) speaking the shapes of its OAuth endpoints.

Web side: `GET /login/oauth/authorize` auto-approves and redirects back with `code` and `state`;
`POST /login/oauth/access_token` answers JSON, and, like GitHub, reports a bad code with HTTP
200 and an `error` field; it checks the client secret, the redirect URI and the PKCE S256
verifier and spends each code once. API side under `/api/v3`: `GET /user` and
`GET /user/emails` with a Bearer token, answering 401 `{"message": "Bad credentials"}` otherwise.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from tests.identity.support.loopback import (
    LoopbackServer,
    Receive,
    Reply,
    Request,
    Scope,
    Send,
    read_request,
    send_reply,
)

GITHUB_CLIENT_ID = "Iv1.0123456789abcdef"
GITHUB_CLIENT_SECRET = "0123456789abcdef0123456789abcdef01234567"
GITHUB_REDIRECT_URI = "https://craton.test/api/v1/auth/oauth/github/callback"


def default_emails() -> list[dict[str, Any]]:
    return [
        {"email": "old@example.test", "primary": False, "verified": True, "visibility": None},
        {"email": "octo@example.test", "primary": True, "verified": True, "visibility": "private"},
    ]


@dataclass
class GitHubUser:
    id: int = 583231
    login: str = "octocat"
    name: str | None = "The Octocat"
    emails: list[dict[str, Any]] = field(default_factory=default_emails)


class LocalGitHub:
    """`with LocalGitHub() as gh:` serves at `gh.base_url` (web) and `gh.api_url` until the block ends."""

    def __init__(self) -> None:
        self.user = GitHubUser()
        self.requests: list[tuple[str, str, dict[str, str]]] = []
        self._codes: dict[str, dict[str, str]] = {}
        self._tokens: set[str] = set()
        self._server = LoopbackServer(self)
        self.base_url = ""

    def __enter__(self) -> LocalGitHub:
        self.base_url = self._server.__enter__().base_url
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.__exit__(None, None, None)

    @property
    def api_url(self) -> str:
        return f"{self.base_url}/api/v3"

    def reset(self) -> None:
        self.user = GitHubUser()
        self.requests.clear()

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = await read_request(scope, receive)
        self.requests.append((request.method, request.path, request.headers))
        routes = {
            ("GET", "/login/oauth/authorize"): self._authorize,
            ("POST", "/login/oauth/access_token"): self._access_token,
            ("GET", "/api/v3/user"): self._user,
            ("GET", "/api/v3/user/emails"): self._emails,
        }
        handler = routes.get((request.method, request.path))
        await send_reply(send, handler(request) if handler else Reply.json(404, {"message": "Not Found"}))

    def _authorize(self, request: Request) -> Reply:
        q = request.query
        if q.get("client_id") != GITHUB_CLIENT_ID or q.get("redirect_uri") != GITHUB_REDIRECT_URI:
            return Reply.json(400, {"message": "The redirect_uri MUST match the registered callback URL"})
        code = secrets.token_hex(10)
        self._codes[code] = {"challenge": q.get("code_challenge", ""), "redirect": q["redirect_uri"]}
        return Reply.redirect(f"{q['redirect_uri']}?{urlencode({'code': code, 'state': q.get('state', '')})}")

    def _access_token(self, request: Request) -> Reply:
        form = request.form
        if form.get("client_id") != GITHUB_CLIENT_ID or form.get("client_secret") != GITHUB_CLIENT_SECRET:
            return Reply.json(200, {"error": "incorrect_client_credentials"})
        grant = self._codes.pop(form.get("code", ""), None)
        if grant is None or form.get("redirect_uri") != grant["redirect"]:
            return Reply.json(200, {"error": "bad_verification_code", "error_description": "The code is wrong."})
        digest = hashlib.sha256(form.get("code_verifier", "").encode()).digest()
        if (
            not form.get("code_verifier")
            or base64.urlsafe_b64encode(digest).rstrip(b"=").decode() != grant["challenge"]
        ):
            return Reply.json(200, {"error": "invalid_grant", "error_description": "PKCE verification failed."})
        token = "gho_" + secrets.token_hex(18)
        self._tokens.add(token)
        return Reply.json(200, {"access_token": token, "token_type": "bearer", "scope": "read:user,user:email"})

    def _authorized(self, request: Request) -> bool:
        return request.headers.get("authorization", "").removeprefix("Bearer ") in self._tokens

    def _user(self, request: Request) -> Reply:
        if not self._authorized(request):
            return Reply.json(401, {"message": "Bad credentials"})
        u = self.user
        return Reply.json(200, {"login": u.login, "id": u.id, "name": u.name, "email": None, "type": "User"})

    def _emails(self, request: Request) -> Reply:
        if not self._authorized(request):
            return Reply.json(401, {"message": "Bad credentials"})
        return Reply.json(200, self.user.emails)
