"""The hooks of glade's lm-eval tasks (the YAMLs beside this file), as lm-eval's own tasks
are written: `!function utils.NAME` names a function here.

Documents: `glade lm-eval` writes the held-out states as JSONL into one folder at run
time and passes that folder to lm-eval as task metadata (`glade_docs`); the two loaders
read it. Scoring:

glade_decision_gen: the model answers one rendered turn; the completion is parsed exactly as
the Wood parses it (`glade.env.protocol.parse` against the stored observation) and scored
by `glade.eval.scoring.score`:
  valid_json         1 if the completion holds a JSON object the parser could read
  standin_agreement  share of goods on which the parsed action takes the stand-in's side
                     (buy / sell / none)
  self_buy           1 if the parsed action buys a good the creature makes (lower is better)
glade_direction_mc: buy / sell / hold for one named good, scored by log-likelihood:
  acc                1 if the most likely choice is the stand-in's direction
  gold_prob          the gold choice's probability among the three (softmax of the summed
                     log-likelihoods): a continuous score that moves with any change of the model
"""

from __future__ import annotations

import json
import math
from pathlib import Path

GEN_TASK = "glade_decision_gen"
MC_TASK = "glade_direction_mc"
CHOICES = ("buy", "sell", "hold")  # the MC task's choices; "hold" is scoring's "none"
DOCS = "glade_docs"  # the metadata key naming the folder of <task>.jsonl documents


def _docs(folder: str, task: str):
    from datasets import DatasetDict, load_dataset

    if not folder:
        raise ValueError(
            f"{task}: no documents; run it through `glade lm-eval` (it writes them and sets metadata {DOCS})"
        )
    return DatasetDict({"train": load_dataset("json", data_files=str(Path(folder) / f"{task}.jsonl"), split="train")})


def decision_docs(**metadata):
    return _docs(metadata.get(DOCS, ""), GEN_TASK)


def direction_docs(**metadata):
    return _docs(metadata.get(DOCS, ""), MC_TASK)


def score_completion(text: str, observation: dict, standin_action: dict) -> dict[str, float]:
    """One completion -> {valid_json, standin_agreement, self_buy}, each in [0, 1]."""
    from glade.env.protocol import parse
    from glade.eval.scoring import score

    parsed = parse(text, observation)
    scores = score(parsed.action, parsed.error, observation, standin_action)
    return {k: scores[k] for k in ("valid_json", "standin_agreement", "self_buy")}


def process_decision(doc: dict, results: list) -> dict[str, float]:
    """`process_results` of glade_decision_gen: `results` is [completion]."""
    text = results[0] if results else ""
    return score_completion(text, json.loads(doc["observation"]), json.loads(doc["standin_action"]))


def process_direction(doc: dict, results: list) -> dict[str, float]:
    """`process_results` of glade_direction_mc: `results` is [(loglikelihood, is_greedy)]
    per choice, in CHOICES order."""
    lls = [float(r[0]) if isinstance(r, (tuple, list)) else float(r) for r in results]
    gold = int(doc["gold"])
    top = max(lls)
    weights = [math.exp(ll - top) for ll in lls]
    return {
        "acc": float(max(range(len(lls)), key=lambda i: lls[i]) == gold),
        "gold_prob": weights[gold] / sum(weights),
    }
