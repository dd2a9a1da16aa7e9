"""Lockstep rollouts: one batched call per policy per turn, merged across councils that
share a base model; counterfactuals recorded without side effects."""

import json

import pytest
import torch
from peft import LoraConfig, get_peft_model
from transformers import AutoModelForCausalLM

from glade.env.scenario import load_scenario
from glade.rollout import EpisodeSpec, RolloutStats, run_lockstep
from glade.seats import load, load_council
from glade.train.tiny import save_tiny


@pytest.fixture(scope="module")
def models(tmp_path_factory):
    torch.set_num_threads(1)
    root = tmp_path_factory.mktemp("rollout")
    base = save_tiny(root / "base")
    adapters = []
    for seed in (1, 2):
        torch.manual_seed(seed)
        model = get_peft_model(
            AutoModelForCausalLM.from_pretrained(base),
            LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False),
        )
        model.save_pretrained(root / f"a{seed}")
        adapters.append(str(root / f"a{seed}"))
    return str(base), adapters


def test_one_call_per_policy_per_turn_across_worlds():
    scenario = load_scenario("default", turns=4)
    council = {c: load(scenario.creatures[c].disposition) for c in scenario.creatures}
    stats = RolloutStats()
    played = run_lockstep([EpisodeSpec(f"w{i}", scenario, i, council) for i in range(6)], stats=stats)
    rows = {e: p.rows for e, p in played.items()}
    assert stats.policy_calls == 4 * len(set(map(id, council.values())))  # not x 6 worlds
    assert stats.decisions == 6 * 4 * 5 and all(len(r) == 20 for r in rows.values())


def test_councils_sharing_a_base_cost_one_generate_per_turn(models, monkeypatch):
    from glade.seats import hf as hf_seat

    base, (a1, a2) = models
    calls = []
    real = hf_seat.SharedModel.generate_once

    def counting(self, conversations, adapters, gen, heads=None, schemas=None):
        calls.append(sorted(set(adapters)))
        return real(self, conversations, adapters, gen, heads, schemas)

    monkeypatch.setattr(hf_seat.SharedModel, "generate_once", counting)
    scenario = load_scenario("default", turns=2)
    seat = lambda a: {"kind": "hf", "model": base, "adapter": a, "max_new_tokens": 8}  # noqa: E731
    cast_1 = load_council(
        {"oona": seat(a1), "thorn": seat(a2), **{c: "balanced" for c in ("hazel", "bramble", "moss")}}
    )
    cast_2 = load_council(
        {"oona": seat(a2), "hazel": seat(a1), **{c: "balanced" for c in ("thorn", "bramble", "moss")}}
    )
    assert cast_1["oona"] is not cast_2["oona"]
    played = run_lockstep([EpisodeSpec("c1", scenario, 0, cast_1), EpisodeSpec("c2", scenario, 0, cast_2)])
    rows = {e: p.rows for e, p in played.items()}
    assert len(calls) == 2  # two turns, one generate each, both casts in it
    assert calls[0] == sorted({hf_seat.SharedModel.adapter_name(cast_1["oona"].shared, a) for a in (a1, a2)})
    policies = {(e, r["creature"]): r["policy"] for e, rs in rows.items() for r in rs}
    assert policies[("c1", "oona")].endswith("+a1") and policies[("c2", "oona")].endswith("+a2")
    assert policies[("c2", "hazel")].endswith("+a1") and policies[("c1", "hazel")] == "standin:balanced"


def test_counterfactual_is_the_scenario_disposition_and_changes_nothing():
    scenario = load_scenario("gambit_rumour", turns=6)
    panic = load("panic_seller")
    council = {c: panic for c in scenario.creatures}
    a = run_lockstep([EpisodeSpec("x", scenario, 3, council)])["x"].rows
    b = run_lockstep([EpisodeSpec("x", scenario, 3, council)])["x"].rows
    assert [r["action"] for r in a] == [r["action"] for r in b]
    hoarder_rows = [r for r in a if r["creature"] == "oona"]
    assert {r["standin_disposition"] for r in hoarder_rows} == {"hoarder"}
    assert any(r["action"] != r["standin_action"] for r in hoarder_rows)  # panic vs hoarder do differ
    assert all(json.loads(r["standin_action"])["orders"] is not None for r in a)


class Flaky:
    """A scripted seat whose server 'refuses' every other turn; the answers it does give cost tokens."""

    name = "flaky"

    def act(self, observations):
        from glade.seats import Decision

        return [
            Decision({"orders": []}, None, "server_refused")
            if obs["turn"] % 2
            else Decision({"orders": []}, "{}", None, 0.01, prompt_tokens=100, completion_tokens=7)
            for obs in observations
        ]


def test_the_seat_meter_counts_decisions_faults_tokens_and_seconds_per_seat():
    from glade.seats.python import PythonSeat

    scenario = load_scenario("default", turns=4)
    council = {c: load(scenario.creatures[c].disposition) for c in scenario.creatures}
    council["oona"] = PythonSeat(Flaky())
    stats = RolloutStats()
    specs = [EpisodeSpec(f"w{i}", scenario, i, council, seats={"oona": "live"}) for i in range(3)]
    played = run_lockstep(specs, stats=stats)
    live = stats.seats["live"]
    assert live.decisions == 3 * 4 and live.faults == {"server_refused": 3 * 2}
    assert live.fault_count == 6 and live.fault_share == 0.5
    assert (live.prompt_tokens, live.completion_tokens) == (6 * 100, 6 * 7)
    assert live.model_seconds > 0 and live.model_seconds == pytest.approx(stats.model_seconds)
    standins = {k: m for k, m in stats.seats.items() if k != "live"}
    assert set(standins) == {f"standin:{scenario.creatures[c].disposition}" for c in scenario.creatures if c != "oona"}
    assert sum(m.decisions for m in standins.values()) == 3 * 4 * 4
    assert all(m.fault_count == 0 and m.model_seconds == 0 for m in standins.values())
    assert live.as_dict()["faults"] == {"server_refused": 6}
    # the meter keys by the label the trace rows carry
    assert {r["seat"] for p in played.values() for r in p.rows if r["creature"] == "oona"} == {"live"}
    # a parse error is the model's answer, not a fault
    from glade.faults import is_fault

    assert is_fault("server_timeout") and not is_fault("no_json") and not is_fault(None)


def test_two_episodes_with_one_id_are_refused_not_merged():
    scenario = load_scenario("default", turns=2)
    council = {c: load("hoarder") for c in scenario.creatures}
    twins = [EpisodeSpec("same", scenario, seed, council) for seed in (0, 1)]
    with pytest.raises(ValueError, match="episode ids must differ; given twice: same"):
        run_lockstep(twins)  # rows are kept per id: both episodes' rows would land in one
