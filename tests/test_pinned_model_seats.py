"""Tests written by a mutation audit (14c) of the model seats and the episode loop left by earlier
audits: glade.seats.hf (its decoding knobs, device check, model sharing, the static cache, token
counts, the head of the prefix cache), glade.rollout (what run_lockstep and run_episode record and
count) and, in test_pinned_vllm_seat.py, glade.seats.vllm's own logic without an engine. Each
pins a behaviour that a plausible one-line change (a comparison flipped, an off-by-one, a clause
dropped, a constant changed) left untested. The comment on each names what it guards."""

from __future__ import annotations

import pytest
import torch
from seat_checks import wood_states

from glade.env import load_scenario
from glade.env.protocol import render, role_card
from glade.rollout import EpisodeSpec, RolloutStats, run_episode, run_lockstep
from glade.seats import SeatSpecError, standin_council
from glade.seats.hf import BASE, Generation, SharedModel, _sampling, check_device, shared_model

pytestmark = [  # tiny and adapters: tests/conftest.py
    pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"),
    pytest.mark.usefixtures("one_thread"),
]


@pytest.fixture(scope="module")
def shared(tiny) -> SharedModel:
    return SharedModel(tiny)


@pytest.fixture(scope="module")
def states():
    return wood_states(6)


# --------------------------------------------------------------------------- rollout


def test_on_turn_hears_how_many_worlds_are_still_playing_after_each_turn():
    # guards run_lockstep's `on_turn(len(live))`, counted after the finished worlds leave
    heard = []
    short, long = load_scenario("default", turns=2), load_scenario("default", turns=3)
    specs = [
        EpisodeSpec("short", short, 0, standin_council(short)),
        EpisodeSpec("long", long, 0, standin_council(long)),
    ]
    run_lockstep(specs, on_turn=heard.append, full=False)
    assert heard == [2, 1, 0]


def test_the_stats_of_a_second_run_add_to_the_first():
    # guards run_lockstep's `stats.total_seconds +=`: a caller's stats gather several runs
    scenario = load_scenario("default", turns=1)
    stats = RolloutStats(total_seconds=100.0, decisions=7)
    run_lockstep([EpisodeSpec("w", scenario, 0, standin_council(scenario))], stats=stats, full=False)
    assert stats.total_seconds > 100.0 and stats.decisions == 7 + 5


def test_an_episode_is_named_by_its_scenario_and_seed_and_a_none_seat_sits_on_its_stand_in():
    # guards run_episode's id `{scenario}.s{seed}` and its `seat is not None` (None: the stand-in)
    played = run_episode("default", 3, turns=1, council={"oona": None}, full=False)
    assert played.spec.episode_id == "default.s3"
    assert played.summary["council"]["oona"] == "standin:" + load_scenario("default").creatures["oona"].disposition


class _Said:
    """A bare Policy whose every seat answers `decision`."""

    def __init__(self, decision):
        self.name, self.decision = "said", decision

    def act(self, observations):
        return [self.decision for _ in observations]

    def batch_key(self):
        return id(self)

    def act_batch(self, seats):
        return self.act([obs for _, obs in seats])


def test_a_rows_model_columns_are_its_decisions_own():
    # guards trace_row's repaired, latency_s, prompt and completion tokens, error and text: each
    # the decision's own, never a default or another column's
    from glade.seats import Decision

    decision = Decision({"orders": []}, '{"orders": [', "bad_json", 0.25, 11, 5, True, "hf:tiny+said")
    scenario = load_scenario("default", turns=1)
    spec = EpisodeSpec("w", scenario, 0, {**standin_council(scenario), "moss": _Said(decision)})
    (row,) = [r for r in run_lockstep([spec], full=False)["w"].rows if r["creature"] == "moss"]
    picked = {k: row[k] for k in ("repaired", "latency_s", "prompt_tokens", "completion_tokens", "error")}
    assert picked == dict(repaired=True, latency_s=0.25, prompt_tokens=11, completion_tokens=5, error="bad_json")
    assert (row["completion"], row["policy"], row["seat"]) == ('{"orders": [', "hf:tiny+said", "hf:tiny+said")


def test_a_rejected_order_and_a_buy_of_its_own_produce_are_in_its_row():
    # guards trace_row's `rejected` (the turn's notes on the creature's orders, "[]" only
    # without) and `self_buy` (moss buying the mushrooms it makes)
    import json

    from glade.seats import Decision

    orders = [
        {"side": "sell", "good": "acorns", "qty": 999, "price": 1.0},
        {"side": "buy", "good": "mushrooms", "qty": 1, "price": 1.0},
    ]
    scenario = load_scenario("default", turns=1)
    spec = EpisodeSpec("w", scenario, 0, {**standin_council(scenario), "moss": _Said(Decision({"orders": orders}))})
    (row,) = [r for r in run_lockstep([spec], full=False)["w"].rows if r["creature"] == "moss"]
    assert json.loads(row["rejected"]) == [{"order": 0, "reason": "absurd_qty", "outcome": "rejected", "qty": 0}]
    assert row["self_buy"] == 1


def test_the_summary_sums_volume_over_turns_and_takes_the_last_turns_gini_and_patron_pebbles():
    # guards _summary's volume summed over every turn's history row, and its gini and the
    # patron's pebbles from the last one
    played = run_episode("default", 0, turns=4, full=False)
    history = played.history
    assert (
        played.summary["volume"]
        == sum(sum(r["volume"].values()) for r in history)
        > sum(history[-1]["volume"].values())
    )
    assert played.summary["gini"] == round(history[-1]["gini"], 6) != round(history[0]["gini"], 6)
    assert played.summary["patron_pebbles"] == round(history[-1]["patron_pebbles"], 6) > 0


def test_the_summarys_council_names_each_creatures_seat_as_its_first_row_did():
    # guards _summary's `seats.setdefault`: a seat whose identity changes mid-episode is listed
    # by its first turn's label, not its last
    from glade.seats import Decision

    class Turning(_Said):
        def act(self, observations):
            return [Decision({"orders": []}, policy=f"turn{o['turn']}") for o in observations]

    scenario = load_scenario("default", turns=2)
    spec = EpisodeSpec("w", scenario, 0, {**standin_council(scenario), "moss": Turning(None)})
    played = run_lockstep([spec], full=False)["w"]
    assert [r["seat"] for r in played.rows if r["creature"] == "moss"] == ["turn0", "turn1"]
    assert played.summary["council"]["moss"] == "turn0"


# --------------------------------------------------------------------------- hf: knobs, device, sharing


def test_greedy_pins_every_folder_knob_neutral():
    # guards _NEUTRAL's values and greedy's own: one beam, no penalty, no n-gram ban, no
    # typical/epsilon/eta cut, and transformers' defaults for the unused sampling knobs
    assert _sampling(Generation()) == dict(
        num_beams=1,
        repetition_penalty=1.0,
        no_repeat_ngram_size=0,
        typical_p=1.0,
        epsilon_cutoff=0.0,
        eta_cutoff=0.0,
        do_sample=False,
        temperature=1.0,
        top_p=1.0,
        top_k=50,
    )
    assert _sampling(Generation(temperature=0.5))["no_repeat_ngram_size"] == 0


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
@pytest.mark.parametrize(
    "device, says",
    [
        ("cuda:1", "RuntimeError: torch sees no CUDA device here"),
        ("xpu:0", "AssertionError: Torch not compiled with XPU enabled"),
        ("hpu", "ModuleNotFoundError"),
    ],
)
def test_a_device_this_build_lacks_is_a_named_spec_error(device, says):
    # guards check_device: the CUDA check's own reason, and the AssertionError (xpu) and the
    # ImportError (hpu without Habana's plug-in: a bare traceback before the fix) it names
    with pytest.raises(SeatSpecError, match=rf"^seat spec device: '{device}' is not available \({says}"):
        check_device(device)


def test_a_model_that_failed_to_take_an_adapter_is_not_shared_again(tiny, tmp_path):
    # guards adapter_name's `m is self`: the damaged model leaves the shared table, the rest stay
    first, other = shared_model(tiny), shared_model(tiny, "bfloat16")
    (tmp_path / "adapter_config.json").write_text("{}")
    with pytest.raises(SeatSpecError, match="PEFT could not load it"):
        first.adapter_name(str(tmp_path))
    assert shared_model(tiny) is not first and shared_model(tiny, "bfloat16") is other


def test_a_dtype_of_no_known_name_is_refused_before_loading(tiny):
    # guards SharedModel's dtype check: a ValueError naming the choices, not a load failure
    with pytest.raises(ValueError, match=r"^dtype: expected one of float32, bfloat16, float16, got 'float64'$"):
        SharedModel(tiny, "float64")


# --------------------------------------------------------------------------- hf: generate


def _recording(shared, monkeypatch) -> list[dict]:
    seen = []
    real = shared.model.generate

    def generate(**kwargs):
        seen.append(kwargs)
        return real(**kwargs)

    monkeypatch.setattr(shared.model, "generate", generate)
    return seen


def test_batches_on_cpu_decode_into_a_static_cache_and_single_rows_do_not(shared, states, monkeypatch):
    # guards `static = len(chunk) > 1 and device == "cpu"` on both paths: the plain batch's
    # cache_implementation, and the prefix cache's StaticCache sized for the whole answer
    from transformers import DynamicCache, StaticCache

    seen = _recording(shared, monkeypatch)
    conversations = [render(s) for s in states[:2]]
    heads = [role_card(s) for s in states[:2]]
    shared.generate(conversations, [BASE, BASE], Generation(4, prefix_cache=False))
    shared.generate(conversations[:1], [BASE], Generation(4, prefix_cache=False))
    shared.generate(conversations, [BASE, BASE], Generation(4), heads=heads)
    shared.generate(conversations[:1], [BASE], Generation(4), heads=heads[:1])
    assert [k.get("cache_implementation") for k in seen[:2]] == ["static", None]
    assert type(seen[2]["past_key_values"]) is StaticCache and type(seen[3]["past_key_values"]) is DynamicCache
    width = seen[2]["input_ids"].shape[1]
    assert seen[2]["past_key_values"].layers[0].max_cache_len == width + 4


def test_each_rows_prompt_tokens_are_its_own_in_a_padded_batch(shared, states):
    # guards the prompt count `attention_mask.sum(dim=1)`: padding is not the row's prompt
    conversations = [render(s) for s in states[:3]]
    lengths = [
        len(shared.tokenizer.apply_chat_template(c, add_generation_prompt=True)["input_ids"]) for c in conversations
    ]
    assert len(set(lengths)) > 1
    for gen in (Generation(3, prefix_cache=False), Generation(3)):
        heads = [role_card(s) for s in states[:3]]
        assert [r[1] for r in shared.generate(conversations, [BASE] * 3, gen, heads=heads)] == lengths


def test_a_sampled_call_leaves_the_callers_random_stream_where_it_was(shared, states):
    # guards generate's fork_rng around a seeded call: the caller's next draw is unchanged
    torch.manual_seed(11)
    expected = torch.rand(3)
    torch.manual_seed(11)
    shared.generate([render(states[0])], [BASE], Generation(4, temperature=1.0, seed=2))
    assert torch.equal(torch.rand(3), expected)


def test_sampling_follows_the_temperature_and_top_p_asked_for(shared, states):
    # guards _sampling's temperature and top_p (not 1.0) and `temperature > 0` on every row
    conversation = [render(states[0])]
    texts = {
        (t, p): shared.generate(conversation, [BASE], Generation(24, temperature=t, top_p=p, seed=1))[0][0]
        for t, p in ((1.0, 1.0), (0.3, 1.0), (1.0, 1e-9), (0.5, 1.0))
    }
    greedy = shared.generate(conversation, [BASE], Generation(24))[0][0]
    assert texts[(1.0, 1.0)] != texts[(0.3, 1.0)] and texts[(1.0, 1e-9)] == greedy != texts[(1.0, 1.0)]
    assert texts[(0.5, 1.0)] != greedy


def test_every_rows_head_is_reused_in_a_mixed_adapter_batch(tiny, adapters, states):
    # guards generate's `heads[i] for i in order`: regrouped rows keep their own card, so every
    # card is found and reused; prefix_tokens_reused sums the cards of all rows
    shared = SharedModel(tiny)
    names = [shared.adapter_name(adapters["hoarder"]), BASE, shared.adapter_name(adapters["hoarder"])]
    picked = [states[0], states[1], states[2]]
    shared.generate([render(s) for s in picked], names, Generation(3), heads=[role_card(s) for s in picked])
    assert len(shared._prefixes) == 3 and shared.prefix_tokens_reused == shared.prefix_tokens_computed


def test_a_head_at_the_very_start_of_the_prompt_is_still_a_head(shared):
    # guards _head_length's `at < 0`: a template without a system marker opens with the card
    prompt = "card text and then the turn"
    ids = shared.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    head_ids = shared.tokenizer("card text", add_special_tokens=False)["input_ids"]
    assert shared._head_length(prompt, "card text", ids) == len(head_ids) > 0


def test_a_tokenizer_without_a_pad_token_pads_with_its_end_token(tiny, states, tmp_path):
    # guards SharedModel's `pad_token is None` fallback: a batch needs a pad token to line up
    import json
    import shutil

    folder = tmp_path / "padless"
    shutil.copytree(tiny, folder)
    config = json.loads((folder / "tokenizer_config.json").read_text())
    (folder / "tokenizer_config.json").write_text(json.dumps({**config, "pad_token": None}))
    padless = SharedModel(str(folder))
    assert padless.tokenizer.pad_token == padless.tokenizer.eos_token is not None
    conversations = [render(s) for s in states[:2]]
    gen = Generation(3, prefix_cache=False)
    assert padless.generate(conversations, [BASE, BASE], gen) == SharedModel(tiny).generate(
        conversations, [BASE, BASE], gen
    )


def test_structured_rows_keep_their_own_schema_when_rows_are_regrouped_by_adapter(shared, adapters, states):
    # guards generate's `schemas[i] for i in order`: the regrouped batch holds each row to its
    # own schema, as when it runs alone
    from glade.env.action_schema import action_schema

    hoarder = shared.adapter_name(adapters["hoarder"])
    names = [BASE, hoarder, BASE]
    conversations = [render(s) for s in states[:3]]
    schemas = [None, action_schema(states[1]), None]
    gen = Generation(16, prefix_cache=False)
    together = shared.generate(conversations, names, gen, schemas=schemas)
    alone = [shared.generate([c], [n], gen, schemas=[s])[0] for c, n, s in zip(conversations, names, schemas)]
    assert together == alone and together[1][0].startswith('{"orders": [')


def test_grammar_faults_add_up_over_calls(shared, states, monkeypatch):
    # guards generate's `constraint_faults +=`: each call's failed rows add to the count
    from glade.env.action_schema import action_schema

    grammars = shared.grammars()
    real = grammars.constraint

    def failing_once(schemas):
        constraint = real(schemas)
        finish = constraint.finish
        monkeypatch.setattr(constraint, "finish", lambda: finish() + 1)
        return constraint

    monkeypatch.setattr(grammars, "constraint", failing_once)
    before = shared.constraint_faults
    for _ in range(2):
        shared.generate([render(states[0])], [BASE], Generation(2), schemas=[action_schema(states[0])])
    assert shared.constraint_faults == before + 2


def test_the_head_token_memo_is_cleared_as_it_reaches_its_bound(tiny, monkeypatch):
    # guards _head_length's `>= 4 * PREFIX_CACHE_ENTRIES`: the memo never holds more than the bound
    import glade.seats.hf as hf_seat

    monkeypatch.setattr(hf_seat, "PREFIX_CACHE_ENTRIES", 1)
    shared = SharedModel(tiny)
    sizes = []
    for n in range(5):
        shared._head_length(f"card {n} and more", f"card {n}", [5, 6, 7])
        sizes.append(len(shared._head_ids))
    assert sizes == [1, 2, 3, 4, 1]
