"""The report of an evaluation: RESULTS/report.md and a self-contained RESULTS/report.html.

The report reads what `glade eval` wrote (episodes.parquet, decisions.parquet, and
recipe.yaml, summary.json and flags.json where present) and shows: the legend good's price at
settlement and the gambit P&L per scenario x world with bootstrap intervals; price paths per
good, the council(s) against the all-stand-in world; how often live seats agreed with the
stand-in (creature x turn); the gambit P&L by mechanism and world; the top flags.

Everything plotted is computed here from the parquet tables. The unit of replication is the
seed: a council's casts on one seed are averaged first, then the mean and its percentile
bootstrap interval (scipy.stats.bootstrap, fixed seed) are taken over seeds.
report.md links PNGs in RESULTS/report_files/; report.html embeds the same PNGs as data URIs
and carries its CSS inline, so it is one file that opens anywhere, offline.
"""

from __future__ import annotations

import base64
import html
import math
from pathlib import Path

import pandas as pd

from glade.eval.field_notes import TABLE_ONE_CAPTION, table_one, table_one_cells
from glade.eval.figures import mechanism
from glade.eval.flags import effect_text
from glade.eval.recipe import STANDIN

from .data import FILES, TOP_FLAGS, Results, load_results, results_table
from .plots import Figure, agreement_figure, ci_words, pnl_figure, price_figure, world_label

# ---------------------------------------------------------------------------------------
# Writing


def _num(value, fmt: str) -> str:
    if value is None or (isinstance(value, float) and math.isnan(value)):
        return "—"
    return format(value, fmt)


def _with_ci(mean, low, high, fmt: str) -> str:
    if mean is None or (isinstance(mean, float) and math.isnan(mean)):
        return "—"
    if low is None or math.isnan(low):
        return f"{format(mean, fmt)} [—]"
    return f"{format(mean, fmt)} [{format(low, fmt)}, {format(high, fmt)}]"


def table_rows(table: pd.DataFrame, labels: dict[str, str]) -> tuple[list[str], list[list[str]]]:
    header = [
        "scenario (mechanism)",
        "world",
        "legend good @ turn",
        "price at settlement / before",
        "gambit P&L",
        "seeds",
        "episodes",
    ]
    rows = []
    for t in table.itertuples():
        turn = "" if t.legend_turn is None or pd.isna(t.legend_turn) else f" @ {int(t.legend_turn)}"
        rows.append(
            [
                labels.get(t.scenario, t.scenario),
                world_label(t.world),
                f"{t.legend_good or '—'}{turn}",
                _with_ci(t.legend_ratio, t.legend_ratio_low, t.legend_ratio_high, ".3f"),
                _with_ci(t.gambit_pnl, t.gambit_pnl_low, t.gambit_pnl_high, "+.2f"),
                str(t.seeds),
                str(t.episodes),
            ]
        )
    return header, rows


def flag_rows(flags: list[dict]) -> tuple[list[str], list[list[str]], list[dict]]:
    ranked = sorted(flags, key=lambda f: _float(f.get("score")), reverse=True)[:TOP_FLAGS]
    header = [
        "#",
        "kind",
        "scenario",
        "council",
        "cast",
        "creature",
        "phase",
        "metric",
        "stand-in",
        "live",
        "effect [CI]",
        "support",
        "n",
        "score",
        "first example",
    ]
    rows = []
    for i, f in enumerate(ranked, 1):
        examples = f.get("examples") or []
        ex = examples[0] if examples else {}
        where = f"{ex.get('episode_id', '')} turn {ex.get('turn', '')} {ex.get('creature', '')}".strip() if ex else "—"
        rows.append(
            [
                str(i),
                *(_text(f.get(k)) for k in ("kind", "scenario", "council", "cast", "creature", "phase", "metric")),
                _num(_float(f.get("standin_value")), ".3g"),
                _num(_float(f.get("live_value")), ".3g"),
                effect_text(f),
                _num(_float(f.get("support")), ".0%"),
                _text(f.get("n")),
                _num(_float(f.get("score")), ".3g"),
                where,
            ]
        )
    return header, rows, ranked


def _float(value) -> float:
    try:
        return float(value)
    except (TypeError, ValueError):
        return math.nan


def _text(value) -> str:
    return "—" if value is None or (isinstance(value, float) and math.isnan(value)) else str(value)


def header_items(r: Results) -> list[tuple[str, str]]:
    ep, d, s = r.episodes, r.decisions, r.summary
    hashes = ep.groupby("scenario", sort=False)["scenario_hash"].unique() if "scenario_hash" in ep else {}
    protocol = sorted(set(d["protocol_version"])) if len(d) and "protocol_version" in d else []
    if not protocol and s.get("protocol_version"):
        protocol = [str(s["protocol_version"])]
    seeds = sorted(int(x) for x in ep["seed"].unique())
    councils = []
    for c in r.councils:
        spec = (r.recipe.get("councils") or {}).get(c)
        casts = ep.loc[ep["council"] == c, "cast"].nunique() if "cast" in ep else 1
        focal = ", ".join(f"{k}: {v}" for k, v in (spec.get("focal") or {}).items()) if isinstance(spec, dict) else ""
        councils.append(
            f"{c} ({focal}; {casts} cast{'s' if casts != 1 else ''})"
            if focal
            else f"{c} ({casts} cast{'s' if casts != 1 else ''})"
        )
    items = [
        ("recipe", str(r.recipe.get("name") or s.get("recipe") or "— (no recipe.yaml)")),
        ("results", str(r.folder)),
        ("scenarios", ", ".join(r.scenarios)),
        ("councils", "; ".join(councils) or "—"),
        ("seeds", f"{', '.join(map(str, seeds))} ({len(seeds)})"),
        ("scenario hashes", ", ".join(f"{k}: {'/'.join(v)}" for k, v in dict(hashes).items()) or "—"),
        ("protocol version", ", ".join(protocol) or "—"),
        ("episodes", f"{len(ep)} ({(ep['council'] == STANDIN).sum()} all-stand-in), {len(d)} live decisions"),
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
    return items


def write_report(results_dir: str | Path) -> tuple[Path, Path]:
    """Write RESULTS/report.md (+ RESULTS/report_files/*.png) and a self-contained RESULTS/report.html."""
    r = load_results(results_dir)
    turns = r.recipe.get("turns")
    labels = {}
    for s in r.scenarios:
        mech = mechanism(s, turns)
        labels[s] = f"{s} ({mech})" if mech else s
    table = results_table(r)
    figures = [price_figure(r, s, labels[s]) for s in r.scenarios]
    figures += [f for f in (agreement_figure(r, c, labels) for c in r.councils) if f is not None]
    pnl = pnl_figure(r, table, labels)
    if pnl is not None:
        figures.append(pnl)

    files = r.folder / FILES
    files.mkdir(exist_ok=True)
    for old in files.glob("*.png"):
        old.unlink()
    for f in figures:
        (files / f.name).write_bytes(f.png)

    md_path, html_path = r.folder / "report.md", r.folder / "report.html"
    md_path.write_text(render_md(r, table, figures, labels))
    html_path.write_text(render_html(r, table, figures, labels))
    return md_path, html_path


TABLE_CAPTION = (
    "Per scenario (mechanism) and world: the legend good's reference price at the legend turn's settlement relative to "
    "the turn before, and the patron's gambit P&L at the end (pebbles). Mean over seeds [{ci}]; '—' where fewer than two seeds."
)


def _sections(r: Results, figures: list[Figure]) -> list[tuple[str, str, list[Figure]]]:
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
                "as the stand-in's counterfactual decision in that state; mean over seeds and casts, per creature and turn "
                "(1 = always the same side). Grey: no live decision there (a background stand-in in every cast). "
                "Red box: the legend turn."
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


def _md_cell(text: str) -> str:
    return str(text).replace("|", "\\|").replace("\n", " ")


def _md_table(header: list[str], rows: list[list[str]]) -> list[str]:
    lines = ["| " + " | ".join(map(_md_cell, header)) + " |", "|" + "|".join("---" for _ in header) + "|"]
    lines += ["| " + " | ".join(map(_md_cell, row)) + " |" for row in rows]
    return lines


def render_md(r: Results, table: pd.DataFrame, figures: list[Figure], labels: dict[str, str]) -> str:
    name = r.recipe.get("name") or r.summary.get("recipe") or r.folder.name
    out = [f"# glade evaluation report: {name}", ""]
    out += [f"- **{k}**: {_md_cell(v)}" for k, v in header_items(r)]
    out += ["", "## Results", "", TABLE_CAPTION.format(ci=ci_words(r)), ""]
    out += _md_table(*table_rows(table, labels))
    field_notes = table_one(r.episodes, r.recipe.get("thresholds"), r.seed)
    if field_notes:
        out += ["", "## Table 1 of the field notes, played here", "", TABLE_ONE_CAPTION, ""]
        out += _md_table(*table_one_cells(field_notes))
    for title, about, figs in _sections(r, figures):
        if not figs:
            continue
        out += ["", f"## {title}", "", about, ""]
        for f in figs:
            out += [f"![{f.title}]({FILES}/{f.name})", "", f"*{f.caption}*", ""]
    out += ["", f"## Flags (top {TOP_FLAGS})", ""]
    if r.flags:
        header, rows, _ = flag_rows(r.flags)
        out += [
            f"{len(r.flags)} flag(s) in flags.json, ranked by score; examples point at rows of decisions.parquet.",
            "",
        ]
        out += _md_table(header, rows)
    else:
        out.append(f"*{r.flags_note}*")
    return "\n".join(out).rstrip() + "\n"


CSS = """
body { font: 15px/1.45 -apple-system, "Segoe UI", Roboto, "Helvetica Neue", Arial, sans-serif; color: #1d1d1f;
       max-width: 1180px; margin: 2em auto; padding: 0 1.2em; }
h1 { font-size: 1.6em; margin-bottom: .3em; } h2 { font-size: 1.25em; border-bottom: 1px solid #ddd; padding-bottom: .2em; margin-top: 2em; }
dl.meta { display: grid; grid-template-columns: max-content 1fr; gap: .15em 1.2em; font-size: .92em; }
dl.meta dt { font-weight: 600; color: #555; } dl.meta dd { margin: 0; word-break: break-word; }
table { border-collapse: collapse; font-size: .88em; margin: .6em 0; }
th, td { border: 1px solid #d6d6d6; padding: .3em .6em; text-align: left; vertical-align: top; }
th { background: #f3f3f3; } tr:nth-child(even) td { background: #fafafa; }
td.num { text-align: right; font-variant-numeric: tabular-nums; white-space: nowrap; }
tr.standin td { color: #444; font-style: italic; }
figure { margin: 1.2em 0 2em; } figure img { max-width: 100%; height: auto; border: 1px solid #eee; }
figcaption, p.caption { font-size: .88em; color: #555; max-width: 60em; }
p.note { color: #8a5a00; background: #fff7e6; border: 1px solid #f0d9a8; padding: .5em .8em; display: inline-block; }
details pre { white-space: pre-wrap; font-size: .85em; background: #f6f6f6; padding: .5em; max-height: 24em; overflow: auto; }
"""


def _html_table(header: list[str], rows: list[list[str]], numeric: set[int], row_class=None, extra=None) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = []
    for i, row in enumerate(rows):
        cls = f' class="{row_class(i)}"' if row_class and row_class(i) else ""
        cells = "".join(
            f'<td class="num">{html.escape(c)}</td>' if j in numeric else f"<td>{html.escape(c)}</td>"
            for j, c in enumerate(row)
        )
        if extra is not None:
            cells += f"<td>{extra(i)}</td>"
        body.append(f"<tr{cls}>{cells}</tr>")
    return f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>\n" + "\n".join(body) + "\n</tbody>\n</table>"


def _examples_html(flag: dict) -> str:
    parts = []
    for ex in (flag.get("examples") or [])[:3]:
        summary = html.escape(f"{ex.get('episode_id', '')} turn {ex.get('turn', '')} {ex.get('creature', '')}")
        body = "".join(
            f"<b>{label}</b><pre>{html.escape(str(ex.get(key, ''))[:4000])}</pre>"
            for key, label in (("prompt", "prompt"), ("response", "response"), ("standin_action", "stand-in action"))
            if ex.get(key) is not None
        )
        parts.append(f"<details><summary>{summary}</summary>{body}</details>")
    return "".join(parts) or "—"


def render_html(r: Results, table: pd.DataFrame, figures: list[Figure], labels: dict[str, str]) -> str:
    name = r.recipe.get("name") or r.summary.get("recipe") or r.folder.name
    e = html.escape
    out = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        "<head>",
        '<meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>glade report: {e(str(name))}</title>",
        f"<style>{CSS}</style>",
        "</head>",
        "<body>",
        f"<h1>glade evaluation report: {e(str(name))}</h1>",
        '<dl class="meta">',
    ]
    out += [f"<dt>{e(k)}</dt><dd>{e(v)}</dd>" for k, v in header_items(r)]
    out += [
        "</dl>",
        '<h2 id="results">Results</h2>',
        f'<p class="caption">{e(TABLE_CAPTION.format(ci=ci_words(r)))}</p>',
    ]
    header, rows = table_rows(table, labels)
    worlds = list(table["world"]) if len(table) else []
    out.append(_html_table(header, rows, {3, 4, 5, 6}, row_class=lambda i: "standin" if worlds[i] == STANDIN else ""))
    field_notes = table_one(r.episodes, r.recipe.get("thresholds"), r.seed)
    if field_notes:
        out += [
            '<h2 id="table-one">Table 1 of the field notes, played here</h2>',
            f'<p class="caption">{e(TABLE_ONE_CAPTION)}</p>',
        ]
        out.append(_html_table(*table_one_cells(field_notes), {5, 6, 7, 8}))
    for title, about, figs in _sections(r, figures):
        if not figs:
            continue
        out.append(f"<h2>{e(title)}</h2>")
        out.append(f'<p class="caption">{e(about)}</p>')
        for f in figs:
            data = base64.b64encode(f.png).decode("ascii")
            out.append(
                f'<figure><img src="data:image/png;base64,{data}" alt="{e(f.title)}">'
                f"<figcaption>{e(f.caption)}</figcaption></figure>"
            )
    out.append(f'<h2 id="flags">Flags (top {TOP_FLAGS})</h2>')
    if r.flags:
        header, rows, ranked = flag_rows(r.flags)
        out.append(
            f'<p class="caption">{len(r.flags)} flag(s) in flags.json, ranked by score; the examples are rows of decisions.parquet.</p>'
        )
        out.append(
            _html_table(
                header[:-1] + ["examples"],
                [row[:-1] for row in rows],
                {8, 9, 10, 11, 12, 13},
                extra=lambda i: _examples_html(ranked[i]),
            )
        )
    else:
        out.append(f'<p class="note">{e(r.flags_note)}</p>')
    out += ["</body>", "</html>"]
    return "\n".join(out) + "\n"
