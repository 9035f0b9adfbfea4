"""Quality agreements as code (Arts. 3, 6, 7, 8, 13-15, 17): models, loading, checking, the template."""
from pathlib import Path

from agents.core.agreements.agreement_set import AgreementSet, Placement
from agents.core.agreements.model import Agreement
from agents.core.agreements.parts import LadderStep, Person, Product, Timelines
from agents.core.agreements.terms import ART7_CATEGORIES, CLASSIFICATIONS, AgreementRefused, Duration, Problem

DEFAULT_TEMPLATE = Path(__file__).with_name("default.yaml")

__all__ = [
    "ART7_CATEGORIES", "CLASSIFICATIONS", "DEFAULT_TEMPLATE", "Agreement", "AgreementRefused",
    "AgreementSet", "Duration", "LadderStep", "Person", "Placement", "Problem", "Product", "Timelines",
]
