"""The replica's client-facing server: TCP protocol port (auth, limits, pipelining) and HTTP side port.

Public surface: `ReplicaServer`, `ServerLimits`, `Authenticator` (+ `issue_token`, `hash_api_key`,
`load_api_keys`), `server_tls_context`, `ServerConfigError`. This package must never reach into
engine internals: it calls the engine facade through `EnginePort`, from worker threads only.
"""

from appliance.craton.server.auth import (
    ApiKeyEntry,
    Authenticator,
    AuthError,
    Identity,
    hash_api_key,
    issue_token,
    load_api_keys,
)
from appliance.craton.server.limits import ServerLimits
from appliance.craton.server.server import ReplicaServer, ServerConfigError, is_loopback, server_tls_context

__all__ = [
    "ApiKeyEntry",
    "AuthError",
    "Authenticator",
    "Identity",
    "ReplicaServer",
    "ServerConfigError",
    "ServerLimits",
    "hash_api_key",
    "is_loopback",
    "issue_token",
    "load_api_keys",
    "server_tls_context",
]
