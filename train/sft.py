"""One training run: traces -> SFT data -> TRL SFTTrainer (+ PEFT LoRA) -> a checkpoint folder.

The run works in `checkpoints/.<name>__<seed>.partial/` and is renamed to
`checkpoints/<name>__<seed>__<time>/` only when complete (adapter or model, tokenizer,
resolved recipe, meta.json), so nothing half-written is ever loaded as a checkpoint.
`resume=True` continues from the last complete trainer checkpoint inside the partial folder
(a checkpoint a kill cut short is dropped), or, when training had finished, only redoes the
writing after it (with no run to continue it says so, and refuses if the recipe changed since
its newest checkpoint); `restart=True` discards the partial folder; with neither, an interrupted
run is refused rather than wiped, and so is a resume under a recipe other than the one the
run was started with, or on other data (the partial folder records both, STARTED), or to stop at
or before the steps its checkpoint has trained, or from a checkpoint whose files do not read;
meta.json's `resumed` lists each resume's step and the max_steps then. Works
unchanged under `torchrun` / `accelerate launch`: every rank trains, rank 0 writes.
"""

from __future__ import annotations

import json
import os
import shutil
import time
import warnings
from pathlib import Path

import yaml

from glade.checkpoint import STARTED, base_fingerprint, prompt_pair, trained_prompts
from glade.config import as_plain
from glade.files import atomic, only_writer, readable_by_umask, saved_into

from .base_model import tied_embedding
from .data import fingerprint, prepare, save_prepared, to_prompt_completion, traces_record
from .inputs import check_lengths, check_model, check_paths
from .interrupted import (
    check_data,
    check_readable,
    check_resumable,
    check_steps,
    finished_run,
    last_checkpoint,
    log_at_saves,
    note_resume,
    nothing_to_resume,
    partial_dir,
    resolve_base,
    resumes,
    run_loss,
    run_record,
    steps_callback,
    trained_steps,
)
from .progress import progress_callback, seconds_before, seconds_callback
from .recipe import TrainRecipe, lora_config, sft_config
from .records import TRAINED, started_record, trained_record

SAVES_EMBEDDING = r"Setting `save_embedding_layers` to `True`"


def build_tiny(recipe: TrainRecipe, train_rows, folder: Path) -> None:
    """A tokenizer trained on this run's own prompts and answers, and a fresh tiny model."""
    from .tiny import build_model, build_tokenizer, default_corpus

    if not (folder / "config.json").exists():
        texts = [m["content"] for messages in train_rows["messages"] for m in messages]
        tokenizer = build_tokenizer(list(default_corpus()) + texts, vocab_size=recipe.model.tiny.vocab_size)
        t = recipe.model.tiny
        model = build_model(tokenizer, t.hidden_size, t.layers, t.heads, t.kv_heads, seed=recipe.seed)
        tmp = folder.with_name(folder.name + ".tmp")
        model.save_pretrained(tmp)
        tokenizer.save_pretrained(tmp)
        os.replace(tmp, folder)


def build_trainer(
    recipe: TrainRecipe,
    base: str,
    train_rows,
    eval_rows,
    output_dir: str,
    source: str | None = None,
    progress=None,
    warn=warnings.warn,
):
    """The TRL SFTTrainer a recipe asks for, on `base` (a hub id or a local folder). With
    `progress` (a glade.console.Bar), the steps advance it instead of the trainer's own bar;
    `warn` hears what the run goes on despite (the CLI prints it as a warning)."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer
    from trl import SFTTrainer

    from glade.seats.hf import DTYPES

    dtype = DTYPES[recipe.model.dtype]
    tokenizer, model = check_model(
        recipe,
        base,
        source,
        lambda: (AutoTokenizer.from_pretrained(base), AutoModelForCausalLM.from_pretrained(base, dtype=dtype)),
    )
    if tokenizer.pad_token is None:
        tokenizer.pad_token = tokenizer.eos_token
    world = int(os.environ.get("WORLD_SIZE", "1"))
    extra = {"ddp_backend": "gloo"} if world > 1 and not torch.cuda.is_available() else {}
    if progress is not None:
        extra["disable_tqdm"] = True
    columns = ["prompt", "completion"]
    with warnings.catch_warnings():
        lora = recipe.lora or {}
        if tied := tied_embedding(lora.get("target_modules"), model, ties=bool(lora.get("ensure_weight_tying"))):
            warn(tied)
            warnings.filterwarnings("ignore", message=r"Model (has|with) `tie_word_embeddings=True`")
        trainer = SFTTrainer(
            model=model,
            args=sft_config(recipe, output_dir, source, **extra),
            train_dataset=train_rows.map(to_prompt_completion).select_columns(columns),
            eval_dataset=eval_rows.map(to_prompt_completion).select_columns(columns) if len(eval_rows) else None,
            processing_class=tokenizer,
            peft_config=lora_config(recipe, source),
            callbacks=[progress_callback(progress)] if progress is not None else None,
        )
    check_lengths(trainer, train_rows, eval_rows, source)
    if progress is not None:  # the bar shows the loss; the Trainer's own printing of each log goes
        from transformers.trainer_callback import PrinterCallback

        trainer.remove_callback(PrinterCallback)
    return trainer


def train(
    recipe: TrainRecipe,
    source: str | None = None,
    resume: bool = False,
    log=print,
    progress=None,
    restart: bool = False,
    warn=warnings.warn,
) -> Path | None:
    """Run the recipe; returns the checkpoint folder on rank 0 (None on other ranks).
    `log` hears one line per phase; `progress` (a glade.console.Bar) hears the steps; `warn`
    what the run goes on despite (a tied embedding it trains as one). Rank 0
    holds the run's lock (glade.files.only_writer): a second run of the recipe while one is
    going is refused, rather than both writing one partial folder and two checkpoints."""
    check_paths(recipe, source)  # held-out seeds and prompt protocols included
    rank = int(os.environ.get("RANK", "0"))
    world = int(os.environ.get("WORLD_SIZE", "1"))
    work, root = partial_dir(recipe), Path(recipe.output_root)
    if rank != 0:
        return _start(recipe, work, source, resume, log, progress, restart, rank, world, warn)
    made_root = not root.exists()
    try:
        advice = "let it finish (then `--resume` keeps its checkpoint), or train another seed"
        with only_writer(work, lock=work.with_suffix(".lock"), advice=advice):  # .NAME__SEED.lock
            return _start(recipe, work, source, resume, log, progress, restart, rank, world, warn)
    finally:  # a failed run leaves no folder it made, once the lock beside the partial folder is gone
        if made_root and root.is_dir() and not any(root.iterdir()):
            root.rmdir()


def _start(recipe, work: Path, source, resume: bool, log, progress, restart: bool, rank: int, world: int, warn):
    """train, under its lock: refuse or resume an interrupted run, then train."""
    if work.exists() and not (restart or resume or holds_progress(work)):  # stopped before a step was saved
        log(f"{work}: an interrupted run of this recipe saved no training step; starting over")
        restart = True
    if work.exists() and not restart:
        checked = check_resumable(recipe, work, source)
        if not resume:
            raise ValueError(
                f"{work}: an interrupted run of this recipe exists: rerun with --resume to continue it, "
                "or --restart to discard it"
            )
        if not checked:
            log(f"{work}: started before glade recorded a run's recipe, so it cannot be checked; resuming it")
    if resume and (work / TRAINED).exists():  # a damaged record named as itself, before the data is prepared
        trained_record(work)
    if resume and not work.exists() and (done := finished_run(recipe)) is not None:
        log(f"{recipe.name} (seed {recipe.seed}): kept {done}, finished from this same recipe; not trained again")
        return done if rank == 0 else None
    if resume and not work.exists():
        log(nothing_to_resume(recipe))
        resume = False  # said once, here, before any work
    if restart and rank == 0 and work.exists():
        shutil.rmtree(work)
    if world > 1:  # every rank must see the cleared folder before writing into it
        _barrier()
    made = not work.exists()
    try:
        return _train(recipe, work, source, resume, log, progress, rank, world, warn)
    except Exception as exc:  # a failure, not an interrupt: leave no folder behind unless it holds progress
        if rank == 0 and made and not holds_progress(work):
            shutil.rmtree(work, ignore_errors=True)
        if isinstance(exc, (ValueError, OSError)) and (work / TRAINED).exists():  # say the training is not lost
            first = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
            raise ValueError(
                f"{first}; training finished and is kept in {work}: fix this and rerun with --resume to write "
                "the checkpoint"
            ) from exc
        raise


def holds_progress(work: Path) -> bool:
    """Whether a run's folder holds work to resume: a whole trainer checkpoint (its trainer_state.json
    is written last), or finished training (TRAINED; the trainer folder is gone by then), so a
    failure while writing or evaluating the checkpoint never throws the trained model away."""
    return (work / TRAINED).exists() or any((work / "trainer").glob("checkpoint-*/trainer_state.json"))


def _train(
    recipe: TrainRecipe, work: Path, source, resume: bool, log, progress, rank: int, world: int, warn
) -> Path | None:
    started = time.perf_counter()
    work.mkdir(parents=True, exist_ok=True)
    if rank == 0 and not (work / STARTED).exists():  # first, so every trainer checkpoint has its recipe
        _write_json(work / STARTED, run_record(recipe, source))
    train_rows, eval_rows, counts = prepare(recipe.data)
    said = ", ".join(f"{k} {v:,}" if isinstance(v, int) else f"{k} {v}" for k, v in counts.items())
    log(f"data: {said}")
    if len(train_rows) == 0 and len(eval_rows):  # one episode left, and the split held it out
        raise ValueError(
            f"{source}: data: every row left is in a held-out episode ({said}); add episodes or set data.eval_share: 0"
        )
    if len(train_rows) == 0:
        raise ValueError(f"{source}: data: no training rows left after filtering ({said}); loosen the data filters")
    data_fingerprint = fingerprint(train_rows, eval_rows)
    check_data(work, data_fingerprint)  # before anything is overwritten or trained on
    if rank == 0:  # from now on a resume is held to this data (a record an older glade began too)
        _write_json(work / STARTED, started_record(work) | {"data_fingerprint": data_fingerprint})
        save_prepared(work / "data", train_rows, eval_rows, counts, recipe.data)
    trained = resume and (work / TRAINED).exists()  # killed while writing the checkpoint: training is done
    if recipe.model.base == "tiny":
        if rank == 0 and not trained:
            build_tiny(recipe, train_rows, work / "init")
        if world > 1:  # the other ranks load what rank 0 built
            _barrier()
        base = str((work / "init").resolve())
    else:
        base = resolve_base(recipe)
    if trained:
        log("training had finished; writing the checkpoint")
        if rank != 0:
            return None
        metrics, fit_seconds = trained_record(work)
        earlier = fit_seconds  # all of the training was done by the run(s) before this one
    else:
        fitted = _fit(recipe, base, train_rows, eval_rows, work, source, progress, resume, log, warn)
        if fitted is None:
            return None
        metrics, fit_seconds, earlier = fitted
    shutil.rmtree(work / "trainer", ignore_errors=True)
    # PEFT's save_pretrained leaves a placeholder card naming this machine's base folder; the card is
    # `glade export`'s (glade.hub, a layer above this one), which needs a Hub repo id to write it
    (work / "README.md").unlink(missing_ok=True)
    meta = {
        "name": recipe.name,
        "seed": recipe.seed,
        "kind": "full" if recipe.lora is None else "lora",
        "base_model": base if recipe.lora is not None else None,
        # the weights the adapter sits on: a later glade's shipped base of the same name may differ
        **({"base_fingerprint": base_fingerprint(base)} if recipe.lora is not None and Path(base).is_dir() else {}),
        "base_model_given": recipe.model.base,
        # the base as model.base resolved for this run (latest:/shipped: as a folder; None for a tiny
        # base built here): --resume keeps this run only while model.base still names it
        "base_resolved": None if recipe.model.base == "tiny" else base,
        "data_fingerprint": data_fingerprint,
        "traces": {"data": traces_record(recipe.data.traces), "eval": traces_record(recipe.eval.traces)},
        "data_counts": counts,
        "train_seconds": round(fit_seconds, 1),  # the trainer's steps, over every run a resume continued
        "metrics": metrics,
        # each resume's step and the max_steps its checkpoint's run had (the schedule may have stretched)
        **({"resumed": done} if (done := resumes(work)) else {}),
        **provenance(),
    }
    if recipe.model.base == "tiny":
        shutil.rmtree(work / "init", ignore_errors=True)
        meta["base_model_given"] = "tiny (built locally from the training data)"
    with atomic(work / "recipe.yaml") as tmp:  # a full disk here is named (f.write's error names no file)
        tmp.write_text(yaml.safe_dump(as_plain(recipe), sort_keys=False), encoding="utf-8")
    _write_json(work / "meta.json", meta)
    from .evaluate import check_targets, evaluate_checkpoint, unmeasured

    measured = bool((len(eval_rows) or recipe.eval.traces) and recipe.eval.states)
    if measured:
        trained = {prompt_pair(m) for m in train_rows["messages"]}  # and those of the models under it
        if recipe.model.base != "tiny" and Path(base).is_dir():
            trained |= trained_prompts(base)
        meta["metrics"].update(evaluate_checkpoint(work, eval_rows, recipe.eval, recipe.data, progress, trained))
        meta["heldout"] = {
            "traces": list(recipe.eval.traces),
            "seeds": meta["metrics"].pop("heldout_seeds", []),
            "about": (
                "states of these seeds' episodes; no training run of this checkpoint used them"
                if recipe.eval.traces
                else "states of the episodes the run held out of its training traces (data/eval.parquet)"
            )
            + "; trained_on: the states left out of the sample because their prompt (a turn-0 opening, say) is "
            "also in a training split",
            # states whose prompt is in a training split, dropped before the sample was drawn
            "trained_on": meta["metrics"].pop("heldout_trained_on", None),
        }
    elif recipe.eval.states:  # asked for, yet nothing to answer: said whether or not a target waits on it
        meta["heldout_not_measured"] = (
            "no held-out state: eval.traces names none and the run held out no episode "
            f"(data.eval_share {recipe.data.eval_share:g})"
        )
    if not measured and recipe.eval.targets:  # each target recorded as not met, and why
        meta["targets_not_measured"] = meta.get(
            "heldout_not_measured", "eval.states is 0, so no held-out state was answered"
        )
    if recipe.eval.targets:
        meta["targets"] = check_targets(meta["metrics"], recipe.eval.targets)
        for key, t in meta["targets"].items() if measured else ():  # a figure the evaluation left out, and why
            if t["measured"] is None:
                t["why"] = unmeasured(key, recipe.eval)
    # data, build, train, held-out evaluation; a resumed run adds the training seconds its earlier runs
    # kept (up to the checkpoint it resumed from), so the wall time is never less than train_seconds
    meta["wall_seconds"] = round(time.perf_counter() - started + earlier, 1)
    _write_json(work / "meta.json", meta)
    readable_by_umask(work)  # the weights too (safetensors writes them 0600): another uid may seat the checkpoint
    final = Path(recipe.output_root) / f"{recipe.name}__{recipe.seed}__{time.strftime('%Y%m%d-%H%M%S')}"
    os.replace(work, final)
    for name in (TRAINED, STARTED):  # the partial folder's own records: recipe.yaml and meta.json say it all
        (final / name).unlink(missing_ok=True)
    return final


def _fit(
    recipe, base, train_rows, eval_rows, work: Path, source, progress, resume: bool, log, warn
) -> tuple[dict, float, float] | None:
    """Train (from the last complete checkpoint when resuming); on rank 0 save the model and
    tokenizer into `work` and mark training finished (TRAINED). Returns the metrics, the
    training seconds (those before the checkpoint resumed from included) and those earlier
    seconds alone (None off rank 0)."""
    last = last_checkpoint(work / "trainer", log) if resume else None
    max_steps = recipe.sft.get("max_steps", -1)
    if last and max_steps > 0:  # before the model loads; a run of epochs is checked as it starts
        check_steps(last, max_steps, "sft.max_steps", max_steps)
    if last:
        check_readable(last)
    before = seconds_before(last)  # read before the model loads, as the checks above
    trainer = build_trainer(recipe, base, train_rows, eval_rows, str(work / "trainer"), source, progress, warn)
    if resume:
        log(f"resuming from {last}" if last else "nothing to resume; starting from the beginning")
    if last:
        trainer.add_callback(steps_callback(last))
    trainer.add_callback(log_at_saves())  # each checkpoint holds the loss of every step up to it
    if resume and trainer.is_world_process_zero():
        note_resume(work, last)
    started = time.perf_counter()
    trainer.add_callback(seconds_callback(before))
    # PEFT's note that a targeted embedding is saved whole: nothing to do; a full disk at a checkpoint, one line
    with warnings.catch_warnings(), saved_into(work / "trainer"):
        warnings.filterwarnings("ignore", message=SAVES_EMBEDDING)
        result = trainer.train(resume_from_checkpoint=last)
    seconds = before + time.perf_counter() - started
    starts = [r["from_step"] for r in resumes(work)] + ([trained_steps(last)[0]] if last else [])
    loss, logged = run_loss(trainer.state.log_history, float(result.training_loss), starts)
    metrics = {"train_loss": loss, "train_steps": int(result.global_step)}
    if logged is not None and logged < result.global_step:  # a resume of a checkpoint an older glade saved
        metrics["train_loss_steps"] = logged
    if len(eval_rows):
        metrics["eval_loss"] = float(trainer.evaluate()["eval_loss"])
    if not trainer.is_world_process_zero():
        return None
    with warnings.catch_warnings(), saved_into(work):
        warnings.filterwarnings("ignore", message=SAVES_EMBEDDING)
        trainer.save_model(str(work))
        # save_model also pickles the TrainingArguments; recipe.yaml says the same in plain text, and a
        # pickle is code a reader of the checkpoint (or the Hub's scanner) would have to trust
        (work / "training_args.bin").unlink(missing_ok=True)
        trainer.processing_class.save_pretrained(str(work))
    _write_json(work / TRAINED, {"metrics": metrics, "train_seconds": seconds})
    return metrics, seconds, before


def _write_json(path: Path, data: dict) -> None:
    with atomic(path) as tmp:
        tmp.write_text(json.dumps(data, indent=2), encoding="utf-8")


def _barrier() -> None:
    import torch
    import torch.distributed as dist

    if not dist.is_initialized():
        dist.init_process_group("nccl" if os.environ.get("LOCAL_RANK") and torch.cuda.is_available() else "gloo")
    dist.barrier()


def provenance() -> dict:
    """Versions, the git commit and torch's thread count (a CPU run's weights differ in the last bits
    with it), for meta.json and cards."""
    import torch

    from glade.provenance import now, stamp

    versions = stamp(("torch", "transformers", "trl", "peft", "datasets", "accelerate"))
    return {**versions, "torch_threads": torch.get_num_threads(), "created": now()}
