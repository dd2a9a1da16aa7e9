"""glade.seats.hf: transformers seats, batched, with PEFT mixed-adapter councils.

Everything runs on the tiny local model (train/tiny.py) and two LoRA adapters made here
with random (non-zero) weights, so each adapter really changes what the model says.
"""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from seat_checks import random_adapters
from transformers import LogitsProcessor, LogitsProcessorList

from glade.env import parallel_env, standin
from glade.env.protocol import render
from glade.seats import Decision, SeatSpecError, StandIn, load, load_council
from glade.seats.hf import BASE, Generation, SharedModel, shared_model
from glade.seats.hf_policy import HFPolicy
from glade.seats.structured import JsonEnd, JsonScan
from glade.train.tiny import save_tiny

# PEFT calls a transformers helper that v5 deprecates; nothing here to act on.
pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")

NEW_TOKENS = 12  # the tiny model's prompts are ~600 tokens; a few new ones prove the point


@pytest.fixture(scope="module", autouse=True)
def one_thread():
    """The tiny model gains nothing from a second thread, and when the two cores are shared
    (other test runs, CI neighbours) OpenMP's spin-waiting made generate 10x slower."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return save_tiny(tmp_path_factory.mktemp("models") / "tiny", seed=0)


@pytest.fixture(scope="module")
def adapters(tiny, tmp_path_factory):
    """Two plain LoRA adapters on q/v with random weights, different seeds."""
    return random_adapters(tiny, tmp_path_factory.mktemp("adapters"))


@pytest.fixture(scope="module")
def shared(tiny) -> SharedModel:
    return shared_model(str(tiny))


@pytest.fixture(scope="module")
def wood():
    """Real Wood observations whose prompts differ in length: the opening turn, and a turn
    with the Run on Oona's Hoard in the news and gossip of several lengths."""
    env = parallel_env("default", turns=14)
    obs, _ = env.reset(seed=4)
    first = obs
    disp = {c: standin.disposition(env.scenario.creatures[c].disposition) for c in env.possible_agents}
    gossip = {"oona": "Honey for all!", "thorn": "Firewood is cheap this week, come to the old oak before dusk " * 2}
    while env.world.turn < 12:
        actions = {c: {**standin.act(obs[c], disp[c], 4), "gossip": gossip.get(c, "")} for c in env.agents}
        obs, *_ = env.step(actions)
    assert obs["hazel"]["events"]  # the legend is in the air
    return {"first": first, "later": obs}


def mixed_obs(wood) -> list[dict]:
    return [
        wood["first"]["oona"],
        wood["later"]["hazel"],
        wood["first"]["thorn"],
        wood["later"]["moss"],
        wood["later"]["bramble"],
    ]


def texts(decisions: list[Decision]) -> list[str]:
    return [d.text for d in decisions]


# --- batching ----------------------------------------------------------------------------------


def test_batched_equals_one_by_one(shared, adapters, wood):
    observations = mixed_obs(wood)
    lengths = {len(json.dumps(render(o))) for o in observations}
    assert len(lengths) == len(observations)  # prompts of different lengths: real left padding
    policy = HFPolicy(
        shared, adapters["hoarder"], {"hazel": adapters["panic"], "moss": None}, Generation(max_new_tokens=NEW_TOKENS)
    )
    batched = policy.act(observations)
    alone = [policy.act([obs])[0] for obs in observations]
    assert texts(batched) == texts(alone)
    assert [(d.prompt_tokens, d.completion_tokens, d.action, d.error) for d in batched] == [
        (d.prompt_tokens, d.completion_tokens, d.action, d.error) for d in alone
    ]
    assert len(set(texts(batched))) >= 3  # the rows really differ, so equality means something
    assert len({d.prompt_tokens for d in batched}) == len(observations)
    split = HFPolicy(
        shared,
        adapters["hoarder"],
        {"hazel": adapters["panic"], "moss": None},
        Generation(max_new_tokens=NEW_TOKENS, batch_size=2),
    )
    assert texts(split.act(observations)) == texts(batched)  # chunked generate calls agree too


def test_mixed_adapter_council(shared, tiny, adapters, wood, monkeypatch):
    spec = {"kind": "hf", "model": str(tiny), "max_new_tokens": NEW_TOKENS}
    council = load_council(
        {
            "oona": {**spec, "adapter": adapters["hoarder"]},
            "thorn": {**spec, "adapter": adapters["panic"]},
            "hazel": dict(spec),
            "bramble": "panic_seller",
            "moss": {"kind": "standin", "disposition": "hoarder"},
        }
    )
    policy = council["oona"]
    assert isinstance(policy, HFPolicy) and council["thorn"] is policy and council["hazel"] is policy
    assert policy.shared is shared  # one SharedModel per base model in the process
    assert isinstance(council["bramble"], StandIn) and isinstance(council["moss"], StandIn)

    obs = wood["first"]
    seats = ["oona", "thorn", "hazel"]
    calls = []
    real_generate = shared.generate_once

    def counting(conversations, names, gen, heads=None, schemas=None):
        calls.append(list(names))
        return real_generate(conversations, names, gen, heads, schemas)

    monkeypatch.setattr(shared, "generate_once", counting)
    together = policy.act([obs[c] for c in seats])
    monkeypatch.undo()
    assert len(calls) == 1 and calls[0][2] == BASE and len(set(calls[0])) == 3  # ONE mixed batch
    assert [d.policy for d in together] == ["hf:tiny+hoarder", "hf:tiny+panic", "hf:tiny"]

    gen = Generation(max_new_tokens=NEW_TOKENS)
    solo = {
        name: HFPolicy(shared, path, {}, gen)
        for name, path in (("hoarder", adapters["hoarder"]), ("panic", adapters["panic"]), ("base", None))
    }
    alone = [
        solo["hoarder"].act([obs["oona"]])[0],
        solo["panic"].act([obs["thorn"]])[0],
        solo["base"].act([obs["hazel"]])[0],
    ]
    assert texts(together) == texts(alone)
    assert [d.action for d in together] == [d.action for d in alone]

    # Same observation, three seats: the adapters change what is said, or this proves nothing.
    said = {name: p.act([obs["oona"]])[0].text for name, p in solo.items()}
    assert len(set(said.values())) == 3, said
    assert said["hoarder"] == together[0].text

    stand = council["moss"].act([obs["moss"]])[0]
    assert stand.text is None and stand.action == standin.act(obs["moss"], standin.disposition("hoarder"))


# --- the role-card prefix cache ----------------------------------------------------------------


def test_prefix_cache_changes_nothing_but_the_work(tiny, adapters, wood):
    """Cached role cards give the same answers and prompt counts as full prefill, alone and in
    mixed batches; each (adapter, card) is computed once, then only reused."""
    observations = mixed_obs(wood) + [wood["later"]["oona"], wood["first"]["hazel"]]
    seats = {"hazel": adapters["panic"], "moss": None}
    fresh = SharedModel(str(tiny))  # its own caches and counters
    cached = HFPolicy(fresh, adapters["hoarder"], seats, Generation(max_new_tokens=NEW_TOKENS))
    full = HFPolicy(fresh, adapters["hoarder"], seats, Generation(max_new_tokens=NEW_TOKENS, prefix_cache=False))

    reference = full.act(observations)
    assert fresh.prefix_tokens_computed == fresh.prefix_tokens_reused == 0  # switched off: untouched
    batched = cached.act(observations)
    computed = fresh.prefix_tokens_computed
    assert 0 < computed < fresh.prefix_tokens_reused  # oona and hazel's cards served twice
    assert len(fresh._prefixes) == 5  # five creatures, one adapter each here
    alone = [cached.act([obs])[0] for obs in observations]
    assert fresh.prefix_tokens_computed == computed  # nothing recomputed on later calls
    for run in (batched, alone):
        assert texts(run) == texts(reference)
        assert [(d.prompt_tokens, d.completion_tokens, d.action) for d in run] == [
            (d.prompt_tokens, d.completion_tokens, d.action) for d in reference
        ]
    assert len(set(texts(reference))) >= 3

    # The card covers most of the system message: a real saving, not one token.
    card_tokens = computed / 5
    assert card_tokens > 0.35 * min(d.prompt_tokens for d in reference)


def test_prefix_cache_is_keyed_by_adapter_and_bounded(tiny, adapters, wood, monkeypatch):
    import glade.seats.hf as hf_seat

    fresh = SharedModel(str(tiny))
    obs = wood["first"]["oona"]
    said = {}
    for name, adapter in (("hoarder", adapters["hoarder"]), ("panic", adapters["panic"]), ("base", None)):
        uncached = HFPolicy(fresh, adapter, {}, Generation(max_new_tokens=NEW_TOKENS, prefix_cache=False)).act([obs])[0]
        said[name] = HFPolicy(fresh, adapter, {}, Generation(max_new_tokens=NEW_TOKENS)).act([obs])[0].text
        assert said[name] == uncached.text  # the adapter's own keys and values, not another's
    assert len(set(said.values())) == 3 and len(fresh._prefixes) == 3

    monkeypatch.setattr(hf_seat, "PREFIX_CACHE_ENTRIES", 2)
    HFPolicy(fresh, None, {}, Generation(max_new_tokens=2)).act([wood["first"]["thorn"]])
    assert len(fresh._prefixes) == 2  # the oldest entries went


def test_prefix_cache_falls_back_when_the_card_is_not_in_the_prompt(shared, wood):
    obs = wood["first"]["thorn"]
    conversation = render(obs)
    gen = Generation(max_new_tokens=NEW_TOKENS)
    before = shared.prefix_tokens_reused
    missing = shared.generate([conversation], [BASE], gen, heads=["no prompt says this"])
    assert shared.prefix_tokens_reused == before
    assert missing == shared.generate([conversation], [BASE], Generation(max_new_tokens=NEW_TOKENS, prefix_cache=False))


def test_sliding_window_models_skip_the_prefix_cache(tiny, wood, tmp_path):
    """A sliding-window cache cannot be assembled row by row: such a model prefills in full."""
    folder = tmp_path / "windowed"
    shutil.copytree(tiny, folder)
    config = json.loads((folder / "config.json").read_text())
    config.update(use_sliding_window=True, sliding_window=64, max_window_layers=0)
    config.pop("layer_types", None)
    (folder / "config.json").write_text(json.dumps(config))
    windowed = SharedModel(str(folder))
    assert not windowed.prefix_cache_supported
    decisions = HFPolicy(windowed, None, {}, Generation(max_new_tokens=4)).act(mixed_obs(wood)[:2])
    assert len(decisions) == 2 and all(d.completion_tokens == 4 for d in decisions)
    assert windowed.prefix_tokens_reused == windowed.prefix_tokens_computed == 0


# --- stopping at the end of the JSON object ----------------------------------------------------


def closes_at(text: str, chunks: int = 1) -> int | None:
    """Index just past the character at which a JsonScan fed `text` in `chunks`-sized pieces
    reports done (None if it never does)."""
    scan = JsonScan()
    for i in range(0, len(text), chunks):
        if scan.feed(text[i : i + chunks]):
            return i + chunks
    return None


@pytest.mark.parametrize(
    "text, end",
    [
        ('{"orders": []}', 14),
        ('Sure: {"orders": [{"side": "buy"}]} and then {"more": 1}', 35),
        ('{"gossip": "a } b { c}", "orders": []} tail', 38),  # braces inside a string
        ('{"gossip": "say \\"}\\" twice", "x": {}} tail', 38),  # escaped quotes
        ("{'gossip': 'a}b', 'orders': []} tail", 31),  # single-quoted strings
        ('<think>maybe {"orders": [1]} or not</think>{"orders": []}!', 57),  # a think block
        ("no json at all, just }} and prose", None),
        ('{"orders": [', None),  # still open
    ],
)
def test_json_scan(text, end):
    assert closes_at(text) == end
    if end is not None:
        assert text[end - 1] == "}"
        assert closes_at(text, chunks=5) == -(-end // 5) * 5  # token-sized pieces: done in the piece holding it
    assert closes_at(text, chunks=len(text) or 1) == (len(text) if end is not None else None)


def test_json_scan_stops_at_the_first_close_inside_a_token():
    scan = JsonScan()
    assert scan.feed('{"a": 1}{"b": ') and scan.done
    assert scan.feed("2}")  # stays done: later text cannot reopen it


class Script(LogitsProcessor):
    """Forces each row to emit its scripted token ids (then eos): a model that says what we want."""

    def __init__(self, scripts: list[list[int]], width: int, eos: int):
        self.scripts, self.width, self.eos = scripts, width, eos

    def __call__(self, input_ids, scores):
        step = input_ids.shape[1] - self.width
        forced = torch.full_like(scores, float("-inf"))
        for row, script in enumerate(self.scripts):
            forced[row, script[step] if step < len(script) else self.eos] = 0.0
        return forced


def test_json_end_stops_each_row_right_after_its_object(shared):
    tok, model = shared.tokenizer, shared.model
    answer = '{"orders": [{"side": "sell", "good": "honey", "qty": 2, "price": 9.5}], "gossip": "a } b"}'
    scripts = [
        tok.encode(answer + " and then some more words", add_special_tokens=False),
        tok.encode("I will not answer in json today, no braces at all here. " * 8, add_special_tokens=False),
    ]
    budget = len(scripts[0]) + 8
    assert len(scripts[1]) > budget
    enc = tok(["<|im_start|>user\nhi<|im_end|>\n<|im_start|>assistant\n", "hi"], return_tensors="pt", padding=True)
    width = enc["input_ids"].shape[1]
    stop = JsonEnd(tok, width, 2)
    with torch.inference_mode():
        ids = model.generate(
            **enc,
            max_new_tokens=budget,
            do_sample=False,
            pad_token_id=tok.pad_token_id,
            logits_processor=LogitsProcessorList([Script(scripts, width, tok.eos_token_id)]),
            stopping_criteria=[stop],
        )
    rows = [row[row != tok.pad_token_id] for row in ids[:, width:]]
    assert tok.decode(rows[0]) == answer  # stopped on the token that closed the object
    assert len(rows[1]) == budget  # the other row ran on to its budget
    assert [scan.done for scan in stop.rows] == [True, False]


def test_sampled_run_is_reproducible(shared, adapters, wood):
    observations = mixed_obs(wood)[:3]
    gen = Generation(max_new_tokens=NEW_TOKENS, temperature=1.0, seed=5)
    policy = HFPolicy(shared, adapters["hoarder"], {}, gen)
    torch.manual_seed(123)
    state = torch.get_rng_state()
    first = texts(policy.act(observations))
    assert torch.equal(torch.get_rng_state(), state)  # the caller's RNG stream is left alone
    torch.manual_seed(999)
    assert texts(policy.act(observations)) == first  # same seed, same words, whatever the global RNG
    other = HFPolicy(shared, adapters["hoarder"], {}, Generation(max_new_tokens=NEW_TOKENS, temperature=1.0, seed=6))
    assert texts(other.act(observations)) != first
    greedy = HFPolicy(shared, adapters["hoarder"], {}, Generation(max_new_tokens=NEW_TOKENS))
    assert texts(greedy.act(observations)) != first  # it really sampled


def test_loading_an_adapter_on_the_first_turn_leaves_the_callers_rng_alone(tiny, adapters, wood):
    # PEFT draws a new adapter's weights at random before loading them: a seat whose adapter was not yet
    # loaded moved the caller's RNG on its first act (test_sampled_run_is_reproducible failed by test order)
    policy = HFPolicy(SharedModel(str(tiny)), adapters["hoarder"], {}, Generation(max_new_tokens=NEW_TOKENS))
    torch.manual_seed(123)
    state = torch.get_rng_state()
    policy.act(mixed_obs(wood)[:1])
    assert torch.equal(torch.get_rng_state(), state)


def test_folder_sampling_defaults_do_not_leak_into_greedy(tiny, shared, wood, tmp_path):
    """A folder shipping Qwen-style sampling defaults (do_sample, top_k, a repetition penalty)
    still decodes greedily when the seat says temperature 0, and samples only as told."""
    folder = tmp_path / "tiny_sampling_defaults"
    shutil.copytree(tiny, folder)
    config = json.loads((folder / "generation_config.json").read_text())
    config.update(do_sample=True, temperature=0.7, top_k=5, top_p=0.8, repetition_penalty=1.5, no_repeat_ngram_size=2)
    (folder / "generation_config.json").write_text(json.dumps(config))
    observations = mixed_obs(wood)[:2]
    gen = Generation(max_new_tokens=NEW_TOKENS)
    plain = texts(HFPolicy(shared, None, {}, gen).act(observations))
    assert texts(HFPolicy(SharedModel(str(folder)), None, {}, gen).act(observations)) == plain


# --- seat spec errors ----------------------------------------------------------------------------


def test_load_errors_name_the_key(tiny, adapters, tmp_path):
    with pytest.raises(SeatSpecError, match="'model'"):
        load({"kind": "hf", "adapter": adapters["hoarder"]})
    with pytest.raises(SeatSpecError, match="checkpoint path"):
        load({"kind": "checkpoint"})
    with pytest.raises(SeatSpecError, match="'temperature_'"):
        load({"kind": "hf", "model": str(tiny), "temperature_": 0.5})
    with pytest.raises(SeatSpecError, match="prefix_cache: expected true or false, got 'no'"):
        load({"kind": "hf", "model": str(tiny), "prefix_cache": "no"})

    empty = tmp_path / "not_an_adapter"
    empty.mkdir()
    (empty / "adapter_model.safetensors").write_bytes(b"")
    with pytest.raises(SeatSpecError, match=r"adapter.*adapter_config\.json"):
        load({"kind": "hf", "model": str(tiny), "adapter": str(empty)})

    checkpoint = tmp_path / "run1"
    shutil.copytree(adapters["panic"], checkpoint)
    with pytest.raises(SeatSpecError, match=r"meta\.json"):
        load({"kind": "checkpoint", "path": str(checkpoint)})
    (checkpoint / "meta.json").write_text(json.dumps({"run": "run1"}))
    with pytest.raises(SeatSpecError, match="base_model"):
        load({"kind": "checkpoint", "path": str(checkpoint)})

    # Fixed: the checkpoint seats, with its folder named as the adapter.
    (checkpoint / "meta.json").write_text(json.dumps({"base_model": str(tiny)}))
    council = load_council({"oona": {"kind": "checkpoint", "path": str(checkpoint), "max_new_tokens": 4}})
    assert council["oona"].seat_identity("oona") == "hf:tiny+run1"


def test_load_of_one_seat_uses_its_adapter(tiny, adapters, wood):
    """load() of a single seat: its adapter serves whatever creature it is asked about."""
    policy = load({"kind": "hf", "model": str(tiny), "adapter": adapters["hoarder"], "max_new_tokens": NEW_TOKENS})
    assert policy.name == "hf:tiny+hoarder"
    assert policy.act([wood["first"]["oona"]])[0].policy == "hf:tiny+hoarder"
