"""What the commands share: one-line errors, files the user names, a progress line, and the
references a technician types (sheet numbers, device codes and ranges; checklist items are `items.py`'s)."""

from __future__ import annotations

import json
import os
import re
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, TextIO

from ..client import Client, SyncReport
from ..media import image_format
from ..outbox import Progress
from .messages import MESSAGES, _say, _text, collection_name, display_width, pad, value


class _UserError(Exception):
    """A mistake in what was asked: one line, exit 2."""


class _Refused(Exception):
    """Nothing could be done as asked (no password given): one line, exit 1."""


def upload_counts(client: Client) -> tuple[int, int]:
    """The uploads that will be sent (queued, or cut partway) and those that failed: their bytes were refused
    or their prepared file is gone, and nothing sends them again (the photo must be taken again)."""
    listed = client.uploads(waiting_only=True)
    waiting = sum(u["state"] in ("queued", "uploading") for u in listed)
    return waiting, len(listed) - waiting


def _file(text: str) -> Path:
    """A file the user named (`~` expanded): one clear line when it is missing or a directory."""
    path = Path(os.path.expanduser(text))
    if path.is_dir():
        raise _UserError(_text("is_directory", path=text))
    if not path.is_file():
        raise _UserError(_text("no_file", path=text))
    return path


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError as exc:
        raise _UserError(_text("unreadable_file", path=path, error=exc.strerror or exc)) from None


def _size(count: float) -> str:
    """Bytes for a person: 850 B, 12.3 kB, 1.5 MB."""
    for unit in ("B", "kB", "MB"):
        if count < 1000 or unit == "MB":
            return f"{count:.0f} {unit}" if unit == "B" else f"{count:.1f} {unit}"
        count /= 1000
    raise AssertionError  # the loop returns at MB


class _Progress:
    """Progress of a sync, on a terminal: one line on stderr, rewritten in place."""

    def __init__(self, err: TextIO) -> None:
        self.err = err
        self.width = 0  # columns of the line shown, 0: none
        self.started: dict[tuple[str, int, int], tuple[float, int]] = {}

    def __call__(self, step: Progress) -> None:
        if step.what == "push":
            line = _text("progress_push", done=step.done, total=step.total)
        elif step.what == "pull":
            line = _text("progress_pull", done=step.done)
        else:
            at, first = self.started.setdefault((step.what, step.index, step.count), (time.monotonic(), step.done))
            elapsed = time.monotonic() - at
            rate = _text("progress_rate", rate=_size((step.done - first) / elapsed)) if elapsed > 0 else ""
            line = _text("progress_upload", kind=MESSAGES.get(f"kind_{step.what}", step.what), index=step.index,
                         count=step.count, done=_size(step.done), total=_size(step.total), rate=rate)
        self.err.write("\r" + pad(line, self.width))
        self.width = display_width(line)
        if step.what != "pull" and step.done >= step.total:
            self.close()
        self.err.flush()

    def close(self) -> None:
        if self.width:
            self.err.write("\n")
            self.err.flush()
            self.width = 0


def _shown(names: Sequence[str], limit: int = 5) -> str:
    """`a, b, c` or `a, b, c, d, e and 7 more`."""
    shown = ", ".join(names[:limit])
    return shown if len(names) <= limit else _text("and_more", shown=shown, more=len(names) - limit)


def _find_inspection(client: Client, ref: str) -> dict[str, Any]:
    """By id, by sheet number (PM-2026Q4-0001), or by a unique prefix of the id."""
    inspections = client.rows("inspections")
    found = (
        [r for r in inspections if r["id"] == ref]
        or [r for r in inspections if str(r["fields"].get("sheet_no", "")).casefold() == ref.casefold()]
        or [r for r in inspections if r["id"].startswith(ref.lower())]
    )
    if not found:
        raise _UserError(_text("no_inspection", ref=ref))
    if len(found) > 1:
        raise _UserError(_text("ambiguous_inspection", ref=ref, matches=", ".join(r["id"] for r in found)))
    return found[0]


def _site_devices(client: Client, site_id: str) -> list[dict[str, Any]]:
    return [d for d in client.rows("devices") if d["fields"].get("site_id") == site_id]


_CODE = re.compile(r"^(.*?)([0-9]+)$")


def _find_range(devices: list[dict[str, Any]], ref: str) -> list[dict[str, Any]]:
    """`CAM-001..CAM-040` (or `CAM-001..040`): the devices whose code has that prefix and a number in range."""
    low, _, high = ref.partition("..")
    first, last = _CODE.match(low.strip()), _CODE.match(high.strip())
    if first is None or last is None:
        raise _UserError(_text("bad_range", ref=ref))
    prefix = first.group(1).casefold()
    start, end = int(first.group(2)), int(last.group(2))
    if last.group(1).casefold() not in ("", prefix) or start > end:
        raise _UserError(_text("bad_range", ref=ref))
    found = []
    for device in devices:
        code = _CODE.match(str(device["fields"].get("code") or ""))
        if code is not None and code.group(1).casefold() == prefix and start <= int(code.group(2)) <= end:
            found.append((int(code.group(2)), device["id"], device))
    if not found:
        raise _UserError(_text("empty_range", ref=ref))
    return [device for _, _, device in sorted(found, key=lambda f: (f[0], f[1]))]


def _find_devices(client: Client, site_id: str, refs: Sequence[str]) -> list[dict[str, Any]]:
    """Each ref an id, a code or a range of codes; in the order given, each device once."""
    devices = _site_devices(client, site_id)
    found: dict[str, dict[str, Any]] = {}
    for ref in refs:
        for device in _find_range(devices, ref) if ".." in ref else [_find_device(devices, ref)]:
            found.setdefault(device["id"], device)
    return list(found.values())


def _find_device(devices: list[dict[str, Any]], ref: str) -> dict[str, Any]:
    found = [d for d in devices if d["id"] == ref] or [
        d for d in devices if str(d["fields"].get("code", "")).casefold() == ref.casefold()
    ]
    if not found:
        raise _UserError(_text("no_device", ref=ref))
    if len(found) > 1:
        raise _UserError(_text("ambiguous_device", ref=ref, matches=", ".join(d["id"] for d in found)))
    return found[0]


def _print_problems(client: Client, out: TextIO, explain: Callable[[dict[str, Any]], str]) -> None:
    """Every problem still held, with the server's words; a change whose result is not known (the server
    gave none) with the words its notice gave (`explain`): a sync tells an unknown result once, this lists it."""
    problems = client.problems()
    if not problems:
        _say(out, "no_problems")
        return
    _say(out, "problems_count", count=len(problems))
    for p in problems:
        detail = p["detail"] or ", ".join(f"{k}: {v}" for k, v in (p["rejected_fields"] or {}).items()) or (
            explain(p) if p["status"] in ("taken", "unknown") else "")
        # A change out of the seqs (answered before a re-enrolment, or refused as too large) has no number to show.
        reason = p["reason"] or ""
        _say(out, "problem_line", seq=p["seq"] if p["seq"] > 0 else "-", status=MESSAGES[f"problem_{p['status']}"],
             reason=MESSAGES.get(f"problem_reason_{reason}") or value("conflict_reason", reason) if reason else "",
             collection=collection_name(p["collection"]), id=p["id"], detail=detail)


def _sheet(inspection: dict[str, Any]) -> str:
    return str(inspection["fields"].get("sheet_no") or inspection["id"])


def _signature_input(args: Any) -> tuple[Any, bytes | None]:
    """(strokes, png) from `--strokes FILE` or `--png FILE`, exactly one of them."""
    if (args.png is None) == (args.strokes is None):
        raise _UserError(MESSAGES["need_signature"])
    if args.strokes is not None:
        try:
            strokes = json.loads(_file(args.strokes).read_text(encoding="utf-8"))
            if not isinstance(strokes, list) or not all(isinstance(s, list) for s in strokes):
                raise ValueError("not a list of strokes")
        except (OSError, ValueError) as exc:
            raise _UserError(_text("bad_strokes", error=exc)) from None
        return strokes, None
    png = _read(_file(args.png))
    kind = image_format(png)
    if kind != "PNG":
        raise _UserError(_text("not_png", path=args.png, kind=_text("not_png_kind", kind=kind) if kind else ""))
    return None, png


def said_synced(out: TextIO, report: SyncReport, waiting: int = 0) -> None:
    """A sync's summary: what it pushed, pulled and uploaded (also one cut short, `Client.sync_so_far`, with the
    changes still `waiting`: after a restore, those go again at the next sync, not "sent again")."""
    _say(out, "synced", pushed=report.pushed, pulled=report.pulled)
    if report.resent is not None:
        if waiting:
            _say(out, "restored_login", count=waiting)
        else:
            _say(out, "restored", count=report.resent)
    if report.uploaded:
        _say(out, "uploaded", count=report.uploaded)


def blob_names(client: Client) -> dict[str, list[str]]:
    """What each blob on the phone is, by its SHA-256, as the technician knows it: a photo by its sheet and device
    (`PM-2026Q4-0001 photo of CAM-031`), a signature's image by its signer, a signed sheet by its number."""
    sheets = {i["id"]: _sheet(i) for i in client.rows("inspections")}
    sheets.update((v["id"], str(v["fields"].get("sheet_no") or v["id"])) for v in client.rows("service_visits"))
    codes = {d["id"]: str(d["fields"].get("code") or d["id"]) for d in client.rows("devices")}
    found: dict[str, list[str]] = {}
    for p in client.rows("photos"):
        f = p["fields"]
        found.setdefault(str(f.get("sha256")), []).append(_text(
            "upload_photo", sheet=sheets.get(str(f.get("inspection_id")), "-"),
            device=codes.get(str(f.get("device_id")), "-") if f.get("device_id") else MESSAGES["site_photo"]))
    for s in client.rows("signatures"):
        f = s["fields"]
        sheet = sheets.get(str(f.get("inspection_id") or f.get("visit_id")), "-")
        found.setdefault(str(f.get("image_sha256")), []).append(
            _text("upload_signature", sheet=sheet, name=f.get("signer_name") or MESSAGES["unknown"]))
        found.setdefault(str(f.get("sheet_sha256")), []).append(_text("upload_sheet", sheet=sheet))
    return found
