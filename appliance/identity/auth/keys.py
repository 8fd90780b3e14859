"""The signing keyring for access tokens: Ed25519 keys as PEM files in `<data dir>/secrets/jwt/`.

Owns the key files and their life cycle:
- each key is one file `<kid>.pem` (PKCS#8, unencrypted, mode 0600) in a 0700 folder; the kid is
  the key's creation time to the microsecond plus 8 random hex digits, so the file name alone says
  which key is newest and no second file (a manifest) can disagree with the keys;
- the newest key is the one active key: it signs; every key still on file verifies;
- `rotate()` writes a new active key (temp file, fsync, rename, fsync of the folder) and prunes
  keys retired for longer than `retain_s`: a key is retired when a newer one is created, and must
  verify until the last token it signed has expired, so `retain_s` is the access-token TTL plus
  leeway plus slack (`appliance.identity.auth.tokens.AccessTokenConfig.key_retain_s`);
- `open()` and every reload refuse, with `ConfigError` naming the path and the fix, a folder or
  key file that group or others may read, a file owned by someone else, a symlink, or a file that
  is not an Ed25519 private key.

Another process (`craton admin rotate-keys` on a running appliance's data dir) may add or prune
keys: the keyring rescans the folder when asked for an unknown kid (at most once a second) and
when its view is older than `reload_interval_s` (10 s by default), so the running appliance picks
up the new active key without a restart.

Public API: `keys_dir_for(data_dir)`, `Keyring.open(...)`, `Keyring.active()`,
`Keyring.verification_key(kid)`, `Keyring.kids()`, `Keyring.rotate()`, `Keyring.prune()`,
`Keyring.reload()`, `is_valid_kid(text)`.

This module must never write a key anywhere but its folder, leave a partly written key under its
final name, log key material, or read the wall clock (time comes from the injected `Clock`).
"""

from __future__ import annotations

import itertools
import os
import re
import stat
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey

from appliance.kernel.clock import Clock
from appliance.kernel.errors import ConfigError, invariant
from appliance.kernel.structs import Struct

RandomBytes = Callable[[int], bytes]

_KID_TIME_FORMAT = "%Y%m%dT%H%M%S%fZ"
_KID_PATTERN = re.compile(r"\A\d{8}T\d{12}Z-[0-9a-f]{8}\Z")
_KEY_FILE_BYTES_MAX = 4096
_ED25519_SEED_BYTES = 32
_KEY_FILE_SUFFIX = ".pem"
RELOAD_INTERVAL_S_DEFAULT = 10.0
MISS_RESCAN_INTERVAL_S = 1.0


def keys_dir_for(data_dir: Path) -> Path:
    """Where the access-token signing keys of the appliance at `data_dir` live."""
    return data_dir / "secrets" / "jwt"


def is_valid_kid(text: object) -> bool:
    """Whether `text` has the shape of a kid this keyring makes (checked before any disk access)."""
    return isinstance(text, str) and _KID_PATTERN.match(text) is not None


class SigningKey(Struct, frozen=True):
    """One key of the ring. `created_at` is also when the previous active key was retired."""

    kid: str
    created_at: datetime
    private_key: Ed25519PrivateKey
    public_key: Ed25519PublicKey


def _created_at_of(kid: str) -> datetime:
    return datetime.strptime(kid.split("-", 1)[0], _KID_TIME_FORMAT).replace(tzinfo=UTC)


def _ensure_private_dir(path: Path) -> None:
    """Create `path` (and missing parents) as 0700; refuse an existing folder others can enter."""
    for folder in reversed([path, *path.parents]):
        if folder.exists():
            continue
        try:
            folder.mkdir(mode=0o700)
        except FileExistsError:
            continue  # a concurrent open made it first; the check below still applies to `path`
        os.chmod(folder, 0o700)  # mkdir's mode is filtered by the umask
    _check_private(path, expect_dir=True)


def _check_private(path: Path, *, expect_dir: bool) -> os.stat_result:
    info = os.lstat(path)
    kind_ok = stat.S_ISDIR(info.st_mode) if expect_dir else stat.S_ISREG(info.st_mode)
    wanted = "700" if expect_dir else "600"
    what = "folder" if expect_dir else "key file"
    if not kind_ok:
        raise ConfigError(f"{path}: expected a {what}, found something else (a symlink or special file)")
    if info.st_uid != os.geteuid():
        raise ConfigError(f"{path}: {what} is owned by uid {info.st_uid}, not by this user ({os.geteuid()})")
    if info.st_mode & 0o077:
        mode = oct(stat.S_IMODE(info.st_mode))[2:].zfill(4)
        raise ConfigError(f"{path}: {what} has mode {mode}, which others can reach; run `chmod {wanted} {path}`")
    return info


def _load_key_file(path: Path, kid: str) -> SigningKey:
    info = _check_private(path, expect_dir=False)
    if info.st_size > _KEY_FILE_BYTES_MAX:
        raise ConfigError(f"{path}: {info.st_size} bytes is too large for an Ed25519 key file")
    try:
        loaded = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError) as error:
        raise ConfigError(f"{path}: not a readable unencrypted PEM private key ({error})") from None
    if not isinstance(loaded, Ed25519PrivateKey):
        raise ConfigError(f"{path}: holds a {type(loaded).__name__}, but access tokens need an Ed25519 key")
    return SigningKey(kid=kid, created_at=_created_at_of(kid), private_key=loaded, public_key=loaded.public_key())


def _write_atomically(path: Path, data: bytes, token: str) -> None:
    """Write `data` to `path` so that no reader ever sees a partial file, durable on return."""
    temp = path.with_name(f".{path.name}.{token}.tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_EXCL | os.O_NOFOLLOW, 0o600)
    try:
        os.fchmod(fd, 0o600)
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        os.fsync(fd)
    finally:
        os.close(fd)
    os.rename(temp, path)
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    # The rename or unlink is durable only once the folder's entry is on disk too.
    fd = os.open(folder, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


class Keyring:
    """Ed25519 signing keys on disk, cached in memory. Build it with `Keyring.open`."""

    def __init__(
        self,
        keys_dir: Path,
        clock: Clock,
        *,
        retain_s: float,
        random_bytes: RandomBytes,
        reload_interval_s: float,
    ) -> None:
        invariant(retain_s > 0, "retired keys must verify for a positive time")
        self._dir = keys_dir
        self._clock = clock
        self._retain = timedelta(seconds=retain_s)
        self._random_bytes = random_bytes
        self._reload_interval_s = reload_interval_s
        self._keys: dict[str, SigningKey] = {}
        self._loaded_at_monotonic = clock.monotonic()
        self._missed_at_monotonic = -MISS_RESCAN_INTERVAL_S

    @classmethod
    def open(
        cls,
        keys_dir: Path,
        clock: Clock,
        *,
        retain_s: float,
        random_bytes: RandomBytes = os.urandom,
        reload_interval_s: float = RELOAD_INTERVAL_S_DEFAULT,
    ) -> Keyring:
        """Load the keys in `keys_dir` (created 0700 if absent), make the first key if there is none."""
        _ensure_private_dir(keys_dir)
        ring = cls(keys_dir, clock, retain_s=retain_s, random_bytes=random_bytes, reload_interval_s=reload_interval_s)
        ring.reload()
        if not ring._keys:
            ring.rotate()
        return ring

    def reload(self) -> None:
        """Rescan the folder: pick up keys written by another process, forget pruned ones."""
        _check_private(self._dir, expect_dir=True)
        found: dict[str, SigningKey] = {}
        for entry in sorted(os.listdir(self._dir)):
            if not entry.endswith(_KEY_FILE_SUFFIX) or entry.startswith("."):
                continue  # temp files of a writer in progress, notes, backups
            kid = entry.removesuffix(_KEY_FILE_SUFFIX)
            if not is_valid_kid(kid):
                raise ConfigError(f"{self._dir / entry}: not a key file this keyring made (bad name)")
            known = self._keys.get(kid)
            if known is not None:
                _check_private(self._dir / entry, expect_dir=False)  # files never change, modes may
                found[kid] = known
            else:
                found[kid] = _load_key_file(self._dir / entry, kid)
        self._keys = found
        self._loaded_at_monotonic = self._clock.monotonic()

    def _reload_if_stale(self) -> None:
        if self._clock.monotonic() - self._loaded_at_monotonic >= self._reload_interval_s:
            self.reload()

    def _newest(self) -> SigningKey:
        invariant(bool(self._keys), "the keyring holds at least one key once open")
        return max(self._keys.values(), key=lambda key: (key.created_at, key.kid))

    def active(self) -> SigningKey:
        """The key that signs new tokens (the newest on file)."""
        self._reload_if_stale()
        return self._newest()

    def verification_key(self, kid: str) -> Ed25519PublicKey | None:
        """The public key for `kid`, or None. Unknown kids rescan at most once per `MISS_RESCAN_INTERVAL_S`.

        A well-formed unknown kid is usually a key another appliance (or the admin CLI) has just
        made; the rescan is rate-limited so that a flood of made-up kids costs one `listdir` a second.
        """
        key = self._keys.get(kid)
        if key is None and is_valid_kid(kid):
            now = self._clock.monotonic()
            if now - self._missed_at_monotonic >= MISS_RESCAN_INTERVAL_S:
                self._missed_at_monotonic = now
                self.reload()
                key = self._keys.get(kid)
        return None if key is None else key.public_key

    def kids(self) -> tuple[str, ...]:
        """Kids on file, newest first (the first one is active)."""
        ordered = sorted(self._keys.values(), key=lambda key: (key.created_at, key.kid), reverse=True)
        return tuple(key.kid for key in ordered)

    def rotate(self) -> SigningKey:
        """Write a new active key, durably, then prune keys retired longer than `retain_s` ago."""
        created_at = self._clock.now().astimezone(UTC)
        if self._keys:
            # Two rotations within one clock tick must still order strictly.
            created_at = max(created_at, self._newest().created_at + timedelta(microseconds=1))
        kid = f"{created_at.strftime(_KID_TIME_FORMAT)}-{self._random_bytes(4).hex()}"
        invariant(is_valid_kid(kid), "a new kid has the documented shape")
        seed = self._random_bytes(_ED25519_SEED_BYTES)
        invariant(len(seed) == _ED25519_SEED_BYTES, "an Ed25519 seed is 32 bytes")
        private_key = Ed25519PrivateKey.from_private_bytes(seed)
        pem = private_key.private_bytes(
            serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8, serialization.NoEncryption()
        )
        _write_atomically(self._dir / f"{kid}{_KEY_FILE_SUFFIX}", pem, self._random_bytes(4).hex())
        key = SigningKey(kid=kid, created_at=created_at, private_key=private_key, public_key=private_key.public_key())
        self._keys[kid] = key
        self.prune()
        return key

    def prune(self) -> tuple[str, ...]:
        """Delete keys whose tokens can no longer be valid; returns their kids. Never the active key."""
        now = self._clock.now()
        ordered = sorted(self._keys.values(), key=lambda key: (key.created_at, key.kid))
        removed: list[str] = []
        for older, newer in itertools.pairwise(ordered):
            if now >= newer.created_at + self._retain:
                (self._dir / f"{older.kid}{_KEY_FILE_SUFFIX}").unlink(missing_ok=True)
                del self._keys[older.kid]
                removed.append(older.kid)
        if removed:
            _fsync_dir(self._dir)
        invariant(bool(self._keys), "pruning never removes the active key")
        return tuple(removed)
