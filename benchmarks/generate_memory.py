"""How much memory `glade generate` holds: this checkout beside the code it replaced, on stand-in seats.

    .venv/bin/python benchmarks/generate_memory.py            (16x500, 4x2000, 16x2000: about 8 minutes)
    .venv/bin/python benchmarks/generate_memory.py --quick    (16x300: well under 2 minutes; headline last)

Each run is `glade generate` of the default scenario's stand-in council (the recipe of the audit that
found the cost: `scenarios: [default]`, `councils: {scenario: {}}`, seeds 0.. as many as `worlds`, one
batch of `worlds` episodes in lockstep, `turns` each), in its own subprocess that imports glade from its
tree, with OMP_NUM_THREADS=1. Its figure is the process's peak resident set (VmHWM), and per
world-turn that peak less the same tree's floor (the same worlds playing 1 turn: the imports and the
scenario), over the world-turns played. "before" is the code of BASELINE, the commit before the shards
were packed as they play (glade.shard_spool), unpacked from git (`git archive`) into a temporary folder;
"after" is this checkout. The two runs of each size write their shards side by side, and the benchmark
checks they hold the same rows in the same order under the same schema and metadata, and that both
progress.json ledgers list the same episodes.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import shlex
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from help_format import DefaultsShown

ROOT = Path(__file__).resolve().parent.parent
BASELINE = "e0acda1"  # the last commit that held a batch's rows as dicts until its shard was written
SIZES = ((16, 500), (4, 2000), (16, 2000))
QUICK = ((16, 300),)


def worker(tree: str, out: str, worlds: int, turns: int) -> int:
    """Run one generate in this process (glade imported from `tree`); print its peak RSS as JSON."""
    sys.path.insert(0, tree)
    from glade.config import Seeds
    from glade.traces import GenerateRecipe, generate

    recipe = GenerateRecipe(
        out=out, scenarios=("default",), seeds=Seeds(start=0, count=worlds), turns=turns, worlds=worlds
    )
    started = time.perf_counter()
    generate(recipe)
    seconds = time.perf_counter() - started
    print(json.dumps({"peak_mb": peak_kb() / 1024, "seconds": seconds}))
    return 0


def peak_kb() -> int:
    """This process's peak resident set in KiB: VmHWM, not ru_maxrss, which Linux carries over an exec
    from the process forked (here the benchmark itself, after it read the shards of the size before)."""
    status = Path("/proc/self/status")
    if status.exists():
        for line in status.read_text(encoding="utf-8").splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss  # KiB on Linux; bytes on macOS


def run(tree: Path, out: Path, worlds: int, turns: int) -> dict:
    command = [sys.executable, __file__, "--worker", str(tree), str(out), str(worlds), str(turns)]
    env = {**os.environ, "PYTHONPATH": str(tree), "OMP_NUM_THREADS": "1", "HF_DATASETS_OFFLINE": "1"}
    done = subprocess.run(command, capture_output=True, text=True, env=env)
    if done.returncode != 0:
        raise RuntimeError(f"generate in {tree} failed:\n{done.stderr[-2000:]}")
    return json.loads(done.stdout.strip().splitlines()[-1])


def same_shards(a: Path, b: Path) -> str:
    """'same' when two generate folders hold equal shards (rows, order, schema with metadata) and ledgers."""
    import pyarrow.parquet as pq

    files = sorted(p.name for p in (a / "data").glob("*.parquet"))
    if files != sorted(p.name for p in (b / "data").glob("*.parquet")):
        return "DIFFERENT shard files"
    for name in files:
        x, y = pq.read_table(a / "data" / name), pq.read_table(b / "data" / name)
        if not x.schema.equals(y.schema, check_metadata=True):
            return f"DIFFERENT schema in {name}"
        if not x.equals(y):
            return f"DIFFERENT rows in {name}"
    ledgers = [json.loads((f / "progress.json").read_text(encoding="utf-8"))["episodes"] for f in (a, b)]
    return "same" if ledgers[0] == ledgers[1] else "DIFFERENT progress.json episodes"


def unpack(rev: str, into: Path) -> str | None:
    """`git archive REV` of this repository into `into`; None when done, else why not."""
    try:
        archive = subprocess.run(["git", "-C", str(ROOT), "archive", rev], capture_output=True, check=True)
        subprocess.run(["tar", "-x", "-C", str(into)], input=archive.stdout, capture_output=True, check=True)
    except subprocess.CalledProcessError as exc:
        detail = (exc.stderr or b"").decode(errors="replace").strip().splitlines()
        return f"git archive {rev} failed: {detail[0] if detail else exc}"
    except OSError as exc:
        return f"git archive {rev} failed: {exc}"
    return None


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0], formatter_class=DefaultsShown)
    p.add_argument("--quick", action="store_true", help="one size, 16 worlds x 300 turns: well under 2 minutes")
    p.add_argument("--baseline", default=BASELINE, metavar="REV", help=f"the before code (default {BASELINE})")
    p.add_argument("--no-baseline", action="store_true", help="measure this checkout only")
    p.add_argument("--worker", nargs=4, metavar=("TREE", "OUT", "WORLDS", "TURNS"), help=argparse.SUPPRESS)
    args = p.parse_args(argv)
    if args.worker:
        tree, out, worlds, turns = args.worker
        return worker(tree, out, int(worlds), int(turns))

    sizes = QUICK if args.quick else SIZES
    with tempfile.TemporaryDirectory(prefix="glade-bench-genmem-") as tmp:
        (Path(tmp) / "before").mkdir()
        why_not = "--no-baseline" if args.no_baseline else unpack(args.baseline, Path(tmp) / "before")
        trees = {"after": ROOT} if why_not else {"before": Path(tmp) / "before", "after": ROOT}
        floors = {name: run(tree, Path(tmp) / f"{name}-floor", 16, 1)["peak_mb"] for name, tree in trees.items()}
        rows = []
        for worlds, turns in sizes:
            got = {
                name: run(tree, Path(tmp) / f"{name}-{worlds}x{turns}", worlds, turns) for name, tree in trees.items()
            }
            for name, g in got.items():
                g["per_wt_kb"] = (g["peak_mb"] - floors[name]) * 1024 / (worlds * turns)
            check = same_shards(*(Path(tmp) / f"{n}-{worlds}x{turns}" for n in trees)) if len(trees) == 2 else "-"
            rows.append((worlds, turns, got, check))
    report(args, trees, why_not, floors, rows)
    return 0


def report(args, trees: dict, why_not: str | None, floors: dict, rows: list) -> None:
    print("glade generate memory (stand-in seats, default scenario, one batch of `worlds` episodes)")
    print(f"  command   {shlex.join([Path(sys.executable).name, *sys.argv])}")
    print(f"  date      {datetime.datetime.now().astimezone().isoformat(timespec='seconds')}")
    print(f"  python    {platform.python_version()}   machine {platform.machine()}   nproc {os.cpu_count()}")
    print(f"  before    {'not measured: ' + why_not if why_not else args.baseline + ' (git archive)'}")
    print("  after     this checkout")
    print("  floor     " + ", ".join(f"{n} {floors[n]:,.0f} MB (16 worlds x 1 turn)" for n in trees))
    print()
    print(
        f"  {'worlds x turns':<15} {'before peak':>12} {'after peak':>11} {'ratio':>6}  {'KB/world-turn':>18}  shards"
    )
    for worlds, turns, got, check in rows:
        b, a = got.get("before"), got["after"]
        was = f"{b['peak_mb']:,.0f} MB" if b else "-"
        per = f"{b['per_wt_kb']:.1f} -> {a['per_wt_kb']:.1f}" if b else f"{a['per_wt_kb']:.1f}"
        ratio = f"{a['peak_mb'] / b['peak_mb']:.2f}" if b else "-"
        print(f"  {f'{worlds} x {turns}':<15} {was:>12} {a['peak_mb']:>8,.0f} MB {ratio:>6}  {per:>18}  {check}")
    print()
    worlds, turns, got, _ = rows[-1]
    b, a = got.get("before"), got["after"]
    old = f"old {b['per_wt_kb']:.1f} KB ({b['peak_mb']:,.0f} MB peak), " if b else ""
    print(
        f"headline, peak RSS per world-turn above the floor at {worlds}x{turns}: "
        f"{old}new {a['per_wt_kb']:.1f} KB ({a['peak_mb']:,.0f} MB peak)"
    )


if __name__ == "__main__":
    sys.exit(main())
