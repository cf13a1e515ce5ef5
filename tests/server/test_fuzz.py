"""Schemathesis against /schema/openapi.json on the ASGI app (no network), with a
technician's and a supervisor's token: no 5xx, and every response is one the
description declares, of the declared media type and shape.

Short and repeatable: derandomized, 25 examples per operation and role. The
cases go through Litestar's own ASGI test client (the app in this process,
lifespan started): schemathesis' ASGI transport leaves an anyio stream
unclosed per request, which pytest's `filterwarnings = error` turns into a
failure.
"""

from __future__ import annotations

from typing import Any

import pytest
import schemathesis
from hypothesis import HealthCheck, given
from hypothesis import settings as hsettings
from hypothesis import strategies as st
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import (
    content_type_conformance,
    response_schema_conformance,
    status_code_conformance,
)

from sync import hlc

BASE = "http://testserver.local"


def _send(http: Any, case: Any, headers: dict[str, str]) -> Any:
    """Send a case through the app's ASGI test client (its requests-style arguments, as httpx takes them)."""
    kwargs = case.as_transport_kwargs(base_url=BASE, headers=headers)
    body: dict[str, Any] = {}
    if "json" in kwargs:
        body["json"] = kwargs["json"]
    elif isinstance(kwargs.get("data"), (bytes, str)):
        body["content"] = kwargs["data"]
    elif kwargs.get("data") is not None:
        body["data"] = kwargs["data"]
    return http.request(kwargs["method"], kwargs["url"], headers=kwargs["headers"], params=kwargs["params"], **body)


def _steer(case: Any, known: bool, real: dict[str, str], client_id: str) -> None:
    """Reach past the first check of each operation: half the cases name real objects, and
    every push names the token's own client and every tus request the tus version."""
    if known:
        for params in (case.path_parameters, case.query):
            for name in list(params or {}):
                if name in real:
                    params[name] = real[name]
    if isinstance(case.body, dict) and "client_id" in case.body:
        case.body.update(client_id=client_id, protocol=1, client_time=hlc.format_ts(hlc.wall_ms()))
        changes = case.body.get("changes")
        if known and isinstance(changes, list):
            # Consecutive seqs from 1 and this client's HLCs: the changes reach the merge rules.
            for seq, change in enumerate(changes, start=1):
                if isinstance(change, dict):
                    change.update(seq=seq, hlc=f"{hlc.wall_ms():013d}-0000-{client_id}")
    if known and isinstance(case.body, dict) and "period" in case.body:
        case.body["period"] = real["period"]
    if case.path.startswith("/files"):
        case.headers = {**(case.headers or {}), "Tus-Resumable": "1.0.0"}


CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]
EXAMPLES = 25


@pytest.mark.parametrize("username", ["wang", "lin"])
def test_every_operation_answers_as_documented(username, http, site):
    schema = schemathesis.openapi.from_dict(http.get("/schema/openapi.json").json())
    token = http.post("/auth/token", json={"username": username, "password": "demo", "client_name": "fuzz"}).json()
    headers = {"Authorization": f"Bearer {token['token']}"}
    real = {"site_id": site["site"], "inspection_id": site["inspection"], "device_id": site["cam1"],
            "username": "zhao", "period": "2026-Q4"}
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 20

    failures: list[str] = []
    for operation in operations:

        @hsettings(max_examples=EXAMPLES, derandomize=True, database=None, deadline=None,
                   suppress_health_check=list(HealthCheck))
        @given(case=operation.as_strategy(), known=st.booleans())
        def run(case: Any, known: bool) -> None:
            _steer(case, known, real, token["client_id"])
            response = _send(http, case, headers)
            case.validate_response(response, checks=CHECKS)

        try:
            run()
        except Exception as exc:  # collect every operation's failure, then report them together
            failures.append(f"{operation.method.upper()} {operation.path}: {exc}")
    assert failures == []
