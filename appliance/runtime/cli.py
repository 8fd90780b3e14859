"""The `craton` command line (also `python -m appliance`).

Every command has `--help`, exits non-zero with a one-line reason on failure, and offers `--json`
where scripts read its output.
"""

from __future__ import annotations

import argparse
import asyncio
import importlib.metadata
import json
import signal
import sys
from collections.abc import Callable, Sequence
from typing import NoReturn

from appliance import __version__
from appliance.craton import cli as engine_cli
from appliance.identity import admin_cli
from appliance.kernel.errors import CratonError
from appliance.runtime import config as config_module
from appliance.runtime.boot import Frontend, run
from appliance.runtime.config import Config


class Parser(argparse.ArgumentParser):
    """argparse that reports a usage error on one line."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        sys.exit(2)


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--data-dir", help="data folder (default: the platform's user data dir; env CRATON_DATA_DIR)")


def build_parser() -> Parser:
    parser = Parser(prog="craton", description="Craton appliance: control plane and local Craton cluster, air-gapped.")
    parser.add_argument("--version", action="version", version=f"craton {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=Parser)
    sub.required = True
    up = sub.add_parser("up", help="start the appliance (attaches the terminal UI unless --headless)")
    _common(up)
    up.add_argument("--headless", action="store_true", help="no terminal UI (systemd, CI)")
    up.add_argument("--http", help=f"HTTP listen address HOST:PORT (default {config_module.DEFAULT_HTTP})")
    up.add_argument("--nats-url", help="use this external NATS instead of the embedded server")
    up.add_argument("--nats-port", type=int, help="port of the embedded NATS (default: chosen at start)")
    up.add_argument("--name", dest="instance_name", help="instance name on first start")
    tui = sub.add_parser("tui", help="attach the terminal UI to a running appliance")
    tui.add_argument("--url", default=f"http://{config_module.DEFAULT_HTTP}", help="appliance URL")
    projections = sub.add_parser("projections", help="read model: status and rebuild")
    projections_sub = projections.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser)
    projections_sub.required = True
    for name, text in (
        ("status", "checkpoints, lag and failed events"),
        ("rebuild", "rebuild the read model from the events (appliance stopped)"),
    ):
        action = projections_sub.add_parser(name, help=text)
        _common(action)
        action.add_argument("--json", action="store_true", help="machine-readable output")
    admin = sub.add_parser("admin", help="administration on the data dir")
    admin_sub = admin.add_subparsers(dest="action", metavar="ACTION", parser_class=Parser)
    admin_sub.required = True
    token = admin_sub.add_parser("setup-token", help="print the one-time setup token")
    _common(token)
    admin_cli.register(admin_sub)
    doctor = sub.add_parser("doctor", help="check data dir, disk, ports and the bundled binary")
    _common(doctor)
    doctor.add_argument("--http", help="HTTP address to check")
    doctor.add_argument("--json", action="store_true", help="machine-readable output")
    engine_cli.register(sub)
    return parser


def load_config(args: argparse.Namespace, *keys: str) -> Config:
    flags = {key: getattr(args, key, None) for key in ("data_dir", *keys)}
    return config_module.load(flags)


def cmd_up(args: argparse.Namespace) -> int:
    config = load_config(args, "http", "nats_url", "nats_port", "instance_name")
    frontend = None
    if not args.headless:
        if sys.stdin.isatty() and sys.stdout.isatty():
            frontend = load_frontend()
        else:
            sys.stderr.write("craton: not attached to a terminal; running headless\n")
    return asyncio.run(run(config, frontend=frontend, signals=(signal.SIGTERM, signal.SIGINT)))


def load_frontend() -> Frontend:
    """The terminal UI, found by entry point so that the appliance never imports it."""
    for entry in importlib.metadata.entry_points(group="craton.frontends"):
        if entry.name == "tui":
            attach: Frontend = entry.load()
            return attach
    raise CratonError("the terminal UI is not installed; use --headless")


def cmd_tui(args: argparse.Namespace) -> int:
    frontend = load_frontend()
    try:
        asyncio.run(frontend(args.url))
    except ValueError as error:  # the frontend refuses a malformed URL before drawing anything
        raise CratonError(f"--url: {error}") from None
    return 0


def cmd_projections(args: argparse.Namespace) -> int:
    from appliance.runtime import projections_cli

    config = load_config(args)
    if args.action == "status":
        report = asyncio.run(projections_cli.status(config))
    else:
        report = asyncio.run(projections_cli.rebuild(config))
    print(json.dumps(report, indent=2) if args.json else projections_cli.render(report))
    return 0


def cmd_admin(args: argparse.Namespace) -> int:
    from appliance.instance.service import read_setup_token

    config = load_config(args)
    token = read_setup_token(config.data_dir)
    if token is None:
        raise CratonError(
            f"no setup token in {config.data_dir}: the instance already has an owner or was never started"
        )
    print(token)
    return 0


def cmd_doctor(args: argparse.Namespace) -> int:
    from appliance.runtime.doctor import run_checks

    findings = run_checks(load_config(args, "http"))
    if args.json:
        print(json.dumps([f.__dict__ for f in findings], indent=2))
    else:
        for finding in findings:
            print(f"{finding.status:4}  {finding.name:12} {finding.detail}")
    return 1 if any(f.status == "fail" for f in findings) else 0


COMMANDS: dict[str, Callable[[argparse.Namespace], int]] = {
    "up": cmd_up,
    "tui": cmd_tui,
    "projections": cmd_projections,
    "admin": cmd_admin,
    "doctor": cmd_doctor,
}


def main(argv: Sequence[str] | None = None) -> NoReturn:
    parser = build_parser()
    args = parser.parse_args(argv)
    # A subcommand's own handler (`craton admin users list`) wins over its group's (`craton admin`).
    handler: Callable[[argparse.Namespace], int] | None = getattr(args, "handler", None) or COMMANDS.get(args.command)
    try:
        code = handler(args) if handler else 2
    except CratonError as error:
        sys.stderr.write(f"craton: error: {error.message}\n")
        code = 1
    except KeyboardInterrupt:
        code = 130
    sys.exit(code)
