"""Tests written by a mutation audit of the scenario loader, the single-creature view and the
seat specs (glade.env.scenario, glade.env.single, glade.seats.spec): each pins a behaviour that a
plausible one-line change (a comparison flipped, an off-by-one, a clause dropped, a constant
changed) left untested. The comment on each names what it guards. The same audit's tests of
glade.seats, glade.seats.base and glade.seats.standin are in test_pinned_seat_building.py."""

from __future__ import annotations

import re
import sys
import types

import pytest
from test_checkpoint import fake

from glade.config import ConfigError, MissingInput
from glade.env import SingleCreatureEnv, load_scenario, parallel_env, standin
from glade.seats import (
    SeatSpecError,
    check_inputs,
    check_spec,
    load,
)
from glade.seats.spec import checkpoint_model

# --------------------------------------------------------------------------- scenario


def test_editing_a_disposition_file_changes_the_hash_of_the_scenario_already_loaded(tmp_path):
    # guards Scenario.hash's `if not any(is_disposition_path(...))`: only a scenario without
    # disposition files may answer from the cached hash; a file's contents are read each time
    (tmp_path / "grabby.yaml").write_text("horizon: 4\n")
    path = tmp_path / "s.yaml"
    path.write_text("extends: default\nname: mine\ncreatures: {oona: {disposition: grabby.yaml}}\n")
    scenario = load_scenario(path)
    before = scenario.hash()
    (tmp_path / "grabby.yaml").write_text("horizon: 5\n")
    assert scenario.hash() != before
    (tmp_path / "grabby.yaml").write_text("horizon: 4\n")
    assert scenario.hash() == before


def test_a_bare_yml_name_and_a_slashed_path_without_a_suffix_are_files_not_scenario_names(tmp_path, monkeypatch):
    # guards resolve_path's `text.endswith((".yaml", ".yml")) or "/" in text`: either one makes
    # the text a path; neither is looked up as recipes/scenarios/NAME.yaml
    monkeypatch.chdir(tmp_path)
    (tmp_path / "mine.yml").write_text("extends: default\nturns: 7\n")
    assert load_scenario("mine.yml").turns == 7
    (tmp_path / "sub").mkdir()
    (tmp_path / "sub" / "plain").write_text("extends: default\nturns: 9\n")
    scenario = load_scenario("sub/plain")
    assert (scenario.turns, scenario.name) == (9, "plain")


@pytest.mark.parametrize(
    "creatures, problem",
    [("{oona: 5}", "creatures.oona: expected a mapping, got 5"), ("[oona]", "creatures: expected a mapping")],
)
def test_creatures_that_are_not_mappings_are_named_before_dispositions_are_anchored(tmp_path, creatures, problem):
    # guards _anchor_dispositions' isinstance checks: a malformed creature is the loader's named
    # ConfigError, not an AttributeError from looking for its disposition
    path = tmp_path / "s.yaml"
    path.write_text(f"extends: default\ncreatures: {creatures}\n")
    with pytest.raises(ConfigError, match=rf"s.yaml: {re.escape(problem)}"):
        load_scenario(path)


# --------------------------------------------------------------------------- single


def test_step_before_reset_is_a_named_runtime_error():
    # guards SingleCreatureEnv.step's `if self._observations is None`: a clear error, not a
    # TypeError from indexing None
    with pytest.raises(RuntimeError, match=r"step\(\) called before reset\(\)"):
        SingleCreatureEnv("oona", turns=3).step({"orders": []})


def test_the_other_creatures_play_their_stand_ins_on_each_turns_observation():
    # guards step's `self._observations = obs`: the stand-ins answer the current turn, exactly as
    # the same seats on the parallel env do, not the first turn's observation again
    single = SingleCreatureEnv("oona", turns=6)
    single.reset(seed=4)
    wood = parallel_env(turns=6)
    obs, _ = wood.reset(seed=4)
    seats = {c: standin.disposition(wood.scenario.creatures[c].disposition) for c in wood.possible_agents}
    for _ in range(6):
        mine, *_ = single.step({"orders": []})
        actions = {c: standin.act(obs[c], d) for c, d in seats.items() if c != "oona"}
        obs, *_ = wood.step({**actions, "oona": {"orders": []}})
        assert mine == obs["oona"]


def test_a_council_seats_the_creatures_it_names_and_the_scenario_the_rest():
    # guards SingleCreatureEnv's `council.get(c, <the scenario's disposition>)`
    env = SingleCreatureEnv("oona", council={"thorn": "speculator"}, turns=3)
    assert {c: d.name for c, d in env.others.items()} == {
        "thorn": "speculator",
        "hazel": "speculator",
        "bramble": "panic_seller",
        "moss": "balanced",
    }


# --------------------------------------------------------------------------- seat specs

SERVER = {"kind": "server", "base_url": "http://127.0.0.1:8000/v1", "model": "m"}


def test_whole_numbers_take_their_lower_bound_and_refuse_one_below(tmp_path):
    # guards _whole's `v >= low` (not `>`): retries 0, concurrency 1, max_new_tokens 1 are legal
    check_spec({**SERVER, "retries": 0, "concurrency": 1, "max_tokens": 1})
    check_spec({"kind": "hf", "model": "m", "max_new_tokens": 1, "batch_size": 1})
    for spec, key in (
        ({**SERVER, "retries": -1}, "retries"),
        ({"kind": "hf", "model": "m", "max_new_tokens": 0}, "max_new_tokens"),
    ):
        with pytest.raises(SeatSpecError, match=rf"seat spec \w+ {key}: expected a whole number (>= |from 0 to )"):
            check_spec(spec)


@pytest.mark.parametrize("key", ["max_new_tokens", "batch_size", "seed"])
def test_true_is_not_a_whole_number(key):
    # guards _whole's `not isinstance(v, bool)`: YAML's `yes` is not a count of 1
    with pytest.raises(SeatSpecError, match=rf"seat spec hf {key}: expected a whole number.*got True"):
        check_spec({"kind": "hf", "model": "m", key: True})


def test_a_seat_seed_of_zero_is_legal_and_minus_one_is_not():
    # guards _whole_below's `0 <= v` (not `1 <=`): seed 0 is the seed most recipes write
    check_spec({"kind": "hf", "model": "m", "seed": 0})
    check_spec({**SERVER, "seed": 0})
    with pytest.raises(SeatSpecError, match=r"seat spec hf seed: expected a whole number from 0 to 4,294,967,295"):
        check_spec({"kind": "hf", "model": "m", "seed": -1})


def test_an_open_lower_bound_refuses_the_bound_itself():
    # guards _number's `v > low if open_low`: top_p 0 keeps no token, a timeout of 0 never waits
    with pytest.raises(SeatSpecError, match=r"seat spec hf top_p: expected a number > 0 and <= 1, got 0"):
        check_spec({"kind": "hf", "model": "m", "top_p": 0})
    with pytest.raises(SeatSpecError, match=r"seat spec server timeout: expected a number > 0 and <= 1e\+06, got 0"):
        check_spec({**SERVER, "timeout": 0})
    check_spec({**SERVER, "timeout": 1e-3, "backoff": 0})
    check_spec({"kind": "hf", "model": "m", "top_p": 1, "temperature": 0})


def test_a_closed_upper_bound_takes_the_bound_itself():
    # guards _number's `v <= high` (not `<`): top_p 1 samples from every token, the longest wait is legal
    check_spec({"kind": "hf", "model": "m", "top_p": 1})
    check_spec({**SERVER, "timeout": 1e6, "backoff": 1e6})
    with pytest.raises(SeatSpecError, match=r"seat spec server backoff: expected a number >= 0 and <= 1e\+06"):
        check_spec({**SERVER, "backoff": 1e6 + 1})
    check_spec({"kind": "hf", "model": "m", "temperature": 2})
    check_spec({**SERVER, "temperature": 2})


@pytest.mark.parametrize("seat", [{"kind": "hf", "model": "m"}, {"kind": "hf", "model": "m", "engine": "vllm"}, SERVER])
def test_a_temperature_past_the_hottest_a_server_takes_is_refused(seat):
    # 70 for 0.7: sampled near-uniformly from the vocabulary, every answer a fault; servers refuse it too
    with pytest.raises(SeatSpecError, match=r"temperature: expected a number >= 0 and <= 2, got 70"):
        check_spec({**seat, "temperature": 70})


def test_a_base_url_on_port_zero_is_refused():
    # guards _url's `parts.port > 0`: no server listens on port 0
    with pytest.raises(SeatSpecError, match=r"seat spec server base_url: expected the server's API root"):
        check_spec({**SERVER, "base_url": "http://127.0.0.1:0/v1"})
    check_spec({**SERVER, "base_url": "http://127.0.0.1:1/v1"})


@pytest.mark.parametrize("url", ["http://:8000/v1", "http:///v1"])
def test_a_base_url_without_a_host_is_refused(url):
    # guards _url's `bool(parts.hostname)`: a port or a path alone names no server
    with pytest.raises(SeatSpecError, match=r"seat spec server base_url: expected the server's API root"):
        check_spec({**SERVER, "base_url": url})


def test_a_blank_model_name_is_refused():
    # guards TEXT's `bool(v.strip())`: spaces name no model
    with pytest.raises(SeatSpecError, match=r"seat spec hf model: expected a non-empty string, got '  '"):
        check_spec({"kind": "hf", "model": "  "})
    with pytest.raises(SeatSpecError, match=r"seat spec server model: expected a non-empty string"):
        check_spec({**SERVER, "model": "\t"})


def test_an_hf_seat_may_write_adapter_null_and_a_python_seat_kwargs_null():
    # guards OPTIONAL_TEXT's and kwargs' `v is None or`: YAML's `adapter:` with nothing after it
    check_spec({"kind": "hf", "model": "m", "adapter": None})
    check_spec({"kind": "python", "entry_point": "pkg.mod:make", "kwargs": None})
    check_spec({**SERVER, "seed": None})
    with pytest.raises(SeatSpecError, match=r"seat spec hf adapter: expected a non-empty string or null, got ''"):
        check_spec({"kind": "hf", "model": "m", "adapter": ""})


def test_a_server_seat_refuses_zero_concurrency():
    # guards SERVER's `concurrency: _whole(1)`: no request would ever be sent
    with pytest.raises(SeatSpecError, match=r"seat spec server concurrency: expected a whole number >= 1, got 0"):
        check_spec({**SERVER, "concurrency": 0})


def test_a_stand_in_seat_takes_a_disposition_file_path_as_well_as_a_name():
    # guards the standin rule's `or is_disposition_path(v)`; an unknown bare name is still refused
    check_spec({"kind": "standin", "disposition": "mine/grabby.yaml"})
    check_spec("grabby.yaml")
    with pytest.raises(SeatSpecError, match=r"seat spec standin disposition: expected one of balanced"):
        check_spec("grabby")


def test_a_stand_in_seed_is_refused_below_zero_and_plays_other_limits_than_seed_zero():
    # guards the standin rule's `seed: _whole(0)` (no upper bound: the seed only salts a CRC-32)
    with pytest.raises(SeatSpecError, match=r"seat spec standin seed: expected a whole number >= 0, got -1"):
        check_spec({"kind": "standin", "disposition": "hoarder", "seed": -1})
    obs, _ = parallel_env(turns=2).reset(seed=1)
    one, zero = (load({"kind": "standin", "disposition": "speculator", "seed": s}) for s in (1, 0))
    assert one.act([obs["hazel"]]) != zero.act([obs["hazel"]])


def test_a_checkpoint_seat_checks_its_engine_keys_as_an_hf_seat_does():
    # guards check_spec's `kind in ("hf", "checkpoint")` before check_engine
    with pytest.raises(SeatSpecError, match=r"seat spec max_model_len: a key of engine: vllm, not of engine: hf"):
        check_spec({"kind": "checkpoint", "path": "p", "max_model_len": 512})
    with pytest.raises(SeatSpecError, match=r"seat spec batch_size: a key of engine: hf"):
        check_spec({"kind": "checkpoint", "path": "p", "engine": "vllm", "batch_size": 2})
    check_spec({"kind": "checkpoint", "path": "p", "engine": "vllm", "max_model_len": 512})


def test_a_misspelt_key_is_named_with_the_keys_its_kind_knows():
    # guards check_fields' check_keys: an unknown key is a SeatSpecError, not a KeyError
    with pytest.raises(SeatSpecError, match=r"seat spec hf: unknown key 'temprature' \(known: adapter, batch_size, "):
        check_spec({"kind": "hf", "model": "m", "temprature": 0.5})
    with pytest.raises(
        SeatSpecError, match=r"seat spec standin: unknown key 'model' \(known: disposition, kind, seed\)"
    ):
        check_spec({"kind": "standin", "model": "m"})


def test_a_checkpoint_folder_not_there_yet_is_a_missing_input_not_a_mistake(tmp_path):
    # guards checkpoint_model's `if not Path(resolved).exists()`: glade train may still write it
    with pytest.raises(MissingInput, match=r"seat spec checkpoint path: '.*nope': no such folder \(glade train writes"):
        check_inputs({"kind": "checkpoint", "path": str(tmp_path / "nope")})


def test_a_module_find_spec_refuses_with_a_value_error_counts_as_no_module(monkeypatch):
    # guards check_inputs' `except (ImportError, ValueError)`: a module without a spec is not found,
    # not "importing it raised"
    monkeypatch.setitem(sys.modules, "specless_mod", types.ModuleType("specless_mod"))
    with pytest.raises(
        SeatSpecError, match=r"entry_point 'specless_mod:make': no module 'specless_mod' on Python's path"
    ):
        check_inputs({"kind": "python", "entry_point": "specless_mod:make"})


def test_a_lora_checkpoint_seats_its_adapter_on_the_base_its_meta_names(tmp_path):
    # guards checkpoint_model's adapter branch: the adapter folder rides on meta.json's base_model
    lora = fake(tmp_path, "lora", {"name": "r", "kind": "lora", "base_model": "owner/base"})
    full = fake(tmp_path, "full", {"name": "r", "kind": "full"}, files=("config.json",))
    assert checkpoint_model(str(lora)) == {"model": "owner/base", "adapter": str(lora)}
    assert checkpoint_model(str(full)) == {"model": str(full)}


def test_a_hub_id_is_not_looked_for_on_disk_but_a_deeper_or_home_path_is(tmp_path, monkeypatch):
    # guards looks_local's `count("/") > 1` and its "~": OWNER/NAME is a hub id (nothing is
    # downloaded to check it); A/B/C and ~/X can only be folders, so their absence is named
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("HOME", str(tmp_path))
    check_inputs({"kind": "hf", "model": "owner/name"})
    check_inputs({"kind": "hf", "model": "name"})
    for model in ("a/b/c", "~/gone"):
        with pytest.raises(MissingInput, match=rf"seat spec hf model: '{model}': no such folder"):
            check_inputs({"kind": "hf", "model": model})


@pytest.mark.parametrize("model", ["latest:tiny-hoarder", "shipped:tiny-base"])
def test_an_hf_seat_naming_a_checkpoint_is_told_to_seat_it_as_one(model):
    # guards model_inputs' `startswith((SHIPPED, LATEST))`: both prefixes name checkpoints
    with pytest.raises(
        SeatSpecError, match=rf"'{model}' names a checkpoint.*seat it as \{{kind: checkpoint, path: {model}\}}"
    ):
        check_inputs({"kind": "hf", "model": model})


def test_a_model_folder_with_only_a_vocab_json_has_a_tokenizer(tmp_path):
    # guards model_inputs' tokenizer files: vocab.json with merges.txt (GPT-2's slow tokenizer) counts as one
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(
        SeatSpecError, match=r"has no tokenizer \(tokenizer.json or tokenizer_config.json or vocab.json\)"
    ):
        check_inputs({"kind": "hf", "model": str(tmp_path)})
    (tmp_path / "vocab.json").write_text("{}")
    (tmp_path / "model.safetensors").write_bytes(b"")
    with pytest.raises(SeatSpecError, match=r"has no tokenizer.json \(nor vocab.json with merges.txt"):
        check_inputs({"kind": "hf", "model": str(tmp_path)})  # a vocabulary with no merges is no BPE tokenizer
    (tmp_path / "merges.txt").write_text("")
    check_inputs({"kind": "hf", "model": str(tmp_path)})


def test_a_model_folder_whose_config_cannot_be_read_or_with_no_weights_is_named_before_a_run_writes(tmp_path):
    # a seat that failed to load mid-run left a folder of the recipe's first councils' episodes, which the
    # recipe with the seat fixed could not resume ("another recipe"): read what the loader reads, first
    (tmp_path / "tokenizer.json").write_text("{}")
    (tmp_path / "config.json").write_text("{not json")
    with pytest.raises(SeatSpecError, match=r"seat spec hf model: '.*': config.json is not readable JSON \(Expecting"):
        check_inputs({"kind": "hf", "model": str(tmp_path)})
    (tmp_path / "config.json").write_text("[1]")
    with pytest.raises(
        SeatSpecError, match=r"config.json is a JSON list, not an object; copy the whole folder save_pretrained wrote$"
    ):
        check_inputs({"kind": "hf", "model": str(tmp_path)})
    (tmp_path / "config.json").write_text("{}")
    with pytest.raises(
        SeatSpecError, match=r"has no weights \(model.safetensors, pytorch_model.bin, .*save_pretrained"
    ):
        check_inputs({"kind": "hf", "model": str(tmp_path)})
    (tmp_path / "model.safetensors.index.json").write_text("{}")  # a sharded model
    check_inputs({"kind": "hf", "model": str(tmp_path)})


def test_a_folder_without_config_json_is_not_a_model_folder(tmp_path):
    # guards model_inputs' `(folder / "config.json").exists()`: a tokenizer alone is no model
    (tmp_path / "tokenizer.json").write_text("{}")
    with pytest.raises(SeatSpecError, match=r"seat spec hf model: '.*' is not a model folder \(no config.json\)"):
        check_inputs({"kind": "hf", "model": str(tmp_path)})
