"""Quality agreements as code (Arts. 6, 7, 15, 17): models, loading, checking, the template."""
from pathlib import Path

from agents.agreements.model import (
    ART7_CATEGORIES,
    CLASSIFICATIONS,
    Agreement,
    AgreementRefused,
    AgreementSet,
    Duration,
    LadderStep,
    Person,
    Placement,
    Problem,
    Product,
    Timelines,
)

DEFAULT_TEMPLATE = Path(__file__).with_name("default.yaml")

__all__ = [
    "ART7_CATEGORIES", "CLASSIFICATIONS", "DEFAULT_TEMPLATE", "Agreement", "AgreementRefused",
    "AgreementSet", "Duration", "LadderStep", "Person", "Placement", "Problem", "Product", "Timelines",
]
