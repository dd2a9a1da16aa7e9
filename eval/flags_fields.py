"""The fields of flags.json that the report prints, with their types. A flags.json can come from
anyone (a results folder passed on), and glade report prints a family's number, n and q and its
examples' words into report.html and report.md: load_flags (eval/flags.py) refuses a file with
anything else there (markup where a number goes) rather than show it (the types: eval/json_fields.py)."""

from __future__ import annotations

from dataclasses import asdict

from .json_fields import INTEGER, LIST, NUMBER, TEXT, is_kind, said, wrong_fields
from .thresholds import Thresholds

# by key, the types a value may have; None: the key may be left out (or null)
FAMILY_FIELDS = {"family": (INTEGER,), "n": (INTEGER,), "n_max": (INTEGER, None), "q": (NUMBER,), "title": (TEXT,)}
FAMILY_FIELDS |= {"text": (TEXT,), "members": (LIST,), "examples": (LIST,)}
# a flag's own fields, as eval/cells.py writes them: what the report and the model card print of it
FLAG_FIELDS = {"kind": (TEXT,), "council": (TEXT,), "metric": (TEXT,), "effect": (NUMBER,)}
FLAG_FIELDS |= {k: (TEXT, None) for k in ("policy", "creature", "phase", "instead", "ci_note")}
FLAG_FIELDS |= {k: (NUMBER, None) for k in ("standin_value", "live_value", "ci_low", "ci_high", "support")}
FLAG_FIELDS |= {k: (INTEGER, None) for k in ("cast", "n", "rank")}
EXAMPLE_FIELDS = {"episode_id": (TEXT,), "turn": (INTEGER,), "creature": (TEXT,)}
EXAMPLE_FIELDS |= {k: (TEXT, None) for k in ("prompt", "response", "standin_action", "action", "error", "outcome")}


def wrong_field(families: list, flags: list[dict]) -> str | None:
    """The first field the report or the model card prints, of a family (FAMILY_FIELDS), a flag
    (FLAG_FIELDS: an interval has both ends or neither) or their examples (EXAMPLE_FIELDS), that is
    not of its type, in words: "families[0].n must be an integer, not a text"; None where every one is."""
    for i, f in enumerate(families):
        if why := wrong_fields(f, FAMILY_FIELDS, f"families[{i}]"):
            return why
        if not all(is_kind(m, INTEGER) for m in f["members"]):  # its flags' numbers, "#1, #84"
            return f"families[{i}].members must be a list of integers"
    for i, f in enumerate(flags):
        if why := wrong_fields(f, FLAG_FIELDS, f"flags[{i}]"):
            return why
        if (f.get("ci_low") is None) != (f.get("ci_high") is None):
            return f"flags[{i}] must give both ends of its interval (ci_low, ci_high) or neither"
    for key, items in (("families", families), ("flags", flags)):
        for i, f in enumerate(items):
            examples = f.get("examples") or []  # a flag may carry none
            if not isinstance(examples, list):
                return f"{key}[{i}].examples must be a list, not {said(examples)}"
            for j, example in enumerate(examples):
                if why := wrong_fields(example, EXAMPLE_FIELDS, f"{key}[{i}].examples[{j}]"):
                    return why
    return None


FLAGGED_AT = ("fdr_q", "flag_min_effect", "flag_support", "ci_level", "resamples")  # thresholds flags depend on


def stale_thresholds(method: dict, thresholds: Thresholds) -> str | None:
    """How the thresholds flags.json was flagged at (the ones its `method` records) differ from
    the run's now (glade eval may run again at others); None where they match, or none is recorded."""
    now = asdict(thresholds)
    changed = [k for k in FLAGGED_AT if k in method and method[k] != now[k]]
    if not changed:
        return None
    then = ", ".join(f"{k} {method[k]}" for k in changed)
    return f"flagged at {then}, where the run's thresholds are now " + ", ".join(f"{k} {now[k]}" for k in changed)
