"""After training: answer held-out states by generation, through the checkpoint's own seat.

The checkpoint is loaded exactly as a council would seat it (`{kind: checkpoint}`), so
these figures describe what an evaluation will meet: how often the answer is valid JSON,
how often the parsed action is valid as given, how often it agrees with the stand-in on
each good's direction, and how often it buys what the creature makes (glade.eval.scoring);
once unconstrained and once with structured decoding.
"""

from __future__ import annotations

import json
from pathlib import Path

from glade.eval.scoring import score
from glade.seats import load


def evaluate_checkpoint(folder: Path, rows, spec) -> dict:
    """The figures unconstrained, then again with each answer held to its state's action
    schema (`structured: true`, keys prefixed `structured_`): an unconstrained model's format
    failures are a divergence of their own, and the second pass shows what the constraint
    leaves of the decisions."""
    sample = rows.shuffle(seed=0).select(range(min(spec.states, len(rows))))
    observations = [json.loads(o) for o in sample["observation"]]
    metrics: dict = {"heldout_states": len(observations)}
    for prefix, structured in (("", False), ("structured_", True)):
        seat = {"kind": "checkpoint", "path": str(folder), "max_new_tokens": spec.max_new_tokens}
        policy = load({**seat, "batch_size": spec.batch_size, "structured": structured})
        decisions = policy.act(observations)
        scores = [
            score(d.action, d.error, obs, json.loads(reference))
            for obs, d, reference in zip(observations, decisions, sample["standin_action"], strict=True)
        ]
        for key, name in SCORES.items():
            metrics[prefix + name] = sum(s[key] for s in scores) / len(scores)
    return metrics


SCORES = {  # glade.eval.scoring's score -> the held-out metric's name
    "valid_json": "valid_json_rate",
    "valid_action": "valid_action_rate",
    "standin_agreement": "standin_agreement",
    "self_buy": "self_buy_rate",
}
