"""The report's lead and the sections behind it: "What this evaluation says" (the three
lessons' verdicts and the top flag families, in sentences with n and intervals), the detail
tables of each lesson and of seat attribution, and the flag families with their example
decisions side by side (prompt, live answer, stand-in action). Each builder takes the Page
(eval/report/render.py) and gives Sections (eval/report/markup.py)."""

from __future__ import annotations

import html
import re

from glade.eval.families import families_heading, family_counts
from glade.eval.flags_text import decision_errors, played, visible
from glade.eval.verdict_text import (
    EMPTY,
    LEAD_FIGURES,
    LESSONS,
    LOG_POINTS,
    attribution_none,
    example_where,
    lever_note,
    move_text,
    n_text,
    percent,
    seam_seeds,
    value_text,
    verdict_sections,
    world_name,
)
from glade.eval.verdicts import LEVER_RULES, ROBUST_RULES, SEAM_RULES, rules_text
from glade.words import level_percent

from .data import standin_seeds, verdicts_note
from .markup import Section, html_table, md_table, md_text
from .plots import figure_html, figure_md

TOP_FAMILIES = 5  # in the lead
FAMILY_DETAILS = 20  # with their examples, further down
EXAMPLE_CHARS = 4000
SIDES = (("prompt", "prompt"), ("response", "live answer"), ("standin_action", "stand-in action"))  # side by side

LEAD = (
    "n counts clusters: seeds for outcomes (a council's casts on one seed averaged), for a seat's valid-action rate "
    "and for decision agreement, episodes for decision flags. Intervals are {level}: the t interval widened by Hall's "
    "skewness correction, both read at the degrees of freedom the sample's excess kurtosis leaves; for a crash or bubble rate, exact binomial over seeds where every seed's "
    "casts agree, else Korn and Graubard's interval of each seed's share of its casts; for a difference in such a rate "
    "between worlds, the exact split interval (the shares of seeds moving up and down, each Clopper-Pearson), given even "
    "where every seed moved alike; below 4 seeds none is given, and another value that is the same in every seed is said so. Flags are tested in every cell and kept under false-discovery control. "
    "Turns count from 0 as in decisions.parquet (turn 4 is the prompt's Turn 5); Terms, at the end, says what "
    "each name means."
)


def _e(text) -> str:
    return html.escape(str(text))


def family_anchor(family: dict) -> str:
    return f"family-{_e(family['family'])}"  # flags.json's, escaped as all its fields: it may be anyone's


def example_anchor(family: dict, j: int) -> str:
    return f"{family_anchor(family)}-example-{j}"


def verdict_section(page) -> list[Section]:
    """The lead: each lesson's verdicts, seat attribution where played, the top flag families."""
    r, v = page.r, page.verdicts
    md, out = (
        [LEAD.format(level=level_percent(r.thresholds.ci_level)), ""],
        [f'<p class="caption">{_e(LEAD.format(level=level_percent(r.thresholds.ci_level)))}</p>'],
    )
    if decided := verdicts_note(r):  # summary.json's verdicts, from an older glade: its rules, not today's
        md += [f"*{md_text(decided, inside=True)}*", ""]
        out.append(f'<p class="note">{_e(decided)}</p>')
    for number, (key, question, lines) in enumerate(verdict_sections(v), 1):
        heading = f"{number}. {question}" if key in LESSONS else question
        lines = lines or [EMPTY.get(key, "nothing to say")]
        md += [f"**{md_text(heading, inside=True)}**", ""] + [f"- {md_text(line)}" for line in lines] + [""]
        out.append(f"<h3>{_e(heading)}</h3><ul>" + "".join(f"<li>{_verdict_html(x)}</li>" for x in lines) + "</ul>")
    heading = "Top flag families"
    if r.flags is None:
        md += [f"**{heading}**", "", f"*{md_text(r.flags_note, inside=True)}*", ""]
        out.append(f'<h3>{heading}</h3><p class="note">{_e(r.flags_note)}</p>')
    else:
        heading = families_heading(r.families, r.flags_method)
        top = r.families[:TOP_FAMILIES]
        md += [f"**{md_text(heading, inside=True)}**", ""]
        md += [f"{md_text(f['family'])}. {md_text(f['text'])} (n {md_text(f['n'])}, q {f['q']:.2g})" for f in top] or [
            f"*{md_text(r.flags_note or 'no flags', inside=True)}*"
        ]
        md.append("")
        items = []
        for f in top:
            links = " ".join(
                f'<a href="#{example_anchor(f, j)}">example {j}</a>' for j in range(1, len(f["examples"]) + 1)
            )
            items.append(
                f'<li><a href="#{family_anchor(f)}">{_e(f["title"])}</a>: {_e(f["text"][len(f["title"]) + 2 :])} '
                f"(n {_e(f['n'])}, q {f['q']:.2g}) {links}</li>"
            )
        out.append(
            f"<h3>{_e(heading)}</h3>"
            + (f"<ol>{''.join(items)}</ol>" if items else f'<p class="note">{_e(r.flags_note or "no flags")}</p>')
        )
    return [Section("verdicts", "What this evaluation says", md, out)]


VERDICTS = tuple(dict.fromkeys([*ROBUST_RULES, *SEAM_RULES, *LEVER_RULES]))  # every verdict a lesson can give


def _verdict_html(line: str) -> str:
    """A verdict line with each verdict word in bold."""
    pattern = "|".join(re.escape(w) for w in sorted(VERDICTS, key=len, reverse=True))
    return re.sub(rf": ({pattern})(?= \(| in every|;|:|$)", r': <span class="verdict">\1</span>', _e(line))


def _table_section(
    anchor: str, title: str, about: str, header: list[str], rows: list[list[str]], numeric: set[int], figures=()
):
    """A lesson's table under its caption, after the figures that draw it (if any)."""
    if not rows:
        return []
    return [
        Section(
            anchor,
            title,
            [about, ""] + [line for f in figures for line in figure_md(f)] + md_table(header, rows),
            [
                f'<p class="caption">{_e(about)}</p>',
                *(figure_html(f) for f in figures),
                html_table(header, rows, numeric),
            ],
        )
    ]


def lesson_sections(page) -> list[Section]:
    """The detail behind each verdict: one sortable table per lesson, and seat attribution."""
    v, t = page.verdicts, page.r.thresholds
    seeds = standin_seeds(page.table)  # "n 7 of 8 seeds" where a council lost a seed to seat faults
    out = _table_section(
        "robustness",
        "Robustness across casts and seeds",
        f"Per scenario, phenomenon and world: how many seeds showed it in each cast, the rate pooled over seeds (a "
        f"council's casts on a seed averaged first: where every seed's casts agree, the seeds that showed it with an "
        f"exact binomial interval; else the mean of each seed's share of its casts with Korn and Graubard's interval), n the "
        f"seeds behind that rate, the permutation test of the casts' rates (cast labels shuffled within each seed; '—' "
        f"where there is none: a world of one cast, or casts that share no seed or whose worlds all showed it or all "
        f"did not on the seeds they share, so there is nothing to shuffle), and the verdict, the floor being a rate of "
        f"{t.robust_floor} (robust_floor): {rules_text(ROBUST_RULES)}.",
        ["scenario", "phenomenon", "world", "per cast", "rate [CI]", "n", "casts differ (p)", "verdict"],
        [
            [
                e["scenario"],
                f"{e['phenomenon']} of {e['good']}",
                world_name(e["world"]),
                _per_cast(e["casts"]),
                value_text(e["rate"], ".2f"),
                n_text(e["rate"].get("n"), seeds.get(e["scenario"])),
                "—" if e.get("heterogeneity_p") is None else f"{e['heterogeneity_p']:.2g}",
                e["verdict"],
            ]
            for e in v.get("robustness", [])
        ],
        {4, 5, 6},
    )
    seam = v.get("seam", [])
    out += _table_section(
        "seam",
        "The legend turn: traded or written at the seam",
        f"The legend good's price move at the legend turn (settlement over the turn before), split into what clearing "
        f"and repricing made (the seats' trading) and what the settlement seam wrote, {LOG_POINTS}; the seam's share "
        f"is |seam| / (|traded| + |seam|) in log points; means over seeds (casts averaged per seed), n beside them. A part moves "
        f"when its interval lies wholly at or beyond {100 * t.move_floor:.1f} log points, is no move when it lies wholly "
        f"inside them, and, when it straddles them, is at the floor if its interval is narrower than the floor, else not enough seeds. Verdicts (the floor: those log points): {rules_text(SEAM_RULES)}. Turns count "
        f"from 0 (turn 4 is the prompt's Turn 5).",
        ["scenario", "world", "good @ turn", "move", "traded", "at the seam", "seam's share", "n", "verdict"],
        [
            [
                e["scenario"],
                world_name(e["world"]),
                f"{e['good']} @ {int(e['turn'])}",  # 12.0 where another scenario's worlds have no legend turn
                move_text(e["total"]),
                move_text(e["traded"]),
                move_text(e["seam"]),
                "—" if e.get("authored_share") is None else f"{e['authored_share']:.0%}",
                n_text(e["total"].get("n"), seam_seeds(seam, e["scenario"])),
                e["verdict"],
            ]
            for e in seam
        ],
        {3, 4, 5, 6, 7},
        [f for f in page.figures if f.name == "seam-split.png"],
    )
    out += _table_section(
        "levers",
        "Levers: the stand-in against the councils",
        f"A lever's effect (its 'to' scenario minus its 'from' scenario, same seeds and casts) in the all-stand-in "
        f"world and in each council (a council's casts on a seed averaged first; n the seeds), and the difference in "
        f"differences; a world moves when the effect's interval lies wholly at or beyond "
        f"{t.lever_min_effect} (for a figure in units, such as gambit_pnl or volume, that share of the "
        f"all-stand-in world's mean magnitude in the 'from' scenario, at least {t.lever_min_effect} units), does not when it lies wholly inside it, and a world whose interval "
        f"straddles it leaves the lever at the floor (every such interval narrower than it) or at not enough seeds. Verdicts (the floor: that value): {rules_text(LEVER_RULES)}. Beside a verdict: "
        f"which interval straddles the floor, and which world's effect is larger where the difference in differences "
        f"excludes 0.",
        ["lever", "from -> to", "figure", "world", "effect", "difference in differences", "n", "verdict"],
        [
            row
            for e in v.get("levers", [])
            for row in [
                [
                    e["lever"],
                    f"{e['from']} -> {e['to']}",
                    e["figure"],
                    "all stand-in",
                    value_text(e["standin"]),
                    "—",
                    n_text(e["standin"].get("n"), e["standin"].get("n")),
                    "—",
                ]
            ]
            + [
                [
                    e["lever"],
                    f"{e['from']} -> {e['to']}",
                    e["figure"],
                    c["council"],
                    value_text(c["effect"]),
                    value_text(c["did"]),
                    n_text(c["effect"].get("n"), e["standin"].get("n")),
                    c["verdict"] + lever_note(e, c),
                ]
                for c in e["councils"]
            ]
        ],
        {4, 5, 6},  # n: numbers, so its column sorts as numbers
    )
    out += _attribution_section(v.get("attribution", []), seeds)
    if v.get("attribution") and not any(e.get("effect_clear") for e in v["attribution"]):  # played, none to share
        none = attribution_none(v["attribution"])
        out.append(Section("attribution", "Which seat did it", [md_text(none)], [f'<p class="note">{_e(none)}</p>']))
    return out


ATTRIBUTION_ROWS = 25  # clear effects shown; summary.json holds them all


def _attribution_section(entries: list[dict], seeds: dict) -> list[Section]:
    """Which seat did it: one row per clear effect, its seats in one cell; a seat whose contribution
    is 0 in every seed is left out (and counted), and past ATTRIBUTION_ROWS effects summary.json
    holds the rest. The lead's figures first, in the lead's order."""
    clear = [e for e in entries if e.get("effect_clear")]
    if not clear:
        return []
    clear.sort(key=lambda e: LEAD_FIGURES.index(e["figure"]) if e["figure"] in LEAD_FIGURES else len(LEAD_FIGURES))
    shown = clear[:ATTRIBUTION_ROWS]
    idle = sum(_idle(s) for e in clear for s in e["seats"])
    about = (
        "Each focal seat's contribution to a council's outcome effect (the figure minus the figure with that seat back "
        "on its stand-in, replayed on the same seeds), its share of its own cast's effect with Fieller's interval, and "
        "what the seats do only together (the interaction: the effect minus the seats' contributions); effects over "
        "every cast (a council's casts on a seed averaged, n the seeds) whose interval excludes 0, "
        f"{', '.join(LEAD_FIGURES)} first."
        + (
            f" Left out: {idle} seat(s) whose contribution is 0 in every seed (putting them back changed nothing)."
            if idle
            else ""
        )
    )
    header = ["scenario", "council", "figure", "effect", "interaction", "n", "seats"]
    rows = [
        [
            e["scenario"],
            e["council"],
            e["figure"],
            value_text(e["effect"]),
            value_text(e.get("interaction") or {}),
            n_text(e["effect"].get("n"), seeds.get(e["scenario"])),
        ]
        for e in shown
    ]
    seats = [[_seat_text(s) for s in e["seats"] if not _idle(s)] or [NO_SEAT] for e in shown]
    more = f"... and {len(clear) - len(shown)} more clear effects in summary.json (verdicts, attribution)"
    more = [more] if len(clear) > len(shown) else []
    md = md_table(header, [row + ["; ".join(s)] for row, s in zip(rows, seats)])
    element = html_table(
        header, rows, {3, 4, 5}, extra=lambda i: "<ul>" + "".join(f"<li>{_e(x)}</li>" for x in seats[i]) + "</ul>"
    )
    return [
        Section(
            "attribution",
            "Which seat did it",
            [about, ""] + md + (["", md_text(more[0])] if more else []),
            [f'<p class="caption">{_e(about)}</p>', element] + [f'<p class="note">{_e(x)}</p>' for x in more],
        )
    ]


NO_SEAT = "no seat: each one's contribution is 0 in every seed (the effect is all interaction)"


def _idle(seat: dict) -> bool:
    """A seat whose contribution is 0 in every seed: the same value 0, or each value below MIN_N 0."""
    c = seat.get("contribution") or {}
    if c.get("mean") != 0:
        return False
    values = c.get("values")
    return c.get("note", "").startswith("same value") or bool(values) and all(x == 0 for x in values)


def _seat_text(s: dict) -> str:
    """A seat's contribution and share: "hazel: p (cast 0): contribution +0.2 [..], share 50% [..] of ..."."""
    cast = "" if s.get("cast_effect") is None else f" of its cast's effect {value_text({'mean': s['cast_effect']})}"
    return (
        f"{s['creature']}: {s['policy']} (cast {s['cast']}): contribution {value_text(s['contribution'])}, "
        f"share {_share(s)}{cast}"
    )


def _per_cast(casts: list[dict]) -> str:
    """Each cast's seeds that showed the phenomenon, named by cast where there are several."""
    if len(casts) == 1:
        return casts[0]["note"]
    return "; ".join(f"cast {c['cast']}: {c['note']}" for c in casts)


def _share(seat: dict) -> str:
    if seat.get("share") is None:
        return "—"
    ci, note = seat.get("share_ci"), seat.get("share_note")
    if note:
        return f"{percent(seat['share'])} ({note})"
    return percent(seat["share"]) + (
        f" [{percent(ci[0])}, {percent(ci[1])}]" if ci else " (no interval: too few seeds or too uncertain an effect)"
    )


def family_sections(page) -> list[Section]:
    """The first FAMILY_DETAILS flag families, with their example decisions side by side (flags.md
    lists them all)."""
    families = page.r.families
    if not families:
        return []
    errors = decision_errors(page.r.decisions)
    shown = families[:FAMILY_DETAILS]
    about = (
        f"{len(families)} families of flags, the first {len(shown)} here with their example decisions "
        "(flags.md lists them all; flags.json has every tested cell with its p and q values). n: seeds for an "
        "outcome family (a council's casts on a seed averaged first), episodes for a decision family."
    )
    md, out = [about, ""], [f'<p class="caption">{_e(about)}</p>']
    for f in shown:
        md += [
            f"### {md_text(f['family'])}. {md_text(f['text'])}",
            "",
            md_text(family_counts(f)),
            "",
        ]
        parts = [
            f'<div class="family" id="{family_anchor(f)}"><h3>{_e(f["family"])}. {_e(f["title"])}</h3>',
            f"<p>{_e(f['text'][len(f['title']) + 2 :])}</p>",
            f'<p class="caption">{_e(family_counts(f))}</p>',
        ]
        for j, ex in enumerate(f["examples"], 1):
            where = example_where(ex)
            outcome = f"Outcome: {ex['outcome']}" if ex.get("outcome") else ""
            md += [f"#### {md_text(where)}", ""] + ([md_text(outcome), ""] if outcome else [])
            blocks = {key: [(label, ex.get(key, ""))] for key, label in SIDES}
            if extra := played(ex, errors):  # a cut-off answer: its error and the part of it played
                blocks["response"].append(extra)
            for label, text in [b for key, _ in SIDES for b in blocks[key]]:
                md += [f"{md_text(label[0].upper() + label[1:])}:", ""]
                md += (
                    [] if text is None else ["```", visible(str(text)[:EXAMPLE_CHARS]).replace("```", "'''"), "```", ""]
                )
            cells = "".join(
                "<div>"
                + "".join(
                    f"<b>{_e(label)}</b>"
                    + ("" if text is None else f"<pre>{_e(visible(str(text)[:EXAMPLE_CHARS]))}</pre>")
                    for label, text in blocks[key]
                )
                + "</div>"
                for key, _ in SIDES
            )
            parts.append(
                f'<div class="example" id="{example_anchor(f, j)}"><h4>{_e(where)}</h4>'
                + (f"<p>{_e(outcome)}</p>" if outcome else "")
                + f'<div class="side">{cells}</div></div>'
            )
        if not f["examples"]:
            parts.append("<p>(no live decisions to show)</p>")
        out.append("".join(parts) + "</div>")
    return [Section("families", "Flag families", md, out)]
