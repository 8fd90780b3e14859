"""Identity settings come from `craton.toml` ([identity] and its provider tables) and
`CRATON_IDENTITY_*`, environment over file; bad values are refused with a one-line `ConfigError`."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.identity.auth.ratelimit import RateLimit
from appliance.identity.services import IdentitySettings
from appliance.kernel.errors import ConfigError
from appliance.runtime.config import load

GOOD = """
http = "127.0.0.1:9000"

[identity]
access_token_ttl_s = 600
session_idle_s = 3600
session_absolute_s = 86400
login_per_account = { burst = 3, per_s = 0.05 }
webauthn_rp_id = "craton.example"
webauthn_origins = ["https://craton.example"]

[[identity.oidc]]
name = "keycloak"
discovery_url = "https://sso.example/realms/corp/.well-known/openid-configuration"
client_id = "craton"
client_secret = "s3cret"
redirect_uri = "https://craton.example/api/v1/auth/oauth/keycloak/callback"

[[identity.github]]
client_id = "gh-id"
client_secret = "gh-secret"
redirect_uri = "https://craton.example/api/v1/auth/oauth/github/callback"
"""


def write(tmp_path: Path, text: str) -> Path:
    data = tmp_path / "data"
    data.mkdir()
    (data / "craton.toml").write_text(text)
    return data


def test_defaults_without_a_file(tmp_path: Path) -> None:
    """No file: the documented defaults, with the passkey origin on the configured HTTP port."""
    config = load({"data_dir": str(tmp_path / "none"), "http": "127.0.0.1:8471"}, env={})
    assert config.identity.access_token_ttl_s == IdentitySettings().access_token_ttl_s
    assert config.identity.webauthn_origins == ("http://localhost:8471",)
    assert config.identity.oidc_providers == ()


def test_the_identity_table_is_read(tmp_path: Path) -> None:
    """Lifetimes, limits, the relying party and both kinds of provider are taken from the file."""
    config = load({"data_dir": str(write(tmp_path, GOOD))}, env={})
    identity = config.identity
    assert (identity.access_token_ttl_s, identity.session_idle_s, identity.session_absolute_s) == (600, 3600, 86400)
    assert identity.login_per_account == RateLimit(burst=3, per_s=0.05)
    assert (identity.webauthn_rp_id, identity.webauthn_origins) == ("craton.example", ("https://craton.example",))
    assert [provider.name for provider in identity.oidc_providers] == ["keycloak", "github"]


def test_the_environment_overrides_the_file(tmp_path: Path) -> None:
    """`CRATON_IDENTITY_*` wins over the file for the scalar settings."""
    env = {
        "CRATON_IDENTITY_SESSION_IDLE_S": "7200",
        "CRATON_IDENTITY_WEBAUTHN_ORIGINS": "https://a.craton.example, https://craton.example",
    }
    config = load({"data_dir": str(write(tmp_path, GOOD))}, env=env)
    assert config.identity.session_idle_s == 7200
    assert config.identity.webauthn_origins == ("https://a.craton.example", "https://craton.example")


@pytest.mark.parametrize(
    ("text", "env", "says"),
    [
        ("[identity]\nsession_idle_s = 'long'\n", {}, "session_idle_s"),
        ("[identity]\nnot_a_setting = 1\n", {}, "not_a_setting"),
        ("identity = 5\n", {}, "table"),
        ("[identity]\nsession_idle_s = 10\n", {}, "idle"),
        ("[identity]\nsession_idle_s = 100000\nsession_absolute_s = 50000\n", {}, "absolute"),
        ("[identity]\naccess_token_ttl_s = 0\n", {}, "TTL"),
        ("[identity]\nlogin_per_ip = { burst = 0, per_s = 1.0 }\n", {}, "burst"),
        ("[identity]\nlogin_per_ip = { burst = 5 }\n", {}, "per_s"),
        ("[identity]\nwebauthn_rp_id = '10.0.0.1'\n", {}, "10.0.0.1"),
        ("[identity]\nwebauthn_origins = ['http://evil.example']\n", {}, "origin"),
        ("[[identity.oidc]]\nname = 'Bad Name'\n", {}, "identity"),
        (
            "[[identity.oidc]]\nname='x'\ndiscovery_url='http://sso/.well-known/openid-configuration'\n"
            "client_id='c'\nclient_secret=''\nredirect_uri='https://a/cb'\n",
            {},
            "http",
        ),
        (
            "[[identity.github]]\nclient_id = 'a'\nclient_secret = ''\nredirect_uri = 'https://a/cb'\n",
            {},
            "client_secret",
        ),
        ("", {"CRATON_IDENTITY_SESSION_IDLE_S": "soon"}, "whole number"),
        ("", {"CRATON_IDENTITY_NONSENSE": "1"}, "unknown identity setting"),
    ],
)
def test_bad_identity_settings_are_refused(tmp_path: Path, text: str, env: dict[str, str], says: str) -> None:
    """Wrong types, unknown keys, out-of-range limits, unsafe providers: one `ConfigError` naming the problem."""
    with pytest.raises(ConfigError) as caught:
        load({"data_dir": str(write(tmp_path, text))}, env=env)
    assert says.lower() in caught.value.message.lower()
    assert "\n" not in caught.value.message
