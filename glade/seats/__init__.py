"""Seats: what picks each creature's actions. The dispatch on a seat spec's `kind`: `load`, and
`load_council` for the model seats that share a base.

Seat specs are small dicts, the same ones the YAML recipes use:

    {kind: standin, disposition: hoarder}
    {kind: hf, model: ID_OR_DIR, adapter: DIR}       (+ dtype, device, generation keys, engine; structured:
                                                       true holds answers to each state's action schema)
    {kind: checkpoint, path: DIR}                      (a folder written by glade train; latest:NAME)
    {kind: server, base_url: URL, model: NAME}        (+ timeout, retries, concurrency ...)
    {kind: python, entry_point: "module:factory", kwargs: {...}}

`load_council` builds a whole council and seats every hf/checkpoint seat that shares a
base model (and generation settings) on ONE policy, so a council of LoRA creature models
costs one batched generate per turn. Model backends (torch) load only when a model sits.
`engine: vllm` on an hf or checkpoint seat answers it with vLLM instead of transformers
(glade.seats.vllm; vllm is imported only when such a seat loads).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from glade import checkpoint
from glade.env.scenario import Scenario
from glade.env.schema import ConfigError, as_plain
from glade.env.standin import disposition, is_disposition_path

from .base import Decision, Policy, SeatAnswerError, SeatSpecError, one_device
from .names import check_model_names
from .python import PythonSeat, load_python
from .spec import (
    GENERATION,
    MODEL_KINDS,
    SEAT_KINDS,
    VLLM_ONLY,
    as_spec,
    check_inputs,
    check_spec,
    check_stand_in_names,
    checkpoint_model,
)
from .standin import StandIn

__all__ = [
    "Decision",
    "Policy",
    "PythonSeat",
    "SeatAnswerError",
    "SeatSpecError",
    "StandIn",
    "SEAT_KINDS",
    "TRANSPORT_KEYS",
    "check_inputs",
    "check_model_names",
    "check_stand_in_names",
    "check_spec",
    "anchored",
    "each_creature",
    "load",
    "load_council",
    "results_spec",
    "standin_council",
]

GENERATION_KEYS = set(GENERATION)
LONE = "_"  # the placeholder creature `load` seats a lone model seat on (its errors name no creature)
# Keys that say how a seat is reached or batched, not what it answers: a resumed run may
# change them (fix a server's URL, give it a longer timeout) and keep what it finished.
TRANSPORT_KEYS = {
    "base_url",
    "timeout",
    "retries",
    "backoff",
    "concurrency",
    "api_key_env",
    "batch_size",
    "prefix_cache",
}


def load(spec: dict[str, Any] | str) -> Policy:
    """Build a Policy from a seat spec (checked first: glade.seats.spec). A bare string is a
    stand-in disposition name."""
    check_spec(spec)
    spec = as_spec(spec)
    kind = spec["kind"]
    if kind == "standin":
        ref = spec.get("disposition", "balanced")
        path = Path(ref).expanduser()  # a string: check_spec said so
        if is_disposition_path(ref) and not path.exists():  # said with the path it was looked for at
            looked = "" if path.is_absolute() else f" (looked for {path.resolve()})"
            raise SeatSpecError(f"seat spec disposition: {ref}: no such disposition file{looked}")
        try:
            return StandIn(disposition(ref), int(spec.get("seed", 0)))
        except ValueError as exc:  # a disposition file that is malformed
            raise SeatSpecError(f"seat spec disposition: {exc}") from None
    if kind == "python":
        check_inputs(spec)
        return load_python(spec)
    if kind in MODEL_KINDS:
        _model_seat(spec)  # its mistakes raised here, unprefixed: a lone seat sits on no creature
        policy = load_council({LONE: spec})[LONE]
        policy.default_adapter = policy.adapters.pop(LONE)  # one seat: its adapter serves any creature
        return policy
    from .server import ServerPolicy

    return ServerPolicy(**{k: v for k, v in spec.items() if k != "kind"})


def load_council(seats: dict[str, dict | str]) -> dict[str, Policy]:
    """creature -> seat spec  =>  creature -> Policy, sharing one policy per base model."""
    council: dict[str, Policy] = {}
    shared: dict[tuple, Any] = {}
    for creature, spec in seats.items():
        if isinstance(spec, dict) and spec.get("kind") in MODEL_KINDS:
            try:
                key, adapter, generation = _model_seat(spec)
            except (SeatSpecError, ConfigError) as exc:  # MissingInput too: named by creature, as other seats are
                raise type(exc)(f"{creature}: {exc}") from None
            try:
                if key not in shared:
                    shared[key] = _model_policy(key, generation)
                if key[0] == "hf":  # loaded now, so an adapter PEFT cannot load stops the run before it plays
                    shared[key].shared.adapter_name(adapter)
            except SeatSpecError as exc:
                raise SeatSpecError(str(exc) if creature == LONE else f"{creature}: {exc}") from exc
            shared[key].adapters[creature] = adapter
            council[creature] = shared[key]
        else:
            try:
                council[creature] = load(spec)
            except SeatSpecError as exc:  # its cause kept: GLADE_DEBUG=1 shows a user's factory failing
                raise SeatSpecError(f"{creature}: {exc}") from exc
    for key, policy in shared.items():
        if key[0] == "vllm":
            policy.seat()  # the engine starts (or makes room) now, with every adapter of this council
    return council


def _model_policy(key: tuple, generation: dict) -> Policy:
    """The one policy of the hf or checkpoint seats that share `key` (glade.seats._model_seat)."""
    from .hf import Generation, shared_model  # torch only when a model sits
    from .hf_policy import HFPolicy

    engine, model, dtype, device, options = key[:5]
    if engine == "vllm":
        vllm = _vllm_seats()
        cache = generation.get("prefix_cache", True)
        settings = vllm.EngineSettings(model, dtype, device, prefix_cache=cache, **dict(options))
        return vllm.VLLMPolicy(vllm.shared_engine(settings), None, {}, Generation(**generation))
    return HFPolicy(shared_model(model, dtype, device), None, {}, Generation(**generation))


def each_creature(seats: dict[str, Any], creatures: list[str], where: str) -> dict[str, Any]:
    """creature -> seat spec for every creature, as recipes and `--council` write councils:
    `"*"` seats each creature not named, and a creature neither names gets None (its
    stand-in). A name that is not a creature is a ConfigError that starts with `where`."""
    unknown = [c for c in seats if c not in creatures and c != "*"]
    if unknown:
        named = ", ".join(map(str, unknown))  # YAML reads `1:` or `~:` as a number or null
        raise ConfigError(f"{where}: unknown creature(s) {named} (creatures: {', '.join(creatures)})")
    return {c: seats.get(c, seats.get("*")) for c in creatures}


def anchored(seats: dict[str, Any], folder: str | Path) -> dict[str, Any]:
    """A council file's seats with each relative disposition path taken from `folder`, the file's
    own (as a scenario file's are); a recipe's paths stay relative to the folder glade runs in."""

    def anchor(ref):
        relative = isinstance(ref, str) and is_disposition_path(ref) and not Path(ref).is_absolute()
        relative = relative and not ref.startswith("~")
        return str(Path(folder) / ref) if relative else ref

    out = {}
    for creature, spec in seats.items():
        if isinstance(spec, dict) and spec.get("kind") == "standin" and "disposition" in spec:
            spec = {**spec, "disposition": anchor(spec["disposition"])}
        out[creature] = anchor(spec) if isinstance(spec, str) else spec
    return out


def _vllm_seats():
    """glade.seats.vllm, imported only when an engine: vllm seat sits (it imports vllm)."""
    try:
        from . import vllm
    except ImportError as exc:
        raise SeatSpecError(
            f"seat spec engine: vllm needs vLLM ({exc}): pip install 'glade[vllm]' on a CPU machine,"
            " pip install vllm on a GPU one; or use engine: hf"
        ) from None
    return vllm


def results_spec(spec: dict[str, Any] | str | None) -> dict[str, Any] | str | None:
    """What decides a seat's answers: the spec without its TRANSPORT_KEYS, with `latest:NAME`
    resolved to the checkpoint folder it names now (a retrained recipe is another model) and a
    disposition file's parameters beside its path (an edited file is another stand-in)."""
    if isinstance(spec, str) and is_disposition_path(spec):
        spec = {"kind": "standin", "disposition": spec}
    if not isinstance(spec, dict):
        return spec
    out = {k: v for k, v in spec.items() if k not in TRANSPORT_KEYS}
    if out.get("kind") == "standin" and isinstance(out.get("disposition"), str):
        if is_disposition_path(out["disposition"]):
            try:
                out["parameters"] = as_plain(disposition(out["disposition"]))
            except ValueError as exc:
                raise SeatSpecError(f"seat spec disposition: {exc}") from None
    if (
        out.get("kind") == "checkpoint"
        and isinstance(out.get("path"), str)
        and out["path"].startswith(checkpoint.LATEST)
    ):
        try:
            out["path"] = str(checkpoint.resolve(out["path"]))
        except ValueError as exc:
            raise SeatSpecError(f"seat spec checkpoint path: {exc}") from None
    return out


def standin_council(scenario: Scenario) -> dict[str, Policy]:
    """Every creature on its scenario's stand-in disposition (one policy per disposition)."""
    by_disposition: dict[str, Policy] = {}
    out = {}
    for cid, creature in scenario.creatures.items():
        d = creature.disposition
        if d not in by_disposition:
            by_disposition[d] = load(d)
        out[cid] = by_disposition[d]
    return out


def _model_seat(spec: dict) -> tuple[tuple, str | None, dict]:
    """(sharing key, adapter path, generation kwargs) for an hf or checkpoint seat."""
    check_spec(spec)
    check_inputs(spec)
    if spec["kind"] == "checkpoint":
        spec = {**checkpoint_model(spec["path"]), **{k: v for k, v in spec.items() if k not in ("kind", "path")}}
    adapter = spec.get("adapter")
    generation = {k: spec[k] for k in GENERATION_KEYS if k in spec}
    engine, options = spec.get("engine", "hf"), tuple(sorted((k, spec[k]) for k in VLLM_ONLY if k in spec))
    model, dtype, device = spec["model"], spec.get("dtype", "float32"), one_device(spec.get("device", "cpu"))
    return (engine, model, dtype, device, options, tuple(sorted(generation.items()))), adapter, generation
