"""The report's cost section: what the run spent, per seat and in all (summary.json's `cost`,
written by glade.meter). No cost recorded, no section."""

from __future__ import annotations

import html

from glade.run_cost import closing_line, cost_part, cost_table

from .markup import Section, html_table, md_table


def cost_sections(page) -> list[Section]:
    cost = page.r.summary.get("cost")
    if not cost:
        return []
    part = cost_part(cost, page.r.summary.get("worlds") or 0)
    about = (
        closing_line(cost)
        + (f" (the cost of {part})" if part else "")
        + ". Decisions here count every seat, stand-in seats included (the run's live decisions "
        "are the live seats' alone). Per seat (its label); model s is the seat's share of the time inside the models: "
        "a batched call's wall time is split equally among the decisions it answered, so seats that shared their "
        "batches show the same decisions/s"
        + (
            " (a shared decision took the answer of an identical request in its call, which greedy decoding "
            "answers alike: it counts in decisions, tokens and decisions/s, but was not generated again):"
            if cost.get("shared")
            else ":"
        )
    )
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
