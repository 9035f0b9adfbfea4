"""The events of a POST /api/v1/events body: plain JSON (one event or an array) or CloudEvents 1.0
in structured mode (one, or a batch). Pure: bytes and a content type in, event dicts out.

CloudEvents attributes map onto the event: ``id`` is the event_id, ``type`` the event_type,
``source`` the source instance, ``data`` the event itself (as JSON). Where the event leaves out
event_id or event_type they are taken from the attributes; where it states them they must agree.
"""
from __future__ import annotations

import json
from dataclasses import dataclass

CLOUDEVENT = "application/cloudevents+json"
CLOUDEVENTS_BATCH = "application/cloudevents-batch+json"
# curl --data sends form-urlencoded unless told otherwise; the body is still the JSON the user meant.
JSON_TYPES = ("application/json", "text/plain", "application/x-www-form-urlencoded", "application/octet-stream", "")


@dataclass
class BodyRefused(ValueError):
    status: int
    message: str
    index: int | None = None
    path: str | None = None

    def __str__(self) -> str:
        return self.message


def _json(raw: bytes):
    try:
        return json.loads(raw.decode("utf-8"))
    except UnicodeDecodeError:
        raise BodyRefused(400, "the body is not UTF-8 text") from None
    except json.JSONDecodeError as exc:
        raise BodyRefused(400, f"the body is not valid JSON: {exc.msg} at line {exc.lineno} column {exc.colno}") from None


def _list(value, what: str) -> list:
    if isinstance(value, list):
        if not value:
            raise BodyRefused(400, f"the batch is empty: send at least one {what}")
        return value
    raise BodyRefused(400, f"a batch must be a JSON array of {what}s")


def _check_event(value, index: int | None) -> dict:
    if not isinstance(value, dict):
        raise BodyRefused(400, "an event must be a JSON object", index)
    return value


def _from_cloudevent(ce, index: int | None) -> dict:
    if not isinstance(ce, dict):
        raise BodyRefused(400, "a CloudEvent must be a JSON object", index)
    if ce.get("specversion") != "1.0":
        raise BodyRefused(400, f"specversion must be '1.0', not {ce.get('specversion')!r}", index, "specversion")
    for attribute in ("id", "type", "source"):
        if not isinstance(ce.get(attribute), str) or not ce[attribute]:
            raise BodyRefused(400, f"the CloudEvent attribute '{attribute}' is required", index, attribute)
    if "data_base64" in ce:
        raise BodyRefused(415, "binary CloudEvent data (data_base64) is not accepted: send the event as JSON in 'data'",
                          index, "data_base64")
    content_type = ce.get("datacontenttype", "application/json")
    if not (isinstance(content_type, str) and content_type.split(";")[0].strip().endswith("json")):
        raise BodyRefused(415, f"datacontenttype {content_type!r}: the event must be JSON", index, "datacontenttype")
    if not isinstance(ce.get("data"), dict):
        raise BodyRefused(400, "the CloudEvent's 'data' must be the event, a JSON object", index, "data")
    event = dict(ce["data"])
    for attribute, field in (("id", "event_id"), ("type", "event_type")):
        event.setdefault(field, ce[attribute])
        if event[field] != ce[attribute]:
            raise BodyRefused(400, f"the CloudEvent {attribute} {ce[attribute]!r} and the event's {field} "
                                   f"{event[field]!r} differ", index, attribute)
    source = event.get("source")
    if isinstance(source, dict) and source.get("instance") != ce["source"]:
        raise BodyRefused(400, f"the CloudEvent source {ce['source']!r} and the event's source.instance "
                               f"{source.get('instance')!r} differ", index, "source")
    return event


def events_from_body(raw: bytes, content_type: str) -> list[dict]:
    """The events of a body, in order; BodyRefused says what is wrong (and in which one, for a batch)."""
    kind = (content_type or "").split(";")[0].strip().lower()
    if kind == CLOUDEVENT:
        return [_from_cloudevent(_json(raw), None)]
    if kind == CLOUDEVENTS_BATCH:
        return [_from_cloudevent(ce, i) for i, ce in enumerate(_list(_json(raw), "CloudEvent"))]
    if kind in JSON_TYPES or kind.endswith("+json"):
        body = _json(raw)
        if isinstance(body, list):
            return [_check_event(e, i) for i, e in enumerate(_list(body, "event"))]
        return [_check_event(body, None)]
    raise BodyRefused(415, f"content type {kind!r} is not accepted: send application/json (one event or an array), "
                           f"{CLOUDEVENT} or {CLOUDEVENTS_BATCH}")
