"""After training: answer held-out states by generation, through the checkpoint's own seat.

The checkpoint is loaded exactly as a council would seat it (`{kind: checkpoint}`), so
these figures describe what an evaluation will meet: how often the answer is valid JSON,
how often the parsed action is valid as given, how often it agrees with the stand-in on
each good's direction, and how often it buys what the creature makes (glade.eval.scoring).
"""

from __future__ import annotations

import json
from pathlib import Path

from glade.eval.scoring import score
from glade.seats import load


def evaluate_checkpoint(folder: Path, rows, spec) -> dict:
    sample = rows.shuffle(seed=0).select(range(min(spec.states, len(rows))))
    observations = [json.loads(o) for o in sample["observation"]]
    policy = load(
        {
            "kind": "checkpoint",
            "path": str(folder),
            "max_new_tokens": spec.max_new_tokens,
            "batch_size": spec.batch_size,
        }
    )
    decisions = policy.act(observations)
    scores = [
        score(d.action, d.error, obs, json.loads(reference))
        for obs, d, reference in zip(observations, decisions, sample["standin_action"], strict=True)
    ]
    n = len(scores)
    return {
        "heldout_states": n,
        "valid_json_rate": sum(s["valid_json"] for s in scores) / n,
        "valid_action_rate": sum(s["valid_action"] for s in scores) / n,
        "standin_agreement": sum(s["standin_agreement"] for s in scores) / n,
        "self_buy_rate": sum(s["self_buy"] for s in scores) / n,
    }
