"""Chinese and English for the dashboard: one table, looked up by key, with English as the fallback.

Category labels follow the wording of NMPA Announcement No. 134 of 2025 (Art. 7) as QA staff use it
(偏差, 变更, 超标/超趋势 ...). Event actions are labelled per action word, so a label exists for every
`<category>.<action>` in the schemas (a test checks that). Dates are formatted in the agreement's
time zone by `format_local`; durations by `format_span`.
"""
from __future__ import annotations

from datetime import datetime, timedelta
from zoneinfo import ZoneInfo

LANGUAGES = ("zh", "en")
DEFAULT_LANGUAGE = "en"

# The eight Art. 7 categories, then the other lists the overview shows (Arts. 8, 12, 13).
CATEGORIES: dict[str, tuple[str, str]] = {
    "deviation": ("Deviation", "偏差"),
    "change": ("Change", "变更"),
    "oos_oot": ("OOS/OOT", "超标/超趋势"),
    "qualification_validation": ("Qualification & validation", "确认与验证"),
    "retention_stability": ("Retention & stability", "留样与稳定性"),
    "pharmacovigilance": ("Pharmacovigilance", "药物警戒"),
    "regulatory_inspection": ("Regulatory inspection", "监管检查"),
    "adverse_credit": ("Adverse credit record", "不良信用记录"),
    "batch_release": ("Batch release", "批放行"),
    "coline_change": ("Co-line change", "共线生产变化"),
    "holder_audit": ("Holder audit", "持有人审核"),
    "technical_transfer_issue": ("Technical transfer", "技术转移"),
    "periodic_review": ("Periodic review", "定期回顾"),
    "production": ("Production", "生产状态"),
    "licence": ("Licence", "许可证"),
    "agreement": ("Quality agreement", "质量协议"),
    "obligation": ("Obligation", "时限义务"),
    "escalation": ("Escalation", "升级"),
    "finding": ("Compliance finding", "合规发现"),
    "directive": ("Directive", "指令"),
    "delivery": ("Notification", "通知投递"),
}

ACTIONS: dict[str, tuple[str, str]] = {
    "acknowledged": ("acknowledged", "已确认收到"),
    "agreed": ("agreed", "已达成一致"),
    "approved": ("approved", "已批准"),
    "attempted": ("delivery attempted", "尝试投递"),
    "breach_recorded": ("breach recorded", "记录违约"),
    "breached": ("overdue", "已逾期"),
    "cancellation_applied": ("cancellation applied for", "已申请注销"),
    "cancelled": ("cancelled", "已取消"),
    "capa_proposed": ("CAPA proposed", "已提出CAPA"),
    "capa_submitted": ("CAPA submitted", "已提交CAPA"),
    "category_b_applied": ("Category B applied for", "已申请B类许可"),
    "category_b_granted": ("Category B granted", "已获B类许可"),
    "change_recorded": ("change recorded", "变更已备案"),
    "classified": ("classified", "已分级"),
    "closed": ("closed", "已关闭"),
    "confirmed": ("confirmed", "已确认"),
    "corrected": ("corrected", "已更正"),
    "delivered": ("delivered", "已送达"),
    "escalated": ("escalated", "已升级"),
    "executed": ("executed", "已执行"),
    "factory_released": ("released by QP", "质量受权人已放行"),
    "failed": ("delivery failed", "投递失败"),
    "feedback_given": ("feedback given", "已反馈"),
    "finding_reported": ("finding reported", "已报告缺陷"),
    "gmp_inspection_failed": ("GMP inspection failed", "GMP检查未通过"),
    "gmp_inspection_passed": ("GMP inspection passed", "GMP检查通过"),
    "implemented": ("implemented", "已实施"),
    "invalidated": ("invalidated", "已判定无效"),
    "investigation_reported": ("investigation reported", "已报告调查结果"),
    "investigation_updated": ("investigation updated", "调查已更新"),
    "issued": ("issued", "已发出"),
    "lifted": ("lifted", "已解除"),
    "market_released": ("released to market", "已上市放行"),
    "notified": ("notified", "已通知"),
    "onsite_inspection_completed": ("on-site inspection completed", "现场检查已完成"),
    "opened": ("opened", "已开启"),
    "opinion_letter_issued": ("opinion letter issued", "已出具意见书"),
    "performed": ("performed", "已实施"),
    "phase1_concluded": ("phase 1 concluded", "第一阶段调查已结束"),
    "planned": ("planned", "已计划"),
    "product_quality_review_completed": ("product quality review completed", "产品质量回顾已完成"),
    "proposed": ("proposed", "已提出"),
    "raised": ("raised", "已提出"),
    "recorded": ("recorded", "已记录"),
    "rectification_completed": ("rectification completed", "整改已完成"),
    "rejected": ("rejected", "已拒绝"),
    "report_approved": ("report approved", "报告已批准"),
    "report_issued": ("report issued", "报告已出具"),
    "report_received": ("report received", "已收到报告"),
    "reported": ("reported", "已报告"),
    "request_sent": ("request sent", "已发出请求"),
    "resolved": ("resolved", "已解决"),
    "resumed": ("resumed", "已恢复"),
    "revised": ("revised", "已修订"),
    "risk_assessment_completed": ("risk assessment completed", "风险评估已完成"),
    "sample_retained": ("sample retained", "已留样"),
    "satisfied": ("done", "已完成"),
    "signed": ("signed", "已签订"),
    "started": ("started", "已开始"),
    "study_completed": ("study completed", "研究已完成"),
    "study_started": ("study started", "研究已开始"),
    "suspended": ("suspended", "已暂停"),
    "terminated": ("terminated", "已终止"),
    "timepoint_result": ("time-point result", "时间点结果"),
    "violation_recorded": ("violation recorded", "记录违规"),
    "warning_raised": ("warning raised", "发出警告"),
}

# Whole event types whose category + action would read awkwardly.
EVENT_TYPES: dict[str, tuple[str, str]] = {
    "batch_release.factory_released": ("Batch released by the QP", "质量受权人放行批次"),
    "batch_release.market_released": ("Batch released to market", "批次上市放行"),
    "obligation.opened": ("Deadline set", "时限已设定"),
    "obligation.satisfied": ("Deadline met", "时限义务已完成"),
    "obligation.breached": ("Deadline missed", "时限已逾期"),
    "obligation.escalated": ("Deadline escalated", "时限已升级"),
    "obligation.cancelled": ("Deadline cancelled", "时限已取消"),
    "escalation.raised": ("Escalated", "已升级"),
    "directive.issued": ("Directive issued", "已发出指令"),
    "directive.lifted": ("Directive lifted", "指令已解除"),
}

OBLIGATION_KINDS: dict[str, tuple[str, str]] = {
    "NOTIFY": ("Notify", "通知"),
    "ACKNOWLEDGE": ("Acknowledge", "确认收到"),
    "APPROVE": ("Approve or reject", "审批"),
    "CLOSE": ("Close", "关闭"),
    "SUBMIT": ("Submit", "提交"),
    "PERFORM": ("Perform", "执行"),
    "UNKNOWN": ("Act", "处理"),
}

ROLES: dict[str, tuple[str, str]] = {
    "holder_qa": ("Holder QA", "持有人QA"),
    "holder_head": ("Holder head of quality", "持有人质量负责人"),
    "manufacturer_qa": ("Manufacturer QA", "受托生产企业QA"),
    "qp": ("Qualified person", "质量受权人"),
    "auditor": ("Auditor (read-only)", "审计员（只读）"),
    "HOLDER": ("Holder", "持有人"),
    "MANUFACTURER": ("Manufacturer", "受托方"),
    "BUS": ("qbus", "qbus"),
    "REGULATOR": ("Regulator", "监管部门"),
    "UNKNOWN": ("—", "—"),
}

STATES: dict[str, tuple[str, str]] = {
    "OPEN": ("open", "进行中"),
    "BREACHED": ("overdue", "已逾期"),
    "ESCALATED": ("escalated", "已升级"),
    "SATISFIED": ("done", "已完成"),
    "CANCELLED": ("cancelled", "已取消"),
    "open": ("Open", "进行中"),
    "closed": ("Closed", "已关闭"),
    "overdue": ("Overdue", "已逾期"),
    "due_soon": ("Due soon", "即将到期"),
    "ok": ("On track", "正常"),
    "none": ("Nothing open", "无待办"),
    # batch readiness
    "market_released": ("Released to market", "已上市放行"),
    "ready": ("Ready for market release", "可上市放行"),
    "blocked": ("Blocked", "不可放行"),
    "awaiting_qp": ("Awaiting QP release", "待质量受权人放行"),
    "not_released": ("Not released by QP", "质量受权人未放行"),
}

TEXT: dict[str, tuple[str, str]] = {
    "app_name": ("qbus", "qbus"),
    "app_tagline": ("Quality information bus", "质量信息沟通平台"),
    "overview": ("Overview", "总览"),
    "queue": ("Work queue", "待办"),
    "batches": ("Batches", "批次"),
    "logout": ("Log out", "退出"),
    "login": ("Log in", "登录"),
    "username": ("User name", "用户名"),
    "password": ("Password", "密码"),
    "login_title": ("Sign in to qbus", "登录 qbus"),
    "login_failed": ("Wrong user name or password.", "用户名或密码错误。"),
    "login_throttled": ("Too many failed attempts. Try again in {s} seconds.", "失败次数过多，请在 {s} 秒后重试。"),
    "login_hint": ("Your account is set up by your qbus administrator (qbus users add).",
                   "账户由 qbus 管理员创建（qbus users add）。"),
    "live": ("Live", "实时"),
    "reconnecting": ("Reconnecting…", "正在重新连接…"),
    "new_info": ("New information arrived — finish your entry, then refresh.", "有新信息，请完成输入后刷新。"),
    "refresh": ("Refresh", "刷新"),
    "open": ("open", "未结"),
    "due_soon": ("due soon", "即将到期"),
    "overdue": ("overdue", "已逾期"),
    "open_items": ("Open items", "未结事项"),
    "needs_attention": ("Needs attention", "需要关注"),
    "nothing_needs_attention": ("Nothing is overdue or due within 24 hours.", "没有逾期或24小时内到期的事项。"),
    "recent_activity": ("Recent activity", "最新动态"),
    "no_activity": ("No records yet.", "暂无记录。"),
    "no_agreements": ("No quality agreement of your organisation has any records yet.",
                      "您所在企业的质量协议尚无记录。"),
    "agreement": ("Quality agreement", "质量协议"),
    "holder": ("Holder", "持有人"),
    "manufacturer": ("Manufacturer", "受托生产企业"),
    "products": ("Products", "产品"),
    "times_in": ("Times in {tz}", "时间均为 {tz}"),
    "export": ("Export inspection package", "导出检查资料包"),
    "export_from": ("From", "自"),
    "export_to": ("To", "至"),
    "export_unavailable": ("Export is not available in this installation.", "此安装不支持导出。"),
    "all_categories": ("All", "全部"),
    "item": ("Item", "事项"),
    "category": ("Category", "类别"),
    "classification": ("Classification", "分级"),
    "status": ("Status", "状态"),
    "next_due": ("Next deadline", "下一期限"),
    "last_event": ("Last event", "最新事件"),
    "updated": ("Updated", "更新时间"),
    "title": ("Subject", "内容"),
    "product": ("Product", "产品"),
    "batch": ("Batch", "批号"),
    "line": ("Line", "生产线"),
    "site": ("Site", "场地"),
    "opened_at": ("Opened", "开启时间"),
    "decision": ("Holder decision", "持有人决定"),
    "acknowledged_by": ("Acknowledged by {side}", "{side}确认收到"),
    "no_items": ("No items.", "暂无事项。"),
    "obligations": ("Obligations and deadlines", "义务与时限"),
    "no_obligations": ("No deadline is tracked for this item yet.", "此事项尚无时限记录。"),
    "what": ("What", "事项"),
    "who": ("Who", "责任方"),
    "due": ("Due", "期限"),
    "step": ("Escalation step", "升级级别"),
    "timeline": ("Lifecycle", "生命周期"),
    "when": ("When", "时间"),
    "event": ("Event", "事件"),
    "by": ("By", "操作人"),
    "details": ("Details", "详情"),
    "ledger": ("Ledger", "台账"),
    "ledger_hint": ("Ledger position and hash (hash-chained, tamper-evident)", "台账序号与哈希（哈希链，防篡改）"),
    "signed": ("signed", "已签名"),
    "actions": ("Your action", "您的操作"),
    "acknowledge": ("Acknowledge receipt", "确认收到"),
    "acknowledge_note": ("Comment (optional)", "备注（可选）"),
    "approve": ("Approve change", "批准变更"),
    "approve_conditions": ("Conditions of approval (optional)", "批准条件（可选）"),
    "reject": ("Reject change", "拒绝变更"),
    "reject_reason": ("Reason for rejection (required)", "拒绝理由（必填）"),
    "reason_required": ("A reason is required to reject a change.", "拒绝变更必须填写理由。"),
    "feedback": ("Send feedback", "提交反馈"),
    "feedback_text": ("Your feedback on the risk conclusion", "对风险评估结论的反馈"),
    "feedback_accept": ("We accept the risk conclusion and measures", "接受风险评估结论及控制措施"),
    "feedback_object": ("We do not accept (explain above)", "不接受（请在上方说明）"),
    "feedback_required": ("Write your feedback before sending it.", "请填写反馈内容。"),
    "signed_as": ("Signed in your name: {user} ({party}).", "将以您的名义签署：{user}（{party}）。"),
    "read_only": ("Your role is read-only.", "您的角色为只读。"),
    "no_action": ("Nothing for you to do on this item.", "此事项无需您操作。"),
    "sent": ("Sent to the bus", "已发送至总线"),
    "sent_detail": ("{what} sent by {user} at {at} — waiting for the bus to record it (event {id}).",
                    "{what} 已由 {user} 于 {at} 发送，等待总线记录（事件 {id}）。"),
    "refused": ("The bus refused {what}: {reason}", "总线拒收 {what}：{reason}"),
    "publish_failed": ("The bus did not confirm; nothing was recorded. Try again.", "总线未确认，未记录任何内容，请重试。"),
    "invalid_event": ("The event was not valid: {reason}", "事件无效：{reason}"),
    "not_awaiting": ("This item is no longer waiting for that action.", "此事项已无需该操作。"),
    "approvals": ("Changes awaiting your approval", "待审批的变更"),
    "acknowledgements": ("Items awaiting your acknowledgement", "待确认收到的事项"),
    "coline_feedback": ("Co-line notices awaiting your feedback", "待反馈的共线生产通知"),
    "queue_empty": ("Nothing waiting.", "无待办事项。"),
    "review": ("Review", "查看"),
    "batch_readiness": ("Batches and release readiness", "批次与放行准备情况"),
    "qp_release": ("QP release", "受权人放行"),
    "records": ("Records handed over", "移交记录"),
    "batch_record": ("batch record", "批生产记录"),
    "test_record": ("test record", "检验记录"),
    "deviation_record": ("deviation record", "偏差记录"),
    "open_issues": ("Open deviations / OOS", "未结偏差/OOS"),
    "no_batches": ("No batches yet.", "暂无批次。"),
    "escalation_to": ("Escalated to {role} by {channel}", "升级至 {role}（{channel}）"),
    "paged": ("paged", "已呼叫"),
    "late": ("late", "逾期完成"),
    "countdown_in": ("in {d}", "剩余 {d}"),
    "countdown_overdue": ("overdue by {d}", "已逾期 {d}"),
    "days_short": ("d", "天"),
    "hours_short": ("h", "小时"),
    "minutes_short": ("m", "分钟"),
    "language": ("中文", "English"),
    "not_found": ("Not found", "未找到"),
    "not_found_text": ("There is nothing here, or you are not allowed to see it.", "此页面不存在，或您无权查看。"),
    "forbidden": ("Not allowed", "无权操作"),
    "forbidden_text": ("Your role does not allow this action.", "您的角色无权执行此操作。"),
    "bad_request": ("Request refused", "请求被拒绝"),
    "csrf_text": ("The form had expired or did not come from this site. Reload the page and try again.",
                  "表单已过期或非本站提交，请刷新页面后重试。"),
    "back": ("Back to overview", "返回总览"),
    "directive_active": ("Directive in force", "有效指令"),
    "dead_letter": ("refused", "已拒收"),
    "significant_risk": ("significant risk", "重大风险"),
    "skip_to_content": ("Skip to content", "跳到正文"),
}


def _pick(entry: tuple[str, str] | None, lang: str, fallback: str) -> str:
    if entry is None:
        return fallback
    return entry[1] if lang == "zh" else entry[0]


def normalize_language(value: str | None) -> str | None:
    """'zh', 'zh-CN', 'zh_Hans' -> 'zh'; 'en-GB' -> 'en'; anything else -> None."""
    if not value:
        return None
    head = value.strip().lower().replace("_", "-").split("-")[0]
    return head if head in LANGUAGES else None


def language_from_header(accept_language: str | None) -> str | None:
    """The first supported language of an Accept-Language header, by quality."""
    if not accept_language:
        return None
    ranked = []
    for index, part in enumerate(accept_language.split(",")):
        tag, _, params = part.strip().partition(";")
        quality = 1.0
        if params.strip().startswith("q="):
            try:
                quality = float(params.strip()[2:])
            except ValueError:
                quality = 0.0
        ranked.append((-quality, index, tag))
    for _q, _i, tag in sorted(ranked):
        lang = normalize_language(tag)
        if lang:
            return lang
    return None


def humanize(key: str) -> str:
    return key.replace("_", " ")


class Translator:
    """`t(key, **values)` and label helpers for one language; handed to every template as `t`."""

    def __init__(self, lang: str):
        self.lang = lang if lang in LANGUAGES else DEFAULT_LANGUAGE

    def __call__(self, key: str, **values) -> str:
        text = _pick(TEXT.get(key), self.lang, key)
        return text.format(**values) if values else text

    def category(self, category: str | None) -> str:
        return _pick(CATEGORIES.get(category or ""), self.lang, humanize(category or "—"))

    def action(self, action: str | None) -> str:
        return _pick(ACTIONS.get(action or ""), self.lang, humanize(action or ""))

    def event_type(self, event_type: str | None) -> str:
        """'deviation.reported' -> 'Deviation reported' / '偏差 已报告'."""
        if not event_type:
            return "—"
        if event_type in EVENT_TYPES:
            return _pick(EVENT_TYPES[event_type], self.lang, event_type)
        category, _, action = event_type.partition(".")
        return f"{self.category(category)} {self.action(action)}"

    def kind(self, kind: str | None) -> str:
        return _pick(OBLIGATION_KINDS.get((kind or "UNKNOWN").upper()), self.lang, humanize(kind or ""))

    def role(self, role: str | None) -> str:
        return _pick(ROLES.get(role or "UNKNOWN"), self.lang, humanize(role or ""))

    def state(self, state: str | None) -> str:
        return _pick(STATES.get(state or ""), self.lang, humanize(state or ""))

    def span(self, delta: timedelta) -> str:
        return format_span(delta, self.lang)

    def client_strings(self) -> dict[str, str]:
        """What the countdown script needs (passed as JSON, never as inline script)."""
        keys = ("countdown_in", "countdown_overdue", "days_short", "hours_short", "minutes_short", "live",
                "reconnecting", "new_info")
        return {k: self(k) for k in keys}


def format_span(delta: timedelta, lang: str = "en") -> str:
    """A duration the way a person says it: '2 d 3 h', '45 m', '2天3小时'. Negative spans count as their size."""
    seconds = abs(int(delta.total_seconds()))
    days, rest = divmod(seconds, 86400)
    hours, rest = divmod(rest, 3600)
    minutes = rest // 60
    units = ("天", "小时", "分钟") if lang == "zh" else (" d", " h", " m")
    parts = []
    if days:
        parts.append(f"{days}{units[0]}")
    if hours and days < 10:
        parts.append(f"{hours}{units[1]}")
    if not days and (minutes or not parts):
        parts.append(f"{minutes}{units[2]}")
    return ("" if lang == "zh" else " ").join(parts)


def format_local(moment: datetime | None, tz: str | ZoneInfo, *, seconds: bool = False) -> str:
    """An instant in the agreement's time zone, e.g. '2026-11-20 16:30'."""
    if moment is None:
        return "—"
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    local = moment.astimezone(zone)
    return local.strftime("%Y-%m-%d %H:%M:%S" if seconds else "%Y-%m-%d %H:%M")


def zone_label(tz: str | ZoneInfo, at: datetime) -> str:
    """'Asia/Shanghai (UTC+08:00)'."""
    zone = tz if isinstance(tz, ZoneInfo) else ZoneInfo(tz)
    offset = at.astimezone(zone).utcoffset() or timedelta(0)
    minutes = int(offset.total_seconds() // 60)
    sign = "+" if minutes >= 0 else "-"
    minutes = abs(minutes)
    return f"{zone.key} (UTC{sign}{minutes // 60:02d}:{minutes % 60:02d})"
