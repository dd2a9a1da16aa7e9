"""The model card and model-index of `glade export`: lm-eval's scores as `glade lm-eval` writes
them, and council results told apart: this model's own seat (its decisions) from the outcome
of the whole council it sat in, which every seat of that council shares."""

import json
import shutil

import pytest
import torch
import yaml

from glade.cli import main
from glade.traces import GenerateRecipe, generate
from glade.train.data import DataConfig, prepare, save_prepared
from glade.train.tiny import save_tiny

torch.set_num_threads(1)


@pytest.fixture(scope="module")
def ckpt(tmp_path_factory):
    """A full-model checkpoint as glade writes one (the tiny base, meta.json, recipe.yaml and its
    held-out split), trained on nothing: the card is what is tested, not the model."""
    root = tmp_path_factory.mktemp("card")
    generate(
        GenerateRecipe(
            out=str(root / "traces"), scenarios=("default",), councils={"hoarders": {"*": "hoarder"}}, turns=2, worlds=4
        )
    )
    folder = save_tiny(root / "creature__0__20260101-000000")
    meta = {"name": "creature", "seed": 0, "kind": "full", "base_model": None, "metrics": {"valid_json_rate": 0.75}}
    (folder / "meta.json").write_text(json.dumps(meta))
    (folder / "recipe.yaml").write_text(yaml.safe_dump({"name": "creature"}))
    config = DataConfig(traces=(str(root / "traces"),), eval_share=0.25, split_seed=0)
    save_prepared(folder / "data", *prepare(config), config)
    return folder


def export(ckpt, out, *extra):
    from huggingface_hub import ModelCard

    assert main(["export", str(ckpt), "--repo-id", "alice/creature", "--out", str(out), *extra]) == 0
    return ModelCard.load(out / "README.md")


def test_lm_eval_scores_reach_the_model_index_and_the_card(ckpt, tmp_path):
    source = tmp_path / ckpt.name
    shutil.copytree(ckpt, source)
    assert main(["lm-eval", str(source), "--limit", "2", "--batch-size", "2"]) == 0
    written = json.loads((source / "lm_eval" / "results.json").read_text())  # as glade lm-eval wrote it
    card = export(source, tmp_path / "out")
    found = {
        (r.dataset_type, r.metric_type): r.metric_value
        for r in card.data.eval_results
        if r.dataset_type.startswith("lm-eval/")
    }
    expected = {
        (f"lm-eval/{task}", metric): value
        for task, metrics in written["scores"].items()
        for metric, value in metrics.items()
    }
    assert found == pytest.approx(expected, rel=5e-4)  # 4 significant digits (model_index.rounded)
    assert ("lm-eval/glade_decision_gen", "valid_json") in found and ("lm-eval/glade_direction_mc", "acc") in found
    assert (
        "lm-eval (`glade lm-eval`, written to the checkpoint's lm_eval/results.json, not in this repository): the value and stderr are lm-eval's"
        in card.text
    )
    stderr = written["stderr"]["glade_direction_mc"]["acc"]
    episodes = written["intervals"]["glade_direction_mc"]["acc"]["n"]  # 2 documents: too few episodes for a CI
    assert (
        f"| glade_direction_mc | acc | {written['scores']['glade_direction_mc']['acc']:.4f} | {stderr:.4f} | 2 | "
        in (card.text)
    ) and f", too few episodes for an interval | {episodes} |" in card.text


def test_a_results_json_without_scores_is_a_clear_error(ckpt, tmp_path, capsys):
    source = tmp_path / ckpt.name
    shutil.copytree(ckpt, source)
    (source / "lm_eval").mkdir()
    (source / "lm_eval" / "results.json").write_text(json.dumps({"results": {"wood": {"acc,none": 0.5}}}))
    argv = ["export", str(source), "--repo-id", "alice/creature", "--out", str(tmp_path / "out")]
    assert main(argv) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert (
        "results.json: not the results glade lm-eval writes (scores must be an object, not missing); rerun glade lm-eval"
        in err
    )
    assert not (tmp_path / "out").exists()


def council(ckpt, folder, flags=True):
    """An evaluation in which this checkpoint sat as `creature_model` in council `mixed` beside
    `rival` (another checkpoint); `solo` seated only `other_model`."""
    folder.mkdir()
    effect = lambda mean: {"effect": {"mean": mean, "ci": [mean - 1, mean + 1], "support": 0.8}}
    decision = lambda council, policy, identity: {"council": council, "policy": policy, "policy_identity": [identity]}
    summary = {
        "recipe": "crash-gambit",
        "policies": [f"hf:base+{ckpt.name}", "hf:base+rival__0__1", "hf:base+other__0__1"],
        "decision": [
            decision("mixed", "creature_model", f"hf:base+{ckpt.name}"),
            decision("mixed", "rival", "hf:base+rival__0__1"),
            decision("solo", "other_model", "hf:base+other__0__1"),
        ],
        "seats": [
            {
                "council": "mixed",
                "policy": "creature_model",
                "decisions": 96,
                "valid_action": {"mean": 0.875, "ci": [0.75, 0.95], "n": 8},
                "errors": {"no_pebbles": 12},
            },
            {"council": "mixed", "policy": "rival", "decisions": 96, "valid_action": {"mean": 0.5, "ci": None}},
        ],
        "outcome": [
            {"scenario": "gambit_rumour", "council": "mixed", "figures": {"gambit_pnl": effect(-2.5)}},
            {"scenario": "gambit_rumour", "council": "solo", "figures": {"gambit_pnl": effect(9.0)}},
        ],
    }
    flag = lambda kind, council, policy, metric: {
        "kind": kind, "scenario": "gambit_rumour", "council": council, "cast": 0 if kind == "decision" else None,
        "creature": "oona" if kind == "decision" else None, "phase": "seam" if kind == "decision" else None,
        "policy": policy, "metric": metric, "instead": None, "standin_value": 0.0, "live_value": 1.0,
        "effect": 1.0, "ci_low": 0.5, "ci_high": 1.0, "support": 1.0, "rank": 1,
    }  # fmt: skip
    (folder / "summary.json").write_text(json.dumps(summary))
    if flags:
        found = [
            flag("decision", "mixed", "creature_model", "honey: sell share"),
            flag("decision", "mixed", "rival", "acorns: buy share"),
            flag("decision", "solo", "other_model", "berries: buy share"),
            flag("outcome", "mixed", None, "gambit_pnl"),
            flag("outcome", "solo", None, "volume"),
        ]
        (folder / "flags.json").write_text(json.dumps(found))
    return folder


def test_council_outcomes_are_labelled_the_whole_councils_and_its_seat_its_own(ckpt, tmp_path):
    card = export(ckpt, tmp_path / "out", "--council", str(council(ckpt, tmp_path / "council")))
    by = {}
    for r in card.data.eval_results:
        by.setdefault(r.dataset_type, {})[(r.dataset_config, r.dataset_split, r.metric_type)] = r
    # this model's own seat: its valid-action rate and its own decision flags (not rival's)
    seat = by["glade/council-seat"]
    assert seat[("creature_model", "mixed", "valid_action_rate")].metric_value == 0.875
    assert seat[("creature_model", "mixed", "decision_flags")].metric_value == 1
    # the council's outcome: named as the whole council's, with every seat of it, never a bare metric
    whole = by["glade/council-outcome"]
    effect = whole[("gambit_rumour", "mixed", "council_gambit_pnl_effect")]
    assert effect.metric_value == -2.5
    assert effect.task_name == "outcome effect vs the stand-in world of the whole council mixed, not this model's alone"
    assert effect.dataset_args == {"council": "mixed", "seats": "creature_model (this model), rival (rival__0__1)"}
    assert whole[(None, "mixed", "council_outcome_flags")].metric_value == 1  # solo's outcome flag is not counted
    assert not any(k[1] == "solo" for k in whole)  # a council it did not sit in
    assert not [
        r.metric_type for r in card.data.eval_results if r.metric_type in ("outcome_flags", "gambit_pnl_effect")
    ]
    text = card.text
    assert "### The councils it sat in (whole-council results, not this model's alone)" in text
    assert "Council mixed seated: creature_model (this model), rival (rival__0__1)." in text
    assert "| mixed | creature_model | 96 | 0.8750 | [0.7500, 0.9500] | - | - | 8 seeds | no_pebbles 12 |" in text
    assert "Decision flags of its seat (top 1 of 1)" in text and "honey: sell share" in text
    assert "Council outcome flags (top 1 of 1)" in text
    assert "acorns: buy share" not in text and "berries: buy share" not in text and "| volume |" not in text
    # the model-index stays what the Hub reads: required fields present, dataset args plain values
    index = yaml.safe_load(card.content.split("---")[1])["model-index"]
    for result in index[0]["results"]:
        assert result["task"]["type"] and result["dataset"]["type"] and result["dataset"]["name"]
        assert all(isinstance(v, str) for v in (result["dataset"].get("args") or {}).values())
        assert all({"type", "value"} <= set(m) for m in result["metrics"])


def test_a_structured_seat_of_the_checkpoint_counts_as_its_own(ckpt, tmp_path):
    results = council(ckpt, tmp_path / "council", flags=False)
    summary = json.loads((results / "summary.json").read_text())
    summary["decision"][0]["policy_identity"] = [f"hf:base+{ckpt.name}+structured"]
    (results / "summary.json").write_text(json.dumps(summary))
    card = export(ckpt, tmp_path / "out", "--council", str(results))
    assert "this model sat as creature_model in council mixed" in card.text
    assert "No flags.json in the results (run `glade flag RESULTS`)." in card.text
