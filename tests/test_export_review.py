"""What `glade export` tells a Hub reader, checked as one reads it: the traces a model trained on
come from meta.json's `traces` record (written when it trained) and not from folders that may
have moved since; every held-out figure carries its n and interval; a council's effects and
flags their n; a refused upload says what the Hub said and leaves the repo as it was."""

import json
import shutil

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml
from fake_hub import RecordingApi
from test_export import council_results

from glade.cli import main
from glade.hub.cards import PushFailed
from glade.hub.export import export_checkpoint

BASE = "alice/tiny-base"


def copy_of(ckpt, tmp_path, name="ckpt", **meta_changes):
    folder = tmp_path / name / ckpt.name
    shutil.copytree(ckpt, folder)
    meta = json.loads((folder / "meta.json").read_text())
    meta.update(meta_changes)
    (folder / "meta.json").write_text(json.dumps({k: v for k, v in meta.items() if v is not None}))
    return folder, meta


def card(folder, out, **kwargs):
    out = export_checkpoint(folder, "alice/creature", out=out, **kwargs)
    return " ".join((out / "README.md").read_text().split())


def test_the_card_reads_the_traces_record_not_the_folders_as_they_are_now(trained_creature, tmp_path):
    root, ckpt = trained_creature
    meta = json.loads((ckpt / "meta.json").read_text())
    [record] = meta["traces"]["data"]
    [(scenario, digest)] = record["scenario_hashes"].items()
    # the traces moved away since (another machine, a cleaned runs/): the record still says what they held
    folder, _ = copy_of(ckpt, tmp_path)
    recipe = yaml.safe_load((folder / "recipe.yaml").read_text())
    recipe["data"]["traces"] = [str(tmp_path / "gone")]
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    text = card(folder, tmp_path / "out")
    assert (
        f"| scenarios trained on (scenario hashes) | `traces`: {scenario} `{digest}`; "
        f"{record['episodes']} episodes, seeds 0-3 (recorded from the traces' rows when it trained) |"
    ) in text
    assert "hash not known" not in text
    # a held-out traces folder of the record gets its own row
    heldout = {**record, "folder": "runs/traces/heldout", "seeds": [9000, 9001, 9003], "episodes": 3}
    folder, _ = copy_of(ckpt, tmp_path, "heldout", traces={"data": [record], "eval": [heldout]})
    text = card(folder, tmp_path / "out2")
    assert (
        f"| held-out traces | `runs/traces/heldout`: {scenario} `{digest}`; 3 episodes, seeds 9000-9001, 9003" in text
    )


def test_the_protocol_it_learned_is_its_traces_and_a_council_is_compared_with_it(trained_creature, tmp_path):
    _, ckpt = trained_creature
    meta = json.loads((ckpt / "meta.json").read_text())
    record = {**meta["traces"]["data"][0], "protocol_versions": ["wood-chat-1+old"]}
    folder, _ = copy_of(ckpt, tmp_path, traces={"data": [record], "eval": []})
    results = council_results(folder, tmp_path / "council")
    summary = json.loads((results / "summary.json").read_text())
    summary["protocol_version"] = meta["protocol_version"]  # the evaluation ran the glade that trained it
    (results / "summary.json").write_text(json.dumps(summary))
    text = card(folder, tmp_path / "out", council=results)
    assert (
        f"| prompt protocol | `{meta['protocol_version']}` (glade's when it trained); its training traces hold "
        "prompts of protocol `wood-chat-1+old`: the prompts it learned |"
    ) in text
    assert "This model was trained on prompts of protocol `wood-chat-1+old`, not the one it played here." in text


def test_without_a_record_a_row_found_in_the_traces_is_not_also_named_by_its_episode_id(trained_creature, tmp_path):
    """Episode ids are scenario.council.sSEED; a council named with a dot (`my.hoarders`) made the
    old guess name a scenario `default.my` beside the real one."""
    root, ckpt = trained_creature
    folder, _ = copy_of(ckpt, tmp_path, traces=None)
    traces = tmp_path / "traces"
    shutil.copytree(root / "traces", traces)

    def rename(path):
        table = pq.read_table(path)
        ids = [e.replace(".hoarders.", ".my.hoarders.") for e in table.column("episode_id").to_pylist()]
        column = table.schema.get_field_index("episode_id")
        pq.write_table(table.set_column(column, "episode_id", pa.array(ids)), path)

    for path in [*(traces / "data").glob("*.parquet"), *(folder / "data").glob("*.parquet")]:
        rename(path)
    ledger = traces / "progress.json"  # it lists the episodes by id: renamed with them, as a run would have named them
    ledger.write_text(ledger.read_text().replace(".hoarders.", ".my.hoarders."))
    recipe = yaml.safe_load((folder / "recipe.yaml").read_text())
    recipe["data"]["traces"] = [str(traces)]
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    text = card(folder, tmp_path / "out")
    digest = json.loads((ckpt / "meta.json").read_text())["traces"]["data"][0]["scenario_hashes"]["default"]
    assert f"| scenarios trained on (scenario hashes) | default `{digest}` (all " in text
    assert "default.my" not in text


def test_every_held_out_figure_has_its_interval_and_n(trained_creature, tmp_path):
    _, ckpt = trained_creature
    meta = json.loads((ckpt / "meta.json").read_text())
    metrics = meta["metrics"]
    n = metrics["heldout_states"]
    found = metrics["intervals"]["valid_json_rate"]
    text = card(ckpt, tmp_path / "out")
    assert "| metric | value | 95% CI | n |" in text
    cell = f"[{found['ci'][0]:.4f}, {found['ci'][1]:.4f}]" if found["ci"] else found["note"]
    assert f"| valid_json_rate | {metrics['valid_json_rate']:.4f} | {cell} | {n} states |" in text
    counts = meta["data_counts"]
    assert (
        f"| eval_loss | {metrics['eval_loss']:.4f} | {counts['eval']} rows of {counts['eval_episodes']} episode(s);"
        in text
    )
    # written before glade kept the intervals (the shipped base): a rate's exact interval from k of n states
    old = {k: v for k, v in metrics.items() if k != "intervals"}
    old.update(heldout_states=64, valid_action_rate=0.875, standin_agreement=0.8)
    folder, _ = copy_of(ckpt, tmp_path, metrics=old)
    text = card(folder, tmp_path / "old")
    from glade.eval.stats import clopper_pearson

    low, high = clopper_pearson(56, 64)
    assert f"| valid_action_rate | 0.8750 | [{low:.4f}, {high:.4f}] | 64 states |" in text
    assert (
        "| standin_agreement | 0.8000 | not recorded (a checkpoint written before glade kept intervals) | 64 states |"
        in text
    )


def test_council_effects_and_flags_carry_their_n(trained_creature, tmp_path):
    _, ckpt = trained_creature
    results = council_results(ckpt, tmp_path / "council")
    summary = json.loads((results / "summary.json").read_text())
    summary["outcome"][0]["figures"]["gambit_pnl"]["effect"]["n"] = 6
    (results / "summary.json").write_text(json.dumps(summary))
    text = card(ckpt, tmp_path / "out", council=results)
    assert "| scenario | council | figure | effect | 95% CI | support | n seeds |" in text
    assert "| gambit_rumour | mixed | gambit_pnl | -2.5000 | [-3.5000, -1.5000] | 0.8000 | 6 |" in text
    assert "| effect [CI] | support | n |" in text and "| +1.000 [+1.000, +1.000] | 1.00 | 3 |" in text


def test_a_short_run_is_not_said_to_take_0_minutes(trained_creature, tmp_path):
    _, ckpt = trained_creature
    folder, _ = copy_of(ckpt, tmp_path, wall_seconds=2.6)
    assert "The run that made this one took 3 s," in card(folder, tmp_path / "a")
    folder, _ = copy_of(ckpt, tmp_path, "long", wall_seconds=2100.0)
    assert "The run that made this one took 35 min," in card(folder, tmp_path / "b")


def test_a_refused_upload_says_what_the_hub_said_and_leaves_the_repo_as_it_was(
    trained_creature, tmp_path, monkeypatch, capsys
):
    import huggingface_hub

    _, ckpt = trained_creature
    before = {".gitattributes", "README.md", "adapter_model.safetensors"}
    RecordingApi.reset({"alice/creature": {"private": False, "files": before}})
    RecordingApi.failing = (400, 'Invalid metadata in README.md.\n- "license" must be one of [apache-2.0, mit, ...]')
    out = tmp_path / "out"
    with pytest.raises(PushFailed) as info:
        export_checkpoint(ckpt, "alice/creature", out=out, push=True, api=RecordingApi(), base_model=BASE, license="x")
    message = info.value.message
    assert (
        "the Hub answered HTTP 400 while uploading (one commit: none of it reached the repo): Invalid metadata in "
        'README.md. - "license" must be one of' in message
    )
    assert str(out) in message and (out / "README.md").exists() and (out / "adapter_model.safetensors").exists()
    assert RecordingApi.repos["alice/creature"]["files"] == before
    # through the CLI: one error line, exit 3
    RecordingApi.reset()
    RecordingApi.failing = (500, "Internal Error - We're working hard to fix this as soon as possible!")
    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingApi)
    argv = ["export", str(ckpt), "--repo-id", "alice/creature", "--out", str(out), "--base-model", BASE, "--push"]
    assert main(argv) == 3
    err = capsys.readouterr().err
    assert err.startswith("error: push failed (the Hub answered HTTP 500 while uploading") and "Traceback" not in err
    assert "Internal Error" in err


def test_an_out_under_a_file_is_named(trained_creature, tmp_path, capsys):
    _, ckpt = trained_creature
    (tmp_path / "notes.txt").write_text("mine")
    out = tmp_path / "notes.txt" / "export"
    assert main(["export", str(ckpt), "--repo-id", "alice/creature", "--out", str(out)]) == 2
    err = " ".join(capsys.readouterr().err.split())
    assert err.startswith(f"error: --out {out}: {tmp_path / 'notes.txt'} is a file") and "Errno" not in err
    assert (tmp_path / "notes.txt").read_text() == "mine"


def test_a_base_given_as_a_relative_folder_is_not_taken_for_a_hub_id(trained_creature, tmp_path, monkeypatch, capsys):
    """`model.base: runs/base` (a folder where training ran) reads like OWNER/NAME from any other
    folder: the adapter was pushed naming a Hub repo that does not exist."""
    import huggingface_hub

    _, ckpt = trained_creature
    folder, meta = copy_of(ckpt, tmp_path, base_model_given="runs/base")
    assert meta["base_model"].startswith("/")  # training resolved the folder
    monkeypatch.chdir(tmp_path)  # exported from elsewhere: no runs/base here
    RecordingApi.reset()
    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingApi)
    out = tmp_path / "out"
    assert main(["export", str(folder), "--repo-id", "alice/creature", "--out", str(out), "--push"]) == 2
    assert "the adapter's base model is a local folder" in capsys.readouterr().err
    assert RecordingApi.calls == [] and not out.exists()
    assert main(["export", str(folder), "--repo-id", "alice/creature", "--out", str(out)]) == 0
    assert "the adapter's base model is a local folder" in capsys.readouterr().err
    config = json.loads((out / "adapter_config.json").read_text())
    assert (
        config["base_model_name_or_path"] != "runs/base"
        and "base_model: runs/base" not in (out / "README.md").read_text()
    )


def test_an_export_names_no_local_absolute_path_but_the_local_base_it_warns_of(trained_creature, tmp_path):
    """An export goes to the Hub: the checkpoint's recipe and meta.json name the folders it was
    trained from by their absolute paths (user names, machine layout); the folder shortens each
    to its last part, keeping only the local base an adapter needs to load, which export warns of."""
    from glade.hub.export_traces import export_traces

    root, ckpt = trained_creature
    assert str(root) in (ckpt / "recipe.yaml").read_text() and str(root) in (ckpt / "meta.json").read_text()
    out = export_checkpoint(ckpt, "alice/creature", out=tmp_path / "hub", base_model=BASE)
    leaks = [p.name for p in out.rglob("*") if p.is_file() and str(root).encode() in p.read_bytes()]
    assert leaks == []
    recipe = yaml.safe_load((out / "recipe.yaml").read_text())
    assert recipe["data"]["traces"] == ["traces"] and recipe["model"]["base"] == "base"
    assert recipe["output_root"] == "checkpoints" and recipe["lora"]["r"] == 4
    meta = json.loads((out / "meta.json").read_text())
    assert meta["traces"]["data"][0]["folder"] == "traces" and meta["base_model"] == BASE
    assert meta["base_model_local"] == "base"
    # without a Hub id the base stays where adapter_config.json and meta.json can load it
    out = export_checkpoint(ckpt, "alice/creature", out=tmp_path / "local")
    leaks = {p.name for p in out.rglob("*") if p.is_file() and str(root).encode() in p.read_bytes()}
    assert leaks == {"adapter_config.json", "meta.json"}
    assert json.loads((out / "meta.json").read_text())["base_model"] == str(root / "base")
    # the traces dataset: its recipe and the card's recipe section
    out = export_traces(root / "traces", "alice/wood-traces", out=tmp_path / "traces")
    leaks = [p.name for p in out.rglob("*") if p.is_file() and str(root).encode() in p.read_bytes()]
    assert leaks == [] and str(root) in (root / "traces" / "README.md").read_text()
    text = (out / "README.md").read_text()
    assert "## Recipe\n\n```yaml\nout: traces\n" in text and text.index("## Recipe") < text.index("## Load from")
