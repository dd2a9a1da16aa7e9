"""Sections of the model card a stranger reads first (model_card.py): how to run the model on one
prompt, what its answer is, the card's own terms, and its limitations (size, scope, targets)."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

from glade.checkpoint import SHIPPED

from . import cards

# what the card's figures and words mean; the metrics' words follow train/evaluate.py and
# eval/scoring.py, the stand-in's and the council's eval/report/glossary.py
TERMS = (
    ("stand-in", "glade's rule-based creature policy, one per disposition; the traces record its decisions"),
    ("seat", "one creature's place in a market run, played by a stand-in or by a model"),
    (
        "council",
        "a multi-creature market run with live models in some seats and the stand-in in the others, paired "
        "with the all-stand-in run on the same seed",
    ),
    ("valid_json_rate", "the share of answers holding a complete, readable JSON object"),
    (
        "valid action (valid_action_rate)",
        "an answer the parser took as it was: no order refused or dropped and no error named (an order whose "
        "quantity it cut to what is held or affordable still counts)",
    ),
    (
        "standin_agreement",
        "per good, the share of goods on which the answer takes the same side (buy, sell or none) as the "
        "scenario's own stand-in in that state",
    ),
    (
        "direction_agreement",
        "the same share of goods, against the stand-in it learned from (the answer its training data gives in "
        "that state)",
    ),
    ("self-buy (self_buy_rate)", "an answer that buys a good the creature itself makes; lower is better"),
    (
        "cut_off_rate",
        "the share of answers the token budget (`eval.max_new_tokens`) ended before they were complete; they "
        "count against valid actions",
    ),
    (
        "`structured_*`",
        "the same figure on the same states, each answer held to that state's action schema (structured "
        "decoding), so it cannot write an invalid order",
    ),
    (
        "hold baseline (`*_hold_baseline`, empty answer)",
        "what an empty answer scores on the same states or documents: the parser rejects it and the Wood "
        "executes a hold (no order), which agrees wherever the reference places no order",
    ),
    (
        "best constant answer",
        "on glade_direction_mc, the accuracy of always giving the one direction that is most often right on "
        "those documents; chance is one of buy, sell, hold at random (1/3)",
    ),
    (
        "lm-eval's valid_json, valid_action, standin_agreement, self_buy",
        "the figures above, per document of glade_decision_gen",
    ),
)


def terms_section() -> list[str]:
    from glade.env.standin import DISPOSITIONS

    disposition = (
        "disposition",
        f"a stand-in's temperament ({', '.join(DISPOSITIONS)}): the rules by which it buys, holds and sells",
    )
    terms = (*TERMS[:1], disposition, *TERMS[1:])
    return ["## Terms", "", *(f"- **{name}**: {words}." for name, words in terms), ""]


def safetensors_count(path: Path) -> int:
    """The number of parameters in a safetensors file, from its header (no tensor is read)."""
    with path.open("rb") as f:
        header = json.loads(f.read(struct.unpack("<Q", f.read(8))[0]))
    return sum(math.prod(t["shape"]) for key, t in header.items() if key != "__metadata__")


def model_size(checkpoint: str | Path, meta: dict) -> dict | None:
    """The parameter counts of what an export holds, counted from the weights (the base's too, for an
    adapter), and the architecture from the base's config.json; None where the weights are not here."""
    folder = Path(checkpoint)
    adapter = folder / "adapter_model.safetensors"
    base = folder
    if adapter.is_file():
        given = str(meta.get("base_model_given") or "")
        recorded = Path(str(meta.get("base_model") or meta.get("base_resolved") or ""))
        if (recorded / "config.json").is_file():
            base = recorded
        elif given.startswith(SHIPPED):
            base = cards.shipped_root() / given[len(SHIPPED) :]
        else:  # a Hub base not on this machine: nothing to count
            return None
    weights = sorted(base.glob("model*.safetensors"))
    if not weights or not (base / "config.json").is_file():
        return None
    config = json.loads((base / "config.json").read_text())
    return {
        "base": sum(map(safetensors_count, weights)),
        "adapter": safetensors_count(adapter) if adapter.is_file() else None,
        "architecture": ", ".join(config.get("architectures") or [config.get("model_type", "?")]),
        "layers": config.get("num_hidden_layers"),
        "hidden_size": config.get("hidden_size"),
    }


def size_words(size: dict | None, exported_kind: str) -> str | None:
    if not size:
        return None
    shape = f"{size['architecture']}, {size['layers']} layers, hidden size {size['hidden_size']}"
    if size.get("adapter") is None:
        return f"{size['base']:,} parameters ({shape})"
    what = "merged into them" if exported_kind == "merged" else "in this repository"
    return (
        f"{size['base'] + size['adapter']:,} parameters: the base's {size['base']:,} ({shape}) and the LoRA "
        f"adapter's {size['adapter']:,} ({what})"
    )


def limitations_section(meta: dict, recipe: dict, size: dict | None, exported_kind: str) -> list[str]:
    """What a stranger must know before using it, from meta.json, the recipe and the weights."""
    metrics = meta.get("metrics") or {}
    counts = meta.get("data_counts") or {}
    missed = [name for name, t in (meta.get("targets") or {}).items() if isinstance(t, dict) and not t.get("met")]
    scratch = str((recipe.get("model") or {}).get("base")) == "tiny"
    rows = f"{counts['train']:,}" if isinstance(counts.get("train"), int) else "?"
    lines = [
        "It plays glade's simulated Wood market only: a creature's turn in glade's own economy, rendered as "
        f"glade's prompts (protocol `{meta.get('protocol_version')}`). It knows nothing of real markets and is not "
        "a trading model.",
        "Its prompts are in English, as glade renders them; it was trained on no other language or format.",
        f"Size: {words}." if (words := size_words(size, exported_kind)) else None,
        f"Training: {metrics.get('train_steps')} steps on {rows} rows"
        + (", from random initialisation (`model.base: tiny`)" if scratch else "")
        + ".",
        f"Targets not met: {', '.join(f'`{n}`' for n in missed)} (the Targets table)."
        if missed
        else ("Every target of the Targets table was met." if meta.get("targets") else None),
    ]
    return ["## Limitations", "", *(f"- {line}" for line in lines if line), ""]


def load_lines(repo_id: str, exported_kind: str, base: str | None) -> list[str]:
    if exported_kind == "lora":
        return [
            "from peft import PeftModel",
            "from transformers import AutoModelForCausalLM, AutoTokenizer",
            "",
            f"base = AutoModelForCausalLM.from_pretrained({json.dumps(base or 'BASE_MODEL')})",
            f"model = PeftModel.from_pretrained(base, {json.dumps(repo_id)})",
            f"tokenizer = AutoTokenizer.from_pretrained({json.dumps(repo_id)})",
        ]
    return [
        "from transformers import AutoModelForCausalLM, AutoTokenizer",
        "",
        f"model = AutoModelForCausalLM.from_pretrained({json.dumps(repo_id)})",
        f"tokenizer = AutoTokenizer.from_pretrained({json.dumps(repo_id)})",
    ]


def usage_section(
    meta: dict, recipe: dict, repo_id: str, exported_kind: str, base: str | None, dataset: str | None
) -> list[str]:
    """A complete snippet that answers one prompt (a traces row's `messages`), and the answer's shape."""
    from glade.env.protocol import ACTION_SCHEMA, GOSSIP_CHARS, MAX_ORDERS, THOUGHT_CHARS

    budget = (recipe.get("eval") or {}).get("max_new_tokens") or 256  # the budget its own evaluation answered in
    traces = json.dumps(dataset or "OWNER/TRACES")
    where = (
        "the traces dataset it was trained from"
        if dataset
        else "a glade traces dataset (`glade export-traces` publishes one; a local traces folder loads the same way)"
    )
    return [
        "## How to use",
        "",
        "```python",
        "from datasets import load_dataset",
        *load_lines(repo_id, exported_kind, base),
        "",
        f"# one prompt: the `messages` column (system role card, user turn) of {where.split(' (')[0]}",
        f'messages = load_dataset({traces}, split="train")[0]["messages"]',
        "inputs = tokenizer.apply_chat_template(",
        '    messages, add_generation_prompt=True, return_tensors="pt", return_dict=True',
        ")",
        f"output = model.generate(**inputs, max_new_tokens={budget}, do_sample=False)",
        'answer = tokenizer.decode(output[0, inputs["input_ids"].shape[1] :], skip_special_tokens=True)',
        "print(answer)",
        "```",
        "",
        f"The prompt is the `messages` of a row of {where}; for a new state glade's renderer writes them "
        "(`glade.env.protocol.render(observation)`). Prompts are of glade's prompt protocol "
        f"`{meta.get('protocol_version')}` (meta.json `protocol_version`); it was trained on those, greedy decoding "
        f"as its evaluation used, with {budget} new tokens at most (the recipe's `eval.max_new_tokens`).",
        "",
        f"The answer is one JSON action: `{ACTION_SCHEMA}`, at most {MAX_ORDERS} orders, `gossip` (at most "
        f"{GOSSIP_CHARS} characters) and `thought` (at most {THOUGHT_CHARS}) optional. An empty `orders` list is a "
        "hold. glade reads it with `glade.env.protocol.parse(answer, observation)`, which returns an action valid in "
        "that state (a hold at worst) and names any error.",
        "",
    ]
