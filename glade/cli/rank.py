"""`glade rank RESULTS [RESULTS ...]`: A leaderboard of the policies in one or more
evaluations (glade.eval.rank): Bradley-Terry strengths from paired comparisons of per-episode
outcomes, with bootstrap intervals that resample seeds (each with all its scenarios; none below
8 seeds). Prints the table and writes rank.json
(default: into the first RESULTS folder, where `glade report` shows it)."""

from __future__ import annotations

import argparse
from pathlib import Path

from glade.cli import REWRITE, VerbHelp, about, epilog
from glade.eval.thresholds import DEFAULTS
from glade.files import user_path


def add_parser(subparsers, help: str) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "rank",
        help=help,
        description=about(__doc__),
        epilog="--outcome seat compares policies on the same creature, scenario and seed by the seat's wealth change; "
        "--outcome team compares each council's focal wealth change, net of the all-stand-in world's on the same seed, "
        "with the other councils and with the all-stand-in world.\n\n"
        + epilog(
            "0 ranked and rank.json written; 2 bad input (a folder glade eval did not write, a bad --out or "
            "option value, policies never compared with each other), nothing written.",
            (
                "glade rank runs/eval/crash-gambit",
                "glade rank runs/eval/a runs/eval/b --outcome team --out runs/rank-ab.json",
            ),
        ),
        formatter_class=VerbHelp,
    )
    p.add_argument(
        "results", nargs="+", metavar="RESULTS", type=user_path, help="results folders written by glade eval"
    )
    p.add_argument("--outcome", choices=("seat", "team"), default="seat", help="what is compared (default: seat)")
    # at 8 seeds the expanded interval's ends lie 0.57% into each tail: 4,000 refits put ~23 past each
    p.add_argument(
        "--resamples",
        type=int,
        default=None,
        help=(
            "bootstrap refits (default: 4,000, or more where --level needs it: when any entry gets an interval, at "
            "least 1,743 at 95%% and 109,163 at 99%%, so that about 10 refits lie past each end of it)"
        ),
    )
    p.add_argument(
        "--level", type=float, default=DEFAULTS.ci_level, help=f"interval level (default: {DEFAULTS.ci_level})"
    )
    p.add_argument("--seed", type=int, default=0, help="seeds the bootstrap resampler (default: 0)")
    p.add_argument(
        "--out", metavar="FILE", type=user_path, help="where to write rank.json (default: RESULTS/rank.json, the first)"
    )
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    from contextlib import nullcontext

    from glade.console import console
    from glade.eval.rank import DEFAULT_RESAMPLES, MOST_RESAMPLES, check_out, min_resamples
    from glade.eval.stats import MIN_RESAMPLED
    from glade.files import check_folder_path, only_writer, only_writer_of_file

    if args.seed < 0:
        raise ValueError(f"--seed: must be at least 0 (it seeds the bootstrap), got {args.seed}")
    if not 0 < args.level < 1:
        raise ValueError(f"--level: must be between 0 and 1 (0.95 for a 95% interval), got {args.level}")
    least = min_resamples(args.level)
    if least > MOST_RESAMPLES:
        raise ValueError(
            f"--level {args.level:g}: its interval's ends need at least {least:,} refits at {MIN_RESAMPLED} seeds, more "
            f"than the {MOST_RESAMPLES:,} rank runs; ask for --level 0.99 or less"
        )
    if args.resamples is None:  # a level above 95% needs more than the default: take what it needs
        args.resamples = max(DEFAULT_RESAMPLES, least)
    if args.resamples < 1:
        raise ValueError(f"--resamples: must be at least 1, got {args.resamples}")
    if args.resamples > MOST_RESAMPLES:  # more would run for days; a 99% interval's ends need about 109,000
        raise ValueError(f"--resamples: at most {MOST_RESAMPLES:,}, got {args.resamples:,}")
    out = Path(args.out) if args.out else Path(args.results[0]) / "rank.json"
    if args.out:
        try:  # a parent that is a file: named as every verb names it, not mkdir's 'File exists'
            check_folder_path(out.parent)
        except ValueError as exc:
            raise ValueError(f"--out {out}: {exc}") from None
    check_out(out)  # before the refits
    first = Path(args.results[0])
    if args.out:  # one writer of a board at a time; by default it goes into RESULTS, under that folder's lock
        lock = only_writer_of_file(out, advice="let it finish, or give another --out")
    else:
        lock = (
            only_writer(first, advice="let it finish, then rerun glade rank", optional=True)
            if first.is_dir()
            else nullcontext()
        )
    try:
        with lock:
            return _rank(args, out, least, con=console())  # results on stdout; the bar on stderr
    except KeyboardInterrupt:
        raise KeyboardInterrupt(REWRITE) from None


def _rank(args: argparse.Namespace, out: Path, least: int, con) -> int:
    from rich import box
    from rich.markup import escape  # policy and council names, and folders, print as written: `seat[/]` is no markup
    from rich.table import Table

    from glade.console import progress_bar
    from glade.eval.rank import rank, write_rank
    from glade.eval.report.leaderboard import board_about, board_table, not_ranked

    with progress_bar("rank", "refits") as bar:
        board = rank(
            args.results,
            outcome=args.outcome,
            resamples=args.resamples,
            level=args.level,
            seed=args.seed,
            on_total=bar.total,
            progress=bar.advance,
            least_resamples=least,  # refused once the folders say some entry gets an interval
        )
    out = write_rank(board, out)  # before the table: a print that fails (a closed pipe, a narrow encoding) keeps it
    header, rows = board_table(board)
    grow = 1  # the entry column (policy, or council for a team board) takes the room left
    table = Table(
        title=f"leaderboard ({args.outcome}): Bradley-Terry strength, best first",
        caption=escape(board_about(board)),  # it names the results folders
        box=box.SIMPLE_HEAD,
        show_edge=False,
        pad_edge=False,
        collapse_padding=True,
        padding=(0, 1),
    )
    # the table's own characters: one padding and one rule between columns, none at the edges
    widths = column_widths(header, rows, con.width - 2 * (len(header) - 1), grow)
    for i, column in enumerate(header):
        table.add_column(column, overflow="fold", width=widths[i] if widths else None)
    for row in rows:
        table.add_row(*map(escape, row))
    con.print(table)
    if unranked := not_ranked(board):
        con.print(unranked, soft_wrap=True, markup=False)
    con.print(f"wrote {out}", markup=False, highlight=False, soft_wrap=True)  # a path cut in two cannot be copied
    return 0


def column_widths(header: list[str], rows: list[list[str]], budget: int, grow: int) -> list[int] | None:
    """Column widths that fit `budget` characters of text without splitting a word mid-way, or
    None when the table fits as it is. Every other column gets its longest word (so it wraps
    only at spaces); column `grow` (the policy id, one long word) what is left, up to its
    longest line, and only as much of it as keeps the longest id to its fewest lines; the rest
    goes back to the others, up to their longest lines. Only the id folds, and only if it must."""
    columns = list(zip(header, *rows))
    lines = [max(len(line) for cell in col for line in (str(cell).splitlines() or [""])) for col in columns]
    if sum(lines) <= budget:
        return None
    widths = [max((len(word) for cell in col for word in str(cell).split()), default=1) for col in columns]
    widths[grow] = 0
    room, longest = max(budget - sum(widths), 8), lines[grow]
    folds = -(-longest // room)  # the lines the longest id needs at best
    widths[grow] = -(-longest // folds)
    slack = budget - sum(widths)
    for i in (j for j in range(len(columns)) if j != grow):
        add = max(0, min(slack, lines[i] - widths[i]))
        widths[i] += add
        slack -= add
    return widths
