"""The console's users page at company scale, over HTTP against a real server.

    python bench/users_page.py [--scale 1000] [--data DIR] [--samples 50]

Builds (or reuses, with --data) bench/console.py's data (the demo and N more sites with 20 open
requests each) plus `TECHNICIANS` technicians, each a member of `SITES_EACH` of the new sites (at
--scale 1000: 100 technicians, 1,200 memberships, a company with hundreds of sites), starts
`fieldsync serve`, signs in to the console as the supervisor lin and measures the list
`/console/users`, the list filtered by a name (`?q=`), and one technician's page
`/console/users/{username}` (his sites, add and remove): each page's bytes and its median and p95.
Never asserts a time.
"""

from __future__ import annotations

import sys
import uuid
from pathlib import Path
from typing import Any

import httpx

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from bench._server import ServerProcess
from bench.console import _prepare, console_session
from bench.coverage import _ms, _timed
from bench.service import print_timings, run_main
from server.services import Store
from server.settings import Settings
from sync import schema

TECHNICIANS = 100
SITES_EACH = 12


def _site_id(index: int) -> str:
    """bench/service.py's `build`: its site `index` (seed 0)."""
    return str(uuid.uuid5(uuid.uuid5(schema.NS, "service-bench/0"), f"site/{index}"))


def _technicians(data: Path, scale: int) -> None:
    """`TECHNICIANS` technicians `tech000`…, each a member of `SITES_EACH` of the bench's sites."""
    if (data / ".technicians").exists():
        return
    store = Store(Settings(data_dir=data))
    try:
        for n in range(TECHNICIANS):
            mine = [_site_id((n * SITES_EACH + k) % scale) for k in range(SITES_EACH)]
            store.create_user(f"tech{n:03d}", f"技术员{n:03d}", "technician", "demo", demo=True, sites=mine)
    finally:
        store.close()
    (data / ".technicians").write_text(str(TECHNICIANS))


def run(data: Path, scale: int, samples: int) -> dict[str, Any]:
    _prepare(data, scale)
    _technicians(data, scale)
    results: dict[str, Any] = {}
    server = ServerProcess(data).start()
    try:
        with httpx.Client(base_url=server.url, timeout=120) as page:
            console_session(page)
            calls = {"list": ("/console/users", {}), "filtered": ("/console/users", {"q": "技术员042"}),
                     "user": ("/console/users/tech042", {})}
            for name, (path, params) in calls.items():
                r = page.get(path, params=params)
                results[f"{name}_status"] = r.status_code
                results[f"{name}_bytes"] = len(r.content)
                results[f"{name}_forms"] = r.text.count("<form")
                if r.status_code != 200:
                    continue
                results[f"{name}_ms"] = _ms(_timed([lambda p=path, q=params: page.get(p, params=q)] * samples))
    finally:
        server.stop()
    return results


def main(argv: list[str] | None = None) -> dict[str, Any]:
    args, results = run_main(argv, __doc__, (1000, "more sites, 20 open requests each (issue 14: 1000)"), 50, run)
    print(f"{args.scale} sites and the demo's; {TECHNICIANS} technicians, {SITES_EACH} sites each")
    for name in ("list", "filtered", "user"):
        print(f"{name:9}: HTTP {results[f'{name}_status']}, {results[f'{name}_bytes']:,} bytes,"
              f" {results[f'{name}_forms']} forms")
    print_timings(results, tuple((f"{name:9}", f"{name}_ms", "") for name in ("list", "filtered", "user")
                                 if f"{name}_ms" in results))
    return results


if __name__ == "__main__":
    main()
