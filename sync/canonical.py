"""RFC 8785 canonical JSON for the values this protocol carries.

Keys sorted by UTF-16 code units, no whitespace, UTF-8 as is (no ``\\u``
escapes except for control characters), integers as plain digits. Floats
never travel in this protocol (decimals are strings), so they are refused.
"""

from __future__ import annotations

import hashlib
import json
from typing import Any


def _check(value: Any) -> None:
    if isinstance(value, float):
        raise TypeError("floats are not part of the protocol; send decimals as strings")
    if isinstance(value, dict):
        for v in value.values():
            _check(v)
    elif isinstance(value, list):
        for v in value:
            _check(v)


def _sorted(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _sorted(value[k]) for k in sorted(value, key=lambda k: k.encode("utf-16-be"))}
    if isinstance(value, list):
        return [_sorted(v) for v in value]
    return value


def canonical_json(value: Any) -> bytes:
    _check(value)
    return json.dumps(_sorted(value), ensure_ascii=False, separators=(",", ":")).encode("utf-8")


def sha256_hex(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()
