"""`glade export` and `glade export-traces` into a folder that holds an export of the other kind
(or glade's own shipped models), and export-traces of a dataset whose live seat's rows are
server faults (held turns, not the model's behaviour). The Hub is fake_hub's RecordingApi;
the dead server is a closed port; nothing reaches the network."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import yaml
from fake_hub import RecordingApi

from glade.checkpoint import shipped
from glade.cli import main
from glade.hub import cards
from glade.hub.export import export_checkpoint
from glade.hub.export_traces import export_traces

DEAD = {"kind": "server", "base_url": "http://127.0.0.1:9/v1", "model": "x", "retries": 0, "timeout": 0.2}


def generated(folder: Path, councils: dict, **changes) -> Path:
    """A small traces dataset as `glade generate` writes one: 1 scenario, 1 seed, 2 turns."""
    from glade.traces import generate, load_generate_recipe

    folder.mkdir(parents=True)
    recipe = {"out": str(folder / "traces"), "scenarios": ["default"], "councils": councils}
    recipe.update({"seeds": {"start": 0, "count": 1}, "turns": 2, **changes})
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    generate(load_generate_recipe(folder / "recipe.yaml"))
    return folder / "traces"


@pytest.fixture(scope="module")
def clean(tmp_path_factory):
    return generated(tmp_path_factory.mktemp("kinds") / "clean", {"ok": {}})


@pytest.fixture(scope="module")
def dead(tmp_path_factory):
    """oona's seat is a server at a closed port: every one of its rows is a fault (server_refused)."""
    return generated(tmp_path_factory.mktemp("kinds") / "dead", {"dead": {"oona": DEAD}, "ok": {}})


@pytest.fixture
def model(tmp_path):
    """A copy of the shipped tiny base (a full model that `glade export` takes)."""
    return Path(shutil.copytree(shipped("tiny-base"), tmp_path / "tb"))


def err_of(capsys) -> str:
    return " ".join(capsys.readouterr().err.split())


# --------------------------------------------------------------------------- M2: export kinds


def test_a_dataset_export_does_not_replace_a_model_export(model, clean, tmp_path, capsys):
    out = export_checkpoint(model, "me/m", out=tmp_path / "exp")
    argv = ["export-traces", str(clean), "--repo-id", "me/x", "--out", str(out)]
    assert main(argv) == 2
    assert err_of(capsys) == (
        f"error: --out {out}: holds a model export for me/m, not a dataset export; choose another --out "
        "(or remove that folder)"
    )
    assert (out / "model.safetensors").is_file() and not (out / "data").exists()
    assert json.loads((out / cards.MARKER).read_text())["repo_type"] == "model"
    assert not list(tmp_path.glob(".*partial"))


def test_a_model_export_does_not_replace_a_dataset_export(model, clean, tmp_path):
    out = export_traces(clean, "me/x", out=tmp_path / "exp")
    with pytest.raises(ValueError, match=r"holds a dataset export for me/x, not a model export; choose another --out"):
        export_checkpoint(model, "me/m", out=out)
    assert (out / "data").is_dir() and not (out / "model.safetensors").exists()


def test_an_export_of_the_same_kind_is_still_replaced(clean, tmp_path):
    out = export_traces(clean, "me/x", out=tmp_path / "exp")
    assert export_traces(clean, "me/y", out=out) == out
    assert json.loads((out / cards.MARKER).read_text())["repo_id"] == "me/y"


def test_an_export_marker_that_names_no_kind_is_not_replaced(clean, tmp_path):
    out = tmp_path / "exp"
    out.mkdir()
    (out / cards.MARKER).write_text("{not json")
    with pytest.raises(ValueError, match=r"holds an export whose glade_export.json names no repo_type"):
        export_traces(clean, "me/x", out=out)


def test_glades_own_shipped_models_are_replaced_only_by_their_own_re_export(
    model, clean, tmp_path, monkeypatch, capsys
):
    marker = json.loads((shipped("tiny-base") / cards.MARKER).read_text())
    assert marker["repo_type"] == "model"  # why the kind check alone does not keep `glade export` off it
    # a stand-in for the shipped folder: the real one is never the target of a test that could write
    models = tmp_path / "models"
    shipped_base = Path(shutil.copytree(shipped("tiny-base"), models / "tiny-base"))
    monkeypatch.setattr(cards, "shipped_root", lambda: models)
    before = sorted(p.name for p in shipped_base.iterdir())
    held = f"a model export for {marker['repo_id']}"
    for argv, said in (
        (
            ["export-traces", str(clean), "--repo-id", "a/b", "--out", str(shipped_base)],
            f"holds {held}, not a dataset export; choose another --out (or remove that folder)",
        ),
        (
            ["export", str(model), "--repo-id", "a/b", "--out", str(shipped_base)],
            f"is inside glade's own shipped models ({models}) and holds {held}, which only an export for that "
            "same --repo-id replaces; choose another --out",
        ),
        (
            ["export", str(model), "--repo-id", "a/b", "--out", str(models / "new")],
            f"is inside glade's own shipped models ({models}); choose another --out",
        ),
    ):
        assert main(argv) == 2
        assert err_of(capsys) == f"error: --out {argv[-1]}: {said}"
    assert sorted(p.name for p in shipped_base.iterdir()) == before
    assert sorted(p.name for p in models.iterdir()) == ["tiny-base"]
    # how README rebuilds the shipped base: its own repo id, into its own folder
    assert export_checkpoint(model, marker["repo_id"], out=shipped_base) == shipped_base
    assert json.loads((shipped_base / cards.MARKER).read_text())["repo_id"] == marker["repo_id"]


# --------------------------------------------------------------------------- M3: faulted traces


def test_export_traces_warns_of_a_seat_whose_rows_are_faults(dead, tmp_path, capsys):
    out = tmp_path / "exp"
    assert main(["export-traces", str(dead), "--repo-id", "me/dead", "--out", str(out)]) == 0
    err = err_of(capsys)
    assert (
        "warning: seat 'server:x': 2 of 2 decisions (100%) failed: server_refused 2, more than max_fault_share 0.2; "
        "these rows are held turns, not the model's behaviour" in err
    )


def test_the_card_says_near_its_top_that_the_fault_rows_are_held_turns(dead, clean, tmp_path):
    text = (export_traces(dead, "me/dead", out=tmp_path / "exp") / "README.md").read_text()
    faults = text.index("## Held turns: seat faults")
    assert faults < text.index("## Schema") < text.index("## Cost of the last run")
    section = text[faults : text.index("## Schema")]
    assert "held turns, not the model's behaviour" in section and "| `server:x` | 2 of 2 | 100% |" in section
    assert "more than the recipe's max_fault_share (0.2)" in section
    # exported again from the exported folder: one such section, not two
    again = (export_traces(tmp_path / "exp", "me/dead", out=tmp_path / "again") / "README.md").read_text()
    assert again.count("## Held turns") == 1
    clean_text = (export_traces(clean, "me/clean", out=tmp_path / "clean") / "README.md").read_text()
    assert "Held turns" not in clean_text
    # the card glade generate wrote says so too, and the export keeps one section
    written = (dead / "README.md").read_text()
    assert written.index("## Held turns: seat faults") < written.index("## Schema")
    assert "| `server:x` | 2 of 2 | 100% |" in written and text.count("## Held turns") == 1
    assert "Held turns" not in (clean / "README.md").read_text()


def test_push_is_refused_past_max_fault_share_unless_allowed(dead, tmp_path):
    RecordingApi.reset()
    with pytest.raises(ValueError) as refused:
        export_traces(dead, "me/dead", out=tmp_path / "exp", push=True, api=RecordingApi())
    assert str(refused.value) == (
        f"{dead}: seat 'server:x': 2 of 2 decisions (100%) failed: server_refused 2, more than max_fault_share 0.2; "
        "these rows are held turns, not the model's behaviour, so nothing was written or pushed: fix the seat "
        "(is its server up, at its base_url?) and rerun the `glade generate` that wrote it (the episodes with "
        "faults play again), or pass --allow-faults to push it as it is"
    )
    assert RecordingApi.calls == [] and not (tmp_path / "exp").exists()
    heard = []
    out = export_traces(
        dead, "me/dead", out=tmp_path / "exp", push=True, api=RecordingApi(), allow_faults=True, warn=heard.append
    )
    assert [name for name, _ in RecordingApi.calls] == ["create_repo", "upload_folder"]
    assert heard and heard[0].endswith("pushing it anyway (--allow-faults)") and (out / "data").is_dir()


def test_the_cli_refuses_the_push_and_names_the_override(dead, tmp_path, capsys, monkeypatch):
    import huggingface_hub

    RecordingApi.reset()
    monkeypatch.setattr(huggingface_hub, "HfApi", RecordingApi)
    argv = ["export-traces", str(dead), "--repo-id", "me/dead", "--out", str(tmp_path / "exp"), "--push"]
    assert main(argv) == 2
    assert "or pass --allow-faults to push it as it is" in err_of(capsys) and RecordingApi.calls == []
    assert main([*argv, "--allow-faults"]) == 0
    assert "pushing it anyway (--allow-faults)" in err_of(capsys)
    assert RecordingApi.calls[-1][0] == "upload_folder"


def test_faults_within_max_fault_share_warn_but_push(dead, tmp_path):
    # the same rows, under a recipe that let the seat fail on every turn: a warning and a card note, no refusal
    lenient = Path(shutil.copytree(dead, tmp_path / "lenient"))
    recipe = yaml.safe_load((lenient / "recipe.yaml").read_text())
    (lenient / "recipe.yaml").write_text(yaml.safe_dump({**recipe, "max_fault_share": 1.0}))
    RecordingApi.reset()
    heard = []
    out = export_traces(lenient, "me/dead", out=tmp_path / "exp", push=True, api=RecordingApi(), warn=heard.append)
    assert heard == [
        "seat 'server:x': 2 of 2 decisions (100%) failed: server_refused 2; these rows are held turns, not the "
        "model's behaviour (the card says so; glade train leaves them out)"
    ]
    assert RecordingApi.calls[-1][0] == "upload_folder"
    text = (out / "README.md").read_text()
    assert "held turns, not the model's behaviour" in text and "more than the recipe's max_fault_share" not in text


def test_a_clean_dataset_pushes_without_a_warning(clean, tmp_path):
    RecordingApi.reset()
    heard = []
    export_traces(clean, "me/clean", out=tmp_path / "exp", push=True, api=RecordingApi(), warn=heard.append)
    assert heard == [] and RecordingApi.calls[-1][0] == "upload_folder"
