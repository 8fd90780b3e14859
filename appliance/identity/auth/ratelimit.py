"""In-memory token-bucket rate limiting keyed by string (per IP, per account, per principal).

Owns the limiting arithmetic and its memory bound, nothing about HTTP:
- `RateLimit(burst, per_s)`: a bucket holds at most `burst` tokens and refills at `per_s` tokens a
  second; each attempt takes `cost` tokens (1 by default);
- `TokenBucketLimiter.try_acquire(key)` answers a `Verdict` (allowed, seconds until it would be,
  tokens left); `acquire(key)` raises `RateLimited` with `retry_after_s` rounded up (the API turns
  it into 429 with `Retry-After`); `acquire_all([(limiter, key), ...])` takes from every bucket or
  from none, so a login refused per account does not also spend the caller's per-IP allowance;
- time is the injected clock's `monotonic()`, so tests drive it by hand;
- memory is bounded: at most `keys_max` buckets; a full bucket is the same as no bucket, so idle
  buckets are dropped as calls pass (a few per call, oldest first); when the cap is reached anyway,
  the least recently used bucket is dropped and counted in `evicted_busy_total` (that key's limit
  restarts: chosen over refusing every new key, which would let a flood of addresses lock everyone
  out). Keys longer than `KEY_CHARS_MAX` are replaced by their SHA-256 so hostile input (a
  megabyte "e-mail") cannot inflate memory.

The issue's rule "limit auth routes per IP and per account before any password hashing" is the
caller's ordering; the defaults below are starting points for `craton.toml`, not policy.

Each process has its own buckets: behind a load balancer, N appliances allow N times the rate.

This module must never sleep, read the wall clock, or grow without bound.
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence

from appliance.kernel.clock import Clock
from appliance.kernel.errors import ConfigError, RateLimited, invariant
from appliance.kernel.structs import Struct

KEY_CHARS_MAX = 128
KEYS_MAX_DEFAULT = 100_000
# Dropping idle buckets is spread over calls: this many looked at per call keeps each call O(1).
_IDLE_SWEEP_PER_CALL = 4


class RateLimit(Struct, frozen=True):
    """A bucket of `burst` tokens refilled at `per_s` tokens a second."""

    burst: int
    per_s: float

    def __post_init__(self) -> None:
        if self.burst < 1 or not self.per_s > 0 or not math.isfinite(self.per_s):
            raise ConfigError(f"a rate limit needs burst >= 1 and a positive finite rate, not {self}")


# Starting points: 20 login attempts per IP and 5 per account in a burst, refilled over a minute;
# 50 API requests a second per principal with bursts of 100.
AUTH_PER_IP_DEFAULT = RateLimit(burst=20, per_s=20 / 60)
AUTH_PER_ACCOUNT_DEFAULT = RateLimit(burst=5, per_s=5 / 60)
API_PER_PRINCIPAL_DEFAULT = RateLimit(burst=100, per_s=50.0)


class Verdict(Struct, frozen=True):
    """`retry_after_s` is 0 when allowed, else the wait until `cost` tokens are back; `remaining` is
    the whole tokens left after this attempt (or that would be left, for `peek`)."""

    allowed: bool
    retry_after_s: float
    remaining: int


def _bucket_key(key: str) -> str:
    invariant(isinstance(key, str), "rate-limit keys are strings")
    if len(key) <= KEY_CHARS_MAX:
        return key
    return "sha256:" + hashlib.sha256(key.encode("utf-8", "surrogatepass")).hexdigest()


class TokenBucketLimiter:
    """Buckets per key, least recently used first (a dict keeps insertion order)."""

    def __init__(self, limit: RateLimit, clock: Clock, *, keys_max: int = KEYS_MAX_DEFAULT) -> None:
        if keys_max < 1:
            raise ConfigError("a rate limiter must be allowed at least one key")
        self.limit = limit
        self._clock = clock
        self._keys_max = keys_max
        # key -> (tokens, monotonic time of that count)
        self._buckets: dict[str, tuple[float, float]] = {}
        self.evicted_idle_total = 0
        self.evicted_busy_total = 0

    def __len__(self) -> int:
        return len(self._buckets)

    def _tokens_now(self, key: str, now: float) -> float:
        state = self._buckets.get(key)
        if state is None:
            return float(self.limit.burst)
        tokens, at = state
        elapsed = max(0.0, now - at)  # a monotonic clock never goes back; stay safe if one does
        return min(float(self.limit.burst), tokens + elapsed * self.limit.per_s)

    def _verdict(self, tokens: float, cost: int) -> Verdict:
        if tokens >= cost:
            return Verdict(allowed=True, retry_after_s=0.0, remaining=math.floor(tokens - cost))
        wait_s = (cost - tokens) / self.limit.per_s
        return Verdict(allowed=False, retry_after_s=wait_s, remaining=math.floor(tokens))

    def peek(self, key: str, cost: int = 1) -> Verdict:
        """What `try_acquire` would answer, without taking anything."""
        invariant(1 <= cost <= self.limit.burst, "an attempt costs between 1 and the burst")
        return self._verdict(self._tokens_now(_bucket_key(key), self._clock.monotonic()), cost)

    def try_acquire(self, key: str, cost: int = 1) -> Verdict:
        """Take `cost` tokens from `key`'s bucket if it has them; refused attempts take nothing.

        Every call marks the key as most recently used, allowed or not.
        """
        invariant(1 <= cost <= self.limit.burst, "an attempt costs between 1 and the burst")
        now = self._clock.monotonic()
        bucket = _bucket_key(key)
        tokens = self._tokens_now(bucket, now)
        verdict = self._verdict(tokens, cost)
        # A refused key is stored too (as most recently used), so a key under attack is the last
        # to be evicted: eviction would hand it a full bucket.
        self._store(bucket, tokens - cost if verdict.allowed else tokens, now)
        self._drop_idle(now)
        return verdict

    def acquire(self, key: str, cost: int = 1) -> None:
        """`try_acquire`, raising `RateLimited` (retry-after rounded up to whole seconds) when refused."""
        verdict = self.try_acquire(key, cost)
        if not verdict.allowed:
            raise RateLimited("too many attempts; try again later", retry_after_s=math.ceil(verdict.retry_after_s))

    def _store(self, bucket: str, tokens: float, now: float) -> None:
        self._buckets.pop(bucket, None)  # re-insert at the end: most recently used
        if len(self._buckets) >= self._keys_max:
            oldest = next(iter(self._buckets))
            if self._tokens_now(oldest, now) >= self.limit.burst:
                self.evicted_idle_total += 1
            else:
                self.evicted_busy_total += 1
            del self._buckets[oldest]
        self._buckets[bucket] = (tokens, now)
        invariant(len(self._buckets) <= self._keys_max, "the limiter never holds more keys than its cap")

    def _drop_idle(self, now: float) -> None:
        for _ in range(_IDLE_SWEEP_PER_CALL):
            oldest = next(iter(self._buckets), None)
            if oldest is None or self._tokens_now(oldest, now) < self.limit.burst:
                return
            del self._buckets[oldest]
            self.evicted_idle_total += 1


def acquire_all(checks: Sequence[tuple[TokenBucketLimiter, str]], cost: int = 1) -> None:
    """Take `cost` from every (limiter, key) or from none; `RateLimited` with the longest wait."""
    buckets = {(id(limiter), _bucket_key(key)) for limiter, key in checks}
    invariant(len(buckets) == len(checks), "each bucket appears once in one acquire_all")
    verdicts = [limiter.peek(key, cost) for limiter, key in checks]
    refused = [v.retry_after_s for v in verdicts if not v.allowed]
    if refused:
        raise RateLimited("too many attempts; try again later", retry_after_s=math.ceil(max(refused)))
    for limiter, key in checks:
        # One event loop, no await between peek and take: nothing can spend the tokens in between.
        invariant(limiter.try_acquire(key, cost).allowed, "a peeked bucket still has its tokens")
