"""The report's calibration section: what `glade calibrate` found for this results folder
(RESULTS/calibration/*.json), one block per calibration. No calibration, no section."""

from __future__ import annotations

import html
import json
from pathlib import Path

from glade.eval.calibrate import CALIBRATION_DIR

from .markup import Section, html_table, md_table

TITLE = "Calibrating the stand-in"
ABOUT = (
    "glade calibrate fitted a stand-in disposition to a live policy's decisions on some seeds and checked it "
    "on the others. Agreement: the share of goods on which the stand-in takes the live side (buy, sell or none); "
    "before is each creature's scenario disposition, after the fitted one; mean over episodes [95% CI]. "
    "Outcome check: the calibrated and the original stand-in worlds on held-out worlds against the live council; "
    "improvement is the original's error minus the calibrated's, paired by world [95% CI]."
)


def calibrations(folder: Path) -> list[dict]:
    """The summaries glade calibrate wrote for this folder, by name; unreadable ones are skipped."""
    out = []
    for path in sorted((Path(folder) / CALIBRATION_DIR).glob("*.json")):
        try:
            out.append(json.loads(path.read_text()))
        except (OSError, json.JSONDecodeError):
            continue
    return out


def ci_text(d: dict | None, fmt: str) -> str:
    """`mean [low, high]` of a glade.eval.stats.describe dict; `mean (n 1)` where n is too small for an interval."""
    if not d or d.get("mean") is None:
        return "—"
    low, high = d.get("ci") or (None, None)
    if low is None or d.get("n", 0) < 2:
        return f"{d['mean']:{fmt}} (n {d.get('n', 0)})"
    return f"{d['mean']:{fmt}} [{low:{fmt}}, {high:{fmt}}]"


def tables(c: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    """(caption, header, rows) of one calibration: agreement and errors, then the outcome check."""
    rows = []
    for part, label in (("fit", "fit"), ("heldout", "held out")):
        p = c["parts"][part]
        for when in ("before", "after", "change"):
            sign = "+" if when == "change" else ""
            rows.append(
                [
                    label,
                    str(p["episodes"]),
                    when,
                    ci_text(p["agreement"][when], f"{sign}.3f"),
                    ci_text(p["qty_error"][when], f"{sign}.2f"),
                    ci_text(p["price_error"][when], f"{sign}.3f"),
                ]
            )
    out = [
        (
            "Direction agreement, quantity error (units) and price error, before and after",
            ["part", "episodes", "stand-in", "agreement", "quantity error", "price error"],
            rows,
        )
    ]
    outcome = c.get("outcome") or {}
    if outcome.get("groups"):
        rows = []
        for g in outcome["groups"]:
            seen = g["scenario_in_fit"]
            label = g["group"] + ("" if seen is None else " (held-out seeds)" if seen else " (unseen scenario)")
            for name, f in g["figures"].items():
                if "improvement" in f:
                    means = [
                        ci_text({"mean": f[w]["mean"], "n": 1}, ".3g").split(" ")[0]
                        for w in ("council", "original", "calibrated")
                    ]
                    rows.append([label, str(f["n"]), name, *means, ci_text(f["improvement"], "+.3g"), f["verdict"]])
        header = ["worlds", "n", "figure", "council", "original", "calibrated", "improvement", "verdict"]
        out.append(("Outcome check on held-out worlds (means)", header, rows))
    return out


def _value(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def lines(c: dict) -> list[str]:
    """The prose of one calibration: who, the split, both verdicts, what moved."""
    who = c["policy"] + (f" on {c['creature']}" if c.get("creature") else "")
    split = c["split"]
    held = f"seeds {', '.join(map(str, split['heldout_seeds']))}"
    if split.get("heldout_scenario"):
        held += f" and scenario {split['heldout_scenario']}"
    moved = ", ".join(f"{m['parameter']} {_value(m['before'])} → {_value(m['after'])}" for m in c.get("moved", []))
    out = [
        f"Policy {who}: {c['decisions']} decisions ({c['rebuilt']} rebuild the stored counterfactual exactly); held out {held}.",
        f"Fitted disposition {c['fitted']['name']}; moved most: {moved or 'nothing'}.",
        c["verdict"][0].upper() + c["verdict"][1:] + ".",
    ]
    outcome = c.get("outcome") or {}
    if "skipped" in outcome:
        out.append(f"Outcome check skipped: {outcome['skipped']}.")
    elif outcome.get("verdict"):
        out.append("Outcome check: " + outcome["verdict"] + ".")
    return out


def calibration_sections(page) -> list[Section]:
    """One section, a block per calibration of this results folder (none: no section)."""
    found = calibrations(page.r.folder)
    if not found:
        return []
    e = html.escape
    md, out = [ABOUT, ""], [f'<p class="caption">{e(ABOUT)}</p>']
    for c in found:
        md += [f"### {c['fitted']['name']}", ""] + [f"- {line}" for line in lines(c)] + [""]
        out.append(f"<h3>{e(c['fitted']['name'])}</h3><ul>" + "".join(f"<li>{e(x)}</li>" for x in lines(c)) + "</ul>")
        for caption, header, rows in tables(c):
            md += [f"*{caption}*", ""] + md_table(header, rows) + [""]
            out += [f'<p class="caption">{e(caption)}</p>', html_table(header, rows, set())]
    return [Section("calibration", TITLE, md, out)]
