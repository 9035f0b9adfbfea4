"""Canonical bytes: the same event gives the same bytes, whoever builds it and however it travelled."""
import json
import uuid
from datetime import date, datetime, timedelta, timezone
from decimal import Decimal

import pytest

from streams.canonical import canonical_bytes, canonical_json, format_timestamp, parse_timestamp, signing_bytes

SHANGHAI = timezone(timedelta(hours=8))


def test_keys_are_sorted_and_there_is_no_whitespace():
    assert canonical_bytes({"b": 1, "a": {"d": [1, 2], "c": None}}) == b'{"a":{"c":null,"d":[1,2]},"b":1}'


def test_key_order_of_the_input_does_not_matter():
    assert canonical_bytes({"x": 1, "y": 2}) == canonical_bytes({"y": 2, "x": 1})


def test_chinese_text_stays_utf8_not_escaped():
    assert canonical_bytes({"t": "偏差"}) == '{"t":"偏差"}'.encode("utf-8")


def test_datetimes_become_utc_milliseconds_with_z():
    # 16:30:00.123456 in Shanghai is 08:30:00.123 UTC; microseconds are dropped, as Avro millis drop them.
    moment = datetime(2026, 3, 2, 16, 30, 0, 123456, tzinfo=SHANGHAI)
    assert canonical_json({"at": moment}) == '{"at":"2026-03-02T08:30:00.123Z"}'


def test_the_same_instant_in_two_zones_gives_the_same_bytes():
    utc = datetime(2026, 3, 2, 8, 30, tzinfo=timezone.utc)
    assert canonical_bytes({"at": utc}) == canonical_bytes({"at": utc.astimezone(SHANGHAI)})


def test_a_naive_datetime_is_refused_naming_the_field():
    with pytest.raises(ValueError, match=r"\$\.payload\.found_at: .*no time zone"):
        canonical_bytes({"payload": {"found_at": datetime(2026, 3, 2, 8, 30)}})


def test_bytes_become_base64():
    assert canonical_json({"v": b"\x00\xffqbus"}) == '{"v":"AP9xYnVz"}'


def test_dates_uuids_and_decimals_become_strings():
    ident = uuid.UUID("12345678-1234-5678-1234-567812345678")
    assert json.loads(canonical_json({"d": date(2026, 12, 31), "u": ident, "q": Decimal("1.50")})) == {
        "d": "2026-12-31", "u": str(ident), "q": "1.50"}


@pytest.mark.parametrize("value, reason", [
    (float("nan"), "NaN"),                 # no JSON form
    ({1, 2}, "set"),                       # no order, so no single byte form
])
def test_values_without_a_canonical_form_are_refused(value, reason):
    with pytest.raises((TypeError, ValueError), match=reason):
        canonical_bytes({"x": value})


def test_signing_bytes_leave_out_the_signature_only():
    event = {"event_id": "e1", "payload": {"signature": "kept, it is payload"}, "signature": {"key_id": "k1"}}
    assert signing_bytes(event) == b'{"event_id":"e1","payload":{"signature":"kept, it is payload"}}'
    assert signing_bytes(event) == signing_bytes({**event, "signature": None})


def test_canonical_form_survives_a_json_round_trip():
    # The ledger stores canonical JSON and the package verifier re-hashes what it reads back.
    event = {"at": datetime(2026, 3, 2, 8, 30, tzinfo=timezone.utc), "raw": b"\x01", "n": 1.25, "t": "留样",
             "big": 2 ** 63, "nested": [{"z": None, "a": True}]}
    once = canonical_bytes(event)
    assert canonical_bytes(json.loads(once)) == once


def test_timestamp_text_round_trip():
    text = "2026-03-02T08:30:00.123Z"
    assert format_timestamp(parse_timestamp(text)) == text
    assert format_timestamp(parse_timestamp("2026-03-02T16:30:00.123+08:00")) == text


def test_a_number_as_an_object_key_is_written_as_json_writes_it():
    # JSON object keys are strings: a number as a key has the one form JSON gives it.
    assert canonical_bytes({"x": {1: "a"}}) == canonical_bytes({"x": {"1": "a"}}) == b'{"x":{"1":"a"}}'
