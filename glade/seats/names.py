"""`check_model_names`: two model seats of one run that would write one policy identity in the
rows but answer differently, refused before anything loads (shared by the run and `glade
validate`, beside glade.seats.spec's checks)."""

from __future__ import annotations

import urllib.parse
from dataclasses import fields
from pathlib import Path
from typing import Any

from .base import Generation, SeatSpecError, identity_clash, model_identity
from .server import ServerPolicy, server_name
from .spec import MODEL_KINDS, checkpoint_model

# The keys besides the model that change a seat's answers, with their defaults (what a seat
# that leaves one out plays with); top_p and seed only sample.
SAMPLING = ("top_p", "seed")
MODEL_ANSWERS = {
    f.name: f.default for f in fields(Generation) if f.name in ("max_new_tokens", "temperature", *SAMPLING)
}
SERVER_ANSWERS = {f.name: f.default for f in fields(ServerPolicy) if f.name in ("max_tokens", "temperature", "seed")}
# this machine's own names for itself; another loopback address (127.0.0.2) can be another server
THIS_HOST = ("localhost", "127.0.0.1", "::1")


def answers(spec: dict[str, Any], defaults: dict[str, Any]) -> dict[str, Any]:
    """The spec's answer-changing settings, defaults filled in; greedy seats ignore the sampling ones."""
    out = {k: spec.get(k, default) for k, default in defaults.items()}
    if not out["temperature"]:
        out = {k: v for k, v in out.items() if k not in SAMPLING}
    return out


def check_model_names(specs: dict[str, dict[str, Any] | str], servers: bool = False, settings: bool = True) -> None:
    """Two model seats of one run that would write one policy identity in the rows but answer
    differently: two models in folders of one name (model_identity keeps folder names: runs/a/final
    and runs/b/final are both `+final`), or one model at two temperatures or token budgets; which
    data.policies, calibrate and the fault tally would take as one. With `servers`, two server seats
    of one `server:MODEL` at two servers, or with two such settings, too (eval names seats by the
    recipe's policy names instead). Without `settings`, only the folder names (eval: one model at
    two temperatures is two policies there). `specs`: where each spec sits in the recipe -> the
    spec; a checkpoint not there yet is left to check_inputs."""
    seats = []
    for where, spec in specs.items():
        kind = spec.get("kind") if isinstance(spec, dict) else None
        if servers and kind == "server":  # named as ServerPolicy.name
            name = server_name(spec.get("model"), bool(spec.get("structured")))
            said = answers(spec, SERVER_ANSWERS) if settings else {}
            seats.append((where, name, {"base_url": _server(spec.get("base_url")), **said}))
        if kind not in MODEL_KINDS:
            continue
        try:  # a checkpoint seat sits as its adapter on its base, or its full model
            found = {**spec, **checkpoint_model(spec["path"])} if spec["kind"] == "checkpoint" else spec
        except (ValueError, KeyError):
            continue
        model, adapter = found.get("model"), found.get("adapter")
        identity = model_identity(found.get("engine", "hf"), model, adapter, bool(found.get("structured")))
        deciding = {"model": _folder(model), "adapter": _folder(adapter)}
        if settings:
            deciding.update(answers(found, MODEL_ANSWERS))
        seats.append((where, identity, deciding))
    if (clash := identity_clash(seats)) is None:
        return
    (a, one), (b, other), identity = clash
    # a key only one holds is a sampling one beside a greedy seat: their temperatures say it
    keys = [k for k in one if k in other and one[k] != other[k]]
    named = [", ".join(f"{k} {x[k]}" for k in keys) for x in (one, other)]
    if "base_url" in keys:
        raise SeatSpecError(
            f"{a} ({named[0]}) and {b} ({named[1]}) are two servers that would both "
            f"write policy {identity} in the rows, so the rows and the fault tally could not tell them apart; serve "
            "one under another model name (vLLM: --served-model-name) and give that name as its seat's model"
        )
    if "base_url" in one:
        raise SeatSpecError(
            f"{a} ({named[0]}) and {b} ({named[1]}) are two seats of one server that answer differently but would "
            f"both write policy {identity} in the rows, so the rows and the fault tally could not tell them apart; "
            "serve the model under a second name too (vLLM: --served-model-name NAME OTHER) and give each seat its own"
        )
    if {"model", "adapter"} & set(keys):
        raise SeatSpecError(
            f"{a} ({named[0]}) and {b} ({named[1]}) are two models that would both write policy {identity} in "
            "the rows (seats are named by their folders' names), so the traces could not tell them apart; give one "
            "of the folders a name of its own (rename it, or seat a copy or link named for it)"
        )
    raise SeatSpecError(
        f"{a} ({named[0]}) and {b} ({named[1]}) are two seats that answer differently but would both write policy "
        f"{identity} in the rows (seats are named by their folders' names, not their generation settings), so the "
        "traces could not tell them apart; seat one of them on a copy or link of its model folder named for it"
    )


def _server(url) -> str:
    """One server's address however it is spelt: with or without its last /, localhost, 127.0.0.1 or ::1."""
    parts = urllib.parse.urlsplit(str(url).rstrip("/"))
    if (parts.hostname or "").lower() in THIS_HOST:
        parts = parts._replace(netloc="127.0.0.1" + (f":{parts.port}" if parts.port else ""))
    return parts.geturl()


def _folder(ref):
    """A local folder as the one it names from here (one folder spelled two ways is one model)."""
    return str(Path(ref).expanduser().resolve()) if isinstance(ref, str) and Path(ref).expanduser().is_dir() else ref
