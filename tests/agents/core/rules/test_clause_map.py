"""docs/clauses.md is what the code and the tests say now (regenerate with `qbus clauses`)."""
from agents.cli.clauses import check, render, scan_rules, scan_tests


def test_docs_clauses_md_is_current():
    ok, why = check()
    assert ok, why


def test_every_rule_module_cites_its_article_and_is_shown_by_a_test():
    rules = scan_rules()
    tests = scan_tests()
    cited = {(r.path, r.article) for r in rules}
    for path, article in [("agents/core/rules/change_control.py", 9), ("agents/core/rules/risk.py", 5),
                          ("agents/core/rules/coline.py", 8), ("agents/core/routing.py", 10),
                          ("agents/core/rules/retention.py", 11), ("agents/core/rules/release.py", 12),
                          ("agents/core/rules/eligibility.py", 17), ("agents/core/rules/eligibility.py", 18),
                          ("agents/core/rules/licence.py", 19), ("agents/core/rules/licence.py", 20),
                          ("agents/core/rules/licence.py", 25), ("agents/core/rules/periodic.py", 5),
                          ("agents/core/rules/periodic.py", 13), ("agents/core/rules/evaluation.py", 3),
                          ("agents/core/agreements/provisions.py", 6), ("agents/core/rules/access.py", 6),
                          ("agents/core/rules/capacity.py", 8), ("agents/core/rules/comparability.py", 10),
                          ("agents/core/rules/rectification.py", 13), ("agents/core/rules/remote_audit.py", 14)]:
        assert (path, article) in cited, (path, article)
        assert tests.get(article), f"no test marked clause('Art. {article}')"


def test_the_map_is_a_markdown_table_with_tests_per_article():
    text = render()
    assert "| Article | Rule (where: what) | Tests |" in text
    row = next(line for line in text.splitlines() if line.startswith("| Art. 9 |"))
    assert "agents/core/rules/change_control.py" in row
    assert "tests/agents/core/rules/test_change_control.py::test_implemented_before_approval_is_a_violation_and_pages_at_once" in row


def test_markers_and_comments_both_count(tmp_path):
    (tmp_path / "agents").mkdir()
    (tmp_path / "agents" / "rule.py").write_text(
        "x = 1\n# Art. 9: first line\n# continued here.\ny = 2  # Art. 12: inline citation\n")
    (tmp_path / "tests").mkdir()
    (tmp_path / "tests" / "test_x.py").write_text(
        "import pytest\n"
        "pytestmark = pytest.mark.clause('Art. 12')\n"
        "@pytest.mark.clause('Art. 9', 'Art. 5')\n"
        "def test_a():\n    pass\n"
        "# clause: Art. 17\n"
        "def test_b():\n    pass\n"
        "class TestC:\n    @pytest.mark.clause('Art. 8')\n    def test_d(self):\n        pass\n")
    assert [(r.article, r.text) for r in scan_rules(tmp_path)] == [(9, "first line continued here."),
                                                                    (12, "inline citation")]
    assert scan_tests(tmp_path) == {
        5: ["tests/test_x.py::test_a"], 8: ["tests/test_x.py::TestC::test_d"], 9: ["tests/test_x.py::test_a"],
        12: ["tests/test_x.py::TestC::test_d", "tests/test_x.py::test_a", "tests/test_x.py::test_b"],
        17: ["tests/test_x.py::test_b"]}


def test_the_clauses_command_prints_the_map_and_checks_it(capsys):
    import argparse

    from agents.cli.clauses import register

    parser = argparse.ArgumentParser(prog="qbus")
    register(parser.add_subparsers(dest="command"))
    args = parser.parse_args(["clauses"])
    assert args.func(args) == 0
    assert capsys.readouterr().out == render()
    args = parser.parse_args(["clauses", "--check"])
    assert args.func(args) == 0
