"""The model-index of an exported creature checkpoint: the Hub's EvalResult entries for its
held-out figures, the trainer's eval_loss (on its own split, as a dataset of its own), its
lm-eval results and what a council evaluation says about it: its own seats (valid-action
rate, self-buy rate, decision flags), its leaderboard rank, and, named as the whole council's,
the outcome effects the card tables and the outcome flags of the councils it sat in. The
card's prose is in model_card.py."""

from __future__ import annotations

import math
from pathlib import Path

from glade.checkpoint import SHIPPED
from glade.eval.figures import FIGURES
from glade.eval.json_fields import NUMBER, RATE, is_kind, wrong_fields
from glade.eval.lm_tasks.utils import MC_TASK

from . import cards
from .cards import is_repo_id
from .council_view import CouncilView, members_text

HELDOUT = "glade Wood held-out states"
# the checkpoint's data/eval.parquet (not exported): the episodes `glade train` set aside from its
# own traces (data.eval_share), of the training seeds, so not the held-out seeds; eval_loss is on them
SFT_EVAL = "held-out episodes of the training traces"
# what `glade export-traces` writes (glade.traces_card: configs): the only config and split a model-index
# entry naming the --dataset repo may name; which of its episodes were held out, dataset_args say
TRACES_CONFIG, TRACES_SPLIT = "default", "train"
HELDOUT_METRICS = (
    "valid_json_rate",
    "valid_action_rate",
    "standin_agreement",
    "direction_agreement",
    "self_buy_rate",
    "fall_talk_sell_rate",
    # the same held-out states answered with structured decoding (glade.train.evaluate)
    "structured_valid_action_rate",
    "structured_direction_agreement",
    "structured_self_buy_rate",
)
METRIC_FIELDS = {key: (RATE, None) for key in HELDOUT_METRICS}  # shares of held-out states


def wrong_metrics(meta: dict) -> str | None:
    """The first figure of meta.json's `metrics` the model-index publishes that is no such figure (a
    text, NaN, a rate outside 0 to 1, a negative loss: a hand edit), in words; None where all are.
    An eval_loss of NaN is what a diverged training run writes: true, and left out of the model-index."""
    metrics = meta.get("metrics")
    if metrics is None:
        return None
    if why := wrong_fields(metrics, METRIC_FIELDS, "metrics"):
        return why
    loss = metrics.get("eval_loss")
    if isinstance(loss, float) and not math.isfinite(loss):  # a diverged run's: true, and not published
        return None
    if why := wrong_fields(metrics, {"eval_loss": (NUMBER, None)}, "metrics"):
        return why
    return f"metrics.eval_loss must not be negative, not {loss:g}" if (loss or 0) < 0 else None


def hub_id(value) -> str | None:
    """`value` if it reads as a Hub repo id (OWNER/NAME, not a local path), else None."""
    if is_repo_id(value) and not Path(value).exists():
        return value
    return None


def base_hub_id(meta: dict) -> str | None:
    """The Hub id of a checkpoint's base model, or None when it was a local folder. `base_model`
    is the base as training found it: a Hub id as given, a folder made absolute; only when it is
    not recorded (a full fine-tune) do the recipe's own words (`base_model_given`) count. A
    relative folder given to the recipe (`runs/base`) reads like OWNER/NAME wherever it is absent.
    A base glade ships (`shipped:NAME`) is the repo id its own export names (shipped_repo_id), for
    an adapter and for what has none recorded (a merged model, a full fine-tune) alike."""
    if meta.get("base_model"):
        return hub_id(meta["base_model"]) or shipped_repo_id(meta)
    return hub_id(meta.get("base_model_given")) or shipped_repo_id(meta)


def shipped_repo_id(meta: dict) -> str | None:
    """The repo id a `shipped:NAME` base was exported as: the glade_export.json of the folder it
    trained on (base_model, or base_resolved) or, where that folder is gone, of glade's shipped
    NAME; None for any other base (a local folder's own export may never have been pushed) or a
    shipped one with no export."""
    given = str(meta.get("base_model_given") or "")
    if not given.startswith(SHIPPED):
        return None
    recorded = meta.get("base_model") or meta.get("base_resolved")  # a merged model keeps only base_resolved
    trained_on = Path(str(recorded)) if recorded else None
    folder = trained_on if trained_on and trained_on.is_dir() else cards.shipped_root() / given[len(SHIPPED) :]
    if not (folder / cards.MARKER).is_file():
        return None
    repo_id = cards.earlier_export(folder)[0].get("repo_id")
    return repo_id if is_repo_id(repo_id) else None


def card_figure(name: str) -> bool:
    """A council outcome figure the card tables, and so the only kind the model-index publishes."""
    return name in FIGURES and FIGURES[name].key


def rounded(value: float) -> float:
    """A figure as the model-index shows it: 4 significant digits (0.7, not 0.7000000000000001)."""
    return float(f"{value:.4g}")


def lm_split(record: dict | None) -> tuple[str, dict] | None:
    """The lm-eval documents' split and args for the model-index (results.json `data`, `limit`); the
    episodes the scored documents came from are each task's own (scored_episodes), the split's
    (`split_episodes`) only where results.json has no intervals;
    None for scores on states the model was trained on (`data.trained_on`): the Hub's widgets
    read only the model-index, where a split label beside held-out scores is easily missed."""
    record = record or {}
    data = record.get("data") or {}
    if data.get("trained_on"):
        return None
    args = {"limit": record.get("limit")}
    if "traces" in data:
        return "traces", {"traces": ", ".join(Path(str(t)).name for t in data["traces"]), **args}
    return "checkpoint-eval-split", {"split_episodes": data.get("held_out_episodes"), **args}


def scored_episodes(lm_scores: list[dict]) -> dict[str, int]:
    """task -> the episodes its scored documents came from (results.json `intervals`: each metric's n);
    a `--limit` sample may draw on fewer episodes than the split holds."""
    found: dict[str, int] = {}
    for row in lm_scores:
        n = (row.get("interval") or {}).get("n")
        if isinstance(n, int):
            found[row["task"]] = max(n, found.get(row["task"], 0))
    return found


def held_out_args(meta: dict, recipe: dict | None) -> dict:
    """Which rows of the training traces `glade train` set aside (its data/eval.parquet), for the
    dataset_args of an entry naming the --dataset repo: whole episodes, drawn by data.eval_share and
    data.split_seed (train/data.py split_episodes), of the rows the recipe's filters kept."""
    data = (recipe or {}).get("data") or {}
    counts = meta.get("data_counts") or {}
    return {
        "held_out": "the episodes glade train set aside from these traces (not trained on), of the rows its "
        "recipe's filters kept",
        "eval_share": data.get("eval_share"),
        "split_seed": data.get("split_seed"),
        "held_out_episodes": counts.get("eval_episodes"),
        "held_out_rows": counts.get("eval"),
    }


def _given(args: dict) -> dict | None:
    return {key: value for key, value in args.items() if value is not None} or None


def lm_task_type(task: str) -> str:
    """The Hub task id an lm-eval task is (https://hf.co/tasks): glade_direction_mc scores three choices by
    log-likelihood (lm-eval's multiple_choice), glade_decision_gen generates the answer."""
    return "multiple-choice" if task == MC_TASK else "text-generation"


def lm_args(task: str, split: tuple[str, dict], episodes: dict[str, int]) -> dict | None:
    args = dict(split[1])
    if task in episodes:  # the scored documents' own count replaces the split's
        args.pop("split_episodes", None)
        args = {"episodes": episodes[task], **args}
    return {key: value for key, value in args.items() if value is not None} or None


def eval_results(
    meta: dict,
    lm_scores: list[dict],
    council: CouncilView | None,
    lm_record: dict | None = None,
    dataset: str | None = None,
    recipe: dict | None = None,
) -> list:
    """The model-index: this model's own figures (held-out, lm-eval, its council seats, its
    leaderboard row) and, each named as the whole council's, its councils' outcome figures.
    `lm_scores`: glade.eval.lm_results.lm_eval_scores; `lm_record`: card_sections.lm_eval_record
    (the documents' source: lm-eval scores on trained-on states are left out, lm_split).
    Entries group by task type, dataset type, config and split (huggingface_hub's
    `unique_identifier`), so each kind of entry has a task type, dataset type, config or split of its own.
    `dataset`: the training traces' Hub id (--dataset): the trainer's eval split and lm-eval's
    documents from it name it as their dataset type (the Hub links a type to hf.co/datasets/TYPE),
    with the config and split `glade export-traces` writes and, in dataset_args, which episodes were
    held out (`recipe`: the resolved training recipe, its data.eval_share and data.split_seed);
    the held-out traces, never published by the export, keep glade's own names."""
    from huggingface_hub import EvalResult

    metrics = meta.get("metrics", {})
    found = [
        EvalResult(
            task_type="text-generation",
            task_name="creature decisions",
            dataset_type="glade/wood-heldout",
            dataset_name=HELDOUT,
            dataset_split="heldout",
            metric_type=key,
            metric_name=key,
            metric_value=rounded(float(metrics[key])),
        )
        for key in HELDOUT_METRICS
        if isinstance(metrics.get(key), (int, float))
    ]
    # Entries naming the --dataset repo name its one config and split (TRACES_CONFIG, TRACES_SPLIT), and the
    # held-out episodes in dataset_args. The Hub groups entries by task type, dataset type, config and split
    # (huggingface_hub's unique_identifier: entries sharing them merge under the first one's task name), so
    # the three on the same rows differ where it is true: glade_direction_mc is the Hub's multiple-choice task
    # (three choices scored by log-likelihood), glade_decision_gen and the trainer's loss are text-generation,
    # and the loss names no config: load_dataset(TYPE, split="train") loads the default config that the
    # lm-eval entries name, so each entry links to rows the export has, and the two stay two.
    held = held_out_args(meta, recipe) if dataset else {}
    if is_kind(metrics.get("eval_loss"), NUMBER):  # not on the held-out seeds: an entry of its own; never NaN
        where = dict(dataset_type="glade/sft-eval-split", dataset_split="eval")
        if dataset:
            where = dict(dataset_type=dataset, dataset_split=TRACES_SPLIT, dataset_args=_given(held))
        found.append(
            EvalResult(
                task_type="text-generation",
                task_name="creature decisions (the trainer's loss)",
                **where,
                dataset_name=SFT_EVAL,
                metric_type="eval_loss",
                metric_name="eval_loss",
                metric_value=rounded(float(metrics["eval_loss"])),
            )
        )
    split = lm_split(lm_record)
    episodes = scored_episodes(lm_scores)
    on_hub = dataset if split and split[0] == "checkpoint-eval-split" else None  # the training traces' split
    for row in lm_scores if split else []:
        args = lm_args(row["task"], split, episodes)
        where = dict(dataset_type=f"lm-eval/{row['task']}", dataset_split=split[0], dataset_args=args)
        if on_hub:  # the split's episodes are the held-out ones, which held_out_episodes counts
            args = {("held_out_episodes" if key == "split_episodes" else key): v for key, v in (args or {}).items()}
            where = dict(
                dataset_type=on_hub,
                dataset_config=TRACES_CONFIG,
                dataset_split=TRACES_SPLIT,
                dataset_args=_given({**held, **args}),
            )
        found.append(
            EvalResult(
                task_type=lm_task_type(row["task"]),
                task_name=row["task"],
                **where,
                dataset_name=row["task"],
                metric_type=row["metric"],
                metric_name=row["metric"],
                metric_value=rounded(row["value"]),
            )
        )
    if council is not None:
        found += seat_results(council) + council_results(council)
    return found


def seat_results(council: CouncilView) -> list:
    """This model's own seats in the councils: its valid-action and self-buy rates and its decision flags."""
    from huggingface_hub import EvalResult

    found = []
    for council_name, policy in council.seats:
        own = dict(
            task_type="text-generation",
            task_name=f"its own seat ({policy}) in council {council_name}",
            dataset_type="glade/council-seat",
            dataset_name=council.recipe,
            dataset_config=policy,
            dataset_split=council_name,
        )
        for row in council.seat_rows:
            if (row["council"], row["policy"]) != (council_name, policy):
                continue
            for key, metric in (("valid_action", "valid_action_rate"), ("self_buy", "self_buy_rate")):
                if isinstance((row.get(key) or {}).get("mean"), (int, float)):
                    found.append(
                        EvalResult(
                            **own, metric_type=metric, metric_name=metric, metric_value=rounded(row[key]["mean"])
                        )
                    )
        if council.decision_flags is not None:
            count = sum(1 for f in council.decision_flags if (f["council"], f["policy"]) == (council_name, policy))
            found.append(
                EvalResult(**own, metric_type="decision_flags", metric_name="decision flags", metric_value=count)
            )
    for rank in council.ranks:  # the identity as the config: structured and unconstrained stay two entries
        found.append(
            EvalResult(
                task_type="text-generation",
                task_name=f"leaderboard ({rank['outcome']} comparisons, Bradley-Terry)",
                dataset_type="glade/council-rank",
                dataset_name=council.recipe,
                dataset_config=rank["entry"],
                metric_type="bradley_terry_strength",
                metric_name=f"strength (rank {rank['rank']} of {rank['of']})",
                metric_value=rounded(float(rank["strength"])),
            )
        )
    return found


def council_results(council: CouncilView) -> list:
    """The outcome effects and outcome flag counts of the councils this model sat in: the
    whole council's, so the task, the dataset and the metric say so, and `args` names every seat.
    Only the figures the card tables with their n and interval (card_figure)."""
    from huggingface_hub import EvalResult

    def whole(council_name: str, scenario: str | None, what: str) -> dict:
        return dict(
            task_type="text-generation",
            task_name=f"{what} of the whole council {council_name}, not this model's alone",
            dataset_type="glade/council-outcome",
            dataset_name=f"{council.recipe}, council {council_name}",
            dataset_config=scenario,
            dataset_split=council_name,
            dataset_args={"council": council_name, "seats": members_text(council, council_name)},
        )

    found = []
    for o in council.outcome:
        for figure, values in sorted(o.get("figures", {}).items()):
            effect = (values.get("effect") or {}).get("mean")
            if card_figure(figure) and isinstance(effect, (int, float)):
                found.append(
                    EvalResult(
                        **whole(o["council"], o["scenario"], "outcome effect vs the stand-in world"),
                        metric_type=f"council_{figure}_effect",
                        metric_name=f"council {figure} effect",
                        metric_value=rounded(float(effect)),
                    )
                )
    if council.outcome_flags is not None:
        for council_name in council.councils:
            found.append(
                EvalResult(
                    **whole(council_name, None, "outcome flags vs the stand-in"),
                    metric_type="council_outcome_flags",
                    metric_name="council outcome flags",
                    metric_value=sum(1 for f in council.outcome_flags if f["council"] == council_name),
                )
            )
    return found
