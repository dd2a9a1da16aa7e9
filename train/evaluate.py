"""After training: answer held-out states by generation, through the checkpoint's own seat.

The checkpoint is loaded exactly as a council would seat it (`{kind: checkpoint}`), so
these figures describe what an evaluation will meet: how often the answer is valid JSON,
how often the parsed action is valid as given, how often it agrees with the stand-in on
each good's direction, and how often it buys what the creature makes.
"""

from __future__ import annotations

import json
from pathlib import Path

from glade.eval.agreement import direction_agreement
from glade.policies import load

JSON_ERRORS = {"empty", "no_json", "bad_json", "not_object", "parser_fault"}


def evaluate_checkpoint(folder: Path, rows, spec) -> dict:
    sample = rows.shuffle(seed=0).select(range(min(spec.states, len(rows))))
    observations = [json.loads(o) for o in sample["observation"]]
    policy = load({"kind": "checkpoint", "path": str(folder), "max_new_tokens": spec.max_new_tokens, "batch_size": spec.batch_size})
    decisions = policy.act(observations)
    n = len(decisions)
    agree = self_buys = 0.0
    for obs, d, reference in zip(observations, decisions, sample["standin_action"], strict=True):
        goods = list(obs["inventory"])
        agree += direction_agreement(d.action, json.loads(reference), goods)
        self_buys += any(o["side"] == "buy" and obs["produces"][o["good"]] for o in d.action["orders"])
    return {
        "heldout_states": n,
        "valid_json_rate": sum(d.error not in JSON_ERRORS for d in decisions) / n,
        "valid_action_rate": sum(d.error is None for d in decisions) / n,
        "standin_agreement": agree / n,
        "self_buy_rate": self_buys / n,
    }
