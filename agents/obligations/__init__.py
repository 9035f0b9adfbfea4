"""Obligations and escalation (Arts. 5, 7, 9): pure domain logic, no Kafka."""
from agents.obligations.engine import (
    Change,
    EngineStats,
    Escalation,
    Kind,
    Obligation,
    ObligationEngine,
    ObligationSpec,
    Opener,
    OpenerRegistry,
    State,
    communication_list_opener,
    default_openers,
    obligation_id,
)

__all__ = [
    "Change", "EngineStats", "Escalation", "Kind", "Obligation", "ObligationEngine", "ObligationSpec",
    "Opener", "OpenerRegistry", "State", "communication_list_opener", "default_openers", "obligation_id",
]
