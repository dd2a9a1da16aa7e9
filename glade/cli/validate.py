"""`glade validate [PATH ...]`: check recipes and scenarios without running anything.

Every YAML file under the given paths (default: recipes/) is validated as what its folder
says it is: recipes/scenarios/ scenarios, recipes/dispositions/ stand-in dispositions,
recipes/generate/ generate recipes, recipes/train/
training recipes (SFTConfig and LoraConfig built for real), recipes/eval/ council recipes;
nothing is loaded or downloaded.
"""

from __future__ import annotations

import argparse
from pathlib import Path

from glade.config import ConfigError, load_recipe
from glade.env.scenario import RECIPES


def validate_file(path: Path) -> str:
    """What the file is; raises ConfigError naming the key when it is malformed."""
    kind = path.parent.name
    if kind == "dispositions":
        from glade.env.standin import load_disposition

        load_disposition(path)
        return "disposition"
    if kind == "scenarios":
        from glade.env.scenario import load_scenario

        load_scenario(path)
        return "scenario"
    if kind == "generate":
        from glade.traces import GenerateRecipe

        load_recipe(GenerateRecipe, path)
        return "generate recipe"
    if kind == "train":
        from glade.train.recipe import load_train_recipe

        load_train_recipe(path)
        return "train recipe"
    if kind == "eval":
        from glade.eval.recipe import load_eval_recipe
        from glade.seats import SEAT_KINDS

        recipe = load_eval_recipe(path)
        for name, spec in recipe.policies.items():
            if isinstance(spec, dict) and spec.get("kind") not in SEAT_KINDS:
                raise ConfigError(
                    f"{path}: policies.{name}.kind: unknown seat kind {spec.get('kind')!r} (known: {', '.join(SEAT_KINDS)})"
                )
        for scenario in recipe.scenarios:
            from glade.env.scenario import load_scenario

            load_scenario(scenario)
        return "eval recipe"
    raise ConfigError(
        f"{path}: not under recipes/scenarios, dispositions, generate, train or eval; cannot tell what it is"
    )


def collect(paths: list[str]) -> list[Path]:
    files: list[Path] = []
    for p in map(Path, paths or [str(RECIPES)]):
        if p.is_dir():
            files += sorted(x for x in p.rglob("*.y*ml") if x.suffix in (".yaml", ".yml"))
        elif p.exists():
            files.append(p)
        else:
            raise ConfigError(f"{p}: no such file or folder")
    return files


def add_parser(subparsers, help: str) -> argparse.ArgumentParser:
    p = subparsers.add_parser("validate", help=help, description=__doc__.split("\n\n")[0])
    p.add_argument("paths", nargs="*", help="files or folders (default: recipes/)")
    p.set_defaults(run=run)
    return p


def run(args: argparse.Namespace) -> int:
    failures = 0
    for path in collect(args.paths):
        try:
            print(f"ok    {path}  ({validate_file(path)})")
        except ConfigError as exc:
            failures += 1
            print(f"FAIL  {exc}")
    print(f"{failures} invalid" if failures else "all valid")
    return 2 if failures else 0
