"""The one reader of a checkpoint folder, as `glade train` and `glade merge` write them.

    checkpoints/<recipe>__<seed>__<time>/
        meta.json, recipe.yaml, the tokenizer, and either
        adapter_config.json + adapter_model.safetensors   kind "lora" (meta.json names the base model)
        config.json + model*.safetensors                  kind "full", or "merged" (by glade merge)

A plain transformers model folder (config.json, no meta.json) reads as kind "full". `latest:NAME`:
the newest complete checkpoint of recipe NAME's own runs under a root folder (unfinished
`.NAME__SEED.partial` runs, merged models and other recipes' folders never count); `finished`
refuses an unfinished run by name (merge and export take only finished ones;
glade.checkpoint_files.loadable checks its files too, without loading them). `shipped:NAME`: a model glade ships as package data
(`models/`, installed as glade.models), found from any folder, in a regular install too.
`lineage` follows a checkpoint down the models it was trained from; `trained_prompts` gathers the
prompts their saved training splits hold (what train and lm-eval leave out of held-out states).
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from pathlib import Path

LATEST = "latest:"
SHIPPED = "shipped:"
ROOT = "checkpoints"  # where `latest:NAME` looks unless told otherwise
PARTIAL = re.compile(r"\.(?P<name>.+)__(?P<seed>\d+)\.partial")  # a training run's folder until it finishes
STARTED = "started.json"  # in that folder: the recipe the run was started with, and the source it came from


@dataclass(frozen=True)
class Checkpoint:
    folder: Path
    meta: dict  # meta.json ({} for a plain model folder)
    kind: str  # "lora", "full" or "merged"
    base_model: str | None  # the model a LoRA adapter sits on (a hub id or a folder); None otherwise

    @property
    def is_adapter(self) -> bool:
        return self.kind == "lora"

    @property
    def name(self) -> str:
        return self.folder.name


def partial_folder(root: str | Path, name: str, seed: int) -> Path:
    """A training run's folder until it finishes (hidden; PARTIAL reads the name back)."""
    return Path(root) / f".{name}__{seed}.partial"


def staging_folder(out: str | Path) -> Path:
    """The hidden folder `glade export` and `glade merge` write in before it becomes `out`. A
    ValueError where that is an interrupted training run's folder (an out named NAME__SEED
    beside it: `.NAME__SEED.partial`), which starting afresh would delete."""
    out = Path(out)
    if not out.name or out.name == "..":  # `--out .`: no name to stage beside
        raise ValueError(f"{out}: names no folder of its own (it is {out.resolve()}); give a new folder's path")
    tmp = out.with_name("." + out.name + ".partial")
    if PARTIAL.fullmatch(tmp.name) and (tmp / STARTED).exists():
        raise ValueError(
            f"{out}: its staging folder {tmp} holds an interrupted training run, which writing here would delete; "
            "choose another out"
        )
    return tmp


def read(folder: str | Path) -> Checkpoint:
    """The checkpoint in `folder`; a ValueError naming what is missing otherwise."""
    folder = Path(folder)
    if not folder.exists():
        raise ValueError(f"{folder}: no such folder (glade train writes checkpoints under checkpoints/)")
    if not folder.is_dir():
        raise ValueError(
            f"{folder}: not a folder, so not a checkpoint folder (glade train writes them under checkpoints/)"
        )
    meta_path = folder / "meta.json"
    meta = _meta(meta_path) if meta_path.exists() else {}
    if (folder / "adapter_config.json").exists():
        if not meta_path.exists():
            raise ValueError(f"{folder}: a LoRA adapter with no meta.json naming its base model")
        base = meta.get("base_model")
        if not base:
            raise ValueError(f"{folder}: meta.json has no base_model for this LoRA adapter")
        return Checkpoint(folder, meta, "lora", _base(meta, str(base), folder))
    if (folder / "config.json").exists():
        return Checkpoint(folder, meta, "merged" if meta.get("kind") == "merged" else "full", None)
    why = "neither a model (config.json) nor a LoRA adapter (adapter_config.json)"
    if any(folder.glob("data/*.parquet")) and (folder / "README.md").is_file():  # another glade folder: its verb
        why += "; it is a traces dataset: glade export-traces publishes it"
    elif (folder / "summary.json").is_file() and (folder / "decisions.parquet").is_file():
        why += "; it is a glade eval results folder, which glade export CHECKPOINT --council RESULTS takes"
    raise ValueError(f"{folder}: not a glade checkpoint: {why}")


def _base(meta: dict, recorded: str, folder: Path) -> str:
    """The base a LoRA adapter sits on. One given as `shipped:NAME` is this install's shipped NAME
    (portable) where that is the model it trained on (meta.json's base_fingerprint; in an older
    meta.json, the recorded folder's while it holds a model), else the recorded one if it is. Any
    other recorded folder is held to base_fingerprint while it holds a model (a Hub id, or a folder
    gone, is what loading it says)."""
    given = meta.get("base_model_given")
    if not (isinstance(given, str) and given.startswith(SHIPPED)):
        trained_on, there = meta.get("base_fingerprint"), Path(recorded)
        if isinstance(trained_on, str) and (there / "config.json").is_file() and base_fingerprint(there) != trained_on:
            raise ValueError(
                f"{folder / 'meta.json'}: its base_model {recorded} now holds other weights than the ones the adapter "
                "was trained on (base_fingerprint), and the adapter would load onto them without a word (or fail "
                "on their sizes); put that base back there, or retrain the adapter on this one"
            )
        return recorded
    try:
        here = shipped(given[len(SHIPPED) :])
    except ValueError:  # this glade ships no such model: the record is all there is
        return recorded
    there, trained_on = Path(recorded), meta.get("base_fingerprint")
    model_there = (there / "config.json").is_file()
    if not isinstance(trained_on, str):  # an older meta.json: the recorded folder, while it holds a model
        trained_on = base_fingerprint(there if model_there else here)
    if base_fingerprint(here) == trained_on or (model_there and base_fingerprint(there) == trained_on):
        return str(here) if base_fingerprint(here) == trained_on else recorded
    what = "holds other weights too" if model_there else "is no model folder here"
    raise ValueError(
        f"{folder / 'meta.json'}: this glade's {given} ({here}) has weights that differ from the ones the adapter was "
        f"trained on (base_fingerprint), and its recorded base_model {recorded!r} {what}; retrain the adapter on "
        f"this base, or seat it on a copy of its own base as {{kind: hf, model: BASE_FOLDER, adapter: {folder}}}"
    )


_FINGERPRINTS: dict[tuple, str] = {}  # by folder and its files' (name, size, mtime): each is hashed once


def base_fingerprint(folder: str | Path) -> str:
    """sha256 over a model folder's config.json and model*.safetensors (by name: each name and file's sha256)."""
    files = sorted(p for p in [Path(folder) / "config.json", *Path(folder).glob("model*.safetensors")] if p.is_file())
    key = (str(Path(folder).resolve()), *((p.name, p.stat().st_size, p.stat().st_mtime_ns) for p in files))
    if key not in _FINGERPRINTS:
        digest = hashlib.sha256()
        for p in files:
            with p.open("rb") as f:  # file_digest reads in chunks
                digest.update(f"{p.name}\0".encode() + hashlib.file_digest(f, "sha256").digest())
        _FINGERPRINTS[key] = digest.hexdigest()
    return _FINGERPRINTS[key]


def _meta(path: Path) -> dict:
    """A checkpoint's meta.json; a ValueError naming the file and what to do when it is not a
    JSON object."""
    fix = (
        "it is the record glade train (or glade merge) writes beside the model (name, kind, base_model): "
        "restore it from a copy, or train the checkpoint again"
    )
    try:
        meta = json.loads(path.read_text(encoding="utf-8"))
    except ValueError as exc:
        raise ValueError(f"{path}: not valid JSON ({exc}); {fix}") from exc
    if not isinstance(meta, dict):
        raise ValueError(f"{path}: a JSON {type(meta).__name__}, not an object; {fix}")
    return meta


def finished(folder: str | Path) -> Checkpoint:
    """`read`, for verbs that take only a finished run (merge, export): the folder of an
    interrupted training run is named as one, with how to finish it. (`read` itself accepts it:
    training evaluates its own folder before the rename.)"""
    folder = Path(folder)
    run = PARTIAL.fullmatch(folder.name)
    if run is None:
        return read(folder)
    try:
        source = json.loads((folder / STARTED).read_text(encoding="utf-8")).get("source")
    except (OSError, ValueError, AttributeError):  # a run started before the record was kept
        source = None
    started = f" (as it was started: {source})" if source else ""
    raise ValueError(
        f"{folder}: an interrupted training run of {run['name']} (seed {run['seed']}), not a checkpoint: finish it "
        f"with `glade train RECIPE --resume`{started}, then use the checkpoint folder it writes "
        f"({folder.parent / run['name']}__{run['seed']}__TIME)"
    )


def lineage(checkpoint: str | Path) -> list[Checkpoint]:
    """The checkpoint and the models it was trained from, each a folder glade can read: an
    adapter's base_model, a merged model's adapter (merged_from) or else its base, a full
    model's base_resolved, and theirs in turn. It stops at a Hub id, a tiny base built in the
    run, or a folder that is gone or not a checkpoint: what those saw is not known here."""
    chain = [read(checkpoint)]
    while True:
        last = chain[-1]
        if last.is_adapter:
            bases = [last.base_model]
        elif last.kind == "merged":
            bases = [last.meta.get("merged_from"), last.meta.get("base_resolved")]
        else:
            bases = [last.meta.get("base_resolved")]
        seen = {c.folder.resolve() for c in chain}
        base = next(
            (Path(b) for b in bases if isinstance(b, str) and Path(b).is_dir() and Path(b).resolve() not in seen),
            None,
        )
        if base is None:  # a Hub id, gone, or a hand-edited meta.json naming something else
            return chain
        try:
            chain.append(read(base))
        except (ValueError, OSError):  # not a checkpoint (or its meta.json unreadable): nothing to follow
            return chain


def prompt_pair(messages) -> tuple[str, str]:
    """(system, user) of a conversation, the prompt a state is told apart by; an error if it has none."""
    by_role = {m["role"]: m["content"] for m in messages if m["role"] in ("system", "user")}
    pair = by_role.get("system", ""), by_role["user"]
    if not all(isinstance(text, str) for text in pair):
        raise TypeError("a system or user turn without its text")
    return pair


RESTORE = "restore the file from a copy, or train the checkpoint again"  # for a hand-edited data/train.parquet


def trained_prompts(checkpoint: str | Path) -> set[tuple[str, str]]:
    """The (system, user) prompts a checkpoint was trained on: the training split it saved (data/train.parquet,
    written by glade train, copied by glade merge) and those of each model it was trained from (`lineage`) that
    saved one (the shipped tiny base saved none). A split of no conversations is a ValueError naming the row."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    prompts = set()
    for found in lineage(checkpoint):
        path = found.folder / "data" / "train.parquet"
        if path.is_file():
            try:
                saved = pq.read_table(path, columns=["messages"])["messages"].to_pylist()
            except (pa.ArrowException, KeyError):  # not Parquet, or no messages column (an OSError says itself)
                raise ValueError(f"{path}: not the training split glade train saves; {RESTORE}") from None
            for row, messages in enumerate(saved):
                try:
                    prompts.add(prompt_pair(messages))
                except (KeyError, TypeError):  # a hand edit: no user turn, a message that is no {role, content}
                    why = f"row {row} (counted from 0): messages is not a conversation with a user turn"
                    raise ValueError(f"{path}: {why}, as glade train saves its training split; {RESTORE}") from None
    return prompts


def runs(name: str, root: str | Path = ROOT, seed: int | None = None) -> list[Path]:
    """The complete checkpoint folders of recipe `name`'s own training runs under `root`
    (`NAME__SEED__YYYYmmdd-HHMMSS` with a meta.json naming NAME), of any seed or of `seed`,
    oldest first. A merged model (`...-merged`, kind "merged") or any other sibling never counts."""
    seeds = r"\d+" if seed is None else str(int(seed))
    run = re.compile(rf"^{re.escape(name)}__{seeds}__(\d{{8}}-\d{{6}})$")
    found = []
    for p in Path(root).glob(f"{name}__*"):
        stamp = run.match(p.name)
        if stamp is None or not p.is_dir() or not (p / "meta.json").exists():
            continue
        try:
            meta = json.loads((p / "meta.json").read_text(encoding="utf-8"))
        except ValueError:
            continue
        # a meta.json that is no object is not a record glade wrote: resolve names it when nothing else is found
        if isinstance(meta, dict) and meta.get("name", name) == name and meta.get("kind") != "merged":
            found.append((stamp.group(1), p.name, p))
    return [p for _, _, p in sorted(found)]


def latest(name: str, root: str | Path = ROOT, seed: int | None = None) -> Path | None:
    """The newest of `runs(name, root, seed)`, or None."""
    found = runs(name, root, seed)
    return found[-1] if found else None


def _unreadable_meta(folder: Path) -> bool:
    try:
        return not isinstance(json.loads((folder / "meta.json").read_text(encoding="utf-8")), dict)
    except OSError:  # no meta.json: an unfinished run, which `latest` rightly passes over
        return False
    except ValueError:
        return True


def shipped_root() -> Path:
    """The folder of the models glade ships (the top-level `models/`, installed as glade.models)."""
    from importlib.resources import files

    return Path(str(files("glade.models")))


def shipped(name: str) -> Path:
    """The folder of a model glade ships (`models/NAME`); ValueError if there is none."""
    folder = shipped_root() / name  # a name, not a path out of the shipped models' folder:
    if "/" in name.rstrip("/") or name.startswith(".") or not (folder / "config.json").is_file():
        known = sorted(p.name for p in shipped_root().iterdir() if (p / "config.json").is_file())
        raise ValueError(f"{SHIPPED}{name}: glade ships no such model (shipped: {', '.join(known) or 'none'})")
    return folder


def resolve(path: str | Path, root: str | Path = ROOT) -> Path:
    """A checkpoint folder, `latest:NAME` resolved under `root` or `shipped:NAME`; ValueError if there is none."""
    text = str(path)
    if text.startswith(SHIPPED):
        return shipped(text[len(SHIPPED) :])
    if text.startswith(LATEST):
        name = text[len(LATEST) :]
        found = latest(name, root)
        if found is None:
            unreadable = ", ".join(sorted(p.name for p in Path(root).glob(f"{name}__*") if _unreadable_meta(p)))
            raise ValueError(
                f"{text!r}: no complete checkpoint of {name!r} under {root}/ "
                f"({Path(root).resolve()}; train it first, or run from the folder that holds checkpoints/)"
                + (f"; skipped for a meta.json that is not a JSON object: {unreadable}" if unreadable else "")
            )
        return found
    return Path(text)
