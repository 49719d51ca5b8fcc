"""crmbridge.signatures against the Standard Webhooks test vectors and the standardwebhooks package."""

from __future__ import annotations

import base64
import json
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st
from standardwebhooks import Webhook

from crmbridge.signatures import (
    SignatureError,
    hmac_signature,
    sign_standard,
    standard_headers,
    tokens_match,
    verify_hmac,
    verify_standard,
    verify_zoho_notification,
)

VECTORS: dict[str, Any] = json.loads(
    Path("/work/shared/fixtures/webhooks/vectors.json").read_text(encoding="utf-8")
)


@pytest.mark.parametrize("vector", VECTORS["vectors"], ids=lambda v: v["name"])
def test_signs_like_the_reference(vector: dict[str, Any]) -> None:
    body = vector["body"].encode()
    assert (
        sign_standard(vector["secret"], vector["msg_id"], vector["timestamp"], body)
        == (vector["expected_signature"])
    )
    found = verify_standard(
        [vector["secret"]], vector["headers"], body, now=vector["timestamp"] + 1
    )
    assert found == vector["msg_id"]


def test_rotation_accepts_old_and_new_secret_and_ignores_unknown_versions() -> None:
    vector = VECTORS["vectors"][2]
    body = vector["body"].encode()
    for secrets in (
        [vector["secret"]],
        [vector["old_secret"]],
        ["whsec_" + "A" * 44, vector["old_secret"]],
    ):
        verify_standard(secrets, vector["headers"], body, now=vector["timestamp"] + 1)


@pytest.mark.parametrize("case", VECTORS["edge_cases"], ids=lambda c: c["name"])
def test_edge_cases(case: dict[str, Any]) -> None:
    body = case["body"].encode()
    now = case.get("verify_at_unix", 1614265331)

    def check() -> str:
        return verify_standard([case["secret"]], case["headers"], body, now=now)

    if case["expected"] == "accept":
        check()
    else:  # reject, and the implementation-defined fractional timestamp: rejected as malformed
        with pytest.raises(SignatureError) as info:
            check()
        assert case["secret"] not in str(info.value)
        assert case["headers"].get("webhook-signature", "#") not in str(info.value)


OFFERED = [s for s in VECTORS["other_schemes"] if s["scheme"] in ("github", "shopify")]


@pytest.mark.parametrize("scheme", OFFERED, ids=lambda s: s["scheme"])
def test_other_schemes(scheme: dict[str, Any]) -> None:
    body = scheme["body"].encode()
    if scheme["scheme"] == "github":
        verify_hmac(
            [scheme["secret"]],
            scheme["expected_header_value"],
            body,
            header=scheme["header"],
            prefix="sha256=",
        )
        assert "sha256=" + hmac_signature(scheme["secret"], body) == scheme["expected_header_value"]
    elif scheme["scheme"] == "shopify":
        verify_hmac(
            [scheme["secret"]],
            scheme["expected_header_value"],
            body,
            header=scheme["header"],
            encoding="base64",
        )
        with pytest.raises(SignatureError):
            verify_hmac(
                ["wrong"],
                scheme["expected_header_value"],
                body,
                header=scheme["header"],
                encoding="base64",
            )


def test_hmac_compares_bytes_not_text() -> None:
    value = "sha256=" + hmac_signature("s3cret", b"x").upper()
    verify_hmac(["s3cret"], value, b"x", header="X-Sig", prefix="sha256=")
    for bad in (None, "", "sha1=abc", "sha256=zz", "sha256=" + "0" * 64):
        with pytest.raises(SignatureError):
            verify_hmac(["s3cret"], bad, b"x", header="X-Sig", prefix="sha256=")


# -- interop with the reference library, both ways ------------------------------------------


JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53), 2**53) | st.text(max_size=30),
    lambda inner: (
        st.lists(inner, max_size=4) | st.dictionaries(st.text(max_size=8), inner, max_size=4)
    ),
    max_leaves=20,
)


@given(value=JSON, msg=st.from_regex(r"msg_[A-Za-z0-9]{1,30}", fullmatch=True))
def test_reference_library_verifies_what_we_sign(value: Any, msg: str) -> None:
    body = json.dumps(value, ensure_ascii=False).encode()
    secret = VECTORS["vectors"][1]["secret"]
    stamp = int(datetime.now(UTC).timestamp())
    headers = standard_headers([secret], msg, stamp, body)
    Webhook(secret).verify(body, headers)


@given(
    body=JSON.map(lambda v: json.dumps(v, ensure_ascii=False)),
    msg=st.from_regex(r"msg_[A-Za-z0-9]{1,30}", fullmatch=True),
)
def test_we_verify_what_the_reference_library_signs(body: str, msg: str) -> None:
    secret = VECTORS["vectors"][0]["secret"]
    moment = datetime.now(UTC)
    signature = Webhook(secret).sign(msg, moment, body)
    headers = {
        "webhook-id": msg,
        "webhook-timestamp": str(int(moment.timestamp())),
        "webhook-signature": signature,
    }
    assert verify_standard([secret], headers, body.encode(), now=moment.timestamp()) == msg


def test_dual_signing_verifies_with_either_secret() -> None:
    old, new = VECTORS["vectors"][2]["old_secret"], VECTORS["vectors"][2]["secret"]
    headers = standard_headers([new, old], "msg_1", 1_700_000_000, b"{}")
    for secret in (old, new):
        verify_standard([secret], headers, b"{}", now=1_700_000_000)


def test_ids_with_a_dot_are_refused_when_signing() -> None:
    with pytest.raises(ValueError, match="must not contain"):
        standard_headers(["whsec_" + base64.b64encode(b"k" * 32).decode()], "a.b", 1, b"")


def test_tokens() -> None:
    assert tokens_match(["abc", "def"], "def")
    assert not tokens_match(["abc"], "abd")
    assert not tokens_match(["abc"], "")
    assert not tokens_match([""], "")
    assert not tokens_match(["abc"], None)


def test_zoho_notification_by_token() -> None:
    body = json.dumps(
        {
            "token": "t0k",
            "ids": ["2", "1"],
            "channel_id": "9",
            "server_time": 1,
            "operation": "update",
        }
    ).encode()
    first = verify_zoho_notification(["t0k"], body)
    again = json.dumps(
        {
            "token": "t0k",
            "ids": ["1", "2"],
            "channel_id": "9",
            "server_time": 1,
            "operation": "update",
        }
    ).encode()
    assert verify_zoho_notification(["t0k"], again) == first
    with pytest.raises(SignatureError) as info:
        verify_zoho_notification(["other"], body)
    assert "t0k" not in str(info.value)
    with pytest.raises(ValueError, match="JSON"):
        verify_zoho_notification(["t0k"], b"{")
