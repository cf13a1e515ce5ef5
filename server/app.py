"""The Litestar app: `create_app` assembles each domain's controller, the services they are
given, the middleware, the problem mapper and the OpenAPI description. No handler lives here."""

from __future__ import annotations

from litestar import Controller, Litestar
from litestar.datastructures import State
from litestar.exceptions import HTTPException
from litestar.handlers import HTTPRouteHandler
from litestar.openapi import OpenAPIConfig
from litestar.openapi.spec import Components, SecurityScheme

from .apidocs import RENDER_PLUGINS, home, schema_router
from .domains.archive.controller import ArchiveController
from .domains.archive.service import Archive
from .domains.billing.controller import BillingController
from .domains.billing.service import Billing
from .domains.callbacks.controller import ReportsController
from .domains.callbacks.service import TechnicianReports
from .domains.console.archive import ArchiveConsole
from .domains.console.controller import ConsoleController, favicon
from .domains.console.desk import DeskController
from .domains.console.members import MembersController
from .domains.console.office import OfficeController
from .domains.console.site import SiteController as ConsoleSiteController
from .domains.console.web import on_http_error_page, template_config
from .domains.duty.controller import DutyController
from .domains.duty.service import Duty
from .domains.identity.access import Access
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
from .domains.service.controller import FaultsController, RequestsController, ServiceTermsController
from .domains.service.office import ServiceOffice
from .domains.service.recount import recount_if_terms_changed
from .domains.service.service import ServiceRequests
from .domains.sheets.controller import SheetsController
from .domains.sheets.hooks import SheetHooks
from .domains.sheets.service import Sheets
from .domains.signatures.controller import SignaturesController
from .engine.controller import SyncController
from .http.deps import DEPENDENCIES, FieldsyncRequest, from_state, refuse_unstorable
from .http.info import ServerInfo, add_epoch_header
from .http.problems import EXCEPTION_HANDLERS, allow_every_method
from .services import Store
from .settings import Settings
from .transport import body_timeout, proxy_networks

# Controllers, in the order OpenAPI lists their paths.
ROUTES: list[HTTPRouteHandler | type[Controller]] = [
    home, favicon, SignInController, SyncController, LostPhoneController,
    InspectionsController, SignaturesController, AccessController, MediaController,
    RequestsController,
    ServiceTermsController,
    ReportsController,
    DutyController,
    BillingController,
    FaultsController,
    ConsoleController,
    DeskController,
    OfficeController,
    MembersController,
    SheetsController,
    ArchiveController,
    ConsoleSiteController,
    ArchiveConsole,
]


def create_app(settings: Settings, store: Store | None = None) -> Litestar:
    return Litestar(
        route_handlers=ROUTES,
        request_class=FieldsyncRequest,
        dependencies={"store": from_state("store")} | DEPENDENCIES,
        state=app_state(settings, store or Store(settings)),
        middleware=[body_timeout(settings), refuse_unstorable],
        # On a console path Litestar's own refusals are the console's page (domains/console/web.py).
        exception_handlers={**EXCEPTION_HANDLERS, HTTPException: on_http_error_page},  # type: ignore[dict-item]
        template_config=template_config(),
        # Not Litestar's: its default config put its own handler on the root logger, in place of serve's
        # bounded one (server/logs.py), and a 500's traceback went out unescaped.
        logging_config=None,
        request_max_body_size=settings.max_body_bytes,
        before_send=[add_epoch_header, allow_every_method, add_tus_headers],
        on_startup=[start_media],
        on_shutdown=[stop_media, close_store],
        openapi_config=OpenAPIConfig(
            title="fieldsync",
            version="1.0.0",
            description="Offline-first sync for after-sales service of low-voltage systems. Protocol v1.",
            components=Components(
                security_schemes={"bearer": SecurityScheme(type="http", scheme="bearer")}
            ),
            security=[{"bearer": []}],
            render_plugins=RENDER_PLUGINS,
            openapi_router=schema_router(),
        ),
    )


def app_state(settings: Settings, store: Store) -> State:
    """Everything an app holds of its `store`: the services over it, the server's epoch and the
    settings' values the handlers read. Nothing else in the app is the store's, so the tests give an
    app built once the state over another test's store (tests/servers.py)."""
    inspections, billing, requests = Inspections(store), Billing(store), ServiceRequests(store)
    info = ServerInfo(epoch=store.server_epoch, max_body_bytes=settings.max_body_bytes,
                      max_detail_chars=settings.max_detail_chars)
    sheets = Sheets(store, inspections, billing, requests)
    recount_if_terms_changed(store)  # the terms file was edited (next year's holidays): the list's clocks follow
    store.hooks.add(SheetHooks(sheets))  # a sealed sheet rendered after its push commits
    return State({"store": store, "inspections": inspections, "access": Access(store),
                  "service_requests": requests,
                  "office": ServiceOffice(store),
                  "technician_reports": TechnicianReports(store),
                  "duty": Duty(store),
                  "billing": billing,
                  "sheets": sheets,
                  "archive": Archive(store),
                  "proxies": proxy_networks(settings.trusted_proxies), **info.state(),
                  **media_state(store, settings)})


def close_store(app: Litestar) -> None:
    """At shutdown, after the media's work has stopped: the app's store closes."""
    app.state.store.close()
