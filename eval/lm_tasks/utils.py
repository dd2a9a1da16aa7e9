"""The hooks of glade's lm-eval tasks (the YAMLs beside this file), as lm-eval's own tasks
are written: `!function utils.NAME` names a function here.

Documents: `glade lm-eval` writes the held-out states as JSONL into one folder at run
time and passes that folder to lm-eval as task metadata (`glade_docs`); the two loaders
read it. Scoring:

glade_decision_gen: the model answers one rendered turn; the completion is parsed exactly as
the Wood parses it (`glade.env.protocol.parse` against the stored observation) and scored
by `glade.eval.scoring.score`:
  valid_json         1 if the completion holds a JSON object the parser could read
  valid_action       1 if the parser refused or dropped nothing (no named error); an order whose
                     quantity it cut to what is held or affordable still counts
  standin_agreement  share of goods on which the executed action takes the stand-in's side
                     (buy / sell / none). A completion the parser cannot use executes as a hold
                     (as in the Wood), so an empty or garbage answer still agrees on every good
                     the stand-in holds: read it beside valid_action and beside the empty-answer
                     baseline `glade lm-eval` reports
                     (results.json: baselines.glade_decision_gen.empty_answer)
  self_buy           1 if the parsed action buys a good the creature makes (lower is better)
glade_direction_mc: buy / sell / hold for one named good, scored by log-likelihood of the
continuation " buy" / " sell" / " hold" after the assistant turn's "Answer:" (one token each
for the tiny tokenizer, so no choice pays for extra tokens; see the YAML):
  acc                1 if the most likely choice is the stand-in's direction
  acc_norm           the same with each choice's log-likelihood divided by its length in
                     characters, as lm-eval's own acc_norm (lm_eval.api.task.ConfigurableTask
                     .process_results). With one token a choice this only re-weights them by
                     spelling ("buy" 3 characters, "sell" and "hold" 4); acc is the one to read
  gold_prob          the gold choice's probability among the three (softmax of the summed
                     log-likelihoods): a continuous score that moves with any change of the model
Neither acc nor acc_norm means much alone: read them against the constant-answer baselines
(`gold_shares`: the share of documents whose gold is each choice), which `glade lm-eval`
reports beside them (results.json: baselines.glade_direction_mc).
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
            f"{task}: no documents; run it through `glade lm-eval` (it writes them and sets metadata {DOCS}), "
            f'or, with documents glade lm-eval wrote, pass lm_eval --metadata \'{{"{DOCS}": "CHECKPOINT/lm_eval/docs"}}\' '
            "and --apply_chat_template (without it the model reads its prompts as plain text)"
        )
    return DatasetDict({"train": load_dataset("json", data_files=str(Path(folder) / f"{task}.jsonl"), split="train")})


def decision_docs(**metadata):
    return _docs(metadata.get(DOCS, ""), GEN_TASK)


def direction_docs(**metadata):
    return _docs(metadata.get(DOCS, ""), MC_TASK)


GEN_METRICS = ("valid_json", "valid_action", "standin_agreement", "self_buy")


def score_completion(text: str, observation: dict, standin_action: dict) -> dict[str, float]:
    """One completion -> {valid_json, valid_action, standin_agreement, self_buy}, each in [0, 1]."""
    from glade.env.protocol import parse
    from glade.eval.scoring import score

    parsed = parse(text, observation)
    scores = score(parsed.action, parsed.error, observation, standin_action)
    return {k: scores[k] for k in GEN_METRICS}


def process_decision(doc: dict, results: list) -> dict[str, float]:
    """`process_results` of glade_decision_gen: `results` is [completion]."""
    text = results[0] if results else ""
    return score_completion(text, json.loads(doc["observation"]), json.loads(doc["standin_action"]))


def process_direction(doc: dict, results: list) -> dict[str, float]:
    """`process_results` of glade_direction_mc: `results` is [(loglikelihood, is_greedy)]
    per choice, in CHOICES order. (A task's own process_results replaces lm-eval's, so acc_norm
    is computed here as lm-eval computes it: log-likelihood over the choice's length.)"""
    lls = [float(r[0]) if isinstance(r, (tuple, list)) else float(r) for r in results]
    gold = int(doc["gold"])
    top = max(lls)
    weights = [math.exp(ll - top) for ll in lls]
    norm = [ll / len(choice) for ll, choice in zip(lls, CHOICES, strict=True)]
    return {
        "acc": float(max(range(len(lls)), key=lambda i: lls[i]) == gold),
        "acc_norm": float(max(range(len(norm)), key=lambda i: norm[i]) == gold),
        "gold_prob": weights[gold] / sum(weights),
    }


def gold_shares(docs: list[dict]) -> dict[str, float]:
    """The share of these direction documents whose gold is each choice: what answering that
    choice every time scores on acc (and acc_norm)."""
    n = len(docs)
    return {choice: (sum(int(d["gold"]) == i for d in docs) / n if n else 0.0) for i, choice in enumerate(CHOICES)}
