"""Tests written by the fourth mutation audit (see test_pinned_standin_parser.py) of the rollout and
the structured seats (glade.rollout, glade.seats.structured), and of three survivors the third
audit left (outcome_check, estimate). The comment on each names what it guards."""

from __future__ import annotations

import json

import numpy as np
import pytest
from test_pinned_standin_parser import NONE_HELD, hazel
from test_standin import observation

from glade.env import parallel_env
from glade.env.action_schema import action_schema
from glade.env.standin import act, disposition


@pytest.fixture(scope="module")
def wood():
    return parallel_env("default", turns=3).reset(seed=0)[0]


# --------------------------------------------------------------------------- structured


TWO_SALES = r"""start: "{\"orders\": [" orders "]" gossip? thought? "}"
orders: (item0 rest1 | item1 rest2)?
rest1: (", " item1 rest3)?
rest2: (", " item0 rest3)?
rest3: ""
item0: "{\"side\": \"sell\", \"good\": \"acorns\", \"qty\": " number0 ", \"price\": " number1 "}"
item1: "{\"side\": \"sell\", \"good\": \"berries\", \"qty\": " number2 ", \"price\": " number3 "}"
number0: %json {"maximum": 3, "minimum": 1, "type": "integer"}
number1: %json {"maximum": 20.0, "minimum": 0.01, "multipleOf": 0.01, "type": "number"}
number2: %json {"maximum": 2, "minimum": 1, "type": "integer"}
number3: %json {"maximum": 30.0, "minimum": 0.01, "multipleOf": 0.01, "type": "number"}
gossip: ", \"gossip\": " gossip_text
gossip_text: %json {"type": "string", "maxLength": 200, "x-guidance": {"item_separator": ", ", "key_separator": ": ", "whitespace_flexible": false}}
thought: ", \"thought\": " thought_text
thought_text: %json {"type": "string", "maxLength": 2000, "x-guidance": {"item_separator": ", ", "key_separator": ": ", "whitespace_flexible": false}}"""


def test_the_grammar_of_two_sales_walks_each_good_once_in_cents_with_a_rule_per_number_range(wood):
    # guards lark_grammar's `rest{mask | 1 << i}` (no good twice), its `count("1") < limit` (a
    # maxItems below the goods ends the walk early), _order_text's `multipleOf: 0.01` and its
    # one named rule per distinct number range
    from glade.seats.structured import lark_grammar

    schema = action_schema(hazel(wood, inventory={**NONE_HELD, "acorns": 3, "berries": 2}, pebbles=np.array(0.0)))
    assert lark_grammar(schema) == TWO_SALES
    schema["properties"]["orders"]["maxItems"] = 1
    one = TWO_SALES.replace('rest1: (", " item1 rest3)?', 'rest1: ""').replace(
        'rest2: (", " item0 rest3)?', 'rest2: ""'
    )
    assert lark_grammar(schema) == one


def test_the_grammar_takes_twelve_tradeable_goods_and_refuses_thirteen():
    # guards lark_grammar's `len(goods) > MAX_GOODS` (12 goods: 4,095 rules, built; 13: named)
    from glade.seats.structured import lark_grammar

    def schema(goods: int) -> dict:
        form = {"properties": {"side": {"const": "sell"}, "qty": {"maximum": 1}, "price": {"maximum": 1.0}}}
        items = [{"properties": {**form["properties"], "good": {"const": f"g{i}"}}} for i in range(goods)]
        text = {"type": "string"}
        return {"properties": {"orders": {"items": {"anyOf": items}, "maxItems": 8}, "gossip": text, "thought": text}}

    assert lark_grammar(schema(12)).count("\nrest") == 2**12 - 1
    with pytest.raises(ValueError, match=r"^structured decoding: 13 tradeable goods \(at most 12\)$"):
        lark_grammar(schema(13))


# --------------------------------------------------------------------------- rollout


class _Answers:
    """A bare Policy (no PythonSeat checks): every act_batch answers `extra` more decisions than
    it was asked for, each naming `identity` as the deciding policy."""

    def __init__(self, extra: int = 0, identity: str | None = None):
        self.name, self.extra, self.identity = "bare", extra, identity

    def act(self, observations):
        from glade.seats import Decision

        return [Decision({"orders": []}, policy=self.identity) for _ in range(len(observations) + self.extra)]

    def batch_key(self):
        return id(self)

    def act_batch(self, seats):
        return self.act([obs for _, obs in seats])


def test_the_share_outside_the_model_is_one_minus_the_models():
    # guards RolloutStats.outside_model_share `1.0 - model / total`
    from glade.rollout import RolloutStats

    assert RolloutStats(model_seconds=1.0, total_seconds=4.0).outside_model_share == 0.75
    assert RolloutStats().outside_model_share == 0.0


def test_a_policy_answering_more_decisions_than_seats_is_named():
    # guards _act_timed's `len(answers) != len(members)` (too many answers, not only too few)
    from glade.policy_calls import act_timed

    obs = dict(observation("thorn"))
    with pytest.raises(RuntimeError, match=r"^policy 'bare' returned 2 decisions for 1 seats$"):
        act_timed([(_Answers(extra=1), obs)])


def test_a_decision_naming_its_policy_labels_its_seat_and_meter():
    # guards seat_label's `d.policy or ...`: with no label of the episode's, the deciding policy's identity
    from glade.env import load_scenario
    from glade.rollout import EpisodeSpec, RolloutStats, run_lockstep
    from glade.seats import standin_council

    scenario = load_scenario("default", turns=2)
    council = {**standin_council(scenario), "oona": _Answers(identity="hf:tiny+oona")}
    stats = RolloutStats()
    played = run_lockstep([EpisodeSpec("w", scenario, 0, council)], stats=stats, full=False)["w"]
    assert {r["seat"] for r in played.rows if r["creature"] == "oona"} == {"hf:tiny+oona"}
    assert played.summary["council"]["oona"] == "hf:tiny+oona"
    assert stats.seats["hf:tiny+oona"].decisions == 2


def test_rows_played_without_full_leave_out_the_full_only_columns_and_keep_the_seam_in_events():
    # guards run_lockstep's `references[...] if full else None` and the events' `seam: ...` entries
    from glade.rollout import FULL_ONLY, ROW_COLUMNS, run_episode

    played = run_episode("gambit_override", 0, turns=5, full=False)
    assert all(list(r) == [c for c in ROW_COLUMNS if c not in FULL_ONLY] for r in played.rows)
    spring = [json.loads(r["events"]) for r in played.rows if r["turn"] == 4]
    assert len(spring) == 5 and all(e[-1] == "seam: run_on_oonas_hoard: honey 9.51 -> 4.75" for e in spring)


def test_a_stand_ins_completion_is_its_action_and_a_seeded_seat_is_not_its_own_counterfactual():
    # guards trace_row's completion `d.text if ... else action` (stand-ins write no text) and the
    # counterfactual's shortcut `policy.seed == 0`: a stand-in seated with another seed is asked again
    from glade.env import load_scenario
    from glade.rollout import EpisodeSpec, run_lockstep
    from glade.seats import StandIn, standin_council
    from glade.tracejson import canonical

    scenario = load_scenario("default", turns=3)
    reference = disposition(scenario.creatures["oona"].disposition)
    council = {**standin_council(scenario), "oona": StandIn(reference, seed=5)}
    rows = run_lockstep([EpisodeSpec("w", scenario, 0, council)])["w"].rows
    assert all(r["completion"] == r["action"] for r in rows)
    oona = [r for r in rows if r["creature"] == "oona"]
    assert [r["standin_action"] for r in oona] == [
        canonical(act(json.loads(r["observation"]), reference)) for r in oona
    ]
    assert any(r["standin_action"] != r["action"] for r in oona)  # the seed-5 jitter moved a limit


def test_an_episode_given_a_scenario_and_other_turns_plays_those_turns():
    # guards run_episode's `scenario.turns != turns`: a Scenario at 3 turns asked for 5 plays 5
    from glade.env import load_scenario
    from glade.rollout import run_episode

    played = run_episode(load_scenario("default", turns=3), 0, turns=5, full=False)
    assert played.summary["turns"] == 5 and len(played.rows) == 5 * 5


def test_a_row_whose_matcher_failed_goes_on_unconstrained_and_is_counted(wood):
    # guards SchemaConstraint._masks' `not m.is_error()`: a failed matcher's row keeps the all-allowed
    # mask (-1 in every word), and `faults` counts it
    from pathlib import Path

    from transformers import AutoTokenizer

    from glade.seats.structured import Grammars

    base = Path(__file__).resolve().parent.parent / "models" / "tiny-base"
    grammars = Grammars(AutoTokenizer.from_pretrained(base), 0)
    constraint = grammars.constraint([action_schema(hazel(wood)), None])
    assert constraint.finish() == 0
    assert (constraint.bitmask[0] != -1).any() and (constraint.bitmask[1] == -1).all()  # held, free
    refused = grammars.tokenizer.tokenize_str("x")  # an answer must open with "{"
    constraint._next = grammars.worker.submit(constraint._step, [refused[0], refused[0]])
    assert constraint.finish() == 1
    assert (constraint.bitmask == -1).all()
    # guards generate_kwargs: when sampling, generate's own temperature, nucleus and top-k (its
    # default 50) are switched off, so they cannot cut before the mask; the mask's own warpers follow it
    sampled = constraint.generate_kwargs(0.7, 0.9)
    assert {k: v for k, v in sampled.items() if k != "logits_processor"} == {
        "temperature": 1.0,
        "top_p": 1.0,
        "top_k": 0,
    }
    assert [type(p).__name__ for p in sampled["logits_processor"]] == [
        "SchemaConstraint",
        "TemperatureLogitsWarper",
        "TopPLogitsWarper",
    ]
    whole = constraint.generate_kwargs(0.7, 1.0)["logits_processor"]
    assert [type(p).__name__ for p in whole] == ["SchemaConstraint", "TemperatureLogitsWarper"]
    assert list(constraint.generate_kwargs(0.0, 0.9)) == ["logits_processor"]


# --------------------------------------------------------------------------- outcome_check, estimate (3rd audit's survivors)


def test_the_outcome_checks_price_path_error_is_the_mean_distance_over_goods_not_the_largest():
    # guards _errors' `np.mean` over goods (O10 of the third audit: np.max passed)
    from glade.env import load_scenario
    from glade.eval.outcome_check import _errors, _figures
    from glade.eval.stats import path_distance
    from glade.eval.thresholds import Thresholds
    from glade.rollout import run_episode

    scenario = load_scenario("default", turns=6)
    original, calibrated, council = (run_episode(scenario, seed, full=False) for seed in (0, 1, 2))
    row = _figures(council, "council")
    out = _errors(row, original, calibrated, Thresholds())
    paths = {"council": json.loads(row["price_path"]), "original": json.loads(_figures(original, "x")["price_path"])}
    per_good = [path_distance(paths["original"][g], paths["council"][g]) for g in paths["council"]]
    assert len(per_good) == 5 and max(per_good) > 2 * np.mean(per_good)  # the two readings differ
    assert out["price_path.original"] == out["price_path.error_original"] == pytest.approx(np.mean(per_good), abs=1e-15)


class _Hold:
    name = "hold"

    def act(self, observations):
        return [{"orders": []} for _ in observations]


def _estimate_inputs():
    from glade.env import load_scenario
    from glade.eval.rows import PlannedWorld
    from glade.seats import PythonSeat, standin_council

    short, long = load_scenario("default", turns=3), load_scenario("default", turns=7)
    # seat_council's cache, filled by hand: (scenario name, focal seats) -> council
    cache = {
        ("default", (("oona", "model"),)): {**standin_council(short), "oona": PythonSeat(_Hold())},
        ("default", ()): standin_council(short),
    }

    def world(i: int, scenario: str, council: str) -> PlannedWorld:
        focal = {"oona": "model"} if council == "mixed" else {}
        return PlannedWorld(f"w{i}", f"p{i}", scenario, council, 0, i, focal)

    return {"short": short, "long": long}, cache, world


def test_model_calls_count_a_shards_longest_scenario_turns():
    # guards model_calls' `max(...turns...)` over a shard (E04 of the third audit: min passed): the
    # lockstep shard plays until its longest world ends, one batched call per model key per turn
    from glade.eval.estimate import model_calls

    scenarios, cache, world = _estimate_inputs()
    todo = [[world(1, "short", "mixed"), world(2, "long", "mixed")]]
    assert model_calls(None, scenarios, todo, cache) == 7  # one model key x 7 turns, not 3
    assert model_calls(None, scenarios, [[world(1, "short", "mixed")], [world(2, "long", "mixed")]], cache) == 10


def test_calibration_adds_one_world_of_each_council_the_first_shard_lacks(monkeypatch):
    # guards calibrate's `if w.council not in seen` (E05 of the third audit: dropping it passed)
    from glade import meter
    from glade.eval.estimate import calibrate

    scenarios, cache, world = _estimate_inputs()
    monkeypatch.setattr(meter, "calibrate", lambda make: [e.episode_id for e in make()])
    todo = [
        [world(1, "short", "standin"), world(2, "short", "standin")],
        [world(3, "short", "mixed"), world(4, "long", "mixed"), world(5, "short", "standin")],
    ]
    assert calibrate(None, scenarios, todo, cache) == ["w1", "w2", "w3"]
