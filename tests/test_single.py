"""The single-agent Gymnasium view passes Gymnasium's own checker and is deterministic."""

import warnings

import pytest
from gymnasium.utils.env_checker import check_env

from glade.env import SingleCreatureEnv
from glade.env.world import wealth


def test_check_env_passes_without_warnings():
    env = SingleCreatureEnv("hazel", turns=6)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        check_env(env, skip_render_check=True)


def test_episode_runs_to_truncation_and_reward_is_wealth_change():
    env = SingleCreatureEnv("oona", turns=5)
    obs, info = env.reset(seed=3)
    assert obs["creature"] == "oona" and info["seed"] == 3
    steps, truncated = 0, False
    while not truncated:
        wealth_before = wealth(env.wood.world, "oona")
        pebbles_before = env.wood.world.pebbles["oona"]
        obs, reward, terminated, truncated, info = env.step({"orders": []})
        steps += 1
        assert not terminated
        assert reward == pytest.approx(info["wealth"] - wealth_before)
        assert env.wood.world.pebbles["oona"] == pebbles_before  # a hold never moves pebbles
    assert steps == 5


def test_same_seed_same_rollout():
    def rollout(seed):
        env = SingleCreatureEnv("thorn", turns=8)
        obs, _ = env.reset(seed=seed)
        env.action_space.seed(seed)
        total = 0.0
        for _ in range(8):
            obs, reward, _, truncated, _ = env.step(env.action_space.sample())
            total += reward
        return round(total, 9), {g: float(p) for g, p in obs["prices"].items()}

    assert rollout(5) == rollout(5)
    assert rollout(5) != rollout(6)


def test_unknown_creature_is_a_clear_error():
    with pytest.raises(ValueError, match="unknown creature 'owl'.*oona"):
        SingleCreatureEnv("owl")
