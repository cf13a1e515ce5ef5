"""The base of every domain's controller."""

from __future__ import annotations

from litestar import Controller
from litestar.handlers import BaseRouteHandler


class DomainController(Controller):
    """A Litestar controller whose handlers register in the order they are written.

    Litestar sorts a controller's handlers by name. Written order keeps the
    OpenAPI paths in the order the API documents them, and lets a path's own
    OPTIONS handler (tus at `/files`) come before Litestar would give the path
    a default one when it meets another method of that path first.
    """

    def get_route_handlers(self) -> list[BaseRouteHandler]:
        return sorted(super().get_route_handlers(), key=_written_at)


def _written_at(handler: BaseRouteHandler) -> int:
    fn = getattr(handler.fn, "__func__", handler.fn)
    return int(fn.__code__.co_firstlineno)
