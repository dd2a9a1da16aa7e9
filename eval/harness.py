"""glade's decision tasks (and any standard task) through EleutherAI's lm-evaluation-harness.

The two tasks are checked in as lm-eval tasks are written (glade/eval/lm_tasks/: a YAML
each plus utils.py):

  glade_decision_gen  the model answers one rendered turn (the exact system + user prompt
                      of the trace, through the model's chat template); the completion is
                      parsed as the Wood parses it and scored: valid_json, standin_agreement,
                      self_buy (glade.eval.scoring). Greedy, until <|im_end|> or a blank
                      line, at most 128 new tokens.
  glade_direction_mc  the same turn plus a question naming one good; choices buy / sell /
                      hold by log-likelihood; gold = the stand-in's direction for that good
                      in that state. Metrics: acc, gold_prob.

At run time only the documents are written: held-out states as JSONL in
CHECKPOINT/lm_eval/docs/, whose path reaches the tasks as lm-eval task metadata. By
default the states are the checkpoint's own held-out split (CHECKPOINT/data/eval.parquet,
saved by `glade train`: exactly the episodes it held out); `traces` uses every row of
traces folders instead (generated apart from training, e.g. other seeds).

The model is lm-eval's `hf` model, fp32 on CPU, chat template applied: a LoRA checkpoint
is `pretrained=BASE,peft=CHECKPOINT`, a full (or merged) one `pretrained=CHECKPOINT`. The
task manager indexes only glade's folder unless a standard task name is asked for.
Results go to CHECKPOINT/lm_eval/results.json (what the model card reports); an earlier
results.json is kept beside it as results-<its time>.json, never overwritten.
"""

from __future__ import annotations

import json
import os
import random
import time
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from glade import checkpoint as checkpoints
from glade.provenance import package_version

from .lm_tasks.utils import CHOICES, DOCS, GEN_TASK, MC_TASK
from .scoring import directions

LM_TASKS = Path(__file__).resolve().parent / "lm_tasks"  # the YAMLs and utils.py
GLADE_TASKS = (GEN_TASK, MC_TASK)
QUESTION = "\nQuestion: what do you do with {good} this turn? Answer with one word: buy, sell or hold."


# --- task building --------------------------------------------------------------------------


def _prompt(messages) -> tuple[str, str]:
    by_role = {m["role"]: m["content"] for m in messages if m["role"] in ("system", "user")}
    return by_role.get("system", ""), by_role["user"]


def _direction(action: dict, good: str) -> str:
    side = directions(action, [good])[good]
    return side if side in ("buy", "sell") else "hold"


def write_tasks(rows: Iterable[dict], out_dir: str | Path, limit: int | None = None) -> Path:
    """Write both tasks' documents (<task>.jsonl) for these trace rows into OUT_DIR; returns
    the folder (absolute), which the tasks read through the metadata key `glade_docs`.

    A row needs `messages` (system and user; an assistant turn is ignored), `observation`
    and `standin_action` (JSON strings), `episode_id`, `creature`, `turn`. `limit` keeps
    the first LIMIT states (the MC task then has one document per good of each)."""
    out = Path(out_dir).resolve()
    out.mkdir(parents=True, exist_ok=True)
    gen, mc = [], []
    seen: set[str] = set()
    for row in rows:
        system, user = _prompt(row["messages"])
        key = system + "\x00" + user
        if key in seen:  # one document per distinct prompt
            continue
        seen.add(key)
        if limit is not None and len(gen) >= limit:
            break
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
    if not gen:
        raise ValueError("no held-out trace rows to build the lm-eval tasks from")
    random.Random(0).shuffle(mc)  # so that --limit samples states and goods alike
    for i, doc in enumerate(mc):
        doc["id"] = i
    for name, docs in ((GEN_TASK, gen), (MC_TASK, mc)):
        with open(out / f"{name}.jsonl", "w") as f:
            for doc in docs:
                f.write(json.dumps(doc) + "\n")
    return out


def _trace_rows(folders: Sequence[str | Path]) -> list[dict]:
    from glade.traces import load_traces

    return load_traces(tuple(str(f) for f in folders)).to_list()


def build_tasks(traces_dir: str | Path | Sequence[str | Path], out_dir: str | Path, limit: int | None = None) -> Path:
    """The two tasks from every row of a traces folder (or several) written by `glade generate`."""
    folders = [traces_dir] if isinstance(traces_dir, (str, Path)) else list(traces_dir)
    return write_tasks(_trace_rows(folders), out_dir, limit)


def heldout_rows(checkpoint: str | Path) -> tuple[list[dict], dict]:
    """The states `glade train` held out for this checkpoint (its saved split), and a note of
    where they came from."""
    from datasets import load_dataset

    path = Path(checkpoint) / "data" / "eval.parquet"
    if not path.exists():
        raise ValueError(
            f"{checkpoint}: no held-out split (data/eval.parquet, which glade train saves beside "
            "recipe.yaml); pass --traces DIR"
        )
    rows = load_dataset("parquet", data_files=str(path), split="train").to_list()
    if not rows:
        raise ValueError(f"{path}: no held-out states (the recipe's data.eval_share was 0); pass --traces DIR")
    source = {
        "held_out": "the checkpoint's held-out split (data/eval.parquet)",
        "held_out_episodes": len({r["episode_id"] for r in rows}),
        "states": len(rows),
    }
    return rows, source


# --- the model ------------------------------------------------------------------------------


def model_args(checkpoint: str | Path) -> dict:
    """lm-eval `hf` model_args for a checkpoint folder; ValueError naming what is wrong."""
    found = checkpoints.read(checkpoint)
    args = {"dtype": "float32"}
    if found.is_adapter:
        base = found.base_model
        if (base.startswith((".", "/")) or Path(base).exists()) and not Path(base).is_dir():
            raise ValueError(f"{checkpoint}: its base model {base!r} is not a folder")
        args.update(pretrained=str(base), peft=str(found.folder.resolve()))
        if (found.folder / "tokenizer_config.json").exists():
            args["tokenizer"] = str(found.folder.resolve())
    else:
        args["pretrained"] = str(found.folder.resolve())
    if any("," in str(v) for v in args.values()):
        raise ValueError(f"{checkpoint}: lm-eval model paths cannot contain commas")
    return args


# --- running --------------------------------------------------------------------------------


def _flatten(results: dict) -> tuple[dict, dict]:
    scores: dict[str, dict] = {}
    stderr: dict[str, dict] = {}
    for task, values in results.items():
        for key, value in values.items():
            if key in ("alias", "sample_len") or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            metric = key.split(",")[0]
            if metric.endswith("_stderr"):
                stderr.setdefault(task, {})[metric[: -len("_stderr")]] = value
            else:
                scores.setdefault(task, {})[metric] = value
    return scores, stderr


def run_lm_eval(
    checkpoint: str | Path,
    tasks: Sequence[str] | None = None,
    limit: int | None = None,
    traces: Sequence[str | Path] | str | Path | None = None,
    batch_size: int = 4,
) -> dict:
    """Evaluate CHECKPOINT on `tasks` (default: both glade tasks), write
    CHECKPOINT/lm_eval/results.json and return what it holds."""
    args = model_args(checkpoint)
    tasks = list(tasks or GLADE_TASKS)
    ours = [t for t in tasks if t in GLADE_TASKS]
    standard = [t for t in tasks if t not in GLADE_TASKS]
    out = Path(checkpoint).resolve() / "lm_eval"
    started = time.perf_counter()
    source: dict = {}
    if ours:
        if traces:
            folders = [traces] if isinstance(traces, (str, Path)) else list(traces)
            rows = _trace_rows(folders)
            source = {"traces": [str(Path(f).resolve()) for f in folders], "held_out": "every row (--traces)"}
        else:
            rows, source = heldout_rows(checkpoint)
        docs = write_tasks(rows, out / "docs")
    import lm_eval
    from lm_eval.tasks import TaskManager

    manager = TaskManager(
        include_path=str(LM_TASKS) if ours else None,
        include_defaults=bool(standard),
        metadata={DOCS: str(docs)} if ours else None,
    )
    unknown = [t for t in tasks if t not in manager.all_tasks]
    if unknown:
        raise ValueError(f"unknown lm-eval task(s): {', '.join(unknown)}")
    built = time.perf_counter()
    quiet = bool(os.environ.get("TQDM_DISABLE"))  # set by glade.console.quiet_libraries unless --verbose
    with _quiet_bars(quiet):
        raw = lm_eval.simple_evaluate(
            model="hf",
            model_args=args,
            tasks=tasks,
            device="cpu",
            batch_size=batch_size,
            limit=limit,
            apply_chat_template=True,
            task_manager=manager,
            log_samples=False,
            # lm-eval sets its logger to this level, over quiet_libraries' ERROR: keep it quiet unless --verbose
            verbosity="ERROR" if quiet else "WARNING",
        )
    scores, stderr = _flatten(raw["results"])
    result = {
        "checkpoint": str(Path(checkpoint).resolve()),
        "model": "hf",
        "model_args": args,
        "tasks": tasks,
        "limit": limit,
        "data": source,
        "scores": scores,
        "stderr": stderr,
        "n_samples": raw.get("n-samples", {}),
        "versions": raw.get("versions", {}),
        "lm_eval_version": package_version("lm_eval"),
        "seconds": {"build": round(built - started, 3), "evaluate": round(time.perf_counter() - built, 3)},
        "written": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
    }
    out.mkdir(parents=True, exist_ok=True)
    result["previous"] = keep_previous(out / "results.json")
    tmp = out / "results.json.tmp"
    tmp.write_text(json.dumps(result, indent=2, default=str))
    tmp.replace(out / "results.json")
    return result


def lm_eval_scores(checkpoint: Path) -> list[dict]:
    """The scores `evaluate` wrote to CHECKPOINT/lm_eval/results.json (`scores` and `stderr`,
    task -> metric -> value), one row per task and metric; [] when lm-eval was not run. The
    one reader of that file, beside its writer (the model card and model-index read it)."""
    path = Path(checkpoint) / "lm_eval" / "results.json"
    if not path.exists():
        return []
    written = json.loads(path.read_text())
    if not isinstance(written.get("scores"), dict):  # silently dropping the figures is how they once went missing
        raise ValueError(f"{path}: no 'scores' (expected the results.json `glade lm-eval` writes); rerun glade lm-eval")
    stderr, samples = written.get("stderr") or {}, written.get("n_samples") or {}
    return [
        {
            "task": task,
            "metric": metric,
            "value": float(value),
            "stderr": (stderr.get(task) or {}).get(metric),
            "n": (samples.get(task) or {}).get("effective"),
        }
        for task, metrics in sorted(written["scores"].items())
        for metric, value in sorted(metrics.items())
        if isinstance(value, (int, float)) and not isinstance(value, bool)
    ]


def keep_previous(results: Path) -> str | None:
    """Move an earlier results.json (what a model card reports) aside as results-<its time>.json
    rather than overwrite it; returns where it went."""
    if not results.exists():
        return None
    try:
        written = json.loads(results.read_text()).get("written") or ""
    except ValueError:
        written = ""
    stamp = "".join(ch for ch in written if ch.isalnum()) or time.strftime("%Y%m%dT%H%M%SZ", time.gmtime())
    aside = results.with_name(f"results-{stamp}.json")
    n = 1
    while aside.exists():
        n += 1
        aside = results.with_name(f"results-{stamp}-{n}.json")
    results.replace(aside)
    return str(aside)


@contextmanager
def _quiet_bars(quiet: bool) -> Iterator[None]:
    """lm-eval's request bars off when `quiet`: lm-eval passes `disable=` to tqdm itself, which
    overrides the TQDM_DISABLE that quiet_libraries set."""
    import importlib

    from tqdm import tqdm  # what these modules import by name

    if not quiet:
        yield
        return
    names = ("lm_eval.api.model", "lm_eval.api.task", "lm_eval.models.huggingface")
    try:
        modules = [importlib.import_module(name) for name in names]
    except ImportError:  # another lm-eval layout: its bars show, nothing breaks
        yield
        return

    def off(*args, **kwargs):
        return tqdm(*args, **{**kwargs, "disable": True})

    for m in modules:
        m.tqdm = off
    try:
        yield
    finally:
        for m in modules:
            m.tqdm = tqdm
