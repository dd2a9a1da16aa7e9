"""The scoring hooks of glade's lm-eval tasks (`glade lm-eval`).

lm-eval resolves `!function NAME.fn` in a task YAML to `NAME.py` next to that YAML, so
`glade.eval.harness.build_tasks` writes a one-line shim `glade_hooks.py` beside the YAMLs
that re-exports these functions; the logic lives (and is tested) here.

glade_decision_gen: the model answers one rendered turn; the completion is parsed exactly as
the Wood parses it (`glade.env.protocol.parse` against the stored observation) and scored:
  valid_json       1 if the completion holds a JSON object the parser could read
  standin_agreement  share of goods on which the parsed action takes the stand-in's side
                   (buy / sell / none), as in `glade.eval.agreement.direction_agreement`
  self_buy         1 if the parsed action buys a good the creature makes (lower is better)
glade_direction_mc: buy / sell / hold for one named good, scored by log-likelihood:
  acc              1 if the most likely choice is the stand-in's direction
  gold_prob        the gold choice's probability among the three (softmax of the summed
                   log-likelihoods): a continuous score that moves with any change of the model
"""

from __future__ import annotations

import json
import math

# Errors meaning "no readable JSON object" (train/evaluate.py uses the same set).
JSON_ERRORS = frozenset({"empty", "no_json", "bad_json", "not_object", "parser_fault"})
CHOICES = ("buy", "sell", "hold")  # the MC task's choices; "hold" is agreement's "none"


def score_completion(text: str, observation: dict, standin_action: dict) -> dict[str, float]:
    """One completion -> {valid_json, standin_agreement, self_buy}, each in [0, 1]."""
    from glade.env.protocol import parse
    from glade.eval.agreement import direction_agreement

    parsed = parse(text, observation)
    goods = list(observation["inventory"])
    action = parsed.action
    self_buy = any(o["side"] == "buy" and observation["produces"].get(o["good"]) for o in action["orders"])
    return {
        "valid_json": float(parsed.error not in JSON_ERRORS),
        "standin_agreement": float(direction_agreement(action, standin_action, goods)),
        "self_buy": float(self_buy),
    }


def process_decision(doc: dict, results: list) -> dict[str, float]:
    """lm-eval `process_results` of glade_decision_gen: `results` is [completion]."""
    text = results[0] if results else ""
    return score_completion(text, json.loads(doc["observation"]), json.loads(doc["standin_action"]))


def process_direction(doc: dict, results: list) -> dict[str, float]:
    """lm-eval `process_results` of glade_direction_mc: `results` is [(loglikelihood, is_greedy)]
    per choice, in CHOICES order."""
    lls = [float(r[0]) if isinstance(r, (tuple, list)) else float(r) for r in results]
    gold = int(doc["gold"])
    top = max(lls)
    weights = [math.exp(ll - top) for ll in lls]
    return {
        "acc": float(max(range(len(lls)), key=lambda i: lls[i]) == gold),
        "gold_prob": weights[gold] / sum(weights),
    }

