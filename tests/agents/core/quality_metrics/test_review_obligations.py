"""The quarterly risk assessment and the product quality review that the rules open (Art. 5) name
the command that prints their communication figures."""
import pytest

from agents.core.agreements import AgreementSet
from agents.core.pipeline import Pipeline
from tests.agents.core.rules.support import A_CAP, AGREEMENTS_DIR, T0, make


@pytest.mark.clause("Art. 5")
def test_the_periodic_review_obligations_point_to_qbus_review():
    step = Pipeline(AgreementSet.load_dir(AGREEMENTS_DIR)).process(make("deviation.reported", A_CAP), T0)
    described = {r["item_ref"]: r["payload"]["description"] for r in step.records
                 if r["event_type"] == "obligation.opened" and r["payload"]["category"] == "periodic_review"}
    assert "qbus review --agreement QA-HOLDERA-CMOX-001 --quarter 2026Q4" in described["PR-2026-Q4-HA-AMX-500"]
    assert "qbus review --agreement QA-HOLDERA-CMOX-001 --year 2026" in described["PQR-2026-HA-AMX-500"]
