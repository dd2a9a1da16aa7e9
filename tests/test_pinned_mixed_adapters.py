"""Tests written by a mutation audit of the hf seat's mixed-adapter batches (glade.seats.lora_spans,
glade.seats.hf's grouping of rows by adapter and its prefix cache, glade.seats.hf_policy, and the
adapter checks of glade.seats.spec): each pins a behaviour that a plausible one-line change (a
comparison flipped, an off-by-one, a clause dropped, a constant changed) left untested. The
comment on each names what it guards."""

from __future__ import annotations

import json
import shutil

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from seat_checks import wood_states
from transformers import AutoModelForCausalLM

from glade.env.protocol import render, role_card
from glade.seats import SeatSpecError, check_inputs, lora_spans
from glade.seats.base import CUT_OFF
from glade.seats.hf import BASE, Generation, SharedModel, _sampling, shared_model
from glade.seats.hf_policy import HFPolicy

# tiny, adapters and one_thread: tests/conftest.py
pytestmark = [
    pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning"),
    pytest.mark.usefixtures("one_thread"),
]


@pytest.fixture(scope="module")
def states():
    return wood_states(6)


def _ids(rows: int) -> torch.Tensor:
    return torch.randint(3, 1000, (rows, 13), generator=torch.Generator().manual_seed(0))


# --------------------------------------------------------------------------- lora_spans


def test_bf16_base_with_float32_adapters_matches_peft_bit_for_bit(tiny, adapters):
    # guards _add_updates' casts: rows to the adapter's dtype (PEFT keeps a bf16 base's adapters
    # in float32) and the update back to the base output's dtype before it is added
    base = AutoModelForCausalLM.from_pretrained(tiny, dtype=torch.bfloat16)
    model = PeftModel.from_pretrained(base, adapters["hoarder"], "h")
    model.load_adapter(adapters["panic"], adapter_name="p")
    model.eval()
    assert model.base_model.model.model.layers[0].self_attn.q_proj.lora_A["h"].weight.dtype == torch.float32
    names = ["h", "h", "p", BASE, BASE]
    ids = _ids(len(names))
    with torch.inference_mode():
        peft = model(input_ids=ids, adapter_names=names).logits
        with lora_spans.by_spans(model, lora_spans.spans(names), BASE):
            ours = model(input_ids=ids).logits
    assert ours.dtype == torch.bfloat16 and torch.equal(ours, peft)


def test_adapters_on_different_layers_each_touch_only_their_own(tiny, tmp_path):
    # guards _updates' `name not in layer.lora_A`: a layer one adapter targets and another does
    # not is skipped for the other's rows (no KeyError, no update)
    paths = {}
    with torch.random.fork_rng(devices=[]):
        for name, module in (("q", "q_proj"), ("v", "v_proj")):
            torch.manual_seed(3)
            config = LoraConfig(r=4, target_modules=[module], init_lora_weights=False)
            get_peft_model(AutoModelForCausalLM.from_pretrained(tiny), config).save_pretrained(tmp_path / name)
            paths[name] = tmp_path / name
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny), paths["q"], "q")
    model.load_adapter(paths["v"], adapter_name="v")
    model.eval()
    names = ["q", "q", "v", BASE]
    ids = _ids(len(names))
    with torch.inference_mode():
        peft = model(input_ids=ids, adapter_names=names).logits
        with lora_spans.by_spans(model, lora_spans.spans(names), BASE):
            ours = model(input_ids=ids).logits
    assert torch.equal(ours, peft)
    assert not torch.equal(ours[2], ours[3])  # the v adapter really changed its row


# --------------------------------------------------------------------------- SharedModel.generate


def test_rows_go_in_one_slice_per_adapter_in_order_of_first_appearance(tiny, adapters, states, monkeypatch):
    # guards generate's grouping: `first.setdefault` (first appearance, not last) and the sort
    # by it (without it each adapter is several slices), then replies back in the rows' order
    shared = SharedModel(str(tiny))
    h, p = shared.adapter_name(adapters["hoarder"]), shared.adapter_name(adapters["panic"])
    names = [h, BASE, p, h, BASE]
    conversations = [render(s) for s in states[:5]]
    runs = []
    real = lora_spans.by_spans

    def recording(model, spans, base):
        runs.append(spans)
        return real(model, spans, base)

    monkeypatch.setattr(lora_spans, "by_spans", recording)
    gen = Generation(6, prefix_cache=False)
    together = shared.generate(conversations, names, gen)
    assert runs == [[(h, 0, 2), (BASE, 2, 4), (p, 4, 5)]]
    alone = [shared.generate([c], [n], gen)[0] for c, n in zip(conversations, names)]
    assert together == alone


def test_each_chunk_of_a_sampled_call_is_seeded_by_its_first_row(tiny, states):
    # guards `seed=gen.seed + start`: chunks of one call do not repeat each other's draws
    shared = SharedModel(str(tiny))
    conversation = render(states[0])
    gen = Generation(12, temperature=1.0, seed=5, batch_size=1)
    twice = shared.generate([conversation, conversation], [BASE, BASE], gen)
    expected = [shared.generate([conversation], [BASE], Generation(12, temperature=1.0, seed=s))[0] for s in (5, 6)]
    assert twice == expected and twice[0][0] != twice[1][0]


def test_a_row_that_stops_early_counts_only_its_own_tokens(tiny, states):
    # guards `keep = new[new != pad]`: a structured row that closes its object while a free row
    # runs on is padded in the batch; its completion count is its own, as when it runs alone
    from glade.env.action_schema import action_schema

    shared = SharedModel(str(tiny))
    conversations = [render(s) for s in (states[1], states[0])]
    gen = Generation(48, prefix_cache=False)
    together = shared.generate(conversations, [BASE, BASE], gen, schemas=[action_schema(states[1]), None])
    alone = shared.generate(conversations[:1], [BASE], gen, schemas=[action_schema(states[1])])
    assert together[0] == alone[0] and together[0][2] < gen.max_new_tokens
    assert together[1][2] == gen.max_new_tokens  # the free row ran to its budget: the first was padded


def test_a_later_adapter_peft_cannot_slice_switches_the_model_to_peft_path(tiny, adapters, states, tmp_path):
    # guards adapter_name's `spans_supported = supported(model)` recomputed on every load: a LoRA
    # on embeddings loaded after a plain one must not be served by slices (which skip it)
    config = LoraConfig(r=4, target_modules=["q_proj", "embed_tokens"], init_lora_weights=False)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(4)
        get_peft_model(AutoModelForCausalLM.from_pretrained(tiny), config).save_pretrained(tmp_path / "embedding")
    gen = Generation(10)
    shared = SharedModel(str(tiny))
    HFPolicy(shared, adapters["hoarder"], {}, gen).act(states[:1])
    assert shared.spans_supported
    policy = HFPolicy(shared, str(tmp_path / "embedding"), {}, gen)
    answers = [d.text for d in policy.act(states[:3])]
    assert not shared.spans_supported
    alone = HFPolicy(SharedModel(str(tiny)), str(tmp_path / "embedding"), {}, gen)
    assert answers == [d.text for d in alone.act(states[:3])]


def test_one_adapter_folder_spelled_two_ways_loads_once(tiny, adapters):
    # guards adapter_name's key `Path(path).resolve()`: one folder, one adapter, one batch group
    shared = SharedModel(str(tiny))
    name = shared.adapter_name(adapters["hoarder"])
    assert shared.adapter_name(adapters["hoarder"] + "/") == shared.adapter_name(adapters["hoarder"] + "/.") == name
    assert len(shared.adapters) == 1


def test_the_prefix_cache_keeps_the_entries_used_last(tiny, monkeypatch):
    # guards _prefix_kv's `move_to_end` on a hit: the bound drops the least recently used entry
    import glade.seats.hf as hf_seat

    monkeypatch.setattr(hf_seat, "PREFIX_CACHE_ENTRIES", 2)
    shared = SharedModel(str(tiny))
    a, b, c = [5, 6, 7], [8, 9], [10, 11, 12, 13]
    for ids in (a, b, a, c):
        shared._prefix_kv(ids, BASE)
    assert shared.prefix_tokens_computed == 3 + 2 + 4  # a's second use was a hit
    assert list(shared._prefixes) == [(BASE, tuple(a)), (BASE, tuple(c))]  # b went, not a


def test_head_length_counts_the_leading_tokens_that_match_and_leaves_one(tiny, states):
    # guards _head_length: the count stops at the first token that differs (`break`), and a head
    # that is the whole prompt still leaves its last token to prefill (`min(n, len(ids) - 1)`)
    shared = SharedModel(str(tiny))
    prompt = shared.tokenizer.apply_chat_template(render(states[0]), add_generation_prompt=True, tokenize=False)
    ids = shared.tokenizer(prompt, add_special_tokens=False)["input_ids"]
    assert shared._head_length(prompt, prompt, ids) == len(ids) - 1
    assert shared._head_length(prompt, "no prompt says this", ids) == shared._head_length(prompt, "", ids) == 0
    changed = ids[:3] + [ids[3] + 1] + ids[4:]
    assert shared._head_length(prompt, prompt, changed) == 3


def test_one_row_whose_card_is_missing_does_not_switch_the_cache_off_for_the_rest(tiny, states):
    # guards _with_prefix_cache's `if not any(cut)`: rows with a head still reuse it
    shared = SharedModel(str(tiny))
    conversations = [render(s) for s in states[:2]]
    heads = [role_card(states[0]), "no prompt says this"]
    cached = shared.generate(conversations, [BASE, BASE], Generation(8), heads=heads)
    assert shared.prefix_tokens_reused > 0 and len(shared._prefixes) == 1
    assert cached == shared.generate(conversations, [BASE, BASE], Generation(8, prefix_cache=False))


def test_the_head_token_memo_is_bounded(tiny, monkeypatch):
    # guards _head_length's clear at 4 * PREFIX_CACHE_ENTRIES: the memo of head tokens cannot grow
    import glade.seats.hf as hf_seat

    monkeypatch.setattr(hf_seat, "PREFIX_CACHE_ENTRIES", 1)
    shared = SharedModel(str(tiny))
    for n in range(9):
        head = f"card {n}"
        shared._head_length(f"<|im_start|>system\n{head} and more", head, [5, 6, 7])
    assert 0 < len(shared._head_ids) <= 4


# --------------------------------------------------------------------------- HFPolicy


def test_a_batch_of_two_policies_seats_each_row_on_its_own_policy_adapter(tiny, adapters, states):
    # guards act_batch's `p.adapters.get(..., p.default_adapter)`: each pair's own policy decides
    # its row's adapter, not the policy act_batch was called on
    shared = SharedModel(str(tiny))
    gen = Generation(10)
    hoarder, panic = HFPolicy(shared, adapters["hoarder"], {}, gen), HFPolicy(shared, adapters["panic"], {}, gen)
    obs = states[0]
    together = hoarder.act_batch([(hoarder, obs), (panic, obs)])
    alone = [hoarder.act([obs])[0], panic.act([obs])[0]]
    assert [d.text for d in together] == [d.text for d in alone] and alone[0].text != alone[1].text
    # and act_batch's `policy.seat_identity`: each row is credited to its own policy's seat
    assert [d.policy for d in together] == ["hf:tiny+hoarder", "hf:tiny+panic"]


def test_an_answer_that_spent_exactly_its_budget_is_cut_off(tiny, states):
    # guards act_batch's `completion_tokens >= max_new_tokens`: the whole budget spent is a cut
    policy = HFPolicy(SharedModel(str(tiny)), None, {}, Generation(8, structured=True))
    decision = policy.act(states[:1])[0]
    assert decision.completion_tokens == 8 and decision.text.startswith('{"orders": [')
    assert decision.error == CUT_OFF


def test_a_policy_of_another_generation_config_is_refused_in_a_batch(tiny):
    # guards act_batch's batch_key comparison: one generate call runs with one Generation
    shared = SharedModel(str(tiny))
    policy, other = HFPolicy(shared, None, {}, Generation(10)), HFPolicy(shared, None, {}, Generation(11))
    with pytest.raises(ValueError, match="every policy must share one model and one generation config"):
        policy.act_batch([(policy, {}), (other, {})])


def test_a_seat_identity_names_the_adapter_folder_even_with_a_trailing_slash(tiny, adapters):
    # guards model_identity's rstrip("/"): "path/" is still the adapter "hoarder", not "hf:tiny+"
    policy = HFPolicy(SharedModel(str(tiny)), adapters["hoarder"] + "/", {"moss": None}, Generation())
    assert policy.name == policy.seat_identity("oona") == "hf:tiny+hoarder"
    assert policy.seat_identity("moss") == "hf:tiny"


# --------------------------------------------------------------------------- spec's adapter checks


@pytest.mark.parametrize(
    "damage, says",
    [
        ("no_config", "has no adapter_config.json"),
        ("config_a_list", "adapter_config.json is not a JSON object"),
        ("weights_a_folder", "has no adapter weights"),
    ],
)
def test_a_damaged_adapter_folder_is_refused_before_loading_naming_what_is_wrong(adapters, tmp_path, damage, says):
    # guards model_inputs' adapter checks: config present, a JSON object, weights a file
    folder = tmp_path / "adapter"
    shutil.copytree(adapters["hoarder"], folder)
    if damage == "no_config":
        (folder / "adapter_config.json").unlink()
    elif damage == "config_a_list":
        (folder / "adapter_config.json").write_text("[]")
    else:
        (folder / "adapter_model.safetensors").unlink()
        (folder / "adapter_model.safetensors").mkdir()
    with pytest.raises(SeatSpecError, match=f"seat spec hf adapter: .*{says}"):
        check_inputs({"kind": "hf", "model": "m", "adapter": str(folder)})


def test_an_adapter_with_pickled_weights_or_dora_switched_off_passes_the_checks(adapters, tmp_path):
    # guards ADAPTER_WEIGHTS' adapter_model.bin (older PEFT) and the DoRA refusal's `use_dora` truth
    folder = tmp_path / "adapter"
    shutil.copytree(adapters["hoarder"], folder)
    (folder / "adapter_model.safetensors").rename(folder / "adapter_model.bin")
    config = json.loads((folder / "adapter_config.json").read_text())
    (folder / "adapter_config.json").write_text(json.dumps({**config, "use_dora": False}))
    check_inputs({"kind": "hf", "model": "m", "adapter": str(folder)})  # nothing raised


def test_an_empty_batch_is_no_answers(tiny):
    # guards act_batch's early return: no seats, no generate and no share of time divided by zero
    policy = HFPolicy(SharedModel(str(tiny)), None, {}, Generation())
    assert policy.act_batch([]) == [] and policy.act([]) == []


def test_models_of_one_path_in_two_dtypes_never_share_a_batch(tiny):
    # guards batch_key's `id(self.shared)`: the path alone would batch rows onto the wrong weights
    wide, narrow = SharedModel(str(tiny)), SharedModel(str(tiny), "bfloat16")
    assert HFPolicy(wide).batch_key() != HFPolicy(narrow).batch_key()
    assert HFPolicy(wide).batch_key() == HFPolicy(wide, "other").batch_key()


# --------------------------------------------------------------------------- decoding knobs, sharing


def test_sampling_is_temperature_and_nucleus_only_and_models_are_shared_per_device(tiny):
    # guards _sampling's `top_k=0` (no top-k cut, the docstring's promise) and shared_model's
    # key holding the device as well as the path and dtype
    knobs = _sampling(Generation(temperature=0.7, top_p=0.9))
    assert (knobs["do_sample"], knobs["temperature"], knobs["top_p"], knobs["top_k"]) == (True, 0.7, 0.9, 0)
    assert shared_model(str(tiny)) is shared_model(str(tiny), "float32", "cpu")
    assert shared_model(str(tiny), "float32", "cpu:0") is shared_model(str(tiny))  # one CPU, one model
