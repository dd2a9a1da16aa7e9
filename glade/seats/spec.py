"""Seat specs checked before anything loads, shared by the run (`glade.seats.load`) and
`glade validate`: `check_spec` checks every key and value of a spec; `check_inputs` checks what
it reads from disk (a checkpoint, a model folder, an adapter, a Python module) and raises
`MissingInput` for what is not there yet. Every error is a SeatSpecError naming the key.
"""

from __future__ import annotations

import importlib.util
import json
import math
import re
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

from glade import checkpoint
from glade.checkpoint_files import adapter_gap, settings_gap, tokenizer_gap
from glade.config import MissingInput, looked_for, shipped_hint
from glade.env.schema import LARGEST_INT, control_character, did_you_mean, type_text
from glade.env.standin import DISPOSITIONS, disposition, is_disposition_path
from glade.hub_ids import WEIGHT_FILES

from .base import SeatSpecError, check_keys, first_line

SEAT_KINDS = ("standin", "hf", "checkpoint", "server", "python")
MODEL_KINDS = ("hf", "checkpoint")  # seats whose model runs here (a model folder or a glade checkpoint; either engine)
DTYPE_NAMES = ("float32", "bfloat16", "float16")
ADAPTER_WEIGHTS = ("adapter_model.safetensors", "adapter_model.bin")  # what PEFT's from_pretrained reads
Rule = tuple[Callable[[Any], bool], str]  # (accepts the value, what is expected)


def _whole(low: int | None = None, any_size: bool = False) -> Rule:
    def ok(v) -> bool:  # at most 64 bits: torch, numpy and the sockets take no more
        whole = isinstance(v, int) and not isinstance(v, bool) and (low is None or v >= low)
        return whole and (any_size or abs(v) <= LARGEST_INT)

    return ok, "a whole number" + (f" >= {low}" if low is not None else "")  # 10**30 reads as absurd by itself


def _whole_below(high: int) -> Rule:
    ok = lambda v: _whole()[0](v) and 0 <= v <= high  # noqa: E731
    return ok, f"a whole number from 0 to {high:,}"


def _number(low: float, open_low: bool = False, high: float | None = None) -> Rule:
    def ok(v) -> bool:
        if isinstance(v, bool) or not isinstance(v, (int, float)) or not math.isfinite(v):
            return False  # .inf passes every lower bound, and no wait or temperature means it
        return (v > low if open_low else v >= low) and (high is None or v <= high)

    bounds = f"> {low:g}" if open_low else f">= {low:g}"
    return ok, f"a number {bounds}" + (f" and <= {high:g}" if high is not None else "")


def _url(v) -> bool:
    if not isinstance(v, str):
        return False
    parts = urllib.parse.urlsplit(v)
    try:
        port_ok = parts.port is None or parts.port > 0
    except ValueError:
        return False
    # glade appends /chat/completions: a query, a fragment, a space or that path would fail every request
    plain = not (parts.query or parts.fragment or any(ch.isspace() for ch in v))
    root = not parts.path.rstrip("/").endswith("/chat/completions")
    return parts.scheme in ("http", "https") and bool(parts.hostname) and port_ok and plain and root


# A torch device string: a type and an optional index. `meta` holds no weights, so it cannot play.
DEVICE = re.compile(r"(?!meta\b)[a-z][a-z_]*(:\d+)?")

# A model seat's sampling seed seeds torch or vLLM (plus the row's place in a call), which take
# 64 bits at most: 2**32 - 1 leaves room and is what every sampler accepts.
MAX_SEAT_SEED = 2**32 - 1
# The longest wait a server seat may name, in seconds (about 11 days): a longer one overflows the
# socket's and the sleep's clocks mid-run.
LONGEST_WAIT = 1e6
# A server seat's tries after the first: the waits double, so 30 at the default backoff are years.
MAX_RETRIES = 10
# The hottest sampling a seat may ask for, on every engine: a guard against typos (70 for 0.7), set at
# the OpenAI API's own limit; past it a small model's answers are near-uniform draws from its vocabulary.
MAX_TEMPERATURE = 2.0

TEXT: Rule = (lambda v: isinstance(v, str) and bool(v.strip()), "a non-empty string")
# A server's model names the seat in rows, reports and the terminal as written: no escape sequence or bidi override.
NAME: Rule = (lambda v: TEXT[0](v) and control_character(v) is None, "a non-empty string of printable characters")
OPTIONAL_TEXT: Rule = (lambda v: v is None or TEXT[0](v), "a non-empty string or null")
BOOL: Rule = (lambda v: isinstance(v, bool), type_text(bool))
GENERATION: dict[str, Rule] = {
    "max_new_tokens": _whole(1),
    "temperature": _number(0, high=MAX_TEMPERATURE),
    "top_p": _number(0, open_low=True, high=1),
    "seed": _whole_below(MAX_SEAT_SEED),
    "batch_size": _whole(1),
    "prefix_cache": BOOL,
    "structured": BOOL,
}
ENGINES = ("hf", "vllm")
VLLM_ONLY = {"max_model_len"}  # keys of engine: vllm
ENGINE: dict[str, Rule] = {
    "engine": (lambda v: v in ENGINES, "one of " + ", ".join(ENGINES)),
    "max_model_len": _whole(1),
}
CHOICES = {"engine": ENGINES, "dtype": DTYPE_NAMES}  # keys of a few named values: a misspelt one gets a hint
MODEL: dict[str, Rule] = {
    "dtype": (lambda v: v in DTYPE_NAMES, "one of " + ", ".join(DTYPE_NAMES)),
    "device": (
        lambda v: isinstance(v, str) and DEVICE.fullmatch(v) is not None,
        "a device name such as cpu, cuda or cuda:0",
    ),
}
SERVER: dict[str, Rule] = {
    "base_url": (
        _url,
        "the server's API root, http(s)://HOST[:PORT]/PATH with no spaces, query or fragment, such as"
        " http://127.0.0.1:8000/v1 (glade adds /chat/completions)",
    ),
    "model": NAME,
    "timeout": _number(0, open_low=True, high=LONGEST_WAIT),
    "retries": _whole_below(MAX_RETRIES),
    "backoff": _number(0, high=LONGEST_WAIT),
    "concurrency": _whole(1),
    "max_tokens": _whole(1),
    "temperature": _number(0, high=MAX_TEMPERATURE),
    "seed": (
        lambda v: v is None or _whole_below(MAX_SEAT_SEED)[0](v),
        f"a whole number from 0 to {MAX_SEAT_SEED:,}, or null",
    ),
    "api_key_env": TEXT,
    "structured": BOOL,
}
RULES: dict[str, dict[str, Rule]] = {
    "standin": {
        "disposition": (
            lambda v: isinstance(v, str) and (v in DISPOSITIONS or is_disposition_path(v)),
            "one of " + ", ".join(DISPOSITIONS) + ", or a path to a disposition .yaml",
        ),
        "seed": _whole(0, any_size=True),  # as every seed in glade; any size, as it only salts a CRC-32
    },
    "python": {
        "entry_point": (
            lambda v: isinstance(v, str) and re.fullmatch(r"[\w.]+:\w+", v) is not None,
            "'module:factory'",
        ),
        "kwargs": (lambda v: v is None or isinstance(v, dict), "a mapping"),
    },
    "hf": {"model": TEXT, "adapter": OPTIONAL_TEXT, **MODEL, **GENERATION, **ENGINE},
    "checkpoint": {
        "path": (TEXT[0], "a folder written by glade train, or latest:NAME"),
        **MODEL,
        **GENERATION,
        **ENGINE,
    },
    "server": SERVER,
}
REQUIRED = {
    "hf": {"model": "a hub id or a local folder"},
    "checkpoint": {"path": "a folder written by glade train, or latest:NAME"},
    "server": {"base_url": "a string", "model": "a string"},
    "python": {"entry_point": "'module:factory'"},
}


def as_spec(spec: Any) -> Any:
    """A seat spec as a mapping where it is a bare string, a stand-in disposition (a name or a
    file); anything else as given, for the checks to name."""
    return {"kind": "standin", "disposition": spec} if isinstance(spec, str) else spec


def check_spec(spec: dict[str, Any] | str) -> None:
    """Every key and value of a seat spec (a bare string is a stand-in disposition); loads nothing."""
    spec = as_spec(spec)
    if not isinstance(spec, dict) or "kind" not in spec:
        raise SeatSpecError(f"seat spec {spec!r}: expected a mapping with a 'kind' ({', '.join(SEAT_KINDS)})")
    kind = spec["kind"]
    if not isinstance(kind, str) or kind not in RULES:  # a list or mapping cannot even be looked up
        raise SeatSpecError(
            f"seat spec kind: unknown kind {kind!r} (known: {', '.join(SEAT_KINDS)})"
            + (did_you_mean(kind, SEAT_KINDS) if isinstance(kind, str) else "")
        )
    check_fields(kind, {k: v for k, v in spec.items() if k != "kind"})
    for key, what in REQUIRED.get(kind, {}).items():
        if key not in spec:
            raise SeatSpecError(f"seat spec {kind} {key}: missing {key!r} ({what})")
    if kind in MODEL_KINDS:
        check_engine(spec)


def check_engine(spec: dict[str, Any]) -> None:
    """Keys that belong to one engine only."""
    engine = spec.get("engine", "hf")
    if engine == "hf" and VLLM_ONLY & set(spec):
        raise SeatSpecError(
            f"seat spec {', '.join(sorted(VLLM_ONLY & set(spec)))}: a key of engine: vllm, not of engine: hf"
        )
    if engine == "vllm" and "batch_size" in spec:
        raise SeatSpecError(
            "seat spec batch_size: a key of engine: hf (rows per generate); vLLM schedules its own batches"
        )


def check_fields(kind: str, fields: dict[str, Any]) -> None:
    """The fields of one kind of seat: known keys, each value of the right type and range."""
    rules = RULES[kind]
    check_keys({"kind": kind, **fields}, {"kind", *rules})
    for key, value in fields.items():
        ok, expected = rules[key]
        if not ok(value):
            close = did_you_mean(value, CHOICES[key]) if key in CHOICES and isinstance(value, str) else ""
            raise SeatSpecError(f"seat spec {kind} {key}: expected {expected}, got {value!r}" + close)


def check_stand_in_names(specs: dict[str, dict[str, Any] | str]) -> None:
    """Two disposition files of one run under one name, with other parameters (two calibrations
    left at their default name): rows, ranks and calibrations tell stand-ins apart by name, so
    the two would merge. `specs`: where each spec sits in the recipe -> the spec. A file that is
    not there or not readable is left to check_inputs."""
    seen: dict[str, tuple[str, str, Any]] = {}
    for where, spec in specs.items():
        ref = spec.get("disposition") if isinstance(spec, dict) and spec.get("kind") == "standin" else spec
        if not isinstance(ref, str) or not is_disposition_path(ref):
            continue
        try:
            d = disposition(ref)
        except ValueError:
            continue
        first_where, first_ref, first = seen.setdefault(d.name, (where, ref, d))
        if first != d:
            raise SeatSpecError(
                f"{first_where} ({first_ref}) and {where} ({ref}) are two different dispositions named {d.name!r}; "
                "results tell stand-ins apart by name, so give one of the files a name of its own (name: ...)"
            )


def check_inputs(spec: dict[str, Any] | str) -> None:
    """What the seat reads before it plays: MissingInput when a file or folder is not there,
    SeatSpecError when one is there but is not what the spec says."""
    spec = as_spec(spec)
    if not isinstance(spec, dict):
        return
    kind = spec.get("kind")
    if kind == "standin" and isinstance(spec.get("disposition"), str) and is_disposition_path(spec["disposition"]):
        if Path(spec["disposition"]).is_dir():  # there, but no file: nothing will write it
            raise SeatSpecError(
                f"seat spec disposition: {spec['disposition']}: is a folder; expected a disposition .yaml"
            )
        if not Path(spec["disposition"]).is_file():  # not there yet: glade calibrate may still write it
            try:
                shipped_hint(spec["disposition"])  # recipes/dispositions/... run from outside a checkout
            except ValueError as exc:
                raise SeatSpecError(f"seat spec disposition: {exc}") from None
            looked = looked_for(spec["disposition"])
            raise MissingInput(
                f"seat spec disposition: {spec['disposition']}: no such disposition file (glade calibrate --out writes"
                " one); write one there or fix the path" + (f": {looked}" if looked else "")
            )
        try:  # a disposition file is read now, as the seat will: malformed is a mistake
            disposition(spec["disposition"])
        except ValueError as exc:
            raise SeatSpecError(f"seat spec disposition: {exc}") from None
    elif kind in MODEL_KINDS:
        installed(spec)
        found = checkpoint_model(spec["path"]) if kind == "checkpoint" else spec
        model_inputs(found["model"], found.get("adapter"), spec.get("max_new_tokens"))
    elif kind == "python":
        module = spec["entry_point"].split(":", 1)[0]
        try:
            found = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            found = None
        except Exception as exc:  # finding pkg.mod imports pkg, whose own code may raise
            raise SeatSpecError(
                f"seat spec python entry_point {spec['entry_point']!r}: importing {module} raised {first_line(exc)}"
            ) from exc
        if found is None:
            raise SeatSpecError(
                f"seat spec python entry_point {spec['entry_point']!r}: no module {module!r} on Python's path"
                " (for a module in the current folder, run with PYTHONPATH=.)"
            )


def installed(spec: dict[str, Any]) -> None:
    """The libraries a model seat needs, found before anything loads (a missing one would
    otherwise stop the run at seat load, or mid-turn, with a traceback)."""
    if spec.get("engine") == "vllm" and not _found("vllm"):
        raise SeatSpecError(
            "seat spec engine: vllm needs vLLM, which is not installed: pip install 'glade[vllm]' on a CPU"
            " machine, pip install vllm on a GPU one; or use engine: hf"
        )
    if spec.get("structured") and not _found("llguidance"):
        raise SeatSpecError(
            "seat spec structured: true needs llguidance (a dependency of glade), which is not installed:"
            " pip install 'llguidance>=1.7,<2'"
        )


def _found(module: str) -> bool:
    try:
        return importlib.util.find_spec(module) is not None
    except ValueError:  # imported already, with no spec (a test's stand-in)
        return True


def checkpoint_model(path: str) -> dict:
    """model (and adapter) of a checkpoint seat: the adapter folder on its base model, or a full model."""
    try:
        resolved = checkpoint.resolve(path)
    except ValueError as exc:  # latest:NAME with nothing trained yet; shipped:NAME that glade lacks, for good
        error = SeatSpecError if str(path).startswith(checkpoint.SHIPPED) else MissingInput
        raise error(f"seat spec checkpoint path: {exc}") from None
    if not Path(resolved).exists():
        looked = looked_for(resolved)
        raise MissingInput(
            f"seat spec checkpoint path: {str(path)!r}: no such folder (glade train writes them)"
            + (f"; {looked}" if looked else "")
        )
    try:
        found = checkpoint.read(resolved)
    except ValueError as exc:
        raise SeatSpecError(f"seat spec checkpoint path: {exc}") from None
    if found.is_adapter:
        base, given = found.base_model, found.meta.get("base_model_given")
        folder = Path(base).expanduser()
        if looks_local(base) and not (folder / "config.json").is_file():  # gone, not yet to be made: a FAIL
            shipped = ", which this glade does not ship" if str(given).startswith(checkpoint.SHIPPED) else ""
            said = f" (given as {given!r}{shipped})" if given else ""
            what = "holds no model (no config.json)" if folder.exists() else "is no folder here"
            raise SeatSpecError(
                f"seat spec checkpoint path: {found.folder / 'meta.json'}: base_model {base!r}{said} {what}"
                ", so the adapter has no base to sit on; restore that folder, or seat it on a copy of its base"
                f" as {{kind: hf, model: BASE_FOLDER, adapter: {found.folder}}}"
            )
        return {"model": base, "adapter": str(found.folder)}
    return {"model": str(found.folder)}


def looks_local(model: str) -> bool:
    """A model string that can only be a local folder: a hub id is NAME or OWNER/NAME."""
    return model.startswith(("/", ".", "~")) or model.count("/") > 1 or "\\" in model


def model_inputs(model: str, adapter: str | None = None, max_new_tokens: int | None = None) -> None:
    """A local model folder, with room in its positions for `max_new_tokens` (or a hub id, not checked:
    nothing is downloaded) and an adapter folder."""
    if model.startswith((checkpoint.SHIPPED, checkpoint.LATEST)):
        raise SeatSpecError(
            f"seat spec hf model: {model!r} names a checkpoint, which an hf seat does not resolve; "
            f"seat it as {{kind: checkpoint, path: {model}}}"
        )
    folder = Path(model).expanduser()
    if folder.exists():
        if not (folder / "config.json").exists():
            raise SeatSpecError(f"seat spec hf model: {model!r} is not a model folder (no config.json)")
        if gap := tokenizer_gap(folder):
            raise SeatSpecError(f"seat spec hf model: {model!r} has {gap}")
        # read now, before a run writes anything: a seat that fails to load mid-run leaves a folder of
        # this recipe's episodes that the fixed recipe may not resume
        if gap := settings_gap(folder):
            raise SeatSpecError(f"seat spec hf model: {model!r}: {gap}; copy the whole folder save_pretrained wrote")
        positions = json.loads((folder / "config.json").read_text(encoding="utf-8")).get("max_position_embeddings")
        if isinstance(positions, int) and isinstance(max_new_tokens, int) and max_new_tokens >= positions:
            raise SeatSpecError(  # the cache is sized for the prompt and the answer: 10**8 asked for 128 GB
                f"seat spec max_new_tokens: {max_new_tokens:,} leaves no room for the prompt in {model!r}'s "
                f"{positions:,} positions (max_position_embeddings); ask for fewer"
            )
        if not any((folder / name).is_file() for name in WEIGHT_FILES):
            raise SeatSpecError(
                f"seat spec hf model: {model!r} has no weights ({', '.join(WEIGHT_FILES)}):"
                " copy the whole folder save_pretrained wrote"
            )
    elif looks_local(model):
        raise MissingInput(f"seat spec hf model: {model!r}: no such folder")
    if adapter is not None:
        if not Path(adapter).exists():
            raise MissingInput(f"seat spec hf adapter: {adapter!r}: no such folder")
        if not (Path(adapter) / "adapter_config.json").exists():
            raise SeatSpecError(f"seat spec hf adapter: {adapter!r} has no adapter_config.json")
        try:
            config = json.loads((Path(adapter) / "adapter_config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise SeatSpecError(
                f"seat spec hf adapter: {adapter!r}: adapter_config.json is not readable JSON ({exc})"
            ) from None
        if wrong := adapter_gap(config) if isinstance(config, dict) else "is not a JSON object":
            raise SeatSpecError(f"seat spec hf adapter: {adapter!r}: adapter_config.json {wrong}")
        if not any((Path(adapter) / name).is_file() for name in ADAPTER_WEIGHTS):
            raise SeatSpecError(
                f"seat spec hf adapter: {adapter!r} has no adapter weights ({' or '.join(ADAPTER_WEIGHTS)}):"
                " copy the whole folder glade train or PEFT's save_pretrained wrote"
            )
        if config.get("use_dora"):  # PEFT refuses DoRA in a batch that names each row's adapter
            raise SeatSpecError(
                f"seat spec hf adapter: {adapter!r} is a DoRA adapter, which PEFT cannot serve in the seat's"
                " mixed-adapter batches; merge it into its base (PEFT's merge_and_unload) and seat the merged model"
            )
