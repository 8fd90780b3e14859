"""Configuration: flags > `CRATON_*` environment > `craton.toml` in the data dir > defaults.

Loading never writes anything. Every problem (corrupt TOML, unknown key, wrong type, an address
off loopback without TLS) is a `ConfigError` with a one-line reason.

Identity settings live in the `[identity]` table of `craton.toml` (token and session lifetimes,
rate limits as `{ burst = N, per_s = R }`, the passkey relying party, and the external identity
providers as `[[identity.oidc]]` / `[[identity.github]]` tables); their scalar keys may also come
from `CRATON_IDENTITY_<KEY>` (origins comma-separated). Unknown keys and wrong types are refused.
"""

from __future__ import annotations

import ipaddress
import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, field, fields, replace
from pathlib import Path
from typing import Any

import msgspec
import platformdirs

from appliance.identity.auth.oidc import GitHubProviderConfig, OidcProviderConfig
from appliance.identity.auth.ratelimit import RateLimit
from appliance.identity.services import IdentitySettings, ProviderSettings
from appliance.kernel.errors import ConfigError
from appliance.kernel.structs import Struct

CONFIG_FILE = "craton.toml"
IDENTITY_TABLE = "identity"
IDENTITY_ENV_PREFIX = "CRATON_IDENTITY_"
DEFAULT_HTTP_PORT = 8470
DEFAULT_HTTP = "127.0.0.1:8470"
ENV_PREFIX = "CRATON_"


@dataclass(frozen=True)
class Config:
    data_dir: Path
    http: str = DEFAULT_HTTP
    nats_url: str | None = None
    nats_port: int = 0
    instance_name: str = "craton"
    log_level: str = "info"
    projection_lag_threshold: int = 1000
    tls_cert: Path | None = None
    tls_key: Path | None = None
    nats_binary: Path | None = None  # another copy of nats-server; it must still match the manifest
    identity: IdentitySettings = field(default_factory=IdentitySettings)

    @property
    def http_host(self) -> str:
        return split_address(self.http)[0]

    @property
    def http_port(self) -> int:
        return split_address(self.http)[1]


_TYPES: dict[str, type] = {
    "http": str,
    "nats_url": str,
    "nats_port": int,
    "instance_name": str,
    "log_level": str,
    "projection_lag_threshold": int,
    "tls_cert": Path,
    "tls_key": Path,
    "nats_binary": Path,
}
_LOG_LEVELS = {"debug", "info", "warning", "error"}


def default_data_dir() -> Path:
    return Path(platformdirs.user_data_dir("craton", appauthor=False))


def split_address(address: str) -> tuple[str, int]:
    host, sep, port_text = address.rpartition(":")
    if not sep or not host or not port_text.isdigit() or not 0 <= int(port_text) <= 65535:
        raise ConfigError(f"address {address!r} must be HOST:PORT with a port from 0 to 65535")
    return host.strip("[]"), int(port_text)


def is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def _coerce(key: str, value: Any, source: str) -> Any:
    kind = _TYPES.get(key)
    if kind is None:
        raise ConfigError(f"{source}: unknown setting {key!r} (known: {', '.join(sorted(_TYPES))})")
    if kind is int:
        if (
            isinstance(value, bool)
            or not isinstance(value, (int, str))
            or (isinstance(value, str) and not value.isdigit())
        ):
            raise ConfigError(f"{source}: {key} must be a whole number, not {value!r}")
        return int(value)
    if not isinstance(value, str) or not value:
        raise ConfigError(f"{source}: {key} must be a non-empty string, not {value!r}")
    return Path(value).expanduser() if kind is Path else value


def read_file(data_dir: Path) -> dict[str, Any]:
    path = data_dir / CONFIG_FILE
    try:
        raw = tomllib.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, NotADirectoryError):
        return {}  # no file (or no data dir yet): defaults; preflight reports a bad data dir
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as error:
        raise ConfigError(f"{path} is not valid TOML: {error}") from None
    except OSError as error:
        raise ConfigError(f"cannot read {path}: {error.strerror}") from None
    identity = raw.pop(IDENTITY_TABLE, {})
    if not isinstance(identity, dict):
        raise ConfigError(f"{path}: [{IDENTITY_TABLE}] must be a table")
    found = {key: _coerce(key, value, str(path)) for key, value in raw.items()}
    found[IDENTITY_TABLE] = identity
    return found


def read_env(env: Mapping[str, str]) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for name, value in env.items():
        if name.startswith(IDENTITY_ENV_PREFIX):
            continue  # read by identity_env
        if name.startswith(ENV_PREFIX) and name != f"{ENV_PREFIX}DATA_DIR":
            key = name.removeprefix(ENV_PREFIX).lower()
            if key in _TYPES:
                found[key] = _coerce(key, value, f"environment {name}")
    return found


def load(flags: Mapping[str, Any], env: Mapping[str, str] | None = None) -> Config:
    """Resolve the configuration; `flags` holds only what the user passed on the command line."""
    env = os.environ if env is None else env
    data_dir_text = flags.get("data_dir") or env.get(f"{ENV_PREFIX}DATA_DIR")
    data_dir = Path(data_dir_text).expanduser().absolute() if data_dir_text else default_data_dir()
    merged: dict[str, Any] = {}
    merged.update(read_file(data_dir))
    merged.update(read_env(env))
    merged.update(
        {k: _coerce(k, v, f"--{k.replace('_', '-')}") for k, v in flags.items() if k != "data_dir" and v is not None}
    )
    identity_raw = {**merged.pop(IDENTITY_TABLE, {}), **identity_env(env)}
    merged[IDENTITY_TABLE] = identity_settings(identity_raw, http=str(merged.get("http", DEFAULT_HTTP)))
    config = replace(Config(data_dir=data_dir), **merged)
    validate(config)
    return config


class _IdentityFile(Struct, frozen=True):
    """The `[identity]` table as written (every key optional; unknown keys refused)."""

    access_token_ttl_s: int | None = None
    session_idle_s: int | None = None
    session_absolute_s: int | None = None
    session_touch_s: int | None = None
    sessions_per_user_max: int | None = None
    hashing_concurrent_max: int | None = None
    login_per_ip: RateLimit | None = None
    login_per_account: RateLimit | None = None
    api_per_principal: RateLimit | None = None
    webauthn_rp_id: str | None = None
    webauthn_rp_name: str | None = None
    webauthn_origins: list[str] | None = None
    oidc: list[OidcProviderConfig] = msgspec.field(default_factory=list)
    github: list[GitHubProviderConfig] = msgspec.field(default_factory=list)


_IDENTITY_ENV_INTS = frozenset(
    {
        "access_token_ttl_s",
        "session_idle_s",
        "session_absolute_s",
        "session_touch_s",
        "sessions_per_user_max",
        "hashing_concurrent_max",
    }
)
_IDENTITY_ENV_TEXTS = frozenset({"webauthn_rp_id", "webauthn_rp_name"})


def identity_env(env: Mapping[str, str]) -> dict[str, Any]:
    """`CRATON_IDENTITY_<KEY>` for the scalar identity settings; anything else under the prefix is refused."""
    found: dict[str, Any] = {}
    for name, value in env.items():
        if not name.startswith(IDENTITY_ENV_PREFIX):
            continue
        key = name.removeprefix(IDENTITY_ENV_PREFIX).lower()
        if key in _IDENTITY_ENV_INTS:
            if not value.isdigit():
                raise ConfigError(f"environment {name} must be a whole number, not {value!r}")
            found[key] = int(value)
        elif key in _IDENTITY_ENV_TEXTS:
            found[key] = value
        elif key == "webauthn_origins":
            found[key] = [origin.strip() for origin in value.split(",") if origin.strip()]
        else:
            known = sorted([*_IDENTITY_ENV_INTS, *_IDENTITY_ENV_TEXTS, "webauthn_origins"])
            raise ConfigError(f"environment {name}: unknown identity setting (known: {', '.join(known)})")
    return found


def identity_settings(raw: Mapping[str, Any], *, http: str) -> IdentitySettings:
    """The identity settings from the merged `[identity]` table and environment."""
    try:
        parsed = msgspec.convert(dict(raw), _IdentityFile)
    except msgspec.ValidationError as error:
        raise ConfigError(f"[{IDENTITY_TABLE}] in {CONFIG_FILE}: {error}") from None
    values: dict[str, Any] = {
        field.name: getattr(parsed, field.name)
        for field in msgspec.structs.fields(parsed)
        if field.name not in {"oidc", "github", "webauthn_origins"} and getattr(parsed, field.name) is not None
    }
    port = split_address(http)[1]
    origins = parsed.webauthn_origins or [f"http://localhost:{port or DEFAULT_HTTP_PORT}"]
    providers = [ProviderSettings(oidc=config) for config in parsed.oidc]
    providers += [ProviderSettings(github=config) for config in parsed.github]
    return IdentitySettings(**values, webauthn_origins=tuple(origins), oidc_providers=tuple(providers))


def validate(config: Config) -> None:
    host, _ = split_address(config.http)
    if not is_loopback(host) and not (config.tls_cert and config.tls_key):
        raise ConfigError(f"HTTP on {host} is off loopback: set tls_cert and tls_key to serve it over TLS")
    if config.log_level.lower() not in _LOG_LEVELS:
        raise ConfigError(f"log_level must be one of {sorted(_LOG_LEVELS)}")
    if not 0 <= config.nats_port <= 65535:
        raise ConfigError("nats_port must be from 0 to 65535")
    if config.projection_lag_threshold < 1:
        raise ConfigError("projection_lag_threshold must be at least 1")
    if config.nats_url is not None and not config.nats_url.startswith(("nats://", "tls://")):
        raise ConfigError("nats_url must start with nats:// or tls://")
    if bool(config.tls_cert) != bool(config.tls_key):
        raise ConfigError("tls_cert and tls_key must be given together")


SETTINGS = tuple(f.name for f in fields(Config))
