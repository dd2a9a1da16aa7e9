"""Report sections of their own: what the run cost (summary.json's `cost`, glade.meter) and
the leaderboard (rank.json, written by `glade rank`). Each is None when its file says nothing."""

from __future__ import annotations

import html
import json
from dataclasses import dataclass
from pathlib import Path

from glade.meter import closing_line, cost_table

from .data import Results

RANK_FILE = "rank.json"


@dataclass(frozen=True)
class Section:
    title: str
    about: str
    header: list[str]
    rows: list[list[str]]


def cost_section(r: Results) -> Section | None:
    cost = r.summary.get("cost")
    if not cost:
        return None
    return Section("Cost", closing_line(cost) + ". Per seat (its identity):", *cost_table(cost))


def rank_section(r: Results) -> Section | None:
    path = Path(r.folder) / RANK_FILE
    if not path.exists():
        return None
    board = json.loads(path.read_text())
    header, rows = board_table(board)
    return Section("Leaderboard", board_about(board), header, rows)


def board_about(board: dict) -> str:
    level = f"{board['level']:.0%}"
    what = (
        "wealth change of the seat, against every other policy on the same creature, scenario and seed"
        if board["outcome"] == "seat"
        else "the council's focal wealth change minus the all-stand-in world's, on the same scenario and seed"
    )
    return (
        f"Bradley-Terry strengths (log-odds, mean 0) from {board['comparisons']:g} paired comparisons of {what}, "
        f"over {board['units']} (scenario, seed) units from {', '.join(board['results'])}; {level} percentile bootstrap "
        f"over those units ({board['resamples']} refits) for the strength and the rank. {board['method']}."
    )


def board_table(board: dict) -> tuple[list[str], list[list[str]]]:
    level = f"{board['level']:.0%}"
    header = ["rank", "policy", "recipe names", "strength", f"{level} CI", "rank range", "wins / comparisons"]
    rows = []
    for row in board["board"]:
        low, high = row["ci"]
        rank_low, rank_high = row["rank_ci"]
        rows.append(
            [
                str(row["rank"]),
                row["entry"],
                ", ".join(row["names"]) or "-",
                f"{row['strength']:+.2f}",
                f"[{low:+.2f}, {high:+.2f}]",
                f"{rank_low:g}-{rank_high:g}" if rank_low != rank_high else f"{rank_low:g}",
                f"{row['wins']:g} / {row['comparisons']:g}" + (" (all or none)" if row.get("separated") else ""),
            ]
        )
    return header, rows


def sections(r: Results) -> list[Section]:
    return [s for s in (cost_section(r), rank_section(r)) if s is not None]


def section_md(s: Section) -> list[str]:
    cell = lambda text: str(text).replace("|", "\\|")
    lines = ["", f"## {s.title}", "", s.about, ""]
    lines += ["| " + " | ".join(map(cell, s.header)) + " |", "|" + "|".join("---" for _ in s.header) + "|"]
    lines += ["| " + " | ".join(map(cell, row)) + " |" for row in s.rows]
    return lines


def section_html(s: Section) -> str:
    e = html.escape
    head = "".join(f"<th>{e(h)}</th>" for h in s.header)
    body = "".join("<tr>" + "".join(f"<td>{e(c)}</td>" for c in row) + "</tr>" for row in s.rows)
    return (
        f'<h2>{e(s.title)}</h2>\n<p class="caption">{e(s.about)}</p>\n'
        f"<table>\n<thead><tr>{head}</tr></thead>\n<tbody>{body}</tbody>\n</table>"
    )
