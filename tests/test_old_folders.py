"""Folders an older glade wrote, read by this one: traces and checkpoints of another prompt protocol
(train refuses them, calibrate and export warn), runs an older glade left unfinished (no glade can
resume them: the messages say so rather than advise a rerun that is refused), and refusals that name
the commit that wrote the folder. Older folders are built here, not by running older code."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest
import yaml

from glade.checkpoint import shipped
from glade.cli import main
from glade.env import protocol
from glade.resume_upgrade import recorded_recipe
from glade.traces import generate, load_generate_recipe, other_protocol

OLD_COMMIT = "55c9751bd6a4690276759e3f589c65e05b7780b7"


@pytest.fixture(scope="module")
def traces(tmp_path_factory):
    """A small traces dataset as `glade generate` writes one: 1 scenario, 2 seeds (calibrate holds one out), 2 turns."""
    folder = tmp_path_factory.mktemp("old")
    recipe = {"out": str(folder / "traces"), "scenarios": ["default"], "councils": {"hoarders": {"*": "hoarder"}}}
    recipe.update({"seeds": {"start": 0, "count": 2}, "turns": 2})
    (folder / "recipe.yaml").write_text(yaml.safe_dump(recipe))
    generate(load_generate_recipe(folder / "recipe.yaml"))
    return folder / "traces"


def err_of(capsys) -> str:
    return " ".join(capsys.readouterr().err.split())


# --------------------------------------------------------------------------- another prompt protocol


def test_traces_of_this_glade_are_not_of_another_protocol(traces):
    assert other_protocol(traces) is None


def train_on_older_traces(traces: Path, root: Path, monkeypatch) -> tuple[Path, str]:
    """A train recipe on `traces` after glade's protocol moved on to wood-chat-99: (its path, the
    traces' protocol)."""
    now = protocol.PROTOCOL_VERSION
    monkeypatch.setattr(protocol, "PROTOCOL_VERSION", "wood-chat-99")
    recipe = {"name": "old", "output_root": str(root / "ck"), "model": {"base": "tiny"}}
    recipe["data"] = {"traces": [str(traces)]}
    (root / "tr.yaml").write_text(yaml.safe_dump(recipe))
    return root / "tr.yaml", now


def test_train_refuses_traces_of_another_prompt_protocol_and_writes_nothing(traces, tmp_path, monkeypatch, capsys):
    # guards train's protocol check: it recorded the traces' protocol in meta.json and trained on them silently
    path, now = train_on_older_traces(traces, tmp_path, monkeypatch)
    assert main(["train", str(path)]) == 2
    err = err_of(capsys)
    assert (
        f"data.traces[0]: {traces}: its rows were rendered with prompt protocol {now}, this glade renders wood-chat-99"
        in err
    )
    assert "generate them again with this glade" in err
    assert not (tmp_path / "ck").exists()


def test_validate_refuses_a_train_recipe_on_traces_of_another_protocol(traces, tmp_path, monkeypatch, capsys):
    # validate runs train's own input checks (train.inputs.check_paths), the protocol's included
    path, now = train_on_older_traces(traces, tmp_path, monkeypatch)
    assert main(["validate", "--kind", "train", str(path)]) == 2  # FAIL: malformed, as the run says
    out = " ".join(capsys.readouterr().out.split())
    assert (
        out.startswith("FAIL ")
        and f"its rows were rendered with prompt protocol {now}, this glade renders wood-chat-99" in out
    )


def test_calibrate_on_traces_of_another_protocol_warns_naming_both(traces, tmp_path, monkeypatch, capsys):
    now = protocol.PROTOCOL_VERSION
    monkeypatch.setattr(protocol, "PROTOCOL_VERSION", "wood-chat-99")
    argv = ["calibrate", "--policy", "standin:hoarder", "--out", str(tmp_path / "c.yaml"), "--no-outcome"]
    assert main([*argv, "--maxiter", "1", "--popsize", "1", str(traces)]) == 0
    assert f"warning: {traces}: its rows were rendered with prompt protocol {now}, this glade renders wood-chat-99" in (
        err_of(capsys)
    )


def test_export_traces_of_another_protocol_warns_naming_both(traces, tmp_path, monkeypatch, capsys):
    now = protocol.PROTOCOL_VERSION
    monkeypatch.setattr(protocol, "PROTOCOL_VERSION", "wood-chat-99")
    assert main(["export-traces", str(traces), "--repo-id", "me/old", "--out", str(tmp_path / "x")]) == 0
    err = err_of(capsys)
    assert (
        f"warning: {traces}: its rows were rendered with prompt protocol {now}, this glade renders wood-chat-99" in err
    )
    assert "the exported rows are an older glade's" in err


def test_export_of_a_checkpoint_of_another_protocol_warns_and_the_card_says_so(tmp_path, monkeypatch):
    # guards export's protocol line: the card told readers to seat it in glade, which renders other prompts
    from glade.hub.export import export_checkpoint

    model = Path(shutil.copytree(shipped("tiny-base"), tmp_path / "tb"))
    said: list[str] = []
    export_checkpoint(model, "me/tb", out=tmp_path / "same", warn=said.append)
    assert not [line for line in said if "prompt" in line]
    assert "**Prompt protocol:**" not in (tmp_path / "same" / "README.md").read_text()
    now = protocol.PROTOCOL_VERSION
    monkeypatch.setattr(protocol, "PROTOCOL_VERSION", "wood-chat-99")
    out = export_checkpoint(model, "me/tb", out=tmp_path / "other", warn=said.append)
    assert f"{model}: it learned prompts of protocol {now}, and this glade renders wood-chat-99" in " ".join(said)
    card = (out / "README.md").read_text()
    assert f"**Prompt protocol:** it learned prompts of protocol `{now}`;" in card
    assert "renders `wood-chat-99`, so seated there it reads prompts it never trained on" in card


# --------------------------------------------------------------------------- runs an older glade left unfinished


def old_generate_folder(traces: Path, root: Path) -> Path:
    """An older glade's generate run cut short: a plain EPISODE_ID -> part ledger, one shard, no card."""
    folder = root / "gint"
    (folder / "data").mkdir(parents=True)
    shutil.copy(sorted((traces / "data").glob("*.parquet"))[0], folder / "data" / "part-00000.parquet")
    (folder / "progress.json").write_text(json.dumps({"default.hoarders.s0": 0}))
    return folder


def test_an_older_unfinished_generate_is_not_advised_a_rerun_that_is_refused(traces, tmp_path, capsys):
    # guards interrupted_generate's older-ledger case: it advised "rerun the same generate command", refused then
    folder = old_generate_folder(traces, tmp_path)
    said = (
        f"{folder}: an unfinished `glade generate` run from an older glade, whose progress.json records no recipe, "
        "so no glade can resume it: move the folder aside and run `glade generate` again"
    )
    assert main(["export-traces", "--repo-id", "me/t", "--out", str(tmp_path / "x"), str(folder)]) == 2
    err = err_of(capsys)
    assert said in err and "rerun the same generate command" not in err
    argv = ["calibrate", "--policy", "standin:hoarder", "--out", str(tmp_path / "c.yaml"), str(folder)]
    assert main(argv) == 2
    assert said in err_of(capsys)


def test_an_older_unfinished_generate_with_its_recipe_is_still_advised_the_rerun(traces, tmp_path, capsys):
    folder = old_generate_folder(traces, tmp_path)
    (folder / "recipe.yaml").write_text(yaml.safe_dump({"out": str(folder)}))  # a rerun upgrades its ledger
    assert main(["export-traces", "--repo-id", "me/t", "--out", str(tmp_path / "x"), str(folder)]) == 2
    assert "rerun the same generate command to finish it" in err_of(capsys)


def old_eval_folder(root: Path) -> Path:
    """An older glade's eval run cut short: a plain EPISODE_ID -> part ledger beside shards/, no tables."""
    folder = root / "int"
    (folder / "shards").mkdir(parents=True)
    pq.write_table(pa.table({"episode_id": ["w0"]}), folder / "shards" / "episodes-00000.parquet")
    (folder / "progress.json").write_text(json.dumps({"default.standin.s0": 0}))
    return folder


@pytest.mark.parametrize("verb", ["flag", "report", "rank"])
def test_an_older_unfinished_eval_is_named_as_one(verb, tmp_path, capsys):
    # guards rows.interrupted's older-ledger case: flag/report/rank asked "is this a results folder?"
    folder = old_eval_folder(tmp_path)
    assert main([verb, str(folder)]) == 2
    err = err_of(capsys)
    assert (
        "an unfinished `glade eval` run from an older glade, whose progress.json records no recipe, so no glade can "
        "resume it: move the folder aside and run `glade eval` again, or run it into another out=DIR; every world "
        "plays again"
    ) in err
    assert "is this a results folder" not in err and "run 'glade eval RECIPE' to make them" not in err


# --------------------------------------------------------------------------- which older glade


def test_a_refusal_of_an_older_ledger_names_the_commit_its_summary_records(tmp_path):
    folder = old_eval_folder(tmp_path)
    (folder / "summary.json").write_text(json.dumps({"glade_version": "0.1.0", "git_commit": OLD_COMMIT}))
    with pytest.raises(ValueError, match=r"its progress.json was written by glade at commit 55c9751 and records no"):
        recorded_recipe(folder, {"scenarios": ["default"]})


def test_a_dataset_card_names_the_commit_and_a_folder_that_records_none_says_an_older_glade(traces, tmp_path, capsys):
    folder = old_generate_folder(traces, tmp_path)
    assert main(["export-traces", "--repo-id", "me/t", "--out", str(tmp_path / "x"), str(folder)]) == 2
    assert "run from an older glade, whose" in err_of(capsys)
    (folder / "README.md").write_text(f'## Provenance\n\n```json\n{{\n  "git_commit": "{OLD_COMMIT}"\n}}\n```\n')
    with pytest.raises(ValueError, match=r"written by glade at commit 55c9751 and records no recipe"):
        recorded_recipe(folder, {"out": "x"})
