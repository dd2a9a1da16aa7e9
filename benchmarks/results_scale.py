"""How `glade flag` grows with a results folder: CPU seconds and peak memory at two sizes, this checkout beside the
code it replaced.

    .venv/bin/python benchmarks/results_scale.py            (115,200 and 460,800 decision rows)
    .venv/bin/python benchmarks/results_scale.py --quick    (38,400 and 153,600 rows; under 2 minutes)

A small results folder is played once by `glade eval` (this checkout; a shipped scenario, councils of stand-in and
random seats: tests/planted.py's random_trader), then tiled into two folders of --factor and 4 x --factor copies of
its seeds (each copy's seeds, episode ids and pair ids renamed; no summary.json, which `glade flag` does not need).
The larger stays under 1,024 seeds: past them the before code's sign-flip test overflowed (eval/fdr.py).
Past 131,072 rows pandas reads a column in more than one Arrow chunk, which is where glade flag used to turn
quadratic (one row subset per flag cost the whole table). Each figure is one `glade flag` run in its own process
(`/usr/bin/time`: user + system CPU seconds and maximum resident set size); "before" is BASELINE unpacked with
`git archive`, "after" this checkout. The headline is the growth of flag's CPU time over 4 x the rows (4.0x is
linear).
"""

from __future__ import annotations

import argparse
import datetime
import os
import platform
import subprocess
import sys
import tempfile
from pathlib import Path

from help_format import DefaultsShown

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "e0acda1"  # the last commit before glade flag read its tables lean and picked examples by position
RECIPE = """\
name: scale
out: {out}
policies:
  rnd: {{kind: python, entry_point: "tests.planted:random_trader", kwargs: {{seed: 3}}}}
  spec: {{kind: standin, disposition: speculator}}
  panic: {{kind: standin, disposition: panic_seller}}
councils:
  one_rnd: {{focal: {{"*": rnd}}}}
  spec_all: {{focal: {{"*": spec}}}}
  panic_all: {{focal: {{"*": panic}}}}
scenarios: [{scenario}]
seeds: {{start: 0, count: {seeds}}}
turns: {turns}
"""


def play(folder: Path, args: argparse.Namespace) -> None:
    recipe = folder.parent / "scale.yaml"
    recipe.write_text(
        RECIPE.format(out=folder, scenario=args.scenario, seeds=args.seeds, turns=args.turns), encoding="utf-8"
    )
    env = {**os.environ, "PYTHONPATH": str(ROOT), "OMP_NUM_THREADS": "1"}
    done = subprocess.run([sys.executable, "-m", "glade.cli", "eval", str(recipe)], cwd=ROOT, env=env,
                          capture_output=True, text=True)  # fmt: skip
    if done.returncode != 0:
        raise RuntimeError(f"glade eval failed:\n{done.stderr[-2000:]}")


def _renamed(ids, seeds, new_seeds):
    return [f"{i[: len(i) - len(str(s))]}{n}" for i, s, n in zip(ids, seeds, new_seeds)]


def tile(base: Path, into: Path, copies: int) -> int:
    """`copies` copies of base's seeds in `into`'s tables (the recipe beside them); the decision rows written."""
    import pandas as pd

    into.mkdir(parents=True)
    (into / "recipe.yaml").write_text((base / "recipe.yaml").read_text(encoding="utf-8"), encoding="utf-8")
    rows = 0
    for name in ("decisions.parquet", "episodes.parquet"):
        table = pd.read_parquet(base / name)
        span = int(table["seed"].max()) + 1
        parts = []
        for k in range(copies):
            seeds = table["seed"] + k * span
            parts.append(
                table.assign(
                    episode_id=_renamed(table["episode_id"], table["seed"], seeds),
                    pair_id=_renamed(table["pair_id"], table["seed"], seeds),
                    seed=seeds,
                )
            )
        whole = pd.concat(parts, ignore_index=True)
        whole.to_parquet(into / name, index=False)
        rows = len(whole) if name == "decisions.parquet" else rows
    return rows


def flag_run(tree: Path, folder: Path) -> tuple[float, float]:
    """(CPU seconds, peak RSS in MB) of `glade flag FOLDER` run by the glade in `tree`."""
    for name in ("flags.json", "flags.md"):
        (folder / name).unlink(missing_ok=True)
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1"}
    command = ["/usr/bin/time", "-f", "TIME %U %S %M", sys.executable, "-m", "glade.cli", "flag", str(folder)]
    command += ["--top", "0"]
    done = subprocess.run(command, cwd=tree, env=env, capture_output=True, text=True)  # -m: the cwd's glade comes first
    if done.returncode != 0:
        raise RuntimeError(f"glade flag ({tree}) failed:\n{done.stderr[-2000:]}")
    user, system, kb = done.stderr.strip().splitlines()[-1].split()[1:]
    return float(user) + float(system), int(kb) / 1024


def unpack(rev: str, into: Path) -> str | None:
    """`git archive REV` of this repository into `into`; None when done, else why not."""
    try:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, capture_output=True, check=True)
    except (subprocess.CalledProcessError, OSError) as exc:
        return f"git archive {rev} failed: {exc}"
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=DefaultsShown)
    p.add_argument("--quick", action="store_true", help="the smaller sizes (under 2 minutes)")
    p.add_argument("--scenario", default="gambit_rumour", help="the shipped scenario played")
    p.add_argument("--seeds", type=int, default=8, help="seeds played by glade eval before tiling")
    p.add_argument("--turns", type=int, default=None, help="turns a world (20 with --quick, else 40)")
    p.add_argument(
        "--factor", type=int, default=None, help="copies of the seeds in the smaller folder (the larger: 4x)"
    )
    p.add_argument("--baseline", default=BASELINE, metavar="REV", help="the before code")
    p.add_argument("--no-baseline", action="store_true", help="measure this checkout only")
    args = p.parse_args(argv)
    for name in ("seeds", "turns", "factor"):
        if getattr(args, name) is not None and getattr(args, name) < 1:
            p.error(f"--{name}: must be at least 1")
    # B under 1,024 seeds: the before code's sign-flip test overflowed past them
    factor = args.factor or (16 if args.quick else 24)
    args.turns = args.turns or (20 if args.quick else 40)
    with tempfile.TemporaryDirectory(prefix="results_scale_") as tmp:
        tmp = Path(tmp)
        play(tmp / "base", args)
        trees = {"after": ROOT}
        if not args.no_baseline:
            (tmp / "before").mkdir()
            if why := unpack(args.baseline, tmp / "before"):
                print(f"baseline skipped: {why}")
            else:
                trees = {"before": tmp / "before", **trees}
        sizes = {}
        for label, copies in (("A", factor), ("B", 4 * factor)):
            sizes[label] = tile(tmp / "base", tmp / label, copies)
        figures = {(who, size): flag_run(tree, tmp / size) for size in sizes for who, tree in trees.items()}
    today = datetime.date.today().isoformat()
    print(f"glade flag at two sizes, {today}, {platform.machine()}, Python {platform.python_version()}")
    print(f"{'size':<6}{'decision rows':>14}" + "".join(f"{w + ' CPU s':>14}{w + ' RSS MB':>14}" for w in trees))
    for size, rows in sizes.items():
        cells = "".join(f"{figures[w, size][0]:>14.1f}{figures[w, size][1]:>14.0f}" for w in trees)
        print(f"{size:<6}{rows:>14,}{cells}")
    growth = {w: figures[w, "B"][0] / figures[w, "A"][0] for w in trees}
    memory = ", ".join(f"{w} {figures[w, 'B'][1]:.0f} MB" for w in trees)
    said = ", ".join(f"{w} {g:.1f}x" for w, g in growth.items())
    print(
        f"flag CPU over 4x the rows ({sizes['A']:,} -> {sizes['B']:,}; 4.0x is linear): {said}; peak RSS at B: {memory}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
