"""`glade export-traces DATASET --repo-id OWNER/NAME [--private] [--out DIR] [--push]`: write a
Hub-ready folder for a traces dataset written by `glade generate`, and optionally push it.

The folder (default `exports/NAME/`) holds the Parquet shards (data/*.parquet), the
resolved generate recipe and the dataset card (README.md, with a section on loading it
from the Hub); local absolute paths of the recipe are shortened to their last part, in it and in the card. --push creates the dataset repo and uploads the folder; the token comes from
HF_TOKEN or the saved `hf auth login` and is never written. If the push cannot happen the
folder stays ready and the command exits 3 with the `hf upload` command for later.

Rows whose seat's server failed to answer (glade.faults) are held turns, not the model's
behaviour: the card says so near its top, `warn` hears each seat with faults, and --push is
refused when a seat's faults pass the recipe's max_fault_share (the bar at which `glade
generate` exited 1 on the run) unless `allow_faults`; nothing is written then.
"""

from __future__ import annotations

import re
import shutil
from pathlib import Path

import yaml

from glade.console import fault_text
from glade.env.strict_yaml import yaml_problem
from glade.faults import fault_hint, tally_faults, too_many_faults
from glade.traces import GenerateRecipe, other_protocol, readable_shards, seats_and_errors
from glade.traces_card import FAULTS_HEADING, RECIPE_HEADING, faults_section, recipe_section, size_category
from glade.traces_ledger import interrupted_generate, named_id

from .cards import (
    add_license,
    check_license,
    check_license_file,
    check_repo_id,
    default_out,
    finish_folder,
    portable,
    read_recipe,
    start_folder,
)
from .cards import push as push_folder

LOAD_SECTION = "\n## Load from the Hub\n\n```python\nfrom datasets import load_dataset\n"  # glade's, as it opens


def local_paths(value) -> set[str]:
    """The absolute local paths in a recipe as parsed: those `portable` shortens."""
    if isinstance(value, dict | list):
        return set().union(*map(local_paths, value.values() if isinstance(value, dict) else value))
    return {value} if isinstance(value, str) and portable(value) != value else set()


def read_traces(dataset: Path) -> list[Path]:
    dataset = Path(dataset)
    if not dataset.exists():
        raise ValueError(
            f"{dataset}: no such folder (glade generate writes traces datasets where its recipe's out says)"
        )
    cut_short = interrupted_generate(dataset) if dataset.is_dir() else None
    if cut_short is not None:
        raise ValueError(cut_short)
    shards = sorted((dataset / "data").glob("part-*.parquet")) if dataset.is_dir() else []
    if not shards or not (dataset / "README.md").exists() or (dataset / "meta.json").exists():
        checkpoint = any((dataset / name).is_file() for name in ("config.json", "adapter_config.json"))
        raise ValueError(
            f"{dataset}: not a traces dataset (expected data/part-*.parquet and README.md, as glade generate writes)"
            + ("; it is a checkpoint: glade export publishes it" if checkpoint else "")
        )
    readable_shards(dataset)  # names a shard that cannot be read
    return shards


def published_ids(dataset: Path, shards: list[Path], entries: list[str]) -> dict[str, str]:
    """Each episode id of the folder -> the id it is published under, NAME.COUNCIL.sSEED: an older glade
    named it by the recipe's entry, for a file of one's own its absolute path, in every row (a rerun keeps
    those ids, which the checkpoints trained on the folder match their rows by, so the rewrite is the
    export's). Refused, before anything is written: an id that still holds a local path (its recipe.yaml
    no longer names the entry), and two ids published as one (an older glade let two scenario files share a
    name; or it replayed, under its own form of the id, episodes a newer one had played)."""
    import pyarrow.parquet as pq

    ids: dict[str, str] = {}
    for shard in shards:
        table = pq.read_table(shard, columns=["episode_id", "scenario"])
        for row in table.group_by("episode_id").aggregate([("scenario", "min")]).to_pylist():
            ids[row["episode_id"]] = named_id(row["episode_id"], row["scenario_min"], entries)
    if held := next((new for new in ids.values() if portable(new) != new), None):
        raise ValueError(
            f"{dataset}: episode id {held!r} holds a local path that its folder's recipe.yaml does not explain; "
            "rerun its `glade generate` into a new folder (out=DIR) and export that"
        )
    first: dict[str, str] = {}  # published id -> the folder's id that first took it
    for old, new in ids.items():
        if (taken := first.setdefault(new, old)) != old:
            raise ValueError(
                f"{dataset}: episodes {taken!r} and {old!r} would both be published as {new!r} (an older glade "
                "let two scenario files share a name, or played an episode again under the other form of its id); "
                "rerun its `glade generate` into a new folder (out=DIR), one name per scenario file, and export that"
            )
    return ids


def publish_shard(shard: Path, to: Path, ids: dict[str, str]) -> None:
    """Copy a traces shard, its episode ids as `ids` (published_ids) has them."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    table = pq.read_table(shard)
    column = table["episode_id"].to_pylist()
    if all(ids[e] == e for e in set(column)):
        shutil.copy2(shard, to)
        return
    renamed = pa.array([ids[e] for e in column], table.schema.field("episode_id").type)
    pq.write_table(table.set_column(table.schema.get_field_index("episode_id"), "episode_id", renamed), to)


def read_card(dataset: Path):
    """The dataset card glade generate wrote (README.md) as a DatasetCard; a ValueError naming it
    when it is not UTF-8 text or its front matter is not a YAML mapping."""
    from huggingface_hub import DatasetCard

    path = dataset / "README.md"
    fix = (
        "it is the dataset card glade generate writes: restore it from a copy, or delete it and rerun the "
        "`glade generate` that wrote the folder (it writes the card again)"
    )
    try:
        return DatasetCard(path.read_text(encoding="utf-8"))
    except UnicodeDecodeError as exc:
        raise ValueError(f"{path}: not readable as UTF-8 text ({exc}); {fix}") from None
    except yaml.YAMLError as exc:
        raise ValueError(
            f"{path}: its front matter (between the --- lines) is not valid YAML ({yaml_problem(exc)}); {fix}"
        ) from None
    except OSError as exc:  # a folder, or unreadable
        raise ValueError(f"{path}: not readable ({exc.strerror or exc}); {fix}") from None
    except ValueError as exc:  # front matter that is no mapping
        raise ValueError(
            f"{path}: its front matter (between the --- lines) is not a YAML mapping ({exc}); {fix}"
        ) from None


def check_out(dataset: Path, out: Path) -> None:
    """An --out apart from the dataset: inside it the export would nest in its own source, and
    replacing an --out around it would delete the source."""
    try:
        here, there = dataset.resolve(), out.resolve()
    except RuntimeError:  # a symlink loop (Python 3.11 raises it here): said as export and merge say it
        raise ValueError(f"--out {out}: a symlink loop (it leads back to itself); give another path") from None
    if there.is_relative_to(here) or here.is_relative_to(there):
        where = "is" if here == there else "is inside" if there.is_relative_to(here) else "holds"
        raise ValueError(f"--out {out}: {where} the dataset it exports ({dataset}); choose an --out outside it")


def with_faults(text: str, section: str) -> str:
    """The card `text` with the faults `section` before its first `## ` section, near the top where a
    Hub reader sees it (an earlier export's own faults section is replaced)."""
    head, found, tail = text.partition("\n" + FAULTS_HEADING)
    if found:  # the card of an exported folder, exported again
        text = head + "\n" + tail[tail.find("\n## ") + 1 :] if "\n## " in tail else head
    if not section:
        return text
    at = text.find("\n## ")
    return text.rstrip() + "\n\n" + section if at < 0 else text[: at + 1] + section + text[at + 1 :]


def read_faults(dataset: Path, shards: list[Path]) -> dict[str, dict]:
    """seat -> its fault tally (glade.faults.tally_faults) over every row of the dataset."""
    import pyarrow as pa

    try:
        return tally_faults(seats_and_errors(shards))
    except (pa.ArrowException, KeyError):
        raise ValueError(
            f"{dataset}: a shard lacks the `seat` or `error` column (not written by this glade's generate); "
            "rerun `glade generate` into a new folder and export that"
        ) from None


def max_fault_share(dataset: Path, recipe: dict) -> float:
    """The recipe's max_fault_share (generate's default when the recipe names none)."""
    share = recipe.get("max_fault_share", GenerateRecipe.max_fault_share)
    if isinstance(share, bool) or not isinstance(share, int | float) or not 0 <= share <= 1:
        raise ValueError(
            f"{dataset / 'recipe.yaml'}: max_fault_share {share!r} is not a number between 0 and 1; "
            "restore the value glade generate wrote"
        )
    return float(share)


def export_traces(
    dataset: str | Path,
    repo_id: str,
    private: bool = False,
    out: str | Path | None = None,
    push: bool = False,
    api=None,
    log=None,
    allow_faults: bool = False,
    warn=None,
    license: str | None = None,
    license_file: str | Path | None = None,
) -> Path:
    """Write the export folder (and push it when `push`); returns the folder. `log` hears what the
    push changed besides the files (an existing public repo made private); `warn` hears a line per
    seat whose server failed to answer some of its turns. With `push`, a seat with more faults
    than the recipe's max_fault_share is a ValueError unless `allow_faults`. `license`: a Hub license id
    (checked as glade export checks it) for the card; None keeps the card's own (glade generate's: apache-2.0).
    `license_file`: the text of `license` other, copied to LICENSE (required with it)."""
    check_repo_id(repo_id)
    if license is not None:
        check_license(license)  # the Hub refuses the upload of a card with any other license
    license_text = check_license_file(license, license_file)
    dataset = Path(dataset)
    shards = read_traces(dataset)
    recipe = read_recipe(dataset, "glade generate")
    faults = read_faults(dataset, shards)
    max_share = max_fault_share(dataset, recipe)
    over = too_many_faults(faults, max_share)
    if push and over and not allow_faults:
        raise ValueError(
            f"{dataset}: seat {over[0]!r}: {fault_text(faults[over[0]])}, more than max_fault_share {max_share:g}"
            + (f" (and {len(over) - 1} more seat(s))" if len(over) > 1 else "")
            + "; these rows are held turns, not the model's behaviour, so nothing was written or pushed: fix the "
            f"seat ({fault_hint(faults[over[0]]['faults'])}) and rerun the `glade generate` that wrote it (the "
            "episodes with faults play again), or pass --allow-faults to push it as it is"
        )
    out = Path(out) if out else default_out(repo_id)
    check_out(dataset, out)
    card = read_card(dataset)  # before anything is written
    ids = published_ids(dataset, shards, [str(e) for e in recipe.get("scenarios") or [] if isinstance(e, str)])
    tmp = start_folder(out, "dataset", repo_id)
    try:
        (tmp / "data").mkdir()
        for shard in shards:
            publish_shard(shard, tmp / "data" / shard.name, ids)
        if recipe:
            (tmp / "recipe.yaml").write_text(yaml.safe_dump(portable(recipe), sort_keys=False), encoding="utf-8")
            head, heading, _ = card.text.rpartition(RECIPE_HEADING)
            if heading:  # glade's own card: its recipe section is the last
                card.text = head + recipe_section(portable(recipe))
        card.text = with_faults(card.text, faults_section(faults, max_share))
        # glade's own card gets one name for its heading and pretty_name: the repo's, which the Hub shows
        # above the card (the folder generate wrote, `standin`, is local: glade_export.json keeps it as
        # `source`); a hand-written card keeps its own
        name = f"glade traces: {repo_id.split('/')[1]}"
        card.text, own = re.subn(r"^# glade traces: .*$", lambda _: f"# {name}", card.text, count=1, flags=re.M)
        card.data.pretty_name = name if own else card.data.get("pretty_name") or name
        # the Hub's size bucket of the rows exported; an older glade's card gets the rest of today's front matter
        card.data.size_categories = [size_category(sum(t["decisions"] for t in faults.values()))]
        if own:
            card.data.language = card.data.get("language") or ["en"]
            card.data.task_categories = card.data.get("task_categories") or ["text-generation"]
        # glade's own load line names the local folder (glade.traces_card): the Hub's reader loads the repo
        local = r" Load with `+ ?datasets\.load_dataset\(.*?which refuses an unfinished one\."
        card.text = re.sub(local, ' Load it as "Load from the Hub" below shows.', card.text, count=1, flags=re.S)
        for path in sorted(local_paths(recipe), key=len, reverse=True):  # an older glade's card names them
            card.text = card.text.replace(path, portable(path))
        card.data.license = license or card.data.get("license") or "apache-2.0"
        for key, value in add_license(tmp, license_text, repo_id).items():
            setattr(card.data, key, value)
        # glade's own card gets its load section unless it holds glade's already (exported again): a heading
        # in its text proves nothing, where a user's words once could make one; a hand-written card keeps its own
        present = LOAD_SECTION in card.text if own else "## Load from the Hub" in card.text
        if not present:
            card.text = card.text.rstrip() + (
                "\n" + LOAD_SECTION + "\n"
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
    if warn is not None:
        for seat, tally in faults.items():
            if tally["faults"]:
                beyond = f", more than max_fault_share {max_share:g}" if seat in over else ""
                warn(
                    f"seat {seat!r}: {fault_text(tally)}{beyond}; these rows are held turns, not the model's "
                    "behaviour (the card says so; glade train leaves them out)"
                    + ("; pushing it anyway (--allow-faults)" if push and seat in over else "")
                )
    if warn is not None and (older := other_protocol(dataset)):
        warn(f"{older}; the exported rows are an older glade's (the card's provenance names its protocol)")
    if push:
        push_folder(
            folder, repo_id, "dataset", private=private, api=api, commit_message=f"glade traces {dataset.name}", log=log
        )
    return folder
