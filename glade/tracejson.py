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
    """The action as compact JSON with a fixed key order: the SFT target and the trace form."""
    out = {
        "orders": [
            {"side": o["side"], "good": o["good"], "qty": int(o["qty"]), "price": round(float(o["price"]), 2)}
            for o in action.get("orders", [])
        ]
    }
    for key in ("gossip", "thought"):
        if action.get(key):
            out[key] = action[key]
    return canonical_json(out)
