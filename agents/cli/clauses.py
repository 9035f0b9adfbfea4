"""The clause map: which article of the announcement is enforced where, and which test shows it.

Built from the code itself, so it cannot drift from it:

* rules: every comment of the form ``# Art. 9: higher classification wins`` in ``agents/**/*.py``
  (continued on the following comment lines); ``# Art. 7 (and Art. 5 for deviations): ...`` counts
  for the first article named;
* tests: every test in ``tests/**/test_*.py`` marked ``@pytest.mark.clause("Art. 9")`` (several
  articles may be given; a module's ``pytestmark`` counts for all its tests), or preceded by a
  comment ``# clause: Art. 9``.

``qbus clauses`` prints the Markdown table (committed as ``docs/clauses.md``); ``--check`` exits 1
when the committed file differs from what the code says now.
"""
from __future__ import annotations

import argparse
import ast
import io
import re
import sys
import tokenize
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
DOC = Path("docs") / "clauses.md"
_RULE_COMMENT = re.compile(r"^#\s*Art\.\s*(\d+)\b(?:\s*\([^)]*\))?\s*:\s*(.*)$")
_TEST_COMMENT = re.compile(r"^#\s*clause:\s*(.+)$", re.IGNORECASE)
_NUMBER = re.compile(r"\d+")


@dataclass(frozen=True, order=True)
class RuleCitation:
    article: int
    path: str
    line: int
    text: str


def _comments(path: Path) -> list[tuple[int, int, str]]:
    """(line, column, text) of every comment token of a Python file."""
    out = []
    try:
        tokens = tokenize.generate_tokens(io.StringIO(path.read_text(encoding="utf-8")).readline)
        for tok in tokens:
            if tok.type == tokenize.COMMENT:
                out.append((tok.start[0], tok.start[1], tok.string))
    except (tokenize.TokenError, SyntaxError, UnicodeDecodeError):
        pass
    return out


def scan_rules(root: Path = ROOT) -> list[RuleCitation]:
    """Every ``# Art. N: ...`` comment under ``agents/``, with its continuation lines joined."""
    found: list[RuleCitation] = []
    for path in sorted((root / "agents").rglob("*.py")):
        comments = _comments(path)
        by_line = {line: (col, text) for line, col, text in comments}
        for line, col, text in comments:
            match = _RULE_COMMENT.match(text)
            if not match:
                continue
            words = [match.group(2).strip()]
            nxt = line + 1
            while nxt in by_line and by_line[nxt][0] == col:
                more = by_line[nxt][1]
                if _RULE_COMMENT.match(more) or not more.startswith("# "):
                    break
                words.append(more[1:].strip())
                nxt += 1
            text_out = " ".join(w for w in words if w)
            found.append(RuleCitation(int(match.group(1)), path.relative_to(root).as_posix(), line, text_out))
    return sorted(found)


def _articles_of(call: ast.AST) -> list[int]:
    """Articles named by a ``pytest.mark.clause(...)`` expression (or a list of marks)."""
    out: list[int] = []
    if isinstance(call, (ast.List, ast.Tuple)):
        for element in call.elts:
            out += _articles_of(element)
    elif isinstance(call, ast.Call) and isinstance(call.func, ast.Attribute) and call.func.attr == "clause":
        for arg in call.args:
            if isinstance(arg, ast.Constant) and isinstance(arg.value, str):
                out += [int(n) for n in _NUMBER.findall(arg.value)]
    return out


def _comment_articles(first_line: int, comments: dict[int, str]) -> list[int]:
    """Articles of ``# clause: Art. N`` comments in the comment block right above ``first_line``."""
    out: list[int] = []
    line = first_line - 1
    while line in comments:
        match = _TEST_COMMENT.match(comments[line])
        if match:
            out += [int(n) for n in _NUMBER.findall(match.group(1))]
        line -= 1
    return out


def scan_tests(root: Path = ROOT) -> dict[int, list[str]]:
    """Article -> test node ids (``path::Class::test``) marked for it."""
    found: dict[int, set[str]] = {}
    for path in sorted((root / "tests").rglob("test_*.py")):
        try:
            tree = ast.parse(path.read_text(encoding="utf-8"))
        except SyntaxError:
            continue
        comments = {line: text for line, _, text in _comments(path)}
        rel = path.relative_to(root).as_posix()
        module_articles: list[int] = []
        for node in tree.body:
            if isinstance(node, ast.Assign) and any(isinstance(t, ast.Name) and t.id == "pytestmark"
                                                    for t in node.targets):
                module_articles += _articles_of(node.value)

        def visit(body, prefix: str, inherited: list[int]) -> None:
            for node in body:
                if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
                    first = min([d.lineno for d in node.decorator_list] + [node.lineno])
                    articles = list(inherited) + _comment_articles(first, comments)
                    for decorator in node.decorator_list:
                        articles += _articles_of(decorator)
                    if isinstance(node, ast.ClassDef):
                        if node.name.startswith("Test"):
                            visit(node.body, f"{prefix}::{node.name}", articles)
                    elif node.name.startswith("test"):
                        for article in articles:
                            found.setdefault(article, set()).add(f"{prefix}::{node.name}")

        visit(tree.body, rel, module_articles)
    return {article: sorted(ids) for article, ids in sorted(found.items())}


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def render(root: Path = ROOT) -> str:
    """The clause map as Markdown."""
    rules = scan_rules(root)
    tests = scan_tests(root)
    articles = sorted({r.article for r in rules} | set(tests))
    untested = [a for a in articles if a in {r.article for r in rules} and a not in tests]
    lines = [
        "# Clause map: what qbus enforces, article by article",
        "",
        "NMPA Announcement No. 134 of 2025 (`reference/nmpa-announcement-134-2025.txt`). Generated by",
        "`qbus clauses` from the `# Art. N:` comments in `agents/` and the tests marked",
        '`@pytest.mark.clause("Art. N")`; do not edit by hand. Regenerate with',
        "`qbus clauses > docs/clauses.md` (or `python -m agents.cli.clauses > docs/clauses.md`);",
        "`tests/agents/core/rules/test_clause_map.py` fails when this file is out of date.",
        "",
        f"{len(rules)} rule citations over {len({r.article for r in rules})} articles; "
        f"{sum(len(v) for v in tests.values())} test references.",
    ]
    if untested:
        lines.append("Articles cited in the code but not shown by a marked test: "
                     + ", ".join(f"Art. {a}" for a in untested) + ".")
    lines += ["", "| Article | Rule (where: what) | Tests |", "|---|---|---|"]
    for article in articles:
        cited = [r for r in rules if r.article == article]
        rule_cell = "<br>".join(f"`{r.path}`: {_cell(r.text)}" for r in cited) or "(no rule cites it)"
        test_cell = "<br>".join(f"`{t}`" for t in tests.get(article, ())) or "—"
        lines.append(f"| Art. {article} | {rule_cell} | {test_cell} |")
    return "\n".join(lines) + "\n"


def check(root: Path = ROOT, doc: Path | None = None) -> tuple[bool, str]:
    """(True, "") if ``docs/clauses.md`` is what the code says now; else (False, why)."""
    doc = doc or root / DOC
    expected = render(root)
    if not doc.exists():
        return False, f"{doc} does not exist; write it with `qbus clauses > {DOC}`"
    current = doc.read_text(encoding="utf-8")
    if current == expected:
        return True, ""
    old, new = set(current.splitlines()), set(expected.splitlines())
    gone = sorted(old - new)[:5]
    added = sorted(new - old)[:5]
    detail = "".join(f"\n  - {line[:160]}" for line in gone) + "".join(f"\n  + {line[:160]}" for line in added)
    return False, f"{doc} is out of date; regenerate it with `qbus clauses > {DOC}`.{detail}"


def cmd_clauses(args) -> int:
    if args.check:
        ok, why = check()
        print(f"{DOC} is current" if ok else why, file=sys.stdout if ok else sys.stderr)
        return 0 if ok else 1
    sys.stdout.write(render())
    return 0


def register(subparsers: argparse._SubParsersAction) -> None:
    clauses = subparsers.add_parser(
        "clauses", help="print the clause map: article -> rule -> test (Markdown)")
    clauses.add_argument("--check", action="store_true",
                         help=f"exit 1 if {DOC} differs from what the code says now")
    clauses.set_defaults(func=cmd_clauses)


if __name__ == "__main__":
    parser = argparse.ArgumentParser(prog="python -m agents.cli.clauses")
    sub = parser.add_subparsers(dest="command")
    register(sub)
    arguments = parser.parse_args(["clauses", *sys.argv[1:]])
    sys.exit(arguments.func(arguments))
