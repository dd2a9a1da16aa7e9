"""A results or traces folder keeps apart what its readers would merge: rows of another recipe
under a ledger from an older glade (glade.resume_upgrade), and two models whose folders share a
name (glade.traces.check_identities)."""

from __future__ import annotations

import json
import shutil

import pytest
from resume_setup import eval_recipe, files, generate_recipe, interrupt_second_batch, written

from glade import traces as gen
from glade.cli import main
from glade.config import Seeds, load_recipe
from glade.eval import run as eval_run
from glade.eval.recipe import load_eval_recipe


def as_older_glade_wrote_it(folder):
    """The ledger as glade wrote it before it held the recipe: episode id -> part."""
    progress = folder / "progress.json"
    old = {e: v["part"] for e, v in json.loads(progress.read_text())["episodes"].items()}
    progress.write_text(json.dumps(old))
    return old


# --- an older ledger resumes only under the recipe that played it ------------------------------


def test_an_older_eval_ledger_is_not_resumed_under_another_recipe(tmp_path, capsys):
    path = eval_recipe(tmp_path, seeds={"start": 0, "count": 2})
    eval_run.run_recipe(load_eval_recipe(path))
    results = tmp_path / "results"
    as_older_glade_wrote_it(results)
    before = files(results)
    changed = ["policies.panic=hoarder", "seeds.count=3"]
    with pytest.raises(ValueError, match=r"holds a run of another recipe \(policies.panic: panic_seller -> hoarder"):
        eval_run.evaluate(load_eval_recipe(path, changed))
    assert main(["eval", str(path), *changed]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "seeds.count: 2 -> 3" in err and "choose another out" in err
    assert files(results) == before  # nothing kept as the new recipe's, the ledger not relabelled


def test_an_older_eval_ledger_of_the_same_recipe_resumes_and_is_upgraded(tmp_path):
    path = eval_recipe(tmp_path, seeds={"start": 0, "count": 2})
    eval_run.run_recipe(load_eval_recipe(path))
    old = as_older_glade_wrote_it(tmp_path / "results")
    result = eval_run.evaluate(load_eval_recipe(path, ["worlds=3"]))  # worlds cannot change the rows
    assert result.played_now == 0 and result.worlds == len(old)
    ledger = json.loads((tmp_path / "results" / "progress.json").read_text())
    assert ledger["format"] == 2 and ledger["recipe"]["policies"] == {"panic": "panic_seller"}


def test_an_older_generate_ledger_of_another_recipe_is_refused(tmp_path):
    path = generate_recipe(tmp_path)
    gen.generate(load_recipe(gen.GenerateRecipe, path))
    as_older_glade_wrote_it(tmp_path / "traces")
    with pytest.raises(ValueError, match=r"holds a run of another recipe \(councils.hoarders.\*: hoarder -> balanced"):
        gen.generate(load_recipe(gen.GenerateRecipe, path, ["councils.hoarders.*=balanced"]))
    with pytest.raises(ValueError, match=r"holds a run of another recipe"):  # the dry run refuses it too
        gen.dry_run(load_recipe(gen.GenerateRecipe, path, ["councils.hoarders.*=balanced"]))


def test_an_older_ledger_is_read_with_its_seats_as_the_ledger_records_them(tmp_path):
    # recipe.yaml holds a disposition file as a path; the ledger's recipe holds its parameters too
    disposition = written(tmp_path / "careful.yaml", {"name": "careful", "horizon": 3, "hoard_units": 4})
    path = generate_recipe(tmp_path, councils={"careful": {"*": {"kind": "standin", "disposition": str(disposition)}}})
    gen.generate(load_recipe(gen.GenerateRecipe, path))
    as_older_glade_wrote_it(tmp_path / "traces")
    assert gen.generate(load_recipe(gen.GenerateRecipe, path))["played_now"] == 0
    assert json.loads((tmp_path / "traces" / "progress.json").read_text())["format"] == 2


def test_an_older_ledger_that_nothing_names_a_recipe_for_is_refused(tmp_path, monkeypatch):
    path = generate_recipe(tmp_path)
    restore = interrupt_second_batch(monkeypatch, gen)
    with pytest.raises(KeyboardInterrupt):
        gen.generate(load_recipe(gen.GenerateRecipe, path))
    restore()
    traces = tmp_path / "traces"
    assert not (traces / "recipe.yaml").exists()  # a run cut short writes none
    as_older_glade_wrote_it(traces)
    before = files(traces)
    message = r"written by an older glade and records no recipe.*move the folder aside, or choose another out"
    with pytest.raises(ValueError, match=message):
        gen.generate(load_recipe(gen.GenerateRecipe, path))
    assert files(traces) == before


# --- generate: two models whose folders share a name --------------------------------------------


def hf(model, adapter=None):
    return {"kind": "hf", "model": str(model), "max_new_tokens": 8} | ({"adapter": str(adapter)} if adapter else {})


def test_generate_refuses_two_adapters_in_folders_of_one_name(tmp_path, tiny, adapters, capsys):
    for run, name in (("a", "hoarder"), ("b", "panic")):
        shutil.copytree(adapters[name], tmp_path / "runs" / run / "final")
    seat = {run: hf(tiny, tmp_path / "runs" / run / "final") for run in "ab"}
    path = generate_recipe(tmp_path, councils={"A": {"oona": seat["a"]}, "B": {"oona": seat["b"]}}, turns=1)
    assert main(["generate", str(path), "seeds.count=1"]) == 2
    err = capsys.readouterr().err
    assert err.count("error:") == 1 and "seeds.count=1: councils: A.oona (adapter " in err and "hf:tiny+final" in err
    assert not (tmp_path / "traces").exists()
    recipe = load_recipe(gen.GenerateRecipe, path)
    with pytest.raises(ValueError) as refused:
        gen.generate(recipe)
    message = str(refused.value)
    assert "\n" not in message and "A.oona (adapter " + str(tmp_path / "runs" / "a" / "final") + ")" in message
    assert "B.oona (adapter " + str(tmp_path / "runs" / "b" / "final") + ")" in message
    assert "both write policy hf:tiny+final" in message and "give one of the folders a name of its own" in message


def test_eval_refuses_two_models_in_folders_of_one_name_before_it_plays(tmp_path, tiny, adapters, capsys):
    # glade rank would refuse the rows afterwards; eval says so before it plays
    for run, name in (("a", "hoarder"), ("b", "panic")):
        shutil.copytree(adapters[name], tmp_path / "runs" / run / "final")
    policies = {run: hf(tiny, tmp_path / "runs" / run / "final") for run in "ab"}
    councils = {"A": {"focal": {"oona": "a"}}, "B": {"focal": {"oona": "b"}}}
    path = eval_recipe(tmp_path, policies=policies, councils=councils)
    assert main(["eval", str(path)]) == 2
    err = capsys.readouterr().err
    assert (
        err.count("error:") == 1 and "policies: a (adapter " + str(tmp_path / "runs" / "a" / "final") + ") and b" in err
    )
    assert "both write policy hf:tiny+final in the rows" in err
    assert not (tmp_path / "results").exists()


def test_generate_refuses_two_base_models_in_folders_of_one_name(tmp_path):
    for owner in ("qwen", "me"):
        (tmp_path / owner / "x").mkdir(parents=True)
    councils = {"A": {"oona": hf(tmp_path / "qwen" / "x")}, "B": {"*": hf(tmp_path / "me" / "x")}}
    recipe = gen.GenerateRecipe(out=str(tmp_path / "traces"), councils=councils, seeds=Seeds(0, 1), turns=1)
    with pytest.raises(ValueError, match=r"A.oona \(model .*qwen/x\) and B.\* \(model .*me/x\) .* policy hf:x in"):
        gen.generate(recipe)
    assert not (tmp_path / "traces").exists()


def test_one_model_spelled_two_ways_is_one_model(tmp_path):
    (tmp_path / "runs" / "a" / "final").mkdir(parents=True)
    (tmp_path / "runs" / "b").mkdir()
    spelled = [tmp_path / "runs" / "a" / "final", tmp_path / "runs" / "b" / ".." / "a" / "final"]
    councils = {"A": {"oona": hf("tiny", spelled[0])}, "B": {"oona": hf("tiny", spelled[1])}}
    gen.check_identities(gen.GenerateRecipe(out=str(tmp_path / "traces"), councils=councils))  # no refusal


def test_validate_fails_an_eval_recipe_whose_out_the_run_would_refuse(tmp_path, capsys):
    # was "ok" (generate's recipes were checked against their ledger; eval's were not), then
    # `glade eval` refused the folder straight away
    path = eval_recipe(tmp_path, seeds={"start": 0, "count": 2})
    assert main(["eval", str(path)]) == 0
    capsys.readouterr()
    assert main(["validate", str(path), "--kind", "eval", "seeds.count=3"]) == 2
    said = capsys.readouterr().out
    assert said.startswith(f"FAIL   {path} with seeds.count=3: out: {tmp_path / 'results'}: holds a run of another")
    assert "seeds.count: 2 -> 3" in said
    assert main(["validate", str(path), "--kind", "eval"]) == 0  # its own run: a rerun would go on
    assert main(["eval", str(path), "seeds.count=3", "--dry-run"]) == 2  # the run says it before anything
    assert f"error: {path} with seeds.count=3: out: " in capsys.readouterr().err
