"""The `glade` command line: one module per verb, listed explicitly in VERBS.

Each verb module exposes `add_parser(subparsers)` (which sets `run` as the default) and
`run(args) -> int`. A mistake a user can make (a malformed scenario or recipe, a bad
seat spec, a bad --council or --set, a missing file) prints one red `error: ...` line to
stderr and exits 2; set GLADE_DEBUG=1 to see the traceback instead. `glade export` and
`glade export-traces` exit 3 when the folder is written but the push could not happen
(offline, no network, no token; glade.cards.PushFailed, handled in their own run()).
"""

from __future__ import annotations

import argparse
import os
import sys

import glade
from glade import export, export_traces, generate, quickstart, simulate, validate
from glade.eval import evaluate, flag, harness, report
from glade.train import command as train, merge

# The verbs, in the order `glade --help` lists them. Adding a verb is adding its module here.
VERBS = (simulate, generate, train, merge, evaluate, flag, report, harness, export, export_traces, validate, quickstart)



class _HelpFormatter(argparse.HelpFormatter):
    """Keeps each verb and its one-line help on one line (argparse indents subcommands two
    columns deeper than it measures them)."""

    def add_argument(self, action: argparse.Action) -> None:
        super().add_argument(action)
        if isinstance(action, argparse._SubParsersAction):
            longest = max((len(name) for name in action.choices), default=0)
            self._action_max_length = max(self._action_max_length, self._current_indent + longest + 2)


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="glade",
        description="Fine-tune and evaluate creature models in the Wood, a woodland market economy.",
        formatter_class=_HelpFormatter,
        epilog="Run 'glade VERB --help' for a verb's options.",
    )
    parser.add_argument("--version", action="version", version=f"glade {glade.__version__}")
    subparsers = parser.add_subparsers(title="verbs", metavar="VERB", dest="verb")
    for verb in VERBS:
        verb.add_parser(subparsers)
    return parser


def error(message: str) -> None:
    """One red line on stderr, never wrapped."""
    from rich.console import Console
    from rich.text import Text

    Console(stderr=True).print(Text("error: ", style="bold red") + Text(message, style="red"), soft_wrap=True)


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if getattr(args, "run", None) is None:
        parser.print_help()
        return 2
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt:
        error("interrupted")
        return 130
    except (ValueError, OSError) as exc:  # ConfigError and SeatSpecError are ValueErrors
        if os.environ.get("GLADE_DEBUG"):
            raise
        error(str(exc).splitlines()[0] if str(exc) else type(exc).__name__)
        return 2


if __name__ == "__main__":
    sys.exit(main())
