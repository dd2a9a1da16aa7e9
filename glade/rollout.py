"""The episode loop: W worlds in lockstep, one batched policy call per batch of seats per turn.

Each turn, the observations of every world are grouped by their policy's `batch_key()`,
and each group is answered by one `act_batch` call. Seats that share a base model share
a key (see `glade.seats.load_council`), so a council of creature adapters costs one
batched generate per turn, across councils and casts. `glade simulate` is W = 1.

Every decision becomes one trace row (ROW_COLUMNS). The stand-in's counterfactual action
in the same state is recorded too; the stand-in is a pure function of the observation, so
asking it changes nothing. `glade generate` and `glade eval` keep the columns they
document; `glade.episode_folder.write_episode` writes the per-turn trace of `glade simulate`, which plays the
same loop with `full=False`: its rows leave out the four columns it never reads (the
rendered prompt, the observation JSON and the stand-in's counterfactual, FULL_ONLY), which
were most of an episode's time.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

import glade
from glade.env import parallel_env, standin
from glade.env.observation import plain
from glade.env.protocol import PROTOCOL_VERSION, render, with_article
from glade.env.scenario import Scenario, load_scenario
from glade.env.world import check_conservation
from glade.faults import SeatMeter, is_fault, tally_faults
from glade.policy_calls import act_timed
from glade.seats import Decision, Policy, StandIn, each_creature, load_council, standin_council
from glade.tracejson import canonical, dumps, encoder, fills_json

ROW_COLUMNS = (
    "episode_id", "scenario", "scenario_hash", "seed", "turn", "creature", "seat", "policy",
    "protocol_version", "messages", "observation", "completion", "action", "error", "repaired",
    "self_buy", "standin_action", "standin_disposition", "latency_s", "prompt_tokens",
    "completion_tokens", "rejected", "fills", "pebbles", "wealth_before", "wealth_after",
    "wealth_change", "mood", "inventory", "sentiment", "events",
)  # fmt: skip
# `rejected`: the named rejections, cuts and ignored keys of the answer, validate_orders' notes
# ({"order", "reason", "outcome", "qty"}, "key" for an unknown key): first the parser's, which
# carry "by": "parser" and count the answer's orders (what it refused or cut before the Wood saw
# the action), then the Wood's, which count the action's orders.


FULL_ONLY = ("messages", "observation", "standin_action", "standin_disposition")  # left out by full=False


@dataclass(frozen=True)
class EpisodeSpec:
    episode_id: str
    scenario: Scenario
    seed: int
    council: dict[str, Policy]  # creature -> policy
    seats: dict[str, str] = field(default_factory=dict)  # creature -> seat label (default: policy name)
    # the creatures whose rows carry FULL_ONLY (None: every one): an eval keeps only its focal seats'
    # decisions, and rendering the others' prompts and counterfactuals took a third of its play
    recorded: frozenset[str] | None = None

    def __post_init__(self):
        # A misspelt creature would otherwise sit nowhere, and its creature on its stand-in.
        creatures = self.scenario.creatures
        if self.recorded is not None and (unknown := sorted(self.recorded - set(creatures))):
            raise ValueError(
                f"{self.episode_id}: recorded names {', '.join(unknown)}, not creatures of {self.scenario.name}"
            )
        for creature, policy in self.council.items():
            if creature not in creatures:
                raise ValueError(
                    f"{self.episode_id}: council names {creature!r}, which is not a creature of scenario"
                    f" {self.scenario.name} (creatures: {', '.join(creatures)})"
                )
            if not isinstance(policy, Policy):
                raise TypeError(
                    f"{self.episode_id}: the seat of {creature} is {with_article(type(policy).__name__)}, not a Policy;"
                    " build one with glade.seats.load(spec), or seat an object with a name and an"
                    " act(observations) as glade.seats.PythonSeat(obj)"
                )


@dataclass(frozen=True)
class Played:
    """One finished episode: its trace rows (one per decision, ROW_COLUMNS; without FULL_ONLY
    when played with full=False, or for a creature outside the spec's `recorded`), the world's
    score history (one row per turn) and its summary (final prices, wealth, Gini, trades,
    volume, gambit P&L, the conservation check)."""

    spec: EpisodeSpec
    rows: list[dict]
    history: list[dict]
    summary: dict[str, Any]

    @property
    def scenario(self) -> Scenario:
        return self.spec.scenario

    @property
    def seed(self) -> int:
        return self.spec.seed


@dataclass
class RolloutStats:
    decisions: int = 0
    model_seconds: float = 0.0  # inside act_batch of non-stand-in policies
    total_seconds: float = 0.0
    policy_calls: int = 0
    seats: dict[str, SeatMeter] = field(default_factory=dict)  # seat label (the trace rows' `seat`) -> meter
    cluster: dict | None = None  # the Ray cluster that played (nodes, cpus, gpus); None: this process

    @property
    def outside_model_share(self) -> float:
        return 1.0 - self.model_seconds / self.total_seconds if self.total_seconds else 0.0

    def meter(self, seat: str) -> SeatMeter:
        if seat not in self.seats:
            self.seats[seat] = SeatMeter()
        return self.seats[seat]


def world_turn_ticks(
    episodes: list[EpisodeSpec], progress: Callable[[int], None] | None, after: Callable[[int], None] | None = None
) -> Callable[[int], None] | None:
    """run_lockstep's `on_turn` for a bar counted in world-turns (the dry runs' unit): `progress(n)`
    hears the n worlds each lockstep turn played, every episode playing its scenario's turns;
    `after(live)` is called after each turn too, with the worlds still playing (glade.faults.failing_watch)."""
    if progress is None and after is None:
        return None
    lengths = [e.scenario.turns for e in episodes]
    counts = iter([sum(n > t for n in lengths) for t in range(max(lengths))])

    def on_turn(live: int) -> None:
        played = next(counts)
        if progress is not None:
            progress(played)
        if after is not None:
            after(live)

    return on_turn


def seat_label(e: EpisodeSpec, creature: str, d: Decision) -> str:
    """The trace rows' `seat`: the episode's label for the creature, else the deciding policy's identity."""
    return e.seats.get(creature, d.policy or e.council[creature].name)


def run_lockstep(
    episodes: list[EpisodeSpec],
    on_turn: Callable[[int], None] | None = None,
    stats: RolloutStats | None = None,
    full: bool = True,
    sink: Callable[[str, dict], None] | None = None,
) -> dict[str, Played]:
    """Play every episode to its end; returns episode_id -> Played. `on_turn(live)` hears
    after each lockstep turn how many worlds are still playing. `full=False` records rows
    without the FULL_ONLY columns (what `glade simulate` writes needs none of them). `sink(episode_id,
    row)` takes each row as it is made, in the order Played.rows would hold them, and Played.rows stays
    empty: `glade generate` packs them as they come (glade.shard_spool) instead of keeping every dict."""
    stats = stats if stats is not None else RolloutStats()
    twice = sorted({e.episode_id for e in episodes if sum(f.episode_id == e.episode_id for f in episodes) > 1})
    if twice:  # rows and results are keyed by id: two would be merged into one
        raise ValueError(f"episode ids must differ; given twice: {', '.join(twice[:3])}")
    started = time.perf_counter()
    envs, observations, rows = {}, {}, {e.episode_id: [] for e in episodes}
    marks: dict[str, list[tuple]] = {e.episode_id: [] for e in episodes}  # (creature, seat, error): the summary's
    for e in episodes:
        env = parallel_env(e.scenario)
        observations[e.episode_id], _ = env.reset(seed=e.seed)
        envs[e.episode_id] = env
    hashes = {e.episode_id: e.scenario.hash() for e in episodes}  # once per episode, not per row
    references = {  # the counterfactual's disposition per creature, read once per episode
        e.episode_id: {c: standin.disposition(x.disposition) for c, x in e.scenario.creatures.items()} for e in episodes
    }
    played: dict[str, Played] = {}
    live = list(episodes)
    while live:
        seats = [(e, c) for e in live for c in envs[e.episode_id].agents]
        answers, seconds = act_timed([(e.council[c], observations[e.episode_id][c]) for e, c in seats], stats)
        decisions = {(e.episode_id, c): d for (e, c), d in zip(seats, answers, strict=True)}
        labels = {}  # (episode, creature) -> the rows' seat label
        for (e, c), d, spent in zip(seats, answers, seconds):
            labels[(e.episode_id, c)] = label = seat_label(e, c, d)
            stats.meter(label).add(d, spent)
        for e in live:
            env, obs = envs[e.episode_id], observations[e.episode_id]
            actions = {c: decisions[(e.episode_id, c)].action for c in env.agents}
            agents = list(env.agents)
            next_obs, _, _, _, infos = env.step(actions)
            before = env.last_wealth_before
            events = _json(list(env.last_row["events"]) + [f"seam: {s}" for s in env.last_row["seam"]])
            for c in agents:
                row = trace_row(
                    e,
                    hashes[e.episode_id],
                    c,
                    obs[c],
                    decisions[(e.episode_id, c)],
                    labels[(e.episode_id, c)],
                    infos[c],
                    before[c],
                    env.world,
                    events,
                    references[e.episode_id][c] if full and (e.recorded is None or c in e.recorded) else None,
                )
                marks[e.episode_id].append((c, row["seat"], row["error"]))
                if sink is None:
                    rows[e.episode_id].append(row)
                else:
                    sink(e.episode_id, row)
            observations[e.episode_id] = next_obs
            stats.decisions += len(agents)
            if not env.agents:
                played[e.episode_id] = Played(
                    e,
                    rows[e.episode_id],
                    list(env.world.history),
                    _summary(e, hashes[e.episode_id], marks.pop(e.episode_id), env.world),
                )
        live = [e for e in live if envs[e.episode_id].agents]
        if on_turn is not None:
            on_turn(len(live))
    stats.total_seconds += time.perf_counter() - started
    return {e.episode_id: played[e.episode_id] for e in episodes}


def trace_row(
    e: EpisodeSpec,
    scenario_hash: str,
    creature: str,
    obs: dict,
    d: Decision,
    seat: str,
    info: dict,
    wealth_before: float,
    world,
    events: str,
    reference: standin.Disposition | None,
) -> dict:
    """One decision's row; structured columns are JSON strings. With the creature's
    scenario disposition as `reference`, all of ROW_COLUMNS; with None, all but FULL_ONLY."""
    policy = e.council[creature]
    action = canonical(d.action)
    row = {
        "episode_id": e.episode_id,
        "scenario": e.scenario.name,
        "scenario_hash": scenario_hash,
        "seed": e.seed,
        "turn": int(obs["turn"]),
        "creature": creature,
        "seat": seat,
        "policy": d.policy or policy.name,
        "protocol_version": PROTOCOL_VERSION,
        # a stand-in's: its action; a fault's: nothing, the server sent no answer (the action is the held turn)
        "completion": d.text if d.text is not None else "" if is_fault(d.error) else action,
        "action": action,
        "error": d.error,
        "repaired": bool(d.repaired),
        "self_buy": int(info["self_buy"]),
        "latency_s": float(d.latency_s),
        "prompt_tokens": int(d.prompt_tokens),
        "completion_tokens": int(d.completion_tokens),
        "rejected": dumps([*d.notes, *info["notes"]]) if d.notes or info["notes"] else "[]",
        "fills": fills_json(info["fills"]) if info["fills"] else "[]",
        "pebbles": float(world.pebbles[creature]),
        "wealth_before": float(wealth_before),
        "wealth_after": float(info["wealth"]),
        "wealth_change": float(info["wealth"] - wealth_before),
        "mood": float(world.mood[creature]),
        "inventory": _json(world.inventory[creature]),
        "sentiment": _json(info["sentiment"]),
        "events": events,
    }
    if reference is not None:
        if policy == StandIn(reference) and d.text is None:
            counterfactual = d.action  # the seat is the reference: its answer is the counterfactual
        else:
            counterfactual = standin.act(obs, reference)
        row["messages"] = render(obs)
        row["observation"] = dumps(plain(obs))
        row["standin_action"] = canonical(counterfactual)
        row["standin_disposition"] = reference.name
    return row


def _summary(e: EpisodeSpec, scenario_hash: str, marks: list[tuple], world) -> dict:
    """`marks`: (creature, seat, error) of each of the episode's rows, in order."""
    history = world.history
    last = history[-1]
    seats: dict[str, str] = {}
    for creature, seat, _ in marks:
        seats.setdefault(creature, seat)
    return {
        "scenario": e.scenario.name,
        "scenario_hash": scenario_hash,
        "seed": int(e.seed),
        "turns": e.scenario.turns,
        "council": seats,
        "final_prices": {g: round(p, 6) for g, p in world.price.items()},
        "wealth": {c: round(w, 6) for c, w in last["wealth"].items()},
        "pebbles": {c: round(world.pebbles[c], 6) for c in world.creatures},
        "gini": round(last["gini"], 6),
        "trades": sum(r["trades"] for r in history),
        "volume": sum(sum(r["volume"].values()) for r in history),
        "gambit_pnl": round(world.patron.gambit_pnl, 6) if e.scenario.gambit is not None else None,
        "patron_pebbles": round(world.patron.pebbles, 6),
        "conservation_problems": check_conservation(world),
        "faults": tally_faults(
            (seat, error) for _, seat, error in marks
        ),  # per seat: turns its server failed to answer
        "glade_version": glade.__version__,
    }


def _plain(value: Any) -> Any:
    if isinstance(value, (np.generic, np.ndarray)):
        return value.tolist()
    return str(value)


_json = encoder(default=_plain, ensure_ascii=False)  # made once (see glade.tracejson)


# ---------------------------------------------------------------------------- one episode


def recipe_scenario(name: str | Path, turns: int | None) -> Scenario:
    """A scenario as a recipe plays it: at the recipe's `turns` when it sets them, else at its own."""
    return load_scenario(name, **({"turns": turns} if turns else {}))


def run_episode(
    scenario: str | Path | Scenario,
    seed: int,
    turns: int | None = None,
    council: dict[str, Policy | dict | str] | None = None,
    full: bool = True,
) -> Played:
    """Play one episode (W = 1). `turns` overrides the scenario's; `council` maps creature ->
    Policy or seat spec (`"hoarder"`, `{"kind": "hf", ...}`; loaded with
    `glade.seats.load_council`), and `"*"` every creature not named; creatures left out sit
    on their scenario's stand-in disposition. `full=False` leaves the FULL_ONLY columns out of the rows (as `glade
    simulate` plays). A model or server seat that fails to answer never raises here: its
    decisions hold, with the fault named in `error`, and `summary["faults"]` counts them per
    seat; a python seat's own exceptions, and answers of the wrong shape, do raise."""
    if turns is not None and (not isinstance(scenario, Scenario) or scenario.turns != turns):
        scenario = load_scenario(scenario, turns=turns)
    else:
        scenario = load_scenario(scenario)
    named = each_creature(council or {}, list(scenario.creatures), "council")
    specs = {c: seat for c, seat in named.items() if isinstance(seat, (dict, str))}
    policies = {c: seat for c, seat in named.items() if seat is not None and c not in specs}
    seated = {**standin_council(scenario), **policies, **load_council(specs)}
    spec = EpisodeSpec(f"{scenario.name}.s{seed}", scenario, int(seed), seated)
    return run_lockstep([spec], full=full)[spec.episode_id]
