"""Tests written by a mutation audit of the held-out figures of a trained checkpoint, the SFT
data, the inputs check and the traces (glade.train.evaluate, data, inputs, merge; glade.traces,
tracejson): each pins a behaviour that a plausible one-line change (a comparison flipped, an
off-by-one, a clause dropped, a constant changed) left untested. The comment on each names what
it guards. Here, glade.train.evaluate: the figures are measured on a scripted policy standing in
for the checkpoint's seat (no model), on stand-in traces of six turns. The audit's tests of the
data split and filters, the inputs check, the generate recipe and tracejson are in
test_pinned_sft_data.py."""

from __future__ import annotations

import json
from dataclasses import dataclass, field

import pytest

from glade.config import Seeds
from glade.env import standin
from glade.env.legends import FALL
from glade.eval.scoring import direction_agreement, score
from glade.seats.base import CUT_OFF, Decision
from glade.shard_spool import dataset_schema
from glade.traces import GenerateRecipe, generate, load_traces
from glade.train import evaluate
from glade.train.data import DataConfig, prepare
from glade.train.recipe import EvalSpec


@pytest.fixture(scope="module")
def heldout(tmp_path_factory):
    """Stand-in traces of gambit_rumour, seed 50, six turns (30 rows): talk says honey will fall
    at turns 4 and 5, where the panic_seller stand-in sells it (six probe states)."""
    out = tmp_path_factory.mktemp("audit8") / "heldout"
    generate(
        GenerateRecipe(
            out=str(out),
            scenarios=("gambit_rumour",),
            councils={"scenario": {}},
            seeds=Seeds(start=50, count=1),
            turns=6,
        )
    )
    return str(out)


def write_traces(folder, rows: list[dict]) -> str:
    """`rows` (trace rows, every dataset column) as a one-shard traces folder."""
    from datasets import Dataset, Features

    (folder / "data").mkdir(parents=True)
    features = Features.from_arrow_schema(dataset_schema())
    Dataset.from_list(rows, features=features).to_parquet(str(folder / "data" / "part-00000.parquet"))
    return str(folder)


@dataclass
class Scripted:
    """A seat whose answer to the i-th observation it is shown is `answer(i, observation)`."""

    answer: object
    name: str = "scripted"
    shown: list = field(default_factory=list)
    batches: list = field(default_factory=list)

    def act(self, observations):
        self.batches.append(len(observations))
        out = []
        for obs in observations:
            out.append(self.answer(len(self.shown), obs))
            self.shown.append(obs)
        return out


def seat(monkeypatch, answer) -> list[tuple[dict, Scripted]]:
    """Seat a fresh Scripted(answer) wherever evaluate loads the checkpoint; returns (spec, seat) of each load."""
    loads = []

    def load(spec):
        loads.append((spec, Scripted(answer)))
        return loads[-1][1]

    monkeypatch.setattr(evaluate, "load", load)
    return loads


def held_goods_buy(obs: dict) -> dict:
    """An action buying one of what the creature makes (a self-buy)."""
    good = next(g for g, v in obs["produces"].items() if v)
    return {"orders": [{"side": "buy", "good": good, "qty": 1, "price": 1.0}]}


# --------------------------------------------------------------------------- evaluate_checkpoint


def test_the_figures_are_the_means_over_the_answered_states_of_both_passes(heldout, monkeypatch, tmp_path):
    # guards evaluate_checkpoint/per_state: states = min(eval.states, rows) after the shuffle, the
    # batches the seat is given, each figure a mean (not a max) of the right column (valid_json is
    # not valid_action, self_buy not its complement), direction agreement against the row's own
    # answer (the last message) over every good, and both passes (structured_ on the second)
    rows = prepare(DataConfig(traces=(heldout,), eval_share=0.0))[0]
    errors = [None, "bad_json", CUT_OFF, None, "unknown_good", None, None]

    def answer(i, obs):
        if i % 7 == 3:
            return Decision(action=held_goods_buy(obs))
        return Decision(action={"orders": []}, error=errors[i % 7])

    loads = seat(monkeypatch, answer)
    spec = EvalSpec(states=7, batch_size=3, max_new_tokens=9)
    out = evaluate.evaluate_checkpoint(tmp_path, rows, spec)
    assert [s["structured"] for s, _ in loads] == [False, True]
    assert loads[0][0] == {
        "kind": "checkpoint", "path": str(tmp_path), "max_new_tokens": 9, "batch_size": 3, "structured": False
    }  # fmt: skip
    assert [p.batches for _, p in loads] == [[3, 3, 1], [3, 3, 1]]
    sample = rows.shuffle(seed=0).select(range(7))
    assert loads[0][1].shown == [json.loads(o) for o in sample["observation"]]
    assert out["heldout_states"] == 7
    for prefix in ("", "structured_"):
        assert out[prefix + "valid_json_rate"] == pytest.approx(5 / 7)  # bad_json and the cut-off are not JSON
        assert out[prefix + "valid_action_rate"] == pytest.approx(4 / 7)
        assert out[prefix + "cut_off_rate"] == pytest.approx(1 / 7)
        assert out[prefix + "self_buy_rate"] == pytest.approx(1 / 7)
    want_direction, want_standin = [], []
    for i, row in enumerate(sample):
        obs = json.loads(row["observation"])
        action = answer(i, obs).action
        goods = list(obs["inventory"])
        want_direction.append(direction_agreement(action, json.loads(row["messages"][-1]["content"]), goods))
        want_standin.append(score(action, None, obs, json.loads(row["standin_action"]))["standin_agreement"])
    assert out["direction_agreement"] == pytest.approx(sum(want_direction) / 7)
    assert out["standin_agreement"] == pytest.approx(sum(want_standin) / 7)
    assert 0 < out["direction_agreement"] < 1  # the self-buy disagrees on its good, the empty answers agree elsewhere
    assert "fall_talk_sell_rate" not in out and "heldout_seeds" not in out  # no eval.traces: no probe, no seeds


def test_rates_get_an_exact_interval_and_agreements_a_t_interval(heldout, monkeypatch, tmp_path):
    # guards `rate=name in RATES` and RATES itself: 0/1 figures say "k of n states"
    rows = prepare(DataConfig(traces=(heldout,), eval_share=0.0))[0]
    seat(monkeypatch, lambda i, obs: Decision(action=held_goods_buy(obs) if i % 2 else {"orders": []}))
    out = evaluate.evaluate_checkpoint(tmp_path, rows, EvalSpec(states=8, batch_size=8))
    intervals = out["intervals"]
    assert intervals["self_buy_rate"]["note"] == "4 of 8 states"
    assert intervals["structured_valid_action_rate"]["note"] == "8 of 8 states"
    assert intervals["cut_off_rate"]["note"] == "0 of 8 states"
    assert not intervals["direction_agreement"]["note"].endswith("of 8 states")
    assert intervals["direction_agreement"]["n"] == 8


def test_held_out_traces_give_every_state_the_filters_keep_and_the_probe(heldout, monkeypatch, tmp_path):
    # guards heldout_rows (eval_share 0 and max_rows None whatever the recipe's data says: every
    # state the filters keep is held out), trace_seeds (each seed once), the split of the answers
    # into states and probes, and each stand-in's own rate measured as that stand-in
    panic = standin.disposition("panic_seller")  # on the probe states only: the sixth answer never sells
    loads = seat(
        monkeypatch, lambda i, obs: Decision(action=standin.act(obs, panic) if i >= 6 else held_goods_buy(obs))
    )
    data = DataConfig(traces=("unused",), eval_share=0.5, max_rows=2, creatures=("oona",))
    spec = EvalSpec(states=100, batch_size=4, traces=(heldout,), probe_states=3)
    out = evaluate.evaluate_checkpoint(tmp_path, None, spec, data)
    assert out["heldout_states"] == 6  # oona's six turns, none held back for training nor capped by max_rows
    assert {o["name"] for o in loads[0][1].shown[:6]} == {"Oona"}
    assert out["heldout_seeds"] == [50]
    assert out["fall_talk_states"] == 3 and len(loads[0][1].shown) == 9
    assert out["fall_talk_sell_rate"] == out["structured_fall_talk_sell_rate"] == 1.0  # it answers the probes as panic
    rates = out["fall_talk_sell_rate_standins"]
    assert rates["panic_seller"] == 1.0 and rates["hoarder"] < 1.0
    assert out["intervals"]["fall_talk_sell_rate"]["note"] == "3 of 3 states, too few for an interval"


def test_a_seat_that_never_sells_has_a_zero_fall_talk_rate(heldout, monkeypatch, tmp_path):
    # guards sold_goods (sells, not buys) and the probe answers taken after the held-out ones
    seat(monkeypatch, lambda i, obs: Decision(action=held_goods_buy(obs)))
    spec = EvalSpec(states=5, batch_size=4, traces=(heldout,), probe_states=6)
    out = evaluate.evaluate_checkpoint(tmp_path, None, spec, DataConfig(traces=("unused",)))
    assert out["fall_talk_states"] == 6 and out["fall_talk_sell_rate"] == 0.0
    assert evaluate.sold_goods(held_goods_buy({"produces": {"honey": 1}})) == set()
    sale = {"orders": [{"side": "sell", "good": "honey", "qty": 1, "price": 2.0}]}
    assert evaluate.sold_goods(sale) == {"honey"}


@dataclass
class Stages:
    """glade.console's progress as evaluate uses it: stage(label, unit) -> a bar; what each bar heard."""

    heard: list = field(default_factory=list)

    def stage(self, label, unit):
        bar = Stages()
        self.heard.append((label, unit, bar.heard))
        return bar

    def total(self, n):
        self.heard.append(("total", n))

    def advance(self, n=1):
        self.heard.append(("advance", n))


def test_each_pass_has_a_bar_advanced_by_each_batch(heldout, monkeypatch, tmp_path):
    # guards evaluate_checkpoint's bar: its total is states plus probes, each batch advances it by its size
    rows = prepare(DataConfig(traces=(heldout,), eval_share=0.0))[0]
    seat(monkeypatch, lambda i, obs: Decision(action={"orders": []}))
    progress = Stages()
    spec = EvalSpec(states=5, batch_size=3, traces=(heldout,), probe_states=2)
    evaluate.evaluate_checkpoint(tmp_path, rows, spec, progress=progress)
    steps = [("total", 7), ("advance", 3), ("advance", 3), ("advance", 1)]
    assert progress.heard == [
        ("held-out and probe states", "states", steps),
        ("held-out and probe states, structured", "states", steps),
    ]


# --------------------------------------------------------------------------- fall_talk_states


def test_fall_talk_states_are_the_shuffled_traces_states_where_panic_sells_a_held_falling_good(heldout):
    # guards the talk filter, `said == FALL`, the held-good and panic-sells conditions, the fixed
    # (shuffled, seed 0) order, and that a smaller limit takes the first of the same states
    panic = standin.disposition("panic_seller")
    found = evaluate.fall_talk_states([heldout], 100)
    assert len(found) == 6
    for obs, good in found:
        assert obs["talk"][good] == FALL and obs["inventory"][good] > 0
        assert good in evaluate.sold_goods(standin.act(obs, panic))

    def probes(rows):
        return [(o["name"], o["turn"]) for o in map(json.loads, rows["observation"]) if any(o == f for f, _ in found)]

    traces = load_traces(heldout).filter(lambda r: FALL in json.loads(r["observation"])["talk"].values())
    assert [(o["name"], o["turn"]) for o, _ in found] == probes(traces.shuffle(seed=0)) != probes(traces)
    assert evaluate.fall_talk_states([heldout], 2) == found[:2]
    assert evaluate.fall_talk_states([heldout], 0) == []


def test_fall_talk_states_stop_at_the_limit_when_one_state_gives_two_goods(heldout, tmp_path):
    # guards `found[:limit]`: a state where two held goods are talked down gives two probes
    panic = standin.disposition("panic_seller")
    row = next(r for r in load_traces(heldout) if FALL in json.loads(r["observation"])["talk"].values())
    obs = json.loads(row["observation"])
    obs["talk"] = {g: FALL for g in obs["talk"]}
    sold = [g for g in evaluate.sold_goods(standin.act(obs, panic)) if obs["inventory"][g] > 0]
    assert len(sold) >= 2  # the set-up: panic sells two or more of the goods talked down
    folder = write_traces(tmp_path / "two", [{**row, "observation": json.dumps(obs)}])
    assert len(evaluate.fall_talk_states([folder], 100)) == len(sold)
    assert len(evaluate.fall_talk_states([folder], 1)) == 1


# --------------------------------------------------------------------------- per_state, targets


def test_per_state_scores_each_answer_against_its_own_state():
    # guards per_state's columns: a named non-JSON error is valid JSON but no valid action
    from glade.env import parallel_env

    observations = list(parallel_env("default", turns=4).reset(seed=3)[0].values())[:3]
    balanced = standin.disposition("balanced")
    targets = [standin.act(o, balanced) for o in observations]
    answered = [
        Decision(action=targets[0], error="unknown_good"),
        Decision(action=held_goods_buy(observations[1])),
        Decision(action={"orders": []}, error="no_json"),
    ]
    values = evaluate.per_state(answered, observations, targets, [json.dumps(t) for t in targets])
    assert values["valid_json_rate"] == [1.0, 1.0, 0.0]
    assert values["valid_action_rate"] == [0.0, 1.0, 0.0]
    assert values["self_buy_rate"] == [0.0, 1.0, 0.0]
    assert values["cut_off_rate"] == [0.0, 0.0, 0.0]
    assert values["direction_agreement"][0] == values["standin_agreement"][0] == 1.0


@pytest.mark.parametrize(
    ("target", "measured", "met"),
    [
        (">= 0.5", 0.5, True),  # the bound itself meets a target
        ("<= 0.5", 0.5, True),
        (">= 0.5", 0.49, False),
        ("<= 0.01", 0.02, False),
        ("  >= 0.5  ", 0.7, True),  # a YAML value written with spaces
    ],
)
def test_a_target_is_met_at_its_bound_and_compares_the_measured_figure(target, measured, met):
    # guards TARGET_OPS (>= not >), the operands' order and parse_target's strip
    out = evaluate.check_targets({"valid_action_rate": measured}, {"valid_action_rate": target})
    op = target.split()[0]
    assert out["valid_action_rate"] == {
        "target": f"{op} {float(target.split()[1]):g}",
        "measured": measured,
        "met": met,
        "ci": None,
        "shown": None,
        "reaches": None,
    }


def test_a_target_not_measured_or_malformed_is_named():
    # guards the not-measured case (met False, measured None) and parse_target's refusals
    assert evaluate.check_targets({}, {"self_buy_rate": "<= 0.01"})["self_buy_rate"] == {
        "target": "<= 0.01", "measured": None, "met": False, "ci": None, "shown": None, "reaches": None
    }  # fmt: skip


def test_a_target_met_on_its_mean_is_shown_only_where_its_interval_is_past_it_too():
    intervals = {"valid_action_rate": {"ci": [0.857, 0.995]}, "self_buy_rate": {"ci": [0.0, 0.074]}}
    metrics = {"valid_action_rate": 0.958, "self_buy_rate": 0.0, "direction_agreement": 0.9, "intervals": intervals}
    metrics["intervals"]["direction_agreement"] = {"ci": [0.86, 0.94]}
    targets = {"valid_action_rate": ">= 0.95", "self_buy_rate": "<= 0.01", "direction_agreement": ">= 0.85"}
    out = evaluate.check_targets(metrics, targets)
    assert [(t["met"], t["shown"]) for t in out.values()] == [(True, False), (True, False), (True, True)]
    assert out["valid_action_rate"]["ci"] == [0.857, 0.995]
    low = evaluate.check_targets({**metrics, "valid_action_rate": 0.9}, targets)["valid_action_rate"]
    assert (low["met"], low["shown"]) == (False, None)  # not met: nothing to show
    for bad in ("> 0.5", ">= lots", ">=0.5"):
        with pytest.raises(ValueError, match=r"expected '>= NUMBER' or '<= NUMBER'"):
            evaluate.parse_target(bad)
