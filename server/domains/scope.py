"""The one scope predicate: is a site among the caller's? Guards and services both ask it."""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .identity.service import Caller


def in_scope(caller: Caller, site_id: str | None) -> bool:
    """Whether a site is among the caller's (supervisors: every site)."""
    return caller.sites is None or site_id in caller.sites
