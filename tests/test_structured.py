"""Structured decoding (glade.seats.structured, `structured: true`): each answer held to its
state's action schema in one batched generate.

Fast tests run the random tiny model (train/tiny.py) with two random LoRA adapters. The
shipped trained base's agreement test (slow) is in test_structured_trained.py; the real
`transformers serve` test of the server seat's response_format is in test_transformers_serve.py.
"""

from __future__ import annotations

import json
from collections import Counter

import pandas as pd
import pytest
import torch
from jsonschema import Draft202012Validator
from transformers import AutoModelForCausalLM, AutoTokenizer

from glade.env import parallel_env, standin
from glade.env.action_schema import action_schema, portable_schema
from glade.env.jsonfix import extract_json_object
from glade.env.observation import plain
from glade.env.protocol import parse
from glade.eval.decision_metrics import seat_validity
from glade.seats import SeatSpecError, load, load_council
from glade.seats.structured import Grammars, SchemaConstraint, lark_grammar
from glade.tracejson import canonical
from glade.train.tiny import save_tiny

pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")

NEW_TOKENS = 64


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return str(save_tiny(tmp_path_factory.mktemp("models") / "tiny", seed=0))


@pytest.fixture(scope="module")
def adapters(tiny, tmp_path_factory):
    """Two plain LoRA adapters with random (non-zero) weights: each changes what the model says."""
    from peft import LoraConfig, get_peft_model

    root = tmp_path_factory.mktemp("adapters")
    out = {}
    with torch.random.fork_rng(devices=[]):
        for name, seed in (("hoarder", 1), ("panic", 2)):
            torch.manual_seed(seed)
            model = get_peft_model(
                AutoModelForCausalLM.from_pretrained(tiny),
                LoraConfig(r=4, target_modules=["q_proj", "v_proj"], init_lora_weights=False),
            )
            model.save_pretrained(root / name)
            out[name] = str(root / name)
    return out


def wood(worlds: int = 6, turns: int = 14) -> list[dict]:
    """Observations of `worlds` default Woods, world w at turn 2w (stand-ins played the turns
    before): rich and poor creatures, goods held and not, prices moved."""
    out = []
    for w in range(worlds):
        env = parallel_env("default", turns=turns)
        obs, _ = env.reset(seed=w)
        kinds = {c: standin.disposition(env.scenario.creatures[c].disposition) for c in env.possible_agents}
        for _ in range(2 * w):
            obs, *_ = env.step({c: standin.act(obs[c], kinds[c], w) for c in env.agents})
        out += [plain(o) for o in obs.values()]
    return out


def every_turn(worlds: int, turns: int) -> list[dict]:
    """Every observation of `worlds` whole default episodes, stand-ins playing."""
    out = []
    for w in range(worlds):
        env = parallel_env("default", turns=turns)
        obs, _ = env.reset(seed=10 + w)
        kinds = {c: standin.disposition(env.scenario.creatures[c].disposition) for c in env.possible_agents}
        while env.agents:
            out += [plain(o) for o in obs.values()]
            obs, *_ = env.step({c: standin.act(obs[c], kinds[c], w) for c in env.agents})
    return out


@pytest.fixture(scope="module")
def observations():
    return wood()


def answer_value(text: str) -> dict:
    """The JSON object of an answer, closed where the token budget cut it (a cut thought)."""
    found = extract_json_object(text)
    assert found.value is not None, text
    return found.value


# --- the grammar means what the schema says -----------------------------------------------------


@pytest.fixture(scope="module")
def grammars(tiny):
    return Grammars(AutoTokenizer.from_pretrained(tiny), 0)


def accepts(grammars: Grammars, schema: dict, text: str) -> bool:
    matcher = grammars.ll.LLMatcher(grammars.tokenizer, grammars.grammar(schema), log_level=0)
    ids = grammars.tokenizer.tokenize_str(text)
    return matcher.consume_tokens(ids) and matcher.is_accepting()


def test_grammar_accepts_every_standin_answer(grammars):
    """Every stand-in action of 60 states, written as traces write it, with gossip and thought."""
    states = every_turn(worlds=2, turns=6)
    checked = 0
    for obs in states:
        schema = action_schema(obs)
        for name in ("panic_seller", "hoarder"):
            action = {**standin.act(obs, standin.disposition(name), 3), "gossip": "Honey for all!", "thought": "ok"}
            text = canonical(action)
            assert accepts(grammars, schema, text), (obs["creature"], text)
            checked += 1
    assert checked == 120


@pytest.mark.parametrize(
    "why, orders",
    [
        ("self-buy", [{"side": "buy", "good": "acorns", "qty": 1, "price": 2.0}]),
        ("two orders on one good", [{"side": "sell", "good": "acorns", "qty": 1, "price": 2.0}] * 2),
        (
            "both sides",
            [
                {"side": "buy", "good": "honey", "qty": 1, "price": 9.0},
                {"side": "sell", "good": "honey", "qty": 1, "price": 9.0},
            ],
        ),
        ("oversell", [{"side": "sell", "good": "acorns", "qty": 999, "price": 2.0}]),
        ("price over the cap", [{"side": "sell", "good": "acorns", "qty": 1, "price": 999.0}]),
        ("a buy over the pebbles", [{"side": "buy", "good": "berries", "qty": 1, "price": 39.0}]),
        ("unknown good", [{"side": "buy", "good": "pinecones", "qty": 1, "price": 2.0}]),
    ],
)
def test_grammar_refuses_invalid_answers(grammars, observations, why, orders):
    obs = next(o for o in observations if o["creature"] == "hazel")
    obs = {**obs, "pebbles": 38.5, "inventory": {**obs["inventory"], "acorns": 5, "honey": 2}}
    schema = action_schema(obs)
    assert not Draft202012Validator(schema).is_valid({"orders": orders}), why
    assert not accepts(grammars, schema, json.dumps({"orders": orders})), why
    assert accepts(grammars, schema, json.dumps({"orders": orders[:0]}))


def test_grammar_writes_prices_in_cents_and_limits_goods(grammars, observations):
    schema = action_schema(observations[0])
    good = schema["properties"]["orders"]["items"]["anyOf"][0]["properties"]["good"]["const"]
    side = schema["properties"]["orders"]["items"]["anyOf"][0]["properties"]["side"]["const"]
    order = {"side": side, "good": good, "qty": 1, "price": 1.25}
    assert accepts(grammars, schema, json.dumps({"orders": [order]}))
    assert not accepts(grammars, schema, json.dumps({"orders": [{**order, "price": 1.255}]}))
    source = lark_grammar(schema)
    tradeable = len({f["properties"]["good"]["const"] for f in schema["properties"]["orders"]["items"]["anyOf"]})
    assert source.count("\nrest") == 2**tradeable - 1  # one rule per set of goods already ordered


def test_a_kept_matcher_is_copied_fresh_for_every_row(grammars, observations):
    """Rows with the same grammar get copies of one kept matcher: each starts at the
    beginning, and one row's tokens do not move another's."""
    grammars.forget()
    grammar = grammars.grammar(action_schema(observations[0]))
    first, second = grammars.matcher(grammar), grammars.matcher(grammar)
    assert first is not second and len(grammars._pristine) == 1
    assert first.consume_tokens(grammars.tokenizer.tokenize_str('{"orders": []'))
    assert second.consume_tokens(grammars.tokenizer.tokenize_str('{"orders": [], "thought": "x"}'))
    assert second.is_accepting() and not first.is_accepting()
    third = grammars.matcher(grammar)
    assert third.consume_tokens(grammars.tokenizer.tokenize_str('{"orders": []}')) and third.is_accepting()
    grammars.forget()
    assert not grammars._pristine


def test_a_model_wider_than_its_tokenizer_has_its_padding_columns_masked(tiny, observations):
    """Qwen's logits are 151,936 wide for 151,665 tokens: the mask must span the logits (a mask
    as wide as the tokenizer cannot be laid over them), and no padding column may be chosen."""
    tokenizer = AutoTokenizer.from_pretrained(tiny)
    wide = len(tokenizer) + 64
    grammars = Grammars(tokenizer, wide)
    assert grammars.vocab_size == wide
    constraint = SchemaConstraint(grammars, [grammars.grammar(action_schema(observations[0])), None])
    masked = constraint(torch.zeros(2, 1, dtype=torch.long), torch.zeros(2, wide))
    constraint.finish()
    assert masked.shape == (2, wide)
    assert torch.isinf(masked[0, len(tokenizer) :]).all() and torch.isfinite(masked[0]).any()
    grammars.worker.shutdown()


# --- generation on the random tiny model --------------------------------------------------------


def council(tiny, adapters, **gen):
    plan = {"oona": "hoarder", "thorn": "panic", "hazel": None, "bramble": "panic", "moss": "hoarder"}
    return load_council(
        {
            c: {
                "kind": "hf",
                "model": tiny,
                "max_new_tokens": NEW_TOKENS,
                **gen,
                **({"adapter": adapters[a]} if a else {}),
            }
            for c, a in plan.items()
        }
    )


def test_mixed_adapter_batch_all_parse_with_no_error(tiny, adapters, observations):
    seats = council(tiny, adapters, structured=True)
    policy = seats["oona"]
    assert all(seats[c] is policy for c in seats)  # one policy: one batched generate per call
    decisions = policy.act_batch([(seats[o["creature"]], o) for o in observations])
    assert [d.error for d in decisions] == [None] * len(observations)
    assert policy.shared.constraint_faults == 0
    assert {d.policy for d in decisions} == {
        "hf:tiny+hoarder+structured",
        "hf:tiny+panic+structured",
        "hf:tiny+structured",
    }
    traded = 0
    for d, obs in zip(decisions, observations):
        value = answer_value(d.text)
        assert Draft202012Validator(action_schema(obs)).is_valid(value), d.text
        assert parse(d.text, obs).action == d.action
        traded += bool(d.action["orders"])
    assert traded >= len(observations) // 4  # not a batch of holds


def test_unconstrained_and_structured_rows_share_one_generate(tiny, adapters, observations):
    free = council(tiny, adapters)
    held = council(tiny, adapters, structured=True)
    assert free["oona"].batch_key() == held["oona"].batch_key()
    shared = free["oona"].shared
    calls = Counter()
    inner = shared.model.generate

    def counting(*args, **kwargs):
        calls["generate"] += 1
        return inner(*args, **kwargs)

    shared.model.generate = counting
    try:
        batch = observations[:10]
        decisions = free["oona"].act_batch(
            [(free[o["creature"]], o) for o in batch] + [(held[o["creature"]], o) for o in batch]
        )
    finally:
        shared.model.generate = inner
    assert calls["generate"] == 1
    unconstrained, structured = decisions[:10], decisions[10:]
    assert all(d.error is None for d in structured)
    assert sum(d.error is not None for d in unconstrained) >= 5  # random weights: junk when free
    assert all(not d.policy.endswith("+structured") for d in unconstrained)


def test_sampled_answers_stay_in_their_schema(tiny, adapters, observations):
    """At temperature 1 the random model wanders: every answer still validates, and the only
    error left is the budget's (a later buy the pebbles no longer cover), the parser's job."""
    seats = council(tiny, adapters, structured=True, temperature=1.0, seed=3)
    policy = seats["oona"]
    decisions = policy.act_batch([(seats[o["creature"]], o) for o in observations])
    for d, obs in zip(decisions, observations):
        assert Draft202012Validator(action_schema(obs)).is_valid(answer_value(d.text)), d.text
        if d.error == "cut_off":  # the token budget ended the answer: its last order went with it
            assert d.completion_tokens == policy.gen.max_new_tokens
        elif d.error is not None:
            assert d.error == "no_pebbles"
            buys = [o for o in answer_value(d.text)["orders"] if o["side"] == "buy"]
            assert len(buys) >= 2  # a lone buy always fits: its price is capped at the pebbles
    assert policy.shared.constraint_faults == 0


def test_prefix_cache_serves_structured_rows(tiny, observations):
    batch = observations[:10]
    texts = {}
    for cache in (True, False):
        policy = load({"kind": "hf", "model": tiny, "max_new_tokens": 24, "structured": True, "prefix_cache": cache})
        before = policy.shared.prefix_tokens_reused
        texts[cache] = [d.text for d in policy.act(batch)]
        reused = policy.shared.prefix_tokens_reused - before
        assert (reused > 0) == cache
    assert texts[True] == texts[False]


def test_structured_must_be_a_boolean(tiny):
    with pytest.raises(SeatSpecError, match="structured: expected true or false"):
        load({"kind": "hf", "model": tiny, "structured": "yes"})
    with pytest.raises(SeatSpecError, match="structured"):
        load({"kind": "server", "base_url": "http://127.0.0.1:1/v1", "model": "m", "structured": 1})


# --- the server seat's portable schema ----------------------------------------------------------


def test_portable_schema_accepts_exactly_what_the_schema_does(observations):
    """No `contains`: one order per good spelled out as sequences of distinct goods."""
    for obs in observations[7:8]:  # (jsonschema takes ~0.1 s per check of a portable schema)
        exact, portable = action_schema(obs), portable_schema(action_schema(obs))
        assert "contains" not in json.dumps(portable)
        a, b = Draft202012Validator(exact), Draft202012Validator(portable)
        forms = exact["properties"]["orders"].get("items", {}).get("anyOf", [])
        candidates = [{"orders": []}]
        for form in forms:
            p = form["properties"]
            order = {"side": p["side"]["const"], "good": p["good"]["const"], "qty": 1, "price": p["price"]["maximum"]}
            candidates += [{"orders": [order]}, {"orders": [order, order]}, {"orders": [{**order, "qty": 0}]}]
            candidates += [{"orders": [order, o]} for o in (c["orders"][0] for c in candidates[1:4])]
        for name in ("balanced", "panic_seller", "hoarder", "speculator"):
            candidates.append(standin.act(obs, standin.disposition(name)))
        for action in candidates:
            assert a.is_valid(action) == b.is_valid(action), (action, a.is_valid(action))


# --- council results: the valid-action rate per live seat --------------------------------------


def test_seat_validity_per_council_and_policy_counts_twin_worlds_play_once():
    # two scenarios that part at turn 2: before it their worlds of one seed made the same
    # decisions (the same prompt and answer), counted once; the seed is the unit
    rows = []
    for scenario in ("rumour", "shock"):
        for seed in range(4):
            for turn in range(5):
                prompt = f"seed {seed} turn {turn}" + (f" after the {scenario}" if turn >= 2 else "")
                common = {"council": "c", "scenario": scenario, "episode_id": f"{scenario}.s{seed}", "seed": seed,
                          "cast": 0, "creature": "oona", "turn": turn, "prompt": prompt}  # fmt: skip
                rows.append(common | {"policy_name": "free", "policy": "hf:x", "completion": "{",
                                      "error": "bad_json" if turn < 2 else None,
                                      "self_buy": 2 if turn == 4 and seed < 2 else 0})  # fmt: skip
                rows.append(common | {"policy_name": "held", "policy": "hf:x+structured", "completion": "{}",
                                      "error": None, "creature": "hazel", "self_buy": 0})  # fmt: skip
    found = {r["policy"]: r for r in seat_validity(pd.DataFrame(rows))}
    assert found["free"]["valid_action"]["mean"] == pytest.approx(6 / 8)  # 2 shared failures, 3 + 3 valid
    assert found["free"]["valid_action"]["n"] == 4  # seeds
    assert found["free"]["errors"] == {"bad_json": 8} and found["free"]["decisions"] == 32
    assert found["held"]["valid_action"]["mean"] == 1.0
    # self-buys over seeds alike: seeds 0 and 1 bid for their own good at turn 4 in both worlds (8 distinct
    # decisions a seed), seeds 2 and 3 never; a decision with two self-buy orders is one decision
    assert found["free"]["self_buy"]["mean"] == pytest.approx((2 / 8 + 2 / 8) / 4)
    assert found["free"]["self_buy"]["n"] == 4 and found["held"]["self_buy"]["note"] == "same value in all 4 seeds"
    assert found["held"]["policy_identity"] == ["hf:x+structured"]
