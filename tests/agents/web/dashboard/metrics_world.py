"""A busy quarter of holder A for the metrics screenshots: some forty items over 2026 Q4, each
with the deadlines of the communication list and outcomes drawn from a fixed seed (so every run
draws the same charts), plus the hand-counted quarter of the figure tests."""
from __future__ import annotations

import random
from datetime import timedelta

from agents.core.calendar import WorkingCalendar
from tests.agents.core.quality_metrics.records import P1, P2, Chain, local
from tests.agents.core.quality_metrics.test_figures import quarter

CALENDAR = WorkingCalendar("Asia/Shanghai")
KINDS = {"deviation": ("DEV", [("NOTIFY", 3), ("ACKNOWLEDGE", 2), ("CLOSE", 21)]),
         "change": ("CHG", [("NOTIFY", 5), ("ACKNOWLEDGE", 3), ("APPROVE", 15)]),
         "oos_oot": ("OOS", [("NOTIFY", 1), ("ACKNOWLEDGE", 1), ("CLOSE", 21)]),
         "qualification_validation": ("QV", [("ACKNOWLEDGE", 5)])}


def busy_quarter(seed: int = 134) -> Chain:
    rng = random.Random(seed)
    chain = quarter()
    day = local("2026-10-08 09:00")
    for n in range(40):
        category = rng.choice(["deviation"] * 4 + ["change"] * 2 + ["oos_oot"] * 2 + ["qualification_validation"])
        prefix, deadlines = KINDS[category]
        ref = f"{prefix}-2026-{200 + n:04d}"
        start = day + timedelta(days=rng.randint(0, 80), hours=rng.randint(0, 8))
        where = rng.choice([{"product": P1, "site": "SITE-SZ-01"}, {"product": P2, "site": "SITE-SZ-02"}])
        chain.event(f"{category}.{'proposed' if category == 'change' else 'planned' if prefix == 'QV' else 'reported'}",
                    ref, start, **where)
        for kind, working_days in deadlines:
            due, _ = CALENDAR.add_working_days(start, working_days)
            taken = rng.choice([0.2, 0.5, 0.8, 1.0, 1.2, 1.6]) * (due - start)
            done = start + taken
            oid = f"{ref}-{kind}"
            if done > local("2026-12-31 12:00") or rng.random() < 0.08:
                chain.obligation("opened", ref, oid, kind=kind, category=category, due=due, basis=start, at=start,
                                 **where)
                if due < local("2026-12-31 12:00"):
                    chain.obligation("breached", ref, oid, kind=kind, category=category, due=due, basis=start,
                                     at=due, breach="overdue", reason=f"{kind} for {ref} was due", **where)
                    for step in range(1, rng.randint(1, 3) + 1):
                        chain.escalation(ref, oid, step=step, at=due + timedelta(hours=4 * (step - 1)), kind=kind,
                                         page=step == 3)
                continue
            chain.met(ref, oid, kind=kind, category=category, due=due, basis=start, done=done, **where)
            if done > due:
                chain.escalation(ref, oid, step=1, at=due, kind=kind)
            if kind == "CLOSE":
                chain.event(f"{category}.closed", ref, done, **where)
    return chain
