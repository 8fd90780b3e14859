"""The Ed25519 keyring on disk: private files, atomic rotation, retention, pruning, refusing loose files."""

from __future__ import annotations

import os
import stat
from pathlib import Path

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec

from appliance.identity.auth.keys import Keyring, is_valid_kid, keys_dir_for
from appliance.kernel.clock import ManualClock
from appliance.kernel.errors import ConfigError

RETAIN_S = 1000


def _mode(path: Path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
def keys_dir(tmp_path: Path) -> Path:
    return keys_dir_for(tmp_path / "data")


def _open(keys_dir: Path, clock: ManualClock, **kwargs: object) -> Keyring:
    return Keyring.open(keys_dir, clock, retain_s=RETAIN_S, **kwargs)  # type: ignore[arg-type]


def _pem_files(keys_dir: Path) -> list[Path]:
    return sorted(keys_dir.glob("*.pem"))


def test_open_creates_private_folders_and_one_private_key(keys_dir: Path, clock: ManualClock) -> None:
    """A fresh data dir gets secrets/ and secrets/jwt/ as 0700 and one 0600 Ed25519 PEM named by its kid."""
    ring = _open(keys_dir, clock)
    assert keys_dir == keys_dir.parent.parent / "secrets" / "jwt"
    assert _mode(keys_dir) == 0o700
    assert _mode(keys_dir.parent) == 0o700
    [only] = _pem_files(keys_dir)
    assert _mode(only) == 0o600
    assert only.name == f"{ring.active().kid}.pem"
    assert is_valid_kid(ring.active().kid)
    assert ring.active().kid.startswith("20260101T000000000000Z-")
    assert only.read_bytes().startswith(b"-----BEGIN PRIVATE KEY-----")


def test_reopening_loads_the_same_active_key(keys_dir: Path, clock: ManualClock) -> None:
    """A second open of the same folder finds the same kid and the same public key, and makes none."""
    first = _open(keys_dir, clock).active()
    second = _open(keys_dir, clock).active()
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    assert second.kid == first.kid
    assert second.public_key.public_bytes(*raw) == first.public_key.public_bytes(*raw)
    assert len(_pem_files(keys_dir)) == 1


def test_keys_come_from_the_injected_random_source(tmp_path: Path, clock: ManualClock) -> None:
    """Two keyrings fed the same random bytes make the same key pair (no hidden entropy source)."""
    raw = serialization.Encoding.Raw, serialization.PublicFormat.Raw
    made = [_open(tmp_path / name, clock, random_bytes=lambda n: bytes(range(n))).active() for name in ("a", "b")]
    assert made[0].kid == made[1].kid
    assert made[0].public_key.public_bytes(*raw) == made[1].public_key.public_bytes(*raw)


def test_rotate_makes_a_new_active_key_and_keeps_the_old_one(keys_dir: Path, clock: ManualClock) -> None:
    """After rotate() the new key signs, the old one still verifies, and kids() lists newest first."""
    ring = _open(keys_dir, clock)
    old = ring.active()
    clock.advance(10)
    new = ring.rotate()
    assert ring.active() == new
    assert ring.kids() == (new.kid, old.kid)
    assert ring.verification_key(old.kid) is not None
    assert [p.name for p in _pem_files(keys_dir)] == sorted([f"{old.kid}.pem", f"{new.kid}.pem"])
    assert not [p for p in keys_dir.iterdir() if p.name.endswith(".tmp")]


def test_two_rotations_in_one_clock_tick_still_order_strictly(keys_dir: Path, clock: ManualClock) -> None:
    """Rotating twice without the clock moving gives three distinct, strictly ordered keys."""
    ring = _open(keys_dir, clock)
    ring.rotate()
    newest = ring.rotate()
    assert ring.active() == newest
    assert len(set(ring.kids())) == 3
    assert _open(keys_dir, clock).active().kid == newest.kid


def test_retired_keys_are_pruned_only_after_the_retention_time(keys_dir: Path, clock: ManualClock) -> None:
    """A retired key verifies until retain_s after its successor was made, then prune() deletes it."""
    ring = _open(keys_dir, clock)
    old = ring.active()
    clock.advance(100)
    new = ring.rotate()
    clock.advance(RETAIN_S - 1)
    assert ring.prune() == ()
    assert ring.verification_key(old.kid) is not None
    clock.advance(1)
    assert ring.prune() == (old.kid,)
    assert ring.verification_key(old.kid) is None
    assert [p.name for p in _pem_files(keys_dir)] == [f"{new.kid}.pem"]
    clock.advance(10 * RETAIN_S)
    assert ring.prune() == ()
    assert ring.active() == new


def test_rotation_prunes_what_has_expired(keys_dir: Path, clock: ManualClock) -> None:
    """rotate() itself deletes keys retired longer than retain_s ago, keeping the previous key."""
    ring = _open(keys_dir, clock)
    first = ring.active()
    clock.advance(1)
    second = ring.rotate()
    clock.advance(RETAIN_S)
    third = ring.rotate()
    assert ring.kids() == (third.kid, second.kid)
    assert not (keys_dir / f"{first.kid}.pem").exists()


def test_a_rotation_by_another_process_is_picked_up(keys_dir: Path, clock: ManualClock) -> None:
    """Keys written by a second keyring on the folder verify at once and sign after the reload interval."""
    appliance = _open(keys_dir, clock, reload_interval_s=10.0)
    admin_cli = _open(keys_dir, clock)
    clock.advance(1)
    rotated = admin_cli.rotate()
    assert appliance.verification_key(rotated.kid) is not None  # unknown kid: one rescan
    clock.advance(10)
    assert appliance.active().kid == rotated.kid


def test_unknown_kids_rescan_at_most_once_a_second(keys_dir: Path, clock: ManualClock) -> None:
    """A flood of unknown kids rescans once a second, so a key added just after one is seen a second later."""
    appliance = _open(keys_dir, clock, reload_interval_s=3600.0)
    assert appliance.verification_key("20990101T000000000000Z-00000000") is None  # rescans now
    rotated = _open(keys_dir, clock).rotate()
    clock.advance(0.5)
    assert appliance.verification_key(rotated.kid) is None  # within the second: no rescan
    clock.advance(0.5)
    assert appliance.verification_key(rotated.kid) is not None
    assert appliance.verification_key("not-a-kid") is None


def test_a_key_file_readable_by_others_is_refused(keys_dir: Path, clock: ManualClock) -> None:
    """A key file with mode 0644 stops open() with a message naming the file and the chmod that fixes it."""
    _open(keys_dir, clock)
    [key_file] = _pem_files(keys_dir)
    key_file.chmod(0o644)
    with pytest.raises(ConfigError, match=r"mode 0644.*chmod 600") as refused:
        _open(keys_dir, clock)
    assert str(key_file) in refused.value.message
    key_file.chmod(0o640)
    with pytest.raises(ConfigError, match="mode 0640"):
        _open(keys_dir, clock)
    key_file.chmod(0o600)
    assert _open(keys_dir, clock).active().kid == key_file.stem


def test_loosened_permissions_are_caught_on_reload_too(keys_dir: Path, clock: ManualClock) -> None:
    """A running keyring's reload refuses a key file whose mode was loosened after it was loaded."""
    ring = _open(keys_dir, clock)
    _pem_files(keys_dir)[0].chmod(0o604)
    with pytest.raises(ConfigError, match="mode 0604"):
        ring.reload()


def test_a_folder_others_can_enter_is_refused(keys_dir: Path, clock: ManualClock) -> None:
    """A keys folder with mode 0755 is refused rather than silently tightened."""
    _open(keys_dir, clock)
    keys_dir.chmod(0o755)
    with pytest.raises(ConfigError, match=r"folder has mode 0755.*chmod 700"):
        _open(keys_dir, clock)


def test_symlinks_foreign_keys_garbage_and_strange_names_are_refused(keys_dir: Path, clock: ManualClock) -> None:
    """A symlinked key, an EC key, a non-PEM, an oversized file or a badly named .pem each stop loading."""
    ring = _open(keys_dir, clock)
    good = keys_dir / f"{ring.active().kid}.pem"
    planted = keys_dir / "20300101T000000000000Z-0000000a.pem"

    def refused_with(match: str) -> None:
        with pytest.raises(ConfigError, match=match):
            _open(keys_dir, clock)
        planted.unlink()

    planted.symlink_to(good)
    refused_with("symlink")
    ec_pem = ec.generate_private_key(ec.SECP256R1()).private_bytes(
        serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
    )
    for content, match in [
        (ec_pem, "need an Ed25519 key"),
        (b"not a key at all\n", "not a readable unencrypted PEM"),
        (b"x" * 5000, "too large"),
    ]:
        planted.write_bytes(content)
        planted.chmod(0o600)
        refused_with(match)
    stray = keys_dir / "backup-key.pem"
    stray.write_bytes(good.read_bytes())
    stray.chmod(0o600)
    with pytest.raises(ConfigError, match="bad name"):
        _open(keys_dir, clock)


def test_temp_files_and_other_files_are_ignored(keys_dir: Path, clock: ManualClock) -> None:
    """A writer's leftover dot-temp file and non-.pem files do not disturb loading."""
    ring = _open(keys_dir, clock)
    (keys_dir / f".{ring.active().kid}.pem.abcd.tmp").write_bytes(b"partial")
    (keys_dir / "README").write_text("notes")
    assert _open(keys_dir, clock).kids() == (ring.active().kid,)


def test_kid_shape() -> None:
    """Only the documented kid shape is accepted: time to the microsecond, dash, 8 lower-case hex digits."""
    assert is_valid_kid("20260101T000000000000Z-0123abcd")
    for bad in [
        "",
        "20260101T000000Z-0123abcd",
        "20260101T000000000000Z-0123ABCD",
        "../../etc/passwd",
        None,
        7,
    ]:
        assert not is_valid_kid(bad)


def test_files_owned_by_another_user_are_refused(
    keys_dir: Path, clock: ManualClock, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Keys (and their folder) owned by another uid are refused: seen as another user would see ours."""
    _open(keys_dir, clock)
    owner = os.stat(keys_dir).st_uid
    monkeypatch.setattr(os, "geteuid", lambda: owner + 1)
    with pytest.raises(ConfigError, match=f"owned by uid {owner}, not by this user"):
        _open(keys_dir, clock)
