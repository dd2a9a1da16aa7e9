"""The report's calibration section: what `glade calibrate` found for this results folder
(RESULTS/calibration/*.json), one block per calibration. No calibration, no section."""

from __future__ import annotations

import html
import json
from pathlib import Path

import numpy as np
import pandas as pd

from glade.eval.calibrate import CALIBRATION_DIR, SUMMARY_KEYS
from glade.eval.calibration_fields import wrong_calibration, wrong_origin
from glade.eval.outcome_check import FORMAT
from glade.eval.stats import ci_text
from glade.faults import is_fault
from glade.files import json_with_keys
from glade.words import counted, seeds_text

from .markup import Section, html_table, md_table, md_text

TITLE = "Calibrating the stand-in"
CONVENTION = (
    "Every change is calibrated minus original [95% CI], paired by seed for decisions (a seed's decisions "
    "averaged) and for outcomes (a seed's worlds averaged): a positive change in agreement, or a negative change in an "
    "error, favours the calibrated stand-in; 'in all N': the same value on all N seeds or worlds; '(n N)' after a "
    "value: too few seeds (N) for an interval."
)
# the outcome tables' columns, said once: the report's ABOUT and the terminal (glade.cli.calibrate.show) print it
OUTCOME = (
    "Outcome check: the calibrated and the original stand-in worlds on held-out worlds against the live council, "
    "means over seeds, each seed's worlds averaged. Original error and calibrated error: each stand-in world's "
    "absolute difference from the council's figure (price_path: its distance to the council's price path, so the "
    "council has none), averaged the same way; taken per world, it is not the gap between the means shown, and the "
    "change in error is calibrated error minus original error. Verdict: calibrated closer, the change in error's "
    "interval lies below 0 (or, with no interval, the same negative change on every seed); original closer, it lies "
    "above 0 (or the same positive change on every seed); no clear difference, the interval spans 0; no difference, "
    "the same error in both worlds on every seed, so no interval; too few seeds, fewer than 4 seeds, so no interval. "
    "A crash is 0 or 1, so its change gets an exact interval even where every seed moved alike."
)
ABOUT = (
    "glade calibrate fitted a stand-in disposition to a live policy's decisions on some seeds and checked it "
    "on the others. Agreement: the share of goods on which the stand-in takes the live side (buy, sell or none); "
    "original is each creature's scenario disposition, calibrated the fitted one; mean over seeds, each seed's "
    "decisions averaged [95% CI]. " + OUTCOME + " " + CONVENTION
)


def calibrations(folder: Path) -> list[dict]:
    """The summaries glade calibrate wrote for this folder, by name; a file there it did not
    write, or one whose fields that say whose decisions it fitted are not of their types
    (eval/calibration_fields.py), is named (ValueError), not shown half."""
    out = []
    for path in sorted((Path(folder) / CALIBRATION_DIR).glob("*.json")):
        text = path.read_bytes()  # json reads bytes: a file that is not UTF-8 is then named below, not a codec error
        if not json_with_keys(SUMMARY_KEYS)(text):
            raise ValueError(
                f"{path}: not a calibration summary glade calibrate wrote; move it aside (or remove it), then rerun "
                "glade calibrate to write it again (it never replaces a file it did not write)"
            )
        if why := wrong_origin(summary := _nulls_left_out(json.loads(text))):
            raise _not_as_written(path, why)
        out.append({**summary, "file": path.name})
    return out


def _nulls_left_out(value):
    """`value` without its keys whose value is null: the report reads a null and a key left out alike (as
    eval/calibration_fields allows either), where `key in c` and `c.get(key, default)` would not."""
    if isinstance(value, dict):
        return {k: _nulls_left_out(v) for k, v in value.items() if v is not None}
    return [_nulls_left_out(v) for v in value] if isinstance(value, list) else value


def _not_as_written(path: Path, why: str) -> ValueError:
    return ValueError(f"{path}: {why}, as glade calibrate writes it; rerun glade calibrate or remove it")


def foreign(c: dict, decisions: pd.DataFrame) -> str | None:
    """Why a calibration in this folder's calibration/ is not of this folder's decisions (None: it
    is): a traces dataset's, or a policy (on a creature), seeds, scenarios or a number of decisions
    (seat faults left out, as calibrate leaves them out) other than this decisions.parquet's. A
    copied folder keeps its calibrations, so the stored source path alone decides nothing. A
    summary written before the scenarios were stored is checked on those it names (_named_scenarios)."""
    source, who = c.get("source", "an unnamed source"), repr(c["policy"])
    if c.get("kind", "results") != "results":
        return f"it was calibrated from a {c['kind']} dataset ({source}), not from this results folder"
    mine = np.zeros(len(decisions), dtype=bool)
    for column in ("policy_name", "policy"):  # as glade.eval.live_decisions matches a policy
        if column in decisions.columns:
            mine |= (decisions[column] == c["policy"]).to_numpy()
    if c.get("creature"):
        mine &= (decisions["creature"] == c["creature"]).to_numpy()
        who += f" on {c['creature']}"
    # calibrate fits the decisions less the seat faults (their seeds, scenarios and count): so does this
    if "error" in decisions.columns:
        mine &= ~decisions["error"].map(is_fault).astype(bool).to_numpy()
    here = set(decisions.loc[mine, "seed"].astype(int)) if "seed" in decisions.columns else set()
    if not here:
        return f"policy {who} made no decisions in this folder; it was calibrated from {source}"
    theirs = set(c["seeds"]) if "seeds" in c else None  # a summary from before seeds were stored: its held-out ones
    if (theirs is not None and theirs != here) or not set(c["split"]["heldout_seeds"]) <= here:
        shown = seeds_text(theirs if theirs is not None else c["split"]["heldout_seeds"])
        return f"it was calibrated on {shown} of policy {who} from {source}, and this folder's are {seeds_text(here)}"
    scenarios = set(decisions.loc[mine, "scenario"]) if "scenario" in decisions.columns else set()
    named = _named_scenarios(c)
    if ("scenarios" in c and named != scenarios) or not named <= scenarios:
        return (
            f"it was calibrated on {'' if 'scenarios' in c else 'decisions including '}{_scenarios_text(named)} "
            f"of policy {who} from {source}, and this "
            f"folder's are {_scenarios_text(scenarios)}"
        )
    # a summary from before calibrate left seat faults out counted them: its count is no test
    if "faults_left_out" in c and c.get("decisions") != int(mine.sum()):
        return (
            f"it was calibrated on {c['decisions']:,} decisions of policy {who} from {source}, and this folder "
            f"holds {int(mine.sum()):,} (another run of its seeds and scenarios); rerun glade calibrate on this folder"
        )
    return None


def _named_scenarios(c: dict) -> set[str]:
    """The scenarios a summary says it was calibrated on: `scenarios`, or in a summary written
    before they were stored the ones it names (its held-out scenario, its outcome check's groups)."""
    if "scenarios" in c:
        return set(c["scenarios"])
    groups = (c.get("outcome") or {}).get("groups") or []
    named = {g["group"] for g in groups if g.get("scenario_in_fit") is not None}
    return named | ({c["split"]["heldout_scenario"]} if c["split"].get("heldout_scenario") else set())


def _scenarios_text(names) -> str:
    """scenario gambit_shock, or scenarios default, gambit_override."""
    names = sorted(names)
    return f"scenario{'s' if len(names) != 1 else ''} {', '.join(names) or 'none'}"


# an outcome table's mean columns, the JSON keys of each figure they show (an older summary lacks the errors: "—")
SHOWN = ("council", "original", "calibrated", "error_original", "error_calibrated")
ERROR_COLUMNS = ("original error", "calibrated error")  # what the change in error is the difference of
OUTCOME_HEADER = ["figure", "council", "original", "calibrated", *ERROR_COLUMNS, "change in error", "verdict"]


def tables(c: dict) -> list[tuple[str, list[str], list[list[str]]]]:
    """(caption, header, rows) of one calibration: agreement and errors, then the outcome check, a
    table per group of worlds."""
    rows, parts = [], c["parts"]
    for part, label in (("fit", "fit"), ("heldout", "held out")):
        p = parts[part]
        for when, shown in (("before", "original"), ("after", "calibrated"), ("change", "change")):
            sign = "+" if when == "change" else ""
            rows.append(
                [
                    label,
                    shown,
                    ci_text(p["agreement"][when], f"{sign}.3f"),
                    ci_text(p["qty_error"][when], f"{sign}.2f"),
                    ci_text(p["price_error"][when], f"{sign}.3f"),
                ]
            )
    out = [
        (
            f"Agreement, quantity error (units), price error: means over the {counted(parts['fit']['seeds'], 'seed')} "
            f"with fit decisions and the {parts['heldout']['seeds']} with held-out ones"
            + (" (a held-out scenario's are on every seed)" if c.get("split", {}).get("heldout_scenario") else "")
            if "seeds" in parts["fit"]
            else f"Agreement, quantity error (units), price error: {parts['fit']['episodes']} fit, "
            f"{parts['heldout']['episodes']} held-out episodes (means)",  # written before calibrate averaged seeds
            ["part", "stand-in", "agreement", "quantity error", "price error"],
            rows,
        )
    ]
    for g in (c.get("outcome") or {}).get("groups", []):
        rows = [
            [
                name + ("" if f["n"] == g["n"] else f" (n {f['n']})"),
                *("—" if f.get(w) is None else format(f[w]["mean"], FORMAT[name]) for w in SHOWN),
                ci_text(_error_change(f), "+" + FORMAT[name]),
                f["verdict"],
            ]
            for name, f in g["figures"].items()
            if _error_change(f) is not None
        ]
        out.append((_where(g) + " (means)", OUTCOME_HEADER, rows))
    return out


def _error_change(figure: dict) -> dict | None:
    """The change in error, calibrated minus original; a calibration written before that
    convention stored the improvement (original minus calibrated), which is its negation."""
    if "error_change" in figure:
        return figure["error_change"]
    old = figure.get("improvement")
    if not isinstance(old, dict) or old.get("mean") is None:
        return None
    ci = old.get("ci")
    return {**old, "mean": -old["mean"], "ci": [-ci[1], -ci[0]] if ci else None}


def _where(g: dict) -> str:
    worlds = g.get("worlds", g["n"])  # a summary written before the seeds were the unit: worlds only
    if g.get("scenario_in_fit") is None:  # the group of all held-out worlds
        unit = g.get("unit", "scenario seeds")  # a summary written before a seed's scenarios were averaged
        return f"Outcome check over all {counted(worlds, 'held-out world')} ({counted(g['n'], unit.removesuffix('s'))})"
    if g.get("scenario_in_fit"):
        return f"Outcome check, {g['group']}: {counted(worlds, 'world')} on {counted(g['n'], 'held-out seed')}"
    return f"Outcome check, {g['group']}: {counted(worlds, 'world')} on {counted(g['n'], 'seed')} of a scenario the fit never saw"


def _value(v) -> str:
    return f"{v:.4g}" if isinstance(v, float) else str(v)


def lines(c: dict) -> list[str]:
    """The prose of one calibration: who, the split, both verdicts, what moved."""
    who = c["policy"] + (f" on {c['creature']}" if c.get("creature") else "")
    split = c["split"]
    held = seeds_text(split["heldout_seeds"])
    if split.get("heldout_scenario"):
        held += f" and scenario {split['heldout_scenario']}"
    moved = ", ".join(f"{m['parameter']} {_value(m['before'])} → {_value(m['after'])}" for m in c.get("moved", []))
    faults = (
        f"; {c['faults_left_out']} more were seat faults (held turns, not its play), left out"
        if c.get("faults_left_out")
        else ""
    )
    out = [
        f"Policy {who}: {c['decisions']:,} decisions ({c['rebuilt']:,} rebuild the stored counterfactual exactly{faults});"
        f" held out {held}.",
        f"Fitted disposition {c['fitted']['name']}; moved most{_baseline(c)}: {moved or 'nothing'}.",
        _search(c["search"]),
        c["verdict"][0].upper() + c["verdict"][1:] + ".",
    ]
    outcome = c.get("outcome") or {}
    if "skipped" in outcome:
        out.append(f"Outcome check skipped: {outcome['skipped']}.")
    elif outcome.get("verdict"):
        out.append("Outcome check: " + outcome["verdict"] + ".")
    if outcome.get("other_live_seats"):
        whose = "other live policies" + (" or this policy on other creatures" if c.get("creature") else "")
        out.append(
            f"{outcome['other_live_seats']:,} live seats of {whose} sat on their scenario's disposition in both "
            "stand-in worlds."
        )
    if outcome.get("fault_worlds"):
        out.append(
            f"The outcome check left out {outcome['fault_worlds']} council world(s) in which a seat failed to answer."
        )
    return out


def _baseline(c: dict) -> str:
    """ " (from balanced, the most common original disposition)": what `moved` is measured from, the
    fit part's most common original disposition (ties by name); empty for a summary without it."""
    start = (c.get("start") or {}).get("name")
    if not start:
        return ""
    counts = list((c.get("fit_dispositions") or {}).values())
    if len(counts) == 1:
        return f" (from {start}, the original disposition)"
    tied = counts.count(max(counts)) if counts else 1
    if tied > 1:
        return f" (from {start}, the first by name of the {tied} most common original dispositions)"
    return f" (from {start}, the most common original disposition)"


def _search(search: dict) -> str:
    """How the fit was searched: enough to run it again and get the same disposition. Its time
    (`seconds` in the JSON) is left out: it differs on every run, and the report would too."""
    settings = ", ".join(f"{k} {search[k]}" for k in ("seed", "popsize", "maxiter") if k in search)
    return (
        f"Search: {counted(search['evaluations'], 'candidate')} in {counted(search['generations'], 'generation')}"
        + (f" ({settings})" if settings else "")
        + "."
    )


def calibration_sections(page) -> list[Section]:
    """One section, a block per calibration of this folder's decisions (none: no section); one
    in calibration/ that is not of them is left out, with a line saying why."""
    found = calibrations(page.r.folder)
    if not found:
        return []
    e = html.escape
    md, out = [ABOUT, ""], [f'<p class="caption">{e(ABOUT)}</p>']
    shown = {}  # a summary's content -> its file: an older calibrate wrote one fit twice there (--out NAME.yaml)
    for c in found:
        content = json.dumps({k: v for k, v in c.items() if k != "file"}, sort_keys=True)
        twin = shown.setdefault(content, c["file"])
        why = f"the same calibration as {CALIBRATION_DIR}/{twin}" if twin != c["file"] else foreign(c, page.r.decisions)
        if why is not None:
            note = f"{CALIBRATION_DIR}/{c['file']} is left out: {why}."
            md += [f"*{md_text(note, inside=True)}*", ""]
            out.append(f'<p class="caption">{e(note)}</p>')
            continue
        if why := wrong_calibration(c):  # every section is read before a file changes (render.write_report)
            raise _not_as_written(page.r.folder / CALIBRATION_DIR / c["file"], why)
        md += [f"### {md_text(c['fitted']['name'])}", ""] + [f"- {md_text(line)}" for line in lines(c)] + [""]
        out.append(f"<h3>{e(c['fitted']['name'])}</h3><ul>" + "".join(f"<li>{e(x)}</li>" for x in lines(c)) + "</ul>")
        for caption, header, rows in tables(c):
            md += [f"*{md_text(caption, inside=True)}*", ""] + md_table(header, rows) + [""]
            out += [f'<p class="caption">{e(caption)}</p>', html_table(header, rows, set())]
    return [Section("calibration", TITLE, md, out)]
