"""A checkpoint's files checked without loading them (`loadable`): what every verb that reads a
checkpoint's weights (merge, export, lm-eval) asks first, so a damaged folder is named before
anything loads, is written or is pushed; and what a model folder needs for its tokenizer
(`tokenizer_gap`: checkpoints, hf seats and train bases alike)."""

from __future__ import annotations

import json
from pathlib import Path

from .checkpoint import Checkpoint, finished

# What a LoRA checkpoint's adapter_config.json must say for PEFT to rebuild the adapter's
# shapes (PEFT writes them all; a hand-edited file without them fails deep in PEFT).
ADAPTER_KEYS = ("peft_type", "r", "target_modules")
# any one loads the tokenizer (vocab.json: an older slow tokenizer's folder, its class named by config.json)
TOKENIZER_FILES = ("tokenizer.json", "tokenizer_config.json", "vocab.json")
# where a tokenizer's vocabulary comes from, without tokenizer.json: transformers 5 builds a BPE one from
# vocab.json and merges.txt, a sentencepiece one from tokenizer.model; from tokenizer_config.json alone it
# builds one with no vocabulary, which merges, exports and scores without an error
VOCABULARY_FILES = (("vocab.json", "merges.txt"), ("tokenizer.model",))
# read as JSON objects when there: the model's config, its vocabulary, the tokenizer's settings and special
# tokens, the generation defaults
SETTINGS_JSON = (
    "config.json",
    "tokenizer.json",
    "tokenizer_config.json",
    "special_tokens_map.json",
    "generation_config.json",
)
FIX = "copy the whole folder glade train (or glade merge) wrote again, or train the checkpoint again"
STRAY_CONFIG = "glade train writes no config.json beside an adapter (transformers reads one there): delete it"


def loadable(folder: str | Path) -> Checkpoint:
    """`finished`, with the files the model loads from checked without loading them (the JSON
    configs, each safetensors header against the file's size, an adapter's rank against its
    weights, a tokenizer with its vocabulary and chat template). A ValueError naming the folder, the
    file and what is wrong otherwise."""
    found = finished(folder)
    folder = found.folder
    if found.is_adapter:
        config = json_object(folder / "adapter_config.json", FIX)
        missing = [key for key in ADAPTER_KEYS if key not in config]
        if missing:
            raise ValueError(
                f"{folder}: adapter_config.json lacks {', '.join(missing)} (PEFT writes {', '.join(ADAPTER_KEYS)}); {FIX}"
            )
        if wrong := adapter_gap(config):
            raise ValueError(f"{folder}: adapter_config.json {wrong}; {FIX}")
        weights = [folder / "adapter_model.safetensors"]
        if not weights[0].exists() and not (folder / "adapter_model.bin").is_file():
            raise ValueError(f"{folder}: no adapter weights (adapter_model.safetensors); {FIX}")
    else:
        json_object(folder / "config.json", FIX)
        weights = sorted(folder.glob("model*.safetensors"))
        if not weights and not any(folder.glob("pytorch_model*.bin")):
            raise ValueError(f"{folder}: no model weights (model.safetensors); {FIX}")
    for path in weights:
        if path.exists():
            header, problem = _safetensors_header(path)
            if problem:
                raise ValueError(f"{folder}: {path.name} is {problem}; {FIX}")
            if found.is_adapter and (wrong := _rank_gap(config, header)):
                raise ValueError(f"{folder}: adapter_config.json {wrong}; {FIX}")
    stray = folder / "config.json"  # beside an adapter: copying the folder again would keep it
    if found.is_adapter and stray.is_file() and (problem := _read_object(stray)[1]):
        raise ValueError(f"{folder}: config.json {problem}; {STRAY_CONFIG}")
    if gap := tokenizer_gap(folder) or settings_gap(folder):
        raise ValueError(f"{folder}: {gap}; {FIX}")
    tokenizer_config = {}
    if (folder / "tokenizer_config.json").exists():  # settings_gap found it a JSON object
        tokenizer_config = json_object(folder / "tokenizer_config.json", FIX)
    if not _has_chat_template(folder, tokenizer_config):  # every prompt of the Wood is a chat
        raise ValueError(
            f"{folder}: no chat template (chat_template.jinja, or chat_template in tokenizer_config.json), so no "
            f"prompt of the Wood can be rendered for it; {FIX}"
        )
    return found


def tokenizer_gap(folder: Path) -> str | None:
    """What a model folder lacks for its tokenizer to load with its vocabulary (see VOCABULARY_FILES),
    as words after "has"/"{folder}:"; None when it has it. Checkpoints, hf seats and train bases alike."""
    if not any((folder / name).is_file() for name in TOKENIZER_FILES):
        return f"no tokenizer ({' or '.join(TOKENIZER_FILES)})"
    if (folder / "tokenizer.json").is_file() or any(
        all((folder / name).is_file() for name in names) for names in VOCABULARY_FILES
    ):
        return None
    return "no tokenizer.json (nor vocab.json with merges.txt, or tokenizer.model), so the tokenizer would load with no vocabulary"


def settings_gap(folder: Path) -> str | None:
    """What in a model folder's config, tokenizer settings, chat template or generation defaults
    transformers cannot read, as words after "{folder}:"; None when nothing is. Checked before anything loads: a
    JSON list there is an AttributeError deep in transformers, a cut-short generation_config.json is
    dropped without a word (its stop tokens with it), an empty template fails only at the first answer."""
    for name in SETTINGS_JSON:
        if (folder / name).is_file() and (problem := _read_object(folder / name)[1]):
            return f"{name} {problem}"
    template = folder / "chat_template.jinja"
    if not template.is_file():
        return None
    try:
        text = template.read_text(encoding="utf-8")
    except (FileNotFoundError, ValueError) as exc:  # other OSErrors (permission denied) name themselves
        return f"chat_template.jinja is not readable text ({exc})"
    if not text.strip():
        return "chat_template.jinja is empty, so no prompt of the Wood can be rendered for it"
    # transformers' own compiler (private): its environment knows the {% generation %} tag chat templates use
    from jinja2 import TemplateError
    from transformers.utils.chat_template_utils import _compile_jinja_template

    try:
        _compile_jinja_template(text)
    except TemplateError as exc:
        line = getattr(exc, "lineno", None)
        return f"chat_template.jinja is no template transformers can compile ({exc.message.rstrip('.')}{f', line {line}' if line else ''})"
    return None


def check_base_settings(found: Checkpoint) -> None:
    """An adapter's base model, where it is a folder here, with settings transformers can read
    (settings_gap): merge and lm-eval load it. A ValueError naming it otherwise."""
    base = Path(found.base_model)
    if found.is_adapter and base.is_dir() and (gap := settings_gap(base)):
        raise ValueError(
            f"{found.folder}: its base model {base} (meta.json base_model): {gap}; copy the whole folder "
            "save_pretrained wrote there again"
        )


def adapter_gap(config: dict) -> str | None:
    """Where a LoRA adapter_config.json gives a value PEFT cannot build the adapter from (a hand edit),
    as words after "adapter_config.json"; None when none: PEFT fails on them with a bare TypeError."""
    r, modules = config.get("r", 1), config.get("target_modules")
    if not _rank(r):
        return f"says r {r!r}, not a whole number of at least 1 (the LoRA rank)"
    if not (modules is None or isinstance(modules, str) or _strings(modules)):
        return f"says target_modules {modules!r}, neither a module name nor a list of them"
    alpha = config.get("lora_alpha", 1)
    if not _number(alpha):
        return f"says lora_alpha {alpha!r}, not a number"
    for key, fits, what in (("rank_pattern", _rank, "ranks"), ("alpha_pattern", _number, "numbers")):
        pattern = config.get(key) or {}
        if not (isinstance(pattern, dict) and all(fits(v) for v in pattern.values())):
            return f"says {key} {config[key]!r}, not a mapping of module names to {what}"
    return None


def _rank(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _strings(value) -> bool:
    return isinstance(value, list) and all(isinstance(v, str) for v in value)


def _has_chat_template(folder: Path, tokenizer_config: dict) -> bool:
    names = ("chat_template.jinja", "chat_template.json")  # transformers 5 writes the first, 4.4x the second
    return any((folder / name).is_file() for name in names) or bool(tokenizer_config.get("chat_template"))


def _rank_gap(config: dict, header: dict) -> str | None:
    """Where adapter_config.json's rank `r` is not the rank of the lora_A weights (a hand edit, or
    the config of another adapter), which PEFT reports only as a size mismatch while loading."""
    if config.get("rank_pattern"):  # ranks per module: each weight has its own
        return None
    ranks = set()
    for key, entry in header.items():
        shape = entry.get("shape") if isinstance(entry, dict) else None
        if key.endswith(".lora_A.weight") and isinstance(shape, list) and shape:
            ranks.add(shape[0])  # lora_A is (rank, in_features)
    if ranks and ranks != {config["r"]}:
        return f"says r {config['r']!r}, but its weights (adapter_model.safetensors) have rank {', '.join(map(str, sorted(ranks)))}"
    return None


def json_object(path: Path, fix: str) -> dict:
    found, problem = _read_object(path)
    if problem:
        raise ValueError(f"{path.parent}: {path.name} {problem}; {fix}")
    return found


def _read_object(path: Path) -> tuple[dict, str | None]:
    """A file's JSON object, and what keeps it from being one (words after its name) or None."""
    try:
        found = json.loads(path.read_text(encoding="utf-8"))
    except (FileNotFoundError, IsADirectoryError, ValueError) as exc:  # a permission error names itself, not "JSON"
        return {}, f"is not readable JSON ({exc})"
    return (found, None) if isinstance(found, dict) else ({}, f"is a JSON {type(found).__name__}, not an object")


def _safetensors_header(path: Path) -> tuple[dict, str | None]:
    """A safetensors file's header (tensor name -> dtype, shape, data_offsets) read alone (8 bytes of
    header length, the JSON header, then the tensors' bytes it lists), and what is wrong with the
    file, or None: no weights are read. An OSError other than a folder in its place (permission denied,
    an I/O error) is raised: it says nothing of the content, and copying or training again would not help."""
    unreadable = "truncated or not safetensors (header unreadable)"
    try:
        size = path.stat().st_size
        with path.open("rb") as f:
            head = f.read(8)
            length = int.from_bytes(head, "little") if len(head) == 8 else -1
            if not 0 < length <= size - 8:
                return {}, unreadable
            header = json.loads(f.read(length))
        tensors = {key: entry for key, entry in header.items() if key != "__metadata__"}
        ends = [entry["data_offsets"][1] for entry in tensors.values()]
        end = 8 + length + max(ends, default=0)
    except (IsADirectoryError, ValueError, TypeError, KeyError, IndexError, AttributeError):
        return {}, unreadable
    if not isinstance(end, int):
        return {}, unreadable
    if end > size:
        return {}, f"truncated (its header lists {end:,} bytes, the file holds {size:,})"
    return tensors, None
