"""Unit tests of the per-tenant token bucket, driven by a fake clock."""

from __future__ import annotations

import pytest

from appliance.craton.server.limits import ServerLimits, TenantRateLimiter


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_burst_is_allowed_then_refused_then_refilled() -> None:
    """`burst` requests pass, the next is refused with a wait, and tokens refill at `rate` per second."""
    clock = Clock()
    limiter = TenantRateLimiter(rate_per_s=10, burst=3, clock=clock)
    assert [limiter.try_acquire(1) for _ in range(3)] == [0.0, 0.0, 0.0]
    wait = limiter.try_acquire(1)
    assert wait == pytest.approx(0.1)
    clock.now += 0.11
    assert limiter.try_acquire(1) == 0.0


def test_tenants_have_separate_buckets() -> None:
    """One tenant exhausting its bucket does not limit another."""
    limiter = TenantRateLimiter(rate_per_s=1, burst=1, clock=Clock())
    assert limiter.try_acquire(1) == 0.0
    assert limiter.try_acquire(1) > 0
    assert limiter.try_acquire(2) == 0.0


def test_limits_refuse_nonsense_values() -> None:
    """Zero or negative limits are a configuration error, not a silent no-limit."""
    with pytest.raises(ValueError, match="positive"):
        ServerLimits(connections_max=0)
    with pytest.raises(ValueError, match="positive"):
        ServerLimits(idle_timeout_s=0)
