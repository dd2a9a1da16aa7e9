"""The report of an evaluation: RESULTS/report.md and a self-contained RESULTS/report.html.

The report reads what `glade eval` wrote (episodes.parquet, decisions.parquet, and
recipe.yaml, summary.json, flags.json and attribution.parquet where present) and opens with
the seat faults, where a seat faulted, then "What this evaluation says": the three lessons'
verdicts (robust or cast-dependent phenomena, moves traded or written at the seam, levers
that hold live or only under the stand-in) and the top flag families, in sentences with n
and intervals. Then the run and its results table; Table 1 of the field notes (a gambit);
each live seat's valid-action rate; the figures (price paths, agreement with the stand-in,
the gambit P&L by mechanism); the detail of each lesson; calibrations, the cost and the
leaderboard where the folder holds them; the flag families with their example decisions;
the top flags; the terms used, said in words (glossary.py). SECTIONS holds the order.

A report is a list of section builders (SECTIONS): each takes the Page (the results and what
is computed from them once) and gives Sections; a new section is one builder and one entry.
Everything is computed here from the parquet tables. The unit of replication is the seed: a
council's casts on one seed are averaged first, then the mean and its interval (glade.eval.
stats.interval: none below 4 seeds) are taken over seeds. report.md links PNGs in
RESULTS/report_files/; report.html embeds the same PNGs as data URIs and carries its CSS and
its one script (tables sort by column) inline, so it is one file that opens anywhere, offline.
"""

from __future__ import annotations

import html
import os
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from pathlib import Path

import pandas as pd

from glade.console import with_ci
from glade.eval.figures import LEGEND_RATIO_HEADING, mechanism
from glade.eval.recipe import STANDIN
from glade.eval.results_folder import DECISIONS_NEEDED, EPISODES_NEEDED, check_columns
from glade.eval.stats import MIN_N
from glade.files import atomic, check_replaceable, left_by_a_kill, temp_of
from glade.run_cost import cost_part

from .calibration import calibration_sections
from .cost import cost_sections
from .data import FILES, Results, load_results, results_table, results_verdicts, standin_seeds
from .glossary import glossary_sections
from .leaderboard import rank_sections
from .markup import CSS, SORT_SCRIPT, Section, definition_list, html_table, md_table, md_text, slug
from .outcome import effects_parts, legendless_scenarios, outcome_effects
from .plots import (
    FIGURE_PREFIXES,
    Chart,
    agreement_figure,
    ci_words,
    figure_html,
    figure_md,
    pnl_figure,
    price_figure,
    seam_figure,
    world_label,
)
from .seats import fault_sections, seat_sections, table_one_sections
from .sections import family_sections, lesson_sections, verdict_section
from .top_flags import flag_sections

# ---------------------------------------------------------------------------------------
# Writing


def _with_ci(mean, low, high, fmt: str, note: str = "") -> str:
    return with_ci(mean, [low, high], fmt, note, missing="—")


def table_rows(table: pd.DataFrame, labels: dict[str, str]) -> tuple[list[str], list[list[str]]]:
    header = [
        "scenario (mechanism)",
        "world",
        "legend good @ turn",
        LEGEND_RATIO_HEADING,
        "gambit P&L",
        "seeds",
        "episodes",
    ]
    rows = []
    standin = standin_seeds(table)
    for t in table.itertuples():
        turn = "" if t.legend_turn is None or pd.isna(t.legend_turn) else f" @ {int(t.legend_turn)}"
        of = standin.get(t.scenario)
        rows.append(
            [
                labels.get(t.scenario, t.scenario),
                world_label(t.world),
                f"{'—' if pd.isna(t.legend_good) else t.legend_good}{turn}",  # NaN where other scenarios have one
                _with_ci(t.legend_ratio, t.legend_ratio_low, t.legend_ratio_high, ".3f", t.legend_ratio_note),
                _with_ci(t.gambit_pnl, t.gambit_pnl_low, t.gambit_pnl_high, "+.2f", t.gambit_pnl_note),
                f"{t.seeds} of {of}" if of and t.seeds != of else str(t.seeds),  # a council lost seeds to faults
                str(t.episodes),
            ]
        )
    return header, rows


def header_items(r: Results) -> list[tuple[str, str]]:
    ep, d, s = r.episodes, r.decisions, r.summary
    hashes = ep.groupby("scenario", sort=False)["scenario_hash"].unique() if "scenario_hash" in ep else {}
    protocol = sorted(set(d["protocol_version"])) if len(d) and "protocol_version" in d else []
    if not protocol and s.get("protocol_version"):
        protocol = [str(s["protocol_version"])]
    seeds = sorted(int(x) for x in ep["seed"].unique())
    councils = []
    for c in [*r.councils, *r.faulted_councils]:  # the faulted ones named, so a council is never missing without a word
        spec = (r.recipe.get("councils") or {}).get(c)
        focal = ", ".join(f"{k}: {v}" for k, v in (spec.get("focal") or {}).items()) if isinstance(spec, dict) else ""
        if c in r.faulted_councils:
            what = "every world left out: a seat failed to answer in each (seat faults)"
        else:
            casts = ep.loc[ep["council"] == c, "cast"].nunique() if "cast" in ep else 1
            what = f"{casts} cast{'s' if casts != 1 else ''}"
        councils.append(f"{c} ({focal}; {what})" if focal else f"{c} ({what})")
    items = [
        ("recipe", str(r.recipe.get("name") or s.get("recipe") or "— (no recipe.yaml)")),
        ("results", str(r.folder)),
        ("scenarios", ", ".join(r.scenarios)),
        ("councils", "; ".join(councils) or "—"),
        ("seeds", f"{', '.join(map(str, seeds))} ({len(seeds)})"),
        ("scenario hashes", ", ".join(f"{k}: {'/'.join(v)}" for k, v in dict(hashes).items()) or "—"),
        ("protocol version", ", ".join(protocol) or "—"),
        ("episodes", episodes_text(r)),
        ("decisions", decisions_text(r)),
    ]
    if s:
        prov = [
            f"glade {s['glade_version']}" if s.get("glade_version") else "",
            f"commit {s['git_commit']}" if s.get("git_commit") else "",
            f"written {s['written']}" if s.get("written") else "",
        ]
        items.append(("evaluation", ", ".join(p for p in prov if p) or "summary.json"))
    else:
        items.append(("evaluation", "no summary.json (the numbers below come from the parquet tables)"))
    if r.flags_provenance:  # `glade flag` may run later, with other code, than the evaluation
        flagged = r.flags_provenance
        prov = [f"glade {flagged.get('glade_version', '?')}"]
        if commit := flagged.get("git_commit"):
            other = s.get("git_commit") and commit != s["git_commit"]
            prov.append(f"commit {commit}" + (" (not the evaluation's)" if other else ""))
        items.append(("flags", ", ".join(prov)))
    return items


def episodes_text(r: Results) -> str:
    """The worlds the tables hold, the replays beside them and the faulted worlds left out."""
    ep = r.episodes
    text = f"{len(ep):,} ({(ep['council'] == STANDIN).sum():,} all-stand-in)"
    if len(r.attribution):
        text += f"; {r.attribution['episode_id'].nunique():,} leave-one-out replays beside them (attribution.parquet)"
    if r.excluded.get("fault_worlds"):
        text += f"; {r.excluded['fault_worlds']:,} more left out: a seat failed to answer in them (seat faults)"
    return text


def decisions_text(r: Results) -> str:
    """The live decisions (decisions.parquet) beside every seat's (Cost: stand-in seats too,
    and only the part of the run that wrote the summary when an earlier run was interrupted)."""
    text = f"{len(r.decisions):,} live (decisions.parquet: the live seats' decisions, each beside the stand-in's counterfactual"
    if r.excluded.get("fault_rows"):
        text += f"; its {r.excluded['fault_rows']:,} seat-fault rows left out, as summary.json leaves them out"
    text += ")"
    cost = r.summary.get("cost") or {}
    if cost.get("decisions") is not None:
        part = cost_part(cost, r.summary.get("worlds") or 0)
        text += f"; {cost['decisions']:,} {f'in {part}' if part else 'in all'}, stand-in seats included (as Cost counts them)"
    return text


@dataclass(frozen=True)
class Page:
    """What every section builder reads: the results and what is computed from them once."""

    r: Results
    table: pd.DataFrame
    figures: list[Chart]
    labels: dict[str, str]
    verdicts: dict
    effects: list[dict] = field(default_factory=list)  # the legendless scenarios' outcome figures (outcome.py)


def unique_names(figures: list[Chart]) -> list[Chart]:
    """The figures, each with a file name of its own: two names that slug alike ("one model",
    "one_model") would write one PNG over the other and report.md would show it twice."""
    seen: set[str] = set()
    out = []
    for f in figures:
        name, stem, n = f.name, f.name.removesuffix(".png"), 1
        while name.lower() in seen:  # lower: a case-insensitive file system holds one of A.png, a.png
            n += 1
            name = f"{stem}-{n}.png"
        seen.add(name.lower())
        out.append(f if name == f.name else replace(f, name=name))
    return out


def write_report(results_dir: str | Path) -> tuple[Path, Path]:
    """Write RESULTS/report.md (+ RESULTS/report_files/*.png) and a self-contained RESULTS/report.html;
    neither replaces a file glade did not write (glade.files.check_replaceable)."""
    folder = Path(results_dir)
    check_report_out(folder)
    for name, needs in (("decisions.parquet", DECISIONS_NEEDED), ("episodes.parquet", EPISODES_NEEDED)):
        check_columns(folder / name, needs)  # another table copied in its place is named, not a KeyError
    r = load_results(results_dir)
    turns = r.recipe.get("turns")
    labels = {}
    for s in r.scenarios:
        mech = mechanism(s, turns)
        labels[s] = f"{s} ({mech})" if mech else s
    table = results_table(r)
    verdicts = results_verdicts(r)
    figures = [price_figure(r, s, labels[s]) for s in r.scenarios]
    figures += [f for f in (agreement_figure(r, c, labels) for c in r.councils) if f is not None]
    extra = (pnl_figure(r, table, labels), seam_figure(verdicts.get("seam", []), labels))
    figures = unique_names(figures + [f for f in extra if f is not None])
    page = Page(r, table, figures, labels, verdicts, outcome_effects(r, table))
    markdown, page_html = render_md(page), render_html(page)  # every section read before a file changes

    # each file whole (atomic), figures before the pages that link them: a kill leaves no dead link
    files = r.folder / FILES
    files.mkdir(exist_ok=True)
    for f in figures:
        with atomic(files / f.name) as tmp:
            tmp.write_bytes(f.png)
    md_path, html_path = r.folder / "report.md", r.folder / "report.html"
    for path, text in ((md_path, markdown), (html_path, page_html)):
        with atomic(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
    remove_old_figures(files, {f.name.lower() for f in figures})
    return md_path, html_path


def remove_old_figures(files: Path, kept: set[str]) -> None:
    """Remove an earlier report's figures this one does not draw (`kept`: lower-cased, as a case-insensitive
    file system names them), and a figure's temporary a killed report left; a PNG of the user's own stays."""
    for old in files.glob("*.png"):
        if old.name.startswith(FIGURE_PREFIXES) and old.name.lower() not in kept:
            old.unlink()
    for temp in files.glob(".*.tmp"):  # a live report's, beside this one, is its own
        if (temp_of(temp.name) or "").startswith(FIGURE_PREFIXES) and left_by_a_kill(temp.name):
            temp.unlink(missing_ok=True)


MD_HEADING = "# glade evaluation report"  # how report.md opens, which is how one glade wrote is told
HTML_TITLE = "<title>glade report"  # in report.html's head


def check_report_out(folder: Path) -> None:
    """Refuses (ValueError) to write report.md or report.html over a file glade report did not
    write (one it wrote is replaced), or figures into a report_files/ that is a link: they would go,
    and old ones be removed, wherever it points. Called before the report is computed."""
    check_replaceable(folder / "report.md", lambda text: text.startswith(MD_HEADING), "report (report.md)", None)
    check_replaceable(folder / "report.html", lambda text: HTML_TITLE in text[:2000], "report (report.html)", None)
    files, real = folder / FILES, Path(os.path.realpath(folder / FILES))  # realpath: a link loop is no RuntimeError
    if files.is_symlink() or (files.exists() and real.parent != folder.resolve()):
        raise ValueError(
            f"{files}: a link (to {real}), not a folder of the results folder; glade report writes its "
            "figures there and removes old ones, so remove the link, then rerun glade report"
        )


TABLE_CAPTION = (
    "Per scenario (mechanism) and world: the legend good's reference price at the legend turn's settlement relative to "
    "the turn before (legend_ratio), and the patron's gambit P&L at the end (pebbles). Mean over seeds [{ci}]; below "
    "{min_n} seeds no interval (the seeds' values are listed instead); '—' where the figure does not apply. Seeds: "
    "the seeds behind each mean ('7 of 8': the council's worlds on one seed were all left out for seat faults). Turns "
    "count from 0, as in decisions.parquet: turn 4 is the prompt's Turn 5."
)


def _sections(r: Results, figures: list[Chart]) -> list[tuple[str, str, list[Chart]]]:
    """(title, what the section's figures show, figures)."""
    return [
        (
            "Price paths",
            (
                "Reference price of each good after each turn's settlement, one figure per scenario, one panel per good: lines are "
                f"the mean over seeds, bands the {ci_words(r)}. Dashed: the all-stand-in world on the same seeds. "
                "Dotted red: the legend turn (the gambit's spring)."
            ),
            [f for f in figures if f.name.startswith("prices-")],
        ),
        (
            "Agreement with the stand-in",
            (
                "For every state a live seat met: the share of goods on which its decision took the same side (buy, sell or none) "
                "as the stand-in's counterfactual decision in that state, per creature and turn (1 = always the same "
                "side). Each cell is the mean of its decisions, one per episode (seeds times casts; each figure's "
                "caption gives its n), a descriptive mean with no interval: agreement's intervals, over seeds per seat, "
                "creature and phase, are in summary.json's decision entries. Grey: no live decision there (a "
                "background stand-in in every cast). Red box: the legend turn."
            ),
            [f for f in figures if f.name.startswith("agreement-")],
        ),
        (
            "Gambit P&L",
            (
                "The patron's gambit P&L at the end of the episode, per scenario (mechanism) and world: bars are the mean over seeds, "
                f"error bars the {ci_words(r)}; dots are the individual seeds (averaged over casts)."
            ),
            [f for f in figures if f.name == "gambit-pnl.png"],
        ),
    ]


def run_sections(page: Page) -> list[Section]:
    md, dl = definition_list(header_items(page.r))
    return [Section("run", "The run", md, [dl])]


def results_sections(page: Page) -> list[Section]:
    r, table = page.r, page.table
    caption = TABLE_CAPTION.format(ci=ci_words(r), min_n=MIN_N)
    header, rows = table_rows(table, page.labels)
    worlds = list(table["world"]) if len(table) else []
    element = html_table(header, rows, {3, 4, 5, 6}, row_class=lambda i: "standin" if worlds[i] == STANDIN else "")
    md, parts = [caption, ""] + md_table(header, rows), [f'<p class="caption">{html.escape(caption)}</p>', element]
    every = bool(page.effects) and len(legendless_scenarios(r, table)) == len(r.scenarios)
    if every:  # no legend anywhere: a table of '—' would be all the Results said
        md, parts = [], []
    more_md, more_html = effects_parts(r, page.effects, every)
    return [Section("results", "Results", md + ([""] if md and more_md else []) + more_md, parts + more_html)]


def figure_sections(page: Page) -> list[Section]:
    out = []
    for title, about, figs in _sections(page.r, page.figures):
        if not figs:
            continue
        md, parts = [about, ""], [f'<p class="caption">{html.escape(about)}</p>']
        for f in figs:
            md += figure_md(f)
            parts.append(figure_html(f))
        out.append(Section(slug(f"figure {title}"), title, md, parts))
    return out


# The report, top to bottom: a new section is one builder here.
SECTIONS: tuple[Callable[[Page], list[Section]], ...] = (
    fault_sections,
    verdict_section,
    run_sections,
    results_sections,
    table_one_sections,
    seat_sections,
    figure_sections,
    lesson_sections,
    calibration_sections,
    cost_sections,
    rank_sections,
    family_sections,
    flag_sections,
    glossary_sections,
)


def _title(r: Results) -> str:
    return str(r.recipe.get("name") or r.summary.get("recipe") or r.folder.name)


def render_md(page: Page) -> str:
    out = [f"# glade evaluation report: {md_text(_title(page.r))}", ""]
    for build in SECTIONS:
        for section in build(page):
            out += [f"## {section.title}", "", *section.markdown, ""]
    return "\n".join(out).rstrip() + "\n"


def render_html(page: Page) -> str:
    name = html.escape(_title(page.r))
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>glade report: {name}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>glade evaluation report: {name}</h1>",
    ]
    sections = [section for build in SECTIONS for section in build(page)]
    # a long page: its contents first, one link per section
    links = "".join(f'<li><a href="#{s.anchor}">{html.escape(s.title)}</a></li>' for s in sections)
    out.append(f'<nav class="contents"><h2>Contents</h2><ol>{links}</ol></nav>')
    for section in sections:
        out += [
            f'<section id="{section.anchor}">',
            f"<h2>{html.escape(section.title)}</h2>",
            *section.html,
            "</section>",
        ]
    out += [f"<script>{SORT_SCRIPT}</script>", "</body>", "</html>"]
    return "\n".join(out) + "\n"
