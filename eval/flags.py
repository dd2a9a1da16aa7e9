"""Flags: disagreements between the council and the stand-in worth a person's look, with the
false discovery rate controlled over every cell tested, grouped into families.

Decision cells, per (scenario, council, cast, creature, phase, good, direction): the share of
the live seat's decisions on that side of the good minus the stand-in counterfactual's share
in the same states. Each episode (one seed of the cast) gives one difference; the effect is
their mean, its interval the small-n rule of eval/stats.py over episodes, its support the
share of episodes whose difference has the effect's sign. Only directions the live seat
takes MORE often are flagged (shares sum to one, so every divergence has such a side);
`instead` names the side it takes less often (both, joined by "or", where two fall alike).

Outcome cells, per (scenario, council) and figure (the catalogue in eval/figures.py and the
price path distance of each good): the paired difference council - stand-in world over
seeds, a council's casts on one seed averaged first (they share the seed's stand-in world).
Figures in units (the catalogue's `relative` ones: gambit P&L, volume) are
measured against `flag_min_effect` relative to the stand-in's mean magnitude (at least 1);
the others are ratios, shares and rates and are compared as is.

Decision cells of several scenarios built from the same play (scenarios that part only at the
legend play the same decisions before it) are one cell, tested, flagged and counted once under
the first scenario by name, `scenarios` naming them all (eval/cells.py, shared_play).

Every cell is tested (eval/fdr.py: a sign-flip test over episodes or seeds, exact up to 14
differing pairs), and
Benjamini-Hochberg at q = `fdr_q` runs over all of them together (those that can reach it). A
flag is a cell with q <= fdr_q, |effect| >= flag_min_effect and support >= flag_support;
identical policies give no flags, since every difference is 0. Score = |scaled effect| x
support; flags are ranked by it. Each points at up to three example trace rows (episode,
turn, creature) with the prompt, the live response and the stand-in action. Flags are then
grouped into families a person reads as one finding (eval/families.py).
"""

from __future__ import annotations

import json
import math
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from pathlib import Path

import pandas as pd

from glade.files import atomic, check_replaceable

from .cells import decision_cells, outcome_cells
from .families import families
from .faults import without_faults
from .fdr import filtered_bh
from .figures import PHASES
from .flag_examples import add_examples
from .flags_fields import FLAGGED_AT, wrong_field
from .flags_page import markdown
from .results_folder import check_summary, read_recipe, read_summary, stamp_mismatch, tables_identity
from .stats import clean
from .thresholds import DEFAULTS, Thresholds, run_settings

FLAG_KEYS = (
    "kind",
    "scenario",
    "scenarios",
    "council",
    "cast",
    "creature",
    "phase",
    "metric",
    "standin_value",
    "live_value",
    "effect",
    "ci_low",
    "ci_high",
    "ci_note",
    "support",
    "n",
    "p",
    "q",
    "score",
    "examples",
)


@dataclass(frozen=True)
class Flagging:
    """Every tested cell (with its p and q values), the flags among them (best first, with
    examples), their families (best first) and the method in words and numbers."""

    cells: list[dict]
    flags: list[dict]
    families: list[dict]
    method: dict
    excluded: dict = field(default_factory=dict)  # seat faults left out first (glade.eval.faults)
    tables: dict = field(default_factory=dict)  # the tables flagged (glade.eval.results_folder.tables_identity)

    def as_json(self) -> dict:
        return clean(
            {
                "method": self.method,
                "excluded": self.excluded,
                "tables": self.tables,
                "families": self.families,
                "flags": self.flags,
                "cells": self.cells,
            }
        )


def _passes(cell: dict, q_max: float, min_effect: float, min_support: float) -> bool:
    if cell["q"] is None or not math.isfinite(cell["scaled_effect"]):
        return False
    if cell["kind"] == "decision" and cell["effect"] <= 0:
        return False
    return cell["q"] <= q_max and abs(cell["scaled_effect"]) >= min_effect and cell["support"] >= min_support


def flag(
    decisions: pd.DataFrame,
    episodes: pd.DataFrame,
    thresholds: Thresholds = DEFAULTS,
    seed: int = 0,
    texts: Callable | None = None,
) -> Flagging:
    """Test every decision and outcome cell, control the FDR over all of them, keep the flags
    (best first, with examples) and group them into families. Seat faults are left out first.
    `texts` reads the examples' prompts and responses where `decisions` holds hashes of them
    (eval/lean_tables.py: read_lean, example_texts)."""
    # stamped before the faults go: the report compares it with the tables as written
    tables = tables_identity(len(decisions), episodes) if decisions is not None and episodes is not None else {}
    decisions, episodes, excluded = without_faults(decisions, episodes)
    q_max = thresholds.fdr_q
    min_effect, min_support = thresholds.flag_min_effect, thresholds.flag_support
    cells = decision_cells(decisions, thresholds, seed) + outcome_cells(episodes, thresholds, seed)
    q_values = filtered_bh([c["p"] for c in cells], [c["p_min"] for c in cells], q_max)
    for c, q in zip(cells, q_values):
        c["q"] = None if math.isnan(q) else float(q)
    flags = [dict(c) for c in cells if _passes(c, q_max, min_effect, min_support)]
    add_examples(decisions, flags, texts)
    _rank(flags)
    for c in cells:
        c.pop("pairs", None)
        c["flagged"] = _passes(c, q_max, min_effect, min_support)
    for f in flags:
        f.pop("pairs", None)
    testable = sum(c["q"] is not None for c in cells)
    shared = sum(len(c["scenarios"]) > 1 for c in cells)
    recorded = asdict(thresholds)
    method = {
        "test": (
            "two-sided sign-flip (paired randomisation) test over episodes / worlds: exact up to 14 differing "
            "pairs, Monte Carlo beyond"
        ),
        "fdr": "Benjamini-Hochberg over every cell that can reach q (independent filtering on the smallest attainable p)",
        **{k: recorded[k] for k in FLAGGED_AT},  # the thresholds stale_thresholds holds against the run's
        "cells": len(cells),
        "testable": testable,
        "flags": len(flags),
        "shared_play": shared,  # decision cells that several scenarios played alike, counted once
    }
    return Flagging(
        cells=[clean(c) for c in cells],
        flags=[clean(f) for f in flags],
        families=clean(families(flags)),
        method=method,
        excluded=excluded,
        tables=tables,
    )


def _rank(flags: list[dict]) -> None:
    phase_order = {p: i for i, p in enumerate(PHASES)}
    flags.sort(
        key=lambda f: (
            -f["score"],
            f["kind"],
            f["scenario"],
            f["council"],
            f["cast"] if f["cast"] is not None else -1,
            f["creature"] or "",
            phase_order.get(f["phase"], 9),
            f["metric"],
        )
    )
    for rank, f in enumerate(flags, 1):
        f["rank"] = rank


# --- writing -----------------------------------------------------------------------------------


def load_thresholds(results: Path) -> tuple[Thresholds, int]:
    """(thresholds, the seed of the permutation tests) of a results folder, checked as the eval
    recipe checks them (glade.eval.thresholds.run_settings): RESULTS/recipe.yaml's, else
    summary.json's (the run's own, as the report reads them), else the defaults. A summary.json
    glade eval did not write, or another run's, is refused (glade.eval.results_folder.check_summary)."""
    summary = read_summary(results)
    check_summary(results, summary)
    return run_settings(read_recipe(results), summary, results)


FLAGS_HEADING = "# Flags\n"  # how flags.md opens (markdown), which is how one glade wrote is told


def check_flags_out(out_dir) -> None:
    """Refuses (ValueError) to write flags.json or flags.md over a file glade flag did not write
    (glade.files.check_replaceable); one it wrote is replaced. Call it before the flagging."""
    out = Path(out_dir)
    check_replaceable(out / "flags.json", _flags_json, "flags file (flags.json)", None)
    check_replaceable(out / "flags.md", lambda text: text.startswith(FLAGS_HEADING), "flags page (flags.md)", None)


def _flags_json(text: str) -> bool:
    try:
        load_flags_text(text, "flags.json")
    except ValueError:
        return False
    return True


def write_flags(flagging: Flagging, out_dir, top: int = 10) -> tuple[Path, Path]:
    """OUT/flags.json (method, families, flags and every tested cell with its p and q values)
    and OUT/flags.md (the method, the top families with their examples, every flag). Returns
    both paths. Neither replaces a file glade did not write (check_flags_out)."""
    out = Path(out_dir)
    check_flags_out(out)
    out.mkdir(parents=True, exist_ok=True)
    json_path, md_path = out / "flags.json", out / "flags.md"
    from glade.provenance import stamp

    written = {**flagging.as_json(), "provenance": stamp()}  # which glade flagged these rows
    text, md = json.dumps(written, indent=1, allow_nan=False) + "\n", markdown(flagging, top=top)
    # atomic: a killed run leaves the last whole file, never half of one (which glade would refuse to replace)
    with atomic(json_path) as tmp:
        tmp.write_text(text, encoding="utf-8")
    with atomic(md_path) as tmp:
        tmp.write_text(md, encoding="utf-8")
    return json_path, md_path


def load_flags(path) -> dict:
    """flags.json as {"method", "families", "flags", "cells", "provenance", "tables"}; a file from before
    families (a plain list of flags) reads with no families and no cells, one from before the
    `tables` stamp with {} there. One that is not what glade flag writes is a ValueError naming
    it and saying to move it aside and rerun glade flag (which never replaces such a file)."""
    return load_flags_text(Path(path).read_bytes(), path)  # bytes: json names a file that is not UTF-8


def load_flags_text(text: str | bytes, path) -> dict:
    """load_flags on the text of flags.json (`path` names it in the error)."""
    # check_flags_out refuses to replace such a file, so rerunning alone would fail
    rerun = "move it aside, then rerun `glade flag` on its results folder to write it again"
    try:
        data = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{path}: not readable JSON ({str(exc).splitlines()[0][:200]}); {rerun}") from None
    if isinstance(data, list):  # from before families: the flags alone
        data = {"flags": data}
    shapes = (("method", dict), ("families", list), ("flags", list), ("cells", list))
    if (
        not isinstance(data, dict)
        or "flags" not in data
        or not all(isinstance(data.get(key) or kind(), kind) for key, kind in shapes)
        or not all(isinstance(f, dict) for f in data["flags"])
    ):
        raise ValueError(
            f"{path}: not what glade flag writes (an object of method, families, flags and cells); {rerun}"
        )
    if wrong := wrong_field(data.get("families") or [], data["flags"]):  # what the report prints, checked
        raise ValueError(f"{path}: {wrong}; {rerun}")
    return {
        "method": data.get("method") or {},
        "families": data.get("families") or [],
        "flags": data["flags"],
        "cells": data.get("cells") or [],
        "provenance": data.get("provenance") if isinstance(data.get("provenance"), dict) else {},
        "tables": data.get("tables") if isinstance(data.get("tables"), dict) else {},
    }


def flags_mismatch(flags: dict, decision_rows: int, episodes: pd.DataFrame) -> str | None:
    """How flags.json (as load_flags reads it) differs from the tables beside it (decisions.parquet's
    row count, episodes.parquet's episode_id): its `tables` stamp, else (a file from before the
    stamp) the episodes its examples name; None where it matches."""
    if why := stamp_mismatch(flags["tables"], decision_rows, episodes):
        return why
    examples = [e for f in flags["flags"] for e in (f.get("examples") or []) if isinstance(e, dict)]
    named = {str(e["episode_id"]) for e in examples if e.get("episode_id") is not None}
    if lacking := sorted(named - set(map(str, episodes["episode_id"]))):
        return f"its examples name {len(lacking)} episode(s) episodes.parquet lacks, {lacking[0]} first"
    return None
