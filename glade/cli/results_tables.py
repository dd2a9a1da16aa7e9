"""What an eval run prints, shared by `glade eval` and the quickstart's eval step: the outcome
table (for worlds without a legend, the outcome figures that apply there), each live seat's valid-action rate, Table 1 of the field notes beside glade's measured
rows, and the run's closing lines. A helper of the CLI, not a verb: it reads glade.eval, which
sits above glade.console_tables."""

from __future__ import annotations

from pathlib import Path

from glade.console import with_ci
from glade.console_tables import plain_table
from glade.eval.thresholds import DEFAULTS, Thresholds
from glade.words import level_percent


def run_lines(summary: dict, out) -> str:
    """What this run played and in what time, then the results' totals. A resumed run's timing
    and cost are its own part's; a rerun with nothing to play keeps the last playing run's
    (glade.eval.run.write_results)."""
    timing, cost, worlds = summary["timing"], summary["cost"], summary["worlds"]
    totals = f"{worlds:,} worlds, {summary['decisions']:,} live decisions in all; results in {out}"
    if not cost:  # a rerun with nothing to play, and no summary of the runs before it that fits (glade.eval.run)
        return (
            "nothing left to play: every episode was finished; the runs that played them left no summary of what "
            "that cost (interrupted before writing one, or it was damaged or replaced since, or it summed up a run "
            f"of more worlds: a recipe that played more of this folder), so no timing or cost to show\n{totals}"
        )
    played_now = 0 if cost.get("kept") else cost["episodes"]
    took = wall_text(cost, timing)
    if played_now == 0:
        if cost["episodes"] < worlds:
            kept = f"timing and cost are those of the run that played the last {cost['episodes']:,} of them: {took}"
        else:
            kept = f"timing and cost are those of the run that played them: {took}"
        return f"nothing left to play: every episode was finished; {kept}\n{totals}"
    if played_now < worlds:
        return (
            f"this run played {played_now:,} of the {worlds:,} worlds; its timing and cost are those: {took}\n{totals}"
        )
    return f"{worlds:,} worlds, {summary['decisions']:,} live decisions; {took}; results in {out}"


def wall_text(cost: dict, timing: dict) -> str:
    """Where the wall time went: `5.1 s wall: 3.2 s outside play (loading the seats, writing the
    shards), 1.8 s play (99.0% of it in the models)`. On Ray the play is summed over the tasks
    (which also wait on the seat servers), so it is no part of the wall time and is not taken from it."""
    wall, play = cost["wall_seconds"], timing["seconds"]
    # the cost line's share where the summary has it, so the two lines print the same figure
    share = cost["model_share"] if "model_share" in cost else 1 - timing["outside_model_share"]
    inside = f"{share:.1%} of it in the models" if play > 0 else "none of it in a model"
    if cost.get("cluster"):
        return f"{wall:,.1f} s wall; the tasks' play {play:,.1f} s, summed over the tasks ({inside})"
    if play > wall:  # not one process's play (a summary written otherwise): not split
        return f"{wall:,.1f} s wall, {play:,.1f} s play ({inside})"
    return (
        f"{wall:,.1f} s wall: {wall - play:,.1f} s outside play (loading the seats, writing the shards), "
        f"{play:,.1f} s play ({inside})"
    )


def self_buy_line(seats: list[dict]) -> str | None:
    """The seats that bid for a good their creature makes (no stand-in does), with the rate over
    seeds, beneath the seat table (a column of its own would squeeze the table's intervals); None
    for rows that record no self-buys."""
    recorded = [row for row in seats if "self_buy" in row]
    if not recorded:
        return None
    some = [row for row in recorded if row["self_buy"]["mean"] > 0]
    said = ", ".join(
        f"{row['council']}/{row['policy']} "
        + with_ci(row["self_buy"]["mean"], row["self_buy"]["ci"], ".3f", row["self_buy"].get("note"))
        for row in some
    )
    if not some:
        said = "none by any live seat"
    elif len(some) < len(recorded):
        said += "; none by the others"
    return (
        f"self-buys (the share of a seat's decisions bidding for a good its creature makes; no stand-in does): {said}"
    )


def table_one_of(results, thresholds: Thresholds = DEFAULTS) -> list[dict]:
    """Table 1's rows (eval.field_notes.table_one) of a results folder; [] when it holds no gambit."""
    from glade.eval.faults import without_faults
    from glade.eval.field_notes import table_one
    from glade.eval.results_folder import read_recipe, read_table

    # the worlds with seat faults are left out, as in the summary's table and the report's Table 1
    _, episodes, _ = without_faults(None, read_table(Path(results) / "episodes.parquet"))
    return table_one(episodes, thresholds, read_recipe(Path(results)))


def print_table_one(con, rows: list[dict]) -> None:
    """The field notes' Table 1 beside glade's measured rows (nothing when `rows` is empty)."""
    from glade.eval.field_notes import FIELD_NOTES, legend_goods, table_one_cells

    if not rows:
        return
    header, cells = table_one_cells(rows)
    level = level_percent(rows[0]["level"])
    goods = legend_goods(rows)  # the notes' honey, or the run's own gambit's good
    good = goods[0] if len(goods) == 1 else f"the legend good ({', '.join(goods)})"
    # printed on their own, not as tables' titles: as a title, rich drops a character where a
    # word wraps when the table fills the whole width
    con.print(
        "Table 1 of the field notes (the write-up of agent markets on small models that glade's three lessons come from: "
        f"its crash-gambit table, in its own words) and glade's measured row for each world: {good} at settlement over the turn before (legend_ratio) and "
        f"gambit P&L (mean over seeds [{level} interval]), crash rate (seeds that crashed [{level} exact CI]; where a "
        f"seed's casts disagree, the mean of each seed's share of its casts [{level} Korn-Graubard interval])",
        highlight=False,
    )
    # two tables, so that no column is squeezed: the notes' words beside the numbers folded
    # both mid-word, and cut the n column at 80 columns
    noted = [row for row in cells if any(cell != "—" for cell in row[2:5])]
    notes = _unbroken_table(
        [header[i].removeprefix("field notes: ") for i in range(5)], [r[:5] for r in noted], con.width
    )
    columns = (0, 1, 5, 6, 7, 8)
    measured = _unbroken_table(
        [header[i].removeprefix("glade: ").split(" [")[0].removeprefix("n (").removesuffix(")") for i in columns],
        [[row[i] for i in columns] for row in cells],
        con.width,
        figures=(2, 3, 4, 5),
    )
    if noted:
        con.print("the field notes:", highlight=False)
        con.print(notes)
    else:  # an empty table under its header read as a table that failed to print
        worlds = ", ".join(sorted({f"{world} under {mech}" for world, mech in FIELD_NOTES}))
        con.print(f"the field notes: no row for these worlds (theirs: {worlds})", highlight=False)
    con.print("glade, measured:", highlight=False)
    con.print(measured)


def _unbroken_table(header: list[str], rows: list[list[str]], width: int, figures: tuple[int, ...] = ()):
    """A table whose cells wrap at spaces only (rich folds a word mid-way, `settlemen t`, when it
    squeezes a column below it, and it squeezes every column alike), and whose `figures` columns
    keep each number with its interval on one line (the words of a note after it may wrap) where
    the width allows."""
    from rich.markup import escape

    words = [
        max(len(w) for text in [column, *(r[i] for r in rows)] for w in text.split()) for i, column in enumerate(header)
    ]
    whole = [
        max([words[i], *(len(line.split(" (", 1)[0]) for r in rows for line in r[i].splitlines())])
        if i in figures
        else words[i]
        for i in range(len(header))
    ]
    fits = sum(whole) + 2 * (len(header) - 1) <= width  # two spaces between columns
    table = plain_table(None)
    if not fits:  # squeezed, rich lays the table out 2 columns wider than it draws it (the undrawn edges)
        table.width = width - 2
    for i, column in enumerate(header):
        table.add_column(column, overflow="fold", min_width=whole[i] if fits else words[i])
    for row in rows:
        table.add_row(*map(escape, row))  # after the widths: recipe names, and `a[/]` is no markup
    return table


def print_results(con, recipe, summary: dict) -> None:
    """The outcome table, each live seat's valid-action rate and, for a gambit, Table 1 of the
    field notes (in place of the outcome table when it holds every row of it): what `glade eval`
    and the quickstart's eval step print."""
    from rich.markup import escape  # names from a recipe print as written: `model[v2]` is not markup
    from rich.table import Table

    from glade.eval.figures import LEGEND_RATIO_HEADING
    from glade.eval.outcome_effects import effect_cells, effect_rows, effects_caption

    level = level_percent(recipe.thresholds.ci_level)
    table_one = table_one_of(recipe.out, recipe.thresholds)
    shown = {(scenario, row["world"]) for row in table_one for scenario in row["scenarios"]}
    effects = effect_rows(summary.get("outcome") or [])
    # a run of worlds without a legend shows the figures that apply there, not a table of '-'
    legends = not effects or any(row.get("legend_good") for row in summary.get("table", []))
    if legends and (
        not table_one or any((row["scenario"], row["world"]) not in shown for row in summary.get("table", []))
    ):
        table = Table(
            title=f"{escape(recipe.name)}: legend good at settlement and gambit P&L "
            f"(mean over seeds, casts averaged [{level} CI])"
        )
        table.add_column("scenario", overflow="fold")  # whole: two files' paths cut to one start were alike
        for column in ("world", LEGEND_RATIO_HEADING, "gambit P&L", "seeds"):
            table.add_column(column)
        for row in summary.get("table", []):
            table.add_row(
                escape(str(row["scenario"])),
                escape(str(row["world"])),
                with_ci(row.get("legend_ratio"), row.get("legend_ratio_ci"), ".3f", row.get("legend_ratio_note")),
                with_ci(row.get("gambit_pnl"), row.get("gambit_pnl_ci"), "+.2f", row.get("gambit_pnl_note")),
                str(row["n"]),
            )
        con.print(table)  # else Table 1, printed last, holds every row of it
    if effects:
        scenarios = list(dict.fromkeys(str(row["scenario"]) for row in effects))
        con.print(effects_caption(scenarios, not legends, level), highlight=False, markup=False)
        header, cells = effect_cells(effects, missing="-")
        for scenario in scenarios:  # a table each, its scenario above it: a column of paths squeezed the figures
            con.print(f"{scenario}:", highlight=False, markup=False)
            mine = [row[1:] for row in cells if row[0] == scenario]
            con.print(_unbroken_table(header[1:], mine, con.width, figures=(2, 3)))
    excluded = summary.get("excluded") or {}
    if excluded.get("fault_worlds"):  # said before the tables are read as whole; the faults are shown at the end
        shown = {str(row["world"]) for row in summary.get("table", [])}
        gone = [name for name in recipe.councils if name not in shown]
        con.print(
            f"[yellow]left out[/]: {excluded['fault_worlds']:,} council worlds with seat faults "
            f"({excluded.get('fault_rows', 0):,} decisions)"
            + (
                f"; council{'s' if len(gone) > 1 else ''} {', '.join(map(escape, gone))} lost every world, so "
                f"{'they have' if len(gone) > 1 else 'it has'} no row in the tables"
                if gone
                else ""
            )
            + " (see 'seat faults' below)",
            soft_wrap=True,
        )
    rows = [
        [
            row["council"],  # _unbroken_table escapes every cell
            row["policy"],
            with_ci(row["valid_action"]["mean"], row["valid_action"]["ci"], ".3f", row["valid_action"].get("note")),
            "\n".join(f"{k} {v}" for k, v in row["errors"].items()) or "-",  # one a line: none folds
            str(row["valid_action"]["n"]),
            str(row["decisions"]),
        ]
        for row in summary.get("seats", [])
    ]
    header = ["council", "policy", "valid actions", "top errors", "seeds", "decisions"]
    seats = _unbroken_table(header, rows, con.width, figures=(2, 3))
    if summary.get("seats"):
        con.print(  # the title on its own line: as a table's title rich centres it on two lines
            f"valid-action rate per live seat: answers the parser took with no named error, mean over seeds "
            f"[{level} CI]; a decision twin worlds made alike (the same prompt and answer) counted once",
            highlight=False,
        )
        con.print(seats)
        if line := self_buy_line(summary["seats"]):
            con.print(line, highlight=False, markup=False)  # it names councils and policies
        con.print(
            "[dim]Live states come from the council's own play, where each model meets its own earlier trades; a "
            "checkpoint's held-out figures come from states of stand-in play, so the two rates can differ.[/]"
        )
    else:
        con.print("valid-action rate per live seat: no live decision outside the worlds left out", soft_wrap=True)
    print_table_one(con, table_one)
