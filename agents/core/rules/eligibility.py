"""Arts. 17, 18: may production start? Sterile experience of the parties, and idle lines.

* Art. 18: a line idle for more than three years (sterile) or five years (other products) needs
  qualification, validation and a passed GMP compliance inspection before production resumes.
  ``production.started`` on such a line with no passed GMP inspection of it since its last
  production is a violation; the bus also directs production on the line to stop, and lifts that
  directive when a passed GMP compliance inspection covering the line arrives.
  The line's last production is the latest of: what the bus saw (production started, batches
  factory-released), the agreement's ``last_production_at`` for the line, and the event's
  ``line_last_production_at``.
* Art. 17: for sterile entrusted manufacturing at least one party needs three years of
  commercial-scale production of sterile drugs of the same dosage form. The parties' experience is
  taken from the agreement and recorded (once per agreement and product); if neither party meets
  it, a warning says that one of the Art. 17 exceptions must apply.
"""
from __future__ import annotations

from agents.core.rules.risk import lift, suspend
from agents.core.rules.context import Context, add_years, as_utc

IDLE_RULE = "art18.production.idle_line_without_gmp_inspection"
LIFT_RULE = "art18.production.gmp_inspection_passed"
EXPERIENCE_RULE = "art17.sterile.experience_recorded"
EXPERIENCE_SHORT_RULE = "art17.sterile.experience_below_three_years"
IDLE_YEARS_STERILE = 3
IDLE_YEARS_OTHER = 5
STERILE_YEARS_REQUIRED = 3.0


def _agreement_last_production(ctx: Context, line_id: str):
    """The latest last_production_at any agreement records for this physical line (site + line)."""
    site = ctx.event.get("site_id")
    agreements = [ctx.agreement] if ctx.agreement is not None else []
    if ctx.agreements is not None:
        agreements += [pl.agreement for pl in ctx.agreements.placements(ctx.published, site_id=site, line_id=line_id)]
    moments = [line.last_production_at for a in agreements for p in a.products if p.site_id == site
               for line in p.lines if line.line_id == line_id and line.last_production_at is not None]
    return max((as_utc(m) for m in moments), default=None)


def _years_after(moment, years: int):
    day = add_years(moment.date(), years)
    return moment.replace(year=day.year, month=day.month, day=day.day)


def _gmp_passed(ctx: Context) -> bool:
    if ctx.category != "regulatory_inspection":
        return False
    if ctx.action == "gmp_inspection_passed":
        return True
    return ctx.action == "report_received" and ctx.payload.get("outcome") == "PASSED" \
        and ctx.payload.get("inspection_type") == "GMP_COMPLIANCE"


def apply(ctx: Context) -> None:
    if _gmp_passed(ctx):
        _record_gmp_inspection(ctx)
    elif ctx.category == "production" and ctx.action == "started":
        _started(ctx)
    elif ctx.category == "batch_release" and ctx.action == "factory_released" and ctx.event.get("line_id"):
        line = ctx.state.line(ctx.event.get("site_id") or "", ctx.event["line_id"])
        line.last_production_at = max(filter(None, (line.last_production_at, ctx.occurred)))


def _record_gmp_inspection(ctx: Context) -> None:
    site = ctx.event.get("site_id") or ""
    lines = [line for line in ctx.payload.get("lines_covered") or () if line]
    if not lines and ctx.event.get("line_id"):
        lines = [ctx.event["line_id"]]
    for line_id in sorted(set(lines)):
        facts = ctx.state.line(site, line_id)
        if (ctx.occurred, ctx.item_ref) not in facts.gmp_passed:
            facts.gmp_passed.append((ctx.occurred, ctx.item_ref))
        for suspension in list(ctx.state.suspensions.values()):
            if suspension.article == "Art. 18" and suspension.site_id == site and suspension.line_id == line_id:
                # Art. 18: a passed GMP compliance inspection clears the idle line to produce.
                lift(ctx, suspension, rule_id=LIFT_RULE,
                          reason=f"GMP compliance inspection {ctx.item_ref} passed for line {line_id}; "
                                 "production may start (Art. 18).")


def _started(ctx: Context) -> None:
    site, line_id = ctx.event.get("site_id") or "", ctx.event.get("line_id")
    if ctx.sterile:
        _sterile_experience(ctx)
    if not line_id:
        return
    facts = ctx.state.line(site, line_id)
    last = max(filter(None, (facts.last_production_at, as_utc(ctx.payload.get("line_last_production_at")),
                             _agreement_last_production(ctx, line_id))), default=None)
    years = IDLE_YEARS_STERILE if ctx.sterile else IDLE_YEARS_OTHER
    when = ctx.occurred
    if last is not None and when > _years_after(last, years):
        passed = facts.gmp_passed_since(last)
        if not passed:
            _idle_violation(ctx, line_id, last, years)
    facts.last_production_at = max(filter(None, (facts.last_production_at, when)))


def _idle_violation(ctx: Context, line_id: str, last, years: int) -> None:
    kind = "sterile" if ctx.sterile else "non-sterile"
    cited = ctx.payload.get("gmp_inspection_ref")
    cited_words = (f" The event cites GMP inspection {cited}, but no passed GMP compliance inspection of line "
                   f"{line_id} since then is on the bus." if cited else "")
    # Art. 18: a line idle more than 3 years (sterile) or 5 years (others) needs a passed GMP
    # compliance inspection before production resumes.
    ctx.outcome.violation(
        IDLE_RULE, "Art. 18", "CRITICAL",
        f"Production of {ctx.product_code} started on line {line_id}, idle since "
        f"{ctx.local(last):%Y-%m-%d} (more than {years} years for a {kind} line), without a passed GMP "
        f"compliance inspection of the line since.{cited_words} Art. 18: qualify and validate the line and "
        "pass the provincial GMP compliance inspection first.", ctx.event)
    suspend(ctx, rule_id=IDLE_RULE, article="Art. 18",
                 reason=f"Line {line_id} was idle more than {years} years and has not passed a GMP compliance "
                        "inspection since; stop production on it until it has (Art. 18).",
                 line_id=line_id, product_code=None)


def _sterile_experience(ctx: Context) -> None:
    if ctx.agreement is None or not ctx.product_code:
        return
    form = ctx.dosage_form
    holder_years = ctx.agreement.holder.commercial_sterile_years(form)
    manufacturer_years = ctx.agreement.manufacturer.commercial_sterile_years(form)
    key = (ctx.agreement_id, ctx.product_code)
    if ctx.state.sterile_experience.get(key) == (holder_years, manufacturer_years):
        return
    ctx.state.sterile_experience[key] = (holder_years, manufacturer_years)
    words = (f"{ctx.agreement.holder.id} {holder_years:g} years, {ctx.agreement.manufacturer.id} "
             f"{manufacturer_years:g} years of commercial-scale sterile {form} production (agreement "
             f"{ctx.agreement_id} v{ctx.agreement.version})")
    claimed = ctx.payload.get("sterile_experience_years")
    if claimed is not None:
        words += f"; the start event states {claimed:g} years"
    if max(holder_years, manufacturer_years) >= STERILE_YEARS_REQUIRED:
        # Art. 17: experience of the parties recorded when sterile entrusted production starts.
        ctx.outcome.warning(EXPERIENCE_RULE, "Art. 17", "INFO",
                            f"Sterile entrusted manufacturing of {ctx.product_code}: {words}. Art. 17 is met.",
                            ctx.event, discriminator=f"{holder_years}|{manufacturer_years}")
    else:
        # Art. 17: at least one party needs >= 3 years of commercial-scale sterile production of the
        # same dosage form, unless one of the listed exceptions applies.
        ctx.outcome.warning(
            EXPERIENCE_SHORT_RULE, "Art. 17", "HIGH",
            f"Sterile entrusted manufacturing of {ctx.product_code}: {words}. Neither party has the three years "
            "Art. 17 asks for in principle; one of its exceptions must apply (e.g. innovative or shortage "
            "drug, same group, electronic data exchange, manufacturer did the R&D). Record which in the "
            "agreement.", ctx.event, discriminator=f"{holder_years}|{manufacturer_years}")
