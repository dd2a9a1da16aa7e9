"""`glade flag` and `glade report` on results folders as users leave them: a council whose every
world had seat faults, a summary.json from a glade before some lesson, `--top 0`, a PNG of the
user's own in report_files/, two names whose figure files would slug alike."""

from __future__ import annotations

import json
import shutil

import pytest

from glade.cli import main
from glade.eval import report
from glade.eval.report.plots import Chart

# one live council, and one whose only live seat is a server nobody listens on: every turn of it
# is a fault (refused at once), so every world of that council is left out
RECIPE = """\
name: review
out: {out}
policies:
  panic: {{kind: standin, disposition: panic_seller}}
  dead: {{kind: server, base_url: "http://127.0.0.1:9/v1", model: x, retries: 0, timeout: 0.2}}
councils:
  one_model: {{focal: {{"*": panic}}}}
  deadc: {{focal: {{oona: dead}}}}
scenarios: [gambit_rumour]
seeds: {{start: 500, count: 6}}
turns: 6
max_fault_share: 1.0
levers:
  - {{name: glut, from: gambit_rumour, to: gambit_shock}}
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    from glade.eval.recipe import load_eval_recipe
    from glade.eval.run import run_recipe

    root = tmp_path_factory.mktemp("flag_report_review")
    out = root / "results"
    (root / "recipe.yaml").write_text(RECIPE.format(out=out))
    run_recipe(load_eval_recipe(root / "recipe.yaml"))
    assert main(["flag", str(out)]) == 0
    return out


@pytest.fixture
def copy(results, tmp_path):
    out = tmp_path / "results"
    shutil.copytree(results, out, ignore=shutil.ignore_patterns("shards"))
    return out


def _section(md: str, title: str) -> str:
    return md.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def test_a_council_whose_every_world_faulted_is_named_in_the_run(copy):
    md = report.write_report(copy)[0].read_text()
    run = _section(md, "The run")
    councils = next(line for line in run.splitlines() if line.startswith("- **councils**"))
    # it used to vanish: "one_model (*: panic; 1 cast)" alone, as if the recipe had one council
    assert councils == (
        "- **councils**: one_model (*: panic; 1 cast); deadc (oona: dead; every world left out: a seat failed "
        "to answer in each (seat faults))"
    )


def test_a_summary_from_before_a_lesson_gets_it_from_the_tables(copy):
    summary = json.loads((copy / "summary.json").read_text())
    summary["verdicts"] = {"robustness": summary["verdicts"]["robustness"]}  # an older glade's summary
    (copy / "summary.json").write_text(json.dumps(summary))
    md = report.write_report(copy)[0].read_text()
    lessons = _section(md, "What this evaluation says")
    assert "the recipe names no levers" not in lessons  # it has one
    assert "- glut (gambit_rumour -> gambit_shock, effect on legend_ratio): all stand-in" in lessons


def test_flag_top_0_lists_every_family_under_one_heading(copy):
    assert main(["flag", str(copy), "--top", "0"]) == 0
    md = (copy / "flags.md").read_text()
    families = json.loads((copy / "flags.json").read_text())["families"]
    assert families  # the fixture's one_model council parts ways with the stand-in at 6 seeds
    assert "## Families (top 0)" not in md and "## The other families" not in md
    listed = _section(md, "Families")
    assert [line.split(".")[0] for line in listed.strip().splitlines()] == [str(f["family"]) for f in families]


def test_flag_top_minus_one_is_bad_input(copy, capsys):
    assert main(["flag", str(copy), "--top", "-1"]) == 2
    assert "--top: must be at least 0" in capsys.readouterr().err


def test_report_leaves_a_png_of_the_users_own(copy):
    files = copy / report.FILES
    files.mkdir(exist_ok=True)
    (files / "my-notes.png").write_bytes(b"mine")
    (files / "prices-a_scenario_gone.png").write_bytes(b"an older report's figure")
    report.write_report(copy)
    assert (files / "my-notes.png").read_bytes() == b"mine"
    assert not (files / "prices-a_scenario_gone.png").exists()
    report.write_report(copy)  # twice: the same files
    assert sorted(p.name for p in files.iterdir()) == sorted(
        ["my-notes.png", "agreement-one_model.png", "gambit-pnl.png", "prices-gambit_rumour.png", "seam-split.png"]
        + ["prices-gambit_shock.png"]
    )


def test_figures_whose_names_slug_alike_get_files_of_their_own():
    from glade.eval.report.render import unique_names

    figures = [
        Chart("agreement-one_model.png", "Agreement: one model", "", b"1"),
        Chart("agreement-one_model.png", "Agreement: one_model", "", b"2"),
        Chart("agreement-One_model.png", "Agreement: One_model", "", b"3"),
        Chart("gambit-pnl.png", "Gambit P&L", "", b"4"),
    ]
    names = [f.name for f in unique_names(figures)]
    assert names == [
        "agreement-one_model.png",
        "agreement-one_model-2.png",
        "agreement-One_model-3.png",
        "gambit-pnl.png",
    ]
    assert [f.png for f in unique_names(figures)] == [b"1", b"2", b"3", b"4"]


def test_the_run_names_the_glade_that_flagged_and_says_when_it_was_not_the_evaluations(copy):
    from glade.provenance import stamp

    commit = stamp().get("git_commit")
    md = report.write_report(copy)[0].read_text()
    run = _section(md, "The run")
    flagged = next(line for line in run.splitlines() if line.startswith("- **flags**"))
    assert flagged.startswith("- **flags**: glade ") and "not the evaluation's" not in flagged
    assert (f"commit {commit}" in flagged) if commit else "commit" not in flagged
    # flags.json written by other code than the evaluation: the report says so
    summary = json.loads((copy / "summary.json").read_text())
    summary["git_commit"] = summary.get("git_commit") or "1" * 40  # a checkout without git stamps none
    (copy / "summary.json").write_text(json.dumps(summary))
    flags = json.loads((copy / "flags.json").read_text())
    flags["provenance"]["git_commit"] = "0" * 40
    (copy / "flags.json").write_text(json.dumps(flags))
    run = _section(report.write_report(copy)[0].read_text(), "The run")
    assert f"- **flags**: glade {flags['provenance']['glade_version']}, commit {'0' * 40} (not the evaluation's)" in run
