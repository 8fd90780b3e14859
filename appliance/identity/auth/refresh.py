"""Rotating refresh tokens with reuse detection: pure logic over a record the session store keeps.

Owns the refresh-token format and the rotation rule, nothing else (no storage, no clock):
- a token is `crr_<session id, 32 hex>_<secret, 43 base64url chars = 256 random bits>`; the
  session id in clear lets the caller fetch the one session record it needs;
- the record keeps only SHA-256 hashes (of the whole token text), never a token: the current one,
  and the last `SPENT_HASHES_MAX` spent ones;
- `redeem` compares in constant time and answers one of three outcomes, which the caller must
  handle exhaustively:
  * `Rotated`: the current token was presented; the caller stores `record` (with compare-and-set
    or a per-session lock, so two concurrent refreshes cannot both rotate) and returns `token`;
  * `Reused`: a token that was already spent was presented, so two parties hold this session's
    tokens: the caller revokes the whole session (issue 3: reuse revokes the session);
  * `Mismatch`: a token this session never issued (or spent too long ago to remember): refused,
    but not proof of theft, so the session stays (otherwise anyone who saw a session id in an access
    token could end that session with made-up tokens).

`RefreshRecord.to_session_data()` / `RefreshRecord.from_session_data()` put the record into
`SessionRecord.data` (string keys and values under the `refresh.` prefix).

This module must never store or log a token or a secret, compare hashes with `==`, or read the
clock or a global random source (random bytes are injected; `secrets.token_bytes` by default).
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import re
import secrets
from collections.abc import Callable, Mapping

from appliance.kernel.errors import InvariantViolation, Unauthenticated, invariant
from appliance.kernel.ids import SessionId
from appliance.kernel.structs import Struct

RandomBytes = Callable[[int], bytes]

TOKEN_PREFIX = "crr_"  # noqa: S105 (a public marker, not a secret)
SECRET_BYTES = 32
SPENT_HASHES_MAX = 32
_TOKEN_PATTERN = re.compile(r"\Acrr_([0-9a-f]{32})_([A-Za-z0-9_-]{43})\Z")
_TOKEN_CHARS_MAX = 128
_HASH_PATTERN = re.compile(r"\A[0-9a-f]{64}\Z")
_DATA_PREFIX = "refresh."


class RefreshTokenInvalid(Unauthenticated):
    """Not a refresh token of ours (malformed). The message says so without detail."""

    code = "refresh_token_invalid"

    def __init__(self, reason: str) -> None:
        super().__init__("refresh token is not valid")
        self.reason = reason


def hash_refresh_token(token: str) -> str:
    """Hex SHA-256 of the whole token text (256-bit random secrets need no slow hash)."""
    return hashlib.sha256(token.encode("ascii")).hexdigest()


class RefreshRecord(Struct, frozen=True):
    """What the session keeps: hashes of the current token and of recently spent ones (newest first)."""

    session_id: SessionId
    generation: int
    token_hash: str
    spent_hashes: tuple[str, ...] = ()

    def __post_init__(self) -> None:
        invariant(self.generation >= 0, "refresh generations count up from 0")
        invariant(_HASH_PATTERN.match(self.token_hash) is not None, "a refresh hash is 64 hex digits")
        invariant(len(self.spent_hashes) <= SPENT_HASHES_MAX, "spent refresh hashes are bounded")
        invariant(all(_HASH_PATTERN.match(h) for h in self.spent_hashes), "spent hashes are 64 hex digits")

    def to_session_data(self) -> dict[str, str]:
        return {
            f"{_DATA_PREFIX}generation": str(self.generation),
            f"{_DATA_PREFIX}token_hash": self.token_hash,
            f"{_DATA_PREFIX}spent_hashes": ",".join(self.spent_hashes),
        }

    @classmethod
    def from_session_data(cls, session_id: SessionId, data: Mapping[str, str]) -> RefreshRecord:
        """Read back what `to_session_data` wrote; anything else is corruption (`InvariantViolation`)."""
        try:
            generation = int(data[f"{_DATA_PREFIX}generation"])
            token_hash = data[f"{_DATA_PREFIX}token_hash"]
            spent = data[f"{_DATA_PREFIX}spent_hashes"]
        except (KeyError, ValueError):
            raise InvariantViolation("the session's refresh record is missing or damaged") from None
        spent_hashes = tuple(spent.split(",")) if spent else ()
        return cls(session_id=session_id, generation=generation, token_hash=token_hash, spent_hashes=spent_hashes)


class IssuedRefreshToken(Struct, frozen=True):
    """A new token (give it to the client, once) and the record to store with the session."""

    token: str
    record: RefreshRecord


class PresentedRefreshToken(Struct, frozen=True):
    """A well-formed token as presented: which session it names, and its hash."""

    session_id: SessionId
    token_hash: str


class Rotated(Struct, frozen=True):
    token: str
    record: RefreshRecord


class Reused(Struct, frozen=True):
    session_id: SessionId


class Mismatch(Struct, frozen=True):
    session_id: SessionId


RedeemOutcome = Rotated | Reused | Mismatch


def _new_token(session_id: SessionId, random_bytes: RandomBytes) -> str:
    secret = random_bytes(SECRET_BYTES)
    invariant(len(secret) == SECRET_BYTES, "the random source returns the bytes asked for")
    encoded = base64.urlsafe_b64encode(secret).rstrip(b"=").decode("ascii")
    return f"{TOKEN_PREFIX}{session_id.hex}_{encoded}"


def issue_refresh_token(
    session_id: SessionId, *, random_bytes: RandomBytes = secrets.token_bytes
) -> IssuedRefreshToken:
    """The first refresh token of a new session (generation 0)."""
    token = _new_token(session_id, random_bytes)
    record = RefreshRecord(session_id=session_id, generation=0, token_hash=hash_refresh_token(token))
    return IssuedRefreshToken(token=token, record=record)


def parse_refresh_token(text: object) -> PresentedRefreshToken:
    """Check the shape and name the session; `RefreshTokenInvalid` for anything malformed."""
    if not isinstance(text, str) or len(text) > _TOKEN_CHARS_MAX:
        raise RefreshTokenInvalid("not a string of sane length")
    match = _TOKEN_PATTERN.match(text)
    if match is None:
        raise RefreshTokenInvalid("wrong shape")
    return PresentedRefreshToken(session_id=SessionId(hex=match.group(1)), token_hash=hash_refresh_token(text))


def redeem_refresh_token(
    record: RefreshRecord,
    presented: PresentedRefreshToken,
    *,
    random_bytes: RandomBytes = secrets.token_bytes,
) -> RedeemOutcome:
    """Rotate on the current token, detect reuse of a spent one, refuse anything else."""
    if presented.session_id != record.session_id:
        return Mismatch(session_id=record.session_id)
    if hmac.compare_digest(presented.token_hash, record.token_hash):
        token = _new_token(record.session_id, random_bytes)
        spent = (record.token_hash, *record.spent_hashes)[:SPENT_HASHES_MAX]
        rotated = RefreshRecord(
            session_id=record.session_id,
            generation=record.generation + 1,
            token_hash=hash_refresh_token(token),
            spent_hashes=spent,
        )
        return Rotated(token=token, record=rotated)
    # Compare against every spent hash (no early exit), so timing does not say which one matched.
    reused = False
    for spent_hash in record.spent_hashes:
        reused |= hmac.compare_digest(presented.token_hash, spent_hash)
    if reused:
        return Reused(session_id=record.session_id)
    return Mismatch(session_id=record.session_id)
