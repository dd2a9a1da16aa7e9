"""A single-agent Gymnasium view of the Wood: one creature learns, the others are stand-ins."""

from __future__ import annotations

import gymnasium

from . import standin
from .market import SIDES
from .parallel import WoodEnv, check_seed
from .scenario import Scenario


class SingleCreatureEnv(gymnasium.Env):
    """`creature` acts through step(); every other creature plays its stand-in disposition
    (from `council`, else the scenario's). Reward is the change in the creature's wealth;
    reset's infos carry `wealth` too, so an episode's rewards sum to its last infos' `wealth`
    less reset's. Actions and notes are WoodEnv's: `goods` and `sides` say what the action
    space's `good` and `side` indices mean (the observation space's per-good Dicts keep the
    goods order)."""

    metadata = {"render_modes": ["ansi", "human"]}
    sides: tuple[str, ...] = SIDES

    def __init__(
        self,
        creature: str = "oona",
        scenario: str | Scenario = "default",
        council: dict[str, str] | None = None,
        render_mode: str | None = None,
        **overrides,
    ):
        self.wood = WoodEnv(scenario, render_mode=render_mode, **overrides)
        if creature not in self.wood.possible_agents:
            raise ValueError(f"unknown creature {creature!r} (creatures: {', '.join(self.wood.possible_agents)})")
        self.creature = creature
        self.render_mode = render_mode
        council = council or {}
        unknown = [c for c in council if c not in self.wood.possible_agents or c == creature]
        if unknown:
            raise ValueError(
                f"council: {unknown[0]!r} is not one of the other creatures"
                f" ({', '.join(c for c in self.wood.possible_agents if c != creature)})"
            )
        self.others = {
            c: standin.disposition(council.get(c, self.wood.scenario.creatures[c].disposition))
            for c in self.wood.possible_agents
            if c != creature
        }
        self.observation_space = self.wood.observation_space(creature)
        self.action_space = self.wood.action_space(creature)
        self._observations: dict | None = None

    @property
    def goods(self) -> tuple[str, ...]:
        """The scenario's goods in its order: an order's `good` index i means goods[i]."""
        return self.wood.goods

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        """As WoodEnv.reset: a seed is checked the same way (a numpy int is taken, a negative
        one is a ValueError), and plain resets after a seeded one replay the same episodes."""
        if seed is not None:
            seed = check_seed(seed)
        super().reset(seed=seed)
        wood_seed = seed if seed is not None else int(self.np_random.integers(2**31 - 1))
        self._observations, infos = self.wood.reset(seed=wood_seed)
        return self._observations[self.creature], infos[self.creature]

    def step(self, action: dict | None) -> tuple[dict, float, bool, bool, dict]:
        if self._observations is None:
            raise RuntimeError("step() called before reset()")
        actions = {c: standin.act(self._observations[c], d) for c, d in self.others.items()}
        actions[self.creature] = action
        obs, rewards, terminations, truncations, infos = self.wood.step(actions)
        self._observations = obs
        me = self.creature
        return obs[me], float(rewards[me]), terminations[me], truncations[me], infos[me]

    def render(self) -> str | None:
        return self.wood.render()
