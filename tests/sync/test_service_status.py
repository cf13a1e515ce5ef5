"""A service request's status from its assignment and events (issue 12), pure: the server's hook
and a phone compute the same."""

from __future__ import annotations

import pytest

from sync.collections.service import request_status


@pytest.mark.parametrize(("assigned", "kinds", "signed", "status", "senseless"), [
    (False, [], False, "received", []),
    (True, [], False, "dispatched", []),
    (True, ["accepted", "arrived", "paused", "resumed"], False, "in_service", []),
    # A pause before arrival resumes to where it was, not to `in_service`.
    (True, ["accepted", "paused", "resumed"], False, "accepted", []),
    (True, ["arrived", "fixed"], True, "signed", []),
    (False, ["cancelled", "arrived", "fixed"], False, "cancelled", [1, 2]),  # kept, moving nothing
    (False, ["fixed", "cancelled"], False, "cancelled", []),
    (False, ["resumed", "closed", "cancelled", "left"], False, "closed", [0, 2, 3]),
])
def test_status(assigned, kinds, signed, status, senseless):
    assert request_status(assigned, kinds, signed) == (status, senseless)


@pytest.mark.parametrize(("kinds", "sealed_after", "status", "senseless"), [
    (["arrived", "fixed"], None, "resolved", []),
    (["arrived", "fixed"], 2, "signed", []),
    # Sealed before the `fixed` arrived (an offline phone): signed once it does.
    (["arrived", "fixed"], 1, "signed", []),
    # Cancelled only before signed: a cancel after the seal is kept, flagged, and moves nothing.
    (["arrived", "fixed", "cancelled"], 2, "signed", [2]),
    (["arrived", "fixed", "cancelled"], 3, "cancelled", []),
    (["arrived", "fixed", "closed"], 2, "closed", []),
    (["arrived", "fixed", "paused"], 2, "signed", [2]),
])
def test_a_sealed_resolved_sheet_signs_the_request(kinds, sealed_after, status, senseless):
    assert request_status(True, kinds, sealed_after=sealed_after) == (status, senseless)
