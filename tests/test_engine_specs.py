"""Engine choice on model seat specs (`engine: hf | vllm`): the errors that need no engine at all."""

from __future__ import annotations

import importlib.util

import pytest

from glade.seats import SeatSpecError, load
from glade.train.tiny import save_tiny


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return str(save_tiny(tmp_path_factory.mktemp("models") / "tiny", seed=0))


@pytest.mark.parametrize(
    "keys, message",
    [
        ({"engine": "tgi"}, "seat spec hf engine: expected one of hf, vllm, got 'tgi'"),
        ({"max_model_len": 2048}, "seat spec max_model_len: a key of engine: vllm, not of engine: hf"),
        ({"engine": "vllm", "batch_size": 8}, "seat spec batch_size: a key of engine: hf"),
        ({"engine": "vllm", "max_model_len": "long"}, "seat spec hf max_model_len: expected a whole number >= 1"),
        ({"engine": "vllm", "structured": "yes"}, "seat spec hf structured: expected true or false"),
    ],
)
def test_bad_engine_keys_are_named(tiny, keys, message):
    with pytest.raises(SeatSpecError, match=message):
        load({"kind": "hf", "model": tiny, **keys})


@pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed here")
def test_engine_vllm_without_vllm_says_how_to_install_it(tiny):
    with pytest.raises(SeatSpecError) as caught:
        load({"kind": "hf", "model": tiny, "engine": "vllm"})
    message = str(caught.value)
    assert message.startswith("seat spec engine: vllm needs vLLM")
    assert "pip install 'glade[vllm]'" in message and "engine: hf" in message and "\n" not in message
