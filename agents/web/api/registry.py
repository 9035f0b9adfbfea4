"""The embedded bus's schemas, served as a Confluent Schema Registry (the read API and lookup).

Outside Kafka clients (confluent-kafka's ``SchemaRegistryClient``, Java's ``KafkaAvroSerializer``)
find the schema of a topic by its subject and get the same ids the bus writes on the wire, because
this serves the bus's own file registry (``<state_dir>/schema-registry.json``). At start every
committed schema is registered there under its record name and its topic subject
(`streams.subjects`). The registry is read-only: schemas change by a commit to ``schemas/``, so a
client must run with ``auto.register.schemas: False`` (re-registering a schema that is already
there answers its id, as a real registry does). Errors come in the registry's own JSON shape,
``{"error_code": 40401, "message": "Subject 'x' not found."}``.
"""
from __future__ import annotations

import json
import logging
from pathlib import Path

import fastavro
from aiohttp import web

from schemas import SchemaSet, default_schemas
from streams.registry import FileRegistry, canonical_text
from streams.subjects import register_all
from streams.topics import TopicCatalogue

log = logging.getLogger(__name__)

CONTENT_TYPE = "application/vnd.schemaregistry.v1+json"
# The bus checks every schema change both ways against the last release (schemas/compat.py).
COMPATIBILITY = "FULL"
REGISTRY_FILE = web.AppKey("registry_file", FileRegistry)


class RegistryRefusal(web.HTTPException):
    """An error answer in the Schema Registry's JSON shape."""

    def __init__(self, status: int, error_code: int, message: str):
        self.status_code = status
        super().__init__(text=json.dumps({"error_code": error_code, "message": message}), content_type=CONTENT_TYPE)


def _subject_not_found(subject: str) -> RegistryRefusal:
    return RegistryRefusal(404, 40401, f"Subject '{subject}' not found.")


def _answer(body) -> web.Response:
    return web.Response(text=json.dumps(body, ensure_ascii=False), content_type=CONTENT_TYPE)


def _data(request: web.Request) -> dict:
    return request.app[REGISTRY_FILE].read()


def _versions(data: dict, subject: str) -> list[int]:
    if subject not in data["subjects"]:
        raise _subject_not_found(subject)
    return data["subjects"][subject]


def _version(request: web.Request) -> tuple[str, int, int, str]:
    """(subject, version, id, schema text) of /subjects/{subject}/versions/{version}."""
    data = _data(request)
    subject = request.match_info["subject"]
    ids = _versions(data, subject)
    raw = request.match_info["version"]
    if raw in ("latest", "-1"):
        number = len(ids)
    else:
        try:
            number = int(raw)
        except ValueError:
            raise RegistryRefusal(422, 42202, "The specified version is not a valid version id. Allowed values are "
                                              "between [1, 2^31-1] and the string \"latest\"") from None
        if not 1 <= number <= 2**31 - 1:
            raise RegistryRefusal(422, 42202, "The specified version is not a valid version id. Allowed values are "
                                              "between [1, 2^31-1] and the string \"latest\"")
    if number > len(ids):
        raise RegistryRefusal(404, 40402, f"Version {number} not found.")
    schema_id = ids[number - 1]
    return subject, number, schema_id, data["schemas"][str(schema_id)]


def _schema_text(request: web.Request) -> tuple[int, str]:
    data = _data(request)
    raw = request.match_info["id"]
    text = data["schemas"].get(raw) if raw.isdigit() else None
    if text is None:
        raise RegistryRefusal(404, 40403, "Schema not found")
    return int(raw), text


# --- routes -------------------------------------------------------------------------------------
async def root(request: web.Request) -> web.Response:
    return _answer({})


async def subjects(request: web.Request) -> web.Response:
    return _answer(sorted(_data(request)["subjects"]))


async def subject_versions(request: web.Request) -> web.Response:
    ids = _versions(_data(request), request.match_info["subject"])
    return _answer(list(range(1, len(ids) + 1)))


async def subject_version(request: web.Request) -> web.Response:
    subject, version, schema_id, text = _version(request)
    return _answer({"subject": subject, "version": version, "id": schema_id, "schema": text})


async def subject_version_schema(request: web.Request) -> web.Response:
    return web.Response(text=_version(request)[3], content_type=CONTENT_TYPE)


async def schema_by_id(request: web.Request) -> web.Response:
    return _answer({"schema": _schema_text(request)[1]})


async def raw_schema_by_id(request: web.Request) -> web.Response:
    return web.Response(text=_schema_text(request)[1], content_type=CONTENT_TYPE)


async def subjects_of_id(request: web.Request) -> web.Response:
    schema_id, _ = _schema_text(request)
    return _answer(sorted(s for s, ids in _data(request)["subjects"].items() if schema_id in ids))


async def versions_of_id(request: web.Request) -> web.Response:
    schema_id, _ = _schema_text(request)
    return _answer([{"subject": s, "version": ids.index(schema_id) + 1}
                    for s, ids in sorted(_data(request)["subjects"].items()) if schema_id in ids])


async def schema_types(request: web.Request) -> web.Response:
    return _answer(["AVRO"])


async def config(request: web.Request) -> web.Response:
    subject = request.match_info.get("subject")
    if subject is not None:
        _versions(_data(request), subject)
    return _answer({"compatibilityLevel": COMPATIBILITY})


async def mode(request: web.Request) -> web.Response:
    return _answer({"mode": "READONLY"})


async def _posted_schema(request: web.Request) -> str:
    try:
        body = await request.json()
        if not isinstance(body, dict) or not isinstance(body.get("schema"), str):
            raise ValueError("no schema")
        if body.get("schemaType", "AVRO") != "AVRO":
            raise RegistryRefusal(422, 42201, "This registry holds Avro schemas only.")
        return body["schema"]
    except (ValueError, UnicodeDecodeError):
        raise RegistryRefusal(422, 42201, "Invalid schema: send {\"schema\": \"<Avro schema as JSON text>\"}") from None


def _same_schema(posted: str, stored: str) -> bool:
    """Equal as text once canonical, or equal in Avro's Parsing Canonical Form (docs and order of
    attributes do not matter to a reader or writer)."""
    try:
        if canonical_text(posted) == stored:
            return True
        return (fastavro.schema.to_parsing_canonical_form(json.loads(posted))
                == fastavro.schema.to_parsing_canonical_form(json.loads(stored)))
    except (ValueError, TypeError, KeyError, fastavro.schema.SchemaParseException):
        return False


async def lookup(request: web.Request) -> web.Response:
    """POST /subjects/{subject}: is this schema registered under the subject? Its id and version."""
    subject = request.match_info["subject"]
    posted = await _posted_schema(request)
    data = _data(request)
    ids = _versions(data, subject)
    for version, schema_id in enumerate(ids, 1):
        text = data["schemas"][str(schema_id)]
        if _same_schema(posted, text):
            return _answer({"subject": subject, "version": version, "id": schema_id, "schema": text})
    raise RegistryRefusal(404, 40403, "Schema not found")


async def register(request: web.Request) -> web.Response:
    """POST /subjects/{subject}/versions: only a schema already there (its id); the bus's schemas
    change by a commit to schemas/, never through this API."""
    subject = request.match_info["subject"]
    posted = await _posted_schema(request)
    data = _data(request)
    for schema_id in data["subjects"].get(subject, []):
        if _same_schema(posted, data["schemas"][str(schema_id)]):
            return _answer({"id": schema_id})
    raise RegistryRefusal(422, 42205, f"Subject '{subject}' is read-only here: the bus registers its own committed "
                                      "schemas. Use the registered schema (use.latest.version) with "
                                      "auto.register.schemas off.")


@web.middleware
async def registry_errors(request: web.Request, handler) -> web.StreamResponse:
    try:
        return await handler(request)
    except RegistryRefusal:
        raise
    except web.HTTPNotFound:
        raise RegistryRefusal(404, 404, "HTTP 404 Not Found") from None
    except web.HTTPMethodNotAllowed:
        raise RegistryRefusal(405, 405, "HTTP 405 Method Not Allowed") from None


def create_registry_app(registry_path: Path, catalogue: TopicCatalogue | None = None,
                        schemas: SchemaSet | None = None) -> web.Application:
    """The registry app over the file registry at `registry_path`, with every committed schema registered."""
    registry = FileRegistry(registry_path)
    catalogue = catalogue or TopicCatalogue()
    register_all(registry, catalogue, schemas or default_schemas())
    app = web.Application(middlewares=[registry_errors])
    app[REGISTRY_FILE] = registry
    router = app.router
    router.add_get("/", root)
    router.add_get("/subjects", subjects)
    router.add_post("/subjects/{subject}", lookup)
    router.add_get("/subjects/{subject}/versions", subject_versions)
    router.add_post("/subjects/{subject}/versions", register)
    router.add_get("/subjects/{subject}/versions/{version}", subject_version)
    router.add_get("/subjects/{subject}/versions/{version}/schema", subject_version_schema)
    router.add_get("/schemas/types", schema_types)
    router.add_get("/schemas/ids/{id}", schema_by_id)
    router.add_get("/schemas/ids/{id}/schema", raw_schema_by_id)
    router.add_get("/schemas/ids/{id}/subjects", subjects_of_id)
    router.add_get("/schemas/ids/{id}/versions", versions_of_id)
    router.add_get("/config", config)
    router.add_get("/config/{subject}", config)
    router.add_get("/mode", mode)
    return app
