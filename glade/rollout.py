"""Run many worlds in lockstep, one batched policy call per policy per turn.

Each turn, the observations of every world are grouped by the policy object seated on
them, and each policy is called once with its whole group. Seats that share a base model
share one policy object (see `glade.policies.load_council`), so a council of creature
adapters costs one batched generate per turn. For every decision the stand-in's
counterfactual action in the same state is recorded too; the stand-in is a pure function
of the observation, so asking it changes nothing.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field
from typing import Callable

from glade.env import parallel_env, standin
from glade.env.observation import plain
from glade.env.protocol import PROTOCOL_VERSION, render
from glade.env.scenario import Scenario
from glade.env.world import wealth
from glade.policies import Decision, Policy, StandIn


@dataclass(frozen=True)
class EpisodeSpec:
    episode_id: str
    scenario: Scenario
    seed: int
    council: dict[str, Policy]  # creature -> policy
    seats: dict[str, str] = field(default_factory=dict)  # creature -> seat label (default: policy name)


@dataclass
class RolloutStats:
    decisions: int = 0
    model_seconds: float = 0.0  # inside policy.act of non-stand-in policies
    total_seconds: float = 0.0
    policy_calls: int = 0

    @property
    def outside_model_share(self) -> float:
        return 1.0 - self.model_seconds / self.total_seconds if self.total_seconds else 0.0


def canonical(action: dict) -> str:
    """The action as compact JSON with a fixed key order: the SFT target and the trace form."""
    out = {"orders": [{"side": o["side"], "good": o["good"], "qty": int(o["qty"]), "price": round(float(o["price"]), 2)} for o in action.get("orders", [])]}
    for key in ("gossip", "thought"):
        if action.get(key):
            out[key] = action[key]
    return json.dumps(out, separators=(", ", ": "))


def act_all(seated: list[tuple[Policy, dict]], stats: RolloutStats | None = None) -> list[Decision]:
    """One Decision per (policy, observation), in order, with one call per policy object;
    model policies that share a base model (and its generation settings) across councils
    and casts are merged into one call."""
    groups: dict[object, tuple[Policy, list[int]]] = {}
    for i, (policy, _) in enumerate(seated):
        shared = getattr(policy, "shared", None)
        key = (id(shared), policy.gen) if shared is not None else id(policy)
        groups.setdefault(key, (policy, []))[1].append(i)
    out: list[Decision | None] = [None] * len(seated)
    for policy, members in groups.values():
        t0 = time.perf_counter()
        if getattr(policy, "shared", None) is not None:
            from glade.hf_seat import act_grouped  # torch only when a model sits

            answers = act_grouped([seated[i] for i in members])
        else:
            answers = policy.act([seated[i][1] for i in members])
        if len(answers) != len(members):
            raise RuntimeError(f"policy {policy.name!r} returned {len(answers)} decisions for {len(members)} seats")
        if stats is not None:
            if not isinstance(policy, StandIn):
                stats.model_seconds += time.perf_counter() - t0
            stats.policy_calls += 1
        for i, decision in zip(members, answers):
            out[i] = decision
    return out  # type: ignore[return-value]


def run_lockstep(
    episodes: list[EpisodeSpec],
    on_turn: Callable[[int], None] | None = None,
    stats: RolloutStats | None = None,
    histories: dict[str, list[dict]] | None = None,
) -> dict[str, list[dict]]:
    """Play every episode to its end; returns episode_id -> trace rows (one per decision).

    `histories`, when given, receives episode_id -> the world's per-turn score rows
    (prices, volume, Gini, gambit P&L...) as each episode ends."""
    stats = stats if stats is not None else RolloutStats()
    started = time.perf_counter()
    envs, observations, rows = {}, {}, {e.episode_id: [] for e in episodes}
    for e in episodes:
        env = parallel_env(e.scenario)
        observations[e.episode_id], _ = env.reset(seed=e.seed)
        envs[e.episode_id] = env
    hashes = {e.episode_id: e.scenario.hash() for e in episodes}  # once per episode, not per row
    live = list(episodes)
    while live:
        seats = [(e, c) for e in live for c in envs[e.episode_id].agents]
        answers = act_all([(e.council[c], observations[e.episode_id][c]) for e, c in seats], stats)
        decisions = {(e.episode_id, c): d for (e, c), d in zip(seats, answers, strict=True)}
        for e in live:
            env, obs = envs[e.episode_id], observations[e.episode_id]
            before = {c: wealth(env.world, c) for c in env.agents}
            actions = {c: decisions[(e.episode_id, c)].action for c in env.agents}
            agents = list(env.agents)
            next_obs, rewards, _, _, infos = env.step(actions)
            for c in agents:
                rows[e.episode_id].append(
                    _row(e, hashes[e.episode_id], c, obs[c], decisions[(e.episode_id, c)], infos[c], before[c], env)
                )
            observations[e.episode_id] = next_obs
            stats.decisions += len(agents)
        if histories is not None:
            for e in live:
                if not envs[e.episode_id].agents:
                    histories[e.episode_id] = envs[e.episode_id].world.history
        live = [e for e in live if envs[e.episode_id].agents]
        if on_turn is not None:
            on_turn(len(live))
    stats.total_seconds += time.perf_counter() - started
    return rows


def _row(e: EpisodeSpec, scenario_hash: str, creature: str, obs: dict, d: Decision, info: dict, wealth_before: float, env) -> dict:
    policy = e.council[creature]
    reference = standin.disposition(e.scenario.creatures[creature].disposition)
    counterfactual = standin.act(obs, reference)
    action = canonical(d.action)
    return {
        "episode_id": e.episode_id,
        "scenario": e.scenario.name,
        "scenario_hash": scenario_hash,
        "seed": e.seed,
        "turn": int(obs["turn"]),
        "creature": creature,
        "seat": e.seats.get(creature, d.policy or policy.name),
        "policy": d.policy or policy.name,
        "protocol_version": PROTOCOL_VERSION,
        "messages": render(obs),
        "observation": json.dumps(plain(obs)),
        "completion": d.text if d.text is not None else action,
        "action": action,
        "error": d.error,
        "repaired": bool(d.repaired),
        "self_buy": int(info["self_buy"]),
        "standin_action": canonical(counterfactual),
        "standin_disposition": reference.name,
        "latency_s": float(d.latency_s),
        "prompt_tokens": int(d.prompt_tokens),
        "completion_tokens": int(d.completion_tokens),
        "rejected": json.dumps(info["notes"]),
        "fills": json.dumps(info["fills"]),
        "pebbles": float(env.world.pebbles[creature]),
        "wealth_before": float(wealth_before),
        "wealth_after": float(info["wealth"]),
        "wealth_change": float(info["wealth"] - wealth_before),
        "mood": float(env.world.mood[creature]),
    }
