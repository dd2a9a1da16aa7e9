"""glade.checkpoint: `latest:NAME` is the newest complete checkpoint of recipe NAME's own
training runs, never a merged sibling or another recipe's folder."""

import json

import pytest

from glade import checkpoint


def fake(root, folder, meta, files=("adapter_config.json",)):
    path = root / folder
    path.mkdir(parents=True)
    (path / "meta.json").write_text(json.dumps(meta))
    for name in files:
        (path / name).write_text("{}")
    return path


def whole(path, kind="lora"):
    """The files glade.checkpoint_files.loadable checks before merge, export and lm-eval load a
    checkpoint, whole and holding no weights: the config, a safetensors file of no tensors,
    a tokenizer config and tokenizer.json (without it the tokenizer would have no vocabulary), and a
    chat template."""
    if kind == "lora":
        config = {"peft_type": "LORA", "r": 4, "target_modules": ["q_proj"]}
        (path / "adapter_config.json").write_text(json.dumps(config))
    header = b"{}"  # 8 bytes of header length, then the header: no tensors
    weights = "adapter_model.safetensors" if kind == "lora" else "model.safetensors"
    (path / weights).write_bytes(len(header).to_bytes(8, "little") + header)
    (path / "tokenizer_config.json").write_text("{}")
    (path / "tokenizer.json").write_text("{}")
    (path / "chat_template.jinja").write_text("{% for m in messages %}{{ m.content }}{% endfor %}")
    return path


def test_latest_is_the_recipes_own_newest_run_not_a_merged_sibling(tmp_path):
    older = fake(
        tmp_path, "tiny-hoarder__0__20261124-101500", {"name": "tiny-hoarder", "kind": "lora", "base_model": "b"}
    )
    newer = fake(
        tmp_path, "tiny-hoarder__1__20261124-111500", {"name": "tiny-hoarder", "kind": "lora", "base_model": "b"}
    )
    # what `glade merge` writes beside a run: it sorts newest by name, but is not a training run
    fake(
        tmp_path,
        "tiny-hoarder__1__20261124-111500-merged",
        {"name": "tiny-hoarder", "kind": "merged"},
        ("config.json",),
    )
    fake(tmp_path, "tiny-hoarder__1__20261124-121500-copy", {"name": "tiny-hoarder", "kind": "lora", "base_model": "b"})
    fake(tmp_path, "tiny-hoarder__2__20261124-131500", {"name": "someone-else", "kind": "lora", "base_model": "b"})
    (tmp_path / ".tiny-hoarder__3.partial").mkdir()  # unfinished: never counts
    assert checkpoint.latest("tiny-hoarder", tmp_path) == newer
    assert checkpoint.resolve("latest:tiny-hoarder", tmp_path) == newer
    (newer / "meta.json").unlink()  # incomplete
    assert checkpoint.latest("tiny-hoarder", tmp_path) == older
    with pytest.raises(ValueError, match=r"no complete checkpoint of 'nobody'"):
        checkpoint.resolve("latest:nobody", tmp_path)


def test_an_interrupted_training_run_is_named_as_one_by_merge_and_export(tmp_path, capsys):
    from glade.cli import main

    # killed while writing: the adapter and meta.json are there, but the run never finished
    partial = fake(tmp_path, ".creature__2.partial", {"name": "creature", "kind": "lora", "base_model": "b"})
    (partial / "started.json").write_text(json.dumps({"recipe": {}, "source": "creature.yaml with sft.max_steps=6"}))
    message = (
        f"{partial}: an interrupted training run of creature (seed 2), not a checkpoint: finish it with "
        "`glade train RECIPE --resume` (as it was started: creature.yaml with sft.max_steps=6), then use the "
        f"checkpoint folder it writes ({tmp_path}/creature__2__TIME)"
    )
    with pytest.raises(ValueError) as refused:
        checkpoint.finished(partial)
    assert str(refused.value) == message
    assert checkpoint.read(partial).kind == "lora"  # training evaluates its own folder before the rename
    assert main(["merge", str(partial)]) == 2
    assert capsys.readouterr().err == f"error: {message}\n"
    assert main(["export", str(partial), "--repo-id", "someone/creature", "--out", str(tmp_path / "out")]) == 2
    assert capsys.readouterr().err == f"error: {message}\n"
    assert not (tmp_path / "out").exists() and not (tmp_path / ".creature__2.partial-merged").exists()
    # one an older glade started (no record of how): the same, without the source
    (partial / "started.json").unlink()
    assert main(["merge", str(partial) + "/"]) == 2
    assert "finish it with `glade train RECIPE --resume`, then use the checkpoint folder" in capsys.readouterr().err


def test_merge_names_a_missing_folder_an_out_under_a_file_and_a_base_that_is_gone(tmp_path, capsys):
    from glade.cli import main

    assert main(["merge", str(tmp_path / "nothing")]) == 2
    assert (
        capsys.readouterr().err
        == f"error: {tmp_path / 'nothing'}: no such folder (glade train writes checkpoints under checkpoints/)\n"
    )
    adapter = fake(
        tmp_path,
        "creature__0__20261124-101500",
        {"name": "creature", "kind": "lora", "base_model": str(tmp_path / "gone")},
    )
    whole(adapter)  # merge checks the folder's files first (checkpoint_files.loadable)
    (tmp_path / "a-file").write_text("mine")
    assert main(["merge", str(adapter), "--out", str(tmp_path / "a-file" / "merged")]) == 2
    under = tmp_path / "a-file" / "merged"
    assert capsys.readouterr().err == (
        f"error: {under}: {tmp_path / 'a-file'} is a file, so no folder can be made under it; give another path\n"
    )
    assert main(["merge", str(adapter)]) == 2
    err = capsys.readouterr().err
    assert f"its base model {tmp_path / 'gone'} (meta.json base_model) does not load" in err
    assert err.count("\n") == 1 and not (tmp_path / f"{adapter.name}-merged").exists()


def test_an_export_or_merge_out_named_like_a_training_run_never_deletes_that_run(tmp_path):
    # guards staging_folder: `--out ROOT/NAME__SEED` stages in `.NAME__SEED.partial`, the folder
    # an interrupted training run works in, which the export or merge removed to start afresh
    from glade.checkpoint import STARTED, staging_folder

    run = tmp_path / ".creature__0.partial"
    run.mkdir()
    (run / STARTED).write_text("{}")
    with pytest.raises(ValueError, match="its staging folder .* holds an interrupted training run"):
        staging_folder(tmp_path / "creature__0")
    from glade.hub.cards import start_folder

    with pytest.raises(ValueError, match="^--out .*creature__0: its staging folder"):  # export's first step
        start_folder(tmp_path / "creature__0", "model", "someone/creature")
    assert (run / STARTED).exists()
    assert staging_folder(tmp_path / "creature") == tmp_path / ".creature.partial"  # any other out: as before


def test_lineage_follows_the_bases_and_stops_on_a_cycle_or_a_hand_edited_meta(tmp_path):
    base = fake(tmp_path, "base", {"name": "base", "kind": "full", "base_resolved": None}, files=("config.json",))
    lora = fake(tmp_path, "lora", {"name": "lora", "kind": "lora", "base_model": str(base)})
    assert [c.folder.name for c in checkpoint.lineage(lora)] == ["lora", "base"]
    # a cycle (a base naming its own adapter) ends where it would repeat
    (base / "meta.json").write_text(json.dumps({"name": "base", "kind": "full", "base_resolved": str(lora)}))
    assert [c.folder.name for c in checkpoint.lineage(lora)] == ["lora", "base"]
    # a base_resolved that is no path (5), or a base whose meta.json is a folder: the chain stops there
    (base / "meta.json").write_text(json.dumps({"name": "base", "kind": "full", "base_resolved": 5}))
    assert [c.folder.name for c in checkpoint.lineage(lora)] == ["lora", "base"]
    odd = tmp_path / "odd"
    (odd / "meta.json").mkdir(parents=True)
    (odd / "config.json").write_text("{}")
    top = fake(tmp_path, "top", {"name": "top", "kind": "lora", "base_model": str(odd)})
    assert [c.folder.name for c in checkpoint.lineage(top)] == ["top"]


@pytest.mark.parametrize(
    ("rows", "said"),
    [
        ([[{"role": "system", "content": "s"}]], "row 1 (counted from 0): messages is not a conversation with a user turn"),
        ([[{"role": "user"}]], "row 1 (counted from 0): messages is not a conversation with a user turn"),
        (None, "not the training split glade train saves"),
    ],
)  # fmt: skip
def test_a_hand_edited_training_split_is_named_not_a_traceback(tmp_path, rows, said):
    """The prompts lm-eval leaves out as trained on come from the checkpoint's data/train.parquet: a
    row edited there (no user turn; a message without its content) was a KeyError from deep inside."""
    import pandas as pd

    folder = fake(tmp_path, "creature__0__20261206-120000", {"name": "creature", "kind": "lora", "base_model": "b"})
    (folder / "data").mkdir()
    split = folder / "data" / "train.parquet"
    if rows is None:
        pd.DataFrame({"prompt": ["a"]}).to_parquet(split)  # another table: no messages column
    else:
        good = [{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]
        pd.DataFrame({"messages": [good, *rows]}).to_parquet(split)
    with pytest.raises(ValueError) as caught:
        checkpoint.trained_prompts(folder)
    assert str(caught.value).startswith(f"{split}: {said}")
    assert str(caught.value).endswith("restore the file from a copy, or train the checkpoint again")
    pd.DataFrame({"messages": [[{"role": "system", "content": "s"}, {"role": "user", "content": "u"}]]}).to_parquet(
        split
    )
    assert checkpoint.trained_prompts(folder) == {("s", "u")}
