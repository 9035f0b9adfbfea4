"""A figure key in words, e.g. ``on_time/ACKNOWLEDGE/deviation`` -> "On-time rate · Acknowledgement ·
Deviation": the heading of a drill-down list, on the dashboard and in the review's appendix."""
from __future__ import annotations

from collections.abc import Callable

from agents.record.review.words import WORDS, Words

_MEASURES = {"opened": "opened", "closed": "closed", "open": "open_now", "overdue": "overdue", "pending": "pending",
             "within": "within_deadline", "on_time": "on_time_rate", "trend": "on_time_rate", "time_to": "time_taken",
             "breaches": "breaches", "violations": "violations", "warnings": "warnings",
             "escalations": "escalations", "escalated_items": "escalated_items", "overdue_for": "overdue_for",
             "ack_within": "chart_ack"}
_BUCKET_WORDS = (("age_", "age"), ("resp_", "ack_within"), ("late_", "overdue_for"))
_KINDS = ("NOTIFY", "ACKNOWLEDGE", "APPROVE", "CLOSE", "SUBMIT", "PERFORM")


def figure_title(key: str, w: Words, category: Callable[[str], str]) -> str:
    parts = key.split("/")
    head, rest = parts[0], parts[1:]
    if head in ("agreement", "product", "site") and len(rest) == 2:
        return f"{w(head)} {rest[0]} · {figure_title(rest[1], w, category)}"
    words = [w(_MEASURES.get(head, head))]
    index = 0
    while index < len(rest):
        part = rest[index]
        if part == "step" and index + 1 < len(rest):
            words.append(w("step", n=rest[index + 1]))
            index += 2
            continue
        if part in ("age", "month"):
            index += 1
            continue
        words.append(_part(head, part, index, w, category))
        index += 1
    title = " · ".join(word for word in words if word)
    return title[:1].upper() + title[1:]


def _part(head: str, part: str, position: int, w: Words, category: Callable[[str], str]) -> str:
    if head in ("on_time", "pending", "time_to") and position == 0:
        return w.kind(part)   # these keys name the timeline first, then the category
    for prefix, owner in _BUCKET_WORDS:
        if f"{prefix}{part}" in WORDS and (head == owner or head in ("open", "overdue", "within")):
            return w(f"{prefix}{part}")
    if head in ("breaches", "violations", "warnings"):
        return w("all_categories") if part == "all" else part
    if head in ("escalations", "escalated_items", "trend") and (part[:1].isdigit() or part == "paged"):
        return w(part) if part == "paged" else part
    return category(part)
