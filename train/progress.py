"""The training steps' bar: the Trainer's own progress, told to a glade.console.Bar."""

from __future__ import annotations


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
