"""Read events from JSON or YAML files (one event or a list of them)."""
from __future__ import annotations

import json
from pathlib import Path

import yaml


class _PlainYamlLoader(yaml.SafeLoader):
    """YAML without implicit timestamps: times stay text and are parsed (with their zone) by validation."""


_PlainYamlLoader.yaml_implicit_resolvers = {
    key: [(tag, regexp) for tag, regexp in resolvers if tag != "tag:yaml.org,2002:timestamp"]
    for key, resolvers in yaml.SafeLoader.yaml_implicit_resolvers.items()
}


class EventFileError(ValueError):
    pass


def load_events(path: Path) -> list[dict]:
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise EventFileError(f"{path}: cannot read: {exc.strerror}") from exc
    try:
        if path.suffix.lower() == ".json":
            data = json.loads(text)
        else:
            data = yaml.load(text, Loader=_PlainYamlLoader)
    except json.JSONDecodeError as exc:
        raise EventFileError(f"{path}: not valid JSON: line {exc.lineno} column {exc.colno}: {exc.msg}") from exc
    except yaml.YAMLError as exc:
        raise EventFileError(f"{path}: not valid YAML: {exc}") from exc
    events = data if isinstance(data, list) else [data]
    for index, event in enumerate(events):
        if not isinstance(event, dict):
            raise EventFileError(f"{path}: item {index + 1} is not an event object")
    return events
