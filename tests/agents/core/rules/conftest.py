"""Fixtures of the compliance-rule tests: the four test agreements and a fresh rule state."""
from __future__ import annotations

import pytest

from agents.core.agreements import AgreementSet
from agents.core.rules import ComplianceRules, RuleState
from tests.agents.core.rules.support import AGREEMENTS_DIR, T0


def pytest_configure(config):
    config.addinivalue_line(
        "markers", 'clause(*articles): the article(s) of the announcement a test shows enforced, e.g. '
                   'clause("Art. 9"); read by agents/cli/clauses.py for docs/clauses.md')


@pytest.fixture(scope="session")
def agreements() -> AgreementSet:
    """HOLDER-A and HOLDER-B share line LINE-INJ-2 at CMO-X (same generic name); HOLDER-C is on
    another line at the same site, and has its metformin made at CMO-Y too (Art. 10); HOLDER-D is at
    another manufacturer's site."""
    return AgreementSet.load_dir(AGREEMENTS_DIR)


@pytest.fixture
def state() -> RuleState:
    return RuleState()


@pytest.fixture
def rules(agreements) -> ComplianceRules:
    return ComplianceRules(agreements, clock=lambda: T0)
