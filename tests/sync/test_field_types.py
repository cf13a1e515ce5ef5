"""A change's values are checked in C, one msgspec call per change (issue 15): that check must say
exactly what the per-field Python checks (`Field.valid`) say, for every field of every collection."""

from __future__ import annotations

from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from sync.fields import MAX_SAFE_INT, unstorable
from sync.merge import Actor, validate
from sync.schema import COLLECTIONS

_EXTRA = ["item.ok", "item.A", "bogus"]
_TEXT = st.one_of(
    st.text(max_size=8),
    st.sampled_from(["字" * 500, "x" * 500, "x" * 1000, "x" * 65_537]),
    st.sampled_from(["2026-11-20T10:15:00.000Z", "2026-02-30T10:15:00.000Z", "2026-11-20", "2026-02-29", "1899-12-31", "1900-01-01", "2100-12-31", "2101-01-01", "9999-12-31",
                     "2026-Q4", "2101-Q1", "2026-M13", "2100-H2", "2000-M1", "1999-Q1", "2024-02-29",
                     "2024-02-29T23:59:59.999Z", "2100-02-29T00:00:00.000Z", "2026-04-31", "2026-12-31T24:00:00.000Z",
                     "0000-01-01T00:00:00.000Z", "2026-11-20T10:15:00Z", "2026-11-20T10:15:60.000Z", "a" * 64, "0" * 63, "e3b0c44298fc1c149afbf4c8996fb924"
                     "27ae41e4649b934ca495991b7852b855", "3f0e8a52-7c1b-4d2e-9a61-2b8c5d4e7f90",
                     "3F0E8A52-7C1B-4D2E-9A61-2B8C5D4E7F90", "3f0e8a52-7c1b-4d2e-9a61-2b8c5d4e7f90\n",
                     "serviced", "fault", "dome_camera", "before", "image/jpeg", '[{"key": "a", "label": "A",'
                     ' "type": "bool"}]', "[1]", "x" * 200, "x" * 201, "字" * 200, "字" * 201, "x" * 2001]),
)
_VALUE: st.SearchStrategy[Any] = st.one_of(
    st.none(), st.booleans(), _TEXT, _TEXT, _TEXT, st.floats(allow_nan=False),
    st.integers(min_value=-MAX_SAFE_INT - 2, max_value=MAX_SAFE_INT + 2),
    st.sampled_from([MAX_SAFE_INT, -MAX_SAFE_INT, MAX_SAFE_INT + 1, 0]),
    st.lists(st.integers(), max_size=2), st.dictionaries(st.text(max_size=2), st.integers(), max_size=2),
)


@settings(max_examples=1000, deadline=None)
@given(collection=st.sampled_from(sorted(COLLECTIONS)), data=st.data())
def test_values_checked_in_c_are_those_the_field_checks_accept(collection: str, data: st.DataObject) -> None:
    spec = COLLECTIONS[collection]
    names = st.sampled_from([*spec.fields, *_EXTRA])
    fields = data.draw(st.dictionaries(names, _VALUE, max_size=3))
    one_by_one = all((f := spec.field(name)) is not None and f.valid(value) for name, value in fields.items())
    assert spec.values_valid(fields) == one_by_one


def test_a_value_past_its_limit_still_names_its_field() -> None:
    """The per-field checks still run for a change with a bad value, and say which value."""
    actor = Actor("phone-1", "lin", "supervisor")
    rejection, _, _, _ = validate("sites", "3f0e8a52-7c1b-4d2e-9a61-2b8c5d4e7f90", {"name": "x" * 201}, None, None,
                               actor, lambda *_: None)
    assert rejection is not None and rejection[0] == "invalid_field" and "sites.name" in rejection[1]
    assert "at most 200 characters" in rejection[1]


def test_a_field_of_another_role_is_refused_on_the_fast_path() -> None:
    """Every value valid (the C check passes), one field not the technician's to write: forbidden."""
    actor = Actor("phone-1", "wang", "technician")
    spec = COLLECTIONS["sites"]
    fields = {"name": "Park"}
    assert spec.values_valid(fields) and "name" not in spec.writable("technician")
    rejection, _, _, _ = validate("sites", "3f0e8a52-7c1b-4d2e-9a61-2b8c5d4e7f90", fields, None, None,
                               actor, lambda *_: None)
    assert rejection is not None and rejection[0] == "forbidden" and "sites.name is written by" in rejection[1]


def test_unstorable_names_a_nul_or_a_lone_surrogate_and_passes_any_other_text() -> None:
    # Regression (issue 16, closing note): what the server refuses in parameters, forms and cells.
    assert unstorable("a\x00b") == "the NUL character"
    assert unstorable("东门\ud800") == "a lone surrogate"
    assert [unstorable(t) for t in ("", "东门 大堂", "C:\\u0000", "\U0001f4f7", "\x01\x1f")] == [None] * 5
