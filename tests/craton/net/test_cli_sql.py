"""`craton sql` and `craton replica --dev` as real processes, the way a newcomer meets them."""

from __future__ import annotations

import json
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest

from tests.craton.net.replica_process import CLI, run_cli, running_replica


def test_sql_against_a_dev_replica(tmp_path: Path) -> None:
    """DDL, DML with $n params, a table, --json, a bad statement (exit 1, one line) and a bad token (exit 1)."""
    with running_replica(tmp_path / "r") as replica:
        base = ["sql", "--addr", replica.address, "--token", replica.token]
        created = run_cli(*base, "CREATE TABLE pets (id BIGINT NOT NULL, name TEXT, PRIMARY KEY (id))")
        assert created.returncode == 0, created.stderr
        assert created.stdout.startswith("OK, 0 row(s) affected at offset")
        inserted = run_cli(
            *base, "INSERT INTO pets (id, name) VALUES ($1, $2), (2, 'rex')", "--param", "1", "--param", '"tom"'
        )
        assert inserted.returncode == 0, inserted.stderr
        assert inserted.stdout.startswith("OK, 2 row(s) affected")
        table = run_cli(*base, "SELECT id, name FROM pets ORDER BY id")
        assert table.returncode == 0, table.stderr
        assert table.stdout.splitlines() == ["id | name", "---+-----", "1  | tom ", "2  | rex ", "(2 rows)"]
        as_json = run_cli(*base, "--json", "SELECT name FROM pets WHERE id = 2")
        assert json.loads(as_json.stdout) == {"columns": ["name"], "rows": [["rex"]]}
        bad = run_cli(*base, "SELECT FROM WHERE")
        assert bad.returncode == 1
        assert bad.stdout == ""
        assert len(bad.stderr.strip().splitlines()) == 1
        assert "QueryParseError (code 7)" in bad.stderr
        forged = run_cli("sql", "--addr", replica.address, "--token", replica.token[:-3] + "AAA", "SELECT 1 AS one")
        assert forged.returncode == 1
        assert "AuthenticationFailed (code 3)" in forged.stderr
        from_env = run_cli("sql", "--addr", replica.address, "SELECT 1 AS one", env={"CRATON_TOKEN": replica.token})
        assert from_env.returncode == 0, from_env.stderr


def test_piped_statements_and_ctrl_c_at_the_prompt(tmp_path: Path) -> None:
    """Without a statement, `craton sql` reads statements; bad SQL and ctrl-C do not end it; EOF does."""
    with running_replica(tmp_path / "r") as replica:
        process = subprocess.Popen(
            [*CLI, "sql", "--addr", replica.address, "--token", replica.token],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        assert process.stdin is not None
        assert process.stdout is not None
        process.stdin.write("SELECT 1 AS first;\n")
        process.stdin.flush()
        lines = [process.stdout.readline() for _ in range(4)]
        assert lines[-1] == "(1 row)\n"
        _wait_blocked_on_input(process.pid)
        process.send_signal(signal.SIGINT)
        # Write the next lines only once the interrupt has been handled, as a person at a prompt would.
        assert [process.stdout.readline() for _ in range(2)] == [
            "\n",
            "^C (statement discarded; \\q or ctrl-D to quit)\n",
        ]
        process.stdin.write("SELEC oops;\nSELECT 2\n AS second;\n")
        out, err = process.communicate(timeout=60)
        assert process.returncode == 1, (out, err)  # one piped statement failed
        assert "second" in out
        assert "QueryParseError" in err


def _wait_blocked_on_input(pid: int) -> None:
    """Wait until the process sleeps in a read (so SIGINT lands inside input(), as ctrl-C at a prompt does)."""
    for _ in range(1000):
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
        if state == "S":
            return
        time.sleep(0.01)
    raise AssertionError("craton sql never blocked on its input")


def test_dev_mode_files_and_refusals(tmp_path: Path) -> None:
    """--dev keeps secrets 0600 in a 0700 folder and flags itself loudly; it refuses non-loopback; no keys is refused."""
    with running_replica(tmp_path / "r") as replica:
        data = replica.data_dir
        assert stat.S_IMODE((data / "dev-token").stat().st_mode) == 0o600
        assert stat.S_IMODE((data / "secrets").stat().st_mode) == 0o700
        private = [f for f in (data / "secrets").iterdir() if b"PRIVATE KEY" in f.read_bytes()]
        assert len(private) >= 2  # the stand-in control plane's key and the replica's own
        for key in private:
            assert stat.S_IMODE(key.stat().st_mode) == 0o600, key
    assert replica.stop()[0] == 0
    off_loopback = run_cli("replica", "--dev", "--data-dir", str(tmp_path / "x"), "--listen", "0.0.0.0:0")
    assert off_loopback.returncode == 1
    assert "only listens on loopback" in off_loopback.stderr
    no_keys = run_cli("replica", "--data-dir", str(tmp_path / "y"), "--listen", "127.0.0.1:0")
    assert no_keys.returncode == 1
    assert "no way to authenticate clients" in no_keys.stderr


def test_dev_banner_and_clean_stop(tmp_path: Path) -> None:
    """The dev replica says DEV MODE on stderr, and SIGTERM ends it with exit 0 after a clean drain."""
    with running_replica(tmp_path / "r") as replica:
        pass
    code, stderr = replica.stop()
    assert code == 0
    assert "*** DEV MODE ***" in stderr
    assert "stopped cleanly" in stderr


@pytest.mark.parametrize("command", ["sql", "replica", "export", "verify-export"])
def test_every_command_has_help(command: str) -> None:
    """`--help` works for each engine command and exits 0."""
    result = run_cli(command, "--help")
    assert result.returncode == 0
    assert "usage:" in result.stdout


def test_unreachable_replica_is_one_line_and_non_zero(tmp_path: Path) -> None:
    """`craton sql` against a closed port fails with exit 1 and one line on stderr."""
    import socket

    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port = probe.getsockname()[1]
    result = run_cli("sql", "--addr", f"127.0.0.1:{port}", "--token", "x", "SELECT 1")
    assert result.returncode == 1
    assert len(result.stderr.strip().splitlines()) == 1
    assert "gave up after" in result.stderr
