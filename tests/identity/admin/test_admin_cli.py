"""The `craton admin` identity commands' surface: help for each, usage errors before anything is
attached, and the pure parts (naming a user, rendering the listing)."""

from __future__ import annotations

import pytest

from appliance.identity.admin_cli import render_users
from appliance.identity.admin_ops import parse_who, require_data_dir_owner
from appliance.kernel.errors import ConfigError, InvalidInput
from appliance.kernel.ids import UserId
from appliance.runtime.cli import build_parser
from tests.e2e.harness import run_cli

COMMANDS = {
    ("users", "list"): ["--json", "--data-dir"],
    ("users", "disable"): ["EMAIL|USER_ID", "--json", "--data-dir"],
    ("users", "enable"): ["EMAIL|USER_ID", "--json", "--data-dir"],
    ("sessions", "revoke"): ["--user EMAIL|USER_ID", "--all", "--json", "--data-dir"],
    ("apikeys", "revoke"): ["KEY_ID", "--json", "--data-dir"],
    ("rotate-keys",): ["--json", "--data-dir"],
    ("reset-password",): ["EMAIL|USER_ID", "--ttl SECONDS", "--json", "--data-dir"],
}


@pytest.mark.parametrize("command", list(COMMANDS), ids=" ".join)
def test_every_command_has_help_naming_its_arguments(
    command: tuple[str, ...], capsys: pytest.CaptureFixture[str]
) -> None:
    """`craton admin <command> --help` exits 0 and shows every argument and option."""
    with pytest.raises(SystemExit) as done:
        build_parser().parse_args(["admin", *command, "--help"])
    assert done.value.code == 0
    shown = capsys.readouterr().out
    assert shown.startswith(f"usage: craton admin {' '.join(command)}")
    for name in COMMANDS[command]:
        assert name in shown


def test_the_admin_group_lists_the_identity_commands(capsys: pytest.CaptureFixture[str]) -> None:
    """`craton admin --help` names the setup token and every identity command."""
    with pytest.raises(SystemExit):
        build_parser().parse_args(["admin", "--help"])
    shown = capsys.readouterr().out
    for name in ("setup-token", "users", "sessions", "apikeys", "rotate-keys", "reset-password"):
        assert name in shown


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("reset-password", "a@example.org", "--ttl", "5"), "--ttl: must be a whole number of seconds from 300"),
        (("reset-password", "a@example.org", "--ttl", "ten"), "--ttl: must be a whole number"),
        (("reset-password", "a@example.org", "--ttl", "604801"), "--ttl: must be a whole number"),
        (("sessions", "revoke"), "one of the arguments --user --all is required"),
        (("sessions", "revoke", "--all", "--user", "a@example.org"), "not allowed with argument --all"),
        (("users", "frobnicate", "x"), "invalid choice: 'frobnicate'"),
        (("apikeys", "list"), "invalid choice: 'list' (choose from 'revoke')"),
    ],
)
def test_usage_errors_are_one_line_exit_2(tmp_path, args: tuple[str, ...], message: str) -> None:
    """Bad arguments are refused by the parser with one line on stderr (exit 2) before any data is touched."""
    result = run_cli("admin", *args, "--data-dir", str(tmp_path))
    assert result.returncode == 2
    assert len(result.stderr.splitlines()) == 1, result.stderr
    assert message in result.stderr
    assert list(tmp_path.iterdir()) == []


def test_a_user_is_named_by_email_or_id_and_nothing_else() -> None:
    """E-mails are normalised; canonical ids parse; anything else is InvalidInput naming what was typed."""
    assert parse_who("  Ada@Example.ORG ") == "ada@example.org"
    user_id = "0190f3a4-7b1c-7def-8123-456789abcdef"
    assert parse_who(user_id) == UserId.parse(user_id)
    for bad in ("ada", "", "0190F3A4-7B1C-7DEF-8123-456789ABCDEF-", "a@b@c", "\x00@x.org", "x" * 10_000):
        with pytest.raises(InvalidInput):
            parse_who(bad)


def test_the_listing_has_a_header_and_one_line_per_user() -> None:
    """Rendering shows a header and a row per account; no users yet says how to make the first one."""
    assert "craton admin setup-token" in render_users([])
    rows = render_users(
        [
            {
                "user_id": "u1",
                "email": "ada@example.org",
                "display_name": "Ada Lovelace with a very long display name indeed",
                "status": "active",
                "instance_admin": True,
                "created_at": "2026-11-28T19:00:00.123456+00:00",
            }
        ]
    ).splitlines()
    assert len(rows) == 2
    assert rows[1].split()[:2] == ["ada@example.org", "Ada"]
    assert rows[1].endswith("active    yes   2026-11-28T19:00:00  u1")


def test_a_data_dir_of_another_os_user_is_refused(tmp_path) -> None:
    """Acting as someone other than the data dir's owner is refused with the fix in the message."""
    (tmp_path / "nats").mkdir()  # an initialised data dir, as far as the check can tell
    owner = tmp_path.stat().st_uid
    require_data_dir_owner(tmp_path, euid=owner)
    with pytest.raises(ConfigError, match=rf"belongs to uid {owner}, not to this user \({owner + 1}\)") as refused:
        require_data_dir_owner(tmp_path, euid=owner + 1)
    assert f"sudo -u '#{owner}' craton admin" in refused.value.message
    with pytest.raises(ConfigError, match="holds no appliance data"):
        require_data_dir_owner(tmp_path / "elsewhere", euid=owner)
