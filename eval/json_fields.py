"""The types a field of a JSON file glade wrote may hold, and the words for one that holds another. Files
glade wrote can come from anyone (a results folder or a checkpoint passed on, a hand edit), and its readers
print or publish what they hold: each checks the fields it reads against a table of types (`wrong_fields`)
and names the first that is wrong rather than fail on it later, or show it. Python's json reads NaN and
Infinity as numbers, and 10**400 as an integer: neither is a figure."""

from __future__ import annotations

import math
import sys

INTEGER, NUMBER, TEXT, LIST, OBJECT = "an integer", "a number", "a text", "a list", "an object"
RATE = "a rate between 0 and 1"  # a share: a number from 0 to 1
BOOL = "true or false"
TYPES = {INTEGER: int, NUMBER: (int, float), RATE: (int, float), TEXT: str, LIST: list, OBJECT: dict, BOOL: bool}
JSON_WORDS = {bool: "true/false", int: INTEGER, float: NUMBER, str: TEXT, list: LIST, dict: OBJECT}


def is_kind(value, kind: str | None) -> bool:
    """`value` is of `kind` (INTEGER ... BOOL); None: it is null."""
    if kind is None:
        return value is None
    if isinstance(value, bool) != (kind == BOOL) or not isinstance(value, TYPES[kind]):  # true/false is no count
        return False
    if kind in (NUMBER, RATE) and not _figure(value):
        return False
    return kind != RATE or 0 <= value <= 1


def _figure(value: int | float) -> bool:
    """A number arithmetic can use: NaN, Infinity and an integer past a float's range are none."""
    return math.isfinite(value) if isinstance(value, float) else abs(value) <= sys.float_info.max


def said(value, kinds: tuple = ()) -> str:
    """What `value` is, in words for an error line: its JSON type, or the number itself where a rate (one
    of `kinds`) was wanted or it is no finite number."""
    if isinstance(value, float) and (RATE in kinds or not math.isfinite(value)):
        return f"{value:g}"
    if isinstance(value, int) and not isinstance(value, bool) and (RATE in kinds or not _figure(value)):
        text = str(value)
        return text if len(text) <= 20 else f"an integer of {len(text.lstrip('-')):,} digits"
    return JSON_WORDS.get(type(value), "null")


def wrong_fields(item, fields: dict, where: str) -> str | None:
    """What is wrong with `item` (the object of a JSON file at `where`; "" for the file itself): not an
    object, or its first key not of a type `fields` allows (key -> kinds; a None among them: it may be
    null or left out), in words ("flags[3].council must be a text, not missing"); None where nothing is."""
    if not isinstance(item, dict):
        return f"{where or 'the file'} must be an object, not {said(item)}"
    for key, kinds in fields.items():
        if not any(is_kind(item.get(key), kind) for kind in kinds):
            named = f"{where}.{key}" if where else key
            return f"{named} must be {kinds[0]}, not {said(item[key], kinds) if key in item else 'missing'}"
    return None
