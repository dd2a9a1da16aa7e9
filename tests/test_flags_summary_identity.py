"""A summary.json or flags.json beside tables it does not describe (another run's, or a file glade
did not write) is one named error line from `glade report`, never a page that mixes two runs; the
advice for a flags.json glade cannot read is one `glade flag` then follows; flags.json and flags.md
are written atomically."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pandas as pd
import pytest
from test_walk_eval_reads import _error

from glade.cli import main

RECIPE = """\
name: identity
out: {out}
policies:
  panic: {{kind: standin, disposition: panic_seller}}
councils:
  one: {{focal: {{"*": panic}}}}
scenarios: [gambit_rumour]
seeds: {{start: {start}, count: {count}}}
turns: 6
"""


@pytest.fixture(scope="module")
def runs(tmp_path_factory):
    """Three small flagged results folders of one recipe: 4 seeds, 5 seeds, and 4 other seeds."""
    from glade.eval.recipe import load_eval_recipe
    from glade.eval.run import run_recipe

    root = tmp_path_factory.mktemp("identity")
    out = {}
    for name, start, count in (("four", 500, 4), ("five", 500, 5), ("other", 600, 4)):
        out[name] = root / name
        (root / f"{name}.yaml").write_text(RECIPE.format(out=out[name], start=start, count=count))
        run_recipe(load_eval_recipe(root / f"{name}.yaml"))
        assert main(["flag", str(out[name])]) == 0
    return out


@pytest.fixture
def copy(runs, tmp_path):
    out = tmp_path / "results"
    shutil.copytree(runs["four"], out)
    return out


# --- 1. a flags.json glade cannot read: the advice names the whole fix, and it works


@pytest.mark.parametrize("broken", ["truncated", "foreign"])
def test_the_advice_for_an_unreadable_flags_json_is_one_glade_flag_follows(copy, capsys, broken):
    text = (copy / "flags.json").read_text()
    (copy / "flags.json").write_text(text[: len(text) // 2] if broken == "truncated" else '{"foo": 1}\n')
    assert main(["report", str(copy)]) == 0
    md = (copy / "report.md").read_text()
    assert f"{copy / 'flags.json'}: not " in md
    assert "move it aside, then rerun \\`glade flag\\` on its results folder to write it again" in md
    # glade flag refuses the file, as the advice says it will
    assert "move that file aside" in _error(capsys, ["flag", str(copy)])
    (copy / "flags.json").rename(copy / "flags.json.mine")
    assert main(["flag", str(copy)]) == 0
    assert json.loads((copy / "flags.json").read_text())["tables"]


def test_write_flags_killed_mid_write_leaves_the_last_whole_files(copy, monkeypatch):
    from glade.eval.flags import flag, write_flags

    before = {name: (copy / name).read_text() for name in ("flags.json", "flags.md")}
    flagging = flag(pd.read_parquet(copy / "decisions.parquet"), pd.read_parquet(copy / "episodes.parquet"))

    def half_then_killed(self, text, *args, **kwargs):
        Path.write_bytes(self, text[: len(text) // 2].encode())
        raise KeyboardInterrupt

    monkeypatch.setattr(Path, "write_text", half_then_killed)
    with pytest.raises(KeyboardInterrupt):
        write_flags(flagging, copy)
    monkeypatch.undo()
    assert {name: (copy / name).read_text() for name in before} == before
    assert not [p.name for p in copy.iterdir() if p.name.endswith(".tmp")]


# --- 2. a summary.json that is not glade eval's, or another run's


def test_a_summary_glade_did_not_write_is_one_error_line(copy, capsys):
    (copy / "summary.json").write_text('{"foo": 1}\n')
    for verb in ("report", "flag"):
        said = _error(capsys, [verb, str(copy)])
        assert said.startswith(
            f"error: {copy / 'summary.json'}: not a summary glade eval wrote (it lacks recipe, worlds, decisions); "
            "move it aside (glade reads the tables without one), or rerun `glade eval` with the recipe that wrote "
        )
    assert not (copy / "report.md").exists()  # refused before any file of the report is written
    (copy / "summary.json").unlink()
    assert main(["report", str(copy)]) == 0  # moved aside: the report reads the tables alone


def test_another_runs_summary_is_refused_naming_what_differs(runs, copy, capsys):
    shutil.copy(runs["five"] / "summary.json", copy / "summary.json")
    said = _error(capsys, ["report", str(copy)])
    four = json.loads((runs["four"] / "summary.json").read_text())["decisions"]
    five = json.loads((runs["five"] / "summary.json").read_text())["decisions"]
    assert said.startswith(
        f"error: {copy / 'summary.json'}: another run's summary, not that of the tables beside it "
        f"(it counts {five} decision rows, decisions.parquet holds {four}); move it aside"
    )


def test_a_summary_of_other_scenario_hashes_is_refused(copy, capsys):
    summary = json.loads((copy / "summary.json").read_text())
    summary["scenario_hashes"] = {"gambit_rumour": "0000000000000000"}
    (copy / "summary.json").write_text(json.dumps(summary))
    said = _error(capsys, ["report", str(copy)])
    assert "(its scenario hash of gambit_rumour is 0000000000000000, episodes.parquet's is " in said


def test_a_summarys_tables_stamp_tells_two_runs_of_one_size_apart(runs, copy, capsys):
    # 4 seeds from 500 and 4 from 600: the same counts and hashes; only a stamp of the ids parts them
    # (flags.json carries one; summary.json where glade eval stamps it)
    from glade.eval.results_folder import tables_identity

    other = json.loads((runs["other"] / "summary.json").read_text())
    stamp = lambda folder: tables_identity(
        len(pd.read_parquet(folder / "decisions.parquet", columns=["episode_id"])),
        pd.read_parquet(folder / "episodes.parquet", columns=["episode_id"]),
    )
    (copy / "summary.json").write_text(json.dumps({**other, "tables": stamp(runs["other"])}))
    said = _error(capsys, ["report", str(copy)])
    assert "another run's summary, not that of the tables beside it (it was made from " in said
    own = json.loads((runs["four"] / "summary.json").read_text())
    (copy / "summary.json").write_text(json.dumps({**own, "tables": stamp(copy)}))
    assert main(["report", str(copy)]) == 0


# --- 2. a flags.json of another run


def test_another_runs_flags_are_refused_by_their_stamp(runs, copy, capsys):
    for name in ("five", "other"):
        shutil.copy(runs[name] / "flags.json", copy / "flags.json")
        said = _error(capsys, ["report", str(copy)])
        assert said.startswith(
            f"error: {copy / 'flags.json'}: another run's flags, not those of the tables beside it (it was made from "
        )
        assert said.endswith(f"; rerun `glade flag {copy}` to flag these tables")
    assert main(["flag", str(copy)]) == 0  # the advice works: glade flag replaces a flags.json it wrote
    assert main(["report", str(copy)]) == 0


def test_flags_from_before_the_stamp_are_checked_by_their_examples(runs, copy, capsys):
    flags = json.loads((runs["five"] / "flags.json").read_text())
    del flags["tables"]
    (copy / "flags.json").write_text(json.dumps(flags))
    said = _error(capsys, ["report", str(copy)])
    assert "(its examples name " in said and "episode(s) episodes.parquet lacks, " in said and ".s504 first)" in said
    own = json.loads((runs["four"] / "flags.json").read_text())
    del own["tables"]
    (copy / "flags.json").write_text(json.dumps(own))
    assert main(["report", str(copy)]) == 0  # an older file of these tables still reads


def test_glade_eval_stamps_its_summary_and_a_rerun_keeps_no_other_runs_cost(runs, copy, capsys):
    # guards the summary's `tables` (eval/run.py) and that a rerun with nothing to play keeps the cost
    # of the summary beside it only when that summary describes these tables
    from glade.eval.results_folder import tables_identity

    own = json.loads((runs["four"] / "summary.json").read_text())
    episodes = pd.read_parquet(runs["four"] / "episodes.parquet", columns=["episode_id"])
    assert own["tables"] == tables_identity(own["decisions"], episodes)
    recipe = copy.parent / "four.yaml"
    recipe.write_text(RECIPE.format(out=copy, start=500, count=4))
    assert main(["eval", str(recipe)]) == 0  # nothing to play: the run's own cost is kept
    assert json.loads((copy / "summary.json").read_text())["cost"]["kept"] is True
    five = json.loads((runs["five"] / "summary.json").read_text())
    (copy / "summary.json").write_text(json.dumps({**five, "cost": {**five["cost"], "episodes": 99}}))
    assert main(["eval", str(recipe)]) == 0
    assert json.loads((copy / "summary.json").read_text())["cost"] is None  # not the five-seed run's
