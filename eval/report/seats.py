"""The report's seat sections: seat faults (first: a run whose servers failed to answer is
read with that in mind) and each live seat's valid-action rate; and Table 1 of the field
notes beside glade's measured rows, when the results hold a gambit."""

from __future__ import annotations

import html

from glade.console import with_ci
from glade.eval.field_notes import policy_spec, table_one, table_one_caption, table_one_cells
from glade.words import level_percent

from .data import Results, fault_notes
from .markup import Section, html_table, md_table, md_text


def _interval_text(d: dict, fmt: str) -> str:
    """`mean [low, high]`, or `mean (note)` where the interval was said in words."""
    return with_ci(d.get("mean"), d.get("ci"), fmt, note=d.get("note"), missing="—")


SEATS_CAPTION = (
    "Per council and live seat (the recipe's policy name and spec, then the identity its rows in "
    "decisions.parquet carry): the share of its answers the parser took as a valid action "
    "with no named error, mean over seeds [{level} interval], n = seeds (a seed's casts and scenarios "
    "together); decisions that twin worlds made alike (the same prompt and answer, up to the legend turn: its decisions come before its effect) count once, in the rate and in the "
    "decisions; its self-buys, the share of its decisions that bid for a good its creature makes (no stand-in does), "
    "over seeds alike; and the most frequent errors. A seat with structured: true has each answer held to its state's "
    "action schema."
)


def seat_text(recipe: dict, name: str, identities: list[str]) -> str:
    """`base_model (checkpoint shipped:tiny-base; ran as hf:tiny-base)`: the recipe's words first, so
    the seat reads as Table 1 names it, then what its rows name (an adapter, structured decoding)."""
    ran = ", ".join(identities)
    spec = policy_spec(recipe, name)
    return f"{name} ({spec}; ran as {ran})" if spec else f"{name} ({ran})"


def seat_rows(r: Results) -> tuple[list[str], list[list[str]]]:
    from glade.eval.decision_metrics import seat_validity

    header = ["council", "seat (policy)", "valid actions", "self-buys", "n", "decisions", "top errors"]
    rows = []
    for row in seat_validity(r.decisions, r.thresholds) if len(r.decisions) else []:
        valid = row["valid_action"]
        rows.append(
            [
                row["council"],
                seat_text(r.recipe, row["policy"], row["policy_identity"]),
                _interval_text(valid, ".3f"),
                _interval_text(row["self_buy"], ".3f") if "self_buy" in row else "—",
                str(valid["n"]),
                str(row["decisions"]),
                ", ".join(f"{k} {v}" for k, v in row["errors"].items()) or "—",
            ]
        )
    return header, rows


def fault_sections(page) -> list[Section]:
    """Seat faults first: a run whose servers failed to answer is read with that in mind."""
    notes = fault_notes(page.r.summary)
    if not notes:
        return []
    return [
        Section(
            "faults",
            "Seat faults",
            [line for note in notes for line in (f"> **{md_text(note, inside=True)}**", "")],
            [f'<p class="note">{html.escape(note)}</p>' for note in notes],
        )
    ]


def table_one_sections(page) -> list[Section]:
    """Table 1 of the field notes beside glade's measured rows, when the results hold a gambit."""
    rows = table_one(page.r.episodes, page.r.thresholds, page.r.recipe)
    if not rows:
        return []
    header, cells = table_one_cells(rows)
    caption = table_one_caption(rows[0]["level"], rows, page.r.recipe)
    return [
        Section(
            "table-one",
            "Table 1 of the field notes, played here",
            [md_text(caption), ""] + md_table(header, cells),
            [f'<p class="caption">{html.escape(caption)}</p>', html_table(header, cells, {5, 6, 7, 8})],
        )
    ]


def seat_sections(page) -> list[Section]:
    header, rows = seat_rows(page.r)
    if not rows:
        return []
    about = SEATS_CAPTION.format(level=level_percent(page.r.thresholds.ci_level))
    return [
        Section(
            "seats",
            "Valid answers per live seat",
            [about, ""] + md_table(header, rows),
            [f'<p class="caption">{html.escape(about)}</p>', html_table(header, rows, {2, 3, 4})],
        )
    ]
