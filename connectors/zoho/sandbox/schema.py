"""The sandbox org's modules and fields, and their ``/settings`` metadata in Zoho's shape.

The org is set up the way the README asks of a real one for ``mappings/zoho.yaml``:
every field that mapping reads or writes exists, standard fields with Zoho's own API
names and types, and the custom fields it marks ``remote_custom`` created by hand.
Every module but Notes (which take no custom fields in Zoho) carries the custom unique
text field ``crmbridge_id`` (the hub's stable id), so upsert can match on it;
``Change_Requests`` is a custom module (``generated_type: custom``).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

__all__ = ["MODULES", "FieldDef", "ModuleDef", "field_metadata", "module_metadata"]

Json = dict[str, Any]
ORG_PREFIX = 5725767000000000000

_JSON_TYPES = {
    "text": "string",
    "textarea": "string",
    "email": "string",
    "phone": "string",
    "website": "string",
    "picklist": "string",
    "date": "string",
    "datetime": "string",
    "integer": "integer",
    "bigint": "string",
    "double": "double",
    "currency": "double",
    "boolean": "boolean",
    "lookup": "jsonobject",
    "ownerlookup": "jsonobject",
    "multiselectpicklist": "jsonarray",
}


@dataclass(frozen=True, slots=True)
class FieldDef:
    """One field of a module."""

    api_name: str
    data_type: str
    label: str = ""
    length: int | None = None
    mandatory: bool = False
    read_only: bool = False
    custom: bool = False
    unique: bool = False
    picklist: tuple[str, ...] = ()
    lookup: str | None = None  # target module; "*" = What_Id-style (module from $se_module)
    #: Zoho's json_type where the data type does not give it (Tag, Participants: lists)
    json: str | None = None

    @property
    def json_type(self) -> str:
        """Zoho's ``json_type`` for the data type."""
        return self.json or _JSON_TYPES.get(self.data_type, "string")


@dataclass(frozen=True, slots=True)
class ModuleDef:
    """One module: api name, labels, fields and which capabilities Zoho gives it."""

    api_name: str
    singular: str
    plural: str
    number: int  # stable small number; ids of metadata derive from it
    fields: tuple[FieldDef, ...]
    display_field: str
    duplicate_check: str | None = None  # the system duplicate-check field for upsert
    custom: bool = False
    upsert: bool = True
    deleted_api: bool = True
    notifications: bool = True

    @property
    def id(self) -> str:
        """The module's metadata id."""
        return str(ORG_PREFIX + 2000 + self.number * 2)

    def field(self, api_name: str) -> FieldDef | None:
        """The field called ``api_name`` (case-sensitive, like Zoho)."""
        return _FIELD_INDEX[self.api_name].get(api_name)

    @property
    def unique_fields(self) -> tuple[str, ...]:
        """User-defined unique fields (checked on every write)."""
        return tuple(f.api_name for f in self.fields if f.unique)


def _f(api_name: str, data_type: str = "text", length: int | None = None, **kw: Any) -> FieldDef:
    if length is None and data_type in ("text", "email", "phone", "website", "picklist"):
        length = {"email": 100, "phone": 30, "website": 255}.get(data_type, 120)
    if length is None and data_type == "textarea":
        length = 32000
    return FieldDef(api_name, data_type, kw.pop("label", api_name.replace("_", " ")), length, **kw)


_LEVELS = ("-None-", "Low", "Medium", "High")
_NOTE_COMMON = (
    _f("Owner", "ownerlookup"),
    _f("Created_By", "ownerlookup", read_only=True),
    _f("Modified_By", "ownerlookup", read_only=True),
    _f("Created_Time", "datetime", read_only=True),
    _f("Modified_Time", "datetime", read_only=True),
)
# Zoho gives Notes neither tags nor custom fields: the other modules have both
_COMMON = (
    *_NOTE_COMMON,
    _f("Tag", "text", 2000, json="jsonarray"),
    _f("crmbridge_id", "text", 64, custom=True, unique=True, label="crmbridge id"),
)
_ACTIVITY_LINKS = (
    _f("Who_Id", "lookup", lookup="Contacts", label="Contact Name"),
    _f("What_Id", "lookup", lookup="*", label="Related To"),
    _f("Description", "textarea"),
)

MODULES: dict[str, ModuleDef] = {
    m.api_name: m
    for m in (
        ModuleDef(
            "Contacts", "Contact", "Contacts", 1,
            (
                _f("First_Name", length=40),
                _f("Last_Name", length=80, mandatory=True),
                _f("Full_Name", read_only=True),
                _f("Email", "email"),
                _f("Secondary_Email", "email"),
                _f("Phone", "phone"),
                _f("Mobile", "phone"),
                _f("Title", length=100),
                _f("Department", length=100),
                _f("Account_Name", "lookup", lookup="Accounts"),
                _f("Lead_Source", "picklist", picklist=("-None-", "Advertisement", "Cold Call", "Employee Referral", "Partner", "Trade Show", "Web Download")),
                _f("Mailing_City", length=30),
                _f("Mailing_Country", length=30),
                _f("Date_of_Birth", "date"),
                _f("Email_Opt_Out", "boolean"),
                _f("Description", "textarea"),
                _f("Power", "picklist", custom=True, picklist=_LEVELS),
                _f("Interest", "picklist", custom=True, picklist=_LEVELS),
                _f("Influence", "picklist", custom=True, picklist=_LEVELS),
                _f("Stakeholder_Type", "picklist", custom=True, picklist=("-None-", "Customer", "End User", "Supplier", "Partner", "Regulator", "Internal", "Other")),
                _f("Expectations", "textarea", 2000, custom=True),
                _f("Needs", "textarea", 2000, custom=True),
                *_COMMON,
            ),
            "Full_Name", duplicate_check="Email",
        ),
        ModuleDef(
            "Accounts", "Account", "Accounts", 2,
            (
                _f("Account_Name", length=200, mandatory=True),
                _f("Phone", "phone"),
                _f("Website", "website"),
                _f("Industry", "picklist", picklist=("-None-", "Government/Military", "Manufacturing", "Technology", "Finance", "Education", "Healthcare")),
                _f("Account_Type", "picklist", picklist=("-None-", "Customer", "Partner", "Supplier", "Vendor", "Other")),
                _f("Billing_Street", length=250),
                _f("Billing_City", length=30),
                _f("Billing_Country", length=30),
                _f("Employees", "integer"),
                _f("Annual_Revenue", "currency"),
                _f("Parent_Account", "lookup", lookup="Accounts"),
                _f("Description", "textarea"),
                *_COMMON,
            ),
            "Account_Name", duplicate_check="Account_Name",
        ),
        ModuleDef(
            "Notes", "Note", "Notes", 3,
            (
                _f("Note_Title", length=120),
                _f("Note_Content", "textarea"),
                _f("Parent_Id", "lookup", lookup="*", label="Parent ID"),
                *_NOTE_COMMON,
            ),
            "Note_Title", upsert=False, deleted_api=False, notifications=False,
        ),
        ModuleDef(
            "Calls", "Call", "Calls", 4,
            (
                _f("Subject", length=255, mandatory=True),
                _f("Call_Type", "picklist", mandatory=True, picklist=("Inbound", "Outbound", "Missed")),
                _f("Call_Start_Time", "datetime"),
                _f("Call_Duration", length=10),
                _f("Call_Duration_in_seconds", "integer", read_only=True),
                _f("Call_Purpose", "picklist", picklist=("-None-", "Prospecting", "Administrative", "Negotiation", "Demo", "Project", "Desk")),
                _f("Call_Result", "picklist", picklist=("-None-", "Interested", "Not interested", "No response", "Busy", "Requested more info")),
                _f("Outbound_Call_Status", "picklist", picklist=("Scheduled", "Completed", "Overdue", "Cancelled")),
                *_ACTIVITY_LINKS,
                *_COMMON,
            ),
            "Subject", upsert=False,
        ),
        ModuleDef(
            "Events", "Meeting", "Meetings", 5,
            (
                _f("Event_Title", length=255, mandatory=True),
                _f("Start_DateTime", "datetime", mandatory=True),
                _f("End_DateTime", "datetime", mandatory=True),
                _f("All_day", "boolean"),
                _f("Venue", length=255),
                _f("Participants", "bigint", 120, json="jsonarray"),
                _f("Interaction_Channel", "picklist", custom=True, picklist=("-None-", "Meeting", "Visit")),
                *_ACTIVITY_LINKS,
                *_COMMON,
            ),
            "Event_Title", upsert=False,
        ),
        ModuleDef(
            "Tasks", "Task", "Tasks", 6,
            (
                _f("Subject", length=255, mandatory=True),
                _f("Due_Date", "date"),
                _f("Status", "picklist", picklist=("Not Started", "Deferred", "In Progress", "Completed", "Waiting for input")),
                _f("Priority", "picklist", picklist=("High", "Highest", "Low", "Lowest", "Normal")),
                _f("Closed_Time", "datetime", read_only=True),
                _f("Interaction_Channel", "picklist", custom=True, picklist=("-None-", "Email", "Message")),
                _f("Occurred_At", "datetime", custom=True),
                *_ACTIVITY_LINKS,
                *_COMMON,
            ),
            "Subject", upsert=False,
        ),
        ModuleDef(
            "Change_Requests", "Change Request", "Change Requests", 7,
            (
                _f("Name", length=120, mandatory=True, label="Change Request Name"),
                _f("Description", "textarea"),
                _f("Status", "picklist", custom=True, picklist=("Identified", "Analysed", "Approved", "Rejected", "Implemented")),
                _f("Priority", "picklist", custom=True, picklist=("-None-", "Low", "Medium", "High", "Critical")),
                _f("Requirement", length=255, custom=True),
                _f("Reason", "textarea", custom=True),
                _f("Impact", "textarea", custom=True),
                _f("Decided_By", length=120, custom=True),
                _f("Decided_At", "datetime", custom=True),
                _f("Requested_By", "lookup", custom=True, lookup="Contacts"),
                _f("History", "textarea", 32000, custom=True),
                _f("Account", "lookup", custom=True, lookup="Accounts"),
                *_COMMON,
            ),
            "Name", duplicate_check="Name", custom=True,
        ),
    )
}  # fmt: skip

_FIELD_INDEX = {m.api_name: {f.api_name: f for f in m.fields} for m in MODULES.values()}


def _field_id(module: ModuleDef, index: int) -> str:
    return str(ORG_PREFIX + 100_000 + module.number * 1000 + index)


def field_metadata(module: ModuleDef) -> list[Json]:
    """``GET /settings/fields?module=`` items, with the keys a connector reads."""
    out: list[Json] = []
    for i, f in enumerate(module.fields):
        picks = [
            {
                "display_value": v,
                "sequence_number": n + 1,
                "reference_value": v,
                "colour_code": None,
                "actual_value": v,
                "id": str(ORG_PREFIX + 500_000 + module.number * 10_000 + i * 100 + n),
                "type": "used",
            }
            for n, v in enumerate(f.picklist)
        ]
        lookup: Json = {}
        if f.lookup and f.lookup != "*":
            target = MODULES[f.lookup]
            lookup = {
                "display_label": f.label,
                "api_name": f.api_name,
                "module": {"api_name": target.api_name, "id": target.id},
                "id": _field_id(module, i),
            }
        out.append(
            {
                "api_name": f.api_name,
                "id": _field_id(module, i),
                "field_label": f.label,
                "display_label": f.label,
                "data_type": f.data_type,
                "json_type": f.json_type,
                "length": f.length,
                "system_mandatory": f.mandatory and not f.custom,
                "read_only": f.read_only,
                "field_read_only": f.read_only,
                "custom_field": f.custom,
                "visible": True,
                "type": "used",
                "unique": {"casesensitive": False} if f.unique else {},
                "lookup": lookup,
                "pick_list_values": picks,
                "formula": {},
                "decimal_place": 2 if f.data_type in ("currency", "double") else None,
                "sortable": f.api_name in ("Created_Time", "Modified_Time"),
                "filterable": True,
                "searchable": f.data_type not in ("lookup", "ownerlookup"),
                "created_source": "crm" if f.custom else "default",
            }
        )
    return out


def module_metadata(module: ModuleDef) -> Json:
    """One ``GET /settings/modules`` item."""
    return {
        "api_name": module.api_name,
        "module_name": f"CustomModule{module.number}" if module.custom else module.api_name,
        "singular_label": module.singular,
        "plural_label": module.plural,
        "actual_singular_label": module.singular,
        "actual_plural_label": module.plural,
        "id": module.id,
        "api_supported": True,
        "creatable": True,
        "editable": True,
        "deletable": True,
        "viewable": True,
        "convertable": False,
        "generated_type": "custom" if module.custom else "default",
        "status": "visible",
        "visibility": 1,
        "show_as_tab": True,
        "recycle_bin_on_delete": True,
        "parent_module": {},
        "modified_time": None,
        "modified_by": None,
    }
