"""A model named by Hub id that this machine has not cached and cannot download is named at
once, by every loader (hf and vLLM seats, train's model.base, merge and lm-eval's LoRA base),
instead of after huggingface_hub's retries (about 25 s per file, 50 s for a seat). The Hub here
is an endpoint under `.invalid`, which never resolves: no test reaches the network."""

import json
import time

import pytest
import yaml
from huggingface_hub import constants
from test_checkpoint import whole

from glade import checkpoint
from glade.cli import main
from glade.eval import harness
from glade.hub_ids import hub_unreachable
from glade.seats import load_council
from glade.seats.base import SeatSpecError
from glade.traces import GenerateRecipe, generate
from glade.train.merge import merge

UNREACHABLE = "not in the Hugging Face cache"


@pytest.fixture
def no_hub(monkeypatch, tmp_path):
    """Online mode, an empty cache and a Hub whose host does not resolve."""
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    monkeypatch.setattr(constants, "ENDPOINT", "https://hub.glade-test.invalid")
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    for key in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy"):
        monkeypatch.delenv(key, raising=False)
    return tmp_path / "hub"


def test_an_uncached_id_with_no_hub_is_named_with_the_fix(no_hub):
    started = time.perf_counter()
    why = hub_unreachable("someorg/model")
    assert time.perf_counter() - started < 10  # one lookup, no retries (they take 23 s)
    assert why.startswith(
        f"no local folder of that name, {UNREACHABLE} ({no_hub}), and the Hub (hub.glade-test.invalid)"
    )
    assert "cannot be reached (" in why and why.endswith(
        "download it once where the Hub is reachable (`hf download someorg/model`), or name a local folder that "
        "holds the model"
    )


def test_what_may_still_load_is_left_to_transformers(no_hub, tmp_path, monkeypatch):
    folder = tmp_path / "org" / "model"
    folder.mkdir(parents=True)
    monkeypatch.chdir(tmp_path)
    assert hub_unreachable("org/model") is None  # a local folder, though it reads as an id
    assert hub_unreachable("not an id") is None  # transformers names what it is
    assert hub_unreachable("shipped:tiny-base") is None
    snapshot = no_hub / "models--someorg--cached" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (snapshot / "config.json").write_text("{}")
    (no_hub / "models--someorg--cached" / "refs").mkdir()
    (no_hub / "models--someorg--cached" / "refs" / "main").write_text("abc123")
    assert hub_unreachable("someorg/cached") is None
    assert hub_unreachable("someorg/other") is not None
    monkeypatch.setenv("HTTPS_PROXY", "http://proxy.glade-test.invalid:3128")
    assert hub_unreachable("someorg/other") is None  # through a proxy the Hub's host is not ours to try
    monkeypatch.delenv("HTTPS_PROXY")
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)  # offline, a config alone is no model: weights too
    assert hub_unreachable("someorg/cached").startswith("not in the Hugging Face cache")
    assert "offline mode is on" in hub_unreachable("someorg/other")


def test_an_hf_seat_on_an_unreachable_id_is_a_seat_spec_error(no_hub):
    with pytest.raises(
        SeatSpecError, match=rf"^oona: seat spec hf model: 'someorg/model': no local folder .*{UNREACHABLE}"
    ):
        load_council({"oona": {"kind": "hf", "model": "someorg/model"}})


def test_a_train_base_that_cannot_be_fetched_names_model_base(no_hub, tmp_path, capsys):
    generate(GenerateRecipe(out=str(tmp_path / "traces"), councils={"h": {"*": "hoarder"}}, turns=2, worlds=2))
    recipe = {
        "name": "hubbed",
        "output_root": str(tmp_path / "checkpoints"),
        "model": {"base": "someorg/model"},
        "data": {"traces": [str(tmp_path / "traces")], "eval_share": 0.25},
        "sft": {"max_steps": 1, "use_cpu": True, "bf16": False, "report_to": "none"},
    }
    path = tmp_path / "hubbed.yaml"
    path.write_text(yaml.safe_dump(recipe))
    assert main(["train", str(path)]) == 2
    said = capsys.readouterr()
    last = said.err.strip().splitlines()[-1]
    assert last.startswith(f"error: {path}: model.base: 'someorg/model': no local folder of that name, {UNREACHABLE}")
    assert "data:" not in said.out + said.err  # named before the data is prepared
    assert main(["validate", "--kind", "train", str(path)]) == 1  # and validate says the input is not there yet
    assert f"NEEDS  {path}: model.base: 'someorg/model': no local folder" in capsys.readouterr().out


def test_merge_and_lm_eval_name_a_lora_base_they_cannot_fetch(no_hub, tmp_path):
    lora = tmp_path / "ckpt"
    lora.mkdir()
    whole(lora)
    (lora / "meta.json").write_text(json.dumps({"name": "x", "kind": "lora", "base_model": "someorg/base"}))
    assert checkpoint.finished(lora).base_model == "someorg/base"
    with pytest.raises(
        ValueError, match=rf"ckpt: its base model 'someorg/base' \(meta.json base_model\): .*{UNREACHABLE}"
    ):
        merge(lora, tmp_path / "merged")
    with pytest.raises(ValueError, match=rf"ckpt: cannot load its base model 'someorg/base' .*{UNREACHABLE}"):
        harness.load_model(lora, {"pretrained": "someorg/base", "peft": str(lora), "dtype": "float32"}, 1)


@pytest.mark.vllm
def test_a_vllm_engine_on_an_unreachable_id_is_named_before_it_starts(no_hub):
    vllm_seats = pytest.importorskip("glade.seats.vllm", reason="vLLM is not installed (make test-vllm installs it)")
    with pytest.raises(ValueError, match=rf"^model 'someorg/model': no local folder of that name, {UNREACHABLE}"):
        vllm_seats.SharedEngine(vllm_seats.EngineSettings(model="someorg/model"))
