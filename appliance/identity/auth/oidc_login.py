"""The provider-independent half of an OAuth/OIDC login: records and pure rules.

This module owns what every federated login shares, whatever the provider: the pending-login
record kept between the redirect and the callback (`PendingLogin`: state, nonce, PKCE verifier,
expiry; single use, stored by the HTTP layer in NATS KV under its `state`), the checks on the
callback's query parameters (`check_callback`), the typed result (`ExternalIdentity`), the
interface every provider implements (`FederatedLogin`), and the linking rule (`link_decision`).
It must never do I/O, read the clock (it takes `now`) or draw randomness except through the
`random_bytes` it is given.

The linking rule, which the workflows apply: an external identity is attached to an existing
account only when the provider says its e-mail is verified *and* the account's user, logged in,
confirms. A matching e-mail alone never links or logs anyone in (that would let whoever controls
an e-mail at any configured provider take over the account).
"""

from __future__ import annotations

import base64
import hmac
import re
import secrets
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta
from enum import StrEnum
from typing import Annotated, Protocol

import msgspec

from appliance.kernel.errors import InvalidInput, Unauthenticated, invariant
from appliance.kernel.ids import UserId
from appliance.kernel.structs import Struct

LOGIN_TTL_S = 600
LOGIN_TTL_S_MAX = 3_600
SECRET_BYTES = 32  # state, nonce and PKCE verifier each carry 256 random bits
CALLBACK_VALUE_CHARS_MAX = 2_048
PROVIDER_ERROR_CHARS_MAX = 200
EMAIL_CHARS_MAX = 320  # RFC 5321: 64 for the local part, @, 255 for the domain
NAME_CHARS_MAX = 200
PROVIDER_NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,31}$")
_PRINTABLE = re.compile(r"[^\x20-\x7e]")

RandomBytes = Callable[[int], bytes]
# RFC 7636 §4.1: 43..128 characters of the unreserved set.
CodeVerifier = Annotated[str, msgspec.Meta(min_length=43, max_length=128, pattern=r"^[A-Za-z0-9._~-]+$")]
OpaqueToken = Annotated[str, msgspec.Meta(min_length=43, max_length=128, pattern=r"^[A-Za-z0-9_-]+$")]


class ExternalIdentity(Struct, frozen=True):
    """Who the provider says logged in. `subject` is stable per provider; e-mail may change."""

    provider: str
    issuer: str
    subject: str
    email: str | None
    email_verified: bool
    name: str | None


def make_identity(
    provider: str, issuer: str, *, subject: str, email: object, email_verified: object, name: object
) -> ExternalIdentity:
    """Normalise what a provider said: only a JSON `true` verifies, and only a non-empty address."""
    address = email.strip() if isinstance(email, str) else ""
    if len(address) > EMAIL_CHARS_MAX:
        raise Unauthenticated(f"the provider's e-mail address is longer than {EMAIL_CHARS_MAX} characters")
    return ExternalIdentity(
        provider=provider,
        issuer=issuer,
        subject=subject,
        email=address or None,
        # A missing claim or the string "true" is not a verification.
        email_verified=bool(address) and email_verified is True,
        name=(name.strip()[:NAME_CHARS_MAX] or None) if isinstance(name, str) else None,
    )


class PendingLogin(Struct, frozen=True):
    """Everything the callback must match, kept server-side between redirect and callback."""

    provider: str
    state: OpaqueToken
    nonce: OpaqueToken
    code_verifier: CodeVerifier
    redirect_uri: str
    link_user_id: UserId | None  # set when a logged-in user started this login to link an identity
    created_at: datetime
    expires_at: datetime


class LoginRedirect(Struct, frozen=True):
    """Where to send the browser, and the record to keep until it comes back."""

    url: str
    pending: PendingLogin


class FederatedLogin(Protocol):
    """One configured provider. The HTTP layer keeps a `dict[str, FederatedLogin]` by name."""

    @property
    def name(self) -> str: ...

    async def begin(self, *, link_user_id: UserId | None = None) -> LoginRedirect:
        """Make a pending login and the provider's authorization URL for it."""
        ...

    async def complete(self, pending: PendingLogin, callback: Mapping[str, str]) -> ExternalIdentity:
        """Check the callback against `pending`, exchange the code, return who logged in."""
        ...

    async def aclose(self) -> None: ...


def _token(random_bytes: RandomBytes) -> str:
    raw = random_bytes(SECRET_BYTES)
    invariant(len(raw) == SECRET_BYTES, "the random source returned the bytes asked for")
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def new_pending_login(
    provider: str,
    redirect_uri: str,
    *,
    now: datetime,
    link_user_id: UserId | None = None,
    ttl_s: int = LOGIN_TTL_S,
    random_bytes: RandomBytes = secrets.token_bytes,
) -> PendingLogin:
    """Fresh state, nonce and PKCE verifier (43 characters, S256 is derived from it) with an expiry."""
    invariant(1 <= ttl_s <= LOGIN_TTL_S_MAX, f"login ttl must be 1..{LOGIN_TTL_S_MAX} s")
    return PendingLogin(
        provider=provider,
        state=_token(random_bytes),
        nonce=_token(random_bytes),
        code_verifier=_token(random_bytes),
        redirect_uri=redirect_uri,
        link_user_id=link_user_id,
        created_at=now,
        expires_at=now + timedelta(seconds=ttl_s),
    )


def check_state_param(callback: Mapping[str, object]) -> str:
    """The callback's `state`, validated as a lookup key for the pending login."""
    state = _param(callback, "state")
    if state is None:
        raise InvalidInput("the callback lacks the state parameter", field="state")
    return state


def check_callback(
    pending: PendingLogin,
    provider: str,
    callback: Mapping[str, object],
    *,
    now: datetime,
    issuer: str | None,
) -> str:
    """Check the provider's redirect back to us; return the authorization code."""
    state = check_state_param(callback)
    if pending.provider != provider:
        raise Unauthenticated(f"this login was started for provider {pending.provider!r}, not {provider!r}")
    if not hmac.compare_digest(state.encode(), pending.state.encode()):
        raise Unauthenticated("the callback's state does not match this login (possible cross-site request)")
    if now >= pending.expires_at:
        raise Unauthenticated("the login took too long and has expired; start again")
    returned_issuer = _param(callback, "iss")
    if returned_issuer is not None and issuer is not None and returned_issuer != issuer:
        # RFC 9207: a callback naming another issuer is a mix-up attack between providers.
        raise Unauthenticated("the callback names another issuer than this provider")
    error = _param(callback, "error")
    if error is not None:
        detail = _param(callback, "error_description") or ""
        raise Unauthenticated(f"the provider refused the login: {_clean(error)} {_clean(detail)}".rstrip())
    code = _param(callback, "code")
    if not code:
        raise InvalidInput("the callback lacks the code parameter", field="code")
    return code


def _param(callback: Mapping[str, object], name: str) -> str | None:
    value = callback.get(name)
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > CALLBACK_VALUE_CHARS_MAX:
        raise InvalidInput(
            f"callback parameter {name} must be text of at most {CALLBACK_VALUE_CHARS_MAX} chars", field=name
        )
    return value


def _clean(text: str) -> str:
    """Provider text is shown to users and logged: printable ASCII, bounded."""
    return _PRINTABLE.sub("?", text)[:PROVIDER_ERROR_CHARS_MAX]


class LinkOutcome(StrEnum):
    SIGN_IN = "sign_in"  # the identity is already linked: log in as that account
    LINK = "link"  # attach the identity to the logged-in account, which confirmed
    CONFIRM = "confirm"  # ask the logged-in user to confirm, then decide again with confirmed=True
    LOG_IN_TO_LINK = "log_in_to_link"  # an account has this e-mail: its owner must log in and link
    NO_ACCOUNT = "no_account"  # nothing matches: sign up if the instance allows it, else refuse
    REFUSED = "refused"


class LinkDecision(Struct, frozen=True):
    outcome: LinkOutcome
    user_id: UserId | None  # the account to log in or link to (SIGN_IN, LINK, CONFIRM)
    reason: str


def link_decision(
    *,
    identity: ExternalIdentity,
    linked_user_id: UserId | None,
    email_owner_id: UserId | None,
    logged_in_user_id: UserId | None,
    confirmed: bool,
) -> LinkDecision:
    """Decide what a completed external login means for local accounts.

    `linked_user_id`: the account already linked to (provider, subject), if any.
    `email_owner_id`: the account whose e-mail equals the identity's, if any.
    `logged_in_user_id`: the account whose session started this login to link (and is still
    logged in at the callback), if any. `confirmed`: that user explicitly confirmed linking.
    """
    if linked_user_id is not None:
        if logged_in_user_id is not None and logged_in_user_id != linked_user_id:
            return LinkDecision(
                outcome=LinkOutcome.REFUSED, user_id=None, reason="this identity is linked to another account"
            )
        return LinkDecision(outcome=LinkOutcome.SIGN_IN, user_id=linked_user_id, reason="identity already linked")
    if logged_in_user_id is not None:
        return _decide_link(identity, logged_in_user_id, confirmed=confirmed)
    if email_owner_id is not None:
        # Deliberately no user id: the caller is not logged in and must not learn which account.
        reason = "an account with this e-mail exists; log in to it and link this identity from there"
        return LinkDecision(outcome=LinkOutcome.LOG_IN_TO_LINK, user_id=None, reason=reason)
    return LinkDecision(outcome=LinkOutcome.NO_ACCOUNT, user_id=None, reason="no account uses this identity")


def _decide_link(identity: ExternalIdentity, user_id: UserId, *, confirmed: bool) -> LinkDecision:
    """A logged-in user asks to link: only a verified e-mail and an explicit confirmation do it."""
    if not identity.email_verified:
        reason = "the provider has not verified this identity's e-mail, so it cannot be linked"
        return LinkDecision(outcome=LinkOutcome.REFUSED, user_id=None, reason=reason)
    if not confirmed:
        reason = "confirm linking this identity to your account"
        return LinkDecision(outcome=LinkOutcome.CONFIRM, user_id=user_id, reason=reason)
    return LinkDecision(outcome=LinkOutcome.LINK, user_id=user_id, reason="confirmed by the user")
