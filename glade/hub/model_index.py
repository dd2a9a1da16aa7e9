"""The model-index of an exported creature checkpoint: the Hub's EvalResult entries for its
held-out figures, the trainer's eval_loss (on its own split, as a dataset of its own), its
lm-eval results and what a council evaluation says about it: its own seats (valid-action
rate, self-buy rate, decision flags), its leaderboard rank, and, named as the whole council's,
the outcome effects the card tables and the outcome flags of the councils it sat in. The
card's prose is in model_card.py."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

from glade.checkpoint import SHIPPED
from glade.eval import rows
from glade.eval.figures import FIGURES
from glade.eval.flags import load_flags
from glade.eval.thresholds import DEFAULTS, run_settings
from glade.seats.base import model_of
from glade.words import portable

from . import cards
from .cards import is_repo_id
from .scenario_settings import played_settings

HELDOUT = "glade Wood held-out states"
# the checkpoint's data/eval.parquet (not exported): the episodes `glade train` set aside from its
# own traces (data.eval_share), of the training seeds, so not the held-out seeds; eval_loss is on them
SFT_EVAL = "held-out episodes of the training traces"
PROVENANCE = ("glade_version", "git_commit", "git_dirty", "protocol_version", "scenario_hashes", "written")
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


@dataclass(frozen=True)
class CouncilView:
    """What a council evaluation (`glade eval` RESULTS) says about one checkpoint. Seat-level
    figures are this model's own; outcome figures and outcome flags are those of the whole
    councils it sat in, shared by every seat there."""

    recipe: str
    seats: tuple[tuple[str, str], ...]  # (council, policy): the seats this checkpoint played
    members: dict  # council -> ((policy, model), ...): every live seat of each council it sat in
    seat_rows: tuple[dict, ...]  # summary.json `seats` rows of its own seats (valid-action rate, decisions)
    outcome: tuple[dict, ...]  # summary.json `outcome` rows of its councils
    decision_flags: tuple[dict, ...] | None  # flags of its own seats (None: no flags.json)
    outcome_flags: tuple[dict, ...] | None  # outcome flags of its councils
    ranks: tuple[dict, ...]  # its leaderboard rows (rank.json), one per identity it was seated under
    level: float = DEFAULTS.ci_level  # of the intervals (the eval recipe's ci_level)
    # summary.json's record of the run: glade_version, git_commit, protocol_version, scenario_hashes ...
    provenance: dict = field(default_factory=dict)
    # name -> the rules it played, where known (scenario_settings.played_settings)
    scenarios: dict = field(default_factory=dict)

    @property
    def councils(self) -> tuple[str, ...]:
        return tuple(self.members)


def council_for(checkpoint: Path, results: str | Path) -> CouncilView:
    """What a council evaluation says about this checkpoint: its seats and their figures, the
    councils it sat in with who else sat there, their outcome effects, and the flags of its
    seats and of those councils (best first); a scenario given by path is named by its file (shown)."""
    results = Path(results)
    summary = read_summary(results)
    name = Path(checkpoint).resolve().name
    seated: dict[str, dict[str, set]] = {}  # council -> policy -> the models it ran
    for row in summary.get("decision", []):
        models = seated.setdefault(row["council"], {}).setdefault(row["policy"], set())
        models.update(model_of(identity) for identity in row.get("policy_identity", []))
    seats = tuple(sorted((c, p) for c, by in seated.items() for p, models in by.items() if name in models))
    if not seats:
        raise ValueError(
            f"--council {results}: no seat of this evaluation ran {name} (policies: {', '.join(summary.get('policies', []))})"
        )
    councils = sorted({c for c, _ in seats})
    flags = load_flags(results / "flags.json")["flags"] if (results / "flags.json").exists() else None
    return CouncilView(
        recipe=summary.get("recipe", results.name),
        seats=seats,
        members={
            c: tuple((p, " / ".join(sorted(models))) for p, models in sorted(seated[c].items())) for c in councils
        },
        seat_rows=tuple(r for r in summary.get("seats", []) if (r["council"], r["policy"]) in seats),
        outcome=tuple(shown(o) for o in summary.get("outcome", []) if o["council"] in councils),
        decision_flags=None
        if flags is None
        else tuple(shown(f) for f in flags if f["kind"] == "decision" and (f["council"], f.get("policy")) in seats),
        outcome_flags=None
        if flags is None
        else tuple(shown(f) for f in flags if f["kind"] == "outcome" and f["council"] in councils),
        ranks=ranks_for(results, name),
        # summary.json's thresholds (its figures were computed at them), checked as glade report checks them
        level=run_settings({}, summary, results)[0].ci_level,
        provenance=shown({key: summary[key] for key in PROVENANCE if key in summary}),
        scenarios={
            portable(n): rules for n, rules in played_settings(results, summary.get("scenario_hashes") or {}).items()
        },
    )


def shown(row: dict) -> dict:
    """A row of summary.json or flags.json, or its provenance, with its scenarios named as the card and the
    model-index name them: one given by path by its file (portable: a local path must not reach the Hub)."""
    found = {key: portable(row[key]) for key in ("scenario", "scenarios") if row.get(key) is not None}
    if isinstance(row.get("scenario_hashes"), dict):
        found["scenario_hashes"] = {portable(name): digest for name, digest in row["scenario_hashes"].items()}
    return {**row, **found}


def members_text(council: CouncilView, name: str) -> str:
    """`a (this model), b (tiny-base), ...`: the live seats of council `name`."""
    own = {p for c, p in council.seats if c == name}
    return ", ".join(f"{p} ({'this model' if p in own else model})" for p, model in council.members[name])


def read_summary(results: Path) -> dict:
    """RESULTS/summary.json as `council_for` reads it (glade.eval.rows.read_summary), with
    `decision` rows that name their council and policy; a ValueError naming the file otherwise."""
    path = results / "summary.json"
    if not results.exists():
        raise ValueError(
            f"--council {results}: no such folder (glade eval writes its results where its recipe's out says)"
        )
    if not path.exists():
        raise ValueError(f"--council {results}: no summary.json (run glade eval first)")
    try:
        summary = rows.read_summary(results)
    except ValueError as exc:
        raise ValueError(f"--council {exc}") from None
    decision = summary.get("decision", [])
    if not isinstance(decision, list) or not all(
        isinstance(row, dict) and "council" in row and "policy" in row for row in decision
    ):
        raise ValueError(
            f"--council {path}: `decision` is not a list of rows naming council and policy; {rows.rebuild(results)}"
        )
    return summary


def ranks_for(results: Path, name: str) -> tuple[dict, ...]:
    """This checkpoint's rows of RESULTS/rank.json (`glade rank`), each with the board's size and
    what was compared; none when there is no leaderboard or it is not on it."""
    from glade.eval.rank import entries_of

    path = results / "rank.json"
    if not path.exists():
        return ()
    board = json.loads(path.read_text())
    extra = {"of": len(board["board"]), "outcome": board["outcome"], "level": board["level"], "note": board.get("note")}
    # the board's note (too few seeds for any interval) else the entry's own (too few for its)
    return tuple({**row, **extra, "note": extra["note"] or row.get("note")} for row in entries_of(board, name))


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
) -> list:
    """The model-index: this model's own figures (held-out, lm-eval, its council seats, its
    leaderboard row) and, each named as the whole council's, its councils' outcome figures.
    `lm_scores`: glade.eval.harness.lm_eval_scores; `lm_record`: card_sections.lm_eval_record
    (the documents' source: lm-eval scores on trained-on states are left out, lm_split).
    Entries group by task type, dataset type, config and split (huggingface_hub's
    `unique_identifier`), so each kind of entry has a dataset type, config or split of its own.
    `dataset`: the training traces' Hub id (--dataset): the trainer's eval split and lm-eval's
    documents from it name it as their dataset type (the Hub links a type to hf.co/datasets/TYPE);
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
    if isinstance(metrics.get("eval_loss"), (int, float)):  # not on the held-out seeds: an entry of its own
        found.append(
            EvalResult(
                task_type="text-generation",
                task_name="creature decisions (the trainer's loss)",
                dataset_type=dataset or "glade/sft-eval-split",
                dataset_name=SFT_EVAL,
                dataset_split="eval",
                metric_type="eval_loss",
                metric_name="eval_loss",
                metric_value=rounded(float(metrics["eval_loss"])),
            )
        )
    split = lm_split(lm_record)
    episodes = scored_episodes(lm_scores)
    on_hub = dataset if split and split[0] == "checkpoint-eval-split" else None  # the training traces' split
    found += [
        EvalResult(
            task_type="text-generation",
            task_name=row["task"],
            dataset_type=on_hub or f"lm-eval/{row['task']}",
            dataset_name=row["task"],
            dataset_config=row["task"] if on_hub else None,  # two tasks on one dataset stay two entries
            dataset_split=split[0],
            dataset_args=lm_args(row["task"], split, episodes),
            metric_type=row["metric"],
            metric_name=row["metric"],
            metric_value=rounded(row["value"]),
        )
        for row in (lm_scores if split else [])
    ]
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
