"""What the dashboard knows of a quality agreement (`AgreementInfo`), from its file or its events."""
from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

DEFAULT_TIMEZONE = "Asia/Shanghai"


@dataclass
class AgreementInfo:
    """What the dashboard knows of an agreement: from its file when loaded, else from its events."""
    agreement_id: str
    holder_id: str | None = None
    manufacturer_id: str | None = None
    title: str | None = None
    timezone: str = DEFAULT_TIMEZONE
    holder_name: str | None = None
    manufacturer_name: str | None = None
    products: dict[str, str] = field(default_factory=dict)   # code -> generic name
    from_file: bool = False
    first_recorded_at: datetime | None = None
    last_chain_seq: int = 0      # the agreement's own count of records (never the ledger's global seq, Art. 10)
    holder_name_local: str | None = None
    manufacturer_name_local: str | None = None

    def holder_label(self, lang: str) -> str:
        return (self.holder_name_local if lang == "zh" else None) or self.holder_name or self.holder_id or "—"

    def manufacturer_label(self, lang: str) -> str:
        return ((self.manufacturer_name_local if lang == "zh" else None) or self.manufacturer_name
                or self.manufacturer_id or "—")


def infos_from_agreements(agreements: Any) -> list[AgreementInfo]:
    """AgreementInfo for the latest version of each agreement of an `agents.core.agreements.AgreementSet`."""
    out = []
    for agreement_id in agreements.ids():
        a = agreements.latest(agreement_id)
        out.append(AgreementInfo(
            agreement_id=a.agreement_id, holder_id=a.holder.id, manufacturer_id=a.manufacturer.id, title=a.title,
            timezone=a.timezone, holder_name=a.holder.name, manufacturer_name=a.manufacturer.name,
            holder_name_local=getattr(a.holder, "name_local", None),
            manufacturer_name_local=getattr(a.manufacturer, "name_local", None),
            products={p.code: p.generic_name for p in a.products}, from_file=True))
    return out
