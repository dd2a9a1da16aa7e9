"""The model card of an exported creature checkpoint: the prose under the front matter
(ModelCardData, whose model-index model_index.py gathers)."""

from __future__ import annotations

import json
from pathlib import Path

import yaml

from glade.eval.figures import FIGURES
from glade.eval.flags import effect_text, metric_text, number, where

from .model_index import HELDOUT

TOP_FLAGS = 8  # flags shown in the card; the model-index counts them all


def _table(header: list[str], rows: list[list]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join("-" if c is None else str(c).replace("|", "\\|") for c in row) + " |" for row in rows]
    return "\n".join(lines)


def _fmt(value) -> str:
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


def reproduce(meta: dict) -> list[str]:
    """How to make it again, when glade ships its recipe; and how long that took."""
    from glade.env.scenario import RECIPES

    name = meta.get("name")
    if not name or not (RECIPES / "train" / f"{name}.yaml").exists():
        return []
    took = ""
    if isinstance(meta.get("wall_seconds"), (int, float)):
        took = (
            f" The run that made this one took {meta['wall_seconds'] / 60:.0f} min, "
            f"{meta.get('metrics', {}).get('train_steps')} steps (its meta.json: `wall_seconds`, `train_seconds`)."
        )
    return [f"Reproduce it with `glade train recipes/train/{name}.yaml` (glade's shipped recipe).{took}", ""]


def heldout_words(meta: dict) -> str:
    held = meta.get("heldout") or {}
    if not held.get("seeds"):
        return ""
    return (
        f", from episodes of seeds {', '.join(map(str, held['seeds']))} ({', '.join(held.get('traces', []))}), "
        "which no training run of this model used"
    )


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


def render_card(
    meta: dict, recipe: dict, data, repo_id: str, exported_kind: str, base: str | None, council: dict | None
) -> str:
    """Front matter (ModelCardData) and prose."""
    name = repo_id.split("/")[1]
    metrics = meta.get("metrics", {})
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
        *reproduce(meta),
        _table(
            ["what", "value"],
            [
                ["data fingerprint", f"`{meta.get('data_fingerprint')}`"],
                ["data counts", ", ".join(f"{k} {v}" for k, v in (meta.get("data_counts") or {}).items())],
                ["glade", f"{meta.get('glade_version')} (commit `{meta.get('git_commit')}`)"],
                ["prompt protocol", f"`{meta.get('protocol_version')}`"],
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
        _table(["metric", "value"], [[k, _fmt(v)] for k, v in metrics.items() if not isinstance(v, dict)]),
        "",
        *targets_section(meta),
    ]
    lm = [r for r in data.eval_results or [] if (r.dataset_type or "").startswith("lm-eval/")]
    if lm:
        parts += [
            "lm-eval (`lm_eval/results.json`):",
            "",
            _table(["task", "metric", "value"], [[r.task_name, r.metric_name, _fmt(r.metric_value)] for r in lm]),
            "",
        ]
    parts += ["## How it diverges from the stand-in", ""]
    if council is None:
        parts += ["No council evaluation was given (`glade export ... --council RESULTS` adds one).", ""]
    else:
        parts += [
            f"Council evaluation `{council['recipe']}`: this model sat as {', '.join(council['seats'])} in "
            f"{', '.join(council['councils'])}, each paired with the all-stand-in world on the same seeds.",
            "",
        ]
        rows = []
        for o in council["outcome"]:
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
                        ]
                    )
        if rows:
            parts += [
                "Outcome effects (council minus stand-in world; every figure is in the model-index):",
                "",
                _table(["scenario", "council", "figure", "effect", "95% CI", "support"], rows),
                "",
            ]
        rank = council.get("rank")
        if rank:
            low, high = rank["ci"]
            rank_low, rank_high = rank["rank_ci"]
            parts += [
                f"Leaderboard (`glade rank`, {rank['outcome']} comparisons): rank **{rank['rank']} of {rank['of']}**, "
                f"Bradley-Terry strength {rank['strength']:+.2f} ({rank['level']:.0%} CI {low:+.2f} to {high:+.2f}; "
                f"rank {rank_low:g} to {rank_high:g} across bootstrap refits), {rank['wins']:g} wins in "
                f"{rank['comparisons']:g} comparisons.",
                "",
            ]
        if council["flags"] is None:
            parts += ["No flags.json in the results (run `glade flag RESULTS`).", ""]
        elif not council["flags"]:
            parts += ["No flags: the council and the stand-in do not part ways beyond the thresholds.", ""]
        else:
            top = council["flags"][:TOP_FLAGS]
            parts += [
                f"Top flags ({len(top)} of {len(council['flags'])}), best first:",
                "",
                _table(
                    ["rank", "kind", "where", "metric", "stand-in", "live", "effect [CI]", "support"],
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
                        ]
                        for f in top
                    ],
                ),
                "",
            ]
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
