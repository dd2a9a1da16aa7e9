"""Sections of the model card a stranger reads first (model_card.py): how to run the model on one
prompt, what its answer is, the card's own terms, and its limitations (size, scope, targets)."""

from __future__ import annotations

import json
import math
import struct
from pathlib import Path

from glade.checkpoint import SHIPPED, base_fingerprint
from glade.words import term

from . import cards
from .lineage import meta_code

# what the card's figures and words mean; the metrics' words follow train/evaluate.py and
# eval/scoring.py; the stand-in, disposition, seat and council are glade.words' (terms_section adds them)
TERMS = (
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
    shared = (
        term("stand-in"),
        term("disposition"),
        term("seat"),
        term("council", "; an evaluation's council run is paired with the all-stand-in run on the same seed"),
    )
    return ["## Terms", "", *(f"- **{name}**: {words}." for name, words in (*shared, *TERMS)), ""]


def from_scratch(recipe: dict) -> bool:
    """Whether a resolved recipe (plain) trains from random initialisation (`model.base: tiny`)."""
    return str((recipe.get("model") or {}).get("base")) == "tiny"


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
    files = model_files(folder)
    if adapter.is_file():
        files = adapter_base_files(meta)
    if files is None:
        return None
    config, weights = files
    config = json.loads(config.read_text(encoding="utf-8"))
    return {
        "base": sum(map(safetensors_count, weights)),
        "adapter": safetensors_count(adapter) if adapter.is_file() else None,
        "architecture": ", ".join(config.get("architectures") or [config.get("model_type", "?")]),
        "layers": config.get("num_hidden_layers"),
        "hidden_size": config.get("hidden_size"),
    }


def model_files(base: Path) -> tuple[Path, list[Path]] | None:
    """A model folder's config.json and its safetensors weights; None where either is missing."""
    weights = sorted(base.glob("model*.safetensors"))
    return (base / "config.json", weights) if weights and (base / "config.json").is_file() else None


def adapter_base_files(meta: dict) -> tuple[Path, list[Path]] | None:
    """The config.json and weights of the base an adapter was trained on, from meta.json: its recorded
    folder, else this install's shipped base (where meta.json says which weights it trained on), else
    a Hub base's files already in the local cache (nothing is downloaded); whichever is found, None
    unless its weights are the ones it trained on where meta.json says which (base_fingerprint): a
    folder there today may hold other weights."""
    given = str(meta.get("base_model_given") or "")
    recorded = str(meta.get("base_model") or meta.get("base_resolved") or "")
    trained_on = meta.get("base_fingerprint")
    found = model_files(Path(recorded)) if recorded else None  # "" would be the current folder
    if found is None and given.startswith(SHIPPED):  # today's shipped base: only a fingerprint says it is the same
        found = model_files(cards.shipped_root() / given[len(SHIPPED) :]) if isinstance(trained_on, str) else None
    elif found is None:
        found = next(filter(None, (cached_files(repo) for repo in dict.fromkeys((recorded, given)) if repo)), None)
    if found is None or not isinstance(trained_on, str):
        return found
    return found if base_fingerprint(found[0].parent) == trained_on else None


def cached_files(repo_id: str) -> tuple[Path, list[Path]] | None:
    """A Hub model's config.json and safetensors weights where the local Hub cache holds them all."""
    from huggingface_hub import try_to_load_from_cache

    def cached(name: str) -> Path | None:
        try:
            found = try_to_load_from_cache(repo_id, name)
        except ValueError:  # not a Hub repo id (a missing folder, `latest:...`)
            return None
        return Path(found) if isinstance(found, str) else None

    config, single, index = cached("config.json"), cached("model.safetensors"), cached("model.safetensors.index.json")
    if config is None or (single is None and index is None):
        return None
    if single is not None:
        return config, [single]
    shards = [
        cached(name) for name in sorted(set(json.loads(index.read_text(encoding="utf-8"))["weight_map"].values()))
    ]
    return (config, shards) if shards and None not in shards else None


def size_words(size: dict | None) -> str | None:
    if not size:
        return None
    shape = f"{size['architecture']}, {size['layers']} layers, hidden size {size['hidden_size']}"
    if size.get("adapter") is None:
        return f"{size['base']:,} parameters ({shape})"
    return (
        f"{size['base'] + size['adapter']:,} parameters: the base's {size['base']:,} ({shape}) and the LoRA "
        f"adapter's {size['adapter']:,} (in this repository)"
    )


def limitations_section(meta: dict, recipe: dict, size: dict | None) -> list[str]:
    """What a stranger must know before using it, from meta.json, the recipe and the weights."""
    metrics = meta.get("metrics") or {}
    counts = meta.get("data_counts") or {}
    missed = [name for name, t in (meta.get("targets") or {}).items() if isinstance(t, dict) and not t.get("met")]
    steps = metrics.get("train_steps")
    rows = f"{counts['train']:,}" if isinstance(counts.get("train"), int) else "?"
    lines = [
        "It plays glade's simulated Wood market only: a creature's turn in glade's own economy, rendered as "
        f"glade's prompts (protocol {meta_code(meta.get('protocol_version'))}). It knows nothing of real markets and is not "
        "a trading model.",
        "Its prompts are in English, as glade renders them; it was trained on no other language or format.",
        f"Size: {words}." if (words := size_words(size)) else None,
        "Training: "
        + (f"{steps:,} steps " if isinstance(steps, int) else "")
        + f"on {rows} rows"
        + (", from random initialisation (`model.base: tiny`)" if from_scratch(recipe) else "")
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


# the snippet's budget where the recipe names none (a hand-made or older one): a complete action fits in it, and
# glade.train.recipe's EvalSpec default cannot be read here (that module reaches trl, which glade.hub may not)
SNIPPET_TOKENS = 256


def usage_section(
    meta: dict, recipe: dict, repo_id: str, exported_kind: str, base: str | None, dataset: str | None
) -> list[str]:
    """A complete snippet that answers one prompt (a traces row's `messages`), and the answer's shape."""
    from glade.env.protocol import ACTION_SCHEMA, GOSSIP_CHARS, MAX_ORDERS, THOUGHT_CHARS

    named = (recipe.get("eval") or {}).get("max_new_tokens")  # the budget its own evaluation answered in
    budget = named or SNIPPET_TOKENS
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
        # transformers 4 cannot read the tokenizer files transformers 5 saves (its extra_special_tokens list)
        "It loads with transformers 5 or later"
        + (", and peft" if exported_kind == "lora" else "")
        + " (`pip install 'transformers>=5'"
        + (" peft" if exported_kind == "lora" else "")
        + " datasets`): transformers 4 cannot read its tokenizer files. Served by vLLM, ask for `temperature: 0` "
        f"and at most {budget} tokens: vLLM reads no `do_sample` from generation_config.json, so it would sample.",
        "",
        f"The prompt is the `messages` of a row of {where}; for a new state glade's renderer writes them "
        "(`glade.env.protocol.render(observation)`). Prompts are of glade's prompt protocol "
        f"{meta_code(meta.get('protocol_version'))} (meta.json `protocol_version`); it was trained on those, greedy decoding "
        + (
            f"as its evaluation used, with {budget} new tokens at most (the recipe's `eval.max_new_tokens`)."
            if named
            else f"as its evaluation used; the snippet allows {budget} new tokens (the recipe names no budget)."
        ),
        "",
        f"The answer is one JSON action: `{ACTION_SCHEMA}`, at most {MAX_ORDERS} orders, `gossip` (at most "
        f"{GOSSIP_CHARS} characters) and `thought` (at most {THOUGHT_CHARS}) optional. An empty `orders` list is a "
        "hold. glade reads it with `glade.env.protocol.parse(answer, observation)`, which returns an action valid in "
        "that state (a hold at worst) and names any error.",
        "",
    ]
