"""The Policy protocol: anything that picks actions for seats, batched.

A policy takes a list of observations (as `glade.env.parallel_env` returns them) and
returns one Decision per observation. Seat specs are small dicts, the same ones the YAML
recipes use:

    {kind: standin, disposition: hoarder}
    {kind: hf, model: ID_OR_DIR, adapter: DIR}       (+ dtype, device, generation keys)
    {kind: checkpoint, path: DIR}                      (a folder written by glade train)
    {kind: server, base_url: URL, model: NAME}        (+ timeout, retries, concurrency ...)
    {kind: python, entry_point: "module:factory", kwargs: {...}}

`load_council` builds a whole council and seats every hf/checkpoint seat that shares a
base model (and generation settings) on ONE policy, so a council of LoRA creature models
costs one batched generate per turn.
"""

from __future__ import annotations

import importlib
import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Protocol, runtime_checkable

from glade.env import standin


@dataclass(frozen=True)
class Decision:
    action: dict  # the JSON action form: {"orders": [...], "gossip": "..."}
    text: str | None = None  # the raw completion, for model seats
    error: str | None = None  # a named parse error or fault, None when clean
    latency_s: float = 0.0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    repaired: bool = False  # the parser had to fix the completion
    policy: str | None = None  # identity of what decided, when it differs per seat


@runtime_checkable
class Policy(Protocol):
    name: str

    def act(self, observations: list[dict]) -> list[Decision]: ...


@dataclass(frozen=True)
class StandIn:
    """The rule-based stand-in (glade.env.standin) behind the Policy protocol."""

    disposition: standin.Disposition
    seed: int = 0

    @property
    def name(self) -> str:
        return f"standin:{self.disposition.name}"

    def act(self, observations: list[dict]) -> list[Decision]:
        return [Decision(standin.act(obs, self.disposition, self.seed)) for obs in observations]


class SeatSpecError(ValueError):
    """A seat spec that cannot be loaded; the message says which key and why."""


SEAT_KINDS = ("standin", "hf", "checkpoint", "server", "python")
GENERATION_KEYS = {"max_new_tokens", "temperature", "top_p", "seed", "batch_size", "prefix_cache"}
SERVER_KEYS = {"timeout", "retries", "backoff", "concurrency", "max_tokens", "temperature", "seed", "api_key_env"}


def load(spec: dict[str, Any] | str) -> Policy:
    """Build a Policy from a seat spec. A bare string is a stand-in disposition name."""
    if isinstance(spec, str):
        spec = {"kind": "standin", "disposition": spec}
    if not isinstance(spec, dict) or "kind" not in spec:
        raise SeatSpecError(f"seat spec {spec!r}: expected a mapping with a 'kind' ({', '.join(SEAT_KINDS)})")
    kind = spec["kind"]
    if kind == "standin":
        _check_keys(spec, {"kind", "disposition", "seed"})
        try:
            return StandIn(standin.disposition(spec.get("disposition", "balanced")), int(spec.get("seed", 0)))
        except ValueError as exc:
            raise SeatSpecError(f"seat spec disposition: {exc}") from None
    if kind == "python":
        _check_keys(spec, {"kind", "entry_point", "kwargs"})
        return _load_python(spec)
    if kind in ("hf", "checkpoint"):
        policy = load_council({"_": spec})["_"]
        policy.default_adapter = policy.adapters.pop("_")  # one seat: its adapter serves any creature
        return policy
    if kind == "server":
        _check_keys(spec, {"kind", "base_url", "model"} | SERVER_KEYS)
        for key in ("base_url", "model"):
            if not isinstance(spec.get(key), str):
                raise SeatSpecError(f"seat spec server: missing {key!r} (a string)")
        from glade.server_seat import ServerPolicy

        return ServerPolicy(**{k: v for k, v in spec.items() if k != "kind"})
    raise SeatSpecError(f"seat spec kind: unknown kind {kind!r} (known: {', '.join(SEAT_KINDS)})")


def _check_keys(spec: dict, allowed: set[str]) -> None:
    for key in spec:
        if key not in allowed:
            raise SeatSpecError(f"seat spec {spec['kind']}: unknown key {key!r} (known: {', '.join(sorted(allowed))})")


def _load_python(spec: dict) -> Policy:
    entry = spec.get("entry_point")
    if not isinstance(entry, str) or ":" not in entry:
        raise SeatSpecError(f"seat spec entry_point: expected 'module:factory', got {entry!r}")
    module_name, attr = entry.split(":", 1)
    try:
        factory = getattr(importlib.import_module(module_name), attr)
    except (ImportError, AttributeError) as exc:
        raise SeatSpecError(f"seat spec entry_point {entry!r}: {exc}") from None
    policy = factory(**(spec.get("kwargs") or {}))
    if not isinstance(policy, Policy):
        raise SeatSpecError(f"seat spec entry_point {entry!r}: the factory must return a Policy (name, act)")
    return policy


def _model_seat(spec: dict) -> tuple[tuple, str | None, dict]:
    """(sharing key, adapter path, generation kwargs) for an hf or checkpoint seat."""
    if spec["kind"] == "checkpoint":
        _check_keys(spec, {"kind", "path", "dtype", "device"} | GENERATION_KEYS)
        spec = {**_resolve_checkpoint(spec.get("path")), **{k: v for k, v in spec.items() if k not in ("kind", "path")}}
        spec["kind"] = "hf"
    _check_keys(spec, {"kind", "model", "adapter", "dtype", "device"} | GENERATION_KEYS)
    if not isinstance(spec.get("model"), str):
        raise SeatSpecError("seat spec hf: missing 'model' (a hub id or a local folder)")
    adapter = spec.get("adapter")
    if adapter is not None and not (Path(adapter) / "adapter_config.json").exists():
        raise SeatSpecError(f"seat spec hf adapter: {adapter!r} has no adapter_config.json")
    generation = {k: spec[k] for k in GENERATION_KEYS if k in spec}
    if not isinstance(generation.get("prefix_cache", True), bool):
        raise SeatSpecError(f"seat spec hf prefix_cache: expected true or false, got {generation['prefix_cache']!r}")
    key = (spec["model"], spec.get("dtype", "float32"), spec.get("device", "cpu"), tuple(sorted(generation.items())))
    return key, adapter, generation


def latest_checkpoint(root: str | Path, name: str) -> Path | None:
    """The newest complete checkpoint folder of recipe `name` under `root` (partial runs,
    hidden and without meta.json, never count)."""
    found = [p for p in Path(root).glob(f"{name}__*") if p.is_dir() and (p / "meta.json").exists()]
    found.sort(key=lambda p: p.name.split("__")[-1])  # by the time stamp
    return found[-1] if found else None


def _resolve_checkpoint(path) -> dict:
    """A glade checkpoint folder: meta.json names the base model; the folder is the adapter
    (or, when it holds a config.json and no adapter, a merged model). `latest:NAME` is the
    newest checkpoint of recipe NAME under ./checkpoints."""
    if isinstance(path, str) and path.startswith("latest:"):
        found = latest_checkpoint("checkpoints", path[len("latest:") :])
        if found is None:
            raise SeatSpecError(f"seat spec checkpoint path {path!r}: no complete checkpoint under checkpoints/ (train it first)")
        path = str(found)
    if not isinstance(path, str) or not Path(path).is_dir():
        raise SeatSpecError(f"seat spec checkpoint path: {path!r} is not a folder")
    folder = Path(path)
    if (folder / "adapter_config.json").exists():
        meta_path = folder / "meta.json"
        if not meta_path.exists():
            raise SeatSpecError(f"seat spec checkpoint {path!r}: no meta.json naming the base model")
        base = json.loads(meta_path.read_text()).get("base_model")
        if not base:
            raise SeatSpecError(f"seat spec checkpoint {path!r}: meta.json has no base_model")
        return {"model": base, "adapter": str(folder)}
    if (folder / "config.json").exists():
        return {"model": str(folder)}
    raise SeatSpecError(f"seat spec checkpoint {path!r}: neither an adapter nor a model folder")


def load_council(seats: dict[str, dict | str]) -> dict[str, Policy]:
    """creature -> seat spec  =>  creature -> Policy, sharing one policy per base model."""
    council: dict[str, Policy] = {}
    shared: dict[tuple, Any] = {}
    for creature, spec in seats.items():
        if isinstance(spec, dict) and spec.get("kind") in ("hf", "checkpoint"):
            key, adapter, generation = _model_seat(spec)
            if key not in shared:
                from glade.hf_seat import Generation, HFPolicy, shared_model

                model, dtype, device = key[0], key[1], key[2]
                shared[key] = HFPolicy(shared_model(model, dtype, device), None, {}, Generation(**generation))
            shared[key].adapters[creature] = adapter
            council[creature] = shared[key]
        else:
            council[creature] = load(spec)
    return council
