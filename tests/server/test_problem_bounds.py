"""A problem body echoes at most `max_detail_chars` of what a client sent (session 27, ops7): every string a client
sends is bounded before it is logged or echoed, a path, a query string and a header included."""

from __future__ import annotations

from typing import Any

import pytest

from bench import _tus as tus
from server.settings import Settings
from tests.conftest import Session

MOST = Settings.max_detail_chars  # 512


def _bounded(body: dict[str, Any]) -> None:
    for key, value in body.items():
        assert not isinstance(value, str) or len(value) <= MOST, (key, len(value))


@pytest.mark.parametrize("tail", ["", "/thumbnail?size=160"])
def test_a_blobs_404_names_at_most_a_hashs_length_of_the_path(wang: Session, tail: str) -> None:
    # Regression (s27 ops7): media.readable's 404 said "no blob <the path's text>", whole: a 60,000-character
    # path came back as a 60,114-byte problem body.
    r = wang.http.get(f"/blobs/{'a' * 60_000}{tail}", headers=wang.headers)
    assert (r.status_code, r.json()["code"]) == (404, "not_found")
    assert r.json()["detail"] == f"no blob {'a' * 64}…"
    assert len(r.content) < 1_000


def test_litestars_own_refusal_quoting_the_query_string_is_bounded(lin: Session) -> None:
    # Regression (s27 ops7): "Missing required query parameter 'to' for path /api/reports/faults?from=…" quoted
    # the whole query string, 20,000 characters of it.
    r = lin.http.get("/api/reports/faults", params={"from": "2026-" + "1" * 20_000}, headers=lin.headers)
    assert (r.status_code, r.json()["code"]) == (400, "invalid_request")
    assert r.json()["detail"].startswith("Missing required query parameter 'to'")
    _bounded(r.json())


def test_an_upload_length_header_that_is_no_number_is_quoted_bounded(wang: Session) -> None:
    # Regression (s27 ops7): `Upload-Length must be a non-negative integer, not '<the header>'`, whole.
    r = wang.http.post("/files", headers={**wang.headers, **tus.TUS, "Upload-Length": "9" * 10_000 + "x",
                                          "Upload-Metadata": tus.metadata("0" * 64, "image/jpeg")})
    assert (r.status_code, r.json()["code"]) == (400, "invalid_request")
    assert r.json()["detail"].startswith("Upload-Length (deferred lengths are not supported) must be")
    _bounded(r.json())
