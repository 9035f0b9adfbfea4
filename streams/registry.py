"""Schema registries: where a schema id on the wire comes from.

`FileRegistry` is the embedded default (a JSON file shared by the processes of one machine; `qbus up`
serves it as a Confluent Schema Registry for outside clients, see `agents/web/api/registry.py`);
`HttpRegistry` speaks the Confluent Schema Registry REST API to a real one (Confluent, Karapace).

The bus itself registers each event schema under its record name (`qbus.events.DeviationEvent`),
because `qc.accepted` and the holder inboxes carry every category. `streams.subjects` adds the
TopicNameStrategy subjects (`qc.intake.deviation-value`) that a standard serializer looks for; the
same schema text under two subjects has one id, in both kinds of registry.
"""
from __future__ import annotations

import fcntl
import json
import os
from contextlib import contextmanager
from pathlib import Path
from typing import Protocol


class RegistryError(RuntimeError):
    pass


def canonical_text(schema: str | dict) -> str:
    value = json.loads(schema) if isinstance(schema, str) else schema
    return json.dumps(value, sort_keys=True, separators=(",", ":"), ensure_ascii=False)


class SchemaRegistry(Protocol):
    def register(self, subject: str, schema: str) -> int: ...
    def schema_by_id(self, schema_id: int) -> str: ...


class FileRegistry:
    """Ids are assigned in order and never reused; the same schema text always gets the same id.

    The file: ``{"schemas": {id: text}, "subjects": {subject: [id of version 1, id of version 2, ...]}}``.
    """

    def __init__(self, path: Path):
        self.path = Path(path)
        self.path.parent.mkdir(parents=True, exist_ok=True)
        self._by_id: dict[int, str] = {}
        self._known: dict[tuple[str, str], int] = {}   # (subject, text) -> id, once written

    @contextmanager
    def _locked(self):
        with open(self.path.with_suffix(".lock"), "w") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            try:
                yield
            finally:
                fcntl.flock(lock, fcntl.LOCK_UN)

    def read(self) -> dict:
        """The whole registry as stored (for the registry's read API)."""
        if not self.path.exists():
            return {"schemas": {}, "subjects": {}}
        return json.loads(self.path.read_text(encoding="utf-8"))

    def register(self, subject: str, schema: str) -> int:
        """The id of this schema text (new if unseen), listed as a version of `subject`."""
        text = canonical_text(schema)
        if (subject, text) in self._known:
            return self._known[(subject, text)]
        with self._locked():
            data = self.read()
            schema_id = next((int(sid) for sid, known in data["schemas"].items() if known == text), None)
            versions = data["subjects"].setdefault(subject, [])
            if schema_id is None or schema_id not in versions:
                if schema_id is None:
                    schema_id = max(map(int, data["schemas"]), default=0) + 1
                    data["schemas"][str(schema_id)] = text
                versions.append(schema_id)
                tmp = self.path.with_suffix(".tmp")
                tmp.write_text(json.dumps(data, ensure_ascii=False, indent=1), encoding="utf-8")
                os.replace(tmp, self.path)
        self._known[(subject, text)] = schema_id
        self._by_id[schema_id] = text
        return schema_id

    def schema_by_id(self, schema_id: int) -> str:
        if schema_id not in self._by_id:
            data = self.read()
            if str(schema_id) not in data["schemas"]:
                raise RegistryError(f"schema id {schema_id} is not in the registry {self.path}")
            self._by_id[schema_id] = data["schemas"][str(schema_id)]
        return self._by_id[schema_id]


class HttpRegistry:
    """Client for a Confluent-compatible Schema Registry (POST /subjects/{s}/versions, GET /schemas/ids/{id})."""

    CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"

    def __init__(self, url: str, timeout: float = 10.0, auth: tuple[str, str] | None = None):
        import httpx

        self._client = httpx.Client(base_url=url.rstrip("/"), timeout=timeout, auth=auth,
                                    headers={"Content-Type": self.CONTENT_TYPE,
                                             "Accept": self.CONTENT_TYPE})
        self._known: dict[tuple[str, str], int] = {}
        self._by_id: dict[int, str] = {}

    def _call(self, method: str, path: str, **kw) -> dict | list:
        import httpx

        try:
            response = self._client.request(method, path, **kw)
        except httpx.HTTPError as exc:
            raise RegistryError(f"schema registry unreachable at {self._client.base_url}: {exc}") from exc
        if response.status_code >= 400:
            try:
                body = response.json()
                message = f"{body.get('error_code')}: {body.get('message')}"
            except ValueError:
                message = response.text[:200]
            raise RegistryError(f"schema registry refused {method} {path}: HTTP {response.status_code} {message}")
        return response.json()

    def register(self, subject: str, schema: str) -> int:
        text = canonical_text(schema)
        if (subject, text) not in self._known:
            body = self._call("POST", f"/subjects/{subject}/versions", json={"schema": text})
            self._known[(subject, text)] = int(body["id"])
            self._by_id[int(body["id"])] = text
        return self._known[(subject, text)]

    def schema_by_id(self, schema_id: int) -> str:
        if schema_id not in self._by_id:
            self._by_id[schema_id] = self._call("GET", f"/schemas/ids/{schema_id}")["schema"]
        return self._by_id[schema_id]

    def latest(self, subject: str) -> dict:
        """``{"subject", "version", "id", "schema"}`` of the subject's latest version."""
        return self._call("GET", f"/subjects/{subject}/versions/latest")

    def close(self) -> None:
        self._client.close()


def registry_from_settings(settings) -> SchemaRegistry:
    if settings.schema_registry_url:
        return HttpRegistry(settings.schema_registry_url)
    return FileRegistry(settings.registry_path)
