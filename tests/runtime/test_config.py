"""Configuration precedence and validation: flags > CRATON_* env > craton.toml > defaults."""

from __future__ import annotations

from pathlib import Path

import pytest

from appliance.kernel.errors import ConfigError
from appliance.runtime.config import DEFAULT_HTTP, load


def test_defaults_when_nothing_is_set(tmp_path: Path) -> None:
    """With no file, no environment and no flags, the defaults apply (loopback HTTP)."""
    config = load({"data_dir": str(tmp_path)}, env={})
    assert config.http == DEFAULT_HTTP
    assert config.nats_url is None
    assert config.data_dir == tmp_path


def test_precedence_flags_over_env_over_file(tmp_path: Path) -> None:
    """Each source overrides the ones below it, key by key."""
    (tmp_path / "craton.toml").write_text('http = "127.0.0.1:1001"\ninstance_name = "from-file"\nlog_level = "debug"\n')
    env = {"CRATON_HTTP": "127.0.0.1:1002", "CRATON_INSTANCE_NAME": "from-env"}
    config = load({"data_dir": str(tmp_path), "http": "127.0.0.1:1003"}, env=env)
    assert config.http == "127.0.0.1:1003"
    assert config.instance_name == "from-env"
    assert config.log_level == "debug"


def test_data_dir_from_environment(tmp_path: Path) -> None:
    """CRATON_DATA_DIR chooses the data dir (and so which craton.toml is read) when no flag does."""
    (tmp_path / "craton.toml").write_text('instance_name = "env-dir"\n')
    assert load({}, env={"CRATON_DATA_DIR": str(tmp_path)}).instance_name == "env-dir"


@pytest.mark.parametrize(
    ("flags", "message"),
    [
        ({"http": "0.0.0.0:8470"}, "off loopback"),
        ({"http": "localhost"}, "HOST:PORT"),
        ({"http": "127.0.0.1:99999"}, "HOST:PORT"),
        ({"nats_url": "http://x"}, "nats://"),
        ({"nats_port": "70000"}, "nats_port"),
        ({"projection_lag_threshold": "0"}, "at least 1"),
    ],
)
def test_invalid_values_are_refused(tmp_path: Path, flags: dict[str, str], message: str) -> None:
    """Bad values are ConfigError with a reason, whatever their source."""
    with pytest.raises(ConfigError, match=message):
        load({"data_dir": str(tmp_path), **flags}, env={})


def test_off_loopback_is_allowed_with_tls(tmp_path: Path) -> None:
    """Listening off loopback needs a certificate and key; with both it is accepted."""
    config = load(
        {"data_dir": str(tmp_path), "http": "0.0.0.0:8443"},
        env={"CRATON_TLS_CERT": "/c.pem", "CRATON_TLS_KEY": "/k.pem"},
    )
    assert config.tls_cert == Path("/c.pem")
    with pytest.raises(ConfigError, match="together"):
        load({"data_dir": str(tmp_path)}, env={"CRATON_TLS_CERT": "/c.pem"})


def test_unknown_environment_variables_are_ignored_but_unknown_file_keys_are_not(tmp_path: Path) -> None:
    """Other CRATON_* variables may belong to other tools; a typo in craton.toml is an error."""
    assert load({"data_dir": str(tmp_path)}, env={"CRATON_TOKEN": "x"}).http == DEFAULT_HTTP
    (tmp_path / "craton.toml").write_text("htp = '127.0.0.1:1'\n")
    with pytest.raises(ConfigError, match="unknown setting 'htp'"):
        load({"data_dir": str(tmp_path)}, env={})
