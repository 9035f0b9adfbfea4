"""Who may say what: the checks an event passes after its schema and before it is accepted.

Pure functions over the agreement set; the intake agent raises their refusals as dead letters.
"""
from __future__ import annotations

from datetime import datetime, timezone
from pathlib import Path

from agents.core.agreements import AgreementSet
from agents.core.intake import Refusal
from streams.signing import KeyRegistry, sources_that_must_sign, verify_event


class Admission:
    def __init__(self, agreements: AgreementSet, trusted_keys: Path | None = None):
        """``trusted_keys``: a key file of the bus's own signers (the dashboard signs what its
        users do); trusted for every agreement, re-read when it changes."""
        self.agreements = agreements
        self.trusted_keys = Path(trusted_keys) if trusted_keys else None
        self._trusted: tuple[float, KeyRegistry] = (0.0, KeyRegistry())
        self._keys: dict[tuple[str, int], tuple[KeyRegistry, set]] = {}

    def __call__(self, event: dict) -> None:
        agreement_id = event["agreement_id"]
        at = event.get("occurred_at") or datetime.now(timezone.utc)
        agreement = self.agreements.effective(agreement_id, at) or self.agreements.latest(agreement_id)
        if agreement is None:
            known = ", ".join(sorted(self.agreements.ids())) or "none loaded"
            raise Refusal("UNKNOWN_AGREEMENT", f"no quality agreement '{agreement_id}' is known to the bus "
                                               f"(known: {known}); check agreement_id or load the agreement")
        # Art. 10: an event belongs to exactly the parties of its agreement; nobody writes into
        # another holder's record.
        parties = {agreement.holder.id, agreement.manufacturer.id}
        if (event["holder_id"], event["manufacturer_id"]) != (agreement.holder.id, agreement.manufacturer.id):
            raise Refusal("OUT_OF_TENANT", f"agreement {agreement_id} is between holder {agreement.holder.id} and "
                                           f"manufacturer {agreement.manufacturer.id}, but the event names holder "
                                           f"{event['holder_id']} and manufacturer {event['manufacturer_id']}")
        publisher = event["source"]["party_id"]
        if publisher not in parties:
            raise Refusal("OUT_OF_TENANT", f"party {publisher} is not a party to agreement {agreement_id} and "
                                           "may not publish under it")
        if agreement.product(event["product"]["code"]) is None:
            codes = ", ".join(p.code for p in agreement.products)
            raise Refusal("OUT_OF_TENANT", f"product {event['product']['code']} is not covered by agreement "
                                           f"{agreement_id} (its products: {codes})")
        # Art. 14: sources the agreement registers as signing must sign, and signatures must verify.
        registry, must_sign = self._signing(agreement)
        trusted = self._trusted_keys()
        if len(trusted):
            registry = KeyRegistry([*registry, *trusted])
        check = verify_event(event, registry, must_sign)
        if not check.ok:
            raise Refusal(check.code, check.reason)

    def _trusted_keys(self) -> KeyRegistry:
        if self.trusted_keys is None or not self.trusted_keys.exists():
            return self._trusted[1]
        mtime = self.trusted_keys.stat().st_mtime
        if mtime != self._trusted[0]:
            self._trusted = (mtime, KeyRegistry.load(self.trusted_keys))
        return self._trusted[1]

    def _signing(self, agreement):
        key = (agreement.agreement_id, agreement.version)
        if key not in self._keys:
            self._keys[key] = (KeyRegistry.from_sources(agreement.sources), sources_that_must_sign(agreement.sources))
        return self._keys[key]
