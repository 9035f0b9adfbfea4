"""The words of the quality figures in English and Chinese (each entry ``(english, chinese)``).

Shared by the dashboard's metrics page and the printed review, so both name a figure the same
way. Category names come from the record's labels (`agents.record.ledger.labels`); the dashboard
uses its own. `Words("both")` writes "中文 English", as the inspection report does.
"""
from __future__ import annotations

from agents.record.ledger.labels import CATEGORY_LABELS

WORDS: dict[str, tuple[str, str]] = {
    "metrics": ("Quality metrics", "质量指标"),
    "metrics_all": ("Quality metrics across agreements", "各协议质量指标"),
    "review_quarter": ("Quarterly risk assessment: communication figures (Art. 5)", "季度风险评估：沟通情况（第五条）"),
    "review_year": ("Product quality review: communication section (Art. 5)", "产品质量回顾：沟通情况（第五条）"),
    "review_period": ("Review of the communication (Arts. 5, 13)", "沟通情况回顾（第五条、第十三条）"),
    "period": ("Period", "期间"),
    "as_at": ("Open and overdue items as at {t}", "未结及逾期事项统计截至 {t}"),
    "generated": ("Generated {t}", "生成于 {t}"),
    "times_in": ("Times in {tz}", "时间均为 {tz}"),
    "working_days_note": ("Working days follow the official Chinese calendar (make-up working days count, holidays do not).",
                          "工作日按国家法定工作日历计算（调休上班日计入，节假日不计）。"),
    "product": ("Product", "产品"),
    "all_products": ("All products", "全部产品"),
    "site": ("Site", "场地"),
    "category": ("Category", "类别"),
    "all_categories": ("All categories", "全部类别"),
    "agreement": ("Agreement", "协议"),
    "show": ("Show", "显示"),
    "trend_by": ("Trend by", "趋势单位"),
    "week": ("week", "周"),
    "month": ("month", "月"),
    "summary": ("Summary by category", "按类别汇总"),
    "opened": ("Opened", "新开"),
    "closed": ("Closed", "关闭"),
    "open_now": ("Open", "未结"),
    "overdue": ("Overdue", "已逾期"),
    "within_deadline": ("Within deadline", "未逾期"),
    "on_time_rate": ("On-time rate", "按时率"),
    "on_time_by_kind": ("Deadlines met, by timeline", "按时限类型的按时完成情况"),
    "due_in_period": ("Due in the period", "本期到期"),
    "on_time": ("on time", "按时"),
    "late": ("done late", "逾期完成"),
    "missed": ("not done", "逾期未完成"),
    "pending": ("not yet due", "尚未到期"),
    "open": ("open", "未结"),
    "escalated": ("escalated", "已升级"),
    "violation": ("violation", "违规"),
    "warning": ("warning", "警示"),
    "kind_NOTIFY": ("Notification", "通知"),
    "kind_ACKNOWLEDGE": ("Acknowledgement", "确认收到"),
    "kind_APPROVE": ("Decision (approval)", "审批决定"),
    "kind_CLOSE": ("Closure", "关闭"),
    "kind_SUBMIT": ("Submission", "提交"),
    "kind_PERFORM": ("Periodic activity", "定期活动"),
    "kind_all": ("All four timelines", "四类时限合计"),
    "time_taken": ("Time taken", "用时"),
    "time_taken_title": ("Time taken, for what was done in the period (from when the deadline counts)",
                         "本期完成事项的用时（自时限起算时点起）"),
    "total": ("Total", "合计"),
    "days": ("{n} d", "{n} 天"),
    "median": ("median", "中位数"),
    "p90": ("90th percentile", "第90百分位"),
    "observations": ("done", "完成数"),
    "hours": ("{n} h", "{n} 小时"),
    "working_days": ("{n} wd", "{n} 个工作日"),
    "chart_trend": ("On-time rate by category over time", "各类别按时率趋势"),
    "chart_open_age": ("Open items by age", "未结事项账龄"),
    "chart_ack": ("Time to acknowledge", "确认收到用时分布"),
    "chart_escalations": ("Escalations per month, by step", "每月升级次数（按级别）"),
    "items": ("items", "项"),
    "obligations": ("obligations", "项义务"),
    "age_0-7d": ("0–7 days", "0–7天"),
    "age_8-30d": ("8–30 days", "8–30天"),
    "age_31-90d": ("31–90 days", "31–90天"),
    "age_over-90d": ("over 90 days", "90天以上"),
    "overdue_for": ("Overdue obligations, by time past the deadline", "逾期义务（按逾期时长）"),
    "late_0-1wd": ("up to 1 working day", "1个工作日以内"),
    "late_2-5wd": ("2–5 working days", "2–5个工作日"),
    "late_6-10wd": ("6–10 working days", "6–10个工作日"),
    "late_over-10wd": ("over 10 working days", "10个工作日以上"),
    "resp_0wd": ("same working day", "当个工作日"),
    "resp_1wd": ("1 working day", "1个工作日"),
    "resp_2wd": ("2 working days", "2个工作日"),
    "resp_3-5wd": ("3–5 working days", "3–5个工作日"),
    "resp_over-5wd": ("over 5 working days", "5个工作日以上"),
    "escalations": ("Escalations", "升级"),
    "step": ("step {n}", "第{n}级"),
    "paged": ("paged", "已呼叫值班"),
    "escalated_items": ("Items escalated, by the highest step reached", "升级事项（按最高级别）"),
    "breaches_by_article": ("Breaches and violations by article", "按条款统计的违约与违规"),
    "article": ("Article", "条款"),
    "breaches": ("Breaches (deadline missed)", "违约（逾期）"),
    "violations": ("Violations", "违规"),
    "warnings": ("Warnings", "警示"),
    "breach_list": ("Breaches and their reasons", "违约清单及原因"),
    "item": ("Item", "事项"),
    "what_was_due": ("What was due", "应履行事项"),
    "due": ("Due", "期限"),
    "recorded_breach": ("Breached", "记录逾期"),
    "outcome": ("Outcome", "结果"),
    "reason": ("Reason", "原因"),
    "detail": ("What the record says", "记录内容"),
    "open_for": ("Open for", "已开启时长"),
    "past_due": ("Past the deadline", "逾期时长"),
    "chain_position": ("Chain position", "链上位置"),
    "record_hash": ("Record hash", "记录哈希"),
    "when": ("When", "时间"),
    "by_product": ("By product", "按产品"),
    "by_site": ("By site", "按场地"),
    "by_agreement": ("By agreement", "按协议"),
    "drill_title": ("Records behind this figure", "该数字所依据的记录"),
    "drill_back": ("Back to the metrics", "返回质量指标"),
    "drill_count": ("{n} records", "{n} 条记录"),
    "figure": ("Figure", "指标"),
    "value": ("Value", "数值"),
    "no_data": ("Nothing to count in this period.", "本期间没有可统计的记录。"),
    "no_records": ("No record behind this figure.", "该指标没有对应记录。"),
    "verification": ("Verification data", "核验数据"),
    "chain": ("Hash chain", "哈希链"),
    "records_read": ("Records read (the whole chain when generated)", "读取的记录（生成时的整条链）"),
    "recorded_in_period": ("Records recorded in the period", "本期间记录的条目"),
    "cited": ("Records cited by the figures", "指标引用的记录"),
    "head": ("Chain head when generated", "生成时的链头"),
    "ledger_check": ("Ledger verification", "账本校验"),
    "anchor": ("Anchor (previous hash)", "起点（前一哈希）"),
    "last_hash": ("Last hash", "末条哈希"),
    "positions": ("Positions", "位置"),
    "records_n": ("{n} records", "{n} 条"),
    "how_to_check": ("Check with `qbus ledger verify --agreement {a}`; `qbus export --agreement {a}` for the period "
                     "ships the records recorded in it. Every record a figure was counted from is listed in the "
                     "appendix with its chain position and hash.",
                     "使用 `qbus ledger verify --agreement {a}` 校验哈希链；`qbus export --agreement {a}` 导出本期间记录。"
                     "每个指标所依据的记录均在附录中列出其链上位置与哈希。"),
    "appendix": ("Appendix: the records behind each chart", "附录：各图表所依据的记录"),
    "files": ("Files of this review", "本回顾包含的文件"),
}


class Words:
    """`w(key, **values)` in one language: ``en``, ``zh`` or ``both`` ("中文 English")."""

    def __init__(self, lang: str = "both"):
        self.lang = lang if lang in ("en", "zh", "both") else "both"

    def _pick(self, pair: tuple[str, str], values: dict) -> str:
        en, zh = (text.format(**values) if values else text for text in pair)
        return {"en": en, "zh": zh}.get(self.lang, f"{zh} {en}")

    def __call__(self, key: str, **values) -> str:
        pair = WORDS.get(key)
        return self._pick(pair, values) if pair else key.replace("_", " ")

    def category(self, category: str | None) -> str:
        if not category or category == "all":
            return self("all_categories")
        zh, en = CATEGORY_LABELS.get(category, (category, category.replace("_", " ")))
        return self._pick((en, zh), {})

    def kind(self, kind: str) -> str:
        return self(f"kind_{kind}")
