"""The report's cost section: what the run spent, per seat and in all (summary.json's `cost`,
written by glade.meter). No cost recorded, no section."""

from __future__ import annotations

import html

from glade.meter import closing_line, cost_table

from .markup import Section, html_table, md_table


def cost_sections(page) -> list[Section]:
    cost = page.r.summary.get("cost")
    if not cost:
        return []
    about = closing_line(cost) + ". Per seat (its label):"
    header, rows = cost_table(cost)
    numeric = set(range(1, len(header)))
    return [
        Section(
            "cost",
            "Cost",
            [about, ""] + md_table(header, rows),
            [f'<p class="caption">{html.escape(about)}</p>', html_table(header, rows, numeric)],
        )
    ]
