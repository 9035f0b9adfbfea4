"""Check an agreement file and explain every problem in plain words, with line numbers.

Used by ``qbus agreement lint FILE`` and by :func:`load_agreement` (which refuses a file with any
error). Three layers: YAML syntax (and duplicate keys, which YAML would silently merge), the shape
(pydantic), then the rules (:meth:`Agreement.problems`: Art. 3 evaluation, Art. 6 coordinator and
access clause, Art. 7 categories and people, the ladder, Art. 8 line capacity, Art. 14 keys, Art. 17
experience).
"""
from __future__ import annotations

import difflib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any, Mapping

import yaml
from pydantic import BaseModel, ValidationError

from agents.core.agreements import model as model_module
from agents.core.agreements import parts, provisions
from agents.core.agreements import terms as m
from agents.core.agreements.model import Agreement
from agents.core.agreements.terms import AgreementRefused, Problem


@dataclass
class LintResult:
    source: str
    agreement: Agreement | None
    problems: list[Problem] = field(default_factory=list)

    @property
    def errors(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "error"]

    @property
    def warnings(self) -> list[Problem]:
        return [p for p in self.problems if p.severity == "warning"]

    @property
    def ok(self) -> bool:
        return self.agreement is not None and not self.errors


def _all_field_names() -> list[str]:
    names: set[str] = set()
    for obj in [*vars(model_module).values(), *vars(parts).values(), *vars(provisions).values()]:
        if isinstance(obj, type) and issubclass(obj, BaseModel) and obj is not BaseModel:
            for name, info in obj.model_fields.items():
                names.add(info.alias or name)
    return sorted(names)


# -- YAML positions ---------------------------------------------------------------------------
def _duplicate_keys(node: yaml.Node, path: tuple = ()) -> list[Problem]:
    out: list[Problem] = []
    if isinstance(node, yaml.MappingNode):
        seen: dict[Any, int] = {}
        for key, value in node.value:
            k = key.value
            if k in seen:
                out.append(Problem(f"the key '{k}' appears twice (lines {seen[k]} and {key.start_mark.line + 1}); "
                                   "YAML would silently keep only the last one", path + (k,),
                                   line=key.start_mark.line + 1))
            else:
                seen[k] = key.start_mark.line + 1
            out.extend(_duplicate_keys(value, path + (k,)))
    elif isinstance(node, yaml.SequenceNode):
        for i, item in enumerate(node.value):
            out.extend(_duplicate_keys(item, path + (i,)))
    return out


def line_of(root: yaml.Node | None, path: tuple) -> int | None:
    """1-based line of the deepest node of ``path`` found in the composed YAML tree."""
    if root is None:
        return None
    node, line = root, root.start_mark.line + 1
    for part in path:
        if isinstance(node, yaml.MappingNode):
            hit = next(((k, v) for k, v in node.value if k.value == str(part)), None)
            if hit is None:
                break
            node, line = hit[1], hit[0].start_mark.line + 1
        elif isinstance(node, yaml.SequenceNode) and isinstance(part, int) and part < len(node.value):
            node = node.value[part]
            line = node.start_mark.line + 1
        else:
            break
    return line


# -- pydantic errors in plain words -----------------------------------------------------------
def _data_path(data: Any, loc: tuple) -> tuple:
    """Keep only the parts of a pydantic location that exist in the data (drops union tags); a
    missing field is named as the last part."""
    out: list = []
    cur = data
    for i, part in enumerate(loc):
        if isinstance(cur, dict) and part in cur:
            out.append(part)
            cur = cur[part]
        elif isinstance(cur, list) and isinstance(part, int) and 0 <= part < len(cur):
            out.append(part)
            cur = cur[part]
        elif isinstance(cur, dict) and isinstance(part, int) and cur and set(cur) <= {"holder", "manufacturer"}:
            # people written as {holder: ..., manufacturer: ...} are validated as one flat list
            flat: list[tuple[str, int | None, Any]] = []
            for side in ("holder", "manufacturer"):
                value = cur.get(side)
                if isinstance(value, list):
                    flat += [(side, j, v) for j, v in enumerate(value)]
                elif value is not None:
                    flat.append((side, None, value))
            if part < len(flat):
                side, j, cur = flat[part]
                out += [side] if j is None else [side, j]
        elif i == len(loc) - 1 and isinstance(cur, dict) and isinstance(part, str):
            out.append(part)
    return tuple(out)


_SKIP = {"none_required", "is_instance_of"}


def _words(err: Mapping[str, Any], names: list[str]) -> str:
    kind = err["type"]
    field_name = next((p for p in reversed(err["loc"]) if isinstance(p, str)), "")
    value = err.get("input")
    if kind == "missing":
        return f"'{field_name}' is required but missing"
    if kind == "extra_forbidden":
        hint = difflib.get_close_matches(str(field_name), names, n=1)
        return f"'{field_name}' is not a field qbus knows" + (f"; did you mean '{hint[0]}'?" if hint else "")
    if kind == "literal_error":
        expected = err.get("ctx", {}).get("expected", "")
        return f"{value!r} is not allowed here; use {expected}"
    if kind in ("value_error", "assertion_error"):
        msg = str(err.get("ctx", {}).get("error") or err["msg"])
        return msg.removeprefix("Value error, ")
    if kind in ("bool_parsing", "bool_type"):
        return f"{value!r} must be true or false"
    if kind in ("int_parsing", "int_type", "int_from_float"):
        return f"{value!r} must be a whole number"
    if kind in ("float_parsing", "float_type"):
        return f"{value!r} must be a number"
    if kind.startswith("datetime") or kind.startswith("date_"):
        return f"{value!r} is not a date and time; write e.g. 2026-03-01T00:00:00+08:00"
    if kind in ("string_too_short",):
        return "must not be empty"
    if kind in ("string_type",):
        return f"{value!r} must be text"
    if kind in ("dict_type", "model_type", "model_attributes_type"):
        return f"expected a mapping of fields here, found {type(value).__name__}"
    if kind in ("list_type",):
        return f"expected a list here, found {type(value).__name__}"
    if kind in ("greater_than_equal", "greater_than"):
        return f"{value!r} is too small ({err['msg'].lower()})"
    return err["msg"]


def _translate(exc: ValidationError, data: Any) -> list[Problem]:
    names = _all_field_names()
    by_path: dict[tuple, Problem] = {}
    for err in exc.errors(include_url=False):
        if err["type"] in _SKIP:
            continue
        path = _data_path(data, err["loc"])
        problem = Problem(_words(err, names), path)
        # a union reports one error per member; keep the first (or a value error, which is clearer)
        if path not in by_path or (err["type"] == "value_error" and "not a" in problem.message):
            by_path[path] = problem
    return list(by_path.values())


def _raw_art7_problems(data: dict) -> list[Problem]:
    """Art. 7 gaps found in raw data, so a file with shape errors still hears about them."""
    out: list[Problem] = []
    listed = data.get("communication_list")
    contacts = data.get("contacts")
    people = contacts.get("communication") if isinstance(contacts, dict) else None
    for cat in m.ART7_CATEGORIES:
        title = m.CATEGORY_TITLES[cat]
        if isinstance(listed, dict) and cat not in listed:
            out.append(Problem(f"the communication list leaves out the category '{cat}' ({title})",
                               ("communication_list",), article="Art. 7"))
        if isinstance(people, dict) and not people.get(cat):
            out.append(Problem(f"no communication person is named for the category '{cat}' ({title})",
                               ("contacts", "communication"), article="Art. 7"))
    if listed is None:
        out.append(Problem("there is no communication_list; Art. 7 requires one covering "
                           + ", ".join(m.ART7_CATEGORIES), ("communication_list",), article="Art. 7"))
    return out


def _raw_art6_problems(data: dict) -> list[Problem]:
    """Art. 6 gaps found in raw data (no coordinator, no access clause), for a file with shape errors."""
    out: list[Problem] = []
    contacts = data.get("contacts")
    if isinstance(contacts, dict) and not contacts.get("qms_coordinator"):
        out.append(Problem("no person is named to coordinate with the holder's quality management system "
                           "(contacts.qms_coordinator)", ("contacts", "qms_coordinator"), article="Art. 6"))
    if not data.get("holder_access"):
        out.append(Problem("the agreement does not state the holder's right of access (holder_access)",
                           ("holder_access",), article="Art. 6"))
    return out


# -- entry points -----------------------------------------------------------------------------
def lint_text(text: str, source: str = "<agreement>") -> LintResult:
    """Check agreement YAML text; the result holds the agreement (if it has the right shape) and
    every problem found."""
    try:
        root = yaml.compose(text, Loader=yaml.SafeLoader)
        data = yaml.safe_load(text)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        line = mark.line + 1 if mark else None
        col = f", column {mark.column + 1}" if mark else ""
        what = exc.problem or "syntax error"
        context = f" ({exc.context})" if exc.context else ""
        return LintResult(source, None, [Problem(
            f"the file is not valid YAML: {what}{context} at line {line}{col}", line=line)])
    except yaml.YAMLError as exc:
        return LintResult(source, None, [Problem(f"the file is not valid YAML: {exc}")])
    if data is None:
        return LintResult(source, None, [Problem("the file is empty; run 'qbus agreement init' for a template")])
    if not isinstance(data, dict):
        return LintResult(source, None, [Problem(
            "the top level must be a mapping of fields (agreement_id: ..., version: ...), "
            f"not a {type(data).__name__}", line=1)])
    problems = _duplicate_keys(root)
    agreement: Agreement | None = None
    try:
        agreement = Agreement.model_validate(data)
    except ValidationError as exc:
        problems += _translate(exc, data)
        problems += _raw_art7_problems(data)
        problems += _raw_art6_problems(data)
    else:
        problems += agreement.problems()
    problems = [p if p.line is not None else replace(p, line=line_of(root, p.path)) for p in problems]
    problems.sort(key=lambda p: (p.severity != "error", p.line or 0))
    return LintResult(source, agreement, problems)


def lint_file(path: str | Path) -> LintResult:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        return LintResult(str(path), None, [Problem("no such file")])
    except UnicodeDecodeError as exc:
        return LintResult(str(path), None, [Problem(f"the file is not UTF-8 text (byte {exc.start})")])
    except OSError as exc:
        return LintResult(str(path), None, [Problem(f"cannot read the file: {exc.strerror or exc}")])
    return lint_text(text, str(path))


def load_agreement(path: str | Path) -> Agreement:
    """Load and check one agreement file; raise :class:`AgreementRefused` on any error."""
    result = lint_file(path)
    if result.agreement is None or result.errors:
        raise AgreementRefused(str(path), result.problems)
    return result.agreement


def agreement_from_yaml(text: str, source: str = "<agreement>") -> Agreement:
    """Check and load an agreement from YAML text; raise :class:`AgreementRefused` on any error."""
    result = lint_text(text, source)
    if result.agreement is None or result.errors:
        raise AgreementRefused(source, result.problems)
    return result.agreement


def format_result(result: LintResult) -> str:
    """``FILE:LINE: error: where: message (Art. N)`` lines, then a one-line verdict."""
    lines = []
    for p in result.problems:
        loc = f"{result.source}:{p.line}" if p.line else result.source
        lines.append(f"{loc}: {p}")
    n_err, n_warn = len(result.errors), len(result.warnings)
    a = result.agreement
    if result.ok and a is not None:
        extra = f" ({n_warn} warning{'s' if n_warn != 1 else ''})" if n_warn else ""
        lines.append(f"{result.source}: OK — {a.agreement_id} version {a.version}{extra}")
    else:
        lines.append(f"{result.source}: REFUSED — {n_err} error{'s' if n_err != 1 else ''}"
                     + (f", {n_warn} warning{'s' if n_warn != 1 else ''}" if n_warn else ""))
    return "\n".join(lines)
