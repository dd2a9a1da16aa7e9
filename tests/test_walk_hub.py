"""An exploratory walk through the verbs that read a checkpoint, a traces folder or a results
folder (merge, export, export-traces, lm-eval): bad input there is one named error line, exit 2,
with nothing written or pushed, never a traceback."""

import json
import shutil

import pytest
from fake_hub import RecordingApi

from glade.checkpoint_files import loadable
from glade.cli import main

BASE = "alice/tiny-base"


@pytest.fixture(scope="module")
def lora(tiny, adapters, tmp_path_factory):
    """A LoRA checkpoint as glade train writes one (meta.json, adapter, tokenizer) on the tiny
    base, with a random adapter: no training needed."""
    folder = tmp_path_factory.mktemp("ckpt") / "creature__0__20261204-120000"
    shutil.copytree(adapters["hoarder"], folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy(f"{tiny}/{name}", folder / name)
    (folder / "meta.json").write_text(json.dumps({"name": "creature", "kind": "lora", "base_model": tiny}))
    (folder / "recipe.yaml").write_text("name: creature\n")  # the recipe glade train writes beside meta.json
    return folder


def damaged(lora, tmp_path, how: str):
    folder = tmp_path / lora.name
    shutil.copytree(lora, folder)
    weights = folder / "adapter_model.safetensors"
    if how == "truncated":
        weights.write_bytes(weights.read_bytes()[:-100])
    elif how == "cut_in_header":
        weights.write_bytes(weights.read_bytes()[:40])
    elif how == "not_safetensors":
        weights.write_bytes(b"PK\x03\x04 a zip, or a pickle: anything but safetensors")
    elif how == "config_not_json":
        (folder / "adapter_config.json").write_text('{"r": 4,')
    elif how == "config_a_list":
        (folder / "adapter_config.json").write_text("[1]")
    elif how == "config_lacks_keys":
        config = json.loads((folder / "adapter_config.json").read_text())
        del config["r"], config["target_modules"]
        (folder / "adapter_config.json").write_text(json.dumps(config))
    elif how == "tokenizer_config_not_json":
        (folder / "tokenizer_config.json").write_text('{"model_max_length": ')
    elif how == "no_tokenizer":
        for name in ("tokenizer.json", "tokenizer_config.json"):
            (folder / name).unlink()
    elif how == "config_rank_edited":  # PEFT would fail deep in loading on a size mismatch
        config = json.loads((folder / "adapter_config.json").read_text())
        (folder / "adapter_config.json").write_text(json.dumps(config | {"r": config["r"] * 2}))
    return folder


DAMAGE = {
    "truncated": "adapter_model.safetensors is truncated (its header lists",
    "cut_in_header": "adapter_model.safetensors is truncated or not safetensors (header unreadable)",
    "not_safetensors": "adapter_model.safetensors is truncated or not safetensors (header unreadable)",
    "config_not_json": "adapter_config.json is not readable JSON",
    "config_a_list": "adapter_config.json is a JSON list, not an object",
    "config_lacks_keys": "adapter_config.json lacks r, target_modules",
    "tokenizer_config_not_json": "tokenizer_config.json is not readable JSON",
    "no_tokenizer": "no tokenizer (tokenizer.json or tokenizer_config.json or vocab.json)",
    "config_rank_edited": "adapter_config.json says r 8, but its weights (adapter_model.safetensors) have rank 4",
}


def one_error(capsys) -> str:
    captured = capsys.readouterr()
    assert "Traceback" not in captured.err
    err = " ".join(captured.err.split())
    assert err.startswith("error:") and err.count("error:") == 1
    return err


def test_a_whole_checkpoint_is_loadable(lora):
    found = loadable(lora)
    assert (found.kind, found.folder) == ("lora", lora)


@pytest.mark.parametrize("how", sorted(DAMAGE))
@pytest.mark.parametrize("verb", ["merge", "export", "export --merge", "export --push", "lm-eval"])
def test_a_damaged_adapter_folder_is_named_before_anything_loads_or_is_written(
    lora, tmp_path, capsys, monkeypatch, verb, how
):
    import huggingface_hub

    folder = damaged(lora, tmp_path, how)
    out = tmp_path / "out"
    argv = [verb.split()[0], str(folder)]
    if verb.startswith("export"):
        argv += ["--repo-id", "alice/creature", "--out", str(out), "--base-model", BASE, *verb.split()[1:]]
    elif verb == "merge":
        argv += ["--out", str(out)]
    RecordingApi.reset()
    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingApi)
    assert main(argv) == 2
    err = one_error(capsys)
    assert f"{folder}: {DAMAGE[how]}" in err and "train the checkpoint again" in err
    assert not out.exists() and RecordingApi.calls == []
    assert not (folder / "lm_eval").exists()


def test_an_export_of_a_checkpoint_without_its_recipe_is_refused(lora, tmp_path, capsys):
    # its card said "TRL SFT of the full model" of a LoRA adapter, fine-tuned "on every seat in its traces"
    folder = shutil.copytree(lora, tmp_path / lora.name)
    (folder / "recipe.yaml").unlink()
    out = tmp_path / "out"
    assert main(["export", str(folder), "--repo-id", "alice/creature", "--out", str(out), "--base-model", BASE]) == 2
    err = one_error(capsys)
    assert f"{folder}: no recipe.yaml, the recipe glade train wrote beside meta.json, which the model card reads" in err
    assert "restore it from a copy, or train the checkpoint again" in err and not out.exists()
    (folder / "recipe.yaml").write_text("[a list")  # not YAML: restoring it is the way, not removing it
    assert main(["export", str(folder), "--repo-id", "alice/creature", "--out", str(out), "--base-model", BASE]) == 2
    err = one_error(capsys)
    assert err.endswith("it is the recipe glade train wrote beside it: restore it from a copy") and not out.exists()


# --------------------------------------------------------------------------- export-traces


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    from glade.traces import GenerateRecipe, generate

    out = tmp_path_factory.mktemp("traces") / "traces"
    generate(GenerateRecipe(out=str(out), scenarios=("default",), councils={"h": {"*": "hoarder"}}, turns=2, worlds=1))
    return out


@pytest.mark.parametrize(
    "text, problem",
    [
        ("out: [unclosed\nworlds: 2\n", "recipe.yaml: YAML error (line 2)"),
        ("- a\n- list\n", "recipe.yaml: expected a mapping at the top level, got list"),
    ],
)
def test_export_traces_names_a_malformed_recipe_yaml(traces, tmp_path, capsys, text, problem):
    folder = tmp_path / "traces"
    shutil.copytree(traces, folder)
    (folder / "recipe.yaml").write_text(text)
    out = tmp_path / "out"
    assert main(["export-traces", str(folder), "--repo-id", "alice/traces", "--out", str(out)]) == 2
    err = one_error(capsys)
    assert f"{folder / problem}" in err and "the recipe glade generate wrote beside it: restore it" in err
    assert not out.exists() and not list(tmp_path.glob(".*partial"))


def test_export_names_a_malformed_recipe_yaml_in_the_checkpoint(lora, tmp_path, capsys):
    # was a yaml ParserError traceback from glade export, after the checks of the weights
    folder = tmp_path / lora.name
    shutil.copytree(lora, folder)
    (folder / "recipe.yaml").write_text("sft: {max_steps: 3\n")
    out = tmp_path / "out"
    assert main(["export", str(folder), "--repo-id", "alice/creature", "--out", str(out), "--base-model", BASE]) == 2
    err = one_error(capsys)
    assert f"{folder / 'recipe.yaml'}: YAML error (line 2)" in err and "the recipe glade train wrote beside it" in err
    assert not out.exists()


# --------------------------------------------------------------------------- export --license


@pytest.mark.parametrize(
    "license, says",
    [
        ("Apache 2.0", "--license 'Apache 2.0': not a Hub license identifier; use one such as apache-2.0, mit,"),
        ("MIT", "lists them all); did you mean mit?"),
        ("proprietary", "or other (a license of your own;"),
    ],
)
def test_export_refuses_a_license_the_hub_does_not_know(lora, tmp_path, capsys, license, says):
    out = tmp_path / "out"
    argv = ["export", str(lora), "--repo-id", "alice/creature", "--out", str(out), "--license", license]
    assert main(argv) == 2
    assert says in one_error(capsys)
    assert not out.exists() and not list(tmp_path.glob(".*partial"))


def test_the_hubs_license_ids_pass():
    from glade.hub.cards import check_license

    for license in ("apache-2.0", "mit", "cc-by-nc-4.0", "llama3.1", "gemma", "other"):
        assert check_license(license) == license


# --------------------------------------------------------------------------- export --council


@pytest.mark.parametrize(
    "text, problem",
    [
        ("{not json", "summary.json: not readable JSON"),
        ("[1]", "summary.json: not a summary glade eval wrote (a JSON object; this holds a list)"),
        (
            '{"decision": [1]}',
            "summary.json: decision[0] must be an object, not an integer (glade eval never writes that)",
        ),
    ],
)
def test_export_council_names_a_summary_json_that_is_not_glade_evals(lora, tmp_path, capsys, text, problem):
    results = tmp_path / "council"
    results.mkdir()
    (results / "summary.json").write_text(text)
    out = tmp_path / "out"
    argv = ["export", str(lora), "--repo-id", "alice/creature", "--out", str(out), "--base-model", BASE]
    assert main([*argv, "--council", str(results)]) == 2
    err = one_error(capsys)
    assert f"--council {results / problem}" in err and "rerun `glade eval` with the recipe that wrote it" in err
    assert not out.exists()
