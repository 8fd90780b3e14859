"""The Litestar application factory.

`create_app(services, route_handlers)` builds the whole HTTP surface: health and metrics, the
routes each bounded context contributes, problem+json errors, the self-contained OpenAPI page,
and the request observer (ids, metrics) around everything. It must never start servers or
touch the event store itself: the runtime does that.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from litestar import Litestar, Request
from litestar.di import Provide
from litestar.openapi.config import OpenAPIConfig
from litestar.openapi.plugins import JsonRenderPlugin
from litestar.openapi.spec import Components, SecurityScheme

from appliance.api.auth import DEPENDENCIES as AUTH_DEPENDENCIES
from appliance.api.docs_page import SelfContainedDocsPlugin
from appliance.api.health import HealthController
from appliance.api.observe import RequestObserver
from appliance.api.problems import EXCEPTION_HANDLERS
from appliance.api.services import Services
from appliance.kernel.errors import InvalidInput
from appliance.kernel.ids import TypedId
from appliance.kernel.structs import decode_typed_id

REQUEST_BODY_BYTES_MAX = 1_048_576


class BoundedRequest(Request[Any, Any, Any]):
    """A request whose JSON body is refused as `InvalidInput` when nested too deeply to decode
    (msgspec stops at the interpreter's recursion limit), instead of failing as a 500."""

    async def json(self) -> Any:
        try:
            return await super().json()
        except RecursionError:
            raise InvalidInput("the JSON body is nested too deeply") from None


def create_litestar(services: Services, route_handlers: Sequence[Any]) -> Litestar:
    return Litestar(
        route_handlers=[HealthController, *route_handlers],
        dependencies={
            "services": Provide(lambda: services, sync_to_thread=False, use_cache=True),
            **AUTH_DEPENDENCIES,
        },
        exception_handlers=EXCEPTION_HANDLERS,
        request_class=BoundedRequest,
        request_max_body_size=REQUEST_BODY_BYTES_MAX,
        type_decoders=[(lambda t: isinstance(t, type) and issubclass(t, TypedId), decode_typed_id)],
        openapi_config=OpenAPIConfig(
            title="Craton appliance",
            version=services.version,
            description="Control plane of a managed Craton database service, running air-gapped on one machine.",
            path="/schema",
            render_plugins=[SelfContainedDocsPlugin(), JsonRenderPlugin(path="/openapi.json")],
            components=Components(
                security_schemes={
                    "bearer": SecurityScheme(type="http", scheme="bearer", description="Access token or API key")
                }
            ),
        ),
        logging_config=None,
        debug=False,
    )


def create_app(services: Services, route_handlers: Sequence[Any]) -> RequestObserver:
    """The ASGI application to serve: the Litestar app wrapped by the request observer."""
    return RequestObserver(create_litestar(services, route_handlers), services.metrics)
