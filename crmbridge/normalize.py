"""Phone numbers and email addresses as the hub keeps them: E.164 and normalised addresses.

:func:`normalize_phone` and :func:`normalize_email` define what a canonical
phone and email are (libphonenumber and email-validator decide). :func:`phone`
and :func:`email` give the same answers faster, for the hot paths of mapping
and validation, and remember recent answers per ``(value, region)``:

- a phone already written ``+<digits>`` is checked against the libphonenumber
  metadata directly, without the general parser;
- a plain ASCII address (dot-atom local part that is no RFC 2142 role name,
  lower-case-able LDH domain with an alphabetic top-level domain, no IDNA, no
  special-use domain) only has its domain lower-cased, which is all
  email-validator would do to it.

Anything else goes through the defining functions; tests check the two agree.
"""

from __future__ import annotations

import functools
import re
from typing import Any, Final

import phonenumbers
from email_validator import (
    SPECIAL_USE_DOMAIN_NAMES,
    EmailNotValidError,
    rfc_constants,
    validate_email,
)

__all__ = ["email", "normalize_email", "normalize_phone", "phone", "phone_format"]


def normalize_email(value: str) -> str:
    """Validate an address and return its normalised form (domain lower-cased, IDNA folded).

    Raises :class:`ValueError` naming the value when it is not an address.
    """
    try:
        return validate_email(value.strip(), check_deliverability=False).normalized
    except EmailNotValidError as exc:
        raise ValueError(f"{value!r} is not an email address: {exc}") from None


def normalize_phone(value: str, region: str | None = None) -> str:
    """Parse a phone number to E.164 (``138 0013 8000`` with region ``CN`` -> ``+8613800138000``).

    An extension is kept after ``;ext=``, as RFC 3966 writes it (``+1 415 555 0100
    ext. 123`` -> ``+14155550100;ext=123``): E.164 has no place for one, and
    dropping it would lose the way to reach the person. Without ``region`` the
    number must start with ``+`` and its country code. Raises
    :class:`ValueError` naming the value when it is not a valid number.
    """
    text = value.strip()
    try:
        parsed = phonenumbers.parse(text, region)
    except phonenumbers.NumberParseException as exc:
        hint = "" if region or text.startswith("+") else " (no default phone region is set)"
        raise ValueError(f"{value!r} is not a phone number: {exc}{hint}") from None
    if not phonenumbers.is_valid_number(parsed):
        raise ValueError(f"{value!r} is not a valid phone number")
    number = phonenumbers.format_number(parsed, phonenumbers.PhoneNumberFormat.E164)
    return f"{number};ext={parsed.extension}" if parsed.extension else number


_CACHED: Final = 8192
"""Values each cache below remembers. A value is normalised again within a few thousand calls
(by the mapping, the model, the identity keys, a page of up to a few thousand records apart);
more only costs memory: at 65,536 each cache held about 15 MB in every process of a
million-row migration."""

_E164: Final = re.compile(r"\+[1-9][0-9]{5,14}")
_ATOM: Final = r"[A-Za-z0-9!#$%&'*+/=?^_`{|}~-]+"
_LABEL: Final = r"[A-Za-z0-9](?:[A-Za-z0-9-]{0,61}[A-Za-z0-9])?"
_EMAIL: Final = re.compile(
    rf"(?P<local>{_ATOM}(?:\.{_ATOM})*)@(?P<domain>(?:{_LABEL}\.)+[A-Za-z]{{2,63}})"
)
# every special-use name is one label, so checking the last label is enough
_SPECIAL: Final = frozenset(SPECIAL_USE_DOMAIN_NAMES)
assert all("." not in name for name in _SPECIAL)
# role mailboxes (RFC 2142: sales@, www@, ...) whose local part email-validator lower-cases
_ROLES: Final = frozenset(getattr(rfc_constants, "CASE_INSENSITIVE_MAILBOX_NAMES", ()))


@functools.lru_cache(maxsize=_CACHED)
def phone(value: str, region: str | None) -> str:
    """``value`` as E.164, read in ``region`` when it has no country code.

    Raises :class:`ValueError` naming the value when it is not a valid number.
    """
    # only a sure "valid" is answered here: the parser may still rewrite what looks invalid
    if _E164.fullmatch(value) and _e164_valid(value):
        return value
    return normalize_phone(value, region)


def _e164_valid(value: str) -> bool | None:
    """Whether an E.164-shaped number is valid; ``None`` when the general parser must decide."""
    for size in (1, 2, 3):
        code = int(value[1 : 1 + size])
        regions = phonenumbers.COUNTRY_CODE_TO_REGION_CODE.get(code)
        if regions is None:
            continue
        national = value[1 + size :]
        if not national or national[0] == "0":
            # leading zeros (Italy) and national prefixes are the parser's business
            return None
        if len(regions) == 1 and (rules := _rules(regions[0])) is not None:
            prefix, general, types = rules
            if prefix is not None and prefix.match(national):
                return None  # the parser may take these digits for a national prefix
            return _matches(national, general, types)
        number = phonenumbers.PhoneNumber(country_code=code, national_number=int(national))
        return bool(phonenumbers.is_valid_number(number))
    return None


_Desc = tuple[frozenset[int], "re.Pattern[str]"]


@functools.cache
def _rules(region: str) -> tuple[re.Pattern[str] | None, _Desc, tuple[_Desc, ...]] | None:
    """libphonenumber's validity rules of one region, compiled once.

    A number is valid when it matches the general description and one of the
    type descriptions (mobile only when its pattern differs from fixed line),
    which is what ``phonenumbers.is_valid_number`` decides for a region that
    owns its country code alone.
    """
    meta = phonenumbers.PhoneMetadata.metadata_for_region(region, None)
    if meta is None or meta.general_desc is None:
        return None

    def desc(item: Any) -> _Desc | None:
        if item is None or not item.national_number_pattern:
            return None
        return frozenset(item.possible_length), re.compile(item.national_number_pattern)

    general = desc(meta.general_desc)
    if general is None:
        return None
    types = [
        meta.mobile if not meta.same_mobile_and_fixed_line_pattern else None,
        meta.fixed_line,
        meta.premium_rate,
        meta.toll_free,
        meta.shared_cost,
        meta.voip,
        meta.personal_number,
        meta.pager,
        meta.uan,
        meta.voicemail,
    ]
    prefix = meta.national_prefix_for_parsing or meta.national_prefix
    compiled = re.compile(prefix) if prefix else None
    return compiled, general, tuple(d for d in map(desc, types) if d is not None)


def _matches(national: str, general: _Desc, types: tuple[_Desc, ...]) -> bool:
    size = len(national)

    def fits(item: _Desc) -> bool:
        lengths, pattern = item
        return (not lengths or size in lengths) and pattern.fullmatch(national) is not None

    return fits(general) and any(fits(item) for item in types)


@functools.lru_cache(maxsize=_CACHED)
def phone_format(value: str, region: str | None, style: str) -> str:
    """An E.164 number (and its extension) written for people: ``national`` when it belongs
    to ``region``, else ``international``.

    ``style`` is ``national`` or ``international``; numbers of other regions
    keep their country code so they read back the same.
    """
    number = phonenumbers.parse(value, None)
    if style == "national" and phonenumbers.region_code_for_number(number) == region:
        return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.NATIONAL))
    return str(phonenumbers.format_number(number, phonenumbers.PhoneNumberFormat.INTERNATIONAL))


@functools.lru_cache(maxsize=_CACHED)
def email(value: str) -> str:
    """``value`` as the model normalises an email address; :class:`ValueError` when it is not one."""
    match = _EMAIL.fullmatch(value)
    if match is not None and len(value) <= 254 and len(match["local"]) <= 64:
        domain = match["domain"].lower()
        if (
            "--" not in domain  # IDNA's reserved `ab--` labels and Punycode: the full check's
            and domain[domain.rfind(".") + 1 :] not in _SPECIAL
            and match["local"].lower() not in _ROLES
        ):
            return f"{match['local']}@{domain}"
    return normalize_email(value)
