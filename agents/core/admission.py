"""Who may say what (Arts. 9, 10, 14): the checks an event passes after its schema, before it is accepted.

Every event comes from a **source** the agreement registers (`agents.core.agreements.parts.SourceSystem`),
named exactly (one spelling: lowercase letters, digits and hyphens), and bound to one party: the
event's ``source.party_id`` and ``party_role`` must be that source's party and its role under the
agreement. Then, in this order:

1. the agreement is known;
2. the source is registered and the event's party is the source's party (else it is refused as
   ``UNKNOWN_SOURCE`` or ``SOURCE_PARTY_MISMATCH``); the bus's own dashboard (``qbus-dashboard``)
   is a source of every agreement, for either party, and always signs with the dashboard's key;
3. the signature: where signatures are required (the production default) every source signs with
   a key registered for it and valid when the bus received the event; a source the agreement marks
   ``must_sign`` always signs; a signature that is present is always checked;
4. a person's decision made in the dashboard (approving or rejecting a change, approving a CAPA, a
   market release) carries the person's own electronic signature, checked against their key;
5. the event stays inside its agreement: its holder, manufacturer and product are the agreement's;
6. it did not happen in the future (beyond a small allowance for clock skew).

A refusal of steps 1-2 (the sender is not a party of the agreement it names) is kept in the
operator's chain, not in that agreement's; no reason names another party.
"""
from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from agents.core.agreements import Agreement, AgreementSet
from agents.core.agreements.parts import DASHBOARD_INSTANCE, SOURCE_INSTANCE, SourceSystem
from agents.core.intake import Refusal
from streams.signing import KeyRegistry, load_public_key, verify_decision, verify_event

# Art. 9 and the Part 11 habit: decisions a person signs electronically when made in the dashboard.
DECISIONS = frozenset({"change.approved", "change.rejected", "deviation.capa_approved",
                       "batch_release.market_released", "production.resumed"})
DEFAULT_CLOCK_SKEW = timedelta(minutes=5)


class KeyFile:
    """A key registry file the bus trusts for every agreement (the dashboard's key, its users' keys),
    re-read when it changes."""

    def __init__(self, path: Path | None):
        self.path = path
        self._loaded: tuple[float, KeyRegistry] = (-1.0, KeyRegistry())

    def registry(self) -> KeyRegistry:
        if self.path is None or not self.path.exists():
            return KeyRegistry()
        mtime = self.path.stat().st_mtime
        if mtime != self._loaded[0]:
            self._loaded = (mtime, KeyRegistry.load(self.path))
        return self._loaded[1]


class Admission:
    def __init__(self, agreements: AgreementSet, *, require_signatures: bool = True,
                 dashboard_keys: Path | None = None, user_keys: Path | None = None,
                 clock_skew: timedelta = DEFAULT_CLOCK_SKEW, clock: Callable[[], datetime] | None = None):
        """``dashboard_keys``: the dashboard's own key file; ``user_keys``: its users' keys, which
        verify their electronic signatures."""
        self.agreements = agreements
        self.require_signatures = require_signatures
        self.dashboard_keys = KeyFile(Path(dashboard_keys) if dashboard_keys else None)
        self.user_keys = KeyFile(Path(user_keys) if user_keys else None)
        self.clock_skew = clock_skew
        self.clock = clock or (lambda: datetime.now(timezone.utc))
        self._parsed: dict[tuple[str, int, str], list] = {}

    def __call__(self, event: dict, received_at: datetime | None = None) -> None:
        """Raise `Refusal` if the event may not be accepted; return quietly if it may."""
        received_at = received_at or self.clock()
        agreement = self._agreement(event, received_at)
        source = event.get("source") or {}
        if _claims_dashboard(source):
            self._dashboard(event, agreement, source)
        else:
            registered = self._registered(agreement, source)
            self._signature(event, agreement, registered, received_at)
        self._tenancy(event, agreement)
        self._timing(event, received_at)

    # -- 1. the agreement ------------------------------------------------------------------------
    def _agreement(self, event: dict, at: datetime) -> Agreement:
        agreement_id = event["agreement_id"]
        agreement = self.agreements.effective(agreement_id, at) or self.agreements.latest(agreement_id)
        if agreement is None:
            # The list of known agreements is not given: it would tell a stranger whom the bus serves.
            raise Refusal("UNKNOWN_AGREEMENT", f"no quality agreement '{agreement_id}' is known to the bus; check "
                                               "agreement_id, or ask the operator to load the agreement", operator=True)
        return agreement

    # -- 2. the source and its party -------------------------------------------------------------
    def _registered(self, agreement: Agreement, source: dict) -> SourceSystem:
        instance = str(source.get("instance") or "")
        registered = agreement.source(instance)
        if registered is None:
            hint = ""
            if not SOURCE_INSTANCE.match(instance) and agreement.source(instance.strip().lower()) is not None:
                hint = f" (names are matched exactly: write '{instance.strip().lower()}')"
            if source.get("party_role") == "BUS" or source.get("system") == "QBUS":
                reason = "the bus's own records are written by the bus; no publisher may send them"
            else:
                reason = (f"source instance '{instance}' is not a source registered in agreement "
                          f"{agreement.agreement_id}{hint}; register it in the agreement's sources (Art. 14)")
            raise Refusal("UNKNOWN_SOURCE", reason, operator=True)
        self._party(agreement, source, registered.party, f"source {instance} is registered to {registered.party}")
        return registered

    @staticmethod
    def _party(agreement: Agreement, source: dict, party: str, why: str) -> None:
        role = agreement.role_of_party(party)
        if source.get("party_id") != party or source.get("party_role") != role:
            # Art. 10: nobody writes into another party's record; a source speaks for its own party only.
            raise Refusal("SOURCE_PARTY_MISMATCH",
                          f"{why} ({role.lower() if role else 'no party'} of agreement {agreement.agreement_id}), but "
                          f"the event says it comes from party {source.get('party_id')!r} as "
                          f"{source.get('party_role')!r}; publish with the source's own party", operator=True)

    # -- 3. the source's signature ---------------------------------------------------------------
    def _signature(self, event: dict, agreement: Agreement, source: SourceSystem, received_at: datetime) -> None:
        required = self.require_signatures or source.must_sign
        if event.get("signature") is None and not required:
            return
        keys = self._source_keys(agreement, source, received_at)
        # Art. 14: data are authentic and traceable to the system that produced them.
        check = verify_event(event, keys, {source.instance} if required else ())
        if not check.ok:
            if check.problem == "unknown_key" and any(k.key_id == check.key_id for k in source.signing_keys()):
                raise Refusal("BAD_SIGNATURE", f"key {check.key_id} of source {source.instance} was not valid when the "
                                               "bus received the event (see its valid_from/valid_until in the agreement)")
            raise Refusal(check.code, check.reason)

    def _source_keys(self, agreement: Agreement, source: SourceSystem, at: datetime) -> KeyRegistry:
        """The source's keys valid at ``at``; the parsed keys are kept per agreement version."""
        cache_key = (agreement.agreement_id, agreement.version, source.instance)
        known = self._parsed.get(cache_key)
        if known is None:
            known = self._parsed[cache_key] = [(k, load_public_key(k.public_key)) for k in source.signing_keys()]
        tz = ZoneInfo(agreement.timezone)
        registry = KeyRegistry()
        for key, public in known:
            if key.valid_at(at, tz):
                registry.register(source.instance, key.key_id, public)
        return registry

    # -- 2-4 for the dashboard -------------------------------------------------------------------
    def _dashboard(self, event: dict, agreement: Agreement, source: dict) -> None:
        if source.get("instance") != DASHBOARD_INSTANCE or source.get("system") != "DASHBOARD":
            raise Refusal("UNKNOWN_SOURCE", f"only the bus's own dashboard (instance {DASHBOARD_INSTANCE}, system "
                                            "DASHBOARD) may publish as the dashboard", operator=True)
        party = source.get("party_id")
        if agreement.role_of_party(party) is None:
            raise Refusal("SOURCE_PARTY_MISMATCH", f"the dashboard acts for the parties of agreement "
                                                   f"{agreement.agreement_id} only", operator=True)
        self._party(agreement, source, str(party), "the dashboard user's party")
        # Art. 14: whatever claims the dashboard carries the dashboard's signature, demo included.
        check = verify_event(event, self.dashboard_keys.registry(), {DASHBOARD_INSTANCE})
        if not check.ok:
            raise Refusal(check.code, f"an event that claims the dashboard must carry the dashboard's signature: "
                                      f"{check.reason}", operator=True)
        if event.get("event_type") in DECISIONS:
            self._esignature(event, str(party))

    def _esignature(self, event: dict, party: str) -> None:
        block = event.get("esignature") or {}
        if not block:
            raise Refusal("MISSING_SIGNATURE", f"{event['event_type']} is a decision and needs the signer's "
                                               "electronic signature (re-authenticated, with its meaning)")
        if block.get("signer_party_id") != party:
            raise Refusal("SOURCE_PARTY_MISMATCH", "the electronic signature is by a person of another party")
        # Art. 9 and the Part 11 habit: the person's own key signed what they decided.
        check = verify_decision(event, self.user_keys.registry())
        if not check.ok:
            raise Refusal(check.code, check.reason)

    # -- 5. inside the agreement -----------------------------------------------------------------
    @staticmethod
    def _tenancy(event: dict, agreement: Agreement) -> None:
        # Art. 10: an event belongs to exactly the parties of its agreement. The reason names only
        # this agreement's own parties and products, never what the event claimed instead.
        if (event["holder_id"], event["manufacturer_id"]) != (agreement.holder.id, agreement.manufacturer.id):
            raise Refusal("OUT_OF_TENANT", f"agreement {agreement.agreement_id} is between holder {agreement.holder.id} "
                                           f"and manufacturer {agreement.manufacturer.id}, and the event names other "
                                           "parties; publish it under the agreement of its own parties")
        if agreement.product(event["product"]["code"]) is None:
            codes = ", ".join(p.code for p in agreement.products)
            raise Refusal("OUT_OF_TENANT", f"the event's product code is not a product of agreement "
                                           f"{agreement.agreement_id} (its products: {codes})")

    # -- 6. time ---------------------------------------------------------------------------------
    def _timing(self, event: dict, received_at: datetime) -> None:
        occurred = _aware(event.get("occurred_at"))
        if occurred is not None and occurred > received_at + self.clock_skew:
            raise Refusal("FUTURE_EVENT", f"occurred_at {occurred:%Y-%m-%d %H:%M:%S} UTC is after the bus received the "
                                          f"event ({received_at:%Y-%m-%d %H:%M:%S} UTC) by more than the allowed "
                                          f"{int(self.clock_skew.total_seconds())} s of clock skew; check the "
                                          "source system's clock and time zone")


def _claims_dashboard(source: dict) -> bool:
    instance = str(source.get("instance") or "")
    return source.get("system") == "DASHBOARD" or instance.strip().lower() == DASHBOARD_INSTANCE


def _aware(value: Any) -> datetime | None:
    if not isinstance(value, datetime):
        return None
    return value if value.tzinfo else value.replace(tzinfo=timezone.utc)
