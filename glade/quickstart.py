"""`glade quickstart`: a short tour that runs end to end on this machine, offline.

It is a list of named steps, printed as they run. For now:

1. simulate the default Wood (seed 7, 30 turns) with its stand-in seats, write the trace;
2. play the crash gambit under each mechanism (rumour, shock, override; seed 7) and
   compare the honey price around the spring turn and the gambit's P&L.

The full chain (generate a traces dataset, train the tiny default creature model, seat
it in a council and evaluate it) joins this list as those verbs land.
"""

from __future__ import annotations

import argparse
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from glade.env.scenario import load_scenario
from glade.simulate import console, plain_table, run_episode, scoreboard, summary_lines, write

SEED = 7
GAMBITS = ("gambit_rumour", "gambit_shock", "gambit_override")


@dataclass(frozen=True)
class Step:
    name: str
    what: str
    run: Callable[[argparse.Namespace, object], None]  # (args, console)


def simulate_default(args: argparse.Namespace, con) -> None:
    episode = run_episode("default", SEED, 30)
    out = write(episode, Path(args.out) / "simulate")
    con.print(scoreboard(episode, con.width))
    con.print()
    for line in summary_lines(episode):
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
        episode = run_episode(scenario, SEED)
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


STEPS = (
    Step("simulate", f"the default Wood, seed {SEED}, 30 turns, stand-in seats", simulate_default),
    Step("gambits", f"the crash gambit under rumour, shock and override, seed {SEED}", compare_gambits),
)


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "quickstart",
        help="a short offline tour: the Wood and the crash gambit",
        description="Run the quickstart steps in order, printing each as it runs.",
    )
    p.add_argument("--out", metavar="DIR", default="runs/quickstart", help="where steps write (default: runs/quickstart)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    con = console()
    started = time.perf_counter()
    for i, step in enumerate(STEPS, 1):
        con.rule(f"[bold]step {i}/{len(STEPS)}: {step.name}[/] - {step.what}", align="left")
        t0 = time.perf_counter()
        step.run(args, con)
        con.print(f"[dim]{step.name} done in {time.perf_counter() - t0:.1f} s[/]")
        con.print()
    con.print(f"quickstart finished in {time.perf_counter() - started:.1f} s")
    return 0
