"""A real OpenID Connect provider for the tests, served on loopback, plus knobs to make it misbehave.

It implements the authorization code flow the way Keycloak or Dex do: discovery, JWKS (an RSA
key and a P-256 key), an authorize endpoint that auto-approves one configured test user and
redirects back with `code`, `state` and `iss`, a token endpoint that authenticates the client
(Basic or form), spends each code once, checks the redirect URI and the PKCE S256 verifier, and
issues an RS256 or ES256 ID token (signed with PyJWT, independently of the joserfc/authlib code
under test) carrying the nonce and `at_hash`, and a userinfo endpoint.

`Behaviour` holds the ways a broken or hostile provider can go wrong; tests set them per case.
Time comes from the test's `ManualClock`, so ID token expiry is decided by the same clock as the
client under test.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from typing import Any, Literal
from urllib.parse import urlencode

import jwt
from cryptography.hazmat.primitives.asymmetric import ec, rsa
from jwt.algorithms import ECAlgorithm, RSAAlgorithm

from appliance.kernel.clock import ManualClock
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

CLIENT_ID = "craton-appliance"
CLIENT_SECRET = "s3cret:with/odd+chars"  # exercises the form-encoding rule of client_secret_basic
REDIRECT_URI = "https://craton.test/api/v1/auth/oauth/keycloak/callback"


@dataclass
class TestUser:
    __test__ = False  # not a pytest test class

    subject: str = "5f1c9a3e-user-ada"
    email: str = "ada@example.test"
    email_verified: bool | str = True
    name: str = "Ada Lovelace"


@dataclass
class Behaviour:
    """How the provider (mis)behaves. Defaults are a correct provider."""

    alg: Literal["RS256", "ES256"] = "RS256"
    discovery_issuer: str | None = None  # issuer claimed in the discovery document
    discovery_overrides: dict[str, Any] = field(default_factory=dict)
    token_issuer: str | None = None  # iss in the ID token
    audience: str | None = None  # aud in the ID token
    nonce: str | None = None  # nonce in the ID token instead of the requested one
    omit_nonce: bool = False
    id_token_lifetime_s: int = 300
    tamper_signature: bool = False
    sign_with_unpublished_key: bool = False
    at_hash: Literal["right", "wrong", "absent"] = "right"
    email_in_id_token: bool = True
    userinfo_subject: str | None = None
    callback_iss: str | None = None  # iss parameter on the redirect back
    discovery_redirect: str | None = None  # answer discovery with a 302 to this URL
    discovery_body: bytes | None = None  # answer discovery with these raw bytes (e.g. an HTML page)


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def _public_jwk(key: rsa.RSAPrivateKey | ec.EllipticCurvePrivateKey, kid: str, alg: str) -> dict[str, Any]:
    if isinstance(key, rsa.RSAPrivateKey):
        jwk = RSAAlgorithm.to_jwk(key.public_key(), as_dict=True)
    else:
        jwk = ECAlgorithm.to_jwk(key.public_key(), as_dict=True)
    jwk.pop("key_ops", None)
    return {**jwk, "kid": kid, "use": "sig", "alg": alg}


class LocalOidcProvider:
    """`with LocalOidcProvider(clock) as idp:` serves at `idp.issuer` until the block ends."""

    def __init__(self, clock: ManualClock, user: TestUser | None = None) -> None:
        self.clock = clock
        self.user = user or TestUser()
        self.behaviour = Behaviour()
        self.requests: list[tuple[str, str]] = []
        self._generation = 1
        self._keys = {
            "RS256": ("rsa-1", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
            "ES256": ("ec-1", ec.generate_private_key(ec.SECP256R1())),
        }
        self._codes: dict[str, dict[str, str]] = {}
        self._access_tokens: set[str] = set()
        self._server = LoopbackServer(self)
        self.issuer = ""

    def __enter__(self) -> LocalOidcProvider:
        self.issuer = self._server.__enter__().base_url
        return self

    def __exit__(self, *exc: object) -> None:
        self._server.__exit__(None, None, None)

    @property
    def discovery_url(self) -> str:
        return f"{self.issuer}/.well-known/openid-configuration"

    def reset(self) -> None:
        self.behaviour = Behaviour()
        self.user = TestUser()
        self.requests.clear()

    def rotate_keys(self) -> None:
        """New keys under new key ids, as a provider's scheduled rotation does."""
        self._generation += 1
        self._keys = {
            "RS256": (f"rsa-{self._generation}", rsa.generate_private_key(public_exponent=65537, key_size=2048)),
            "ES256": (f"ec-{self._generation}", ec.generate_private_key(ec.SECP256R1())),
        }

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        request = await read_request(scope, receive)
        self.requests.append((request.method, request.path))
        routes = {
            ("GET", "/.well-known/openid-configuration"): self._discovery,
            ("GET", "/jwks"): self._jwks,
            ("GET", "/authorize"): self._authorize,
            ("POST", "/token"): self._token,
            ("GET", "/userinfo"): self._userinfo,
        }
        handler = routes.get((request.method, request.path))
        await send_reply(send, handler(request) if handler else Reply.json(404, {"error": "not_found"}))

    def _discovery(self, _: Request) -> Reply:
        if self.behaviour.discovery_redirect is not None:
            return Reply.redirect(self.behaviour.discovery_redirect)
        if self.behaviour.discovery_body is not None:
            return Reply(200, self.behaviour.discovery_body, (("content-type", "text/html"),))
        document = {
            "issuer": self.behaviour.discovery_issuer or self.issuer,
            "authorization_endpoint": f"{self.issuer}/authorize",
            "token_endpoint": f"{self.issuer}/token",
            "jwks_uri": f"{self.issuer}/jwks",
            "userinfo_endpoint": f"{self.issuer}/userinfo",
            "response_types_supported": ["code"],
            "subject_types_supported": ["public"],
            "id_token_signing_alg_values_supported": ["RS256", "ES256"],
            "code_challenge_methods_supported": ["S256"],
            "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post"],
            "scopes_supported": ["openid", "email", "profile"],
        }
        return Reply.json(200, document | self.behaviour.discovery_overrides)

    def _jwks(self, _: Request) -> Reply:
        return Reply.json(200, {"keys": [_public_jwk(key, kid, alg) for alg, (kid, key) in self._keys.items()]})

    def _authorize(self, request: Request) -> Reply:
        q = request.query
        if q.get("client_id") != CLIENT_ID or q.get("redirect_uri") != REDIRECT_URI:
            return Reply.json(400, {"error": "invalid_request", "error_description": "unknown client or redirect"})
        if q.get("response_type") != "code" or q.get("code_challenge_method") != "S256" or not q.get("code_challenge"):
            return Reply.json(400, {"error": "invalid_request", "error_description": "code flow with PKCE S256 only"})
        code = secrets.token_urlsafe(24)
        self._codes[code] = {
            "challenge": q["code_challenge"],
            "nonce": q.get("nonce", ""),
            "redirect": q["redirect_uri"],
        }
        back = {"code": code, "state": q.get("state", ""), "iss": self.behaviour.callback_iss or self.issuer}
        return Reply.redirect(f"{q['redirect_uri']}?{urlencode(back)}")

    def _client_authenticated(self, request: Request) -> bool:
        header = request.headers.get("authorization", "")
        if header.startswith("Basic "):
            from urllib.parse import unquote

            client_id, _, secret = base64.b64decode(header[6:]).decode().partition(":")
            return unquote(client_id) == CLIENT_ID and unquote(secret) == CLIENT_SECRET
        return request.form.get("client_id") == CLIENT_ID and request.form.get("client_secret") == CLIENT_SECRET

    def _token(self, request: Request) -> Reply:
        form = request.form
        if not self._client_authenticated(request):
            return Reply.json(401, {"error": "invalid_client"})
        grant = self._codes.pop(form.get("code", ""), None)  # a code is spent by its first use
        if form.get("grant_type") != "authorization_code" or grant is None:
            return Reply.json(400, {"error": "invalid_grant", "error_description": "unknown or used code"})
        if form.get("redirect_uri") != grant["redirect"]:
            return Reply.json(400, {"error": "invalid_grant", "error_description": "redirect_uri differs"})
        verifier = form.get("code_verifier", "")
        if not verifier or _b64url(hashlib.sha256(verifier.encode()).digest()) != grant["challenge"]:
            return Reply.json(400, {"error": "invalid_grant", "error_description": "PKCE verification failed"})
        access_token = secrets.token_urlsafe(32)
        self._access_tokens.add(access_token)
        id_token = self._id_token(grant["nonce"], access_token)
        reply = {"access_token": access_token, "token_type": "Bearer", "expires_in": 300, "id_token": id_token}
        return Reply.json(200, reply)

    def _id_token(self, nonce: str, access_token: str) -> str:
        b = self.behaviour
        now = int(self.clock.now().timestamp())
        claims: dict[str, Any] = {
            "iss": b.token_issuer or self.issuer,
            "sub": self.user.subject,
            "aud": b.audience or CLIENT_ID,
            "iat": now,
            "exp": now + b.id_token_lifetime_s,
            "auth_time": now,
        }
        if not b.omit_nonce:
            claims["nonce"] = b.nonce or nonce
        if b.at_hash != "absent":
            digest = hashlib.sha256(access_token.encode()).digest()
            claims["at_hash"] = _b64url(digest[:16] if b.at_hash == "right" else digest[16:])
        if b.email_in_id_token:
            claims |= {"email": self.user.email, "email_verified": self.user.email_verified, "name": self.user.name}
        kid, key = self._keys[b.alg]
        if b.sign_with_unpublished_key:
            key = (
                rsa.generate_private_key(public_exponent=65537, key_size=2048)
                if b.alg == "RS256"
                else (ec.generate_private_key(ec.SECP256R1()))
            )
        token = jwt.encode(claims, key, algorithm=b.alg, headers={"kid": kid})
        if b.tamper_signature:
            head, payload, signature = token.split(".")
            middle = len(signature) // 2
            swapped = "A" if signature[middle] != "A" else "B"
            token = ".".join([head, payload, signature[:middle] + swapped + signature[middle + 1 :]])
        return token

    def _userinfo(self, request: Request) -> Reply:
        token = request.headers.get("authorization", "").removeprefix("Bearer ")
        if token not in self._access_tokens:
            return Reply.json(401, {"error": "invalid_token"})
        subject = self.behaviour.userinfo_subject or self.user.subject
        info = {"sub": subject, "email": self.user.email, "email_verified": self.user.email_verified}
        return Reply.json(200, info | {"name": self.user.name, "preferred_username": "ada"})
