"""`craton projections status|rebuild` on a data dir."""

from __future__ import annotations

from typing import Any

from appliance.readmodel.db import connect, content_digest, migrate
from appliance.readmodel.projector import load_checkpoints
from appliance.readmodel.rebuild import rebuild as rebuild_readmodel
from appliance.runtime.boot import READMODEL_FILE
from appliance.runtime.config import Config
from appliance.runtime.modules import projections
from appliance.runtime.offline import attach


async def status(config: Config) -> dict[str, Any]:
    path = config.data_dir / READMODEL_FILE
    async with attach(
        config.data_dir, exclusive=False, nats_binary=config.nats_binary, nats_url=config.nats_url
    ) as attached:
        infos = await attached.store.streams()
    checkpoints: dict[str, tuple[int, int]] = {}
    failed = 0
    if path.exists():
        db = connect(path, read_only=True)
        try:
            checkpoints = load_checkpoints(db)
            row = db.execute("SELECT count(*) FROM failed_events").fetchone()
            failed = int(row[0]) if row else 0
        finally:
            db.close()
    streams = [
        {
            "stream": info.name,
            "last_sequence": info.last_sequence,
            "checkpoint": checkpoints.get(info.name, (0, 0))[0],
            "events": checkpoints.get(info.name, (0, 0))[1],
            "lag": max(0, info.last_sequence - checkpoints.get(info.name, (0, 0))[0]),
        }
        for info in infos
    ]
    return {"appliance_running": attached.appliance_running, "failed_events": failed, "streams": streams}


async def rebuild(config: Config) -> dict[str, Any]:
    path = config.data_dir / READMODEL_FILE
    async with attach(
        config.data_dir, exclusive=True, nats_binary=config.nats_binary, nats_url=config.nats_url
    ) as attached:
        replayed = await rebuild_readmodel(attached.store, path, projections())
    db = connect(path)
    try:
        migrate(db)
        digest = content_digest(db)
    finally:
        db.close()
    return {"rebuilt": str(path), "commits_replayed": replayed, "content_sha256": digest}


def render(report: dict[str, Any]) -> str:
    if "rebuilt" in report:
        counts = ", ".join(f"{k}: {v}" for k, v in report["commits_replayed"].items()) or "no streams"
        return f"rebuilt {report['rebuilt']} ({counts})\ncontent sha256 {report['content_sha256']}"
    lines = [f"{'stream':44} {'last':>8} {'checkpoint':>10} {'lag':>6} {'events':>8}"]
    for row in report["streams"]:
        lines.append(
            f"{row['stream']:44} {row['last_sequence']:>8} {row['checkpoint']:>10} {row['lag']:>6} {row['events']:>8}"
        )
    lines.append(
        f"failed events: {report['failed_events']}; appliance {'running' if report['appliance_running'] else 'stopped'}"
    )
    return "\n".join(lines)
