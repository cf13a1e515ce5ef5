"""`GET /api/sites`: the sites a caller may see, by name, in bounded pages (s27-ops6, item 4)."""

from __future__ import annotations

import uuid
from typing import Any

import pytest

from tests.conftest import OTHER_SITE, SITE, Session
from tests.helpers import ok, problem

NAMES = ["东湖小学", "Anting depot", "Binhai hotel", "Caoyang clinic", "Dongfang plaza"]


@pytest.fixture
def sites(store: Any) -> dict[str, str]:
    """Seven sites by name: wang's (SITE), zhao's (OTHER_SITE), and five of nobody's."""
    named = {"Test park": SITE, "Other park": OTHER_SITE,
             **{name: str(uuid.uuid5(uuid.NAMESPACE_URL, f"site-list/{name}")) for name in NAMES}}
    store.write_server_changes([("sites", site_id, {"name": name, "customer": "ACME", "tz": "Asia/Shanghai",
                                                    "contract": "annual"}, False)
                                for name, site_id in named.items()])
    return named


def _listed(session: Session, **params: Any) -> dict[str, Any]:
    return ok(session.http.get("/api/sites", headers=session.headers, params=params))


def test_each_caller_lists_the_sites_they_may_see_by_name(sites, lin, chen, wang, zhao):
    # Regression (s27-ops6, item 4): `GET /api/sites` was 405; a supervisor or the desk with curl had no list of
    # the sites, nor a technician of his own. The console's order (by name), each with its customer archive.
    everyone = sorted(sites.items())
    for session in (lin, chen):
        page = _listed(session)
        assert [(s["name"], s["id"]) for s in page["sites"]] == everyone and page["next"] is None
    page = _listed(wang)
    assert [(s["id"], s["name"], s["customer"], s["contract"]) for s in page["sites"]] == [
        (SITE, "Test park", "ACME", "annual")]
    assert [s["id"] for s in _listed(zhao)["sites"]] == [OTHER_SITE]
    assert lin.http.get("/api/sites").status_code == 401


def test_pages_follow_next_to_the_end_each_site_once(sites, lin):
    seen: list[str] = []
    after = None
    pages = 0
    while True:
        page = _listed(lin, limit=3, **({"after": after} if after else {}))
        assert len(page["sites"]) <= 3
        seen += [s["id"] for s in page["sites"]]
        pages += 1
        after = page["next"]
        if after is None:
            break
    assert pages == 3 and seen == [site_id for _, site_id in sorted(sites.items())]
    last = _listed(lin, limit=7)
    assert len(last["sites"]) == 7 and last["next"] is None


@pytest.mark.parametrize(("params", "code"), [
    ({"limit": 0}, "invalid_request"),
    ({"limit": 501}, "invalid_request"),
    ({"limit": "ten"}, "invalid_request"),
    ({"after": str(uuid.uuid4())}, "invalid_cursor"),
    ({"after": "x" * 4000}, "invalid_cursor"),
    ({"after": OTHER_SITE}, "invalid_cursor"),  # zhao's site: a cursor tells wang nothing of it
])
def test_a_bad_limit_or_cursor_is_a_400_naming_it(sites, wang, params, code):
    body = problem(wang.http.get("/api/sites", headers=wang.headers, params=params), 400, code)
    assert OTHER_SITE not in body["detail"]
