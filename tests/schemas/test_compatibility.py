"""Schema edits must stay compatible both ways with the previous committed version."""
import copy


from schemas import SchemaSet, default_schemas
from schemas.compat import compare, previous_version, repo_root


def test_current_schemas_are_compatible_with_the_previous_committed_version():
    current = default_schemas()
    previous = previous_version(current, repo_root())
    # The history holds earlier schema versions (the envelope gained copy_of_event_id, the bus
    # records their engine fields), so there is always one to compare with.
    assert previous is not None, "no earlier committed version of the schemas found (shallow clone?)"
    commit, old = previous
    assert compare(old, current) == [], f"incompatible with schemas at {commit[:10]}"


def _edited(schemas: SchemaSet, edit) -> SchemaSet:
    clone = copy.copy(schemas)
    clone.categories = dict(schemas.categories)
    category = clone.categories["deviation"]
    payload = copy.deepcopy(category.payload)
    edit(payload)
    from schemas import CategorySchema
    clone.categories["deviation"] = CategorySchema("deviation", payload, schemas._compose("deviation", payload), False)
    return clone


def test_a_new_required_field_is_caught():
    # Reason: a new consumer cannot read old events that lack the field (not backward compatible).
    current = default_schemas()
    edited = _edited(current, lambda p: p["fields"].append({"name": "batch_size_kg", "type": "double", "doc": "x"}))
    problems = compare(current, edited)
    assert any("deviation: not backward compatible" in p for p in problems)


def test_a_changed_field_type_is_caught():
    # Reason: a boolean cannot be read as a string either way.
    current = default_schemas()

    def retype(payload):
        field = next(f for f in payload["fields"] if f["name"] == "product_impact")
        field["type"] = "string"
        field.pop("default", None)

    problems = compare(current, _edited(current, retype))
    assert any("backward" in p for p in problems) and any("forward" in p for p in problems)


def test_an_optional_field_with_default_is_compatible():
    current = default_schemas()
    edited = _edited(current, lambda p: p["fields"].append(
        {"name": "room", "type": ["null", "string"], "default": None, "doc": "Room where it happened."}))
    assert compare(current, edited) == []


def test_removing_an_action_is_caught():
    current = default_schemas()
    edited = _edited(current, lambda p: p["actions"].remove("closed"))
    assert "deviation: actions removed: closed" in compare(current, edited)
