"""Outputs of an older glade read by today's: an interrupted run it started (a started.json without
data_fingerprint) is held to the split it saved on --resume; a flags.json of its (no method) is one
stale line in every part of the report; and a results folder or rank.json it decided is noted as
decided under that commit's rules. Old-shaped files are written by hand; nothing here trains."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml

import glade.train.interrupted as interrupted
import glade.train.sft as sft
from glade.checkpoint import STARTED
from glade.train.recipe import load_train_recipe

TINY = {"hidden_size": 16, "layers": 1, "heads": 2, "kv_heads": 1, "vocab_size": 400}


# --------------------------------------------------------------------------- 1: --resume of an older glade's run


def generate_traces(out: Path, disposition: str) -> str:
    from glade.config import Seeds
    from glade.traces import GenerateRecipe, generate

    councils = {"c": {"*": disposition}}
    generate(GenerateRecipe(out=str(out), scenarios=("default",), councils=councils, seeds=Seeds(0, 2), turns=2))
    return str(out)


def older_glades_run(tmp_path: Path, monkeypatch) -> tuple:
    """An interrupted run (a trainer checkpoint left) whose started.json, as an older glade wrote it,
    has no data_fingerprint; its data/ holds the split it saved."""
    traces = generate_traces(tmp_path / "traces", "hoarder")
    recipe_path = tmp_path / "t.yaml"
    recipe_path.write_text(
        yaml.safe_dump(
            {
                "name": "t",
                "output_root": str(tmp_path / "checkpoints"),
                "model": {"base": "tiny", "tiny": TINY},
                "data": {"traces": [traces]},
                "eval": {"states": 0},
                "sft": {"max_steps": 4, "use_cpu": True, "bf16": False, "report_to": "none"},
            }
        ),
        encoding="utf-8",
    )
    recipe = load_train_recipe(recipe_path)

    def interrupted_fit(recipe, base, train_rows, eval_rows, work, *args):
        (work / "trainer" / "checkpoint-1").mkdir(parents=True)
        raise KeyboardInterrupt

    monkeypatch.setattr(sft, "_fit", interrupted_fit)
    with pytest.raises(KeyboardInterrupt):
        sft.train(recipe, log=lambda line: None)
    work = interrupted.partial_dir(recipe)
    record = json.loads((work / STARTED).read_text(encoding="utf-8"))
    fingerprint = record.pop("data_fingerprint")
    (work / STARTED).write_text(json.dumps(record), encoding="utf-8")
    fits = []
    monkeypatch.setattr(sft, "_fit", lambda recipe, base, *args: fits.append(base))
    return recipe, work, fingerprint, fits


def test_an_older_glades_run_is_not_resumed_on_regenerated_traces(tmp_path, monkeypatch):
    # before: no data_fingerprint in started.json, so --resume went on (exit 0) on the other rows
    recipe, work, before, fits = older_glades_run(tmp_path, monkeypatch)
    shutil.rmtree(recipe.data.traces[0])
    generate_traces(Path(recipe.data.traces[0]), "panic_seller")  # regenerated meanwhile, other decisions
    with pytest.raises(ValueError) as exc:
        sft.train(recipe, resume=True, log=lambda line: None)
    said = str(exc.value)
    assert said.startswith(
        f"{work}: its run, started by an older glade, trained on other data than is prepared now (the split it "
        f"saved has data fingerprint {before[:8]}, now "
    )
    assert said.endswith("rerun with --restart to discard it and train on the data as it is now")
    assert fits == [] and "data_fingerprint" not in json.loads((work / STARTED).read_text(encoding="utf-8"))


def test_an_older_glades_run_without_a_readable_split_is_refused_in_one_line(tmp_path, monkeypatch):
    # before: resumed unchecked; now its data cannot be checked, so it is refused, the way out named
    recipe, work, _, fits = older_glades_run(tmp_path, monkeypatch)
    (work / "data" / "train.parquet").unlink()
    with pytest.raises(ValueError) as exc:
        sft.train(recipe, resume=True, log=lambda line: None)
    said = str(exc.value)
    assert said.startswith(f"{work}: its run was started by an older glade that recorded no data fingerprint")
    assert said.endswith("rerun with --restart to discard it and train on the data as it is now")
    assert "\n" not in said and fits == []


def test_check_data_holds_a_record_without_a_fingerprint_to_the_saved_split(tmp_path):
    # before: a record without data_fingerprint passed any data
    from datasets import Dataset

    from glade.train.data import DataConfig, fingerprint, save_prepared

    (tmp_path / STARTED).write_text(json.dumps({"recipe": {"model": {"base": "tiny"}}, "source": None}))
    (tmp_path / "trainer" / "checkpoint-2").mkdir(parents=True)
    chat = [{"role": "user", "content": "hi"}, {"role": "assistant", "content": "{}"}]
    train, held = Dataset.from_dict({"messages": [chat]}), Dataset.from_dict({"messages": [chat[:1]]})
    save_prepared(tmp_path / "data", train, held, {"train": 1}, DataConfig(traces=("x",)))
    interrupted.check_data(tmp_path, fingerprint(train, held))
    with pytest.raises(ValueError, match=rf"has data fingerprint {fingerprint(train, held)[:8]}, now fedcba98"):
        interrupted.check_data(tmp_path, "fedcba9876543210")


# --------------------------------------------------------------------------- 2 and 3: glade report on an older glade's files

RECIPE = """\
name: old
out: {out}
policies:
  panic: {{kind: standin, disposition: panic_seller}}
councils:
  one_model: {{focal: {{"*": panic}}}}
scenarios: [gambit_rumour]
seeds: {{start: 500, count: 4}}
turns: 6
"""


@pytest.fixture(scope="module")
def results(tmp_path_factory):
    from glade.cli import main
    from glade.eval.recipe import load_eval_recipe
    from glade.eval.run import run_recipe

    root = tmp_path_factory.mktemp("older_glade")
    out = root / "results"
    (root / "recipe.yaml").write_text(RECIPE.format(out=out), encoding="utf-8")
    run_recipe(load_eval_recipe(root / "recipe.yaml"))
    assert main(["flag", str(out)]) == 0 and main(["rank", str(out)]) == 0
    return out


@pytest.fixture
def copy(results, tmp_path):
    out = tmp_path / "results"
    shutil.copytree(results, out, ignore=shutil.ignore_patterns("shards"))
    return out


def section(md: str, title: str) -> str:
    return md.split(f"## {title}", 1)[1].split("\n## ", 1)[0]


def test_a_plain_list_flags_json_is_one_stale_line_in_the_lead_and_the_flags_section(copy):
    # before: the lead read "? flags in 0 families, from ? cells tested (FDR q = ?)" and "*no flags*",
    # while the flags section listed "1 flag(s) in flags.json" with q "—"
    from glade.eval import report

    flag = {
        "kind": "decision", "scenario": "gambit_rumour", "council": "one_model", "cast": 0, "creature": "oona",
        "phase": "seam", "policy": "panic", "metric": "honey: sell share", "instead": None, "standin_value": 0.0,
        "live_value": 1.0, "effect": 1.0, "ci_low": 0.5, "ci_high": 1.0, "support": 1.0, "rank": 1,
    }  # fmt: skip
    (copy / "flags.json").write_text(json.dumps([flag]), encoding="utf-8")  # an older glade's: no method
    md = report.write_report(copy)[0].read_text(encoding="utf-8")
    stale = f"{copy / 'flags.json'}: not what glade flag writes now (written by an older glade"
    lead = section(md, "What this evaluation says")
    assert stale in lead and "? flags" not in lead and "*no flags*" not in lead
    assert "flag(s) in flags.json" not in md and md.count(stale) == 2


def older_commit() -> tuple[str, str]:
    from glade.provenance import git_commit

    now = git_commit()
    if now is None:
        pytest.skip("glade runs from no git checkout here: no commit to compare with")
    return now, "0" * 40 if now != "0" * 40 else "1" * 40


def test_verdicts_an_older_glade_decided_are_noted_as_its_own(copy):
    # before: summary.json's verdicts were shown as stored, without a word of the commit whose rules decided them
    from glade.eval import report

    now, old = older_commit()
    assert "decided by glade" not in report.write_report(copy)[0].read_text(encoding="utf-8")
    summary = json.loads((copy / "summary.json").read_text(encoding="utf-8"))
    summary["git_commit"] = old
    (copy / "summary.json").write_text(json.dumps(summary), encoding="utf-8")
    md, page = (path.read_text(encoding="utf-8") for path in report.write_report(copy))
    lead = section(md, "What this evaluation says")
    note = f"The verdicts below were decided by glade at commit {old} (this report: {now}); rerun"
    assert note in lead and f"(out={copy}) for today's rules" in lead and note in page
    assert md.count("decided by glade") == 1  # its own rank.json was ranked by this glade


def test_a_board_an_older_glade_ranked_is_noted_as_its_own(copy):
    # before: rank.json was rendered as stored (its intervals under that commit's seed floor), without a word
    from glade.eval import report

    now, old = older_commit()
    board = json.loads((copy / "rank.json").read_text(encoding="utf-8"))
    board["provenance"]["git_commit"] = old
    (copy / "rank.json").write_text(json.dumps(board), encoding="utf-8")
    md = report.write_report(copy)[0].read_text(encoding="utf-8")
    board_section = section(md, "Leaderboard")
    assert f"This board was decided by glade at commit {old} (this report: {now}); rerun" in board_section
    assert f"glade rank {copy}\\` for today's rules" in board_section
    assert md.count("decided by glade") == 1
