"""The `glade` command line: one module per verb, imported only when that verb runs.

A verb module `glade.cli.<verb>` (dashes as underscores) has `add_parser(subparsers, help)`,
which returns its parser with `run` set as the default, and `run(args) -> int`; the work
itself is in the library. A mistake a user can make (a malformed scenario or recipe, a bad
seat spec, a bad --council or --set, a missing file) prints one red `error: ...` line to
stderr and exits 2; set GLADE_DEBUG=1 to see the traceback instead. `glade export` and
`glade export-traces` exit 3 when the folder is written but the push could not happen.
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import sys

import glade
from glade.console import error, quiet_libraries

# The verbs, in the order `glade --help` lists them, with their one-line help.
# Adding a verb is adding a line here and its module glade/cli/<verb>.py.
VERBS = {
    "simulate": "play one episode of the Wood and show it, turn by turn",
    "generate": "play episodes and write a traces dataset (Parquet)",
    "train": "fine-tune a creature model from a recipe (TRL SFT, LoRA or full)",
    "merge": "merge a LoRA checkpoint into its base model",
    "eval": "seat a council, play it against the all-stand-in world, measure divergence",
    "flag": "rank council-vs-stand-in disagreements worth a look (flags.json, flags.md)",
    "calibrate": "fit the stand-in to a live policy's decisions; check it on held-out seeds and the council",
    "report": "write report.md and a self-contained report.html for a results folder",
    "rank": "a leaderboard of policies across evaluations (Bradley-Terry, bootstrap intervals; rank.json)",
    "lm-eval": "score a checkpoint on glade's decision tasks (and standard ones) with lm-eval",
    "export": "write a Hub-ready folder for a checkpoint (model card included) and optionally push it",
    "export-traces": "write a Hub-ready folder for a traces dataset (card included) and optionally push it",
    "validate": "check recipes and scenarios without running them",
    "quickstart": "the whole chain offline: simulate, generate, train, evaluate, flag, report, export",
}


def about(doc: str) -> str:
    """A verb's --help description from its module docstring: the first paragraph, without the
    usage line that opens it (argparse prints its own) or the library modules it names."""
    text = doc.split("\n\n")[0]
    if text.startswith("`"):
        text = text.split("`:", 1)[1].strip()
    text = re.sub(r" \(glade\.[a-z_.]+\)", "", text)
    return text[0].upper() + text[1:]


class _HelpFormatter(argparse.HelpFormatter):
    """Keeps each verb and its one-line help on one line (argparse indents subcommands two
    columns deeper than it measures them)."""

    def add_argument(self, action: argparse.Action) -> None:
        super().add_argument(action)
        if isinstance(action, argparse._SubParsersAction):
            longest = max((len(name) for name in action.choices), default=0)
            self._action_max_length = max(self._action_max_length, self._current_indent + longest + 2)


def build_parser(verb: str | None = None) -> argparse.ArgumentParser:
    """The parser; only `verb`'s module is imported (every verb's when None)."""
    parser = argparse.ArgumentParser(
        prog="glade",
        description="Fine-tune and evaluate creature models in the Wood, a woodland market economy.",
        formatter_class=_HelpFormatter,
        epilog="Run 'glade VERB --help' for a verb's options.",
    )
    parser.add_argument("--version", action="version", version=f"glade {glade.__version__}")
    subparsers = parser.add_subparsers(title="verbs", metavar="VERB", dest="verb")
    for name, help_text in VERBS.items():
        if verb is None or name == verb:
            module = importlib.import_module(f"glade.cli.{name.replace('-', '_')}")
            verb_parser = module.add_parser(subparsers, help_text)
            verb_parser.add_argument(
                "--verbose", action="store_true", help="show the libraries' own progress bars, logs and warnings"
            )
        else:
            subparsers.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    quiet_libraries("--verbose" in argv)  # before a verb imports the libraries
    verb = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(verb if verb in VERBS else "")
    args, extra = parser.parse_known_args(argv)
    # argparse ends `recipe [key=value ...]` at the first option, so `RECIPE --dry-run a=1`
    # leaves a=1 over: overrides may come anywhere on the line, as the usage line reads.
    if extra and "overrides" in args and all("=" in a and not a.startswith("-") for a in extra):
        args.overrides = [*args.overrides, *extra]
    elif extra:
        parser.parse_args(argv)  # argparse's own message and exit 2 for what is left
    if "run" not in args:
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt as exc:  # a verb may say how to resume: KeyboardInterrupt("rerun ...")
        error(f"interrupted; {exc}" if str(exc) else "interrupted")
        return 130
    except (ValueError, OSError) as exc:  # ConfigError and SeatSpecError are ValueErrors
        if os.environ.get("GLADE_DEBUG"):
            raise
        error(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return 2


if __name__ == "__main__":
    sys.exit(main())
