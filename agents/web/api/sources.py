"""Which source a token may publish as, from the loaded quality agreements (pure lookups).

Every event comes from a source the agreement registers, bound to one party (DESIGN.md, security):
a gateway token is bound to one source instance, its party is that source's party, and a token is
only made for a party the agreements know.
"""
from __future__ import annotations

from collections.abc import Iterable


class BindingRefused(ValueError):
    """The token cannot be made or used as asked; the message says why, for the operator."""


def _versions(agreements) -> Iterable:
    for agreement_id in agreements.ids():
        yield from agreements.versions(agreement_id)


def known_parties(agreements) -> set[str]:
    return {party for a in _versions(agreements) for party in (a.holder.id, a.manufacturer.id)}


def source_party(agreements, instance: str) -> str:
    """The party that operates `instance`, as the agreements register it."""
    parties = {s.party for a in _versions(agreements) for s in a.sources if s.instance == instance}
    if not parties:
        known = ", ".join(sorted({s.instance for a in _versions(agreements) for s in a.sources})) or "none"
        raise BindingRefused(f"no loaded agreement registers a source '{instance}' (registered sources: {known}); "
                             "add it under 'sources:' in the agreement first")
    if len(parties) > 1:
        raise BindingRefused(f"source '{instance}' is registered for several parties ({', '.join(sorted(parties))}); "
                             "a source belongs to one party: fix the agreements")
    return parties.pop()


def token_binding(agreements, party: str | None, source: str | None) -> str:
    """The party of a new token, checked against the agreements: the source's party for a
    publishing token (and `party`, if also given, must be it), else `party` itself."""
    if agreements is None or not len(agreements):
        raise BindingRefused("no quality agreements are loaded (set QBUS_AGREEMENTS_DIR or --agreements): "
                             "tokens are made only for parties and sources the agreements know")
    if source:
        owner = source_party(agreements, source)
        if party and party != owner:
            raise BindingRefused(f"source '{source}' belongs to {owner}, not {party}")
        return owner
    if not party:
        raise BindingRefused("give --source INSTANCE (a token that publishes as that system) or --party ID "
                             "(a token that only reads)")
    parties = known_parties(agreements)
    if party not in parties:
        raise BindingRefused(f"no loaded agreement has a party '{party}' (known parties: {', '.join(sorted(parties))})")
    return party


def may_publish(agreements, agreement_id: str, source: str, party: str) -> bool:
    """Does agreement `agreement_id` (any version) register `source` for `party`? False for an
    unknown agreement too, so an answer never tells "not yours" from "not there"."""
    if agreements is None:
        return False
    return any(s.instance == source and s.party == party
               for a in agreements.versions(agreement_id) for s in a.sources)
