"""Fixtures of the packaging tests: a stand-in `craton` binary and packages built from it.

The real one-file binary takes a minute to build and is exercised by packaging/smoke_test.py; the
.deb, tarball and install scripts only need an executable that answers `--version` like it, so
these tests pack a small shell script with the real build script and the real dpkg-deb.
"""

from __future__ import annotations

import importlib.metadata
import subprocess
import sys
import tarfile
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]
BUILD = REPO / "packaging" / "build.py"
VERSION = importlib.metadata.version("craton-appliance")
BUILD_TIMEOUT_S = 300
SOURCE_DATE_EPOCH = 1_700_000_000


def write_stand_in(path: Path, version: str = VERSION) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(f'#!/bin/sh\n[ "$1" = --version ] && echo "craton {version}" && exit 0\necho stand-in "$@"\n')
    path.chmod(0o755)
    return path


def run_build(*args: str, epoch: int = SOURCE_DATE_EPOCH) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, str(BUILD), *args],
        capture_output=True,
        text=True,
        timeout=BUILD_TIMEOUT_S,
        env={"PATH": "/usr/local/bin:/usr/bin:/bin:/usr/sbin:/sbin", "SOURCE_DATE_EPOCH": str(epoch)},
        check=False,
    )


def build_packages(out: Path, binary: Path) -> dict[str, Path]:
    done = run_build("--packages-only", str(binary), "--out", str(out))
    assert done.returncode == 0, done.stderr
    return {
        "deb": next(out.glob("craton_*.deb")),
        "tarball": next(out.glob("craton_*.tar.gz")),
        "sums": out / "SHA256SUMS",
    }


@pytest.fixture(scope="session")
def stand_in(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return write_stand_in(tmp_path_factory.mktemp("bin") / "craton")


@pytest.fixture(scope="session")
def packages(tmp_path_factory: pytest.TempPathFactory, stand_in: Path) -> dict[str, Path]:
    return build_packages(tmp_path_factory.mktemp("out"), stand_in)


@pytest.fixture(scope="session")
def release(tmp_path_factory: pytest.TempPathFactory, packages: dict[str, Path]) -> Path:
    """The tarball unpacked, as a user of a machine without dpkg would have it."""
    target = tmp_path_factory.mktemp("release")
    with tarfile.open(packages["tarball"]) as archive:
        archive.extractall(target, filter="data")
    return target / f"craton-{VERSION}"
