"""The model card of an exported creature checkpoint: the prose under the front matter
(ModelCardData, whose model-index model_index.py gathers)."""

from __future__ import annotations

from pathlib import Path

import yaml

from glade.checkpoint import SHIPPED
from glade.words import md_block, md_code, md_text

from .card_sections import ci_cell, council_section, fmt, lm_eval_section, table
from .card_targets import targets_section
from .card_usage import from_scratch, limitations_section, terms_section, usage_section
from .council_view import CouncilView
from .lineage import commit_text, heldout_text, meta_code, meta_text, protocol_text, reproduce, scenarios_text
from .model_index import HELDOUT, SFT_EVAL, shipped_repo_id

TRAINING = ("train_steps", "train_loss", "eval_loss", "train_loss_steps")  # the trainer's: not on held-out seeds


def what_it_is(recipe: dict) -> str:
    data = recipe.get("data", {}) or {}
    policies = [md_text(p.split(":", 1)[-1].replace("_", "-")) for p in data.get("policies") or []]
    creatures = data.get("creatures") or []
    many = "s" if len(policies) > 1 else ""
    who = f"the {' and '.join(policies)} stand-in{many}" if policies else "every seat in its traces"
    only = f" (creatures: {md_text(', '.join(map(str, creatures)))})" if creatures else ""
    how = "trained from scratch" if from_scratch(recipe) else "fine-tuned"  # `model.base: tiny`: a random model
    return (
        "A creature model for the Wood, glade's woodland market economy. Each turn it reads one "
        "creature's situation (purse, stock, prices, news, gossip, feelings) as a chat prompt and "
        f"answers with that creature's market orders as JSON. It was {how} by imitation on the "
        f"decisions of {who}{only}."
    )


def heldout_words(meta: dict) -> str:
    held = meta.get("heldout") or {}
    dropped = (held.get("trained_on") or {}).get("rows")
    sampled = (meta.get("metrics") or {}).get("heldout_states")
    drawn = f" before the {sampled} held-out states were sampled" if isinstance(sampled, int) else ""
    left_out = (
        f"; {dropped} of its {held['trained_on']['of']} states were left out{drawn}, because the same prompt "
        "occurs in a training split"
        if dropped
        else ""
    )
    if not held.get("seeds"):
        return left_out
    return (
        f", from episodes of seeds {', '.join(map(str, held['seeds']))} ({md_text(', '.join(held.get('traces', [])))}), "
        f"which no training run of this model used{left_out}"
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
        if isinstance(value, dict) or key in TRAINING:
            continue
        found = intervals.get(key)
        name = key.removeprefix("structured_")
        n = metrics.get("fall_talk_states" if name == "fall_talk_sell_rate" else "heldout_states")
        if found is None and name in RATES and isinstance(value, (int, float)) and isinstance(n, int) and n > 0:
            k = round(value * n)  # a rate is k of n states: its exact interval is rebuilt from them
            found = interval([1.0] * k + [0.0] * (n - k), unit="states", rate=True).as_dict()
        if found is not None:
            cell = ci_cell(found.get("ci"), found.get("n"), found.get("note"))
            rows.append(
                [meta_text(key), meta_text(fmt(value)), cell, f"{found.get('n')} states{cut_words(metrics, key)}"]
            )
        elif key in ("heldout_states", "fall_talk_states"):
            rows.append([meta_text(key), meta_text(fmt(value)), "-", "-"])
        else:
            rows.append(
                [
                    meta_text(key),
                    meta_text(fmt(value)),
                    "not recorded (a checkpoint written before glade kept intervals)",
                    f"{n} states",
                ]
            )
    return table(["metric", "value", "95% CI", "n"], rows)


def hold_lines(meta: dict) -> list[str]:
    """What the held-out intervals describe (train/evaluate.pool_text), then the hold baseline the
    two agreements read against (hold_text); nothing for a checkpoint written before glade kept them."""
    from glade.train.evaluate import hold_text, pool_text

    said = [text for text in (pool_text(meta), hold_text(meta.get("metrics") or {})) if text]
    return [line for text in said for line in (f"{text[0].upper()}{text[1:]}.", "")]


def cut_words(metrics: dict, key: str) -> str:
    """For a valid-action rate: how many valid answers had a quantity the parser cut to what was
    held or affordable (they count as valid; train/evaluate.cut_share)."""
    cut = metrics.get(key.removesuffix("_rate") + "_cut") if key.endswith("valid_action_rate") else None
    if not isinstance(cut, dict) or not cut.get("note") or not cut.get("n"):  # no valid answer: nothing to cut
        return ""
    share = f", {fmt(cut['mean'])} {ci_cell(cut.get('ci'), cut.get('n'), '')}".rstrip() if cut.get("ci") else ""
    return f"; a quantity cut to what was held or affordable in {cut['note']}{share}"


def training_table(meta: dict) -> list[str]:
    """The trainer's own figures (TRAINING; train_loss_steps said in train_loss's row): eval_loss is
    on the episodes glade train set aside from its training traces, not on the held-out seeds the
    Evaluation tables."""
    metrics, counts = meta.get("metrics") or {}, meta.get("data_counts") or {}
    kept, steps = metrics.get("train_loss_steps"), metrics.get("train_steps")  # kept: a resume of an older save
    over = f"{kept} of the run's {steps} steps, those whose loss was kept" if kept else "the run's steps"
    on = {
        "train_steps": "-",
        "train_loss": f"{counts.get('train')} training rows (the mean over {over})",
        "eval_loss": f"{counts.get('eval')} rows of {counts.get('eval_episodes', '?')} episode(s); no interval",
    }
    rows = [[key, fmt(metrics[key]), on[key]] for key in on if isinstance(metrics.get(key), (int, float))]
    if not rows:
        return []
    return [
        f"The trainer's own figures. `eval_loss` is on the {SFT_EVAL}: episodes `glade train` set aside from the "
        "traces it trained on (the recipe's `data.eval_share`; the checkpoint's data/eval.parquet, not in this "
        "repository), of the training traces' seeds, not the held-out "
        "seeds of the Evaluation below.",
        "",
        table(["metric", "value", "n"], rows),
        "",
    ]


def base_words(meta: dict, base: str | None, origin: str | None = None) -> str:
    """The base model in words: its Hub id, with where that id came from (`origin`,
    base_check.check_base; for a base glade ships, by default the repo id its export records
    when `base` is that id), else the folder it was, which nobody else can load."""
    given = str(meta.get("base_model_given") or "")
    if base and origin is None and given.startswith(SHIPPED):
        named = shipped_repo_id(meta)
        origin = f"glade's shipped base `{given}`" + (
            ", under the repo id its export names" if base == named else ", as --base-model names it"
        )
    if base:
        return f"`{base}` ({origin})" if origin else f"`{base}`"
    if given.startswith(SHIPPED):
        return f"glade's shipped base `{given}`, whose export names no repo id on the Hub"
    local = Path(meta["base_model"]).name if meta.get("base_model") else given
    return f"a locally built base model that is not on the Hub ({meta_code(local)})"


def other_protocols(meta: dict, trained: dict) -> list[str]:
    """The prompt protocols the checkpoint learned (its training traces', else glade's when it trained)
    that this glade does not render: seated in this glade, it reads prompts it never trained on."""
    from glade.env import protocol  # read at call time: a test stands in a later version

    learned = trained.get("protocols") or [meta.get("protocol_version")]
    return sorted({str(p) for p in learned if p} - {protocol.PROTOCOL_VERSION})


def protocol_words(meta: dict, trained: dict) -> list[str]:
    """The card's lines for a checkpoint that learned another prompt protocol than the exporting glade renders."""
    from glade.env import protocol
    from glade.provenance import git_commit

    other = other_protocols(meta, trained)
    if not other:
        return []
    now, commit = protocol.PROTOCOL_VERSION, git_commit()
    exporter = f"glade at commit `{commit[:7]}`, which exported it," if commit else "the glade that exported it"
    then = f"glade at commit `{meta['git_commit'][:7]}`" if meta.get("git_commit") else "the glade that trained it"
    return [
        f"**Prompt protocol:** it learned prompts of protocol {', '.join(f'`{p}`' for p in other)}; {exporter} "
        f"renders `{now}`, so seated there it reads prompts it never trained on. Seat it in {then}, which renders "
        "the prompts it learned, or train it again on traces a later glade generates.",
        "",
    ]


def reproduce_lines(meta: dict, recipe: dict, shipped_recipe: dict | None) -> list[str]:
    """lineage.reproduce, with the run's time in words: its wall time and how much of it the trainer took."""
    lines = reproduce(meta, recipe, shipped_recipe)
    took, trainer = meta.get("wall_seconds"), meta.get("train_seconds")
    if isinstance(took, (int, float)) and lines:
        trained = f", {seconds(trainer)} of it in the trainer" if isinstance(trainer, (int, float)) else ""
        steps = (meta.get("metrics") or {}).get("train_steps")
        steps = f", {steps} steps" if isinstance(steps, int) else ""
        lines[0] += f" The run that made this one took {seconds(took)}{trained}{steps}."
    return lines


def seconds(value: float) -> str:
    """Seconds up to 10 minutes, whole minutes above (off by 5% at most: 90 s is not "2 min")."""
    return f"{value:.0f} s" if value < 600 else f"{value / 60:,.0f} min"


def recipe_lines(recipe: dict) -> list[str]:
    """The resolved recipe; `model.tiny` (the random model's shape) only where `model.base` is `tiny`,
    the one case that reads it."""
    model = recipe.get("model")
    shown = recipe
    if isinstance(model, dict) and "tiny" in model and not from_scratch(recipe):
        shown = {**recipe, "model": {k: v for k, v in model.items() if k != "tiny"}}
    unused = " (less `model.tiny`, which only `model.base: tiny` reads)" if shown is not recipe else ""
    return [f"The resolved recipe{unused}:", "", md_block(yaml.safe_dump(shown, sort_keys=False), "yaml").rstrip()]


def base_doubt(meta: dict, base: str | None, unverified: bool, exported_kind: str) -> list[str]:
    """The export's warning of a base id nothing offline shows to hold the trained-on weights, as a line
    of the card (glade.cli.export warns of a shipped base's id; base_check of a --base-model: `unverified`)."""
    if not base or exported_kind != "lora":
        return []
    if unverified:
        why = "it was named by `--base-model`, and no export on the exporting machine showed that repo's weights"
    elif base == shipped_repo_id(meta):
        why = f"it is the repo id glade's export of `{meta.get('base_model_given')}` records"
    else:
        return []
    return [
        f"Unverified base: nothing offline showed that `{base}` on the Hub holds the base weights this model "
        f"was trained on ({why}); the base fingerprint above names them.",
        "",
    ]


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
    lm_record: dict | None = None,
    base_origin: str | None = None,
    base_unverified: bool = False,
    dataset: str | None = None,
    size: dict | None = None,
) -> str:
    """The prose under the front matter. `lm_scores`: glade.eval.lm_results.lm_eval_scores;
    `shipped_recipe`: glade's shipped recipe of the checkpoint's name, resolved (lineage.reproduce);
    `trained`: lineage.trained_scenarios; `lm_record`: card_sections.lm_eval_record; `base_origin`:
    where the base id came from (base_check); `dataset`: the traces' Hub id (--dataset); `size`:
    card_usage.model_size, the parameter counts of the weights."""
    name = repo_id.split("/")[1]
    lora = recipe.get("lora")
    how_trained = "TRL SFT " + (
        f"with a PEFT LoRA adapter (r {lora.get('r')}, alpha {lora.get('lora_alpha')}, on {', '.join(lora.get('target_modules') or [])})"
        if lora
        else "with a PEFT LoRA adapter (adapter_config.json has its settings)"
        if meta.get("kind") == "lora"  # a recipe edited down to no lora section made an adapter "the full model"
        else "of the full model"
    )
    base_text = base_words(meta, base, base_origin)
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
        f"{how_trained}, recipe {md_code(meta.get('name'))}, seed {meta.get('seed')}, on {base_text}.",
        "",
        *reproduce_lines(meta, recipe, shipped_recipe),
        table(
            ["what", "value"],
            [
                ["data fingerprint", meta_code(meta.get("data_fingerprint"))],
                *(
                    [["base fingerprint", f"`{fp}` (the adapter needs exactly these base weights)"]]
                    if exported_kind == "lora" and (fp := meta.get("base_fingerprint"))
                    else []
                ),
                *(
                    [["traces dataset on the Hub", f"[`{dataset}`](https://huggingface.co/datasets/{dataset})"]]
                    if dataset
                    else []
                ),
                ["data counts", ", ".join(meta_text(f"{k} {v}") for k, v in (meta.get("data_counts") or {}).items())],
                *([["scenarios trained on (scenario hashes)", scenarios_text(trained)]] if trained else []),
                *([["held-out traces", heldout_text(trained)]] if trained and heldout_text(trained) else []),
                ["glade", commit_text(meta)],
                ["prompt protocol", protocol_text(meta, trained or {})],
                ["versions", ", ".join(meta_text(f"{k} {v}") for k, v in (meta.get("versions") or {}).items())],
                ["trained", meta_text(meta.get("created"))],
            ],
        ),
        "",
        *base_doubt(meta, base, base_unverified, exported_kind),
        *training_table(meta),
        *recipe_lines(recipe),
        "",
        "## Evaluation",
        "",
        f"On {HELDOUT} (answered by greedy generation after training){heldout_words(meta)}:",
        "",
        heldout_table(meta),
        "",
        *hold_lines(meta),
        *targets_section(meta, recipe),
    ]
    parts += lm_eval_section(lm_scores, lm_record)
    parts += ["## How it diverges from the stand-in", ""]
    if council is None:
        parts += ["Not evaluated in a council (a multi-creature market run).", ""]
    else:
        parts += council_section(council, trained)
    parts += usage_section(meta, recipe, repo_id, exported_kind, base, dataset)
    parts += [
        "To seat it in glade, download it "
        f"(`hf download {repo_id} --local-dir DIR`) and use the seat spec "
        + (
            "`{kind: checkpoint, path: DIR}` (meta.json names the base model)."
            if exported_kind == "lora"
            else "`{kind: hf, model: DIR}`."
        ),
        "",
        *protocol_words(meta, trained or {}),
    ]
    if exported_kind == "lora" and not base:
        given = str(meta.get("base_model_given") or "")
        if given.startswith(SHIPPED):
            name = given[len(SHIPPED) :]
            parts.append(
                f"The base model is glade's shipped `{given}`, whose export names no repo id: export it too "
                f"(`glade export {given} --repo-id OWNER/{name}`) and re-export this adapter with "
                f"`--base-model OWNER/{name}`."
            )
        else:
            parts.append(
                "The base model was built locally: export it too (`glade export BASE_CHECKPOINT --repo-id OWNER/BASE`) "
                "and re-export this adapter with `--base-model OWNER/BASE`."
            )
        parts.append("")
    parts += limitations_section(meta, recipe, size) + terms_section()
    return "\n".join(parts).rstrip() + "\n"
