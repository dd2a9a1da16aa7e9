"""The model card of an exported creature checkpoint: the prose under the front matter
(ModelCardData, whose model-index model_index.py gathers)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from glade.eval.figures import FIGURES
from glade.eval.flags_text import ACROSS_ZERO, effect_text, metric_text, number, reaches_zero, where
from glade.eval.stats import ci_text

from .lineage import commit_text, council_provenance, heldout_text, protocol_text, reproduce, scenarios_text
from .model_index import HELDOUT, CouncilView, members_text

TOP_FLAGS = 8  # flags of each kind shown in the card; the model-index counts them all


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("-" if c is None else str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _fmt(value) -> str:
    if value is None:
        return "-"
    return f"{value:.4f}" if isinstance(value, float) else str(value)


def what_it_is(recipe: dict) -> str:
    data = recipe.get("data", {}) or {}
    policies = [p.split(":", 1)[-1].replace("_", "-") for p in data.get("policies") or []]
    creatures = data.get("creatures") or []
    who = (
        f"the {' and '.join(policies)} stand-in{'s' if len(policies) > 1 else ''}"
        if policies
        else "every seat in its traces"
    )
    only = f" (creatures: {', '.join(creatures)})" if creatures else ""
    return (
        "A creature model for the Wood, glade's woodland market economy. Each turn it reads one "
        "creature's situation (purse, stock, prices, news, gossip, feelings) as a chat prompt and "
        "answers with that creature's market orders as JSON. It was fine-tuned by imitation on the "
        f"decisions of {who}{only}."
    )


def heldout_words(meta: dict) -> str:
    held = meta.get("heldout") or {}
    if not held.get("seeds"):
        return ""
    return (
        f", from episodes of seeds {', '.join(map(str, held['seeds']))} ({', '.join(held.get('traces', []))}), "
        "which no training run of this model used"
    )


def heldout_table(meta: dict) -> str:
    """The held-out figures, each with its 95% interval and n (meta.json `metrics.intervals`). A
    checkpoint written before glade kept the intervals: a rate's exact interval from its k of n
    states; an agreement's cannot be rebuilt from its mean, and the table says so."""
    from glade.eval.stats import interval
    from glade.train.evaluate import RATES

    metrics = meta.get("metrics") or {}
    intervals = metrics.get("intervals") or {}
    rows = []
    for key, value in metrics.items():
        if isinstance(value, dict):
            continue
        found = intervals.get(key)
        name = key.removeprefix("structured_")
        n = metrics.get("fall_talk_states" if name == "fall_talk_sell_rate" else "heldout_states")
        if found is None and name in RATES and isinstance(value, (int, float)) and isinstance(n, int) and n > 0:
            k = round(value * n)  # a rate is k of n states: its exact interval is rebuilt from them
            found = interval([1.0] * k + [0.0] * (n - k), unit="states", rate=True).as_dict()
        if found is not None:
            ci = found.get("ci")
            ci_cell = f"[{ci[0]:.4f}, {ci[1]:.4f}]" if ci else found.get("note") or "-"
            rows.append([key, _fmt(value), ci_cell, f"{found.get('n')} states"])
        elif key == "eval_loss":
            rows.append([key, _fmt(value), "-", f"{(meta.get('data_counts') or {}).get('eval')} rows"])
        elif key in ("train_loss", "train_steps", "heldout_states", "fall_talk_states"):
            rows.append([key, _fmt(value), "-", "-"])
        else:
            rows.append(
                [key, _fmt(value), "not recorded (a checkpoint written before glade kept intervals)", f"{n} states"]
            )
    return _table(["metric", "value", "95% CI", "n"], rows)


def targets_section(meta: dict) -> list[str]:
    """The recipe's targets, measured; and the stand-ins' own rates on the disposition probe's states."""
    out = []
    targets = meta.get("targets") or {}
    if targets:
        rows = [
            [name, t["target"], _fmt(t["measured"]), "met" if t["met"] else "**not met**"]
            for name, t in targets.items()
        ]
        out += [
            "Targets (from the recipe's `eval.targets`):",
            "",
            _table(["metric", "target", "measured", ""], rows),
            "",
        ]
    metrics = meta.get("metrics") or {}
    references = metrics.get("fall_talk_sell_rate_standins")
    if references:
        out += [
            f"`fall_talk_sell_rate`: in {metrics.get('fall_talk_states')} held-out states where talk says a good the "
            "creature holds will fall and the panic_seller stand-in sells it, the share where this model sells it. "
            "The stand-ins on the same states: "
            + ", ".join(f"{name} {_fmt(rate)}" for name, rate in references.items())
            + ".",
            "",
        ]
    return out


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
    return _table(
        ["rank", "kind", "where", "metric", "stand-in", "live", "effect [CI]", "support", "n"],
        [
            [
                f.get("rank"),
                f["kind"],
                where(f),
                metric_text(f),
                number(f["standin_value"]),
                number(f["live_value"]),
                effect_text(f),
                f"{f['support']:.2f}",
                f.get("n"),
            ]
            for f in flags
        ],
    )


def seat_section(council: CouncilView, trained: dict | None = None) -> list[str]:
    """This model's own seats: its answers only, so these figures are its own."""
    sat = "; ".join(f"as {p} in council {c}" for c, p in council.seats)
    out = [f"Council evaluation `{council.recipe}` (`glade eval`): this model sat {sat}.", ""]
    out += council_provenance(council.provenance, trained)
    if council.seat_rows:
        rows = [
            [
                r["council"],
                r["policy"],
                r.get("decisions"),
                _fmt(r["valid_action"]["mean"]),
                ", ".join(_fmt(c) for c in r["valid_action"]["ci"]) if r["valid_action"].get("ci") else "-",
                ", ".join(f"{k} {v}" for k, v in (r.get("errors") or {}).items()) or "-",
            ]
            for r in council.seat_rows
        ]
        out += [
            "Its own seat (its decisions only):",
            "",
            _table(
                [
                    "council",
                    "seat",
                    "decisions",
                    "valid-action rate",
                    f"{council.level:.0%} CI",
                    "most frequent errors",
                ],
                rows,
            ),
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
            spread = f"{rank['level']:.0%} CI {low:+.2f} to {high:+.2f}; rank {rank_low:g} to {rank_high:g} across bootstrap refits"
        else:  # too few seeds for an interval
            spread = f"no interval: {rank.get('note') or 'too few seeds'}"
        # seated under two identities (structured and not), each line names its own
        named = f" as `{rank['entry']}`" if len(council.ranks) > 1 else ""
        out += [
            f"Leaderboard (`glade rank`, {rank['outcome']} comparisons){named}: rank **{rank['rank']} of {rank['of']}**, "
            f"Bradley-Terry strength {rank['strength']:+.2f} ({spread}), {rank['wins']:g} wins in "
            f"{rank['comparisons']:g} comparisons.",
            "",
        ]
    return out


def council_section(council: CouncilView, trained: dict | None = None) -> list[str]:
    """Its seats, then what the councils it sat in did as a whole (shared by every seat there)."""
    out = seat_section(council, trained)
    out += ["### The councils it sat in (whole-council results, not this model's alone)", ""]
    for name in council.councils:
        out += [f"Council {name} seated: {members_text(council, name)}.", ""]
    out += [
        "An outcome is what the whole council did, paired with the all-stand-in world on the same seeds: "
        "every model seated in a council carries the same outcome figures and outcome flags.",
        "",
    ]
    rows = []
    for o in council.outcome:
        for figure, values in sorted(o.get("figures", {}).items()):
            effect = values.get("effect") or {}
            if figure not in FIGURES or not FIGURES[figure].key:
                continue
            if isinstance(effect.get("mean"), (int, float)):
                ci = effect.get("ci")  # none below 4 seeds or for a value that never varies: the words instead
                rows.append(
                    [
                        o["scenario"],
                        o["council"],
                        figure,
                        _fmt(effect["mean"]),
                        ", ".join(_fmt(c) for c in ci) if ci else effect.get("note") or "-",
                        _fmt(effect.get("support")),
                        effect.get("n"),
                    ]
                )
    if rows:
        out += [
            "Council outcome effects (council minus stand-in world; in the model-index as `council_*_effect`):",
            "",
            _table(["scenario", "council", "figure", "effect", f"{council.level:.0%} CI", "support", "n seeds"], rows),
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


def render_card(
    meta: dict,
    recipe: dict,
    lm_scores: list[dict],
    repo_id: str,
    exported_kind: str,
    base: str | None,
    council: CouncilView | None,
    shipped_recipe: dict | None = None,
    trained: dict | None = None,
) -> str:
    """The prose under the front matter. `lm_scores`: glade.eval.harness.lm_eval_scores;
    `shipped_recipe`: glade's shipped recipe of the checkpoint's name, resolved (lineage.reproduce);
    `trained`: lineage.trained_scenarios."""
    name = repo_id.split("/")[1]
    lora = recipe.get("lora")
    how_trained = "TRL SFT " + (
        f"with a PEFT LoRA adapter (r {lora.get('r')}, alpha {lora.get('lora_alpha')}, on {', '.join(lora.get('target_modules') or [])})"
        if lora
        else "of the full model"
    )
    local = Path(meta["base_model"]).name if meta.get("base_model") else meta.get("base_model_given")
    base_text = f"`{base}`" if base else f"a locally built base model that is not on the Hub (`{local}`)"
    parts = [
        f"# {name}",
        "",
        what_it_is(recipe),
        "",
        f"This repository holds {'a LoRA adapter for ' + base_text if exported_kind == 'lora' else 'the full model (the adapter merged into its base)' if exported_kind == 'merged' else 'the full model'}, "
        "the tokenizer with its chat template, the resolved training recipe (`recipe.yaml`) and glade's "
        "`meta.json`. Weights are safetensors; loading needs no remote code.",
        "",
        "## Training",
        "",
        f"{how_trained}, recipe `{meta.get('name')}`, seed {meta.get('seed')}, on {base_text}.",
        "",
        *reproduce(meta, recipe, shipped_recipe),
        _table(
            ["what", "value"],
            [
                ["data fingerprint", f"`{meta.get('data_fingerprint')}`"],
                ["data counts", ", ".join(f"{k} {v}" for k, v in (meta.get("data_counts") or {}).items())],
                *([["scenarios trained on (scenario hashes)", scenarios_text(trained)]] if trained else []),
                *([["held-out traces", heldout_text(trained)]] if trained and heldout_text(trained) else []),
                ["glade", commit_text(meta)],
                ["prompt protocol", protocol_text(meta, trained or {})],
                ["versions", ", ".join(f"{k} {v}" for k, v in (meta.get("versions") or {}).items())],
                ["trained", meta.get("created")],
            ],
        ),
        "",
        "The resolved recipe:",
        "",
        "```yaml",
        yaml.safe_dump(recipe, sort_keys=False).rstrip(),
        "```",
        "",
        "## Evaluation",
        "",
        f"On {HELDOUT} (answered by greedy generation after training){heldout_words(meta)}:",
        "",
        heldout_table(meta),
        "",
        *targets_section(meta),
    ]
    if lm_scores:
        parts += [
            "lm-eval (`glade lm-eval`, `lm_eval/results.json`): the value and stderr are lm-eval's, over "
            "documents; a task's documents are turns of a few held-out episodes, so glade's tasks also give the "
            "mean over episodes with its 95% interval (none below 4 episodes):",
            "",
            _table(
                ["task", "metric", "value", "stderr", "n documents", "over episodes [95% CI]", "n episodes"],
                [
                    [
                        r["task"],
                        r["metric"],
                        _fmt(r["value"]),
                        _fmt(r["stderr"]),
                        r["n"],
                        ci_text(r["interval"], ".4f") if r.get("interval") else "-",
                        (r.get("interval") or {}).get("n", "-"),
                    ]
                    for r in lm_scores
                ],
            ),
            "",
        ]
    parts += ["## How it diverges from the stand-in", ""]
    if council is None:
        parts += ["No council evaluation was given (`glade export ... --council RESULTS` adds one).", ""]
    else:
        parts += council_section(council, trained)
    parts += ["## How to load", "", "```python"]
    if exported_kind == "lora":
        parts += [
            "from peft import PeftModel",
            "from transformers import AutoModelForCausalLM, AutoTokenizer",
            "",
            f"base = AutoModelForCausalLM.from_pretrained({json.dumps(base or 'BASE_MODEL')})",
            f"model = PeftModel.from_pretrained(base, {json.dumps(repo_id)})",
            f"tokenizer = AutoTokenizer.from_pretrained({json.dumps(repo_id)})",
        ]
    else:
        parts += [
            "from transformers import AutoModelForCausalLM, AutoTokenizer",
            "",
            f"model = AutoModelForCausalLM.from_pretrained({json.dumps(repo_id)})",
            f"tokenizer = AutoTokenizer.from_pretrained({json.dumps(repo_id)})",
        ]
    parts += [
        "```",
        "",
        "Prompts are glade's rendered turns (`tokenizer.apply_chat_template(messages, add_generation_prompt=True)`); "
        "the answer is one JSON action. To seat it in glade, download it "
        f"(`hf download {repo_id} --local-dir DIR`) and use the seat spec "
        + (
            "`{kind: checkpoint, path: DIR}` (meta.json names the base model)."
            if exported_kind == "lora"
            else "`{kind: hf, model: DIR}`."
        ),
        "",
    ]
    if exported_kind == "lora" and not base:
        parts += [
            "The base model was built locally: export it too (`glade export BASE_CHECKPOINT --repo-id OWNER/BASE`) "
            "and re-export this adapter with `--base-model OWNER/BASE`.",
            "",
        ]
    return "\n".join(parts).rstrip() + "\n"
