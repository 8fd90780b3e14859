"""HTTP surface of the instance: `GET/PATCH /api/v1/instance` and `GET /api/v1/instance/logs`.

Until the first owner exists the holder of the setup token administers the instance (it is the
only credential there is). Once the token is spent (the first owner signed up), only a signed-in
instance administrator may change the instance: its name and the signup mode (`invite_only` or
`open`), which the identity context's signup reads from this aggregate.
"""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from litestar import Controller, Request, get, patch
from litestar.di import NamedDependency
from litestar.openapi.datastructures import ResponseSpec
from litestar.params import JSONBody, QueryParameter

from appliance.api.auth import bearer_credential, require_instance_admin, resolve
from appliance.api.problems import PROBLEM_JSON
from appliance.api.services import Services
from appliance.instance.domain import ChangeSignupMode, InstanceCommand, RenameInstance, SignupMode
from appliance.instance.service import check_setup_token, execute, load_instance
from appliance.kernel.errors import InvalidInput, Unauthenticated
from appliance.kernel.structs import Struct

LOG_LINES_MAX = 500


class NatsView(Struct, frozen=True):
    mode: str
    state: str
    restarts: int
    url: str
    pid: int | None


class StreamView(Struct, frozen=True):
    name: str
    last_sequence: int
    messages: int
    events: int


class ProjectionView(Struct, frozen=True):
    lag: int
    lag_by_stream: dict[str, int]
    failed_events: int
    lag_threshold: int


class InstanceView(Struct, frozen=True):
    instance_id: str
    name: str
    version: str
    started_at: datetime
    uptime_s: float
    http_address: str
    setup_pending: bool
    signup_mode: str
    nats: NatsView
    streams: list[StreamView]
    projection: ProjectionView


class InstanceChange(Struct, frozen=True):
    name: str | None = None
    signup_mode: SignupMode | None = None


class LogLineView(Struct, frozen=True):
    seq: int
    ts: str
    level: str
    logger: str
    message: str
    request_id: str | None


class LogsView(Struct, frozen=True):
    lines: list[LogLineView]
    next: int


def _problem(description: str) -> ResponseSpec:
    return ResponseSpec(data_container=dict[str, Any], description=description, media_type=PROBLEM_JSON)


def bearer_token(request: Request[Any, Any, Any]) -> str:
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise Unauthenticated("send `Authorization: Bearer <token>`")
    return token.strip()


async def instance_view(services: Services) -> InstanceView:
    loaded = await load_instance(services.store)
    state = loaded.state
    infos = await services.store.streams()
    checkpoints = services.projector.checkpoints()
    lag = services.projector.lag_by_stream()
    now = services.clock.now()
    return InstanceView(
        instance_id=str(state.instance_id or ""),
        name=state.name,
        version=services.version,
        started_at=services.started_at,
        uptime_s=round((now - services.started_at).total_seconds(), 3),
        http_address=services.http_address,
        setup_pending=not state.setup_spent,
        signup_mode=state.signup_mode.value,
        nats=NatsView(
            mode=services.nats.mode,
            state=services.nats.state(),
            restarts=services.nats.restarts(),
            url=services.nats.url,
            pid=services.nats.pid(),
        ),
        streams=[
            StreamView(
                name=i.name,
                last_sequence=i.last_sequence,
                messages=i.messages,
                events=checkpoints.get(i.name, (0, 0))[1],
            )
            for i in infos
        ],
        projection=ProjectionView(
            lag=sum(lag.values()),
            lag_by_stream=lag,
            failed_events=services.projector.failed_events(),
            lag_threshold=services.projection_lag_threshold,
        ),
    )


class InstanceController(Controller):
    path = "/api/v1/instance"
    tags = ("instance",)

    @get(
        operation_id="getInstance",
        summary="This appliance: name, version, uptime, streams, projection lag",
        responses={503: _problem("NATS unavailable")},
    )
    async def get_instance(self, services: NamedDependency[Services]) -> InstanceView:
        return await instance_view(services)

    @patch(
        operation_id="changeInstance",
        summary="Rename the instance or change its signup mode (setup-token holder until the first owner "
        "exists, then instance administrators)",
        responses={
            400: _problem("Invalid name or signup mode, or nothing to change"),
            401: _problem("Missing or wrong credential"),
            403: _problem("Not an instance administrator"),
            409: _problem("Concurrent change"),
            503: _problem("NATS unavailable"),
        },
    )
    async def change(
        self, request: Request[Any, Any, Any], services: NamedDependency[Services], data: JSONBody[InstanceChange]
    ) -> InstanceView:
        commands: list[InstanceCommand] = []
        if data.name is not None:
            commands.append(RenameInstance(name=data.name))
        if data.signup_mode is not None:
            commands.append(ChangeSignupMode(signup_mode=data.signup_mode))
        if not commands:
            raise InvalidInput("send name or signup_mode to change")
        actor = await _administrator(request, services)
        for command in commands:
            outcome = await execute(services.store, command, actor=actor, ids=services.ids, clock=services.clock)
            if outcome.append is not None:
                await services.projector.wait_for(outcome.append.stream, outcome.append.sequence)
        return await instance_view(services)

    @get(
        "/logs",
        operation_id="getInstanceLogs",
        summary="Recent log lines of this appliance, oldest first",
        responses={400: _problem("Bad paging parameters")},
        sync_to_thread=False,
    )
    def logs(
        self,
        services: NamedDependency[Services],
        after: Annotated[int, QueryParameter(ge=0, description="return lines with seq greater than this")] = 0,
        limit: Annotated[int, QueryParameter(ge=1, le=LOG_LINES_MAX)] = 100,
    ) -> LogsView:
        if limit > LOG_LINES_MAX:
            raise InvalidInput(f"limit must be at most {LOG_LINES_MAX}", field="limit")
        lines = services.logs.after(after, limit)
        return LogsView(
            lines=[
                LogLineView(
                    seq=line.seq,
                    ts=line.ts,
                    level=line.level,
                    logger=line.logger,
                    message=line.message,
                    request_id=line.request_id,
                )
                for line in lines
            ],
            next=lines[-1].seq if lines else after,
        )


async def _administrator(request: Request[Any, Any, Any], services: Services) -> str:
    """Who may change the instance now: the setup token's holder before the first owner, then an
    instance administrator. Returns the actor label for the events."""
    state = (await load_instance(services.store)).state
    if not state.setup_spent:
        check_setup_token(state, bearer_token(request))
        return "setup-token"
    credential = bearer_credential(request)
    if credential is None:
        raise Unauthenticated("send `Authorization: Bearer <access token>` of an instance administrator")
    principal = await resolve(services, credential)
    require_instance_admin(principal)
    return f"user:{principal.user_id}"
