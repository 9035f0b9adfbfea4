"""docs/wire-format.md says what the code does: the field order, the subjects, the size limit."""
import re
from pathlib import Path

from schemas import default_schemas
from streams.settings import Settings
from streams.subjects import registrations
from streams.topics import TopicCatalogue

DOC = (Path(__file__).resolve().parents[2] / "docs" / "wire-format.md").read_text(encoding="utf-8")


def documented_order() -> list[str]:
    block = DOC.split("<!-- field-order -->")[1].split("<!-- /field-order -->")[0]
    return re.findall(r"^\d+\. `([a-z_]+)`", block, flags=re.M)


def test_the_documented_field_order_is_the_composed_schemas():
    schemas = default_schemas()
    for category in schemas.categories.values():
        assert [f["name"] for f in category.event["fields"]] == documented_order(), category.name


def test_every_documented_subject_pattern_exists():
    subjects = {r.subject for r in registrations(TopicCatalogue())}
    for category in default_schemas().intake_categories:
        assert f"qc.intake.{category}-value" in subjects
    assert {"qc.deadletter-value", "qc.obligations-value", "qc.findings-value", "qbus.DeadLetter"} <= subjects
    assert not any(s.startswith(("qc.accepted", "qc.inbox")) for s in subjects)


def test_the_size_limit_is_the_settings_default():
    assert Settings().max_event_bytes == 1_048_576 and "1 048 576 bytes" in DOC
