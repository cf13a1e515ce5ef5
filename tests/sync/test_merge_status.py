"""Inspection status and the server's own values in the merge (found by the SDK workflow tests)."""

from __future__ import annotations

from test_merge import INSP, LIN, SRV, WANG, World, h

from sync.hlc import Hlc


def test_overwriting_the_servers_own_value_is_no_conflict():
    """Bug: every technician who started an inspection saw 'scheduled by srv was replaced'."""
    world = World()
    out = world.apply(WANG, "inspections", INSP, {"status": "in_progress"}, None, h(10))
    assert out.status == "applied" and out.log == []


def test_a_value_that_is_already_current_is_applied_not_superseded():
    """Bug: the server completed the inspection in the same push, so the technician's own
    `completed`, an instant older, came back superseded as if it had not counted."""
    world = World()
    world.apply(SRV, "inspections", INSP, {"status": "completed"}, None, str(Hlc(1_764_201_600_100, 0, "srv")))
    out = world.apply(WANG, "inspections", INSP, {"status": "completed"}, None, h(50))
    assert out.status == "applied" and out.log == []


def test_a_different_older_value_is_still_superseded():
    world = World()
    world.apply(LIN, "inspections", INSP, {"due_on": "2026-12-20"}, None, h(100, LIN))
    out = world.apply(LIN, "inspections", INSP, {"due_on": "2026-12-21"}, None, h(50, LIN))
    assert out.status == "superseded"


def test_a_technician_cannot_reopen_a_completed_inspection():
    world = World()
    world.apply(SRV, "inspections", INSP, {"status": "completed"}, None, str(Hlc(1_764_201_600_100, 0, "srv")))
    out = world.apply(WANG, "inspections", INSP, {"status": "in_progress"}, None, h(500))
    assert (out.status, out.reason) == ("rejected", "invalid_field")
    assert "cannot go back" in (out.detail or "")
    # A supervisor may reopen it.
    assert world.apply(LIN, "inspections", INSP, {"status": "in_progress"}, None, h(600, LIN)).status == "applied"
