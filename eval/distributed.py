"""`glade eval --ray`: the same evaluation, its shards played as Ray tasks across a cluster.

The plan and the shards are glade.eval.plan's, the results folder glade.eval.run's: this module only plays shards. The
driver (the `glade eval` process) submits every shard still to play as one Ray task and writes each shard as a part
when its task returns (run.evaluate), so finished shards are kept, a rerun plays only the rest, and a shard is counted
once however often Ray ran it. A task whose worker dies is run again by Ray (`TASK_RETRIES`); it returns rows and
writes nothing, so a dead attempt leaves no trace. A node lost for good (Ray's error, no CPU left, a head not
answering) stops the run with one OSError line (glade exits 2); a rerun plays the rest. Joining the cluster (or
starting a local one) is glade.eval.ray_join's.

Inside a task the worlds play in lockstep (glade.rollout), with one batched call per batch key per turn. Model seats
(hf, checkpoint) live in one `SeatServer` actor per node, created by the driver: it loads each base model once and
serves every shard on its node; a task sends it all the model seats of a turn in one call, and it answers them with
one batched generate per base model, exactly as the local backend does. Actors take a GPU (`num_gpus=1`) on nodes that
have one; on CPU nodes they reserve no CPU, since their work happens while the tasks that call them wait. Stand-in,
server and python seats play inside the task.

Every node must see the model folders at the same path (a shared filesystem) or load them from the Hub; the driver
makes checkpoint seats' paths (`latest:NAME`) and hf seats' folders absolute before shipping; other relative paths (a
disposition file) must resolve on every worker as written.
"""

from __future__ import annotations

import json
import os
from collections.abc import Callable, Hashable, Iterator
from contextlib import suppress
from dataclasses import dataclass, replace

import pandas as pd
import ray
from ray.util.scheduling_strategies import NodeAffinitySchedulingStrategy

from glade import checkpoint
from glade.env.scenario import Scenario
from glade.policy_calls import act_timed
from glade.rollout import RolloutStats
from glade.run_cost import add
from glade.seats import Decision, Policy, load_council
from glade.seats.spec import MODEL_KINDS  # seats served by the node's SeatServer actor

from .plan import Shard, seat_council
from .ray_join import cluster, connect, no_cpus, within
from .recipe import EvalRecipe
from .rows import RESUME
from .run import play

TASK_RETRIES = 3  # a shard whose worker dies is played again, at most this often
WAIT_SECONDS = 10  # how often a run waiting on its tasks checks for a CPU, and how long the head may take to answer


def shipped(recipe: EvalRecipe) -> EvalRecipe:
    """The recipe as a worker on another node reads it: checkpoint paths (latest:NAME) and hf folders made absolute."""
    policies = {}
    for name, spec in recipe.policies.items():
        if isinstance(spec, dict) and spec.get("kind") == "checkpoint" and isinstance(spec.get("path"), str):
            spec = {**spec, "path": str(checkpoint.resolve(spec["path"]).resolve())}
        elif isinstance(spec, dict) and spec.get("kind") == "hf":
            spec = {k: _absolute(v) if k in ("model", "adapter") else v for k, v in spec.items()}
        policies[name] = spec
    return replace(recipe, policies=policies)


def _absolute(value):
    return str(os.path.abspath(value)) if isinstance(value, str) and os.path.exists(value) else value


def ray_backend(address: str, say: Callable[[str], None], quiet: bool = True) -> Callable:
    """run.evaluate's backend for `--ray ADDRESS`: joins (or starts) the cluster only when there is something to play,
    `say`ing the line `connect` returns, then `play_on_ray`."""

    def backend(recipe, scenarios, todo, stats, progress=None):
        if not todo:  # every episode finished: no cluster to start
            return
        say(connect(address, quiet))
        yield from play_on_ray(recipe, scenarios, todo, stats, progress)

    return backend


def play_on_ray(
    recipe: EvalRecipe, scenarios: dict[str, Scenario], todo: list[Shard], stats: RolloutStats, progress=None
) -> Iterator[tuple[Shard, pd.DataFrame, pd.DataFrame, pd.DataFrame]]:
    """The Ray backend for run.evaluate: one task per shard; yields (shard, decisions, episodes, attribution) as tasks
    finish. Call `connect` first (`ray_backend` does)."""
    if not todo:
        return
    recipe = shipped(recipe)
    stats.cluster = cluster()
    servers = seat_servers() if uses_models(recipe) else {}
    recipe_ref, scenarios_ref = ray.put(recipe), ray.put(scenarios)
    pending = {play_shard.remote(recipe_ref, scenarios_ref, shard, servers): shard for shard in todo}
    where = ray.get_runtime_context().gcs_address
    try:
        while pending:
            done, _ = ray.wait(list(pending), num_returns=1, timeout=WAIT_SECONDS)
            if not done:  # with no CPU left (its only CPU node gone) Ray would wait for ever, saying nothing
                gone = f"the Ray cluster at {where} stopped answering mid-run (its head node is gone); {RESUME}"
                if refusal := no_cpus(where, within(WAIT_SECONDS, cluster, gone)["cpus"]):
                    raise ConnectionError(f"{refusal}; {RESUME}")
                continue
            shard = pending.pop(done[0])
            decisions, episodes, replays, played = returned(done[0])
            add(stats, played)
            if progress is not None:  # the shard's world-turns at once, as evaluate's progress(n) counts them
                progress(sum(scenarios[w.scenario].turns for w in shard))
            yield shard, decisions, episodes, replays
    finally:
        for ref in pending:  # interrupted: what is still running is dropped, not written
            with suppress(ray.exceptions.RayError):  # its node may be gone already
                ray.cancel(ref, force=True)


def returned(ref):
    """A finished task's value. What a seat's code raised stays as it was (a ValueError or OSError as itself, others
    in Ray's wrapper with the task's traceback); Ray's own error, inside any task, is one ConnectionError line."""
    try:
        return ray.get(ref)
    except ray.exceptions.RayError as exc:
        cause = exc
        while isinstance(cause, ray.exceptions.RayTaskError):  # down to what raised it, in a task or a seat server
            cause = cause.cause
        if isinstance(cause, ray.exceptions.RayError):  # a node, a worker or a seat server gone
            raise ConnectionError(lost_line(cause)) from exc
        raise cause if isinstance(cause, (ValueError, OSError)) else exc from None


def lost_line(error: ray.exceptions.RayError) -> str:
    here = isinstance(error, ray.exceptions.LocalRayletDiedError)  # the driver's own node: `ray stop` on it
    what = "this machine's Ray node stopped" if here else "a Ray node, worker or seat server went away"
    said = (str(error).strip().splitlines() or [""])[0]
    return f"{what} mid-run ({type(error).__name__}: {said}); {RESUME} (with --ray once `ray status` shows its nodes)"


def uses_models(recipe: EvalRecipe) -> bool:
    return any(isinstance(s, dict) and s.get("kind") in MODEL_KINDS for s in recipe.policies.values())


# (job, node id) -> its SeatServer for the driver's life: a second evaluation in this process finds its models loaded
_SERVERS: dict[tuple[str, str], ray.actor.ActorHandle] = {}


def seat_servers() -> dict[str, ray.actor.ActorHandle]:
    """node id -> that node's SeatServer, one per alive node, owned by the driver."""
    job = ray.get_runtime_context().get_job_id()
    servers = {}
    for node in ray.nodes():
        if not node.get("Alive"):
            continue
        key = (job, node["NodeID"])
        if key not in _SERVERS:
            _SERVERS[key] = _start_server(node)
        servers[node["NodeID"]] = _SERVERS[key]
    return servers


def _start_server(node: dict) -> ray.actor.ActorHandle:
    return SeatServer.options(
        num_cpus=0,
        num_gpus=1 if node["Resources"].get("GPU", 0) >= 1 else 0,
        scheduling_strategy=NodeAffinitySchedulingStrategy(node["NodeID"], soft=False),
        max_restarts=-1,  # a killed server comes back (and loads its models again) ...
        max_task_retries=TASK_RETRIES,  # ... and the call that was in flight is asked again
    ).remote()


@ray.remote(num_cpus=1, max_retries=TASK_RETRIES)
def play_shard(recipe: EvalRecipe, scenarios: dict[str, Scenario], shard: Shard, servers: dict):
    """One shard in lockstep on a worker: (decisions, episodes, attribution, stats)."""
    server = node_server(servers, ray.get_runtime_context().get_node_id()) if servers else None
    cache: dict = {}
    loader = lambda seats: served_council(seats, server)
    council = lambda scenario, focal: seat_council(recipe, scenario, focal, cache, loader)
    stats = RolloutStats()
    decisions, episodes, replays = play(scenarios, shard, council, stats)
    return decisions, episodes, replays, stats


def node_server(servers: dict, here: str):
    """This node's seat server; on a node that joined mid-run (none of its own), a live node's (a dead node's server
    can never be scheduled again); ConnectionError when no server's node is alive."""
    if here in servers:
        return servers[here]
    alive = {n["NodeID"] for n in ray.nodes() if n.get("Alive")}
    if not (live := [server for node, server in servers.items() if node in alive]):
        raise ConnectionError(f"every Ray node with a seat server has stopped; {RESUME}")
    return live[0]


def served_council(seats: dict[str, dict | str], server) -> dict[str, Policy]:
    """load_council, with the model seats answered by `server` (the node's SeatServer)."""
    models = {c: s for c, s in seats.items() if isinstance(s, dict) and s.get("kind") in MODEL_KINDS}
    council = load_council({c: s for c, s in seats.items() if c not in models})
    if models:
        key = json.dumps(models, sort_keys=True)
        council.update({c: ServedSeat(server, key, models, c) for c in models})
    return council


@dataclass(frozen=True, eq=False)
class ServedSeat:
    """A model seat whose decisions come from the node's SeatServer. Every served seat of a task shares one batch key,
    so one turn's model seats go to the server in one call."""

    server: object  # the SeatServer actor handle
    council_key: str  # the model seats of one council, as JSON: the server loads each council once
    council: dict
    creature: str

    @property
    def name(self) -> str:
        return f"served:{self.creature}"

    def act(self, observations: list[dict]) -> list[Decision]:
        return self.act_batch([(self, obs) for obs in observations])

    def batch_key(self) -> Hashable:
        return ("served", id(self.server))

    def act_batch(self, seats: list[tuple[Policy, dict]]) -> list[Decision]:
        councils = {p.council_key: p.council for p, _ in seats}
        requests = [(p.council_key, p.creature, obs) for p, obs in seats]
        decisions, seconds = ray.get(self.server.act.remote(councils, requests))
        # the server's time in the models, not this call's: that waits on the network, and on the server's other tasks
        return [replace(d, model_s=s) for d, s in zip(decisions, seconds, strict=True)]


@ray.remote
class SeatServer:
    """The model seats of one node: each council's model seats loaded once (each base model once per process,
    glade.seats.hf.shared_model), answered in batches."""

    def __init__(self):
        self.councils: dict[str, dict[str, Policy]] = {}

    def act(self, councils: dict, requests: list[tuple[str, str, dict]]) -> tuple[list[Decision], list[float]]:
        """The decisions, and each one's model seconds (its share of its batched generate), as the local backend times
        them."""
        for key, seats in councils.items():
            if key not in self.councils:
                self.councils[key] = load_council(seats)
        return act_timed([(self.councils[key][creature], obs) for key, creature, obs in requests])
