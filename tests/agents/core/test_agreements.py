"""The quality agreement as code: model, lint, template, versions and lookups (agents/core/agreements)."""
import argparse
import io
from datetime import datetime, timezone
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest
import yaml

from agents.core.agreements import (
    ART7_CATEGORIES,
    DEFAULT_TEMPLATE,
    Agreement,
    AgreementRefused,
    AgreementSet,
    Duration,
)
from agents.cli import agreements as agreement_cli
from agents.core.agreements.lint import format_result, lint_text, load_agreement
from agents.core.calendar import WorkingCalendar

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "agreements"
SH = ZoneInfo("Asia/Shanghai")


def template() -> dict:
    return yaml.safe_load(DEFAULT_TEMPLATE.read_text(encoding="utf-8"))


def lint_dict(data: dict):
    return lint_text(yaml.safe_dump(data, allow_unicode=True, sort_keys=False), "test.yaml")


def messages(result) -> str:
    return "\n".join(str(p) for p in result.errors)


# -- the template -----------------------------------------------------------------------------
def test_default_template_passes_lint_without_errors():
    result = lint_text(DEFAULT_TEMPLATE.read_text(encoding="utf-8"), "default.yaml")
    assert result.ok, format_result(result)
    assert result.agreement.timezone == "Asia/Shanghai"


def test_default_template_says_where_its_numbers_come_from():
    text = DEFAULT_TEMPLATE.read_text(encoding="utf-8")
    assert "TYPICAL INDUSTRY VALUE" in text
    assert "Arts. 19 and 20" in text          # the only numbers the announcement sets
    lines = text.splitlines()
    for category in ART7_CATEGORIES:
        at = lines.index(f"  {category}:")   # under communication_list
        assert lines[at + 1].strip().startswith("#"), f"{category} has no comment on its source"


@pytest.mark.parametrize("category", ART7_CATEGORIES)
@pytest.mark.parametrize("classification", ["CRITICAL", "MAJOR", "MINOR", "UNKNOWN", None])
def test_every_category_and_classification_of_the_template_resolves_to_a_deadline(category, classification):
    agreement = load_agreement(DEFAULT_TEMPLATE)
    timelines = agreement.timelines(category, classification)
    assert timelines is not None and timelines.notify is not None and timelines.acknowledge is not None
    start = datetime(2026, 11, 20, 2, 0, tzinfo=timezone.utc)
    due, _ = timelines.notify.after(start, WorkingCalendar(agreement.timezone))
    assert due > start


def test_classification_resolution_order():
    agreement = load_agreement(DEFAULT_TEMPLATE)
    assert str(agreement.timelines("deviation", "CRITICAL").notify) == "24h"
    assert str(agreement.timelines("deviation", "MAJOR").notify) == "3wd"
    assert str(agreement.timelines("deviation", None).notify) == "1wd"      # default: unclassified
    # OOS "critical" names notify and acknowledge only; close comes from default.
    assert str(agreement.timelines("oos_oot", "CRITICAL").close) == "30d"
    # Without a default, an unclassified item is treated as the strictest listed classification.
    data = template()
    del data["communication_list"]["deviation"]["default"]
    a = lint_dict(data).agreement
    assert str(a.timelines("deviation", None).notify) == "24h"


# -- lint refuses and explains ----------------------------------------------------------------
@pytest.mark.parametrize("category", ART7_CATEGORIES)
def test_lint_refuses_an_agreement_missing_a_category_and_names_it(category):
    data = template()
    del data["communication_list"][category]
    result = lint_dict(data)
    assert not result.ok
    assert f"leaves out the category '{category}'" in messages(result)
    assert "Art. 7" in messages(result)


@pytest.mark.parametrize("category", ART7_CATEGORIES)
def test_lint_refuses_a_category_without_a_communication_person(category):
    data = template()
    del data["contacts"]["communication"][category]
    result = lint_dict(data)
    assert not result.ok
    assert f"no communication person is named for the category '{category}'" in messages(result)


def test_load_refuses_with_the_problems(tmp_path):
    data = template()
    del data["communication_list"]["adverse_credit"]
    path = tmp_path / "qa.yaml"
    path.write_text(yaml.safe_dump(data, allow_unicode=True))
    with pytest.raises(AgreementRefused) as exc:
        load_agreement(path)
    assert "adverse_credit" in str(exc.value)
    assert exc.value.problems


def test_yaml_syntax_error_has_a_line_number():
    text = DEFAULT_TEMPLATE.read_text(encoding="utf-8").replace("version: 1 ", "version: [1 ", 1)
    result = lint_text(text, "broken.yaml")
    assert not result.ok
    assert result.problems[0].line is not None
    assert "not valid YAML" in result.problems[0].message


def test_shape_errors_in_plain_words_with_lines():
    text = DEFAULT_TEMPLATE.read_text(encoding="utf-8")
    text = text.replace("major: {notify: 3wd,", "major: {notify: 3 days,", 1)
    text = text.replace("timezone: Asia/Shanghai", "timezone: Asia/Shanghia", 1)
    text = text.replace("title: Quality", "titel: Quality", 1)
    result = lint_text(text, "qa.yaml")
    out = format_result(result)
    assert "'3 days' is not a duration" in out
    assert "is not a time zone" in out
    assert "'titel' is not a field qbus knows; did you mean 'title'?" in out
    line_of_days = next(i for i, l in enumerate(text.splitlines(), 1) if "3 days" in l)
    assert f"qa.yaml:{line_of_days}: error: communication_list.deviation.major.notify" in out
    assert "REFUSED" in out


def test_errors_inside_holder_manufacturer_people_point_at_the_person():
    text = DEFAULT_TEMPLATE.read_text(encoding="utf-8").replace("email: qp@cmo.example", "email: qp-at-cmo", 1)
    [problem] = lint_text(text, "qa.yaml").errors
    assert problem.where == "contacts.qp.manufacturer.email"
    assert "'qp-at-cmo' is not an e-mail address" in problem.message
    assert "qp-at-cmo" in text.splitlines()[problem.line - 1]


def test_shape_errors_do_not_hide_art7_gaps():
    data = template()
    data["version"] = "one"
    del data["communication_list"]["change"]
    result = lint_dict(data)
    assert "must be a whole number" in messages(result)
    assert "leaves out the category 'change'" in messages(result)


def test_duplicate_keys_are_reported():
    text = DEFAULT_TEMPLATE.read_text(encoding="utf-8") + "\nversion: 2\n"
    result = lint_text(text, "qa.yaml")
    assert "the key 'version' appears twice" in messages(result)


def test_ladder_roles_and_signing_keys_are_checked():
    data = template()
    data["escalation_ladder"].append({"after": "72h", "role": "qa_oncall", "channel": "email"})
    data["sources"][0]["must_sign"] = True
    result = lint_dict(data)
    assert "names the role 'qa_oncall', which nobody holds" in messages(result)
    assert "did you mean 'qa_on_call'" in messages(result)
    assert "must sign but has no public_key" in messages(result)
    data["sources"][0]["public_key"] = "bm90IGEga2V5"
    assert "an Ed25519 public key has 32" in messages(lint_dict(data))


def test_unknown_classification_is_an_error_and_decide_outside_change_a_warning():
    data = template()
    data["communication_list"]["deviation"]["majr"] = {"notify": "1wd"}
    data["communication_list"]["deviation"]["major"]["decide"] = "5wd"
    result = lint_dict(data)
    assert "'majr' is not a classification" in messages(result)
    assert any("only tracked for changes" in str(w) for w in result.warnings)


def test_missing_qp_is_refused():
    data = template()
    del data["contacts"]["qp"]
    assert "no qualified person (qp) is named" in messages(lint_dict(data))


@pytest.mark.parametrize("text,expected", [
    ("24h", (24, "h")), ("3wd", (3, "wd")), ("30m", (30, "m")), ("10s", (10, "s")), ("5d", (5, "d")),
    (" 2 wd ", (2, "wd")),
])
def test_durations(text, expected):
    d = Duration.parse(text)
    assert (d.amount, d.unit) == expected


@pytest.mark.parametrize("bad", ["3 days", "1.5h", "-2h", "h", 24, True, None])
def test_bad_durations_are_explained(bad):
    with pytest.raises(ValueError, match="duration|unit"):
        Duration.parse(bad)


# -- versions and lookups ---------------------------------------------------------------------
def test_version_effective_time_selection():
    agreements = AgreementSet.load_dir(FIXTURES)
    aid = "QA-TEST-FAST"
    assert [a.version for a in agreements.versions(aid)] == [1, 2]
    v2_from = datetime(2026, 6, 1, tzinfo=SH)
    assert agreements.effective(aid, datetime(2025, 12, 31, 15, 59, tzinfo=timezone.utc)) is None
    assert agreements.effective(aid, datetime(2026, 5, 31, 23, 59, tzinfo=SH)).version == 1
    assert agreements.effective(aid, v2_from).version == 2          # from its effective time on
    assert agreements.latest(aid).version == 2
    assert agreements.version(aid, 1).effective_from == datetime(2025, 12, 31, 16, 0, tzinfo=timezone.utc)


def test_duplicate_version_is_refused():
    a = load_agreement(FIXTURES / "fast_v1.yaml")
    with pytest.raises(AgreementRefused, match="defined twice"):
        AgreementSet([a, a])


def _second_holder(code="B-INJ-1", line="LINE-1") -> Agreement:
    data = yaml.safe_load((FIXTURES / "fast_v1.yaml").read_text())
    data["agreement_id"] = "QA-B-X"
    data["holder"] = {"id": "HOLDER-B", "name": "Holder B"}
    data["sources"] = [{"instance": "qms-b", "party": "HOLDER-B"}]
    data["products"] = [{"code": code, "generic_name": "Examplamide Injection", "dosage_form": "injection",
                         "sterile": True, "site_id": "SITE-1", "lines": [line, "LINE-9"]}]
    result = lint_dict(data)
    assert result.ok, format_result(result)
    return result.agreement


def test_lookups_by_site_line_and_product():
    agreements = AgreementSet([load_agreement(FIXTURES / "fast_v1.yaml"), _second_holder()])
    at = datetime(2026, 3, 1, tzinfo=timezone.utc)
    # Art. 8: both holders have a product on LINE-1 at SITE-1 (same generic name, different holders).
    on_line = agreements.holders_on_line("SITE-1", "LINE-1", at)
    assert sorted(p.agreement.holder.id for p in on_line) == ["HOLDER-A", "HOLDER-B"]
    assert [p.agreement.holder.id for p in agreements.holders_on_line("SITE-1", "LINE-9", at)] == ["HOLDER-B"]
    assert sorted(agreements.holders_at_site("SITE-1", at)) == ["HOLDER-A", "HOLDER-B"]
    assert agreements.holders_at_site("SITE-2", at) == {}
    [(agreement, product)] = agreements.find_product("B-INJ-1", at)
    assert (agreement.agreement_id, product.sterile) == ("QA-B-X", True)
    assert agreements.find_product("A-INJ-1", at, holder_id="HOLDER-B") == []


def test_on_call_rota_and_role_resolution():
    data = template()
    a = lint_dict(data).agreement
    weekday_day = datetime(2026, 3, 4, 10, 0, tzinfo=SH)      # Wednesday
    weekday_night = datetime(2026, 3, 5, 2, 0, tzinfo=SH)     # Thursday 02:00: the night shift of Wed
    saturday = datetime(2026, 3, 7, 10, 0, tzinfo=SH)
    names = lambda at: [p.name for p in a.people_for_role("qa_on_call", at=at)]
    assert names(weekday_day) == ["李强 Li Qiang"]
    assert names(weekday_night) == ["何洋 He Yang"]
    assert names(saturday) == ["何洋 He Yang"]
    # Prefix picks a side; otherwise the responsible party's people come first.
    assert [p.name for p in a.people_for_role("holder.head_of_quality")] == ["赵丽 Zhao Li"]
    assert [p.name for p in a.people_for_role("head_of_quality", party="MANUFACTURER")] == ["孙涛 Sun Tao"]
    assert {p.party for p in a.people_for_role("communication", category="deviation")} == {"HOLDER", "MANUFACTURER"}


def test_on_call_date_range_cover():
    data = template()
    data["contacts"]["on_call"] = [{"person": {"name": "Holiday Cover"}, "role": "qa_on_call",
                                    "from": "2026-02-14", "to": "2026-02-23"}]
    a = lint_dict(data).agreement
    assert [p.name for p in a.people_for_role("qa_on_call", at=datetime(2026, 2, 23, 22, 0, tzinfo=SH))] == ["Holiday Cover"]
    assert a.people_for_role("qa_on_call", at=datetime(2026, 2, 24, 0, 1, tzinfo=SH)) == []


def test_art17_experience_warning_for_sterile_products():
    data = template()
    data["manufacturer"]["experience"] = [{"dosage_form": "injection", "commercial_scale_years": 2}]
    result = lint_dict(data)
    assert result.ok
    assert any("Art. 17" in str(w) for w in result.warnings)
    assert result.agreement.manufacturer.commercial_sterile_years("Injection") == 2


# -- the CLI ----------------------------------------------------------------------------------
def _parse(argv):
    parser = argparse.ArgumentParser(prog="qbus")
    agreement_cli.register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    args.stdout = io.StringIO()
    return args


def test_cli_lint_exit_codes(tmp_path):
    args = _parse(["agreement", "lint", str(DEFAULT_TEMPLATE)])
    assert args.func(args) == 0
    assert "OK" in args.stdout.getvalue()
    data = template()
    del data["contacts"]["communication"]["oos_oot"]
    bad = tmp_path / "bad.yaml"
    bad.write_text(yaml.safe_dump(data, allow_unicode=True))
    args = _parse(["agreement", "lint", str(DEFAULT_TEMPLATE), str(bad)])
    assert args.func(args) == 1
    assert "'oos_oot'" in args.stdout.getvalue()
    args = _parse(["agreement", "lint", str(tmp_path / "nope.yaml")])
    assert args.func(args) == 1


def test_cli_init_writes_the_template_and_never_overwrites(tmp_path):
    out = tmp_path / "agreements" / "qa.yaml"
    args = _parse(["agreement", "init", str(out)])
    assert args.func(args) == 0
    assert out.read_text(encoding="utf-8") == DEFAULT_TEMPLATE.read_text(encoding="utf-8")
    assert args.func(args) == 1
    args = _parse(["agreement", "init", str(out), "--force"])
    assert args.func(args) == 0
    args = _parse(["agreement", "init"])
    assert args.func(args) == 0 and "communication_list:" in args.stdout.getvalue()
