"""The envelope context an obligation's events copy from the event that opened it
(`agents.core.emitted.CONTEXT_FIELDS`), held once however many obligations share it.

A context is split into its *shape* (holder, manufacturer, site, product, line, classification:
few distinct values per agreement, interned as one tuple) and its batch number (often one per
item). The pair is a short byte key in a `BytesTable`, so a million obligations over half a million
batches cost a few tens of bytes each, not a dict each. ``agreement_id`` and ``item_ref`` are not
kept here: the obligation has them, and the events it emits carry the obligation's own.
"""
from __future__ import annotations

import json
from typing import Any

from agents.core.emitted import CONTEXT_FIELDS
from agents.core.obligations.bytestable import BytesTable
from agents.core.obligations.pools import InternPool

NO_CONTEXT = -1
Shape = tuple[Any, Any, Any, str, Any, Any]     # holder, manufacturer, site, product JSON, line, classification
Prepared = tuple[Shape, bytes]                  # a context's shape and batch, worked out once per event
_PRODUCTS_KEPT = 10_000                         # distinct product records whose JSON is remembered


class ContextTable:
    def __init__(self) -> None:
        self.keys = BytesTable()
        self.shapes: InternPool[Shape] = InternPool()
        self._products: dict[str, Any] = {}     # product JSON -> the decoded product, shared
        self._product_texts: dict[tuple, str] = {}   # product items -> its JSON, so it is made once

    def __len__(self) -> int:
        return len(self.keys)

    def prepare(self, context: dict | None) -> Prepared | None:
        """What :meth:`add` keeps of a context; an event's obligations share one preparation."""
        if context is None:
            return None
        shape: Shape = (_plain(context.get("holder_id")), _plain(context.get("manufacturer_id")),
                        _plain(context.get("site_id")), self._product_text(context.get("product")),
                        _plain(context.get("line_id")), _plain(context.get("classification")))
        return shape, _batch_bytes(context.get("batch_no"))

    def add(self, prepared: Prepared | None) -> int:
        """The id of this context (shared with every equal one); NO_CONTEXT for None."""
        if prepared is None:
            return NO_CONTEXT
        shape, batch = prepared
        shape_id = self.shapes.add(shape)
        ident = self.keys.add(shape_id.to_bytes(4, "little") + batch)
        if self.keys.refs(ident) > 1:
            self.shapes.release(shape_id)    # the key already held the shape
        return ident

    def release(self, ident: int) -> None:
        if ident == NO_CONTEXT:
            return
        if self.keys.refs(ident) == 1:
            self.shapes.release(int.from_bytes(self.keys.key(ident)[:4], "little"))
        self.keys.release(ident)

    def get(self, ident: int, agreement_id: str, item_ref: str) -> dict:
        """A fresh dict (callers may change it) with every context field; {} for NO_CONTEXT."""
        if ident == NO_CONTEXT:
            return {}
        key = self.keys.key(ident)
        shape = self.shapes.values[int.from_bytes(key[:4], "little")]
        assert shape is not None
        holder, manufacturer, site, product, line, classification = shape
        decoded = self._products.get(product)
        if decoded is None:
            decoded = self._products[product] = json.loads(product)
        batch = key[5:].decode("utf-8") if key[4] else None
        values = {"agreement_id": agreement_id, "holder_id": holder, "manufacturer_id": manufacturer,
                  "site_id": site, "product": dict(decoded) if isinstance(decoded, dict) else decoded,
                  "batch_no": batch, "line_id": line, "item_ref": item_ref, "classification": classification}
        return {name: values[name] for name in CONTEXT_FIELDS}

    def _product_text(self, product: Any) -> str:
        items = None
        if isinstance(product, dict):
            try:
                items = tuple(sorted(product.items()))
                hash(items)
            except TypeError:       # a nested value: no shortcut
                items = None
        text = self._product_texts.get(items) if items is not None else None
        if text is None:
            text = json.dumps(product, sort_keys=True, ensure_ascii=False, default=str)
            if items is not None:
                if len(self._product_texts) >= _PRODUCTS_KEPT:
                    self._product_texts.clear()
                self._product_texts[items] = text
        return text

    # -- snapshot --
    def export(self) -> dict:
        refs, free = self.shapes.export_refs()
        return {"keys": self.keys.export(), "shapes": [list(s) if s else None for s in self.shapes.values],
                "shape_refs": refs, "shape_free": free}

    @classmethod
    def from_export(cls, parts: dict) -> "ContextTable":
        table = cls()
        table.keys = BytesTable.from_export(parts["keys"])
        shapes = [tuple(s) if s is not None else None for s in parts["shapes"]]
        table.shapes = InternPool.rebuilt(shapes, parts["shape_refs"], parts["shape_free"])  # type: ignore[arg-type]
        return table


def _plain(value: Any) -> Any:
    # Envelope ids are text; anything else is kept as its text, so a snapshot can hold it.
    return value if value is None or isinstance(value, (str, int, float, bool)) else str(value)


def _batch_bytes(batch: Any) -> bytes:
    return b"\x00" if batch is None else b"\x01" + str(batch).encode("utf-8")
