"""The general per-principal rate limit of the API.

Every request that resolves a principal (an access token or an API key) takes one token from that
principal's bucket (`identity.auth.ratelimit`, limit `api_per_principal` in the configuration);
an empty bucket is `RateLimited`, which `problems` answers 429 with `Retry-After`. Requests without
credentials are limited where they can do harm: the auth routes limit per IP and per account
before any password hashing.

This module must never sleep or queue a request: a refused request is answered at once.
"""

from __future__ import annotations

from appliance.api.services import Services


def limit_principal(services: Services, rate_key: str) -> None:
    """Take one request from the principal's allowance; `RateLimited` when it is spent."""
    services.identity.api_limiter.acquire(rate_key)
