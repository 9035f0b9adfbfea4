"""The OpenAPI 3.1 document of the bus's HTTP API, built from the committed envelope schema.

Served at ``GET /api/v1/openapi.json``; the same document is committed as ``docs/openapi.json``
(a test keeps the two equal). After changing the API, write it again with
``python -m agents.web.api.openapi > docs/openapi.json``.
"""
from __future__ import annotations

import json
import sys
from functools import lru_cache

from aiohttp import web

from agents.web.api.envelope_schema import envelope_json_schema
from schemas import default_schemas

JSON = "application/json"
ERROR = {"$ref": "#/components/schemas/Error"}
CURSOR = {"type": ["string", "integer"], "description": "An opaque cursor: pass it back as `since` to read on from here."}


def _error(description: str) -> dict:
    return {"description": description, "content": {JSON: {"schema": ERROR}}}


def _json(description: str, schema: dict) -> dict:
    return {"description": description, "content": {JSON: {"schema": schema}}}


UNAUTHORIZED = _error("No valid bearer token (missing, malformed, unknown or revoked).")
SINCE = {"name": "since", "in": "query", "required": False,
         "description": "Opaque cursor from `next_since` (or a record's position): records after it. Leave out to "
                        "start at the beginning.", "schema": {"type": "string"}}
AGREEMENT = {"name": "agreement", "in": "query", "required": False, "schema": {"type": "string"},
             "description": "Only this agreement (403 if it is not the token's party's)."}
TYPES = {"name": "types", "in": "query", "required": False, "schema": {"type": "string"},
         "description": "Comma-separated event types; `category.*` for a whole category, e.g. `deviation.*,change.approved`."}


def _events_body() -> dict:
    event, cloud_event = {"$ref": "#/components/schemas/Event"}, {"$ref": "#/components/schemas/CloudEvent"}
    return {"required": True, "description": "One event, or a batch (all or nothing). At most `max_event_bytes` "
                                            "(1 MiB) for the whole body.",
            "content": {JSON: {"schema": {"oneOf": [event, {"type": "array", "items": event, "minItems": 1}]}},
                        "application/cloudevents+json": {"schema": cloud_event},
                        "application/cloudevents-batch+json": {"schema": {"type": "array", "items": cloud_event,
                                                                          "minItems": 1}}}}


def _paths() -> dict:
    return {
        "/api/v1/events": {"post": {
            "operationId": "publishEvents", "summary": "Publish events as the token's source",
            "description": "Validated as the publisher SDK validates (same messages, naming each field path). 202 "
                           "once the broker has confirmed every event; re-posting the same event id is safe (the "
                           "bus keeps one). Then follow each id with GET /api/v1/events/{event_id}.",
            "requestBody": _events_body(),
            "responses": {
                "202": _json("The broker confirmed every event.", {"$ref": "#/components/schemas/Accepted"}),
                "400": _error("The body is not JSON, not an event or array, or a CloudEvent attribute is wrong."),
                "401": UNAUTHORIZED,
                "403": _error("The token only reads, or an event claims another source, party or agreement."),
                "413": _error("The body or an encoded event is larger than the limit, or too many events."),
                "415": _error("A content type other than JSON or CloudEvents JSON."),
                "422": _error("An event does not fit its schema; `problems` names each field path, `index` the "
                              "event of a batch. Nothing of the request was sent."),
                "503": _error("The broker did not confirm; post the same events again."),
            }}},
        "/api/v1/events/{event_id}": {"get": {
            "operationId": "eventStatus", "summary": "What became of an event",
            "description": "`recorded` (in the ledger), `dead_lettered` (refused, with the reason) or `unknown` "
                           "(not seen yet, or not the token's party's event).",
            "parameters": [{"name": "event_id", "in": "path", "required": True, "schema": {"type": "string"},
                            "description": "The event_id (a UUID)."}],
            "responses": {"200": _json("The event's state.", {"$ref": "#/components/schemas/EventStatus"}),
                          "401": UNAUTHORIZED, "404": _error("Not an event path.")}}},
        "/api/v1/agreements": {"get": {
            "operationId": "listAgreements", "summary": "The agreements the token's party may read",
            "responses": {"200": _json("The agreements.", {"$ref": "#/components/schemas/Agreements"}),
                          "401": UNAUTHORIZED}}},
        "/api/v1/records": {"get": {
            "operationId": "readRecords", "summary": "Ledger records of the token's agreements after a cursor",
            "parameters": [SINCE, {"name": "limit", "in": "query", "required": False,
                                   "schema": {"type": "integer", "minimum": 1, "maximum": 1000},
                                   "description": "Most records in the page."},
                           AGREEMENT, TYPES,
                           {"name": "wait", "in": "query", "required": False,
                            "schema": {"type": "integer", "minimum": 0, "maximum": 30},
                            "description": "Long-poll: with nothing new, wait up to this many seconds."}],
            "responses": {"200": _json("A page of records, oldest first.", {"$ref": "#/components/schemas/RecordsPage"}),
                          "400": _error("A parameter is malformed."), "401": UNAUTHORIZED,
                          "403": _error("The agreement is not the token's party's.")}}},
        "/api/v1/stream": {"get": {
            "operationId": "streamRecords", "summary": "The same records, live, as server-sent events",
            "description": "One `event: record` per record with `id:` its position; reconnect with Last-Event-ID "
                           "to resume exactly.",
            "parameters": [SINCE, AGREEMENT, TYPES,
                           {"name": "Last-Event-ID", "in": "header", "required": False, "schema": {"type": "string"},
                            "description": "The last `id:` received; overrides `since`."}],
            "responses": {"200": {"description": "Server-sent events.", "content": {"text/event-stream": {
                "schema": {"type": "string"}}}},
                "400": _error("A parameter is malformed."), "401": UNAUTHORIZED,
                "403": _error("The agreement is not the token's party's.")}}},
        "/api/v1/openapi.json": {"get": {
            "operationId": "openapi", "summary": "This document", "security": [],
            "responses": {"200": _json("The OpenAPI document.", {"type": "object"})}}},
    }


def _components() -> dict:
    problem = {"type": "object", "required": ["path", "message"],
               "properties": {"path": {"type": "string", "description": "Dotted field path, e.g. payload.classification"},
                              "message": {"type": "string"}}}
    record = {"type": "object", "required": ["seq", "event_type", "agreement_id", "recorded_at", "hash", "event"],
              "properties": {"seq": {"type": "integer"}, "chain": {"type": "string"}, "chain_seq": {"type": "integer"},
                             "event_type": {"type": "string"}, "agreement_id": {"type": "string"},
                             "item_ref": {"type": ["string", "null"]}, "recorded_at": {"type": "string"},
                             "hash": {"type": "string"}, "prev_hash": {"type": "string"},
                             "key_id": {"type": ["string", "null"]}, "redacted": {"type": "boolean"},
                             "event": {"type": "object", "description": "The event as the token's party may see it."}}}
    return {
        "securitySchemes": {"bearer": {"type": "http", "scheme": "bearer",
                                       "description": "`qbt_...` from `qbus tokens add NAME --source INSTANCE` "
                                                      "(publishes and reads) or `--party ID` (reads only)."}},
        "schemas": {
            "Event": envelope_json_schema(default_schemas()),
            "CloudEvent": {"type": "object", "required": ["specversion", "id", "type", "source", "data"],
                           "description": "CloudEvents 1.0, structured mode.",
                           "properties": {"specversion": {"const": "1.0"},
                                          "id": {"type": "string", "description": "The event_id."},
                                          "type": {"type": "string", "description": "The event_type."},
                                          "source": {"type": "string", "description": "The source instance."},
                                          "datacontenttype": {"type": "string"},
                                          "data": {"$ref": "#/components/schemas/Event"}}},
            "Accepted": {"type": "object", "required": ["event_ids"],
                         "properties": {"event_ids": {"type": "array", "items": {"type": "string"}}}},
            "Error": {"type": "object", "required": ["error"],
                      "properties": {"error": {"type": "string", "description": "What is wrong, for a person."},
                                     "reason_code": {"type": "string"},
                                     "index": {"type": "integer", "description": "The event of a batch (from 0)."},
                                     "path": {"type": "string"}, "limit_bytes": {"type": "integer"},
                                     "problems": {"type": "array", "items": problem}}},
            "EventStatus": {"type": "object", "required": ["event_id", "status"], "properties": {
                "event_id": {"type": "string"},
                "status": {"enum": ["recorded", "dead_lettered", "unknown"]},
                "ledger": {"type": "object", "description": "Where the ledger holds it (recorded only).",
                           "properties": {"chain": {"type": "string"}, "chain_seq": {"type": "integer"},
                                          "hash": {"type": "string"}, "recorded_at": {"type": "string"},
                                          "event_type": {"type": ["string", "null"]}}},
                "reason_code": {"type": ["string", "null"]}, "reason": {"type": ["string", "null"]},
                "dead_letters": {"type": "array", "items": {"type": "object"}}}},
            "Record": record,
            "RecordsPage": {"type": "object", "required": ["party_id", "records", "next_since"], "properties": {
                "party_id": {"type": "string"}, "records": {"type": "array", "items": {"$ref": "#/components/schemas/Record"}},
                "next_since": CURSOR, "head": CURSOR}},
            "Agreements": {"type": "object", "required": ["party_id", "agreements"], "properties": {
                "party_id": {"type": "string"},
                "agreements": {"type": "array", "items": {"type": "object", "properties": {
                    "agreement_id": {"type": "string"}, "holder_id": {"type": "string"},
                    "manufacturer_id": {"type": "string"}, "title": {"type": ["string", "null"]},
                    "timezone": {"type": "string"}, "last_seq": CURSOR, "role": {"type": ["string", "null"]}}}}}},
        }}


@lru_cache(maxsize=1)
def openapi_document() -> dict:
    return {
        "openapi": "3.1.0",
        "info": {"title": "qbus HTTP API", "version": "1",
                 "description": "Publish quality events and follow what the bus recorded (NMPA Announcement No. 134 "
                                "of 2025). Kafka clients use the Schema Registry instead: docs/wire-format.md."},
        "servers": [{"url": "http://127.0.0.1:8080", "description": "`qbus up` on this machine"}],
        "security": [{"bearer": []}],
        "paths": _paths(),
        "components": _components(),
    }


def document_text() -> str:
    return json.dumps(openapi_document(), indent=1, ensure_ascii=False) + "\n"


async def openapi_view(request: web.Request) -> web.Response:
    return web.Response(text=document_text(), content_type=JSON)


if __name__ == "__main__":
    sys.stdout.write(document_text())
