"""Tests written by a mutation audit of building seats from specs (glade.seats), the seat
base (glade.seats.base) and the stand-in seat (glade.seats.standin): each pins a behaviour that
a plausible one-line change (a comparison flipped, a clause dropped, a default changed) left
untested. The comment on each names what it guards. The audit's tests of the scenario loader,
the single-creature view and the seat specs are in test_pinned_scenario_specs.py."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from test_checkpoint import fake
from test_pinned_scenario_specs import SERVER

from glade.config import MissingInput
from glade.env import load_scenario, parallel_env, standin
from glade.env.protocol import parse
from glade.rollout import run_episode
from glade.seats import (
    SeatSpecError,
    _model_seat,
    load,
    load_council,
    results_spec,
    standin_council,
)
from glade.seats.base import CUT_OFF, answer_error, first_line, model_of

# --------------------------------------------------------------------------- seats


def test_a_stand_in_seat_defaults_to_balanced_and_seed_zero():
    # guards load's `spec.get("disposition", "balanced")` and `spec.get("seed", 0)`
    obs, _ = parallel_env(turns=2).reset(seed=1)
    seat = load({"kind": "standin"})
    assert seat.name == "standin:balanced"
    speculator = load("speculator")
    assert [d.action for d in speculator.act([obs["hazel"]])] == [standin.act(obs["hazel"], "speculator", 0)]


def test_a_python_seat_whose_module_is_not_there_is_told_about_pythonpath():
    # guards load's `check_inputs(spec)` before load_python: the hint for a module in the current folder
    with pytest.raises(SeatSpecError, match=r"no module 'no_such_glade_mod' on Python's path .*PYTHONPATH=\."):
        load({"kind": "python", "entry_point": "no_such_glade_mod:make"})


def test_a_council_names_the_creature_whose_model_seat_is_missing_its_folder(tmp_path):
    # guards load_council's `type(exc)(f"{creature}: {exc}")`: the same MissingInput, named by creature
    with pytest.raises(MissingInput, match=r"^hazel: seat spec hf model: 'a/b/c': no such folder$"):
        load_council({"oona": "hoarder", "hazel": {"kind": "hf", "model": "a/b/c"}})
    with pytest.raises(SeatSpecError, match=r"^hazel: seat spec hf top_p: expected a number > 0"):
        load_council({"hazel": {"kind": "hf", "model": "m", "top_p": 0}})
    # and a stand-in's or python seat's mistake too (load's SeatSpecError, prefixed)
    with pytest.raises(SeatSpecError, match=r"^moss: seat spec standin disposition: expected one of"):
        load_council({"oona": "hoarder", "moss": {"kind": "standin", "disposition": "grumpy"}})


def test_results_spec_drops_every_transport_key_and_keeps_what_decides_answers():
    # guards TRANSPORT_KEYS: how a seat is reached or batched never makes a resumed run another one
    server = {**SERVER, "timeout": 5, "retries": 1, "backoff": 2, "concurrency": 3, "api_key_env": "K", "seed": 4}
    assert results_spec(server) == {"kind": "server", "model": "m", "seed": 4}
    hf = {"kind": "hf", "model": "m", "batch_size": 2, "prefix_cache": False, "temperature": 0.5, "structured": True}
    assert results_spec(hf) == {"kind": "hf", "model": "m", "temperature": 0.5, "structured": True}


def test_standin_council_seats_one_policy_per_disposition():
    # guards standin_council's `if d not in by_disposition`: creatures of one disposition share
    # a policy (one batch key, one act_batch per turn)
    council = standin_council(load_scenario("default", turns=2))
    assert council["thorn"] is council["moss"]
    assert council["oona"] is not council["thorn"]
    assert {c: p.name for c, p in council.items()} == {
        "oona": "standin:hoarder",
        "thorn": "standin:balanced",
        "hazel": "standin:speculator",
        "bramble": "standin:panic_seller",
        "moss": "standin:balanced",
    }


def test_a_model_seats_sharing_key_holds_engine_model_dtype_device_options_and_generation(monkeypatch):
    # guards _model_seat's defaults (float32 on cpu), its vLLM options and its generation part:
    # seats that sample differently never share one policy
    monkeypatch.setattr("glade.seats.spec._found", lambda module: True)  # as where vLLM is installed
    assert _model_seat({"kind": "hf", "model": "m"}) == (("hf", "m", "float32", "cpu", (), ()), None, {})
    spec = {"kind": "hf", "model": "m", "engine": "vllm", "max_model_len": 512, "seed": 3, "temperature": 0.5}
    key, adapter, generation = _model_seat(spec)
    assert key == ("vllm", "m", "float32", "cpu", (("max_model_len", 512),), (("seed", 3), ("temperature", 0.5)))
    assert (adapter, generation) == (None, {"seed": 3, "temperature": 0.5})


def test_a_lora_checkpoint_seat_shares_its_base_models_key_with_an_hf_seat(tmp_path):
    # guards _model_seat's checkpoint branch: the adapter rides on the base, the path is no key
    meta = {"name": "r", "kind": "lora", "base_model": "owner/base"}
    lora = fake(tmp_path, "lora", meta, files=("adapter_config.json", "adapter_model.safetensors"))
    key, adapter, _ = _model_seat({"kind": "checkpoint", "path": str(lora), "dtype": "bfloat16"})
    assert (key, adapter) == (("hf", "owner/base", "bfloat16", "cpu", (), ()), str(lora))
    assert key == _model_seat({"kind": "hf", "model": "owner/base", "dtype": "bfloat16"})[0]


def test_results_spec_names_the_checkpoint_folder_latest_resolves_to_now(tmp_path, monkeypatch):
    # guards results_spec's `startswith(checkpoint.LATEST)` branch: a retrained recipe is another
    # model, so its results are not the older run's; a missing one is a named SeatSpecError
    monkeypatch.chdir(tmp_path)
    meta = {"name": "tiny-hoarder", "kind": "lora", "base_model": "b"}
    run = fake(tmp_path / "checkpoints", "tiny-hoarder__0__20261124-101500", meta)
    spec = {"kind": "checkpoint", "path": "latest:tiny-hoarder", "batch_size": 2}
    assert results_spec(spec) == {"kind": "checkpoint", "path": str(Path("checkpoints") / run.name)}
    with pytest.raises(SeatSpecError, match=r"^seat spec checkpoint path: .*tiny-other"):
        results_spec({"kind": "checkpoint", "path": "latest:tiny-other"})


# --------------------------------------------------------------------------- base, standin seat


@pytest.mark.parametrize(
    "identity, model",
    [
        ("server:qwen2.5:0.5b", "qwen2.5:0.5b"),
        ("hf:tiny+oona+structured", "oona"),
        ("hf:tiny+structured", "tiny"),
        ("hf:org/base", "org/base"),
        ("checkpoint:tiny-hoarder__0__20261124", "tiny-hoarder__0__20261124"),
    ],
)
def test_model_of_is_the_last_part_after_the_kind_without_structured(identity, model):
    # guards model_of's `split(":", 1)` (a model name may hold a colon), `removesuffix(STRUCTURED)`
    # and `split("+")[-1]` (the adapter, not the base)
    assert model_of(identity) == model


def test_first_line_names_the_type_and_only_the_first_line_or_the_type_alone():
    # guards first_line's `splitlines()[0]` and its `if text` (an empty message is just the type)
    assert first_line(OSError("  no such file\nTraceback (most recent call last):\n  ...")) == "OSError: no such file"
    assert first_line(ValueError()) == "ValueError"
    assert first_line(KeyError("  ")) == "KeyError: '  '"


def test_json_the_parser_could_not_read_at_all_is_cut_off_when_the_budget_ended_it():
    # guards answer_error's `and parsed.error != "bad_json"`: unreadable JSON that ran into the
    # budget was cut, even though the parser repaired nothing
    obs, _ = parallel_env(turns=2).reset(seed=1)
    parsed = parse('{"orders": {{{', obs["oona"])
    assert (parsed.error, parsed.repairs) == ("bad_json", ())
    assert answer_error(parsed, '{"orders": {{{', cut=True) == CUT_OFF
    assert answer_error(parsed, '{"orders": {{{', cut=False) == "bad_json"


def test_two_stand_ins_of_one_disposition_but_other_seeds_each_play_their_own_seed():
    # guards StandIn.batch_key's `id(self)`: a key shared by disposition would answer both seats
    # in one act_batch with the first seat's seed
    played = run_episode("default", 3, 4, {"moss": {"kind": "standin", "disposition": "balanced", "seed": 2}})
    seeds, other_seed_differs = {"moss": 2, "thorn": 0}, 0
    for row in (r for r in played.rows if r["creature"] in seeds):
        obs, action, seed = json.loads(row["observation"]), json.loads(row["action"]), seeds[row["creature"]]
        assert action == standin.act(obs, "balanced", seed)
        other_seed_differs += action != standin.act(obs, "balanced", 2 - seed)
    assert other_seed_differs >= 4  # the seed shows in the limits on most turns
