"""The review package: the communication figures of one agreement for a quarter or a year, for the
quarterly risk assessment and the product quality review (Art. 5) or an audit (Art. 13).

`write_review` writes into an empty folder:

- ``review.html``: the printable review (charts, tables, the breaches with their reasons, the
  verification data, and an appendix listing the records behind every chart);
- ``review.pdf``: the same, printed by headless Chromium when it is installed (Debian ``chromium``);
- ``review.json``: every figure with the records it was counted from, and the verification data;
- ``manifest.json``: what was reviewed, the files' SHA-256; ``seal.json`` when the bus key is given
  (the same seal as an inspection package, `agents.record.package_seal`).
"""
from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Any

from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

from agents.core.quality_metrics import ALL, TIMELINE_KINDS, Period, QualityMetrics, Scope, compute
from agents.core.quality_metrics.measures import OVERDUE_BUCKETS
from agents.core.quality_metrics.periods import trend_buckets
from agents.record.bus_key import BusKey
from agents.record.package_seal import seal_package
from agents.record.review.chart_set import standard_charts
from agents.record.review.pdf import print_pdf
from agents.record.review.source import calendars_of
from agents.record.review.titles import figure_title
from agents.record.review.verification import read_agreement, verification_data
from agents.record.review.words import Words

REVIEW_FORMAT = "qbus-quality-review"
HTML_FILE, PDF_FILE, JSON_FILE, MANIFEST_FILE = "review.html", "review.pdf", "review.json", "manifest.json"


@dataclass(frozen=True)
class ReviewSummary:
    out_dir: Path
    metrics: QualityMetrics
    verification: dict[str, Any]
    files: list[str]
    pdf_note: str | None          # why there is no PDF, when there is none
    manifest_sha256: str


def figure_anchor(key: str) -> str:
    return "fig-" + re.sub(r"[^A-Za-z0-9]+", "-", key).strip("-").lower()


def _parties(agreements, agreement_id: str) -> dict[str, str]:
    agreement = agreements.latest(agreement_id) if agreements is not None else None
    if agreement is not None:
        return {"holder": agreement.holder.id, "manufacturer": agreement.manufacturer.id,
                "title": agreement.title or "", "timezone": agreement.timezone}
    return {"holder": "", "manufacturer": "", "title": "", "timezone": ""}


def review_metrics(ledger, agreement_id: str, period: Period, *, agreements=None, now: datetime | None = None,
                   products: frozenset[str] = frozenset()) -> tuple[QualityMetrics, dict[str, Any]]:
    """The figures of one agreement for `period`, and the verification data of the records read."""
    fold, read = read_agreement(ledger, agreement_id, period)
    metrics = compute(fold.items.values(), period, now=now or datetime.now(timezone.utc),
                      calendars=calendars_of(agreements, period.timezone),
                      scope=Scope(agreements=(agreement_id,), products=products))
    return metrics, verification_data(ledger, agreement_id, read, metrics)


def review_json(agreement_id: str, metrics: QualityMetrics, verification: dict[str, Any]) -> dict[str, Any]:
    return {"format": REVIEW_FORMAT, "format_version": 1, "agreement_id": agreement_id, **metrics.to_json(),
            "verification": verification}


def write_review(ledger, agreement_id: str, period: Period, out_dir: str | Path, *, agreements=None,
                 now: datetime | None = None, lang: str = "both", pdf: bool = True,
                 products: frozenset[str] = frozenset(), seal_with: BusKey | None = None) -> ReviewSummary:
    out = Path(out_dir)
    if out.exists() and any(out.iterdir()):
        raise FileExistsError(f"{out} is not empty; a review needs a folder of its own")
    out.mkdir(parents=True, exist_ok=True)
    metrics, verification = review_metrics(ledger, agreement_id, period, agreements=agreements, now=now,
                                           products=products)
    parties = _parties(agreements, agreement_id)
    (out / JSON_FILE).write_text(json.dumps(review_json(agreement_id, metrics, verification), ensure_ascii=False,
                                            indent=1) + "\n", encoding="utf-8")
    (out / HTML_FILE).write_text(render_review(agreement_id, metrics, verification, parties, Words(lang)),
                                 encoding="utf-8")
    files = [HTML_FILE, JSON_FILE]
    note = None
    if pdf:
        note = print_pdf(out / HTML_FILE, out / PDF_FILE)
        if note is None:
            files.insert(1, PDF_FILE)
    manifest = {
        "format": REVIEW_FORMAT, "format_version": 1, "agreement_id": agreement_id, "period": period.label,
        "timezone": period.timezone, "generated_at": metrics.generated_at.isoformat().replace("+00:00", "Z"),
        "chain": {k: verification[k] for k in ("chain", "records_read", "head_at_generation", "ledger_verified")},
        "files": {name: {"sha256": hashlib.sha256((out / name).read_bytes()).hexdigest(),
                         "bytes": (out / name).stat().st_size} for name in files},
        "pdf": (note or "printed by headless Chromium") if pdf else "not asked for",
    }
    text = json.dumps(manifest, indent=2, ensure_ascii=False) + "\n"
    (out / MANIFEST_FILE).write_text(text, encoding="utf-8")
    if seal_with is not None:
        seal_package(out, seal_with)
    return ReviewSummary(out, metrics, verification, files, note, hashlib.sha256(text.encode()).hexdigest())


def render_review(agreement_id: str, metrics: QualityMetrics, verification: dict[str, Any], parties: dict[str, str],
                  w: Words) -> str:
    zone = metrics.period.zone

    def local(moment: datetime | None) -> str:
        return moment.astimezone(zone).strftime("%Y-%m-%d %H:%M") if moment else "—"

    def duration(hours: float | None, working_days: int | None = None) -> str:
        if hours is None:
            return "—"
        text = (w("hours", n=f"{hours:.1f}".rstrip("0").rstrip(".")) if hours < 48
                else w("days", n=f"{hours / 24:.1f}"))
        return f"{text} · {w('working_days', n=working_days)}" if working_days is not None else text

    charts = standard_charts(metrics, w, w.category, lambda key: f"#{figure_anchor(key)}")
    shown = [key for chart in charts for key in chart.figures if metrics.figure(key).count]
    env = Environment(loader=PackageLoader("agents.record.review", "templates"), autoescape=select_autoescape(["html"]),
                      undefined=StrictUndefined, trim_blocks=True, lstrip_blocks=True)
    # Art. 5: a quarter is the risk assessment's, a year the product quality review's communication section.
    title = w({"quarter": "review_quarter", "year": "review_year"}.get(metrics.period.kind, "review_period"))
    return env.get_template("review.html").render(
        w=w, m=metrics, agreement_id=agreement_id, parties=parties, title=title, charts=charts,
        appendix=[metrics.figure(k) for k in dict.fromkeys(shown)], verification=verification, local=local,
        duration=duration, anchor=figure_anchor, kinds=(*TIMELINE_KINDS, ALL), overdue_buckets=OVERDUE_BUCKETS,
        articles=metrics.articles(), breaches=metrics.figure("breaches/all").refs,
        months=[b.key for b in trend_buckets(metrics.period, "month")],
        steps=sorted(int(k.rsplit("/", 1)[1]) for k in metrics.figures if k.startswith("escalations/step/")),
        lang="zh-CN" if w.lang != "en" else "en", zone_name=metrics.period.timezone,
        title_of=lambda key: figure_title(key, w, w.category))

