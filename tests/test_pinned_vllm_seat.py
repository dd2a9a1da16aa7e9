"""Tests written by the mutation audit 14c (see test_pinned_model_seats.py) of the vLLM seat's own
logic (glade.seats.vllm): request building, the engine's LoRA capacity and restarts, and the
reading of outputs, none of which needs an engine. vLLM is absent from the usual venv, so the
module is imported here over a stand-in `vllm` package holding only the names it imports (an
engine is a fake that records what it was started with and answers scripted outputs); the
stand-ins leave sys.modules when the module's tests end. Where vLLM is installed (make
test-vllm) tests/test_vllm_seat.py runs the real thing and this file is skipped. The comment
on each test names what it guards."""

from __future__ import annotations

import importlib.util
import json
import sys
import types
from dataclasses import dataclass
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from seat_checks import wood_states

import glade.seats
from glade.env.action_schema import action_schema
from glade.seats.base import CUT_OFF
from glade.seats.hf import Generation
from glade.seats.structured import lark_grammar

pytestmark = [
    pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed: test_vllm_seat.py"),
    pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"),
]


class SamplingParams:
    def __init__(self, **knobs):
        self.__dict__.update(knobs)
        self.eos_token_id = None


@dataclass
class LoRARequest:
    lora_name: str
    lora_int_id: int
    lora_path: str


@dataclass
class StructuredOutputsParams:
    grammar: str


class FakeLLM:
    """An engine: records how it was started, each call and each shutdown; answers `script`
    (per row: (token ids, finish reason)) or else the prompt's last token, stopped by length."""

    def __init__(self, **options):
        self.options, self.script, self.calls = options, [], []
        self.stopped = []
        self.llm_engine = SimpleNamespace(engine_core=SimpleNamespace(shutdown=lambda: self.stopped.append(1)))

    def generate(self, prompts, params, lora_request=None, use_tqdm=True):
        self.calls.append((prompts, params, lora_request))
        rows = self.script or [([p["prompt_token_ids"][-1]], "length") for p in prompts]
        return [SimpleNamespace(outputs=[SimpleNamespace(token_ids=ids, finish_reason=why)]) for ids, why in rows]


def _stand_in_vllm() -> dict[str, types.ModuleType]:
    names = [
        "vllm",
        "vllm.lora",
        "vllm.lora.request",
        "vllm.sampling_params",
        "vllm.platforms",
        "vllm.v1",
        "vllm.v1.sample",
        "vllm.v1.sample.logits_processor",
        "vllm.v1.sample.logits_processor.builtin",
    ]
    mods = {name: types.ModuleType(name) for name in names}
    mods["vllm"].LLM, mods["vllm"].SamplingParams = FakeLLM, SamplingParams
    mods["vllm.lora.request"].LoRARequest = LoRARequest
    mods["vllm.sampling_params"].StructuredOutputsParams = StructuredOutputsParams
    mods["vllm.platforms"].current_platform = SimpleNamespace(device_type="cpu")
    mods["vllm.v1.sample.logits_processor"].BatchUpdate = object
    mods["vllm.v1.sample.logits_processor"].LogitsProcessor = object
    mods["vllm.v1.sample.logits_processor.builtin"].process_dict_updates = lambda *a: None
    return mods


@pytest.fixture(scope="module")
def vs():
    """glade.seats.vllm over the stand-in package; every trace of both is gone afterwards."""
    with pytest.MonkeyPatch.context() as mp:
        for name, module in _stand_in_vllm().items():
            mp.setitem(sys.modules, name, module)
        mp.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        try:
            yield importlib.import_module("glade.seats.vllm")
        finally:  # else glade.seats._vllm_seats would find this module instead of a missing vLLM
            for name in ("vllm", "vllm_stop"):
                sys.modules.pop(f"glade.seats.{name}", None)
                vars(glade.seats).pop(name, None)


@pytest.fixture
def engine(vs, tiny):
    return vs.SharedEngine(vs.EngineSettings(tiny))


def _adapter_of_rank(source: str, folder, r: int, pattern: dict | None = None) -> str:
    """A copy of the adapter config at `source` saying rank `r` (the ranks are all start() reads)."""
    folder.mkdir()
    config = json.loads(Path(source, "adapter_config.json").read_text())
    (folder / "adapter_config.json").write_text(json.dumps({**config, "r": r, "rank_pattern": pattern or {}}))
    return str(folder)


# --------------------------------------------------------------------------- requests


def test_greedy_rows_are_temperature_zero_and_sampled_rows_are_seeded_by_their_place(vs):
    # guards _sampling: greedy at 0, the budget as max_tokens, JsonStop on for every row, and a
    # sampled row's plain temperature + nucleus (no top-k) seeded `gen.seed + row`
    greedy = vs._sampling(Generation(max_new_tokens=7), 3, None)
    assert (greedy.temperature, greedy.max_tokens, greedy.structured_outputs) == (0.0, 7, None)
    stop_key = importlib.import_module("glade.seats.vllm_stop").STOP_AT_JSON_END
    assert greedy.extra_args == {stop_key: True} and greedy.detokenize is False
    sampled = vs._sampling(Generation(temperature=0.7, top_p=0.9, seed=10), 3, None)
    assert (sampled.temperature, sampled.top_p, sampled.top_k, sampled.seed) == (0.7, 0.9, 0, 13)


def test_a_schema_row_carries_the_hf_engines_grammar_of_its_schema(vs):
    # guards _sampling's structured_outputs: the row's own schema's lark grammar, None without one
    schema = action_schema(wood_states(1)[0])
    params = vs._sampling(Generation(), 0, schema)
    assert params.structured_outputs == StructuredOutputsParams(grammar=lark_grammar(schema))


def test_the_lora_rank_is_the_largest_of_r_and_the_rank_pattern_capped_up_to_what_vllm_serves(vs, adapters, tmp_path):
    # guards _lora_rank's max over `r` and rank_pattern, and _rank_cap's `rank <= cap`
    assert vs._lora_rank(_adapter_of_rank(adapters["hoarder"], tmp_path / "a", 4, {"q": 12})) == 12
    assert vs._lora_rank(_adapter_of_rank(adapters["hoarder"], tmp_path / "b", 16, {"q": 2})) == 16
    assert [vs._rank_cap(r) for r in (0, 1, 2, 8, 9, 320, 512)] == [1, 1, 8, 8, 16, 320, 512]
    with pytest.raises(ValueError, match="LoRA rank 513: vLLM serves ranks up to 512"):
        vs._rank_cap(513)
    with pytest.raises(ValueError, match="cannot read adapter_config.json"):
        vs._lora_rank(str(tmp_path))


def test_adapters_are_numbered_from_one_once_per_folder(engine, adapters):
    # guards SharedEngine.adapter: None is the base, ids count from 1, one folder is one request
    assert engine.adapter(None) is None
    first, second = engine.adapter(adapters["hoarder"]), engine.adapter(adapters["panic"])
    assert (first.lora_name, first.lora_int_id, second.lora_int_id) == ("a1", 1, 2)
    assert engine.adapter(adapters["hoarder"] + "/.") is first and engine.ranks[first.lora_path] == 4


# --------------------------------------------------------------------------- start and restart


def test_the_engine_starts_with_room_for_each_adapter_and_the_null_one_and_restarts_only_for_a_larger_rank(
    engine, adapters, tmp_path
):
    # guards start(): LoRA off without adapters; slots = adapters + the CPU null adapter; the
    # rank capped up; no restart while every rank fits, one restart when one does not
    engine.start()
    assert "enable_lora" not in engine.llm.options and engine.lora_capacity == (False, 0) and engine.starts == 1
    engine.adapter(adapters["hoarder"])
    first = engine.llm
    engine.start()  # LoRA was off: a restart turns it on
    assert first.stopped == [1]
    options = engine.llm.options
    assert (options["enable_lora"], options["max_lora_rank"], options["max_loras"]) == (True, 8, 2)
    assert engine.lora_capacity == (True, 8) and engine.starts == 2
    engine.adapter(_adapter_of_rank(adapters["hoarder"], tmp_path / "r8", 8))
    engine.start()
    assert engine.starts == 2  # rank 8 fits the running engine
    engine.adapter(_adapter_of_rank(adapters["hoarder"], tmp_path / "r9", 9))
    engine.start()
    assert engine.starts == 3 and engine.llm.options["max_lora_rank"] == 16 and engine.llm.options["max_loras"] == 4
    assert engine.llm.options["seed"] == 0 and engine.llm.options["generation_config"] == "vllm"


def test_a_settings_dtype_or_device_vllm_cannot_run_is_refused(vs, tiny):
    # guards SharedEngine's checks: a dtype of no known name, a device of another kind
    with pytest.raises(ValueError, match="dtype: expected one of"):
        vs.SharedEngine(vs.EngineSettings(tiny, dtype="float64"))
    with pytest.raises(ValueError, match="device: this vLLM build runs on 'cpu', the seat asks for 'cuda:0'"):
        vs.SharedEngine(vs.EngineSettings(tiny, device="cuda:0"))
    assert vs.SharedEngine(vs.EngineSettings(tiny, device="cpu:0")).settings.device == "cpu"  # cpu:N is cpu


# --------------------------------------------------------------------------- generate


def test_outputs_drop_the_end_token_after_a_closed_object_and_count_the_prompt(engine):
    # guards generate's reading: the end token after a closed object is not counted (hf never
    # generates it), a row stopped otherwise keeps all its tokens, prompt tokens are the row's
    tok = engine.tokenizer
    closed = tok('{"orders": []}', add_special_tokens=False)["input_ids"]
    open_ = tok('{"orders": [', add_special_tokens=False)["input_ids"]
    eos = tok.eos_token_id
    engine.start()
    engine.llm.script = [(closed + [eos], "stop"), (open_ + [eos], "stop"), (closed, "length")]
    conversations = [[{"role": "user", "content": text}] for text in ("hi", "hello there", "hey")]
    replies = engine.generate(conversations, [None] * 3, Generation())
    prompts, params, loras = engine.llm.calls[0]
    assert [r[1] for r in replies] == [len(p["prompt_token_ids"]) for p in prompts]
    assert [(r[0], r[2]) for r in replies] == [
        ('{"orders": []}', len(closed)),
        ('{"orders": [', len(open_) + 1),
        ('{"orders": []}', len(closed)),
    ]
    assert loras is None and engine.calls == 1 and len(params) == 3  # LoRA off: no requests


def test_identical_greedy_rows_go_to_the_engine_once_and_sampled_ones_each(engine, adapters):
    # guards generate's distinct_rows: the engine call holds each (messages, adapter, schema)
    # once and every copy gets its answer; sampled rows are each drawn
    hoarder = engine.adapter(adapters["hoarder"])
    hi, hey = ([{"role": "user", "content": text}] for text in ("hi", "hey"))
    replies = engine.generate([hi, hey, hi, hi, hi], [None, None, None, hoarder, hoarder], Generation())
    prompts, _, loras = engine.llm.calls[0]
    assert len(prompts) == 3 and loras[2] is hoarder  # hi, hey, hi through the hoarder
    assert replies[2] == replies[0] and replies[4] == replies[3] and replies[1] != replies[0]
    again, copied, _ = engine.generate_once([hi, hey, hi, hi, hi], [None, None, None, hoarder, hoarder], Generation())
    assert again == replies and copied == [False, False, True, False, True]
    _, copied, _ = engine.generate_once([hi, hi], [None, None], Generation(temperature=1.0, seed=3))
    assert len(engine.llm.calls[2][0]) == 2 and copied == [False, False]


def test_on_cpu_a_base_row_of_a_lora_engine_goes_through_the_zeroed_first_adapter(engine, adapters):
    # guards generate's null adapter for base rows (CPU only) and _null_adapter's zeroed copy of
    # the FIRST adapter's weights under its own id
    from safetensors.torch import load_file

    hoarder = engine.adapter(adapters["hoarder"])
    engine.adapter(adapters["panic"])
    conversations = [[{"role": "user", "content": text}] for text in ("hi", "hello", "hey")]
    engine.generate(conversations, [None, hoarder, None], Generation())
    loras = engine.llm.calls[0][2]
    assert loras[1] is hoarder and loras[0] is loras[2] is engine.null
    assert engine.null.lora_name == "null" and engine.null.lora_int_id not in (1, 2)
    weights = load_file(f"{engine.null.lora_path}/adapter_model.safetensors")
    source = load_file(f"{adapters['hoarder']}/adapter_model.safetensors")
    assert weights.keys() == source.keys() and all(not torch.any(w) for w in weights.values())


def test_a_null_adapter_needs_safetensors_weights(engine, adapters, tmp_path):
    # guards _null_adapter's refusal of a first adapter without adapter_model.safetensors
    folder = tmp_path / "old"
    folder.mkdir()
    (folder / "adapter_config.json").write_text(Path(adapters["hoarder"], "adapter_config.json").read_text())
    engine.adapter(str(folder))
    with pytest.raises(ValueError, match="vLLM on CPU needs adapter_model.safetensors"):
        engine.generate([[{"role": "user", "content": "hi"}]], [None], Generation())


# --------------------------------------------------------------------------- the policy


def test_a_policy_names_its_seats_and_batches_structured_with_free(vs, engine, adapters):
    # guards model_identity (base name, +adapter, +structured) and batch_key leaving `structured` out
    free = vs.VLLMPolicy(engine, adapters["hoarder"] + "/", {"moss": None}, Generation(8))
    held = vs.VLLMPolicy(engine, None, {}, Generation(8, structured=True))
    assert (free.name, free.seat_identity("moss"), held.name) == (
        "vllm:tiny+hoarder",
        "vllm:tiny",
        "vllm:tiny+structured",
    )
    assert free.batch_key() == held.batch_key() != vs.VLLMPolicy(engine, None, {}, Generation(9)).batch_key()


def test_act_batch_holds_structured_rows_to_their_schema_and_names_a_spent_budget_cut_off(vs, engine):
    # guards act_batch: schemas only for structured policies' rows, each row's own policy's
    # identity, `completion_tokens >= max_new_tokens` as a cut, the refusal of another engine
    states = wood_states(2)
    cut = engine.tokenizer('{"orders": [{"side": "buy", "good": "acor', add_special_tokens=False)["input_ids"]
    free = vs.VLLMPolicy(engine, None, {}, Generation(len(cut)))
    held = vs.VLLMPolicy(engine, None, {}, Generation(len(cut), structured=True))
    engine.start()
    engine.llm.script = [(cut, "length"), (cut[:-1], "stop")]  # "length" is a cut, whatever the count
    decisions = free.act_batch([(free, states[0]), (held, states[1])])
    params = engine.llm.calls[0][1]
    assert params[0].structured_outputs is None and params[1].structured_outputs is not None
    assert [d.policy for d in decisions] == ["vllm:tiny", "vllm:tiny+structured"]
    assert (decisions[0].completion_tokens, decisions[0].error) == (len(cut), CUT_OFF)
    assert decisions[1].completion_tokens == len(cut) - 1 and decisions[1].error not in (None, CUT_OFF)
    other = vs.VLLMPolicy(vs.SharedEngine(engine.settings), None, {}, Generation(len(cut)))
    with pytest.raises(ValueError, match="every policy must share one vLLM engine"):
        free.act_batch([(free, states[0]), (other, states[1])])


def test_each_row_of_a_batch_goes_through_its_own_policys_adapter(vs, engine, adapters):
    # guards act_batch's `p.adapters.get(creature, p.default_adapter)`: the row's own policy
    # decides its adapter, not the policy act_batch was called on
    states = wood_states(2)
    hoarder = vs.VLLMPolicy(engine, adapters["hoarder"], {}, Generation(4))
    panic = vs.VLLMPolicy(engine, None, {states[1]["creature"]: adapters["panic"]}, Generation(4))
    hoarder.seat()
    panic.seat()
    hoarder.act_batch([(hoarder, states[0]), (panic, states[1])])
    assert engine.llm.calls[0][2] == [engine.adapter(adapters["hoarder"]), engine.adapter(adapters["panic"])]
