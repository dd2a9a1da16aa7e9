"""Seat mistakes reach the user as one named error before anything plays: an hf seat's device,
a model or adapter folder that transformers or PEFT cannot load, a server base_url glade
cannot append /chat/completions to, a python seat whose module or factory raises; and the
hint that fails a run names what to check for the seat's kind of fault."""

from __future__ import annotations

import json
import shutil
import sys
import textwrap

import pytest
import torch
from seat_checks import random_adapters

from glade.cli import main
from glade.seats import SeatSpecError, check_inputs, check_spec, load, load_council
from glade.seats.hf import shared_model
from glade.train.tiny import save_tiny


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    return save_tiny(tmp_path_factory.mktemp("models") / "tiny", seed=0)


@pytest.fixture(scope="module")
def adapter(tiny, tmp_path_factory):
    return random_adapters(tiny, tmp_path_factory.mktemp("adapters"))["hoarder"]


# --- hf device -----------------------------------------------------------------------------


@pytest.mark.parametrize("device", ["meta", "cuda:x", "CUDA", "cuda:", ""])
def test_a_device_that_is_no_device_is_refused_by_the_spec(device):
    with pytest.raises(SeatSpecError, match="seat spec hf device: expected a device name"):
        check_spec({"kind": "hf", "model": "m", "device": device})


@pytest.mark.parametrize("device", ["cpu", "cuda", "cuda:1", "mps", "xpu:0"])
def test_device_names_torch_knows_pass_the_spec(device):
    check_spec({"kind": "checkpoint", "path": "p", "device": device})


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has a CUDA device")
def test_a_cuda_seat_on_a_machine_without_one_is_a_named_error(tiny):
    with pytest.raises(SeatSpecError, match=r"oona: seat spec device: 'cuda:0' is not available.*use device: cpu"):
        load_council({"oona": {"kind": "hf", "model": str(tiny), "device": "cuda:0"}})


def test_an_unknown_device_type_is_one_error_line_from_simulate(tiny, tmp_path, capsys):
    council = tmp_path / "council.yaml"
    council.write_text(f"oona: {{kind: hf, model: {tiny}, device: gpu}}\n")
    code = main(["simulate", "--council", str(council), "--turns", "1", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert "seat spec device: 'gpu' is not available" in err
    assert "Traceback" not in err
    assert not (tmp_path / "out").exists()


# --- model and adapter folders ---------------------------------------------------------------


def test_an_adapter_folder_without_weights_is_refused_before_loading(adapter, tmp_path):
    folder = tmp_path / "adapter"
    shutil.copytree(adapter, folder)
    (folder / "adapter_model.safetensors").unlink()
    with pytest.raises(SeatSpecError, match="has no adapter weights"):
        check_inputs({"kind": "hf", "model": "m", "adapter": str(folder)})


def test_an_adapter_config_that_is_not_json_is_refused_before_loading(adapter, tmp_path):
    folder = tmp_path / "adapter"
    shutil.copytree(adapter, folder)
    (folder / "adapter_config.json").write_text("{not json")
    with pytest.raises(SeatSpecError, match="adapter_config.json is not readable JSON"):
        check_inputs({"kind": "hf", "model": "m", "adapter": str(folder)})


def test_an_adapter_of_another_shape_fails_at_load_naming_creature_and_adapter(tiny, adapter, tmp_path):
    folder = tmp_path / "other_rank"
    shutil.copytree(adapter, folder)
    config = json.loads((folder / "adapter_config.json").read_text())
    (folder / "adapter_config.json").write_text(json.dumps({**config, "r": 8}))  # weights are r 4
    spec = {"kind": "hf", "model": str(tiny), "adapter": str(folder), "dtype": "float16"}  # a model of its own
    with pytest.raises(SeatSpecError, match=r"^oona: seat spec hf adapter: .*PEFT could not load it") as caught:
        load_council({"oona": spec})  # before any turn is played
    assert "\n" not in str(caught.value)
    # the model PEFT may have changed in place before it failed is not handed to the next seat
    fresh = shared_model(str(tiny), "float16")
    assert not any("lora" in name for name, _ in fresh.model.named_modules())


def test_a_lone_seat_with_a_bad_adapter_names_no_placeholder_creature(tiny, adapter, tmp_path):
    folder = tmp_path / "corrupt"
    shutil.copytree(adapter, folder)
    (folder / "adapter_model.safetensors").write_bytes(b"garbage")
    with pytest.raises(SeatSpecError, match=r"^seat spec hf adapter: .*PEFT could not load it"):
        load({"kind": "hf", "model": str(tiny), "adapter": str(folder), "dtype": "bfloat16"})


@pytest.mark.parametrize("damage", ["no_weights", "corrupt_weights", "no_model_type"])
def test_a_model_folder_transformers_cannot_load_is_a_named_error(tiny, tmp_path, damage):
    folder = tmp_path / "model"
    shutil.copytree(tiny, folder)
    weights = next(folder.glob("*.safetensors"))
    if damage == "no_weights":
        weights.unlink()
    elif damage == "corrupt_weights":
        weights.write_bytes(b"junk")
    else:
        (folder / "config.json").write_text("{}")
    # a folder with no weights file is named before transformers is asked (glade.seats.spec.model_inputs)
    said = "has no weights \\(model.safetensors" if damage == "no_weights" else "transformers could not load it \\("
    with pytest.raises(SeatSpecError, match=rf"^hazel: seat spec hf model: .*{said}"):
        load_council({"hazel": {"kind": "hf", "model": str(folder)}})


# --- server base_url -----------------------------------------------------------------------


@pytest.mark.parametrize(
    "url",
    [
        "http://127.0.0.1:8000/v1/chat/completions",
        "http://127.0.0.1:8000/v1/chat/completions/",
        "http://127.0.0.1:8000/v 1",
        "http://127.0.0.1:8000/v1?api-version=1",
        "http://127.0.0.1:8000/v1#x",
    ],
)
def test_a_base_url_glade_cannot_append_the_chat_path_to_is_refused(url):
    with pytest.raises(SeatSpecError, match=r"seat spec server base_url: expected the server's API root"):
        load({"kind": "server", "base_url": url, "model": "m"})


def test_the_api_root_is_still_accepted():
    load({"kind": "server", "base_url": "http://127.0.0.1:8000/v1/", "model": "m"})
    load({"kind": "server", "base_url": "https://api.example.org/openai/v1", "model": "m"})


# --- python seats --------------------------------------------------------------------------


@pytest.fixture
def user_module(tmp_path, monkeypatch):
    """Write a module of the user's on sys.path: `user_module(name, source)`."""
    monkeypatch.syspath_prepend(str(tmp_path))

    def write(name: str, source: str) -> str:
        (tmp_path / f"{name}.py").write_text(textwrap.dedent(source))
        monkeypatch.delitem(sys.modules, name, raising=False)
        return name

    return write


def test_a_module_that_raises_on_import_is_a_named_spec_error(user_module):
    name = user_module("seat_import_boom", 'raise RuntimeError("no config file")\n')
    with pytest.raises(SeatSpecError, match=r"importing seat_import_boom raised RuntimeError: no config file"):
        load({"kind": "python", "entry_point": f"{name}:make"})


def test_a_module_with_a_syntax_error_is_a_named_spec_error(user_module):
    name = user_module("seat_syntax", "def make(:\n")
    with pytest.raises(SeatSpecError, match=r"importing seat_syntax raised SyntaxError"):
        load({"kind": "python", "entry_point": f"{name}:make"})


def test_a_factory_that_raises_is_a_named_spec_error_keeping_its_cause(user_module):
    name = user_module("seat_factory_boom", 'def make():\n    raise ValueError("weights missing")\n')
    with pytest.raises(SeatSpecError, match=r"seat_factory_boom:make'.*the factory raised ValueError") as caught:
        load({"kind": "python", "entry_point": f"{name}:make"})
    assert isinstance(caught.value.__cause__, ValueError)  # GLADE_DEBUG=1 shows its traceback


def test_a_seat_whose_name_is_not_text_is_refused_at_load(user_module, tmp_path, capsys):
    name = user_module(
        "seat_named_5",
        """
        class Seat:
            name = 5
            def act(self, observations):
                return [{"orders": []} for _ in observations]
        def make():
            return Seat()
        """,
    )
    council = tmp_path / "council.yaml"
    council.write_text(f'oona: {{kind: python, entry_point: "{name}:make"}}\n')
    code = main(["simulate", "--council", str(council), "--turns", "1", "--out", str(tmp_path / "out")])
    err = capsys.readouterr().err
    assert code == 2
    assert "whose name is 5; it must be a non-empty string" in err
    assert "Traceback" not in err


# --- the hint for a seat's faults -----------------------------------------------------------


@pytest.mark.parametrize(
    ("faults", "says"),
    [
        ({"server_refused": 9}, "is its server up"),
        ({"server_timeout": 3, "server_refused": 1}, "raise the seat's timeout"),
        ({"server_http_401": 9}, "api_key_env"),
        ({"server_http_404": 9}, "base_url the API root"),
        ({"server_http_400": 9}, "response_format"),
        ({"server_http_503": 9}, "see its log"),
        ({"server_http_405": 9}, "HTTP 405"),
        ({"server_bad_response": 9}, "OpenAI-compatible"),
    ],
)
def test_the_fault_hint_names_what_to_check_for_the_most_frequent_fault(faults, says):
    from glade.faults import fault_hint

    assert says in fault_hint(faults)
    assert fault_hint({}) == ""


# --- server seats of one spec share a call ---------------------------------------------------


def test_every_creature_on_one_server_spec_is_asked_at_once(fake_server):
    """`"*": {kind: server ...}` loads a policy per creature; their requests went out one creature
    after another (five round trips a turn, and a hung server cost five timeouts a turn)."""
    import threading
    import time

    from fake_server import completion
    from seat_checks import FAST, observations

    from glade.policy_calls import act_timed
    from glade.rollout import RolloutStats

    lock, in_flight, peak = threading.Lock(), [0], [0]

    def script(n, body, headers):
        with lock:
            in_flight[0] += 1
            peak[0] = max(peak[0], in_flight[0])
        time.sleep(0.2)
        with lock:
            in_flight[0] -= 1
        return 200, completion('{"orders": []}')

    server = fake_server(script)
    batch = observations()  # one observation per creature
    spec = {"kind": "server", "base_url": server.base_url, "model": "m", **FAST}
    council = load_council({obs["creature"]: dict(spec) for obs in batch})
    stats = RolloutStats()

    decisions = act_timed([(council[obs["creature"]], obs) for obs in batch], stats)[0]

    assert [d.error for d in decisions] == [None] * len(batch)
    assert stats.policy_calls == 1
    assert peak[0] == len(batch)
