"""What a user walk of README "Seats and the prompt protocol", "vLLM" and "Structured decoding"
found, pinned: cpu:N is cpu for the vLLM engine's zero-adapter fix, a vLLM answer cut by its
context is cut_off, a prompt past max_model_len and an engine vLLM will not start are one line
each, missing vLLM or llguidance is refused before a run, a server's 4xx explanation reaches the
fault line, seats that answer differently may not share a name, vLLM's chatter stays quiet, and a
misspelt engine or kind gets a hint. The vLLM engine runs here over test_pinned_vllm_seat's
stand-in `vllm` package (skipped where vLLM is installed: test_vllm_seat.py runs the real one)."""

from __future__ import annotations

import http.server
import importlib
import importlib.util
import json
import logging
import sys
import threading
import types

import pytest
from seat_checks import wood_states
from test_pinned_vllm_seat import _stand_in_vllm

import glade.seats
from glade.console import quiet_libraries, show_faults
from glade.seats import SeatSpecError, check_inputs, check_model_names, check_spec
from glade.seats.base import CUT_OFF, Generation
from glade.seats.server import ServerPolicy, seat_fault_hint, server_said
from glade.seats.vllm_text import load_failure, too_long

no_vllm = pytest.mark.skipif(importlib.util.find_spec("vllm") is not None, reason="vLLM is installed")


class VLLMValidationError(Exception):
    def __init__(self, message, *, parameter=None, value=None):
        super().__init__(message)
        self.parameter, self.value = parameter, value


@pytest.fixture(scope="module")
def vs():
    with pytest.MonkeyPatch.context() as mp:
        mods = _stand_in_vllm()
        mods["vllm.exceptions"] = types.ModuleType("vllm.exceptions")
        mods["vllm.exceptions"].VLLMValidationError = VLLMValidationError
        for name, module in mods.items():
            mp.setitem(sys.modules, name, module)
        mp.setenv("VLLM_ENABLE_V1_MULTIPROCESSING", "0")
        try:
            yield importlib.import_module("glade.seats.vllm")
        finally:
            for name in ("vllm", "vllm_stop"):
                sys.modules.pop(f"glade.seats.{name}", None)
                vars(glade.seats).pop(name, None)


# --------------------------------------------------------------------------- 1. cpu:0 is cpu


@no_vllm
def test_cpu_0_seats_share_the_cpu_engine_and_its_zero_adapter(vs, tiny):
    from glade.seats import _model_seat

    key = _model_seat({"kind": "hf", "model": tiny, "engine": "vllm", "device": "cpu:0"})[0]
    assert key[3] == "cpu"  # one sharing key (one engine) with device: cpu


@no_vllm
def test_a_cpu_0_engine_sends_base_rows_through_the_null_adapter(vs, tiny, adapters):
    assert vs.EngineSettings(tiny, device="cpu:0") == vs.EngineSettings(tiny)
    engine = vs.SharedEngine(vs.EngineSettings(tiny, device="cpu:0"))
    hoarder = engine.adapter(adapters["hoarder"])
    engine.generate([[{"role": "user", "content": "hi"}]] * 2, [None, hoarder], Generation(2))
    loras = engine.llm.calls[0][2]
    assert loras[0].lora_name == "null" and loras[1] is hoarder


# --------------------------------------------------------------------------- 2, 3. vLLM's cuts


@no_vllm
def test_an_answer_vllm_cut_short_of_the_budget_is_cut_off(vs, tiny):
    engine = vs.SharedEngine(vs.EngineSettings(tiny))
    policy = vs.VLLMPolicy(engine, None, {}, Generation(64))
    cut = engine.tokenizer('{"orders": [{"side": "buy", "good": "acor', add_special_tokens=False)["input_ids"]
    engine.start()
    engine.llm.script = [(cut, "length")]  # the context filled long before 64 tokens
    [decision] = policy.act(wood_states(1))
    assert decision.completion_tokens < 64 and decision.error == CUT_OFF


@no_vllm
def test_a_prompt_past_max_model_len_is_one_line_naming_it(vs, tiny):
    engine = vs.SharedEngine(vs.EngineSettings(tiny, max_model_len=30))

    def refuse(self, prompts, params, lora_request=None, use_tqdm=True):
        raise VLLMValidationError("This model's maximum context length is 30 tokens.", parameter="input_tokens")

    engine.start()
    engine.llm.generate = types.MethodType(refuse, engine.llm)
    conversation = [{"role": "user", "content": "a prompt longer than thirty tokens " * 4}]
    with pytest.raises(SeatSpecError) as caught:
        engine.generate([conversation], [None], Generation(8))
    message = str(caught.value)
    assert message.startswith("seat spec max_model_len: a prompt of ") and "\n" not in message
    assert "does not fit max_model_len 30; raise it to at least " in message


def test_too_long_says_the_length_to_ask_for():
    assert too_long("m", 300, 395, 160) == (
        "seat spec max_model_len: a prompt of 395 tokens does not fit max_model_len 300; raise it to at least 555"
        " (the prompt and max_new_tokens 160), or leave it out for the model's own context length"
    )


# --------------------------------------------------------------------------- 4. load failures


PYDANTIC = (
    "1 validation error for ModelConfig\n  Value error, User-specified max_model_len (100000) is greater than the "
    "derived max_model_len (max_position_embeddings=2048.0 or model_max_length=None in model's config.json). To "
    "allow overriding this maximum, set the env var VLLM_ALLOW_LONG_MAX_MODEL_LEN=1. [type=value_error, "
    "input_value=ArgsKwargs((), {}), input_type=ArgsKwargs]\n    For further information visit https://x"
)


def test_a_load_failure_says_why_and_the_seats_own_key_as_the_way_out():
    assert load_failure("/m", "cpu", ValueError(PYDANTIC)) == (
        "vLLM cannot load '/m': User-specified max_model_len (100000) is greater than the derived max_model_len "
        "(max_position_embeddings=2048.0 or model_max_length=None in model's config.json); lower the seat's "
        "max_model_len, or leave it out for the model's own context length"
    )
    other = load_failure("/m", "cpu", ValueError("Model architectures ['X'] are not supported."))
    assert other == (
        "vLLM cannot load '/m': Model architectures ['X'] are not supported; "
        "run it on the transformers engine instead (engine: hf)"
    )


# --------------------------------------------------------------------------- 5. missing libraries


def test_structured_without_llguidance_is_refused_before_the_run(tiny, monkeypatch):
    monkeypatch.setitem(sys.modules, "llguidance", None)
    with pytest.raises(SeatSpecError, match=r"^seat spec structured: true needs llguidance .*pip install"):
        check_inputs({"kind": "hf", "model": tiny, "structured": True})
    check_inputs({"kind": "hf", "model": tiny})  # unstructured seats do not need it


def test_engine_vllm_without_vllm_is_refused_before_the_run(tiny, monkeypatch):
    monkeypatch.setitem(sys.modules, "vllm", None)  # as where it is not installed
    with pytest.raises(SeatSpecError, match=r"^seat spec engine: vllm needs vLLM, which is not installed"):
        check_inputs({"kind": "hf", "model": tiny, "engine": "vllm"})


# --------------------------------------------------------------------------- 6. a server's 400


class Refusing(http.server.BaseHTTPRequestHandler):
    def do_POST(self):
        self.rfile.read(int(self.headers["Content-Length"]))
        body = json.dumps({"error": {"message": "This model's maximum context length is 2048 tokens. " + "x" * 300}})
        self.send_response(400)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body.encode())

    def log_message(self, *args):
        pass


def test_a_servers_400_explanation_reaches_the_fault_line(capsys):
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    try:
        policy = ServerPolicy(f"http://127.0.0.1:{server.server_port}/v1", "walk-400", retries=0)
        [decision] = policy.act(wood_states(1))
    finally:
        server.shutdown()
    assert decision.error == "server_http_400"
    said = server_said("server:walk-400", "server_http_400")
    assert said.startswith("This model's maximum context length is 2048 tokens. xxx") and len(said) == 200
    tally = {"server:walk-400": {"decisions": 1, "faults": {"server_http_400": 1}, "fault_share": 1.0}}
    show_faults(None, {}, [], 0.1)  # nothing over: nothing to say
    from rich.console import Console

    hint = seat_fault_hint("server:walk-400", tally["server:walk-400"]["faults"])
    assert hint.startswith("the server refused the request: ") and "; it said: This model's maximum context" in hint
    show_faults(Console(), tally, ["server:walk-400"], 0.1, hint)
    err = capsys.readouterr().err
    assert "; it said: This model's maximum context length is 2048" in err


def test_a_servers_400_explanation_reaches_the_early_stop_of_generate_and_eval(tmp_path, capsys):
    """A run that stops early (a seat refused from the start) says what the server said, as the
    end-of-run fault line does; eval names the seat by its policy name."""
    from resume_setup import eval_recipe, generate_recipe

    from glade.cli import main

    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Refusing)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    seat = {"kind": "server", "base_url": f"http://127.0.0.1:{server.server_port}/v1", "model": "m", "retries": 0}
    (tmp_path / "g").mkdir()
    (tmp_path / "e").mkdir()
    try:
        path = generate_recipe(tmp_path / "g", councils={"live": {"oona": seat}}, seeds={"count": 3}, worlds=1)
        assert main(["generate", str(path)]) == 1
        err = " ".join(capsys.readouterr().err.split())
        assert "stopped early" in err and "; it said: This model's maximum context length is 2048" in err
        path = eval_recipe(
            tmp_path / "e",
            policies={"live": seat},
            councils={"one": {"focal": {"oona": "live"}}},
            seeds={"start": 0, "count": 3},
            worlds=1,
        )
        assert main(["eval", str(path)]) == 1
        err = " ".join(capsys.readouterr().err.split())
        assert "seat 'live':" in err and "stopped early" in err
        assert "; it said: This model's maximum context length is 2048" in err
    finally:
        server.shutdown()


# --------------------------------------------------------------------------- 7. one name, two seats


def test_one_model_at_two_temperatures_may_not_share_a_name(tiny):
    hazel = {"kind": "hf", "model": tiny, "temperature": 0}
    moss = {**hazel, "temperature": 1.5, "max_new_tokens": 20}
    with pytest.raises(SeatSpecError) as caught:
        check_model_names({"c.hazel": hazel, "c.moss": moss})
    assert str(caught.value) == (
        "c.hazel (max_new_tokens 160, temperature 0) and c.moss (max_new_tokens 20, "
        "temperature 1.5) are two seats that answer differently but would both write policy "
        "hf:tiny in the rows (seats are named by their folders' names, not their generation settings), so the "
        "traces could not tell them apart; seat one of them on a copy or link of its model folder named for it"
    )
    # the same answers spelt two ways, and a greedy seat's unused sampling keys, are one seat
    check_model_names({"a": {"kind": "hf", "model": tiny}, "b": {**hazel, "seed": 5, "max_new_tokens": 160}})


def test_loopback_spellings_are_one_server_and_two_temperatures_on_it_are_refused():
    def server(url, **more):
        return {"kind": "server", "base_url": url, "model": "m", **more}

    check_model_names({"a": server("http://127.0.0.1:8000/v1"), "b": server("http://localhost:8000/v1/")}, True)
    with pytest.raises(SeatSpecError, match=r"^a \(temperature 0.0\) and b \(temperature 1.0\) are two seats of one"):
        check_model_names(
            {"a": server("http://127.0.0.1:8000/v1"), "b": server("http://[::1]:8000/v1", temperature=1.0)}, True
        )


# --------------------------------------------------------------------------- 8, 9. quiet, hints


def test_quiet_libraries_quiets_vllms_import_warning_and_torchs_cpp_notes(monkeypatch):
    monkeypatch.delenv("TORCH_CPP_LOG_LEVEL", raising=False)
    level = logging.getLogger("vllm").level
    try:
        quiet_libraries()
        assert logging.getLogger("vllm").level == logging.ERROR
        import os

        assert os.environ["TORCH_CPP_LOG_LEVEL"] == "ERROR"
    finally:
        logging.getLogger("vllm").setLevel(level)


@pytest.mark.parametrize(
    ("spec", "hint"),
    [
        ({"kind": "hf", "model": "m", "engine": "vlm"}, "got 'vlm'; did you mean vllm?"),
        ({"kind": "hf", "model": "m", "dtype": "bfloat"}, "; did you mean bfloat16?"),
        ({"kind": "chekpoint", "path": "x"}, "; did you mean checkpoint?"),
    ],
)
def test_a_misspelt_engine_dtype_or_kind_gets_a_hint(spec, hint):
    with pytest.raises(SeatSpecError) as caught:
        check_spec(spec)
    assert str(caught.value).endswith(hint)


# --------------------------------------------------------------------------- review of 7: names


def test_the_clash_names_only_the_settings_that_differ_and_sampling_ones_only_when_both_sample(tiny):
    warm = {"kind": "hf", "model": tiny, "temperature": 0.7}
    with pytest.raises(SeatSpecError, match=r"^a \(top_p 0.9\) and b \(top_p 1.0\) are two seats"):
        check_model_names({"a": {**warm, "top_p": 0.9}, "b": warm})
    with pytest.raises(SeatSpecError, match=r"^a \(temperature 0.0\) and b \(temperature 0.7\) are two seats"):
        check_model_names({"a": {"kind": "hf", "model": tiny}, "b": {**warm, "top_p": 0.5}})


def test_eval_takes_one_model_at_two_temperatures_as_two_policies(tiny, tmp_path):
    from resume_setup import eval_recipe

    from glade.config import recipe_source
    from glade.eval.recipe import check_inputs, load_eval_recipe

    greedy, warm = {"kind": "hf", "model": tiny}, {"kind": "hf", "model": tiny, "temperature": 0.7}
    check_model_names({"greedy": greedy, "warm": warm}, settings=False)
    path = eval_recipe(
        tmp_path,
        policies={"greedy": greedy, "warm": warm},
        councils={"g": {"focal": {"*": "greedy"}}, "w": {"focal": {"*": "warm"}}},
    )
    check_inputs(load_eval_recipe(str(path), []), recipe_source(str(path), []))  # refused before the fix
    with pytest.raises(SeatSpecError, match="are two seats that answer differently"):
        check_model_names({"greedy": greedy, "warm": warm})  # generate and simulate keep the check


def test_only_this_machines_own_names_are_one_server():
    def server(url):
        return {"kind": "server", "base_url": url, "model": "m"}

    check_model_names({"a": server("http://[::1]:8000/v1"), "b": server("http://LOCALHOST:8000/v1")}, True)
    with pytest.raises(SeatSpecError, match="are two servers that would both write policy server:m"):
        check_model_names({"a": server("http://127.0.0.1:8000/v1"), "b": server("http://127.0.0.2:8000/v1")}, True)


def test_server_answer_defaults_are_the_server_seats_own():
    from dataclasses import fields

    from glade.seats.names import SERVER_ANSWERS

    defaults = {f.name: f.default for f in fields(ServerPolicy)}
    assert SERVER_ANSWERS == {k: defaults[k] for k in ("max_tokens", "temperature", "seed")}


def test_a_server_explanation_is_this_runs_and_its_own_seats(monkeypatch):
    from glade.seats import server as server_module

    monkeypatch.setattr(server_module, "_said", {})
    server_module._remember(("server:m", "http://127.0.0.1:8000/v1"), "server_http_400", "context too long")
    # a seat of another name, or of the same name at another server, is not told what this one said
    assert server_said("server:n", "server_http_400") == ""
    assert server_said("server:m", "server_http_400", "http://127.0.0.1:8001/v1") == ""
    # eval names seats by its policy names: the spec says which server a seat is
    spec = {"kind": "server", "base_url": "http://127.0.0.1:8000/v1", "model": "m"}
    assert seat_fault_hint("greedy", {"server_http_400": 3}, spec).endswith("; it said: context too long")
    assert "it said" not in seat_fault_hint("greedy", {"server_http_400": 3}, {**spec, "model": "n"})
    assert "it said" not in seat_fault_hint("greedy", {"server_http_400": 3})
    # two servers under one name: without base_url neither's words are quoted for the other
    server_module._remember(("server:m", "http://127.0.0.1:8001/v1"), "server_http_400", "bad max_tokens")
    assert server_said("server:m", "server_http_400") == ""
    assert "it said" not in seat_fault_hint("server:m", {"server_http_400": 3})
    assert server_said("server:m", "server_http_400", "http://127.0.0.1:8001/v1") == "bad max_tokens"
    server_module.forget_said()  # each generate, eval and simulate run starts with this
    assert server_said("server:m", "server_http_400") == ""
