"""Liveness, readiness and metrics endpoints.

`/livez` answers as long as the process serves HTTP. `/readyz` is 200 only when NATS is connected,
JetStream accepted a write just now, no projection has failed on an event, and projection lag is
under the threshold; `?verbose` names each check. `/metrics` is the Prometheus text format.
"""

from __future__ import annotations

import asyncio
from typing import Any

from litestar import Controller, Response, get
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import Parameter

from appliance.api.services import Services
from appliance.kernel.structs import Struct

JETSTREAM_PROBE_TIMEOUT_S = 2.0


class Check(Struct, frozen=True):
    name: str
    ok: bool
    detail: str


class Readiness(Struct, frozen=True, omit_defaults=True):
    status: str
    checks: list[Check] | None = None


class Liveness(Struct, frozen=True):
    status: str


async def readiness_checks(services: Services) -> list[Check]:
    nats_ok = services.nats.connected()
    checks = [Check(name="nats", ok=nats_ok, detail=f"{services.nats.state()} ({services.nats.url})")]
    if nats_ok:
        try:
            await asyncio.wait_for(services.probe_writable(), JETSTREAM_PROBE_TIMEOUT_S)
            checks.append(Check(name="jetstream", ok=True, detail="accepted a write"))
        except Exception as error:
            checks.append(Check(name="jetstream", ok=False, detail=f"write failed: {type(error).__name__}"))
    else:
        checks.append(Check(name="jetstream", ok=False, detail="not connected"))
    lag = sum(services.projector.lag_by_stream().values())
    failed = services.projector.failed_events()
    lag_ok = lag <= services.projection_lag_threshold
    checks.append(
        Check(
            name="projection_lag",
            ok=lag_ok,
            detail=f"{lag} commits behind (limit {services.projection_lag_threshold})",
        )
    )
    checks.append(Check(name="projection_failures", ok=failed == 0, detail=f"{failed} failed events"))
    return checks


class HealthController(Controller):
    tags = ("operations",)

    @get("/livez", operation_id="livez", summary="Liveness", sync_to_thread=False)
    def livez(self) -> Liveness:
        return Liveness(status="alive")

    @get(
        "/readyz",
        operation_id="readyz",
        summary="Readiness: 200 when ready, 503 with the failing checks otherwise",
        responses={503: ResponseSpec(data_container=Readiness, description="Not ready; `checks` says why")},
    )
    async def readyz(
        self, services: NamedDependency[Services], verbose: str | None = Parameter(default=None, required=False)
    ) -> Response[Readiness]:
        checks = await readiness_checks(services)
        ready = all(c.ok for c in checks)
        body = Readiness(status="ready" if ready else "not_ready", checks=checks if verbose is not None else None)
        return Response(content=body, status_code=200 if ready else 503)

    @get(
        "/metrics",
        operation_id="metrics",
        summary="Prometheus metrics",
        media_type="text/plain; version=0.0.4",
        sync_to_thread=False,
    )
    def metrics(self, services: NamedDependency[Services]) -> Response[Any]:
        return Response(content=services.metrics.render(), media_type="text/plain; version=0.0.4")
