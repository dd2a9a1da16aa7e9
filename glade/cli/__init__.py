"""The `glade` command line: one module per verb, imported only when that verb runs.

A verb module `glade.cli.<verb>` (dashes as underscores) has `add_parser(subparsers, help)`,
which returns its parser with `run` set as the default, and `run(args) -> int`; the work
itself is in the library. A mistake a user can make (a malformed scenario or recipe, a bad
seat spec, a bad --council or --set, a missing file) prints one red `error: ...` line to
stderr and exits 2; set GLADE_DEBUG=1 to see the traceback instead. `glade export` and
`glade export-traces` exit 3 when the folder is written but the push could not happen. Ctrl-C
stops a verb with one `error: interrupted; ...` line (how to resume, where it can) and exit 130;
SIGTERM (docker stop, Slurm, a cancelled CI job) the same way, with exit 143, and SIGHUP (its
terminal closed) with exit 129.

Output that cannot be written never stops a verb: it finishes and writes its files, then a reader
that went away (`glade eval R | head -1`, a closed stderr pipe) ends it quietly with exit 141,
and stdout that cannot be written for another reason (a full disk) with one `error:` line on
stderr and exit 1 (glade.cli.endings; a verb's own failure status comes first).

One stream rule for every verb: results (tables, summaries, dry-run plans, `wrote ...` lines)
on stdout; progress bars, warnings and errors on stderr (`console()` and `console(stderr=True)`
of glade.console). An unknown option shows the verb's own usage line (with a `key=value` hint
for a verb's recipe keys); `--verbose` goes before or after the verb. Each verb's --help ends
with its examples and `exit status: ...` (`epilog`, laid out by VerbHelp).
"""

from __future__ import annotations

import argparse
import importlib
import os
import re
import shutil
import signal
import sys
from pathlib import Path

import glade
from glade.cli.endings import (
    OUTPUT_LOST,
    fill_closed_streams,
    ignore_ctrl_c,
    os_error_line,
    output_status,
    stop_on_sigterm,
)
from glade.console import error, kept_streams, quiet_libraries
from glade.env.schema import control_character, printable
from glade.faults import SeatsFailing

# The verbs, in the order `glade --help` lists them, with their one-line help.
# Adding a verb is adding a line here and its module glade/cli/<verb>.py.
VERBS = {
    "simulate": "play one episode of the Wood and show it, turn by turn",
    "generate": "play episodes and write a traces dataset (Parquet)",
    "train": "fine-tune a creature model from a recipe (TRL SFT, LoRA or full)",
    "merge": "merge a LoRA checkpoint into its base model",
    "eval": "seat a council, play it against the all-stand-in world, measure divergence",
    "flag": "test and list the council-vs-stand-in disagreements worth a look (flags.json, flags.md)",
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


def epilog(status: str, examples: tuple[str, ...] = ()) -> str:
    """A verb's --help epilog: its examples, then `exit status: ...` (one wording for every verb).
    VerbHelp keeps the example lines as written and wraps the rest."""
    shown = "examples:\n" + "".join(f"  {line}\n" for line in examples) + "\n" if examples else ""
    if "130 interrupted" in status:  # main() stops on SIGTERM and SIGHUP as on Ctrl-C
        status += (
            " A SIGTERM (docker stop, Slurm, a cancelled CI job) stops it the same way, with 143."
            " A SIGHUP (its terminal closed) too, with 129."
        )
    return f"{shown}exit status: {status} {OUTPUT_LOST}"


def _wrapped(text: str, width: int) -> list[str]:
    """An option's help as argparse wraps it, but never at a word's hyphen: `crash-gambit.yaml`
    or `lm-eval` cut in two could not be copied from the terminal."""
    import textwrap

    return textwrap.wrap(" ".join(text.split()), width, break_on_hyphens=False)


class VerbHelp(argparse.HelpFormatter):
    """A verb's --help: paragraphs wrapped to the terminal, lines that open with spaces
    (examples, lists) kept as written. (argparse is extended only through `formatter_class`,
    and `_fill_text` is where it wraps descriptions and epilogs.)"""

    def _fill_text(self, text: str, width: int, indent: str) -> str:
        import textwrap

        out: list[str] = []
        paragraph: list[str] = []
        for line in [*text.splitlines(), ""]:
            if line.strip() and not line.startswith(" "):
                paragraph.append(line.strip())
                continue
            if paragraph:
                out.append(
                    textwrap.fill(
                        " ".join(paragraph),
                        width,
                        initial_indent=indent,
                        subsequent_indent=indent,
                        break_on_hyphens=False,
                    )
                )
                paragraph = []
            out.append(indent + line if line.strip() else "")
        return "\n".join(out[:-1])

    def _split_lines(self, text: str, width: int) -> list[str]:
        return _wrapped(text, width)


class _HelpFormatter(argparse.HelpFormatter):
    """Keeps each verb and its one-line help on one line (argparse indents subcommands two
    columns deeper than it measures them)."""

    def add_argument(self, action: argparse.Action) -> None:
        super().add_argument(action)
        if isinstance(action, argparse._SubParsersAction):
            longest = max((len(name) for name in action.choices), default=0)
            self._action_max_length = max(self._action_max_length, self._current_indent + longest + 2)

    def _split_lines(self, text: str, width: int) -> list[str]:
        return _wrapped(text, width)


class _Version(argparse.Action):
    """`glade 0.1.0 (commit <sha>+dirty)`: 0.1.0 names every commit, so a checkout adds its own; git is
    asked only when --version is given, not on every command's parse."""

    def __call__(self, parser, namespace, values, option_string=None):
        from glade.provenance import git_commit, git_dirty

        commit = git_commit()
        built = f" (commit {commit}{'+dirty' if git_dirty() else ''})" if commit else ""
        sys.stdout.write(f"glade {glade.__version__}{built}\n")  # stdout, as argparse's own version action
        parser.exit()


def build_parser(verb: str | None = None) -> argparse.ArgumentParser:
    """The parser; only `verb`'s module is imported (every verb's when None)."""
    parser = argparse.ArgumentParser(
        prog="glade",
        description="Fine-tune and evaluate creature models in the Wood, a woodland market economy.",
        formatter_class=_HelpFormatter,
        epilog="Run 'glade VERB --help' for a verb's options. The words the outputs use (stand-in, council, cast, "
        'cell, flag, verdict, ...) are defined in the README\'s "Words the outputs use". In every verb a mistake '
        "is one `error:` line and exit status 2 (GLADE_DEBUG=1 shows the traceback instead); Ctrl-C stops it with "
        f"exit status 130, a SIGTERM with 143, a SIGHUP (its terminal closed) with 129. {OUTPUT_LOST}",
    )
    parser.add_argument("--version", action=_Version, nargs=0, help="show glade's version and git commit, and exit")
    parser.add_argument(
        "--verbose",
        dest="verbose_first",
        action="store_true",
        help="show the libraries' own progress bars, logs and warnings (as VERB --verbose)",
    )
    subparsers = parser.add_subparsers(title="verbs", metavar="VERB", dest="verb")
    for name, help_text in VERBS.items():
        if verb is None or name == verb:
            module = importlib.import_module(f"glade.cli.{name.replace('-', '_')}")
            verb_parser = module.add_parser(subparsers, help_text)
            verb_parser.add_argument(
                "--verbose", action="store_true", help="show the libraries' own progress bars, logs and warnings"
            )
            # a mistake shows the verb's own usage; its options give a bare key=value a hint
            verb_parser.set_defaults(usage_error=verb_parser.error, usage=verb_parser.format_usage())
        else:
            subparsers.add_parser(name, help=help_text, add_help=False)
    return parser


def dotted_keys(cls: type, prefix: str = "") -> set[str]:
    """A recipe dataclass's keys, those of nested dataclasses dotted (`seeds.count`)."""
    from dataclasses import is_dataclass
    from typing import get_type_hints

    out = set()
    for name, hint in get_type_hints(cls).items():  # annotations resolved (modules use string annotations)
        out.add(prefix + name)
        if isinstance(hint, type) and is_dataclass(hint):
            out |= dotted_keys(hint, f"{prefix}{name}.")
    return out


def override_hint(extra: list[str], keys: set[str]) -> str:
    """`; recipe keys are given as key=value; did you mean out=runs/x?` when the first unknown
    option names a recipe key (`--out runs/x`, `--out=runs/x`, `--seeds.count 2`,
    `--max-fault-share 0.5`), or the last part of a nested one (`--max_steps 3` for
    sft.max_steps). `keys` holds the recipe's keys, nested ones dotted."""
    at = next((i for i, a in enumerate(extra) if a.startswith("--")), None)
    if at is None:
        return ""
    if extra[at] == "--set" and at + 1 < len(extra) and "=" in extra[at + 1]:  # simulate's way, on a recipe verb
        return f"; drop --set: recipe keys are given as key=value after the recipe ({extra[at + 1]})"
    key, sep, value = extra[at][2:].partition("=")
    key = key.replace("-", "_")
    if key.split(".")[0] not in keys:
        nested = sorted(k for k in keys if k.endswith("." + key))
        if len(nested) != 1:  # none, or ambiguous (eval.batch_size or sft.batch_size?)
            return ""
        key = nested[0]
    if not sep:
        following = extra[at + 1] if at + 1 < len(extra) else ""
        value = following if following and not following.startswith("-") else "VALUE"
    inner = sorted(k for k in keys if k.startswith(key + ".") and k.count(".") == key.count(".") + 1)
    if inner:  # a mapping (seeds): `seeds=3` would be refused in its turn, so name its own keys
        if len(inner) > 4:  # sft: TRL's many settings
            return f"; recipe keys are given as key=value, and {key} holds keys of its own: {key}.KEY={value}"
        return f"; recipe keys are given as key=value, and {key} holds keys of its own ({', '.join(inner)}): e.g. {inner[0]}={value}"
    return f"; recipe keys are given as key=value; did you mean {key}={value}?"


def option_hint(extra: list[str], usage: str) -> str:
    """`; did you mean --out runs/x?` where a verb without a recipe (simulate) is given a bare
    key=value: its own option if it has one of that name, else its --set (a scenario key)."""
    given = next((a for a in extra if "=" in a and not a.startswith("-")), None)
    if given is None:
        return ""
    key, value = given.split("=", 1)
    options = set(re.findall(r"--[\w-]+", usage))
    if (option := "--" + key.replace("_", "-")) in options:
        return f"; did you mean {option} {value}?"
    if "--set" in options:
        return f"; scenario keys are given with --set; did you mean --set {given}?"
    return ""


def refused_argument(argv: list[str]) -> str | None:
    """The refusal of an argument no verb can use, else None. An empty one (`--out ""`, `--out=`,
    `glade eval ""`): as a path it would be the current folder (`--out ""` spreading a run's files
    there, `eval ""` refused as "."), and a default taken for it would hide the slip. One holding a
    control character (a newline, an escape sequence): no value or path of glade's needs one, and
    the error that named it would be cut at the newline or reach the terminal raw."""
    for i, arg in enumerate(argv):
        after = f" after {printable(argv[i - 1])}" if i else ""
        if arg.startswith("--") and arg.endswith("=") and len(arg) > 3:
            return f"{printable(arg[:-1])}: an empty value; give one, or drop {printable(arg)} for the default"
        if arg == "":
            return f"an empty argument{after}: give a value or a path, or leave it out"
        if found := control_character(arg):
            return f"the argument {arg!r}{after} holds a {found}"
    return None


def main(argv: list[str] | None = None) -> int:
    """The `glade` command line on `argv`: the verb's exit status, as its output fared (output_status).
    Its stdout and stderr writes never raise (glade.console.Outlet): a verb always finishes."""
    with kept_streams() as (out, err):
        code = run_verb(argv)
        for stream in (out, err):
            if stream is not None:
                stream.flush()  # print()'s lines wait in the buffer of a pipe or file till here
        return output_status(code, out, err)


def run_verb(argv: list[str] | None = None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    if refused := refused_argument(argv):
        error(refused)
        return 2
    quiet_libraries("--verbose" in argv)  # before a verb imports the libraries
    verb = next((a for a in argv if not a.startswith("-")), None)
    parser = build_parser(verb if verb in VERBS else "")
    args, extra = parser.parse_known_args(argv)
    if "verbose" in args:  # `glade --verbose VERB` as `glade VERB --verbose`
        args.verbose = args.verbose or args.verbose_first
    # argparse ends `recipe [key=value ...]` at the first option, so `RECIPE --dry-run a=1`
    # leaves a=1 over: overrides may come anywhere on the line, as the usage line reads.
    if extra and "overrides" in args and all("=" in a and not a.startswith("-") for a in extra):
        args.overrides = [*args.overrides, *extra]
    elif extra:  # the verb's own usage line and exit 2, with a hint for `--key value`
        if "recipe_keys" in args:
            hint = override_hint(extra, args.recipe_keys())
        else:  # a verb's own options, or glade's where no verb was named (`glade --bogus`)
            hint = option_hint(extra, args.usage if "usage" in args else parser.format_usage())
        usage_error = args.usage_error if "usage_error" in args else parser.error
        usage_error(f"unrecognized arguments: {' '.join(extra)}{hint}")
    if "run" not in args:
        parser.print_help()
        return 2
    terminated: list[int] = []  # the SIGTERM or SIGHUP that stopped the verb, if one did
    restore = stop_on_sigterm(terminated)
    restore_ctrl_c = lambda: None  # noqa: E731
    try:
        return int(args.run(args) or 0)
    except KeyboardInterrupt as exc:  # a verb may say how to resume: KeyboardInterrupt("rerun ...")
        restore_ctrl_c = ignore_ctrl_c()  # a second Ctrl-C while this is said was a traceback
        error(f"interrupted; {exc}" if str(exc) else "interrupted")
        return 128 + terminated[-1] if terminated else 130  # 143 for SIGTERM, 129 SIGHUP, as a shell reports them
    except SeatsFailing as exc:  # too many faults, as at a run's end (exit 1), only sooner
        error(str(exc))
        return 1
    except (ValueError, OSError) as exc:  # ConfigError and SeatSpecError are ValueErrors
        if os.environ.get("GLADE_DEBUG"):
            raise
        error(os_error_line(exc) if isinstance(exc, OSError) else str(exc).splitlines()[0] or type(exc).__name__)
        return 2
    finally:
        restore()
        restore_ctrl_c()


# What an interrupted flag, report or rank says: its files are written whole (glade.files.atomic)
REWRITE = "each file it writes is whole, this run's or the one before; rerun the same command to write them all"


def entry() -> int:
    """The `glade` command (and `python -m glade.cli`): main(), then Ctrl-C ignored while the
    interpreter winds down (about a second once torch is loaded), since the verb's work is finished
    and said by then; a late Ctrl-C turned its exit status into 130 with no word. (Not in main:
    tests call it in a process that Ctrl-C must still stop.)"""
    fill_closed_streams()
    try:
        code = main()
    except KeyboardInterrupt:  # before the verb's own handler is up (its parser imports the verb's module)
        error("interrupted")
        return 130
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    return code


def glade_command() -> str:
    """How to call glade again from here, for a command a verb suggests: `glade` where that name
    finds this glade, else the path it was started by (`make quickstart` runs .venv/bin/glade,
    which no PATH names until the venv is activated)."""
    started = Path(sys.argv[0])
    found = shutil.which("glade")
    if started.name != "glade" or (found is not None and Path(found).resolve() == started.resolve()):
        return "glade"
    return os.path.relpath(started) if not started.is_absolute() or started.is_relative_to(Path.cwd()) else str(started)


if __name__ == "__main__":
    sys.exit(main())
