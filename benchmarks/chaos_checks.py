"""What benchmarks/chaos.py checks: after a kill, that the folder is not torn (no listed shard
unreadable or holding unlisted episodes, no final checkpoint without meta.json); when a job
ends, that its rows, metrics and weights equal the uninterrupted run's."""

from __future__ import annotations

import json
from pathlib import Path

from chaos_procs import Job


def torn(job: Job, folder: Path) -> int:
    """Listed shards that cannot be read or hold unlisted episodes; final checkpoints without meta.json."""
    import pyarrow.parquet as pq

    if job.name == "train":
        return sum(1 for p in folder.glob("chaos-lora__*") if not (p / "meta.json").exists())
    progress = folder / "progress.json"
    if not progress.exists():
        return 0
    ledger = json.loads(progress.read_text(encoding="utf-8"))["episodes"]
    parts: dict[int, set] = {}
    for episode, entry in ledger.items():
        parts.setdefault(entry["part"], set()).add(episode)
    patterns = (
        ["data/part-{:05d}.parquet"]
        if job.name == "generate"
        else ["shards/decisions-{:05d}.parquet", "shards/episodes-{:05d}.parquet"]
    )
    bad = 0
    for part, episodes in parts.items():
        for pattern in patterns:
            try:
                table = pq.read_table(folder / pattern.format(part))
                if "episode_id" in table.column_names and set(table["episode_id"].to_pylist()) - episodes:
                    bad += 1
            except Exception:  # any failure to read a listed shard is what this counts
                bad += 1
    return bad


def frame(path: Path, drop=()):
    import pandas as pd

    table = pd.read_parquet(path).drop(columns=[c for c in drop if c], errors="ignore")
    keys = [c for c in ("episode_id", "turn", "creature") if c in table]
    return table.sort_values(keys).reset_index(drop=True), keys


def same_rows(job: Job, name: str, a: Path, b: Path, drop=()) -> None:
    fa, keys = frame(a, drop)
    fb, _ = frame(b, drop)
    if fa.duplicated(keys).any():
        job.mismatches.append(f"{name}: rows counted twice")
    if not fa.equals(fb):
        job.mismatches.append(f"{name}: differs from the uninterrupted run ({len(fa)} vs {len(fb)} rows)")


def compare(job: Job, work: Path) -> None:
    chaos_dir, ref = work / "chaos" / job.name, work / "ref" / job.name
    if job.name == "generate":
        same_rows(job, "traces", chaos_dir / "data", ref / "data", drop=("latency_s",))
    elif job.name == "eval":
        for table in ("decisions.parquet", "episodes.parquet"):
            same_rows(job, table, chaos_dir / table, ref / table)
        a, b = (json.loads((d / "summary.json").read_text(encoding="utf-8")) for d in (chaos_dir, ref))
        for key in ("decision", "outcome", "table", "faults", "worlds", "decisions"):
            if a.get(key) != b.get(key):
                job.mismatches.append(f"summary.json {key}: differs")
    else:
        found = sorted(chaos_dir.glob("chaos-lora__*"))
        [reference] = sorted(ref.glob("chaos-lora__*"))
        if len(found) != 1 or list(chaos_dir.glob(".*.partial")):
            job.mismatches.append(
                f"{len(found)} final checkpoints (and a partial left: {list(chaos_dir.glob('.*.partial'))})"
            )
        if not found:
            return
        for split in ("train", "eval"):
            same_rows(
                job,
                f"SFT {split} split",
                found[-1] / "data" / f"{split}.parquet",
                reference / "data" / f"{split}.parquet",
            )
        from safetensors.numpy import load_file

        wa, wb = (load_file(str(d / "adapter_model.safetensors")) for d in (found[-1], reference))
        differ = [k for k in wb if k not in wa or not (wa[k] == wb[k]).all()]
        if differ or set(wa) != set(wb):
            job.mismatches.append(f"adapter weights: {len(differ)} of {len(wb)} tensors differ")
        ma, mb = (json.loads((d / "meta.json").read_text(encoding="utf-8")) for d in (found[-1], reference))
        for key in sorted(set(ma["metrics"]) | set(mb["metrics"])):
            if ma["metrics"].get(key) != mb["metrics"].get(key):
                job.mismatches.append(f"metric {key}: {ma['metrics'].get(key)} vs {mb['metrics'].get(key)}")
        if ma["data_fingerprint"] != mb["data_fingerprint"]:
            job.mismatches.append("data fingerprint differs")
