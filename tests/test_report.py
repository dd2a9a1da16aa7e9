"""`glade report RESULTS`: report.md with PNGs beside it, a self-contained report.html, the
results table's numbers straight from episodes.parquet, and clean errors."""

from __future__ import annotations

import argparse
import base64
import io
import json
import re
import shutil

import pandas as pd
import pytest

from glade.cli import main
from glade.cli import report as report_verb
from glade.eval import report
from glade.eval.recipe import STANDIN
from glade.eval.report.data import NO_FLAGS
from glade.eval.stats import interval

SCENARIOS = ["gambit_rumour", "gambit_shock"]
COUNCILS = ["all_panic", "mixed"]

RECIPE = """\
name: report-test
out: {out}
policies:
  panic: {{kind: standin, disposition: panic_seller}}
  hoard: hoarder
councils:
  all_panic: {{focal: {{"*": panic}}}}
  mixed: {{focal: {{oona: hoard, bramble: panic}}, rotate: 2}}
scenarios: [gambit_rumour, gambit_shock]
seeds: {{start: 0, count: 4}}
turns: 6
worlds: 16
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    from glade.eval.recipe import load_eval_recipe
    from glade.eval.run import run_recipe

    root = tmp_path_factory.mktemp("report")
    out = root / "results"
    (root / "recipe.yaml").write_text(RECIPE.format(out=out))
    run_recipe(load_eval_recipe(root / "recipe.yaml"))
    md, html = report.write_report(out)
    return out, md, html


def _section(md: str, title: str) -> str:
    return md.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def _md_rows(section: str) -> list[list[str]]:
    lines = [line for line in section.splitlines() if line.startswith("|")]
    return [[cell.strip() for cell in line.strip("|").split(" | ")] for line in lines[2:]]  # past header and rule


def test_files_and_self_contained_html(results):
    out, md_path, html_path = results
    assert md_path == out / "report.md" and html_path == out / "report.html"
    html = html_path.read_text()
    md = md_path.read_text()
    pngs = sorted((out / report.FILES).glob("*.png"))
    # a price figure per scenario, an agreement heatmap per council, the P&L chart
    assert [p.name for p in pngs] == sorted(
        [f"prices-{s}.png" for s in SCENARIOS]
        + [f"agreement-{c}.png" for c in COUNCILS]
        + ["gambit-pnl.png", "seam-split.png"]
    )
    assert html.count('<img src="data:image/png;base64,') == len(pngs)
    assert len(re.findall(r"<img ", html)) == len(pngs)  # no image that is not a data URI
    assert not re.search(r"https?://", html)
    assert "<link" not in html and "<style>" in html
    assert html.count("<script") == 1 and "<script>" in html  # one inline script (sorting), no src
    for png in pngs:
        assert f"]({report.FILES}/{png.name})" in md


def test_pngs_are_images(results):
    from PIL import Image

    out, _, html_path = results
    html = html_path.read_text()
    for png in (out / report.FILES).glob("*.png"):
        data = png.read_bytes()
        assert data[:8] == b"\x89PNG\r\n\x1a\n"
        with Image.open(io.BytesIO(data)) as image:
            image.verify()
        with Image.open(io.BytesIO(data)) as image:
            assert image.width > 300 and image.height > 200
        assert base64.b64encode(data).decode() in html  # the HTML embeds exactly the file


def test_results_table_matches_pandas(results):
    out, md_path, html_path = results
    rows = _md_rows(_section(md_path.read_text(), "Results"))
    assert len(rows) == len(SCENARIOS) * (1 + len(COUNCILS))
    html = html_path.read_text()
    results_table = html.split('id="results"', 1)[1].split("</table>", 1)[0]
    assert results_table.count("<tr") == 1 + len(rows)  # header + one per scenario x world

    episodes = pd.read_parquet(out / "episodes.parquet").drop_duplicates("episode_id")
    per_seed = episodes.groupby(["scenario", "council", "seed"])[["legend_ratio", "gambit_pnl"]].mean()
    seen, notes = set(), []
    for row in rows:
        scenario = row[0].split(" ")[0]
        council = STANDIN if row[1] == "all stand-in" else row[1]
        seen.add((scenario, council))
        for column, cell, fmt in (("legend_ratio", row[3], ".3f"), ("gambit_pnl", row[4], "+.2f")):
            iv = interval(per_seed.loc[(scenario, council), column].to_numpy())
            if iv.low is None:  # said in words, never a zero-width interval
                assert cell == f"{iv.mean:{fmt}} ({iv.note})" and "[" not in cell
                notes.append(iv.note)
            else:
                assert cell == f"{iv.mean:{fmt}} [{iv.low:{fmt}}, {iv.high:{fmt}}]"
        assert row[5] == "4"  # seeds
        assert int(row[6]) == (episodes[(episodes.scenario == scenario) & (episodes.council == council)]).shape[0]
    assert "same value in all 4 seeds" in notes  # the glut halts honey at 0.9 under the stand-in in every seed
    assert seen == {(s, c) for s in SCENARIOS for c in [STANDIN, *COUNCILS]}


def test_table_one_of_the_field_notes_has_its_own_section(results):
    out, md_path, html_path = results
    rows = _md_rows(_section(md_path.read_text(), "Table 1 of the field notes, played here"))
    assert [(r[0], r[1]) for r in rows] == [(m, w) for m in ("rumour", "shock") for w in (STANDIN, *COUNCILS)]
    assert rows[3][2:5] == ["Test policy, inventory glut", "fell (worked 'beautifully')", "—"]  # shock, stand-in
    assert rows[0][2] == "—" and rows[0][8] == "4, 4"  # no notes row for it; 4 seeds, 4 episodes
    assert 'id="table-one"' in html_path.read_text()


def test_missing_flags_shows_the_hint(results):
    out, md_path, html_path = results
    assert not (out / "flags.json").exists()
    assert NO_FLAGS in _section(md_path.read_text(), "Flags (top 20)")
    assert NO_FLAGS in html_path.read_text()


def test_flags_table_top_20_escaped(results, tmp_path):
    out = tmp_path / "results"
    shutil.copytree(results[0], out)
    flags = [
        {
            "kind": "decision",
            "scenario": "gambit_shock",
            "council": "mixed",
            "cast": 1,
            "creature": "thorn",
            "phase": "after",
            "metric": "dir_honey",
            "standin_value": 0.8,
            "live_value": 0.3,
            "effect": -0.5,
            "ci_low": -0.6,
            "ci_high": -0.4,
            "support": 0.9,
            "n": 8,
            "score": float(i),
            "examples": [
                {
                    "episode_id": "gambit_shock.mixed.c1.s0",
                    "turn": 4,
                    "creature": "thorn",
                    "prompt": "<b>turn</b> | prices",
                    "response": "{}",
                    "standin_action": "{}",
                }
            ],
        }
        for i in range(25)
    ]
    (out / "flags.json").write_text(json.dumps({"method": {"test": "sign-flip"}, "flags": flags}))
    md_path, html_path = report.write_report(out)
    rows = _md_rows(_section(md_path.read_text(), "Flags (top 20)"))
    assert len(rows) == 20
    assert [float(r[15]) for r in rows] == [float(s) for s in range(24, 4, -1)]  # ranked by score
    html = html_path.read_text()
    assert NO_FLAGS not in html
    assert "&lt;b&gt;turn&lt;/b&gt;" in html and "<b>turn</b>" not in html


def _args(results_dir) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    report_verb.add_parser(parser.add_subparsers(), "report")
    return parser.parse_args(["report", str(results_dir)])


def test_cli_verb(results, capsys):
    args = _args(results[0])
    assert args.run is report_verb.run
    assert args.run(args) == 0
    assert "report.html" in capsys.readouterr().out


def test_missing_results_folder_is_a_clear_error(tmp_path, capsys):
    missing = tmp_path / "nowhere"
    assert main(["report", str(missing)]) == 2
    err = capsys.readouterr().err
    assert "error:" in err and "nowhere" in err and "glade eval" in err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main(["report", str(empty)]) == 2
    assert "episodes.parquet" in capsys.readouterr().err


def test_terms_define_the_names_the_report_uses(results):
    out, md_path, html_path = results
    md = md_path.read_text()
    terms = _section(md, "Terms")
    for name in (
        "turn",
        "cast",
        "legend_ratio",
        "log points",
        "path_distance\\_\\<good>",  # escaped: a bare <good> reads as an HTML tag, and Markdown viewers drop it
        "support",
        "q",
        "score",
        "interval",
    ):
        assert f"- **{name}**: " in terms
    assert "\\|ln council price - ln stand-in price\\|" in terms  # what path_distance measures (eval/stats.py)
    errors = set(pd.read_parquet(out / "decisions.parquet")["error"].dropna())
    assert all(f"- **{code}**: " in terms for code in errors)  # every error code the seat table can show
    assert "- **sell_not_held**: " not in terms  # only the codes this run produced
    assert "legend_ratio (price at settlement / before)" in _section(md, "Results")  # one name, said where shown
    assert 'id="terms"' in html_path.read_text()


def test_terms_define_the_error_codes_of_the_run(results, tmp_path):
    import shutil

    out, _, _ = results
    copy = tmp_path / "results"
    shutil.copytree(out, copy)
    decisions = pd.read_parquet(copy / "decisions.parquet")
    decisions.loc[decisions.index[:3], "error"] = ["sell_not_held", "bad_json", "both_sides"]
    decisions.to_parquet(copy / "decisions.parquet")
    terms = _section(report.write_report(copy)[0].read_text(), "Terms")
    for code in ("sell_not_held", "bad_json", "both_sides"):
        assert f"- **{code}**: " in terms


def test_the_seam_chart_and_its_table_are_one_section_in_log_points(results):
    out, md_path, _ = results
    md = md_path.read_text()
    assert len(re.findall(r"^## The legend turn", md, flags=re.M)) == 1
    section = _section(md, "The legend turn: traded or written at the seam")
    assert f"]({report.FILES}/seam-split.png)" in section and "in percent" not in md
    rows = _md_rows(section)
    assert rows
    seeds = {r[0]: int(r[7].split()[1]) for r in rows if r[1] == "all stand-in"}
    for row in rows:
        move, traded, seam = (float(re.match(r"[-+]?\d+\.\d", cell).group()) for cell in row[3:6])
        assert move == pytest.approx(traded + seam, abs=0.15)  # log points: the parts add up as shown
        assert re.search(r"\(([-+]\d+\.\d)%", row[3])  # the simple percent beside it
        if row[6] != "—" and abs(traded) + abs(seam) > 1:
            assert float(row[6].rstrip("%")) == pytest.approx(100 * abs(seam) / (abs(traded) + abs(seam)), abs=1)
        assert row[7] == f"n {seeds[row[0]]} seeds"  # a council's casts averaged per seed: n is the seeds


def test_the_run_and_cost_say_what_their_decisions_count(results):
    out, md_path, _ = results
    md = md_path.read_text()
    live = len(pd.read_parquet(out / "decisions.parquet"))
    run = _section(md, "The run")
    assert f"- **decisions**: {live:,} live (decisions.parquet" in run
    cost = json.loads((out / "summary.json").read_text()).get("cost")
    if cost:
        assert f"{cost['decisions']:,} in all, stand-in seats included" in run
        assert "split equally among the decisions it answered" in _section(md, "Cost")
