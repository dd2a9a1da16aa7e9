"""Sections of the model card (model_card.py): the table helpers, the lm-eval scores read
against their baselines, and what a council evaluation says (its own seats, then the councils
it sat in as a whole)."""

from __future__ import annotations

from pathlib import Path

from glade.eval.families import effect_text
from glade.eval.flags_text import ACROSS_ZERO, metric_text, number, reaches_zero, where
from glade.eval.lm_results import read_results
from glade.eval.stats import MIN_N, ci_text
from glade.words import counted, level_percent, md_code, md_row, md_text

from .council_view import CouncilView, members_text
from .lineage import council_provenance
from .model_index import card_figure

TOP_FLAGS = 8  # flags of each kind shown in the card; the model-index counts them all
LOWER_IS_BETTER = ("self_buy",)  # lm-eval metrics where a score above a baseline is the shortfall


def table(header: list[str], rows: list[list]) -> str:
    """A Markdown table; a cell's names are escaped by whoever put them there (md_text, md_code), its pipes here."""
    lines = [md_row(header), "|" + "---|" * len(header)]
    return "\n".join(lines + [md_row("-" if c is None else c for c in row) for row in rows])


def fmt(value) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def whole_range(ci) -> bool:
    """An interval clipped to all of [0, 1]: at its n it says nothing about a rate."""
    return bool(ci) and float(ci[0]) <= 0.0 and float(ci[1]) >= 1.0


def ci_cell(ci, n, note: str | None = None) -> str:
    """A rate's interval as a table cell; in words where it is the whole [0, 1] or there is none."""
    if whole_range(ci):
        return f"no useful interval at n = {n}"
    if ci:
        return f"[{ci[0]:.4f}, {ci[1]:.4f}]"
    return note or "-"


# --------------------------------------------------------------------------- lm-eval


def lm_eval_record(checkpoint: str | Path) -> dict:
    """What CHECKPOINT/lm_eval/results.json says besides the scores (glade.eval.lm_results.lm_eval_scores
    reads those): `data`, the documents' source, `baselines`, what answers that carry no
    judgement score on the same documents (glade.eval.lm_docs.baselines), `n_samples` (each task's documents,
    all and scored) and `limit`. {} without the file."""
    written = read_results(checkpoint)  # {} without the file; a damaged one is named there
    found = {key: written[key] for key in ("data", "baselines", "n_samples") if isinstance(written.get(key), dict)}
    return found | ({"limit": written["limit"]} if isinstance(written.get("limit"), int) else {})


def lm_source(data: dict | None) -> str:
    """Where the lm-eval documents came from, in words (results.json `data`)."""
    data = data or {}
    if "traces" in data:
        names = ", ".join(md_code(Path(str(t)).name) for t in data["traces"])
        return f"turns of the traces {names} ({data.get('held_out')})"
    if str(data.get("held_out", "")).startswith("the checkpoint's held-out split"):
        episodes = data.get("held_out_episodes")
        many = "the episodes" if episodes is None else counted(episodes, "episode")
        return (
            f"turns of {many} `glade train` set aside from its own training traces (the checkpoint's "
            "data/eval.parquet, not in this repository; the recipe's `data.eval_share`): held out from training, but of "
            "the training traces' seeds, not the held-out seeds of the Evaluation table above"
            + left_out_words(data.get("trained_on_left_out"))
        )
    return "turns of a few held-out episodes"


def left_out_words(left: dict | None) -> str:
    """The states of the split left out for a prompt a training split holds (lm_docs.heldout_rows)."""
    if not left or not left.get("rows"):
        return ""
    return f"; {left['rows']:,} of its {left['of']:,} states left out, their prompt being in a training split"


def baseline_cells(task: str, metric: str, baselines: dict) -> list:
    """chance, best constant answer, empty answer: what each scores on this task's documents."""
    found = baselines.get(task) or {}
    chance = found.get("chance")
    best = found.get("best_constant") or {}
    empty = (found.get("empty_answer") or {}).get(metric)
    return [
        fmt(chance) if isinstance(chance, float) else None,
        f"always {best['answer']} {best['acc']:.4f}" if best and metric in ("acc", "acc_norm") else None,
        fmt(empty) if isinstance(empty, float) else None,
    ]


def below_baselines(row: dict, baselines: dict) -> str | None:
    """`task metric value < chance x`: a score worse than what an answer without judgement gets (above
    it, for a figure where lower is better)."""
    lower = any(row["metric"].startswith(m) for m in LOWER_IS_BETTER)
    found = baselines.get(row["task"]) or {}
    best = found.get("best_constant") or {}
    named = [("chance", found.get("chance"))]
    if row["metric"] in ("acc", "acc_norm") and best:
        named.append((f"always {best['answer']}", best.get("acc")))
    named.append(("an empty answer", (found.get("empty_answer") or {}).get(row["metric"])))
    worse = [
        f"{name} {value:.4f}"
        for name, value in named
        if isinstance(value, float) and (row["value"] > value if lower else row["value"] < value)
    ]
    if not worse:
        return None
    return f"{row['task']} {row['metric']} {row['value']:.4f} {'>' if lower else '<'} {', '.join(worse)}" + (
        " (lower is better)" if lower else ""
    )


def limit_lines(record: dict) -> list[str]:
    """`glade lm-eval --limit N` in words: how many of each task's documents were scored (results.json
    `n_samples`, original and effective)."""
    samples = record.get("n_samples") or {}
    counts = [
        f"{task}: {found['effective']:,} of {found['original']:,} documents"
        for task, found in sorted(samples.items())
        if isinstance(found, dict)
        and isinstance(found.get("effective"), int)
        and isinstance(found.get("original"), int)
    ]
    if not counts:
        return []
    limit = f"run with `--limit {record['limit']}`, " if isinstance(record.get("limit"), int) else ""
    return [f"Scored ({limit}the same seeded sample on every run): {'; '.join(counts)}.", ""]


def episodes_cell(found: dict | None) -> str:
    if not found:
        return "-"
    if whole_range(found.get("ci")):
        return f"{found['mean']:.4f}, no useful interval at n = {found.get('n')}"
    if not found.get("ci") and isinstance(found.get("mean"), (int, float)):  # lm_docs: none below MIN_N episodes
        if (found.get("n") or 0) >= MIN_N and found.get("note"):  # the same value in every episode, said so
            return f"{found['mean']:.4f}, {found['note']}"
        return f"{found['mean']:.4f}, too few episodes for an interval"
    return ci_text(found, ".4f")


def lm_eval_section(lm_scores: list[dict], record: dict | None = None) -> list[str]:
    """glade lm-eval's scores (glade.eval.lm_results.lm_eval_scores), beside the baselines on the same
    documents, and which scores fall under one."""
    if not lm_scores:
        return []
    record = record or {}
    baselines = record.get("baselines") or {}
    rows = [
        [
            r["task"],
            r["metric"],
            fmt(r["value"]),
            fmt(r["stderr"]),
            r["n"],
            episodes_cell(r.get("interval")),
            (r.get("interval") or {}).get("n", "-"),
            *baseline_cells(r["task"], r["metric"], baselines),
        ]
        for r in lm_scores
    ]
    under = [line for r in lm_scores if (line := below_baselines(r, baselines))]
    trained = (record.get("data") or {}).get("trained_on")  # lm_split leaves these out of the model-index
    return [
        "lm-eval (`glade lm-eval`, written to the checkpoint's lm_eval/results.json, not in this repository): the "
        "value and stderr are lm-eval's, over "
        f"documents. A task's documents are {lm_source(record.get('data'))}; turns of one episode are not "
        "independent draws, so glade's tasks also give the mean over episodes with its 95% interval (none below "
        "4 episodes). The baselines are what answers without judgement score on the same documents: chance "
        "(one of buy, sell, hold at random), the best constant answer (always the commonest right direction) "
        "and an empty answer (executed as a hold):",
        "",
        table(
            [
                "task",
                "metric",
                "value",
                "stderr",
                "n documents",
                "over episodes [95% CI]",
                "n episodes",
                "chance",
                "best constant answer",
                "empty answer",
            ],
            rows,
        ),
        "",
        *limit_lines(record),
        *(
            [f"Worse than a baseline on the same documents (point values; stderr above): {'; '.join(under)}.", ""]
            if under
            else []
        ),
        *(
            [
                "On glade_direction_mc read `acc`: each choice (' buy', ' sell', ' hold') is scored as the "
                "continuation after the rendered turn, and `acc_norm`, per character, only re-weights them by "
                "spelling.",
                "",
            ]
            if any(r["task"] == "glade_direction_mc" for r in lm_scores)
            else []
        ),
        *(
            [
                "These documents include states the model was trained on, so these scores are not held out and are "
                "left out of the model-index.",
                "",
            ]
            if trained
            else []
        ),
    ]


# --------------------------------------------------------------------------- council


def flags_table(flags) -> list[str]:
    """The top flags as a table, then why an interval reaches 0 where one of them does."""
    shown = flags[:TOP_FLAGS]
    why = (
        [f"Where a flag's interval reaches 0: the interval is {ACROSS_ZERO}.", ""]
        if any(map(reaches_zero, shown))
        else []
    )
    return [_flags_table(shown), "", *why]


def _flags_table(flags) -> str:
    return table(
        ["rank", "kind", "where", "metric", "stand-in", "live", "effect [CI]", "support", "n"],
        [
            [
                f.get("rank"),
                f["kind"],
                md_text(where(f)),
                md_text(metric_text(f)),
                number(f["standin_value"]),
                number(f["live_value"]),
                effect_text(f),
                "-" if f.get("support") is None else f"{f['support']:.2f}",
                f.get("n"),
            ]
            for f in flags
        ],
    )


def _seat_rate(found: dict | None) -> list:
    """A seat's rate and its interval over seeds (summary.json `seats`), or dashes."""
    if not found or not isinstance(found.get("mean"), (int, float)):
        return ["-", "-"]
    return [fmt(float(found["mean"])), ci_cell(found.get("ci"), found.get("n"), found.get("note"))]


def seeds_cell(n) -> str:
    """How many seeds a seat's rates are over, as a table cell."""
    return "-" if n is None else counted(n, "seed")


def seat_section(council: CouncilView, trained: dict | None = None) -> list[str]:
    """This model's own seats: its answers only, so these figures are its own."""
    sat = "; ".join(f"as {md_text(p)} in council {md_text(c)}" for c, p in council.seats)
    out = [f"Council evaluation {md_code(council.recipe)} (`glade eval`): this model sat {sat}.", ""]
    out += council_provenance(council.provenance, trained, council.scenarios)
    if council.seat_rows:
        level = f"{level_percent(council.level)} CI"
        rows = [
            [
                md_text(r["council"]),
                md_text(r["policy"]),
                r.get("decisions"),
                *_seat_rate(r.get("valid_action")),
                *_seat_rate(r.get("self_buy")),
                seeds_cell((r.get("valid_action") or {}).get("n")),
                md_text(", ".join(f"{k} {v}" for k, v in (r.get("errors") or {}).items())) or "-",
            ]
            for r in council.seat_rows
        ]
        out += [
            "Its own seat (its decisions only):",
            "",
            table(
                [
                    "council",
                    "seat",
                    "decisions",
                    "valid-action rate",
                    level,
                    "self-buy rate",
                    level,
                    "n",
                    "most frequent errors",
                ],
                rows,
            ),
            "",
            "Each rate is the mean of its per-seed rates, with its interval over the n seeds.",
            "",
        ]
    flags = council.decision_flags
    if flags is None:
        out += ["No flags.json in the results (run `glade flag RESULTS`).", ""]
    elif not flags:
        out += ["No decision flags: its seat and the stand-in do not part ways beyond the thresholds.", ""]
    else:
        out += [
            f"Decision flags of its seat (top {min(len(flags), TOP_FLAGS)} of {len(flags)}), best first:",
            "",
            *flags_table(flags),
        ]
    for rank in council.ranks:
        if rank["ci"]:
            (low, high), (rank_low, rank_high) = rank["ci"], rank["rank_ci"]
            spread = f"{level_percent(rank['level'])} CI {low:+z.2f} to {high:+z.2f}; rank {rank_low:g} to {rank_high:g} across bootstrap refits"
        else:  # too few seeds for an interval, or every refit the same strength
            spread = f"no interval: {rank.get('note') or 'too few seeds'}"
        # seated under two identities (structured and not), each line names its own
        named = f" as {md_code(rank['entry'])}" if len(council.ranks) > 1 else ""
        out += [
            f"Leaderboard (`glade rank`, {rank['outcome']} comparisons){named}: rank **{rank['rank']} of {rank['of']}**, "
            f"Bradley-Terry strength {rank['strength']:+z.2f} ({spread}), {rank['wins']:g} wins in "
            f"{rank['comparisons']:g} comparisons.",
            "",
        ]
    return out


def council_section(council: CouncilView, trained: dict | None = None) -> list[str]:
    """Its seats, then what the councils it sat in did as a whole (shared by every seat there)."""
    out = seat_section(council, trained)
    out += ["### The councils it sat in (whole-council results, not this model's alone)", ""]
    for name in council.councils:
        out += [f"Council {md_text(name)} seated: {md_text(members_text(council, name))}.", ""]
    out += [
        "An outcome is what the whole council did, paired with the all-stand-in world on the same seeds: "
        "every model seated in a council carries the same outcome figures and outcome flags.",
        "",
    ]
    rows = []
    for o in council.outcome:
        for figure, values in sorted(o.get("figures", {}).items()):
            effect = values.get("effect") or {}
            if card_figure(figure) and isinstance(effect.get("mean"), (int, float)):
                ci = effect.get("ci")  # none below 4 seeds or for a value that never varies: the words instead
                rows.append(
                    [
                        md_text(o["scenario"]),
                        md_text(o["council"]),
                        figure,
                        fmt(effect["mean"]),
                        f"[{', '.join(fmt(c) for c in ci)}]" if ci else effect.get("note") or "-",
                        fmt(effect.get("support")),
                        effect.get("n"),
                    ]
                )
    if rows:
        out += [
            "Council outcome effects (council minus stand-in world; in the model-index as `council_*_effect`, "
            "these figures only):",
            "",
            table(
                ["scenario", "council", "figure", "effect", f"{level_percent(council.level)} CI", "support", "n seeds"],
                rows,
            ),
            "",
        ]
    flags = council.outcome_flags
    if flags:
        out += [
            f"Council outcome flags (top {min(len(flags), TOP_FLAGS)} of {len(flags)}), best first:",
            "",
            *flags_table(flags),
        ]
    elif flags is not None:
        out += ["No outcome flags: these councils and the stand-in world do not part ways beyond the thresholds.", ""]
    return out
