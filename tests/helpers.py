"""Assertions and loops the test modules share."""

from __future__ import annotations

from typing import Any

PROBLEM = "application/problem+json"


def ok(response: Any) -> Any:
    """The JSON body of a 200 response."""
    assert response.status_code == 200, response.text
    return response.json()


def problem(response: Any, status: int, code: str) -> dict[str, Any]:
    """An RFC 9457 problem body with this status and stable code, whole and well formed."""
    assert response.status_code == status, response.text
    assert response.headers["content-type"].split(";")[0] == PROBLEM
    body = response.json()
    assert body["type"] == f"urn:fieldsync:problem:{code}"
    assert body["code"] == code and body["status"] == status
    assert isinstance(body["title"], str) and body["title"]
    assert isinstance(body["detail"], str) and body["detail"]
    assert response.headers.get("fieldsync-server-epoch")
    return body  # type: ignore[no-any-return]


def pull_all(session: Any, cursor: str = "0", limit: int = 2) -> tuple[list[dict[str, Any]], str]:
    """Every page from a cursor to the end: the rows in order, and the final cursor."""
    rows: list[dict[str, Any]] = []
    while True:
        body = ok(session.pull(cursor=cursor, limit=limit))
        rows += body["rows"]
        cursor = body["cursor"]
        if not body["has_more"]:
            return rows, cursor
