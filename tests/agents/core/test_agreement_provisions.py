"""The agreement's provisions and their lint (agents/core/agreements/provisions.py): the evaluation
before signing (Art. 3), the QMS coordinator and the holder's right of access (Art. 6), the sites'
declarations (Arts. 8, 14) and the rectification deadlines (Art. 13)."""
import pytest
import yaml

from agents.core.agreements import DEFAULT_TEMPLATE
from agents.core.agreements.lint import format_result, lint_text, load_agreement
from agents.core.agreements.provisions import DEFAULT_RECTIFICATION, rectification_deadline


def template() -> dict:
    return yaml.safe_load(DEFAULT_TEMPLATE.read_text(encoding="utf-8"))


def lint(data: dict):
    return lint_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "qa.yaml")


def errors(result) -> str:
    return "\n".join(str(p) for p in result.errors)


def warnings(result) -> str:
    return "\n".join(str(p) for p in result.warnings)


# -- Art. 6 -----------------------------------------------------------------------------------
@pytest.mark.clause("Art. 6")
def test_an_agreement_without_a_qms_coordinator_is_refused():
    data = template()
    del data["contacts"]["qms_coordinator"]
    result = lint(data)
    assert not result.ok
    assert "no person is named to coordinate with the holder's quality management system" in errors(result)
    assert "(Art. 6)" in errors(result)


@pytest.mark.clause("Art. 6")
def test_the_coordinator_is_the_manufacturers():
    data = template()
    data["contacts"]["qms_coordinator"] = {"holder": {"name": "Holder QA"}}
    assert "the QMS coordinator must be the manufacturer's person" in errors(lint(data))


@pytest.mark.clause("Art. 6")
def test_an_agreement_without_the_access_clause_is_refused_with_its_line():
    text = DEFAULT_TEMPLATE.read_text(encoding="utf-8").replace("holder_access:", "holder_access_removed:", 1)
    result = lint_text(text, "qa.yaml")
    assert not result.ok
    assert "'holder_access_removed' is not a field qbus knows; did you mean 'holder_access'?" in errors(result)
    data = template()
    del data["holder_access"]
    assert "does not state the holder's right of access" in errors(lint(data))


@pytest.mark.clause("Art. 6")
def test_an_access_clause_that_leaves_a_right_out_is_refused():
    text = DEFAULT_TEMPLATE.read_text(encoding="utf-8").replace("  facilities: true", "  facilities: false", 1)
    result = lint_text(text, "qa.yaml")
    [problem] = result.errors
    assert "leaves out inspection of the facilities; set facilities: true" in problem.message
    assert text.splitlines()[problem.line - 1] == "holder_access:"
    assert f"qa.yaml:{problem.line}: error: holder_access:" in format_result(result)


@pytest.mark.clause("Art. 6")
def test_shape_errors_do_not_hide_the_art6_gaps():
    data = template()
    data["version"] = "one"
    del data["holder_access"]
    del data["contacts"]["qms_coordinator"]
    text = errors(lint(data))
    assert "must be a whole number" in text
    assert "does not state the holder's right of access" in text and "contacts.qms_coordinator" in text


@pytest.mark.clause("Art. 6")
def test_the_coordinator_can_be_named_on_the_ladder():
    data = template()
    data["escalation_ladder"].append({"after": "72h", "role": "qms_coordinator", "channel": "email"})
    result = lint(data)
    assert result.ok, format_result(result)
    assert [p.name for p in result.agreement.people_for_role("qms_coordinator")] == ["李强 Li Qiang"]


# -- Art. 3 -----------------------------------------------------------------------------------
@pytest.mark.clause("Art. 3")
def test_no_evaluation_is_a_warning_the_bus_follows_up():
    data = template()
    del data["evaluation"]
    result = lint(data)
    assert result.ok
    assert "no evaluation of the holder and the product is recorded" in warnings(result)


@pytest.mark.clause("Art. 3")
def test_an_evaluation_after_signing_unsatisfactory_or_incomplete_is_explained():
    data = template()
    data["evaluation"].update(completed_on="2026-02-01", satisfactory=False, covers=["product_risk"])
    text = warnings(lint(data))
    assert "is not satisfactory" in text
    assert "completed on 2026-02-01, after the agreement takes effect (2026-01-01)" in text
    assert "does not cover the holder's qualification, the holder's quality management capability" in text


@pytest.mark.clause("Art. 3")
def test_within_one_group_the_evaluation_may_leave_the_holders_qualification_out():
    data = template()
    data["same_group_unified_qms"] = True
    data["evaluation"]["covers"] = ["product_risk", "technical_transfer", "shared_line"]
    assert "does not cover" not in warnings(lint(data))


@pytest.mark.clause("Art. 3")
def test_an_unknown_evaluation_aspect_is_a_shape_error():
    data = template()
    data["evaluation"]["covers"] = ["product_risk", "shared_lines"]
    assert "'shared_lines' is not allowed here" in errors(lint(data))


# -- Arts. 8, 14 ------------------------------------------------------------------------------
@pytest.mark.clause("Art. 8")
def test_site_declarations_are_checked_against_the_products():
    data = template()
    data["sites"].append({"site_id": "SITE-HZ-01"})
    data["sites"].append({"site_id": "SITE-XX-09", "lines": [{"line_id": "L-9", "max_entrusted_products": 1}]})
    result = lint(data)
    assert "site 'SITE-HZ-01' is declared twice" in errors(result)
    text = warnings(result)
    assert "site 'SITE-XX-09' makes none of the agreement's products" in text
    assert "line 'L-9' at 'SITE-XX-09' carries none of the agreement's products" in text


@pytest.mark.clause("Art. 8")
def test_a_capacity_is_a_whole_number_from_one():
    data = template()
    data["sites"][0]["lines"][0]["max_entrusted_products"] = 0
    [problem] = lint(data).errors
    assert str(problem).startswith("error: sites[0].lines[0].max_entrusted_products: 0 is too small")


@pytest.mark.clause("Art. 8")
def test_a_line_this_agreement_alone_overfills_is_a_warning():
    data = template()
    second = dict(data["products"][0], code="EX-INJ-20")
    data["products"].append(second)
    data["sites"][0]["lines"][0]["max_entrusted_products"] = 1
    assert "carries 2 products of this agreement alone, above the capacity of 1" in warnings(lint(data))


@pytest.mark.clause("Art. 14")
def test_the_template_declares_its_site_as_exchanging_data():
    agreement = load_agreement(DEFAULT_TEMPLATE)
    assert agreement.site("SITE-HZ-01").electronic_data_exchange is True
    assert agreement.site("SITE-HZ-01").capacity("FILL-LINE-2") == 4
    assert agreement.site("SITE-NOPE") is None


# -- Art. 13 ----------------------------------------------------------------------------------
@pytest.mark.clause("Art. 13")
def test_rectification_deadlines_by_severity_with_defaults():
    agreement = load_agreement(DEFAULT_TEMPLATE)
    assert [str(rectification_deadline(agreement, s)) for s in ("critical", "MAJOR", "minor", None, "odd")] == [
        "15wd", "30d", "60d", "30d", "30d"]
    data = template()
    del data["rectification"]
    assert rectification_deadline(lint(data).agreement, "critical") == DEFAULT_RECTIFICATION
    data["rectification"] = {"major": "2 weeks"}
    assert "'2 weeks' is not a duration" in errors(lint(data))
