"""Tests written by a mutation audit of `glade train` (glade.train.evaluate, sft, recipe, inputs and
glade.cli.train): each pins what a one-line change (a sign flipped, a bound moved, a clause dropped)
changed unnoticed. The comment on each names what it guards. Stand-in traces of two turns, a
scripted seat and a stubbed trainer: no model is trained."""

from __future__ import annotations

import dataclasses
import io
import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from rich.console import Console
from test_heldout_baseline import traces  # noqa: F401  (a module fixture: training and held-out traces)

import glade.train.inputs as inputs
import glade.train.sft as sft
from glade.cli.train import print_checkpoint, target_text
from glade.config import ConfigError
from glade.env import standin
from glade.eval.stats import interval
from glade.seats.base import Decision
from glade.traces import readable_shards
from glade.train import evaluate
from glade.train.data import DataConfig, prepare
from glade.train.evaluate import check_targets, parse_target, pool_text
from glade.train.recipe import EvalSpec, ModelSpec, TrainRecipe, load_train_recipe

TINY_BASE = Path(__file__).parents[1] / "recipes" / "train" / "tiny-base.yaml"


class Hoarder:
    """Answers each state as the hoarder stand-in would: it places orders, so it beats a hold."""

    name = "hoarder"

    def act(self, observations):
        out = []
        for o in observations:
            action = standin.act(o, standin.disposition("hoarder"))
            out.append(Decision(action=action, text=json.dumps(action), error=None))
        return out


@pytest.fixture(scope="module")
def hoarder_eval(traces, tmp_path_factory):  # noqa: F811
    """The hoarder seat on 8 held-out states, and each interval call's (values, bounds) in order."""
    calls = []

    def recorded(values, **kw):
        calls.append((list(values), kw.get("bounds")))
        return interval(values, **kw)

    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(evaluate, "load", lambda spec: Hoarder())
        mp.setattr(evaluate, "interval", recorded)
        rows = prepare(DataConfig(traces=(str(traces / "heldout"),), eval_share=0.0))[0]
        spec = EvalSpec(states=8, batch_size=4, probe_states=0)
        out = evaluate.evaluate_checkpoint(tmp_path_factory.mktemp("hoard"), rows, spec)
    return out, calls


def test_a_seat_that_beats_a_hold_has_a_positive_gain_over_it(hoarder_eval):
    # guards evaluate_checkpoint's gain `a - h` (the model's figure less the hold's, not the reverse)
    out, _ = hoarder_eval
    intervals = out["intervals"]
    assert out["direction_agreement"] == pytest.approx(1.0)
    assert out["direction_agreement_hold_baseline"] == pytest.approx(0.775)
    assert intervals["direction_agreement_over_hold"]["mean"] == pytest.approx(0.225)
    assert intervals["structured_direction_agreement_over_hold"]["mean"] == pytest.approx(0.225)
    assert intervals["standin_agreement_over_hold"]["mean"] == pytest.approx(0.075)
    assert intervals["direction_agreement_over_hold"]["ci"][0] > 0


def test_the_target_text_keeps_the_recipes_number():
    # guards check_targets' `f"{op} {value:g}"`: ">= 1", not ">= 1.0"
    out = check_targets({"valid_json_rate": 1.0}, {"valid_json_rate": ">= 1", "self_buy_rate": "<= 0"})
    assert (out["valid_json_rate"]["target"], out["self_buy_rate"]["target"]) == (">= 1", "<= 0")
    assert out["valid_json_rate"]["met"] is True and out["self_buy_rate"]["met"] is False


def test_a_target_of_100_is_read_as_100_percent():
    # guards parse_target's `1 < value <= 100`: 100 itself gets the hint
    with pytest.raises(ValueError) as raised:
        parse_target(">= 100")
    assert str(raised.value) == (
        "'>= 100': the figures are rates, so the target must be between 0 and 1 (for 100%, write '>= 1')"
    )


def test_the_pool_of_states_names_one_seed_or_episode_in_the_singular():
    # guards pool_text's plural `'s' * (len(seeds) != 1)` and `n < 1` (no states measured: no words)
    assert pool_text({"metrics": {"heldout_states": 10}, "heldout": {"seeds": [9000]}}) == (
        "each interval is over 10 states from 1 held-out seed; states of one seed are not independent, so the "
        "intervals are about these states, not about new seeds"
    )
    assert pool_text({"metrics": {"heldout_states": 10}, "heldout": {"seeds": [1, 2]}}).startswith(
        "each interval is over 10 states from 2 held-out seeds; "
    )
    assert pool_text({"metrics": {"heldout_states": 10}, "data_counts": {"eval_episodes": 1}}) == (
        "each interval is over 10 states from 1 held-out episode; states of one episode are not independent, so "
        "the intervals are about these states, not about new episodes"
    )
    assert pool_text({"metrics": {"heldout_states": 0}}) is None


def test_the_eval_loss_line_names_the_held_out_episodes(tmp_path):
    # guards print_checkpoint's `counts.get('eval_episodes', 0)` in the eval loss line
    meta = {
        "metrics": {"train_loss": 0.5, "train_steps": 10, "eval_loss": 0.75},
        "data_counts": {"train": 40, "eval": 6, "eval_episodes": 2},
    }
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    print_checkpoint(Console(file=(buffer := io.StringIO()), width=400), tmp_path)
    assert "  train loss 0.5000 over 10 steps on 40 rows; eval loss 0.7500 on 6 rows of 2 held-out episode(s)\n" in (
        buffer.getvalue()
    )


def test_a_target_over_exactly_min_n_same_value_states_is_met_as_it_stands():
    # guards target_text's `n >= MIN_N`: 4 states of one value have no interval, yet are not "too few"
    four = interval([1.0] * 4, unit="states", bounds=(0, 1)).as_dict()
    assert four["ci"] is None and four["n"] == 4
    t = check_targets({"valid_json_rate": 1.0, "intervals": {"valid_json_rate": four}}, {"valid_json_rate": ">= 0.9"})
    assert target_text(t["valid_json_rate"], four) == "met (1.000; same value in all 4 states)"


@pytest.fixture(scope="module")
def stubbed_run(traces, tmp_path_factory):  # noqa: F811
    """A tiny-base run (lora null, eval.states 0) whose stubbed trainer leaves PEFT's placeholder card."""
    tmp = tmp_path_factory.mktemp("stub")

    def fit(recipe, base, train_rows, eval_rows, work, *rest):
        (work / "README.md").write_text("placeholder card naming this machine's base folder")
        return {"train_loss": 1.0, "train_steps": 2}, 1.0, 0.0

    recipe = {
        "name": "t",
        "output_root": str(tmp / "checkpoints"),
        "model": {"base": "tiny"},
        "data": {"traces": [str(traces / "traces")], "eval_share": 0.25},
        "sft": {"max_steps": 1, "use_cpu": True, "bf16": False, "report_to": "none"},
        "eval": {"states": 0},
    }
    (tmp / "t.yaml").write_text(yaml.safe_dump(recipe))
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(sft, "_fit", fit)
        ckpt = sft.train(load_train_recipe(tmp / "t.yaml"), log=lambda line: None)
    return ckpt, json.loads((ckpt / "meta.json").read_text())


def test_a_tiny_base_has_no_resolved_base(stubbed_run):
    # guards meta's `None if recipe.model.base == "tiny" else base`: init/ is removed, so naming it misleads
    _, meta = stubbed_run
    assert meta["base_resolved"] is None and meta["base_model_given"].startswith("tiny")


def test_peft_placeholder_card_is_removed_from_the_checkpoint(stubbed_run):
    # guards sft.train's `(work / "README.md").unlink(...)`: the card is glade export's to write
    ckpt, _ = stubbed_run
    assert sorted(p.name for p in ckpt.iterdir()) == ["data", "meta.json", "recipe.yaml"]


def test_a_full_fine_tune_records_no_base_fingerprint(stubbed_run):
    # guards `recipe.lora is not None and Path(base).is_dir()`: a full model carries its own weights
    _, meta = stubbed_run
    assert meta["kind"] == "full" and "base_fingerprint" not in meta


def test_the_hold_baselines_intervals_are_bounded_to_0_and_1(hoarder_eval):
    # guards the hold baseline's `bounds=(0, 1)` (a share of goods), as the gains' are (-1, 1)
    out, calls = hoarder_eval
    hold_calls = calls[-len(evaluate.HOLD) :]
    assert [bounds for _, bounds in hold_calls] == [(0, 1)] * len(evaluate.HOLD)
    assert sum(hold_calls[0][0]) / 8 == pytest.approx(out["direction_agreement_hold_baseline"])


def test_a_bare_target_of_1_is_read_as_a_rate_not_a_percentage():
    # guards recipe's `1 < target <= 100`: a bare 1 is the rate 1, not 1%
    with pytest.raises(ConfigError) as raised:
        load_train_recipe(TINY_BASE, ["eval.targets.valid_json_rate=1"])
    assert str(raised.value).endswith(
        "eval.targets.valid_json_rate: expected a string, got 1: write it as '>= 1' or '<= 1'"
    )


@pytest.mark.parametrize("bare", ["150", "-5"])
def test_a_bare_target_that_is_no_rate_is_not_given_a_hint_that_is_refused(bare):
    # guards the hint's `0 <= rate <= 1`: "write it as '>= 150'" would be refused by parse_target next
    with pytest.raises(ConfigError) as err:
        load_train_recipe(TINY_BASE, [f"eval.targets.valid_json_rate={bare}"])
    assert str(err.value).endswith(
        f"expected a string, got {bare}: write a rate between 0 and 1 with its side, as '>= 0.9' or '<= 0.1'"
    )


def test_a_null_save_strategy_is_refused_not_read_as_no():
    # guards yaml_no's `v is False`: only YAML's false means "no"; null is no value at all
    with pytest.raises(ConfigError) as raised:
        load_train_recipe(TINY_BASE, ["sft.save_strategy=null"])
    assert str(raised.value).endswith("sft.save_strategy: expected SaveStrategy or a string, got None")


def held_recipe(traces, tmp_path, held, states):  # noqa: F811
    return TrainRecipe(
        name="t",
        model=ModelSpec(base="tiny"),
        data=DataConfig(traces=(str(traces / "traces"),)),
        eval=EvalSpec(states=states, traces=(str(held),)),
        output_root=str(tmp_path / "ck"),
    )


def test_held_out_traces_of_an_older_protocol_are_refused_only_when_measured(traces, tmp_path):  # noqa: F811
    # guards check_paths' `key == "data.traces" or recipe.eval.states`: held-out rows are prompts too
    held = tmp_path / "held"
    shutil.copytree(traces / "heldout", held)
    for f in readable_shards(str(held)):
        table = pq.read_table(f)
        i = table.schema.get_field_index("protocol_version")
        pq.write_table(table.set_column(i, "protocol_version", pa.array(["wood-chat-1"] * len(table))), f)
    with pytest.raises(ConfigError) as raised:
        inputs.check_paths(held_recipe(traces, tmp_path, held, 4), "r.yaml")
    assert str(raised.value).startswith(
        f"r.yaml: eval.traces[0]: {held}: its rows were rendered with prompt protocol wood-chat-1, "
    )
    inputs.check_paths(held_recipe(traces, tmp_path, held, 0), "r.yaml")  # not read: not refused


def test_a_model_base_that_is_a_file_is_refused(traces, tmp_path):  # noqa: F811
    # guards check_paths' `Path(base).exists() and not Path(base).is_dir()` branch
    weights = tmp_path / "weights.bin"
    weights.write_text("x")
    recipe = dataclasses.replace(
        held_recipe(traces, tmp_path, traces / "heldout", 0), model=ModelSpec(base=str(weights))
    )
    with pytest.raises(ConfigError) as raised:
        inputs.check_paths(recipe, "r.yaml")
    assert str(raised.value) == f"r.yaml: model.base: '{weights}' is not a folder"


def test_check_model_names_an_unreachable_hub_id_before_loading(monkeypatch, traces, tmp_path):  # noqa: F811
    # guards check_model's `if unreachable := hub_unreachable(base)`: said in words, load() never tried
    monkeypatch.setattr(inputs, "hub_unreachable", lambda base: "X")
    recipe = dataclasses.replace(
        held_recipe(traces, tmp_path, traces / "heldout", 0), model=ModelSpec(base="org/model")
    )

    def load():
        raise AssertionError("load() called")

    with pytest.raises(ConfigError) as raised:
        inputs.check_model(recipe, "org/model", "r.yaml", load)
    assert str(raised.value) == "r.yaml: model.base: 'org/model': X"
