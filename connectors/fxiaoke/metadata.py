"""Object descriptions (``object/describe``) and the mapping check against them.

The manual puts ``apiName``/``includeDetail`` inside ``data``; two public
clients send them at the top level. The documented form is sent first and,
should Fxiaoke refuse its parameters, the other once.

A description's ``fields`` are keyed by field apiName (a list of fields with
``api_name`` is read too); each has ``type``, ``is_unique``, ``options``
(``[{label, value}]`` for select fields: the *values* are what the API reads
and writes) and ``define_type``. Records carry ``<field>__r`` beside lookups, employees,
departments and selects (the expanded name or label): those count as
read-only fields of the object, so a mapping may read ``owner__r.name``.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from connectors.fxiaoke.client import FxiaokeClient
from connectors.fxiaoke.codes import PARAMETER, FxiaokeError
from crmbridge.errors import ConfigError
from crmbridge.mapping import CompiledMapping, RemoteField, RemoteFields, require_fits_remote

__all__ = ["DESCRIBE_PATH", "Described", "check_mapping_against", "describe", "field_info"]

DESCRIBE_PATH = "/cgi/crm/v2/object/describe"
_SELECT = frozenset({"select_one", "select_many"})
#: field types whose records carry an expanded ``<field>__r`` beside the raw value
_EXPANDED = frozenset({"employee", "department", "object_reference", "record_type", *_SELECT})
Json = dict[str, Any]


@dataclass(frozen=True, slots=True)
class Described:
    """One object's fields as :class:`RemoteFields` (named as the mapping names the object) and its unique ones."""

    api_name: str
    fields: RemoteFields
    unique: frozenset[str]


def _items(fields: Any) -> list[Json]:
    if isinstance(fields, Mapping):
        return [{"api_name": k, **v} for k, v in fields.items() if isinstance(v, Mapping)]
    if isinstance(fields, list):
        return [f for f in fields if isinstance(f, dict)]
    return []


def field_info(remote: str, fields: Any) -> tuple[RemoteFields, frozenset[str]]:
    """A description's ``fields`` as :class:`RemoteFields` named ``remote``, and the unique ones."""
    found: dict[str, RemoteField] = {}
    unique: set[str] = set()
    for item in _items(fields):
        name = item.get("api_name")
        if not isinstance(name, str) or not name:
            continue
        picklist = None
        if item.get("type") in _SELECT and isinstance(item.get("options"), list):
            picklist = tuple(
                str(o["value"]) for o in item["options"] if isinstance(o, dict) and "value" in o
            )
        found[name] = RemoteField(
            name,
            read_only=item.get("is_readonly") is True,
            picklist=picklist,
            data_type=str(item.get("type")) if item.get("type") else None,
            custom=item.get("define_type") == "custom",
        )
        if item.get("is_unique") is True:
            unique.add(name)
        if item.get("type") in _EXPANDED:
            found.setdefault(f"{name}__r", RemoteField(f"{name}__r", read_only=True))
    return RemoteFields(remote, found), frozenset(unique)


def _fields_of(data: Any) -> Any:
    if not isinstance(data, Mapping):
        return None
    inner = data.get("describe")
    if isinstance(inner, Mapping) and "fields" in inner:
        return inner["fields"]
    return data.get("fields")


async def describe(client: FxiaokeClient, api_name: str, remote: str, *, setting: str) -> Described:
    """Describe ``api_name``; :class:`ConfigError` naming ``setting`` when Fxiaoke has no such object."""
    body = {"apiName": api_name, "includeDetail": False}
    try:
        try:
            answer = await client.call(DESCRIBE_PATH, body)
        except FxiaokeError as exc:
            if exc.code not in PARAMETER:
                raise
            answer = await client.call(DESCRIBE_PATH, {}, extra=body)
    except FxiaokeError as exc:
        raise ConfigError(
            f"Fxiaoke cannot describe object {api_name} ({exc.message}); set its apiName "
            f"with {setting}",
            key=setting,
            connector=client.connector,
            entity=api_name,
        ) from None
    fields = _fields_of(answer.data)
    if fields is None:
        raise ConfigError(
            f"Fxiaoke's description of {api_name} lists no fields (traceId {answer.trace_id}); "
            f"check {setting}",
            key=setting,
            connector=client.connector,
            entity=api_name,
        )
    remote_fields, unique = field_info(remote, fields)
    return Described(api_name, remote_fields, unique)


def check_mapping_against(
    mapping: CompiledMapping,
    described: Sequence[Described],
    *,
    id_field: str,
    writes: Iterable[str],
    connector: str | None,
) -> None:
    """Raise :class:`ConfigError` for the first mapping problem against the objects' descriptions.

    Beyond :func:`check_against_remote` (unknown fields, read-only fields,
    pick-list values that are not option values), every object in ``writes``
    (api names) needs the crmbridge id field, which is how a create that may
    have reached Fxiaoke already is found again.
    """
    require_fits_remote(mapping, [d.fields for d in described], connector=connector)
    by_api = {d.api_name: d for d in described}
    for api_name in writes:
        found = by_api.get(api_name)
        if found is not None and id_field not in found.fields.fields:
            raise ConfigError(
                f"Fxiaoke object {api_name} has no field {id_field!r}: create a single-line text "
                "custom field with that apiName (ideally with 'no duplicates'), or set "
                "crmbridge_id_field",
                key="crmbridge_id_field",
                connector=connector,
                entity=api_name,
                field=id_field,
            )
