"""The .deb's maintainer scripts take the right actions for each dpkg call: create the user once,
create the data folder only when absent, enable and start the unit on first install, respect an
admin's `disable` on upgrade, stop on remove, and never delete data or the user.

The scripts run for real under /bin/sh, in a private mount namespace (so /run/systemd/system and
/var/lib/craton can be made present or absent without touching the machine), with the commands
that would change the system (useradd, systemctl, …) replaced by recorders on PATH. What those
commands then do is theirs; the real install was exercised once by hand (packaging/README.md).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.packaging.conftest import REPO

SCRIPTS = REPO / "installer" / "debian"
RECORDED = ("getent", "useradd", "adduser", "install", "deb-systemd-helper", "deb-systemd-invoke", "systemctl",
            "userdel", "rm", "chown", "chmod")  # fmt: skip
SCRIPT_TIMEOUT_S = 60
NAMESPACE_SETUP = """
/bin/mount -t tmpfs tmpfs /run && /bin/mount -t tmpfs tmpfs /var/lib || exit 97
[ "$WITH_SYSTEMD" = 1 ] && /bin/mkdir -p /run/systemd/system
[ "$WITH_DATA" = 1 ] && /bin/mkdir -p /var/lib/craton
exec "$@"
"""


def make_recorders(folder: Path) -> Path:
    """Commands that log their argv; getent and `was-enabled` answer from the environment."""
    folder.mkdir()
    for name in RECORDED:
        body = f'echo "{name} $*" >>"$RECORD"\n'
        if name == "getent":
            body += '[ "$USER_EXISTS" = 1 ] && exit 0 || exit 2\n'
        if name == "deb-systemd-helper":
            body += 'case "$*" in *was-enabled*) [ "$WAS_ENABLED" = 1 ] && exit 0 || exit 1 ;; esac\n'
        path = folder / name
        path.write_text(f"#!/bin/sh\n{body}exit 0\n")
        path.chmod(0o755)
    return folder


def run_script(
    tmp_path: Path,
    script: str,
    *args: str,
    systemd: bool = False,
    user_exists: bool = False,
    was_enabled: bool = True,
    data_exists: bool = False,
    without: tuple[str, ...] = (),
) -> tuple[subprocess.CompletedProcess[str], list[str]]:
    recorders = make_recorders(tmp_path / "recorders")
    for name in without:
        (recorders / name).unlink()
    record = tmp_path / "record.log"
    record.touch()
    env = {
        # Only the recorders: no real command that changes the system can be reached by name.
        "PATH": str(recorders),
        "RECORD": str(record),
        "USER_EXISTS": str(int(user_exists)),
        "WAS_ENABLED": str(int(was_enabled)),
        "WITH_SYSTEMD": str(int(systemd)),
        "WITH_DATA": str(int(data_exists)),
    }
    namespace = ["/usr/bin/unshare", "--user", "--map-root-user", "--mount", "--propagation", "private"]
    command = [*namespace, "/bin/sh", "-c", NAMESPACE_SETUP, "sh", "/bin/sh", str(SCRIPTS / script), *args]
    done = subprocess.run(command, capture_output=True, text=True, env=env, timeout=SCRIPT_TIMEOUT_S, check=False)
    assert done.returncode != 97, f"could not set up the mount namespace: {done.stderr}"
    return done, record.read_text().splitlines()


def test_first_install_without_systemd(tmp_path: Path) -> None:
    """First configure on a machine without systemd running: the user and the data folder are
    created, the unit is enabled for the next boot, nothing is started, the token hint is shown."""
    done, calls = run_script(tmp_path, "postinst", "configure", "")
    assert done.returncode == 0, done.stderr
    assert calls == [
        "getent passwd craton",
        "useradd --system --user-group --home-dir /var/lib/craton --no-create-home "
        "--shell /usr/sbin/nologin --comment Craton appliance craton",
        "install -d -o craton -g craton -m 0700 /var/lib/craton",
        "deb-systemd-helper unmask craton.service",
        "deb-systemd-helper --quiet was-enabled craton.service",
        "deb-systemd-helper enable craton.service",
    ]
    assert "craton admin setup-token --data-dir /var/lib/craton" in done.stdout


def test_first_install_with_systemd_starts_the_service(tmp_path: Path) -> None:
    """First configure with systemd running: daemon-reload, then start."""
    done, calls = run_script(tmp_path, "postinst", "configure", "", systemd=True)
    assert done.returncode == 0, done.stderr
    assert calls[-2:] == ["systemctl --system daemon-reload", "deb-systemd-invoke start craton.service"]


def test_upgrade_keeps_an_admins_disable_and_restarts_only_a_running_service(tmp_path: Path) -> None:
    """Configure after an upgrade, for an admin-disabled unit and an existing user and data
    folder: no useradd, the folder untouched, the unit not re-enabled, a try-restart, no hint."""
    done, calls = run_script(
        tmp_path, "postinst", "configure", "0.0.9", systemd=True, user_exists=True, was_enabled=False, data_exists=True
    )
    assert done.returncode == 0, done.stderr
    assert calls == [
        "getent passwd craton",
        "deb-systemd-helper unmask craton.service",
        "deb-systemd-helper --quiet was-enabled craton.service",
        "deb-systemd-helper update-state craton.service",
        "systemctl --system daemon-reload",
        "deb-systemd-invoke try-restart craton.service",
    ]
    assert "setup-token" not in done.stdout


def test_user_is_made_with_adduser_when_useradd_is_absent(tmp_path: Path) -> None:
    """Without useradd, the system user is created with adduser instead."""
    done, calls = run_script(tmp_path, "postinst", "configure", "", without=("useradd",))
    assert done.returncode == 0, done.stderr
    assert calls[1].startswith("adduser --system --group --home /var/lib/craton --no-create-home")


def test_without_deb_systemd_helper_systemctl_enables(tmp_path: Path) -> None:
    """On a dpkg system without init-system-helpers, systemctl enables and starts the unit."""
    done, calls = run_script(
        tmp_path, "postinst", "configure", "", systemd=True, without=("deb-systemd-helper", "deb-systemd-invoke")
    )
    assert done.returncode == 0, done.stderr
    assert calls[-3:] == [
        "systemctl enable craton.service",
        "systemctl --system daemon-reload",
        "systemctl start craton.service",
    ]


@pytest.mark.parametrize(("argument", "stops"), [("remove", True), ("deconfigure", True), ("upgrade", False)])
def test_prerm_stops_only_on_remove(tmp_path: Path, argument: str, stops: bool) -> None:
    """prerm stops the service when the package goes away, not on upgrade (postinst restarts it)."""
    done, calls = run_script(tmp_path, "prerm", argument, "0.2.0", systemd=True)
    assert done.returncode == 0, done.stderr
    assert calls == (["deb-systemd-invoke stop craton.service"] if stops else [])


def test_purge_forgets_the_unit_and_keeps_data_and_user(tmp_path: Path) -> None:
    """postrm purge forgets the unit's enablement, deletes neither the data nor the user, and
    says how to delete them."""
    done, calls = run_script(tmp_path, "postrm", "purge", systemd=True, data_exists=True)
    assert done.returncode == 0, done.stderr
    assert calls == [
        "deb-systemd-helper purge craton.service",
        "deb-systemd-helper unmask craton.service",
        "systemctl --system daemon-reload",
    ]
    assert "rm -rf /var/lib/craton && userdel craton" in done.stdout


def test_remove_only_reloads_systemd(tmp_path: Path) -> None:
    """postrm remove touches nothing but systemd's view of the unit files."""
    done, calls = run_script(tmp_path, "postrm", "remove", systemd=True, data_exists=True)
    assert done.returncode == 0, done.stderr
    assert calls == ["systemctl --system daemon-reload"]


@pytest.mark.parametrize("script", ["postinst", "prerm", "postrm"])
def test_unknown_action_is_a_no_op(tmp_path: Path, script: str) -> None:
    """An action a script does not handle (dpkg adds some over time) succeeds and does nothing."""
    done, calls = run_script(tmp_path, script, "triggered", "x", systemd=True)
    assert done.returncode == 0, done.stderr
    assert calls == []
