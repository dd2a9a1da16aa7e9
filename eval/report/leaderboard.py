"""The report's leaderboard section: the Bradley-Terry board `glade rank` wrote into the results
folder (rank.json), and the table and caption `glade rank` prints. No rank.json, no section."""

from __future__ import annotations

import html
import json
import shlex
from pathlib import Path

from glade.eval.rank import BOARD_KEYS
from glade.files import json_with_keys
from glade.words import level_percent, md_text

from .data import decided_note
from .markup import Section, html_table, md_table

RANK_FILE = "rank.json"
# rank, strength, the interval (sorted by its lower bound) and the rank range sort as numbers
NUMERIC = {0, 3, 4, 5}


def rank_sections(page) -> list[Section]:
    path = Path(page.r.folder) / RANK_FILE
    if not path.exists():
        return []
    text = path.read_bytes()  # json reads bytes: a file that is not UTF-8 is then named below, not a codec error
    if not json_with_keys(BOARD_KEYS)(text):
        raise ValueError(  # glade rank would refuse to replace it: it never replaces a file it did not write
            f"{path}: not a leaderboard glade rank wrote; move it aside (or remove it), then rerun "
            f"`glade rank {page.r.folder}` to write it again"
        )
    board = json.loads(text)
    about = board_about(board)
    header, rows = board_table(board)
    unranked = not_ranked(board)
    decided = board_note(board, page.r.folder)
    return [
        Section(
            "leaderboard",
            "Leaderboard",
            ([f"*{md_text(decided, inside=True)}*", ""] if decided else [])
            + [about, ""]
            + md_table(header, rows)
            + (["", unranked] if unranked else []),
            ([f'<p class="note">{html.escape(decided)}</p>'] if decided else [])
            + [f'<p class="caption">{html.escape(about)}</p>', html_table(header, rows, NUMERIC)]
            + ([f'<p class="note">{html.escape(unranked)}</p>'] if unranked else []),
        )
    ]


def board_note(board: dict, folder) -> str:
    """decided_note of a board ranked by another glade (its provenance; a board from before it names none)."""
    provenance = board.get("provenance")
    if not isinstance(provenance, dict):
        return ""
    others = board["results"][1:] if isinstance(board.get("results"), list) else []  # the first: where it lies
    rerun = "`glade rank " + " ".join(shlex.quote(str(f)) for f in [folder, *others])
    rerun += " --outcome team`" if board.get("outcome") == "team" else "`"
    return decided_note("This board was", provenance.get("git_commit"), rerun)


def not_ranked(board: dict) -> str | None:
    """The sentence under the table (terminal and report) naming the policies left off the board."""
    if not board.get("not_compared"):
        return None
    return (
        f"not ranked: {', '.join(board['not_compared'])}: never on a creature, scenario and seed where another "
        "policy sat (a creature of the all-stand-in world that no council seated, or a council's policy that is "
        "that creature's own stand-in), so nothing to compare with"
    )


def share_text(share: float) -> str:
    """A share of resamples in whole percent, a small one never printed as 0% (or a large one as 100%)."""
    text = f"{share:.0%}"  # the rounding decides, not a threshold: 0.005 rounds half to even, to 0%
    if share > 0 and text == "0%":
        return "<1%"
    if share < 1 and text == "100%":
        return ">99%"
    return text


def board_about(board: dict) -> str:
    level = level_percent(board["level"])
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
    level = level_percent(board["level"])
    entry = "council" if board.get("outcome") == "team" else "policy"  # a team board ranks councils
    header = ["rank", entry, "recipe names", "strength", f"{level} CI", "rank range", "wins / comparisons"]
    rows = []
    for row in board["board"]:
        low, high = row["ci"] or (None, None)  # none below MIN_RESAMPLED seeds (board["note"], or the row's own)
        rank_low, rank_high = row["rank_ci"] or (row["rank"], row["rank"])
        # the board's note says it once for every row; a row's own, where only it played too few seeds
        alone = row.get("note") if not board.get("note") else None
        rows.append(
            [
                str(row["rank"]),
                row["entry"],
                ", ".join(row["names"]) or "-",
                f"{row['strength']:+z.2f}",  # z: a strength of -1e-17 is no weaker than 0
                f"[{low:+z.2f}, {high:+z.2f}]" if row["ci"] else f"— ({alone})" if alone else "—",
                (f"{rank_low:g}-{rank_high:g}" if rank_low != rank_high else f"{rank_low:g}")
                if row["rank_ci"]
                else "—",
                f"{row['wins']:g} / {row['comparisons']:g}"
                + (" (all or none)" if row.get("separated") else "")
                # its intervals stand on the resamples that compared it
                + (
                    f"; not compared in {share_text(row['resamples_without'])} of resamples"
                    if row.get("resamples_without") and row["ci"]
                    else ""
                ),
            ]
        )
    return header, rows
