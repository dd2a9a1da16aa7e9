"""glade.run_limits: the run limits generate and eval share, declared alike and refused alike."""

import dataclasses

import pytest
import yaml

from glade.config import ConfigError, Seeds
from glade.eval.recipe import EvalRecipe
from glade.meter import Calibration, Plan
from glade.rollout import RolloutStats
from glade.run_limits import LIMIT_KEYS, check, results_recipe
from glade.traces import GenerateRecipe, generate


def test_both_recipes_declare_the_limits_alike():
    # guards the one copy the YAML format keeps: each recipe's own flat fields, same type and default
    fields = [{f.name: f for f in dataclasses.fields(cls)} for cls in (GenerateRecipe, EvalRecipe)]
    for key in LIMIT_KEYS:
        one, other = fields[0][key], fields[1][key]
        assert (one.type, one.default) == (other.type, other.default), key


def test_a_generate_recipe_keeps_its_results_recipe_without_run_only_keys():
    # guards the one results_recipe on a generate recipe: limits and worlds leave it, seats lose transport keys
    seat = {"kind": "server", "base_url": "http://a:1/v1", "model": "m"}
    base = GenerateRecipe(out="a", councils={"c": {"oona": seat}})
    moved = GenerateRecipe(
        out="b", councils={"c": {"oona": {**seat, "base_url": "http://b:2/v1"}}}, worlds=3, max_tokens=9
    )
    assert results_recipe(moved) == results_recipe(base)
    assert "base_url" not in results_recipe(base)["councils"]["c"]["oona"] and "out" not in results_recipe(base)


def test_worlds_decides_the_rows_of_a_seat_that_samples_by_batch(tmp_path):
    # the hf engine seeds each batched generate once: a sampled row's draws follow the rows beside it
    import json

    from glade.resume import ShardLog

    def recipe(worlds, **gen):
        seat = {"kind": "checkpoint", "path": "shipped:tiny-base", **gen}
        return results_recipe(GenerateRecipe(out="a", councils={"c": {"*": seat}}, worlds=worlds))

    assert recipe(2, temperature=1.0) != recipe(3, temperature=1.0)
    assert recipe(2, temperature=1.0)["worlds"] == 2
    assert recipe(2) == recipe(3) and recipe(2, temperature=0.0) == recipe(3, temperature=0.0)
    assert recipe(2, temperature=1.0, engine="vllm") == recipe(3, temperature=1.0, engine="vllm")  # seeded per row
    # each chunk of batch_size rows is seeded once: the batch size decides a sampled seat's draws too
    assert recipe(2, temperature=1.0, batch_size=2) != recipe(2, temperature=1.0, batch_size=4)
    assert recipe(2, temperature=1.0, batch_size=32) == recipe(2, temperature=1.0)  # the default, said or not
    assert recipe(2, batch_size=2) == recipe(2, batch_size=4)
    log = ShardLog(tmp_path, {"traces": "data/part-{part:05d}.parquet"})
    played = recipe(2, temperature=1.0)
    (tmp_path / "progress.json").write_text(json.dumps({"format": 2, "recipe": played, "episodes": {}}))
    log.check(played)
    with pytest.raises(ValueError, match=r"holds a run of another recipe \(worlds: 2 -> 3\)"):
        log.check(recipe(3, temperature=1.0))
    # a ledger written before worlds was recorded does not say which it played: not asked
    older = {k: v for k, v in played.items() if k != "worlds"}
    (tmp_path / "progress.json").write_text(json.dumps({"format": 2, "recipe": older, "episodes": {}}))
    log.check(recipe(3, temperature=1.0))
    # nor one written before a sampled seat's batch_size was recorded; one that records it is asked
    played = recipe(2, temperature=1.0, batch_size=2)
    older = {
        **played,
        "councils": {"c": {"*": {k: v for k, v in played["councils"]["c"]["*"].items() if k != "batch_size"}}},
    }
    (tmp_path / "progress.json").write_text(json.dumps({"format": 2, "recipe": older, "episodes": {}}))
    log.check(recipe(2, temperature=1.0, batch_size=4))
    (tmp_path / "progress.json").write_text(json.dumps({"format": 2, "recipe": played, "episodes": {}}))
    with pytest.raises(ValueError, match=r"holds a run of another recipe \(councils.c.\*.batch_size: 2 -> 4\)"):
        log.check(recipe(2, temperature=1.0, batch_size=4))


def test_check_counts_only_with_a_limit_and_calibrates_only_for_max_tokens():
    plan = Plan(episodes=1, world_turns=5, decisions={"m": 5}, free=frozenset())
    calls = []
    count = lambda: calls.append("count") or plan
    calibrate = lambda: calls.append("calibrate") or Calibration(RolloutStats(), world_turns=1, worlds=1)
    check(GenerateRecipe(out="o"), count, calibrate, "r.yaml")
    assert calls == []
    check(GenerateRecipe(out="o", max_decisions=5), count, calibrate, "r.yaml")
    assert calls == ["count"]
    with pytest.raises(ValueError, match=r"^r\.yaml: max_decisions: this run would ask model seats for 5 decisions"):
        check(GenerateRecipe(out="o", max_decisions=4), count, calibrate, "r.yaml")


SEAT = {"kind": "python", "entry_point": "tests.planted:changed_standin", "kwargs": {}}  # a model seat to the meter


@pytest.mark.parametrize("source", [None, "gen.yaml with max_decisions=1"])
def test_generate_and_eval_begin_a_limit_refusal_alike(tmp_path, source):
    # guards the one check both verbs call: the source their caller names (the recipe file), else the out folder
    from glade.eval.recipe import CouncilSpec
    from glade.eval.run import evaluate

    said = "{}: max_decisions: this run would ask model seats for 3 decisions, more than the 1 allowed"
    runs = [
        (generate, GenerateRecipe(str(tmp_path / "g"), councils={"c": {"oona": SEAT}}, seeds=Seeds(0, 1), turns=3, max_decisions=1)),
        (
            evaluate,
            EvalRecipe(
                "e", str(tmp_path / "e"), {"p": SEAT}, {"c": CouncilSpec({"oona": "p"})}, ("default",),
                turns=3, max_decisions=1, seeds=Seeds(0, 1),
            ),
        ),
    ]  # fmt: skip
    for run, recipe in runs:
        with pytest.raises(ValueError) as info:
            run(recipe, source=source)
        assert str(info.value).startswith(said.format(recipe.out if source is None else source))


@pytest.mark.parametrize("key, value, said", [
    ("max_fault_share", 1.01, "max_fault_share: must be between 0 and 1, got 1.01"),
    ("max_decisions", 0, "max_decisions: must be at least 1 (or left out: no limit)"),
    ("max_tokens", 0, "max_tokens: must be at least 1 (or left out: no limit)"),
])  # fmt: skip
def test_a_generate_recipe_limit_out_of_range_is_one_line_naming_the_file(tmp_path, key, value, said):
    from glade.traces import load_generate_recipe

    path = tmp_path / "gen.yaml"
    path.write_text(yaml.safe_dump({"out": str(tmp_path / "traces"), key: value}))
    with pytest.raises(ConfigError) as info:
        load_generate_recipe(path)
    assert str(info.value) == f"{path}: {said}"
