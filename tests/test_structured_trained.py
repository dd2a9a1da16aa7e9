"""Structured decoding on the shipped trained base (models/tiny-base): where the unconstrained
answer was already valid, what the constraint changes. Slow: 240 generations on CPU."""

from __future__ import annotations

from collections import Counter

import pytest

from glade.env import parallel_env, standin
from glade.env.observation import plain
from glade.seats import load

# Measured 2026-12-02 on the shipped base, held-out seeds 9000-9001: 103 of the 116 states whose
# unconstrained answer was valid (0.888) kept the same parsed action structured; structured
# answers valid in 118 of 120.
AGREEMENT_FLOOR = 0.85


@pytest.fixture(scope="module")
def trained_base():
    """The pretrained tiny base glade ships (models/tiny-base, recipes/train/tiny-base.yaml)."""
    from glade import checkpoint

    return str(checkpoint.shipped("tiny-base"))


def held_out_states() -> list[dict]:
    """120 states of the held-out seeds (9000-9001: no training recipe plays them, the base's
    own traces are seeds 100-139), three scenarios, every fourth turn of 16, five creatures."""
    out = []
    for scenario in ("default", "gambit_rumour", "gambit_override"):
        for seed in (9000, 9001):
            env = parallel_env(scenario, turns=16)
            obs, _ = env.reset(seed=seed)
            kinds = {c: standin.disposition(env.scenario.creatures[c].disposition) for c in env.possible_agents}
            while env.agents:
                if env.world.turn % 4 == 1:
                    out += [plain(o) for o in obs.values()]
                obs, *_ = env.step({c: standin.act(obs[c], kinds[c], seed) for c in env.agents})
    return out


@pytest.mark.slow
def test_trained_base_structured_answers_keep_the_valid_ones(trained_base, record_property):
    """Where the unconstrained greedy answer was already valid, the structured one is the same
    parsed action in most states (the constraint changes what was wrong, little else)."""
    states = held_out_states()
    assert len(states) == 120
    seat = {"kind": "checkpoint", "path": trained_base, "max_new_tokens": 128}
    free = load(seat).act(states)
    held = load({**seat, "structured": True}).act(states)
    valid = [i for i, d in enumerate(free) if d.error is None]
    same = [i for i in valid if held[i].action == free[i].action]
    share = len(same) / len(valid) if valid else float("nan")
    structured_valid = sum(d.error is None for d in held) / len(held)
    record_property("unconstrained_valid", len(valid))
    record_property("same_parsed_action", len(same))
    print(
        f"\nshipped base: unconstrained valid {len(valid)}/{len(states)}"
        f" {dict(Counter(d.error for d in free))}, structured valid {structured_valid:.3f}"
        f" {dict(Counter(d.error for d in held))}; same parsed action in {len(same)}/{len(valid)} = {share:.3f}"
    )
    assert len(valid) >= 10  # enough valid unconstrained answers for the share to mean something
    assert share >= AGREEMENT_FLOOR
    assert structured_valid >= 0.95
