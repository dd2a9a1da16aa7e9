"""The Results section's outcome figures for the scenarios without a legend (glade.eval.outcome_effects):
there the legend table's legend_ratio and gambit P&L are all '—', while the final Gini, the volume and
the price paths against the stand-in world still say what the council did."""

from __future__ import annotations

import html

import pandas as pd

from glade.eval.metrics import outcome_summary, world_figures
from glade.eval.outcome_effects import effect_cells, effect_rows, effects_caption
from glade.words import level_percent

from .data import Results
from .markup import html_table, md_table


def legendless_scenarios(r: Results, table: pd.DataFrame) -> list[str]:
    """The run's scenarios whose worlds name no legend good (results_table's legend_good)."""
    if not len(table) or "legend_good" not in table:
        return []
    has = table.groupby("scenario", sort=False)["legend_good"].agg(lambda goods: goods.notna().any())
    return [s for s in r.scenarios if s in has.index and not has[s]]


def outcome_effects(r: Results, table: pd.DataFrame) -> list[dict]:
    """glade.eval.outcome_effects.effect_rows of the legendless scenarios, computed from the tables as
    summary.json's `outcome` is (glade.eval.metrics), so a folder without summary.json has them too."""
    scenarios = legendless_scenarios(r, table)
    if not scenarios:
        return []
    seats = r.seats[r.seats["scenario"].isin(scenarios)]
    return effect_rows(outcome_summary(world_figures(seats, r.thresholds), r.thresholds))


def effects_parts(r: Results, effects: list[dict], every: bool) -> tuple[list[str], list[str]]:
    """(markdown lines, html parts) of the effects table; `every`: no scenario of the run has a legend."""
    if not effects:
        return [], []
    scenarios = list(dict.fromkeys(str(row["scenario"]) for row in effects))
    caption = effects_caption(scenarios, every, level_percent(r.thresholds.ci_level))
    header, rows = effect_cells(effects)
    return (
        [caption, "", *md_table(header, rows)],
        [f'<p class="caption">{html.escape(caption)}</p>', html_table(header, rows, {3, 4, 5})],
    )
