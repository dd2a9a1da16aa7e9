"""The held-out agreements' hold baseline, and data.max_rows named in the data counts.

An answer the parser rejects is executed as a hold (no order on any good), so it agrees with
the reference on every good the reference leaves alone: the agreements are recorded beside
what an empty answer scores on the same states (meta.json, glade train's lines, the model
card). data.max_rows caps the train split after the episode split, and the counts say how
many rows it had before. Stand-in traces of two turns, a scripted seat, no model."""

from __future__ import annotations

import io
import json

import pytest
import yaml
from rich.console import Console

import glade.train.sft as sft
from glade.config import Seeds
from glade.env.protocol import parse
from glade.seats.base import Decision
from glade.traces import GenerateRecipe, generate
from glade.train import evaluate
from glade.train.data import DataConfig, prepare
from glade.train.recipe import EvalSpec, load_train_recipe

COUNCIL = {"hoarders": {"*": "hoarder"}}
HOLD_KEYS = ("direction_agreement_hold_baseline", "standin_agreement_hold_baseline")


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    """Training traces (seeds 0-3) and held-out traces (seeds 60-61), two turns of a hoarders' council."""
    root = tmp_path_factory.mktemp("hold")
    for name, seeds in (("traces", Seeds(0, 4)), ("heldout", Seeds(60, 2))):
        generate(GenerateRecipe(out=str(root / name), scenarios=("default",), councils=COUNCIL, seeds=seeds, turns=2))
    return root


class Seat:
    """Answers every state with nothing the parser can use (what a model with no readable JSON does)."""

    name = "empty"

    def act(self, observations):
        return [Decision(action=parse("", o).action, text="", error=parse("", o).error) for o in observations]


def test_the_hold_baseline_is_the_share_of_goods_the_reference_leaves_alone(traces):
    rows = prepare(DataConfig(traces=(str(traces / "heldout"),), eval_share=0.0))[0]
    observations = [json.loads(o) for o in rows["observation"][:2]]
    assert list(observations[0]["inventory"]) == ["honey", "firewood", "acorns", "berries", "mushrooms"]

    def orders(*sides):
        return {"orders": [{"side": s, "good": g, "qty": 1, "price": 1.0} for s, g in sides]}

    targets = [orders(("buy", "honey"), ("sell", "firewood")), orders()]  # 3 of 5 goods left alone, then 5 of 5
    standins = [orders(("buy", "honey")), orders(("sell", "honey"), ("sell", "firewood"), ("sell", "acorns"))]
    values = evaluate.hold_values(observations, targets, [json.dumps(s) for s in standins])
    assert values == {"direction_agreement": [0.6, 1.0], "standin_agreement": [0.8, 0.4]}


def test_an_empty_answer_scores_the_baseline_and_gains_nothing_over_it(traces, monkeypatch, tmp_path):
    monkeypatch.setattr(evaluate, "load", lambda spec: Seat())
    rows = prepare(DataConfig(traces=(str(traces / "heldout"),), eval_share=0.0))[0]
    out = evaluate.evaluate_checkpoint(tmp_path, rows, EvalSpec(states=8, batch_size=4, probe_states=0))
    sample = rows.shuffle(seed=0).select(range(8))
    alone = []  # by hand: the share of goods on which the row's own answer places no order
    for row in sample:
        goods = list(json.loads(row["observation"])["inventory"])
        traded = {o["good"] for o in json.loads(row["messages"][-1]["content"])["orders"]}
        alone.append(sum(g not in traded for g in goods) / len(goods))
    assert out["direction_agreement_hold_baseline"] == pytest.approx(sum(alone) / 8)
    assert out["direction_agreement"] == pytest.approx(out["direction_agreement_hold_baseline"])
    assert out["standin_agreement"] == pytest.approx(out["standin_agreement_hold_baseline"])
    intervals = out["intervals"]
    assert intervals["direction_agreement_hold_baseline"]["n"] == 8
    for key in ("direction_agreement_over_hold", "structured_standin_agreement_over_hold"):
        assert intervals[key]["mean"] == 0 and intervals[key]["note"] == "same value in all 8 states"


def test_the_baseline_reaches_meta_the_printed_lines_and_the_card(traces, monkeypatch, tmp_path):
    from glade.cli.train import print_checkpoint
    from glade.hub.model_card import render_card

    monkeypatch.setattr(evaluate, "load", lambda spec: Seat())
    monkeypatch.setattr(sft, "_fit", lambda *a: ({"train_loss": 1.0, "train_steps": 2}, 1.0, 0.0))
    recipe = {
        "name": "hold",
        "output_root": str(tmp_path / "checkpoints"),
        "model": {"base": "tiny"},
        "data": {"traces": [str(traces / "traces")], "eval_share": 0.25, "max_rows": 3},
        "sft": {"max_steps": 1, "use_cpu": True, "bf16": False, "report_to": "none"},
        "eval": {"traces": [str(traces / "heldout")], "states": 6, "probe_states": 0, "max_new_tokens": 8},
    }
    (tmp_path / "hold.yaml").write_text(yaml.safe_dump(recipe))
    ckpt = sft.train(load_train_recipe(tmp_path / "hold.yaml"), log=lambda line: None)
    meta = json.loads((ckpt / "meta.json").read_text())
    metrics = meta["metrics"]
    assert all(isinstance(metrics[key], float) for key in HOLD_KEYS)
    assert metrics["direction_agreement"] == pytest.approx(metrics["direction_agreement_hold_baseline"])

    print_checkpoint(Console(file=(buffer := io.StringIO()), width=400), ckpt)
    said = buffer.getvalue()
    base = f"{metrics['direction_agreement_hold_baseline']:.3f}"
    [row] = [line for line in said.splitlines() if "direction agreement of an empty answer (a hold)" in line]
    assert row.count(base) == 2  # the same states in both passes
    [line] = [line for line in said.splitlines() if line.startswith("  hold baseline")]
    assert "an answer the parser rejects, empty or not, is executed as a hold" in line
    assert f"an empty answer on the same 6 states scores direction {base}" in line
    assert "the model's gain over it, paired by state: direction +0.000 in all 6 unconstrained" in line
    # the intervals are about the states drawn, which come from few seeds: said under the table
    assert "  each interval is over 6 states from " in said and "are not independent" in said

    card = render_card(meta, yaml.safe_load((ckpt / "recipe.yaml").read_text()), [], "me/hold", "full", None, None)
    assert "| direction_agreement_hold_baseline |" in card and "| standin_agreement_hold_baseline |" in card
    assert "\nHold baseline (an answer the parser rejects, empty or not, is executed as a hold" in card

    # data.max_rows: the train split before the cap is a step of its own, before the eval split
    counts = meta["data_counts"]
    assert counts["train"] == 3 < counts["train_before_max_rows"]
    assert list(counts)[-4:] == ["train_before_max_rows", "train", "eval", "eval_episodes"]
    kept = (ckpt / "data" / "README.md").read_text()
    assert f"- train_before_max_rows: {counts['train_before_max_rows']}\n- train: 3\n" in kept


def test_max_rows_keeps_the_first_train_rows_after_the_split_and_says_so(traces):
    every, held, counts = prepare(DataConfig(traces=(str(traces / "traces"),), eval_share=0.25))
    capped, held_capped, capped_counts = prepare(
        DataConfig(traces=(str(traces / "traces"),), eval_share=0.25, max_rows=5)
    )
    assert "train_before_max_rows" not in counts  # no cap, no step
    assert capped_counts["train_before_max_rows"] == counts["train"] == len(every)
    assert capped["messages"] == every["messages"][:5]  # the first rows in traces order, not a sample
    assert held_capped["messages"] == held["messages"]  # the held-out split is not capped
