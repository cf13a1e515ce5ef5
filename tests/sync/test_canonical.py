"""RFC 8785 canonical JSON, as the sealed sheet uses it."""

from __future__ import annotations

import pytest

from sync.canonical import canonical_json, sha256_hex


def test_keys_sorted_and_no_whitespace():
    assert canonical_json({"b": 1, "a": [True, None, "x"], "c": {"z": 0, "y": -1}}) == (
        b'{"a":[true,null,"x"],"b":1,"c":{"y":-1,"z":0}}'
    )


def test_keys_sorted_by_utf16_code_units_not_code_points():
    # U+1F600 is the surrogate pair D83D DE00 in UTF-16, so it sorts before U+FF61,
    # although its code point is higher.
    value = {"\uff61": 1, "\U0001f600": 2, "a": 3, "\u00e9": 4}
    assert canonical_json(value) == '{"a":3,"é":4,"😀":2,"｡":1}'.encode()


def test_rfc8785_sorting_example():
    # The property-sorting example of RFC 8785 section 3.2.3.
    value = {"\u20ac": "Euro Sign", "\r": "Carriage Return", "\ufb33": "Hebrew Letter Dalet With Dagesh",
             "1": "One", "\U0001f600": "Emoji: Grinning Face", "\u0080": "Control", "\u00f6": "Latin Small Letter O With Diaeresis"}
    keys = list(__import__("json").loads(canonical_json(value)))
    assert keys == ["\r", "1", "\u0080", "\u00f6", "\u20ac", "\U0001f600", "\ufb33"]


def test_non_ascii_unescaped_and_controls_escaped():
    out = canonical_json({"note": "镜头已清洁 ✓", "raw": "a\nb\t\u001f\"\\/"})
    assert "镜头已清洁 ✓".encode() in out
    assert b"\\u" + b"955c" not in out
    assert out == '{"note":"镜头已清洁 ✓","raw":"a\\nb\\t\\u001f\\"\\\\/"}'.encode()


def test_integers_as_plain_digits():
    assert canonical_json({"n": 2**53 - 1, "m": -42, "z": 0}) == b'{"m":-42,"n":9007199254740991,"z":0}'


@pytest.mark.parametrize("value", [1.5, {"a": 1.0}, [0, [2.5]], {"a": {"b": [1e3]}}])
def test_floats_refused(value):
    with pytest.raises(TypeError):
        canonical_json(value)


def test_nested_dicts_in_lists_sorted():
    assert canonical_json([{"b": 1, "a": 2}]) == b'[{"a":2,"b":1}]'


def test_sha256_hex():
    assert sha256_hex(b"") == "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
