"""Agreements as records of the agreements topic (Art. 15): a version is taken whole or refused."""
import json

import pytest

from agents.core.agreements.published import PublishedAgreementInvalid, agreement_of, record_for
from agents.core.agreements.terms import AgreementRefused
from tests.conftest import ROOT

pytestmark = pytest.mark.clause("Art. 15")
TEXT = (ROOT / "deploy/demo/agreements/QA-HOLDERA-CMOX-001.yaml").read_text(encoding="utf-8")


def test_a_published_version_is_read_back_as_the_agreement():
    key, value, agreement = record_for(TEXT)
    assert key == f"{agreement.agreement_id}|{agreement.version}".encode()   # every version kept by compaction
    back = agreement_of(value)
    assert back.agreement.model_dump() == agreement.model_dump()


@pytest.mark.parametrize("damage, words", [
    (lambda d: d.update(yaml=d["yaml"].replace("24h", "25h", 1)), "does not match its SHA-256"),
    (lambda d: d.update(version=99), "not the text's"),
    (lambda d: d.update(format="something-else"), "not a qbus-agreement document"),
])
def test_a_record_that_does_not_check_out_is_refused(damage, words):
    document = json.loads(record_for(TEXT)[1])
    damage(document)
    with pytest.raises(PublishedAgreementInvalid, match=words):
        agreement_of(json.dumps(document).encode())


def test_a_file_the_lint_refuses_is_never_published():
    with pytest.raises(AgreementRefused):
        record_for("agreement_id: QA-X\nversion: 1\n")
