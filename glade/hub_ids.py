"""Why a model named by Hub id cannot load on this machine, said at once by every loader (the hf
and vLLM seats, train's model.base, merge and lm-eval's LoRA base) instead of after
huggingface_hub's retries (about 25 s per file it asks for) or deep inside a training run."""

from __future__ import annotations

import os
import socket
from pathlib import Path
from urllib.parse import urlparse

from glade.checkpoint import LATEST, SHIPPED

# What transformers' from_pretrained reads as a model's weights: one file, or a sharded model's
# index; a cached config.json alone is no model.
WEIGHT_FILES = (
    "model.safetensors",
    "pytorch_model.bin",
    "model.safetensors.index.json",
    "pytorch_model.bin.index.json",
)


def hub_unreachable(model: str | Path) -> str | None:
    """Why `model` cannot load here: a Hub id that is no local folder and not in the Hugging Face
    cache, where either offline mode (HF_HUB_OFFLINE) forbids the download or the Hub's host does
    not answer. None when it may load: a local path, `latest:`/`shipped:`, a cached id, what is no
    Hub id (transformers names that), or an id behind a proxy (the host is then not ours to try)."""
    from huggingface_hub import constants, try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    text = str(model)
    if Path(text).expanduser().exists() or text.startswith((LATEST, SHIPPED)):
        return None
    if constants.HF_HUB_OFFLINE:
        return offline_uncached(text)
    if any(os.environ.get(k) for k in ("HTTPS_PROXY", "https_proxy", "ALL_PROXY", "all_proxy")):
        return None
    try:
        if isinstance(try_to_load_from_cache(text, "config.json"), str):
            return None  # online, the weights it lacks can still come
    except HFValidationError:
        return None
    url = urlparse(constants.ENDPOINT)
    host = url.hostname or constants.ENDPOINT
    try:
        socket.create_connection((host, url.port or (80 if url.scheme == "http" else 443)), timeout=5).close()
    except OSError as exc:
        return (
            f"no local folder of that name, not in the Hugging Face cache ({constants.HF_HUB_CACHE}), and the Hub "
            f"({host}) cannot be reached ({exc.strerror or exc}): download it once where the Hub is reachable "
            f"(`hf download {text}`), or name a local folder that holds the model"
        )
    return None


def offline_uncached(model: str) -> str | None:
    """Why a Hub id cannot load in offline mode: its config or weights are not in the Hugging Face
    cache, looked up there alone (no network). None online, for a cached id, or for what is no Hub id."""
    from huggingface_hub import constants, try_to_load_from_cache
    from huggingface_hub.errors import HFValidationError

    if not constants.HF_HUB_OFFLINE:
        return None
    try:
        config = isinstance(try_to_load_from_cache(model, "config.json"), str)
        weights = any(isinstance(try_to_load_from_cache(model, name), str) for name in WEIGHT_FILES)
    except HFValidationError:
        return None
    if config and weights:
        return None
    return (
        f"not in the Hugging Face cache ({constants.HF_HUB_CACHE}) and {offline_mode()}, so it cannot be "
        f"downloaded: download it first (`hf download {model}`), or unset {offline_switches()}"
    )


def offline_switches() -> str:
    """The variables that put huggingface_hub offline here, as a message names them (`HF_HUB_OFFLINE
    and TRANSFORMERS_OFFLINE`): either does, so each one set must go. HF_HUB_OFFLINE where neither is
    (offline mode turned on in code)."""
    return " and ".join(k for k in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE") if os.environ.get(k)) or "HF_HUB_OFFLINE"


def offline_mode() -> str:
    """`offline mode is on (TRANSFORMERS_OFFLINE)`: what a loader or a push says of offline mode."""
    return f"offline mode is on ({offline_switches()})"
