"""Identity auth primitives: argon2id cost per hash, and access-token verification cost per request.

Baselines measured in the same run: a bare PyJWT `jwt.decode` of an HS256 token (the cheapest JWT
check there is) and a bare `jwt.decode` of our own EdDSA token. Our verification is timed twice:
cold (a token seen for the first time: header, Ed25519 signature, claims) and warm (the same token
again, answered from the bounded verified-token cache, which is what a client's every later
request costs). Each figure is the best of several rounds, the candidates taking turns within each
round. Nothing here asserts a timing.
"""

from __future__ import annotations

import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import jwt

from appliance.identity.auth.apikeys import issue_api_key, parse_api_key
from appliance.identity.auth.keys import Keyring
from appliance.identity.auth.passwords import ARGON2_PARAMS, Argon2Params, hash_password, verify_password
from appliance.identity.auth.ratelimit import RateLimit, TokenBucketLimiter
from appliance.identity.auth.tokens import AccessTokenConfig, AccessTokens
from appliance.kernel.clock import ManualClock
from appliance.kernel.ids import SequentialIds, SessionId, UserId

OWASP_MINIMUM = Argon2Params(time_cost=2, memory_kib=19 * 1024, parallelism=1, hash_bytes=32, salt_bytes=16)
HS256_SECRET = b"bench-secret-of-32-bytes-or-more!"


def _per_call_s(action: Callable[[], object], calls: int) -> float:
    start = time.perf_counter()
    for _ in range(calls):
        action()
    return (time.perf_counter() - start) / calls


def _best_per_call_s(actions: dict[str, Callable[[], object]], calls: int, rounds: int) -> dict[str, float]:
    """Best (lowest) mean time per call over `rounds`, the actions taking turns within each round so
    that load from other processes on a shared machine falls on all of them alike."""
    samples: dict[str, list[float]] = {label: [] for label in actions}
    for _ in range(rounds):
        for label, action in actions.items():
            samples[label].append(_per_call_s(action, calls))
    return {label: min(values) for label, values in samples.items()}


def _bench_argon2(quick: bool) -> None:
    hashes = 2 if quick else 5
    for label, params in [("chosen", ARGON2_PARAMS), ("OWASP minimum", OWASP_MINIMUM)]:
        stored = hash_password("correct horse battery staple", params=params)
        best = _best_per_call_s(
            {
                "hash": lambda p=params: hash_password("correct horse battery staple", params=p),
                "verify": lambda p=params, h=stored: verify_password(h, "correct horse battery staple", params=p),
            },
            calls=1,
            rounds=hashes,
        )
        print(
            f"argon2id {label:13} m={params.memory_kib // 1024} MiB t={params.time_cost} p={params.parallelism}: "
            f"hash {best['hash'] * 1e3:7.1f} ms, verify {best['verify'] * 1e3:7.1f} ms"
        )


def _bench_tokens(quick: bool) -> None:
    calls, rounds = (500, 3) if quick else (5000, 7)
    clock = ManualClock(datetime.now(UTC))  # the bare-PyJWT baseline checks exp on the wall clock
    config = AccessTokenConfig(issuer="https://craton.bench", audience="craton-api")
    with tempfile.TemporaryDirectory() as folder:
        ring = Keyring.open(Path(folder) / "jwt", clock, retain_s=config.key_retain_s)
        ids = SequentialIds()
        warm = AccessTokens(ring, clock, config)
        cold = AccessTokens(ring, clock, config, cache_entries_max=0)
        token = warm.issue(ids.new(UserId), ids.new(SessionId)).token
        warm.verify(token)
        public_key = ring.active().public_key
        hs256 = jwt.encode({"sub": "u", "aud": "craton-api", "iss": "i"}, HS256_SECRET, algorithm="HS256")
        figures = {
            "baseline: jwt.decode HS256": lambda: jwt.decode(
                hs256, HS256_SECRET, algorithms=["HS256"], audience="craton-api", issuer="i"
            ),
            "baseline: jwt.decode EdDSA": lambda: jwt.decode(
                token, public_key, algorithms=["EdDSA"], audience="craton-api", issuer="https://craton.bench"
            ),
            "verify, cold (first sight)": lambda: cold.verify(token),
            "verify, warm (cached)": lambda: warm.verify(token),
            "issue": lambda: warm.issue(ids.new(UserId), ids.new(SessionId)),
        }
        measured = _best_per_call_s(figures, calls, rounds)
    baseline = measured["baseline: jwt.decode HS256"]
    for label, seconds in measured.items():
        print(f"{label:28} {seconds * 1e6:8.1f} µs/call  ({seconds / baseline:5.2f} × HS256 decode)")


def _bench_small(quick: bool) -> None:
    calls, rounds = (2000, 3) if quick else (20000, 5)
    key = issue_api_key().token
    limiter = TokenBucketLimiter(RateLimit(burst=10**9, per_s=1.0), ManualClock())
    best = _best_per_call_s(
        {
            "API key parse + hash": lambda: parse_api_key(key),
            "rate limiter try_acquire": lambda: limiter.try_acquire("ip:127.0.0.1"),
        },
        calls,
        rounds,
    )
    for label, seconds in best.items():
        print(f"{label:28} {seconds * 1e6:8.1f} µs/call")


def main(quick: bool) -> None:
    _bench_argon2(quick)
    _bench_tokens(quick)
    _bench_small(quick)
