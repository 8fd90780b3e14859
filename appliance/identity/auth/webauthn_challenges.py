"""Single-use, expiring WebAuthn challenges.

A passkey ceremony spans two HTTP requests: the options request issues a random challenge, the
verify request must present it back exactly once, before it expires. This module owns the record
of such a pending challenge (`PendingChallenge`, a frozen struct that encodes to JSON with
`kernel.structs.to_json` for NATS KV), the pure rules to make and redeem one (`new_challenge`,
`redeem_challenge`), and `ChallengeLedger`, a bounded in-memory ledger with an injected clock
for a single process and for tests.

With NATS KV the HTTP layer does: `record = new_challenge(...)`, `kv.create(record.challenge_id,
to_json(record))`; later `entry = kv.get(id)`, `kv.delete(id, last=entry.revision)` (only one
caller can win that delete: that is what makes the challenge single-use across instances), then
`redeem_challenge(from_json(entry.value, PendingChallenge), kind, clock.now())`. The KV bucket's
TTL should be at least `CHALLENGE_TTL_S`.

It must never read the wall clock or draw randomness except through what it is given.
"""

from __future__ import annotations

import base64
import re
import secrets
from collections import OrderedDict
from collections.abc import Callable
from datetime import datetime, timedelta
from enum import StrEnum

from appliance.kernel.clock import Clock
from appliance.kernel.errors import InvalidInput, RateLimited, Unauthenticated, invariant
from appliance.kernel.ids import UserId
from appliance.kernel.structs import Struct

CHALLENGE_BYTES = 32  # WebAuthn §13.4.3 asks for at least 16 random bytes
CHALLENGE_ID_BYTES = 18  # 24 base64url characters: unguessable, and a valid NATS KV key
CHALLENGE_TTL_S = 300
CHALLENGE_TTL_S_MAX = 3_600
PENDING_CHALLENGES_MAX = 10_000
_CHALLENGE_ID = re.compile(r"^[A-Za-z0-9_-]{16,64}$")

RandomBytes = Callable[[int], bytes]


class CeremonyKind(StrEnum):
    REGISTRATION = "registration"
    AUTHENTICATION = "authentication"


class PendingChallenge(Struct, frozen=True):
    """A challenge waiting for its response. `user_id` is None for a usernameless login."""

    challenge_id: str
    kind: CeremonyKind
    challenge: bytes
    user_id: UserId | None
    issued_at: datetime
    expires_at: datetime


def new_challenge(
    kind: CeremonyKind,
    user_id: UserId | None,
    *,
    now: datetime,
    ttl_s: int = CHALLENGE_TTL_S,
    random_bytes: RandomBytes = secrets.token_bytes,
) -> PendingChallenge:
    """A fresh challenge with its opaque lookup id; registration always names a user."""
    invariant(1 <= ttl_s <= CHALLENGE_TTL_S_MAX, f"challenge ttl must be 1..{CHALLENGE_TTL_S_MAX} s")
    invariant(kind is CeremonyKind.AUTHENTICATION or user_id is not None, "registration names a user")
    challenge = random_bytes(CHALLENGE_BYTES)
    invariant(len(challenge) == CHALLENGE_BYTES, "the random source returned the bytes asked for")
    challenge_id = base64.urlsafe_b64encode(random_bytes(CHALLENGE_ID_BYTES)).decode().rstrip("=")
    return PendingChallenge(
        challenge_id=challenge_id,
        kind=kind,
        challenge=challenge,
        user_id=user_id,
        issued_at=now,
        expires_at=now + timedelta(seconds=ttl_s),
    )


def check_challenge_id(challenge_id: object) -> str:
    """Validate an id from a request before it is used as a lookup key."""
    if not isinstance(challenge_id, str) or not _CHALLENGE_ID.match(challenge_id):
        raise InvalidInput("challenge_id must be the opaque id from the options reply", field="challenge_id")
    return challenge_id


def redeem_challenge(record: PendingChallenge | None, kind: CeremonyKind, now: datetime) -> PendingChallenge:
    """Check a challenge that was just removed from storage: it exists, fits the ceremony, is fresh."""
    if record is None:
        raise Unauthenticated("unknown or already used passkey challenge; ask for new options")
    if record.kind is not kind:
        raise Unauthenticated(f"this challenge was issued for {record.kind.value}, not {kind.value}")
    if now >= record.expires_at:
        raise Unauthenticated("the passkey challenge has expired; ask for new options")
    return record


class ChallengeLedger:
    """Pending challenges of one process, bounded in number, each redeemable once."""

    def __init__(
        self,
        clock: Clock,
        *,
        ttl_s: int = CHALLENGE_TTL_S,
        pending_max: int = PENDING_CHALLENGES_MAX,
        random_bytes: RandomBytes = secrets.token_bytes,
    ) -> None:
        invariant(pending_max >= 1, "the ledger holds at least one challenge")
        self._clock = clock
        self._ttl_s = ttl_s
        self._pending_max = pending_max
        self._random_bytes = random_bytes
        self._pending: OrderedDict[str, PendingChallenge] = OrderedDict()

    def __len__(self) -> int:
        return len(self._pending)

    def issue(self, kind: CeremonyKind, user_id: UserId | None = None) -> PendingChallenge:
        now = self._clock.now()
        self._drop_expired(now)
        if len(self._pending) >= self._pending_max:
            oldest = next(iter(self._pending.values()))
            wait_s = int((oldest.expires_at - now).total_seconds()) + 1
            raise RateLimited("too many passkey ceremonies are in progress", retry_after_s=wait_s)
        record = new_challenge(kind, user_id, now=now, ttl_s=self._ttl_s, random_bytes=self._random_bytes)
        invariant(record.challenge_id not in self._pending, "challenge ids do not repeat")
        self._pending[record.challenge_id] = record
        return record

    def take(self, challenge_id: object, kind: CeremonyKind) -> PendingChallenge:
        """Remove and return the challenge. It is gone even when the check fails: single use."""
        record = self._pending.pop(check_challenge_id(challenge_id), None)
        return redeem_challenge(record, kind, self._clock.now())

    def _drop_expired(self, now: datetime) -> None:
        # Records are kept in issue order with one ttl, so the expired ones are at the front.
        while self._pending:
            first = next(iter(self._pending.values()))
            if now < first.expires_at:
                return
            self._pending.popitem(last=False)
