"""A sealed sheet rendered ahead (issue 14, "sheet PDF under 1 s"): after the push that seals it commits,
its PDF is rendered in the background (server/domains/sheets/hooks.py, server/engine/after_commit.py),
so the customer's copy is served from memory. Renders are counted (`Rendered.renders`), never timed.
"""

from __future__ import annotations

import hashlib
import logging
import threading
import uuid
from dataclasses import replace
from typing import Any

import pytest

from server.cli import main
from server.domains.sheets import render
from server.engine.after_commit import AfterCommit
from server.services import Store
from server.settings import Settings
from tests.conftest import Session
from tests.server import test_sealing as sealing
from tests.server.test_sheet_pdf import _poppler
from tests.server.test_sheet_pdf import demo as demo  # the demo's database, served (a fixture)

PUBLIC = "https://service.example.cn"
WAIT = 300.0  # seconds at most for the background worker on a loaded machine (a bound, not a figure)


@pytest.fixture
def settings(tmp_path):
    return Settings(data_dir=tmp_path / "server", public_url=PUBLIC)


def _seal(session: Session, site: dict[str, str]) -> tuple[str, Any]:
    """Both cameras checked and the customer's signature over them, in one push: the sheet is sealed."""
    insp = site["inspection"]
    c1 = sealing._check(session, insp, site["cam1"], "wang", note="镜头起雾")
    c2 = sealing._check(session, insp, site["cam2"], "wang")
    sig_id, sig = sealing._signature(session, insp, sealing._sheet(insp, c1, c2))
    return sig_id, session.push([c1, c2, sig])


def _idle(store: Store) -> None:
    assert store.after_commit.idle(WAIT), "the background worker did not finish"


@pytest.mark.one_sqlite_server("counts the renders in one process's sheet cache")
def test_a_seal_renders_the_sheet_once_in_the_background_and_the_customers_copy_is_served(
        site, store, http, wang, lin, tmp_path):
    rendered = http.app.state.sheets.rendered
    sig_id, resp = _seal(wang, site)
    assert sealing._results(resp) == [("applied", None)] * 3
    _idle(store)
    assert rendered.renders == 1
    # The technician's copy for the customer, the supervisor's, and the console's: all the one render.
    url = f"/api/inspections/{site['inspection']}/sheet.pdf"
    first = wang.http.get(url, headers=wang.headers)
    assert first.status_code == 200 and first.content.startswith(b"%PDF-")
    assert http.get(url, headers=lin.headers).content == first.content
    # The QR code's URL is the server's setting, not the Host a request names (which a client sends).
    assert http.get(url, headers={**lin.headers, "Host": "attacker.example"}).content == first.content
    assert rendered.renders == 1
    path = tmp_path / "sealed.pdf"
    path.write_bytes(first.content)
    assert f"{PUBLIC}/api/signatures/{sig_id}" in "".join(_poppler("pdftotext", str(path), "-").split())
    # The technician's signature after the seal is a new sheet (it lists every signature), but seals
    # nothing: rendered on request, as before.
    _, own = sealing._signature(wang, site["inspection"], b"{}", role="technician", name="王工")
    assert sealing._results(wang.push([own])) == [("applied", None)]
    _idle(store)
    assert rendered.renders == 1
    assert http.get(url, headers=lin.headers).status_code == 200
    assert rendered.renders == 2


def test_a_visits_sealed_sheet_rendered_ahead_is_the_one_served(demo):
    # A contact sheet prints its request's milestones: one whose milestones are all done prints the
    # same whenever it is asked for (an open one's time left changes by the minute: rendered again).
    lin = Session(demo, "lin")
    found = []
    for summary in demo.get("/api/service-requests", headers=lin.headers, params={"limit": 200}).json()["requests"]:
        detail = demo.get(f"/api/service-requests/{summary['id']}", headers=lin.headers).json()
        if all(m.get("done_at") for m in detail["milestones"]):
            found += [v["id"] for v in detail["visits"] if v.get("sealed_by")]
    assert found
    sheets = demo.app.state.sheets
    sheets.ahead("visit", found[0])  # what the hook registers for after the commit
    assert sheets.rendered.renders == 1
    r = demo.get(f"/api/visits/{found[0]}/sheet.pdf", headers=lin.headers)
    assert r.status_code == 200 and sheets.rendered.renders == 1


@pytest.mark.one_sqlite_server("counts the renders in one process's sheet cache")
def test_a_rolled_back_write_renders_nothing_and_the_committed_one_renders(site, store, http, wang):
    # A customer's seal written in a transaction that then fails: nothing is handed to the worker.
    rendered = http.app.state.sheets.rendered
    insp = site["inspection"]
    c1 = sealing._check(wang, insp, site["cam1"], "wang")
    c2 = sealing._check(wang, insp, site["cam2"], "wang")
    assert sealing._results(wang.push([c1, c2])) == [("applied", None)] * 2
    sha = hashlib.sha256(sealing._sheet(insp, c1, c2)).hexdigest()
    seal = [("signatures", str(uuid.uuid4()), {"inspection_id": insp, "signer_name": "陈女士",
                                               "signer_role": "customer", "signed_at": sealing.AT,
                                               "sheet_sha256": sha}, False)]

    def fail(db: Any) -> None:
        raise RuntimeError("the transaction fails after the seal was staged")

    with pytest.raises(RuntimeError):
        store.write_server_changes(seal, then=fail)
    _idle(store)
    assert rendered.renders == 0
    store.write_server_changes(seal)  # the same seal, committed
    _idle(store)
    assert rendered.renders == 1


@pytest.mark.one_sqlite_server("counts the renders in one process's sheet cache")
def test_a_failing_render_does_not_touch_the_push_and_the_request_renders(
        site, store, http, wang, lin, monkeypatch, caplog):
    # Every render slot held: the background render cannot start (429 inside the worker).
    rendered = http.app.state.sheets.rendered
    monkeypatch.setattr(render, "RENDER_WAIT_SECONDS", 0.0)
    held = [render._renders.acquire(timeout=5) for _ in range(render.MAX_RENDERS)]
    try:
        assert all(held)
        with caplog.at_level(logging.ERROR, logger="server.engine.after_commit"):
            _, resp = _seal(wang, site)
            _idle(store)
    finally:
        for _ in held:
            render._renders.release()
    assert sealing._results(resp) == [("applied", None)] * 3  # the push is answered as ever
    assert store.after_commit.failed == 1 and rendered.renders == 0
    assert "after-commit work sheet/inspection/" in caplog.text
    assert sealing._rows(lin)[("inspections", site["inspection"])]["status"] == "signed"
    r = http.get(f"/api/inspections/{site['inspection']}/sheet.pdf", headers=lin.headers)
    assert r.status_code == 200 and rendered.renders == 1  # the request renders it instead


def test_the_worker_is_bounded_and_a_burst_collapses():
    # A burst of seals never holds more than `max_pending` renders waiting, and a sheet sealed again
    # while its render waits is rendered once.
    later = AfterCommit(max_pending=4)
    ran: list[str] = []

    def burst(work: dict[str, Any]) -> None:
        """Submit `work` while the worker is busy with something else, then let it run."""
        gate, started = threading.Event(), threading.Event()
        later.submit({"busy": lambda: (started.set(), gate.wait(WAIT))})
        assert started.wait(WAIT)
        try:
            for key, job in work.items():
                later.submit({key.split("#")[0]: job})
        finally:
            gate.set()
        assert later.idle(WAIT)

    try:
        burst({f"sheet/a#{n}": lambda n=n: ran.append(f"a{n}") for n in range(3)})  # one sheet sealed 3 times
        assert ran == ["a2"] and later.dropped == 0
        burst({f"sheet/{n}": lambda n=n: ran.append(str(n)) for n in range(10)})  # ten sheets: 4 kept
        assert ran[1:] == ["6", "7", "8", "9"] and later.dropped == 6
        later.submit({"boom": lambda: 1 // 0})  # a failure is counted, and the worker goes on
        later.submit({"after": lambda: ran.append("after")})
        assert later.idle(WAIT) and later.failed == 1 and ran[-1] == "after"
    finally:
        later.close()
    later.submit({"closed": lambda: ran.append("closed")})  # closed: nothing more is queued
    assert later.idle(WAIT) and "closed" not in ran


@pytest.mark.parametrize("url", ["ftp://x", "http://a b", "https://x/?q=1", "http://x/#f", "https://" + "x" * 200])
def test_a_public_url_that_is_not_one_is_refused(url, tmp_path, capsys):
    with pytest.raises(ValueError):
        replace(Settings(data_dir=tmp_path), public_url=url)
    with pytest.raises(SystemExit) as exited:
        main(["serve", "--data", str(tmp_path), "--public-url", url])
    assert exited.value.code == 2 and "--public-url" in capsys.readouterr().err


def test_an_app_built_again_over_the_same_store_replaces_its_sheet_hook(site, store, settings, wang):
    # Regression (issue 14, t14-ahead's note): each create_app over one store added another sheets
    # hook, so a seal registered its render once per app ever built over the store.
    from server.app import create_app
    from server.domains.sheets.hooks import SheetHooks

    create_app(settings, store)
    create_app(settings, store)
    kinds = [type(h) for h in store.hooks.for_collection("signatures")]
    assert kinds.count(SheetHooks) == 1 and len(kinds) == len(set(kinds))
