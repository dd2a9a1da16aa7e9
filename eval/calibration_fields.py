"""The fields of a calibration summary (RESULTS/calibration/*.json, written by glade calibrate) that
glade report reads, with their types. A results folder passed on keeps its calibrations, and the
report prints their figures and words into report.html and report.md: it refuses a summary with
anything else there (a key left out, a count saved as text, an agreement of 1.7) rather than fail on
it half-way or show it (the types: eval/json_fields.py). Older summaries lack some keys: those may
be left out."""

from __future__ import annotations

from .calibrate import BOUNDS, CHANGE_BOUNDS
from .json_fields import BOOL, INTEGER, LIST, NUMBER, OBJECT, RATE, TEXT, is_kind, said, wrong_fields
from .outcome_check import FORMAT

# by key, the types a value may have; None: the key may be left out (or null). ORIGIN: what the report reads
# of every summary, to tell whether it is of this folder's decisions; SHOWN: what it reads of one it shows
ORIGIN = {"policy": (TEXT,), "decisions": (INTEGER,), "split": (OBJECT,), "outcome": (OBJECT, None)}
ORIGIN |= {k: (TEXT, None) for k in ("creature", "kind", "source")}
ORIGIN |= {"faults_left_out": (INTEGER, None), "seeds": (LIST, None), "scenarios": (LIST, None)}
SHOWN = {"rebuilt": (INTEGER,), "verdict": (TEXT,)} | {k: (OBJECT,) for k in ("fitted", "search", "parts")}
SHOWN |= {"moved": (LIST, None), "start": (OBJECT, None), "fit_dispositions": (OBJECT, None)}
FIELDS = {  # the objects inside a summary, by where they are
    "split": {"heldout_seeds": (LIST,), "heldout_scenario": (TEXT, None)},
    "fitted": {"name": (TEXT,)},
    "start": {"name": (TEXT, None)},
    "search": {"evaluations": (INTEGER,), "generations": (INTEGER,)}
    | {k: (INTEGER, None) for k in ("seed", "popsize", "maxiter")},
    "moved": {"parameter": (TEXT,), "before": (NUMBER, TEXT), "after": (NUMBER, TEXT)},
    "part": {"seeds": (INTEGER, None), "episodes": (INTEGER, None)} | {k: (OBJECT,) for k in BOUNDS},
    "outcome": {"skipped": (TEXT, None), "verdict": (TEXT, None), "groups": (LIST, None)}
    | {"other_live_seats": (INTEGER, None), "fault_worlds": (INTEGER, None)},
    "group": {"group": (TEXT,), "n": (INTEGER,), "worlds": (INTEGER, None), "scenario_in_fit": (BOOL, None)}
    | {"unit": (TEXT, None), "figures": (OBJECT,)},
    "figure": {"n": (INTEGER,), "verdict": (TEXT,)},
    "interval": {"mean": (NUMBER, None), "ci": (LIST, None), "n": (INTEGER, None), "note": (TEXT, None)},
}
# a figure's intervals in the outcome check (an older summary has `improvement`, not `error_change`)
FIGURE_INTERVALS = ("council", "original", "calibrated", "error_original", "error_calibrated", "error_change")


def wrong_origin(c) -> str | None:
    """The first field of calibration summary `c` that tells whose decisions it fitted (ORIGIN) and that is
    not of its type, in words ("decisions must be an integer, not a text"); None where every one is."""
    if why := wrong_fields(c, ORIGIN, ""):
        return why
    if why := wrong_fields(c["split"], FIELDS["split"], "split"):
        return why
    lists = {"seeds": INTEGER, "scenarios": TEXT, "split.heldout_seeds": INTEGER}
    for key, kind in lists.items():
        items = c["split"]["heldout_seeds"] if key.startswith("split") else c.get(key) or []
        if not all(is_kind(item, kind) for item in items):
            return f"{key} must be a list of {kind.split(' ', 1)[1]}s"
    outcome = c.get("outcome") or {}
    if not is_kind(groups := outcome.get("groups") or [], LIST):
        return f"outcome.groups must be a list, not {said(groups)}"
    for i, group in enumerate(groups):  # an older summary's groups name the scenarios it fitted
        named = {k: FIELDS["group"][k] for k in ("group", "scenario_in_fit")}
        if why := wrong_fields(group, named, f"outcome.groups[{i}]"):
            return why
    return None


def wrong_calibration(c) -> str | None:
    """The first field of calibration summary `c` that the report reads (ORIGIN, SHOWN) and that is not of its
    type, in words ("parts.fit.agreement.after.mean must be between 0 and 1, not 1.7"); None where every one is."""
    if why := wrong_origin(c) or wrong_fields(c, SHOWN, ""):
        return why
    for key in ("fitted", "search", "start"):
        if c.get(key) is not None and (why := wrong_fields(c[key], FIELDS[key], key)):
            return why
    if not all(is_kind(count, INTEGER) for count in (c.get("fit_dispositions") or {}).values()):
        return "fit_dispositions must map each disposition to an integer (its count of fit decisions)"
    for i, moved in enumerate(c.get("moved") or []):
        if why := wrong_fields(moved, FIELDS["moved"], f"moved[{i}]"):
            return why
    if why := wrong_fields(c["parts"], {"fit": (OBJECT,), "heldout": (OBJECT,)}, "parts"):
        return why
    for part in ("fit", "heldout"):
        where = f"parts.{part}"
        if why := wrong_fields(c["parts"][part], FIELDS["part"], where):
            return why
        if not any(k in c["parts"][part] for k in ("seeds", "episodes")):
            return f"{where} must give its seeds (or, written by an older glade, its episodes)"
        for figure, (low, high) in BOUNDS.items():
            for when in ("before", "after", "change"):
                bounds = CHANGE_BOUNDS[figure] if when == "change" else (low, high)
                if why := _wrong_interval(c["parts"][part][figure].get(when), f"{where}.{figure}.{when}", bounds):
                    return why
    return _wrong_outcome(c.get("outcome"))


def _wrong_outcome(outcome: dict | None) -> str | None:
    if outcome is None:
        return None
    if why := wrong_fields(outcome, FIELDS["outcome"], "outcome"):
        return why
    for i, group in enumerate(outcome.get("groups") or []):
        where = f"outcome.groups[{i}]"
        if why := wrong_fields(group, FIELDS["group"], where):
            return why
        for name, figure in group["figures"].items():
            if name not in FORMAT:
                return f"{where}.figures.{name}: not a figure glade calibrate checks ({', '.join(FORMAT)})"
            if why := wrong_fields(figure, FIELDS["figure"], f"{where}.figures.{name}"):
                return why
            for key in (*FIGURE_INTERVALS, "improvement"):
                if figure.get(key) is not None and (
                    why := _wrong_interval(figure[key], f"{where}.figures.{name}.{key}")
                ):
                    return why
    return None


def _wrong_interval(d, where: str, bounds=(-float("inf"), float("inf"))) -> str | None:
    """An interval as glade.eval.stats writes one: its mean within `bounds`, its ends two numbers."""
    if why := wrong_fields(d, FIELDS["interval"], where):
        return why
    low, high = bounds
    if d.get("mean") is not None and not low <= d["mean"] <= high:
        within = f"at least {low:g}" if high == float("inf") else f"between {low:g} and {high:g}"
        return f"{where}.mean must be {within}, not {said(d['mean'], (RATE,))}"
    ends = d.get("ci")
    empty = d.get("mean") is None and ends == [None, None]  # no decisions to measure, as the first calibrate wrote it
    if ends is not None and not empty and not (len(ends) == 2 and all(is_kind(end, NUMBER) for end in ends)):
        return f"{where}.ci must be a list of two numbers (its ends)"
    return None
