"""`glade validate [PATH ...] [key=value ...] [--kind KIND]`: check recipes and scenarios without running anything.

Every YAML file under the given paths (default: ./recipes when it exists, else the recipes
glade ships) is checked as what its folder says it is (recipes/scenarios/, dispositions/,
generate/, train/, eval/), or as `--kind` says for files kept elsewhere, with the same checks
the run itself makes before it does any work: keys, types and ranges, seat specs, scenarios,
creatures, the files each recipe reads, and a train recipe's `lora.target_modules` against a
base model in a local folder (built from its config.json with no weights: each target there, and a
layer LoRA can wrap). Nothing is loaded, trained or downloaded, so what needs the data prepared and
tokenized is left to the run: `glade train` checks `sft.max_length` against its rows' token lengths
once it has prepared them, before the first step (tokenizing is about 2 ms a row on one core, and a
`tiny` base's tokenizer is trained by the run itself).

Each file gets one line: `ok`; `FAIL` (malformed: the run would refuse it); `NEEDS` (well
formed, but a file or folder it reads is not there yet, such as traces an earlier
`glade generate` writes, a checkpoint of `latest:NAME`, or a Hub base offline mode cannot fetch);
or `WRITE?` (its own keys may be fine, but the folder it writes cannot be written from here: a
read-only disk or folder, or no permission; a relative `out` is taken from the current folder).

`key=value` words override keys of every file checked, as the verbs that read a recipe take
them (a scenario's keys as simulate's --set takes them): a file without that key fails.
"""

from __future__ import annotations

import argparse
import re
from pathlib import Path

from glade.cli import VerbHelp, epilog, os_error_line
from glade.config import (
    CannotWrite,
    ConfigError,
    MissingInput,
    parse_overrides,
    recipe_hint,
    recipe_source,
    shipped_hint,
)
from glade.env.scenario import RECIPES
from glade.files import user_path
from glade.kinds import FOLDER_KINDS, KIND_KEYS, OWN_KEYS, folder_kind, generate_keys, kind_text

KINDS = tuple(FOLDER_KINDS.values())
_NAMES = list(FOLDER_KINDS)
FOLDERS = f"recipes/{', '.join(_NAMES[:-1])} or {_NAMES[-1]}"  # recipes/scenarios, dispositions, ... or eval


def kind_of(path: Path, given: str | None) -> str:
    """What `path` is: its recipes/<folder>/ says, else --kind (`given`), else a KIND? refusal."""
    if found := folder_kind(path):
        return found
    if given:
        return given
    where = f"{path}: not under {FOLDERS}, so glade cannot tell what it is"
    if guess := looks_like(path):
        kind, evidence = guess
        raise ConfigError(f"{where}; it looks like {kind_text(kind)} (it has {', '.join(evidence)}): say --kind {kind}")
    raise ConfigError(f"{where}: say it with --kind ({', '.join(KINDS)})")


def looks_like(path: Path) -> tuple[str, list[str]] | None:
    """(kind, a few keys only that kind has) when the file's keys are all one kind's and some of
    them are that kind's alone; None when none or several fit, or the file does not read."""
    from glade.env.schema import read_yaml

    try:
        data = read_yaml(path)
    except (OSError, ValueError):  # ConfigError is a ValueError: the FAIL line says what is wrong
        return None
    if not isinstance(data, dict) or not data:
        return None
    keys = {str(k) for k in data}
    fits = []
    for kind, known in KIND_KEYS.items():
        if keys <= known and keys & OWN_KEYS[kind]:
            fits.append((kind, sorted(keys & OWN_KEYS[kind])[:3]))
    if not fits and generate_keys(keys):
        return "generate", ["councils and no policies"]
    return fits[0] if len(fits) == 1 else None


def validate_file(path: Path, kind: str, overrides: list[str] = ()) -> str:
    """What the file is; raises ConfigError (MissingInput for inputs not there yet) naming the key.
    `overrides` (key=value) change its keys first, as the run that reads it takes them."""
    source = recipe_source(path, overrides)
    if kind == "disposition":
        from glade.env.standin import read_disposition

        if overrides:  # no verb takes key=value for a disposition file
            raise ConfigError(f"{path}: a disposition takes no key=value overrides ({', '.join(overrides)})")
        read_disposition(path)
        return "disposition"
    if kind == "scenario":
        from glade.env.scenario import load_scenario

        load_scenario(path, **parse_overrides(overrides))
        return "scenario"
    if kind == "generate":
        from glade.traces import check_inputs, load_generate_recipe

        check_inputs(load_generate_recipe(path, overrides), source)
        return "generate recipe"
    if kind == "train":
        from glade.train.inputs import check_paths
        from glade.train.recipe import load_train_recipe

        check_paths(load_train_recipe(path, overrides), source)
        return "train recipe"
    from glade.eval.plan import check_ledger
    from glade.eval.recipe import check_inputs, load_eval_recipe, unseated

    recipe = load_eval_recipe(path, overrides)
    check_inputs(recipe, source)
    check_ledger(recipe, source)
    idle = unseated(recipe)  # not a mistake the run refuses, but most often a council left unfinished
    return "eval recipe" + (f"; {', '.join(f'policies.{n}' for n in idle)}: no council seats it" if idle else "")


def default_paths() -> list[str]:
    """./recipes when there is one (the recipes you edit), else the ones glade ships."""
    return ["recipes"] if Path("recipes").is_dir() else [str(RECIPES)]


def collect(paths: list[str]) -> list[Path]:
    """The YAML files under `paths`, each once (as first named): a file given twice, or a file and
    the folder that holds it, is checked and counted once."""
    files: dict[Path, Path] = {}  # resolved -> as named
    for p in map(Path, paths or default_paths()):
        if p.is_dir():
            found = sorted(x for x in p.rglob("*.y*ml") if x.suffix in (".yaml", ".yml"))
        elif p.exists() and p.suffix in (".yaml", ".yml"):
            found = [p]
        elif p.exists():  # a shard, a results table: nothing validate could check
            raise ConfigError(
                f"{p}: not a YAML file (.yaml, .yml); validate checks recipes, scenarios and dispositions"
            )
        else:
            shipped_hint(p)  # recipes/... run from outside a checkout: says where glade's copy is
            recipe_hint(p, None)  # a recipe named without its folder or .yaml
            raise ConfigError(f"{p}: no such file or folder")
        for x in found:
            files.setdefault(x.resolve(), x)
    return list(files.values())


def add_parser(subparsers, help: str) -> argparse.ArgumentParser:
    p = subparsers.add_parser(
        "validate",
        help=help,
        description="Check recipes and scenarios without running anything, with the checks the runs make before "
        "they prepare the data: what needs every row tokenized (a train recipe's sft.max_length against its rows) is "
        "left to the run, which checks it before its first step. Each file gets one line: ok; FAIL (malformed: "
        "what is wrong); NEEDS (well-formed, but an input it names is written by an earlier step, e.g. traces "
        "generate writes); WRITE? (the folder it writes cannot be written from here: a read-only disk or no "
        "permission); KIND? (glade cannot tell what it is: give --kind).",
        epilog=epilog(
            "0 every file ok; 1 none malformed, but some need inputs an earlier step writes, or write where this user "
            "cannot (WRITE?); 2 bad input: a file "
            "is malformed, or of a kind glade cannot tell (a KIND? line: give --kind), or a path named is no file "
            "or folder, or not a YAML file.",
            (
                "glade validate",
                "glade validate my-recipes/ --kind eval",
                "glade validate recipes/eval/crash-gambit.yaml seeds.count=2",
            ),
        ),
        formatter_class=VerbHelp,
    )
    p.add_argument(
        "paths",
        nargs="*",
        type=user_path,  # a key=value never starts with ~
        metavar="PATH|key=value",
        help="files or folders (default: ./recipes, else the shipped recipes), and key=value overrides of their keys",
    )
    p.add_argument(
        "--kind",
        choices=KINDS,
        help="what the given files are, for files outside recipes/scenarios/, dispositions/, generate/, train/ and eval/",
    )
    # `overrides`: main() adds a key=value given after an option here, as for the recipe verbs
    p.set_defaults(run=run, overrides=[])
    return p


def overrides_of(words: list[str]) -> tuple[list[str], list[str]]:
    """(paths, key=value overrides) of the positional words: a word whose part before `=` reads as
    a dotted key (no `/`, no file suffix) and that is no file or folder is an override; any other
    word is a path, so a mistyped file name is said to be missing, not applied to every recipe."""
    key = re.compile(r"[A-Za-z_][\w\-\[\]]*(\.([A-Za-z_0-9][\w\-\[\]]*|\*))*")  # councils.c.*.seed: every seat
    overrides = [
        w
        for w in words
        if "=" in w
        and key.fullmatch(w.split("=", 1)[0])
        and not w.split("=", 1)[0].endswith((".yaml", ".yml"))
        and not _exists(w)
    ]
    return [w for w in words if w not in overrides], overrides


def _exists(word: str) -> bool:
    try:
        return Path(word).exists()
    except OSError:  # a name past the file system's 255 bytes: a long override, no file
        return False


def run(args: argparse.Namespace) -> int:
    failures = needs = unknown = unwritable = 0
    paths, overrides = overrides_of(args.paths)
    overrides += args.overrides
    if overrides and not paths:  # an eval key applied to every train recipe would only fail them
        raise ConfigError(
            f"{' '.join(overrides)}: key=value overrides need the recipe(s) they change: glade validate PATH key=value"
        )
    if args.kind and not paths:  # the shipped recipes are each of their folder's kind
        raise ConfigError(
            f"--kind {args.kind}: says what files outside {FOLDERS} are; name them: glade validate FILE --kind {args.kind}"
        )
    files = collect(paths)
    if not files:
        raise ConfigError(f"{', '.join(paths or default_paths())}: no YAML files (*.yaml, *.yml) to check")
    for path in files:
        try:
            kind = kind_of(path, args.kind)
        except ConfigError as exc:  # not malformed: glade cannot tell what to check it as
            unknown += 1
            print(f"KIND?  {exc}")
            continue
        try:
            print(f"ok     {recipe_source(path, overrides)}  ({validate_file(path, kind, overrides)})")
        except MissingInput as exc:
            needs += 1
            print(f"NEEDS  {exc}")
        except CannotWrite as exc:  # not malformed: where it runs from, or the disk, is what is wrong
            unwritable += 1
            print(f"WRITE? {exc}")
        except (ValueError, OSError) as exc:  # ConfigError, SeatSpecError; a path no file system takes
            failures += 1
            line = os_error_line(exc) if isinstance(exc, OSError) else str(exc).splitlines()[0]
            print(f"FAIL   {line if str(path) in line else f'{path}: {line}'}")  # every line names its file
    kinds = f", {unknown} KIND? (say what they are with --kind)" if unknown else ""
    if unwritable:
        kinds += (
            f", {unwritable} WRITE? (the folder each writes cannot be written from here: run from a folder you can "
            "write, or set out/output_root to one)"
        )
    print(
        f"{len(files) - failures - needs - unknown - unwritable} ok, {failures} FAIL (malformed), {needs} NEEDS "
        f"(inputs not made yet){kinds}"
    )
    return 2 if failures or unknown else 1 if needs or unwritable else 0
