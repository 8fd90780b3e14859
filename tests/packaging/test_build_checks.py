"""packaging/build.py refuses bad inputs with a one-line reason, before it writes anything."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.packaging.conftest import REPO, run_build, write_stand_in

MANIFEST = json.loads((REPO / "bundled" / "manifest.json").read_text())


def assert_refused(done, *, mentions: str, out: Path, work: Path) -> None:  # type: ignore[no-untyped-def]
    assert done.returncode == 1
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("build: ")
    assert mentions in lines[0]
    assert not out.exists(), "the output folder was created"
    assert not work.exists(), "the work folder was created"


def build_with_manifest(tmp_path: Path, manifest_text: str):  # type: ignore[no-untyped-def]
    manifest = tmp_path / "manifest.json"
    manifest.write_text(manifest_text)
    out, work = tmp_path / "out", tmp_path / "work"
    return run_build("--manifest", str(manifest), "--out", str(out), "--work", str(work)), out, work


def test_wrong_nats_server_digest_is_refused(tmp_path: Path) -> None:
    """A manifest whose digest does not match the wheel's nats-server stops the build."""
    tampered = json.loads(json.dumps(MANIFEST))
    for key in tampered["nats-server"]["sha256"]:
        tampered["nats-server"]["sha256"][key] = "0" * 64
    done, out, work = build_with_manifest(tmp_path, json.dumps(tampered))
    assert_refused(done, mentions="has SHA-256", out=out, work=work)


@pytest.mark.parametrize(
    ("text", "mentions"),
    [
        ("{not json", "has no nats-server digest"),
        ('{"nats-server": {"version": "2.15.1", "sha256": {}}}', "has no nats-server digest for linux-"),
        ('{"nats-server": {"version": "2.15.1", "sha256": {"linux-x86_64": 7, "linux-aarch64": 7}}}', "malformed"),
        ("[]", "has no nats-server digest"),
        ("", "has no nats-server digest"),
    ],
)
def test_malformed_manifest_is_refused(tmp_path: Path, text: str, mentions: str) -> None:
    """Malformed JSON, a missing platform entry or a digest of the wrong type stop the build."""
    done, out, work = build_with_manifest(tmp_path, text)
    assert_refused(done, mentions=mentions, out=out, work=work)


def test_missing_manifest_is_refused(tmp_path: Path) -> None:
    """A manifest path that does not exist stops the build."""
    out, work = tmp_path / "out", tmp_path / "work"
    done = run_build("--manifest", str(tmp_path / "absent.json"), "--out", str(out), "--work", str(work))
    assert_refused(done, mentions="not found", out=out, work=work)


def test_binary_reporting_another_version_is_not_packaged(tmp_path: Path) -> None:
    """Packaging a binary whose --version is not the installed version is refused."""
    binary = write_stand_in(tmp_path / "bin" / "craton", version="9.9.9")
    out = tmp_path / "out"
    done = run_build("--packages-only", str(binary), "--out", str(out))
    assert_refused(done, mentions="--version printed", out=out, work=tmp_path / "work")


def test_missing_binary_is_not_packaged(tmp_path: Path) -> None:
    """Packaging a binary that does not exist is refused."""
    out = tmp_path / "out"
    done = run_build("--packages-only", str(tmp_path / "nothing"), "--out", str(out))
    assert_refused(done, mentions="missing or not executable", out=out, work=tmp_path / "work")


def test_unknown_flag_is_refused(tmp_path: Path) -> None:
    """An unknown option is an argparse usage error (exit 2), and nothing is built."""
    done = run_build("--frobnicate", "--out", str(tmp_path / "out"))
    assert done.returncode == 2
    assert "unrecognized arguments: --frobnicate" in done.stderr
    assert not (tmp_path / "out").exists()
