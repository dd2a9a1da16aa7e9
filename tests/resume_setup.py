"""Set-ups the resume and seat-fault tests share: small generate and eval recipes, a folder's
files and rows, and a run interrupted at its second batch."""

from __future__ import annotations

import pandas as pd
import yaml


def generate_recipe(tmp_path, **changes):
    data = {
        "out": str(tmp_path / "traces"),
        "scenarios": ["default"],
        "councils": {"scenario": {}, "hoarders": {"*": "hoarder"}},
        "seeds": {"start": 0, "count": 3},
        "turns": 3,
        "worlds": 2,
    }
    return written(tmp_path / "generate.yaml", data | changes)


def eval_recipe(tmp_path, **changes):
    data = {
        "name": "t",
        "out": str(tmp_path / "results"),
        "policies": {"panic": "panic_seller"},
        "councils": {"all_panic": {"focal": {"*": "panic"}}},
        "scenarios": ["gambit_override"],
        "seeds": {"start": 0, "count": 3},
        "turns": 6,
        "worlds": 2,
    }
    return written(tmp_path / "eval.yaml", data | changes)


def written(path, data: dict):
    path.write_text(yaml.safe_dump(data))
    return path


def files(folder):
    return {p.relative_to(folder).as_posix(): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def rows(folder):
    return pd.read_parquet(folder / "data").sort_values(["episode_id", "turn", "creature"]).reset_index(drop=True)


def interrupt_second_batch(monkeypatch, module):
    real, calls = module.run_lockstep, []

    def dies(specs, **kw):
        calls.append(1)
        if len(calls) == 2:
            raise KeyboardInterrupt
        return real(specs, **kw)

    monkeypatch.setattr(module, "run_lockstep", dies)
    return lambda: monkeypatch.setattr(module, "run_lockstep", real)
