"""The fields of flags.json that the report prints, with their types. A flags.json can come from
anyone (a results folder passed on), and glade report prints a family's number, n and q and its
examples' words into report.html and report.md: load_flags (eval/flags.py) refuses a file with
anything else there (markup where a number goes) rather than show it. `wrong_fields` checks any
JSON object against such a table of types (the export's readers of summary.json and rank.json)."""

from __future__ import annotations

import math

INTEGER, NUMBER, TEXT, LIST, OBJECT = "an integer", "a number", "a text", "a list", "an object"
# by key, the types a value may have; None: the key may be left out (or null)
FAMILY_FIELDS = {"family": (INTEGER,), "n": (INTEGER,), "n_max": (INTEGER, None), "q": (NUMBER,), "title": (TEXT,)}
FAMILY_FIELDS |= {"text": (TEXT,), "members": (LIST,), "examples": (LIST,)}
FLAG_FIELDS = {"kind": (TEXT,), "council": (TEXT,), "policy": (TEXT, None)}  # what the export sorts flags by
EXAMPLE_FIELDS = {"episode_id": (TEXT,), "turn": (INTEGER,), "creature": (TEXT,)}
EXAMPLE_FIELDS |= {k: (TEXT, None) for k in ("prompt", "response", "standin_action", "action", "error", "outcome")}
TYPES = {INTEGER: int, NUMBER: (int, float), TEXT: str, LIST: list, OBJECT: dict}
JSON_WORDS = {bool: "true/false", int: INTEGER, float: NUMBER, str: TEXT, list: LIST, dict: "an object"}


def is_kind(value, kind: str | None) -> bool:
    if kind is None:
        return value is None
    if isinstance(value, bool) or not isinstance(value, TYPES[kind]):  # JSON's true/false is no count
        return False
    return kind != NUMBER or math.isfinite(value)  # Python's json reads NaN and Infinity: no figure


def _said(value) -> str:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return JSON_WORDS.get(type(value), "null")


def wrong_fields(item, fields: dict, where: str) -> str | None:
    """What is wrong with `item` (the object of a JSON file at `where`): not an object, or its first
    key not of a type `fields` allows ("flags[3].council must be a text, not missing"); None where
    nothing is."""
    if not isinstance(item, dict):
        return f"{where or 'the file'} must be an object, not {_said(item)}"
    for key, kinds in fields.items():
        if not any(is_kind(item.get(key), kind) for kind in kinds):
            named = f"{where}.{key}" if where else key
            return f"{named} must be {kinds[0]}, not {_said(item[key]) if key in item else 'missing'}"
    return None


def wrong_field(families: list, flags: list[dict]) -> str | None:
    """The first field the report prints, of a family (FAMILY_FIELDS) or of a family's or flag's
    example (EXAMPLE_FIELDS), or that the export sorts a flag by (FLAG_FIELDS), that is not of its type, in words: "families[0].n must be an
    integer, not a text"; None where every one is."""
    for i, f in enumerate(families):
        if why := wrong_fields(f, FAMILY_FIELDS, f"families[{i}]"):
            return why
        if not all(is_kind(m, INTEGER) for m in f["members"]):  # its flags' numbers, "#1, #84"
            return f"families[{i}].members must be a list of integers"
    for i, f in enumerate(flags):
        if why := wrong_fields(f, FLAG_FIELDS, f"flags[{i}]"):
            return why
    for key, items in (("families", families), ("flags", flags)):
        for i, f in enumerate(items):
            examples = f.get("examples") or []  # a flag may carry none
            if not isinstance(examples, list):
                return f"{key}[{i}].examples must be a list, not {_said(examples)}"
            for j, example in enumerate(examples):
                if why := wrong_fields(example, EXAMPLE_FIELDS, f"{key}[{i}].examples[{j}]"):
                    return why
    return None
