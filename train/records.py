"""The records an interrupted run reads back, each through one reader that names a damaged one and
what to do: the partial folder's STARTED (the recipe and data the run started with) and TRAINED
(training finished, its figures), and a trainer checkpoint's trainer_state.json (the Trainer's)."""

from __future__ import annotations

import json
from pathlib import Path

from glade.checkpoint import STARTED

TRAINED = "trained.json"  # in the partial folder: training finished, its metrics; what follows is writing
STATE = "trainer_state.json"  # in a trainer checkpoint, written last by the Trainer (not atomically)


class CutShort(ValueError):
    """A trainer_state.json that does not parse: what a kill or a full disk leaves of its write."""


def count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and value >= 0


def parsed(path: Path):
    """The JSON in `path`; (None, why) when it does not parse, else (value, None)."""
    try:
        return json.loads(path.read_text(encoding="utf-8")), None
    except ValueError as exc:  # a UnicodeDecodeError (not text) is one too
        return None, f"not valid JSON: {str(exc).splitlines()[0] if str(exc) else type(exc).__name__}"


def started_record(work: Path) -> dict | None:
    """The run's record (STARTED); None where it has none (a run an older glade started, or another
    rank's not written yet). glade writes it atomically: a damaged one was edited by hand."""
    path = work / STARTED
    if not path.is_file():
        return None
    record, why = parsed(path)
    why = why or _started_fault(record)
    if why:
        raise ValueError(
            f"{path}: not the record glade train writes ({why}); it holds the recipe and data the run started "
            "with: restore it, or delete it to resume without checking them, or rerun with --restart to discard "
            "the interrupted run and train from the beginning"
        )
    return record


def _started_fault(record) -> str | None:
    """What is wrong with a STARTED record, as what glade reads of it needs; None when nothing is."""
    if not isinstance(record, dict):
        return f"a JSON {type(record).__name__}, not an object"
    recipe = record.get("recipe")
    if not isinstance(recipe, dict):
        return "no recipe" if recipe is None else "its recipe is not an object"
    if not isinstance(recipe.get("model"), dict) or not isinstance(recipe["model"].get("base"), str):
        return "its recipe names no model.base"
    if not isinstance(recipe.get("sft") or {}, dict):
        return "its recipe's sft is not an object"
    if not isinstance(record.get("data_fingerprint", ""), str):
        return "its data_fingerprint is not text"
    resumed = record.get("resumed", [])
    if not isinstance(resumed, list) or not all(isinstance(r, dict) and count(r.get("from_step")) for r in resumed):
        return "its resumed is not a list of objects with a from_step"
    return None


def trained_record(work: Path) -> tuple[dict, float]:
    """The metrics and training seconds TRAINED records (training finished, the model saved in `work`)."""
    path = work / TRAINED
    record, why = parsed(path)
    metrics = record.get("metrics") if isinstance(record, dict) else None
    if why is None and not isinstance(record, dict):
        why = f"a JSON {type(record).__name__}, not an object"
    elif why is None and not (isinstance(metrics, dict) and {"train_loss", "train_steps"} <= set(metrics)):
        why = "no metrics with train_loss and train_steps"
    elif why is None and not number(record.get("train_seconds")):
        why = "no train_seconds"
    if why:
        # the trainer checkpoints are removed once this is written: deleted, a resume would train it all again
        again = "its last trainer checkpoint" if any((work / "trainer").glob("checkpoint-*")) else "the beginning"
        raise ValueError(
            f"{path}: not the record glade train writes as training finishes ({why}); training had finished and its "
            f"model is in {work}: restore the record from a copy, or write it as "
            '{"metrics": {"train_loss": LOSS, "train_steps": STEPS}, "train_seconds": SECONDS}, and rerun with '
            f"--resume to write the checkpoint; deleted, a rerun with --resume trains again from {again}"
        )
    return record["metrics"], float(record["train_seconds"])


def trainer_state(checkpoint: str | Path) -> dict:
    """A trainer checkpoint's trainer_state.json. One that does not parse (or is gone) is a CutShort;
    one that parses but is not the Trainer's (not an object; global_step missing or not a whole number
    of steps) a ValueError: no kill leaves that, so its checkpoint is not passed over for it."""
    folder = Path(checkpoint)
    path = folder / STATE
    fix = (
        f"move {folder} aside and rerun with --resume to continue from the checkpoint before it, or rerun with "
        "--restart to discard the interrupted run"
    )
    try:
        state, why = parsed(path)
    except OSError as exc:
        raise CutShort(f"{path}: does not read ({exc.strerror or type(exc).__name__}); {fix}") from None
    if why:
        raise CutShort(f"{path}: {why}; {fix}")
    if not isinstance(state, dict):
        why = f"a JSON {type(state).__name__}, not an object"
    elif not count(state.get("global_step")):
        why = "no global_step" if "global_step" not in state else "its global_step is no whole number of steps"
    elif not isinstance(state.get("max_steps", 0), int):
        why = "its max_steps is no whole number"
    if why:
        raise ValueError(f"{path}: not the trainer state the Trainer writes ({why}); {fix}")
    return state
