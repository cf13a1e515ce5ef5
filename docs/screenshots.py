"""Take the console's screenshots in docs/img/ from a fresh demo: `python docs/screenshots.py`.

A person looks at these to know what the console is before running it; run this again when a page
changes. It starts the demo server, lets wang's phone record the first 90 cameras (a few faults and
one room he could not enter) as the README's technician does, signs in through the form in Debian's
chromium (the browser the console tests use), and photographs the dashboard and the reference site's
page, the users list and wang's page (his sites), at a desk's width and at a phone's (390 px).
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
from pathlib import Path

import httpx
from playwright.sync_api import sync_playwright

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from bench._server import ServerProcess  # noqa: E402
from client_sdk import Client  # noqa: E402
from sync.collections.inspections import inspection_id  # noqa: E402
from sync.periods import period_of, site_today  # noqa: E402

OUT = ROOT / "docs" / "img"
REF = json.loads((ROOT / "fixtures" / "reference_site.json").read_text(encoding="utf-8"))["site"]["id"]
PAGES = {"console-dashboard": ("/console/", 0), "console-site": (f"/console/sites/{REF}", 1500),
         "console-users": ("/console/users", 0), "console-user": ("/console/users/wang", 0)}
VIEWPORTS = {"": (1280, 900), "-phone": (390, 844)}
FAULTS = {7: "IR LEDs dead, image black at night", 23: "Image blurred: lens fogged", 61: "No video: PoE port down"}


def wang_checks_cameras(server: ServerProcess, where: Path) -> None:
    """The technician's morning: cameras 1 to 90, through the phone's own SDK and a sync."""
    with httpx.Client(base_url=server.url) as http:
        phone = Client(where / "wang.db", http)
        phone.login("wang", "demo")
        phone.sync()
        inspection = inspection_id(REF, period_of(site_today("Asia/Shanghai")))
        cameras = {d["fields"].get("code"): d["id"] for d in phone.rows("devices")}
        for n in range(1, 91):
            outcome, note = ("fault", FAULTS[n]) if n in FAULTS else (
                ("not_accessible", "Plant room locked") if n == 88 else ("serviced", None))
            phone.record_check(inspection, cameras[f"CAM-{n:03d}"], outcome, note=note)
        phone.sync()
        phone.db.conn.close()


def main() -> None:
    OUT.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "data"
        subprocess.run([sys.executable, "-m", "server.cli", "init", "--data", str(data), "--demo"],
                       check=True, capture_output=True, cwd=ROOT)
        server = ServerProcess(data).start()
        try:
            wang_checks_cameras(server, Path(tmp))
            with sync_playwright() as p:
                browser = p.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
                for suffix, (width, height) in VIEWPORTS.items():
                    context = browser.new_context(base_url=server.url, viewport={"width": width, "height": height})
                    page = context.new_page()
                    page.goto("/console/login")
                    page.fill("input[name=username]", "lin")
                    page.fill("input[name=password]", "demo")
                    page.click("button[type=submit]")
                    page.wait_for_url("**/console/")
                    for name, (path, taller) in PAGES.items():
                        page.goto(path)
                        target = OUT / f"{name}{suffix}.png"
                        clip = {"x": 0, "y": 0, "width": width, "height": height + (taller if not suffix else 0)}
                        page.screenshot(path=str(target), full_page=True, clip=clip)
                        print(target.relative_to(ROOT))
                    context.close()
                browser.close()
        finally:
            server.stop()


if __name__ == "__main__":
    main()
