"""Mapping files: how a connector's records become canonical records and back.

Every connector speaks the canonical model (:mod:`crmbridge.model`) only
through a mapping file. crmbridge ships one per connector type
(``mappings/zoho.yaml``, ``csv.yaml``, ``webhook.yaml``); a connector uses
the shipped one for its type unless its config section says ``mapping: PATH``
(relative to the config file; a bare name such as ``mapping: zoho`` names a
shipped one). A file is checked completely when it is loaded, before any
I/O: ``crmbridge mappings check`` lists every problem with file, line and key
path, and ``crmbridge mappings show CONNECTOR ENTITY`` prints what applies.

The mapping spec
================

::

    connector: zoho                 # the connector type this file is for (required)
    extends: zoho                   # optional: a shipped mapping, or ./base.yaml (relative to this file)
    defaults:                       # optional, all keys optional
      timezone: Asia/Shanghai       # zone for date-times without an offset, and for writing them (UTC)
      phone_region: CN              # region of phone numbers written without +country code
                                    #   (else the config's defaults.phone_region)
      date_format: [iso, "%Y/%m/%d", "%Y年%m月%d日"]   # read in order; the first is written
      datetime_format: [iso, "%Y/%m/%d %H:%M"]
      list_separator: ";"           # for transform: split
      nested_paths: true            # false: a dot in a remote name is just a character (CSV headers)
    entities:
      stakeholders:                 # organizations | stakeholders | interactions | requirements | requirement_changes
        remote: Contacts            # the remote object: Zoho module, Fxiaoke object, CSV file, webhook event type
        remote_id: id               # remote field holding the record's external id (a list: aliases) [id]
        identity: [id, email, mobile, phone]   # canonical fields that find an existing twin, in order
        fields:                     # the field pairs
          - canonical: email        # canonical field, or custom.<name> for a custom field
            remote: Email           # remote field; a.b is a nested path; a list gives aliases
            direction: both         # both (default) | pull (remote -> hub only) | push (hub -> remote only)
            transform: email        # optional: one transform or a list, see below
          - {canonical: power, remote: Power, remote_custom: true,
             transform: {map: {values: {high: High, medium: Medium, low: Low}, unmapped: reject}}}

A **pair** has these keys:

``canonical``
    a canonical field of the entity (``id`` included), or ``custom.<name>``;
    ``{given: given_name, family: family_name}`` with ``transform: name``.
``remote``
    the remote field; ``Account_Name.id`` reads and writes inside an object
    (``{"Account_Name": {"id": ...}}``); a list (``[Full Name, 姓名, Name]``)
    gives aliases: pull reads the first present, push writes the first;
    ``{given: First_Name, family: Last_Name}`` with ``transform: name``.
``direction``
    ``both``, ``pull`` or ``push``.
``transform``
    transforms from the closed set below, listed from the remote side to the
    canonical side: pull applies them in order, push undoes them in reverse.
``const``
    with only one side: pull sets the canonical field to it, or push writes
    the remote field with it (``{remote: $se_module, const: Accounts}``).
``default``
    a canonical value used when the source is empty, in both directions.
``type``
    the kind of a ``custom.<name>`` field: text, enum, integer, number,
    boolean, date, datetime, list or json (default: json, passed as is).
``with``
    remote keys written beside a non-empty value (``{$se_module: Accounts}``).
``remote_custom``
    ``true`` marks a remote field you must create in the remote yourself
    (Zoho custom fields); checks against the remote then say so.
``note``
    free text shown by ``mappings show``. ``remove: true`` in an extending
    file removes the inherited pair of that canonical field.

Transforms (a closed set; no expression language)
-------------------------------------------------

=============  ==================================================================
``map``        pick-list: ``{values: {<canonical>: <remote> | [<remote>, ...]},
               unmapped: reject | keep | {default: <canonical>}}``; pull also
               matches case-insensitively; the first remote value is written
``phone``      E.164 in the hub; ``{region: CN, format: e164|national|international}``
               (``national`` only for numbers of that region, so they read back)
``email``      normalised address (domain lower-cased, IDNA folded)
``date``       ``{format: iso | "%Y/%m/%d" | [...]}`` (read in order, first written)
``datetime``   ``{format: iso | epoch_ms | epoch_s | "%Y/%m/%d %H:%M" | [...],
               timezone: Asia/Shanghai}``: times without an offset are in that zone;
               ISO is written with the zone's offset, strftime formats in local time
``name``       full name <-> given/family (see :mod:`crmbridge.mapping.names`):
               ``欧阳娜娜`` <-> 欧阳 + 娜娜, ``John Smith`` <-> John + Smith. Pushing
               ``full_name`` to parts uses the record's given/family names when it
               has them, else splits the full name
``split``      list <-> text: ``{separator: ";"}``; an item holding the separator
               is rejected on push
``objects``    list <-> list of objects: ``{key: name, with: {type: contact}}``
               (Zoho tags ``[{name: VIP}]``, event participants)
``single``     list <-> one remote value (Zoho ``Who_Id.id``): a record with more
               than one item is rejected on push
``number``     ``{decimal: ".", thousands: ",", text: false}``
``boolean``    ``{true: [yes, 是], false: [no, 否]}`` (the first word is written)
``duration``   whole minutes <-> ``{unit: minutes|seconds|hours|mm:ss|hh:mm}``
``end_time``   minutes <-> an end date-time: ``{start: Start_DateTime}`` (the
               start's own pair gives its format)
``json``       JSON text <-> value
=============  ==================================================================

**Relations** need no transform: a canonical field holding another entity's
id (``organization_id``, ``participant_ids``; see
:func:`crmbridge.model.relation_fields`) is translated through the hub's
links — remote ids on the remote side, crmbridge ids in the hub. A reference
not linked yet raises
:class:`PendingRelation` with the rest of the record mapped, so the engine
parks the record and retries it; nothing is dropped.

**Variants**: one entity mapped to several remote objects chosen by an enum
field, for example interactions by ``channel``::

    interactions:
      variant_by: channel
      remote_key: $remote           # default; names the variant in records
      identity: [id]
      fields: [...]                 # pairs shared by every variant
      variants:
        calls: {remote: Calls, when: [call], fields: [...]}

On push the payload carries ``"$remote": "Calls"``; on pull the connector
puts ``"$remote": "<object>"`` in each record it reads for the entity.

**Extending**: ``extends: zoho`` starts from the shipped file; entity keys
given here replace the inherited ones, and each pair replaces the inherited
pairs of the same canonical field (so one field can be overridden without
copying the rest); variants merge by name the same way.

Values
======

Pull gives a *flat dict* keyed by canonical field name (custom fields as
``custom.<name>``) holding only the fields the remote record has (an absent
remote key leaves its field out; an empty one gives ``None`` or ``[]``), in
the canonical representation of :mod:`crmbridge.mapping.values` (date-times
in UTC ``2026-11-26T06:05:00Z``, dates ``2026-11-26``, enums as strings).
Push takes such a dict (see :func:`from_model`) and writes only the fields
present in it. A bad value rejects its record only
(:class:`~crmbridge.errors.RecordRejected` naming the field, with a code:
``INVALID_VALUE``, ``UNMAPPED_VALUE``, ``REQUIRED``, ``NO_VARIANT``).
"""

from __future__ import annotations

from crmbridge.mapping.mapper import (
    REMOTE_KEY,
    BatchResult,
    CompiledMapping,
    EntityMapper,
    PendingRelation,
    compile_spec,
)
from crmbridge.mapping.names import join_name, split_name
from crmbridge.mapping.problems import MappingProblem
from crmbridge.mapping.relations import DictResolver
from crmbridge.mapping.shipped import (
    MappingSpec,
    mapping_source,
    shipped_mapping_path,
    shipped_mappings,
)
from crmbridge.mapping.show import describe_entity
from crmbridge.mapping.transforms import TRANSFORMS
from crmbridge.mapping.validate import (
    RemoteField,
    RemoteFields,
    check_against_remote,
    check_config_mappings,
    check_mapping,
    load_connector_mapping,
    load_mapping,
    require_fits_remote,
)
from crmbridge.mapping.values import canonical_fields, from_model, to_canonical_value
from crmbridge.sync.ports import RelationPending, RelationResolver

__all__ = [
    "REMOTE_KEY",
    "TRANSFORMS",
    "BatchResult",
    "CompiledMapping",
    "DictResolver",
    "EntityMapper",
    "MappingProblem",
    "MappingSpec",
    "PendingRelation",
    "RelationPending",
    "RelationResolver",
    "RemoteField",
    "RemoteFields",
    "canonical_fields",
    "check_against_remote",
    "check_config_mappings",
    "check_mapping",
    "compile_spec",
    "describe_entity",
    "from_model",
    "join_name",
    "load_connector_mapping",
    "load_mapping",
    "mapping_source",
    "require_fits_remote",
    "shipped_mapping_path",
    "shipped_mappings",
    "split_name",
    "to_canonical_value",
]
