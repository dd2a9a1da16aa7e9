"""glade's decision tasks (and any standard task) through EleutherAI's lm-evaluation-harness.

The two tasks are checked in as lm-eval tasks are written (glade/eval/lm_tasks/: a YAML
each plus utils.py):

  glade_decision_gen  the model answers one rendered turn (the exact system + user prompt
                      of the trace, through the model's chat template); the completion is
                      parsed as the Wood parses it and scored: valid_json, valid_action,
                      standin_agreement, self_buy (glade.eval.scoring). Greedy, until
                      <|im_end|> or a blank line, at most 160 new tokens (room for the stand-in's longest answer).
  glade_direction_mc  the same turn plus a question naming one good; choices buy / sell /
                      hold by log-likelihood; gold = the stand-in's direction for that good
                      in that state. Metrics: acc, acc_norm, gold_prob.

At run time only the documents are written: held-out states as JSONL in
CHECKPOINT/lm_eval/docs/, whose path reaches the tasks as lm-eval task metadata. By
default the states are the checkpoint's own held-out split (CHECKPOINT/data/eval.parquet,
saved by `glade train`: the episodes it held out, less the states whose prompt a training
split holds, as train leaves them out; results.json `data.trained_on_left_out` counts them);
`traces` uses every row of traces folders instead (generated apart from training, e.g. other
seeds). Both tasks' documents are a seeded shuffle of those states (glade.eval.lm_docs;
SHUFFLE_SEED, in results.json), so that `limit` (lm-eval scores a task's first LIMIT documents)
samples across episodes, turns and goods, and the same limit scores the same documents every run.

Each of glade's metrics also gets its mean over the held-out episodes with a 95% interval (`intervals`): a
task's documents are turns and goods of a few episodes, not independent draws, so an episode's mean is the
unit (lm-eval's own `stderr`, kept too, counts documents; its score weighs an episode by its documents).

Beside the scores, results.json holds the baselines of the documents scored (`baselines`): the share of
direction documents whose gold is each choice (the accuracy of always giving that answer; chance is 1/3) and
what an empty answer scores on the decision documents (it executes as a hold: agreeing wherever the stand-in holds).

The model is lm-eval's `hf` model, fp32 on CPU, chat template applied: a LoRA checkpoint is `pretrained=BASE,
peft=CHECKPOINT`, a full (or merged) one `pretrained=CHECKPOINT`. The task manager indexes only glade's folder
unless a standard task name is asked for. Results go to CHECKPOINT/lm_eval/results.json (what the model card
reports); an earlier results.json is kept beside it as results-<its time>.json."""

from __future__ import annotations

import difflib
import json
import os
import shutil
import time
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path

from glade import checkpoint as checkpoints
from glade.checkpoint_files import check_base_settings, loadable
from glade.hub_ids import hub_unreachable
from glade.provenance import now, package_version, stamp

from .lm_docs import GLADE_TASKS, SHUFFLE_SEED, baselines, given_rows, heldout_rows, write_tasks
from .lm_tasks.utils import DOCS
from .stats import MIN_N, ci_text, cluster_rate, interval
from .thresholds import DEFAULTS

TASK_CUTOFF = 0.75  # difflib ratio to suggest a task name: an unrelated one scores 0.64 here, a typo 0.85+
LM_TASKS = Path(__file__).resolve().parent / "lm_tasks"  # the YAMLs and utils.py


# --- the model ------------------------------------------------------------------------------


def model_args(checkpoint: str | Path) -> dict:
    """lm-eval `hf` model_args for a checkpoint folder; ValueError naming what is wrong (an
    interrupted training run's folder too: results written into it would be `--restart`'s to wipe)."""
    found = loadable(checkpoint)  # a damaged folder is named before lm-eval loads it
    args = {"dtype": "float32"}
    if found.is_adapter:
        base = found.base_model
        if (base.startswith((".", "/")) or Path(base).exists()) and not Path(base).is_dir():
            raise ValueError(f"{checkpoint}: its base model {base!r} is not a folder")
        check_base_settings(found)
        own = str(found.folder.resolve())  # its own tokenizer (loadable found one): the chat template it trained on
        args.update(pretrained=str(base), peft=own, tokenizer=own)
    else:
        args["pretrained"] = str(found.folder.resolve())
    if any("," in str(v) for v in args.values()):
        raise ValueError(f"{checkpoint}: lm-eval model paths cannot contain commas")
    return args


def resolve_checkpoint(checkpoint: str | Path) -> Path:
    """A checkpoint folder, or `latest:NAME` as train and merge resolve it. Not `shipped:NAME`: results go in its folder."""
    if str(checkpoint).startswith(checkpoints.SHIPPED):
        raise ValueError(
            f"{checkpoint}: glade lm-eval writes its results into the checkpoint folder, and a shipped model's "
            "folder is glade's own package data; evaluate a checkpoint of yours (glade train writes them)"
        )
    return checkpoints.resolve(checkpoint)


def _from_hub(exc: BaseException) -> bool:
    """The error (or one it came from) is a failed look-up of a model's files: transformers
    raises OSError for a Hub id it can neither download nor find cached, huggingface_hub its
    own errors, and httpx a ConnectError that is no OSError."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, OSError) or type(seen).__module__.split(".")[0] in ("huggingface_hub", "httpx", "httpx2"):
            return True
        seen = seen.__cause__ or seen.__context__
    return False


def load_model(checkpoint: str | Path, args: dict, batch_size: int):
    """lm-eval's `hf` model for these model_args, on CPU. A LoRA checkpoint whose base is a Hub id
    that cannot load here is a ValueError naming the checkpoint, the base and what to do, at once."""
    from lm_eval.api.registry import get_model

    base = str(args["pretrained"]) if "peft" in args else ""
    if base and (unreachable := hub_unreachable(base)):
        local = f"or set base_model in {Path(checkpoint) / 'meta.json'} to a local folder holding that model"
        raise ValueError(
            f"{checkpoint}: cannot load its base model {base!r} (meta.json's base_model): {unreachable}; {local}"
        )
    try:
        lm = get_model("hf").create_from_arg_obj(
            args, {"batch_size": batch_size, "max_batch_size": None, "device": "cpu"}
        )
    except Exception as exc:
        if not base or Path(base).is_dir() or not _from_hub(exc):
            raise
        from huggingface_hub.constants import HF_HUB_CACHE, HF_HUB_OFFLINE

        offline = " (HF_HUB_OFFLINE is set)" if HF_HUB_OFFLINE else ""
        reason = (str(exc).splitlines() or [type(exc).__name__])[0]
        raise ValueError(
            f"{checkpoint}: cannot load its base model {base!r} (a Hugging Face Hub id, meta.json's base_model): "
            f"{reason.rstrip('.')}{offline}. Download it once where the Hub is reachable (`hf download {base}`, into the "
            f"cache {HF_HUB_CACHE}), or set base_model in {Path(checkpoint) / 'meta.json'} to a local folder "
            "holding that model."
        ) from exc
    # lm-eval asks for max_length (prompt + the task's max_gen_toks), and a folder's max_new_tokens (glade writes
    # its evaluation's budget there: glade.train.folder_defaults) would take precedence: the task's budget decides
    from peft import PeftModel

    model = lm.model.get_base_model() if isinstance(lm.model, PeftModel) else lm.model
    model.generation_config.max_new_tokens = None
    return lm


# --- running --------------------------------------------------------------------------------


def _flatten(results: dict) -> tuple[dict, dict]:
    """lm-eval's "metric,filter" keys as task -> metric -> value (scores, stderr). A filter other
    than "none" stays in the name, "exact_match[flexible-extract]": a standard task that scores
    one metric under two filters (gsm8k) keeps both."""
    scores, stderr = {}, {}  # task -> metric -> value each
    for task, values in results.items():
        for key, value in values.items():
            if key in ("alias", "sample_len") or isinstance(value, bool) or not isinstance(value, (int, float)):
                continue
            name, _, applied = key.partition(",")
            error = name.endswith("_stderr")
            name = name.removesuffix("_stderr")
            metric = name if applied in ("", "none") else f"{name}[{applied}]"
            (stderr if error else scores).setdefault(task, {})[metric] = value
    return scores, stderr


def run_lm_eval(
    checkpoint: str | Path,
    tasks: Sequence[str] | None = None,
    limit: int | None = None,
    traces: Sequence[str | Path] | str | Path | None = None,
    batch_size: int = 4,
    progress=None,
) -> dict:
    """Evaluate CHECKPOINT (a folder or `latest:NAME`) on `tasks` (default: both glade tasks),
    write CHECKPOINT/lm_eval/results.json and return what it holds. `progress` (a
    glade.console.Bar) counts lm-eval's requests where its own bars are quiet."""
    checkpoint = resolve_checkpoint(checkpoint)
    args = model_args(checkpoint)
    tasks = list(tasks or GLADE_TASKS)
    ours = [t for t in tasks if t in GLADE_TASKS]
    standard = [t for t in tasks if t not in GLADE_TASKS]
    out = Path(checkpoint).resolve() / "lm_eval"
    started = time.perf_counter()
    source: dict = {}
    found_baselines: dict = {}
    if ours:
        rows, source = given_rows(checkpoint, traces) if traces else heldout_rows(checkpoint)
    # the documents are written beside the earlier ones and replace them only once scored: a
    # run that fails (an unknown task, a base that cannot load) leaves the folder as it was
    staging, fresh = out / ".docs.partial", not out.exists()
    shutil.rmtree(staging, ignore_errors=True)
    try:
        if ours:
            write_tasks(rows, staging)
            source["shuffle_seed"] = SHUFFLE_SEED
            found_baselines = baselines(staging, ours, limit)
        raw, built = _evaluate(checkpoint, args, tasks, ours, standard, staging, limit, batch_size, progress)
    except BaseException:
        shutil.rmtree(out if fresh else staging, ignore_errors=True)
        raise
    if ours:
        shutil.rmtree(out / "docs", ignore_errors=True)
        staging.replace(out / "docs")
    scores, stderr = _flatten(raw["results"])
    intervals = episode_intervals(raw.get("samples") or {})
    result = {
        "checkpoint": str(Path(checkpoint).resolve()),
        "model": "hf",
        "model_args": args,
        "tasks": tasks,
        "limit": limit,
        "data": source,
        "scores": scores,
        "stderr": stderr,
        "intervals": intervals,
        "baselines": found_baselines,
        "n_samples": raw.get("n-samples", {}),
        "versions": raw.get("versions", {}),
        "lm_eval_version": package_version("lm_eval"),
        # which glade (prompt protocol, commit) rendered the documents' prompts (task versions above)
        "provenance": stamp(("lm_eval", "torch", "transformers", "peft")),
        "seconds": {"build": round(built - started, 3), "evaluate": round(time.perf_counter() - built, 3)},
        "written": now(),
    }
    out.mkdir(parents=True, exist_ok=True)
    result["previous"] = keep_previous(out / "results.json")
    tmp = out / "results.json.tmp"
    tmp.write_text(json.dumps(result, indent=2, default=str), encoding="utf-8")
    tmp.replace(out / "results.json")
    return result


def episode_intervals(samples: dict, level: float = DEFAULTS.ci_level) -> dict:
    """task -> metric -> interval (at `level`: the recipes' default ci_level unless given) of glade's
    tasks over held-out episodes. A task's documents are turns (and goods) of a few episodes, and
    lm-eval's stderr counts them as independent; here each episode's mean over its documents is one
    value (`cluster_rate`: exact where an episode's 0/1 values all agree, else Korn and Graubard's
    interval of the episode means; none below 4 episodes). Every glade metric lies in [0, 1]."""
    out: dict = {}
    for task, logged in samples.items():
        if task not in GLADE_TASKS or not logged:
            continue
        for metric in logged[0]["metrics"]:
            by_episode: dict[str, list[float]] = {}
            for sample in logged:
                by_episode.setdefault(str(sample["doc"]["episode_id"]), []).append(float(sample[metric]))
            values = [v for vs in by_episode.values() for v in vs]
            means = [sum(vs) / len(vs) for vs in by_episode.values()]
            if set(values) <= {0.0, 1.0}:
                found = cluster_rate(
                    means,
                    members=len(values),
                    level=level,
                    agreeing="episodes (their documents agreeing in each)",
                    averaged="episodes (their documents averaged in each)",
                )
            else:  # a share or a probability per document: the t interval of the episode means
                found = interval(means, level=level, unit="episodes", bounds=(0.0, 1.0))
            out.setdefault(task, {})[metric] = found.as_dict() | {"documents": len(values)}
    return out


def score_text(result: dict, task: str, fmt: str = ".4f") -> str:
    """A task's scores from `run_lm_eval`'s result (lm-eval's, over documents), each followed for
    glade's tasks by the mean over held-out episodes with its interval: "acc 0.4583 (over
    episodes 0.4400 [0.2100, 0.7100], n 5)", "(over episodes 0.4400 (n 3), too few for an interval)"."""
    found = (result.get("intervals") or {}).get(task) or {}

    def over_episodes(d: dict) -> str:
        if d.get("mean") is None or d.get("ci"):
            return f" (over episodes {ci_text(d, fmt)}" + (f", n {d['n']})" if d.get("n") else ")")
        if (d.get("n") or 0) >= MIN_N and d.get("note"):  # the same value in every episode, said so
            return f" (over episodes {d['mean']:{fmt}}, {d['note']})"
        return f" (over episodes {ci_text(d, fmt)}, too few for an interval)"

    return ", ".join(
        f"{metric} {value:{fmt}}" + (over_episodes(found[metric]) if metric in found else "")
        for metric, value in result["scores"][task].items()
    )


def unknown_tasks(unknown: Sequence[str], known: Sequence[str] = ()) -> str:
    """Task names lm-eval does not know, glade's own, and the nearest known name to each (for
    several `X for x and Y for y`: each is meant, so `and`, not `or`)."""
    names = [*GLADE_TASKS, *known]
    near = {t: difflib.get_close_matches(t, names, 1, cutoff=TASK_CUTOFF) for t in unknown}
    pairs = " and ".join(f"{m[0]} for {t}" for t, m in near.items() if m)
    hint = pairs and f"; did you mean {near[unknown[0]][0] if len(unknown) == 1 else pairs}?"
    return f"unknown lm-eval task(s): {', '.join(unknown)} (glade's own: {', '.join(GLADE_TASKS)}; `lm-eval ls tasks` lists the rest){hint}"


def _evaluate(
    checkpoint, args: dict, tasks, ours, standard, docs: Path, limit, batch_size, progress=None
) -> tuple[dict, float]:
    """lm-eval's simple_evaluate on these tasks (glade's read their documents from `docs`); its
    raw results, and when the tasks were built."""
    import lm_eval
    from lm_eval.tasks import TaskManager

    manager = TaskManager(
        include_path=str(LM_TASKS) if ours else None,
        include_defaults=bool(standard),
        metadata={DOCS: str(docs)} if ours else None,
    )
    if unknown := [t for t in tasks if t not in manager.all_tasks]:
        raise ValueError(unknown_tasks(unknown, manager.all_tasks))
    built = time.perf_counter()
    quiet = bool(os.environ.get("TQDM_DISABLE"))  # set by glade.console.quiet_libraries unless --verbose
    with _quiet_bars(quiet, progress):
        raw = lm_eval.simple_evaluate(
            model=load_model(checkpoint, args, batch_size),
            tasks=tasks,
            limit=limit,
            apply_chat_template=True,
            task_manager=manager,
            log_samples=bool(ours),  # glade's tasks' per-document values: intervals over their episodes
            # lm-eval sets its logger to this level, over quiet_libraries' ERROR: keep it quiet unless --verbose
            verbosity="ERROR" if quiet else "WARNING",
        )
    return raw, built


def keep_previous(results: Path) -> str | None:
    """Move an earlier results.json (what a model card reports) aside as results-<its time>.json
    rather than overwrite it; returns where it went."""
    if not results.exists():
        return None
    try:  # a file not glade's (no JSON, no object, no stamp) is moved aside all the same
        written = str(json.loads(results.read_text(encoding="utf-8"))["written"] or "")
    except (ValueError, TypeError, KeyError):
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
def _quiet_bars(quiet: bool, progress=None) -> Iterator[None]:
    """lm-eval's request bars off when `quiet`: lm-eval passes `disable=` to tqdm itself, which
    overrides the TQDM_DISABLE that quiet_libraries set. Its request loops (a counted tqdm,
    "Running loglikelihood requests") then advance `progress`, a glade Bar: the first its
    own, each later kind a bar under it with the same label, the kind in its note, so a long
    scoring run is not silent."""
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

    counted: list = []  # the glade bars lm-eval's request loops have advanced so far

    def off(*args, **kwargs):
        quiet_bar = tqdm(*args, **{**kwargs, "disable": True})
        total, desc = kwargs.get("total"), kwargs.get("desc") or ""
        if progress is not None and total is not None and desc.startswith("Running "):
            kind = desc.removeprefix("Running ").removesuffix(" requests")
            bar = progress.stage(progress.label, "requests") if counted else progress
            counted.append(bar)
            bar.total(total)
            bar.note(kind)
            quiet_bar.update = bar.advance  # lm-eval calls pbar.update(1) per request
        return quiet_bar

    for m in modules:
        m.tqdm = off
    try:
        yield
    finally:
        for m in modules:
            m.tqdm = tqdm
