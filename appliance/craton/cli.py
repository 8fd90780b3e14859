"""The engine's commands of the `craton` CLI: `sql`, `replica`, `export`, `verify-export`.

`register(subparsers)` adds them to the appliance's parser (`appliance.runtime.cli`); `main(argv)`
runs them standalone (`python -m appliance.craton.cli`). This module owns argument parsing and
exit codes only: each handler delegates to the client shell, the replica runner or the export
module. It must never let an exception escape as a traceback: every failure is one line on
stderr and a non-zero exit (2 for usage errors, 1 for everything else).
"""

from __future__ import annotations

import argparse
import os
import ssl
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, NoReturn

Handler = Callable[[argparse.Namespace], int]


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error on one line."""

    def error(self, message: str) -> NoReturn:
        sys.stderr.write(f"{self.prog}: error: {message} (see {self.prog} --help)\n")
        sys.exit(2)


def register(subparsers: argparse._SubParsersAction[Any]) -> None:
    """Add `sql`, `replica`, `export` and `verify-export`; each sets `handler` (args -> exit code)."""
    _add_sql(subparsers)
    _add_replica(subparsers)
    _add_export(subparsers)
    _add_verify_export(subparsers)


def _add_sql(subparsers: argparse._SubParsersAction[Any]) -> None:
    sql = subparsers.add_parser("sql", help="run SQL against a Craton replica (a prompt when no statement is given)")
    sql.add_argument("statement", nargs="?", help="one SQL statement; omit it for an interactive prompt")
    sql.add_argument("--addr", action="append", help="replica HOST:PORT (repeat for several; default 127.0.0.1:5432)")
    sql.add_argument("--token", help="JWT or API key (default: env CRATON_TOKEN)")
    sql.add_argument("--tenant", type=int, help="tenant id (default: the token's tenant)")
    sql.add_argument("--json", action="store_true", help='print results as JSON (BYTES as {"$bytes": base64})')
    sql.add_argument("--param", action="append", default=[], help="value for $1, $2, … (JSON, else text)")
    sql.add_argument("--tls-ca", type=Path, help="CA certificate to verify a TLS replica")
    sql.set_defaults(handler=cmd_sql)


def _add_replica(subparsers: argparse._SubParsersAction[Any]) -> None:
    replica = subparsers.add_parser("replica", help="run one Craton replica (engine + client port)")
    replica.add_argument("--data-dir", type=Path, required=True, help="the replica's data folder")
    replica.add_argument("--listen", default="127.0.0.1:5432", help="client port HOST:PORT (port 0: any free port)")
    replica.add_argument("--http", help="health/metrics port HOST:PORT (/livez, /readyz, /metrics)")
    replica.add_argument(
        "--public-key", action="append", type=Path, default=[], help="Ed25519 PEM key that signs client tokens"
    )
    replica.add_argument("--api-keys", type=Path, help="JSON list of {key_sha256, tenant_id, subject, expires_at_s}")
    replica.add_argument("--issuer", help="required JWT issuer (default craton-control-plane)")
    replica.add_argument("--dev", action="store_true", help="loopback only: make a key and a tenant-1 token")
    replica.add_argument("--tls-cert", type=Path, help="PEM certificate (required off loopback)")
    replica.add_argument("--tls-key", type=Path, help="PEM private key of --tls-cert")
    replica.add_argument("--connections-max", type=int, help="open connections allowed (default 1024)")
    replica.add_argument("--idle-timeout", type=float, help="seconds before an idle connection closes (default 300)")
    replica.add_argument("--rate-limit", type=float, help="requests per second per tenant (default 50000)")
    replica.add_argument("--rate-burst", type=float, help="burst per tenant (default 100000)")
    replica.add_argument("--checkpoint-every", type=int, default=1000, help="records between checkpoints")
    replica.set_defaults(handler=cmd_replica)


def _add_export(subparsers: argparse._SubParsersAction[Any]) -> None:
    export = subparsers.add_parser("export", help="export a stream to JSON Lines with a signed proof")
    export.add_argument("--data-dir", type=Path, required=True, help="the replica's data folder (replica stopped)")
    export.add_argument("--tenant", type=int, required=True, help="tenant id")
    export.add_argument("--stream", type=int, required=True, help="stream id")
    export.add_argument("--from", dest="from_offset", type=int, default=0, help="first offset (default 0)")
    export.add_argument("--to", dest="to_offset", type=int, help="last offset, inclusive (default: the end)")
    export.add_argument("--out", type=Path, required=True, help="output .jsonl file")
    export.set_defaults(handler=cmd_export)


def _add_verify_export(subparsers: argparse._SubParsersAction[Any]) -> None:
    verify = subparsers.add_parser("verify-export", help="check an export offline against its proof")
    verify.add_argument("file", type=Path, help="the .jsonl export")
    verify.add_argument("--public-key", type=Path, required=True, help="the replica's public key (PEM)")
    verify.add_argument("--json", action="store_true", help="machine-readable report")
    verify.set_defaults(handler=cmd_verify_export)


def _fail(command: str, message: str) -> int:
    sys.stderr.write(f"craton {command}: {message}\n")
    return 1


def cmd_sql(args: argparse.Namespace) -> int:
    from appliance.craton.client.policy import CratonClientError, parse_address
    from appliance.craton.client.shell import parse_param, repl, run_one
    from appliance.craton.client.sync import Client

    token = args.token or os.environ.get("CRATON_TOKEN")
    if not token:
        return _fail("sql", "no token: pass --token or set CRATON_TOKEN")
    addresses = args.addr or ["127.0.0.1:5432"]
    try:
        for address in addresses:
            parse_address(address)
        params = [parse_param(p) for p in args.param]
        tls = ssl.create_default_context(cafile=str(args.tls_ca)) if args.tls_ca else None
    except (ValueError, OSError) as error:
        return _fail("sql", str(error))
    client = Client(addresses, token=token, tenant_id=args.tenant, tls=tls)
    try:
        if args.statement is not None:
            return run_one(client, args.statement, params, as_json=args.json, out=sys.stdout, err=sys.stderr)
        try:
            client.connect()
        except CratonClientError as error:
            return _fail("sql", str(error))
        interactive = sys.stdin.isatty()
        if interactive:
            import readline  # noqa: F401 - gives input() line editing and history

        return repl(client, as_json=args.json, read_line=_read_line, interactive=interactive)
    finally:
        client.close()


def _read_line(prompt: str) -> str:
    return input(prompt)


def cmd_replica(args: argparse.Namespace) -> int:
    from appliance.craton.server.auth import JWT_ISSUER_DEFAULT
    from appliance.craton.server.limits import ServerLimits
    from appliance.craton.server.replica import ReplicaOptions, run_replica

    overrides = {
        "connections_max": args.connections_max,
        "idle_timeout_s": args.idle_timeout,
        "rate_per_tenant_per_s": args.rate_limit,
        "rate_burst_per_tenant": args.rate_burst,
    }
    try:
        limits = ServerLimits(**{k: v for k, v in overrides.items() if v is not None})
    except ValueError as error:
        return _fail("replica", str(error))
    options = ReplicaOptions(
        data_dir=args.data_dir,
        listen=args.listen,
        http=args.http,
        public_key_files=list(args.public_key),
        api_keys_file=args.api_keys,
        dev=args.dev,
        tls_cert=args.tls_cert,
        tls_key=args.tls_key,
        issuer=args.issuer or JWT_ISSUER_DEFAULT,
        limits=limits,
        checkpoint_every=args.checkpoint_every,
    )
    return run_replica(options)


def cmd_export(args: argparse.Namespace) -> int:
    from appliance.craton.engine import Engine
    from appliance.craton.types import EngineError

    if not args.data_dir.is_dir():
        return _fail("export", f"no replica data in {args.data_dir}")
    try:
        with Engine.open(args.data_dir) as engine:
            to_offset = args.to_offset
            if to_offset is None:
                next_offset = engine.status()["streams"].get(str(args.stream))
                if not next_offset:
                    return _fail("export", f"stream {args.stream} does not exist or is empty")
                to_offset = next_offset - 1
            summary = engine.export(args.tenant, args.stream, args.from_offset, to_offset, args.out)
    except (EngineError, OSError) as error:
        return _fail("export", str(error))
    print(
        f"exported {summary.records} records of stream {args.stream} ({args.from_offset}..{to_offset}) to "
        f"{summary.path}; last hash {summary.last_hash}"
    )
    return 0


def cmd_verify_export(args: argparse.Namespace) -> int:
    import json

    from appliance.craton.export import verify_export
    from appliance.craton.server.replica import load_public_key
    from appliance.craton.server.server import ServerConfigError

    try:
        key = load_public_key(args.public_key)
    except ServerConfigError as error:
        return _fail("verify-export", str(error))
    report = verify_export(args.file, key)
    if args.json:
        print(
            json.dumps(
                {
                    "ok": report.ok,
                    "records": report.records,
                    "first_bad_line": report.first_bad_line,
                    "reason": report.reason,
                }
            )
        )
    elif report.ok:
        print(f"OK: {report.records} records, chain and signed proof verify")
    where = f"line {report.first_bad_line}: " if report.first_bad_line is not None else ""
    if not report.ok:
        sys.stderr.write(f"craton verify-export: FAILED at {where}{report.reason}\n")
    return 0 if report.ok else 1


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="craton", description="Craton engine commands (standalone entry point).")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)
    subparsers.required = True
    register(subparsers)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = build_parser().parse_args(argv)
    handler: Handler = args.handler
    try:
        return handler(args)
    except KeyboardInterrupt:
        return 130


if __name__ == "__main__":
    sys.exit(main())
