"""Quality agreements as records of the agreements topic (Art. 15): each revision a version of its own.

A record's key is ``<agreement_id>|<version>`` (so compaction keeps every version: obligations
opened under an older version keep its terms); its value is this JSON document::

    {"format": "qbus-agreement", "agreement_id": "...", "version": 3, "effective_from": "...",
     "sha256": "<of the YAML text>", "yaml": "<the agreement file>", "published_at": "..."}

The YAML is checked exactly as a file in the agreements folder is (`agents.core.agreements.lint`);
a record that does not check out is refused with its problems, never half taken.
"""
from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass
from datetime import datetime, timezone

from agents.core.agreements.lint import agreement_from_yaml
from agents.core.agreements.model import Agreement
from agents.core.agreements.terms import AgreementRefused

FORMAT = "qbus-agreement"


class PublishedAgreementInvalid(ValueError):
    """A record of the agreements topic that is not an agreement this bus can take; says why."""


@dataclass(frozen=True)
class PublishedAgreement:
    agreement: Agreement
    sha256: str
    published_at: str

    @property
    def key(self) -> bytes:
        return record_key(self.agreement.agreement_id, self.agreement.version)


def record_key(agreement_id: str, version: int) -> bytes:
    return f"{agreement_id}|{version}".encode()


def record_for(yaml_text: str, source: str = "<agreement>", now: datetime | None = None) -> tuple[bytes, bytes, Agreement]:
    """The (key, value) to publish for an agreement file; raises `AgreementRefused` naming its problems."""
    agreement = agreement_from_yaml(yaml_text, source)
    document = {"format": FORMAT, "agreement_id": agreement.agreement_id, "version": agreement.version,
                "effective_from": agreement.effective_from.isoformat(),
                "sha256": hashlib.sha256(yaml_text.encode("utf-8")).hexdigest(), "yaml": yaml_text,
                "published_at": (now or datetime.now(timezone.utc)).isoformat()}
    return record_key(agreement.agreement_id, agreement.version), \
        json.dumps(document, ensure_ascii=False, sort_keys=True).encode("utf-8"), agreement


def agreement_of(value: bytes | None) -> PublishedAgreement:
    """The agreement a record of the agreements topic carries; `PublishedAgreementInvalid` if none."""
    try:
        document = json.loads(value or b"")
    except ValueError as exc:
        raise PublishedAgreementInvalid(f"not a JSON document: {exc}") from None
    if not isinstance(document, dict) or document.get("format") != FORMAT:
        raise PublishedAgreementInvalid(f"not a {FORMAT} document")
    text = document.get("yaml")
    if not isinstance(text, str):
        raise PublishedAgreementInvalid("the document carries no agreement text ('yaml')")
    if hashlib.sha256(text.encode("utf-8")).hexdigest() != document.get("sha256"):
        raise PublishedAgreementInvalid("the agreement text does not match its SHA-256: it was changed in transit")
    try:
        agreement = agreement_from_yaml(text, f"{document.get('agreement_id')} v{document.get('version')}")
    except AgreementRefused as refused:
        raise PublishedAgreementInvalid(str(refused)) from None
    if (agreement.agreement_id, agreement.version) != (document.get("agreement_id"), document.get("version")):
        raise PublishedAgreementInvalid("the document's agreement id or version is not the text's")
    return PublishedAgreement(agreement, document["sha256"], str(document.get("published_at") or ""))
