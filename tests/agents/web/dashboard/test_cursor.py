"""The per-tenant cursor: opaque, checked on the way in, small enough for a URL."""
import base64
import json
import zlib

import pytest

from agents.web.dashboard import cursor

A, B = "QA-HOLDERA-CMOX-001", "QA-HOLDERB-CMOX-001"


def b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode().rstrip("=")


def test_a_cursor_is_base64url_json_of_chain_positions():
    text = cursor.encode({A: 7, B: 0})
    assert json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))) == {A: 7}
    assert cursor.decode(text, [A, B]) == {A: 7}
    assert cursor.encode({}) == "0" and cursor.decode("0", [A]) == {} and cursor.decode(None, [A]) == {}


def test_a_manufacturer_with_hundreds_of_agreements_still_fits_in_a_url():
    agreements = [f"QA-HOLDER{i:03d}-CMOX-{j:03d}" for i in range(100) for j in range(5)]
    text = cursor.encode({a: 1_000_000 + n for n, a in enumerate(agreements)})
    assert text.startswith("z") and len(text) <= cursor.MAX_CURSOR_LENGTH
    assert cursor.decode(text, agreements) == {a: 1_000_000 + n for n, a in enumerate(agreements)}


@pytest.mark.parametrize("text, reason", [
    ("not base64!", "not one this server gave out"),
    (b64(b"[1, 2]"), "not one this server gave out"),
    (b64(json.dumps({A: -1}).encode()), "whole number"),
    (b64(json.dumps({A: 1.5}).encode()), "whole number"),
    (b64(json.dumps({A: True}).encode()), "whole number"),
    (b64(json.dumps({A: 2**60}).encode()), "whole number"),
    (b64(json.dumps({B: 3}).encode()), "does not read"),
    (b64(b"[" * 3000), "not one this server gave out"),
    ("z" + b64(zlib.compress(b"{" * 4_000_000, 9)), "not one this server gave out"),   # a deflate bomb
    ("x" * 7000, "longer than"),
])
def test_a_bad_cursor_is_refused_with_a_reason(text, reason):
    with pytest.raises(cursor.BadCursor, match=reason):
        cursor.decode(text, [A])
