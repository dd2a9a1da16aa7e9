"""The Wood as a PettingZoo ParallelEnv: every creature acts at once, one step per turn.

Actions come in the JSON action form the prompt protocol uses,
    {"orders": [{"side": "buy", "good": "honey", "qty": 3, "price": 9.5}], "gossip": "..."}
or as a sample of `action_space(agent)` (side and good as indices: `env.sides[i]` and
`env.goods[i]`, the scenario's goods in its order); both mean the same. `None` or
`{"orders": []}` is a deliberate hold. What step() does not take as given is named in infos'
`notes`: an action that is not a dict (`not_an_action`, held), a key other than orders, gossip
and thought (`unknown_key`), gossip or thought that is not text (`gossip_not_text`,
`thought_not_text`), gossip cut to `social.gossip_chars` or cleaned (`gossip_cut`), and in an
order a key other than side, good, qty and price (`unknown_key`), a numeric string for qty or
price (`qty_string`, `price_string`) or a whole qty as a float (`qty_float`), read as numbers.
Rewards are the change in wealth
(pebbles plus goods at reference prices) from one observation to the next, so a step's reward
includes the next turn's production and shock windfalls (the last step's none; turn 0's come
before reset's observation). A step's infos carry, per creature: `turn` (the
turn just played), `notes` (what the rules did to its orders: named rejections and cuts),
`self_buy`, `fills`, `wealth` (as the reward sees it: after that production, so not the
history row's, which is taken at the end of the turn), `sentiment` (its full notes) and
`meal`; reset's carry `turn`, `seed` and `wealth` (at the first observation), so the rewards
of an episode sum to its last `wealth` less reset's. The episode ends by truncation after
`scenario.turns` steps (never termination), and `agents` is then empty until the next reset.
"""

from __future__ import annotations

import gymnasium
import numpy as np
from gymnasium import spaces
from pettingzoo import ParallelEnv

from . import phases
from .creatures import TEXT_CHARSET
from .market import MAX_PRICE, MIN_PRICE, SIDES
from .observation import observation_space, observe
from .scenario import Scenario, load_scenario
from .world import World, new_world, wealths


def action_space(goods: tuple[str, ...], max_qty: int, gossip_chars: int) -> spaces.Dict:
    """The action-space form of an action. A Gymnasium Sequence has no length bound, so the
    scenario's `market.max_orders` is not in the space: orders past it are rejected, each
    with a `too_many_orders` note in infos."""
    order = spaces.Dict(
        {
            "side": spaces.Discrete(len(SIDES)),
            "good": spaces.Discrete(len(goods)),
            "qty": spaces.Discrete(max_qty, start=1),
            "price": spaces.Box(low=MIN_PRICE, high=MAX_PRICE, shape=(), dtype=np.float64),
        }
    )
    return spaces.Dict(
        {
            "orders": spaces.Sequence(order, stack=False),
            "gossip": spaces.Text(max_length=gossip_chars, min_length=0, charset=TEXT_CHARSET),
        }
    )


def normalize_action(action, goods: tuple[str, ...]) -> dict:
    """Either action form -> the JSON form; side and good given as indices become names. None
    is a hold ({}); anything else that is not a dict is returned as it is, for decide() to name
    (`not_an_action`)."""
    if action is None:
        return {}
    if not isinstance(action, dict):
        return action
    orders = action.get("orders")
    if isinstance(orders, (list, tuple)):
        for o in orders:  # the JSON form (names) passes as it is
            if isinstance(o, dict) and (isinstance(o.get("side"), INDEX) or isinstance(o.get("good"), INDEX)):
                return {**action, "orders": [_named(o, goods) for o in orders]}
    return action


INDEX = (int, np.integer)  # a side or good given by index (the action-space form)


def _named(order, goods: tuple[str, ...]):
    """An order with its side and good as names, where they were valid indices."""
    if not isinstance(order, dict):
        return order
    order = dict(order)
    side, good = order.get("side"), order.get("good")
    if isinstance(side, INDEX) and not isinstance(side, bool) and 0 <= side < len(SIDES):
        order["side"] = SIDES[int(side)]
    if isinstance(good, INDEX) and not isinstance(good, bool) and 0 <= good < len(goods):
        order["good"] = goods[int(good)]
    return order


def check_seed(seed) -> int:
    """An episode seed as an int: a whole number >= 0 (a Python or numpy int, not a bool)."""
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"reset(seed={seed!r}): a seed is a whole number >= 0, or None for a random one")
    return int(seed)


class WoodEnv(ParallelEnv):
    """The Wood's ParallelEnv. `goods` (the scenario's goods, in its order) and `sides`
    ("buy", "sell") say what the action space's `good` and `side` indices mean; the per-good
    Dicts of the observation space keep the same goods order."""

    metadata = {"name": "glade_wood_v0", "render_modes": ["ansi", "human"], "is_parallelizable": True}
    sides: tuple[str, ...] = SIDES  # an order's `side` index i means sides[i]

    def __init__(self, scenario: str | Scenario = "default", render_mode: str | None = None, **overrides):
        if render_mode not in (None, *self.metadata["render_modes"]):
            raise ValueError(
                f"render_mode {render_mode!r}: the Wood renders as {self.metadata['render_modes']} or None"
            )
        self.scenario = load_scenario(scenario, **overrides)
        self.render_mode = render_mode
        self.possible_agents = list(self.scenario.creatures)
        self.agents: list[str] = []
        # PettingZoo wants the very same space object on every call. They are built on the
        # first call: building Gymnasium spaces took longer than playing an episode, and a
        # rollout never asks for them.
        self._observation_spaces: dict[str, spaces.Dict] = {}
        self._action_spaces: dict[str, spaces.Dict] = {}
        self.world: World | None = None
        self.last_row: dict | None = None  # the last step's score row
        self.last_wealth_before: dict[str, float] | None = None  # each creature's wealth as the last step began
        self._seeds: np.random.Generator | None = None  # the episode seeds of reset(seed=None)

    @property
    def goods(self) -> tuple[str, ...]:
        """The scenario's goods in its order: an order's `good` index i means goods[i]."""
        return tuple(self.scenario.goods)

    def observation_space(self, agent: str) -> spaces.Dict:
        if agent not in self._observation_spaces:
            self._check_agent(agent)
            self._observation_spaces[agent] = observation_space(tuple(self.scenario.goods), self.scenario.turns)
        return self._observation_spaces[agent]

    def action_space(self, agent: str) -> spaces.Dict:
        if agent not in self._action_spaces:
            self._check_agent(agent)
            s = self.scenario
            self._action_spaces[agent] = action_space(tuple(s.goods), s.market.max_qty, s.social.gossip_chars)
        return self._action_spaces[agent]

    def _check_agent(self, agent: str) -> None:
        if agent not in self.possible_agents:
            raise KeyError(f"unknown agent {agent!r} (agents: {', '.join(self.possible_agents)})")

    def reset(self, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        """A new episode played with `seed` (infos carry it). Without a seed, the next seed of
        a stream that the last seeded reset started, as Gymnasium and PettingZoo envs do: one
        reset(seed=s) and then plain resets replay the same episodes; with no seeded reset
        yet, a random one. `options` is accepted and unused (the scenario sets everything)."""
        if seed is None:
            if self._seeds is None:
                self._seeds = np.random.default_rng()
            seed = int(self._seeds.integers(2**31 - 1))
        else:
            seed = check_seed(seed)
            self._seeds = np.random.default_rng(seed)
        self.world = new_world(self.scenario, seed)
        self.agents = list(self.possible_agents)
        self.last_row = self.last_wealth_before = None
        phases.begin_turn(self.world)
        worth = wealths(self.world)  # what the first step's reward is measured from
        return observe(self.world), {a: {"turn": 0, "seed": int(seed), "wealth": worth[a]} for a in self.agents}

    def step(self, actions: dict) -> tuple[dict, dict, dict, dict, dict]:
        world = self.world
        if world is None or not self.agents:
            raise RuntimeError("step() called before reset() or after the episode ended; call reset()")
        if not isinstance(actions, dict):
            raise TypeError(f"step() takes a dict of agent -> action, got a {type(actions).__name__}")
        for agent in actions:
            if agent not in self.agents:  # a misspelt agent would otherwise hold unseen
                raise ValueError(f"step(): unknown agent {agent!r} (agents: {', '.join(self.agents)})")
        self.last_wealth_before = before = wealths(world)
        goods = world.goods
        normalized = {a: normalize_action(actions.get(a), goods) for a in self.agents}
        decisions, clearings, row = phases.finish_turn(world, normalized)
        self.last_row = row
        done = world.turn >= self.scenario.turns
        if not done:
            phases.begin_turn(world)
        observations = observe(world)
        fills = {a: [] for a in self.agents}
        for good, result in clearings.items():
            for buyer, seller, qty in result.fills:
                fills[buyer].append({"side": "buy", "good": good, "qty": qty, "price": result.price, "with": seller})
                fills[seller].append({"side": "sell", "good": good, "qty": qty, "price": result.price, "with": buyer})
        rewards, infos = {}, {}
        after = wealths(world)
        for a in self.agents:
            w = after[a]
            rewards[a] = w - before[a]
            infos[a] = {
                "turn": row["turn"],
                "notes": decisions.notes[a],
                "self_buy": decisions.self_buys[a],
                "fills": fills[a],
                "wealth": w,
                "sentiment": dict(world.sentiment[a]),
                "meal": row["meals"][a],
            }
        terminations = dict.fromkeys(self.agents, False)
        truncations = dict.fromkeys(self.agents, done)
        if done:
            self.agents = []
        return observations, rewards, terminations, truncations, infos

    def render(self) -> str | None:
        """This turn's prices as one line of text: returned (render_mode "ansi") or printed, with
        None returned (render_mode "human", Gymnasium's convention). None before reset, or with
        no render mode (Gymnasium's convention, with a warning)."""
        if self.render_mode is None:
            gymnasium.logger.warn('render() without a render mode: make the env with render_mode="ansi"')
            return None
        if self.world is None:
            return None
        w = self.world
        prices = "  ".join(f"{g} {w.price[g]:.2f}" for g in w.goods)
        text = f"turn {w.turn}: {prices}"
        if self.render_mode == "human":
            print(text)
            return None
        return text

    def close(self) -> None:
        pass


def parallel_env(scenario: str | Scenario = "default", **overrides) -> WoodEnv:
    """A PettingZoo ParallelEnv of the Wood; `overrides` set scenario keys (turns=10)."""
    render_mode = overrides.pop("render_mode", None)
    return WoodEnv(scenario, render_mode=render_mode, **overrides)
