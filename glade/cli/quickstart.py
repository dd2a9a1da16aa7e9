"""`glade quickstart`: the whole chain on the embedded tiny default, offline, on a CPU.

A list of named steps, printed as they run:

1. simulate the default Wood (seed 7, 30 turns) with its stand-in seats, write the trace;
2. play the crash gambit under each mechanism with stand-ins only (a first look);
3. generate stand-in traces of every disposition (recipes/generate/standin.yaml), more of
   the panic-seller's (panic-seller.yaml), and the held-out traces of other seeds that every
   training run is measured on (heldout.yaml);
4-7. LoRA-tune four creature adapters (hoarder, panic-seller, speculator, shrewd) on the
   shipped pretrained tiny base (models/tiny-base; `--train-base` first rebuilds it from
   recipes/generate/base.yaml and recipes/train/tiny-base.yaml, which takes far longer);
8. evaluate the crash-gambit councils (one model on every seat; five minds, one per
   creature; the all-stand-in world) and print Table 1 of the field notes beside them;
9. flag where the creature models and the stand-in part ways, print the three verdicts and the
   top flag families, and write the report;
10. score two creature adapters on glade's decision tasks with lm-eval;
11. export the base and the creature checkpoints as Hub-ready folders (OUT/exports/, no push).
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from glade import checkpoint
from glade.checkpoint import LATEST
from glade.cli import VerbHelp, epilog
from glade.console import console, findings, plain_table, progress_bar, scoreboard, summary_lines
from glade.env.scenario import RECIPES, load_scenario
from glade.episode_folder import write_episode
from glade.files import check_folder_path
from glade.rollout import run_episode

SEED = 7
LM_EVAL_LIMIT = 24  # held-out states per lm-eval task: enough to see, quick on a CPU
GAMBITS = ("gambit_rumour", "gambit_shock", "gambit_override")


@dataclass(frozen=True)
class Step:
    name: str
    what: str
    run: Callable[[argparse.Namespace, object], None]  # (args, console)


def simulate_default(args: argparse.Namespace, con) -> None:
    episode = run_episode("default", SEED, 30, full=False)
    out = write_episode(episode, Path(args.out) / "simulate")
    con.print(scoreboard(episode.scenario, episode.rows, con.width))
    con.print()
    for line in summary_lines(episode.scenario, episode.summary):
        con.print(line)
    con.print(f"wrote {out}/: trace.parquet ({len(episode.rows)} rows), summary.json", soft_wrap=True)
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
    table = plain_table(f"the crash gambit, seed {SEED}, legend sprung at turn {spring}")
    table.add_column("mechanism")
    table.add_column(f"{good} before turn {spring}", justify="right")
    table.add_column(f"{good} after settlement", justify="right")
    table.add_column("gambit P&L", justify="right")
    for r in rows:
        colour = "green" if r["gambit_pnl"] >= 0 else "red"
        table.add_row(r["mechanism"], f"{r['before']:.2f}", f"{r['after']:.2f}", f"[{colour}]{r['gambit_pnl']:+.2f}[/]")
    con.print(table)
    con.print()
    con.print(
        f"The patron shorts {good}, whispers a tip, springs the same legend through each mechanism "
        "and covers after settlement. A rumour or a shock only changes what the seats see or hold; "
        "the price is whatever they then trade at. The override writes the price at the "
        "settlement seam, after clearing, whatever the seats did."
    )
    for r in rows:
        if r["problems"]:
            raise RuntimeError(f"conservation check failed in {r['scenario']}")


def generate_traces(*names: str):
    def step(args: argparse.Namespace, con) -> None:
        from glade.traces import generate, load_generate_recipe

        for name in names:
            with progress_bar(f"generate {name}", "turns") as bar:  # bars on stderr, results on stdout
                summary = generate(
                    load_generate_recipe(RECIPES / "generate" / f"{name}.yaml"),
                    progress=lambda live: bar.advance(),
                    on_total=bar.total,
                )
            con.print(
                f"{summary['episodes']:,} episodes in {summary['out']} ({summary['decisions_now']:,} decisions played now)"
            )

    return step


def train_recipe(name: str):
    def step(args: argparse.Namespace, con) -> None:
        from glade.train.recipe import load_train_recipe
        from glade.train.sft import train

        path = RECIPES / "train" / f"{name}.yaml"
        overrides = [f"model.base={LATEST}tiny-base"] if args.train_base and name != "tiny-base" else []
        err = console(stderr=True)  # the bars (steps, eval loss, held-out passes) and the run's log
        with progress_bar(f"train {name}", "steps", err) as bar:
            out = train(  # a rerun continues an interrupted run, and keeps a finished one
                load_train_recipe(path, overrides),
                str(path),
                resume=True,
                log=lambda m: err.print(f"[dim]{m}[/]", soft_wrap=True),
                progress=bar,
            )
        meta = json.loads((out / "meta.json").read_text())
        con.print(f"{out}: " + metric_line(meta["metrics"]), soft_wrap=True)
        for metric, t in (meta.get("targets") or {}).items():
            verdict = "[green]met[/]" if t["met"] else "[red]not met[/]"
            con.print(f"  target {metric} {t['target']}: measured {_number(t['measured'])}, {verdict}")

    return step


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
    return ", ".join(f"{k} {metrics[k]:.3f}" for k in SHOWN if isinstance(metrics.get(k), (int, float)))


def _number(value) -> str:
    return f"{value:.3f}" if isinstance(value, (int, float)) else "-"


def shipped_base(args: argparse.Namespace, con) -> None:
    """Say which base the adapters go on, and what it measured when it was made."""
    folder = checkpoint.shipped("tiny-base")
    meta = json.loads((folder / "meta.json").read_text())
    con.print(
        f"{folder}: trained {meta.get('created')} in {meta.get('wall_seconds', 0) / 60:.0f} min "
        f"({meta['metrics'].get('train_steps')} steps); held-out: " + metric_line(meta["metrics"]),
        soft_wrap=True,
    )
    con.print("[dim]rebuild it with `glade quickstart --train-base` (see models/tiny-base/README.md)[/]")


def evaluate_councils(args: argparse.Namespace, con) -> None:
    from glade.cli.eval import print_results, run_lines
    from glade.eval.recipe import load_eval_recipe
    from glade.eval.run import run_recipe

    overrides = [f"policies.base_model.path={LATEST}tiny-base"] if args.train_base else []
    recipe = load_eval_recipe(RECIPES / "eval" / "crash-gambit.yaml", overrides)
    with progress_bar("eval", "turns") as bar:
        summary = run_recipe(recipe, on_total=bar.total, progress=lambda live: bar.advance())
    print_results(con, recipe, summary)
    con.print(run_lines(summary, recipe.out), soft_wrap=True, markup=False)


def flag_and_report(args: argparse.Namespace, con) -> None:
    import pandas as pd

    from glade.eval.flags import flag, load_thresholds, write_flags
    from glade.eval.report import write_report
    from glade.eval.verdict_text import findings as verdict_findings

    results = Path("runs/eval/crash-gambit")
    thresholds, seed = load_thresholds(results)
    decisions = pd.read_parquet(results / "decisions.parquet")
    episodes = pd.read_parquet(results / "episodes.parquet")
    flagging = flag(decisions, episodes, thresholds, seed)
    json_path, _ = write_flags(flagging, results, top=8)
    verdicts = json.loads((results / "summary.json").read_text()).get("verdicts")
    findings(con, "What this evaluation says", verdict_findings(verdicts, flagging.families, flagging.method, top=5))
    con.print(f"flags, families and every tested cell in {json_path}")
    md, html = write_report(results)
    con.print(f"report: {html} (and {md})")


def lm_eval_creatures(args: argparse.Namespace, con) -> None:
    from glade.eval.harness import run_lm_eval, score_text
    from glade.eval.lm_docs import baseline_text

    for name in ("tiny-hoarder", "tiny-panic-seller"):
        with progress_bar(f"lm-eval {name}", "requests") as bar:  # on stderr, as the other steps' bars
            results = run_lm_eval(checkpoint.latest(name), limit=LM_EVAL_LIMIT, progress=bar)
        scores = "; ".join(f"{task}: {score_text(results, task, '.3f')}" for task in results["scores"])
        con.print(f"{name}: {scores}", soft_wrap=True)
        for task, found in results["baselines"].items():  # what an answer without judgement scores there
            con.print(f"  {task} {baseline_text(task, found)}", soft_wrap=True)


def export_creatures(args: argparse.Namespace, con) -> None:
    from glade.hub.export import export_checkpoint
    from glade.train.recipe import shipped_recipe

    out = Path(args.out) / "exports"
    owner = "glade-quickstart"
    base = checkpoint.latest("tiny-base") if args.train_base else checkpoint.shipped("tiny-base")
    done = [export_checkpoint(base, f"{owner}/tiny-base", out=out / "tiny-base", shipped_recipe=shipped_recipe(base))]
    for name in ADAPTERS:
        done.append(
            export_checkpoint(
                checkpoint.latest(name),
                f"{owner}/{name}",
                out=out / name,
                council="runs/eval/crash-gambit",
                base_model=f"{owner}/tiny-base",
                shipped_recipe=shipped_recipe(checkpoint.latest(name)),
            )
        )
    for folder in done:
        con.print(f"{folder}/: {', '.join(sorted(p.name for p in folder.iterdir()))}", soft_wrap=True)
    con.print(
        f"Hub-ready folders in {out}/ (not pushed). To publish, re-run with your own repo ids and --push, e.g. "
        f"glade export CHECKPOINT --repo-id YOU/tiny-hoarder --base-model YOU/tiny-base --push, "
        f"or upload a folder as it is: hf upload YOU/tiny-hoarder {out / 'tiny-hoarder'} .",
        soft_wrap=True,
    )


ADAPTERS = ("tiny-hoarder", "tiny-panic-seller", "tiny-speculator", "tiny-shrewd")
STEPS = (
    Step("simulate", f"the default Wood, seed {SEED}, 30 turns, stand-in seats", simulate_default),
    Step("gambits", f"the crash gambit under rumour, shock and override, seed {SEED}", compare_gambits),
    Step(
        "generate",
        "stand-in traces of every disposition, and held-out traces of other seeds (recipes/generate/)",
        generate_traces("standin", "panic-seller", "heldout"),
    ),
    Step("base", "the shipped pretrained tiny base the creature adapters go on (models/tiny-base)", shipped_base),
    Step("train-hoarder", "a LoRA creature adapter on the hoarder's decisions", train_recipe("tiny-hoarder")),
    Step(
        "train-panic-seller",
        "a LoRA creature adapter on the panic-seller's decisions",
        train_recipe("tiny-panic-seller"),
    ),
    Step("train-speculator", "a LoRA creature adapter on the speculator's decisions", train_recipe("tiny-speculator")),
    Step(
        "train-shrewd",
        "a LoRA creature adapter on the best quarter of every stand-in's decisions by wealth gained",
        train_recipe("tiny-shrewd"),
    ),
    Step("eval", "one model, five minds and the all-stand-in world under the crash gambit; Table 1", evaluate_councils),
    Step("flag-report", "ranked disagreements and the report", flag_and_report),
    Step(
        "lm-eval",
        f"the creature adapters on glade's decision tasks in lm-eval ({LM_EVAL_LIMIT} states)",
        lm_eval_creatures,
    ),
    Step(
        "export", "the base and creature checkpoints as Hub-ready folders with model cards (no push)", export_creatures
    ),
)


TRAIN_BASE = (
    Step("generate-base", "stand-in traces for the base (recipes/generate/base.yaml)", generate_traces("base")),
    Step(
        "train-base",
        "the tiny base, built locally and trained in full (recipes/train/tiny-base.yaml)",
        train_recipe("tiny-base"),
    ),
)


WRITES = """\
what it writes, under the current folder (a rerun keeps finished work and goes on):
  OUT/simulate/             the default Wood's trace.parquet and summary.json
  runs/traces/NAME/         stand-in traces: standin, panic-seller, heldout
                            (and base with --train-base)
  checkpoints/NAME__0__TIME/
                            the adapters tiny-hoarder, tiny-panic-seller,
                            tiny-speculator, tiny-shrewd (and tiny-base with
                            --train-base); the first two's lm-eval scores in
                            their lm_eval/results.json
  runs/eval/crash-gambit/   the results, flags.json and flags.md, report.md and
                            report.html
  OUT/exports/NAME/         Hub-ready folders of the base and the adapters
--out moves only OUT/simulate and OUT/exports (default OUT: runs/quickstart); the recipes
fix the rest. Progress bars go to stderr, the steps and their results to stdout."""


def add_parser(subparsers, help: str) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "quickstart",
        help=help,
        description="Run the quickstart steps in order, printing each as it runs.",
        epilog=WRITES
        + "\n\n"
        + epilog(
            "0 every step done; 1 a step failed (its traceback says where; the conservation check, say); "
            "2 bad input (an --out that is a file, an --until not a step of this run); 130 interrupted "
            "(rerun to continue: finished work is kept).",
            ("glade quickstart", "glade quickstart --until simulate --out /tmp/qs"),
        ),
        formatter_class=VerbHelp,
    )
    p.add_argument(
        "--out",
        metavar="DIR",
        default="runs/quickstart",
        help="where the simulate and export steps write, OUT/simulate and OUT/exports (default: runs/quickstart); "
        "traces, checkpoints and the evaluation go where their recipes say: runs/traces, checkpoints, runs/eval",
    )
    p.add_argument(
        "--until",
        metavar="STEP",
        choices=[s.name for s in STEPS + TRAIN_BASE],
        help=f"stop after this step: {', '.join(s.name for s in STEPS)}; with --train-base also"
        f" {', '.join(s.name for s in TRAIN_BASE)}, which run first",
    )
    p.add_argument(
        "--train-base",
        action="store_true",
        help="rebuild the tiny base first (recipes/generate/base.yaml, then recipes/train/tiny-base.yaml: "
        "about 35 minutes on 2 CPU cores) and tune the adapters on it instead of the shipped one",
    )
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    check_folder_path(Path(args.out))  # before any step: a file in the way fails now, not after training
    con = console()  # the steps and their results; the bars go to stderr
    started = time.perf_counter()
    steps = list(STEPS)
    if args.train_base:
        at = [s.name for s in steps].index("base")
        steps[at : at + 1] = TRAIN_BASE
    if args.until:
        names = [s.name for s in steps]
        if args.until not in names:
            raise ValueError(f"--until {args.until}: not a step of this run (steps: {', '.join(names)})")
        steps = steps[: names.index(args.until) + 1]
    for i, step in enumerate(steps, 1):
        con.rule(f"[bold]step {i}/{len(steps)}: {step.name}[/] - {step.what}", align="left")
        t0 = time.perf_counter()
        try:
            step.run(args, con)
        except KeyboardInterrupt:
            raise KeyboardInterrupt("rerun glade quickstart to continue: finished work is kept") from None
        con.print(f"[dim]{step.name} done in {time.perf_counter() - t0:.1f} s[/]")
        con.print()
    con.print(f"quickstart finished in {time.perf_counter() - started:.1f} s")
    return 0
