"""File-system failures said as what they are: a checkpoint's weights, a listed shard or a
results folder's progress.json that the file system will not let glade read is named with "permission
denied", not called corrupt (nor moved aside and played again); and a `glade simulate` rerun that fails
to write (a full disk) leaves the earlier episode as it was. We run as root, which reads a chmod 000
file anyway: each unreadable file is a read monkeypatched to raise what the kernel raises."""

from __future__ import annotations

import errno
import json
import shutil
from pathlib import Path

import pyarrow.parquet as pq
import pytest
from resume_setup import eval_recipe, files, generate_recipe
from test_walk_hub import one_error

from glade.checkpoint_files import loadable
from glade.cli import main
from glade.episode_folder import write_episode
from glade.files import temp_of
from glade.resume import read_ledger
from glade.rollout import run_episode

PERMISSION = "permission denied; check the path and its permissions"


def denied(monkeypatch, owner, name: str, path: Path) -> None:
    """`owner.name` (a read taking the path first) raising PermissionError for `path`, as it does without root."""
    real = vars(owner)[name]

    def read(self_or_path, *args, **kwargs):
        if Path(self_or_path) == path:
            raise PermissionError(errno.EACCES, "Permission denied", str(path))
        return real(self_or_path, *args, **kwargs)

    monkeypatch.setattr(owner, name, read)


# --- 1. a checkpoint's weights glade may not read are not "truncated or not safetensors" ---------------------


@pytest.fixture(scope="module")
def lora(tiny, adapters, tmp_path_factory):
    folder = tmp_path_factory.mktemp("ckpt") / "creature__0__20261204-120000"
    shutil.copytree(adapters["hoarder"], folder)
    for name in ("tokenizer.json", "tokenizer_config.json", "chat_template.jinja"):
        shutil.copy(f"{tiny}/{name}", folder / name)
    (folder / "meta.json").write_text(json.dumps({"name": "creature", "kind": "lora", "base_model": tiny}))
    return folder


def test_unreadable_weights_are_a_permission_error_not_a_damaged_checkpoint(lora, tmp_path, monkeypatch, capsys):
    weights = lora / "adapter_model.safetensors"
    denied(monkeypatch, Path, "open", weights)
    with pytest.raises(PermissionError):
        loadable(lora)
    out = tmp_path / "out"
    assert main(["export", str(lora), "--repo-id", "alice/creature", "--out", str(out), "--base-model", "a/b"]) == 2
    err = one_error(capsys)
    assert f"error: {weights}: {PERMISSION}" in err
    assert "truncated" not in err and "train the checkpoint again" not in err and not out.exists()


def test_unreadable_json_config_is_a_permission_error_not_unreadable_json(lora, monkeypatch):
    config = lora / "adapter_config.json"
    denied(monkeypatch, Path, "open", config)
    with pytest.raises(PermissionError):
        loadable(lora)


# --- 2. a simulate rerun that cannot write keeps the earlier episode ------------------------------------------


@pytest.mark.parametrize("failing", ["summary.json", "trace.parquet"])
def test_a_simulate_rerun_on_a_full_disk_keeps_the_earlier_episode_whole(tmp_path, monkeypatch, failing):
    out = tmp_path / "episode"
    write_episode(run_episode("default", 7, turns=2, full=False), out)
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert sorted(before) == ["summary.json", "trace.parquet"]
    write_text, write_table = Path.write_text, pq.write_table

    def fills(path) -> None:  # the disk fills while the failing file's temporary is written
        if temp_of(Path(path).name) == failing:
            raise OSError(errno.ENOSPC, "No space left on device")

    def text(path, *args, **kwargs):
        fills(path)
        return write_text(path, *args, **kwargs)

    def table(data, where, *args, **kwargs):
        fills(where)
        return write_table(data, where, *args, **kwargs)

    monkeypatch.setattr(Path, "write_text", text)
    monkeypatch.setattr(pq, "write_table", table)
    with pytest.raises(OSError, match="No space left"):
        write_episode(run_episode("default", 7, turns=3, full=False), out)
    assert {p.name: p.read_bytes() for p in out.iterdir()} == before  # no temporary left either


# --- 3. a listed shard glade may not read is refused, not moved aside and played again ------------------------


def test_a_shard_glade_may_not_read_is_refused_and_left_where_it_is(tmp_path, monkeypatch, capsys):
    path = generate_recipe(tmp_path)
    assert main(["generate", str(path)]) == 0
    folder = tmp_path / "traces"
    shard = folder / "data" / "part-00000.parquet"
    before = files(folder)
    for name in ("read_schema", "read_table"):
        denied(monkeypatch, pq, name, shard)
    capsys.readouterr()
    assert main(["generate", str(path)]) == 2
    err = one_error(capsys)
    assert f"error: {shard}: permission denied, so its rows cannot be read; fix its permissions, then rerun" in err
    assert "replayed" not in err and not (folder / "corrupt").exists()
    assert files(folder) == before


# --- 4. a progress.json glade may not read is not "no JSON object" -------------------------------------------


def test_read_ledger_lets_a_permission_error_through_and_still_reads_a_missing_ledger_as_none(tmp_path, monkeypatch):
    assert read_ledger(tmp_path) is None
    (tmp_path / "progress.json").write_text("{}", encoding="utf-8")
    denied(monkeypatch, Path, "read_text", tmp_path / "progress.json")
    with pytest.raises(PermissionError):
        read_ledger(tmp_path)


def test_rank_names_an_unreadable_progress_json_as_permission_denied(tmp_path, monkeypatch, capsys):
    path = eval_recipe(tmp_path, seeds={"start": 0, "count": 1})
    assert main(["eval", str(path)]) == 0
    progress = tmp_path / "results" / "progress.json"
    denied(monkeypatch, Path, "read_text", progress)
    capsys.readouterr()
    assert main(["rank", str(tmp_path / "results")]) == 2
    err = one_error(capsys)
    assert f"error: {progress}: {PERMISSION}" in err and "not a glade progress ledger" not in err
