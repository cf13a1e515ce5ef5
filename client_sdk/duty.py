"""The duty phone (issue 13, item 7): calls logged offline and who is on duty, named here by
`sync.duty` (the server's code) from the pulled roster and the duty rules cached at sync, so
the phone shows the `on_duty` the server will derive from the call's `received_at`."""

from __future__ import annotations

import uuid
from typing import Any

from sync import hlc
from sync.duty import Duty, DutyRules, duty_at
from sync.fields import is_timestamp
from sync.wire import Scalar

from .charges import ChargeWork
from .views import DutyCallView, DutyView


class DutyWork(ChargeWork):
    """Duty calls on the phone; a base class of `Client`, as `ServiceWork` is."""

    def rosters(self) -> dict[str, dict[str, Any]]:
        """{month: the roster row's fields} as last pulled (every client pulls the roster)."""
        return {str(r["fields"]["month"]): r["fields"] for r in self.rows("duty_roster") if r["fields"].get("month")}

    def duty_at(self, at_ms: int, rules: DutyRules | None = None) -> Duty | None:
        """Who is on duty at `at_ms` by the cached rules and roster, and why nobody is (`sync.duty.duty_at`:
        `no_roster` for a month without one); None without rules."""
        rules = rules or self.duty_rules()
        return None if rules is None else duty_at(at_ms, self.rosters(), rules)

    def on_duty_at(self, at_ms: int, rules: DutyRules | None = None) -> str | None:
        """The technician on duty at `at_ms` by the cached rules; None when nobody is, or without rules."""
        found = self.duty_at(at_ms, rules)
        return None if found is None else found.technician

    def log_duty_call(self, caller_name: str, caller_phone: str, summary: str, duration_s: int, outcome: str,
                      site_id: str | None = None, follows_id: str | None = None,
                      request_id: str | None = None) -> str:
        """Log a call the duty phone took, received now by this phone's clock; returns its id. Refused
        on the spot as the server would (an outcome it does not know, a duration past four hours, a
        request at another site, a call or request this phone cannot see)."""
        if site_id is not None:
            self._live("sites", site_id, "site")
        fields: dict[str, Scalar] = {"received_at": self._now_text(), "caller_name": caller_name,
                                     "caller_phone": caller_phone, "summary": summary, "duration_s": duration_s,
                                     "outcome": outcome}
        fields.update({k: v for k, v in (("site_id", site_id), ("follows_id", follows_id),
                                         ("request_id", request_id)) if v is not None})
        call_id = str(uuid.uuid4())
        self.create("duty_calls", call_id, fields)
        return call_id

    def duty(self, now_ms: int | None = None) -> DutyView:
        """Who is on duty now (the server's clock as the last pull measured it) and this month's
        calls on this phone, oldest first."""
        now = self.server_now() if now_ms is None else now_ms
        rules = self.duty_rules()
        month = rules.month(now) if rules is not None else None
        waiting = self.outbox.pending_ids("duty_calls")
        calls = []
        for row in self.rows("duty_calls"):
            f = row["fields"]
            received = f.get("received_at")
            at = hlc.parse_ts(received) if isinstance(received, str) and is_timestamp(received) else None
            if rules is not None and (at is None or rules.month(at) != month):
                continue
            synced = row["version"] > 0 and row["id"] not in waiting
            calls.append(DutyCallView(
                id=row["id"], received_local=rules.local(at).strftime("%Y-%m-%d %H:%M") if rules and at else None,
                on_duty=f.get("on_duty") if synced else (self.on_duty_at(at, rules) if at is not None else None),
                pending=row["id"] in waiting,
                **{k: f.get(k) for k in ("received_at", "site_id", "caller_name", "caller_phone", "summary",
                                         "duration_s", "outcome", "request_id", "follows_id")}))
        calls.sort(key=lambda c: (str(c.received_at), c.id))
        found = self.duty_at(now, rules)
        return DutyView(at=hlc.format_ts(now), month=month, technician=None if found is None else found.technician,
                        state=None if found is None else found.state, rules=rules is not None, calls=calls)
