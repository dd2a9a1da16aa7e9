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
