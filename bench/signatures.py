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

`--seal N`: instead, a customer's signature sealing the whole sheet of `--devices` checks (the
reference site has 624), pushed alone N times on a fresh copy of the database each, alternately
as the server does it and with the read of the sheet's device rows left out (`device_labels`:
what named each device when it was signed, kept for a reprint since m031); prints the writer
lock's hold and that read's own time.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
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
from server.storage import signatures as signed
from server.storage.media import MediaQueries
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


def seal_once(prepared: Path, data: Path, insp: str, sha: str, labels: bool) -> tuple[float, float, int]:
    """One customer's signature sealing the sheet, on a fresh copy of `prepared`: (lock hold, the
    device rows' read inside it, in s; checks sealed). `labels=False` leaves that read out."""
    shutil.copytree(prepared, data)
    store = Store(Settings(data_dir=data))
    lock = TimedLock()
    store.database.lock = lock  # type: ignore[assignment]
    read, reads = signed.device_labels, [0.0]

    def timed(db: Any, ids: list[str]) -> dict[str, dict[str, Any]]:
        t0 = time.perf_counter()
        found = read(db, ids) if labels else {}
        reads[0] += time.perf_counter() - t0
        return found

    signed.device_labels = timed  # type: ignore[assignment]
    try:
        caller = store.authenticate(store.login(TokenRequest(username="wang", password="bench")).token)
        image = data / "image.part"
        image.write_bytes(b"\x89PNG\r\n\x1a\n a customer's hand")
        image_sha = sheet.sha256_hex(image.read_bytes())
        store.blobs.put(image_sha, image)
        with store.write() as db:  # as a finished upload of the image leaves it (the bench stores it directly)
            MediaQueries(db).store_blob("bench", caller.user_id, image_sha, "image/png", 28, None, hlc.wall_ms())
        change = Change(seq=1, collection="signatures", id=str(uuid.uuid4()),
                        hlc=str(hlc.Hlc(hlc.wall_ms(), 0, caller.client_id)),
                        fields={"inspection_id": insp, "signer_name": "陈女士", "signer_role": "customer",
                                "signed_at": AT, "sheet_sha256": sha, "image_sha256": image_sha})
        lock.holds.clear()
        resp = store.push(caller, PushRequest(client_id=caller.client_id, client_time=hlc.format_ts(hlc.wall_ms()),
                                              changes=[change]))
        assert [r.status for r in resp.results] == ["applied"], resp.results
        with store.read() as db:
            sealed = db.execute("SELECT count(*) FROM rows WHERE collection = 'device_checks'"
                                " AND json_extract(fields, '$.sealed_by') = ?", [change.id]).fetchone()[0]
        return max(lock.holds), reads[0], int(sealed)
    finally:
        signed.device_labels = read  # type: ignore[assignment]
        store.close()


def seal(devices: int, runs: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        prepared = Path(tmp) / "prepared"
        insp, sha, size = prepare(prepared, devices, 0)
        print(f"code: {sys.path[0]}")
        print(f"sheet: {size / 1024:.0f} KiB, {devices:,} checks; one customer's signature sealing all of them, alone")
        held: dict[bool, list[float]] = {True: [], False: []}
        read: list[float] = []
        for i in range(runs):
            for labels in (True, False):
                hold, took, sealed = seal_once(prepared, Path(tmp) / f"run{i}-{labels}", insp, sha, labels)
                assert sealed == devices, sealed
                held[labels].append(hold)
                if labels:
                    read.append(took)
        for labels, name in ((True, "as served"), (False, "without the device rows' read")):
            print(f"  {name:30} writer lock held: median {statistics.median(held[labels]) * 1000:7.1f} ms,"
                  f" best {min(held[labels]) * 1000:7.1f} ms ({runs} runs)")
        print(f"  the device rows' read alone: median {statistics.median(read) * 1000:.1f} ms,"
              f" best {min(read) * 1000:.1f} ms")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--devices", type=int, default=2000)
    parser.add_argument("--signatures", type=int, default=20)
    parser.add_argument("--junk", type=int, default=0)
    parser.add_argument("--seal", type=int, default=0, metavar="RUNS")
    args = parser.parse_args()
    if args.seal:
        seal(args.devices, args.seal)
        return
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
