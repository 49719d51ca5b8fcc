"""The objects the sandbox serves, their fields, and ``object/describe`` rendering.

Field apiNames of the preset objects are the ones seen in public code (fact sheet §9);
the ``…__c`` fields stand for a tenant's own. Every object carries the custom text
field ``crmbridge_id__c`` so a connector can find a record it created after a lost
answer.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

__all__ = [
    "CRMBRIDGE_ID",
    "SYSTEM_FIELDS",
    "FieldDef",
    "ObjectDef",
    "build_objects",
    "describe",
]

Json = dict[str, Any]
CRMBRIDGE_ID = "crmbridge_id__c"


@dataclass(frozen=True, slots=True)
class FieldDef:
    """One field as describe shows it; ``type`` uses Fxiaoke's type names."""

    api_name: str
    type: str
    label: str
    required: bool = False
    unique: bool = False
    options: tuple[tuple[str, str], ...] = ()
    target: str | None = None
    max_length: int | None = None
    decimal_places: int | None = None
    define_type: str = "package"

    @property
    def option_values(self) -> frozenset[str]:
        """The option codes a select field accepts."""
        return frozenset(value for value, _ in self.options)


@dataclass(frozen=True, slots=True)
class ObjectDef:
    """One object: apiName, display name, whether custom, and its writable fields."""

    api_name: str
    display_name: str
    fields: dict[str, FieldDef] = field(default_factory=dict)

    @property
    def custom(self) -> bool:
        """Custom objects end in ``__c`` and live on the ``/cgi/crm/custom/...`` paths."""
        return self.api_name.endswith("__c")


def _text(name: str, label: str, **kw: Any) -> FieldDef:
    return FieldDef(name, "text", label, max_length=kw.pop("max_length", 100), **kw)


def _custom(f: FieldDef) -> FieldDef:
    return FieldDef(
        f.api_name,
        f.type,
        f.label,
        f.required,
        f.unique,
        f.options,
        f.target,
        f.max_length,
        f.decimal_places,
        "custom",
    )


_CRMBRIDGE = _custom(_text(CRMBRIDGE_ID, "crmbridge ID", max_length=64))
_STAKEHOLDER_TYPE = FieldDef(
    "stakeholder_type__c",
    "select_one",
    "干系人类型",
    options=(
        ("1", "客户"),
        ("2", "最终用户"),
        ("3", "供应商"),
        ("4", "合作伙伴"),
        ("5", "政府/监管"),
        ("6", "内部团队"),
        ("other", "其他"),
    ),
    define_type="custom",
)

#: system fields: rendered on every record, filterable and sortable, never written by update
SYSTEM_FIELDS: dict[str, FieldDef] = {
    f.api_name: f
    for f in (
        FieldDef("_id", "text", "ID", define_type="system"),
        FieldDef("owner", "employee", "负责人", required=True),
        FieldDef("data_own_department", "department", "归属部门"),
        FieldDef("created_by", "employee", "创建人", define_type="system"),
        FieldDef("create_time", "date_time", "创建时间", define_type="system"),
        FieldDef("last_modified_by", "employee", "最后修改人", define_type="system"),
        FieldDef("last_modified_time", "date_time", "最后修改时间", define_type="system"),
        FieldDef(
            "life_status",
            "select_one",
            "生命状态",
            options=(
                ("ineffective", "未生效"),
                ("under_review", "审核中"),
                ("normal", "正常"),
                ("in_change", "变更中"),
                ("invalid", "作废"),
            ),
        ),
        FieldDef("lock_status", "select_one", "锁定状态", options=(("0", "未锁定"), ("1", "锁定"))),
        FieldDef("is_deleted", "true_or_false", "是否删除", define_type="system"),
        FieldDef(
            "record_type", "record_type", "业务类型", options=(("default__c", "预设业务类型"),)
        ),
        FieldDef("version", "number", "版本", define_type="system"),
    )
}


def build_objects(custom_api_name: str) -> dict[str, ObjectDef]:
    """The served objects: AccountObj, ContactObj, ActiveRecordObj and one custom object."""
    account = ObjectDef(
        "AccountObj",
        "客户",
        {
            f.api_name: f
            for f in (
                _text("name", "客户名称", required=True),
                _text("account_no", "客户编号"),
                FieldDef(
                    "account_type",
                    "select_one",
                    "客户类型",
                    options=tuple((str(i), f"类型{i}") for i in range(6)),
                ),
                FieldDef(
                    "account_level",
                    "select_one",
                    "客户级别",
                    options=(("1", "重要客户"), ("2", "普通客户"), ("3", "一般客户")),
                ),
                _text("tel", "电话"),
                FieldDef("email", "email", "邮件", max_length=100),
                FieldDef("url", "url", "网址", max_length=200),
                _text("address", "详细地址", max_length=300),
                FieldDef("remark", "long_text", "备注", max_length=2000),
                _CRMBRIDGE,
            )
        },
    )
    contact = ObjectDef(
        "ContactObj",
        "联系人",
        {
            f.api_name: f
            for f in (
                _text("name", "姓名", required=True),
                FieldDef("account_id", "object_reference", "客户名称", target="AccountObj"),
                FieldDef("mobile1", "phone_number", "手机1", max_length=50),
                FieldDef("tel1", "phone_number", "电话1", max_length=50),
                FieldDef("email", "email", "邮件", max_length=100),
                _text("company", "公司"),
                _text("job_title", "职务"),
                FieldDef("remark", "long_text", "备注", max_length=2000),
                _STAKEHOLDER_TYPE,
                FieldDef(
                    "influence__c", "number", "影响力", decimal_places=0, define_type="custom"
                ),
                _CRMBRIDGE,
            )
        },
    )
    activity = ObjectDef(
        "ActiveRecordObj",
        "销售记录",
        {
            f.api_name: f
            for f in (
                _text("name", "主题"),
                FieldDef("active_record_content", "long_text", "内容", max_length=10_000),
                FieldDef(
                    "active_record_type",
                    "select_one",
                    "跟进类型",
                    options=(
                        ("1", "电话"),
                        ("2", "拜访"),
                        ("3", "会议"),
                        ("4", "邮件"),
                        ("5", "消息"),
                        ("6", "备注"),
                    ),
                ),
                FieldDef(
                    "interactive_types",
                    "select_many",
                    "互动方式",
                    options=(("in", "呼入"), ("out", "呼出"), ("internal", "内部")),
                ),
                FieldDef("related_object_data", "what_list", "关联业务模块"),
                FieldDef("account_id", "object_reference", "客户", target="AccountObj"),
                _CRMBRIDGE,
            )
        },
    )
    change = ObjectDef(
        custom_api_name,
        "需求变更",
        {
            f.api_name: f
            for f in (
                _text("name", "变更标题", required=True),
                _custom(_text("requirement__c", "需求", max_length=200)),
                FieldDef(
                    "change_status__c",
                    "select_one",
                    "状态",
                    options=(
                        ("identified", "已识别"),
                        ("analysed", "已分析"),
                        ("approved", "已批准"),
                        ("rejected", "已拒绝"),
                        ("implemented", "已实施"),
                    ),
                    define_type="custom",
                ),
                FieldDef(
                    "priority__c",
                    "select_one",
                    "优先级",
                    options=(("1", "高"), ("2", "中"), ("3", "低")),
                    define_type="custom",
                ),
                FieldDef("reason__c", "long_text", "原因", max_length=2000, define_type="custom"),
                FieldDef("impact__c", "long_text", "影响", max_length=2000, define_type="custom"),
                FieldDef("decided_by__c", "employee", "决策人", define_type="custom"),
                FieldDef("decided_at__c", "date_time", "决策时间", define_type="custom"),
                FieldDef(
                    "effort__c", "number", "工作量(人天)", decimal_places=1, define_type="custom"
                ),
                FieldDef(
                    "contact__c",
                    "object_reference",
                    "联系人",
                    target="ContactObj",
                    define_type="custom",
                ),
                _CRMBRIDGE,
            )
        },
    )
    return {o.api_name: o for o in (account, contact, activity, change)}


def _describe_field(f: FieldDef) -> Json:
    out: Json = {
        "api_name": f.api_name,
        "type": f.type,
        "label": f.label,
        "is_required": f.required,
        "is_unique": f.unique,
        "define_type": f.define_type,
        "is_active": True,
    }
    if f.options:
        out["options"] = [
            {"label": label, "value": value, "child_options": []} for value, label in f.options
        ]
    if f.target:
        out["target_api_name"] = f.target
    if f.max_length is not None:
        out["max_length"] = f.max_length
    if f.decimal_places is not None:
        out["decimal_places"] = f.decimal_places
    if f.type in ("date", "date_time"):
        out["date_format"] = "yyyy-MM-dd HH:mm" if f.type == "date_time" else "yyyy-MM-dd"
        out["time_zone"] = "GMT+8"
    return out


def describe(obj: ObjectDef) -> Json:
    """``data.describe`` of ``object/describe``: fields keyed by apiName."""
    fields = {**SYSTEM_FIELDS, **obj.fields}
    return {
        "api_name": obj.api_name,
        "display_name": obj.display_name,
        "define_type": "custom" if obj.custom else "package",
        "is_active": True,
        "fields": {name: _describe_field(f) for name, f in fields.items()},
    }
