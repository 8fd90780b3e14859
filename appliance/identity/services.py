"""The identity context's long-lived services: keys, token issuer, limiters, locks and settings.

`IdentitySettings` is the identity part of the configuration (the runtime fills it from
`craton.toml`, the environment and flags). `IdentityServices` holds what the routes and workflows
share for the life of the process: the signing keyring and the access-token issuer/verifier, the
rate limiters (login per IP and per account, API per principal), the semaphore that bounds
concurrent password hashing, and the per-session locks that serialise refresh-token rotation.
`create_identity_services` builds it; the runtime calls it once at start and puts it on `Services`.

This module must never decide anything about users or sessions (the workflows do), and never read
the wall clock or entropy itself (the clock is injected; keys come from the keyring).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

import apsw

from appliance.eventstore.port import OneTimeStore
from appliance.identity.auth.keys import Keyring, keys_dir_for
from appliance.identity.auth.oidc import FederatedLogin, GitHubProviderConfig, OidcProviderConfig, build_login
from appliance.identity.auth.passwords import (
    ARGON2_PARAMS,
    Argon2Params,
    PasswordCheck,
    hash_password,
    verify_password,
    verify_password_absent,
)
from appliance.identity.auth.ratelimit import (
    API_PER_PRINCIPAL_DEFAULT,
    AUTH_PER_ACCOUNT_DEFAULT,
    AUTH_PER_IP_DEFAULT,
    RateLimit,
    TokenBucketLimiter,
)
from appliance.identity.auth.tokens import TTL_S_DEFAULT, AccessTokenConfig, AccessTokens
from appliance.identity.auth.webauthn import RelyingParty
from appliance.identity.projections.users_query import UserCards
from appliance.kernel.clock import Clock
from appliance.kernel.errors import ConfigError, invariant
from appliance.kernel.structs import Struct

ACCESS_TOKEN_AUDIENCE = "craton-api"  # noqa: S105 - an audience name, not a secret
SESSION_IDLE_S_DEFAULT = 12 * 60 * 60
SESSION_ABSOLUTE_S_DEFAULT = 7 * 24 * 60 * 60
SESSION_ABSOLUTE_S_MAX = 90 * 24 * 60 * 60
SESSION_TOUCH_S_DEFAULT = 60
HASHING_CONCURRENT_MAX_DEFAULT = 2
SESSIONS_PER_USER_MAX_DEFAULT = 50
SESSION_LOCKS_MAX = 100_000


class ProviderSettings(Struct, frozen=True):
    """One configured external identity provider: an OIDC provider by discovery, or a GitHub app."""

    oidc: OidcProviderConfig | None = None
    github: GitHubProviderConfig | None = None

    def __post_init__(self) -> None:
        if (self.oidc is None) == (self.github is None):
            raise ConfigError("an identity provider is either an OIDC provider or a GitHub app")

    @property
    def config(self) -> OidcProviderConfig | GitHubProviderConfig:
        found = self.oidc or self.github
        invariant(found is not None, "a provider has a configuration")
        return found  # type: ignore[return-value]

    @property
    def name(self) -> str:
        return self.config.name


class IdentitySettings(Struct, frozen=True):
    """Identity configuration; every limit has a default a small team can live with."""

    access_token_ttl_s: int = TTL_S_DEFAULT
    session_idle_s: int = SESSION_IDLE_S_DEFAULT
    session_absolute_s: int = SESSION_ABSOLUTE_S_DEFAULT
    # A session's last-seen time is written back at most this often (a KV write per request would
    # halve the API's rate); the idle timeout is therefore exact to within this many seconds.
    session_touch_s: int = SESSION_TOUCH_S_DEFAULT
    sessions_per_user_max: int = SESSIONS_PER_USER_MAX_DEFAULT
    login_per_ip: RateLimit = AUTH_PER_IP_DEFAULT
    login_per_account: RateLimit = AUTH_PER_ACCOUNT_DEFAULT
    api_per_principal: RateLimit = API_PER_PRINCIPAL_DEFAULT
    hashing_concurrent_max: int = HASHING_CONCURRENT_MAX_DEFAULT
    argon2: Argon2Params = ARGON2_PARAMS
    webauthn_rp_id: str = "localhost"
    webauthn_rp_name: str = "Craton"
    webauthn_origins: tuple[str, ...] = ("http://localhost:8470",)
    oidc_providers: tuple[ProviderSettings, ...] = ()

    def __post_init__(self) -> None:
        if not 60 <= self.session_idle_s <= self.session_absolute_s <= SESSION_ABSOLUTE_S_MAX:
            raise ConfigError(
                "session timeouts must satisfy 60 s <= idle <= absolute <= "
                f"{SESSION_ABSOLUTE_S_MAX} s (idle {self.session_idle_s}, absolute {self.session_absolute_s})"
            )
        if not 1 <= self.session_touch_s <= self.session_idle_s // 2:
            raise ConfigError("session_touch_s must be from 1 s to half the idle timeout")
        if not 1 <= self.hashing_concurrent_max <= 64:
            raise ConfigError("hashing_concurrent_max must be from 1 to 64")
        if not 1 <= self.sessions_per_user_max <= 1000:
            raise ConfigError("sessions_per_user_max must be from 1 to 1000")
        # Checked now, so a bad file is refused when configuration loads, not when the first user logs in.
        token_config(self, issuer="craton:check")
        relying_party(self)
        names = [provider.name for provider in self.oidc_providers]
        if len(names) != len(set(names)):
            raise ConfigError("two OIDC providers share a name")


class KeyedLocks:
    """One asyncio lock per key, forgotten when nobody holds or waits for it (bounded memory)."""

    def __init__(self, keys_max: int = SESSION_LOCKS_MAX) -> None:
        self._locks: dict[str, tuple[asyncio.Lock, int]] = {}
        self._keys_max = keys_max

    def __len__(self) -> int:
        return len(self._locks)

    @contextlib.asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        lock, users = self._locks.get(key, (asyncio.Lock(), 0))
        invariant(users > 0 or len(self._locks) < self._keys_max, "keyed locks stay within their cap")
        self._locks[key] = (lock, users + 1)
        try:
            async with lock:
                yield
        finally:
            lock, users = self._locks[key]
            if users == 1:
                del self._locks[key]
            else:
                self._locks[key] = (lock, users - 1)


class PasswordHashing:
    """argon2id off the event loop (a worker thread), at most `concurrent_max` at a time.

    Every hash or verification goes through here, so `operations_total` counts them all (metrics,
    and tests that prove a refused login never reached the hasher).
    """

    def __init__(self, params: Argon2Params, concurrent_max: int) -> None:
        self.params = params
        self._slots = asyncio.Semaphore(concurrent_max)
        self.operations_total = 0

    async def hash(self, normalised_password: str) -> str:
        async with self._slots:
            self.operations_total += 1
            return await asyncio.to_thread(hash_password, normalised_password, params=self.params)

    async def verify(self, stored_hash: str | None, password: str) -> PasswordCheck:
        """Check a password; an account without one costs the same work and never matches."""
        async with self._slots:
            self.operations_total += 1
            if stored_hash is None:
                return await asyncio.to_thread(verify_password_absent, password, params=self.params)
            return await asyncio.to_thread(verify_password, stored_hash, password, params=self.params)


@dataclass
class IdentityServices:
    settings: IdentitySettings
    keyring: Keyring
    tokens: AccessTokens
    relying_party: RelyingParty
    login_ip_limiter: TokenBucketLimiter
    login_account_limiter: TokenBucketLimiter
    api_limiter: TokenBucketLimiter
    hashing: PasswordHashing
    session_locks: KeyedLocks
    pending: OneTimeStore  # passkey challenges and OIDC logins in flight (NATS KV)
    federated: dict[str, FederatedLogin]
    user_cards: UserCards  # what every authenticated request reads about its user

    async def aclose(self) -> None:
        for login in self.federated.values():
            await login.aclose()


def relying_party(settings: IdentitySettings) -> RelyingParty:
    return RelyingParty(
        rp_id=settings.webauthn_rp_id, rp_name=settings.webauthn_rp_name, origins=settings.webauthn_origins
    )


def token_config(settings: IdentitySettings, issuer: str) -> AccessTokenConfig:
    return AccessTokenConfig(issuer=issuer, audience=ACCESS_TOKEN_AUDIENCE, ttl_s=settings.access_token_ttl_s)


def create_identity_services(
    data_dir: Path,
    clock: Clock,
    settings: IdentitySettings,
    *,
    issuer: str,
    pending: OneTimeStore,
    db: apsw.Connection,
) -> IdentityServices:
    """Open (or create) the keyring under `data_dir/secrets/jwt` and build the shared services."""
    config = token_config(settings, issuer)
    keyring = Keyring.open(keys_dir_for(data_dir), clock, retain_s=config.key_retain_s)
    return IdentityServices(
        settings=settings,
        keyring=keyring,
        tokens=AccessTokens(keyring, clock, config),
        relying_party=relying_party(settings),
        login_ip_limiter=TokenBucketLimiter(settings.login_per_ip, clock),
        login_account_limiter=TokenBucketLimiter(settings.login_per_account, clock),
        api_limiter=TokenBucketLimiter(settings.api_per_principal, clock),
        hashing=PasswordHashing(settings.argon2, settings.hashing_concurrent_max),
        session_locks=KeyedLocks(),
        pending=pending,
        federated={provider.name: build_login(provider.config, clock=clock) for provider in settings.oidc_providers},
        user_cards=UserCards(db),
    )
