"""A subscriber's place in its own stream: per agreement, the last chain position it has read.

Art. 10: a holder sees only its own data, and that includes how busy the others are. The ledger's
global ``seq`` counts every holder's records, so a gap between two of holder A's records would tell
A that holder B was active in between; positions are therefore counted per agreement, in the
agreement's own hash chain (``chain_seq``: 1, 2, 3 ... with no gaps but A's own dead letters).

A cursor is ``base64url(JSON {agreement_id: chain_seq})`` without padding, with the keys sorted, e.g.
``eyJRQS1IT0xERVJBLUNNT1gtMDAxIjo3fQ`` for ``{"QA-HOLDERA-CMOX-001": 7}``; a long one (a manufacturer
with many agreements) is ``z`` + base64url of the JSON deflated, so that several hundred agreements
still fit in a URL and a Last-Event-ID header. It is opaque to subscribers: they keep the last one
they were given and send it back. ``0``, an empty value or no cursor at all mean "from the start";
an agreement the cursor does not name is read from its start.
"""
from __future__ import annotations

import base64
import binascii
import json
import zlib
from collections.abc import Iterable, Mapping

MAX_CURSOR_LENGTH = 6000       # with the rest of the URL, within aiohttp's 8190-byte request line
MAX_CHAIN_SEQ = 2**53          # what every JSON reader holds exactly
PLAIN_UP_TO = 512              # longer cursors are deflated
MAX_JSON_BYTES = 1 << 20       # a deflated cursor may not unpack into more than this


class BadCursor(ValueError):
    """The cursor is not one this server gave out; the message says what is wrong with it."""


def encode(positions: Mapping[str, int]) -> str:
    """The cursor of these positions (agreements at 0 are left out: they read from the start anyway)."""
    kept = {a: int(n) for a, n in sorted(positions.items()) if n > 0}
    if not kept:
        return "0"
    raw = json.dumps(kept, separators=(",", ":"), ensure_ascii=False, sort_keys=True).encode("utf-8")
    plain = _b64(raw)
    return plain if len(plain) <= PLAIN_UP_TO else "z" + _b64(zlib.compress(raw, 9))


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).decode("ascii").rstrip("=")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _json_bytes(cursor: str) -> bytes:
    if not cursor.startswith("z"):
        return _unb64(cursor)
    inflater = zlib.decompressobj()
    raw = inflater.decompress(_unb64(cursor[1:]), MAX_JSON_BYTES)
    if inflater.unconsumed_tail:
        raise ValueError("a deflated cursor that unpacks into too much")
    return raw


def decode(cursor: str | None, readable: Iterable[str]) -> dict[str, int]:
    """The positions of a cursor, checked: well-formed, and naming only agreements in `readable`
    (a cursor naming any other agreement is refused the same way, whether that agreement exists or not)."""
    if cursor is None or cursor.strip() in ("", "0"):
        return {}
    cursor = cursor.strip()
    if len(cursor) > MAX_CURSOR_LENGTH:
        raise BadCursor(f"the cursor is longer than {MAX_CURSOR_LENGTH} characters")
    try:
        positions = json.loads(_json_bytes(cursor).decode("utf-8"))
    except (binascii.Error, ValueError, UnicodeDecodeError, RecursionError, zlib.error):
        raise BadCursor("the cursor is not one this server gave out (send back the cursor of the last "
                        "record you read, or 0 to read from the start)") from None
    if not isinstance(positions, dict):
        raise BadCursor("the cursor is not one this server gave out")
    allowed = set(readable)
    for agreement, position in positions.items():
        if type(position) is not int or not 0 <= position <= MAX_CHAIN_SEQ:
            raise BadCursor("a cursor position must be a whole number of records")
        if agreement not in allowed:
            raise BadCursor("the cursor names an agreement this token does not read")
    return positions
