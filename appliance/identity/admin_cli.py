"""`craton admin …` for identity: users, sessions, API keys, signing keys and password resets.

    craton admin users list [--json]
    craton admin users disable|enable EMAIL|USER_ID [--json]
    craton admin sessions revoke --user EMAIL|USER_ID | --all [--json]
    craton admin apikeys revoke KEY_ID [--json]
    craton admin rotate-keys [--json]
    craton admin reset-password EMAIL|USER_ID [--ttl SECONDS] [--json]

Every command works on the data dir of a stopped or a running appliance (`runtime.offline.attach`,
not exclusive), changes things only through the workflows the API uses (as the `Operator`), prints
one line (or JSON with `--json`) and exits 0; any failure is one line on stderr and exit 1 (the
`craton` entry point turns a `CratonError` into that). `register(admin_subparsers)` adds the
commands; each sets `handler`.

This module must never choose or print a user's password, print a secret other than the one-time
reset token it was asked for (once), or change anything without going through a workflow.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import logging
from collections.abc import Awaitable, Callable
from typing import Any, TypeVar

from appliance.identity import admin_ops
from appliance.identity.domain.ids import ApiKeyId
from appliance.identity.domain.user_commands import RESET_TTL_S_DEFAULT, RESET_TTL_S_MAX, RESET_TTL_S_MIN
from appliance.identity.domain.user_state import UserState
from appliance.runtime import config as config_module
from appliance.runtime.config import Config

T = TypeVar("T")
Handler = Callable[[argparse.Namespace], int]


def _options(parser: argparse.ArgumentParser, *, json_output: bool = True) -> None:
    parser.add_argument("--data-dir", help="data folder (default: the platform's user data dir; env CRATON_DATA_DIR)")
    if json_output:
        parser.add_argument("--json", action="store_true", help="machine-readable output")


def register(admin: argparse._SubParsersAction[Any]) -> None:
    """Add the identity commands to `craton admin`."""
    users = admin.add_parser("users", help="list, disable and enable accounts")
    users_sub = users.add_subparsers(dest="users_action", metavar="ACTION", parser_class=type(users))
    users_sub.required = True
    listing = users_sub.add_parser("list", help="every account: e-mail, name, status, instance admin")
    _options(listing)
    listing.set_defaults(handler=cmd_users_list)
    for action, text, handler in (
        ("disable", "disable an account and end all of its sessions", cmd_users_disable),
        ("enable", "enable a disabled account", cmd_users_enable),
    ):
        command = users_sub.add_parser(action, help=text)
        command.add_argument("user", metavar="EMAIL|USER_ID", help="the account's e-mail address or user id")
        _options(command)
        command.set_defaults(handler=handler)
    _register_sessions(admin)
    _register_apikeys(admin)
    rotate = admin.add_parser("rotate-keys", help="make a new access-token signing key (old keys verify until expiry)")
    _options(rotate)
    rotate.set_defaults(handler=cmd_rotate_keys)
    reset = admin.add_parser("reset-password", help="issue a one-time password-reset token (printed once)")
    reset.add_argument("user", metavar="EMAIL|USER_ID", help="the account's e-mail address or user id")
    reset.add_argument(
        "--ttl",
        type=_ttl_s,
        default=RESET_TTL_S_DEFAULT,
        metavar="SECONDS",
        help=f"how long the token stays valid ({RESET_TTL_S_MIN}-{RESET_TTL_S_MAX} s, default {RESET_TTL_S_DEFAULT})",
    )
    _options(reset)
    reset.set_defaults(handler=cmd_reset_password)


def _register_sessions(admin: argparse._SubParsersAction[Any]) -> None:
    sessions = admin.add_parser("sessions", help="end sessions")
    sessions_sub = sessions.add_subparsers(dest="sessions_action", metavar="ACTION", parser_class=type(sessions))
    sessions_sub.required = True
    revoke = sessions_sub.add_parser("revoke", help="end every session of one user, or of everyone")
    whose = revoke.add_mutually_exclusive_group(required=True)
    whose.add_argument("--user", metavar="EMAIL|USER_ID", help="the account's e-mail address or id")
    whose.add_argument("--all", action="store_true", help="every session of every user (after a key leak)")
    _options(revoke)
    revoke.set_defaults(handler=cmd_sessions_revoke)


def _register_apikeys(admin: argparse._SubParsersAction[Any]) -> None:
    apikeys = admin.add_parser("apikeys", help="revoke organisation API keys")
    apikeys_sub = apikeys.add_subparsers(dest="apikeys_action", metavar="ACTION", parser_class=type(apikeys))
    apikeys_sub.required = True
    revoke = apikeys_sub.add_parser("revoke", help="revoke one API key (it stops working on the next request)")
    revoke.add_argument("key_id", metavar="KEY_ID", help="the key's id (as listed by the API, not the key itself)")
    _options(revoke)
    revoke.set_defaults(handler=cmd_apikeys_revoke)


def _ttl_s(text: str) -> int:
    """`--ttl`: whole seconds within the domain's bounds (checked here so a typo attaches nothing)."""
    if not text.strip().isdigit() or not RESET_TTL_S_MIN <= int(text) <= RESET_TTL_S_MAX:
        raise argparse.ArgumentTypeError(
            f"must be a whole number of seconds from {RESET_TTL_S_MIN} to {RESET_TTL_S_MAX}"
        )
    return int(text)


def _config(args: argparse.Namespace) -> Config:
    return config_module.load({"data_dir": args.data_dir})


def _run(args: argparse.Namespace, work: Callable[[admin_ops.Admin], Awaitable[T]]) -> T:
    config = _config(args)
    # The command speaks through its result or its one-line error; the event store's own warnings
    # (such as "disconnected" when the command closes its connection) would only be noise here.
    quiet = logging.NullHandler()
    logging.getLogger("appliance").addHandler(quiet)
    try:
        return asyncio.run(admin_ops.with_admin(config, work))
    finally:
        logging.getLogger("appliance").removeHandler(quiet)


def _emit(args: argparse.Namespace, report: dict[str, Any], line: str) -> int:
    print(json.dumps(report, indent=2, sort_keys=True) if args.json else line)
    return 0


def user_report(state: UserState) -> dict[str, Any]:
    return {
        "user_id": str(state.user_id),
        "email": state.email,
        "display_name": state.display_name,
        "status": state.status.value,
        "instance_admin": state.instance_admin,
        "created_at": state.created_at.isoformat(),
        "password": state.password_hash is not None,
        "passkeys": len(state.passkeys),
        "external_identities": len(state.identities),
    }


def render_users(users: list[dict[str, Any]]) -> str:
    if not users:
        return "no users yet (the first one signs up with the setup token: craton admin setup-token)"
    lines = [f"{'email':40} {'name':24} {'status':9} {'admin':5} {'created':20} user id"]
    for user in users:
        name = user["display_name"][:24]
        admin = "yes" if user["instance_admin"] else ""
        created = user["created_at"][:19]
        lines.append(f"{user['email']:40} {name:24} {user['status']:9} {admin:5} {created:20} {user['user_id']}")
    return "\n".join(lines)


def cmd_users_list(args: argparse.Namespace) -> int:
    users = [user_report(state) for state in _run(args, admin_ops.Admin.list_users)]
    if args.json:
        print(json.dumps(users, indent=2, sort_keys=True))
        return 0
    print(render_users(users))
    return 0


def _set_enabled(args: argparse.Namespace, *, enabled: bool) -> int:
    who = admin_ops.parse_who(args.user)
    outcome = _run(args, lambda admin: admin.set_user_enabled(who, enabled=enabled))
    report = {**user_report(outcome.user), "changed": outcome.changed, "sessions_ended": outcome.sessions_ended}
    word = "enabled" if enabled else "disabled"
    if outcome.changed:
        line = f"{word} {outcome.user.email} ({outcome.user.user_id})"
        if not enabled:
            line += f"; ended {outcome.sessions_ended} session{'s' if outcome.sessions_ended != 1 else ''}"
    else:
        line = f"{outcome.user.email} was already {word}; nothing changed"
    return _emit(args, report, line)


def cmd_users_disable(args: argparse.Namespace) -> int:
    return _set_enabled(args, enabled=False)


def cmd_users_enable(args: argparse.Namespace) -> int:
    return _set_enabled(args, enabled=True)


def cmd_sessions_revoke(args: argparse.Namespace) -> int:
    if args.all:
        users, ended = _run(args, admin_ops.Admin.revoke_all_sessions)
        report: dict[str, Any] = {"users": users, "sessions_ended": ended}
        return _emit(args, report, f"ended {_sessions(ended)} of {users} user{'s' if users != 1 else ''}")
    who = admin_ops.parse_who(args.user)
    user, ended = _run(args, lambda admin: admin.revoke_sessions(who))
    report = {"user_id": str(user.user_id), "email": user.email, "sessions_ended": ended}
    return _emit(args, report, f"ended {_sessions(ended)} of {user.email}")


def _sessions(count: int) -> str:
    return f"{count} session{'s' if count != 1 else ''}"


def cmd_apikeys_revoke(args: argparse.Namespace) -> int:
    api_key_id = ApiKeyId.parse(args.key_id.strip())
    outcome = _run(args, lambda admin: admin.revoke_api_key(api_key_id))
    report = {"key_id": str(outcome.api_key_id), "org_id": str(outcome.org_id), "changed": outcome.changed}
    if outcome.changed:
        line = f"revoked API key {outcome.api_key_id} of organisation {outcome.org_id}"
    else:
        line = f"API key {outcome.api_key_id} was already revoked; nothing changed"
    return _emit(args, report, line)


def cmd_rotate_keys(args: argparse.Namespace) -> int:
    rotation = admin_ops.rotate_keys_of(_config(args))
    report = {"active_kid": rotation.active_kid, "kids": list(rotation.kids)}
    line = (
        f"new signing key {rotation.active_kid} is active; {len(rotation.kids)} key(s) on file "
        "(older keys verify until the tokens they signed expire)"
    )
    return _emit(args, report, line)


def cmd_reset_password(args: argparse.Namespace) -> int:
    who = admin_ops.parse_who(args.user)
    issued = _run(args, lambda admin: admin.issue_password_reset(who, ttl_s=args.ttl))
    report = {
        "user_id": str(issued.user.user_id),
        "email": issued.user.email,
        "token": issued.token,
        "expires_at": issued.expires_at.isoformat(),
    }
    line = (
        f"one-time password-reset token for {issued.user.email}, valid until {issued.expires_at.isoformat()}:\n"
        f"{issued.token}\n"
        "give it to the user privately; it is redeemed with POST /api/v1/auth/password-reset "
        '{"token": "...", "new_password": "..."} and is not shown again'
    )
    return _emit(args, report, line)
