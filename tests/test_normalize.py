"""The hot-path phone and email shortcuts agree with the model's own normalisation."""

from __future__ import annotations

from collections.abc import Callable

import phonenumbers
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from crmbridge import normalize as fastnorm
from crmbridge.model import normalize_email, normalize_phone

CODES = sorted(phonenumbers.COUNTRY_CODE_TO_REGION_CODE)


def _outcome(fn: Callable[..., str], *args: object) -> str | None:
    try:
        return fn(*args)
    except ValueError:
        return None


@settings(max_examples=3000)
@given(st.sampled_from(CODES), st.integers(min_value=0, max_value=10**12))
def test_e164_shortcut_agrees_with_the_model(code: int, national: int) -> None:
    value = f"+{code}{national}"
    assert _outcome(fastnorm.phone, value, None) == _outcome(normalize_phone, value, None)


@pytest.mark.parametrize("region", ["CN", "US", "GB", "DE", "JP", "IT", "RU", "FR"])
def test_e164_shortcut_agrees_on_real_shapes(region: str) -> None:
    for kind in (phonenumbers.PhoneNumberType.MOBILE, phonenumbers.PhoneNumberType.FIXED_LINE):
        example = phonenumbers.example_number_for_type(region, kind)
        assert example is not None
        e164 = phonenumbers.format_number(example, phonenumbers.PhoneNumberFormat.E164)
        for tail in range(100):
            value = f"{e164[:-2]}{tail:02d}"
            assert _outcome(fastnorm.phone, value, region) == _outcome(
                normalize_phone, value, region
            )


@settings(max_examples=2000)
@given(
    st.one_of(
        st.emails(),
        st.from_regex(
            r"[A-Za-z0-9._%+-]{1,20}@[A-Za-z0-9.-]{1,20}\.[A-Za-z0-9]{1,6}", fullmatch=True
        ),
    )
)
def test_email_shortcut_agrees_with_the_model(value: str) -> None:
    assert _outcome(fastnorm.email, value) == _outcome(normalize_email, value)


@pytest.mark.parametrize(
    "value",
    [
        "a@b.test",
        "x@localhost.com",
        "a@xn--fsq.com",
        "A.B@Example.COM",
        "a..b@c.com",
        "WWW@0.AA",  # RFC 2142 role mailboxes are lower-cased whole
        "Sales@Example.com",
        "0@00--0.AA",  # IDNA reserves labels with `--` after two characters
    ],
)
def test_email_shortcut_on_special_cases(value: str) -> None:
    assert _outcome(fastnorm.email, value) == _outcome(normalize_email, value)


@pytest.mark.parametrize(
    ("written", "stored", "national"),
    [
        ("+1 415 555 0100 ext. 123", "+14155550100;ext=123", "(415) 555-0100 ext. 123"),
        ("0755-8888 6666 x801", "+8675588886666;ext=801", "0755 8888 6666 ext. 801"),
        ("+14155550100;ext=123", "+14155550100;ext=123", "(415) 555-0100 ext. 123"),
    ],
)
def test_a_phone_extension_is_kept_and_reads_back_the_same(
    written: str, stored: str, national: str
) -> None:
    region = "US" if national.startswith("(") else "CN"
    assert fastnorm.phone(written, "CN") == stored
    assert fastnorm.phone(stored, "CN") == stored  # what the hub holds normalises to itself
    assert fastnorm.phone_format(stored, region, "national") == national
