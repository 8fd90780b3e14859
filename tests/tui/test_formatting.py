"""Unit tests of the status screen's wording (tui.formatting): pure text in, text out."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tui.formatting import (
    clean,
    format_check,
    format_count,
    format_duration,
    format_lag,
    format_log_line,
    format_nats,
    format_timestamp,
    lag_severity,
    nats_severity,
)
from tui.replies import LogLine, NatsStatus, ProjectionStatus, ReadinessCheck


def nats(state: str = "running", pid: int | None = 4321) -> NatsStatus:
    return NatsStatus(mode="external", state=state, restarts=12345, url="nats://10.0.0.5:4222", pid=pid)


@pytest.mark.parametrize(
    ("raw", "shown"),
    [
        ("plain", "plain"),
        ("tab\tand\nnewline\r", "tab and newline "),
        ("\x1b[31mred", "\ufffd[31mred"),
        ("bell\x07 del\x7f c1\x9b", "bell\ufffd del\ufffd c1\ufffd"),
        ("rtl\u202eoverride\u2066isolate", "rtl\ufffdoverride\ufffdisolate"),
        ("ünïcødé ✔ 日本", "ünïcødé ✔ 日本"),
    ],
)
def test_clean_replaces_control_and_bidi_characters(raw: str, shown: str) -> None:
    """Control, escape and bidi-override characters never reach the terminal; other text is kept."""
    assert clean(raw) == shown


def test_clean_truncates_long_text_with_an_ellipsis() -> None:
    """Text longer than the limit is cut to exactly the limit, ending in an ellipsis."""
    assert clean("x" * 500, 10) == "x" * 9 + "…"
    assert len(clean("y" * 10_000)) == 200
    assert clean("exactly10!", 10) == "exactly10!"


@pytest.mark.parametrize(
    ("seconds", "shown"),
    [
        (0, "0 s"),
        (12.9, "12 s"),
        (187, "3m 07s"),
        (3723.5, "1h 02m 03s"),
        (4 * 86400 + 5 * 3600 + 360, "4d 05h 06m"),
    ],
)
def test_format_duration(seconds: float, shown: str) -> None:
    """Uptime reads as the largest useful units, never as raw seconds above a minute."""
    assert format_duration(seconds) == shown


def test_format_count_groups_thousands() -> None:
    """Counts are grouped by thousands."""
    assert [format_count(n) for n in (0, 999, 1000, 1234567)] == ["0", "999", "1,000", "1,234,567"]


def test_format_nats_shows_state_mode_url_pid_and_restarts() -> None:
    """The NATS lines name state, mode, URL, pid (— when absent) and the restart count."""
    assert format_nats(nats()) == (
        "running · external",
        "url nats://10.0.0.5:4222",
        "pid 4321 · restarts 12,345",
    )
    assert format_nats(nats(pid=None))[2] == "pid — · restarts 12,345"


def test_nats_severity_knows_the_contract_states_and_warns_on_unknown_ones() -> None:
    """running/external are ok, starting/restarting warn, failed is bad, anything new warns."""
    states = ("running", "external", "starting", "restarting", "failed", "hibernating")
    assert [nats_severity(nats(state)) for state in states] == ["ok", "ok", "warn", "warn", "bad", "warn"]


def test_lag_severity_and_figures() -> None:
    """No lag is ok, some lag warns, lag over the threshold or any failed event is bad."""

    def projection(lag: int, failed: int = 0) -> ProjectionStatus:
        return ProjectionStatus(lag=lag, failed_events=failed, lag_threshold=1000)

    assert [lag_severity(projection(n)) for n in (0, 5, 1000, 1001)] == ["ok", "warn", "warn", "bad"]
    assert lag_severity(projection(0, failed=1)) == "bad"
    assert format_lag(projection(1500, failed=2)) == ("lag 1,500 events (threshold 1,000)", "failed events 2")


def test_format_check_marks_pass_and_fail() -> None:
    """A passing check gets ✔, a failing one ✘, each with its cleaned detail."""
    assert format_check(ReadinessCheck(name="nats", ok=True, detail="up")) == "✔ nats: up"
    assert format_check(ReadinessCheck(name="jetstream", ok=False, detail="x\x1by")) == "✘ jetstream: x\ufffdy"


def test_format_log_line_uses_the_lines_own_zone_and_names_the_request() -> None:
    """A log line shows HH:MM:SS in the zone the appliance sent, level, logger, message, request id."""
    zone = timezone(timedelta(hours=2))
    line = LogLine(
        seq=1,
        ts=datetime(2026, 1, 2, 3, 4, 5, tzinfo=zone),
        level="WARNING",
        logger="appliance.api",
        message="slow request",
        request_id="r-1",
    )
    assert format_log_line(line) == "03:04:05 WARNING  appliance.api: slow request (request r-1)"


def test_format_log_line_bounds_the_message() -> None:
    """A huge message is cut, so one line cannot hold megabytes in the log area."""
    line = LogLine(seq=1, ts=datetime(2026, 1, 2, tzinfo=UTC), level="INFO", logger="l", message="m" * 100_000)
    assert len(format_log_line(line)) < 2100


def test_format_timestamp_names_utc_as_z_and_other_zones_by_offset() -> None:
    """UTC is written with Z; other offsets are written out."""
    assert format_timestamp(datetime(2026, 11, 28, 19, 0, tzinfo=UTC)) == "2026-11-28 19:00:00Z"
    east = datetime(2026, 11, 28, 19, 0, tzinfo=timezone(timedelta(hours=5, minutes=30)))
    assert format_timestamp(east) == "2026-11-28 19:00:00+0530"
