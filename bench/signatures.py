"""How long verifying signatures holds the writer lock (issue 9, finding 3).

    python bench/signatures.py [--devices 2000] [--signatures 20] [--junk 0]

In process, on a real database under a temporary directory: a site of
`--devices` devices, each checked with ten items and a 200-character note,
and the canonical sheet of all of them stored as a blob (the largest sheet
this server takes is 2 MiB; 2,000 such checks are about 1.5 MiB). Then one
push of `--signatures` technician signatures naming that sheet, twice: by a
freshly started server (nothing parsed yet) and again. The writer lock is
timed around every hold; prints the longest hold and the hold per signature.

`--junk N` names a sheet of N made-up checks instead (the attack: 70,000 is
7.5 MB). This server refuses such a sheet at upload; the bench stores it
directly, to show what the code under test would do with one.

Run it against another checkout (the code before the fix) with
`FIELDSYNC_CODE=/path/to/checkout python bench/signatures.py`.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import threading
import time
import uuid
from pathlib import Path
from typing import Any

sys.path.insert(0, os.environ.get("FIELDSYNC_CODE") or str(Path(__file__).resolve().parent.parent))

from server.services import Store
from server.settings import Settings
from sync import hlc, sheet
from sync.schema import device_check_id, inspection_id
from sync.wire import Change, PushRequest, TokenRequest

SITE = str(uuid.uuid5(uuid.NAMESPACE_URL, "bench-signatures-site"))
AT = "2026-11-20T10:15:00.000Z"


class TimedLock:
    """The store's writer lock, recording how long each hold lasted."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.holds: list[float] = []
        self._since = 0.0

    def __enter__(self) -> None:
        self._lock.acquire()
        self._since = time.perf_counter()

    def __exit__(self, *exc: Any) -> None:
        self.holds.append(time.perf_counter() - self._since)
        self._lock.release()


def prepare(data: Path, devices: int, junk: int) -> tuple[str, str, int]:
    """The site, its checks and the sheet blob; returns (inspection id, sheet hash, sheet bytes)."""
    store = Store(Settings(data_dir=data))
    store.create_user("wang", "Wang", "technician", "bench", demo=True)
    store.add_member(SITE, "wang")
    insp = inspection_id(SITE, "2026-Q4")
    ids = [str(uuid.uuid5(uuid.NAMESPACE_URL, f"bench-device-{i}")) for i in range(devices)]
    rows: list[tuple[str, str, dict[str, Any], bool | None]] = [
        ("sites", SITE, {"name": "Bench park"}, False),
        ("inspections", insp, {"site_id": SITE, "period": "2026-Q4"}, False),
    ]
    rows += [("devices", d, {"site_id": SITE, "kind": "dome_camera", "code": f"CAM-{i:04d}"}, False)
             for i, d in enumerate(ids)]
    checks = {d: {"outcome": "fault", "note": f"镜头起雾 {i} " + "x" * 190, "checked_by": "wang", "checked_at": AT,
                  **{f"item.item_{k}": k for k in range(10)}} for i, d in enumerate(ids)}
    rows += [("device_checks", device_check_id(insp, d), {"inspection_id": insp, "device_id": d, **f}, False)
             for d, f in checks.items()]
    store.write_server_changes(rows)
    if junk:
        checks = {str(uuid.uuid5(uuid.NAMESPACE_URL, f"junk-{i}")): {"outcome": "serviced", "item.made_up": i}
                  for i in range(junk)}
    data_bytes = sheet.sheet_bytes(insp, checks)
    sha = sheet.sha256_hex(data_bytes)
    part = data / "sheet.part"
    part.write_bytes(data_bytes)
    store.blobs.put(sha, part)
    store.close()
    return insp, sha, len(data_bytes)


def push_signatures(data: Path, insp: str, sha: str, count: int, first_seq: int) -> tuple[float, float]:
    """One push of `count` signatures by a freshly started store; (longest lock hold, push time) in s."""
    store = Store(Settings(data_dir=data))
    with store.write() as db:  # the previous run's signatures: an inspection takes only so many
        db.execute("DELETE FROM rows WHERE collection = 'signatures'")
    lock = TimedLock()
    store.database.lock = lock  # type: ignore[assignment]
    try:
        token = store.login(TokenRequest(username="wang", password="bench"))
        caller = store.authenticate(token.token)
        changes = [
            Change(seq=first_seq + i, collection="signatures", id=str(uuid.uuid4()),
                   hlc=str(hlc.Hlc(hlc.wall_ms(), i, caller.client_id)),
                   fields={"inspection_id": insp, "signer_name": "Wang", "signer_role": "technician",
                           "signed_at": AT, "sheet_sha256": sha})
            for i in range(count)
        ]
        lock.holds.clear()
        start = time.perf_counter()
        resp = store.push(caller, PushRequest(client_id=caller.client_id, client_time=hlc.format_ts(hlc.wall_ms()),
                                              changes=changes))
        took = time.perf_counter() - start
        statuses = {r.status for r in resp.results}
        assert statuses == {"applied"}, resp.results[:3]
        return max(lock.holds), took
    finally:
        store.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--signatures", type=int, default=20)
    parser.add_argument("--junk", type=int, default=0)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp)
        insp, sha, size = prepare(data, args.devices, args.junk)
        listed = f"{args.junk:,} made-up checks" if args.junk else f"{args.devices:,} checks"
        print(f"code: {sys.path[0]}")
        print(f"sheet: {size / 1024 / 1024:.2f} MiB, {listed}; {args.signatures} signatures in one push")
        for run in ("fresh server", "again"):
            held, took = push_signatures(data, insp, sha, args.signatures, 1)
            print(f"  {run:13} writer lock held {held * 1000:8.1f} ms in all, {held / args.signatures * 1000:7.1f} ms"
                  f" a signature; the push took {took * 1000:8.1f} ms")


if __name__ == "__main__":
    main()
