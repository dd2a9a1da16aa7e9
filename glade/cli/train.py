"""`glade train RECIPE [key=value ...] [--resume]`: fine-tune a creature model (glade.train).

Heavy imports (torch, TRL, PEFT) happen inside `run`, so `glade train --help` stays fast.
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from glade.cli import VerbHelp, epilog
from glade.files import user_path


def add_parser(subparsers, help: str) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "train",
        help=help,
        description="Validate the recipe, prepare SFT data from traces, train, evaluate on held-out "
        "states, and write OUTPUT_ROOT/NAME__SEED__TIME/ (OUTPUT_ROOT the recipe's output_root, default checkpoints/; NAME and SEED the recipe's name and seed). Under torchrun or accelerate "
        "launch every process trains and rank 0 writes. Progress (the steps, then the eval loss and "
        "each pass over the held-out states) goes to stderr; the checkpoint and its figures to stdout.",
        epilog=epilog(
            "0 trained and written (a missed eval target is reported, not an error); 2 bad input (a malformed "
            "recipe, missing traces, an interrupted run of this recipe and seed while neither --resume nor --restart is given, a --resume of a changed recipe with "
            "no interrupted run), nothing trained; "
            "130 interrupted (rerun with --resume).",
            (
                "glade train recipes/train/tiny-hoarder.yaml",
                "glade train recipes/train/tiny-hoarder.yaml sft.max_steps=10 name=quick",
                "glade train recipes/train/tiny-hoarder.yaml --resume",
            ),
        ),
        formatter_class=VerbHelp,
    )
    p.add_argument("recipe", type=user_path, help="a training recipe (YAML), e.g. recipes/train/tiny-base.yaml")
    p.add_argument(
        "overrides", nargs="*", default=[], metavar="key=value", help="override recipe keys, e.g. sft.max_steps=50"
    )
    again = p.add_mutually_exclusive_group()
    again.add_argument(
        "--resume",
        action="store_true",
        help="continue the interrupted run of this recipe and seed from its last saved trainer checkpoint (the steps after it run again); with none interrupted, keep a finished run of exactly this recipe, train anew where it has no run, and refuse where its newest checkpoint came from a changed recipe",
    )
    again.add_argument(
        "--restart", action="store_true", help="discard the interrupted run of this recipe and seed, and start over"
    )
    p.set_defaults(run=run, recipe_keys=recipe_keys)
    return p


def recipe_keys() -> set[str]:
    """Every key a train recipe takes, nested ones dotted (`sft.max_steps`): what an unknown
    option is matched against for a `key=value` hint (only then are TRL and PEFT imported)."""
    from glade.cli import dotted_keys
    from glade.train.recipe import TrainRecipe, library_keys

    return dotted_keys(TrainRecipe) | library_keys()


def run(args: argparse.Namespace) -> int:
    from glade.console import console, warning

    con = console(stderr=True)  # the bars and the run's log; the checkpoint and its figures go to stdout
    # Checking the recipe builds TRL's and PEFT's config classes, whose imports take seconds: a
    # status line says so on a terminal, and goes when it is done (a refusal stays one error line).
    with con.status("checking the recipe (loading TRL and PEFT)"):
        from glade.config import recipe_source
        from glade.console import progress_bar
        from glade.train.interrupted import partial_dir
        from glade.train.recipe import load_train_recipe
        from glade.train.sft import train

        recipe = load_train_recipe(args.recipe, args.overrides)
    try:
        with progress_bar(f"train {recipe.name}", "steps", con) as bar:
            out = train(
                recipe,
                recipe_source(args.recipe, args.overrides),
                resume=args.resume,
                restart=args.restart,
                # a message names the recipe and its folders: `runs/x[/]` is no markup
                log=lambda m: con.print(m, style="dim", soft_wrap=True, markup=False),
                progress=bar,
                warn=warning,
            )
    except KeyboardInterrupt:
        raise KeyboardInterrupt(resume_hint(partial_dir(recipe))) from None
    if out is not None:
        print_checkpoint(console(), out)
    return 0


def resume_hint(work: Path) -> str:
    """How to go on from an interrupted run: --resume where its partial folder `work` holds a whole
    trainer checkpoint (its trainer_state.json is written last) or finished training (TRAINED);
    else no step was kept, and the same command starts over."""
    from glade.train.interrupted import resume_point
    from glade.train.sft import TRAINED, holds_progress

    if (work / TRAINED).exists():
        return f"training had finished: rerun with --resume to write the checkpoint ({work})"
    if holds_progress(work):
        found, step, _ = resume_point(work / "trainer")  # the checkpoint --resume continues from
        if found is None:  # only the final step's (or unreadable ones): --resume trains from the start
            return (
                f"rerun with --resume ({work}): it kept no trainer checkpoint before the final step, so every "
                "step runs again"
            )
        return (
            f"rerun with --resume to continue from the last trainer checkpoint ({work}); it saved step {step}, "
            "and the steps after it run again"
        )
    return "no training step was saved yet: rerun the same command to start over"


# The held-out figures, in the order a reader checks them; each with its n and 95% interval.
FIGURES = (
    ("valid_json_rate", "valid JSON"),
    ("valid_action_rate", "valid actions"),
    ("self_buy_rate", "self-buys"),
    ("direction_agreement", "direction agreement"),
    ("standin_agreement", "stand-in agreement"),
    ("fall_talk_sell_rate", "sells under fall talk"),
    ("cut_off_rate", "cut off by max_new_tokens"),
)


def print_checkpoint(con, out) -> None:
    """The checkpoint folder, its training figures, and the held-out figures as a table."""
    from glade.console_tables import print_table
    from glade.eval.stats import ci_text
    from glade.hub.model_card import TRAINING
    from glade.train.evaluate import hold_text, pool_text
    from glade.words import seed_spans

    meta = json.loads((out / "meta.json").read_text(encoding="utf-8"))
    m = meta.get("metrics") if isinstance(meta, dict) else None
    if not (isinstance(m, dict) and {"train_loss", "train_steps"} <= set(m)):  # a finished run --resume kept
        raise ValueError(
            f"{out / 'meta.json'}: no metrics with train_loss and train_steps; it is the record glade train writes "
            f"beside the model: restore it from a copy, or move {out.name} out of {out.parent} and rerun to train "
            "this recipe again"
        )
    con.print(f"checkpoint: {out}", soft_wrap=True, markup=False, highlight=False)
    counts = meta.get("data_counts") or {}
    # train_loss_steps: resumed from a checkpoint that kept no loss of some steps before it
    kept = f"{m['train_loss_steps']:,} (the steps whose loss was kept) of " if "train_loss_steps" in m else ""
    line = (
        f"  train loss {m['train_loss']:.4f} over {kept}{m['train_steps']:,} steps on {counts.get('train', 0):,} rows"
    )
    if "eval_loss" in m:
        line += f"; eval loss {m['eval_loss']:.4f} on {counts.get('eval', 0):,} rows of {counts.get('eval_episodes', 0):,} held-out episode(s)"
    con.print(line, soft_wrap=True, highlight=False)
    if meta.get("heldout_not_measured") and not meta.get("targets"):  # with targets, print_targets says why
        con.print(f"  held-out figures not measured ({meta['heldout_not_measured']})", soft_wrap=True, highlight=False)
    intervals = m.get("intervals") or {}
    if not intervals:  # a checkpoint written before the intervals were kept: its figures as they are
        for key, value in m.items():
            if isinstance(value, (int, float)) and key not in TRAINING:  # said on the loss line above
                con.print(f"  {key} {value:.3f}" if isinstance(value, float) else f"  {key} {value}", highlight=False)
        print_targets(con, meta)
        return
    seeds = (meta.get("heldout") or {}).get("seeds")
    source = f"seeds {seed_spans(seeds)}" if seeds else "the run's held-out episodes"
    dropped = ((meta.get("heldout") or {}).get("trained_on") or {}).get("rows")
    if dropped:  # a state the model was trained on is not held out
        source += f"; {dropped:,} with a training prompt left out"
    rows = []
    for key, label in FIGURES:
        found = [intervals.get(prefix + key) for prefix in ("", "structured_")]
        if found[0] is None:
            continue
        rows.append([label, *(ci_text(f, ".3f") for f in found), f"{found[0]['n']:,}"])
        hold = intervals.get(f"{key}_hold_baseline")
        if hold is not None:  # what an empty answer (a hold) scores on the same states, which both passes answered
            rows.append([f"  {label} of an empty answer (a hold)", *[ci_text(hold, ".3f")] * 2, f"{hold['n']:,}"])
    shown = any(isinstance(i, dict) and i.get("ci") for i in intervals.values())
    title = f"held-out states ({m['heldout_states']:,} of {source}), greedy; " + (
        "95% intervals" if shown else "too few states for any interval"
    )
    print_table(con, title, ["figure", "unconstrained", "structured", "n states"], rows)
    if shown and (said := pool_text(meta)):  # what the intervals are about: none to speak of
        con.print(f"  {said}", soft_wrap=True, highlight=False)
    if said := hold_text(m):
        con.print(f"  {said}", soft_wrap=True, highlight=False)
    # valid, yet not the order the model wrote; a pass with no valid answer has no share to give
    cuts = [
        (label, c)
        for prefix, label in (("", "unconstrained"), ("structured_", "structured"))
        if (c := m.get(prefix + "valid_action_cut")) and c.get("n")
    ]
    if cuts:
        said = "; ".join(f"{label} {c['note']}, {ci_text(c, '.3f')}" for label, c in cuts)
        con.print(
            f"  valid actions with a quantity the parser cut to what was held or affordable: {said}",
            soft_wrap=True,
            highlight=False,
        )
    if m.get("fall_talk_sell_rate_standins"):
        said = ", ".join(f"{k} {v:.3f}" for k, v in m["fall_talk_sell_rate_standins"].items())
        con.print(f"  the stand-ins' sells under fall talk, same states: {said}", soft_wrap=True, highlight=False)
    print_targets(con, meta)


def print_targets(con, meta: dict) -> None:
    """Each target as met or not; with no held-out figure measured, one line saying why."""
    targets = meta.get("targets") or {}
    if targets and meta.get("targets_not_measured"):
        named = ", ".join(f"{key} {t['target']}" for key, t in targets.items())
        con.print(
            f"  targets not measured ({meta['targets_not_measured']}): {named}, each recorded as NOT met",
            soft_wrap=True,
            highlight=False,
        )
        return
    intervals = (meta.get("metrics") or {}).get("intervals") or {}
    for key, t in targets.items():
        if t["measured"] is None:  # e.g. eval.probe_states 0: reported as not met, and why
            why = f": {t['why']}" if t.get("why") else ""
            con.print(f"  target {key} {t['target']}: NOT met (not measured{why})", soft_wrap=True, highlight=False)
            continue
        con.print(
            f"  target {key} {t['target']}: {target_text(t, intervals.get(key))}", soft_wrap=True, highlight=False
        )


def target_text(t: dict, found: dict | None = None) -> str:
    """A target as met or not, with its 95% interval, "on the mean" where the interval reaches
    across the target (too few states to show it): train/evaluate.target_reaches. With no
    interval in `found` (the figure's glade.eval.stats interval, as_dict): over fewer than MIN_N
    states, "on the mean" too; over more, the same value in every state, which is on the
    target's side or not in each, so met or not as it stands, with the interval's note; with no
    `found` (a checkpoint written before glade kept intervals), the figure alone."""
    from glade.eval.stats import MIN_N
    from glade.train.evaluate import target_reaches

    head, reaches = ("met" if t["met"] else "NOT met"), target_reaches(t)
    n = (found or {}).get("n")
    if reaches is None and n is not None and n >= MIN_N:  # no interval at n: every state the same value
        return f"{head} ({t['measured']:.3f}; {found.get('note') or f'n {n:,}, no interval'})"
    if reaches is None and n is not None:
        return f"{head} on the mean ({t['measured']:.3f}; n {n:,}, too few states for an interval)"
    if reaches is None:
        return f"{head} ({t['measured']:.3f})"
    interval = f"95% CI [{t['ci'][0]:.3f}, {t['ci'][1]:.3f}]"
    if reaches:
        said = (
            "past the target: too few states to show it"
            if t["met"]
            else "the target: too few states to show it either way"
        )
        return f"{head} on the mean ({t['measured']:.3f}; its {interval} reaches {said})"
    return f"{head} ({t['measured']:.3f}, {interval})"
