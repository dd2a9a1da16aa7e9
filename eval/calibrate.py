"""`glade calibrate`: fit the stand-in to what a live policy did, and check it where the fit never looked.

1. The live decisions of one policy (optionally one creature) come from an eval results folder
   (decisions.parquet) or a traces dataset (data/*.parquet), seat faults left out
   (glade.eval.live_decisions); each observation is rebuilt from its `observation` column, and
   the stored stand-in counterfactual is recomputed from it as a check that the rebuild is exact.
2. Split by seed (never by row): a seeded share of the seeds is held out, and when the source
   holds several scenarios one whole scenario too. The fit part is every decision of the other
   (scenario, seed) pairs; a held-out decision whose input a fit decision had (the same creature and
   observation, on any seed: twin scenarios play alike until the legend, and openings repeat
   across seeds) is in neither (`unseen`).
3. `standin_search.search` fits the disposition on the fit part, starting from the scenario's
   own disposition.
4. Direction agreement, quantity error and price error of the scenario's own disposition
   (original; `before` in the summary) and the fitted one (calibrated; `after`), on the fit part
   and on the held-out part, each a mean over seeds (a seed's decisions averaged first: its
   scenarios and casts share its draws, as glade.eval.metrics.per_seed) with an interval
   (glade.eval.stats), the change (calibrated minus original) paired by seed. The verdict
   (`fit_verdict`) says two things about held-out seeds: whether the fit generalised (it beats
   always taking each good's most common live side in the fit part by at least MIN_GAIN,
   interval above 0; it did not only when the whole interval lies below MIN_GAIN, else it could
   not be shown), and whether it improved agreement over the original disposition (the paired
   change excludes 0; not clearly better where it spans 0); a held-out error it made clearly
   worse (the change's interval wholly above 0) is named beside it.
5. The outcome check (eval/outcome_check.py) plays the fitted and the original stand-in worlds
   on the held-out seeds and scenario and compares each with the live council.
"""

from __future__ import annotations

import json
import math
import re
import shlex
from contextlib import ExitStack, suppress
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import yaml

from glade.config import as_plain
from glade.env import standin
from glade.files import atomic, check_folder_path, check_replaceable, json_with_keys, temp_for

from .calibrate_words import fit_verdict
from .live_decisions import Live, load_live, rebuilt
from .outcome_check import outcome_check
from .standin_search import Search, base_rate_agreement, decision_scores, features, moved, search
from .stats import ci_text, clean, describe, interval

LEVEL = 0.95  # every interval calibration gives (its texts say 95%), the outcome check's too
NOT_RUN = "not run (--no-outcome)"  # the outcome check's `skipped`, so the report says so too
CALIBRATION_DIR = "calibration"  # RESULTS/calibration/<name>.json, read by the report
SUMMARY_KEYS = {"fitted", "search", "verdict"}  # every summary it writes holds these (how one is told)
# What each figure can be: agreement is a share; the errors are distances (no upper bound)
BOUNDS = {"agreement": (0.0, 1.0), "qty_error": (0.0, float("inf")), "price_error": (0.0, float("inf"))}
CHANGE_BOUNDS = {
    "agreement": (-1.0, 1.0),
    "qty_error": (-float("inf"), float("inf")),
    "price_error": (-float("inf"), float("inf")),
}


@dataclass(frozen=True)
class Split:
    heldout_seeds: tuple[int, ...]
    heldout_scenario: str | None
    fit: np.ndarray  # bool per row of Live.rows
    heldout: np.ndarray  # bool per row: not fit, and (after `unseen`) no fit row had its input

    def fit_pairs(self, rows: pd.DataFrame) -> set[tuple[str, int]]:
        return set(zip(rows.loc[self.fit, "scenario"], rows.loc[self.fit, "seed"].astype(int)))


def split(rows: pd.DataFrame, seed: int = 0, share: float = 1 / 3, scenario: str | None = None) -> Split:
    """Hold out a seeded `share` of the seeds (at least one), and with several scenarios one
    whole scenario (`scenario`, else the last by name)."""
    seeds = sorted(int(s) for s in rows["seed"].unique())
    if len(seeds) < 2:
        raise ValueError(
            f"the decisions come from {len(seeds)} seed(s); holding out needs at least 2: "
            "calibrate on a run of more seeds (seeds.count in its recipe)"
        )
    if not 0 < share < 1:
        raise ValueError(f"--holdout: a share between 0 and 1, got {share}")
    # half up: round() is half-even, so --holdout 0.5 held out 2 of 5 seeds but 4 of 7
    k = min(len(seeds) - 1, max(1, math.floor(share * len(seeds) + 0.5)))
    held = tuple(sorted(int(s) for s in np.random.default_rng(seed).choice(seeds, size=k, replace=False)))
    scenarios = sorted(set(rows["scenario"]))
    if scenario is not None and scenario not in scenarios:
        raise ValueError(f"--holdout-scenario {scenario!r}: not in the decisions (scenarios: {', '.join(scenarios)})")
    if scenario is None and len(scenarios) > 1:
        scenario = scenarios[-1]
    if scenario is not None and len(scenarios) < 2:
        raise ValueError(f"--holdout-scenario {scenario!r}: the only scenario; nothing would be left to fit on")
    fit = ~rows["seed"].isin(held).to_numpy() & (rows["scenario"] != scenario).to_numpy()
    return Split(held, scenario, fit, ~fit)


def unseen(rows: pd.DataFrame, part: Split) -> Split:
    """`part` without the held-out decisions whose input a fit decision had: the same creature and
    observation (what the stand-in reads), on any seed. Scenarios that part only at the legend
    (gambit_rumour, _shock, _override) play the same turns before it on a seed, and a seed moves a
    creature's opening holdings only a little, so turn-0 observations repeat across seeds too: a
    held-out decision with a fitted input would score the fit on what it was fitted to. Not a
    hold-out by seed alone, though simpler: it would check the scenario never fitted (decisions and
    outcomes) on the held-out seeds only, a third by default (3 of the quickstart's 8: too few for
    an interval); here its decisions after the legend on the fit seeds count too."""
    if not part.fit.any() or not part.heldout.any():  # nothing to repeat, or nothing to leave out
        return part
    keys = [(c, json.dumps(o, sort_keys=True)) for c, o in zip(rows["creature"], rows["observation"])]
    fitted = {k for k, f in zip(keys, part.fit) if f}
    seen = np.array([k in fitted for k in keys], dtype=bool)
    return replace(part, heldout=part.heldout & ~seen)


def _per_seed(rows: pd.DataFrame, values: pd.Series | np.ndarray) -> pd.Series:
    """One value per seed, its decisions averaged: a seed's scenarios and casts share its draws
    (and twin scenarios its play before the legend), so the seed is the independent unit."""
    return pd.Series(np.asarray(values, dtype=float), index=rows.index).groupby(rows["seed"]).mean()


def compare(rows: pd.DataFrame, before: pd.DataFrame, after: pd.DataFrame, level: float) -> dict:
    """Before and after on one part: each figure over seeds, the change paired by seed."""
    out = {"decisions": len(rows), "episodes": int(rows["episode_id"].nunique()), "seeds": int(rows["seed"].nunique())}
    for column in ("agreement", "qty_error", "price_error"):
        b, a = _per_seed(rows, before[column].to_numpy()), _per_seed(rows, after[column].to_numpy())
        out[column] = {
            "before": describe(b, level=level, unit="seeds", bounds=BOUNDS[column]),
            "after": describe(a, level=level, unit="seeds", bounds=BOUNDS[column]),
            "change": describe((a - b).dropna(), level=level, unit="seeds", bounds=CHANGE_BOUNDS[column]),
        }
    return out


def disposition_name(policy: str, creature: str | None) -> str:
    raw = f"calibrated_{policy}" + (f"_{creature}" if creature else "")
    return re.sub(r"[^A-Za-z0-9_.-]", "_", raw)[:64]


def check_name(name: str) -> None:
    """Refuses a --name a disposition cannot carry (ValueError), before the search: the search
    builds a disposition of that name for every candidate."""
    if not name or len(name) > 64 or not set(name) <= standin.NAME_CHARS:
        raise ValueError(f"--name {name!r}: a disposition name is 1 to 64 letters, digits, '_', '-' or '.'")
    if name in standin.DISPOSITIONS:  # a file that changes a shipped disposition may not keep its name
        raise ValueError(
            f"--name {name}: a shipped disposition's name, and the fitted one will differ from it; "
            "pick a name of its own, or leave --name out (calibrated_<policy>[_<creature>])"
        )


@dataclass(frozen=True)
class StandInFit:
    live: Live
    split: Split
    fitted: standin.Disposition
    summary: dict  # JSON-ready; `fitted` is the disposition's fields


def calibrate(
    source: str | Path,
    policy: str,
    creature: str | None = None,
    *,
    seed: int = 0,
    holdout: float = 1 / 3,
    holdout_scenario: str | None = None,
    popsize: int = 10,
    maxiter: int = 60,
    name: str | None = None,
    on_total=None,
    on_generation=None,
) -> StandInFit:
    """Steps 1 to 4: load, split, fit, score. `on_total(generations)` then `on_generation()`
    after each generation of the search."""
    name = name if name is not None else disposition_name(policy, creature)
    check_name(name)
    live = load_live(source, policy, creature)
    rows = live.rows
    part = unseen(rows, split(rows, seed, holdout, holdout_scenario))
    fit_rows, held_rows = rows[part.fit], rows[part.heldout]
    if not len(fit_rows) or not len(held_rows):
        raise ValueError("the split left no decisions to fit on or none to hold out")
    references = [live.references[(s, c)] for s, c in zip(rows["scenario"], rows["creature"])]
    fit_refs = [r for r, f in zip(references, part.fit) if f]
    originals = {r: fit_refs.count(r) for r in sorted(set(fit_refs))}  # fit decisions per original disposition
    start = standin.disposition(max(originals, key=originals.get))  # the most common one, ties by name
    if on_total is not None:
        on_total(maxiter)
    found: Search = search(
        features(list(fit_rows["observation"]), list(fit_rows["action"])),
        start,
        name,
        seed=seed,
        popsize=popsize,
        maxiter=maxiter,
        on_generation=on_generation,
    )
    fitted = found.disposition
    level = LEVEL
    before = decision_scores(rows["observation"], rows["action"], [standin.disposition(r) for r in references])
    after = decision_scores(rows["observation"], rows["action"], [fitted] * len(rows))
    parts = {
        "fit": compare(fit_rows, before[part.fit], after[part.fit], level),
        "heldout": compare(held_rows, before[part.heldout], after[part.heldout], level),
    }
    base = _per_seed(held_rows, base_rate_agreement(fit_rows, held_rows))
    calibrated = _per_seed(held_rows, after[part.heldout]["agreement"].to_numpy())
    original = _per_seed(held_rows, before[part.heldout]["agreement"].to_numpy())
    gain = interval(calibrated - base, level=level, unit="seeds", bounds=(-1, 1))
    shares = (interval(v, level=level, unit="seeds", bounds=(0, 1)) for v in (calibrated, original, base))
    change = interval(calibrated - original, level=level, unit="seeds", bounds=(-1, 1))
    said = fit_verdict(*shares, change, gain, parts["heldout"])
    summary = {
        "policy": policy,
        "creature": creature,
        "source": str(live.folder),
        "kind": live.kind,
        "decisions": len(rows),
        "seeds": sorted(int(x) for x in rows["seed"].unique()),  # the report checks its folder holds these
        "scenarios": sorted(set(rows["scenario"])),  # and these, and as many `decisions`
        "faults_left_out": live.faults,
        "rebuilt": rebuilt(live),
        "split": {
            "seed": seed,
            "holdout_share": holdout,
            "heldout_seeds": list(part.heldout_seeds),
            "heldout_scenario": part.heldout_scenario,
            "fit_pairs": len(part.fit_pairs(rows)),
            "heldout_seen_in_fit": int((~part.fit & ~part.heldout).sum()),  # left out by `unseen`
        },
        "start": as_plain(start),
        "fit_dispositions": originals,  # the original dispositions of the fit decisions: `start` is the most common
        "fitted": as_plain(fitted),
        "level": level,
        "search": {
            "optimiser": "scipy.optimize.differential_evolution",
            **found.settings,
            "evaluations": found.evaluations,
            "generations": found.generations,
            "seconds": round(found.seconds, 2),
            "fit_agreement": found.agreement,
        },
        "parts": parts,
        "base_rate": {"heldout": describe(base, level=level, unit="seeds", bounds=(0, 1)), "gain": gain.as_dict()},
        "generalised": said.generalised,
        "against_original": said.against_original,
        "verdict": said.text,
        "moved": moved(start, fitted),
    }
    return StandInFit(live, part, fitted, clean(summary))


def with_outcome(cal: StandInFit, on_total=None, on_turn=None) -> dict:
    """Step 5: the summary with the outcome check (`on_total(turns)`, then `on_turn(live)`)."""
    check = outcome_check(
        cal.live, cal.fitted, cal.split.fit_pairs(cal.live.rows), on_total=on_total, on_turn=on_turn, level=LEVEL
    )
    return clean({**cal.summary, "outcome": check})


def without_outcome(cal: StandInFit) -> dict:
    """The summary when --no-outcome skipped step 5: it says so, in the report too."""
    return {**cal.summary, "outcome": {"skipped": NOT_RUN}}


HEADER = "# A stand-in disposition fitted by glade calibrate"  # how the YAML it writes begins


def check_out(out: str | Path, copy: Path | None = None) -> None:
    """Refuses an --out that is not a YAML name, or whose YAML or JSON exists and was not
    written by glade calibrate (ValueError), and the report's `copy` (copy_path) likewise; then
    tries each file it will write (check_writable). Checked before the search, and again on writing."""
    out = Path(out)
    if out.suffix not in (".yaml", ".yml"):
        raise ValueError(f"--out {out}: the fitted disposition is a YAML file; name it *.yaml")
    try:  # a parent that is a file: refused now, not by mkdir after the search
        check_folder_path(out.parent)
    except ValueError as exc:
        raise ValueError(f"--out {out}: {exc}") from None
    check_replaceable(out, lambda text: text.startswith(HEADER), "calibrated disposition")
    check_replaceable(out.with_suffix(".json"), json_with_keys(SUMMARY_KEYS), "calibration summary")
    targets = [out, out.with_suffix(".json")]
    if copy is not None and not same_file(copy, targets[1]) and same_file(copy.parent, out.parent):
        # glade report shows every summary there: a second copy of this one would show it twice
        raise ValueError(
            f"--out {out}: in {copy.parent}, where glade report reads every summary, this fit's is {copy.name} "
            f"(its name); give --out {copy.with_suffix('.yaml')} or --name {out.stem}, or an --out elsewhere"
        )
    if copy is not None and not same_file(copy, targets[1]):  # --out in RESULTS/calibration/: one file, once
        check_folder_path(copy.parent)
        check_replaceable(copy, json_with_keys(SUMMARY_KEYS), "calibration summary", "--name")
        targets.append(copy)
    for path in targets:
        check_writable(path)


def check_writable(path: Path) -> None:
    """Writes and removes `path`'s temporary sibling (glade.files.atomic's), making any missing
    folder above it and removing it again: a file the fit could not be written to (a read-only
    folder) is refused before the search, not after it, as an OSError naming `path`."""
    missing = []
    for folder in (path.parent, *path.parent.parents):
        if folder.exists():
            break
        missing.append(folder)
    tmp = temp_for(path)
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp.write_text("", encoding="utf-8")
        tmp.unlink()
    except OSError as exc:  # named as the file the user knows, not its hidden temporary
        raise OSError(exc.errno, exc.strerror, str(path)) from None
    finally:
        for folder in missing:  # deepest first; only what this made, and only while empty
            with suppress(OSError):
                folder.rmdir()


def copy_path(source: str | Path, name: str) -> Path | None:
    """Where `write` will put the report's copy of the fit named `name` (report_copy), known before
    the search: RESULTS/calibration/NAME.json where `source` is a results folder (load_live's test)."""
    if not (Path(source) / "decisions.parquet").is_file():
        return None
    return Path(source) / CALIBRATION_DIR / f"{name}.json"


def report_copy(summary: dict) -> Path | None:
    """Where `write` puts the report's copy: RESULTS/calibration/NAME.json, for a results folder."""
    if summary["kind"] != "results":
        return None
    return Path(summary["source"]) / CALIBRATION_DIR / f"{summary['fitted']['name']}.json"


def same_file(a: Path, b: Path) -> bool:
    """Whether two paths name one file (relative or absolute, existing or not); a symlink loop in
    either is bad input (a ValueError naming it)."""
    from glade.files import resolved

    return resolved(a) == resolved(b)


def outcome_line(outcome: dict | None) -> str:
    """The outcome check's result in one sentence (the YAML header's last word on the fit)."""
    outcome = outcome or {}
    if "skipped" in outcome:
        return f"Outcome check skipped: {outcome['skipped']}."
    if outcome.get("verdict"):
        return f"Outcome check: {outcome['verdict']}."
    return "Outcome check: not run."


def simulate_args(summary: dict, out: str | Path) -> str:
    """`[--scenario S] --council CREATURE=FILE` for `glade simulate`, in the fitted policy's own world
    (its first scenario): its creature, else that world's first (not the default world's oona)."""
    from glade.env.scenario import load_scenario

    scenario, creature = (summary.get("scenarios") or ["default"])[0], summary.get("creature")
    with suppress(ValueError, OSError):  # a moved or changed scenario file: the seat in words
        creature = creature or next(iter(load_scenario(scenario).creatures))
    where = "" if scenario == "default" else f"--scenario {shlex.quote(str(scenario))} "
    return f"{where}--council {creature or 'CREATURE'}={shlex.quote(str(out))}"


def write(summary: dict, out: str | Path) -> list[Path]:
    """The fitted disposition as YAML at `out`, the summary beside it (`out` with .json), and
    for a results folder a copy in RESULTS/calibration/ for the report (`report_copy`)."""
    out = Path(out)
    copy = report_copy(summary)
    check_out(out, copy)
    held = summary["parts"]["heldout"]["agreement"]
    headline = summary["verdict"].split(": ", 1)[0]
    header = (
        f"{HEADER} to policy {summary['policy']!r}"
        + (f" on {summary['creature']}" if summary["creature"] else "")
        + f" from {summary['source']} ({summary['decisions']} decisions).\n"
        f"# Held-out direction agreement over {held['after']['n']} seeds: original {ci_text(held['before'], '.3f')}, "
        f"calibrated {ci_text(held['after'], '.3f')}, change {ci_text(held['change'], '+.3f')} "
        "(calibrated minus original).\n"
        f"# {headline[0].upper() + headline[1:]}.\n"
        f"# {outcome_line(summary.get('outcome'))}\n"
        f"# Use it by path: glade simulate {simulate_args(summary, out)}, or a seat {{kind: standin, disposition: {out}}}.\n"
    )
    written = [out, out.with_suffix(".json")]
    if copy is not None and not same_file(copy, written[1]):  # --out in RESULTS/calibration/: one file, once
        written.append(copy)
    text = json.dumps(summary, indent=2) + "\n"
    for path in written:
        path.parent.mkdir(parents=True, exist_ok=True)
    # every temporary is written before any replaces its real name: a failed write leaves all three as they were
    with ExitStack() as stack:
        temps = [stack.enter_context(atomic(path)) for path in written]
        for tmp, content in zip(temps, [header + yaml.safe_dump(summary["fitted"], sort_keys=False), text, text]):
            tmp.write_text(content, encoding="utf-8")
    return written
