"""JSON for trace rows: the same text `json.JSONEncoder(...).encode` writes, made faster.

A trace row holds four or five small JSON strings (the action, fills, inventory,
sentiment). `JSONEncoder.encode` builds a new C encoder on every call, which costs more
than encoding such a dict; `encoder` builds it once. The text is the standard library's
own, byte for byte: the same C encoder with the same settings, or `encode` itself where
Python runs without the C accelerator or the settings need the pure-Python path.
"""

from __future__ import annotations

import json
import json.encoder
import math
from collections.abc import Callable
from typing import Any


def encoder(**options: Any) -> Callable[[Any], str]:
    """`json.JSONEncoder(**options).encode`, with the C encoder made once."""
    settings = json.JSONEncoder(**options)
    make = json.encoder.c_make_encoder
    if make is None or settings.indent is not None:
        return settings.encode
    markers: dict | None = {} if settings.check_circular else None
    strings = json.encoder.encode_basestring_ascii if settings.ensure_ascii else json.encoder.encode_basestring
    encode_c = make(
        markers,
        settings.default,
        strings,
        settings.indent,
        settings.key_separator,
        settings.item_separator,
        settings.sort_keys,
        settings.skipkeys,
        settings.allow_nan,
    )

    def encode(o: Any) -> str:
        try:
            return "".join(encode_c(o, 0))
        except BaseException:
            if markers is not None:
                markers.clear()  # a failed call can leave objects marked as being encoded
            raise

    return encode


# The rows' encoders: actions in canonical form, other columns as json.dumps writes them.
canonical_json = encoder(separators=(", ", ": "))
dumps = encoder()


def canonical(action: dict) -> str:
    """The action as one-line JSON (json.dumps' ", " and ": " separators) with a fixed key order:
    the SFT target and the trace form.

    Orders are {"side", "good", "qty" (an int), "price" (rounded to 2 places)}, then "gossip"
    and "thought" when present. An order of plain names and a finite price is written
    directly (most of them: every stand-in's); any other goes through the encoder."""
    parts = []
    for o in action.get("orders", []):
        side, good, qty, price = o["side"], o["good"], int(o["qty"]), round(float(o["price"]), 2)
        if type(side) is str and type(good) is str and math.isfinite(price):
            parts.append(f'{{"side": {_ascii(side)}, "good": {_ascii(good)}, "qty": {qty}, "price": {price!r}}}')
        else:
            parts.append(canonical_json({"side": side, "good": good, "qty": qty, "price": price}))
    extra = "".join([f', "{key}": {canonical_json(action[key])}' for key in ("gossip", "thought") if action.get(key)])
    return f'{{"orders": [{", ".join(parts)}]{extra}}}'


_ascii = json.encoder.encode_basestring_ascii  # a JSON string as canonical_json writes it


def fills_json(fills: list[dict]) -> str:
    """An info's fills (FILL_KEYS each, as the env writes them) as `dumps` writes them: fills
    of plain names, an int and a finite price directly, any other list through the encoder."""
    parts = []
    for f in fills:
        if tuple(f) != FILL_KEYS:
            return dumps(fills)
        side, good, qty, price, other = f["side"], f["good"], f["qty"], f["price"], f["with"]
        plain = type(side) is str and type(good) is str and type(other) is str and type(qty) is int
        if not (plain and type(price) is float and math.isfinite(price)):
            return dumps(fills)
        parts.append(
            f'{{"side": {_ascii(side)}, "good": {_ascii(good)}, "qty": {qty}, "price": {price!r}, "with": {_ascii(other)}}}'
        )
    return f"[{', '.join(parts)}]"


FILL_KEYS = ("side", "good", "qty", "price", "with")
