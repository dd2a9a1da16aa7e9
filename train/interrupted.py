"""An interrupted or finished run of a train recipe, as `glade train --resume` finds it: the
partial folder, its newest whole trainer checkpoint, the recipe and data it was started with
(STARTED) and whether the recipe and data now may continue it, and a finished run of exactly
this recipe on the base it names now."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

from glade import checkpoint
from glade.checkpoint import LATEST, SHIPPED, STARTED
from glade.config import as_plain, changes, read_yaml
from glade.files import atomic

from .recipe import TrainRecipe
from .records import TRAINED, CutShort, started_record, trainer_state


def partial_dir(recipe: TrainRecipe) -> Path:
    return checkpoint.partial_folder(recipe.output_root, recipe.name, recipe.seed)


def resume_point(trainer_dir: Path) -> tuple[Path | None, int, list[tuple[Path, bool]]]:
    """Which trainer checkpoint `--resume` continues from, and its step (read-only: the resume
    hint asks too, and last_checkpoint acts on the answer): the newest written to the end (its
    trainer_state.json, written last, reads) and not at the final step (resumed from there, the
    Trainer takes a step past max_steps: the one before is used and the last steps are trained
    again, to the same weights). Also the newer ones passed over, newest first, each with whether
    a kill cut its save short (else it is at the final step). (None, 0, passed) when none is left.
    One whose trainer_state.json parses but is not the Trainer's is found too (no kill leaves that):
    reading it to resume names it, rather than its steps being thrown away."""
    steps = sorted(
        (p for p in trainer_dir.glob("checkpoint-*") if p.is_dir() and p.name.split("-")[-1].isdigit()),
        key=lambda p: int(p.name.split("-")[-1]),
    )
    passed = []
    for folder in reversed(steps):
        try:
            state = trainer_state(folder)
        except CutShort:
            passed.append((folder, True))
            continue
        except ValueError:
            state = {}
        if state.get("max_steps", 0) > 0 and state["global_step"] >= state["max_steps"]:
            passed.append((folder, False))
            continue
        return folder, int(folder.name.split("-")[-1]), passed
    return None, 0, passed


def last_checkpoint(trainer_dir: Path, log=print) -> str | None:
    """The trainer checkpoint to resume from (resume_point's); newer ones a kill cut short are removed."""
    found, _, passed = resume_point(trainer_dir)
    for folder, cut_short in passed:
        if cut_short:
            log(f"dropping {folder.name}: its save was cut short")
            shutil.rmtree(folder, ignore_errors=True)
        else:
            log(f"{folder.name} is the final step; resuming from the checkpoint before it")
    return None if found is None else str(found)


def finished_run(recipe: TrainRecipe) -> Path | None:
    """The newest complete checkpoint of this recipe's name and seed trained from exactly this
    recipe, on the base its model.base names now; older runs count too (a newer run of an
    override, a smoke test of `sft.max_steps=2`, leaves this recipe's own run found), other
    seeds' runs never do."""
    ours = as_plain(recipe)
    for found in reversed(checkpoint.runs(recipe.name, recipe.output_root, recipe.seed)):
        if _recipe_of(found) == ours and _same_base(recipe, found):
            return found
    return None


def nothing_to_resume(recipe: TrainRecipe) -> str:
    """The note for `--resume` with no interrupted run and none finished from exactly this recipe; a
    ValueError when its newest checkpoint was trained from another recipe (a changed recipe rerun with
    --resume, which never trains on from a finished run: starting over was not asked for). Only a
    checkpoint of this seed counts: another seed's run is another run, not this one changed. One of
    this same recipe whose `latest:`/`shipped:` base names another folder now is no finished run of
    it: the note says so and it trains again, on the base named now."""
    runs = checkpoint.runs(recipe.name, recipe.output_root, recipe.seed)
    same = [run for run in runs if _recipe_of(run) == as_plain(recipe)]  # finished_run passed them over for their base
    if same:
        return (
            f"{recipe.name} (seed {recipe.seed}): its checkpoint {same[-1]} was trained on {_trained_on(same[-1])}, "
            f"and model.base {recipe.model.base} names {resolve_base(recipe)} now; training from the beginning on it"
        )
    found = runs[-1] if runs else None
    theirs = _recipe_of(found) if found is not None else None
    if theirs is not None:
        ours = json.loads(json.dumps(as_plain(recipe)))
        raise ValueError(
            f"--resume: no interrupted run of {recipe.name} (seed {recipe.seed}) to continue, and its newest checkpoint "
            f"({found}) was trained from another recipe ({changes(theirs, ours)}): rerun without --resume to train "
            "this recipe from the beginning, or, to train on from that checkpoint, make it the model.base of a new name"
        )
    return f"{recipe.name} (seed {recipe.seed}): no earlier run of this recipe; training from the beginning"


def _recipe_of(folder: Path) -> dict | None:
    """The recipe a finished run's recipe.yaml records, or None when it has none. One damaged since
    (not text, no YAML mapping, empty) is a ValueError naming it and what to do."""
    path = folder / "recipe.yaml"
    if not path.exists():
        return None
    try:
        recipe = read_yaml(path)
        if not recipe:  # glade train never writes an empty one
            raise ValueError(f"{path}: empty")
    except ValueError as exc:
        raise ValueError(
            f"{exc}; it is the recipe glade train wrote beside that checkpoint, read to find a finished run of this "
            f"recipe: restore it, or move {folder.name} out of {folder.parent}"
        ) from None
    return recipe


def _same_base(recipe: TrainRecipe, folder: Path) -> bool:
    """Whether a finished run of this recipe trained on the base its model.base names now (a
    `latest:NAME` trained again since names another folder; a folder rebuilt in place is not told apart)."""
    trained = _trained_on(folder)
    return recipe.model.base == "tiny" or trained is None or trained == resolve_base(recipe)


def _trained_on(folder: Path) -> str | None:
    """The base a finished run trained on, as resolve_base named it: meta.json's `base_resolved`
    (None for a tiny model the run built), or, in an adapter from before that record, its
    `base_model` (the same folder); None when nothing records it (a full fine-tune from before
    the record: kept on its recipe alone, as then)."""
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    return meta["base_resolved"] if "base_resolved" in meta else meta.get("base_model")


def resolve_base(recipe: TrainRecipe) -> str:
    base = recipe.model.base
    if base.startswith((LATEST, SHIPPED)):
        return str(checkpoint.resolve(base, recipe.output_root).resolve())
    return str(Path(base).resolve()) if Path(base).is_dir() else base


# What a resumed run may change: how long it runs (the schedule stretches as the trainer's does),
# how it logs and saves, its precision on this machine, and the held-out figures taken after it.
# Every other key decides what the trainer checkpoints hold (weights, optimizer, schedule).
RESUMABLE = {"eval", "output_root"}
RESUMABLE_SFT = {
    "max_steps", "num_train_epochs", "logging_steps", "logging_first_step", "save_steps", "save_total_limit",
    "eval_steps", "report_to", "disable_tqdm", "dataloader_num_workers", "bf16", "fp16", "tf32", "use_cpu",
}  # fmt: skip


def run_record(recipe: TrainRecipe, source: str | None) -> dict:
    """What the partial folder records as a run starts: the recipe's content, with its base as
    the folder it resolves to (a `latest:NAME` that later names a newer checkpoint is another
    base), and the source, for messages. Once its data is prepared, the run adds the data's
    fingerprint (`data_fingerprint`, glade.train.data.fingerprint), which check_data holds a
    resume to."""
    recipe_plain = as_plain(recipe)
    recipe_plain["model"]["base"] = resolve_base(recipe)
    return {"recipe": json.loads(json.dumps(recipe_plain)), "source": source}  # as read back


def check_data(work: Path, data: str) -> None:
    """Refuse to resume an interrupted run on other data than it started on (`data`: the
    fingerprint of the data prepared now; its traces folder regenerated meanwhile): the trainer
    would go on with its optimizer and schedule on rows its first steps never saw. A record
    without the fingerprint (a run started by an older glade) is held to the fingerprint of the
    split it saved (data/); one with no step trained yet (killed while preparing its data) is not checked."""
    record = started_record(work) or {}  # none: another rank's not written yet
    started = record.get("data_fingerprint")
    if started is None and record and _trained_any(work):
        saved = _saved_fingerprint(work)
        if saved != data:  # its glade may have rendered the same traces otherwise: regenerating may not help
            raise ValueError(
                f"{work}: its run, started by an older glade, trained on other data than is prepared now (the split "
                f"it saved has data fingerprint {saved[:8]}, now {data[:8]}: its traces changed since, or this glade "
                "renders them otherwise); rerun with --restart to discard it and train on the data as it is now"
            )
    if started is not None and started != data:
        raise ValueError(
            f"{work}: its run started on other training data (data fingerprint {started[:8]}, now {data[:8]}: its "
            "traces changed since it started); regenerate the same traces and rerun with --resume to continue it, or "
            "rerun with --restart to discard it and train on the data as it is now"
        )


def _trained_any(work: Path) -> bool:
    """Whether a partial folder holds steps trained (a trainer checkpoint, whole or not, or finished training)."""
    return (work / TRAINED).exists() or any((work / "trainer").glob("checkpoint-*"))


def _saved_fingerprint(work: Path) -> str:
    """The data fingerprint of the split a run saved as it started (data/, written by save_prepared),
    for a run whose record has none (started by an older glade); a ValueError when it does not read."""
    import pyarrow as pa
    import pyarrow.parquet as pq
    from datasets import Dataset

    from .data import fingerprint  # here: the resume hint reads this module without loading datasets

    folder = work / "data"
    try:
        train, evaluation = (
            Dataset(pq.read_table(folder / f"{s}.parquet", columns=["messages"])) for s in ("train", "eval")
        )
        return fingerprint(train, evaluation)
    except (pa.ArrowException, KeyError, OSError) as exc:  # gone, not Parquet, no messages column
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        raise ValueError(
            f"{work}: its run was started by an older glade that recorded no data fingerprint, and the split it "
            f"saved (data/) does not read ({reason}), so its data cannot be checked; rerun with --restart to discard "
            "it and train on the data as it is now"
        ) from None


def _decisive(recipe_plain: dict) -> dict:
    out = {k: v for k, v in recipe_plain.items() if k not in RESUMABLE}
    out["sft"] = {k: v for k, v in (out.get("sft") or {}).items() if k not in RESUMABLE_SFT}
    return out


def check_resumable(recipe: TrainRecipe, work: Path, source: str | None) -> bool:
    """Refuse an interrupted run started under a recipe that trains something else (RESUMABLE
    says what may change): resumed, it would train on silently under the new one, or fail
    loading its checkpoint. False when the folder predates the record and cannot be checked
    (it may be resumed: refusing would throw its steps away)."""
    record = started_record(work)
    if record is None:
        return False
    theirs, ours = _decisive(record["recipe"]), _decisive(run_record(recipe, source)["recipe"])
    if theirs != ours:
        how = f" (it was started as: {record['source']})" if record.get("source") else ""
        base = theirs["model"]["base"]
        pin = f"; its base was {base}: resume with model.base={base}" if base != ours["model"]["base"] else ""
        raise ValueError(
            f"{work}: holds a run of another recipe ({changes(theirs, ours)}); to continue it, restore "
            f"its recipe{how} and rerun with --resume{pin}; to train this one, give it a new name (name=NEW), "
            "or rerun with --restart to discard the interrupted run"
        )
    return True


def trained_steps(checkpoint: str) -> tuple[int, int]:
    """The steps a trainer checkpoint has trained, and the max_steps its run then stopped at."""
    state = trainer_state(checkpoint)
    return state["global_step"], state.get("max_steps", 0)


def check_steps(checkpoint: str, stop: int, key: str, value) -> None:
    """Refuse to resume a checkpoint that has trained `stop` steps or more already (`key`=`value`:
    the recipe's setting that makes the run stop at `stop`): the trainer would take a step past
    it and write a model its recipe.yaml does not describe."""
    done, _ = trained_steps(checkpoint)
    if stop <= done:
        raise ValueError(
            f"{checkpoint}: has trained {done} steps already, and {key}={value} stops the run at step {stop}: "
            f"give a larger {key} to train on from it, or rerun with --restart to train this recipe from the beginning"
        )


def check_readable(checkpoint: str) -> None:
    """Refuse a trainer checkpoint whose weights, optimizer or schedule do not read (a file cut short
    after its trainer_state.json was written, a damaged disk): loading it would fail deep inside the
    trainer; an older checkpoint is not taken silently in its place. Its trainer_state.json first."""
    import zipfile

    from safetensors import SafetensorError, safe_open

    trainer_state(checkpoint)
    folder = Path(checkpoint)
    for path in sorted(p for p in folder.iterdir() if p.is_file()):
        try:
            if path.suffix == ".safetensors":
                with safe_open(str(path), framework="pt"):  # checks the file covers what its header says
                    pass
            elif path.suffix in (".pt", ".pth", ".bin"):  # torch.save writes a zip archive
                zipfile.ZipFile(path).close()
        except (SafetensorError, zipfile.BadZipFile, OSError) as exc:
            reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ValueError(
                f"{folder}: its {path.name} does not read ({reason}); rerun with --restart to discard the "
                f"interrupted run, or move {folder} aside and rerun with --resume to continue from the checkpoint "
                "before it"
            ) from None


def note_resume(work: Path, checkpoint: str | None) -> None:
    """Add to the run's record (STARTED) the step a resume continues from and the max_steps that
    checkpoint's run had, for meta.json's `resumed`: two runs of one recipe.yaml may differ by it
    (a resume may stretch the schedule). Resumes from a later step than this one are dropped (a
    checkpoint moved aside, its steps are trained again from here); all are, with no checkpoint
    (None: trained from the beginning)."""
    step, then = trained_steps(checkpoint) if checkpoint else (0, 0)
    record = started_record(work) or {}
    kept = [r for r in record.get("resumed", []) if r["from_step"] < step]
    record["resumed"] = [*kept, {"from_step": step, "max_steps_then": then}] if checkpoint else kept
    with atomic(work / STARTED) as tmp:
        tmp.write_text(json.dumps(record, indent=2), encoding="utf-8")


def resumes(work: Path) -> list[dict]:
    """The resumes the run's record (STARTED) notes, oldest first; [] for a run never resumed."""
    return (started_record(work) or {}).get("resumed", [])


def steps_callback(checkpoint: str):
    """A Trainer callback that refuses, as training begins, to resume `checkpoint` when the steps
    the run now stops at (a run of sft.num_train_epochs counts them only then) are no more than
    it has trained."""
    from transformers import TrainerCallback

    class Steps(TrainerCallback):
        def on_train_begin(self, args, state, control, **kwargs):
            if args.max_steps <= 0:  # an sft.max_steps was checked before the model loaded
                check_steps(checkpoint, state.max_steps, "sft.num_train_epochs", args.num_train_epochs)

    return Steps()


def log_at_saves():
    """A Trainer callback that has the loss logged at every step a checkpoint is saved and at the
    last step, besides every sft.logging_steps: a checkpoint's log history then holds the loss of
    every step up to it, so a run resumed from it reports the loss of the whole run (run_loss)."""
    from transformers import TrainerCallback

    class LogAtSaves(TrainerCallback):
        def on_step_end(self, args, state, control, **kwargs):
            if control.should_save or control.should_training_stop:
                control.should_log = True

        def on_epoch_end(self, args, state, control, **kwargs):
            if control.should_save:
                control.should_log = True

    return LogAtSaves()


def run_loss(history: list[dict], fallback: float, starts=()) -> tuple[float, int | None]:
    """(the mean training loss over the logged steps, how many steps that is): each logged loss
    (the Trainer's mean since its last log in that process) weighted by the steps it covers, from
    the log before it or the resume step (`starts`) between them, whichever is later: after a
    resume the Trainer counts from the step resumed. (The Trainer's own `training_loss` covers only
    the steps since the last resume; the log history is restored with the checkpoint.)
    (`fallback`, None) when nothing was logged."""
    logged = [(h["step"], h["loss"]) for h in history if "loss" in h and "step" in h]
    total, steps, previous = 0.0, 0, 0
    for step, loss in logged:
        begun = max([previous, *(s for s in starts if s < step)])
        total += float(loss) * (step - begun)
        steps += step - begun
        previous = step
    return (total / steps, steps) if steps else (fallback, None)
