"""Make the installable artifacts from a built `craton` binary and the files in installer/:

- `craton_<version>_<arch>.deb`, assembled in a staging root and packed by `dpkg-deb`,
- `craton_<version>_linux-<machine>.tar.gz` with install.sh/uninstall.sh for machines without dpkg,
- `SHA256SUMS` over the binary and both archives.

Files get fixed modes, root ownership and the commit's timestamp, so the same inputs give the same
archives. This module owns only packing. It must never build or modify the binary, never
download anything, and never write outside the output folder except to its own temp folder.
"""

from __future__ import annotations

import gzip
import hashlib
import os
import platform
import re
import shutil
import subprocess
import tarfile
import tempfile
from collections.abc import Iterator
from pathlib import Path

import msgspec
from build_errors import BuildError

CHECK_TIMEOUT_S = 120
DPKG_TIMEOUT_S = 600
# The binary is already zlib-compressed inside; a light gzip level costs seconds, not minutes.
DEB_COMPRESSION = ("-Zgzip", "-z6")
TAR_GZIP_LEVEL = 6
HASH_CHUNK_BYTES = 1 << 20
VERSION_PATTERN = re.compile(r"^[0-9][A-Za-z0-9.+~-]*$")


class PackageInputs(msgspec.Struct, frozen=True):
    binary: Path
    version: str
    installer_dir: Path
    docs: Path
    nats_license: Path | None
    source_date_epoch: int


def dpkg_architecture() -> str:
    machine = platform.machine().lower()
    known = {"x86_64": "amd64", "amd64": "amd64", "aarch64": "arm64", "arm64": "arm64"}
    if machine not in known:
        raise BuildError(f"no Debian architecture known for machine {machine!r}")
    return known[machine]


def libc_requirement() -> str:
    """The build machine's glibc is the oldest the bundled libpython is known to run on."""
    name, _, version = (os.confstr("CS_GNU_LIBC_VERSION") or "").partition(" ")
    if name != "glibc" or not version:
        raise BuildError("packages can only be built on a glibc system")
    return f"libc6 (>= {version})"


def check_inputs(inputs: PackageInputs) -> None:
    """Everything is checked before the first file is written."""
    if not VERSION_PATTERN.match(inputs.version):
        raise BuildError(f"version {inputs.version!r} is not a valid Debian version")
    if not inputs.binary.is_file() or not os.access(inputs.binary, os.X_OK):
        raise BuildError(f"binary {inputs.binary} is missing or not executable")
    needed = [inputs.docs, *(inputs.installer_dir / name for name in _INSTALLER_FILES)]
    missing = [str(path) for path in needed if not path.is_file()]
    if missing:
        raise BuildError(f"missing packaging inputs: {', '.join(missing)}")
    done = subprocess.run(
        [str(inputs.binary), "--version"], capture_output=True, text=True, timeout=CHECK_TIMEOUT_S, check=False
    )
    if done.returncode != 0 or inputs.version not in done.stdout:
        raise BuildError(
            f"{inputs.binary} --version printed {done.stdout.strip()!r}, expected version {inputs.version}"
        )
    if shutil.which("dpkg-deb") is None:
        raise BuildError("dpkg-deb is not installed (apt-get install dpkg)")


_INSTALLER_FILES = (
    "craton.service",
    "craton.desktop",
    "craton.svg",
    "install.sh",
    "uninstall.sh",
    "debian/control.in",
    "debian/postinst",
    "debian/prerm",
    "debian/postrm",
)
_MAINTAINER_SCRIPTS = ("postinst", "prerm", "postrm")


def render(template: Path, values: dict[str, str]) -> str:
    text = template.read_text()
    for key, value in values.items():
        text = text.replace(f"@{key}@", value)
    leftover = re.search(r"@[A-Z_]+@", text)
    if leftover:
        raise BuildError(f"{template} has an unfilled placeholder {leftover.group(0)}")
    return text


def _write(path: Path, data: bytes | str, mode: int) -> None:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    path.write_bytes(data.encode() if isinstance(data, str) else data)
    path.chmod(mode)


def copyright_text(inputs: PackageInputs) -> str:
    text = (
        "Format: https://www.debian.org/doc/packaging-manuals/copyright-format/1.0/\n"
        "Upstream-Name: craton\n\n"
        "Files: *\nLicense: Apache-2.0\n"
        " The Craton appliance, licensed under the Apache License, Version 2.0.\n"
        " On Debian systems the full text is in /usr/share/common-licenses/Apache-2.0.\n\n"
        "Files: usr/bin/craton (embedded nats-server)\nLicense: Apache-2.0\n"
        " The bundled nats-server binary, licensed under the Apache License, Version 2.0.\n"
    )
    if inputs.nats_license is not None:
        license_text = inputs.nats_license.read_text().strip().splitlines()
        text += "".join(f" {line}\n" if line.strip() else " .\n" for line in license_text)
    return text


def stage_deb_root(inputs: PackageInputs, root: Path) -> None:
    """Lay out the package's files under `root` (binary, unit, desktop entry, icon, docs)."""
    installer = inputs.installer_dir
    bindir = {"BINDIR": "/usr/bin"}
    shutil.copyfile(inputs.binary, _mkparent(root / "usr/bin/craton"))
    (root / "usr/bin/craton").chmod(0o755)
    _write(root / "usr/lib/systemd/system/craton.service", render(installer / "craton.service", bindir), 0o644)
    desktop = render(installer / "craton.desktop", bindir)
    _write(root / "usr/share/applications/craton.desktop", desktop, 0o644)
    icon = (installer / "craton.svg").read_bytes()
    _write(root / "usr/share/icons/hicolor/scalable/apps/craton.svg", icon, 0o644)
    _write(root / "usr/share/doc/craton/install.md", inputs.docs.read_bytes(), 0o644)
    _write(root / "usr/share/doc/craton/copyright", copyright_text(inputs), 0o644)


def _mkparent(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o755)
    return path


def _files(root: Path) -> Iterator[Path]:
    return (path for path in sorted(root.rglob("*")) if path.is_file() and "DEBIAN" not in path.parts)


def stage_control(inputs: PackageInputs, root: Path) -> None:
    """DEBIAN/: control with the real installed size, md5sums, and the maintainer scripts."""
    installed_kib = sum((path.stat().st_size + 1023) // 1024 for path in _files(root))
    control = render(
        inputs.installer_dir / "debian/control.in",
        {
            "VERSION": inputs.version,
            "ARCH": dpkg_architecture(),
            "INSTALLED_SIZE_KIB": str(installed_kib),
            "DEPENDS": libc_requirement(),
        },
    )
    debian = root / "DEBIAN"
    _write(debian / "control", control, 0o644)
    sums = "".join(
        f"{hashlib.md5(p.read_bytes(), usedforsecurity=False).hexdigest()}  {p.relative_to(root)}\n"
        for p in _files(root)
    )
    _write(debian / "md5sums", sums, 0o644)
    for name in _MAINTAINER_SCRIPTS:
        _write(debian / name, (inputs.installer_dir / "debian" / name).read_bytes(), 0o755)


def normalise_tree(root: Path, epoch: int) -> None:
    """Fixed directory modes and timestamps so two builds of one commit pack identically."""
    for path in [root, *root.rglob("*")]:
        if path.is_dir():
            path.chmod(0o755)
        os.utime(path, (epoch, epoch), follow_symlinks=False)


def build_deb(inputs: PackageInputs, out_dir: Path, temp: Path) -> Path:
    root = temp / "deb-root"
    stage_deb_root(inputs, root)
    stage_control(inputs, root)
    normalise_tree(root, inputs.source_date_epoch)
    target = out_dir / f"craton_{inputs.version}_{dpkg_architecture()}.deb"
    partial = temp / target.name
    env = {**os.environ, "SOURCE_DATE_EPOCH": str(inputs.source_date_epoch)}
    done = subprocess.run(
        ["dpkg-deb", "--root-owner-group", *DEB_COMPRESSION, "--build", str(root), str(partial)],
        capture_output=True,
        text=True,
        env=env,
        timeout=DPKG_TIMEOUT_S,
        check=False,
    )
    if done.returncode != 0:
        raise BuildError(f"dpkg-deb failed: {done.stderr.strip()[-400:]}")
    os.replace(partial, target)
    return target


def tarball_members(inputs: PackageInputs) -> list[tuple[Path, str, int]]:
    """(source, name inside the archive folder, mode) of the tarball for machines without dpkg."""
    installer = inputs.installer_dir
    members = [
        (inputs.binary, "craton", 0o755),
        (installer / "install.sh", "install.sh", 0o755),
        (installer / "uninstall.sh", "uninstall.sh", 0o755),
        (installer / "craton.service", "craton.service", 0o644),
        (installer / "craton.desktop", "craton.desktop", 0o644),
        (installer / "craton.svg", "craton.svg", 0o644),
        (inputs.docs, "install.md", 0o644),
    ]
    if inputs.nats_license is not None:
        members.append((inputs.nats_license, "LICENSE.nats-server", 0o644))
    return members


def build_tarball(inputs: PackageInputs, out_dir: Path, temp: Path) -> Path:
    folder = f"craton-{inputs.version}"
    target = out_dir / f"craton_{inputs.version}_linux-{platform.machine().lower()}.tar.gz"
    partial = temp / target.name
    epoch = inputs.source_date_epoch
    with (
        partial.open("wb") as raw,
        gzip.GzipFile(filename="", mode="wb", fileobj=raw, mtime=epoch, compresslevel=TAR_GZIP_LEVEL) as zipped,
        tarfile.open(fileobj=zipped, mode="w", format=tarfile.PAX_FORMAT) as archive,
    ):
        archive.addfile(_tar_info(f"{folder}/", 0o755, epoch, directory=True))
        for source, name, mode in tarball_members(inputs):
            info = _tar_info(f"{folder}/{name}", mode, epoch)
            info.size = source.stat().st_size
            with source.open("rb") as handle:
                archive.addfile(info, handle)
    os.replace(partial, target)
    return target


def _tar_info(name: str, mode: int, epoch: int, *, directory: bool = False) -> tarfile.TarInfo:
    info = tarfile.TarInfo(name.rstrip("/"))
    info.mode, info.mtime = mode, epoch
    info.uid = info.gid = 0
    info.uname = info.gname = "root"
    if directory:
        info.type = tarfile.DIRTYPE
    return info


def write_checksums(paths: list[Path], out_dir: Path) -> Path:
    lines = []
    for path in paths:
        digest = hashlib.sha256()
        with path.open("rb") as handle:
            while chunk := handle.read(HASH_CHUNK_BYTES):
                digest.update(chunk)
        lines.append(f"{digest.hexdigest()}  {path.name}\n")
    target = out_dir / "SHA256SUMS"
    target.write_text("".join(lines))
    return target


def build_packages(inputs: PackageInputs, out_dir: Path) -> list[Path]:
    """Build the .deb and the tarball into `out_dir`; returns them and SHA256SUMS."""
    check_inputs(inputs)
    out_dir = out_dir.resolve()
    out_dir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="craton-pkg-", dir=out_dir) as temp_name:
        temp = Path(temp_name)
        deb = build_deb(inputs, out_dir, temp)
        tarball = build_tarball(inputs, out_dir, temp)
    sums_over = [inputs.binary, deb, tarball] if inputs.binary.resolve().parent == out_dir else [deb, tarball]
    return [deb, tarball, write_checksums(sums_over, out_dir)]
