"""flags.md, the flags page glade flag writes beside flags.json (glade.eval.flags.write_flags):
the method, what was left out, the top families with their examples, then every flag in one table."""

from __future__ import annotations

from typing import TYPE_CHECKING

from .families import effect_text, family_counts, scenario_text, shared_text
from .faults import excluded_text
from .fdr import untestable
from .flags_text import examples_md, method_text, metric_text, number

if TYPE_CHECKING:
    from .flags import Flagging

NO_FLAGS = "No flags: the council and the stand-in do not part ways beyond the thresholds."


def markdown(flagging: Flagging, top: int = 10) -> str:
    flags, fams = flagging.flags, flagging.families
    lines = ["# Flags", "", method_text(flagging.method), ""]
    if flagging.excluded.get("fault_rows"):
        lines += [f"Left out: {excluded_text(flagging.excluded)}.", ""]
    if not flags:
        why = untestable(flagging.method, flagging.cells)
        none = f"No flags possible: {why}" if why else NO_FLAGS
        return "\n".join(lines + [none, ""])
    lines += [
        f"{len(flags)} flag(s) in {len(fams)} famil{'y' if len(fams) == 1 else 'ies'}{f'; {shared}' if (shared := shared_text(flagging.method)) else ''}.",
        "",
    ]
    if top > 0:  # --top 0: no family shown with its examples, every one listed below
        lines += [f"## Families (top {min(top, len(fams))})", ""]
    for fam in fams[:top]:
        lines += [f"### {fam['family']}. {fam['text']}", ""]
        lines += [family_counts(fam), ""]
        lines += examples_md(fam["examples"])
    if len(fams) > top:
        heading = "## The other families" if top > 0 else "## Families"
        lines += [heading, ""] + [f"{fam['family']}. {fam['text']}" for fam in fams[top:]] + [""]
    lines += [
        "## All flags",
        "",
        "| # | kind | scenario | council | cast | creature | policy | phase | metric | stand-in | live | effect [CI] | support "
        "| n | q | score |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for f in flags:
        cells = [
            f["rank"],
            f["kind"],
            scenario_text(f),
            f["council"],
            f["cast"],
            f["creature"],
            f["policy"],
            f["phase"],
            metric_text(f),
            number(f["standin_value"]),
            number(f["live_value"]),
            effect_text(f),
            f"{f['support']:.2f}",
            f["n"],
            f"{f['q']:.3g}",
            f"{f['score']:.3f}",
        ]
        lines.append("| " + " | ".join("-" if c is None else str(c).replace("|", "\\|") for c in cells) + " |")
    lines.append("")
    return "\n".join(lines)
