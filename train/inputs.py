"""What a training recipe needs on disk before anything runs: its traces (readable, holding the
policies and creatures its filters ask for, held-out seeds apart from the training seeds, its
base's included) and its base model (there, a model and not a LoRA adapter). `glade train` and `glade validate` both check
it; malformed inputs are reported before missing ones, so an input still to come never hides one.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

from glade import checkpoint
from glade.checkpoint import LATEST, SHIPPED
from glade.checkpoint_files import settings_gap, tokenizer_gap
from glade.config import MissingInput, fail, keyed
from glade.env.schema import printable
from glade.files import check_folder_path
from glade.hub_ids import hub_unreachable
from glade.seats.spec import looks_local

from .base_model import check_modules, check_targets, lora_unwrappable

if TYPE_CHECKING:
    from .recipe import TrainRecipe


def check_protocol(key: str, folder: str, source: str | None) -> None:
    """Refuses (ConfigError naming `key`) traces rendered in other prompts than this glade writes (an
    older glade's): a model learns its prompts word for word, and seated in glade it is given today's."""
    from glade.traces import other_protocol

    if why := other_protocol(folder):
        fail(
            source,
            key,
            f"{why}; a model trained or measured on them would see prompts glade no longer writes: generate "
            "them again with this glade (`glade generate RECIPE` into a new out) and name that folder here",
        )


def check_paths(recipe: TrainRecipe, source: str | None) -> None:
    """What must exist on disk to run: ConfigError for what is there but unusable (an
    unreadable traces shard, a file where a folder should be or a folder that holds no traces (a glade
    simulate folder, checkpoints), a shipped model glade lacks, held-out
    traces that share a seed with the training traces), then MissingInput for what is not there
    yet (a traces folder, latest:RECIPE with nothing trained, a local model folder, a hub id neither
    cached nor reachable). Malformed
    inputs are reported first, so an input still to be written never hides one."""
    from glade.traces import readable_shards
    from glade.traces_ledger import interrupted_generate

    with keyed(source, "output_root"):  # training would end in mkdir's bare OSError, after loading the model
        check_folder_path(Path(recipe.output_root))
    pending: list[tuple[str, str]] = []  # (key, problem): inputs not there yet
    shards: dict[str, list[str]] = {"data.traces": [], "eval.traces": []}
    for key, folders in (("data.traces", recipe.data.traces), ("eval.traces", recipe.eval.traces)):
        for i, folder in enumerate(folders):
            if not (Path(folder) / "data").is_dir():
                _check_traces_folder(Path(folder), f"{key}[{i}]", source)  # there, yet no dataset: a FAIL
                pending.append((f"{key}[{i}]", f"{folder!r} has no data/ folder (write it with `glade generate`)"))
                continue
            unfinished = interrupted_generate(Path(folder))
            if unfinished:  # a run to finish, not a broken input: NEEDS, as a folder not written yet
                pending.append((f"{key}[{i}]", unfinished))
                continue
            try:
                shards[key] += readable_shards(folder)
            except (ValueError, OSError) as exc:
                fail(source, f"{key}[{i}]", str(exc))
            if key == "data.traces" or recipe.eval.states:  # held-out traces are read only for eval.states
                check_protocol(f"{key}[{i}]", folder, source)
    base = recipe.model.base
    if base.startswith(LATEST):
        found = checkpoint.latest(base[len(LATEST) :], recipe.output_root)
        if found is None:
            pending.append(
                (
                    "model.base",
                    f"no complete checkpoint of {base[len(LATEST) :]!r} under {recipe.output_root}/ (train it first)",
                )
            )
        else:
            _check_not_adapter(found, base, source)
            check_modules(recipe, found, source)
    elif base.startswith(SHIPPED):
        try:
            shipped = checkpoint.resolve(base, recipe.output_root)
        except ValueError as exc:
            fail(source, "model.base", str(exc))
        check_modules(recipe, shipped, source)
    elif base != "tiny" and Path(base).exists() and not Path(base).is_dir():
        fail(source, "model.base", f"{base!r} is not a folder")
    elif base != "tiny" and Path(base).is_dir():
        _check_not_adapter(Path(base), base, source)
        _check_model_folder(Path(base), base, source)
        check_modules(recipe, Path(base), source)
    elif base != "tiny" and not Path(base).exists() and looks_local(base):
        pending.append(("model.base", f"{base!r}: no such folder"))
    elif base != "tiny" and (unreachable := hub_unreachable(base)):  # a hub id: said before data prep
        pending.append(("model.base", f"{base!r}: {unreachable}"))
    # The filters apply to the held-out traces too: one they do not hold leaves no held-out state,
    # which the run would find out only after training.
    held_out = recipe.eval.traces if recipe.eval.states else ()  # eval.states 0: no held-out state is answered
    for where, folders in (("data.traces", recipe.data.traces), ("eval.traces", held_out)):
        if folders and not any(key.startswith(where) for key, _ in pending):  # every shard is there to read
            for key, column, asked in (
                ("data.policies", "policy", recipe.data.policies),
                ("data.creatures", "creature", recipe.data.creatures),
            ):
                _check_present(shards[where], key, column, asked, source, where)
    held = _seeds(shards["eval.traces"], source, "eval.traces") if shards["eval.traces"] else set()
    if shards["data.traces"] and held:  # a clash among the shards there is final
        shared = sorted(_seeds(shards["data.traces"], source, "data.traces") & held)
        if shared:
            fail(
                source,
                "eval.traces",
                f"seed(s) {', '.join(map(str, shared[:8]))} are also in data.traces; held-out traces must be "
                "generated from seeds the training traces do not use",
            )
    for folder, seeds in _base_seeds(recipe) if held else []:  # the base trained on its seeds' states too
        if shared := sorted(seeds & held):
            fail(
                source,
                "eval.traces",
                f"seed(s) {', '.join(map(str, shared[:8]))} are also in the training traces of the base model "
                f"{base!r} (by the meta.json of {folder}); held-out traces must be generated from seeds neither "
                "the training traces nor the base's use",
            )
    if pending:
        missing(source, *pending[0])


def _check_traces_folder(folder: Path, key: str, source: str | None) -> None:
    """Refuses a traces path with no data/ folder that is there but no traces dataset to come: a
    file, a `glade eval` results folder, a `glade simulate` folder (one episode), or a folder
    holding other things (checkpoints, say). Left to NEEDS: no such path, a folder empty but for
    hidden entries (.gitkeep, or the temporary progress.json of a `glade generate` starting up), or
    a `glade generate` run that has begun (its ledger lists traces: glade.traces_ledger.interrupted_generate)."""
    from glade.resume import PROGRESS, read_ledger
    from glade.traces_ledger import interrupted_generate

    write = "name the folder `glade generate` wrote (its recipe's out)"
    if folder.is_file():
        fail(source, key, f"{str(folder)!r} is a file, not a traces dataset: {write}")
    if not folder.is_dir():
        return
    if (folder / PROGRESS).exists():
        if interrupted_generate(folder) is not None:  # a generate run begun, its data/ still to come
            return
        kinds = (read_ledger(folder) or {}).get("shards")
        if isinstance(kinds, list) and kinds and kinds[0] != "traces":  # glade eval's episodes and decisions
            fail(
                source,
                key,
                f"{str(folder)!r} is a `glade eval` results folder ({kinds[0]} shards), not a traces dataset: {write}",
            )
    if (folder / "trace.parquet").is_file():
        fail(
            source,
            key,
            f"{str(folder)!r} is a `glade simulate` folder (trace.parquet: one episode), not a traces dataset: "
            "make one with `glade generate RECIPE` and name its out here",
        )
    held = sorted(p.name for p in folder.iterdir() if not p.name.startswith("."))  # hidden: no one's data
    if held:
        shown = ", ".join(held[:3]) + (f" and {len(held) - 3} more" if len(held) > 3 else "")
        fail(source, key, f"{str(folder)!r} is not a traces dataset (no data/ folder; it holds {shown}): {write}")


def _base_seeds(recipe: TrainRecipe) -> list[tuple[Path, set[int]]]:
    """(folder, seeds) for the base and each model it was trained from (glade.checkpoint.lineage):
    the seeds of the training traces its meta.json records (`traces.data`). A Hub id, a tiny base
    built in the run, or a base with no such record (trained before glade kept it) adds none."""
    base = recipe.model.base
    if base == "tiny" or not (base.startswith((LATEST, SHIPPED)) or Path(base).is_dir()):
        return []
    try:
        folder = checkpoint.resolve(base, recipe.output_root)
        chain = checkpoint.lineage(folder)
    except ValueError:  # no such base yet, or not a checkpoint: named by the checks above, or when it loads
        return []
    out = []
    for found in chain:
        record = (found.meta.get("traces") or {}).get("data") or []
        seeds = {int(s) for entry in record if isinstance(entry, dict) for s in entry.get("seeds") or []}
        if seeds:
            out.append((found.folder, seeds))
    return out


def _check_not_adapter(folder: Path, base: str, source: str | None) -> None:
    """A LoRA checkpoint is no base: the trainer would stack a second adapter on the first (PEFT
    only warns) and the checkpoint written would not load as a seat."""
    if not (folder / "adapter_config.json").exists():
        return
    try:
        under = f" ({checkpoint.read(folder).base_model})"
    except ValueError:
        under = ""
    fail(
        source,
        "model.base",
        f"{base!r} is a LoRA adapter ({folder}), not a model to train on: merge it first "
        f"(`glade merge {base}`) and give the merged folder, or train on its base{under}",
    )


def _check_model_folder(folder: Path, base: str, source: str | None) -> None:
    """A folder given as the base holds a model transformers can load: else the loader fails with
    its own multi-line message (a tokenizer it "couldn't instantiate") naming neither key nor path."""
    if not (folder / "config.json").is_file():
        fail(source, "model.base", f"{base!r} is not a model folder (no config.json): {MODEL_FOLDER}")
    if gap := tokenizer_gap(folder):
        fail(source, "model.base", f"{base!r} has {gap}: {MODEL_FOLDER}")
    if gap := settings_gap(folder):
        fail(source, "model.base", f"{base!r}: {gap}: {MODEL_FOLDER}")


MODEL_FOLDER = "give a folder save_pretrained wrote (config, weights, tokenizer), a hub id, tiny or latest:RECIPE"


def _seeds(files: list[str], source: str | None, key: str) -> set[int]:
    """The `seed` column of these traces shards, read alone."""
    import pyarrow as pa
    import pyarrow.parquet as pq

    seeds = set()
    for f in files:
        try:
            column = pq.read_table(f, columns=["seed"]).column("seed").to_pylist()
        except (pa.ArrowException, KeyError):
            fail(source, key, f"{f}: no seed column (not a traces shard written by `glade generate`)")
        if None in column:
            fail(source, key, f"{f}: a row without a seed (not a traces shard written by `glade generate`)")
        seeds.update(int(s) for s in column)
    return seeds


def _check_present(
    files: list[str], key: str, column: str, asked: tuple[str, ...], source: str | None, where: str = "data.traces"
) -> None:
    """Each value a filter asks for is in the traces (`where`: data.traces or eval.traces): one that is
    not (misspelt, or traces of other councils) keeps nothing, which training would find out only
    after loading everything."""
    if not asked:
        return
    import pyarrow as pa
    import pyarrow.parquet as pq

    held: set[str] = set()
    for f in files:
        try:
            held.update(pq.read_table(f, columns=[column]).column(column).to_pylist())
        except (pa.ArrowException, KeyError):
            fail(source, where, f"{f}: no {column} column (not a traces shard written by `glade generate`)")
    absent = [value for value in asked if value not in held]
    if absent:
        fail(
            source,
            key,
            f"{', '.join(map(printable, absent))} {'is' if len(absent) == 1 else 'are'} in none of {where} (asked for: {', '.join(map(printable, asked))}; the traces hold: "
            f"{', '.join(sorted(map(str, held - {None}))) or 'none'}); ask for what the traces hold, or generate "
            "traces that hold it",
        )


def missing(source: str | None, path: str, problem: str):
    raise MissingInput(f"{source}: {path}: {problem}" if source else f"{path}: {problem}")


def check_model(recipe: TrainRecipe, base: str, source: str | None, load):
    """`load()` -> (tokenizer, model) of the base, with what only the loaded model can tell named by
    key: a base that does not load (a hub id this machine cannot reach, a folder that holds no model)
    and a `lora.target_modules` that matches none of its modules (PEFT only refuses a list that
    matches nothing, so one misspelt name among good ones would silently go untrained; a string it
    refuses in words that name neither the key nor the file)."""
    if unreachable := hub_unreachable(base):
        fail(source, "model.base", f"{recipe.model.base!r}: {unreachable}")
    try:
        tokenizer, model = load()
    except OSError as exc:
        first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        fail(
            source,
            "model.base",
            f"{recipe.model.base!r} does not load ({first}); a hub id needs the network or a copy in the Hugging "
            "Face cache, a folder must hold a model (config.json, weights, tokenizer)",
        )
    targets = (recipe.lora or {}).get("target_modules")
    if isinstance(targets, (list, str)):
        check_targets(targets, [name for name, _ in model.named_modules()], source, lora_unwrappable(model))
    return tokenizer, model


def check_lengths(trainer, train_rows, eval_rows, source: str | None) -> None:
    """A `sft.max_length` that cuts any row's answer, counted on the trainer's own prepared data.
    TRL cuts each row to max_length tokens (its first ones, or its last under truncation_mode
    keep_end; packing keeps the first) and drops the rows left without an answer token: a limit
    inside every prompt leaves no rows, and the trainer would die in its sampler ("num_samples=0");
    one inside some answers silently trains on cut-off JSON, teaching broken output."""
    args = trainer.args
    limit = args.max_length
    eval_packing = args.packing if args.eval_packing is None else args.eval_packing
    splits = [
        (split, given, kept, packing)
        for split, given, kept, packing in (
            ("training", train_rows, trainer.train_dataset, args.packing),
            ("held-out", eval_rows, trainer.eval_dataset, eval_packing),
        )
        # a dataset TRL did not tokenize (dataset_kwargs skip_prepare_dataset) it did not cut either
        if len(given) and kept is not None and "input_ids" in kept.column_names
    ]
    if limit is None or all(not packing and _all_under(kept, len(given), limit) for _, given, kept, packing in splits):
        return  # the common case, told by the prepared rows alone: no row reached the limit, so none was cut
    keep_end = args.truncation_mode == "keep_end"
    counts, longest, needed = [], 0, 0
    for split, given, kept, packing in splits:
        spans = list(_answer_spans(trainer, given, split))
        lengths = [length for length, _ in spans]
        if not packing and not len(kept):
            fail(
                source,
                "sft.max_length",
                f"{limit} drops every {split} row (each is cut inside its prompt, leaving no answer token to learn); "
                f"the rows are {min(lengths):,} to {max(lengths):,} tokens: raise sft.max_length to at least "
                f"{max(lengths):,} so every answer is kept whole (or set it to null)",
            )
        # the fewest tokens that keep the row's answer whole, in the window TRL keeps
        fits = [length - answer[0] if keep_end and not packing else answer[1] + 1 for length, answer in spans if answer]
        counts.append(f"{sum(n > limit for n in fits):,} of {len(given):,} {split} rows")
        longest, needed = max(longest, *lengths), max(needed, *fits, 0)
    if needed > limit:
        kept_part = "last" if keep_end and not args.packing else "first"
        fail(
            source,
            "sft.max_length",
            f"{limit} cuts the answer of {' and '.join(counts)} (TRL keeps each row's {kept_part} {limit} tokens, "
            f"so it would train on cut-off answers); the longest row is {longest:,} tokens: raise sft.max_length "
            f"to at least {needed:,} (or set it to null)",
        )


def _all_under(kept, given: int, limit: int) -> bool:
    """Whether TRL kept every row, each shorter than `limit` tokens (so none was cut). Read as
    arrow: the rows TRL kept, not every row under its filter's index."""
    import pyarrow.compute as pc

    if len(kept) != given:
        return False
    lengths = pc.list_value_length(kept.with_format("arrow")["input_ids"])
    return pc.max(lengths).as_py() < limit


def _answer_spans(trainer, given, split: str):
    """(length, (first, last) answer token index or None) of each row, as the trainer tokenized it
    (its labels mark the answer) but uncut: its own preparation run again without max_length."""
    import copy

    from .data import to_prompt_completion  # datasets, imported only when a row may be cut

    uncut = copy.copy(trainer.args)
    uncut.max_length, uncut.shuffle_dataset = None, False
    rows = given.map(to_prompt_completion).select_columns(["prompt", "completion"])
    name = "uncut train" if split == "training" else "uncut eval"
    # TRL's own (private) preparation, so the tokens and answer mask are exactly the trainer's: no public
    # function tokenizes a row as SFTTrainer does
    prepared = trainer._prepare_dataset(rows, trainer.processing_class, uncut, False, None, name)
    for batch in prepared.iter(batch_size=1000):
        for labels in batch["labels"]:
            answer = [i for i, token in enumerate(labels) if token != -100]
            yield len(labels), (answer[0], answer[-1]) if answer else None
