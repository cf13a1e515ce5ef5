"""The Litestar app: thin handlers that decode a Struct, call the store once, return a Struct."""

from __future__ import annotations

from litestar import Controller, Litestar, get
from litestar.datastructures import MutableScopeHeaders, State
from litestar.di import NamedDependency
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme
from litestar.response import Redirect
from litestar.types import Message, Scope

from .apidocs import RENDER_PLUGINS
from .domains.identity.access import (
    Access,
)
from .domains.identity.controller import AccessController, LostPhoneController, SignInController
from .domains.inspections.controller import InspectionsController
from .domains.inspections.service import Inspections
from .domains.media.controller import (
    MediaController,
    add_tus_headers,
    media_state,
    start_media,
    stop_media,
)
from .domains.signatures.controller import SignaturesController
from .engine.controller import SyncController
from .http.deps import (
    DEPENDENCIES,
    FieldsyncRequest,
    from_state,
)
from .http.problems import EPOCH_HEADER, EXCEPTION_HANDLERS
from .services import Store
from .settings import Settings
from .transport import body_timeout, proxy_networks

StoreDep = NamedDependency[Store]
AccessDep = NamedDependency[Access]


async def add_epoch_header(message: Message, scope: Scope) -> None:
    """Every response says which database it came from (it changes when one is restored).

    Set per response from the app's own store: a static response header would be
    fixed on the module-level handlers by the first app built in the process.
    """
    if message["type"] == "http.response.start":
        store = scope["app"].state.get("store")
        if store is not None:
            MutableScopeHeaders.from_message(message)[EPOCH_HEADER] = store.server_epoch


@get("/", include_in_schema=False, sync_to_thread=False)
def home() -> Redirect:
    """The API docs, until there is a console to point at."""
    return Redirect("/schema", status_code=302)


# Handlers and controllers, in the order OpenAPI lists their paths.
ROUTES: list[HTTPRouteHandler | type[Controller]] = [
    home, SignInController, SyncController, LostPhoneController,
    InspectionsController, SignaturesController, AccessController, MediaController,
]


def create_app(settings: Settings, store: Store | None = None) -> Litestar:
    store = store or Store(settings)
    return Litestar(
        route_handlers=ROUTES,
        request_class=FieldsyncRequest,
        dependencies={"store": from_state("store")}
        | DEPENDENCIES,
        state=State({"store": store, "inspections": Inspections(store), "access": Access(store),
                     "proxies": proxy_networks(settings.trusted_proxies), **media_state(store, settings)}),
        middleware=[body_timeout(settings)],
        exception_handlers=EXCEPTION_HANDLERS,  # type: ignore[arg-type]
        request_max_body_size=settings.max_body_bytes,
        before_send=[add_epoch_header, add_tus_headers],
        on_startup=[start_media],
        on_shutdown=[stop_media, store.close],
        openapi_config=OpenAPIConfig(
            title="fieldsync",
            version="1.0.0",
            description="Offline-first sync for after-sales service of low-voltage systems. Protocol v1.",
            components=Components(
                security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer")}
            ),
            security=[{"bearer": []}],
            render_plugins=RENDER_PLUGINS,
        ),
    )
