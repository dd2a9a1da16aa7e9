"""What `glade validate` said ok and `glade train` refused later: an unquoted `no` for a TRL
strategy (YAML reads it as false), a `lora.target_modules` naming no module of a local base, a Hub
base offline mode cannot fetch (NEEDS, and train refuses it before preparing data); and a run
that held out nothing says so in meta.json with or without targets. A tiny local base, two-turn
episodes, an empty Hugging Face cache in a temp folder: nothing downloads."""

from __future__ import annotations

import json

import pytest
import yaml
from huggingface_hub import constants

import glade.train.sft as sft
from glade.cli import main
from glade.config import ConfigError
from glade.hub_ids import offline_uncached
from glade.traces import GenerateRecipe, generate
from glade.train.recipe import load_train_recipe, sft_config
from glade.train.tiny import save_tiny

SFT = {"max_steps": 1, "bf16": False, "use_cpu": True, "report_to": "none", "max_length": 1024}
MODULES = "down_proj, embed_tokens, gate_proj, k_proj, o_proj, q_proj, up_proj, v_proj"


@pytest.fixture(scope="module")
def workdir(tmp_path_factory):
    root = tmp_path_factory.mktemp("train_validate")
    generate(GenerateRecipe(out=str(root / "traces"), councils={"h": {"*": "hoarder"}}, turns=2, worlds=2))
    save_tiny(root / "base")
    return root


def recipe_file(workdir, tmp_path, text: str = "", **changes) -> str:
    data = {
        "name": "fix",
        "output_root": str(tmp_path / "checkpoints"),
        "model": {"base": str(workdir / "base")},
        "data": {"traces": [str(workdir / "traces")], "eval_share": 0.25},
        "lora": {"r": 4, "target_modules": ["q_proj", "v_proj"]},
        "sft": SFT,
        "eval": {"states": 0},
        **changes,
    }
    path = tmp_path / "fix.yaml"
    path.write_text(yaml.safe_dump(data) + text)
    return str(path)


# --------------------------------------------------------------------------- 1: `no` is a string


def test_an_unquoted_no_strategy_is_taken_as_no_from_the_command_line_and_the_file(workdir, tmp_path, capsys):
    path = recipe_file(workdir, tmp_path)
    recipe = load_train_recipe(path, ["sft.save_strategy=no", "sft.eval_strategy=no"])
    assert recipe.sft["save_strategy"] == "no" and recipe.sft["eval_strategy"] == "no"
    assert sft_config(recipe, str(tmp_path / "out")).save_strategy.value == "no"
    assert main(["validate", "--kind", "train", path, "sft.save_strategy=no"]) == 0
    assert "0 FAIL" in capsys.readouterr().out
    text = yaml.safe_dump({k: v for k, v in yaml.safe_load(open(path)).items() if k != "sft"})
    written = tmp_path / "unquoted.yaml"
    written.write_text(
        text + "sft: {max_steps: 1, use_cpu: true, report_to: none, save_strategy: no, logging_strategy: no}\n"
    )
    recipe = load_train_recipe(written)
    assert recipe.sft["save_strategy"] == "no" and recipe.sft["logging_strategy"] == "no"
    assert main(["validate", "--kind", "train", str(written)]) == 0


def test_true_for_a_strategy_is_refused_with_the_way_to_write_it(workdir, tmp_path):
    with pytest.raises(ConfigError) as err:
        load_train_recipe(recipe_file(workdir, tmp_path), ["sft.save_strategy=yes"])
    assert str(err.value).endswith(
        "sft.save_strategy: expected SaveStrategy or a string, got True (YAML reads an unquoted yes, on or true as "
        "true: write the value in quotes, one of no, steps, epoch, best)"
    )
    with pytest.raises(ConfigError) as err:  # a field of named values with no "no" among them
        load_train_recipe(recipe_file(workdir, tmp_path), ["sft.hub_strategy=no"])
    assert str(err.value).endswith(
        "got False (YAML reads an unquoted no, off or false as false: write the value in quotes, one of end, "
        "every_save, checkpoint, all_checkpoints)"
    )


# --------------------------------------------------------------------------- 2: target modules


@pytest.mark.parametrize("base", ["folder", "shipped:tiny-base"])
def test_validate_checks_target_modules_against_a_local_base(workdir, tmp_path, capsys, base):
    given = str(workdir / "base") if base == "folder" else base
    path = recipe_file(workdir, tmp_path, model={"base": given})
    assert main(["validate", "--kind", "train", path, "lora.target_modules=[q_proj, nope_proj]"]) == 2
    assert (
        capsys.readouterr()
        .out.splitlines()[0]
        .endswith(
            "lora.target_modules: 'nope_proj' is no module of the base model (its modules LoRA can wrap: "
            f"{MODULES}); did you mean o_proj?"
        )
    )
    assert main(["validate", "--kind", "train", path, "lora.target_modules=[q_proj, o_proj]"]) == 0


def test_train_refuses_a_target_module_before_preparing_data(workdir, tmp_path, capsys):
    path = recipe_file(workdir, tmp_path, lora={"r": 4, "target_modules": ["nope_proj"]})
    assert main(["train", path]) == 2
    said = capsys.readouterr()
    assert said.err.strip().splitlines()[-1].startswith(f"error: {path}: lora.target_modules: 'nope_proj' is no module")
    assert "data:" not in said.out + said.err
    assert not (tmp_path / "checkpoints").exists()


# --------------------------------------------------------------------------- 3: offline, not cached


@pytest.fixture
def empty_cache(monkeypatch, tmp_path):
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", True)
    monkeypatch.setattr(constants, "HF_HUB_CACHE", str(tmp_path / "hub"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.delenv("TRANSFORMERS_OFFLINE", raising=False)
    return tmp_path / "hub"


def test_an_uncached_hub_base_offline_is_needs_and_train_refuses_it_first(workdir, tmp_path, capsys, empty_cache):
    path = recipe_file(workdir, tmp_path, model={"base": "someorg/model"})
    why = (
        f"model.base: 'someorg/model': not in the Hugging Face cache ({empty_cache}) and offline mode is on "
        "(HF_HUB_OFFLINE), so it cannot be downloaded: download it first (`hf download someorg/model`), or unset "
        "HF_HUB_OFFLINE"
    )
    assert main(["validate", "--kind", "train", path]) == 1
    assert capsys.readouterr().out.splitlines()[0] == f"NEEDS  {path}: {why}"
    assert main(["train", path]) == 2
    said = capsys.readouterr()
    assert said.err.strip().splitlines()[-1] == f"error: {path}: {why}"
    assert "data:" not in said.out + said.err  # said before the data is prepared


def test_the_cache_lookup_asks_for_config_and_weights_and_never_the_network(empty_cache, monkeypatch):
    snapshot = empty_cache / "models--someorg--cached" / "snapshots" / "abc123"
    snapshot.mkdir(parents=True)
    (empty_cache / "models--someorg--cached" / "refs").mkdir()
    (empty_cache / "models--someorg--cached" / "refs" / "main").write_text("abc123")
    (snapshot / "config.json").write_text("{}")
    assert offline_uncached("someorg/cached").startswith("not in the Hugging Face cache")  # a config is no model
    (snapshot / "model.safetensors").write_text("")
    assert offline_uncached("someorg/cached") is None
    assert offline_uncached("not an id") is None  # transformers names what it is
    monkeypatch.setattr(constants, "HF_HUB_OFFLINE", False)
    assert offline_uncached("someorg/other") is None  # online: left to the run, no probe here


# --------------------------------------------------------------------------- 4: nothing held out


@pytest.mark.parametrize("targets", [{}, {"valid_action_rate": ">= 0.95"}])
def test_no_held_out_state_is_recorded_with_or_without_targets(workdir, tmp_path, monkeypatch, targets):
    why = "no held-out state: eval.traces names none and the run held out no episode (data.eval_share 0)"
    path = recipe_file(
        workdir,
        tmp_path,
        data={"traces": [str(workdir / "traces")], "eval_share": 0},
        eval={"states": 2, "targets": targets},
    )
    monkeypatch.setattr(sft, "_fit", lambda *a: ({"train_loss": 1.0, "train_steps": 1}, 1.0, 0.0))
    meta = json.loads((sft.train(load_train_recipe(path), log=lambda line: None) / "meta.json").read_text())
    assert meta["heldout_not_measured"] == why and "heldout" not in meta
    assert meta.get("targets_not_measured") == (why if targets else None)


def test_eval_states_zero_records_no_missing_held_out_state(workdir, tmp_path, monkeypatch):
    monkeypatch.setattr(sft, "_fit", lambda *a: ({"train_loss": 1.0, "train_steps": 1}, 1.0, 0.0))
    meta = json.loads(
        (sft.train(load_train_recipe(recipe_file(workdir, tmp_path)), log=print) / "meta.json").read_text()
    )
    assert "heldout_not_measured" not in meta and "targets_not_measured" not in meta


def test_glade_train_prints_why_no_held_out_figure_was_measured(tmp_path):
    import io

    from rich.console import Console

    from glade.cli.train import print_checkpoint

    why = "no held-out state: eval.traces names none and the run held out no episode (data.eval_share 0)"
    meta = {"metrics": {"train_loss": 1.0, "train_steps": 1}, "heldout_not_measured": why}
    (tmp_path / "meta.json").write_text(json.dumps(meta))
    print_checkpoint(Console(file=(buffer := io.StringIO()), width=400), tmp_path)
    assert f"  held-out figures not measured ({why})" in buffer.getvalue().splitlines()
    targets = {"valid_action_rate": {"target": ">= 0.95", "measured": None, "met": False}}
    (tmp_path / "meta.json").write_text(json.dumps({**meta, "targets": targets, "targets_not_measured": why}))
    print_checkpoint(Console(file=(buffer := io.StringIO()), width=400), tmp_path)  # the targets' lines say it
    assert "held-out figures not measured" not in buffer.getvalue()
