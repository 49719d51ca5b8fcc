"""Round trip: for every shipped mapping, canonical -> remote -> canonical gives the mapped fields back."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from mapping_strategies import LINKED, records

from crmbridge.errors import RecordRejected
from crmbridge.mapping import (
    REMOTE_KEY,
    CompiledMapping,
    DictResolver,
    EntityMapper,
    join_name,
    load_mapping,
    shipped_mapping_path,
)
from crmbridge.mapping.spec import NOT_SET

RESOLVER = DictResolver(LINKED)
MAPPINGS = {
    name: load_mapping(shipped_mapping_path(name), phone_region="CN", timezone="Asia/Shanghai")
    for name in ("zoho", "csv", "webhook")
}
CASES = [(name, entity) for name, mapping in MAPPINGS.items() for entity in mapping.entities]

# Pushes a mapping is allowed to refuse, by design: a value the remote cannot hold.
REFUSED = {("zoho", "interactions"): {"participant_ids", "direction"}}


def round_trip_fields(mapping: CompiledMapping, entity: str, record: dict[str, Any]) -> set[str]:
    """Canonical fields mapped both ways for this record (its variant's, for variant entities)."""
    spec = mapping.spec.entities[entity]
    pairs = list(spec.fields)
    for variant in spec.variants.values():
        if record.get(spec.variant_by or "") in variant.when:
            pairs += variant.fields
    found: set[str] = set()
    for pair in pairs:
        if pair.direction == "both" and pair.const is NOT_SET and pair.canonical:
            found.add(pair.canonical)
    return found


def as_file(payload: dict[str, Any]) -> dict[str, Any]:
    """What a CSV file gives back: text cells, empty ones as ''."""
    return {key: "" if value is None else value for key, value in payload.items()}


def expected(mapper: EntityMapper, name: str, record: dict[str, Any]) -> Any:
    parts = record.get("given_name") or record.get("family_name")
    if name == "full_name" and mapper.connector == "zoho" and parts:
        # pushed as Zoho's First_Name/Last_Name, preferring the record's own parts
        return join_name(record["given_name"], record["family_name"])
    return record[name]


@pytest.mark.parametrize(("connector", "entity"), CASES)
@settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(data=st.data())
def test_canonical_to_remote_and_back_keeps_the_mapped_fields(
    connector: str, entity: str, data: st.DataObject
) -> None:
    mapping = MAPPINGS[connector]
    mapper = mapping.entity(entity)
    record = data.draw(records(entity))
    try:
        payload = mapper.to_remote(record, RESOLVER)
    except RecordRejected as exc:
        refused = exc.field
    else:
        refused = None
    if refused is not None:
        assert refused in REFUSED.get((connector, entity), set())
        return
    if connector == "csv":
        payload = as_file(payload)
    assert REMOTE_KEY not in payload or mapper.variant_by
    back = mapper.to_canonical(payload, RESOLVER)
    fields = round_trip_fields(mapping, entity, record)
    assert fields, "nothing is mapped both ways"
    for name in sorted(fields):
        assert back.get(name, "<absent>") == expected(mapper, name, record), name


def test_every_entity_the_issue_names_is_covered_by_every_shipped_mapping() -> None:
    wanted = {"organizations", "stakeholders", "interactions", "requirement_changes"}
    for mapping in MAPPINGS.values():
        assert wanted <= set(mapping.entities)
