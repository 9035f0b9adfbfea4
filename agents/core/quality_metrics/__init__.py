"""Quality metrics from the record: what a QA lead asks at the quarterly risk assessment and the
annual product quality review (Art. 5) and at an audit (Art. 13) about the communication itself.

How many deviations, changes and OOS results were opened and closed per product and site; how
many notifications, acknowledgements, decisions and closures met the agreement's deadline (on
the working-day calendar); how long acknowledgements and closures took (median, 90th
percentile); which escalated and how far; what is still open, for how long, and what is overdue;
the breaches and violations by article; and the on-time trend by week or month.

Pure: `MetricsFold` turns ledger records into item facts, `compute` turns facts into figures for a
period, with the clock and the calendars passed in. Every figure carries the records it was
counted from (`Ref`: item, chain position, record key and hash). Reading the ledger is the
record's job (`agents.record.review.source`).
"""
from agents.core.quality_metrics.compute import COMMUNICATION_LIST, compute, obligation_outcome
from agents.core.quality_metrics.facts import ItemFacts, MetricsFold, ObligationFacts
from agents.core.quality_metrics.model import (ALL, LATE, MISSED, ON_TIME, PENDING, RATED_OUTCOMES, TIMELINE_KINDS,
                                               Figure, QualityMetrics, Ref, Scope)
from agents.core.quality_metrics.periods import Period, PeriodError, parse_period, quarter, quarter_of, whole_year

__all__ = ["ALL", "COMMUNICATION_LIST", "Figure", "ItemFacts", "LATE", "MISSED", "MetricsFold", "ON_TIME",
           "ObligationFacts", "PENDING", "Period", "PeriodError", "QualityMetrics", "RATED_OUTCOMES", "Ref", "Scope",
           "TIMELINE_KINDS", "compute", "obligation_outcome", "parse_period", "quarter", "quarter_of", "whole_year"]
