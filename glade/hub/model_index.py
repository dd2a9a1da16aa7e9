"""The model-index of an exported creature checkpoint: the Hub's EvalResult entries for its
held-out figures, its lm-eval results and what a council evaluation says about it (outcome
effects, leaderboard rank, flag counts). The card's prose is in model_card.py."""

from __future__ import annotations

import json
import re
from pathlib import Path

from glade.eval.flags import load_flags

from .cards import REPO_ID

HELDOUT = "glade Wood held-out states"
HELDOUT_METRICS = (
    "valid_json_rate",
    "valid_action_rate",
    "standin_agreement",
    "direction_agreement",
    "self_buy_rate",
    "fall_talk_sell_rate",
    # the same held-out states answered with structured decoding (glade.train.evaluate)
    "structured_valid_action_rate",
    "structured_direction_agreement",
    "structured_self_buy_rate",
    "eval_loss",
)


def hub_id(value) -> str | None:
    """`value` if it reads as a Hub repo id (OWNER/NAME, not a local path), else None."""
    if isinstance(value, str) and REPO_ID.match(value) and not Path(value).exists():
        return value
    return None


def lm_eval_results(checkpoint: Path, model_name: str) -> list:
    """EvalResult entries for CHECKPOINT/lm_eval/results.json (lm-eval's results dict)."""
    from huggingface_hub import EvalResult

    path = Path(checkpoint) / "lm_eval" / "results.json"
    if not path.exists():
        return []
    results = json.loads(path.read_text()).get("results", {})
    out = []
    for task, values in sorted(results.items()):
        for key, value in sorted(values.items()):
            metric, _, filt = key.partition(",")
            if "_stderr" in metric or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            out.append(
                EvalResult(
                    task_type="text-generation",
                    task_name=task,
                    dataset_type=f"lm-eval/{task}",
                    dataset_name=task,
                    metric_type=metric,
                    metric_name=f"{metric} ({filt})" if filt and filt != "none" else metric,
                    metric_value=float(value),
                )
            )
    return out


def council_for(checkpoint: Path, results: str | Path) -> dict:
    """What a council evaluation says about this checkpoint: its seats, their councils, the
    outcome effects of those councils and their flags (best first)."""
    results = Path(results)
    if not (results / "summary.json").exists():
        raise ValueError(f"--council {results}: no summary.json (run glade eval first)")
    summary = json.loads((results / "summary.json").read_text())
    name = Path(checkpoint).resolve().name
    seats, councils = set(), set()
    for row in summary.get("decision", []):
        if any(re.split(r"[:+]", identity)[-1] == name for identity in row.get("policy_identity", [])):
            seats.add(row["policy"])
            councils.add(row["council"])
    if not seats:
        raise ValueError(
            f"--council {results}: no seat of this evaluation ran {name} (policies: {', '.join(summary.get('policies', []))})"
        )
    outcome = [o for o in summary.get("outcome", []) if o["council"] in councils]
    flags = load_flags(results / "flags.json")["flags"] if (results / "flags.json").exists() else None
    if flags is not None:
        flags = [
            f
            for f in flags
            if (f["kind"] == "decision" and f.get("policy") in seats)
            or (f["kind"] != "decision" and f["council"] in councils)
        ]
    return {
        "recipe": summary.get("recipe", results.name),
        "seats": sorted(seats),
        "councils": sorted(councils),
        "outcome": outcome,
        "flags": flags,
        "rank": rank_for(results, name),
    }


def rank_for(results: Path, name: str) -> dict | None:
    """This checkpoint's row of RESULTS/rank.json (`glade rank`), with the board's size and
    what was compared; None when there is no leaderboard or it is not on it."""
    from glade.eval.rank import entry_of

    path = results / "rank.json"
    if not path.exists():
        return None
    board = json.loads(path.read_text())
    row = entry_of(board, name)
    if row is None:
        return None
    return {**row, "of": len(board["board"]), "outcome": board["outcome"], "level": board["level"]}


def eval_results(meta: dict, checkpoint: Path, model_name: str, council: dict | None) -> list:
    from huggingface_hub import EvalResult

    metrics = meta.get("metrics", {})
    found = [
        EvalResult(
            task_type="text-generation",
            task_name="creature decisions",
            dataset_type="glade/wood-heldout",
            dataset_name=HELDOUT,
            dataset_split="heldout",
            metric_type=key,
            metric_name=key,
            metric_value=float(metrics[key]),
        )
        for key in HELDOUT_METRICS
        if isinstance(metrics.get(key), (int, float))
    ]
    found += lm_eval_results(checkpoint, model_name)
    if council:
        for o in council["outcome"]:
            for figure, values in sorted(o.get("figures", {}).items()):
                effect = (values.get("effect") or {}).get("mean")
                if isinstance(effect, (int, float)):
                    found.append(
                        EvalResult(
                            task_type="text-generation",
                            task_name="council outcome effect vs the stand-in world",
                            dataset_type="glade/council",
                            dataset_name=council["recipe"],
                            dataset_config=o["scenario"],
                            dataset_split=o["council"],
                            metric_type=f"{figure}_effect",
                            metric_name=f"{figure} effect",
                            metric_value=float(effect),
                        )
                    )
        if council.get("rank"):
            found.append(
                EvalResult(
                    task_type="text-generation",
                    task_name=f"leaderboard ({council['rank']['outcome']} comparisons, Bradley-Terry)",
                    dataset_type="glade/council",
                    dataset_name=council["recipe"],
                    metric_type="bradley_terry_strength",
                    metric_name=f"strength (rank {council['rank']['rank']} of {council['rank']['of']})",
                    metric_value=float(council["rank"]["strength"]),
                )
            )
        if council["flags"] is not None:
            for kind in ("decision", "outcome"):
                found.append(
                    EvalResult(
                        task_type="text-generation",
                        task_name="flags vs the stand-in",
                        dataset_type="glade/council",
                        dataset_name=council["recipe"],
                        metric_type=f"{kind}_flags",
                        metric_name=f"{kind} flags",
                        metric_value=sum(1 for f in council["flags"] if f["kind"] == kind),
                    )
                )
    return found
