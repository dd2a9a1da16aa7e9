"""The episode tables of `glade simulate` (and the quickstart's simulate step): the per-turn
table, the scoreboard, the lines under it (answers with named errors, the summary), and the
plain tables every verb draws; beside glade.console, the rest of glade's terminal output."""

from __future__ import annotations

import json
from collections import Counter
from typing import Any

from glade.env.scenario import Scenario
from glade.env.scenario_check import schedule_notes

UP, DOWN, FLAT = "↑", "↓", "·"


def _short_event(text: str) -> str:
    head = text.split(":", 1)[0] if ":" in text[:40] else text
    return head if len(head) <= 80 else head[:79] + "…"


def plain_table(title: str):
    """A plain table: a rule under the header, two spaces between columns, no frame."""
    from rich import box
    from rich.table import Table

    return Table(
        title=title, box=box.SIMPLE_HEAD, title_justify="left", caption_justify="left", pad_edge=False,
        padding=(0, 1, 0, 0), show_edge=False,
    )  # fmt: skip


def print_table(con, title: str, header: list[str], rows: list[list[str]], lines: list[str] = ()) -> None:
    """A table (first column left, the rest right-aligned), then whole lines under it; all plain
    text, never markup: they name recipes, seats and folders (`seat[/]` prints as written)."""
    from rich.markup import escape

    table = plain_table(escape(title))
    for i, column in enumerate(header):
        table.add_column(column, justify="left" if i == 0 else "right", overflow="fold")
    for row in rows:
        table.add_row(*map(escape, row))
    con.print(table)
    for line in lines:
        con.print(line, soft_wrap=True, markup=False)


def turn_table(s: Scenario, seed: int, history: list[dict]):
    """Reference prices after each turn (with their direction), trades, volume, events."""
    from rich.markup import escape  # the scenario's names print as written: `honey[v2]` is no markup
    from rich.text import Text

    goods = list(s.goods)
    title = f"{escape(s.name)}, seed {seed}: reference prices after each turn"
    table = plain_table(title)
    table.add_column("turn", justify="right")
    for g in goods:
        table.add_column(escape(g), justify="right", no_wrap=True)
    table.add_column("trades", justify="right")
    table.add_column("volume", justify="right")
    table.add_column("events", overflow="fold")
    previous = {g: s.goods[g].price for g in goods}
    gambit = s.gambit
    pnl_before = 0.0
    settled = 0  # the turn before's seam writes: the Wood opens this turn's news with one line for each
    for row in history:
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
        # read from the writes themselves, not from their news: shown once, on the turn they were written
        events = [e for e in (_short_event(x) for x in row["events"][settled:]) if e]
        events += [f"seam {w['good']} {w['before']:.2f}→{w['after']:.2f}" for w in row["seam_writes"]]
        settled = len(row["seam_writes"])
        if gambit is not None and row["turn"] == gambit.open_turn:
            events.append(f"patron {'shorts' if gambit.size > 0 else 'buys'} {abs(gambit.size)} {gambit.good}")
        if row["gambit_pnl"] != pnl_before:
            events.append(f"gambit covered {row['gambit_pnl'] - pnl_before:+z.2f}")
            pnl_before = row["gambit_pnl"]
        cells += [str(row["trades"]), str(sum(row["volume"].values())), Text("; ".join(events), style="yellow")]
        table.add_row(*cells)
    return table


def scoreboard(s: Scenario, rows: list[dict], width: int = 100):
    """Per creature: seat, pebbles, wealth, mood (after the last turn) and the episode's buys, sells, self-buys and
    rejected orders. Below 94 columns the species column goes and stand-ins show their disposition: it fits 80."""
    from rich.markup import escape  # creature, species and seat names print as written: `model[v2]` is no markup

    compact = width < 94
    per = {c: {"buy": 0, "sell": 0, "self_buys": 0, "rejected": 0} for c in s.creatures}
    last: dict[str, dict] = {}
    for r in rows:
        tally = per[r["creature"]]
        for fill in json.loads(r["fills"]):  # the creature's side of a trade: its buy or its sell
            tally[fill["side"]] += 1
        tally["self_buys"] += r["self_buy"]
        tally["rejected"] += sum(1 for n in json.loads(r["rejected"]) if n.get("outcome") == "rejected")
        last[r["creature"]] = r
    table = plain_table(f"scoreboard after turn {s.turns - 1} (the last of {s.turns}; turns count from 0)")
    table.caption = "wealth: pebbles + goods at reference prices; mood: 0 miserable, 1 content; each trade is one creature's buy and another's sell, so the buys (and the sells) sum to the trades below"
    columns = ["creature", "species", "seat", "pebbles", "wealth", "mood", "buys", "sells", "self-buys", "rejected"]
    if compact:
        columns.remove("species")
    for name in columns:
        left = name in ("creature", "species", "seat")
        table.add_column(name, justify="left" if left else "right", overflow="fold" if name == "seat" else "ellipsis")
    for cid, creature in s.creatures.items():
        r, t = last[cid], per[cid]
        seat = r["seat"].removeprefix("standin:") if compact else r["seat"]
        cells = [creature.name, creature.species, seat, f"{r['pebbles']:.2f}", f"{r['wealth_after']:.2f}",
                 f"{r['mood']:.2f}", str(t["buy"]), str(t["sell"]), str(t["self_buys"]), str(t["rejected"])]  # fmt: skip
        if compact:
            del cells[1]
        table.add_row(*map(escape, cells))
    return table


def answer_errors(s: Scenario, rows: list[dict], errors: dict[str, Counter]) -> list[str]:
    """A markup line under the scoreboard per creature whose answers carried a named error
    (`errors`: glade.faults.parse_errors of the rows, each row's `error`, the first name), with
    every other name the parser gave the answer in its `rejected` (`"by": "parser"`, rejected or
    ignored: a second refused order's reason, thought_not_text, unknown_key), one count per name
    per answer, the most frequent first: the scoreboard's `rejected` counts refused orders only,
    so a seat whose every answer was unusable, and so played as a hold, would read as a quiet
    one. Seat faults are left to show_faults."""
    from rich.markup import escape  # a seat named `model[v2]` is not markup

    answers: Counter = Counter(r["creature"] for r in rows)
    seats = {r["creature"]: r["seat"] for r in rows}
    named: dict[str, Counter] = {}  # creature -> name -> answers that carried it
    flagged: Counter = Counter()  # creature -> answers with at least one name
    counted = {c: Counter(e) for c, e in errors.items()}  # each row's error, taken once as it is met
    for r in rows:
        c, error = r["creature"], r.get("error")
        names = set(_parser_names(r.get("rejected")))
        if counted.get(c, {}).get(error, 0) > 0:
            counted[c][error] -= 1
            names.add(error)
        if names:
            flagged[c] += 1
            named.setdefault(c, Counter()).update(names)
    lines = []
    for cid, creature in s.creatures.items():
        if cid in named:
            kinds = ", ".join(f"{k} {v}" for k, v in sorted(named[cid].items(), key=lambda kv: (-kv[1], kv[0])))
            lines.append(
                f"[yellow]invalid answers[/]: {escape(creature.name)} ({escape(seats[cid])}): {flagged[cid]} of "
                f"{answers[cid]} answers had a named error (what could not be used was dropped): {escape(kinds)}"
            )
    return lines


def _parser_names(rejected) -> list[str]:
    """The names the parser gave one answer in its row's `rejected` (a JSON list, or a table's
    missing value): notes marked "by": "parser" whose outcome is rejected or ignored."""
    if not isinstance(rejected, str) or not rejected or rejected == "[]":
        return []
    try:
        notes = json.loads(rejected)
    except ValueError:
        return []
    return [
        n["reason"]
        for n in notes
        if isinstance(n, dict)
        and n.get("by") == "parser"
        and n.get("outcome") in ("rejected", "ignored")
        and isinstance(n.get("reason"), str)
    ]


def summary_lines(s: Scenario, sm: dict) -> list[str]:
    """Gini, the gambit's P&L, the scenario hash and the conservation check, as markup lines
    (the scenario's own names escaped in them)."""
    from rich.markup import escape

    lines = [f"Gini of wealth [bold]{sm['gini']:.3f}[/]   trades {sm['trades']}   volume {sm['volume']}"]
    if sm["gambit_pnl"] is not None:
        g = s.gambit
        colour = "green" if round(sm["gambit_pnl"], 2) >= 0 else "red"  # as it reads: -0.001 is +0.00
        lines.append(
            f"gambit P&L [bold {colour}]{sm['gambit_pnl']:+z.2f}[/] ({escape(g.legend)} by {escape(g.mechanism)}, "
            f"turn {g.spring_turn}); patron holds {sm['patron_pebbles']:.2f}"
        )
    # a plan the run cut short: say so, lest +0.00 or a calm market read as a result
    for note in schedule_notes(s, sm["turns"]):
        lines.append(f"[yellow]{escape(note)}[/]")
    lines.append(
        f"scenario {escape(sm['scenario'])}  hash {sm['scenario_hash']}  seed {sm['seed']}  turns {sm['turns']}"
    )
    problems = sm["conservation_problems"]
    if problems:
        lines.append(f"[bold red]conservation: {len(problems)} problem(s)[/]: " + escape("; ".join(problems[:3])))
    else:
        lines.append("conservation: [green]ok[/] (holdings = opening + journal, transfers net to 0)")
    return lines
