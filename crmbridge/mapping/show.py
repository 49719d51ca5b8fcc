"""The effective mapping of one entity as rows, for ``crmbridge mappings show``."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from crmbridge.mapping.problems import choices
from crmbridge.mapping.shipped import MappingSpec
from crmbridge.mapping.spec import NOT_SET, FieldPair, Step

__all__ = ["describe_entity", "step_text"]


def step_text(step: Step) -> str:
    """A transform as one short line: ``phone(format=national)``, ``map(high->High, ...; unmapped=reject)``."""
    args = dict(step.args)
    if step.name == "map":
        values = args.pop("values", {}) or {}
        shown = ", ".join(
            f"{k}->{'|'.join(map(str, v)) if isinstance(v, list) else v}" for k, v in values.items()
        )
        policy = args.pop("unmapped", "reject")
        policy = f"default {policy['default']}" if isinstance(policy, dict) else policy
        return f"map({shown}; unmapped={policy})"
    if not args:
        return step.name
    return f"{step.name}({', '.join(f'{k}={v}' for k, v in args.items())})"


def _row(variant: str, pair: FieldPair) -> dict[str, Any]:
    extras = []
    if pair.const is not NOT_SET:
        extras.append(f"const {pair.const!r}")
    if pair.default is not NOT_SET:
        extras.append(f"default {pair.default!r}")
    if pair.extra:
        extras.append("with " + ", ".join(f"{k}={v}" for k, v in pair.extra.items()))
    if pair.remote_custom:
        extras.append("custom remote field")
    if pair.note:
        extras.append(pair.note)
    return {
        "variant": variant,
        "canonical": pair.canonical_label(),
        "direction": pair.direction,
        "remote": pair.remote_label(),
        "transforms": [step_text(s) for s in pair.steps],
        "notes": extras,
        "source": f"{Path(pair.loc.file).name}:{pair.loc.line}",
    }


def describe_entity(spec: MappingSpec, entity: str) -> dict[str, Any]:
    """The effective mapping of ``entity`` as a JSON-ready document.

    Raises :class:`KeyError` naming the mapped entities when ``entity`` is not mapped.
    """
    section = spec.entities.get(entity)
    if section is None:
        raise KeyError(f"{spec.path} maps no {entity!r}; {choices(spec.entities, entity)}")
    rows = [_row("", p) for p in section.fields if not p.remove]
    variants = []
    for name, variant in section.variants.items():
        variants.append({"name": name, "remote": variant.remote, "when": list(variant.when)})
        rows += [_row(name, p) for p in variant.fields if not p.remove]
    return {
        "connector": spec.connector,
        "entity": entity,
        "file": str(spec.path),
        "extends": [str(p) for p in spec.files[1:]],
        "remote": section.remote,
        "remote_id": list(section.remote_id or ("id",)),
        "identity": list(section.identity or ()),
        "variant_by": section.variant_by,
        "variants": variants,
        "defaults": {k: list(v) if isinstance(v, tuple) else v for k, v in spec.defaults.items()},
        "fields": rows,
    }
