"""Chinese and English labels for the inspection report: categories, actions, party roles.

Labels are shown both ways ("偏差 Deviation") so that an NMPA inspector and a foreign holder's QA
read the same page. Unknown names fall back to the name itself, never to nothing.
"""
from __future__ import annotations

# Art. 7: the communication list, at minimum these eight categories, in the article's order.
ART7_CATEGORIES = ("deviation", "change", "oos_oot", "qualification_validation", "retention_stability",
                   "pharmacovigilance", "regulatory_inspection", "adverse_credit")

CATEGORY_LABELS: dict[str, tuple[str, str]] = {
    "deviation": ("偏差", "Deviation"),
    "change": ("变更", "Change"),
    "oos_oot": ("检验结果超标/超趋势", "OOS/OOT result"),
    "qualification_validation": ("确认与验证", "Qualification & validation"),
    "retention_stability": ("留样与稳定性考察", "Retention samples & stability"),
    "pharmacovigilance": ("药物警戒", "Pharmacovigilance"),
    "regulatory_inspection": ("监管检查", "Regulatory inspection"),
    "adverse_credit": ("不良信用记录", "Adverse credit record"),
    "batch_release": ("批放行", "Batch release"),                             # Art. 12
    "coline_change": ("共线生产变更", "Co-line change"),                       # Art. 8
    "technical_transfer_issue": ("技术转移问题", "Technical transfer issue"),  # Art. 4
    "holder_audit": ("持有人现场审核", "Holder on-site audit"),                 # Art. 13
    "periodic_review": ("定期回顾", "Periodic review"),                        # Art. 5
    "production": ("生产", "Production"),
    "agreement": ("质量协议", "Quality agreement"),                           # Art. 15
    "licence": ("生产许可", "Licence"),                                       # Arts. 19, 20
    "obligation": ("义务", "Obligation"),
    "escalation": ("升级", "Escalation"),
    "directive": ("指令", "Directive"),
    "finding": ("合规发现", "Compliance finding"),
    "delivery": ("送达回执", "Delivery receipt"),
}

# Categories the bus itself writes about an item (its decisions), as opposed to the item's own.
BUS_CATEGORIES = frozenset({"obligation", "escalation", "directive", "finding", "delivery"})

ACTION_LABELS: dict[str, tuple[str, str]] = {
    "reported": ("报告", "reported"), "classified": ("分级", "classified"),
    "investigation_updated": ("调查进展", "investigation updated"), "capa_proposed": ("提出纠正预防措施", "CAPA proposed"),
    "closed": ("关闭", "closed"), "proposed": ("提出", "proposed"), "approved": ("批准", "approved"),
    "rejected": ("拒绝", "rejected"), "implemented": ("实施", "implemented"),
    "phase1_concluded": ("第一阶段调查结论", "phase 1 concluded"), "confirmed": ("确认", "confirmed"),
    "invalidated": ("判定无效", "invalidated"), "planned": ("计划", "planned"), "executed": ("执行", "executed"),
    "report_approved": ("报告批准", "report approved"), "sample_retained": ("留样", "sample retained"),
    "study_started": ("考察开始", "study started"), "timepoint_result": ("时间点结果", "time-point result"),
    "study_completed": ("考察完成", "study completed"), "request_sent": ("发出请求", "request sent"),
    "investigation_reported": ("报告调查结果", "investigation reported"), "started": ("开始", "started"),
    "finding_reported": ("报告检查发现", "finding reported"), "report_received": ("收到报告", "report received"),
    "capa_submitted": ("提交纠正预防措施", "CAPA submitted"), "recorded": ("记录", "recorded"),
    "opened": ("产生", "opened"), "satisfied": ("已履行", "satisfied"), "breached": ("逾期未履行", "breached"),
    "raised": ("发起", "raised"), "issued": ("下达", "issued"), "delivered": ("已送达", "delivered"),
    "acknowledged": ("确认收悉", "acknowledged"), "suspended": ("暂停", "suspended"), "resumed": ("恢复", "resumed"),
    "violation_recorded": ("记录违规", "violation recorded"), "released": ("放行", "released"),
    "cancelled": ("取消", "cancelled"), "revised": ("修订", "revised"), "resolved": ("解决", "resolved"),
    "feedback_given": ("反馈", "feedback given"), "failed": ("失败", "failed"), "attempted": ("尝试送达", "attempted"),
    "escalated": ("升级", "escalated"), "lifted": ("解除", "lifted"), "breach_recorded": ("记录逾期", "breach recorded"),
    "warning_raised": ("发出警示", "warning raised"),
}

# Actions by which a party acknowledges, decides or signs off: the "who did what when" table.
SIGN_OFF_ACTIONS = frozenset({"acknowledged", "approved", "rejected", "report_approved", "classified", "released",
                              "report_received", "confirmed", "invalidated", "closed", "feedback_given", "delivered"})

ROLE_LABELS: dict[str, tuple[str, str]] = {
    "HOLDER": ("持有人", "Holder"), "MANUFACTURER": ("受托生产企业", "Manufacturer"),
    "REGULATOR": ("药品监管部门", "Regulator"), "BUS": ("系统", "qbus"), "UNKNOWN": ("未知", "Unknown"),
}

OBLIGATION_KIND_LABELS: dict[str, tuple[str, str]] = {
    "NOTIFY": ("通知", "Notify"), "ACKNOWLEDGE": ("确认收悉", "Acknowledge"), "APPROVE": ("审批", "Approve"),
    "CLOSE": ("关闭", "Close"), "SUBMIT": ("提交", "Submit"), "PERFORM": ("执行", "Perform"), "UNKNOWN": ("未说明", "Unstated"),
}

CLASSIFICATION_LABELS: dict[str, tuple[str, str]] = {
    "MINOR": ("微小", "Minor"), "MAJOR": ("重大", "Major"), "CRITICAL": ("严重", "Critical"), "UNKNOWN": ("未分级", "Unknown"),
}

# Fixed captions of the report.
UI = {
    "title": ("药品委托生产质量信息检查资料包", "Inspection package: quality information of entrusted manufacturing"),
    "agreement": ("质量协议", "Quality agreement"), "holder": ("持有人", "Holder"),
    "manufacturer": ("受托生产企业", "Manufacturer"), "period": ("期间", "Period"), "timezone": ("时区", "Time zone"),
    "generated": ("生成时间", "Generated"), "product": ("产品", "Product"), "generic_name": ("通用名", "Generic name"),
    "dosage_form": ("剂型", "Dosage form"), "sterile": ("无菌", "Sterile"), "yes": ("是", "yes"), "no": ("否", "no"),
    "communication_list": ("沟通清单", "Communication list"), "category": ("类别", "Category"),
    "item_count": ("事项数", "Items"), "item": ("事项编号", "Item"), "events": ("事件数", "Events"), "none": ("本期无记录", "none in this period"),
    "timeline": ("时间线", "Timeline"), "time": ("时间", "Time"), "recorded": ("入账", "recorded"), "event": ("事件", "Event"), "who": ("人员/系统", "Who"),
    "details": ("内容", "Details"), "signed": ("签名", "Signed"), "obligations": ("义务与时限", "Obligations and deadlines"),
    "what": ("事项", "What"), "owner": ("责任方", "Owner"), "due": ("时限", "Due"), "outcome": ("结果", "Outcome"),
    "open": ("未完成", "open"), "breaches": ("逾期未履行", "Breaches"), "escalations": ("升级", "Escalations"),
    "directives": ("指令与合规发现", "Directives and findings"), "sign_offs": ("确认与批准", "Acknowledgements and approvals"),
    "dead_letters": ("拒收记录", "Refused records (dead letters)"), "reason": ("原因", "Reason"),
    "integrity": ("数据完整性", "Data integrity"), "batch": ("批号", "Batch"), "classification": ("分级", "Classification"),
    "status": ("状态", "Status"), "corrects": ("更正", "Corrects"), "corrected_by": ("已被更正", "Corrected by"),
    "earlier": ("本期之前已有记录", "earlier events fall before this period"),
    "audience": ("读者范围", "Audience"), "redacted": ("已删除商业保密信息的记录", "Records with confidential fields withheld"),
    "dead_letters_withheld": ("原始报文已隐去的拒收记录", "Dead letters with raw bytes withheld"),
}

# Art. 8: shown on an event written to a holder package without its business-confidential fields.
WITHHELD = "(confidential fields withheld / 已删除商业保密信息)"
# Shown on a dead letter written to a holder package without the refused message's raw bytes.
BYTES_WITHHELD = "(original bytes withheld / 原始报文已隐去)"

AUDIENCE_LABELS: dict[str, tuple[str, str]] = {
    "holder": ("持有人版：共线变更、检查结果、不良信用记录等通知中的商业保密信息已删除（第八条），拒收记录的原始报文已隐去",
               "holder package: business-confidential fields of fan-out notices withheld (Art. 8), "
               "raw bytes of refused messages withheld"),
    "full": ("完整版：全部记录按台账原样导出", "full package: every record as stored in the ledger"),
}


def pair(labels: dict[str, tuple[str, str]], name: str | None) -> tuple[str, str]:
    if not name:
        return ("—", "—")
    return labels.get(name, (name.replace("_", " "), name.replace("_", " ")))


def both(labels: dict[str, tuple[str, str]], name: str | None) -> str:
    """'偏差 Deviation'."""
    zh, en = pair(labels, name)
    return zh if zh == en else f"{zh} {en}"


def event_label(event_type: str | None) -> str:
    """'deviation.reported' -> '偏差 报告 Deviation reported'."""
    category, _, action = (event_type or "").partition(".")
    czh, cen = pair(CATEGORY_LABELS, category)
    azh, aen = pair(ACTION_LABELS, action)
    return f"{czh}{azh} {cen} {aen}"
