"""The office console's words (server/domains/console): Chinese first, English beside it, one module per
area of pages. A stored value's words (an outcome, a system, a milestone) come from `values`, not from here.
The areas share one table per language (a template's `t`): a key is defined once across them (a test checks).
"""

from __future__ import annotations

from . import archive, common, desk, members, office, site

AREAS = (common, site, desk, office, archive, members)
ZH: dict[str, str] = {k: v for area in AREAS for k, v in area.ZH.items()}
EN: dict[str, str] = {k: v for area in AREAS for k, v in area.EN.items()}
