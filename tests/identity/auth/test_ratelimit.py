"""Token-bucket limiter on a manual clock: bursts, refill, retry-after, all-or-nothing, bounded memory."""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from appliance.identity.auth.ratelimit import (
    KEY_CHARS_MAX,
    RateLimit,
    TokenBucketLimiter,
    Verdict,
    acquire_all,
)
from appliance.kernel.clock import ManualClock
from appliance.kernel.errors import ConfigError, InvariantViolation, RateLimited

FIVE_PER_10S = RateLimit(burst=5, per_s=0.5)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


def test_a_burst_is_allowed_then_refused_with_the_time_to_wait(clock: ManualClock) -> None:
    """Five attempts pass, the sixth is refused with retry-after 2 s (one token at 0.5/s), nothing left."""
    limiter = TokenBucketLimiter(FIVE_PER_10S, clock)
    remaining = [limiter.try_acquire("ip:10.0.0.1").remaining for _ in range(5)]
    assert remaining == [4, 3, 2, 1, 0]
    assert limiter.try_acquire("ip:10.0.0.1") == Verdict(allowed=False, retry_after_s=2.0, remaining=0)


def test_tokens_come_back_at_the_configured_rate(clock: ManualClock) -> None:
    """After emptying the bucket, one attempt passes per 2 s, and a long pause refills only up to the burst."""
    limiter = TokenBucketLimiter(FIVE_PER_10S, clock)
    for _ in range(5):
        limiter.acquire("k")
    clock.advance(1.0)
    assert limiter.try_acquire("k") == Verdict(allowed=False, retry_after_s=1.0, remaining=0)
    clock.advance(1.0)
    assert limiter.try_acquire("k").allowed
    assert not limiter.try_acquire("k").allowed
    clock.advance(3600)
    assert sum(limiter.try_acquire("k").allowed for _ in range(10)) == 5


def test_refused_attempts_take_nothing(clock: ManualClock) -> None:
    """Hammering an empty bucket does not push the wait further out."""
    limiter = TokenBucketLimiter(FIVE_PER_10S, clock)
    for _ in range(5):
        limiter.acquire("k")
    for _ in range(100):
        assert not limiter.try_acquire("k").allowed
    clock.advance(2.0)
    assert limiter.try_acquire("k").allowed


def test_acquire_raises_rate_limited_with_whole_seconds(clock: ManualClock) -> None:
    """acquire() raises RateLimited whose retry_after_s is the wait rounded up, and at least 1."""
    limiter = TokenBucketLimiter(RateLimit(burst=1, per_s=0.3), clock)
    limiter.acquire("k")
    with pytest.raises(RateLimited) as refused:
        limiter.acquire("k")
    assert refused.value.retry_after_s == 4  # 1 / 0.3 = 3.33 s
    fast = TokenBucketLimiter(RateLimit(burst=1, per_s=100.0), clock)
    fast.acquire("k")
    with pytest.raises(RateLimited) as refused_fast:
        fast.acquire("k")
    assert refused_fast.value.retry_after_s == 1


def test_keys_are_independent(clock: ManualClock) -> None:
    """Exhausting one key's bucket leaves every other key its full burst."""
    limiter = TokenBucketLimiter(FIVE_PER_10S, clock)
    for _ in range(5):
        limiter.acquire("account:ada")
    assert not limiter.try_acquire("account:ada").allowed
    assert limiter.try_acquire("account:grace").remaining == 4


def test_costs_above_one_and_impossible_costs(clock: ManualClock) -> None:
    """An attempt may cost several tokens; a cost above the burst could never pass and is a bug."""
    limiter = TokenBucketLimiter(FIVE_PER_10S, clock)
    assert limiter.try_acquire("k", cost=3).remaining == 2
    assert limiter.try_acquire("k", cost=3) == Verdict(allowed=False, retry_after_s=2.0, remaining=2)
    with pytest.raises(InvariantViolation):
        limiter.try_acquire("k", cost=6)
    with pytest.raises(InvariantViolation):
        limiter.try_acquire("k", cost=0)


def test_acquire_all_takes_from_every_bucket_or_from_none(clock: ManualClock) -> None:
    """A login refused per account spends nothing of the per-IP bucket, and the longest wait is reported."""
    per_ip = TokenBucketLimiter(RateLimit(burst=3, per_s=1.0), clock)
    per_account = TokenBucketLimiter(RateLimit(burst=1, per_s=0.1), clock)
    acquire_all([(per_ip, "10.0.0.1"), (per_account, "ada@example.org")])
    with pytest.raises(RateLimited) as refused:
        acquire_all([(per_ip, "10.0.0.1"), (per_account, "ada@example.org")])
    assert refused.value.retry_after_s == 10
    assert per_ip.peek("10.0.0.1").remaining == 1  # two tokens left: one would remain after a third try
    acquire_all([(per_ip, "10.0.0.1"), (per_account, "grace@example.org")])
    assert per_ip.peek("10.0.0.1").remaining == 0
    with pytest.raises(InvariantViolation):
        acquire_all([(per_ip, "10.0.0.2"), (per_ip, "10.0.0.2")])


def test_memory_is_capped_by_evicting_the_least_recently_used(clock: ManualClock) -> None:
    """With room for three keys, a fourth busy key evicts the least recently used one, which restarts full."""
    limiter = TokenBucketLimiter(FIVE_PER_10S, clock, keys_max=3)
    for key in ["a", "b", "c"]:
        limiter.acquire(key, cost=5)
    assert not limiter.try_acquire("a").allowed  # refused, but a is now the most recently used
    limiter.acquire("d", cost=5)
    assert len(limiter) == 3
    assert limiter.evicted_busy_total == 1
    assert not limiter.try_acquire("a").allowed
    assert not limiter.try_acquire("c").allowed
    assert limiter.try_acquire("b").allowed  # b was evicted: its limit restarted


def test_idle_buckets_are_dropped_without_changing_any_answer(clock: ManualClock) -> None:
    """Buckets that have refilled are dropped as calls pass, and a dropped key answers as if it were kept."""
    limiter = TokenBucketLimiter(FIVE_PER_10S, clock)
    for index in range(40):
        limiter.acquire(f"ip:{index}")
    assert len(limiter) == 40
    clock.advance(2.0)  # one token back: full again
    for _ in range(10):
        limiter.acquire("fresh")
        clock.advance(2.0)
    assert len(limiter) == 1
    assert limiter.evicted_idle_total == 40
    assert limiter.evicted_busy_total == 0
    assert limiter.peek("ip:0") == Verdict(allowed=True, retry_after_s=0.0, remaining=4)


def test_hostile_long_keys_are_bounded_but_distinct(clock: ManualClock) -> None:
    """A megabyte key is stored as a digest; two long keys differing only at the end stay separate buckets."""
    limiter = TokenBucketLimiter(RateLimit(burst=1, per_s=0.01), clock)
    one = "x" * 1_000_000 + "1"
    two = "x" * 1_000_000 + "2"
    limiter.acquire(one)
    assert not limiter.try_acquire(one).allowed
    assert limiter.try_acquire(two).allowed
    assert all(len(key) <= KEY_CHARS_MAX for key in limiter._buckets)
    limiter.acquire("\ud800 lone surrogate" * 20)


def test_bad_configuration_is_refused(clock: ManualClock) -> None:
    """A zero burst, a non-positive or infinite rate, or a zero key cap are configuration errors."""
    for burst, per_s in [(0, 1.0), (1, 0.0), (1, -1.0), (1, float("inf")), (1, float("nan"))]:
        with pytest.raises(ConfigError):
            RateLimit(burst=burst, per_s=per_s)
    with pytest.raises(ConfigError):
        TokenBucketLimiter(FIVE_PER_10S, clock, keys_max=0)


@settings(max_examples=200, deadline=None)
@given(
    burst=st.integers(min_value=1, max_value=10),
    per_s=st.sampled_from([0.1, 0.5, 1.0, 3.0]),
    steps=st.lists(st.tuples(st.floats(min_value=0, max_value=5), st.integers(min_value=1, max_value=4)), max_size=60),
)
def test_no_window_ever_allows_more_than_burst_plus_refill(
    burst: int, per_s: float, steps: list[tuple[float, int]]
) -> None:
    """For any schedule, attempts allowed in any time window never exceed burst + rate × window length."""
    clock = ManualClock()
    limiter = TokenBucketLimiter(RateLimit(burst=burst, per_s=per_s), clock)
    allowed_at: list[float] = []
    for pause, attempts in steps:
        clock.advance(pause)
        for _ in range(attempts):
            verdict = limiter.try_acquire("k")
            if verdict.allowed:
                allowed_at.append(clock.monotonic())
            else:
                assert verdict.retry_after_s > 0
    for i, start in enumerate(allowed_at):
        for j in range(i, len(allowed_at)):
            assert j - i + 1 <= burst + per_s * (allowed_at[j] - start) + 1e-9


@settings(max_examples=200, deadline=None)
@given(burst=st.integers(min_value=1, max_value=10), per_s=st.sampled_from([0.1, 0.7, 2.0]), used=st.integers(1, 30))
def test_waiting_the_retry_after_is_enough(burst: int, per_s: float, used: int) -> None:
    """Once refused, waiting exactly the reported retry-after always lets the next attempt through."""
    clock = ManualClock()
    limiter = TokenBucketLimiter(RateLimit(burst=burst, per_s=per_s), clock)
    for _ in range(used):
        verdict = limiter.try_acquire("k")
        if not verdict.allowed:
            clock.advance(verdict.retry_after_s + 1e-9)
            assert limiter.try_acquire("k").allowed
