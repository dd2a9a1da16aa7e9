"""CHECKPOINT/lm_eval/results.json, which `glade lm-eval` writes (glade.eval.harness.run_lm_eval), as its
readers read it: the model card and its model-index (lm_eval_scores here, glade.hub.card_sections.lm_eval_record).
It may have been passed on with the checkpoint or edited by hand: its shape is checked once, here, so a damaged
file is named rather than fail deep in the card or be published half."""

from __future__ import annotations

import json
from pathlib import Path

from .json_fields import LIST, OBJECT, is_kind, said, wrong_fields

RESULTS = Path("lm_eval") / "results.json"
# the file's task -> ... tables, each task's entry an object (`scores` the one a results file must have)
FIELDS = {"scores": (OBJECT,)} | {key: (OBJECT, None) for key in ("stderr", "n_samples", "intervals", "baselines")}
FIELDS |= {"data": (OBJECT, None)}
TASK_TABLES = ("scores", "stderr", "n_samples", "intervals", "baselines")
BASELINE_FIELDS = {"best_constant": (OBJECT, None), "empty_answer": (OBJECT, None)}


def read_results(checkpoint: str | Path) -> dict:
    """CHECKPOINT/lm_eval/results.json as glade lm-eval wrote it ({} without the file); one that is not JSON or
    not of the shape its readers index is a ValueError naming it and what to do."""
    path = Path(checkpoint) / RESULTS
    if not path.is_file():
        return {}
    try:
        written = json.loads(path.read_bytes())  # bytes: a file that is not UTF-8 is named below too
    except (OSError, ValueError) as exc:  # JSONDecodeError, UnicodeDecodeError
        why = f"not JSON: {str(exc).splitlines()[0][:200]}"
    else:
        why = wrong_shape(written)
    if why:
        raise ValueError(f"{path}: not the results glade lm-eval writes ({why}); rerun glade lm-eval, or move it aside")
    return written


def wrong_shape(written) -> str | None:
    """The first part of results.json its readers index that is not of the shape glade lm-eval writes
    ("scores.wood must be an object, not a list"); None where all are."""
    if why := wrong_fields(written, FIELDS, ""):
        return why
    for table in TASK_TABLES:
        for task, entry in (written.get(table) or {}).items():
            if not is_kind(entry, OBJECT) and (table == "scores" or entry is not None):
                return f"{table}.{task} must be an object, not {said(entry)}"
            odd = [m for m, v in (entry or {}).items() if v is not None and not is_kind(v, OBJECT)]
            if table == "intervals" and odd:  # metric -> interval, null where it has none
                return f"intervals.{task}.{odd[0]} must be an object, not {said(entry[odd[0]])}"
            if table == "baselines" and (why := wrong_fields(entry or {}, BASELINE_FIELDS, f"baselines.{task}")):
                return why
    traces = (written.get("data") or {}).get("traces")
    return None if traces is None or is_kind(traces, LIST) else f"data.traces must be a list, not {said(traces)}"


def lm_eval_scores(checkpoint: str | Path) -> list[dict]:
    """The scores `run_lm_eval` wrote to CHECKPOINT/lm_eval/results.json (`scores` and `stderr`,
    task -> metric -> value), one row per task and metric; [] when lm-eval was not run."""
    written = read_results(checkpoint)
    if not written:
        return []
    stderr, samples = written.get("stderr") or {}, written.get("n_samples") or {}
    intervals = written.get("intervals") or {}  # results from before glade kept them: none
    return [
        {
            "task": task,
            "metric": metric,
            "value": float(value),
            "stderr": (stderr.get(task) or {}).get(metric),
            "n": (samples.get(task) or {}).get("effective"),
            "interval": (intervals.get(task) or {}).get(metric),
        }
        for task, metrics in sorted(written["scores"].items())
        for metric, value in sorted(metrics.items())
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    ]
