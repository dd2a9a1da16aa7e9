"""The report's leaderboard section: the Bradley-Terry board `glade rank` wrote into the results
folder (rank.json), and the table and caption `glade rank` prints. No rank.json, no section."""

from __future__ import annotations

import html
import json
from pathlib import Path

from glade.eval.rank import BOARD_KEYS
from glade.files import json_with_keys

from .markup import Section, html_table, md_table

RANK_FILE = "rank.json"


def rank_sections(page) -> list[Section]:
    path = Path(page.r.folder) / RANK_FILE
    if not path.exists():
        return []
    text = path.read_text()
    if not json_with_keys(BOARD_KEYS)(text):
        raise ValueError(f"{path}: not a leaderboard glade rank wrote; rerun `glade rank {page.r.folder}` or remove it")
    board = json.loads(text)
    about = board_about(board)
    header, rows = board_table(board)
    return [
        Section(
            "leaderboard",
            "Leaderboard",
            [about, ""] + md_table(header, rows),
            [f'<p class="caption">{html.escape(about)}</p>', html_table(header, rows, {0, 3, 5})],
        )
    ]


def board_about(board: dict) -> str:
    level = f"{board['level']:.0%}"
    what = (
        "wealth change of the seat, against every other policy on the same creature, scenario and seed"
        if board["outcome"] == "seat"
        else "the council's focal wealth change minus the all-stand-in world's, on the same scenario and seed"
    )
    faulted = board.get("excluded", {}).get("fault_worlds", 0)  # boards written before faults were left out lack it
    left_out = (
        f" Left out: the {faulted} world(s) in which a seat failed to answer (seat faults: held turns, not play)."
        if faulted
        else ""
    )
    fit = board["method"].split(";")[0].removeprefix("Bradley-Terry, ")  # the rest is said here already
    intervals = (
        f"no interval: {board['note']}"
        if board.get("note")  # boards written before glade kept the floor lack it
        else f"{level} expanded percentile bootstrap over {board['seeds']} seeds, each with all its units "
        f"({board['resamples']} refits), for the strength and the rank"
        if "seeds" in board  # boards written before seeds were resampled: over the units
        else f"{level} percentile bootstrap over those units ({board['resamples']} refits) for the strength and the rank"
    )
    return (
        f"Bradley-Terry strengths (log-odds, mean 0) from {board['comparisons']:g} paired comparisons of {what}, "
        f"over {board['units']} (scenario, seed) units from {', '.join(board['results'])}; {intervals}. "
        f"Fit: {fit}.{left_out}"
    )


def board_table(board: dict) -> tuple[list[str], list[list[str]]]:
    level = f"{board['level']:.0%}"
    entry = "council" if board.get("outcome") == "team" else "policy"  # a team board ranks councils
    header = ["rank", entry, "recipe names", "strength", f"{level} CI", "rank range", "wins / comparisons"]
    rows = []
    for row in board["board"]:
        low, high = row["ci"] or (None, None)  # none below MIN_N units (board["note"])
        rank_low, rank_high = row["rank_ci"] or (row["rank"], row["rank"])
        rows.append(
            [
                str(row["rank"]),
                row["entry"],
                ", ".join(row["names"]) or "-",
                f"{row['strength']:+.2f}",
                f"[{low:+.2f}, {high:+.2f}]" if row["ci"] else "—",
                (f"{rank_low:g}-{rank_high:g}" if rank_low != rank_high else f"{rank_low:g}")
                if row["rank_ci"]
                else "—",
                f"{row['wins']:g} / {row['comparisons']:g}"
                + (" (all or none)" if row.get("separated") else "")
                # its intervals stand on the resamples that compared it
                + (
                    f"; not compared in {row['resamples_without']:.0%} of resamples"
                    if row.get("resamples_without")
                    else ""
                ),
            ]
        )
    return header, rows
