"""Charges (docs/service.md, "Charges"): a charge line's price, a visit's bill and a site's annual
maintenance quote, in integer fen. Pure, shared by both ends: the phone shows the customer,
offline, the total the server will bill, from the same schedules (`fixtures/fee_schedules.json`).

- A line's list amount (`amount_fen`) comes from the schedule in force on the visit's local
  date: per-visit items by the site's zone, labour per hour in steps rounded up, other items per
  unit, a part at the price the client gives.
- `covered`: warranty comes first (a device in warranty on the day of the call: everything; with
  `environment_damage` or `human_damage`, everything but parts), then an `annual` contract (visit
  fees, diagnosis and labour, and parts up to the schedule's part cover). The two add up.
- `billed`: not covered, and for a part, only with the customer's `agreed`.
- Who bears a line (`borne_by`): the customer when billed, else the warranty or the contract that
  covers it, else nobody (a part the customer has not agreed to).
- Tax is one rate in basis points on the subtotal, rounded half up to the fen.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import date
from typing import Any

import msgspec

from .fields import is_timestamp
from .hlc import parse_ts
from .periods import site_zone
from .warranty import phase
from .workhours import local_date

PER_VISIT = ("visit", "revisit", "transport")  # by zone
ITEMISED = ("diagnosis", "labour", "phone_question", "remote_software", "remote_system", "training_basic",
            "training_advanced")
PART = "part"
ITEMS = (*PER_VISIT, *ITEMISED, PART)  # the fee codes a charge line's `item` may be
PER_HOUR = "labour"  # its quantity is minutes
ANNUAL_COVERS = (*PER_VISIT, "diagnosis", "labour")
IN_WARRANTY = ("return", "exchange", "repair")
DAMAGE = ("environment_damage", "human_damage")  # only parts are charged, at cost
ZONES = ("urban", "suburban")
DEFAULT_ZONE = "urban"  # a site without a zone pays the lower, city price
# Bounds of what a client sends (docs/security.md): a line's amount stays far below 2**53.
MAX_QUANTITY = 1_440  # minutes in a day; of any other unit, as many
MAX_UNIT_PRICE_FEN = 10_000_000  # 100,000 yuan for one part
MAX_TAX_BPS = 10_000
DEFAULT_TAX_BPS = 600  # 6 %, VAT on services


class ScheduleError(ValueError):
    """Fee schedules that do not hold (a missing price, overlapping tiers, a bad date)."""


class Tier(msgspec.Struct, forbid_unknown_fields=True):
    """A closed range of unit counts (`to` None: and more) and the price of each unit in it."""

    from_: int = msgspec.field(name="from")
    to: int | None
    unit_price_fen: int


class Schedule(msgspec.Struct, kw_only=True, forbid_unknown_fields=True):
    effective_from: str  # a local date: in force from that day until the next schedule's
    labour_step_minutes: int = 30
    annual_part_cover_fen: int = 20_000  # an annual contract pays parts up to this unit price
    per_visit: dict[str, dict[str, int]]
    itemised: dict[str, int]
    annual: dict[str, list[Tier]]


class FeeBook(msgspec.Struct, kw_only=True):
    schedules: list[Schedule]  # oldest first
    annual_items: dict[str, str | None]  # device kind -> annual item (None: not quoted)
    interpretation: dict[str, str] = msgspec.field(default_factory=dict)
    note: str = ""


def _check(book: FeeBook) -> None:
    if not book.schedules:
        raise ScheduleError("no fee schedule")
    days = []
    for s in book.schedules:
        try:
            days.append(date.fromisoformat(s.effective_from))
        except ValueError:
            raise ScheduleError(f"effective_from {s.effective_from!r} is not a date") from None
        where = f"the schedule of {s.effective_from}"
        if not 1 <= s.labour_step_minutes <= 480:
            raise ScheduleError(f"{where}: labour_step_minutes is 1 to 480")
        prices = [s.annual_part_cover_fen, *s.itemised.values(), *(p for z in s.per_visit.values() for p in z.values())]
        if set(s.per_visit) != set(PER_VISIT) or any(set(z) != set(ZONES) for z in s.per_visit.values()):
            raise ScheduleError(f"{where}: per_visit prices {PER_VISIT} for each zone {ZONES}")
        if set(s.itemised) != set(ITEMISED):
            raise ScheduleError(f"{where}: itemised prices are {ITEMISED}")
        for item, tiers in s.annual.items():
            prices += [t.unit_price_fen for t in tiers]
            start = 1
            for i, t in enumerate(tiers):
                last = i == len(tiers) - 1
                if t.from_ != start or (t.to is None) != last or (t.to is not None and t.to < t.from_):
                    raise ScheduleError(f"{where}: the tiers of {item!r} are closed ranges from 1 that neither"
                                        " overlap nor leave a gap, the last open")
                start = (t.to or 0) + 1
        if any(isinstance(p, bool) or p < 0 for p in prices):
            raise ScheduleError(f"{where}: prices are whole fen, not negative")
        stray = {i for i in book.annual_items.values() if i is not None} - set(s.annual)
        if stray:
            raise ScheduleError(f"{where}: no annual price for {sorted(stray)}")
    if days != sorted(set(days)):
        raise ScheduleError("schedules are listed oldest first, one a day")


BOOK_KEYS = frozenset(f.encode_name for f in msgspec.structs.fields(FeeBook))


def load(data: bytes | str | Mapping[str, Any], strict: bool = False) -> FeeBook:
    """The fee book from its JSON (or the decoded mapping), checked; ScheduleError when it does not hold.
    `strict` (the server reading `fixtures/fee_schedules.json`, which an operator edits): an unknown key
    is refused, not ignored. A phone reading the server's book (with its `tax_bps`) keeps going past a
    key a newer server added, as clients keep fields they do not know."""
    try:
        raw = msgspec.json.decode(data) if strict and isinstance(data, bytes | str) else data
        if strict and isinstance(raw, Mapping) and (unknown := set(raw) - BOOK_KEYS):
            raise ScheduleError(f"{', '.join(sorted(str(k)[:64] for k in unknown))[:200]}: not a key of the fee"
                                f" book; its keys are {', '.join(sorted(BOOK_KEYS))}")
        book = (msgspec.json.decode(raw, type=FeeBook) if isinstance(raw, bytes | str)
                else msgspec.convert(raw, FeeBook))
    except (msgspec.ValidationError, msgspec.DecodeError) as exc:
        raise ScheduleError(str(exc)) from None
    _check(book)
    return book


def in_force(book: FeeBook, on: date | None) -> Schedule:
    """The schedule in force on a local date: the latest that took effect by then (the first when
    `on` is before every schedule, or unknown)."""
    found = book.schedules[0]
    for s in book.schedules:
        if on is not None and date.fromisoformat(s.effective_from) <= on:
            found = s
    return found


class Context(msgspec.Struct, kw_only=True, frozen=True):
    """What prices a visit's lines besides the lines themselves."""

    schedule: Schedule
    zone: str | None = None
    contract: str | None = None  # the site's: annual, per_visit, warranty
    phase: str = "none"  # the device's warranty phase on the day of the call (sync.warranty), void left aside
    void: str | None = None  # the visit's warranty_void


def _local_date(ts: object, tz: object) -> date | None:
    return local_date(parse_ts(ts), site_zone(tz)) if isinstance(ts, str) and is_timestamp(ts) else None


def visit_date(visit: Mapping[str, Any], request: Mapping[str, Any], tz: object) -> date | None:
    """The day that picks a visit's schedule: its `recorded_at`, else `planned_at`, else the
    request's `reported_at`, as a date in the site's time zone."""
    for ts in (visit.get("recorded_at"), visit.get("planned_at"), request.get("reported_at")):
        day = _local_date(ts, tz)
        if day is not None:
            return day
    return None


def request_void(visits: Iterable[Mapping[str, Any]]) -> str | None:
    """The warranty void of a request from its visits' `warranty_void`: a void found on one visit
    voids the request (the contract), one that takes the warranty away over damage, which leaves
    only the parts to pay."""
    found = [v for v in (visit.get("warranty_void") for visit in visits) if isinstance(v, str)]
    return next((v for v in found if v not in DAMAGE), found[0] if found else None)


def context(book: FeeBook, *, site: Mapping[str, Any], request: Mapping[str, Any], visit: Mapping[str, Any],
            device: Mapping[str, Any] | None, siblings: Iterable[Mapping[str, Any]] = ()) -> Context:
    """A visit's pricing context from the rows (their fields) the phone and the server both hold;
    `siblings` are the request's other live visits, whose `warranty_void` voids this one's warranty too."""
    tz = site.get("tz")
    called = _local_date(request.get("reported_at"), tz)
    warranty = phase(device, site, called).phase if device is not None and called is not None else "none"
    return Context(schedule=in_force(book, visit_date(visit, request, tz)), zone=site.get("zone"),
                   contract=site.get("contract"), phase=warranty, void=request_void([visit, *siblings]))


class Price(msgspec.Struct, frozen=True):
    amount_fen: int
    covered: bool
    billed: bool


def _count(value: object) -> int:
    return value if isinstance(value, int) and not isinstance(value, bool) and value > 0 else 0


def billed_minutes(minutes: int, step: int) -> int:
    """Labour minutes as billed: rounded up to the step (29 and 30 -> 30, 31 -> 60 with a 30-minute step)."""
    return -(-max(minutes, 0) // step) * step


def list_amount(line: Mapping[str, Any], schedule: Schedule, zone: str | None) -> int:
    """A line's amount at list price, whoever pays it."""
    item, quantity = line.get("item"), _count(line.get("quantity"))
    if item in PER_VISIT:
        return schedule.per_visit[str(item)][zone if zone in ZONES else DEFAULT_ZONE] * quantity
    if item == PER_HOUR:
        minutes = billed_minutes(quantity, schedule.labour_step_minutes)
        return (schedule.itemised[PER_HOUR] * minutes + 30) // 60  # per hour, half a fen up
    if item in ITEMISED:
        return schedule.itemised[str(item)] * quantity
    if item == PART:
        return _count(line.get("unit_price_fen")) * quantity
    return 0


def covered_by(line: Mapping[str, Any], ctx: Context) -> str | None:
    """Who pays the line instead of the customer: `warranty` (first), `contract` (annual), else None."""
    item = line.get("item")
    if ctx.phase in IN_WARRANTY and (ctx.void is None or (ctx.void in DAMAGE and item != PART)):
        return "warranty"
    if ctx.contract == "annual" and (item in ANNUAL_COVERS or (
            item == PART and _count(line.get("unit_price_fen")) <= ctx.schedule.annual_part_cover_fen)):
        return "contract"
    return None


def is_covered(line: Mapping[str, Any], ctx: Context) -> bool:
    """Whether warranty or the maintenance contract pays the line."""
    return covered_by(line, ctx) is not None


BORNE_BY = ("customer", "warranty", "contract", "not_agreed")


def borne_by(line: Mapping[str, Any], covered: bool, billed: bool, ctx: Context) -> str:
    """Who bears a priced line (`BORNE_BY`): the customer (billed); the warranty or the contract (its
    stored `covered`, a line priced under a contract since changed still the contract's); nobody, a part
    the customer has not agreed to (not fitted, whoever would have paid for it)."""
    if billed:
        return "customer"
    if covered and (line.get("item") != PART or line.get("decision") == "agreed"):
        return "warranty" if covered_by(line, ctx) == "warranty" else "contract"
    return "not_agreed"


def is_billed(line: Mapping[str, Any], covered: bool) -> bool:
    """Billed: not covered, and a part only with the customer's consent."""
    return not covered and (line.get("item") != PART or line.get("decision") == "agreed")


def price(line: Mapping[str, Any], ctx: Context) -> Price:
    """A charge line's price (its fields as the collection holds them: `decision` flat)."""
    covered = is_covered(line, ctx)
    return Price(list_amount(line, ctx.schedule, ctx.zone), covered, is_billed(line, covered))


# -- the bill -----------------------------------------------------------------------------------


class BillLine(msgspec.Struct, kw_only=True):
    id: str
    item: str | None
    quantity: int | None
    amount_fen: int
    covered: bool
    billed: bool


class Bill(msgspec.Struct, kw_only=True):
    visit_id: str
    lines: list[BillLine]
    subtotal_fen: int
    tax_bps: int
    tax_fen: int
    total_fen: int


_YUAN = re.compile(r"(\d{1,9})(?:\.(\d{1,2}))?\Z")


def fen_of(text: str) -> int | None:
    """`350`, `350.5`, `350.50` yuan (a leading ¥ allowed) as integer fen (35000, 35050, 35050), read as
    text, never through a float; None for anything else."""
    match = _YUAN.match(text.strip().removeprefix("¥"))
    return None if match is None else int(match[1]) * 100 + int((match[2] or "").ljust(2, "0"))


def yuan(amount_fen: int) -> str:
    """Integer fen shown in yuan: 106000 -> `1,060.00` (the phone's bill and the printed sheet)."""
    sign = "-" if amount_fen < 0 else ""
    return f"{sign}{abs(amount_fen) // 100:,}.{abs(amount_fen) % 100:02d}"


def tax_fen(subtotal_fen: int, tax_bps: int) -> int:
    """Tax on the subtotal, rounded half up to the fen."""
    return (subtotal_fen * tax_bps + 5_000) // 10_000


def bill(visit_id: str, lines: Iterable[tuple[str, Mapping[str, Any]]], tax_bps: int,
         ctx: Context | None = None) -> Bill:
    """A visit's bill from its live lines `(id, fields)`, in their order.

    With `ctx` every line is priced here (the phone, offline); without, the lines' stored
    `amount_fen` and `covered` (the server's, priced when written) are billed.
    """
    out = []
    for line_id, fields in lines:
        if ctx is not None:
            p = price(fields, ctx)
        else:
            covered = fields.get("covered") is True
            p = Price(_count(fields.get("amount_fen")), covered, is_billed(fields, covered))
        quantity = fields.get("quantity")
        out.append(BillLine(id=line_id, item=fields.get("item"), quantity=quantity if isinstance(quantity, int) else None,
                            amount_fen=p.amount_fen, covered=p.covered, billed=p.billed))
    subtotal = sum(line.amount_fen for line in out if line.billed)
    tax = tax_fen(subtotal, tax_bps)
    return Bill(visit_id=visit_id, lines=out, subtotal_fen=subtotal, tax_bps=tax_bps, tax_fen=tax,
                total_fen=subtotal + tax)


# -- the annual maintenance quote ---------------------------------------------------------------


class QuoteLine(msgspec.Struct, kw_only=True):
    item: str
    quantity: int
    unit_price_fen: int
    amount_fen: int


def unit_price(tiers: list[Tier], count: int) -> int:
    """The unit price at the tier `count` reaches (every unit at that price)."""
    return next(t.unit_price_fen for t in tiers if t.from_ <= count and (t.to is None or count <= t.to))


def annual_quote(book: FeeBook, schedule: Schedule,
                 kinds: Mapping[str, int]) -> tuple[list[QuoteLine], int, dict[str, int]]:
    """(lines by item, total, the kinds counted but not quoted) for a site's active devices by kind."""
    counts: dict[str, int] = {}
    unquoted: dict[str, int] = {}
    for kind, n in kinds.items():
        item = book.annual_items.get(kind)
        if item is None:
            unquoted[kind] = unquoted.get(kind, 0) + n
        else:
            counts[item] = counts.get(item, 0) + n
    lines = []
    for item in sorted(counts):
        each = unit_price(schedule.annual[item], counts[item])
        lines.append(QuoteLine(item=item, quantity=counts[item], unit_price_fen=each, amount_fen=each * counts[item]))
    return lines, sum(line.amount_fen for line in lines), dict(sorted(unquoted.items()))
