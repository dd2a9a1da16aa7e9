"""`glade lm-eval CHECKPOINT [--tasks ...] [--limit N] [--traces DIR ...]`: the decision tasks
(and any standard task) through EleutherAI's lm-evaluation-harness.

Two tasks are generated from held-out trace rows into CHECKPOINT/lm_eval/tasks/ (YAML with
absolute data paths, JSONL data, and the `glade_hooks.py` shim their `!function` hooks
name; lm-eval resolves those relative to the YAML):

  glade_decision_gen  the model answers one rendered turn (the exact system + user prompt
                      of the trace, through the model's chat template); the completion is
                      parsed as the Wood parses it and scored: valid_json, standin_agreement,
                      self_buy (see glade.eval.lm_metrics). Greedy, until <|im_end|> or a
                      blank line, at most 128 new tokens.
  glade_direction_mc  the same turn plus a question naming one good; choices buy / sell /
                      hold by log-likelihood; gold = the stand-in's direction for that good
                      in that state. Metrics: acc, gold_prob.

Held-out rows: by default the traces named in CHECKPOINT/recipe.yaml (`data.traces`),
prepared with the recipe's own data settings, and only the held-out episodes kept
(`glade.train.data.prepare`, whose split is `split_episodes` with `eval_share` and
`split_seed`): exactly the rows `glade train` held out. `--traces DIR` uses every row of
DIR instead (traces generated apart from training, e.g. other seeds).

The model is lm-eval's `hf` model, fp32 on CPU, chat template applied: a LoRA checkpoint
is `pretrained=BASE,peft=CHECKPOINT`, a full (or merged) one `pretrained=CHECKPOINT`. The
task manager indexes only our folder unless a standard task name is asked for. Results go
to CHECKPOINT/lm_eval/results.json (what the model card reports).
"""

from __future__ import annotations

import argparse
import json
import random
import time
from collections.abc import Iterable, Sequence
from pathlib import Path

from glade.provenance import package_version

GEN_TASK = "glade_decision_gen"
MC_TASK = "glade_direction_mc"
GLADE_TASKS = (GEN_TASK, MC_TASK)
HOOKS = "glade_hooks"  # the shim module beside the YAMLs
MAX_GEN_TOKS = 128
STOP = ["<|im_end|>", "\n\n"]
QUESTION = "\nQuestion: what do you do with {good} this turn? Answer with one word: buy, sell or hold."


# --- task building --------------------------------------------------------------------------


def _prompt(messages) -> tuple[str, str]:
    by_role = {m["role"]: m["content"] for m in messages if m["role"] in ("system", "user")}
    return by_role.get("system", ""), by_role["user"]


def _direction(action: dict, good: str) -> str:
    from glade.eval.agreement import directions

    side = directions(action, [good])[good]
    return side if side in ("buy", "sell") else "hold"


def write_tasks(rows: Iterable[dict], out_dir: str | Path, limit: int | None = None) -> Path:
    """Write both tasks (YAML + JSONL + hooks shim) for these trace rows into OUT_DIR; returns
    the folder (absolute), which is what lm-eval's `include_path` takes.

    A row needs `messages` (system and user; an assistant turn is ignored), `observation`
    and `standin_action` (JSON strings), `episode_id`, `creature`, `turn`. `limit` keeps
    the first LIMIT states (the MC task then has one document per good of each)."""
    import yaml
    from glade.eval.lm_metrics import CHOICES

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
        gen.append({"id": len(gen), **base, "system": system, "user": user,
                    "observation": row["observation"], "standin_action": row["standin_action"]})
        for good in obs["inventory"]:
            mc.append({**base, "good": good, "system": system, "user": user + QUESTION.format(good=good),
                       "answer": _direction(standin, good),
                       "gold": CHOICES.index(_direction(standin, good))})
    if not gen:
        raise ValueError("no held-out trace rows to build the lm-eval tasks from")
    random.Random(0).shuffle(mc)  # so that --limit samples states and goods alike
    for i, doc in enumerate(mc):
        doc["id"] = i
    for name, docs in ((GEN_TASK, gen), (MC_TASK, mc)):
        with open(out / f"{name}.jsonl", "w") as f:
            for doc in docs:
                f.write(json.dumps(doc) + "\n")
    (out / f"{HOOKS}.py").write_text(
        '"""Written by `glade lm-eval`: lm-eval imports `!function` hooks from beside the YAML."""\n'
        "from glade.eval.lm_metrics import process_decision, process_direction  # noqa: F401\n"
    )
    common = {
        "dataset_path": "json",
        "test_split": "train",
        "description": "system",  # a document field: the trace's own system prompt
        "doc_to_text": "user",
    }
    gen_yaml = {
        "task": GEN_TASK,
        **common,
        "dataset_kwargs": {"data_files": {"train": str(out / f"{GEN_TASK}.jsonl")}},
        "output_type": "generate_until",
        "doc_to_target": "standin_action",
        "generation_kwargs": {"until": STOP, "max_gen_toks": MAX_GEN_TOKS, "do_sample": False, "temperature": 0.0},
        "metric_list": [
            {"metric": "valid_json", "aggregation": "mean", "higher_is_better": True},
            {"metric": "standin_agreement", "aggregation": "mean", "higher_is_better": True},
            {"metric": "self_buy", "aggregation": "mean", "higher_is_better": False},
        ],
        "metadata": {"version": 1.0, "states": len(gen)},
    }
    mc_yaml = {
        "task": MC_TASK,
        **common,
        "dataset_kwargs": {"data_files": {"train": str(out / f"{MC_TASK}.jsonl")}},
        "output_type": "multiple_choice",
        "doc_to_choice": list(CHOICES),
        "doc_to_target": "gold",
        "target_delimiter": "",  # the choice starts the assistant turn
        "metric_list": [
            {"metric": "acc", "aggregation": "mean", "higher_is_better": True},
            {"metric": "gold_prob", "aggregation": "mean", "higher_is_better": True},
        ],
        "metadata": {"version": 1.0, "documents": len(mc)},
    }
    for spec, hook in ((gen_yaml, "process_decision"), (mc_yaml, "process_direction")):
        text = yaml.safe_dump(spec, sort_keys=False) + f"process_results: !function {HOOKS}.{hook}\n"
        (out / f"{spec['task']}.yaml").write_text(text)
    return out


def _trace_rows(folders: Sequence[str | Path]) -> list[dict]:
    from glade.train.data import load_traces

    return load_traces(tuple(str(f) for f in folders)).to_list()


def build_tasks(traces_dir: str | Path | Sequence[str | Path], out_dir: str | Path, limit: int | None = None) -> Path:
    """The two tasks from every row of a traces folder (or several) written by `glade generate`."""
    folders = [traces_dir] if isinstance(traces_dir, (str, Path)) else list(traces_dir)
    return write_tasks(_trace_rows(folders), out_dir, limit)


def heldout_rows(checkpoint: str | Path) -> tuple[list[dict], dict]:
    """The rows `glade train` held out for this checkpoint (from its recipe.yaml), and a note of
    where they came from."""
    from glade.train.data import prepare
    from glade.train.recipe import TrainRecipe

    from glade.config import load_recipe

    path = Path(checkpoint) / "recipe.yaml"
    if not path.exists():
        raise ValueError(f"{checkpoint}: no recipe.yaml naming its traces; pass --traces DIR")
    recipe = load_recipe(TrainRecipe, path)
    if recipe.data.eval_share <= 0:
        raise ValueError(f"{path}: data.eval_share is 0, so nothing was held out; pass --traces DIR")
    _, evaluation, counts = prepare(recipe.data)
    source = {"traces": list(recipe.data.traces), "held_out_episodes": counts["eval_episodes"],
              "eval_share": recipe.data.eval_share, "split_seed": recipe.data.split_seed}
    return evaluation.to_list(), source


# --- the model ------------------------------------------------------------------------------


def model_args(checkpoint: str | Path) -> dict:
    """lm-eval `hf` model_args for a checkpoint folder; ValueError naming what is wrong."""
    folder = Path(checkpoint)
    if not folder.is_dir():
        raise ValueError(f"{checkpoint}: not a checkpoint folder")
    meta_path = folder / "meta.json"
    meta = json.loads(meta_path.read_text()) if meta_path.exists() else {}
    args = {"dtype": "float32"}
    if (folder / "adapter_config.json").exists():
        base = meta.get("base_model") or json.loads((folder / "adapter_config.json").read_text()).get("base_model_name_or_path")
        if not base:
            raise ValueError(f"{checkpoint}: a LoRA adapter without a base model (meta.json base_model)")
        if (base.startswith((".", "/")) or Path(base).exists()) and not Path(base).is_dir():
            raise ValueError(f"{checkpoint}: its base model {base!r} is not a folder")
        args.update(pretrained=str(base), peft=str(folder.resolve()))
        if (folder / "tokenizer_config.json").exists():
            args["tokenizer"] = str(folder.resolve())
    elif (folder / "config.json").exists():
        args["pretrained"] = str(folder.resolve())
    else:
        raise ValueError(f"{checkpoint}: neither a model (config.json) nor a LoRA adapter (adapter_config.json)")
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
        write_tasks(rows, out / "tasks")
    import lm_eval
    from lm_eval.tasks import TaskManager

    manager = TaskManager(include_path=str(out / "tasks") if ours else None, include_defaults=bool(standard))
    unknown = [t for t in tasks if t not in manager.all_tasks]
    if unknown:
        raise ValueError(f"unknown lm-eval task(s): {', '.join(unknown)}")
    built = time.perf_counter()
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
        verbosity="WARNING",
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
    tmp = out / "results.json.tmp"
    tmp.write_text(json.dumps(result, indent=2, default=str))
    tmp.replace(out / "results.json")
    return result


# --- CLI ------------------------------------------------------------------------------------


def add_parser(subparsers) -> None:
    p = subparsers.add_parser(
        "lm-eval",
        help="score a checkpoint on glade's decision tasks (and standard ones) with lm-eval",
        description="Build lm-eval tasks from held-out traces (glade_decision_gen: answer a turn, scored "
        "for valid JSON, stand-in agreement and self-buys; glade_direction_mc: buy / sell / hold for a "
        "named good) and run them with lm-eval's hf model (LoRA via peft=, fp32, CPU, chat template). "
        "Writes CHECKPOINT/lm_eval/results.json.",
    )
    p.add_argument("checkpoint", help="a checkpoint folder from `glade train` (LoRA or full) or `glade merge`")
    p.add_argument("--tasks", default=",".join(GLADE_TASKS),
                   help=f"comma-separated task names (default {','.join(GLADE_TASKS)}); standard lm-eval names too")
    p.add_argument("--limit", type=int, default=None, help="at most N documents per task")
    p.add_argument("--traces", nargs="+", default=None, metavar="DIR",
                   help="use every row of these traces folders instead of the recipe's held-out episodes")
    p.add_argument("--batch-size", type=int, default=4, help="lm-eval batch size (default 4)")
    p.set_defaults(run=run)


def run(args: argparse.Namespace) -> int:
    if args.limit is not None and args.limit < 1:
        raise ValueError(f"--limit must be at least 1, got {args.limit}")
    tasks = [t.strip() for t in args.tasks.split(",") if t.strip()]
    result = run_lm_eval(args.checkpoint, tasks, args.limit, args.traces, batch_size=args.batch_size)
    for task, metrics in result["scores"].items():
        n = result["n_samples"].get(task, {}).get("effective", "?") if isinstance(result["n_samples"], dict) else "?"
        shown = ", ".join(f"{m} {v:.4f}" for m, v in metrics.items())
        print(f"{task} (n={n}): {shown}")
    print(f"results: {Path(result['checkpoint']) / 'lm_eval' / 'results.json'}")
    return 0
