"""The outcome figures of a scenario without a legend, as `glade eval` prints them and the report
tables them: the legend_ratio and the gambit's P&L do not apply there, but the final Gini, the
volume and each good's price path (against the all-stand-in world) do. One row per scenario x
council x figure, from summary.json's `outcome` entries (glade.eval.metrics.outcome_summary):
the council's value, the stand-in world's and the paired effect, each over seeds."""

from __future__ import annotations

from glade.console import with_ci

from .figures import FIGURES

HEADER = ["scenario", "council", "figure", "stand-in world", "effect", "seeds"]


def legendless(outcome: list[dict]) -> list[dict]:
    """The `outcome` entries of scenarios without a legend (their legend_good is None)."""
    return [entry for entry in outcome if not entry.get("legend_good")]


def effect_rows(outcome: list[dict]) -> list[dict]:
    """One row per legendless entry and figure that applies there (a mean on either side):
    {scenario, world (the council), figure, council, standin, effect}, each value {"mean", "ci", "n", "note"}."""
    rows = []
    for entry in legendless(outcome):
        for name, values in (entry.get("figures") or {}).items():
            if all((values.get(side) or {}).get("mean") is None for side in ("council", "standin", "effect")):
                continue  # a figure of the legend or the gambit: none here
            rows.append({"scenario": entry["scenario"], "world": entry["council"], "figure": name} | values)
    return rows


def effect_cells(rows: list[dict], missing: str = "—") -> tuple[list[str], list[list[str]]]:
    """(header, rows of text): a figure in units (volume) with one decimal, a share or distance with three."""
    out = []
    for r in rows:
        fmt = ".1f" if r["figure"] in FIGURES and FIGURES[r["figure"]].relative else ".3f"
        standin, effect = r.get("standin") or {}, r.get("effect") or {}
        out.append(
            [
                str(r["scenario"]),
                str(r["world"]),
                r["figure"],
                with_ci(standin.get("mean"), standin.get("ci"), fmt, standin.get("note"), missing=missing),
                with_ci(effect.get("mean"), effect.get("ci"), "+" + fmt, effect.get("note"), missing=missing),
                str(effect.get("n", missing)),
            ]
        )
    return list(HEADER), out


def effects_caption(scenarios: list[str], every: bool, level: str) -> str:
    """What the effects table shows, and why the legend's figures are not in it. `every`: no scenario
    of the run has a legend; `level`: the intervals' level in words (95%)."""
    where = (
        "No scenario of this run has a legend, so"
        if every
        else f"In the scenarios without a legend ({', '.join(scenarios)})"
    )
    return (
        f"{where} the legend_ratio and the gambit P&L do not apply; the outcome figures that do, per scenario "
        "and council: the all-stand-in world's value and the council's effect, paired on the same seeds (council "
        f"minus stand-in), mean over seeds [{level} CI] (a council's casts on one seed averaged first); seeds: the "
        f"seeds with a paired stand-in world. final_gini: {FIGURES['final_gini'].about}; volume: "
        f"{FIGURES['volume'].about}; path_distance_<good>: the mean |log price gap| to the stand-in world "
        "per turn (0 for the stand-in world itself)."
    )
