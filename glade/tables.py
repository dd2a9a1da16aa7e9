"""What the terminal shows: rich consoles and tables for episodes and runs (100 columns off a TTY)."""

from __future__ import annotations

import json
import os
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:  # only for annotations; simulate imports this module
    from glade.simulate import Episode

UP, DOWN, FLAT = "↑", "↓", "·"


def console(stderr: bool = False):
    """A rich Console; off a terminal (CI, a pipe) it lays out at 100 columns, not 80."""
    from rich.console import Console

    c = Console(stderr=stderr)
    if not c.is_terminal and "COLUMNS" not in os.environ:
        c = Console(stderr=stderr, width=100)
    return c


def _short_event(text: str) -> str:
    if text.startswith("seam: "):  # "seam: run_on_oonas_hoard: honey 6.56 -> 3.28"
        return "seam " + text.rsplit(": ", 1)[-1].replace(" -> ", "→")
    if text.startswith("At settlement the "):
        return ""  # the seam write, repeated as news the turn after
    head = text.split(":", 1)[0] if ":" in text[:40] else text
    return head if len(head) <= 80 else head[:79] + "…"


def plain_table(title: str):
    """A plain table: a rule under the header, two spaces between columns, no frame."""
    from rich import box
    from rich.table import Table

    return Table(title=title, box=box.SIMPLE_HEAD, title_justify="left", pad_edge=False, padding=(0, 1, 0, 0), show_edge=False)


def turn_table(episode: Episode):
    from rich.text import Text

    s, goods = episode.scenario, list(episode.scenario.goods)
    title = f"{s.name}, seed {episode.seed}: reference prices after each turn"
    table = plain_table(title)
    table.add_column("turn", justify="right")
    for g in goods:
        table.add_column(g, justify="right", no_wrap=True)
    table.add_column("trades", justify="right")
    table.add_column("volume", justify="right")
    table.add_column("events", overflow="fold")
    previous = {g: s.goods[g].price for g in goods}
    gambit = s.gambit
    pnl_before = 0.0
    for row in episode.history:
        cells: list[Any] = [str(row["turn"])]
        for g in goods:
            p = row["prices"][g]
            if p > previous[g] + 5e-3:
                cells.append(Text(f"{p:.2f}") + Text(UP, style="green"))
            elif p < previous[g] - 5e-3:
                cells.append(Text(f"{p:.2f}") + Text(DOWN, style="red"))
            else:
                cells.append(Text(f"{p:.2f}") + Text(FLAT, style="dim"))
            previous[g] = p
        events = [e for e in (_short_event(x) for x in row["events"]) if e]
        events += [_short_event(f"seam: {x}") for x in row["seam"]]
        if gambit is not None and row["turn"] == gambit.open_turn:
            events.append(f"patron {'shorts' if gambit.size > 0 else 'buys'} {abs(gambit.size)} {gambit.good}")
        if row["gambit_pnl"] != pnl_before:
            events.append(f"gambit covered {row['gambit_pnl'] - pnl_before:+.2f}")
            pnl_before = row["gambit_pnl"]
        cells += [str(row["trades"]), str(sum(row["volume"].values())), Text("; ".join(events), style="yellow")]
        table.add_row(*cells)
    return table


def scoreboard(episode: Episode, width: int = 100):
    """Per creature: seat, pebbles, wealth, mood (after the last turn) and the episode's
    trades, self-buys and rejected orders. Below 94 columns the species column goes and
    stand-in seats show their disposition only, so the table fits 80 columns."""
    s = episode.scenario
    compact = width < 94
    per: dict[str, dict[str, int]] = {c: {"trades": 0, "self_buys": 0, "rejected": 0} for c in s.creatures}
    last: dict[str, dict] = {}
    for r in episode.rows:
        tally = per[r["creature"]]
        tally["trades"] += len(json.loads(r["fills"]))
        tally["self_buys"] += r["self_buy"]
        tally["rejected"] += sum(1 for n in json.loads(r["notes"]) if n.get("outcome") == "rejected")
        last[r["creature"]] = r
    table = plain_table(f"scoreboard after turn {s.turns - 1}")
    columns = ["creature", "species", "seat", "pebbles", "wealth", "mood", "trades", "self-buys", "rejected"]
    if compact:
        columns.remove("species")
    for name in columns:
        left = name in ("creature", "species", "seat")
        table.add_column(name, justify="left" if left else "right", overflow="fold" if name == "seat" else "ellipsis")
    for cid, creature in s.creatures.items():
        r, t = last[cid], per[cid]
        seat = r["seat"].removeprefix("standin:") if compact else r["seat"]
        cells = [creature.name, creature.species, seat, f"{r['pebbles']:.2f}", f"{r['wealth']:.2f}",
                 f"{r['mood']:.2f}", str(t["trades"]), str(t["self_buys"]), str(t["rejected"])]  # fmt: skip
        if compact:
            del cells[1]
        table.add_row(*cells)
    return table


def summary_lines(episode: Episode) -> list[str]:
    """Gini, the gambit's P&L, the scenario hash and the conservation check, as markup lines."""
    sm = episode.summary
    lines = [f"Gini of wealth [bold]{sm['gini']:.3f}[/]   trades {sm['trades']}   volume {sm['volume']}"]
    if sm["gambit_pnl"] is not None:
        g = episode.scenario.gambit
        colour = "green" if sm["gambit_pnl"] >= 0 else "red"
        lines.append(
            f"gambit P&L [bold {colour}]{sm['gambit_pnl']:+.2f}[/] ({g.legend} by {g.mechanism}, "
            f"turn {g.spring_turn}); patron holds {sm['patron_pebbles']:.2f}"
        )
    lines.append(f"scenario {sm['scenario']}  hash {sm['scenario_hash']}  seed {sm['seed']}  turns {sm['turns']}")
    problems = sm["conservation_problems"]
    if problems:
        lines.append(f"[bold red]conservation: {len(problems)} problem(s)[/]: " + "; ".join(problems[:3]))
    else:
        lines.append("conservation: [green]ok[/] (holdings = opening + journal, transfers net to 0)")
    return lines


def show(episode: Episode, out=None, turns_table: bool = True) -> None:
    out = out or console()
    if turns_table:
        out.print(turn_table(episode))
        out.print()
    out.print(scoreboard(episode, out.width))
    out.print()
    for line in summary_lines(episode):
        out.print(line)


# ---------------------------------------------------------------------------- the verb
