"""The site pages in chromium (issue 14, console-site): what only a browser shows. Content, scope and
escaping are tested in-process in tests/server/test_console_site.py."""

from __future__ import annotations

import io
import tempfile
from pathlib import Path

import httpx
from PIL import Image

from client_sdk import Client
from sync.periods import period_of, site_today
from sync.schema import inspection_id

from .conftest import REF


def test_a_device_page_fits_a_phone_and_its_photo_loads_through_the_session(context_for, demo_server):
    # A technician's photo of a camera, through the SDK as a phone sends it.
    insp = inspection_id(REF, period_of(site_today("Asia/Shanghai")))
    with tempfile.TemporaryDirectory() as where, httpx.Client(base_url=demo_server.url) as http:
        picture = Path(where) / "cam.jpg"
        out = io.BytesIO()
        Image.new("RGB", (1200, 900), (30, 120, 200)).save(out, "JPEG")
        picture.write_bytes(out.getvalue())
        phone = Client(Path(where) / "phone.db", http)
        phone.login("wang", "demo")
        phone.sync()
        device = next(d for d in phone.rows("devices") if d["fields"].get("code") == "CAM-002"
                      and d["fields"].get("site_id") == REF)  # the archive test gives wang another CAM-002
        phone.record_check(insp, device["id"], "serviced", note="镜头清洁完毕")
        phone.add_photo(insp, device["id"], picture, caption="机柜")
        phone.sync()
        phone.db.conn.close()
    page = context_for("lin", viewport={"width": 390, "height": 844}).new_page()
    # The site page's search opens the device with that code.
    page.goto(f"/console/sites/{REF}?code=cam-002")
    assert page.url.endswith(f"/devices/{device['id']}")
    assert "CAM-002" in page.locator("h1").inner_text()
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
    # The thumbnail is fetched with the session's cookie (the API's route takes a bearer token only),
    # within the page's Content-Security-Policy (img-src 'self'): it loads.
    img = page.locator(".photos img").first
    img.wait_for()
    assert page.wait_for_function("img => img.complete && img.naturalWidth > 0", arg=img.element_handle())
    # The inspection's sheet fits too, and links the device back.
    page.goto(f"/console/inspections/{insp}")
    assert page.evaluate("document.scrollingElement.scrollWidth") <= 390
    assert page.locator(f"a[href='/console/sites/{REF}/devices/{device['id']}']").count() == 1
