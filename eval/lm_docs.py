"""The documents of glade's two lm-eval tasks (eval/lm_tasks/, run by glade.eval.harness):
held-out states written as JSONL, one seeded shuffle for both tasks, and the baselines a
score is read against (what answers that carry no judgement score on the same documents)."""

from __future__ import annotations

import json
import random
from collections.abc import Iterable, Sequence
from pathlib import Path

from glade.checkpoint import prompt_pair, trained_prompts
from glade.files import atomic
from glade.trace_cells import LM_EVAL_NEEDS

from .lm_tasks.utils import CHOICES, GEN_METRICS, GEN_TASK, MC_TASK, gold_shares, score_completion
from .scoring import directions

GLADE_TASKS = (GEN_TASK, MC_TASK)
# Appended to the rendered turn, which ends "Your action as JSON:": the trained prompt stays
# exact and the question says plainly that a word, not the JSON, answers it.
QUESTION = (
    "\n\nInstead of the JSON, answer one question: this turn, do you buy, sell or hold {good}? "
    "Answer with one word: buy, sell or hold."
)
SHUFFLE_SEED = 0  # the documents' order, so which states a --limit scores


def _direction(action: dict, good: str) -> str:
    side = directions(action, [good])[good]
    return side if side in ("buy", "sell") else "hold"


def write_tasks(rows: Iterable[dict], out_dir: str | Path, limit: int | None = None, seed: int = SHUFFLE_SEED) -> Path:
    """Write both tasks' documents (<task>.jsonl) for these trace rows into OUT_DIR; returns
    the folder (absolute), which the tasks read through the metadata key `glade_docs`.

    A row needs `messages` (system and user; an assistant turn is ignored), `observation`
    and `standin_action` (JSON strings), `episode_id`, `creature`, `turn`. One state per
    distinct prompt; the states are shuffled with `seed` (the decision task's order), and the
    direction documents (one per good of each state) are shuffled with it too, so the first N
    documents of either task are a sample across episodes and turns, the same on every run.
    `limit` keeps the first LIMIT states of that shuffle."""
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    states: list[tuple[dict, str, str]] = []
    seen: set[str] = set()
    for row in rows:
        system, user = prompt_pair(row["messages"])
        key = system + "\x00" + user
        if key in seen:  # one document per distinct prompt
            continue
        seen.add(key)
        states.append((row, system, user))
    if not states:
        raise ValueError("no held-out trace rows to build the lm-eval tasks from")
    random.Random(seed).shuffle(states)
    gen, mc = [], []
    for row, system, user in states[:limit]:
        obs = json.loads(row["observation"])
        standin = json.loads(row["standin_action"])
        base = {"episode_id": row["episode_id"], "creature": row["creature"], "turn": int(row["turn"])}
        gen.append(
            {
                "id": len(gen),
                **base,
                "system": system,
                "user": user,
                "observation": row["observation"],
                "standin_action": row["standin_action"],
            }
        )
        for good in obs["inventory"]:
            mc.append(
                {
                    **base,
                    "good": good,
                    "system": system,
                    "user": user + QUESTION.format(good=good),
                    "answer": _direction(standin, good),
                    "gold": CHOICES.index(_direction(standin, good)),
                }
            )
    random.Random(seed).shuffle(mc)  # so that --limit samples states and goods alike
    for i, doc in enumerate(mc):
        doc["id"] = i
    for name, docs in ((GEN_TASK, gen), (MC_TASK, mc)):
        with atomic(out / f"{name}.jsonl") as tmp:  # whole or not at all; a full disk names the file
            tmp.write_text("".join(json.dumps(doc) + "\n" for doc in docs), encoding="utf-8")
    return out


def read_docs(folder: str | Path, task: str, limit: int | None = None) -> list[dict]:
    """The first LIMIT documents (all without one) of a task `write_tasks` wrote to FOLDER:
    the ones lm-eval scores with that limit."""
    with open(Path(folder) / f"{task}.jsonl", encoding="utf-8") as f:
        docs = [json.loads(line) for line in f if line.strip()]
    return docs[:limit]


def baselines(folder: str | Path, tasks: Sequence[str] = GLADE_TASKS, limit: int | None = None) -> dict:
    """What answers that carry no judgement score on the documents lm-eval scores (the first
    LIMIT of each task in FOLDER), to read the scores against:

    glade_direction_mc  `gold_share`: the share of documents whose gold is each choice, which
                        is the acc of giving that answer every time (the best of them is the
                        best constant answer); `chance` 1/3.
    glade_decision_gen  `empty_answer`: the mean scores of an empty completion. The Wood
                        executes an answer it cannot use as a hold, and so does the scoring, so
                        an empty answer earns standin_agreement wherever the stand-in holds."""
    out: dict[str, dict] = {}
    if MC_TASK in tasks:
        docs = read_docs(folder, MC_TASK, limit)
        shares = gold_shares(docs)
        best = max(CHOICES, key=lambda c: shares[c])
        out[MC_TASK] = {
            "documents": len(docs),
            "gold_share": shares,
            "best_constant": {"answer": best, "acc": shares[best]},
            "chance": 1 / len(CHOICES),
        }
    if GEN_TASK in tasks:
        docs = read_docs(folder, GEN_TASK, limit)
        empty = [score_completion("", json.loads(d["observation"]), json.loads(d["standin_action"])) for d in docs]
        out[GEN_TASK] = {
            "documents": len(docs),
            "empty_answer": {m: (sum(e[m] for e in empty) / len(empty) if empty else 0.0) for m in GEN_METRICS},
        }
    return out


def baseline_text(task: str, found: dict, scores: dict | None = None) -> str:
    """One line of a task's baselines (`baselines`) for the console; given the task's `scores`,
    it says where the model's accuracies fall below the best constant answer."""
    n = found.get("documents", "?")
    if task == MC_TASK:
        shares = ", ".join(f"always {c} {v:.4f}" for c, v in found["gold_share"].items())
        line = f"baselines on the same {n} documents: {shares}; chance {found['chance']:.4f}"
        best = max([*found["gold_share"].values(), found["chance"]])
        below = [k for k in ("acc", "acc_norm") if isinstance((scores or {}).get(k), float) and scores[k] < best]
        if below:  # a model below a constant answer has not learned to tell the directions apart here
            line += f"; {' and '.join(below)} below the best constant answer ({best:.4f})"
        return line
    if task == GEN_TASK:
        empty = found["empty_answer"]
        return (
            f"baseline on the same {n} documents: an empty answer (executed as a hold) scores "
            f"standin_agreement {empty['standin_agreement']:.4f}, valid_action {empty['valid_action']:.4f}"
        )
    return ""


def trace_rows(folders: Sequence[str | Path]) -> list[dict]:
    """Every row of the folders; traces of another prompt protocol are refused, as training refuses
    them: the tasks score the prompts stored in the rows, under this glade's protocol."""
    from glade.traces import load_traces, other_protocol

    rows = load_traces(tuple(str(f) for f in folders), LM_EVAL_NEEDS, "glade lm-eval").to_list()
    for folder in folders:
        if why := other_protocol(folder):
            raise ValueError(
                f"{why}; the tasks would score the prompts stored in its rows, which this glade no longer writes, "
                "as this glade's: generate them again with this glade (`glade generate RECIPE` into a new out) "
                "and pass that folder"
            )
    return rows


def build_tasks(traces_dir: str | Path | Sequence[str | Path], out_dir: str | Path, limit: int | None = None) -> Path:
    """The two tasks from every row of a traces folder (or several) written by `glade generate`."""
    folders = [traces_dir] if isinstance(traces_dir, (str, Path)) else list(traces_dir)
    return write_tasks(trace_rows(folders), out_dir, limit)


def heldout_rows(checkpoint: str | Path) -> tuple[list[dict], dict]:
    """The states `glade train` held out for this checkpoint (its saved split), less those whose
    prompt a training split holds (`trained_prompts`: this checkpoint's and its lineage's; turn-0
    prompts repeat across seeds), as `glade train` leaves them out of its held-out figures; and a
    note of where they came from, the left-out ones counted under `trained_on_left_out`."""
    import pyarrow.parquet as pq

    path = Path(checkpoint) / "data" / "eval.parquet"
    if not path.exists():
        raise ValueError(
            f"{checkpoint}: no held-out split (data/eval.parquet, which glade train saves beside "
            "recipe.yaml); pass --traces DIR"
        )
    # read by pyarrow: datasets' load_dataset would leave an Arrow copy of the split under HF_HOME
    rows = pq.read_table(path).to_pylist()
    if not rows:
        raise ValueError(f"{path}: no held-out states (the recipe's data.eval_share was 0); pass --traces DIR")
    try:
        trained = trained_prompts(checkpoint)
    except ValueError:  # not a checkpoint folder (run_lm_eval refuses one before this): nothing known it saw
        trained = set()
    flags = [bool(trained) and prompt_pair(row["messages"]) in trained for row in rows]
    kept = [row for row, flag in zip(rows, flags) if not flag]
    if not kept:
        raise ValueError(
            f"{path}: every one of its {len(rows):,} held-out states has a prompt of a training split, so none is "
            "held out; pass --traces DIR of seeds its training traces did not use"
        )
    left_out = [row for row, flag in zip(rows, flags) if flag]
    source = {
        "held_out": "the checkpoint's held-out split (data/eval.parquet)",
        "held_out_episodes": len({r["episode_id"] for r in kept}),
        "states": len(kept),
    }
    if left_out:  # a state trained on, even in another episode, is not held out
        source["held_out"] += (
            f"; {len(left_out):,} of its {len(rows):,} states left out: their prompt is in a training split"
        )
        episodes = sorted({r["episode_id"] for r in left_out})
        source["trained_on_left_out"] = {"rows": len(left_out), "of": len(rows), "episodes": episodes}
    return kept, source


def left_out_text(data: dict) -> str | None:
    """The console line of the held-out states `heldout_rows` left out (results.json `data`), or None."""
    found = data.get("trained_on_left_out")
    if not found:
        return None
    return (
        f"{found['rows']:,} of the {found['of']:,} held-out states were left out: their prompt is in a training split "
        "of this checkpoint (or its base), as glade train leaves them out of its held-out figures"
    )


def trained_on(prompts: set[tuple[str, str]], rows: Sequence[dict]) -> dict | None:
    """The `--traces` rows whose prompt the checkpoint was trained on (trained_prompts): the very
    state, in any episode or council. {"rows": n of len(rows), "seeds": their seeds}, or None when
    none is. Scores on them are not held out."""
    shared = [row["seed"] for row in rows if prompt_pair(row["messages"]) in prompts]
    if not shared:
        return None
    return {"rows": len(shared), "of": len(rows), "seeds": sorted(set(shared))}


def given_rows(checkpoint: str | Path, traces) -> tuple[list[dict], dict]:
    """Every row of the `--traces` folder(s), and a note of where they came from, with the rows
    whose prompt the checkpoint was trained on counted (said, not refused: scoring a model on
    what it learned from measures fit, which a person may want)."""
    folders = [traces] if isinstance(traces, (str, Path)) else list(traces)
    rows = trace_rows(folders)
    source = {"traces": [str(Path(f).resolve()) for f in folders], "held_out": "every row (--traces)"}
    overlap = trained_on(trained_prompts(checkpoint), rows)
    if overlap:
        source["held_out"] = f"not held out: {overlap['rows']:,} of {len(rows):,} rows were trained on"
        source["trained_on"] = overlap
    return rows, source
