"""The service domain's SQL (issue 12): a request's events, a site's terms override."""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable
from typing import Any

import msgspec

from .base import Sql
from .pages import among
from .queries import equal_to
from .writes import Dialect, dialect, per_dialect, replace_into, select_in

_decode = msgspec.json.decode
DIGITS = frozenset("0123456789")
Connection = Sql  # what the service office hands back here, unopened


def request_events(db: Sql, request_id: str) -> list[dict[str, Any]]:
    """The live events of a request, in order of arrival at the server (row version)."""
    rows = db.execute(
        "SELECT id, fields FROM rows WHERE collection = 'service_events' AND parent_id = ? AND deleted = 0"
        " ORDER BY version",
        [request_id],
    ).fetchall()
    return [{"id": row_id, **_decode(fields)} for row_id, fields in rows]


@per_dialect
def _first_seal(sql: Dialect) -> str:
    return ("SELECT min(version) FROM rows WHERE collection = 'service_visits' AND parent_id = ? AND deleted = 0"
            f" AND {sql.field('fields', 'sealed_by')} IS NOT NULL AND {sql.field('fields', 'outcome')} = 'resolved'")


def events_before_seal(db: Sql, request_id: str) -> set[str] | None:
    """The ids of the request's events that arrived before its first sealed visit with outcome
    `resolved` was sealed (the visit's version: a sealed visit changes no more); None when none is."""
    row = db.execute(_first_seal(db), [request_id]).fetchone()
    if row[0] is None:
        return None
    return {i for (i,) in db.execute(
        "SELECT id FROM rows WHERE collection = 'service_events' AND parent_id = ? AND version < ?",
        [request_id, row[0]],
    )}


def assignees(db: Sql, site_id: str) -> list[str]:
    """Whom a request of the site may be dispatched to: its members whose account is not disabled, by username."""
    return [u for (u,) in db.execute(
        "SELECT u.username FROM memberships m JOIN users u ON u.id = m.user_id"
        " WHERE m.site_id = ? AND u.disabled_at IS NULL ORDER BY u.username", [site_id])]


def terms_override(db: Sql, site_id: str) -> dict[str, Any] | None:
    """A site's override of its contract's terms, as a supervisor set it; None when there is none."""
    row = db.execute("SELECT override FROM service_terms WHERE site_id = ?", [site_id]).fetchone()
    return None if row is None else dict(_decode(row[0]))


def set_terms_override(db: Sql, site_id: str, override: dict[str, Any] | None,
                       by: str, at: str) -> None:
    """Replace (or, with None, remove) a site's override."""
    if override is None:
        db.execute("DELETE FROM service_terms WHERE site_id = ?", [site_id])
    else:
        db.execute(replace_into("service_terms", ("site_id", "override", "set_by", "set_at"), ("site_id",)),
                   [site_id, msgspec.json.encode(override).decode(), by, at])


# -- the stored clock columns (m015) and the request list that reads them ----------------------

_CLOCK_COLUMNS = ("request_id", "site_id", "status", "assigned_to", "reported_ms", "open", "breached",
                  "breach_at", "risk_at", "computed_ms", "phone_reversed", "terms")

# m034 (both backends): the digits of the request's caller's number, last first (`service.phone_reversed`), so
# that a number's tail (尾号), the number itself among them, is a prefix that one range of an index finds.
# Digits only: compared byte by byte on both (PostgreSQL's column says "C", whatever the database's collation).
PHONE_REVERSED = """
ALTER TABLE service_clocks ADD COLUMN phone_reversed {text};
CREATE INDEX service_clocks_phone ON service_clocks(phone_reversed, reported_ms, request_id)
    WHERE phone_reversed IS NOT NULL;
"""
# m034's backfill on PostgreSQL, by `service.phone_reversed`'s rule of then (SQLite's step runs that function,
# which drops a mainland country code since m036; m036 drops it from the numbers stored before).
PHONE_BACKFILL_POSTGRES = """
UPDATE service_clocks AS c
    SET phone_reversed = NULLIF(reverse(regexp_replace(normalize(r.fields ->> 'caller_phone', NFKC), '[^0-9]', '', 'g')), '')
    FROM rows AS r WHERE r.collection = 'service_requests' AND r.id = c.request_id
        AND json_typeof(r.fields -> 'caller_phone') = 'string';
"""


# A mainland mobile number with its country code (+86, 0086 or 86 before 11 digits, the first a 1): the
# number is those 11 digits, as the desk hears it.
_MAINLAND_MOBILE = re.compile(r"(?:00)?86(1[0-9]{10})")
# A mainland landline with its country code: after 86 the area code without its trunk prefix 0 (10 and 2x of
# two digits, 3xx to 9xx of three), then the 7 or 8 digits of the local number; a 0 kept after the country code
# (+86 (0)752 …, as cards print it) is the same number. Its national form is 0, the area code and the number
# (0752-3350120). 400 and 800 numbers (10 digits, no trunk prefix) are not landlines: kept as they are.
_MAINLAND_LANDLINE = re.compile(r"(?:00)?860?((?:10|2[0-9])[0-9]{7,8}|(?!400|800)[3-9][0-9]{9,10})")

# m036 (both backends): the numbers stored before it by m034 or a write, with a mainland mobile number's
# country code among their digits (reversed: 11 digits, then 68 or 6800), keep the 11 digits, as
# `phone_reversed` now stores them. Idempotent: a number of 11 digits is left alone.
PHONE_NATIONAL = """
UPDATE service_clocks SET phone_reversed = substr(phone_reversed, 1, 11)
    WHERE (length(phone_reversed) = 13 AND phone_reversed LIKE '__________168')
        OR (length(phone_reversed) = 15 AND phone_reversed LIKE '__________16800');
"""


# m037 (both backends): the stored keys, each (request id, key); `landline_rekeyed` gives those that kept a
# mainland landline's country code (+86 752 3350120 as 0210533257680) their national form.
STORED_KEYS = "SELECT request_id, phone_reversed FROM service_clocks WHERE phone_reversed IS NOT NULL"


def landline_rekeyed(found: Iterable[tuple[str, str]]) -> list[tuple[str, str]]:
    """m037 (both backends): (key, request id) for each of `found`'s (request id, stored key) whose digits
    `national_digits` now gives otherwise: a landline with its country code in its national form, its area
    code's trunk prefix 0 for the country code (a mobile's was dropped by m036). None the second time: the
    national form is its own."""
    return [(national[::-1], request_id) for request_id, stored in found
            if (national := national_digits(stored[::-1])) != stored[::-1]]


def phone_reversed(phone: object) -> str | None:
    """A caller's number as `phone_reversed` keeps it: its digits (full-width ones, a Chinese input method's,
    as ASCII; spaces, dashes, brackets and a `+` left out), a mainland number in its national form (a mobile
    without its country code: +86 138 0013 8000, 008613800138000 and 138 0013 8000 are one; a landline with
    its trunk prefix 0 for the country code: +86 752 335 0120, 0086-752-3350120 and 0752-3350120 are one),
    last first; then, where it names an extension (`split_extension`), `EXTENSION` and the extension's digits
    as written (0755-8888 9999 转 801: 999988885570#801); None without a digit before any extension."""
    if not isinstance(phone, str):
        return None
    number, extension = split_extension(unicodedata.normalize("NFKC", phone))
    main = national_digits(_digits(number))[::-1]
    return (main + (EXTENSION + extension if extension else "")) or None


# A switchboard's extension, written after the number: 转 (轉), 分机 (分機), ext, ext., extension, x or # (NFKC
# has made full-width ones ASCII), case ignored; read only after a digit of the number (the x of "fax" before
# it is no marker). The first such marker names an extension only when all that follows it is 1-6 digits, spaces
# and perhaps a `.` or `:` (`：` after NFKC) before them: 138xxxx8000 (a masked number) and 0755-8888 9999 / fax
# 0755-8888 9998 (a second number) have none.
_EXTENSION_MARK = re.compile(r"转|轉|分机|分機|extension|ext\.?|x|#", re.IGNORECASE)
_EXTENSION_DIGITS = re.compile(r"\s*[.:]?\s*([0-9]{1,6})\s*")
# Or a last dash-separated group of 1-6 digits after a complete landline (0755-8888 9999-801, as business cards
# print it), where the whole is not itself one: 0755-3350-1201 and 021-5555-0101 are numbers, not extensions.
_LAST_DASHED = re.compile(r"(.*[0-9].*)[-\u2010-\u2015]\s*([0-9]{1,6})\s*")
_NATIONAL_LANDLINE = re.compile(r"0(?:(?:10|2[0-9])[0-9]{7,8}|(?!400|800)[3-9][0-9]{9,10})")
EXTENSION = "#"  # in a stored key, between the number's digits (reversed) and its extension's (not reversed)


def _digits(text: str) -> str:
    return "".join(c for c in text if c in DIGITS)


def split_extension(text: str) -> tuple[str, str]:
    """A number as typed (after NFKC) split into the number and its extension's digits ("" when none): after
    the first marker (`_EXTENSION_MARK`) that follows a digit when only the extension's digits follow it
    (`_EXTENSION_DIGITS`; any other text after that marker names none), or a dash after a complete mainland
    landline whose whole is none (`_LAST_DASHED`); a 400/800 or mobile number's dash is a dash."""
    for mark in _EXTENSION_MARK.finditer(text):
        if _digits(text[:mark.start()]):
            extension = _EXTENSION_DIGITS.fullmatch(text, mark.end())
            return (text[:mark.start()], extension[1]) if extension else (text, "")
    dashed = _LAST_DASHED.fullmatch(text)
    if (dashed and _NATIONAL_LANDLINE.fullmatch(national_digits(_digits(dashed[1])))
            and not _NATIONAL_LANDLINE.fullmatch(national_digits(_digits(text)))):
        return dashed[1], dashed[2]
    return text, ""


def rekeyed(found: Iterable[tuple[str, object, str | None]]) -> list[tuple[str, str]]:
    """m039 (both backends): (key, request id) for each of `found`'s (request id, caller's number as written,
    stored key) whose number `phone_reversed` now keys otherwise (an extension kept apart); none the second
    time."""
    return [(key, request_id) for request_id, phone, stored in found
            if (key := phone_reversed(phone)) is not None and key != stored]


def national_digits(digits: str) -> str:
    """A number's digits (ASCII) in their national form where they are a mainland mobile or landline number
    given with the country code (`_MAINLAND_MOBILE`, `_MAINLAND_LANDLINE`); any others as they are."""
    if mobile := _MAINLAND_MOBILE.fullmatch(digits):
        return mobile[1]
    if landline := _MAINLAND_LANDLINE.fullmatch(digits):
        return "0" + landline[1]
    return digits


def tail_range(tail: str) -> tuple[str, str]:
    """The bounds [low, high) of the reversed numbers that start with `tail` (reversed digits): the
    numbers that end with those digits."""
    return tail, tail[:-1] + chr(ord(tail[-1]) + 1)


def save_clocks(db: Sql, rows: list[tuple[Any, ...]]) -> None:
    """Replace requests' stored clock rows (values in the order of `_CLOCK_COLUMNS`)."""
    db.executemany(replace_into("service_clocks", _CLOCK_COLUMNS, ("request_id",)), rows)


def drop_clocks(db: Sql, request_id: str) -> None:
    db.execute("DELETE FROM service_clocks WHERE request_id = ?", [request_id])
    db.execute("DELETE FROM service_milestones WHERE request_id = ?", [request_id])


def save_milestones(db: Sql,
                    requests: list[tuple[str, list[tuple[str, str | None, str, int | None, int | None]]]]) -> None:
    """Replace requests' stored milestones (m018): (request id, [(name, visit id, status, breach_at, to_make)]),
    `to_make` 1 for a `callback` whose call-back is still to make (m033), else None."""
    db.executemany("DELETE FROM service_milestones WHERE request_id = ?", [(r,) for r, _ in requests])
    db.executemany("INSERT INTO service_milestones (request_id, n, name, visit_id, status, breach_at, to_make)"
                   " VALUES (?, ?, ?, ?, ?, ?, ?)",
                   [(r, n, *m) for r, each in requests for n, m in enumerate(each)])


def stored_clocks(db: Sql, request_id: str) -> dict[str, Any] | None:
    row = db.execute(f"SELECT {', '.join(_CLOCK_COLUMNS)} FROM service_clocks WHERE request_id = ?",
                     [request_id]).fetchone()
    return None if row is None else dict(zip(_CLOCK_COLUMNS, row, strict=True))


def live_rows(db: Sql, collection: str, ids: list[str]) -> dict[str, dict[str, Any]]:
    """{id: fields} of the live rows of a collection among `ids`."""
    return {row_id: _decode(fields) for row_id, fields in select_in(
        db, "SELECT id, fields FROM rows WHERE collection = ? AND deleted = 0 AND id IN ({marks})", ids, [collection])}


def children(db: Sql, collection: str, parents: list[str]) -> list[tuple[str, str, dict[str, Any]]]:
    """(parent id, id, fields) of the live rows of a collection under any of `parents`, in order of arrival."""
    found = select_in(db, "SELECT parent_id, id, fields, version FROM rows WHERE collection = ? AND deleted = 0"
                          " AND parent_id IN ({marks})", parents, [collection])
    return [(p, i, _decode(f)) for p, i, f, _ in sorted(found, key=lambda r: r[3])]


def backfill_pending(db: Sql) -> list[str] | None:
    """Every live request when m018 left its milestones to compute (the mark is then removed); else None."""
    if db.execute("DELETE FROM meta WHERE key = 'milestones_backfill'").rowcount == 0:
        return None
    return [r[0] for r in db.execute("SELECT id FROM rows WHERE collection = 'service_requests' AND deleted = 0")]


# m040 (both backends): the terms file a request's stored clocks were counted with (`TermsBook.mark`), per row:
# a start counts again the rows another file counted (`recount`), those a process still on the old file rewrote
# during a rolling restart among them; NULL, stored before m040, is counted again at the first start. Its index
# makes a start on an unchanged file find nothing to count without reading every row (bench/recount.py).
TERMS_COLUMN = """
ALTER TABLE service_clocks ADD COLUMN terms text;
CREATE INDEX service_clocks_terms ON service_clocks(terms);
"""


def counted_otherwise(db: Sql, mark: str) -> list[tuple[str, str]]:
    """(site id, request id) of the stored clocks counted with terms other than `mark`, site by site."""
    # Not `<>`, nor ORDER BY (SQLite then scans the site index): `terms`' index finds none when all are `mark`.
    return sorted((str(r[0]), str(r[1])) for r in db.execute(
        "SELECT site_id, request_id FROM service_clocks WHERE terms IS NULL OR terms < ? OR terms > ?", [mark, mark]))


def still_otherwise(db: Sql, request_ids: list[str], mark: str) -> list[str]:
    """Those of `request_ids` still counted otherwise (another process starting may have counted them)."""
    return sorted(r[0] for r in select_in(db, "SELECT request_id FROM service_clocks WHERE (terms IS NULL OR"
                                               " terms <> ?) AND request_id IN ({marks})", request_ids, [mark]))


def site_requests(db: Sql, site_id: str) -> list[str]:
    return [r[0] for r in db.execute(
        "SELECT id FROM rows WHERE collection = 'service_requests' AND site_id = ? AND deleted = 0", [site_id])]


SIGNED = ("signed", "closed")  # the statuses whose sealed visits want a call-back (`callback_due`)
NO_DUE = 253_402_300_800_000  # 10000-01-01 in ms: the due of a call-back an open pause stops (listed last)


# m033: a `callback` milestone's call-back still to make, stored with the milestone (`to_make` 1) when its
# request's clocks are recomputed (a call-back's arrival, change or removal recomputes them), so the 待回访
# list and count read the few still to make through their partial index, not every signed or closed request's
# milestones and call-backs (a year's history: 40,000 of them, 190-290 ms a dashboard, docs/performance.md).
TO_MAKE_COLUMN = """
ALTER TABLE service_milestones ADD COLUMN to_make {integer};
CREATE INDEX service_milestones_to_make ON service_milestones(request_id, breach_at) WHERE to_make = 1;
"""


def to_make_backfill(reached: str) -> str:
    """m033's backfill, `reached` the dialect's `c.fields` `reached` as a boolean: a sealed visit's call-back
    is still to make when its milestone is not `met` and no reached call-back of the visit is stored."""
    return ("UPDATE service_milestones SET to_make = 1 WHERE name = 'callback' AND status <> 'met' AND NOT EXISTS"
            " (SELECT 1 FROM rows c WHERE c.collection = 'callbacks' AND c.parent_id = service_milestones.visit_id"
            f" AND c.deleted = 0 AND {reached} = TRUE);")


# The requests with a call-back still to make and when the earliest was due (its milestone's `breach_at`;
# one an open pause stops has none until `resumed`: still to make, it is due `NO_DUE`, listed last).
_EARLIEST_DUE = "min(COALESCE({milestones}breach_at, " + str(NO_DUE) + "))"  # `{milestones}` a table's prefix
_DUE_BY = (f"(SELECT request_id, {_EARLIEST_DUE.format(milestones='')} AS due FROM service_milestones"
           " WHERE to_make = 1 GROUP BY request_id) AS due_by JOIN service_clocks USING (request_id)")
# When a request's earliest call-back still to make was due, NULL when none is: decided by the call-backs
# stored (`to_make`), not by the milestone's status, which is `breached` alike for a call-back made late and
# one never made.
_CALLBACK_DUE = (f"(SELECT {_EARLIEST_DUE.format(milestones='m.')} FROM service_milestones m"
                 " WHERE m.request_id = service_clocks.request_id AND m.to_make = 1)")


def callback_due_of(db: Sql, request_id: str) -> int | None:
    """When the request's earliest call-back still to make breaches (`breach_at`, ms; `NO_DUE` when an open
    pause stops its clock), None when none is."""
    found = db.execute(f"SELECT {_CALLBACK_DUE} FROM service_clocks WHERE request_id = ?", [request_id]).fetchone()
    return None if found is None else found[0]


def _where(db: Sql, *, sites: list[str] | None, site_id: str | None, status: str | None, assigned_to: str | None,
           open_: bool | None, breached: bool | None, at_risk: bool | None, callback_due: bool | None,
           now_ms: int, phone_tail: str | None = None) -> tuple[list[str], list[Any]]:
    where: list[str] = []
    args: list[Any] = []
    if phone_tail is not None:  # first: the range of `service_clocks_phone` (the number's tail)
        number, _, extension = phone_tail.partition(EXTENSION)
        where.append("phone_reversed >= ? AND phone_reversed < ?")
        args += tail_range(number)
        if extension:  # and that extension, exactly
            where.append("phone_reversed LIKE ?")
            args.append(f"%{EXTENSION}{extension}")
    if sites is not None:
        where.append(f"site_id IN {among(sites)}")
        args += sites
    equal_to({"site_id": site_id, "status": status, "assigned_to": assigned_to}, where, args)
    if open_ is not None:
        where.append("open = ?")
        args.append(int(open_))
    if breached is not None:
        where.append("(breach_at <= ?)" if breached else "(breach_at IS NULL OR breach_at > ?)")
        args.append(now_ms)
    if at_risk is not None:
        risky = "COALESCE(risk_at <= ? AND (breach_at IS NULL OR breach_at > ?), FALSE)"
        where.append(risky if at_risk else f"NOT {risky}")
        args += [now_ms, now_ms]
    if callback_due is not None:  # True: the statuses here, the due from `_DUE_BY`
        where.append(f"status IN {among(SIGNED)}" if callback_due
                     else f"NOT (status IN {among(SIGNED)} AND {_CALLBACK_DUE} IS NOT NULL)")
        args += list(SIGNED)
    return where, args


def list_requests(db: Sql, *, sites: list[str] | None, site_id: str | None, status: str | None,
                  assigned_to: str | None, open_: bool | None, breached: bool | None, at_risk: bool | None,
                  now_ms: int, after: tuple[int, str] | None, limit: int,
                  callback_due: bool | None = None, phone_tail: str | None = None) -> list[tuple[str, int]]:
    """(request id, order key) of the requests the filters keep, in order of the key (`reported_at`) then
    id, after the keyset position `after`; `sites` is the caller's scope (None: every site). `callback_due=True`:
    signed or closed with a call-back still to make, the oldest due first (the key: `callback_due_of`).
    `phone_tail`: the caller's number ends with these digits (reversed, as `phone_reversed` stores them), any
    extension (a switchboard's number finds its extensions' calls) unless the tail names one, then it alone.

    `breached` and `at_risk` are read from the stored columns at `now_ms`: exact until the
    request's next event, which recomputes them."""
    where, args = _where(db, sites=sites, site_id=site_id, status=status, assigned_to=assigned_to, open_=open_,
                         breached=breached, at_risk=at_risk, callback_due=callback_due, now_ms=now_ms,
                         phone_tail=phone_tail)
    key = "due" if callback_due else "reported_ms"
    if after is not None:
        where.append(f"({key}, request_id) > (?, ?)")
        args += list(after)
    sql = (f"SELECT request_id, {key} FROM {_DUE_BY if callback_due else 'service_clocks'}"
           + (f" WHERE {' AND '.join(where)}" if where else "") + f" ORDER BY {key}, request_id LIMIT ?")
    return [(r[0], r[1]) for r in db.execute(sql, [*args, limit])]


def count_callbacks_due(db: Sql, *, sites: list[str] | None, now_ms: int) -> int:
    """How many requests in `sites` (None: every site) `list_requests` keeps with `callback_due=True`."""
    where, args = _where(db, sites=sites, site_id=None, status=None, assigned_to=None, open_=None, breached=None,
                         at_risk=None, callback_due=True, now_ms=now_ms)
    sql = f"SELECT count(*) FROM {_DUE_BY} WHERE {' AND '.join(where)}"
    return int(db.execute(sql, args).fetchone()[0])


def open_duplicates(db: Sql, site_id: str, device_id: str | None, phone: str | None, limit: int) -> list[str]:
    """The open requests of a site about this device or from this phone number (its digits reversed, as
    `phone_reversed` stores them), oldest call first: what a new call may be a duplicate of. The number is
    compared without its extension: a call from a switchboard's extension (0755-8888 9999 转 801) is warned of
    the open requests from the switchboard and its other extensions."""
    if device_id is None and phone is None:
        return []
    same = []
    args: list[Any] = [site_id]
    if device_id is not None:
        same.append("r.device_id = ?")
        args.append(device_id)
    if phone is not None:
        number = phone.partition(EXTENSION)[0]
        same.append("c.phone_reversed = ? OR c.phone_reversed LIKE ?")
        args += [number, f"{number}{EXTENSION}%"]
    return [r[0] for r in db.execute(
        "SELECT c.request_id FROM service_clocks c JOIN rows r ON r.collection = 'service_requests'"
        " AND r.id = c.request_id AND r.deleted = 0 WHERE c.site_id = ? AND c.open = 1"
        f" AND ({' OR '.join(same)}) ORDER BY c.reported_ms, c.request_id LIMIT ?", [*args, limit])]


def request_rows(db: Sql, ids: list[str]) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """{id: (fields, clocks as stored)} of the live requests among `ids`."""
    return {row_id: (_decode(fields), _decode(clocks)) for row_id, fields, clocks in select_in(
        db, "SELECT id, fields, clocks FROM rows WHERE collection = 'service_requests' AND deleted = 0"
            " AND id IN ({marks})", ids)}
# -- the service office (terms, visits, the faults report, a device's repair archive) ----------


def site_terms(db: Sql, site_id: str) -> tuple[dict[str, Any], Any, str | None, str | None] | None:
    """A live site's fields with its terms override, who set it and when (None, None, None when
    there is none); None when there is no such site."""
    found = db.execute(
        "SELECT s.fields, t.override, t.set_by, t.set_at FROM rows s LEFT JOIN service_terms t ON t.site_id = s.id"
        " WHERE s.collection = 'sites' AND s.id = ? AND s.deleted = 0",
        [site_id],
    ).fetchone()
    if found is None:
        return None
    return dict(_decode(found[0])), None if found[1] is None else _decode(found[1]), found[2], found[3]


def device_requests(db: Sql, device_id: str) -> list[tuple[str, dict[str, Any], list[dict[str, Any]]]]:
    """The live service requests about a device, each with its live visits' fields and `id` (the
    device's repair archive), in no particular order."""
    requests = [(i, _decode(f)) for i, f in db.execute(
        "SELECT id, fields FROM rows WHERE device_id = ? AND collection = 'service_requests' AND deleted = 0",
        [device_id],
    )]
    visits: dict[str, list[dict[str, Any]]] = {}
    for parent, visit_id, fields in select_in(
        db, "SELECT parent_id, id, fields FROM rows WHERE collection = 'service_visits' AND parent_id IN ({marks})"
            " AND deleted = 0", [i for i, _ in requests]):
        visits.setdefault(parent, []).append({"id": visit_id, **_decode(fields)})
    return [(i, f, visits.get(i, [])) for i, f in requests]


def recorded_faults(db: Sql, since: str, until: str) -> list[tuple[str, str, Any, Any, Any]]:
    """(recorded_at, fault_cause, device kind, device model, site tz) of the live visits with a fault
    cause recorded in [since, until) (protocol timestamps, compared as text)."""
    sql = dialect(db)
    field = sql.field
    at = field('v.fields', 'recorded_at')  # named again in WHERE: PostgreSQL has no output names there
    # The range of `rows_visit_recorded`: without it (and with no ANALYZE ever run) SQLite walks
    # every visit through `rows_parent` and parses each one's JSON, whatever the dates.
    indexed = " INDEXED BY rows_visit_recorded" if sql.hints else ""
    return db.execute(
        f"SELECT {at} AS at, {field('v.fields', 'fault_cause')},"
        f" {field('d.fields', 'kind')}, {field('d.fields', 'model')}, {field('s.fields', 'tz')}"
        f" FROM rows v{indexed} JOIN rows r ON r.collection = 'service_requests' AND r.id = v.parent_id AND r.deleted = 0"
        " LEFT JOIN rows d ON d.collection = 'devices' AND d.id = r.device_id"
        " LEFT JOIN rows s ON s.collection = 'sites' AND s.id = v.site_id"
        f" WHERE v.collection = 'service_visits' AND v.deleted = 0 AND {at} >= ? AND {at} < ?"
        f" AND {field('v.fields', 'fault_cause')} IS NOT NULL",
        [since, until],
    ).fetchall()
