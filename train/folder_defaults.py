"""What glade writes into a whole model's folder (the tiny base, `glade merge`, a merged or full
`glade export`) so that other tools use it as glade's evaluation did:

- generation_config.json: greedy decoding (`do_sample: false`) of at most the budget its
  evaluation answered in (`max_new_tokens`), the base's own token ids, and no sampling knob of a
  base (Qwen2.5-Instruct ships temperature, top_p, top_k and a repetition penalty): with none,
  `pipeline("text-generation")` and a bare `model.generate(**inputs)` answer as glade's seat does,
  not sampling at the pipeline's temperature 0.7 or stopping at transformers' 20 new tokens;
- a chat template without transformers' own `{% generation %}` / `{% endgeneration %}` markers
  (they mark assistant tokens for `return_assistant_tokens_mask`; glade trains prompt/completion
  rows and never reads them), which plain Jinja2 (llama.cpp, text-generation-webui) refuses as
  unknown tags. Removed so that transformers renders every chat exactly as before.
"""

from __future__ import annotations

import json
import re
from pathlib import Path

from glade.seats.base import Generation

GENERATION_CONFIG = "generation_config.json"


def answer_budget(recipe: dict | None) -> int:
    """The new tokens an answer may take: the recipe's `eval.max_new_tokens` (the budget its
    evaluation answered in, as the model card says), else a glade seat's default budget
    (`Generation.max_new_tokens`, what `{kind: hf, model: DIR}` answers in)."""
    named = ((recipe.get("eval") or {}) if isinstance(recipe, dict) else {}).get("max_new_tokens")
    if isinstance(named, int) and not isinstance(named, bool) and named > 0:
        return named
    return Generation.max_new_tokens


def recipe_budget(folder: Path) -> int:
    """answer_budget of the recipe.yaml glade train wrote beside a checkpoint (a seat's default
    where there is none, or it is no YAML mapping: the verbs that need it name that themselves)."""
    import yaml

    try:
        recipe = yaml.safe_load((Path(folder) / "recipe.yaml").read_text(encoding="utf-8"))
    except (OSError, ValueError, yaml.YAMLError):
        recipe = None
    return answer_budget(recipe)


def greedy_config(config: dict, budget: int) -> dict:
    """generation_config.json's settings for greedy answers of at most `budget` new tokens: the
    token ids `config` names (`*_token_id`: a base's own bos, eos, pad), `do_sample: false` and
    `max_new_tokens`; nothing else, so that no sampling setting contradicts greedy (transformers
    warns about a temperature or top_p beside it) and no repetition penalty changes the answer
    (glade's seat pins them neutral: glade.seats.hf._NEUTRAL)."""
    ids = {key: value for key, value in config.items() if key.endswith("_token_id") and value is not None}
    return {**ids, "do_sample": False, "max_new_tokens": budget}


def write_greedy(folder: Path, budget: int) -> None:
    """Rewrite `folder`'s generation_config.json as greedy_config (its ids from config.json where
    it has none)."""
    from transformers import GenerationConfig

    folder = Path(folder)
    source = folder / GENERATION_CONFIG
    if not source.is_file():
        source = folder / "config.json"
    config = json.loads(source.read_text(encoding="utf-8")) if source.is_file() else {}
    GenerationConfig(**greedy_config(config, budget)).save_pretrained(folder)


# transformers' markers of the assistant's tokens, and only them: `{% generation %}`, `{%- endgeneration -%}`
_MARKER = re.compile(r"\{%(?P<left>[-+]?)\s*(?:end)?generation\s*(?P<right>[-+]?)%\}")


def plain_template(text: str) -> str:
    """`text` without its generation markers, rendering exactly as before in transformers' Jinja
    environment (trim_blocks, lstrip_blocks): what a marker's `-` (or those settings) stripped of
    the text beside it goes with it."""
    while match := _MARKER.search(text):
        before, after = text[: match.start()], text[match.end() :]
        if match["left"] == "-":
            before = before.rstrip()
        elif not match["left"]:  # lstrip_blocks: spaces and tabs from the start of its line
            line = before[before.rfind("\n") + 1 :]
            if not line.strip(" \t"):
                before = before[: len(before) - len(line)]
        if match["right"] == "-":
            after = after.lstrip()
        elif not match["right"]:  # trim_blocks: the first newline after it
            after = after.removeprefix("\r\n") if after.startswith("\r\n") else after.removeprefix("\n")
        text = before + after
    return text


def has_markers(text: str) -> bool:
    return bool(_MARKER.search(text))


def plain_templates(folder: Path) -> list[str]:
    """Remove the generation markers from every chat template in `folder` (chat_template.jinja;
    chat_template.json and tokenizer_config.json's `chat_template`, as transformers 4 wrote it, a
    text or a list of named ones); returns the files rewritten."""
    folder, changed = Path(folder), []
    jinja = folder / "chat_template.jinja"
    if jinja.is_file() and has_markers(text := jinja.read_text(encoding="utf-8")):
        jinja.write_text(plain_template(text), encoding="utf-8")
        changed.append(jinja.name)
    for name in ("chat_template.json", "tokenizer_config.json"):
        path = folder / name
        if not path.is_file():
            continue
        data = json.loads(path.read_text(encoding="utf-8"))
        template = data.get("chat_template") if isinstance(data, dict) else None
        if isinstance(template, str) and has_markers(template):
            data["chat_template"] = plain_template(template)
        elif isinstance(template, list) and any(
            isinstance(t, dict) and isinstance(t.get("template"), str) and has_markers(t["template"]) for t in template
        ):
            data["chat_template"] = [
                {**t, "template": plain_template(t["template"])}
                if isinstance(t, dict) and isinstance(t.get("template"), str)
                else t
                for t in template
            ]
        else:
            continue
        path.write_text(json.dumps(data, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
        changed.append(name)
    return changed
