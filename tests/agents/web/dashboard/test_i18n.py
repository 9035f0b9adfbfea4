"""Chinese and English labels: complete for every category and action the schemas define."""
from datetime import UTC, datetime, timedelta

import pytest

from agents.web.dashboard.i18n import ACTIONS, CATEGORIES, TEXT, Translator, format_local, format_span, language_from_header
from schemas import default_schemas


def test_every_category_and_action_of_the_schemas_has_both_labels():
    for category, schema in default_schemas().categories.items():
        assert category in CATEGORIES, category
        for action in schema.actions:
            assert action in ACTIONS, f"{category}.{action}"
    assert all(en and zh and en != zh or key == "app_name" for key, (en, zh) in TEXT.items())


def test_art7_categories_read_as_qa_staff_say_them():
    zh = Translator("zh")
    assert [zh.category(c) for c in ("deviation", "change", "oos_oot", "qualification_validation",
                                      "retention_stability", "pharmacovigilance", "regulatory_inspection",
                                      "adverse_credit")] == [
        "偏差", "变更", "超标/超趋势", "确认与验证", "留样与稳定性", "药物警戒", "监管检查", "不良信用记录"]
    assert Translator("en").event_type("change.approved") == "Change approved"
    assert zh.event_type("deviation.reported") == "偏差 已报告"


@pytest.mark.parametrize("header, lang", [("zh-CN,zh;q=0.9,en;q=0.8", "zh"), ("en-GB,en;q=0.9", "en"),
                                          ("fr-FR, zh;q=0.5", "zh"), ("fr", None), (None, None)])
def test_language_from_the_browser(header, lang):
    assert language_from_header(header) == lang


def test_spans_and_local_times():
    assert format_span(timedelta(hours=26, minutes=5)) == "1 d 2 h"
    assert format_span(timedelta(minutes=-45)) == "45 m"
    assert format_span(timedelta(hours=3, minutes=59), "zh") == "3小时59分钟"
    moment = datetime(2026, 11, 20, 8, 30, tzinfo=UTC)
    assert format_local(moment, "Asia/Shanghai") == "2026-11-20 16:30"
