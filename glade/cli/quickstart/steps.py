"""The quickstart's steps (glade.cli.quickstart lists them in order): each plays or trains
one part of the chain and prints what it found."""

from __future__ import annotations

import argparse
import json
import shlex
from pathlib import Path

import yaml
from rich.padding import Padding

from glade import checkpoint
from glade.checkpoint import LATEST
from glade.cli import glade_command
from glade.console import console, findings, progress_bar, warning
from glade.console_tables import answer_errors, plain_table, scoreboard, summary_lines
from glade.env.scenario import RECIPES, load_scenario
from glade.episode_folder import write_episode
from glade.faults import parse_errors
from glade.rollout import run_episode

SEED = 7
LM_EVAL_LIMIT = 24  # held-out documents per lm-eval task (states; goods of states for the direction task)
GAMBITS = ("gambit_rumour", "gambit_shock", "gambit_override")
ADAPTERS = ("tiny-hoarder", "tiny-panic-seller", "tiny-speculator", "tiny-shrewd")
RESULTS = Path("runs/eval/crash-gambit")  # where recipes/eval/crash-gambit.yaml writes
TRACES = Path("runs/traces")  # where recipes/generate/NAME.yaml writes: TRACES/NAME


def simulate_default(args: argparse.Namespace, con) -> None:
    episode = run_episode("default", SEED, 30, full=False)
    out = write_episode(episode, Path(args.out) / "simulate")
    con.print(scoreboard(episode.scenario, episode.rows, con.width))
    for line in answer_errors(
        episode.scenario, episode.rows, parse_errors(episode.rows)
    ):  # none from stand-ins, but said if there were
        con.print(line, soft_wrap=True)
    con.print()
    for line in summary_lines(episode.scenario, episode.summary):
        con.print(line)
    # --out prints as written: `runs/x[/]` is no markup
    con.print(f"wrote {out}/: trace.parquet ({len(episode.rows)} rows), summary.json", soft_wrap=True, markup=False)
    if episode.summary["conservation_problems"]:
        raise RuntimeError("conservation check failed in the default simulation")


def gambit_rows() -> list[dict]:
    """One row per mechanism: the gambit good's reference before the spring turn, after
    settlement at the spring turn, and the gambit's P&L."""
    rows = []
    for name in GAMBITS:
        scenario = load_scenario(name)
        g = scenario.gambit
        episode = run_episode(scenario, SEED, full=False)
        history = episode.history
        before = history[g.spring_turn - 1]["prices"][g.good] if g.spring_turn > 0 else scenario.goods[g.good].price
        after = history[g.spring_turn]["prices"][g.good]
        rows.append(
            {
                "scenario": name,
                "mechanism": g.mechanism,
                "good": g.good,
                "spring_turn": g.spring_turn,
                "before": before,
                "after": after,
                "gambit_pnl": episode.summary["gambit_pnl"],
                "problems": episode.summary["conservation_problems"],
            }
        )
    return rows


def compare_gambits(args: argparse.Namespace, con) -> None:
    rows = gambit_rows()
    good, spring = rows[0]["good"], rows[0]["spring_turn"]
    table = plain_table(f"the crash gambit on seed {SEED} alone, legend sprung at turn {spring}")
    table.add_column("mechanism")
    table.add_column(f"{good} before turn {spring}", justify="right")
    table.add_column(f"{good} after settlement", justify="right")
    table.add_column("gambit P&L", justify="right")
    for r in rows:
        colour = "green" if round(r["gambit_pnl"], 2) >= 0 else "red"
        table.add_row(
            r["mechanism"], f"{r['before']:.2f}", f"{r['after']:.2f}", f"[{colour}]{r['gambit_pnl']:+z.2f}[/]"
        )
    con.print(table)
    con.print()
    con.print(
        f"The patron shorts {good}, whispers a tip, springs the same legend through each mechanism "
        "and covers after settlement. A rumour or a shock only changes what the seats see or hold; "
        "the price is whatever they then trade at. The override writes the price at the "
        "settlement seam, after clearing, whatever the seats did. One seed shows the mechanisms; the eval step "
        "below plays every world on several seeds, with intervals."
    )
    for r in rows:
        if r["problems"]:
            raise RuntimeError(f"conservation check failed in {r['scenario']}")


def generate_traces(*names: str):
    def step(args: argparse.Namespace, con) -> None:
        from glade.traces import generate, load_generate_recipe

        for name in names:
            with progress_bar(f"generate {name}", "world-turns") as bar:  # bars on stderr, results on stdout
                summary = generate(
                    load_generate_recipe(RECIPES / "generate" / f"{name}.yaml"),
                    progress=bar.advance,
                    on_total=bar.total,
                )
            con.print(
                f"{summary['episodes']:,} episodes in {summary['out']} ({summary['decisions_now']:,} decisions played now)"
            )

    return step


def train_overrides(name: str, args: argparse.Namespace) -> list[str]:
    """The overrides the train step of recipes/train/NAME.yaml runs it with: with --train-base, the
    adapters go on the tiny-base its step kept (trained_base)."""
    return [f"model.base={trained_base(args)}"] if args.train_base and name != "tiny-base" else []


def trained_base(args: argparse.Namespace) -> str:
    """With --train-base, the tiny-base folder the base step kept or trained (not `latest:tiny-base`,
    which a smoke test of sft.max_steps=2 since would name); `latest:tiny-base` before that step ran."""
    kept = kept_checkpoint("tiny-base", args)
    return str(kept) if kept is not None else f"{LATEST}tiny-base"


def kept_checkpoint(name: str, args: argparse.Namespace) -> Path | None:
    """The checkpoint the train step of `name` kept or trained: the newest run of exactly its
    recipe on the base it names now (the step keeps that run, or trains the one that becomes it),
    not `latest:NAME`, the newest run of any seed or override (an experiment with seed=1 or
    sft.max_steps=2 since); None before that step ever ran (or its base was never trained)."""
    from glade.train.interrupted import finished_run
    from glade.train.recipe import load_train_recipe

    try:
        return finished_run(load_train_recipe(RECIPES / "train" / f"{name}.yaml", train_overrides(name, args)))
    except ValueError:  # its base, latest:tiny-base, names no checkpoint yet: nothing was trained on it
        return None


def train_recipe(name: str):
    def step(args: argparse.Namespace, con) -> None:
        from glade.cli.train import target_text
        from glade.train.recipe import load_train_recipe
        from glade.train.sft import train

        path = RECIPES / "train" / f"{name}.yaml"
        overrides = train_overrides(name, args)
        err = console(stderr=True)  # the bars (steps, eval loss, held-out passes) and the run's log
        with progress_bar(f"train {name}", "steps", err) as bar:
            out = train(  # a rerun continues an interrupted run, and keeps a finished one
                load_train_recipe(path, overrides),
                str(path),
                resume=True,
                # a message names the recipe and its folders: `runs/x[/]` is no markup
                log=lambda m: err.print(m, style="dim", soft_wrap=True, markup=False),
                progress=bar,
                warn=warning,
            )
        meta = json.loads((out / "meta.json").read_text(encoding="utf-8"))
        con.print(f"{out}: " + metric_line(meta["metrics"]), soft_wrap=True, markup=False)  # the checkpoint folder
        targets, intervals = meta.get("targets") or {}, meta["metrics"].get("intervals") or {}
        for metric, t in targets.items():
            said = "not measured" if t["measured"] is None else target_text(t, intervals.get(metric))
            con.print(f"  target {metric} {t['target']}: {said}", highlight=False)
        if not all(t["met"] for t in targets.values()):
            note = (
                "the targets are the recipe's aims for a competent creature model; an adapter tuned in the quickstart's "
                "minutes misses some (the README's table of held-out figures, under 'The creature base glade ships'), "
                "and the run goes on"
            )
            con.print(Padding(note, (0, 0, 0, 2), style="dim"))  # wrapped lines keep the indent

    return step


COUNTS = {"heldout_states": "held-out states", "fall_talk_states": "fall-talk probes"}  # the rates' n
SHOWN = (
    "train_loss",
    "eval_loss",
    "valid_json_rate",
    "valid_action_rate",
    "direction_agreement",
    "standin_agreement",
    "self_buy_rate",
    "fall_talk_sell_rate",
    "structured_valid_action_rate",
)


def metric_line(metrics: dict) -> str:
    def one(key: str) -> str:  # an agreement beside what an empty answer (a hold) scores on the same states
        hold = metrics.get(f"{key}_hold_baseline")
        return f"{key} {metrics[key]:.3f}" + (f" (a hold: {hold:.3f})" if isinstance(hold, (int, float)) else "")

    shown = ", ".join(one(k) for k in SHOWN if isinstance(metrics.get(k), (int, float)))
    counts = [f"{metrics[k]} {what}" for k, what in COUNTS.items() if isinstance(metrics.get(k), int)]
    return shown + (f" (n: {', '.join(counts)}; intervals in meta.json)" if counts else "")


def shipped_base(args: argparse.Namespace, con) -> None:
    """Say which base the adapters go on, and what it measured when it was made."""
    folder = checkpoint.shipped("tiny-base")
    meta = json.loads((folder / "meta.json").read_text(encoding="utf-8"))
    con.print(
        f"shipped:tiny-base ({folder}): trained {meta.get('created')} in {meta.get('wall_seconds', 0) / 60:.0f} min "
        f"({meta['metrics'].get('train_steps')} steps); held-out: " + metric_line(meta["metrics"]),
        soft_wrap=True,
        markup=False,  # the folder glade is installed in prints as written
    )
    con.print(f"[dim]rebuild it with `{glade_command()} quickstart --train-base` (see models/tiny-base/README.md)[/]")


def evaluate_councils(args: argparse.Namespace, con) -> None:
    from glade.cli.results_tables import print_results, run_lines
    from glade.eval.recipe import load_eval_recipe
    from glade.eval.run import run_recipe

    path = RECIPES / "eval" / "crash-gambit.yaml"
    overrides = [f"policies.base_model.path={trained_base(args)}"] if args.train_base else []
    recipe = load_eval_recipe(path, overrides + pinned_adapters(path, args))
    with progress_bar("eval", "world-turns") as bar:  # as glade eval's bar and its --dry-run plan count
        summary = run_recipe(recipe, on_total=bar.total, progress=bar.advance)
    print_results(con, recipe, summary)
    con.print(run_lines(summary, recipe.out), soft_wrap=True, markup=False)


def pinned_adapters(path: Path, args: argparse.Namespace) -> list[str]:
    """`policies.P.path=FOLDER` for each policy of the eval recipe at `path` that seats
    `latest:NAME` of an adapter the quickstart trains, where that names another run than the one
    its train step kept (FOLDER): left as it is otherwise."""
    pinned = []
    for policy, spec in yaml.safe_load(path.read_text(encoding="utf-8"))["policies"].items():
        given = spec.get("path", "") if isinstance(spec, dict) else ""
        name = given.removeprefix(LATEST)
        if given.startswith(LATEST) and name in ADAPTERS:
            folder = kept_checkpoint(name, args)
            if folder is not None and folder != checkpoint.latest(name):
                pinned.append(f"policies.{policy}.path={folder}")
    return pinned


def flag_and_report(args: argparse.Namespace, con) -> None:
    import pandas as pd

    from glade.eval.flags import flag, load_thresholds, write_flags
    from glade.eval.report import write_report
    from glade.eval.verdict_text import findings as verdict_findings

    results = RESULTS
    thresholds, seed = load_thresholds(results)
    decisions = pd.read_parquet(results / "decisions.parquet")
    episodes = pd.read_parquet(results / "episodes.parquet")
    flagging = flag(decisions, episodes, thresholds, seed)
    json_path, _ = write_flags(flagging, results, top=8)
    verdicts = json.loads((results / "summary.json").read_text(encoding="utf-8")).get("verdicts")
    findings(con, "What this evaluation says", verdict_findings(verdicts, flagging.families, flagging.method, top=5))
    con.print(f"flags, families and every tested cell in {json_path}")
    md, html = write_report(results)
    con.print(f"report: {html} (and {md})")


def lm_eval_creatures(args: argparse.Namespace, con) -> None:
    from glade.eval.harness import run_lm_eval, score_text
    from glade.eval.lm_docs import baseline_text

    for name in ("tiny-hoarder", "tiny-panic-seller"):
        with progress_bar(f"lm-eval {name}", "requests") as bar:  # on stderr, as the other steps' bars
            results = run_lm_eval(kept_checkpoint(name, args), limit=LM_EVAL_LIMIT, progress=bar)
        scores = "; ".join(f"{task}: {score_text(results, task, '.3f')}" for task in results["scores"])
        con.print(f"{name}: {scores}", soft_wrap=True)
        for task, found in results["baselines"].items():  # what an answer without judgement scores there
            con.print(f"  {task} {baseline_text(task, found, results['scores'].get(task))}", soft_wrap=True)


def export_creatures(args: argparse.Namespace, con) -> None:
    from glade.hub.export import export_checkpoint
    from glade.train.recipe import shipped_recipe

    out = Path(args.out) / "exports"
    owner = "glade-quickstart"
    # with --train-base, the tiny-base the base step kept (the adapters were trained on it)
    if args.train_base:
        base = kept_checkpoint("tiny-base", args) or checkpoint.latest("tiny-base")
    else:
        base = checkpoint.shipped("tiny-base")
    # the base sat in the crash-gambit's five_minds council (base_model) too: its card tells that seat
    done = [
        export_checkpoint(
            base, f"{owner}/tiny-base", out=out / "tiny-base", council=str(RESULTS), shipped_recipe=shipped_recipe(base)
        )
    ]
    folders = {name: kept_checkpoint(name, args) for name in ADAPTERS}
    for name, folder in folders.items():
        done.append(
            export_checkpoint(
                folder,
                f"{owner}/{name}",
                out=out / name,
                council=str(RESULTS),
                base_model=f"{owner}/tiny-base",
                shipped_recipe=shipped_recipe(folder),
            )
        )
    for folder in done:
        # under --out: the folder prints as written
        con.print(f"{folder}/: {', '.join(sorted(p.name for p in folder.iterdir()))}", soft_wrap=True, markup=False)
    # the folders these exports were made from: latest:NAME may name a later run (a smoke test's, say)
    glade, council = shlex.quote(glade_command()), shlex.quote(str(RESULTS))  # a shell command to copy
    hoarder = shlex.quote(str(folders["tiny-hoarder"] or f"{LATEST}tiny-hoarder"))
    given = shlex.quote(str(base) if args.train_base else "shipped:tiny-base")
    con.print(
        f"Hub-ready folders in {out}/ (not pushed; their cards and adapter configs name {owner}/...). To publish, "
        f"export again under your own repo ids, the base first: {glade} export {given} --repo-id YOU/tiny-base "
        f"--council {council} --push; then {glade} export {hoarder} --repo-id YOU/tiny-hoarder --base-model "
        f"YOU/tiny-base --council {council} --push",
        soft_wrap=True,
        markup=False,
        highlight=False,
    )
