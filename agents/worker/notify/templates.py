"""Subject and body text, in Chinese and English, rendered from a plain dict of facts.

Plain words a QA person on call understands at 3 a.m.: what is late or what happened, which item,
who must act, by when. Missing facts render as "?" rather than failing: a page with a gap beats no
page. Times are shown in Beijing time (UTC+8, no daylight saving) and, in English, also in UTC.
"""

from __future__ import annotations

import string
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

from agents.worker.notify.model import Kind, Notification, Recipient

BEIJING = timezone(timedelta(hours=8), "CST")

# category -> (中文, English)
CATEGORY_NAMES: dict[str, tuple[str, str]] = {
    "deviation": ("偏差", "deviation"),
    "change": ("变更", "change"),
    "oos_oot": ("OOS/OOT", "OOS/OOT result"),
    "qualification_validation": ("确认与验证", "qualification/validation"),
    "retention_stability": ("留样与稳定性考察", "retention/stability"),
    "pharmacovigilance": ("药物警戒", "pharmacovigilance request"),
    "regulatory_inspection": ("监管检查", "regulatory inspection"),
    "adverse_credit": ("不良信用记录", "adverse credit record"),
    "batch_release": ("批放行", "batch release"),
    "coline_change": ("共线生产变更", "co-line change"),
    "technical_transfer_issue": ("技术转移问题", "technical transfer issue"),
    "holder_audit": ("持有人审计", "holder audit"),
    "periodic_review": ("定期回顾", "periodic review"),
    "production": ("生产", "production"),
    "agreement": ("质量协议", "quality agreement"),
    "licence": ("许可证", "licence"),
}

# obligation action -> (中文, English past participle)
ACTION_NAMES: dict[str, tuple[str, str]] = {
    "notify": ("通知", "notified"),
    "acknowledge": ("确认", "acknowledged"),
    "approve": ("批准", "approved"),
    "close": ("关闭", "closed"),
    "submit": ("提交", "submitted"),
    "perform": ("执行", "performed"),
}

SEVERITY_NAMES: dict[str, tuple[str, str]] = {
    "critical": ("严重", "critical"),
    "major": ("主要", "major"),
    "minor": ("次要", "minor"),
    "info": ("信息", "info"),
}


@dataclass(frozen=True)
class Rendered:
    title_zh: str
    title_en: str
    body_zh: str
    body_en: str

    @property
    def bilingual_title(self) -> str:
        """Both titles on one line, for channels that show one text to everybody."""
        return f"{self.title_zh} / {self.title_en.removeprefix('[qbus] ')}"


@dataclass(frozen=True)
class _Template:
    title_zh: str
    title_en: str
    body_zh: str
    body_en: str


_FOOTER_ZH = "\n请登录 qbus 处理。通知编号：{notification_key}"
_FOOTER_EN = "\nPlease act in qbus. Notification key: {notification_key}"

TEMPLATES: dict[str, _Template] = {
    # An obligation is past its due time and the ladder has reached a step.
    "obligation_overdue": _Template(
        title_zh="[qbus] 逾期：{party} {category_zh} {item_ref} 未{action_zh}",
        title_en="[qbus] Overdue: {category_en} {item_ref} not {action_en} by {party}",
        body_zh=(
            "{party} 未在截止时间前{action_zh}{category_zh} {item_ref}。\n"
            "质量协议：{agreement_id}\n"
            "产品：{product}　批号：{batch_no}\n"
            "截止时间：{due_at_zh}\n"
            "已逾期：{overdue_zh}\n"
            "严重程度：{severity_zh}\n"
            "升级：第 {step} 步"
            + _FOOTER_ZH
        ),
        body_en=(
            "{party} has not {action_en} {category_en} {item_ref} by the deadline.\n"
            "Quality agreement: {agreement_id}\n"
            "Product: {product}  Batch: {batch_no}\n"
            "Due: {due_at_en}\n"
            "Overdue by: {overdue_en}\n"
            "Severity: {severity_en}\n"
            "Escalation: step {step}"
            + _FOOTER_EN
        ),
    ),
    # A compliance rule found a significant quality or compliance risk (Art. 5): production stops.
    "production_suspended": _Template(
        title_zh="[qbus] 重大风险：{manufacturer} 暂停生产 {product}（{item_ref}）",
        title_en="[qbus] Significant risk: production of {product} suspended at {manufacturer} ({item_ref})",
        body_zh=(
            "因重大质量或合规风险，已发出暂停生产指令。\n"
            "原因：{reason_zh}\n"
            "质量协议：{agreement_id}\n"
            "受托生产企业：{manufacturer}　生产场地：{site}　生产线：{line}\n"
            "产品：{product}　批号：{batch_no}\n"
            "相关事项：{item_ref}\n"
            "指令时间：{issued_at_zh}"
            + _FOOTER_ZH
        ),
        body_en=(
            "A production suspension directive was issued because of a significant quality or "
            "compliance risk.\n"
            "Reason: {reason_en}\n"
            "Quality agreement: {agreement_id}\n"
            "Manufacturer: {manufacturer}  Site: {site}  Line: {line}\n"
            "Product: {product}  Batch: {batch_no}\n"
            "Related item: {item_ref}\n"
            "Issued: {issued_at_en}"
            + _FOOTER_EN
        ),
    ),
    # Somebody took it: further escalation steps stop.
    "obligation_acknowledged": _Template(
        title_zh="[qbus] 已确认：{category_zh} {item_ref} 由 {acknowledged_by} 处理",
        title_en="[qbus] Acknowledged: {category_en} {item_ref} taken by {acknowledged_by}",
        body_zh=(
            "{acknowledged_by} 已确认 {category_zh} {item_ref} 的升级通知，后续升级步骤停止。\n"
            "质量协议：{agreement_id}\n"
            "确认时间：{acknowledged_at_zh}"
            + _FOOTER_ZH
        ),
        body_en=(
            "{acknowledged_by} acknowledged the escalation for {category_en} {item_ref}; "
            "further escalation steps stop.\n"
            "Quality agreement: {agreement_id}\n"
            "Acknowledged: {acknowledged_at_en}"
            + _FOOTER_EN
        ),
    ),
    # The obligation was met (late) or the directive lifted.
    "obligation_resolved": _Template(
        title_zh="[qbus] 已解决：{category_zh} {item_ref}",
        title_en="[qbus] Resolved: {category_en} {item_ref}",
        body_zh=(
            "{category_zh} {item_ref} 的事项已解决。\n"
            "质量协议：{agreement_id}\n"
            "解决时间：{resolved_at_zh}"
            + _FOOTER_ZH
        ),
        body_en=(
            "{category_en} {item_ref} is resolved.\n"
            "Quality agreement: {agreement_id}\n"
            "Resolved: {resolved_at_en}"
            + _FOOTER_EN
        ),
    ),
}


class _Facts(dict):
    def __missing__(self, key: str) -> str:
        return "?"


def format_time_zh(value: Any) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        return value.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M（北京时间）")
    return "?" if value is None else str(value)


def format_time_en(value: Any) -> str:
    if isinstance(value, datetime):
        if value.tzinfo is None:
            value = value.replace(tzinfo=timezone.utc)
        bj = value.astimezone(BEIJING).strftime("%Y-%m-%d %H:%M Beijing time")
        utc = value.astimezone(timezone.utc).strftime("%H:%M UTC")
        return f"{bj} ({utc})"
    return "?" if value is None else str(value)


def _days_hours_minutes(value: timedelta) -> tuple[int, int, int]:
    days, minutes = divmod(max(0, int(value.total_seconds()) // 60), 24 * 60)
    hours, minutes = divmod(minutes, 60)
    return days, hours, minutes


def format_duration_zh(value: Any) -> str:
    if not isinstance(value, timedelta):
        return "?" if value is None else str(value)
    days, hours, minutes = _days_hours_minutes(value)
    parts = [f"{days} 天"] if days else []
    parts += [f"{hours} 小时"] if hours else []
    parts += [f"{minutes} 分钟"] if minutes or not parts else []
    return " ".join(parts)


def format_duration_en(value: Any) -> str:
    if not isinstance(value, timedelta):
        return "?" if value is None else str(value)
    days, hours, minutes = _days_hours_minutes(value)
    parts = [f"{days} d"] if days else []
    parts += [f"{hours} h"] if hours else []
    parts += [f"{minutes} min"] if minutes or not parts else []
    return " ".join(parts)


def _derived(facts: Mapping[str, Any]) -> _Facts:
    out = _Facts(facts)
    category = str(facts.get("category", ""))
    cat_zh, cat_en = CATEGORY_NAMES.get(category, (category or "?", category or "?"))
    out.setdefault("category_zh", cat_zh)
    out.setdefault("category_en", cat_en)
    action = str(facts.get("action", ""))
    act_zh, act_en = ACTION_NAMES.get(action, (action or "?", action or "?"))
    out.setdefault("action_zh", act_zh)
    out.setdefault("action_en", act_en)
    sev_zh, sev_en = SEVERITY_NAMES.get(str(facts.get("severity", "")), ("?", "?"))
    out.setdefault("severity_zh", sev_zh)
    out.setdefault("severity_en", sev_en)
    reason = facts.get("reason")
    out.setdefault("reason_zh", facts.get("reason_zh", reason))
    out.setdefault("reason_en", facts.get("reason_en", reason))
    for name in ("due_at", "issued_at", "acknowledged_at", "resolved_at"):
        if name in facts:
            out.setdefault(f"{name}_zh", format_time_zh(facts[name]))
            out.setdefault(f"{name}_en", format_time_en(facts[name]))
    if "overdue_for" in facts:
        out.setdefault("overdue_zh", format_duration_zh(facts["overdue_for"]))
        out.setdefault("overdue_en", format_duration_en(facts["overdue_for"]))
    for name in ("batch_no", "line", "site", "product"):
        if facts.get(name) in (None, ""):
            out[name] = "—"
    return _Facts({k: ("?" if v is None else v) for k, v in out.items()})


def render(template: str, facts: Mapping[str, Any]) -> Rendered:
    """Render ``template`` (a key of ``TEMPLATES``) from ``facts`` in both languages."""
    try:
        tpl = TEMPLATES[template]
    except KeyError:
        raise ValueError(f"unknown template {template!r}; known: {sorted(TEMPLATES)}") from None
    values = _derived(facts)
    fmt = string.Formatter()
    return Rendered(
        title_zh=fmt.vformat(tpl.title_zh, (), values),
        title_en=fmt.vformat(tpl.title_en, (), values),
        body_zh=fmt.vformat(tpl.body_zh, (), values),
        body_en=fmt.vformat(tpl.body_en, (), values),
    )


def notification_from_facts(
    template: str,
    facts: Mapping[str, Any],
    *,
    notification_key: str,
    kind: Kind,
    recipients: list[Recipient] | tuple[Recipient, ...],
    page: bool = False,
    incident_key: str = "",
    created_at: datetime | None = None,
) -> Notification:
    """Build a ``Notification`` whose text is rendered from ``facts``.

    ``facts`` must carry ``agreement_id``, ``category``, ``severity`` and ``item_ref``; ``step``
    (the ladder step, 0 for directives) is read from it too. Everything else is template text.
    """
    missing = [k for k in ("agreement_id", "category", "severity", "item_ref") if not facts.get(k)]
    if missing:
        raise ValueError(f"facts lack {', '.join(missing)} (needed for routing, not just text)")
    text = render(template, {**facts, "notification_key": notification_key})
    extra = {} if created_at is None else {"created_at": created_at}
    return Notification(
        notification_key=notification_key,
        kind=kind,
        agreement_id=str(facts["agreement_id"]),
        category=str(facts["category"]),
        severity=facts["severity"],
        item_ref=str(facts["item_ref"]),
        title_zh=text.title_zh,
        title_en=text.title_en,
        body_zh=text.body_zh,
        body_en=text.body_en,
        recipients=tuple(recipients),
        page=page,
        incident_key=incident_key,
        step=int(facts.get("step") or 0),
        facts=dict(facts),
        **extra,
    )
