"""glade.seats.lora_spans: mixed-adapter batches as slices give PEFT's answers bit for bit."""

from __future__ import annotations

import shutil

import pytest
import torch
from peft import LoraConfig, PeftModel, get_peft_model
from peft.tuners.lora.layer import LoraLayer
from seat_checks import random_adapters, wood_states
from transformers import AutoModelForCausalLM

from glade.seats import SeatSpecError, load, lora_spans
from glade.seats.hf import BASE, Generation, SharedModel
from glade.seats.hf_policy import HFPolicy
from glade.train.tiny import save_tiny

pytestmark = pytest.mark.filterwarnings("ignore:`is_gradient_checkpointing` is deprecated:FutureWarning")


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return save_tiny(tmp_path_factory.mktemp("models") / "tiny", seed=0)


@pytest.fixture(scope="module")
def adapters(tiny, tmp_path_factory):
    return random_adapters(tiny, tmp_path_factory.mktemp("adapters"))


def test_spans_are_the_runs_of_equal_names():
    assert lora_spans.spans(["a", "a", "b", "a"]) == [("a", 0, 2), ("b", 2, 3), ("a", 3, 4)]
    assert lora_spans.spans(["x"]) == [("x", 0, 1)]
    assert lora_spans.spans([]) == []


def test_logits_match_peft_mixed_batch_bit_for_bit(tiny, adapters):
    model = PeftModel.from_pretrained(AutoModelForCausalLM.from_pretrained(tiny), adapters["hoarder"], "h")
    model.load_adapter(adapters["panic"], adapter_name="p")
    model.eval()
    assert lora_spans.supported(model)
    names = ["h", "h", BASE, "p", "p", "p"]  # sorted by group, as SharedModel.generate sorts them
    ids = torch.randint(3, 1000, (len(names), 17), generator=torch.Generator().manual_seed(0))
    with torch.inference_mode():
        peft = model(input_ids=ids, adapter_names=names).logits
        with lora_spans.by_spans(model, lora_spans.spans(names), BASE):
            ours = model(input_ids=ids).logits
        bare = model(input_ids=ids, adapter_names=[BASE] * len(names)).logits
        after = model(input_ids=ids, adapter_names=names).logits
    assert torch.equal(ours, peft)
    assert not torch.equal(ours[0], bare[0]) and not torch.equal(ours[3], bare[3])  # the adapters change them
    assert torch.equal(ours[2], bare[2])  # the base row is the bare model's
    assert torch.equal(after, peft)  # the hooks are gone and PEFT's layers are back on


def test_generate_takes_the_slices_not_peft_mixed_batch(tiny, adapters, monkeypatch):
    """A council of two adapters and the base, rows interleaved: answered through slices (PEFT's
    mixed-batch function is never called), in the rows' own order, as PEFT's path answers."""
    shared = SharedModel(str(tiny))
    policy = HFPolicy(shared, adapters["hoarder"], {"hazel": adapters["panic"], "moss": None}, Generation(12))
    states = wood_states(10)
    with monkeypatch.context() as patch:

        def refuse(*args, **kwargs):
            raise AssertionError("PEFT's mixed batch was used")

        patch.setattr(LoraLayer, "_mixed_batch_forward", refuse)
        ours = policy.act(states)
        alone = [policy.act([s])[0].text for s in states]
    assert shared.spans_supported
    shared.spans_supported = False  # PEFT's own path, for comparison
    peft = policy.act(states)
    assert [d.text for d in ours] == [d.text for d in peft] == alone
    assert len({d.policy for d in ours}) == 3 and len({d.text for d in ours}) >= 3


def test_other_adapters_keep_peft_path(tiny, tmp_path):
    """A LoRA variant (DoRA), modules_to_save and LoRA on embeddings are PEFT's to run:
    `supported` says no, and a seat on such an adapter passes `adapter_names` as before. PEFT
    cannot batch DoRA at all: its seat is refused at load, with what to do."""
    for name, config in (
        ("dora", LoraConfig(r=4, target_modules=["q_proj"], use_dora=True, init_lora_weights=False)),
        ("saved", LoraConfig(r=4, target_modules=["q_proj"], modules_to_save=["norm"], init_lora_weights=False)),
        ("embedding", LoraConfig(r=4, target_modules=["q_proj", "embed_tokens"], init_lora_weights=False)),
    ):
        model = get_peft_model(AutoModelForCausalLM.from_pretrained(tiny), config)
        assert not lora_spans.supported(model), name
        model.save_pretrained(tmp_path / name)
    assert not lora_spans.supported(AutoModelForCausalLM.from_pretrained(tiny))  # no PEFT at all
    shared = SharedModel(str(tiny))
    policy = HFPolicy(shared, str(tmp_path / "embedding"), {"moss": None}, Generation(12))
    states = wood_states(5)
    answers = policy.act(states)
    assert not shared.spans_supported
    assert [d.text for d in answers] == [policy.act([s])[0].text for s in states]
    with pytest.raises(SeatSpecError, match=r"is a DoRA adapter, .* merge it into its base"):
        load({"kind": "hf", "model": str(tiny), "adapter": str(tmp_path / "dora")})


def test_sampled_answers_do_not_depend_on_where_adapters_live(tiny, adapters, tmp_path):
    """Rows are grouped in the order their adapters first appear, not by adapter name (a hash
    of the path): the same adapters copied to folders whose names sort the other way give the
    same sampled answers."""
    shared = SharedModel(str(tiny))
    names = [shared.adapter_name(adapters[k]) for k in ("hoarder", "panic")]
    for n in range(50):  # copies in folders whose adapter names sort the other way round
        copies = {k: tmp_path / f"{k}{n}" for k in ("hoarder", "panic")}
        for k, p in copies.items():
            shutil.copytree(adapters[k], p)
        moved = [shared.adapter_name(str(p)) for p in copies.values()]
        if (moved[0] < moved[1]) != (names[0] < names[1]):
            break
    gen = Generation(12, temperature=1.0, seed=5)
    states = wood_states(10)
    texts = []
    for paths in (adapters, {k: str(p) for k, p in copies.items()}):
        policy = HFPolicy(SharedModel(str(tiny)), paths["hoarder"], {"hazel": paths["panic"], "moss": None}, gen)
        texts.append([d.text for d in policy.act(states)])
    assert texts[0] == texts[1]
    assert len(set(texts[0])) >= 3
