"""`glade export-traces DATASET --repo-id OWNER/NAME [--private] [--out DIR] [--push]`: write a
Hub-ready folder for a traces dataset written by `glade generate`, and optionally push it.

The folder (default `exports/NAME/`) holds the Parquet shards (data/*.parquet), the
resolved generate recipe and the dataset card (README.md, with a section on loading it
from the Hub); local absolute paths in the recipe are shortened to their last part. --push creates the dataset repo and uploads the folder; the token comes from
HF_TOKEN or the saved `hf auth login` and is never written. If the push cannot happen the
folder stays ready and the command exits 3 with the `hf upload` command for later.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import yaml

from glade.traces import interrupted_generate, readable_shards
from glade.traces_card import RECIPE_HEADING, recipe_section

from .cards import check_repo_id, default_out, finish_folder, portable, read_recipe, start_folder
from .cards import push as push_folder


def read_traces(dataset: Path) -> list[Path]:
    dataset = Path(dataset)
    cut_short = interrupted_generate(dataset) if dataset.is_dir() else None
    if cut_short is not None:
        raise ValueError(cut_short)
    shards = sorted((dataset / "data").glob("part-*.parquet")) if dataset.is_dir() else []
    if not shards or not (dataset / "README.md").exists() or (dataset / "meta.json").exists():
        raise ValueError(
            f"{dataset}: not a traces dataset (expected data/part-*.parquet and README.md, as glade generate writes)"
        )
    readable_shards(dataset)  # names a shard that cannot be read
    return shards


def export_traces(
    dataset: str | Path,
    repo_id: str,
    private: bool = False,
    out: str | Path | None = None,
    push: bool = False,
    api=None,
    log=None,
) -> Path:
    """Write the export folder (and push it when `push`); returns the folder. `log` hears what the
    push changed besides the files (an existing public repo made private)."""
    from huggingface_hub import DatasetCard

    check_repo_id(repo_id)
    dataset = Path(dataset)
    shards = read_traces(dataset)
    recipe = read_recipe(dataset, "glade generate")
    out = Path(out) if out else default_out(repo_id)
    tmp = start_folder(out)
    try:
        (tmp / "data").mkdir()
        for shard in shards:
            shutil.copy2(shard, tmp / "data" / shard.name)
        card = DatasetCard((dataset / "README.md").read_text())
        if recipe:
            (tmp / "recipe.yaml").write_text(yaml.safe_dump(portable(recipe), sort_keys=False))
            head, heading, _ = card.text.rpartition(RECIPE_HEADING)
            if heading:  # glade's own card: its recipe section is the last
                card.text = head + recipe_section(portable(recipe))
        card.data.pretty_name = card.data.get("pretty_name") or f"glade traces: {repo_id.split('/')[1]}"
        if "## Load from the Hub" not in card.text:
            card.text = card.text.rstrip() + (
                "\n\n## Load from the Hub\n\n```python\nfrom datasets import load_dataset\n\n"
                f'traces = load_dataset({repo_id!r}, split="train")\n```\n'
                "\nTo train on it with glade, download it (`hf download "
                f"{repo_id} --repo-type dataset --local-dir DIR`) and name DIR under `data.traces` in a training recipe.\n"
            )
        card.save(tmp / "README.md")
        folder = finish_folder(
            tmp, out, {"repo_id": repo_id, "repo_type": "dataset", "source": dataset.name, "shards": len(shards)}
        )
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise
    if push:
        push_folder(
            folder, repo_id, "dataset", private=private, api=api, commit_message=f"glade traces {dataset.name}", log=log
        )
    return folder
