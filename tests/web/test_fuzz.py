"""Malformed headers, bodies, signatures and timestamps: never a 500, never a hub change."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from crmbridge.signatures import sign_standard
from crmbridge.web import create_app

from .support import SECRET, TOKEN, SyncClient, hub_counts, make_bridge

ALLOWED = {200, 202, 400, 401, 404, 405, 409, 413, 422}
HEADER_TEXT = st.text(st.characters(min_codepoint=0x20, max_codepoint=0x7E), max_size=80)


@pytest.fixture(scope="module")
def app_client(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Any, SyncClient]]:
    tmp = tmp_path_factory.mktemp("fuzz")
    bridge = make_bridge(tmp, f"sqlite:///{Path(tmp) / 'hub.db'}")
    client = SyncClient(create_app(bridge))
    try:
        yield bridge, client
    finally:
        client.close()
        bridge.close()


def _mutations() -> st.SearchStrategy[tuple[str, str]]:
    return st.tuples(
        st.sampled_from(["webhook-id", "webhook-timestamp", "webhook-signature"]), HEADER_TEXT
    )


@settings(
    max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    body=st.one_of(st.binary(max_size=600), st.text(max_size=300).map(str.encode)),
    drop=st.sets(st.sampled_from(["webhook-id", "webhook-timestamp", "webhook-signature"])),
    changes=st.lists(_mutations(), max_size=3),
    skew=st.sampled_from([0, 299, -299, 301, -301, 10**9]),
    connector=st.sampled_from(["peer", "gh", "zc", "open", "mem", "ghost"]),
)
def test_webhook_fuzz(
    app_client: tuple[Any, SyncClient],
    body: bytes,
    drop: set[str],
    changes: list[tuple[str, str]],
    skew: int,
    connector: str,
) -> None:
    bridge, client = app_client
    stamp = int(datetime.now(UTC).timestamp()) + skew
    headers = {
        "webhook-id": "msg_fuzz",
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign_standard(SECRET, "msg_fuzz", stamp, body),
    }
    for name in drop:
        headers.pop(name)
    for name, value in changes:
        headers[name] = value
    before = hub_counts(bridge)
    answer = client.post(f"/webhooks/{connector}", content=body, headers=headers)
    assert answer.status_code in ALLOWED, answer.text
    assert set(answer.json()) >= {"error", "message"} or answer.status_code in (200, 202)
    if answer.status_code not in (200, 202):
        assert hub_counts(bridge) == before
    original = sign_standard(SECRET, "msg_fuzz", stamp, body).partition(",")[2]
    for secret in (SECRET, TOKEN, original):
        assert secret not in answer.text


@settings(
    max_examples=80, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    record=st.dictionaries(
        st.sampled_from(
            ["id", "email", "full_name", "phone", "power", "tags", "crmbridge_id", "deleted"]
        ),
        st.one_of(
            st.none(),
            st.booleans(),
            st.integers(),
            st.text(max_size=20),
            st.lists(st.text(max_size=5), max_size=3),
        ),
    ),
    kind=st.sampled_from(
        ["stakeholder.created", "stakeholder.deleted", "organization.updated", "x", "", None]
    ),
)
def test_signed_payload_fuzz(
    app_client: tuple[Any, SyncClient], record: dict[str, Any], kind: Any
) -> None:
    """Correctly signed events of every shape: accepted (202/200) or a 4xx that stores nothing."""
    bridge, client = app_client
    body = json.dumps({"type": kind, "data": record}).encode()
    msg_id = f"msg_{abs(hash(body))}"
    stamp = int(datetime.now(UTC).timestamp())
    headers = {
        "webhook-id": msg_id,
        "webhook-timestamp": str(stamp),
        "webhook-signature": sign_standard(SECRET, msg_id, stamp, body),
    }
    before = hub_counts(bridge)["webhook_inbox"]
    answer = client.post("/webhooks/peer", content=body, headers=headers)
    assert answer.status_code in (200, 202, 422), answer.text
    if answer.status_code == 422:
        assert hub_counts(bridge)["webhook_inbox"] == before


def test_schemathesis_finds_no_server_error(app_client: tuple[Any, SyncClient]) -> None:
    """Every documented operation, fed schema-derived and malformed input: no 5xx."""
    import schemathesis

    bridge, client = app_client
    schema = schemathesis.openapi.from_asgi("/openapi.json", client.app)
    before = hub_counts(bridge)
    failures: list[str] = []

    @settings(max_examples=150, deadline=None, suppress_health_check=list(HealthCheck))
    @given(case=schema.as_strategy())
    def check(case: Any) -> None:
        response = case.call(headers={"Authorization": f"Bearer {TOKEN}"})
        if response.status_code >= 500:
            failures.append(f"{case.method} {case.formatted_path}: {response.status_code}")

    check()
    assert failures == []
    assert hub_counts(bridge)["records"] == before["records"]
