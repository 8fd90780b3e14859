"""Refresh tokens: rotation, reuse detection, refusal of strangers, strict parsing, record round trip."""

from __future__ import annotations

import hashlib

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.identity.auth.refresh import (
    SPENT_HASHES_MAX,
    Mismatch,
    PresentedRefreshToken,
    RefreshRecord,
    RefreshTokenInvalid,
    Reused,
    Rotated,
    hash_refresh_token,
    issue_refresh_token,
    parse_refresh_token,
    redeem_refresh_token,
)
from appliance.kernel.errors import InvariantViolation, Unauthenticated
from appliance.kernel.ids import SequentialIds, SessionId

IDS = SequentialIds(seed=3)
SESSION = IDS.new(SessionId)
OTHER_SESSION = IDS.new(SessionId)


def _redeem(record: RefreshRecord, token: str) -> Rotated | Reused | Mismatch:
    return redeem_refresh_token(record, parse_refresh_token(token))


def test_a_new_token_has_the_documented_shape_and_only_its_hash_is_kept() -> None:
    """crr_<32 hex session id>_<43 base64url chars>; the record holds SHA-256 of the token, never the token."""
    issued = issue_refresh_token(SESSION)
    prefix, session_hex, secret = issued.token.split("_", 2)
    assert (prefix, session_hex, len(secret)) == ("crr", SESSION.hex, 43)
    assert issued.record == RefreshRecord(
        session_id=SESSION, generation=0, token_hash=hashlib.sha256(issued.token.encode()).hexdigest()
    )
    assert issued.token not in repr(issued.record)
    assert issue_refresh_token(SESSION).token != issued.token


def test_secrets_come_from_the_injected_source_with_256_bits() -> None:
    """The secret is the injected source's 32 bytes; a short read from the source is a loud bug."""
    asked: list[int] = []

    def source(n: int) -> bytes:
        asked.append(n)
        return b"\x00" * n

    assert issue_refresh_token(SESSION, random_bytes=source).token.endswith("_" + "A" * 43)
    assert asked == [32]
    with pytest.raises(InvariantViolation):
        issue_refresh_token(SESSION, random_bytes=lambda n: b"\x00" * 15)


def test_presenting_the_current_token_rotates_it() -> None:
    """The current token yields a new token and a record one generation on, with the old hash spent."""
    issued = issue_refresh_token(SESSION)
    outcome = _redeem(issued.record, issued.token)
    assert isinstance(outcome, Rotated)
    assert outcome.token != issued.token
    assert outcome.record.generation == 1
    assert outcome.record.token_hash == hash_refresh_token(outcome.token)
    assert outcome.record.spent_hashes == (issued.record.token_hash,)
    assert isinstance(_redeem(outcome.record, outcome.token), Rotated)


def test_presenting_a_spent_token_is_reuse() -> None:
    """After a rotation, the old token is Reused (the caller revokes the session), however often it comes."""
    issued = issue_refresh_token(SESSION)
    first = _redeem(issued.record, issued.token)
    assert isinstance(first, Rotated)
    second = _redeem(first.record, first.token)
    assert isinstance(second, Rotated)
    assert _redeem(second.record, issued.token) == Reused(session_id=SESSION)
    assert _redeem(second.record, first.token) == Reused(session_id=SESSION)


def test_tokens_this_session_never_issued_are_a_mismatch_not_reuse() -> None:
    """A made-up token naming our session, or another session's token, is Mismatch: refused, session kept."""
    issued = issue_refresh_token(SESSION)
    forged = f"crr_{SESSION.hex}_{'B' * 43}"
    assert _redeem(issued.record, forged) == Mismatch(session_id=SESSION)
    stranger = issue_refresh_token(OTHER_SESSION)
    assert _redeem(issued.record, stranger.token) == Mismatch(session_id=SESSION)
    # The same hash under another session id is still refused.
    relabelled = PresentedRefreshToken(session_id=OTHER_SESSION, token_hash=issued.record.token_hash)
    assert redeem_refresh_token(issued.record, relabelled) == Mismatch(session_id=SESSION)


def test_only_the_last_spent_hashes_are_remembered() -> None:
    """The record keeps at most SPENT_HASHES_MAX spent hashes; an older spent token becomes a Mismatch."""
    issued = issue_refresh_token(SESSION)
    tokens, record = [issued.token], issued.record
    for _ in range(SPENT_HASHES_MAX + 1):
        outcome = _redeem(record, tokens[-1])
        assert isinstance(outcome, Rotated)
        tokens.append(outcome.token)
        record = outcome.record
    assert len(record.spent_hashes) == SPENT_HASHES_MAX
    assert _redeem(record, tokens[0]) == Mismatch(session_id=SESSION)
    assert _redeem(record, tokens[1]) == Reused(session_id=SESSION)
    assert _redeem(record, tokens[-2]) == Reused(session_id=SESSION)


@pytest.mark.parametrize(
    "bad",
    [
        None,
        42,
        "",
        "crr_",
        "Bearer crr_x",
        f"crr_{SESSION.hex}_{'A' * 42}",
        f"crr_{SESSION.hex}_{'A' * 44}",
        f"crr_{'0190ABCD' * 4}_{'A' * 43}",
        f"crr_{SESSION}_{'A' * 43}",
        f"crk_{SESSION.hex}_{'A' * 43}",
        f"crr_{SESSION.hex}_{'A' * 42}=",
        f"crr_{SESSION.hex}_{'A' * 42}\n",
        "crr_" + "x" * 10_000,
    ],
)
def test_malformed_tokens_are_refused_with_a_clear_error(bad: object) -> None:
    """Anything but the exact shape is RefreshTokenInvalid (an Unauthenticated) saying only that it is not valid."""
    with pytest.raises(RefreshTokenInvalid) as refused:
        parse_refresh_token(bad)
    assert isinstance(refused.value, Unauthenticated)
    assert refused.value.message == "refresh token is not valid"


def test_the_record_round_trips_through_session_data() -> None:
    """to_session_data writes string keys under refresh.; from_session_data reads exactly that back."""
    issued = issue_refresh_token(SESSION)
    rotated = _redeem(issued.record, issued.token)
    assert isinstance(rotated, Rotated)
    for record in [issued.record, rotated.record]:
        data = record.to_session_data()
        assert all(key.startswith("refresh.") and isinstance(value, str) for key, value in data.items())
        assert RefreshRecord.from_session_data(SESSION, {**data, "other": "kept apart"}) == record


@pytest.mark.parametrize(
    "damage",
    [
        {},
        {"refresh.generation": "x", "refresh.token_hash": "0" * 64, "refresh.spent_hashes": ""},
        {"refresh.generation": "-1", "refresh.token_hash": "0" * 64, "refresh.spent_hashes": ""},
        {"refresh.generation": "1", "refresh.token_hash": "short", "refresh.spent_hashes": ""},
        {"refresh.generation": "1", "refresh.token_hash": "0" * 64, "refresh.spent_hashes": "nothex"},
        {"refresh.generation": "1", "refresh.token_hash": "0" * 64, "refresh.spent_hashes": ",".join(["0" * 64] * 33)},
    ],
)
def test_a_damaged_record_is_loud(damage: dict[str, str]) -> None:
    """Missing or corrupt refresh fields in a session are an InvariantViolation, never a silent pass."""
    with pytest.raises(InvariantViolation):
        RefreshRecord.from_session_data(SESSION, damage)


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.one_of(st.just("current"), st.integers(min_value=0, max_value=60), st.just("stranger")), max_size=50)
)
def test_outcomes_follow_the_model(moves: list[str | int]) -> None:
    """For any sequence of presentations, outcomes are: current → Rotated, recently spent → Reused, else Mismatch."""
    issued = issue_refresh_token(SESSION)
    record, current, spent = issued.record, issued.token, []
    for move in moves:
        if move == "current":
            outcome = _redeem(record, current)
            assert isinstance(outcome, Rotated)
            spent.insert(0, current)
            record, current = outcome.record, outcome.token
        elif move == "stranger":
            assert _redeem(record, issue_refresh_token(SESSION).token) == Mismatch(session_id=SESSION)
        elif spent:
            age = int(move) % len(spent)
            expected = Reused if age < SPENT_HASHES_MAX else Mismatch
            assert _redeem(record, spent[age]) == expected(session_id=SESSION)
    assert record.generation == len(spent)
