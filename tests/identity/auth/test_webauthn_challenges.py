"""The passkey challenge ledger: random, single-use, expiring, bounded, and storable as JSON in KV."""

from __future__ import annotations

from datetime import timedelta

import pytest

from appliance.identity.auth.webauthn_challenges import (
    CHALLENGE_BYTES,
    CeremonyKind,
    ChallengeLedger,
    PendingChallenge,
    check_challenge_id,
    new_challenge,
    redeem_challenge,
)
from appliance.kernel.clock import ManualClock
from appliance.kernel.errors import InvalidInput, InvariantViolation, RateLimited, Unauthenticated
from appliance.kernel.ids import SequentialIds, UserId
from appliance.kernel.structs import from_json, to_json

USER = SequentialIds(seed=1).new(UserId)


class CountingBytes:
    """A repeatable random source: each call returns the next bytes of a counter stream."""

    def __init__(self) -> None:
        self.calls = 0

    def __call__(self, size: int) -> bytes:
        self.calls += 1
        return bytes((self.calls + i) % 256 for i in range(size))


def test_a_challenge_uses_the_injected_random_source() -> None:
    """Challenge and id come from the given source, so tests and simulations are repeatable."""
    clock = ManualClock()
    first = new_challenge(CeremonyKind.REGISTRATION, USER, now=clock.now(), random_bytes=CountingBytes())
    second = new_challenge(CeremonyKind.REGISTRATION, USER, now=clock.now(), random_bytes=CountingBytes())
    assert first == second
    assert len(first.challenge) == CHALLENGE_BYTES
    assert first.expires_at - first.issued_at == timedelta(seconds=300)
    assert check_challenge_id(first.challenge_id) == first.challenge_id


def test_a_pending_challenge_round_trips_through_json() -> None:
    """The record the HTTP layer keeps in NATS KV decodes back to an equal, typed value."""
    record = new_challenge(CeremonyKind.AUTHENTICATION, None, now=ManualClock().now())
    assert from_json(to_json(record), PendingChallenge) == record
    named = new_challenge(CeremonyKind.REGISTRATION, USER, now=ManualClock().now())
    decoded = from_json(to_json(named), PendingChallenge)
    assert decoded.user_id == USER
    assert isinstance(decoded.user_id, UserId)


def test_a_damaged_stored_record_is_invalid_input() -> None:
    """A KV value that is not a pending challenge fails to decode with a clear error."""
    with pytest.raises(InvalidInput, match="pending challenge"):
        from_json(b'{"challenge_id": "x"}', PendingChallenge, what="pending challenge")


def test_registration_needs_a_user() -> None:
    """Registering a passkey without an account is a programming error, caught loudly."""
    with pytest.raises(InvariantViolation, match="registration names a user"):
        new_challenge(CeremonyKind.REGISTRATION, None, now=ManualClock().now())


def test_expiry_is_exclusive_at_the_boundary() -> None:
    """A challenge is good strictly before `expires_at` and refused from that instant on."""
    clock = ManualClock()
    record = new_challenge(CeremonyKind.AUTHENTICATION, None, now=clock.now(), ttl_s=60)
    just_before = record.expires_at - timedelta(microseconds=1)
    assert redeem_challenge(record, CeremonyKind.AUTHENTICATION, just_before) == record
    with pytest.raises(Unauthenticated, match="expired"):
        redeem_challenge(record, CeremonyKind.AUTHENTICATION, record.expires_at)


def test_unknown_and_malformed_ids_are_told_apart() -> None:
    """An id of the wrong shape is bad input; a well-formed unknown id is an unauthenticated attempt."""
    ledger = ChallengeLedger(ManualClock())
    with pytest.raises(InvalidInput, match="challenge_id"):
        ledger.take("../../etc/passwd", CeremonyKind.AUTHENTICATION)
    with pytest.raises(InvalidInput, match="challenge_id"):
        ledger.take(None, CeremonyKind.AUTHENTICATION)
    with pytest.raises(Unauthenticated, match="unknown or already used"):
        ledger.take("A" * 24, CeremonyKind.AUTHENTICATION)


def test_the_ledger_is_bounded_and_frees_expired_entries() -> None:
    """When full the ledger refuses with a retry-after; once entries expire it accepts again."""
    clock = ManualClock()
    ledger = ChallengeLedger(clock, ttl_s=60, pending_max=3)
    for _ in range(3):
        ledger.issue(CeremonyKind.AUTHENTICATION)
        clock.advance(10)
    with pytest.raises(RateLimited) as refused:
        ledger.issue(CeremonyKind.AUTHENTICATION)
    assert refused.value.retry_after_s == 31  # the oldest expires 30 s from now
    clock.advance(31)
    ledger.issue(CeremonyKind.AUTHENTICATION)
    assert len(ledger) == 3


def test_taking_removes_the_record() -> None:
    """After one take the ledger no longer holds the challenge, whatever the outcome."""
    clock = ManualClock()
    ledger = ChallengeLedger(clock)
    record = ledger.issue(CeremonyKind.REGISTRATION, USER)
    with pytest.raises(Unauthenticated, match="not authentication"):
        ledger.take(record.challenge_id, CeremonyKind.AUTHENTICATION)
    assert len(ledger) == 0
    with pytest.raises(Unauthenticated, match="already used"):
        ledger.take(record.challenge_id, CeremonyKind.REGISTRATION)
