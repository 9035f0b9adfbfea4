"""Obligations and escalation (Arts. 5, 7, 9): pure domain logic, no Kafka."""
from agents.core.obligations.engine import EngineStats, ObligationEngine
from agents.core.obligations.gauges import Counts
from agents.core.obligations.model import Change, Escalation, Kind, Obligation, ObligationSpec, State
from agents.core.obligations.openers import (Opener, OpenerRegistry, communication_list_opener, default_openers,
                                             obligation_id)
from agents.core.obligations.snapshot import SnapshotInvalid

__all__ = [
    "Change", "Counts", "EngineStats", "Escalation", "Kind", "Obligation", "ObligationEngine", "ObligationSpec",
    "Opener", "OpenerRegistry", "SnapshotInvalid", "State", "communication_list_opener", "default_openers",
    "obligation_id",
]
