"""The training steps' bar: the Trainer's own progress, told to a glade.console.Bar; and the
training seconds, kept in each trainer checkpoint so a resumed run counts them all."""

from __future__ import annotations

import json
import time
from pathlib import Path

from glade.files import atomic

from .records import number, parsed

SECONDS = "glade_train_seconds.json"  # in a trainer checkpoint: the seconds of training up to it


def seconds_before(checkpoint: str | None) -> float:
    """The training seconds up to `checkpoint` (a trainer checkpoint folder, None: the start); 0 where
    it has no record (saved by an older glade, or killed before the record was written). A damaged
    one is a ValueError naming it (an older glade wrote it in place, so a kill could cut it short)."""
    path = Path(checkpoint) / SECONDS if checkpoint else None
    if path is None or not path.exists():
        return 0.0
    record, why = parsed(path)
    if why is None and not (isinstance(record, dict) and number(record.get("seconds"))):
        why = "no number of seconds" if isinstance(record, dict) else f"a JSON {type(record).__name__}, not an object"
    if why:
        raise ValueError(
            f"{path}: not the record glade train writes ({why}); delete it (the training seconds before this "
            "checkpoint are then not counted in meta.json's train_seconds) and rerun with --resume"
        )
    return float(record["seconds"])


def seconds_callback(before: float):
    """A Trainer callback that writes into each checkpoint it saves the training seconds up to it:
    `before` (earlier runs' seconds up to the checkpoint resumed from) plus this run's. Steps a
    kill threw away after the last checkpoint are counted once, when they are trained again."""
    from transformers import TrainerCallback

    class Seconds(TrainerCallback):
        started = time.perf_counter()

        def on_train_begin(self, args, state, control, **kwargs):
            self.started = time.perf_counter()

        def on_save(self, args, state, control, **kwargs):
            if state.is_world_process_zero:
                folder = Path(args.output_dir) / f"checkpoint-{state.global_step}"
                seconds = before + time.perf_counter() - self.started
                with atomic(folder / SECONDS) as tmp:  # a kill or a full disk leaves the old record or none
                    tmp.write_text(json.dumps({"seconds": round(seconds, 3)}), encoding="utf-8")

    return Seconds()


def progress_callback(bar):
    """A Trainer callback that advances `bar` (a glade.console.Bar) per step, notes the logged loss, and
    gives the eval loss after training a bar of its own under it."""
    from transformers import TrainerCallback

    class Progress(TrainerCallback):  # the Trainer's callback interface is a base class to subclass
        def __init__(self):
            self.trained = False  # from then on an evaluation is the eval loss, with a bar of its own
            self.loss_bar = None

        def on_train_begin(self, args, state, control, **kwargs):
            bar.total(state.max_steps)
            bar.advance(state.global_step)  # a resumed run starts part-way

        def on_step_end(self, args, state, control, **kwargs):
            bar.advance()

        def on_log(self, args, state, control, logs=None, **kwargs):
            if logs and "loss" in logs:
                bar.note(f"loss {float(logs['loss']):.3f}")

        def on_train_end(self, args, state, control, **kwargs):
            self.trained = True

        def on_prediction_step(self, args, state, control, eval_dataloader=None, **kwargs):
            if not self.trained:
                return
            if self.loss_bar is None:
                self.loss_bar = bar.stage("eval loss", "batches")
                if eval_dataloader is not None:
                    self.loss_bar.total(len(eval_dataloader))
            self.loss_bar.advance()

    return Progress()
